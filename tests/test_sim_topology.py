"""The contact-centre topology: hosts per role, deterministic addresses, omitted roles, links."""

from __future__ import annotations

import simpy

from sizing.scenario import scenario_from_mapping
from sizing.sim.topology import EdgeProxy, SipServer, build_topology, call_hash

BASE = {"traffic": {"calls_per_second": 1, "holding_time_s": 5}, "trunk": {"channels": 10}}


def scenario(**extra):  # type: ignore[no-untyped-def]
    return scenario_from_mapping({**BASE, **extra})


def test_every_enabled_role_instance_is_a_host_with_its_cores() -> None:
    topo = build_topology(scenario(topology={"proxy": {"instances": 3, "cores": 6}}), simpy.Environment(), seed=1)
    names = [n.name for n in topo.nodes]
    assert names[:7] == ["carrier", "sbc-1", "proxy-1", "proxy-2", "proxy-3", "sip_server-1", "media_server-1"]
    assert topo.net.hosts["proxy-2"].cores == 6
    assert isinstance(topo.proxies[0].element, EdgeProxy)
    assert isinstance(topo.sip_servers[0].element, SipServer)


def test_addresses_are_deterministic_and_follow_the_trunk_transport() -> None:
    a = build_topology(scenario(trunk={"channels": 10, "transport": "tls"}), simpy.Environment(), seed=1)
    b = build_topology(scenario(trunk={"channels": 10, "transport": "tls"}), simpy.Environment(), seed=2)
    assert [n.address for n in a.nodes] == [n.address for n in b.nodes]
    assert a.sbcs[0].address.transport == "TLS" and a.sbcs[0].address.port == 5061


def test_omitted_roles_make_the_carrier_talk_to_the_sip_server() -> None:
    topo = build_topology(scenario(topology={"sbc": {"enabled": False}, "proxy": {"enabled": False}}),
                          simpy.Environment(), seed=1)
    assert topo.first_hop() == topo.sip_servers[0].address
    assert topo.sip_servers[0].element.gate is topo.gate


def test_hot_standby_adds_a_standby_host_per_sip_server() -> None:
    topo = build_topology(scenario(ha={"hot_standby": True}), simpy.Environment(), seed=1)
    assert set(topo.standbys) == {"sip_server-1"}
    assert topo.standbys["sip_server-1"].name in topo.net.hosts


def test_link_overrides_apply_to_the_host_pairs_of_their_roles() -> None:
    topo = build_topology(scenario(links={"overrides": {"carrier->sbc": {"latency_ms": 20}}}),
                          simpy.Environment(), seed=1)
    assert topo.net._specs[("carrier", "sbc-1")].latency_s == 0.02
    assert ("sbc-1", "proxy-1") not in topo.net._specs


def test_call_hash_is_stable_and_spreads_calls() -> None:
    assert call_hash("abc@10.1.0.1", 4) == call_hash("abc@10.1.0.1", 4)
    assert len({call_hash(f"{i}@h", 2) for i in range(20)}) == 2


def test_loss_policy_makes_the_role_an_rfc7339_server_and_the_hop_before_it_a_client() -> None:
    topo = build_topology(scenario(topology={"proxy": {"instances": 2},
                                             "sip_server": {"instances": 2,
                                                            "overload": {"policy": "loss"}}}),
                          simpy.Environment(), seed=1)
    assert sorted(topo.loss_controllers) == ["sip_server-1", "sip_server-2"]
    assert sorted(c.name for c in topo.oc_clients) == ["proxy-1", "proxy-2"]
    assert all(c.servers == {n.address for n in topo.sip_servers} for c in topo.oc_clients)
    # the front end keeps its 503 behind the upstream control
    assert topo.net.hosts["sip_server-1"].overload.mode == "reject"
    assert topo.net.hosts["proxy-1"].overload.mode == "reject"


