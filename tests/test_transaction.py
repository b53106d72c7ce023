"""Transaction state machines (RFC 3261 §17, RFC 6026) driven by a manual clock."""

from __future__ import annotations

import pytest
from test_transaction_support import ALICE, BOB, make_ack, make_request, rig

from sizing.sip.interfaces import TimerConfig
from sizing.sip.message import Request, parse
from sizing.sip.transaction import State

# -- INVITE client transaction ----------------------------------------------------------


def test_unanswered_invite_over_udp_is_sent_seven_times_and_times_out_at_32s() -> None:
    r = rig()
    txn = r.layer.send_request(make_request(), BOB, r.wire)
    r.clock.advance(40)
    assert r.wire.times() == [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert [(t, name) for t, name, _, _ in r.tu.events] == [(32, "timeout"), (32, "terminated")]
    assert txn.state is State.TERMINATED
    assert r.layer.stats.timeouts["ICT"] == 1
    assert r.layer.stats.retransmissions_sent == 6


def test_shorter_t1_shortens_the_invite_retransmission_sequence() -> None:
    r = rig(config=TimerConfig(t1=0.1))
    r.layer.send_request(make_request(), BOB, r.wire)
    r.clock.advance(10)
    assert r.wire.times() == pytest.approx([0, 0.1, 0.3, 0.7, 1.5, 3.1, 6.3])
    assert r.tu.events[0][:2] == (pytest.approx(6.4), "timeout")


def test_invite_over_tcp_is_not_retransmitted_but_still_times_out() -> None:
    r = rig(reliable=True)
    r.layer.send_request(make_request(transport="TCP"), BOB, r.wire)
    r.clock.advance(40)
    assert r.wire.times() == [0]
    assert r.tu.names() == ["timeout", "terminated"]
    assert r.tu.events[0][0] == 32


def test_provisional_response_stops_invite_retransmissions_and_timer_b() -> None:
    r = rig()
    invite = make_request()
    txn = r.layer.send_request(invite, BOB, r.wire)
    r.clock.advance(0.2)
    r.layer.receive(invite.create_response(180, to_tag="b1"), BOB, r.wire)
    r.clock.advance(100)
    assert r.wire.times() == [0]
    assert txn.state is State.PROCEEDING
    assert r.tu.names() == ["response"]


def test_ack_for_non_2xx_is_built_per_rfc3261_17_1_1_3() -> None:
    r = rig()
    invite = make_request()
    r.layer.send_request(invite, BOB, r.wire)
    busy = invite.create_response(486, to_tag="8321234356")
    r.layer.receive(busy, BOB, r.wire)
    ack = r.wire.messages()[-1]
    assert isinstance(ack, Request)
    assert (ack.method, ack.uri) == ("ACK", invite.uri)
    assert [str(v) for v in ack.via] == [str(invite.top_via)]
    assert ack.to_tag == "8321234356"
    assert ack.headers.get_all("Route") == invite.headers.get_all("Route")
    assert (ack.cseq.number, ack.cseq.method) == (1, "ACK")
    assert (ack.call_id, ack.headers.get("From")) == (invite.call_id, invite.headers.get("From"))
    assert r.wire.sent[-1][2] == BOB


def test_retransmitted_non_2xx_gets_the_ack_again_and_is_not_passed_up() -> None:
    r = rig()
    invite = make_request()
    txn = r.layer.send_request(invite, BOB, r.wire)
    busy = invite.create_response(486, to_tag="x")
    r.layer.receive(busy, BOB, r.wire)
    r.clock.advance(1)
    r.layer.receive(busy, BOB, r.wire)
    assert [m.method for m in r.wire.messages()] == ["INVITE", "ACK", "ACK"]
    assert r.tu.names() == ["response"]
    assert txn.state is State.COMPLETED
    assert r.layer.stats.retransmissions_received == 1


def test_timer_d_ends_the_completed_invite_client_transaction_after_32s() -> None:
    r = rig()
    invite = make_request()
    txn = r.layer.send_request(invite, BOB, r.wire)
    r.layer.receive(invite.create_response(404, to_tag="x"), BOB, r.wire)
    r.clock.advance(31.9)
    assert txn.state is State.COMPLETED
    r.clock.advance(0.1)
    assert txn.state is State.TERMINATED
    assert r.tu.events[-1][:2] == (32, "terminated")


def test_non_2xx_over_tcp_terminates_the_invite_client_transaction_at_once() -> None:
    r = rig(reliable=True)
    invite = make_request(transport="TCP")
    txn = r.layer.send_request(invite, BOB, r.wire)
    r.layer.receive(invite.create_response(603, to_tag="x"), BOB, r.wire)
    assert txn.state is State.TERMINATED
    assert [m.method for m in r.wire.messages()] == ["INVITE", "ACK"]
    assert len(r.layer) == 0


def test_2xx_enters_accepted_and_every_2xx_reaches_the_tu_until_timer_m() -> None:
    r = rig()
    invite = make_request()
    txn = r.layer.send_request(invite, BOB, r.wire)
    ok = invite.create_response(200, to_tag="a")
    r.layer.receive(ok, BOB, r.wire)
    assert txn.state is State.ACCEPTED
    r.clock.advance(2)
    r.layer.receive(ok, BOB, r.wire)
    r.layer.receive(invite.create_response(200, to_tag="forked"), BOB, r.wire)
    assert r.tu.names() == ["response", "response", "response"]
    assert r.wire.times() == [0]  # no ACK from the transaction, no retransmission
    r.clock.advance(30)
    assert txn.state is State.TERMINATED
    assert r.tu.events[-1][:2] == (32, "terminated")


# -- non-INVITE client transaction -------------------------------------------------------


def test_unanswered_non_invite_is_sent_eleven_times_and_times_out_at_32s() -> None:
    r = rig()
    r.layer.send_request(make_request("OPTIONS"), BOB, r.wire)
    r.clock.advance(40)
    assert r.wire.times() == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert [(t, name) for t, name, _, _ in r.tu.events] == [(32, "timeout"), (32, "terminated")]
    assert r.layer.stats.timeouts["NICT"] == 1


def test_non_invite_retransmits_every_t2_after_a_provisional_response() -> None:
    r = rig()
    request = make_request("BYE")
    txn = r.layer.send_request(request, BOB, r.wire)
    r.clock.advance(0.2)
    r.layer.receive(request.create_response(100), BOB, r.wire)
    assert txn.state is State.PROCEEDING
    r.clock.advance(40)
    assert r.wire.times() == [0, 0.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5]
    assert r.tu.names() == ["response", "timeout", "terminated"]


def test_non_invite_over_tcp_is_not_retransmitted() -> None:
    r = rig(reliable=True)
    r.layer.send_request(make_request("REGISTER", transport="TCP"), BOB, r.wire)
    r.clock.advance(40)
    assert r.wire.times() == [0]
    assert r.tu.names() == ["timeout", "terminated"]


def test_final_response_absorbs_retransmissions_during_timer_k() -> None:
    r = rig()
    request = make_request("OPTIONS")
    txn = r.layer.send_request(request, BOB, r.wire)
    ok = request.create_response(200, to_tag="t")
    r.layer.receive(ok, BOB, r.wire)
    r.layer.receive(ok, BOB, r.wire)
    assert r.tu.names() == ["response"]
    r.clock.advance(4.9)
    assert txn.state is State.COMPLETED
    r.clock.advance(0.1)
    assert txn.state is State.TERMINATED
    assert r.wire.times() == [0]


# -- INVITE server transaction ----------------------------------------------------------


def test_server_sends_100_trying_when_the_tu_is_silent_for_200ms() -> None:
    r = rig()
    r.layer.receive(make_request(), ALICE, r.wire)
    r.clock.advance(0.199)
    assert r.wire.sent == []
    r.clock.advance(0.001)
    (when, trying, dest) = r.wire.sent[0]
    assert (when, trying.status, trying.to_tag, dest) == (0.2, 100, None, ALICE)


def test_server_sends_no_100_trying_when_the_tu_answers_within_200ms() -> None:
    r = rig()
    invite = make_request()
    txn = r.layer.receive(invite, ALICE, r.wire)
    r.clock.advance(0.1)
    txn.respond(invite.create_response(180, to_tag="u"))
    r.clock.advance(1)
    assert [m.status for m in r.wire.messages()] == [180]


def test_retransmitted_invite_gets_the_last_provisional_and_is_not_passed_up() -> None:
    r = rig()
    invite = make_request()
    txn = r.layer.receive(invite, ALICE, r.wire)
    txn.respond(invite.create_response(180, to_tag="u"))
    assert r.layer.receive(invite, ALICE, r.wire) is txn
    assert [m.status for m in r.wire.messages()] == [180, 180]
    assert r.tu.names() == ["request"]


def test_non_2xx_is_retransmitted_per_timer_g_until_the_ack_then_timer_i() -> None:
    r = rig()
    invite = make_request()
    txn = r.layer.receive(invite, ALICE, r.wire)
    busy = invite.create_response(486, to_tag="u")
    txn.respond(busy)
    r.clock.advance(5)
    r.layer.receive(make_ack(invite, busy), ALICE, r.wire)
    assert txn.state is State.CONFIRMED
    r.clock.advance(4.9)
    assert txn.state is State.CONFIRMED
    r.clock.advance(0.1)
    assert txn.state is State.TERMINATED
    assert r.wire.times() == [0, 0.5, 1.5, 3.5]
    assert all(m.status == 486 for m in r.wire.messages())
    assert r.tu.names() == ["request", "terminated"]  # the ACK is absorbed


def test_timer_g_is_capped_at_t2_and_timer_h_reports_the_missing_ack() -> None:
    r = rig()
    invite = make_request()
    txn = r.layer.receive(invite, ALICE, r.wire)
    txn.respond(invite.create_response(500))
    r.clock.advance(40)
    assert r.wire.times() == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert [(t, name) for t, name, _, _ in r.tu.events[1:]] == [(32, "timeout"), (32, "terminated")]
    assert r.layer.stats.timeouts["IST"] == 1


def test_retransmitted_invite_in_completed_gets_the_final_response_again() -> None:
    r = rig(reliable=True)
    invite = make_request(transport="TCP")
    txn = r.layer.receive(invite, ALICE, r.wire)
    txn.respond(invite.create_response(486, to_tag="u"))
    r.layer.receive(invite, ALICE, r.wire)
    assert [m.status for m in r.wire.messages()] == [486, 486]
    assert r.layer.stats.retransmissions_received == 1


def test_server_invite_over_tcp_never_retransmits_and_ack_ends_it_at_once() -> None:
    r = rig(reliable=True)
    invite = make_request(transport="TCP")
    txn = r.layer.receive(invite, ALICE, r.wire)
    busy = invite.create_response(486, to_tag="u")
    txn.respond(busy)
    r.clock.advance(10)
    r.layer.receive(make_ack(invite, busy), ALICE, r.wire)
    assert r.wire.times() == [0]
    assert txn.state is State.TERMINATED


def test_accepted_absorbs_invite_retransmissions_and_sends_the_tus_2xx_again() -> None:
    r = rig()
    invite = make_request()
    txn = r.layer.receive(invite, ALICE, r.wire)
    ok = invite.create_response(200, to_tag="u")
    txn.respond(ok)
    assert txn.state is State.ACCEPTED
    r.clock.advance(0.5)
    r.layer.receive(invite, ALICE, r.wire)  # absorbed, nothing sent, not passed up
    assert txn.respond(ok) is True  # the TU's (dialog's) 2xx retransmission
    r.clock.advance(1)
    assert r.wire.times() == [0, 0.5]
    assert r.tu.names() == ["request"]
    assert r.layer.stats.retransmissions_sent == 1
    assert r.layer.stats.retransmissions_received == 1


def test_ack_matching_an_accepted_invite_transaction_goes_to_the_tu() -> None:
    r = rig()
    invite = make_request()
    txn = r.layer.receive(invite, ALICE, r.wire)
    ok = invite.create_response(200, to_tag="u")
    txn.respond(ok)
    ack = make_ack(invite, ok)
    r.layer.receive(ack, ALICE, r.wire)
    assert r.tu.events[-1][1:] == ("request", txn, ack)


def test_timer_l_ends_the_accepted_server_transaction_after_64_t1() -> None:
    r = rig(reliable=True)
    invite = make_request(transport="TCP")
    txn = r.layer.receive(invite, ALICE, r.wire)
    txn.respond(invite.create_response(200, to_tag="u"))
    r.clock.advance(31.9)
    assert txn.state is State.ACCEPTED
    r.clock.advance(0.1)
    assert txn.state is State.TERMINATED


def test_final_response_after_the_final_response_is_discarded() -> None:
    r = rig()
    invite = make_request()
    txn = r.layer.receive(invite, ALICE, r.wire)
    txn.respond(invite.create_response(486, to_tag="u"))
    assert txn.respond(invite.create_response(200, to_tag="u")) is False
    assert [m.status for m in r.wire.messages()] == [486]


def test_respond_rejects_something_that_is_not_a_response() -> None:
    r = rig()
    invite = make_request()
    txn = r.layer.receive(invite, ALICE, r.wire)
    with pytest.raises(TypeError, match="takes a Response, got Request"):
        txn.respond(invite)


# -- non-INVITE server transaction --------------------------------------------------------


def test_non_invite_server_absorbs_retransmissions_while_trying() -> None:
    r = rig()
    request = make_request("OPTIONS")
    r.layer.receive(request, ALICE, r.wire)
    r.layer.receive(request, ALICE, r.wire)
    assert r.wire.sent == []
    assert r.tu.names() == ["request"]


def test_non_invite_server_resends_final_on_retransmission_until_timer_j() -> None:
    r = rig()
    request = make_request("BYE")
    txn = r.layer.receive(request, ALICE, r.wire)
    txn.respond(request.create_response(200, to_tag="u"))
    r.clock.advance(10)
    r.layer.receive(request, ALICE, r.wire)
    assert r.wire.times() == [0, 10]
    r.clock.advance(21.9)
    assert txn.state is State.COMPLETED
    r.clock.advance(0.1)
    assert txn.state is State.TERMINATED


def test_non_invite_server_over_tcp_terminates_when_the_final_is_sent() -> None:
    r = rig(reliable=True)
    request = make_request("BYE", transport="TCP")
    txn = r.layer.receive(request, ALICE, r.wire)
    txn.respond(request.create_response(200, to_tag="u"))
    assert txn.state is State.TERMINATED
    assert len(r.layer) == 0


def test_tu_answering_inside_the_callback_is_sent_without_a_100() -> None:
    r = rig()
    r.tu.on_request = lambda txn, req: txn.respond(req.create_response(486, to_tag="q"))
    r.layer.receive(make_request(), ALICE, r.wire)
    r.clock.advance(0.6)
    assert [(t, m.status) for t, m, _ in r.wire.sent] == [(0, 486), (0.5, 486)]


# -- transport errors --------------------------------------------------------------------


def test_send_failure_informs_the_tu_and_terminates_the_client_transaction() -> None:
    r = rig()
    r.wire.fail = True
    txn = r.layer.send_request(make_request(), BOB, r.wire)
    assert r.tu.names() == ["transport_error", "terminated"]
    assert txn.state is State.TERMINATED
    assert len(r.layer) == 0
    assert r.layer.stats.transport_errors == 1
    r.clock.advance(40)
    assert r.tu.names() == ["transport_error", "terminated"]


def test_send_failure_of_a_response_terminates_the_server_transaction() -> None:
    r = rig()
    invite = make_request()
    txn = r.layer.receive(invite, ALICE, r.wire)
    r.wire.fail = True
    txn.respond(invite.create_response(486, to_tag="u"))
    assert txn.state is State.TERMINATED
    assert r.tu.names() == ["request", "transport_error", "terminated"]


def test_later_transport_failure_reaches_the_transactions_sending_there() -> None:
    r = rig()
    txn = r.layer.send_request(make_request(), BOB, r.wire)
    other = r.layer.send_request(make_request("OPTIONS", branch="z9hG4bKother"), ALICE, r.wire)
    assert r.layer.transport_failed(BOB, "connection refused") == 1
    assert txn.state is State.TERMINATED
    assert other.state is State.TRYING
    assert str(r.tu.events[0][3]) == "connection refused"


def test_ack_keeps_only_the_top_via_of_a_forwarded_invite() -> None:
    r = rig()
    text = make_request().encode().replace(
        b"branch=z9hG4bK74bf9\r\n", b"branch=z9hG4bK74bf9, SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKup\r\n"
    )
    invite = parse(text)
    r.layer.send_request(invite, BOB, r.wire)
    r.layer.receive(invite.create_response(480, to_tag="t"), BOB, r.wire)
    ack = r.wire.messages()[-1]
    assert [v.branch for v in ack.via] == ["z9hG4bK74bf9"]
