"""The engine's :class:`~sizing.sip.ua.UserAgent` on a real socket: place calls, register, summarise.

:class:`AgentRunner` opens one :mod:`sizing.net` transport (UDP, TCP or TLS),
attaches a UserAgent to it with an :class:`AsyncioClock`, and drives it:
:meth:`AgentRunner.place_calls` starts the calls of a :class:`CallPlan` at a
fixed rate, holds each answered call, hangs up with BYE and returns a
:class:`CallSummary` (statuses, setup times, route sets, negotiated TLS
versions, counters); :meth:`AgentRunner.register` registers the UA's Contact.
The same UA answers calls it receives (as its :class:`AnswerPolicy` says), so
a registered runner is also a reachable UAS. :func:`run_calls` is the
one-shot form. Every wait is bounded by the plan's ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sizing.sip.dialog import uri_address
from sizing.sip.errors import HeaderError
from sizing.sip.interfaces import Address, TimerConfig, TransportError
from sizing.sip.message import Response
from sizing.sip.ua import AnswerPolicy, Call, CallEvent, CallState, ClientRequest, UserAgent
from sizing.sip.uri import URI

from .clock import AsyncioClock
from .stream import Connection, StreamTransport
from .tlsconfig import TlsConfig
from .transport import TransportLimits
from .udp import UdpTransport

__all__ = [
    "AgentConfig",
    "AgentError",
    "AgentRunner",
    "CallOutcome",
    "CallPlan",
    "CallSummary",
    "RegisterOutcome",
    "run_calls",
]

_TRANSPORTS = ("UDP", "TCP", "TLS")


class AgentError(ValueError):
    """An agent setting or plan that cannot work; the message names the field."""


def _sip_uri(value: str, field_name: str) -> URI:
    try:
        uri = URI.parse(value)
    except (HeaderError, ValueError) as exc:
        raise AgentError(f"{field_name} {value!r} is not a SIP URI: {exc}") from None
    if uri.scheme not in ("sip", "sips"):
        raise AgentError(f"{field_name} {value!r}: expected a sip: or sips: URI, not {uri.scheme}:")
    return uri


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Where the agent's UA listens and how it behaves; validated on creation (AgentError).

    ``port`` 0 picks a free port. A TLS agent listens too (in-dialog requests
    come back to its Contact), so ``tls`` needs a certificate; its
    ``min_version``/``max_version`` force the versions the client offers.
    ``outbound_proxy`` (a SIP URI) receives every out-of-dialog request.
    """

    transport: str = "udp"
    host: str = "127.0.0.1"
    port: int = 0
    tls: TlsConfig | None = None
    user: str = "uac"
    outbound_proxy: str | None = None
    policy: AnswerPolicy | None = None
    """How incoming calls are answered (200 at once by default)."""
    timers: TimerConfig | None = None
    limits: TransportLimits | None = None
    seed: int | None = None
    """Seed of tags, Call-IDs and branches; None draws one per run. A fixed seed repeats the
    identifiers of an earlier run, which a stateful peer still holding those transactions
    takes for retransmissions (RFC 3261 §8.1.1.4, §8.1.1.7 want them unique over time)."""

    def __post_init__(self) -> None:
        transport = str(self.transport).upper()
        if transport not in _TRANSPORTS:
            raise AgentError(f"AgentConfig.transport {self.transport!r} is not one of udp, tcp, tls")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port < 65536:
            raise AgentError(f"AgentConfig.port {self.port!r} must be an integer in 0-65535 (0: any)")
        if not self.host:
            raise AgentError("AgentConfig.host is empty")
        if transport == "TLS" and (self.tls is None or self.tls.certfile is None):
            raise AgentError("AgentConfig.tls with a certfile is required for transport tls (the agent listens)")
        if transport != "TLS" and self.tls is not None:
            raise AgentError(f"AgentConfig.tls is only for transport tls, not {self.transport}")
        if not self.user or any(c in self.user for c in "@:;<> "):
            raise AgentError(f"AgentConfig.user {self.user!r} must be a plain SIP user name")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise AgentError(f"AgentConfig.seed must be an integer or None, got {self.seed!r}")
        if self.outbound_proxy is not None:
            self.proxy_address()

    @property
    def transport_name(self) -> str:
        return str(self.transport).upper()

    def proxy_address(self) -> Address | None:
        """The outbound proxy as an Address (its URI transport, else the agent's)."""
        if self.outbound_proxy is None:
            return None
        uri = _sip_uri(self.outbound_proxy, "AgentConfig.outbound_proxy")
        try:
            return uri_address(uri, self.transport_name)
        except ValueError as exc:
            raise AgentError(f"AgentConfig.outbound_proxy {self.outbound_proxy!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class CallPlan:
    """``calls`` calls to ``target`` started ``rate`` per second, each held ``hold_s`` then hung up.

    ``timeout_s`` bounds the whole run: calls without a final answer by then
    are cancelled and reported unfinished.
    """

    target: str
    calls: int = 1
    rate: float = 10.0
    hold_s: float = 0.0
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        _sip_uri(self.target, "CallPlan.target")
        if isinstance(self.calls, bool) or not isinstance(self.calls, int) or self.calls < 1:
            raise AgentError(f"CallPlan.calls must be a positive integer, got {self.calls!r}")
        if not (isinstance(self.rate, int | float) and math.isfinite(self.rate) and self.rate > 0):
            raise AgentError(f"CallPlan.rate must be a positive number of calls per second, got {self.rate!r}")
        if not (isinstance(self.hold_s, int | float) and math.isfinite(self.hold_s) and self.hold_s >= 0):
            raise AgentError(f"CallPlan.hold_s must be >= 0 seconds, got {self.hold_s!r}")
        if not (isinstance(self.timeout_s, int | float) and math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise AgentError(f"CallPlan.timeout_s must be > 0 seconds, got {self.timeout_s!r}")


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What happened to one outgoing call."""

    call_id: str
    status: int | None
    """Final status of the INVITE; None when none came before the deadline."""
    setup_s: float | None
    """Seconds from sending the INVITE to its final response."""
    route_set: tuple[str, ...] = ()
    """The dialog's route set (the Record-Route of the 2xx, reversed): the proxies on the path."""
    bye_status: int | None = None
    """Final status of our BYE; None when not sent or not answered in time."""

    @property
    def answered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def completed(self) -> bool:
        """Answered, and hung up with a 2xx to the BYE: the whole call flow worked."""
        return self.answered and self.bye_status is not None and 200 <= self.bye_status < 300


@dataclass(frozen=True)
class CallSummary:
    """The outcome of a :class:`CallPlan` run; ``as_dict()`` gives one flat row."""

    calls: tuple[CallOutcome, ...]
    duration_s: float
    tls_versions: dict[str, int] = field(default_factory=dict)
    """Open TLS connections at the end, by negotiated protocol version (``TLSv1.3``)."""
    transport: dict[str, int] = field(default_factory=dict)
    ua: dict[str, int] = field(default_factory=dict)

    @property
    def attempted(self) -> int:
        return len(self.calls)

    @property
    def answered(self) -> int:
        return sum(c.answered for c in self.calls)

    @property
    def completed(self) -> int:
        return sum(c.completed for c in self.calls)

    @property
    def failed(self) -> dict[int, int]:
        """Calls that got a final non-2xx, by status."""
        return dict(Counter(c.status for c in self.calls if c.status is not None and c.status >= 300))

    @property
    def unfinished(self) -> int:
        return sum(c.status is None for c in self.calls)

    @property
    def record_routed(self) -> int:
        """Answered calls whose dialog has a route set (a proxy stayed on the path)."""
        return sum(c.answered and bool(c.route_set) for c in self.calls)

    @property
    def ok(self) -> bool:
        return self.completed == self.attempted

    def setup_ms(self, quantile: float) -> float | None:
        """Call setup time at ``quantile`` (0-1, nearest rank) in ms; None without answers."""
        times = sorted(c.setup_s for c in self.calls if c.setup_s is not None)
        if not times:
            return None
        rank = min(len(times) - 1, max(0, math.ceil(quantile * len(times)) - 1))
        return times[rank] * 1000.0

    def as_dict(self) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = {
            "attempted": self.attempted,
            "answered": self.answered,
            "completed": self.completed,
            "unfinished": self.unfinished,
            "record_routed": self.record_routed,
            "duration_s": round(self.duration_s, 3),
            "setup_ms_p50": self.setup_ms(0.5),
            "setup_ms_p95": self.setup_ms(0.95),
            "setup_ms_max": self.setup_ms(1.0),
        }
        out.update({f"failed_{status}": n for status, n in sorted(self.failed.items())})
        out.update({f"tls_{version}": n for version, n in sorted(self.tls_versions.items())})
        out.update({f"transport_{k}": v for k, v in self.transport.items()})
        out.update({f"ua_{k}": v for k, v in self.ua.items()})
        return out


@dataclass(frozen=True, slots=True)
class RegisterOutcome:
    """The registrar's answer: its status and the Contacts of the 200 (all bindings of the AOR)."""

    status: int | None
    contacts: tuple[str, ...] = ()
    granted: int | None = None
    """Seconds the registrar granted our Contact."""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _TrackingClock(AsyncioClock):
    """An AsyncioClock that can cancel every timer still pending (when the agent closes)."""

    __slots__ = ("_handles",)

    def __init__(self) -> None:
        super().__init__()
        self._handles: weakref.WeakSet[asyncio.TimerHandle] = weakref.WeakSet()

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
        handle = super().call_later(delay_s, callback)
        self._handles.add(handle)
        return handle

    def cancel_all(self) -> None:
        for handle in list(self._handles):
            handle.cancel()


class AgentRunner:
    """One UserAgent on one real transport. Create with :meth:`open`; use as ``async with``."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.clock = _TrackingClock()
        self.transport: UdpTransport | StreamTransport | None = None
        self._ua: UserAgent | None = None
        self.incoming: list[Call] = []
        """Calls this UA received (it answers them as ``config.policy`` says)."""

    @classmethod
    async def open(cls, config: AgentConfig) -> AgentRunner:
        """Bind the transport and build the UA on the address actually bound."""
        self = cls(config)
        name = config.transport_name
        if name == "UDP":
            self.transport = await UdpTransport.open(
                config.host, config.port, self._received, self._failed, limits=config.limits
            )
        else:
            self.transport = await StreamTransport.open(
                config.host, config.port, self._received, self._failed, tls=config.tls, limits=config.limits
            )
        local = self.transport.local
        assert local is not None
        ua = UserAgent(
            self.clock, local, user=config.user, transport=self.transport, config=config.timers,
            seed=config.seed if config.seed is not None else secrets.randbits(63), policy=config.policy, outbound_proxy=config.proxy_address(),
        )
        ua.on_call = self.incoming.append
        self._ua = ua
        return self

    async def __aenter__(self) -> AgentRunner:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def ua(self) -> UserAgent:
        if self._ua is None:
            raise RuntimeError("AgentRunner is not open: create it with `await AgentRunner.open(config)`")
        return self._ua

    @property
    def local(self) -> Address:
        """The address the UA listens on and writes in Via and Contact."""
        return self.ua.local

    def _received(self, data: bytes, source: Address, connection: Connection | None) -> None:
        if self._ua is not None:
            self._ua.datagram_received(data, source)

    def _failed(self, dest: Address, error: TransportError) -> None:
        if self._ua is not None:
            self._ua.layer.transport_failed(dest, error)

    # -- registration ------------------------------------------------------------------

    async def register(
        self, registrar: str, *, aor: str, expires: int = 3600, timeout_s: float = 10.0
    ) -> RegisterOutcome:
        """Register this UA's Contact for ``aor`` at ``registrar`` (a SIP URI); wait for the answer.

        The UA keeps refreshing the binding while the runner is open.
        """
        uri = _sip_uri(registrar, "registrar")
        _sip_uri(aor, "aor")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        reg = self.ua.register(uri, aor=aor, expires=expires)

        def changed(_reg: object) -> None:
            if not done.done():
                done.set_result(None)

        reg.on_change = changed
        if reg.state == "registering":
            try:
                await asyncio.wait_for(done, timeout_s)
            except TimeoutError:
                return RegisterOutcome(None)
        response = reg.last.response if reg.last is not None else None
        contacts = tuple(str(c) for c in response.contact) if response is not None else ()
        return RegisterOutcome(reg.status, contacts, reg.granted)

    # -- calls --------------------------------------------------------------------------

    async def place_calls(self, plan: CallPlan) -> CallSummary:
        """Run ``plan``: start its calls at its rate, hold, hang up, and summarise."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + plan.timeout_s
        target = URI.parse(plan.target)
        tasks: list[asyncio.Task[CallOutcome]] = []
        for index in range(plan.calls):
            delay = started + index / plan.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if loop.time() >= deadline:
                break
            tasks.append(loop.create_task(self._call(target, plan.hold_s, deadline)))
        outcomes = list(await asyncio.gather(*tasks))
        outcomes += [CallOutcome("", None, None)] * (plan.calls - len(tasks))  # never started
        return CallSummary(
            calls=tuple(outcomes),
            duration_s=loop.time() - started,
            tls_versions=self.tls_versions(),
            transport=self.transport.counters.as_dict() if self.transport is not None else {},
            ua=self.ua.stats.as_dict(),
        )

    async def _call(self, target: URI, hold_s: float, deadline: float) -> CallOutcome:
        loop = asyncio.get_running_loop()
        final: asyncio.Future[CallEvent] = loop.create_future()

        def on_event(call: Call, event: object) -> None:
            if isinstance(event, CallEvent) and event.kind in ("answered", "failed") and not final.done():
                final.set_result(event)

        sent = self.clock.now()
        call = self.ua.invite(target, on_event=on_event)
        try:
            event = await asyncio.wait_for(final, max(0.0, deadline - loop.time()))
        except TimeoutError:
            self.ua.cancel(call)
            return CallOutcome(call.call_id, None, None)
        outcome = CallOutcome(call.call_id, event.status, event.time - sent,
                              tuple(call.dialog.route_set) if call.dialog is not None else ())
        if not outcome.answered:
            return outcome
        if hold_s:
            await asyncio.sleep(min(hold_s, max(0.0, deadline - loop.time())))
        if call.state is not CallState.CONFIRMED:
            return outcome  # the far end hung up first
        bye = self.ua.bye(call)
        status = await self._final(bye, deadline)
        return CallOutcome(outcome.call_id, outcome.status, outcome.setup_s, outcome.route_set, status)

    async def _final(self, client: ClientRequest, deadline: float) -> int | None:
        """The final status of a request already sent, or None by the deadline."""
        if client.response is not None:
            return client.response.status
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()

        def on_response(_client: ClientRequest, response: Response) -> None:
            if not done.done():
                done.set_result(response.status)

        client.on_response = on_response
        try:
            return await asyncio.wait_for(done, max(0.0, deadline - loop.time()))
        except TimeoutError:
            return None

    # -- reporting and closing ----------------------------------------------------------

    def tls_versions(self) -> dict[str, int]:
        """Open TLS connections by negotiated version (``{"TLSv1.3": 1}``); empty for UDP/TCP."""
        transport = self.transport
        if not isinstance(transport, StreamTransport):
            return {}
        versions = Counter(
            conn.ssl_object.version() or "unknown"
            for conn in transport.connections.values()
            if conn.ssl_object is not None
        )
        return dict(versions)

    async def aclose(self) -> None:
        """Stop every timer (refreshes, retransmissions) and close the transport."""
        self.clock.cancel_all()
        if self.transport is not None:
            await self.transport.aclose()


async def run_calls(config: AgentConfig, plan: CallPlan) -> CallSummary:
    """Open an agent with ``config``, run ``plan`` and close: the one-shot form."""
    runner = await AgentRunner.open(config)
    async with runner:
        return await runner.place_calls(plan)
