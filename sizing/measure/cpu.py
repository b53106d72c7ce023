"""CPU time and memory of a server process and its children, sampled with psutil.

CPU is the time on CPU of the process, of its live descendants, and of its
reaped children (psutil's ``children_user``/``children_system``), so a
multi-process server such as Kamailio is counted whole, and a worker process
that exits during a step still counts up to its exit.

On Linux a live process's time comes from its threads' ``schedstat``
(nanoseconds) rather than user + system ticks (10 ms), so short steps at low
rates are not quantised; a thread that exits during a step loses its time
since the step began (servers keep their threads; Kamailio forks processes).
"""

from __future__ import annotations

import contextlib
import platform
from pathlib import Path

import psutil

__all__ = ["ProcessGone", "ProcessTree", "cpu_model"]


class ProcessGone(RuntimeError):
    """The measured process does not exist (any more)."""


class ProcessTree:
    """A process and its descendants, identified by the root's pid."""

    def __init__(self, pid: int) -> None:
        try:
            self.root = psutil.Process(pid)
            self.name = " ".join(self.root.cmdline()[:4]) or self.root.name()
        except psutil.NoSuchProcess:
            raise ProcessGone(f"no process with pid {pid}") from None
        except psutil.AccessDenied:
            raise ProcessGone(f"pid {pid}: access denied (run as the same user or root)") from None
        self.pid = pid
        self.precise = Path(f"/proc/{pid}/task").is_dir() and any(
            (task / "schedstat").exists() for task in Path(f"/proc/{pid}/task").iterdir()
        )

    def _members(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            raise ProcessGone(f"process {self.pid} exited during the measurement") from None

    def cpu_seconds(self) -> float:
        """Total CPU seconds (user + system) used so far by the process tree."""
        total = 0.0
        for proc in self._members():
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                if proc is self.root:
                    raise ProcessGone(f"process {self.pid} exited during the measurement") from None
                continue
            total += self._on_cpu(proc, times)
            if proc is self.root:
                total += times.children_user + times.children_system
        return total

    def _on_cpu(self, proc: psutil.Process, times) -> float:  # type: ignore[no-untyped-def]
        """Seconds on CPU of one live process: its threads' schedstat, else user + system."""
        if self.precise:
            total_ns = 0
            try:
                for task in Path(f"/proc/{proc.pid}/task").iterdir():
                    with contextlib.suppress(OSError, ValueError, IndexError):
                        total_ns += int((task / "schedstat").read_text().split()[0])
                return total_ns / 1e9
            except OSError:
                pass
        return times.user + times.system

    def rss_bytes(self) -> int:
        """Resident memory of the tree (shared pages of forked workers count once per process)."""
        total = 0
        for proc in self._members():
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total


def cpu_model() -> str:
    """The CPU model name and logical core count of this machine."""
    name = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    return f"{name} x{psutil.cpu_count(logical=True)}"
