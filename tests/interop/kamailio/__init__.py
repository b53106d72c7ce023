"""Kamailio for the interop tests: a foreground process on loopback ports, and test certificates.

``proxy.cfg`` beside this file is the configuration; listen addresses come
from ``-l`` and the TLS certificate from ``-A`` defines, so nothing is
templated. The process runs with ``-DD -E`` (foreground, log to stderr, kept
in a file of the test's temporary directory) and its runtime directory there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

CONFIG = Path(__file__).with_name("proxy.cfg")


def self_signed_cert(openssl: str, directory: Path, name: str = "127.0.0.1") -> tuple[Path, Path]:
    """A fresh self-signed certificate and key (PEM) for ``name``, made with ``openssl``."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", f"/CN={name}", "-addext", f"subjectAltName=IP:{name}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


def options_probe(host: str, port: int) -> bytes:
    """An OPTIONS request a readiness probe sends over UDP (any answer means ready)."""
    branch = f"z9hG4bK{uuid.uuid4().hex}"
    return (
        f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:9;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{host}>;tag={uuid.uuid4().hex[:8]}\r\n"
        f"To: <sip:{host}:{port}>\r\n"
        f"Call-ID: {uuid.uuid4().hex}@{host}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class Kamailio:
    """Kamailio listening on ``udp_port`` and ``tls_port`` of 127.0.0.1; :meth:`stop` ends it."""

    def __init__(self, binary: str, workdir: Path, udp_port: int, tls_port: int,
                 cert: Path, key: Path) -> None:
        self.host = "127.0.0.1"
        self.udp_port = udp_port
        self.tls_port = tls_port
        self.log_path = workdir / "kamailio.log"
        rundir = workdir / "run"
        rundir.mkdir(exist_ok=True)
        command = [
            binary, "-f", str(CONFIG), "-DD", "-E", "-Y", str(rundir), "-P", str(rundir / "kamailio.pid"),
            "-m", "64", "-M", "8",
            "-l", f"udp:{self.host}:{udp_port}", "-l", f"tls:{self.host}:{tls_port}",
            "-A", f'TLS_CERT="{cert}"', "-A", f'TLS_KEY="{key}"',
        ]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=workdir, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the UDP socket answers an OPTIONS and the TLS port accepts connections."""
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((self.host, 0))
            udp.settimeout(0.2)
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(f"kamailio exited {self.proc.returncode}:\n{self.log()[-3000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"kamailio did not answer within {timeout} s:\n{self.log()[-3000:]}")
                udp.sendto(options_probe(self.host, self.udp_port), (self.host, self.udp_port))
                try:
                    if udp.recv(65535).startswith(b"SIP/2.0 "):
                        break
                except TimeoutError:
                    continue
        with socket.create_connection((self.host, self.tls_port), timeout=max(0.1, deadline - time.monotonic())):
            pass

    def stop(self, timeout: float = 10.0) -> str:
        """SIGTERM, wait (then kill the process group), and return the log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()
        return self.log()
