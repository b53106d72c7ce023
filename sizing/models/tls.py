"""TLS record and handshake overhead, TCP/IP framing, and the TLS CPU cost model.

Theory of operation: the simulator hands every SIP message to `wire_bytes`,
which says how many bytes it costs on the link for the chosen transport
(UDP datagram, TCP segments, or TLS records in TCP segments, plus the
reverse-direction pure ACKs).  A connection's one-off cost is
`connection_setup` (TCP three-way handshake + TLS handshake bytes) and
`connection_teardown`; the CPU side of TLS is a `TlsCost` host parameter.

Byte counts come from the record formats (RFC 5246 §6.2, RFC 7366, RFC 8446
§5.2) and the handshake sizes measured with Python's ssl module on this
project's build machine (`measure_handshake`, which the tests run, so the
model stays checked against a real stack).  Figures are cited from the
project's reference notes ("reference README", sections "TLS and transport
overhead" and "SIP protocol constants").
"""

from __future__ import annotations

import math
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Transport = Literal["udp", "tcp", "tls"]
TlsVersion = Literal["1.2", "1.3"]
KeyType = Literal["rsa", "ecdsa"]

#: Largest TLS record plaintext (RFC 5246 §6.2.1, RFC 8446 §5.1): 2^14 bytes.
MAX_RECORD_PLAINTEXT = 16384
#: TLS record header: type, version, length (RFC 5246 §6.2.1).
RECORD_HEADER = 5

# ---------------------------------------------------------------------------
# Record layer
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CipherSuite:
    """Per-record framing of one cipher suite.

    AEAD suites add a fixed overhead; CBC suites add an IV, a MAC and 1-16
    bytes of padding that depend on the plaintext length.
    """

    name: str
    version: TlsVersion
    explicit_iv: int = 0
    tag: int = 0
    inner_type: int = 0
    """TLS 1.3 inner content-type byte (RFC 8446 §5.2)."""
    mac: int = 0
    block: int = 0
    """Cipher block size; 0 for AEAD suites."""
    encrypt_then_mac: bool = False
    """RFC 7366: pad the plaintext only, MAC over the ciphertext (OpenSSL negotiates it)."""

    def record_overhead(self, plaintext_len: int) -> int:
        """Bytes one record adds to `plaintext_len` bytes (at most 16384) of data."""
        _check_len(plaintext_len, "plaintext_len")
        if plaintext_len > MAX_RECORD_PLAINTEXT:
            raise ValueError(
                f"plaintext_len: {plaintext_len} exceeds the {MAX_RECORD_PLAINTEXT} B record limit"
            )
        fixed = RECORD_HEADER + self.explicit_iv + self.tag + self.inner_type + self.mac
        if not self.block:
            return fixed
        padded = plaintext_len if self.encrypt_then_mac else plaintext_len + self.mac
        # 1..block bytes of padding, the last one being the padding length.
        return fixed + self.block - padded % self.block


#: Cipher suites by name; figures from the reference README "TLS and transport overhead".
SUITES: dict[str, CipherSuite] = {
    # 5 header + 8 explicit nonce + 16 tag = 29 (RFC 5288).
    "tls1.2-aes-gcm": CipherSuite("tls1.2-aes-gcm", "1.2", explicit_iv=8, tag=16),
    # 5 header + 16 tag = 21 (RFC 7905, implicit nonce).
    "tls1.2-chacha20-poly1305": CipherSuite("tls1.2-chacha20-poly1305", "1.2", tag=16),
    # 5 + 16 IV + 20 MAC + 1-16 padding = 42-57 (RFC 5246 §6.2.3.2).
    "tls1.2-aes-cbc-sha1": CipherSuite("tls1.2-aes-cbc-sha1", "1.2", explicit_iv=16, mac=20, block=16),
    "tls1.2-aes-cbc-sha1-etm": CipherSuite(
        "tls1.2-aes-cbc-sha1-etm", "1.2", explicit_iv=16, mac=20, block=16, encrypt_then_mac=True
    ),
    # 5 + 16 IV + 32 MAC + 1-16 padding = 54-69.
    "tls1.2-aes-cbc-sha256": CipherSuite("tls1.2-aes-cbc-sha256", "1.2", explicit_iv=16, mac=32, block=16),
    "tls1.2-aes-cbc-sha256-etm": CipherSuite(
        "tls1.2-aes-cbc-sha256-etm", "1.2", explicit_iv=16, mac=32, block=16, encrypt_then_mac=True
    ),
    # 5 header + 1 inner content type + 16 tag = 22 (RFC 8446 §5.2, no padding).
    "tls1.3-aead": CipherSuite("tls1.3-aead", "1.3", tag=16, inner_type=1),
    # The same framing, named for the cipher, where CPU tells them apart (cost profiles).
    "tls1.3-aes-gcm": CipherSuite("tls1.3-aes-gcm", "1.3", tag=16, inner_type=1),
    "tls1.3-chacha20-poly1305": CipherSuite("tls1.3-chacha20-poly1305", "1.3", tag=16, inner_type=1),
}

