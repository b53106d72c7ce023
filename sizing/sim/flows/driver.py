"""The simulator's call-centre driver: runs the call flows on the real engine elements of a Topology.

What each flow is, its timings and its routine at its turn live in its module of
:mod:`sizing.flows`; this driver runs them, reading the call's :class:`~sizing.flows.Flow`
(never its name).

Theory of operation
-------------------
:class:`CallCentre` starts every call at the carrier's user agent and follows
it by its Call-ID (proxies keep it; the SIP Server's legs are mapped through
its ``on_leg`` hook). The SIP Server's routing callback decides leg B:

- a flow routed to an extension (:attr:`Flow.extension`, busy or no answer)
  reaches it, with or without agents (without a SIP Server the caller names
  the extension itself);
- no agents (or no SIP Server): the far end (the ``agents`` host) answers;
- a flow with an IVR (:attr:`Flow.pre_s`): the media server answers for
  that long, then the call is offered to the ACD;
- otherwise the call is offered to the ACD at once: an agent chosen on the
  spot gets the INVITE directly; else the call queues on a media server
  (answered: trunk channel, media port and RTP held) and is transferred to
  the agent (RFC 3725 Flow I) when the ACD hands one over.

Once an agent answers, the call lasts ``holding`` seconds (plus the flow's
:attr:`Flow.extra_s`), then the caller sends BYE; at :attr:`Flow.turn_at` of
the holding time the agent does the flow's :attr:`Flow.turn` (a REFER, a
consultation and REFER with Replaces, a conference). A flow whose caller gives
up (:attr:`Flow.abandons_s`) cancels (or hangs up, if a queue answered) that
long after the INVITE; callers whose ACD patience runs out do the same.
A flow the carrier moves (:attr:`Flow.carrier_moves`, a REFER on the caller's
leg at its turn) ends its caller's leg there; the agent talks on with the
Refer-To party, on the SIP Server's new leg over the trunk, and hangs up at the
end of the holding time, which ends the call (:meth:`CallCentre.agent_left`).
``recording_share`` of calls get a recorder leg (:mod:`sizing.flows.recording`).
Busy lamps (:mod:`sizing.flows.presence`) are told of each agent's call states:
early when the ACD hands the call over, confirmed when the agent answers,
terminated when the call leaves the agent (:meth:`CallCentre.watched`), for
replayed and engine calls alike.

Steady-state start (``simulation.start: steady``): at t = 0 the calls in
progress of the stationary state (:mod:`.steady`) are placed by the same code
as arriving calls, spread over the first :data:`SPREAD_S`, each told how far
its flow already went (still in the IVR; how much of its talk is over, so a
transfer or conference due earlier happens at once); their agents answer
without ringing, agents in wrap-up are busy for their residual wrap-up, and
every host's CPU is free until ``PRELUDE_S`` so that this set-up, which
happened before the window, costs nothing and is never measured.
Registrations and keep-alives run at phases spread over their own intervals
in either start.

Media follows the call as a fluid (:mod:`.ledger`): caller <-> SBC (the media
anchor) and SBC <-> whoever the caller talks to (media server or agents), and
two one-way streams to the recorder; rates from :func:`sizing.models.media.call_bandwidth`.
On hold only the agent's direction flows; the consultation between agent and
back office stays on the agents host (no link carries it). In a conference
every participant streams to and from the bridge: caller <-> SBC <-> media
server, and agent and back office each <-> media server.
HA replication (``topology.<role>.ha: pair``) is bytes on the link to the standby and
the same message's CPU on both hosts: a SIP Server sends each call state change, the
call's SBC and SIP Proxy its setup, answer and release (``ha.*_bytes_per_call_event``),
the host holding the registrar each REGISTER (``ha.registration_bytes``). CTI is the events a
call's flow raises, delivered to the clients registered for its DNs, and the desktops'
requests, when the call ends (:mod:`sizing.models.cti`): bytes on the SIP Server <-> CTI
link and CPU on the SIP Server.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ...flows import (
    BY_NAME,
    DOMAIN,
    RING_S,
    ChannelTime,
    channel_times,
    presence,
    recording,
    registration,
)
from ...flows.busy_no_answer import BUSY, NO_ANSWER, NO_ANSWER_S
from ...models.cti import CtiModel, cti_model, outcome
from ...models.media import call_bandwidth
from ...models.tls import wire_bytes
from ...scenario.model import PRELUDE_S
from ...sip.b2bua import BridgedCall, Reject, Target
from ...sip.message import Request
from ...sip.ua import AnswerPolicy, Call, CallEvent, CallState
from ...sip.uri import URI
from ..acd import Acd
from ..metrics import HostMetrics, grow
from ..replay import Replayer, background_book, script_book
from ..workload import ArrivalProcess, FlowPicker, HoldingTime, Patience, stream, streams
from .ledger import MediaLedger, Stream
from .steady import PresentCall, agents_in_wrap_up, calls_in_progress

if TYPE_CHECKING:
    from ..topology import Node, SipServer, Topology

__all__ = ["AgentPhones", "CallCentre", "FlowCall"]

MEDIA_TICK_S = 0.1
"""Period of the media CPU jobs on media-handling hosts."""
SPREAD_S = 0.5
"""A steady-state start sends its calls in progress over this long (within ``PRELUDE_S``)."""
MIN_ENGINE_CALLS = 50
"""Hybrid engine: calls of each flow and outcome that run the full engine, at least, over the
window of all replications together (each runs its share; the self-check pools them)."""


SESSION_EVENTS = frozenset(("setup", "answer", "release"))
"""The call state changes an SBC or SIP Proxy pair replicates (its session's)."""


@dataclass(frozen=True)
class AgentPhones(AnswerPolicy):
    """The answer policy of the agents host: agents and the back office ring then
    answer, ``busy`` answers 486, ``noanswer`` rings until cancelled; a leg of a call
    already in progress at t = 0 (``in_progress(Call-ID)``) is answered at once."""

    in_progress: Callable[[str], bool] | None = field(default=None, compare=False)

    def for_request(self, request: object) -> AnswerPolicy:
        user = request.uri.user if isinstance(request, Request) else None
        if user == BUSY:
            return _BUSY
        if user == NO_ANSWER:
            return _NO_ANSWER
        if self.in_progress is not None and isinstance(request, Request) \
                and self.in_progress(request.call_id or ""):
            return _AT_ONCE
        return self


_BUSY = AnswerPolicy(486, ring_s=RING_S)
_NO_ANSWER = AnswerPolicy(200, ring_s=10 * 3600.0)
_AT_ONCE = AnswerPolicy(200, ring_s=0.0)


class FlowCall:
    """One offered call and everything the flows know of it."""

    __slots__ = ("key", "flow", "t0", "holding", "recorded", "measured", "caller", "bridged", "server",
                 "ticket", "agent", "direct", "stage", "srd", "status", "answered_at", "peer",
                 "streams", "blocked", "sbc", "bye_at", "agent_call", "done", "phase", "present", "replay",
                 "compared")

    def __init__(self, key: str, flow: str, t0: float, holding: float, recorded: bool, measured: bool) -> None:
        self.key, self.flow, self.t0, self.holding = key, flow, t0, holding
        self.recorded, self.measured = recorded, measured
        self.caller: Call | None = None
        self.bridged: BridgedCall | None = None
        self.server: SipServer | None = None
        self.ticket = None
        self.agent: int | None = None
        self.direct = False
        self.stage = "routing"
        self.srd: float | None = None
        self.status: int | None = None
        self.answered_at: float | None = None
        self.peer: str | None = None
        self.streams: list[Stream] = []
        self.blocked = False
        self.sbc: str | None = None
        self.bye_at: float | None = None
        self.agent_call: Call | None = None
        self.done = False
        self.phase: str | None = None
        """held (consultation), joined (attended transfer done), conference; moved (the
        carrier moved the call, the agent talks on) or agent_left (its agent hung up first)."""
        self.present: PresentCall | None = None
        """Set for a call already in progress at t = 0 (a steady-state start)."""
        self.replay: object = None
        """Its replayed script (:mod:`sizing.sim.replay`); None: the engine runs it."""
        self.compared = False
        """In the hybrid self-check: replayed, or in the engine's sample of replayable calls."""

    @property
    def talked(self) -> float:
        """Seconds of the call's talk over before t = 0 (0 for calls that arrive)."""
        return self.present.talked if self.present is not None else 0.0


class CallCentre:
    """Drives the scenario's traffic through a :class:`Topology` and collects call KPIs."""

    def __init__(self, topology: Topology, seed: int) -> None:
        self.topo = topology
        self.seed = seed
        scenario = topology.scenario
        self.scenario = scenario
        self.clock = topology.net.clock
        self.warmup = scenario.warmup_s
        self.end = scenario.warmup_s + scenario.duration_s
        rngs = streams(seed)
        self.arrivals = ArrivalProcess.from_scenario(scenario, rngs["arrivals"])
        self.holding = HoldingTime.from_scenario(scenario, rngs["holding"])
        self.picker = FlowPicker(scenario.traffic.mix.shares(), rngs["flows"])
        self.record_rng = stream(seed, "recording")
        self.reg_rng = stream(seed, "registrations")
        self._steady_rng = stream(seed, "steady")
        self.calls: dict[str, FlowCall] = {}
        self.legs: dict[str, tuple[FlowCall, str]] = {}
        self._present_legs: set[str] = set()
        """Agents-host legs of calls in progress at t = 0, until their INVITE arrives."""
        self.ledger = MediaLedger()
        self._lamps: dict[str, int] = {}
        """Call -> the agent whose busy lamps show it (from the ACD's hand-over to its end)."""
        self.cti = self._cti_model()
        self.acd: Acd | None = None
        servers = topology.sip_servers
        if scenario.agents.count > 0 and servers:
            self.acd = Acd(self.clock, scenario.agents.count, scenario.agents.wrap_up_s,
                           patience=Patience.from_scenario(scenario, rngs["patience"]), warmup_s=self.warmup)
        self.agents_address = topology.nodes[[n.role for n in topology.nodes].index("agents")].address
        spare = topology.spares.get("sip_server")
        for node in [*servers, *([spare] if spare is not None else [])]:
            server: SipServer = node.element  # type: ignore[assignment]
            server.routing = _Route(self, server)  # type: ignore[assignment]
            server.config = _config(server.config)
            if topology.recorders:
                server.config = recording.with_recorder(server.config, topology.recorders[0].address)
            server.on_leg = self._on_leg
            server.on_state = self._on_state
            server.record = self._record
        self.replayer: Replayer | None = None
        self.offered_replayed = 0
        self._engine_rng = stream(seed, "engine")
        self._engine_p: dict[str, float] = {}
        if scenario.simulation.engine == "hybrid" and not scenario.simulation.faults:
            self._hybrid()  # a fault moves hosts under calls in progress: the engine runs them all
        topology.agents.policy = AgentPhones(200, ring_s=RING_S if self.acd is not None else 0.0,
                                             in_progress=self._leg_in_progress)
        topology.agents.on_call = self._agent_call
        topology.carrier.policy = AnswerPolicy(200, ring_s=RING_S)  # a Refer-To party behind the carrier
        topology.gate.on_change = self._channels
        topology.gate.on_blocked = self._blocked
        # figures
        self.outcomes: Counter[str] = Counter()
        self.final_status: Counter[int] = Counter()
        self.srd: list[float] = []
        self.srd_by_engine: dict[bool, list[float]] = {True: [], False: []}
        """SRD of measured calls the engine ran (True) and of replayed ones (False)."""
        self.compared: dict[tuple[str, bool], list] = {}
        """(flow, on the engine) -> [SRDs, answered, offered] of the measured calls the
        self-check compares: replayed ones, and the engine's sample of calls that could have
        been replayed (not those the replay cannot take: they differ by design)."""
        self.srd_hist = HostMetrics("srd", 1, self.warmup)
        """SRD of measured calls as a log histogram (its ``add_wait``/``wait_quantile``):
        the distribution the reports draw, memory flat in the number of calls."""
        self.sdd: list[float] = []
        self.offered = 0
        self.blocked = 0
        self.answered = 0
        self.completed = 0
        self.abandoned = 0
        self._busy = 0
        self._busy_since = 0.0
        self._area = 0.0
        self._per_second: list[float] = [0.0] * 64
        """Channel-seconds busy in each simulated second (from warmup on)."""
        self.peak = 0
        self._rates()
        trunk = scenario.trunk
        self.invite_headers = tuple(
            padded_header(name, size) for name, size in (("User-to-User", trunk.uui_bytes),
                                                         ("X-Custom-Data", trunk.custom_header_bytes)) if size)
        """The UUI and custom headers of every carrier INVITE (the SIP Server passes both on)."""

    # -- set-up ------------------------------------------------------------------------------

    def _hybrid(self) -> None:
        """Replay the recorded scripts of the flows that have one; keep a share of each
        flow's calls (at least ``MIN_ENGINE_CALLS`` per outcome over the window) on the engine."""
        scenario = self.scenario
        book = script_book(scenario)
        if not book.scripts:
            return
        self.replayer = Replayer(self, book, background=background_book(scenario))
        share = scenario.simulation.engine_share
        rate = scenario.traffic.rate_cps or 0.0
        recording = self._record_share
        for flow, mix in scenario.traffic.mix.shares().items():
            calls = rate * mix * scenario.duration_s
            outcomes = len(BY_NAME[flow].outcomes)
            if 0 < recording < 1:
                outcomes /= min(recording, 1 - recording)
            least = math.ceil(MIN_ENGINE_CALLS / scenario.replications)
            need = least * outcomes / calls if calls > 0 else 1.0
            self._engine_p[flow] = min(1.0, max(share, need))

    def _rates(self) -> None:
        """Bytes/s and packets/s of one RTP direction (media, RTCP and DTMF averaged): on the
        trunk's leg each direction with its own SRTP suite (``trunk.srtp_inbound`` from the
        carrier, ``trunk.srtp_outbound`` to it), on the legs inside (``stream_bytes_s``,
        ``stream_pps``) with ``network.internal_srtp`` (plain RTP by default). A media host
        pays SRTP's per-packet CPU when a leg it ends is SRTP: the SBC for the trunk's or the
        inside's, a media server for the inside's (or the trunk's, without an SBC in front),
        a recorder for the inside's."""
        trunk, network = self.scenario.trunk, self.scenario.network
        hold = self.scenario.traffic.holding_time_s or 60.0
        inbound, outbound = trunk.srtp_suites
        inside = network.internal_srtp

        def per_second(forward: str | None, reverse: str | None) -> tuple[tuple[float, float], ...]:
            bw = call_bandwidth(trunk.codec, duration_s=hold, bitrate_kbps=trunk.bitrate_kbps,
                                ptime_ms=trunk.ptime_ms, l2=network.l2, srtp=forward, srtp_reverse=reverse,
                                ip_version=network.ip_version, digits=trunk.dtmf_digits_per_call)
            return tuple((d.total_bytes / hold, d.total_packets / hold) for d in (bw.forward, bw.reverse))

        self.inbound_rate, self.outbound_rate = per_second(inbound, outbound)
        """(bytes/s, packets/s) of the carrier's stream to the contact centre, and back."""
        (self.stream_bytes_s, self.stream_pps), _ = per_second(inside, None)
        roles = {node.name: node.role for node in self.topo.nodes}
        front = bool(self.topo.sbcs)
        self.media_cost: dict[str, tuple[float, int]] = {}
        for name, host in self.topo.net.hosts.items():
            role = roles.get(name)
            srtp = inside is not None or (inbound is not None and (
                role == "sbc" or (role == "media_server" and not front)))
            cost = getattr(host.profile, "media_packet_us", None)
            us = cost(srtp=srtp) if callable(cost) else 0.0
            if us > 0:
                self.media_cost[name] = (us, host.cores)

    def start(self) -> None:
        """Schedule the first arrival, registrations, keep-alives and media CPU; with a
        steady-state start, the stationary state's calls in progress and wrap-ups first."""
        if self.scenario.simulation.start == "steady":
            self._steady_start()
        self._next_arrival(0.0)
        self._replicate_registrations()
        registration.start(self)
        presence.start(self, stream(self.seed, "presence"))
        if self.media_cost:
            self.clock.call_later(MEDIA_TICK_S, self._media_tick)

    # -- steady-state start ------------------------------------------------------------------

    def _steady_start(self) -> None:
        """Agents in wrap-up and calls in progress of the stationary state (see :mod:`.steady`)."""
        rng = self._steady_rng
        rate = self._rate_at_start()
        shares = self.scenario.traffic.mix.shares()
        # calls that end within seconds (and ringing) are left to the warm-up
        times = channel_times(self.scenario)
        plain = ChannelTime()
        present = {f: s for f, s in shares.items() if times.get(f, plain).brief_s is None}
        pre = {f: t.pre_s for f, t in times.items() if t.pre_s}
        extra = {f: t.extra_s for f, t in times.items() if t.extra_s}
        if self.acd is not None:
            agent_rate = rate * sum(shares.get(f.name, 0.0) for f in BY_NAME.values() if f.talks_to_agent)
            for residual in agents_in_wrap_up(agent_rate, self.acd.wrap_up_s, rng, self.acd.agents):
                self.acd.wrap_up(residual)
        calls = calls_in_progress(rate, present, self.holding, rng, pre_s=pre, extra_s=extra,
                                  limit=self.scenario.trunk.channels)
        recorded = (rng.random(len(calls)) < self._record_share).tolist()
        for i, (call, rec) in enumerate(zip(calls, recorded, strict=True)):
            self.clock.call_at(SPREAD_S * i / len(calls),
                               lambda call=call, rec=rec: self._arrive_present(call, rec))
        for host in self.topo.net.hosts.values():
            host.free_until = PRELUDE_S

    def _rate_at_start(self) -> float:
        """Calls/s offered at t = 0 (a replayed trace: its rate over the first minutes)."""
        traffic = self.scenario.traffic
        arrivals = traffic.arrivals
        if arrivals.process == "replay":
            times = getattr(self.arrivals, "times_s", [])
            span = max(60.0, self.holding.mean_s)
            return sum(1 for t in times if t < span) / span
        rate = traffic.rate_cps or 0.0
        if arrivals.process == "profile":
            return rate * self.arrivals.rate_factor(0.0)  # type: ignore[attr-defined]
        return rate

    def _arrive_present(self, present: PresentCall, recorded: bool) -> None:
        fc = self._start(present.flow, present.holding, recorded, self.clock.now(), present=present)
        self.topo.gate.admit_present(fc.key)

    def _leg_in_progress(self, call_id: str) -> bool:
        """Is this agents-host leg one of a call in progress at t = 0 (answered at once)?"""
        if call_id in self._present_legs:
            self._present_legs.discard(call_id)
            return True
        return False

    def _next_arrival(self, now: float) -> None:
        t = self.arrivals.next_arrival(now)
        if t is not None and t < self.end:
            self.clock.call_at(t, lambda: self._arrive(t))

    # -- arrivals ------------------------------------------------------------------------------

    def _arrive(self, t: float) -> None:
        self._next_arrival(t)
        flow = self.picker.pick()
        holding = self.holding.sample()
        recorded = self.record_rng.random() < self._record_share
        self.new_call(flow, holding, recorded, t)

    def new_call(self, flow: str, holding: float, recorded: bool, t: float, *, engine: bool = False) -> FlowCall:
        """A call that arrives now: offered, and abandoned later if its flow says so
        (:attr:`Flow.abandons_s`); ``engine`` runs it on the engine even when its script
        could be replayed."""
        started: list[FlowCall] = []
        abandons_s = BY_NAME[flow].abandons_s
        if abandons_s is not None:  # armed first: it runs before a replayed script's own give-up
            self.clock.call_later(abandons_s, lambda: self.give_up(started[0]))
        fc = self._start(flow, holding, recorded, t, engine=engine)
        started.append(fc)
        if fc.measured:
            self.offered += 1
            if fc.replay is not None:
                self.offered_replayed += 1
            if fc.compared:
                self.compared.setdefault((flow, fc.replay is None), [[], 0, 0])[2] += 1
        return fc

    def _start(self, flow: str, holding: float, recorded: bool, t: float, *,
               present: PresentCall | None = None, engine: bool = False) -> FlowCall:
        """Start a call on the engine, or replay its flow's script (:mod:`sizing.sim.replay`)."""
        replayer = self.replayer
        talk = holding - (present.talked if present is not None else 0.0)
        sampled = False
        if not engine and replayer is not None and replayer.takes(flow, talk, present is not None, recorded):
            if self._engine_rng.random() >= self._engine_p.get(flow, 1.0):
                fc = replayer.start(flow, holding, recorded, t, present)
                fc.compared = True
                return fc
            sampled = True
        fc = self._place(flow, holding, recorded, t)
        fc.present = present
        fc.compared = sampled
        return fc

    @property
    def _record_share(self) -> float:
        return self.scenario.traffic.recording_share if self.topo.recorders else 0.0

    def _place(self, flow: str, holding: float, recorded: bool, t: float) -> FlowCall:
        """The carrier's INVITE for a new call, and the call's record. Without a SIP Server
        to route it, a call of a flow routed to an extension names the extension of the
        far end itself, and its caller gives up on an unanswered one after ``NO_ANSWER_S``."""
        carrier = self.topo.carrier
        call_id = carrier.new_call_id()
        edge = self.topo.edge_of_call(call_id)  # signalling and media through the same SBC
        user = "service"
        extension = BY_NAME[flow].extension
        if extension is not None and not self.topo.sip_servers:
            user = extension(self.record_rng.random())
        call = carrier.invite(URI("sip", user=user, host=DOMAIN), headers=self.invite_headers,
                              on_event=self._caller_event, dest=edge.address, call_id=call_id)
        fc = FlowCall(call.call_id, flow, t, holding, recorded, t >= self.warmup)
        fc.caller = call
        if self.topo.sbcs:
            fc.sbc = edge.name
        if call.ended:  # refused before it left: the carrier's own RFC 7339 client (counted there)
            return fc
        self.calls[call.call_id] = fc
        if user == NO_ANSWER:
            self.clock.call_later(NO_ANSWER_S, lambda: self._unanswered(fc))
        return fc

    def _unanswered(self, fc: FlowCall) -> None:
        """The caller of a call the far end never answers hangs up (CANCEL, then 487)."""
        call = fc.caller
        if call is not None and not call.ended and not fc.done and call.state is not CallState.CONFIRMED:
            self.topo.carrier.cancel(call)

    def _blocked(self, call_id: str, reason: str) -> None:
        fc = self.calls.get(call_id)
        if fc is not None and not fc.blocked:
            fc.blocked = True
            if fc.measured:
                self.blocked += 1
                self.outcomes[f"blocked_{reason}"] += 1

    def _channels(self, busy: int) -> None:
        now = self.clock.now()
        start = max(self._busy_since, self.warmup)
        if now > start:
            self._area += self._busy * (now - start)
            if self._busy:
                self._spread(start, now, self._busy)
        self._busy_since = now
        self._busy = busy
        if now >= self.warmup and busy > self.peak:
            self.peak = busy

    def _spread(self, start: float, end: float, busy: int) -> None:
        """Add ``busy`` channels over ``[start, end)`` to the per-second bins."""
        bins = self._per_second
        first, last = int(start), int(end)
        if last >= len(bins):
            grow(bins, last)
        if first == last:
            bins[first] += busy * (end - start)
            return
        bins[first] += busy * (first + 1 - start)
        for sec in range(first + 1, last):
            bins[sec] += busy
        bins[last] += busy * (end - last)

    def concurrent_series(self) -> list[float]:
        """Mean calls in progress (trunk channels busy) in each whole measured second,
        from ``ceil(warmup)`` to the current second (excluded)."""
        self._channels(self._busy)
        start, end = math.ceil(self.warmup), int(self.clock.now())
        bins = self._per_second
        return [float(bins[s]) if s < len(bins) else 0.0 for s in range(start, max(end, start))]

    # -- the caller's side ------------------------------------------------------------------------

    def _caller_event(self, call: Call, event: CallEvent) -> None:
        fc = self.calls.get(call.call_id)
        if fc is None:
            return
        self.caller_told(fc, event.kind, event.status, event.time)
        if event.kind == "answered":
            if fc.present is not None:  # its session refreshes run at a phase of their own
                self.topo.carrier.rephase_session(call, self._steady_rng.random())
            if self.acd is None or BY_NAME[fc.flow].extension is not None or fc.server is None:
                self._talk(fc, fc.holding - fc.talked, hang_up=True)

    def caller_told(self, fc: FlowCall, kind: str, status: int | None, now: float) -> None:
        """What the caller learns of its call, whether the engine ran it or its script was
        replayed: the session request delay, the answer (media starts), the failure, the end."""
        if kind in ("provisional", "answered", "failed") and fc.srd is None and not fc.blocked:
            fc.srd = now - fc.t0
            if fc.measured:
                self.srd.append(fc.srd)
                self.srd_hist.add_wait(fc.srd)
                self.srd_by_engine[fc.replay is None].append(fc.srd)
                if fc.compared:
                    self.compared.setdefault((fc.flow, fc.replay is None), [[], 0, 0])[0].append(fc.srd)
        if kind == "answered":
            fc.answered_at = now
            if fc.measured:
                self.answered += 1
                if fc.compared:
                    self.compared.setdefault((fc.flow, fc.replay is None), [[], 0, 0])[1] += 1
            self.media(fc)
        elif kind == "failed":
            fc.status = status
            if fc.measured and status is not None:
                self.final_status[status] += 1
            self._finish(fc)
        elif kind == "ended":
            if fc.measured and fc.answered_at is not None:
                self.completed += 1
            if BY_NAME[fc.flow].carrier_moves and fc.agent_call is not None and fc.phase != "agent_left":
                fc.phase = "moved"  # the agent talks on with the Refer-To party, on the same media path
                return
            self._finish(fc)

    def _talk(self, fc: FlowCall, seconds: float, *, hang_up: bool) -> None:
        if hang_up:
            self.clock.call_later(max(seconds, 0.0), lambda: self._hang_up(fc))

    def _hang_up(self, fc: FlowCall) -> None:
        call = fc.caller
        if call is None or call.state is not CallState.CONFIRMED:
            agent = fc.agent_call
            if fc.phase == "moved" and agent is not None and agent.state is CallState.CONFIRMED:
                self.topo.agents.bye(agent)  # the carrier moved the call: its agent hangs up
            return
        fc.bye_at = self.clock.now()
        request = self.topo.carrier.bye(call)
        measured = fc.measured

        def done(_client: object, response: object) -> None:
            if measured and getattr(response, "status", 0) >= 200 and fc.bye_at is not None:
                self.sdd.append(self.clock.now() - fc.bye_at)

        request.on_response = done

    def give_up(self, fc: FlowCall) -> None:
        """The caller abandons: CANCEL before an answer, BYE once a queue answered (a
        replayed call's script sends them).
        Public: a recorder taps it to mark the moment."""
        call = fc.caller
        if fc.done or (fc.replay is None and (call is None or call.ended)):
            return
        if fc.measured:
            self.abandoned += 1
        if fc.ticket is not None:
            fc.ticket.cancel()
        if call is None:
            if fc.replay is not None:
                fc.replay.gave_up(fc)
            return
        if call.state is CallState.CONFIRMED:
            self._hang_up(fc)
        else:
            self.topo.carrier.cancel(call)

    def _finish(self, fc: FlowCall) -> None:
        if fc.done:
            return
        fc.done = True
        self._cti(fc)
        now = self.clock.now()
        for s in fc.streams:
            self.ledger.stop(s, now)
        fc.streams = []
        if fc.ticket is not None:
            fc.ticket.cancel()
        self._release_agent(fc)
        self.calls.pop(fc.key, None)

    def _release_agent(self, fc: FlowCall) -> None:
        self.watched(fc, "terminated")
        if fc.agent is not None and self.acd is not None and fc.ticket is not None \
                and fc.ticket.state == "answered":
            agent, fc.agent = fc.agent, None
            self.acd.release(agent)

    # -- the SIP Server ---------------------------------------------------------------------------

    def route(self, server: SipServer, request: Request) -> Target | Reject:
        fc = self.calls.get(request.call_id or "")
        if fc is None:  # a consultation call placed by an agent
            return self._target("backoffice")
        fc.server = server
        spec = BY_NAME[fc.flow]
        if spec.extension is not None:  # with or without agents: an extension that cannot take it
            return self._target(spec.extension(self.record_rng.random()))
        if self.acd is None:
            return self._target("service")
        media = self._media_server(fc)
        if spec.pre_s and media is not None and (
                fc.present is None or fc.present.age < fc.present.pre):
            fc.stage = "ivr"
            fc.peer = media.name
            return Target(URI("sip", user="ivr", host=DOMAIN), dest=media.address)
        self.offer(fc)
        ticket = fc.ticket
        if ticket.state == "assigned":
            fc.direct = True
            fc.agent = ticket.agent
            fc.stage = "agent"
            fc.peer = "agents"
            return self._target(f"agent{ticket.agent}")
        if media is None:
            ticket.cancel()
            return Reject(480, "No Agent Available")
        fc.stage = "queue"
        fc.peer = media.name
        return Target(URI("sip", user="queue", host=DOMAIN), dest=media.address)

    def _target(self, user: str) -> Target:
        return Target(URI("sip", user=user, host=DOMAIN), dest=self.agents_address)

    def _media_server(self, fc: FlowCall) -> Node | None:
        pool = self.topo.media_servers
        return self.topo.host_of_call(pool, fc.key) if pool else None

    def offer(self, fc: FlowCall) -> None:
        """Offer the call to the ACD (public: a replay offers it when its script reaches the queue)."""
        assert self.acd is not None
        fc.ticket = self.acd.offer(fc.key, lambda agent: self.assigned(fc, agent), lambda: self.give_up(fc))

    def assigned(self, fc: FlowCall, agent: int) -> None:
        """The ACD handed the call ``agent`` (public: a recorder taps it to mark the moment)."""
        self.watched(fc, "early", agent)
        if fc.direct:
            return
        fc.agent = agent
        if fc.done:
            self._release_agent(fc)
            return
        if fc.replay is not None:
            fc.replay.assigned(fc)
            return
        self._transfer_if_ready(fc)

    def watched(self, fc: FlowCall, state: str, agent: int | None = None) -> None:
        """The call state of ``fc``'s agent changed (engine or replay): its busy lamps are
        told (:mod:`sizing.flows.presence`): early when the ACD hands it the call, confirmed
        when it answers, terminated (once) when the call leaves it."""
        if not self.topo.notifiers:
            return
        if state == "early":
            assert agent is not None
            self._lamps[fc.key] = agent
        else:
            agent = self._lamps.get(fc.key)
            if agent is None:
                return
            if state == "terminated":
                del self._lamps[fc.key]
        presence.changed(self, fc, agent, state)

    def _transfer_if_ready(self, fc: FlowCall) -> None:
        bridged, server = fc.bridged, fc.server
        if fc.agent is None or bridged is None or server is None or fc.stage == "agent":
            return
        if bridged.state != "bridged" or bridged.pending is not None:
            return
        fc.stage = "agent"
        server.transfer(bridged, self._target(f"agent{fc.agent}"))

    def _on_leg(self, call: BridgedCall, role: str, leg_call_id: str) -> None:
        fc = self.calls.get(call.request.call_id or "")
        if fc is not None and role not in ("bridge", "recorder", "referred"):  # legs to the agents host only
            fc.bridged = call
            self.legs[leg_call_id] = (fc, role)
            if fc.present is not None and self.clock.now() < PRELUDE_S:
                self._present_legs.add(leg_call_id)

    def _on_state(self, server: SipServer, call: BridgedCall, kind: str) -> None:
        self.replicate_event(server, kind, call.request.call_id)
        fc = self.calls.get(call.request.call_id or "")
        if fc is None:
            return
        if kind == "transfer" and fc.phase == "held":  # the attended transfer joined the call
            fc.phase = "joined"
            self.media(fc)
        elif kind == "conference" and fc.phase == "conference":
            self.conference_media(fc)
        if kind != "answer":
            return
        fc.bridged = call
        if fc.stage == "ivr":
            left = BY_NAME[fc.flow].pre_s if fc.present is None else fc.present.pre - fc.present.age
            self.clock.call_later(left, lambda: self.after_ivr(fc))
        elif fc.stage == "queue":
            self._transfer_if_ready(fc)

    def after_ivr(self, fc: FlowCall) -> None:
        """The IVR is done: the call goes to the queue (public: a recorder taps it to mark the offer)."""
        if fc.done:
            return
        fc.stage = "queue"
        self.offer(fc)

    def _record(self, call: BridgedCall) -> bool:
        return recording.record(self, call)

    # -- the agents' side --------------------------------------------------------------------------

    def _agent_call(self, call: Call) -> None:
        entry = self.legs.pop(call.call_id, None)
        if entry is None:
            return
        fc, _role = entry
        call.on_event = lambda c, e: self.agent_event(fc, c, e)

    def agent_event(self, fc: FlowCall, call: Call, event: CallEvent) -> None:
        """What an agent's leg reports (public: a recorder taps it to mark answers and ends)."""
        if event.kind == "answered":
            if fc.agent_call is None and fc.agent is not None:
                fc.agent_call = call
                self.watched(fc, "confirmed")
                fc.peer = "agents"
                self.media(fc)
                self._agent_answered(fc, call)
        elif event.kind in ("ended", "failed") and call is fc.agent_call:
            self.agent_left(fc)

    def agent_left(self, fc: FlowCall) -> None:
        """The agent's leg ended (engine or replay): the agent is free; a call the carrier
        moved (:attr:`Flow.carrier_moves`) ends with it."""
        self._release_agent(fc)
        if fc.phase == "moved":
            self._finish(fc)
        elif BY_NAME[fc.flow].carrier_moves:
            fc.phase = "agent_left"

    def _agent_answered(self, fc: FlowCall, call: Call) -> None:
        """The agent talks for the holding time (and the flow's extra talk), doing the
        flow's turn on the way. A call in progress at t = 0 is ``fc.talked`` into its talk:
        what was due by now happens at once."""
        spec = BY_NAME[fc.flow]
        talked = fc.talked
        turn = spec.turn
        if turn is not None and spec.turn_at is not None:
            self.clock.call_later(max(fc.holding * spec.turn_at - talked, 0.0), lambda: turn(self, fc, call))
        self._talk(fc, fc.holding - talked + spec.extra_s, hang_up=True)

    # -- media, CTI, replication --------------------------------------------------------------------

    def media(self, fc: FlowCall, *, held: bool = False) -> None:
        """(Re)start the call's media: caller <-> anchor <-> peer (only the peer's
        direction when the peer ``held`` the caller with ``sendonly``); the carrier's leg
        at the trunk's per-direction rates, the others at the inside rate.
        Public: a replay restarts the media where its script says, a flow on its transfer."""
        now = self.clock.now()
        ledger = self.ledger
        keep = [s for s in fc.streams if s.src == "recorder" or s.dst.startswith("recorder")]
        for s in fc.streams:
            if s not in keep:
                ledger.stop(s, now)
        fc.streams = keep
        peer = fc.peer or "agents"
        inside = (self.stream_bytes_s, self.stream_pps)
        hops = ["carrier", fc.sbc, peer] if fc.sbc else ["carrier", peer]
        for a, b in zip(hops, hops[1:], strict=False):
            # the trunk's leg with each direction's own suite, the legs inside with theirs
            there, back = (self.inbound_rate, self.outbound_rate) if a == "carrier" else (inside, inside)
            if not held:
                fc.streams.append(ledger.start(a, b, *there, now))
            fc.streams.append(ledger.start(b, a, *back, now))

    def conference_media(self, fc: FlowCall) -> None:
        """Every participant <-> its anchor <-> the bridge: the caller through the SBC,
        the agent and the back office from the agents host.
        Public: a replay starts it, a recorder taps it."""
        media = self._media_server(fc)
        if media is None:
            return
        fc.peer = media.name
        self.media(fc)
        now, rate, pps = self.clock.now(), self.stream_bytes_s, self.stream_pps
        for _party in ("agent", "backoffice"):
            fc.streams.append(self.ledger.start("agents", media.name, rate, pps, now))
            fc.streams.append(self.ledger.start(media.name, "agents", rate, pps, now))

    def record_media(self, fc: FlowCall, recorder: str) -> None:
        """Start the call's recording streams to ``recorder`` (public: a flow and a replay start them)."""
        now = self.clock.now()
        src = fc.sbc or "agents"
        for _ in range(2):
            fc.streams.append(self.ledger.start(src, recorder, self.stream_bytes_s, self.stream_pps, now))

    def _media_tick(self) -> None:
        hosts = self.topo.net.hosts
        for name, (us, cores) in self.media_cost.items():
            pps = self.ledger.host_pps.get(name, 0.0)
            if pps > 0:
                per_core = pps * us * MEDIA_TICK_S / cores
                host = hosts[name]
                for _ in range(cores):
                    host.charge(per_core)
        if self.clock.now() + MEDIA_TICK_S <= self.end:
            self.clock.call_later(MEDIA_TICK_S, self._media_tick)

    def replicate_event(self, server: SipServer, kind: str, call_id: str | None = None) -> None:
        """A call state change of ``server`` (``kind``: setup, answer, transfer, conference,
        release; each costs the same) sent to its hot standby, and the call's session
        changes (setup, answer, release) by its SBC and SIP Proxy to theirs.
        Public: a replay sends them where its script says."""
        topo, ha = self.topo, self.scenario.ha
        if not topo.standbys:
            return
        node = next((n for n in topo.sip_servers if n.element is server), None)
        if node is not None:
            self.replicate(node.name, ha.replication_bytes_per_event)
        if call_id is None or kind not in SESSION_EVENTS:
            return
        if topo.sbcs and ha.sbc_bytes_per_call_event:
            self.replicate(topo.host_of_call(topo.sbcs, call_id).name, ha.sbc_bytes_per_call_event)
        if topo.proxies and ha.proxy_bytes_per_call_event:
            self.replicate(topo.host_of_call(topo.proxies, call_id).name, ha.proxy_bytes_per_call_event)

    def replicate(self, host: str, size: int) -> None:
        """One state update of ``size`` bytes from ``host`` to its hot standby, if it has
        one: a TCP message on their link, a message's CPU on each (sizing.plan's
        ``replication_cost_us``)."""
        standby = self.topo.standbys.get(host)
        if standby is None or size <= 0:
            return
        now = self.clock.now()
        self.ledger.add_data(host, standby.name, wire_bytes(size, "tcp").forward, now)
        hosts = self.topo.net.hosts
        for name in (host, standby.name):
            target = hosts[name]
            target.charge(target.profile.message_cost_us("default", size, tls=False))

    def _replicate_registrations(self) -> None:
        """Every REGISTER a registrar with a hot standby accepts is sent to the standby."""
        size = self.scenario.ha.registration_bytes
        if size <= 0:
            return
        for host, registrar in self.topo.registrar_hosts.values():
            if host not in self.topo.standbys:
                continue
            received = registrar.request_received

            def hooked(transaction, request, received=received, host=host):  # type: ignore[no-untyped-def]
                received(transaction, request)
                if request.method == "REGISTER":
                    self.replicate(host, size)

            registrar.request_received = hooked  # type: ignore[method-assign]

    def _cti_model(self) -> CtiModel | None:
        clients, servers = self.topo.cti, self.topo.sip_servers
        if clients is None or not servers:
            return None
        return cti_model(self.scenario, self.topo.net.hosts[servers[0].name].profile)

    def _cti(self, fc: FlowCall) -> None:
        """A call that ended: the events of its flow delivered to the CTI clients registered
        for its DNs, and its desktop's requests, as bytes on the SIP Server <-> CTI link and
        CPU on its SIP Server (:mod:`sizing.models.cti`; the same per-call figures as the
        closed form's)."""
        model, clients = self.cti, self.topo.cti
        if model is None or clients is None:
            return
        key = outcome(fc.flow, blocked=fc.blocked, status=fc.status,
                      agent_answered=fc.agent_call is not None, agents=self.acd is not None)
        if key is None:
            return
        call = model.call(key)
        node = self.topo.host_of_call(self.topo.sip_servers, fc.key)
        now = self.clock.now()
        self.ledger.add_data(node.name, clients.name, call.bytes_to_clients, now)
        self.ledger.add_data(clients.name, node.name, call.bytes_from_clients, now)
        host = self.topo.net.hosts[node.name]
        for cost_us in call.charges_us:
            host.charge(cost_us)

    # -- figures ----------------------------------------------------------------------------------

    def figures(self) -> dict[str, float]:
        """Call KPIs over the measured window (calls offered from warmup on)."""
        now = self.clock.now()
        self._channels(self._busy)
        self.ledger.flush(now)
        offered = self.offered
        nan = math.nan
        status = self.final_status
        redirected = sum(n for s, n in status.items() if 300 <= s < 400)
        attempts = offered - redirected
        user_busy = sum(status[s] for s in (480, 486, 600, 603))
        window = max(now - self.warmup, 0.0)
        srd = np.asarray(self.srd) * 1000 if self.srd else np.asarray([nan])
        sdd = np.asarray(self.sdd) * 1000 if self.sdd else np.asarray([nan])
        kpis: dict[str, float] = {
            "calls_offered": offered,
            "calls_blocked": self.blocked,
            "blocking_ratio": self.blocked / offered if offered else nan,
            "calls_answered": self.answered,
            "calls_completed": self.completed,
            "calls_abandoned": self.abandoned,
            "scr": self.answered / offered if offered else nan,
            "ser": self.answered / attempts if attempts else nan,
            "seer": (self.answered + user_busy) / attempts if attempts else nan,
            "isa": sum(status[s] for s in (408, 500, 503, 504)) / offered if offered else nan,
            "srd_p50_ms": float(np.percentile(srd, 50)),
            "srd_p95_ms": float(np.percentile(srd, 95)),
            "sdd_p50_ms": float(np.percentile(sdd, 50)),
            "sdd_p95_ms": float(np.percentile(sdd, 95)),
            "peak_concurrent_calls": self.peak,
            "mean_concurrent_calls": self._area / window if window else nan,
            "offered_cps": offered / window if window else nan,
        }
        for s, n in sorted(status.items()):
            kpis[f"rejected_{s}"] = n
        if self.replayer is not None:
            kpis["calls_replayed"] = self.offered_replayed
            for engine, name in ((True, "engine"), (False, "replayed")):
                values = np.asarray(self.srd_by_engine[engine]) * 1000
                kpis[f"srd_p95_ms_{name}"] = float(np.percentile(values, 95)) if values.size else nan
        if self.acd is not None:
            acd = self.acd.stats(20.0)
            kpis.update({
                "service_level_20s": acd.service_level,
                "asa_s": acd.asa_s,
                "abandon_ratio": acd.p_abandon,
                "agent_occupancy": acd.occupancy,
                "mean_queue_len": acd.mean_queue_len,
            })
        return kpis


def padded_header(name: str, size: int) -> tuple[str, str]:
    """A ``name`` header whose line (``name: value`` CRLF) is ``size`` bytes: hex data, as
    User-to-User carries it (RFC 7433); at least one character of value."""
    room = max(size - len(name) - 4, 1)
    return name, ("0123456789abcdef" * (room // 16 + 1))[:room]


class _Route:
    """The SIP Server's routing policy: asks the :class:`CallCentre`."""

    def __init__(self, centre: CallCentre, server: SipServer) -> None:
        self.centre, self.server = centre, server

    def route(self, request: Request) -> Target | Reject:
        return self.centre.route(self.server, request)


def _config(config):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(config, no_answer_s=NO_ANSWER_S)
