"""Glare (RFC 3261 §14, RFC 3311 §5): crossed re-INVITEs and UPDATEs on the real engine.

Each side refuses the other's change with 491 and tries again after a random
T: 2.1-4 s for the side that made the Call-ID (the caller), 0-2 s for the
other, so the callee's change lands first and the caller's after it. A second
INVITE before the final answer to the first gets 500 with Retry-After. The
B2BUA's re-connecting re-INVITEs retry the same way instead of failing.
"""

from __future__ import annotations

import pytest
from conftest import TIMERS, loopback_ua

from sizing.sip import parse
from sizing.sip.b2bua import B2BUA, Target, refer_to_replacing
from sizing.sip.interfaces import Address, ManualClock
from sizing.sip.loopback import LoopbackNetwork
from sizing.sip.message import Request, Response
from sizing.sip.ua import AnswerPolicy, CallState, SessionTimerConfig, UserAgent
from sizing.sip.ua.call import ClientRequest

A = Address("UDP", "10.0.0.1", 5060)
B = Address("UDP", "10.0.0.2", 5060)
C = Address("UDP", "10.0.0.3", 5060)
SERVER = Address("UDP", "10.0.0.10", 5060)
LATENCY = 0.01
CALLER_T = (2.1, 4.0)  # RFC 3261 §14.1: the Call-ID's owner
CALLEE_T = (0.0, 2.0)
REFRESHER = SessionTimerConfig(expires=90, refresher="uac", method="INVITE")
"""alice's session timer: she refreshes with a re-INVITE every 45 s."""
REFRESHED = SessionTimerConfig(expires=90, method="INVITE")
"""bob's: he supports the timer and lets the caller refresh."""


class Pair:
    """alice calls bob directly; both on one loopback network with a manual clock."""

    def __init__(
        self, seeds: tuple[int, int] = (1, 2), *, alice: dict | None = None, bob: dict | None = None
    ) -> None:
        self.clock = ManualClock()
        self.network = LoopbackNetwork(self.clock, latency_s=LATENCY)
        self.alice = self._ua(A, "alice", seeds[0], 40000, alice or {})
        self.bob = self._ua(B, "bob", seeds[1], 50000, bob or {})
        self.incoming: list = []
        self.bob.on_call = self.incoming.append

    def _ua(self, address: Address, user: str, seed: int, port: int, extra: dict) -> UserAgent:
        return loopback_ua(self.network, address, user, seed, media_port=port, **extra)

    def call(self):  # type: ignore[no-untyped-def]
        """An answered call: (alice's side, bob's side)."""
        call = self.alice.invite("sip:bob@10.0.0.2")
        self.clock.advance(1.0)
        assert call.state is CallState.CONFIRMED
        return call, self.incoming[0]

    def messages(self, since: float = 0.0) -> list[Sent]:
        return messages(self.network, since)


Sent = tuple[float, Address, Address, Request | Response]


def messages(network: LoopbackNetwork, since: float = 0.0) -> list[Sent]:
    """(time, source, destination, message) of everything sent from ``since`` on."""
    return [(e.time, e.source, e.dest, parse(e.data)) for e in network.log if e.time >= since]


def _is(message: Request | Response, what: str, method: str) -> bool:
    """``message`` is the request ``what`` (a method) or a response ``what`` (a status)
    whose CSeq method is ``method``."""
    if isinstance(message, Request):
        return message.method == what == method
    return (
        str(message.status) == what and message.cseq is not None and message.cseq.method == method
    )


def _times(log: list[Sent], source: Address, dest: Address, what: str, method: str) -> list[float]:
    """When ``what`` (a method, or a status to ``method``) went from ``source`` to ``dest``."""
    return [t for t, src, dst, m in log if (src, dst) == (source, dest) and _is(m, what, method)]


def _finished_at(client: ClientRequest, clock: ManualClock, seen: dict) -> None:
    client.on_response = lambda c, r: seen.setdefault(c, (clock.now(), r.status))


