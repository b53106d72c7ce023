"""One way to show numbers, for the CLI tables, the reports and the web form.

Counts are whole numbers with thousands separators, shares are percentages,
rates carry their unit, delays are in ms and bit rates in kbps or Mbps.  The
machine-readable outputs (JSON, the ``Result`` frames) keep their field names
(``_pct``, ``_ratio``, ``_kbps`` suffixes) and plain numbers; only what a person
reads goes through here.

:func:`kpi` says how a named figure reads (label with its unit, and the value as
text) from the suffix and name conventions of the simulator's KPIs, so that a
KPI added later reads sensibly without a new rule.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

__all__ = [
    "COUNT_KPIS",
    "RATIO_KPIS",
    "count",
    "frame_text",
    "rounded_text",
    "is_missing",
    "kbps",
    "kpi",
    "kpi_label",
    "mbps",
    "mbps_value",
    "ms",
    "number",
    "percent",
    "rate",
]

MISSING = "n/a"

COUNT_KPIS = frozenset({
    "calls_offered", "calls_blocked", "calls_answered", "calls_completed", "calls_abandoned",
    "peak_concurrent_calls", "retransmissions", "transaction_timeouts",
    "overload_rejections", "overload_drops", "overload_throttled",
})
"""KPIs that count something: shown as whole numbers."""

RATIO_KPIS = frozenset({"scr", "ser", "seer", "isa"})
"""RFC 6076 ratios (0-1) that do not end in ``_ratio``: shown in percent."""

_LABELS = {
    "blocking_ratio": "Calls blocked",
    "cpu_p95_max": "Highest CPU p95",
    "srd_p95_ms": "SRD p95",
    "srd_p50_ms": "SRD p50",
    "sdd_p95_ms": "SDD p95",
    "sdd_p50_ms": "SDD p50",
    "scr": "Session completion ratio",
    "ser": "Session establishment ratio",
    "seer": "Session establishment effectiveness ratio",
    "isa": "Ineffective session attempts",
    "offered_cps": "Offered rate",
    "retransmissions_per_call": "Retransmissions per call",
    "tls_cpu_share": "TLS share of CPU",
}


def is_missing(value: Any) -> bool:
    """None, NaN or an infinity: shown as ``n/a``."""
    if value is None:
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def number(value: Any, digits: int = 2) -> str:
    """A plain number with thousands separators and ``digits`` decimals."""
    return MISSING if is_missing(value) else f"{float(value):,.{digits}f}"


def count(value: Any) -> str:
    """A count: a whole number with thousands separators (2487.0 reads ``2,487``)."""
    return MISSING if is_missing(value) else f"{round(float(value)):,}"


def percent(fraction: Any, digits: int = 1) -> str:
    """A fraction (0-1) in percent: 0.02389 reads ``2.4 %``."""
    return MISSING if is_missing(fraction) else f"{100 * float(fraction):,.{digits}f} %"


def rate(value: Any, unit: str, digits: int = 2) -> str:
    """A rate with its unit: ``5.23 calls/s``, ``47,450.00 packets/s``."""
    return MISSING if is_missing(value) else f"{float(value):,.{digits}f} {unit}"


def ms(value: Any) -> str:
    """A delay in ms: whole ms from 10 ms, one decimal from 1 ms, two below."""
    if is_missing(value):
        return MISSING
    v = float(value)
    return f"{v:,.{0 if abs(v) >= 10 else 1 if abs(v) >= 1 else 2}f} ms"


def mbps_value(value: Any) -> float:
    """Mbps rounded for reading (a number, for tables that stay numeric): 3 decimals
    below 1, 2 below 100, 1 from 100."""
    v = float(value)
    if not math.isfinite(v):
        return v
    return round(v, 3 if abs(v) < 1 else 2 if abs(v) < 100 else 1)


def mbps(value: Any, unit: bool = True) -> str:
    """Mbps as text, rounded as :func:`mbps_value` (``12.35 Mbps``)."""
    if is_missing(value):
        return MISSING
    v = mbps_value(value)
    digits = 3 if abs(v) < 1 else 2 if abs(v) < 100 else 1
    text = f"{v:,.{digits}f}"
    return f"{text} Mbps" if unit else text


def kbps(value: Any) -> str:
    """A bit rate given in kbps: ``64.8 kbps`` below 1,000, else in Mbps (``82.61 Mbps``)."""
    if is_missing(value):
        return MISSING
    v = float(value)
    return f"{v:,.1f} kbps" if abs(v) < 1000 else mbps(v / 1000)


def _rule(name: str) -> tuple[str, Callable[[Any], str]]:
    """(unit shown after the label, formatter) of a figure named ``name``."""
    if name.startswith("fault") and "_cpu_" in name:  # a fault's survivors (sizing.sim.fault)
        return "%", percent
    if name.startswith("fault") and name.endswith("_s"):
        return "s", lambda v: MISSING if is_missing(v) else f"{float(v):,.0f} s"
    if name in COUNT_KPIS or name.startswith("calls_") or name.startswith("fault"):
        return "", count
    if name in RATIO_KPIS or name.endswith(("_ratio", "_share")) or name.startswith("cpu_"):
        return "%", percent
    if name.endswith("_pct"):  # already in percent
        return "%", lambda v: MISSING if is_missing(v) else f"{float(v):,.1f} %"
    if name.endswith("_ms"):
        return "ms", ms
    if name.endswith("_kbps"):
        return "kbps", kbps
    if name.endswith("_mbps"):
        return "Mbps", mbps
    if name.endswith("_cps"):
        return "calls/s", lambda v: rate(v, "calls/s")
    if name.endswith("_pps"):
        return "packets/s", lambda v: rate(v, "packets/s", 1)
    if name == "msgs_per_s":
        return "msgs/s", lambda v: rate(v, "msgs/s")
    if name.endswith("_per_s"):
        return "/s", lambda v: MISSING if is_missing(v) else f"{float(v):,.2f}/s"
    if name.endswith("_per_call"):
        return "", lambda v: number(v, 3)
    return "", lambda v: number(v, 2)


def kpi_label(name: str) -> str:
    """How a KPI is named to a person (``srd_p95_ms`` reads ``SRD p95``)."""
    if name in _LABELS:
        return _LABELS[name]
    text = name.removesuffix("_ms").removesuffix("_kbps").removesuffix("_pct")
    return text.replace("_", " ").capitalize()


def kpi(name: str, value: Any) -> str:
    """A KPI's (or a table column's) value as text with its unit: ``blocking_ratio``
    0.0052 reads ``0.5 %``, ``calls_offered`` 2487.0 reads ``2,487``, ``srd_p95_ms``
    reads ``13 ms``, ``cpu_p95`` 0.02389 reads ``2.4 %``; whole numbers of a field
    without a unit (cores, hosts) read as counts."""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        unit, fmt = _rule(name)
        return fmt(value) if unit else count(value)
    return _rule(name)[1](value)


def frame_text(frame: Any, *, index: bool = False) -> str:
    """A pandas frame as a terminal table, every cell read by :func:`kpi` after its
    column's name (``cpu_p95`` in percent, ``*_kbps`` with kbps, counts whole)."""
    shown = frame.copy()
    for column in shown.columns:
        shown[column] = [kpi(str(column), v.item() if hasattr(v, "item") else v)
                         for v in shown[column]]
    return shown.to_string(index=index)


def rounded_text(frame: Any, *, index: bool = False) -> str:
    """A display table whose numbers are already rounded (the report tables), as a terminal
    table: each number as written (``471.6``, ``0.769``, ``8``), not padded to the
    decimals of its column's longest value; blanks for missing values."""
    shown = frame.copy()
    for column in shown.columns:
        shown[column] = ["" if v is None or (isinstance(v, float) and math.isnan(v))
                         else f"{v:,.10g}" if isinstance(v, numbers.Real) and not isinstance(v, bool)
                         else v for v in shown[column]]
    return shown.to_string(index=index)
