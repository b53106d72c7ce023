"""Request/Response containers, parse() and encode()."""

from __future__ import annotations

import pytest

from sizing.sip import (
    URI,
    CSeq,
    HeaderError,
    Headers,
    NameAddr,
    ParseError,
    Request,
    Response,
    Via,
    parse,
)
from sizing.sip.message import COMPACT_FORMS

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


def invite(**replace: bytes) -> bytes:
    data = INVITE
    for old, new in replace.items():
        data = data.replace(old.encode(), new)
    return data


def test_parse_request_reads_start_line_headers_and_body():
    msg = parse(INVITE)
    assert isinstance(msg, Request)
    assert msg.method == "INVITE" and msg.uri == URI.parse("sip:bob@biloxi.example.com")
    assert msg.branch == "z9hG4bK776asdhds"
    assert msg.cseq == CSeq(314159, "INVITE")
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert msg.from_tag == "1928301774" and msg.to_tag is None
    assert msg.max_forwards == 70
    assert msg.body == b"v=0\n"


def test_parse_response_reads_status_and_reason():
    msg = parse(b"SIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (180, "Ringing")


@pytest.mark.parametrize(("short", "long"), sorted(COMPACT_FORMS.items()))
def test_compact_form_names_are_canonicalised(short, long):
    headers = Headers([(short, "x")])
    assert list(headers) == [(long, "x")]
    assert headers.get(short.upper()) == "x" and headers.get(long.upper()) == "x"


def test_header_names_match_case_insensitively_and_unknown_names_keep_spelling():
    msg = parse(invite(**{"Max-Forwards: 70\r\n": b"mAx-FoRwArDs: 70\r\nX-Trace-ID: abc\r\n"}))
    assert msg.max_forwards == 70
    assert ("Max-Forwards", "70") in list(msg.headers)
    assert ("X-Trace-ID", "abc") in list(msg.headers)
    assert msg.headers.get("x-trace-id") == "abc"


def test_folded_header_value_is_unfolded_to_single_spaces():
    msg = parse(invite(**{"Max-Forwards: 70": b"Subject: first\r\n\t second\r\nMax-Forwards: 70"}))
    assert msg.headers.get("Subject") == "first second"


def test_repeated_headers_keep_order_and_list_values_split():
    data = invite(
        **{
            "Contact: <sip:alice@pc33.atlanta.example.com>": (
                b"Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
                b"Route: <sip:p3.example.com;lr>\r\n"
                b"Contact: <sip:alice@pc33.atlanta.example.com>"
            )
        }
    )
    msg = parse(data)
    assert msg.headers.get_all("Route") == [
        "<sip:p1.example.com;lr>",
        "<sip:p2.example.com;lr>",
        "<sip:p3.example.com;lr>",
    ]
    assert [r.uri.host for r in msg.route] == ["p1.example.com", "p2.example.com", "p3.example.com"]


def test_non_list_header_values_are_not_split_at_commas():
    headers = Headers([("Subject", "a, b"), ("Date", "Sat, 13 Nov 2010 23:29:00 GMT")])
    assert headers.get_all("Subject") == ["a, b"]
    assert headers.get_all("Date") == ["Sat, 13 Nov 2010 23:29:00 GMT"]


def test_encode_parse_roundtrip_is_equal():
    msg = parse(INVITE)
    assert parse(msg.encode()) == msg


def test_encode_writes_content_length_of_the_actual_body():
    msg = parse(INVITE)
    msg.body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
    data = msg.encode()
    assert data.count(b"Content-Length") == 1
    assert f"Content-Length: {len(msg.body)}\r\n\r\n".encode() in data
    assert parse(data).body == msg.body


def test_build_request_from_scratch():
    req = Request(
        "OPTIONS",
        "sip:carol@chicago.example.com",
        [
            ("Via", "SIP/2.0/UDP host.example.com;branch=z9hG4bKx1"),
            ("Max-Forwards", 70),
            ("To", "<sip:carol@chicago.example.com>"),
            ("From", "<sip:alice@atlanta.example.com>;tag=1"),
            ("Call-ID", "c1@host"),
            ("CSeq", CSeq(1, "OPTIONS")),
        ],
    )
    data = req.encode()
    assert data.startswith(b"OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n")
    assert data.endswith(b"Content-Length: 0\r\n\r\n")
    assert parse(data) == req and req.cseq == CSeq(1, "OPTIONS")


def test_create_response_copies_identifiers_and_adds_to_tag():
    req = parse(INVITE)
    res = req.create_response(200, to_tag="a6c85cf", headers=[("Contact", "<sip:bob@192.0.2.4>")])
    assert (res.status, res.reason) == (200, "OK")
    assert [n for n, _ in res.headers] == ["Via", "To", "From", "Call-ID", "CSeq", "Contact"]
    assert res.to_tag == "a6c85cf" and res.from_tag == "1928301774"
    assert res.branch == req.branch and res.cseq == req.cseq and res.call_id == req.call_id
    assert parse(res.encode()) == res


def test_create_response_100_has_no_to_tag_and_echoes_timestamp():
    req = parse(invite(**{"Max-Forwards: 70": b"Timestamp: 54\r\nMax-Forwards: 70"}))
    res = req.create_response(100, to_tag="x")
    assert res.to_tag is None and res.headers.get("Timestamp") == "54"


def test_create_response_keeps_an_existing_to_tag():
    req = parse(invite(**{"To: Bob <sip:bob@biloxi.example.com>": b"To: <sip:b@b.example>;tag=t1"}))
    assert req.create_response(486, to_tag="t2").to_tag == "t1"


def test_headers_set_replaces_and_invalidates_cached_views():
    msg = parse(INVITE)
    assert msg.cseq.number == 314159
    msg.headers.set("CSeq", "314160 INVITE")
    assert msg.cseq.number == 314160
    msg.headers.remove("Via")
    assert msg.via == [] and msg.branch is None and "Via" not in msg.headers


def test_typed_views_built_from_the_fast_path_equal_the_full_parsers():
    data = invite(
        **{
            "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds": (
                b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n"
                b"Via: SIP/2.0/TCP 192.0.2.7:5070;branch=z9hG4bKa;received=192.0.2.9"
            ),
            "Contact: <sip:alice@pc33.atlanta.example.com>": (
                b'Contact: "A" <sip:alice@192.0.2.1:5060;transport=udp>;expires=60'
            ),
        }
    )
    msg = parse(data)
    head = data.decode()
    lines = dict(line.split(": ", 1) for line in head.split("\r\n")[1:9] if ": " in line)
    assert msg.top_via == Via.parse(head.split("\r\n")[1][5:])
    assert msg.via == [Via.parse(v[5:]) for v in head.split("\r\n")[1:3]]
    assert msg.from_ == NameAddr.parse(lines["From"]) and msg.to == NameAddr.parse(lines["To"])
    assert msg.contact == NameAddr.parse_all(lines["Contact"])
    assert msg.uri == URI.parse("sip:bob@biloxi.example.com")


def test_comma_joined_vias_and_contacts_read_as_the_full_parser_reads_them():
    via = "SIP/2.0/UDP p1.example.com;branch=z9hG4bK1, SIP/2.0/TCP 192.0.2.7:5070;branch=z9hG4bK2"
    contact = '"A, B" <sip:a@192.0.2.1;transport=udp>;expires=60,<sip:b@b.example.com>'
    msg = parse(
        invite(
            **{
                "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds": (
                    f"Via: {via}".encode()
                ),
                "Contact: <sip:alice@pc33.atlanta.example.com>": f"Contact: {contact}".encode(),
            }
        )
    )
    assert msg.via == Via.parse_all(via) and len(msg.via) == 2
    assert msg.branch == "z9hG4bK1" and msg.top_via.host == "p1.example.com"
    assert msg.contact == NameAddr.parse_all(contact) and msg.contact[0].display_name == "A, B"


def test_a_comma_joined_via_with_an_empty_element_is_refused():
    data = invite(
        **{
            "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds": (
                b"Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1,,SIP/2.0/UDP p2.example.com"
            )
        }
    )
    with pytest.raises(ParseError, match="Via: .*empty element"):
        parse(data)


def test_unusual_shapes_take_the_full_parser_and_read_the_same():
    msg = parse(
        invite(
            **{
                "Via: SIP/2.0/UDP pc33.atlanta.example.com;": b"Via: SIP / 2.0 / UDP [2001:db8::1] ;",
                "To: Bob <sip:bob@biloxi.example.com>": b"To: Bob <sip:bob@biloxi.example.com>;TAG=x",
            }
        )
    )
    assert msg.top_via.host == "[2001:db8::1]" and msg.branch == "z9hG4bK776asdhds"
    assert msg.to_tag == "x"


def test_request_uri_can_be_replaced_after_parse():
    msg = parse(INVITE)
    msg.uri = "sip:carol@chicago.example.com"
    assert msg.uri == URI.parse("sip:carol@chicago.example.com")
    assert msg.encode().startswith(b"INVITE sip:carol@chicago.example.com SIP/2.0\r\n")


def test_folded_continuation_holding_a_colon_is_unfolded():
    data = invite(**{"Max-Forwards: 70": b"Subject: call me\r\n\tback: now\r\nMax-Forwards: 70"})
    assert parse(data).headers.get("Subject") == "call me back: now"


def test_headers_reject_injection():
    with pytest.raises(HeaderError):
        Headers().add("Subject", "x\r\nVia: evil")
    with pytest.raises(HeaderError):
        Headers().add("Bad Name", "x")


def test_equality_compares_by_value():
    assert parse(INVITE) == parse(INVITE)
    other = parse(INVITE)
    other.headers.add("X-A", "1")
    assert other != parse(INVITE)


def test_surplus_bytes_after_body_are_discarded():
    assert parse(INVITE + b"garbage").body == b"v=0\n"


def test_leading_crlf_before_start_line_is_ignored():
    assert parse(b"\r\n\r\n" + INVITE).method == "INVITE"


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"", "empty"),
        (INVITE[:60], "CRLF CRLF"),
        (invite(**{"SIP/2.0\r\nVia": b"SIP/2.0\nVia"}), "CR or LF"),
        (invite(**{"Max-Forwards: 70": b"Max-Forwards 70"}), "without ':'"),
        (invite(**{"Max-Forwards: 70": b"Max Forwards: 70"}), "header name"),
        (invite(**{"Max-Forwards: 70": b"Max-Forwards: seventy"}), "Max-Forwards"),
        (invite(**{"Max-Forwards: 70": b"Max-Forwards: 256"}), "Max-Forwards"),
        (invite(**{"CSeq: 314159 INVITE": b"CSeq: 2147483648 INVITE"}), "CSeq"),
        (invite(**{"Call-ID: a84b": b"Call-ID: a b"}), "Call-ID"),
        (invite(**{"Content-Length: 4": b"Content-Length: 5"}), "Content-Length"),
        (b"SIP/2.0 99 Odd\r\n\r\n", "status code"),
        (b"SIP/2.0 2000 OK\r\n\r\n", "status code"),
        (b"HTTP/1.1 200 OK\r\n\r\n", "request line"),
        (invite(**{"INVITE sip": b"INV ITE sip"}), "request line"),
        (invite(**{"INVITE sip:bob@biloxi.example.com": b"INVITE <bob>"}), "Request-URI"),
    ],
)
def test_malformed_message_raises_parse_error_naming_the_place(data, where):
    with pytest.raises(ParseError) as info:
        parse(data)
    assert info.value.status == 400
    assert where.lower() in str(info.value).lower()


