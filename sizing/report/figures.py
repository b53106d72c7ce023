"""Matplotlib figures of plans, shared by the HTML report, the app and notebooks.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot
(no global state, safe in worker threads); :func:`to_data_uri` embeds one in
HTML as a base64 PNG.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from sizing.sim.result import SrdDistribution

__all__ = [
    "bandwidth_per_link",
    "concurrent_calls",
    "cores_by_site",
    "cpu_over_time",
    "goodput_vs_offered",
    "srd_distribution",
    "to_data_uri",
]

_SIZE = (7.5, 3.6)


def _figure(size: tuple[float, float] = _SIZE) -> tuple[Figure, object]:
    fig = Figure(figsize=size, dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def _mbps_text(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}" if v >= 10 else f"{v:.2f}" if v >= 1 \
        else f"{v:.3f}"


def to_data_uri(fig: Figure, fmt: str = "png") -> str:
    """The figure as a ``data:`` URI (PNG at 100 dpi, or SVG)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    mime = "image/svg+xml" if fmt == "svg" else f"image/{fmt}"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def cpu_over_time(cpu: pd.DataFrame, targets: Mapping[str, float] | None = None,
                  title: str = "CPU per host over time") -> Figure:
    """CPU utilisation (%) per second, one line per host (columns); dashed lines
    mark each distinct target."""
    fig, ax = _figure()
    for host in cpu.columns:
        ax.plot(cpu.index, 100 * cpu[host].to_numpy(), lw=1, label=str(host))
    for value in sorted(set((targets or {}).values())):
        ax.axhline(100 * value, color="crimson", ls="--", lw=1)
        ax.annotate(f"target {100 * value:.0f} %", (1, 100 * value), xycoords=("axes fraction",
                    "data"), ha="right", va="bottom", color="crimson", fontsize=8)
    ax.set(title=title, xlabel="simulated time (s)", ylabel="CPU utilisation (%)")
    ax.set_ylim(bottom=0)
    if len(cpu.columns) <= 12:
        ax.legend(fontsize=7, ncols=min(4, max(1, len(cpu.columns))), loc="upper left")
    return fig


def concurrent_calls(calls: pd.Series | pd.DataFrame, channels: int | None = None,
                     title: str = "Concurrent calls") -> Figure:
    """Calls in progress per second (a series indexed by second, or frame columns)."""
    fig, ax = _figure()
    frame = calls.to_frame() if isinstance(calls, pd.Series) else calls
    for col in frame.columns:
        ax.plot(frame.index, frame[col].to_numpy(), lw=1, label=str(col))
    if channels is not None:
        ax.axhline(channels, color="crimson", ls="--", lw=1)
        ax.annotate(f"trunk channels {channels:,}", (1, channels),
                    xycoords=("axes fraction", "data"), ha="right", va="bottom",
                    color="crimson", fontsize=8)
    ax.set(title=title, xlabel="simulated time (s)", ylabel="calls")
    ax.set_ylim(bottom=0)
    if len(frame.columns) > 1:
        ax.legend(fontsize=7)
    return fig


def bandwidth_per_link(links: pd.DataFrame, title: str = "Bandwidth per link") -> Figure:
    """Stacked signalling, media and CTI Mbps per link (CTI when the frame has it), with
    the capacity to provision (headroom included) as a marker."""
    links = links.sort_values("required_mbps")
    fig, ax = _figure((7.5, max(2.2, 0.45 * len(links) + 1.2)))
    y = np.arange(len(links))
    ax.barh(y, links["media_mbps"], color="tab:blue", label="media")
    ax.barh(y, links["signalling_mbps"], left=links["media_mbps"], color="tab:orange",
            label="signalling")
    if "cti_mbps" in links and links["cti_mbps"].any():
        ax.barh(y, links["cti_mbps"], left=links["media_mbps"] + links["signalling_mbps"],
                color="tab:green", label="CTI")
    ax.scatter(links["required_mbps"], y, marker="|", s=200, color="black",
               label="provision (with headroom)", zorder=3)
    for yi, v in zip(y, links["required_mbps"], strict=True):
        ax.annotate(_mbps_text(v), (v, yi), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=7)
    ax.set_yticks(y, links["link"])
    ax.set(title=title, xlabel="Mbps (both directions)")
    ax.margins(x=0.15)
    ax.legend(fontsize=7, loc="lower right")
    return fig


def _bucket_quantile(buckets: pd.DataFrame, q: float) -> float:
    """The ``q`` quantile of a bucket table: the upper bound of the bucket reaching it."""
    calls = buckets["calls"].to_numpy(dtype=float)
    total = calls.sum()
    if total <= 0:
        return float("nan")
    index = int(np.searchsorted(np.cumsum(calls), q * total))
    return float(buckets["upper_ms"].to_numpy(dtype=float)[min(index, len(calls) - 1)])


