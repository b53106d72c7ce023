"""check_request: the RFC 3261 §8.2 / RFC 4475 §3.3 checks of a UAS."""

from __future__ import annotations

import pytest

from sizing.sip import Rejection, Request, UasPolicy, check_request, parse

BASE = [
    ("Via", "SIP/2.0/UDP a.example.com;branch=z9hG4bK77"),
    ("Max-Forwards", "70"),
    ("To", "<sip:b@example.com>"),
    ("From", "<sip:a@example.com>;tag=9"),
    ("Call-ID", "c9@a.example.com"),
    ("CSeq", "1 INVITE"),
]


def request(method="INVITE", uri="sip:b@example.com", extra=(), drop=(), body=b"", cseq=None):
    headers = [(n, v) for n, v in BASE if n not in drop]
    headers = [
        (n, cseq if (n == "CSeq" and cseq) else v.replace("INVITE", method)) for n, v in headers
    ]
    return Request(method, uri, headers + list(extra), body)


def test_well_formed_request_passes():
    assert check_request(request()) is None


@pytest.mark.parametrize("name", ["Via", "From", "To", "Call-ID", "CSeq"])
def test_missing_mandatory_header_is_400_naming_it(name):
    rejection = check_request(request(drop=[name]))
    assert rejection.status == 400 and name in rejection.reason


def test_missing_max_forwards_is_tolerated_for_rfc2543_peers():
    assert check_request(request(drop=["Max-Forwards"])) is None


def test_register_whose_to_is_a_star_is_400():
    register = request("REGISTER", extra=[("Contact", "<sip:a@192.0.2.1>")], drop=["To"])
    register.headers.add("To", "*")
    assert check_request(register).status == 400


def test_cseq_method_mismatch_is_400():
    assert check_request(request(cseq="1 BYE")).status == 400


def test_unsupported_scheme_is_416_and_policy_can_allow_it():
    assert check_request(request(uri="mailto:b@example.com")).status == 416
    policy = UasPolicy(schemes=frozenset({"sip", "mailto"}))
    assert check_request(request(uri="mailto:b@example.com"), policy) is None


def test_unknown_require_is_420_with_unsupported_and_known_one_passes():
    rejection = check_request(request(extra=[("Require", "100rel, foo")]))
    assert rejection.status == 420 and dict(rejection.headers) == {"Unsupported": "100rel, foo"}
    policy = UasPolicy(extensions=frozenset({"100rel", "foo"}))
    assert check_request(request(extra=[("Require", "100rel, foo")]), policy) is None


def test_require_is_ignored_on_ack():
    assert check_request(request("ACK", extra=[("Require", "foo")])) is None


def test_proxy_require_is_for_proxies_only():
    req = request(extra=[("Proxy-Require", "foo")])
    assert check_request(req) is None
    assert check_request(req, UasPolicy(proxy=True)).status == 420


def test_unsupported_body_type_is_415_with_accept():
    req = request(extra=[("Content-Type", "text/html")], body=b"<p>")
    rejection = check_request(req)
    assert rejection.status == 415 and dict(rejection.headers) == {"Accept": "application/sdp"}


def test_body_without_content_type_is_400():
    assert check_request(request(body=b"v=0\r\n")).status == 400


def test_accept_without_sdp_on_invite_is_406_and_wildcard_passes():
    assert check_request(request(extra=[("Accept", "text/plain")])).status == 406
    assert check_request(request(extra=[("Accept", "application/*")])) is None


def test_max_forwards_zero_is_483_at_a_proxy_only():
    req = request(extra=[], drop=["Max-Forwards"])
    req.headers.add("Max-Forwards", "0")
    assert check_request(req) is None
    assert check_request(req, UasPolicy(proxy=True)).status == 483


def test_rejection_builds_its_response():
    req = request(extra=[("Require", "foo")])
    response = check_request(req).response_to(req, to_tag="x1")
    data = response.encode()
    assert data.startswith(b"SIP/2.0 420 Bad Extension\r\n")
    assert parse(data).headers.get("Unsupported") == "foo"
    assert response.to_tag == "x1" and response.branch == req.branch


def test_rejection_is_a_value():
    assert Rejection(400, "Bad Request") == Rejection(400, "Bad Request")


def test_unreadable_header_in_a_built_request_is_400():
    req = request(extra=[], drop=["To"])
    req.headers.add("To", "<sip:b@example.com")
    rejection = check_request(req)
    assert rejection.status == 400 and "<sip:b@example.com" in rejection.reason
