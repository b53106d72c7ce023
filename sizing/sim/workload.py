"""Workload generators: when calls arrive, how long they hold, which flow they take,
how long a queued caller waits before hanging up.

Theory of operation
-------------------
Every generator draws from a ``numpy.random.Generator`` it is given and from
nothing else, so a run is a pure function of its seeds. :func:`streams` makes
one independent generator per purpose (arrivals, holding, flows, patience,
links) from the scenario seed. Keeping the purposes on separate streams is what
makes two runs comparable when one parameter changes (common random numbers):
adding agents changes how many patience or link draws are made, but not the
arrival times, holding times or flows the calls get, so a difference between
the runs comes from the parameter, not from reshuffled randomness. Each stream
is keyed by the purpose's name, not by its position, so adding a purpose later
leaves the existing streams unchanged.

Draws are taken from the generator in blocks (one numpy call per
:data:`BLOCK` values) because a scalar numpy draw costs about a microsecond of
call overhead; the values, and their order, are the same for a given seed.

Arrival processes:

- Poisson at the traffic rate: exponential inter-arrival times;
- busy-hour profile: a non-homogeneous Poisson process by thinning (Lewis and
  Shedler): candidates at the peak rate (the traffic rate is the busiest
  hour's), each kept with probability ``rate_factor(t) / 1``;
- replay: the times of a CSV column, exactly, in order.
"""

from __future__ import annotations

import bisect
import math
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from sizing.scenario.model import Agents, Arrivals, Holding, Scenario, Traffic, read_csv_column
from sizing.scenario.model import Patience as PatienceModel

__all__ = [
    "BLOCK",
    "PURPOSES",
    "ArrivalProcess",
    "FlowPicker",
    "HoldingTime",
    "Patience",
    "PoissonArrivals",
    "ProfileArrivals",
    "ReplayArrivals",
    "stream",
    "streams",
]

BLOCK = 256
"""Values drawn from a generator per numpy call."""

PURPOSES = ("arrivals", "holding", "flows", "patience", "links")
"""The purposes :func:`streams` makes a generator for."""


def stream(seed: int, purpose: str) -> np.random.Generator:
    """The generator for one purpose: seeded by (seed, CRC-32 of the purpose's name)."""
    if not (isinstance(seed, int | np.integer) and seed >= 0):
        raise ValueError(f"seed: must be an integer >= 0, got {seed!r}")
    key = zlib.crc32(purpose.encode("utf-8"))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(key,))))


def streams(seed: int) -> dict[str, np.random.Generator]:
    """One independent generator per purpose in :data:`PURPOSES` (see the module doc)."""
    return {purpose: stream(seed, purpose) for purpose in PURPOSES}


class _Draws:
    """Standard exponential, uniform or normal variates from ``rng``, drawn in blocks."""

    __slots__ = ("_rng", "_kind", "_buf", "_i")

    def __init__(self, rng: np.random.Generator, kind: str) -> None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"expected a numpy.random.Generator, got {rng!r}")
        self._rng = rng
        self._kind = kind
        self._buf: list[float] = []
        self._i = 0

    def next(self) -> float:
        if self._i >= len(self._buf):
            rng = self._rng
            if self._kind == "exponential":
                block = rng.standard_exponential(BLOCK)
            elif self._kind == "uniform":
                block = rng.random(BLOCK)
            else:
                block = rng.standard_normal(BLOCK)
            self._buf = block.tolist()
            self._i = 0
        value = self._buf[self._i]
        self._i += 1
        return value


def _traffic(source: Traffic | Scenario) -> Traffic:
    if isinstance(source, Scenario):
        return source.traffic
    if isinstance(source, Traffic):
        return source
    raise TypeError(f"expected a Scenario or Traffic, got {type(source).__name__}")


