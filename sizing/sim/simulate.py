"""``simulate(scenario) -> Result``: build the topology, drive the flows, collect the figures.

Each replication ``r`` runs the scenario with seed ``scenario.seed + r`` in a
fresh SimPy environment; it is a pure function of (scenario, seed), so
replications run in worker processes give exactly what a serial run gives.
KPIs are averaged over replications with a 95 % Student-t confidence
half-width; host and link tables are averaged row by row, the
concurrent-calls series second by second, and the SRD histograms are summed.
The first ``warmup_s`` simulated seconds are not measured.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import simpy
from scipy import stats as st

from ..scenario import Scenario
from .fault import FaultInjector
from .flows import CallCentre
from .network import collector_tuned
from .replay.check import engine_gap
from .result import HOST_COLUMNS, LINK_COLUMNS, Result, SrdDistribution, srd_plain
from .simpy_fast import run_until
from .topology import Topology, build_topology
from .warmup import warmup_warnings

__all__ = ["Progress", "replication_results", "run_replication", "simulate"]

Progress = Callable[[float, float], object]
"""Told (simulated seconds done, simulated seconds in all) as a run advances."""


def _tables(topo: Topology, centre: CallCentre) -> tuple[pd.DataFrame, pd.DataFrame]:
    metrics = topo.net.metrics
    start, end = metrics.window()
    seconds = max(end - start, 1)
    frame = metrics.hosts_frame()
    roles = topo.roles()
    hosts = []
    for name, row in frame.iterrows():
        hosts.append({
            "name": name, "role": roles.get(str(name), ""), "cores": int(row["cores"]),
            "cpu_mean": row["cpu_mean"], "cpu_p95": row["cpu_p95"], "cpu_p99": row["cpu_p99"],
            "msgs_per_s": row["rx_per_s"] + row["tx_per_s"],
            "wait_mean_ms": row["wait_mean_ms"], "wait_p95_ms": row["wait_p95_ms"],
            "dropped_per_s": row["dropped_per_s"], "rejected_per_s": row["rejected_per_s"],
            "tls_cpu_share": row["tls_cpu_share"],
        })
    ledger = centre.ledger
    pairs = set(metrics.links) | set(ledger.media_bytes) | set(ledger.data_bytes)
    links = []
    for src, dst in sorted(pairs):
        sig = metrics.links.get((src, dst))
        sig_bytes = sum(sig.bytes[start:end]) if sig is not None else 0.0
        sig_pkts = sum(sig.packets[start:end]) if sig is not None else 0.0
        opened = sum(sig.connections[start:end]) if sig is not None else 0.0
        media, media_pkts = ledger.media_window((src, dst), start, end)
        data = ledger.data_window((src, dst), start, end)
        kbps = 8 / 1000 / seconds
        links.append({
            "src": src, "dst": dst, "signalling_kbps": sig_bytes * kbps, "media_kbps": media * kbps,
            "data_kbps": data * kbps, "total_kbps": (sig_bytes + media + data) * kbps,
            "signalling_pps": sig_pkts / seconds, "media_pps": media_pkts / seconds,
            "connections_per_s": opened / seconds,
        })
    return (pd.DataFrame(hosts, columns=HOST_COLUMNS), pd.DataFrame(links, columns=LINK_COLUMNS))


def _engine_counters(topo: Topology, centre: CallCentre) -> dict[str, float]:
    """Retransmissions (every repeat a transaction or a user agent's dialog sends; a
    proxy's forward of a repeat is not one), timeouts and overload counts so far."""
    retrans = timeouts = 0
    if centre.replayer is not None:
        retrans, timeouts = centre.replayer.retransmissions, centre.replayer.timeouts
    for node in topo.nodes:
        element = node.element
        layer = getattr(element, "layer", None)
        if layer is None:
            continue
        retrans += layer.stats.retransmissions_sent
        timeouts += sum(layer.stats.timeouts.values())
        # a user agent's ACK repeats (its 2xx repeats pass its server transaction, counted there)
        retrans += getattr(getattr(element, "stats", None), "ack_retransmissions", 0)
    rejected = sum(h.rejected for h in topo.net.hosts.values())
    dropped = sum(h.dropped for h in topo.net.hosts.values())
    throttled = sum(client.throttled for client in topo.oc_clients)
    return {"retransmissions": retrans, "transaction_timeouts": timeouts,
            "overload_rejections": rejected, "overload_drops": dropped,
            "overload_throttled": throttled}


def run_replication(scenario: Scenario | dict[str, Any], seed: int,
                    progress: Progress | None = None) -> dict[str, Any]:
    """One replication: KPIs, host and link rows, the CPU and concurrent-calls series
    and the SRD histogram, as plain data."""
    if not isinstance(scenario, Scenario):
        scenario = Scenario.model_validate(scenario)
    env = simpy.Environment()
    topo = build_topology(scenario, env, seed=seed)
    centre = CallCentre(topo, seed)
    faults = FaultInjector(topo, centre, seed) if scenario.simulation.faults else None
    centre.start()
    if faults is not None:
        faults.start()
    end = scenario.warmup_s + scenario.duration_s
    # The engine's counters run from 0 s; the KPIs count the measured window only.
    at_warmup: dict[str, float] = dict.fromkeys(_engine_counters(topo, centre), 0.0)
    topo.net.clock.call_at(scenario.warmup_s, lambda: at_warmup.update(_engine_counters(topo, centre)))
    with collector_tuned(collect_first=True):  # see sizing.sim.network.collector_tuned: a third of the run time
        if progress is not None:
            step = max(end / 100.0, 1.0)
            t = step
            while t < end:
                run_until(env, t)
                progress(t, end)
                t += step
        run_until(env, end)
    if progress is not None:
        progress(end, end)
    kpis = centre.figures()
    kpis.update({k: v - at_warmup[k] for k, v in _engine_counters(topo, centre).items()})
    offered = kpis.get("calls_offered") or 0
    kpis["retransmissions_per_call"] = kpis["retransmissions"] / offered if offered else math.nan
    hosts, links = _tables(topo, centre)
    cpu = topo.net.metrics.cpu_series()
    if faults is not None:
        kpis.update(faults.figures(cpu))
    return {"seed": seed, "kpis": kpis, "hosts": hosts.to_dict("list"), "links": links.to_dict("list"),
            "cpu": cpu.to_dict("list"), "cpu_index": list(cpu.index),
            "concurrent": centre.concurrent_series(), "concurrent_start": math.ceil(scenario.warmup_s),
            "srd_hist": srd_plain(centre.srd_hist),
            "compared": [(flow, engine, *figures) for (flow, engine), figures in centre.compared.items()]}


def _half_width(values: list[float]) -> float:
    data = np.asarray([v for v in values if isinstance(v, int | float) and math.isfinite(v)], dtype=float)
    if data.size < 2:
        return math.nan
    return float(st.t.ppf(0.975, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size))


def _mean(values: list[float]) -> float:
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def simulate(scenario: Scenario, *, progress: Progress | None = None, workers: int | None = None) -> Result:
    """Simulate ``scenario`` (all its replications) and return the figures.

    Replications run in up to ``workers`` processes (default: one per CPU, at
    most one per replication); ``progress`` is told the simulated seconds done
    (with several replications: whole replications, as seconds).
    """
    runs = _runs(scenario, progress, workers)
    result = _combine(runs)
    result.warnings = warmup_warnings(scenario, result.concurrent_series) + _self_check(runs)
    return result


def replication_results(scenario: Scenario, *, progress: Progress | None = None,
                        workers: int | None = None) -> list[Result]:
    """One :class:`Result` per replication (for a search that needs the spread between
    them), run as :func:`simulate` runs them; the hybrid self-check pools all of them."""
    runs = _runs(scenario, progress, workers)
    check = _self_check(runs)
    results = []
    for run in runs:
        result = _combine([run])
        result.warnings = warmup_warnings(scenario, result.concurrent_series) + check
        results.append(result)
    return results


def _runs(scenario: Scenario, progress: Progress | None, workers: int | None) -> list[dict[str, Any]]:
    if not isinstance(scenario, Scenario):
        raise TypeError(f"simulate() needs a Scenario, got {type(scenario).__name__}")
    seeds = [scenario.seed + r for r in range(scenario.replications)]
    end = scenario.warmup_s + scenario.duration_s
    workers = min(len(seeds), workers or os.cpu_count() or 1)
    if len(seeds) == 1 or workers == 1:
        runs = []
        for i, seed in enumerate(seeds):
            def told(t: float, total: float, i: int = i) -> None:
                if progress is not None:
                    progress(i * end + t, len(seeds) * end)
            runs.append(run_replication(scenario, seed, told if progress is not None else None))
        return runs
    data = scenario.model_dump(mode="json")
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_replication, data, seed) for seed in seeds]
        runs = []
        for i, future in enumerate(futures):
            runs.append(future.result())
            if progress is not None:
                progress((i + 1) * end, len(seeds) * end)
    return runs


