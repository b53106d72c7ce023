"""The simulated candidate search: simulate deployments from the closed form's, grow one
that misses a target, shrink one comfortably under, and make the plan of the smallest
that met every target (its deployment, KPIs and confidence)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from sizing import flows as call_flows
from sizing.plan.formulas import hosts_text, standby_hosts
from sizing.plan.links import _directions_frame, _links_frame, direction_frame, split_cti
from sizing.plan.model import DEPLOYMENT_COLUMNS, ClosedForm, Plan, _deploy
from sizing.plan.names import link_name
from sizing.scenario import Scenario


@dataclass
class _Measured:
    """What one simulated candidate showed, per role and overall."""

    cpu_p95: dict[str, float]
    cpu_p95_ci: dict[str, float]
    kpis: dict[str, float]
    links_mbps: dict[str, tuple[float, float]]
    """link -> (signalling Mbps, media Mbps)."""
    series: dict[str, pd.DataFrame]
    replications: int
    warnings: list[str] = field(default_factory=list)
    """The simulations' warnings (e.g. warm-up too short), each once."""
    directions_mbps: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    """(src role, dst role) -> (signalling Mbps, media Mbps) sent that way."""
    tls_cpu_share: dict[str, float] = field(default_factory=dict)
    """Per role: the share of its hosts' CPU spent on TLS (mean over hosts and replications)."""
    cpu_mean: dict[str, float] = field(default_factory=dict)
    """Per role: CPU utilisation, the mean over its hosts, seconds and replications."""


def _finite_mean(values: list[Any]) -> float:
    finite = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _ci95(values: list[float]) -> float:
    """Half-width of a 95 % Student-t interval of the mean (NaN for one value)."""
    if len(values) < 2:
        return math.nan
    from scipy import stats

    return float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1)
                 / math.sqrt(len(values)))


def _grow(hosts: dict[str, int], measured: _Measured, scenario: Scenario,
          channels: int) -> tuple[dict[str, int], int, str]:
    """The next, larger candidate after a miss, and why."""
    t = scenario.targets
    new = dict(hosts)
    reasons = []
    for role, n in hosts.items():
        p95 = measured.cpu_p95.get(role, 0.0)
        if p95 > t.cpu_target(role):
            new[role] = max(n + 1, math.ceil(n * p95 / t.cpu_target(role)))
            reasons.append(f"{role} CPU p95 {p95:.0%} > {t.cpu_target(role):.0%}")
    srd = measured.kpis.get("srd_p95_ms", 0.0)
    if srd > t.srd_p95_max_ms and not reasons:
        role = max(hosts, key=lambda r: measured.cpu_p95.get(r, 0.0) / t.cpu_target(r))
        new[role] = hosts[role] + 1
        reasons.append(f"SRD p95 {srd:.0f} ms > {t.srd_p95_max_ms:g} ms")
    blocking = measured.kpis.get("blocking_ratio", 0.0)
    if blocking > t.blocking_max:
        channels = channels + max(1, math.ceil(0.05 * channels))
        reasons.append(f"blocking {blocking:.2%} > {t.blocking_max:.2%}")
    return new, channels, "; ".join(reasons)


def _shrink(hosts: dict[str, int], measured: _Measured, scenario: Scenario,
            fixed: Mapping[str, int]) -> dict[str, int]:
    """One host fewer in every role whose CPU p95 would still meet its target
    (scaled as n / (n - 1)), never below what media ports need."""
    new = dict(hosts)
    for role, n in hosts.items():
        p95 = measured.cpu_p95.get(role, 1.0)
        if n > max(1, fixed.get(role, 1)) and p95 * n / (n - 1) < 0.9 * \
                scenario.targets.cpu_target(role):
            new[role] = n - 1
    return new


def _met(measured: _Measured, scenario: Scenario) -> tuple[bool, str]:
    t = scenario.targets
    misses = [f"{r} CPU p95 {v:.0%}" for r, v in measured.cpu_p95.items()
              if v > t.cpu_target(r)]
    if measured.kpis.get("srd_p95_ms", 0.0) > t.srd_p95_max_ms:
        misses.append(f"SRD p95 {measured.kpis['srd_p95_ms']:.0f} ms")
    if measured.kpis.get("blocking_ratio", 0.0) > t.blocking_max:
        misses.append(f"blocking {measured.kpis['blocking_ratio']:.2%}")
    return not misses, ", ".join(misses)


CandidateProgress = Callable[[int, int, Mapping[str, int], int], object]
"""Told before each simulated candidate: its number (from 1), the most candidates the
search may try, hosts per role and trunk channels."""


