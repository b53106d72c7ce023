"""The SIP front end: what a server does with a message before its engine sees it.

Theory of operation
-------------------
A server past its capacity must refuse new work early and cheaply, or the
work queues, UDP clients retransmit and throughput collapses (RFC 6357).
Both drivers (the simulator's hosts and ``sizing serve``) put this module
between their transport and the engine, so the same bytes meet the same
decisions in each. Three concerns, each one place:

- **classification** (:func:`out_of_dialog`, :func:`is_new_invite`): from the
  bytes alone, with one regular expression for the To tag, whether a request
  starts something new (no To tag) or continues a dialog; only new work is
  ever refused (RFC 7339 §5.10.1: dialogs in progress come first);
- **admission** (:class:`OverloadPolicy`, :func:`admission`): the queue-based
  policies, ``drop`` (only the queue limit acts) and ``reject`` (a new INVITE
  that finds the queue past a threshold is answered 503 at once), and the
  503 itself (:func:`busy_answer`): ``Retry-After`` (RFC 3261 §21.5.4), sent
  where responses go (§18.2.2);
- **RFC 7339 loss-based control**, both ends: a :class:`LossServer` measures
  its load every interval (the driver says how), steers the share of new
  calls it accepts towards a target, and advertises the loss as ``oc``,
  ``oc-algo="loss"``, ``oc-validity`` (ms) and ``oc-seq`` in the top Via of
  its responses to clients that announced support (§5.2-5.4), while the loss
  is above zero and one validity period after, so clients hear it end; a
  :class:`LossClient` announces support (``oc;oc-algo="loss"`` in the top Via
  of its requests to controlled servers, §5.1), keeps the newest signal per
  server (a lower ``oc-seq`` is stale, a value expires after its validity,
  ``oc-validity=0`` ends control) and refuses that percentage of new INVITEs
  by a random draw per request (§6.2); in-dialog requests and
  retransmissions of an admitted INVITE always pass. A refusal raises
  :class:`TransportError` from ``send``, which the engine's elements turn
  into a local 503 (RFC 3261 §8.1.3.1, §16.7).

Time comes from the driver's :class:`Clock` (simulated or the event loop's);
nothing here reads a clock, opens a socket or draws randomness of its own.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from .interfaces import Address, Clock, TimerHandle, Transport, TransportError
from .message import ParseError, Request, parse
from .transaction import response_destination

__all__ = [
    "ADMIT",
    "CONTROL_INTERVAL_S",
    "DROP",
    "MIN_ACCEPT",
    "REJECT",
    "STEP_DOWN",
    "STEP_UP",
    "VALIDITY_MS",
    "LossClient",
    "LossClientTransport",
    "LossServer",
    "LossServerTransport",
    "OcSignal",
    "OverloadPolicy",
    "admission",
    "busy_answer",
    "busy_answer_to",
    "is_new_invite",
    "out_of_dialog",
    "top_via_params",
]

# -- classification ---------------------------------------------------------------------

_TO_TAG = re.compile(rb"\r\n(?:to|t)[ \t]*:[^\r\n]*;[ \t]*tag[ \t]*=", re.IGNORECASE)


def out_of_dialog(data: bytes) -> bool:
    """Whether the request in ``data`` has no To tag in its header: it opens new work
    (a call, a registration) rather than continuing a dialog."""
    head_end = data.find(b"\r\n\r\n")
    return _TO_TAG.search(data, 0, head_end if head_end >= 0 else len(data)) is None


def is_new_invite(data: bytes) -> bool:
    """An INVITE outside any dialog: a new call, the request overload control refuses first."""
    return data[:7] == b"INVITE " and out_of_dialog(data)


# -- queue admission and the 503 ------------------------------------------------------------

ADMIT, DROP, REJECT = 0, 1, 2
""":func:`admission`'s answers: queue the message, drop it, answer it 503."""

#: Decides whether an arriving message enters the queue: ``admit(owner, data, source)``.
Admission = Callable[[object, bytes, Address], bool]


