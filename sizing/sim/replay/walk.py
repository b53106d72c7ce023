"""Replaying call scripts on the run's own hosts and links.

Theory of operation
-------------------
A replayed call walks its :class:`~.script.Script` on the same
:class:`~sizing.sim.host.Host` and link objects as the engine's calls: each
step is sent with :meth:`Host.transmit` (the sender's CPU, the counters, the
TCP/TLS connection, the link's delay, jitter and loss) and arrives as a job
at the receiving host's front end (admission, queue limit, the CPU its
profile charges for that kind and size). When its core has handled it, the
step's hooks run (the driver's code: trunk channel, caller, SIP Server
state, recording) and its children are sent after their delays. Pool
members (which SBC, proxy, SIP Server, media server, recorder) are chosen by
the same CRC-32 of the Call-ID as the engine's calls, and the script's hosts
mapped onto them.

RFC 3261's timers act on replayed messages: a request that gets no response
is sent again (UDP: after T1, doubling, non-INVITE capped at T2; TCP/TLS:
never) and after 64 x T1 its transaction times out and the call fails (408
before the answer). A final response to an INVITE over UDP is sent again
until its ACK arrives. A message that arrives twice is handled as a
transaction does: a repeated request gets the last response again, a
repeated 2xx is forwarded (or ACKed) again, a repeated 3xx-6xx is ACKed
again; none of them runs the driver's hooks twice. A trunk that refuses the
call switches it to its flow's ``blocked`` script at the refusing step.

The replay path is kept lean on purpose (a delivery costs a job object and
two heap pushes, as the engine's do, but no parsing and no state machine):
that is where the hybrid engine's speed comes from.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from ...sip.interfaces import TimerConfig
from ..clock import TimerLane
from ..host import _ARRIVED, Host, _kind_token, _new_call
from ..simpy_fast import QueuedEvent, scheduler
from .record import (
    AGENT_BOUND,
    late_name,
    offer_step,
    outcome_name,
    rejected_name,
    throttled_name,
    wait_step,
)
from .script import Script, ScriptBook

if TYPE_CHECKING:
    from ..flows.driver import CallCentre, FlowCall
    from ..flows.steady import PresentCall

__all__ = ["AGENT_BOUND", "Replayer"]


class _Step:
    """A script step bound to the run's hosts, for one choice of pool members."""

    __slots__ = ("i", "src", "dst", "wire", "data", "target", "source", "kids", "hooks", "request",
                 "invite", "status", "answers", "acks", "until_ack", "unacked", "kind", "forward", "watched",
                 "rings", "cost_key", "tx_key", "late", "oc", "dest", "learn")

    def __init__(self) -> None:
        self.kids: tuple[tuple[int, float, float], ...] = ()


class _Bound:
    """A script on the run's hosts: its steps, and the call's SIP Server and recorder."""

    __slots__ = ("script", "steps", "server", "recorder", "media", "ring_from", "ring_s", "wait", "ready")


class _Call:
    """One replayed call's progress."""

    __slots__ = ("fc", "bound", "holding", "talked", "got", "timers", "last_resp", "done", "choice", "first")

    def __init__(self, fc: FlowCall, bound: _Bound, holding: float, talked: float,
                 choice: tuple[int, ...]) -> None:
        self.fc = fc
        self.bound = bound
        self.holding = holding
        self.talked = talked
        """Seconds of its talk over before t = 0 (a call in progress at a steady start)."""
        self.got = bytearray(len(bound.steps))
        self.timers: dict[int, object] = {}
        self.last_resp: dict[int, int] = {}
        self.done = False
        self.choice = choice
        self.first: dict[int, _Job] | None = None
        """The first send of each INVITE a front end may refuse late (its retransmission
        refused while it waits there): to tell whether it still waits."""

    def delay(self, fixed: float, per_holding: float, rings: bool = False, parent: int = -2) -> float:
        """A step's delay after its parent: what the driver's timer for it would be (a
        share of the holding time, less the talk already over at a steady start, whose
        calls are answered without ringing)."""
        if not per_holding:
            return 0.0 if rings and self.talked and parent == self.bound.ring_from else fixed
        if self.talked and parent == self.bound.ring_from:
            fixed = max(fixed - self.bound.ring_s, 0.0)
        return fixed + max(per_holding * self.holding - self.talked, 0.0)


