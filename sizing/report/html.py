"""Self-contained HTML reports: inline CSS, tables, figures as base64 PNG.

Nothing is loaded from elsewhere (no ``src`` or ``href`` to another file or
site), so the report can be mailed or archived as one file.  Each site opens
with its deployment in plain words, then the tables (units in every header)
and the figures.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from sizing.report import figures
from sizing.report.tables import (
    CARRIER_IN,
    CARRIER_OUT,
    deployment_table,
    kpi_table,
    links_table,
    summary_table,
)

if TYPE_CHECKING:
    from sizing.plan import Plan

__all__ = ["batch_html", "overview_columns", "plan_html", "site_cores", "write_batch_html"]

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;
color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.3em;border-bottom:2px solid #ddd;padding-bottom:.2em;
margin-top:2em}h3{font-size:1.05em;margin-bottom:.3em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .6em}th{background:#f2f4f7;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}td.t{text-align:left}
.plain{font-size:1.08em;background:#eef6ee;border-left:4px solid #3a3;padding:.6em .9em}
.plain.miss{background:#fbeeee;border-left-color:#c33}
.note{color:#555;font-size:.88em}img{max-width:100%;height:auto}
.toc a{margin-right:1em}table.overview td:nth-child(2){max-width:34em}
"""


def _cell(value: object) -> tuple[str, bool]:
    """(text, is_number) of a table cell: integral numbers without decimals, others
    as rounded by the table (thousands separated)."""
    if isinstance(value, bool) or value is None:
        return ("" if value is None else ("yes" if value else "NO")), False
    if isinstance(value, int | float) and not isinstance(value, bool):
        if pd.isna(value):
            return "", True
        if float(value).is_integer():
            return f"{value:,.0f}", True
        return f"{value:,}", True
    return str(value), False


def _table(frame: pd.DataFrame, cls: str = "") -> str:
    """An HTML table: numbers right-aligned, text left-aligned, everything escaped."""
    return "".join(_table_parts(frame.columns, [frame], cls))


