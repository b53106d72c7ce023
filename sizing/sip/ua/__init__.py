"""User agent cores (RFC 3261 §8, §12-15): calls, in-dialog requests, registration.

:class:`UserAgent` is the transaction user of a
:class:`~sizing.sip.transaction.TransactionLayer`; :class:`Call`,
:class:`ClientRequest` and :class:`Registration` are the handles it gives
back; :class:`AnswerPolicy` and :class:`SessionTimerConfig` configure it and
:class:`UAStats` counts what it did.
"""

from .call import Call, ClientRequest, Registration
from .core import ALLOW, UserAgent
from .model import AnswerPolicy, CallEvent, CallState, SessionTimerConfig, UAStats

__all__ = [
    "ALLOW",
    "AnswerPolicy",
    "Call",
    "CallEvent",
    "CallState",
    "ClientRequest",
    "Registration",
    "SessionTimerConfig",
    "UAStats",
    "UserAgent",
]
