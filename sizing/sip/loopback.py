"""An in-memory network of SIP engines on any clock, for tests and small drivers.

Each element attaches an :class:`~sizing.sip.interfaces.Address` and a
callback; the :class:`LoopbackTransport` it gets back is the engine's
``Transport``. A sent message reaches the destination's callback
``latency_s`` later through ``clock.call_later``, unless the ``drop``
predicate decides it is lost. Every send is logged, so a test can assert the
exact message sequence. Nothing here reads a real clock or opens a socket.

:func:`attach_layer` feeds what arrives at an address to a transaction layer
through :func:`~sizing.sip.receive.receive_bytes` (re-exported here with the
rest of :mod:`sizing.sip.receive` for the tests that import it from here).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import NamedTuple

from .interfaces import Address, Clock, TransportError
from .receive import ReceiveStats, receive_bytes, reject_incomplete, reject_malformed
from .transaction import TransactionLayer

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


# -- between a transport and a transaction layer (see sizing.sip.receive) ------------------


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
