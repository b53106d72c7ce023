"""What a simulation run gives back: KPIs, per-host and per-link tables, CPU series.

:class:`Result` holds plain data (a dict and pandas DataFrames), so the CLI,
notebooks and the planner read it the same way; :meth:`Result.to_json` is the
machine-readable form ``sizing run --format json`` prints and
:meth:`Result.to_csv` writes one CSV per table, atomically.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["HOST_COLUMNS", "LINK_COLUMNS", "Result"]

HOST_COLUMNS = ["name", "role", "cores", "cpu_mean", "cpu_p95", "cpu_p99", "msgs_per_s",
                "wait_mean_ms", "wait_p95_ms", "dropped_per_s", "rejected_per_s"]
LINK_COLUMNS = ["src", "dst", "signalling_kbps", "media_kbps", "data_kbps", "total_kbps",
                "signalling_pps", "media_pps"]


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
    replication); ``calls``: call outcome counts; ``replications``: the KPIs
    of each replication.
    """

    kpis: dict[str, float]
    hosts: pd.DataFrame
    links: pd.DataFrame
    cpu_series: pd.DataFrame = field(default_factory=pd.DataFrame)
    calls: dict[str, float] = field(default_factory=dict)
    ci: dict[str, float] = field(default_factory=dict)
    replications: list[dict[str, float]] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)

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
        """Write kpis.csv, hosts.csv, links.csv and cpu_series.csv into ``directory``;
        each file appears complete or not at all (written aside, then renamed)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        kpis = pd.DataFrame(
            [{"kpi": k, "value": v, "ci95": self.ci.get(k, math.nan)} for k, v in self.kpis.items()])
        tables = {"kpis.csv": (kpis, False), "hosts.csv": (self.hosts, False),
                  "links.csv": (self.links, False), "cpu_series.csv": (self.cpu_series, True)}
        written = []
        for name, (frame, index) in tables.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out)
            try:
                with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
                    frame.to_csv(fh, index=index)
                os.replace(tmp, out / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            written.append(out / name)
        return written

    def table(self) -> str:
        """A plain-text summary for the terminal."""
        lines = ["KPIs"]
        for key, value in self.kpis.items():
            ci = self.ci.get(key)
            plus = f" ± {ci:.4g}" if ci is not None and isinstance(ci, float) and math.isfinite(ci) else ""
            lines.append(f"  {key:<28} {value:.6g}{plus}" if isinstance(value, float) else f"  {key:<28} {value}{plus}")
        lines += ["", "Hosts", self.hosts.to_string(index=False, float_format=lambda x: f"{x:.4g}"),
                  "", "Links", self.links.to_string(index=False, float_format=lambda x: f"{x:.4g}")]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        kpis = pd.DataFrame({"value": pd.Series(self.kpis), "ci95": pd.Series(self.ci)})
        return ("<h4>KPIs</h4>" + kpis.to_html(float_format=lambda x: f"{x:.4g}")
                + "<h4>Hosts</h4>" + self.hosts.to_html(index=False, float_format=lambda x: f"{x:.4g}")
                + "<h4>Links</h4>" + self.links.to_html(index=False, float_format=lambda x: f"{x:.4g}"))
