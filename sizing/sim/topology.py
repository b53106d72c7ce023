"""The contact-centre deployment of a scenario as hosts and engine elements on a SimNetwork.

Theory of operation
-------------------
:func:`build_topology` turns ``scenario.topology`` into simulated hosts and
binds a real engine element to each:

- ``carrier``: the call generator, one :class:`UserAgent` offering SDP;
- ``sbc-i``: an :class:`EdgeProxy` (a record-routing :class:`Proxy`) that
  enforces the trunk's channel and CPS limits with a stateful 503; the carrier
  sends each call to the edge host (SBC, else proxy, else SIP Server) chosen by
  the CRC-32 of its Call-ID, and an SBC anchors the media of the calls it signals;
- ``proxy-i``: the record-routing proxy pool; the hop before it picks an
  instance by a CRC-32 hash of the Call-ID (stable across runs and processes);
- ``sip_server-i``: a :class:`SipServer` (the B2BUA);
- HA (``topology.<role>.ha``): a ``pair`` gives each host of the role a
  ``<host>-standby`` host as big that receives its replicated state (the flows
  charge it, :mod:`.flows.driver`) and takes over its addresses when it fails
  (:mod:`.fault`); ``n_plus_1`` builds one more host, ``<role>-spare``, with
  its element, kept out of the pool until a host of the role fails;
- ``media_server-i``, ``recorder-i``: user agents that answer (IVR, queue
  music, recording);
- ``agents``, ``endpoints``: user agents standing for all agent phones and all
  other registered phones; ``cti``: every CTI client (the events it receives and the
  requests it sends are bytes on its link; sizing.models.cti);
- ``registrar-i`` when enabled, else a :class:`Registrar` on a second address
  of each proxy (the proxy pool handles REGISTER).

SBC and proxy elements write the header text of their own (Via branch,
Record-Route, 100 Trying, Server) in the wire style of their role's cost
profile (``wire:``), so their links carry the modelled product's bytes.

A missing role is skipped: the path is carrier -> first of sbc / proxy /
sip_server -> ... -> agents. Addresses are ``10.<role>.0.<instance>``. The
carrier link uses the trunk's transport, every other link the scenario's
inside transport (``network.internal_transport``); when they differ, each
host of the edge role (the first of sbc / proxy / sip_server) has a second
address on the inside transport: a proxy double record-routes (RFC 5658), a
SIP Server keeps leg A on the trunk's transport and its other legs inside.
The carrier's links to the edge hosts close and reopen their TCP/TLS
connection every ``trunk.calls_per_connection`` calls (handshake bytes, round
trips and CPU each time); ``trunk.tls_resumed_share`` of the new TLS
connections resume a session. Links come from ``scenario.links`` (default plus role-pair overrides; the
scenario's jitter standard deviation becomes the uniform jitter bound with the
same deviation, ``sqrt(12)`` times it).

Session timers (``trunk.session_expires_s``, RFC 4028): the carrier asks for
the interval with ``refresher=uac`` and refreshes every half interval with
UPDATE or re-INVITE (``trunk.session_refresh``); the agents and media
servers support the timer as UAS; the SIP Server relays the negotiation and
every refresh (:mod:`sizing.sip.b2bua.session_timer`). Recorders get no
timer: a recording leg is the SIP Server's own and carries no refreshes.

Overload policies: ``drop`` and ``503`` act at each host's front end
(:class:`OverloadPolicy`); ``loss`` adds RFC 7339 loss-based control
(:mod:`.overload`): each host of the role runs a :class:`LossController`
and stamps its responses, and every element that sends it requests (the
carrier, the SBCs and proxies before it, the SIP Server before media servers
and recorders) refuses the signalled share of new INVITEs with a local 503;
the front end keeps its 503 as the last guard.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import simpy

from ..flows import DOMAIN
from ..models.profile import CostProfile, load_profile
from ..models.tls import NetParams, TlsCost
from ..scenario import Scenario
from ..sip.b2bua import B2BUA, B2BUAConfig, BridgedCall
from ..sip.interfaces import Address, TimerConfig, Transport, TransportError
from ..sip.message import Request, Response
from ..sip.presence import Notifier, Watcher
from ..sip.proxy import Proxy, ProxyConfig, WireStyle
from ..sip.receive import receive_bytes
from ..sip.registrar import Registrar
from ..sip.sdp import Capabilities
from ..sip.transaction import ServerTransaction, Transaction
from ..sip.ua import SessionTimerConfig, UserAgent
from .host import OverloadPolicy, TableProfile
from .link import LinkSpec
from .network import SimNetwork
from .overload import LossController, OcClient, OcServerTransport
from .workload import stream

__all__ = [
    "EdgeProxy",
    "Node",
    "SipServer",
    "Topology",
    "TrunkGate",
    "build_topology",
    "call_hash",
    "session_timers",
]

#: Second octet of each role's addresses.
_NET = {"carrier": 1, "sbc": 2, "proxy": 3, "sip_server": 4, "media_server": 5, "recorder": 6,
        "registrar": 7, "agents": 8, "endpoints": 9, "cti": 10, "standby": 11}
#: Endpoints are not sized: they cost nothing.
FREE = TableProfile({"default": 0.0}, tls=TlsCost(0.0, 0.0, 0.0))
REGISTRAR_PORT_OFFSET = 10
WATCHER_PORT_OFFSET = 20
"""The endpoints host's busy lamps listen this many ports above its main address."""
#: The SBCs' and proxies' own domain: new requests for it go down the call path by Call-ID;
#: any other (a leg the SIP Server places towards the carrier) goes to its Request-URI.
_DOMAINS = frozenset({DOMAIN})
#: Roles whose elements answer requests on the call path, so loss-based control applies.
_CONTROLLABLE = frozenset(("sbc", "proxy", "sip_server", "media_server", "recorder"))


