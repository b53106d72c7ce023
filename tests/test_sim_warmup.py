"""Warm-up warnings: a measured window that starts before steady state is reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sizing.scenario import ScenarioError, scenario_from_mapping
from sizing.sim.simulate import simulate
from sizing.sim.warmup import warmup_warnings


def _scenario(warmup: float | None, hold: float = 60.0, start: str = "empty"):  # type: ignore[no-untyped-def]
    data = {
        "seed": 2, "duration_s": 100, "simulation": {"start": start},
        "traffic": {"calls_per_second": 2, "holding_time_s": hold},
        "trunk": {"channels": 500}, "topology": {"sbc": {"enabled": False}},
    }
    if warmup is not None:
        data["warmup_s"] = warmup
    return scenario_from_mapping(data)


def test_an_empty_start_measured_at_once_is_reported_twice() -> None:
    result = simulate(_scenario(warmup=0))
    assert len(result.warnings) == 2
    assert "shorter than the mean holding time" in result.warnings[0]
    assert "steady state was not reached" in result.warnings[1]
    assert result.table().startswith("warning: warmup_s 0 s")


def test_a_warm_up_of_twice_the_holding_time_is_not_reported() -> None:
    assert simulate(_scenario(warmup=120)).warnings == []


def test_a_steady_start_with_its_default_warm_up_is_not_reported() -> None:
    scenario = _scenario(warmup=None, start="steady")
    assert scenario.warmup_s == 20
    assert simulate(scenario).warnings == []


def test_a_steady_start_needs_a_warm_up_that_covers_its_prelude() -> None:
    with pytest.raises(ScenarioError, match=r"warmup_s: must be at least 1 s with simulation.start steady"):
        _scenario(warmup=0.5, start="steady")


def test_a_flat_noisy_series_is_not_a_trend() -> None:
    rng = np.random.default_rng(1)
    flat = pd.Series(rng.poisson(120, size=300).astype(float))
    assert warmup_warnings(_scenario(warmup=120), flat) == []
    rising = pd.Series(np.linspace(60, 120, 300))
    assert "rose 73%" in warmup_warnings(_scenario(warmup=120), rising)[0]


def test_the_cli_prints_warnings_on_stderr_and_keeps_json_clean(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import subprocess
    import sys

    path = tmp_path / "s.yaml"
    path.write_text(_scenario(warmup=0).to_yaml())
    done = subprocess.run([str(Path(sys.executable).with_name("sizing")), "run", str(path), "--format", "json", "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert list(json.loads(done.stdout)) == ["kpis", "hosts", "links"]
    assert "warning: warmup_s 0 s is shorter than the mean holding time" in done.stderr
