"""Server transactions: INVITE (RFC 3261 §17.2.1 + RFC 6026 §8.5-8.7) and non-INVITE (§17.2.2).

Timer slots: the retransmit slot is the 100 Trying delay, then Timer G
(INVITE); the timeout slot is H, then I, or L (INVITE), or J (non-INVITE).
The TU answers with :meth:`ServerTransaction.respond`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..message import Response
from .base import Event, State, Table, Transaction, response_event

if TYPE_CHECKING:
    from ..interfaces import Address, Transport
    from ..message import Request
    from .base import TransactionContext

__all__ = ["ServerInviteTransaction", "ServerNonInviteTransaction", "ServerTransaction"]


class ServerTransaction(Transaction):
    """What both server kinds share: the TU's responses, retransmitted requests.

    ``source`` is where the request came from; ``dest`` where responses go
    (RFC 3261 §18.2.2). ``last_response`` is the most recent response sent,
    the one a retransmitted request gets again.
    """

    __slots__ = ("source", "last_response")

    def __init__(
        self,
        request: Request,
        source: Address,
        dest: Address,
        transport: Transport,
        ctx: TransactionContext,
        key: object = None,
    ) -> None:
        super().__init__(request, dest, transport, ctx, key)
        self.source = source
        self.last_response: Response | None = None

    def respond(self, response: Response) -> bool:
        """Send the TU's response; False when the state machine discards it
        (a final response after the final one, anything once terminated)."""
        if not isinstance(response, Response):
            raise TypeError(
                f"{type(self).__name__}.respond() takes a Response, got {type(response).__name__}"
            )
        return self._dispatch(response_event(response.status), response)

    def receive_request(self, request: Request) -> bool:
        """Feed a request that matched this transaction (§17.2.3): a retransmission or an ACK."""
        event = Event.ACK if request.method == "ACK" else Event.REQUEST
        return self._dispatch(event, request)

    def _store_and_send(self, response: Response) -> bool:
        self.last_response = response
        self._data = response.encode()
        return self._send(self._data)

    # actions
    def _send_provisional(self, response: Response) -> None:
        self._cancel_retransmit()  # the 100 Trying delay, if still pending
        self._store_and_send(response)

    def _resend_last(self, _: object) -> None:
        """A retransmitted request gets the most recent response again (if any)."""
        stats = self._ctx.stats
        stats.retransmissions_received += 1
        if self._data is not None:
            stats.retransmissions_sent += 1
            self._send(self._data)


# -- INVITE server transaction -------------------------------------------------------


class ServerInviteTransaction(ServerTransaction):
    """The INVITE server transaction: Proceeding, Accepted, Completed, Confirmed, Terminated."""

    __slots__ = ()

    kind = "IST"

    def begin(self) -> None:
        """Enter Proceeding and pass the INVITE to the TU; send 100 Trying if it
        has not answered within the trying delay (§17.2.1)."""
        self.state = State.PROCEEDING
        ctx = self._ctx
        ctx.user.request_received(self, self.request)
        delay = ctx.trying_delay
        if self.state is State.PROCEEDING and self._data is None and delay is not None:
            if delay > 0:
                self._arm_retransmit(delay)
            else:
                self._send_trying(None)
        if self.state is State.TERMINATED:
            self._finish()

    # actions
    def _send_trying(self, _: object) -> None:
        # No To tag on a 100 (§17.2.1: downgraded to SHOULD NOT).
        self._store_and_send(self.request.create_response(100))

    def _send_2xx(self, response: Response) -> None:
        self._cancel_retransmit()
        self._store_and_send(response)
        if self.state is State.ACCEPTED:
            self._arm_timeout(self._ctx.timeout)  # Timer L (RFC 6026 §8.7)

    def _resend_2xx(self, response: Response) -> None:
        """The TU (dialog) retransmits its 2xx; the transaction never does (RFC 6026)."""
        last = self.last_response
        if last is not None and last.to_tag == response.to_tag:
            self._ctx.stats.retransmissions_sent += 1
        self._store_and_send(response)

    def _send_final(self, response: Response) -> None:
        self._cancel_retransmit()
        if self._store_and_send(response):
            ctx = self._ctx
            if not self.reliable:
                self._arm_retransmit(ctx.t1)  # Timer G
            self._arm_timeout(ctx.timeout)  # Timer H

    def _timer_g(self, _: object) -> None:
        if self._retransmit():
            self._arm_retransmit(min(2 * self._interval, self._ctx.t2))

    def _confirmed(self, ack: Request) -> None:
        self._cancel_retransmit()
        self._arm_timeout(0.0 if self.reliable else self._ctx.t4)  # Timer I

    def _ack_to_tu(self, ack: Request) -> None:
        self._ctx.user.request_received(self, ack)


_IST = ServerInviteTransaction
_IST_TABLE: Table[ServerInviteTransaction] = {
    State.PROCEEDING: {
        Event.REQUEST: (_IST._resend_last, State.PROCEEDING),
        Event.RETRANSMIT_TIMER: (_IST._send_trying, State.PROCEEDING),  # 200 ms passed
        Event.PROVISIONAL: (_IST._send_provisional, State.PROCEEDING),
        Event.SUCCESS: (_IST._send_2xx, State.ACCEPTED),
        Event.FAILURE: (_IST._send_final, State.COMPLETED),
        Event.TRANSPORT_ERROR: (_IST._report_transport_error, State.TERMINATED),
    },
    State.ACCEPTED: {
        Event.REQUEST: (_IST._absorb, State.ACCEPTED),  # not passed to the TU
        Event.ACK: (_IST._ack_to_tu, State.ACCEPTED),
        Event.SUCCESS: (_IST._resend_2xx, State.ACCEPTED),
        Event.TIMEOUT_TIMER: (None, State.TERMINATED),  # Timer L
        Event.TRANSPORT_ERROR: (_IST._report_transport_error, State.ACCEPTED),
    },
    State.COMPLETED: {
        Event.REQUEST: (_IST._resend_last, State.COMPLETED),
        Event.RETRANSMIT_TIMER: (_IST._timer_g, State.COMPLETED),
        Event.ACK: (_IST._confirmed, State.CONFIRMED),
        Event.TIMEOUT_TIMER: (_IST._timed_out, State.TERMINATED),  # Timer H
        Event.TRANSPORT_ERROR: (_IST._report_transport_error, State.TERMINATED),
    },
    State.CONFIRMED: {
        Event.ACK: (_IST._absorb, State.CONFIRMED),
        Event.REQUEST: (_IST._absorb, State.CONFIRMED),
        Event.TIMEOUT_TIMER: (None, State.TERMINATED),  # Timer I
    },
    State.TERMINATED: {},
}
ServerInviteTransaction._table = _IST_TABLE


# -- non-INVITE server transaction ----------------------------------------------------


class ServerNonInviteTransaction(ServerTransaction):
    """The non-INVITE server transaction: Trying, Proceeding, Completed, Terminated.

    For a CANCEL, ``cancel_target`` is the INVITE server transaction it
    matches (§9.2), or None (the TU then answers 481).
    """

    __slots__ = ("cancel_target",)

    kind = "NIST"

    def __init__(
        self,
        request: Request,
        source: Address,
        dest: Address,
        transport: Transport,
        ctx: TransactionContext,
        key: object = None,
    ) -> None:
        super().__init__(request, source, dest, transport, ctx, key)
        self.cancel_target: ServerInviteTransaction | None = None

    def begin(self) -> None:
        """Enter Trying and pass the request to the TU."""
        self.state = State.TRYING
        self._ctx.user.request_received(self, self.request)
        if self.state is State.TERMINATED:
            self._finish()

    # actions
    def _send_final(self, response: Response) -> None:
        if self._store_and_send(response):
            self._arm_timeout(0.0 if self.reliable else self._ctx.timeout)  # Timer J


_NIST = ServerNonInviteTransaction
_NIST_TABLE: Table[ServerNonInviteTransaction] = {
    State.TRYING: {
        Event.REQUEST: (_NIST._absorb, State.TRYING),
        Event.PROVISIONAL: (_NIST._send_provisional, State.PROCEEDING),
        Event.SUCCESS: (_NIST._send_final, State.COMPLETED),
        Event.FAILURE: (_NIST._send_final, State.COMPLETED),
    },
    State.PROCEEDING: {
        Event.REQUEST: (_NIST._resend_last, State.PROCEEDING),
        Event.PROVISIONAL: (_NIST._send_provisional, State.PROCEEDING),
        Event.SUCCESS: (_NIST._send_final, State.COMPLETED),
        Event.FAILURE: (_NIST._send_final, State.COMPLETED),
        Event.TRANSPORT_ERROR: (_NIST._report_transport_error, State.TERMINATED),
    },
    State.COMPLETED: {
        Event.REQUEST: (_NIST._resend_last, State.COMPLETED),
        Event.TIMEOUT_TIMER: (None, State.TERMINATED),  # Timer J
        Event.TRANSPORT_ERROR: (_NIST._report_transport_error, State.TERMINATED),
    },
    State.TERMINATED: {},
}
ServerNonInviteTransaction._table = _NIST_TABLE
