"""`sizing serve --overload loss-based` on real UDP sockets: RFC 7339 between two servers.

The overload is made by concurrency, not by CPU speed: the UAS rings for a while
before it answers, so each call holds an active transaction there, and its
``--overload-high`` (the active transactions it steers towards) is tiny. Whatever
the machine's speed, more calls than that are ringing at once, so the loss it
advertises rises, and a proxy upstream refuses that share of new INVITEs itself.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from sizing.cli.main import main
from sizing.net.agent import AgentConfig, CallPlan, run_calls
from sizing.net.overload import OverloadConfig, OverloadError
from sizing.net.server import ServeConfig, Server
from sizing.sip.frontend import top_via_params
from sizing.sip.interfaces import Address

HANG_GUARD_S = 30  # bounds every wait; none is expected to come near it


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _uas(high: float, ring_s: float, **limits: int) -> ServeConfig:
    return ServeConfig(role="uas", listen=Address("UDP", "127.0.0.1", _free_udp_port()), seed=1,
                       ring_s=ring_s, overload=OverloadConfig(mode="loss-based", high=high), **limits)


def _invite(port: int, n: int, *, support: bool) -> bytes:
    oc = ';oc;oc-algo="loss"' if support else ""
    return (f"INVITE sip:uas@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKlb{n}{oc}\r\n"
            f"From: <sip:a@127.0.0.1>;tag=f{n}\r\nTo: <sip:uas@127.0.0.1>\r\n"
            f"Call-ID: lb-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:{port}>\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


async def _reply(sock: socket.socket, server: Server, data: bytes, status: bytes = b"100") -> bytes:
    """Send ``data`` to ``server`` and return the response with ``status`` that answers it."""
    loop = asyncio.get_running_loop()
    await loop.sock_sendto(sock, data, ("127.0.0.1", server.local.port))
    while True:
        reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), HANG_GUARD_S)
        if reply.startswith(b"SIP/2.0 " + status + b" ") and data.split(b"branch=")[1][:12] in reply:
            return reply


async def _ringing_server(calls: int, **limits: int) -> tuple[Server, socket.socket]:
    """A loss-based UAS steering towards one active transaction, once ``calls`` calls
    that announced support ring there and it advertises a loss; a socket to talk to it."""
    server = await Server.start(_uas(high=1, ring_s=HANG_GUARD_S, **limits), out=lambda line: None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    for n in range(calls):
        await _reply(sock, server, _invite(sock.getsockname()[1], n, support=True))
    assert server.loss_server is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_GUARD_S
    while server.loss_server.loss == 0 and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return server, sock


async def _signalled_replies() -> tuple[dict[str, str | None], dict[str, str | None], dict[str, int]]:
    """The top Via of a ringing UAS's 100 Trying, with and without RFC 7339 support
    announced, once ten calls ring there against a target of one."""
    server, sock = await _ringing_server(10)
    try:
        port = sock.getsockname()[1]
        supported = top_via_params(await _reply(sock, server, _invite(port, 10, support=True)))
        plain = top_via_params(await _reply(sock, server, _invite(port, 11, support=False)))
        return supported, plain, server.counters()
    finally:
        sock.close()
        await server.aclose()


def test_an_overloaded_loss_based_server_advertises_the_loss_in_the_via_of_its_responses() -> None:
    supported, plain, counters = asyncio.run(_signalled_replies())
    assert supported["oc-algo"] == "loss" and supported["oc-validity"] == "1000"
    assert 0 < int(supported["oc"] or 0) <= 99 and float(supported["oc-seq"] or 0) > 0
    assert not {"oc", "oc-algo", "oc-seq"} & plain.keys()  # §5.3: only to clients that support it
    assert counters["overload_loss_percent"] > 0 and counters["overload_oc_stamped"] >= 1
    assert counters["overload_rejected_503"] == 0  # the loss is advertised, not enforced by 503s


async def _refused_at_the_limit() -> tuple[bytes, dict[str, int]]:
    """The answer of a loss-based UAS at its ``max_transactions`` to one more new INVITE."""
    server, sock = await _ringing_server(3, max_transactions=3)
    try:
        reply = await _reply(sock, server, _invite(sock.getsockname()[1], 3, support=True), b"503")
        return reply, server.counters()
    finally:
        sock.close()
        await server.aclose()


def test_a_503_at_the_transaction_limit_carries_the_signal_too() -> None:
    reply, counters = asyncio.run(_refused_at_the_limit())
    assert b"\r\nRetry-After: 5\r\n" in reply
    assert int(top_via_params(reply)["oc"] or 0) > 0
    assert counters["overload_rejected_at_limit"] == 1


async def _calls_through_a_proxy(upstream_mode: str) -> tuple[list[int | None], dict[str, int], dict[str, int]]:
    """120 calls at 40/s from the project's agent through a proxy (``upstream_mode``) to a
    loss-based UAS that rings 1 s and steers towards 2 active transactions."""
    uas = await Server.start(_uas(high=2, ring_s=1.0), out=lambda line: None)
    proxy = None
    try:
        proxy = await Server.start(
            ServeConfig(role="proxy", listen=Address("UDP", "127.0.0.1", _free_udp_port()), seed=2,
                        forward_to=f"sip:127.0.0.1:{uas.local.port}",
                        overload=OverloadConfig(mode=upstream_mode)),
            out=lambda line: None)
        summary = await run_calls(AgentConfig(), CallPlan(
            target=f"sip:uas@127.0.0.1:{proxy.local.port}", calls=120, rate=40, timeout_s=HANG_GUARD_S))
        return [call.status for call in summary.calls], uas.counters(), proxy.counters()
    finally:
        if proxy is not None:
            await proxy.aclose()
        await uas.aclose()


@pytest.fixture(scope="module")
def loss_based_chain() -> tuple[list[int | None], dict[str, int], dict[str, int]]:
    return asyncio.run(_calls_through_a_proxy("loss-based"))


def test_the_upstream_proxy_hears_the_signal_and_refuses_new_invites_itself(loss_based_chain) -> None:
    statuses, uas, proxy = loss_based_chain
    assert proxy["overload_oc_heard"] > 0 and uas["overload_oc_stamped"] >= proxy["overload_oc_heard"]
    refused = proxy["overload_oc_throttled"]
    assert statuses.count(503) == refused == proxy["proxy_generated_503"]
    assert uas["calls"] == len(statuses) - refused  # a refused INVITE never reached the UAS
    assert uas["overload_rejected_503"] == 0


def test_the_forwarded_share_of_new_invites_falls_to_the_advertised_share(loss_based_chain) -> None:
    statuses, uas, _proxy = loss_based_chain
    answered_late = statuses[60:].count(200) / 60
    assert statuses.count(200) > 0  # the loss stops at 99 %: some calls always get through
    assert answered_late < 0.5
    assert uas["overload_loss_peak_percent"] >= 50


def test_an_upstream_without_loss_based_control_forwards_every_invite() -> None:
    statuses, uas, proxy = asyncio.run(_calls_through_a_proxy("off"))
    assert statuses.count(200) == len(statuses) == uas["calls"]
    assert uas["overload_oc_stamped"] == 0 and "overload_oc_throttled" not in proxy


def test_loss_based_takes_no_low_threshold() -> None:
    with pytest.raises(OverloadError, match="--overload-low is not used by --overload loss-based"):
        OverloadConfig(mode="loss-based", high=10, low=5)


def test_cli_refuses_a_low_threshold_for_loss_based_in_one_line(capsys) -> None:
    argv = ["serve", "--role", "uas", "--listen", "udp:127.0.0.1:5070", "--overload", "loss-based",
            "--overload-low", "5"]
    assert main(argv) == 2
    assert "sizing: error: --overload-low is not used by --overload loss-based" in capsys.readouterr().err
