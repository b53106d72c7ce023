"""The engine's SIP front end: which messages count as new work, the queue admission
decision, and the stateless 503 both drivers send."""

from __future__ import annotations

import pytest

from sizing.sip.frontend import (
    ADMIT,
    DROP,
    REJECT,
    OverloadPolicy,
    admission,
    busy_answer_to,
    is_new_invite,
    out_of_dialog,
)
from sizing.sip.interfaces import Address
from sizing.sip.message import Response, parse

SOURCE = Address("UDP", "10.0.0.9", 40000)


def _request(method: str = "INVITE", to: str = "To: <sip:b@example.com>",
             via: str = "SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bK1") -> bytes:
    return (f"{method} sip:b@example.com SIP/2.0\r\nVia: {via}\r\n"
            f"From: <sip:a@example.com>;tag=a1\r\n{to}\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


@pytest.mark.parametrize(("data", "new"), [
    (_request(), True),
    (_request(to="t: <sip:b@example.com>"), True),
    (_request(to="To: <sip:b@example.com>;tag=b7"), False),
    (_request(to="t:<sip:b@example.com> ; TAG = b7"), False),
    (_request("REGISTER"), False),
    (b"SIP/2.0 180 Ringing\r\nTo: <sip:b@example.com>\r\n\r\n", False),
])
def test_a_new_invite_is_an_invite_without_a_to_tag(data: bytes, new: bool) -> None:
    assert is_new_invite(data) is new


def test_a_tag_in_the_body_does_not_make_a_request_in_dialog() -> None:
    data = _request(to="To: <sip:b@example.com>").replace(
        b"Content-Length: 0\r\n\r\n", b"Content-Length: 24\r\n\r\n\r\nTo: <sip:x>;tag=body\r\n")
    assert out_of_dialog(data) and is_new_invite(data)


BUSY = dict(queued=5, must_wait=True)
REJECTING = OverloadPolicy(mode="reject", queue_limit=10, reject_threshold=5)


@pytest.mark.parametrize(("policy", "data", "state", "decision"), [
    (REJECTING, _request(), BUSY, REJECT),
    (REJECTING, _request(to="To: <sip:b@example.com>;tag=b7"), BUSY, ADMIT),  # re-INVITE
    (REJECTING, _request("BYE", to="To: <sip:b@example.com>;tag=b7"), BUSY, ADMIT),
    (REJECTING, _request(), dict(queued=4, must_wait=True), ADMIT),
    (REJECTING, _request(), dict(queued=5, must_wait=False), ADMIT),  # a core is free
    (REJECTING, _request("BYE"), dict(queued=10, must_wait=True), DROP),
    (OverloadPolicy(mode="drop", queue_limit=10, reject_threshold=5), _request(), BUSY, ADMIT),
    (OverloadPolicy(admit=lambda owner, data, source: False), _request(), dict(queued=0, must_wait=False),
     DROP),
])
def test_admission_drops_at_the_limit_and_rejects_only_new_invites_past_the_threshold(
        policy: OverloadPolicy, data: bytes, state: dict, decision: int) -> None:
    assert admission(policy, None, data, SOURCE, **state) == decision


def test_the_busy_answer_is_a_503_with_retry_after_to_the_via_sent_by() -> None:
    answer = busy_answer_to(_request(), SOURCE, False, 7)
    assert answer is not None
    data, dest = answer
    response = parse(data)
    assert isinstance(response, Response) and (response.status, response.reason) == (503, "Service Unavailable")
    assert response.headers.get("Retry-After") == "7"
    assert dest == Address("UDP", "10.0.0.9", 5062)


@pytest.mark.parametrize(("via", "port"), [
    ("SIP/2.0/TLS 10.0.0.9;branch=z9hG4bK1", 5061),  # RFC 3261 §18.2.2: sent-by default by transport
    ("SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK1", 5060),
    ("SIP/2.0/UDP 10.0.0.9:5062;rport;branch=z9hG4bK1", SOURCE.port),  # RFC 3581: the source port
])
def test_the_busy_answer_over_udp_goes_to_the_sent_by_port_default_of_its_transport(via: str, port: int) -> None:
    answer = busy_answer_to(_request(via=via), SOURCE, False, 5)
    assert answer is not None and answer[1].port == port


def test_a_request_that_does_not_parse_gets_no_busy_answer() -> None:
    assert busy_answer_to(b"INVITE nonsense\r\n\r\n", SOURCE, False, 5) is None
    assert busy_answer_to(_request(via="").replace(b"Via: \r\n", b""), SOURCE, False, 5) is None
