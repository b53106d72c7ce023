"""closed_form() link bytes the per-message sizes leave out, checked against the simulator:
the edge's double Record-Route (RFC 5658) and the trunk's per-call TLS connections."""

from __future__ import annotations

from typing import Any

import pytest
import simpy

from sizing.models import tls as tls_model
from sizing.plan import closed_form
from sizing.plan.search import _measure
from sizing.scenario import Scenario, scenario_from_mapping
from sizing.sim import SimNetwork, TableProfile
from sizing.sim.simulate import simulate
from sizing.sim.topology import link_spec
from sizing.sip.interfaces import Address

CPS = 4.0
DURATION_S = 20.0


def scenario(
    transport: str, inside: str = "trunk", *, topology: dict[str, Any] | None = None, **trunk: Any
) -> Scenario:
    """Basic calls answered at once (no agents: the far end answers), one-second holding
    time, measured from t=0 so every call's messages fall in the window but the last few
    BYEs; only call-path roles."""
    roles = {
        "media_server": {"enabled": False},
        "recorder": {"enabled": False},
        "registrar": {"enabled": False},
        **(topology or {}),
    }
    return scenario_from_mapping(
        {
            "seed": 3,
            "duration_s": DURATION_S,
            "warmup_s": 0, "simulation": {"start": "empty"},
            "traffic": {"calls_per_second": CPS, "holding_time_s": 1, "holding": {"kind": "fixed"}},
            "trunk": {"channels": 1000, "transport": transport, **trunk},
            "agents": {"count": 0, "registered": False},
            "topology": roles,
            "network": {"internal_transport": inside},
        }
    )


def signalling(cf) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return dict(zip(cf.links["link"], cf.links["signalling_mbps"], strict=True))


def simulated(sc: Scenario) -> tuple[dict[str, float], float]:
    """Signalling Mbps per link (both directions) and the calls offered per second."""
    result = simulate(sc, workers=1)
    links = {name: sig for name, (sig, _) in _measure([result]).links_mbps.items()}
    return links, result.kpis["calls_offered"] / sc.duration_s


# -- double Record-Route (RFC 5658) ---------------------------------------------------------

PATHS = {
    # edge SBC, a proxy behind it, the SIP Server ending the caller's dialog
    "sbc-proxy-sip_server": {},
    # an edge writing the From tag into its Record-Route (Kamailio's rr append_fromtag)
    "sbc-ftag": {
        "sbc": {"profile": "kamailio-5.6-stateful-proxy-udp"},
        "proxy": {"enabled": False},
    },
    # the proxy is the edge and the agents end the dialog
    "proxy-only": {"sbc": {"enabled": False}, "sip_server": {"enabled": False}},
}
DIALOG = {
    "sbc-proxy-sip_server": {"carrier->sbc", "sbc->proxy", "proxy->sip_server"},
    "sbc-ftag": {"carrier->sbc", "sbc->sip_server"},
    "proxy-only": {"carrier->proxy", "proxy->agents"},
}
"""The links of the caller's dialog, whose messages carry the edge's second Record-Route."""


@pytest.mark.parametrize("path", PATHS)
def test_double_record_route_bytes_match_the_simulator(path: str) -> None:
    # TLS trunk, TCP inside: the edge double record-routes. The baselines have a single
    # Record-Route and otherwise the same text on the compared links: the all-TLS run on
    # the carrier's link, the all-TCP run inside (tls/tcp, 5061/5060 write as many bytes).
    topology = PATHS[path]
    double = scenario("tls", "tcp", topology=topology)
    bases = {
        "trunk": scenario("tls", topology=topology),
        "inside": scenario("tcp", topology=topology),
    }
    sim, rate = simulated(double)
    cf = signalling(closed_form(double))
    dialog = DIALOG[path]
    assert dialog <= set(sim)
    for side, base in bases.items():
        base_sim, base_rate = simulated(base)
        assert base_rate == rate  # same seed, same arrivals
        base_cf = signalling(closed_form(base))
        for name in sim:
            if name.startswith("carrier->") != (side == "trunk"):
                continue
            measured = sim[name] - base_sim[name]
            # the closed form's term, at the rate the simulation happened to offer
            term = (cf.get(name, 0.0) - base_cf.get(name, 0.0)) * rate / CPS
            if name in dialog:
                assert measured > 0.03 * base_sim[name], name  # the gap was worth closing
                assert term == pytest.approx(measured, rel=0.03), name
            else:  # past the SIP Server: its own dialogs, one Record-Route or none
                assert measured == pytest.approx(0.0, abs=1e-12), name
                assert term == pytest.approx(0.0, abs=1e-12), name


def test_the_sip_server_terminating_the_trunk_writes_no_record_route() -> None:
    # A B2BUA's legs are separate dialogs: TLS to the carrier, UDP to the agents, and no
    # Record-Route on either; the closed form's links agree with the simulator's.
    sc = scenario("tls", "udp", topology={"sbc": {"enabled": False}, "proxy": {"enabled": False}})
    assert sc.edge_role == "sip_server"
    sim, rate = simulated(sc)
    cf = signalling(closed_form(sc))
    busy = {name: mbps for name, mbps in sim.items() if mbps}
    assert set(busy) == {"carrier->sip_server", "sip_server->agents"}
    for name, measured in busy.items():
        assert cf[name] * rate / CPS == pytest.approx(measured, rel=0.03), name


