"""SIPp as a load generator: command lines, and its statistics and message logs parsed.

``sizing measure`` runs SIPp with ``-trace_stat`` (final counters: successful
and failed calls, retransmissions, response time) and ``-trace_msg`` (every
message sent and received, with its size), so the messages a target handled
are counted by kind from what actually crossed the wire, retransmissions
included, rather than assumed from the flow.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MessageTally",
    "SippStats",
    "find_sipp",
    "message_kind",
    "parse_message_log",
    "parse_stat_file",
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


def message_kind(start_line: str) -> str:
    """A message's cost-profile kind: the method of a request, ``"2xx"`` etc. of a response."""
    first = start_line.split(" ", 2)
    if first[0].startswith("SIP/") and len(first) > 1 and first[1][:1].isdigit():
        return f"{first[1][0]}xx"
    return first[0].upper()


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
                kind = message_kind(line.strip())
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
