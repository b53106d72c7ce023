"""Atomic file writes: write a temporary file next to the target, then rename.

``os.replace`` within one directory is atomic on POSIX and Windows, so a
reader (or a resumed batch) never sees a half-written report; an exception
while writing removes the temporary file and leaves any old file untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from sizing.files import as_new_file

__all__ = ["atomic_files", "atomic_write", "atomic_write_bytes", "atomic_write_text"]


@contextlib.contextmanager
def atomic_files(*paths: str | Path) -> Iterator[list[Path]]:
    """Temporary files next to ``paths`` for the block to write, renamed onto them
    when it ends (in order; each rename atomic) and removed if it raises: several
    reports written together appear when all are complete, or not at all."""
    temps: list[Path] = []
    try:
        for path in map(Path, paths):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            temps.append(Path(name))
        yield temps
        for tmp in temps:
            as_new_file(tmp)
        for tmp, path in zip(temps, paths, strict=True):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` to produce the file, then rename it to ``path``."""
    with atomic_files(path) as (tmp,):
        write(tmp)
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
