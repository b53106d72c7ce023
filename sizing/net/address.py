"""Endpoint specs for the command line (``udp:127.0.0.1:5070``) and socket-address helpers.

Hosts are kept the way SIP writes them: an IPv6 literal carries brackets in an
:class:`~sizing.sip.interfaces.Address` (``[::1]``), as in a Via sent-by or a
URI host, so addresses the engine builds from headers and the ones built here
from socket peers compare equal. The brackets are stripped only at the socket.
"""

from __future__ import annotations

import ipaddress
import re

from sizing.sip.digits import read_uint
from sizing.sip.interfaces import Address

__all__ = [
    "DEFAULT_PORTS",
    "AddressError",
    "from_sockaddr",
    "is_ip_literal",
    "parse_address",
    "sip_host",
    "socket_host",
]

#: Default ports of RFC 3261 §19.1.2 when a spec leaves the port out.
DEFAULT_PORTS = {"UDP": 5060, "TCP": 5060, "TLS": 5061}

_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


class AddressError(ValueError):
    """A malformed endpoint spec; the message quotes the spec and says what is wrong."""


def socket_host(host: str) -> str:
    """The host as the socket API wants it: IPv6 literals without brackets."""
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


def sip_host(host: str) -> str:
    """The host as SIP writes it: IPv6 literals in brackets, scope id dropped."""
    if ":" in host and not host.startswith("["):
        return f"[{host.split('%', 1)[0]}]"
    return host


def is_ip_literal(host: str) -> bool:
    """True for an IPv4 address or a (bracketed or bare) IPv6 address."""
    try:
        ipaddress.ip_address(socket_host(host))
    except ValueError:
        return False
    return True


def from_sockaddr(transport: str, sockaddr: tuple) -> Address:
    """The Address of a socket peer or local name (IPv4 or IPv6 sockaddr tuple)."""
    return Address(transport, sip_host(str(sockaddr[0])), int(sockaddr[1]))


def parse_address(spec: str) -> Address:
    """Parse ``transport:host[:port]`` (``udp``, ``tcp`` or ``tls``; IPv6 in brackets).

    The port defaults to 5060 (5061 for TLS). Raises AddressError naming the
    spec and the faulty part.
    """
    if not isinstance(spec, str):
        raise AddressError(f"address spec must be a string, got {type(spec).__name__}")
    text = spec.strip()
    scheme, sep, rest = text.partition(":")
    if not sep:
        raise AddressError(
            f"address {spec!r}: expected transport:host[:port], e.g. udp:127.0.0.1:5060"
        )
    transport = scheme.upper()
    if transport not in DEFAULT_PORTS:
        raise AddressError(
            f"address {spec!r}: transport {scheme!r} is not one of udp, tcp, tls"
        )
    host, port_text = _split_host_port(spec, rest)
    if port_text is None:
        port = DEFAULT_PORTS[transport]
    else:
        if not (port_text.isdigit() and port_text.isascii()):
            raise AddressError(f"address {spec!r}: port {port_text!r} is not a number")
        port = read_uint(port_text, f"address {spec[:40]!r}: port", AddressError)
        if not 0 < port < 65536:
            raise AddressError(f"address {spec!r}: port {port} is outside 1-65535")
    return Address(transport, host, port)


def _split_host_port(spec: str, rest: str) -> tuple[str, str | None]:
    """Split ``host[:port]``, validating the host; IPv6 must be bracketed."""
    if not rest:
        raise AddressError(f"address {spec!r}: host is missing after the transport")
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise AddressError(f"address {spec!r}: IPv6 address has no closing ']'")
        inner, after = rest[1:close], rest[close + 1 :]
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            raise AddressError(f"address {spec!r}: {inner!r} is not an IPv6 address") from None
        if after and not after.startswith(":"):
            raise AddressError(f"address {spec!r}: unexpected {after!r} after ']'")
        return f"[{inner}]", (after[1:] if after else None)
    if rest.count(":") > 1:
        raise AddressError(
            f"address {spec!r}: an IPv6 address must be written in brackets, e.g. tcp:[::1]:5060"
        )
    host, sep, port_text = rest.partition(":")
    if not host:
        raise AddressError(f"address {spec!r}: host is empty")
    if sep and not port_text:
        raise AddressError(f"address {spec!r}: port is empty after ':'")
    if not is_ip_literal(host):
        if all(part.isdigit() for part in host.split(".")):
            raise AddressError(f"address {spec!r}: {host!r} is not an IPv4 address")
        labels = host.rstrip(".").split(".")
        bad = next((label for label in labels if not _LABEL.match(label)), None)
        if bad is not None or len(host) > 253:
            raise AddressError(f"address {spec!r}: {host!r} is not a valid host name")
    return host, (port_text if sep else None)
