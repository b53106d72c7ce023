"""What the page shows of an answer: KPI tiles and tables with units, as plain data.

The instant answer is :func:`sizing.plan.plan` without simulation (the closed form
of :mod:`sizing.plan`, built on :func:`sizing.models.analytic.estimate`); the simulated
answer is a :class:`sizing.sim.result.Result` of the deployment as entered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sizing.app.form import ROLE_LABELS
from sizing.plan import Plan, link_name
from sizing.report import numbers
from sizing.report.names import BINDING_TEXT
from sizing.scenario import Scenario
from sizing.sim.result import Result

__all__ = [
    "SWEEP_LOADS",
    "Tile",
    "links_mbps",
    "plan_tiles",
    "role_tiles",
    "simulation_tiles",
    "summary_csv",
    "sweep_rates",
    "sweep_scenario",
    "transport_note",
]

SWEEP_LOADS = (0.5, 0.9, 1.2, 2.0, 3.0)
"""Offered rates of the app's overload sweep, as multiples of the estimated capacity."""
SWEEP_DURATION_S = 20.0
SWEEP_WARMUP_S = 5.0


TILE_LABEL_MAX = 22
"""Longest tile label, in characters, that a tile of a five-column row shows whole."""


@dataclass(frozen=True)
class Tile:
    """A KPI tile: ``label`` and ``value`` as shown, ``note`` under it, ``help`` on hover.
    The label stays within :data:`TILE_LABEL_MAX` characters; the rest goes in the note."""

    key: str
    label: str
    value: str
    note: str = ""
    help: str = ""


def mbps(x: float) -> str:
    """Mbps with the precision a planner orders capacity in (the reports' rounding)."""
    return numbers.mbps(x, unit=False)


def plan_tiles(p: Plan) -> list[Tile]:
    """Deployment-wide tiles: offered load, trunk channels, signalling and media Mbps."""
    t = p.scenario.targets
    return [
        Tile(
            "erlangs",
            "Offered load (erlangs)",
            f"{p.offered_erlangs:,.1f}",
            note="calls/s × average handle time",
            help="Busy-hour call rate x average handle time.",
        ),
        Tile(
            "trunk_channels",
            "Trunk channels needed",
            f"{p.trunk_channels:,}",
            note=f"Erlang B at {t.blocking_max:.1%} blocking",
            help="Fewest channels whose Erlang B blocking is at most the target.",
        ),
        Tile(
            "signalling_mbps",
            "Signalling (Mbps)",
            mbps(float(p.links["signalling_mbps"].sum())),
            note="all links, both directions",
            help="SIP messages on the wire (transport, TLS records and L2 framing included), "
            "plus standby replication; CTI events and requests are a column of their own "
            "in the links table.",
        ),
        Tile(
            "media_mbps",
            "Media (Mbps)",
            mbps(float(p.links["media_mbps"].sum())),
            note="all links, both directions",
            help="RTP relayed by the SBC, played by the media server and forked to the "
            "recorder, at layer 2.",
        ),
    ]


def role_tiles(p: Plan) -> list[Tile]:
    """One tile per role: servers needed, their cores, the estimated CPU p95 and the
    constraint that sets the number."""
    out = []
    for r in p.deployment.itertuples():
        servers = "server" if r.hosts == 1 else "servers"
        cores = (
            f"{r.cores_per_host} cores each"
            if r.hosts == 1
            else f"{r.cores_per_host} cores each, {r.total_cores} in total"
        )
        out.append(
            Tile(
                f"servers_{r.role}",
                ROLE_LABELS[r.role],
                f"{r.hosts} {servers}",
                note=f"{cores} · CPU p95 {r.cpu_p95:.0%} (target {r.cpu_target:.0%})"
                + _tls_note(getattr(r, "tls_cpu_share", 0.0)),
                help=f"Set by: {BINDING_TEXT.get(r.binding, r.binding)}.",
            )
        )
    return out


def deployment_frame(p: Plan) -> pd.DataFrame:
    """The per-role table under the tiles: servers and cores per server needed (the
    latter chosen by the plan when it was given host sizes) next to those entered."""
    topo = p.scenario.topology
    return pd.DataFrame(
        [
            {
                "Role": ROLE_LABELS[r.role],
                "Servers needed": r.hosts,
                "Servers entered": topo.role(r.role).instances,
                "Cores per server": r.cores_per_host,
                "Cores per server entered": topo.role(r.role).cores,
                "Total cores": r.total_cores,
                "CPU p95 (%)": round(100 * r.cpu_p95, 1),
                "CPU target (%)": round(100 * r.cpu_target, 0),
                "TLS share of CPU (%)": round(100 * getattr(r, "tls_cpu_share", math.nan), 1),
                "Set by": BINDING_TEXT.get(r.binding, r.binding),
            }
            for r in p.deployment.itertuples()
        ]
    )


