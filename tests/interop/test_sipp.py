"""`sizing serve` against real SIPp over loopback: calls complete, the proxy record-routes,
the B2BUA bridges SIPp to SIPp, malformed input gets 400 and the server keeps serving."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sizing.measure.flows import SCENARIOS
from sizing.measure.sipp import Sipp, SippCommand, SippStats

from .conftest import free_port

pytestmark = pytest.mark.interop

CALLS = 50


# SIPp's uac with ACK and BYE following the dialog's route set, as a UAC behind a
# record-routing proxy must (the built-in one sends them to the proxy's address).
UAC_RECORD_ROUTE = SCENARIOS / "basic-call-uac.xml"


def run_uac(sipp: str, tmp_path: Path, port: int, scenario: str | Path = "uac",
            transport: str | None = None) -> SippStats:
    """Run a SIPp UAC of CALLS calls at 25 cps against 127.0.0.1:port; its final statistics."""
    command = SippCommand(sipp, scenario, remote=f"127.0.0.1:{port}", local_port=free_port(),
                          transport=transport, calls=CALLS, rate=25, timeout_s=12, timeout_error=True,
                          stat_file=tmp_path / "uac_stat.csv", stat_period_s=60)
    with Sipp.start(command, tmp_path, what="SIPp uac") as uac:
        assert uac.finish(20) == 0, uac.failure()
    return uac.stats()


def start_uas(sipp: str, tmp_path: Path, port: int) -> Sipp:
    """A SIPp UAS for CALLS calls on 127.0.0.1:port logging every message, once it listens."""
    command = SippCommand(sipp, "uas", local_port=port, calls=CALLS, timeout_s=15,
                          message_file=tmp_path / "uas_messages.log")
    uas = Sipp.start(command, tmp_path, what="SIPp uas")
    uas.wait_ready()
    return uas


def received_invites(uas: Sipp) -> list[str]:
    """The INVITEs in the UAS's message log, one text each."""
    assert uas.command.message_file is not None
    return [m for m in uas.command.message_file.read_text().split("message received") if "\nINVITE " in m]


def test_sipp_uac_calls_uas_over_udp(sipp: str, serve, tmp_path: Path) -> None:
    port = free_port()
    server = serve("--role", "uas", "--listen", f"udp:127.0.0.1:{port}")
    stats = run_uac(sipp, tmp_path, port)
    counters = server.stop()
    assert (stats.calls_ok, stats.calls_failed) == (CALLS, 0)
    assert counters["uas_calls_accepted"] == CALLS


def test_sipp_uac_calls_uas_over_tcp(sipp: str, serve, tmp_path: Path) -> None:
    port = free_port()
    server = serve("--role", "uas", "--listen", f"tcp:127.0.0.1:{port}")
    stats = run_uac(sipp, tmp_path, port, transport="TCP")
    counters = server.stop()
    assert (stats.calls_ok, stats.calls_failed) == (CALLS, 0)
    assert counters["transport_connections_in"] == 1


def test_sipp_calls_through_record_routing_proxy(sipp: str, serve, tmp_path: Path) -> None:
    uas_port, proxy_port = free_port(), free_port()
    with start_uas(sipp, tmp_path, uas_port) as uas:
        server = serve("--role", "proxy", "--listen", f"udp:127.0.0.1:{proxy_port}",
                       "--forward-to", f"sip:127.0.0.1:{uas_port}")
        stats = run_uac(sipp, tmp_path, proxy_port, UAC_RECORD_ROUTE)
        assert uas.wait(15) == 0, uas.failure()
    counters = server.stop()
    assert (stats.calls_ok, stats.calls_failed) == (CALLS, 0)
    invites = received_invites(uas)
    assert len(invites) >= CALLS
    assert all(f"Record-Route: <sip:127.0.0.1:{proxy_port};lr>" in m for m in invites)
    assert counters["proxy_requests_forwarded_ACK"] == CALLS
    assert counters["proxy_requests_forwarded_BYE"] == CALLS


def test_sipp_uac_through_b2bua_to_sipp_uas(sipp: str, serve, tmp_path: Path) -> None:
    uas_port, b2bua_port = free_port(), free_port()
    with start_uas(sipp, tmp_path, uas_port) as uas:
        server = serve("--role", "b2bua", "--listen", f"udp:127.0.0.1:{b2bua_port}",
                       "--forward-to", f"sip:127.0.0.1:{uas_port}")
        stats = run_uac(sipp, tmp_path, b2bua_port)
        assert uas.wait(15) == 0, uas.failure()
    counters = server.stop()
    assert (stats.calls_ok, stats.calls_failed) == (CALLS, 0)
    invites = received_invites(uas)
    call_ids = {line for m in invites for line in m.splitlines() if line.startswith("Call-ID:")}
    from_lines = [line for m in invites for line in m.splitlines() if line.startswith("From:")]
    assert len(call_ids) == CALLS  # one leg B per call, with the B2BUA's own Call-ID
    assert from_lines and not any("SIPpTag" in line for line in from_lines)  # and its own tags
    assert all(f"Via: SIP/2.0/UDP 127.0.0.1:{b2bua_port};branch=" in m for m in invites)
    assert (counters["b2bua_calls_in"], counters["b2bua_calls_answered"], counters["b2bua_calls_ended"]) == (
        CALLS, CALLS, CALLS)
    assert counters["b2bua_legs_created_agent"] == CALLS
    assert (counters["b2bua_calls_failed"], counters["b2bua_calls_bridged_now"], counters["errors"]) == (0, 0, 0)


