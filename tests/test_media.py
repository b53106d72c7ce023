"""Tests for sizing.models.media: codec catalogue, RTP/SRTP bandwidth, RTCP, DTMF, call totals."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from sizing.models import media
from sizing.models.media import (
    call_bandwidth,
    dtmf_digit,
    load_catalogue,
    rtcp_compound_bytes,
    rtcp_interval,
    srtcp_bytes,
    stream_bandwidth,
)

# Cisco "Voice Over IP - Per Call Bandwidth Consumption" (doc 7934), one direction:
# codec, bit rate, ptime, payload B, pps, MP/FRF.12 kbps, cRTP (over MP) kbps, Ethernet kbps.
# The first seven rows are the published table; G.722 and the iLBC rows are computed the
# way the document computes its rows (its formula and header sizes).
CISCO_7934 = [
    ("PCMU", 64, 20, 160, 50.0, 82.8, 67.6, 87.2),
    ("G729", 8, 20, 20, 50.0, 26.8, 11.6, 31.2),
    ("G723", 6.3, 30, 24, 33.3, 18.9, 8.8, 21.9),
    ("G723", 5.3, 30, 20, 33.3, 17.9, 7.7, 20.8),
    ("G726", 32, 20, 80, 50.0, 50.8, 35.6, 55.2),
    ("G726", 24, 20, 60, 50.0, 42.8, 27.6, 47.2),
    ("G728", 16, 30, 60, 33.3, 28.5, 18.4, 31.5),
    ("G722", 64, 20, 160, 50.0, 82.8, 67.6, 87.2),
    ("iLBC", 15.2, 20, 38, 50.0, 34.0, 18.8, 38.4),
    ("iLBC", 13.33, 30, 50, 33.3, 25.9, 15.7, 28.8),
]
COLUMNS = {"mp": {"l2": "mp"}, "crtp": {"l2": "mp", "crtp": True}, "ethernet": {"l2": "ethernet"}}


def _row_id(row: tuple) -> str:
    return f"{row[0]}-{row[1]:g}k-{row[2]}ms"


@pytest.mark.parametrize("column", list(COLUMNS))
@pytest.mark.parametrize("row", CISCO_7934, ids=_row_id)
def test_cisco_table_kbps(row: tuple, column: str) -> None:
    codec, rate, ptime, *_ = row
    expected = dict(zip(COLUMNS, row[5:], strict=True))[column]
    s = stream_bandwidth(codec, bitrate_kbps=rate, ptime_ms=ptime, **COLUMNS[column])
    assert abs(s.l2_kbps - expected) <= 0.05 + 1e-9


@pytest.mark.parametrize("row", CISCO_7934, ids=_row_id)
def test_cisco_table_payload_and_pps(row: tuple) -> None:
    codec, rate, ptime, payload, pps, *_ = row
    s = stream_bandwidth(codec, bitrate_kbps=rate, ptime_ms=ptime)
    assert (s.payload_bytes, round(s.pps, 1)) == (payload, pps)


@pytest.mark.parametrize(
    ("alias", "canonical"), [("PCMA", "PCMU"), ("G729A", "G729"), ("g.711", "PCMU")]
)
def test_same_bandwidth_as_canonical_codec(alias: str, canonical: str) -> None:
    assert stream_bandwidth(alias).l2_kbps == stream_bandwidth(canonical).l2_kbps


def test_alias_resolves_to_catalogue_name() -> None:
    assert stream_bandwidth("g729ab").codec == "G729"


# --- catalogue ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "pt", "clock"),
    [
        ("PCMU", 0, 8000),
        ("PCMA", 8, 8000),
        ("G722", 9, 8000),
        ("G729", 18, 8000),
        ("G723", 4, 8000),
        ("G728", 15, 8000),
        ("G726", None, 8000),
        ("iLBC", None, 8000),
        ("opus", None, 48000),
        ("AMR-WB", None, 16000),
        ("telephone-event", None, 8000),
    ],
)
def test_catalogue_payload_type_and_clock(codec: str, pt: int | None, clock: int) -> None:
    c = load_catalogue()[codec]
    assert (c.static_payload_type, c.rtp_clock_hz) == (pt, clock)


def test_g726_rates_have_their_own_sdp_names() -> None:
    names = [r.sdp_name for r in load_catalogue()["G726"].rates]
    assert names == ["G726-16", "G726-24", "G726-32", "G726-40"]


def test_frame_codecs_carry_their_nominal_bit_rate() -> None:
    # Payload bits per ptime equal the nominal rate, except G.723.1 6.3 whose 189-bit
    # frame is padded to 24 octets (6.4 kbit/s on the wire).
    for c in load_catalogue().values():
        if c.payload_format != "frames":
            continue
        for r in c.rates:
            for p in r.ptimes_ms:
                s = stream_bandwidth(c, bitrate_kbps=r.bitrate_kbps, ptime_ms=p)
                carried = s.payload_bytes * 8 / p
                assert r.bitrate_kbps <= carried + 0.01 <= r.bitrate_kbps * 1.02 + 0.01, (c.name, p)


def test_catalogue_override_path(tmp_path: Path) -> None:
    f = tmp_path / "codecs.yaml"
    f.write_text(
        "codecs:\n  X1:\n    description: test\n    rtpmap: X1/8000\n    rtp_clock_hz: 8000\n"
        "    static_payload_type: null\n    payload_format: frames\n    ptimes_ms: [20]\n"
        "    default_ptime_ms: 20\n    default_bitrate_kbps: 8\n"
        "    rates: [{bitrate_kbps: 8, frame_ms: 10, frame_bits: 80}]\n    source: test\n"
    )
    assert stream_bandwidth("x1", catalogue=f).payload_bytes == 20


def test_catalogue_error_names_file_codec_and_field(tmp_path: Path) -> None:
    f = tmp_path / "codecs.yaml"
    f.write_text("codecs:\n  X1:\n    description: test\n    rtpmap: X1/8000\n")
    with pytest.raises(
        ValueError, match=r"codecs\.yaml: codec 'X1': missing field 'payload_format'"
    ):
        load_catalogue(f)


def test_catalogue_rejects_null_required_field(tmp_path: Path) -> None:
    f = tmp_path / "codecs.yaml"
    f.write_text(
        "codecs:\n  X1:\n    description: test\n    rtpmap: X1/8000\n    rtp_clock_hz: null\n"
        "    static_payload_type: null\n    payload_format: frames\n    ptimes_ms: [20]\n"
        "    default_ptime_ms: 20\n    default_bitrate_kbps: 8\n"
        "    rates: [{bitrate_kbps: 8, frame_ms: 10, frame_bits: 80}]\n    source: test\n"
    )
    with pytest.raises(ValueError, match=r"codec 'X1': field 'rtp_clock_hz' must not be null"):
        load_catalogue(f)


def test_catalogue_rejects_ptime_not_multiple_of_frame(tmp_path: Path) -> None:
    f = tmp_path / "codecs.yaml"
    f.write_text(
        "codecs:\n  X1:\n    description: test\n    rtpmap: X1/8000\n    rtp_clock_hz: 8000\n"
        "    static_payload_type: null\n    payload_format: frames\n    ptimes_ms: [25]\n"
        "    default_ptime_ms: 25\n    default_bitrate_kbps: 8\n"
        "    rates: [{bitrate_kbps: 8, frame_ms: 10, frame_bits: 80}]\n    source: test\n"
    )
    with pytest.raises(
        ValueError, match=r"codec 'X1': rates\[0\]: ptimes \[25.0\] are not whole multiples"
    ):
        load_catalogue(f)


# --- layers, IPv6, SRTP, cRTP, VAD --------------------------------------------------


@pytest.mark.parametrize(
    ("l2", "kbps"),
    [
        ("ip", 80.0),
        ("ethernet", 87.2),
        ("ethernet-vlan", 88.8),
        ("ethernet-wire", 95.2),
        ("ethernet-vlan-wire", 96.8),
        ("mp", 82.8),
    ],
)
def test_g711_per_layer(l2: str, kbps: float) -> None:
    assert stream_bandwidth("PCMU", l2=l2).l2_kbps == pytest.approx(kbps)


def test_ipv6_adds_20_bytes_per_packet() -> None:
    v4, v6 = stream_bandwidth("G729"), stream_bandwidth("G729", ip_version=6)
    assert (v6.packet_bytes - v4.packet_bytes, v6.l2_kbps) == (20, pytest.approx(39.2))


def test_ethernet_pads_short_frames_to_64_bytes() -> None:
    s = stream_bandwidth("telephone-event", ptime_ms=20)
    w = stream_bandwidth("telephone-event", ptime_ms=20, l2="ethernet-wire")
    assert (s.packet_bytes, s.l2_bytes_per_packet, w.l2_bytes_per_packet) == (44, 64, 84)


@pytest.mark.parametrize(
    ("suite", "tag"),
    [
        ("AES_CM_128_HMAC_SHA1_80", 10),
        ("AES_CM_128_HMAC_SHA1_32", 4),
        ("AEAD_AES_128_GCM", 16),
        ("AES_256_CM_HMAC_SHA1_80", 10),
        ("AEAD_AES_256_GCM", 16),
    ],
)
def test_srtp_adds_tag_per_packet(suite: str, tag: int) -> None:
    plain, secure = stream_bandwidth("PCMU"), stream_bandwidth("PCMU", srtp=suite)
    assert secure.packet_bytes - plain.packet_bytes == tag


def test_srtp_mki_adds_its_length() -> None:
    s = stream_bandwidth("PCMU", srtp="AES_CM_128_HMAC_SHA1_80", mki_bytes=4)
    assert (s.srtp_bytes, s.packet_bytes) == (14, 214)


def test_srtp_80_on_g711_ethernet_kbps() -> None:
    assert stream_bandwidth("PCMU", srtp="AES_CM_128_HMAC_SHA1_80").l2_kbps == pytest.approx(91.2)


@pytest.mark.parametrize(
    ("suite", "mki", "extra"),
    [
        ("AES_CM_128_HMAC_SHA1_80", 0, 14),
        ("AES_CM_128_HMAC_SHA1_32", 0, 14),
        ("AEAD_AES_128_GCM", 0, 20),
        ("AES_CM_128_HMAC_SHA1_32", 2, 16),
        (None, 0, 0),
    ],
)
def test_srtcp_index_and_tag(suite: str | None, mki: int, extra: int) -> None:
    assert srtcp_bytes(suite, mki) == extra


def test_crtp_with_srtp_keeps_tag() -> None:
    s = stream_bandwidth("G729", l2="mp", crtp=True, srtp="AES_CM_128_HMAC_SHA1_32")
    assert (s.header_bytes, s.packet_bytes, s.l2_bytes_per_packet) == (2, 26, 33)


def test_vad_scales_packet_rate_only() -> None:
    full, talk = stream_bandwidth("G729"), stream_bandwidth("G729", vad=0.6)
    assert (talk.active_pps, talk.pps, talk.l2_kbps) == (
        50.0,
        30.0,
        pytest.approx(full.l2_kbps * 0.6),
    )


# --- Opus and AMR-WB ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kbps", "ptime", "payload", "pps"),
    [
        (24, 20, 60, 50.0),
        (510, 20, 1275, 50.0),
        (6, 60, 45, pytest.approx(16.667, abs=1e-3)),
        (32, 2.5, 10, 400.0),
        (12.5, 10, 15, 100.0),
    ],
)
def test_opus_cbr_payload(kbps: float, ptime: float, payload: int, pps: float) -> None:
    s = stream_bandwidth("opus", bitrate_kbps=kbps, ptime_ms=ptime)
    assert (s.payload_bytes, s.pps) == (payload, pps)


def test_opus_24k_20ms_ethernet_kbps() -> None:
    assert stream_bandwidth("opus", bitrate_kbps=24).l2_kbps == pytest.approx(47.2)


# Per mode: kbit/s, bandwidth-efficient payload (ceil((4 + 6 + bits) / 8)),
# octet-aligned payload (1 CMR + 1 ToC + ceil(bits / 8)), frame bits from TS 26.190.
AMR_WB = [
    (6.6, 132, 18, 19),
    (8.85, 177, 24, 25),
    (12.65, 253, 33, 34),
    (14.25, 285, 37, 38),
    (15.85, 317, 41, 42),
    (18.25, 365, 47, 48),
    (19.85, 397, 51, 52),
    (23.05, 461, 59, 60),
    (23.85, 477, 61, 62),
]


@pytest.mark.parametrize(("kbps", "bits", "be", "oa"), AMR_WB)
def test_amr_wb_bandwidth_efficient_payload(kbps: float, bits: int, be: int, oa: int) -> None:
    assert stream_bandwidth("AMR-WB", bitrate_kbps=kbps).payload_bytes == be


@pytest.mark.parametrize(("kbps", "bits", "be", "oa"), AMR_WB)
def test_amr_wb_octet_aligned_payload(kbps: float, bits: int, be: int, oa: int) -> None:
    assert stream_bandwidth("AMR-WB", bitrate_kbps=kbps, octet_align=True).payload_bytes == oa


@pytest.mark.parametrize(("kbps", "bits", "be", "oa"), AMR_WB)
def test_amr_wb_catalogue_frame_bits(kbps: float, bits: int, be: int, oa: int) -> None:
    assert load_catalogue()["AMR-WB"].rate(kbps).frame_bits == bits


def test_amr_wb_two_frames_per_packet() -> None:
    # 40 ms of 23.85: BE 4 + 2 x (6 + 477) = 970 bits -> 122 B; OA 1 + 2 + 2 x 60 = 123 B.
    be = stream_bandwidth("AMR-WB", bitrate_kbps=23.85, ptime_ms=40)
    oa = stream_bandwidth("AMR-WB", bitrate_kbps=23.85, ptime_ms=40, octet_align=True)
    assert (be.frames_per_packet, be.payload_bytes, oa.payload_bytes) == (2, 122, 123)


def test_ilbc_ptime_30_selects_30_ms_mode() -> None:
    s = stream_bandwidth("iLBC", ptime_ms=30)
    assert (s.bitrate_kbps, s.payload_bytes) == (13.33, 50)


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"codec": "G999"},
            r"unknown codec 'G999'; valid codecs: AMR-WB, G722, G723, G726, G728, G729, PCMA, PCMU",
        ),
        (
            {"codec": "G726", "bitrate_kbps": 20},
            r"codec G726: bit rate 20 kbit/s is not offered; valid bit rates \(kbit/s\): 16, 24, 32, 40",
        ),
        (
            {"codec": "G729", "ptime_ms": 25},
            r"ptime 25 ms is not allowed; valid ptimes \(ms\): 10, 20, 30, 40, 50, 60",
        ),
        (
            {"codec": "iLBC", "bitrate_kbps": 15.2, "ptime_ms": 30},
            r"iLBC at 15.2 kbit/s: ptime 30 ms is not allowed; valid ptimes \(ms\): 20, 40, 60",
        ),
        ({"codec": "opus", "bitrate_kbps": 600}, r"valid bit rates: 6-510 kbit/s"),
        (
            {"codec": "PCMU", "l2": "atm"},
            r"unknown l2 'atm'; valid layers: ip, ethernet, ethernet-vlan",
        ),
        (
            {"codec": "PCMU", "srtp": "NULL_CIPHER"},
            r"unknown SRTP suite 'NULL_CIPHER'; valid suites: AES_CM_128_HMAC_SHA1_80",
        ),
        ({"codec": "PCMU", "ip_version": 5}, r"ip_version must be 4 or 6"),
        ({"codec": "PCMU", "vad": 0}, r"vad must be a voice-activity fraction in \(0, 1\]"),
        ({"codec": "PCMU", "crtp": True}, r"crtp=True needs a point-to-point link layer"),
        ({"codec": "PCMU", "mki_bytes": 4}, r"mki_bytes needs an SRTP suite"),
        ({"codec": "PCMU", "octet_align": True}, r"octet_align applies to AMR-WB only"),
    ],
)
def test_invalid_choice_raises_listing_valid_ones(kwargs: dict, message: str) -> None:
    codec = kwargs.pop("codec")
    with pytest.raises(ValueError, match=message):
        stream_bandwidth(codec, **kwargs)


# --- RTCP --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "size"),
    [
        ({}, 80),
        ({"sender": False}, 60),
        ({"bye": True}, 88),
        ({"report_blocks": 0}, 56),
        ({"cname_bytes": 17}, 80),
        ({"cname_bytes": 18}, 84),
    ],
)
def test_rtcp_compound_size(kwargs: dict, size: int) -> None:
    assert rtcp_compound_bytes(**kwargs) == size


def test_rtcp_two_party_call_hits_5_s_floor() -> None:
    r = rtcp_interval(session_bw_kbps=160, avg_rtcp_bytes=108)
    assert (r.deterministic_s, r.mean_s, r.rtcp_bw_bytes_s) == (5.0, 5.0, 1000.0)


def test_rtcp_first_report_floor_is_2_5_s() -> None:
    assert (
        rtcp_interval(session_bw_kbps=160, avg_rtcp_bytes=108, initial=True).deterministic_s == 2.5
    )


def test_rtcp_randomisation_bounds_include_compensation() -> None:
    r = rtcp_interval(session_bw_kbps=160, avg_rtcp_bytes=108)
    assert (r.low_s, r.high_s) == (
        pytest.approx(2.5 / 1.21828, rel=1e-5),
        pytest.approx(7.5 / 1.21828, rel=1e-5),
    )


def test_rtcp_without_reconsideration_mean_is_compensated() -> None:
    r = rtcp_interval(session_bw_kbps=160, avg_rtcp_bytes=108, reconsideration=False)
    assert r.mean_s == pytest.approx(5 / (math.e - 1.5))


def test_rtcp_large_group_scales_with_members() -> None:
    # 16 kbit/s -> 2000 B/s, 5 % = 100 B/s; 4 of 8 members send (> 25 %): 8 x 100 B / 100 B/s.
    r = rtcp_interval(session_bw_kbps=16, avg_rtcp_bytes=100, members=8, senders=4)
    assert r.deterministic_s == pytest.approx(8.0)


def test_rtcp_receiver_share_when_few_senders() -> None:
    # 64 kbit/s -> 400 B/s of RTCP, receivers get 75 % = 300 B/s shared by 99 receivers.
    r = rtcp_interval(session_bw_kbps=64, avg_rtcp_bytes=100, members=100, senders=1, we_sent=False)
    assert r.deterministic_s == pytest.approx(33.0)


def test_rtcp_sender_share_when_few_senders() -> None:
    # The single sender gets 25 % = 100 B/s of 400 B/s: 1 x 800 B / 100 B/s = 8 s.
    r = rtcp_interval(session_bw_kbps=64, avg_rtcp_bytes=800, members=100, senders=1, we_sent=True)
    assert r.deterministic_s == pytest.approx(8.0)


def test_rtcp_reduced_minimum() -> None:
    r = rtcp_interval(session_bw_kbps=160, avg_rtcp_bytes=108, reduced_minimum=True)
    assert r.deterministic_s == pytest.approx(360 / 160)


def test_rtcp_reconsideration_mean_equals_deterministic_interval() -> None:
    # Simulate RFC 3550 section 6.3.6 timer reconsideration with stable membership:
    # at each expiry draw a new interval; send if it is not longer than the time elapsed.
    r = rtcp_interval(session_bw_kbps=160, avg_rtcp_bytes=108)
    rng = random.Random(3550)

    def draw() -> float:
        return r.deterministic_s * (rng.random() + 0.5) / (math.e - 1.5)

    total, reports = 0.0, 20000
    for _ in range(reports):
        elapsed = draw()
        while (t := draw()) > elapsed:
            elapsed = t
        total += elapsed
    assert total / reports == pytest.approx(r.mean_s, rel=0.01)


def test_rtcp_rejects_more_senders_than_members() -> None:
    with pytest.raises(ValueError, match="senders <= members"):
        rtcp_interval(session_bw_kbps=64, avg_rtcp_bytes=100, members=2, senders=3)


# --- DTMF ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "packets", "l2_bytes"),
    [
        ({"spacing_ms": 20}, 8, 8 * 64),
        ({"spacing_ms": 50}, 5, 5 * 64),
        ({"digit_ms": 160, "spacing_ms": 50}, 7, 7 * 64),
        ({"spacing_ms": 20, "srtp": "AES_CM_128_HMAC_SHA1_80"}, 8, 8 * 72),
        ({"spacing_ms": 20, "l2": "ip"}, 8, 8 * 44),
        ({"spacing_ms": 20, "l2": "ip", "ip_version": 6}, 8, 8 * 64),
    ],
)
def test_dtmf_digit_packets_and_bytes(kwargs: dict, packets: int, l2_bytes: int) -> None:
    d = dtmf_digit(**kwargs)
    assert (d.packets, d.l2_bytes) == (packets, l2_bytes)


# --- whole call --------------------------------------------------------------------------


def test_call_media_bytes_both_directions() -> None:
    c = call_bandwidth("PCMU", duration_s=180)
    assert (c.media_packets, c.media_bytes) == (18000, 18000 * 218)


def test_call_rtcp_reports_and_bye() -> None:
    # Per side: first report at 2.5 s, then every 5 s -> 1 + 177.5 / 5 = 36.5, plus BYE.
    c = call_bandwidth("PCMU", duration_s=180)
    assert (c.rtcp_packets, c.rtcp_bytes) == (75.0, 2 * (36.5 * (108 + 18) + (116 + 18)))


def test_call_srtcp_packet_size() -> None:
    c = call_bandwidth("PCMU", duration_s=60, srtp="AEAD_AES_128_GCM", ip_version=6)
    assert c.rtcp_packet_bytes == 40 + 8 + 80 + 20 + 18


def test_call_without_rtcp() -> None:
    c = call_bandwidth("PCMU", duration_s=60, rtcp=False)
    assert (c.rtcp_packets, c.rtcp_bytes, c.total_bytes) == (0, 0, c.media_bytes)


def test_call_dtmf_adds_digits() -> None:
    c = call_bandwidth("G729", duration_s=60, digits=10, rtcp=False)
    assert (c.dtmf_packets, c.dtmf_bytes) == (80, 10 * 8 * 64)


def test_call_average_kbps_and_pps() -> None:
    c = call_bandwidth("G729", duration_s=100, digits=0, rtcp=False, vad=0.5)
    assert (c.avg_kbps, c.avg_pps) == (pytest.approx(31.2), pytest.approx(50.0))


def test_call_zero_duration_is_empty() -> None:
    c = call_bandwidth("PCMU", duration_s=0)
    assert (c.total_bytes, c.avg_kbps) == (0, 0.0)


def test_call_rejects_negative_duration() -> None:
    with pytest.raises(ValueError, match="duration_s must be a non-negative number"):
        call_bandwidth("PCMU", duration_s=-1)


def test_catalogue_path_is_in_repo_models() -> None:
    assert Path(__file__).parents[1] / "models" / "codecs.yaml" == media.CATALOGUE_PATH


# --- per-direction SRTP suites -------------------------------------------------------------


def test_call_directions_split_the_totals_evenly_with_one_suite() -> None:
    c = call_bandwidth("PCMU", duration_s=180, srtp="AES_CM_128_HMAC_SHA1_80", digits=4)
    assert c.forward == c.reverse
    assert c.forward.total_bytes * 2 == c.total_bytes
    assert c.forward.srtp == c.reverse.srtp == "AES_CM_128_HMAC_SHA1_80"


def test_call_reverse_suite_frames_its_own_direction() -> None:
    # G.711 at 20 ms, 50 packets/s each way: the _32 tag is 4 B against _80's 10 B, so the
    # reverse stream is 6 B x 8 x 50 = 2.4 kbit/s lighter; SRTCP keeps its 10 B tag (RFC 3711)
    both = call_bandwidth("PCMU", duration_s=180, srtp="AES_CM_128_HMAC_SHA1_80")
    split = call_bandwidth("PCMU", duration_s=180, srtp="AES_CM_128_HMAC_SHA1_80",
                           srtp_reverse="AES_CM_128_HMAC_SHA1_32")
    assert split.forward == both.forward
    assert split.reverse.srtp == "AES_CM_128_HMAC_SHA1_32"
    assert split.reverse.media.l2_bytes_per_packet == both.reverse.media.l2_bytes_per_packet - 6
    assert both.reverse.avg_kbps - split.reverse.avg_kbps == pytest.approx(2.4)
    assert split.reverse.rtcp_bytes == both.reverse.rtcp_bytes
    assert split.total_bytes == split.forward.total_bytes + split.reverse.total_bytes


def test_call_reverse_suite_needs_srtp() -> None:
    with pytest.raises(ValueError, match="srtp_reverse needs srtp"):
        call_bandwidth("PCMU", duration_s=60, srtp_reverse="AES_CM_128_HMAC_SHA1_32")
