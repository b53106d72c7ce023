"""IVR, then agent: the media server answers for ``IVR_S``, then the call queues for an agent.

On the full engine the SIP Server routes the call to a media server (``sip:ivr@``),
which answers it; ``IVR_S`` later the SIP Server offers it to the ACD and transfers it
to the agent the ACD hands over (RFC 3725 flow I: a re-INVITE of the caller with the
agent's SDP). A self-service call that ends in the IVR is not modelled.
"""

from __future__ import annotations

from .base import Flow, Messages

__all__ = ["FLOW", "IVR_S"]

IVR_S = 20.0
"""IVR treatment before the call is queued for an agent (the closed form's ``ivr_s``)."""

FLOW = Flow(
    name="ivr_then_agent",
    label="IVR, then agent",
    description="IVR treatment on the media server, then an agent. Needs agents (agents.count > 0) and a "
                "SIP Server: a self-service call that ends in the IVR is not modelled, so it is refused "
                "rather than run as a basic call.",
    # the IVR's leg; the caller re-INVITEd with the agent's SDP (RFC 3725 flow I)
    messages=Messages(caller_reinvites=1, media_server_legs=1),
    agent_only="after the IVR the SIP Server queues the call for an agent; a self-service call that "
               "ends in the IVR is not modelled",
    needs_media_server=True,
    talks_to_agent=True,
    pre_s=IVR_S,
)
