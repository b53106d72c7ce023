"""Presence: busy lamps (BLF) of registered endpoints, the dialog event package (RFC 4235).

Not a call flow of the mix but background load, with a part that follows the calls.
Each of ``endpoints.count`` endpoints watches ``endpoints.presence_subscriptions``
entities, spread evenly over the agents (subscription ``j`` of endpoint ``i`` watches
agent ``(i * n + j) mod agents``; without agents, other endpoints, which make no calls).
The registrar serves them (:mod:`sizing.sip.presence`):

- every ``endpoints.presence_refresh_s`` a subscription is refreshed: SUBSCRIBE, 200 and
  the NOTIFY with the full state that RFC 6665 §4.2.1.2 requires, and its 200
  (:data:`MESSAGES`); the subscriptions exist from the start (set up in the first
  second, at no CPU cost with a steady-state start), each refreshed at a phase of its
  own over one interval;
- each change of a watched agent's call (:data:`STATES`: the ACD hands it a call, it
  answers, the call leaves it) sends a NOTIFY and gets its 200 (:data:`NOTIFY`) for
  each of the agent's watchers. A call an agent answers is three changes, a call
  abandoned while the agent rings two (:func:`states_per_call`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import DOMAIN

if TYPE_CHECKING:
    import numpy as np

    from ..scenario import Scenario
    from ..sim.flows.driver import CallCentre, FlowCall
    from .base import Flow

__all__ = ["MESSAGES", "NOTIFY", "STATES", "changed", "start", "states_per_call", "watchers_per_agent"]

MESSAGES = {"SUBSCRIBE": 1, "200 SUBSCRIBE": 1, "refresh NOTIFY": 1, "200 NOTIFY": 1}
"""One subscription refresh's messages, as the closed form counts them (the NOTIFY with the
full state is a kind of its own, :func:`sizing.sip.kind.call_kind`: its body is
shorter than a state change's)."""
NOTIFY = {"NOTIFY": 1, "200 NOTIFY": 1}
"""One state change told to one watcher."""
STATES = ("early", "confirmed", "terminated")
"""The call states of an agent its watchers are told of (RFC 4235 §3.7.1)."""


def subscriptions(scenario: Scenario) -> int:
    """Busy-lamp subscriptions in all (0 without endpoints or a registrar to serve them)."""
    topo = scenario.topology
    if not (topo.registrar.enabled or topo.proxy.enabled):
        return 0
    return scenario.endpoints.count * scenario.endpoints.presence_subscriptions


def watchers_per_agent(scenario: Scenario) -> float:
    """Mean watchers of one agent (the subscriptions spread evenly over the agents)."""
    agents = scenario.agents.count
    return subscriptions(scenario) / agents if agents > 0 else 0.0


def states_per_call(flow: Flow) -> int:
    """State changes of its agent one call of ``flow`` raises: early, confirmed, terminated
    when an agent answers it; early and terminated when its caller gives up while the
    agent rings; none for a call routed to an extension."""
    from .base import RING_S

    if flow.extension is not None:
        return 0
    if flow.talks_to_agent:
        return 3
    if flow.abandons_s is not None and flow.abandons_s < RING_S:
        return 2
    return 0


def start(centre: CallCentre, rng: np.random.Generator) -> None:
    """Set every subscription up in the first second and schedule its refreshes
    (``rng``: the run's own stream for them, so other draws do not shift)."""
    from ..sip.uri import URI

    topo, scenario = centre.topo, centre.scenario
    watcher = getattr(topo, "watcher", None)
    total = subscriptions(scenario)
    if watcher is None or not total or not topo.registrars:
        return
    ep = scenario.endpoints
    per = ep.presence_subscriptions
    agents = scenario.agents.count
    refresh = ep.presence_refresh_s
    expires = int(refresh) + 60  # refreshed before it lapses
    setups = rng.random(total).tolist()
    phases = (1.0 + rng.random(total) * refresh).tolist()  # each after its set-up's answer
    for k in range(total):
        i, j = divmod(k, per)
        entity = f"agent{(i * per + j) % agents}" if agents else f"phone{(i + j + 1) % ep.count}"
        _schedule(centre, watcher, URI("sip", user=entity, host=DOMAIN), topo.registrars[k % len(topo.registrars)],
                  expires, refresh, setups[k] * 0.5, phases[k])


def _schedule(centre: CallCentre, watcher: Any, uri: Any, dest: Any, expires: int, refresh: float,
              setup_at: float, first_refresh_at: float) -> None:
    """One subscription: set up at ``setup_at`` (within the steady start's prelude), refreshed
    in its dialog from ``first_refresh_at`` every ``refresh`` seconds to the run's end."""
    clock, end = centre.clock, centre.end
    key: list[object] = [None]

    def subscribe() -> None:
        key[0] = watcher.subscribe(uri, dest, expires, dialog=key[0])

    def refresh_now() -> None:
        subscribe()
        if clock.now() + refresh < end:
            clock.call_later(refresh, refresh_now)

    clock.call_later(setup_at, subscribe)
    if first_refresh_at < end:
        clock.call_later(first_refresh_at, refresh_now)


def changed(centre: CallCentre, fc: FlowCall, agent: int, state: str) -> None:
    """Agent ``agent``'s call ``fc`` went to ``state``: each registrar notifies its
    watchers of the agent."""
    for notifier in centre.topo.notifiers:
        notifier.changed(f"agent{agent}", state, fc.key)
