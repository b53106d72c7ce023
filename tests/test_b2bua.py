"""The B2BUA on the loopback network, with real user agents as caller, agents, IVR and recorder."""

from __future__ import annotations

import pytest

from sizing.sip import parse
from sizing.sip.b2bua import (
    B2BUA,
    B2BUAConfig,
    CallbackRoute,
    FailurePolicy,
    HeaderPolicy,
    Reject,
    RoundRobin,
    Target,
)
from sizing.sip.interfaces import Address, ManualClock, TimerConfig
from sizing.sip.loopback import LoopbackNetwork, summarize
from sizing.sip.sdp import Capabilities
from sizing.sip.ua import AnswerPolicy, CallState, UserAgent

CALLER = Address("UDP", "10.0.0.1", 5060)
AGENT1 = Address("UDP", "10.0.0.2", 5060)
AGENT2 = Address("UDP", "10.0.0.3", 5060)
IVR = Address("UDP", "10.0.0.4", 5060)
RECORDER = Address("UDP", "10.0.0.5", 5060)
SERVER = Address("UDP", "10.0.0.10", 5060)
CAPS = Capabilities(codecs=["PCMA", "PCMU"])
TIMERS = TimerConfig(trying_delay=None)
UUI = "56a390f3d2b7310023a2;encoding=hex"


class Net:
    """A caller, two agents, an IVR and a recorder around one B2BUA."""

    def __init__(self, routing=None, *, config: B2BUAConfig | None = None,
                 agent1: AnswerPolicy | None = None, agent2: AnswerPolicy | None = None) -> None:
        self.clock = ManualClock()
        self.network = LoopbackNetwork(self.clock, latency_s=0.01)
        self.b2bua = B2BUA(self.clock, SERVER, routing or Target("sip:agent1@10.0.0.2"),
                           config=config, timers=TIMERS, seed=9)
        self.b2bua.connect(self.network)
        self.caller = self._ua(CALLER, "caller", 1, 40000, None)
        self.agent1 = self._ua(AGENT1, "agent1", 2, 41000, agent1)
        self.agent2 = self._ua(AGENT2, "agent2", 3, 42000, agent2)
        self.ivr = self._ua(IVR, "ivr", 4, 43000, None)
        self.recorder = self._ua(RECORDER, "recorder", 5, 44000, None)
        self.incoming: dict[str, list] = {}
        for ua in (self.agent1, self.agent2, self.ivr, self.recorder):
            ua.on_call = self.incoming.setdefault(ua.user, []).append

    def _ua(self, address: Address, user: str, seed: int, port: int, policy: AnswerPolicy | None) -> UserAgent:
        ua = UserAgent(self.clock, address, user=user, config=TIMERS, seed=seed, capabilities=CAPS,
                       media_port=port, policy=policy)
        ua.connect(self.network)
        return ua

    def call(self, **kwargs):
        return self.caller.invite("sip:sales@10.0.0.10", dest=SERVER, **kwargs)

    def run(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)

    def leg(self, x: Address, y: Address) -> list[str]:
        """The messages between two addresses, both directions, in order."""
        return [summarize(e.data) for e in self.network.log if {e.source, e.dest} == {x, y}]

    def sent(self, dest: Address, method: str):
        """The requests of ``method`` the B2BUA sent to ``dest``, parsed."""
        return [parse(e.data) for e in self.network.log
                if e.source == SERVER and e.dest == dest and summarize(e.data) == method]


@pytest.fixture
def net() -> Net:
    return Net()


def test_bridged_call_has_seven_messages_on_each_leg(net: Net) -> None:
    call = net.call()
    net.run()
    assert call.state is CallState.CONFIRMED
    net.caller.bye(call)
    net.run()
    assert net.leg(CALLER, SERVER) == ["INVITE", "100", "180", "200", "ACK", "BYE", "200"]
    assert net.leg(SERVER, AGENT1) == ["INVITE", "100", "180", "200", "ACK", "BYE", "200"]
    assert net.incoming["agent1"][0].state is CallState.ENDED


def test_leg_b_has_its_own_call_id_tags_and_cseq(net: Net) -> None:
    call = net.call()
    net.run()
    b_invite = net.sent(AGENT1, "INVITE")[0]
    assert b_invite.call_id != call.call_id
    assert b_invite.from_tag != call.invite.from_tag
    assert b_invite.cseq.number == 1
    assert [str(v) for v in b_invite.via] == [str(b_invite.top_via)]  # only the B2BUA's Via