def _waited(log: list[Sent], requester: Address, refuser: Address, method: str) -> float:
    """How long ``requester`` waited between the 491 arriving and its retry going out."""
    refused = _times(log, refuser, requester, "491", method)
    sent = _times(log, requester, refuser, method, method)
    assert len(refused) == 1 and len(sent) == 2
    return sent[1] - (refused[0] + LATENCY)


def _in_10ms_steps(seconds: float) -> bool:
    return abs(seconds * 100 - round(seconds * 100)) < 1e-6


# -- two re-INVITEs crossing --------------------------------------------------------------------


@pytest.mark.parametrize("seeds", [(1, 2), (7, 3), (11, 40), (123, 5)])
def test_crossed_reinvites_get_491_each_and_retry_in_their_ranges(seeds: tuple[int, int]) -> None:
    pair = Pair(seeds)
    alice_call, bob_call = pair.call()
    start = pair.clock.now()
    seen: dict = {}
    alice_hold = pair.alice.hold(alice_call)  # sendonly
    bob_hold = pair.bob.hold(bob_call, direction="inactive")
    _finished_at(alice_hold, pair.clock, seen)
    _finished_at(bob_hold, pair.clock, seen)
    pair.clock.advance(6.0)
    log = pair.messages(start)

    assert pair.alice.stats.responses_sent[491] == pair.bob.stats.responses_sent[491] == 1
    alice_wait = _waited(log, A, B, "INVITE")
    bob_wait = _waited(log, B, A, "INVITE")
    assert CALLER_T[0] <= alice_wait <= CALLER_T[1] and _in_10ms_steps(alice_wait)
    assert CALLEE_T[0] <= bob_wait <= CALLEE_T[1] and _in_10ms_steps(bob_wait)
    # One change wins first (bob's, the shorter wait), then the other succeeds.
    assert seen[bob_hold][1] == seen[alice_hold][1] == 200
    assert seen[bob_hold][0] < seen[alice_hold][0]
    assert (alice_hold.glare_retries, bob_hold.glare_retries) == (1, 1)
    assert [k for k in alice_call.kinds if k in ("glare", "reinvited")] == [
        "glare",
        "reinvited",  # bob's retried hold, served
        "reinvited",  # alice's own retried hold, answered
    ]
    # Both changes took effect, in that order: alice's sendonly offer was the last one.
    assert bob_call.remote_sdp.direction_of(bob_call.remote_sdp.media[0]) == "sendonly"
    assert alice_call.state is bob_call.state is CallState.CONFIRMED


def test_the_retry_is_a_new_transaction_with_the_next_cseq_and_the_same_offer() -> None:
    pair = Pair()
    alice_call, bob_call = pair.call()
    start = pair.clock.now()
    pair.alice.hold(alice_call)
    pair.bob.reinvite(bob_call)
    pair.clock.advance(6.0)
    first, retry = [
        m for _, src, _, m in pair.messages(start) if src == A and _is(m, "INVITE", "INVITE")
    ]
    assert retry.cseq.number > first.cseq.number
    assert retry.branch != first.branch
    assert retry.body == first.body


def test_glare_retry_times_are_the_same_for_the_same_seeds() -> None:
    def retry_times() -> list[float]:
        pair = Pair((5, 6))
        alice_call, bob_call = pair.call()
        pair.alice.reinvite(alice_call)
        pair.bob.reinvite(bob_call)
        pair.clock.advance(6.0)
        return [t for t, _, _, m in pair.messages() if _is(m, "INVITE", "INVITE")]

    assert retry_times() == retry_times()


