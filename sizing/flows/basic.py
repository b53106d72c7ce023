"""Basic: an inbound call answered by an agent (or, without agents, by the far end).

On the full engine the SIP Server offers the call to the ACD: an idle agent gets the
INVITE directly, else the call waits on a media server and is transferred to the agent
when one is free (RFC 3725 flow I). The agent's phone rings ``RING_S``; the caller
hangs up after the holding time. This is the flow every other share leaves to:
``traffic.mix.basic`` defaults to the rest.
"""

from __future__ import annotations

from .base import Flow

__all__ = ["FLOW"]

FLOW = Flow(
    name="basic",
    label="Basic call",
    description="Inbound call answered by an agent (or the far end). Defaults to 1 minus the other shares.",
    talks_to_agent=True,
)
