"""Glare: two changes to one session crossing (RFC 3261 §14, RFC 3311 §5).

Both ends of a dialog may change the session at the same moment (a hold, a
session-timer refresh, a B2BUA re-connecting the call). Offer/answer allows
one offer at a time, so each side refuses the other's and both try again
after a random wait, the side that did not create the Call-ID first.

As UAS (:meth:`Glare._glare_status`, checked before a re-INVITE or UPDATE is
served):

- an INVITE while our own INVITE on the dialog is in progress: 491 (§14.2);
- an INVITE before our final response to an earlier INVITE on the dialog:
  500 with Retry-After, 0 to 10 s at random (§14.2);
- an offer (UPDATE, or re-INVITE with SDP) while an offer of ours waits for
  its answer: 491 (RFC 3311 §5.2; one offer at a time, RFC 3264 §4); an UPDATE
  offer while an offer we received is still unanswered: 500 with Retry-After
  (RFC 3311 §5.2).

As UAC (:meth:`Glare._glare_retry`): a 491 to our re-INVITE or UPDATE starts
a timer T, random in 10 ms steps, 2.1 to 4 s when this UA generated the
Call-ID (it placed the call), 0 to 2 s otherwise (§14.1; RFC 3311 §5.1 for
UPDATE). Then the same change goes again in a new transaction with the next
CSeq, unless the dialog has ended or the application gave it up
(:meth:`Glare.abandon`). A retry that still meets glare waits again, up to
:data:`GLARE_RETRIES` times; the last 491 is then the final answer.
"""

from __future__ import annotations

from random import Random

from ..message import Request, Response
from .call import Call, ClientRequest
from .common import Headerish, ResponseHandler, sdp_of
from .model import CallState

__all__ = ["GLARE_RETRIES", "Glare", "glare_wait", "retry_after"]

GLARE_RETRIES = 5
"""Tries after the first 491 before it is taken as final (RFC 3261 sets no limit;
a peer that always answers 491 must not keep a call retrying forever)."""

_REBUILT = frozenset(
    {
        "Via",
        "Max-Forwards",
        "Route",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Content-Length",
        "Content-Type",
        "Authorization",
        "Proxy-Authorization",
    }
)
"""Headers a retry gets afresh from the dialog (and credentials, whose nonce may be stale)."""


def glare_wait(rng: Random, *, owner: bool) -> float:
    """The §14.1 timer T after a 491, in seconds: 2.1-4 s for the Call-ID's owner, else 0-2 s,
    in units of 10 ms."""
    ticks = rng.randint(210, 400) if owner else rng.randint(0, 200)
    return ticks / 100


def retry_after(rng: Random) -> tuple[str, str]:
    """The Retry-After header of a §14.2 500: a random 0 to 10 seconds."""
    return ("Retry-After", str(rng.randint(0, 10)))


def _offers(request: Request) -> bool:
    return sdp_of(request) is not None