def test_a_retry_is_not_sent_once_the_call_has_ended_and_the_491_is_final() -> None:
    pair = Pair()
    alice_call, bob_call = pair.call()
    seen: dict = {}
    alice_change = pair.alice.reinvite(alice_call)
    _finished_at(alice_change, pair.clock, seen)
    pair.bob.reinvite(bob_call)
    pair.clock.advance(0.05)  # both 491s are in; alice waits at least 2.1 s
    pair.alice.bye(alice_call)
    pair.clock.advance(6.0)
    assert pair.bob.stats.requests_received["INVITE"] == 2  # the first INVITE and one re-INVITE
    assert seen[alice_change][1] == 491 and alice_change.status == 491


def test_an_abandoned_retry_is_not_sent_and_reports_the_491() -> None:
    pair = Pair()
    alice_call, bob_call = pair.call()
    alice_change = pair.alice.reinvite(alice_call)
    pair.bob.reinvite(bob_call)
    pair.clock.advance(0.05)
    assert alice_change.response is None and alice_change.glare_timer is not None
    assert alice_change.abandon() is True
    assert alice_change.status == 491
    pair.clock.advance(6.0)
    assert pair.bob.stats.requests_received["INVITE"] == 2
    assert alice_change.abandon() is False


# -- UPDATE (RFC 3311 §5.2) ---------------------------------------------------------------------


def test_an_update_offer_crossing_a_reinvite_gets_491_and_both_succeed_after_retry() -> None:
    pair = Pair()
    alice_call, bob_call = pair.call()
    start = pair.clock.now()
    seen: dict = {}
    reinvite = pair.alice.reinvite(alice_call)
    update = pair.bob.update(bob_call, sdp=bob_call.local_sdp)
    _finished_at(reinvite, pair.clock, seen)
    _finished_at(update, pair.clock, seen)
    pair.clock.advance(6.0)
    log = pair.messages(start)
    assert _times(log, A, B, "491", "UPDATE") != []  # alice refused the UPDATE offer
    assert _times(log, B, A, "491", "INVITE") != []  # bob refused the re-INVITE
    assert CALLEE_T[0] <= _waited(log, B, A, "UPDATE") <= CALLEE_T[1]
    assert CALLER_T[0] <= _waited(log, A, B, "INVITE") <= CALLER_T[1]
    assert seen[update][1] == seen[reinvite][1] == 200
    assert seen[update][0] < seen[reinvite][0]


def test_an_update_without_an_offer_does_not_collide_with_a_reinvite() -> None:
    pair = Pair()
    alice_call, bob_call = pair.call()
    reinvite = pair.alice.reinvite(alice_call)
    update = pair.bob.update(bob_call)  # a session refresh: no SDP, no offer
    pair.clock.advance(1.0)
    assert (reinvite.status, update.status) == (200, 200)
    assert pair.alice.stats.responses_sent[491] == pair.bob.stats.responses_sent[491] == 0


# -- a second INVITE before the final response to the first (§14.2) -----------------------------


def test_a_second_invite_before_the_final_response_gets_500_with_retry_after() -> None:
    pair = Pair(bob={"policy": AnswerPolicy(ring_s=3.0)})
    call = pair.alice.invite("sip:bob@10.0.0.2")
    pair.clock.advance(0.5)  # bob rings: the early dialog exists, no final response yet
    assert call.state is CallState.EARLY
    dialog = call.dialog
    # What a UAC that ignores §14.1 would send: a second INVITE in the dialog, next CSeq.
    second = dialog.create_request(
        "INVITE",
        pair.alice._via(),
        cseq=call.invite.cseq.number + 1,
        body=call.local_sdp.encode(),
        content_type="application/sdp",
    )
    probe = ClientRequest(second, pair.alice._next_hop(dialog), call)
    pair.alice._send(probe, pair.alice._ignore)
    pair.clock.advance(0.5)
    assert probe.status == 500
    retry_after = probe.response.headers.get("Retry-After")
    assert retry_after is not None and 0 <= int(retry_after) <= 10
    pair.clock.advance(5.0)  # the first INVITE is still answered and acknowledged
    assert call.state is pair.incoming[0].state is CallState.CONFIRMED
    assert pair.bob.stats.ack_timeouts == 0


