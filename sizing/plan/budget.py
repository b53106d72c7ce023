"""What a simulation would cost, estimated before it starts, and refused when absurd.

The simulator's cost grows with calls x duration x replications (each call is a
few dozen message deliveries, ~100 µs each through the full engine) and its
memory with the calls in progress and the registered endpoints.  A scenario the
schema admits, such as 10,000 calls/s for a week, would run for years; rather
than start and be killed, every path that simulates (``sizing run``, ``sizing
plan``, ``sizing batch``, the web form) asks :func:`check_simulation` first and
reports a one-line reason with what to change.

The figures are deliberately rough (order of magnitude); the limits are far
above any run that finishes in a working day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sizing.scenario import Scenario

__all__ = ["MAX_EVENTS", "MAX_MEMORY_BYTES", "MAX_SIMULATED_CALLS", "SimulationSize",
           "SimulationTooLarge", "check_simulation", "simulation_size"]

MAX_SIMULATED_CALLS = 20_000_000
"""Calls across all replications (~a day of engine time at 250 calls/s)."""
MAX_EVENTS = 2_000_000_000
"""Message deliveries, registrations and keep-alives across all replications."""
MAX_MEMORY_BYTES = 8 * 1024**3
"""Estimated peak memory of one replication."""

MESSAGES_PER_CALL_HOP = 8
"""Messages one call sends across one hop (INVITE, 100, 180, 200, ACK, BYE, 200, more)."""
BYTES_PER_CALL_IN_PROGRESS = 64 * 1024
"""Transactions, dialogs and timers of one call on every host of its path."""
BYTES_PER_REGISTRATION = 4 * 1024
"""A binding, its registration transaction state and its timers."""
MESSAGES_PER_REGISTRATION = 2


@dataclass(frozen=True)
class SimulationSize:
    """Rough size of a simulation (all replications unless noted)."""

    calls: float
    events: float
    memory_bytes: float
    """Peak of one replication."""

    def describe(self) -> str:
        return (f"{self.calls:.2g} calls, {self.events:.2g} events, "
                f"~{self.memory_bytes / 1024**3:.2g} GiB")


class SimulationTooLarge(ValueError):
    """The simulation would not finish or not fit; the message says what to change."""


def _replay_calls(scenario: Scenario, end_s: float) -> float:
    from sizing.scenario.model import read_csv_column

    csv = scenario.traffic.arrivals.csv
    if csv is None:
        return 0.0
    return float(sum(1 for t in read_csv_column(csv, scenario.traffic.arrivals.column)
                     if t <= end_s))


def simulation_size(scenario: Scenario) -> SimulationSize:
    """Calls, events and peak memory a simulation of ``scenario`` would need."""
    end = scenario.warmup_s + scenario.duration_s
    reps = scenario.replications
    t = scenario.traffic
    rate = t.rate_cps
    calls_one = rate * end if rate is not None else _replay_calls(scenario, end)
    hops = len(scenario.topology.enabled()) + 1
    registered = scenario.endpoints.count + (scenario.agents.count
                                             if scenario.agents.registered else 0)
    ep = scenario.endpoints
    registrations = registered * (1 + end / ep.expiry_s)
    keepalives = 0.0 if ep.keepalive.method == "none" \
        else registered * end / ep.keepalive.interval_s
    # busy lamps: each subscription's set-up and refreshes (four messages each), and a NOTIFY
    # and its 200 per watcher for each of a call's agent states
    lamps = ep.count * ep.presence_subscriptions
    watchers = lamps / scenario.agents.count if scenario.agents.count else 0.0
    lamp_messages = lamps * (1 + end / ep.presence_refresh_s) * 4 + calls_one * 3 * watchers * 2
    events_one = (calls_one * MESSAGES_PER_CALL_HOP * hops
                  + registrations * MESSAGES_PER_REGISTRATION + keepalives + lamp_messages)
    erlangs = (rate or 0.0) * (t.holding_time_s or 0.0)
    in_progress = min(erlangs, scenario.trunk.channels) if erlangs else 0.0
    memory = in_progress * BYTES_PER_CALL_IN_PROGRESS + (registered + lamps) * BYTES_PER_REGISTRATION
    return SimulationSize(calls_one * reps, events_one * reps, memory)


def check_simulation(scenario: Scenario, *, hint: str = "shorten duration_s") -> SimulationSize:
    """The size of the simulation, or SimulationTooLarge saying why it is refused
    and, after ``hint`` (the caller's way out, e.g. "use --no-simulate"), what to
    change in the scenario."""
    size = simulation_size(scenario)
    rate = scenario.traffic.rate_cps
    end = scenario.warmup_s + scenario.duration_s
    how = (f" ({rate:g} calls/s x {end:g} s x {scenario.replications} replication(s))"
           if rate is not None else "")
    if size.calls > MAX_SIMULATED_CALLS:
        raise SimulationTooLarge(
            f"this would simulate {size.calls:.2g} calls{how}, more than "
            f"{MAX_SIMULATED_CALLS:.0e}; {hint}, or lower replications or the call rate")
    if size.events > MAX_EVENTS:
        raise SimulationTooLarge(
            f"this would simulate {size.events:.2g} messages and timers, more than "
            f"{MAX_EVENTS:.0e} (registrations every endpoints.expiry_s, keep-alives "
            f"every endpoints.keepalive.interval_s and busy lamps count too); {hint}")
    if size.memory_bytes > MAX_MEMORY_BYTES:
        gib = size.memory_bytes / 1024**3
        raise SimulationTooLarge(
            f"this simulation would need about {gib:.3g} GiB of memory, more than "
            f"{MAX_MEMORY_BYTES / 1024**3:.0f} GiB (calls in progress, registered "
            f"endpoints and agents, busy-lamp subscriptions); {hint}, or lower the traffic, "
            f"endpoints.count or endpoints.presence_subscriptions")
    if not math.isfinite(size.events):
        raise SimulationTooLarge(f"this simulation has no finite size; {hint}")
    return size
