"""Decimal numbers read from peer text, bounded before they are converted.

A peer may send a number as long as a datagram. ``int()`` refuses more than
4,300 digits with a bare ValueError (which escaped as a traceback where the
parsers document ParseError, FramingError or SdpError) and costs quadratic
time below that. So every numeric token the engine reads from the wire goes
through :func:`read_uint`, which refuses an overlong one with the error type
its caller documents, naming the field.
"""

from __future__ import annotations

from .errors import HeaderError

__all__ = ["MAX_DIGITS", "read_uint"]

MAX_DIGITS = 64
"""Longest numeric token accepted, leading zeros included: far above any SIP or SDP
number (64-bit values have 20 digits), far below int()'s limit."""


def read_uint(text: str | bytes, where: str, error: type[ValueError] = HeaderError) -> int:
    """The unsigned decimal ``text`` (ASCII digits only); ``error(f"{where}: ...")`` if it
    is not one or is longer than MAX_DIGITS."""
    if len(text) > MAX_DIGITS:
        raise error(f"{where}: number of {len(text)} digits is too long (at most {MAX_DIGITS})")
    if not (text.isdigit() and text.isascii()):
        raise error(f"{where}: {text[:20]!r} is not a number")
    return int(text)