def test_the_retry_after_of_500_varies_with_the_seed() -> None:
    values = set()
    for seed in range(12):
        pair = Pair((1, seed), bob={"policy": AnswerPolicy(ring_s=3.0)})
        call = pair.alice.invite("sip:bob@10.0.0.2")
        pair.clock.advance(0.5)
        second = call.dialog.create_request("INVITE", pair.alice._via(), cseq=2)
        probe = ClientRequest(second, pair.alice._next_hop(call.dialog), call)
        pair.alice._send(probe, pair.alice._ignore)
        pair.clock.advance(0.5)
        values.add(int(probe.response.headers.get("Retry-After")))
    assert len(values) > 1 and all(0 <= v <= 10 for v in values)


# -- a session-timer refresh that meets glare (RFC 4028 over §14.1) -----------------------------


def test_a_refresh_that_gets_491_is_retried_and_the_session_does_not_expire() -> None:
    pair = Pair(alice={"session_timer": REFRESHER}, bob={"session_timer": REFRESHED})
    alice_call, bob_call = pair.call()
    answered = next(e.time for e in alice_call.events if e.kind == "answered")
    due = answered + 45.0  # the refresher's first refresh, at half the interval
    pair.clock.call_later(due - pair.clock.now(), lambda: pair.bob.hold(bob_call))
    pair.clock.advance(300.0)

    glare = [e for e in alice_call.events if e.kind == "glare"]
    assert [(e.time, e.detail) for e in glare] == [(pytest.approx(due + 2 * LATENCY), "INVITE")]
    log = pair.messages(due - 0.001)
    refused = _times(log, B, A, "491", "INVITE")[0]
    retried = _times(log, A, B, "INVITE", "INVITE")[1]
    assert CALLER_T[0] <= retried - (refused + LATENCY) <= CALLER_T[1]
    assert pair.alice.stats.session_expiries == pair.bob.stats.session_expiries == 0
    assert alice_call.state is bob_call.state is CallState.CONFIRMED
    assert pair.alice.stats.session_refreshes >= 6  # it kept refreshing after the glare


def test_a_refresh_due_while_our_reinvite_is_in_progress_waits_for_it() -> None:
    pair = Pair(alice={"session_timer": REFRESHER}, bob={"session_timer": REFRESHED})
    alice_call, bob_call = pair.call()
    answered = next(e.time for e in alice_call.events if e.kind == "answered")
    # alice's own hold goes out 5 ms before the refresh is due, so it is still in flight.
    pair.clock.call_later(answered + 44.995 - pair.clock.now(), lambda: pair.alice.hold(alice_call))
    pair.clock.advance(300.0)
    log = pair.messages(answered + 44.0)
    sent = _times(log, A, B, "INVITE", "INVITE")
    hold_answered = _times(log, B, A, "200", "INVITE")[0] + LATENCY
    # Not two INVITEs of ours in progress at once (§14.1): the refresh goes as the hold's
    # 2xx arrives (and is ACKed), not before.
    assert sent[1] == pytest.approx(hold_answered) and sent[1] > sent[0] + LATENCY
    assert pair.bob.stats.responses_sent[491] == 0
    assert pair.alice.stats.session_expiries == pair.bob.stats.session_expiries == 0


# -- the B2BUA's re-connect crossing the caller's refresh --------------------------------------


def _route(request: Request) -> Target:
    """agent1 takes the calls; a call to ``backoffice`` (agent1's consultation) goes to agent2."""
    if request.uri.user == "backoffice":
        return Target("sip:agent2@10.0.0.3")
    return Target("sip:agent1@10.0.0.2")


