"""A real softphone (Debian's baresip) against `sizing serve`: REGISTER, calls over UDP and
TLS with and without SDES-SRTP, 488 when SRTP is required and not offered, a blind
transfer with REFER.

The servers run in this process (a thread with its own event loop), so the test reads
every message they received and sent on the wire. baresip runs with no sound card
(its ``aubridge`` module is both source and player) and is driven through its stdin
(``/dial``, ``/transfer``, ``/hangup``, ``/quit``).

baresip 1.0.0 (Debian 12) offers exactly one ``a=crypto`` line, always
AES_CM_128_HMAC_SHA1_80, and cannot be told to offer another suite; the
AES_CM_128_HMAC_SHA1_32 case sends baresip's own offer with the suite changed, from a
plain socket.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import require_tool

from sizing.net.address import parse_address
from sizing.net.server import ServeConfig, Server
from sizing.net.tlsconfig import TlsConfig
from sizing.sip import parse
from sizing.sip.message import Request, Response
from sizing.sip.sdp import SessionDescription

from .conftest import free_port

pytestmark = pytest.mark.interop

HANG_GUARD_S = 30.0
"""Only a guard against a hang: every wait ends as soon as its message is seen."""
SEEN: set[str] = set()
"""Call-IDs of the INVITEs tests already took (the UAS's wire is shared by the module)."""


@dataclass
class Wire:
    """Every message one server received (``in``) and sent (``out``), parsed."""

    messages: list[tuple[str, Request | Response]] = field(default_factory=list)

    def add(self, direction: str, data: bytes) -> None:
        with contextlib.suppress(Exception):  # keep-alives, partial stream reads
            self.messages.append((direction, parse(data)))

    def find(self, direction: str, match: Callable[[Request | Response], bool]) -> list:
        return [m for d, m in list(self.messages) if d == direction and match(m)]

    def wait(self, direction: str, match: Callable[[Request | Response], bool]):
        deadline = time.monotonic() + HANG_GUARD_S
        while time.monotonic() < deadline:
            found = self.find(direction, match)
            if found:
                return found[0]
            time.sleep(0.05)
        seen = [(d, getattr(m, "method", None) or m.status) for d, m in self.messages]
        raise AssertionError(f"no such {direction} message within {HANG_GUARD_S} s; seen {seen}")


def request(method: str, call_id: str | None = None):
    return lambda m: isinstance(m, Request) and m.method == method and call_id in (None, m.call_id)


def response(status: int, method: str, call_id: str | None = None):
    return lambda m: (isinstance(m, Response) and m.status == status and m.cseq.method == method
                      and call_id in (None, m.call_id))


class Servers:
    """`sizing serve` elements in one event loop on a thread, each with its Wire."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers: list[Server] = []

    def start(self, config: ServeConfig) -> tuple[Server, Wire]:
        server = asyncio.run_coroutine_threadsafe(Server.start(config, lambda line: None),
                                                  self.loop).result(HANG_GUARD_S)
        self.servers.append(server)
        wire = Wire()

        def record(interface) -> None:
            feed, send = interface.feed, interface.transport.send

            def fed(data: bytes, source, *rest) -> object:
                wire.add("in", data)
                return feed(data, source, *rest)

            def sent(data: bytes, dest) -> None:
                wire.add("out", data)
                send(data, dest)

            interface.feed, interface.transport.send = fed, sent

        for interface in server.interfaces:
            self.loop.call_soon_threadsafe(record, interface)
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), self.loop).result(HANG_GUARD_S)
        return server, wire

    def close(self) -> None:
        for server in self.servers:
            asyncio.run_coroutine_threadsafe(server.aclose(), self.loop).result(HANG_GUARD_S)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(HANG_GUARD_S)


@dataclass
class Setup:
    registrar: Server
    registrar_wire: Wire
    uas: Server
    uas_wire: Wire
    strict: Server
    strict_wire: Wire
    cafile: Path


@pytest.fixture(scope="module")
def setup(certificate: tuple[Path, Path]) -> Iterator[Setup]:
    require_tool("baresip")
    cert, key = certificate
    servers = Servers()
    try:
        registrar, registrar_wire = servers.start(ServeConfig(
            role="registrar", listen=parse_address(f"udp:127.0.0.1:{free_port()}"), seed=1))
        uas, uas_wire = servers.start(ServeConfig(
            role="uas", listen=parse_address(f"udp:127.0.0.1:{free_port()}"),
            also_listen=(parse_address(f"tls:127.0.0.1:{free_port()}"),),
            tls=TlsConfig(certfile=cert, keyfile=key), srtp="optional", seed=2))
        strict, strict_wire = servers.start(ServeConfig(
            role="uas", listen=parse_address(f"udp:127.0.0.1:{free_port()}"), srtp="required", seed=3))
        yield Setup(registrar, registrar_wire, uas, uas_wire, strict, strict_wire, cert)
    finally:
        servers.close()


class Softphone:
    """One baresip process with one account registered at our registrar."""

    def __init__(self, directory: Path, setup: Setup, mediaenc: str | None) -> None:
        self.directory = directory
        port = free_port()
        registrar = setup.registrar.local
        config = [
            "poll_method epoll",
            f"sip_listen 127.0.0.1:{port}",
            f"sip_cafile {setup.cafile}",
            "audio_player aubridge,nosound",
            "audio_source aubridge,nosound",
            "audio_alert aubridge,nosound",
            "rtp_ports 30000-39999",
            "module_path /usr/lib/baresip/modules",
            "module g711.so",
            "module aubridge.so",
            "module srtp.so",
            "module stdio.so",
            "module_app account.so",
            "module_app menu.so",
        ]
        (directory / "config").write_text("\n".join(config) + "\n")
        params = ";regint=600;audio_codecs=PCMU,PCMA"
        if mediaenc:
            params += f";mediaenc={mediaenc}"
        self.aor = f"sip:alice@{registrar.host}:{registrar.port}"
        (directory / "accounts").write_text(f"<{self.aor}>{params}\n")
        (directory / "contacts").write_text("")
        self.log = directory / "baresip.log"
        self.proc = subprocess.Popen(
            [require_tool("baresip"), "-f", str(directory)], stdin=subprocess.PIPE,
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, text=True,
        )
        self.wait_log("baresip is ready")

    def command(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, text: str) -> None:
        deadline = time.monotonic() + HANG_GUARD_S
        while text not in self.output():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"baresip never said {text!r}:\n{self.output()[-3000:]}")
            time.sleep(0.05)

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.command("/quit")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def softphone(tmp_path: Path, setup: Setup) -> Iterator[Callable[[str | None], Softphone]]:
    phones: list[Softphone] = []

    def start(mediaenc: str | None) -> Softphone:
        directory = tmp_path / f"baresip{len(phones)}"
        directory.mkdir()
        phones.append(Softphone(directory, setup, mediaenc))
        return phones[-1]

    yield start
    for phone in phones:
        phone.close()


def answered(wire: Wire, invite: Request) -> tuple[Response, SessionDescription]:
    ok = wire.wait("out", response(200, "INVITE", invite.call_id))
    assert ok.headers.get("Content-Type") == "application/sdp"
    assert int(ok.headers.get("Content-Length")) == len(ok.body) > 0
    return ok, SessionDescription.parse(ok.body)


def assert_g711_answer(offer: SessionDescription, answer: SessionDescription, proto: str) -> None:
    (om,) = offer.media
    (am,) = answer.media
    assert (om.proto, am.proto) == (proto, proto)
    assert am.port > 0 and am.formats[0] == om.formats[0] == "0"  # PCMU, the offerer's first
    te = am.telephone_event
    assert te is not None and te.payload_type == om.telephone_event.payload_type == 101
    assert am.ptime == om.ptime == 20


def test_softphone_registers_at_our_registrar(setup: Setup, softphone) -> None:
    phone = softphone(None)
    register = setup.registrar_wire.wait("in", lambda m: request("REGISTER")(m)
                                         and str(m.headers.get("To")).find("alice") >= 0)
    ok = setup.registrar_wire.wait("out", response(200, "REGISTER", register.call_id))
    assert "alice" in str(ok.headers.get("Contact"))
    phone.wait_log("200 OK")


@pytest.mark.parametrize("transport", ["udp", "tls"])
def test_srtp_call_is_answered_with_sdp_and_one_crypto(setup: Setup, softphone, transport: str) -> None:
    phone = softphone("srtp-mand")
    target = setup.uas.address_of(transport)
    suffix = ";transport=tls" if transport == "tls" else ""
    phone.command(f"/dial sip:bob@{target.host}:{target.port}{suffix}")
    invite = setup.uas_wire.wait("in", lambda m: request("INVITE")(m) and m.call_id not in SEEN)
    SEEN.add(invite.call_id)
    assert invite.headers.get("Via").upper().startswith(f"SIP/2.0/{transport.upper()}")
    offer = SessionDescription.parse(invite.body)
    _ok, answer = answered(setup.uas_wire, invite)
    assert_g711_answer(offer, answer, "RTP/SAVP")
    (offered,) = offer.media[0].cryptos
    (crypto,) = answer.media[0].cryptos
    assert (crypto.tag, crypto.suite) == (offered.tag, "AES_CM_128_HMAC_SHA1_80")
    assert crypto.key_params[0].key_salt != offered.key_params[0].key_salt
    setup.uas_wire.wait("in", request("ACK", invite.call_id))
    phone.wait_log("SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)")
    phone.wait_log("Call established")
    phone.command("/hangup")
    setup.uas_wire.wait("out", response(200, "BYE", invite.call_id))



def test_plain_call_is_answered_plain(setup: Setup, softphone) -> None:
    phone = softphone(None)
    target = setup.uas.local
    phone.command(f"/dial sip:bob@{target.host}:{target.port}")
    invite = setup.uas_wire.wait("in", lambda m: request("INVITE")(m) and m.call_id not in SEEN)
    SEEN.add(invite.call_id)
    offer = SessionDescription.parse(invite.body)
    _ok, answer = answered(setup.uas_wire, invite)
    assert_g711_answer(offer, answer, "RTP/AVP")
    assert answer.media[0].cryptos == []
    phone.wait_log("Call established")
    phone.command("/hangup")
    setup.uas_wire.wait("out", response(200, "BYE", invite.call_id))


def test_required_srtp_refuses_a_plain_offer_with_488(setup: Setup, softphone) -> None:
    phone = softphone(None)
    target = setup.strict.local
    phone.command(f"/dial sip:bob@{target.host}:{target.port}")
    invite = setup.strict_wire.wait("in", request("INVITE"))
    assert SessionDescription.parse(invite.body).media[0].proto == "RTP/AVP"
    setup.strict_wire.wait("out", response(488, "INVITE", invite.call_id))
    setup.strict_wire.wait("in", request("ACK", invite.call_id))
    assert setup.strict_wire.find("out", response(200, "INVITE")) == []
    phone.wait_log("488")


def test_blind_transfer_from_the_softphone_sends_refer(setup: Setup, softphone) -> None:
    phone = softphone("srtp-mand")
    target = setup.uas.local
    phone.command(f"/dial sip:bob@{target.host}:{target.port}")
    invite = setup.uas_wire.wait("in", lambda m: request("INVITE")(m) and m.call_id not in SEEN)
    SEEN.add(invite.call_id)
    answered(setup.uas_wire, invite)
    phone.wait_log("Call established")
    phone.command(f"/transfer sip:carol@{target.host}:{target.port}")
    refer = setup.uas_wire.wait("in", request("REFER", invite.call_id))
    assert "sip:carol@" in str(refer.headers.get("Refer-To"))
    setup.uas_wire.wait("out", response(202, "REFER", invite.call_id))
    notify = setup.uas_wire.wait("out", request("NOTIFY", invite.call_id))
    assert notify.body.startswith(b"SIP/2.0 ")
    phone.command("/hangup")


def test_offer_of_the_32_bit_tag_suite_on_a_real_socket(setup: Setup) -> None:
    """baresip's own offer with AES_CM_128_HMAC_SHA1_32 (baresip 1.0 offers only _80)."""
    target = setup.uas.local
    key = base64.b64encode(bytes(range(30))).decode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(HANG_GUARD_S)
        host, port = sock.getsockname()
        body = (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 20020 RTP/SAVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
            f"a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:{key}\r\na=ptime:20\r\n"
        ).encode()
        head = (
            f"INVITE sip:bob@{target.host}:{target.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK32tag;rport\r\n"
            f"Contact: <sip:alice@{host}:{port}>\r\nMax-Forwards: 70\r\n"
            f"To: <sip:bob@{target.host}:{target.port}>\r\nFrom: <sip:alice@{host}>;tag=a32\r\n"
            "Call-ID: suite32@test\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock.sendto(head + body, (target.host, target.port))
        while True:
            reply = parse(sock.recv(65535))
            if reply.status >= 200:
                break
    assert reply.status == 200
    (m,) = SessionDescription.parse(reply.body).media
    (crypto,) = m.cryptos
    assert (m.proto, crypto.tag, crypto.suite) == ("RTP/SAVP", 1, "AES_CM_128_HMAC_SHA1_32")
    assert crypto.key_params[0].key_salt != key
