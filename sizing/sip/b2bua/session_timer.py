"""Session timers (RFC 4028) through the B2BUA: negotiated end to end, refreshes relayed.

Theory of operation
-------------------

A contact-centre SIP Server keeps the carrier's session timer end to end, as
an RFC 4028 §8 proxy would, instead of running a timer of its own per leg:

- leg B's first INVITE carries the caller's ``Supported: timer``,
  ``Session-Expires`` and ``Min-SE`` (§8.1), so the called party answers as
  an RFC 4028 UAS and knows the refresher;
- B's 2xx goes to A with its ``Session-Expires`` and ``Require: timer``; when
  B does not support the timer but A does, the B2BUA inserts
  ``Session-Expires`` with ``refresher=uac`` and ``Require: timer`` (§8.2), so
  the caller refreshes and every refresh still reaches B (a plain UPDATE or
  re-INVITE, which a UA without the extension answers 200);
- a 422 from B goes to A with B's ``Min-SE``, so the caller retries (§7.4);
- refreshes (UPDATE, re-INVITE) are relayed like any in-dialog request, so
  each one is a transaction on every hop of the path; a refresh that arrives
  while the peer leg is being re-connected is held and goes to the party
  connected once the re-connect completes, instead of getting 491, which
  would stop the refresher's timer and let the non-refresher's expiry end
  the call. The re-connect's end (done or failed: :meth:`SessionTimerRelay.release_held`) and
  the call's end release it at once; one timer of :data:`HOLD_S` bounds the
  wait (and catches the one blocker no re-connect ends: a 2xx on either leg
  still waiting for its ACK). A held re-INVITE (or UPDATE with an offer) from
  the very party the re-connect then re-INVITEs crosses that re-INVITE: it
  gets 491 and the party retries after its RFC 3261 §14.1 wait (:mod:`.glare`);
  one that arrives while that re-INVITE is in progress is not held but gets
  491 at once (RFC 3261 §14.2);
- a new party the call is re-connected to (RFC 3725 Flow I) gets an INVITE
  with the call's interval and the refresher kept on the same side, and the
  re-INVITE to A names the same refresher, so refreshes carry on unchanged;
- on a conference bridge each participant and its bridge leg make one end to
  end session: the refresher stays on the participant's side when it was the
  refresher of the two-party call, and is the bridge otherwise
  (:meth:`SessionTimerRelay.bridge_leg_headers`), so every pair has exactly one refresher.

The B2BUA itself never ends a call on a session timer: the refresher's peer
does (§10), and the B2BUA relays that BYE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import HeaderError
from ..headers import SessionExpires, parse_uint
from ..message import Headers, Request, Response
from .call import BridgedCall, Leg

if TYPE_CHECKING:
    from ..interfaces import TimerHandle
    from ..transaction import ServerTransaction
    from .context import SessionTimerContext

__all__ = ["HOLD_S", "MIN_SE", "HeldRefresh", "SessionTimerRelay"]

MIN_SE = 90
"""The smallest session interval RFC 4028 §5 allows, and the default Min-SE."""
HOLD_S = 8.0
"""The longest a refresh is held before it gets 491 (well inside Timer F, 32 s)."""

Headerlist = list[tuple[str, object]]


def _timer_tokens(headers: Headers, name: str) -> bool:
    return any(t.strip().lower() == "timer" for t in headers.get_all(name))


def _session_expires(headers: Headers) -> SessionExpires | None:
    value = headers.get("Session-Expires")
    if value is None:
        return None
    try:
        return SessionExpires.parse(value)
    except HeaderError:
        return None


class SessionTimerRelay:
    """RFC 4028 across the legs of each call; held by the B2BUA as its ``_session_timers``."""

    def __init__(self, b2bua: SessionTimerContext) -> None:
        self.b2bua = b2bua

    def request_headers(self, request: Request) -> Headerlist:
        """Leg B's first INVITE: the caller's Supported: timer, Session-Expires, Min-SE."""
        headers = request.headers
        out: Headerlist = []
        if _timer_tokens(headers, "Supported"):
            out.append(("Supported", "timer"))
        for name in ("Session-Expires", "Min-SE"):
            out += [(name, v) for v in headers.get_lines(name)]
        return out

    def response_headers(
        self, call: BridgedCall, request: Request, response: Response, from_caller: bool
    ) -> Headerlist:
        """The 2xx to a session refresh (the first INVITE included) on its way back: the
        answerer's Session-Expires and Require, or the §8.2 insertion when the answerer
        has no session timer but the requester has. Notes the call's interval and which
        side refreshes (``from_caller``: the request came from leg A's party)."""
        answered = _session_expires(response.headers)
        inserted = answered is None
        if answered is None:
            asked = _session_expires(request.headers)
            if asked is None or not _timer_tokens(request.headers, "Supported"):
                return []
            answered = SessionExpires(asked.delta, "uac")  # §8.2: the UAC refreshes
        refresher = answered.refresher or "uas"
        uac_side, uas_side = ("caller", "callee") if from_caller else ("callee", "caller")
        if call.conference is None:  # on a bridge each pair keeps the refresher it was given
            self._note(call, answered.delta, uac_side if refresher == "uac" else uas_side)
        out: Headerlist = [("Session-Expires", str(SessionExpires(answered.delta, refresher)))]
        if inserted:
            out.append(("Require", "timer"))
        else:
            out += [("Require", v) for v in response.headers.get_lines("Require")]
        return out

    def _note(self, call: BridgedCall, interval: int, side: str) -> None:
        call.session.interval = interval
        call.session.refresher = side
        min_se = call.request.headers.get("Min-SE")
        if min_se is not None and call.session.min_se is None:
            try:
                call.session.min_se = parse_uint(min_se.split(";")[0])
            except (HeaderError, ValueError):
                call.session.min_se = None

    def new_leg_headers(self, call: BridgedCall) -> Headerlist:
        """A re-connected party's INVITE: the call's interval, the refresher on the same side
        (``uac`` is the B2BUA, which relays the caller's refreshes)."""
        if call.session.interval is None:
            return []
        refresher = "uac" if call.session.refresher == "caller" else "uas"
        return self._headers(call, refresher)

    def reinvite_a_headers(self, call: BridgedCall) -> Headerlist:
        """The re-INVITE to A that re-connects it: the caller keeps (or not) the refresher role."""
        if call.session.interval is None:
            return []
        refresher = "uas" if call.session.refresher == "caller" else "uac"
        return self._headers(call, refresher)

    def _headers(self, call: BridgedCall, refresher: str) -> Headerlist:
        assert call.session.interval is not None
        min_se = call.session.min_se or MIN_SE
        return [
            ("Supported", "timer"),
            ("Session-Expires", str(SessionExpires(call.session.interval, refresher))),
            ("Min-SE", str(min(min_se, call.session.interval))),
        ]

    def bridge_leg_headers(self, call: BridgedCall, participant: Leg) -> Headerlist:
        """A conference bridge leg's INVITE: the call's interval; the refresher is the
        participant (``uac``: the B2BUA relays its refreshes) when it refreshed in the
        two-party call, else the bridge (``uas``). One refresher per pair, none doubled."""
        if call.session.interval is None:
            return []
        caller_side = participant is call.a
        participant_refreshes = (call.session.refresher == "caller") == caller_side
        return self._headers(call, "uac" if participant_refreshes else "uas")

    def hold_refresh(
        self, leg: Leg, txn: ServerTransaction, request: Request, relay: Callable[[], bool]
    ) -> bool:
        """Hold a session refresh that cannot be relayed now; True when it is held.

        ``relay()`` relays it and says whether it went out. Only requests that carry
        Session-Expires on a call with a session timer are held; they wait on the call
        until :meth:`SessionTimerRelay.release_held` (or the :data:`HOLD_S` safety timer).
        """
        call = leg.call
        if call.session.interval is None or request.headers.get("Session-Expires") is None:
            return False
        held = HeldRefresh(leg, txn, request, relay)
        held.timer = self.b2bua.clock.call_later(HOLD_S, lambda: self._held_too_long(held))
        call.held_refreshes.append(held)
        return True

    def release_held(self, call: BridgedCall) -> None:
        """The re-connect of ``call`` completed or failed, or the call ended: relay each
        held refresh to the party now connected, or answer it 481 when its call or leg
        is gone. One still blocked (another re-connect already started) keeps waiting,
        on the call its leg now belongs to (a join moves legs between calls)."""
        held, call.held_refreshes = call.held_refreshes, []
        for refresh in held:
            if not self._settle(refresh, final=False):
                refresh.leg.call.held_refreshes.append(refresh)

    def _held_too_long(self, refresh: HeldRefresh) -> None:
        refresh.timer = None
        waiting = refresh.leg.call.held_refreshes
        if refresh in waiting:
            waiting.remove(refresh)
        self._settle(refresh, final=True)

    def _settle(self, refresh: HeldRefresh, *, final: bool) -> bool:
        """Relay or answer a held refresh; False when it must keep waiting (never if ``final``:
        then it gets 491 with Retry-After, RFC 3261 §14.2 / RFC 3311 §5.2)."""
        txn, request, leg = refresh.txn, refresh.request, refresh.leg
        done = True
        if txn.terminated:
            pass
        elif leg.call.ended or not leg.live:
            self.b2bua._respond(txn, request, 481)
        elif refresh.relay():
            pass
        elif final:
            self.b2bua._respond(txn, request, 491, headers=[("Retry-After", "1")])
        else:
            done = False
        if done and refresh.timer is not None:
            refresh.timer.cancel()
            refresh.timer = None
        return done


class HeldRefresh:
    """A session refresh (UPDATE or re-INVITE) waiting for the call's re-connect to end."""

    __slots__ = ("leg", "txn", "request", "relay", "timer")

    def __init__(
        self, leg: Leg, txn: ServerTransaction, request: Request, relay: Callable[[], bool]
    ) -> None:
        self.leg, self.txn, self.request, self.relay = leg, txn, request, relay
        self.timer: TimerHandle | None = None
