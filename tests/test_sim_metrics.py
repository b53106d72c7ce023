"""Streaming metrics: per-second bins, warmup cut, queueing-delay statistics."""

from __future__ import annotations

import math

import pytest

from sizing.sim import Metrics


def metrics_at(now: float, warmup_s: float = 0.0) -> Metrics:
    return Metrics(lambda: now, warmup_s)


def test_busy_interval_across_seconds_is_split_between_bins() -> None:
    m = metrics_at(3.0)
    m.host("h", 1).add_busy(0.5, 2.25)
    assert m.cpu_series()["h"].tolist() == pytest.approx([0.5, 1.0, 0.25])


def test_utilisation_divides_busy_core_seconds_by_cores() -> None:
    m = metrics_at(1.0)
    h = m.host("h", 4)
    h.add_busy(0.0, 0.5)
    h.add_busy(0.0, 0.5)
    assert m.hosts_frame().loc["h", "cpu_mean"] == pytest.approx(0.25)


def test_warmup_seconds_are_cut_from_the_window() -> None:
    m = metrics_at(5.0, warmup_s=2.0)
    h = m.host("h", 1)
    h.add_busy(0.0, 2.0)  # all in warmup
    h.add_busy(3.0, 3.5)
    series = m.cpu_series()["h"]
    assert list(series.index) == [2, 3, 4] and series.tolist() == pytest.approx([0.0, 0.5, 0.0])


def test_cpu_percentiles_and_max_over_the_window() -> None:
    m = metrics_at(100.0)
    h = m.host("h", 1)
    for second in range(100):
        h.add_busy(second, second + second / 100)
    row = m.hosts_frame().loc["h"]
    assert row["cpu_max"] == pytest.approx(0.99)
    assert row["cpu_p95"] == pytest.approx(0.9405)


def test_wait_quantile_is_within_one_bucket_of_the_true_value() -> None:
    m = metrics_at(1.0)
    h = m.host("h", 1)
    for i in range(1, 1001):
        h.add_wait(i * 1e-5)  # 10 µs .. 10 ms uniform
    p95 = h.wait_quantile(0.95)
    assert 9.5e-3 <= p95 <= 9.5e-3 * 2 ** (1 / 8)
    assert h.wait_sum / h.wait_count == pytest.approx(5.005e-3)


def test_zero_waits_count_in_the_mean() -> None:
    m = metrics_at(1.0)
    h = m.host("h", 1)
    h.add_wait(0.0)
    h.add_wait(0.002)
    assert m.hosts_frame().loc["h", "wait_mean_ms"] == pytest.approx(1.0)


def test_link_rates_are_kbps_and_pps_per_second() -> None:
    m = metrics_at(2.0)
    link = m.link("a", "b")
    link.add(0, 1000.0, 4)
    link.add(1, 3000.0, 6)
    row = m.links_frame().loc[("a", "b")]
    assert (row["kbps_mean"], row["kbps_max"], row["pps_mean"]) == pytest.approx((16.0, 24.0, 5.0))


def test_empty_window_gives_nan_not_an_error() -> None:
    m = metrics_at(0.5)
    m.host("h", 1)
    assert math.isnan(m.hosts_frame().loc["h", "cpu_mean"])


def test_negative_warmup_is_refused() -> None:
    with pytest.raises(ValueError, match="warmup_s"):
        metrics_at(1.0, warmup_s=-1)
