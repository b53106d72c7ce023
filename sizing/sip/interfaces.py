"""What a driver gives the SIP engine: a clock, transports, addresses and timer values.

The engine is sans-IO: it never reads a clock or touches a socket. A driver
(the SimPy simulation or the asyncio network stack) implements :class:`Clock`
and :class:`Transport`; the engine only calls them. :class:`ManualClock` is a
complete, deterministic clock for tests and for simple drivers that advance
time themselves.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

__all__ = [
    "DEFAULT_PORTS",
    "default_port",
    "Address",
    "Clock",
    "ManualClock",
    "ManualTimer",
    "TimerConfig",
    "TimerHandle",
    "Transport",
    "TransportError",
]

#: Transport names of RFC 3261 §20.42 (plus WebSocket, RFC 7118) the engine accepts.
TRANSPORTS = frozenset({"UDP", "TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"})


class _AddressFields(NamedTuple):
    transport: str
    host: str
    port: int


DEFAULT_PORTS = {"UDP": 5060, "TCP": 5060, "SCTP": 5060, "TLS": 5061, "TLS-SCTP": 5061,
                 "WS": 80, "WSS": 443}
"""The port a transport implies when a URI or Via names none (RFC 3261 §19.1.2, §18.2.2;
RFC 7118 for WebSockets)."""


def default_port(transport: str) -> int:
    """:data:`DEFAULT_PORTS` for ``transport`` (any case); 5060 for one not listed."""
    return DEFAULT_PORTS.get(transport.upper(), 5060)


class Address(_AddressFields):
    """Where a message goes or came from: transport name, host and port.

    A tuple, so it hashes and compares fast as a dictionary key. The transport
    is upper-cased (``"udp"`` becomes ``"UDP"``); a bad field raises ValueError
    naming it.
    """

    __slots__ = ()

    def __new__(cls, transport: str, host: str, port: int) -> Address:
        if not isinstance(transport, str) or transport.upper() not in TRANSPORTS:
            raise ValueError(
                f"Address transport {transport!r} is not one of {sorted(TRANSPORTS)}"
            )
        if not isinstance(host, str) or not host:
            raise ValueError(f"Address host {host!r} must be a non-empty string")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"Address port {port!r} must be an integer in 1-65535")
        return super().__new__(cls, transport.upper(), host, port)

    def __str__(self) -> str:
        return f"{self.transport.lower()}:{self.host}:{self.port}"


class TimerHandle(Protocol):
    """A scheduled callback; ``cancel()`` stops it from running (idempotent)."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Time as the driver sees it, in seconds (simulated or real)."""

    def now(self) -> float: ...

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback()`` once, ``delay_s`` seconds from now."""
        ...


class TransportError(Exception):
    """Sending failed (RFC 3261 §17.1.4 / §17.2.4): the transaction informs its user."""


class Transport(Protocol):
    """Sends encoded messages; one object per transport kind or per connection.

    ``reliable`` is True for TCP, TLS and SCTP: transactions then do not
    retransmit and wait zero seconds in their Completed/Confirmed states.
    ``send`` raises :class:`TransportError` when it knows at once that a
    message cannot go out; a failure found later (a refused TCP connection,
    an ICMP error) is reported with ``TransactionLayer.transport_failed`` or
    ``Transaction.transport_error``.
    """

    reliable: bool

    def send(self, data: bytes, dest: Address) -> None: ...


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """The RFC 3261 §17 timer values in seconds (Table 4); all configurable.

    ``timer_d`` is Timer D on unreliable transports ("at least 32 s");
    ``trying_delay`` is how long an INVITE server transaction waits for the
    TU's first response before sending 100 Trying itself (§17.2.1, 200 ms),
    0 to send it at once, None never to send it.
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d: float = 32.0
    trying_delay: float | None = 0.2

    def __post_init__(self) -> None:
        for name in ("t1", "t2", "t4", "timer_d"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"TimerConfig.{name} must be a positive number, got {value!r}")
        if self.t2 < self.t1:
            raise ValueError(f"TimerConfig.t2 ({self.t2}) must not be less than t1 ({self.t1})")
        delay = self.trying_delay
        if delay is not None and (
            isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0
        ):
            raise ValueError(f"TimerConfig.trying_delay must be >= 0 or None, got {delay!r}")

    @property
    def timeout(self) -> float:
        """64*T1: Timers B, F, H, J (unreliable), L and M."""
        return 64 * self.t1


class ManualTimer:
    """The handle :meth:`ManualClock.call_later` returns."""

    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __repr__(self) -> str:
        state = " cancelled" if self.cancelled else ""
        return f"<ManualTimer at {self.when}{state}>"


class ManualClock:
    """A clock that moves only when told to, running due callbacks in time order.

    Callbacks due at the same instant run in the order they were scheduled, so
    a run is reproducible. ``now()`` reads the due time of the callback being
    run, so timers it schedules are relative to that instant.
    """

    __slots__ = ("_now", "_queue", "_seq")

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._queue: list[tuple[float, int, ManualTimer]] = []
        self._seq = 0

    def now(self) -> float:
        return self._now

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> ManualTimer:
        if not delay_s >= 0:  # also rejects NaN
            raise ValueError(f"call_later delay must be >= 0 seconds, got {delay_s!r}")
        timer = ManualTimer(self._now + delay_s, callback)
        self._seq += 1
        heapq.heappush(self._queue, (timer.when, self._seq, timer))
        return timer

    def advance(self, seconds: float) -> int:
        """Move time forward by ``seconds``, running every callback due; returns how many ran."""
        if not seconds >= 0:
            raise ValueError(f"advance() needs seconds >= 0, got {seconds!r}")
        return self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> int:
        """Move time forward to ``when``, running every callback due by then."""
        if when < self._now:
            raise ValueError(f"advance_to({when}) is before now ({self._now})")
        queue = self._queue
        ran = 0
        while queue and queue[0][0] <= when:
            due, _, timer = heapq.heappop(queue)
            if timer.cancelled:
                continue
            self._now = due
            timer.cancelled = True  # a handle fires once; cancel() after that is a no-op
            timer.callback()
            ran += 1
        self._now = when
        return ran

    def next_deadline(self) -> float | None:
        """When the next live callback is due, or None when nothing is scheduled."""
        queue = self._queue
        while queue and queue[0][2].cancelled:
            heapq.heappop(queue)
        return queue[0][0] if queue else None

    def run(self) -> int:
        """Run callbacks until none is left (time jumps to each); returns how many ran."""
        ran = 0
        while (deadline := self.next_deadline()) is not None:
            ran += self.advance_to(deadline)
        return ran
