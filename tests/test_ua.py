"""The UA core on the loopback network: exact message sequences for the call flows."""

from __future__ import annotations

import pytest

from sizing.sip import parse
from sizing.sip.interfaces import Address, ManualClock, TimerConfig
from sizing.sip.loopback import LoopbackNetwork, summarize
from sizing.sip.sdp import Capabilities
from sizing.sip.ua import AnswerPolicy, CallState, UserAgent

A = Address("UDP", "10.0.0.1", 5060)
B = Address("UDP", "10.0.0.2", 5060)
CAPS = Capabilities(codecs=["PCMA", "PCMU"])


class Net:
    """Two user agents, alice (caller) and bob (callee), on one loopback network."""

    def __init__(self, *, drop=None, alice: dict | None = None, bob: dict | None = None) -> None:
        self.clock = ManualClock()
        self.network = LoopbackNetwork(self.clock, latency_s=0.01, drop=drop)
        config = TimerConfig(trying_delay=None)
        self.alice = UserAgent(self.clock, A, user="alice", config=config, seed=1,
                               capabilities=CAPS, **(alice or {}))
        self.bob = UserAgent(self.clock, B, user="bob", config=config, seed=2,
                             capabilities=CAPS, media_port=50000, **(bob or {}))
        self.alice.connect(self.network)
        self.bob.connect(self.network)
        self.incoming: list = []
        self.bob.on_call = self.incoming.append

    def run(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)

    def seq(self) -> list[str]:
        return self.network.summary()


@pytest.fixture
def net() -> Net:
    return Net()


def test_basic_call_is_seven_messages(net: Net) -> None:
    call = net.alice.invite("sip:bob@10.0.0.2")
    net.run()
    assert call.state is CallState.CONFIRMED
    net.alice.bye(call)
    net.run()
    assert net.seq() == ["INVITE", "100", "180", "200", "ACK", "BYE", "200"]
    assert net.incoming[0].state is CallState.ENDED


def test_basic_call_directions(net: Net) -> None:
    call = net.alice.invite("sip:bob@10.0.0.2")
    net.run()
    net.alice.bye(call)
    net.run()
    assert net.network.summary(source=A) == ["INVITE", "ACK", "BYE"]
    assert net.network.summary(source=B) == ["100", "180", "200", "200"]


def test_caller_events_and_negotiated_sdp(net: Net) -> None:
    call = net.alice.invite("sip:bob@10.0.0.2")
    net.run()
    assert call.kinds == ["provisional", "answered"]
    assert call.remote_sdp is not None
    assert call.remote_sdp.media[0].port == 50000
    assert call.remote_sdp.media[0].codecs[0].name.upper() == "PCMA"


def test_ack_uses_invite_cseq_and_dialog_tags(net: Net) -> None:
    call = net.alice.invite("sip:bob@10.0.0.2")
    net.run()
    ack = parse(net.network.log[4].data)
    assert ack.method == "ACK"
    assert ack.cseq.number == call.invite.cseq.number
    assert ack.to_tag == call.dialog.remote_tag
    assert ack.branch != call.invite.branch  # the ACK for a 2xx is its own transaction


def test_counters_after_basic_call(net: Net) -> None:
    call = net.alice.invite("sip:bob@10.0.0.2")
    net.run()
    assert net.alice.dialogs == 1 and net.bob.dialogs == 1
    net.alice.bye(call)
    net.run()
    assert net.alice.dialogs == 0 and net.bob.dialogs == 0
    assert net.alice.stats.calls_attempted == 1
    assert net.alice.stats.calls_answered == 1
    assert net.alice.stats.requests_sent == {"INVITE": 1, "ACK": 1, "BYE": 1}
    assert net.bob.stats.responses_sent == {100: 1, 180: 1, 200: 2}


def test_cancel_before_answer() -> None:
    net = Net(bob={"policy": AnswerPolicy(ring_s=10)})
    call = net.alice.invite("sip:bob@10.0.0.2")
    net.run()
    assert net.alice.cancel(call)
    net.run()
    assert net.seq() == ["INVITE", "100", "180", "CANCEL", "200", "487", "ACK"]
    assert call.state is CallState.FAILED and call.status == 487
    assert net.incoming[0].kinds == ["incoming", "failed"]
    assert net.alice.stats.calls_failed == {487: 1}


