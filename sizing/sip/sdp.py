"""SDP (RFC 8866, ex RFC 4566) parse/encode, SDES crypto (RFC 4568), offer/answer (RFC 3264).

Theory of operation:

- The model (`SessionDescription`, `MediaDescription`) stores what was written:
  attributes stay raw `Attribute(name, value)` pairs in their order, so any SDP
  round-trips (`parse(sd.encode()) == sd`), unknown attributes included.
- Typed views (`MediaDescription.codecs`, `.ptime`, `.cryptos`, `.direction`, ...)
  are computed from those attributes; `parse()` validates every attribute a view
  reads, so a view of a parsed description never fails.
- `offer()`, `answer()` and `negotiated_codec()` are the small part of RFC 3264 the
  engine and the sizing models need: which codec, clock, ptime, SRTP suite and
  DTMF a call ends up with.

Sans-IO: nothing here touches a socket or a clock. Key material for SRTP comes from
a caller-supplied `key_source(n) -> bytes` (default `secrets.token_bytes`), so a
simulation can pass a seeded generator and stay deterministic.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .digits import read_uint

__all__ = [
    "Attribute",
    "Bandwidth",
    "Capabilities",
    "Codec",
    "Connection",
    "Crypto",
    "DIRECTIONS",
    "KeyParam",
    "MediaDescription",
    "Negotiated",
    "NegotiationError",
    "Origin",
    "SRTP_KEY_LENGTHS",
    "STATIC_PAYLOAD_TYPES",
    "SdpError",
    "SessionDescription",
    "Timing",
    "answer",
    "codec",
    "format_events",
    "negotiated_codec",
    "offer",
    "parse_events",
]


class SdpError(ValueError):
    """Malformed SDP; `line` is the 1-based line number when known."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"line {line}: {reason}" if line is not None else reason)


class NegotiationError(SdpError):
    """The offer cannot be answered at all (a UAS answers 488 Not Acceptable Here)."""


# --------------------------------------------------------------------------- tables

#: RFC 3551 tables 4 and 5: static payload type -> (encoding name, clock rate, channels).
#: G722 runs at 64 kbit/s but its RTP clock is 8000 (an RFC 3551 quirk).
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    14: ("MPA", 90000, 1),
    15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
    25: ("CelB", 90000, 1),
    26: ("JPEG", 90000, 1),
    28: ("nv", 90000, 1),
    31: ("H261", 90000, 1),
    32: ("MPV", 90000, 1),
    33: ("MP2T", 90000, 1),
    34: ("H263", 90000, 1),
}

#: Conventional dynamic payload types for well-known codecs without a static one.
_DYNAMIC_CODECS: dict[str, tuple[int, str, int, int]] = {
    "opus": (111, "opus", 48000, 2),
    "ilbc": (97, "iLBC", 8000, 1),
    "amr": (98, "AMR", 8000, 1),
    "amr-wb": (99, "AMR-WB", 16000, 1),
    "g726-32": (100, "G726-32", 8000, 1),
    "telephone-event": (101, "telephone-event", 8000, 1),
    "h264": (109, "H264", 90000, 1),
    "vp8": (110, "VP8", 90000, 1),
}

#: SDES suites -> master key + master salt length in bytes (RFC 4568 §6.2, RFC 6188
#: for AES-192/256, RFC 7714 §12 for AEAD-GCM).
SRTP_KEY_LENGTHS: dict[str, int] = {
    "AES_CM_128_HMAC_SHA1_80": 30,
    "AES_CM_128_HMAC_SHA1_32": 30,
    "F8_128_HMAC_SHA1_80": 30,
    "AES_192_CM_HMAC_SHA1_80": 38,
    "AES_192_CM_HMAC_SHA1_32": 38,
    "AES_256_CM_HMAC_SHA1_80": 46,
    "AES_256_CM_HMAC_SHA1_32": 46,
    "AEAD_AES_128_GCM": 28,
    "AEAD_AES_256_GCM": 44,
}

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
#: Formats that ride along with a voice codec rather than being one.
_AUXILIARY = frozenset({"telephone-event", "cn"})
#: Default packetisation when no ptime is signalled (RFC 3551 §4.5: 20 ms, G.723.1 frames 30 ms).
_DEFAULT_PTIME = {"g723": 30.0}

_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_DIGITS = re.compile(r"[0-9]+")
_HOSTNAME = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.?"
)
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_DOTTED = re.compile(r"[0-9.]+")
_SUITE = re.compile(r"[A-Za-z0-9_]+")
_PROTO = re.compile(r"[A-Za-z0-9_.\-]++(?:/[A-Za-z0-9_.\-]++)*+")


def _uint(text: str, what: str, maximum: int | None = None) -> int:
    if not _DIGITS.fullmatch(text):
        raise SdpError(f"{what} {text!r} is not a number")
    value = read_uint(text, what, SdpError)
    if maximum is not None and value > maximum:
        raise SdpError(f"{what} {value} is out of range 0-{maximum}")
    return value


# --------------------------------------------------------------------------- fields


