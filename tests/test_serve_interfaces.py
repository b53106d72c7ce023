"""`sizing serve` on several transports at once: an edge proxy or B2BUA taking a call over
TLS and passing it on over UDP, on real sockets with the engine at both ends (RFC 5658
double Record-Route); uas and registrar answering on each; the command-line errors."""

from __future__ import annotations

import asyncio
import shlex
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from sizing.cli.main import main
from sizing.net.agent import AgentConfig, AgentRunner, CallPlan
from sizing.net.overload import OverloadConfig
from sizing.net.server import ServeConfig, ServeError, Server
from sizing.net.tlsconfig import TlsConfig
from sizing.sip.interfaces import Address
from sizing.sip.message import Request
from sizing.sip.ua import CallState
from sizing.sip.uri import URI


def _free_port(transport: str) -> int:
    """A port free right now on 127.0.0.1 for ``transport`` (the bound Address needs a real one)."""
    kind = socket.SOCK_DGRAM if transport == "UDP" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _local(transport: str) -> Address:
    return Address(transport, "127.0.0.1", _free_port(transport))


def run(coro, limit: float = 4.0):  # type: ignore[no-untyped-def]
    async def bounded():  # type: ignore[no-untyped-def]
        async with asyncio.timeout(limit):
            return await coro

    return asyncio.run(bounded())


