"""sizing.plan.budget: a simulation that would not finish or not fit is refused before it
starts, with the same sentence from ``sizing run``, ``plan``, ``batch`` and the web form."""

from __future__ import annotations

from pathlib import Path

import pytest

from sizing.app.runs import simulation_refusal
from sizing.cli.main import main
from sizing.plan import plan
from sizing.plan.budget import (
    MAX_SIMULATED_CALLS,
    SimulationTooLarge,
    check_simulation,
    simulation_size,
)
from sizing.scenario import apply_overrides, load_scenario

EXAMPLE = Path(__file__).parents[1] / "data" / "examples" / "minimal.yaml"

TOO_LARGE = {
    "calls": (["traffic.calls_per_second=10000", "duration_s=604800"], "calls"),
    "replications": (["traffic.calls_per_second=100", "replications=1000"], "calls"),
    "registrations": (["endpoints.count=5000000", "endpoints.expiry_s=0.001"],
                      "messages and timers"),
    "keep-alives": (["endpoints.count=5000000", "endpoints.keepalive.method=crlf",
                     "endpoints.keepalive.interval_s=0.001"], "messages and timers"),
    "memory": (["agents.count=5000000", "traffic.calls_per_second=1",
                "traffic.holding_time_s=1"], "GiB of memory"),
    "busy lamps": (["endpoints.count=100000", "endpoints.presence_subscriptions=1000"], "GiB of memory"),
    "busy-lamp refreshes": (["endpoints.count=100000", "endpoints.presence_subscriptions=300",
                             "endpoints.presence_refresh_s=30"], "messages and timers"),
}


def scenario(overrides: list[str]):
    return apply_overrides(load_scenario(EXAMPLE), overrides)


def test_the_example_is_small_enough():
    size = check_simulation(load_scenario(EXAMPLE))
    assert size.calls == pytest.approx(5 * 620)  # 5 calls/s over 20 s of warm-up and 600 s


@pytest.mark.parametrize("case", sorted(TOO_LARGE))
def test_a_simulation_too_large_is_refused_saying_why(case):
    overrides, what = TOO_LARGE[case]
    with pytest.raises(SimulationTooLarge, match=what):
        check_simulation(scenario(overrides), hint="use --no-simulate")


def test_the_refusal_gives_the_arithmetic_and_the_way_out():
    sc = scenario(["traffic.calls_per_second=10000", "duration_s=604800", "warmup_s=0",
                   "simulation.start=empty"])
    assert simulation_size(sc).calls == pytest.approx(6.048e9)
    with pytest.raises(SimulationTooLarge) as info:
        check_simulation(sc, hint="use --no-simulate or shorten duration_s")
    assert str(info.value).startswith("this would simulate 6e+09 calls (10000 calls/s x "
                                      "604800 s x 1 replication(s))")
    assert "use --no-simulate or shorten duration_s" in str(info.value)
    assert f"{MAX_SIMULATED_CALLS:.0e}" in str(info.value)


def test_plan_refuses_before_simulating_and_the_closed_form_still_answers():
    sc = scenario(TOO_LARGE["calls"][0])
    with pytest.raises(SimulationTooLarge):
        plan(sc, simulate=True)
    assert plan(sc, simulate=False).trunk_channels > 0


@pytest.mark.parametrize("case", sorted(TOO_LARGE))
def test_sizing_run_refuses_with_exit_2(tmp_path, capsys, case):
    overrides, what = TOO_LARGE[case]
    out = tmp_path / "out"
    args = ["run", str(EXAMPLE), "--quiet", "--format", "csv", "--out", str(out)]
    for o in overrides:
        args += ["--set", o]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sizing: error: {EXAMPLE}: this ")
    assert what in err and not out.exists()


def test_sizing_plan_refuses_with_exit_2_and_points_at_no_simulate(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["plan", str(EXAMPLE), "--out", str(out), "--set",
                 "traffic.calls_per_second=10000", "--set", "duration_s=604800"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sizing: error: {EXAMPLE}: this would simulate")
    assert "use --no-simulate" in err and not out.exists()


def test_sizing_batch_refuses_the_site_before_writing_anything(tmp_path, capsys):
    sites = tmp_path / "sites.csv"
    sites.write_text("site,traffic.calls_per_second,duration_s\nsmall,1,10\nhuge,10000,604800\n")
    out = tmp_path / "out"
    assert main(["batch", str(sites), "--base", str(EXAMPLE), "--out", str(out),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"sizing: error: {sites}:3: site huge: this would simulate" in err
    assert "small" not in err and not out.exists()


def test_sizing_batch_without_simulation_accepts_the_same_site(tmp_path):
    sites = tmp_path / "sites.csv"
    sites.write_text("site,traffic.calls_per_second,duration_s\nhuge,10000,604800\n")
    assert main(["batch", str(sites), "--base", str(EXAMPLE), "--out", str(tmp_path / "out"),
                 "--no-progress", "--no-simulate", "--workers", "1"]) == 0


def test_the_web_form_says_the_same_before_simulating():
    sc = scenario(TOO_LARGE["calls"][0])
    assert simulation_refusal(sc).startswith("this would simulate")
    assert simulation_refusal(load_scenario(EXAMPLE)) is None
