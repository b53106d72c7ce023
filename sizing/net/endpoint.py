"""Open the right transport for an endpoint Address (what ``sizing serve`` listens on)."""

from __future__ import annotations

from sizing.sip.interfaces import Address

from .stream import StreamTransport
from .tlsconfig import TlsConfig, TlsConfigError
from .transport import ErrorHandler, MessageHandler, TransportLimits, ignore_errors
from .udp import UdpTransport

__all__ = ["open_transport"]


async def open_transport(
    local: Address,
    on_message: MessageHandler,
    on_error: ErrorHandler = ignore_errors,
    *,
    tls: TlsConfig | None = None,
    limits: TransportLimits | None = None,
) -> UdpTransport | StreamTransport:
    """Listen on ``local`` (from :func:`~sizing.net.address.parse_address`) with its transport."""
    if local.transport == "UDP":
        return await UdpTransport.open(local.host, local.port, on_message, on_error, limits=limits)
    if local.transport == "TCP":
        return await StreamTransport.open(local.host, local.port, on_message, on_error, limits=limits)
    if local.transport == "TLS":
        if tls is None:
            raise TlsConfigError(f"{local} needs TLS settings (certificate and key files)")
        return await StreamTransport.open(
            local.host, local.port, on_message, on_error, tls=tls, limits=limits
        )
    raise ValueError(f"{local}: transport {local.transport} is not supported (udp, tcp, tls)")