@dataclass(slots=True)
class Origin:
    """o= line: who created the session and which version of it this is."""

    username: str = "-"
    sess_id: int = 0
    sess_version: int = 0
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "127.0.0.1"

    @classmethod
    def parse(cls, value: str) -> Origin:
        parts = value.split()
        if len(parts) != 6:
            raise SdpError(
                f"o= needs 6 fields (username sess-id sess-version nettype addrtype address), got {len(parts)}"
            )
        user, sid, sver, nettype, addrtype, address = parts
        origin = cls(
            user, _uint(sid, "sess-id"), _uint(sver, "sess-version"), nettype, addrtype, address
        )
        _check_address(nettype, addrtype, address, "o= address")
        return origin

    def __str__(self) -> str:
        return (
            f"{self.username} {self.sess_id} {self.sess_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


def _check_address(nettype: str, addrtype: str, address: str, what: str) -> None:
    """Validate an IN IP4/IP6 address (literal or FQDN); other types are kept as written."""
    if nettype != "IN" or addrtype not in ("IP4", "IP6"):
        return
    if addrtype == "IP6" and ":" in address:
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            raise SdpError(f"{what} {address!r} is not a valid IPv6 address") from None
        return
    if addrtype == "IP4" and _DOTTED.fullmatch(address):
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            raise SdpError(f"{what} {address!r} is not a valid IPv4 address") from None
        return
    if not _HOSTNAME.fullmatch(address):
        raise SdpError(f"{what} {address!r} is neither an {addrtype} address nor a host name")


def _is_multicast(addrtype: str, address: str) -> bool:
    try:
        ip = ipaddress.IPv4Address(address) if addrtype == "IP4" else ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return ip.is_multicast


@dataclass(slots=True)
class Connection:
    """c= line. IPv4 multicast carries a TTL and optional count (`224.2.1.1/127/3`);
    IPv6 multicast only a count (`ff15::101/3`), RFC 8866 §5.7."""

    address: str
    addrtype: str = "IP4"
    nettype: str = "IN"
    ttl: int | None = None
    count: int | None = None

    @classmethod
    def parse(cls, value: str) -> Connection:
        parts = value.split()
        if len(parts) != 3:
            raise SdpError(f"c= needs 3 fields (nettype addrtype address), got {len(parts)}")
        nettype, addrtype, spec = parts
        address, *extra = spec.split("/")
        _check_address(nettype, addrtype, address, "c= address")
        conn = cls(address, addrtype, nettype)
        if nettype != "IN" or addrtype not in ("IP4", "IP6"):
            if extra:  # unknown address family: keep the suffix as part of the address
                conn.address = spec
            return conn
        multicast = _is_multicast(addrtype, address)
        if extra and not multicast:
            raise SdpError(f"c= '/{'/'.join(extra)}' is only allowed after a multicast address")
        if addrtype == "IP4":
            if multicast and not extra:
                raise SdpError(f"c= IPv4 multicast address {address} needs a TTL (addr/ttl)")
            if len(extra) > 2:
                raise SdpError("c= IPv4 multicast takes at most addr/ttl/count")
            if extra:
                conn.ttl = _uint(extra[0], "c= TTL", 255)
            if len(extra) == 2:
                conn.count = _uint(extra[1], "c= address count")
        else:
            if len(extra) > 1:
                raise SdpError("c= IPv6 multicast takes at most addr/count (no TTL)")
            if extra:
                conn.count = _uint(extra[0], "c= address count")
        if conn.count == 0:
            raise SdpError("c= address count must be at least 1")
        return conn

    def __str__(self) -> str:
        text = f"{self.nettype} {self.addrtype} {self.address}"
        if self.ttl is not None:
            text += f"/{self.ttl}"
        if self.count is not None:
            text += f"/{self.count}"
        return text


@dataclass(slots=True)
class Bandwidth:
    """b= line, e.g. AS (kbit/s), CT (kbit/s), TIAS (bit/s, RFC 3890)."""

    type: str
    value: int

    @classmethod
    def parse(cls, value: str) -> Bandwidth:
        bwtype, sep, amount = value.partition(":")
        if not sep or not _TOKEN.fullmatch(bwtype):
            raise SdpError(f"b= must be <bwtype>:<bandwidth>, got {value!r}")
        return cls(bwtype, _uint(amount, f"b={bwtype} bandwidth"))

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


@dataclass(slots=True)
class Timing:
    """t= line and its r= repeat lines (kept as written)."""

    start: int = 0
    stop: int = 0
    repeats: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, value: str) -> Timing:
        parts = value.split()
        if len(parts) != 2:
            raise SdpError(f"t= needs 2 fields (start stop), got {len(parts)}")
        return cls(_uint(parts[0], "t= start time"), _uint(parts[1], "t= stop time"))


@dataclass(slots=True)
class Attribute:
    """a= line: `a=name` (flag, value None) or `a=name:value`."""

    name: str
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Attribute:
        name, sep, value = text.partition(":")
        if not _TOKEN.fullmatch(name):
            raise SdpError(f"a= attribute name {name!r} is not a token")
        return cls(name, value if sep else None)

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


# --------------------------------------------------------------------------- codecs


@dataclass(frozen=True, slots=True)
class Codec:
    """One RTP payload format of a media section (a=rtpmap + a=fmtp, or RFC 3551 static)."""

    payload_type: int
    name: str
    clock_rate: int
    channels: int = 1
    fmtp: str | None = None

    @property
    def rtpmap(self) -> str:
        """The a=rtpmap value, e.g. `PCMU/8000` or `opus/48000/2`."""
        tail = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.payload_type} {self.name}/{self.clock_rate}{tail}"

    @property
    def is_auxiliary(self) -> bool:
        """True for telephone-event and comfort noise, which accompany a voice codec."""
        return self.name.lower() in _AUXILIARY

    def same_format(self, other: Codec) -> bool:
        """Same encoding (name case-insensitive, RFC 4855), clock rate and channels."""
        return (
            self.name.lower() == other.name.lower()
            and self.clock_rate == other.clock_rate
            and self.channels == other.channels
        )


def codec(spec: str | Codec) -> Codec:
    """Resolve `"PCMU"`, `"G722"`, `"opus"`, `"name/clock[/channels]"` to a `Codec`.

    Static names get their RFC 3551 payload type; well-known dynamic codecs a
    conventional one (the offer builder renumbers on clashes).
    """
    if isinstance(spec, Codec):
        return spec
    name, *rest = spec.split("/")
    try:
        clock = int(rest[0]) if rest else None
        channels = int(rest[1]) if len(rest) > 1 else None
    except ValueError:
        raise SdpError(f"codec {spec!r}: expected name[/clock[/channels]]") from None
    if len(rest) > 2 or not name:
        raise SdpError(f"codec {spec!r}: expected name[/clock[/channels]]")
    for pt, (sname, sclock, schannels) in STATIC_PAYLOAD_TYPES.items():
        if (
            sname.lower() == name.lower()
            and clock in (None, sclock)
            and channels in (None, schannels)
        ):
            return Codec(pt, sname, sclock, schannels)
    known = _DYNAMIC_CODECS.get(name.lower())
    if known is not None:
        pt, kname, kclock, kchannels = known
        return Codec(pt, kname, clock or kclock, channels or kchannels)
    if clock is None:
        raise SdpError(f"unknown codec {name!r}: give it as name/clock[/channels]")
    return Codec(96, name, clock, channels or 1)


