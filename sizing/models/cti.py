"""CTI as the SIP Server's T-Server interface: clients registered for DNs, events by call flow.

Theory of operation
-------------------
A CTI client registers for a set of DNs (directory numbers) and receives the
events of those DNs only, as a T-Server's clients do:

- a *desktop* registers for one agent's DN and place: the events of the calls
  its agent handles; it also sends the agent's requests;
- a *supervisor* registers for the DNs of a group of ``group_size`` agents;
- a *monitor* (a reporting or routing server) registers for every DN.

A call raises events on the DNs it passes through, in an order and number set
by its flow (:data:`EVENTS`). Each event is ``(name, dn)``: ``dn`` is
:data:`AGENT` (the DN of the agent who handles the call) or :data:`OTHER` (the
route point, an IVR port, the back office, an extension: DNs only monitors
register for). An event is delivered once to each client registered for its
DN. The ACD hands a call to the longest-idle agent, so every agent takes its
share of calls and an event on an agent's DN reaches, on average,
``min(desktops, agents) / agents + supervisors * min(group_size, agents) / agents
+ monitors`` clients (:class:`Audience`). Without agents, calls end at the far
end and only monitors see them.

The SIP Server spends its cost profile's ``per_message_us.cti_event`` per event
delivered to one client and ``cti_request`` per client request (the events a
request causes are counted as events). Events and requests travel over TCP on
the SIP Server <-> CTI link, whose bytes the reports show as CTI.

The closed form multiplies these per-call figures by each flow's share of the
calls (:meth:`CtiModel.per_second`); the simulator applies the same per-call
figures to each call that ends (:meth:`CtiModel.call`, keyed by :func:`outcome`).
Nothing here imports SimPy.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sizing.models import tls as tls_model

if TYPE_CHECKING:
    from sizing.scenario import Scenario
    from sizing.scenario.model import Cti

__all__ = ["AGENT", "EVENTS", "HANDLED", "OTHER", "REQUESTS", "UNANSWERED", "Audience", "CallCti",
           "CtiCosts", "CtiModel", "CtiRates", "cti_model", "outcome"]

AGENT = "agent"
"""The DN of the agent who handles the call: its desktop, its supervisors and every monitor."""
OTHER = "other"
"""Route point, IVR port, back office, an extension or the far end: monitors only."""

Event = tuple[str, str]

_ROUTE_POINT: tuple[Event, ...] = (("queued", OTHER), ("route_request", OTHER), ("diverted", OTHER))
"""The call arrives on the SIP Server's route point, the router is asked, the call is routed."""
_AGENT_ANSWERS: tuple[Event, ...] = (("ringing", AGENT), ("established", AGENT))
_IVR: tuple[Event, ...] = (("ringing", OTHER), ("established", OTHER), ("released", OTHER))
_BACK_OFFICE: tuple[Event, ...] = (("ringing", OTHER), ("established", OTHER), ("released", OTHER))

UNANSWERED = "unanswered"
"""Outcome of an agent flow's call that ends before any agent answers (the caller
gives up in the queue or the IVR, or no agent and no queue: 480)."""

