"""The B2BUA: the contact centre's "SIP Server" role, a signalling-only back-to-back
user agent (RFC 7092 §3.1) with routing, IVR-then-agent, blind and attended
transfers, conferences on a media server bridge, and recording.

:class:`B2BUA` is the element; :class:`BridgedCall` and :class:`Leg` are the
handles it gives back; routing is a :class:`RoutingPolicy` (built-ins
:class:`StaticRoute`, :class:`RoundRobin`, :class:`CallbackRoute`) deciding a
:class:`Target` or a :class:`Reject`; :class:`B2BUAConfig` with its
:class:`HeaderPolicy` and :class:`FailurePolicy` configures it and
:class:`B2BUAStats` counts what it did. :class:`Replaces` builds and reads the
Replaces of an attended transfer; :class:`Conference` is the handle of a conference.
"""

from .call import BridgedCall, Leg, LegState
from .conference import Conference
from .core import B2BUA
from .policy import (
    B2BUAConfig,
    B2BUAStats,
    CallbackRoute,
    FailurePolicy,
    HeaderPolicy,
    Reject,
    RoundRobin,
    RoutingPolicy,
    StaticRoute,
    Target,
    as_policy,
)
from .replaces import Replaces, refer_to_replacing, replaces_of

__all__ = [
    "B2BUA",
    "B2BUAConfig",
    "B2BUAStats",
    "BridgedCall",
    "CallbackRoute",
    "Conference",
    "FailurePolicy",
    "HeaderPolicy",
    "Leg",
    "LegState",
    "Reject",
    "Replaces",
    "RoundRobin",
    "RoutingPolicy",
    "StaticRoute",
    "Target",
    "as_policy",
    "refer_to_replacing",
    "replaces_of",
]
