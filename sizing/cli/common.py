"""What the `sizing` command and its sub-commands share: bad input reported as
``sizing: error: ...`` with exit status 2, an address option read or the option named,
the output directory checked before any work, and the terminal table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from sizing.sip.interfaces import Address

PREFIX = "sizing: error: "


def fail(message: str) -> NoReturn:
    """Report bad input on stderr and exit with status 2: every line of ``message``
    (one per problem) starts with ``sizing: error:``, whichever command reports it."""
    lines = message.splitlines() or [""]
    typer.echo("\n".join(line if line.startswith(PREFIX) else PREFIX + line
                         for line in lines), err=True)
    raise typer.Exit(2)


def parsed_address(option: str, text: str) -> Address:
    """``text`` (``transport:host[:port]``) as an address, or a clear exit naming ``option``."""
    from sizing.net.address import AddressError, parse_address

    try:
        return parse_address(text)
    except AddressError as exc:
        fail(f"{option}: {exc}")


def check_out_dir(out: Path, option: str = "--out") -> None:
    """Fail (exit 2) unless ``out`` is, or can be created as, a writable directory:
    checked before any work so that nothing is half-written."""
    import os

    if out.exists() and not out.is_dir():
        fail(f"{option} {out}: exists and is not a directory")
    parent = out
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        fail(f"{option} {out}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        fail(f"{option} {out}: {parent} is not writable")


def terminal_table(rows: list[dict], floatfmt: str = "{:,.2f}") -> str:
    """Rows as a terminal table: numbers with ``floatfmt``, a column of whole numbers
    (packets, bytes) as counts (``18,000``, never ``18,000.00``)."""
    import pandas as pd

    from sizing.report.numbers import count

    frame = pd.DataFrame(rows)
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind in "iuf" and values.notna().all() and \
                (values.dtype.kind in "iu" or (values % 1 == 0).all()):
            frame[column] = values.map(count)
    return frame.to_string(index=False, float_format=floatfmt.format)
