"""Busy / no answer: the call reaches an extension that is busy (486) or never answers.

On the full engine the SIP Server routes half the calls to a busy extension (486 to
the caller after ``RING_S``) and half to one that rings until the SIP Server cancels
it after ``NO_ANSWER_S`` and answers the caller 480. Without a SIP Server the caller
names the extension itself and hangs up on the unanswered one after ``NO_ANSWER_S``
(CANCEL, then 487). The agents host's answer policy knows the two extensions by
:data:`BUSY` and :data:`NO_ANSWER`.
"""

from __future__ import annotations

from .base import RING_S, Flow, Messages

__all__ = ["BUSY", "BUSY_SHARE", "FLOW", "NO_ANSWER", "NO_ANSWER_S", "extension"]

NO_ANSWER_S = 15.0
"""The SIP Server (or the caller) gives up ringing an extension after this long."""
BUSY = "busy"
"""The extension that answers 486."""
NO_ANSWER = "noanswer"
"""The extension that rings until cancelled."""
BUSY_SHARE = 0.5
"""Share of the calls that find the extension busy; the others are not answered."""


def extension(draw: float) -> str:
    """The extension a call reaches, for a uniform draw in [0, 1)."""
    return BUSY if draw < BUSY_SHARE else NO_ANSWER


FLOW = Flow(
    name="busy_no_answer",
    label="Busy / no answer",
    description="Rejected busy (486) or not answered in time (480/487).",
    messages=Messages(leg="rejected"),
    brief_s=(RING_S + NO_ANSWER_S) / 2,
    lasts_s=NO_ANSWER_S + RING_S,
    extension=extension,
    outcomes={BUSY: 0.25, NO_ANSWER: 0.75},
)
