"""The closed form: messages, cores, hosts, trunk channels and Mbps from formulas alone
(:func:`closed_form`), each role's row and the constraint that binds it, and the plan it
makes without simulation."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sizing import flows as call_flows
from sizing.models import analytic, media
from sizing.models import tls as tls_model
from sizing.models.cti import cti_model
from sizing.models.profile import load_profile
from sizing.plan.host_size import (
    HostSize,
    RoleLoad,
    check_cores_options,
    hosts_for_target,
    pick_host_size,
    size_reason,
)
from sizing.plan.links import _directions_frame, _links_frame, direction_frame, links_of
from sizing.plan.message_sizes import MessageSizes, message_sizes
from sizing.plan.messages import (
    _add,
    _by_wire_key,
    _device_kinds,
    _received,
    _registrar_received,
    call_path,
    link_message_kinds,
    registrar_role,
)
from sizing.plan.model import DEPLOYMENT_COLUMNS, ClosedForm, Plan
from sizing.plan.wire import _connection_split, _received_bytes, _transport, _wire_split
from sizing.scenario import Scenario
from sizing.scenario.model import MAX_COUNT, MAX_HOSTS
from sizing.sip.kind import kind_class

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