def parse_events(text: str) -> frozenset[int]:
    """RFC 4733 §2.4.1 event list, e.g. `0-15,66,70` -> set of event codes (0-255)."""
    events: set[int] = set()
    for item in text.replace(" ", "").split(","):
        low, sep, high = item.partition("-")
        first = _uint(low, "telephone-event code", 255)
        last = _uint(high, "telephone-event code", 255) if sep else first
        if last < first:
            raise SdpError(f"telephone-event range {item!r} runs backwards")
        events.update(range(first, last + 1))
    return frozenset(events)


def format_events(events: Iterable[int]) -> str:
    """Inverse of `parse_events`: compress sorted codes into ranges (`0-16`)."""
    codes = sorted(set(events))
    parts: list[str] = []
    i = 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        parts.append(str(codes[i]) if i == j else f"{codes[i]}-{codes[j]}")
        i = j + 1
    return ",".join(parts)


# --------------------------------------------------------------------------- crypto


@dataclass(frozen=True, slots=True)
class KeyParam:
    """One key-param of a=crypto (RFC 4568 §9): `inline:<key||salt>[|lifetime][|mki:len]`.

    For key methods other than `inline`, `key_salt` holds the whole key-info.
    """

    key_salt: str
    lifetime: str | None = None
    mki: tuple[int, int] | None = None
    method: str = "inline"

    @property
    def key_bytes(self) -> bytes:
        """Decoded master key || master salt (inline method only)."""
        return base64.b64decode(self.key_salt, validate=True)

    @property
    def lifetime_packets(self) -> int | None:
        """Lifetime in packets (`2^20` -> 1048576), or None when absent."""
        if self.lifetime is None:
            return None
        if self.lifetime.startswith("2^"):
            packets: int = 2 ** int(self.lifetime[2:])
            return packets
        return int(self.lifetime)

    @classmethod
    def parse(cls, text: str) -> KeyParam:
        method, sep, info = text.partition(":")
        if not sep or not method or not info:
            raise SdpError(f"a=crypto key-param {text!r} must be <method>:<info>")
        if method != "inline":
            return cls(info, method=method)
        key, *rest = info.split("|")
        if not _BASE64.fullmatch(key):
            raise SdpError(f"a=crypto inline key {key!r} is not base64")
        try:
            base64.b64decode(key, validate=True)
        except binascii.Error:
            raise SdpError(f"a=crypto inline key {key!r} is not valid base64") from None
        lifetime: str | None = None
        mki: tuple[int, int] | None = None
        if len(rest) > 2:
            raise SdpError(f"a=crypto key-param {text!r} has too many '|' fields")
        for part in rest:
            if ":" in part:
                value, _, length = part.partition(":")
                mki_len = _uint(length, "a=crypto MKI length", 128)
                if mki_len == 0:
                    raise SdpError("a=crypto MKI length must be 1-128")
                mki = (_uint(value, "a=crypto MKI value"), mki_len)
            elif mki is not None or lifetime is not None:
                raise SdpError(f"a=crypto lifetime {part!r} must come before the MKI, once")
            else:
                if part.startswith("2^"):  # bounded: lifetime_packets computes the power
                    _uint(part[2:], "a=crypto lifetime exponent", 64)
                else:
                    _uint(part, "a=crypto lifetime")
                lifetime = part
        return cls(key, lifetime, mki)

    def __str__(self) -> str:
        text = f"{self.method}:{self.key_salt}"
        if self.lifetime is not None:
            text += f"|{self.lifetime}"
        if self.mki is not None:
            text += f"|{self.mki[0]}:{self.mki[1]}"
        return text


@dataclass(frozen=True, slots=True)
class Crypto:
    """a=crypto (RFC 4568 §9): `tag suite key-params *(session-param)`."""

    tag: int
    suite: str
    key_params: tuple[KeyParam, ...]
    session_params: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: str) -> Crypto:
        parts = value.split()
        if len(parts) < 3:
            raise SdpError(f"a=crypto needs tag, crypto-suite and key-params, got {value!r}")
        tag_text, suite, keys, *session = parts
        if not _DIGITS.fullmatch(tag_text) or len(tag_text) > 9:
            raise SdpError(f"a=crypto tag {tag_text!r} must be 1-9 digits")
        if not _SUITE.fullmatch(suite):
            raise SdpError(f"a=crypto suite {suite!r} is not a crypto-suite name")
        params = tuple(KeyParam.parse(p) for p in keys.split(";"))
        need = SRTP_KEY_LENGTHS.get(suite)
        for p in params:
            if need is not None and p.method == "inline" and len(p.key_bytes) != need:
                raise SdpError(
                    f"a=crypto {suite} needs a {need}-byte key||salt, got {len(p.key_bytes)} bytes"
                )
        return cls(int(tag_text), suite, params, tuple(session))

    def __str__(self) -> str:
        text = f"{self.tag} {self.suite} {';'.join(str(p) for p in self.key_params)}"
        return " ".join([text, *self.session_params])


# --------------------------------------------------------------------------- media


def _is_rtp(proto: str) -> bool:
    return "RTP" in proto.upper().split("/")


