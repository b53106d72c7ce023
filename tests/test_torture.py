"""RFC 4475 and RFC 5118 torture messages: parse() and check_request() as the RFCs say.

The files under tests/data are the RFC messages byte for byte (CRLF line
endings, <hex> escapes decoded). Section numbers are RFC 4475's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sizing.sip import (
    CSeq,
    MediaType,
    NameAddr,
    ParseError,
    Request,
    Response,
    UasPolicy,
    Via,
    check_request,
    parse,
    parse_uint,
    split_commas,
)

DATA = Path(__file__).parent / "data"


def load(name: str) -> bytes:
    folder = "rfc5118" if "." not in name else "rfc4475"
    return (DATA / folder / name).read_bytes()


# §3.1.1 valid messages, §3.2, §3.3, §3.4 (parse; the element decides), RFC 5118 valid ones
VALID = [
    "wsinv.dat",
    "intmeth.dat",
    "esc01.dat",
    "escnull.dat",
    "esc02.dat",
    "lwsdisp.dat",
    "longreq.dat",
    "dblreq.dat",
    "semiuri.dat",
    "transports.dat",
    "mpart01.dat",
    "unreason.dat",
    "noreason.dat",
    "badbranch.dat",
    "insuf.dat",
    "unkscm.dat",
    "novelsc.dat",
    "unksm2.dat",
    "bext01.dat",
    "invut.dat",
    "regaut01.dat",
    "bcast.dat",
    "zeromf.dat",
    "cparam01.dat",
    "cparam02.dat",
    "regescrt.dat",
    "sdp01.dat",
    "inv2543.dat",
    "ipv4-mapped-ipv6",
    "ipv6-correct-abnf-2-colons",
    "ipv6-good",
    "ipv6-in-sdp",
    "mult-ip-in-header",
    "mult-ip-in-sdp",
    "port-ambiguous",
    "port-unambiguous",
    "via-received-param-no-delim",
    "via-received-param-with-delim",
]

# §3.1.2 invalid messages (and §3.3.8/§3.3.9, which parse() already refuses), RFC 5118 bad ones
INVALID = {
    "badinv01.dat": 400,
    "clerr.dat": 400,
    "ncl.dat": 400,
    "scalar02.dat": 400,
    "scalarlg.dat": 400,
    "quotbal.dat": 400,
    "ltgtruri.dat": 400,
    "lwsruri.dat": 400,
    "lwsstart.dat": 400,
    "trws.dat": 400,
    "escruri.dat": 400,
    "baddate.dat": 400,
    "regbadct.dat": 400,
    "badaspec.dat": 400,
    "baddn.dat": 400,
    "badvers.dat": 505,
    "mismatch01.dat": 400,
    "mismatch02.dat": 400,
    "bigcode.dat": 400,
    "multi01.dat": 400,
    "mcl01.dat": 400,
    "ipv6-bad": 400,
    "ipv6-bug-abnf-3-colons": 400,
}

# what names the fault in each invalid message's ParseError
WHERE = {
    "badinv01.dat": "Via",
    "clerr.dat": "Content-Length",
    "ncl.dat": "Content-Length",
    "scalar02.dat": "CSeq",
    "scalarlg.dat": "CSeq",
    "quotbal.dat": "To",
    "ltgtruri.dat": "Request-URI",
    "lwsruri.dat": "request line",
    "lwsstart.dat": "request line",
    "trws.dat": "request line",
    "escruri.dat": "Request-URI",
    "baddate.dat": "Date",
    "regbadct.dat": "Contact",
    "badaspec.dat": "To",
    "baddn.dat": "From",
    "badvers.dat": "version",
    "mismatch01.dat": "CSeq",
    "mismatch02.dat": "CSeq",
    "bigcode.dat": "status code",
    "multi01.dat": "appears",
    "mcl01.dat": "Content-Length",
    "ipv6-bad": "Request-URI",
    "ipv6-bug-abnf-3-colons": "Request-URI",
}

LIST_VIEWS = {
    "Via": Via.parse_all,
    "Contact": NameAddr.parse_all,
    "Route": NameAddr.parse_all,
    "Record-Route": NameAddr.parse_all,
}
SINGLE_VIEWS = {
    "From": NameAddr.parse,
    "To": NameAddr.parse,
    "CSeq": CSeq.parse,
    "Content-Type": MediaType.parse,
    "Max-Forwards": parse_uint,
    "Content-Length": parse_uint,
    "Expires": parse_uint,
}


def test_every_data_file_is_classified():
    files = {p.name for p in (DATA / "rfc4475").iterdir()} | {
        p.name for p in (DATA / "rfc5118").iterdir()
    }
    assert files == set(VALID) | set(INVALID)


@pytest.mark.parametrize("name", VALID)
def test_valid_message_parses_with_every_header_readable(name):
    msg = parse(load(name))
    for header, value in msg.headers:
        if header in LIST_VIEWS:
            assert LIST_VIEWS[header](value)
        elif header in SINGLE_VIEWS:
            SINGLE_VIEWS[header](value)
        elif header in ("Accept", "Allow", "Supported", "Require", "Proxy-Require"):
            items = split_commas(value)
            if header == "Accept":
                for item in items:
                    MediaType.parse(item)
    # the typed accessors agree with the headers present
    assert msg.via or "Via" not in msg.headers
    assert (msg.cseq is not None) == ("CSeq" in msg.headers)
    assert (msg.from_ is not None) == ("From" in msg.headers)
    assert (msg.to is not None) == ("To" in msg.headers)
    assert msg.call_id == msg.headers.get("Call-ID")
    assert isinstance(msg.contact, list) and isinstance(msg.route, list)
    assert isinstance(msg.record_route, list)


@pytest.mark.parametrize("name", VALID)
def test_valid_message_survives_encode_and_parse(name):
    msg = parse(load(name))
    assert parse(msg.encode()) == msg


@pytest.mark.parametrize(("name", "status"), sorted(INVALID.items()))
def test_invalid_message_is_refused_with_status_and_place(name, status):
    with pytest.raises(ParseError) as info:
        parse(load(name))
    assert info.value.status == status
    assert WHERE[name].lower() in str(info.value).lower()


def test_wsinv_reads_through_folding_whitespace_and_compact_forms():
    msg = parse(load("wsinv.dat"))
    assert isinstance(msg, Request) and msg.method == "INVITE"
    assert [v.host for v in msg.via] == ["192.0.2.2", "spindle.example.com", "192.168.255.111"]
    assert msg.branch == "390skdjuw"
    assert msg.to_tag == "1918181833n" and msg.from_tag == "98asjd8"
    assert msg.from_.display_name == 'J Rosenberg \\"'
    assert msg.cseq == CSeq(9, "INVITE")
    assert msg.max_forwards == 68
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get("newfangledheader") == "newfangled value continued newfangled value"
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert msg.contact[0].display_name == 'Quoted string ""'
    assert msg.route[0].uri.lr
    assert len(msg.body) == 150


def test_intmeth_keeps_unusual_method_and_utf8_header():
    msg = parse(load("intmeth.dat"))
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert msg.cseq.method == msg.method
    assert msg.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff\u5927\u505c\u96fb"
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"


def test_esc02_method_is_not_unescaped_and_escaped_name_is_another_header():
    msg = parse(load("esc02.dat"))
    assert msg.method == "RE%47IST%45R"
    assert len(msg.contact) == 2
    assert msg.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_escnull_keeps_two_distinct_contacts():
    msg = parse(load("escnull.dat"))
    assert len(msg.contact) == 2 and msg.contact[0].uri != msg.contact[1].uri


def test_longreq_keeps_all_34_vias_in_order():
    msg = parse(load("longreq.dat"))
    hosts = [v.host for v in msg.via]
    assert len(hosts) == 34
    assert hosts[0] == "sip33.example.com" and hosts[-1] == "host.example.com"


def test_dblreq_discards_the_octets_after_content_length():
    msg = parse(load("dblreq.dat"))
    assert msg.method == "REGISTER" and msg.body == b""


def test_semiuri_accept_splits_across_folded_lines():
    msg = parse(load("semiuri.dat"))
    assert len(msg.headers.get_all("Accept")) == 6
    assert msg.uri.user == "user;par=u@example.net" or msg.uri.user.startswith("user;par=")


def test_transports_reads_unknown_transport():
    msg = parse(load("transports.dat"))
    assert [v.transport for v in msg.via] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_mpart01_keeps_binary_body_exactly():
    data = load("mpart01.dat")
    msg = parse(data)
    assert len(msg.body) == 553 and data.endswith(msg.body)


def test_unreason_and_noreason_reason_phrases():
    assert parse(load("unreason.dat")).reason.startswith("= 2**3 * 5**2 \u043d\u043e ")
    noreason = parse(load("noreason.dat"))
    assert isinstance(noreason, Response) and noreason.status == 100 and noreason.reason == ""


def test_inv2543_has_no_branch_and_is_accepted():
    msg = parse(load("inv2543.dat"))
    assert msg.branch is None and msg.top_via.host == "iftgw.example.com"
    assert check_request(msg) is None


def test_cparam01_param_belongs_to_the_contact_not_the_uri():
    contact = parse(load("cparam01.dat")).contact[0]
    assert "unknownparam" in contact.params and "unknownparam" not in contact.uri.params


def test_cparam02_param_belongs_to_the_uri():
    contact = parse(load("cparam02.dat")).contact[0]
    assert "unknownparam" in contact.uri.params and "unknownparam" not in contact.params


def test_regescrt_contact_uri_carries_the_escaped_header():
    contact = parse(load("regescrt.dat")).contact[0]
    assert "Route" in contact.uri.headers


# -- element behaviour, RFC 4475 §3.2-§3.4 ---------------------------------------

CHECKS = {
    "insuf.dat": 400,  # §3.3.1 missing Call-ID, From, To
    "unkscm.dat": 416,  # §3.3.2
    "novelsc.dat": 416,  # §3.3.3
    "unksm2.dat": 400,  # §3.3.4 REGISTER To must be sip/sips
    "bext01.dat": 420,  # §3.3.5
    "invut.dat": 415,  # §3.3.6
    "sdp01.dat": 406,  # §3.3.15
    "badbranch.dat": 400,  # §3.2.1
}


@pytest.mark.parametrize(("name", "status"), sorted(CHECKS.items()))
def test_uas_answers_rfc4475_request_with_status(name, status):
    rejection = check_request(parse(load(name)))
    assert rejection is not None and rejection.status == status


def test_bext01_420_lists_both_unsupported_extensions():
    rejection = check_request(parse(load("bext01.dat")))
    unsupported = dict(rejection.headers)["Unsupported"]
    assert split_commas(unsupported) == ["nothingSupportsThis", "nothingSupportsThisEither"]


def test_invut_415_says_what_is_accepted():
    rejection = check_request(parse(load("invut.dat")))
    assert dict(rejection.headers)["Accept"] == "application/sdp"


def test_zeromf_is_483_at_a_proxy_but_processed_by_a_uas():
    msg = parse(load("zeromf.dat"))
    assert msg.max_forwards == 0
    assert check_request(msg) is None
    assert check_request(msg, UasPolicy(proxy=True)).status == 483


@pytest.mark.parametrize(
    "name",
    [
        "wsinv.dat",
        "esc01.dat",
        "lwsdisp.dat",
        "semiuri.dat",
        "regaut01.dat",
        "cparam01.dat",
        "cparam02.dat",
        "regescrt.dat",
        "escnull.dat",
        "dblreq.dat",
    ],
)
def test_uas_accepts_well_formed_rfc4475_request(name):
    assert check_request(parse(load(name))) is None


def test_parse_error_builds_the_400_a_uas_sends_for_mismatch01():
    with pytest.raises(ParseError) as info:
        parse(load("mismatch01.dat"))
    response = info.value.response(to_tag="t1")
    assert response.status == 400 and response.reason == "Bad Request"
    assert response.call_id == "mismatch01.dj0234sxdfl3" and response.to_tag == "t1"
    assert response.branch == "z9hG4bKkdjuw"


def test_parse_error_builds_505_for_badvers_despite_its_start_line():
    with pytest.raises(ParseError) as info:
        parse(load("badvers.dat"))
    response = info.value.response()
    assert response.status == 505 and response.call_id == "badvers.31417@c.example.com"


@pytest.mark.parametrize("name", ["bigcode.dat", "badinv01.dat"])
def test_parse_error_has_no_response_for_a_response_or_an_unreadable_via(name):
    with pytest.raises(ParseError) as info:
        parse(load(name))
    assert info.value.response() is None


def test_parse_error_for_clerr_still_answers_400():
    with pytest.raises(ParseError) as info:
        parse(load("clerr.dat"))
    assert info.value.response().status == 400
