"""The hybrid engine: scripts recorded from the engine, replayed, and compared with the full engine.

Each comparison runs the same scenario (same seed: the same arrivals, holding
times and flows) once with every call on the full engine and once hybrid,
and holds the hybrid's figures to the full engine's: counts per host and
link within a few per cent, call outcomes within a few calls.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pytest

from sizing.scenario import Scenario
from sizing.sim.flows import expected_in_progress
from sizing.sim.replay import replayable, script_book
from sizing.sim.simulate import simulate


def scenario(**over: Any) -> Scenario:
    data: dict[str, Any] = {
        "seed": 3, "duration_s": 60, "warmup_s": 10,
        "traffic": {"calls_per_second": 20, "holding_time_s": 20},
        "trunk": {"channels": 5000},
    }
    for key, value in over.items():
        node = data
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return Scenario.model_validate(data)


def _example(name: str, **over: Any) -> Scenario:
    from pathlib import Path

    from sizing.scenario import apply_overrides, load_scenario

    path = Path(__file__).parent.parent / "data" / "examples" / name
    return apply_overrides(load_scenario(path), [f"{k}={v}" for k, v in over.items()], base_dir=path.parent)


@lru_cache(maxsize=16)
def _pair(key: str) -> tuple[Any, Any]:
    sc = CASES[key]
    full = simulate(sc.model_copy(update={"simulation": sc.simulation.model_copy(update={"engine": "full"})}),
                    workers=1)
    hybrid = simulate(sc, workers=1)
    return full, hybrid


CASES = {
    "low load": scenario(),
    "5 % loss": scenario(**{"links.default.loss": 0.05}),
    "50 % CPU": scenario(**{"duration_s": 30, "warmup_s": 5, "traffic.calls_per_second": 63,
                            "topology.sbc.cores": 1}),
    "90 % CPU": scenario(**{"duration_s": 30, "warmup_s": 5, "traffic.calls_per_second": 114,
                            "topology.sbc.cores": 1}),
    "2x overload, drop": scenario(**{"duration_s": 30, "warmup_s": 5, "traffic.calls_per_second": 170,
                                     "topology.sbc.cores": 1, "topology.sbc.overload.policy": "drop"}),
    "2x overload, 503": scenario(**{"duration_s": 30, "warmup_s": 5, "traffic.calls_per_second": 170,
                                    "topology.sbc.cores": 1}),
    "2x overload, loss-based": scenario(**{"duration_s": 30, "warmup_s": 5, "traffic.calls_per_second": 170,
                                           "topology.sbc.cores": 1, "topology.sbc.overload.policy": "loss"}),
    "flows, TLS per call, recording, blocking": scenario(**{
        "seed": 4, "traffic.recording_share": 0.5, "traffic.holding_time_s": 20,
        "traffic.mix": {"basic": 0.4, "abandoned": 0.2, "busy_no_answer": 0.4},
        "trunk.channels": 245, "trunk.transport": "tls", "trunk.calls_per_connection": 1,
        "topology.recorder.enabled": True}),
    "contact-centre-500": _example("contact-centre-500.yaml", duration_s=300, replications=1,
                                   **{"simulation.engine_share": 0.02}),
    "IVR, queue, abandonment": scenario(**{
        "seed": 6, "duration_s": 150, "agents.count": 100, "agents.wrap_up_s": 5,
        "agents.patience": {"kind": "exponential", "mean_s": 30}, "topology.media_server.enabled": True,
        "traffic.calls_per_second": 4, "traffic.holding_time_s": 20, "traffic.recording_share": 0.3,
        "topology.recorder.enabled": True, "traffic.mix": {"ivr_then_agent": 1.0}}),
    "calls queued on arrival": scenario(**{
        "seed": 10, "duration_s": 150, "agents.count": 70, "agents.wrap_up_s": 2,
        "agents.patience": {"kind": "exponential", "mean_s": 30}, "topology.media_server.enabled": True,
        "traffic.calls_per_second": 4, "traffic.holding_time_s": 15,
        "traffic.mix": {"basic": 0.6, "blind_transfer": 0.2, "conference": 0.2}}),
    "keep-alives, 5 % loss": scenario(**{
        "seed": 7, "links.default.loss": 0.05, "endpoints.count": 400,
        "endpoints.keepalive": {"method": "options", "interval_s": 10}}),
    "agents, every agent flow": scenario(**{
        "seed": 5, "duration_s": 150, "agents.count": 600, "agents.wrap_up_s": 5,
        "traffic.calls_per_second": 10, "traffic.holding_time_s": 15,
        "traffic.mix": {"basic": 0.4, "blind_transfer": 0.15, "consult_transfer": 0.15, "conference": 0.15,
                        "abandoned": 0.075, "busy_no_answer": 0.075}}),
    "carrier REFER": scenario(**{
        "seed": 8, "duration_s": 100, "agents.count": 600, "agents.wrap_up_s": 5,
        "traffic.calls_per_second": 10, "traffic.holding_time_s": 15,
        "traffic.mix": {"basic": 0.5, "carrier_refer": 0.5}}),
    "busy lamps": scenario(**{
        "seed": 9, "duration_s": 100, "agents.count": 600, "agents.wrap_up_s": 5,
        "traffic.calls_per_second": 10, "traffic.holding_time_s": 15,
        "endpoints.count": 100, "endpoints.presence_subscriptions": 12, "endpoints.presence_refresh_s": 300,
        "traffic.mix": {"basic": 0.8, "abandoned": 0.1, "blind_transfer": 0.1}}),
}


def _hosts(result: Any) -> dict[str, Any]:
    """Per role (a pool's members get their calls by a hash of the Call-ID, which differs)."""
    return result.hosts.groupby("role").sum(numeric_only=True).to_dict("index")


def _links(result: Any) -> dict[tuple[str, str], Any]:
    """Per pair of roles."""
    roles = dict(zip(result.hosts["name"], result.hosts["role"], strict=True))
    links = result.links.assign(src=result.links["src"].map(roles), dst=result.links["dst"].map(roles))
    return links.groupby(["src", "dst"]).sum(numeric_only=True).to_dict("index")


def test_a_basic_calls_script_is_the_engines_call_step_by_step() -> None:
    book = script_book(scenario())
    script = book.get("basic", "plain")
    assert script is not None
    steps = script.steps
    first = steps[0]
    assert (first.src, first.kind, first.parent) == ("carrier", "INVITE", -1)
    assert ("admit",) in first.hooks  # the trunk's channel is taken where the edge handles it
    hang_up = [s for s in steps if s.per_holding]
    assert [(s.src, s.kind, s.per_holding) for s in hang_up if s.data is not None] == [("carrier", "BYE", 1.0)]
    told = [h[1] for s in steps for h in s.hooks if h[0] == "caller"]
    assert told[:2] == ["provisional", "answered"] and told[-1] == "ended"
    for i, s in enumerate(steps):
        if s.status:  # every response answers a request its receiver sent, earlier
            assert 0 <= s.answers < i and steps[s.answers].src == s.dst and steps[s.answers].request
    own = [i for i, s in enumerate(steps) if s.until_ack]
    assert own and all(any(a.acks == i for a in steps) for i in own)  # each 2xx's ACK is known
    blocked = book.get("basic", "blocked")
    assert blocked is not None and blocked.same_until(script, 0)
    assert [s.kind for s in blocked.steps if s.data is not None] == ["INVITE", "503 INVITE", "ACK"]


def test_flows_that_wait_for_run_time_decisions_run_on_the_engine() -> None:
    flows, why = replayable(scenario(**{"trunk.session_expires_s": 1800}))
    assert not flows and "session timer" in why["basic"]
    full, hybrid = scenario(**{"trunk.session_expires_s": 1800}), scenario()
    assert simulate(full, workers=1).kpis.get("calls_replayed") is None
    result = simulate(hybrid, workers=1)
    assert result.kpis["calls_replayed"] > 0.9 * result.kpis["calls_offered"] - 60


def test_a_call_that_finds_no_idle_agent_is_replayed_through_the_queue() -> None:
    """A call offered to the ACD with every agent busy waits in the media server's queue
    (answered there) until the ACD hands it an agent, then the SIP Server transfers it;
    if its caller gives up first, the caller hangs up. Both scripts share all that goes
    before the wait; the figures the ACD gives agree with the full engine's."""
    sc = CASES["calls queued on arrival"]
    book = script_book(sc)
    for flow in ("basic", "blind_transfer", "conference"):
        queued, gave_up = book.get(flow, "queued"), book.get(flow, "queued_gaveup")
        assert queued is not None and gave_up is not None, flow
        wait = next(i for i, s in enumerate(queued.steps) if ("assigned",) in s.hooks)
        assert queued.steps[wait].data is None and ("gave_up",) in gave_up.steps[wait].hooks
        assert gave_up.same_until(queued, wait - 1)
        before = [(s.src, s.dst, s.kind) for s in queued.steps[:wait]]
        assert ("sip_server-1", "media_server-1", "INVITE") in before and ("sbc-1", "carrier", "200 INVITE") in before
        after = [(s.src, s.dst, s.kind) for s in queued.steps if s.parent == wait]
        assert after[0] == ("sip_server-1", "agents", "INVITE")
        assert [(s.src, s.kind) for s in gave_up.steps if s.parent == wait] == [("carrier", "BYE")]
    full, hybrid = _pair("calls queued on arrival")
    f, h = full.kpis, hybrid.kpis
    assert f["asa_s"] > 1 and f["abandon_ratio"] > 0.03 and f["agent_occupancy"] > 0.9  # the case queues
    assert h["calls_replayed"] > 0.5 * h["calls_offered"]
    assert h["abandon_ratio"] == pytest.approx(f["abandon_ratio"], abs=0.03)
    assert h["asa_s"] == pytest.approx(f["asa_s"], rel=0.15, abs=0.5)
    assert h["agent_occupancy"] == pytest.approx(f["agent_occupancy"], abs=0.03)


def test_a_retransmission_refused_while_its_original_waits_has_its_own_script() -> None:
    """An overloaded front end refuses a caller's retransmitted INVITE while the original
    still waits in its queue: the caller fails the call (503), yet the original goes on
    downstream when its turn comes; its 2xx is never ACKed, so the SIP Server sends it
    until Timer H and then hangs up with a BYE."""
    sc = CASES["2x overload, 503"]
    book = script_book(sc)
    plain, late = book.get("basic", "plain"), book.get("basic", "plain@0late")
    assert plain is not None and late is not None
    again = [i for i, s in enumerate(late.steps) if s.again == 0]
    assert len(again) == 1 and late.steps[again[0]].data == plain.steps[0].data  # the same INVITE, again
    refusal = [s for s in late.steps if s.parent == again[0]]
    assert [(s.src, s.kind) for s in refusal] == [("sbc-1", "503 INVITE")]
    assert ("caller", "failed", 503) in refusal[0].hooks and not refusal[0].until_ack  # stateless
    assert late.same_until(plain, 0) and late.steps[1].kind == plain.steps[1].kind  # the original goes on
    unacked = [s for s in late.steps if s.unacked]
    assert [(s.src, s.kind) for s in unacked] == [("sip_server-1", "200 INVITE")]
    assert not any(s.data == late.steps[i].data and (s.src, s.dst) == (late.steps[i].src, late.steps[i].dst)
                   for i in range(len(late.steps)) for s in late.steps[i + 1:] if s.again < 0)  # no repeats
    timer_h = [s for s in late.steps if s.delay_s == pytest.approx(64 * 0.5)]
    assert {s.kind for s in timer_h if s.data is not None} == {"BYE"}


def test_a_new_invite_its_sender_refuses_by_rfc_7339_has_its_own_script() -> None:
    """Under loss-based control a client refuses a share of its new INVITEs itself: the
    SBC answers the caller 503 from its own transaction (its channel taken and freed
    there), and a carrier that refuses its own INVITE sends nothing at all."""
    sc = scenario(**{"topology.proxy.overload.policy": "loss", "topology.sbc.overload.policy": "loss"})
    flows, why = replayable(sc)
    assert flows == {"basic"} and not why
    book = script_book(sc)
    plain, at_sbc, at_carrier = (book.get("basic", o) for o in ("plain", "plain@2oc", "plain@0oc"))
    assert plain is not None and at_sbc is not None and at_carrier is not None
    assert (plain.steps[2].src, plain.steps[2].dst, plain.steps[2].kind) == ("sbc-1", "proxy-1", "INVITE")
    assert at_sbc.same_until(plain, 1)
    assert [(s.src, s.dst, s.kind) for s in at_sbc.steps[2:]] == [("sbc-1", "carrier", "503 INVITE"),
                                                                  ("carrier", "sbc-1", "ACK")]
    assert ("caller", "failed", 503) in at_sbc.steps[2].hooks and at_sbc.steps[2].until_ack  # stateful
    assert at_sbc.steps[0].hooks == (("admit",), ("release",))
    assert at_carrier.steps == ()


@pytest.mark.parametrize("case", ["low load", "5 % loss", "50 % CPU", "90 % CPU", "2x overload, drop",
                                  "2x overload, 503", "2x overload, loss-based", "flows, TLS per call, recording, blocking", "contact-centre-500",
                                  "IVR, queue, abandonment", "calls queued on arrival", "keep-alives, 5 % loss", "agents, every agent flow",
                                  "carrier REFER", "busy lamps"])
def test_hybrid_gives_the_full_engines_hosts_and_links(case: str) -> None:
    full, hybrid = _pair(case)
    assert hybrid.kpis["calls_replayed"] > 0.1 * hybrid.kpis["calls_offered"]
    assert hybrid.kpis["calls_offered"] == full.kpis["calls_offered"]  # the same arrivals
    hosts_f, hosts_h = _hosts(full), _hosts(hybrid)
    for name, row in hosts_f.items():
        other = hosts_h[name]
        assert other["msgs_per_s"] == pytest.approx(row["msgs_per_s"], rel=0.04, abs=0.5), name
        assert other["cpu_mean"] == pytest.approx(row["cpu_mean"], rel=0.04, abs=0.002), name
        # the busiest 1-s samples: a few calls' timing moves them more than the mean
        assert other["cpu_p95"] == pytest.approx(row["cpu_p95"], rel=0.08, abs=0.003), name
    links_f, links_h = _links(full), _links(hybrid)
    for pair, row in links_f.items():
        other = links_h[pair]
        assert other["signalling_kbps"] == pytest.approx(row["signalling_kbps"], rel=0.04, abs=0.5), pair
        assert other["media_kbps"] == pytest.approx(row["media_kbps"], rel=0.03, abs=1.0), pair
        assert other["connections_per_s"] == pytest.approx(row["connections_per_s"], rel=0.02, abs=0.05), pair


@pytest.mark.parametrize("case", list(CASES))
def test_hybrid_gives_the_full_engines_call_figures(case: str) -> None:
    full, hybrid = _pair(case)
    f, h = full.kpis, hybrid.kpis
    offered = f["calls_offered"]
    for key in ("calls_answered", "calls_blocked", "calls_abandoned"):
        assert h[key] == pytest.approx(f[key], abs=max(0.03 * offered, 5)), key
    assert h["mean_concurrent_calls"] == pytest.approx(f["mean_concurrent_calls"], rel=0.03)
    for key in ("ser", "seer", "isa"):  # shares of the attempts (RFC 6076)
        assert h[key] == pytest.approx(f[key], abs=0.02), key
    assert h["overload_rejections"] == pytest.approx(f["overload_rejections"], rel=0.05, abs=5)
    assert h["srd_p50_ms"] == pytest.approx(f["srd_p50_ms"], rel=0.05, abs=0.5)
    assert h["srd_p95_ms"] == pytest.approx(f["srd_p95_ms"], rel=0.10, abs=1.0)
    assert h["retransmissions_per_call"] == pytest.approx(f["retransmissions_per_call"], rel=0.15, abs=0.01)
    assert h["overload_drops"] == pytest.approx(f["overload_drops"], rel=0.05, abs=5)


def test_an_ivr_call_waits_for_its_agent_and_its_caller_gives_up_as_on_the_engine() -> None:
    """After the IVR a replayed call waits at its script's ``offer`` moment for the ACD;
    when the caller's patience runs out first it goes on as its ``gaveup`` script."""
    sc = CASES["IVR, queue, abandonment"]
    book = script_book(sc)
    plain, gave_up = book.get("ivr_then_agent", "plain"), book.get("ivr_then_agent", "gaveup")
    assert plain is not None and gave_up is not None
    wait = next(i for i, s in enumerate(plain.steps) if ("offer",) in s.hooks)
    assert plain.steps[wait].data is None and gave_up.same_until(plain, wait)
    after = [s.kind for s in gave_up.steps[wait + 1:] if s.data is not None]
    assert after[0] == "BYE" and "INVITE" not in after  # the caller hangs up; no agent is called
    full, hybrid = _pair("IVR, queue, abandonment")
    f, h = full.kpis, hybrid.kpis
    assert f["abandon_ratio"] > 0.05 and f["asa_s"] > 1  # the case queues, and callers give up
    assert h["calls_replayed"] > 0.5 * h["calls_offered"]
    assert h["abandon_ratio"] == pytest.approx(f["abandon_ratio"], abs=0.03)
    assert h["asa_s"] == pytest.approx(f["asa_s"], rel=0.15, abs=0.5)
    assert h["agent_occupancy"] == pytest.approx(f["agent_occupancy"], abs=0.03)


def test_keep_alives_are_replayed_from_the_engines_recording() -> None:
    """A registered phone's keep-alive OPTIONS is a recorded two-step script (request and
    its 200 OK); replayed, it is retransmitted and times out as the engine's would."""
    from sizing.sim.replay import background_book

    sc = CASES["keep-alives, 5 % loss"]
    book = background_book(sc)
    assert book is not None
    script = book.get("keepalive", "phone")
    assert script is not None
    assert [(s.src, s.kind) for s in script.steps] == [("endpoints", "OPTIONS"), (script.steps[0].dst, "200 OPTIONS")]
    assert script.steps[0].request == "OPTIONS" and script.steps[1].answers == 0
    assert background_book(scenario()) is None  # no registered phones
    full, hybrid = _pair("keep-alives, 5 % loss")
    phones = _hosts(full)["endpoints"]["msgs_per_s"]
    assert phones > 60  # 400 phones, an OPTIONS and its answer every 10 s
    assert _hosts(hybrid)["endpoints"]["msgs_per_s"] == pytest.approx(phones, rel=0.03)
    assert hybrid.kpis["retransmissions"] == pytest.approx(full.kpis["retransmissions"], rel=0.15)


def test_the_cpu_cases_load_the_sbc_as_named() -> None:
    for case, low, high in (("50 % CPU", 0.4, 0.6), ("90 % CPU", 0.85, 0.95)):
        full, _hybrid = _pair(case)
        sbc = full.hosts.set_index("role").loc["sbc", "cpu_mean"]
        assert low < sbc < high, (case, sbc)


def test_the_5_percent_loss_case_retransmits_as_rfc_3261_says() -> None:
    full, hybrid = _pair("5 % loss")
    assert full.kpis["retransmissions_per_call"] > 1  # the comparison above is not of zeros
    assert hybrid.kpis["ser"] == pytest.approx(full.kpis["ser"], abs=0.01)


def test_a_steady_hybrid_run_opens_with_the_calls_in_progress() -> None:
    sc = scenario(**{"traffic.calls_per_second": 30, "traffic.holding_time_s": 120})
    result = simulate(sc, workers=1)
    assert result.kpis["calls_replayed"] > 0.9 * result.kpis["calls_offered"] - 60
    assert result.kpis["mean_concurrent_calls"] == pytest.approx(expected_in_progress(sc), rel=0.05)
    assert not result.warnings


def test_the_self_check_tells_two_populations_apart_only_beyond_chance() -> None:
    import numpy as np

    from sizing.sim.replay.check import engine_gap

    rng = np.random.default_rng(7)
    same = rng.exponential(0.02, 4000)
    assert engine_gap(same[:200], same[200:], (190, 3610), (200, 3800)) is None
    slower = rng.exponential(0.04, 200)
    gap = engine_gap(slower, same, (190, 3800), (200, 4000))
    assert gap is not None and "SRD p95" in gap
    fewer = engine_gap(same[:200], same[200:], (150, 3610), (200, 3800))
    assert fewer is not None and "answered" in fewer
    assert engine_gap(same[:20], same, (20, 4000), (20, 4000)) is None  # too few to tell


def test_a_hybrid_run_agrees_with_its_own_engine_sample() -> None:
    full, hybrid = _pair("low load")
    assert not any("self-check" in w for w in hybrid.warnings)
    assert hybrid.kpis["srd_p95_ms_engine"] == pytest.approx(hybrid.kpis["srd_p95_ms_replayed"], rel=0.25, abs=2)


def test_the_self_check_pools_the_replications_engine_samples() -> None:
    """Each replication keeps only its share of the engine's sample (50 calls per flow
    over all of them): five replications of 10 slow engine calls each are compared as 50."""
    import numpy as np

    from sizing.sim.simulate import _self_check

    rng = np.random.default_rng(11)
    runs = [{"compared": [("basic", True, list(rng.exponential(0.2, 10)), 10, 10),
                          ("basic", False, list(rng.exponential(0.02, 800)), 800, 800)]}
            for _ in range(5)]
    assert _self_check(runs[:1]) == []  # ten calls of one replication: too few to tell
    warned = _self_check(runs)
    assert len(warned) == 1 and "basic: SRD p95" in warned[0]
