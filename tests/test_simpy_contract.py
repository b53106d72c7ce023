"""SimPy's internals that :mod:`sizing.sim.simpy_fast` relies on, held to the installed release.

A SimPy release that changes its event queue fails here, by name, before any
simulation gives different numbers; ``pyproject.toml`` pins SimPy to the range
these tests pass on (``SIMPY_TESTED``).
"""

from __future__ import annotations

import itertools
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import simpy
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from simpy.events import NORMAL, URGENT

from sizing.sim.simpy_fast import HORIZON_S, SIMPY_TESTED, QueuedEvent, run_until, scheduler

PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"


class _Marker(QueuedEvent):
    __slots__ = ("name", "log")

    def __init__(self, name: str, log: list[tuple[str, float]], env: simpy.Environment) -> None:
        self.name = name
        self.log = log
        self.callbacks = (lambda event: log.append((event.name, env.now)),)


def test_installed_simpy_is_in_the_tested_range() -> None:
    assert version("simpy") in SpecifierSet(SIMPY_TESTED), (
        f"SimPy {version('simpy')} is outside {SIMPY_TESTED}: check sizing/sim/simpy_fast.py against it"
    )


def test_pyproject_pins_simpy_to_the_tested_range() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (simpy_req,) = (Requirement(d) for d in dependencies if Requirement(d).name == "simpy")
    assert simpy_req.specifier == SpecifierSet(SIMPY_TESTED)


def test_the_queue_is_a_heap_of_time_priority_id_event_tuples() -> None:
    env = simpy.Environment(initial_time=2.0)
    event = env.event()
    env.schedule(event, NORMAL, 0.5)
    assert isinstance(env._queue, list)
    (entry,) = env._queue
    assert isinstance(entry, tuple) and len(entry) == 4
    when, priority, eid, queued = entry
    assert (when, priority, queued) == (2.5, NORMAL, event)
    assert isinstance(eid, int)


def test_the_event_id_counter_is_shared_and_increasing() -> None:
    env = simpy.Environment()
    assert isinstance(env._eid, itertools.count)
    env.timeout(1.0)
    first = env._queue[-1][2]
    assert next(env._eid) == first + 1
    env.timeout(1.0)
    assert env._queue[-1][2] == first + 2


def test_step_pops_the_earliest_sets_now_and_runs_the_callbacks_once() -> None:
    env = simpy.Environment()
    log: list[tuple[str, float]] = []
    schedule_at = scheduler(env)
    late, early = _Marker("late", log, env), _Marker("early", log, env)
    schedule_at(0.75, late)  # both within the horizon: straight onto SimPy's queue
    schedule_at(0.25, early)
    env.step()
    assert env.now == 0.25 and log == [("early", 0.25)]
    assert early.callbacks is None  # SimPy marks it processed
    env.run()
    assert log == [("early", 0.25), ("late", 0.75)]


def test_ties_run_in_the_order_scheduled_across_simpy_and_queued_events() -> None:
    env = simpy.Environment()
    log: list[tuple[str, float]] = []
    schedule_at = scheduler(env)
    schedule_at(1.0, _Marker("a", log, env))
    env.timeout(1.0).callbacks.append(lambda _e: log.append(("timeout", env.now)))
    schedule_at(1.0, _Marker("b", log, env))
    env.run()
    assert [name for name, _ in log] == ["a", "timeout", "b"]


def test_a_queued_event_runs_at_the_time_given() -> None:
    env = simpy.Environment()
    env.run(until=0.1)
    when = 0.3
    log: list[tuple[str, float]] = []
    scheduler(env)(when, _Marker("x", log, env))
    env.run()
    assert log == [("x", when)]


def test_run_until_stops_before_events_due_later() -> None:
    env = simpy.Environment()
    log: list[tuple[str, float]] = []
    scheduler(env)(5.0, _Marker("later", log, env))
    env.run(until=4.0)
    assert env.now == 4.0 and log == []
    env.run(until=6.0)
    assert log == [("later", 5.0)]


