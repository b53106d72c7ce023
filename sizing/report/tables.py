"""Planner-facing tables: plain role names, units in every header, sensible rounding.

The raw :class:`~sizing.plan.Plan` frames keep machine names and fractions (for
code); these tables are what the HTML, XLSX and summary CSV show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sizing.plan import Plan

__all__ = ["deployment_table", "kpi_table", "links_table", "summary_columns", "summary_row",
           "summary_table"]

from sizing.report import numbers

KPI_LABELS = {
    "blocking_ratio": ("Calls blocked (%)", 100.0, 2),
    "cpu_p95_max": ("Highest CPU p95 of 1-s samples (%)", 100.0, 1),
    "srd_p95_ms": ("SRD p95 (ms)", 1.0, 1),
    "srd_p50_ms": ("SRD p50 (ms)", 1.0, 1),
    "scr": ("Session completion ratio (%)", 100.0, 2),
    "calls_offered": ("Calls offered", 1.0, 0),
    "calls_blocked": ("Calls blocked", 1.0, 0),
    "peak_concurrent_calls": ("Peak concurrent calls", 1.0, 0),
    "mean_concurrent_calls": ("Mean concurrent calls", 1.0, 1),
    "expected_concurrent_calls": ("Concurrent calls the mix holds (expected)", 1.0, 1),
}


mbps = numbers.mbps_value
"""Mbps rounded for reading: 3 decimals below 1, 2 below 100, 1 above."""

CARRIER_IN = "Carrier → site to provision (Mbps)"
CARRIER_OUT = "Site → carrier to provision (Mbps)"
"""Summary columns: the carrier's link, each direction, with the plan's headroom."""


def _role(role: str) -> str:
    from sizing.plan import ROLE_NAMES

    return ROLE_NAMES.get(role, role)


CPU_MEAN = "CPU mean per host (%)"
CPU_P95 = "CPU p95 of 1-s samples, busiest host (%)"
"""The deployment's CPU columns: the mean over the role's hosts and the window, and the
95th percentile of one-second samples of its busiest host (closed form: estimated for
each host, all equal)."""
WHY = "Why this size"


def deployment_table(plan: Plan, *, reasons: bool = True) -> pd.DataFrame:
    """Hosts per role (hot standbys and N+1 spares apart), CPU mean and p95 against the target, the
    share of the CPU spent on TLS (handshakes, record crypto, TLS's extra cost per
    message), the binding constraint and, with ``reasons``, why this size in words."""
    from sizing.report.names import BINDING_TEXT

    d = plan.deployment
    frame = pd.DataFrame({
        "Role": d["role"].map(_role),
        "Hosts": d["hosts"].astype(int),
        "Standby or spare hosts": d["standby_hosts"].astype(int),
        "Cores per host": d["cores_per_host"].astype(int),
        "Total cores": d["total_cores"].astype(int),
        CPU_MEAN: (100 * d["cpu_mean"]).round(1),
        CPU_P95: (100 * d["cpu_p95"]).round(1),
        "95 % CI (± pts)": (100 * d["cpu_p95_ci"]).round(1),
        "CPU p95 target (%)": (100 * d["cpu_target"]).round(0),
        "TLS share of CPU (%)": (100 * d["tls_cpu_share"]).round(1) if "tls_cpu_share" in d
        else np.nan,
        "Binding constraint": d["binding"].map(lambda b: BINDING_TEXT.get(b, b)),
    })
    if reasons:
        frame[WHY] = d["reason"]
    return frame


def links_table(plan: Plan) -> pd.DataFrame:
    """Mbps per link and direction (a row each way, the direction named) by category
    (SIP signalling, media, CTI events and requests), the capacity
    to provision that way with the plan's headroom, and whether it fits the link's
    capacity (a scenario's link capacity is one way)."""
    from sizing.plan import direction_name

    x = plan.directions
    headroom = round(100 * plan.scenario.targets.link_headroom)
    return pd.DataFrame({
        "Link": x["link"],
        "Direction": [direction_name(a, b) for a, b in zip(x["src"], x["dst"], strict=True)],
        "Signalling (Mbps)": x["signalling_mbps"].round(3),
        "Media (Mbps)": x["media_mbps"].map(mbps),
        "CTI (Mbps)": x["cti_mbps"].map(mbps),
        "Total (Mbps)": x["total_mbps"].map(mbps),
        f"Provision with {headroom} % headroom (Mbps)": x["required_mbps"].map(mbps),
        "Link capacity (Mbps)": x["capacity_mbps"],
        "Fits": x["fits"].map({True: "yes", False: "NO"}),
    })


def kpi_table(plan: Plan) -> pd.DataFrame:
    """The KPIs against their targets."""
    rows = []
    for r in plan.kpis.itertuples():
        label, scale, digits = KPI_LABELS.get(r.kpi, (r.kpi, 1.0, 3))
        value = r.value * scale if isinstance(r.value, int | float) else r.value
        target = r.target * scale if isinstance(r.target, int | float) and \
            not pd.isna(r.target) else None
        rows.append({
            "KPI": label,
            "Value": _value(value, digits),
            "Target": "" if target is None else f"≤ {round(float(target), digits):g}",
            "Met": "" if pd.isna(r.met) else ("yes" if r.met else "NO"),
        })
    frame = pd.DataFrame(rows, columns=["KPI", "Value", "Target", "Met"])
    # object, so that counts stay whole next to ratios (2487, not 2487.0)
    frame["Value"] = pd.Series([r["Value"] for r in rows], dtype=object)
    return frame


def _value(value: object, digits: int) -> object:
    """A KPI's value rounded for reading; a count (no decimals) as a whole number, so
    that tables and CSV show 2487, never 2487.00."""
    if value is None or not isinstance(value, int | float) or numbers.is_missing(value):
        return value
    v = round(float(value), digits)
    return int(v) if digits == 0 else v


def summary_table(plans: Mapping[str, Plan]) -> pd.DataFrame:
    """One row per site: the deployment in words, hosts and cores per role, the busiest
    direction and the carrier's link each way (Mbps with headroom), KPIs."""
    frame = pd.DataFrame([summary_row(site, p) for site, p in plans.items()])
    return frame[summary_columns(frame.columns)]


def summary_row(site: str, p: Plan) -> dict[str, object]:
    """The summary_table() row of one site (columns as the site has them)."""
    from sizing.plan import ROLE_NAMES, direction_name

    row: dict[str, object] = {"Site": site, "Recommended deployment": p.summary(),
                              "All targets met": "yes" if p.met else "NO",
                              "Confirmed by simulation": "yes" if p.simulated else "no",
                              "Offered traffic (erlangs)": round(p.offered_erlangs, 1),
                              "Trunk channels": p.trunk_channels}
    for d in p.deployment.itertuples():
        name = ROLE_NAMES.get(d.role, d.role)
        row[f"{name} hosts"] = int(d.hosts)
        if d.standby_hosts:
            row[f"{name} standby or spare hosts"] = int(d.standby_hosts)
        row[f"{name} cores per host"] = int(d.cores_per_host)
        row[f"{name} CPU mean (%)"] = round(100 * d.cpu_mean, 1)
        row[f"{name} CPU p95 (%)"] = round(100 * d.cpu_p95, 1)
        row[f"{name} binding"] = d.binding
    ways = p.directions
    busiest = ways.sort_values("required_mbps", ascending=False).head(1)
    if not busiest.empty:
        row["Busiest direction"] = direction_name(busiest["src"].iloc[0],
                                                  busiest["dst"].iloc[0])
        row["Busiest direction to provision (Mbps)"] = mbps(
            busiest["required_mbps"].iloc[0])
    for column, end in ((CARRIER_IN, "src"), (CARRIER_OUT, "dst")):
        carrier = ways[ways[end] == "carrier"]
        row[column] = mbps(carrier["required_mbps"].sum()) if not carrier.empty \
            else np.nan
    for k in p.kpis.itertuples():
        label, scale, digits = KPI_LABELS.get(k.kpi, (k.kpi, 1.0, 3))
        if isinstance(k.value, int | float):
            row[label] = _value(float(k.value) * scale, digits)
    row["Warnings"] = "; ".join(p.warnings)
    return row


def summary_columns(columns: Iterable[str]) -> list[str]:
    """The summary's columns (all sites' rows, in order of appearance) in report order:
    the site and its deployment, then every role's columns in role order, then the rest."""
    from sizing.plan import ROLE_NAMES

    columns = list(columns)
    head = ["Site", "Recommended deployment", "All targets met", "Confirmed by simulation",
            "Offered traffic (erlangs)", "Trunk channels"]
    roles = [c for r in ROLE_NAMES.values() for c in columns if c.startswith(r + " ")]
    rest = [c for c in columns if c not in head and c not in roles]
    return [c for c in head if c in columns] + list(dict.fromkeys(roles)) + rest
