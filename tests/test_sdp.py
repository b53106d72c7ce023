"""SDP parse/encode (RFC 8866), SDES crypto (RFC 4568) and offer/answer (RFC 3264)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sizing.sip.sdp import (
    Attribute,
    Bandwidth,
    Capabilities,
    Codec,
    Connection,
    Crypto,
    MediaDescription,
    NegotiationError,
    Origin,
    SdpError,
    SessionDescription,
    Timing,
    answer,
    codec,
    format_events,
    negotiated_codec,
    offer,
    parse_events,
)

DATA = Path(__file__).parent / "data" / "sdp"
KEY30 = base64.b64encode(bytes(range(30))).decode()


def sdp(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


def head(*extra: str) -> list[str]:
    """A valid session header (lines 1-5) followed by `extra`."""
    return ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0", *extra]


def fixed_key(n: int) -> bytes:
    return bytes([7]) * n


FULL = sdp(
    "v=0",
    "o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1",
    "s=Call to John Smith",
    "i=SDP Offer #1",
    "u=http://www.jdoe.example.com/home.html",
    "e=Jane Doe <jane@jdoe.example.com>",
    "p=+1 617 555-6011",
    "c=IN IP4 198.51.100.1",
    "b=CT:384",
    "t=2873397496 2873404696",
    "r=7d 1h 0 25h",
    "z=2882844526 -1h 2898848070 0",
    "k=prompt",
    "a=recvonly",
    "a=x-vendor:keep me",
    "m=audio 49170/2 RTP/SAVP 0 101",
    "i=voice",
    "b=AS:64",
    "b=TIAS:64000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=x-flag",
    f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^20|1:4 KDR=1",
    "a=ptime:20",
    "a=maxptime:40",
    "a=rtcp-mux",
    "a=sendrecv",
    "m=video 51372 RTP/AVP 99",
    "c=IN IP6 2001:db8::2",
    "a=rtpmap:99 h263-1998/90000",
    "m=application 9 UDP/BFCP *",
)


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("name", ["rfc5118-ipv6-in-sdp.sdp", "rfc5118-mult-ip-in-sdp.sdp", None])
def test_encode_reproduces_input_bytes(name: str | None) -> None:
    raw = (DATA / name).read_bytes() if name else FULL
    assert SessionDescription.parse(raw).encode() == raw


def test_parse_of_encode_is_identity() -> None:
    sd = SessionDescription.parse(FULL)
    assert SessionDescription.parse(sd.encode()) == sd


def test_lf_only_input_parses_like_crlf() -> None:
    assert SessionDescription.parse(FULL.replace(b"\r\n", b"\n")) == SessionDescription.parse(FULL)


def test_str_input_is_accepted() -> None:
    assert SessionDescription.parse(FULL.decode()) == SessionDescription.parse(FULL)


def test_session_fields_are_modelled() -> None:
    sd = SessionDescription.parse(FULL)
    assert sd.origin == Origin("jdoe", 3724394400, 3724394405, "IN", "IP4", "198.51.100.1")
    assert (sd.name, sd.info, sd.emails, sd.phones) == (
        "Call to John Smith",
        "SDP Offer #1",
        ["Jane Doe <jane@jdoe.example.com>"],
        ["+1 617 555-6011"],
    )
    assert sd.bandwidths == [Bandwidth("CT", 384)]
    assert sd.times == [Timing(2873397496, 2873404696, ["7d 1h 0 25h"])]


def test_media_fields_are_modelled() -> None:
    audio, video, app = SessionDescription.parse(FULL).media
    assert (audio.media, audio.port, audio.port_count, audio.proto) == (
        "audio",
        49170,
        2,
        "RTP/SAVP",
    )
    assert audio.bandwidths == [Bandwidth("AS", 64), Bandwidth("TIAS", 64000)]
    assert video.connections == [Connection("2001:db8::2", "IP6")]
    assert (app.proto, app.formats, app.codecs) == ("UDP/BFCP", ["*"], [])


def test_unknown_attributes_keep_their_order() -> None:
    sd = SessionDescription.parse(FULL)
    assert [a.name for a in sd.media[0].attributes] == [
        "rtpmap",
        "fmtp",
        "x-flag",
        "crypto",
        "ptime",
        "maxptime",
        "rtcp-mux",
        "sendrecv",
    ]
    assert sd.attributes[1] == Attribute("x-vendor", "keep me")


# --------------------------------------------------------------------------- RFC 5118


def test_rfc5118_ipv6_in_sdp() -> None:
    sd = SessionDescription.parse((DATA / "rfc5118-ipv6-in-sdp.sdp").read_bytes())
    assert (sd.origin.addrtype, sd.origin.address) == ("IP6", "2001:db8::20")
    assert sd.connection == Connection("2001:db8::20", "IP6")
    assert sd.media[0].codecs == [Codec(2, "G726-32", 8000)]
    assert sd.media[1].codecs == [Codec(107, "H263-1998", 90000)]


def test_rfc5118_mult_ip_in_sdp_gives_each_media_its_own_address() -> None:
    sd = SessionDescription.parse((DATA / "rfc5118-mult-ip-in-sdp.sdp").read_bytes())
    assert sd.connection is None and sd.name == ""
    assert [sd.connection_of(m) for m in sd.media] == [
        Connection("192.0.2.1", "IP4"),
        Connection("2001:db8::1", "IP6"),
    ]


# --------------------------------------------------------------------------- codec view


@pytest.mark.parametrize(
    ("pt", "name", "clock"),
    [
        (0, "PCMU", 8000),
        (8, "PCMA", 8000),
        (9, "G722", 8000),
        (18, "G729", 8000),
        (4, "G723", 8000),
        (15, "G728", 8000),
        (3, "GSM", 8000),
        (13, "CN", 8000),
    ],
)
def test_static_payload_type_without_rtpmap(pt: int, name: str, clock: int) -> None:
    sd = SessionDescription.parse(sdp(*head(f"m=audio 4000 RTP/AVP {pt}")))
    assert sd.media[0].codecs == [Codec(pt, name, clock, 1)]


def test_rtpmap_gives_channels_and_fmtp() -> None:
    sd = SessionDescription.parse(
        sdp(
            *head(
                "m=audio 4000 RTP/AVP 111", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 useinbandfec=1"
            )
        )
    )
    assert sd.media[0].codecs == [Codec(111, "opus", 48000, 2, "useinbandfec=1")]


def test_ptime_and_maxptime() -> None:
    m = SessionDescription.parse(FULL).media[0]
    assert (m.ptime, m.maxptime) == (20.0, 40.0)


def test_telephone_event_range_from_fmtp() -> None:
    m = SessionDescription.parse(FULL).media[0]
    assert m.telephone_event == Codec(101, "telephone-event", 8000, 1, "0-16")
    assert m.dtmf_events == frozenset(range(17))


def test_telephone_event_without_fmtp_means_0_to_15() -> None:
    m = SessionDescription.parse(
        sdp(*head("m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000"))
    ).media[0]
    assert m.dtmf_events == frozenset(range(16))


def test_event_list_parse_and_format() -> None:
    events = parse_events("0-15,66,70")
    assert events == frozenset([*range(16), 66, 70])
    assert format_events(events) == "0-15,66,70"


def test_media_direction_overrides_session_default() -> None:
    sd = SessionDescription.parse(FULL)
    assert sd.direction == "recvonly"
    assert [sd.direction_of(m) for m in sd.media] == ["sendrecv", "recvonly", "recvonly"]


def test_direction_defaults_to_sendrecv() -> None:
    sd = SessionDescription.parse(sdp(*head("m=audio 4000 RTP/AVP 0")))
    assert sd.direction_of(sd.media[0]) == "sendrecv"


def test_rtcp_mux_flag() -> None:
    audio, video, _ = SessionDescription.parse(FULL).media
    assert (audio.rtcp_mux, video.rtcp_mux) == (True, False)


def test_codec_resolution_by_name() -> None:
    assert codec("g722") == Codec(9, "G722", 8000)
    assert codec("opus") == Codec(111, "opus", 48000, 2)
    assert codec("speex/16000") == Codec(96, "speex", 16000)


def test_codec_resolution_rejects_unknown_name_without_clock() -> None:
    with pytest.raises(SdpError, match="unknown codec 'speex'"):
        codec("speex")


# --------------------------------------------------------------------------- crypto


def test_crypto_attribute_is_parsed() -> None:
    (crypto,) = SessionDescription.parse(FULL).media[0].cryptos
    (key,) = crypto.key_params
    assert (crypto.tag, crypto.suite, crypto.session_params) == (
        1,
        "AES_CM_128_HMAC_SHA1_80",
        ("KDR=1",),
    )
    assert (key.key_bytes, key.lifetime_packets, key.mki) == (bytes(range(30)), 2**20, (1, 4))


def test_crypto_str_round_trips() -> None:
    text = f"2 AES_CM_128_HMAC_SHA1_32 inline:{KEY30}|1:4;inline:{KEY30}|2^31|2:4 UNENCRYPTED_SRTCP"
    assert str(Crypto.parse(text)) == text


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("1 AES_CM_128_HMAC_SHA1_80 inline:AAAA", "needs a 30-byte key||salt, got 3"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30[:-1]}!", "not base64"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1:0", "MKI length must be 1-128"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1:4|2^20", "must come before the MKI"),
        (
            f"1234567890 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}",
            "tag '1234567890' must be 1-9 digits",
        ),
        ("1 AES_CM_128_HMAC_SHA1_80", "needs tag, crypto-suite and key-params"),
    ],
)
def test_bad_crypto_is_rejected(value: str, fragment: str) -> None:
    with pytest.raises(SdpError, match=re.escape(fragment)):
        Crypto.parse(value)


# --------------------------------------------------------------------------- connection


def test_ipv4_multicast_ttl_and_count() -> None:
    assert Connection.parse("IN IP4 224.2.1.1/127/3") == Connection(
        "224.2.1.1", "IP4", ttl=127, count=3
    )


def test_ipv6_multicast_count_has_no_ttl() -> None:
    assert Connection.parse("IN IP6 ff15::101/3") == Connection("ff15::101", "IP6", count=3)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("IN IP4 224.2.1.1", "needs a TTL"),
        ("IN IP4 192.0.2.1/127", "only allowed after a multicast address"),
        ("IN IP4 224.2.1.1/300", "TTL 300 is out of range"),
        ("IN IP6 ff15::101/3/2", "at most addr/count"),
        ("IN IP6 2001:db8:::1", "not a valid IPv6 address"),
        ("IN IP4 192.0.2.256", "not a valid IPv4 address"),
    ],
)
def test_bad_connection_is_rejected(value: str, fragment: str) -> None:
    with pytest.raises(SdpError, match=re.escape(fragment)):
        Connection.parse(value)


# --------------------------------------------------------------------------- errors


BAD = [
    (["o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0"], 1, "expected v= line here"),
    (["v=0", "s=-", "t=0 0"], 2, "expected o= line here"),
    (["v=0", "o=- 1 1 IN IP4 192.0.2.1", "t=0 0"], 3, "expected s= line here"),
    (["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1"], 4, "missing t= line"),
    (["v=1", "o=- 1 1 IN IP4 1.2.3.4", "s=-", "t=0 0"], 1, "only v=0"),
    (["v=0", "o=- x 1 IN IP4 1.2.3.4", "s=-", "t=0 0"], 2, "sess-id 'x' is not a number"),
    (["v=0", "o=- 1 1 IN IP4", "s=-", "t=0 0"], 2, "o= needs 6 fields"),
    (head("m=audio abc RTP/AVP 0"), 6, "m= port 'abc' is not a number"),
    (head("m=audio 70000 RTP/AVP 0"), 6, "m= port 70000 is out of range"),
    (head("m=audio 4000 RTP/AVP"), 6, "at least one format"),
    (head("m=audio 4000 RTP/AVP PCMU"), 6, "payload type 'PCMU' is not a number"),
    (head("m=audio 4000 RTP/AVP 200"), 6, "payload type 200 is out of range"),
    (head("m=audio 4000 RTP/AVP 0 96", "a=ptime:20"), 6, "payload type 96 in m= has no a=rtpmap"),
    (head("m=audio 4000 RTP/AVP 0", "t=0 0"), 7, "t= is a session-level line"),
    (["v=0", "o=- 1 1 IN IP4 1.2.3.4", "s=-", "m=audio 4000 RTP/AVP 0"], 4, "m= before any t="),
    (head("a=x-y", "r=7d 1h 0 25h"), 7, "r= must directly follow"),
    (head("x=unknown"), 6, "unknown line type 'x='"),
    (head("c=IN IP4 192.0.2.9"), 6, "more than one session-level c= line"),
    (head("m=audio 4000 RTP/AVP 0", "", "a=ptime:20"), 7, "empty line"),
    (head("m=audio 4000 RTP/AVP 0", "a=rtpmap:0 PCMU"), 7, "must be <pt> <name>/<clock>"),
    (head("m=audio 4000 RTP/AVP 0", "a=ptime:twenty"), 7, "a=ptime 'twenty' is not a number"),
    (head("m=audio 4000 RTP/AVP 0", "a=sendonly", "a=recvonly"), 8, "more than one direction"),
    (head("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA"), 6, "media-level attribute"),
    (
        head("m=audio 4000 RTP/AVP 0", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA"),
        7,
        "30-byte",
    ),
    (
        head("m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 16-0"),
        8,
        "runs backwards",
    ),
    (head("m=audio 4000 RTP/AVP 0", "a=fmtp:x y"), 7, "a=fmtp payload type 'x'"),
    (["v=0", "o=- 1 1 IN IP4 1.2.3.4", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0"], 5, "no c= line"),
    (head("b=AS"), 6, "b= must be <bwtype>:<bandwidth>"),
    (head("a=bad name"), 6, "attribute name 'bad name' is not a token"),
]


@pytest.mark.parametrize(("lines", "line", "fragment"), BAD)
def test_malformed_sdp_error_names_line_and_problem(
    lines: list[str], line: int, fragment: str
) -> None:
    with pytest.raises(SdpError, match=re.escape(fragment)) as info:
        SessionDescription.parse(sdp(*lines))
    assert info.value.line == line
    assert str(info.value).startswith(f"line {line}: ")


def test_sdp_error_is_a_value_error() -> None:
    assert issubclass(SdpError, ValueError)


def test_non_utf8_is_reported_with_line() -> None:
    with pytest.raises(SdpError, match="not UTF-8") as info:
        SessionDescription.parse(sdp(*head()) + b"i=\xff\r\n")
    assert info.value.line == 6


def test_empty_input_is_rejected() -> None:
    with pytest.raises(SdpError, match="empty session description"):
        SessionDescription.parse(b"\r\n")


def test_non_rtp_media_accepts_token_formats() -> None:
    sd = SessionDescription.parse(sdp(*head("m=image 4000 udptl t38")))
    assert sd.media[0].formats == ["t38"]


# --------------------------------------------------------------------------- offer / answer


def make_offer(*lines: str) -> SessionDescription:
    return SessionDescription.parse(sdp(*head(*lines)))


AUDIO_OFFER = [
    "m=audio 4000 RTP/AVP 8 18 0 101",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=ptime:30",
]


def test_answer_keeps_common_codecs_in_offerer_order() -> None:
    ans = answer(
        make_offer(*AUDIO_OFFER), Capabilities(("PCMU", "G729")), address="198.51.100.7", port=5000
    )
    assert [c.name for c in ans.media[0].codecs] == ["G729", "PCMU", "telephone-event"]


def test_answer_single_codec_keeps_only_the_first() -> None:
    caps = Capabilities(("PCMU", "G729"))
    ans = answer(
        make_offer(*AUDIO_OFFER), caps, address="198.51.100.7", port=5000, single_codec=True
    )
    assert ans.media[0].formats == ["18", "101"]


def test_answer_sets_address_and_port() -> None:
    ans = answer(
        make_offer(*AUDIO_OFFER), Capabilities(("PCMU",)), address="2001:db8::7", port=5000
    )
    assert ans.connection == Connection("2001:db8::7", "IP6")
    assert (ans.origin.addrtype, ans.media[0].port) == ("IP6", 5000)


def test_answer_without_common_codec_rejects_stream_with_port_zero() -> None:
    off = make_offer(*AUDIO_OFFER, "m=audio 4002 RTP/AVP 9")
    ans = answer(off, Capabilities(("G722",)), address="198.51.100.7", port=5000)
    assert (ans.media[0].port, ans.media[0].formats) == (0, ["8", "18", "0", "101"])
    assert negotiated_codec(off, ans).codec_name == "G722"


def test_offer_without_any_common_codec_is_refused() -> None:
    with pytest.raises(NegotiationError, match="offers codecs PCMA, G729, PCMU, we support G722"):
        answer(make_offer(*AUDIO_OFFER), Capabilities(("G722",)), address="198.51.100.7", port=5000)


def test_offer_of_only_non_rtp_streams_is_refused() -> None:
    off = make_offer("m=application 4000 UDP/BFCP *")
    with pytest.raises(NegotiationError, match="not an RTP profile"):
        answer(off, Capabilities(("PCMU",)), address="198.51.100.7", port=5000)


def test_offer_with_every_stream_at_port_zero_is_answered_in_kind() -> None:
    off = make_offer("m=audio 0 RTP/AVP 0")
    ans = answer(off, Capabilities(("G722",)), address="198.51.100.7", port=5000)
    assert [m.port for m in ans.media] == [0]


def test_answer_keeps_one_m_line_per_offered_stream() -> None:
    off = make_offer(*AUDIO_OFFER, "m=video 4002 RTP/AVP 31", "m=audio 4004 RTP/AVP 0")
    ans = answer(off, Capabilities(("PCMU",)), address="198.51.100.7", port=5000)
    assert [(m.media, m.port) for m in ans.media] == [
        ("audio", 5000),
        ("video", 0),
        ("audio", 5002),
    ]


def test_answer_copies_offer_timing() -> None:
    off = SessionDescription.parse(FULL)
    caps = Capabilities(("PCMU",), srtp_suites=("AES_CM_128_HMAC_SHA1_80",))
    ans = answer(off, caps, address="198.51.100.7", port=5000, key_source=fixed_key)
    assert ans.times == off.times


@pytest.mark.parametrize(
    ("offered", "local", "expected"),
    [
        ("sendrecv", "sendrecv", "sendrecv"),
        ("sendonly", "sendrecv", "recvonly"),
        ("recvonly", "sendrecv", "sendonly"),
        ("inactive", "sendrecv", "inactive"),
        ("sendrecv", "recvonly", "recvonly"),
        ("sendonly", "sendonly", "inactive"),
    ],
)
def test_answer_mirrors_direction(offered: str, local: str, expected: str) -> None:
    off = make_offer("m=audio 4000 RTP/AVP 0", f"a={offered}")
    ans = answer(off, Capabilities(("PCMU",), direction=local), address="198.51.100.7", port=5000)
    assert ans.direction_of(ans.media[0]) == expected


def test_answer_mirrors_session_level_direction() -> None:
    off = SessionDescription.parse(sdp(*head("a=sendonly", "m=audio 4000 RTP/AVP 0")))
    ans = answer(off, Capabilities(("PCMU",)), address="198.51.100.7", port=5000)
    assert ans.media[0].direction == "recvonly"


def test_answer_narrows_telephone_event_range() -> None:
    caps = Capabilities(("PCMA",), dtmf_events=frozenset(range(16)))
    ans = answer(make_offer(*AUDIO_OFFER), caps, address="198.51.100.7", port=5000)
    assert ans.media[0].telephone_event == Codec(101, "telephone-event", 8000, 1, "0-15")


def test_answer_drops_telephone_event_when_not_supported() -> None:
    ans = answer(
        make_offer(*AUDIO_OFFER),
        Capabilities(("PCMA",), dtmf=False),
        address="198.51.100.7",
        port=5000,
    )
    assert ans.media[0].telephone_event is None


def test_answer_takes_acceptable_offered_ptime() -> None:
    ans = answer(
        make_offer(*AUDIO_OFFER), Capabilities(("PCMA",)), address="198.51.100.7", port=5000
    )
    assert ans.media[0].ptime == 30


def test_answer_replaces_unacceptable_ptime_with_its_own() -> None:
    off = make_offer("m=audio 4000 RTP/AVP 0", "a=ptime:200")
    ans = answer(
        off, Capabilities(("PCMU",), ptime=20, max_ptime=60), address="198.51.100.7", port=5000
    )
    assert ans.media[0].ptime == 20


SRTP_OFFER = [
    "m=audio 4000 RTP/SAVP 0",
    f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}",
    f"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY30}",
]


def test_answer_selects_crypto_with_matching_suite_and_tag() -> None:
    caps = Capabilities(("PCMU",), srtp_suites=("AES_CM_128_HMAC_SHA1_32",))
    ans = answer(
        make_offer(*SRTP_OFFER), caps, address="198.51.100.7", port=5000, key_source=fixed_key
    )
    (crypto,) = ans.media[0].cryptos
    assert (crypto.tag, crypto.suite, crypto.key_params[0].key_bytes) == (
        2,
        "AES_CM_128_HMAC_SHA1_32",
        bytes([7]) * 30,
    )


def test_answer_rejects_srtp_stream_without_acceptable_suite() -> None:
    caps = Capabilities(("PCMU",), srtp_suites=("AEAD_AES_128_GCM",))
    off = make_offer(*SRTP_OFFER, "m=audio 4002 RTP/AVP 0")
    ans = answer(off, caps, address="198.51.100.7", port=5000)
    assert [m.port for m in ans.media] == [0, 5000]


def test_srtp_only_offer_without_acceptable_suite_is_refused() -> None:
    caps = Capabilities(("PCMU",), srtp_suites=("AEAD_AES_128_GCM",))
    with pytest.raises(NegotiationError, match="offers AES_CM_128_HMAC_SHA1_80, "):
        answer(make_offer(*SRTP_OFFER), caps, address="198.51.100.7", port=5000)


def test_srtp_offer_to_an_answerer_without_srtp_is_refused() -> None:
    with pytest.raises(NegotiationError, match="we accept no SRTP"):
        answer(make_offer(*SRTP_OFFER), Capabilities(("PCMU",)), address="198.51.100.7", port=5000)


@pytest.mark.parametrize(
    ("preference", "tag", "suite"),
    [
        (("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"), 1, "AES_CM_128_HMAC_SHA1_80"),
        (("AES_CM_128_HMAC_SHA1_32", "AES_CM_128_HMAC_SHA1_80"), 2, "AES_CM_128_HMAC_SHA1_32"),
        (("AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_32"), 2, "AES_CM_128_HMAC_SHA1_32"),
    ],
)
def test_answer_takes_the_suite_the_answerer_prefers(
    preference: tuple[str, ...], tag: int, suite: str
) -> None:
    caps = Capabilities(("PCMU",), srtp_suites=preference)
    ans = answer(make_offer(*SRTP_OFFER), caps, address="198.51.100.7", port=5000)
    (crypto,) = ans.media[0].cryptos
    assert (crypto.tag, crypto.suite, ans.media[0].proto) == (tag, suite, "RTP/SAVP")


def test_answer_crypto_key_is_fresh_not_the_offerers() -> None:
    caps = Capabilities(("PCMU",), srtp_suites=("AES_CM_128_HMAC_SHA1_80",))
    off = make_offer(*SRTP_OFFER)
    keys = {
        answer(off, caps, address="198.51.100.7", port=5000).media[0].cryptos[0].key_params[0].key_salt
        for _ in range(3)
    }
    assert len(keys) == 3 and KEY30 not in keys


def test_plain_offer_is_answered_plain_even_when_srtp_is_possible() -> None:
    caps = Capabilities(("PCMU",), srtp_suites=("AES_CM_128_HMAC_SHA1_80",))
    ans = answer(make_offer(*AUDIO_OFFER), caps, address="198.51.100.7", port=5000)
    assert (ans.media[0].proto, ans.media[0].cryptos) == ("RTP/AVP", [])


def test_answer_keeps_the_offerers_telephone_event_payload_type() -> None:
    off = make_offer("m=audio 4000 RTP/AVP 0 8 96", "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-15")
    ans = answer(off, Capabilities(("PCMA", "PCMU")), address="198.51.100.7", port=5000)
    assert ans.media[0].formats == ["0", "8", "96"]
    assert ans.media[0].telephone_event == Codec(96, "telephone-event", 8000, 1, "0-15")


def test_required_srtp_without_matching_suite_is_an_error() -> None:
    caps = Capabilities(("PCMU",), srtp_suites=("AEAD_AES_128_GCM",), srtp_required=True)
    with pytest.raises(NegotiationError, match="no offered SRTP suite"):
        answer(make_offer(*SRTP_OFFER), caps, address="198.51.100.7", port=5000)


def test_required_srtp_against_plain_rtp_offer_is_an_error() -> None:
    caps = Capabilities(("PCMU",), srtp_suites=("AES_CM_128_HMAC_SHA1_80",), srtp_required=True)
    with pytest.raises(NegotiationError, match="SRTP is required but the offer uses RTP/AVP"):
        answer(make_offer("m=audio 4000 RTP/AVP 0"), caps, address="198.51.100.7", port=5000)


def test_offer_builder_with_srtp_and_dtmf() -> None:
    off = offer(
        ["opus", "PCMA"],
        address="192.0.2.5",
        port=4000,
        ptime=20,
        srtp_suite="AEAD_AES_128_GCM",
        key_source=fixed_key,
    )
    m = off.media[0]
    assert (m.proto, m.formats) == ("RTP/SAVP", ["111", "8", "101"])
    assert m.telephone_event == Codec(101, "telephone-event", 48000, 1, "0-16")
    assert len(m.cryptos[0].key_params[0].key_bytes) == 28
    assert SessionDescription.parse(off.encode()) == off


def test_offer_builder_renumbers_clashing_payload_types() -> None:
    off = offer([Codec(101, "speex", 16000), "opus"], address="192.0.2.5", port=4000)
    assert off.media[0].formats == ["101", "111", "96"]


def test_offer_answer_negotiated_summary() -> None:
    off = offer(
        ["G729", "PCMA"],
        address="192.0.2.5",
        port=4000,
        ptime=30,
        srtp_suite="AES_CM_128_HMAC_SHA1_80",
        key_source=fixed_key,
    )
    caps = Capabilities(("PCMA", "G729"), srtp_suites=("AES_CM_128_HMAC_SHA1_80",))
    ans = answer(
        SessionDescription.parse(off.encode()),
        caps,
        address="198.51.100.7",
        port=5000,
        key_source=fixed_key,
    )
    got = negotiated_codec(off, ans)
    assert got is not None
    assert (got.codec_name, got.clock_rate, got.ptime, got.srtp_suite, got.dtmf) == (
        "G729",
        8000,
        30.0,
        "AES_CM_128_HMAC_SHA1_80",
        True,
    )


def test_negotiated_without_ptime_uses_codec_default() -> None:
    off = make_offer("m=audio 4000 RTP/AVP 4")
    ans = make_offer("m=audio 5000 RTP/AVP 4")
    got = negotiated_codec(off, ans)
    assert got is not None and (got.codec_name, got.ptime, got.dtmf) == ("G723", 30.0, False)


def test_negotiated_rejects_mismatched_stream_count() -> None:
    with pytest.raises(SdpError, match="answer has 2 m= lines, the offer has 1"):
        negotiated_codec(
            make_offer("m=audio 1 RTP/AVP 0"),
            make_offer("m=audio 1 RTP/AVP 0", "m=audio 3 RTP/AVP 0"),
        )


def test_answer_with_accepted_and_rejected_streams_round_trips() -> None:
    off = SessionDescription.parse(FULL)
    caps = Capabilities(("PCMU",), srtp_suites=("AES_CM_128_HMAC_SHA1_80",))
    ans = answer(off, caps, address="198.51.100.7", port=5000, key_source=fixed_key)
    assert [m.port for m in ans.media] == [5000, 0, 0]
    assert SessionDescription.parse(ans.encode()) == ans


def test_rejected_stream_may_list_unmapped_dynamic_types() -> None:
    sd = make_offer("m=audio 0 RTP/AVP 96 0")
    assert sd.media[0].codecs == [Codec(0, "PCMU", 8000)]


# --------------------------------------------------------------------------- property

_token = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)
_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=20
)
_ipv4 = st.ip_addresses(v=4).filter(lambda a: not a.is_multicast).map(str)
_ipv6 = st.ip_addresses(v=6).filter(lambda a: not a.is_multicast).map(str)
_conn = st.one_of(
    _ipv4.map(lambda a: Connection(a, "IP4")),
    _ipv6.map(lambda a: Connection(a, "IP6")),
    st.builds(
        lambda t, c: Connection("233.252.0.1", "IP4", ttl=t, count=c),
        st.integers(0, 255),
        st.none() | st.integers(1, 9),
    ),
    st.builds(lambda c: Connection("ff15::101", "IP6", count=c), st.integers(1, 9)),
)
_attr = st.builds(Attribute, _token.map(lambda t: "x-" + t), st.none() | _text)
_known_attr = st.sampled_from(
    [
        Attribute("ptime", "20"),
        Attribute("maxptime", "2.5"),
        Attribute("rtcp-mux"),
        Attribute("crypto", f"7 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^20"),
    ]
)


@st.composite
def _media(draw: st.DrawFn) -> MediaDescription:
    formats = draw(st.lists(st.sampled_from(["0", "8", "9", "18", "13"]), min_size=1, max_size=4))
    attrs = draw(st.lists(st.one_of(_attr, _known_attr), max_size=4))
    if draw(st.booleans()):
        formats.append("101")
        attrs.insert(0, Attribute("rtpmap", "101 telephone-event/8000"))
    direction = draw(st.sampled_from([None, "sendrecv", "sendonly", "recvonly", "inactive"]))
    if direction:
        attrs.append(Attribute(direction))
    return MediaDescription(
        media=draw(st.sampled_from(["audio", "video"])),
        port=draw(st.integers(0, 65535)),
        proto=draw(
            st.sampled_from(["RTP/AVP", "RTP/SAVP", "RTP/AVPF", "RTP/SAVPF", "UDP/TLS/RTP/SAVP"])
        ),
        formats=formats,
        port_count=draw(st.none() | st.integers(1, 4)),
        title=draw(st.none() | _text),
        connections=draw(st.lists(_conn, max_size=2)),
        bandwidths=draw(
            st.lists(
                st.builds(Bandwidth, st.sampled_from(["AS", "CT", "TIAS"]), st.integers(0, 10**6)),
                max_size=2,
            )
        ),
        attributes=attrs,
    )


_session = st.builds(
    SessionDescription,
    origin=st.builds(
        Origin,
        _token,
        st.integers(0, 2**64),
        st.integers(0, 2**32),
        st.just("IN"),
        st.just("IP4"),
        _ipv4,
    ),
    name=_text,
    info=st.none() | _text,
    emails=st.lists(_text.filter(bool), max_size=1),
    connection=_conn,
    bandwidths=st.lists(st.builds(Bandwidth, st.just("CT"), st.integers(0, 10**6)), max_size=1),
    times=st.lists(
        st.builds(Timing, st.integers(0, 2**32), st.integers(0, 2**32)), min_size=1, max_size=2
    ),
    attributes=st.lists(_attr, max_size=3),
    media=st.lists(_media(), max_size=3),
)


@settings(max_examples=60, deadline=None)
@given(_session)
def test_round_trip_property(sd: SessionDescription) -> None:
    assert SessionDescription.parse(sd.encode()) == sd


def test_answer_accepts_video_without_ptime() -> None:
    off = make_offer(
        "m=audio 4000 RTP/AVP 0", "m=video 4002 RTP/AVP 109", "a=rtpmap:109 H264/90000"
    )
    ans = answer(off, Capabilities(("PCMU", "H264")), address="198.51.100.7", port=5000)
    video = ans.media[1]
    assert (video.port, video.codecs, video.ptime) == (5002, [Codec(109, "H264", 90000)], None)
