"""The simulated network: engine elements on simulated hosts, routing, determinism."""

from __future__ import annotations

import pandas as pd
import pytest
import simpy

from sizing.models.tls import TlsCost
from sizing.sim import LinkSpec, SimNetwork, TableProfile
from sizing.sip.interfaces import Address, TransportError
from sizing.sip.proxy import Proxy, static_router
from sizing.sip.ua import AnswerPolicy, CallState, UserAgent

A = Address("UDP", "10.0.0.1", 5060)
P = Address("UDP", "10.0.0.2", 5060)
B = Address("UDP", "10.0.0.3", 5060)
COSTS = {"INVITE": 60.0, "ACK": 20.0, "BYE": 35.0, "1xx": 15.0, "2xx": 30.0}
PROXY = TableProfile(COSTS, per_kbyte_us=2.0, tls=TlsCost(0.0, 0.0, 0.0))
FREE = TableProfile({"default": 0.0}, tls=TlsCost(0.0, 0.0, 0.0))


def basic_call_network(seed: int = 1, spec: LinkSpec | None = None):  # type: ignore[no-untyped-def]
    env = simpy.Environment()
    net = SimNetwork(env, seed=seed, default_link=spec or LinkSpec(latency_s=0.01))
    net.add_host("alice", A, profile=FREE)
    net.add_host("proxy", P, cores=2, profile=PROXY)
    net.add_host("bob", B, profile=FREE)
    proxy = Proxy(net.clock, P, static_router(B), seed=seed)
    proxy.transport = net.attach(P, proxy.on_message)
    alice = UserAgent(net.clock, A, user="alice", seed=seed + 1, outbound_proxy=P)
    bob = UserAgent(net.clock, B, user="bob", seed=seed + 2, policy=AnswerPolicy(ring_s=0.5))
    alice.connect(net)
    bob.connect(net)
    return env, net, alice


def record(net: SimNetwork, address: Address) -> tuple[list[bytes], list[bytes]]:
    """Wrap the transport at ``address`` to record what it receives and sends."""
    transport = net.routes[address]
    received: list[bytes] = []
    sent: list[bytes] = []
    deliver, send = transport.on_message, transport.host._send
    transport.on_message = lambda data, source: (received.append(data), deliver(data, source))

    def spy(t, data: bytes, dest: Address) -> None:  # type: ignore[no-untyped-def]
        if t is transport:
            sent.append(data)
        send(t, data, dest)

    transport.host._send = spy  # type: ignore[method-assign]
    return received, sent


def test_record_routed_basic_call_is_14_messages_at_the_proxy_and_their_cpu_cost() -> None:
    env, net, alice = basic_call_network()
    received, sent = record(net, P)
    call = alice.invite("sip:bob@example.com")
    env.run(until=2)
    assert call.state is CallState.CONFIRMED
    alice.bye(call)
    env.run(until=4)
    assert call.state is CallState.ENDED
    kinds = ["INVITE", "100", "180", "200", "ACK", "BYE", "200"]
    short = [d.split(b" ")[0] if not d.startswith(b"SIP/") else d[8:11] for d in received]
    assert sorted(k.decode() for k in short) == sorted(kinds)
    assert len(received) + len(sent) == 14
    label = {b"INVITE": "INVITE", b"ACK": "ACK", b"BYE": "BYE", b"100": "1xx", b"180": "1xx", b"200": "2xx"}
    expected = sum(COSTS[label[k]] + len(d) / 1000 * 2.0 for k, d in zip(short, received, strict=True))
    expected += sum(len(d) / 1000 * 2.0 for d in sent)
    assert net.hosts["proxy"].busy_s == pytest.approx(expected * 1e-6)


