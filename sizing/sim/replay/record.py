"""Recording call scripts from the engine: one probe call per flow and outcome, at zero load.

Theory of operation
-------------------
:func:`script_book` builds the scenario's own topology reduced to one host per
role (:func:`script_scenario`: same transports, TLS, SRTP, headers, wire
styles and profiles; no loss, no latency, no other traffic) and runs one call
through the full engine for each (flow, outcome) the scenario can replay. A
tap on every host records each message as it is sent (sender, receiver,
bytes, kind) and each message's handling. The *cause* of a send is known
because the engine handles one message at a time: a message sent while a
host handles another is that one's child, with no delay; a message sent by a
timer is the child of the message whose handling armed the timer (the
clock's ``wrap`` hook carries that along), after the timer's delay. What the
call's driver does at each step (trunk channel taken or freed, caller told,
SIP Server state, recording) is recorded as the step's hooks.

Every call is recorded twice, with two holding times; a step's delay that
differs between them is linear in the holding time (the hang-up: one
holding time; a transfer: half of one) and is written as such, so one
script serves every holding time. The two recordings must be the same
messages in the same order, or the flow is not replayed (its calls run on
the engine).

What is replayed: a call for an agent is offered to the ACD as it arrives (the
ACD's own ``offer``, as the SIP Server's routing does a few milliseconds later
for an engine call): with an idle agent it walks its ``plain`` script; with
none, its ``queued`` script (the media server's queue answers it; at the
``assigned`` moment the ACD hands it an agent and the SIP Server transfers it)
or ``queued_gaveup`` (its caller hangs up there). An IVR-then-agent call waits
for the ACD at its script's ``offer`` moment (``gaveup``: its caller hangs up
there). Every call of a scenario with a session timer (its refreshes depend on
the holding time) runs on the engine. Overload has scripts of its own: a new INVITE a front end
refuses 503 (``@<step>``), its retransmission refused while the original waits
(``@<step>late``), and one its sender refuses by RFC 7339 (``@<step>oc``).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import lru_cache
from typing import Any

from ...flows import BY_NAME
from ...scenario import Scenario
from ...sip.interfaces import Address
from ...sip.kind import call_kind
from ..simpy_fast import run_until
from .script import Hook, Script, ScriptBook, Step

__all__ = ["AGENT_BOUND", "HOLDINGS_S", "QUEUE_S", "T0_S", "background_book", "late_name", "offer_step", "one_call_at_a_time", "outcome_name",
           "replayable", "script_book", "script_scenario", "throttled_name", "wait_step"]

HOLDINGS_S = (8.0, 12.0)
"""The two holding times each flow is recorded with (transfers happen half way)."""
T0_S = 1.0
"""When the probe call starts."""
COUNTERS_AT = 0x1000
"""Where the probe's branch and tag counters start: elements write them in hex, so a
message's Vias and tags are as long as in a run of some thousands of calls, not one."""
AGENT_BOUND = frozenset(name for name, spec in BY_NAME.items() if spec.extension is None and not spec.pre_s)
"""Flows whose calls the SIP Server offers to the ACD on arrival (with agents): no
extension of their own and no IVR first (``CallCentre.route``)."""
QUEUE_S = 3.0
"""How long the probe's caller of a ``queued`` script waits for an agent (the queue
has answered it by then): the replayed call waits there for the ACD instead."""
GAVE_UP_S = 0.001
"""How long the probe's caller waits for an agent in the ``gaveup`` scripts (a replayed
call switches to one when its own patience runs out: its hang-up goes at once)."""
_RUN_S = 80.0
"""How long after its start a probe call is followed: its longest flow (busy or no
answer, ``NO_ANSWER_S`` + ring) plus RFC 3261's 32 s transaction timers."""


def outcome_name(outcome: str, recorded: bool) -> str:
    """The book's key of an outcome (``plain``, ``busy``, ``noanswer``, ``blocked``) for a
    recorded call or not."""
    return f"{outcome}:rec" if recorded else outcome


def replayable(scenario: Scenario) -> tuple[set[str], dict[str, str]]:
    """The flows of ``scenario``'s mix whose calls can be replayed, and why each other
    flow's calls run on the engine."""
    mix = [f for f, share in scenario.traffic.mix.shares().items() if share > 0]
    why: dict[str, str] = {}
    if scenario.trunk.session_expires_s is not None:
        why.update(dict.fromkeys(mix, "a session timer's refreshes depend on the holding time"))
    return {f for f in mix if f not in why}, why


def _roles(scenario: Scenario) -> list[tuple[str, Any]]:
    topo = scenario.topology
    return [(name, getattr(topo, name)) for name in type(topo).model_fields
            if getattr(getattr(topo, name), "enabled", False) and hasattr(getattr(topo, name), "overload")]


