"""Framing SIP messages out of a byte stream (TCP, TLS; RFC 3261 §18.3).

A stream carries messages back to back; each one ends after its header
section (CRLF CRLF) plus Content-Length bytes of body. Between messages a peer
may send RFC 5626 §3.5.1 keep-alives: a CRLF CRLF ping, answered by a CRLF
pong. The framer is sans-IO: feed it whatever the socket returned, in any
chunking, and it hands back complete messages (as bytes, for parse()) and
keep-alive markers. Input that can never become a message within the size
limits raises FramingError, after which the connection must be closed.
"""

from __future__ import annotations

import re
from enum import Enum

from .digits import read_uint

__all__ = ["FramingError", "KEEPALIVE", "PONG", "StreamFramer", "Keepalive"]


class FramingError(ValueError):
    """The stream cannot be framed (oversize or unframeable): close the connection."""


class Keepalive(Enum):
    """Keep-alive markers returned by StreamFramer.feed()."""

    PING = "CRLF CRLF"  # answer with a CRLF pong
    PONG = "CRLF"


KEEPALIVE = Keepalive.PING
PONG = Keepalive.PONG

# The value is the rest of the line, taken whole and stripped afterwards: every
# quantifier is possessive, so a long run of blanks is scanned once, not once per
# starting point (a lazy value before optional blanks made that quadratic).
_CONTENT_LENGTH = re.compile(
    rb"\r\n(?:content-length|l)[ \t]*+:[ \t]*+(?:\r\n[ \t]++)?([^\r]*+)(?=\r\n(?![ \t])|$)",
    re.IGNORECASE,
)


class StreamFramer:
    """Turns stream bytes into complete SIP messages.

    ``max_header_bytes`` bounds the header section, ``max_message_bytes`` the
    whole message; a peer that sends more is cut off with FramingError rather
    than buffered without end.
    """

    def __init__(self, max_message_bytes: int = 65536, max_header_bytes: int = 16384) -> None:
        if max_header_bytes <= 0 or max_message_bytes < max_header_bytes:
            raise ValueError("need 0 < max_header_bytes <= max_message_bytes")
        self.max_message_bytes = max_message_bytes
        self.max_header_bytes = max_header_bytes
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer already searched for CRLF CRLF
        self._need: int | None = None  # total size of the message being read

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as part of a message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | Keepalive]:
        """Add received bytes; return the messages and keep-alives now complete."""
        buffer = self._buffer
        buffer += data
        out: list[bytes | Keepalive] = []
        while buffer:
            if self._need is None:
                if buffer[0] == 0x0D:  # CR: a keep-alive, unless it is cut short
                    if buffer.startswith(b"\r\n\r\n"):
                        del buffer[:4]
                        out.append(KEEPALIVE)
                        continue
                    if buffer.startswith(b"\r\n") and (len(buffer) == 2 or buffer[2] != 0x0D):
                        del buffer[:2]
                        out.append(PONG)
                        continue
                    if len(buffer) < 4 and b"\r\n\r\n".startswith(bytes(buffer)):
                        break  # wait for the rest of the keep-alive
                    raise FramingError(f"stray bytes between messages: {bytes(buffer[:8])!r}")
                if buffer[0] == 0x0A:
                    raise FramingError("bare LF between messages")
                start = max(0, self._scanned - 3)
                end = buffer.find(b"\r\n\r\n", start)
                if end < 0:
                    if len(buffer) > self.max_header_bytes:
                        raise FramingError(
                            f"header section longer than {self.max_header_bytes} bytes"
                        )
                    self._scanned = len(buffer)
                    break
                if end + 4 > self.max_header_bytes:
                    raise FramingError(f"header section longer than {self.max_header_bytes} bytes")
                self._need = end + 4 + self._content_length(bytes(buffer[:end]))
                if self._need > self.max_message_bytes:
                    raise FramingError(
                        f"message of {self._need} bytes exceeds {self.max_message_bytes}"
                    )
            need = self._need
            if len(buffer) < need:
                break
            out.append(bytes(buffer[:need]))
            del buffer[:need]
            self._need = None
            self._scanned = 0
        return out

    @staticmethod
    def _content_length(head: bytes) -> int:
        """The body length the header section announces (mandatory on streams)."""
        values = {m.group(1).rstrip(b" \t") for m in _CONTENT_LENGTH.finditer(head)}
        if not values:
            raise FramingError("no Content-Length: it is mandatory on stream transports")
        lengths = {read_uint(value, "Content-Length", FramingError) for value in values}
        if len(lengths) > 1:
            raise FramingError(f"differing Content-Length values {sorted(lengths)}")
        return lengths.pop()