def call_hash(call_id: str, n: int) -> int:
    """The pool member (0..n-1) a Call-ID goes to: CRC-32, the same in every process."""
    return zlib.crc32(call_id.encode()) % n


def _address(role: str, index: int, transport: str, port_offset: int = 0) -> Address:
    port = (5061 if transport == "TLS" else 5060) + port_offset
    return Address(transport, f"10.{_NET[role]}.0.{index + 1}", port)


class TrunkGate:
    """The carrier trunk's admission: at most ``channels`` calls at once, ``cps_limit``
    attempts per second (a token bucket holding one second's worth); beyond either the
    first element answers the INVITE 503."""

    def __init__(self, channels: int, cps_limit: float | None, now: Callable[[], float]) -> None:
        self.channels = channels
        self.cps_limit = cps_limit
        self.now = now
        self.active: set[str] = set()
        self.blocked_channels = 0
        self.blocked_cps = 0
        self._tokens = max(cps_limit, 1.0) if cps_limit else 0.0
        self._last = 0.0
        self.on_change: Callable[[int], object] | None = None
        """Told the number of channels in use whenever it changes."""
        self.on_blocked: Callable[[str, str], object] | None = None
        """Told (Call-ID, "channels" or "cps") of each refused attempt."""

    def admit(self, call_id: str) -> bool:
        if call_id in self.active:
            return True
        reason = None
        if self.cps_limit:
            now = self.now()
            cap = max(self.cps_limit, 1.0)
            self._tokens = min(cap, self._tokens + (now - self._last) * self.cps_limit)
            self._last = now
            if self._tokens < 1.0:
                reason = "cps"
        if reason is None and len(self.active) >= self.channels:
            reason = "channels"
        if reason is not None:
            if reason == "cps":
                self.blocked_cps += 1
            else:
                self.blocked_channels += 1
            if self.on_blocked is not None:
                self.on_blocked(call_id, reason)
            return False
        if self.cps_limit:
            self._tokens -= 1.0
        self.active.add(call_id)
        if self.on_change is not None:
            self.on_change(len(self.active))
        return True

    def admit_present(self, call_id: str) -> None:
        """Take a channel for a call already in progress at t = 0 (a steady-state start):
        it arrived before the run, so the calls-per-second limit does not apply to it."""
        if call_id not in self.active and len(self.active) < self.channels:
            self.active.add(call_id)
            if self.on_change is not None:
                self.on_change(len(self.active))

    def release(self, call_id: str) -> None:
        if call_id in self.active:
            self.active.discard(call_id)
            if self.on_change is not None:
                self.on_change(len(self.active))


