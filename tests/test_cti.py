"""CTI as the SIP Server's T-Server interface (sizing.models.cti): clients get the events of
the DNs they register for, the events come from the call's flow, the SIP Server pays per
event delivered and per request, and the bytes are reported as CTI."""

from __future__ import annotations

from typing import Any

import pytest

from sizing.app.form import describe, fields
from sizing.models import tls as tls_model
from sizing.models.cti import AGENT, EVENTS, OTHER, UNANSWERED, cti_model, outcome
from sizing.models.profile import load_profile
from sizing.plan import closed_form, plan
from sizing.report.tables import links_table
from sizing.scenario import FLOWS, Scenario, ScenarioError, scenario_from_mapping
from sizing.sim.simulate import simulate

CPS = 2.0
PROFILE = load_profile("generic-b2bua")
EVENT_US, REQUEST_US = PROFILE.per_message_us["cti_event"], PROFILE.per_message_us["cti_request"]


def scenario(cti: dict[str, Any] | None = None, *, mix: dict[str, float] | None = None,
             agents: int = 40, **extra: Any) -> Scenario:
    """A small contact centre at low load: 40 agents, one host per role, no recorder."""
    data: dict[str, Any] = {
        "seed": 5, "duration_s": 150,
        "traffic": {"calls_per_second": CPS, "holding_time_s": 6, "holding": {"kind": "fixed"},
                    "mix": mix or {"basic": 1.0}},
        "trunk": {"channels": 1000},
        "agents": {"count": agents, "registered": False},
        "topology": {"proxy": {"instances": 1}, "recorder": {"enabled": False},
                     "registrar": {"enabled": False}},
        **extra,
    }
    if cti is not None:
        data["cti"] = cti
    return scenario_from_mapping(data)


def event_wire(size: int = 400) -> tls_model.WireBytes:
    return tls_model.wire_bytes(size, "tcp", net=tls_model.NetParams())


def cti_way(cf: Any, src: str) -> float:
    """CTI Mbps the closed form sends from ``src`` on the SIP Server <-> CTI link."""
    ways = cf.directions.set_index(["src", "dst"])
    dst = "cti" if src == "sip_server" else "sip_server"
    return float(ways.loc[(src, dst), "cti_mbps"]) if (src, dst) in ways.index else 0.0


def sip_server_cores(cf: Any) -> float:
    return float(cf.roles.set_index("role").loc["sip_server", "busy_cores"])


# -- who receives what ------------------------------------------------------------------------

def test_every_flow_raises_its_own_events() -> None:
    assert set(FLOWS) <= set(EVENTS)
    names = {flow: [name for name, _ in EVENTS[flow]] for flow in EVENTS}
    agent = [name for name, dn in EVENTS["basic"] if dn == AGENT]
    assert agent == ["ringing", "established", "released"]
    assert {"held", "transferred"} <= set(names["consult_transfer"])
    assert "party_added" in names["conference"]
    assert names["abandoned"][-2:] == ["ringing", "abandoned"]
    assert len(EVENTS["ivr_then_agent"]) > len(EVENTS["basic"])  # the IVR port's events


def test_a_desktop_receives_only_its_agents_events() -> None:
    model = cti_model(scenario({"desktops": 40}), PROFILE)
    assert model is not None
    for flow in ("basic", "busy_no_answer", "consult_transfer"):
        on_agent = sum(1 for _, dn in EVENTS[flow] if dn == AGENT)
        assert model.call(flow).deliveries == on_agent  # route point and back office: nobody


def test_a_monitor_receives_every_event_and_a_supervisor_its_groups() -> None:
    monitors = cti_model(scenario({"monitors": 3}), PROFILE)
    supervisors = cti_model(scenario({"supervisors": 2, "group_size": 10}), PROFILE)
    assert monitors is not None and supervisors is not None
    for flow in FLOWS:
        assert monitors.call(flow).deliveries == 3 * len(EVENTS[flow])
        on_agent = sum(1 for _, dn in EVENTS[flow] if dn == AGENT)
        # 2 groups of 10 of the 40 agents: half the calls' agent DNs are watched
        assert supervisors.call(flow).deliveries == pytest.approx(on_agent * 2 * 10 / 40)