def _tls_note(share: float) -> str:
    """`` · TLS 12 % of CPU`` for a role that spends CPU on TLS, else nothing."""
    return f" · TLS {share:.1%} of CPU" if math.isfinite(share) and share > 0 else ""


def transport_note(scenario: Scenario) -> str:
    """Which signalling transport the link figures assume where: the trunk's on the
    carrier's link, the inside one (``network.internal_transport``) elsewhere."""
    trunk, inside = scenario.trunk.transport.upper(), scenario.inside_transport.upper()
    if trunk == inside:
        return f"SIP signalling runs over {trunk} on every link."
    edge = ROLE_LABELS[scenario.edge_role]
    return (
        f"SIP signalling runs over {trunk} on the carrier's link and over {inside} "
        f"between the contact centre's own hosts; the {edge} terminates the trunk's "
        f"{trunk}."
    )


def _fmt_ms(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:,.0f}" if x >= 10 else f"{x:,.1f}"


def simulation_tiles(result: Result, scenario: Scenario) -> list[Tile]:
    """Tiles of a simulated run, each against its target where there is one."""
    k, t = result.kpis, scenario.targets
    blocking = float(k.get("blocking_ratio", math.nan))
    srd = float(k.get("srd_p95_ms", math.nan))
    sized = result.hosts[result.hosts["role"].isin(ROLE_LABELS)]
    worst = sized.loc[sized["cpu_p95"].idxmax()] if not sized.empty else None

    def verdict(ok: bool) -> str:
        return "meets the target" if ok else "MISSES the target"

    tiles = [
        Tile(
            "calls_offered",
            "Calls offered",
            numbers.count(k.get("calls_offered", 0)),
            note=f"in {scenario.duration_s:,.0f} s measured",
        ),
        Tile(
            "blocking",
            "Calls blocked (%)",
            "n/a" if not math.isfinite(blocking) else f"{100 * blocking:.2f}",
            note=f"target ≤ {100 * t.blocking_max:.1f} % · "
            f"{verdict(not blocking > t.blocking_max)}",
        ),
        Tile(
            "srd_p95",
            "SRD p95 (ms)",
            _fmt_ms(srd),
            note=f"target ≤ {t.srd_p95_max_ms:,.0f} ms · {verdict(not srd > t.srd_p95_max_ms)}",
            help="Session request delay (RFC 6076): INVITE to the first non-100 response.",
        ),
        Tile(
            "peak_calls",
            "Peak concurrent calls",
            numbers.count(k.get("peak_concurrent_calls", 0)),
            note=f"trunk channels entered: {scenario.trunk.channels:,}",
        ),
    ]
    if worst is not None:
        target = t.cpu_target(str(worst["role"]))
        tiles.append(
            Tile(
                "cpu_p95",
                "Highest CPU p95 (%)",
                f"{100 * worst['cpu_p95']:.1f}",
                note=f"{worst['name']} · target ≤ {100 * target:.0f} % · "
                f"{verdict(not worst['cpu_p95'] > target)}",
            )
        )
    trunk = scenario.trunk
    if "tls_cpu_share" in sized and (sized["tls_cpu_share"] > 0).any():
        most = sized.loc[sized["tls_cpu_share"].idxmax()]
        tiles.append(
            Tile(
                "tls_cpu_share",
                "TLS share of CPU (%)",
                f"{100 * most['tls_cpu_share']:.1f}",
                note=f"{most['name']} · {trunk.tls_key.upper()} key, {trunk.cipher_suite}",
                help="Of the host's CPU, the share spent on TLS: handshakes (by key type and "
                "suite), record encryption, and what a message over TLS costs beyond UDP "
                "(the cost profile's tls and transports figures).",
            )
        )
    if trunk.transport != "udp" and trunk.calls_per_connection is not None:
        carrier = result.links[
            (result.links["src"] == "carrier") | (result.links["dst"] == "carrier")
        ]
        n = trunk.calls_per_connection
        every = "one per call" if n == 1 else f"one per {n:,} calls"
        handshake = "TCP and TLS handshake" if trunk.transport == "tls" else "TCP handshake"
        tiles.append(
            Tile(
                "trunk_connections",
                "Trunk connections/s",
                f"{float(carrier['connections_per_s'].sum()):,.2f}",
                note=f"{every}, each a {handshake}",
                help="New TCP/TLS connections opened on the carrier's link per second "
                "(trunk.calls_per_connection).",
            )
        )
    return tiles


