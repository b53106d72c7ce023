"""SIPp as a load generator: its command line, its process, and its statistics and message logs.

Every SIPp run of the product, its benchmarks and its tests goes through
this module: :class:`SippCommand` builds the command line (a built-in
scenario with ``-sn`` or a file with ``-sf``, always in the foreground with
``-nostdin`` so the process can be waited on and signalled), :class:`Sipp`
runs it as a context manager (ready when its port is bound, stopped politely
with SIGUSR1, then killed; its stderr kept for error messages), and the
parsers read what it wrote.

``sizing measure`` runs SIPp with ``-trace_stat`` (final counters: successful
and failed calls, retransmissions, response time) and ``-trace_msg`` (every
message sent and received, with its size), so the messages a target handled
are counted by kind from what actually crossed the wire, retransmissions
included, rather than assumed from the flow.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil

from sizing.sip.kind import message_class

__all__ = [
    "MessageTally",
    "Sipp",
    "SippCommand",
    "SippError",
    "SippStats",
    "find_sipp",
    "parse_message_log",
    "parse_stat_file",
    "sipp_version",
]

#: "UDP message sent (509 bytes):" and "UDP message received [243] bytes :"
_LOG_HEADER = re.compile(r"^(\w+) message (sent|received) [(\[](\d+)(?:\] | )bytes")


def find_sipp(path: str | None = None) -> str:
    """The SIPp executable; FileNotFoundError with a one-line reason when missing."""
    found = shutil.which(path or "sipp")
    if found is None:
        raise FileNotFoundError(
            f"SIPp not found ({path or 'sipp'} is not on PATH): install it (Debian: sip-tester)"
        )
    return found


def sipp_version(path: str = "sipp") -> str:
    """SIPp's version word (``v3.6.1``), or ``"?"`` when it cannot be asked."""
    try:
        out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    for word in out.split():
        if word.startswith("v") and word[1:2].isdigit():
            return word.rstrip(",-")
    return "?"


@dataclass
class MessageTally:
    """Messages and bytes SIPp sent and received, by kind."""

    sent: Counter[str] = field(default_factory=Counter)
    received: Counter[str] = field(default_factory=Counter)
    bytes_sent: int = 0
    bytes_received: int = 0
    server_header: str = ""
    """The first Server header seen in a received response (the target's software)."""

    def __iadd__(self, other: MessageTally) -> MessageTally:
        self.sent += other.sent
        self.received += other.received
        self.bytes_sent += other.bytes_sent
        self.bytes_received += other.bytes_received
        self.server_header = self.server_header or other.server_header
        return self


def parse_message_log(path: Path) -> MessageTally:
    """Count the messages of a SIPp ``-message_file`` by direction and kind, with their bytes."""
    tally = MessageTally()
    pending: tuple[str, int] | None = None  # direction, size: waiting for the start line
    received_headers = False
    with path.open(encoding="latin-1") as log:
        for raw in log:
            line = raw.rstrip("\r\n")
            header = _LOG_HEADER.match(line)
            if header:
                pending = (header.group(2), int(header.group(3)))
                received_headers = False
                continue
            if pending is not None:
                if not line.strip():
                    continue
                direction, size = pending
                kind = message_class(line.strip())
                if direction == "sent":
                    tally.sent[kind] += 1
                    tally.bytes_sent += size
                else:
                    tally.received[kind] += 1
                    tally.bytes_received += size
                    received_headers = not tally.server_header
                pending = None
                continue
            if received_headers:
                name, sep, value = line.partition(":")
                if not line.strip():
                    received_headers = False
                elif sep and name.strip().lower() == "server":
                    tally.server_header = value.strip()
                    received_headers = False
    return tally


@dataclass(frozen=True)
class SippStats:
    """SIPp's final cumulative counters."""

    calls_created: int
    calls_ok: int
    calls_failed: int
    retransmissions: int
    response_time_ms: float
    """Mean of response-time 1 (INVITE or request to its final response), ms."""


def _duration_ms(text: str) -> float:
    """SIPp's ``hh:mm:ss:uuuuuu`` as milliseconds."""
    parts = text.strip().split(":")
    if len(parts) != 4:
        raise ValueError(f"not a SIPp duration: {text!r}")
    h, m, s, us = (int(p) for p in parts)
    return ((h * 60 + m) * 60 + s) * 1e3 + us / 1e3


