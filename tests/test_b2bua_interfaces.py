"""The B2BUA as the trunk's edge on two transports (TLS towards the carrier, UDP
inside): which interface each leg's requests leave by, the Contact each leg keeps,
the transports each link carries; and a scenario whose SIP Server is the first hop."""

from __future__ import annotations

from pathlib import Path

import pytest
import simpy

from sizing.models.tls import TlsCost, wire_bytes
from sizing.plan import closed_form
from sizing.scenario import Scenario
from sizing.sim import LinkSpec, SimNetwork, TableProfile
from sizing.sim.simulate import simulate
from sizing.sim.topology import build_topology
from sizing.sip.b2bua import B2BUA, B2BUAConfig, Target
from sizing.sip.interfaces import Address, ManualClock
from sizing.sip.loopback import LoopbackNetwork
from sizing.sip.message import parse
from sizing.sip.sdp import Capabilities
from sizing.sip.ua import AnswerPolicy, CallState, UserAgent

FREE = TableProfile({"default": 0.0}, tls=TlsCost(0.0, 0.0, 0.0))
CARRIER = Address("TLS", "10.0.0.1", 5061)
EDGE = Address("TLS", "10.0.0.2", 5061)
EDGE_IN = Address("UDP", "10.0.0.2", 5060)
AGENT = Address("UDP", "10.0.0.3", 5060)
TLS_CONTACT = "<sip:sipserver@10.0.0.2:5061;transport=tls>"
UDP_CONTACT = "<sip:sipserver@10.0.0.2:5060>"
CAPS = Capabilities(codecs=["PCMA"])


class Edge:
    """Carrier UA on TLS -> B2BUA (TLS main address, UDP inside) -> agent UA on UDP,
    logging every message delivered to each address with its source."""

    def __init__(self, ring_s: float = 0.2) -> None:
        self.env = simpy.Environment()
        self.net = SimNetwork(self.env, seed=1, default_link=LinkSpec(latency_s=0.01))
        self.net.add_host("carrier", CARRIER, profile=FREE)
        self.net.add_host("edge", (EDGE, EDGE_IN), profile=FREE)
        self.net.add_host("agent", AGENT, profile=FREE)
        # no transport parameter: with two interfaces that means UDP (RFC 3263)
        self.b2bua = B2BUA(self.net.clock, EDGE, Target("sip:agent@10.0.0.3"),
                           config=B2BUAConfig(user="sipserver"), seed=5)
        self.b2bua.transport = self.net.attach(EDGE, self.b2bua.datagram_received)
        entry = self.b2bua.add_interface(
            EDGE_IN, self.net.attach(EDGE_IN, lambda data, source: entry(data, source)))
        self.carrier = UserAgent(self.net.clock, CARRIER, user="carrier", seed=2, outbound_proxy=EDGE,
                                 capabilities=CAPS)
        self.agent = UserAgent(self.net.clock, AGENT, user="agent", seed=3, capabilities=CAPS,
                               policy=AnswerPolicy(ring_s=ring_s))
        self.carrier.connect(self.net)
        self.agent.connect(self.net)
        self.incoming: list = []
        self.agent.on_call = self.incoming.append
        self.seen: dict[Address, list[tuple[bytes, Address]]] = {a: [] for a in (CARRIER, EDGE_IN, AGENT)}
        for address, log in self.seen.items():
            transport = self.net.routes[address]
            deliver = transport.on_message
            transport.on_message = lambda data, source, d=deliver, log=log: (log.append((data, source)),
                                                                             d(data, source))

    def call(self):  # type: ignore[no-untyped-def]
        call = self.carrier.invite("sip:sales@10.0.0.2;transport=tls")
        self.env.run(until=self.env.now + 2)
        assert call.state is CallState.CONFIRMED and len(self.incoming) == 1
        return call

    def first(self, at: Address, start: str):  # type: ignore[no-untyped-def]
        """The first message delivered at ``at`` starting with ``start``, and its source."""
        data, source = next((d, s) for d, s in self.seen[at] if d.startswith(start.encode()))
        return parse(data), source


@pytest.fixture
def edge() -> Edge:
    return Edge()