async def _until(condition: Callable[[], object], timeout_s: float = 2.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


def _quiet(line: str) -> None:
    """Server output is not what these tests look at."""


async def _uas_recording_invites() -> tuple[Server, list[Request]]:
    """A UDP UAS (the serve code) on an ephemeral port and the INVITEs its calls began with."""
    uas = await Server.start(
        ServeConfig(role="uas", listen=_local("UDP"), max_dialog_age=0, overload=_no_overload()),
        _quiet,
    )
    invites: list[Request] = []
    assert uas.element is not None
    uas.element.on_call = lambda call: invites.append(call.server_txn.request)  # type: ignore[union-attr]
    return uas, invites


def _edge(role: str, uas: Server, certificate: tuple[Path, Path]) -> ServeConfig:
    """An edge element: TLS main address towards the caller, UDP inside towards the UAS."""
    cert, key = certificate
    return ServeConfig(
        role=role,
        listen=_local("TLS"),
        also_listen=(_local("UDP"),),
        tls=TlsConfig(certfile=cert, keyfile=key),
        forward_to=f"sip:uas@127.0.0.1:{uas.local.port};transport=udp",
        overload=_no_overload(),
        seed=7,
    )


def _no_overload() -> OverloadConfig:
    """No lag probes: they would count among the UDP socket's messages."""
    return OverloadConfig(mode="off")


def _tls_caller(edge: Server, certificate: tuple[Path, Path]) -> AgentConfig:
    cert, key = certificate
    tls_port = edge.address_of("tls").port
    return AgentConfig(
        "tls",
        tls=TlsConfig(certfile=cert, keyfile=key, cafile=cert),
        user="alice",
        outbound_proxy=f"sip:127.0.0.1:{tls_port};transport=tls",
        seed=3,
    )


async def _proxied_call(certificate: tuple[Path, Path]):  # type: ignore[no-untyped-def]
    """One call TLS caller -> proxy (TLS + UDP) -> UDP UAS, hung up by the caller."""
    uas, invites = await _uas_recording_invites()
    proxy = await Server.start(_edge("proxy", uas, certificate), _quiet)
    try:
        async with await AgentRunner.open(_tls_caller(proxy, certificate)) as caller:
            call = caller.ua.invite(URI.parse(f"sip:uas@127.0.0.1:{uas.local.port}"))
            await _until(lambda: call.state is CallState.CONFIRMED)
            bye = caller.ua.bye(call)
            await _until(lambda: bye.response is not None)
            await _until(lambda: uas.element.stats.calls_ended == 1)  # type: ignore[union-attr]
            return call, bye.status, invites, proxy.counters(), uas.counters(), proxy, uas
    finally:
        await proxy.aclose()
        await uas.aclose()


def test_a_tls_call_through_the_proxy_leaves_inside_over_udp_double_record_routed(
    certificate: tuple[Path, Path],
) -> None:
    call, bye_status, invites, proxy_counters, uas_counters, proxy, uas = run(
        _proxied_call(certificate)
    )
    tls, udp = proxy.address_of("tls"), proxy.address_of("udp")
    assert (call.status, bye_status) == (200, 200)
    [invite] = invites
    # RFC 5658: outbound (UDP) interface on top, inbound (TLS) interface below it
    assert invite.headers.get_lines("Record-Route") == [
        f"<sip:127.0.0.1:{udp.port};lr>",
        f"<sip:127.0.0.1:{tls.port};transport=tls;lr>",
    ]
    vias = [str(via) for via in invite.via]
    assert vias[0].startswith(f"SIP/2.0/UDP 127.0.0.1:{udp.port};")
    assert vias[1].startswith("SIP/2.0/TLS 127.0.0.1:")
    # the caller's route set holds both halves, TLS first: ACK and BYE come back through them
    assert [str(route) for route in call.dialog.route_set] == [
        f"<sip:127.0.0.1:{tls.port};transport=tls;lr>",
        f"<sip:127.0.0.1:{udp.port};lr>",
    ]
    forwarded = proxy.element.stats.requests_forwarded  # type: ignore[union-attr]
    assert (forwarded["INVITE"], forwarded["ACK"], forwarded["BYE"]) == (1, 1, 1)
    # the TLS side carried INVITE, ACK, BYE in and 100, 200, 200 out; all the proxy sent
    # by UDP (INVITE, ACK, BYE, any retransmission) is what the UAS received
    assert proxy_counters["interface_tls_messages_in"] == 3
    assert proxy_counters["interface_tls_messages_out"] == 3
    assert proxy_counters["interface_udp_messages_out"] >= 3
    assert uas_counters["transport_messages_in"] == proxy_counters["interface_udp_messages_out"]
    assert uas_counters["uas_calls_ended"] == 1
    assert proxy_counters["errors"] == uas_counters["errors"] == 0


async def _bridged_call(certificate: tuple[Path, Path]):  # type: ignore[no-untyped-def]
    """One call TLS caller -> B2BUA (TLS + UDP) -> UDP UAS, hung up by the caller."""
    uas, invites = await _uas_recording_invites()
    b2bua = await Server.start(_edge("b2bua", uas, certificate), _quiet)
    try:
        async with await AgentRunner.open(_tls_caller(b2bua, certificate)) as caller:
            tls_port = b2bua.address_of("tls").port
            call = caller.ua.invite(URI.parse(f"sip:sales@127.0.0.1:{tls_port};transport=tls"))
            await _until(lambda: call.state is CallState.CONFIRMED)
            bye = caller.ua.bye(call)
            await _until(lambda: bye.response is not None)
            await _until(lambda: uas.element.stats.calls_ended == 1)  # type: ignore[union-attr]
            return call, bye.status, invites, b2bua.counters(), b2bua
    finally:
        await b2bua.aclose()
        await uas.aclose()


def test_a_tls_call_through_the_b2bua_places_leg_b_from_the_udp_interface(
    certificate: tuple[Path, Path],
) -> None:
    call, bye_status, invites, counters, b2bua = run(_bridged_call(certificate))
    tls, udp = b2bua.address_of("tls"), b2bua.address_of("udp")
    assert (call.status, bye_status) == (200, 200)
    [invite] = invites
    assert str(invite.top_via).startswith(f"SIP/2.0/UDP 127.0.0.1:{udp.port};")
    [contact] = invite.contact
    assert (contact.uri.port, contact.uri.transport) == (udp.port, None)  # leg B: UDP Contact
    assert "Record-Route" not in invite.headers
    # leg A's dialog ends at the B2BUA's TLS interface: its Contact, no route set
    assert (
        call.dialog.remote_target.port == tls.port and call.dialog.remote_target.transport == "tls"
    )
    assert counters["b2bua_calls_ended"] == 1 and counters["b2bua_calls_bridged_now"] == 0
    assert counters["interface_udp_messages_out"] >= 3  # INVITE, ACK, BYE of leg B
    assert counters["interface_tls_messages_in"] == 3  # INVITE, ACK, BYE of leg A
    assert counters["interface_tls_messages_out"] == 3  # 100, 200, 200 of leg A
    assert counters["errors"] == 0


async def _calls_to_each_interface() -> tuple[dict[str, int], dict[str, int]]:
    """A UAS on UDP and TCP; one call from a caller of each transport to its address."""
    uas = await Server.start(
        ServeConfig(
            role="uas", listen=_local("UDP"), also_listen=(_local("TCP"),), overload=_no_overload()
        ),
        _quiet,
    )
    try:
        completed = {}
        for transport in ("udp", "tcp"):
            local = uas.address_of(transport)
            params = "" if transport == "udp" else ";transport=tcp"
            async with await AgentRunner.open(
                AgentConfig(transport, user=f"from-{transport}")
            ) as caller:
                summary = await caller.place_calls(
                    CallPlan(f"sip:uas@127.0.0.1:{local.port}{params}", timeout_s=2.0)
                )
            completed[transport] = summary.completed
        return completed, uas.counters()
    finally:
        await uas.aclose()


def test_a_uas_answers_on_each_of_its_transports() -> None:
    completed, counters = run(_calls_to_each_interface())
    assert completed == {"udp": 1, "tcp": 1}
    assert counters["uas_calls_ended"] == 2
    # each call stayed on its socket: INVITE, ACK, BYE in, 100, 200, 200 out (UDP: or more)
    assert counters["interface_tcp_messages_in"] == counters["interface_tcp_messages_out"] == 3
    assert (
        counters["interface_udp_messages_in"] >= 3 and counters["interface_udp_messages_out"] >= 3
    )
    assert counters["transport_connections_in"] == 1 and counters["transport_connections_out"] == 0


async def _register_on_each_interface() -> tuple[list[int | None], dict[str, int]]:
    registrar = await Server.start(
        ServeConfig(
            role="registrar",
            listen=_local("TCP"),
            also_listen=(_local("UDP"),),
            overload=_no_overload(),
        ),
        _quiet,
    )
    try:
        statuses = []
        for transport in ("udp", "tcp"):
            port = registrar.address_of(transport).port
            async with await AgentRunner.open(AgentConfig(transport, user=transport)) as agent:
                outcome = await agent.register(
                    f"sip:127.0.0.1:{port};transport={transport}",
                    aor=f"sip:{transport}@example.com",
                    timeout_s=2.0,
                )
            statuses.append(outcome.status)
        return statuses, registrar.counters()
    finally:
        await registrar.aclose()


def test_a_registrar_answers_on_each_of_its_transports() -> None:
    statuses, counters = run(_register_on_each_interface())
    assert statuses == [200, 200]
    assert counters["interface_udp_messages_in"] == counters["interface_udp_messages_out"] == 1
    assert counters["interface_tcp_messages_in"] == counters["interface_tcp_messages_out"] == 1
    assert counters["live_bindings"] == 2


# -- settings ------------------------------------------------------------------------------------


def test_two_listen_addresses_on_one_transport_are_refused_naming_both() -> None:
    with pytest.raises(
        ServeError,
        match=r"--listen udp:127\.0\.0\.1:5060 and --listen "
        r"udp:127\.0\.0\.1:5062 both use UDP",
    ):
        ServeConfig(
            role="uas",
            listen=Address("UDP", "127.0.0.1", 5060),
            also_listen=(Address("TCP", "127.0.0.1", 5060), Address("UDP", "127.0.0.1", 5062)),
        )


def test_the_forward_target_must_be_on_a_listening_transport() -> None:
    two = {
        "listen": Address("TCP", "127.0.0.1", 5060),
        "also_listen": (Address("UDP", "127.0.0.1", 5060),),
    }
    # no transport parameter with several interfaces means UDP (RFC 3263 §4.1)
    assert ServeConfig(
        role="proxy", forward_to="sip:127.0.0.1:5090", **two
    ).forward_hop() == Address("UDP", "127.0.0.1", 5090)
    tcp = ServeConfig(role="proxy", forward_to="sip:127.0.0.1:5090;transport=tcp", **two)
    assert tcp.forward_hop().transport == "TCP"
    with pytest.raises(ServeError, match="uses TLS but the server listens on TCP, UDP"):
        ServeConfig(role="b2bua", forward_to="sip:127.0.0.1:5090;transport=tls", **two)
    with pytest.raises(ServeError, match="uses UDP but the server listens on TCP, TLS"):
        ServeConfig(
            role="proxy",
            forward_to="sip:127.0.0.1:5090",
            listen=Address("TCP", "127.0.0.1", 5060),
            also_listen=(Address("TLS", "127.0.0.1", 5061),),
            tls=TlsConfig("c.pem", "k.pem"),
        )


def test_a_second_tls_or_wildcard_listen_address_is_checked_like_the_first() -> None:
    with pytest.raises(
        ServeError, match=r"--listen tls:127\.0\.0\.1:5061: TLS needs --cert and --key"
    ):
        ServeConfig(
            role="uas",
            listen=Address("UDP", "127.0.0.1", 5060),
            also_listen=(Address("TLS", "127.0.0.1", 5061),),
        )
    with pytest.raises(
        ServeError, match=r"--listen tcp:0\.0\.0\.0:5060: listen on a specific address"
    ):
        ServeConfig(
            role="uas",
            listen=Address("UDP", "127.0.0.1", 5060),
            also_listen=(Address("TCP", "0.0.0.0", 5060),),
        )


async def _start_with_a_busy_second_address() -> tuple[str, Address]:
    first = _local("UDP")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = Address("TCP", "127.0.0.1", busy.getsockname()[1])
        with pytest.raises(ServeError) as error:
            await Server.start(ServeConfig(role="uas", listen=first, also_listen=(taken,)), _quiet)
    # the first socket was closed again: its port can be bound at once
    again = await Server.start(
        ServeConfig(role="uas", listen=first, overload=_no_overload()), _quiet
    )
    await again.aclose()
    return str(error.value), taken


def test_a_busy_second_address_names_itself_and_closes_the_first() -> None:
    message, taken = run(_start_with_a_busy_second_address())
    assert message.startswith(f"cannot listen on {taken}: ")


# -- the command line ----------------------------------------------------------------------------


def test_cli_refuses_two_listen_addresses_on_one_transport(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        shlex.split(
            "serve --role proxy --listen udp:127.0.0.1:5060 --listen udp:127.0.0.1:5062 "
            "--forward-to sip:127.0.0.1:5090"
        )
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(
        "sizing: error: --listen udp:127.0.0.1:5060 and --listen udp:127.0.0.1:5062 both use UDP"
    )


def test_cli_names_a_bad_second_listen_value(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        shlex.split(
            "serve --role proxy --listen tls:127.0.0.1:5061 --listen udp:127.0.0.1:99999 "
            "--forward-to sip:127.0.0.1:5090"
        )
    )
    err = capsys.readouterr().err
    assert code == 2
    expected = "--listen: address 'udp:127.0.0.1:99999': port 99999 is outside 1-65535"
    assert err == f"sizing: error: {expected}\n"
