"""parse() of a long header section or list kept whole gives what splitting it gives.

A section of many lines whose every line is ``token: value`` is not split by
parse(): only the lines of the headers it validates are picked out, and the
fields are split on first use. A long Via or Contact list of plain elements is
checked by one pattern, its elements matched when first read. Each message
here is parsed both ways (the threshold raised so that the same section or list
is split at once) and must give the same fields, index, typed values and errors.
"""

from __future__ import annotations

import pytest

from sizing.sip import ParseError, message, parse

_PAD = "".join(f"X-Pad-{i}: {i}\r\n" for i in range(80))


def _request(extra: str = "", **replace: str) -> bytes:
    lines = {
        "Via": "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
        "Max-Forwards": "Max-Forwards: 70",
        "To": "To: <sip:bob@biloxi.example.com>",
        "From": "From: <sip:alice@atlanta.example.com>;tag=1928301774",
        "Call-ID": "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
        "CSeq": "CSeq: 314159 INVITE",
        "Contact": "Contact: <sip:alice@pc33.atlanta.example.com>",
    }
    lines.update(replace)
    head = "".join(f"{line}\r\n" for line in lines.values() if line)
    return f"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n{head}{_PAD}{extra}Content-Length: 0\r\n\r\n".encode("utf-8", "surrogateescape")


ACCEPTED = {
    "plain": _request(),
    "compact and odd-case names": _request("v: SIP/2.0/UDP h2.example.com;branch=z9hG4bK2\r\n"
                                           "VIA: SIP/2.0/UDP h3.example.com\r\nl: 0\r\n",
                                           To="t: <sip:bob@biloxi.example.com>",
                                           From="FROM: <sip:a@b.example.com>;tag=1",
                                           CSeq="cseq: 314159 INVITE",
                                           Contact="m: <sip:a@h.example.com>"),
    "blanks around names and values": _request("Via \t: SIP/2.0/UDP h2.example.com \t\r\n"
                                               "X-Blank :  \r\nX-Empty:\r\n",
                                               **{"Call-ID": "i :  abc@def  "}),
    "names that only start like validated ones": _request(
        "Via-Extra: x\r\nTox: y\r\nCall-Info: <http://x>\r\nMax-Breadth: 60\r\nDate-X: z\r\n"
        "Content-Type: application/sdp\r\nContacts: q\r\nl1: 2\r\n"),
    "a date and repeated lengths": _request("Date: Sat, 13 Nov 2010 23:29:00 GMT\r\nl: 0\r\nl: 00\r\n"),
    "a long Via and Contact list": _request(
        "".join(f"Via: SIP/2.0/UDP p{i}.example.com;branch=z9hG4bK{i}\r\n" for i in range(8)),
        Contact="Contact: " + ", ".join(f"<sip:u{i}@p{i}.example.com>" for i in range(40))),
    "a folded line": _request("X-Folded: one\r\n two\r\n"),
    "no Via, To, From or CSeq": _request(Via="", To="", From="", CSeq=""),
    "undecodable bytes and UTF-8": _request("X-Name: caf\u00e9 \udcff\r\n"),
}

REFUSED = {
    "a line without a colon": _request("Just a line\r\n"),
    "a name that is not a token": _request("X Y: 1\r\n"),
    "From twice": _request("f: <sip:x@y.example.com>\r\n"),
    "differing lengths": _request("l: 1\r\n"),
    "a bad Via among many": _request("Via: SIP/2.0/UDP p1.example.com\r\nv: SIP/2.0\r\n"),
    "a bad date": _request("Date: yesterday\r\n"),
    "a bad Contact in a long list": _request(
        Contact="m: " + ", ".join(f"<sip:u{i}@p{i}.example.com>" for i in range(30)) + ", <bad"),
    "a bare LF": _request("X-Bare: a\nb\r\n"),
    "a bare CR in the start line, a bare LF in a value": _request("X-Bare: a\nb\r\n").replace(
        b"SIP/2.0\r\n", b"SIP/2.0\rx\r\n", 1),
    "a bare CR ending a value": _request("X-Bare: a\r\r\n"),
}


