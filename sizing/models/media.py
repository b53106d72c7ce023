"""Codec catalogue and RTP/SRTP/RTCP/DTMF bandwidth of a call.

Theory of operation: a codec (from ``models/codecs.yaml``) fixes the payload of one
RTP packet for a given bit rate and ptime; every packet then pays the same header
stack, outermost first: layer 2 (Ethernet, 802.1Q, wire preamble/gap or MP/FRF.12),
IP (20 B, or 40 B for IPv6), UDP 8 B, RTP 12 B (or 2 B for all three with cRTP),
and the SRTP authentication tag and MKI after the payload. Packets per second times
bytes per packet is the bandwidth. RTCP follows RFC 3550's interval rules, DTMF
follows RFC 4733's packet schedule, and :func:`call_bandwidth` adds them up over a
call in both directions; the simulator's fluid media model and the reports use it.

Every function here is pure: no I/O beyond reading the catalogue once per path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CATALOGUE_PATH",
    "L2_LAYERS",
    "SRTP_SUITES",
    "CallBandwidth",
    "Codec",
    "CodecRate",
    "DirectionBandwidth",
    "DtmfDigit",
    "RtcpInterval",
    "SrtpSuite",
    "StreamBandwidth",
    "call_bandwidth",
    "dtmf_digit",
    "load_catalogue",
    "rtcp_compound_bytes",
    "rtcp_interval",
    "srtcp_bytes",
    "stream_bandwidth",
]

CATALOGUE_PATH = Path(__file__).parents[2] / "models" / "codecs.yaml"

# --- header sizes ---------------------------------------------------------------
IPV4_HEADER = 20  # RFC 791, no options (Cisco doc 7934: IP 20 B)
IPV6_HEADER = 40  # RFC 8200 fixed header (reference README: IPv6 40 B instead of 20)
UDP_HEADER = 8  # RFC 768
RTP_HEADER = 12  # RFC 3550 section 5.1, no CSRC list, no header extension
CRTP_HEADER = 2  # Cisco doc 7934: cRTP compresses IP/UDP/RTP to 2 B (no UDP checksum)

ETHERNET_HEADER_FCS = 18  # Cisco doc 7934: 14 B header + 4 B FCS, no preamble or gap
DOT1Q_TAG = 4  # IEEE 802.1Q VLAN tag (reference README)
ETHERNET_WIRE_EXTRA = 20  # 7 B preamble + 1 B SFD + 12 B inter-frame gap (reference README)
ETHERNET_MIN_FRAME = 64  # IEEE 802.3 minimum frame, header to FCS; short frames are padded
MP_FRF12 = 7  # Cisco doc 7934: 6 B MP or FRF.12 header + 1 B end-of-frame flag

# --- RTCP (RFC 3550) -------------------------------------------------------------
RTCP_FRACTION = 0.05  # section 6.2: RTCP is 5 % of the session bandwidth
RTCP_SENDER_FRACTION = 0.25  # section 6.3.1 / A.7: senders' share when they are few
RTCP_MIN_INTERVAL_S = 5.0  # section 6.2: recommended minimum interval
RTCP_COMPENSATION = math.e - 1.5  # section 6.3.1: divide T by e - 3/2 = 1.21828
RTCP_HEADER = 8  # section 6.4.1: V/P/RC, PT, length (4 B) + sender SSRC (4 B)
RTCP_SENDER_INFO = 20  # section 6.4.1: NTP 8 + RTP timestamp 4 + packet and octet counts 8
RTCP_REPORT_BLOCK = 24  # section 6.4.1: one reception report block
RTCP_SDES_HEADER = 4  # section 6.5: V/P/SC, PT, length
RTCP_BYE = 8  # section 6.6: header + one SSRC, no reason text
CNAME_BYTES = 16  # RFC 7022 section 5: 96-bit random CNAME, base64 = 16 characters
SRTCP_INDEX = 4  # RFC 3711 section 3.4: E flag + 31-bit SRTCP index

# --- RFC 4733 telephone-event ------------------------------------------------------
EVENT_PAYLOAD = 4  # section 2.3: event, E/R/volume, 16-bit duration
EVENT_END_PACKETS = 3  # section 2.5.1.4: the end packet is sent three times
DEFAULT_DIGIT_MS = 100.0  # typical key press tone length; RFC 4733 leaves it to the sender

# --- AMR-WB (RFC 4867) -------------------------------------------------------------
AMR_CMR_BITS = 4  # section 4.3.1: codec mode request
AMR_TOC_BITS = 6  # section 4.3.2: F (1) + FT (4) + Q (1) per frame

MAX_MKI_BYTES = 128  # RFC 4568 section 6.1: MKI length 1-128 bytes


@dataclass(frozen=True)
class L2Layer:
    """Bytes a link layer adds to one IP packet."""

    name: str
    overhead: int
    min_frame: int = 0  # frames shorter than this (header to FCS) are padded
    wire_extra: int = 0  # preamble and gap, outside the minimum-frame rule


L2_LAYERS: dict[str, L2Layer] = {
    "ip": L2Layer("ip", 0),
    "ethernet": L2Layer("ethernet", ETHERNET_HEADER_FCS, ETHERNET_MIN_FRAME),
    "ethernet-vlan": L2Layer("ethernet-vlan", ETHERNET_HEADER_FCS + DOT1Q_TAG, ETHERNET_MIN_FRAME),
    "ethernet-wire": L2Layer(
        "ethernet-wire", ETHERNET_HEADER_FCS, ETHERNET_MIN_FRAME, ETHERNET_WIRE_EXTRA
    ),
    "ethernet-vlan-wire": L2Layer(
        "ethernet-vlan-wire",
        ETHERNET_HEADER_FCS + DOT1Q_TAG,
        ETHERNET_MIN_FRAME,
        ETHERNET_WIRE_EXTRA,
    ),
    "mp": L2Layer("mp", MP_FRF12),
}


@dataclass(frozen=True)
class SrtpSuite:
    """Per-packet bytes an SRTP crypto suite adds (before any MKI)."""

    name: str
    srtp_tag: int
    srtcp_tag: int
    srtcp_index: int = SRTCP_INDEX


# RFC 3711 section 4.2 / RFC 4568 section 6.2: HMAC-SHA1 tags of 80 or 32 bits on SRTP,
# always 80 bits on SRTCP (RFC 4568 section 6.2.2); RFC 6188 adds AES-192/256 with the
# same tags; RFC 7714 section 12: AEAD GCM suites carry a 16-byte tag on SRTP and SRTCP.
SRTP_SUITES: dict[str, SrtpSuite] = {
    s.name: s
    for s in (
        SrtpSuite("AES_CM_128_HMAC_SHA1_80", 10, 10),
        SrtpSuite("AES_CM_128_HMAC_SHA1_32", 4, 10),
        SrtpSuite("AES_192_CM_HMAC_SHA1_80", 10, 10),
        SrtpSuite("AES_192_CM_HMAC_SHA1_32", 4, 10),
        SrtpSuite("AES_256_CM_HMAC_SHA1_80", 10, 10),
        SrtpSuite("AES_256_CM_HMAC_SHA1_32", 4, 10),
        SrtpSuite("AEAD_AES_128_GCM", 16, 16),
        SrtpSuite("AEAD_AES_256_GCM", 16, 16),
    )
}

# ------------------------------------------------------------------------------------
# Catalogue
# ------------------------------------------------------------------------------------

PAYLOAD_FORMATS = ("frames", "amr", "cbr", "event")


@dataclass(frozen=True)
class CodecRate:
    """One bit rate (mode) of a codec and how it frames."""

    bitrate_kbps: float
    frame_ms: float
    frame_bits: int
    ptimes_ms: tuple[float, ...]
    default_ptime_ms: float
    sdp_name: str
    mode: int | None = None

    @property
    def frame_bytes(self) -> int:
        """Octets of one frame on its own (rounded up to whole octets)."""
        return -(-self.frame_bits // 8)


@dataclass(frozen=True)
class Codec:
    """A catalogue entry: how the codec is named in SDP and what it sends."""

    name: str
    description: str
    rtpmap: str
    rtp_clock_hz: int
    static_payload_type: int | None
    payload_format: str
    ptimes_ms: tuple[float, ...]
    default_ptime_ms: float
    default_bitrate_kbps: float | None
    rates: tuple[CodecRate, ...]
    bitrate_range_kbps: tuple[float, float] | None
    aliases: tuple[str, ...]
    source: str

    @property
    def sdp_name(self) -> str:
        """The encoding name of the rtpmap (e.g. ``G729``)."""
        return self.rtpmap.split("/")[0]

    def rate(self, bitrate_kbps: float) -> CodecRate:
        """The rate entry for ``bitrate_kbps`` (0.01 kbit/s tolerance, e.g. 13.33)."""
        for r in self.rates:
            if abs(r.bitrate_kbps - bitrate_kbps) < 0.01:
                return r
        valid = ", ".join(_fmt(r.bitrate_kbps) for r in self.rates)
        raise ValueError(
            f"codec {self.name}: bit rate {_fmt(bitrate_kbps)} kbit/s is not offered; "
            f"valid bit rates (kbit/s): {valid}"
        )


def _fmt(x: float) -> str:
    return f"{x:g}"


class _Fields:
    """Reads one mapping of the catalogue with errors naming file, entry and field."""

    def __init__(self, where: str, data: Any):
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
        self.where, self.data = where, data

    def get(
        self,
        key: str,
        kind: type | tuple[type, ...],
        *,
        required: bool = True,
        default: Any = None,
        nullable: bool = False,
    ) -> Any:
        if key not in self.data:
            if required:
                raise ValueError(f"{self.where}: missing field '{key}'")
            return default
        if self.data[key] is None:
            if required and not nullable:
                raise ValueError(f"{self.where}: field '{key}' must not be null")
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ValueError(f"{self.where}: field '{key}' has invalid value {value!r}")
        return value

    def number(self, key: str, *, required: bool = True, default: Any = None) -> Any:
        value = self.get(key, (int, float), required=required, default=default)
        if value is not None and value < 0:
            raise ValueError(f"{self.where}: field '{key}' must not be negative, got {value!r}")
        return value

    def numbers(self, key: str, *, required: bool = True) -> tuple[float, ...] | None:
        value = self.get(key, list, required=required)
        if value is None:
            return None
        if not value or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in value
        ):
            raise ValueError(f"{self.where}: field '{key}' must be a list of positive numbers")
        return tuple(float(v) for v in value)


def _is_multiple(value: float, step: float) -> bool:
    n = value / step
    return abs(n - round(n)) < 1e-9 and round(n) >= 1


def _parse_codec(path: Path, name: str, data: Any) -> Codec:
    f = _Fields(f"{path}: codec '{name}'", data)
    fmt = f.get("payload_format", str)
    if fmt not in PAYLOAD_FORMATS:
        raise ValueError(
            f"{f.where}: payload_format {fmt!r} is not one of {', '.join(PAYLOAD_FORMATS)}"
        )
    rtpmap = f.get("rtpmap", str)
    ptimes = f.numbers("ptimes_ms")
    default_ptime = float(f.number("default_ptime_ms"))
    rates: list[CodecRate] = []
    for i, raw in enumerate(f.get("rates", list, required=fmt in ("frames", "amr"), default=[])):
        r = _Fields(f"{f.where}: rates[{i}]", raw)
        frame_ms = float(r.number("frame_ms"))
        r_ptimes = r.numbers("ptimes_ms", required=False) or ptimes
        rate = CodecRate(
            bitrate_kbps=float(r.number("bitrate_kbps")),
            frame_ms=frame_ms,
            frame_bits=r.get("frame_bits", int),
            ptimes_ms=r_ptimes,
            default_ptime_ms=float(
                r.number("default_ptime_ms", required=False, default=default_ptime)
            ),
            sdp_name=r.get("sdp_name", str, required=False, default=rtpmap.split("/")[0]),
            mode=r.get("mode", int, required=False),
        )
        if rate.frame_bits <= 0 or frame_ms <= 0:
            raise ValueError(f"{r.where}: frame_ms and frame_bits must be positive")
        bad = [p for p in rate.ptimes_ms if not _is_multiple(p, frame_ms)]
        if bad:
            raise ValueError(
                f"{r.where}: ptimes {bad} are not whole multiples of frame_ms {frame_ms:g}"
            )
        if rate.default_ptime_ms not in rate.ptimes_ms:
            raise ValueError(
                f"{r.where}: default ptime {rate.default_ptime_ms:g} not in its ptimes_ms"
            )
        rates.append(rate)
    if fmt in ("frames", "amr") and not rates:
        raise ValueError(f"{f.where}: field 'rates' must list at least one rate")
    brange = f.numbers("bitrate_range_kbps", required=fmt == "cbr")
    if brange is not None and (len(brange) != 2 or brange[0] > brange[1]):
        raise ValueError(f"{f.where}: bitrate_range_kbps must be [min, max]")
    default_br = f.number("default_bitrate_kbps", required=fmt != "event")
    codec = Codec(
        name=name,
        description=f.get("description", str),
        rtpmap=rtpmap,
        rtp_clock_hz=f.get("rtp_clock_hz", int),
        static_payload_type=f.get("static_payload_type", int, nullable=True),
        payload_format=fmt,
        ptimes_ms=ptimes,
        default_ptime_ms=default_ptime,
        default_bitrate_kbps=None if default_br is None else float(default_br),
        rates=tuple(rates),
        bitrate_range_kbps=None if brange is None else (brange[0], brange[1]),
        aliases=tuple(str(a) for a in f.get("aliases", list, required=False, default=[])),
        source=f.get("source", str),
    )
    if default_ptime not in ptimes:
        raise ValueError(f"{f.where}: default_ptime_ms {default_ptime:g} is not in ptimes_ms")
    if codec.rates and default_br is not None:
        codec.rate(float(default_br))  # the default bit rate must be one of the rates
    return codec


@lru_cache(maxsize=8)
def _load(path: Path) -> dict[str, Codec]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"codec catalogue {path}: cannot read ({exc.strerror})") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"codec catalogue {path}: invalid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("codecs"), dict):
        raise ValueError(f"codec catalogue {path}: top level must be a mapping with 'codecs'")
    return {str(n): _parse_codec(path, str(n), d) for n, d in doc["codecs"].items()}


def load_catalogue(path: str | Path | None = None) -> dict[str, Codec]:
    """The codec catalogue by name; ``path`` overrides ``models/codecs.yaml``."""
    return dict(_load(Path(path) if path is not None else CATALOGUE_PATH))


def _codec(codec: str | Codec, catalogue: str | Path | None) -> Codec:
    if isinstance(codec, Codec):
        return codec
    codecs = _load(Path(catalogue) if catalogue is not None else CATALOGUE_PATH)
    key = str(codec).casefold()
    for c in codecs.values():
        if key == c.name.casefold() or key in (a.casefold() for a in c.aliases):
            return c
    raise ValueError(f"unknown codec {codec!r}; valid codecs: {', '.join(sorted(codecs))}")


# ------------------------------------------------------------------------------------
# One RTP stream
# ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamBandwidth:
    """One direction of one RTP stream.

    ``packet_bytes`` is the IP packet (IP + UDP + RTP + payload + SRTP tag and MKI), or
    the cRTP-compressed packet when ``crtp``; ``l2_bytes_per_packet`` adds the link
    layer. ``pps``, ``ip_kbps`` and ``l2_kbps`` are averages with voice activity
    applied; ``active_pps`` is the rate while talking.
    """

    codec: str
    bitrate_kbps: float
    ptime_ms: float
    frames_per_packet: int | None
    payload_bytes: int
    header_bytes: int
    srtp_bytes: int
    packet_bytes: int
    l2_bytes_per_packet: int
    active_pps: float
    pps: float
    ip_kbps: float
    l2_kbps: float
    l2: str
    srtp: str | None
    vad: float | None


def _l2_layer(l2: str) -> L2Layer:
    try:
        return L2_LAYERS[l2]
    except KeyError:
        raise ValueError(f"unknown l2 {l2!r}; valid layers: {', '.join(L2_LAYERS)}") from None


def _srtp_suite(srtp: str | None, mki_bytes: int) -> SrtpSuite | None:
    if (
        not isinstance(mki_bytes, int)
        or isinstance(mki_bytes, bool)
        or not (0 <= mki_bytes <= MAX_MKI_BYTES)
    ):
        raise ValueError(f"mki_bytes must be an integer 0-{MAX_MKI_BYTES}, got {mki_bytes!r}")
    if srtp is None:
        if mki_bytes:
            raise ValueError("mki_bytes needs an SRTP suite (srtp=...)")
        return None
    try:
        return SRTP_SUITES[srtp]
    except KeyError:
        raise ValueError(
            f"unknown SRTP suite {srtp!r}; valid suites: {', '.join(SRTP_SUITES)}"
        ) from None


def _ip_header(ip_version: int) -> int:
    if ip_version == 4:
        return IPV4_HEADER
    if ip_version == 6:
        return IPV6_HEADER
    raise ValueError(f"ip_version must be 4 or 6, got {ip_version!r}")


def _l2_frame(layer: L2Layer, ip_bytes: int) -> int:
    """Bytes of one IP packet of ``ip_bytes`` once framed by ``layer``."""
    return max(layer.min_frame, ip_bytes + layer.overhead) + layer.wire_extra


@dataclass(frozen=True)
class _Framing:
    header: int  # IP + UDP + RTP, or the cRTP header
    srtp: int  # tag + MKI
    layer: L2Layer

    @classmethod
    def of(
        cls, *, l2: str, srtp: str | None, mki_bytes: int, ip_version: int, crtp: bool
    ) -> _Framing:
        layer = _l2_layer(l2)
        suite = _srtp_suite(srtp, mki_bytes)
        ip = _ip_header(ip_version)
        if crtp and layer.name not in ("mp", "ip"):
            raise ValueError(
                f"crtp=True needs a point-to-point link layer (l2='mp' or 'ip'), not l2={l2!r}"
            )
        header = CRTP_HEADER if crtp else ip + UDP_HEADER + RTP_HEADER
        tag = 0 if suite is None else suite.srtp_tag + mki_bytes
        return cls(header, tag, layer)

    def packet(self, payload: int) -> int:
        return self.header + payload + self.srtp

    def frame(self, payload: int) -> int:
        return _l2_frame(self.layer, self.packet(payload))


def _check_vad(vad: float | None) -> float:
    if vad is None:
        return 1.0
    if isinstance(vad, bool) or not isinstance(vad, int | float) or not 0 < vad <= 1:
        raise ValueError(f"vad must be a voice-activity fraction in (0, 1], got {vad!r}")
    return float(vad)


def _payload(
    codec: Codec, bitrate_kbps: float | None, ptime_ms: float | None, octet_align: bool
) -> tuple[float, float, int | None, int]:
    """(bit rate, ptime, frames per packet, payload bytes) for a codec choice."""
    if octet_align and codec.payload_format != "amr":
        raise ValueError(f"octet_align applies to AMR-WB only, not to codec {codec.name}")
    if ptime_ms is not None and (
        isinstance(ptime_ms, bool) or not isinstance(ptime_ms, int | float)
    ):
        raise ValueError(f"codec {codec.name}: ptime_ms must be a number, got {ptime_ms!r}")

    def check_ptime(
        chosen: float | None, default: float, ptimes: tuple[float, ...], what: str
    ) -> float:
        value = default if chosen is None else chosen
        if not any(abs(value - p) < 1e-9 for p in ptimes):
            raise ValueError(
                f"codec {what}: ptime {_fmt(value)} ms is not allowed; "
                f"valid ptimes (ms): {', '.join(_fmt(p) for p in ptimes)}"
            )
        return float(value)

    if codec.payload_format == "event":
        if bitrate_kbps is not None:
            raise ValueError(f"codec {codec.name} has no bit rate to choose")
        ptime = check_ptime(ptime_ms, codec.default_ptime_ms, codec.ptimes_ms, codec.name)
        return EVENT_PAYLOAD * 8 / ptime, ptime, None, EVENT_PAYLOAD

    if codec.payload_format == "cbr":
        assert codec.bitrate_range_kbps is not None and codec.default_bitrate_kbps is not None
        lo, hi = codec.bitrate_range_kbps
        br = codec.default_bitrate_kbps if bitrate_kbps is None else bitrate_kbps
        if isinstance(br, bool) or not isinstance(br, int | float) or not lo <= br <= hi:
            raise ValueError(
                f"codec {codec.name}: bit rate {br!r} kbit/s is out of range; "
                f"valid bit rates: {_fmt(lo)}-{_fmt(hi)} kbit/s"
            )
        ptime = check_ptime(ptime_ms, codec.default_ptime_ms, codec.ptimes_ms, codec.name)
        # CBR: every packet carries bit rate x ptime, whole octets (libopus rounds down).
        return float(br), ptime, None, math.floor(br * ptime / 8 + 1e-9)

    if bitrate_kbps is not None:
        if isinstance(bitrate_kbps, bool) or not isinstance(bitrate_kbps, int | float):
            raise ValueError(
                f"codec {codec.name}: bitrate_kbps must be a number, got {bitrate_kbps!r}"
            )
        rate = codec.rate(bitrate_kbps)
    else:
        assert codec.default_bitrate_kbps is not None
        rate = codec.rate(codec.default_bitrate_kbps)
        if ptime_ms is not None and not any(abs(ptime_ms - p) < 1e-9 for p in rate.ptimes_ms):
            # e.g. iLBC with ptime 30: pick the mode whose frames fit the ptime.
            fitting = [r for r in codec.rates if any(abs(ptime_ms - p) < 1e-9 for p in r.ptimes_ms)]
            rate = fitting[0] if fitting else rate
    what = f"{codec.name} at {_fmt(rate.bitrate_kbps)} kbit/s"
    ptime = check_ptime(ptime_ms, rate.default_ptime_ms, rate.ptimes_ms, what)
    n = round(ptime / rate.frame_ms)
    if codec.payload_format == "amr":
        if octet_align:
            # RFC 4867 section 4.4: CMR octet, one ToC octet per frame, each frame padded.
            payload = 1 + n + n * rate.frame_bytes
        else:
            # RFC 4867 section 4.3: 4-bit CMR, 6-bit ToC per frame, frames back to back,
            # the whole payload padded to an octet boundary.
            payload = -(-(AMR_CMR_BITS + n * (AMR_TOC_BITS + rate.frame_bits)) // 8)
    else:
        payload = -(-(n * rate.frame_bits) // 8)
    return rate.bitrate_kbps, ptime, n, payload


def stream_bandwidth(
    codec: str | Codec,
    *,
    bitrate_kbps: float | None = None,
    ptime_ms: float | None = None,
    l2: str = "ethernet",
    srtp: str | None = None,
    mki_bytes: int = 0,
    ip_version: int = 4,
    crtp: bool = False,
    vad: float | None = None,
    octet_align: bool = False,
    catalogue: str | Path | None = None,
) -> StreamBandwidth:
    """Bandwidth of one direction of an RTP stream.

    ``codec`` is a catalogue name or alias (case-insensitive); ``bitrate_kbps`` and
    ``ptime_ms`` default to the codec's defaults. ``l2`` is one of :data:`L2_LAYERS`:
    "ip" (no link layer), "ethernet" (18 B), "ethernet-vlan" (22 B), "ethernet-wire"
    (18 B + 20 B preamble and gap), "ethernet-vlan-wire" or "mp" (MP/FRF.12, 7 B);
    Ethernet frames are padded to the 64 B minimum. ``srtp`` is an RFC 4568 suite
    name from :data:`SRTP_SUITES`, ``mki_bytes`` the MKI length. ``crtp`` compresses
    IP/UDP/RTP to 2 B (point-to-point links only). ``octet_align`` selects RFC 4867's
    octet-aligned AMR-WB format (the default is bandwidth-efficient, as in SDP).

    ``vad`` is the voice-activity fraction: silence sends no packets at all (comfort
    noise and SID frames are not counted), so the average packet rate is the active
    rate times ``vad``. Opus is assumed constant bit rate.
    """
    c = _codec(codec, catalogue)
    activity = _check_vad(vad)
    framing = _Framing.of(l2=l2, srtp=srtp, mki_bytes=mki_bytes, ip_version=ip_version, crtp=crtp)
    br, ptime, frames, payload = _payload(c, bitrate_kbps, ptime_ms, octet_align)
    active_pps = 1000.0 / ptime
    pps = active_pps * activity
    packet = framing.packet(payload)
    frame = framing.frame(payload)
    return StreamBandwidth(
        codec=c.name,
        bitrate_kbps=br,
        ptime_ms=ptime,
        frames_per_packet=frames,
        payload_bytes=payload,
        header_bytes=framing.header,
        srtp_bytes=framing.srtp,
        packet_bytes=packet,
        l2_bytes_per_packet=frame,
        active_pps=active_pps,
        pps=pps,
        ip_kbps=packet * 8 * pps / 1000,
        l2_kbps=frame * 8 * pps / 1000,
        l2=l2,
        srtp=srtp,
        vad=vad,
    )


# ------------------------------------------------------------------------------------
# RTCP (RFC 3550 sections 6.2, 6.3 and appendix A.7)
# ------------------------------------------------------------------------------------


def rtcp_compound_bytes(
    *,
    sender: bool = True,
    report_blocks: int = 1,
    cname_bytes: int = CNAME_BYTES,
    bye: bool = False,
) -> int:
    """RTCP bytes (no UDP/IP) of a compound packet: SR or RR, SDES CNAME, optional BYE.

    A two-party call has one report block (about the other side's stream); the CNAME
    defaults to RFC 7022's 16-character random identifier. The SDES chunk is SSRC,
    type and length octets, the text and at least one null octet, padded to 32 bits
    (RFC 3550 section 6.5).
    """
    if report_blocks < 0 or report_blocks > 31:
        raise ValueError(f"report_blocks must be 0-31 (5-bit RC field), got {report_blocks}")
    if not 1 <= cname_bytes <= 255:
        raise ValueError(f"cname_bytes must be 1-255 (8-bit SDES length), got {cname_bytes}")
    report = RTCP_HEADER + (RTCP_SENDER_INFO if sender else 0) + RTCP_REPORT_BLOCK * report_blocks
    chunk = 4 + 2 + cname_bytes + 1
    sdes = RTCP_SDES_HEADER + -(-chunk // 4) * 4
    return report + sdes + (RTCP_BYE if bye else 0)


def srtcp_bytes(srtp: str | None, mki_bytes: int = 0) -> int:
    """Bytes SRTCP adds to each compound RTCP packet (index + tag + MKI)."""
    suite = _srtp_suite(srtp, mki_bytes)
    return 0 if suite is None else suite.srtcp_index + suite.srtcp_tag + mki_bytes


@dataclass(frozen=True)
class RtcpInterval:
    """RFC 3550 RTCP report interval for one participant, in seconds.

    ``deterministic_s`` is Td (section 6.3.1 before randomisation, minimum applied);
    each actual interval is drawn from ``[low_s, high_s]`` = Td x [0.5, 1.5] / (e - 1.5);
    ``mean_s`` is the long-run average interval.
    """

    deterministic_s: float
    low_s: float
    high_s: float
    mean_s: float
    min_interval_s: float
    rtcp_bw_bytes_s: float


def rtcp_interval(
    *,
    session_bw_kbps: float,
    avg_rtcp_bytes: float,
    members: int = 2,
    senders: int = 2,
    we_sent: bool = True,
    initial: bool = False,
    rtcp_fraction: float = RTCP_FRACTION,
    reduced_minimum: bool = False,
    reconsideration: bool = True,
) -> RtcpInterval:
    """Report interval by RFC 3550 appendix A.7 (``rtcp_interval()``).

    ``session_bw_kbps`` is the session bandwidth at the IP level (sum of the active
    senders, IP/UDP included, section 6.2) and ``avg_rtcp_bytes`` the average compound
    packet size with UDP and IP headers (section 6.3.3). RTCP gets ``rtcp_fraction``
    of it; when senders are at most a quarter of members they share 25 % of that and
    receivers 75 %. The minimum is 5 s, 2.5 s before the first report (``initial``),
    or with ``reduced_minimum`` 360 / session kbit/s (section 6.2) when smaller.

    The randomised interval is Td x U[0.5, 1.5] / (e - 1.5). With timer
    reconsideration (section 6.3.6, mandatory in RFC 3550) and a stable membership the
    interval is the last of a run of draws each longer than the previous, whose mean
    is Td x (e - 1.5) / (e - 1.5) = Td: the compensation cancels exactly, so
    ``mean_s`` = Td. Without reconsideration (``reconsideration=False``) the mean is
    Td / (e - 1.5), 18 % shorter.
    """
    if not session_bw_kbps > 0:
        raise ValueError(f"session_bw_kbps must be positive, got {session_bw_kbps!r}")
    if not avg_rtcp_bytes > 0:
        raise ValueError(f"avg_rtcp_bytes must be positive, got {avg_rtcp_bytes!r}")
    if members < 1 or not 0 <= senders <= members:
        raise ValueError(f"need members >= 1 and 0 <= senders <= members, got {members}, {senders}")
    if we_sent and senders == 0:
        raise ValueError("we_sent=True needs senders >= 1")
    if not 0 < rtcp_fraction <= 1:
        raise ValueError(f"rtcp_fraction must be in (0, 1], got {rtcp_fraction!r}")
    if initial:
        t_min = RTCP_MIN_INTERVAL_S / 2
    elif reduced_minimum:
        t_min = min(RTCP_MIN_INTERVAL_S, 360.0 / session_bw_kbps)
    else:
        t_min = RTCP_MIN_INTERVAL_S
    rtcp_bw = session_bw_kbps * 1000 / 8 * rtcp_fraction  # bytes per second
    n = members
    if senders <= members * RTCP_SENDER_FRACTION:
        if we_sent:
            rtcp_bw *= RTCP_SENDER_FRACTION
            n = senders
        else:
            rtcp_bw *= 1 - RTCP_SENDER_FRACTION
            n = members - senders
    td = max(t_min, avg_rtcp_bytes * n / rtcp_bw)
    mean = td if reconsideration else td / RTCP_COMPENSATION
    return RtcpInterval(
        deterministic_s=td,
        low_s=td * 0.5 / RTCP_COMPENSATION,
        high_s=td * 1.5 / RTCP_COMPENSATION,
        mean_s=mean,
        min_interval_s=t_min,
        rtcp_bw_bytes_s=rtcp_bw,
    )


# ------------------------------------------------------------------------------------
# DTMF (RFC 4733)
# ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DtmfDigit:
    """Packets and bytes of one RFC 4733 digit in one direction."""

    packets: int
    payload_bytes: int
    packet_bytes: int
    l2_bytes_per_packet: int
    ip_bytes: int
    l2_bytes: int


def dtmf_digit(
    *,
    digit_ms: float = DEFAULT_DIGIT_MS,
    spacing_ms: float = 50.0,
    l2: str = "ethernet",
    srtp: str | None = None,
    mki_bytes: int = 0,
    ip_version: int = 4,
    crtp: bool = False,
) -> DtmfDigit:
    """One digit: an event packet every ``spacing_ms`` while the tone lasts
    (section 2.5.1.2: the audio packet spacing, 50 ms when none applies), then the end
    packet three times (section 2.5.1.4). Each carries the 4 B event payload.
    """
    if not digit_ms > 0 or not spacing_ms > 0:
        raise ValueError(
            f"digit_ms and spacing_ms must be positive, got {digit_ms!r}, {spacing_ms!r}"
        )
    framing = _Framing.of(l2=l2, srtp=srtp, mki_bytes=mki_bytes, ip_version=ip_version, crtp=crtp)
    packets = math.ceil(digit_ms / spacing_ms - 1e-9) + EVENT_END_PACKETS
    packet = framing.packet(EVENT_PAYLOAD)
    frame = framing.frame(EVENT_PAYLOAD)
    return DtmfDigit(packets, EVENT_PAYLOAD, packet, frame, packets * packet, packets * frame)


# ------------------------------------------------------------------------------------
# A whole call
# ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CallTotals:
    """Packets and bytes of media, RTCP and DTMF over a call, with their averages."""

    media_packets: float
    rtcp_packets: float
    dtmf_packets: float
    media_bytes: float
    rtcp_bytes: float
    dtmf_bytes: float
    total_packets: float
    total_bytes: float
    avg_kbps: float
    avg_pps: float


@dataclass(frozen=True)
class DirectionBandwidth(_CallTotals):
    """One direction of a two-party call over the call's ``duration_s``: the media,
    RTCP and DTMF one side sends, framed with that direction's SRTP suite."""

    srtp: str | None
    """The SRTP suite of this direction (None: plain RTP)."""
    media: StreamBandwidth


@dataclass(frozen=True)
class CallBandwidth(_CallTotals):
    """Both directions of a two-party call over ``duration_s``.

    Byte totals are at the chosen layer (``media.l2``; "ip" gives IP-level bytes).
    ``avg_kbps`` and ``avg_pps`` are totals divided by the duration, both directions.
    ``forward`` (A to B, framed with ``srtp``) and ``reverse`` (B to A, framed with
    ``srtp_reverse``) split the totals by direction; ``media``, ``rtcp_packet_bytes``
    and ``dtmf_digit`` describe the forward direction.
    """

    duration_s: float
    media: StreamBandwidth
    rtcp_interval_s: float
    rtcp_packet_bytes: int
    rtcp_bye_packet_bytes: int
    dtmf_digit: DtmfDigit | None
    forward: DirectionBandwidth
    reverse: DirectionBandwidth


def call_bandwidth(
    codec: str | Codec,
    *,
    duration_s: float,
    bitrate_kbps: float | None = None,
    ptime_ms: float | None = None,
    l2: str = "ethernet",
    srtp: str | None = None,
    srtp_reverse: str | None = None,
    mki_bytes: int = 0,
    ip_version: int = 4,
    crtp: bool = False,
    vad: float | None = None,
    octet_align: bool = False,
    digits: int = 0,
    digit_ms: float = DEFAULT_DIGIT_MS,
    rtcp: bool = True,
    rtcp_session_bw_kbps: float | None = None,
    catalogue: str | Path | None = None,
) -> CallBandwidth:
    """Media + RTCP + DTMF of a two-party call, both directions, as expected values.

    Media: one stream each way (see :func:`stream_bandwidth`), the forward one (A to B)
    framed with ``srtp`` and the reverse one with ``srtp_reverse`` when given (a peer
    that sends AES_CM_128_HMAC_SHA1_80 and receives _32: 10 B of tag one way, 4 B the
    other), else with ``srtp`` too; a call is SRTP both ways or neither, so
    ``srtp_reverse`` needs ``srtp``. RTCP: each side sends a sender report with one
    report block and an SDES CNAME (SRTCP with its direction's suite; cRTP does not
    compress RTCP), first after the mean initial interval, then every mean interval of
    :func:`rtcp_interval` (two members, two senders, session bandwidth = both streams
    at the IP level unless ``rtcp_session_bw_kbps`` is given, average compound size
    over both sides), and a final compound with BYE (section 6.6). DTMF: ``digits``
    RFC 4733 digits in total, counted half each way (who presses them is left open),
    spaced at the audio ptime and counted on top of the audio (an upper bound: some
    senders pause audio during an event).
    """
    if isinstance(duration_s, bool) or not isinstance(duration_s, int | float) or duration_s < 0:
        raise ValueError(f"duration_s must be a non-negative number, got {duration_s!r}")
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
        raise ValueError(f"digits must be a non-negative integer, got {digits!r}")
    if srtp_reverse is not None and srtp is None:
        raise ValueError("srtp_reverse needs srtp: a call is SRTP in both directions or in neither")
    spec = StreamSpec(codec, bitrate_kbps, ptime_ms, l2, mki_bytes, ip_version, crtp, vad,
                      octet_align, catalogue)
    suites = (srtp, srtp if srtp_reverse is None else srtp_reverse)
    streams = [spec.stream(suite) for suite in suites]
    rtcp_plan = _RtcpPlan.of(spec, suites, streams, duration_s, rtcp_session_bw_kbps) if rtcp else _NO_RTCP
    digit_of: list[DtmfDigit | None] = [None, None]
    if digits:
        digit_of = [spec.digit(suite, s.ptime_ms, digit_ms) for s, suite in zip(streams, suites, strict=True)]
    forward, reverse = (
        _direction(suite, s, frames, rtcp_plan, digit, digits, duration_s)
        for suite, s, frames, digit in zip(suites, streams, rtcp_plan.frames, digit_of, strict=True)
    )
    return _both(forward, reverse, duration_s, rtcp_plan, digit_of[0])


@dataclass(frozen=True)
class StreamSpec:
    """What frames a call's media streams besides the SRTP suite, which can differ by
    direction: the options :func:`call_bandwidth` hands to each of its streams."""

    codec: str | Codec
    bitrate_kbps: float | None = None
    ptime_ms: float | None = None
    l2: str = "ethernet"
    mki_bytes: int = 0
    ip_version: int = 4
    crtp: bool = False
    vad: float | None = None
    octet_align: bool = False
    catalogue: str | Path | None = None

    def stream(self, srtp: str | None) -> StreamBandwidth:
        """One direction's stream, framed with ``srtp``."""
        return stream_bandwidth(
            self.codec, bitrate_kbps=self.bitrate_kbps, ptime_ms=self.ptime_ms, l2=self.l2,
            srtp=srtp, mki_bytes=self.mki_bytes, ip_version=self.ip_version, crtp=self.crtp,
            vad=self.vad, octet_align=self.octet_align, catalogue=self.catalogue,
        )

    def digit(self, srtp: str | None, spacing_ms: float, digit_ms: float) -> DtmfDigit:
        """One RFC 4733 digit in the direction framed with ``srtp``."""
        return dtmf_digit(digit_ms=digit_ms, spacing_ms=spacing_ms, l2=self.l2, srtp=srtp,
                          mki_bytes=self.mki_bytes, ip_version=self.ip_version, crtp=self.crtp)


@dataclass(frozen=True)
class _RtcpPlan:
    """RTCP over a call: each side's report and BYE frame sizes, and how many reports
    each side sends (one interval for both sides)."""

    frames: tuple[tuple[int, int], tuple[int, int]]
    per_side: float
    byes: float
    interval_s: float

    @classmethod
    def of(cls, spec: StreamSpec, suites: tuple[str | None, str | None], streams: list[StreamBandwidth],
           duration_s: float, session_bw_kbps: float | None) -> _RtcpPlan:
        """RFC 3550 6.3.3: the interval from the average compound size over the packets
        sent and received; each side's own packet size."""
        layer = _l2_layer(spec.l2)
        ip_udp = _ip_header(spec.ip_version) + UDP_HEADER
        frames, ips = [], []
        for suite in suites:
            extra = srtcp_bytes(suite, spec.mki_bytes)
            report_ip = ip_udp + rtcp_compound_bytes() + extra
            bye_ip = ip_udp + rtcp_compound_bytes(bye=True) + extra
            frames.append((_l2_frame(layer, report_ip), _l2_frame(layer, bye_ip)))
            ips.append(report_ip)
        mean_ip = sum(ips) / 2
        session = session_bw_kbps
        if session is None:
            session = sum(s.packet_bytes * 8 * s.active_pps / 1000 for s in streams)
        regular = rtcp_interval(session_bw_kbps=session, avg_rtcp_bytes=mean_ip)
        first = rtcp_interval(session_bw_kbps=session, avg_rtcp_bytes=mean_ip, initial=True)
        per_side = 1 + (duration_s - first.mean_s) / regular.mean_s if duration_s >= first.mean_s else 0.0
        byes = 1 if duration_s > 0 else 0  # the BYE compound ends each side's session
        return cls((frames[0], frames[1]), per_side, byes, regular.mean_s)


_NO_RTCP = _RtcpPlan(((0, 0), (0, 0)), 0.0, 0.0, 0.0)


def _per_second(amount: float, duration_s: float) -> float:
    return amount / duration_s if duration_s else 0.0


def _direction(suite: str | None, s: StreamBandwidth, frames: tuple[int, int], rtcp: _RtcpPlan,
               digit: DtmfDigit | None, digits: int, duration_s: float) -> DirectionBandwidth:
    """What one side sends over the call: media, its RTCP and half the digits."""
    media_packets = s.pps * duration_s
    media_bytes = media_packets * s.l2_bytes_per_packet
    rtcp_packets = rtcp.per_side + rtcp.byes
    rtcp_bytes = rtcp.per_side * frames[0] + rtcp.byes * frames[1]
    dtmf_packets = digits / 2 * digit.packets if digit else 0.0
    dtmf_bytes = digits / 2 * digit.l2_bytes if digit else 0.0
    packets = media_packets + rtcp_packets + dtmf_packets
    nbytes = media_bytes + rtcp_bytes + dtmf_bytes
    return DirectionBandwidth(
        srtp=suite, media=s, media_packets=media_packets, rtcp_packets=rtcp_packets,
        dtmf_packets=dtmf_packets, media_bytes=media_bytes, rtcp_bytes=rtcp_bytes,
        dtmf_bytes=dtmf_bytes, total_packets=packets, total_bytes=nbytes,
        avg_kbps=_per_second(nbytes * 8 / 1000, duration_s), avg_pps=_per_second(packets, duration_s),
    )


def _both(forward: DirectionBandwidth, reverse: DirectionBandwidth, duration_s: float,
          rtcp: _RtcpPlan, digit: DtmfDigit | None) -> CallBandwidth:
    """The call: both directions summed; the forward one describes its packets."""
    total_packets = forward.total_packets + reverse.total_packets
    total_bytes = forward.total_bytes + reverse.total_bytes
    return CallBandwidth(
        duration_s=float(duration_s),
        media=forward.media,
        rtcp_interval_s=rtcp.interval_s,
        rtcp_packet_bytes=rtcp.frames[0][0],
        rtcp_bye_packet_bytes=rtcp.frames[0][1],
        dtmf_digit=digit,
        media_packets=forward.media_packets + reverse.media_packets,
        rtcp_packets=forward.rtcp_packets + reverse.rtcp_packets,
        dtmf_packets=forward.dtmf_packets + reverse.dtmf_packets,
        media_bytes=forward.media_bytes + reverse.media_bytes,
        rtcp_bytes=forward.rtcp_bytes + reverse.rtcp_bytes,
        dtmf_bytes=forward.dtmf_bytes + reverse.dtmf_bytes,
        total_packets=total_packets,
        total_bytes=total_bytes,
        avg_kbps=_per_second(total_bytes * 8 / 1000, duration_s),
        avg_pps=_per_second(total_packets, duration_s),
        forward=forward,
        reverse=reverse,
    )