class Centre:
    """A caller (the refresher, re-INVITE every 45 s), agent1 and agent2 around a B2BUA."""

    def __init__(self, *, b2bua_seed: int = 9, caller_seed: int = 1) -> None:
        self.clock = ManualClock()
        self.network = LoopbackNetwork(self.clock, latency_s=LATENCY)
        self.server = B2BUA(self.clock, SERVER, _route, timers=TIMERS, seed=b2bua_seed)
        self.server.connect(self.network)
        agents = SessionTimerConfig(expires=1800, method="INVITE")
        self.caller = self._ua(A, "caller", caller_seed, REFRESHER)
        self.agent1 = self._ua(B, "agent1", 2, agents)
        self.agent2 = self._ua(C, "agent2", 3, agents, AnswerPolicy(ring_s=1.0))

    def _ua(self, address, user, seed, timer, policy=None) -> UserAgent:  # type: ignore[no-untyped-def]
        return loopback_ua(self.network, address, user, seed, session_timer=timer, policy=policy)

    def call_crossing_a_transfer(self):  # type: ignore[no-untyped-def]
        """A call whose transfer to agent2 re-INVITEs the caller at the very moment the
        caller's first refresh re-INVITE goes out."""
        call = self.caller.invite("sip:sales@10.0.0.10", dest=SERVER)
        self.clock.advance(1.0)
        answered = next(e.time for e in call.events if e.kind == "answered")
        bridged = next(iter(self.server.calls))
        # agent2's 2xx reaches the B2BUA 2 x latency + ring_s after the transfer starts,
        # and the re-INVITE to the caller leaves at once: at the refresh time.
        start = answered + 45.0 - 2 * LATENCY - 1.0
        self.clock.call_later(
            start - self.clock.now(), lambda: self.server.transfer(bridged, "sip:agent2@10.0.0.3")
        )
        return call, bridged, answered + 45.0


def test_a_transfer_whose_reinvite_crosses_the_callers_refresh_completes_after_the_retry() -> None:
    centre = Centre()
    call, bridged, due = centre.call_crossing_a_transfer()
    centre.clock.advance(due + 10.0 - centre.clock.now())
    log = messages(centre.network, due - 0.001)
    # The two re-INVITEs crossed: the caller refused the B2BUA's, and its own was refused too.
    assert _times(log, SERVER, A, "INVITE", "INVITE")[0] == pytest.approx(due)
    assert _times(log, A, SERVER, "INVITE", "INVITE")[0] == pytest.approx(due)
    assert len(_times(log, A, SERVER, "491", "INVITE")) == 1
    assert len(_times(log, SERVER, A, "491", "INVITE")) == 1
    # The B2BUA (not the owner of leg A's Call-ID) went again within 0-2 s and won.
    server_wait = _waited(log, SERVER, A, "INVITE")
    assert CALLEE_T[0] <= server_wait <= CALLEE_T[1] and _in_10ms_steps(server_wait)
    texts = [text for _, text in bridged.events]
    assert any(text.startswith("reconnected to agent") for text in texts)
    assert not any("failed" in text for text in texts)
    assert centre.server.stats.transfers == 1 and centre.server.stats.transfers_failed == 0
    assert centre.server.stats.glare_retries == 1
    # The caller's refresh went again after its own wait, and reached the new agent.
    caller_wait = _waited(log, A, SERVER, "INVITE")
    assert CALLER_T[0] <= caller_wait <= CALLER_T[1]
    assert centre.agent2.stats.requests_received["INVITE"] == 2  # the transfer and the refresh
    centre.clock.advance(200.0)
    assert call.state is CallState.CONFIRMED
    assert bridged.b is not None and bridged.b.role == "agent" and bridged.state == "bridged"
    expiries = [ua.stats.session_expiries for ua in (centre.caller, centre.agent1, centre.agent2)]
    assert expiries == [0, 0, 0]


@pytest.mark.parametrize("seed", [3, 21, 77])
def test_the_b2bua_retry_waits_zero_to_two_seconds_for_any_seed(seed: int) -> None:
    centre = Centre(b2bua_seed=seed, caller_seed=seed + 1)
    _, bridged, due = centre.call_crossing_a_transfer()
    centre.clock.advance(due + 10.0 - centre.clock.now())
    log = messages(centre.network, due - 0.001)
    assert CALLEE_T[0] <= _waited(log, SERVER, A, "INVITE") <= CALLEE_T[1]
    assert bridged.transfers == 1


