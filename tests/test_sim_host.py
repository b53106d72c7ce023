"""Simulated hosts: FIFO cores, costs, background load and overload behaviour."""

from __future__ import annotations

import random
import statistics

import pytest
import simpy

from sizing.models.analytic import mmc_mean_wait
from sizing.models.tls import TlsCost
from sizing.sim import OverloadPolicy, SimNetwork, TableProfile
from sizing.sip.interfaces import Address
from sizing.sip.message import parse
from sizing.sip.ua import AnswerPolicy, CallState, UserAgent

NO_TLS = TlsCost(0.0, 0.0, 0.0)
FREE = TableProfile({"default": 0.0}, tls=NO_TLS)
SRC = Address("UDP", "10.0.0.1", 5060)
DST = Address("UDP", "10.0.0.2", 5060)
PING = b"OPTIONS sip:x SIP/2.0\r\n\r\n"


class ExponentialProfile:
    """Exponentially distributed service time with mean ``mean_us`` (seeded)."""

    per_kbyte_us = 0.0
    static_core_fraction = 0.0
    tls = NO_TLS

    def __init__(self, mean_us: float, seed: int) -> None:
        self.mean_us = mean_us
        self.rng = random.Random(seed)

    def message_cost_us(self, method_or_status: str | int, size_bytes: int, *, tls: bool) -> float:
        return self.rng.expovariate(1 / self.mean_us)


def mmc_run(seed: int, lam: float, mean_us: float, cores: int, duration: float, warmup: float) -> float:
    """Mean queueing delay (s) of one replication: Poisson arrivals into a c-core host."""
    env = simpy.Environment()
    net = SimNetwork(env, seed=seed, warmup_s=warmup)
    net.add_host("src", SRC, profile=FREE)
    net.add_host("srv", DST, cores=cores, profile=ExponentialProfile(mean_us, seed), cache_costs=False)
    tx = net.attach(SRC, lambda d, s: None)
    net.attach(DST, lambda d, s: None)
    rng = random.Random(seed + 1000)

    def arrive() -> None:
        tx.send(PING, DST)
        net.clock.call_later(rng.expovariate(lam), arrive)

    net.clock.call_later(0.0, arrive)
    net.run(until=duration)
    return float(net.metrics.hosts_frame().loc["srv", "wait_mean_ms"]) / 1e3


def test_poisson_arrivals_and_exponential_service_give_the_mmc_mean_wait() -> None:
    lam, mean_us, cores = 1400.0, 1000.0, 2  # rho = 0.7
    runs = [mmc_run(seed, lam, mean_us, cores, duration=12.0, warmup=2.0) for seed in range(8)]
    expected = float(mmc_mean_wait(lam, 1e6 / mean_us, cores))
    mean = statistics.fmean(runs)
    half_width = 5.41 * statistics.stdev(runs) / len(runs) ** 0.5  # t(0.9995, 7 dof): 99.9 % CI
    assert abs(mean - expected) < half_width, (mean, expected, half_width)


def test_handling_waits_for_the_message_cost() -> None:
    env = simpy.Environment()
    net = SimNetwork(env)
    net.add_host("src", SRC, profile=FREE)
    net.add_host("srv", DST, profile=TableProfile({"OPTIONS": 250.0}, tls=NO_TLS))
    tx = net.attach(SRC, lambda d, s: None)
    handled: list[float] = []
    net.attach(DST, lambda d, s: handled.append(env.now))
    tx.send(PING, DST)
    tx.send(PING, DST)  # one core: the second waits for the first
    env.run()
    assert handled == [pytest.approx(250e-6), pytest.approx(500e-6)]