def script_scenario(scenario: Scenario) -> Scenario:
    """``scenario`` reduced to what shapes its calls' messages: one host per role, no
    loss or latency, no registrations, CTI or standby, one agent if any, a fixed seed."""
    data = scenario.model_dump(mode="json")
    data.update(name="call-script probe", description="", seed=1, warmup_s=0.0, duration_s=3600.0,
                replications=1, simulation={"start": "empty", "engine": "full"})
    recorder = data["topology"]["recorder"]["enabled"]
    data["traffic"] = {"calls_per_second": 1.0, "holding_time_s": HOLDINGS_S[0], "holding": {"kind": "fixed"},
                       "recording_share": 1.0 if recorder else 0.0}
    one_call_at_a_time(data)
    data["agents"]["registered"] = False
    data["endpoints"]["count"] = 0
    return Scenario.model_validate(data)


def one_call_at_a_time(data: dict[str, Any]) -> None:
    """Reduce a scenario's data, in place, to what a probe call needs: one host per role
    with one core, no links' delay or loss, no CTI, standby or targets, a trunk that
    admits every call, one agent (if any) that is never in wrap-up and never abandoned."""
    data["trunk"].update(channels=1000, cps_limit=None, calls_per_connection=None)
    agents = data["agents"]
    agents.update(count=min(agents["count"], 1), wrap_up_s=0.0, patience={"kind": "none"})
    data["cti"] = {"clients": 0, "events_per_call": 0.0, "bytes_per_event": 0}
    data["ha"] = {"hot_standby": False}
    data["links"] = {}
    data["targets"] = {}
    data.setdefault("simulation", {})["faults"] = []
    for role in data["topology"].values():
        role.update(instances=1, cores=1, ha="none")
        if "media_ports" in role:
            role["media_ports"] = 500


def script_book(scenario: Scenario) -> ScriptBook:
    """The scripts of every replayable flow and outcome of ``scenario`` (cached per
    reduced scenario, so replications and a planner's candidates share them)."""
    flows, why = replayable(scenario)
    reduced = script_scenario(scenario)
    recorder = scenario.topology.recorder.enabled and scenario.traffic.recording_share > 0
    key = json.dumps(reduced.model_dump(mode="json"), sort_keys=True)
    book = _book(key, tuple(sorted(flows)), recorder)
    return ScriptBook(book.scripts, book.hosts, {**why, **book.missing})


@lru_cache(maxsize=32)
def _book(key: str, flows: tuple[str, ...], recorder: bool) -> ScriptBook:
    reduced = Scenario.model_validate(json.loads(key))
    scripts: dict[tuple[str, str], Script] = {}
    missing: dict[str, str] = {}
    hosts: dict[str, tuple[str, tuple[Address, ...]]] = {}
    for flow in flows:
        outcomes = BY_NAME[flow].outcomes
        variants = [(o, rec) for o in outcomes for rec in ((False, True) if recorder else (False,))]
        variants.append(("blocked", False))
        for outcome, rec in variants:
            draw = _draw(flow, outcome)
            runs = [_record(reduced, flow, h, rec, draw, outcome == "blocked", hosts) for h in HOLDINGS_S]
            script, problem = _fit(flow, outcome_name(outcome, rec), *runs)
            if script is None:
                missing[flow] = problem
                break
            scripts[(flow, outcome_name(outcome, rec))] = script
        else:
            continue
        for outcome, rec in variants:
            scripts.pop((flow, outcome_name(outcome, rec)), None)
    for (flow, outcome), script in list(scripts.items()):
        if outcome in ("plain", "plain:rec") and flow not in missing:
            _gave_up_variant(reduced, script, hosts, scripts, missing)
            _queued_variants(reduced, script, hosts, scripts)
    rejecting = {name for name, role in _roles(reduced) if role.overload.policy != "drop"}  # 503 (loss: beyond the control)
    for (flow, outcome), script in list(scripts.items()):
        if outcome == "blocked" or flow in missing or (flow, outcome) not in scripts:
            continue
        _rejected_variants(reduced, script, rejecting, hosts, scripts, missing)
    for (flow, outcome), script in list(scripts.items()):
        if outcome == "blocked" or "@" in outcome or flow in missing:
            continue
        blocked = scripts[(flow, "blocked")]
        admit = _admit_step(script)
        if admit is None or admit != _admit_step(blocked) or not script.same_until(blocked, admit):
            missing[flow] = "its trunk admission is not where a blocked call's is"
    for key in [k for k in scripts if k[0] in missing]:
        del scripts[key]
    return ScriptBook(scripts, hosts, missing)


def rejected_name(outcome: str, step: int) -> str:
    """The book's key of ``outcome`` whose new INVITE of step ``step`` a front end answered 503."""
    return f"{outcome}@{step}"


def late_name(outcome: str, step: int) -> str:
    """The book's key of ``outcome`` whose new INVITE of step ``step`` waited at a front end
    past T1, its retransmission answered 503 there while the original went on."""
    return f"{outcome}@{step}late"