def _role_of(host: str, roles: Mapping[str, str]) -> str:
    role = roles.get(host) or host.rsplit("-", 1)[0]
    return "standby" if host.endswith("-standby") else role


def _measure(results: list[Any]) -> _Measured:
    """Per-role CPU p95 (the busiest host, mean and CI over replications), KPIs and
    link Mbps (both directions, by role pair) of one replication's Result each."""
    per_role: dict[str, list[float]] = {}
    means: dict[str, list[float]] = {}
    for res in results:
        worst = res.hosts.groupby("role")["cpu_p95"].max()
        for role, v in worst.items():
            per_role.setdefault(str(role), []).append(float(v))
        for role, v in res.hosts.groupby("role")["cpu_mean"].mean().items():
            means.setdefault(str(role), []).append(float(v))
    cpu = {r: float(np.mean(v)) for r, v in per_role.items() if r in _SIZED}
    ci = {r: _ci95(v) for r, v in per_role.items() if r in _SIZED}
    tls_share: dict[str, list[float]] = {}
    for res in results:
        if "tls_cpu_share" in res.hosts:
            for role, v in zip(res.hosts["role"], res.hosts["tls_cpu_share"], strict=True):
                tls_share.setdefault(str(role), []).append(v)
    keys = [k for k, v in results[0].kpis.items() if isinstance(v, int | float)]
    kpis = {k: _finite_mean([r.kpis.get(k, math.nan) for r in results]) for k in keys}
    links: dict[str, list[float]] = {}
    directions: dict[tuple[str, str], list[float]] = {}
    for res in results:
        roles = dict(zip(res.hosts["name"], res.hosts["role"], strict=True))
        for row in res.links.itertuples():
            src, dst = _role_of(row.src, roles), _role_of(row.dst, roles)
            sig = (row.signalling_kbps + row.data_kbps) / 1000 / len(results)
            med = row.media_kbps / 1000 / len(results)
            for acc in (links.setdefault(link_name(src, dst), [0.0, 0.0]),
                        directions.setdefault((src, dst), [0.0, 0.0])):
                acc[0] += sig
                acc[1] += med
    first = results[0]
    series = {"cpu": first.cpu_series[[c for c in first.cpu_series.columns
                                        if _role_of(c, {}) in _SIZED]],
              "calls": first.concurrent_series.to_frame(),
              "srd": _srd_buckets(results)}
    warnings = list(dict.fromkeys(w for res in results for w in res.warnings))
    return _Measured(cpu, ci, kpis, {k: (v[0], v[1]) for k, v in links.items()}, series,
                     len(results), warnings, {k: (v[0], v[1]) for k, v in directions.items()},
                     {r: _finite_mean(v) for r, v in tls_share.items()},
                     {r: _finite_mean(v) for r, v in means.items() if r in _SIZED})


def _srd_buckets(results: list[Any]) -> pd.DataFrame:
    """The SRD histogram buckets of every replication, summed bucket by bucket."""
    frames = [r.srd.buckets for r in results if not r.srd.buckets.empty]
    if not frames:
        return pd.DataFrame(columns=["lower_ms", "upper_ms", "calls"])
    return (pd.concat(frames).groupby(["lower_ms", "upper_ms"], as_index=False)["calls"].sum()
            .sort_values("upper_ms").reset_index(drop=True))


_SIZED = frozenset(("sbc", "proxy", "sip_server", "media_server", "recorder", "registrar"))


def _run(scenario: Scenario, progress: Any, workers: int = 1) -> list[Any]:
    """One Result per replication (seeds seed, seed+1, ...), in up to ``workers``
    processes: a batch parallelises across sites, so each of its plans runs serially."""
    from sizing.sim.simulate import replication_results

    return replication_results(scenario, progress=progress, workers=workers)


class _Candidate(NamedTuple):
    """One simulated deployment of the search."""

    hosts: dict[str, int]
    channels: int
    measured: _Measured
    met: bool
    missed: str


