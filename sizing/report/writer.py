"""The reports of a batch, written as its sites finish, in memory that does not grow with them.

:meth:`BatchReports.add` writes a site's own files at once (``sites/<site>/``:
deployment, links, KPIs, candidates, CPU series, recommended scenario) and stages
its rows of the summary and of the workbook's tables, and its HTML section, in a
hidden directory of ``out``; the plan can then be dropped. :meth:`BatchReports.finish`
writes ``summary.csv``, ``report.xlsx`` and ``report.html`` from the staged pieces in
site order: a first pass learns each table's columns and dtypes (what pandas gives
the whole table, :mod:`sizing.report.tableshape`), a second writes the rows, and the
sections are copied one by one. The files are the bytes the same tables and HTML
built from every plan at once would be. The three are written to temporary names and
renamed when all are complete; the staging directory is removed whatever happens.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pandas as pd

from sizing.files import atomic_files, atomic_write, atomic_write_text
from sizing.report.html import overview_columns, plan_html, site_cores, write_batch_html
from sizing.report.tables import (
    deployment_table,
    kpi_table,
    links_table,
    summary_columns,
    summary_row,
)
from sizing.report.tableshape import TableShape
from sizing.report.xlsx import StreamedWorkbook, column_widths

if TYPE_CHECKING:
    from sizing.plan import Plan

__all__ = ["BatchReports", "FIGURES_FOR_SITES"]

FIGURES_FOR_SITES = 200
"""Sites whose HTML section has figures (the first ones); the others have the tables."""

_CHUNK = 16
"""Sites whose rows are turned into one frame when the reports are written."""

_LONG = {"Deployment": deployment_table, "Links": links_table, "KPIs": kpi_table}
"""The workbook's sheets of a few rows per site, each site's led by its name."""


def _csv(path: Path, frame: pd.DataFrame, index: bool = False) -> Path:
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=index))


def write_site_files(out: Path, site: str, p: Plan) -> list[Path]:
    """The files of ``out/sites/<site>/``, each written atomically."""
    from sizing.scenario import dump_yaml

    d = out / "sites" / site
    files = [_csv(d / "deployment.csv", deployment_table(p)),
             _csv(d / "links.csv", links_table(p)),
             _csv(d / "kpis.csv", kpi_table(p))]
    if not p.candidates.empty:
        files.append(_csv(d / "candidates.csv", p.candidates))
    if "cpu" in p.series and not p.series["cpu"].empty:
        files.append(_csv(d / "cpu_series.csv", p.series["cpu"], index=True))
    files.append(atomic_write_text(d / "recommended.yaml", dump_yaml(p.recommended_scenario())))
    return files


class BatchReports:
    """Reports of the sites added, in the order of their ``index`` (see the module doc).

    Use as a context manager: the staging directory goes when the block ends.
    """

    def __init__(self, out: str | Path, *, title: str = "Sizing report",
                 figures_for_sites: int = FIGURES_FOR_SITES) -> None:
        self.out = Path(out)
        self.title = title
        self.figures_for_sites = figures_for_sites
        self.met = 0
        """Sites added whose plan meets every target."""
        self._next = 0
        self._staging: Path | None = None

    def __enter__(self) -> BatchReports:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Remove the staged pieces (the reports written stay)."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def add(self, site: str, p: Plan, index: int | None = None) -> None:
        """Write ``site``'s own files and stage its part of the reports; ``index`` is its
        place in them (default: after the last one added)."""
        if index is None:
            index = self._next
        self._next = max(self._next, index + 1)
        write_site_files(self.out, site, p)
        frames = {name: table(p) for name, table in _LONG.items()}
        piece = {
            "site": site,
            "summary": summary_row(site, p),
            "tables": {name: f.assign(Site=site)[["Site"] + [c for c in f.columns if c != "Site"]]
                       for name, f in frames.items()},
            "candidates": p.candidates.assign(Site=site),
            "cores": site_cores(p),
        }
        if self._staging is None:
            self.out.mkdir(parents=True, exist_ok=True)
            self._staging = Path(tempfile.mkdtemp(prefix=".reports-", dir=self.out))
        stem = self._staging / f"{index:012d}"
        stem.with_suffix(".pkl").write_bytes(pickle.dumps(piece, pickle.HIGHEST_PROTOCOL))
        section = plan_html(p, title=site, with_figures=index < self.figures_for_sites)
        stem.with_suffix(".html").write_text(section, encoding="utf-8")
        self.met += bool(p.met)

    def _pieces(self) -> Iterator[dict[str, Any]]:
        """The staged pieces in site order, read one at a time."""
        if self._staging is None:
            return
        for path in sorted(self._staging.glob("*.pkl")):
            yield pickle.loads(path.read_bytes())

    def finish(self) -> list[Path]:
        """Write summary.csv, report.xlsx and report.html; returns their paths."""
        from sizing.plan import ASSUMPTIONS

        summary = TableShape(rows=True)
        sheets = {name: TableShape(rows=False) for name in (*_LONG, "Candidates")}
        sites: list[str] = []
        for piece in self._pieces():
            sites.append(piece["site"])
            summary.learn(piece["summary"])
            for name, shape in sheets.items():
                shape.learn(_sheet_piece(piece, name))
        assumptions = pd.DataFrame({"assumption": list(ASSUMPTIONS),
                                    "value": list(ASSUMPTIONS.values())})

        with StreamedWorkbook() as book:
            return self._write(summary, sheets, sites, assumptions, book)

    def _write(self, summary: TableShape, sheets: dict[str, TableShape], sites: list[str],
               assumptions: pd.DataFrame, book: StreamedWorkbook) -> list[Path]:
        """The second pass of finish(): the rows of the three reports."""
        columns = summary_columns(summary.columns)
        head = summary.head(piece["summary"] for piece in self._pieces())[columns]
        book.add_sheet("Summary", columns, summary.length, column_widths(head))
        for name, shape in sheets.items():
            head = shape.head(_sheet_piece(piece, name) for piece in self._pieces())
            book.add_sheet(name, shape.columns, shape.length, column_widths(head))
        book.add_sheet("Assumptions", list(assumptions.columns), len(assumptions),
                       column_widths(assumptions))
        book.append("Assumptions", assumptions)

        paths = [self.out / name for name in ("summary.csv", "report.xlsx", "report.html")]
        cores: dict[str, dict[str, int]] = {}
        with atomic_files(*paths) as (csv_tmp, xlsx_tmp, html_tmp), \
                csv_tmp.open("w", newline="", encoding="utf-8") as csv_file, \
                html_tmp.open("w", encoding="utf-8") as html_file:
            if not columns:
                csv_file.write("\n")  # what pandas writes for a table without columns

            def overview() -> Iterator[pd.DataFrame]:
                """The overview's rows, writing the summary and the sheets' rows on the way
                (and gathering the data of the cores figure, drawn after the overview)."""
                chunk: list[dict[str, Any]] = []
                header = True
                for n, piece in enumerate(self._pieces(), start=1):
                    chunk.append(piece)
                    if n <= self.figures_for_sites:
                        cores[piece["site"]] = piece["cores"]
                    if len(chunk) < _CHUNK and n < len(sites):
                        continue
                    rows = summary.frame([c["summary"] for c in chunk])[columns]
                    if columns:
                        rows.to_csv(csv_file, index=False, header=header)
                    header = False
                    book.append("Summary", rows)
                    for name, shape in sheets.items():
                        book.append(name, shape.frame([_sheet_piece(c, name) for c in chunk]))
                    chunk = []
                    yield rows[overview_columns(columns)]

            def sections() -> Iterator[str]:
                for path in sorted(self._staging.glob("*.html")) if self._staging else ():
                    yield path.read_text(encoding="utf-8")

            write_batch_html(html_file.write, title=self.title, sites=sites, met=self.met,
                             overview_columns=overview_columns(columns), overview=overview(),
                             cores=cores, sections=sections())
            csv_file.close()
            html_file.close()
            book.save(xlsx_tmp)
        self.close()
        return paths



def _sheet_piece(piece: dict[str, Any], sheet: str) -> pd.DataFrame:
    """A staged site's rows of a workbook sheet (Deployment, Links, KPIs, Candidates)."""
    return piece["candidates"] if sheet == "Candidates" else piece["tables"][sheet]
