"""The overload sweep: rows and columns, goodput's definition, parallel runs, knee, figure."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest
from matplotlib.figure import Figure

from sizing.sim.sweep import COLUMNS, Knee, goodput_sweep, knee, overload_figure

SMALL = {
    "seed": 5, "warmup_s": 1, "duration_s": 4,
    "traffic": {"calls_per_second": 1, "holding_time_s": 1, "holding": {"kind": "fixed"}},
    "trunk": {"channels": 1000},
    "topology": {"sbc": {"enabled": False}, "proxy": {"enabled": False},
                 "media_server": {"enabled": False}, "sip_server": {"cores": 1}},
}


@pytest.fixture(scope="module")
def serial() -> pd.DataFrame:
    return goodput_sweep(SMALL, [2.0, 4.0], workers=1)


def test_one_row_per_mode_and_rate_with_the_documented_columns(serial: pd.DataFrame) -> None:
    assert list(serial.columns) == COLUMNS
    assert list(zip(serial["mode"], serial["offered_cps"], strict=True)) == [
        ("drop", 2.0), ("drop", 4.0), ("reject", 2.0), ("reject", 4.0)]
    assert (serial["bottleneck"] == "sip_server-1").all()
    assert (serial["replications"] == 1).all()


def test_light_load_sets_up_every_call_in_time(serial: pd.DataFrame) -> None:
    assert (serial["goodput_cps"] == serial["measured_offered_cps"]).all()
    assert (serial["retransmissions_per_call"] == 0).all()
    assert (serial[["rejections_per_s", "drops_per_s", "timeouts_per_s"]] == 0).all().all()


def test_parallel_workers_give_exactly_the_serial_result(serial: pd.DataFrame) -> None:
    parallel = goodput_sweep(SMALL, [2.0, 4.0], workers=2)
    pd.testing.assert_frame_equal(parallel, serial)


def test_goodput_counts_only_calls_answered_within_the_setup_bound() -> None:
    # every answer needs at least the round trips of the call flow (1 ms links): none within 1 µs
    frame = goodput_sweep(SMALL, [3.0], overload_modes=["drop"], setup_bound_s=1e-6, workers=1)
    assert frame.loc[0, "goodput_cps"] == 0
    assert frame.loc[0, "answered_cps"] > 0


def test_replications_are_averaged_over_consecutive_seeds() -> None:
    frame = goodput_sweep(SMALL, [3.0], overload_modes=["reject"], replications=2, workers=1)
    singles = [goodput_sweep({**SMALL, "seed": seed}, [3.0], overload_modes=["reject"], workers=1)
               for seed in (5, 6)]
    assert frame.loc[0, "replications"] == 2
    for column in ("measured_offered_cps", "goodput_cps", "cpu_mean"):
        mean = (singles[0].loc[0, column] + singles[1].loc[0, column]) / 2
        assert frame.loc[0, column] == pytest.approx(mean)


def test_progress_is_told_each_point_done() -> None:
    told: list[tuple[int, int]] = []
    goodput_sweep(SMALL, [2.0], overload_modes=["drop", "reject"], workers=1,
                  progress=lambda done, total: told.append((done, total)))
    assert told == [(1, 2), (2, 2)]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"offered_cps": []}, "offered_cps must be a non-empty"),
    ({"offered_cps": [2.0, 0.0]}, r"offered_cps\[1\] must be a finite rate > 0, got 0.0"),
    ({"offered_cps": [math.nan]}, r"offered_cps\[0\]"),
    ({"offered_cps": ["5"]}, r"offered_cps\[0\]"),
    ({"overload_modes": ["drop", "bogus"]}, r"overload_modes\[1\] must be one of"),
    ({"overload_modes": "drop"}, "overload_modes must be a non-empty sequence"),
    ({"replications": 0}, "replications must be an integer >= 1"),
    ({"setup_bound_s": -1}, "setup_bound_s must be > 0"),
    ({"workers": 0}, "workers must be an integer >= 1"),
])
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    args = {"offered_cps": [2.0], **kwargs}
    with pytest.raises(ValueError, match=message):
        goodput_sweep(SMALL, **args)


def test_a_replayed_arrival_trace_cannot_be_swept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    trace = tmp_path / "arrivals.csv"
    trace.write_text("time_s\n1.0\n")
    scenario = {**SMALL, "traffic": {"holding_time_s": 1,
                                     "arrivals": {"process": "replay", "csv": str(trace)}}}
    with pytest.raises(ValueError, match="replay"):
        goodput_sweep(scenario, [2.0])


def test_a_bad_scenario_reports_the_field() -> None:
    with pytest.raises(ValueError, match="calls_per_second"):
        goodput_sweep({**SMALL, "traffic": {"holding_time_s": 1}}, [2.0])


SYNTHETIC = pd.DataFrame({
    "mode": ["drop"] * 3 + ["reject"] * 3,
    "offered_cps": [5.0, 10.0, 20.0] * 2,
    "goodput_cps": [5.0, 9.0, 2.0, 5.0, 9.5, 9.2],
})


def test_knee_is_the_point_of_highest_goodput() -> None:
    assert knee(SYNTHETIC) == Knee(10.0, 9.5, "reject")
    assert knee(SYNTHETIC, mode="drop") == Knee(10.0, 9.0, "drop")


def test_knee_needs_a_sweep_frame() -> None:
    with pytest.raises(ValueError, match="lacks column"):
        knee(SYNTHETIC.drop(columns="goodput_cps"))
    with pytest.raises(ValueError, match="mode 'other'"):
        knee(SYNTHETIC, mode="other")


def test_overload_figure_draws_one_line_per_mode_and_marks_the_knee() -> None:
    fig = overload_figure(SYNTHETIC, capacity_cps=10.0)
    assert isinstance(fig, Figure)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels[:2] == ["drop (no control)", "503 (reject)"]
    assert "knee: 9.5 calls/s" in labels
    assert any(label.startswith("capacity 10") for label in labels)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue().startswith(b"\x89PNG")


def test_loss_mode_runs_rfc_7339_control() -> None:
    frame = goodput_sweep(SMALL, [3.0], overload_modes=["loss"], workers=1)
    assert list(frame["mode"]) == ["loss"]
    assert frame["goodput_cps"].iloc[0] > 0
