"""Numbers longer than int() accepts get the documented error, not a bare ValueError.

int() refuses more than 4,300 digits with ValueError; every numeric field a
peer sends goes through sizing.sip.digits.read_uint, so a 5,001-digit value
gives ParseError / HeaderError / FramingError / SdpError naming the field, a
400 over UDP and exit status 2 from ``sizing inspect``.
"""

from __future__ import annotations

import pytest
from conftest import loopback_ua

from sizing.cli.main import main
from sizing.sip import FramingError, HeaderError, ParseError, StreamFramer, parse
from sizing.sip.digits import MAX_DIGITS, read_uint
from sizing.sip.headers import CSeq, NameAddr, SessionExpires, SubscriptionState, Via, parse_uint
from sizing.sip.interfaces import Address, ManualClock
from sizing.sip.loopback import LoopbackNetwork, summarize
from sizing.sip.sdp import SdpError, SessionDescription
from sizing.sip.uri import URI

LONG = "0" * 5000 + "1"
"""5,001 digits: past int()'s 4,300-digit limit, leading zeros or not."""
NINES = "9" * 5001


def _request(start: str = "OPTIONS sip:b@example.com SIP/2.0", **fields: str) -> bytes:
    headers = {
        "Via": "SIP/2.0/UDP h.example.com;branch=z9hG4bK1",
        "From": "<sip:a@example.com>;tag=1",
        "To": "<sip:b@example.com>",
        "Call-ID": "c1",
        "CSeq": "1 OPTIONS",
        "Max-Forwards": "70",
        "Content-Length": "0",
    }
    headers.update({name.replace("_", "-"): value for name, value in fields.items()})
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"{start}\r\n{lines}\r\n".encode()


# (field, what the error names, message bytes with the number at {n})
MESSAGE_FIELDS = [
    ("status code", "status code", lambda n: f"SIP/2.0 {n} OK\r\nCall-ID: c\r\n\r\n".encode()),
    ("Content-Length", "Content-Length", lambda n: _request(Content_Length=n)),
    ("Max-Forwards", "Max-Forwards", lambda n: _request(Max_Forwards=n)),
    ("CSeq", "CSeq", lambda n: _request(CSeq=f"{n} OPTIONS")),
    ("Via port", "Via", lambda n: _request(Via=f"SIP/2.0/UDP h.example.com:{n};branch=z9hG4bK1")),
    ("Via rport", "Via", lambda n: _request(Via=f"SIP/2.0/UDP h.example.com;branch=z9hG4bK1;rport={n}")),
    ("Via ttl", "Via", lambda n: _request(Via=f"SIP/2.0/UDP h.example.com;branch=z9hG4bK1;ttl={n}")),
    ("Request-URI port", "Request-URI", lambda n: _request(f"OPTIONS sip:b@example.com:{n} SIP/2.0")),
    ("To URI port", "To", lambda n: _request(To=f"<sip:b@example.com:{n}>")),
]


@pytest.mark.parametrize("number", [LONG, NINES], ids=["zeros", "nines"])
@pytest.mark.parametrize(("field", "named", "message"), MESSAGE_FIELDS, ids=[f[0] for f in MESSAGE_FIELDS])
def test_parse_refuses_an_overlong_number_with_parse_error(field, named, message, number) -> None:
    with pytest.raises(ParseError, match=named) as caught:
        parse(message(number))
    assert caught.value.status == 400
    assert len(str(caught.value)) < 400  # the 5,001 digits are not echoed back whole


# (field, how it is read): headers parse() leaves for later raise HeaderError when read
HEADER_FIELDS = [
    ("Expires", lambda n: parse(_request(Expires=n)).expires),
    ("Contact expires", lambda n: parse(_request(Contact=f"<sip:a@h>;expires={n}")).contact[0].expires),
    ("Session-Expires", lambda n: SessionExpires.parse(f"{n};refresher=uac")),
    ("Min-SE", lambda n: parse_uint(n, "Min-SE")),
    ("Min-Expires", lambda n: parse_uint(n, "Min-Expires")),
    ("Retry-After", lambda n: parse_uint(n, "Retry-After")),
    ("Subscription-State expires", lambda n: SubscriptionState.parse(f"active;expires={n}")),
    ("Subscription-State retry-after", lambda n: SubscriptionState.parse(f"pending;retry-after={n}")),
    ("CSeq", lambda n: CSeq.parse(f"{n} INVITE")),
    ("Via port", lambda n: Via.parse(f"SIP/2.0/UDP h:{n}")),
    ("Via rport", lambda n: Via.parse(f"SIP/2.0/UDP h;rport={n}")),
    ("Via ttl", lambda n: Via.parse(f"SIP/2.0/UDP h;maddr=224.0.0.1;ttl={n}")),
    ("URI port", lambda n: URI.parse(f"sip:a@h:{n}")),
    ("name-addr URI port", lambda n: NameAddr.parse(f"<sips:a@h:{n};lr>")),
]


@pytest.mark.parametrize("number", [LONG, NINES], ids=["zeros", "nines"])
@pytest.mark.parametrize(("field", "read"), HEADER_FIELDS, ids=[f[0] for f in HEADER_FIELDS])
def test_header_views_refuse_an_overlong_number_with_header_error(field, read, number) -> None:
    with pytest.raises(HeaderError):
        read(number)


