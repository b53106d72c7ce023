"""Our user agent against a real Kamailio (5.x) on loopback, over UDP and TLS.

One Kamailio process (``kamailio/proxy.cfg``: stateful, record-routing proxy
and in-memory registrar, tls module with a certificate made by the test)
serves every test of this module; each test starts our own elements with
``sizing serve`` and runs :mod:`sizing.net.agent` in-process.

What each test proves:

- ``test_calls_through_kamailio_over_udp``: our UAC's INVITE, ACK and BYE
  cross a real stateful proxy to our UAS and back; every call completes, our
  UAC builds its route set from Kamailio's Record-Route and sends ACK and BYE
  along it (Kamailio's ``loose_route`` accepts them), and the UAS saw every call.
- ``test_calls_to_kamailio_over_tls``: our TLS client completes a handshake
  with Kamailio's tls module (OpenSSL) at the version we force, 1.2 or 1.3,
  verifying Kamailio's certificate, and Kamailio reports the same version
  ($tls_version in its log); calls relayed TLS -> UDP complete, and the
  in-dialog requests follow Kamailio's double Record-Route back over TLS.
- ``test_register_with_kamailio_then_call_the_aor``: Kamailio's registrar
  accepts our REGISTER and returns our Contact in its 200; a call addressed to
  the AOR is routed by Kamailio's location lookup to the registered UA, which
  answers it (our UA as UAS behind a real proxy).
- ``test_register_with_our_registrar``: the same REGISTER accepted by our own
  ``sizing serve --role registrar``, which returns our Contact and the expiry.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_tool

from sizing.net.agent import AgentConfig, AgentRunner, CallPlan, run_calls
from sizing.net.tlsconfig import TlsConfig
from sizing.sip.headers import NameAddr

from .conftest import free_port
from .kamailio import Kamailio, self_signed_cert

pytestmark = pytest.mark.interop

CALLS = 20
RATE = 100.0
TIMEOUT_S = 15.0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = require_tool("openssl")
    return self_signed_cert(openssl, tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory, certificate: tuple[Path, Path]) -> Iterator[Kamailio]:
    binary = require_tool("kamailio")
    workdir = tmp_path_factory.mktemp("kamailio")
    cert, key = certificate
    proc = Kamailio(binary, workdir, free_port(), free_port(), cert, key)
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def run(coro):
    """Run one test coroutine with a hard bound on its time."""
    async def bounded():
        async with asyncio.timeout(TIMEOUT_S + 10):
            return await coro
    return asyncio.run(bounded())


def uas_on_udp(serve) -> tuple[object, int]:
    port = free_port()
    return serve("--role", "uas", "--listen", f"udp:127.0.0.1:{port}"), port


def test_calls_through_kamailio_over_udp(kamailio: Kamailio, serve) -> None:
    uas, port = uas_on_udp(serve)
    config = AgentConfig(outbound_proxy=f"sip:127.0.0.1:{kamailio.udp_port}")
    plan = CallPlan(f"sip:uas@127.0.0.1:{port}", calls=CALLS, rate=RATE, timeout_s=TIMEOUT_S)
    summary = run(run_calls(config, plan))
    counters = uas.stop()
    assert summary.completed == CALLS, summary.as_dict()
    assert summary.record_routed == CALLS
    route = NameAddr.parse(summary.calls[0].route_set[0]).uri
    assert (route.host, route.port, route.lr) == ("127.0.0.1", kamailio.udp_port, True)
    assert counters["calls"] == CALLS


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_calls_to_kamailio_over_tls(
    kamailio: Kamailio, serve, certificate: tuple[Path, Path], version: str
) -> None:
    cert, key = certificate
    _, port = uas_on_udp(serve)
    tls = TlsConfig(certfile=cert, keyfile=key, cafile=cert, min_version=version, max_version=version)
    config = AgentConfig(transport="tls", tls=tls,
                         outbound_proxy=f"sip:127.0.0.1:{kamailio.tls_port};transport=tls")
    plan = CallPlan(f"sip:uas@127.0.0.1:{port}", calls=CALLS, rate=RATE, timeout_s=TIMEOUT_S)
    log_start = len(kamailio.log())
    summary = run(run_calls(config, plan))
    assert summary.completed == CALLS, summary.as_dict()
    kamailio_saw = set(re.findall(r"sizing-tls: (\S+) from", kamailio.log()[log_start:]))
    assert summary.tls_versions == {f"TLSv{version}": 1}
    assert kamailio_saw == {f"TLSv{version}"}
    routes = [NameAddr.parse(r).uri for r in summary.calls[0].route_set]
    assert [(r.port, r.transport) for r in routes] == [(kamailio.tls_port, "tls"), (kamailio.udp_port, None)]


def test_register_with_kamailio_then_call_the_aor(kamailio: Kamailio) -> None:
    proxy = f"sip:127.0.0.1:{kamailio.udp_port}"
    aor = f"sip:alice@127.0.0.1:{kamailio.udp_port}"

    async def scenario():
        alice = await AgentRunner.open(AgentConfig(user="alice"))
        async with alice:
            registered = await alice.register(proxy, aor=aor, expires=120)
            plan = CallPlan(aor, calls=5, rate=RATE, timeout_s=TIMEOUT_S)
            summary = await run_calls(AgentConfig(user="bob", outbound_proxy=proxy), plan)
            return registered, alice.ua.contact, summary, len(alice.incoming)

    registered, contact, summary, received = run(scenario())
    assert registered.status == 200
    assert any(NameAddr.parse(c).uri.equivalent(contact) for c in registered.contacts), registered
    assert summary.completed == 5, summary.as_dict()
    assert received == 5


def test_register_with_our_registrar(serve) -> None:
    port = free_port()
    registrar = serve("--role", "registrar", "--listen", f"udp:127.0.0.1:{port}")

    async def scenario():
        async with await AgentRunner.open(AgentConfig(user="alice")) as alice:
            outcome = await alice.register(f"sip:127.0.0.1:{port}", aor="sip:alice@example.com", expires=300)
            return outcome, alice.ua.contact

    outcome, contact = run(scenario())
    registrar.stop()
    assert (outcome.status, outcome.granted) == (200, 300)
    assert [NameAddr.parse(c).uri.equivalent(contact) for c in outcome.contacts] == [True]