def test_a_consult_transfer_whose_join_crosses_the_callers_reinvite_completes_after_the_retry() -> (
    None
):
    centre = Centre()
    incoming: list = []
    centre.agent1.on_call = incoming.append
    call = centre.caller.invite("sip:sales@10.0.0.10", dest=SERVER)
    centre.clock.advance(1.0)
    centre.agent1.hold(incoming[0])
    centre.clock.advance(1.0)
    consult = centre.agent1.invite("sip:backoffice@10.0.0.10", dest=SERVER)
    centre.clock.advance(2.0)  # agent2 rings 1 s, then answers
    assert consult.state is CallState.CONFIRMED
    bridged = next(c for c in centre.server.calls if c.request.call_id == call.call_id)
    start = centre.clock.now()
    centre.agent1.refer(incoming[0], refer_to_replacing(centre.agent2.contact, consult.dialog))
    # The join's re-INVITE to the caller leaves 3 x latency later (REFER in, re-INVITE to
    # agent2 out, its 2xx back): the caller's own re-INVITE goes at that very moment.
    change: list[ClientRequest] = []
    centre.clock.call_later(3 * LATENCY, lambda: change.append(centre.caller.reinvite(call)))
    centre.clock.advance(10.0)
    log = messages(centre.network, start)
    crossing = _times(log, SERVER, A, "INVITE", "INVITE")[0]
    assert crossing == pytest.approx(start + 3 * LATENCY)
    assert len(_times(log, A, SERVER, "491", "INVITE")) == 1
    assert CALLEE_T[0] <= _waited(log, SERVER, A, "INVITE") <= CALLEE_T[1]
    assert any(text == "joined caller to the consultation's far end" for _, text in bridged.events)
    assert centre.server.stats.transfers == 1 and centre.server.stats.transfers_failed == 0
    assert bridged.b is not None and bridged.b.confirmed and bridged.b.dest == C  # agent2
    assert change[0].status == 200 and change[0].glare_retries == 1  # the caller's change too
    assert call.state is CallState.CONFIRMED


# -- a change asked for while another INVITE is in progress waits for it (§14.1) ---------------


def _direction(sdp) -> str:  # type: ignore[no-untyped-def]
    return sdp.direction_of(sdp.media[0])


def test_a_reinvite_asked_during_the_peers_reinvite_goes_after_its_ack() -> None:
    pair = Pair()
    alice_call, bob_call = pair.call()
    start = pair.clock.now()
    pair.bob.hold(bob_call, direction="inactive")
    seen: dict = {}
    change: list[ClientRequest] = []

    def ask() -> None:  # bob's re-INVITE is answered, its ACK not yet in
        change.append(pair.alice.hold(alice_call))
        _finished_at(change[0], pair.clock, seen)

    pair.clock.call_later(1.5 * LATENCY, ask)
    pair.clock.advance(1.0)
    log = pair.messages(start)
    ack_in = _times(log, B, A, "ACK", "ACK")[0] + LATENCY
    sent = _times(log, A, B, "INVITE", "INVITE")
    assert sent == [pytest.approx(ack_in)] and ack_in == pytest.approx(start + 3 * LATENCY)
    assert "queued" in alice_call.kinds
    assert pair.alice.stats.responses_sent[491] == pair.bob.stats.responses_sent[491] == 0
    assert seen[change[0]] == (pytest.approx(ack_in + 2 * LATENCY), 200)
    assert change[0].request.cseq.method == "INVITE" and change[0].glare_retries == 0
    # Both changes took effect, bob's first: alice heard inactive, bob then sendonly.
    reinvited = [e for e in alice_call.events if e.kind == "reinvited"]
    assert [_direction(e.sdp) for e in reinvited] == ["inactive", "recvonly"]
    assert _direction(bob_call.remote_sdp) == "sendonly"


