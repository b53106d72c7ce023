"""Overload control of `sizing serve`: the admission logic, the load monitor, and the 503 wiring."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from sizing.net.overload import (
    PROBE_MAGIC,
    LoadMonitor,
    OverloadConfig,
    OverloadControl,
    OverloadError,
    active_transactions,
    sheddable,
)
from sizing.net.server import ServeConfig, Server
from sizing.sip.interfaces import Address
from sizing.sip.transaction import State


def _invite(port: int, n: int, *, to_tag: str = "", method: str = "INVITE") -> bytes:
    tag = f";tag={to_tag}" if to_tag else ""
    return (f"{method} sip:uas@127.0.0.1:5070 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKovl{n}\r\n"
            f"From: <sip:a@127.0.0.1>;tag=f{n}\r\nTo: <sip:uas@127.0.0.1>{tag}\r\n"
            f"Call-ID: ovl-{n}\r\nCSeq: 1 {method}\r\nContact: <sip:a@127.0.0.1:{port}>\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


# -- configuration ----------------------------------------------------------------------


def test_low_not_below_high_is_refused_naming_both_options() -> None:
    with pytest.raises(OverloadError, match=r"--overload-low \(50\) must be below --overload-high \(50\)"):
        OverloadConfig(high=50, low=50)


def test_unknown_mode_is_refused_naming_the_choices() -> None:
    with pytest.raises(OverloadError, match="--overload 'cpu' is not one of lag, transactions, off"):
        OverloadConfig(mode="cpu")


def test_a_given_high_keeps_the_default_low_ratio() -> None:
    assert OverloadConfig(mode="lag", high=200).thresholds() == (200.0, 40.0)


# -- the admission decision --------------------------------------------------------------


def test_below_high_never_overloads_and_admits_everything() -> None:
    control = OverloadControl(OverloadConfig(weight=1.0, high=100, low=20))
    for i in range(20):
        control.sample(i * 0.05, 99.0)
    assert not control.overloaded and all(control.admit() for _ in range(10))


def test_reaching_high_starts_an_episode_admitting_every_other_request() -> None:
    control = OverloadControl(OverloadConfig(weight=1.0, high=100, low=20))
    control.sample(0.0, 100.0)
    decisions = [control.admit() for _ in range(10)]
    assert (control.episodes, decisions.count(True), control.refused) == (1, 5, 5)


def test_sustained_overload_halves_admission_down_to_the_floor() -> None:
    control = OverloadControl(OverloadConfig(weight=1.0, high=100, low=20, min_fraction=0.05))
    for i in range(3):
        control.sample(i * 0.05, 500.0)
    assert control.fraction == 0.125
    for i in range(3, 20):
        control.sample(i * 0.05, 500.0)
    assert control.fraction == 0.05


def test_load_between_the_thresholds_holds_the_episode_and_fraction() -> None:
    control = OverloadControl(OverloadConfig(weight=1.0, high=100, low=20, recover_s=0.0))
    control.sample(0.0, 150.0)
    for i in range(1, 40):
        control.sample(i * 0.05, 50.0)
    assert control.overloaded and control.fraction == 0.5


def test_calm_load_restores_admission_then_ends_the_episode_after_recover_s() -> None:
    control = OverloadControl(OverloadConfig(weight=1.0, high=100, low=20, step=0.25, recover_s=1.0))
    control.sample(0.0, 150.0)  # fraction 0.5
    control.sample(0.1, 10.0)
    control.sample(0.2, 10.0)  # fraction 1.0
    control.sample(0.3, 10.0)  # calm since 0.3
    control.sample(1.2, 10.0)
    assert control.overloaded
    control.sample(1.3, 10.0)
    assert not control.overloaded and control.overloaded_s(5.0) == pytest.approx(1.3)
    control.sample(2.0, 100.0)
    assert control.episodes == 2 and control.overloaded_s(2.5) == pytest.approx(1.8)


# -- what may be refused -------------------------------------------------------------------


def test_new_out_of_dialog_invite_and_register_are_sheddable() -> None:
    assert sheddable(_invite(5060, 1)).method == "INVITE"  # type: ignore[union-attr]
    assert sheddable(_invite(5060, 2, method="REGISTER")).method == "REGISTER"  # type: ignore[union-attr]


@pytest.mark.parametrize("data", [
    _invite(5060, 3, to_tag="abc"),  # re-INVITE inside a dialog
    _invite(5060, 4, to_tag="abc", method="BYE"),
    _invite(5060, 5, method="ACK"),
    _invite(5060, 6, method="CANCEL"),
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\n\r\n",
    b"INVITE garbage\r\n\r\n",
])
def test_in_dialog_requests_ack_cancel_responses_and_garbage_pass(data: bytes) -> None:
    assert sheddable(data) is None


def test_only_transactions_in_active_states_count_as_load() -> None:
    states = [State.CALLING, State.TRYING, State.PROCEEDING, State.COMPLETED, State.CONFIRMED,
              State.ACCEPTED, State.TERMINATED]
    assert active_transactions(SimpleNamespace(state=s) for s in states) == 3


# -- the monitor on a real loop -------------------------------------------------------------


def test_a_slow_probe_round_trip_starts_an_episode() -> None:
    async def scenario() -> OverloadControl:
        control = OverloadControl(OverloadConfig(weight=1.0, high=100, low=20, interval_s=0.02))
        loop = asyncio.get_running_loop()
        monitor: LoadMonitor

        def send_probe(data: bytes) -> None:  # the socket queue holds it 150 ms
            loop.call_later(0.15, monitor.probe_received, data)

        monitor = LoadMonitor(control, send_probe=send_probe)
        monitor.start()
        await asyncio.sleep(0.4)
        monitor.stop()
        return control

    control = asyncio.run(scenario())
    assert control.episodes == 1 and control.peak_load >= 100


def test_a_fast_probe_round_trip_keeps_the_server_calm() -> None:
    async def scenario() -> OverloadControl:
        control = OverloadControl(OverloadConfig(weight=1.0, high=100, low=20, interval_s=0.02))
        loop = asyncio.get_running_loop()
        monitor: LoadMonitor

        def send_probe(data: bytes) -> None:
            loop.call_soon(monitor.probe_received, data)

        monitor = LoadMonitor(control, send_probe=send_probe)
        monitor.start()
        await asyncio.sleep(0.3)
        monitor.stop()
        return control

    control = asyncio.run(scenario())
    assert control.episodes == 0 and control.peak_load < 20


def test_one_spike_among_calm_samples_does_not_start_an_episode() -> None:
    control = OverloadControl(OverloadConfig(high=100, low=20))
    for i, load in enumerate([5.0, 5.0, 200.0, 5.0, 5.0]):
        control.sample(i * 0.05, load)
    assert control.episodes == 0 and control.peak_load == 200.0


def test_probe_received_takes_only_probes() -> None:
    monitor = LoadMonitor(OverloadControl(OverloadConfig()))
    assert monitor.probe_received(PROBE_MAGIC + bytes(8))
    assert not monitor.probe_received(_invite(5060, 7))


# -- the server's 503 wiring -----------------------------------------------------------------


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _exchange(overloaded: bool, datagram: Callable[[int], bytes]) -> tuple[bytes, dict[str, int]]:
    """Send one datagram (built for our port) to a UDP uas, calm or overloaded; its reply."""
    config = ServeConfig(role="uas", listen=Address("UDP", "127.0.0.1", _free_udp_port()), seed=1,
                         overload=OverloadConfig(recover_s=60.0))
    server = await Server.start(config, out=lambda line: None)
    if overloaded:
        server.overload.sample(asyncio.get_running_loop().time(), 1e6)
        server.overload.fraction = server.overload.config.min_fraction
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        await loop.sock_sendto(sock, datagram(sock.getsockname()[1]), ("127.0.0.1", server.local.port))
        reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
    counters = server.counters()
    await server.aclose()
    return reply, counters


def test_overloaded_server_answers_a_new_invite_503_with_retry_after() -> None:
    reply, counters = asyncio.run(_exchange(True, lambda port: _invite(port, 1)))
    assert reply.startswith(b"SIP/2.0 503 ") and b"\r\nRetry-After: 5\r\n" in reply
    assert (counters["overload_rejected_503"], counters["live_transactions"]) == (1, 0)


def test_overloaded_server_still_answers_in_dialog_requests_itself() -> None:
    reply, counters = asyncio.run(_exchange(True, lambda port: _invite(port, 2, to_tag="x", method="BYE")))
    assert reply.startswith(b"SIP/2.0 481 ") and counters["overload_rejected_503"] == 0


def test_calm_server_answers_a_new_invite_itself() -> None:
    reply, counters = asyncio.run(_exchange(False, lambda port: _invite(port, 3)))
    assert reply.startswith(b"SIP/2.0 100 ") and counters["overload_rejected_503"] == 0


async def _idle_then_one_invite() -> tuple[dict[str, int], dict[str, int]]:
    """The counters of a UDP uas after its probes ran while idle, then after one INVITE."""
    config = ServeConfig(role="uas", listen=Address("UDP", "127.0.0.1", _free_udp_port()), seed=1,
                         overload=OverloadConfig(interval_s=0.01))
    server = await Server.start(config, out=lambda line: None)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30  # a hang guard only: a probe returns within a few intervals
    while server.counters()["probes_received"] < 3 and loop.time() < deadline:
        await asyncio.sleep(0.01)
    idle = server.counters()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        await loop.sock_sendto(sock, _invite(sock.getsockname()[1], 9), ("127.0.0.1", server.local.port))
        await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
    busy = server.counters()
    await server.aclose()
    return idle, busy


def test_probes_are_counted_apart_from_the_sip_traffic() -> None:
    idle, busy = asyncio.run(_idle_then_one_invite())
    assert idle["probes_received"] >= 3 and idle["probes_sent"] >= idle["probes_received"]
    assert idle["probes_bytes_in"] > 0 and idle["probes_bytes_out"] >= idle["probes_bytes_in"]
    assert (idle["transport_messages_in"], idle["transport_messages_out"]) == (0, 0)
    assert (idle["transport_bytes_in"], idle["transport_bytes_out"]) == (0, 0)
    assert busy["transport_messages_in"] == 1 and busy["transport_messages_out"] >= 1  # 100 (and 180/200)
    assert busy["probes_sent"] >= idle["probes_sent"]