def run_calls(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    env, net, alice = basic_call_network(seed, LinkSpec(latency_s=0.01, jitter_s=0.01, loss=0.05))
    for i in range(20):
        net.clock.call_later(i * 0.1, lambda: alice.invite("sip:bob@example.com"))
    env.run(until=30)
    return net.metrics.hosts_frame(), net.metrics.links_frame(), net.metrics.cpu_series()


def test_same_seed_gives_identical_metrics() -> None:
    first, second = run_calls(3), run_calls(3)
    for a, b in zip(first, second, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_different_seed_changes_the_draws() -> None:
    assert not run_calls(3)[1].equals(run_calls(4)[1])


def test_udp_send_to_an_unknown_address_is_counted_and_dropped() -> None:
    env, net, _ = basic_call_network()
    net.routes[A].send(b"OPTIONS sip:x SIP/2.0\r\n\r\n", Address("UDP", "192.0.2.9", 5060))
    env.run()
    assert net.metrics.hosts["alice"].unroutable == 1


def test_reliable_send_to_an_unknown_address_raises_transport_error() -> None:
    env = simpy.Environment()
    net = SimNetwork(env)
    t = Address("TCP", "10.0.0.1", 5060)
    net.add_host("h", t, profile=FREE)
    transport = net.attach(t, lambda d, s: None)
    with pytest.raises(TransportError, match="no host listens at"):
        transport.send(b"x", Address("TCP", "192.0.2.9", 5060))


def test_attach_needs_an_address_some_host_owns() -> None:
    net = SimNetwork(simpy.Environment())
    with pytest.raises(ValueError, match="no host owns"):
        net.attach(A, lambda d, s: None)


def test_a_link_spec_for_a_host_pair_overrides_the_default() -> None:
    env, net, alice = basic_call_network()
    net.link("alice", "proxy", LinkSpec(latency_s=0.2))
    call = alice.invite("sip:bob@example.com")
    env.run(until=3)
    answered = next(e.time for e in call.events if e.kind == "answered")
    # alice<->proxy 0.2 s each way, proxy<->bob 0.01 s, ringing 0.5 s: answer at ~0.92 s
    assert answered == pytest.approx(0.92, abs=0.005)


def test_run_raises_gc_thresholds_only_while_it_runs() -> None:
    import gc

    from sizing.sim.network import GC_THRESHOLDS

    env = simpy.Environment()
    net = SimNetwork(env)
    seen: list[tuple[int, int, int]] = []
    net.clock.call_later(1.0, lambda: seen.append(gc.get_threshold()))
    before = gc.get_threshold()
    net.run(until=2.0)
    assert seen[0][0] >= GC_THRESHOLDS[0] and gc.get_threshold() == before


def test_collector_tuned_keeps_thresholds_already_higher() -> None:
    import gc

    from sizing.sim.network import collector_tuned

    before = gc.get_threshold()
    gc.set_threshold(1_000_000, 10, 10)
    try:
        with collector_tuned((5_000, 5, 5)):
            assert gc.get_threshold() == (1_000_000, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_collector_tuned_freezes_the_heap_for_the_outermost_block_only() -> None:
    import gc

    from sizing.sim.network import collector_tuned

    assert gc.get_freeze_count() == 0
    with collector_tuned():
        frozen = gc.get_freeze_count()
        fresh = [[] for _ in range(10_000)]  # would be frozen too if the inner block froze again
        with collector_tuned():
            inner = gc.get_freeze_count()
        after_inner = gc.get_freeze_count()
        del fresh
    # (frozen objects that are freed leave the count: it can only fall by a few)
    assert frozen > 0 and frozen - 100 < inner <= frozen and 0 < after_inner <= frozen
    assert gc.get_freeze_count() == 0


def test_collector_tuned_leaves_a_callers_own_freeze_in_place() -> None:
    import gc

    from sizing.sim.network import collector_tuned

    gc.freeze()
    try:
        count = gc.get_freeze_count()
        with collector_tuned():
            pass
        # still frozen (an unfreeze would leave 0); frozen objects that are freed leave the count
        assert count - 100 < gc.get_freeze_count() <= count
    finally:
        gc.unfreeze()


def test_finished_call_leaves_no_transaction_or_proxy_context_in_a_reference_cycle() -> None:
    import gc

    env, net, alice = basic_call_network()
    call = alice.invite("sip:bob@example.com")
    env.run(until=2)
    call.bye()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        env.run(until=120)  # past every transaction timer (Timer M/L/K/J: 32 s)
        gc.collect()
        cyclic = {type(o).__name__ for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert cyclic.isdisjoint(
        {"ClientInviteTransaction", "ServerInviteTransaction", "ClientNonInviteTransaction",
         "ServerNonInviteTransaction", "_Context", "_Branch", "Request", "Response"}
    ), cyclic