class EdgeProxy(Proxy):
    """A stateful proxy that is the trunk's first hop: a new INVITE beyond the trunk's
    limits gets a 503 from its own server transaction (so the ACK is absorbed there);
    a BYE or a final error to an INVITE releases the channel."""

    gate: TrunkGate | None = None

    def request_received(self, transaction: Transaction | None, request: Request) -> None:
        gate = self.gate
        if gate is not None and transaction is not None:
            call_id = request.call_id or ""
            if request.method == "INVITE" and request.to_tag is None and not gate.admit(call_id):
                assert isinstance(transaction, ServerTransaction)
                self.stats.requests_received["INVITE"] += 1
                response = self.local_response(request, 503, headers=[("Retry-After", "5")],
                                               to_tag=f"gate{zlib.crc32(call_id.encode()):08x}")
                transaction.respond(response)
                self.stats.generated[503] += 1
                return
            if request.method == "BYE":
                gate.release(call_id)
        super().request_received(transaction, request)

    def transport_error(self, transaction: Transaction, error: TransportError) -> None:
        """A new INVITE that could not be sent (refused by overload control, or no
        connection) fails with a 503 of this proxy's own: its channel is free again."""
        super().transport_error(transaction, error)
        gate = self.gate
        request = getattr(transaction, "request", None)
        if gate is not None and isinstance(request, Request) and request.method == "INVITE" \
                and request.to_tag is None:
            gate.release(request.call_id or "")

    def response_received(self, transaction: Transaction | None, response: Response) -> None:
        gate = self.gate
        cseq = response.cseq
        if gate is not None and response.status >= 300 and cseq is not None and cseq.method == "INVITE":
            gate.release(response.call_id or "")
        super().response_received(transaction, response)


class SipServer(B2BUA):
    """The B2BUA with the hooks a simulation needs: call-state events (setup, answer,
    transfer, release) for HA replication and CTI, per-call recording, the trunk gate
    when it is the first hop, and the Call-ID of every outbound leg it starts."""

    gate: TrunkGate | None = None
    on_state: Callable[[SipServer, BridgedCall, str], object] | None = None
    on_leg: Callable[[BridgedCall, str, str], object] | None = None
    """Told (call, role, leg Call-ID) of each outbound leg."""
    record: Callable[[BridgedCall], bool] | None = None
    """Whether to record a call (None: every call, when a recorder is configured)."""

    def request_received(self, transaction: Transaction | None, request: Request) -> None:
        gate = self.gate
        if gate is not None and transaction is not None and request.method == "INVITE" \
                and request.to_tag is None and not gate.admit(request.call_id or ""):
            assert isinstance(transaction, ServerTransaction)
            self._respond(transaction, request, 503, to_tag=self._new_tag(), headers=[("Retry-After", "5")])
            return
        super().request_received(transaction, request)

    def _state(self, call: BridgedCall, kind: str) -> None:
        if self.on_state is not None:
            self.on_state(self, call, kind)

    def _new_call(self, txn, request):  # type: ignore[no-untyped-def]
        before = self._number
        super()._new_call(txn, request)
        if self._number != before and self.calls:
            newest = next(reversed(self.calls))
            if newest.request is request:
                self._state(newest, "setup")

    def _start_leg(self, call, role, target, **kwargs):  # type: ignore[no-untyped-def]
        leg = super()._start_leg(call, role, target, **kwargs)
        if self.on_leg is not None and leg.invite is not None:
            self.on_leg(call, role, leg.invite.call_id or "")
        return leg

    def _bridge_answered(self, leg, response):  # type: ignore[no-untyped-def]
        super()._bridge_answered(leg, response)
        self._state(leg.call, "answer")

    def _reconnect(self, call, target, role):  # type: ignore[no-untyped-def]
        leg = super()._reconnect(call, target, role)
        self._state(call, "transfer")
        return leg

    def _start_recording(self, call: BridgedCall) -> None:
        if self.record is None or self.record(call):
            super()._start_recording(call)

    def _finish(self, call: BridgedCall, state: str, detail: str) -> None:
        if not call.ended:
            if self.gate is not None:
                self.gate.release(call.request.call_id or "")
            self._state(call, "release")
        super()._finish(call, state, detail)


