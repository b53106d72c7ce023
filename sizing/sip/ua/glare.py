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

Before sending (:meth:`Glare._must_wait`): a UAC MUST NOT start an INVITE
transaction while another INVITE of the dialog is in progress in either
direction (§14.1; until its final response and, for a 2xx, the ACK), nor send
an UPDATE offer while an offer is outstanding either way (RFC 3311 §5.1). Such
a change waits on the call, in order and behind a change of ours waiting out
its T, and goes when the dialog is free (:meth:`Glare._send_queued`); a call
that ends first answers it 481 without sending it.
"""

from __future__ import annotations

from collections import deque
from random import Random
from typing import TYPE_CHECKING

from ..message import Request, Response
from .call import Call, ClientRequest
from .common import Headerish, ResponseHandler, sdp_of
from .model import CallState

if TYPE_CHECKING:
    from .context import GlareContext

__all__ = ["GLARE_RETRIES", "Glare", "glare_wait", "is_change", "retry_after"]

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


def is_change(method: str, body: bytes) -> bool:
    """A re-INVITE, or an UPDATE with an offer: what §14.1 and RFC 3311 §5.1 serialise."""
    return method == "INVITE" or (method == "UPDATE" and bool(body))


class Glare:
    """Refusing crossed changes and retrying ours; held by the
    :class:`~sizing.sip.ua.UserAgent` as its ``_glare``."""

    def __init__(self, ua: GlareContext) -> None:
        self.ua = ua

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

    def _dialog_busy(self, call: Call, method: str, body: bytes) -> bool:
        """A change of ours (``method`` with ``body``) may not go now: an INVITE is in
        progress either way, our 2xx waits for its ACK (§14.1), an offer is outstanding
        either way (RFC 3311 §5.1; RFC 3264 §4), or a change of ours waits out its T."""
        if method == "INVITE" and (
            self._invite_out(call) or self._invite_in(call) or call.ok_response is not None
        ):
            return True
        if (method == "INVITE" or body) and (self._offer_out(call) or self._offer_in(call)):
            return True
        return bool(call.retrying)

    def must_wait(self, call: Call, method: str, body: bytes) -> bool:
        """``method`` is a change that must wait on the call (in order behind any waiting)."""
        return is_change(method, body) and (
            bool(call.queued) or self._dialog_busy(call, method, body)
        )

    # -- as UAS --------------------------------------------------------------------------

    def refusal(self, call: Call, request: Request) -> tuple[int, Headerish] | None:
        """The refusal an INVITE or UPDATE gets on a dialog busy with another change, or None."""
        offer = _offers(request)
        if request.method == "INVITE":
            if self._invite_in(call):
                return 500, [retry_after(self.ua._rng)]
            if self._invite_out(call) or (offer and self._offer_out(call)):
                return 491, []
        elif request.method == "UPDATE" and offer:
            if self._offer_out(call):
                return 491, []
            if self._offer_in(call):
                return 500, [retry_after(self.ua._rng)]
        return None

    # -- as UAC --------------------------------------------------------------------------

    def sent(self, client: ClientRequest) -> None:
        """Note a re-INVITE or UPDATE of ours as in progress (and its offer, if it has one)."""
        call = client.call
        assert call is not None
        if client.request.method == "INVITE":
            call.reinvite_out = client
        if client.request.body:
            call.offer_out = client

    def answered(self, client: ClientRequest) -> None:
        """Our re-INVITE or UPDATE got its final response: it is no longer in progress."""
        call = client.call
        assert call is not None
        if call.reinvite_out is client:
            call.reinvite_out = None
        if call.offer_out is client:
            call.offer_out = None

    def queue(
        self, call: Call, client: ClientRequest, handler: ResponseHandler
    ) -> ClientRequest:
        """Keep a change that may not go yet (§14.1, RFC 3311 §5.1) until the dialog is free."""
        call.queued.append((client, handler))
        call._event("queued", detail=client.request.method)
        return client

    def send_queued(self, call: Call) -> None:
        """Something in progress on the call completed: send the waiting changes the dialog
        now allows, oldest first (each one sent blocks those behind it again)."""
        while call.queued:
            dialog = call.dialog
            if call.ended or dialog is None or dialog.terminated:
                self.drop_queued(call)
                return
            client, handler = call.queued[0]
            if self._dialog_busy(call, client.request.method, client.request.body):
                return
            call.queued.popleft()
            self._send_change(client, handler)

    def drop_queued(self, call: Call) -> None:
        """The call ended with changes still waiting: none is sent; each hears 481 (or the
        491 it was retrying after), as the dialog no longer exists."""
        while call.queued:
            client, _ = call.queued.popleft()
            if client.glare_response is not None:
                self._give_up(client)
            else:
                self._never_sent(client, 481, "Call Ended Before It Was Sent")

    def _never_sent(self, client: ClientRequest, status: int, reason: str) -> None:
        client.response = client.request.create_response(status, reason)
        if client.on_response is not None:
            client.on_response(client, client.response)

    def _send_change(self, client: ClientRequest, handler: ResponseHandler) -> None:
        """Send a waiting change now, in a new transaction with the dialog's next CSeq; a
        ``reoffer`` offers the call's SDP as it is now."""
        call = client.call
        assert call is not None and call.dialog is not None
        dialog = call.dialog
        old = client.request
        body = old.body
        if client.reoffer and call.local_sdp is not None:
            body = call.local_sdp.encode()
        headers = [(name, value) for name, value in old.headers if name not in _REBUILT]
        client.request = dialog.create_request(
            old.method,
            self.ua._via(),
            headers=headers,
            body=body,
            content_type=old.headers.get("Content-Type"),
        )
        client.dest = self.ua._next_hop(dialog)
        self.sent(client)  # before sending: a transport error answers at once
        self.ua._send(client, handler)

    def retry(
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
        self.ua.stats.glare_retries += 1
        call._event("glare", response.status, detail=client.request.method)
        delay = glare_wait(self.ua._rng, owner=call.role == "uac")
        if is_change(client.request.method, client.request.body):
            call.retrying.append(client)  # what the application asks next goes after it
        client.glare_timer = self.ua.clock.call_later(
            delay, lambda: self._resend(client, handler)
        )
        return True

    def _resend(self, client: ClientRequest, handler: ResponseHandler) -> None:
        """T is over: send the change again, or, when the dialog is busy with another
        change, first in line after it."""
        client.glare_timer = None
        call = client.call
        assert call is not None
        if client in call.retrying:
            call.retrying.remove(client)
        dialog = call.dialog
        if call.ended or dialog is None or dialog.terminated:
            self._give_up(client)
            return
        old = client.request
        if is_change(old.method, old.body) and self._dialog_busy(call, old.method, old.body):
            call.queued.appendleft((client, handler))
            return
        self._send_change(client, handler)
        self.send_queued(call)  # changes that waited only for this retry's T

    def _give_up(self, client: ClientRequest) -> None:
        client.response, client.glare_response = client.glare_response, None
        if client.on_response is not None and client.response is not None:
            client.on_response(client, client.response)

    def abandon(self, client: ClientRequest) -> bool:
        """Give up a re-INVITE or UPDATE not sent yet: one waiting out T after a 491 gets
        that 491 as its final response, one waiting for the change in progress a 487
        (``on_response`` hears it). False when it is not waiting."""
        call = client.call
        timer = client.glare_timer
        if timer is not None:
            timer.cancel()
            client.glare_timer = None
            if call is not None and client in call.retrying:
                call.retrying.remove(client)
            self._give_up(client)
        elif call is not None and any(waiting is client for waiting, _ in call.queued):
            call.queued = deque(entry for entry in call.queued if entry[0] is not client)
            if client.glare_response is not None:
                self._give_up(client)
            else:
                self._never_sent(client, 487, "Abandoned Before It Was Sent")
        else:
            return False
        if call is not None:
            self.send_queued(call)  # what waited behind it may go now
        return True