def test_a_reinvite_asked_during_our_own_reinvite_goes_when_the_first_is_answered() -> None:
    pair = Pair()
    alice_call, bob_call = pair.call()
    start = pair.clock.now()
    seen: dict = {}
    first = pair.alice.reinvite(alice_call)
    second = pair.alice.hold(alice_call)
    _finished_at(first, pair.clock, seen)
    _finished_at(second, pair.clock, seen)
    assert second.response is None and pair.alice.stats.requests_sent["INVITE"] == 2
    pair.clock.advance(1.0)
    log = pair.messages(start)
    sent = _times(log, A, B, "INVITE", "INVITE")
    answered = start + 2 * LATENCY
    assert sent == [pytest.approx(start), pytest.approx(answered)]
    # The first 2xx's ACK leaves before the second INVITE (§14.1: the first is complete).
    order = [m.method for _, src, _, m in log if src == A and isinstance(m, Request)]
    assert order == ["INVITE", "ACK", "INVITE", "ACK"]
    assert seen[first] == (pytest.approx(answered), 200)
    assert seen[second] == (pytest.approx(answered + 2 * LATENCY), 200)
    assert second.request.cseq.number == first.request.cseq.number + 1  # no CSeq held back
    assert _direction(bob_call.remote_sdp) == "sendonly"
    assert pair.bob.stats.responses_sent[491] == 0


def test_an_update_offer_waits_for_the_answer_to_our_reinvite_offer() -> None:
    pair = Pair()
    alice_call, bob_call = pair.call()
    start = pair.clock.now()
    reinvite = pair.alice.reinvite(alice_call)
    update = pair.alice.update(alice_call, sdp=alice_call.local_sdp)  # RFC 3311 §5.1
    refresh = pair.alice.update(alice_call)  # no offer: it need not wait
    pair.clock.advance(1.0)
    log = pair.messages(start)
    assert _times(log, A, B, "UPDATE", "UPDATE") == [
        pytest.approx(start),  # the offerless one
        pytest.approx(start + 2 * LATENCY),  # the offer, once the re-INVITE's answer came
    ]
    assert (reinvite.status, update.status, refresh.status) == (200, 200, 200)
    assert pair.bob.stats.responses_sent[491] == pair.bob.stats.responses_sent[500] == 0


def test_a_waiting_change_is_dropped_with_481_when_the_call_ends_first() -> None:
    pair = Pair()
    alice_call, bob_call = pair.call()
    start = pair.clock.now()
    pair.bob.hold(bob_call)
    seen: dict = {}
    change: list[ClientRequest] = []

    def ask_then_hang_up() -> None:
        change.append(pair.alice.reinvite(alice_call))
        _finished_at(change[0], pair.clock, seen)
        pair.alice.bye(alice_call)

    pair.clock.call_later(1.5 * LATENCY, ask_then_hang_up)
    pair.clock.advance(2.0)
    assert seen[change[0]] == (pytest.approx(start + 1.5 * LATENCY), 481)
    assert change[0].response.reason == "Call Ended Before It Was Sent"
    assert _times(pair.messages(start), A, B, "INVITE", "INVITE") == []
    assert not alice_call.queued
    assert alice_call.state is bob_call.state is CallState.ENDED


def test_a_change_asked_in_the_early_dialog_is_dropped_when_the_call_fails() -> None:
    pair = Pair(bob={"policy": AnswerPolicy(status=486, ring_s=1.0)})
    call = pair.alice.invite("sip:bob@10.0.0.2")
    pair.clock.advance(0.5)
    assert call.state is CallState.EARLY
    change = pair.alice.reinvite(call)  # the first INVITE is in progress: it waits
    pair.clock.advance(2.0)
    assert call.state is CallState.FAILED and change.status == 481
    assert pair.bob.stats.requests_received["INVITE"] == 1


