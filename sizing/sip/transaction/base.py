"""What all four transaction kinds share: states, events, the dispatcher, timers, sending.

A transaction is driven by :meth:`Transaction._dispatch`: it looks the
(state, event) pair up in its kind's table, moves to the new state, runs the
action and, if the new state is Terminated, cleans up once. An event with no
row in the table is ignored (the RFC diagrams absorb it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from ..interfaces import Address, Clock, TimerConfig, TimerHandle, Transport, TransportError

if TYPE_CHECKING:
    from ..message import Request, Response

__all__ = [
    "KINDS",
    "Event",
    "State",
    "Transaction",
    "TransactionContext",
    "TransactionStats",
    "TransactionUser",
]

#: The four kinds, as counted in :class:`TransactionStats`.
KINDS = ("ICT", "NICT", "IST", "NIST")


class State(IntEnum):
    """Transaction states of RFC 3261 §17 and RFC 6026 (Accepted)."""

    CALLING = 1
    TRYING = 2
    PROCEEDING = 3
    ACCEPTED = 4
    COMPLETED = 5
    CONFIRMED = 6
    TERMINATED = 7

    def __str__(self) -> str:
        return self.name.capitalize()


class Event(IntEnum):
    """What can happen to a transaction.

    Client transactions get responses from the network; server transactions
    get responses from their TU and requests (retransmissions, ACK) from the
    network. ``RETRANSMIT_TIMER`` and ``TIMEOUT_TIMER`` are the two timer
    slots each transaction has (which RFC timer they are depends on the state).
    """

    PROVISIONAL = 1  # 1xx
    SUCCESS = 2  # 2xx
    FAILURE = 3  # 300-699
    REQUEST = 4  # a retransmission of the request
    ACK = 5
    RETRANSMIT_TIMER = 6  # A, E, G (and the IST's 100 Trying delay)
    TIMEOUT_TIMER = 7  # B, D, F, H, I, J, K, L, M
    TRANSPORT_ERROR = 8


def response_event(status: int) -> Event:
    """The event a response with ``status`` is."""
    if status < 200:
        return Event.PROVISIONAL
    if status < 300:
        return Event.SUCCESS
    return Event.FAILURE


class TransactionUser(Protocol):
    """The transaction user (TU): a UA core, a proxy core or a B2BUA.

    ``transaction`` is None for what matches no transaction: a stray response
    (RFC 3261 §18.1.2 passes it to the core) or an ACK for a 2xx (its own
    transaction, §17). A timeout is Timer B/F (treat as 408 Request Timeout,
    §8.1.3.1) or Timer H (no ACK came). ``transaction_terminated`` comes last,
    once per transaction.
    """

    def request_received(self, transaction: Transaction | None, request: Request) -> None: ...

    def response_received(self, transaction: Transaction | None, response: Response) -> None: ...

    def transaction_timeout(self, transaction: Transaction) -> None: ...

    def transport_error(self, transaction: Transaction, error: TransportError) -> None: ...

    def transaction_terminated(self, transaction: Transaction) -> None: ...


def _kind_counts() -> dict[str, int]:
    return dict.fromkeys(KINDS, 0)


@dataclass(slots=True)
class TransactionStats:
    """Counters the product measures, shared by a layer's transactions."""

    created: dict[str, int] = field(default_factory=_kind_counts)
    """Transactions created, by kind (ICT, NICT, IST, NIST)."""
    timeouts: dict[str, int] = field(default_factory=_kind_counts)
    """Timer B (ICT), F (NICT) and H (IST) expiries, by kind."""
    terminated: int = 0
    retransmissions_sent: int = 0
    """Requests re-sent by Timer A/E, responses by Timer G or on a retransmitted
    request, ACKs re-sent on a retransmitted final response, 2xx re-sent by the TU."""
    retransmissions_received: int = 0
    """Retransmitted requests (and ACKs) absorbed by server transactions,
    retransmitted final responses absorbed by client transactions, repeated 2xx."""
    transport_errors: int = 0
    stray_responses: int = 0
    """Responses that matched no client transaction (passed to the TU)."""
    stray_acks: int = 0
    """ACKs that matched no server transaction (ACKs for 2xx, passed to the TU)."""

    def as_dict(self) -> dict[str, int]:
        """A flat mapping, one number per column (for a DataFrame row)."""
        out = {f"created_{k}": v for k, v in self.created.items()}
        out.update({f"timeouts_{k}": v for k, v in self.timeouts.items()})
        for name in (
            "terminated",
            "retransmissions_sent",
            "retransmissions_received",
            "transport_errors",
            "stray_responses",
            "stray_acks",
        ):
            out[name] = getattr(self, name)
        return out


class TransactionContext:
    """What transactions of one layer share: clock, timer values, TU, counters.

    The timer values are copied out of :class:`TimerConfig` so the hot path
    reads a slot, not a property.
    """

    __slots__ = (
        "clock",
        "call_later",
        "config",
        "t1",
        "t2",
        "t4",
        "timer_d",
        "timeout",
        "trying_delay",
        "user",
        "stats",
        "forget",
    )

    def __init__(
        self,
        clock: Clock,
        config: TimerConfig,
        user: TransactionUser,
        stats: TransactionStats | None = None,
        forget: Callable[[Transaction], object] | None = None,
    ) -> None:
        self.clock = clock
        self.call_later = clock.call_later
        self.config = config
        self.t1 = config.t1
        self.t2 = config.t2
        self.t4 = config.t4
        self.timer_d = config.timer_d
        self.timeout = config.timeout
        self.trying_delay = config.trying_delay
        self.user = user
        self.stats = stats if stats is not None else TransactionStats()
        self.forget = forget