def test_sends_cost_per_kbyte_cpu_on_the_sender() -> None:
    env = simpy.Environment()
    net = SimNetwork(env)
    src = net.add_host("src", SRC, profile=TableProfile({"default": 0.0}, per_kbyte_us=10.0, tls=NO_TLS))
    net.add_host("srv", DST, profile=FREE)
    tx = net.attach(SRC, lambda d, s: None)
    net.attach(DST, lambda d, s: None)
    tx.send(PING, DST)
    env.run()
    assert src.busy_s == pytest.approx(len(PING) / 1000 * 10.0 * 1e-6)


def test_static_background_load_shows_in_utilisation() -> None:
    env = simpy.Environment()
    net = SimNetwork(env)
    net.add_host("idle", SRC, cores=2, profile=TableProfile({"default": 0.0}, static_core_fraction=0.1))
    env.run(until=10)
    cpu = net.metrics.cpu_series()["idle"]
    assert len(cpu) == 10 and cpu.to_numpy() == pytest.approx([0.05] * 10)


def busy_callee(overload: OverloadPolicy, invite_us: float):  # type: ignore[no-untyped-def]
    """Alice on a free host calls Bob, whose one-core host spends ``invite_us`` per INVITE."""
    env = simpy.Environment()
    net = SimNetwork(env)
    net.add_host("alice", SRC, profile=FREE)
    bob_host = net.add_host(
        "bob", DST, profile=TableProfile({"INVITE": invite_us, "default": 0.0}, tls=NO_TLS), overload=overload
    )
    alice = UserAgent(net.clock, SRC, user="alice", seed=1)
    bob = UserAgent(net.clock, DST, user="bob", seed=2, policy=AnswerPolicy())
    alice.connect(net)
    bob.connect(net)
    return env, bob_host, alice


def test_queue_full_drop_makes_the_transaction_layer_retransmit() -> None:
    env, bob_host, alice = busy_callee(OverloadPolicy(queue_limit=0), invite_us=800_000.0)
    calls = [alice.invite("sip:bob@10.0.0.2", dest=DST) for _ in range(2)]
    env.run(until=5)
    assert bob_host.dropped >= 2  # the second INVITE, then its first retransmission (Timer A)
    assert alice.layer.stats.retransmissions_sent >= 2
    assert [c.state for c in calls] == [CallState.CONFIRMED, CallState.CONFIRMED]


def test_reject_mode_answers_new_invites_503_with_retry_after() -> None:
    overload = OverloadPolicy(mode="reject", reject_threshold=1, retry_after_s=7)
    env, bob_host, alice = busy_callee(overload, invite_us=300_000.0)
    seen: list[bytes] = []
    deliver = alice.transport.on_message
    alice.transport.on_message = lambda data, source: (seen.append(data), deliver(data, source))
    calls = [alice.invite("sip:bob@10.0.0.2", dest=DST) for _ in range(3)]
    env.run(until=0.1)  # the first INVITE is still being served, the second waits
    assert bob_host.rejected == 1
    assert calls[2].status == 503 and calls[2].state is CallState.FAILED
    (rejection,) = [parse(d) for d in seen if d.startswith(b"SIP/2.0 503")]
    assert rejection.headers.get("Retry-After") == "7"
    assert bob_host.busy_s == pytest.approx(0.3 * 2 + overload.reject_cost_us * 1e-6)


def test_admission_hook_drops_what_it_refuses() -> None:
    env = simpy.Environment()
    net = SimNetwork(env)
    net.add_host("src", SRC, profile=FREE)
    srv = net.add_host("srv", DST, profile=FREE, overload=OverloadPolicy(admit=lambda host, data, src: False))
    tx = net.attach(SRC, lambda d, s: None)
    got: list[bytes] = []
    net.attach(DST, lambda d, s: got.append(d))
    tx.send(PING, DST)
    env.run()
    assert got == [] and srv.dropped == 1


def test_host_needs_at_least_one_core() -> None:
    net = SimNetwork(simpy.Environment())
    with pytest.raises(ValueError, match="cores must be an integer >= 1"):
        net.add_host("h", SRC, cores=0, profile=FREE)