def _number(text: str, what: str) -> float:
    if not _NUMBER.fullmatch(text.strip()):
        raise SdpError(f"{what} {text!r} is not a number of milliseconds")
    value = float(text)
    if value <= 0:
        raise SdpError(f"{what} must be positive")
    return value


@dataclass(slots=True)
class MediaDescription:
    """One m= section with its i=, c=, b=, k= and a= lines."""

    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    title: str | None = None
    connections: list[Connection] = field(default_factory=list)
    bandwidths: list[Bandwidth] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)

    @classmethod
    def parse_m_line(cls, value: str) -> MediaDescription:
        """Parse `<media> <port>[/<count>] <proto> <fmt> ...` (RFC 8866 §5.14)."""
        parts = value.split()
        if len(parts) < 4:
            raise SdpError(f"m= needs media, port, proto and at least one format, got {value!r}")
        media, port_spec, proto, *formats = parts
        if not _TOKEN.fullmatch(media):
            raise SdpError(f"m= media type {media!r} is not a token")
        port_text, sep, count_text = port_spec.partition("/")
        port = _uint(port_text, "m= port", 65535)
        count = _uint(count_text, "m= port count") if sep else None
        if count == 0:
            raise SdpError("m= port count must be at least 1")
        if not _PROTO.fullmatch(proto):
            raise SdpError(f"m= proto {proto!r} is not <token>[/<token>...]")
        if _is_rtp(proto):
            for fmt in formats:
                _uint(fmt, "m= RTP payload type", 127)
        return cls(media, port, proto, formats, count)

    def m_line(self) -> str:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        return " ".join([self.media, port, self.proto, *self.formats])

    # -- attribute access
    def attribute(self, name: str) -> str | None:
        """Value of the first attribute `name` ('' for a flag), None when absent."""
        for attr in self.attributes:
            if attr.name == name:
                return attr.value if attr.value is not None else ""
        return None

    def attributes_named(self, name: str) -> list[str | None]:
        return [a.value for a in self.attributes if a.name == name]

    def has(self, name: str) -> bool:
        return any(a.name == name for a in self.attributes)

    def add(self, name: str, value: str | None = None) -> None:
        self.attributes.append(Attribute(name, value))

    # -- typed views
    @property
    def rejected(self) -> bool:
        """Port 0: the stream is offered but not to be used, or rejected (RFC 3264 §6)."""
        return self.port == 0

    @property
    def is_rtp(self) -> bool:
        return _is_rtp(self.proto)

    @property
    def is_sdes_srtp(self) -> bool:
        """RTP/SAVP or RTP/SAVPF: SRTP keyed by a=crypto (not DTLS-SRTP's UDP/TLS/RTP/SAVP)."""
        return self.proto.upper() in ("RTP/SAVP", "RTP/SAVPF")

    @property
    def payload_types(self) -> list[int]:
        return [int(f) for f in self.formats] if self.is_rtp else []

    @property
    def codecs(self) -> list[Codec]:
        """Codecs in m= order, from a=rtpmap / a=fmtp or the RFC 3551 static table."""
        if not self.is_rtp:
            return []
        rtpmaps: dict[int, tuple[str, int, int]] = {}
        fmtps: dict[str, str] = {}
        for attr in self.attributes:
            if attr.name == "rtpmap" and attr.value is not None:
                pt, entry = _parse_rtpmap(attr.value)
                rtpmaps.setdefault(pt, entry)
            elif attr.name == "fmtp" and attr.value is not None:
                fmt, params = _parse_fmtp(attr.value)
                fmtps.setdefault(fmt, params)
        result = []
        for fmt in self.formats:
            pt = int(fmt)
            mapped = rtpmaps.get(pt) or STATIC_PAYLOAD_TYPES.get(pt)
            if mapped is None and self.rejected:
                continue  # a rejected stream may list formats it never maps
            if mapped is None:
                raise SdpError(f"payload type {pt} has neither an a=rtpmap nor a static assignment")
            result.append(Codec(pt, *mapped, fmtps.get(fmt)))
        return result

    @property
    def ptime(self) -> float | None:
        value = self.attribute("ptime")
        return None if value is None else float(value)

    @property
    def maxptime(self) -> float | None:
        value = self.attribute("maxptime")
        return None if value is None else float(value)

    @property
    def direction(self) -> str | None:
        """This section's own direction attribute, None when it inherits one."""
        for attr in self.attributes:
            if attr.name in DIRECTIONS:
                return attr.name
        return None

    @property
    def rtcp_mux(self) -> bool:
        return self.has("rtcp-mux")

    @property
    def cryptos(self) -> list[Crypto]:
        return [Crypto.parse(v) for v in self.attributes_named("crypto") if v is not None]

    @property
    def telephone_event(self) -> Codec | None:
        """The first RFC 4733 telephone-event format, None when DTMF events are not offered."""
        return next((c for c in self.codecs if c.name.lower() == "telephone-event"), None)

    @property
    def dtmf_events(self) -> frozenset[int]:
        """Event codes of telephone-event (RFC 4733 §2.4.1: 0-15 when no fmtp)."""
        te = self.telephone_event
        if te is None:
            return frozenset()
        return parse_events(te.fmtp) if te.fmtp else frozenset(range(16))


def _parse_rtpmap(value: str) -> tuple[int, tuple[str, int, int]]:
    pt_text, _, encoding = value.partition(" ")
    pt = _uint(pt_text, "a=rtpmap payload type", 127)
    parts = encoding.strip().split("/")
    if len(parts) not in (2, 3) or not parts[0]:
        raise SdpError(f"a=rtpmap {value!r} must be <pt> <name>/<clock>[/<channels>]")
    clock = _uint(parts[1], "a=rtpmap clock rate")
    channels = _uint(parts[2], "a=rtpmap channels") if len(parts) == 3 else 1
    if clock == 0 or channels == 0:
        raise SdpError(f"a=rtpmap {value!r}: clock rate and channels must be positive")
    return pt, (parts[0], clock, channels)


