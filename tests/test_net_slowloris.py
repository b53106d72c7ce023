"""Peers that hold TCP connections open by trickling bytes (slowloris), on real sockets.

The message deadline and the per-source connection limit are set small so the
tests run quickly; the trickling peers connect from 127.0.0.2 and the
well-behaved one from 127.0.0.1 (both loopback on Linux), so the per-source
limit tells them apart. Timeouts here only guard against a hang: what is
asserted is that a connection was closed and counted, never how fast.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from test_net_transport import HOST, Sink, options, tcp_server, until

from sizing.cli.main import main
from sizing.net import StreamTransport
from sizing.net.server import ServeConfig, ServeError, Server
from sizing.sip.interfaces import Address

TRICKLER = "127.0.0.2"
GUARD_S = 10.0
"""Hang guard of every wait: far above the configured deadlines."""


def run(test) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


async def connect(server: StreamTransport, source: str = HOST):
    assert server.local is not None
    return await asyncio.open_connection(HOST, server.local.port, local_addr=(source, 0))


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Whether the server closed the connection (EOF or reset) within the hang guard."""
    try:
        async with asyncio.timeout(GUARD_S):
            while await reader.read(1024):
                pass
    except ConnectionResetError:
        pass
    return True


async def trickle(writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
    """Send a header one byte at a time, never ending it, so the idle timer never fires."""
    writer.write(b"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: ")
    try:
        while not stop.is_set():
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.02)
    except ConnectionError:
        pass


def test_a_message_not_complete_by_its_deadline_closes_its_connection_others_are_served() -> None:
    async def main() -> None:
        sink = Sink()
        server = await tcp_server(sink, message_timeout=0.5, idle_timeout=60)
        slow_reader, slow_writer = await connect(server, TRICKLER)
        stop = asyncio.Event()
        trickling = asyncio.create_task(trickle(slow_writer, stop))
        _, good = await connect(server)
        good.write(options(1))
        await until(lambda: len(sink.messages) == 1, GUARD_S)

        assert await closed_by_server(slow_reader)
        stop.set()
        await trickling
        assert server.counters.message_timeouts == 1
        assert server.counters.idle_closed == 0
        good.write(options(2))  # the well-behaved connection is still open and served
        await until(lambda: len(sink.messages) == 2, GUARD_S)
        assert sink.messages[0][2] is sink.messages[1][2]
        assert [source.host for _, source, _ in sink.messages] == [HOST, HOST]
        slow_writer.close()
        good.close()
        await server.aclose()

    run(main)


def test_a_completed_message_stops_its_deadline() -> None:
    async def main() -> None:
        sink = Sink()
        server = await tcp_server(sink, message_timeout=30)
        _, writer = await connect(server)
        data = options(1)
        writer.write(data[:20])
        await until(lambda: len(server.connections) == 1, GUARD_S)
        conn = next(iter(server.connections.values()))
        await until(lambda: conn._deadline is not None, GUARD_S)
        writer.write(data[20:] + data[:10])  # the end of one message, the start of the next
        await until(lambda: len(sink.messages) == 1, GUARD_S)
        assert conn._deadline is not None  # the next message's own deadline
        writer.write(data[10:])
        await until(lambda: len(sink.messages) == 2, GUARD_S)
        assert conn._deadline is None
        assert conn.state == "open"
        writer.close()
        await server.aclose()

    run(main)


def test_connections_beyond_the_per_source_limit_are_refused_and_counted() -> None:
    async def main() -> None:
        sink = Sink()
        server = await tcp_server(sink, max_connections_per_source=2, message_timeout=60)
        held = [await connect(server, TRICKLER) for _ in range(2)]
        for _, writer in held:
            writer.write(b"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: ")  # never finished
        await until(lambda: len(server.connections) == 2, GUARD_S)

        refused_reader, refused = await connect(server, TRICKLER)
        assert await closed_by_server(refused_reader)
        assert server.counters.source_refused == 1
        assert server.counters.connections_refused == 0

        _, good = await connect(server)  # another source: served while the two are held open
        good.write(options(1))
        await until(lambda: len(sink.messages) == 1, GUARD_S)
        assert len(server.connections) == 3

        held[0][1].close()  # a slot of that source frees when one of its connections goes
        await until(lambda: len(server.connections) == 2, GUARD_S)
        reader, again = await connect(server, TRICKLER)
        again.write(options(2))
        await until(lambda: len(sink.messages) == 2, GUARD_S)
        assert sink.messages[1][1].host == TRICKLER
        assert server.counters.source_refused == 1
        for writer in (held[1][1], refused, good, again):
            writer.close()
        await server.aclose()

    run(main)


def _free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def test_serve_closes_a_trickling_connection_and_counts_it() -> None:
    async def main() -> None:
        config = ServeConfig(role="uas", listen=Address("TCP", HOST, _free_tcp_port()), seed=1,
                             message_timeout=0.5, max_connections_per_source=1)
        server = await Server.start(config, out=lambda line: None)
        try:
            reader, writer = await asyncio.open_connection(HOST, server.local.port, local_addr=(TRICKLER, 0))
            stop = asyncio.Event()
            trickling = asyncio.create_task(trickle(writer, stop))
            await until(lambda: server.counters()["transport_connections_in"] == 1, GUARD_S)
            second_reader, second = await asyncio.open_connection(
                HOST, server.local.port, local_addr=(TRICKLER, 0))
            assert await closed_by_server(second_reader)
            assert await closed_by_server(reader)
            stop.set()
            await trickling
            counters = server.counters()
            assert counters["transport_message_timeouts"] == 1
            assert counters["transport_source_refused"] == 1
            writer.close()
            second.close()
        finally:
            await server.aclose()

    run(main)


@pytest.mark.parametrize(("fields", "message"), [
    ({"message_timeout": 0.0}, "--message-timeout must be > 0 seconds, got 0"),
    ({"max_connections_per_source": 0}, "--max-connections-per-source must be at least 1, got 0"),
])
def test_bad_stream_limits_name_the_option(fields: dict, message: str) -> None:
    with pytest.raises(ServeError, match=message):
        ServeConfig(role="uas", listen=Address("TCP", HOST, 5070), **fields)


def test_stream_limits_have_defaults_and_reach_the_sockets() -> None:
    default = ServeConfig(role="uas", listen=Address("TCP", HOST, 5070)).limits()
    assert (default.message_timeout, default.max_connections_per_source) == (10.0, 128)
    limits = ServeConfig(role="uas", listen=Address("TCP", HOST, 5070), message_timeout=2.5,
                         max_connections_per_source=4).limits()
    assert (limits.message_timeout, limits.max_connections_per_source) == (2.5, 4)


def test_cli_rejects_a_zero_message_timeout_in_one_line(capsys) -> None:
    assert main(["serve", "--role", "uas", "--listen", "tcp:127.0.0.1:5070", "--message-timeout", "0"]) == 2
    assert "sizing: error: --message-timeout must be > 0 seconds, got 0" in capsys.readouterr().err
