"""Overload sweep: goodput against offered load, with and without 503-based control.

Theory of operation
-------------------
:func:`goodput_sweep` runs a scenario at each offered call rate, once per
overload mode, and returns one row per (mode, rate). A mode sets the
``overload.policy`` of every server role of the scenario:

- ``drop``: a message that finds ``queue_limit`` messages waiting is
  discarded; UDP senders retransmit it (Timer A/E, the 2xx retransmissions),
  so past the knee the retransmissions take CPU from new work and goodput
  collapses;
- ``reject``: a new INVITE that finds every core busy and the reject
  threshold reached is answered ``503`` at once by the front end
  (``OverloadPolicy(mode="reject")``); the threshold is half the queue limit,
  so the messages of admitted calls still find room in the queue and are not
  dropped;
- ``loss``: RFC 7339 loss-based control (sizing.sim.overload): the server
  tells its upstream clients, in the Via of its responses, what share of new
  calls to refuse, so the refusal costs the overloaded server nothing.

**Goodput** is the rate of calls *set up in time*: calls offered in the
measured window whose ``200 OK`` reached the caller at most ``setup_bound_s``
seconds (default 2 s) after the call was offered, divided by the window (the
run goes on ``setup_bound_s`` past the window so the last calls get their
chance, and ``answered_cps`` and ``scr`` count answers until then too;
every other figure is read at the window's end). A call answered
after 20 s of retransmissions is not service: a caller has hung up by then,
and counting it would hide the collapse. ``scr`` (answered / offered, any
delay) is given beside it.

Every (mode, rate, replication) is a pure function of the scenario and
the seed ``scenario.seed + replication`` (the same seeds at every rate:
common random numbers keep the curves smooth), so points run in worker
processes give exactly what a serial run gives.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import simpy
from matplotlib.figure import Figure

from ..scenario import Scenario, scenario_from_mapping
from ..scenario.model import ROLES
from .flows import CallCentre
from .network import collector_tuned
from .simpy_fast import run_until
from .simulate import _engine_counters
from .topology import build_topology

__all__ = ["COLUMNS", "MODES", "SETUP_BOUND_S", "Knee", "SweepProgress", "goodput_sweep", "knee",
           "overload_figure"]

MODES = ("drop", "reject", "loss")
"""Overload modes a sweep compares (see the module docstring)."""
SETUP_BOUND_S = 2.0
"""Default bound on INVITE-to-200 delay for a call to count as goodput, seconds."""
COLUMNS = ["mode", "offered_cps", "measured_offered_cps", "goodput_cps", "answered_cps", "scr",
           "retransmissions_per_call", "timeouts_per_s", "rejections_per_s", "drops_per_s",
           "srd_p95_ms", "bottleneck", "cpu_mean", "cpu_p95", "replications"]

SweepProgress = Callable[[int, int], object]
"""Told (points done, points in all) as a sweep advances; a point is one replication."""

_POLICY = {"drop": "drop", "reject": "503", "loss": "loss"}


def goodput_sweep(
    scenario: Scenario | Mapping[str, Any],
    offered_cps: Sequence[float],
    *,
    overload_modes: Sequence[str] = ("drop", "reject"),
    replications: int = 1,
    setup_bound_s: float = SETUP_BOUND_S,
    progress: SweepProgress | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Goodput, SCR, retransmissions, CPU and overload actions at each offered rate and mode.

    ``scenario``'s traffic rate is replaced by each of ``offered_cps`` and its
    server roles' overload policy by each mode; everything else (topology,
    profiles, queue limits, links, durations) is kept. Returns one row per
    (mode, rate) with the columns :data:`COLUMNS`, averaged over
    ``replications``; ``bottleneck`` is the host with the highest mean CPU
    and ``cpu_mean``/``cpu_p95`` are its figures. ``workers`` processes run
    the points (default: one per CPU; 1 runs them here).
    """
    base = _validate(scenario, offered_cps, overload_modes, replications, setup_bound_s, workers)
    rates = list(dict.fromkeys(float(r) for r in offered_cps))
    modes = list(dict.fromkeys(overload_modes))
    tasks = [(mode, rate, base.seed + r) for mode in modes for rate in rates for r in range(replications)]
    payloads = {(mode, rate): _point_scenario(base, mode, rate) for mode in modes for rate in rates}
    workers = min(len(tasks), workers or os.cpu_count() or 1)
    results: list[dict[str, Any]] = []
    if workers == 1:
        for i, (mode, rate, seed) in enumerate(tasks):
            results.append(run_point(payloads[mode, rate], seed, mode, setup_bound_s))
            if progress is not None:
                progress(i + 1, len(tasks))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run_point, payloads[mode, rate], seed, mode, setup_bound_s)
                       for mode, rate, seed in tasks]
            for i, future in enumerate(futures):
                results.append(future.result())
                if progress is not None:
                    progress(i + 1, len(tasks))
    rows = []
    for mode in modes:
        for rate in rates:
            runs = [res for (m, r, _), res in zip(tasks, results, strict=True) if m == mode and r == rate]
            rows.append(_combine(mode, rate, runs))
    return pd.DataFrame(rows, columns=COLUMNS)


