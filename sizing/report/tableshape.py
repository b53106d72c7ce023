"""A table of many pieces written piece by piece, as pandas would write it whole.

The batch reports are long tables made of every site's rows. Built whole, pandas
decides each column from all of them: the columns in order of appearance, and one
dtype (whole numbers of a column that some site lacks become floats, ``2.0``; text
next to numbers makes a column of objects). :class:`TableShape` learns the same from
the pieces in a first pass, keeping one sample per kind of value, and then turns
each piece into rows of the whole table's columns and dtypes, so a writer can
stream them and produce the bytes pandas writes for the whole frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

__all__ = ["TableShape"]

class TableShape:
    """Columns and dtypes of a table made of pieces, learnt with :meth:`learn`.

    ``rows=True``: the pieces are dict rows and the table is ``pd.DataFrame(rows)``;
    ``rows=False``: they are frames and the table is ``pd.concat(frames,
    ignore_index=True)`` of the non-empty ones.
    """

    def __init__(self, *, rows: bool) -> None:
        self.rows = rows
        self.length = 0
        """Rows learnt."""
        self._pieces = 0
        self._present: dict[str, int] = {}
        """Pieces holding each column, by column in order of appearance."""
        self._samples: dict[str, dict[Any, pd.DataFrame | Any]] = {}
        """Per column, one value (rows) or one-row frame (frames) per kind."""
        self._dtypes: dict[str, Any] | None = None

    def learn(self, piece: Mapping[str, Any] | pd.DataFrame) -> None:
        """Take a piece into account (pieces in table order, before :meth:`frame`)."""
        if self.rows:
            assert isinstance(piece, Mapping)
            for column, value in piece.items():
                # pandas reads a missing value apart from others of its type: NaN and a
                # text make a text column, 0.0 and a text a column of objects
                missing = value is None or (isinstance(value, float) and value != value)
                self._seen(column).setdefault((type(value), missing), value)
            self.length += 1
        else:
            assert isinstance(piece, pd.DataFrame)
            if piece.empty:
                return
            all_na = piece.isna().all()
            for column, dtype in piece.dtypes.items():
                samples = self._seen(column)
                kind = (str(dtype), bool(all_na[column]))
                if kind not in samples:
                    samples[kind] = piece[[column]].iloc[:1]
            self.length += len(piece)
        self._pieces += 1

    def _seen(self, column: str) -> dict[Any, Any]:
        self._present[column] = self._present.get(column, 0) + 1
        return self._samples.setdefault(column, {})

    @property
    def columns(self) -> list[str]:
        """The whole table's columns, in pandas' order."""
        return list(self._present)

    def dtypes(self) -> dict[str, Any]:
        """The whole table's dtype of each column, as pandas infers it from the samples."""
        if self._dtypes is None:
            self._dtypes = {}
            for column, samples in self._samples.items():
                missing = self._present[column] < self._pieces
                if self.rows:
                    probe = pd.DataFrame([{column: v} for v in samples.values()]
                                         + ([{}] if missing else []))
                else:
                    probe = pd.concat(list(samples.values())
                                      + ([pd.DataFrame(index=[0])] if missing else []),
                                      ignore_index=True)
                self._dtypes[column] = probe[column].dtype
        return self._dtypes

    def frame(self, pieces: list[Any]) -> pd.DataFrame:
        """Pieces (learnt before) as rows of the whole table: its columns and dtypes."""
        columns = self.columns
        if self.rows:
            frame = pd.DataFrame(list(pieces), columns=columns, dtype=object)
        elif not columns:
            return pd.DataFrame()
        else:
            pieces = [p.reindex(columns=columns).astype(object) for p in pieces if not p.empty]
            if not pieces:
                return pd.DataFrame(columns=columns).astype(self.dtypes())
            frame = pd.concat(pieces, ignore_index=True)
        return frame.astype(self.dtypes())

    def head(self, pieces: Iterable[Any], rows: int = 200) -> pd.DataFrame:
        """The whole table's first ``rows`` rows, from its pieces in order (read no further)."""
        taken: list[Any] = []
        count = 0
        for piece in pieces:
            if count >= rows:
                break
            taken.append(piece)
            if not isinstance(piece, pd.DataFrame):
                count += 1
            elif not piece.empty:  # frame() leaves out the empty ones
                count += len(piece)
        return self.frame(taken).head(rows)