def test_unknown_sip_version_is_505():
    with pytest.raises(ParseError) as info:
        parse(invite(**{"SIP/2.0\r\nVia": b"SIP/3.0\r\nVia"}))
    assert info.value.status == 505


def test_parse_rejects_non_bytes():
    with pytest.raises(TypeError):
        parse("INVITE sip:a@b SIP/2.0\r\n\r\n")  # type: ignore[arg-type]


def test_response_defaults_reason_and_validates_status():
    assert Response(404).reason == "Not Found"
    with pytest.raises(HeaderError):
        Response(42)


def test_dialog_establishing_response_copies_record_route_in_order() -> None:
    invite = parse(
        b"INVITE sip:bob@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK2\r\n"
        b"Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
        b"Record-Route: <sip:p2.example.com;lr>\r\n"
        b"Record-Route: <sip:p1.example.com;lr>\r\n"
        b"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
        b"Call-ID: rr@a\r\nCSeq: 1 INVITE\r\nMax-Forwards: 69\r\n"
        b"Contact: <sip:alice@a.example.com>\r\nContent-Length: 0\r\n\r\n"
    )
    expected = ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    for status in (180, 200):
        assert invite.create_response(status, to_tag="t").headers.get_lines("Record-Route") == expected
    for status in (100, 486):
        assert invite.create_response(status, to_tag="t").headers.get_lines("Record-Route") == []