def test_without_agents_only_monitors_see_the_calls() -> None:
    model = cti_model(scenario({"desktops": 10, "supervisors": 2, "monitors": 1}, agents=0),
                      PROFILE)
    assert model is not None
    assert model.call("basic").deliveries == len(EVENTS["basic"])
    assert model.call("basic").requests == 0


def test_a_call_the_sip_server_never_took_raises_no_event() -> None:
    assert outcome("basic", blocked=True, status=503, agent_answered=False, agents=True) is None
    assert outcome("basic", blocked=False, status=503, agent_answered=False, agents=True) is None
    assert outcome("basic", blocked=False, status=None, agent_answered=False,
                   agents=True) == UNANSWERED
    assert outcome("busy_no_answer", blocked=False, status=486, agent_answered=False,
                   agents=True) == "busy_no_answer"
    assert all(dn == OTHER for _, dn in EVENTS[UNANSWERED])


# -- bytes and CPU in the closed form ---------------------------------------------------------

def test_mbps_follows_subscribers_times_events_times_bytes() -> None:
    wire = event_wire()
    for monitors in (1, 4, 200):
        cf = closed_form(scenario({"monitors": monitors}))
        expected = CPS * monitors * len(EVENTS["basic"]) * wire.forward * 8 / 1e6
        assert cti_way(cf, "sip_server") == pytest.approx(expected)
        assert cti_way(cf, "cti") == pytest.approx(expected * wire.reverse / wire.forward)
    bigger = closed_form(scenario({"monitors": 4, "bytes_per_event": 1200}))
    assert cti_way(bigger, "sip_server") == pytest.approx(
        CPS * 4 * len(EVENTS["basic"]) * event_wire(1200).forward * 8 / 1e6)


def test_sip_server_cpu_rises_with_monitors_and_supervisors() -> None:
    base = sip_server_cores(closed_form(scenario()))
    events = len(EVENTS["basic"])
    on_agent = sum(1 for _, dn in EVENTS["basic"] if dn == AGENT)
    for monitors in (1, 10, 100):
        cores = sip_server_cores(closed_form(scenario({"monitors": monitors})))
        assert cores - base == pytest.approx(CPS * monitors * events * EVENT_US / 1e6)
    supervised = sip_server_cores(closed_form(scenario({"supervisors": 4, "group_size": 10})))
    assert supervised - base == pytest.approx(CPS * on_agent * EVENT_US / 1e6)  # each agent watched once
    wider = sip_server_cores(closed_form(scenario({"supervisors": 4, "group_size": 20})))
    assert wider - base == pytest.approx(2 * (supervised - base))  # each agent watched twice


def test_desktop_requests_cost_cti_request_and_travel_from_the_clients() -> None:
    quiet = closed_form(scenario({"desktops": 40}))
    busy = closed_form(scenario({"desktops": 40, "requests_per_call": 3}))
    assert sip_server_cores(busy) - sip_server_cores(quiet) == pytest.approx(
        CPS * 3 * REQUEST_US / 1e6)
    request = tls_model.wire_bytes(200, "tcp", net=tls_model.NetParams())
    assert cti_way(busy, "cti") - cti_way(quiet, "cti") == pytest.approx(
        CPS * 3 * request.forward * 8 / 1e6)
    longer = closed_form(scenario({"desktops": 40, "requests_per_call": 3, "bytes_per_request": 1000}))
    assert cti_way(longer, "cti") - cti_way(busy, "cti") == pytest.approx(
        CPS * 3 * (event_wire(1000).forward - request.forward) * 8 / 1e6)


def test_no_cti_client_means_no_cti_link_and_no_cti_cpu() -> None:
    cf = closed_form(scenario())
    assert not cf.directions["link"].str.contains("cti").any()
    assert cf.directions["cti_mbps"].sum() == 0
    old_off = closed_form(scenario({"clients": 0, "events_per_call": 8, "bytes_per_event": 400}))
    assert old_off.directions.equals(cf.directions)  # the earlier "no client" still loads
    assert old_off.roles.equals(cf.roles)


