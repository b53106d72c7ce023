"""`sizing load`: options checked, calls and messages counted (its CPU load on a server is
compared with SIPp's in tests/interop/test_holdout.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sizing.cli.load import add_load_command
from sizing.measure.loadgen import LoadConfig, LoadError, run_load_async
from sizing.net.agent import AgentConfig, AgentRunner
from sizing.net.tlsconfig import TlsConfig
from sizing.sip.interfaces import Address

TARGET = Address("UDP", "127.0.0.1", 5070)


def test_bad_options_name_the_option() -> None:
    with pytest.raises(LoadError, match="--flow: unknown flow 'hold'"):
        LoadConfig(target=TARGET, rate=10, duration_s=1, flow="hold")
    with pytest.raises(LoadError, match="--rate: must be a positive"):
        LoadConfig(target=TARGET, rate=0, duration_s=1)
    with pytest.raises(LoadError, match="--cafile, --insecure, --tls-version and --cert are for tls"):
        LoadConfig(target=TARGET, rate=1, duration_s=1, insecure=True)


def test_calls_and_messages_are_counted_against_a_uas() -> None:
    async def scenario():
        async with await AgentRunner.open(AgentConfig(user="uas")) as uas:
            config = LoadConfig(target=uas.local, rate=50, duration_s=0.2)
            return await run_load_async(config)

    summary = asyncio.run(scenario())
    assert (summary.attempted, summary.ok, summary.calls_failed) == (10, 10, 0)
    assert dict(summary.tally.sent) == {"INVITE": 10, "ACK": 10, "BYE": 10}
    assert summary.tally.received["2xx"] == 20 and summary.response_time_ms(0.95) > 0


def test_cli_unreachable_flow_is_one_line_and_status_2() -> None:
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so "load" is a sub-command as in `sizing`
    add_load_command(app)
    result = CliRunner().invoke(app, ["load", "--target", "udp:127.0.0.1:5070", "--rate", "5",
                                      "--duration", "1", "--flow", "subscribe"])
    assert result.exit_code == 2 and "--flow: unknown flow 'subscribe'" in result.output


def test_per_call_connections_need_a_connection_transport() -> None:
    with pytest.raises(LoadError, match="--connections per-call needs a tcp: or tls: target"):
        LoadConfig(target=TARGET, rate=1, duration_s=1, connections="per-call")
    with pytest.raises(LoadError, match="--connections: 'pooled' is not one of shared, per-call"):
        LoadConfig(target=Address("TCP", "127.0.0.1", 5070), rate=1, duration_s=1, connections="pooled")



@pytest.mark.parametrize(("flow", "connections", "full"), [
    ("basic-call", "shared", 1), ("basic-call", "per-call", 6), ("options", "per-call", 6)])
def test_tls_handshakes_follow_the_connection_mode(certificate: tuple[Path, Path], flow: str,
                                                   connections: str, full: int) -> None:
    """Shared: one handshake for every call; per-call: one full handshake per call, each call
    from its own local port (a phone that does not keep its connection)."""
    cert, key = certificate
    tls = TlsConfig(certfile=cert, keyfile=key, cafile=cert)

    async def scenario():
        async with await AgentRunner.open(AgentConfig(transport="tls", user="uas", tls=tls)) as uas:
            config = LoadConfig(target=uas.local, rate=60, duration_s=0.1, flow=flow, cafile=cert,
                                certfile=cert, keyfile=key, connections=connections)
            return await run_load_async(config)

    summary = asyncio.run(scenario())
    assert (summary.attempted, summary.ok, summary.calls_failed) == (6, 6, 0)
    assert summary.handshakes == {"full": full, "resumed": 0}
    sent = "INVITE" if flow == "basic-call" else "OPTIONS"
    assert summary.tally.sent[sent] == 6
    assert summary.as_dict()["tls_handshakes_full"] == full
