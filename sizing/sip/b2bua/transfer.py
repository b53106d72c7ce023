"""Attended (consultation) transfer at the SIP Server: REFER with Replaces (RFC 5589 §7).

Theory of operation
-------------------

The agent has two calls through the SIP Server: the customer's call (caller
on leg A, the agent on leg B, held) and a consultation call (the agent on
its leg A, the back office on its leg B). The agent sends REFER on the
customer call with ``Refer-To: <target?Replaces=...>`` naming its own
consultation dialog as the SIP Server sees it (RFC 3891 §3: the Replaces
``to-tag`` is the SIP Server's tag, the ``from-tag`` the agent's).

The SIP Server is the REFER's recipient and the party the Replaces names, so
it resolves the Replaces locally instead of sending an INVITE: it answers 202
and NOTIFY ``100`` (RFC 3515 §2.4.5), then joins the caller to the back
office by third-party call control (RFC 3725 Flow I applied to two existing
dialogs): a re-INVITE without SDP to the back office, whose offer goes to the
caller in a re-INVITE; the caller's answer goes in the back office's ACK.
The back office's leg moves into the customer's call as its leg B, the
agent's consultation leg is released with BYE, the referrer gets NOTIFY
``200`` and, once that NOTIFY is answered, BYE. A Replaces that matches no
confirmed consultation dialog gets NOTIFY ``481`` (RFC 3891 §3) and the call
stays as it was. A join that fails half way releases the consultation, the
referrer gets NOTIFY with the failure, and the caller is put back with the
agent, off hold (:meth:`Transfers._join_failed`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import HeaderError
from ..message import Response
from ..sdp import SdpError
from ..transaction import ServerTransaction
from .call import BridgedCall, Leg
from .features import ALLOW, MIRRORED, SDP, directions, is_sdp, with_directions
from .replaces import Replaces

if TYPE_CHECKING:
    from ..headers import NameAddr
    from ..message import Request
    from .context import AttendedContext

__all__ = ["Transfers"]


class Transfers:
    """The attended transfer by REFER with Replaces; held by the B2BUA as its ``_attended``."""

    def __init__(self, b2bua: AttendedContext) -> None:
        self.b2bua = b2bua

    def refer_replaces(
        self, leg: Leg, txn: ServerTransaction, request: Request, refer_to: NameAddr, value: str
    ) -> None:
        """A REFER from leg B of ``leg.call`` whose Refer-To carries a Replaces."""
        call = leg.call
        try:
            replaces = Replaces.parse(value)
        except HeaderError as exc:
            self.b2bua._respond(txn, request, 400, reason=f"Bad Replaces in Refer-To: {exc}"[:100])
            return
        assert leg.dialog is not None
        leg.dialog.refresh_target(request)
        self.b2bua._respond(txn, request, 202, headers=[("Contact", self.b2bua._contact(leg))])
        call.events.append((self.b2bua.clock.now(), f"REFER with Replaces {replaces.call_id}"))
        self.b2bua._notify(leg, 100, "Trying", final=False)
        status, reason = self._replaceable(call, replaces)
        if status is not None:
            self.b2bua.stats.transfers_failed += 1
            call.events.append((self.b2bua.clock.now(), f"Replaces refused {status}"))
            self.b2bua._notify(leg, status, reason, final=True)
            return
        consult = self.b2bua._dialogs[replaces.key].call
        self._join(call, consult, leg)

    def _replaceable(self, call: BridgedCall, replaces: Replaces) -> tuple[int | None, str | None]:
        """None when ``replaces`` names leg A of another bridged call; else the status the
        Replaces gets (RFC 3891 §3: 481 no such dialog, 486 early-only on a confirmed
        one, 603 already ended; 491 while an INVITE exchange is open)."""
        target = self.b2bua._dialogs.get(replaces.key)
        if target is None or target.dialog is None:
            return 481, "Call/Transaction Does Not Exist"
        consult = target.call
        if target is not consult.a or consult is call:
            return 481, "Call/Transaction Does Not Exist"
        if consult.ended or not target.live:
            return 603, "Declined"
        if not target.confirmed or consult.state != "bridged":
            return 481, "Call/Transaction Does Not Exist"
        if replaces.early_only:
            return 486, "Busy Here"
        other = consult.b
        busy = (consult.pending, call.pending, consult.conference, call.conference)
        open_invite = any(
            x is not None and x.ok_response is not None for x in (call.a, target, other)
        )
        if other is None or not other.confirmed or any(x is not None for x in busy) or open_invite:
            return 491, "Request Pending"
        return None, None

    def _join(self, call: BridgedCall, consult: BridgedCall, referrer: Leg) -> None:
        """Move the consultation's legs into ``call`` and start the re-INVITEs."""
        party, agent_leg = consult.b, consult.a
        assert party is not None
        recorder = consult.recorder
        for moved in consult.legs:
            if moved is recorder:
                continue
            moved.call = call
            call.legs.append(moved)
        if recorder is not None and recorder.confirmed:
            self.b2bua._bye(recorder)
        elif recorder is not None and recorder.live:
            self.b2bua._cancel_leg(recorder)
        self.b2bua._finish(consult, "ended", f"joined into call #{call.number}")
        call.pending = party
        call.refer_leg = referrer
        joining = _Join(call, party, agent_leg, referrer)
        self.b2bua._glare.reinvite(
            party,
            lambda r: self._join_offer(joining, r),
            lambda: call.pending is party,
            headers=[("Allow", ALLOW), *self.b2bua._session_timers.new_leg_headers(call)],
        )

    def _join_offer(self, j: _Join, response: Response) -> None:
        """The back office's 2xx carries the offer for the caller."""
        status = response.status
        party, call = j.party, j.call
        if status >= 300:
            self._join_failed(j, status, response.reason)
            return
        a = call.a
        if call.pending is not party or not a.confirmed or not is_sdp(response):
            self.b2bua._send_ack(party)
            if call.pending is party:
                self._join_failed(j, 488, "Not Acceptable Here")
            return
        self.b2bua._glare.reinvite(
            a,
            lambda r: self._join_answer(j, r),
            lambda: call.pending is party and party.live,
            headers=[("Allow", ALLOW), *self.b2bua._session_timers.reinvite_a_headers(j.call)],
            body=self.b2bua._to_a(a, response.body),
            content_type=SDP,
        )

    def _join_answer(self, j: _Join, response: Response) -> None:
        """The caller's 2xx carries the answer: ACK both, swap leg B, release the agent."""
        status = response.status
        call, party = j.call, j.party
        a = call.a
        assert a.dialog is not None
        if status >= 300:
            self.b2bua._send_ack(party)  # §13.2.2.4: acknowledge the offer, then hang it up
            self._join_failed(j, status, response.reason)
            if a.dialog.terminated and not call.ended:
                self.b2bua._hang_up(call, f"{status} to re-INVITE")
            return
        self.b2bua._send_ack(a)
        if call.pending is not party or not party.live:
            if call.pending is party:
                self._join_failed(j, 487, "Request Terminated")
            return
        self.b2bua._send_ack(party, response.body, response.headers.get("Content-Type"))
        old, call.b, call.pending, call.refer_leg = call.b, party, None, None
        call.transfers += 1
        self.b2bua.stats.transfers += 1
        call.events.append((self.b2bua.clock.now(), "joined caller to the consultation's far end"))
        if j.agent_leg.confirmed:
            self.b2bua._bye(j.agent_leg)
        self.b2bua._state(call, "transfer")
        if old is not None and old.confirmed:
            self.b2bua._notify(
                old, 200, "OK", final=True, then=lambda: self.b2bua._bye(old) if old.confirmed else None
            )
        self.b2bua._session_timers.release_held(call)

    def _join_failed(self, j: _Join, status: int, reason: str | None) -> None:
        """The join did not happen: the consultation is released, the referrer hears why
        (a final NOTIFY whose sipfrag is the failure, RFC 3515 §2.4.5, RFC 5589 §7) and the
        caller is put back with the agent, off hold (:meth:`_restore`).

        Why restore and not release: the REFER handed the call to the SIP Server, and a
        contact centre must not lose a customer because a back office did not take the
        call; RFC 5589 §7 leaves the transferor with its held call after a failure, and
        the SIP Server, which holds both dialogs, retrieves it for the agent instead of
        leaving the caller on hold until the agent's phone does. Only a call that cannot
        be restored (the caller's or the agent's dialog is gone) is released with BYE.
        """
        call = j.call
        if call.pending is j.party:
            call.pending = None
        call.refer_leg = None
        self.b2bua.stats.transfers_failed += 1
        call.events.append((self.b2bua.clock.now(), f"join failed {status}"))
        for leg in (j.party, j.agent_leg):
            if leg.confirmed:
                self.b2bua._bye(leg)
        if j.referrer.confirmed:
            self.b2bua._notify(j.referrer, status, reason, final=True)
        b, a = call.b, call.a
        if call.ended:
            return
        if b is None or not b.live:
            self.b2bua._hang_up(call, f"no leg after failed join ({status})")
        elif b.confirmed and a.confirmed and a.dialog is not None and not a.dialog.terminated:
            self._restore(call, b)
        else:
            self.b2bua._session_timers.release_held(call)

    # -- putting the caller back with the agent after a failed join -------------------------

    def _restore(self, call: BridgedCall, agent: Leg) -> None:
        """RFC 3725 Flow I between the caller and its agent, with the hold lifted: a
        re-INVITE without SDP asks the agent for an offer, which goes to the caller marked
        sendrecv; the caller's answer goes back in the agent's ACK, mirrored to the agent's
        offer (RFC 3264 §6.1), and, when that offer was a hold, as a sendrecv offer in one
        more re-INVITE to the agent. ``call.pending`` is the agent meanwhile, so refreshes
        wait and no second transfer or conference starts."""
        call.pending = agent
        call.events.append((self.b2bua.clock.now(), "restoring the caller to the agent"))
        r = _Restore(call, agent)
        self.b2bua._glare.reinvite(
            agent,
            lambda resp: self._restore_offer(r, resp),
            lambda: call.pending is agent,
            headers=[("Allow", ALLOW), *self.b2bua._session_timers.new_leg_headers(call)],
        )

    def _restore_offer(self, r: _Restore, response: Response) -> None:
        """The agent's 2xx carries its offer: it goes to the caller, sendrecv."""
        status, agent, call = response.status, r.agent, r.call
        if status >= 300:
            self._restore_failed(r, status)
            return
        a = call.a
        try:
            r.offer = response.body
            offered = directions(response.body) if is_sdp(response) else []
            body = with_directions(response.body, "sendrecv") if offered else b""
        except SdpError:
            body = b""
        if not body or not a.confirmed or not agent.live or call.ended:
            self.b2bua._send_ack(agent)
            self._restore_failed(r, 488)
            return
        r.held = any(d != "sendrecv" for d in offered)
        a.seen.incoming = None  # the hold lifted is a description A has not seen: a new o= version
        self.b2bua._glare.reinvite(
            a,
            lambda resp: self._restore_answer(r, resp),
            lambda: call.pending is agent and agent.live,
            headers=[("Allow", ALLOW), *self.b2bua._session_timers.reinvite_a_headers(call)],
            body=self.b2bua._to_a(a, body),
            content_type=SDP,
        )

    def _restore_answer(self, r: _Restore, response: Response) -> None:
        """The caller's 2xx carries the answer: ACK both; a held agent is then re-offered."""
        status, agent, call = response.status, r.agent, r.call
        a = call.a
        r.answered = True
        assert r.offer is not None
        if status >= 300 or not is_sdp(response):
            if status < 300:
                self.b2bua._send_ack(a)
            self.b2bua._send_ack(agent)  # §13.2.2.4: acknowledge the offer, then hang up
            self._restore_failed(r, status if status >= 300 else 488)
            return
        self.b2bua._send_ack(a)
        answer = response.body
        if not agent.live or call.ended:
            self._restore_failed(r, 487)
            return
        if not r.held:
            self.b2bua._send_ack(agent, answer, SDP)
            self._restore_done(r)
            return
        try:
            mirrored = with_directions(answer, [MIRRORED[d] for d in directions(r.offer)])
            resumed = with_directions(answer, "sendrecv", new_version=True)
        except SdpError:
            self.b2bua._send_ack(agent)
            self._restore_failed(r, 488)
            return
        self.b2bua._send_ack(agent, mirrored, SDP)
        self.b2bua._glare.reinvite(
            agent,
            lambda resp: self._restore_resumed(r, resp),
            lambda: call.pending is agent,
            headers=[("Allow", ALLOW), *self.b2bua._session_timers.new_leg_headers(call)],
            body=resumed,
            content_type=SDP,
        )

    def _restore_resumed(self, r: _Restore, response: Response) -> None:
        """The agent answered the sendrecv offer: the call is as it was, off hold."""
        status, agent = response.status, r.agent
        if status >= 300:
            self._restore_failed(r, status)
            return
        self.b2bua._send_ack(agent)
        self._restore_done(r)

    def _restore_done(self, r: _Restore) -> None:
        call = r.call
        if call.pending is r.agent:
            call.pending = None
        if not r.agent.live:
            self._restore_failed(r, 487)
            return
        call.events.append((self.b2bua.clock.now(), "caller back with the agent"))
        self.b2bua._session_timers.release_held(call)

    def _restore_failed(self, r: _Restore, status: int) -> None:
        """491: the agent is changing the session itself, the call stays as it is; anything
        else leaves the caller with no usable media, so the call is released with BYE."""
        call = r.call
        if call.pending is r.agent:
            call.pending = None
        if call.ended:
            return
        call.events.append((self.b2bua.clock.now(), f"restore failed {status}"))
        a, agent = call.a, r.agent
        if status == 491 and not r.answered and agent.confirmed and a.confirmed:
            self.b2bua._session_timers.release_held(call)
            return
        self.b2bua._hang_up(call, f"caller not restored to the agent ({status})")


class _Restore:
    """The state of one restore in progress (caller back with the agent after a failed join)."""

    __slots__ = ("call", "agent", "offer", "held", "answered")

    def __init__(self, call: BridgedCall, agent: Leg) -> None:
        self.call, self.agent = call, agent
        self.offer: bytes | None = None
        self.held = self.answered = False


class _Join:
    """The state of one join in progress."""

    __slots__ = ("call", "party", "agent_leg", "referrer")

    def __init__(self, call: BridgedCall, party: Leg, agent_leg: Leg, referrer: Leg) -> None:
        self.call, self.party, self.agent_leg, self.referrer = call, party, agent_leg, referrer