#: Suites whose CPU a cost profile gives under another name: "tls1.3-aead" is
#: whatever TLS 1.3 suite the peers agree on, AES-256-GCM with OpenSSL's defaults.
COST_SUITE = {"tls1.3-aead": "tls1.3-aes-gcm"}

DEFAULT_SUITE = {"1.2": "tls1.2-aes-gcm", "1.3": "tls1.3-aead"}


def suite_for(suite: str | CipherSuite) -> CipherSuite:
    """Resolve a suite name (see `SUITES`) or pass a `CipherSuite` through."""
    if isinstance(suite, CipherSuite):
        return suite
    try:
        return SUITES[suite.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"suite: unknown cipher suite {suite!r}; known: {sorted(SUITES)}") from None


def record_count(message_len: int) -> int:
    """Records needed for one write of `message_len` bytes (16384 B per record)."""
    _check_len(message_len, "message_len")
    return -(-message_len // MAX_RECORD_PLAINTEXT)


def tls_record_bytes(message_len: int, suite: str | CipherSuite = "tls1.3-aead") -> int:
    """Bytes of the TLS records carrying one message written in a single write."""
    s = suite_for(suite)
    full, rest = divmod(_check_len(message_len, "message_len"), MAX_RECORD_PLAINTEXT)
    total = full * (MAX_RECORD_PLAINTEXT + s.record_overhead(MAX_RECORD_PLAINTEXT))
    if rest:
        total += rest + s.record_overhead(rest)
    return total


def tls_batch_bytes(
    message_lens: Iterable[int], suite: str | CipherSuite = "tls1.3-aead", *, coalesce: bool = False
) -> int:
    """Bytes of TLS records for several messages.

    With `coalesce` the messages go out in one write (records filled up to
    16384 B, as a stack that batches its output does); otherwise each message
    is its own write and its own record(s).
    """
    lens = [int(n) for n in message_lens]
    for i, n in enumerate(lens):
        _check_len(n, f"message_lens[{i}]")
    if coalesce:
        return tls_record_bytes(sum(lens), suite)
    return sum(tls_record_bytes(n, suite) for n in lens)


# ---------------------------------------------------------------------------
# TCP/IP framing
# ---------------------------------------------------------------------------

#: Layer 2 per packet, named as in `sizing.models.media`: (header + trailer, minimum frame,
#: bytes outside the minimum-frame rule).  Ethernet 14 header + 4 FCS = 18, 802.1Q
#: tag +4, preamble and inter-frame gap +20 on the wire, MP/FRF.12 7 B (reference
#: README, "RTP bandwidth"); Ethernet frames are padded to 64 B (IEEE 802.3).
L2_LAYERS: dict[str, tuple[int, int, int]] = {
    "ip": (0, 0, 0),
    "ethernet": (18, 64, 0),
    "ethernet-vlan": (22, 64, 0),
    "ethernet-wire": (18, 64, 20),
    "ethernet-vlan-wire": (22, 64, 20),
    "mp": (7, 0, 0),
}
IP_HEADER = {4: 20, 6: 40}
UDP_HEADER = 8  # reference README, "TLS and transport overhead"
TCP_HEADER = 20  # 32 with the timestamp option, the Linux default (same source)
TCP_TIMESTAMP_OPTION = 12  # 10 B option + 2 NOP padding (RFC 7323)
#: SYN option bytes as Linux sends them: MSS 4 + SACK-permitted 2 + timestamps 10
#: + NOP 1 + window scale 3 = 20; without timestamps MSS 4 + NOP NOP SACK-perm 4 + NOP WS 4 = 12.
SYN_OPTIONS = {True: 20, False: 12}
IPV6_FRAGMENT_HEADER = 8


@dataclass(frozen=True)
class NetParams:
    """Network framing assumptions for byte counts."""

    ip_version: int = 4
    mtu: int = 1500
    l2: str = "ethernet"
    tcp_timestamps: bool = True
    ack_ratio: float = 0.5
    """Pure ACKs per received data segment: 0.5 is one delayed ACK per two segments
    (RFC 1122 §4.2.3.2); 0 assumes every ACK rides on reverse traffic."""

    def __post_init__(self) -> None:
        if self.ip_version not in IP_HEADER:
            raise ValueError(f"ip_version: must be 4 or 6, got {self.ip_version!r}")
        if self.l2 not in L2_LAYERS:
            raise ValueError(f"l2: unknown layer 2 {self.l2!r}; known: {sorted(L2_LAYERS)}")
        if not 576 <= self.mtu <= 65535 or (self.ip_version == 6 and self.mtu < 1280):
            raise ValueError(f"mtu: {self.mtu} is outside 576-65535 (1280-65535 for IPv6)")
        if not 0.0 <= self.ack_ratio <= 1.0:
            raise ValueError(f"ack_ratio: must be within 0..1, got {self.ack_ratio}")

    @property
    def ip_header(self) -> int:
        return IP_HEADER[self.ip_version]

    @property
    def tcp_header(self) -> int:
        return TCP_HEADER + (TCP_TIMESTAMP_OPTION if self.tcp_timestamps else 0)

    @property
    def l2_bytes(self) -> int:
        """Layer-2 bytes added to a packet that needs no padding."""
        overhead, _, extra = L2_LAYERS[self.l2]
        return overhead + extra

    def frame(self, ip_bytes: int) -> int:
        """Bytes on the link of one IP packet of `ip_bytes`, padding included."""
        overhead, min_frame, extra = L2_LAYERS[self.l2]
        return max(min_frame, ip_bytes + overhead) + extra

    @property
    def mss(self) -> int:
        """Payload bytes per TCP segment (MTU less IP and TCP headers incl. options)."""
        return self.mtu - self.ip_header - self.tcp_header

    @property
    def pure_ack_bytes(self) -> int:
        return self.frame(self.ip_header + self.tcp_header)


@dataclass(frozen=True)
class WireBytes:
    """On-the-wire cost of one message (or one stream write)."""

    payload: int
    """Application bytes (the SIP message)."""
    stream: int
    """Bytes handed to the transport: the message, or its TLS records."""
    forward: int
    """Bytes in the sending direction, all headers included."""
    packets: int
    reverse: float
    """Expected pure-ACK bytes coming back (fractional: a mean over messages)."""
    ack_packets: float

    @property
    def total(self) -> float:
        return self.forward + self.reverse


def wire_bytes(
    message_len: int,
    transport: Transport = "udp",
    *,
    suite: str | CipherSuite = "tls1.3-aead",
    net: NetParams | None = None,
) -> WireBytes:
    """On-the-wire bytes of one SIP message sent over `transport`.

    UDP: one datagram, IP-fragmented above the MTU.  TCP: the message cut into
    MSS-sized segments, plus `net.ack_ratio` pure ACKs per segment in the
    reverse direction.  TLS: as TCP, carrying the message's TLS records.
    """
    net = net or NetParams()
    _check_len(message_len, "message_len")
    if transport == "udp":
        packets = _udp_fragments(message_len, net)
        if packets == 1:
            forward = net.frame(message_len + UDP_HEADER + net.ip_header)
        else:
            forward = message_len + UDP_HEADER + packets * (net.ip_header + net.l2_bytes)
            if net.ip_version == 6:
                forward += packets * IPV6_FRAGMENT_HEADER
        return WireBytes(message_len, message_len, forward, packets, 0.0, 0.0)
    if transport == "tcp":
        stream = message_len
    elif transport == "tls":
        stream = tls_record_bytes(message_len, suite)
    else:
        raise ValueError(f"transport: must be 'udp', 'tcp' or 'tls', got {transport!r}")
    return _stream_cost(message_len, stream, net)


def _stream_cost(payload: int, stream: int, net: NetParams, flights: int = 1) -> WireBytes:
    segments = -(-stream // net.mss) + flights - 1 if stream else 0
    if segments == 1:
        forward = net.frame(stream + net.ip_header + net.tcp_header)
    else:
        forward = stream + segments * (net.ip_header + net.tcp_header + net.l2_bytes)
    acks = segments * net.ack_ratio
    return WireBytes(payload, stream, forward, segments, acks * net.pure_ack_bytes, acks)


def _udp_fragments(message_len: int, net: NetParams) -> int:
    datagram = message_len + UDP_HEADER
    if datagram + net.ip_header <= net.mtu:
        return 1
    extra = IPV6_FRAGMENT_HEADER if net.ip_version == 6 else 0
    per_fragment = (net.mtu - net.ip_header - extra) // 8 * 8  # offsets count 8-byte units
    return -(-datagram // per_fragment)


# ---------------------------------------------------------------------------
# Handshakes
# ---------------------------------------------------------------------------

#: DER signature bytes by key: RSA = modulus bytes; ECDSA P-256 70-72 (mean 71).
SIGNATURE_BYTES = {"rsa": 256, "ecdsa": 71}
#: DER certificate sizes (leaf first) of the synthetic leaf + intermediate chain
#: that `make_test_pki` creates; public CA chains are larger (reference README).
DEFAULT_CHAIN = {"rsa": (807, 800), "ecdsa": (411, 404)}


@dataclass(frozen=True)
class HandshakeConstants:
    """Certificate-independent handshake bytes of one TLS stack.

    Measured here with `measure_handshake` (Python 3.11 ssl, OpenSSL 3.0.19,
    X25519, AES-256-GCM-SHA384 suites, TLS 1.3 middlebox compatibility on,
    one trust anchor named in CertificateRequest): measured-on-build-machine
    starting points, not truths.  Each field counts TLS record bytes.
    """

    full_c2s: int
    """ClientHello and the client's last flight."""
    full_s2c: int
    """Server flights less Certificate, signature and tickets."""
    resumed_c2s: int
    """ClientHello carrying the ticket, and the client's Finished."""
    resumed_s2c: int
    """ServerHello to Finished, tickets excluded."""
    ticket: int
    """One NewSessionTicket record (TLS 1.2 tickets are inside full_s2c)."""
    cert_request: int
    """CertificateRequest record (mutual TLS)."""
    cert_list_header: int
    """Certificate message bytes besides the per-certificate entries."""
    cert_entry_extra: int
    """Bytes per certificate entry besides the DER (3 length, +2 extensions in 1.3)."""
    cert_verify_extra: int
    """CertificateVerify besides the signature, incl. its record framing."""
    client_cert_record_extra: int
    """Record framing of the client's Certificate message."""
    tickets_after_resumption: int
    mutual_ticket_delta: int = 0
    """Growth of a ticket with mutual TLS beyond the client leaf's DER size."""


HANDSHAKE_CONSTANTS: dict[str, HandshakeConstants] = {
    # TLS 1.2 full: c2s 280 B; s2c 2251 B with RSA-2048 chain (807+800) and 256 B
    # signature -> 2251 - (7 + 810 + 803) - 256 = 375.  Resumed 568 + 141 = 709 B,
    # as in the reference README.
    "1.2": HandshakeConstants(
        full_c2s=280, full_s2c=375, resumed_c2s=568, resumed_s2c=141, ticket=0,
        cert_request=179, cert_list_header=7, cert_entry_extra=3, cert_verify_extra=8 + 5,
        client_cert_record_extra=5, tickets_after_resumption=0, mutual_ticket_delta=-115,
    ),
    # TLS 1.3 full: c2s 330 B; s2c 2678 B with the RSA chain and two 255 B tickets
    # -> 2678 - (8 + 812 + 805) - 256 - 2*255 = 287.  Resumed 601 B + 241 B + one ticket.
    "1.3": HandshakeConstants(
        full_c2s=330, full_s2c=287, resumed_c2s=601, resumed_s2c=241, ticket=255,
        cert_request=80, cert_list_header=8, cert_entry_extra=5, cert_verify_extra=8 + 22,
        client_cert_record_extra=22, tickets_after_resumption=1,
    ),
}


@dataclass(frozen=True)
class HandshakeBytes:
    """TLS handshake bytes (record layer) in each direction and flight counts."""

    client_to_server: int
    server_to_client: int
    flights_c2s: int
    flights_s2c: int

    @property
    def total(self) -> int:
        return self.client_to_server + self.server_to_client


def handshake_bytes(
    version: TlsVersion = "1.3",
    key: KeyType = "rsa",
    *,
    resumed: bool = False,
    mutual: bool = False,
    chain: tuple[int, ...] | None = None,
    client_chain: tuple[int, ...] | None = None,
    signature_bytes: int | None = None,
    num_tickets: int = 2,
) -> HandshakeBytes:
    """Model of TLS handshake bytes (records, both directions).

    `chain` lists the DER sizes of the certificates the server sends (leaf
    first; default: the synthetic leaf + intermediate of `DEFAULT_CHAIN`);
    `client_chain` those of a mutual-TLS client (default: same as the server).
    `num_tickets` is TLS 1.3 tickets after a full handshake (OpenSSL sends 2).
    A session ticket stores the peer's certificate, so with mutual TLS each
    ticket grows by the client's leaf certificate.
    """
    c = _constants(version)
    if key not in SIGNATURE_BYTES:
        raise ValueError(f"key: must be 'rsa' or 'ecdsa', got {key!r}")
    if num_tickets < 0:
        raise ValueError(f"num_tickets: must be >= 0, got {num_tickets}")
    if resumed and version == "1.3" and num_tickets == 0:
        raise ValueError("resumed: TLS 1.3 resumption needs num_tickets >= 1")
    chain = _chain(chain if chain is not None else DEFAULT_CHAIN[key], "chain")
    client_chain = _chain(client_chain if client_chain is not None else chain, "client_chain")
    sig = SIGNATURE_BYTES[key] if signature_bytes is None else signature_bytes
    ticket_growth = client_chain[0] + c.mutual_ticket_delta if mutual else 0
    if resumed:
        c2s = c.resumed_c2s + ticket_growth
        s2c = c.resumed_s2c + c.tickets_after_resumption * (c.ticket + ticket_growth)
        if version == "1.2":
            return HandshakeBytes(c2s, s2c, 2, 1)
        return HandshakeBytes(c2s, s2c, 2, 1 + (c.tickets_after_resumption > 0))
    s2c = c.full_s2c + _cert_message(c, chain) + sig
    c2s = c.full_c2s
    if mutual:
        s2c += c.cert_request
        c2s += c.client_cert_record_extra + _cert_message(c, client_chain)
        c2s += c.cert_verify_extra + sig
    if version == "1.2":
        s2c += ticket_growth  # the ticket inside the server's last flight
    else:
        s2c += num_tickets * (c.ticket + ticket_growth)
    return HandshakeBytes(c2s, s2c, 2, 2 if version == "1.2" or num_tickets else 1)


def _cert_message(c: HandshakeConstants, chain: tuple[int, ...]) -> int:
    return c.cert_list_header + sum(der + c.cert_entry_extra for der in chain)


def _constants(version: str) -> HandshakeConstants:
    try:
        return HANDSHAKE_CONSTANTS[version]
    except KeyError:
        raise ValueError(f"version: must be '1.2' or '1.3', got {version!r}") from None


def _chain(chain: Iterable[int], name: str) -> tuple[int, ...]:
    out = tuple(int(x) for x in chain)
    if not out or any(x <= 0 for x in out):
        raise ValueError(f"{name}: needs one or more positive DER sizes, got {out!r}")
    return out


@dataclass(frozen=True)
class SetupBytes:
    """Wire bytes to open (or close) one connection, by direction."""

    client_to_server: float
    server_to_client: float
    packets_c2s: float
    packets_s2c: float

    @property
    def total(self) -> float:
        return self.client_to_server + self.server_to_client


def connection_setup(
    transport: Transport = "tls",
    *,
    version: TlsVersion = "1.3",
    key: KeyType = "rsa",
    resumed: bool = False,
    mutual: bool = False,
    chain: tuple[int, ...] | None = None,
    net: NetParams | None = None,
) -> SetupBytes:
    """Wire bytes of a TCP three-way handshake plus, for TLS, the TLS handshake.

    SYN and SYN-ACK carry Linux's options (`SYN_OPTIONS`); the final ACK is a
    plain segment.  TLS flights are cut into MSS segments and acknowledged at
    `net.ack_ratio`.  UDP has no connection: all zeros.
    """
    net = net or NetParams()
    if transport == "udp":
        return SetupBytes(0, 0, 0, 0)
    if transport not in ("tcp", "tls"):
        raise ValueError(f"transport: must be 'udp', 'tcp' or 'tls', got {transport!r}")
    syn = net.frame(net.ip_header + TCP_HEADER + SYN_OPTIONS[net.tcp_timestamps])
    c2s, s2c = float(syn + net.pure_ack_bytes), float(syn)
    p_c2s, p_s2c = 2.0, 1.0
    if transport == "tls":
        hs = handshake_bytes(version, key, resumed=resumed, mutual=mutual, chain=chain)
        up = _stream_cost(0, hs.client_to_server, net, hs.flights_c2s)
        down = _stream_cost(0, hs.server_to_client, net, hs.flights_s2c)
        c2s += up.forward + down.reverse
        s2c += down.forward + up.reverse
        p_c2s += up.packets + down.ack_packets
        p_s2c += down.packets + up.ack_packets
    return SetupBytes(c2s, s2c, p_c2s, p_s2c)


def connection_teardown(
    transport: Transport = "tls", *, version: TlsVersion = "1.3", net: NetParams | None = None,
    suite: str | CipherSuite | None = None,
) -> SetupBytes:
    """Wire bytes to close a connection: FIN and ACK each way, plus a
    close_notify alert (2 B in one record, own segment) from each side for TLS."""
    net = net or NetParams()
    if transport == "udp":
        return SetupBytes(0, 0, 0, 0)
    if transport not in ("tcp", "tls"):
        raise ValueError(f"transport: must be 'udp', 'tcp' or 'tls', got {transport!r}")
    one_way, packets = 2.0 * net.pure_ack_bytes, 2.0
    if transport == "tls":
        _constants(version)
        alert = tls_record_bytes(2, suite or DEFAULT_SUITE[version])
        one_way += net.frame(net.ip_header + net.tcp_header + alert)
        packets += 1
    return SetupBytes(one_way, one_way, packets, packets)


# ---------------------------------------------------------------------------
# CPU cost
# ---------------------------------------------------------------------------

#: Server-side CPU per handshake on one core of the build machine, µs
#: (reference README, "TLS and transport overhead"; measured here, starting points).
HANDSHAKE_CPU_US: dict[tuple[str, str], tuple[float, float]] = {
    ("1.2", "rsa"): (571.0, 50.0),
    ("1.2", "ecdsa"): (223.0, 50.0),
    ("1.3", "rsa"): (651.0, 238.0),  # resumed 230-246 µs
    ("1.3", "ecdsa"): (307.0, 238.0),
}
#: AES-128-GCM at 521 MB/s (openssl speed, 256 B blocks) -> µs per 1000 bytes.
AES_GCM_US_PER_KBYTE = 1000 / 521e6 * 1e6


@dataclass(frozen=True)
class TlsCost:
    """TLS CPU cost of a host, as in a cost profile's `tls:` block.

    Defaults are measured on the project's build machine (TLS 1.3, RSA-2048):
    starting points to be replaced by `sizing measure`/`calibrate` figures.
    """

    handshake_full_us: float = HANDSHAKE_CPU_US[("1.3", "rsa")][0]
    handshake_resumed_us: float = HANDSHAKE_CPU_US[("1.3", "rsa")][1]
    per_kbyte_us: float = field(default=AES_GCM_US_PER_KBYTE)
    """Record encryption/decryption per 1000 bytes."""

    def __post_init__(self) -> None:
        for name in ("handshake_full_us", "handshake_resumed_us", "per_kbyte_us"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"tls.{name}: must be a finite number >= 0, got {value!r}")

    @classmethod
    def reference(cls, version: TlsVersion = "1.3", key: KeyType = "rsa") -> TlsCost:
        """The build machine's measured figures for a version and key type."""
        try:
            full, resumed = HANDSHAKE_CPU_US[(version, key)]
        except KeyError:
            raise ValueError(f"no reference TLS cost for version={version!r}, key={key!r}") from None
        return cls(full, resumed)

    @classmethod
    def from_profile(cls, tls: Mapping[str, object], where: str = "tls") -> TlsCost:
        """Build from a cost profile's `tls:` mapping; missing keys keep defaults."""
        if not isinstance(tls, Mapping):
            raise ValueError(f"{where}: must be a mapping, got {type(tls).__name__}")
        known = {"handshake_full_us", "handshake_resumed_us", "per_kbyte_us"}
        unknown = set(tls) - known
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        try:
            return cls(**{k: float(v) for k, v in tls.items()})  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None

    def handshake_us(self, resumed: bool = False) -> float:
        return self.handshake_resumed_us if resumed else self.handshake_full_us

    def bulk_us(self, nbytes: float) -> float:
        """CPU to encrypt or decrypt `nbytes` of records."""
        return self.per_kbyte_us * nbytes / 1000.0


# ---------------------------------------------------------------------------
# Measurement against the real stack (Python ssl over memory BIOs)
# ---------------------------------------------------------------------------

HOSTNAME = "sip.example.test"


@dataclass(frozen=True)
class ThrowawayPki:
    """A throwaway root -> intermediate -> leaf PKI in `directory`."""

    directory: Path
    key: KeyType
    ca_pem: Path
    chain_pem: Path
    """Leaf then intermediate, as a server sends them."""
    leaf_key: Path
    chain_der: tuple[int, ...]


def make_test_pki(directory: str | Path, key: KeyType = "rsa") -> ThrowawayPki:
    """Create a root CA, an intermediate and a leaf for `HOSTNAME` with the
    `openssl` command line (RSA-2048 or ECDSA P-256), valid for two days."""
    exe = shutil.which("openssl")
    if exe is None:
        raise RuntimeError("make_test_pki: the openssl command is not on PATH")
    if key not in SIGNATURE_BYTES:
        raise ValueError(f"key: must be 'rsa' or 'ecdsa', got {key!r}")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)

    def run(*args: str | Path) -> bytes:
        proc = subprocess.run([exe, *map(str, args)], capture_output=True, check=False)
        if proc.returncode:
            raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.decode(errors='replace')}")
        return proc.stdout

    algo = (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"] if key == "rsa"
            else ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
    for name in ("ca", "int", "leaf"):
        run("genpkey", *algo, "-out", d / f"{name}.key")
    ext = d / "ext.cnf"
    ext.write_text(
        "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        f"[leaf]\nbasicConstraints=CA:FALSE\nsubjectAltName=DNS:{HOSTNAME}\n"
    )
    run("req", "-x509", "-new", "-key", d / "ca.key", "-subj", "/CN=Sizing Test Root",
        "-days", "2", "-out", d / "ca.pem")
    for name, subj, issuer, section, serial in (
        ("int", "/CN=Sizing Test Intermediate", "ca", "ca", "2"),
        ("leaf", f"/CN={HOSTNAME}", "int", "leaf", "3"),
    ):
        run("req", "-new", "-key", d / f"{name}.key", "-subj", subj, "-out", d / f"{name}.csr")
        run("x509", "-req", "-in", d / f"{name}.csr", "-CA", d / f"{issuer}.pem",
            "-CAkey", d / f"{issuer}.key", "-set_serial", serial, "-days", "2",
            "-extfile", ext, "-extensions", section, "-out", d / f"{name}.pem")
    chain = d / "chain.pem"
    chain.write_text((d / "leaf.pem").read_text() + (d / "int.pem").read_text())
    der = tuple(len(run("x509", "-in", d / f"{n}.pem", "-outform", "DER")) for n in ("leaf", "int"))
    return ThrowawayPki(d, key, d / "ca.pem", chain, d / "leaf.key", der)


@dataclass(frozen=True)
class HandshakeMeasurement:
    """Record-layer bytes of one real handshake, and the server's time in it."""

    client_to_server: int
    server_to_client: int
    server_us: float
    """Wall time inside the server's handshake calls (one core, this process)."""
    cipher: str
    resumed: bool

    @property
    def total(self) -> int:
        return self.client_to_server + self.server_to_client


class _Pair:
    """A client and a server SSLObject wired through memory BIOs."""

    def __init__(self, cctx: ssl.SSLContext, sctx: ssl.SSLContext,
                 session: ssl.SSLSession | None = None) -> None:
        self.c_in, self.c_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.s_in, self.s_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.client = cctx.wrap_bio(self.c_in, self.c_out, server_hostname=HOSTNAME, session=session)
        self.server = sctx.wrap_bio(self.s_in, self.s_out, server_side=True)
        self.c2s = self.s2c = 0
        self.server_s = 0.0

    def _pump(self) -> None:
        data = self.c_out.read()
        self.c2s += len(data)
        self.s_in.write(data)
        data = self.s_out.read()
        self.s2c += len(data)
        self.c_in.write(data)

    def handshake(self) -> None:
        c_done = s_done = False
        for _ in range(16):
            if not c_done:
                c_done = _step(self.client.do_handshake)
            self._pump()
            if not s_done:
                t0 = time.perf_counter()
                s_done = _step(self.server.do_handshake)
                self.server_s += time.perf_counter() - t0
            self._pump()
            if c_done and s_done:
                break
        else:
            raise RuntimeError("handshake did not complete")
        # TLS 1.3 tickets arrive after the handshake: a read processes them.
        _step(lambda: self.client.read(1))
        self._pump()


def _step(call: Callable[[], object]) -> bool:
    try:
        call()
    except ssl.SSLWantReadError:
        return False
    return True


def _contexts(pki: ThrowawayPki, version: TlsVersion, *, mutual: bool, ciphers: str | None,
              encrypt_then_mac: bool, num_tickets: int) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    v = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[version]
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    sctx.load_cert_chain(pki.chain_pem, pki.leaf_key)
    cctx.load_verify_locations(pki.ca_pem)
    for ctx in (sctx, cctx):
        ctx.minimum_version = ctx.maximum_version = v
        if ciphers:
            ctx.set_ciphers(ciphers)
        if not encrypt_then_mac:
            ctx.options |= _OP_NO_ENCRYPT_THEN_MAC
    sctx.num_tickets = num_tickets
    if mutual:
        sctx.verify_mode = ssl.CERT_REQUIRED
        sctx.load_verify_locations(pki.ca_pem)
        cctx.load_cert_chain(pki.chain_pem, pki.leaf_key)
    return cctx, sctx


#: OpenSSL's SSL_OP_NO_ENCRYPT_THEN_MAC (bit 19); the ssl module does not name it.
_OP_NO_ENCRYPT_THEN_MAC = 1 << 19


def measure_handshake(
    pki: ThrowawayPki, version: TlsVersion = "1.3", *, resumed: bool = False, mutual: bool = False,
    num_tickets: int = 2,
) -> HandshakeMeasurement:
    """Run a real handshake between two SSLObjects and count its record bytes.

    For `resumed`, a first full handshake obtains the session (TLS 1.2 ticket,
    TLS 1.3 NewSessionTicket read after the handshake), then a second one
    resumes it; the second is measured.
    """
    cctx, sctx = _contexts(pki, version, mutual=mutual, ciphers=None, encrypt_then_mac=True,
                           num_tickets=num_tickets)
    pair = _Pair(cctx, sctx)
    pair.handshake()
    if resumed:
        session = pair.client.session
        pair = _Pair(cctx, sctx, session=session)
        pair.handshake()
        if not pair.client.session_reused:
            raise RuntimeError("measure_handshake: the server did not resume the session")
    cipher = pair.client.cipher()
    return HandshakeMeasurement(pair.c2s, pair.s2c, pair.server_s * 1e6,
                                cipher[0] if cipher else "", pair.client.session_reused)


def measure_record_overhead(
    pki: ThrowawayPki, lengths: Iterable[int], version: TlsVersion = "1.3", *,
    ciphers: str | None = None, encrypt_then_mac: bool = True,
) -> list[int]:
    """Bytes each application write of the given lengths adds on a real
    connection (record headers, IVs, MACs, tags, padding)."""
    cctx, sctx = _contexts(pki, version, mutual=False, ciphers=ciphers,
                           encrypt_then_mac=encrypt_then_mac, num_tickets=2)
    pair = _Pair(cctx, sctx)
    pair.handshake()
    out = []
    for i, n in enumerate(lengths):
        _check_len(n, f"lengths[{i}]")
        if n:
            pair.client.write(b"x" * n)
        out.append(len(pair.c_out.read()) - n)
    return out


def measure_all(key: KeyType = "rsa") -> dict[str, HandshakeMeasurement]:
    """Measure the handshake matrix for one key type in a temporary PKI."""
    with tempfile.TemporaryDirectory() as tmp:
        pki = make_test_pki(tmp, key)
        return {
            f"{v} {kind}": measure_handshake(pki, v, resumed=kind == "resumed", mutual=kind == "mutual")
            for v in ("1.2", "1.3") for kind in ("full", "resumed", "mutual")
        }


def _check_len(n: object, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"{name}: must be a non-negative integer byte count, got {n!r}")
    return n