def _table_parts(columns: Iterable[object], frames: Iterable[pd.DataFrame],
                 cls: str = "") -> Iterator[str]:
    """_table() in pieces: its head, the rows of each frame in turn, its end."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    attr = f' class="{cls}"' if cls else ""
    yield f"<table{attr}><thead><tr>{head}</tr></thead><tbody>"
    for frame in frames:
        rows = []
        for record in frame.itertuples(index=False):
            cells = []
            for value in record:
                text, number = _cell(value.item() if hasattr(value, "item") else value)
                cells.append(f'<td class="{"n" if number else "t"}">{html.escape(text)}</td>')
            rows.append("<tr>" + "".join(cells) + "</tr>")
        yield "".join(rows)
    yield "</tbody></table>"


def _img(fig: object, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{figures.to_data_uri(fig)}">'


def _anchor(site: str) -> str:
    return "site-" + re.sub(r"[^A-Za-z0-9_-]", "-", site)


def plan_html(plan: Plan, *, title: str | None = None, with_figures: bool = True) -> str:
    """One plan as an HTML fragment (a ``<section>``)."""
    name = title or plan.name or "plan"
    miss = "" if plan.met else " miss"
    t = plan.scenario.targets
    parts = [
        f'<section id="{_anchor(name)}"><h2>{html.escape(name)}</h2>',
        f'<p class="plain{miss}">{html.escape(plan.summary())}</p>',
        f'<p class="note">Offered traffic {plan.offered_erlangs:,.1f} erlangs; trunk channels '
        f'{plan.trunk_channels:,} (Erlang B first guess {plan.erlang_b_channels:,} at '
        f'{t.blocking_max:.2%} blocking). Targets: CPU p95 ≤ {t.cpu_p95_max:.0%} per host '
        f'(so a surviving peer can take over), SRD p95 ≤ {t.srd_p95_max_ms:g} ms, blocking ≤ '
        f'{t.blocking_max:.2%}, {t.link_headroom:.0%} link headroom.</p>',
        "<h3>Deployment</h3>", _table(deployment_table(plan)),
        "<h3>Links, each direction</h3>", _table(links_table(plan)),
        "<h3>KPIs</h3>", _table(kpi_table(plan)),
        f'<p class="note">Confidence: {html.escape(plan.confidence)}</p>',
    ]
    if not plan.candidates.empty:
        parts += ["<h3>Deployments simulated</h3>", _table(plan.candidates)]
    if with_figures:
        parts.append(_img(figures.bandwidth_per_link(plan.links), f"{name}: bandwidth per link"))
        s = plan.series
        if "cpu" in s and not s["cpu"].empty:
            targets = {r: t.cpu_target(r) for r in plan.deployment["role"]}
            parts.append(_img(figures.cpu_over_time(s["cpu"], targets), f"{name}: CPU"))
        if "calls" in s and not s["calls"].empty:
            parts.append(_img(figures.concurrent_calls(s["calls"], plan.trunk_channels),
                              f"{name}: concurrent calls"))
        if "srd" in s and not s["srd"].empty:
            parts.append(_img(figures.srd_distribution(s["srd"], t.srd_p95_max_ms),
                              f"{name}: SRD"))
        if "goodput" in s and not s["goodput"].empty:
            parts.append(_img(figures.goodput_vs_offered(s["goodput"]), f"{name}: goodput"))
    parts.append("</section>")
    return "\n".join(parts)


def batch_html(plans: Mapping[str, Plan], *, title: str = "Sizing report",
               figures_for_sites: int = 200) -> str:
    """A whole batch as one self-contained HTML document: an overview table and a figure
    of the cores of the first ``figures_for_sites`` sites, then one section per site
    (figures for the first ``figures_for_sites``)."""
    summary = summary_table(plans)
    parts: list[str] = []
    write_batch_html(
        parts.append, title=title, sites=list(plans), met=sum(p.met for p in plans.values()),
        overview_columns=overview_columns(summary.columns),
        overview=[summary[overview_columns(summary.columns)]],
        cores={site: site_cores(p) for site, p in itertools.islice(plans.items(),
                                                                    figures_for_sites)},
        sections=(plan_html(p, title=site, with_figures=i < figures_for_sites)
                  for i, (site, p) in enumerate(plans.items())))
    return "".join(parts)


def overview_columns(summary_columns: Iterable[str]) -> list[str]:
    """The summary columns the overview table of a batch shows."""
    present = set(summary_columns)
    return [c for c in ("Site", "Recommended deployment", "All targets met", "Trunk channels",
                        CARRIER_IN, CARRIER_OUT) if c in present]


def site_cores(plan: Plan) -> dict[str, int]:
    """Total cores per role of a plan (the data of figures.cores_by_site)."""
    d = plan.deployment
    return {role: int(cores) for role, cores in zip(d["role"], d["total_cores"], strict=True)}


def write_batch_html(write: Callable[[str], object], *, title: str, sites: Sequence[str],
                     met: int, overview_columns: Sequence[str],
                     overview: Iterable[pd.DataFrame], cores: Mapping[str, Mapping[str, int]],
                     sections: Iterable[str]) -> None:
    """batch_html() piece by piece through ``write``, from the overview table's rows (the
    summary's ``overview_columns``, in frames of any length), the total cores per role of
    the sites the figure shows (the first ones; read once the overview is written) and
    the sites' sections, each consumed once: a batch of any size is written without
    holding its sites."""
    from sizing.plan import ASSUMPTIONS

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    write("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n")
    write(f"<h1>{html.escape(title)}</h1>\n")
    write(f'<p class="note">{len(sites)} sites, {met} meet every target. Generated {stamp} by '
          "sizing.</p>\n")
    toc = " ".join(f'<a href="#{_anchor(s)}">{html.escape(s)}</a>' for s in sites)
    write(f'<p class="toc">{toc}</p>\n')
    write("<h2>Overview</h2>\n")
    for part in _table_parts(overview_columns, overview, "overview"):
        write(part)
    if sites:
        shown = "" if len(cores) == len(sites) else f" (first {len(cores):,} of {len(sites):,})"
        write("\n" + _img(figures.cores_by_site(cores, f"Cores per site by role{shown}"),
                          "cores per site"))
    for section in sections:
        write("\n" + section)
    write('\n<h2>Assumptions of the closed form</h2><ul class="note">' + "".join(
        f"<li>{html.escape(k)} = {v:g}</li>" for k, v in ASSUMPTIONS.items()) + "</ul>")
    write("\n</body></html>\n")
