"""Simulated links: delay, jitter, loss and on-the-wire bytes of each SIP message.

Theory of operation
-------------------
A :class:`Link` is one direction between two hosts, described by a
:class:`LinkSpec`. The two directions of a host pair share their TCP/TLS
connections (a SIP connection carries requests and responses both ways).
For every message, :meth:`Link.transit` says when it arrives (or that it is
lost) and counts its bytes with :func:`sizing.models.tls.wire_bytes`, cached by
message length:

- **delay**: ``latency_s`` plus a jitter drawn uniformly from
  ``[0, jitter_s]`` with the link's seeded RNG. On reliable transports
  (TCP, TLS) a message never overtakes the previous one on the same link
  (TCP delivers in order), so arrivals are kept FIFO; UDP may reorder.
- **loss**: UDP datagrams are lost with probability ``loss`` per IP packet
  (a fragmented datagram is lost when any fragment is); the real
  transaction layer then retransmits. TCP and TLS never lose a message:
  each lost segment instead costs a retransmission timeout (``tcp_rto_s``,
  doubling on each further loss, as RFC 6298 backs off) and its bytes again.
- **connections**: TCP and TLS connections open lazily on the first message
  between two hosts and stay open, or, with ``calls_per_connection`` (a
  trunk that opens a connection per call or per few calls), are closed and
  reopened when a new call's INVITE would exceed that many calls on the
  current one. Opening costs the TCP three-way handshake
  plus, for TLS, the handshake bytes of :func:`sizing.models.tls.connection_setup`
  (client to server on this direction, server to client on the reverse) and
  holds messages back until the handshake round trips are over (TCP 1,
  TLS 1.3 2, TLS 1.2 3; one fewer TLS round trip when resumed); closing costs
  :func:`sizing.models.tls.connection_teardown`. A ``tls_resumed_share`` of the
  connections resume a TLS session, spread evenly over the link's successive
  connections (no random draw, so the share is exact and other draws keep
  their sequence). The handshake CPU is charged to both hosts by the network
  (see :mod:`sizing.sim.network`).
- **bytes**: the forward bytes and packets of :class:`sizing.models.tls.WireBytes`
  count on this direction; the expected pure-ACK bytes and packets count on
  the reverse direction, where they travel.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Literal

from ..models.tls import DEFAULT_SUITE, NetParams, connection_setup, connection_teardown, wire_bytes
from .metrics import LinkMetrics

__all__ = ["Connection", "Link", "LinkSpec", "WIRE_TRANSPORT"]

#: The byte model's transport for each SIP transport name.
WIRE_TRANSPORT = {"UDP": "udp", "TCP": "tcp", "TLS": "tls", "WS": "tcp", "WSS": "tls"}
#: Handshake round trips before the first data segment can go (TCP, then TLS full/resumed).
_HANDSHAKE_RTTS = {"tcp": 1, ("tls", "1.3"): 2, ("tls", "1.2"): 3}


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """How one direction between two hosts behaves; durations in seconds."""

    latency_s: float = 0.0
    """One-way propagation and switching delay."""
    jitter_s: float = 0.0
    """Extra delay drawn uniformly from ``[0, jitter_s]`` per message."""
    loss: float = 0.0
    """Probability that an IP packet is lost (UDP: the message is lost; TCP/TLS: delay)."""
    tcp_rto_s: float = 0.2
    """Retransmission timeout of a lost TCP segment (Linux's 200 ms minimum)."""
    tls_version: Literal["1.2", "1.3"] = "1.3"
    tls_suite: str | None = None
    """Cipher suite for record overhead; None: the version's default (``sizing.models.tls.DEFAULT_SUITE``)."""
    tls_key: Literal["rsa", "ecdsa"] = "rsa"
    tls_resumed_share: float = 0.0
    """Share of new TLS connections that resume a session (shorter handshake, fewer
    bytes and less CPU)."""
    calls_per_connection: int | None = None
    """Calls a TCP/TLS connection carries before it is closed and a new one opened;
    None: connections stay open."""
    net: NetParams = field(default_factory=NetParams)
    """IP version, MTU, layer 2 and TCP options for the byte counts."""

    def __post_init__(self) -> None:
        for name in ("latency_s", "jitter_s", "tcp_rto_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"LinkSpec.{name} must be a number >= 0 seconds, got {value!r}")
        if isinstance(self.loss, bool) or not isinstance(self.loss, int | float) or not 0 <= self.loss < 1:
            raise ValueError(f"LinkSpec.loss must be a probability in [0, 1), got {self.loss!r}")
        if self.tls_version not in ("1.2", "1.3"):
            raise ValueError(f"LinkSpec.tls_version must be '1.2' or '1.3', got {self.tls_version!r}")
        share = self.tls_resumed_share
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ValueError(f"LinkSpec.tls_resumed_share must be a share in [0, 1], got {share!r}")
        calls = self.calls_per_connection
        if calls is not None and (isinstance(calls, bool) or not isinstance(calls, int) or calls < 1):
            raise ValueError(f"LinkSpec.calls_per_connection must be an integer >= 1 or None, got {calls!r}")
        if self.tls_key not in ("rsa", "ecdsa"):
            raise ValueError(f"LinkSpec.tls_key must be 'rsa' or 'ecdsa', got {self.tls_key!r}")
        if not isinstance(self.net, NetParams):
            raise TypeError(f"LinkSpec.net must be a sizing.models.tls.NetParams, got {self.net!r}")

    @property
    def suite(self) -> str:
        return self.tls_suite or DEFAULT_SUITE[self.tls_version]

    def handshake_rtts(self, transport: str, resumed: bool = False) -> int:
        """Round trips a new connection waits before its first message."""
        if transport == "tcp":
            return 1
        rtts = _HANDSHAKE_RTTS[("tls", self.tls_version)]
        return rtts - 1 if resumed else rtts

    def resumes(self, opened: int) -> bool:
        """Whether the link's connection number ``opened`` (0, 1, ...) resumes a TLS session.

        Connection k resumes when the running count of resumed ones,
        ``floor((k + 1) * share)``, steps up at k: an exact share, evenly spread.
        """
        share = self.tls_resumed_share
        return math.floor((opened + 1) * share) > math.floor(opened * share)


class Connection:
    """A TCP or TLS connection between two hosts, opened by ``client``."""

    __slots__ = ("client", "transport", "opened_at", "ready_at", "resumed", "calls")

    def __init__(
        self, client: str, transport: str, opened_at: float, ready_at: float, resumed: bool = False
    ) -> None:
        self.client = client
        self.transport = transport
        self.opened_at = opened_at
        self.ready_at = ready_at
        self.resumed = resumed
        """The TLS handshake resumed a session."""
        self.calls = 0
        """New calls (dialog-forming INVITEs) sent over it so far."""


class Link:
    """One direction from host ``src`` to host ``dst``.

    ``reverse`` is the opposite direction (set by the network); both share
    ``connections``. ``rng`` is the link's own seeded generator, so adding
    traffic on one link does not change another link's draws.
    """

    __slots__ = (
        "src", "dst", "spec", "rng", "metrics", "reverse", "connections",
        "_wire", "_last_reliable", "_latency", "_jitter", "_loss", "opened",
    )

    def __init__(self, src: str, dst: str, spec: LinkSpec, rng: random.Random, metrics: LinkMetrics) -> None:
        self.src = src
        self.dst = dst
        self.spec = spec
        self.rng = rng
        self.metrics = metrics
        self.reverse: Link = self
        self.connections: dict[str, Connection] = {}
        self._wire: dict[tuple[str, int], tuple[int, int, float, float, float]] = {}
        self._last_reliable = 0.0
        self._latency = float(spec.latency_s)
        self._jitter = float(spec.jitter_s)
        self._loss = float(spec.loss)
        self.opened = [0]
        """Connections opened between the two hosts so far (shared with ``reverse``)."""

    def __repr__(self) -> str:
        return f"<Link {self.src}->{self.dst} {self.spec}>"

    def wire(self, transport: str, size: int) -> tuple[int, int, float, float, float]:
        """(forward bytes, forward packets, reverse bytes, reverse packets, P(lost)) of a message."""
        key = (transport, size)
        cost = self._wire.get(key)
        if cost is None:
            spec = self.spec
            w = wire_bytes(size, transport, suite=spec.suite, net=spec.net)  # type: ignore[arg-type]
            lost = 1.0 - (1.0 - spec.loss) ** w.packets if transport == "udp" else 0.0
            cost = self._wire[key] = (w.forward, w.packets, w.reverse, w.ack_packets, lost)
        return cost

    def open(self, transport: str, now: float) -> tuple[Connection, bool]:
        """The connection for ``transport``, opening it now if there is none; (conn, new)."""
        conn = self.connections.get(transport)
        if conn is not None:
            return conn, False
        spec = self.spec
        resumed = transport == "tls" and spec.resumes(self.opened[0])
        self.opened[0] += 1
        rtt = 2 * spec.latency_s
        ready = now + spec.handshake_rtts(transport, resumed) * rtt
        conn = Connection(self.src, transport, now, ready, resumed)
        self.connections[transport] = conn
        setup = connection_setup(
            transport,  # type: ignore[arg-type]
            version=spec.tls_version, key=spec.tls_key, resumed=resumed, net=spec.net,
        )
        second = int(now)
        self.metrics.add(second, setup.client_to_server, setup.packets_c2s)
        self.reverse.metrics.add(second, setup.server_to_client, setup.packets_s2c)
        self.metrics.opened(second, resumed)
        return conn, True

    def call_started(self, transport: str, now: float) -> bool:
        """A new call's INVITE goes over the connection; True when that needed a new one.

        With ``calls_per_connection``, a connection that already carried that
        many calls is closed (teardown bytes, client side first) and another
        opened for this call; messages of earlier calls then use the new one.
        """
        conn = self.connections[transport]
        limit = self.spec.calls_per_connection
        new = False
        if limit is not None and conn.calls >= limit:
            self.close(transport, now)
            conn, new = self.open(transport, now)
        conn.calls += 1
        return new

    def close(self, transport: str, now: float) -> None:
        """Close the ``transport`` connection, counting its teardown bytes both ways."""
        conn = self.connections.pop(transport)
        spec = self.spec
        down = connection_teardown(
            transport, version=spec.tls_version, net=spec.net, suite=spec.suite  # type: ignore[arg-type]
        )
        client, server = (self, self.reverse) if conn.client == self.src else (self.reverse, self)
        second = int(now)
        client.metrics.add(second, down.client_to_server, down.packets_c2s)
        server.metrics.add(second, down.server_to_client, down.packets_s2c)

    def transit(self, transport: str, size: int, now: float) -> float | None:
        """When a ``size``-byte message put on the link at ``now`` arrives; None if lost.

        ``transport`` is ``udp``, ``tcp`` or ``tls``; a TCP/TLS connection must
        be open (:meth:`open`). Counts the bytes either way.
        """
        forward, packets, reverse, ack_packets, lost = self.wire(transport, size)
        metrics = self.metrics
        metrics.messages += 1
        second = int(now)
        if second >= len(metrics.bytes):
            metrics.add(second, 0.0, 0.0)
        metrics.bytes[second] += forward
        metrics.packets[second] += packets
        delay = self._latency
        if self._jitter:
            delay += self._jitter * self.rng.random()
        if transport == "udp":
            if lost and self.rng.random() < lost:
                metrics.lost += 1
                return None
            return now + delay
        if reverse:
            self.reverse.metrics.add(second, reverse, ack_packets)
        if self._loss:
            rto = self.spec.tcp_rto_s
            rng = self.rng
            per_segment = forward / packets
            for _ in range(packets):
                while rng.random() < self._loss:
                    delay += rto
                    rto *= 2
                    metrics.bytes[second] += per_segment
                    metrics.packets[second] += 1
        ready = self.connections[transport].ready_at
        arrival = (now if now >= ready else ready) + delay
        if arrival < self._last_reliable:
            arrival = self._last_reliable
        self._last_reliable = arrival
        return arrival