def test_a_queued_event_needs_only_callbacks_and_ok() -> None:
    assert QueuedEvent.__slots__ == ("callbacks",)
    assert QueuedEvent._ok is True
    assert NORMAL > URGENT  # lower runs first: run(until=...)'s stop is urgent


def _mixed_run(run: object) -> tuple[list[tuple[str, float]], float]:
    """Queued events, timeouts and a process, some due exactly at a stop: what ran, and when."""
    env = simpy.Environment()
    log: list[tuple[str, float]] = []
    schedule_at = scheduler(env)

    def ticker(env: simpy.Environment):  # type: ignore[no-untyped-def]
        for _ in range(6):
            yield env.timeout(0.75)
            log.append(("tick", env.now))

    env.process(ticker(env))
    for i, when in enumerate((0.5, 1.5, 1.5, 3.0, 4.5)):
        schedule_at(when, _Marker(f"q{i}", log, env))
    env.timeout(1.5).callbacks.append(lambda _e: log.append(("timeout", env.now)))
    for stop in (1.5, 3.0, 4.0, 6.0):
        run(env, stop)  # type: ignore[operator]
        log.append(("stop", env.now))
    return log, env.now


def test_run_until_runs_what_run_runs_in_the_same_order_and_stops_where_it_stops() -> None:
    by_simpy = _mixed_run(lambda env, t: env.run(until=t))
    assert _mixed_run(run_until) == by_simpy
    log, now = by_simpy
    assert now == 6.0 and ("stop", 1.5) in log and log.index(("stop", 1.5)) < log.index(("q1", 1.5))


def test_run_until_raises_a_failed_event_and_refuses_a_stop_in_the_past() -> None:
    env = simpy.Environment()
    env.event().fail(KeyError("lost"))
    with pytest.raises(KeyError, match="lost"):
        run_until(env, 1.0)
    env = simpy.Environment()
    run_until(env, 2.0)
    with pytest.raises(ValueError, match="greater than the current"):
        run_until(env, 2.0)


def test_far_events_run_at_their_times_in_the_order_one_heap_would_run_them() -> None:
    """Events past the horizon wait in the far heap; ties with SimPy's own events and with
    events scheduled later keep the order they were scheduled in; a run with no stop ends."""
    env = simpy.Environment()
    log: list[tuple[str, float]] = []
    schedule_at = scheduler(env)
    far = 7.5 * HORIZON_S
    schedule_at(far, _Marker("far-1", log, env))
    env.timeout(far).callbacks.append(lambda _e: log.append(("timeout", env.now)))
    schedule_at(far, _Marker("far-2", log, env))
    schedule_at(0.5 * HORIZON_S, _Marker("near", log, env))
    later = _Marker("later", log, env)
    later.callbacks = (lambda _e: (log.append(("later", env.now)), schedule_at(far, _Marker("far-3", log, env))),)
    schedule_at(3 * HORIZON_S, later)
    env.run()
    assert log == [("near", 0.5 * HORIZON_S), ("later", 3 * HORIZON_S), ("far-1", far),
                   ("timeout", far), ("far-2", far), ("far-3", far)]
    assert env.now == far


def test_an_environment_is_freed_with_its_run_even_with_far_events_left() -> None:
    """Nothing outside the run holds an environment: a process that runs many simulations
    (a plan, a sweep) does not keep every finished one in memory."""
    import gc
    import weakref

    env = simpy.Environment()
    schedule_at = scheduler(env)
    log: list[tuple[str, float]] = []
    schedule_at(50 * HORIZON_S, _Marker("far", log, env))  # still waiting when the run stops
    schedule_at(0.5, _Marker("near", log, env))
    run_until(env, 2 * HORIZON_S)
    gone = weakref.ref(env)
    del env, schedule_at
    gc.collect()
    assert gone() is None and log == [("near", 0.5)]