_Kind = TypeVar("_Kind", bound="Transaction")

#: A transaction kind's state machine: state -> event -> (action, next state). An action
#: takes the transaction of that kind and the event's payload: the Response of a response
#: event, the Request of a request or ACK event, the TransportError of a transport error,
#: None for a timer.
Table = dict[State, dict[Event, tuple[Callable[[_Kind, Any], None] | None, State]]]


class Transaction:
    """Base of the four kinds: dispatch through a table, two timer slots, sending.

    ``request`` is the request that created the transaction, ``dest`` where this
    transaction sends (the next hop for a client, the response address for a
    server), ``key`` the matching key the layer filed it under.
    """

    __slots__ = (
        "state",
        "request",
        "dest",
        "transport",
        "reliable",
        "key",
        "_ctx",
        "_data",
        "_interval",
        "_retransmit_timer",
        "_timeout_timer",
        "_done",
    )

    kind: ClassVar[str] = ""
    _table: ClassVar[Table[Any]] = {}

    def __init__(
        self,
        request: Request,
        dest: Address,
        transport: Transport,
        ctx: TransactionContext,
        key: object = None,
    ) -> None:
        self.state = State.TERMINATED  # until started
        self.request = request
        self.dest = dest
        self.transport = transport
        self.reliable = bool(transport.reliable)
        self.key: Any = key
        """Opaque here: its shape is the layer's (a client's or a server's matching key)."""
        self._ctx = ctx
        self._data: bytes | None = None  # what a retransmission re-sends
        self._interval = 0.0
        self._retransmit_timer: TimerHandle | None = None
        self._timeout_timer: TimerHandle | None = None
        self._done = False
        ctx.stats.created[self.kind] += 1

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.request.method} {self.state} key={self.key!r}>"

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    # -- dispatch ----------------------------------------------------------------

    def _dispatch(self, event: Event, arg: object) -> bool:
        """Run the table row for ``event`` in the current state; False if there is none."""
        row = self._table[self.state].get(event)
        if row is None:
            return False
        action, self.state = row
        if action is not None:
            action(self, arg)
        if self.state is State.TERMINATED:
            self._finish()
        return True

    def transport_error(self, error: TransportError | str) -> bool:
        """Report a transport failure found after sending (§17.1.4, §17.2.4)."""
        if not isinstance(error, TransportError):
            error = TransportError(str(error))
        return self._dispatch(Event.TRANSPORT_ERROR, error)

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        self._cancel_retransmit()
        self._cancel_timeout()
        ctx = self._ctx
        ctx.stats.terminated += 1
        if ctx.forget is not None:
            ctx.forget(self)
        ctx.user.transaction_terminated(self)

    # -- timers ------------------------------------------------------------------

    def _retransmit_fired(self) -> None:
        self._retransmit_timer = None
        self._dispatch(Event.RETRANSMIT_TIMER, None)

    def _timeout_fired(self) -> None:
        self._timeout_timer = None
        self._dispatch(Event.TIMEOUT_TIMER, None)

    def _arm_retransmit(self, delay: float) -> None:
        self._interval = delay
        self._retransmit_timer = self._ctx.call_later(delay, self._retransmit_fired)

    def _arm_timeout(self, delay: float) -> None:
        """Start the timeout slot; a zero delay (reliable transports) terminates now."""
        self._cancel_timeout()
        if delay <= 0:
            self.state = State.TERMINATED
        else:
            # A bound method per timer, not one kept on the transaction: that
            # would be a reference cycle, left for the cyclic GC to free.
            self._timeout_timer = self._ctx.call_later(delay, self._timeout_fired)

    def _cancel_retransmit(self) -> None:
        timer = self._retransmit_timer
        if timer is not None:
            timer.cancel()
            self._retransmit_timer = None

    def _cancel_timeout(self) -> None:
        timer = self._timeout_timer
        if timer is not None:
            timer.cancel()
            self._timeout_timer = None

    # -- sending -----------------------------------------------------------------

    def _send(self, data: bytes) -> bool:
        """Pass ``data`` to the transport; a TransportError becomes an event."""
        try:
            self.transport.send(data, self.dest)
        except TransportError as error:
            self._dispatch(Event.TRANSPORT_ERROR, error)
            return False
        return True

    def _retransmit(self) -> bool:
        self._ctx.stats.retransmissions_sent += 1
        data = self._data
        assert data is not None  # only what was sent is retransmitted
        return self._send(data)

    # -- actions shared by several kinds -------------------------------------------

    def _timed_out(self, _: object) -> None:
        ctx = self._ctx
        ctx.stats.timeouts[self.kind] += 1
        ctx.user.transaction_timeout(self)

    def _report_transport_error(self, error: TransportError) -> None:
        ctx = self._ctx
        ctx.stats.transport_errors += 1
        ctx.user.transport_error(self, error)

    def _absorb(self, _: object) -> None:
        self._ctx.stats.retransmissions_received += 1
