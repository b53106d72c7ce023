"""What planning answers: :class:`ClosedForm`, the formulas' answer for a scenario, and
:class:`Plan`, the deployment found, its frames and how sure it is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sizing.models import analytic
from sizing.plan.links import direction_frame
from sizing.plan.names import ROLE_NAMES, direction_name
from sizing.scenario import Scenario, apply_overrides


@dataclass(frozen=True)
class ClosedForm:
    """The closed-form answer for one scenario."""

    offered_erlangs: float
    trunk_channels: int
    """Erlang B inverse at the blocking target."""
    roles: pd.DataFrame
    """Per role: msgs_per_s, busy_cores (all hosts: one static load, messages, media),
    static_cores (per host), media_cores, media_sessions, hosts, standby_hosts,
    cores_per_host, cpu_target, cpu_mean and cpu_p95 (per host, estimated; p95 of 1-s
    samples), binding, size_choice and reason (why this size, in words), tls_cpu_share
    (of busy_cores, the share spent on TLS: handshakes, record crypto, TLS's extra cost
    per message)."""
    links: pd.DataFrame
    """Per link: signalling_mbps, media_mbps, cti_mbps, total_mbps, required_mbps."""
    estimates: tuple[analytic.Estimate, ...]
    """The :func:`sizing.models.analytic.estimate` results it was built from."""
    directions: pd.DataFrame = field(default_factory=lambda: direction_frame({}, 0.0))
    """Per link and direction: link, src, dst, signalling_mbps, media_mbps, cti_mbps,
    total_mbps, required_mbps (see :func:`direction_frame`)."""


DEPLOYMENT_COLUMNS = ["role", "hosts", "standby_hosts", "cores_per_host", "total_cores",
                      "cpu_mean", "cpu_p95", "cpu_p95_ci", "cpu_target", "binding",
                      "tls_cpu_share", "reason"]
"""A plan's deployment frame, per role (see :attr:`Plan.deployment`)."""


