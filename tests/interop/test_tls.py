"""Our UAC (sizing.net.agent) -> our UAS (`sizing serve --role uas --listen tls:...`) over TLS 1.2 and 1.3.

The client forces the version (min = max); the server allows both, so the
handshake proves the version is the client's choice, and every call's INVITE,
ACK and BYE share the one verified TLS connection.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import require_tool

from sizing.net.agent import AgentConfig, CallPlan, run_calls
from sizing.net.tlsconfig import TlsConfig

from .conftest import free_port
from .kamailio import self_signed_cert

pytestmark = pytest.mark.interop

CALLS = 20


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(require_tool("openssl"), tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_calls_over_tls_to_our_uas(serve, certificate: tuple[Path, Path], version: str) -> None:
    cert, key = certificate
    port = free_port()
    uas = serve("--role", "uas", "--listen", f"tls:127.0.0.1:{port}", "--cert", str(cert), "--key", str(key))
    tls = TlsConfig(certfile=cert, keyfile=key, cafile=cert, min_version=version, max_version=version)
    plan = CallPlan(f"sip:uas@127.0.0.1:{port};transport=tls", calls=CALLS, rate=200.0, timeout_s=10.0)

    async def bounded():
        async with asyncio.timeout(20):
            return await run_calls(AgentConfig(transport="tls", tls=tls), plan)

    summary = asyncio.run(bounded())
    counters = uas.stop()
    assert summary.completed == CALLS, summary.as_dict()
    assert summary.tls_versions == {f"TLSv{version}": 1}
    assert (summary.transport["connections_out"], summary.transport["handshakes_full"]) == (1, 1)
    assert (counters["calls"], counters["transport_handshakes_full"]) == (CALLS, 1)
