"""Host sizes: how many hosts of which size a role needs, and why, in words.

A role's demand at the offered load (:class:`RoleLoad`) is busy cores split into a
static load per host, message handling and media relaying.  Per host and 1-s
sample, CPU p95 is approximated as its mean plus 1.645 standard deviations, where
the messages handled in a second are Poisson (each costing the mean cost) and the
media sessions in progress are Poisson too (M/G/inf), each relaying a constant
packet rate.  The fewest hosts of a size whose estimate meets the target is that
size's answer (:func:`hosts_for_target`); among the allowed sizes the one with the
fewest total cores wins, ties going to fewer, bigger hosts (:func:`choose_host_size`);
:func:`size_reason` says why in one sentence.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Z95",
    "HostSize",
    "RoleLoad",
    "check_cores_options",
    "choose_host_size",
    "cpu_p95_estimate",
    "host_size_options",
    "hosts_for_target",
    "parse_cores_options",
    "pick_host_size",
    "size_reason",
]

Z95 = 1.645
"""One-sided 95 % quantile of the standard normal distribution."""


@dataclass(frozen=True)
class RoleLoad:
    """A role's CPU demand at the offered load, all its hosts together."""

    busy_cores: float
    """Busy cores: static load (one host's), message handling and media."""
    static_cores: float
    """One host's background load, paid by every host."""
    msgs_per_s: float
    media_cores: float = 0.0
    """The part of ``busy_cores`` spent relaying or receiving RTP."""
    media_sessions: float = 0.0
    """Media sessions in progress on average (what ``media_cores`` is paid for)."""

    def cpu_mean(self, hosts: int, cores: int) -> float:
        """Mean CPU of each of ``hosts`` hosts of ``cores`` cores (load shared evenly)."""
        return (self.static_cores + max(self.busy_cores - self.static_cores, 0.0) / hosts) / cores

    def cpu_p95(self, hosts: int, cores: int) -> float:
        """Estimated CPU p95 over 1-s samples of each of ``hosts`` hosts."""
        dyn = max(self.busy_cores - self.static_cores, 0.0)
        return cpu_p95_estimate(self.static_cores + dyn / hosts, self.static_cores,
                                self.msgs_per_s / hosts, cores,
                                media_cores=self.media_cores / hosts,
                                media_sessions=self.media_sessions / hosts)


def cpu_p95_estimate(busy_cores: float, static_cores: float, msgs_per_s: float, cores: int,
                     *, media_cores: float = 0.0, media_sessions: float = 0.0) -> float:
    """One host's CPU p95 over 1-s samples: mean + 1.645 standard deviations, of its cores.

    ``busy_cores``, ``msgs_per_s``, ``media_cores`` and ``media_sessions`` are the
    host's share.  Messages in a second are Poisson, each costing the mean cost
    (standard deviation ``signalling / sqrt(msgs/s)``); sessions in progress are
    Poisson, each a constant packet rate (``media / sqrt(sessions)``).
    """
    media = min(max(media_cores, 0.0), max(busy_cores - static_cores, 0.0))
    signalling = max(busy_cores - static_cores - media, 0.0)
    var = signalling ** 2 / msgs_per_s if msgs_per_s > 0 else 0.0
    var += media ** 2 / media_sessions if media_sessions > 0 else 0.0
    return (static_cores + signalling + media + Z95 * math.sqrt(var)) / cores


def hosts_for_target(busy_cores: float, static_cores: float, msgs_per_s: float, cores: int,
                     target: float, max_hosts: int = 100_000, *, media_cores: float = 0.0,
                     media_sessions: float = 0.0) -> int:
    """Fewest hosts of ``cores`` cores whose estimated CPU p95 is at most ``target``;
    the loads are the role's total (shared evenly)."""
    if static_cores >= target * cores:
        raise ValueError(f"the profile's static load ({static_cores:g} cores) alone exceeds "
                         f"the target of {target:.0%} of {cores} cores")
    load = RoleLoad(busy_cores, static_cores, msgs_per_s, media_cores, media_sessions)
    dyn = max(busy_cores - static_cores, 0.0)
    n = max(1, math.ceil(dyn / (target * cores - static_cores) - 1e-12))
    while load.cpu_p95(n, cores) > target + 1e-12:
        n += 1
        if n > max_hosts:
            raise ValueError(f"more than {max_hosts} hosts needed")
    return n


