"""The engine's :class:`~sizing.sip.interfaces.Clock` on a ``simpy.Environment``.

Theory of operation
-------------------
A timer is one small object pushed straight onto the environment's event
queue at its absolute time (:func:`sizing.sim.simpy_fast.scheduler`, the one
module that touches SimPy's queue): SimPy's ``step`` pops it, sets ``env.now``
and calls its ``callbacks``, exactly as for a ``Timeout``. The object is its own
handle: ``cancel()`` empties ``callbacks`` so the pop later runs nothing.

Why not ``env.timeout(delay).callbacks.append(...)``: a ``Timeout`` builds a
full ``Event`` (a ``__dict__``, a callbacks list, a value slot) plus a
closure for the cancel flag; this object has three slots and shares one
callback tuple. ``benchmarks/sim.py --clock`` measures both and a timer heap
driven by one SimPy process (which needs an interrupt whenever an earlier
timer arrives): the direct push is the cheapest of the three, and a
cancelled timer costs one heap pop and nothing else. Transactions cancel
most of their timers, so that matters.

Timers due at the same instant run in the order they were scheduled (SimPy
breaks ties by insertion order), so runs are reproducible.

A :class:`TimerLane` holds many timers of one fixed delay (a replayed
request's RFC 3261 retransmission timer: T1, then 2·T1, ...). Armed in time
order with one delay, they fall due in the order armed, so the lane keeps
them in a FIFO and puts a single entry on the queue, at its earliest live
timer: arming one is an append, and the great majority, cancelled when the
answer comes, are dropped in bulk without ever reaching the queue. Each timer
still runs at its own time; timers of a lane due at one instant run together,
in the order armed, when the lane's entry pops.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import simpy

from .simpy_fast import QueuedEvent, scheduler

__all__ = ["SimClock", "SimTimer", "TimerLane"]


def _fire(timer: SimTimer) -> None:
    callback = timer.callback
    timer.callback = None
    if callback is not None:
        callback()


_FIRE = (_fire,)


class SimTimer(QueuedEvent):
    """A scheduled callback on the SimPy queue; the engine's ``TimerHandle``.

    A :class:`~sizing.sim.simpy_fast.QueuedEvent`, so that ``Environment.step``
    processes it; SimPy sets ``callbacks`` to None once it has run.
    """

    __slots__ = ("callback", "when")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.callbacks: tuple[Callable[[SimTimer], None], ...] | None = _FIRE
        self.callback: Callable[[], object] | None = callback
        self.when = when

    def cancel(self) -> None:
        """Stop the callback from running; idempotent, a no-op once it ran."""
        self.callback = None

    @property
    def cancelled(self) -> bool:
        """True once cancelled or fired."""
        return self.callback is None

    def __repr__(self) -> str:
        state = " done" if self.callback is None else ""
        return f"<SimTimer at {self.when}{state}>"


class SimClock:
    """``now()`` and ``call_later()`` for the SIP engine on a SimPy environment.

    Any SimPy process on the same ``env`` (a workload generator, a call flow)
    shares this time line.
    """

    __slots__ = ("env", "_schedule_at", "wrap")

    def __init__(self, env: simpy.Environment) -> None:
        if not isinstance(env, simpy.Environment):
            raise TypeError(f"SimClock needs a simpy.Environment, got {env!r}")
        self.env = env
        self.wrap: Callable[[Callable[[], object]], Callable[[], object]] | None = None
        """Wraps every callback as it is scheduled (None: none): the call-script recorder
        (:mod:`sizing.sim.replay.record`) follows which delivery armed each timer."""
        self._schedule_at = scheduler(env)

    def now(self) -> float:
        return self.env.now

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> SimTimer:
        """Run ``callback()`` once, ``delay_s`` simulated seconds from now."""
        if not delay_s >= 0:  # also rejects NaN
            raise ValueError(f"call_later delay must be >= 0 seconds, got {delay_s!r}")
        when = self.env.now + delay_s
        if self.wrap is not None:
            callback = self.wrap(callback)
        timer = SimTimer(when, callback)
        self._schedule_at(when, timer)
        return timer

    def call_at(self, when: float, callback: Callable[[], object]) -> SimTimer:
        """Run ``callback()`` at simulated time ``when`` (not before now)."""
        delay = when - self.env.now
        if not delay >= 0:
            raise ValueError(f"call_at({when!r}) is before now ({self.env.now})")
        if self.wrap is not None:
            callback = self.wrap(callback)
        timer = SimTimer(when, callback)
        self._schedule_at(when, timer)
        return timer


def _sweep(lane: TimerLane) -> None:
    """Run the lane's timers due now (in the order armed), drop the cancelled ones at its
    head, and queue the lane again at the next live timer."""
    now = lane.env.now
    timers = lane.timers
    while timers and timers[0].when <= now:
        timer = timers.popleft()
        callback = timer.callback
        if callback is not None:
            timer.callback = None
            callback()
    while timers and timers[0].callback is None:
        timers.popleft()
    if timers:
        lane.callbacks = _SWEEP
        lane.schedule_at(timers[0].when, lane)
    else:
        lane.queued = False


_SWEEP = (_sweep,)


class TimerLane(QueuedEvent):
    """Timers that all run ``delay_s`` after they are armed, on one queue entry (see the
    module's docstring); :meth:`call_later` returns a :class:`SimTimer` to cancel."""

    __slots__ = ("clock", "env", "delay_s", "timers", "queued", "schedule_at")

    def __init__(self, clock: SimClock, delay_s: float) -> None:
        if not delay_s > 0:  # also rejects NaN
            raise ValueError(f"TimerLane delay must be > 0 seconds, got {delay_s!r}")
        self.clock = clock
        self.env = clock.env
        self.delay_s = delay_s
        self.timers: deque[SimTimer] = deque()
        self.queued = False
        self.schedule_at = clock._schedule_at
        self.callbacks = None

    def call_later(self, callback: Callable[[], object]) -> SimTimer:
        """Run ``callback()`` once, the lane's delay from now (unless cancelled)."""
        when = self.env.now + self.delay_s
        if self.clock.wrap is not None:
            callback = self.clock.wrap(callback)
        timer = SimTimer(when, callback)
        timer.callbacks = None  # never on the queue itself: the lane runs it
        self.timers.append(timer)
        if not self.queued:
            self.queued = True
            self.callbacks = _SWEEP
            self.schedule_at(when, self)
        return timer