def test_sdp_passes_through_both_ways(net: Net) -> None:
    call = net.call()
    net.run()
    agent_call = net.incoming["agent1"][0]
    assert agent_call.remote_sdp.media[0].port == 40000
    assert call.remote_sdp.media[0].port == 41000


def test_busy_agent_486_is_relayed_to_caller() -> None:
    net = Net(agent1=AnswerPolicy(status=486))
    call = net.call()
    net.run()
    assert (call.state, call.status) == (CallState.FAILED, 486)
    assert net.b2bua.stats.calls_failed == {486: 1}
    assert net.leg(SERVER, AGENT1) == ["INVITE", "100", "180", "486", "ACK"]


def test_server_error_maps_to_503_by_default() -> None:
    net = Net(agent1=AnswerPolicy(status=500))
    call = net.call()
    net.run()
    assert call.status == 503


def test_server_error_passes_through_when_configured() -> None:
    net = Net(agent1=AnswerPolicy(status=500),
              config=B2BUAConfig(failures=FailurePolicy(server_error_status=None)))
    call = net.call()
    net.run()
    assert call.status == 500


def test_unreachable_agent_times_out_as_configured() -> None:
    net = Net(Target("sip:ghost@10.0.0.99"), config=B2BUAConfig(failures=FailurePolicy(timeout_status=480)))
    call = net.call()
    net.run(40)
    assert call.status == 480


def test_cancel_before_answer_cancels_leg_b() -> None:
    net = Net(agent1=AnswerPolicy(ring_s=5))
    call = net.call()
    net.run()
    net.caller.cancel(call)
    net.run(2)
    assert call.status == 487
    assert net.incoming["agent1"][0].status == 487
    assert net.leg(SERVER, AGENT1) == ["INVITE", "100", "180", "CANCEL", "200", "487", "ACK"]
    assert net.b2bua.stats.calls_cancelled == 1


def test_bye_from_agent_is_relayed_to_caller(net: Net) -> None:
    call = net.call()
    net.run()
    net.agent1.bye(net.incoming["agent1"][0])
    net.run()
    assert call.state is CallState.ENDED
    assert net.leg(CALLER, SERVER)[-2:] == ["BYE", "200"]
    assert not net.b2bua.calls


def test_blind_transfer_by_refer_lands_on_second_agent(net: Net) -> None:
    call = net.call()
    net.run()
    first = net.incoming["agent1"][0]
    net.agent1.refer(first, "sip:agent2@10.0.0.3")
    net.run(2)
    second = net.incoming["agent2"][0]
    assert second.state is CallState.CONFIRMED
    assert first.state is CallState.ENDED
    assert first.refer_status == 200
    assert "reinvited" in call.kinds
    assert call.remote_sdp.media[0].port == 42000
    assert second.remote_sdp.media[0].port == 40000  # the caller's answer, in agent2's ACK
    net.caller.bye(call)
    net.run()
    assert second.state is CallState.ENDED
    assert net.b2bua.stats.transfers == 1


def test_refer_to_busy_target_notifies_failure_and_keeps_call(net: Net) -> None:
    net.agent2.policy = AnswerPolicy(status=486)
    call = net.call()
    net.run()
    first = net.incoming["agent1"][0]
    net.agent1.refer(first, "sip:agent2@10.0.0.3")
    net.run(2)
    assert first.refer_status == 486
    assert (call.state, first.state) == (CallState.CONFIRMED, CallState.CONFIRMED)
    assert net.b2bua.stats.transfers_failed == 1


def test_refer_from_the_caller_moves_the_agent_to_the_target(net: Net) -> None:
    """A carrier's REFER on leg A (RFC 3515): 202, NOTIFY 100 and 200, a new leg to the
    Refer-To target, the agent re-INVITEd with its SDP, and leg A released with BYE."""
    call = net.call()
    net.run()
    agent = net.incoming["agent1"][0]
    net.caller.refer(call, "sip:elsewhere@10.0.0.3")
    net.run(2)
    moved = net.incoming["agent2"][0]
    assert call.refer_status == 200
    assert call.state is CallState.ENDED
    assert (agent.state, moved.state) == (CallState.CONFIRMED, CallState.CONFIRMED)
    assert agent.remote_sdp.media[0].port == 42000
    assert moved.remote_sdp.media[0].port == 41000  # the agent's answer, in the target's ACK
    assert net.leg(CALLER, SERVER)[5:] == ["REFER", "202", "NOTIFY", "200", "NOTIFY", "BYE", "200", "200"]
    assert "reinvited" in agent.kinds
    net.agent1.bye(agent)
    net.run()
    assert moved.state is CallState.ENDED
    assert not net.b2bua.calls
    assert net.b2bua.stats.transfers == 1


