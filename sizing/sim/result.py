"""What a simulation run gives back: KPIs, per-host and per-link tables, time series
and the SRD distribution.

:class:`Result` holds plain data (a dict, pandas objects and a
:class:`SrdDistribution`), so the CLI, notebooks and the planner read it the
same way; :meth:`Result.to_json` is the machine-readable form ``sizing run
--format json`` prints (KPIs, hosts, links) and :meth:`Result.to_csv` writes one
CSV per table, atomically.
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sizing.files import as_new_file

from .metrics import _BUCKETS_PER_OCTAVE, HostMetrics

__all__ = ["HOST_COLUMNS", "LINK_COLUMNS", "SRD_COLUMNS", "Result", "SrdDistribution", "srd_plain"]

HOST_COLUMNS = ["name", "role", "cores", "cpu_mean", "cpu_p95", "cpu_p99", "msgs_per_s",
                "wait_mean_ms", "wait_p95_ms", "dropped_per_s", "rejected_per_s", "tls_cpu_share"]
LINK_COLUMNS = ["src", "dst", "signalling_kbps", "media_kbps", "data_kbps", "total_kbps",
                "signalling_pps", "media_pps", "connections_per_s"]
SRD_COLUMNS = ["lower_ms", "upper_ms", "calls"]
_QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}


def srd_plain(hist: HostMetrics) -> dict[str, Any]:
    """A log histogram of SRDs (a :class:`HostMetrics` fed with ``add_wait``) as plain
    data a worker process can return: non-empty buckets, count, sum and maximum."""
    return {"buckets": [(i, n) for i, n in enumerate(hist.wait_hist) if n],
            "count": hist.wait_count, "sum_s": hist.wait_sum, "max_s": hist.wait_max}


def _bucket_bounds_ms(index: int) -> tuple[float, float]:
    """Lower and upper bound (ms) of a bucket of the metrics' log histogram."""
    if index == 0:
        return 0.0, 0.0
    lower = 0.0 if index == 1 else 2.0 ** ((index - 1) / _BUCKETS_PER_OCTAVE) / 1000
    return lower, 2.0 ** (index / _BUCKETS_PER_OCTAVE) / 1000


@dataclass
class SrdDistribution:
    """Session request delays (RFC 6076 SRD) of the measured calls as a log histogram
    (8 buckets per octave, about 9 % resolution), summed over replications.

    ``buckets``: one row per non-empty bucket (``lower_ms``, ``upper_ms``, ``calls``);
    ``quantiles``: p50, p90, p95 and p99 in ms (bucket upper bounds, so never below
    the exact value by more than one bucket); ``count``, ``mean_ms``, ``max_ms``.
    """

    buckets: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SRD_COLUMNS))
    quantiles: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_QUANTILES, math.nan))
    count: int = 0
    mean_ms: float = math.nan
    max_ms: float = math.nan

    @classmethod
    def combine(cls, parts: Sequence[dict[str, Any]]) -> SrdDistribution:
        """The distribution of several :func:`srd_plain` histograms together."""
        hist = HostMetrics("srd", 1, 0.0)
        for part in parts:
            for index, n in part["buckets"]:
                hist.wait_hist[index] += n
            hist.wait_count += part["count"]
            hist.wait_sum += part["sum_s"]
            hist.wait_max = max(hist.wait_max, part["max_s"])
        rows = [(*_bucket_bounds_ms(i), n) for i, n in enumerate(hist.wait_hist) if n]
        count = hist.wait_count
        return cls(
            buckets=pd.DataFrame(rows, columns=SRD_COLUMNS),
            quantiles={k: hist.wait_quantile(q) * 1000 for k, q in _QUANTILES.items()},
            count=count,
            mean_ms=hist.wait_sum / count * 1000 if count else math.nan,
            max_ms=hist.wait_max * 1000 if count else math.nan,
        )