EVENTS: dict[str, tuple[Event, ...]] = {
    "basic": _ROUTE_POINT + _AGENT_ANSWERS + (("released", AGENT),),
    "ivr_then_agent": _ROUTE_POINT + _IVR + _ROUTE_POINT + _AGENT_ANSWERS + (("released", AGENT),),
    "blind_transfer": _ROUTE_POINT + _AGENT_ANSWERS + (("transferred", AGENT), ("released", AGENT))
    + _BACK_OFFICE,
    "consult_transfer": _ROUTE_POINT + _AGENT_ANSWERS
    + (("held", AGENT), ("dialing", AGENT), ("established", AGENT), ("transferred", AGENT),
       ("released", AGENT), ("released", AGENT))  # the consultation, then the caller's call
    + (("ringing", OTHER), ("established", OTHER), ("party_changed", OTHER), ("released", OTHER)),
    "conference": _ROUTE_POINT + _AGENT_ANSWERS + (("party_added", AGENT), ("released", AGENT))
    + _BACK_OFFICE,
    "abandoned": _ROUTE_POINT + (("ringing", AGENT), ("abandoned", AGENT)),
    # the carrier moves the call: the agent's party changes to the Refer-To target
    "carrier_refer": _ROUTE_POINT + _AGENT_ANSWERS + (("party_changed", AGENT), ("released", AGENT)),
    "busy_no_answer": _ROUTE_POINT + (("ringing", OTHER), ("released", OTHER)),
    UNANSWERED: (("queued", OTHER), ("route_request", OTHER), ("abandoned", OTHER)),
}
"""Events per call by flow (and the :data:`UNANSWERED` outcome), in the order they are
raised; the names follow a T-Server's (EventRinging, EventEstablished, EventHeld,
EventPartyAdded, ...). Transfers end the agent's part with ``transferred`` then
``released``; the back office's DN is not an ACD agent's, so monitors alone see it."""

REQUESTS: dict[str, int] = {"conference": 1}
"""Requests a flow itself makes through CTI: the agent asks the SIP Server for the
conference (transfers go by SIP REFER from the agent's phone)."""

HANDLED = frozenset({"basic", "ivr_then_agent", "blind_transfer", "consult_transfer", "conference",
                     "carrier_refer"})
"""Flows whose calls an agent answers: their desktops send ``requests_per_call``."""


def outcome(flow: str, *, blocked: bool, status: int | None, agent_answered: bool,
            agents: bool) -> str | None:
    """The :data:`EVENTS` key of one ended call: its flow, :data:`UNANSWERED` for an agent
    flow's call no agent answered, None for a call the SIP Server never took (blocked by
    the trunk, or failed with a 5xx: rejected by an overloaded host)."""
    if blocked or (status is not None and status >= 500):
        return None
    if agents and flow in HANDLED and not agent_answered:
        return UNANSWERED
    return flow


@dataclass(frozen=True)
class CtiCosts:
    """SIP Server CPU per event delivered to one client and per client request, µs."""

    event_us: float
    request_us: float

    @classmethod
    def of(cls, profile: Any, profile_name: str) -> CtiCosts:
        """The costs in a cost profile's ``per_message_us``; ValueError naming what to add
        when they are missing (no stand-in figure: a SIP message's cost is not a CTI one)."""
        table: Mapping[str, float] = profile.per_message_us
        missing = [k for k in ("cti_event", "cti_request") if k not in table]
        if missing:
            raise ValueError(
                f"topology.sip_server.profile: cost profile {profile_name!r} has no "
                f"per_message_us.{' or .'.join(missing)} (CPU µs per CTI event delivered to one "
                "client, per CTI client request), which the scenario's CTI clients need; add "
                "them to the profile (generic-b2bua's are an estimate to start from)")
        return cls(float(table["cti_event"]), float(table["cti_request"]))


@dataclass(frozen=True)
class Audience:
    """Clients an event reaches, by the DN it is raised on (means over agents)."""

    agent_dn: float
    other_dn: float
    desktop_share: float
    """Share of the agents that have a desktop (whose calls' requests are sent)."""

    @classmethod
    def of(cls, cti: Cti, agents: int) -> Audience:
        monitors = float(cti.monitors)
        if agents <= 0:
            return cls(monitors, monitors, 0.0)
        desktops = min(cti.desktops, agents) / agents
        supervisors = cti.supervisors * min(cti.group_size, agents) / agents
        return cls(desktops + supervisors + monitors, monitors, desktops)

    def of_dn(self, dn: str) -> float:
        return self.agent_dn if dn == AGENT else self.other_dn


