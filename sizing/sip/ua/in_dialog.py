"""Requests inside an established call: re-INVITE and UPDATE, hold, INFO, REFER and NOTIFY.

Owns both sides of every in-dialog request but BYE's sending: target and
session refreshes with a new offer (RFC 3261 §14, RFC 3311), hold (RFC 3264
§8.4), INFO (RFC 6086), and the transfer pair REFER / NOTIFY with a
``message/sipfrag`` status line (RFC 3515); a request for no known dialog
gets 481 and one out of CSeq order 500 (§12.2.2). Changes that cross (glare:
491, 500 and the retry) are :mod:`.glare`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..headers import NameAddr
from ..message import Request, Response
from ..sdp import DIRECTIONS, SdpError, SessionDescription
from ..transaction import ServerInviteTransaction, ServerTransaction
from .call import Call, ClientRequest
from .common import ALLOW, KNOWN_METHODS, SDP, SIPFRAG, Headerish, sdp_of, sipfrag_status
from .model import CallState

if TYPE_CHECKING:
    from .context import InDialogContext

__all__ = ["InDialogRequests"]


class InDialogRequests:
    """The requests of an established dialog; held by the :class:`~sizing.sip.ua.UserAgent`
    as its ``_in_dialog_requests`` (its :meth:`reinvite`, :meth:`hold`, ... are the UA's)."""

    def __init__(self, ua: InDialogContext) -> None:
        self.ua = ua

    # -- as UAC ----------------------------------------------------------------------

    def reinvite(
        self, call: Call, *, sdp: SessionDescription | None = None, headers: Headerish = ()
    ) -> ClientRequest:
        """Send a re-INVITE (target refresh, new offer, or session refresh, §14.1); without
        ``sdp`` it offers the call's SDP, as it is at each try if glare delays it.

        While another INVITE of the dialog is in progress, either way, it waits and goes
        when that one completes (§14.1); ``on_response`` of the handle returned hears its
        own outcome either way (481 if the call ends before it could go)."""
        reoffer = sdp is None
        sdp = sdp if sdp is not None else call.local_sdp
        body = sdp.encode() if sdp is not None else b""
        return self.ua._in_dialog(
            call,
            "INVITE",
            headers=headers,
            body=body,
            content_type=SDP,
            handler=self._reinvite_response,
            reoffer=reoffer,
        )

    def hold(self, call: Call, *, direction: str = "sendonly") -> ClientRequest:
        """Put the call on hold (RFC 3264 §8.4): a re-INVITE offering this UA's SDP with
        every stream ``sendonly`` (or ``inactive``) and the o= version moved on."""
        if direction not in ("sendonly", "inactive"):
            raise ValueError(
                f"hold(): direction must be 'sendonly' or 'inactive', got {direction!r}"
            )
        if call.local_sdp is None:
            raise ValueError(f"hold(): call {call.call_id} has no local SDP to offer")
        held = SessionDescription.parse(call.local_sdp.encode())
        held.origin.sess_version += 1
        held.attributes = [a for a in held.attributes if a.name not in DIRECTIONS]
        for media in held.media:
            media.attributes = [a for a in media.attributes if a.name not in DIRECTIONS]
            media.add(direction)
        call.local_sdp = held
        return self.reinvite(call, sdp=held)

    def _reinvite_response(self, client: ClientRequest, response: Response) -> None:
        call = client.call
        assert call is not None and call.dialog is not None
        if response.status < 200:
            client.provisional.append(response)
            return
        self.ua._glare.answered(client)
        if response.status == 491 and self.ua._glare.retry(client, response, self._reinvite_response):
            return
        client.response = response
        dialog = call.dialog
        dialog.response_received(client.request, response)
        if response.status < 300:
            if (
                client.request.cseq is not None
                and call.ack_data is not None
                and call.ack_dest
                and dialog.invite_seq != client.request.cseq.number
            ):
                self.ua._glare.send_queued(call)
                return  # a late 2xx to an older re-INVITE
            self.ua._send_ack(call, dialog)
            remote = sdp_of(response)
            if remote is not None:
                call.remote_sdp = remote
            call._event("reinvited", response.status, remote)
            self.ua._session_timers.from_response(call, response)
        elif dialog.terminated and call.state is CallState.CONFIRMED:
            self.ua._end(call, f"{response.status} to re-INVITE")
        if client.on_response is not None:
            client.on_response(client, response)
        self.ua._glare.send_queued(call)  # the INVITE is complete (its ACK sent): the next may go

    def update(
        self, call: Call, *, sdp: SessionDescription | None = None, headers: Headerish = ()
    ) -> ClientRequest:
        """Send an UPDATE (RFC 3311): a target refresh or session refresh, early or confirmed.
        One with an offer waits while an offer is outstanding either way (§5.1), as a
        re-INVITE waits (:meth:`reinvite`)."""
        body = sdp.encode() if sdp is not None else b""
        return self.ua._in_dialog(call, "UPDATE", headers=headers, body=body, content_type=SDP)

    def info(
        self,
        call: Call,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Headerish = (),
    ) -> ClientRequest:
        """Send an INFO (RFC 6086) in the call's dialog."""
        return self.ua._in_dialog(call, "INFO", headers=headers, body=body, content_type=content_type)

    def refer(self, call: Call, refer_to: str, *, headers: Headerish = ()) -> ClientRequest:
        """Ask the peer to call ``refer_to`` (RFC 3515); its NOTIFYs set ``call.refer_status``."""
        target = NameAddr.parse(refer_to)  # checks it
        extra: list[tuple[str, object]] = [
            *headers,
            ("Refer-To", str(target) if "<" in refer_to else f"<{target.uri}>"),
            ("Referred-By", f"<{self.ua.contact}>"),
        ]
        call.refer_status = None
        call.refer_done = False
        return self.ua._in_dialog(call, "REFER", headers=extra)

    # -- as UAS ----------------------------------------------------------------------

    def received(self, txn: ServerTransaction, request: Request) -> None:
        key = (request.call_id or "", request.to_tag or "", request.from_tag or "")
        call = self.ua._dialogs.get(key)
        if call is None or call.dialog is None:
            self.ua._respond(txn, request, 481)
            return
        dialog = call.dialog
        status = dialog.check_request(request)
        if status is not None:
            self.ua._respond(
                txn, request, status, reason="CSeq out of order" if status == 500 else None
            )
            return
        method = request.method
        if method == "BYE":
            self.ua._respond(txn, request, 200)
            self.ua._end(call, "remote BYE")
        elif method == "INVITE" or method == "UPDATE":
            self._refresh_received(call, txn, request)
        elif method == "INFO":
            self.ua._respond(txn, request, 200)
            call._event("info", detail=request.body.decode("utf-8", "replace"))
        elif method == "OPTIONS":
            self.ua._respond(txn, request, 200, headers=self.ua._capability_headers())
        elif method == "REFER":
            self._refer_received(call, txn, request)
        elif method == "NOTIFY":
            self._notify_received(call, txn, request)
        else:
            self.ua._respond(
                txn, request, 405 if method in KNOWN_METHODS else 501, headers=[("Allow", ALLOW)]
            )

    def _refresh_received(self, call: Call, txn: ServerTransaction, request: Request) -> None:
        """A re-INVITE or UPDATE: new offer, target refresh, session refresh; refused with
        491 or 500 when it crosses a change in progress (:mod:`.glare`)."""
        glare = self.ua._glare.refusal(call, request)
        if glare is not None:
            self.ua._respond(txn, request, glare[0], headers=glare[1])
            return
        status, st_headers, session = self.ua._session_timers.uas_session(request)
        if status is not None:
            self.ua._respond(txn, request, status, headers=st_headers)
            return
        remote = sdp_of(request, strict=True)
        local = call.local_sdp
        if remote is not None and self.ua.capabilities is not None:
            try:
                local = self.ua._answer(remote)
            except SdpError:
                self.ua._respond(txn, request, 488)
                return
            call.remote_sdp = remote
            call.local_sdp = local
        dialog = call.dialog
        assert dialog is not None
        dialog.refresh_target(request)
        headers = [*self.ua._contact(), *st_headers]
        offered = request.method == "INVITE" or remote is not None
        body = local.encode() if offered and local is not None else b""
        response = self.ua._respond(txn, request, 200, headers=headers, body=body, content_type=SDP)
        call._event("reinvited" if request.method == "INVITE" else "updated", 200, remote)
        if isinstance(txn, ServerInviteTransaction):
            self.ua._start_ok_retransmit(call, txn, response)
        if session is not None:
            self.ua._session_timers.arm(call, *session)
        elif self.ua.session_timer is not None and call.session_interval is not None:
            self.ua._session_timers.stop(call)

    def _refer_received(self, call: Call, txn: ServerTransaction, request: Request) -> None:
        refer_to = self.ua._refer_to(txn, request)
        if refer_to is None:
            return
        self.ua._respond(txn, request, 202, headers=self.ua._contact())
        call.refer_to = str(refer_to)
        call._event("refer", 202, detail=str(refer_to))
        self.notify_refer(call, 100)
        if self.ua.on_refer is not None:
            self.ua.on_refer(call, refer_to)
        else:
            self.notify_refer(call, 503)

    def notify_refer(self, call: Call, status: int, reason: str | None = None) -> ClientRequest:
        """Report a REFER's progress to the referrer: a NOTIFY with a sipfrag status line
        (RFC 3515 §2.4.5); a final status ends the implicit subscription."""
        final = status >= 200
        frag = Response(status, reason)
        state = "terminated;reason=noresource" if final else "active;expires=60"
        body = f"SIP/2.0 {frag.status} {frag.reason}\r\n".encode()
        return self.ua._in_dialog(
            call,
            "NOTIFY",
            headers=[("Event", "refer"), ("Subscription-State", state)],
            body=body,
            content_type=SIPFRAG,
        )

    def _notify_received(self, call: Call, txn: ServerTransaction, request: Request) -> None:
        event = (request.headers.get("Event") or "").split(";")[0].strip().lower()
        if event != "refer":
            self.ua._respond(txn, request, 489)
            return
        status = sipfrag_status(request.body)
        if status is None:
            self.ua._respond(txn, request, 400, reason="NOTIFY body is not a sipfrag status line")
            return
        self.ua._respond(txn, request, 200)
        call.refer_status = status
        state = (request.headers.get("Subscription-State") or "").split(";")[0].strip().lower()
        call.refer_done = state == "terminated"
        call._event("notify", status, detail=state)
