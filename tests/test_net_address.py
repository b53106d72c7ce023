"""Endpoint specs of the command line and the asyncio Clock of the network driver."""

from __future__ import annotations

import asyncio

import pytest

from sizing.net import AddressError, AsyncioClock, parse_address
from sizing.sip.interfaces import Address


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("udp:127.0.0.1:5070", Address("UDP", "127.0.0.1", 5070)),
        ("tcp:[::1]:5070", Address("TCP", "[::1]", 5070)),
        ("tls:sip.example.com:5061", Address("TLS", "sip.example.com", 5061)),
        ("TCP:localhost", Address("TCP", "localhost", 5060)),
        ("tls:[2001:db8::1]", Address("TLS", "[2001:db8::1]", 5061)),
    ],
)
def test_parse_address_accepts_transport_host_and_port(spec: str, expected: Address) -> None:
    assert parse_address(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("127.0.0.1:5060", "transport '127.0.0.1' is not one of udp, tcp, tls"),
        ("localhost", "expected transport:host\\[:port\\]"),
        ("sctp:1.2.3.4:5060", "transport 'sctp' is not one of"),
        ("udp:", "host is missing"),
        ("udp::5060", "host is empty"),
        ("udp:1.2.3.4:", "port is empty"),
        ("udp:1.2.3.4:50x", "port '50x' is not a number"),
        ("udp:1.2.3.4:70000", "port 70000 is outside 1-65535"),
        ("udp:1.2.3.4:0", "port 0 is outside 1-65535"),
        ("tcp:::1:5060", "IPv6 address must be written in brackets"),
        ("tcp:[::1:5060", "no closing"),
        ("tcp:[::g]:5060", "'::g' is not an IPv6 address"),
        ("tcp:[::1]5060", "unexpected '5060' after"),
        ("udp:1.2.3.256:5060", "'1.2.3.256' is not an IPv4 address"),
        ("tls:bad_host:5061", "'bad_host' is not a valid host name"),
    ],
)
def test_parse_address_names_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(AddressError, match=message) as info:
        parse_address(spec)
    assert repr(spec) in str(info.value)


def test_asyncio_clock_runs_callbacks_on_loop_time_and_cancels() -> None:
    async def main() -> tuple[list[str], float, float]:
        clock = AsyncioClock()
        fired: list[str] = []
        start = clock.now()
        clock.call_later(0.02, lambda: fired.append("kept"))
        clock.call_later(0.01, lambda: fired.append("cancelled")).cancel()
        await asyncio.sleep(0.05)
        return fired, start, clock.now()

    fired, start, end = asyncio.run(main())
    assert fired == ["kept"]
    assert end - start >= 0.05


def test_asyncio_clock_refuses_negative_delay() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="delay must be >= 0"):
            AsyncioClock().call_later(-1, lambda: None)

    asyncio.run(main())
