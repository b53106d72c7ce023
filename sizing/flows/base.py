"""What a call flow is: :class:`Flow`, its closed-form :class:`Messages`, its :class:`ChannelTime`.

A flow module (:mod:`sizing.flows.basic` and its siblings) builds one :class:`Flow`:
its name (the ``traffic.mix`` key), what the scenario form and schema say of it, its
timings, the messages the closed form counts for one call, and the routines the
simulator's call-centre driver (:mod:`sizing.sim.flows`) runs for it. This module
imports neither the simulator nor the SIP engine, so the scenario model can read the
flows' names and rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ..sim.flows.driver import CallCentre, FlowCall

__all__ = ["DOMAIN", "PLAIN", "RING_S", "ChannelTime", "Flow", "Messages", "Turn"]

DOMAIN = "cc.example"
"""The contact centre's SIP domain: the host part of every URI the flows address."""
RING_S = 2.0
"""How long an agent's (or the back office's) phone rings before it answers."""
PLAIN = "plain"
"""The outcome of a flow whose calls all go one way (see :attr:`Flow.outcomes`)."""

Turn = Callable[["CallCentre", "FlowCall", Any], None]
"""What an agent does part way through the talk, on the full engine: called with the
driver, the call and the agent's leg (a :class:`sizing.sip.ua.Call`)."""


@dataclass(frozen=True, slots=True)
class ChannelTime:
    """How long a call of one flow holds a trunk channel, in phases, in a given scenario."""

    pre_s: float = 0.0
    """Before the talk and not ringing: the IVR."""
    ring_s: float = 0.0
    """Ringing before someone answers."""
    extra_s: float = 0.0
    """Added to the holding time: an attended transfer's consultation."""
    brief_s: float | None = None
    """Set for a call that ends without its holding time (abandoned, busy, no answer):
    the seconds it holds the channel instead."""

    def mean_s(self, holding_s: float) -> float:
        """Mean channel seconds of a call whose mean holding time is ``holding_s``."""
        if self.brief_s is not None:
            return self.brief_s
        return self.pre_s + self.ring_s + holding_s + self.extra_s


@dataclass(frozen=True)
class Messages:
    """One call's SIP messages as the closed form (:func:`sizing.plan.link_message_kinds`)
    counts them: the caller's leg on every call-path hop, and what the flow adds on the
    agents' link and the side legs. The engine's own messages are recorded, not written
    here (:mod:`sizing.plan.message_sizes`, :mod:`sizing.sim.replay.record`)."""

    leg: Literal["answered", "cancelled", "rejected"] = "answered"
    """The caller's leg: answered (INVITE ... BYE), cancelled while queued at the host next
    to the agents (so not on the agents' link), or rejected (486 or 480)."""
    agent_legs: int = 0
    """Legs on the agents' link besides the caller's: the back office's, a consultation."""
    refers: int = 0
    """REFER transactions (with their NOTIFYs) on the agents' link."""
    caller_reinvites: int = 0
    """re-INVITEs a SIP Server sends the caller when it moves the call (RFC 3725)."""
    agent_reinvites: int = 0
    """re-INVITEs on the agents' link: a hold, a join."""
    media_server_legs: int = 0
    """Legs from the SIP Server (or the host next to the agents) to the media server."""
    trunk_refers: int = 0
    """REFER transactions (with their NOTIFYs) on the caller's leg: every hop from the
    carrier to the SIP Server."""
    trunk_legs: int = 0
    """Answered legs the SIP Server places towards the carrier, on every hop between them."""


@dataclass(frozen=True)
class Flow:
    """One call flow of the scenario's ``traffic.mix``: its one definition."""

    name: str
    """The ``traffic.mix`` key."""
    label: str
    """How the scenario form names it."""
    description: str
    """The scenario field's description (``sizing schema``)."""
    messages: Messages = field(default_factory=Messages)
    """What one call adds to the closed form's message counts."""
    agent_only: str | None = None
    """Set for a flow that only an agent behind the SIP Server runs: why (the scenario
    refuses its share without agents or a SIP Server rather than run it as basic calls)."""
    needs_media_server: bool = False
    """The scenario refuses its share without a media server (an IVR, a bridge)."""
    talks_to_agent: bool = False
    """Its calls talk to an agent (when there are agents): they keep one busy."""
    pre_s: float = 0.0
    """IVR treatment on the media server before the call is offered to the ACD."""
    rings: int = 1
    """Phones that ring in a call of this flow (the agent's, the back office's)."""
    extra_s: float = 0.0
    """Talk added to the holding time (an attended transfer's consultation)."""
    abandons_s: float | None = None
    """Set for a flow whose caller gives up: seconds after the INVITE."""
    brief_s: float | None = None
    """Set for a flow whose calls end without their holding time: the mean seconds one
    holds a trunk channel."""
    lasts_s: float | None = None
    """Set with ``brief_s``: the longest such a call lasts before its caller hears the
    end, ringing included."""
    turn_at: float | None = None
    """Share of the holding time after which the agent does :attr:`turn`."""
    turn: Turn | None = None
    """What the agent does at ``turn_at`` on the full engine (REFER, consultation,
    conference); None: the agent just talks."""
    extension: Callable[[float], str] | None = None
    """Set for a flow routed to an extension rather than to the ACD: the extension
    (the agents host's user) for a uniform draw in [0, 1)."""
    carrier_moves: bool = False
    """The carrier moves the call at :attr:`turn_at` (a REFER on the caller's leg): the
    caller's leg ends there and the agent talks on with the Refer-To party, on a leg of
    its own over the trunk, until the holding time is over and the agent hangs up."""
    outcomes: Mapping[str, float] = field(default_factory=lambda: {PLAIN: 0.25})
    """The ways its calls go, each with a draw of :attr:`extension` that gives it: one
    script is recorded per outcome (:mod:`sizing.sim.replay.record`)."""

    def channel_time(self, *, acd: bool, ivr: bool) -> ChannelTime:
        """How long a call holds a trunk channel with agents and a SIP Server (``acd``;
        calls ring at the agent) or without (the far end answers at once), with a media
        server for the IVR (``ivr``) or not."""
        if self.brief_s is not None:
            return ChannelTime(brief_s=self.brief_s)
        if not acd:
            return ChannelTime()
        return ChannelTime(pre_s=self.pre_s if ivr else 0.0, ring_s=RING_S, extra_s=self.extra_s)

    def longest_s(self, holding_s: float) -> float:
        """How long one call with holding time ``holding_s`` lasts at most, ringing
        included: how far apart the message-size probe places its calls."""
        if self.lasts_s is not None:
            return self.lasts_s
        return self.pre_s + self.rings * RING_S + holding_s + self.extra_s

    @property
    def answered(self) -> bool:
        """Someone answers its calls: they talk, carry media and may be recorded."""
        return self.messages.leg == "answered"

    @property
    def media_share_of_holding(self) -> float:
        """Share of the holding time its legs to the media server last (a conference's
        bridge from the turn on); 0 for a flow without such legs or without a turn."""
        if self.turn_at is None or not self.messages.media_server_legs:
            return 0.0
        return 1 - self.turn_at