def throttled_name(outcome: str, step: int) -> str:
    """The book's key of ``outcome`` whose new INVITE of step ``step`` its sender refused
    itself, as RFC 7339 loss-based control asked of it (the step is never sent)."""
    return f"{outcome}@{step}oc"


def _rejected_variants(reduced: Scenario, script: Script, rejecting: set[str],
                       hosts: dict[str, tuple[str, tuple[Address, ...]]],
                       scripts: dict[tuple[str, str], Script], missing: dict[str, str]) -> None:
    """For each new INVITE of ``script`` that reaches a host whose front end answers 503
    in overload, the script of the call that front end refused there."""
    from ..host import _new_call

    controlled = {name for name, role in _roles(reduced) if role.overload.policy == "loss"}
    flow, outcome = script.flow, script.outcome
    base, recorded = outcome.split(":")[0], outcome.endswith(":rec")
    queued = {"queued": "assigned", "queued_gaveup": "gave_up"}.get(base, "")
    draw = _draw(flow, base)

    def probe(**how: Any) -> list[list[_Raw]]:
        return [_record(reduced, flow, h, recorded, draw, False, hosts, queued=queued, **how) for h in HOLDINGS_S]

    def fail(problem: str) -> None:
        if queued:  # a queued call runs on the engine instead; the flow's other calls replay
            names = {outcome_name(name, recorded) for name in ("queued", "queued_gaveup")}
            for key in [k for k in scripts if k[0] == flow and k[1].split("@")[0] in names]:
                del scripts[key]
        else:
            missing[flow] = problem

    for i, step in enumerate(script.steps):
        if step.data is None or not _new_call(step.data):
            continue
        if hosts[step.dst][0] in controlled:  # its sender may refuse it (RFC 7339)
            throttled, problem = _fit(flow, throttled_name(outcome, i), *probe(throttle=(step.src, step.dest)),
                                      until=i - 1)
            if throttled is None or not throttled.same_until(script, i - 1 if i else 0) and i:
                return fail(problem or f"refusing step {i} at its sender changes what went before it")
            scripts[(flow, throttled_name(outcome, i))] = throttled
        if hosts[step.dst][0] not in rejecting:
            continue
        rejected, problem = _fit(flow, rejected_name(outcome, i), *probe(reject_step=i))
        if rejected is None or not rejected.same_until(script, i - 1 if i else 0):
            return fail(problem or f"a 503 at step {i} changes what went before it")
        scripts[(flow, rejected_name(outcome, i))] = rejected
        if step.wire != "udp":  # no retransmission over TCP or TLS: never late
            continue
        late, problem = _fit(flow, late_name(outcome, i), *probe(late_step=i), again_of=i)
        if late is not None and late.same_until(script, i):
            scripts[(flow, late_name(outcome, i))] = late


def offer_step(script: Script) -> int | None:
    """The moment the call waits for an agent (an ``offer`` hook), if its flow has one."""
    return next((i for i, s in enumerate(script.steps) if ("offer",) in s.hooks), None)


def _gave_up_variant(reduced: Scenario, script: Script, hosts: dict[str, tuple[str, tuple[Address, ...]]],
                     scripts: dict[tuple[str, str], Script], missing: dict[str, str]) -> None:
    """For a script that waits for an agent, the script of the call whose caller gave up
    waiting there: the same messages up to the wait, then the caller's hang-up."""
    wait = offer_step(script)
    if wait is None:
        return
    recorded = script.outcome.endswith(":rec")
    draw = _draw(script.flow, script.outcome.split(":")[0])
    runs = [_record(reduced, script.flow, h, recorded, draw, False, hosts, gave_up=True) for h in HOLDINGS_S]
    name = outcome_name("gaveup", recorded)
    gave_up, problem = _fit(script.flow, name, *runs)
    if gave_up is None or not gave_up.same_until(script, wait):
        missing[script.flow] = problem or "a caller giving up in the queue changes what went before"
        return
    scripts[(script.flow, name)] = gave_up


def wait_step(script: Script, hook: str = "assigned") -> int | None:
    """The moment a queued call's script waits for an agent (``assigned``), or its caller
    gives up there (``gave_up``)."""
    return next((i for i, s in enumerate(script.steps) if (hook,) in s.hooks), None)