def hosts_frame(result: Result) -> pd.DataFrame:
    """The simulated hosts (sized roles only) with units in the headers."""
    h = result.hosts[result.hosts["role"].isin(ROLE_LABELS)]
    return pd.DataFrame(
        {
            "Host": h["name"],
            "Role": [ROLE_LABELS[r] for r in h["role"]],
            "Cores": h["cores"],
            "CPU mean (%)": (100 * h["cpu_mean"]).round(1),
            "CPU p95 (%)": (100 * h["cpu_p95"]).round(1),
            "SIP messages/s": h["msgs_per_s"].round(1),
            "Queue wait p95 (ms)": h["wait_p95_ms"].round(2),
            "Rejected/s": h["rejected_per_s"].round(2),
            "TLS share of CPU (%)": (100 * h["tls_cpu_share"]).round(1)
            if "tls_cpu_share" in h else math.nan,
        }
    )


def links_mbps(result: Result, headroom: float) -> pd.DataFrame:
    """Simulated Mbps per link between roles (both directions, hosts of a role
    summed), shaped for :func:`sizing.report.figures.bandwidth_per_link`."""
    roles = dict(zip(result.hosts["name"], result.hosts["role"], strict=True))

    def role(host: str) -> str:
        if host.endswith("-standby"):
            return "standby"
        return roles.get(host) or host

    acc: dict[str, list[float]] = {}
    for row in result.links.itertuples():
        name = link_name(role(row.src), role(row.dst))
        sig_media = acc.setdefault(name, [0.0, 0.0])
        sig_media[0] += (row.signalling_kbps + row.data_kbps) / 1000
        sig_media[1] += row.media_kbps / 1000
    frame = pd.DataFrame(
        [{"link": k, "signalling_mbps": v[0], "media_mbps": v[1]} for k, v in acc.items()]
    )
    if frame.empty:
        return pd.DataFrame(
            columns=["link", "signalling_mbps", "media_mbps", "total_mbps", "required_mbps"]
        )
    frame["total_mbps"] = frame["signalling_mbps"] + frame["media_mbps"]
    frame = frame[frame["total_mbps"] > 0].reset_index(drop=True)
    frame["required_mbps"] = frame["total_mbps"] / (1 - headroom)
    return frame


def summary_csv(result: Result, scenario: Scenario) -> str:
    """One CSV of a simulated run: the KPIs (with 95 % half-widths), then the hosts."""
    kpis = pd.DataFrame(
        {
            "section": "kpi",
            "name": list(result.kpis),
            "value": list(result.kpis.values()),
            "ci95": [result.ci.get(k, math.nan) for k in result.kpis],
        }
    )
    hosts = result.hosts.assign(section="host")
    head = (
        f"# scenario: {scenario.name or 'unnamed'}; seed {scenario.seed}; "
        f"{scenario.replications} replication(s) of {scenario.duration_s:g} s\n"
    )
    return head + kpis.to_csv(index=False) + "\n" + hosts.to_csv(index=False)


def sweep_rates(result: Result) -> tuple[float, list[float]]:
    """The capacity a simulated run suggests and the offered rates of a sweep around it.

    Capacity: the run's offered calls/s scaled to 100 % mean CPU of its busiest sized
    host (CPU grows about linearly with the call rate below saturation); the rates are
    :data:`SWEEP_LOADS` times that.
    """
    offered = float(result.kpis.get("offered_cps", math.nan))
    if not math.isfinite(offered) or offered <= 0:
        raise ValueError("sweep_rates: the simulation offered no calls, so it gives no capacity")
    sized = result.hosts[result.hosts["role"].isin(ROLE_LABELS)]
    busiest = float(sized["cpu_mean"].max()) if not sized.empty else math.nan
    capacity = offered / busiest if math.isfinite(busiest) and busiest > 0 else offered
    return capacity, [round(capacity * f, 4) for f in SWEEP_LOADS]


def sweep_scenario(scenario: Scenario, top_cps: float | None = None) -> Scenario:
    """The scenario shortened for a sweep (one replication of ``SWEEP_DURATION_S`` after
    ``SWEEP_WARMUP_S`` at most), with trunk limits lifted so the servers, not the trunk,
    meet the overload (enough channels for ``top_cps`` calls/s)."""
    data: dict[str, Any] = scenario.model_dump(mode="json")
    data["replications"] = 1
    data["duration_s"] = min(scenario.duration_s, SWEEP_DURATION_S)
    data["warmup_s"] = min(scenario.warmup_s, SWEEP_WARMUP_S)
    trunk = data["trunk"]
    trunk["cps_limit"] = None
    if top_cps is not None:
        hold = scenario.traffic.holding_time_s or 60.0
        trunk["channels"] = max(int(trunk["channels"]), math.ceil(2 * top_cps * hold) + 10)
    return Scenario.model_validate(data)
