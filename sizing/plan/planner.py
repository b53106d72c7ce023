""":func:`plan`: the closed form, then (``simulate``) the simulated search, for the
smallest deployment meeting a scenario's targets; :func:`compare` and :data:`WHAT_IF`:
the same plan for variants of a scenario, side by side."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from sizing.plan.formulas import _closed_plan, closed_form
from sizing.plan.host_size import check_cores_options
from sizing.plan.model import Plan
from sizing.plan.search import CandidateProgress, _simulated_plan
from sizing.scenario import Scenario, apply_overrides


def _with_targets(scenario: Scenario, targets: Any) -> Scenario:
    if targets is None:
        return scenario
    data = targets.model_dump() if hasattr(targets, "model_dump") else dict(targets)
    return apply_overrides(scenario, [f"targets.{k}={_yaml(v)}" for k, v in data.items()],
                           source="targets")


def _yaml(value: Any) -> str:
    import json

    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def plan(scenario: Scenario, targets: Any = None, *, simulate: bool = True,
         progress: Any = None, max_rounds: int = 4,
         cores_options: Iterable[int] | None = None,
         on_candidate: CandidateProgress | None = None, workers: int = 1) -> Plan:
    """The smallest deployment meeting the targets (``targets`` replaces the
    scenario's: a :class:`~sizing.scenario.Targets` or a mapping of its fields).

    The closed form gives the first candidate; with ``simulate`` up to
    ``max_rounds`` candidates around it are simulated (see the module doc) and
    the smallest that met every target is returned; when none did, the last one
    is, with ``met`` False.  ``progress(done, total)`` is told the simulated seconds
    of the candidate being simulated (every replication); ``on_candidate`` when a
    candidate starts (see :data:`CandidateProgress`).
    Each role's cores per host are chosen from ``cores_options`` (e.g. ``(2, 4, 8,
    16)``), by default the role's ``topology.<role>.cores_options``; an empty list keeps
    each role's cores as the scenario gives them.  ``workers``: processes that run a
    candidate's replications side by side.
    """
    scenario = _with_targets(scenario, targets)
    given = None if cores_options is None else list(cores_options)
    options = check_cores_options(given) if given else (None if given is None else ())
    if simulate:  # refuse a simulation that would not finish before computing anything
        from sizing.plan.budget import check_simulation

        check_simulation(scenario, hint="use --no-simulate or shorten duration_s")
    cf = closed_form(scenario, options)
    if not simulate:
        return _closed_plan(scenario, cf, options)
    return _simulated_plan(scenario, cf, progress=progress, max_rounds=max_rounds,
                           cores_options=options, on_candidate=on_candidate, workers=workers)


WHAT_IF: dict[str, list[str]] = {
    "TLS instead of UDP": ["trunk.transport=tls"],
    "G.729 instead of the trunk codec": ["trunk.codec=G729"],
    "Opus instead of the trunk codec": ["trunk.codec=opus"],
    "SRTP on, with TLS signalling": ["trunk.transport=tls", "trunk.srtp=AES_CM_128_HMAC_SHA1_80",
                                     "trunk.srtp_inbound=none", "trunk.srtp_outbound=none"],
    "SRTP off": ["trunk.srtp=none", "trunk.srtp_inbound=none", "trunk.srtp_outbound=none",
                 "network.internal_srtp=none"],
}
"""Ready-made variants for :func:`compare`. SRTP is only offered with TLS signalling (its
keys travel in the SDP), so turning it on moves the trunk to TLS too, as a trunk that
offers '5061 TLS + SRTP' does."""


def compare(scenario: Scenario, variants: Mapping[str, list[str]], *,
            simulate: bool = False, progress: Any = None,
            cores_options: Iterable[int] | None = None) -> pd.DataFrame:
    """Plan the scenario and each variant (``KEY=VALUE`` overrides), and tabulate
    total cores, hosts per role, trunk channels and Mbps with their deltas from
    the baseline (first row); hosts count hot standbys.  A bad override raises
    ScenarioError naming it; ``cores_options`` are the host sizes every plan chooses
    from (see :func:`plan`)."""
    cases = {"baseline": scenario}
    for name, overrides in variants.items():
        cases[name] = apply_overrides(scenario, overrides, source=f"variant {name!r}")
    rows = []
    for name, case in cases.items():
        p = plan(case, simulate=simulate, progress=progress, cores_options=cores_options)
        row: dict[str, Any] = {"variant": name,
                               "overrides": "; ".join(variants.get(name, []))}
        for d in p.deployment.itertuples():
            row[f"{d.role} hosts"] = d.hosts + d.standby_hosts
            row[f"{d.role} cores per host"] = d.cores_per_host
        row["total cores"] = int(p.deployment["total_cores"].sum())
        row["trunk channels"] = p.trunk_channels
        row["signalling Mbps"] = float(p.links["signalling_mbps"].sum())
        row["media Mbps"] = float(p.links["media_mbps"].sum())
        row["CTI Mbps"] = float(p.links["cti_mbps"].sum())
        row["provision Mbps"] = float(p.links["required_mbps"].sum())
        row["max CPU p95 %"] = 100 * float(p.deployment["cpu_p95"].max())
        rows.append(row)
    table = pd.DataFrame(rows)
    for col in ("total cores", "signalling Mbps", "media Mbps", "CTI Mbps", "provision Mbps",
                "max CPU p95 %"):
        base = table[col].iloc[0]
        table[f"Δ {col}"] = table[col] - base
        if col.endswith("Mbps"):
            table[f"Δ {col} (%)"] = 100 * (table[col] / base - 1) if base else math.nan
    return table