def test_a_change_asked_before_the_answer_goes_after_the_ack() -> None:
    pair = Pair(bob={"policy": AnswerPolicy(ring_s=1.0)})
    call = pair.alice.invite("sip:bob@10.0.0.2")
    pair.clock.advance(0.5)
    change = pair.alice.hold(call)
    pair.clock.advance(2.0)
    log = pair.messages()
    acked = _times(log, A, B, "ACK", "ACK")[0]
    assert _times(log, A, B, "INVITE", "INVITE")[1] == pytest.approx(acked)
    assert change.status == 200 and _direction(pair.incoming[0].remote_sdp) == "sendonly"


def test_an_abandoned_waiting_change_is_not_sent_and_the_next_one_goes() -> None:
    pair = Pair()
    alice_call, bob_call = pair.call()
    start = pair.clock.now()
    pair.alice.reinvite(alice_call)
    given_up = pair.alice.reinvite(alice_call)
    kept = pair.alice.hold(alice_call)
    assert given_up.abandon() is True and given_up.status == 487
    assert given_up.abandon() is False
    pair.clock.advance(1.0)
    assert len(_times(pair.messages(start), A, B, "INVITE", "INVITE")) == 2
    assert kept.status == 200 and _direction(bob_call.remote_sdp) == "sendonly"


def test_a_change_asked_during_a_glare_wait_goes_after_the_retried_one() -> None:
    pair = Pair()
    alice_call, bob_call = pair.call()
    start = pair.clock.now()
    retried = pair.alice.reinvite(alice_call)
    pair.bob.reinvite(bob_call)
    pair.clock.advance(0.05)  # both got 491; alice waits 2.1-4 s, bob 0-2 s
    later = pair.alice.hold(alice_call)
    pair.clock.advance(10.0)
    log = pair.messages(start)
    sent = _times(log, A, B, "INVITE", "INVITE")
    assert len(sent) == 3 and (retried.status, later.status) == (200, 200)
    assert retried.glare_retries == 1 and later.glare_retries == 0
    assert retried.request.cseq.number < later.request.cseq.number  # the order kept
    assert _direction(bob_call.remote_sdp) == "sendonly"  # the hold, last, took effect


def test_the_b2bua_answers_491_at_once_to_a_refresh_crossing_its_own_reinvite() -> None:
    centre = Centre()
    call, bridged, due = centre.call_crossing_a_transfer()
    centre.clock.advance(due + 10.0 - centre.clock.now())
    log = messages(centre.network, due - 0.001)
    # The caller's refresh reaches the B2BUA while the B2BUA's re-INVITE to the caller is
    # in flight: 491 as it arrives (§14.2), not held until the B2BUA's own retry.
    assert _times(log, A, SERVER, "INVITE", "INVITE")[0] == pytest.approx(due)
    assert _times(log, SERVER, A, "491", "INVITE") == [pytest.approx(due + LATENCY)]
    assert not bridged.held_refreshes
    # The re-connect completes with the B2BUA's retry; the caller's retried refresh then
    # goes through to the new agent.
    server_sent = _times(log, SERVER, A, "INVITE", "INVITE")
    reconnected = _times(log, A, SERVER, "200", "INVITE")[0] + LATENCY
    caller_sent = _times(log, A, SERVER, "INVITE", "INVITE")
    assert len(server_sent) == 2 and len(caller_sent) == 2
    assert reconnected == pytest.approx(server_sent[1] + 2 * LATENCY)
    assert caller_sent[1] > reconnected
    assert _times(log, SERVER, C, "INVITE", "INVITE")[-1] == pytest.approx(caller_sent[1] + LATENCY)
    assert _times(log, SERVER, A, "200", "INVITE")[-1] > caller_sent[1]
    assert bridged.b is not None and bridged.b.dest == C and bridged.state == "bridged"
    assert centre.server.stats.transfers == 1 and centre.server.stats.transfers_failed == 0
    assert call.state is CallState.CONFIRMED
