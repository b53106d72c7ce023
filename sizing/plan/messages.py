"""Messages the closed form counts: per call on every link of the call path, by kind
(:func:`link_message_kinds`) or by method and status class (:func:`link_messages`), and
per second from registered devices (:func:`background_messages`, :func:`presence_messages`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sizing import flows as call_flows
from sizing.scenario import Scenario
from sizing.sip.kind import kind_class, wire_key

_LEG = {
    "INVITE": 1,
    "100 INVITE": 1,
    "180 INVITE": 1,
    "200 INVITE": 1,
    "ACK": 1,
    "BYE": 1,
    "200 BYE": 1,
}
"""Messages of one answered call leg on one link, by kind (:mod:`sizing.plan.message_sizes`)."""
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
    ``200 BYE``, ``refresh re-INVITE``: :mod:`sizing.plan.message_sizes` names them).

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