def _queued_variants(reduced: Scenario, script: Script, hosts: dict[str, tuple[str, tuple[Address, ...]]],
                     scripts: dict[tuple[str, str], Script]) -> None:
    """For a call offered to the ACD on arrival that finds no idle agent: the script of
    the call queued (the SIP Server sends it to the media server's queue, which answers;
    an agent is handed it :data:`QUEUE_S` later and the SIP Server transfers it there)
    and of its caller giving up in the queue. Without them (the two do not share what
    goes before the wait) such calls run on the engine."""
    flow = script.flow
    if flow not in AGENT_BOUND or offer_step(script) is not None or reduced.agents.count == 0:
        return
    recorded = script.outcome.endswith(":rec")
    draw = _draw(flow, "plain")
    queued, _ = _fit(flow, outcome_name("queued", recorded),
                     *[_record(reduced, flow, h, recorded, draw, False, hosts, queued="assigned") for h in HOLDINGS_S])
    gave_up, _ = _fit(flow, outcome_name("queued_gaveup", recorded),
                      *[_record(reduced, flow, h, recorded, draw, False, hosts, queued="gave_up") for h in HOLDINGS_S])
    if queued is None or gave_up is None:
        return
    wait = wait_step(queued)
    if wait is None or wait != wait_step(gave_up, "gave_up") or not gave_up.same_until(queued, wait - 1) \
            or not any(("state", "answer") in s.hooks for s in queued.steps[:wait]):
        return
    scripts[(flow, queued.outcome)] = queued
    scripts[(flow, gave_up.outcome)] = gave_up


def _draw(flow: str, outcome: str) -> float:
    """The driver's draw that gives a call of ``flow`` this outcome (see
    :attr:`sizing.flows.Flow.outcomes`); any for an outcome no draw decides (blocked)."""
    outcomes = BY_NAME[flow].outcomes
    return outcomes.get(outcome, next(iter(outcomes.values())))


def _admit_step(script: Script) -> int | None:
    return next((i for i, s in enumerate(script.steps) if any(h[0] == "admit" for h in s.hooks)), None)


class _Raw:
    """A step as the recorder saw it: absolute times, hooks still growing."""

    __slots__ = ("src", "dst", "wire", "data", "parent", "at", "anchor_at", "hooks", "source", "dest", "stateless")

    def __init__(self, src: str, dst: str, wire: str, data: bytes | None, parent: int, at: float,
                 anchor_at: float, source: Address | None = None, dest: Address | None = None) -> None:
        self.src, self.dst, self.wire, self.data = src, dst, wire, data
        self.parent, self.at, self.anchor_at = parent, at, anchor_at
        self.source, self.dest = source, dest
        self.hooks: list[Hook] = []
        self.stateless = False
        """A front end's 503, sent without a transaction: never sent again."""


class _Recorder:
    """The tap: contexts (which step's handling, or which timer's anchor, is current)."""

    def __init__(self, t0: float) -> None:
        self.steps: list[_Raw] = []
        self.t0 = t0
        self.anchor: tuple[int, float] | None = None
        """(step, when its handling ended) whose handling is current or armed the current
        timer; None: the call's start."""
        self.handling: int | None = None
        self.timer_step: int | None = None
        """The hook-only step of the current timer firing, once one hook made it."""
        self.pending: dict[tuple[Address, bytes], deque[int]] = {}
        self.quieted = 0
        """Inside a driver action whose replay redoes its media changes itself."""

    @contextmanager
    def quiet(self) -> Iterator[None]:
        self.quieted += 1
        try:
            yield
        finally:
            self.quieted -= 1

    @contextmanager
    def during(self, index: int, now: float) -> Iterator[None]:
        """The handling of step ``index`` is current: what is sent or hooked is its child."""
        saved = (self.anchor, self.handling, self.timer_step)
        self.anchor, self.handling, self.timer_step = (index, now), index, None
        try:
            yield
        finally:
            self.anchor, self.handling, self.timer_step = saved

    def parent(self, now: float) -> tuple[int, float]:
        if self.anchor is None:
            return -1, self.t0
        return self.anchor

    def sent(self, src: str, dst: str, wire: str, data: bytes, now: float, source: Address, dest: Address) -> None:
        parent, anchor_at = self.parent(now)
        self.steps.append(_Raw(src, dst, wire, bytes(data), parent, now, anchor_at, source, dest))
        self.pending.setdefault((dest, bytes(data)), deque()).append(len(self.steps) - 1)

    def hook(self, hook: Hook, now: float) -> None:
        if self.handling is not None:
            self.steps[self.handling].hooks.append(hook)
            return
        if self.timer_step is None:
            parent, anchor_at = self.parent(now)
            self.steps.append(_Raw("", "", "", None, parent, now, anchor_at))
            self.timer_step = len(self.steps) - 1
            # what the timer does next follows from the moment: a call waiting there for an
            # agent (an "offer" hook) sends it once the agent is assigned
            self.anchor = (self.timer_step, now)
        self.steps[self.timer_step].hooks.append(hook)

    def wrap(self, callback: Callable[[], object]) -> Callable[[], object]:
        anchor = self.anchor

        def fired() -> None:
            saved = (self.anchor, self.handling, self.timer_step)
            self.anchor, self.handling, self.timer_step = anchor, None, None
            try:
                callback()
            finally:
                self.anchor, self.handling, self.timer_step = saved

        return fired


