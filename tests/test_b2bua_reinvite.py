"""The B2BUA's INVITEs in a confirmed dialog: one final response per exchange, and
every 2xx retransmission acknowledged with the exchange's own ACK (RFC 3261 §13.2.2.4)."""

from __future__ import annotations

from collections.abc import Callable

from conftest import TIMERS, loopback_ua

from sizing.sip import parse
from sizing.sip.b2bua import B2BUA, Target
from sizing.sip.interfaces import Address, ManualClock
from sizing.sip.loopback import LoopbackNetwork, summarize
from sizing.sip.message import Request
from sizing.sip.ua import CallState

CALLER = Address("UDP", "10.0.0.1", 5060)
AGENT1 = Address("UDP", "10.0.0.2", 5060)
AGENT2 = Address("UDP", "10.0.0.3", 5060)
SERVER = Address("UDP", "10.0.0.10", 5060)


class LoseFirst:
    """A drop rule losing the first message from ``source`` to ``dest`` that ``matches``."""

    def __init__(self, source: Address, dest: Address, matches: Callable[[Request], bool]) -> None:
        self.source, self.dest, self.matches = source, dest, matches
        self.lost = 0

    def __call__(self, data: bytes, source: Address, dest: Address) -> bool:
        if self.lost or (source, dest) != (self.source, self.dest) or data.startswith(b"SIP/"):
            return False
        request = parse(data)
        if isinstance(request, Request) and self.matches(request):
            self.lost += 1
            return True
        return False


class Centre:
    """A caller bridged through the B2BUA to agent 1; agent 2 answers transfers."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.network = LoopbackNetwork(self.clock, latency_s=0.01)
        self.server = B2BUA(self.clock, SERVER, Target("sip:agent1@10.0.0.2"), timers=TIMERS, seed=9)
        self.server.connect(self.network)
        self.caller = loopback_ua(self.network, CALLER, "caller", 1, media_port=40000)
        self.agent1 = loopback_ua(self.network, AGENT1, "agent1", 2, media_port=41000)
        self.agent2 = loopback_ua(self.network, AGENT2, "agent2", 3, media_port=42000)
        self.incoming: dict[str, list] = {}
        for ua in (self.agent1, self.agent2):
            ua.on_call = self.incoming.setdefault(ua.user, []).append
        self.call = self.caller.invite("sip:sales@10.0.0.10", dest=SERVER)
        self.clock.advance(1.0)
        self.bridged = next(iter(self.server.calls))
        self.mark = len(self.network.log)

    def lose_first(self, source: Address, dest: Address, matches: Callable[[Request], bool]) -> LoseFirst:
        rule = LoseFirst(source, dest, matches)
        self.network.drop = rule
        return rule

    def since(self, source: Address, dest: Address, what: str) -> list[bytes]:
        """The messages ``what`` (a method or status) sent from ``source`` to ``dest``
        since the call was bridged, lost ones included, in order."""
        return [e.data for e in self.network.log[self.mark:]
                if (e.source, e.dest) == (source, dest) and summarize(e.data) == what]


def _is_ack(request: Request) -> bool:
    return request.method == "ACK"


def test_a_lost_ack_to_the_callers_2xx_is_sent_again_unchanged_and_the_transfer_completes_once() -> None:
    centre = Centre()
    lost = centre.lose_first(SERVER, CALLER, _is_ack)
    centre.server.transfer(centre.bridged, "sip:agent2@10.0.0.3")
    centre.clock.advance(3.0)
    assert lost.lost == 1
    oks = centre.since(CALLER, SERVER, "200")
    acks = centre.since(SERVER, CALLER, "ACK")
    assert len(oks) >= 2  # the caller re-sent its 2xx until an ACK came
    assert len(acks) == 2 and acks[0] == acks[1]  # the lost ACK, then the very same ACK again
    assert parse(acks[0]).cseq.number == parse(centre.since(SERVER, CALLER, "INVITE")[0]).cseq.number
    assert len(centre.since(SERVER, AGENT2, "ACK")) == 1  # the answer reached agent 2 once
    assert centre.server.stats.transfers == 1
    assert sum("reconnected" in text for _, text in centre.bridged.events) == 1
    assert centre.call.state is CallState.CONFIRMED
    assert centre.incoming["agent2"][0].state is CallState.CONFIRMED
    assert centre.incoming["agent1"][0].state is CallState.ENDED


def test_a_relayed_reinvites_2xx_retransmission_gets_the_same_ack_and_one_relayed_answer() -> None:
    centre = Centre()
    lost = centre.lose_first(SERVER, AGENT1, _is_ack)
    centre.caller.hold(centre.call)
    centre.clock.advance(3.0)
    assert lost.lost == 1
    acks = centre.since(SERVER, AGENT1, "ACK")
    assert len(acks) == 2 and acks[0] == acks[1]
    assert len(centre.since(AGENT1, SERVER, "200")) >= 2
    assert len(centre.since(SERVER, CALLER, "200")) == 1  # relayed once, however often it came
    assert centre.call.remote_sdp.media[0].direction == "recvonly"


def test_a_2xx_offer_is_not_acknowledged_before_its_answer_is_known() -> None:
    """The re-INVITE without SDP to the new party of a re-connect gets an offer in its
    2xx; the ACK carrying the answer can only go once the caller answered, so a 2xx
    retransmission before then gets nothing (no earlier ACK of the dialog is repeated)."""
    centre = Centre()
    lost = centre.lose_first(SERVER, CALLER, lambda r: r.method == "INVITE")
    centre.server.transfer(centre.bridged, "sip:agent2@10.0.0.3")
    centre.clock.advance(3.0)
    assert lost.lost == 1  # the re-INVITE to the caller goes again after T1
    assert len(centre.since(AGENT2, SERVER, "200")) >= 2  # agent 2 re-sent its offer meanwhile
    acks = centre.since(SERVER, AGENT2, "ACK")
    assert len(acks) == 1 and parse(acks[0]).body  # one ACK, carrying the caller's answer
    answer_time = next(e.time for e in centre.network.log[centre.mark:]
                       if (e.source, e.dest) == (CALLER, SERVER) and summarize(e.data) == "200")
    ack_time = next(e.time for e in centre.network.log[centre.mark:]
                    if (e.source, e.dest) == (SERVER, AGENT2) and summarize(e.data) == "ACK")
    assert ack_time >= answer_time
    assert centre.server.stats.transfers == 1
    assert centre.incoming["agent2"][0].state is CallState.CONFIRMED
