"""Typed header views: grammar (RFC 3261 §25.1 and extensions), torture values, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sizing.sip.errors import HeaderError
from sizing.sip.headers import (
    CSeq,
    DigestChallenge,
    DigestCredentials,
    Event,
    MediaType,
    NameAddr,
    SessionExpires,
    SubscriptionState,
    UserToUser,
    Via,
    addr_tag,
    match_cseq,
    match_list,
    match_name_addr,
    match_via,
    parse_uint,
    plain_list,
    split_commas,
    via_branch,
)
from sizing.sip.uri import MANY_PARAMS, URI, match_request_uri

# -- split_commas -------------------------------------------------------------------


def test_split_commas_plain_list():
    assert split_commas("a, b ,c") == ["a", "b", "c"]


def test_split_commas_keeps_quoted_commas():
    assert split_commas('"Bell, Alexander" <sip:a@b.com>, <sip:c@d.com>') == [
        '"Bell, Alexander" <sip:a@b.com>',
        "<sip:c@d.com>",
    ]


def test_split_commas_keeps_commas_inside_angle_brackets():
    assert split_commas("<sip:a@b.com?x=1,2>, <sip:c@d.com>") == [
        "<sip:a@b.com?x=1,2>",
        "<sip:c@d.com>",
    ]


def test_split_commas_escaped_quote_does_not_end_the_string():
    assert split_commas(r'"a\", b" <sip:a@b.com>, x') == [r'"a\", b" <sip:a@b.com>', "x"]


def test_split_commas_blank_value_is_empty_list():
    assert split_commas("  ") == []


def test_split_commas_keeps_empty_elements_for_the_caller_to_reject():
    assert split_commas("a,,b") == ["a", "", "b"]


def test_split_commas_unterminated_quote_is_an_error():
    with pytest.raises(HeaderError, match="unterminated quoted string"):
        split_commas('"a, b')


def test_split_commas_unterminated_angle_is_an_error():
    with pytest.raises(HeaderError, match="unterminated '<'"):
        split_commas("<sip:a@b.com, c")


# -- parse_uint ------------------------------------------------------------------------


def test_parse_uint_leading_zeros_rfc4475_wsinv():
    assert parse_uint("0068") == 68


def test_parse_uint_surrounding_whitespace():
    assert parse_uint(" \t70 ") == 70


@pytest.mark.parametrize("value", ["", "-1", "1.5", "7 0", "0x10", "seventy", "+5"])
def test_parse_uint_rejects_non_digits(value):
    with pytest.raises(HeaderError, match="expected an unsigned integer"):
        parse_uint(value)


def test_parse_uint_error_names_the_header():
    with pytest.raises(HeaderError, match="^Max-Forwards: "):
        parse_uint("x", "Max-Forwards")


def test_parse_uint_rejects_absurd_size():
    with pytest.raises(HeaderError, match="too large"):
        parse_uint("9" * 40)


# -- CSeq ------------------------------------------------------------------------------


def test_cseq_fields():
    assert CSeq.parse("4711 INVITE") == CSeq(4711, "INVITE")


def test_cseq_rfc4475_wsinv_leading_zeros_and_fold():
    assert CSeq.parse("0009\r\n  INVITE") == CSeq(9, "INVITE")


def test_cseq_rfc4475_intmeth_unusual_method():
    method = "!interesting-Method0123456789_*+`.%indeed'~"
    assert CSeq.parse(f"139122385 {method}").method == method


def test_cseq_maximum_number():
    assert CSeq.parse("2147483647 ACK").number == 2**31 - 1


def test_cseq_number_above_2_31_is_rejected():
    with pytest.raises(HeaderError, match="exceeds"):
        CSeq.parse("2147483648 INVITE")


@pytest.mark.parametrize("value", ["INVITE", "12", "-1 INVITE", "1 INV ITE", "1 <INVITE>"])
def test_cseq_malformed_is_rejected(value):
    with pytest.raises(HeaderError, match="CSeq"):
        CSeq.parse(value)


def test_cseq_constructor_checks_range():
    with pytest.raises(HeaderError, match="out of range"):
        CSeq(-1, "INVITE")


def test_cseq_str():
    assert str(CSeq.parse(" 0009   INVITE ")) == "9 INVITE"


# -- Via -------------------------------------------------------------------------------


def test_via_fields():
    via = Via.parse("SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;received=192.0.2.1")
    assert (via.protocol, via.transport, via.host, via.port) == (
        "SIP/2.0",
        "UDP",
        "pc33.atlanta.com",
        5066,
    )
    assert (via.branch, via.received) == ("z9hG4bK776asdhds", "192.0.2.1")


def test_via_transport_is_uppercased():
    assert Via.parse("SIP/2.0/tls host.example.com").transport == "TLS"


def test_via_rfc4475_wsinv_lws_around_slashes():
    via = Via.parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw")
    assert (via.transport, via.host, via.branch) == ("UDP", "192.0.2.2", "390skdjuw")


def test_via_rfc4475_wsinv_two_values_with_lws_around_params():
    vias = Via.parse_all(
        "SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ,\r\n"
        " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239"
    )
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]


def test_via_rfc4475_intmeth_branch_with_unusual_token():
    via = Via.parse("SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~")
    assert via.branch == "z9hG4bK-.!%66*_+`'~"


def test_via_rfc4475_badaspec_via_is_valid():
    via = Via.parse("SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234")
    assert via.sent_by == "host4.example.com:5060"


def test_via_rfc4475_inv2543_no_branch():
    assert Via.parse("SIP/2.0/UDP iftgw.example.com").branch is None


def test_via_rfc4475_badinv01_empty_params_are_rejected():
    with pytest.raises(HeaderError, match="empty"):
        Via.parse_all("SIP/2.0/UDP 192.0.2.15;;,;,,")


def test_via_lws_around_sent_by_colon():
    via = Via.parse("SIP/2.0/UDP host.example.com : 5060;branch=z9hG4bK1")
    assert via.port == 5060


@pytest.mark.parametrize(
    ("value", "host", "port"),
    [
        ("SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111", "[2001:db8::9:1]", 6050),
        (
            "SIP/2.0/TCP [2001:db8::9:255];branch=z9hG4bK451jj;received=192.0.2.200",
            "[2001:db8::9:255]",
            None,
        ),
        ("SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbh19", "[::ffff:192.0.2.10]", 19823),
        ("SIP/2.0/UDP [2001:db8::20];branch=z9hG4bKas3-111", "[2001:db8::20]", None),
    ],
)
def test_via_rfc5118_ipv6_sent_by(value, host, port):
    via = Via.parse(value)
    assert (via.host, via.port) == (host, port)


def test_via_rfc5118_received_ipv6_without_brackets():
    via = Via.parse("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3")
    assert via.received == "2001:db8::9:255"


def test_via_rfc5118_received_ipv6_with_brackets():
    via = Via.parse("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111")
    assert via.received == "[2001:db8::9:255]"


def test_via_rport_without_value_is_true():
    assert Via.parse("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d8;rport").rport is True


def test_via_rport_with_value_is_int():
    assert Via.parse("SIP/2.0/UDP 10.0.0.1;rport=5071;branch=z9hG4bK1").rport == 5071


def test_via_rport_absent_is_none():
    assert Via.parse("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1").rport is None


def test_via_maddr_and_ttl():
    via = Via.parse("SIP/2.0/UDP 10.0.0.1;maddr=224.2.0.1;ttl=16")
    assert (via.maddr, via.ttl) == ("224.2.0.1", 16)


_NINE = "".join(f";p{i}" for i in range(9))
BAD_VIAS = [
    ("SIP/2.0/UDP 2001:db8::1;branch=z9hG4bK1", "invalid sent-by"),
    ("SIP/2.0/UDP host.example.com:70000", "exceeds the maximum 65535"),
    ("SIP/2.0/UDP [2001:db8:::1]", "invalid sent-by host"),
    ("SIP/2.0/UDP host..example.com", "invalid sent-by host"),
    ("SIP/2.0 host.example.com", "expected 'SIP/2.0/<transport> <host>'"),
    ("SIP/2.0/UDP", "expected 'SIP/2.0/<transport> <host>'"),
    ("SIP/2.0/UDP host.example.com branch=z9hG4bK1", "expected ';'"),
    ("SIP/2.0/UDP host.example.com;received=host.example.com", "not an IP address"),
    ("SIP/2.0/UDP host.example.com;received=1.2.3.4.5", "not an IP address"),
    ("SIP/2.0/UDP host.example.com;rport=99999", "not a port"),
    ("SIP/2.0/UDP host.example.com;ttl=256", "0-255"),
    ("SIP/2.0/UDP host.example.com;maddr", "not a host"),
    ('SIP/2.0/UDP host.example.com;branch="z9hG4bK1"', "must be a token"),
    ("SIP/2.0/UDP host.example.com;branch=a;branch=b", "appears twice"),
    ("SIP/2.0/UDP host.example.com;x=a:b", "invalid value"),
    ("SIP/2.0/UDP h.example.com;RECEIVED=10.0.0.1;received=host", "'host' is not an IP"),
    ("SIP/2.0/UDP h.example.com;ttl=300;rport=99999", "0-255"),  # the first one named
    # many parameters (those are read in one pass), with blanks so that the full parser reads them
    (f"SIP/2.0/UDP h.example.com{_NINE} ; RECEIVED=10.0.0.1;received=host", "'host' is not an"),
    (f"SIP/2.0/UDP h.example.com{_NINE} ; ttl=300;rport=99999", "0-255"),
    (f"SIP/2.0/UDP h.example.com{_NINE} ; p3", "'p3' appears twice"),
]


@pytest.mark.parametrize(("value", "message"), BAD_VIAS)
def test_via_malformed_values_name_the_problem(value, message):
    with pytest.raises(HeaderError, match=message):
        Via.parse(value)


def test_via_parse_all_rejects_trailing_comma():
    with pytest.raises(HeaderError, match="empty element"):
        Via.parse_all("SIP/2.0/UDP a.example.com,")


def test_via_str_is_canonical():
    via = Via.parse("SIP / 2.0 / udp  host.example.com : 5060 ; branch = z9hG4bK1 ; rport")
    assert str(via) == "SIP/2.0/UDP host.example.com:5060;branch=z9hG4bK1;rport"


def test_via_constructor():
    via = Via("tcp", "10.0.0.1", 5060, {"branch": "z9hG4bK1"})
    assert str(via) == "SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1"


def test_via_replace_adds_received():
    via = Via.parse("SIP/2.0/UDP h.example.com;branch=z9hG4bK1")
    stamped = via.replace(params={**via.params, "received": "192.0.2.9"})
    assert stamped.received == "192.0.2.9" and via.received is None


def test_via_is_immutable_and_hashable():
    via = Via.parse("SIP/2.0/UDP h.example.com;branch=z9hG4bK1")
    with pytest.raises(AttributeError):
        via.port = 5060  # type: ignore[misc]
    assert hash(via) == hash(Via.parse(str(via)))


# -- NameAddr --------------------------------------------------------------------------


def test_name_addr_quoted_display_name_and_tag():
    na = NameAddr.parse('"Alice" <sip:alice@atlanta.com>;tag=1928301774')
    assert (na.display_name, str(na.uri), na.tag) == (
        "Alice",
        "sip:alice@atlanta.com",
        "1928301774",
    )


def test_name_addr_without_display_name():
    na = NameAddr.parse("<sip:alice@atlanta.com>")
    assert na.display_name is None and na.params == {}


def test_name_addr_rfc4475_wsinv_escaped_quote_in_display_name():
    na = NameAddr.parse(
        '"J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8'
    )
    assert (na.display_name, na.tag) == ('J Rosenberg \\"', "98asjd8")


def test_name_addr_rfc4475_wsinv_bare_addr_spec_with_lws_before_params():
    na = NameAddr.parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
    assert (str(na.uri), na.tag) == ("sip:vivekg@chair-dnrc.example.com", "1918181833n")


def test_name_addr_rfc4475_wsinv_contact_params_with_lws():
    na = NameAddr.parse(
        '"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\r\n      newvalue ;'
        "\r\n  secondparam ; q = 0.33"
    )
    assert na.display_name == 'Quoted string ""'
    assert na.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}


def test_name_addr_bare_form_params_belong_to_header_not_uri():
    na = NameAddr.parse("sip:caller@example.net;tag=93334;transport=tcp")
    assert na.uri.params == {}
    assert na.params == {"tag": "93334", "transport": "tcp"}


def test_name_addr_bracketed_form_params_belong_to_uri():
    na = NameAddr.parse("<sip:caller@example.net;transport=tcp>;tag=1")
    assert (na.uri.params, na.params) == ({"transport": "tcp"}, {"tag": "1"})


def test_name_addr_rfc4475_lwsdisp_token_display_name_touching_angle():
    na = NameAddr.parse("caller<sip:caller@example.com>;tag=323")
    assert (na.display_name, na.tag) == ("caller", "323")


def test_name_addr_rfc4475_intmeth_token_display_name_and_unusual_params():
    na = NameAddr.parse(
        "token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;"
        "fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-."
    )
    assert na.display_name == "token1~` token2'+_ token3*%!.-"
    assert na.params["fromParam''~+*_!.-%"] == '"работающий"'
    assert na.param("fromParam''~+*_!.-%") == "работающий"
    assert na.tag == "_token~1'+`*%!-."


def test_name_addr_rfc4475_intmeth_control_characters_in_quoted_pairs():
    na = NameAddr.parse(
        '"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" '
        "<sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>"
    )
    assert na.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert NameAddr.parse(str(na)) == na


def test_name_addr_rfc4475_longreq_display_name_touching_angle():
    na = NameAddr.parse('"I have a user name of extreme proportion"<sip:user@example.com:6000;x>')
    assert (na.display_name, na.uri.port) == ("I have a user name of extreme proportion", 6000)


def test_name_addr_rfc4475_esc01_escaped_uri():
    na = NameAddr.parse("<sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>")
    assert na.uri.user_unescaped == "caller" and na.uri.lr


def test_name_addr_rfc5118_ipv6_contact():
    na = NameAddr.parse('"T. desk phone" <sip:ted@[::ffff:192.0.2.2]>')
    assert na.uri.host == "[::ffff:192.0.2.2]"


def test_name_addr_rfc4475_quotbal_unbalanced_quote_is_rejected():
    with pytest.raises(HeaderError, match="unterminated quoted"):
        NameAddr.parse('"Mr. J. User <sip:j.user@example.com>')


def test_name_addr_rfc4475_badaspec_spaces_inside_angle_brackets_are_rejected():
    with pytest.raises(HeaderError, match="whitespace inside"):
        NameAddr.parse('"Watson, Thomas" < sip:t.watson@example.org >')


def test_name_addr_rfc4475_badinv01_empty_params_are_rejected():
    with pytest.raises(HeaderError, match="empty or invalid parameter"):
        NameAddr.parse('"Joe" <sip:joe@example.org>;;;;')


def test_name_addr_rfc4475_regbadct_unbracketed_uri_with_headers_is_rejected():
    with pytest.raises(HeaderError, match=r"must be in <\.\.\.>"):
        NameAddr.parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("<sip:a@b.example.com", "'<' without '>'"),
        ("sip:a@b.example.com>", r"must be in <\.\.\.>"),
        ("<<sip:a@b.example.com>>", "'<' inside"),
        ('"Joe" sip:joe@example.org', "display name without <uri>"),
        ("<sip:a@b.example.com> junk", "expected ';'"),
        ("Joe Smith", "missing scheme"),
        ("", "empty value"),
        ('<sip:a@b.example.com>;tag="x', "empty or invalid parameter"),
    ],
)
def test_name_addr_angle_bracket_misuse_is_rejected(value, message):
    with pytest.raises(HeaderError, match=message):
        NameAddr.parse(value)


def test_name_addr_contact_star():
    na = NameAddr.parse(" * ")
    assert na.is_star and na == NameAddr.star() and str(na) == "*"


def test_name_addr_parse_all_splits_outside_quotes_and_angles():
    contacts = NameAddr.parse_all(
        '"Bell, Alexander" <sip:a.g.bell@example.com>;q=0.5, <sip:x@example.com;lr>,'
        " sip:y@example.com;expires=60"
    )
    assert [str(c.uri) for c in contacts] == [
        "sip:a.g.bell@example.com",
        "sip:x@example.com;lr",
        "sip:y@example.com",
    ]
    assert contacts[2].expires == 60


def test_name_addr_refer_to_with_replaces_header():
    na = NameAddr.parse("<sip:bob@biloxi.example.com?Replaces=12345%40192.0.2.1%3Bto-tag%3D1>")
    assert na.uri.headers == {"Replaces": "12345%40192.0.2.1%3Bto-tag%3D1"}


def test_name_addr_quoted_param_with_angle_brackets():
    na = NameAddr.parse('<sip:a@b.example.com>;+sip.instance="<urn:uuid:f81d4fae>"')
    assert na.param("+sip.instance") == "<urn:uuid:f81d4fae>"


def test_name_addr_tel_uri():
    na = NameAddr.parse("<tel:+1-201-555-0123>;tag=x")
    assert (na.uri.scheme, na.uri.user) == ("tel", "+1-201-555-0123")


def test_name_addr_str_is_canonical():
    na = NameAddr.parse("Bob  <sip:bob@biloxi.com> ;tag = a6c85cf")
    assert str(na) == '"Bob" <sip:bob@biloxi.com>;tag=a6c85cf'


def test_name_addr_constructor_accepts_uri_text():
    na = NameAddr("sip:a@b.example.com", "A", {"tag": "1"})
    assert str(na) == '"A" <sip:a@b.example.com>;tag=1'


def test_name_addr_constructor_rejects_line_break_in_display_name():
    with pytest.raises(HeaderError, match="line break"):
        NameAddr(URI.parse("sip:a@b.example.com"), "A\r\nB")


def test_name_addr_replace_adds_tag():
    na = NameAddr.parse("<sip:bob@biloxi.com>")
    assert na.replace(params={"tag": "x"}).tag == "x" and na.tag is None


# -- MediaType --------------------------------------------------------------------------


def test_media_type_fields_and_param():
    media = MediaType.parse("multipart/mixed;boundary=7a9cbec02ceef655")
    assert (media.type, media.subtype, media.param("boundary")) == (
        "multipart",
        "mixed",
        "7a9cbec02ceef655",
    )


def test_media_type_is_case_insensitive():
    assert MediaType.parse("Application/SDP") == MediaType("application", "sdp")


def test_media_type_quoted_param_value():
    media = MediaType.parse('text/plain ; charset = "utf-8"')
    assert media.param("charset") == "utf-8"


def test_media_type_rfc4475_semiuri_accept_list():
    accept = MediaType.parse_all(
        "application/sdp, application/pkcs7-mime,\r\n        multipart/mixed, multipart/signed,"
        "\r\n        message/sip, message/sipfrag"
    )
    assert [m.mime for m in accept] == [
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    ]


def test_media_type_empty_accept_is_empty_list():
    assert MediaType.parse_all("") == []


def test_media_type_wildcard_matches():
    assert MediaType.parse("application/*").matches(MediaType.parse("application/sdp"))
    assert not MediaType.parse("text/*").matches(MediaType.parse("application/sdp"))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("application", "expected 'type/subtype'"),
        ("text/plain;charset", "needs a value"),
        ("text/plain charset=x", "expected ';'"),
    ],
)
def test_media_type_malformed(value, message):
    with pytest.raises(HeaderError, match=message):
        MediaType.parse(value)


# -- digest ---------------------------------------------------------------------------

CHALLENGE = (
    'Digest realm="atlanta.com", domain="sip:boxesbybob.com", qop="auth,auth-int", '
    'nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=SHA-256'
)
CREDENTIALS = (
    'Digest username="bob", realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
    'uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b", '
    'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)


def test_digest_challenge_fields():
    c = DigestChallenge.parse(CHALLENGE)
    assert (c.scheme, c.realm, c.nonce, c.algorithm, c.opaque, c.stale) == (
        "Digest",
        "atlanta.com",
        "f84f1cec41e6cbe5aea9c8e88d359",
        "SHA-256",
        "",
        False,
    )


def test_digest_challenge_qop_options():
    assert DigestChallenge.parse(CHALLENGE).qop_options == ["auth", "auth-int"]


def test_digest_challenge_writes_qop_quoted_and_algorithm_as_token():
    text = str(DigestChallenge.parse(CHALLENGE))
    assert 'qop="auth,auth-int"' in text and "algorithm=SHA-256" in text


def test_digest_challenge_rfc8760_sha512_256():
    c = DigestChallenge.parse('Digest realm="r", nonce="n", algorithm=SHA-512-256, userhash=true')
    assert c.algorithm == "SHA-512-256" and c.param("userhash") == "true"


def test_digest_credentials_fields():
    d = DigestCredentials.parse(CREDENTIALS)
    assert (d.username, d.uri, d.qop, d.nc, d.cnonce, d.response) == (
        "bob",
        "sip:bob@biloxi.com",
        "auth",
        "00000001",
        "0a4f113b",
        "6629fae49393a05397450978507c4ef1",
    )


def test_digest_credentials_write_qop_and_nc_as_tokens():
    text = str(DigestCredentials.parse(CREDENTIALS))
    assert "qop=auth," in text and "nc=00000001," in text and 'username="bob"' in text


def test_digest_scheme_is_case_insensitive():
    assert DigestChallenge.parse('digest realm="r"').scheme == "Digest"


def test_digest_quoted_value_with_escapes_and_comma():
    c = DigestChallenge.parse(r'Digest realm="a \"b\", c", nonce="n"')
    assert c.realm == 'a "b", c'
    assert DigestChallenge.parse(str(c)) == c


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Digest", "expected '<scheme> <params>'"),
        ('Digest realm="r" nonce="n"', "expected ','"),
        ('Digest realm="r", realm="s"', "appears twice"),
        ('Digest realm="r",', "expected name=value"),
        ('Digest realm="r', "expected name=value"),
    ],
)
def test_digest_malformed(value, message):
    with pytest.raises(HeaderError, match=message):
        DigestChallenge.parse(value)


@pytest.mark.parametrize("value", [CHALLENGE])
def test_digest_challenge_round_trip(value):
    c = DigestChallenge.parse(value)
    assert DigestChallenge.parse(str(c)) == c


def test_digest_credentials_round_trip():
    d = DigestCredentials.parse(CREDENTIALS)
    assert DigestCredentials.parse(str(d)) == d


# -- Event, Subscription-State, Session-Expires, User-to-User -------------------------


def test_event_package_and_id():
    e = Event.parse("presence;id=7;foo")
    assert (e.package, e.id, e.params) == ("presence", "7", {"foo": None})


def test_event_template_package():
    assert Event.parse("presence.winfo").package == "presence.winfo"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("presence..x", "invalid event type"),
        ('refer;id="1"', "id must be a token"),
        (";id=1", "expected an event type"),
    ],
)
def test_event_malformed(value, message):
    with pytest.raises(HeaderError, match=message):
        Event.parse(value)


def test_subscription_state_fields():
    s = SubscriptionState.parse("terminated;reason=timeout;retry-after=30")
    assert (s.state, s.reason, s.expires, s.retry_after) == ("terminated", "timeout", None, 30)


def test_subscription_state_expires():
    assert SubscriptionState.parse("Active ; expires = 600") == SubscriptionState("active", 600)


def test_subscription_state_bad_expires():
    with pytest.raises(HeaderError, match="Subscription-State expires"):
        SubscriptionState.parse("active;expires=soon")


def test_session_expires_with_refresher():
    s = SessionExpires.parse("1800;refresher=uac")
    assert (s.delta, s.refresher) == (1800, "uac")


def test_session_expires_without_refresher():
    assert SessionExpires.parse("90") == SessionExpires(90)


def test_session_expires_bad_refresher():
    with pytest.raises(HeaderError, match="not uac or uas"):
        SessionExpires.parse("1800;refresher=proxy")


def test_session_expires_needs_delta():
    with pytest.raises(HeaderError, match="delta-seconds"):
        SessionExpires.parse("refresher=uas")


def test_user_to_user_hex_fields():
    u = UserToUser.parse("56a390f3d2b7310023a2;encoding=hex;purpose=isdn-uui;content=isdn-uui")
    assert (u.encoding, u.purpose, u.content) == ("hex", "isdn-uui", "isdn-uui")
    assert u.octets == bytes.fromhex("56a390f3d2b7310023a2")


def test_user_to_user_odd_hex_is_rejected():
    with pytest.raises(HeaderError, match="even number of hex digits"):
        UserToUser.parse("abc;encoding=hex")


def test_user_to_user_quoted_data_without_encoding():
    u = UserToUser.parse('"hello world";purpose=isdn-interwork')
    assert (u.data, u.encoding) == ("hello world", None)


def test_user_to_user_octets_need_hex_encoding():
    with pytest.raises(HeaderError, match="not hex"):
        _ = UserToUser.parse("abcd").octets


# -- round trips --------------------------------------------------------------------

ROUND_TRIP = [
    (Via, "SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8"),
    (Via, "SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3;rport"),
    (NameAddr, '"J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8'),
    (NameAddr, 'token1~` token2\'+_ token3*%!.- <sip:mundane@example.com>;p="работающий"'),
    (NameAddr, "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n"),
    (NameAddr, "*"),
    (CSeq, "0009\r\n  INVITE"),
    (MediaType, 'multipart/mixed;boundary="7a9cbec02ceef655"'),
    (DigestCredentials, CREDENTIALS),
    (Event, "dialog;id=abc;call-id=x"),
    (SubscriptionState, "terminated;reason=timeout;retry-after=30;x"),
    (SessionExpires, "1800 ; refresher = UAS ; x=1"),
    (UserToUser, "56a390f3d2b7310023a2;encoding=HEX;purpose=isdn-uui"),
]


@pytest.mark.parametrize(("cls", "value"), ROUND_TRIP)
def test_round_trip_through_canonical_form(cls, value):
    parsed = cls.parse(value)
    assert cls.parse(str(parsed)) == parsed


@pytest.mark.parametrize(("cls", "value"), ROUND_TRIP)
def test_canonical_form_is_stable(cls, value):
    text = str(cls.parse(value))
    assert str(cls.parse(text)) == text


# -- properties ---------------------------------------------------------------------

_token = st.text("abcXYZ019-.!%*_+`'~", min_size=1, max_size=10)
_display = st.none() | st.text(
    st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=15
)
_param_value = st.none() | _token | _token.map(lambda t: f'"{t}, ;<>"')
_params = st.dictionaries(_token, _param_value, max_size=3)
_uris = st.sampled_from(
    [
        "sip:alice@atlanta.example.com",
        "sips:[2001:db8::1]:5061;transport=tcp",
        "sip:user;par=u%40example.net@example.com?Subject=x",
        "tel:+1-201-555-0123",
        "urn:service:sos",
    ]
)


@settings(max_examples=120, deadline=None)
@given(_uris, _display, _params)
def test_property_name_addr_round_trips(uri, display, params):
    na = NameAddr(URI.parse(uri), display, params)
    assert NameAddr.parse(str(na)) == na


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_uris, _display, _params), min_size=1, max_size=4))
def test_property_name_addr_list_round_trips(items):
    values = [NameAddr(URI.parse(u), d, p) for u, d, p in items]
    assert NameAddr.parse_all(", ".join(map(str, values))) == values


_via_param_names = _token.filter(
    # received, rport, ttl, maddr and branch have their own grammar (tested above)
    lambda t: t.lower() not in {"received", "rport", "ttl", "maddr", "branch"}
)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["UDP", "TCP", "TLS", "SCTP", "WS"]),
    st.sampled_from(["example.com", "192.0.2.1", "[2001:db8::9:1]", "a-b.example.org."]),
    st.none() | st.integers(0, 65535),
    st.dictionaries(_via_param_names, st.none() | _token, max_size=3),
)
def test_property_via_round_trips(transport, host, port, params):
    via = Via(transport, host, port, params)
    assert Via.parse(str(via)) == via


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["realm", "nonce", "qop", "algorithm", "opaque", "x-ext"]),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
        min_size=1,
    )
)
def test_property_digest_challenge_round_trips(params):
    c = DigestChallenge("Digest", params)
    assert DigestChallenge.parse(str(c)) == c


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**31 - 1), _token)
def test_property_cseq_round_trips(number, method):
    cseq = CSeq(number, method)
    assert CSeq.parse(str(cseq)) == cseq


# -- fast shapes: an exact subset of the full grammar ---------------------------------
# parse() validates the common header shapes with one expression each and builds
# the typed value from the match later. Whatever the fast path accepts, the full
# parser must accept and read identically; what it refuses goes to the full parser.

_HOSTS = [
    "example.com",
    "pc33.atlanta.example.com",
    "a-b.c--d.org",
    "x1.y2",
    "192.0.2.10",
    "255.255.255.255",
    "010.001.0.9",
    "256.1.1.1",
    "1.2.3.4a",
    "1.2.3.4.example.com",
    "1.2.3",
    "-a.com",
    "a-.com",
    "a..b",
    "a.com.",
    "9.com",
    "com9",
    "[2001:db8::1]",
    "",
]
_PORTS = ["", ":0", ":5060", ":05060", ":65535", ":65536", ":99999", ":", ":123456"]
_PIECES = [
    ";branch=z9hG4bK1",
    ";branch=z9hG4bK2",
    ";BRANCH=z9",
    ";branch",
    ";branch=",
    ';branch="q"',
    ";rport",
    ";rport=5060",
    ";rport=70000",
    ";rport=x",
    ";RPORT",
    ";received=192.0.2.1",
    ";received=999.1.1.1",
    ";received=host",
    ";Received=10.0.0.1",
    ";ttl=5",
    ";maddr=a.b",
    ";tag=abc",
    ";tag=abc",
    ";TAG=x",
    ";tag",
    ';tag="q"',
    ";x",
    ";x=1",
    ";X=2",
    ";expires=60",
    ';+sip.instance="<urn:uuid:1>"',
    ';q="a;b"',
    ";lr",
    ";transport=udp",
    ";=v",
    ";",
    "; x=1",
]
_USERS = ["", "alice@", "a%20b@", "a%2@", "a;b@", "a,b@", "a:pw@", "a?b@", "@"]
_URI_PARAMS = ["", ";transport=udp", ";lr", ";lr;lr", ";maddr=", ";x=1;y=2", ";%41=1", ";a=b=c"]
_DISPLAYS = ["", '"Alice" ', '""', '"A\\"B" ', "Bob ", "Bob  Smith ", "Bob Smith ", '"A;B" ', '"A, B" ']
_MUTATION = st.sampled_from(list(' ;=:<>"@,/.-%\\\tAz09?[]'))


def _mutated(draw, text: str) -> str:
    """``text`` with a few characters inserted, replaced or deleted."""
    for _ in range(draw(st.integers(0, 2))):
        pos = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 1))
        text = text[:pos] + draw(_MUTATION) + text[pos + cut :]
    return text


@st.composite
def _via_values(draw):
    transport = draw(st.sampled_from(["UDP", "tcp", "TLS-SCTP", "U DP"]))
    host = draw(st.sampled_from(_HOSTS)) + draw(st.sampled_from(_PORTS))
    params = "".join(draw(st.lists(st.sampled_from(_PIECES), max_size=4)))
    return _mutated(draw, f"SIP/2.0/{transport} {host}{params}")


@st.composite
def _addr_values(draw):
    scheme = draw(st.sampled_from(["sip:", "sips:", "SIP:", "tel:", ""]))
    uri = scheme + draw(st.sampled_from(_USERS)) + draw(st.sampled_from(_HOSTS))
    uri += draw(st.sampled_from(_PORTS))
    params = "".join(draw(st.lists(st.sampled_from(_PIECES), max_size=3)))
    if draw(st.booleans()):
        uri_params = draw(st.sampled_from(_URI_PARAMS))
        value = f"{draw(st.sampled_from(_DISPLAYS))}<{uri}{uri_params}>{params}"
    else:
        value = uri + params
    return _mutated(draw, value)


def test_fast_shapes_accept_the_common_values():
    via = "SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK77;rport;received=192.0.2.1"
    assert via_branch(match_via(via)) == "z9hG4bK77"
    assert addr_tag(match_name_addr('"Alice" <sip:alice@a.example.com>;tag=19')) == "19"
    assert addr_tag(match_name_addr("sip:bob@b.example.com;tag=7")) == "7"
    assert match_name_addr("<sip:bob@192.0.2.4:5060;transport=udp>") is not None
    assert match_cseq("314159 INVITE") == CSeq(314159, "INVITE")
    assert match_request_uri("sip:bob@biloxi.example.com;transport=tcp") is not None


@pytest.mark.parametrize(
    "value",
    [
        "SIP/2.0/UDP a.com;branch=1;branch=2",  # duplicate parameter
        "SIP/2.0/UDP a.com;received=host",  # received must be an address
        "SIP/2.0/UDP a.com:65536;branch=1",  # port out of range
        "SIP/2.0/UDP 1.2.3.256;branch=1",  # not an address, not a hostname
    ],
)
def test_fast_via_refuses_what_the_grammar_refuses(value):
    assert match_via(value) is None
    with pytest.raises(HeaderError):
        Via.parse_all(value)


@settings(max_examples=200, deadline=None)
@given(_via_values())
def test_property_fast_via_agrees_with_the_full_parser(value):
    m = match_via(value)
    if m is not None:
        via = Via.parse(value)
        assert Via.from_match(m) == via
        assert via_branch(m) == via.branch


@settings(max_examples=200, deadline=None)
@given(_addr_values())
def test_property_fast_name_addr_agrees_with_the_full_parser(value):
    m = match_name_addr(value)
    if m is not None:
        name_addr = NameAddr.parse(value)
        assert NameAddr.from_match(m) == name_addr
        assert addr_tag(m) == name_addr.tag
        assert NameAddr.parse_all(value) == [name_addr]


# A value with more than MANY_PARAMS parameters takes the twin pattern, which reads
# the parameters as one run: it must accept what the one-by-one shape accepts (the same
# value with padding parameters appended) and nothing the full parser refuses.
_PADDING = "".join(f";pad{i}" for i in range(MANY_PARAMS + 1))


_MANY = {
    "Via": (_via_values, match_via, Via.parse, Via.from_match, via_branch, "branch"),
    "name-addr": (_addr_values, match_name_addr, NameAddr.parse, NameAddr.from_match, addr_tag,
                  "tag"),
}
_PARSE_ALL = {"Via": Via.parse_all, "name-addr": NameAddr.parse_all}


@pytest.mark.parametrize("kind", list(_MANY))
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_property_many_parameter_values_agree_with_the_fast_and_full_parsers(kind, data):
    values, match, parse_full, from_match, key, attr = _MANY[kind]
    value = data.draw(values())
    padded = value + _PADDING
    m = match(padded)
    if match(value) is not None:
        assert m is not None
    if m is not None:
        parsed = parse_full(padded)
        assert from_match(m) == parsed
        assert key(m) == getattr(parsed, attr)


@settings(max_examples=100, deadline=None)
@given(_addr_values())
def test_property_many_parameter_request_uri_agrees_with_the_fast_and_full_parsers(value):
    text = value.partition(">")[0].rpartition("<")[2]
    padded = text + _PADDING
    if match_request_uri(text) is not None:
        assert match_request_uri(padded) is not None
    if match_request_uri(padded) is not None:
        assert URI.parse(padded).params.keys() >= {f"pad{i}" for i in range(MANY_PARAMS + 1)}


@pytest.mark.parametrize(
    "value",
    [
        "SIP/2.0/UDP a.com" + _PADDING + ";pad0",  # duplicate parameter
        "SIP/2.0/UDP a.com" + _PADDING + ";x=",  # empty value
        "SIP/2.0/UDP a.com" + _PADDING + ";x=1=2",  # two '='
        "SIP/2.0/UDP a.com" + _PADDING + ";;x",  # empty name
        "SIP/2.0/UDP a.com" + _PADDING + ";received=host",  # received must be an address
        "SIP/2.0/UDP a.com" + _PADDING + ";rport=70000",  # not a port
        "SIP/2.0/UDP a.com" + _PADDING + ";branch",  # branch needs a value
        "SIP/2.0/UDP a.com" + _PADDING + ";ttl=300",  # out of range
    ],
)
def test_many_parameter_via_refuses_what_the_grammar_refuses(value):
    assert match_via(value) is None
    with pytest.raises(HeaderError):
        Via.parse_all(value)


def test_many_parameter_shapes_read_their_key_parameters():
    via = "SIP/2.0/UDP a.com;RPORT" + _PADDING + ";branch=z9hG4bKx;received=10.0.0.1"
    assert via_branch(match_via(via)) == "z9hG4bKx" == Via.parse(via).branch
    to = '"Bob" <sip:b@b.com;lr' + _PADDING + '>;tag=7;x="a b"' + _PADDING
    assert addr_tag(match_name_addr(to)) == "7"
    assert NameAddr.from_match(match_name_addr(to)) == NameAddr.parse(to)
    assert match_name_addr(to.replace("tag=7", 'tag="7"')) is None  # a quoted tag: full parser


@pytest.mark.parametrize("spelling", ["BRANCH", "Branch"])
def test_many_parameter_via_reads_a_branch_spelled_in_any_case(spelling):
    via = f"SIP/2.0/UDP a.com;{spelling}=z9hG4bK1" + _PADDING
    m = match_via(via)  # the fast shape takes it, as it takes branch in lower case
    assert m is not None and via_branch(m) == "z9hG4bK1" == Via.parse(via).branch
    assert Via.from_match(m) == Via.parse(via)
    both = via + ";branch=z9hG4bK2"  # two names as written: the exact spelling first
    assert via_branch(match_via(both)) == "z9hG4bK2" == Via.parse(both).branch
    assert match_via(via.replace("=z9hG4bK1", '="z9hG4bK1"')) is None  # still a token only
    few = f"SIP/2.0/UDP a.com;{spelling}=z9hG4bK1"  # as the few-parameter form: full parser
    assert match_via(few) is None and Via.parse(few).branch == "z9hG4bK1"


@pytest.mark.parametrize("extra", ["", ";Ttl=1"])
def test_many_parameter_via_with_many_spellings_of_its_special_names(extra):
    spellings = ";".join(["BRANCH=b1", "Branch=b2", "received=10.0.0.1", "RECEIVED=10.0.0.2",
                          "Received=10.0.0.3", "rport", "RPort=5060"])
    via = f"SIP/2.0/UDP a.com;{spellings}" + _PADDING + extra
    m = match_via(via)
    if extra:  # ttl takes the full parser, in any case
        assert m is None and Via.parse(via).ttl == 1
    else:
        assert m is not None and via_branch(m) == "b1" == Via.parse(via).branch
        assert Via.from_match(m) == Via.parse(via)


def test_many_parameter_name_addr_reads_a_tag_spelled_in_any_case():
    # a value before it whose lower case is longer (U+0130) leaves the tag where it was
    to = '<sip:b@b.com>;x="\u0130"' + _PADDING + ";TAG=7"
    m = match_name_addr(to)
    assert m is not None and addr_tag(m) == "7" == NameAddr.parse(to).tag
    assert NameAddr.from_match(m) == NameAddr.parse(to)


@pytest.mark.parametrize("kind", list(_MANY))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_property_comma_joined_values_match_as_split_commas_splits(kind, data):
    values, match, parse_full, from_match, *_ = _MANY[kind]
    separator = data.draw(st.sampled_from([",", ", ", " ,\t"]))
    joined = separator.join(data.draw(st.lists(values(), min_size=2, max_size=4)))
    matches = match_list(joined, match)
    if matches is not None:
        parsed = [parse_full(item) for item in split_commas(joined)]
        assert [from_match(m) for m in matches] == parsed == _PARSE_ALL[kind](joined)


@pytest.mark.parametrize("kind", list(_MANY))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_property_a_plain_list_is_one_whose_every_element_matches(kind, data):
    """plain_list() over a whole list says what match_list() says element by element,
    for elements it takes (at most one ';', no quotes) in a value with no blank at either
    end; it never accepts another."""
    values, match, *_ = _MANY[kind]
    separator = data.draw(st.sampled_from([",", ", ", " ,\t"]))
    joined = separator.join(data.draw(st.lists(values(), min_size=1, max_size=5)))
    accepted = plain_list(joined, match)
    if accepted:
        assert match_list(joined, match) is not None
    # A header value as a message holds it has no blank at either end.
    trimmed = joined == joined.strip(" \t")
    plain = trimmed and '"' not in joined and all(item.count(";") < 2 for item in joined.split(","))
    if plain:
        assert accepted == (match_list(joined, match) is not None)


@pytest.mark.parametrize("last", ["255.255.255.255", "10.0.0.250", "192.168.1.199", "1.2.3.4"])
def test_a_plain_via_list_ending_in_an_address_with_three_digit_octets_is_plain(last: str) -> None:
    """The list's repeat gives nothing back, so an octet must be read whole the first time."""
    joined = f"SIP/2.0/UDP example.com,SIP/2.0/UDP example.com,SIP/2.0/UDP {last}"
    assert plain_list(joined, match_via)
    assert match_list(joined, match_via) is not None