def test_refer_from_the_caller_keeps_the_agents_sdp_origin(net: Net) -> None:
    call = net.call()
    net.run()
    agent = net.incoming["agent1"][0]
    net.caller.refer(call, "sip:elsewhere@10.0.0.3")
    net.run(2)
    offers = [parse(e.data) for e in net.network.log
              if e.source == SERVER and e.dest == AGENT1 and summarize(e.data) == "INVITE"]
    first, reinvite = (o.body.decode() for o in offers)
    origin = next(line for line in first.splitlines() if line.startswith("o="))
    again = next(line for line in reinvite.splitlines() if line.startswith("o="))
    assert origin.split()[:2] == again.split()[:2]  # same username and session id
    assert int(again.split()[2]) == int(origin.split()[2]) + 1
    assert agent.state is CallState.CONFIRMED


def test_refer_from_the_caller_to_a_busy_target_keeps_the_call(net: Net) -> None:
    net.agent2.policy = AnswerPolicy(status=486)
    call = net.call()
    net.run()
    net.caller.refer(call, "sip:elsewhere@10.0.0.3")
    net.run(2)
    assert call.refer_status == 486
    assert (call.state, net.incoming["agent1"][0].state) == (CallState.CONFIRMED, CallState.CONFIRMED)
    net.caller.bye(call)
    net.run()
    assert net.incoming["agent1"][0].state is CallState.ENDED
    assert not net.b2bua.calls


def test_ivr_first_then_agent_when_ivr_hangs_up() -> None:
    net = Net(config=B2BUAConfig(ivr=Target("sip:ivr@10.0.0.4")))
    call = net.call()
    net.run()
    ivr_call = net.incoming["ivr"][0]
    assert call.remote_sdp.media[0].port == 43000
    net.ivr.bye(ivr_call)
    net.run(2)
    agent = net.incoming["agent1"][0]
    assert agent.state is CallState.CONFIRMED
    assert call.state is CallState.CONFIRMED
    assert call.remote_sdp.media[0].port == 41000
    assert next(iter(net.b2bua.calls)).roles() == ["caller", "ivr", "agent"]


def test_reinvite_to_caller_keeps_one_sdp_origin_with_new_version() -> None:
    net = Net(config=B2BUAConfig(ivr=Target("sip:ivr@10.0.0.4")))
    call = net.call()
    net.run()
    before = call.remote_sdp.origin
    net.ivr.bye(net.incoming["ivr"][0])
    net.run(2)
    after = call.remote_sdp.origin
    assert (after.username, after.sess_id) == (before.username, before.sess_id)
    assert after.sess_version == before.sess_version + 1


def test_transfer_api_reconnects_caller_and_releases_old_leg(net: Net) -> None:
    call = net.call()
    net.run()
    bridged = next(iter(net.b2bua.calls))
    net.b2bua.transfer(bridged, "sip:agent2@10.0.0.3")
    net.run(2)
    assert net.incoming["agent2"][0].state is CallState.CONFIRMED
    assert net.incoming["agent1"][0].state is CallState.ENDED
    assert bridged.b.role == "agent" and bridged.b.target.uri.user == "agent2"
    assert call.state is CallState.CONFIRMED


def test_transfer_of_unanswered_call_is_refused() -> None:
    net = Net(agent1=AnswerPolicy(ring_s=5))
    net.call()
    net.run()
    with pytest.raises(ValueError, match="not bridged"):
        net.b2bua.transfer(next(iter(net.b2bua.calls)), "sip:agent2@10.0.0.3")


def test_recording_leg_gets_sendonly_offer_and_ends_with_call() -> None:
    net = Net(config=B2BUAConfig(recorder=Target("sip:rec@10.0.0.5")))
    call = net.call()
    net.run()
    recording = net.incoming["recorder"][0]
    assert recording.state is CallState.CONFIRMED
    assert recording.remote_sdp.media[0].direction == "sendonly"
    assert recording.remote_sdp.media[0].port == 40000
    net.caller.bye(call)
    net.run()
    assert recording.state is CallState.ENDED
    assert net.b2bua.stats.recordings == 1


