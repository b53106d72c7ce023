"""The engine's Clock on a SimPy environment."""

from __future__ import annotations

import pytest
import simpy

from sizing.sim import SimClock


def test_timers_fire_at_their_simulated_times() -> None:
    env = simpy.Environment()
    clock = SimClock(env)
    fired: list[tuple[str, float]] = []
    clock.call_later(0.5, lambda: fired.append(("a", clock.now())))
    clock.call_later(0.1, lambda: fired.append(("b", clock.now())))
    env.run(until=1)
    assert fired == [("b", 0.1), ("a", 0.5)]


def test_timer_scheduled_from_a_callback_is_relative_to_that_instant() -> None:
    env = simpy.Environment()
    clock = SimClock(env)
    fired: list[float] = []
    clock.call_later(1.0, lambda: clock.call_later(0.25, lambda: fired.append(clock.now())))
    env.run()
    assert fired == [1.25]


def test_cancelled_timer_does_not_fire() -> None:
    env = simpy.Environment()
    clock = SimClock(env)
    fired: list[str] = []
    handle = clock.call_later(0.2, lambda: fired.append("cancelled"))
    clock.call_later(0.3, lambda: fired.append("kept"))
    handle.cancel()
    handle.cancel()  # idempotent
    env.run()
    assert fired == ["kept"]


def test_timers_due_together_run_in_scheduling_order() -> None:
    env = simpy.Environment()
    clock = SimClock(env)
    fired: list[int] = []
    for i in range(5):
        clock.call_later(1.0, lambda i=i: fired.append(i))
    env.run()
    assert fired == [0, 1, 2, 3, 4]


def test_clock_shares_time_with_simpy_processes() -> None:
    env = simpy.Environment()
    clock = SimClock(env)
    seen: list[float] = []

    def process(env: simpy.Environment):  # type: ignore[no-untyped-def]
        yield env.timeout(2)
        clock.call_later(0.5, lambda: seen.append(env.now))

    env.process(process(env))
    env.run()
    assert seen == [2.5]


def test_negative_delay_is_refused() -> None:
    clock = SimClock(simpy.Environment())
    with pytest.raises(ValueError, match="delay must be >= 0"):
        clock.call_later(-1, lambda: None)
