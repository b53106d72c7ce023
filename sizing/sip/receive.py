"""Between a transport and a transaction layer: what every driver does with the bytes it receives.

Parse; answer a malformed request 400 (or 505) statelessly when its Via is
readable, as RFC 3261 §8.2 asks of a UAS (the element never sees it); drop a
malformed response (§18.1.2); feed the rest to the layer. The simulator, the
asyncio server and the in-memory loopback network all use this, so malformed
input meets the same answer in each.
"""

from __future__ import annotations

import contextlib
from collections import Counter

from .headers import Via
from .interfaces import Address, Transport, TransportError
from .message import Headers, ParseError, Request, Response, parse
from .transaction import Transaction, TransactionLayer, reply_destination

__all__ = ["ReceiveStats", "receive_bytes", "reject_incomplete", "reject_malformed"]


class ReceiveStats:
    """What :func:`receive_bytes` did not hand to the layer, by reason."""

    __slots__ = ("rejected", "dropped_requests", "dropped_responses")

    def __init__(self) -> None:
        self.rejected: Counter[int] = Counter()
        """Malformed requests answered statelessly, by status (400, 505)."""
        self.dropped_requests = 0
        """Malformed requests with no readable Via: nowhere to answer."""
        self.dropped_responses = 0
        """Malformed responses (RFC 3261 §18.1.2: silently discarded)."""


_MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")
_MANDATORY_KEYS = frozenset(_MANDATORY)  # their lookup keys (canonical names)
_ECHOED = {"via": "Via", "v": "Via", "from": "From", "f": "From", "to": "To", "t": "To",
           "call-id": "Call-ID", "i": "Call-ID", "cseq": "CSeq"}


def _salvage(data: bytes) -> tuple[str, list[tuple[str, str]]] | None:
    """The start line and the §8.2.6 headers of a request parse() refused, read as text."""
    head = data.lstrip(b"\r\n").split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.replace("\r\n ", " ").replace("\r\n\t", " ").split("\r\n")
    if not lines or lines[0].startswith("SIP/"):
        return None
    found: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        canon = _ECHOED.get(name.strip().lower())
        if sep and canon is not None and "\r" not in value and "\n" not in value:
            found.append((canon, value.strip(" \t")))
    return lines[0], found


def _reject(
    status: int, reason: str, headers: list[tuple[str, str]], source: Address, transport: Transport
) -> bool:
    """Answer a request statelessly with the headers it carried; False when no Via is readable."""
    vias = [v for n, v in headers if n == "Via"]
    try:
        top = Via.parse_all(vias[0])[0] if vias else None
    except ValueError:
        top = None
    if top is None:
        return False
    out = Headers()
    for name, value in headers:
        if name == "Via":
            out.add(name, value)
    for name in ("From", "To", "Call-ID", "CSeq"):
        found = next((v for n, v in headers if n == name), None)
        if found is not None:
            out.add(name, found)
    response = Response(status, reason[:120].replace("\r", " ").replace("\n", " "), out)
    with contextlib.suppress(TransportError):
        transport.send(response.encode(), reply_destination(top, source, transport.reliable))
    return True


def receive_bytes(
    layer: TransactionLayer,
    transport: Transport,
    data: bytes,
    source: Address,
    stats: ReceiveStats | None = None,
) -> Transaction | None:
    """Parse ``data`` and feed it to ``layer``; returns the transaction it went to.

    A request parse() refuses, or one without the mandatory headers a
    transaction needs (Via, From, To, Call-ID, CSeq), is answered with the
    ParseError status (400 or 505) straight from here, when its top Via can
    be read; other malformed input is dropped and counted in ``stats``.
    """
    try:
        message = parse(data)
    except ParseError as error:
        reject_malformed(error, data, source, transport, stats)
        return None
    if isinstance(message, Request) and reject_incomplete(message, source, transport, stats):
        return None
    return layer.receive(message, source, transport)


def reject_malformed(
    error: ParseError,
    data: bytes,
    source: Address,
    transport: Transport,
    stats: ReceiveStats | None = None,
) -> None:
    """Answer the request in ``data``, which parse() refused with ``error``, with the error's
    status when its top Via can be read; else drop it. Counted in ``stats``.

    Takes the error rather than parsing again: an element that parsed ``data`` itself
    hands it here, so hostile input costs one parse, not two.
    """
    salvaged = _salvage(data)
    if salvaged is None:
        if stats is not None:
            stats.dropped_responses += 1
        return
    _, headers = salvaged
    if _reject(error.status, str(error), headers, source, transport):
        if stats is not None:
            stats.rejected[error.status] += 1
    elif stats is not None:
        stats.dropped_requests += 1


def reject_incomplete(
    request: Request, source: Address, transport: Transport, stats: ReceiveStats | None = None
) -> bool:
    """Answer 400 to a request without the headers a transaction needs (Via, From, To,
    Call-ID, CSeq), or drop it when its Via is missing too; False when it has them all."""
    if request.headers._lookup().keys() >= _MANDATORY_KEYS:
        return False
    missing = [name for name in _MANDATORY if name not in request.headers]
    if not missing:
        return False
    headers = [(n, v) for n, v in request.headers if n in _MANDATORY]
    if _reject(400, f"Missing {', '.join(missing)}", headers, source, transport):
        if stats is not None:
            stats.rejected[400] += 1
    elif stats is not None:
        stats.dropped_requests += 1
    return True