def _clean(value: object) -> object:
    """JSON-safe: NaN and infinities become None, numpy scalars plain numbers."""
    if hasattr(value, "item"):
        value = value.item()  # type: ignore[union-attr]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class Result:
    """The outcome of :func:`sizing.simulate`.

    ``kpis``: call and system KPIs (means over replications); ``ci``: the 95 %
    confidence half-width of each KPI (NaN with one replication); ``hosts``:
    one row per host; ``links``: one row per direction between two hosts;
    ``cpu_series``: CPU utilisation per measured second and host (first
    replication); ``concurrent_series``: mean calls in progress (trunk channels
    busy) in each measured second, averaged over replications; ``srd``: the SRD
    distribution of all replications' measured calls; ``calls``: call outcome
    counts; ``replications``: the KPIs of each replication.
    """

    kpis: dict[str, float]
    hosts: pd.DataFrame
    links: pd.DataFrame
    cpu_series: pd.DataFrame = field(default_factory=pd.DataFrame)
    calls: dict[str, float] = field(default_factory=dict)
    ci: dict[str, float] = field(default_factory=dict)
    replications: list[dict[str, float]] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    concurrent_series: pd.Series = field(
        default_factory=lambda: pd.Series(dtype=float, name="concurrent_calls"))
    srd: SrdDistribution = field(default_factory=SrdDistribution)
    warnings: list[str] = field(default_factory=list)
    """What may bias the figures (e.g. a warm-up too short for steady state)."""

    def to_dict(self) -> dict[str, object]:
        """``{"kpis": ..., "hosts": [...], "links": [...]}`` with JSON-safe values."""
        return {
            "kpis": {k: _clean(v) for k, v in self.kpis.items()},
            "hosts": [{k: _clean(v) for k, v in row.items()} for row in self.hosts.to_dict("records")],
            "links": [{k: _clean(v) for k, v in row.items()} for row in self.links.to_dict("records")],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_csv(self, directory: str | Path) -> list[Path]:
        """Write kpis.csv, hosts.csv, links.csv, cpu_series.csv, concurrent_series.csv
        and srd_histogram.csv into ``directory``; each file appears complete or not at
        all (written aside, then renamed)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        kpis = pd.DataFrame(
            [{"kpi": k, "value": v, "ci95": self.ci.get(k, math.nan)} for k, v in self.kpis.items()])
        tables = {"kpis.csv": (kpis, False), "hosts.csv": (self.hosts, False),
                  "links.csv": (self.links, False), "cpu_series.csv": (self.cpu_series, True),
                  "concurrent_series.csv": (self.concurrent_series.to_frame(), True),
                  "srd_histogram.csv": (self.srd.buckets, False)}
        written = []
        for name, (frame, index) in tables.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out)
            try:
                with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
                    frame.to_csv(fh, index=index)
                as_new_file(tmp)
                os.replace(tmp, out / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            written.append(out / name)
        return written

    def table(self) -> str:
        """A plain-text summary for the terminal: counts whole, CPU and ratios in
        percent, delays in ms, bit rates in kbps or Mbps (:mod:`sizing.report.numbers`)."""
        from sizing.report import numbers

        lines = [f"warning: {w}" for w in self.warnings] + ([""] if self.warnings else []) + ["KPIs"]
        for key, value in self.kpis.items():
            ci = self.ci.get(key)
            plus = ""
            if isinstance(ci, float) and math.isfinite(ci):
                plus = f" ± {numbers.kpi(key, ci) if key not in numbers.COUNT_KPIS else numbers.number(ci, 1)}"
            lines.append(f"  {key:<28} {numbers.kpi(key, value)}{plus}")
        lines += ["", "Hosts", numbers.frame_text(self.hosts),
                  "", "Links", numbers.frame_text(self.links)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        kpis = pd.DataFrame({"value": pd.Series(self.kpis), "ci95": pd.Series(self.ci)})
        warned = "".join(f"<p><b>warning:</b> {html.escape(w)}</p>" for w in self.warnings)
        return (warned + "<h4>KPIs</h4>" + kpis.to_html(float_format=lambda x: f"{x:.4g}")
                + "<h4>Hosts</h4>" + self.hosts.to_html(index=False, float_format=lambda x: f"{x:.4g}")
                + "<h4>Links</h4>" + self.links.to_html(index=False, float_format=lambda x: f"{x:.4g}"))
