"""RFC 4028 session timers end to end: through the B2BUA, in the simulator, in the closed form."""

from __future__ import annotations

import math

import pytest
import simpy
from conftest import TIMERS, loopback_ua

from sizing.plan import LEG, link_messages, refreshes_per_call
from sizing.scenario import ScenarioError, scenario_from_mapping
from sizing.sim.flows import CallCentre
from sizing.sim.topology import build_topology
from sizing.sip import parse
from sizing.sip.b2bua import B2BUA, Target
from sizing.sip.b2bua.session_timer import HOLD_S
from sizing.sip.interfaces import Address, ManualClock
from sizing.sip.loopback import LoopbackNetwork, summarize
from sizing.sip.ua import AnswerPolicy, CallState, SessionTimerConfig, UserAgent

CALLER = Address("UDP", "10.0.0.1", 5060)
AGENT1 = Address("UDP", "10.0.0.2", 5060)
AGENT2 = Address("UDP", "10.0.0.3", 5060)
SERVER = Address("UDP", "10.0.0.10", 5060)


class Net:
    """A caller (the refresher, Session-Expires 90) and two agents around one B2BUA."""

    def __init__(
        self, method: str = "UPDATE", *, agents_timer: bool = True, agent2_ring_s: float = 3.0
    ) -> None:
        self.clock = ManualClock()
        self.network = LoopbackNetwork(self.clock, latency_s=0.01)
        self.b2bua = B2BUA(self.clock, SERVER, Target("sip:agent1@10.0.0.2"), timers=TIMERS, seed=9)
        self.b2bua.connect(self.network)
        caller_timer = SessionTimerConfig(expires=90, refresher="uac", method=method)
        agent_timer = SessionTimerConfig(expires=1800, method=method) if agents_timer else None
        self.caller = self._ua(CALLER, "caller", 1, caller_timer)
        self.agent1 = self._ua(AGENT1, "agent1", 2, agent_timer)
        self.agent2 = self._ua(AGENT2, "agent2", 3, agent_timer, AnswerPolicy(ring_s=agent2_ring_s))

    def _ua(
        self,
        address: Address,
        user: str,
        seed: int,
        timer: SessionTimerConfig | None,
        policy: AnswerPolicy | None = None,
    ) -> UserAgent:
        return loopback_ua(self.network, address, user, seed, session_timer=timer, policy=policy)

    def held_call(self, seconds: float):  # type: ignore[no-untyped-def]
        """A call held ``seconds`` after the INVITE, then ended by the caller's BYE."""
        call = self.caller.invite("sip:sales@10.0.0.10", dest=SERVER)
        self.clock.advance(seconds)
        assert call.state is CallState.CONFIRMED
        self.caller.bye(call)
        self.clock.advance(5.0)
        return call

    def leg(self, x: Address, y: Address) -> list[str]:
        return [summarize(e.data) for e in self.network.log if {e.source, e.dest} == {x, y}]


def _ended_by(call) -> str:  # type: ignore[no-untyped-def]
    return next(e.detail for e in call.events if e.kind == "ended")


def test_update_refreshes_cross_both_legs_and_the_caller_hangs_up() -> None:
    net = Net()
    call = net.held_call(200.0)
    refreshes = ["UPDATE", "200"] * 4
    assert net.leg(CALLER, SERVER) == [
        "INVITE",
        "100",
        "180",
        "200",
        "ACK",
        *refreshes,
        "BYE",
        "200",
    ]
    assert net.leg(SERVER, AGENT1) == [
        "INVITE",
        "100",
        "180",
        "200",
        "ACK",
        *refreshes,
        "BYE",
        "200",
    ]
    assert net.caller.stats.session_refreshes == 4  # the caller refreshes, as it asked
    assert _ended_by(call) == "local BYE"


def test_reinvite_refreshes_are_relayed_with_their_ack() -> None:
    net = Net("INVITE")
    net.held_call(200.0)
    refreshes = ["INVITE", "200", "ACK"] * 4
    assert net.leg(SERVER, AGENT1)[5:-2] == refreshes
    assert net.leg(CALLER, SERVER)[5:-2] == refreshes


