"""The bytes of each SIP message a scenario's calls put on each link, as the engine writes them.

The closed form (:func:`sizing.plan.closed_form`) prices signalling bandwidth as
messages x bytes.  A message's bytes depend on where it is: the carrier's INVITE
carries the trunk's UUI and custom headers, Via stacks grow hop by hop through the
proxies, proxies add Record-Route, the SDP depends on the codec, the transport and
the elements' wire style change parameters.  Rather than keep a table
of "typical" sizes that drifts from the engine, :func:`message_sizes` asks the
engine: it runs one call of every flow through the scenario's topology
(:func:`sizing.sim.topology.build_topology` and the simulator's call flows, one host
per role, no loss), one flow after the other, and reads every message delivered on
every link.

A message's kind here is its *call kind* (:mod:`sizing.sip.kind`): its method (an
in-dialog INVITE is ``re-INVITE``, an ACK of one ``ACK re-INVITE``) or its status and
the kind of request it answers (``200 INVITE``, ``100 re-INVITE``, ``202 REFER``).  Per flow and link the probe
keeps the count and bytes of each kind; :func:`message_sizes` weighs the flows by
the scenario's call mix, so a kind two flows write differently (an agent-side BYE
of a transfer, say) gets the mix's mean size.

The probe depends only on what shapes the messages: transports, TLS and codec
settings (SRTP: an ``a=crypto`` line in every SDP), UUI
and custom header bytes, the session timer, enabled roles and
their profiles (the wire style), overload policy, keep-alive method, whether agents
register.  Rates, counts, hosts, cores, targets and the mix are normalised away, so
the planner's search over hosts and cores reuses one probe (:func:`probe`, cached
per normalised scenario).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sizing import flows
from sizing.scenario import Scenario
from sizing.sip.kind import REFRESH, call_kind, kind_class

__all__ = [
    "MessageSizes",
    "Probe",
    "message_sizes",
    "probe",
    "probe_scenario",
]

BACKGROUND = "background"
"""The probe's bucket for REGISTER and OPTIONS (and their responses) and the busy lamps'
SUBSCRIBE and NOTIFY: not a call flow."""

_BACKGROUND_METHODS = frozenset({"REGISTER", "OPTIONS"})

Link = frozenset
"""A link as the set of the two roles at its ends (``frozenset({"carrier", "sbc"})``)."""


# ---------------------------------------------------------------------------
# The probe: one call of every flow through the scenario's topology
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """What the probe saw: per bucket (a flow, :data:`REFRESH` or :data:`BACKGROUND`),
    link and kind, the messages delivered and their bytes (both directions of the link).
    The :data:`REFRESH` bucket holds one session refresh: a basic call held past S/2,
    less a basic call (every kind's messages and bytes: the refresh's own)."""

    counts: Mapping[str, Mapping[Link, Mapping[str, tuple[int, int]]]]
    """bucket -> link -> kind -> (messages, bytes)."""


def probe_scenario(scenario: Scenario) -> Scenario:
    """``scenario`` reduced to what shapes its messages (see the module doc): one host
    per role, one agent and one endpoint if any, no loss, no CTI or standby, every
    call recorded when there is a recorder, a fixed seed and no warm-up.

    A session timer keeps its refresh method but runs at the smallest interval the
    engine accepts (:data:`PROBE_SESSION_EXPIRES_S`), so the probe waits 45 s for a
    refresh rather than up to half an hour: its ``Session-Expires`` values are then
    written with fewer digits than the scenario's, a byte or two per message that
    carries one."""
    data = scenario.model_dump(mode="json")
    trunk = data["trunk"]
    if trunk.get("session_expires_s") is not None:
        trunk["session_expires_s"] = PROBE_SESSION_EXPIRES_S
    data.update(
        name="message-size probe",
        description="",
        seed=1,
        warmup_s=0.0,
        duration_s=3600.0,
        replications=1,
        simulation={"start": "empty", "engine": "full"},  # one call at a time, idle system, the engine
    )
    recorder = data["topology"]["recorder"]["enabled"]
    data["traffic"] = {
        "calls_per_second": 1.0,
        "holding_time_s": PROBE_HOLDING_S,
        "holding": {"kind": "fixed"},
        "recording_share": 1.0 if recorder else 0.0,
    }
    from sizing.sim.replay.record import one_call_at_a_time

    one_call_at_a_time(data)
    endpoints = data["endpoints"]
    endpoints["count"] = min(endpoints["count"], 1)
    endpoints["presence_subscriptions"] = min(endpoints["presence_subscriptions"], 1)
    return Scenario.model_validate(data)


PROBE_HOLDING_S = 10.0
"""Holding time of the probe's calls (a transfer or conference happens half way)."""
PROBE_SESSION_EXPIRES_S = 90
"""The probe's session interval: RFC 4028's smallest (the engine's Min-SE)."""
_MARGIN_S = 5.0
"""Simulated seconds left after a flow's last planned event before the next call."""


