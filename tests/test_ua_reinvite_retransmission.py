"""A UA's re-INVITE whose ACK is lost: the peer re-sends its 2xx, the UA re-sends the
same ACK (RFC 3261 §13.2.2.4) and its flow hears the answer once."""

from __future__ import annotations

from conftest import loopback_ua

from sizing.sip import parse
from sizing.sip.interfaces import Address, ManualClock
from sizing.sip.loopback import LoopbackNetwork, summarize
from sizing.sip.message import Request

ALICE = Address("UDP", "10.0.0.1", 5060)
BOB = Address("UDP", "10.0.0.2", 5060)


def test_a_lost_ack_to_a_reinvites_2xx_is_repeated_and_the_answer_heard_once() -> None:
    clock = ManualClock()
    lost: list[bytes] = []

    def lose_first_reinvite_ack(data: bytes, source: Address, dest: Address) -> bool:
        if lost or source != ALICE or not data.startswith(b"ACK "):
            return False
        ack = parse(data)
        if isinstance(ack, Request) and ack.cseq is not None and ack.cseq.number > 1:
            lost.append(data)
            return True
        return False

    network = LoopbackNetwork(clock, latency_s=0.01)
    alice = loopback_ua(network, ALICE, "alice", 1, media_port=40000)
    loopback_ua(network, BOB, "bob", 2, media_port=41000)
    call = alice.invite("sip:bob@10.0.0.2", dest=BOB)
    clock.advance(1.0)
    mark = len(network.log)
    network.drop = lose_first_reinvite_ack
    answers: list[int] = []
    alice.hold(call).on_response = lambda client, response: answers.append(response.status)
    clock.advance(3.0)
    since = network.log[mark:]
    oks = [e.data for e in since if e.source == BOB and summarize(e.data) == "200"]
    acks = [e.data for e in since if e.source == ALICE and summarize(e.data) == "ACK"]
    assert len(lost) == 1 and len(oks) >= 2
    assert len(acks) == 2 and acks[0] == acks[1]
    assert answers == [200]
    assert call.kinds.count("reinvited") == 1