def test_leg_b_gets_the_callers_session_expires_and_a_gets_the_answer() -> None:
    net = Net()
    net.held_call(10.0)
    invite_b = next(parse(e.data) for e in net.network.log if e.dest == AGENT1)
    ok_a = next(
        parse(e.data) for e in net.network.log if e.dest == CALLER and summarize(e.data) == "200"
    )
    assert invite_b.headers.get("Session-Expires") == "90;refresher=uac"
    assert ok_a.headers.get("Session-Expires") == "90;refresher=uac"
    assert ok_a.headers.get("Require") == "timer"


def test_agent_without_timer_gets_the_section_8_insertion_and_the_call_outlives_ten_intervals() -> (
    None
):
    net = Net(agents_timer=False)
    call = net.held_call(905.0)  # ten intervals and the round trips each refresh adds
    assert net.caller.stats.session_refreshes == 20  # every 45 s
    assert net.agent1.stats.requests_received["UPDATE"] == 20
    assert net.caller.stats.session_expiries == 0
    assert _ended_by(call) == "local BYE"


def test_a_refresh_during_a_transfer_waits_for_the_new_agent_instead_of_491() -> None:
    net = Net()
    call = net.caller.invite("sip:sales@10.0.0.10", dest=SERVER)
    net.clock.advance(43.0)  # the first refresh is due at about 45 s, while agent2 rings 3 s
    bridged = next(iter(net.b2bua.calls))
    net.b2bua.transfer(bridged, Target("sip:agent2@10.0.0.3"))
    net.clock.advance(400.0)
    assert call.state is CallState.CONFIRMED
    assert net.caller.stats.responses_received[491] == 0
    assert net.agent2.stats.requests_received["UPDATE"] >= 8
    assert net.agent2.stats.session_expiries == 0


def _transfer_during_the_first_refresh(net: Net):  # type: ignore[no-untyped-def]
    """A call whose first refresh (due at about 45 s) meets a transfer to agent2 (ringing)."""
    call = net.caller.invite("sip:sales@10.0.0.10", dest=SERVER)
    net.clock.advance(43.0)
    bridged = next(iter(net.b2bua.calls))
    net.b2bua.transfer(bridged, Target("sip:agent2@10.0.0.3"))
    return call, bridged


def _sent(net: Net, source: Address, dest: Address, what: str) -> list[float]:
    """When each ``what`` (method or status) went from ``source`` to ``dest``."""
    return [
        e.time
        for e in net.network.log
        if (e.source, e.dest) == (source, dest) and summarize(e.data) == what
    ]


def test_a_held_refresh_is_relayed_the_moment_the_transfer_completes() -> None:
    net = Net()
    _, bridged = _transfer_during_the_first_refresh(net)
    net.clock.advance(10.0)
    arrived = _sent(net, CALLER, SERVER, "UPDATE")[0] + net.network.latency_s
    completed = next(t for t, text in bridged.events if text.startswith("reconnected to agent"))
    relayed = _sent(net, SERVER, AGENT2, "UPDATE")[0]
    assert completed - arrived > 0.5  # it was held while agent2 rang
    assert relayed == pytest.approx(completed, abs=1e-9)  # not on a polling tick after it
    assert _sent(net, SERVER, CALLER, "491") == []


def test_a_held_refresh_whose_caller_hangs_up_is_answered_481_at_once() -> None:
    net = Net()
    call, bridged = _transfer_during_the_first_refresh(net)
    net.clock.advance(2.1)  # the refresh is held, agent2 still rings
    assert len(bridged.held_refreshes) == 1
    net.caller.bye(call)
    net.clock.advance(1.0)
    bye_in = _sent(net, CALLER, SERVER, "BYE")[0] + net.network.latency_s
    assert _sent(net, SERVER, CALLER, "481") == [pytest.approx(bye_in, abs=1e-9)]
    assert bridged.held_refreshes == [] and bridged.state == "ended"


