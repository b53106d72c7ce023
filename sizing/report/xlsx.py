"""XLSX workbooks: one sheet per table, header row frozen, columns sized to fit.

Written row by row (openpyxl's write-only mode), so that a batch's workbook does not
hold its sites in memory: :class:`StreamedWorkbook` takes each sheet's columns, row
count and column widths first, then its rows in pieces, and writes the bytes pandas'
``to_excel`` writes for the whole frames (tests/test_report.py compares them).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
from openpyxl.utils import get_column_letter
from pandas.api.types import is_bool, is_float, is_integer, is_scalar

from sizing.files import atomic_write

__all__ = ["StreamedWorkbook", "column_widths", "sheet_name", "write_xlsx"]

_BAD = str.maketrans({c: "_" for c in "[]:*?/\\"})


def sheet_name(name: str, taken: set[str]) -> str:
    """A valid, unique Excel sheet name (31 characters, none of []:*?/\\)."""
    base = name.translate(_BAD)[:31] or "sheet"
    out, i = base, 2
    while out.lower() in {t.lower() for t in taken}:
        suffix = f"~{i}"
        out, i = base[:31 - len(suffix)] + suffix, i + 1
    taken.add(out)
    return out


def column_widths(head: pd.DataFrame) -> list[int]:
    """Each column's width: its name or longest value in the first 200 rows, plus 2, at
    most 60."""
    widths = []
    for col in head.columns:
        values = [str(col)] + [str(v) for v in head[col].head(200)]
        widths.append(min(60, max(len(v) for v in values) + 2))
    return widths


def _cell(value: Any) -> Any:
    """A value as pandas' Excel writer puts it in a cell: missing as an empty string,
    infinities as text, numpy numbers as Python ones, anything else as text."""
    if is_scalar(value) and pd.isna(value):
        return ""
    if is_float(value) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if is_integer(value):
        return int(value)
    if is_float(value):
        return float(value)
    if is_bool(value):
        return bool(value)
    return str(value)


class StreamedWorkbook:
    """A workbook written sheet by sheet and row by row; :meth:`save` writes it. Use as a
    context manager: a workbook not saved drops its sheets' temporary files."""

    def __init__(self) -> None:
        self._book = openpyxl.Workbook(write_only=True)
        self._taken: set[str] = set()
        self._sheets: dict[str, Any] = {}
        self._saved = False

    def __enter__(self) -> StreamedWorkbook:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._saved:
            for sheet in self._sheets.values():
                with contextlib.suppress(Exception):
                    sheet.close()  # ends its rows in order (no error when collected)
                    sheet._writer.cleanup()  # openpyxl's temporary file of the sheet

    def add_sheet(self, name: str, columns: Sequence[Any], rows: int,
                  widths: Sequence[int]) -> None:
        """A sheet of ``rows`` rows under a header of ``columns`` (rows come by :meth:`append`)."""
        sheet = self._book.create_sheet(sheet_name(name, self._taken))
        sheet.freeze_panes = "A2"
        for i, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(i)].width = width
        # The size pandas' writer records, known here before the first row is written.
        extent = f"A1:{get_column_letter(len(columns))}{rows + 1}" if len(columns) else "A1:A1"
        sheet.calculate_dimension = lambda: extent
        if len(columns):
            sheet.append([_cell(c) for c in columns])
        self._sheets[name] = sheet

    def append(self, name: str, frame: pd.DataFrame) -> None:
        """The rows of ``frame`` (the sheet's columns) at the end of sheet ``name``."""
        sheet = self._sheets[name]
        for record in frame.itertuples(index=False, name=None):
            sheet.append([_cell(v) for v in record])

    def save(self, path: str | Path) -> None:
        self._book.save(path)
        self._saved = True


def write_xlsx(path: str | Path, sheets: Mapping[str, pd.DataFrame]) -> Path:
    """Write the frames, one sheet each, atomically; returns the path."""

    def write(tmp: Path) -> None:
        with StreamedWorkbook() as book:
            for name, frame in sheets.items():
                book.add_sheet(name, list(frame.columns), len(frame), column_widths(frame))
                book.append(name, frame)
            book.save(tmp)

    return atomic_write(path, write)
