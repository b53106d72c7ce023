"""File permissions of files written atomically.

``tempfile.mkstemp`` creates its file with mode 0600 whatever the umask, so a
report written to a temporary name and renamed would be readable by its owner
only. :func:`as_new_file` gives it the mode ``open()`` would have given:
0666 less the process's umask.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["as_new_file", "current_umask"]


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
