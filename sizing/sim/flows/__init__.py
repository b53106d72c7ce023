"""The simulator's call-centre driver, and the fluid media/data ledger.

What each call flow is (its timings, closed-form messages and routine) lives in
:mod:`sizing.flows`; this package runs the flows in the simulator. :class:`CallCentre`
drives a :class:`~sizing.sim.topology.Topology`: arrivals, the SIP Server's routing
with the ACD, each flow's turn, recording, abandonment, registrations and
keep-alives; :class:`MediaLedger` accounts RTP, CTI and replication bytes on links
without per-packet events. :func:`expected_in_progress` (the stationary state's calls
in progress, from the flows' channel times) is :mod:`sizing.flows`' own, re-exported
for the driver's readers.
"""

from ...flows import expected_in_progress
from .driver import AgentPhones, CallCentre, FlowCall
from .ledger import MediaLedger, Stream

__all__ = [
    "AgentPhones",
    "CallCentre",
    "FlowCall",
    "MediaLedger",
    "Stream",
    "expected_in_progress",
]
