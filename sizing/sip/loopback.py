"""An in-memory network of SIP engines on any clock, for tests and small drivers.

Each element attaches an :class:`~sizing.sip.interfaces.Address` and a
callback; the :class:`LoopbackTransport` it gets back is the engine's
``Transport``. A sent message reaches the destination's callback
``latency_s`` later through ``clock.call_later``, unless the ``drop``
predicate decides it is lost. Every send is logged, so a test can assert the
exact message sequence. Nothing here reads a real clock or opens a socket.

:func:`receive_bytes` is the small piece every driver needs between a
transport and a :class:`~sizing.sip.transaction.TransactionLayer`: parse,
answer a malformed request 400 (or 505) statelessly when its Via is
readable, drop malformed responses, and feed the layer.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from typing import NamedTuple

from .headers import Via
from .interfaces import Address, Clock, Transport, TransportError
from .message import Headers, ParseError, Request, Response, parse
from .transaction import Transaction, TransactionLayer

__all__ = [
    "LogEntry",
    "LoopbackNetwork",
    "LoopbackTransport",
    "ReceiveStats",
    "attach_layer",
    "receive_bytes",
    "reject_incomplete",
    "reject_malformed",
    "summarize",
]

#: Transports whose loopback links are reliable unless said otherwise.
RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"})

OnMessage = Callable[[bytes, Address], None]
DropRule = Callable[[bytes, Address, Address], bool]


class LogEntry(NamedTuple):
    """One message put on the network: when, from where, to where, the bytes."""

    time: float
    source: Address
    dest: Address
    data: bytes


def summarize(data: bytes) -> str:
    """A message's start line in short form: the method, or the status code as text.

    ``INVITE``, ``ACK``, ``100``, ``200`` ... so a test compares a whole
    exchange as a list of short strings.
    """
    line = data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    if line.startswith("SIP/"):
        parts = line.split(" ", 2)
        return parts[1] if len(parts) > 1 else line
    return line.split(" ", 1)[0]


class LoopbackTransport:
    """The transport of one attached address; implements the engine's ``Transport``."""

    __slots__ = ("network", "local", "reliable", "on_message", "sent", "received")

    def __init__(
        self, network: LoopbackNetwork, local: Address, on_message: OnMessage, reliable: bool
    ) -> None:
        self.network = network
        self.local = local
        self.reliable = reliable
        self.on_message = on_message
        self.sent = 0
        self.received = 0

    def send(self, data: bytes, dest: Address) -> None:
        """Queue ``data`` for ``dest``; TransportError if reliable and ``dest`` is unknown."""
        self.network._send(self, data, dest)

    def __repr__(self) -> str:
        return f"<LoopbackTransport {self.local} reliable={self.reliable}>"


class LoopbackNetwork:
    """Delivers bytes between attached addresses after ``latency_s`` seconds.

    ``drop(data, source, dest) -> bool`` decides losses deterministically
    (True loses the message). ``log`` holds every message sent, delivered or
    not; ``dropped`` the entries the rule lost; ``unroutable`` counts UDP
    messages sent to an address nobody attached.
    """

    def __init__(self, clock: Clock, *, latency_s: float = 0.0, drop: DropRule | None = None) -> None:
        if isinstance(latency_s, bool) or not isinstance(latency_s, int | float) or not latency_s >= 0:
            raise ValueError(f"LoopbackNetwork latency_s must be a number >= 0, got {latency_s!r}")
        if drop is not None and not callable(drop):
            raise TypeError(f"LoopbackNetwork drop must be callable or None, got {drop!r}")
        self.clock = clock
        self.latency_s = float(latency_s)
        self.drop = drop
        self.log: list[LogEntry] = []
        self.dropped: list[LogEntry] = []
        self.unroutable = 0
        self._endpoints: dict[Address, LoopbackTransport] = {}

    def attach(
        self, address: Address, on_message: OnMessage, *, reliable: bool | None = None
    ) -> LoopbackTransport:
        """Listen at ``address``; ``reliable`` defaults from the address's transport name."""
        if not isinstance(address, Address):
            raise TypeError(f"attach() needs an Address, got {address!r}")
        if not callable(on_message):
            raise TypeError(f"attach({address}): on_message must be callable, got {on_message!r}")
        if address in self._endpoints:
            raise ValueError(f"attach(): {address} is already attached")
        if reliable is None:
            reliable = address.transport in RELIABLE_TRANSPORTS
        transport = LoopbackTransport(self, address, on_message, bool(reliable))
        self._endpoints[address] = transport
        return transport

    def detach(self, address: Address) -> None:
        """Stop listening at ``address``; messages in flight to it are lost."""
        if self._endpoints.pop(address, None) is None:
            raise KeyError(f"detach(): {address} is not attached")

    def __contains__(self, address: object) -> bool:
        return address in self._endpoints

    def summary(self, *, source: Address | None = None, dest: Address | None = None) -> list[str]:
        """:func:`summarize` of every logged message, optionally only from/to one address."""
        return [
            summarize(e.data)
            for e in self.log
            if (source is None or e.source == source) and (dest is None or e.dest == dest)
        ]

    def counts(self) -> Counter[str]:
        """How many times each short start line (see :func:`summarize`) was sent."""
        return Counter(summarize(e.data) for e in self.log)

    def _send(self, sender: LoopbackTransport, data: bytes, dest: Address) -> None:
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"send() from {sender.local} needs bytes, got {type(data).__name__}")
        if not isinstance(dest, Address):
            raise TypeError(f"send() from {sender.local} needs an Address, got {dest!r}")
        if self._endpoints.get(sender.local) is not sender:
            raise TransportError(f"{sender.local} is detached from the network")
        target = self._endpoints.get(dest)
        if target is None and sender.reliable:
            raise TransportError(f"no element listens at {dest} (from {sender.local})")
        data = bytes(data)
        entry = LogEntry(self.clock.now(), sender.local, dest, data)
        self.log.append(entry)
        sender.sent += 1
        if target is None:
            self.unroutable += 1
            return
        if self.drop is not None and self.drop(data, sender.local, dest):
            self.dropped.append(entry)
            return
        source = sender.local

        def deliver() -> None:
            endpoint = self._endpoints.get(dest)
            if endpoint is None:
                self.unroutable += 1
                return
            endpoint.received += 1
            endpoint.on_message(data, source)

        self.clock.call_later(self.latency_s, deliver)


# -- between a transport and a transaction layer ----------------------------------------


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


def _reply_destination(via: Via, source: Address, reliable: bool) -> Address:
    if reliable or via.rport is not None:
        return source
    port = via.port or 5060
    return source if port == source.port else Address(source.transport, source.host, port)


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
        value = next((v for n, v in headers if n == name), None)
        if value is not None:
            out.add(name, value)
    response = Response(status, reason[:120].replace("\r", " ").replace("\n", " "), out)
    with contextlib.suppress(TransportError):
        transport.send(response.encode(), _reply_destination(top, source, transport.reliable))
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


def attach_layer(
    network: LoopbackNetwork,
    address: Address,
    layer: TransactionLayer,
    *,
    reliable: bool | None = None,
    stats: ReceiveStats | None = None,
) -> LoopbackTransport:
    """Attach ``address`` to ``network`` and feed what arrives there to ``layer``."""
    holder: list[LoopbackTransport] = []

    def on_message(data: bytes, source: Address) -> None:
        receive_bytes(layer, holder[0], data, source, stats)

    transport = network.attach(address, on_message, reliable=reliable)
    holder.append(transport)
    return transport