@dataclass(frozen=True)
class CallCti:
    """What one call of a flow (or outcome) costs in CTI."""

    events: int
    """Events raised (each delivered to every client registered for its DN)."""
    deliveries: float
    requests: float
    bytes_to_clients: float
    """Wire bytes SIP Server -> CTI: events, and the TCP ACKs of requests."""
    bytes_from_clients: float
    """Wire bytes CTI -> SIP Server: requests, and the TCP ACKs of events."""
    charges_us: tuple[float, ...]
    """SIP Server CPU, one job per event raised and one for the requests, µs."""

    @property
    def cpu_us(self) -> float:
        return sum(self.charges_us)


@dataclass(frozen=True)
class CtiRates:
    """CTI per second at a call rate, as the closed form counts it."""

    deliveries_per_s: float
    requests_per_s: float
    mbps_to_clients: float
    mbps_from_clients: float
    busy_cores: float
    """SIP Server cores busy with CTI (all its hosts together)."""


def _wire(size: int, net: tls_model.NetParams) -> tuple[float, float]:
    """(forward, reverse) wire bytes of one CTI message of ``size`` bytes over TCP."""
    if size <= 0:
        return 0.0, 0.0
    wire = tls_model.wire_bytes(size, "tcp", net=net)
    return float(wire.forward), float(wire.reverse)


class CtiModel:
    """The CTI of one scenario: who receives what, and what it costs the SIP Server."""

    def __init__(self, cti: Cti, agents: int, costs: CtiCosts, net: tls_model.NetParams) -> None:
        self.audience = Audience.of(cti, agents)
        self.costs = costs
        self.requests_per_call = cti.requests_per_call
        self._event = _wire(cti.bytes_per_event, net)
        self._request = _wire(cti.bytes_per_request, net)
        self.call = functools.cache(self._call)

    def _call(self, key: str) -> CallCti:
        """The per-call figures of a flow or outcome (a key of :data:`EVENTS`)."""
        events = EVENTS[key]
        audience, costs = self.audience, self.costs
        reach = [audience.of_dn(dn) for _name, dn in events]
        deliveries = sum(reach)
        requests = audience.desktop_share * (REQUESTS.get(key, 0) + self.requests_per_call) \
            if key in HANDLED else 0.0
        charges = tuple(n * costs.event_us for n in reach if n > 0)
        if requests > 0:
            charges += (requests * costs.request_us,)
        (ev_fwd, ev_back), (rq_fwd, rq_back) = self._event, self._request
        return CallCti(len(events), deliveries, requests,
                       deliveries * ev_fwd + requests * rq_back,
                       requests * rq_fwd + deliveries * ev_back, charges)

    def per_second(self, cps: float, shares: Mapping[str, float]) -> CtiRates:
        """Rates at ``cps`` calls/s split by ``shares`` (flow -> share of the calls)."""
        calls = [(self.call(flow), cps * share) for flow, share in shares.items() if share > 0]
        return CtiRates(
            deliveries_per_s=sum(c.deliveries * r for c, r in calls),
            requests_per_s=sum(c.requests * r for c, r in calls),
            mbps_to_clients=sum(c.bytes_to_clients * r for c, r in calls) * 8 / 1e6,
            mbps_from_clients=sum(c.bytes_from_clients * r for c, r in calls) * 8 / 1e6,
            busy_cores=sum(c.cpu_us * r for c, r in calls) / 1e6)


def cti_model(scenario: Scenario, profile: Any) -> CtiModel | None:
    """The scenario's CTI with ``profile`` (the SIP Server's cost profile), or None when
    it has no CTI client or no SIP Server to feed one."""
    cti = scenario.cti
    if not cti.active or not scenario.topology.role("sip_server").enabled:
        return None
    costs = CtiCosts.of(profile, scenario.topology.role("sip_server").profile)
    net = tls_model.NetParams(ip_version=scenario.network.ip_version, l2=scenario.network.l2)
    return CtiModel(cti, scenario.agents.count, costs, net)
