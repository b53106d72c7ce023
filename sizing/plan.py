"""Planning: the smallest deployment that meets a scenario's targets.

Theory of operation
-------------------
1. **Closed form** (:func:`closed_form`): the scenario's call mix becomes
   messages per call on every link of the call path (carrier -> sbc -> proxy ->
   sip_server -> agents, plus side legs to the media server, the recorder and
   the registrar; see :data:`LEG` and :func:`link_messages`).  A role's
   messages are those on its links; :func:`sizing.models.analytic.estimate` turns them
   into busy cores with the role's cost profile.  Media is added per RTP packet
   a host receives (the SBC's relay of it included in its cost), as the simulator
   charges it.  Messages on the carrier's link use the trunk's transport, all
   others the inside one (:func:`_transport`): TLS costs apply per message on
   TLS links only, connection churn to the edge role's trunk side.  Per host,
   CPU p95 over 1-s samples is approximated as the mean plus 1.645 standard
   deviations of Poisson counts of messages (each costing the mean cost) and of
   media sessions in progress (:mod:`sizing.host_size`).  Each role gets, from its
   allowed host sizes (``topology.<role>.cores_options``, or the caller's), the
   (cores per host, hosts) pair with the fewest total cores meeting its target
   and host floor, ties going to fewer hosts (:func:`choose_host_size`), and a
   sentence saying why; an empty list keeps the role's cores.  A SIP Server with
   a hot standby keeps an HA pair of that size.  Trunk channels are the Erlang B
   inverse at the blocking target; link Mbps are messages x wire bytes plus
   RTP, divided by ``1 - link_headroom``.  A message's bytes are those the
   engine writes for this scenario on that link (:mod:`sizing.message_sizes`:
   one probe call of each flow through the scenario's topology, so UUI and
   custom headers, Via stacks, Record-Route, an edge's double Record-Route
   (RFC 5658), SDP and the wire style are in them); the
   same sizes, as each role receives them, feed its per-kilobyte and TLS
   record costs.  A trunk connection opened every ``calls_per_connection``
   calls adds its TCP and TLS handshake and close to the carrier's link.  CTI
   (:mod:`sizing.models.cti`: each flow's events delivered to the clients
   registered for their DNs, the desktops' requests) adds SIP Server CPU and the
   SIP Server <-> CTI link's Mbps, reported as ``cti_mbps`` (:func:`split_cti`).
2. **Simulation** (``simulate=True``): the first answer is simulated with the
   scenario's replications; a role whose CPU p95 misses its target gets more
   hosts (in proportion to the miss), SRD misses add a host to the busiest
   role, blocking misses add channels; a role comfortably under its target is
   tried with one host fewer.  At most ``max_rounds`` candidate deployments are
   simulated and the smallest one that met every target is the answer.
   Confidence is the 95 % interval of each role's CPU p95 across replications.
   Cores per host stay those of the first answer: only host counts move.

The answer says, per role, which constraint binds: ``cpu_p95`` (the target),
``media_ports`` (sessions per media server), ``srd_p95`` (delay target, found
by simulation) or ``minimum`` (one host is more than enough).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from sizing import flows as call_flows
from sizing.host_size import (
    HostSize,
    RoleLoad,
    check_cores_options,
    choose_host_size,
    cpu_p95_estimate,
    hosts_for_target,
    parse_cores_options,
    pick_host_size,
    size_reason,
)
from sizing.message_sizes import MessageSizes, message_sizes
from sizing.models import analytic, media
from sizing.models import tls as tls_model
from sizing.models.cti import cti_model
from sizing.models.profile import load_profile
from sizing.scenario import Scenario, apply_overrides
from sizing.scenario.model import MAX_COUNT, MAX_HOSTS
from sizing.sip.kind import kind_class, wire_key

__all__ = [
    "ASSUMPTIONS",
    "LEG",
    "ClosedForm",
    "Plan",
    "check_cores_options",
    "choose_host_size",
    "closed_form",
    "compare",
    "cpu_p95_estimate",
    "hosts_for_target",
    "link_message_kinds",
    "link_messages",
    "refreshes_per_call",
    "parse_cores_options",
    "plan",
]

_LEG = {
    "INVITE": 1,
    "100 INVITE": 1,
    "180 INVITE": 1,
    "200 INVITE": 1,
    "ACK": 1,
    "BYE": 1,
    "200 BYE": 1,
}
"""Messages of one answered call leg on one link, by kind (:mod:`sizing.message_sizes`)."""
_CANCELLED_LEG = {
    "INVITE": 1,
    "100 INVITE": 1,
    "180 INVITE": 1,
    "CANCEL": 1,
    "200 CANCEL": 1,
    "487 INVITE": 1,
    "ACK": 1,
}
"""A leg cancelled while ringing or queued: INVITE, 100, 180, CANCEL, 200, 487, ACK."""
_REJECTED_LEG = {"INVITE": 1, "100 INVITE": 1, "486 INVITE": 1, "ACK": 1}
"""A leg rejected: INVITE, 100, 486 or 480, ACK."""
_REFER_TXN = {"REFER": 1, "202 REFER": 1, "NOTIFY": 2, "200 NOTIFY": 2}
"""A REFER transaction and its NOTIFYs (RFC 3515 §2.4.4: the transferee reports
``100 Trying`` at once and the outcome once known): REFER, 202, 2 x (NOTIFY, 200)."""
_REINVITE_TXN = {"re-INVITE": 1, "200 re-INVITE": 1, "ACK re-INVITE": 1}
"""A re-INVITE of a call flow (hold, transfer, joining a conference): re-INVITE, 200, ACK."""
_REINVITE_TRYING = {"100 re-INVITE": 1}
_REFRESH_TXN = {
    "update": {"refresh UPDATE": 1, "refresh 200 UPDATE": 1},
    "invite": {"refresh re-INVITE": 1, "refresh 200 re-INVITE": 1, "refresh ACK re-INVITE": 1},
}
"""One RFC 4028 session refresh on one link: UPDATE and 200, or re-INVITE, 200 and ACK
(plus the 100 Trying a stateful proxy sends for any INVITE, see :func:`link_messages`)."""
_REFRESH_TRYING = {"refresh 100 re-INVITE": 1}


def _coarse(counts: Mapping[str, float]) -> dict[str, float]:
    """Message counts by kind as counts by method or status class (a cost profile's keys)."""
    out: dict[str, float] = {}
    for kind, n in counts.items():
        key = kind_class(kind)
        out[key] = out.get(key, 0.0) + n
    return out


def _by_wire_key(counts: Mapping[str, float]) -> dict[str, float]:
    """Message counts by kind as counts by method or exact status (``180``): the keys the
    simulator charges a message by, so a profile's exact-status entry prices the closed
    form's messages as it does the simulator's."""
    out: dict[str, float] = {}
    for kind, n in counts.items():
        key = wire_key(kind)
        out[key] = out.get(key, 0.0) + n
    return out


LEG: dict[str, float] = _coarse(_LEG)
"""Messages of one answered call leg on one link: INVITE, 100, 180, 200, ACK, BYE, 200."""
_TRYING_ROLES = ("sbc", "proxy")
"""Roles that answer every INVITE, a re-INVITE too, with their own 100 Trying at once."""

ASSUMPTIONS: dict[str, float] = {
    "ivr_s": call_flows.ivr_then_agent.IVR_S,
    "ring_s": call_flows.base.RING_S,
    "conference_share_of_holding": call_flows.conference.FLOW.media_share_of_holding,
    "ha_events_per_call": 4.0,
    "ha_session_events_per_call": 3.0,
}
"""Closed-form planning assumptions: the IVR treatment lasts ``ivr_s`` seconds and the
caller stays on it while the agent's phone rings ``ring_s``; a conference takes this share
of the holding time, less the back office's ringing before it joins (all three the flows'
own, :mod:`sizing.flows`, shown with the plan); a SIP Server replicates this many call
state changes to its hot standby, an SBC or dialog-stateful SIP Proxy this many (setup,
answer, release)."""

HA_TEXT = {"pair": "an HA pair per host: a hot standby as big receives its state",
           "n_plus_1": "N+1: the hosts the load needs plus one spare holding no state"}
"""How a role's ``ha`` is said in its reason."""

# ---------------------------------------------------------------------------
# Closed form
# ---------------------------------------------------------------------------


def _add(target: dict[str, float], counts: Mapping[str, float], times: float = 1.0) -> None:
    for key, n in counts.items():
        target[key] = target.get(key, 0.0) + n * times


def _received(counts: Mapping[str, float], *, upstream: bool) -> dict[str, float]:
    """The part of a link's messages its ``upstream`` (or downstream) end receives:
    responses travel upstream, requests downstream (a profile charges a host per
    message received, as the simulator does). REFER/NOTIFY and a BYE from the
    agent's side travel the other way; the total per link is unchanged.  ``counts``
    by kind or by class."""
    return {k: n for k, n in counts.items() if kind_class(k).endswith("xx") == upstream}


def call_path(scenario: Scenario) -> list[str]:
    """Hosts and endpoints a call crosses: carrier, the enabled call-path roles, agents."""
    topo = scenario.topology
    return ["carrier", *[r for r in ("sbc", "proxy", "sip_server") if topo.role(r).enabled],
            "agents"]


def link_messages(scenario: Scenario) -> dict[tuple[str, str], dict[str, float]]:
    """Messages per call on each link ``(a, b)``, by method or status class.

    The per-kind counts of :func:`link_message_kinds` (which see) summed by class.
    """
    return {link: _coarse(counts) for link, counts in link_message_kinds(scenario).items()}


def link_message_kinds(scenario: Scenario) -> dict[tuple[str, str], dict[str, float]]:
    """Messages per call on each link ``(a, b)``, by kind (``INVITE``, ``180 INVITE``,
    ``200 BYE``, ``refresh re-INVITE``: :mod:`sizing.message_sizes` names them).

    Every call-path link carries one leg per call, shaped by the flow (answered,
    cancelled, rejected); transfers add a REFER and a leg on the agents' side, a
    carrier's REFER adds one and a leg on every hop between the carrier and the SIP Server;
    IVR and conference calls add legs to the media server; recorded calls a leg
    to the recorder; a session timer adds its refreshes (:func:`refreshes_per_call`)
    on every call-path hop. What each flow adds is its :class:`sizing.flows.Messages`.
    Registrations and keep-alives are per second, not per call, and come from
    :func:`background_messages`.
    """
    path = call_path(scenario)
    hops = list(zip(path, path[1:], strict=False))
    topo = scenario.topology
    shares = scenario.traffic.mix.shares()
    controller = path[-2]  # the host next to the agents: SIP Server when there is one
    out: dict[tuple[str, str], dict[str, float]] = {}

    def leg(link: tuple[str, str], counts: Mapping[str, float], share: float) -> None:
        if share > 0:
            _add(out.setdefault(link, {}), counts, share)

    def per_call(count: Callable[[call_flows.Messages], float]) -> float:
        return sum(count(f.messages) * shares[f.name] for f in call_flows.FLOWS)

    def of_leg(kind: str) -> float:
        return sum(shares[f.name] for f in call_flows.FLOWS if f.messages.leg == kind)

    answered = of_leg("answered")
    for hop in hops:
        leg(hop, _LEG, answered)
        leg(hop, _REJECTED_LEG, of_leg("rejected"))
    # cancelled while queued at the controller: no agent leg
    for hop in hops[:-1]:
        leg(hop, _CANCELLED_LEG, of_leg("cancelled"))
    last = hops[-1]
    leg(last, _REFER_TXN, per_call(lambda m: m.refers))
    leg(last, _LEG, per_call(lambda m: m.agent_legs))
    if controller == "sip_server":  # a B2BUA re-INVITEs the legs it moves
        caller = per_call(lambda m: m.caller_reinvites)
        for hop in hops[:-1]:
            leg(hop, _REINVITE_TXN, caller)
            if hop[0] in _TRYING_ROLES:  # the re-INVITE travels towards the carrier
                leg(hop, _REINVITE_TRYING, caller)
        leg(last, _REINVITE_TXN, per_call(lambda m: m.agent_reinvites))
        # a carrier's REFER on the caller's leg, and the leg the SIP Server places back over the trunk
        for hop in hops[:-1]:
            leg(hop, _REFER_TXN, per_call(lambda m: m.trunk_refers))
            leg(hop, _LEG, per_call(lambda m: m.trunk_legs))
    if topo.media_server.enabled:  # the IVR; a conference's caller, agent and back office
        leg((controller, "media_server"), _LEG, per_call(lambda m: m.media_server_legs))
    if topo.recorder.enabled:
        leg((controller, "recorder"), _LEG, scenario.traffic.recording_share * answered)
    _session_refreshes(scenario, hops, leg)
    return out


def _session_refreshes(scenario: Scenario, hops: list[tuple[str, str]], leg: Any) -> None:
    """RFC 4028 refreshes of answered calls on every call-path hop (the SIP Server relays
    them end to end); during a flow's IVR (:attr:`sizing.flows.Flow.pre_s`) they go to
    the media server instead of the agents. Each re-INVITE also gets a 100 Trying from a
    stateful proxy that receives it."""
    if scenario.trunk.session_expires_s is None:
        return
    shares = scenario.traffic.mix.shares()
    tau = scenario.trunk.session_expires_s / 2.0
    answered = [f for f in call_flows.FLOWS if f.answered]
    total = sum(shares[f.name] for f in answered if not f.pre_s) * refreshes_per_call(scenario)
    at_ivr = 0.0
    for f in answered:
        if f.pre_s:
            total += shares[f.name] * refreshes_per_call(scenario, extra_s=f.pre_s)
            at_ivr += shares[f.name] * math.floor(f.pre_s / tau)
    refresh = _REFRESH_TXN[scenario.trunk.session_refresh]
    trying = _REFRESH_TRYING if scenario.trunk.session_refresh == "invite" else {}
    media_server = scenario.topology.media_server.enabled and hops[-1][0] == "sip_server"
    for hop in hops:
        times = total - at_ivr if hop == hops[-1] and media_server else total
        leg(hop, refresh, times)
        if hop[1] in _TRYING_ROLES:
            leg(hop, trying, times)
    if media_server and at_ivr > 0:
        leg((hops[-1][0], "media_server"), refresh, at_ivr)


def refreshes_per_call(scenario: Scenario, *, extra_s: float = 0.0) -> float:
    """Expected RFC 4028 refreshes of one answered call: E[floor((H + extra_s) / (S/2))].

    The carrier refreshes every half interval ``S/2`` (``trunk.session_expires_s``)
    from the answer until its BYE after the holding time ``H`` (plus ``extra_s``,
    e.g. the IVR before it), so the count is ``sum_k P(H + extra_s >= k S/2)``,
    exact for the scenario's holding distribution: exponential with mean ``h``
    gives ``1 / (exp(S / 2h) - 1)`` (without ``extra_s``), fixed ``floor(h / (S/2))``,
    empirical the mean over its samples, lognormal the sum of its survival
    function. 0 without a session timer.
    """
    expires = scenario.trunk.session_expires_s
    traffic = scenario.traffic
    mean = traffic.holding_time_s
    if expires is None or mean is None:
        return 0.0
    tau = expires / 2.0
    holding = traffic.holding
    kind = holding.kind
    if kind == "fixed":
        return float(math.floor((mean + extra_s) / tau))
    if kind == "empirical":
        samples = np.asarray(holding.samples(), dtype=float)
        return float(np.floor((samples + extra_s) / tau).mean())
    sure = math.floor(extra_s / tau)  # refreshes before H even starts to matter
    if kind == "exponential":
        first = (sure + 1) * tau - extra_s
        return sure + math.exp(-first / mean) / -math.expm1(-tau / mean)
    assert holding.cv is not None  # lognormal: the model requires cv
    sigma = math.sqrt(math.log1p(holding.cv ** 2))
    mu = math.log(mean) - sigma * sigma / 2
    total, k = float(sure), sure + 1
    while k < 10_000_000:
        term = 0.5 * math.erfc((math.log(k * tau - extra_s) - mu) / (sigma * math.sqrt(2.0)))
        total += term
        if term < 1e-12 and k * tau - extra_s > mean:
            break
        k += 1
    return total


def registrar_role(scenario: Scenario) -> str:
    """The host that answers REGISTER and keep-alive OPTIONS."""
    topo = scenario.topology
    return next(r for r in ("registrar", "proxy", "sip_server", "sbc") if topo.role(r).enabled)


def background_messages(scenario: Scenario) -> dict[str, float]:
    """REGISTER and OPTIONS keep-alive messages per second (requests and 200s)."""
    return _coarse(_background_kinds(scenario))


def _background_kinds(scenario: Scenario) -> dict[str, float]:
    """:func:`background_messages` by kind."""
    devices = scenario.endpoints.count + (scenario.agents.count if scenario.agents.registered
                                          else 0)
    out: dict[str, float] = {}
    if devices == 0:
        return out
    _add(out, call_flows.registration.MESSAGES, devices / scenario.endpoints.expiry_s)
    ka = scenario.endpoints.keepalive
    if ka.method == "options":
        _add(out, call_flows.keepalive.MESSAGES, devices / ka.interval_s)
    return out


def presence_messages(scenario: Scenario) -> dict[str, float]:
    """Busy-lamp messages per second on the endpoints' link to the registrar, by kind
    (:mod:`sizing.flows.presence`): each subscription's refresh (SUBSCRIBE, 200, NOTIFY,
    200) every ``endpoints.presence_refresh_s``, and a NOTIFY and its 200 to each watcher
    of an agent for each state change of its calls: rate x the mix's state changes per call
    x the watchers of one agent."""
    lamps = call_flows.presence
    subscriptions = lamps.subscriptions(scenario)
    out: dict[str, float] = {}
    if not subscriptions:
        return out
    _add(out, lamps.MESSAGES, subscriptions / scenario.endpoints.presence_refresh_s)
    acd = scenario.agents.count > 0 and scenario.topology.sip_server.enabled
    cps = scenario.traffic.rate_cps or 0.0
    if acd and cps:
        shares = scenario.traffic.mix.shares()
        changes = sum(shares[f.name] * lamps.states_per_call(f) for f in call_flows.FLOWS)
        _add(out, lamps.NOTIFY, cps * changes * lamps.watchers_per_agent(scenario))
    return out


def _device_kinds(scenario: Scenario) -> dict[tuple[str, str], dict[str, float]]:
    """Messages per second by kind on each link a registered device reaches its registrar
    on: REGISTER and OPTIONS (split by device), and the endpoints' busy lamps."""
    kinds = _background_kinds(scenario)
    out = {link: {k: share * n for k, n in kinds.items()} for link, share in _device_links(scenario).items()} \
        if kinds else {}
    lamps = presence_messages(scenario)
    if lamps:
        _add(out.setdefault(("endpoints", registrar_role(scenario)), {}), lamps)
    return out


def _registrar_received(counts: Mapping[str, float]) -> dict[str, float]:
    """What the registrar receives of its devices' messages: their requests and the 200s to
    the NOTIFYs it sends them (it sends the other responses and the NOTIFYs)."""
    return {k: n for k, n in counts.items() if (not kind_class(k).endswith("xx")) != k.endswith("NOTIFY")}


def _device_links(scenario: Scenario) -> dict[tuple[str, str], float]:
    """The links registered devices reach the registrar on, each with its share of the
    REGISTER and OPTIONS traffic: the agents' phones and the other endpoints."""
    reg = registrar_role(scenario)
    agents = scenario.agents.count if scenario.agents.registered else 0
    devices = agents + scenario.endpoints.count
    counts = {("agents", reg): agents, ("endpoints", reg): scenario.endpoints.count}
    return {link: n / devices for link, n in counts.items() if n > 0}


def _received_bytes(
    role: str,
    kinds: Mapping[tuple[str, str], Mapping[str, float]],
    sizes: MessageSizes,
) -> dict[str, int]:
    """Mean bytes of the messages ``role`` receives, by method or status class (and
    ``default``: all of them), weighed by how many it receives of each kind on each
    link: the sizes :func:`sizing.models.analytic.estimate` charges per kilobyte and TLS
    record by."""
    totals: dict[str, list[float]] = {}
    for link, counts in kinds.items():
        if role not in link:
            continue
        device = link[0] in ("agents", "endpoints") and role == link[1]  # a registrar's devices
        picked = _registrar_received(counts) if device else _received(counts, upstream=role == link[0])
        for kind, n in picked.items():
            size = sizes.size(*link, kind)
            for key in (kind_class(kind), "default"):
                acc = totals.setdefault(key, [0.0, 0.0])
                acc[0] += n
                acc[1] += n * size
    out = {key: round(b / n) for key, (n, b) in totals.items() if n > 0}
    if "default" not in out:  # a role that receives nothing per call
        out["default"] = round(sizes.size(role, role, "INVITE"))
    return out


def _wire_bytes(size: float, transport: str, net: tls_model.NetParams) -> float:
    """Bytes on the wire (both directions) of a ``size``-byte message, for a mean size:
    the two whole sizes either side of it, weighed by how near each is."""
    low = math.floor(size)
    below = tls_model.wire_bytes(low, transport, net=net).total  # type: ignore[arg-type]
    if size == low:
        return below
    above = tls_model.wire_bytes(low + 1, transport, net=net).total  # type: ignore[arg-type]
    return below + (size - low) * (above - below)


def _wire_split(size: float, transport: str, net: tls_model.NetParams) -> tuple[float, float]:
    """:func:`_wire_bytes` by direction: (bytes in the sending direction, pure-ACK bytes
    coming back)."""
    low = math.floor(size)
    below = tls_model.wire_bytes(low, transport, net=net)  # type: ignore[arg-type]
    total, forward = _wire_bytes(size, transport, net), float(below.forward)
    if size != low:
        above = tls_model.wire_bytes(low + 1, transport, net=net)  # type: ignore[arg-type]
        forward += (size - low) * (above.forward - below.forward)
    return forward, total - forward


def _connection_split(scenario: Scenario, net: tls_model.NetParams) -> tuple[float, float]:
    """:func:`_connection_bytes` by direction: (carrier to edge, edge to carrier)."""
    trunk = scenario.trunk
    kw: dict[str, Any] = {"version": trunk.tls_version, "net": net}
    full = tls_model.connection_setup(trunk.transport, key=trunk.tls_key, **kw)
    resumed = tls_model.connection_setup(trunk.transport, key=trunk.tls_key, resumed=True, **kw)
    close = tls_model.connection_teardown(trunk.transport, suite=trunk.cipher_suite, **kw)
    f = trunk.tls_resumed_share if trunk.transport == "tls" else 0.0
    c2s = (1 - f) * full.client_to_server + f * resumed.client_to_server + close.client_to_server
    total = _connection_bytes(scenario, net)
    return c2s, total - c2s


def _connection_bytes(scenario: Scenario, net: tls_model.NetParams) -> float:
    """Wire bytes of one trunk connection opened and closed: the TCP handshake, the TLS
    handshake (full, or resumed for ``trunk.tls_resumed_share`` of them) and the close
    (FINs, TLS close_notify alerts), both directions."""
    trunk = scenario.trunk
    kw: dict[str, Any] = {"version": trunk.tls_version, "net": net}
    full = tls_model.connection_setup(trunk.transport, key=trunk.tls_key, **kw).total
    resumed = tls_model.connection_setup(
        trunk.transport, key=trunk.tls_key, resumed=True, **kw
    ).total
    close = tls_model.connection_teardown(trunk.transport, suite=trunk.cipher_suite, **kw).total
    f = trunk.tls_resumed_share if trunk.transport == "tls" else 0.0
    return (1 - f) * full + f * resumed + close


def _transport(scenario: Scenario, link: tuple[str, str]) -> str:
    """Signalling transport of a link: the trunk's on the carrier's link, the inside
    transport (``network.internal_transport`` resolved) between the contact centre's
    own hosts, agents and endpoints; the edge role terminates the trunk's."""
    return scenario.trunk.transport if "carrier" in link else scenario.inside_transport


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


def host_options(scenario: Scenario, role: str, cores_options: Iterable[int] | None = None
                 ) -> tuple[int, ...] | None:
    """The host sizes ``role``'s cores per host are chosen from: ``cores_options`` when
    given (every role alike), else the role's ``topology.<role>.cores_options``; None
    (keep the role's ``cores``) when the list is empty."""
    chosen = scenario.topology.role(role).cores_options if cores_options is None \
        else list(cores_options)
    return check_cores_options(chosen) if chosen else None


def standby_hosts(scenario: Scenario, role: str, hosts: int) -> int:
    """Hosts a role keeps besides its ``hosts`` active ones (``topology.<role>.ha``): a
    hot standby per host in a ``pair`` (it takes over its active's load, so it is as
    big), one spare with ``n_plus_1``, none otherwise."""
    mode = scenario.ha_mode(role)
    return hosts if mode == "pair" else 1 if mode == "n_plus_1" else 0


def hosts_text(hosts: int, standbys: int, cores: int, mode: str = "pair") -> str:
    """``8 cores``, ``3 x 8 cores``, ``2 x 8 cores (an active host and its hot standby)``
    or ``3 x 8 cores (2 active, 1 spare: N+1)``."""
    total = hosts + standbys
    size = f"{cores} cores" if total == 1 else f"{total} x {cores} cores"
    if mode == "n_plus_1" and standbys:
        return f"{size} ({hosts} active, {standbys} spare: N+1)"
    if standbys == 1 and hosts == 1:
        return f"{size} (an active host and its hot standby)"
    if standbys:
        return f"{size} ({hosts} active, {standbys} hot standbys)"
    return size


def replication(scenario: Scenario) -> dict[str, list[tuple[float, int]]]:
    """Per role with an HA pair, what it replicates to its standbys: (events per second,
    bytes per event) for its call state changes (:data:`ASSUMPTIONS`: a SIP Server's
    ``ha_events_per_call``, an SBC's or SIP Proxy's ``ha_session_events_per_call``) and,
    on the host holding the registrar, its REGISTERs (``ha.*`` sizes)."""
    ha, cps = scenario.ha, scenario.traffic.rate_cps or 0.0
    sizes = {"sip_server": (ha.replication_bytes_per_event, ASSUMPTIONS["ha_events_per_call"]),
             "sbc": (ha.sbc_bytes_per_call_event, ASSUMPTIONS["ha_session_events_per_call"]),
             "proxy": (ha.proxy_bytes_per_call_event, ASSUMPTIONS["ha_session_events_per_call"])}
    devices = scenario.endpoints.count + (scenario.agents.count if scenario.agents.registered
                                          else 0)
    reg = registrar_role(scenario)
    out: dict[str, list[tuple[float, int]]] = {}
    for role in scenario.topology.enabled():
        if scenario.ha_mode(role) != "pair":
            continue
        items = []
        size, events = sizes.get(role, (0, 0.0))
        if size and cps:
            items.append((cps * events, size))
        if role == reg and devices and ha.registration_bytes:
            items.append((devices / scenario.endpoints.expiry_s, ha.registration_bytes))
        if items:
            out[role] = items
    return out


def replication_cost_us(profile: Any, size: int) -> tuple[float, float]:
    """CPU (µs) of one replicated state change of ``size`` bytes on the active host (it
    builds and sends the update) and on the standby (it receives and applies it): a
    message of that size at the profile's ``default`` cost on each, as replication that
    travels as SIP messages costs (Kamailio DMQ sends KDMQ requests), and as the
    simulator charges them."""
    cost = profile.message_cost_us("default", size, tls=False)
    return cost, cost


def closed_form(scenario: Scenario, cores_options: Iterable[int] | None = None) -> ClosedForm:
    """Messages, cores, hosts, trunk channels and Mbps from formulas alone.

    ``cores_options``: the host sizes every role's cores per host are chosen from (the
    size with the fewest total cores, :func:`choose_host_size`); None: each role's
    ``topology.<role>.cores_options`` (see :func:`host_options`); empty: each role's cores.
    """
    overrides = None if cores_options is None else tuple(cores_options)
    t = scenario.traffic
    cps, holding = t.rate_cps, t.holding_time_s
    if cps is None or holding is None:
        raise ValueError("traffic: the closed form needs a call rate and a mean holding time "
                         "(an arrival replay has neither)")
    erl = cps * holding
    channels = _trunk_channels(scenario, erl)
    enabled = scenario.topology.enabled()
    profiles = {r: load_profile(scenario.topology.role(r).profile).for_tls(scenario.trunk.tls_key,
                                                                           scenario.trunk.cipher_suite)
                for r in enabled}
    kinds = link_message_kinds(scenario)
    device_kinds = _device_kinds(scenario)
    sizes = message_sizes(scenario)
    net = tls_model.NetParams(ip_version=scenario.network.ip_version, l2=scenario.network.l2)
    estimates, busy, tls_busy, msgs = _signalling_cpu(scenario, profiles, kinds, device_kinds, sizes)
    m = _MediaSessions.of(scenario, enabled)
    media_busy: dict[str, float] = {}
    for role in ("sbc", "media_server", "recorder"):
        if role in enabled:
            per_pkt = profiles[role].media_packet_us(srtp=m.srtp_at[role])
            media_busy[role] = m.sessions[role] * m.packets_per_session[role] * per_pkt / 1e6
            busy[role] += media_busy[role]
    # CTI: each flow's events delivered to the clients registered for their DNs, and the
    # desktops' requests (sizing.models.cti), on the SIP Server's CPU and its CTI link.
    cti = cti_model(scenario, profiles["sip_server"]) if "sip_server" in enabled else None
    cti_rates = cti.per_second(cps, t.mix.shares()) if cti is not None else None
    if cti_rates is not None:
        busy["sip_server"] += cti_rates.busy_cores
    replicated = replication(scenario)
    standby_busy = _replication_cpu(profiles, replicated, busy)
    roles = pd.DataFrame([
        _closed_form_row(scenario, role, profiles[role], busy[role], tls_busy[role], msgs[role],
                         media_busy.get(role, 0.0), m.sessions, standby_busy.get(role, 0.0), overrides)
        for role in enabled])
    directions = _signalling_directions(scenario, kinds, device_kinds, sizes, net)
    _media_directions(directions, m, enabled)

    send = functools.partial(_send, directions, _SIGNALLING)
    if cti_rates is not None:  # a category of its own in the frames (split_cti)
        send("sip_server", "cti", cti_rates.mbps_to_clients)
        send("cti", "sip_server", cti_rates.mbps_from_clients)
    for role, items in replicated.items():  # each update one TCP message to the standby
        send(role, "standby", sum(rate * tls_model.wire_bytes(size, "tcp", net=net).forward
                                  for rate, size in items) * 8 / 1e6)
    flows = direction_frame(directions, scenario.targets.link_headroom)
    links = links_of(flows, scenario.targets.link_headroom)
    return ClosedForm(erl, channels, roles, links, tuple(estimates), flows)


_SIGNALLING, _MEDIA = 0, 1
"""The columns of a direction's [signalling, media] Mbps."""


def _send(directions: dict[tuple[str, str], list[float]], column: int, a: str, b: str, mbps: float) -> None:
    """Add ``mbps`` of signalling or media (``column``) to the direction ``a`` -> ``b``."""
    directions.setdefault((a, b), [0.0, 0.0])[column] += mbps


def _trunk_channels(scenario: Scenario, erl: float) -> int:
    """Erlang B's channels for the blocking target (every call's channel when none)."""
    blocking = scenario.targets.blocking_max
    channels = int(analytic.servers_for_blocking(erl, blocking)) if 0 < blocking < 1 else math.ceil(erl)
    if channels > MAX_COUNT:  # the recommended scenario could not be written or simulated
        raise ValueError(f"trunk: {channels:,} channels needed for {erl:,.0f} erlangs, more "
                         f"than the {MAX_COUNT:,} a trunk may have; split the traffic across "
                         "trunks or sites")
    return channels


def _signalling_cpu(scenario: Scenario, profiles: Mapping[str, Any],
                    kinds: Mapping[tuple[str, str], Mapping[str, float]],
                    device_kinds: Mapping[tuple[str, str], Mapping[str, float]],
                    sizes: MessageSizes) -> tuple[list[Any], dict[str, float], dict[str, float], dict[str, float]]:
    """Role CPU through analytic.estimate: one estimate per role (its static load
    counted once), its messages split by the transport of the link they arrive
    on: the edge role (on the carrier's link) gets its trunk side over the
    trunk's transport, with the trunk's connection churn; everything else
    arrives over the inside transport. The estimates, and busy cores, TLS's busy
    cores and messages per second by role."""
    t, trunk, targets = scenario.traffic, scenario.trunk, scenario.targets
    cps, holding = t.rate_cps, t.holding_time_s
    assert cps is not None and holding is not None
    per_link = {link: _by_wire_key(counts) for link, counts in kinds.items()}
    reg = registrar_role(scenario)
    role_kinds = dict(kinds)
    for link, per_s in device_kinds.items():  # the registrar's REGISTER, OPTIONS and busy lamps, per call
        role_kinds[link] = {k: v / cps for k, v in per_s.items()}
    estimates = []
    busy: dict[str, float] = {}
    tls_busy: dict[str, float] = {}
    msgs: dict[str, float] = {}
    for role in scenario.topology.enabled():
        counts: dict[str, dict[str, float]] = {}  # transport -> messages received per call
        edge = False
        for link, c in per_link.items():
            if role in link:
                _add(counts.setdefault(_transport(scenario, link), {}),
                     _received(c, upstream=role == link[0]))
                edge = edge or "carrier" in link
        flows = [analytic.Flow("calls", 1.0, {role: c}, transport=tr)
                 for tr, c in counts.items()] or [analytic.Flow("calls", 1.0, {role: {}})]
        if role == reg and device_kinds:  # it receives the REGISTERs, OPTIONS and SUBSCRIBEs, sends the 200s
            received: dict[str, float] = {}
            for per_s in device_kinds.values():
                _add(received, _by_wire_key(_registrar_received(per_s)))
            flows.append(analytic.Flow("registrations", 1.0,
                                       {role: {k: v / cps for k, v in received.items()}},
                                       transport=scenario.inside_transport))
        conns = {role: 1.0 / trunk.calls_per_connection} \
            if edge and trunk.transport != "udp" and trunk.calls_per_connection else {}
        est = analytic.estimate(analytic.EstimateInput(
            calls_per_second=cps, mean_holding_s=holding, flows=tuple(flows),
            cost_profiles={role: profiles[role].to_mapping()},
            message_bytes=_received_bytes(role, role_kinds, sizes),
            transport=trunk.transport, tls_version=trunk.tls_version, tls_key=trunk.tls_key,
            tls_suite=trunk.cipher_suite,
            connections_per_call=conns, resumed_fraction=trunk.tls_resumed_share,
            codec=trunk.codec, ptime_ms=trunk.ptime_ms, srtp=trunk.srtp,
            l2=scenario.network.l2, ip_version=scenario.network.ip_version,
            target_utilisation=targets.cpu_target(role), target_blocking=max(
                min(targets.blocking_max, 0.999), 1e-6)))
        estimates.append(est)
        busy[role] = est.cpu_cores.get(role, profiles[role].static_core_fraction)
        tls_busy[role] = est.tls_cores.get(role, 0.0)
        msgs[role] = est.messages_per_s.get(role, 0.0)
    return estimates, busy, tls_busy, msgs


@dataclass(frozen=True)
class _MediaSessions:
    """Media in the closed form. The SBC relays every answered call (2 streams in, 2
    out); the media server plays IVR and bridges conferences; the recorder receives 2
    streams. The trunk's leg is framed with each direction's SRTP suite, the legs inside
    with network.internal_srtp (plain RTP by default): the SBC ends the trunk's SRTP."""

    stream: media.StreamBandwidth
    """One inside stream."""
    trunk_streams: tuple[media.StreamBandwidth, media.StreamBandwidth]
    """The trunk's streams, in and out."""
    srtp_at: dict[str, bool]
    """Whether a media host pays SRTP's per-packet CPU (a leg it ends is SRTP)."""
    talking: float
    ivr: float
    bridged: float
    sessions: dict[str, float]
    """Media sessions in progress per media role."""
    packets_per_session: dict[str, float]

    @classmethod
    def of(cls, scenario: Scenario, enabled: Sequence[str]) -> _MediaSessions:
        t, trunk = scenario.traffic, scenario.trunk
        cps, holding = t.rate_cps, t.holding_time_s
        assert cps is not None and holding is not None

        def stream_of(suite: str | None) -> media.StreamBandwidth:
            return media.stream_bandwidth(trunk.codec, ptime_ms=trunk.ptime_ms,
                                          bitrate_kbps=trunk.bitrate_kbps, l2=scenario.network.l2,
                                          srtp=suite, ip_version=scenario.network.ip_version)

        inbound, outbound = trunk.srtp_suites
        inside_srtp = scenario.network.internal_srtp
        stream = stream_of(inside_srtp)
        srtp_at = {
            "sbc": inbound is not None or inside_srtp is not None,
            "media_server": inside_srtp is not None or (inbound is not None and "sbc" not in enabled),
            "recorder": inside_srtp is not None,
        }
        shares = t.mix.shares()
        answered = 1.0 - sum(shares[f.name] for f in call_flows.FLOWS if not f.answered)
        # Media sessions in progress: calls talking (answered, for the holding time), calls at
        # the IVR (before it, and while the agent's phone rings) and conferences (the part of
        # the holding time on the bridge, one leg per party, less the back office's ringing).
        # A recorded call is forked from its answer.
        talking = cps * holding * answered
        ring = ASSUMPTIONS["ring_s"]
        ivr = bridged = bridge_legs = 0.0  # calls at the IVR, calls on a bridge, the bridges' legs
        if "media_server" in enabled:
            for f in call_flows.FLOWS:
                share = shares[f.name]
                if f.pre_s:
                    ivr += cps * share * (f.pre_s + ring)
                if f.media_share_of_holding:
                    on_bridge = cps * share * max(holding * f.media_share_of_holding - ring, 0.0)
                    bridged += on_bridge
                    bridge_legs += on_bridge * f.messages.media_server_legs
        sessions = {
            "sbc": talking + ivr,
            "media_server": ivr + bridge_legs,
            "recorder": (talking + ivr) * t.recording_share,
        }
        # A profile's per-packet cost is per packet *received* (and relayed, for the SBC), as
        # the simulator charges it: the SBC receives the caller's and the peer's stream of a
        # call (each packet's relay is in its cost), the media server one stream per session
        # (the caller's voice at the IVR, one party's at a bridge), the recorder both streams.
        packets = {"sbc": 2 * stream.pps, "media_server": stream.pps, "recorder": 2 * stream.pps}
        return cls(stream, (stream_of(inbound), stream_of(outbound)), srtp_at, talking, ivr, bridged,
                   sessions, packets)


def _replication_cpu(profiles: Mapping[str, Any], replicated: Mapping[str, Any],
                     busy: dict[str, float]) -> dict[str, float]:
    """HA pairs: the active host of each pair builds and sends its state changes (added
    to ``busy``), the standby receives and applies them: the standbys' busy cores by role
    (per host: each pair gets its share)."""
    standby_busy: dict[str, float] = {}
    for role, items in replicated.items():
        active_us = standby_us = 0.0
        for rate, size in items:
            a, b = replication_cost_us(profiles[role], size)
            active_us += rate * a
            standby_us += rate * b
        busy[role] += active_us / 1e6
        standby_busy[role] = standby_us / 1e6
    return standby_busy


def _closed_form_row(scenario: Scenario, role: str, profile: Any, busy: float, tls_busy: float, msgs: float,
                     media_busy: float, sessions: Mapping[str, float], standby_busy: float,
                     overrides: tuple[int, ...] | None) -> dict[str, Any]:
    """One role's row: hosts and cores for its load, the TLS share, a pair's standby."""
    load = RoleLoad(busy, profile.static_core_fraction, msgs, media_busy, sessions.get(role, 0.0))
    n_ports = math.ceil(sessions["media_server"] / scenario.topology.media_server.media_ports) \
        if role == "media_server" else 1
    try:
        row = _role_row(scenario, role, load, n_ports, host_options(scenario, role, overrides))
    except ValueError as exc:
        raise ValueError(f"topology.{role}: {exc}") from None
    row["tls_cpu_share"] = tls_busy / busy if busy > 0 else 0.0
    standby_cpu = np.nan
    if scenario.ha_mode(role) == "pair":  # each standby: its static load and its active's updates
        standby_cpu = (profile.static_core_fraction + standby_busy / row["hosts"]) / row["cores_per_host"]
        row["reason"] += (f"; each standby at {100 * standby_cpu:.1f} % CPU applying its "
                          "active's replicated state")
    row["standby_cpu_mean"] = standby_cpu
    return row


def _signalling_directions(scenario: Scenario, kinds: Mapping[tuple[str, str], Mapping[str, float]],
                           device_kinds: Mapping[tuple[str, str], Mapping[str, float]],
                           sizes: MessageSizes, net: tls_model.NetParams) -> dict[tuple[str, str], list[float]]:
    """Signalling Mbps per direction, [signalling, media] by (from, to). Message sizes
    are the engine's on each link (the edge's double Record-Route, RFC 5658, included);
    the carrier's link adds the trunk's connections opened and closed every
    calls_per_connection calls. A request travels from the link's first end (the
    caller's side, the agents' for REGISTER) to its second and its response back; each
    message's pure TCP ACKs travel against it. The split is the closed form's reading
    of the flows (a REFER from an agent is counted as if sent the other way); the sum
    per link is exact."""
    cps, trunk = scenario.traffic.rate_cps or 0.0, scenario.trunk
    sig_links = dict(kinds)
    for link in device_kinds:
        sig_links[link] = {}
    trunk_link = ("carrier", call_path(scenario)[1])
    churn = 1.0 / trunk.calls_per_connection \
        if trunk.transport != "udp" and trunk.calls_per_connection else 0.0
    directions: dict[tuple[str, str], list[float]] = {}
    send = functools.partial(_send, directions, _SIGNALLING)
    for link, counts in sig_links.items():
        transport = _transport(scenario, link)
        a, b = link
        per_kind = [(kind, cps * n) for kind, n in counts.items()]
        per_kind += list(device_kinds.get(link, {}).items())
        for kind, rate in per_kind:
            forward, back = _wire_split(sizes.size(*link, kind), transport, net)
            # a NOTIFY travels from the registrar to the device, its 200 back
            response = kind_class(kind).endswith("xx") != (link in device_kinds and kind.endswith("NOTIFY"))
            src, dst = (b, a) if response else (a, b)
            send(src, dst, rate * forward * 8 / 1e6)
            send(dst, src, rate * back * 8 / 1e6)
        if link == trunk_link and churn:
            c2s, s2c = _connection_split(scenario, net)
            send(a, b, cps * churn * c2s * 8 / 1e6)
            send(b, a, cps * churn * s2c * 8 / 1e6)
    return directions


def _media_directions(directions: dict[tuple[str, str], list[float]], m: _MediaSessions,
                      enabled: Sequence[str]) -> None:
    """Add the RTP streams' Mbps per direction: the SBC relays one stream each way per
    call (to an agent, the IVR or a bridge); the media server holds the caller at the
    IVR or a bridge and an agent and the back office there; the recorder gets both
    parties' streams forked, none back."""
    send = functools.partial(_send, directions, _MEDIA)
    stream_mbps = m.stream.l2_kbps / 1000.0
    in_mbps, out_mbps = (s.l2_kbps / 1000.0 for s in m.trunk_streams)
    anchor = "sbc" if "sbc" in enabled else None
    if anchor:
        send("carrier", anchor, m.sessions["sbc"] * in_mbps)
        send(anchor, "carrier", m.sessions["sbc"] * out_mbps)
        send(anchor, "agents", (m.talking - m.bridged) * stream_mbps)
        send("agents", anchor, (m.talking - m.bridged) * stream_mbps)
    source = anchor or "carrier"
    if "media_server" in enabled:
        there, back = (stream_mbps, stream_mbps) if anchor else (in_mbps, out_mbps)
        send(source, "media_server", (m.ivr + m.bridged) * there)
        send("media_server", source, (m.ivr + m.bridged) * back)
        send("agents", "media_server", 2 * m.bridged * stream_mbps)
        send("media_server", "agents", 2 * m.bridged * stream_mbps)
    if "recorder" in enabled:
        send(source, "recorder", 2 * m.sessions["recorder"] * stream_mbps)


def _role_row(scenario: Scenario, role: str, load: RoleLoad, n_ports: int,
              options: tuple[int, ...] | None) -> dict[str, Any]:
    """One role's closed-form answer: hosts and their size from ``options`` (else the
    scenario's cores), the binding constraint, estimated CPU and the reason in words."""
    target = scenario.targets.cpu_target(role)
    if options is None:
        chosen = HostSize(scenario.topology.role(role).cores, None)
        why = f"cores per host as given (topology.{role}.cores, no host sizes to choose from)"
    else:
        chosen, sizes = pick_host_size(load, target, options, min_hosts=n_ports)
        why = size_reason(sizes, chosen)
    cores = chosen.cores
    n_cpu = hosts_for_target(load.busy_cores, load.static_cores, load.msgs_per_s, cores,
                             target, media_cores=load.media_cores,
                             media_sessions=load.media_sessions)
    n = max(n_cpu, n_ports, 1)
    if n > MAX_HOSTS:  # the recommended scenario could not be written or simulated
        raise ValueError(f"{n:,} hosts of {cores} cores needed, more than the {MAX_HOSTS:,} "
                         "a pool may have; allow bigger hosts (cores_options, --cores-options) or "
                         "split the traffic across sites")
    p95 = load.cpu_p95(n, cores)
    if n_ports > n_cpu:
        binding = "media_ports"
        why = (f"{n} hosts for {load.media_sessions:,.0f} media sessions at "
               f"{scenario.topology.media_server.media_ports:,} per host; {why}")
    elif n_cpu > 1 or load.cpu_p95(1, cores) > 0.5 * target:
        binding = "cpu_p95"
    else:
        binding = "minimum"
    standbys = standby_hosts(scenario, role, n)
    mode = scenario.ha_mode(role)
    if mode in HA_TEXT:
        why = f"{HA_TEXT[mode]}; {why}"
    return {
        "role": role, "msgs_per_s": load.msgs_per_s, "busy_cores": load.busy_cores,
        "static_cores": load.static_cores, "media_cores": load.media_cores,
        "media_sessions": load.media_sessions, "hosts": n, "standby_hosts": standbys,
        "cores_per_host": cores, "cpu_target": target, "cpu_mean": load.cpu_mean(n, cores),
        "cpu_p95": p95, "binding": binding, "size_choice": why,
        "reason": f"{hosts_text(n, standbys, cores, mode)}: {100 * p95:.1f} % CPU p95 per host "
                  f"(estimated, 1-s samples) at the offered load, target "
                  f"{100 * target:.0f} %; {why}",
    }


# ---------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------

ROLE_NAMES = {"sbc": "SBC", "proxy": "SIP Proxy", "sip_server": "SIP Server",
              "media_server": "media server", "recorder": "recorder", "registrar": "registrar"}
"""How a role is named to a planner."""

BINDING_TEXT = {
    "cpu_p95": "CPU p95 target",
    "media_ports": "media sessions per host",
    "srd_p95": "SRD p95 target",
    "minimum": "one host is enough",
}


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


def _with_targets(scenario: Scenario, targets: Any) -> Scenario:
    if targets is None:
        return scenario
    data = targets.model_dump() if hasattr(targets, "model_dump") else dict(targets)
    return apply_overrides(scenario, [f"targets.{k}={_yaml(v)}" for k, v in data.items()],
                           source="targets")


def _yaml(value: Any) -> str:
    import json

    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def _capacity(name: str, scenario: Scenario) -> float:
    """The capacity (Mbps, each way) the scenario gives a link, NaN when none."""
    a, b = name.split("->")
    explicit = any({x.strip() for x in key.split("->")} == {a, b}
                   for key in scenario.links.overrides)
    link = scenario.links.between(a, b)
    cap = link.bandwidth_mbps if (explicit or link.bandwidth_mbps) else None
    return np.nan if cap is None else cap


def _links_frame(links: pd.DataFrame, scenario: Scenario,
                 directions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Links with ``capacity_mbps`` (one way, as a scenario's link is) and ``fits``:
    every direction's provision within it (the links' own sum when no directions)."""
    out = links.copy()
    out["capacity_mbps"] = [_capacity(name, scenario) for name in out["link"]]
    if directions is not None and not directions.empty:
        widest = directions.groupby("link")["required_mbps"].max()
        need = out["link"].map(widest).fillna(out["required_mbps"])
    else:
        need = out["required_mbps"]
    out["fits"] = out["capacity_mbps"].isna() | (need <= out["capacity_mbps"])
    rank = {r: i for i, r in enumerate(ORDER)}
    order = [tuple(rank.get(e, len(ORDER)) for e in x.split("->")) for x in out["link"]]
    out["_o"] = order
    return out.sort_values("_o").drop(columns="_o").reset_index(drop=True)


def _directions_frame(directions: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Directions with ``capacity_mbps`` (the link's, each way) and ``fits``."""
    out = directions.copy()
    out["capacity_mbps"] = [_capacity(name, scenario) for name in out["link"]]
    out["fits"] = out["capacity_mbps"].isna() | (out["required_mbps"] <= out["capacity_mbps"])
    return out.reset_index(drop=True)


def _closed_plan(scenario: Scenario, cf: ClosedForm,
                 cores_options: tuple[int, ...] | None = None) -> Plan:
    dep = cf.roles.assign(cpu_p95_ci=np.nan)
    dep["total_cores"] = (dep["hosts"] + dep["standby_hosts"]) * dep["cores_per_host"]
    dep = dep[DEPLOYMENT_COLUMNS].copy()
    links = _links_frame(cf.links, scenario, cf.directions)
    directions = _directions_frame(cf.directions, scenario)
    t = scenario.targets
    blocking = float(analytic.erlang_b(cf.offered_erlangs, cf.trunk_channels))
    kpis = pd.DataFrame([
        {"kpi": "blocking_ratio", "value": blocking, "target": t.blocking_max,
         "met": blocking <= t.blocking_max},
        {"kpi": "cpu_p95_max", "value": float(dep["cpu_p95"].max()),
         "target": float(dep["cpu_target"].min()),
         "met": bool((dep["cpu_p95"] <= dep["cpu_target"] + 1e-12).all())},
    ])
    met = bool(kpis["met"].all() and links["fits"].all())
    return Plan(
        name=scenario.name, scenario=scenario, deployment=dep,
        trunk_channels=cf.trunk_channels, offered_erlangs=cf.offered_erlangs,
        erlang_b_channels=cf.trunk_channels, links=links, kpis=kpis,
        candidates=pd.DataFrame(), simulated=False, met=met, closed=cf, directions=directions,
        cores_options=cores_options,
        confidence="closed form only: CPU mean per host at the offered load; CPU p95 of 1-s "
                   "samples per host is a normal approximation of Poisson message counts and "
                   "media sessions in progress; blocking is Erlang B; not confirmed by "
                   "simulation")


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
        from sizing.budget import check_simulation

        check_simulation(scenario, hint="use --no-simulate or shorten duration_s")
    cf = closed_form(scenario, options)
    if not simulate:
        return _closed_plan(scenario, cf, options)
    return _simulated_plan(scenario, cf, progress=progress, max_rounds=max_rounds,
                           cores_options=options, on_candidate=on_candidate, workers=workers)


ORDER = ("carrier", "sbc", "proxy", "sip_server", "media_server", "recorder", "registrar",
         "agents", "endpoints", "cti", "standby")
"""Order of link ends in link names ("sbc->proxy", never "proxy->sbc")."""


def end_name(end: str) -> str:
    """A link's end as a planner reads it: a role's name (``SIP Proxy``) or the endpoint."""
    return ROLE_NAMES.get(end, end)


def direction_name(src: str, dst: str) -> str:
    """One direction of a link in words: ``SBC → recorder``."""
    return f"{end_name(src)} → {end_name(dst)}"


def link_name(a: str, b: str) -> str:
    """Canonical name of the link between two roles or endpoints."""
    rank = {r: i for i, r in enumerate(ORDER)}
    x, y = sorted((a, b), key=lambda r: (rank.get(r, len(ORDER)), r))
    return f"{x}->{y}"


DIRECTION_COLUMNS = ["link", "src", "dst", "signalling_mbps", "media_mbps", "cti_mbps",
                     "total_mbps", "required_mbps"]

CTI_END = "cti"
"""The link end standing for the CTI clients: what its links carry is CTI, not signalling."""


def split_cti(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (rows per ``link``, bytes counted as ``signalling_mbps``) with the
    traffic of links to the CTI clients moved to a ``cti_mbps`` column of its own, after
    ``media_mbps``: events and requests of the SIP Server's T-Server interface are
    neither SIP signalling nor media.  Totals are left as they are."""
    out = frame.drop(columns="cti_mbps", errors="ignore")
    on_cti = out["link"].map(lambda name: CTI_END in str(name).split("->")).astype(bool)
    out.insert(out.columns.get_loc("media_mbps") + 1, "cti_mbps",
               out["signalling_mbps"].where(on_cti, 0.0))
    out["signalling_mbps"] = out["signalling_mbps"].where(~on_cti, 0.0)
    return out


def direction_frame(directions: Mapping[tuple[str, str], Any], headroom: float) -> pd.DataFrame:
    """One row per link and direction from ``{(src, dst): (signalling Mbps, media Mbps)}``:
    ``link`` (its :func:`link_name`), ``src``, ``dst``, the Mbps sent from ``src`` to
    ``dst`` and ``required_mbps``, what to provision that way with the headroom.  Both
    directions of a link that carries anything are listed (a recorder's link sends
    nothing back), the link's own direction (``sbc->recorder``: sbc to recorder) first."""
    rank = {r: i for i, r in enumerate(ORDER)}
    acc: dict[tuple[str, str], list[float]] = {}
    for (a, b), (sig, med) in directions.items():
        x = acc.setdefault((a, b), [0.0, 0.0])
        x[0] += float(sig)
        x[1] += float(med)
    busy = {link_name(a, b) for (a, b), (sig, med) in acc.items() if sig + med > 0}
    rows = []
    for name in busy:
        x, y = name.split("->")
        for a, b in ((x, y), (y, x)):
            sig, med = acc.get((a, b), (0.0, 0.0))
            rows.append({"link": name, "src": a, "dst": b, "signalling_mbps": sig,
                         "media_mbps": med})
    frame = pd.DataFrame(rows, columns=DIRECTION_COLUMNS[:5])
    frame["total_mbps"] = frame["signalling_mbps"] + frame["media_mbps"]
    frame["required_mbps"] = frame["total_mbps"] / (1 - headroom)
    frame = split_cti(frame)
    order = [(*(rank.get(e, len(ORDER)) for e in link.split("->")), link, link.split("->")[0] != a)
             for link, a in zip(frame["link"], frame["src"], strict=True)]
    frame["_o"] = order
    return frame.sort_values("_o").drop(columns="_o").reset_index(drop=True)


def links_of(directions: pd.DataFrame, headroom: float) -> pd.DataFrame:
    """Per link, both directions summed: link, signalling_mbps, media_mbps, cti_mbps,
    total_mbps, required_mbps (the sum with headroom, as the figures draw it)."""
    links = directions.groupby("link", sort=False, as_index=False)[
        ["signalling_mbps", "media_mbps", "cti_mbps"]].sum()
    links["total_mbps"] = links["signalling_mbps"] + links["media_mbps"] + links["cti_mbps"]
    links["required_mbps"] = links["total_mbps"] / (1 - headroom)
    return links.reset_index(drop=True)


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


# ---------------------------------------------------------------------------
# What-if
# ---------------------------------------------------------------------------

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
