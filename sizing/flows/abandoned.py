"""Abandoned: the caller gives up ``ABANDON_S`` after its INVITE.

On the full engine the caller sends CANCEL while the call is unanswered (487), or BYE
once a queue on a media server answered it; the ACD drops its ticket. Callers whose
ACD patience runs out give up the same way, in any flow.
"""

from __future__ import annotations

from .base import RING_S, Flow, Messages

__all__ = ["ABANDON_S", "FLOW"]

ABANDON_S = 1.0
"""When the caller gives up, after the INVITE."""

FLOW = Flow(
    name="abandoned",
    label="Abandoned in queue",
    description="Caller hangs up while queued (CANCEL before answer).",
    messages=Messages(leg="cancelled"),
    abandons_s=ABANDON_S,
    brief_s=ABANDON_S,
    lasts_s=ABANDON_S + RING_S,
)