def test_x_headers_and_uui_are_copied_other_headers_not(net: Net) -> None:
    net.call(headers=[("X-Customer-Id", "42"), ("User-to-User", UUI), ("P-Charging-Vector", "icid-value=1")])
    net.run()
    b_invite = net.sent(AGENT1, "INVITE")[0]
    assert b_invite.headers.get("X-Customer-Id") == "42"
    assert b_invite.headers.get("User-to-User") == UUI
    assert "P-Charging-Vector" not in b_invite.headers


def test_header_policy_strip_wins_over_copy() -> None:
    net = Net(config=B2BUAConfig(headers=HeaderPolicy(strip=("X-Secret",))))
    net.call(headers=[("X-Secret", "s"), ("X-Queue", "gold")])
    net.run()
    b_invite = net.sent(AGENT1, "INVITE")[0]
    assert ("X-Secret" in b_invite.headers, b_invite.headers.get("X-Queue")) == (False, "gold")


def test_round_robin_spreads_calls_over_agents() -> None:
    net = Net(RoundRobin(["sip:agent1@10.0.0.2", "sip:agent2@10.0.0.3"]))
    for _ in range(4):
        net.call()
    net.run()
    assert (len(net.incoming["agent1"]), len(net.incoming["agent2"])) == (2, 2)


def test_callback_returning_none_rejects_with_chosen_status() -> None:
    net = Net(CallbackRoute(lambda request: None, reject_status=480))
    call = net.call()
    net.run()
    assert call.status == 480
    assert net.b2bua.stats.legs_created == {}


def test_reject_decision_carries_status() -> None:
    net = Net(lambda request: Reject(404))
    call = net.call()
    net.run()
    assert call.status == 404


def test_no_answer_timer_cancels_agent_and_answers_480() -> None:
    net = Net(agent1=AnswerPolicy(ring_s=30), config=B2BUAConfig(no_answer_s=3))
    call = net.call()
    net.run(5)
    assert call.status == 480
    assert net.incoming["agent1"][0].status == 487


def test_late_offer_answer_travels_in_the_acks(net: Net) -> None:
    call = net.call(sdp=b"")
    net.run()
    agent = net.incoming["agent1"][0]
    assert call.state is CallState.CONFIRMED
    assert agent.remote_sdp is not None and agent.remote_sdp.media[0].port == 40000


def test_reinvite_from_caller_is_relayed_to_agent(net: Net) -> None:
    call = net.call()
    net.run()
    net.caller.reinvite(call)
    net.run()
    assert net.incoming["agent1"][0].kinds[-1] == "reinvited"
    assert call.kinds[-1] == "reinvited"
    assert net.b2bua.stats.relayed_requests == {"INVITE": 1}


def test_counters_track_bridged_calls(net: Net) -> None:
    first, second = net.call(), net.call()
    net.run()
    assert net.b2bua.bridged == 2
    net.caller.bye(first)
    net.run()
    stats = net.b2bua.stats
    assert (net.b2bua.bridged, stats.calls_in, stats.calls_answered, stats.calls_ended) == (1, 2, 2, 1)
    assert stats.as_dict()["legs_created_agent"] == 2
    assert second.state is CallState.CONFIRMED


def test_bad_target_is_refused_with_a_precise_error() -> None:
    with pytest.raises(ValueError, match="Target.uri"):
        Target("tel:+15551234")


def test_serve_b2bua_role_needs_forward_target() -> None:
    from sizing.net.server import ServeConfig, ServeError

    with pytest.raises(ServeError, match="--role b2bua needs --forward-to"):
        ServeConfig(role="b2bua", listen=Address("UDP", "127.0.0.1", 5070))


def test_header_policy_given_lists_decides_as_with_tuples() -> None:
    listed = HeaderPolicy(copy=["X-*", "Subject"], strip=["X-Secret"])  # type: ignore[arg-type]
    tupled = HeaderPolicy(copy=("X-*", "Subject"), strip=("X-Secret",))
    names = ["X-Tenant", "x-secret", "Subject", "Accept"]
    assert [listed.passes(n) for n in names] == [tupled.passes(n) for n in names] == [True, False, True, False]