def _schedule(scenario: Scenario) -> list[tuple[str, str, float, float]]:
    """The probe's calls: (bucket, flow, holding, simulated seconds until the next call),
    one call per flow of :mod:`sizing.flows` and outcome (busy, no answer) in the mix's
    order, each given the flow's longest time (ringing, IVR, consultation, no answer)."""
    h = PROBE_HOLDING_S
    calls = [(f.name, f.name, h, f.longest_s(h) + _MARGIN_S) for f in flows.FLOWS for _outcome in f.outcomes]
    if scenario.trunk.session_expires_s is not None:
        held = 0.75 * scenario.trunk.session_expires_s  # one refresh, at S/2
        basic = flows.basic.FLOW
        calls.append((REFRESH, basic.name, held, basic.longest_s(held) + _MARGIN_S))
    return calls


def probe(scenario: Scenario) -> Probe:
    """The probe's messages for ``scenario`` (cached per :func:`probe_scenario`)."""
    reduced = probe_scenario(scenario)
    return _probe_cached(json.dumps(reduced.model_dump(mode="json"), sort_keys=True))


@lru_cache(maxsize=64)
def _probe_cached(key: str) -> Probe:
    return _run(Scenario.model_validate(json.loads(key)))


class _Calls:
    """The probe's stand-ins for the simulator's arrival process, flow picker and
    holding-time sampler: the calls of :func:`_schedule`, one after the other."""

    def __init__(self, calls: list[tuple[str, str, float, float]]) -> None:
        self.calls = calls
        self.starts: list[float] = []
        t = 1.0
        for *_, gap in calls:
            self.starts.append(t)
            t += gap
        self.end = t
        self._next = 0

    def next_arrival(self, now_s: float) -> float | None:
        i = bisect.bisect_right(self.starts, now_s) if now_s > 0 else 0
        return self.starts[i] if i < len(self.starts) else None

    def pick(self) -> str:
        return self.calls[self._next][1]

    def sample(self) -> float:
        holding = self.calls[self._next][2]
        self._next += 1
        return holding

    def bucket(self, now_s: float) -> str:
        """The bucket of the call whose window holds ``now_s``."""
        return self.calls[max(bisect.bisect_right(self.starts, now_s) - 1, 0)][0]


class _AtOnce:
    """The probe's stand-in for the registration phases (:func:`sizing.flows.registration.start` draws
    the REGISTER offsets, then the keep-alive phases): every endpoint registers at once and
    keeps alive one interval later, as one that has just registered does, so the probe sees
    their messages however long the expiry."""

    def __init__(self) -> None:
        self._draws = 0

    def random(self, count: int) -> Any:
        import numpy as np

        self._draws += 1
        return np.zeros(count) if self._draws % 2 else np.ones(count)


def _run(scenario: Scenario) -> Probe:
    import simpy

    from sizing.sim.flows import CallCentre
    from sizing.sim.topology import build_topology

    env = simpy.Environment()
    topo = build_topology(scenario, env, seed=scenario.seed)
    centre = CallCentre(topo, scenario.seed)
    calls = _Calls(_schedule(scenario))
    centre.arrivals = calls  # type: ignore[assignment]
    centre.picker = calls  # type: ignore[assignment]
    centre.holding = calls  # type: ignore[assignment]
    centre.reg_rng = _AtOnce()  # type: ignore[assignment]
    centre.end = calls.end
    net = topo.net
    roles = {name: _role(role) for name, role in topo.roles().items()}
    counts: dict[str, dict[Link, dict[str, list[int]]]] = {}
    requests: dict[Link, dict[tuple[str, int], str]] = {}

    def tap(host: str, inner):  # type: ignore[no-untyped-def]
        def delivered(data: bytes, source) -> None:  # type: ignore[no-untyped-def]
            if data.strip():  # not a CRLF keep-alive
                link = Link((roles[net.host_of(source).name], roles[host]))
                kind = call_kind(data, requests.setdefault(link, {}))
                bucket = calls.bucket(env.now)
                if kind.split(" ")[-1] in _BACKGROUND_METHODS or _lamps(link, kind):
                    bucket = BACKGROUND
                per_kind = counts.setdefault(bucket, {}).setdefault(link, {})
                acc = per_kind.setdefault(kind, [0, 0])
                acc[0] += 1
                acc[1] += len(data)
            inner(data, source)

        return delivered

    for name, host in net.hosts.items():
        for transport in host.transports.values():
            transport.on_message = tap(name, transport.on_message)
    centre.start()
    net.run(until=calls.end)
    out: dict[str, dict[Link, dict[str, tuple[int, int]]]] = {
        bucket: {link: {k: (n, b) for k, (n, b) in kinds.items()} for link, kinds in links.items()}
        for bucket, links in counts.items()
    }
    if REFRESH in out:
        out[REFRESH] = _less(out[REFRESH], out.get(flows.basic.FLOW.name, {}))
    return Probe(out)


