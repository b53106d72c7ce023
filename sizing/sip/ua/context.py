"""What a collaborator of the UA core may use of it: one Protocol per collaborator.

The UA's outgoing and incoming calls, requests in established calls, glare
handling, registration client and session timers are objects the
:class:`~sizing.sip.ua.UserAgent` holds, built with the UA as their context and
typed here by exactly the part of it each uses; the other concerns of the UA
(:mod:`.requests`) is still mixed into it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from random import Random

    from ..auth import DigestAuthenticator
    from ..dialog import Dialog, DialogId
    from ..element import AckState
    from ..headers import NameAddr
    from ..interfaces import Address, Clock
    from ..message import Headers, Request, Response
    from ..sdp import Capabilities, SessionDescription
    from ..transaction import ServerInviteTransaction, ServerTransaction
    from ..uri import URI
    from .call import Call, ClientRequest
    from .common import Headerish, ResponseHandler
    from .glare import Glare
    from .model import AnswerPolicy, SessionTimerConfig, UAStats
    from .session_timer import SessionTimers

__all__ = [
    "GlareContext",
    "InDialogContext",
    "InviteClientContext",
    "InviteServerContext",
    "RegistrationContext",
    "Responding",
    "SessionTimerContext",
]


class _Counted(Protocol):
    @property
    def clock(self) -> Clock: ...

    @property
    def stats(self) -> UAStats: ...


class RequestBuilding(_Counted, Protocol):
    """Building and sending requests from the UA's Contact, retrying challenges."""

    @property
    def contact(self) -> URI: ...

    @property
    def local(self) -> Address: ...

    @property
    def outbound_proxy(self) -> Address | None: ...

    def _new_request(
        self,
        method: str,
        uri: URI,
        *,
        from_: str,
        to: str,
        call_id: str,
        from_tag: str,
        cseq: int,
        headers: Headerish = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Request: ...

    def _send(self, client: ClientRequest, handler: ResponseHandler) -> ClientRequest: ...

    def _new_call_id(self) -> str: ...

    def _new_tag(self) -> str: ...

    def _retry(self, client: ClientRequest, response: Response, *, cseq: int) -> Request | None: ...


class RegistrationContext(RequestBuilding, Protocol):
    """REGISTER needs only to build and send requests."""


class GlareContext(_Counted, Protocol):
    """Glare sends a waiting change in the dialog after a random T."""

    @property
    def _rng(self) -> Random: ...

    def _via(self, dest: Address | None = None) -> str: ...

    def _next_hop(self, dialog: Dialog) -> Address: ...

    def _send(self, client: ClientRequest, handler: ResponseHandler) -> ClientRequest: ...


class Responding(Protocol):
    """Answering requests on server transactions."""

    def _respond(
        self,
        txn: ServerTransaction,
        request: Request,
        status: int,
        *,
        reason: str | None = None,
        to_tag: str | None = None,
        headers: Iterable[tuple[str, object]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response: ...


class Answering(Responding, Protocol):
    """Answers with the UA's Contact and capabilities."""

    def _contact(self) -> list[tuple[str, object]]: ...

    def _capability_headers(self) -> list[tuple[str, object]]: ...


class CallSides(Protocol):
    """What every side of a call shares: the dialog table, SDP answers from the UA's
    capabilities, and the glare and session-timer collaborators."""

    @property
    def contact(self) -> URI: ...

    @property
    def capabilities(self) -> Capabilities | None: ...

    @property
    def _dialogs(self) -> dict[DialogId, Call]: ...

    @property
    def _glare(self) -> Glare: ...

    @property
    def _session_timers(self) -> SessionTimers: ...

    def _answer(self, remote: SessionDescription) -> SessionDescription | None: ...


class InviteServerContext(_Counted, Answering, CallSides, Protocol):
    """Incoming calls: the answer policy, Digest checks, the INVITE server transactions
    and 2xx retransmission."""

    @property
    def policy(self) -> AnswerPolicy: ...

    @property
    def authenticator(self) -> DigestAuthenticator | None: ...

    @property
    def on_call(self) -> Callable[[Call], object] | None: ...

    @property
    def _invites(self) -> dict[ServerInviteTransaction, Call]: ...

    def _new_tag(self) -> str: ...

    def _call(self, role: str, call_id: str) -> Call: ...

    def _offer(self) -> SessionDescription: ...

    def _start_ok_retransmit(
        self, state: AckState, txn: ServerInviteTransaction, response: Response
    ) -> None: ...

    def _ack_for_ok(self, ack: Request) -> Any: ...


class InDialogSending(Protocol):
    """Sending a request in a call's dialog, and ending the call."""

    def _in_dialog(
        self,
        call: Call,
        method: str,
        *,
        headers: Headerish = (),
        body: bytes = b"",
        content_type: str | None = None,
        handler: ResponseHandler | None = None,
        on_response: Callable[[ClientRequest, Response], object] | None = None,
        reoffer: bool = False,
    ) -> ClientRequest: ...

    def _end(self, call: Call, detail: str) -> None: ...


class SessionTimerContext(_Counted, InDialogSending, Protocol):
    """Session timers refresh with the UA's re-INVITE or UPDATE and end a call with BYE."""

    @property
    def session_timer(self) -> SessionTimerConfig | None: ...

    def reinvite(
        self, call: Call, *, sdp: SessionDescription | None = None, headers: Headerish = ()
    ) -> ClientRequest: ...

    def update(
        self, call: Call, *, sdp: SessionDescription | None = None, headers: Headerish = ()
    ) -> ClientRequest: ...


class InviteClientContext(RequestBuilding, InDialogSending, CallSides, Protocol):
    """Outgoing calls: SDP offers, the session timer asked for, and the ACK of a 2xx."""

    @property
    def session_timer(self) -> SessionTimerConfig | None: ...

    def _call(self, role: str, call_id: str) -> Call: ...

    def _offer(self) -> SessionDescription: ...

    def _supported(self, headers: Headers) -> None: ...

    def _ignore(self, client: ClientRequest, response: Response) -> None: ...

    def _via(self, dest: Address | None = None) -> str: ...

    def _next_hop(self, dialog: Dialog) -> Address: ...

    def _build_ack(
        self, dialog: Dialog, body: bytes, content_type: str | None
    ) -> tuple[bytes, Address]: ...

    def _raw_send(self, data: bytes, dest: Address) -> None: ...

    def _repeat_ack(self, state: AckState) -> bool: ...


class InDialogContext(Answering, InDialogSending, CallSides, Protocol):
    """Requests in an established call: the ACK of a re-INVITE's 2xx, 2xx
    retransmission, the session timer's presence and REFER."""

    @property
    def session_timer(self) -> SessionTimerConfig | None: ...

    @property
    def on_refer(self) -> Callable[[Call, NameAddr], object] | None: ...

    def _send_ack(self, call: Call, dialog: Dialog, body: bytes = b"") -> None: ...

    def _start_ok_retransmit(
        self, state: AckState, txn: ServerInviteTransaction, response: Response
    ) -> None: ...

    def _refer_to(self, txn: ServerTransaction, request: Request) -> NameAddr | None: ...
