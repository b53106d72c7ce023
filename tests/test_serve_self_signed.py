"""``sizing serve --self-signed``: a throwaway certificate for the tls: listen address,
good for a verified handshake while the server runs and deleted when it stops."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sizing.cli.main import main
from sizing.net.selfsigned import names_for, self_signed

HANG_GUARD_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_names_cover_the_listening_hosts() -> None:
    assert names_for(["127.0.0.1", "sip.example.com", "127.0.0.1"]) == ["127.0.0.1", "sip.example.com"]
    assert names_for(["0.0.0.0"])[0] == "127.0.0.1"
    assert names_for(["[::1]"]) == ["::1"]


def test_the_certificate_is_trusted_for_its_address(tmp_path: Path) -> None:
    cert, key = self_signed(["127.0.0.1"], tmp_path)
    context = ssl.create_default_context(cafile=str(cert))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)  # the key matches the certificate
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert oct(key.stat().st_mode & 0o777) == oct(0o600)


def test_serve_self_signed_accepts_a_verified_tls_handshake() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sizing.cli", "serve", "--role", "uas", "--self-signed",
         "--listen", f"tls:127.0.0.1:{port}", "--duration", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        said = proc.stderr.readline()  # the certificate is made before the server listens
        assert "self-signed certificate for 127.0.0.1 in " in said, said
        cert = Path(said.split(" in ", 1)[1].split(" (deleted", 1)[0])
        deadline = time.monotonic() + HANG_GUARD_S
        line = proc.stdout.readline()
        while "listening on" not in line and time.monotonic() < deadline and line:
            line = proc.stdout.readline()
        assert "listening on tls:127.0.0.1" in line
        context = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD_S) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        proc.terminate()
        proc.wait(timeout=HANG_GUARD_S)
    assert not cert.exists() and not cert.parent.exists()


@pytest.mark.parametrize("args, said", [
    (["--listen", "udp:127.0.0.1:5999", "--self-signed"], "no tls: --listen address"),
    (["--listen", "tls:127.0.0.1:5999", "--self-signed", "--cert", "c.pem", "--key", "k.pem"],
     "not both"),
])
def test_self_signed_refuses_what_it_cannot_serve(capsys, args: list[str], said: str) -> None:
    assert main(["serve", "--role", "uas", *args]) == 2
    assert said in capsys.readouterr().err
