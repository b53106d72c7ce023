"""The call flows: one module per flow, each flow's one definition.

A flow module holds what the flow is and everything the tool needs of it: its name
(the ``traffic.mix`` key) and label, its timings (ringing, IVR, talk, consultation,
giving up), the messages the closed form counts for one call, and the routine the
full engine runs at the flow's turn. Every reader takes them from here: the scenario
model (:mod:`sizing.scenario`: the mix's fields and rules), the closed form
(:mod:`sizing.plan`), the message-size probe (:mod:`sizing.plan.message_sizes`), the script
recorder that the replay reads (:mod:`sizing.sim.replay.record`: a flow's message
script is recorded from the engine, one per outcome, never written by hand) and the
simulator's call-centre driver (:mod:`sizing.sim.flows`, which runs the flows on the
engine and dispatches by :class:`Flow`, not by name).

Call flows, in the mix's order: :mod:`.basic`, :mod:`.ivr_then_agent`,
:mod:`.blind_transfer`, :mod:`.consult_transfer`, :mod:`.conference`,
:mod:`.abandoned`, :mod:`.busy_no_answer`, :mod:`.carrier_refer`. Background and optional flows, outside the
mix: :mod:`.recording`, :mod:`.registration`, :mod:`.keepalive`, :mod:`.presence`.

Nothing here imports the simulator, and the SIP engine only inside the routines, so
the scenario model can import the registry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from . import (
    abandoned,
    basic,
    blind_transfer,
    busy_no_answer,
    carrier_refer,
    conference,
    consult_transfer,
    ivr_then_agent,
    keepalive,
    presence,
    recording,
    registration,
)
from .base import DOMAIN, PLAIN, RING_S, ChannelTime, Flow, Messages

if TYPE_CHECKING:
    from ..scenario import Scenario

__all__ = [  # the registry, what flows share, and each flow's module
    "BY_NAME",
    "DOMAIN",
    "FLOWS",
    "NAMES",
    "PLAIN",
    "RING_S",
    "ChannelTime",
    "Flow",
    "Messages",
    "channel_times",
    "expected_in_progress",
    "abandoned",
    "basic",
    "blind_transfer",
    "busy_no_answer",
    "carrier_refer",
    "conference",
    "consult_transfer",
    "ivr_then_agent",
    "keepalive",
    "presence",
    "recording",
    "registration",
]

FLOWS: tuple[Flow, ...] = tuple(m.FLOW for m in (basic, ivr_then_agent, blind_transfer, consult_transfer,
                                                 conference, abandoned, busy_no_answer, carrier_refer))
"""Every call flow of ``traffic.mix``, in its order; the first takes the shares' rest."""
NAMES: tuple[str, ...] = tuple(f.name for f in FLOWS)
"""The flows' names: the ``traffic.mix`` keys."""
BY_NAME: Mapping[str, Flow] = MappingProxyType({f.name: f for f in FLOWS})
"""Flow name -> :class:`Flow`."""


def channel_times(scenario: Scenario) -> dict[str, ChannelTime]:
    """Each flow's channel time as the simulator runs it for ``scenario``: with agents and
    a SIP Server calls ring ``RING_S`` at the agent and add their IVR (when there is a
    media server) and consultation; without, the far end answers at once; a call that
    ends without its talk (abandoned, busy, no answer) holds its channel its brief time.
    (The queue's wait is not counted: it is small wherever the ACD keeps up.)"""
    topo = scenario.topology
    acd = scenario.agents.count > 0 and topo.sip_server.enabled
    ivr = acd and topo.media_server.enabled
    return {f.name: f.channel_time(acd=acd, ivr=ivr) for f in FLOWS}


def expected_in_progress(scenario: Scenario, rate_cps: float | None = None) -> float:
    """Calls in progress (trunk channels busy) of the stationary state below the trunk's
    limit: rate x the mean channel time over the call mix. Unlike the offered erlangs
    (rate x holding time) it counts what each flow really holds."""
    rate = scenario.traffic.rate_cps if rate_cps is None else rate_cps
    holding = scenario.traffic.holding_time_s
    if not rate or holding is None:
        return math.nan
    times = channel_times(scenario)
    return rate * sum(share * times[flow].mean_s(holding) for flow, share in scenario.traffic.mix.shares().items())