@pytest.mark.parametrize(
    ("kind", "joined"),
    [
        ("Via", "SIP/2.0/UDP a.com;branch, SIP/2.0/UDP b.com"),  # branch needs a value
        ("Via", "SIP/2.0/UDP a.com;received=h, SIP/2.0/UDP b.com"),
        ("Via", "SIP/2.0/UDP a.com;rport=70000 ,SIP/2.0/UDP b.com"),
        ("name-addr", "<sip:a@b.com>;tag , <sip:c@d.com>"),
        ("name-addr", "<sip:a@b.com>,, <sip:c@d.com>"),
    ],
)
def test_a_plain_list_refuses_an_element_its_end_would_otherwise_excuse(kind, joined):
    """An element's checks that look at its end see the comma after it as that end."""
    match = _MANY[kind][1]
    assert match_list(joined, match) is None
    assert not plain_list(joined, match)


def test_a_repeated_parameter_of_a_route_is_refused_on_the_fast_path_too():
    with pytest.raises(HeaderError, match="appears twice"):
        NameAddr.parse_all("<sip:p1.example.com;lr>;x;x")


@settings(max_examples=100, deadline=None)
@given(_addr_values())
def test_property_fast_request_uri_agrees_with_the_full_parser(value):
    text = value.partition(">")[0].rpartition("<")[2]
    if match_request_uri(text) is not None:
        assert not URI.parse(text).headers


