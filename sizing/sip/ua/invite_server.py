"""The UAS side of a call (RFC 3261 §13.3, §9.2): answering an INVITE, its ACK, CANCEL.

Owns a new incoming INVITE: the Contact check, the session timer and
Digest checks, the SDP answer, the provisionals and the final answer the
:class:`~sizing.sip.ua.AnswerPolicy` asks for (after its ringing time), the
ACK that stops the 2xx retransmission (a missing one ends the call with BYE),
and a CANCEL that turns the INVITE into 487.
"""

from __future__ import annotations

from ..dialog import Dialog
from ..message import Request
from ..sdp import SdpError, SessionDescription, answer
from ..transaction import ServerInviteTransaction, ServerNonInviteTransaction, ServerTransaction
from .call import Call
from .common import SDP, Headerish, sdp_of
from .model import CallState

__all__ = ["InviteServer"]


class InviteServer:
    """Mixed into :class:`~sizing.sip.ua.UserAgent`: incoming calls."""

    # -- a new INVITE ----------------------------------------------------------------

    def _answer(self, remote: SessionDescription) -> SessionDescription | None:
        if self.capabilities is None:
            return None
        return answer(
            remote,
            self.capabilities,
            address=self.local.host,
            port=self.media_port,
            key_source=self.key_source,
        )

    def _invite_received(self, txn: ServerInviteTransaction, request: Request) -> None:
        self.stats.calls_received += 1
        tag = self._new_tag()
        if not request.contact and (request.branch or "").startswith("z9hG4bK"):
            self._reject(txn, request, 400, tag, reason="Missing Contact")  # §8.1.1.8
            return
        status, st_headers, session = self._session_timers.uas_session(request)
        if status is not None:
            self._reject(txn, request, status, tag, headers=st_headers)
            return
        if self.authenticator is not None:
            result = self.authenticator.authenticate(request, self.clock.now())
            if not result.ok:
                self._reject(txn, request, result.status or 403, tag, headers=result.headers)
                return
        remote = sdp_of(request, strict=True)
        local = None
        if remote is not None and self.capabilities is not None:
            try:
                local = self._answer(remote)
            except SdpError:
                self._reject(txn, request, 488, tag)
                return
        call = Call(self, "uas", request.call_id or "")
        call.server_txn = txn
        call.remote_sdp = remote
        call.local_sdp = (
            local if remote is not None else (self._offer() if self.capabilities else None)
        )
        call.dialog = Dialog.from_request(request, tag, self.contact)
        self._dialogs[call.dialog.id] = call
        self._invites[txn] = call
        call._event("incoming", sdp=remote)
        if self.on_call is not None:
            self.on_call(call)
        policy = self.policy.for_request(request)
        if policy.trying:
            self._respond(txn, request, 100)
        if policy.early_media and call.local_sdp is not None:
            self._respond(
                txn,
                request,
                183,
                to_tag=tag,
                headers=self._contact(),
                body=call.local_sdp.encode(),
                content_type=SDP,
            )
            call.state = CallState.EARLY
        elif policy.ring:
            self._respond(txn, request, 180, to_tag=tag, headers=self._contact())
            call.state = CallState.EARLY

        def final() -> None:
            call.answer_timer = None
            self._final(call, txn, request, policy.status, st_headers, session)

        if policy.ring_s > 0:
            call.answer_timer = self.clock.call_later(policy.ring_s, final)
        else:
            final()

    def _contact(self) -> list[tuple[str, object]]:
        return [("Contact", f"<{self.contact}>")]

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
        self.stats.calls_rejected[status] += 1
        self._respond(txn, request, status, to_tag=tag, headers=headers, reason=reason)

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
            self._dialogs.pop(dialog.id, None)
            call._event("failed", status)
            self._drop_queued(call)
            return
        headers = [*self._contact(), *self._capability_headers(), *st_headers]
        body = call.local_sdp.encode() if call.local_sdp is not None else b""
        response = self._respond(
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
        self.stats.calls_accepted += 1
        call._event("answered", status, call.remote_sdp)
        self._start_ok_retransmit(call, txn, response)
        if session is not None:
            self._session_timers.arm(call, *session)

    # -- ACK and CANCEL --------------------------------------------------------------

    def _ack_received(self, ack: Request) -> None:
        self.stats.requests_received["ACK"] += 1
        call: Call | None = self._ack_for_ok(ack)
        if call is None:
            return
        remote = sdp_of(ack)
        if remote is not None:
            call.remote_sdp = remote
        self._send_queued(call)  # the INVITE exchange is complete (§14.1)

    def _cancel_received(self, txn: ServerNonInviteTransaction, request: Request) -> None:
        target = txn.cancel_target
        call = self._invites.get(target) if target is not None else None
        if call is None:
            self._respond(txn, request, 481)
            return
        self._respond(txn, request, 200)
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
        self._dialogs.pop(dialog.id, None)
        call._event("failed", 487, detail="cancelled")
        self._drop_queued(call)
