"""The engine's Clock on a SimPy environment."""

from __future__ import annotations

import pytest
import simpy

from sizing.sim import SimClock
from sizing.sim.clock import TimerLane


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


def test_a_timer_lane_runs_each_timer_at_its_own_time_in_the_order_armed() -> None:
    env = simpy.Environment()
    clock = SimClock(env)
    lane = TimerLane(clock, 0.5)
    log: list[tuple[str, float]] = []
    first = lane.call_later(lambda: log.append(("first", env.now)))
    cancelled = lane.call_later(lambda: log.append(("cancelled", env.now)))
    env.run(until=0.2)
    again = lane.call_later(lambda: log.append(("again", env.now)))
    cancelled.cancel()

    def rearm() -> None:  # a retransmission re-arms in the same lane from inside it
        log.append(("rearm", env.now))
        lane.call_later(lambda: log.append(("rearmed", env.now)))

    env.run(until=0.3)
    lane.call_later(rearm)
    env.run()
    assert log == [("first", 0.5), ("again", 0.7), ("rearm", 0.8), ("rearmed", 1.3)]
    assert first.cancelled and again.cancelled
    assert not lane.timers and not lane.queued


def test_a_timer_lane_puts_one_entry_on_the_queue_however_many_timers_it_holds() -> None:
    env = simpy.Environment()
    clock = SimClock(env)
    lane = TimerLane(clock, 0.5)
    ran: list[float] = []
    timers = [lane.call_later(lambda: ran.append(env.now)) for _ in range(1000)]
    assert len(env._queue) == 1
    for timer in timers[:-1]:
        timer.cancel()
    env.run()
    assert ran == [0.5]
    with pytest.raises(ValueError, match="> 0"):
        TimerLane(clock, 0.0)