def _simulated_plan(scenario: Scenario, cf: ClosedForm, *, progress: Any,
                    max_rounds: int, cores_options: tuple[int, ...] | None = None,
                    on_candidate: CandidateProgress | None = None, workers: int = 1) -> Plan:
    t = scenario.targets
    cores = dict(zip(cf.roles["role"], cf.roles["cores_per_host"].astype(int), strict=True))
    floor = {r: (int(n) if b == "media_ports" else 1)
             for r, n, b in zip(cf.roles["role"], cf.roles["hosts"], cf.roles["binding"],
                                strict=True)}
    tried, srd_roles = _search(scenario, cf, cores, floor, progress=progress, max_rounds=max_rounds,
                               on_candidate=on_candidate, workers=workers)
    good = [x for x in tried if x.met]
    best = min(good, key=lambda x: (sum(n * cores[r] for r, n in x.hosts.items()), x.channels)) \
        if good else tried[-1]
    m = best.measured
    dep = _simulated_deployment(scenario, cf, best, floor, srd_roles)
    links = pd.DataFrame([{"link": name, "signalling_mbps": s, "media_mbps": med}
                          for name, (s, med) in sorted(m.links_mbps.items()) if s + med > 0],
                         columns=["link", "signalling_mbps", "media_mbps"])
    links["total_mbps"] = links["signalling_mbps"] + links["media_mbps"]
    links["required_mbps"] = links["total_mbps"] / (1 - t.link_headroom)
    links = split_cti(links)
    flows = direction_frame(m.directions_mbps, t.link_headroom)
    links = _links_frame(links, scenario, flows)
    directions = _directions_frame(flows, scenario)
    expected = _expected_in_progress(scenario)
    cand = pd.DataFrame([
        {"round": i + 1, **{f"{r} hosts": n for r, n in c.hosts.items()}, "trunk channels": c.channels,
         "met": "yes" if c.met else "NO", "missed": c.missed}
        for i, c in enumerate(tried)])
    return Plan(name=scenario.name, scenario=scenario, deployment=dep,
                trunk_channels=best.channels, offered_erlangs=cf.offered_erlangs,
                erlang_b_channels=cf.trunk_channels, links=links,
                kpis=_simulated_kpis(scenario, m, dep, expected), candidates=cand,
                confidence=_confidence(scenario, cf, m, len(tried), expected), simulated=True,
                met=bool(best.met and links["fits"].all()),
                closed=cf, series=m.series, cores_options=cores_options, warnings=m.warnings,
                directions=directions)


def _search(scenario: Scenario, cf: ClosedForm, cores: dict[str, int], floor: dict[str, int], *,
            progress: Any, max_rounds: int, on_candidate: CandidateProgress | None,
            workers: int) -> tuple[list[_Candidate], set[str]]:
    """Simulate deployments from the closed form's: shrink one that meets the targets,
    grow one that does not, until one repeats or the rounds run out. The deployments
    tried, and the roles grown for set-up delay (SRD p95) rather than CPU."""
    t = scenario.targets
    hosts = dict(zip(cf.roles["role"], cf.roles["hosts"].astype(int), strict=True))
    channels = cf.trunk_channels
    tried: list[_Candidate] = []
    seen: set[tuple] = set()
    srd_roles: set[str] = set()
    while len(tried) < max(1, max_rounds):
        key = (tuple(sorted(hosts.items())), channels)
        if key in seen:
            break
        seen.add(key)
        if on_candidate is not None:
            on_candidate(len(tried) + 1, max(1, max_rounds), dict(hosts), channels)
        measured = _measure(_run(_deploy(scenario, hosts, channels, cores), progress, workers))
        ok, why = _met(measured, scenario)
        tried.append(_Candidate(dict(hosts), channels, measured, ok, why))
        if ok:
            smaller = _shrink(hosts, measured, scenario, floor)
            if smaller == hosts:
                break
            hosts = smaller
        else:
            new, channels, _ = _grow(hosts, measured, scenario, channels)
            srd_roles |= {r for r in hosts if new[r] > hosts[r]} \
                if measured.kpis.get("srd_p95_ms", 0.0) > t.srd_p95_max_ms else set()
            hosts = new
    return tried, srd_roles


def _simulated_deployment(scenario: Scenario, cf: ClosedForm, best: _Candidate, floor: dict[str, int],
                          srd_roles: set[str]) -> pd.DataFrame:
    """The chosen deployment's rows: hosts, standbys, cores and CPU per role, what binds
    and why, in words."""
    t, m = scenario.targets, best.measured
    rows = []
    for r in cf.roles.itertuples():
        n = best.hosts[r.role]
        target = t.cpu_target(r.role)
        p95 = m.cpu_p95.get(r.role, math.nan)
        if r.binding == "media_ports" and n == floor[r.role]:
            binding = "media_ports"
        elif r.role in srd_roles and p95 <= target:
            binding = "srd_p95"
        elif n > 1 or p95 > 0.5 * target:
            binding = "cpu_p95"
        else:
            binding = "minimum"
        standbys = standby_hosts(scenario, r.role, n)
        rows.append({"role": r.role, "hosts": n, "standby_hosts": standbys,
                     "cores_per_host": r.cores_per_host,
                     "total_cores": (n + standbys) * r.cores_per_host,
                     "cpu_mean": m.cpu_mean.get(r.role, math.nan), "cpu_p95": p95,
                     "cpu_p95_ci": m.cpu_p95_ci.get(r.role, math.nan), "cpu_target": target,
                     "binding": binding, "tls_cpu_share": m.tls_cpu_share.get(r.role, math.nan),
                     "reason": f"{hosts_text(n, standbys, r.cores_per_host, scenario.ha_mode(r.role))}: "
                               f"{100 * p95:.1f} % CPU p95 on the busiest host (simulated, 1-s "
                               f"samples), target {100 * target:.0f} %; cores per host: "
                               f"{r.size_choice}"})
    return pd.DataFrame(rows, columns=DEPLOYMENT_COLUMNS)