class _Job(QueuedEvent):
    """A replayed message in flight; the host's front end treats it as any other."""

    __slots__ = ("host", "data", "source", "transport", "call", "step", "key")

    def __init__(self, call: _Call, step: _Step) -> None:
        self.callbacks = _ARRIVED
        self.host = step.dst
        self.data = step.data
        self.source = step.source
        self.transport = step.target
        self.call = call
        self.step = step
        self.key = step.cost_key

    def rejected_by(self, host: Host) -> None:
        self.call.fc.replay.rejected(self.call, self.step, host)  # type: ignore[attr-defined]


class _Again(_Job):
    """A retransmitted request in flight (an overloaded front end may refuse it while the
    original still waits in its queue)."""

    __slots__ = ()

    def rejected_by(self, host: Host) -> None:
        self.call.fc.replay.rejected(self.call, self.step, host, again=True)  # type: ignore[attr-defined]


def _handled(job: _Job) -> None:
    call = job.call
    step = job.step
    if job.data is not step.data:  # a response that carried an RFC 7339 signal: its client reads it
        step.learn[0]._learn(job.data, step.source)
    call.fc.replay.handled(call, step)  # type: ignore[attr-defined]


_Job.done = (_handled,)  # type: ignore[attr-defined]


class Replayer:
    """Starts and walks the replayed calls of one run (one per :class:`CallCentre`)."""

    def __init__(self, centre: CallCentre, book: ScriptBook, timers: TimerConfig | None = None,
                 background: ScriptBook | None = None) -> None:
        self.centre = centre
        self.book = book
        self.background = background
        """The keep-alive scripts of registered phones (:func:`.record.background_book`)."""
        topo = centre.topo
        self.net = topo.net
        self.clock = topo.net.clock
        self._schedule_at = scheduler(topo.net.env)
        self.timers = timers or TimerConfig()
        self._lanes: dict[float, TimerLane] = {}
        self.min_holding: dict[str, float] = {}
        self.waits: set[str] = set()
        """Flows whose calls wait for an agent in their script (a call in progress at t = 0
        may be past that point: the engine sets those up)."""
        for (flow, _outcome), script in book.scripts.items():
            self.min_holding[flow] = max(self.min_holding.get(flow, 0.0), script.min_holding_s)
            if offer_step(script) is not None:
                self.waits.add(flow)
        self.waiting: dict[str, tuple[_Call, _Step]] = {}
        """Calls waiting for an agent (by Call-ID), at their script's ``offer`` moment (or,
        queued on arrival, its ``assigned`` one)."""
        self.early: dict[str, tuple[_Call, _Step, str]] = {}
        """Queued calls the ACD has handed an agent (or whose caller gave up) before the
        queue answered them: they go on when it does (as the SIP Server transfers then)."""
        self.queues = {(flow, outcome) for flow, outcome in book.scripts if outcome in ("queued", "queued:rec")}
        pools: dict[str, list] = {}
        for node in topo.nodes:
            pools.setdefault(node.role, []).append(node)
        self.pools = pools
        self.roles = sorted(r for r, nodes in pools.items() if len(nodes) > 1)
        self._carrier = topo.net.hosts["carrier"]
        self._oc_clients = {client.name: client for client in topo.oc_clients}
        self._oc_servers = topo.loss_controllers
        self._bound: dict[tuple[int, tuple[int, ...]], _Bound] = {}
        self._same: dict[tuple[int, int], int] = {}
        self.retransmissions = 0
        self.timeouts = 0
        self.started = 0

    def takes(self, flow: str, talk_s: float, present: bool = False, recorded: bool = False) -> bool:
        """Whether a call of ``flow`` arriving now with ``talk_s`` of talk ahead can be
        replayed: its flow has a script that is right for that long a call, and an
        agent-bound call finds an idle agent or has a ``queued`` script (else it queues
        on the engine). A call in progress at t = 0 whose flow has moments of its own in
        the talk (a transfer, a conference) is set up by the engine, which knows how far
        each had gone."""
        least = self.min_holding.get(flow, float("inf"))
        if talk_s < least or (present and (least > 0 or flow in self.waits)):
            return False
        acd = self.centre.acd
        return acd is None or flow not in AGENT_BOUND or acd.answers_at_once() or (
            not present and (flow, outcome_name("queued", recorded)) in self.queues)

    # -- starting a call ---------------------------------------------------------------------

    def start(self, flow: str, holding: float, recorded: bool, t: float, present: PresentCall | None) -> FlowCall:
        """A replayed call of ``flow``: the same record and the same choices as an engine call."""
        from ..flows.driver import FlowCall

        centre = self.centre
        topo = centre.topo
        key = topo.carrier.new_call_id()
        outcome = "plain"
        queued = centre.acd is not None and flow in AGENT_BOUND and not centre.acd.answers_at_once()
        if queued:
            outcome = "queued"
        elif flow == "busy_no_answer":
            outcome = "busy" if centre.record_rng.random() < 0.5 else "noanswer"
        script = self.book.get(flow, outcome_name(outcome, recorded))
        assert script is not None
        fc = FlowCall(key, flow, t, holding, recorded, t >= centre.warmup)
        fc.present = present
        if topo.sbcs:
            fc.sbc = topo.edge_of_call(key).name
        crc = zlib.crc32(key.encode())
        choice = tuple(crc % len(self.pools[r]) for r in self.roles)
        call = _Call(fc, self._bind(script, choice), holding, fc.talked, choice)
        fc.replay = self
        centre.calls[key] = fc
        bound = call.bound
        first = bound.steps[bound.script.roots[0]] if bound.script.roots else None
        if first is not None and first.oc is not None and self._throttled(call, first, -1):
            self.started += 1  # the caller refused it itself (RFC 7339): no agent is offered it
            del centre.calls[key]  # and the driver forgets it, as an engine call's
            return fc
        if queued:  # the routing's choice, made now: the queue, until the ACD hands it an agent
            centre.offer(fc)
            fc.stage, fc.peer = "queue", bound.media
            self.waiting[fc.key] = (call, bound.steps[bound.wait])
        elif centre.acd is not None and flow in AGENT_BOUND:  # the routing's choice, made now
            centre.offer(fc)
            ticket = fc.ticket
            assert ticket is not None and ticket.state == "assigned"
            fc.direct, fc.agent, fc.stage, fc.peer = True, ticket.agent, "agent", "agents"
        elif flow in self.waits and call.bound.media is not None:  # the IVR answers first
            fc.stage, fc.peer = "ivr", call.bound.media
        self.started += 1
        for i in bound.script.roots:
            if i == bound.wait:  # the ACD decides when
                continue
            step = bound.script.steps[i]
            delay = call.delay(step.delay_s, step.per_holding, step.rings, -1)
            if first is not None and i == first.i and first.oc is not None and delay <= 0.0:
                self._send(call, first)  # its sender has decided above
            else:
                self._after(call, i, delay)
        return fc

    def keepalive(self, group: str, dest: object) -> bool:
        """Replay one keep-alive OPTIONS of a ``group`` phone (``phone`` or ``agent``) to its
        registrar at ``dest``; False when there is no script for it (the engine sends it)."""
        from ..flows.driver import FlowCall

        book = self.background
        script = book.get("keepalive", group) if book is not None else None
        if script is None:
            return False
        registrars = self.centre.topo.registrars
        role = "registrar" if "registrar" in self.pools else "proxy"
        index = registrars.index(dest) if dest in registrars else 0  # type: ignore[arg-type]
        choice = tuple(index if r == role else 0 for r in self.roles)
        fc = FlowCall("", "keepalive", self.clock.now(), 0.0, False, False)
        fc.replay = self
        call = _Call(fc, self._bind(script, choice, book), 0.0, 0.0, choice)
        for i in script.roots:
            self._after(call, i, script.steps[i].delay_s)
        return True

    def _bind(self, script: Script, choice: tuple[int, ...], book: ScriptBook | None = None) -> _Bound:
        key = (id(script), choice)
        bound = self._bound.get(key)
        if bound is not None:
            return bound
        book = book or self.book
        pick = dict(zip(self.roles, choice, strict=True))
        hosts = self.net.hosts
        mapped: dict[str, Host] = {}
        for name, (role, _addresses) in book.hosts.items():
            pool = self.pools.get(role)
            if pool:
                mapped[name] = hosts[pool[pick.get(role, 0)].name]
        routes = self.net.routes
        steps = []
        for i, s in enumerate(script.steps):
            b = _Step()
            b.i, b.data, b.kind, b.wire = i, s.data, s.kind, s.wire
            b.hooks = s.hooks
            b.request, b.status, b.answers, b.acks, b.until_ack = s.request, s.status, s.answers, s.acks, s.until_ack
            b.unacked = s.unacked
            b.late = bool(s.request) and book.get(script.flow, late_name(script.outcome, i)) is not None
            b.invite = s.kind.endswith("INVITE")
            b.forward = s.forward
            b.rings = s.rings
            b.watched = bool(s.request or s.answers >= 0 or s.until_ack)  # _send arms or notes something
            b.oc = b.learn = None
            if s.data is not None:
                b.src, b.dst = mapped[s.src], mapped[s.dst]
                token = _kind_token(s.data)  # the host's keys for its cost and send caches
                b.cost_key, b.tx_key = (token, len(s.data), s.wire), (token, s.wire == "tls")
                b.dest = _remap(book, s.dst, b.dst, s.dest)
                b.target = routes[b.dest]
                b.source = _remap(book, s.src, b.src, s.source)
                self._overload_control(b, script, book)
            else:
                b.src = b.dst = b.target = b.source = b.dest = b.cost_key = b.tx_key = None
            b.kids = tuple((k, script.steps[k].delay_s, script.steps[k].per_holding) for k in script.children[i])
            steps.append(b)
        bound = _Bound()
        bound.script, bound.steps = script, steps
        bound.ring_from, bound.ring_s = script.ring
        wait = wait_step(script)
        bound.wait = -1 if wait is None else wait
        """A queued call's moment of waiting for the ACD's agent, and the step after which
        the SIP Server can move it there (the queue has answered)."""
        bound.ready = next((i for i, st in enumerate(script.steps[:max(bound.wait, 0)])
                            if ("state", "answer") in st.hooks), -1)
        server = next((mapped[n] for n, (r, _a) in book.hosts.items() if r == "sip_server" and n in mapped),
                      None)
        bound.server = next((node.element for node in self.centre.topo.sip_servers
                             if server is not None and node.name == server.name), None)
        recorder = next((mapped[n] for n, (r, _a) in book.hosts.items() if r == "recorder" and n in mapped),
                        None)
        bound.recorder = recorder.name if recorder is not None else None
        media = next((mapped[n] for n, (r, _a) in book.hosts.items() if r == "media_server" and n in mapped),
                     None)
        bound.media = media.name if media is not None else None
        self._bound[key] = bound
        return bound

    def _overload_control(self, b: _Step, script: Script, book: ScriptBook) -> None:
        """RFC 7339 on a step: a new INVITE its sender may refuse (``oc``: the sender's
        client, when the script of that refusal exists), a response that carries the
        server's signal to its client (``learn``: client and server)."""
        client = self._oc_clients.get(b.src.name)
        if client is not None and b.request == "INVITE" and b.dest in client.servers and _new_call(b.data) \
                and book.get(script.flow, throttled_name(script.outcome, b.i)) is not None:
            b.oc = client
        server = self._oc_servers.get(b.src.name)
        client = self._oc_clients.get(b.dst.name)
        if b.status and server is not None and client is not None and b.source in client.servers:
            b.learn = (client, server)

    # -- walking ---------------------------------------------------------------------------------

    def _after(self, call: _Call, i: int, delay: float) -> None:
        if delay <= 0.0:
            self._go(call, i, call.bound)
        else:
            bound = call.bound
            self.clock.call_later(delay, lambda: self._go(call, i, bound))

    def _go(self, call: _Call, i: int, bound: _Bound) -> None:
        if call.done or call.bound is not bound:  # the call switched scripts since
            return
        step = call.bound.steps[i]
        if step.data is None:  # a moment of the call: the driver learns something
            if self._hooks(call, step):
                self._kids(call, step)
            return
        if step.oc is not None and self._throttled(call, step, -1):
            return
        self._send(call, step)

    def _send(self, call: _Call, step: _Step, again: bool = False, counted: bool = True) -> None:
        """Send a step; ``again``: a repeat, ``counted`` as a retransmission unless it is a
        proxy's forward of a repeated ACK (as the engine counts them: a repeated 2xx passes
        the proxy's server transaction, which counts it; an ACK passes none)."""
        data = step.data
        if step.learn is not None:  # the server's RFC 7339 signal, as its transport stamps it
            data = step.learn[1].stamp(data)
        arrival = step.src.transmit(step.wire, data, step.dst, step.tx_key)
        if again:
            self.retransmissions += counted
            if arrival is not None:
                job = _Again(call, step)
                if data is not step.data:
                    job.data, job.key = data, None
                self._schedule_at(arrival, job)
            return
        else:
            if step.request:
                self._arm(call, step)
            elif step.answers >= 0:
                call.last_resp[step.answers] = step.i
            if step.until_ack and step.wire == "udp":
                self._arm(call, step)
            if step.request == "BYE" and step.src is self._carrier:
                call.fc.bye_at = self.clock.now()
        if arrival is not None:
            job = _Job(call, step)
            if data is not step.data:
                job.data, job.key = data, None
            if step.late:
                if call.first is None:
                    call.first = {}
                call.first[step.i] = job
            self._schedule_at(arrival, job)

    def handled(self, call: _Call, step: _Step) -> None:
        """A step's message has been handled at its receiver (its core is done with it)."""
        if call.done:
            return
        i = step.i
        timers = call.timers
        if step.answers >= 0:
            timer = timers.pop(step.answers, None)
            if timer is not None:
                timer.cancel()  # type: ignore[attr-defined]
        if step.acks >= 0:
            timer = timers.pop(step.acks, None)
            if timer is not None:
                timer.cancel()  # type: ignore[attr-defined]
        if call.got[i]:
            self._again(call, step)
            return
        call.got[i] = 1
        if step.kind == "200 BYE" and step.dst is self._carrier and call.fc.bye_at is not None \
                and call.fc.measured:
            self.centre.sdd.append(self.clock.now() - call.fc.bye_at)
        if step.hooks and not self._hooks(call, step):
            return
        self._kids(call, call.bound.steps[i])

    def _kids(self, call: _Call, step: _Step, since: int = 0) -> None:
        steps = call.bound.steps
        for k, delay, per in step.kids:
            if k < since:
                continue
            kid = steps[k]
            if per or kid.rings:
                delay = call.delay(delay, per, kid.rings, step.i)
            if delay <= 0.0 and kid.data is not None:  # the common case: a message sent at once
                if kid.watched:
                    if kid.oc is not None and self._throttled(call, kid, step.i):
                        return
                    self._send(call, kid)
                    continue
                arrival = kid.src.transmit(kid.wire, kid.data, kid.dst, kid.tx_key)
                if arrival is not None:
                    self._schedule_at(arrival, _Job(call, kid))
            else:
                self._after(call, k, delay)

    def _again(self, call: _Call, step: _Step) -> None:
        """A message that arrived twice: what its transaction does with a repeat."""
        steps = call.bound.steps
        if step.request:
            j = call.last_resp.get(step.i)
            if j is not None and not (step.request == "INVITE" and 200 <= steps[j].status < 300):
                self._send(call, steps[j], again=True)  # (after a 2xx: Accepted absorbs it, RFC 6026)
        elif (step.status >= 200 and step.invite) or step.kind == "ACK":
            # a proxy forwards a repeated 2xx or ACK again; a final response is ACKed again
            for k, delay, per in step.kids:
                kid = steps[k]
                if delay == 0.0 and per == 0.0 and kid.data is not None and (
                        (kid.forward and step.status < 300) or kid.kind == "ACK" and step.kind != "ACK"):
                    self._send(call, kid, again=True, counted=step.kind != "ACK")

    def _hooks(self, call: _Call, step: _Step) -> bool:
        """Run the step's hooks; False when the call switched scripts (its children are
        the new script's, already under way)."""
        centre = self.centre
        fc = call.fc
        now = self.clock.now()
        for hook in step.hooks:
            name = hook[0]
            if name == "admit":
                if len(hook) > 1:  # a further leg over the trunk (a carrier's REFER): its own channel
                    centre.topo.gate.admit(f"{fc.key}/{hook[1]}")
                elif not centre.topo.gate.admit(fc.key):
                    self._switch(call, step, "blocked")
                    return False
            elif name == "release":
                centre.topo.gate.release(fc.key if len(hook) == 1 else f"{fc.key}/{hook[1]}")
            elif name == "state":
                if call.bound.server is not None:
                    centre.replicate_event(call.bound.server, hook[1], fc.key)
                if self.early and hook[1] == "answer" and fc.key in self.early:
                    early = self.early.pop(fc.key)
                    self.clock.call_later(0.0, lambda early=early: self._dequeued(*early))
            elif fc.done:  # the driver has forgotten the call (as it ignores the engine's late events)
                continue
            elif name == "caller":
                centre.caller_told(fc, hook[1], hook[2], now)
            elif name == "record" and call.bound.recorder is not None:
                centre.record_media(fc, call.bound.recorder)
            elif name == "agent":
                if hook[1] == "answered":
                    if fc.agent_call is None and fc.agent is not None:  # as agent_event does
                        fc.agent_call = call  # (the engine keeps the agent's Call; here a marker)
                        centre.watched(fc, "confirmed")
                        fc.peer = "agents"
                        centre.media(fc)
                else:
                    centre.agent_left(fc)
            elif name == "media":
                fc.peer = call.bound.media if hook[2] == "media_server" else hook[2]
                centre.media(fc, held=hook[1])
            elif name == "conference_media":
                centre.conference_media(fc)
            elif name == "offer" and centre.acd is not None:
                # the call waits here for the ACD (:meth:`assigned`) or for its caller to give up
                self.waiting[fc.key] = (call, step)
                fc.stage = "queue"
                centre.offer(fc)
                return False
        return True

    def assigned(self, fc: FlowCall) -> None:
        """The ACD gave the call waiting at its ``offer`` (or ``assigned``) moment an
        agent: the script goes on."""
        waiting = self.waiting.pop(fc.key, None)
        if waiting is None:
            return
        call, step = waiting
        if call.done or call.bound.steps[step.i] is not step:  # failed or switched since
            return
        fc.stage = "agent"
        if step.i == call.bound.wait:
            self._dequeued(call, step, "")
            return
        self._kids(call, step)

    def _dequeued(self, call: _Call, step: _Step, outcome: str) -> None:
        """A queued call leaves the queue: to its agent (``outcome`` empty), or as its
        ``queued_gaveup`` script; once the queue has answered it."""
        bound = call.bound
        if call.done or bound.steps[step.i] is not step:
            return
        if bound.ready >= 0 and not call.got[bound.ready]:
            self.early[call.fc.key] = (call, step, outcome)
            return
        if outcome:
            self._rebind(call, outcome, step.i)
            step = call.bound.steps[step.i]
        call.got[step.i] = 1
        if self._hooks(call, step):
            self._kids(call, step)

    def gave_up(self, fc: FlowCall) -> None:
        """The caller of a call waiting for an agent hung up: the call goes on as its flow's
        ``gaveup`` script from that moment."""
        waiting = self.waiting.pop(fc.key, None)
        if waiting is None:
            return
        call, step = waiting
        if call.done or call.bound.steps[step.i] is not step:
            return
        recorded = call.bound.script.outcome.split("@")[0].endswith(":rec")
        if step.i == call.bound.wait:
            self._dequeued(call, step, outcome_name("queued_gaveup", recorded))
            return
        self._switch(call, step, outcome_name("gaveup", recorded))

    def rejected(self, call: _Call, step: _Step, host: Host, again: bool = False) -> None:
        """The host's front end answers this new INVITE 503 (it is overloaded): the call
        goes on as its flow's script of a call refused there; a refused retransmission
        whose original still waits in that host's queue, as its script of a late refusal
        (the caller fails the call, the original goes on when its turn comes)."""
        if call.done:
            return
        base = call.bound.script.outcome.split("@")[0]
        first = call.first.get(step.i) if again and call.first is not None else None
        if first is not None and (call.got[step.i] or first.callbacks is _Job.done):  # handled or queued
            fc = call.fc
            if call.got[step.i] and (fc.answered_at is not None or fc.done):
                host.count_rejected()  # the caller's transaction is over: a stray 503, dropped
                return
            if self._late(call, step, late_name(base, step.i)) or call.got[step.i]:
                host.count_rejected()  # (a call gone further than its late script agrees goes on)
                return
        name = rejected_name(base, step.i)
        if self.book.get(call.bound.script.flow, name) is None:
            host.drop(self.clock.now())  # no such script: the INVITE is lost, as if dropped
            return
        host.count_rejected()
        self._switch(call, step, name)

    def _late(self, call: _Call, step: _Step, outcome: str) -> bool:
        """Switch to the script of a late refusal: what went before the refused
        retransmission stays; the 503 goes back; the original goes on (or waits on). False
        when the call has gone further than the two scripts agree."""
        script = self.book.get(call.bound.script.flow, outcome)
        if script is None:
            return False
        same = self._common(call.bound.script, script)
        kids = call.bound.steps
        if any(got and (i >= same or any(k >= same for k, _d, _p in kids[i].kids)) for i, got in enumerate(call.got)):
            return False
        self._rebind(call, outcome, same)
        again = next(i for i, s in enumerate(script.steps) if s.again == step.i)
        call.got[again] = 1
        self._kids(call, call.bound.steps[again])
        self._roots_from(call, step.i + 1, skip=again)
        return True

    def _common(self, a: Script, b: Script) -> int:
        """How many first steps two scripts share (the same messages, by the same causes)."""
        key = (id(a), id(b))
        same = self._same.get(key)
        if same is None:
            same = 0
            for x, y in zip(a.steps, b.steps, strict=False):
                if (x.src, x.dst, x.kind, x.parent, x.hooks) != (y.src, y.dst, y.kind, y.parent, y.hooks):
                    break
                same += 1
            self._same[key] = same
        return same

    def _throttled(self, call: _Call, step: _Step, parent: int) -> bool:
        """Whether the step's sender refuses its new INVITE (RFC 7339: the share its
        server's last signal asks for, drawn as the engine's client draws); if so the call
        goes on as its script of that refusal, from the refusing step's parent (-1: the call's start)."""
        client = step.oc
        signal = client.signals.get(step.dest)
        if signal is None or signal.loss <= 0 or self.clock.now() >= signal.expires \
                or client.rng.random() * 100 >= signal.loss:
            return False
        client.throttled += 1
        base = call.bound.script.outcome.split("@")[0]
        script = self._rebind(call, throttled_name(base, step.i), step.i)
        if not script.steps:  # the caller itself refused it: nothing was sent, nothing told
            call.done = True
            return True
        if parent >= 0:
            self._kids(call, call.bound.steps[parent], since=step.i)
        self._roots_from(call, step.i)
        return True

    def _switch(self, call: _Call, step: _Step, outcome: str) -> None:
        """Go on as the ``outcome`` script from ``step``, whose handling is over in both."""
        self._rebind(call, outcome, step.i + 1)
        self._kids(call, call.bound.steps[step.i])
        self._roots_from(call, step.i + 1)

    def _rebind(self, call: _Call, outcome: str, keep: int) -> Script:
        """The call walks its flow's ``outcome`` script from now on; what its first ``keep``
        steps saw stays seen (the two scripts share them)."""
        script = self.book.get(call.bound.script.flow, outcome)
        assert script is not None
        call.bound = self._bind(script, call.choice)
        got = bytearray(len(call.bound.steps))
        got[:keep] = call.got[:keep]
        call.got = got
        return script

    def _roots_from(self, call: _Call, first: int, skip: int = -1) -> None:
        """The new script's own moments from step ``first`` on, at their times since the
        call's start (at once for those already due)."""
        script = call.bound.script
        late = self.clock.now() - call.fc.t0
        for i in script.roots:
            if i >= first and i != skip:
                root = script.steps[i]
                self._after(call, i, max(call.delay(root.delay_s, root.per_holding, root.rings, -1) - late, 0.0))

    # -- RFC 3261 timers ---------------------------------------------------------------------------

    def _lane(self, delay_s: float) -> TimerLane:
        """The lane of every replayed timer of this delay (most are cancelled: see TimerLane)."""
        lane = self._lanes.get(delay_s)
        if lane is None:
            lane = self._lanes[delay_s] = TimerLane(self.clock, delay_s)
        return lane

    def _arm(self, call: _Call, step: _Step) -> None:
        t = self.timers
        if step.wire != "udp":
            call.timers[step.i] = self._lane(64 * t.t1).call_later(lambda: self._timeout(call, step))
            return
        self._retry_in(call, step, t.t1, 0.0)

    def _retry_in(self, call: _Call, step: _Step, interval: float, spent: float) -> None:
        call.timers[step.i] = self._lane(interval).call_later(
            lambda: self._retry(call, step, interval, spent + interval))

    def _retry(self, call: _Call, step: _Step, interval: float, spent: float) -> None:
        if call.done or call.timers.get(step.i) is None:
            return
        t = self.timers
        if spent >= 64 * t.t1:
            if step.unacked:  # the caller never ACKs it: the script's own BYE follows
                call.timers.pop(step.i, None)
                return
            self._timeout(call, step)
            return
        self._send(call, step, again=True)
        nxt = 2 * interval if step.request == "INVITE" else min(2 * interval, t.t2)
        self._retry_in(call, step, nxt, spent)

    def _timeout(self, call: _Call, step: _Step) -> None:
        """A transaction gave up (Timer B, F or H): the call fails, or ends if answered."""
        if call.done or call.timers.pop(step.i, None) is None:
            return
        self.timeouts += 1
        fc = call.fc
        centre = self.centre
        if fc.flow == "keepalive":  # no call to end: the phone tries again at its next interval
            call.done = True
            return
        centre.topo.gate.release(fc.key)
        if fc.answered_at is None and not fc.done:
            centre.caller_told(fc, "failed", 408, self.clock.now())
        elif not fc.done:
            centre.caller_told(fc, "ended", None, self.clock.now())
        call.done = True
        for timer in call.timers.values():
            timer.cancel()  # type: ignore[attr-defined]
        call.timers.clear()


def _remap(book: ScriptBook, name: str, host: Host, address: object) -> object:
    """The run host's address that stands where the recording host's ``address`` was."""
    _role, addresses = book.hosts[name]
    return host.addresses[addresses.index(address)]  # type: ignore[arg-type]

