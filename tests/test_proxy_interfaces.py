"""An edge proxy on two transports (TLS towards the trunk, UDP inside): double
Record-Route (RFC 5658), in-dialog requests both ways, and the transports each
link carries; and the scenario's ``network.internal_transport`` built on it."""

from __future__ import annotations

import pytest
import simpy

from sizing.models.tls import TlsCost, wire_bytes
from sizing.scenario import Scenario
from sizing.sim import LinkSpec, SimNetwork, TableProfile
from sizing.sim.topology import build_topology
from sizing.sip.interfaces import Address
from sizing.sip.message import parse
from sizing.sip.proxy import Proxy, static_router
from sizing.sip.ua import AnswerPolicy, CallState, UserAgent

FREE = TableProfile({"default": 0.0}, tls=TlsCost(0.0, 0.0, 0.0))
ALICE = Address("TLS", "10.0.0.1", 5061)
EDGE = Address("TLS", "10.0.0.2", 5061)
EDGE_IN = Address("UDP", "10.0.0.2", 5060)
BOB = Address("UDP", "10.0.0.3", 5060)


def edge_network():  # type: ignore[no-untyped-def]
    env = simpy.Environment()
    net = SimNetwork(env, seed=1, default_link=LinkSpec(latency_s=0.01))
    net.add_host("alice", ALICE, profile=FREE)
    net.add_host("edge", (EDGE, EDGE_IN), profile=FREE)
    net.add_host("bob", BOB, profile=FREE)
    proxy = Proxy(net.clock, EDGE, static_router(BOB), seed=1)
    proxy.transport = net.attach(EDGE, proxy.on_message)
    proxy.add_interface(EDGE_IN, net.attach(EDGE_IN, lambda data, source: proxy.on_message(data, source, EDGE_IN)))
    alice = UserAgent(net.clock, ALICE, user="alice", seed=2, outbound_proxy=EDGE)
    bob = UserAgent(net.clock, BOB, user="bob", seed=3, policy=AnswerPolicy(ring_s=0.2))
    alice.connect(net)
    bob.connect(net)
    seen: dict[Address, list[bytes]] = {BOB: [], ALICE: []}
    for address in (BOB, ALICE):
        transport = net.routes[address]
        deliver = transport.on_message
        transport.on_message = lambda data, source, d=deliver, log=seen[address]: (log.append(data), d(data, source))
    return env, net, proxy, alice, bob, seen


def _first(seen: list[bytes], start: str):  # type: ignore[no-untyped-def]
    return next(parse(d) for d in seen if d.startswith(start.encode()))


def test_a_call_across_transports_is_double_record_routed_and_both_sides_can_hang_up() -> None:
    env, net, proxy, alice, bob, seen = edge_network()
    call = alice.invite("sip:bob@example.com")
    env.run(until=2)
    assert call.state is CallState.CONFIRMED
    invite = _first(seen[BOB], "INVITE ")
    assert invite.headers.get_lines("Record-Route") == ["<sip:10.0.0.2:5060;lr>", "<sip:10.0.0.2:5061;transport=tls;lr>"]
    assert str(invite.top_via).startswith("SIP/2.0/UDP 10.0.0.2")
    ok = _first(seen[ALICE], "SIP/2.0 200")
    assert ok.headers.get_lines("Record-Route") == invite.headers.get_lines("Record-Route")
    alice.bye(call)
    env.run(until=4)
    assert call.state is CallState.ENDED
    bye = _first(seen[BOB], "BYE ")
    assert "Route" not in bye.headers  # both of the proxy's Route entries stripped
    # the callee hangs up the next call: its BYE crosses back to the TLS side
    incoming = []
    bob.on_call = incoming.append
    second = alice.invite("sip:bob@example.com")
    env.run(until=6)
    assert second.state is CallState.CONFIRMED and len(incoming) == 1
    bob.bye(incoming[0])
    env.run(until=8)
    assert second.state is CallState.ENDED
    assert _first(seen[ALICE], "BYE ").uri.transport == "tls"
    assert proxy.stats.requests_forwarded["BYE"] == 2 and proxy.stats.dropped == 0


def test_the_trunk_link_carries_tls_and_the_inside_link_udp() -> None:
    env, net, _proxy, alice, _bob, seen = edge_network()
    alice.invite("sip:bob@example.com")
    env.run(until=2)
    links = {(link.src, link.dst): link for link in net.links()}
    assert set(links[("alice", "edge")].connections) == {"tls"}
    assert not links[("edge", "bob")].connections  # UDP opens none
    inside = sum(links[("edge", "bob")].metrics.bytes)
    assert inside == sum(wire_bytes(len(data), "udp").forward for data in seen[BOB])


def test_a_second_interface_on_the_same_transport_is_refused() -> None:
    env = simpy.Environment()
    net = SimNetwork(env, seed=1)
    net.add_host("edge", (EDGE, EDGE_IN), profile=FREE)
    proxy = Proxy(net.clock, EDGE, static_router(BOB))
    with pytest.raises(ValueError, match="already has a TLS interface"):
        proxy.add_interface(Address("TLS", "10.0.0.2", 5062), net.attach(EDGE, proxy.on_message))


def _scenario(inside: str, **topology: object) -> Scenario:
    return Scenario.model_validate({
        "seed": 1, "duration_s": 20, "warmup_s": 2,
        "traffic": {"calls_per_second": 2, "holding_time_s": 5},
        "trunk": {"channels": 100, "transport": "tls"},
        "network": {"internal_transport": inside}, **({"topology": topology} if topology else {}),
    })


def test_scenario_internal_transport_gives_the_edge_a_second_address() -> None:
    topo = build_topology(_scenario("udp"), simpy.Environment(), seed=1)
    edge = topo.sbcs[0]
    assert edge.address.transport == "TLS" and edge.inside is not None and edge.inside.transport == "UDP"
    inside = [n for n in topo.nodes if n.role not in ("carrier", "sbc")]
    assert {n.address.transport for n in inside} == {"UDP"}
    same = build_topology(_scenario("trunk"), simpy.Environment(), seed=1)
    assert {n.address.transport for n in same.nodes} == {"TLS"} and same.sbcs[0].inside is None