@dataclass
class Node:
    """One simulated host and the element bound to it."""

    name: str
    role: str
    address: Address
    element: object = None
    profile_name: str = ""
    inside: Address | None = None
    """The edge role's second address, on the inside transport (None: same transport)."""


@dataclass
class Topology:
    """The built deployment: the network, hosts by role, and the elements the flows drive."""

    scenario: Scenario
    net: SimNetwork
    gate: TrunkGate
    transport: str
    carrier: UserAgent
    agents: UserAgent
    nodes: list[Node] = field(default_factory=list)
    sbcs: list[Node] = field(default_factory=list)
    proxies: list[Node] = field(default_factory=list)
    sip_servers: list[Node] = field(default_factory=list)
    standbys: dict[str, Node] = field(default_factory=dict)
    """Host name -> its hot standby (roles whose ``ha`` is ``pair``)."""
    spares: dict[str, Node] = field(default_factory=dict)
    """Role -> its spare host (roles whose ``ha`` is ``n_plus_1``), out of the pool."""
    registrar_hosts: dict[Address, tuple[str, Registrar]] = field(default_factory=dict)
    """Registrar address -> (the host holding it, the registrar)."""
    media_servers: list[Node] = field(default_factory=list)
    recorders: list[Node] = field(default_factory=list)
    registrars: list[Address] = field(default_factory=list)
    endpoints: UserAgent | None = None
    watcher: Watcher | None = None
    """The endpoints' busy lamps (a second address of the endpoints host), with presence."""
    notifiers: list[Notifier] = field(default_factory=list)
    """Each registrar's busy-lamp notifier, with presence."""
    cti: Node | None = None
    loss_controllers: dict[str, LossController] = field(default_factory=dict)
    """RFC 7339 servers by host name (hosts whose role's overload policy is ``loss``)."""
    oc_clients: list[OcClient] = field(default_factory=list)
    """RFC 7339 clients: the elements that send requests to those hosts."""

    def roles(self) -> dict[str, str]:
        """Host name -> role."""
        return {n.name: n.role for n in self.nodes}

    def first_hop(self) -> Address:
        """Where the carrier sends requests of no call (the first edge host)."""
        return self.edge_pool()[0].address

    def edge_pool(self) -> list[Node]:
        """The hosts the carrier's trunk reaches: the first of sbc / proxy / sip_server."""
        for pool in (self.sbcs, self.proxies, self.sip_servers):
            if pool:
                return pool
        raise ValueError("topology: no sbc, proxy or sip_server")

    def edge_of_call(self, call_id: str) -> Node:
        """The edge host that carries a call's signalling and (an SBC) its media: the
        trunk spreads calls over the edge pool by Call-ID, as the pools behind it do."""
        return self.host_of_call(self.edge_pool(), call_id)

    def host_of_call(self, pool: list[Node], call_id: str) -> Node:
        return pool[call_hash(call_id, len(pool))]


def link_spec(scenario: Scenario, a: str, b: str) -> LinkSpec:
    """The LinkSpec between two roles (overrides applied), with the trunk's TLS settings."""
    link = scenario.links.between(a, b)
    trunk = scenario.trunk
    return LinkSpec(
        latency_s=link.latency_ms / 1000.0,
        jitter_s=link.jitter_ms * math.sqrt(12.0) / 1000.0,
        loss=link.loss,
        tls_version=trunk.tls_version,
        tls_suite=trunk.cipher_suite,
        tls_key=trunk.tls_key,
        tls_resumed_share=trunk.tls_resumed_share,
        calls_per_connection=trunk.calls_per_connection if "carrier" in (a, b) else None,
        net=NetParams(ip_version=scenario.network.ip_version, l2=scenario.network.l2),
    )


