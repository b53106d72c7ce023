"""The UA core (RFC 3261 §8, §12-15): the transaction user of a user agent.

Theory of operation
-------------------

:class:`UserAgent` owns a :class:`~sizing.sip.transaction.TransactionLayer`
and is its TU. As UAC it builds requests, sends them in client transactions
and follows their responses: a 2xx to an INVITE creates the dialog and the
UA sends (and, on a retransmitted 2xx, re-sends) the ACK itself (§13.2.2.4);
401/407 are retried once with Digest credentials; 422 is retried with the
larger Min-SE (RFC 4028). As UAS it checks each new request (RFC 4475
§3.3 statuses through :func:`~sizing.sip.checks.check_request`), answers
INVITEs as its :class:`AnswerPolicy` says, re-sends its 2xx until the ACK
comes (§13.3.1.4, giving up with a BYE after 64*T1), and serves CANCEL, BYE,
OPTIONS, INFO, UPDATE, re-INVITE, REFER and NOTIFY inside dialogs.

Every time-driven step (ringing, 2xx retransmission, session refresh and
expiry, registration refresh) is a ``clock.call_later``; nothing here reads
a clock or touches a socket.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from ..auth import DigestAuthenticator, DigestClient
from ..checks import UasPolicy, check_request
from ..dialog import Dialog, DialogId, DialogSet, uri_address
from ..errors import HeaderError
from ..headers import NameAddr, SessionExpires, parse_uint
from ..interfaces import Address, Clock, TimerConfig, Transport, TransportError
from ..loopback import LoopbackNetwork, ReceiveStats, receive_bytes
from ..message import Headers, Request, Response
from ..sdp import DIRECTIONS, Capabilities, SdpError, SessionDescription, answer, offer
from ..transaction import (
    ClientTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransaction,
    Transaction,
    TransactionLayer,
    build_cancel,
)
from ..uri import URI
from .call import Call, ClientRequest, Registration
from .model import AnswerPolicy, CallState, SessionTimerConfig, UAStats

__all__ = ["UserAgent"]

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY"
_DIALOG_METHODS = frozenset({"BYE", "INFO", "UPDATE", "REFER", "NOTIFY", "PRACK"})
_KNOWN = frozenset(ALLOW.replace(",", "").split())
SDP = "application/sdp"
SIPFRAG = "message/sipfrag;version=2.0"

Headerish = Iterable[tuple[str, object]]
ResponseHandler = Callable[[ClientRequest, Response], None]


def _sdp_of(message: Request | Response) -> SessionDescription | None:
    """The SDP body of ``message``, or None (no body, another type, unparseable)."""
    if not message.body:
        return None
    ctype = message.content_type
    if ctype is not None and f"{ctype.type}/{ctype.subtype}".lower() != SDP:
        return None
    try:
        return SessionDescription.parse(message.body)
    except SdpError:
        return None


def _sipfrag_status(body: bytes) -> int | None:
    """The status code of a ``message/sipfrag`` body's status line (RFC 3420)."""
    line = body.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("utf-8", "replace")
    parts = line.split(" ", 2)
    if len(parts) >= 2 and parts[0].upper() == "SIP/2.0" and parts[1].isdigit():
        return int(parts[1])
    return None