def parse_stat_file(path: Path) -> SippStats:
    """The last row of a SIPp ``-trace_stat`` file (``;``-separated, cumulative ``(C)`` columns)."""
    try:
        lines = [line for line in path.read_text(encoding="latin-1").splitlines() if line.strip()]
    except OSError as exc:
        raise ValueError(f"{path}: SIPp wrote no statistics ({exc.strerror or exc})") from None
    if len(lines) < 2:
        raise ValueError(f"{path}: SIPp wrote no statistics row")
    header = lines[0].split(";")
    row = dict(zip(header, lines[-1].split(";"), strict=False))

    def count(column: str) -> int:
        try:
            return int(row[column])
        except (KeyError, ValueError):
            raise ValueError(f"{path}: column {column!r} missing or not a number") from None

    try:
        response_ms = _duration_ms(row.get("ResponseTime1(C)", "00:00:00:000000"))
    except ValueError as exc:
        raise ValueError(f"{path}: column 'ResponseTime1(C)': {exc}") from None
    return SippStats(
        calls_created=count("TotalCallCreated"),
        calls_ok=count("SuccessfulCall(C)"),
        calls_failed=count("FailedCall(C)"),
        retransmissions=count("Retransmissions(C)"),
        response_time_ms=response_ms,
    )


class SippError(RuntimeError):
    """SIPp could not start, or exited before it was ready; the message says which run and why."""


#: ``SippCommand.transport`` as SIPp's ``-t`` mode (one socket for all calls).
_TRANSPORT_MODES = {"UDP": "u1", "TCP": "t1"}


