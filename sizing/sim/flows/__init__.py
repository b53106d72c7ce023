"""Contact-centre call flows on the real SIP engine, and the fluid media/data ledger.

:class:`CallCentre` drives a :class:`~sizing.sim.topology.Topology`: arrivals,
the SIP Server's routing with the ACD, transfers, recording, abandonment,
registrations and keep-alives; :class:`MediaLedger` accounts RTP, CTI and
replication bytes on links without per-packet events.
"""

from .driver import (
    ABANDON_S,
    CONSULT_S,
    IVR_S,
    NO_ANSWER_S,
    RING_S,
    AgentPhones,
    CallCentre,
    ChannelTime,
    FlowCall,
    channel_times,
    expected_in_progress,
)
from .ledger import MediaLedger, Stream

__all__ = [
    "ABANDON_S",
    "CONSULT_S",
    "IVR_S",
    "NO_ANSWER_S",
    "RING_S",
    "AgentPhones",
    "CallCentre",
    "ChannelTime",
    "FlowCall",
    "MediaLedger",
    "Stream",
    "channel_times",
    "expected_in_progress",
]