def check_cores_options(values: Iterable[Any], *, name: str = "cores_options"
                        ) -> tuple[int, ...]:
    """Candidate cores per host, validated, deduplicated and sorted; ValueError
    naming ``name`` for an empty list, a non-integer or a value below 1."""
    if isinstance(values, str | bytes):
        raise ValueError(f"{name}: expected a list of integers, got {values!r}")
    out = set()
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise ValueError(f"{name}: {v!r} is not an integer number of cores")
        if v < 1:
            raise ValueError(f"{name}: {v} cores per host; each option must be at least 1")
        out.add(int(v))
    if not out:
        raise ValueError(f"{name}: empty; give at least one number of cores per host")
    return tuple(sorted(out))


def parse_cores_options(text: str, *, name: str = "--cores-options") -> tuple[int, ...]:
    """``"2,4,8,16"`` as validated cores-per-host options (see :func:`check_cores_options`)."""
    items = [x.strip() for x in text.split(",")]
    if not any(items):
        raise ValueError(f"{name}: empty; give numbers of cores per host, e.g. 2,4,8,16")
    values = []
    for item in items:
        if not item:
            raise ValueError(f"{name}: {text!r} has an empty item (expected e.g. 2,4,8,16)")
        try:
            values.append(int(item))
        except ValueError:
            raise ValueError(f"{name}: {item!r} is not an integer number of cores "
                             "(expected e.g. 2,4,8,16)") from None
    return check_cores_options(values, name=name)


@dataclass(frozen=True)
class HostSize:
    """One allowed size's answer: ``hosts`` of ``cores`` cores, or why none will do."""

    cores: int
    hosts: int | None
    why_not: str = ""

    @property
    def total(self) -> int:
        return (self.hosts or 0) * self.cores


def host_size_options(load: RoleLoad, target: float, cores_options: Iterable[int],
                      min_hosts: int = 1) -> list[HostSize]:
    """Every allowed size with the hosts it needs (at least ``min_hosts``), smallest first."""
    out = []
    for cores in check_cores_options(cores_options):
        try:
            n = hosts_for_target(load.busy_cores, load.static_cores, load.msgs_per_s, cores,
                                 target, media_cores=load.media_cores,
                                 media_sessions=load.media_sessions)
        except ValueError as exc:  # this size can never meet the target
            out.append(HostSize(cores, None, str(exc)))
            continue
        out.append(HostSize(cores, max(n, min_hosts, 1)))
    return out


def pick_host_size(load: RoleLoad, target: float, cores_options: Iterable[int],
                   min_hosts: int = 1) -> tuple[HostSize, list[HostSize]]:
    """The allowed size with the fewest total cores meeting ``target`` with at least
    ``min_hosts`` hosts, ties going to fewer (bigger) hosts, and every size's answer
    (for :func:`size_reason`).  Sizes whose static load alone exceeds the target are
    skipped; ValueError when every size is."""
    sizes = host_size_options(load, target, cores_options, min_hosts)
    feasible = [s for s in sizes if s.hosts is not None]
    if not feasible:
        raise ValueError(f"cores_options {', '.join(str(s.cores) for s in sizes)}: no size "
                         f"meets the CPU p95 target (largest size: {sizes[-1].why_not})")
    return min(feasible, key=lambda s: (s.total, s.hosts)), sizes


def choose_host_size(busy_cores: float, static_cores: float, msgs_per_s: float,
                     target: float, cores_options: Iterable[int], min_hosts: int = 1, *,
                     media_cores: float = 0.0, media_sessions: float = 0.0) -> tuple[int, int]:
    """The ``(cores per host, hosts)`` of :func:`pick_host_size`."""
    best, _ = pick_host_size(RoleLoad(busy_cores, static_cores, msgs_per_s, media_cores,
                                      media_sessions), target, cores_options, min_hosts)
    assert best.hosts is not None
    return best.cores, best.hosts


def size_reason(sizes: list[HostSize], chosen: HostSize) -> str:
    """Why ``chosen`` among the allowed ``sizes``, in words: the smallest size, or what
    the next smaller one would have needed."""
    smaller = [s for s in sizes if s.cores < chosen.cores]
    if not smaller:
        return "the smallest allowed size"
    below = smaller[-1]
    if below.hosts is None:
        return f"{below.cores} cores cannot meet the target ({below.why_not})"
    if below.total == chosen.total:
        return (f"as few cores as {below.hosts} x {below.cores} cores, on fewer hosts")
    return (f"the fewest cores in total of the allowed sizes ({below.hosts} x {below.cores} "
            f"cores would be {below.total})")