def _parse_fmtp(value: str) -> tuple[str, str]:
    fmt, sep, params = value.partition(" ")
    if not fmt or not sep or not params.strip():
        raise SdpError(f"a=fmtp {value!r} must be <format> <parameters>")
    return fmt, params.strip()


# --------------------------------------------------------------------------- session

_SESSION_ONCE = {"v", "o", "s", "i", "u", "c", "z", "k"}
_MEDIA_TYPES = {"m", "i", "c", "b", "k", "a"}
_KNOWN_TYPES = set("vosiuepcbtrzkam")


@dataclass(slots=True)
class SessionDescription:
    """A whole SDP body; `parse()` and `encode()` round-trip."""

    origin: Origin = field(default_factory=Origin)
    name: str = "-"
    version: int = 0
    info: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    times: list[Timing] = field(default_factory=lambda: [Timing()])
    time_zones: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)

    @property
    def direction(self) -> str:
        """Session-level direction; sendrecv when none is given (RFC 3264 §5.1)."""
        for attr in self.attributes:
            if attr.name in DIRECTIONS:
                return attr.name
        return "sendrecv"

    def direction_of(self, media: MediaDescription) -> str:
        """Effective direction of a media section: its own, else the session's."""
        return media.direction or self.direction

    def connection_of(self, media: MediaDescription) -> Connection | None:
        """Effective connection of a media section: its first c=, else the session's."""
        return media.connections[0] if media.connections else self.connection

    # -- encode
    def encode(self) -> bytes:
        """Serialise with CRLF line ends in RFC 8866 §5 field order."""
        lines = [f"v={self.version}", f"o={self.origin}", f"s={self.name}"]
        if self.info is not None:
            lines.append(f"i={self.info}")
        if self.uri is not None:
            lines.append(f"u={self.uri}")
        lines += [f"e={e}" for e in self.emails]
        lines += [f"p={p}" for p in self.phones]
        if self.connection is not None:
            lines.append(f"c={self.connection}")
        lines += [f"b={b}" for b in self.bandwidths]
        for timing in self.times:
            lines.append(f"t={timing.start} {timing.stop}")
            lines += [f"r={r}" for r in timing.repeats]
        if self.time_zones is not None:
            lines.append(f"z={self.time_zones}")
        if self.key is not None:
            lines.append(f"k={self.key}")
        lines += [f"a={a}" for a in self.attributes]
        for m in self.media:
            lines.append(f"m={m.m_line()}")
            if m.title is not None:
                lines.append(f"i={m.title}")
            lines += [f"c={c}" for c in m.connections]
            lines += [f"b={b}" for b in m.bandwidths]
            if m.key is not None:
                lines.append(f"k={m.key}")
            lines += [f"a={a}" for a in m.attributes]
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")

    # -- parse
    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse an SDP body (CRLF or bare LF). Raises `SdpError` naming the line."""
        if isinstance(data, bytes):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = data[: exc.start].count(b"\n") + 1
                raise SdpError(f"not UTF-8 (byte {exc.start})", line) from None
        else:
            text = data
        lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
        while lines and lines[-1] == "":
            lines.pop()
        if not lines:
            raise SdpError("empty session description", 1)
        return _Parser(lines).run()


class _Parser:
    """Line-by-line reader; one method per line type, dispatched by letter."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.sd = SessionDescription(times=[])
        self.seen: set[str] = set()
        self.media: MediaDescription | None = None
        self.media_seen: set[str] = set()
        self.m_line_no = 0
        self.attr_lines: list[int] = []
        self.prev = ""
        self.lineno = 0

    def run(self) -> SessionDescription:
        for lineno, line in enumerate(self.lines, 1):
            self.lineno = lineno
            try:
                self.line(line)
            except SdpError as exc:
                if exc.line is not None:
                    raise
                raise SdpError(exc.reason, self.lineno) from None
        self.finish_media()
        if not self.sd.times:
            raise SdpError("missing t= line", len(self.lines))
        return self.sd

    def line(self, line: str) -> None:
        if line == "":
            raise SdpError("empty line")
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"expected <type>=<value>, got {line[:40]!r}")
        kind, value = line[0], line[2:]
        if kind not in _KNOWN_TYPES:
            raise SdpError(f"unknown line type '{kind}='")
        expected = "vos"[self.lineno - 1] if self.lineno <= 3 else None
        if expected is not None and kind != expected:
            raise SdpError(
                f"expected {expected}= line here (v=, o=, s= must come first), got {kind}="
            )
        if kind == "m":
            self.start_media(value)
        elif self.media is not None:
            self.media_line(kind, value)
        else:
            self.session_line(kind, value)
        self.prev = kind

    def session_line(self, kind: str, value: str) -> None:
        sd = self.sd
        if kind in _SESSION_ONCE and kind in self.seen:
            raise SdpError(f"more than one session-level {kind}= line")
        self.seen.add(kind)
        if kind == "v":
            if value != "0":
                raise SdpError(f"unsupported SDP version v={value} (only v=0)")
        elif kind == "o":
            sd.origin = Origin.parse(value)
        elif kind == "s":
            sd.name = value
        elif kind == "i":
            sd.info = value
        elif kind == "u":
            sd.uri = value
        elif kind == "e":
            sd.emails.append(value)
        elif kind == "p":
            sd.phones.append(value)
        elif kind == "c":
            sd.connection = Connection.parse(value)
        elif kind == "b":
            sd.bandwidths.append(Bandwidth.parse(value))
        elif kind == "t":
            if "z" in self.seen:
                raise SdpError("t= after z= (z= follows all t=/r= lines)")
            sd.times.append(Timing.parse(value))
        elif kind == "r":
            if self.prev not in ("t", "r"):
                raise SdpError("r= must directly follow a t= or r= line")
            if not value.strip():
                raise SdpError("empty r= line")
            sd.times[-1].repeats.append(value)
        elif kind == "z":
            sd.time_zones = value
        elif kind == "k":
            sd.key = value
        else:  # "a"
            attr = Attribute.parse(value)
            _check_attribute(attr, None, self.sd.attributes)
            sd.attributes.append(attr)

    def start_media(self, value: str) -> None:
        if not self.sd.times:
            raise SdpError("m= before any t= line")
        self.finish_media()
        self.media = MediaDescription.parse_m_line(value)
        self.media_seen = set()
        self.m_line_no = self.lineno
        self.attr_lines = []
        self.sd.media.append(self.media)

    def media_line(self, kind: str, value: str) -> None:
        m = self.media
        assert m is not None
        if kind not in _MEDIA_TYPES:
            raise SdpError(
                f"{kind}= is a session-level line and cannot follow the m= on line {self.m_line_no}"
            )
        if kind in ("i", "k") and kind in self.media_seen:
            raise SdpError(
                f"more than one {kind}= line in the media section of line {self.m_line_no}"
            )
        self.media_seen.add(kind)
        if kind == "i":
            m.title = value
        elif kind == "c":
            m.connections.append(Connection.parse(value))
        elif kind == "b":
            m.bandwidths.append(Bandwidth.parse(value))
        elif kind == "k":
            m.key = value
        else:
            attr = Attribute.parse(value)
            _check_attribute(attr, m, m.attributes)
            m.attributes.append(attr)
            self.attr_lines.append(self.lineno)

    def finish_media(self) -> None:
        """Checks that need the whole section: rtpmap for dynamic PTs, c= somewhere."""
        m = self.media
        if m is None:
            return
        if not m.connections and self.sd.connection is None:
            raise SdpError(
                "media section has no c= line and there is no session-level c=", self.m_line_no
            )
        if not m.is_rtp:
            return
        mapped = {_parse_rtpmap(v)[0] for v in m.attributes_named("rtpmap") if v is not None}
        for pt in m.payload_types:
            if pt not in mapped and pt not in STATIC_PAYLOAD_TYPES and not m.rejected:
                raise SdpError(f"payload type {pt} in m= has no a=rtpmap", self.m_line_no)
        te_pts = {str(c.payload_type) for c in m.codecs if c.name.lower() == "telephone-event"}
        for attr, lineno in zip(m.attributes, self.attr_lines, strict=True):
            if attr.name == "fmtp" and attr.value is not None:
                fmt, params = _parse_fmtp(attr.value)
                if fmt in te_pts:
                    try:
                        parse_events(params)
                    except SdpError as exc:
                        raise SdpError(exc.reason, lineno) from None


