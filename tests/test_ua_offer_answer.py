"""Offer/answer at the UA core: every offer in an INVITE is answered in the 2xx or refused
with 488 (RFC 3264 §5, §6; RFC 3261 §13.3.1); SDES keys (RFC 4568) come from the UA."""

from __future__ import annotations

import base64

from sizing.sip import parse
from sizing.sip.interfaces import Address, ManualClock, TimerConfig
from sizing.sip.loopback import LoopbackNetwork
from sizing.sip.sdp import Capabilities, SessionDescription
from sizing.sip.ua import CallState, UserAgent

A = Address("UDP", "10.0.0.1", 5060)
B = Address("UDP", "10.0.0.2", 5060)
KEY = base64.b64encode(bytes(range(30))).decode()
SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
SERVER = Capabilities(("PCMU", "PCMA"), srtp_suites=SUITES)


def offer(proto: str = "RTP/AVP", *extra: str, formats: str = "0 8 101") -> SessionDescription:
    """An offer shaped like a softphone's (baresip): G.711 both laws and RFC 4733 events."""
    lines = [
        "v=0", "o=- 1 2 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0",
        f"m=audio 7000 {proto} {formats}",
        "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=ptime:30", "a=sendrecv",
        *extra,
    ]
    return SessionDescription.parse(("\r\n".join(lines) + "\r\n").encode())


class Net:
    def __init__(self, bob_caps: Capabilities | None = SERVER, **bob: object) -> None:
        self.clock = ManualClock()
        self.network = LoopbackNetwork(self.clock, latency_s=0.01)
        config = TimerConfig(trying_delay=None)
        self.alice = UserAgent(self.clock, A, user="alice", config=config, seed=1,
                               capabilities=Capabilities(("PCMU",)))
        self.bob = UserAgent(self.clock, B, user="bob", config=config, seed=2,
                             capabilities=bob_caps, media_port=50000, **bob)  # type: ignore[arg-type]
        self.alice.connect(self.network)
        self.bob.connect(self.network)

    def call(self, sdp: SessionDescription | bytes):
        call = self.alice.invite("sip:bob@10.0.0.2", sdp=sdp)
        self.clock.advance(1.0)
        return call

    def sent_by_bob(self, status: int):
        return [m for m in (parse(e.data) for e in self.network.log if e.source == B)
                if getattr(m, "status", None) == status]


def test_plain_offer_is_answered_in_the_200() -> None:
    net = Net()
    call = net.call(offer())
    (ok,) = net.sent_by_bob(200)
    assert int(ok.headers.get("Content-Length")) == len(ok.body) > 0
    answer = SessionDescription.parse(ok.body)
    (m,) = answer.media
    assert (m.proto, m.formats, m.ptime, m.port) == ("RTP/AVP", ["0", "8", "101"], 30, 50000)
    assert m.cryptos == []
    assert call.state is CallState.CONFIRMED and call.remote_sdp == answer


def test_srtp_offer_gets_one_crypto_of_the_preferred_suite_with_a_fresh_key() -> None:
    net = Net()
    net.call(offer("RTP/SAVP", f"a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:{KEY}",
                   f"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"))
    (ok,) = net.sent_by_bob(200)
    (m,) = SessionDescription.parse(ok.body).media
    (crypto,) = m.cryptos
    assert (m.proto, crypto.tag, crypto.suite) == ("RTP/SAVP", 2, "AES_CM_128_HMAC_SHA1_80")
    assert crypto.key_params[0].key_salt != KEY


def test_srtp_keys_come_from_the_key_source() -> None:
    net = Net(key_source=lambda n: bytes([9]) * n)
    net.call(offer("RTP/SAVP", f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"))
    (ok,) = net.sent_by_bob(200)
    (crypto,) = SessionDescription.parse(ok.body).media[0].cryptos
    assert crypto.key_params[0].key_bytes == bytes([9]) * 30


def test_srtp_keys_of_a_seeded_ua_are_reproducible() -> None:
    keys = []
    for _ in range(2):
        net = Net()
        net.call(offer("RTP/SAVP", f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"))
        (ok,) = net.sent_by_bob(200)
        keys.append(SessionDescription.parse(ok.body).media[0].cryptos[0].key_params[0].key_salt)
    assert keys[0] == keys[1]


def test_plain_offer_to_a_ua_requiring_srtp_is_refused_with_488() -> None:
    net = Net(Capabilities(("PCMU", "PCMA"), srtp_suites=SUITES, srtp_required=True))
    call = net.call(offer())
    assert call.state is CallState.FAILED and call.status == 488
    assert net.sent_by_bob(200) == [] and net.bob.dialogs == 0
    assert net.bob.stats.calls_rejected[488] == 1


def test_offer_without_a_common_codec_is_refused_with_488() -> None:
    net = Net(Capabilities(("G722",)))
    call = net.call(offer())
    assert (call.state, call.status) == (CallState.FAILED, 488)


def test_srtp_offer_to_a_ua_without_srtp_is_refused_with_488() -> None:
    net = Net(Capabilities(("PCMU",)))
    call = net.call(offer("RTP/SAVP", f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"))
    assert call.status == 488


def test_unanswerable_offer_in_a_2xx_is_acked_then_ended() -> None:
    net = Net(Capabilities(("G722",)))
    call = net.call(b"")  # no offer: bob offers in the 200, alice (PCMU only) cannot answer
    assert call.status == 200 and call.state is CallState.ENDED
    assert net.network.summary()[-3:] == ["ACK", "BYE", "200"]


def test_unacceptable_reoffer_gets_488_and_the_call_stays() -> None:
    net = Net()
    call = net.call(offer())
    net.alice.reinvite(call, sdp=offer(formats="9"))
    net.clock.advance(1.0)
    assert net.sent_by_bob(488) and call.state is CallState.CONFIRMED
