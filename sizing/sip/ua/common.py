"""Constants and body readers the UA core's modules share."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

from ..digits import read_uint
from ..errors import HeaderError
from ..message import Request, Response
from ..sdp import SdpError, SessionDescription
from .call import ClientRequest

__all__ = [
    "ALLOW",
    "DIALOG_METHODS",
    "KNOWN_METHODS",
    "SDP",
    "SIPFRAG",
    "Headerish",
    "ResponseHandler",
    "sdp_of",
    "sipfrag_status",
]

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY"
DIALOG_METHODS = frozenset({"BYE", "INFO", "UPDATE", "REFER", "NOTIFY", "PRACK"})
"""Methods only meaningful inside a dialog: out of one they get 481."""
KNOWN_METHODS = frozenset(ALLOW.replace(",", "").split())
SDP = "application/sdp"
SIPFRAG = "message/sipfrag;version=2.0"

Headerish = Iterable[tuple[str, object]]
ResponseHandler = Callable[[ClientRequest, Response], None]


def sdp_of(message: Request | Response, *, strict: bool = False) -> SessionDescription | None:
    """The SDP body of ``message``, or None (no body, another type, unparseable).

    ``strict`` raises SdpError for an SDP body that does not parse, for an offer
    the UAS must refuse (400) rather than answer as if none had come.
    """
    if not message.body:
        return None
    ctype = message.content_type
    if ctype is not None and f"{ctype.type}/{ctype.subtype}".lower() != SDP:
        return None
    try:
        return SessionDescription.parse(message.body)
    except SdpError:
        if strict:
            raise
        return None


def sipfrag_status(body: bytes) -> int | None:
    """The status code of a ``message/sipfrag`` body's status line (RFC 3420)."""
    line = body.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("utf-8", "replace")
    parts = line.split(" ", 2)
    if len(parts) >= 2 and parts[0].upper() == "SIP/2.0" and len(parts[1]) == 3:
        with contextlib.suppress(HeaderError):
            return read_uint(parts[1], "status code")
    return None
