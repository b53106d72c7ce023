"""What every network transport shares: limits, counters and the callbacks into the engine.

A transport is one listening endpoint (UDP socket, TCP or TLS listener plus
the connections it accepts and opens). It implements the engine's
:class:`~sizing.sip.interfaces.Transport` (``send(data, dest)``, ``reliable``)
and hands what it receives to two callbacks:

- ``on_message(data, source, connection)``: one complete SIP message as bytes
  (for ``sizing.sip.parse``), the peer's Address, and the Connection it came on
  (None for UDP). Replying to ``source`` goes back over that connection.
- ``on_error(dest, error)``: a failure found after ``send`` returned (refused
  or reset connection, failed handshake, ICMP error), so the transactions
  bound to ``dest`` can fail as RFC 3261 §17.1.4 asks. Failures known at once
  make ``send`` raise :class:`~sizing.sip.interfaces.TransportError` instead.

Memory stays bounded by the limits: datagrams, messages, queues and write
buffers have maximum sizes, and what exceeds them is dropped or its connection
closed, and counted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sizing.sip.interfaces import Address, TransportError

if TYPE_CHECKING:
    from .stream import Connection

__all__ = [
    "ErrorHandler",
    "MessageHandler",
    "TransportCounters",
    "TransportLimits",
    "ignore_errors",
]

MessageHandler = Callable[[bytes, Address, "Connection | None"], object]
ErrorHandler = Callable[[Address, TransportError], object]


def ignore_errors(dest: Address, error: TransportError) -> None:
    """The default ErrorHandler: failures are still counted by the transport."""


@dataclass(frozen=True, slots=True)
class TransportLimits:
    """Bounds on what one transport buffers and accepts (sizes in bytes, times in seconds)."""

    max_datagram_bytes: int = 65507
    """UDP datagrams larger than this are dropped on receipt and refused on send."""
    max_message_bytes: int = 65536
    """A stream message (headers and body) larger than this closes its connection."""
    max_header_bytes: int = 16384
    """A stream header section larger than this closes its connection."""
    max_connections: int = 1024
    """Open TCP/TLS connections (both directions); new ones beyond it are refused."""
    max_connections_per_source: int = 128
    """Incoming connections open from one source IP address; new ones beyond it are
    refused, so one host cannot take every slot of ``max_connections``."""
    idle_timeout: float = 120.0
    """A connection that carried nothing for this long is closed."""
    message_timeout: float = 10.0
    """A stream message must be complete this long after its first byte, or its
    connection is closed: the idle timer restarts on every byte, so without this a
    peer trickling a header (slowloris) holds its connection open for ever."""
    connect_timeout: float = 5.0
    """An outgoing TCP connect that takes longer fails."""
    handshake_timeout: float = 5.0
    """A TLS handshake (either side) that takes longer fails."""
    max_pending_bytes: int = 262144
    """Bytes queued on an outgoing connection while it opens; more are refused."""
    max_write_buffer_bytes: int = 1048576
    """Bytes the socket may hold unsent (slow reader); a message that would exceed it is refused."""
    max_tls_sessions: int = 1024
    """TLS client sessions kept for resumption, one per peer, oldest evicted first."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(
                    f"TransportLimits.{field.name} must be a positive number, got {value!r}"
                )
        if self.max_header_bytes > self.max_message_bytes:
            raise ValueError(
                f"TransportLimits.max_header_bytes ({self.max_header_bytes}) exceeds "
                f"max_message_bytes ({self.max_message_bytes})"
            )


@dataclass(slots=True)
class TransportCounters:
    """What one transport did; ``sizing serve`` prints these on exit."""

    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    """Bytes of SIP messages received (keep-alives and TLS records not included)."""
    bytes_out: int = 0
    """Bytes of SIP messages sent (keep-alives and TLS records not included)."""
    keepalives_in: int = 0
    """CRLF CRLF pings received (each answered with a CRLF pong) and empty datagrams."""
    pongs_in: int = 0
    oversize_dropped: int = 0
    """UDP datagrams dropped on receipt for exceeding max_datagram_bytes."""
    sends_refused: int = 0
    """Messages ``send`` refused (too large, queue or buffer full, connection limit)."""
    connections_in: int = 0
    connections_out: int = 0
    connections_closed: int = 0
    connections_refused: int = 0
    """Incoming connections closed at once because max_connections were open."""
    source_refused: int = 0
    """Incoming connections closed at once because their source IP address had
    max_connections_per_source open."""
    idle_closed: int = 0
    message_timeouts: int = 0
    """Connections closed because a message was not complete within message_timeout."""
    framing_errors: int = 0
    connect_failures: int = 0
    handshakes_full: int = 0
    handshakes_resumed: int = 0
    handshake_failures: int = 0
    errors: int = 0
    """Socket errors: resets, ICMP errors, send failures."""

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)