def _positive(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: must be a finite number > 0, got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------
# Arrivals
# ---------------------------------------------------------------------------


class ArrivalProcess:
    """Times of call attempts; ``next_arrival(now_s)`` gives the next one after ``now_s``."""

    def next_arrival(self, now_s: float) -> float | None:
        """Absolute simulated time of the next attempt, or None when there is none."""
        raise NotImplementedError

    def times(self, until_s: float, start_s: float = 0.0) -> Iterator[float]:
        """All attempt times in ``[start_s, until_s)``, chaining ``next_arrival``."""
        t = self.next_arrival(start_s)
        while t is not None and t < until_s:
            yield t
            t = self.next_arrival(t)

    @staticmethod
    def from_scenario(source: Traffic | Scenario, rng: np.random.Generator) -> ArrivalProcess:
        """The process ``traffic.arrivals`` describes, at ``traffic.rate_cps``."""
        traffic = _traffic(source)
        arrivals: Arrivals = traffic.arrivals
        if arrivals.process == "replay":
            assert arrivals.csv is not None  # the model requires it
            return ReplayArrivals.from_csv(arrivals.csv, arrivals.column)
        rate = traffic.rate_cps
        if rate is None:
            raise ValueError("traffic.calls_per_second: required for "
                             f"arrivals.process {arrivals.process!r}")
        if arrivals.process == "profile":
            return ProfileArrivals(rate, _hourly(arrivals), rng)
        return PoissonArrivals(rate, rng)


def _hourly(arrivals: Arrivals) -> Callable[[float], float]:
    """``arrivals.rate_factor`` with the 24 factors computed once (it runs per candidate)."""
    factors = [arrivals.rate_factor(hour * 3600.0) for hour in range(24)]

    def rate_factor(t_s: float) -> float:
        return factors[int(t_s // 3600) % 24]

    return rate_factor


class PoissonArrivals(ArrivalProcess):
    """Poisson arrivals at ``rate_cps``: exponential gaps with mean ``1 / rate_cps``."""

    def __init__(self, rate_cps: float, rng: np.random.Generator) -> None:
        self.rate_cps = _positive(rate_cps, "rate_cps")
        self._mean_gap = 1.0 / self.rate_cps
        self._exp = _Draws(rng, "exponential")

    def next_arrival(self, now_s: float) -> float:
        return now_s + self._exp.next() * self._mean_gap


class ProfileArrivals(ArrivalProcess):
    """Non-homogeneous Poisson arrivals at ``peak_cps x rate_factor(t)`` by thinning.

    ``rate_factor`` must stay within [0, 1]; :meth:`Arrivals.rate_factor`
    does (each hour's weight over the largest one).
    """

    def __init__(self, peak_cps: float, rate_factor: Callable[[float], float],
                 rng: np.random.Generator) -> None:
        self.peak_cps = _positive(peak_cps, "peak_cps")
        self.rate_factor = rate_factor
        self._mean_gap = 1.0 / self.peak_cps
        self._exp = _Draws(rng, "exponential")
        self._uni = _Draws(rng, "uniform")

    def next_arrival(self, now_s: float) -> float:
        t = now_s
        while True:
            t += self._exp.next() * self._mean_gap
            factor = self.rate_factor(t)
            if not 0.0 <= factor <= 1.0:
                raise ValueError(f"rate_factor({t:g}) = {factor!r}: must be within [0, 1]")
            if self._uni.next() < factor:
                return t


class ReplayArrivals(ArrivalProcess):
    """The given arrival times, in order; None once they are used up."""

    def __init__(self, times_s: Sequence[float], source: str = "times_s") -> None:
        times = [float(t) for t in times_s]
        for i, t in enumerate(times):
            if not (math.isfinite(t) and t >= 0):
                raise ValueError(f"{source}[{i}]: arrival time must be a finite number >= 0, "
                                 f"got {t!r}")
            if i and t < times[i - 1]:
                raise ValueError(f"{source}[{i}]: arrival time {t:g} is before the previous "
                                 f"one ({times[i - 1]:g}); times must not decrease")
        self.times_s = times
        self.source = source
        self._next = 0

    @classmethod
    def from_csv(cls, path: str | Path, column: str = "time_s") -> ReplayArrivals:
        """Times from one column of a CSV file; errors name the file and data row."""
        values = read_csv_column(path, column)
        for i in range(1, len(values)):
            if values[i] < values[i - 1]:
                # data row i sits on line i + 2 (line 1 is the header)
                raise ValueError(f"{path}:{i + 2}: {column}: arrival time {values[i]:g} is "
                                 f"before the previous one ({values[i - 1]:g}); times must "
                                 "not decrease")
        return cls(values, source=f"{path}:{column}")

    @property
    def remaining(self) -> int:
        """Times not handed out yet."""
        return len(self.times_s) - self._next

    def next_arrival(self, now_s: float) -> float | None:
        if self._next >= len(self.times_s):
            return None
        t = self.times_s[self._next]
        if t < now_s:
            raise ValueError(f"{self.source}: arrival time {t:g} (entry {self._next}) is "
                             f"before now ({now_s:g}); ask for each time at or before it")
        self._next += 1
        return t


# ---------------------------------------------------------------------------
# Holding times, flows, patience
# ---------------------------------------------------------------------------


class HoldingTime:
    """Call holding times (answer to release) of one distribution, in seconds.

    ``kind`` is one of exponential (``mean_s``), lognormal (``mean_s`` and
    ``cv``: sigma^2 = ln(1 + cv^2), mu = ln(mean) - sigma^2 / 2, which give
    exactly that mean and coefficient of variation), fixed (``mean_s``) or
    empirical (``samples`` drawn uniformly with replacement).
    """

    def __init__(self, kind: str, rng: np.random.Generator, *, mean_s: float | None = None,
                 cv: float | None = None, samples: Sequence[float] | None = None) -> None:
        self.kind = kind
        if kind == "empirical":
            if samples is None or len(samples) == 0:
                raise ValueError("holding samples: empirical needs one or more values")
            values = np.asarray(samples, dtype=float)
            bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
            if bad.size:
                raise ValueError(f"holding samples[{bad[0]}]: must be a finite number > 0, "
                                 f"got {samples[bad[0]]!r}")
            self._samples = values.tolist()
            self.mean_s = float(values.mean())
            self._uni = _Draws(rng, "uniform")
            return
        if kind not in ("exponential", "lognormal", "fixed"):
            raise ValueError(f"holding kind: {kind!r} is not one of exponential, lognormal, "
                             "fixed, empirical")
        self.mean_s = _positive(mean_s, "holding mean_s")  # type: ignore[arg-type]
        if kind == "lognormal":
            cv = _positive(cv, "holding cv")  # type: ignore[arg-type]
            sigma2 = math.log1p(cv * cv)
            self._sigma = math.sqrt(sigma2)
            self._mu = math.log(self.mean_s) - sigma2 / 2
            self._norm = _Draws(rng, "normal")
        elif kind == "exponential":
            self._exp = _Draws(rng, "exponential")

    @classmethod
    def from_scenario(cls, source: Traffic | Scenario, rng: np.random.Generator) -> HoldingTime:
        """The distribution of ``traffic.holding`` around ``traffic.holding_time_s``."""
        traffic = _traffic(source)
        holding: Holding = traffic.holding
        if holding.kind == "empirical":
            return cls("empirical", rng, samples=holding.samples())
        return cls(holding.kind, rng, mean_s=traffic.holding_time_s, cv=holding.cv)

    def sample(self) -> float:
        """One holding time in seconds."""
        kind = self.kind
        if kind == "exponential":
            return self._exp.next() * self.mean_s
        if kind == "lognormal":
            return math.exp(self._mu + self._sigma * self._norm.next())
        if kind == "fixed":
            return self.mean_s
        samples = self._samples
        return samples[min(int(self._uni.next() * len(samples)), len(samples) - 1)]

    def sample_from(self, rng: np.random.Generator) -> float:
        """One holding time drawn from ``rng`` (not this object's own stream, which stays
        aligned for the calls that arrive)."""
        kind = self.kind
        if kind == "exponential":
            return float(rng.standard_exponential()) * self.mean_s
        if kind == "lognormal":
            return math.exp(self._mu + self._sigma * float(rng.standard_normal()))
        if kind == "fixed":
            return self.mean_s
        samples = self._samples
        return samples[min(int(rng.random() * len(samples)), len(samples) - 1)]

    def length_biased(self, rng: np.random.Generator) -> float:
        """A holding time drawn in proportion to its length (density ``h f(h) / E[H]``), from ``rng``.

        The calls in progress at an instant are a length-biased sample of all calls (a
        long call is more likely to be under way); their age is uniform on that length.
        Exponential: Gamma(2, mean); lognormal(mu, sigma): lognormal(mu + sigma^2, sigma);
        fixed: the mean; empirical: a sample picked with probability in proportion to its value.
        """
        kind = self.kind
        if kind == "exponential":
            return float(rng.standard_gamma(2.0)) * self.mean_s
        if kind == "lognormal":
            return math.exp(self._mu + self._sigma**2 + self._sigma * float(rng.standard_normal()))
        if kind == "fixed":
            return self.mean_s
        samples = self._samples
        cumulative = np.cumsum(samples)
        i = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        return samples[min(i, len(samples) - 1)]


class FlowPicker:
    """Picks a call flow name with the given shares (which sum to 1)."""

    def __init__(self, shares: Mapping[str, float], rng: np.random.Generator) -> None:
        names, cumulative, total = [], [], 0.0
        for name, share in shares.items():
            if isinstance(share, bool) or not isinstance(share, int | float) or not (
                    math.isfinite(share) and share >= 0):
                raise ValueError(f"shares[{name!r}]: must be a finite number >= 0, got {share!r}")
            if share > 0:
                total += share
                names.append(name)
                cumulative.append(total)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"shares: must sum to 1, they sum to {total:g} ({dict(shares)})")
        self.shares = {name: float(share) for name, share in shares.items()}
        self._names = names
        self._cumulative = [c / total for c in cumulative]
        self._uni = _Draws(rng, "uniform")

    def pick(self) -> str:
        """One flow name; a flow with share 0 is never picked."""
        i = bisect.bisect_right(self._cumulative, self._uni.next())
        return self._names[min(i, len(self._names) - 1)]


class Patience:
    """How long a queued caller waits before hanging up: exponential, or forever."""

    def __init__(self, mean_s: float | None, rng: np.random.Generator | None = None) -> None:
        self.mean_s = None if mean_s is None or math.isinf(mean_s) else _positive(
            mean_s, "patience mean_s")
        if self.mean_s is not None:
            if rng is None:
                raise ValueError("patience: an exponential patience needs a random generator")
            self._exp = _Draws(rng, "exponential")

    @classmethod
    def from_scenario(cls, source: PatienceModel | Agents | Scenario,
                      rng: np.random.Generator) -> Patience:
        """From ``agents.patience`` (kind none: callers never abandon)."""
        if isinstance(source, Scenario):
            source = source.agents
        if isinstance(source, Agents):
            source = source.patience
        if not isinstance(source, PatienceModel):
            raise TypeError(f"expected a Scenario, Agents or Patience, got "
                            f"{type(source).__name__}")
        return cls(source.mean_s if source.kind == "exponential" else None, rng)

    def sample(self) -> float:
        """One patience in seconds; ``math.inf`` when callers never abandon."""
        if self.mean_s is None:
            return math.inf
        return self._exp.next() * self.mean_s
