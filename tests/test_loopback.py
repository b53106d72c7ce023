"""The in-memory loopback network and the bytes-to-transaction-layer helper."""

from __future__ import annotations

from pathlib import Path

import pytest

from sizing.sip import Request
from sizing.sip.interfaces import Address, ManualClock, TransportError
from sizing.sip.loopback import LoopbackNetwork, ReceiveStats, attach_layer, summarize
from sizing.sip.transaction import TransactionLayer

DATA = Path(__file__).parent / "data" / "rfc4475"
A = Address("UDP", "10.0.0.1", 5060)
B = Address("UDP", "10.0.0.2", 5060)


class Recorder:
    """A transaction user that records what reaches it."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.responses: list[object] = []

    def request_received(self, transaction, request) -> None:
        self.requests.append(request)

    def response_received(self, transaction, response) -> None:
        self.responses.append(response)

    def transaction_timeout(self, transaction) -> None:
        pass

    def transport_error(self, transaction, error) -> None:
        pass

    def transaction_terminated(self, transaction) -> None:
        pass


def options(branch: str = "z9hG4bKabc") -> Request:
    return Request(
        "OPTIONS",
        "sip:b@10.0.0.2",
        [
            ("Via", f"SIP/2.0/UDP 10.0.0.1:5060;branch={branch}"),
            ("Max-Forwards", "70"),
            ("From", "<sip:a@10.0.0.1>;tag=1"),
            ("To", "<sip:b@10.0.0.2>"),
            ("Call-ID", "c1@10.0.0.1"),
            ("CSeq", "1 OPTIONS"),
        ],
    )


def test_delivery_after_latency_with_source() -> None:
    clock = ManualClock()
    net = LoopbackNetwork(clock, latency_s=0.01)
    got: list[tuple[bytes, Address, float]] = []
    ta = net.attach(A, lambda d, s: None)
    net.attach(B, lambda d, s: got.append((d, s, clock.now())))
    ta.send(b"hello", B)
    clock.advance(0.005)
    assert got == []
    clock.advance(0.005)
    assert got == [(b"hello", A, 0.01)]


def test_log_records_time_source_dest_and_bytes() -> None:
    clock = ManualClock(5.0)
    net = LoopbackNetwork(clock)
    ta = net.attach(A, lambda d, s: None)
    net.attach(B, lambda d, s: None)
    ta.send(b"x", B)
    assert net.log == [(5.0, A, B, b"x")]


def test_drop_rule_loses_message_but_logs_it() -> None:
    clock = ManualClock()
    net = LoopbackNetwork(clock, drop=lambda data, src, dst: data == b"lost")
    got: list[bytes] = []
    ta = net.attach(A, lambda d, s: None)
    net.attach(B, lambda d, s: got.append(d))
    ta.send(b"lost", B)
    ta.send(b"kept", B)
    clock.run()
    assert got == [b"kept"]
    assert [e.data for e in net.dropped] == [b"lost"]
    assert len(net.log) == 2


def test_unknown_destination_raises_when_reliable() -> None:
    net = LoopbackNetwork(ManualClock())
    ta = net.attach(Address("TCP", "10.0.0.1", 5060), lambda d, s: None)
    assert ta.reliable
    with pytest.raises(TransportError, match="no element listens"):
        ta.send(b"x", Address("TCP", "10.0.0.9", 5060))


def test_unknown_destination_is_counted_over_udp() -> None:
    net = LoopbackNetwork(ManualClock())
    ta = net.attach(A, lambda d, s: None)
    assert not ta.reliable
    ta.send(b"x", Address("UDP", "10.0.0.9", 5060))
    assert net.unroutable == 1


def test_reliable_flag_can_be_overridden() -> None:
    net = LoopbackNetwork(ManualClock())
    assert net.attach(A, lambda d, s: None, reliable=True).reliable


def test_attach_twice_is_refused() -> None:
    net = LoopbackNetwork(ManualClock())
    net.attach(A, lambda d, s: None)
    with pytest.raises(ValueError, match="already attached"):
        net.attach(A, lambda d, s: None)


def test_negative_latency_is_refused() -> None:
    with pytest.raises(ValueError, match="latency_s"):
        LoopbackNetwork(ManualClock(), latency_s=-1)


def test_summarize_gives_method_or_status() -> None:
    assert summarize(b"INVITE sip:x SIP/2.0\r\n\r\n") == "INVITE"
    assert summarize(b"SIP/2.0 180 Ringing\r\n\r\n") == "180"


def test_layer_receives_parsed_request() -> None:
    clock = ManualClock()
    net = LoopbackNetwork(clock)
    ta = net.attach(A, lambda d, s: None)
    user = Recorder()
    attach_layer(net, B, TransactionLayer(clock, user))
    ta.send(options().encode(), B)
    clock.advance(0)
    assert [r.method for r in user.requests] == ["OPTIONS"]


def test_malformed_request_answered_400_statelessly() -> None:
    clock = ManualClock()
    net = LoopbackNetwork(clock)
    replies: list[bytes] = []
    ta = net.attach(A, lambda d, s: replies.append(d))
    user = Recorder()
    stats = ReceiveStats()
    attach_layer(net, B, TransactionLayer(clock, user), stats=stats)
    # scalar02.dat: a CSeq number too large (RFC 4475 §3.1.2.4)
    ta.send((DATA / "scalar02.dat").read_bytes(), B)
    clock.run()
    assert user.requests == []
    assert [summarize(r) for r in replies] == ["400"]
    assert stats.rejected[400] == 1


def test_bad_version_answered_505() -> None:
    clock = ManualClock()
    net = LoopbackNetwork(clock)
    replies: list[bytes] = []
    ta = net.attach(A, lambda d, s: replies.append(d))
    attach_layer(net, B, TransactionLayer(clock, Recorder()))
    ta.send((DATA / "badvers.dat").read_bytes(), B)
    clock.run()
    assert [summarize(r) for r in replies] == ["505"]


def test_request_without_call_id_answered_400() -> None:
    clock = ManualClock()
    net = LoopbackNetwork(clock)
    replies: list[bytes] = []
    ta = net.attach(A, lambda d, s: replies.append(d))
    user = Recorder()
    attach_layer(net, B, TransactionLayer(clock, user))
    request = options()
    request.headers.remove("Call-ID")
    ta.send(request.encode(), B)
    clock.run()
    assert user.requests == []
    assert "Missing Call-ID" in replies[0].decode()


def test_malformed_response_is_dropped_and_counted() -> None:
    clock = ManualClock()
    net = LoopbackNetwork(clock)
    ta = net.attach(A, lambda d, s: None)
    stats = ReceiveStats()
    user = Recorder()
    attach_layer(net, B, TransactionLayer(clock, user), stats=stats)
    ta.send(b"SIP/2.0 200 OK\r\nCSeq: x\r\n\r\n", B)
    clock.run()
    assert user.responses == []
    assert stats.dropped_responses == 1