def _check_attribute(
    attr: Attribute, media: MediaDescription | None, siblings: list[Attribute]
) -> None:
    """Validate the attributes the typed views read, so views never fail later."""
    name, value = attr.name, attr.value
    where = "media" if media is not None else "session"
    if name in DIRECTIONS or name == "rtcp-mux":
        if value is not None:
            raise SdpError(f"a={name} takes no value")
        if name in DIRECTIONS and any(a.name in DIRECTIONS for a in siblings):
            raise SdpError(f"more than one direction attribute at {where} level")
        return
    if name not in ("rtpmap", "fmtp", "ptime", "maxptime", "crypto"):
        return
    if value is None:
        raise SdpError(f"a={name} needs a value")
    if media is None:
        if name == "crypto":
            raise SdpError("a=crypto is a media-level attribute (RFC 4568 §9)")
        if name in ("rtpmap", "fmtp"):
            raise SdpError(f"a={name} is a media-level attribute")
    if name == "rtpmap":
        pt, _ = _parse_rtpmap(value)
        if any(
            a.name == "rtpmap" and a.value and _parse_rtpmap(a.value)[0] == pt for a in siblings
        ):
            raise SdpError(f"second a=rtpmap for payload type {pt}")
    elif name == "fmtp":
        fmt, _ = _parse_fmtp(value)
        if media is not None and media.is_rtp:
            _uint(fmt, "a=fmtp payload type", 127)
    elif name in ("ptime", "maxptime"):
        _number(value, f"a={name}")
    else:
        Crypto.parse(value)


# --------------------------------------------------------------------------- offer/answer


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _default_ptime(c: Codec) -> float:
    return _DEFAULT_PTIME.get(c.name.lower(), 20.0)


def _inline_crypto(
    tag: int, suite: str, key_source: Callable[[int], bytes], session: Sequence[str] = ()
) -> Crypto:
    length = SRTP_KEY_LENGTHS.get(suite)
    if length is None:
        raise SdpError(f"unknown SRTP suite {suite!r} (known: {', '.join(SRTP_KEY_LENGTHS)})")
    key = key_source(length)
    if len(key) != length:
        raise SdpError(f"key_source returned {len(key)} bytes, {suite} needs {length}")
    return Crypto(tag, suite, (KeyParam(base64.b64encode(key).decode("ascii")),), tuple(session))


def _add_codec_attributes(m: MediaDescription, codecs: Sequence[Codec]) -> None:
    for c in codecs:
        m.add("rtpmap", c.rtpmap)
        if c.fmtp:
            m.add("fmtp", f"{c.payload_type} {c.fmtp}")


