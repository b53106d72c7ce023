"""Digest authentication: RFC vectors, client behaviour, server verdicts, round trips."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sizing.sip.auth import (
    ALGORITHMS,
    AuthError,
    DigestAuthenticator,
    DigestClient,
    User,
    Verdict,
    compute_ha1,
    compute_response,
    get_algorithm,
)
from sizing.sip.headers import DigestChallenge, DigestCredentials
from sizing.sip.message import Request, Response, parse

SECRET = b"server secret for tests"
REALM = "example.com"


def make_request(method: str = "REGISTER", uri: str = "sip:example.com", body: bytes = b"",
                 extra: tuple[tuple[str, str], ...] = ()) -> Request:
    headers = [
        ("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds"),
        ("Max-Forwards", "70"),
        ("To", "<sip:alice@example.com>"),
        ("From", "<sip:alice@example.com>;tag=1928301774"),
        ("Call-ID", "a84b4c76e66710@pc33.example.com"),
        ("CSeq", f"1 {method}"),
        *extra,
    ]
    return Request(method, uri, headers, body)


def with_credentials(request: Request, answers: list[tuple[str, DigestCredentials]]) -> Request:
    """The retried request as it travels: credentials added, then encoded and parsed again."""
    retried = Request(request.method, request.uri, request.headers.copy(), request.body)
    for name, cred in answers:
        retried.headers.add(name, cred)
    parsed = parse(retried.encode())
    assert isinstance(parsed, Request)
    return parsed


def challenge_response(result, request: Request) -> Response:
    response = request.create_response(result.status, result.reason, headers=result.headers)
    parsed = parse(response.encode())
    assert isinstance(parsed, Response)
    return parsed


def authenticator(**kwargs) -> DigestAuthenticator:
    users = kwargs.pop("users", {"alice": "secret"})
    return DigestAuthenticator(REALM, SECRET, users, **kwargs)


def client(**kwargs) -> DigestClient:
    kwargs.setdefault("random_bytes", random.Random(7).randbytes)
    password = kwargs.pop("password", "secret")
    return DigestClient("alice", password, **kwargs)


def first_round(auth: DigestAuthenticator, ua: DigestClient, request: Request, now: float = 1000.0):
    """Send without credentials, get challenged, retry: the retried request."""
    result = auth.authenticate(request, now)
    assert result.verdict is Verdict.CHALLENGE
    answers = ua.answer(challenge_response(result, request), request)
    assert answers is not None
    return with_credentials(request, answers)


# ---------------------------------------------------------------- RFC vectors


def test_rfc2617_section_3_5_md5_auth_response() -> None:
    ha1 = compute_ha1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life")
    response = compute_response(
        "MD5", ha1=ha1, nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", method="GET",
        uri="/dir/index.html", qop="auth", nc="00000001", cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_section_3_9_1_responses(algorithm: str, expected: str) -> None:
    ha1 = compute_ha1(algorithm, "Mufasa", "http-auth@example.org", "Circle of Life")
    response = compute_response(
        algorithm, ha1=ha1, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        method="GET", uri="/dir/index.html", qop="auth", nc="00000001",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    assert response == expected


def test_rfc2069_form_without_qop_is_h_of_ha1_nonce_ha2() -> None:
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
    ha1 = md5("Mufasa:testrealm@host.com:CircleOfLife")
    expected = md5(f"{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{md5('GET:/dir/index.html')}")
    got = compute_response(
        "MD5", ha1=ha1, nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", method="GET",
        uri="/dir/index.html",
    )
    assert got == expected == "1949323746fe6a43ef61f9606e7febea"


def test_sess_variant_hashes_ha1_with_nonce_and_cnonce() -> None:
    sha = lambda s: hashlib.sha256(s.encode()).hexdigest()  # noqa: E731
    ha1 = sha("u:r:p")
    session_key = sha(f"{ha1}:n:c")
    expected = sha(f"{session_key}:n:00000001:c:auth:{sha('INVITE:sip:b@r')}")
    got = compute_response("SHA-256-sess", ha1=ha1, nonce="n", method="INVITE", uri="sip:b@r",
                           qop="auth", nc="00000001", cnonce="c")
    assert got == expected


def test_unknown_algorithm_is_a_precise_error() -> None:
    with pytest.raises(AuthError, match="unsupported digest algorithm 'SHA-1'"):
        get_algorithm("SHA-1")


def test_algorithm_names_are_case_insensitive_and_absent_means_md5() -> None:
    assert get_algorithm("sha-256-SESS").name == "SHA-256-sess"
    assert get_algorithm(None).name == "MD5"


# ---------------------------------------------------------------- client


RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)


def test_client_reproduces_rfc2617_authorization() -> None:
    ua = DigestClient("Mufasa", "Circle Of Life", random_bytes=lambda n: bytes.fromhex("0a4f113b"),
                      cnonce_bytes=4)
    cred = ua.authorize(DigestChallenge.parse(RFC2617_CHALLENGE), "GET", "/dir/index.html")
    assert (cred.response, cred.nc, cred.cnonce, cred.qop, cred.opaque) == (
        "6629fae49393a05397450978507c4ef1", "00000001", "0a4f113b", "auth",
        "5ccc069c403ebaf9f0171e9517f40e41",
    )


def test_client_counts_nc_per_nonce() -> None:
    ua = client()
    first = DigestChallenge.parse('Digest realm="r", nonce="n1", qop="auth"')
    second = DigestChallenge.parse('Digest realm="r", nonce="n2", qop="auth"')
    counts = [ua.authorize(c, "REGISTER", "sip:r").nc for c in (first, first, second, first)]
    assert counts == ["00000001", "00000002", "00000001", "00000003"]


def test_client_cnonce_is_deterministic_with_a_seeded_source() -> None:
    challenge = DigestChallenge.parse('Digest realm="r", nonce="n", qop="auth"')
    a = client(random_bytes=random.Random(42).randbytes).authorize(challenge, "REGISTER", "sip:r")
    b = client(random_bytes=random.Random(42).randbytes).authorize(challenge, "REGISTER", "sip:r")
    assert a == b


def test_client_without_qop_sends_rfc2069_credentials() -> None:
    ua = DigestClient("Mufasa", "CircleOfLife")
    cred = ua.authorize(
        DigestChallenge.parse('Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"'),
        "GET", "/dir/index.html",
    )
    assert (cred.response, cred.nc, cred.cnonce, cred.qop) == (
        "1949323746fe6a43ef61f9606e7febea", None, None, None,
    )


def test_client_prefers_sha256_over_md5_whatever_the_order() -> None:
    challenges = [
        DigestChallenge.parse('Digest realm="r", nonce="n", algorithm=MD5, qop="auth"'),
        DigestChallenge.parse('Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"'),
    ]
    assert [c.algorithm for c in client().choose(challenges)] == ["SHA-256"]


def test_topmost_policy_takes_the_first_supported_challenge() -> None:
    challenges = [
        DigestChallenge.parse('Digest realm="r", nonce="n", algorithm=SHA-1, qop="auth"'),
        DigestChallenge.parse('Digest realm="r", nonce="n", algorithm=MD5, qop="auth"'),
        DigestChallenge.parse('Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"'),
    ]
    assert [c.algorithm for c in client(policy="topmost").choose(challenges)] == ["MD5"]


def test_client_with_md5_ha1_only_cannot_choose_sha256() -> None:
    ha1 = compute_ha1("MD5", "alice", "r", "secret")
    ua = DigestClient("alice", ha1={"MD5": ha1})
    challenges = [
        DigestChallenge.parse('Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"'),
        DigestChallenge.parse('Digest realm="r", nonce="n", algorithm=MD5, qop="auth"'),
    ]
    assert [c.algorithm for c in ua.choose(challenges)] == ["MD5"]


def test_client_answers_one_challenge_per_realm() -> None:
    challenges = [
        DigestChallenge.parse('Digest realm="a", nonce="n1", qop="auth"'),
        DigestChallenge.parse('Digest realm="b", nonce="n2", qop="auth"'),
    ]
    assert [c.realm for c in client().choose(challenges)] == ["a", "b"]


def test_client_needs_a_password_or_ha1() -> None:
    with pytest.raises(AuthError, match="needs a password or an HA1"):
        DigestClient("alice")


def test_client_gives_up_when_its_credentials_are_refused() -> None:
    auth, ua = authenticator(), client(password="wrong")
    retried = first_round(auth, ua, make_request())
    result = auth.authenticate(retried, 1001.0)
    assert result.verdict is Verdict.FAILED
    assert ua.answer(challenge_response(result, retried), retried) is None


def test_client_retries_a_stale_nonce_without_new_credentials() -> None:
    auth, ua = authenticator(nonce_lifetime=30.0), client()
    retried = first_round(auth, ua, make_request(), now=1000.0)
    result = auth.authenticate(retried, 1100.0)
    assert result.verdict is Verdict.STALE
    again = ua.answer(challenge_response(result, retried), retried)
    assert again is not None
    assert auth.authenticate(with_credentials(make_request(), again), 1100.0).ok


def test_client_skips_challenges_it_cannot_parse() -> None:
    request = make_request()
    response = Response(401, headers=[
        ("WWW-Authenticate", "Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEFoQMCAQ6iBwMFACAAAACjggT="),
        ("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth"'),
    ])
    answers = client().answer(response, request)
    assert answers is not None and [c.realm for _, c in answers] == ["r"]


def test_client_answers_407_with_proxy_authorization() -> None:
    auth, ua = authenticator(proxy=True), client()
    request = make_request("INVITE", "sip:bob@example.com")
    result = auth.authenticate(request, 0.0)
    answers = ua.answer(challenge_response(result, request), request)
    assert result.status == 407
    assert answers is not None and [name for name, _ in answers] == ["Proxy-Authorization"]


def test_cached_credentials_reuse_the_nonce_with_the_next_count() -> None:
    auth, ua = authenticator(), client()
    retried = first_round(auth, ua, make_request())
    assert auth.authenticate(retried, 1000.0).ok
    (name, cred), = ua.cached("REGISTER", "sip:example.com")
    assert cred.nc == "00000002"
    assert auth.authenticate(with_credentials(make_request(), [(name, cred)]), 1001.0).ok


# ---------------------------------------------------------------- server


def test_no_credentials_get_one_challenge_per_algorithm_in_preference_order() -> None:
    result = authenticator().authenticate(make_request(), 0.0)
    challenges = [DigestChallenge.parse(v) for _, v in result.headers]
    assert (result.status, result.reason) == (401, "Unauthorized")
    assert [n for n, _ in result.headers] == ["WWW-Authenticate"] * 2
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
    assert all(c.realm == REALM and c.qop_options == ["auth"] for c in challenges)


def test_nonces_are_unique_even_at_the_same_instant() -> None:
    auth = authenticator()
    assert auth.new_nonce(5.0) != auth.new_nonce(5.0)


def test_nonce_is_verifiable_by_another_server_sharing_the_secret() -> None:
    nonce = authenticator().new_nonce(1234.5)
    assert authenticator().nonce_issued_at(nonce) == 1234.5
    assert DigestAuthenticator(REALM, b"other", {}).nonce_issued_at(nonce) is None


@pytest.mark.parametrize("algorithm", sorted(a.name for a in ALGORITHMS.values()))
@pytest.mark.parametrize("qop", ["auth", "auth-int"])
def test_round_trip_for_each_algorithm_and_qop(algorithm: str, qop: str) -> None:
    auth = authenticator(algorithms=[algorithm], qop=[qop])
    request = make_request("MESSAGE", "sip:bob@example.com", body=b"hello")
    retried = first_round(auth, client(), request)
    result = auth.authenticate(retried, 1000.5)
    assert result.ok and result.username == "alice"


def test_round_trip_rfc2069_when_no_qop_is_offered() -> None:
    auth = authenticator(qop=())
    retried = first_round(auth, client(), make_request())
    assert auth.authenticate(retried, 1000.0).ok


def test_auth_int_detects_a_changed_body() -> None:
    auth = authenticator(qop=["auth-int"])
    retried = first_round(auth, client(), make_request("MESSAGE", body=b"pay 10"))
    tampered = Request(retried.method, retried.uri, retried.headers.copy(), b"pay 99")
    assert auth.authenticate(tampered, 1000.0).verdict is Verdict.FAILED


def test_wrong_password_is_re_challenged_by_default() -> None:
    auth = authenticator()
    result = auth.authenticate(first_round(auth, client(password="nope"), make_request()), 1000.0)
    assert (result.verdict, result.status) == (Verdict.FAILED, 401)
    assert result.headers


def test_wrong_password_can_be_refused_with_403() -> None:
    auth = authenticator(failure_status=403)
    result = auth.authenticate(first_round(auth, client(password="nope"), make_request()), 1000.0)
    assert (result.verdict, result.status, result.headers) == (Verdict.FAILED, 403, ())


def test_unknown_user_fails() -> None:
    auth = authenticator(users={"bob": "x"})
    result = auth.authenticate(first_round(auth, client(), make_request()), 1000.0)
    assert result.verdict is Verdict.FAILED and "alice" in result.detail


def test_user_store_may_hold_ha1_instead_of_password() -> None:
    ha1 = compute_ha1("SHA-256", "alice", REALM, "secret")
    auth = authenticator(users={"alice": User(ha1={"SHA-256": ha1})}, algorithms=["SHA-256"])
    assert auth.authenticate(first_round(auth, client(), make_request()), 1000.0).ok


def test_replayed_nonce_count_is_rejected() -> None:
    auth = authenticator()
    retried = first_round(auth, client(), make_request())
    assert auth.authenticate(retried, 1000.0).ok
    result = auth.authenticate(retried, 1001.0)
    assert (result.verdict, result.status) == (Verdict.REPLAY, 401)


def test_expired_nonce_with_right_password_is_stale() -> None:
    auth = authenticator(nonce_lifetime=60.0)
    retried = first_round(auth, client(), make_request(), now=1000.0)
    result = auth.authenticate(retried, 1061.0)
    assert result.verdict is Verdict.STALE
    assert all(DigestChallenge.parse(v).stale for _, v in result.headers)


def test_expired_nonce_with_wrong_password_is_not_stale() -> None:
    auth = authenticator(nonce_lifetime=60.0)
    retried = first_round(auth, client(password="nope"), make_request(), now=1000.0)
    assert auth.authenticate(retried, 1061.0).verdict is Verdict.FAILED


def test_nonce_counts_are_forgotten_after_the_nonce_lifetime() -> None:
    auth = authenticator(nonce_lifetime=60.0)
    assert auth.authenticate(first_round(auth, client(), make_request(), now=0.0), 1.0).ok
    assert auth.tracked_nonces == 1
    auth.authenticate(make_request(), 61.0)
    assert auth.tracked_nonces == 0


def test_nonce_from_another_server_is_re_challenged() -> None:
    other = DigestAuthenticator(REALM, b"other secret", {"alice": "secret"})
    retried = first_round(other, client(), make_request())
    result = authenticator().authenticate(retried, 1000.0)
    assert result.verdict is Verdict.CHALLENGE and "not issued" in result.detail


def test_credentials_for_another_realm_are_ignored() -> None:
    other = DigestAuthenticator("elsewhere.net", SECRET, {"alice": "secret"})
    retried = first_round(other, client(), make_request())
    assert authenticator().authenticate(retried, 1000.0).verdict is Verdict.CHALLENGE


def test_digest_uri_must_match_the_request_uri() -> None:
    auth = authenticator()
    retried = first_round(auth, client(), make_request(uri="sip:example.com"))
    moved = Request("REGISTER", "sip:other.example.com", retried.headers.copy())
    result = auth.authenticate(moved, 1000.0)
    assert (result.verdict, result.status) == (Verdict.BAD_REQUEST, 400)
    assert "Request-URI" in result.detail


def test_credentials_missing_response_are_a_bad_request() -> None:
    auth = authenticator()
    nonce = auth.new_nonce(0.0)
    cred = DigestCredentials("Digest", {"username": "alice", "realm": REALM, "nonce": nonce,
                                        "uri": "sip:example.com"})
    result = auth.authenticate(make_request(extra=(("Authorization", str(cred)),)), 0.0)
    assert result.status == 400 and "response" in result.detail


def test_opaque_must_be_echoed() -> None:
    auth = authenticator(opaque="state-42")
    retried = first_round(auth, client(), make_request())
    assert auth.authenticate(retried, 1000.0).ok
    assert DigestChallenge.parse(auth.authenticate(make_request(), 0.0).headers[0][1]).opaque == "state-42"


def test_authenticator_rejects_bad_configuration() -> None:
    with pytest.raises(AuthError, match="qop 'auth-conf'"):
        authenticator(qop=["auth-conf"])


@settings(max_examples=40, deadline=None)
@given(
    username=st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters='"\\'),
                     min_size=1, max_size=12),
    password=st.text(max_size=20),
    body=st.binary(max_size=64),
    algorithm=st.sampled_from(sorted(a.name for a in ALGORITHMS.values())),
    qop=st.sampled_from(["auth", "auth-int"]),
)
def test_any_user_and_body_round_trip(username: str, password: str, body: bytes, algorithm: str,
                                      qop: str) -> None:
    auth = DigestAuthenticator(REALM, SECRET, {username: password}, algorithms=[algorithm], qop=[qop])
    ua = DigestClient(username, password, random_bytes=random.Random(1).randbytes)
    retried = first_round(auth, ua, make_request("MESSAGE", body=body))
    assert auth.authenticate(retried, 1000.0).ok