def _both(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    def attempt() -> object:
        try:
            return parse(data)
        except ParseError as err:
            fields = None if err.headers is None else list(err.headers)
            return (str(err), err.status, err.request, fields)

    whole = attempt()
    with monkeypatch.context() as patch:
        patch.setattr(message, "_WHOLE_SECTION_LINES", 10**9)
        split = attempt()
    return whole, split


def _views(msg: message.Request) -> list[object]:
    return [
        list(msg.headers), msg.headers._lookup(), msg.via, msg.branch, msg.top_via,
        msg.to, msg.from_, msg.to_tag, msg.from_tag, msg.call_id, msg.cseq, msg.max_forwards,
        msg.contact, msg.headers.get("x-pad-7"), msg.headers.get_all("Via"), msg.encode(),
    ]


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_a_whole_section_reads_as_a_split_one(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    whole, split = _both(ACCEPTED[case], monkeypatch)
    assert isinstance(whole, message.Request) and isinstance(split, message.Request)
    assert whole.headers._text is not None  # kept whole until read
    assert _views(whole) == _views(split)


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_whole_section_is_refused_as_a_split_one(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    whole, split = _both(REFUSED[case], monkeypatch)
    assert isinstance(whole, tuple), whole
    assert whole == split


def test_a_whole_section_copies_and_edits_like_a_split_one(monkeypatch: pytest.MonkeyPatch) -> None:
    whole, split = _both(ACCEPTED["plain"], monkeypatch)
    assert isinstance(whole, message.Request) and isinstance(split, message.Request)
    copied = whole.headers.copy()
    whole.headers.set("X-Pad-3", "changed")
    split.headers.set("X-Pad-3", "changed")
    assert list(whole.headers) == list(split.headers)
    assert copied.get("X-Pad-3") == "3" and whole.headers.get("x-pad-3") == "changed"
    assert whole.create_response(180, to_tag="t").encode() == split.create_response(180, to_tag="t").encode()


_LENGTHS = "l:0\r\n" * 200
REPEATED = {
    "a short line repeated": _request(_LENGTHS),
    "a short Via line repeated": _request("v:SIP/2.0/UDP h\r\n" * 200, Via=""),
    "distinct Vias among repeats": _request(_LENGTHS + "v:SIP/2.0/UDP a\r\nv:SIP/2.0/UDP b\r\n"),
    "Vias repeated among others": _request(_LENGTHS + "v:SIP/2.0/UDP a\r\nv:SIP/2.0/UDP b\r\n" * 50),
    "From repeated": _request("f:<sip:a@b.example.com>\r\n" * 200),
    "a differing length among repeats": _request(_LENGTHS + "l:1\r\n" + _LENGTHS),
    "a bad date repeated": _request("Date:x\r\n" * 200),
    "a bad name among repeats": _request(_LENGTHS + "X Y:1\r\n"),
    "a folded line among repeats": _request(_LENGTHS + "X-Folded: one\r\n two\r\n"),
}


@pytest.mark.parametrize("case", list(REPEATED))
def test_a_section_of_repeated_short_lines_reads_as_a_split_one(
        case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its lines are checked once per distinct line (see message._repeated_lines)."""
    whole, split = _both(REPEATED[case], monkeypatch)
    if isinstance(whole, message.Request) and isinstance(split, message.Request):
        assert _views(whole) == _views(split)
    else:
        assert whole == split


_VIAS = [f"SIP/2.0/UDP p{i}.example.com;branch=z9hG4bK{i}" for i in range(40)]
_CONTACTS = [f"<sip:u{i}@p{i}.example.com>" for i in range(40)]
LISTS = {
    "Via lines": _request("".join(f"v: {via}\r\n" for via in _VIAS[1:]), Via=f"Via: {_VIAS[0]}"),
    "a Via list": _request(Via="Via: " + " ,\t".join(_VIAS)),
    "a Via list over two lines": _request(f"Via: {', '.join(_VIAS[20:])}\r\n",
                                          Via=f"Via: {', '.join(_VIAS[:20])}"),
    "a Contact list": _request(Contact="m: " + ",".join(_CONTACTS)),
    "Vias of two parameters": _request(Via="Via: " + ", ".join(v + ";rport" for v in _VIAS)),
}


@pytest.mark.parametrize("case", list(LISTS))
@pytest.mark.parametrize("first_read", ["branch", "top_via", "via", "contact"])
def test_a_long_list_checked_whole_reads_as_one_checked_element_by_element(
        case: str, first_read: str, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = parse(LISTS[case])
    with monkeypatch.context() as patch:
        patch.setattr(message, "_PLAIN_LIST_MIN", 10**9)
        split = parse(LISTS[case])
    assert getattr(whole, first_read) == getattr(split, first_read)
    for read in ("branch", "top_via", "via", "contact"):
        assert getattr(whole, read) == getattr(split, read), read
    assert whole.encode() == split.encode()


def test_a_long_list_with_one_bad_element_is_refused_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _request(Via="Via: " + ", ".join([*_VIAS, "SIP/2.0/UDP bad host"]))
    errors = []
    for limit in (message._PLAIN_LIST_MIN, 10**9):
        monkeypatch.setattr(message, "_PLAIN_LIST_MIN", limit)
        with pytest.raises(ParseError) as info:
            parse(data)
        errors.append(str(info.value))
    assert errors[0] == errors[1] and errors[0].startswith("Via:")
