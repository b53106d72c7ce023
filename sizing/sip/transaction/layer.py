"""The transaction layer: creates transactions, matches messages to them, counts.

Matching follows RFC 3261 §17.1.3 (responses: top Via branch + CSeq method)
and §17.2.3 (requests: branch with the ``z9hG4bK`` cookie + sent-by + method,
ACK matching its INVITE; otherwise the RFC 2543 rules on Request-URI, tags,
Call-ID, CSeq and top Via). A CANCEL gets its own server transaction and a
reference to the INVITE server transaction it matches (§9.2).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..interfaces import Address, Clock, TimerConfig, Transport, TransportError, default_port
from ..message import Request, Response
from .base import Transaction, TransactionContext, TransactionStats, TransactionUser
from .client import ClientInviteTransaction, ClientNonInviteTransaction, ClientTransaction
from .server import ServerInviteTransaction, ServerNonInviteTransaction, ServerTransaction

if TYPE_CHECKING:
    from ..headers import Via

__all__ = ["MAGIC_COOKIE", "TransactionLayer", "reply_destination", "response_destination", "server_key"]

#: Branch prefix of RFC 3261 §8.1.1.7: the branch is unique per transaction.
MAGIC_COOKIE = "z9hG4bK"

def _top_via(request: Request) -> Via:
    via = request.top_via
    if via is None:
        raise ValueError(
            f"{request.method} {request.uri}: no Via header, so no transaction can be "
            "matched (RFC 3261 §17.2.3); answer it 400 before the transaction layer"
        )
    return via


def server_key(request: Request, method: str) -> tuple[object, ...]:
    """The §17.2.3 matching key of ``request``, as if its method were ``method``.

    ``method`` is INVITE for an ACK (it matches the INVITE transaction) and for
    the lookup of the transaction a CANCEL cancels (§9.2).
    """
    via = _top_via(request)
    branch = via.branch
    if branch is not None and branch.startswith(MAGIC_COOKIE):
        return (branch, via.host.lower(), via.port, method)
    return _rfc2543_key(request, via, method, request.to_tag)


def _rfc2543_key(request: Request, via: Via, method: str, to_tag: str | None) -> tuple[object, ...]:
    cseq = request.cseq
    if cseq is None:
        raise ValueError(
            f"{request.method} {request.uri}: no CSeq header, so no transaction can be "
            "matched (RFC 3261 §17.2.3); answer it 400 before the transaction layer"
        )
    return (
        None,  # keeps these keys apart from branch keys
        request.uri,
        to_tag,
        request.from_tag,
        request.call_id,
        cseq.number,
        method,
        str(via),
    )


def response_destination(request: Request, source: Address, reliable: bool) -> Address:
    """Where responses to ``request`` go (RFC 3261 §18.2.2, RFC 3581).

    Over a reliable transport, back where the request came from (the
    connection). Over UDP, to the source address; the port is the source port
    when the top Via has ``rport``, else the sent-by port (default by transport).
    """
    if reliable:
        return source
    return reply_destination(_top_via(request), source, reliable)


def reply_destination(via: Via, source: Address, reliable: bool) -> Address:
    """:func:`response_destination` given the request's top Via (a stateless answer to a
    request that did not parse reads the Via alone)."""
    if reliable or via.rport is not None:
        return source
    port = via.port or default_port(via.transport or source.transport)
    if port == source.port:
        return source
    return Address(source.transport, source.host, port)


class TransactionLayer:
    """Creates, matches and retires transactions for one SIP element.

    ``user`` is the TU that gets requests, responses, timeouts, transport
    errors and terminations. ``seed`` makes generated branches reproducible;
    give each simulated element its own seed.
    """

    __slots__ = ("clock", "config", "user", "stats", "_ctx", "_client", "_server", "_acks",
                 "_branch_prefix", "_branch_count")

    def __init__(
        self,
        clock: Clock,
        user: TransactionUser,
        config: TimerConfig | None = None,
        *,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.config = config if config is not None else TimerConfig()
        self.user = user
        self.stats = TransactionStats()
        self._ctx = TransactionContext(clock, self.config, user, self.stats, self._forget)
        self._client: dict[tuple[str, str], ClientTransaction] = {}
        self._server: dict[tuple[object, ...], ServerTransaction] = {}
        # RFC 2543 INVITE transactions, keyed without the To tag, for ACK matching.
        self._acks: dict[tuple[object, ...], ServerInviteTransaction] = {}
        self._branch_prefix = f"{MAGIC_COOKIE}{random.Random(seed).getrandbits(40):010x}."
        self._branch_count = 0

    # -- what the TU calls ----------------------------------------------------------

    def new_branch(self) -> str:
        """A branch unique within this layer, with the RFC 3261 cookie (deterministic per seed)."""
        self._branch_count += 1
        return f"{self._branch_prefix}{self._branch_count:x}"

    def send_request(self, request: Request, dest: Address, transport: Transport) -> ClientTransaction:
        """Start a client transaction for ``request`` towards ``dest`` and send it.

        The top Via must carry a branch (see :meth:`new_branch`). ACK is not
        sent in a client transaction: the TU sends the ACK for a 2xx itself.
        """
        method = request.method
        if method == "ACK":
            raise ValueError(
                "an ACK is not sent in a client transaction (RFC 3261 §17.1.1.3, §13.2.2.4): "
                "pass it to the transport directly"
            )
        branch = request.branch
        if not branch:
            raise ValueError(
                f"{method} {request.uri}: the top Via has no branch parameter; "
                "set one from TransactionLayer.new_branch() (RFC 3261 §8.1.1.7)"
            )
        cseq = request.cseq
        if cseq is None or cseq.method != method:
            raise ValueError(
                f"{method} {request.uri}: the CSeq header must name the method {method} "
                f"(got {request.headers.get('CSeq')!r})"
            )
        key = (branch, method)
        if key in self._client:
            raise ValueError(
                f"{method} {request.uri}: a client transaction with branch {branch!r} "
                "already exists; every request needs a new branch"
            )
        txn: ClientInviteTransaction | ClientNonInviteTransaction  # the kinds that start()
        if method == "INVITE":
            txn = ClientInviteTransaction(request, dest, transport, self._ctx, key)
        else:
            txn = ClientNonInviteTransaction(request, dest, transport, self._ctx, key)
        self._client[key] = txn
        txn.start()
        return txn

    def transport_failed(self, dest: Address, error: TransportError | str) -> int:
        """Report a transport failure towards ``dest`` found after sending (e.g. a
        TCP connection that failed); every transaction sending there is told.
        Returns how many transactions acted on it."""
        hit = 0
        for txn in [t for t in self if t.dest == dest]:
            hit += txn.transport_error(error)
        return hit

    # -- what the driver calls ------------------------------------------------------

    def receive(
        self, message: Request | Response, source: Address, transport: Transport
    ) -> Transaction | None:
        """Feed a parsed message from the network; returns the transaction it went to."""
        if isinstance(message, Response):
            return self.receive_response(message)
        if isinstance(message, Request):
            return self.receive_request(message, source, transport)
        raise TypeError(f"receive() takes a Request or a Response, got {type(message).__name__}")

    def receive_response(self, response: Response) -> ClientTransaction | None:
        """Match a response to its client transaction (§17.1.3); a stray one goes to the TU."""
        cseq = response.cseq
        branch = response.branch
        txn = None
        if cseq is not None and branch is not None:
            txn = self._client.get((branch, cseq.method))
        if txn is None:
            self.stats.stray_responses += 1
            self.user.response_received(None, response)
            return None
        txn.receive_response(response)
        return txn

    def receive_request(
        self, request: Request, source: Address, transport: Transport
    ) -> ServerTransaction | None:
        """Match a request to a server transaction (§17.2.3) or create one.

        A retransmission is absorbed by its transaction; a new request creates
        a transaction and goes to the TU; an ACK matching no INVITE transaction
        (the ACK for a 2xx) goes to the TU with no transaction.
        """
        method = request.method
        if method == "ACK":
            return self._receive_ack(request)
        key = server_key(request, method)
        txn = self._server.get(key)
        if txn is not None:
            txn.receive_request(request)
            return txn
        dest = response_destination(request, source, transport.reliable)
        if method == "INVITE":
            txn = ServerInviteTransaction(request, source, dest, transport, self._ctx, key)
            if key[0] is None:  # RFC 2543 style: index for ACK matching
                self._acks[self._ack_key(request)] = txn
        else:
            txn = ServerNonInviteTransaction(request, source, dest, transport, self._ctx, key)
            if method == "CANCEL":
                txn.cancel_target = self.find_cancelled(request)
        self._server[key] = txn
        txn.begin()
        return txn

    def find_cancelled(self, cancel: Request) -> ServerInviteTransaction | None:
        """The INVITE server transaction a CANCEL matches (§9.2), if it is still alive."""
        txn = self._server.get(server_key(cancel, "INVITE"))
        return txn if isinstance(txn, ServerInviteTransaction) else None

    def _receive_ack(self, ack: Request) -> ServerTransaction | None:
        via = _top_via(ack)
        branch = via.branch
        txn: ServerTransaction | None
        if branch is not None and branch.startswith(MAGIC_COOKIE):
            txn = self._server.get((branch, via.host.lower(), via.port, "INVITE"))
        else:
            # RFC 2543: the ACK's To tag is the tag of the response the transaction sent.
            txn = self._acks.get(self._ack_key(ack))
            if txn is not None:
                last = txn.last_response
                if last is None or last.status < 200 or last.to_tag != ack.to_tag:
                    txn = None
        if txn is None:
            self.stats.stray_acks += 1
            self.user.request_received(None, ack)
            return None
        txn.receive_request(ack)
        return txn

    @staticmethod
    def _ack_key(request: Request) -> tuple[object, ...]:
        return _rfc2543_key(request, _top_via(request), "INVITE", None)

    # -- bookkeeping ------------------------------------------------------------------

    def _forget(self, txn: Transaction) -> None:
        key = txn.key
        if isinstance(txn, ClientTransaction):
            if self._client.get(key) is txn:
                del self._client[key]
            return
        if self._server.get(key) is txn:
            del self._server[key]
        if isinstance(txn, ServerInviteTransaction) and key[0] is None:
            ack_key = self._ack_key(txn.request)
            if self._acks.get(ack_key) is txn:
                del self._acks[ack_key]

    def __len__(self) -> int:
        """Live transactions."""
        return len(self._client) + len(self._server)

    def __iter__(self) -> Iterator[Transaction]:
        """Live transactions, client ones first."""
        yield from self._client.values()
        yield from self._server.values()

    def find_client(self, branch: str, method: str) -> ClientTransaction | None:
        return self._client.get((branch, method))