def offer(
    codecs: Sequence[str | Codec],
    *,
    address: str,
    port: int,
    ptime: float | None = 20,
    srtp_suite: str | None = None,
    dtmf: bool = True,
    dtmf_events: str = "0-16",
    direction: str = "sendrecv",
    rtcp_mux: bool = False,
    media: str = "audio",
    username: str = "-",
    session_id: int = 0,
    session_version: int = 0,
    key_source: Callable[[int], bytes] = secrets.token_bytes,
) -> SessionDescription:
    """Build a one-stream offer (RFC 3264 §5) listing `codecs` in preference order.

    Dynamic payload types are numbered from each codec's conventional number, or
    the next free one in 96-127; DTMF adds telephone-event at the first codec's clock.
    """
    if not codecs:
        raise SdpError("an offer needs at least one codec")
    if direction not in DIRECTIONS:
        raise SdpError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    chosen: list[Codec] = []
    used: set[int] = set()

    def place(c: Codec) -> None:
        pt = c.payload_type
        if pt in used:
            pt = next((p for p in range(96, 128) if p not in used), -1)
            if pt < 0:
                raise SdpError("more than 32 dynamic payload types in one offer")
        used.add(pt)
        chosen.append(Codec(pt, c.name, c.clock_rate, c.channels, c.fmtp))

    for spec in codecs:
        place(codec(spec))
    if dtmf and not any(c.name.lower() == "telephone-event" for c in chosen):
        parse_events(dtmf_events)
        # RFC 4733 §2.1: events use the audio codec's clock; 8000 beside video.
        clock = chosen[0].clock_rate if chosen[0].clock_rate < 90000 else 8000
        place(Codec(101, "telephone-event", clock, 1, dtmf_events))
    proto = "RTP/SAVP" if srtp_suite else "RTP/AVP"
    m = MediaDescription(media, port, proto, [str(c.payload_type) for c in chosen])
    _add_codec_attributes(m, chosen)
    if ptime is not None:
        m.add("ptime", _format_ms(ptime))
    m.add(direction)
    if rtcp_mux:
        m.add("rtcp-mux")
    if srtp_suite:
        m.add("crypto", str(_inline_crypto(1, srtp_suite, key_source)))
    return SessionDescription(
        origin=Origin(username, session_id, session_version, "IN", _addrtype(address), address),
        connection=Connection(address, _addrtype(address)),
        media=[m],
    )


def _format_ms(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class Capabilities:
    """What the answering side supports; `codecs` (names or `Codec`s, normalised to a
    tuple of `Codec`) in any order: the offerer's order wins (RFC 3264 §6.1).
    `srtp_suites` are in our order of preference: an answer takes the first of them
    the offer has, and an offer we make proposes the first."""

    codecs: Sequence[Codec | str]
    dtmf: bool = True
    dtmf_events: frozenset[int] = frozenset(range(17))
    srtp_suites: tuple[str, ...] = ()
    srtp_required: bool = False
    ptime: float = 20
    min_ptime: float = 10
    max_ptime: float = 60
    direction: str = "sendrecv"
    rtcp_mux: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "codecs", tuple(codec(c) for c in self.codecs))
        object.__setattr__(self, "srtp_suites", tuple(self.srtp_suites))
        for suite in self.srtp_suites:
            if suite not in SRTP_KEY_LENGTHS:
                raise SdpError(f"unknown SRTP suite {suite!r}")
        if self.srtp_required and not self.srtp_suites:
            raise SdpError("srtp_required needs at least one srtp_suites entry")
        if self.direction not in DIRECTIONS:
            raise SdpError(f"direction {self.direction!r} is not one of {', '.join(DIRECTIONS)}")

    def supports(self, c: Codec) -> bool:
        return any(c.same_format(codec(mine)) for mine in self.codecs)


def _answer_direction(offered: str, local: str) -> str:
    """RFC 3264 §6.1: we send only if they receive, we receive only if they send."""
    they_send = offered in ("sendrecv", "sendonly")
    they_recv = offered in ("sendrecv", "recvonly")
    we_send = they_recv and local in ("sendrecv", "sendonly")
    we_recv = they_send and local in ("sendrecv", "recvonly")
    return {(True, True): "sendrecv", (True, False): "sendonly", (False, True): "recvonly"}.get(
        (we_send, we_recv), "inactive"
    )


def _rejected(m: MediaDescription) -> MediaDescription:
    """Port 0 answer to a stream: same formats (RFC 3264 §6 wants at least one), with
    their rtpmap lines so dynamic payload types stay well-formed."""
    rtpmaps = [a for a in m.attributes if a.name == "rtpmap"]
    return MediaDescription(m.media, 0, m.proto, list(m.formats), attributes=rtpmaps)


def answer(
    offer: SessionDescription,
    capabilities: Capabilities,
    *,
    address: str,
    port: int,
    single_codec: bool = False,
    username: str = "-",
    session_id: int = 0,
    session_version: int = 0,
    key_source: Callable[[int], bytes] = secrets.token_bytes,
) -> SessionDescription:
    """Answer `offer` per RFC 3264 §6 (and RFC 4568 §7.1.2 for SDES-SRTP).

    One m= per offered m=, same order, same transport profile (RTP/AVP answers
    RTP/AVP, RTP/SAVP answers RTP/SAVP). Per stream: common codecs in the offerer's
    order (only the first when `single_codec`), plus CN and telephone-event (with the
    offerer's payload type) when both sides have them; the offered ptime when it is
    within our range; the direction mirrored; for SRTP one `a=crypto`: the offered
    attribute (its tag) whose suite comes first in `capabilities.srtp_suites`, with a
    fresh key from `key_source` (RFC 4568 §7.1.2: never the offerer's). Streams with
    nothing in common, non-RTP streams and SRTP streams with no acceptable suite get
    port 0. Accepted streams use `port`, `port + 2`, ...

    Raises `NegotiationError` (the UAS answers 488, RFC 3261 §13.3.1.1) when SRTP is
    required and a stream does not offer it, or when no stream the offerer put in
    play (port != 0) can be accepted: an offer must be answered or refused, and an
    answer refusing every live stream is a refusal. An offer whose streams are all
    already at port 0 (a re-offer dropping media) is answered in kind.
    """
    result = SessionDescription(
        origin=Origin(username, session_id, session_version, "IN", _addrtype(address), address),
        connection=Connection(address, _addrtype(address)),
        times=[Timing(t.start, t.stop, list(t.repeats)) for t in offer.times],
    )
    next_port = port
    for index, om in enumerate(offer.media, 1):
        am = _answer_media(offer, om, capabilities, single_codec, key_source, index)
        if am is None:
            result.media.append(_rejected(om))
            continue
        am.port = next_port
        next_port += 2
        result.media.append(am)
    live = [om for om in offer.media if not om.rejected]
    if live and next_port == port:
        raise NegotiationError(
            "nothing in the offer is acceptable: "
            + "; ".join(_why_rejected(om, capabilities) for om in live)
        )
    return result


