"""Trunk connection churn in the simulator: a TCP/TLS connection per few calls, TLS resumption.

A cloud trunk that opens a connection per call pays a TLS handshake per call
(bytes, round trips, CPU on both ends); the simulator must show it, and agree
with the closed form's per-connection bytes.
"""

from __future__ import annotations

import math

import pytest
import simpy

from sizing.models import tls as tls_model
from sizing.plan import closed_form
from sizing.scenario import Scenario, scenario_from_mapping
from sizing.sim import LinkSpec, SimNetwork, TableProfile
from sizing.sim.simulate import simulate
from sizing.sip.interfaces import Address

CARRIER, EDGE = Address("TLS", "10.1.0.1", 5061), Address("TLS", "10.2.0.1", 5061)
FULL_US, RESUMED_US = 2000.0, 500.0


def invite(n: int, *, in_dialog: bool = False) -> bytes:
    """An INVITE as the engine writes it; ``in_dialog``: a re-INVITE (To has a tag)."""
    to = "To: <sip:agent@cc.example>" + (";tag=9f2" if in_dialog else "")
    return (
        f"INVITE sip:agent@cc.example SIP/2.0\r\nVia: SIP/2.0/TLS 10.1.0.1:5061;branch=z9hG4bK{n}\r\n"
        f"From: <sip:carrier@10.1.0.1>;tag=a{n}\r\n{to}\r\nCall-ID: c{n}@10.1.0.1\r\n"
        "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def two_hosts(spec: LinkSpec) -> tuple[simpy.Environment, SimNetwork, object]:
    """Carrier and edge on a link with ``spec``; messages cost nothing but handshakes."""
    env = simpy.Environment()
    net = SimNetwork(env, seed=1, default_link=spec)
    profile = TableProfile({"default": 0.0}, tls=tls_model.TlsCost(FULL_US, RESUMED_US, 0.0))
    for name, address in (("carrier", CARRIER), ("edge", EDGE)):
        net.add_host(name, address, cores=1, profile=profile)
    net.attach(EDGE, lambda data, source: None)
    return env, net, net.attach(CARRIER, lambda data, source: None)


def test_a_new_connection_every_n_calls_with_an_exact_resumed_share() -> None:
    env, net, carrier = two_hosts(LinkSpec(calls_per_connection=2, tls_resumed_share=0.5))
    for n in range(6):
        carrier.send(invite(n), EDGE)  # type: ignore[attr-defined]
        carrier.send(invite(n, in_dialog=True), EDGE)  # a re-INVITE is not a new call
    env.run()
    link = net.metrics.links[("carrier", "edge")]
    # 6 calls, 2 per connection: 3 connections; the 2nd of them resumes (share 0.5: 0, 1, 1.5)
    assert (sum(link.connections), sum(link.resumed)) == (3, 1)
    assert sum(net.metrics.links[("edge", "carrier")].connections) == 0  # the carrier opened them
    for host in ("carrier", "edge"):  # each end pays each handshake
        assert net.hosts[host].busy_s == pytest.approx((2 * FULL_US + RESUMED_US) / 1e6)


def test_persistent_connections_open_once() -> None:
    env, net, carrier = two_hosts(LinkSpec())
    for n in range(6):
        carrier.send(invite(n), EDGE)  # type: ignore[attr-defined]
    env.run()
    assert sum(net.metrics.links[("carrier", "edge")].connections) == 1


def test_a_replaced_connection_costs_its_teardown_and_the_new_handshake_bytes() -> None:
    spec = LinkSpec(calls_per_connection=1)
    env, net, carrier = two_hosts(spec)
    carrier.send(invite(0), EDGE)  # type: ignore[attr-defined]
    env.run()
    one = {d: sum(net.metrics.links[d].bytes) for d in (("carrier", "edge"), ("edge", "carrier"))}
    carrier.send(invite(1), EDGE)  # type: ignore[attr-defined]
    env.run()
    two = {d: sum(net.metrics.links[d].bytes) for d in (("carrier", "edge"), ("edge", "carrier"))}
    setup = tls_model.connection_setup("tls", version="1.3", net=spec.net)
    close = tls_model.connection_teardown("tls", version="1.3", net=spec.net, suite=spec.suite)
    message = one[("carrier", "edge")] - setup.client_to_server
    assert two[("carrier", "edge")] - one[("carrier", "edge")] == pytest.approx(
        close.client_to_server + setup.client_to_server + message)
    assert two[("edge", "carrier")] - one[("edge", "carrier")] == pytest.approx(
        close.server_to_client + setup.server_to_client + (one[("edge", "carrier")]
                                                           - setup.server_to_client))


def trunk(**fields: object) -> Scenario:
    """Basic calls over a TLS trunk to an SBC, UDP inside, one-second holding time."""
    return scenario_from_mapping({
        "seed": 3, "duration_s": 20, "warmup_s": 0, "simulation": {"start": "empty"},
        "traffic": {"calls_per_second": 4, "holding_time_s": 1, "holding": {"kind": "fixed"}},
        "trunk": {"channels": 1000, "transport": "tls", **fields},
        "agents": {"count": 0, "registered": False},
        "topology": {r: {"enabled": False} for r in ("media_server", "recorder", "registrar")},
        "network": {"internal_transport": "udp"},
    })


def carrier_link(sc: Scenario) -> tuple[float, float, float]:
    """(signalling kbps both ways, connections per second, calls offered) on the trunk."""
    result = simulate(sc, workers=1)
    links = result.links.set_index(["src", "dst"])
    kbps = links.loc[("carrier", "sbc-1"), "signalling_kbps"] + links.loc[("sbc-1", "carrier"),
                                                                           "signalling_kbps"]
    return float(kbps), float(links.loc[("carrier", "sbc-1"), "connections_per_s"]), \
        result.kpis["calls_offered"]


@pytest.mark.parametrize("calls_per_connection", [1, 3])
def test_the_trunk_opens_a_connection_per_n_calls(calls_per_connection: int) -> None:
    _, per_s, offered = carrier_link(trunk(calls_per_connection=calls_per_connection))
    assert per_s * 20 == pytest.approx(math.ceil(offered / calls_per_connection))


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_churn_bytes_per_connection_agree_with_the_closed_form(share: float) -> None:
    persistent = trunk(tls_resumed_share=share)
    churn = trunk(calls_per_connection=1, tls_resumed_share=share)
    (base_kbps, base_rate, _), (churn_kbps, churn_rate, _) = (
        carrier_link(persistent), carrier_link(churn))
    simulated = (churn_kbps - base_kbps) / (churn_rate - base_rate)  # kbit per extra connection
    links = [dict(zip(cf.links["link"], cf.links["signalling_mbps"], strict=True))
             for cf in (closed_form(persistent), closed_form(churn))]
    closed = (links[1]["carrier->sbc"] - links[0]["carrier->sbc"]) * 1000 / 4.0  # 4 per second
    assert simulated > 10  # kbit: a handshake, not noise
    assert simulated == pytest.approx(closed, rel=0.01)
