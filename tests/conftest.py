"""Shared fixtures: test data location and external tools that must exist in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import settings

from sizing.sip.interfaces import Address, TimerConfig
from sizing.sip.loopback import LoopbackNetwork
from sizing.sip.sdp import Capabilities
from sizing.sip.ua import UserAgent

DATA = Path(__file__).parent / "data"
CAPS = Capabilities(codecs=["PCMU"])
"""Media of the test user agents: one codec, so SDP offers and answers are short and fixed."""
TIMERS = TimerConfig(trying_delay=None)
"""Timers of the test user agents: no delayed 100 Trying, so exchanges are easy to count."""
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

settings.register_profile("ci", derandomize=True, print_blob=True)
if IN_CI:
    # CI explores the same examples on every run, so a landing never depends on a
    # lucky draw; local runs stay random and keep finding new cases.
    settings.load_profile("ci")


def require_tool(name: str) -> str:
    """Path of an external program; a missing one fails in CI and skips elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (scripts/system-deps.sh installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed EC certificate and key for 127.0.0.1 (made with openssl)."""
    openssl = require_tool("openssl")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


def loopback_ua(network: LoopbackNetwork, address: Address, user: str, seed: int, **options) -> UserAgent:
    """A user agent with the test timers and media on ``network`` (its clock), connected;
    ``options`` go to :class:`UserAgent` (session_timer, policy, media_port, ...)."""
    ua = UserAgent(network.clock, address, user=user, config=TIMERS, seed=seed, capabilities=CAPS, **options)
    ua.connect(network)
    return ua
