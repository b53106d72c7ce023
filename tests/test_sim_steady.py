"""Steady-state start: the stationary state's sampling, and a run that opens in it.

The sampling is checked against M/G/inf theory: the number of calls in progress
is Poisson with mean lambda E[D], their flows in proportion to share x E[D], and
the remaining holding time of a call in progress has mean E[H^2] / (2 E[H]).
The simulator is checked against itself: a steady start measured after its
short default warm-up gives the calls in progress, CPU and kbps that an empty
start gives after a long one, within the replications' confidence intervals.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy
from scipy import stats as st

from sizing.scenario import scenario_from_mapping
from sizing.scenario.model import PRELUDE_S
from sizing.sim.flows import CallCentre, expected_in_progress
from sizing.sim.flows.steady import agents_in_wrap_up, calls_in_progress
from sizing.sim.simulate import run_replication
from sizing.sim.topology import build_topology
from sizing.sim.workload import HoldingTime

RATE, MEAN_H = 50.0, 120.0


def _holding(kind: str, **kw: object) -> HoldingTime:
    return HoldingTime(kind, np.random.default_rng(99), mean_s=MEAN_H, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "cv"), [("exponential", None), ("lognormal", 0.9), ("fixed", None)])
def test_calls_in_progress_are_poisson_with_length_biased_holding(kind: str, cv: float | None) -> None:
    holding = _holding(kind, cv=cv)
    rng = np.random.default_rng(1)
    counts, residuals = [], []
    for _ in range(40):
        calls = calls_in_progress(RATE, {"basic": 1.0}, holding, rng, pre_s={}, extra_s={}, limit=10**6)
        counts.append(len(calls))
        residuals += [c.holding - c.age for c in calls]
    mean = RATE * MEAN_H  # 6,000 calls in progress
    assert np.mean(counts) == pytest.approx(mean, abs=4 * math.sqrt(mean / len(counts)))
    # E[residual] = E[H^2] / (2 E[H]) = E[H] (1 + cv^2) / 2
    cv2 = {"exponential": 1.0, "lognormal": 0.81, "fixed": 0.0}[kind]
    expected = MEAN_H * (1 + cv2) / 2
    sd = np.std(residuals) / math.sqrt(len(residuals))
    assert np.mean(residuals) == pytest.approx(expected, abs=4 * sd + 1e-9)
    assert all(0 <= c.age <= c.holding for c in calls)


def test_empirical_holding_is_picked_in_proportion_to_its_length() -> None:
    holding = HoldingTime("empirical", np.random.default_rng(2), samples=[10.0, 30.0])
    rng = np.random.default_rng(3)
    picks = [holding.length_biased(rng) for _ in range(20_000)]
    share_long = picks.count(30.0) / len(picks)  # 30 / (10 + 30)
    assert share_long == pytest.approx(0.75, abs=4 * math.sqrt(0.75 * 0.25 / len(picks)))


def test_flows_and_phases_follow_their_share_of_channel_time() -> None:
    holding = _holding("exponential")
    rng = np.random.default_rng(4)
    ivr = 20.0
    calls = calls_in_progress(RATE, {"basic": 0.5, "ivr_then_agent": 0.5}, holding, rng,
                              pre_s={"ivr_then_agent": ivr}, extra_s={}, limit=10**6)
    ivr_calls = [c for c in calls if c.flow == "ivr_then_agent"]
    # share of channel time: 0.5 (20 + 120) against 0.5 x 120
    p = (ivr + MEAN_H) / (ivr + 2 * MEAN_H)
    assert len(ivr_calls) / len(calls) == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / len(calls)))
    # an IVR call is in its IVR with probability 20 / 140; talk already over only after it
    q = ivr / (ivr + MEAN_H)
    in_ivr = sum(c.age < c.pre for c in ivr_calls) / len(ivr_calls)
    assert in_ivr == pytest.approx(q, abs=4 * math.sqrt(q * (1 - q) / len(ivr_calls)))
    assert all(c.talked == 0 for c in ivr_calls if c.age < c.pre)
    assert all(c.pre == 0 and c.talked == c.age for c in calls if c.flow == "basic")


def test_calls_in_progress_stop_at_the_trunks_channels() -> None:
    calls = calls_in_progress(RATE, {"basic": 1.0}, _holding("fixed"), np.random.default_rng(5),
                              pre_s={}, extra_s={}, limit=100)
    assert len(calls) == 100


def test_agents_in_wrap_up_are_poisson_with_uniform_residuals() -> None:
    rng = np.random.default_rng(6)
    draws = [agents_in_wrap_up(2.0, 30.0, rng, limit=10**6) for _ in range(200)]
    assert np.mean([len(d) for d in draws]) == pytest.approx(60.0, abs=4 * math.sqrt(60 / 200))
    residuals = [r for d in draws for r in d]
    assert min(residuals) >= 0 and max(residuals) <= 30.0
    assert np.mean(residuals) == pytest.approx(15.0, abs=4 * 30 / math.sqrt(12 * len(residuals)))
    assert len(agents_in_wrap_up(2.0, 30.0, rng, limit=5)) <= 5


def _centre(start: str, warmup: float | None, **extra: object):  # type: ignore[no-untyped-def]
    data: dict[str, object] = {
        "seed": 20, "duration_s": 100, "simulation": {"start": start},
        "traffic": {"calls_per_second": 1.0, "holding_time_s": 40, "holding": {"kind": "lognormal", "cv": 0.8},
                    "mix": {"basic": 0.6, "ivr_then_agent": 0.2, "blind_transfer": 0.1,
                            "consult_transfer": 0.05, "conference": 0.05},
                    "recording_share": 0.2},
        "trunk": {"channels": 500},
        "agents": {"count": 80, "wrap_up_s": 20},
        "topology": {"media_server": {"enabled": True}, "recorder": {"enabled": True}},
    }
    if warmup is not None:
        data["warmup_s"] = warmup
    data.update(extra)
    return scenario_from_mapping(data)


FIGURES = ("mean_concurrent_calls", "agent_occupancy", "cpu:sip_server-1", "cpu:proxy-1",
           "kbps:carrier->sbc-1", "kbps:sip_server-1->agents")


def _figures(run: dict) -> dict[str, float]:  # type: ignore[type-arg]
    out = {k: run["kpis"][k] for k in ("mean_concurrent_calls", "agent_occupancy")}
    out.update({f"cpu:{n}": c for n, c in zip(run["hosts"]["name"], run["hosts"]["cpu_mean"], strict=True)})
    links = run["links"]
    out.update({f"kbps:{s}->{d}": k for s, d, k in zip(links["src"], links["dst"], links["total_kbps"], strict=True)})
    return out


@pytest.mark.slow
def test_a_steady_start_measures_what_a_long_empty_start_measures() -> None:
    steady = _centre("steady", None)
    empty = _centre("empty", 200)  # five mean holding times
    assert steady.warmup_s == 20
    reps = 5
    a = [_figures(run_replication(steady, steady.seed + r)) for r in range(reps)]
    b = [_figures(run_replication(empty, empty.seed + r)) for r in range(reps)]
    t = st.t.ppf(0.995, 2 * reps - 2)
    for key in FIGURES:
        x, y = np.array([f[key] for f in a]), np.array([f[key] for f in b])
        # 99 % interval of the difference of the two means (six figures compared at once)
        half = t * math.sqrt(x.var(ddof=1) / reps + y.var(ddof=1) / reps)
        assert abs(x.mean() - y.mean()) <= half + 1e-9, (key, x.mean(), y.mean(), half)
    # and the steady start is in steady state from its first measured second
    # (1 call/s x (40 s + 4 s of IVR + 2 s of ringing + 0.75 s of consultation) on average)
    assert expected_in_progress(steady) == pytest.approx(46.75)
    assert np.mean([f["mean_concurrent_calls"] for f in a]) == pytest.approx(46.75, rel=0.1)


def test_the_mix_holds_its_flows_channel_times() -> None:
    scenario = _centre("steady", None, traffic={
        "calls_per_second": 2.0, "holding_time_s": 100,
        "mix": {"basic": 0.5, "abandoned": 0.2, "busy_no_answer": 0.1, "ivr_then_agent": 0.2}})
    # 2 x (0.5 x 102 + 0.2 x 1 + 0.1 x (2 + 15) / 2 + 0.2 x (20 + 2 + 100)) = 152.9
    assert expected_in_progress(scenario) == pytest.approx(152.9)
    no_agents = scenario_from_mapping({
        "traffic": {"calls_per_second": 2.0, "holding_time_s": 100,
                    "mix": {"basic": 0.7, "abandoned": 0.2, "busy_no_answer": 0.1}},
        "trunk": {"channels": 1000}})
    # without agents a busy_no_answer call meets a busy or unanswered far end all the same
    assert expected_in_progress(no_agents) == pytest.approx(2 * (0.7 * 100 + 0.2 * 1 + 0.1 * 8.5))


def test_a_steady_start_charges_nothing_for_the_calls_it_opens_with() -> None:
    # the calls in progress at t = 0 are set up during the prelude at no CPU cost; work
    # after it is charged as usual
    scenario = _centre("steady", None)
    env = simpy.Environment()
    topo = build_topology(scenario, env, seed=7)
    centre = CallCentre(topo, 7)
    centre.start()
    env.run(until=PRELUDE_S)
    assert len(topo.gate.active) > 25  # the calls in progress (about 46), set up
    assert all(host.busy_s == 0 for host in topo.net.hosts.values())
    present = [fc for fc in centre.calls.values() if fc.present is not None]
    assert present and all(fc.answered_at is not None for fc in present)  # no ringing
    env.run(until=PRELUDE_S + 5)
    assert topo.net.hosts["sip_server-1"].busy_s > 0


def test_first_registrations_spread_over_the_expiry_not_over_the_run() -> None:
    # 1,000 endpoints with a 3,600 s expiry register 1000 / 3600 = 0.278 times a second,
    # whatever the run's length (they were squeezed into the run before)
    scenario = scenario_from_mapping({
        "seed": 4, "warmup_s": 20, "duration_s": 100,
        "traffic": {"calls_per_second": 0.01, "holding_time_s": 10}, "trunk": {"channels": 10},
        "endpoints": {"count": 1000, "expiry_s": 3600, "keepalive": {"method": "none"}},
        "topology": {"registrar": {"enabled": True}},
    })
    run = run_replication(scenario, 4)
    hosts = run["hosts"]
    row = hosts["name"].index(next(n for n in hosts["name"] if n.startswith("registrar")))
    rate = hosts["msgs_per_s"][row] / 2  # each REGISTER in, its 200 out
    p = 100 / 3600  # an endpoint's first REGISTER falls in the 100 s window
    assert rate == pytest.approx(1000 / 3600, abs=4 * math.sqrt(1000 * p * (1 - p)) / 100)