def test_a_refresh_held_longer_than_hold_s_gets_491_once_from_the_safety_timer() -> None:
    net = Net(agent2_ring_s=12.0)
    _transfer_during_the_first_refresh(net)
    net.clock.advance(11.0)  # agent2 answers at 55 s, after the hold has run out
    arrived = _sent(net, CALLER, SERVER, "UPDATE")[0] + net.network.latency_s
    assert _sent(net, SERVER, CALLER, "491") == [pytest.approx(arrived + HOLD_S, abs=1e-9)]
    assert _sent(net, SERVER, AGENT2, "UPDATE") == []


def _scenario(**trunk):  # type: ignore[no-untyped-def]
    return scenario_from_mapping(
        {
            "warmup_s": 0, "simulation": {"start": "empty"},
            "duration_s": 600,
            "traffic": {
                "calls_per_second": 0.02,
                "holding_time_s": 300,
                "holding": {"kind": "fixed"},
            },
            "trunk": {"channels": 20, **trunk},
            "topology": {"proxy": {"instances": 1}},
        }
    )


@pytest.fixture(scope="module")
def simulated():  # type: ignore[no-untyped-def]
    """About a dozen calls of 300 s with Session-Expires 90 on sbc -> proxy -> SIP Server."""
    scenario = _scenario(session_expires_s=90)
    env = simpy.Environment()
    topo = build_topology(scenario, env, seed=3)
    centre = CallCentre(topo, 3)
    centre.start()
    env.run(until=1000.0)
    return scenario, topo, centre


def test_simulated_calls_refresh_every_half_interval_and_all_complete(simulated) -> None:  # type: ignore[no-untyped-def]
    _, topo, centre = simulated
    kpis = centre.figures()
    rx = {k: sum(v) for k, v in topo.net.metrics.hosts["sip_server-1"].rx.items()}
    assert kpis["calls_offered"] >= 5
    assert kpis["calls_completed"] == kpis["calls_offered"]
    assert rx["UPDATE"] == 6 * kpis["calls_offered"]  # floor(300 / 45) per call


def test_closed_form_messages_per_call_match_the_simulation(simulated) -> None:  # type: ignore[no-untyped-def]
    scenario, topo, centre = simulated
    calls = centre.figures()["calls_offered"]
    rx = topo.net.metrics.hosts["sip_server-1"].rx
    simulated_per_call = sum(sum(v) for v in rx.values()) / calls
    links = link_messages(scenario)
    requests_in = sum(n for k, n in links[("proxy", "sip_server")].items() if not k.endswith("xx"))
    responses_in = sum(n for k, n in links[("sip_server", "agents")].items() if k.endswith("xx"))
    assert simulated_per_call == pytest.approx(requests_in + responses_in, rel=0.03)


def test_carrier_refreshes_with_reinvite_count_the_ack_and_the_proxies_100() -> None:
    links = link_messages(_scenario(session_expires_s=90, session_refresh="invite"))
    assert links[("carrier", "sbc")]["INVITE"] == 1 + 6
    assert links[("carrier", "sbc")]["ACK"] == 1 + 6
    assert links[("carrier", "sbc")]["1xx"] == 2 + 6  # the SBC's 100 to every re-INVITE
    assert links[("proxy", "sip_server")]["1xx"] == 2  # the SIP Server answers at once


def test_exponential_holding_gives_the_geometric_refresh_count() -> None:
    scenario = scenario_from_mapping(
        {
            "traffic": {"calls_per_second": 1, "holding_time_s": 180},
            "trunk": {"channels": 10, "session_expires_s": 90},
        }
    )
    assert refreshes_per_call(scenario) == pytest.approx(1 / (math.exp(90 / (2 * 180)) - 1))


def test_session_expires_below_90_is_rejected_naming_the_field() -> None:
    with pytest.raises(ScenarioError, match=r"trunk\.session_expires_s"):
        _scenario(session_expires_s=60)


def test_without_session_timer_nothing_changes() -> None:
    scenario = _scenario()
    assert all(counts == LEG for counts in link_messages(scenario).values())
    topo = build_topology(scenario, simpy.Environment(), seed=1)
    assert topo.carrier.session_timer is None and topo.agents.session_timer is None
