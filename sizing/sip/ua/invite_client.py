"""The UAC side of a call (RFC 3261 §13.2, §9.1, §15.1): INVITE, CANCEL, ACK, BYE.

Owns placing a call and following its responses: early dialogs from
provisionals, the dialog and the ACK from the 2xx (re-sent for each 2xx
retransmission, §13.2.2.4; a second fork's 2xx is acknowledged and hung up),
the Digest retry of 401/407 and the RFC 4028 §7.4 retry of 422, CANCEL only
after a provisional (§9.1), and ending a call from either side.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..dialog import Dialog, DialogSet, uri_address
from ..errors import HeaderError
from ..headers import SessionExpires, parse_uint
from ..interfaces import Address
from ..message import Headers, Request, Response
from ..sdp import SdpError, SessionDescription
from ..transaction import build_cancel
from ..uri import URI
from .call import Call, ClientRequest
from .common import ALLOW, SDP, Headerish, sdp_of
from .model import CallState

if TYPE_CHECKING:
    from .context import InviteClientContext

__all__ = ["InviteClient"]


class InviteClient:
    """Outgoing calls and the end of every call; held by the
    :class:`~sizing.sip.ua.UserAgent` as its ``_uac`` (its :meth:`invite`, :meth:`cancel`
    and :meth:`bye` are the UA's)."""

    def __init__(self, ua: InviteClientContext) -> None:
        self.ua = ua

    # -- placing a call --------------------------------------------------------------

    def invite(
        self,
        target: URI | str,
        *,
        from_: str | None = None,
        sdp: SessionDescription | bytes | None = None,
        headers: Headerish = (),
        dest: Address | None = None,
        on_event: Callable[[Call, object], object] | None = None,
        call_id: str | None = None,
    ) -> Call:
        """Call ``target``; returns the :class:`Call` whose events report progress.

        ``sdp`` is the offer (built from ``capabilities`` when None and
        capabilities are set). ``dest`` overrides the outbound proxy and the
        Request-URI's address. ``call_id`` (from :meth:`new_call_id`) lets the
        caller choose ``dest`` by the Call-ID, as a load-balanced trunk does.
        """
        uri = target if isinstance(target, URI) else URI.parse(target)
        call = self.ua._call("uac", call_id or self.ua._new_call_id())
        call.on_event = on_event
        if sdp is None and self.ua.capabilities is not None:
            sdp = self.ua._offer()
        if isinstance(sdp, SessionDescription):
            call.local_sdp = sdp
            body = sdp.encode()
        else:
            body = sdp or b""
            if body:
                call.local_sdp = SessionDescription.parse(body)
        extra = Headers()
        extra.extend(headers)
        extra.add("Allow", ALLOW)
        self.ua._supported(extra)
        timer = self.ua.session_timer
        if timer is not None:
            refresher = "" if timer.refresher is None else f";refresher={timer.refresher}"
            extra.add("Session-Expires", f"{timer.expires}{refresher}")
            extra.add("Min-SE", str(timer.min_se))
        request = self.ua._new_request(
            "INVITE",
            uri,
            from_=f"<{from_ or self.ua.contact.replace(port=None, params={})}>",
            to=f"<{uri}>",
            call_id=call.call_id,
            from_tag=self.ua._new_tag(),
            cseq=1,
            headers=extra,
            body=body,
            content_type=SDP if body else None,
        )
        call.dest = dest or self.ua.outbound_proxy or uri_address(uri, self.ua.local.transport)
        self.ua.stats.calls_attempted += 1
        self._start_invite(call, request)
        return call

    def _start_invite(self, call: Call, request: Request) -> None:
        call.invite = request
        call.dialog_set = DialogSet(request, self.ua.contact)
        assert call.dest is not None
        self.ua._send(ClientRequest(request, call.dest, call), self._invite_response)

    def cancel(self, call: Call) -> bool:
        """Cancel an unanswered outgoing call (§9.1); False when it is too late.

        Before any provisional the CANCEL waits for one (§9.1 forbids sending
        it earlier); the INVITE then ends with 487.
        """
        if call.role != "uac" or call.state not in (CallState.CALLING, CallState.EARLY):
            return False
        call.cancel_requested = True
        if call.state is CallState.EARLY:
            self._send_cancel(call)
        return True

    def _send_cancel(self, call: Call) -> None:
        if call.cancelled or call.invite is None or call.dest is None:
            return
        call.cancelled = True
        self.ua._send(ClientRequest(build_cancel(call.invite), call.dest, call), self.ua._ignore)

    # -- responses to the INVITE -----------------------------------------------------

    def _invite_response(self, client: ClientRequest, response: Response) -> None:
        call = client.call
        assert call is not None and call.dialog_set is not None
        status = response.status
        if call.invite is not client.request:  # a response to an INVITE we already replaced
            return
        if status < 200:
            client.provisional.append(response)
            dialog = call.dialog_set.response_received(response)
            if dialog is not None:
                self.ua._dialogs[dialog.id] = call
                call.dialog = dialog
            if status > 100 and call.state is CallState.CALLING:
                call.state = CallState.EARLY
            if status > 100 and not call.ended:
                call._event("provisional", status, sdp_of(response))
            if call.cancel_requested and call.state is CallState.EARLY:
                self._send_cancel(call)
            return
        if status < 300:
            self._invite_2xx(call, response)
            return
        client.response = response
        if status in (401, 407) and not call.cancelled:
            sent = client.request.cseq
            assert sent is not None  # our own INVITE
            retry = self.ua._retry(client, response, cseq=sent.number + 1)
            if retry is not None:
                self._drop_early(call)
                new = ClientRequest(retry, client.dest, call)
                new.auth_retried = True
                self._resend_invite(call, new)
                return
        if status == 422 and self.ua.session_timer is not None and not call.session_retried:
            retry = self._retry_422(client.request, response)
            if retry is not None:
                call.session_retried = True
                self._drop_early(call)
                self._resend_invite(call, ClientRequest(retry, client.dest, call))
                return
        self._drop_early(call)
        call.dialog_set.response_received(response)
        call.status = status
        if call.state is not CallState.CONFIRMED:
            call.state = CallState.FAILED
            self.ua.stats.calls_failed[status] += 1
            call._event("failed", status, detail=response.reason)
            self.ua._glare.drop_queued(call)

    def _resend_invite(self, call: Call, client: ClientRequest) -> None:
        """Send a corrected INVITE once the transaction has acknowledged the failure."""
        call.invite = client.request
        call.dialog_set = DialogSet(client.request, self.ua.contact)

        def send() -> None:
            if not call.ended and call.invite is client.request:
                self.ua._send(client, self._invite_response)

        self.ua.clock.call_later(0.0, send)

    def _retry_422(self, request: Request, response: Response) -> Request | None:
        """The INVITE again with Session-Expires raised to the 422's Min-SE (RFC 4028 §7.4)."""
        try:
            min_se = parse_uint((response.headers.get("Min-SE") or "").split(";")[0])
        except (HeaderError, ValueError):
            return None
        cseq = request.cseq
        assert cseq is not None  # our own INVITE
        headers = Headers()
        for name, value in request.headers:
            if name == "Via":
                value = self.ua._via()
            elif name == "CSeq":
                value = f"{cseq.number + 1} INVITE"
            elif name == "Session-Expires":
                value = str(SessionExpires(max(min_se, SessionExpires.parse(value).delta), None))
            elif name == "Min-SE":
                value = str(min_se)
            headers.add(name, value)
        return Request("INVITE", request.uri, headers, request.body)

    def _drop_early(self, call: Call) -> None:
        if call.dialog_set is None:
            return
        for dialog in call.dialog_set.dialogs.values():
            if dialog.early:
                dialog.terminate()
            if dialog.terminated and self.ua._dialogs.get(dialog.id) is call:
                del self.ua._dialogs[dialog.id]

    def _invite_2xx(self, call: Call, response: Response) -> None:
        assert call.dialog_set is not None
        dialog = call.dialog_set.response_received(response)
        if dialog is None:
            return  # a 2xx without a To tag or Contact creates no dialog (§12.1.2)
        if call.state is CallState.CONFIRMED:
            if dialog is call.dialog:
                self.ua._repeat_ack(call)
            else:
                # Another fork answered too: acknowledge and hang it up (§13.2.2.4).
                self.send_ack(self.ua._call("uac", call.call_id), dialog)
                request = dialog.create_request("BYE", self.ua._via())
                dest = self.ua._next_hop(dialog)
                dialog.terminate()
                self.ua._send(ClientRequest(request, dest), self.ua._ignore)
            return
        for other in call.dialog_set.early_dialogs():
            other.terminate()
        self._drop_early(call)
        call.dialog = dialog
        self.ua._dialogs[dialog.id] = call
        call.status = response.status
        call.state = CallState.CONFIRMED
        remote = sdp_of(response)
        ack_body = b""
        refused = False
        if remote is not None:
            call.remote_sdp = remote
            if call.local_sdp is None and self.ua.capabilities is not None:
                try:
                    call.local_sdp = self.ua._answer(remote)
                except SdpError:
                    refused = True  # §13.2.2.4: the ACK still goes, then a BYE
                ack_body = call.local_sdp.encode() if call.local_sdp else b""
        self.send_ack(call, dialog, ack_body)
        if refused:
            self.ua.stats.calls_answered += 1
            call._event("answered", response.status, remote)
            self.bye(call)
            return
        self.ua.stats.calls_answered += 1
        call._event("answered", response.status, remote)
        self.ua._session_timers.from_response(call, response)
        if call.cancel_requested:
            self.bye(call)  # the CANCEL crossed the 2xx (§9.1): end the call
        else:
            self.ua._glare.send_queued(call)  # a change asked for before the answer (§14.1)

    def send_ack(self, call: Call, dialog: Dialog, body: bytes = b"") -> None:
        call.ack_data, call.ack_dest = self.ua._build_ack(dialog, body, SDP)
        self.ua._raw_send(call.ack_data, call.ack_dest)
        self.ua.stats.requests_sent["ACK"] += 1

    # -- ending a call ---------------------------------------------------------------

    def bye(self, call: Call) -> ClientRequest:
        """End an established call (§15.1.1); the session ends at once."""
        dialog = call.dialog
        if dialog is None or not dialog.confirmed:
            raise ValueError(
                f"bye(): call {call.call_id} is not established (state {call.state.value})"
            )
        client = self.ua._in_dialog(call, "BYE")
        self.end(call, "local BYE")
        return client

    def end(self, call: Call, detail: str) -> None:
        if call.state is CallState.ENDED:
            return
        call.state = CallState.ENDED
        for timer in (call.session_timer, call.ok_timer, call.answer_timer):
            if timer is not None:
                timer.cancel()
        dialog = call.dialog
        if dialog is not None:
            dialog.terminate()
            if self.ua._dialogs.get(dialog.id) is call:
                del self.ua._dialogs[dialog.id]
        self.ua.stats.calls_ended += 1
        call._event("ended", detail=detail)
        self.ua._glare.drop_queued(call)