@settings(max_examples=150, deadline=None)
@given(st.text("0123456789 INVITE!~", max_size=16))
def test_property_fast_cseq_agrees_with_the_full_parser(value):
    cseq = match_cseq(value)
    if cseq is not None:
        assert CSeq.parse(value) == cseq


# A whole parameter list is split in one pass; any list that is not whole, repeats a
# name or has a value like a host is read one parameter at a time. Both must agree.
_LWS = st.sampled_from(["", "", " ", "\t", "\r\n "])
_PARAM_NAMES = st.sampled_from(["p", "q", "Q", "branch", "BRANCH", "x-1", "lr", "a.b"])
_PARAM_VALUES = st.sampled_from([None, "1", "v", '"a;b"', '""', '"x\\"y, z"', "[2001:db8::1]",
                                 "a:b", "=", '"open'])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_LWS, _LWS, _PARAM_NAMES, _LWS, _LWS, _PARAM_VALUES), max_size=12),
       _LWS, st.booleans())
def test_property_parameter_lists_read_alike_in_one_pass_and_one_by_one(params, tail, via):
    from sizing.sip import headers

    text = "".join(f"{a};{b}{name}" + ("" if value is None else f"{c}={d}{value}")
                   for a, b, name, c, d, value in params) + tail

    def read(parse):
        try:
            return list(parse(text, 0, "Via", via).items())
        except HeaderError as err:
            return str(err)

    assert read(headers._parse_params) == read(
        lambda *args: headers._parse_params_one_by_one(*args))