class UserAgent:
    """A SIP user agent core on one local address.

    ``user`` is the user part of the Contact; ``seed`` makes tags, Call-IDs
    and branches reproducible. ``policy`` answers incoming INVITEs;
    ``capabilities`` (codecs) answer SDP offers and build offers for
    :meth:`invite` when no SDP is given. ``credentials`` answer 401/407;
    ``authenticator`` challenges incoming INVITE and REGISTER-less requests.
    ``session_timer`` turns RFC 4028 on. ``outbound_proxy`` receives every
    out-of-dialog request. ``on_call(call)`` is told of each incoming call and
    ``on_refer(call, refer_to)`` of each accepted REFER (the application
    starts the new call and reports with :meth:`notify_refer`).
    """

    def __init__(
        self,
        clock: Clock,
        local: Address,
        *,
        user: str = "ua",
        transport: Transport | None = None,
        config: TimerConfig | None = None,
        seed: int = 0,
        policy: AnswerPolicy | None = None,
        capabilities: Capabilities | None = None,
        media_port: int = 40000,
        credentials: DigestClient | None = None,
        authenticator: DigestAuthenticator | None = None,
        session_timer: SessionTimerConfig | None = None,
        outbound_proxy: Address | None = None,
        body_types: tuple[str, ...] = (SDP, "message/sipfrag", "application/dtmf-relay"),
    ) -> None:
        self.clock = clock
        self.local = local
        self.user = user
        self.transport = transport
        self.config = config if config is not None else TimerConfig()
        self.layer = TransactionLayer(clock, self, self.config, seed=seed)
        self.policy = policy if policy is not None else AnswerPolicy()
        self.capabilities = capabilities
        self.media_port = media_port
        self.credentials = credentials
        self.authenticator = authenticator
        self.session_timer = session_timer
        self.outbound_proxy = outbound_proxy
        extensions = frozenset({"timer"}) if session_timer is not None else frozenset()
        self.uas_policy = UasPolicy(extensions=extensions, body_types=body_types)
        self.stats = UAStats()
        self.receive_stats = ReceiveStats()
        self.on_call: Callable[[Call], object] | None = None
        self.on_refer: Callable[[Call, NameAddr], object] | None = None
        self._rng = random.Random(seed)
        params = "" if local.transport == "UDP" else f";transport={local.transport.lower()}"
        self.contact = URI.parse(f"sip:{user}@{local.host}:{local.port}{params}")
        self._dialogs: dict[DialogId, Call] = {}
        self._clients: dict[ClientTransaction, ClientRequest] = {}
        self._sending: ClientRequest | None = None
        self._handlers: dict[int, ResponseHandler] = {}
        self._uas_invites: dict[ServerInviteTransaction, Call] = {}

    # -- wiring ---------------------------------------------------------------------

    def connect(self, network: LoopbackNetwork, *, reliable: bool | None = None) -> Transport:
        """Attach this UA's address to a loopback network and use that transport."""
        self.transport = network.attach(self.local, self.datagram_received, reliable=reliable)
        return self.transport

    def datagram_received(self, data: bytes, source: Address) -> None:
        """Bytes from the network (a datagram or one framed stream message)."""
        receive_bytes(self.layer, self._transport(), data, source, self.receive_stats)

    def _transport(self) -> Transport:
        if self.transport is None:
            raise RuntimeError(f"UserAgent {self.local}: no transport; call connect() or set .transport")
        return self.transport

    @property
    def dialogs(self) -> int:
        """Dialogs alive now (early and confirmed)."""
        return len(self._dialogs)

    # -- identifiers ----------------------------------------------------------------

    def _new_tag(self) -> str:
        return f"{self._rng.getrandbits(48):012x}"

    def _new_call_id(self) -> str:
        return f"{self._rng.getrandbits(64):016x}@{self.local.host}"

    def _via(self) -> str:
        local = self.local
        return f"SIP/2.0/{local.transport} {local.host}:{local.port};branch={self.layer.new_branch()}"

    def _supported(self, headers: Headers) -> None:
        if self.session_timer is not None:
            headers.add("Supported", "timer")

    # -- sending ----------------------------------------------------------------------

    def _send(self, client: ClientRequest, handler: ResponseHandler) -> ClientRequest:
        """Start a client transaction for ``client.request``; ``handler`` gets every response."""
        self._handlers[id(client)] = handler
        self._sending = client
        try:
            txn = self.layer.send_request(client.request, client.dest, self._transport())
        finally:
            self._sending = None
        self.stats.requests_sent[client.request.method] += 1
        if txn.terminated:
            self._handlers.pop(id(client), None)
        else:
            self._clients[txn] = client
        return client

    def _deliver(self, client: ClientRequest, response: Response) -> None:
        handler = self._handlers.get(id(client))
        if handler is not None:
            handler(client, response)

    def _send_ack(self, call: Call, dialog: Dialog, body: bytes = b"") -> None:
        ack = dialog.create_request(
            "ACK", self._via(), body=body, content_type=SDP if body else None
        )
        call.ack_data = ack.encode()
        call.ack_dest = uri_address(dialog.next_hop(), self.local.transport)
        self._raw_send(call.ack_data, call.ack_dest)
        self.stats.requests_sent["ACK"] += 1

    def _raw_send(self, data: bytes, dest: Address) -> None:
        try:
            self._transport().send(data, dest)
        except TransportError:
            self.layer.stats.transport_errors += 1

    def _respond(
        self,
        txn: ServerTransaction,
        request: Request,
        status: int,
        *,
        to_tag: str | None = None,
        headers: Headerish = (),
        body: bytes = b"",
        content_type: str | None = None,
        reason: str | None = None,
    ) -> Response:
        response = request.create_response(status, reason, to_tag=to_tag, headers=headers, body=body)
        if body and content_type is not None:
            response.headers.set("Content-Type", content_type)
        if txn.respond(response):
            self.stats.responses_sent[status] += 1
        return response

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
    ) -> ClientRequest:
        dialog = call.dialog
        if dialog is None or dialog.terminated:
            raise ValueError(f"{method}: call {call.call_id} has no dialog (state {call.state.value})")
        request = dialog.create_request(
            method, self._via(), headers=list(headers), body=body, content_type=content_type
        )
        if method in ("INVITE", "UPDATE"):
            self._supported(request.headers)
        dest = uri_address(dialog.next_hop(), self.local.transport)
        client = ClientRequest(request, dest, call, on_response)
        return self._send(client, handler or self._generic_response)

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
    ) -> Request:
        out = Headers()
        out.add("Via", self._via())
        out.add("Max-Forwards", "70")
        out.add("From", f"{from_};tag={from_tag}")
        out.add("To", to)
        out.add("Call-ID", call_id)
        out.add("CSeq", f"{cseq} {method}")
        out.add("Contact", f"<{self.contact}>")
        out.extend(headers)
        if body and content_type is not None:
            out.set("Content-Type", content_type)
        return Request(method, uri, out, body)

    def _retry(self, client: ClientRequest, response: Response, *, cseq: int) -> Request | None:
        """A copy of ``client.request`` with a new branch and CSeq, answering the challenge."""
        if self.credentials is None or client.auth_retried:
            return None
        answers = self.credentials.answer(response, client.request)
        if not answers:
            return None
        request = client.request
        headers = Headers()
        for name, value in request.headers:
            if name == "Via":
                value = self._via()
            elif name == "CSeq":
                value = f"{cseq} {request.method}"
            elif name in ("Authorization", "Proxy-Authorization"):
                continue
            headers.add(name, value)
        for name, creds in answers:
            headers.add(name, str(creds))
        self.stats.auth_retries += 1
        return Request(request.method, request.uri, headers, request.body)

    # -- UAC: calls -----------------------------------------------------------------------

    def invite(
        self,
        target: URI | str,
        *,
        from_: str | None = None,
        sdp: SessionDescription | bytes | None = None,
        headers: Headerish = (),
        dest: Address | None = None,
        on_event: Callable[[Call, object], object] | None = None,
    ) -> Call:
        """Call ``target``; returns the :class:`Call` whose events report progress.

        ``sdp`` is the offer (built from ``capabilities`` when None and
        capabilities are set). ``dest`` overrides the outbound proxy and the
        Request-URI's address.
        """
        uri = target if isinstance(target, URI) else URI.parse(target)
        call = Call(self, "uac", self._new_call_id())
        call.on_event = on_event
        if sdp is None and self.capabilities is not None:
            sdp = self._offer()
        if isinstance(sdp, SessionDescription):
            call.local_sdp = sdp
            body = sdp.encode()
        else:
            body = sdp or b""
            if body:
                call.local_sdp = SessionDescription.parse(body)
        extra = Headers(headers)
        extra.add("Allow", ALLOW)
        self._supported(extra)
        timer = self.session_timer
        if timer is not None:
            refresher = "" if timer.refresher is None else f";refresher={timer.refresher}"
            extra.add("Session-Expires", f"{timer.expires}{refresher}")
            extra.add("Min-SE", str(timer.min_se))
        request = self._new_request(
            "INVITE",
            uri,
            from_=f"<{from_ or self.contact.replace(port=None, params={})}>",
            to=f"<{uri}>",
            call_id=call.call_id,
            from_tag=self._new_tag(),
            cseq=1,
            headers=extra,
            body=body,
            content_type=SDP if body else None,
        )
        call.dest = dest or self.outbound_proxy or uri_address(uri, self.local.transport)
        self.stats.calls_attempted += 1
        self._start_invite(call, request)
        return call

    def _offer(self) -> SessionDescription:
        caps = self.capabilities
        assert caps is not None
        return offer(
            caps.codecs, address=self.local.host, port=self.media_port, key_source=self._rng.randbytes
        )

    def _start_invite(self, call: Call, request: Request) -> None:
        call.invite = request
        call.dialog_set = DialogSet(request, self.contact)
        assert call.dest is not None
        self._send(ClientRequest(request, call.dest, call), self._invite_response)

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
        self._send(ClientRequest(build_cancel(call.invite), call.dest, call), self._ignore)

    def _ignore(self, client: ClientRequest, response: Response) -> None:
        client.response = response if response.status >= 200 else client.response

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
                self._dialogs[dialog.id] = call
                call.dialog = dialog
            if status > 100 and call.state is CallState.CALLING:
                call.state = CallState.EARLY
            if status > 100 and not call.ended:
                call._event("provisional", status, _sdp_of(response))
            if call.cancel_requested and call.state is CallState.EARLY:
                self._send_cancel(call)
            return
        if status < 300:
            self._invite_2xx(call, response)
            return
        client.response = response
        if status in (401, 407) and not call.cancelled:
            retry = self._retry(client, response, cseq=client.request.cseq.number + 1)  # type: ignore[union-attr]
            if retry is not None:
                self._drop_early(call)
                new = ClientRequest(retry, client.dest, call)
                new.auth_retried = True
                self._resend_invite(call, new)
                return
        if status == 422 and self.session_timer is not None and not call.session_retried:
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
            self.stats.calls_failed[status] += 1
            call._event("failed", status, detail=response.reason)

    def _resend_invite(self, call: Call, client: ClientRequest) -> None:
        """Send a corrected INVITE once the transaction has acknowledged the failure."""
        call.invite = client.request
        call.dialog_set = DialogSet(client.request, self.contact)

        def send() -> None:
            if not call.ended and call.invite is client.request:
                self._send(client, self._invite_response)

        self.clock.call_later(0.0, send)

    def _retry_422(self, request: Request, response: Response) -> Request | None:
        """The INVITE again with Session-Expires raised to the 422's Min-SE (RFC 4028 §7.4)."""
        try:
            min_se = parse_uint((response.headers.get("Min-SE") or "").split(";")[0])
        except (HeaderError, ValueError):
            return None
        headers = Headers()
        for name, value in request.headers:
            if name == "Via":
                value = self._via()
            elif name == "CSeq":
                value = f"{request.cseq.number + 1} INVITE"  # type: ignore[union-attr]
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
            if dialog.terminated and self._dialogs.get(dialog.id) is call:
                del self._dialogs[dialog.id]

    def _invite_2xx(self, call: Call, response: Response) -> None:
        assert call.dialog_set is not None
        dialog = call.dialog_set.response_received(response)
        if dialog is None:
            return  # a 2xx without a To tag or Contact creates no dialog (§12.1.2)
        if call.state is CallState.CONFIRMED:
            if dialog is call.dialog and call.ack_data is not None and call.ack_dest is not None:
                self.stats.ack_retransmissions += 1
                self._raw_send(call.ack_data, call.ack_dest)
            elif dialog is not call.dialog:
                # Another fork answered too: acknowledge and hang it up (§13.2.2.4).
                self._send_ack(Call(self, "uac", call.call_id), dialog)
                request = dialog.create_request("BYE", self._via())
                dest = uri_address(dialog.next_hop(), self.local.transport)
                dialog.terminate()
                self._send(ClientRequest(request, dest), self._ignore)
            return
        for other in call.dialog_set.early_dialogs():
            other.terminate()
        self._drop_early(call)
        call.dialog = dialog
        self._dialogs[dialog.id] = call
        call.status = response.status
        call.state = CallState.CONFIRMED
        remote = _sdp_of(response)
        ack_body = b""
        if remote is not None:
            call.remote_sdp = remote
            if call.local_sdp is None and self.capabilities is not None:
                call.local_sdp = self._answer(remote)
                ack_body = call.local_sdp.encode() if call.local_sdp else b""
        self._send_ack(call, dialog, ack_body)
        self.stats.calls_answered += 1
        call._event("answered", response.status, remote)
        self._session_from_response(call, response)
        if call.cancel_requested:
            self.bye(call)  # the CANCEL crossed the 2xx (§9.1): end the call

    def bye(self, call: Call) -> ClientRequest:
        """End an established call (§15.1.1); the session ends at once."""
        dialog = call.dialog
        if dialog is None or not dialog.confirmed:
            raise ValueError(f"bye(): call {call.call_id} is not established (state {call.state.value})")
        client = self._in_dialog(call, "BYE")
        self._end(call, "local BYE")
        return client

    def _end(self, call: Call, detail: str) -> None:
        if call.state is CallState.ENDED:
            return
        call.state = CallState.ENDED
        for timer in (call.session_timer, call.ok_timer, call.answer_timer):
            if timer is not None:
                timer.cancel()
        dialog = call.dialog
        if dialog is not None:
            dialog.terminate()
            if self._dialogs.get(dialog.id) is call:
                del self._dialogs[dialog.id]
        self.stats.calls_ended += 1
        call._event("ended", detail=detail)

    def _generic_response(self, client: ClientRequest, response: Response) -> None:
        """Responses to in-dialog and out-of-dialog non-INVITE requests."""
        if response.status < 200:
            client.provisional.append(response)
            return
        call = client.call
        if response.status in (401, 407):
            cseq = self._next_cseq(client)
            retry = self._retry(client, response, cseq=cseq) if cseq is not None else None
            if retry is not None:
                new = ClientRequest(retry, client.dest, call, client.on_response)
                new.auth_retried = True
                self._send(new, self._generic_response)
                return
        client.response = response
        if call is not None and call.dialog is not None:
            call.dialog.response_received(client.request, response)
            method = client.request.method
            if 200 <= response.status < 300 and method == "UPDATE":
                call._event("updated", response.status, _sdp_of(response))
                self._session_from_response(call, response)
            elif method == "REFER":
                call.refer_status = call.refer_status or (response.status if response.status >= 300 else None)
            if call.dialog.terminated and call.state is CallState.CONFIRMED:
                self._end(call, f"{response.status} to {method}")
        if client.on_response is not None:
            client.on_response(client, response)

    def _next_cseq(self, client: ClientRequest) -> int | None:
        call = client.call
        if call is not None and call.dialog is not None:
            dialog = call.dialog
            dialog.local_seq = (dialog.local_seq or 0) + 1
            return dialog.local_seq
        cseq = client.request.cseq
        return None if cseq is None else cseq.number + 1

    # -- UAC: in-dialog requests ----------------------------------------------------------

    def reinvite(
        self, call: Call, *, sdp: SessionDescription | None = None, headers: Headerish = ()
    ) -> ClientRequest:
        """Send a re-INVITE (target refresh, new offer, or session refresh, §14.1)."""
        sdp = sdp if sdp is not None else call.local_sdp
        body = sdp.encode() if sdp is not None else b""
        return self._in_dialog(
            call, "INVITE", headers=headers, body=body, content_type=SDP, handler=self._reinvite_response
        )

    def hold(self, call: Call, *, direction: str = "sendonly") -> ClientRequest:
        """Put the call on hold (RFC 3264 §8.4): a re-INVITE offering this UA's SDP with
        every stream ``sendonly`` (or ``inactive``) and the o= version moved on."""
        if direction not in ("sendonly", "inactive"):
            raise ValueError(f"hold(): direction must be 'sendonly' or 'inactive', got {direction!r}")
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
        client.response = response
        dialog = call.dialog
        dialog.response_received(client.request, response)
        if response.status < 300:
            if client.request.cseq is not None and call.ack_data is not None and call.ack_dest and \
                    dialog.invite_seq != client.request.cseq.number:
                return  # a late 2xx to an older re-INVITE
            self._send_ack(call, dialog)
            remote = _sdp_of(response)
            if remote is not None:
                call.remote_sdp = remote
            call._event("reinvited", response.status, remote)
            self._session_from_response(call, response)
        elif dialog.terminated and call.state is CallState.CONFIRMED:
            self._end(call, f"{response.status} to re-INVITE")
        if client.on_response is not None:
            client.on_response(client, response)

    def update(
        self, call: Call, *, sdp: SessionDescription | None = None, headers: Headerish = ()
    ) -> ClientRequest:
        """Send an UPDATE (RFC 3311): a target refresh or session refresh, early or confirmed."""
        body = sdp.encode() if sdp is not None else b""
        return self._in_dialog(call, "UPDATE", headers=headers, body=body, content_type=SDP)

    def info(
        self, call: Call, body: bytes = b"", content_type: str | None = None, headers: Headerish = ()
    ) -> ClientRequest:
        """Send an INFO (RFC 6086) in the call's dialog."""
        return self._in_dialog(call, "INFO", headers=headers, body=body, content_type=content_type)

    def refer(self, call: Call, refer_to: str, *, headers: Headerish = ()) -> ClientRequest:
        """Ask the peer to call ``refer_to`` (RFC 3515); its NOTIFYs set ``call.refer_status``."""
        target = NameAddr.parse(refer_to)  # checks it
        extra = Headers(headers)
        extra.add("Refer-To", str(target) if "<" in refer_to else f"<{target.uri}>")
        extra.add("Referred-By", f"<{self.contact}>")
        call.refer_status = None
        call.refer_done = False
        return self._in_dialog(call, "REFER", headers=extra)

    def options(self, target: URI | str, *, dest: Address | None = None) -> ClientRequest:
        """Send an out-of-dialog OPTIONS (§11) to ``target``."""
        uri = target if isinstance(target, URI) else URI.parse(target)
        request = self._new_request(
            "OPTIONS",
            uri,
            from_=f"<{self.contact.replace(port=None, params={})}>",
            to=f"<{uri}>",
            call_id=self._new_call_id(),
            from_tag=self._new_tag(),
            cseq=1,
            headers=[("Accept", SDP)],
        )
        dest = dest or self.outbound_proxy or uri_address(uri, self.local.transport)
        return self._send(ClientRequest(request, dest), self._generic_response)

    # -- UAC: registration ------------------------------------------------------------------

    def register(
        self, registrar: URI | str, *, aor: str, expires: int = 3600, dest: Address | None = None
    ) -> Registration:
        """Register this UA's Contact for ``aor`` and keep refreshing it (§10.2)."""
        uri = registrar if isinstance(registrar, URI) else URI.parse(registrar)
        if isinstance(expires, bool) or not isinstance(expires, int) or expires < 1:
            raise ValueError(f"register(): expires must be a positive integer, got {expires!r}")
        reg = Registration(
            self, uri, aor, expires, dest or self.outbound_proxy or uri_address(uri, self.local.transport)
        )
        self._send_register(reg, expires)
        return reg

    def _send_register(self, reg: Registration, expires: int) -> ClientRequest:
        reg.cseq += 1
        request = self._new_request(
            "REGISTER",
            reg.registrar,
            from_=f"<{reg.aor}>",
            to=f"<{reg.aor}>",
            call_id=reg.call_id,
            from_tag=reg.from_tag,
            cseq=reg.cseq,
            headers=[("Expires", str(expires))],
        )
        request.headers.set("Contact", f"<{self.contact}>;expires={expires}")
        client = ClientRequest(request, reg.dest)
        reg.last = client

        def on_response(client: ClientRequest, response: Response) -> None:
            self._register_response(reg, client, response, expires)

        return self._send(client, on_response)

    def _register_response(
        self, reg: Registration, client: ClientRequest, response: Response, expires: int
    ) -> None:
        status = response.status
        if status < 200:
            return
        client.response = response
        reg.status = status
        if status in (401, 407) and not client.auth_retried:
            reg.cseq += 1
            retry = self._retry(client, response, cseq=reg.cseq)
            if retry is not None:
                new = ClientRequest(retry, reg.dest)
                new.auth_retried = True
                reg.last = new
                self._send(new, lambda c, r: self._register_response(reg, c, r, expires))
                return
        if status == 423 and expires > 0:
            try:
                minimum = parse_uint(response.headers.get("Min-Expires") or "")
            except (HeaderError, ValueError):
                minimum = 0
            if minimum > expires:
                self._send_register(reg, minimum)
                return
        if reg.timer is not None:
            reg.timer.cancel()
            reg.timer = None
        if not 200 <= status < 300:
            reg.state = "failed"
        elif expires == 0:
            reg.state = "unregistered"
            reg.granted = 0
        else:
            reg.granted = self._granted(response, expires)
            if reg.state == "registered":
                reg.refreshes += 1
                self.stats.registration_refreshes += 1
            else:
                self.stats.registrations += 1
            reg.state = "registered"
            margin = min(32.0, reg.granted / 2)
            reg.timer = self.clock.call_later(reg.granted - margin, lambda: self._send_register(reg, reg.expires))
        if reg.on_change is not None:
            reg.on_change(reg)

    def _granted(self, response: Response, requested: int) -> int:
        """The expiry the registrar granted our Contact: its ``expires`` param, else Expires."""
        for contact in response.contact:
            if contact.uri is not None and contact.uri.equivalent(self.contact):
                value = contact.params.get("expires")
                if value is not None and value.isdigit():
                    return int(value)
        expires = response.expires
        return expires if expires is not None else requested

    def _unregister(self, reg: Registration) -> ClientRequest:
        if reg.timer is not None:
            reg.timer.cancel()
            reg.timer = None
        return self._send_register(reg, 0)

    # -- session timers (RFC 4028) ----------------------------------------------------------

    def _session_from_response(self, call: Call, response: Response) -> None:
        """Start or restart the session timer from a 2xx to our INVITE/UPDATE (§7.2)."""
        if self.session_timer is None:
            return
        value = response.headers.get("Session-Expires")
        if value is None:
            self._stop_session(call)
            return
        try:
            se = SessionExpires.parse(value)
        except HeaderError:
            return
        self._arm_session(call, se.delta, (se.refresher or "uac") == "uac")

    def _arm_session(self, call: Call, interval: int, we_refresh: bool) -> None:
        self._stop_session(call)
        call.session_interval = interval
        call.session_refresher = we_refresh
        if we_refresh:
            call.session_timer = self.clock.call_later(interval / 2, lambda: self._refresh_session(call))
        else:
            before = min(32.0, interval / 3)
            call.session_timer = self.clock.call_later(interval - before, lambda: self._session_expired(call))

    def _stop_session(self, call: Call) -> None:
        if call.session_timer is not None:
            call.session_timer.cancel()
            call.session_timer = None

    def _session_headers(self, interval: int, refresher: str) -> list[tuple[str, object]]:
        timer = self.session_timer
        assert timer is not None
        return [("Session-Expires", f"{interval};refresher={refresher}"), ("Min-SE", str(timer.min_se))]

    def _refresh_session(self, call: Call) -> None:
        call.session_timer = None
        if call.state is not CallState.CONFIRMED or self.session_timer is None:
            return
        self.stats.session_refreshes += 1
        headers = self._session_headers(call.session_interval or self.session_timer.expires, "uac")
        call._event("refreshed", detail=self.session_timer.method)
        if self.session_timer.method == "UPDATE":
            self.update(call, headers=headers)
        else:
            self.reinvite(call, headers=headers)

    def _session_expired(self, call: Call) -> None:
        call.session_timer = None
        if call.state is not CallState.CONFIRMED:
            return
        self.stats.session_expiries += 1
        self._in_dialog(call, "BYE", headers=[("Reason", 'SIP;cause=408;text="Session expired"')])
        self._end(call, "session expired")

    def _uas_session(self, request: Request) -> tuple[int | None, list[tuple[str, object]], tuple[int, bool] | None]:
        """RFC 4028 §9 at the UAS: (a rejection status, headers for the response, (interval,
        we refresh)). 422 comes with our Min-SE when the asked interval is too small."""
        timer = self.session_timer
        if timer is None:
            return None, [], None
        supported = any(t.strip().lower() == "timer" for t in request.headers.get_all("Supported"))
        value = request.headers.get("Session-Expires")
        if value is not None:
            try:
                se = SessionExpires.parse(value)
            except HeaderError:
                return 400, [], None
            if se.delta < timer.min_se:
                return 422, [("Min-SE", str(timer.min_se))], None
            interval = min(se.delta, max(timer.expires, timer.min_se))
            refresher = se.refresher or ("uac" if supported else "uas")
        elif supported or request.method == "INVITE":
            interval = timer.expires
            refresher = "uac" if supported else "uas"
        else:
            return None, [], None
        headers: list[tuple[str, object]] = [("Session-Expires", f"{interval};refresher={refresher}")]
        if refresher == "uac":
            headers.append(("Require", "timer"))
        return None, headers, (interval, refresher == "uas")

    # -- UAS: the TU callbacks ------------------------------------------------------------------

    def request_received(self, transaction: Transaction | None, request: Request) -> None:
        method = request.method
        if method == "ACK":
            self._ack_received(request)
            return
        self.stats.requests_received[method] += 1
        assert isinstance(transaction, ServerTransaction)
        rejection = check_request(request, self.uas_policy)
        if rejection is not None:
            to_tag = self._new_tag() if request.to_tag is None else None
            response = rejection.response_to(request, to_tag=to_tag)
            if transaction.respond(response):
                self.stats.responses_sent[response.status] += 1
            return
        if method == "CANCEL":
            self._cancel_received(transaction, request)  # type: ignore[arg-type]
            return
        if request.to_tag is not None:
            self._in_dialog_request(transaction, request)
            return
        if method == "INVITE":
            self._invite_received(transaction, request)  # type: ignore[arg-type]
        elif method == "OPTIONS":
            self._respond(transaction, request, 200, to_tag=self._new_tag(), headers=self._capability_headers())
        elif method in _DIALOG_METHODS:
            self._respond(transaction, request, 481, to_tag=self._new_tag())
        elif method in _KNOWN or method in ("REGISTER", "SUBSCRIBE", "MESSAGE", "PUBLISH"):
            self._respond(transaction, request, 405, to_tag=self._new_tag(), headers=[("Allow", ALLOW)])
        else:
            self._respond(transaction, request, 501, to_tag=self._new_tag(), headers=[("Allow", ALLOW)])

    def response_received(self, transaction: Transaction | None, response: Response) -> None:
        self.stats.responses_received[response.status] += 1
        client = self._clients.get(transaction) if transaction is not None else None  # type: ignore[arg-type]
        if client is None and transaction is not None and self._sending is not None:
            client = self._sending
        if client is not None:
            self._deliver(client, response)
            return
        # A stray 2xx to an INVITE: the transaction is gone, the ACK is ours to repeat.
        cseq = response.cseq
        if 200 <= response.status < 300 and cseq is not None and cseq.method == "INVITE":
            key = (response.call_id or "", response.from_tag or "", response.to_tag or "")
            call = self._dialogs.get(key)
            if call is not None and call.ack_data is not None and call.ack_dest is not None:
                self.stats.ack_retransmissions += 1
                self._raw_send(call.ack_data, call.ack_dest)

    def transaction_timeout(self, transaction: Transaction) -> None:
        client = self._clients.get(transaction)  # type: ignore[arg-type]
        if client is not None:
            self._deliver(client, client.request.create_response(408, "Request Timeout"))

    def transport_error(self, transaction: Transaction, error: TransportError) -> None:
        client = self._clients.get(transaction) or self._sending  # type: ignore[arg-type]
        if client is not None and isinstance(transaction, ClientTransaction):
            self._deliver(client, client.request.create_response(503, "Service Unavailable"))

    def transaction_terminated(self, transaction: Transaction) -> None:
        client = self._clients.pop(transaction, None)  # type: ignore[arg-type]
        if client is not None:
            self._handlers.pop(id(client), None)
        if isinstance(transaction, ServerInviteTransaction):
            self._uas_invites.pop(transaction, None)

    # -- UAS: new INVITE -------------------------------------------------------------------------

    def _capability_headers(self) -> list[tuple[str, object]]:
        headers: list[tuple[str, object]] = [("Allow", ALLOW), ("Accept", SDP)]
        if self.session_timer is not None:
            headers.append(("Supported", "timer"))
        return headers

    def _answer(self, remote: SessionDescription) -> SessionDescription | None:
        if self.capabilities is None:
            return None
        return answer(
            remote,
            self.capabilities,
            address=self.local.host,
            port=self.media_port,
            key_source=self._rng.randbytes,
        )

    def _invite_received(self, txn: ServerInviteTransaction, request: Request) -> None:
        self.stats.calls_received += 1
        tag = self._new_tag()
        if not request.contact and (request.branch or "").startswith("z9hG4bK"):
            self._reject(txn, request, 400, tag, reason="Missing Contact")  # §8.1.1.8
            return
        status, st_headers, session = self._uas_session(request)
        if status is not None:
            self._reject(txn, request, status, tag, headers=st_headers)
            return
        if self.authenticator is not None:
            result = self.authenticator.authenticate(request, self.clock.now())
            if not result.ok:
                self._reject(txn, request, result.status or 403, tag, headers=result.headers)
                return
        remote = _sdp_of(request)
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
        call.local_sdp = local if remote is not None else (self._offer() if self.capabilities else None)
        call.dialog = Dialog.from_request(request, tag, self.contact)
        self._dialogs[call.dialog.id] = call
        self._uas_invites[txn] = call
        call._event("incoming", sdp=remote)
        if self.on_call is not None:
            self.on_call(call)
        policy = self.policy.for_request(request)
        if policy.trying:
            self._respond(txn, request, 100)
        if policy.early_media and call.local_sdp is not None:
            self._respond(txn, request, 183, to_tag=tag, headers=self._contact(),
                          body=call.local_sdp.encode(), content_type=SDP)
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
        self, txn: ServerTransaction, request: Request, status: int, tag: str, *,
        headers: Headerish = (), reason: str | None = None,
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
            return
        headers = [*self._contact(), *self._capability_headers(), *st_headers]
        body = call.local_sdp.encode() if call.local_sdp is not None else b""
        response = self._respond(txn, request, status, to_tag=dialog.local_tag, headers=headers,
                                 body=body, content_type=SDP)
        dialog.confirm()
        call.state = CallState.CONFIRMED
        self.stats.calls_accepted += 1
        call._event("answered", status, call.remote_sdp)
        self._start_ok_retransmit(call, txn, response)
        if session is not None:
            self._arm_session(call, *session)

    def _start_ok_retransmit(self, call: Call, txn: ServerInviteTransaction, response: Response) -> None:
        """Re-send the 2xx at T1, 2*T1, ... capped at T2 until the ACK (§13.3.1.4)."""
        call.ok_response = response
        call.ok_txn = txn
        call.ok_elapsed = 0.0
        if txn.reliable:
            call.ok_interval = 0.0
            call.ok_timer = self.clock.call_later(self.config.timeout, lambda: self._ok_tick(call))
            return
        call.ok_interval = self.config.t1
        call.ok_timer = self.clock.call_later(call.ok_interval, lambda: self._ok_tick(call))

    def _ok_tick(self, call: Call) -> None:
        call.ok_timer = None
        interval = call.ok_interval or self.config.timeout
        call.ok_elapsed += interval
        if call.ok_elapsed >= self.config.timeout:
            self.stats.ack_timeouts += 1
            call.ok_response = None
            if call.state is CallState.CONFIRMED:
                self._in_dialog(call, "BYE")
                self._end(call, "no ACK")
            return
        txn, response = call.ok_txn, call.ok_response
        if txn is not None and response is not None and txn.respond(response):
            self.stats.ok_retransmissions += 1
        call.ok_interval = min(2 * interval, self.config.t2)
        remaining = self.config.timeout - call.ok_elapsed
        call.ok_timer = self.clock.call_later(min(call.ok_interval, remaining), lambda: self._ok_tick(call))
        if remaining < call.ok_interval:
            call.ok_interval = remaining

    def _ack_received(self, ack: Request) -> None:
        self.stats.requests_received["ACK"] += 1
        key = (ack.call_id or "", ack.to_tag or "", ack.from_tag or "")
        call = self._dialogs.get(key)
        if call is None or call.ok_response is None:
            return
        cseq = ack.cseq
        if cseq is None or cseq.number != call.ok_response.cseq.number:  # type: ignore[union-attr]
            return
        call.ok_response = None
        if call.ok_timer is not None:
            call.ok_timer.cancel()
            call.ok_timer = None
        remote = _sdp_of(ack)
        if remote is not None:
            call.remote_sdp = remote

    def _cancel_received(self, txn: ServerNonInviteTransaction, request: Request) -> None:
        target = txn.cancel_target
        call = self._uas_invites.get(target) if target is not None else None
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

    # -- UAS: in-dialog requests ------------------------------------------------------------------

    def _in_dialog_request(self, txn: ServerTransaction, request: Request) -> None:
        key = (request.call_id or "", request.to_tag or "", request.from_tag or "")
        call = self._dialogs.get(key)
        if call is None or call.dialog is None:
            self._respond(txn, request, 481)
            return
        dialog = call.dialog
        status = dialog.check_request(request)
        if status is not None:
            self._respond(txn, request, status, reason="CSeq out of order" if status == 500 else None)
            return
        method = request.method
        if method == "BYE":
            self._respond(txn, request, 200)
            self._end(call, "remote BYE")
        elif method == "INVITE" or method == "UPDATE":
            self._refresh_received(call, txn, request)
        elif method == "INFO":
            self._respond(txn, request, 200)
            call._event("info", detail=request.body.decode("utf-8", "replace"))
        elif method == "OPTIONS":
            self._respond(txn, request, 200, headers=self._capability_headers())
        elif method == "REFER":
            self._refer_received(call, txn, request)
        elif method == "NOTIFY":
            self._notify_received(call, txn, request)
        else:
            self._respond(txn, request, 405 if method in _KNOWN else 501, headers=[("Allow", ALLOW)])

    def _refresh_received(self, call: Call, txn: ServerTransaction, request: Request) -> None:
        """A re-INVITE or UPDATE: new offer, target refresh, session refresh."""
        status, st_headers, session = self._uas_session(request)
        if status is not None:
            self._respond(txn, request, status, headers=st_headers)
            return
        remote = _sdp_of(request)
        local = call.local_sdp
        if remote is not None and self.capabilities is not None:
            try:
                local = self._answer(remote)
            except SdpError:
                self._respond(txn, request, 488)
                return
            call.remote_sdp = remote
            call.local_sdp = local
        dialog = call.dialog
        assert dialog is not None
        dialog.refresh_target(request)
        headers = [*self._contact(), *st_headers]
        offered = request.method == "INVITE" or remote is not None
        body = local.encode() if offered and local is not None else b""
        response = self._respond(txn, request, 200, headers=headers, body=body, content_type=SDP)
        call._event("reinvited" if request.method == "INVITE" else "updated", 200, remote)
        if isinstance(txn, ServerInviteTransaction):
            if call.ok_timer is not None:
                call.ok_timer.cancel()
            self._start_ok_retransmit(call, txn, response)
        if session is not None:
            self._arm_session(call, *session)
        elif self.session_timer is not None and call.session_interval is not None:
            self._stop_session(call)

    def _refer_received(self, call: Call, txn: ServerTransaction, request: Request) -> None:
        targets = request.headers.get_all("Refer-To")
        if len(targets) != 1:
            self._respond(txn, request, 400, reason="REFER needs exactly one Refer-To")
            return
        try:
            refer_to = NameAddr.parse(targets[0])
        except HeaderError as error:
            self._respond(txn, request, 400, reason=f"Bad Refer-To: {error}"[:100])
            return
        self._respond(txn, request, 202, headers=self._contact())
        call.refer_to = str(refer_to)
        call._event("refer", 202, detail=str(refer_to))
        self.notify_refer(call, 100)
        if self.on_refer is not None:
            self.on_refer(call, refer_to)
        else:
            self.notify_refer(call, 503)

    def notify_refer(self, call: Call, status: int, reason: str | None = None) -> ClientRequest:
        """Report a REFER's progress to the referrer: a NOTIFY with a sipfrag status line
        (RFC 3515 §2.4.5); a final status ends the implicit subscription."""
        final = status >= 200
        frag = Response(status, reason)
        state = "terminated;reason=noresource" if final else "active;expires=60"
        body = f"SIP/2.0 {frag.status} {frag.reason}\r\n".encode()
        return self._in_dialog(
            call,
            "NOTIFY",
            headers=[("Event", "refer"), ("Subscription-State", state)],
            body=body,
            content_type=SIPFRAG,
        )

    def _notify_received(self, call: Call, txn: ServerTransaction, request: Request) -> None:
        event = (request.headers.get("Event") or "").split(";")[0].strip().lower()
        if event != "refer":
            self._respond(txn, request, 489)
            return
        status = _sipfrag_status(request.body)
        if status is None:
            self._respond(txn, request, 400, reason="NOTIFY body is not a sipfrag status line")
            return
        self._respond(txn, request, 200)
        call.refer_status = status
        state = (request.headers.get("Subscription-State") or "").split(";")[0].strip().lower()
        call.refer_done = state == "terminated"
        call._event("notify", status, detail=state)

