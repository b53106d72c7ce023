"""Carrier REFER: the agent answers, then the trunk provider moves the call with REFER.

A carrier (Twilio's ``<Refer>``, a network IVR) hands a call it delivered on to another
destination by sending REFER (RFC 3515) in the call's dialog towards the contact centre.
On the full engine, at :data:`TURN_AT` of the holding time the carrier sends REFER on the
caller's leg with a Refer-To back at the carrier; the SIP Server (the referee for its
side of the call, the agent) answers 202 and NOTIFY 100, places a new leg to the Refer-To
target along the caller's route set (the same proxy and SBC: over the trunk, taking a
channel of its own), re-INVITEs the agent with the new party's SDP (RFC 3725 Flow I),
sends NOTIFY 200 and releases the carrier's original dialog with BYE. The agent talks to
the new party for the rest of the holding time, then hangs up.

What one call adds to the closed form: a REFER transaction (REFER, 202, two NOTIFYs and
their 200s) and a second answered leg on every hop between the carrier and the SIP
Server, and a re-INVITE on the agents' link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Flow, Messages

if TYPE_CHECKING:
    from ..sim.flows.driver import CallCentre, FlowCall
    from ..sip.ua import Call

__all__ = ["FLOW", "TARGET", "TURN_AT", "refer"]

TURN_AT = 0.5
"""Share of the holding time after which the carrier moves the call."""
TARGET = "moved"
"""The Refer-To user: a destination behind the carrier (it answers the new leg)."""


def refer(centre: CallCentre, fc: FlowCall, _agent_call: Call) -> None:
    """The carrier's REFER on the caller's leg, if the call is still up."""
    from ..sip.ua import CallState

    call = fc.caller
    if call is not None and call.state is CallState.CONFIRMED and not fc.done:
        carrier = centre.topo.carrier
        # the SIP Server resolves Refer-To by its URI (no DNS): name the carrier's address
        carrier.refer(call, f"<{carrier.contact.replace(user=TARGET)}>")


FLOW = Flow(
    name="carrier_refer",
    label="Carrier REFER",
    description="Answered by an agent, then moved by the carrier with REFER (RFC 3515, Twilio's <Refer>): "
                "the SIP Server accepts it (202, NOTIFY 100 and 200), calls the Refer-To target over the "
                "trunk, re-INVITEs the agent and releases the carrier's original dialog with BYE. Needs "
                "agents and a SIP Server, so it is refused rather than run as a basic call.",
    # the carrier's REFER and the new leg over the trunk; the agent re-INVITEd with its SDP
    messages=Messages(trunk_refers=1, trunk_legs=1, agent_reinvites=1),
    agent_only="an agent answers before the carrier moves the call, and the SIP Server is the "
               "referee that places the new leg",
    talks_to_agent=True,
    turn_at=TURN_AT,
    turn=refer,
    carrier_moves=True,
)
