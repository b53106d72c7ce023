"""XLSX workbooks: one sheet per table, header row frozen, columns sized to fit."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from sizing.report.atomic import atomic_write

__all__ = ["sheet_name", "write_xlsx"]

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


def write_xlsx(path: str | Path, sheets: Mapping[str, pd.DataFrame]) -> Path:
    """Write the frames, one sheet each, atomically; returns the path."""

    def write(tmp: Path) -> None:
        taken: set[str] = set()
        with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
            for name, frame in sheets.items():
                title = sheet_name(name, taken)
                frame.to_excel(xw, sheet_name=title, index=False)
                ws = xw.sheets[title]
                ws.freeze_panes = "A2"
                for i, col in enumerate(frame.columns, start=1):
                    values = [str(col)] + [str(v) for v in frame[col].head(200)]
                    width = min(60, max(len(v) for v in values) + 2)
                    ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = width

    return atomic_write(path, write)