def background_book(scenario: Scenario) -> ScriptBook | None:
    """The scripts of the keep-alive OPTIONS that registered phones send to their registrar
    (flow ``keepalive``, outcome ``phone`` or ``agent``), or None when there are none."""
    groups = []
    if scenario.endpoints.count > 0:
        groups.append("phone")
    if scenario.agents.registered and scenario.agents.count > 0:
        groups.append("agent")
    if scenario.endpoints.keepalive.method != "options" or not groups:
        return None
    data = script_scenario(scenario).model_dump(mode="json")
    data["endpoints"]["count"] = 1 if "phone" in groups else 0
    data["agents"]["registered"] = "agent" in groups
    return _background(json.dumps(data, sort_keys=True), tuple(groups))


@lru_cache(maxsize=8)
def _background(key: str, groups: tuple[str, ...]) -> ScriptBook:
    reduced = Scenario.model_validate(json.loads(key))
    scripts: dict[tuple[str, str], Script] = {}
    missing: dict[str, str] = {}
    hosts: dict[str, tuple[str, tuple[Address, ...]]] = {}
    from ...flows import keepalive

    for group in groups:
        def start(centre: Any, group: str = group) -> None:
            topo = centre.topo
            if topo.registrars:
                ua = topo.endpoints if group == "phone" else topo.agents
                keepalive.send(centre, ua, topo.registrars[0], "options", float("inf"))

        run = _record(reduced, "keepalive", HOLDINGS_S[0], False, 0.25, False, hosts, start=start)
        script, problem = _fit("keepalive", group, run, run)
        if script is None:
            missing[group] = problem
        else:
            scripts[("keepalive", group)] = script
    return ScriptBook(scripts, hosts, missing)


def _record(reduced: Scenario, flow: str, holding: float, recorded: bool, draw: float, blocked: bool,
            hosts: dict[str, tuple[str, tuple[Address, ...]]], reject_step: int | None = None,
            gave_up: bool = False, start: Callable[[Any], None] | None = None,
            late_step: int | None = None, throttle: tuple[str, Address | None] | None = None,
            queued: str = "") -> list[_Raw]:
    """One call of ``flow`` through the engine, every message and hook recorded; the
    front end answers 503 to the INVITE of step ``reject_step``, when given, or to the
    retransmission of the INVITE of ``late_step`` while the original waits; ``throttle``
    (sender, destination): the sender's RFC 7339 client refuses its first new INVITE
    there; ``queued`` (``assigned`` or ``gave_up``): no agent is idle when the call
    arrives, and one is handed it :data:`QUEUE_S` later or its caller gives up then; with
    ``gave_up`` no agent is ever idle and a caller queued for one hangs up at once;
    ``start(centre)``, when given, is what happens at the probe's start instead of a call."""
    import simpy

    from ..flows import CallCentre
    from ..topology import build_topology

    env = simpy.Environment()
    topo = build_topology(reduced, env, seed=reduced.seed)
    centre = CallCentre(topo, reduced.seed)
    centre.record_rng = _Fixed(draw)  # type: ignore[assignment]
    centre.end = T0_S + _RUN_S
    for node in topo.nodes:  # counters written in hex: as long as in a run of thousands of calls
        layer = getattr(node.element, "layer", None)
        if layer is not None:
            layer._branch_count = COUNTERS_AT
        if isinstance(getattr(node.element, "_tags", None), int):
            node.element._tags = COUNTERS_AT
    rec = _Recorder(T0_S)
    _tap_hosts(rec, topo, hosts, reject_step, late_step)
    if throttle is not None:
        for client in topo.oc_clients:
            if client.name == throttle[0]:
                client.admit = _refusing(client, throttle[1])  # type: ignore[method-assign]
    if blocked:
        topo.gate.channels = 0
    _tap_gate(rec, topo.gate, env)
    _tap_driver(rec, centre, topo.roles(), env)
    if gave_up and centre.acd is not None:
        centre.acd.hold_every_agent()
        centre.acd.patience = _Patience(GAVE_UP_S)  # type: ignore[assignment]
    if queued and centre.acd is not None:
        _queue_probe(rec, centre, queued)
    _tap_servers(rec, topo, env)
    if start is not None:
        topo.net.clock.call_at(T0_S, lambda: start(centre))
    else:
        topo.net.clock.call_at(T0_S, lambda: centre.new_call(flow, holding, recorded, T0_S, engine=True))
    run_until(env, T0_S + _RUN_S)
    return rec.steps