def media_capabilities(scenario: Scenario) -> Capabilities:
    """Every user agent's media: the trunk's codec, its ptime when the scenario sets one,
    and SDES-keyed SRTP (RFC 4568: ``RTP/SAVP`` with an ``a=crypto`` line) when ``srtp`` names
    a suite, so the SDP bytes on every link are those of the scenario's media. The carrier
    offers the suite it sends (``trunk.srtp_inbound``, else ``srtp``); the SDP is relayed
    unchanged inside, so the inside legs carry the trunk's ``a=crypto`` line too."""
    inbound, _ = scenario.trunk.srtp_suites
    trunk = scenario.trunk
    return Capabilities(
        codecs=[trunk.codec],
        srtp_suites=(inbound,) if inbound else (),
        srtp_required=inbound is not None,
        **({"ptime": trunk.ptime_ms} if trunk.ptime_ms is not None else {}),
    )


def session_timers(scenario: Scenario) -> tuple[SessionTimerConfig | None, SessionTimerConfig | None]:
    """The carrier's session timer (it asks for the trunk's interval and refreshes) and the
    answering user agents' (they accept that interval as UAS); (None, None) without one."""
    expires = scenario.trunk.session_expires_s
    if expires is None:
        return None, None
    method = "UPDATE" if scenario.trunk.session_refresh == "update" else "INVITE"
    carrier = SessionTimerConfig(expires=expires, min_se=90, refresher="uac", method=method)
    return carrier, SessionTimerConfig(expires=expires, min_se=90, method=method)


