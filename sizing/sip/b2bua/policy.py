"""What a B2BUA is configured with: routing, header and failure policies, and its counters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol, runtime_checkable

from ..interfaces import Address
from ..message import Request
from ..uri import URI

__all__ = [
    "B2BUAConfig",
    "B2BUAStats",
    "CallbackRoute",
    "FailurePolicy",
    "HeaderPolicy",
    "Reject",
    "RoundRobin",
    "RoutingPolicy",
    "StaticRoute",
    "Target",
    "as_policy",
]


@dataclass(frozen=True)
class Target:
    """Where a new outbound leg goes: its Request-URI, the next-hop address
    (None: taken from the URI, RFC 3263 without DNS) and extra headers for its INVITE."""

    uri: URI
    dest: Address | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.uri, URI):
            object.__setattr__(self, "uri", _parse_uri(self.uri, "Target.uri"))
        if self.uri.scheme not in ("sip", "sips") or not self.uri.host:
            raise ValueError(f"Target.uri {self.uri}: a leg needs a sip: or sips: URI with a host")
        if self.dest is not None and not isinstance(self.dest, Address):
            raise ValueError(f"Target.dest must be an Address or None, got {self.dest!r}")
        object.__setattr__(self, "headers", tuple((str(n), str(v)) for n, v in self.headers))


def _parse_uri(value: object, what: str) -> URI:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a URI or a string, got {value!r}")
    try:
        return URI.parse(value)
    except ValueError as exc:
        raise ValueError(f"{what} {value!r}: {exc}") from None


@dataclass(frozen=True)
class Reject:
    """A routing decision to refuse the call with ``status`` (e.g. 404, 480, 503)."""

    status: int = 404
    reason: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int) or not 300 <= self.status <= 699:
            raise ValueError(f"Reject.status must be a final error status 300-699, got {self.status!r}")


Decision = Target | Reject | None


@runtime_checkable
class RoutingPolicy(Protocol):
    """Chooses leg B for an inbound INVITE: a :class:`Target`, or a :class:`Reject`
    (None rejects with 404)."""

    def route(self, request: Request) -> Decision: ...


class StaticRoute:
    """Every call goes to one target. With ``keep_user`` the inbound Request-URI's
    user part (the dialled number) replaces a target URI that has none."""

    def __init__(self, target: Target | URI | str, *, keep_user: bool = True) -> None:
        self.target = target if isinstance(target, Target) else Target(
            target if isinstance(target, URI) else _parse_uri(target, "StaticRoute target"))
        self.keep_user = keep_user

    def route(self, request: Request) -> Target:
        target = self.target
        user = request.uri.user
        if self.keep_user and user and not target.uri.user and request.uri.scheme in ("sip", "sips"):
            return Target(target.uri.replace(user=user), target.dest, target.headers)
        return target


class RoundRobin:
    """Calls go to ``targets`` in turn (agents of a skill group, media servers)."""

    def __init__(self, targets: Sequence[Target | URI | str]) -> None:
        if not targets:
            raise ValueError("RoundRobin needs at least one target")
        self.targets = [t if isinstance(t, Target) else StaticRoute(t).target for t in targets]
        self._next = 0

    def route(self, request: Request) -> Target:
        target = self.targets[self._next % len(self.targets)]
        self._next += 1
        return target


RouteCallback = Callable[[Request], "Target | URI | str | Reject | None"]
"""A routing function: the target for a request, a rejection, or None (reject)."""


class CallbackRoute:
    """Asks ``callback(request)`` for a :class:`Target` (or a URI string); None rejects
    the call with ``reject_status``."""

    def __init__(self, callback: RouteCallback, *, reject_status: int = 480) -> None:
        if not callable(callback):
            raise TypeError(f"CallbackRoute needs a callable, got {callback!r}")
        self.callback = callback
        self.reject = Reject(reject_status)

    def route(self, request: Request) -> Decision:
        chosen = self.callback(request)
        if chosen is None:
            return self.reject
        if isinstance(chosen, Target | Reject):
            return chosen
        return StaticRoute(chosen, keep_user=False).target


def as_policy(policy: RoutingPolicy | RouteCallback | Target | URI | str) -> RoutingPolicy:
    """A routing policy from a policy object, a callable, or one fixed target."""
    if isinstance(policy, RoutingPolicy):
        return policy
    if isinstance(policy, Target | URI | str):
        return StaticRoute(policy)
    if callable(policy):
        return CallbackRoute(policy)
    raise TypeError(f"B2BUA routing must be a RoutingPolicy, a callable or a target, got {policy!r}")


@dataclass(frozen=True)
class HeaderPolicy:
    """Which headers of one leg's INVITE and responses are copied to the other leg.

    ``copy`` names headers (case-insensitive); a trailing ``*`` matches a prefix.
    ``strip`` wins over ``copy``. Everything else is generated per leg: a
    signalling-only B2BUA does not leak Via, Contact, tags or Call-ID across.
    """

    copy: tuple[str, ...] = ("X-*", "User-to-User", "P-Asserted-Identity", "Privacy", "Subject")
    strip: tuple[str, ...] = ()

    def passes(self, name: str) -> bool:
        try:
            return _passes(name, self.strip, self.copy)
        except TypeError:  # patterns given as lists: not hashable, so not memoised
            lower = name.lower()
            return not _matches(lower, self.strip) and _matches(lower, self.copy)

    def select(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (name, value) pairs of ``headers`` that pass."""
        return [(n, v) for n, v in headers if self.passes(n)]