def _tap_hosts(rec: _Recorder, topo: Any, hosts: dict[str, tuple[str, tuple[Address, ...]]],
               reject_step: int | None, late_step: int | None) -> None:
    """Every host's sends and handlings recorded (and its front end refusing a step)."""
    net = topo.net
    roles = topo.roles()
    for name, host in net.hosts.items():
        hosts.setdefault(name, (roles.get(name, name), host.addresses))
        host._send = _tap_send(rec, host, net)
        for address, transport in host.transports.items():
            transport.on_message = _tap_handle(rec, address, transport.on_message, net.env)
        if reject_step is not None:
            host.arrive = _tap_reject(rec, host, reject_step)
        elif late_step is not None:
            host.arrive = _tap_late(rec, host, late_step)
    net.clock.wrap = rec.wrap


def _tap_gate(rec: _Recorder, gate: Any, env: Any) -> None:
    """The trunk's channels taken and freed, hooked with the index of the Call-ID that
    took them: the call's own, then a leg the SIP Server placed over the trunk (a
    carrier's REFER)."""
    admit, release = gate.admit, gate.release
    channels: list[str] = []

    def channel(name: str, call_id: str) -> Hook:
        if call_id not in channels:
            channels.append(call_id)
        index = channels.index(call_id)
        return (name,) if index == 0 else (name, index)

    def admitted(call_id: str) -> bool:
        ok = admit(call_id)
        rec.hook(channel("admit", call_id), env.now)
        return ok

    def released(call_id: str) -> None:
        if call_id in gate.active:
            rec.hook(channel("release", call_id), env.now)
        release(call_id)

    gate.admit, gate.release = admitted, released


def _tap_driver(rec: _Recorder, centre: Any, roles: dict[str, str], env: Any) -> None:
    """What the call's driver learns and does, hooked: the caller told, the agent's answer
    and release, media changes, a conference, the wait for an agent after the IVR."""
    told = centre.caller_told

    def caller(fc: Any, kind: str, status: int | None, now: float) -> None:
        if kind in ("provisional", "answered", "failed", "ended"):
            rec.hook(("caller", kind, status), now)
        with rec.quiet():  # what it does to the media, its replay does too
            told(fc, kind, status, now)

    agent_event, media, conference_media = centre.agent_event, centre.media, centre.conference_media

    def agent(fc: Any, call: Any, event: Any) -> None:
        if (event.kind == "answered" and fc.agent_call is None and fc.agent is not None) or (
                event.kind in ("ended", "failed") and call is fc.agent_call):
            rec.hook(("agent", event.kind), env.now)
        with rec.quiet():
            agent_event(fc, call, event)

    def media_changed(fc: Any, *, held: bool = False) -> None:
        if not rec.quieted:
            rec.hook(("media", held, roles.get(fc.peer or "agents", "agents")), env.now)
        media(fc, held=held)

    def conference(fc: Any) -> None:
        rec.hook(("conference_media",), env.now)
        with rec.quiet():
            conference_media(fc)

    after_ivr = centre.after_ivr

    def offered(fc: Any) -> None:  # the call waits here for an agent (or its caller gives up)
        if not fc.done:
            rec.hook(("offer",), env.now)
        after_ivr(fc)

    centre.caller_told, centre.agent_event, centre.media = caller, agent, media_changed
    centre.conference_media, centre.after_ivr = conference, offered


def _tap_servers(rec: _Recorder, topo: Any, env: Any) -> None:
    """Each SIP Server's state changes (replication, CTI) and recordings started, hooked."""
    for node in topo.sip_servers:
        server = node.element
        on_state, record = server.on_state, server.record

        def state(srv: Any, call: Any, kind: str, on_state: Any = on_state) -> None:
            rec.hook(("state", kind), env.now)
            on_state(srv, call, kind)

        def recording(call: Any, record: Any = record) -> bool:
            yes = bool(record(call))
            if yes:
                rec.hook(("record",), env.now)
            return yes

        server.on_state, server.record = state, recording


def _queue_probe(rec: _Recorder, centre: Any, outcome: str) -> None:
    """No idle agent as the probe call arrives; :data:`QUEUE_S` after its start one is
    handed it (``assigned``) or its caller gives up (``gave_up``); that moment is a step."""
    acd = centre.acd
    acd.hold_every_agent()
    assigned, give_up = centre.assigned, centre.give_up

    def handed(fc: Any, agent: int) -> None:
        rec.hook(("assigned",), centre.clock.now())
        assigned(fc, agent)

    def gone(fc: Any) -> None:
        if not fc.done:
            rec.hook(("gave_up",), centre.clock.now())
        give_up(fc)

    centre.assigned, centre.give_up = handed, gone
    if outcome == "gave_up":
        acd.patience = _Patience(QUEUE_S)
    else:
        centre.clock.call_at(T0_S + QUEUE_S, lambda: acd.free_agent(0))


class _Patience:
    """The probe's caller patience: always ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def sample(self) -> float:
        return self.seconds


class _Fixed:
    """The probe's stand-in for the driver's recording/extension draws: always ``value``."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self, *_size: int) -> float:
        return self.value


