"""Property tests: encode/parse round trip, robustness on random bytes, framing by any chunking."""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sizing.sip import KEEPALIVE, PONG, CSeq, ParseError, Request, Response, StreamFramer, parse

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DATA = Path(__file__).parent / "data"
SAMPLES = sorted(p.read_bytes() for p in (DATA / "rfc4475").iterdir())

token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~",
    min_size=1,
    max_size=12,
)
user = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()&=+$", min_size=1, max_size=10
)
host = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z][a-z0-9]{0,8}){0,2}", fullmatch=True)
text_value = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r\n"),
    max_size=30,
).map(lambda s: s.strip(" \t"))
extension = st.tuples(token.map(lambda t: "X-" + t), text_value)


@st.composite
def messages(draw):
    tag = draw(token)
    method = draw(st.sampled_from(["INVITE", "BYE", "OPTIONS", "REGISTER", "MESSAGE"]))
    headers = [
        (
            "Via",
            f"SIP/2.0/{draw(st.sampled_from(['UDP', 'TCP', 'TLS']))} {draw(host)}"
            f";branch=z9hG4bK{draw(token)}",
        ),
        ("From", f"<sip:{draw(user)}@{draw(host)}>;tag={tag}"),
        ("To", f"<sip:{draw(user)}@{draw(host)}>"),
        ("Call-ID", f"{draw(token)}@{draw(host)}"),
        ("CSeq", str(CSeq(draw(st.integers(0, 2**31 - 1)), method))),
        ("Max-Forwards", str(draw(st.integers(0, 255)))),
    ]
    headers += draw(st.lists(extension, max_size=4))
    order = draw(st.permutations(range(len(headers))))
    headers = [headers[i] for i in order]
    body = draw(st.binary(max_size=64))
    if body:
        headers.append(("Content-Type", "application/octet-stream"))
    if draw(st.booleans()):
        return Request(method, f"sip:{draw(user)}@{draw(host)}", headers, body)
    return Response(draw(st.integers(100, 699)), draw(text_value), headers, body)


@SETTINGS
@given(messages())
def test_parse_of_encode_gives_an_equal_message(msg):
    assert parse(msg.encode()) == msg


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_parse_error(data):
    with contextlib.suppress(ParseError):
        parse(data)


@SETTINGS
@given(st.sampled_from(SAMPLES), st.data())
def test_mutated_torture_messages_raise_only_parse_error(sample, data):
    raw = bytearray(sample)
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if op == "flip" and raw:
            raw[pos] = data.draw(st.integers(0, 255))
        elif op == "insert":
            raw[pos:pos] = data.draw(
                st.sampled_from(
                    [
                        b":",
                        b";",
                        b",",
                        b"<",
                        b">",
                        b'"',
                        b"\r\n",
                        b" ",
                        b"\x00",
                        b"%",
                        b"@",
                        b"\xff",
                    ]
                )
            )
        elif raw:
            del raw[pos]
    with contextlib.suppress(ParseError):
        parse(bytes(raw))


@SETTINGS
@given(st.lists(messages(), min_size=1, max_size=4), st.data())
def test_framer_gives_the_same_messages_for_any_chunking(msgs, data):
    stream = b"".join(b"\r\n\r\n" + m.encode() for m in msgs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    framer = StreamFramer()
    out = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += framer.feed(stream[start:end])
    framed = [item for item in out if item not in (KEEPALIVE, PONG)]
    assert framed == [m.encode() for m in msgs]
    assert [parse(item) for item in framed] == msgs
    assert framer.buffered == 0