@dataclass(frozen=True)
class SippCommand:
    """One SIPp command line; None leaves an option out (SIPp's own default).

    ``scenario`` is a built-in scenario name (``"uac"``, ``"uas"``: ``-sn``) or
    the path of a scenario file (``-sf``). ``remote`` is the ``host:port`` a UAC
    calls (the Request-URI's host); ``route_to`` sends every message to another
    ``host:port`` (``-rsa``, e.g. a proxy in front of ``remote``).
    """

    executable: str
    scenario: str | Path
    remote: str | None = None
    local_ip: str | None = "127.0.0.1"
    """``-i``: the address SIPp binds and writes into its messages."""
    local_port: int | None = None
    """``-p``: SIPp's SIP port (SIPp picks 5060 when None)."""
    transport: str | None = None
    """"UDP" or "TCP" (``-t u1`` / ``-t t1``); None: SIPp's default, UDP."""
    calls: int | None = None
    """``-m``: stop after this many calls."""
    rate: float | None = None
    """``-r``: new calls per second."""
    pause_ms: int | None = None
    """``-d``: the scenario's default pause."""
    service: str | None = None
    """``-s``: the Request-URI's user part."""
    route_to: str | None = None
    timeout_s: float | None = None
    """``-timeout``: SIPp's global timeout, whole seconds."""
    timeout_error: bool = False
    """``-timeout_error``: reaching the global timeout is an error (exit status non-zero)."""
    stat_file: Path | None = None
    """``-trace_stat -stf``: the statistics CSV :meth:`Sipp.stats` reads."""
    stat_period_s: int = 60
    """``-fd``: seconds between statistics rows (the last row is also written at exit)."""
    message_file: Path | None = None
    """``-trace_msg -message_file``: every message, read by :meth:`Sipp.messages`."""
    error_file: Path | None = None
    """``-trace_err -error_file``: unexpected messages and errors."""

    def __post_init__(self) -> None:
        if self.transport is not None and self.transport not in _TRANSPORT_MODES:
            raise ValueError(f"SippCommand.transport: SIPp runs UDP or TCP here, not {self.transport!r}")
        for name in ("calls", "rate", "timeout_s", "stat_period_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"SippCommand.{name} must be positive, got {value!r}")
        if self.pause_ms is not None and self.pause_ms < 0:
            raise ValueError(f"SippCommand.pause_ms must be >= 0, got {self.pause_ms!r}")

    def args(self) -> list[str]:
        """The command line, executable first."""
        scenario = self.scenario
        args = [self.executable, *(["-sf", str(scenario)] if isinstance(scenario, Path)
                                   else ["-sn", scenario])]
        if self.remote is not None:
            args.append(self.remote)
        options: list[tuple[str, object]] = [
            ("-i", self.local_ip), ("-p", self.local_port), ("-m", self.calls),
            ("-r", None if self.rate is None else f"{self.rate:g}"), ("-d", self.pause_ms),
            ("-s", self.service), ("-rsa", self.route_to),
            ("-t", None if self.transport is None else _TRANSPORT_MODES[self.transport]),
            ("-timeout", None if self.timeout_s is None else f"{self.timeout_s:.0f}"),
        ]
        args += [item for flag, value in options if value is not None for item in (flag, str(value))]
        args.append("-nostdin")
        if self.timeout_error:
            args.append("-timeout_error")
        if self.stat_file is not None:
            args += ["-trace_stat", "-stf", str(self.stat_file), "-fd", str(self.stat_period_s)]
        if self.message_file is not None:
            args += ["-trace_msg", "-message_file", str(self.message_file)]
        if self.error_file is not None:
            args += ["-trace_err", "-error_file", str(self.error_file)]
        return args


class Sipp:
    """A running SIPp. Create with :meth:`start`; use as ``with``, which stops it on leaving.

    ``what`` names the run in every error message ("SIPp UAC at 50 cps").
    Its stdout (the screen) is discarded; its stderr, where it reports why it
    stopped, goes to an anonymous temporary file (a pipe nobody reads could
    fill and block it), read once SIPp has ended.
    """

    def __init__(self, command: SippCommand, proc: subprocess.Popen[bytes], stderr: IO[bytes],
                 what: str) -> None:
        self.command = command
        self.proc = proc
        self.what = what
        self._stderr: IO[bytes] | None = stderr
        self._stderr_text = ""

    @classmethod
    def start(cls, command: SippCommand, workdir: Path, *, what: str = "SIPp") -> Sipp:
        """Start ``command`` in ``workdir``; SippError when the executable or scenario is missing."""
        scenario = command.scenario
        if isinstance(scenario, Path) and not scenario.is_file():
            raise SippError(f"{what}: scenario file {scenario} not found")
        stderr = tempfile.TemporaryFile("w+b", prefix="sipp-stderr-")  # noqa: SIM115 (kept by the Sipp)
        try:
            proc = subprocess.Popen(command.args(), cwd=workdir, stdout=subprocess.DEVNULL,
                                    stderr=stderr)
        except OSError as exc:
            stderr.close()
            raise SippError(f"{what}: cannot run {command.executable}: {exc.strerror or exc}") from None
        return cls(command, proc, stderr, what)

    def __enter__(self) -> Sipp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """SIPp's exit status (0 all calls succeeded, 1 some failed, others: an error); None while running."""
        return self.proc.poll()

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Wait for SIPp to end by itself; its exit status, or None if still running at the timeout."""
        try:
            status = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None
        self._collect_stderr()
        return status

    def _collect_stderr(self) -> None:
        """Keep what SIPp wrote on stderr and close the file (once SIPp has ended)."""
        if self._stderr is not None and self.proc.poll() is not None:
            self._stderr_text = self._stderr_so_far()
            self._stderr.close()
            self._stderr = None

    def _stderr_so_far(self) -> str:
        # pread: SIPp shares the file offset, so reading must not move it
        assert self._stderr is not None
        fd = self._stderr.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")

    def wait_ready(self, timeout_s: float = 5.0) -> None:
        """Return once SIPp has bound its ``local_port`` (a UAS can then take calls).

        SippError with SIPp's own last words when it exits first, or when the
        port is not bound by the timeout.
        """
        port = self.command.local_port
        if port is None:
            raise ValueError(f"{self.what}: wait_ready() needs SippCommand.local_port")
        tcp = self.command.transport == "TCP"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                raise SippError(f"{self.what} exited at once: {self.last_error() or 'no message'}")
            with contextlib.suppress(psutil.Error):
                sockets = psutil.Process(self.pid).net_connections(kind="tcp" if tcp else "udp")
                if any(s.laddr and s.laddr.port == port and (not tcp or s.status == psutil.CONN_LISTEN)
                       for s in sockets):
                    return
            time.sleep(0.02)
        raise SippError(f"{self.what} did not open {'TCP' if tcp else 'UDP'} port {port} "
                        f"within {timeout_s:g} s")

    def stop(self, grace_s: float = 5.0) -> int:
        """Stop SIPp if it still runs: SIGUSR1 (it writes its statistics and exits), after
        ``grace_s`` SIGKILL. Its exit status."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGUSR1)
            if self.wait(grace_s) is None:
                self.proc.kill()
                self.proc.wait()
        self._collect_stderr()
        return self.proc.returncode

    def finish(self, timeout_s: float, grace_s: float = 5.0) -> int | None:
        """Wait up to ``timeout_s`` for SIPp to end by itself, else :meth:`stop` it.

        Its exit status, or None when it had to be stopped.
        """
        status = self.wait(timeout_s)
        if status is None:
            self.stop(grace_s)
        return status

    def last_error(self) -> str:
        """The last line SIPp wrote on stderr (or, without one, in its ``error_file``); "" if none."""
        self._collect_stderr()
        text = self._stderr_text if self._stderr is None else self._stderr_so_far()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines and self.command.error_file is not None:
            with contextlib.suppress(OSError):
                text = self.command.error_file.read_text(encoding="latin-1")
                lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def failure(self) -> str:
        """One line saying how this run failed: its exit status and SIPp's last error."""
        return f"{self.what} failed (exit {self.returncode}): {self.last_error() or 'no message'}"

    def stats(self) -> SippStats:
        """The final counters of the statistics file (ValueError naming it when unreadable)."""
        if self.command.stat_file is None:
            raise ValueError(f"{self.what}: no statistics asked (SippCommand.stat_file is None)")
        return parse_stat_file(self.command.stat_file)

    def messages(self) -> MessageTally:
        """The messages of the message log by direction and kind (OSError when it is missing)."""
        if self.command.message_file is None:
            raise ValueError(f"{self.what}: no message log asked (SippCommand.message_file is None)")
        return parse_message_log(self.command.message_file)
