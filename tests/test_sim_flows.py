"""Call flows through the simulated contact centre: message counts, admission, ACD, transfers."""

from __future__ import annotations

from pathlib import Path

import pytest
import simpy

from sizing.scenario import scenario_from_mapping
from sizing.sim.flows import CallCentre
from sizing.sim.topology import build_topology


def run(tmp_path: Path, times: list[float], until: float = 40.0, **extra):  # type: ignore[no-untyped-def]
    """Calls arriving at ``times`` (replayed), fixed holding; returns topology and centre."""
    csv = tmp_path / "arrivals.csv"
    csv.write_text("time_s\n" + "".join(f"{t}\n" for t in times))
    data = {
        "warmup_s": 0, "simulation": {"start": "empty"}, "duration_s": until,
        "traffic": {"holding_time_s": 4, "holding": {"kind": "fixed"},
                    "arrivals": {"process": "replay", "csv": str(csv)}},
        "trunk": {"channels": 10},
        "topology": {"proxy": {"instances": 1}},
    }
    for key, value in extra.items():
        base = data.get(key)
        data[key] = {**base, **value} if isinstance(base, dict) else value
    scenario = scenario_from_mapping(data)
    env = simpy.Environment()
    topo = build_topology(scenario, env, seed=3)
    centre = CallCentre(topo, 3)
    centre.start()
    env.run(until=until)
    return topo, centre


def handled(topo, name: str) -> int:  # type: ignore[no-untyped-def]
    """Messages a host received plus those it sent."""
    host = topo.net.hosts[name]
    return host.received + sum(t.sent for t in host.transports.values())


def test_a_basic_call_is_14_messages_at_each_record_routing_proxy(tmp_path: Path) -> None:
    topo, centre = run(tmp_path, [1.0])
    assert centre.figures()["calls_completed"] == 1
    assert handled(topo, "sbc-1") == 14
    assert handled(topo, "proxy-1") == 14
    # the SIP Server receives the caller's INVITE, ACK and BYE and the far end's 100, 180,
    # 200 (INVITE) and 200 (BYE)
    rx = topo.net.metrics.hosts["sip_server-1"].rx
    assert {k: sum(v) for k, v in rx.items()} == {"INVITE": 1, "1xx": 2, "2xx": 2, "ACK": 1, "BYE": 1}


def test_calls_beyond_the_trunk_channels_are_blocked_with_503(tmp_path: Path) -> None:
    topo, centre = run(tmp_path, [1.0, 1.5, 2.0], trunk={"channels": 2})
    kpis = centre.figures()
    assert kpis["calls_blocked"] == 1
    assert kpis["rejected_503"] == 1
    assert topo.proxies[0].element.stats.requests_received["INVITE"] == 2  # the 503 never went further


def test_the_cps_limit_rejects_attempts_above_the_rate(tmp_path: Path) -> None:
    _, centre = run(tmp_path, [1.0, 1.1, 1.2, 3.0], trunk={"channels": 10, "cps_limit": 1})
    assert centre.figures()["calls_blocked"] == 2
    assert centre.figures()["calls_answered"] == 2


def test_a_call_queued_on_the_media_server_is_transferred_to_the_freed_agent(tmp_path: Path) -> None:
    topo, centre = run(tmp_path, [1.0, 1.2], agents={"count": 1})
    server = topo.sip_servers[0].element
    assert server.stats.transfers == 1
    assert topo.net.metrics.hosts["media_server-1"].rx["INVITE"][1] == 1
    assert centre.figures()["calls_completed"] == 2
    assert centre.acd.stats().answered == 2


def test_ivr_then_agent_answers_on_the_media_server_first(tmp_path: Path) -> None:
    topo, centre = run(tmp_path, [1.0], until=60, agents={"count": 2},
                       traffic={"mix": {"ivr_then_agent": 1.0}})
    assert topo.sip_servers[0].element.stats.transfers == 1
    ivr = topo.net.metrics.hosts["media_server-1"]
    assert sum(ivr.rx["BYE"]) == 1 and "BYE" not in ivr.tx  # the SIP Server releases the IVR leg
    assert centre.figures()["calls_completed"] == 1


