"""UDP and TCP transports of the network driver on real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from sizing.net import StreamTransport, TransportLimits, UdpTransport
from sizing.sip.interfaces import Address, TransportError
from sizing.sip.message import Request, parse

HOST = "127.0.0.1"


def options(n: int, body: bytes = b"") -> bytes:
    """An OPTIONS request numbered ``n`` (in its Call-ID), encoded with a Content-Length."""
    text = (
        f"OPTIONS sip:bob@{HOST} SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP {HOST}:5060;branch=z9hG4bK-{n}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:alice@{HOST}>;tag=a{n}\r\n"
        f"To: <sip:bob@{HOST}>\r\n"
        f"Call-ID: call-{n}\r\n"
        f"CSeq: {n} OPTIONS\r\n"
        + ("Content-Type: text/plain\r\n" if body else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    return text.encode() + body


class Sink:
    """Collects what a transport delivers: messages with their source, and errors."""

    def __init__(self) -> None:
        self.messages: list[tuple[bytes, Address, object]] = []
        self.errors: list[tuple[Address, TransportError]] = []

    def on_message(self, data: bytes, source: Address, connection: object) -> None:
        self.messages.append((data, source, connection))

    def on_error(self, dest: Address, error: TransportError) -> None:
        self.errors.append((dest, error))


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait until ``condition()`` holds, failing after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.002)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 5))


async def tcp_server(sink: Sink, **limits: float) -> StreamTransport:
    return await StreamTransport.open(
        HOST, 0, sink.on_message, sink.on_error, limits=TransportLimits(**limits)
    )


def closed_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# -- UDP ----------------------------------------------------------------------


def test_udp_request_and_response_round_trip() -> None:
    async def main() -> None:
        client_sink = Sink()

        def answer(data: bytes, source: Address, connection: object) -> None:
            request = parse(data)
            assert isinstance(request, Request)
            server.send(request.create_response(200, to_tag="srv").encode(), source)

        server = await UdpTransport.open(HOST, 0, answer)
        client = await UdpTransport.open(HOST, 0, client_sink.on_message)
        assert server.local is not None
        client.send(options(1), server.local)
        await until(lambda: bool(client_sink.messages))
        data, source, connection = client_sink.messages[0]
        response = parse(data)
        assert (response.status, response.call_id, response.to_tag) == (200, "call-1", "srv")
        assert (source, connection) == (server.local, None)
        assert (server.counters.messages_in, server.counters.messages_out) == (1, 1)
        await client.aclose()
        await server.aclose()

    run(main)


def test_udp_oversize_datagram_is_dropped_and_counted() -> None:
    async def main() -> None:
        sink = Sink()
        server = await UdpTransport.open(
            HOST, 0, sink.on_message, limits=TransportLimits(max_datagram_bytes=800)
        )
        assert server.local is not None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            raw.sendto(options(1, body=b"x" * 1000), (HOST, server.local.port))
            raw.sendto(options(2), (HOST, server.local.port))
            await until(lambda: bool(sink.messages))
        assert [parse(m[0]).call_id for m in sink.messages] == ["call-2"]
        assert server.counters.oversize_dropped == 1
        await server.aclose()

    run(main)


def test_udp_send_above_datagram_limit_raises() -> None:
    async def main() -> None:
        transport = await UdpTransport.open(
            HOST, 0, Sink().on_message, limits=TransportLimits(max_datagram_bytes=200)
        )
        with pytest.raises(TransportError, match="200-byte datagram limit"):
            transport.send(options(1), Address("UDP", HOST, 5060))
        assert transport.counters.sends_refused == 1
        await transport.aclose()

    run(main)


# -- TCP ----------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 7, 64, 333])
def test_tcp_pipelined_messages_in_any_chunking_arrive_whole(chunk: int) -> None:
    async def main() -> None:
        sink = Sink()
        server = await tcp_server(sink)
        assert server.local is not None
        sent = [options(1), options(2, body=b"hello\r\n\r\nworld"), options(3)]
        stream = b"".join(sent)
        reader, writer = await asyncio.open_connection(HOST, server.local.port)
        for start in range(0, len(stream), chunk):
            writer.write(stream[start : start + chunk])
            await writer.drain()
        await until(lambda: len(sink.messages) == 3)
        assert [m[0] for m in sink.messages] == sent
        assert server.counters.bytes_in == len(stream)
        writer.close()
        await server.aclose()

    run(main)


def test_tcp_reuses_one_connection_both_ways() -> None:
    async def main() -> None:
        server_sink, client_sink = Sink(), Sink()

        def answer(data: bytes, source: Address, connection: object) -> None:
            server_sink.on_message(data, source, connection)
            request = parse(data)
            assert isinstance(request, Request)
            server.send(request.create_response(200).encode(), source)

        server = await StreamTransport.open(HOST, 0, answer)
        client = await StreamTransport.open(HOST, 0, client_sink.on_message, listen=False)
        assert server.local is not None
        client.send(options(1), server.local)
        client.send(options(2), server.local)  # queued while the first connection opens
        await until(lambda: len(client_sink.messages) == 2)
        assert server_sink.messages[0][2] is server_sink.messages[1][2]
        assert (client.counters.connections_out, server.counters.connections_in) == (1, 1)
        assert server.counters.connections_out == 0  # responses went back on the same one
        await client.aclose()
        await server.aclose()

    run(main)


def test_tcp_idle_connection_is_closed() -> None:
    async def main() -> None:
        server = await tcp_server(Sink(), idle_timeout=0.1)
        assert server.local is not None
        reader, writer = await asyncio.open_connection(HOST, server.local.port)
        assert await asyncio.wait_for(reader.read(), 1.0) == b""
        assert server.counters.idle_closed == 1
        assert server.connections == {}
        writer.close()
        await server.aclose()

    run(main)


def test_tcp_connections_beyond_limit_are_refused() -> None:
    async def main() -> None:
        server = await tcp_server(Sink(), max_connections=1)
        assert server.local is not None
        _, first = await asyncio.open_connection(HOST, server.local.port)
        await until(lambda: len(server.connections) == 1)
        reader, second = await asyncio.open_connection(HOST, server.local.port)
        assert await asyncio.wait_for(reader.read(), 1.0) == b""  # closed unread
        assert server.counters.connections_refused == 1
        assert len(server.connections) == 1
        first.close()
        second.close()
        await server.aclose()

    run(main)


def test_tcp_oversize_message_closes_connection() -> None:
    async def main() -> None:
        sink = Sink()
        server = await tcp_server(sink, max_message_bytes=1024, max_header_bytes=512)
        assert server.local is not None
        reader, writer = await asyncio.open_connection(HOST, server.local.port)
        writer.write(options(1, body=b"x" * 2000))
        assert await asyncio.wait_for(reader.read(), 1.0) == b""
        assert server.counters.framing_errors == 1
        assert sink.messages == []
        assert "exceeds 1024" in str(sink.errors[0][1])
        writer.close()
        await server.aclose()

    run(main)


def test_tcp_keepalive_ping_is_answered_with_pong() -> None:
    async def main() -> None:
        sink = Sink()
        server = await tcp_server(sink)
        assert server.local is not None
        reader, writer = await asyncio.open_connection(HOST, server.local.port)
        writer.write(b"\r\n\r\n")
        assert await asyncio.wait_for(reader.readexactly(2), 1.0) == b"\r\n"
        writer.write(options(1))  # the connection still carries messages afterwards
        await until(lambda: bool(sink.messages))
        assert (server.counters.keepalives_in, server.counters.messages_in) == (1, 1)
        writer.close()
        await server.aclose()

    run(main)


def test_tcp_refused_connect_is_reported_to_on_error() -> None:
    async def main() -> None:
        sink = Sink()
        client = await StreamTransport.open(HOST, 0, sink.on_message, sink.on_error, listen=False)
        dest = Address("TCP", HOST, closed_port())
        client.send(options(1), dest)
        await until(lambda: bool(sink.errors))
        assert sink.errors[0][0] == dest
        assert "connect" in str(sink.errors[0][1])
        assert (client.counters.connect_failures, client.connections) == (1, {})
        await client.aclose()

    run(main)


def test_tcp_queue_of_opening_connection_is_bounded() -> None:
    async def main() -> None:
        client = await StreamTransport.open(
            HOST, 0, Sink().on_message, listen=False, limits=TransportLimits(max_pending_bytes=1000)
        )
        dest = Address("TCP", HOST, closed_port())
        client.send(options(1), dest)
        with pytest.raises(TransportError, match="still opening"):
            client.send(options(2, body=b"x" * 600), dest)
        assert client.counters.sends_refused == 1
        await client.aclose()

    run(main)


def test_tcp_peer_closing_unanswered_connection_is_reported() -> None:
    async def main() -> None:
        server = await tcp_server(Sink(), max_connections=1)
        sink = Sink()
        client = await StreamTransport.open(HOST, 0, sink.on_message, sink.on_error, listen=False)
        assert server.local is not None
        _, occupant = await asyncio.open_connection(HOST, server.local.port)
        await until(lambda: len(server.connections) == 1)
        client.send(options(1), server.local)  # the server refuses this connection
        await until(lambda: bool(sink.errors))
        assert sink.errors[0][0] == server.local
        reason = str(sink.errors[0][1])  # a close, or a reset if our bytes arrived after it
        assert "closed by the peer before it answered" in reason or "reset" in reason
        occupant.close()
        await client.aclose()
        await server.aclose()

    run(main)
