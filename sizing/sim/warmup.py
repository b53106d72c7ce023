"""Is the warm-up long enough? Warnings a planner reads next to the figures.

With ``simulation.start: steady`` (the default) the run opens with the calls in
progress of the stationary state, so a short warm-up is enough. With ``empty``
it starts idle: calls in progress build up over about one mean holding time,
so a measured window that starts too early under-counts concurrent calls, CPU,
bandwidth and queueing. Two checks, both cheap and conservative:

- the scenario (empty start only): ``warmup_s`` below the mean holding time
  (the fill-up is then certainly not over when measuring starts; about twice
  the holding time is the usual rule);
- the result (either start): concurrent calls still rising across the
  measured window, the first fifth's mean more than 10 % below the last
  fifth's, when the difference is also well beyond the series' noise.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..scenario import Scenario

__all__ = ["RISE", "warmup_warnings"]

#: Relative rise of concurrent calls across the measured window beyond which it is reported.
RISE = 0.10


def warmup_warnings(scenario: Scenario, concurrent: pd.Series) -> list[str]:
    """Warnings about the warm-up of ``scenario``, given its per-second concurrent calls."""
    out: list[str] = []
    hold = scenario.traffic.holding_time_s
    if hold is not None and scenario.simulation.start == "empty" and scenario.warmup_s < hold:
        out.append(f"warmup_s {scenario.warmup_s:g} s is shorter than the mean holding time "
                   f"({hold:g} s): the simulation starts empty, so the measured window under-counts "
                   f"calls in progress, CPU and bandwidth; use about {2 * hold:g} s, or "
                   "simulation.start steady")
    rise = _rise(concurrent.to_numpy(float))
    if rise is not None and rise > RISE:
        out.append(f"calls in progress rose {rise:.0%} from the first to the last fifth of the "
                   "measured window: steady state was not reached; lengthen warmup_s (and duration_s)"
                   + ("" if scenario.simulation.start == "steady" else ", or set simulation.start steady"))
    return out


def _rise(series: np.ndarray) -> float | None:
    """Last fifth's mean over first fifth's, minus one, when the rise is beyond noise."""
    n = len(series) // 5
    if n < 2:
        return None
    first, last = series[:n], series[-n:]
    low = float(first.mean())
    if low <= 0:
        return None
    # seconds are strongly correlated (calls last many seconds), so a fifth's mean is about
    # as uncertain as one second: calls in progress are Poisson in steady state (variance =
    # mean), plus the spread seen inside each fifth; only a rise beyond 3 sigma counts
    high = float(last.mean())
    noise = math.sqrt(float(first.var()) + float(last.var()) + low + high)
    if high - low < 3 * noise:
        return None
    return float(last.mean()) / low - 1