def test_blind_transfer_sends_refer_from_the_agent(tmp_path: Path) -> None:
    topo, centre = run(tmp_path, [1.0], agents={"count": 1},
                       traffic={"holding_time_s": 10, "mix": {"blind_transfer": 1.0}})
    assert sum(topo.net.metrics.hosts["sip_server-1"].rx["REFER"]) == 1
    assert topo.sip_servers[0].element.stats.transfers == 1
    assert centre.figures()["calls_completed"] == 1


def test_a_carrier_refer_moves_the_agent_to_a_new_leg_over_the_trunk(tmp_path: Path) -> None:
    """The carrier's REFER: 202 and two NOTIFYs back over the trunk, a second INVITE from
    the SIP Server to the carrier that takes a trunk channel of its own, the carrier's
    first dialog released by the SIP Server's BYE; the agent stays busy until the end."""
    topo, centre = run(tmp_path, [1.0], agents={"count": 1},
                       traffic={"holding_time_s": 10, "mix": {"carrier_refer": 1.0}})
    carrier = topo.net.metrics.hosts["carrier"]
    assert sum(carrier.tx["REFER"]) == 1 and sum(carrier.rx["NOTIFY"]) == 2
    assert sum(carrier.rx["INVITE"]) == 1 and sum(carrier.rx["BYE"]) == 2  # its first dialog, then the new leg
    assert sum(topo.net.metrics.hosts["agents"].rx["INVITE"]) == 2  # the call, then the re-INVITE
    assert topo.sip_servers[0].element.stats.transfers == 1
    kpis = centre.figures()
    assert kpis["calls_completed"] == 1 and kpis["peak_concurrent_calls"] == 2
    assert centre.acd.stats().answered == 1 and not centre.calls


def test_the_sbcs_and_sip_servers_messages_grow_by_each_carrier_refer(tmp_path: Path) -> None:
    """Per moved call the SBC handles a REFER transaction and a leg more on each of its two
    links (2 x 13 messages), the SIP Server receives 3 + 3 of them and the agent's 200 to
    its re-INVITE more (the 202 and the responses it gets)."""
    counts = []
    for share in (0.0, 1.0):
        topo, centre = run(tmp_path, [1.0, 2.0, 3.0, 4.0], agents={"count": 4},
                           traffic={"holding_time_s": 10, "mix": {"basic": 1 - share, "carrier_refer": share}})
        assert centre.figures()["calls_completed"] == 4
        server = topo.net.metrics.hosts["sip_server-1"].rx
        counts.append((handled(topo, "sbc-1"), sum(sum(v) for v in server.values())))
    assert counts[1][0] - counts[0][0] == 4 * 2 * 13
    assert counts[1][1] > counts[0][1] + 4 * 6


def test_abandoned_callers_cancel_while_the_agent_rings(tmp_path: Path) -> None:
    topo, centre = run(tmp_path, [1.0], agents={"count": 1}, traffic={"mix": {"abandoned": 1.0}})
    kpis = centre.figures()
    assert kpis["rejected_487"] == 1 and kpis["calls_abandoned"] == 1
    assert sum(topo.net.metrics.hosts["sbc-1"].rx["CANCEL"]) == 1


def test_busy_or_unanswered_extensions_fail_the_call(tmp_path: Path) -> None:
    _, centre = run(tmp_path, [1.0, 2.0, 3.0, 4.0], agents={"count": 1},
                    traffic={"mix": {"busy_no_answer": 1.0}})
    kpis = centre.figures()
    assert kpis.get("rejected_486", 0) + kpis.get("rejected_480", 0) == 4
    assert kpis["calls_answered"] == 0


