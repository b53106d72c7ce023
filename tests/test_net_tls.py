"""TLS transport of the network driver: versions, verification, mutual TLS, resumption.

Certificates are generated per test session with the ``openssl`` command
(self-signed EC P-256, valid for localhost and 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from test_net_transport import HOST, Sink, options, run, until

from sizing.net import StreamTransport, TlsConfig, TlsConfigError, TransportLimits
from sizing.sip.message import parse


def _self_signed(openssl: str, directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    openssl = require_tool("openssl")
    directory = tmp_path_factory.mktemp("tls")
    server_cert, server_key = _self_signed(openssl, directory, "server")
    client_cert, client_key = _self_signed(openssl, directory, "client")
    return {
        "server_cert": server_cert,
        "server_key": server_key,
        "client_cert": client_cert,
        "client_key": client_key,
    }


def server_config(certs: dict[str, Path], **options: object) -> TlsConfig:
    return TlsConfig(certfile=certs["server_cert"], keyfile=certs["server_key"], **options)


def client_config(certs: dict[str, Path], **options: object) -> TlsConfig:
    """A client trusting the test server's self-signed certificate."""
    return TlsConfig(cafile=certs["server_cert"], **options)


async def endpoints(
    server_tls: TlsConfig, client_tls: TlsConfig
) -> tuple[StreamTransport, Sink, StreamTransport, Sink]:
    server_sink, client_sink = Sink(), Sink()
    limits = TransportLimits(handshake_timeout=2.0)
    server = await StreamTransport.open(
        HOST, 0, server_sink.on_message, server_sink.on_error, tls=server_tls, limits=limits
    )
    client = await StreamTransport.open(
        HOST, 0, client_sink.on_message, client_sink.on_error, tls=client_tls, listen=False
    )
    return server, server_sink, client, client_sink


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_tls_round_trip_with_each_version(certs: dict[str, Path], version: str) -> None:
    async def main() -> None:
        server, server_sink, client, client_sink = await endpoints(
            server_config(certs), client_config(certs, min_version=version, max_version=version)
        )
        assert server.local is not None
        client.send(options(1), server.local)
        await until(lambda: bool(server_sink.messages))
        data, source, connection = server_sink.messages[0]
        server.send(parse(data).create_response(200).encode(), source)
        await until(lambda: bool(client_sink.messages))
        assert parse(client_sink.messages[0][0]).status == 200
        assert connection.ssl_object.version() == f"TLSv{version}"
        assert source.transport == "TLS"
        await client.aclose()
        await server.aclose()

    run(main)


def test_tls_client_below_server_minimum_fails(certs: dict[str, Path]) -> None:
    async def main() -> None:
        server, server_sink, client, client_sink = await endpoints(
            server_config(certs, min_version="1.3"), client_config(certs, max_version="1.2")
        )
        assert server.local is not None
        client.send(options(1), server.local)
        await until(lambda: bool(client_sink.errors) and server.counters.handshake_failures == 1)
        assert "TLS handshake" in str(client_sink.errors[0][1])
        assert server_sink.messages == []
        assert client.counters.handshake_failures == 1
        await client.aclose()
        await server.aclose()

    run(main)


def test_tls_client_verifies_server_by_default(certs: dict[str, Path]) -> None:
    async def main() -> None:
        # verify_server is left at its default; the client trusts another CA only
        trusts_other = TlsConfig(cafile=certs["client_cert"])
        server, server_sink, client, client_sink = await endpoints(server_config(certs), trusts_other)
        assert server.local is not None
        client.send(options(1), server.local)
        await until(lambda: bool(client_sink.errors))
        assert "CERTIFICATE_VERIFY_FAILED" in str(client_sink.errors[0][1])
        assert server_sink.messages == []
        await client.aclose()
        await server.aclose()

    run(main)


def test_tls_verification_opt_out_accepts_self_signed_peer(certs: dict[str, Path]) -> None:
    async def main() -> None:
        server, server_sink, client, _ = await endpoints(
            server_config(certs), TlsConfig(verify_server=False)
        )
        assert server.local is not None
        client.send(options(1), server.local)
        await until(lambda: bool(server_sink.messages))
        await client.aclose()
        await server.aclose()

    run(main)


def test_mutual_tls_accepts_trusted_client_certificate(certs: dict[str, Path]) -> None:
    async def main() -> None:
        server, server_sink, client, _ = await endpoints(
            server_config(certs, verify_client=True, cafile=certs["client_cert"]),
            client_config(certs, certfile=certs["client_cert"], keyfile=certs["client_key"]),
        )
        assert server.local is not None
        client.send(options(1), server.local)
        await until(lambda: bool(server_sink.messages))
        peer = server_sink.messages[0][2].ssl_object.getpeercert()
        assert dict(item[0] for item in peer["subject"])["commonName"] == "client"
        await client.aclose()
        await server.aclose()

    run(main)


def test_mutual_tls_refuses_client_without_certificate(certs: dict[str, Path]) -> None:
    async def main() -> None:
        server, server_sink, client, client_sink = await endpoints(
            server_config(certs, verify_client=True, cafile=certs["client_cert"]),
            client_config(certs),
        )
        assert server.local is not None
        client.send(options(1), server.local)
        await until(lambda: server.counters.handshake_failures == 1 and bool(client_sink.errors))
        assert server_sink.messages == []
        assert server.connections == {}
        await client.aclose()
        await server.aclose()

    run(main)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_tls_second_connection_resumes_session(certs: dict[str, Path], version: str) -> None:
    async def main() -> None:
        server, server_sink, client, _ = await endpoints(
            server_config(certs), client_config(certs, min_version=version, max_version=version)
        )
        assert server.local is not None
        client.send(options(1), server.local)
        await until(lambda: bool(server_sink.messages))
        first = next(iter(client.connections.values()))
        await asyncio.sleep(0.02)  # TLS 1.3: let the session ticket arrive
        first.close()
        await first.wait_closed()
        client.send(options(2), server.local)
        await until(lambda: len(server_sink.messages) == 2)
        second = next(iter(client.connections.values()))
        assert second is not first and (first.tls_resumed, second.tls_resumed) == (False, True)
        assert (client.counters.handshakes_full, client.counters.handshakes_resumed) == (1, 1)
        assert server.counters.handshakes_resumed == 1
        await client.aclose()
        await server.aclose()

    run(main)


def test_tls_config_names_missing_certificate_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.crt"
    with pytest.raises(TlsConfigError, match="certfile .*nope.crt.* does not exist"):
        TlsConfig(certfile=missing).server_context()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_version": "1.1"}, "min_version '1.1' is not supported"),
        ({"max_version": "2"}, "max_version '2' is not supported"),
        ({"min_version": "1.3", "max_version": "1.2"}, "above max_version"),
    ],
)
def test_tls_config_rejects_bad_versions(options: dict[str, str], message: str) -> None:
    with pytest.raises(TlsConfigError, match=message):
        TlsConfig(verify_server=False, **options).client_context()


def test_tls_listener_without_certificate_is_refused() -> None:
    with pytest.raises(TlsConfigError, match="needs certfile"):
        TlsConfig(verify_server=False).server_context()


def test_mutual_tls_without_cafile_is_refused(certs: dict[str, Path]) -> None:
    with pytest.raises(TlsConfigError, match="verify_client .* needs cafile"):
        server_config(certs, verify_client=True).server_context()