def _why_rejected(om: MediaDescription, caps: Capabilities) -> str:
    """One stream's reason for port 0, for the 488's error message."""
    if not om.is_rtp or om.proto.upper() not in _ANSWERABLE_PROTOS:
        return f"m={om.media} {om.proto} is not an RTP profile we answer"
    if om.is_sdes_srtp and not any(c.suite in caps.srtp_suites for c in om.cryptos):
        offered = ", ".join(c.suite for c in om.cryptos) or "no a=crypto"
        accepted = ", ".join(caps.srtp_suites) or "no SRTP"
        return f"m={om.media} {om.proto} offers {offered}, we accept {accepted}"
    names = ", ".join(c.name for c in om.codecs if not c.is_auxiliary) or "none"
    mine = ", ".join(codec(c).name for c in caps.codecs)
    return f"m={om.media} offers codecs {names}, we support {mine}"


_ANSWERABLE_PROTOS = ("RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF")


def _answer_media(
    offer: SessionDescription,
    om: MediaDescription,
    caps: Capabilities,
    single_codec: bool,
    key_source: Callable[[int], bytes],
    index: int,
) -> MediaDescription | None:
    """Answer one stream, or None to reject it with port 0."""
    if om.rejected or not om.is_rtp:
        return None
    if caps.srtp_required and not om.is_sdes_srtp:
        raise NegotiationError(f"m= #{index}: SRTP is required but the offer uses {om.proto}")
    if om.proto.upper() not in _ANSWERABLE_PROTOS:
        return None  # e.g. DTLS-SRTP (UDP/TLS/RTP/SAVP): not negotiated here
    crypto: Crypto | None = None
    if om.is_sdes_srtp:
        # RFC 4568 §7.1.2: accept exactly one offered attribute, keep its tag; among the
        # acceptable ones the answerer picks the suite it prefers (first offered on ties)
        acceptable = [c for c in om.cryptos if c.suite in caps.srtp_suites]
        chosen = min(acceptable, key=lambda c: caps.srtp_suites.index(c.suite), default=None)
        if chosen is None:
            if caps.srtp_required:
                suites = ", ".join(c.suite for c in om.cryptos) or "none"
                raise NegotiationError(
                    f"m= #{index}: no offered SRTP suite ({suites}) is acceptable "
                    f"(accepting {', '.join(caps.srtp_suites) or 'none'})"
                )
            return None
        crypto = _inline_crypto(chosen.tag, chosen.suite, key_source, chosen.session_params)

    offered = om.codecs
    voice = [c for c in offered if not c.is_auxiliary and caps.supports(c)]
    if not voice:
        return None
    if single_codec:
        voice = voice[:1]
    keep: list[Codec] = []
    for c in offered:
        lname = c.name.lower()
        comfort_noise = lname == "cn" and caps.supports(c) and c.clock_rate == voice[0].clock_rate
        if c in voice or comfort_noise:
            keep.append(c)
        elif lname == "telephone-event" and caps.dtmf:
            if any(k.name.lower() == "telephone-event" for k in keep):
                continue
            if c.clock_rate != voice[0].clock_rate:
                continue
            events = (parse_events(c.fmtp) if c.fmtp else frozenset(range(16))) & caps.dtmf_events
            if events:
                keep.append(
                    Codec(c.payload_type, c.name, c.clock_rate, c.channels, format_events(events))
                )
    am = MediaDescription(om.media, 0, om.proto, [str(c.payload_type) for c in keep])
    _add_codec_attributes(am, keep)
    if om.media == "audio":  # packetisation time is an audio notion (RFC 8866 §6.4)
        ptime = om.ptime
        if ptime is None or not caps.min_ptime <= ptime <= caps.max_ptime:
            ptime = caps.ptime
        if om.maxptime is not None:
            ptime = min(ptime, om.maxptime)
        am.add("ptime", _format_ms(ptime))
    am.add(_answer_direction(offer.direction_of(om), caps.direction))
    if om.rtcp_mux and caps.rtcp_mux:
        am.add("rtcp-mux")
    if crypto is not None:
        am.add("crypto", str(crypto))
    return am


@dataclass(frozen=True)
class Negotiated:
    """What a call ends up using: the input the media and bandwidth models need."""

    codec: Codec
    ptime: float
    srtp_suite: str | None
    dtmf: bool
    direction: str
    media_index: int

    @property
    def codec_name(self) -> str:
        return self.codec.name

    @property
    def clock_rate(self) -> int:
        return self.codec.clock_rate


def negotiated_codec(offer: SessionDescription, answer: SessionDescription) -> Negotiated | None:
    """The first codec both sides agreed on, in the first accepted RTP stream.

    None when every stream was rejected. ptime is the answer's, else the offer's,
    else the codec's RFC 3551 default.
    """
    if len(offer.media) != len(answer.media):
        raise SdpError(f"answer has {len(answer.media)} m= lines, the offer has {len(offer.media)}")
    for index, (om, am) in enumerate(zip(offer.media, answer.media, strict=True)):
        if am.rejected or om.rejected or not am.is_rtp:
            continue
        offered = om.codecs
        for c in am.codecs:
            if c.is_auxiliary or not any(c.same_format(o) for o in offered):
                continue
            both_te = am.telephone_event is not None and om.telephone_event is not None
            suite = None
            if am.is_sdes_srtp and am.cryptos:
                suite = am.cryptos[0].suite
            ptime = am.ptime or om.ptime or _default_ptime(c)
            return Negotiated(c, ptime, suite, both_te, answer.direction_of(am), index)
    return None
