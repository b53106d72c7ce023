"""closed_form() signalling Mbps use the bytes the engine writes (sizing.plan.message_sizes), so
they agree with what the simulator measures on every link of the same scenario."""

from __future__ import annotations

from typing import Any

import pytest

from sizing.plan import closed_form
from sizing.plan.message_sizes import message_sizes, probe
from sizing.plan.search import _measure
from sizing.scenario import Scenario, scenario_from_mapping
from sizing.sim.simulate import simulate
from sizing.sim.workload import ArrivalProcess, FlowPicker, stream, streams


def scenario(
    cps: float, holding_s: float, warmup_s: float, duration_s: float, **parts: Any
) -> Scenario:
    """Fixed holding times; no media server, registrar or recorder unless ``parts`` enable
    them; the far end answers unless there are agents."""
    topology = {"media_server": {"enabled": False}, **parts.pop("topology", {})}
    traffic = {
        "calls_per_second": cps,
        "holding_time_s": holding_s,
        "holding": {"kind": "fixed"},
        **parts.pop("traffic", {}),
    }
    return scenario_from_mapping(
        {
            "seed": 2,
            "warmup_s": warmup_s,
            "duration_s": duration_s,
            "traffic": traffic,
            "trunk": {"channels": 1000, **parts.pop("trunk", {})},
            "agents": {"count": 0, "registered": False, **parts.pop("agents", {})},
            "topology": topology,
            **parts,
        }
    )


SCENARIOS = {
    # SBC, proxy, SIP Server; the far end answers at once
    "udp-basic": scenario(4, 3, 5, 25),
    # TLS trunk with UUI and custom headers and SRTP; UDP inside, so the SBC double
    # record-routes (RFC 5658)
    "tls-uui-srtp": scenario(
        4,
        3,
        5,
        25,
        trunk={
            "transport": "tls",
            "uui_bytes": 128,
            "custom_header_bytes": 64,
            "srtp": "AES_CM_128_HMAC_SHA1_80",
        },
        network={"internal_transport": "udp"},
    ),
    # IVR, blind and attended transfers, recording, behind an SBC and a proxy; agents
    # enough to take every call at once
    "rich": scenario(
        3,
        6,
        30,
        80,
        traffic={
            "recording_share": 0.5,
            "mix": {"ivr_then_agent": 0.2, "blind_transfer": 0.15, "consult_transfer": 0.1},
        },
        agents={"count": 100},
        topology={"media_server": {"enabled": True}, "recorder": {"enabled": True}},
    ),
}


def signalling(cf) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return {
        k: v for k, v in zip(cf.links["link"], cf.links["signalling_mbps"], strict=True) if v > 0
    }


def offered(sc: Scenario) -> Scenario:
    """``sc`` with the rate, call mix and recording share its simulation happens to offer
    in the measured window: the simulator's own random streams (sizing.sim.workload)
    replayed, so the comparison is of bytes per call, not of a short run's luck."""
    rngs = streams(sc.seed)
    shares = sc.traffic.mix.shares()
    picker, recorded = FlowPicker(shares, rngs["flows"]), stream(sc.seed, "recording")
    flows, n_recorded = dict.fromkeys(shares, 0), 0
    for t in ArrivalProcess.from_scenario(sc, rngs["arrivals"]).times(sc.warmup_s + sc.duration_s):
        flow, record = picker.pick(), recorded.random() < sc.traffic.recording_share
        if t >= sc.warmup_s:
            flows[flow] += 1
            n_recorded += record
    n = sum(flows.values())
    traffic = sc.traffic.model_copy(
        update={
            "calls_per_second": n / sc.duration_s,
            "recording_share": n_recorded / n,
            "mix": sc.traffic.mix.model_copy(update={f: k / n for f, k in flows.items()}),
        }
    )
    return sc.model_copy(update={"traffic": traffic})


@pytest.mark.parametrize("name", SCENARIOS)
def test_closed_form_signalling_agrees_with_the_simulation_on_every_link(name: str) -> None:
    sc = SCENARIOS[name]
    result = simulate(sc, workers=1)
    measured = {k: sig for k, (sig, _) in _measure([result]).links_mbps.items() if sig > 0}
    as_run = offered(sc)
    assert as_run.traffic.rate_cps * sc.duration_s == pytest.approx(result.kpis["calls_offered"])
    formula = signalling(closed_form(as_run))
    assert set(formula) == set(measured)
    for link, mbps in measured.items():
        assert formula[link] == pytest.approx(mbps, rel=0.05), link


def test_carrier_invite_carries_the_trunks_uui_and_custom_header_bytes() -> None:
    plain = scenario(4, 3, 5, 25, trunk={"transport": "tls"})
    extra = scenario(
        4, 3, 5, 25, trunk={"transport": "tls", "uui_bytes": 128, "custom_header_bytes": 64}
    )
    before, after = message_sizes(plain), message_sizes(extra)
    # padded_header lines are exactly that long; the SIP Server passes both on
    for a, b in (("carrier", "sbc"), ("proxy", "sip_server"), ("sip_server", "agents")):
        assert after.size(a, b, "INVITE") - before.size(a, b, "INVITE") == 128 + 64
        assert after.size(a, b, "BYE") == before.size(a, b, "BYE")


def test_via_stack_grows_through_the_proxy_chain() -> None:
    sizes = message_sizes(SCENARIOS["udp-basic"])
    hops = [("carrier", "sbc"), ("sbc", "proxy"), ("proxy", "sip_server")]
    for kind in ("INVITE", "180 INVITE", "200 BYE"):
        along = [sizes.size(a, b, kind) for a, b in hops]
        assert along == sorted(along) and along[0] < along[-1], kind
    # the SIP Server is a B2BUA: its leg to the agents starts a fresh Via stack
    assert sizes.size("sip_server", "agents", "INVITE") < sizes.size(
        "proxy", "sip_server", "INVITE"
    )


def test_probe_is_cached_on_what_shapes_messages_not_on_rates_or_hosts() -> None:
    sc = SCENARIOS["udp-basic"]
    busier = sc.model_copy(
        update={
            "traffic": sc.traffic.model_copy(update={"calls_per_second": 40.0}),
            "topology": sc.topology.model_copy(
                update={"proxy": sc.topology.proxy.model_copy(update={"instances": 5, "cores": 16})}
            ),
        }
    )
    assert probe(busier) is probe(sc)
    tls = sc.model_copy(update={"trunk": sc.trunk.model_copy(update={"transport": "tls"})})
    assert probe(tls) is not probe(sc)
    assert message_sizes(tls).size("carrier", "sbc", "INVITE") > message_sizes(sc).size(
        "carrier", "sbc", "INVITE"
    )


def test_session_refresh_sizes_are_measured_apart_from_the_flows_reinvites() -> None:
    sc = scenario(4, 3, 5, 25, trunk={"session_expires_s": 1800, "session_refresh": "invite"})
    sizes = message_sizes(sc)
    link = sizes.by_link[frozenset(("carrier", "sbc"))]
    # one re-INVITE, its 200 and ACK per hop; the proxies answer it with 100 Trying
    assert {"refresh re-INVITE", "refresh 200 re-INVITE", "refresh ACK re-INVITE"} <= set(link)
    assert "refresh 100 re-INVITE" in sizes.by_link[frozenset(("sbc", "proxy"))]
    # the refresh carries the session timer's headers and the SDP of the call
    assert sizes.size("carrier", "sbc", "refresh re-INVITE") > sizes.size("carrier", "sbc", "ACK")
