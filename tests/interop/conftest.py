"""Fixtures for the interop tests: free ports, SIPp, and `sizing serve` as a subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_tool

from sizing.measure.lines import LineReader

SERVE = [sys.executable, "-m", "sizing.cli", "serve"]


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


class ServeProcess:
    """A running `sizing serve`; :meth:`stop` sends SIGTERM and parses the exit counters."""

    def __init__(self, proc: subprocess.Popen[str], banner: str) -> None:
        self.proc = proc
        self.lines = LineReader(proc)
        self.banner = banner
        self.output = ""
        self.counters: dict[str, int] = {}

    def stop(self, timeout: float = 10.0) -> dict[str, int]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=timeout)
        out = self.lines.rest() + out
        self.output = out
        assert self.proc.returncode == 0, f"sizing serve exited {self.proc.returncode}: {err}"
        for line in out.splitlines():
            name, sep, value = line.partition(": ")
            if sep and value.strip().isdigit():
                self.counters[name] = int(value)
        return self.counters

    def wait_for_line(self, text: str, timeout_s: float) -> str | None:
        """The next line of the server's output containing ``text``; None at the timeout or exit."""
        return self.lines.wait_for(text, timeout_s)


@pytest.fixture
def sipp() -> str:
    return require_tool("sipp")


@pytest.fixture
def serve() -> Iterator:
    """Start `sizing serve ARGS...`; waits for its listening line. Stopped at teardown."""
    started: list[ServeProcess] = []

    def start(*args: str, ready_timeout: float = 30.0) -> ServeProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(
            [*SERVE, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            cwd=Path(__file__).resolve().parents[2],
        )
        server = ServeProcess(proc, "")
        banner = server.wait_for_line("listening on", ready_timeout)
        if banner is None:
            proc.kill()
            _, err = proc.communicate(timeout=5)
            raise AssertionError(f"sizing serve did not start: {err.strip()}")
        server.banner = banner
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.proc.communicate(timeout=5)
