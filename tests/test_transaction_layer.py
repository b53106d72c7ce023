"""Transaction layer: matching (RFC 3261 §17.1.3, §17.2.3, §9.2), strays, branches, counters."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_transaction_support import ALICE, BOB, make_ack, make_request, rig

from sizing.sip.interfaces import Address
from sizing.sip.message import Request, parse
from sizing.sip.transaction import (
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    State,
    build_cancel,
    response_destination,
)

DATA = Path(__file__).parent / "data"


def test_response_matches_by_branch_and_cseq_method() -> None:
    r = rig()
    invite = make_request()
    ict = r.layer.send_request(invite, BOB, r.wire)
    cancel = r.layer.send_request(build_cancel(invite), BOB, r.wire)
    cancel_ok = cancel.request.create_response(200, to_tag="b")
    assert r.layer.receive(cancel_ok, BOB, r.wire) is cancel
    assert ict.state is State.CALLING
    assert r.layer.receive(invite.create_response(487, to_tag="b"), BOB, r.wire) is ict


def test_response_matching_no_transaction_goes_to_the_tu_as_stray() -> None:
    r = rig()
    stray = make_request(branch="z9hG4bKunknown").create_response(200, to_tag="z")
    assert r.layer.receive(stray, BOB, r.wire) is None
    assert r.tu.events == [(0, "response", None, stray)]
    assert r.layer.stats.stray_responses == 1


def test_cancel_gets_its_own_transaction_linked_to_the_invite_it_cancels() -> None:
    r = rig()
    invite = make_request()
    ist = r.layer.receive(invite, ALICE, r.wire)
    cancel_txn = r.layer.receive(build_cancel(invite), ALICE, r.wire)
    assert isinstance(cancel_txn, ServerNonInviteTransaction)
    assert cancel_txn is not ist
    assert cancel_txn.cancel_target is ist


def test_cancel_for_an_unknown_invite_has_no_target() -> None:
    r = rig()
    cancel_txn = r.layer.receive(build_cancel(make_request()), ALICE, r.wire)
    assert cancel_txn.cancel_target is None


def test_cancel_built_per_rfc3261_9_1() -> None:
    invite = make_request()
    cancel = build_cancel(invite)
    assert (cancel.method, cancel.uri, cancel.branch) == ("CANCEL", invite.uri, invite.branch)
    assert (cancel.cseq.number, cancel.cseq.method) == (1, "CANCEL")
    for name in ("From", "To", "Call-ID", "Route"):
        assert cancel.headers.get(name) == invite.headers.get(name)


def test_same_branch_from_another_sent_by_is_another_transaction() -> None:
    r = rig()
    first = r.layer.receive(make_request("OPTIONS"), ALICE, r.wire)
    text = make_request("OPTIONS").encode().replace(b"192.0.2.10:5060;", b"192.0.2.99:5060;")
    second = r.layer.receive(parse(text), Address("UDP", "192.0.2.99", 5060), r.wire)
    assert second is not first
    assert r.tu.names() == ["request", "request"]


def test_ack_for_non_2xx_matches_the_invite_server_transaction_by_branch() -> None:
    r = rig()
    invite = make_request()
    ist = r.layer.receive(invite, ALICE, r.wire)
    busy = invite.create_response(486, to_tag="u")
    ist.respond(busy)
    assert r.layer.receive(make_ack(invite, busy), ALICE, r.wire) is ist
    assert ist.state is State.CONFIRMED


def test_ack_for_2xx_has_its_own_branch_and_goes_to_the_tu() -> None:
    r = rig()
    invite = make_request()
    ist = r.layer.receive(invite, ALICE, r.wire)
    ok = invite.create_response(200, to_tag="u")
    ist.respond(ok)
    ack = make_ack(invite, ok, branch="z9hG4bKack2xx")
    assert r.layer.receive(ack, ALICE, r.wire) is None
    assert r.tu.events[-1][1:] == ("request", None, ack)
    assert r.layer.stats.stray_acks == 1


def _rfc2543_invite() -> Request:
    message = parse((DATA / "rfc4475" / "inv2543.dat").read_bytes())
    assert isinstance(message, Request) and message.branch is None
    return message


def test_rfc2543_invite_retransmission_matches_by_the_fallback_rules() -> None:
    r = rig()
    invite = _rfc2543_invite()
    ist = r.layer.receive(invite, ALICE, r.wire)
    ist.respond(invite.create_response(180, to_tag="r1"))
    assert r.layer.receive(_rfc2543_invite(), ALICE, r.wire) is ist
    assert [m.status for m in r.wire.messages()] == [180, 180]
    assert r.tu.names() == ["request"]


def test_rfc2543_request_with_another_cseq_is_a_new_transaction() -> None:
    r = rig()
    first = r.layer.receive(_rfc2543_invite(), ALICE, r.wire)
    text = _rfc2543_invite().encode().replace(b"CSeq: 56 INVITE", b"CSeq: 57 INVITE")
    assert r.layer.receive(parse(text), ALICE, r.wire) is not first


def test_rfc2543_ack_matches_by_the_to_tag_of_the_response_sent() -> None:
    r = rig()
    invite = _rfc2543_invite()
    ist = r.layer.receive(invite, ALICE, r.wire)
    busy = invite.create_response(486, to_tag="r1")
    ist.respond(busy)
    wrong = make_ack(invite, invite.create_response(486, to_tag="other"))
    assert r.layer.receive(wrong, ALICE, r.wire) is None
    assert r.layer.receive(make_ack(invite, busy), ALICE, r.wire) is ist
    assert ist.state is State.CONFIRMED


def test_rfc2543_cancel_finds_its_invite() -> None:
    r = rig()
    invite = _rfc2543_invite()
    ist = r.layer.receive(invite, ALICE, r.wire)
    cancel_txn = r.layer.receive(build_cancel(invite), ALICE, r.wire)
    assert isinstance(ist, ServerInviteTransaction)
    assert cancel_txn.cancel_target is ist


def test_request_without_via_is_refused_with_a_precise_error() -> None:
    r = rig()
    request = make_request("OPTIONS")
    request.headers.remove("Via")
    with pytest.raises(ValueError, match=r"OPTIONS sip:bob@biloxi.example.com: no Via header"):
        r.layer.receive(request, ALICE, r.wire)


def test_branches_are_unique_cookied_and_reproducible_per_seed() -> None:
    a, b, c = rig(seed=7).layer, rig(seed=7).layer, rig(seed=8).layer
    first = [a.new_branch() for _ in range(1000)]
    assert len(set(first)) == 1000
    assert all(branch.startswith("z9hG4bK") for branch in first)
    assert first == [b.new_branch() for _ in range(1000)]
    assert c.new_branch() != first[0]


def test_send_request_refuses_ack_missing_branch_and_reused_branch() -> None:
    r = rig()
    invite = make_request()
    with pytest.raises(ValueError, match="ACK is not sent in a client transaction"):
        r.layer.send_request(make_ack(invite, invite.create_response(200)), BOB, r.wire)
    no_branch = parse(make_request().encode().replace(b";branch=z9hG4bK74bf9", b""))
    with pytest.raises(ValueError, match="has no branch parameter"):
        r.layer.send_request(no_branch, BOB, r.wire)
    r.layer.send_request(invite, BOB, r.wire)
    with pytest.raises(ValueError, match="already exists"):
        r.layer.send_request(make_request(), BOB, r.wire)


def test_terminated_transactions_leave_the_layer() -> None:
    r = rig()
    r.layer.send_request(make_request("OPTIONS"), BOB, r.wire)
    r.layer.receive(make_request("INFO", branch="z9hG4bKin"), ALICE, r.wire)
    assert len(r.layer) == 2
    r.clock.advance(40)
    assert [t.kind for t in r.layer] == ["NIST"]  # the TU never answered the INFO


def test_stats_count_transactions_by_kind() -> None:
    r = rig()
    r.layer.send_request(make_request(), BOB, r.wire)
    r.layer.send_request(make_request("BYE", branch="z9hG4bKbye"), BOB, r.wire)
    r.layer.receive(make_request(branch="z9hG4bKin"), ALICE, r.wire)
    assert r.layer.stats.created == {"ICT": 1, "NICT": 1, "IST": 1, "NIST": 0}
    assert r.layer.stats.as_dict()["created_ICT"] == 1


@pytest.mark.parametrize(
    ("via_tail", "reliable", "expected"),
    [
        (";branch=z9hG4bKx", False, Address("UDP", "198.51.100.7", 5070)),  # sent-by port
        (";rport;branch=z9hG4bKx", False, Address("UDP", "198.51.100.7", 40000)),  # RFC 3581
        (";branch=z9hG4bKx", True, Address("TCP", "198.51.100.7", 40000)),  # the connection
    ],
)
def test_responses_go_where_rfc3261_18_2_2_says(via_tail: str, reliable: bool, expected: Address) -> None:
    text = make_request().encode().replace(b";branch=z9hG4bK74bf9", via_tail.encode())
    text = text.replace(b"192.0.2.10:5060", b"host.example.com:5070")
    source = Address("TCP" if reliable else "UDP", "198.51.100.7", 40000)
    assert response_destination(parse(text), source, reliable) == expected
