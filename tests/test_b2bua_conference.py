"""Conference at the B2BUA: three legs to a media server bridge, all released with the caller."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import TIMERS, loopback_ua

from sizing.sip import parse
from sizing.sip.b2bua import B2BUA, Target
from sizing.sip.interfaces import Address, ManualClock
from sizing.sip.loopback import LoopbackNetwork, summarize
from sizing.sip.ua import AnswerPolicy, CallState, SessionTimerConfig, UserAgent

CALLER = Address("UDP", "10.0.0.1", 5060)
AGENT = Address("UDP", "10.0.0.2", 5060)
BACKOFFICE = Address("UDP", "10.0.0.3", 5060)
MEDIA = Address("UDP", "10.0.0.4", 5060)
SERVER = Address("UDP", "10.0.0.10", 5060)
BRIDGE = Target("sip:conf=7@10.0.0.4")


class Centre:
    """A caller talking to an agent through the SIP Server; a back office and a media server."""

    def __init__(
        self, backoffice: AnswerPolicy | None = None, *, refresher: str | None = None
    ) -> None:
        """``refresher`` (``uac`` or ``uas``): the caller asks for Session-Expires 90 with that
        refresher (RFC 4028) and every other party supports session timers."""
        self.timers = refresher is not None
        self.clock = ManualClock()
        self.network = LoopbackNetwork(self.clock, latency_s=0.01)
        self.server = B2BUA(self.clock, SERVER, Target("sip:agent@10.0.0.2"), timers=TIMERS, seed=9)
        self.server.connect(self.network)
        caller_timer = SessionTimerConfig(expires=90, refresher=refresher) if refresher else None
        self.caller = self._ua(CALLER, "caller", 1, 40000, timer=caller_timer)
        self.agent = self._ua(AGENT, "agent", 2, 41000)
        self.backoffice = self._ua(BACKOFFICE, "backoffice", 3, 42000, backoffice)
        self.media = self._ua(MEDIA, "media", 4, 43000)
        self.incoming: dict[str, list] = {}
        for ua in (self.agent, self.backoffice, self.media):
            ua.on_call = self.incoming.setdefault(ua.user, []).append
        self.call = self.caller.invite("sip:sales@10.0.0.10", dest=SERVER)
        self.run()
        self.bridged = next(iter(self.server.calls))
        self.mark = len(self.network.log)

    def _ua(
        self,
        address: Address,
        user: str,
        seed: int,
        port: int,
        policy: AnswerPolicy | None = None,
        *,
        timer: SessionTimerConfig | None = None,
    ) -> UserAgent:
        if timer is None and self.timers:
            timer = SessionTimerConfig(expires=1800)
        return loopback_ua(self.network, address, user, seed, media_port=port, policy=policy, session_timer=timer)

    def run(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)

    def conference(self):  # type: ignore[no-untyped-def]
        conf = self.server.conference(self.bridged, "sip:backoffice@10.0.0.3", BRIDGE)
        self.run()
        return conf

    def since(self, mark: int, x: Address, y: Address) -> Counter[str]:
        return Counter(
            summarize(e.data) for e in self.network.log[mark:] if {e.source, e.dest} == {x, y}
        )

    def sent(self, mark: int, dest: Address, method: str) -> list:
        return [
            parse(e.data)
            for e in self.network.log[mark:]
            if e.source == SERVER and e.dest == dest and summarize(e.data) == method
        ]


@pytest.fixture
def centre() -> Centre:
    return Centre()


def test_three_bridge_legs_go_to_the_same_conference_uri(centre: Centre) -> None:
    conf = centre.conference()
    assert conf.state == "up" and centre.server.stats.conferences == 1
    invites = centre.sent(centre.mark, MEDIA, "INVITE")
    assert len(invites) == 3 and {str(i.uri) for i in invites} == {"sip:conf=7@10.0.0.4"}
    assert len({i.call_id for i in invites}) == 3
    assert [c.state for c in centre.incoming["media"]] == [CallState.CONFIRMED] * 3


def test_every_participant_sends_its_media_to_the_bridge(centre: Centre) -> None:
    centre.conference()
    backoffice_call = centre.incoming["backoffice"][0]
    agent_call = centre.incoming["agent"][0]
    for call in (centre.call, agent_call, backoffice_call):
        assert call.remote_sdp.media[0].port == 43000
    bridge_ports = sorted(c.remote_sdp.media[0].port for c in centre.incoming["media"])
    assert bridge_ports == [40000, 41000, 42000]


def test_the_conference_moves_caller_and_agent_with_one_reinvite_each(centre: Centre) -> None:
    centre.conference()
    one_reinvite = {"INVITE": 1, "200": 1, "ACK": 1}
    assert centre.since(centre.mark, CALLER, SERVER) == one_reinvite
    assert centre.since(centre.mark, AGENT, SERVER) == one_reinvite
    new_call = {"INVITE": 1, "100": 1, "180": 1, "200": 1, "ACK": 1}
    assert centre.since(centre.mark, BACKOFFICE, SERVER) == new_call
    assert centre.since(centre.mark, MEDIA, SERVER) == {k: 3 * v for k, v in new_call.items()}


def test_the_callers_bye_releases_every_leg_and_leaves_no_state(centre: Centre) -> None:
    conf = centre.conference()
    mark = len(centre.network.log)
    centre.caller.bye(centre.call)
    centre.run(40.0)
    assert len(centre.sent(mark, MEDIA, "BYE")) == 3
    assert (
        len(centre.sent(mark, AGENT, "BYE")) == 1 and len(centre.sent(mark, BACKOFFICE, "BYE")) == 1
    )
    assert conf.state == "ended" and centre.bridged.state == "ended"
    server = centre.server
    assert (
        not server.calls and not server._dialogs and not server._handlers and len(server.layer) == 0
    )
    assert [
        ua.dialogs for ua in (centre.caller, centre.agent, centre.backoffice, centre.media)
    ] == [0] * 4


def test_the_agent_leaving_keeps_caller_and_back_office_on_the_bridge(centre: Centre) -> None:
    conf = centre.conference()
    mark = len(centre.network.log)
    centre.agent.bye(centre.incoming["agent"][0])
    centre.run()
    assert len(centre.sent(mark, MEDIA, "BYE")) == 1  # only the agent's bridge leg
    assert conf.active and centre.call.state is CallState.CONFIRMED
    assert centre.incoming["backoffice"][0].state is CallState.CONFIRMED


def test_a_reinvite_from_the_caller_in_conference_goes_to_its_bridge_leg(centre: Centre) -> None:
    centre.conference()
    mark = len(centre.network.log)
    centre.caller.reinvite(centre.call)
    centre.run()
    assert centre.since(mark, MEDIA, SERVER) == {"INVITE": 1, "200": 1, "ACK": 1}
    assert centre.since(mark, AGENT, SERVER) == {}


def test_a_busy_third_party_leaves_the_two_party_call_untouched() -> None:
    centre = Centre(backoffice=AnswerPolicy(486))
    conf = centre.conference()
    assert conf.state == "failed" and conf.status == 486 and centre.bridged.conference is None
    assert centre.since(centre.mark, MEDIA, SERVER) == {}
    assert centre.since(centre.mark, CALLER, SERVER) == {}
    assert centre.call.remote_sdp.media[0].port == 41000  # still talking to the agent


def test_conference_needs_a_bridged_call(centre: Centre) -> None:
    centre.caller.bye(centre.call)
    centre.run()
    with pytest.raises(ValueError, match=r"call #1 is ended, not bridged"):
        centre.server.conference(centre.bridged, "sip:backoffice@10.0.0.3", BRIDGE)


@pytest.mark.parametrize("refresher", ["uac", "uas"])
def test_each_participant_of_a_conference_gets_one_refresh_per_half_interval(
    refresher: str,
) -> None:
    """RFC 4028 on the bridge: each participant with its bridge leg keeps the call's 90 s
    and exactly one refresher (the caller's side refreshes when the caller did; else the
    agent's side), so no dialog sees doubled refreshes and no session expires."""
    centre = Centre(refresher=refresher)
    conf = centre.conference()
    mark = len(centre.network.log)
    centre.run(1000.0)
    assert conf.active
    half_intervals = 1000 // 45
    ups = Counter(
        (e.source, e.dest) for e in centre.network.log[mark:] if summarize(e.data) == "UPDATE"
    )
    caller_refreshes = refresher == "uac"
    for party, refreshes in (
        (CALLER, caller_refreshes),
        (AGENT, not caller_refreshes),
        (BACKOFFICE, not caller_refreshes),
    ):
        sender, receiver = (party, SERVER) if refreshes else (SERVER, party)
        assert (ups[(sender, receiver)], ups[(receiver, sender)]) == (half_intervals, 0), party
    from_media, to_media = ups[(MEDIA, SERVER)], ups[(SERVER, MEDIA)]
    assert from_media + to_media == 3 * half_intervals  # one refresh stream per bridge leg
    uas = (centre.caller, centre.agent, centre.backoffice, centre.media)
    assert [ua.stats.session_expiries for ua in uas] == [0] * 4


def test_bridge_legs_carry_the_calls_session_interval_and_refresher() -> None:
    centre = Centre(refresher="uac")
    centre.conference()
    expires = [i.headers.get("Session-Expires") for i in centre.sent(centre.mark, MEDIA, "INVITE")]
    # the third party's, the caller's and the agent's bridge legs, in the order they are made
    assert expires == ["90;refresher=uas", "90;refresher=uac", "90;refresher=uas"]
    moves = [
        i.headers.get("Session-Expires")
        for d in (CALLER, AGENT)
        for i in centre.sent(centre.mark, d, "INVITE")
    ]
    assert moves == ["90;refresher=uas", "90;refresher=uac"]  # the caller still refreshes its own
