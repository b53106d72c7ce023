"""sip:, sips:, tel: and opaque URIs: grammar, round trips, RFC 3261 §19.1.4 equivalence."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sizing.sip.errors import HeaderError
from sizing.sip.uri import FAST_HOST, FAST_PORT, URI, is_valid_host, unescape

# -- fields ------------------------------------------------------------------------


def test_full_sip_uri_fields():
    uri = URI.parse("sip:alice:secret@atlanta.example.com:5061;transport=tcp;lr?Subject=hi")
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sip",
        "alice",
        "secret",
        "atlanta.example.com",
        5061,
    )
    assert uri.params == {"transport": "tcp", "lr": None}
    assert uri.headers == {"Subject": "hi"}


def test_scheme_is_lowercased():
    assert URI.parse("SIPS:bob@biloxi.example.com").scheme == "sips"


def test_param_without_value_is_none_and_empty_value_is_empty_string():
    uri = URI.parse("sip:proxy.example.com;lr;maddr=")
    assert uri.params == {"lr": None, "maddr": ""}


def test_param_order_is_kept():
    uri = URI.parse("sip:h.example.com;b=1;a=2;c")
    assert list(uri.params) == ["b", "a", "c"]


def test_headers_part_with_two_headers():
    uri = URI.parse("sip:carol@chicago.com?Subject=next%20meeting&Priority=urgent")
    assert uri.headers == {"Subject": "next%20meeting", "Priority": "urgent"}


def test_transport_property_is_lowercased():
    assert URI.parse("sip:h.example.com;transport=TCP").transport == "tcp"


def test_transport_absent_is_none():
    assert URI.parse("sip:h.example.com").transport is None


def test_lr_property():
    assert URI.parse("sip:p.example.com;lr").lr
    assert not URI.parse("sip:p.example.com").lr


def test_lr_written_with_escapes_is_recognised():
    assert URI.parse("sip:p.example.com;%6C%72").lr


def test_hostport():
    assert URI.parse("sip:u@[2001:db8::1]:5070").hostport == "[2001:db8::1]:5070"
    assert URI.parse("sip:u@example.com").hostport == "example.com"


def test_param_lookup_is_case_insensitive():
    assert URI.parse("sip:h.example.com;Maddr=10.0.0.1").param("maddr") == "10.0.0.1"


def test_port_zero_and_max_are_accepted():
    assert URI.parse("sip:h.example.com:0").port == 0
    assert URI.parse("sip:h.example.com:65535").port == 65535


# -- RFC 4475 URIs -------------------------------------------------------------------


def test_rfc4475_esc01_escapes_kept_as_written():
    uri = URI.parse("sip:sips%3Auser%40example.com@example.net")
    assert uri.user == "sips%3Auser%40example.com"
    assert uri.host == "example.net"


def test_unescaped_user_accessor():
    assert URI.parse("sip:I%20have%20spaces@example.net").user_unescaped == "I have spaces"


def test_unescape_function():
    assert unescape("v%61lue%25%34%31") == "value%41"


def test_rfc4475_semiuri_user_may_hold_semicolon():
    uri = URI.parse("sip:user;par=u%40example.net@example.com")
    assert (uri.user, uri.host, uri.params) == ("user;par=u%40example.net", "example.com", {})


def test_rfc4475_intmeth_unusual_user_and_password():
    uri = URI.parse(
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
        "(doesn't-it)@example.com"
    )
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"


def test_rfc4475_esc01_escaped_param_names():
    uri = URI.parse("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert uri.params == {"%6C%72": None, "n%61me": "v%61lue%25%34%31"}


def test_rfc4475_unkscm_unknown_scheme_is_opaque():
    uri = URI.parse("nobodyKnowsThisScheme:totallyopaquecontent")
    assert (uri.scheme, uri.opaque, uri.host) == (
        "nobodyknowsthisscheme",
        "totallyopaquecontent",
        None,
    )


def test_rfc4475_wsinv_route_params():
    uri = URI.parse("sip:services.example.com;lr;unknownwith=value;unknown-no-value")
    assert uri.params == {"lr": None, "unknownwith": "value", "unknown-no-value": None}


# -- RFC 5118 IPv6 -------------------------------------------------------------------

RFC5118_GOOD = [
    ("sip:[2001:db8::10]", "[2001:db8::10]", None),
    ("sip:caller@[2001:db8::1]", "[2001:db8::1]", None),
    ("sip:user@[2001:db8::192.0.2.1]", "[2001:db8::192.0.2.1]", None),
    ("sip:ted@[::ffff:192.0.2.2]", "[::ffff:192.0.2.2]", None),
    ("sip:[2001:db8::10]:5070", "[2001:db8::10]", 5070),
    # port-ambiguous: the whole bracket is the address, there is no port
    ("sip:[2001:db8::10:5070]", "[2001:db8::10:5070]", None),
]


@pytest.mark.parametrize(("text", "host", "port"), RFC5118_GOOD)
def test_rfc5118_ipv6_references_parse(text, host, port):
    uri = URI.parse(text)
    assert (uri.host, uri.port) == (host, port)


def test_rfc5118_ipv6_bad_unbracketed_address_is_rejected():
    with pytest.raises(HeaderError, match="port"):
        URI.parse("sip:2001:db8::10")


def test_rfc5118_three_colons_are_rejected():
    with pytest.raises(HeaderError, match="invalid host"):
        URI.parse("sip:user@[2001:db8:::192.0.2.1]")


# -- tel -------------------------------------------------------------------------------


def test_tel_global_number():
    uri = URI.parse("tel:+1-201-555-0123;ext=1234")
    assert (uri.scheme, uri.user, uri.params, uri.host) == (
        "tel",
        "+1-201-555-0123",
        {"ext": "1234"},
        None,
    )


def test_tel_local_number_with_phone_context():
    uri = URI.parse("tel:7042;phone-context=example.com")
    assert (uri.user, uri.param("phone-context")) == ("7042", "example.com")


def test_tel_local_number_without_phone_context_is_rejected():
    with pytest.raises(HeaderError, match="phone-context"):
        URI.parse("tel:7042")


def test_tel_invalid_number_is_rejected():
    with pytest.raises(HeaderError, match="telephone number"):
        URI.parse("tel:+12x4")


def test_tel_round_trip():
    text = "tel:+1-201-555-0123;ext=1234;isub=5"
    assert str(URI.parse(text)) == text


# -- errors ----------------------------------------------------------------------------

BAD = [
    ("sipexample.com", "missing scheme"),
    ("sip:", "missing host"),
    ("sip:@example.com", "empty user part"),
    ("sip:a b@example.com", "user part"),
    ("sip:a:p w@example.com", "password"),
    ("sip:u@example.com:65536", "out of range"),
    ("sip:u@example.com:50x", "not a number"),
    ("sip:u@1.2.3.256", "invalid host"),
    ("sip:u@exa_mple.com", "invalid host"),
    ("sip:u@-example.com", "invalid host"),
    ("sip:u@[2001:db8::1", "lacks ']'"),
    ("sip:u@[2001:db8::1]x", "after the host"),
    ("sip:u@example.com;;lr", "empty parameter"),
    ("sip:u@example.com;a=b;a=c", "appears twice"),
    ("sip:u@example.com;a=b c", "invalid value"),
    ("sip:u@example.com?Subject", "lacks '='"),
    ("sip:u@example.com?Sub ject=x", "invalid URI header"),
    ("sip:a%zzb@example.com", "user part"),
    ("sip:<u@example.com>", "user part"),
    ("1x:opaque", "invalid scheme"),
    ("foo:", "after the scheme"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_invalid_uris_name_the_problem(text, message):
    with pytest.raises(HeaderError, match=message) as info:
        URI.parse(text)
    assert repr(text) in str(info.value)


def test_header_error_is_a_value_error():
    assert issubclass(HeaderError, ValueError)


def test_constructor_rejects_out_of_range_port():
    with pytest.raises(HeaderError, match="out of range"):
        URI(host="example.com", port=70000)


def test_constructor_requires_host_for_sip():
    with pytest.raises(HeaderError, match="needs a host"):
        URI("sip", user="alice")


# -- value semantics ---------------------------------------------------------------------


def test_uri_is_immutable():
    uri = URI.parse("sip:a@example.com")
    with pytest.raises(AttributeError):
        uri.host = "other.example.com"  # type: ignore[misc]


def test_equal_uris_hash_alike_whatever_param_order():
    a = URI(host="example.com", params={"a": "1", "b": None})
    b = URI(host="example.com", params={"b": None, "a": "1"})
    assert a == b and hash(a) == hash(b)


def test_replace_changes_one_field():
    uri = URI.parse("sip:a@example.com;transport=udp")
    moved = uri.replace(port=5080, params={})
    assert str(moved) == "sip:a@example.com:5080"
    assert str(uri) == "sip:a@example.com;transport=udp"


def test_replace_rejects_unknown_field():
    with pytest.raises(TypeError, match="no field"):
        URI.parse("sip:a@example.com").replace(colour="red")


@pytest.mark.parametrize(
    "text",
    [
        "sip:alice:secret@atlanta.example.com:5061;transport=tcp;lr?Subject=hi&Priority=urgent",
        "sips:[2001:db8::1]:5061;maddr=",
        "sip:user;par=u%40example.net@example.com",
        "tel:7042;phone-context=example.com",
        "urn:service:sos",
    ],
)
def test_str_writes_the_uri_as_parsed(text):
    assert str(URI.parse(text)) == text


# -- RFC 3261 §19.1.4 equivalence ------------------------------------------------------

EQUIVALENT = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    (
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ),
    (
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ),
    ("sip:u@[2001:db8::9:1]", "sip:u@[2001:DB8:0::9:1]"),
    ("tel:+1-201-555-0123", "tel:+1(201)5550123"),
]

NOT_EQUIVALENT = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
    ("sip:a@example.com", "sips:a@example.com"),
    ("sip:a%3Bb@example.com", "sip:a;b@example.com"),
]


@pytest.mark.parametrize(("a", "b"), EQUIVALENT)
def test_rfc3261_equivalent_uris(a, b):
    assert URI.parse(a).equivalent(URI.parse(b))
    assert URI.parse(b).equivalent(URI.parse(a))


@pytest.mark.parametrize(("a", "b"), NOT_EQUIVALENT)
def test_rfc3261_non_equivalent_uris(a, b):
    assert not URI.parse(a).equivalent(URI.parse(b))
    assert not URI.parse(b).equivalent(URI.parse(a))


def test_opaque_uris_compare_by_text():
    assert URI.parse("urn:service:sos").equivalent(URI.parse("URN:service:sos"))
    assert not URI.parse("urn:service:sos").equivalent(URI.parse("urn:service:fire"))


# -- hosts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["example.com", "example.com.", "a-b.c9.example", "192.0.2.1", "[::1]", "localhost"]
)
def test_valid_hosts(host):
    assert is_valid_host(host)


@pytest.mark.parametrize(
    "host",
    ["", "example..com", "1.2.3", "9example.123", "[2001:db8::1%eth0]", "[1:2:3:4:5:6:7:8:9]"],
)
def test_invalid_hosts(host):
    assert not is_valid_host(host)


# -- properties ------------------------------------------------------------------------

_UNRESERVED = "abcXYZ019-_.!~*'()"
_users = st.text(_UNRESERVED + "&=+$,;?/", min_size=1, max_size=12) | st.just("a%20b")
_labels = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
_hosts = (
    st.lists(_labels, min_size=1, max_size=3).map(".".join)
    | st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
    | st.ip_addresses(v=6).map(lambda a: f"[{a}]")
)
_pnames = st.text(_UNRESERVED + "[]/:&+$", min_size=1, max_size=8)
_pvalues = st.none() | st.text(_UNRESERVED + "[]/:&+$", max_size=8)
_hnames = st.text(_UNRESERVED + "[]/?:+$", min_size=1, max_size=8)
_hvalues = st.text(_UNRESERVED + "[]/?:+$", max_size=8)


@st.composite
def sip_uris(draw):
    user = draw(st.none() | _users)
    return URI(
        draw(st.sampled_from(["sip", "sips"])),
        user=user,
        password=None if user is None else draw(st.none() | st.text(_UNRESERVED + "&=+$,")),
        host=draw(_hosts),
        port=draw(st.none() | st.integers(0, 65535)),
        params=draw(st.dictionaries(_pnames, _pvalues, max_size=3)),
        headers=draw(st.dictionaries(_hnames, _hvalues, max_size=2)),
    )


@settings(max_examples=150, deadline=None)
@given(sip_uris())
def test_property_sip_uri_round_trips(uri):
    assert URI.parse(str(uri)) == uri


@settings(max_examples=100, deadline=None)
@given(sip_uris())
def test_property_uri_is_equivalent_to_itself_reparsed(uri):
    assert URI.parse(str(uri)).equivalent(uri)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_property_arbitrary_text_parses_or_raises_header_error(text):
    try:
        uri = URI.parse("sip:" + text)
    except HeaderError:
        return
    assert URI.parse(str(uri)) == uri


# -- fast shapes ---------------------------------------------------------------------


def test_fast_port_accepts_exactly_the_numbers_up_to_65535():
    pattern = re.compile(FAST_PORT)
    accepted = [n for n in range(100_000) if pattern.fullmatch(str(n))]
    assert accepted == list(range(65_536))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a", "Z", "0", "9", ".", "-", "1", "25", "255", "256", "300", "00"]),
        min_size=1,
        max_size=9,
    ).map("".join)
)
def test_property_fast_host_accepts_only_valid_hosts(host):
    if re.fullmatch(FAST_HOST, host):
        assert is_valid_host(host)