def _simulated_kpis(scenario: Scenario, m: _Measured, dep: pd.DataFrame, expected: float) -> pd.DataFrame:
    """The targets met or missed, then the figures a planner reads beside them."""
    t, k = scenario.targets, m.kpis
    kpi_rows = [
        {"kpi": "blocking_ratio", "value": k.get("blocking_ratio", math.nan),
         "target": t.blocking_max, "met": k.get("blocking_ratio", 0.0) <= t.blocking_max},
        {"kpi": "srd_p95_ms", "value": k.get("srd_p95_ms", math.nan),
         "target": t.srd_p95_max_ms, "met": k.get("srd_p95_ms", 0.0) <= t.srd_p95_max_ms},
        {"kpi": "cpu_p95_max", "value": float(dep["cpu_p95"].max()),
         "target": float(dep["cpu_target"].min()),
         "met": bool((dep["cpu_p95"] <= dep["cpu_target"]).all())},
    ]
    for name in ("srd_p50_ms", "scr", "calls_offered", "calls_blocked",
                 "peak_concurrent_calls", "mean_concurrent_calls"):
        if name in k:
            kpi_rows.append({"kpi": name, "value": k[name], "target": math.nan, "met": math.nan})
    if math.isfinite(expected):
        kpi_rows.append({"kpi": "expected_concurrent_calls", "value": expected,
                         "target": math.nan, "met": math.nan})
    return pd.DataFrame(kpi_rows)


def _confidence(scenario: Scenario, cf: ClosedForm, m: _Measured, simulated: int, expected: float) -> str:
    """How far to trust the figures: replications, window, CIs, warnings, and the calls
    in progress against those expected."""
    k = m.kpis
    ci = [f"{r} {100 * v:.1f} ± {100 * m.cpu_p95_ci[r]:.1f} %"
          for r, v in m.cpu_p95.items() if not math.isnan(m.cpu_p95_ci.get(r, math.nan))]
    confidence = (f"{m.replications} replication(s) of {scenario.duration_s:g} s after "
                  f"{scenario.warmup_s:g} s warm-up; {simulated} deployment(s) simulated. ")
    confidence += "CPU mean: over the role's hosts and the window; CPU p95: of the 1-s " \
        "samples of the role's busiest host. "
    confidence += ("CPU p95 of the busiest host per role, 95 % CI: " + "; ".join(ci)) if ci \
        else "One replication: no confidence interval (set replications >= 2)."
    if m.warnings:
        confidence += "".join(f" Warning: {w}." for w in m.warnings)
    confidence += _in_progress_note(k.get("mean_concurrent_calls", math.nan), expected,
                                    cf.offered_erlangs, k.get("blocking_ratio", 0.0))
    return confidence


def _expected_in_progress(scenario: Scenario) -> float:
    """Calls in progress the call mix holds at the scenario's rate (its first hour's, for a
    busy-hour profile: what the simulation measures), below the trunk's limit."""
    traffic = scenario.traffic
    rate = traffic.rate_cps
    if rate is None:
        return math.nan
    if traffic.arrivals.process == "profile":
        rate *= traffic.arrivals.rate_factor(0.0)
    return min(call_flows.expected_in_progress(scenario, rate), float(scenario.trunk.channels))


def _in_progress_note(measured: float, expected: float, offered: float, blocking: float) -> str:
    """Why the calls in progress differ from the offered erlangs, when they do by over 5 %."""
    if not (math.isfinite(measured) and math.isfinite(expected) and offered > 0):
        return ""
    if abs(measured / offered - 1) <= 0.05:
        return ""
    why = (f" Calls in progress: {measured:,.1f} measured, {expected:,.1f} expected from the call "
           f"mix, {offered:,.1f} erlangs offered: the offered erlangs count every call at the "
           "full holding time, while abandoned and busy or unanswered calls hold a channel for "
           "seconds, and ringing, the IVR and consultations add to it")
    if blocking > 0:
        why += f"; {100 * blocking:.1f} % of calls were blocked"
    return why + "."