def srd_distribution(srd: SrdDistribution | pd.DataFrame | pd.Series | np.ndarray,
                     target_ms: float | None = None,
                     title: str = "Session request delay (SRD)") -> Figure:
    """Distribution of SRD (ms) with p50, p95 and the target.

    ``srd`` is a simulation's :class:`~sizing.sim.result.SrdDistribution`, its bucket
    table (``lower_ms``, ``upper_ms``, ``calls``: drawn as log-scale bars, one per
    bucket), or raw samples in ms (drawn as a histogram).
    """
    fig, ax = _figure()
    quantiles: dict[int, float] = {}
    buckets = srd.buckets if hasattr(srd, "buckets") else srd
    if isinstance(buckets, pd.DataFrame):
        missing = {"lower_ms", "upper_ms", "calls"} - set(buckets.columns)
        if missing:
            raise ValueError(f"srd_distribution: the bucket table lacks column(s) {sorted(missing)}")
        rows = buckets[buckets["calls"] > 0].sort_values("upper_ms")
        if len(rows):
            upper = rows["upper_ms"].to_numpy(dtype=float)
            lower = rows["lower_ms"].to_numpy(dtype=float)
            lower = np.where(lower > 0, lower, upper / 2 ** (1 / 8))  # the first bucket starts at 0
            ax.bar(lower, rows["calls"].to_numpy(dtype=float), width=upper - lower, align="edge",
                   color="tab:blue", alpha=0.8)
            ax.set_xscale("log")
            given = getattr(srd, "quantiles", {})
            for q in (50, 95):
                value = given.get(f"p{q}")
                quantiles[q] = float(value) if value is not None else _bucket_quantile(rows, q / 100)
    else:
        values = np.asarray(buckets, dtype=float)
        values = values[np.isfinite(values)]
        if values.size:
            ax.hist(values, bins=min(60, max(10, values.size // 20)), color="tab:blue", alpha=0.8)
            quantiles = {q: float(np.percentile(values, q)) for q in (50, 95)}
    for q, style in ((50, ":"), (95, "-")):
        v = quantiles.get(q)
        if v is not None and np.isfinite(v):
            ax.axvline(v, color="black", ls=style, lw=1)
            ax.annotate(f"p{q} {v:,.0f} ms", (v, 1), xycoords=("data", "axes fraction"),
                        rotation=90, va="top", ha="right", fontsize=8)
    if target_ms is not None:
        ax.axvline(target_ms, color="crimson", ls="--", lw=1)
        ax.annotate(f"target {target_ms:g} ms", (target_ms, 1),
                    xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right",
                    color="crimson", fontsize=8)
    ax.set(title=title, xlabel="SRD (ms)", ylabel="calls")
    return fig


def goodput_vs_offered(frame: pd.DataFrame, x: str = "offered_cps", y: str = "goodput_cps",
                       title: str = "Goodput vs offered load") -> Figure:
    """Completed calls/s against offered calls/s (overload behaviour); the
    diagonal is the ideal."""
    fig, ax = _figure()
    frame = frame.sort_values(x)
    ax.plot(frame[x], frame[y], marker="o", lw=1.5, label="goodput")
    top = float(max(frame[x].max(), frame[y].max())) if len(frame) else 1.0
    ax.plot([0, top], [0, top], color="grey", ls=":", lw=1, label="ideal")
    ax.set(title=title, xlabel="offered (calls/s)", ylabel="completed (calls/s)")
    ax.legend(fontsize=7)
    return fig


def cores_by_site(cores: Mapping[str, Mapping[str, float]],
                  title: str = "Cores per site by role") -> Figure:
    """Stacked total cores per role (``cores[site][role]``) for each site of a batch."""
    from sizing.plan import ROLE_NAMES

    table = pd.DataFrame({site: dict(by_role) for site, by_role in cores.items()}).fillna(0).T
    fig, ax = _figure((7.5, max(2.2, 0.45 * len(table) + 1.2)))
    left = np.zeros(len(table))
    y = np.arange(len(table))
    for role in table.columns:
        ax.barh(y, table[role], left=left, label=ROLE_NAMES.get(role, role))
        left += table[role].to_numpy()
    for yi, v in zip(y, left, strict=True):
        ax.annotate(f"{v:,.0f}", (v, yi), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=8)
    ax.set_yticks(y, table.index)
    ax.set(title=title, xlabel="cores (all hosts of the role)")
    ax.margins(x=0.1)
    ax.legend(fontsize=7, loc="lower right")
    return fig