def test_cancel_waits_for_a_provisional() -> None:
    net = Net(bob={"policy": AnswerPolicy(ring_s=10, trying=False, ring=False)})
    call = net.alice.invite("sip:bob@10.0.0.2")
    net.run()
    net.alice.cancel(call)
    net.run()
    assert "CANCEL" not in net.seq()  # no provisional yet: no CANCEL (§9.1)
    assert call.cancel_requested


def test_busy_486_acked_by_transaction() -> None:
    net = Net(bob={"policy": AnswerPolicy(status=486, ring=False)})
    call = net.alice.invite("sip:bob@10.0.0.2")
    net.run()
    assert net.seq() == ["INVITE", "100", "486", "ACK"]
    ack = parse(net.network.log[3].data)
    assert ack.branch == call.invite.branch  # built in the INVITE transaction (§17.1.1.3)
    assert call.state is CallState.FAILED and call.status == 486
    assert net.alice.dialogs == 0 and net.bob.dialogs == 0
    assert net.bob.stats.calls_rejected == {486: 1}


def test_200_retransmitted_until_ack_arrives() -> None:
    lost = {"count": 0}

    def drop_first_two_acks(data: bytes, source: Address, dest: Address) -> bool:
        if data.startswith(b"ACK") and lost["count"] < 2:
            lost["count"] += 1
            return True
        return False

    net = Net(drop=drop_first_two_acks)
    net.alice.invite("sip:bob@10.0.0.2")
    net.run(10)
    assert net.seq() == ["INVITE", "100", "180", "200", "ACK", "200", "ACK", "200", "ACK"]
    assert net.bob.stats.ok_retransmissions == 2
    assert net.alice.stats.ack_retransmissions == 2
    assert net.incoming[0].ok_response is None  # stopped


def test_200_retransmission_intervals_double() -> None:
    net = Net(drop=lambda data, s, d: data.startswith(b"ACK"))
    net.alice.invite("sip:bob@10.0.0.2")
    net.run(3.9)
    times = [round(e.time, 2) for e in net.network.log if summarize(e.data) == "200"]
    assert times == [0.01, 0.51, 1.51, 3.51]


def test_no_ack_ends_call_with_bye_after_64_t1() -> None:
    net = Net(drop=lambda data, s, d: data.startswith(b"ACK"))
    net.alice.invite("sip:bob@10.0.0.2")
    net.run(40)
    uas = net.incoming[0]
    assert uas.state is CallState.ENDED and uas.events[-1].detail == "no ACK"
    bye = [e for e in net.network.log if e.data.startswith(b"BYE")]
    assert len(bye) == 1 and bye[0].source == B and bye[0].time == pytest.approx(32.01)
    assert net.bob.stats.ack_timeouts == 1


def test_bye_from_callee(net: Net) -> None:
    call = net.alice.invite("sip:bob@10.0.0.2")
    net.run()
    net.bob.bye(net.incoming[0])
    net.run()
    assert net.seq()[-2:] == ["BYE", "200"]
    assert call.state is CallState.ENDED and call.events[-1].detail == "remote BYE"


def test_uas_copies_record_route_into_2xx(net: Net) -> None:
    call = net.alice.invite("sip:bob@10.0.0.2", headers=[("Record-Route", "<sip:p1.example;lr>")])
    net.run()
    ok = parse(net.network.log[3].data)
    assert ok.status == 200 and ok.headers.get_all("Record-Route") == ["<sip:p1.example;lr>"]
    assert call.dialog.route_set == ["<sip:p1.example;lr>"]


def test_early_media_183_carries_sdp() -> None:
    net = Net(bob={"policy": AnswerPolicy(early_media=True, ring_s=2)})
    call = net.alice.invite("sip:bob@10.0.0.2")
    net.run()
    assert net.seq() == ["INVITE", "100", "183"]
    assert call.events[0].status == 183 and call.events[0].sdp is not None
    net.run(2)
    assert call.state is CallState.CONFIRMED
