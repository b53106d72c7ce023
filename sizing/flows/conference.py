"""Conference: half way the agent brings the back office in on a bridge of the media server.

On the full engine the agent asks the SIP Server (through CTI) for a conference with
the back office; the SIP Server calls the back office and puts the three parties on a
bridge of the call's media server (three legs to ``sip:conf=<id>@...``,
:mod:`sizing.sip.b2bua.conference`); the caller's BYE ends every leg. Every participant
streams to and from the bridge.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from .base import DOMAIN, Flow, Messages

if TYPE_CHECKING:
    from ..sim.flows.driver import CallCentre, FlowCall

__all__ = ["FLOW", "TURN_AT", "conference"]

TURN_AT = 0.5
"""Share of the holding time after which the agent asks for the conference; the bridge
carries the rest (the closed form's ``conference_share_of_holding``)."""


def conference(centre: CallCentre, fc: FlowCall, _call: Any) -> None:
    """The agent asks for a conference with the back office on the call's media server."""
    from ..sip.b2bua import Target
    from ..sip.uri import URI

    server, bridged, media = fc.server, fc.bridged, centre._media_server(fc)
    if fc.done or server is None or bridged is None or media is None or bridged.state != "bridged" \
            or bridged.pending is not None or bridged.conference is not None:
        return
    fc.phase = "conference"
    bridge = Target(URI("sip", user=f"conf={zlib.crc32(fc.key.encode()):08x}", host=DOMAIN), dest=media.address)
    server.conference(bridged, centre._target("backoffice"), bridge)


FLOW = Flow(
    name="conference",
    label="Conference",
    description="A third party is conferenced in on the media server. Needs agents, a SIP Server and a "
                "media server.",
    # the back office's leg; caller and agent re-INVITEd onto the bridge; a bridge leg per party
    messages=Messages(agent_legs=1, caller_reinvites=1, agent_reinvites=1, media_server_legs=3),
    agent_only="an agent asks the SIP Server for a conference",
    needs_media_server=True,
    talks_to_agent=True,
    rings=2,
    turn_at=TURN_AT,
    turn=conference,
)