def test_leg_b_invite_leaves_by_the_udp_interface_with_its_via_and_contact(edge: Edge) -> None:
    edge.call()
    invite, source = edge.first(AGENT, "INVITE ")
    assert source == EDGE_IN
    assert str(invite.top_via).startswith("SIP/2.0/UDP 10.0.0.2:5060;")
    assert invite.headers.get("Contact") == UDP_CONTACT


def test_leg_b_ack_leaves_by_the_udp_interface(edge: Edge) -> None:
    edge.call()
    ack, source = edge.first(AGENT, "ACK ")
    assert source == EDGE_IN and str(ack.top_via).startswith("SIP/2.0/UDP 10.0.0.2:5060;")
    assert ack.headers.get("Contact") == UDP_CONTACT


def test_leg_a_responses_carry_the_tls_contact(edge: Edge) -> None:
    edge.call()
    ringing, source = edge.first(CARRIER, "SIP/2.0 180")
    ok, _ = edge.first(CARRIER, "SIP/2.0 200")
    assert source == EDGE
    assert ringing.headers.get("Contact") == TLS_CONTACT and ok.headers.get("Contact") == TLS_CONTACT


def test_bye_from_the_carrier_ends_both_legs_over_udp_inside(edge: Edge) -> None:
    call = edge.call()
    edge.carrier.bye(call)
    edge.env.run(until=edge.env.now + 2)
    assert call.state is CallState.ENDED and edge.incoming[0].state is CallState.ENDED
    assert not edge.b2bua.calls and edge.b2bua.stats.calls_ended == 1
    bye, source = edge.first(AGENT, "BYE ")
    assert source == EDGE_IN and str(bye.top_via).startswith("SIP/2.0/UDP 10.0.0.2:5060;")


def test_bye_from_the_agent_ends_both_legs_over_tls_towards_the_carrier(edge: Edge) -> None:
    call = edge.call()
    edge.agent.bye(edge.incoming[0])
    edge.env.run(until=edge.env.now + 2)
    assert call.state is CallState.ENDED and not edge.b2bua.calls
    bye, source = edge.first(CARRIER, "BYE ")
    assert source == EDGE and str(bye.top_via).startswith("SIP/2.0/TLS 10.0.0.2:5061;")
    assert bye.uri.transport == "tls"


def test_a_relayed_reinvite_keeps_each_legs_interface_and_contact(edge: Edge) -> None:
    call = edge.call()
    edge.carrier.hold(call)
    edge.env.run(until=edge.env.now + 2)
    reinvite, source = next((parse(d), s) for d, s in edge.seen[AGENT]
                            if d.startswith(b"INVITE ") and parse(d).to_tag is not None)
    assert source == EDGE_IN and reinvite.headers.get("Contact") == UDP_CONTACT
    oks = [parse(d) for d, _ in edge.seen[CARRIER] if d.startswith(b"SIP/2.0 200")]
    assert [ok.cseq.method for ok in oks] == ["INVITE", "INVITE"]
    assert oks[-1].headers.get("Contact") == TLS_CONTACT


def test_cancel_of_a_ringing_call_leaves_by_the_udp_interface() -> None:
    edge = Edge(ring_s=5.0)
    call = edge.carrier.invite("sip:sales@10.0.0.2;transport=tls")
    edge.env.run(until=1)
    edge.carrier.cancel(call)
    edge.env.run(until=3)
    cancel, source = edge.first(AGENT, "CANCEL ")
    assert source == EDGE_IN and str(cancel.top_via).startswith("SIP/2.0/UDP 10.0.0.2:5060;")
    assert call.state is not CallState.CONFIRMED and not edge.b2bua.calls


def test_the_trunk_link_carries_tls_and_the_inside_link_udp_bytes(edge: Edge) -> None:
    call = edge.call()
    edge.carrier.bye(call)
    edge.env.run(until=edge.env.now + 2)
    links = {(link.src, link.dst): link for link in edge.net.links()}
    assert set(links[("carrier", "edge")].connections) == {"tls"}
    assert not links[("edge", "agent")].connections and not links[("agent", "edge")].connections
    to_agent = sum(wire_bytes(len(d), "udp").forward for d, _ in edge.seen[AGENT])
    from_agent = sum(wire_bytes(len(d), "udp").forward for d, s in edge.seen[EDGE_IN] if s == AGENT)
    assert sum(links[("edge", "agent")].metrics.bytes) == to_agent
    assert sum(links[("agent", "edge")].metrics.bytes) == from_agent