def test_endpoints_register_at_the_proxy_pool_registrar(tmp_path: Path) -> None:
    topo, _ = run(tmp_path, [1.0], endpoints={"count": 3, "expiry_s": 20,
                                           "keepalive": {"method": "options", "interval_s": 10}})
    rx = topo.net.metrics.hosts["proxy-1"].rx
    assert sum(rx["REGISTER"]) >= 3 * 2  # initial registration and at least one refresh each
    assert sum(rx["OPTIONS"]) >= 3


def test_recorded_calls_get_a_recorder_leg_and_media(tmp_path: Path) -> None:
    topo, centre = run(tmp_path, [1.0], topology={"proxy": {"instances": 1}, "recorder": {"enabled": True}},
                       traffic={"recording_share": 1.0})
    assert topo.sip_servers[0].element.stats.recordings == 1
    centre.ledger.flush(40.0)
    assert sum(centre.ledger.media_bytes[("sbc-1", "recorder-1")]) > 0


def _link_bytes(topo, src: str, dst: str) -> float:  # type: ignore[no-untyped-def]
    return next(sum(link.metrics.bytes) for link in topo.net.links() if (link.src, link.dst) == (src, dst))


def test_uui_and_custom_headers_ride_every_invite_to_the_agent(tmp_path: Path) -> None:
    plain, _ = run(tmp_path, [1.0])
    topo, centre = run(tmp_path, [1.0], trunk={"uui_bytes": 200, "custom_header_bytes": 100})
    assert centre.figures()["calls_completed"] == 1
    # one INVITE per hop carries the 300 bytes (the SIP Server passes both headers on to leg B)
    for src, dst in (("carrier", "sbc-1"), ("sbc-1", "proxy-1"), ("proxy-1", "sip_server-1"),
                     ("sip_server-1", "agents")):
        assert _link_bytes(topo, src, dst) - _link_bytes(plain, src, dst) == 300


def test_busy_or_unanswered_calls_meet_the_far_end_without_a_sip_server() -> None:
    """No SIP Server to route them: the caller names a busy extension (486) or one that
    never answers, and gives up on that after NO_ANSWER_S (CANCEL, 487); no such call is
    answered, so none holds media."""
    from sizing.scenario import scenario_from_mapping
    from sizing.sim.simulate import simulate

    sc = scenario_from_mapping({
        "seed": 5, "warmup_s": 0, "duration_s": 60, "simulation": {"start": "empty"},
        "traffic": {"calls_per_second": 2, "holding_time_s": 10, "mix": {"busy_no_answer": 1.0}},
        "trunk": {"channels": 100},
        "topology": {"sip_server": {"enabled": False}, "media_server": {"enabled": False}},
    })
    k = simulate(sc).kpis
    assert k["calls_answered"] == 0
    assert k["rejected_486"] > 20 and k["rejected_487"] > 20
    assert k["rejected_486"] + k["rejected_487"] >= k["calls_offered"] - 2 * 16  # the last 15 s still ringing


SRTP_80, SRTP_32 = "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"


def media_bytes(centre, src: str, dst: str) -> float:  # type: ignore[no-untyped-def]
    """Media bytes the ledger counted from ``src`` to ``dst`` over the whole run."""
    centre.figures()  # flushes the open streams
    return sum(centre.ledger.media_bytes.get((src, dst), []))


def one_way(srtp: str | None, srtp_reverse: str | None = None) -> tuple[float, float]:
    """Bytes per second of each direction of a 4 s call, as :func:`call_bandwidth` counts them."""
    from sizing.models.media import call_bandwidth

    bw = call_bandwidth("PCMU", duration_s=4, srtp=srtp, srtp_reverse=srtp_reverse)
    return bw.forward.total_bytes / 4, bw.reverse.total_bytes / 4


