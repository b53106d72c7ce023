"""SimPy simulation driver: simulated clock, links and hosts running the sans-IO engine.

Every message of every simulated call is encoded by the sender's engine,
crosses a simulated :class:`Link`, waits for and occupies a core of the
receiving :class:`Host`, and is then parsed and handled by the real
transaction state machines. :class:`SimNetwork` ties them together with the
same ``attach(address, on_message)`` shape as the loopback network;
:class:`Metrics` streams per-second CPU, queueing, message and link figures
into pandas DataFrames.
"""

from .acd import Acd, AcdStats, AgentId, Ticket
from .clock import SimClock, SimTimer
from .host import CostProfile, Host, OverloadPolicy, SimTransport, TableProfile
from .link import Link, LinkSpec
from .metrics import HostMetrics, LinkMetrics, Metrics
from .network import SimNetwork
from .workload import (
    PURPOSES,
    ArrivalProcess,
    FlowPicker,
    HoldingTime,
    PoissonArrivals,
    ProfileArrivals,
    ReplayArrivals,
    stream,
    streams,
)
from .workload import Patience as PatienceSampler

__all__ = [
    "PURPOSES",
    "Acd",
    "AcdStats",
    "AgentId",
    "ArrivalProcess",
    "FlowPicker",
    "HoldingTime",
    "PatienceSampler",
    "PoissonArrivals",
    "ProfileArrivals",
    "ReplayArrivals",
    "Ticket",
    "stream",
    "streams",
    "CostProfile",
    "Host",
    "HostMetrics",
    "Link",
    "LinkMetrics",
    "LinkSpec",
    "Metrics",
    "OverloadPolicy",
    "SimClock",
    "SimNetwork",
    "SimTimer",
    "SimTransport",
    "TableProfile",
]
