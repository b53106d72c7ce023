"""StreamFramer: Content-Length framing, keep-alives, limits."""

from __future__ import annotations

import pytest

from sizing.sip import KEEPALIVE, PONG, FramingError, StreamFramer, parse

MSG = (
    b"OPTIONS sip:b@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP a.example.com;branch=z9hG4bK1\r\n"
    b"Max-Forwards: 70\r\nTo: <sip:b@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\n"
    b"Call-ID: f1\r\nCSeq: 1 OPTIONS\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
)


def test_whole_message_is_framed():
    assert StreamFramer().feed(MSG) == [MSG]


def test_byte_by_byte_feeding_yields_the_message_once_complete():
    framer = StreamFramer()
    out = []
    for i in range(len(MSG)):
        out += framer.feed(MSG[i : i + 1])
        if i < len(MSG) - 1:
            assert out == []
    assert out == [MSG] and framer.buffered == 0


def test_pipelined_messages_are_split():
    other = MSG.replace(b"f1", b"f2").replace(b"hello", b"world")
    assert StreamFramer().feed(MSG + other + MSG) == [MSG, other, MSG]


def test_compact_content_length_and_folding_are_understood():
    data = MSG.replace(b"Content-Length: 5", b"l :\r\n 5")
    assert StreamFramer().feed(data + MSG) == [data, MSG]


def test_ping_and_pong_keepalives_between_messages():
    out = StreamFramer().feed(b"\r\n\r\n" + MSG + b"\r\n" + MSG)
    assert out == [KEEPALIVE, MSG, PONG, MSG]


def test_split_ping_waits_for_its_second_half():
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r") == []
    assert framer.feed(b"\n") == [KEEPALIVE]


def test_framed_message_parses():
    assert parse(StreamFramer().feed(MSG)[0]).body == b"hello"


def test_missing_content_length_is_a_framing_error():
    with pytest.raises(FramingError, match="Content-Length"):
        StreamFramer().feed(MSG.replace(b"Content-Length: 5\r\n", b""))


def test_differing_content_lengths_are_a_framing_error():
    with pytest.raises(FramingError, match="differing"):
        StreamFramer().feed(MSG.replace(b"Content-Length: 5", b"Content-Length: 5\r\nl: 6"))


def test_endless_header_section_is_cut_off():
    framer = StreamFramer(max_message_bytes=4096, max_header_bytes=1024)
    framer.feed(b"INVITE sip:a@b SIP/2.0\r\n")
    with pytest.raises(FramingError, match="header section"):
        for _ in range(100):
            framer.feed(b"X-Filler: " + b"x" * 50 + b"\r\n")


def test_announced_body_over_the_limit_is_refused():
    framer = StreamFramer(max_message_bytes=4096, max_header_bytes=1024)
    with pytest.raises(FramingError, match="exceeds"):
        framer.feed(MSG.replace(b"Content-Length: 5", b"Content-Length: 999999"))


def test_stray_bytes_between_messages_are_refused():
    with pytest.raises(FramingError):
        StreamFramer().feed(MSG + b"\r\r")