def _validate(scenario: Scenario | Mapping[str, Any], offered_cps: Sequence[float], modes: Sequence[str],
              replications: int, setup_bound_s: float, workers: int | None) -> Scenario:
    if isinstance(scenario, Mapping):
        scenario = scenario_from_mapping(scenario, source="goodput_sweep scenario")
    if not isinstance(scenario, Scenario):
        raise TypeError("goodput_sweep: scenario must be a Scenario or a mapping, "
                        f"got {type(scenario).__name__}")
    if scenario.traffic.arrivals.process == "replay":
        raise ValueError("goodput_sweep: scenario traffic.arrivals.process is 'replay': a sweep sets the "
                         "arrival rate, use 'poisson' or 'profile'")
    if isinstance(offered_cps, str | bytes) or len(offered_cps) == 0:
        raise ValueError("goodput_sweep: offered_cps must be a non-empty sequence of rates, "
                         f"got {offered_cps!r}")
    for i, rate in enumerate(offered_cps):
        number = not isinstance(rate, bool) and isinstance(rate, int | float)
        if not number or not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"goodput_sweep: offered_cps[{i}] must be a finite rate > 0, got {rate!r}")
    if isinstance(modes, str) or len(modes) == 0:
        raise ValueError(f"goodput_sweep: overload_modes must be a non-empty sequence of {MODES}, "
                         f"got {modes!r}")
    for i, mode in enumerate(modes):
        if mode not in MODES:
            raise ValueError(f"goodput_sweep: overload_modes[{i}] must be one of {MODES}, got {mode!r}")
    if isinstance(replications, bool) or not isinstance(replications, int) or replications < 1:
        raise ValueError(f"goodput_sweep: replications must be an integer >= 1, got {replications!r}")
    if isinstance(setup_bound_s, bool) or not isinstance(setup_bound_s, int | float) or not setup_bound_s > 0:
        raise ValueError(f"goodput_sweep: setup_bound_s must be > 0, got {setup_bound_s!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"goodput_sweep: workers must be an integer >= 1 or None, got {workers!r}")
    return scenario


def _point_scenario(base: Scenario, mode: str, rate: float) -> dict[str, Any]:
    """The scenario of one point, as plain data a worker process validates again."""
    data = base.model_dump(mode="json")
    traffic = data["traffic"]
    traffic["calls_per_second"] = rate
    traffic["busy_hour_calls"] = None
    for role in ROLES:
        data["topology"][role]["overload"]["policy"] = _POLICY[mode]
    return data


def run_point(scenario: Scenario | dict[str, Any], seed: int, mode: str,
              setup_bound_s: float = SETUP_BOUND_S) -> dict[str, Any]:
    """One replication of one sweep point: the call and host figures as plain data."""
    if not isinstance(scenario, Scenario):
        scenario = Scenario.model_validate(scenario)
    env = simpy.Environment()
    topo = build_topology(scenario, env, seed=seed)
    centre = CallCentre(topo, seed)
    setups = _SetupTimes(centre)
    centre.start()
    with collector_tuned(collect_first=True):
        run_until(env, scenario.warmup_s)
        before = _engine_counters(topo, centre)  # the engine's counters run from 0 s: the window only
        end = scenario.warmup_s + scenario.duration_s
        run_until(env, end)
        kpis = centre.figures()
        counted = {k: v - before[k] for k, v in _engine_counters(topo, centre).items()}
        hosts = topo.net.metrics.hosts_frame()
        run_until(env, end + setup_bound_s)  # the last calls offered get their setup_bound_s too
    window = scenario.duration_s
    delays = np.asarray(setups.delays, dtype=float)
    offered = kpis["calls_offered"]
    busiest = str(hosts["cpu_mean"].idxmax()) if len(hosts) else ""
    return {
        "measured_offered_cps": offered / window,
        "goodput_cps": float(np.count_nonzero(delays <= setup_bound_s)) / window,
        "answered_cps": len(delays) / window,
        "scr": len(delays) / offered if offered else math.nan,
        "retransmissions_per_call": counted["retransmissions"] / offered if offered else math.nan,
        "timeouts_per_s": counted["transaction_timeouts"] / window,
        "rejections_per_s": float(hosts["rejected_per_s"].sum()) if len(hosts) else 0.0,
        "drops_per_s": float(hosts["dropped_per_s"].sum()) if len(hosts) else 0.0,
        "srd_p95_ms": kpis["srd_p95_ms"],
        "bottleneck": busiest,
        "cpu_mean": float(hosts.loc[busiest, "cpu_mean"]) if busiest else math.nan,
        "cpu_p95": float(hosts.loc[busiest, "cpu_p95"]) if busiest else math.nan,
    }


class _SetupTimes:
    """Records, for each measured call the caller saw answered, the INVITE-to-200 delay
    (engine and replayed calls alike: both tell the driver's ``caller_told``)."""

    def __init__(self, centre: CallCentre) -> None:
        self.delays: list[float] = []
        self._inner = centre.caller_told
        centre.caller_told = self._told  # type: ignore[method-assign]

    def _told(self, fc: Any, kind: str, status: int | None, now: float) -> None:
        if kind == "answered" and fc.measured and fc.answered_at is None and not fc.blocked:
            self.delays.append(now - fc.t0)
        self._inner(fc, kind, status, now)


def _combine(mode: str, rate: float, runs: list[dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {"mode": mode, "offered_cps": rate, "replications": len(runs)}
    for column in COLUMNS:
        if column in row:
            continue
        values = [run[column] for run in runs]
        if column == "bottleneck":
            row[column] = max(set(values), key=values.count)
            continue
        finite = [v for v in values if math.isfinite(v)]
        row[column] = float(np.mean(finite)) if finite else math.nan
    return row


@dataclass(frozen=True)
class Knee:
    """Where goodput stops following the offered load: the sweep's capacity."""

    offered_cps: float
    """The offered rate at which goodput is highest."""
    goodput_cps: float
    """The highest goodput of the sweep (its estimate of capacity)."""
    mode: str


def knee(frame: pd.DataFrame, mode: str | None = None) -> Knee:
    """The point of highest goodput (of ``mode``, or of every mode) in a sweep frame."""
    missing = [c for c in ("mode", "offered_cps", "goodput_cps") if c not in frame]
    if missing:
        raise ValueError(f"knee: the frame lacks column(s) {missing} (pass goodput_sweep's result)")
    rows = frame if mode is None else frame[frame["mode"] == mode]
    rows = rows[np.isfinite(rows["goodput_cps"].to_numpy(dtype=float))]
    if rows.empty:
        raise ValueError(f"knee: no finite goodput{'' if mode is None else f' for mode {mode!r}'}")
    best = rows.loc[rows["goodput_cps"].idxmax()]
    return Knee(float(best["offered_cps"]), float(best["goodput_cps"]), str(best["mode"]))


def overload_figure(frame: pd.DataFrame, *, capacity_cps: float | None = None,
                    title: str = "Goodput vs offered load") -> Figure:
    """Goodput against offered load, one line per overload mode; the knee (highest
    goodput) is marked, the diagonal is the ideal, ``capacity_cps`` (e.g. from the
    cost profile) is drawn as a reference line."""
    point = knee(frame)
    fig = Figure(figsize=(7.5, 3.6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    labels = {"drop": "drop (no control)", "reject": "503 (reject)", "loss": "loss-based (RFC 7339)"}
    for mode, rows in frame.groupby("mode", sort=False):
        rows = rows.sort_values("offered_cps")
        ax.plot(rows["offered_cps"], rows["goodput_cps"], marker="o", lw=1.5,
                label=labels.get(str(mode), str(mode)))
    top = float(max(frame["offered_cps"].max(), frame["goodput_cps"].max()))
    ax.plot([0, top], [0, top], color="grey", ls=":", lw=1, label="ideal")
    ax.axvline(point.offered_cps, color="crimson", ls="--", lw=1)
    ax.plot([point.offered_cps], [point.goodput_cps], marker="*", ms=12, color="crimson",
            label=f"knee: {point.goodput_cps:.3g} calls/s")
    if capacity_cps is not None:
        ax.axhline(capacity_cps, color="black", ls="-.", lw=1, label=f"capacity {capacity_cps:.3g} calls/s")
    ax.set(title=title, xlabel="offered (calls/s)", ylabel="goodput (calls/s set up in time)",
           xlim=(0, top * 1.05), ylim=(0, top * 1.05))
    ax.legend(fontsize=7)
    return fig
