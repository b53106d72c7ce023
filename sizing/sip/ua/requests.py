"""Requests the UA sends outside the INVITE exchange itself: building, sending, answers.

Owns the client side shared by every non-INVITE request: a new request's
headers (RFC 3261 §8.1.1), in-dialog requests (§12.2.1.1), the Digest retry
of a 401/407 (§22.2), the handling of final responses to non-INVITE
requests, and the out-of-dialog OPTIONS (§11).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..dialog import uri_address
from ..element import Element
from ..interfaces import Address
from ..message import Headers, Request, Response
from ..uri import URI
from .call import Call, ClientRequest
from .common import SDP, Headerish, ResponseHandler, sdp_of
from .exchange import OneFinal
from .model import CallState, SessionTimerConfig, UAStats

if TYPE_CHECKING:
    from ..auth import DigestClient
    from .glare import Glare
    from .session_timer import SessionTimers

__all__ = ["ClientRequests"]


class ClientRequests(Element):
    """The base of :class:`~sizing.sip.ua.UserAgent`: sending requests and following their
    responses. What it reads of the UA is declared here and set by the UA's constructor."""

    stats: UAStats
    session_timer: SessionTimerConfig | None
    credentials: DigestClient | None
    outbound_proxy: Address | None
    _glare: Glare
    _session_timers: SessionTimers

    @abstractmethod
    def _end(self, call: Call, detail: str) -> None:
        """The call is over (a BYE either way, or its dialog died)."""

    # -- sending ---------------------------------------------------------------------

    def _supported(self, headers: Headers) -> None:
        if self.session_timer is not None:
            headers.add("Supported", "timer")

    def _send(self, client: ClientRequest, handler: ResponseHandler) -> ClientRequest:
        """Start a client transaction for ``client.request``; ``handler`` gets every response,
        but a re-INVITE's handler only its first final one (:class:`.exchange.OneFinal`)."""
        call = client.call
        if call is not None and client.request.method == "INVITE":
            dialog = call.dialog
            if dialog is not None and dialog.confirmed:
                handler = OneFinal(call, self._repeat_ack, handler, handler)
        self._start_client(client.request, client.dest, (client, handler))
        self.stats.requests_sent[client.request.method] += 1
        return client

    def _deliver(
        self, entry: tuple[ClientRequest, ResponseHandler], transaction: object, response: Response
    ) -> None:
        client, handler = entry
        handler(client, response)

    def _ignore(self, client: ClientRequest, response: Response) -> None:
        client.response = response if response.status >= 200 else client.response

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
    ) -> ClientRequest:
        """Send ``method`` in the call's dialog; a re-INVITE or UPDATE is noted as a change
        in progress (glare, :mod:`.glare`), and ``reoffer`` makes a later try offer the
        call's SDP as it is then. A re-INVITE or UPDATE offer the dialog does not allow
        yet waits on the call (§14.1, RFC 3311 §5.1), as a draft that takes no CSeq."""
        dialog = call.dialog
        if dialog is None or dialog.terminated:
            raise ValueError(
                f"{method}: call {call.call_id} has no dialog (state {call.state.value})"
            )
        wait = self._glare.must_wait(call, method, body)
        request = dialog.create_request(
            method,
            self._via(),
            headers=list(headers),
            body=body,
            content_type=content_type,
            cseq=(dialog.local_seq or 0) + 1 if wait else None,
        )
        if method in ("INVITE", "UPDATE"):
            self._supported(request.headers)
        client = ClientRequest(request, self._next_hop(dialog), call, on_response)
        handler = handler or self._generic_response
        if method in ("INVITE", "UPDATE"):
            client.reoffer = reoffer
            if wait:
                return self._glare.queue(call, client, handler)
            self._glare.sent(client)  # before sending: a transport error answers at once
        return self._send(client, handler)

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

    # -- responses to non-INVITE requests --------------------------------------------

    def _generic_response(self, client: ClientRequest, response: Response) -> None:
        """Responses to in-dialog and out-of-dialog non-INVITE requests."""
        if response.status < 200:
            client.provisional.append(response)
            return
        call = client.call
        if call is not None and client.request.method == "UPDATE":
            self._glare.answered(client)
            if response.status == 491 and self._glare.retry(
                client, response, self._generic_response
            ):
                return  # RFC 3311 §5.1: as for a re-INVITE (RFC 3261 §14.1)
        if response.status in (401, 407):
            cseq = self._next_cseq(client)
            retry = self._retry(client, response, cseq=cseq) if cseq is not None else None
            if retry is not None:
                new = ClientRequest(retry, client.dest, call, client.on_response)
                new.auth_retried = True
                if call is not None and retry.method == "UPDATE":
                    self._glare.sent(new)
                self._send(new, self._generic_response)
                return
        client.response = response
        if call is not None and call.dialog is not None:
            call.dialog.response_received(client.request, response)
            method = client.request.method
            if 200 <= response.status < 300 and method == "UPDATE":
                call._event("updated", response.status, sdp_of(response))
                self._session_timers.from_response(call, response)
            elif method == "REFER":
                call.refer_status = call.refer_status or (
                    response.status if response.status >= 300 else None
                )
            if call.dialog.terminated and call.state is CallState.CONFIRMED:
                self._end(call, f"{response.status} to {method}")
        if client.on_response is not None:
            client.on_response(client, response)
        if call is not None and client.request.method == "UPDATE":
            self._glare.send_queued(call)  # a change waiting for this offer's answer may go

    def _next_cseq(self, client: ClientRequest) -> int | None:
        call = client.call
        if call is not None and call.dialog is not None:
            dialog = call.dialog
            dialog.local_seq = (dialog.local_seq or 0) + 1
            return dialog.local_seq
        cseq = client.request.cseq
        return None if cseq is None else cseq.number + 1

    # -- out-of-dialog requests ------------------------------------------------------

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