def test_drop_and_503_policies_set_no_overload_control() -> None:
    topo = build_topology(scenario(topology={"sip_server": {"overload": {"policy": "drop"}}}),
                          simpy.Environment(), seed=1)
    assert not topo.loss_controllers and not topo.oc_clients
    assert topo.net.hosts["sip_server-1"].overload.mode == "drop"


def test_srtp_scenarios_offer_and_answer_sdes_keyed_srtp_at_the_scenarios_ptime() -> None:
    from sizing.sim.flows import CallCentre
    from sizing.sip.message import Request, parse
    from sizing.sip.sdp import SessionDescription

    suite = "AES_CM_128_HMAC_SHA1_80"
    scenario = scenario_from_mapping({
        "seed": 2, "duration_s": 10, "warmup_s": 0, "simulation": {"start": "empty"},
        "traffic": {"calls_per_second": 1, "holding_time_s": 5},
        "trunk": {"channels": 10, "transport": "tls", "srtp": suite, "ptime_ms": 30},
        "topology": {"media_server": {"enabled": False}, "recorder": {"enabled": False}},
    })
    env = simpy.Environment()
    topo = build_topology(scenario, env, seed=2)
    bodies: dict[str, list[bytes]] = {"offer": [], "answer": []}
    for host in topo.net.hosts.values():
        for transport in host.transports.values():
            def spy(data: bytes, source: object, deliver=transport.on_message) -> None:  # type: ignore[no-untyped-def]
                message = parse(data)
                if message.body and message.cseq.method == "INVITE":
                    bodies["offer" if isinstance(message, Request) else "answer"].append(message.body)
                deliver(data, source)
            transport.on_message = spy
    centre = CallCentre(topo, 2)
    centre.start()
    env.run(until=10)
    assert centre.figures()["calls_answered"] > 0
    for side in ("offer", "answer"):
        assert bodies[side], side
        for body in bodies[side]:
            (stream,) = SessionDescription.parse(body.decode()).media
            assert stream.proto == "RTP/SAVP", side  # RFC 4568 SDES
            assert [c.suite for c in stream.cryptos] == [suite], side
            assert stream.ptime == 30, side


def test_each_sbc_carries_the_signalling_of_the_calls_whose_media_it_anchors() -> None:
    from sizing.sim.simulate import simulate

    result = simulate(scenario(seed=3, duration_s=20, warmup_s=5, replications=1,
                               traffic={"calls_per_second": 2, "holding_time_s": 10},
                               trunk={"channels": 100}, topology={"sbc": {"instances": 2}}))
    links = result.links.set_index(["src", "dst"])
    signalling = {s: links.loc[("carrier", s), "signalling_pps"] for s in ("sbc-1", "sbc-2")}
    media = {s: links.loc[("carrier", s), "media_pps"] for s in ("sbc-1", "sbc-2")}
    assert all(v > 0 for v in signalling.values()), signalling
    assert all(v > 0 for v in media.values()), media
    hosts = result.hosts.set_index("name")
    assert hosts.loc["sbc-1", "msgs_per_s"] > 0 and hosts.loc["sbc-2", "msgs_per_s"] > 0


def test_the_carrier_spreads_calls_over_the_edge_hosts_by_call_id() -> None:
    topo = build_topology(scenario(topology={"sbc": {"instances": 3}}), simpy.Environment(), seed=1)
    chosen = {topo.edge_of_call(f"call-{i}").name for i in range(60)}
    assert chosen == {"sbc-1", "sbc-2", "sbc-3"}
    assert topo.edge_of_call("call-7") is topo.sbcs[call_hash("call-7", 3)]
    no_sbc = build_topology(scenario(topology={"sbc": {"enabled": False}, "proxy": {"instances": 2}}),
                            simpy.Environment(), seed=1)
    assert {no_sbc.edge_of_call(f"call-{i}").name for i in range(20)} == {"proxy-1", "proxy-2"}