@lru_cache(maxsize=4096)
def _passes(name: str, strip: tuple[str, ...], copy: tuple[str, ...]) -> bool:
    """HeaderPolicy.passes, memoised: a call relays the same few header names every time."""
    lower = name.lower()
    return not _matches(lower, strip) and _matches(lower, copy)


def _matches(lower: str, patterns: tuple[str, ...]) -> bool:
    for pattern in patterns:
        p = pattern.lower()
        if (p.endswith("*") and lower.startswith(p[:-1])) or lower == p:
            return True
    return False


@dataclass(frozen=True)
class FailurePolicy:
    """How leg B's failure is reported on leg A.

    A timeout (no final response, 408) becomes ``timeout_status`` (408 or 480);
    a 5xx becomes ``server_error_status`` (503) or passes through when None;
    ``overrides`` maps any other status; the rest (486, 404, 6xx) pass through.
    """

    timeout_status: int = 408
    server_error_status: int | None = 503
    overrides: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        for name, value in (("timeout_status", self.timeout_status),
                            ("server_error_status", self.server_error_status)):
            if value is not None and not 300 <= value <= 699:
                raise ValueError(f"FailurePolicy.{name} must be 300-699, got {value!r}")

    def map(self, status: int) -> int:
        for source, target in self.overrides:
            if source == status:
                return target
        if status == 408:
            return self.timeout_status
        if 500 <= status < 600 and self.server_error_status is not None:
            return self.server_error_status
        return status


@dataclass(frozen=True)
class B2BUAConfig:
    """Behaviour of a :class:`~sizing.sip.b2bua.B2BUA`.

    ``ivr`` sends each call first to a media server; when it hangs up (or on
    :meth:`B2BUA.transfer`) the call is reconnected to the routing policy's
    agent. ``recorder`` adds a third, sendonly leg to every answered call.
    ``no_answer_s`` cancels leg B (and answers A 480) when it rings that long.
    """

    headers: HeaderPolicy = field(default_factory=HeaderPolicy)
    failures: FailurePolicy = field(default_factory=FailurePolicy)
    ivr: Target | None = None
    recorder: Target | None = None
    no_answer_s: float | None = None
    no_answer_status: int = 480
    user: str = "b2bua"

    def __post_init__(self) -> None:
        if self.no_answer_s is not None and not self.no_answer_s > 0:
            raise ValueError(f"B2BUAConfig.no_answer_s must be > 0 seconds or None, got {self.no_answer_s!r}")
        for name in ("ivr", "recorder"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Target):
                raise ValueError(f"B2BUAConfig.{name} must be a Target or None, got {value!r}")


@dataclass
class B2BUAStats:
    """Counters the product measures for one B2BUA."""

    calls_in: int = 0
    calls_answered: int = 0
    calls_failed: Counter[int] = field(default_factory=Counter)
    """Inbound calls answered with a final error, by the status sent on leg A."""
    calls_cancelled: int = 0
    calls_ended: int = 0
    legs_created: Counter[str] = field(default_factory=Counter)
    """Outbound legs by role: agent, ivr, recorder, participant, bridge."""
    transfers: int = 0
    """Calls re-connected: IVR to agent, :meth:`B2BUA.transfer`, REFER (blind or with Replaces)."""
    transfers_failed: int = 0
    recordings: int = 0
    recordings_failed: int = 0
    conferences: int = 0
    """Conferences set up on a media server bridge."""
    conferences_failed: int = 0
    glare_retries: int = 0
    """Re-connecting re-INVITEs sent again after a 491 (RFC 3261 §14.1)."""
    relayed_requests: Counter[str] = field(default_factory=Counter)
    """In-dialog requests relayed from one leg to the other, by method."""
    ack_timeouts: int = 0
    malformed_dropped: int = 0
    """Requests with a field the B2BUA cannot read that got no answer (ACKs: RFC 3261 §17)."""

    def as_dict(self) -> dict[str, int]:
        """Flat counters, one per column."""
        out: dict[str, int] = {}
        for name, value in vars(self).items():
            if isinstance(value, Counter):
                out[name] = sum(value.values())
                for key, count in sorted(value.items(), key=lambda kv: str(kv[0])):
                    out[f"{name}_{key}"] = count
            else:
                out[name] = value
        return out
