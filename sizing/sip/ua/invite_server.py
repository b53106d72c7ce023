"""The UAS side of a call (RFC 3261 §13.3, §9.2): answering an INVITE, its ACK, CANCEL.

Owns a new incoming INVITE: the Contact check, the session timer and
Digest checks, the SDP answer, the provisionals and the final answer the
:class:`~sizing.sip.ua.AnswerPolicy` asks for (after its ringing time), the
ACK that stops the 2xx retransmission (a missing one ends the call with BYE),
and a CANCEL that turns the INVITE into 487.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..dialog import Dialog
from ..message import Request
from ..sdp import SdpError
from ..transaction import ServerInviteTransaction, ServerNonInviteTransaction, ServerTransaction
from .call import Call

if TYPE_CHECKING:
    from .context import InviteServerContext
from .common import SDP, Headerish, sdp_of
from .model import CallState

__all__ = ["InviteServer"]


class InviteServer:
    """Incoming calls; held by the :class:`~sizing.sip.ua.UserAgent` as its ``_uas``."""

    def __init__(self, ua: InviteServerContext) -> None:
        self.ua = ua

    # -- a new INVITE ----------------------------------------------------------------

    def invite_received(self, txn: ServerInviteTransaction, request: Request) -> None:
        self.ua.stats.calls_received += 1
        tag = self.ua._new_tag()
        if not request.contact and (request.branch or "").startswith("z9hG4bK"):
            self._reject(txn, request, 400, tag, reason="Missing Contact")  # §8.1.1.8
            return
        status, st_headers, session = self.ua._session_timers.uas_session(request)
        if status is not None:
            self._reject(txn, request, status, tag, headers=st_headers)
            return
        if self.ua.authenticator is not None:
            result = self.ua.authenticator.authenticate(request, self.ua.clock.now())
            if not result.ok:
                self._reject(txn, request, result.status or 403, tag, headers=result.headers)
                return
        remote = sdp_of(request, strict=True)
        local = None
        if remote is not None and self.ua.capabilities is not None:
            try:
                local = self.ua._answer(remote)
            except SdpError:
                self._reject(txn, request, 488, tag)
                return
        call = self.ua._call("uas", request.call_id or "")
        call.server_txn = txn
        call.remote_sdp = remote
        call.local_sdp = (
            local if remote is not None else (self.ua._offer() if self.ua.capabilities else None)
        )
        call.dialog = Dialog.from_request(request, tag, self.ua.contact)
        self.ua._dialogs[call.dialog.id] = call
        self.ua._invites[txn] = call
        call._event("incoming", sdp=remote)
        if self.ua.on_call is not None:
            self.ua.on_call(call)
        policy = self.ua.policy.for_request(request)
        if policy.trying:
            self.ua._respond(txn, request, 100)
        if policy.early_media and call.local_sdp is not None:
            self.ua._respond(
                txn,
                request,
                183,
                to_tag=tag,
                headers=self.ua._contact(),
                body=call.local_sdp.encode(),
                content_type=SDP,
            )
            call.state = CallState.EARLY
        elif policy.ring:
            self.ua._respond(txn, request, 180, to_tag=tag, headers=self.ua._contact())
            call.state = CallState.EARLY

        def final() -> None:
            call.answer_timer = None
            self._final(call, txn, request, policy.status, st_headers, session)

        if policy.ring_s > 0:
            call.answer_timer = self.ua.clock.call_later(policy.ring_s, final)
        else:
            final()

    def _reject(
        self,
        txn: ServerTransaction,
        request: Request,
        status: int,
        tag: str,
        *,
        headers: Headerish = (),
        reason: str | None = None,
    ) -> None:
        self.ua.stats.calls_rejected[status] += 1
        self.ua._respond(txn, request, status, to_tag=tag, headers=headers, reason=reason)

    def _final(
        self,
        call: Call,
        txn: ServerInviteTransaction,
        request: Request,
        status: int,
        st_headers: list[tuple[str, object]],
        session: tuple[int, bool] | None,
    ) -> None:
        if call.final_sent or call.ended:
            return
        call.final_sent = True
        dialog = call.dialog
        assert dialog is not None
        call.status = status
        if status >= 300:
            self._reject(txn, request, status, dialog.local_tag)
            call.state = CallState.FAILED
            dialog.terminate()
            self.ua._dialogs.pop(dialog.id, None)
            call._event("failed", status)
            self.ua._glare.drop_queued(call)
            return
        headers = [*self.ua._contact(), *self.ua._capability_headers(), *st_headers]
        body = call.local_sdp.encode() if call.local_sdp is not None else b""
        response = self.ua._respond(
            txn,
            request,
            status,
            to_tag=dialog.local_tag,
            headers=headers,
            body=body,
            content_type=SDP,
        )
        dialog.confirm()
        call.state = CallState.CONFIRMED
        self.ua.stats.calls_accepted += 1
        call._event("answered", status, call.remote_sdp)
        self.ua._start_ok_retransmit(call, txn, response)
        if session is not None:
            self.ua._session_timers.arm(call, *session)

    # -- ACK and CANCEL --------------------------------------------------------------

    def ack_received(self, ack: Request) -> None:
        self.ua.stats.requests_received["ACK"] += 1
        call: Call | None = self.ua._ack_for_ok(ack)
        if call is None:
            return
        remote = sdp_of(ack)
        if remote is not None:
            call.remote_sdp = remote
        self.ua._glare.send_queued(call)  # the INVITE exchange is complete (§14.1)

    def cancel_received(self, txn: ServerNonInviteTransaction, request: Request) -> None:
        target = txn.cancel_target
        call = self.ua._invites.get(target) if target is not None else None
        if call is None:
            self.ua._respond(txn, request, 481)
            return
        self.ua._respond(txn, request, 200)
        if call.final_sent or target is None or target.terminated:
            return
        call.final_sent = True
        if call.answer_timer is not None:
            call.answer_timer.cancel()
            call.answer_timer = None
        dialog = call.dialog
        assert dialog is not None and target is not None
        self._reject(target, target.request, 487, dialog.local_tag)
        call.status = 487
        call.state = CallState.FAILED
        dialog.terminate()
        self.ua._dialogs.pop(dialog.id, None)
        call._event("failed", 487, detail="cancelled")
        self.ua._glare.drop_queued(call)