def _refusing(client: Any, dest: Address | None) -> Callable[[bytes, Address], bool]:
    """``client``'s admission, refusing the first new INVITE to ``dest``."""
    from ...sip.frontend import is_new_invite

    admit = client.admit
    refused: list[bool] = []

    def admitting(data: bytes, to: Address) -> bool:
        if not refused and to == dest and is_new_invite(data):
            refused.append(True)
            client.throttled += 1
            return False
        return admit(data, to)

    return admitting


def _tap_send(rec: _Recorder, host: Any, net: Any) -> Callable[..., None]:
    send = host._send

    def tapped(transport: Any, data: bytes, dest: Address) -> None:
        target = net.routes.get(dest)
        if target is not None and data.strip():
            rec.sent(host.name, target.host.name, transport.wire, data, net.env.now, transport.local, dest)
        send(transport, data, dest)

    return tapped


def _tap_reject(rec: _Recorder, host: Any, step: int) -> Callable[[Any], None]:
    """The host's front end, refusing the INVITE of ``step`` as an overloaded one does."""
    arrive = host.arrive

    def arrived(job: Any) -> None:
        queue = rec.pending.get((job.transport.local, job.data))
        if not queue or queue[0] != step:
            arrive(job)
            return
        queue.popleft()
        _refuse(rec, host, job, step)

    return arrived


def _tap_late(rec: _Recorder, host: Any, step: int) -> Callable[[Any], None]:
    """The host's front end when the INVITE of ``step`` waits in its queue past T1: the
    original is held, its retransmission refused 503 as an overloaded front end does,
    then the original queued (ahead of whatever the refusal sets off, as in a long queue)."""
    arrive = host.arrive
    held: list[Any] = []

    def arrived(job: Any) -> None:
        queue = rec.pending.get((job.transport.local, job.data))
        if not queue or step not in queue:
            arrive(job)
            return
        if not held and queue[0] == step:
            held.append(job)  # the original: it waits (its handling is recorded when it ends)
            return
        if not held or queue[-1] == step:
            arrive(job)
            return
        _refuse(rec, host, job, queue.pop())  # the retransmission: refused now
        arrive(held.pop())

    return arrived


def _refuse(rec: _Recorder, host: Any, job: Any, index: int) -> None:
    """The front end's 503 to the INVITE of step ``index`` (stateless: never sent again)."""
    sent = len(rec.steps)
    now = host.network.env.now
    with rec.during(index, now):
        host.queue_work(now, host.overload.reject_cost_us * 1e-6)
        job.rejected_by(host)
    for raw in rec.steps[sent:]:
        raw.stateless = True


def _tap_handle(rec: _Recorder, address: Address, inner: Callable[[bytes, Address], None],
                env: Any) -> Callable[[bytes, Address], None]:
    def handled(data: bytes, source: Address) -> None:
        queue = rec.pending.get((address, bytes(data)))
        if not queue:
            inner(data, source)
            return
        with rec.during(queue.popleft(), env.now):
            inner(data, source)

    return handled


# ---------------------------------------------------------------------------
# From two recordings to a script
# ---------------------------------------------------------------------------


def _fit(flow: str, outcome: str, short: list[_Raw], long: list[_Raw],
         again_of: int | None = None, until: int | None = None) -> tuple[Script | None, str]:
    """The script of two recordings with holding times ``HOLDINGS_S``; (None, why) when
    they are not the same messages in the same order. ``again_of``: the recording of a
    late refusal of that step's retransmission (:func:`_repeats`); ``until``: the call
    was refused at its sender after that step (-1: at its first message, so it may
    have sent nothing)."""
    if until != -1 and (not short or short[0].data is None):
        return None, "the probe call sent nothing"
    if [(s.src, s.dst, s.parent, s.hooks, _start(s.data)) for s in short] != \
            [(s.src, s.dst, s.parent, s.hooks, _start(s.data)) for s in long]:
        return None, "its messages depend on the holding time beyond their delays"
    h1, h2 = HOLDINGS_S
    kinds = _kinds(short)
    steps = []
    for i, (a, b) in enumerate(zip(short, long, strict=True)):
        d1, d2 = a.at - a.anchor_at, b.at - b.anchor_at
        per = (d2 - d1) / (h2 - h1)
        per = round(per * 8) / 8  # a whole or simple share of the holding time
        fixed = max(d1 - per * h1, 0.0)
        steps.append(_step(a, kinds[i], fixed, per))
    steps = [replace(s, until_ack=False) if raw.stateless else s for s, raw in zip(_transactions(steps), short,
                                                                                     strict=True)]
    if again_of is not None:
        steps, problem = _repeats(steps, again_of)
        if problem:
            return None, problem
    return Script(flow, outcome, tuple(steps), recorded_at_s=h1), ""