# -- reports ----------------------------------------------------------------------------------

def test_cti_bytes_are_reported_as_cti_not_signalling() -> None:
    p = plan(scenario({"desktops": 40, "monitors": 2}), simulate=False)
    table = links_table(p).set_index("Direction")
    row = table.loc["SIP Server → cti"]
    assert row["CTI (Mbps)"] > 0 and row["Signalling (Mbps)"] == 0
    assert row["Total (Mbps)"] == row["CTI (Mbps)"]
    assert (table.drop(index=["SIP Server → cti", "cti → SIP Server"])["CTI (Mbps)"] == 0).all()
    links = p.links.set_index("link")
    assert links.loc["sip_server->cti", "signalling_mbps"] == 0
    assert links.loc["sip_server->cti", "total_mbps"] == links.loc["sip_server->cti", "cti_mbps"]


# -- the simulator agrees with the closed form at low load ------------------------------------

@pytest.mark.parametrize("flow", ["basic", "blind_transfer"])
def test_simulation_and_closed_form_give_the_same_cti_figures(flow: str) -> None:
    clients = {"desktops": 40, "supervisors": 4, "group_size": 10, "monitors": 2,
               "requests_per_call": 1}
    with_cti = scenario(clients, mix={flow: 1.0} if flow != "basic" else {"basic": 1.0})
    without = with_cti.model_copy(update={"cti": scenario().cti})
    sim, base = simulate(with_cti, workers=1), simulate(without, workers=1)
    offered = sim.kpis["calls_offered"] / with_cti.duration_s
    links = sim.links.set_index(["src", "dst"])
    to_clients = links.loc[("sip_server-1", "cti"), "data_kbps"] / 1000
    from_clients = links.loc[("cti", "sip_server-1"), "data_kbps"] / 1000
    hosts, base_hosts = sim.hosts.set_index("name"), base.hosts.set_index("name")
    cores = hosts.loc["sip_server-1", "cores"]
    cti_cores = (hosts.loc["sip_server-1", "cpu_mean"] - base_hosts.loc["sip_server-1", "cpu_mean"]) * cores

    cf = closed_form(with_cti)
    scale = offered / CPS  # the closed form at the simulated calls' own rate
    assert to_clients == pytest.approx(cti_way(cf, "sip_server") * scale, rel=0.03)
    assert from_clients == pytest.approx(cti_way(cf, "cti") * scale, rel=0.03)
    expected = sip_server_cores(cf) - sip_server_cores(closed_form(without))
    assert cti_cores == pytest.approx(expected * scale, rel=0.03)
    assert not base.links["src"].eq("cti").any() and not base.links["dst"].eq("cti").any()


# -- scenario, profile and form ---------------------------------------------------------------

def test_the_old_broadcast_is_refused_with_what_to_write_instead() -> None:
    with pytest.raises(ScenarioError) as info:
        scenario({"clients": 200, "events_per_call": 8, "bytes_per_event": 400})
    text = str(info.value)
    assert "cti.clients: " in text and "'monitors: N'" in text
    assert "cti.events_per_call: " in text and "from its flow" in text


def test_a_sip_server_profile_without_cti_costs_is_refused_by_name() -> None:
    measured = scenario({"monitors": 1},
                        topology={"proxy": {"instances": 1}, "recorder": {"enabled": False},
                                  "registrar": {"enabled": False},
                                  "sip_server": {"profile": "sizing-serve-b2bua"}})
    with pytest.raises(ValueError, match=r"'sizing-serve-b2bua' has no per_message_us\.cti_event"):
        closed_form(measured)


def test_the_form_edits_every_cti_field_with_the_models_help() -> None:
    shown = {f.key: f for f in fields() if f.key.startswith("cti.")}
    assert set(shown) == {f"cti.{name}" for name in Scenario.model_fields["cti"].annotation.model_fields}
    for key, f in shown.items():
        assert f.help == describe(key) and f.help
