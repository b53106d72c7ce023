"""Files written atomically: a temporary file next to the target, then a rename.

``os.replace`` within one directory is atomic on POSIX and Windows, so a
reader (a report's, a resumed batch, a fit reading a measurement) never sees
a half-written file; an exception while writing removes the temporary file
and leaves any old file untouched.

``tempfile.mkstemp`` creates its file with mode 0600 whatever the umask, so a
file written to a temporary name and renamed would be readable by its owner
only. :func:`as_new_file` gives it the mode ``open()`` would have given:
0666 less the process's umask.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "as_new_file",
    "atomic_files",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "current_umask",
]


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, then put it back
    os.umask(mask)
    return mask


def as_new_file(path: str | Path) -> None:
    """Give ``path`` the mode a newly created file gets: ``0o666 & ~umask``."""
    os.chmod(path, 0o666 & ~current_umask())


@contextlib.contextmanager
def atomic_files(*paths: str | Path) -> Iterator[list[Path]]:
    """Temporary files next to ``paths`` for the block to write, renamed onto them
    when it ends (in order; each rename atomic) and removed if it raises: several
    files written together appear when all are complete, or not at all."""
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
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically, as UTF-8."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
