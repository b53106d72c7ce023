"""Reading a child process's output line by line with a deadline, losing no line.

A ``select`` on the pipe followed by ``readline()`` on Python's buffered file
loses lines: ``readline`` may pull several lines into the file's buffer, after
which the pipe is no longer readable and ``select`` waits for output that
already arrived. :class:`LineReader` reads the descriptor itself and keeps the
lines it has not handed out yet.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time

__all__ = ["LineReader"]


class LineReader:
    """The lines a process writes to its stdout pipe (opened as text or bytes)."""

    def __init__(self, proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
        if proc.stdout is None:
            raise ValueError("LineReader needs a process started with stdout=subprocess.PIPE")
        self.proc = proc
        self._fd = proc.stdout.fileno()
        self._partial = b""
        self._lines: list[str] = []
        self.closed = False
        """True once the pipe reached its end (the process closed it or exited)."""

    def wait_for(self, text: str, timeout_s: float) -> str | None:
        """The first line from here on that contains ``text`` (stripped), or None when
        ``timeout_s`` passes or the output ends first."""
        deadline = time.monotonic() + timeout_s
        while True:
            while self._lines:
                line = self._lines.pop(0)
                if text in line:
                    return line.strip()
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return None
            self._read(min(left, 0.2))

    def rest(self) -> str:
        """What was read but not handed out yet (lines and a partial last line)."""
        out = "".join(self._lines) + self._partial.decode("utf-8", "replace")
        self._lines, self._partial = [], b""
        return out

    def _read(self, timeout_s: float) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._fd, selectors.EVENT_READ)
            if not sel.select(timeout=timeout_s):
                return
        chunk = os.read(self._fd, 65536)
        if not chunk:
            self.closed = True
            if self._partial:
                self._lines.append(self._partial.decode("utf-8", "replace"))
                self._partial = b""
            return
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        self._lines += [line.decode("utf-8", "replace") + "\n" for line in complete]
