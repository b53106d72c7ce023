"""Blind transfer: the agent answers, then transfers the caller to the back office with REFER.

On the full engine, half way through the holding time the agent sends REFER (RFC 3515)
on its leg with the back office's URI; the SIP Server, the transferee's B2BUA,
calls the back office, re-INVITEs the caller with its SDP and releases the agent. The
back office talks the second half. A transfer by the far end or from the IVR is not
modelled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Flow, Messages

if TYPE_CHECKING:
    from ..sim.flows.driver import CallCentre, FlowCall
    from ..sip.ua import Call

__all__ = ["FLOW", "TURN_AT", "refer"]

TURN_AT = 0.5
"""Share of the holding time after which the agent transfers the caller."""


def refer(centre: CallCentre, fc: FlowCall, call: Call) -> None:
    """The agent's REFER to the back office, if its leg is still up."""
    from ..sip.ua import CallState

    if call.state is CallState.CONFIRMED and not fc.done:
        agents = centre.topo.agents
        # the SIP Server resolves Refer-To by its URI (no DNS): name the host's address
        agents.refer(call, f"<{agents.contact.replace(user='backoffice')}>")


FLOW = Flow(
    name="blind_transfer",
    label="Blind transfer",
    description="Answered by an agent, then blind-transferred with REFER (RFC 3515) to the back office. "
                "Needs agents and a SIP Server: a transfer by the far end or from the IVR is not modelled, "
                "so it is refused rather than run as a basic call.",
    # the back office's leg; the caller re-INVITEd with its SDP
    messages=Messages(agent_legs=1, refers=1, caller_reinvites=1),
    agent_only="an agent answers, then transfers the caller with REFER; a transfer by the far end or "
               "from the IVR is not modelled",
    talks_to_agent=True,
    turn_at=TURN_AT,
    turn=refer,
)
