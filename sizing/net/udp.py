"""SIP over UDP: one datagram socket that receives from and sends to any address."""

from __future__ import annotations

import asyncio
import logging

from sizing.sip.interfaces import Address, TransportError

from .address import from_sockaddr, is_ip_literal, socket_host
from .transport import (
    ErrorHandler,
    MessageHandler,
    TransportCounters,
    TransportLimits,
    ignore_errors,
)

__all__ = ["UdpTransport"]

log = logging.getLogger(__name__)


class UdpTransport:
    """A UDP endpoint implementing the engine's Transport (``reliable`` is False).

    Each datagram is one SIP message. Datagrams above ``max_datagram_bytes``
    are dropped and counted; datagrams holding only CRLFs (keep-alives some
    phones send) are counted and not delivered. Create with :meth:`open`.
    """

    reliable = False
    name = "UDP"

    def __init__(
        self,
        on_message: MessageHandler,
        on_error: ErrorHandler = ignore_errors,
        *,
        limits: TransportLimits | None = None,
    ) -> None:
        self.on_message = on_message
        self.on_error = on_error
        self.limits = limits if limits is not None else TransportLimits()
        self.counters = TransportCounters()
        self.local: Address | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._closed: asyncio.Future[None] | None = None
        self._sending_to: Address | None = None
        self._send_error: Exception | None = None

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        on_message: MessageHandler,
        on_error: ErrorHandler = ignore_errors,
        *,
        limits: TransportLimits | None = None,
    ) -> UdpTransport:
        """Bind ``host:port`` (port 0 picks a free one; see ``.local``) and start receiving."""
        self = cls(on_message, on_error, limits=limits)
        loop = asyncio.get_running_loop()
        self._closed = loop.create_future()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _DatagramProtocol(self), local_addr=(socket_host(host), port)
        )
        self.local = from_sockaddr("UDP", self._transport.get_extra_info("sockname"))
        return self

    def send(self, data: bytes, dest: Address) -> None:
        """Send one datagram to ``dest``; raises TransportError when it cannot go out."""
        transport = self._transport
        if transport is None or transport.is_closing():
            raise TransportError(f"UDP transport {self.local} is closed: cannot send to {dest}")
        if len(data) > self.limits.max_datagram_bytes:
            self.counters.sends_refused += 1
            raise TransportError(
                f"UDP message of {len(data)} bytes to {dest} exceeds the "
                f"{self.limits.max_datagram_bytes}-byte datagram limit"
            )
        if not is_ip_literal(dest.host):
            self.counters.sends_refused += 1
            raise TransportError(
                f"UDP destination {dest} is not an IP address (resolve it per RFC 3263 first)"
            )
        if transport.get_write_buffer_size() + len(data) > self.limits.max_write_buffer_bytes:
            self.counters.sends_refused += 1
            raise TransportError(f"UDP send buffer of {self.local} is full: message to {dest} dropped")
        self._sending_to, self._send_error = dest, None
        try:
            transport.sendto(data, (socket_host(dest.host), dest.port))
        finally:
            self._sending_to = None
        if self._send_error is not None:
            raise TransportError(f"UDP send to {dest} failed: {self._send_error}")
        self.counters.messages_out += 1
        self.counters.bytes_out += len(data)

    def close(self) -> None:
        """Stop receiving and release the socket."""
        if self._transport is not None:
            self._transport.close()

    async def aclose(self) -> None:
        """Close and wait until the socket is released."""
        self.close()
        if self._closed is not None:
            await self._closed

    def _received(self, data: bytes, addr: tuple) -> None:
        counters = self.counters
        if len(data) > self.limits.max_datagram_bytes:
            counters.oversize_dropped += 1
            return
        if not data.strip(b"\r\n"):
            counters.keepalives_in += 1
            return
        counters.messages_in += 1
        counters.bytes_in += len(data)
        source = from_sockaddr("UDP", addr)
        try:
            self.on_message(data, source, None)
        except Exception:
            counters.errors += 1
            log.exception("on_message failed for a UDP datagram from %s", source)

    def _error(self, exc: Exception) -> None:
        self.counters.errors += 1
        if self._sending_to is not None:  # raised inside sendto(): send() reports it
            self._send_error = exc
        else:
            log.debug("UDP %s: socket error %s", self.local, exc)

    def _lost(self) -> None:
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)


class _DatagramProtocol(asyncio.DatagramProtocol):
    __slots__ = ("_owner",)

    def __init__(self, owner: UdpTransport) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self._owner._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        self._owner._error(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._lost()
