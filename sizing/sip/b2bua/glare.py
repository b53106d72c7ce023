"""Glare on the B2BUA's own re-INVITEs: a re-connect that meets 491 is retried (RFC 3261 §14.1).

The B2BUA re-INVITEs a party to re-connect its call (transfer, Replaces join,
conference move, restoring the caller after a failed join). The party may be
changing the session at that very moment, typically with its session-timer
refresh re-INVITE, and answers 491 (§14.2). That is glare, not a failed
re-connect:

- the party's crossing request gets 491 at once (§14.2, RFC 3311 §5.2): one
  that arrives while our re-INVITE is in progress (:meth:`ReinviteGlare.crosses_our_reinvite`)
  as it arrives, one held earlier, while the peer leg was being re-connected
  (:mod:`.session_timer`), as our re-INVITE goes; it could only be relayed after
  the re-connect, which it blocks. The party's INVITE transaction ends and the
  party waits its own T;
- after T the same re-INVITE goes again, with the next CSeq: T is 0 to 2 s
  on leg A, whose Call-ID the caller made, and 2.1 to 4 s on a leg the B2BUA
  placed (its own Call-ID), in 10 ms steps. On leg A the B2BUA therefore
  always goes first and the caller's refresh follows the finished re-connect;
- only when the flow no longer wants the re-INVITE (the call ended, the leg
  went, the re-connect was given up) or after :data:`GLARE_RETRIES` tries does
  the 491 reach the flow, which then fails as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..message import Request, Response
from ..transaction import ClientTransaction
from ..ua.exchange import OneFinal
from ..ua.glare import GLARE_RETRIES, glare_wait
from .call import Leg

if TYPE_CHECKING:
    from .context import GlareContext

__all__ = ["ReinviteGlare"]

FinalHandler = Callable[[Response], None]


class ReinviteGlare:
    """The B2BUA's own re-INVITEs, retried on 491; held by the B2BUA as its ``_glare``."""

    def __init__(self, b2bua: GlareContext) -> None:
        self.b2bua = b2bua

    def reinvite(
        self,
        leg: Leg,
        handler: FinalHandler,
        wanted: Callable[[], bool],
        *,
        headers: Iterable[tuple[str, object]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> None:
        """Send a re-INVITE on ``leg``; ``handler`` gets its one final response, after the
        leg's dialog has seen it (§12.2.1.2), except a 491, which is retried after T while
        ``wanted()`` says the flow still needs it. A retransmitted 2xx gets the ACK the
        flow sent again (:class:`~sizing.sip.ua.exchange.OneFinal`)."""
        b2bua = self.b2bua
        headers = list(headers)
        tries = 0

        def send() -> None:
            self.settle_crossing(leg)  # no INVITE while one is in progress either way (§14.1)
            leg.reinvite_out = b2bua._in_dialog(
                leg, "INVITE", OneFinal(leg, b2bua._repeat_ack, answered), headers=headers,
                body=body, content_type=content_type,
            )

        def answered(txn: ClientTransaction | None, response: Response) -> None:
            nonlocal tries
            if txn is None or leg.reinvite_out is txn.request:
                leg.reinvite_out = None
            if response.status != 491 or tries >= GLARE_RETRIES or not self._retriable(leg, wanted):
                deliver(txn, response)
                return
            tries += 1
            b2bua.stats.glare_retries += 1
            leg.call.events.append((b2bua.clock.now(), f"491 from {leg.role}: re-INVITE again"))
            self.settle_crossing(leg)
            wait = glare_wait(b2bua._rng, owner=leg.invite is not None)
            b2bua.clock.call_later(wait, lambda: retry(txn, response))

        def deliver(txn: ClientTransaction | None, response: Response) -> None:
            assert txn is not None and leg.dialog is not None
            leg.dialog.response_received(txn.request, response)
            handler(response)

        def retry(txn: ClientTransaction | None, response: Response) -> None:
            if self._retriable(leg, wanted):
                send()
            elif not leg.call.ended:
                deliver(txn, response)  # given up: the flow hears the 491 and fails as before

        send()

    @staticmethod
    def _retriable(leg: Leg, wanted: Callable[[], bool]) -> bool:
        dialog = leg.dialog
        return (
            leg.confirmed
            and dialog is not None
            and not dialog.terminated
            and not leg.call.ended
            and wanted()
        )

    @staticmethod
    def crosses_our_reinvite(leg: Leg, request: Request) -> bool:
        """``request`` from ``leg``'s party changes the session while our own re-INVITE to
        that party is in progress: an INVITE (RFC 3261 §14.2), or an UPDATE with an offer
        while our re-INVITE's offer waits for its answer (RFC 3311 §5.2). It gets 491."""
        ours = leg.reinvite_out
        if ours is None:
            return False
        return request.method == "INVITE" or (
            request.method == "UPDATE" and bool(request.body) and bool(ours.body)
        )

    def settle_crossing(self, leg: Leg) -> None:
        """Answer 491 to the held requests from ``leg`` that carry a change of their own (an
        INVITE, or an UPDATE with an offer): they crossed our re-INVITE (RFC 3261 §14.2,
        RFC 3311 §5.2) and could only be relayed after it, which they block."""
        call = leg.call
        keep = []
        for held in call.held_refreshes:
            request = held.request
            crossing = held.leg is leg and (request.method == "INVITE" or bool(request.body))
            if not crossing:
                keep.append(held)
                continue
            if held.timer is not None:
                held.timer.cancel()
                held.timer = None
            if not held.txn.terminated:
                self.b2bua._respond(held.txn, request, 491)
        call.held_refreshes = keep