def _less(
    more: Mapping[Link, Mapping[str, tuple[int, int]]],
    base: Mapping[Link, Mapping[str, tuple[int, int]]],
) -> dict[Link, dict[str, tuple[int, int]]]:
    """Per link and kind, the messages and bytes ``more`` has beyond ``base``."""
    out: dict[Link, dict[str, tuple[int, int]]] = {}
    for link, kinds in more.items():
        for kind, (n, size) in kinds.items():
            n0, size0 = base.get(link, {}).get(kind, (0, 0))
            if n > n0:
                out.setdefault(link, {})[kind] = (n - n0, size - size0)
    return out


def _lamps(link: Link, kind: str) -> bool:
    """A busy lamp's message: SUBSCRIBE or NOTIFY (or a response to one) between the phones and
    their registrar (the agents' link, which the endpoints share, to a proxy or registrar)."""
    return kind.split(" ")[-1] in ("SUBSCRIBE", "NOTIFY") and "agents" in link \
        and bool(link & {"proxy", "registrar"})


def _role(role: str) -> str:
    """The closed form's name of a simulated host's role (endpoints share the agents' link)."""
    if role.endswith(("_standby", "_spare")):
        return role.rsplit("_", 1)[0]
    return {"endpoints": "agents"}.get(role, role)


# ---------------------------------------------------------------------------
# Sizes for one scenario's mix
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageSizes:
    """Mean bytes of each message kind on each link for one scenario (its call mix).

    A session refresh's messages are kinds of their own, ``refresh re-INVITE``,
    ``refresh 200 UPDATE`` and so on: the closed form counts refreshes apart from
    the flows' re-INVITEs (holds, transfers), which carry other headers and SDP."""

    by_link: Mapping[Link, Mapping[str, float]]
    """link -> kind -> mean bytes."""

    def size(self, a: str, b: str, kind: str) -> float:
        """Mean bytes of ``kind`` on the link between roles ``a`` and ``b``.  A kind the
        probe did not see there (a flow the topology does not run, a refresh on a side
        leg) takes, in turn: the same kind not as a refresh, the mean of its status
        class or method on that link, the same kind on any link, every message on the
        link, every message."""
        here = self.by_link.get(Link((_role(a), _role(b))), {})
        plain = kind.removeprefix(f"{REFRESH} ")
        key = kind_class(plain)
        for candidates in (
            [here[kind]] if kind in here else [here[plain]] if plain in here else [],
            [v for k, v in here.items() if kind_class(k.removeprefix(f"{REFRESH} ")) == key],
            [s[kind] for s in self.by_link.values() if kind in s],
            list(here.values()),
            [v for s in self.by_link.values() for v in s.values()],
        ):
            if candidates:
                return candidates[0] if len(candidates) == 1 else sum(candidates) / len(candidates)
        raise ValueError(f"message sizes: the probe saw no message at all (link {a}->{b})")


def message_sizes(scenario: Scenario) -> MessageSizes:
    """Mean bytes per link and message kind the engine writes for ``scenario``: the
    probe's (:func:`probe`) flows weighed by the scenario's call mix; REGISTER and
    OPTIONS from the probe's registrations, a session refresh from its refresh call;
    a kind no flow of the mix wrote keeps the mean over every flow that did."""
    seen = probe(scenario).counts
    shares = scenario.traffic.mix.shares()
    weighted: dict[Link, dict[str, list[float]]] = {}
    pooled: dict[Link, dict[str, list[float]]] = {}
    for bucket, links in seen.items():
        weight = shares.get(bucket, 1.0)
        prefix = f"{REFRESH} " if bucket == REFRESH else ""
        for link, kinds in links.items():
            for kind, (n, size) in kinds.items():
                for table, w in ((weighted, weight), (pooled, 1.0)):
                    acc = table.setdefault(link, {}).setdefault(prefix + kind, [0.0, 0.0])
                    acc[0] += w * n
                    acc[1] += w * size
    out: dict[Link, dict[str, float]] = {}
    for link, kinds in pooled.items():
        sizes = out.setdefault(link, {})
        for kind, (n, size) in kinds.items():
            w_n, w_size = weighted.get(link, {}).get(kind, (0.0, 0.0))
            sizes[kind] = w_size / w_n if w_n > 0 else size / n
    return MessageSizes(out)