@dataclass(frozen=True, slots=True)
class OverloadPolicy:
    """What a server's front end does when messages arrive faster than its cores serve them."""

    mode: Literal["drop", "reject"] = "drop"
    """``drop``: only the queue limit acts; ``reject``: new INVITEs get 503 above a threshold."""
    queue_limit: int = 100_000
    """Messages that may wait for a core; one more that would have to wait is dropped."""
    reject_threshold: int = 1_000
    """Waiting messages from which a new INVITE that would have to wait is answered 503
    (``reject`` mode); 0 rejects whenever every core is busy."""
    retry_after_s: int = 5
    """The 503's Retry-After (RFC 3261 §20.33), seconds."""
    reject_cost_us: float = 20.0
    """CPU of the front end's stateless 503, µs (it still parses the INVITE)."""
    admit: Admission | None = None
    """Hook for other admission control: False drops the message on arrival."""

    def __post_init__(self) -> None:
        if self.mode not in ("drop", "reject"):
            raise ValueError(f"OverloadPolicy.mode must be 'drop' or 'reject', got {self.mode!r}")
        for name in ("queue_limit", "reject_threshold", "retry_after_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"OverloadPolicy.{name} must be an integer >= 0, got {value!r}")
        if not self.reject_cost_us >= 0:
            raise ValueError(f"OverloadPolicy.reject_cost_us must be >= 0, got {self.reject_cost_us!r}")
        if self.admit is not None and not callable(self.admit):
            raise TypeError(f"OverloadPolicy.admit must be callable or None, got {self.admit!r}")


def admission(policy: OverloadPolicy, owner: object, data: bytes, source: Address,
              queued: int, must_wait: bool) -> int:
    """:data:`ADMIT`, :data:`DROP` or :data:`REJECT` for a message arriving at a server
    whose ``queued`` messages wait (``must_wait``: every core is busy).

    The hook drops first, then the queue limit; a new INVITE that would wait behind
    ``reject_threshold`` or more is answered 503 in ``reject`` mode.
    """
    if (policy.admit is not None and not policy.admit(owner, data, source)) or (
        must_wait and queued >= policy.queue_limit
    ):
        return DROP
    if must_wait and queued >= policy.reject_threshold and policy.mode == "reject" \
            and is_new_invite(data):
        return REJECT
    return ADMIT


def busy_answer(request: Request, source: Address, reliable: bool,
                retry_after_s: int) -> tuple[bytes, Address]:
    """The front end's stateless ``503 Service Unavailable`` with ``Retry-After`` to
    ``request`` (RFC 3261 §21.5.4), and where it goes (§18.2.2)."""
    response = request.create_response(503, headers=[("Retry-After", str(retry_after_s))])
    return response.encode(), response_destination(request, source, reliable)


def busy_answer_to(data: bytes, source: Address, reliable: bool,
                   retry_after_s: int) -> tuple[bytes, Address] | None:
    """:func:`busy_answer` to the request in ``data``; None when it does not parse as a
    request with a Via (nowhere to answer: the caller drops it)."""
    try:
        request = parse(data)
    except ParseError:
        return None
    if not isinstance(request, Request) or request.top_via is None:
        return None
    return busy_answer(request, source, reliable, retry_after_s)


# -- RFC 7339: the Via parameters ------------------------------------------------------------

CONTROL_INTERVAL_S = 0.5
"""How often a server measures its load and updates its loss percentage."""
VALIDITY_MS = 1000
"""``oc-validity`` of the server's signal: two control intervals, so it stays in force
between updates (RFC 7339 §5.2 suggests 500 ms as a default)."""
DEFAULT_VALIDITY_MS = 500.0
"""The validity a client assumes when a signal carries no ``oc-validity``."""
MIN_ACCEPT = 0.01
"""The smallest share of calls a server asks its clients to send (loss at most 99 %)."""
STEP_DOWN = 0.25
STEP_UP = 1.25
"""Bounds of the accepted share's factor per control interval (damps Poisson noise)."""
RETRANSMIT_WINDOW_S = 32.0
"""How long an admitted INVITE's retransmissions are recognised (Timer B, 64 T1)."""

_VIA = re.compile(rb"\r\n(?:via|v)[ \t]*:[ \t]*", re.IGNORECASE)
_OC_BARE = re.compile(rb";[ \t]*oc[ \t]*(?=[;\r]|$)", re.IGNORECASE)
_OC_ALGO = re.compile(rb';[ \t]*oc-algo[ \t]*=[ \t]*(?:"[^"]*"|[^;\r]*)', re.IGNORECASE)
_BRANCH = re.compile(rb";[ \t]*branch[ \t]*=[ \t]*([^;\s]+)", re.IGNORECASE)
_SUPPORT = b';oc;oc-algo="loss"'


def _top_via(data: bytes) -> tuple[int, int] | None:
    """Start and end offsets of the first value of the first Via header (None if none)."""
    head_end = data.find(b"\r\n\r\n")
    match = _VIA.search(data, 0, head_end if head_end >= 0 else len(data))
    if match is None:
        return None
    start = i = match.end()
    quoted = False
    n = len(data)
    while i < n:
        c = data[i]
        if c == 0x22:  # '"'
            quoted = not quoted
        elif not quoted and (c == 0x2C or c == 0x0D):  # ',' or CR
            break
        i += 1
    return start, i


def top_via_params(data: bytes) -> dict[str, str | None]:
    """The parameters of a message's topmost Via (names lowercased, quotes removed)."""
    span = _top_via(data)
    if span is None:
        return {}
    params: dict[str, str | None] = {}
    for part in data[span[0]:span[1]].decode("utf-8", "replace").split(";")[1:]:
        name, eq, value = part.partition("=")
        params[name.strip().lower()] = value.strip().strip('"') if eq else None
    return params


# -- RFC 7339: the server ----------------------------------------------------------------------


class LossServer:
    """The server side: every ``interval_s`` asks ``measure()`` for its load as a
    utilisation (1.0: at capacity), steers the accepted share ``a`` towards ``target``
    (``a <- clip(a * target / rho)``, each step bounded to ``[STEP_DOWN, STEP_UP]``:
    the loss rises while the load is above target and falls below it, §5.5) and
    stamps the loss on responses (:meth:`stamp`). ``name`` prefixes its errors."""

    def __init__(self, clock: Clock, measure: Callable[[], float], *, target: float,
                 interval_s: float = CONTROL_INTERVAL_S, validity_ms: int = VALIDITY_MS,
                 name: str = "LossServer") -> None:
        if not 0 < target <= 1:
            raise ValueError(f"{name}: target utilisation must be in (0, 1], got {target!r}")
        if not interval_s > 0:
            raise ValueError(f"{name}: interval_s must be > 0, got {interval_s!r}")
        if isinstance(validity_ms, bool) or not isinstance(validity_ms, int) or validity_ms < 1:
            raise ValueError(f"{name}: validity_ms must be an integer >= 1, got {validity_ms!r}")
        self.clock = clock
        self.measure = measure
        self.target = float(target)
        self.interval_s = float(interval_s)
        self.validity_ms = validity_ms
        self.accept = 1.0
        """Share of new calls the clients are asked to send."""
        self.loss = 0
        """The loss percentage signalled (integer 0-99)."""
        self.peak_loss = 0
        """The highest loss signalled so far."""
        self.seq = "0.000"
        self.stamped = 0
        """Responses that carried the signal."""
        self.history: list[tuple[float, float, int]] = []
        """(time, measured utilisation, loss %) of each control interval."""
        self._loud_until = -1.0
        self._timer: TimerHandle | None = None

    def start(self) -> None:
        """Measure and update every ``interval_s`` from now on."""
        self._timer = self.clock.call_later(self.interval_s, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self.update(self.measure())
        self._timer = self.clock.call_later(self.interval_s, self._tick)

    def update(self, rho: float) -> None:
        """One control interval: the load was ``rho`` (a utilisation)."""
        factor = self.target / rho if rho > 0 else STEP_UP
        self.accept = min(1.0, max(MIN_ACCEPT, self.accept * min(STEP_UP, max(STEP_DOWN, factor))))
        now = self.clock.now()
        self.loss = int(round(100 * (1 - self.accept)))
        self.peak_loss = max(self.peak_loss, self.loss)
        self.seq = f"{now:.3f}"
        if self.loss > 0:
            self._loud_until = now + self.validity_ms / 1000
        self.history.append((now, rho, self.loss))

    def stamp(self, data: bytes) -> bytes:
        """``data`` (a response) with the signal in its topmost Via, if that Via
        announced support and the signal is worth sending (loss, or just ended)."""
        if self.loss <= 0 and self.clock.now() > self._loud_until:
            return data
        span = _top_via(data)
        if span is None:
            return data
        start, end = span
        via = data[start:end]
        bare = _OC_BARE.search(via)
        if bare is None:
            return data
        via = via[:bare.start()] + via[bare.end():]
        via = _OC_ALGO.sub(b"", via)
        signal = (f';oc={self.loss};oc-algo="loss";oc-validity={self.validity_ms};'
                  f"oc-seq={self.seq}").encode("ascii")
        self.stamped += 1
        return data[:start] + via + signal + data[end:]


class LossServerTransport:
    """A controlled server element's transport: responses leave with the signal."""

    def __init__(self, inner: Transport, server: LossServer) -> None:
        self.inner = inner
        self.server = server

    def send(self, data: bytes, dest: Address) -> None:
        if data[:4] == b"SIP/":
            data = self.server.stamp(data)
        self.inner.send(data, dest)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


# -- RFC 7339: the client ----------------------------------------------------------------------


class Draw(Protocol):
    """A source of uniform draws in [0, 1): ``random.Random`` or a numpy Generator."""

    def random(self) -> float: ...


@dataclass
class OcSignal:
    """A client's view of one server's overload signal."""

    loss: float = 0.0
    """Percentage of new requests to refuse."""
    expires: float = 0.0
    """Time the value stops applying (``oc-validity`` after it was heard)."""
    seq: float = -1.0
    """The ``oc-seq`` of the value; an older one is ignored."""


class LossClient:
    """The client side for one element: what it heard from each controlled server,
    and the decision to send or refuse each new INVITE (draws from ``rng``)."""

    def __init__(self, clock: Clock, servers: Iterable[Address], rng: Draw, name: str = "") -> None:
        self.clock = clock
        self.servers = frozenset(servers)
        self.rng = rng
        self.name = name
        self.signals: dict[Address, OcSignal] = {}
        self.throttled = 0
        """New INVITEs refused locally."""
        self.heard = 0
        """Responses that carried a signal."""
        self._admitted: dict[bytes, float] = {}
        self._admitted_order: deque[tuple[float, bytes]] = deque()

    def receive(self, entry: Callable[[bytes, Address], None]) -> Callable[[bytes, Address], None]:
        """``entry`` with the signals of the controlled servers' responses read first."""
        servers = self.servers

        def received(data: bytes, source: Address) -> None:
            if data[:4] == b"SIP/" and source in servers:
                self._learn(data, source)
            entry(data, source)

        return received

    def wrap(self, transport: Transport) -> LossClientTransport:
        return LossClientTransport(transport, self)

    def _learn(self, data: bytes, source: Address) -> None:
        params = top_via_params(data)
        value = params.get("oc")
        if value is None or params.get("oc-algo", "loss") != "loss":
            return
        try:
            loss = float(value)
            seq = float(params.get("oc-seq") or 0.0)
            validity = float(params.get("oc-validity") or DEFAULT_VALIDITY_MS)
        except ValueError:
            return  # a malformed signal is ignored (§5.4: the last good one stays)
        signal = self.signals.setdefault(source, OcSignal())
        if seq < signal.seq:
            return
        self.heard += 1
        signal.seq = seq
        signal.loss = min(max(loss, 0.0), 100.0)
        signal.expires = self.clock.now() + validity / 1000 if validity > 0 else 0.0

    def admit(self, data: bytes, dest: Address) -> bool:
        """Whether to send a request to a controlled server (False: refuse it here)."""
        if not is_new_invite(data):
            return True
        span = _top_via(data)
        branch = _BRANCH.search(data, span[0], span[1]) if span is not None else None
        key = branch.group(1) if branch is not None else b""
        now = self.clock.now()
        order, admitted = self._admitted_order, self._admitted
        while order and order[0][0] <= now:
            admitted.pop(order.popleft()[1], None)
        if key in admitted:
            return True  # a retransmission of an INVITE already sent
        signal = self.signals.get(dest)
        if signal is not None and signal.loss > 0 and now < signal.expires \
                and self.rng.random() * 100 < signal.loss:
            self.throttled += 1
            return False
        if key:
            admitted[key] = now + RETRANSMIT_WINDOW_S
            order.append((now + RETRANSMIT_WINDOW_S, key))
        return True


class LossClientTransport:
    """A client element's transport: requests to controlled servers announce support,
    and the new INVITEs the client refuses raise TransportError (a local 503)."""

    def __init__(self, inner: Transport, client: LossClient) -> None:
        self.inner = inner
        self.client = client

    def send(self, data: bytes, dest: Address) -> None:
        client = self.client
        if dest in client.servers and data[:4] != b"SIP/":
            if not client.admit(data, dest):
                raise TransportError(f"{client.name or 'client'}: RFC 7339 loss-based overload "
                                     f"control refuses this INVITE to {dest}")
            span = _top_via(data)
            if span is not None and _OC_BARE.search(data, span[0], span[1]) is None:
                data = data[:span[1]] + _SUPPORT + data[span[1]:]
        self.inner.send(data, dest)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)