def _overload(role_overload) -> OverloadPolicy:  # type: ignore[no-untyped-def]
    """The host's front-end overload policy. In 503 mode new INVITEs are refused from
    half the queue limit: the front end drops at the limit before it looks at the
    threshold, and the other half keeps room for the messages of calls already
    admitted. ``loss`` keeps that 503 as the guard behind its upstream control."""
    mode = "drop" if role_overload.policy == "drop" else "reject"
    return OverloadPolicy(mode=mode, queue_limit=role_overload.queue_limit,
                          reject_threshold=max(role_overload.queue_limit // 2, 1),
                          retry_after_s=max(int(round(role_overload.retry_after_s)), 0))


def build_topology(scenario: Scenario, env: simpy.Environment, *, seed: int,
                   timers: TimerConfig | None = None) -> Topology:
    """Hosts, links and elements for ``scenario`` on a new SimNetwork over ``env``."""
    b = _Builder(scenario, env, seed, timers if timers is not None else TimerConfig())
    carrier_node = b.add("carrier", "carrier", 0, None)
    sbcs, proxies, servers = b.pool("sbc"), b.pool("proxy"), b.pool("sip_server")
    media, recorders, registrar_nodes = b.pool("media_server"), b.pool("recorder"), b.pool("registrar")
    agents_node = b.add("agents", "agents", 0, None)
    gate = TrunkGate(scenario.trunk.channels, scenario.trunk.cps_limit, b.clock.now)
    b.loss_control()
    b.edge_proxies(sbcs, proxies, servers, agents_node, gate)
    topology = Topology(scenario, b.net, gate, b.transport, carrier=None, agents=None)  # type: ignore[arg-type]
    b.sip_servers(servers, media + recorders, gate, alone=not sbcs and not proxies)
    for node in media:
        b.answering_ua(node, "media", b.uas_timer)
    for node in recorders:
        b.answering_ua(node, "recorder", None)
    agents = b.answering_ua(agents_node, "agent", b.uas_timer)
    carrier = UserAgent(b.clock, carrier_node.address, user="carrier", config=b.timers, seed=next(b.seeds),
                        capabilities=b.caps, outbound_proxy=None, session_timer=b.carrier_timer)
    first_pool = sbcs or proxies or servers
    carrier.transport = b.attach(carrier_node, carrier.datagram_received, first_pool)
    carrier_node.element = carrier
    presence = scenario.endpoints.count > 0 and scenario.endpoints.presence_subscriptions > 0
    registrars = b.registrars(topology, registrar_nodes, proxies, presence)
    b.high_availability(topology, {"sbc": sbcs, "proxy": proxies, "sip_server": servers,
                                   "media_server": media, "recorder": recorders,
                                   "registrar": registrar_nodes})
    endpoints = b.endpoints(topology, presence and bool(registrars))
    cti = b.add("cti", "cti", 0, None) if scenario.cti.active and servers else None

    topology.nodes = b.nodes
    topology.sbcs, topology.proxies, topology.sip_servers = sbcs, proxies, servers
    topology.media_servers, topology.recorders = media, recorders
    topology.registrars = registrars
    topology.carrier, topology.agents, topology.endpoints, topology.cti = carrier, agents, endpoints, cti
    carrier.outbound_proxy = topology.first_hop()
    topology.loss_controllers, topology.oc_clients = b.controllers, b.clients
    for controller in b.controllers.values():
        controller.start()
    _links(scenario, b.net, b.nodes)
    if scenario.trunk.calls_per_connection is not None and b.transport != "UDP":
        for node in first_pool:  # the trunk's connections churn; inside ones stay open
            b.net.link(carrier_node.name, node.name, link_spec(scenario, "carrier", _role_name(node.role)))
    return topology


class _Builder:
    """What :func:`build_topology` builds with: the network, the scenario's transports
    and timers, the hosts made so far, their profiles and the elements' seeds (drawn in
    build order, so a scenario builds the same deployment every time)."""

    def __init__(self, scenario: Scenario, env: simpy.Environment, seed: int, timers: TimerConfig) -> None:
        self.scenario, self.seed, self.timers = scenario, seed, timers
        self.net = SimNetwork(env, seed=seed, default_link=link_spec(scenario, "__default__", "__none__"),
                              warmup_s=scenario.warmup_s)
        self.transport = scenario.trunk.transport.upper()
        self.inside = scenario.inside_transport.upper()
        self.model = scenario.topology
        self.enabled = set(self.model.enabled())
        self.edge_role = scenario.edge_role if self.inside != self.transport else None
        self.clock = self.net.clock
        self.caps = media_capabilities(scenario)
        self.carrier_timer, self.uas_timer = session_timers(scenario)
        self.nodes: list[Node] = []
        self.seeds = iter(range(seed * 1000 + 1, seed * 1000 + 1000))
        self.profiles: dict[str, CostProfile] = {}
        self.controllers: dict[str, LossController] = {}
        self.clients: list[OcClient] = []

    def add(self, name: str, role: str, index: int, profile_name: str | None, cores: int = 1,
            overload: OverloadPolicy | None = None, extra: tuple[Address, ...] = (),
            edge: bool = True) -> Node:
        """A host of ``role``; ``edge=False`` keeps a host of the edge role (a standby)
        inside only."""
        on_edge = edge and role == self.edge_role
        on_trunk = role == "carrier" or on_edge
        address = _address(role if role in _NET else "standby", index, self.transport if on_trunk else self.inside)
        second = _address(role, index, self.inside) if on_edge else None
        if second is not None:
            if second == address or second in extra:  # e.g. TCP trunk, UDP inside: same port
                second = _address(role, index, self.inside, port_offset=1)
            extra = (second, *extra)
        profile: CostProfile | TableProfile = FREE
        if profile_name:
            if profile_name not in self.profiles:
                # TLS figures of the trunk's key type and suite (every TLS link has them)
                self.profiles[profile_name] = load_profile(profile_name).for_tls(
                    self.scenario.trunk.tls_key, self.scenario.trunk.cipher_suite)
            profile = self.profiles[profile_name]
        self.net.add_host(name, (address, *extra), cores=cores, profile=profile, overload=overload)
        node = Node(name, role, address, profile_name=profile_name or "", inside=second)
        self.nodes.append(node)
        return node

    def pool(self, role: str) -> list[Node]:
        """The role's hosts; with ``n_plus_1`` its spare last (taken out once built)."""
        if role not in self.enabled:
            return []
        spec = self.model.role(role)
        out = []
        spare = self.scenario.ha_mode(role) == "n_plus_1"
        for i in range(spec.instances + spare):
            extra: tuple[Address, ...] = ()
            if role == "proxy" and "registrar" not in self.enabled:
                extra = (_address("proxy", i, self.inside, REGISTRAR_PORT_OFFSET),)
            name = f"{role}-spare" if i == spec.instances else f"{role}-{i + 1}"
            out.append(self.add(name, role, i, spec.profile, spec.cores, _overload(spec.overload), extra))
        return out

    def loss_control(self) -> None:
        """RFC 7339 loss-based control: a server on each host of the roles so configured."""
        model = self.model
        loss_roles = {r for r in self.enabled & _CONTROLLABLE if model.role(r).overload.policy == "loss"}
        for node in self.nodes:
            if node.role in loss_roles:
                target = model.role(node.role).overload.target_utilisation
                self.controllers[node.name] = LossController(self.net.hosts[node.name], self.clock, target=target)

    def attach(self, node: Node, entry: Callable[[bytes, Address], None], downstream: list[Node],
               address: Address | None = None) -> Transport:
        """Attach ``entry`` at the node's address (or ``address``); the transport it sends
        with carries the overload control of the node (as a server) and of its downstream servers."""
        controlled = [n.address for n in downstream if n.name in self.controllers]
        client = None
        if controlled:
            client = OcClient(self.clock, controlled, stream(self.seed, f"overload-control:{node.name}"), node.name)
            self.clients.append(client)
            entry = client.receive(entry)
        sent: Transport = self.net.attach(address or node.address, entry)
        if client is not None:
            sent = client.wrap(sent)  # type: ignore[assignment]
        controller = self.controllers.get(node.name)
        if controller is not None:
            sent = OcServerTransport(sent, controller)  # type: ignore[assignment]
        return sent

    def edge_proxies(self, sbcs: list[Node], proxies: list[Node], servers: list[Node], agents_node: Node,
                     gate: TrunkGate) -> None:
        """The SBC and SIP Proxy pools' elements, each hop choosing the next pool's member
        by Call-ID; the first pool guards the trunk's channels."""
        def chooser(nodes_: list[Node]) -> Callable[[Request], list[Address]]:
            return lambda request: [nodes_[call_hash(request.call_id or "", len(nodes_))].address]

        after_proxy = servers or [agents_node]
        after_sbc = proxies or after_proxy
        for index, (pool_nodes, nxt) in enumerate(((sbcs, after_sbc), (proxies, after_proxy))):
            for node in pool_nodes:
                wire = self.profiles[node.profile_name].wire_style() if node.profile_name else WireStyle()
                proxy = EdgeProxy(self.clock, node.address, chooser(nxt),
                                  config=ProxyConfig(wire=wire, domains=_DOMAINS), timers=self.timers,
                                  seed=next(self.seeds))
                if index == 0 or not sbcs:
                    proxy.gate = gate
                if node.inside is None:
                    proxy.transport = self.attach(node, proxy.on_message, nxt)
                else:  # the trunk on the main address; the next hops on the inside one
                    proxy.transport = self.attach(node, proxy.on_message, [])
                    inside_at = node.inside
                    proxy.add_interface(inside_at, self.attach(
                        node, lambda data, source, p=proxy, a=inside_at: p.on_message(data, source, a), nxt,
                        address=inside_at))
                node.element = proxy

    def sip_servers(self, servers: list[Node], downstream: list[Node], gate: TrunkGate, *, alone: bool) -> None:
        """The SIP Server pool's B2BUAs; ``alone`` (no SBC nor proxy before them): they
        guard the trunk's channels."""
        for node in servers:
            server = SipServer(self.clock, node.address, lambda request: None,
                               config=B2BUAConfig(user="sipserver"), timers=self.timers, seed=next(self.seeds))
            if alone:
                server.gate = gate
            if node.inside is None:
                server.transport = self.attach(node, server.datagram_received, downstream)
            else:  # the trunk's leg A on the main address; every other leg on the inside one
                server.transport = self.attach(node, server.datagram_received, [])
                server_in = node.inside
                server.add_interface(server_in, self.attach(
                    node, lambda data, source, b=server, a=server_in: b.datagram_received(data, source, a),
                    downstream, address=server_in))
            node.element = server

    def answering_ua(self, node: Node, user: str, session_timer: SessionTimerConfig | None) -> UserAgent:
        ua = UserAgent(self.clock, node.address, user=user, config=self.timers, seed=next(self.seeds),
                       capabilities=self.caps, session_timer=session_timer)
        ua.transport = self.attach(node, ua.datagram_received, [])
        node.element = ua
        return ua

    def registrars(self, topology: Topology, registrar_nodes: list[Node], proxies: list[Node],
                   presence: bool) -> list[Address]:
        """A registrar on each registrar host, else beside each proxy on its own port;
        the addresses phones register with (a spare's is not one)."""
        net = self.net
        registrars: list[Address] = []
        for node in registrar_nodes or proxies:
            registrar = Registrar(self.clock, timers=self.timers, seed=next(self.seeds))
            address = node.address if registrar_nodes else _address("proxy", proxies.index(node), self.inside,
                                                                     REGISTRAR_PORT_OFFSET)
            registrar_transport = net.attach(address, lambda data, source, r=registrar, a=address:
                                             receive_bytes(r.layer, net.routes[a], data, source))
            # the registrar answers through the transport it received on; busy lamps' NOTIFYs leave by it
            if presence:
                topology.notifiers.append(registrar.enable_presence(address, registrar_transport))
            if registrar_nodes:
                node.element = registrar
            topology.registrar_hosts[address] = (node.name, registrar)
            if not node.name.endswith("-spare"):  # phones register with the pool's hosts
                registrars.append(address)
        return registrars

    def high_availability(self, topology: Topology, pools: dict[str, list[Node]]) -> None:
        """A spare leaves its pool once built; a pair's standby is as big as its host."""
        for role, pool_nodes in pools.items():
            mode = self.scenario.ha_mode(role) if role in self.enabled else "none"
            if mode == "n_plus_1":
                spare = pool_nodes.pop()
                spare.role = f"{role}_spare"
                topology.spares[role] = spare
            elif mode == "pair":
                spec = self.model.role(role)
                for node in list(pool_nodes):
                    standby = self.add(f"{node.name}-standby", role, 100 + len(topology.standbys), spec.profile,
                                       spec.cores, edge=False)
                    standby.role = f"{role}_standby"
                    topology.standbys[node.name] = standby

    def endpoints(self, topology: Topology, lamps_on: bool) -> UserAgent | None:
        """The registered phones' host, with their busy lamps' watcher when ``lamps_on``."""
        if self.scenario.endpoints.count <= 0:
            return None
        lamps = _address("endpoints", 0, self.inside, WATCHER_PORT_OFFSET) if lamps_on else None
        ep_node = self.add("endpoints", "endpoints", 0, None, extra=(lamps,) if lamps else ())
        endpoints = UserAgent(self.clock, ep_node.address, user="phone", config=self.timers, seed=next(self.seeds))
        endpoints.transport = self.net.attach(ep_node.address, endpoints.datagram_received)
        ep_node.element = endpoints
        if lamps is not None:
            watcher = Watcher(self.clock, lamps, user="lamps", timers=self.timers, seed=next(self.seeds))
            watcher.transport = self.net.attach(lamps, watcher.datagram_received)
            topology.watcher = watcher
        return endpoints


def _role_name(role: str) -> str:
    """The scenario's role name (link overrides) of a node's role."""
    if role.endswith(("_standby", "_spare")):
        return role.rsplit("_", 1)[0]
    return {"endpoints": "agents"}.get(role, role)


def _links(scenario: Scenario, net: SimNetwork, nodes: list[Node]) -> None:
    """A LinkSpec for every host pair whose roles have an override (both ways)."""
    if not scenario.links.overrides:
        return
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            ra, rb = _role_name(a.role), _role_name(b.role)
            if scenario.links.between(ra, rb) is not scenario.links.default:
                net.link(a.name, b.name, link_spec(scenario, ra, rb))