# -- per-call trunk connections -------------------------------------------------------------


def connection_bytes(sc: Scenario, calls_per_connection: int) -> float:
    """What the closed form adds to the carrier's link per trunk connection, in bytes."""
    churn = sc.model_copy(
        update={"trunk": sc.trunk.model_copy(update={"calls_per_connection": calls_per_connection})}
    )
    added = (
        signalling(closed_form(churn))["carrier->sbc"] - signalling(closed_form(sc))["carrier->sbc"]
    )
    return added * 1e6 / 8 / CPS * calls_per_connection


def simulator_setup_bytes(sc: Scenario) -> float:
    """Bytes the simulator's carrier link counts (both directions) for opening a trunk
    connection with the scenario's TLS settings, less the message that opened it."""
    env = simpy.Environment()
    spec = link_spec(sc, "carrier", "sbc")
    net = SimNetwork(env, seed=1, default_link=spec)
    free = TableProfile({"default": 0.0}, tls=tls_model.TlsCost(0.0, 0.0, 0.0))
    carrier, sbc = Address("TLS", "10.1.0.1", 5061), Address("TLS", "10.2.0.1", 5061)
    net.add_host("carrier", carrier, profile=free)
    net.add_host("sbc", sbc, profile=free)
    net.attach(sbc, lambda data, source: None)
    net.attach(carrier, lambda data, source: None).send(b"OPTIONS sip:sbc SIP/2.0\r\n\r\n", sbc)
    env.run()
    counted = sum(
        sum(net.metrics.links[pair].bytes) for pair in (("carrier", "sbc"), ("sbc", "carrier"))
    )
    return counted - tls_model.wire_bytes(27, "tls", suite=spec.suite, net=spec.net).total


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("resumed_share", [0.0, 1.0])
def test_trunk_connection_bytes_are_what_the_simulator_counts_per_connection(
    version: str, resumed_share: float
) -> None:
    sc = scenario("tls", "udp", tls_version=version, tls_resumed_share=resumed_share)
    net = tls_model.NetParams(ip_version=sc.network.ip_version, l2=sc.network.l2)
    close = tls_model.connection_teardown(
        "tls",
        version=version,
        net=net,  # type: ignore[arg-type]
        suite=sc.trunk.cipher_suite,
    ).total
    setup = simulator_setup_bytes(sc)
    assert setup > 1000 if resumed_share else setup > 2500  # a TLS handshake, not a TCP one
    assert connection_bytes(sc, 1) == pytest.approx(setup + close, rel=0.03)


def test_simulated_trunk_connection_agrees_with_the_closed_form() -> None:
    # Without calls_per_connection the simulator keeps its one trunk connection open for
    # the whole run, so it shows one handshake on the carrier's link: full at a resumed
    # share of 0, resumed at 1. The runs differ by that handshake only; the closed form
    # charges the same difference per connection.
    full, resumed = (scenario("tls", "udp", tls_resumed_share=s) for s in (0.0, 1.0))
    (sim_full, _), (sim_resumed, _) = simulated(full), simulated(resumed)
    measured = (sim_full["carrier->sbc"] - sim_resumed["carrier->sbc"]) * 1e6 / 8 * DURATION_S
    assert measured > 1000
    assert connection_bytes(full, 1) - connection_bytes(resumed, 1) == pytest.approx(
        measured, rel=0.03
    )
    assert sim_full["sbc->agents"] == pytest.approx(sim_resumed["sbc->agents"], rel=1e-12)


def test_resumed_share_weighs_full_and_resumed_handshakes() -> None:
    per = {s: connection_bytes(scenario("tls", tls_resumed_share=s), 2) for s in (0.0, 0.25, 1.0)}
    assert per[1.0] < per[0.0]
    assert per[0.25] == pytest.approx(0.75 * per[0.0] + 0.25 * per[1.0], rel=1e-12)


def test_connection_churn_scales_with_calls_per_connection_on_the_carrier_link_only() -> None:
    sc = scenario("tcp", "udp")
    assert connection_bytes(sc, 1) == pytest.approx(connection_bytes(sc, 5), rel=1e-12)
    churn = sc.model_copy(update={"trunk": sc.trunk.model_copy(update={"calls_per_connection": 1})})
    persistent, churned = signalling(closed_form(sc)), signalling(closed_form(churn))
    assert churned["carrier->sbc"] > persistent["carrier->sbc"]
    assert {k: v for k, v in churned.items() if k != "carrier->sbc"} == {
        k: v for k, v in persistent.items() if k != "carrier->sbc"
    }
    # a UDP trunk opens no connections, however few calls one would carry
    udp = scenario("udp", "tls")
    udp_churn = udp.model_copy(
        update={"trunk": udp.trunk.model_copy(update={"calls_per_connection": 1})}
    )
    assert signalling(closed_form(udp_churn)) == signalling(closed_form(udp))
