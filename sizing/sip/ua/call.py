"""Handles the UA core gives its user: a call, a request in flight, a registration."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..sdp import SessionDescription
from .model import CallEvent, CallState

if TYPE_CHECKING:
    from ..dialog import Dialog, DialogSet
    from ..interfaces import Address, TimerHandle
    from ..message import Request, Response
    from ..transaction import ServerInviteTransaction
    from ..uri import URI
    from .core import UserAgent
    from .registration import Registrations

__all__ = ["Call", "ClientRequest", "Registration"]


class Call:
    """One INVITE session, from the side of this UA (``role`` "uac" or "uas").

    ``events`` lists what happened, in order; ``on_event(call, event)`` is
    told as it happens. ``dialog`` is the confirmed (or, before the answer,
    the latest early) dialog. ``status`` is the final status of the INVITE.
    """

    def __init__(self, ua: UserAgent, role: str, call_id: str) -> None:
        self.ua = ua
        self.role = role
        self.call_id = call_id
        self.state = CallState.CALLING
        self.events: list[CallEvent] = []
        self.on_event: Callable[[Call, CallEvent], object] | None = None
        self.status: int | None = None
        self.dialog: Dialog | None = None
        self.local_sdp: SessionDescription | None = None
        self.remote_sdp: SessionDescription | None = None
        # UAC side
        self.invite: Request | None = None
        self.dest: Address | None = None
        self.dialog_set: DialogSet | None = None
        self.cancel_requested = False
        self.cancelled = False
        self.ack_data: bytes | None = None
        self.ack_dest: Address | None = None
        self.auth_retried = False
        self.session_retried = False
        # RFC 3261 §14 / RFC 3311 §5: what this UA has in flight on the dialog (glare)
        self.reinvite_out: ClientRequest | None = None
        """Our re-INVITE still waiting for its final response."""
        self.offer_out: ClientRequest | None = None
        """Our re-INVITE or UPDATE whose SDP offer still waits for its answer."""
        self.queued: deque[tuple[ClientRequest, Callable[[ClientRequest, Response], None]]] = (
            deque()
        )
        """Our re-INVITEs and UPDATE offers waiting for the change in progress to complete
        (§14.1, RFC 3311 §5.1), oldest first, each with its response handler."""
        self.retrying: list[ClientRequest] = []
        """Our re-INVITEs and UPDATE offers waiting out the §14.1 timer after a 491."""
        # UAS side
        self.server_txn: ServerInviteTransaction | None = None
        self.final_sent = False
        self.answer_timer: TimerHandle | None = None
        self.ok_timer: TimerHandle | None = None
        self.ok_interval = 0.0
        self.ok_elapsed = 0.0
        self.ok_response: Response | None = None
        self.ok_txn: ServerInviteTransaction | None = None
        # RFC 4028
        self.session_interval: int | None = None
        self.session_refresher: bool = False
        self.session_timer: TimerHandle | None = None
        # RFC 3515 (referrer side: the last sipfrag status; transferee side: the REFER)
        self.refer_status: int | None = None
        self.refer_done = False
        self.refer_to: str | None = None

    def __repr__(self) -> str:
        return f"<Call {self.role} {self.call_id} {self.state.value} status={self.status}>"

    @property
    def kinds(self) -> list[str]:
        """The kinds of ``events``, in order (handy in tests and logs)."""
        return [e.kind for e in self.events]

    @property
    def ended(self) -> bool:
        return self.state in (CallState.ENDED, CallState.FAILED)

    def _event(
        self,
        kind: str,
        status: int | None = None,
        sdp: SessionDescription | None = None,
        detail: str = "",
    ) -> None:
        event = CallEvent(self.ua.clock.now(), kind, status, sdp, detail)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(self, event)

    # conveniences that delegate to the UA core
    def bye(self) -> ClientRequest:
        return self.ua.bye(self)

    def cancel(self) -> bool:
        return self.ua.cancel(self)


class ClientRequest:
    """A request this UA sent and its outcome: ``provisional`` responses, then ``response``.

    ``on_response(client_request, response)`` is told of the final response
    (a timeout is reported as 408, a transport failure as 503). A re-INVITE or
    UPDATE that meets glare (491) is sent again after a random wait, as the same
    handle with a new ``request`` (RFC 3261 §14.1); ``on_response`` hears only
    the outcome of the last try, and ``glare_retries`` says how many there were.
    One asked for while another INVITE or offer of the dialog is in progress waits
    for it (§14.1, RFC 3311 §5.1): ``request`` is then a draft, replaced when it is
    sent; a call that ends first answers it 481 without sending it.
    """

    __slots__ = (
        "request",
        "dest",
        "call",
        "provisional",
        "response",
        "on_response",
        "auth_retried",
        "glare_retries",
        "glare_timer",
        "glare_response",
        "reoffer",
    )

    def __init__(
        self,
        request: Request,
        dest: Address,
        call: Call | None = None,
        on_response: Callable[[ClientRequest, Response], object] | None = None,
    ) -> None:
        self.request = request
        self.dest = dest
        self.call = call
        self.provisional: list[Response] = []
        self.response: Response | None = None
        self.on_response = on_response
        self.auth_retried = False
        self.glare_retries = 0
        self.glare_timer: TimerHandle | None = None
        """The wait before the next try after a 491 (None when not waiting)."""
        self.glare_response: Response | None = None
        """The 491 being waited out; it becomes ``response`` if the retry is given up."""
        self.reoffer = False
        """A retry offers the call's SDP as it is then (a refresh), not the body first sent."""

    def __repr__(self) -> str:
        status = None if self.response is None else self.response.status
        return f"<ClientRequest {self.request.method} status={status}>"

    @property
    def status(self) -> int | None:
        return None if self.response is None else self.response.status

    def abandon(self) -> bool:
        """Give up the retry this request waits for after a 491 (see ``UserAgent.abandon``)."""
        return self.call is not None and self.call.ua.abandon(self)


class Registration:
    """A REGISTER binding this UA keeps alive (RFC 3261 §10.2).

    ``state`` is registering, registered, failed or unregistered. The refresh
    is scheduled ``granted - margin`` seconds after each success, where the
    margin is the smaller of 32 s and half the granted time.
    """

    def __init__(
        self,
        client: Registrations,
        registrar: URI,
        aor: str,
        expires: int,
        dest: Address,
        *,
        call_id: str,
        from_tag: str,
    ) -> None:
        self.client = client
        """The UA's REGISTER client that keeps this binding."""
        self.registrar = registrar
        self.aor = aor
        self.expires = expires
        self.dest = dest
        self.call_id = call_id
        self.from_tag = from_tag
        self.cseq = 0
        self.state = "registering"
        self.granted: int | None = None
        self.status: int | None = None
        self.refreshes = 0
        self.timer: TimerHandle | None = None
        self.last: ClientRequest | None = None
        self.on_change: Callable[[Registration], object] | None = None
        self.auth_retried = False

    def __repr__(self) -> str:
        return f"<Registration {self.aor} {self.state} granted={self.granted}>"

    def unregister(self) -> ClientRequest:
        """Remove the binding (Expires 0) and stop refreshing."""
        return self.client.unregister(self)