def _self_check(runs: list[dict[str, Any]]) -> list[str]:
    """The hybrid engine's self-check over all replications together: each keeps its
    share of the engine's sample (see ``CallCentre._hybrid``), so only the pool has
    enough calls of every flow to compare."""
    pooled: dict[tuple[str, bool], list[Any]] = {}
    for run in runs:
        for flow, engine, srds, answered, offered in run.get("compared", ()):
            into = pooled.setdefault((flow, engine), [[], 0, 0])
            into[0] += srds
            into[1] += answered
            into[2] += offered
    gaps = []
    for flow in sorted({f for f, _engine in pooled}):
        ours, replayed = pooled.get((flow, True)), pooled.get((flow, False))
        if ours is None or replayed is None:
            continue
        gap = engine_gap(ours[0], replayed[0], (ours[1], replayed[1]), (ours[2], replayed[2]))
        if gap is not None:
            gaps.append(f"{flow}: {gap}")
    if not gaps:
        return []
    return ["hybrid engine self-check: the calls run on the full engine and the replayed ones "
            f"disagree beyond chance ({'; '.join(gaps)}); rerun with simulation.engine full to see "
            "which is right"]


def _combine(runs: list[dict[str, Any]]) -> Result:
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run["kpis"] if k not in keys]
    per_rep = [run["kpis"] for run in runs]
    kpis = {k: _mean([r.get(k, math.nan) for r in per_rep]) for k in keys}
    ci = {k: _half_width([r.get(k, math.nan) for r in per_rep]) for k in keys}
    for k in ("calls_offered", "calls_blocked", "peak_concurrent_calls"):
        if k in kpis and len(runs) == 1:
            kpis[k] = int(kpis[k])
    hosts = _average([pd.DataFrame(run["hosts"]) for run in runs], ["name", "role"])
    links = _average([pd.DataFrame(run["links"]) for run in runs], ["src", "dst"])
    first = runs[0]
    cpu = pd.DataFrame(first["cpu"], index=pd.Index(first["cpu_index"], name="second"))
    calls = {k: kpis[k] for k in keys if k.startswith(("calls_", "rejected_"))}
    return Result(kpis=kpis, hosts=hosts, links=links, cpu_series=cpu, calls=calls, ci=ci,
                  replications=per_rep, seeds=[run["seed"] for run in runs],
                  concurrent_series=_concurrent(runs),
                  srd=SrdDistribution.combine([run["srd_hist"] for run in runs]))


def _concurrent(runs: list[dict[str, Any]]) -> pd.Series:
    """The replications' per-second concurrent calls, averaged second by second."""
    length = min(len(run["concurrent"]) for run in runs)
    start = runs[0]["concurrent_start"]
    values = np.mean([run["concurrent"][:length] for run in runs], axis=0) if length else []
    return pd.Series(values, index=pd.RangeIndex(start, start + length, name="second"),
                     name="concurrent_calls", dtype=float)


def _average(frames: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    merged = pd.concat(frames)
    order = frames[0][keys].apply(tuple, axis=1).tolist()
    out = merged.groupby(keys, sort=False).mean(numeric_only=True).reset_index()
    if "cores" in out:
        out["cores"] = out["cores"].astype(int)
    out["_order"] = out[keys].apply(tuple, axis=1).map({k: i for i, k in enumerate(order)})
    return out.sort_values("_order", na_position="last").drop(columns="_order").reset_index(drop=True)