def test_the_trunks_leg_carries_each_directions_srtp_suite_and_the_inside_plain_rtp(tmp_path: Path) -> None:
    # the carrier sends _80 and accepts _32: its link is heavier towards the SBC (10 B tags
    # against 4 B); the SBC ends SRTP, so the agents' leg carries plain RTP both ways
    _, centre = run(tmp_path, [1.0, 2.0], trunk={"transport": "tls", "srtp": SRTP_80,
                                                 "srtp_outbound": SRTP_32})
    inbound, outbound = one_way(SRTP_80, SRTP_32)
    plain, _ = one_way(None)
    to_sbc, from_sbc = media_bytes(centre, "carrier", "sbc-1"), media_bytes(centre, "sbc-1", "carrier")
    assert to_sbc / from_sbc == pytest.approx(inbound / outbound)
    assert to_sbc > from_sbc
    assert media_bytes(centre, "sbc-1", "agents") == pytest.approx(media_bytes(centre, "agents", "sbc-1"))
    assert media_bytes(centre, "sbc-1", "agents") / to_sbc == pytest.approx(plain / inbound)


def test_srtp_inside_only_where_the_scenario_asks_for_it(tmp_path: Path) -> None:
    tls_trunk = {"transport": "tls", "srtp": SRTP_80}
    _, plain = run(tmp_path, [1.0], trunk=tls_trunk)
    _, secure = run(tmp_path, [1.0], trunk=tls_trunk, network={"internal_srtp": SRTP_32})
    rtp, _ = one_way(None)
    srtp_32, _ = one_way(SRTP_32)
    for src, dst in (("sbc-1", "agents"), ("agents", "sbc-1")):
        assert media_bytes(secure, src, dst) / media_bytes(plain, src, dst) == pytest.approx(srtp_32 / rtp)
    assert media_bytes(secure, "carrier", "sbc-1") == media_bytes(plain, "carrier", "sbc-1")


def test_only_hosts_that_end_an_srtp_leg_pay_srtps_cpu(tmp_path: Path) -> None:
    from sizing.models.profile import load_profile

    sbc, media = load_profile("generic-sbc"), load_profile("generic-media-server")
    tls_trunk = {"transport": "tls", "srtp": SRTP_80}
    _, centre = run(tmp_path, [1.0], until=1, trunk=tls_trunk)
    assert centre.media_cost["sbc-1"][0] == sbc.media_packet_us(srtp=True)
    assert centre.media_cost["media_server-1"][0] == media.media_packet_us(srtp=False)
    _, inside = run(tmp_path, [1.0], until=1, trunk=tls_trunk, network={"internal_srtp": SRTP_80})
    assert inside.media_cost["media_server-1"][0] == media.media_packet_us(srtp=True)


def test_busy_lamps_subscribe_then_see_each_call_state_of_their_agent(tmp_path: Path) -> None:
    """Two endpoints watching the one agent three times each: six subscriptions (SUBSCRIBE,
    200, NOTIFY, 200), then a NOTIFY to each for the call's early, confirmed and terminated."""
    topo, centre = run(tmp_path, [5.0], agents={"count": 1},
                       endpoints={"count": 2, "presence_subscriptions": 3})
    assert centre.figures()["calls_completed"] == 1
    watcher = topo.watcher
    assert watcher is not None and len(watcher.subscriptions) == 6
    assert watcher.notified == 6 + 3 * 6 and watcher.refused == 0  # (refreshes are an hour apart)
    proxy = topo.net.metrics.hosts["proxy-1"].rx
    assert sum(proxy["SUBSCRIBE"]) == 6 and sum(proxy["2xx"]) >= 6 + 3 * 6


def test_busy_lamp_subscriptions_are_refreshed_in_their_dialogs(tmp_path: Path) -> None:
    topo, _ = run(tmp_path, [200.0], until=130.0, endpoints={"count": 2, "presence_subscriptions": 2,
                                                      "presence_refresh_s": 60})
    proxy = topo.net.metrics.hosts["proxy-1"].rx
    assert sum(proxy["SUBSCRIBE"]) == 4 + 4 * 2  # set up, then once a minute (from a phase)
    assert topo.watcher is not None and topo.watcher.notified == 12
    assert len(topo.notifiers[0]) == 4


def test_without_presence_no_lamps_are_built(tmp_path: Path) -> None:
    topo, _ = run(tmp_path, [1.0], endpoints={"count": 2})
    assert topo.watcher is None and topo.notifiers == []
