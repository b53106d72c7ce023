"""Workload generators: statistical checks against the distributions they claim.

Tolerances are 4 to 5 standard errors of the estimate (a two-sided false
alarm of at most 6e-5 per check for a fresh seed); the seeds are fixed, so a
pass is reproducible and a wrong parameterisation (off by a few percent)
fails by many standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sizing.scenario.model import Scenario, Traffic
from sizing.sim.workload import (
    PURPOSES,
    ArrivalProcess,
    FlowPicker,
    HoldingTime,
    Patience,
    PoissonArrivals,
    ProfileArrivals,
    ReplayArrivals,
    stream,
    streams,
)


def _traffic(**fields) -> Traffic:
    return Traffic.model_validate({"calls_per_second": 10, "holding_time_s": 120, **fields})


def test_poisson_count_matches_rate():
    rate, horizon = 10.0, 10_000.0
    n = sum(1 for _ in PoissonArrivals(rate, stream(1, "arrivals")).times(horizon))
    expected = rate * horizon  # Poisson count: standard deviation sqrt(expected) = 316
    assert abs(n - expected) < 4 * math.sqrt(expected)


def test_poisson_gaps_are_exponential_with_cv_one():
    times = np.fromiter(PoissonArrivals(5.0, stream(2, "arrivals")).times(20_000.0), float)
    gaps = np.diff(times)
    # Sample CV of n exponential gaps has standard error about 1/sqrt(n) (delta
    # method with the exponential's 4th moment, 24 mean^4): 0.0045 for n = 1e5.
    cv = gaps.std() / gaps.mean()
    assert abs(cv - 1.0) < 5 / math.sqrt(gaps.size)
    assert abs(gaps.mean() - 0.2) < 5 * 0.2 / math.sqrt(gaps.size)


def test_profile_gives_hourly_counts_of_the_weights():
    weights = [0.0] * 6 + [1, 2, 4, 8, 10, 10, 9, 8, 8, 7, 6, 4, 3, 2, 1] + [0.0] * 3
    traffic = _traffic(calls_per_second=2.0,
                       arrivals={"process": "profile", "hourly_weights": weights})
    process = ArrivalProcess.from_scenario(traffic, stream(3, "arrivals"))
    assert isinstance(process, ProfileArrivals)
    counts = np.bincount([int(t // 3600) for t in process.times(86_400.0)], minlength=24)
    expected = 2.0 * 3600 * np.asarray(weights) / max(weights)
    assert np.all(counts[expected == 0] == 0)
    busy = expected > 0
    # each hour's count is Poisson(expected): 4.5 sd for 18 hours -> family-wise < 2e-4
    assert np.all(np.abs(counts[busy] - expected[busy]) < 4.5 * np.sqrt(expected[busy]))


def test_profile_starts_at_start_hour():
    weights = [1.0] + [0.0] * 22 + [1.0]
    traffic = _traffic(calls_per_second=0.5,
                       arrivals={"process": "profile", "hourly_weights": weights,
                                 "start_hour": 23})
    times = list(ArrivalProcess.from_scenario(traffic, stream(4, "arrivals")).times(4 * 3600))
    hours = {int(t // 3600) for t in times}
    assert hours == {0, 1}  # 23:00 and 00:00, then silence until 23:00 again


def test_replay_gives_exactly_the_file_times(tmp_path):
    path = tmp_path / "arrivals.csv"
    path.write_text("time_s,caller\n0.5,a\n0.5,b\n1.25,c\n7,d\n")
    traffic = Traffic.model_validate({"holding_time_s": 60, "arrivals": {
        "process": "replay", "csv": str(path)}})
    process = ArrivalProcess.from_scenario(traffic, stream(1, "arrivals"))
    got, t = [], 0.0
    while (t := process.next_arrival(t)) is not None:
        got.append(t)
    assert got == [0.5, 0.5, 1.25, 7.0]
    assert process.next_arrival(7.0) is None


def test_replay_rejects_decreasing_times_naming_file_and_line(tmp_path):
    path = tmp_path / "arrivals.csv"
    path.write_text("time_s\n1\n3\n2\n")
    with pytest.raises(ValueError, match=r"arrivals\.csv:4: time_s: arrival time 2 is before"):
        ReplayArrivals.from_csv(path)


def test_replay_rejects_being_asked_past_an_unused_time():
    process = ReplayArrivals([1.0, 2.0])
    with pytest.raises(ValueError, match=r"arrival time 1 \(entry 0\) is before now \(5\)"):
        process.next_arrival(5.0)


def test_poisson_needs_a_rate_unless_replay():
    with pytest.raises(ValueError, match="rate_cps: must be a finite number > 0"):
        PoissonArrivals(0.0, stream(1, "arrivals"))


def test_busy_hour_calls_set_the_poisson_rate():
    traffic = Traffic.model_validate({"busy_hour_calls": 36_000, "holding_time_s": 60})
    process = ArrivalProcess.from_scenario(traffic, stream(1, "arrivals"))
    assert isinstance(process, PoissonArrivals) and process.rate_cps == pytest.approx(10.0)


def test_lognormal_has_the_requested_mean_and_cv():
    traffic = _traffic(holding={"kind": "lognormal", "cv": 0.8})
    holding = HoldingTime.from_scenario(traffic, stream(5, "holding"))
    x = np.array([holding.sample() for _ in range(200_000)])
    # standard error of the mean: 0.8 * 120 / sqrt(2e5) = 0.21 s; of the CV about 0.005
    assert abs(x.mean() - 120) < 5 * 0.8 * 120 / math.sqrt(x.size)
    assert abs(x.std() / x.mean() - 0.8) < 0.025


def test_exponential_and_fixed_holding():
    exp = HoldingTime("exponential", stream(6, "holding"), mean_s=90.0)
    x = np.array([exp.sample() for _ in range(100_000)])
    assert abs(x.mean() - 90) < 5 * 90 / math.sqrt(x.size)
    assert abs(x.std() / x.mean() - 1) < 5 / math.sqrt(x.size)
    fixed = HoldingTime("fixed", stream(6, "holding"), mean_s=42.0)
    assert {fixed.sample() for _ in range(10)} == {42.0}


def test_empirical_resamples_the_given_values_evenly():
    traffic = _traffic(holding_time_s=None, holding={"kind": "empirical",
                                                     "values_s": [30, 60, 240]})
    holding = HoldingTime.from_scenario(traffic, stream(7, "holding"))
    assert holding.mean_s == pytest.approx(110.0)
    x = [holding.sample() for _ in range(60_000)]
    values, counts = np.unique(x, return_counts=True)
    assert values.tolist() == [30.0, 60.0, 240.0]
    sd = math.sqrt(60_000 * (1 / 3) * (2 / 3))  # binomial count
    assert np.all(np.abs(counts - 20_000) < 4.5 * sd)


def test_holding_rejects_bad_parameters():
    with pytest.raises(ValueError, match="holding cv: must be a finite number > 0"):
        HoldingTime("lognormal", stream(1, "holding"), mean_s=60.0)
    with pytest.raises(ValueError, match=r"holding samples\[1\]: must be a finite number > 0"):
        HoldingTime("empirical", stream(1, "holding"), samples=[10.0, -1.0])
    with pytest.raises(ValueError, match="'gamma' is not one of"):
        HoldingTime("gamma", stream(1, "holding"), mean_s=60.0)


def test_flow_picker_follows_the_shares():
    shares = _traffic(mix={"ivr_then_agent": 0.3, "blind_transfer": 0.1}).mix.shares()
    picker = FlowPicker(shares, stream(8, "flows"))
    n = 100_000
    picks = [picker.pick() for _ in range(n)]
    for name, share in shares.items():
        count = picks.count(name)
        if share == 0:
            assert count == 0, name
        else:
            assert abs(count - n * share) < 4.5 * math.sqrt(n * share * (1 - share)), name


def test_flow_picker_rejects_shares_not_summing_to_one():
    with pytest.raises(ValueError, match="shares: must sum to 1, they sum to 0.9"):
        FlowPicker({"basic": 0.6, "conference": 0.3}, stream(1, "flows"))
    with pytest.raises(ValueError, match=r"shares\['basic'\]: must be a finite number >= 0"):
        FlowPicker({"basic": -0.1, "conference": 1.1}, stream(1, "flows"))


def test_patience_none_is_infinite_and_exponential_has_its_mean():
    scenario = Scenario.model_validate({
        "traffic": {"calls_per_second": 1, "holding_time_s": 60}, "trunk": {"channels": 10},
        "agents": {"count": 5, "patience": {"kind": "exponential", "mean_s": 30}}})
    patience = Patience.from_scenario(scenario, stream(9, "patience"))
    x = np.array([patience.sample() for _ in range(100_000)])
    assert abs(x.mean() - 30) < 5 * 30 / math.sqrt(x.size)
    never = Patience.from_scenario(scenario.agents.model_copy(
        update={"patience": scenario.agents.patience.model_copy(
            update={"kind": "none", "mean_s": None})}), stream(9, "patience"))
    assert never.sample() == math.inf


def test_same_seed_same_draws_and_purposes_independent():
    def draw(seed: int) -> dict[str, list[float]]:
        s = streams(seed)
        arrivals = PoissonArrivals(3.0, s["arrivals"])
        holding = HoldingTime("lognormal", s["holding"], mean_s=100.0, cv=0.5)
        return {"arrivals": list(arrivals.times(100.0)),
                "holding": [holding.sample() for _ in range(50)]}

    assert draw(11) == draw(11)
    assert draw(11)["arrivals"] != draw(12)["arrivals"]
    assert set(streams(1)) == set(PURPOSES)
    first = {p: g.random() for p, g in streams(1).items()}
    assert len(set(first.values())) == len(PURPOSES)


def test_a_stream_does_not_depend_on_other_purposes_being_used():
    # Drawing heavily from the holding stream leaves the arrival times unchanged.
    s = streams(5)
    busy = HoldingTime("exponential", s["holding"], mean_s=10.0)
    for _ in range(1000):
        busy.sample()
    with_other = list(PoissonArrivals(2.0, s["arrivals"]).times(50.0))
    alone = list(PoissonArrivals(2.0, stream(5, "arrivals")).times(50.0))
    assert with_other == alone
