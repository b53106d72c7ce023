"""Progress on stderr for the commands that take more than a second.

One rule for every command (``run``, ``plan``, ``batch``, ``measure``): a tqdm
bar on stderr when stderr is a terminal, nothing with ``--quiet`` or when
stderr is a pipe or a file (a script's log keeps only the answer and the
errors). The library functions take plain callbacks; only the commands make bars.
"""

from __future__ import annotations

import sys
from typing import IO, Any

__all__ = ["bar", "shown"]


def shown(quiet: bool = False, stream: IO[str] | None = None) -> bool:
    """Whether progress is shown: not ``quiet`` and ``stream`` (stderr) is a terminal."""
    if quiet:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def bar(*, total: float | None, desc: str, unit: str, quiet: bool = False, **options: Any) -> Any:
    """A tqdm bar on stderr, disabled unless :func:`shown`; a bar left behind is erased."""
    from tqdm import tqdm

    options.setdefault("leave", False)
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not shown(quiet),
                dynamic_ncols=True, **options)