# -- engine-built messages: accessors and header checks ------------------------------


def _built_invite(via: str = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK77;rport") -> Request:
    return Request(
        "INVITE",
        "sip:bob@example.com",
        [
            ("Via", via),
            ("From", "<sip:alice@example.com>;tag=a1"),
            ("To", '"Bob" <sip:bob@example.com>'),
            ("Call-ID", "c1@h"),
            ("CSeq", "7 INVITE"),
            ("Contact", "<sip:alice@10.0.0.1:5060>"),
        ],
    )


def test_built_message_typed_views_equal_those_of_its_parsed_bytes() -> None:
    built = _built_invite()
    parsed = parse(built.encode())
    assert (built.branch, built.from_tag, built.to_tag) == ("z9hG4bK77", "a1", None)
    assert built.via == parsed.via and built.top_via == parsed.top_via
    assert (built.from_, built.to, built.contact, built.cseq) == (
        parsed.from_,
        parsed.to,
        parsed.contact,
        parsed.cseq,
    )


def test_built_message_with_malformed_via_still_raises_on_read() -> None:
    with pytest.raises(HeaderError):
        _ = _built_invite(via="SIP/2.0/UDP 10.0.0.1:99999;branch=z9hG4bK1").branch


def test_header_name_check_still_rejects_bad_names_after_good_ones() -> None:
    headers = Headers([("X-Fine", "1")])
    headers.add("X-Fine", "2")
    with pytest.raises(HeaderError, match="not a token"):
        headers.add("X Bad", "3")


def test_headers_extend_keeps_order_and_canonical_names() -> None:
    headers = Headers([("v", "SIP/2.0/UDP h;branch=z9hG4bK1")])
    headers.extend([("i", "c@h"), ("X-A", 5)])
    assert list(headers) == [("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("Call-ID", "c@h"), ("X-A", "5")]
    assert headers.get("call-id") == "c@h"


def test_encode_without_headers_has_no_empty_line_before_content_length() -> None:
    assert Request("OPTIONS", "sip:a@b").encode() == b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n"


# -- typed values kept across copies and edits --------------------------------------------


def _read_all(message: Request) -> tuple[object, ...]:
    return (
        message.via,
        message.top_via,
        message.branch,
        message.from_,
        message.to,
        message.to_tag,
        message.cseq,
        message.max_forwards,
        message.contact,
        message.route,
        message.record_route,
        message.content_type,
        message.expires,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Via", "SIP/2.0/TCP other.example.com:5070;branch=z9hG4bKnew"),
        ("From", "<sip:carol@chicago.example.com>;tag=99"),
        ("To", "<sip:dave@denver.example.com>;tag=7"),
        ("CSeq", "2 INVITE"),
        ("Max-Forwards", "9"),
        ("Contact", "<sip:carol@192.0.2.9:5080>"),
        ("Route", "<sip:p1.example.com;lr>"),
        ("Record-Route", "<sip:p2.example.com;lr>"),
        ("Content-Type", "text/plain"),
        ("Expires", "30"),
    ],
)
def test_an_edited_copy_reads_the_new_value_and_the_original_keeps_its_own(
    name: str, value: str
) -> None:
    original = parse(INVITE)
    before = _read_all(original)  # fills the cache the copy starts from
    headers = original.headers.copy()
    headers.set(name, value)
    edited = Request("INVITE", original.uri, headers, original.body)
    fresh = parse(edited.encode())  # what the edited message says, read from scratch
    assert _read_all(edited) == _read_all(fresh)
    assert _read_all(original) == before
    assert edited.headers.get(name) == value and original.headers.get(name) != value


def test_adding_and_removing_a_header_drops_only_its_typed_value() -> None:
    headers = parse(INVITE).headers.copy()
    message = Request("INVITE", "sip:bob@biloxi.example.com", headers)
    assert message.route == [] and message.cseq == CSeq(314159, "INVITE")
    headers.add("Route", "<sip:p1.example.com;lr>")
    assert [str(r) for r in message.route] == ["<sip:p1.example.com;lr>"]
    headers.remove("v")  # compact form of Via
    assert message.via == [] and message.branch is None
    assert message.cseq == CSeq(314159, "INVITE")


def test_a_uri_parsed_twice_is_the_same_value_and_errors_are_not_remembered() -> None:
    text = "sip:bob@biloxi.example.com:5060;transport=tcp"
    assert URI.parse(text) is URI.parse(text)
    assert str(URI.parse("SIP:bob@b.example.com:05060")) == "sip:bob@b.example.com:5060"
    for _ in range(2):
        with pytest.raises(HeaderError):
            URI.parse("sip:bob@b.example.com:99999")