@pytest.mark.parametrize("spelling", ["Content-Length", "l", "content-length"])
def test_framer_refuses_an_overlong_content_length_with_framing_error(spelling) -> None:
    data = _request(**{"Content-Length": "0"}).replace(b"Content-Length: 0", f"{spelling}: {LONG}".encode())
    with pytest.raises(FramingError, match="Content-Length: number of 5001 digits is too long"):
        StreamFramer().feed(data)


def _sdp(*media: str, origin: str = "1 1") -> bytes:
    lines = ["v=0", f"o=- {origin} IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0", *media]
    return ("\r\n".join(lines) + "\r\n").encode()


KEY = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
SDP_FIELDS = [
    ("sess-id", lambda n: _sdp(origin=f"{n} 1")),
    ("sess-version", lambda n: _sdp(origin=f"1 {n}")),
    ("m= port", lambda n: _sdp(f"m=audio {n} RTP/AVP 0")),
    ("m= port count", lambda n: _sdp(f"m=audio 4000/{n} RTP/AVP 0")),
    ("m= payload type", lambda n: _sdp(f"m=audio 4000 RTP/AVP {n}")),
    ("c= TTL", lambda n: _sdp("m=audio 4000 RTP/AVP 0", f"c=IN IP4 224.2.1.1/{n}")),
    ("b= bandwidth", lambda n: _sdp("m=audio 4000 RTP/AVP 0", f"b=AS:{n}")),
    ("t= time", lambda n: _sdp().replace(b"t=0 0", f"t={n} 0".encode())),
    ("rtpmap clock", lambda n: _sdp("m=audio 4000 RTP/AVP 96", f"a=rtpmap:96 opus/{n}/2")),
    ("rtpmap payload type", lambda n: _sdp("m=audio 4000 RTP/AVP 96", f"a=rtpmap:{n} opus/48000/2")),
    ("crypto MKI", lambda n: _sdp(
        "m=audio 4000 RTP/SAVP 0", f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|{n}:4")),
    ("crypto lifetime", lambda n: _sdp(
        "m=audio 4000 RTP/SAVP 0", f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|{n}")),
    ("crypto lifetime power", lambda n: _sdp(
        "m=audio 4000 RTP/SAVP 0", f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^{n}")),
]


@pytest.mark.parametrize(("field", "body"), SDP_FIELDS, ids=[f[0] for f in SDP_FIELDS])
def test_sdp_refuses_an_overlong_number_with_sdp_error(field, body) -> None:
    with pytest.raises(SdpError):
        description = SessionDescription.parse(body(NINES))
        for media in description.media:  # a=crypto and a=rtpmap are read on demand
            media.codecs  # noqa: B018
            media.cryptos  # noqa: B018


def test_sdp_crypto_lifetime_power_is_bounded() -> None:
    """``2^<n>`` is computed by lifetime_packets: a huge exponent would take forever."""
    body = _sdp("m=audio 4000 RTP/SAVP 0", f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^99")
    with pytest.raises(SdpError):
        description = SessionDescription.parse(body)
        description.media[0].cryptos  # noqa: B018


def test_read_uint_bounds_the_length_before_converting() -> None:
    assert read_uint("0" * MAX_DIGITS, "x") == 0
    with pytest.raises(HeaderError, match=f"^Max-Forwards: number of {MAX_DIGITS + 1} digits is too long"):
        read_uint("0" * (MAX_DIGITS + 1), "Max-Forwards")
    with pytest.raises(FramingError, match="not a number"):
        read_uint(b"\xc2\xb2", "Content-Length", FramingError)
    with pytest.raises(HeaderError, match="not a number"):
        read_uint("²", "CSeq")  # str.isdigit() is True for it, int() refuses it


@pytest.mark.parametrize(
    ("header", "value"),
    [("Max-Forwards", LONG), ("CSeq", f"{LONG} OPTIONS"), ("Content-Length", LONG)],
)
def test_inspect_exits_2_naming_the_header_of_an_overlong_number(tmp_path, capsys, header, value) -> None:
    bad = tmp_path / "long.sip"
    bad.write_bytes(_request(**{header: value}))
    assert main(["inspect", str(bad)]) == 2
    err = capsys.readouterr().err
    assert header in err and "too long" in err
    assert "Traceback" not in err


def test_uas_answers_400_over_udp_to_an_overlong_number() -> None:
    net = LoopbackNetwork(ManualClock())
    ua = loopback_ua(net, Address("UDP", "10.0.0.2", 5060), "bob", seed=1)
    peer = Address("UDP", "10.0.0.1", 5060)
    replies: list[bytes] = []
    sender = net.attach(peer, lambda data, source: replies.append(data))
    for header, value in [("Max-Forwards", LONG), ("Content-Length", LONG), ("CSeq", f"{LONG} OPTIONS")]:
        request = _request(**{header: value}).replace(b"h.example.com", b"10.0.0.1")
        sender.send(request, ua.local)
        net.clock.run()
    assert [summarize(r) for r in replies] == ["400"] * 3
    assert ua.receive_stats.rejected[400] == 3