def test_malformed_datagram_gets_400_and_server_keeps_serving(sipp: str, serve, tmp_path: Path) -> None:
    port = free_port()
    server = serve("--role", "uas", "--listen", f"udp:127.0.0.1:{port}")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        mine = sock.getsockname()[1]
        sock.sendto(
            (f"INVITE sip:uas@127.0.0.1:{port} SIP/2.0\r\n"
             f"Via: SIP/2.0/UDP 127.0.0.1:{mine};branch=z9hG4bKmalformed1\r\n"
             "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:uas@127.0.0.1>\r\n"
             "Call-ID: malformed-1\r\nCSeq: notanumber INVITE\r\n"
             "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode(),
            ("127.0.0.1", port),
        )
        reply, _ = sock.recvfrom(65535)
    assert reply.startswith(b"SIP/2.0 400 ")
    stats = run_uac(sipp, tmp_path, port)
    counters = server.stop()
    assert stats.calls_ok == CALLS
    assert counters["malformed_rejected"] == 1


def _invite(port: int, mine: int, n: int) -> bytes:
    return (f"INVITE sip:uas@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{mine};branch=z9hG4bKload{n}\r\n"
            f"From: <sip:a@127.0.0.1>;tag=f{n}\r\nTo: <sip:uas@127.0.0.1>\r\n"
            f"Call-ID: load-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:{mine}>\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


def test_beyond_max_transactions_new_invite_gets_503_retry_after(serve) -> None:
    port = free_port()
    server = serve("--role", "uas", "--listen", f"udp:127.0.0.1:{port}", "--max-transactions", "1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        mine = sock.getsockname()[1]
        sock.sendto(_invite(port, mine, 1), ("127.0.0.1", port))
        first = [sock.recvfrom(65535)[0] for _ in range(2)]  # 100, 200 (its IST stays live)
        sock.sendto(_invite(port, mine, 2), ("127.0.0.1", port))
        second = b""
        while b"Call-ID: load-2" not in second:  # skip 200 retransmissions of the first call
            second = sock.recvfrom(65535)[0]
    counters = server.stop()
    assert [r.split(b" ", 2)[1] for r in first] == [b"100", b"200"]
    assert second.startswith(b"SIP/2.0 503 ") and b"\r\nRetry-After: 5\r\n" in second
    assert counters["overload_rejected_503"] == 1


BUILTIN_CALLS = 20


def test_sipp_builtin_uac_and_uas_through_the_proxy(sipp: str, serve, tmp_path: Path) -> None:
    """SIPp's own ``-sn uac`` and ``-sn uas``: the uas echoes no Record-Route, so the uac sends
    ACK and BYE to its INVITE's Request-URI, the proxy's address, with no Route. The proxy
    routes them as it routed the INVITE (to --forward-to), never to itself: every call
    completes and each ACK crosses the proxy once (a loop would bring it back 70 times)."""
    uas_port, proxy_port = free_port(), free_port()
    uas_command = SippCommand(sipp, "uas", local_port=uas_port, calls=BUILTIN_CALLS, timeout_s=20)
    with Sipp.start(uas_command, tmp_path, what="SIPp uas") as uas:
        uas.wait_ready()
        server = serve("--role", "proxy", "--listen", f"udp:127.0.0.1:{proxy_port}",
                       "--forward-to", f"sip:127.0.0.1:{uas_port}")
        uac_command = SippCommand(sipp, "uac", remote=f"127.0.0.1:{proxy_port}", local_port=free_port(),
                                  calls=BUILTIN_CALLS, rate=10, timeout_s=20, timeout_error=True,
                                  stat_file=tmp_path / "uac_stat.csv", stat_period_s=60)
        with Sipp.start(uac_command, tmp_path, what="SIPp uac") as uac:
            assert uac.finish(30) == 0, uac.failure()
        stats = uac.stats()
        assert uas.wait(30) == 0, uas.failure()
    counters = server.stop()
    assert (stats.calls_ok, stats.calls_failed) == (BUILTIN_CALLS, 0)
    acks = counters["proxy_requests_received_ACK"]
    assert counters["proxy_requests_forwarded_ACK"] == acks
    assert BUILTIN_CALLS <= acks < 2 * BUILTIN_CALLS  # retransmitted 2xx aside, one ACK per call
    assert counters["proxy_requests_forwarded_BYE"] >= BUILTIN_CALLS
    assert counters["proxy_self_addressed"] == 0
    assert "proxy_generated_482" not in counters
