"""simulate(): the example scenario end to end, determinism, replications, result formats, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sizing.cli.simulate import add_run_command
from sizing.scenario import apply_overrides, load_scenario
from sizing.sim.result import Result
from sizing.sim.simulate import simulate

EXAMPLE = Path(__file__).parents[1] / "data" / "examples" / "minimal.yaml"
SHORT = ["duration_s=20", "warmup_s=5", "traffic.holding_time_s=8"]


@pytest.fixture(scope="module")
def result() -> Result:
    return simulate(apply_overrides(load_scenario(EXAMPLE), SHORT))


def test_the_minimal_example_gives_sane_kpis(result: Result) -> None:
    k = result.kpis
    assert 50 < k["calls_offered"] < 160  # 5 calls/s over 20 s
    assert k["calls_blocked"] == 0 and k["scr"] == 1.0
    assert 0 < k["srd_p50_ms"] <= k["srd_p95_ms"] < 100
    assert 0 < k["mean_concurrent_calls"] <= k["peak_concurrent_calls"] <= 100
    assert (result.hosts.set_index("name").loc["sip_server-1", "cpu_mean"]) > 0


def test_to_json_has_kpis_hosts_and_links(result: Result) -> None:
    doc = json.loads(result.to_json())
    assert list(doc) == ["kpis", "hosts", "links"]
    assert {"name", "role", "cores", "cpu_mean", "cpu_p95", "msgs_per_s"} <= set(doc["hosts"][0])
    assert any(link["media_kbps"] > 0 for link in doc["links"])


def test_the_same_seed_gives_identical_json(result: Result) -> None:
    again = simulate(apply_overrides(load_scenario(EXAMPLE), SHORT))
    assert again.to_json() == result.to_json()


def test_parallel_replications_equal_serial_ones_and_have_confidence_intervals() -> None:
    scenario = apply_overrides(load_scenario(EXAMPLE), [*SHORT, "duration_s=10", "replications=2"])
    serial, parallel = simulate(scenario, workers=1), simulate(scenario, workers=2)
    assert serial.to_json() == parallel.to_json()
    assert serial.seeds == [1, 2] and serial.ci["calls_offered"] > 0


def test_concurrent_series_has_one_value_per_measured_second_and_the_kpis_mean(result: Result) -> None:
    series = result.concurrent_series
    assert list(series.index) == list(range(5, 25))
    assert series.mean() == pytest.approx(result.kpis["mean_concurrent_calls"], rel=1e-9)
    assert series.max() <= result.kpis["peak_concurrent_calls"]


def test_srd_distribution_counts_every_measured_call_and_brackets_the_kpis(result: Result) -> None:
    srd = result.srd
    assert srd.count == int(srd.buckets["calls"].sum()) == result.kpis["calls_offered"]
    # quantiles are bucket upper bounds: at most one bucket (2^(1/8), 9 %) above the exact value
    for q in ("p50", "p95"):
        exact = result.kpis[f"srd_{q}_ms"]
        assert exact <= srd.quantiles[q] <= exact * 2 ** (1 / 8)


def test_replications_sum_srd_histograms_and_average_the_concurrent_series() -> None:
    base = apply_overrides(load_scenario(EXAMPLE), [*SHORT, "duration_s=10"])
    two = simulate(base.model_copy(update={"replications": 2}), workers=1)
    ones = [simulate(base.model_copy(update={"seed": s}), workers=1) for s in (1, 2)]
    assert two.srd.count == ones[0].srd.count + ones[1].srd.count
    mean = (ones[0].concurrent_series + ones[1].concurrent_series) / 2
    assert two.concurrent_series.tolist() == pytest.approx(mean.tolist())


def test_to_csv_writes_one_file_per_table(result: Result, tmp_path: Path) -> None:
    written = result.to_csv(tmp_path / "out")
    assert sorted(p.name for p in written) == ["concurrent_series.csv", "cpu_series.csv", "hosts.csv",
                                               "kpis.csv", "links.csv", "srd_histogram.csv"]
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_sizing_run_reports_scenario_errors_in_one_line_each_with_exit_2() -> None:
    app = typer.Typer()
    add_run_command(app)

    @app.command()
    def other() -> None:  # a second command keeps typer from flattening the app
        """Unused."""

    outcome = CliRunner().invoke(app, ["run", str(EXAMPLE), "--set", "trunk.channels=0",
                                       "--set", "traffic.holding_time_s=-1"])
    assert outcome.exit_code == 2
    lines = outcome.output.strip().splitlines()
    assert len(lines) == 2 and "trunk.channels" in outcome.output and "Traceback" not in outcome.output


def test_sizing_run_prints_json() -> None:
    app = typer.Typer()
    add_run_command(app)

    @app.command()
    def other() -> None:
        """Unused."""

    outcome = CliRunner().invoke(app, ["run", str(EXAMPLE), "--format", "json", "--quiet", "--set",
                                       "duration_s=5", "--set", "warmup_s=1", "--seed", "4"])
    assert outcome.exit_code == 0, outcome.output
    assert json.loads(outcome.stdout)["kpis"]["calls_offered"] > 0
