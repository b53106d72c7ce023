"""RFC 4475 torture requests delivered raw to a UA: answered with the RFC's status."""

from __future__ import annotations

from pathlib import Path

import pytest

from sizing.sip import parse
from sizing.sip.interfaces import Address, ManualClock, TimerConfig
from sizing.sip.loopback import LoopbackNetwork, summarize
from sizing.sip.ua import UserAgent

DATA = Path(__file__).parent / "data" / "rfc4475"
UA = Address("UDP", "10.0.0.2", 5060)
PEER = Address("UDP", "192.0.2.99", 5060)

# section: file -> the status the UA answers with
STATUS = {
    "insuf.dat": 400,  # §3.3.1 missing Call-ID, From, To (answered before any transaction)
    "unkscm.dat": 416,  # §3.3.2 unknown Request-URI scheme
    "novelsc.dat": 416,  # §3.3.3 unknown scheme with a SIP-looking value
    "unksm2.dat": 400,  # §3.3.4 REGISTER To with a non-SIP scheme
    "bext01.dat": 420,  # §3.3.5 unknown Require extensions
    "invut.dat": 415,  # §3.3.6 unknown body type
    "sdp01.dat": 406,  # §3.3.15 Accept without application/sdp
    "badbranch.dat": 400,  # §3.2.1 branch with the bare cookie
    "scalar02.dat": 400,  # §3.1.2.4 CSeq number too large (parse error)
    "badvers.dat": 505,  # §3.1.2.16 SIP/7.0
    "zeromf.dat": 200,  # §3.3.11 Max-Forwards 0: a UAS processes it
}


def deliver(name: str) -> list[str]:
    clock = ManualClock()
    network = LoopbackNetwork(clock)
    ua = UserAgent(clock, UA, user="user", config=TimerConfig(trying_delay=None))
    ua.connect(network)
    peer = network.attach(PEER, lambda data, source: None)
    peer.send((DATA / name).read_bytes(), UA)
    clock.advance(0.1)
    return [summarize(e.data) for e in network.log if e.source == UA]


@pytest.mark.parametrize(("name", "status"), sorted(STATUS.items()))
def test_torture_request_gets_status(name: str, status: int) -> None:
    assert deliver(name) == [str(status)]


def test_bext01_420_lists_unsupported_extensions() -> None:
    clock = ManualClock()
    network = LoopbackNetwork(clock)
    ua = UserAgent(clock, UA, config=TimerConfig(trying_delay=None))
    ua.connect(network)
    network.attach(PEER, lambda data, source: None).send((DATA / "bext01.dat").read_bytes(), UA)
    clock.advance(0.1)
    response = parse(network.log[-1].data)
    assert "nothingSupportsThis" in response.headers.get("Unsupported")


def test_rfc2543_invite_is_answered() -> None:
    # §3.3.15 (inv2543.dat): no branch, no Max-Forwards; a UA still takes the call
    assert deliver("inv2543.dat")[:3] == ["100", "180", "200"]
