"""The simulator's one door into SimPy's private event queue.

Theory of operation
-------------------
Every simulated message costs two events (its arrival at a host's front end,
its completion on a core) and every transaction arms timers it mostly
cancels. These events are small objects of the simulator's own (a timer, a
job), not ``simpy.Event`` instances, put straight on the environment's queue
at an absolute time; ``Environment.step`` pops them, sets the clock and runs
their ``callbacks`` as it does for any event.

The public way is a ``simpy.Event`` (a ``Timeout``) per timer and per job,
or ``Environment.schedule(event, priority, delay)`` for an event of one's
own. Measured on SimPy 4.1.2 and CPython 3.11:

- a ``Timeout`` builds a full event (a ``__dict__``, a callbacks list, a
  value slot): ``benchmarks/sim.py --clock`` arms 1.5-1.7 times as many
  timers per second by the direct push as with ``env.timeout`` and a callback;
- ``env.schedule`` costs 230 ns a push, :func:`scheduler`'s closure 140 ns,
  the push inlined 115 ns. A delivery takes two pushes; the simulator core
  alone (``benchmarks/sim.py --core``) spends about 6 µs of CPU per
  delivery, so ``schedule`` would cost it about 4 %, the closure 1 %;
- reading the time through the public ``env.now`` property costs 60 ns
  against 18 ns for ``env._now``: about 1.5 % of the core at two reads per
  delivery, and well under 1 % of the hybrid engine's 16 µs per delivery.
  The simulator reads the time through ``env.now`` everywhere.

So this module, and no other, relies on SimPy's internals (SimPy is pinned in
``pyproject.toml`` to the range tested; ``tests/test_simpy_contract.py``
fails loudly on a release that changes any of this):

- ``env._queue``: a heap (``heapq``) of ``(time, priority, event id, event)``
  tuples, which ``Environment.step`` pops;
- ``env._eid``: the ``itertools.count`` whose next value is the event id,
  breaking ties between events due at the same time and priority in the
  order they were scheduled;
- ``simpy.events.NORMAL``: the priority of an ordinary event;
- what ``Environment.step`` asks of a popped event: ``callbacks`` (a
  sequence of callables, each called with the event, after which ``step``
  sets it to None) and a true ``_ok`` (the event did not fail). Objects
  derived from :class:`QueuedEvent` have both.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush

import simpy
from simpy.events import NORMAL

__all__ = ["SIMPY_TESTED", "QueuedEvent", "ScheduleAt", "scheduler"]

SIMPY_TESTED = ">=4.1,<4.2"
"""The SimPy releases this module is tested with (``pyproject.toml`` pins the same range)."""

ScheduleAt = Callable[[float, "QueuedEvent"], None]


class QueuedEvent:
    """An object that goes straight on a SimPy queue: quacks like a triggered, successful event.

    Subclasses declare their own ``__slots__`` and set ``callbacks`` before
    the object is scheduled; SimPy sets it to None once it has run them.
    """

    __slots__ = ("callbacks",)

    _ok = True  # read by Environment.step: this event never fails

    callbacks: tuple[Callable[..., object], ...] | None


def scheduler(env: simpy.Environment) -> ScheduleAt:
    """``schedule_at(when, event)``: queue ``event`` on ``env`` at absolute time ``when``.

    ``when`` must not be before ``env.now`` (not checked: callers compute it
    from now). Events due at the same time run in the order scheduled.
    """
    queue, eid = env._queue, env._eid

    def schedule_at(when: float, event: QueuedEvent) -> None:
        heappush(queue, (when, NORMAL, next(eid), event))

    return schedule_at
