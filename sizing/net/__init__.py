"""asyncio network driver: real UDP, TCP and TLS sockets running the sans-IO engine."""

from .address import AddressError, parse_address
from .clock import AsyncioClock
from .endpoint import open_transport
from .stream import Connection, StreamTransport
from .tlsconfig import TlsConfig, TlsConfigError
from .transport import ErrorHandler, MessageHandler, TransportCounters, TransportLimits
from .udp import UdpTransport

__all__ = [
    "AddressError",
    "AsyncioClock",
    "Connection",
    "ErrorHandler",
    "MessageHandler",
    "StreamTransport",
    "TlsConfig",
    "TlsConfigError",
    "TransportCounters",
    "TransportLimits",
    "UdpTransport",
    "open_transport",
    "parse_address",
]
