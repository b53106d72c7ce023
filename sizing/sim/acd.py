"""The contact centre's Automatic Call Distributor: one FIFO queue in front of agents.

Theory of operation
-------------------
The ACD knows nothing of SIP. A call flow offers a call (:meth:`Acd.offer`)
and gets a :class:`Ticket`; when an agent is free the longest-waiting call
gets the agent that has been idle longest, and the flow's ``on_assigned(agent)``
runs at that simulated time; the flow then drives the SIP side and calls
:meth:`Acd.release` when the call ends, after which the agent does
``wrap_up_s`` of after-call work before taking the next call. A queued
caller whose patience runs out is removed and the flow's ``on_abandon()``
runs; a flow that ends the call for another reason calls
:meth:`Ticket.cancel`.

Callbacks never run inside ``offer``, ``release`` or ``cancel``: they run from
clock timers (a zero delay when the agent is free at once), so a flow may
keep the ticket ``offer`` returns before its ``on_assigned`` runs. An agent is
reserved for a call the moment it is chosen; a cancel in that same instant
gives the agent back without wrap-up.

A patience is drawn for every offered call, queued or not, so the patience
stream stays aligned across runs that differ only in the number of agents.

Measurement: a call counts when it is offered at or after ``warmup_s``. Waits
of answered calls go into the log-scale histogram of
:class:`~sizing.sim.metrics.HostMetrics` (memory flat in the number of
calls, about 9 % bucket resolution); queue length and busy agents are
integrated over time from ``warmup_s`` on.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass

import numpy as np

from sizing.scenario.model import Scenario
from sizing.sim.clock import SimClock, SimTimer
from sizing.sim.metrics import _BUCKETS_PER_OCTAVE, HostMetrics
from sizing.sim.workload import Patience

__all__ = ["Acd", "AcdStats", "AgentId", "Ticket"]

AgentId = int
"""Agents are numbered 0 .. agents - 1."""

QUEUED, ASSIGNED, ANSWERED, ABANDONED, CANCELLED = (
    "queued", "assigned", "answered", "abandoned", "cancelled")


class Ticket:
    """One offered call's place at the ACD; ``state`` is queued, assigned (agent
    chosen, ``on_assigned`` not run yet), answered, abandoned or cancelled."""

    __slots__ = ("key", "offered_at", "state", "agent", "patience_s", "measured",
                 "_acd", "_on_assigned", "_on_abandon", "_timer")

    def __init__(self, acd: Acd, key: Hashable, offered_at: float, patience_s: float,
                 on_assigned: Callable[[AgentId], None], on_abandon: Callable[[], None]) -> None:
        self.key = key
        self.offered_at = offered_at
        self.patience_s = patience_s
        self.measured = offered_at >= acd.warmup_s
        self.state = QUEUED
        self.agent: AgentId | None = None
        self._acd = acd
        self._on_assigned = on_assigned
        self._on_abandon = on_abandon
        self._timer: SimTimer | None = None

    def cancel(self) -> bool:
        """Withdraw the call (the caller hung up, the flow gave up).

        True when the call was queued or its agent was chosen but not yet
        handed over; False once answered, abandoned or cancelled, when the
        flow releases the agent instead.
        """
        return self._acd._cancel(self)

    def __repr__(self) -> str:
        return f"<Ticket {self.key!r} {self.state} agent={self.agent}>"


@dataclass(frozen=True)
class AcdStats:
    """ACD figures over the measured window (calls offered from ``warmup_s`` on)."""

    offered: int
    answered: int
    """Calls handed to an agent."""
    abandoned: int
    """Queued calls whose caller's patience ran out."""
    cancelled: int
    """Calls withdrawn by the flow before an agent was handed over."""
    waiting: int
    """Calls still queued when the figures were read."""
    p_wait: float
    """Share of offered calls that found no agent free and queued."""
    p_abandon: float
    """abandoned / (answered + abandoned + cancelled)."""
    service_level: float
    """Calls answered within ``answer_within_s`` / (answered + abandoned + cancelled)."""
    answer_within_s: float
    asa_s: float
    """Average speed of answer: mean wait of answered calls."""
    mean_wait_s: float
    """Mean time in queue of all calls that left it (answered, abandoned, cancelled)."""
    wait_p50_s: float
    wait_p90_s: float
    wait_p95_s: float
    wait_p99_s: float
    """Percentiles of answered calls' waits (histogram bucket upper bounds)."""
    wait_max_s: float
    mean_queue_len: float
    max_queue_len: int
    occupancy: float
    """Share of agent time busy with calls or wrap-up."""
    window_s: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class Acd:
    """FIFO queue, longest-idle agent first, wrap-up after each call, caller patience."""

    def __init__(self, clock: SimClock, agents: int, wrap_up_s: float = 0.0, *,
                 patience: Patience | None = None, warmup_s: float = 0.0) -> None:
        if isinstance(agents, bool) or not isinstance(agents, int) or agents < 1:
            raise ValueError(f"agents: must be an integer >= 1, got {agents!r}")
        if not (isinstance(wrap_up_s, int | float) and math.isfinite(wrap_up_s)
                and wrap_up_s >= 0):
            raise ValueError(f"wrap_up_s: must be a finite number >= 0, got {wrap_up_s!r}")
        if not (isinstance(warmup_s, int | float) and warmup_s >= 0):
            raise ValueError(f"warmup_s: must be a number >= 0, got {warmup_s!r}")
        self.clock = clock
        self.agents = agents
        self.wrap_up_s = float(wrap_up_s)
        self.patience = patience
        self.warmup_s = float(warmup_s)
        self._free: deque[AgentId] = deque(range(agents))
        """Idle agents, longest idle first."""
        self._busy_with: dict[AgentId, Ticket] = {}
        self._queue: deque[Ticket] = deque()
        """Tickets in arrival order; ones no longer queued are skipped when reached."""
        self.queue_len = 0
        self.waits = HostMetrics("acd", agents, self.warmup_s)
        """Answered calls' waits (histogram) and busy agent-seconds per second."""
        self.offered = self.queued = self.answered = self.abandoned = self.cancelled = 0
        self.left_wait_sum = 0.0
        """Queue time of measured calls that left the queue, whatever the outcome."""
        self.max_queue_len = 0
        self._queue_area = 0.0
        self._busy_area = 0.0
        self._busy_agents = 0
        self._last_change = 0.0
        self._busy_since: dict[AgentId, float] = {}

    @classmethod
    def from_scenario(cls, clock: SimClock, scenario: Scenario,
                      patience_rng: np.random.Generator) -> Acd:
        """The ACD of ``scenario.agents``, measured from ``scenario.warmup_s``."""
        agents = scenario.agents
        if agents.count < 1:
            raise ValueError("agents.count: is 0, so calls go to the far end and there is "
                             "no ACD; set agents.count >= 1")
        return cls(clock, agents.count, agents.wrap_up_s,
                   patience=Patience.from_scenario(agents, patience_rng),
                   warmup_s=scenario.warmup_s)

    # -- the flow's side ---------------------------------------------------

    def offer(self, call_key: Hashable, on_assigned: Callable[[AgentId], None],
              on_abandon: Callable[[], None]) -> Ticket:
        """Queue a call for an agent; see the module doc for when the callbacks run."""
        now = self.clock.now()
        patience = self.patience.sample() if self.patience is not None else math.inf
        ticket = Ticket(self, call_key, now, patience, on_assigned, on_abandon)
        if ticket.measured:
            self.offered += 1
        if self._free and not self.queue_len:
            self._assign(ticket, self._free.popleft(), now)
            return ticket
        if ticket.measured:
            self.queued += 1
        self._advance(now)
        self._queue.append(ticket)
        self.queue_len += 1
        if now >= self.warmup_s and self.queue_len > self.max_queue_len:
            self.max_queue_len = self.queue_len
        if patience != math.inf:
            ticket._timer = self.clock.call_later(patience, lambda: self._abandon(ticket))
        return ticket

    def answers_at_once(self) -> bool:
        """Whether a call offered now gets an agent at once (one idle, nobody queued)."""
        return bool(self._free) and not self.queue_len

    def release(self, agent: AgentId) -> None:
        """The agent's call ended: wrap-up, then the agent takes the next call."""
        if self._busy_with.pop(agent, None) is None:
            raise ValueError(f"release({agent!r}): agent is not on a call "
                             f"(agents are 0..{self.agents - 1})")
        if self.wrap_up_s:
            self.clock.call_later(self.wrap_up_s, lambda: self._available(agent))
        else:
            self._available(agent)  # callbacks still run from timers (see _assign)

    def wrap_up(self, residual_s: float) -> None:
        """An idle agent is in after-call work for ``residual_s`` more seconds (the
        stationary state a steady-state start opens with)."""
        if not self._free:
            raise ValueError("wrap_up(): every agent is busy")
        if not (math.isfinite(residual_s) and residual_s >= 0):
            raise ValueError(f"wrap_up(): residual_s must be a finite number >= 0, got {residual_s!r}")
        agent = self._free.popleft()
        now = self.clock.now()
        self._advance(now)
        self._busy_agents += 1
        self._busy_since[agent] = now
        self.clock.call_later(residual_s, lambda: self._available(agent))

    # -- internals ---------------------------------------------------------

    def _advance(self, now: float) -> None:
        """Integrate queue length and busy agents up to ``now`` (from warmup on)."""
        start = max(self._last_change, self.warmup_s)
        if self._last_change < self.warmup_s <= now and self.queue_len > self.max_queue_len:
            self.max_queue_len = self.queue_len  # the queue as the window opens
        if now > start:
            self._queue_area += self.queue_len * (now - start)
            self._busy_area += self._busy_agents * (now - start)
        self._last_change = now

    def _assign(self, ticket: Ticket, agent: AgentId, now: float) -> None:
        self._advance(now)
        self._busy_agents += 1
        self._busy_since[agent] = now
        ticket.state = ASSIGNED
        ticket.agent = agent
        self._busy_with[agent] = ticket
        if ticket._timer is not None:
            ticket._timer.cancel()
        ticket._timer = self.clock.call_later(0.0, lambda: self._hand_over(ticket))

    def _hand_over(self, ticket: Ticket) -> None:
        if ticket.state != ASSIGNED:
            return
        ticket.state = ANSWERED
        ticket._timer = None
        if ticket.measured:
            wait = self.clock.now() - ticket.offered_at
            self.answered += 1
            self.left_wait_sum += wait
            self.waits.add_wait(wait)
        assert ticket.agent is not None
        ticket._on_assigned(ticket.agent)

    def _available(self, agent: AgentId) -> None:
        now = self.clock.now()
        self._advance(now)
        self._busy_agents -= 1
        self.waits.add_busy(self._busy_since.pop(agent), now)
        self._free.append(agent)
        self._dispatch(now)

    def hold_every_agent(self) -> None:
        """Empty the idle list, so the next call offered queues (the recorder's queue probes)."""
        self._free.clear()

    def free_agent(self, agent: AgentId) -> None:
        """Make ``agent`` idle and hand it the queue's head now (a queue probe's chosen moment)."""
        self._free.append(agent)
        self._dispatch(self.clock.now())

    def _dispatch(self, now: float) -> None:
        queue = self._queue
        while self._free and self.queue_len:
            ticket = queue.popleft()
            if ticket.state != QUEUED:
                continue
            self.queue_len -= 1
            self._assign(ticket, self._free.popleft(), now)

    def _abandon(self, ticket: Ticket) -> None:
        if ticket.state != QUEUED:
            return
        now = self.clock.now()
        self._advance(now)
        ticket.state = ABANDONED
        ticket._timer = None
        self.queue_len -= 1
        if ticket.measured:
            self.abandoned += 1
            self.left_wait_sum += now - ticket.offered_at
        ticket._on_abandon()

    def _cancel(self, ticket: Ticket) -> bool:
        now = self.clock.now()
        if ticket.state == QUEUED:
            self._advance(now)
            self.queue_len -= 1
        elif ticket.state == ASSIGNED:
            # Agent chosen this instant but not handed over: give it back, idle as before.
            agent = ticket.agent
            assert agent is not None
            self._advance(now)
            self._busy_agents -= 1
            del self._busy_since[agent]
            del self._busy_with[agent]
            self._free.appendleft(agent)
            ticket.agent = None
        else:
            return False
        ticket.state = CANCELLED
        if ticket._timer is not None:
            ticket._timer.cancel()
            ticket._timer = None
        if ticket.measured:
            self.cancelled += 1
            self.left_wait_sum += now - ticket.offered_at
        self._dispatch(now)
        return True

    # -- figures -------------------------------------------------------------

    def service_level(self, answer_within_s: float) -> float:
        """Calls answered within ``answer_within_s`` / calls that left the queue."""
        left = self.answered + self.abandoned + self.cancelled
        return self._answered_within(answer_within_s) / left if left else math.nan

    def _answered_within(self, t: float) -> float:
        """Answered calls with a wait <= t, read from the histogram with log-linear
        interpolation inside the bucket holding ``t``."""
        hist = self.waits.wait_hist
        if t <= 0:
            return float(hist[0])
        us = t * 1e6
        total = float(hist[0])
        for index in range(1, len(hist)):
            lo = 0.0 if index == 1 else 2.0 ** ((index - 1) / _BUCKETS_PER_OCTAVE)
            hi = 2.0 ** (index / _BUCKETS_PER_OCTAVE)
            if index == len(hist) - 1:
                hi = math.inf
            if us >= hi:
                total += hist[index]
                continue
            if hist[index] and us > lo:
                if lo == 0.0 or math.isinf(hi):
                    share = 0.0 if math.isinf(hi) else us / hi
                else:
                    share = math.log(us / lo) / math.log(hi / lo)
                total += hist[index] * share
            break
        return total

    def stats(self, answer_within_s: float = 20.0) -> AcdStats:
        """Figures over ``[warmup_s, now]``; ``answer_within_s`` sets the service level."""
        if not (isinstance(answer_within_s, int | float) and answer_within_s >= 0):
            raise ValueError(f"answer_within_s: must be a number >= 0, got {answer_within_s!r}")
        now = self.clock.now()
        self._advance(now)
        window = max(now - self.warmup_s, 0.0)
        left = self.answered + self.abandoned + self.cancelled
        waits = self.waits
        nan = math.nan
        waiting = sum(1 for t in self._queue if t.state == QUEUED and t.measured)
        return AcdStats(
            offered=self.offered,
            answered=self.answered,
            abandoned=self.abandoned,
            cancelled=self.cancelled,
            waiting=waiting,
            p_wait=self.queued / self.offered if self.offered else nan,
            p_abandon=self.abandoned / left if left else nan,
            service_level=self.service_level(answer_within_s),
            answer_within_s=float(answer_within_s),
            asa_s=waits.wait_sum / self.answered if self.answered else nan,
            mean_wait_s=self.left_wait_sum / left if left else nan,
            wait_p50_s=waits.wait_quantile(0.50),
            wait_p90_s=waits.wait_quantile(0.90),
            wait_p95_s=waits.wait_quantile(0.95),
            wait_p99_s=waits.wait_quantile(0.99),
            wait_max_s=waits.wait_max if self.answered else nan,
            mean_queue_len=self._queue_area / window if window else nan,
            max_queue_len=self.max_queue_len,
            occupancy=self._busy_area / (window * self.agents) if window else nan,
            window_s=window,
        )