def test_a_second_interface_on_the_main_transport_is_refused() -> None:
    clock = ManualClock()
    network = LoopbackNetwork(clock)
    b2bua = B2BUA(clock, EDGE, Target("sip:agent@10.0.0.3"))
    b2bua.connect(network)
    with pytest.raises(ValueError, match=r"B2BUA tls:10\.0\.0\.2:5061: already has a TLS interface"):
        b2bua.add_interface(Address("TLS", "10.0.0.2", 5062), network.attach(
            Address("TLS", "10.0.0.2", 5062), b2bua.datagram_received))


def test_an_interface_that_is_not_an_address_is_refused() -> None:
    b2bua = B2BUA(ManualClock(), EDGE, Target("sip:agent@10.0.0.3"))
    with pytest.raises(TypeError, match="must be an Address"):
        b2bua.add_interface(("UDP", "10.0.0.2", 5060), None)  # type: ignore[arg-type]


# -- the scenario: trunk -> SIP Server -> agents ------------------------------------------------


def _profile(directory: Path) -> str:
    """A flat per-message cost with TLS costly enough that where it is charged shows."""
    path = directory / "tls-costly.yaml"
    path.write_text("name: tls-costly\nsource: test\nstatic_core_fraction: 0.0\n"
                    "per_message_us: {default: 100}\nper_kbyte_us: 0\n"
                    "tls: {handshake_full_us: 1000, handshake_resumed_us: 1000, per_kbyte_us: 400}\n")
    return str(path)


def _server_only(trunk: str, inside: str, profile: str | None = None, **extra: object) -> Scenario:
    server: dict[str, object] = {"enabled": True, **({"profile": profile} if profile else {})}
    return Scenario.model_validate({
        "seed": 1, "duration_s": 20, "warmup_s": 2,
        "traffic": {"calls_per_second": 2, "holding_time_s": 5},
        "trunk": {"channels": 100, "transport": trunk},
        "agents": {"count": 20},
        "network": {"internal_transport": inside},
        "topology": {"sbc": {"enabled": False}, "proxy": {"enabled": False}, "sip_server": server},
        **extra,
    })


def test_a_sip_server_first_hop_gets_a_second_address_inside() -> None:
    topo = build_topology(_server_only("tls", "udp", ha={"hot_standby": True}), simpy.Environment(), seed=1)
    server = topo.sip_servers[0]
    assert server.address.transport == "TLS" and server.inside == Address("UDP", server.address.host, 5060)
    others = [n for n in topo.nodes if n.role not in ("carrier", "sip_server")]
    assert {n.address.transport for n in others} == {"UDP"} and all(n.inside is None for n in others)


def test_simulated_sip_server_edge_pays_tls_on_the_trunk_side_only(tmp_path: Path) -> None:
    profile = _profile(tmp_path)
    runs = {name: simulate(_server_only(trunk, inside, profile))
            for name, (trunk, inside) in {"udp": ("udp", "udp"), "mixed": ("tls", "udp"),
                                          "tls": ("tls", "tls")}.items()}
    mixed = runs["mixed"]
    assert mixed.kpis["calls_completed"] > 20 and mixed.kpis["calls_completed"] == runs["udp"].kpis["calls_completed"]
    cpu = {name: r.hosts.set_index("name").loc["sip_server-1", "cpu_mean"] for name, r in runs.items()}
    assert cpu["udp"] < cpu["mixed"] < cpu["tls"]
    links = mixed.links.set_index(["src", "dst"])["signalling_kbps"]
    udp_links = runs["udp"].links.set_index(["src", "dst"])["signalling_kbps"]
    assert links[("sip_server-1", "agents")] == udp_links[("sip_server-1", "agents")]
    assert links[("carrier", "sip_server-1")] > udp_links[("carrier", "sip_server-1")]


def test_closed_form_charges_the_sip_server_edge_tls_on_the_trunk_side_only(tmp_path: Path) -> None:
    profile = _profile(tmp_path)
    busy = {name: closed_form(_server_only(trunk, inside, profile)).roles.set_index("role")
            .loc["sip_server", "busy_cores"]
            for name, (trunk, inside) in {"udp": ("udp", "udp"), "mixed": ("tls", "udp"),
                                          "tls": ("tls", "tls")}.items()}
    assert busy["udp"] < busy["mixed"] < busy["tls"]
