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
  derived from :class:`QueuedEvent` have both;
- ``env._now``: the clock ``step`` sets from the popped entry. :func:`run_until`
  is ``Environment.run(until=t)``'s loop with ``step`` written inline (a run
  is some 2.5 events per message delivered, and the call to ``step``, its
  exception handler and its attribute reads are a tenth of a replayed
  delivery's CPU): it processes the same events in the same order and stops
  where ``run`` stops, before the events due at ``t`` itself.

Most of the queue is far ahead: a call's hang-up is a holding time away, and
there are thousands of calls in progress, while the events that make up the
run (arrivals, completions, retransmission timers) are due within a second.
A heap operation costs in the logarithm of its size, so :func:`scheduler`
keeps the far events (due :data:`HORIZON_S` or more past the current horizon)
in a heap of its own, with one entry on SimPy's queue at the horizon (URGENT,
so it runs before any event due then). When it runs, it moves the events due
before the next horizon over, each with the key it was given when scheduled:
SimPy pops every event in the order it would have without the split, however
many schedulers (each with its own far heap) share the environment. The far
heap belongs to its scheduler, not to a table of environments: a finished run's
environment is freed with it.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush

import simpy
from simpy.events import NORMAL, URGENT

__all__ = ["HORIZON_S", "SIMPY_TESTED", "QueuedEvent", "ScheduleAt", "run_until", "scheduler"]

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


HORIZON_S = 1.0
"""How far past the current horizon an event goes to the far heap (see the module)."""


class _Far(QueuedEvent):
    """The events of one environment due past its horizon, and their entry on its queue."""

    __slots__ = ("env", "heap", "horizon", "queued")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.heap: list[tuple[float, int, int, object]] = []
        self.horizon = env._now + HORIZON_S
        """Events due before it go straight to SimPy's queue."""
        self.queued = False
        """The entry is on the queue (always so while the far heap holds events)."""
        self.callbacks = None

    def defer(self, entry: tuple[float, int, int, object]) -> None:
        """Keep ``entry`` (due at or past the horizon) until the horizon comes near it."""
        if not self.queued:  # the far heap is empty: the horizon may be stale
            horizon = self.env._now + HORIZON_S
            if horizon > self.horizon:
                self.horizon = horizon
            if entry[0] < self.horizon:
                heappush(self.env._queue, entry)
                return
            self._queue_at(self.horizon)
        heappush(self.heap, entry)

    def _queue_at(self, when: float) -> None:
        self.queued = True
        self.callbacks = _ADVANCE
        heappush(self.env._queue, (when, URGENT, next(self.env._eid), self))


def _advance(far: _Far) -> None:
    """The horizon has come: move the events due before the next one onto SimPy's queue."""
    far.horizon = horizon = far.horizon + HORIZON_S
    heap, queue = far.heap, far.env._queue
    while heap and heap[0][0] < horizon:
        heappush(queue, heappop(heap))
    if heap:
        far._queue_at(horizon)
    else:
        far.queued = False


_ADVANCE = (_advance,)


def scheduler(env: simpy.Environment) -> ScheduleAt:
    """``schedule_at(when, event)``: queue ``event`` on ``env`` at absolute time ``when``.

    ``when`` must not be before ``env.now`` (not checked: callers compute it
    from now). Events due at the same time run in the order scheduled.
    """
    queue, eid = env._queue, env._eid
    far = _Far(env)  # each scheduler its own: every far heap keeps the order on its own

    def schedule_at(when: float, event: QueuedEvent) -> None:
        if when < far.horizon:
            heappush(queue, (when, NORMAL, next(eid), event))
        else:
            far.defer((when, NORMAL, next(eid), event))

    return schedule_at


def run_until(env: simpy.Environment, until: float) -> None:
    """``env.run(until=until)``, faster: run every event due before ``until`` in queue
    order, then set the clock to ``until``. An event that failed and was not defused
    raises as ``step`` raises it; a process may not stop the run early (nothing in the
    simulator calls ``env.exit`` or ``StopSimulation``)."""
    if not until > env._now:
        raise ValueError(f"until ({until}) must be greater than the current simulation time ({env._now})")
    queue = env._queue
    pop = heappop
    while queue and queue[0][0] < until:
        env._now, _, _, event = pop(queue)
        callbacks, event.callbacks = event.callbacks, None
        for callback in callbacks:
            callback(event)
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc
    env._now = until
