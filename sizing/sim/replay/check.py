"""The hybrid engine's self-check: do the calls the engine ran and the replayed ones agree?

Every hybrid run keeps a sample of calls on the full engine. If the replayed
calls behaved differently (a flow the scripts do not capture, a decision the
replay does not take), the two populations' figures part: each replication
compares, flow by flow, the replayed calls with the engine's sample of calls
that could have been replayed (calls the replay cannot take, such as those that
queue for an agent, differ by design and are left out): their SRD 95th
percentiles (a 95 % confidence interval of each from its order statistics,
distribution-free) and their answered shares (a two-proportion test), and a
report warns when they differ beyond chance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["MIN_CALLS", "engine_gap", "quantile_interval"]

MIN_CALLS = 50
"""Calls of each population below which nothing is compared."""


def quantile_interval(values: Sequence[float], q: float = 0.95) -> tuple[float, float]:
    """A 95 % confidence interval of the ``q`` quantile from the sample's order statistics
    (the binomial count of values below it, normal approximation)."""
    data = np.sort(np.asarray(values, dtype=float))
    n = data.size
    half = 1.96 * math.sqrt(n * q * (1 - q))
    low = max(int(math.floor(n * q - half)) - 1, 0)
    high = min(int(math.ceil(n * q + half)), n - 1)
    return float(data[low]), float(data[high])


def engine_gap(engine: Sequence[float], replayed: Sequence[float], answered: tuple[int, int],
               offered: tuple[int, int]) -> str | None:
    """Why the engine's calls and the replayed ones disagree, or None: SRD p95 intervals
    (seconds) that do not overlap, or answered shares (answered, offered: engine first)
    more than 3 standard errors apart."""
    if min(len(engine), len(replayed), *offered) < MIN_CALLS:
        return None
    problems = []
    lo_e, hi_e = quantile_interval(engine)
    lo_r, hi_r = quantile_interval(replayed)
    if hi_e < lo_r or hi_r < lo_e:
        problems.append(f"SRD p95 {1000 * float(np.percentile(engine, 95)):.1f} ms on the engine, "
                        f"{1000 * float(np.percentile(replayed, 95)):.1f} ms replayed")
    (a_e, a_r), (n_e, n_r) = answered, offered
    p_e, p_r = a_e / n_e, a_r / n_r
    pooled = (a_e + a_r) / (n_e + n_r)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_e + 1 / n_r))
    if se > 0 and abs(p_e - p_r) > 3 * se:
        problems.append(f"{p_e:.1%} of calls answered on the engine, {p_r:.1%} replayed")
    return "; ".join(problems) or None
