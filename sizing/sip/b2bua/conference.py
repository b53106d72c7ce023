"""Three-party conference at the SIP Server, mixed on a media server's bridge.

Theory of operation
-------------------

As contact-centre SIP Servers do, the B2BUA does not mix media: it asks a
media server to. :meth:`Conferences.conference` turns a bridged call (caller
on leg A, agent on leg B) into a conference with a third party:

1. the third party is called with an INVITE without SDP (a ``participant``
   leg of the same call);
2. when it answers, its offer goes in an INVITE to the bridge (a ``bridge``
   leg to the conference URI, e.g. ``sip:conf=7@media``) and the bridge's
   answer goes in the third party's ACK;
3. then the caller and the agent are each moved with RFC 3725 Flow I: a
   re-INVITE without SDP, its 2xx offer in an INVITE to the bridge, the
   bridge's answer in the participant's ACK.

Three bridge legs, all to the same URI, one per participant. While the
conference is up an in-dialog request from a participant is relayed to its
bridge leg and back. When the caller hangs up every leg is released; when
another participant leaves, its bridge leg is released, and the call ends
when fewer than two participants remain. A failure before the caller or the
agent was moved leaves the two-party call as it was; a failure after that
ends the call (their media already points at the bridge).

With a session timer (RFC 4028) the third party's INVITE, the move re-INVITEs
and every bridge leg carry the call's interval, and each participant with its
bridge leg gets exactly one refresher (see :mod:`.session_timer`); without it
the bridge and the participants would each pick their own and refresh twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..message import Response
from ..uri import URI
from .call import BridgedCall, Leg, LegState
from .features import ALLOW, SDP, is_sdp
from .policy import Target

if TYPE_CHECKING:
    from .context import ConferenceContext

__all__ = ["Conference", "Conferences"]


class Conference:
    """One conference of a :class:`BridgedCall`: its bridge target, the third party's leg,
    the bridge legs, and which participant each bridge leg serves.

    ``state`` is starting, up, failed or ended; ``on_change(conference)`` is told
    when it becomes up, failed or ended.
    """

    def __init__(self, call: BridgedCall, bridge: Target) -> None:
        self.call = call
        self.bridge = bridge
        self.state = "starting"
        self.status: int | None = None
        """The status that failed the conference."""
        self.party: Leg | None = None
        self.bridges: list[Leg] = []
        self.pairs: dict[Leg, Leg] = {}
        """Participant leg -> its bridge leg and bridge leg -> participant, once joined."""
        self.moving = False
        """The caller or the agent has been asked to move to the bridge."""
        self.on_change: Callable[[Conference], object] | None = None

    def __repr__(self) -> str:
        return f"<Conference of call #{self.call.number} {self.state} bridges={len(self.bridges)}>"

    @property
    def active(self) -> bool:
        return self.state == "up" and not self.call.ended

    def peer(self, leg: Leg) -> Leg | None:
        """Where an in-dialog request from ``leg`` is relayed: its pair, once the
        conference is up and the pair is connected."""
        if self.state != "up":
            return None
        other = self.pairs.get(leg)
        return other if other is not None and other.confirmed else None


def _target(value: Target | URI | str, what: str) -> Target:
    if isinstance(value, Target):
        return value
    if isinstance(value, URI | str):
        return Target(value if isinstance(value, URI) else URI.parse(value))
    raise ValueError(f"conference(): {what} must be a Target, a URI or a string, got {value!r}")


class Conferences:
    """Conferences on a media server bridge; held by the B2BUA as its ``_conferences``."""

    def __init__(self, b2bua: ConferenceContext) -> None:
        self.b2bua = b2bua

    def conference(
        self, call: BridgedCall, third_party: Target | URI | str, bridge: Target | URI | str
    ) -> Conference:
        """Conference ``third_party`` into a bridged ``call`` on the mixer at ``bridge``
        (a conference URI on a media server). Returns the :class:`Conference`."""
        if call.state != "bridged":
            raise ValueError(f"conference(): call #{call.number} is {call.state}, not bridged")
        if call.pending is not None or call.conference is not None:
            raise ValueError(
                f"conference(): call #{call.number} already has a transfer or conference "
                "in progress"
            )
        b = call.b
        if b is None or not b.confirmed or not call.a.confirmed:
            raise ValueError(f"conference(): call #{call.number} has no connected leg B")
        party_target, bridge_target = _target(third_party, "third_party"), _target(bridge, "bridge")
        conf = Conference(call, bridge_target)
        call.conference = conf
        call.events.append(
            (self.b2bua.clock.now(), f"conference with {party_target.uri} on {bridge_target.uri}")
        )
        headers = [
            *self.b2bua.config.headers.select(call.request.headers),
            *self.b2bua._session_timers.new_leg_headers(call),
        ]
        party = self.b2bua._start_leg(call, "participant", party_target, headers=headers)
        conf.party = party
        party.on_answer = lambda leg, response: self._party_answered(conf, leg, response)
        party.on_fail = lambda leg, status, response: self._conference_failed(conf, status)
        if self.b2bua.config.no_answer_s is not None:
            party.ring_timer = self.b2bua.clock.call_later(
                self.b2bua.config.no_answer_s, lambda: self._party_no_answer(conf, party)
            )
        return conf

    def _party_no_answer(self, conf: Conference, party: Leg) -> None:
        party.ring_timer = None
        if party.state in (LegState.CALLING, LegState.EARLY):
            self.b2bua._cancel_leg(party)
            self._conference_failed(conf, self.b2bua.config.no_answer_status)

    def _party_answered(self, conf: Conference, party: Leg, response: Response) -> None:
        """Step 2: the third party's offer goes to its bridge leg."""
        if party.ring_timer is not None:
            party.ring_timer.cancel()
            party.ring_timer = None
        if conf.state != "starting" or not is_sdp(response):
            self.b2bua._bye(party)  # _bye ACKs the 2xx first
            self._conference_failed(conf, 488)
            return
        self._bridge_leg(conf, party, response.body)

    def _bridge_leg(self, conf: Conference, participant: Leg, offer: bytes) -> None:
        leg = self.b2bua._start_leg(
            conf.call,
            "bridge",
            conf.bridge,
            body=offer,
            content_type=SDP,
            headers=self.b2bua._session_timers.bridge_leg_headers(conf.call, participant),
        )
        conf.bridges.append(leg)
        leg.on_answer = lambda bl, response: self._bridge_answered_for(
            conf, participant, bl, response
        )
        leg.on_fail = lambda bl, status, response: self._conference_failed(conf, status)

    def _bridge_answered_for(
        self, conf: Conference, participant: Leg, bridge: Leg, response: Response
    ) -> None:
        """A bridge leg answered (and was ACKed): its answer goes in the participant's ACK."""
        call = conf.call
        if conf.state != "starting" or not participant.live or not is_sdp(response):
            self.b2bua._bye(bridge)
            self._conference_failed(conf, 488 if participant.live else 487)
            return
        answer = self.b2bua._to_a(call.a, response.body) if participant is call.a else response.body
        self.b2bua._send_ack(participant, answer, SDP)
        conf.pairs[participant] = bridge
        conf.pairs[bridge] = participant
        if participant is conf.party:
            conf.moving = True
            for leg in (call.a, call.b):
                assert leg is not None
                self._move(conf, leg)
        elif len(conf.pairs) == 6:
            self._conference_up(conf)

    def _move(self, conf: Conference, leg: Leg) -> None:
        """Step 3: a re-INVITE without SDP asks the caller (or agent) for a fresh offer."""
        call = conf.call
        timer = (
            self.b2bua._session_timers.reinvite_a_headers(call)
            if leg is call.a
            else self.b2bua._session_timers.new_leg_headers(call)
        )
        self.b2bua._glare.reinvite(
            leg,
            lambda r: self._moved_offer(conf, leg, r),
            lambda: conf.state == "starting",
            headers=[("Allow", ALLOW), *timer],
        )

    def _moved_offer(self, conf: Conference, leg: Leg, response: Response) -> None:
        status = response.status
        if status >= 300:
            self._conference_failed(conf, status)
            return
        if conf.state != "starting" or not is_sdp(response):
            self.b2bua._send_ack(leg)
            self._conference_failed(conf, 488)
            return
        self._bridge_leg(conf, leg, response.body)

    def _conference_up(self, conf: Conference) -> None:
        call = conf.call
        conf.state = "up"
        self.b2bua.stats.conferences += 1
        call.events.append((self.b2bua.clock.now(), f"conference up on {conf.bridge.uri}"))
        self.b2bua._state(call, "conference")
        self.b2bua._session_timers.release_held(call)
        if conf.on_change is not None:
            conf.on_change(conf)

    def _conference_failed(self, conf: Conference, status: int) -> None:
        """Undo a conference that could not be set up (see the module docstring)."""
        if conf.state != "starting":
            return
        call = conf.call
        conf.state, conf.status = "failed", status
        self.b2bua.stats.conferences_failed += 1
        call.events.append((self.b2bua.clock.now(), f"conference failed {status}"))
        if conf.moving:
            self.b2bua._hang_up(call, f"conference failed {status}")
        else:
            call.conference = None
            for leg in (conf.party, *conf.bridges):
                if leg is None:
                    continue
                if leg.confirmed:
                    self.b2bua._bye(leg)
                elif leg.live:
                    self.b2bua._cancel_leg(leg)
            self.b2bua._session_timers.release_held(call)  # back to the two-party call
        if conf.on_change is not None:
            conf.on_change(conf)

    def leg_ended(self, leg: Leg) -> bool:
        """A leg of a conference call was hung up by its far end; True when handled here
        (False: the B2BUA's usual rules apply, e.g. the caller's BYE ends the call)."""
        call = leg.call
        conf = call.conference
        if conf is None or conf.state in ("failed", "ended"):
            return False
        if leg is call.a:
            self._conference_ended(conf)
            return False
        if conf.state == "starting":
            if leg is conf.party or leg in conf.bridges:
                self._conference_failed(conf, 487)
                return True
            return False
        partner = conf.pairs.get(leg)
        if partner is call.a:  # the caller's bridge leg: nothing left to hear
            self._conference_ended(conf)
            self.b2bua._hang_up(call, "caller's bridge leg ended")
            return True
        if partner is not None and partner.confirmed:
            self.b2bua._bye(partner)
        remaining = [p for p in (call.a, call.b, conf.party) if p is not None and p.confirmed]
        if len(remaining) < 2:
            self._conference_ended(conf)
            self.b2bua._hang_up(call, "conference has one participant left")
        return True

    def _conference_ended(self, conf: Conference) -> None:
        conf.state = "ended"
        conf.call.events.append((self.b2bua.clock.now(), "conference ended"))
        if conf.on_change is not None:
            conf.on_change(conf)