@dataclass
class Plan:
    """The smallest deployment found for a scenario, and how sure it is."""

    name: str
    scenario: Scenario
    """The input scenario (its targets are the plan's)."""
    deployment: pd.DataFrame
    """Per role (:data:`DEPLOYMENT_COLUMNS`): role, hosts (active), standby_hosts (hot
    standbys, as big), cores_per_host, total_cores (standbys included), cpu_mean (per
    host: closed form the estimate, simulated the mean over the role's hosts), cpu_p95
    (p95 of 1-s samples: closed form the estimate per host, simulated the busiest
    host's), cpu_p95_ci (95 % half-width across replications, NaN without),
    cpu_target, binding, tls_cpu_share (the share of the role's CPU spent on TLS),
    reason (why this many hosts of this size, in words)."""
    trunk_channels: int
    offered_erlangs: float
    erlang_b_channels: int
    """The Erlang B first guess (the answer when not simulated)."""
    links: pd.DataFrame
    """Per link: signalling_mbps, media_mbps, cti_mbps, total_mbps, required_mbps (with
    headroom), capacity_mbps (NaN when the scenario gives none), fits."""
    kpis: pd.DataFrame
    """kpi, value, target, met (simulated KPIs; closed-form figures otherwise)."""
    candidates: pd.DataFrame
    """Every simulated deployment: round, hosts per role, channels, met, reason."""
    confidence: str
    simulated: bool
    met: bool
    """Every target is met by the recommended deployment (closed form: estimated)."""
    closed: ClosedForm
    series: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Figures' data of the recommended deployment's simulation: ``cpu`` (CPU per
    second and host), ``calls`` (mean concurrent calls per second, first replication)
    and ``srd`` (SRD histogram buckets of all replications)."""
    cores_options: tuple[int, ...] | None = None
    """The host sizes every role's cores per host were chosen from when the caller gave
    them (``--cores-options``); None: each role's ``cores_options``; empty: each role's
    cores as given."""
    warnings: list[str] = field(default_factory=list)
    """What may bias the simulated figures of the recommended deployment (e.g. a warm-up
    too short for steady state); also at the end of ``confidence``."""
    directions: pd.DataFrame = field(default_factory=lambda: direction_frame({}, 0.0))
    """Per link and direction: link, src, dst, signalling_mbps, media_mbps, cti_mbps,
    total_mbps, required_mbps (with headroom, that way), capacity_mbps (each way), fits.  A planner
    provisions each direction; ``links`` sums the two."""

    def hosts(self) -> dict[str, int]:
        return dict(zip(self.deployment["role"], self.deployment["hosts"], strict=True))

    def cores(self) -> dict[str, int]:
        """Recommended cores per host, by role."""
        return {r: int(c) for r, c in zip(self.deployment["role"],
                                          self.deployment["cores_per_host"], strict=True)}

    def recommended_scenario(self) -> Scenario:
        """The scenario with the recommended hosts, cores per host and trunk channels."""
        return _deploy(self.scenario, self.hosts(), self.trunk_channels, self.cores())

    def summary(self) -> str:
        """The deployment in plain words."""
        parts = []
        for row in self.deployment.itertuples():
            kind = "spare" if self.scenario.ha_mode(row.role) == "n_plus_1" else "hot standby"
            standby = f" + {row.standby_hosts} {kind}" if row.standby_hosts else ""
            parts.append(f"{row.hosts} x {ROLE_NAMES.get(row.role, row.role)}{standby} "
                         f"({row.cores_per_host} cores)")
        link = ""
        if not self.directions.empty:
            widest = self.directions.sort_values("required_mbps", ascending=False).iloc[0]
            link = (f"; busiest link {direction_name(widest.src, widest.dst)} needs "
                    f"{widest.required_mbps:,.1f} Mbps with headroom")
        elif not self.links.empty:
            widest = self.links.sort_values("required_mbps", ascending=False).iloc[0]
            link = (f"; busiest link {widest.link} needs {widest.required_mbps:,.1f} Mbps "
                    "with headroom (both directions)")
        how = "confirmed by simulation" if self.simulated else "closed-form estimate"
        verdict = "" if self.met else " - NOT MET: " + "; ".join(self.shortfalls())
        chosen = f"; {int(self.deployment['total_cores'].sum()):,} cores in total"
        if self.cores_options:
            chosen += f", cores per host chosen from {', '.join(map(str, self.cores_options))}"
        return (f"{', '.join(parts)}{chosen}; {self.trunk_channels:,} trunk channels{link} "
                f"({how}){verdict}.")

    def reasons(self) -> list[str]:
        """Per role, why this many hosts of this size: ``SIP Server: 2 x 2 cores ...``."""
        return [f"{ROLE_NAMES.get(r.role, r.role)}: {r.reason}"
                for r in self.deployment.itertuples()]

    def shortfalls(self) -> list[str]:
        """What the recommended deployment misses, in words (empty when all is met)."""
        out = []
        for k in self.kpis.itertuples():
            if k.met is False or k.met is np.False_:
                out.append(f"{k.kpi} {k.value:.4g} > target {k.target:.4g}")
        rows = self.directions if "fits" in self.directions.columns else self.links
        for x in rows.itertuples():
            if not x.fits:
                name = direction_name(x.src, x.dst) if hasattr(x, "src") else x.link
                out.append(f"{name} needs {x.required_mbps:,.1f} Mbps with headroom, "
                           f"capacity {x.capacity_mbps:,.0f} Mbps")
        return out

    def to_row(self) -> dict[str, Any]:
        """One flat row for a batch summary (units in the column names)."""
        row: dict[str, Any] = {"deployment": self.summary(), "met": self.met,
                               "simulated": self.simulated, "warnings": "; ".join(self.warnings),
                               "offered_erlangs": round(self.offered_erlangs, 2),
                               "trunk_channels": self.trunk_channels}
        for r in self.deployment.itertuples():
            row[f"{r.role}.hosts"] = r.hosts
            row[f"{r.role}.standby_hosts"] = r.standby_hosts
            row[f"{r.role}.cores_per_host"] = r.cores_per_host
            row[f"{r.role}.total_cores"] = r.total_cores
            row[f"{r.role}.cpu_mean_%"] = round(100 * r.cpu_mean, 1)
            row[f"{r.role}.cpu_p95_%"] = round(100 * r.cpu_p95, 1)
            row[f"{r.role}.binding"] = r.binding
        for r in self.links.itertuples():
            row[f"link.{r.link}.required_mbps"] = round(r.required_mbps, 3)
        for r in self.directions.itertuples():
            row[f"link.{r.src}->{r.dst}.required_mbps_one_way"] = round(r.required_mbps, 3)
        for r in self.kpis.itertuples():
            row[f"kpi.{r.kpi}"] = r.value
        return row

    def _repr_html_(self) -> str:
        from sizing.report.html import plan_html

        return plan_html(self)


def _deploy(scenario: Scenario, hosts: Mapping[str, int], channels: int,
            cores: Mapping[str, int] | None = None) -> Scenario:
    overrides = [f"topology.{r}.instances={n}" for r, n in hosts.items()]
    overrides += [f"topology.{r}.cores={c}" for r, c in (cores or {}).items()]
    overrides.append(f"trunk.channels={channels}")
    return apply_overrides(scenario, overrides, source="plan")