def _repeats(steps: list[Step], again_of: int) -> tuple[list[Step], str]:
    """A late refusal's recording with its retransmissions taken out: the replay's own
    RFC 3261 timers send them (and the proxies forward them) as for any script. The
    refused retransmission of step ``again_of`` stays, marked (the call switches there);
    a 2xx the caller never ACKs is marked ``unacked``."""
    first: dict[tuple[str, str, bytes], int] = {}
    dropped: set[int] = set()
    repeated: set[int] = set()
    again = -1
    for i, s in enumerate(steps):
        if s.data is None:
            continue
        seen = first.setdefault((s.src, s.dst, s.data), i)
        if seen == i:
            continue
        if seen == again_of and again < 0:
            again = i
            continue
        if s.parent >= 0 and s.parent not in dropped and not s.delay_s:  # neither a timer's nor a forward's
            return [], "its late refusal sends a message twice"
        dropped.add(i)
        repeated.add(seen)
    if again < 0:
        return [], "its INVITE was not sent again while it waited"
    refusal = {again}  # the refused retransmission and what it sets off go last, so that
    for i, s in enumerate(steps):  # the original's steps keep the indices they have in its script
        if s.parent in refusal:
            refusal.add(i)
    order = [i for i in range(len(steps)) if i not in dropped and i not in refusal] + sorted(refusal)
    index = {old: new for new, old in enumerate(order)}
    out = []
    for i in order:
        s = steps[i]
        if any(s.parent == d for d in dropped):
            return [], "a retransmission in its late refusal sets off a message of its own"
        answers = again_of if s.answers == again else s.answers
        out.append(replace(s, parent=index.get(s.parent, -1), answers=index.get(answers, -1),
                           acks=index.get(s.acks, -1), again=again_of if i == again else -1,
                           unacked=s.until_ack and i in repeated))
    return out, ""


def _start(data: bytes | None) -> bytes:
    return data.split(b"\r\n", 1)[0] if data else b""


def _kinds(raws: list[_Raw]) -> list[str]:
    requests: dict[tuple[str, int], str] = {}
    return [call_kind(r.data, requests) if r.data is not None else "" for r in raws]


def _step(raw: _Raw, kind: str, fixed: float, per: float) -> Step:
    return Step(raw.src, raw.dst, raw.wire, raw.data, kind, raw.parent, fixed, per, tuple(raw.hooks),
                raw.source, raw.dest)


def _transactions(steps: list[Step]) -> list[Step]:
    """Fill in the fields RFC 3261's timers need: each request's method, which request
    each response answers, which 2xx each ACK acknowledges."""
    from ...sip.message import Request, parse

    parsed = [parse(s.data) if s.data is not None else None for s in steps]
    out = list(steps)
    for i, (step, msg) in enumerate(zip(steps, parsed, strict=True)):
        if msg is None:
            continue
        up = parsed[step.parent] if step.parent >= 0 else None
        if up is not None and up.call_id == msg.call_id and _start(steps[step.parent].data).split(b" ")[:2] \
                == _start(step.data).split(b" ")[:2] and type(up) is type(msg):
            out[i] = replace(out[i], forward=True)
        via = msg.top_via
        branch = via.branch if via is not None else None
        cseq = msg.cseq
        if isinstance(msg, Request):
            if msg.method != "ACK":
                out[i] = replace(out[i], request=msg.method)
                continue
            parent = parsed[step.parent] if step.parent >= 0 else None
            if parent is not None and not isinstance(parent, Request) and parent.status >= 300 \
                    and steps[step.parent].src == step.dst:
                out[i] = replace(out[i], acks=step.parent)  # hop by hop
                continue
            for j in range(i - 1, -1, -1):  # the 2xx this ACK acknowledges end to end
                prev, pm = steps[j], parsed[j]
                if pm is not None and not isinstance(pm, Request) and 200 <= pm.status < 300 \
                        and pm.call_id == msg.call_id and pm.cseq is not None and cseq is not None \
                        and pm.cseq.number == cseq.number and out[j].until_ack and prev.src == step.dst:
                    out[i] = replace(out[i], acks=j)
                    break
            continue
        answered = -1
        for j in range(i - 1, -1, -1):
            pm = parsed[j]
            if isinstance(pm, Request) and steps[j].src == step.dst and pm.top_via is not None \
                    and pm.top_via.branch == branch and cseq is not None and pm.method == cseq.method:
                answered = j
                break
        parent = parsed[step.parent] if step.parent >= 0 else None
        forwarded = parent is not None and not isinstance(parent, Request) and parent.status == msg.status \
            and parent.call_id == msg.call_id  # a proxy's; a B2BUA's own 2xx is on another Call-ID
        invite = cseq is not None and cseq.method == "INVITE"
        until_ack = invite and (msg.status >= 300 or (msg.status >= 200 and not forwarded))
        rings = until_ack and 200 <= msg.status < 300 and step.delay_s > 0 and not step.per_holding
        out[i] = replace(out[i], status=msg.status, answers=answered, until_ack=until_ack, rings=rings)
    return out