class Glare:
    """Mixed into :class:`~sizing.sip.ua.UserAgent`: refusing crossed changes and retrying ours."""

    # -- what is in progress on a call's dialog --------------------------------------------

    @staticmethod
    def _invite_out(call: Call) -> bool:
        """An INVITE of ours on the dialog has no final response yet (the first one included)."""
        placing = call.role == "uac" and call.state in (CallState.CALLING, CallState.EARLY)
        return placing or call.reinvite_out is not None

    @staticmethod
    def _invite_in(call: Call) -> bool:
        """The INVITE that made the call came to us and has no final response yet."""
        return call.role == "uas" and not call.final_sent and not call.ended

    @staticmethod
    def _offer_out(call: Call) -> bool:
        """An offer of ours waits for its answer: in a re-INVITE or UPDATE, in the INVITE
        placing the call, or in a 2xx to an INVITE without SDP whose ACK has not come."""
        if call.offer_out is not None:
            return True
        if call.role == "uac" and call.state in (CallState.CALLING, CallState.EARLY):
            return call.invite is not None and bool(call.invite.body)
        ok, txn = call.ok_response, call.ok_txn
        return ok is not None and bool(ok.body) and txn is not None and not txn.request.body

    @classmethod
    def _offer_in(cls, call: Call) -> bool:
        """An offer we received is still unanswered (the call's INVITE, not yet answered)."""
        return cls._invite_in(call) and call.remote_sdp is not None

    # -- as UAS --------------------------------------------------------------------------

    def _glare_status(self, call: Call, request: Request) -> tuple[int, Headerish] | None:
        """The refusal an INVITE or UPDATE gets on a dialog busy with another change, or None."""
        offer = _offers(request)
        if request.method == "INVITE":
            if self._invite_in(call):
                return 500, [retry_after(self._rng)]
            if self._invite_out(call) or (offer and self._offer_out(call)):
                return 491, []
        elif request.method == "UPDATE" and offer:
            if self._offer_out(call):
                return 491, []
            if self._offer_in(call):
                return 500, [retry_after(self._rng)]
        return None

    # -- as UAC --------------------------------------------------------------------------

    def _sent_change(self, client: ClientRequest) -> None:
        """Note a re-INVITE or UPDATE of ours as in progress (and its offer, if it has one)."""
        call = client.call
        assert call is not None
        if client.request.method == "INVITE":
            call.reinvite_out = client
        if client.request.body:
            call.offer_out = client

    def _change_answered(self, client: ClientRequest) -> None:
        """Our re-INVITE or UPDATE got its final response: it is no longer in progress."""
        call = client.call
        assert call is not None
        if call.reinvite_out is client:
            call.reinvite_out = None
        if call.offer_out is client:
            call.offer_out = None

    def _glare_retry(
        self, client: ClientRequest, response: Response, handler: ResponseHandler
    ) -> bool:
        """A 491 to our re-INVITE or UPDATE: wait T and send it again (§14.1). False when it
        is not retried (the dialog is gone, or the tries are used up): the 491 is final."""
        call = client.call
        if call is None or call.ended or call.dialog is None or call.dialog.terminated:
            return False
        if client.glare_retries >= GLARE_RETRIES:
            return False
        client.glare_retries += 1
        client.glare_response = response
        self.stats.glare_retries += 1
        call._event("glare", response.status, detail=client.request.method)
        self._glare_wait(client, handler)
        return True

    def _glare_wait(self, client: ClientRequest, handler: ResponseHandler) -> None:
        call = client.call
        assert call is not None
        delay = glare_wait(self._rng, owner=call.role == "uac")
        client.glare_timer = self.clock.call_later(
            delay, lambda: self._glare_resend(client, handler)
        )

    def _glare_resend(self, client: ClientRequest, handler: ResponseHandler) -> None:
        client.glare_timer = None
        call = client.call
        assert call is not None
        dialog = call.dialog
        if call.ended or dialog is None or dialog.terminated:
            self._glare_give_up(client)
            return
        old = client.request
        invite_busy = self._invite_out(call) or self._invite_in(call)
        offer_busy = self._offer_out(call) or self._offer_in(call)
        if (old.method == "INVITE" and invite_busy) or (old.body and offer_busy):
            self._glare_wait(client, handler)  # another change is under way: go after it
            return
        body = old.body
        if client.reoffer and call.local_sdp is not None:
            body = call.local_sdp.encode()
        headers = [(name, value) for name, value in old.headers if name not in _REBUILT]
        client.request = dialog.create_request(
            old.method,
            self._via(),
            headers=headers,
            body=body,
            content_type=old.headers.get("Content-Type"),
        )
        client.dest = self._next_hop(dialog)
        self._sent_change(client)  # before sending: a transport error answers at once
        self._send(client, handler)

    def _glare_give_up(self, client: ClientRequest) -> None:
        client.response, client.glare_response = client.glare_response, None
        if client.on_response is not None and client.response is not None:
            client.on_response(client, client.response)

    def abandon(self, client: ClientRequest) -> bool:
        """Give up a re-INVITE or UPDATE waiting to be sent again after a 491: its 491
        becomes the final response (``on_response`` hears it). False when it is not waiting."""
        timer = client.glare_timer
        if timer is None:
            return False
        timer.cancel()
        client.glare_timer = None
        self._glare_give_up(client)
        return True
