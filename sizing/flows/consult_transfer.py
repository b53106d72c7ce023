"""Consultation transfer: the agent consults the back office, then transfers with REFER/Replaces.

On the full engine (attended transfer, RFC 5589 §7), half way through the holding
time the agent holds the caller (re-INVITE, ``sendonly``, relayed to the caller) and
calls the back office through the SIP Server; ``CONSULT_S`` after the back office
answers, the agent sends REFER on the held call with a Refer-To whose Replaces names
the consultation dialog. The SIP Server joins the caller to the back office
(re-INVITEs of both legs, :mod:`sizing.sip.b2bua.transfer`) and releases both of the
agent's dialogs; the caller talks to the back office until it hangs up ``holding +
CONSULT_S`` after the agent answered. The consultation stays on the agents host: no
link carries its media.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import DOMAIN, Flow, Messages

if TYPE_CHECKING:
    from ..sim.flows.driver import CallCentre, FlowCall
    from ..sip.ua import Call

__all__ = ["CONSULT_S", "FLOW", "TURN_AT", "consult"]

CONSULT_S = 15.0
"""Length of the consultation call."""
TURN_AT = 0.5
"""Share of the holding time after which the agent starts the consultation."""


def consult(centre: CallCentre, fc: FlowCall, call: Call) -> None:
    """Hold the caller, call the back office through the SIP Server, and once it answered
    and the rest of the consultation passed, REFER the caller to it with Replaces. A call
    in progress at t = 0 that is past its turn keeps what is left of its consultation."""
    from ..sip.ua import CallEvent, CallState
    from ..sip.uri import URI

    consult_s = max(CONSULT_S - max(fc.talked - fc.holding * TURN_AT, 0.0), 0.0)
    agents = centre.topo.agents
    if call.state is not CallState.CONFIRMED or fc.done or fc.server is None:
        return
    agents.hold(call)  # the re-INVITE (sendonly) is relayed to the caller
    fc.phase = "held"
    centre.media(fc, held=True)

    def consult_event(consultation: Call, event: CallEvent) -> None:
        if event.kind == "answered":
            centre.clock.call_later(consult_s, lambda: _refer_replacing(centre, fc, call, consultation))

    agents.invite(URI("sip", user="backoffice", host=DOMAIN), dest=fc.server.local, on_event=consult_event)


def _refer_replacing(centre: CallCentre, fc: FlowCall, call: Call, consultation: Call) -> None:
    from ..sip.b2bua import refer_to_replacing
    from ..sip.ua import CallState

    agents = centre.topo.agents
    if fc.done or call.state is not CallState.CONFIRMED or consultation.state is not CallState.CONFIRMED:
        return
    assert consultation.dialog is not None
    agents.refer(call, refer_to_replacing(agents.contact.replace(user="backoffice"), consultation.dialog))


FLOW = Flow(
    name="consult_transfer",
    label="Consultative transfer",
    description="Consultation call, then attended transfer (REFER with Replaces). Needs agents and a SIP Server.",
    # legs: the consultation and the back office's; re-INVITEs: the hold relayed to the caller and
    # the join (RFC 5589 §7), on the caller's side and on the agents' link
    messages=Messages(agent_legs=2, refers=1, caller_reinvites=2, agent_reinvites=2),
    agent_only="an agent consults the back office, then transfers",
    talks_to_agent=True,
    rings=2,
    extra_s=CONSULT_S,
    turn_at=TURN_AT,
    turn=consult,
)
