"""The ACD: queueing rules on small hand-made cases, then against Erlang C and A.

The theory checks run independent seeded replications (Poisson arrivals and
exponential holding times from sizing.sim.workload, time in units of the mean
holding time so a replication of 2,500 holding times is about 20,000 calls),
and accept an estimate within 4 standard errors of the theoretical value,
the standard error taken from the spread of the replications (a false alarm
of about 1e-3 per check with 8 replications, t distribution with 7 degrees
of freedom). Each check also bounds that standard error, so a run too short
or too noisy to tell cannot pass.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

from sizing.models import analytic
from sizing.scenario.model import Scenario
from sizing.sim.acd import Acd, AcdStats
from sizing.sim.clock import SimClock
from sizing.sim.workload import HoldingTime, Patience, PoissonArrivals, streams


class FixedPatience(Patience):
    """Patience values given in order (inf once used up)."""

    def __init__(self, values: list[float]) -> None:
        super().__init__(None)
        self.values = list(values)

    def sample(self) -> float:
        return self.values.pop(0) if self.values else math.inf


def make_acd(agents: int = 1, wrap_up_s: float = 0.0, patience: Patience | None = None,
             ) -> tuple[simpy.Environment, SimClock, Acd]:
    env = simpy.Environment()
    clock = SimClock(env)
    return env, clock, Acd(clock, agents, wrap_up_s, patience=patience)


def run(seed: int, *, agents: int, load: float, until: float, warmup: float = 50.0,
        wrap_up_s: float = 0.0, patience_mean: float | None = None,
        answer_within: float = 0.2) -> AcdStats:
    """One replication: Poisson arrivals at ``load`` erlangs, exponential holding of mean 1."""
    s = streams(seed)
    env = simpy.Environment()
    clock = SimClock(env)
    patience = Patience(patience_mean, s["patience"]) if patience_mean else None
    acd = Acd(clock, agents, wrap_up_s, patience=patience, warmup_s=warmup)
    arrivals = PoissonArrivals(load, s["arrivals"])
    holding = HoldingTime("exponential", s["holding"], mean_s=1.0)

    def assigned(agent: int) -> None:
        clock.call_later(holding.sample(), lambda: acd.release(agent))

    def arrive() -> None:
        acd.offer(None, assigned, lambda: None)
        clock.call_at(arrivals.next_arrival(clock.now()), arrive)

    clock.call_at(arrivals.next_arrival(0.0), arrive)
    env.run(until=until)
    return acd.stats(answer_within)


def estimate(results: list[AcdStats], field: str) -> tuple[float, float]:
    """Mean over replications and its standard error."""
    values = np.array([getattr(r, field) for r in results])
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


def test_matches_erlang_c_without_abandonment():
    # 10 agents at 80 % load; answer within 0.2 mean holding times (20 s of a 100 s call)
    results = [run(seed, agents=10, load=8.0, until=2_500.0) for seed in range(8)]
    theory = {
        "p_wait": float(analytic.erlang_c(8.0, 10)),
        "asa_s": float(analytic.average_speed_of_answer(8.0, 10, 1.0)),
        "service_level": float(analytic.service_level(8.0, 10, 0.2, 1.0)),
        "occupancy": 0.8,
    }
    max_se = {"p_wait": 0.02, "asa_s": 0.03, "service_level": 0.02, "occupancy": 0.01}
    for field, expected in theory.items():
        mean, se = estimate(results, field)
        assert se < max_se[field], (field, se)
        assert abs(mean - expected) < 4 * se, (field, mean, expected, se)
    assert all(r.abandoned == 0 for r in results)


def test_matches_erlang_a_with_exponential_patience():
    # 10 agents offered 100 % load; mean patience 2 holding times
    results = [run(seed, agents=10, load=10.0, until=2_000.0, patience_mean=2.0)
               for seed in range(8)]
    theory = analytic.erlang_a(10.0, 1.0, 2.0, 10, 0.2)
    for field, expected, max_se in (
            ("p_wait", theory.p_wait, 0.02),
            ("p_abandon", theory.p_abandon, 0.01),
            ("service_level", theory.service_level, 0.02),
            ("mean_wait_s", theory.mean_wait, 0.02),
            ("occupancy", theory.occupancy, 0.01)):
        mean, se = estimate(results, field)
        assert se < max_se, (field, se)
        assert abs(mean - expected) < 4 * se, (field, mean, expected, se)


def test_wrap_up_adds_to_handle_time():
    # 6 erlangs of talk plus 0.5 holding times of wrap-up per call: occupancy is
    # λ (hold + wrap-up) / agents = 6 x 1.5 / 10 = 0.9, whatever the distributions
    # (Little's law); without wrap-up it is 0.6.
    with_wrap = run(3, agents=10, load=6.0, until=1_500.0, wrap_up_s=0.5)
    without = run(3, agents=10, load=6.0, until=1_500.0)
    assert with_wrap.occupancy == pytest.approx(0.9, abs=0.02)
    assert without.occupancy == pytest.approx(0.6, abs=0.02)
    assert with_wrap.p_wait > 3 * without.p_wait


def test_agent_in_wrap_up_takes_no_call():
    env, clock, acd = make_acd(agents=1, wrap_up_s=10.0)
    answered: list[tuple[str, float]] = []
    acd.offer("a", lambda agent: answered.append(("a", clock.now())), lambda: None)
    env.run(until=1.0)
    acd.release(0)  # call a ends at t=1; wrap-up until t=11
    clock.call_at(2.0, lambda: acd.offer("b", lambda agent: answered.append(("b", clock.now())),
                                         lambda: None))
    env.run(until=30.0)
    assert answered == [("a", 0.0), ("b", 11.0)]


def test_longest_waiting_call_gets_the_free_agent():
    env, clock, acd = make_acd(agents=1)
    order: list[str] = []
    for key in "abc":
        acd.offer(key, lambda agent, key=key: order.append(key), lambda: None)
    env.run(until=1.0)
    for t in (2.0, 3.0):
        clock.call_at(t, lambda: acd.release(0))
    env.run(until=5.0)
    assert order == ["a", "b", "c"]


def test_longest_idle_agent_takes_the_next_call():
    env, clock, acd = make_acd(agents=3)
    got: list[int] = []
    for key in "abc":
        acd.offer(key, got.append, lambda: None)
    env.run(until=1.0)
    acd.release(2)
    env.run(until=2.0)
    acd.release(0)
    env.run(until=3.0)
    acd.offer("d", got.append, lambda: None)
    env.run(until=4.0)
    assert got == [0, 1, 2, 2]


def test_on_assigned_runs_after_offer_returns_at_the_same_time():
    env, clock, acd = make_acd(agents=1)
    seen: list[tuple[str, float]] = []
    ticket = acd.offer("a", lambda agent: seen.append((ticket.state, clock.now())), lambda: None)
    assert seen == [] and ticket.agent == 0
    env.run(until=1.0)
    assert seen == [("answered", 0.0)]


def test_patience_expiry_abandons_and_leaves_the_queue():
    env, clock, acd = make_acd(agents=1, patience=FixedPatience([math.inf, 5.0, math.inf]))
    events: list[tuple[str, float]] = []
    acd.offer("a", lambda agent: None, lambda: None)
    for key in "bc":
        acd.offer(key, lambda agent, key=key: events.append((f"{key} answered", clock.now())),
                  lambda key=key: events.append((f"{key} abandoned", clock.now())))
    clock.call_at(8.0, lambda: acd.release(0))
    env.run(until=20.0)
    assert events == [("b abandoned", 5.0), ("c answered", 8.0)]
    stats = acd.stats(answer_within_s=5.0)
    assert (stats.offered, stats.answered, stats.abandoned) == (3, 2, 1)
    assert stats.max_queue_len == 2


def test_cancel_removes_the_call_from_the_queue():
    env, clock, acd = make_acd(agents=1)
    events: list[str] = []
    acd.offer("a", lambda agent: None, lambda: None)
    b = acd.offer("b", lambda agent: events.append("b answered"),
                  lambda: events.append("b abandoned"))
    acd.offer("c", lambda agent: events.append("c answered"), lambda: None)
    env.run(until=1.0)
    assert b.cancel() is True
    assert b.cancel() is False
    acd.release(0)
    env.run(until=2.0)
    assert events == ["c answered"]
    assert (acd.stats().cancelled, acd.queue_len) == (1, 0)


def test_cancel_in_the_assigning_instant_returns_the_agent_without_wrap_up():
    env, clock, acd = make_acd(agents=1, wrap_up_s=30.0)
    events: list[str] = []
    a = acd.offer("a", lambda agent: events.append("a answered"), lambda: None)
    assert a.cancel() is True
    acd.offer("b", lambda agent: events.append(f"b answered at {clock.now():g}"), lambda: None)
    env.run(until=1.0)
    assert events == ["b answered at 0"]


def test_cancel_after_answer_is_refused():
    env, clock, acd = make_acd(agents=1)
    a = acd.offer("a", lambda agent: None, lambda: None)
    env.run(until=1.0)
    assert a.cancel() is False and a.state == "answered"


def test_waits_give_service_level_asa_and_percentiles():
    env, clock, acd = make_acd(agents=1)
    acd.offer("first", lambda agent: None, lambda: None)
    for i in range(10):  # queued at t=0; answered at t=1..10, the agent released each second
        acd.offer(i, lambda agent: None, lambda: None)
    for t in range(1, 11):
        clock.call_at(float(t), lambda: acd.release(0))
    env.run(until=20.0)
    stats = acd.stats(answer_within_s=4.5)
    assert stats.answered == 11
    assert stats.asa_s == pytest.approx(55 / 11)
    assert stats.service_level == pytest.approx(5 / 11, abs=0.01)  # waits 0, 1, 2, 3, 4
    assert stats.wait_p50_s == pytest.approx(5.0, rel=0.1)  # histogram buckets are 9 % wide
    assert stats.wait_max_s == 10.0
    assert stats.mean_queue_len == pytest.approx(55 / 20)  # 55 call-seconds queued over 20 s


def test_same_seed_same_figures():
    first = run(5, agents=5, load=4.0, until=300.0, warmup=10.0, patience_mean=1.0)
    again = run(5, agents=5, load=4.0, until=300.0, warmup=10.0, patience_mean=1.0)
    other = run(6, agents=5, load=4.0, until=300.0, warmup=10.0, patience_mean=1.0)
    assert first == again
    assert first != other


def test_warmup_calls_are_not_counted():
    env = simpy.Environment()
    clock = SimClock(env)
    acd = Acd(clock, 1, warmup_s=10.0)
    acd.offer("early", lambda agent: None, lambda: None)
    clock.call_at(12.0, lambda: acd.offer("late", lambda agent: None, lambda: None))
    clock.call_at(14.0, lambda: acd.release(0))
    env.run(until=20.0)
    stats = acd.stats()
    assert (stats.offered, stats.answered, stats.p_wait, stats.asa_s) == (1, 1, 1.0, 2.0)
    assert stats.occupancy == pytest.approx(1.0)  # busy from 10 to 20 s


def test_bad_arguments_are_named():
    env, clock, acd = make_acd(agents=2)
    with pytest.raises(ValueError, match=r"release\(1\): agent is not on a call"):
        acd.release(1)
    with pytest.raises(ValueError, match="agents: must be an integer >= 1, got 0"):
        Acd(clock, 0)
    with pytest.raises(ValueError, match="wrap_up_s: must be a finite number >= 0"):
        Acd(clock, 1, -1.0)


def test_from_scenario_takes_agents_wrap_up_patience_and_warmup():
    scenario = Scenario.model_validate({
        "warmup_s": 30, "traffic": {"calls_per_second": 1, "holding_time_s": 60},
        "trunk": {"channels": 10},
        "agents": {"count": 7, "wrap_up_s": 15, "patience": {"kind": "exponential",
                                                               "mean_s": 45}}})
    clock = SimClock(simpy.Environment())
    acd = Acd.from_scenario(clock, scenario, streams(1)["patience"])
    assert (acd.agents, acd.wrap_up_s, acd.warmup_s) == (7, 15.0, 30.0)
    assert acd.patience is not None and acd.patience.mean_s == 45.0
    with pytest.raises(ValueError, match="agents.count: is 0"):
        Acd.from_scenario(clock, scenario.model_copy(
            update={"agents": scenario.agents.model_copy(update={"count": 0})}),
            streams(1)["patience"])
