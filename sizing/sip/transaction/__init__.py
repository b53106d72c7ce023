"""SIP transactions: RFC 3261 §17 with the RFC 6026 corrections, sans-IO.

Theory of operation
-------------------

A transaction is a request, its responses and (for a non-2xx answer to an
INVITE) the ACK. Four state machines exist, one per kind:

- ICT, :class:`ClientInviteTransaction`: Calling, Proceeding, Accepted, Completed;
- NICT, :class:`ClientNonInviteTransaction`: Trying, Proceeding, Completed;
- IST, :class:`ServerInviteTransaction`: Proceeding, Accepted, Completed, Confirmed;
- NIST, :class:`ServerNonInviteTransaction`: Trying, Proceeding, Completed

(all end in Terminated). Each machine is a table ``state -> event -> (action,
next state)`` placed right after its class, so it can be read against the
RFC's Figures 5-8 and RFC 6026 §8 line by line; an event without a row is
absorbed. Two rules keep the code auditable:

1. Every state change is a row of a table; the actions only send, arm timers
   and tell the transaction user (TU). (A zero timer, as D, I, J and K are over
   reliable transports, is the row's timeout taken at once.)
2. A transaction does not know which driver runs it. It sees a
   :class:`~sizing.sip.interfaces.Clock` (``call_later``), a
   :class:`~sizing.sip.interfaces.Transport` (``send``, ``reliable``) and a
   :class:`TransactionUser`; the SimPy simulation and the asyncio network
   stack both provide these.

Each transaction has only two timer slots, as in pjsip: the *retransmit* slot
(Timer A, E or G, and the IST's 200 ms 100-Trying delay) and the *timeout*
slot (B, F, H, then D, I, J, K, L or M). Over reliable transports the
retransmit slot is never armed and D, I, J, K are zero: the transaction
terminates at once instead of scheduling.

The :class:`TransactionLayer` owns the transactions of one element: it
creates them (``send_request`` for clients; ``receive_request`` for servers),
matches incoming messages (§17.1.3, §17.2.3, with the RFC 2543 fallback),
hands strays to the TU (a response with no transaction, an ACK for a 2xx),
links a CANCEL to the INVITE it cancels (§9.2), generates branches from a
seed, and keeps :class:`TransactionStats`.

Retransmissions re-send the bytes encoded the first time; nothing is
re-encoded and no closure is created per event.
"""

from .base import (
    KINDS,
    Event,
    State,
    Transaction,
    TransactionContext,
    TransactionStats,
    TransactionUser,
)
from .client import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransaction,
    build_ack,
    build_cancel,
)
from .layer import (
    MAGIC_COOKIE,
    TransactionLayer,
    reply_destination,
    response_destination,
    server_key,
)
from .server import ServerInviteTransaction, ServerNonInviteTransaction, ServerTransaction

__all__ = [
    "KINDS",
    "MAGIC_COOKIE",
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "ClientTransaction",
    "Event",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "ServerTransaction",
    "State",
    "Transaction",
    "TransactionContext",
    "TransactionLayer",
    "TransactionStats",
    "TransactionUser",
    "build_ack",
    "build_cancel",
    "reply_destination",
    "response_destination",
    "server_key",
]
