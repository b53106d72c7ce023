"""Client transactions: INVITE (RFC 3261 §17.1.1 + RFC 6026 §8.4) and non-INVITE (§17.1.2).

Timer slots: the retransmit slot is Timer A (INVITE) or E (non-INVITE); the
timeout slot is B, then D or M (INVITE), or F, then K (non-INVITE).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..message import Headers, Request, Response
from .base import Event, State, Table, Transaction, response_event

if TYPE_CHECKING:
    from ..interfaces import Address, Transport
    from .base import TransactionContext

__all__ = [
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "ClientTransaction",
    "build_ack",
    "build_cancel",
]


def _copy_common(request: Request, what: str) -> Headers:
    """Via (top value only), Max-Forwards and Route of ``request``, for an ACK or a CANCEL."""
    headers = request.headers
    top = headers.get("Via")
    if top is None:
        raise ValueError(f"cannot build {what}: the {request.method} request has no Via header")
    if "," in top:  # several Via values on one line: keep the topmost only
        top = str(request.top_via)
    if request.cseq is None:
        raise ValueError(f"cannot build {what}: the {request.method} request has no CSeq header")
    out = Headers()
    out.add("Via", top)
    out.add("Max-Forwards", headers.get("Max-Forwards") or "70")
    for route in headers.get_lines("Route"):
        out.add("Route", route)
    return out


def build_ack(request: Request, response: Response) -> Request:
    """The ACK for a non-2xx final response, built inside the transaction (§17.1.1.3).

    Request-URI, Call-ID, From and the CSeq number are the INVITE's; To is the
    response's (with its tag); the only Via is the INVITE's top Via (same
    branch); Route is the INVITE's. An ACK for a 2xx is the TU's (§13.2.2.4).
    """
    if request.method != "INVITE":
        raise ValueError(f"an ACK acknowledges an INVITE, not {request.method}")
    if not 300 <= response.status <= 699:
        raise ValueError(
            f"the transaction acknowledges 300-699 responses only, not {response.status} "
            "(the TU acknowledges 2xx, RFC 3261 §13.2.2.4)"
        )
    headers = _copy_common(request, "an ACK")
    source = request.headers
    headers.add("From", source.get("From") or "")
    headers.add("To", response.headers.get("To") or source.get("To") or "")
    headers.add("Call-ID", source.get("Call-ID") or "")
    headers.add("CSeq", f"{_cseq_number(request)} ACK")
    return Request("ACK", request.uri, headers)


def _cseq_number(request: Request) -> int:
    cseq = request.cseq
    if cseq is None:
        raise ValueError(f"a {request.method} without CSeq has no transaction to end")
    return cseq.number


def build_cancel(request: Request) -> Request:
    """A CANCEL for ``request`` (§9.1): same Request-URI, Call-ID, To, From,
    CSeq number, top Via (so the same branch) and Route; CSeq method CANCEL."""
    if request.method == "ACK" or request.method == "CANCEL":
        raise ValueError(f"a {request.method} request cannot be cancelled (RFC 3261 §9.1)")
    headers = _copy_common(request, "a CANCEL")
    source = request.headers
    for name in ("From", "To", "Call-ID"):
        headers.add(name, source.get(name) or "")
    headers.add("CSeq", f"{_cseq_number(request)} CANCEL")
    return Request("CANCEL", request.uri, headers)


class ClientTransaction(Transaction):
    """What both client kinds share: starting, and receiving responses."""

    __slots__ = ()

    def __init__(
        self,
        request: Request,
        dest: Address,
        transport: Transport,
        ctx: TransactionContext,
        key: object = None,
    ) -> None:
        super().__init__(request, dest, transport, ctx, key)
        self._data = request.encode()

    def receive_response(self, response: Response) -> bool:
        """Feed a response that matched this transaction (§17.1.3); False if ignored."""
        return self._dispatch(response_event(response.status), response)

    def _encoded(self) -> bytes:
        data = self._data
        assert data is not None  # encoded when the transaction was created
        return data

    def _pass_up(self, response: Response) -> None:
        self._ctx.user.response_received(self, response)


# -- INVITE client transaction -------------------------------------------------------


class ClientInviteTransaction(ClientTransaction):
    """The INVITE client transaction: Calling, Proceeding, Accepted, Completed, Terminated."""

    __slots__ = ("ack", "_ack_data", "_first_2xx_tag")

    kind = "ICT"

    def __init__(
        self,
        request: Request,
        dest: Address,
        transport: Transport,
        ctx: TransactionContext,
        key: object = None,
    ) -> None:
        super().__init__(request, dest, transport, ctx, key)
        self.ack: Request | None = None
        """The ACK this transaction sent for a non-2xx final response."""
        self._ack_data: bytes | None = None
        self._first_2xx_tag: str | None = None

    def start(self) -> None:
        """Send the INVITE; arm Timer A (unreliable transports) and Timer B."""
        self.state = State.CALLING
        if self._send(self._encoded()):
            ctx = self._ctx
            if not self.reliable:
                self._arm_retransmit(ctx.t1)
            self._arm_timeout(ctx.timeout)
        if self.state is State.TERMINATED:
            self._finish()

    # actions
    def _timer_a(self, _: object) -> None:
        if self._retransmit():
            self._arm_retransmit(2 * self._interval)

    def _proceeding(self, response: Response) -> None:
        # No retransmissions and no Timer B once a provisional arrived (§17.1.1.2).
        self._cancel_retransmit()
        self._cancel_timeout()
        self._pass_up(response)

    def _accepted(self, response: Response) -> None:
        self._cancel_retransmit()
        self._arm_timeout(self._ctx.timeout)  # Timer M (RFC 6026 §8.4)
        self._first_2xx_tag = response.to_tag
        self._pass_up(response)

    def _another_2xx(self, response: Response) -> None:
        if response.to_tag == self._first_2xx_tag:
            self._ctx.stats.retransmissions_received += 1
        self._pass_up(response)

    def _completed(self, response: Response) -> None:
        self._cancel_retransmit()
        self._cancel_timeout()
        self._pass_up(response)
        self.ack = build_ack(self.request, response)
        self._ack_data = self.ack.encode()
        if self._send(self._ack_data):
            self._arm_timeout(0.0 if self.reliable else self._ctx.timer_d)  # Timer D

    def _resend_ack(self, _: object) -> None:
        self._ctx.stats.retransmissions_received += 1
        self._ctx.stats.retransmissions_sent += 1
        assert self._ack_data is not None  # sent on entering Completed
        self._send(self._ack_data)


_ICT = ClientInviteTransaction
_ICT_TABLE: Table[ClientInviteTransaction] = {
    State.CALLING: {
        Event.RETRANSMIT_TIMER: (_ICT._timer_a, State.CALLING),
        Event.TIMEOUT_TIMER: (_ICT._timed_out, State.TERMINATED),  # Timer B
        Event.PROVISIONAL: (_ICT._proceeding, State.PROCEEDING),
        Event.SUCCESS: (_ICT._accepted, State.ACCEPTED),
        Event.FAILURE: (_ICT._completed, State.COMPLETED),
        Event.TRANSPORT_ERROR: (_ICT._report_transport_error, State.TERMINATED),
    },
    State.PROCEEDING: {
        Event.PROVISIONAL: (_ICT._pass_up, State.PROCEEDING),
        Event.SUCCESS: (_ICT._accepted, State.ACCEPTED),
        Event.FAILURE: (_ICT._completed, State.COMPLETED),
        # Not in Figure 5: a connection lost while waiting for the final response
        # would otherwise leave the transaction waiting forever (no Timer B here).
        Event.TRANSPORT_ERROR: (_ICT._report_transport_error, State.TERMINATED),
    },
    State.ACCEPTED: {
        Event.SUCCESS: (_ICT._another_2xx, State.ACCEPTED),
        Event.TIMEOUT_TIMER: (None, State.TERMINATED),  # Timer M
    },
    State.COMPLETED: {
        Event.FAILURE: (_ICT._resend_ack, State.COMPLETED),
        Event.TIMEOUT_TIMER: (None, State.TERMINATED),  # Timer D
        Event.TRANSPORT_ERROR: (_ICT._report_transport_error, State.TERMINATED),
    },
    State.TERMINATED: {},
}
ClientInviteTransaction._table = _ICT_TABLE


# -- non-INVITE client transaction -----------------------------------------------------


class ClientNonInviteTransaction(ClientTransaction):
    """The non-INVITE client transaction: Trying, Proceeding, Completed, Terminated."""

    __slots__ = ()

    kind = "NICT"

    def start(self) -> None:
        """Send the request; arm Timer E (unreliable transports) and Timer F."""
        self.state = State.TRYING
        if self._send(self._encoded()):
            ctx = self._ctx
            if not self.reliable:
                self._arm_retransmit(ctx.t1)
            self._arm_timeout(ctx.timeout)
        if self.state is State.TERMINATED:
            self._finish()

    # actions
    def _timer_e_trying(self, _: object) -> None:
        if self._retransmit():
            self._arm_retransmit(min(2 * self._interval, self._ctx.t2))

    def _timer_e_proceeding(self, _: object) -> None:
        if self._retransmit():
            self._arm_retransmit(self._ctx.t2)

    def _completed(self, response: Response) -> None:
        self._cancel_retransmit()
        self._cancel_timeout()
        self._pass_up(response)
        self._arm_timeout(0.0 if self.reliable else self._ctx.t4)  # Timer K


_NICT = ClientNonInviteTransaction
_NICT_TABLE: Table[ClientNonInviteTransaction] = {
    State.TRYING: {
        Event.RETRANSMIT_TIMER: (_NICT._timer_e_trying, State.TRYING),
        Event.TIMEOUT_TIMER: (_NICT._timed_out, State.TERMINATED),  # Timer F
        Event.PROVISIONAL: (_NICT._pass_up, State.PROCEEDING),
        Event.SUCCESS: (_NICT._completed, State.COMPLETED),
        Event.FAILURE: (_NICT._completed, State.COMPLETED),
        Event.TRANSPORT_ERROR: (_NICT._report_transport_error, State.TERMINATED),
    },
    State.PROCEEDING: {
        Event.RETRANSMIT_TIMER: (_NICT._timer_e_proceeding, State.PROCEEDING),
        Event.TIMEOUT_TIMER: (_NICT._timed_out, State.TERMINATED),  # Timer F
        Event.PROVISIONAL: (_NICT._pass_up, State.PROCEEDING),
        Event.SUCCESS: (_NICT._completed, State.COMPLETED),
        Event.FAILURE: (_NICT._completed, State.COMPLETED),
        Event.TRANSPORT_ERROR: (_NICT._report_transport_error, State.TERMINATED),
    },
    State.COMPLETED: {
        # Retransmitted final responses are absorbed; a late 1xx is ignored.
        Event.SUCCESS: (_NICT._absorb, State.COMPLETED),
        Event.FAILURE: (_NICT._absorb, State.COMPLETED),
        Event.TIMEOUT_TIMER: (None, State.TERMINATED),  # Timer K
    },
    State.TERMINATED: {},
}
ClientNonInviteTransaction._table = _NICT_TABLE
