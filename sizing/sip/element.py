"""What every dialog-keeping SIP element shares: the wiring around its transaction layer.

:class:`Element` is the base of :class:`~sizing.sip.ua.UserAgent` and
:class:`~sizing.sip.b2bua.B2BUA`. It owns the local address, the transport,
the :class:`~sizing.sip.transaction.TransactionLayer` (whose transaction user
it is) and the seeded identifiers (tags, Call-IDs, branches), and does the
steps both roles take the same way:

- receiving bytes from a driver and sending raw bytes (ACKs to 2xx, which no
  transaction carries, RFC 3261 §17.1.1.3);
- keeping one handler per client transaction and routing the TU callbacks
  (responses, Timer B/F timeouts as 408, transport failures as 503) to it;
- repeating the ACK for a 2xx retransmitted after its transaction ended
  (§13.2.2.4) and re-sending an INVITE's 2xx until the ACK comes
  (§13.3.1.4), giving up after 64*T1;
- the request checks of RFC 4475 §3.3 before any role-specific handling;
- one guard around that handling (:meth:`request_received`): a header or
  SDP body the role cannot read, found wherever the role first reads it,
  gets 400 naming it (an ACK is dropped and counted), so no malformed field
  leaves a request unanswered or escapes to the driver.

A subclass says what a handler entry is (:meth:`_deliver`) and what to do
when no ACK comes (:meth:`_no_ack`); the ``_on_*`` hooks let it count.

An element may listen on a second transport (:meth:`_add_interface`, made
public by the roles whose Contact follows it). A request leaves by the
interface whose transport is its destination's, with that interface's Via;
bytes arriving at an interface are answered through it. A URI without a
transport parameter then means UDP (RFC 3263 §4.1, no DNS).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from .checks import MALFORMED, UasPolicy, check_request, malformed
from .dialog import Dialog, DialogId, uri_address
from .headers import NameAddr
from .interfaces import Address, Clock, TimerConfig, TimerHandle, Transport, TransportError
from .message import Request, Response
from .multihome import Interfaces
from .receive import ReceiveStats, receive_bytes
from .transaction import (
    ClientTransaction,
    ServerInviteTransaction,
    ServerTransaction,
    Transaction,
    TransactionLayer,
)
from .uri import URI

if TYPE_CHECKING:
    from .loopback import LoopbackNetwork

__all__ = ["AckState", "Element"]


class AckState(Protocol):
    """What the element keeps per dialog (a UA's call, a B2BUA's leg) for ACK handling."""

    dialog: Dialog | None
    ack_data: bytes | None
    ack_dest: Address | None
    ok_response: Response | None
    ok_txn: ServerInviteTransaction | None
    ok_timer: TimerHandle | None
    ok_interval: float
    ok_elapsed: float


class Element(ABC):
    """A SIP element on one local address, the transaction user of its own layer.

    ``user`` is the user part of the Contact; ``seed`` makes tags, Call-IDs
    and branches reproducible.
    """

    kind = "Element"
    """The element's name in error messages."""

    uas_policy: UasPolicy
    """The request checks applied to every new request (set by the subclass)."""

    def __init__(
        self,
        clock: Clock,
        local: Address,
        *,
        user: str,
        transport: Transport | None,
        timers: TimerConfig,
        seed: int,
    ) -> None:
        self.clock = clock
        self.local = local
        self.transport = transport
        self.layer = TransactionLayer(clock, self, timers, seed=seed)
        self.receive_stats = ReceiveStats()
        self._rng = random.Random(seed)
        self.contact = _contact(user, local)
        self._timers = timers
        self._dialogs: dict[DialogId, Any] = {}
        """Dialog state (a :class:`AckState`) by dialog id (Call-ID, local tag, remote tag)."""
        self._invites: dict[ServerInviteTransaction, Any] = {}
        """The call each INVITE server transaction belongs to, until it terminates."""
        self._handlers: dict[Transaction, Any] = {}
        """The handler entry of each client transaction still running (keyed by the
        transactions' base: the layer reports any transaction)."""
        self._sending: Any = None
        """The entry of the request being sent now (responses may come before send returns)."""
        self._user = user
        self._interfaces = Interfaces(f"{self.kind} {local}", local, self._transport)
        """The main address and the interfaces on other transports."""
        self._contacts: dict[Address, URI] = {local: self.contact}
        """The Contact URI of each interface, by its address."""
        self._inbound: Address = local
        """The interface the message being handled arrived at."""

    # -- wiring -----------------------------------------------------------------------

    def connect(self, network: LoopbackNetwork, *, reliable: bool | None = None) -> Transport:
        """Attach this element's address to a loopback network and use that transport."""
        self.transport = network.attach(self.local, self.datagram_received, reliable=reliable)
        return self.transport

    def datagram_received(self, data: bytes, source: Address, local: Address | None = None) -> None:
        """Bytes from the network (a datagram or one framed stream message) that arrived
        at the main address, or at the interface ``local`` of :meth:`_add_interface`."""
        if local is None or local == self.local:
            receive_bytes(self.layer, self._transport(), data, source, self.receive_stats)
            return
        self._inbound = local
        try:
            receive_bytes(self.layer, self._interfaces.transport_at(local), data, source, self.receive_stats)
        finally:
            self._inbound = self.local

    def _transport(self) -> Transport:
        if self.transport is None:
            raise RuntimeError(f"{self.kind} {self.local}: no transport; call connect() or set .transport")
        return self.transport

    def _add_interface(self, address: Address, transport: Transport) -> Callable[[bytes, Address], None]:
        """Listen at ``address`` too, on another transport than the main address's; returns
        the entry point for the bytes that arrive there."""
        self._interfaces.add(address, transport)
        self._contacts[address] = _contact(self._user, address)
        return lambda data, source: self.datagram_received(data, source, address)

    def _interface(self, dest: Address) -> tuple[Address, Transport]:
        """The local address and transport a message to ``dest`` leaves by."""
        return self._interfaces.route(dest)

    def _contact_to(self, dest: Address) -> URI:
        """The Contact of a dialog whose requests go to ``dest``: its interface's."""
        if not self._interfaces:
            return self.contact
        return self._contacts[self._interface(dest)[0]]

    @property
    def _default_transport(self) -> str:
        """The transport of a URI without one (see :class:`~sizing.sip.multihome.Interfaces`)."""
        return self._interfaces.default_transport

    # -- identifiers ------------------------------------------------------------------

    def _new_tag(self) -> str:
        return f"{self._rng.getrandbits(48):012x}"

    def _new_call_id(self) -> str:
        return f"{self._rng.getrandbits(64):016x}@{self.local.host}"

    def new_call_id(self) -> str:
        """A fresh Call-ID, the one a new call would get: for choosing where to send it first."""
        return self._new_call_id()

    def _via(self, dest: Address | None = None) -> str:
        """A Via with a new branch, of the interface a request to ``dest`` leaves by
        (None: the main address)."""
        local = self.local if dest is None or not self._interfaces else self._interface(dest)[0]
        return f"SIP/2.0/{local.transport} {local.host}:{local.port};branch={self.layer.new_branch()}"

    def _next_hop(self, dialog: Dialog) -> Address:
        """Where the dialog's next request goes (its route set or remote target)."""
        return uri_address(dialog.next_hop(), self._default_transport)

    # -- sending ------------------------------------------------------------------------

    def _start_client(self, request: Request, dest: Address, entry: object) -> ClientTransaction:
        """Send ``request`` in a new client transaction whose responses go to ``entry``."""
        self._sending = entry
        try:
            txn = self.layer.send_request(request, dest, self._interface(dest)[1])
        finally:
            self._sending = None
        if not txn.terminated:
            self._handlers[txn] = entry
        return txn

    def _raw_send(self, data: bytes, dest: Address) -> None:
        try:
            self._interface(dest)[1].send(data, dest)
        except TransportError:
            self.layer.stats.transport_errors += 1

    def _build_ack(self, dialog: Dialog, body: bytes, content_type: str | None) -> tuple[bytes, Address]:
        """An ACK for the dialog's 2xx (§13.2.2.4), encoded, and where it goes."""
        dest = self._next_hop(dialog)
        ack = dialog.create_request("ACK", self._via(dest), body=body, content_type=content_type if body else None)
        return ack.encode(), dest

    def _repeat_ack(self, state: AckState) -> bool:
        """Send the dialog's last ACK again, for a retransmitted 2xx; False if none was sent."""
        if state.ack_data is None or state.ack_dest is None:
            return False
        self._on_ack_resent()
        self._raw_send(state.ack_data, state.ack_dest)
        return True

    def _respond(
        self,
        txn: ServerTransaction,
        request: Request,
        status: int,
        *,
        reason: str | None = None,
        to_tag: str | None = None,
        headers: Iterable[tuple[str, object]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response:
        response = request.create_response(status, reason, to_tag=to_tag, headers=headers, body=body)
        if body and content_type:
            response.headers.set("Content-Type", content_type)
        if txn.respond(response):
            self._on_response_sent(status)
        return response

    # -- requests in -----------------------------------------------------------------

    def _rejected(self, txn: ServerTransaction, request: Request) -> bool:
        """Answer ``request`` if it fails the RFC 4475 §3.3 checks; True when it did."""
        rejection = check_request(request, self.uas_policy)
        if rejection is None:
            return False
        to_tag = self._new_tag() if request.to_tag is None else None
        response = rejection.response_to(request, to_tag=to_tag)
        if txn.respond(response):
            self._on_response_sent(response.status)
        return True

    def _refer_to(self, txn: ServerTransaction, request: Request) -> NameAddr | None:
        """The one Refer-To of a REFER (RFC 3515 §2.4.1), or None after answering 400."""
        targets = request.headers.get_all("Refer-To")
        if len(targets) != 1:
            self._respond(txn, request, 400, reason="REFER needs exactly one Refer-To")
            return None
        try:
            return NameAddr.parse(targets[0])
        except ValueError as error:
            self._respond(txn, request, 400, reason=f"Bad Refer-To: {error}"[:100])
            return None

    # -- the TU callbacks ---------------------------------------------------------------

    def request_received(self, transaction: Transaction | None, request: Request) -> None:
        """A new request (or an ACK) from the layer, handled by the role; a field it
        cannot read answers 400 from here rather than at each place that reads one."""
        try:
            self._request_received(transaction, request)
        except MALFORMED as error:
            self._malformed(transaction, request, error)

    def _malformed(self, transaction: Transaction | None, request: Request, error: Exception) -> None:
        """Answer a request the role could not read 400 (see :func:`~sizing.sip.checks.malformed`);
        an ACK, or a request already answered, is dropped and counted."""
        if request.method != "ACK" and isinstance(transaction, ServerTransaction):
            rejection = malformed(error)
            to_tag = self._new_tag() if request.to_tag is None else None
            response = rejection.response_to(request, to_tag=to_tag)
            if transaction.respond(response):
                self._on_response_sent(response.status)
                return
        self._on_malformed_dropped()

    def response_received(self, transaction: Transaction | None, response: Response) -> None:
        """A response from the layer, handled by the role; one carrying a field the role
        cannot read (a Record-Route or Contact of a 2xx, its SDP) is dropped and counted
        here, as nothing can answer a response: the peer retransmits or times out."""
        try:
            self._response_received(transaction, response)
        except MALFORMED:
            self._on_malformed_dropped()

    def _response_received(self, transaction: Transaction | None, response: Response) -> None:
        entry = self._handlers.get(transaction) if transaction is not None else None
        if entry is None and transaction is not None and self._sending is not None:
            entry = self._sending
        if entry is not None:
            self._deliver(entry, transaction, response)
            return
        cseq = response.cseq
        if 200 <= response.status < 300 and cseq is not None and cseq.method == "INVITE":
            # A 2xx retransmission after the transaction ended: repeat our ACK (§13.2.2.4).
            state = self._dialogs.get((response.call_id or "", response.from_tag or "", response.to_tag or ""))
            if state is not None:
                self._repeat_ack(state)

    def transaction_timeout(self, transaction: Transaction) -> None:
        entry = self._handlers.get(transaction)
        if entry is not None:
            self._deliver(entry, transaction, transaction.request.create_response(408, "Request Timeout"))

    def transport_error(self, transaction: Transaction, error: TransportError) -> None:
        entry = self._handlers.get(transaction) or self._sending
        if entry is not None and isinstance(transaction, ClientTransaction):
            self._deliver(entry, transaction, transaction.request.create_response(503, "Service Unavailable"))

    def transaction_terminated(self, transaction: Transaction) -> None:
        self._handlers.pop(transaction, None)
        if isinstance(transaction, ServerInviteTransaction):
            self._invites.pop(transaction, None)

    # -- 2xx retransmission towards a UAC (§13.3.1.4) ----------------------------------

    def _start_ok_retransmit(self, state: AckState, txn: ServerInviteTransaction, response: Response) -> None:
        """Re-send the 2xx at T1, 2*T1, ... capped at T2 until the ACK (only Timer H's
        64*T1 wait on a reliable transport)."""
        if state.ok_timer is not None:
            state.ok_timer.cancel()
        state.ok_response = response
        state.ok_txn = txn
        state.ok_elapsed = 0.0
        state.ok_interval = 0.0 if txn.reliable else self._timers.t1
        delay = state.ok_interval or self._timers.timeout
        state.ok_timer = self.clock.call_later(delay, lambda: self._ok_tick(state))

    def _ok_tick(self, state: AckState) -> None:
        timers = self._timers
        state.ok_timer = None
        interval = state.ok_interval or timers.timeout
        state.ok_elapsed += interval
        if state.ok_elapsed >= timers.timeout:
            state.ok_response = None
            self._no_ack(state)
            return
        txn, response = state.ok_txn, state.ok_response
        if txn is not None and response is not None and txn.respond(response):
            self._on_ok_resent()
        state.ok_interval = min(2 * interval, timers.t2)
        remaining = timers.timeout - state.ok_elapsed
        state.ok_timer = self.clock.call_later(min(state.ok_interval, remaining), lambda: self._ok_tick(state))

    def _ack_for_ok(self, ack: Request) -> Any:
        """The dialog state whose 2xx ``ack`` acknowledges (its retransmission stops), or None."""
        state = self._dialogs.get((ack.call_id or "", ack.to_tag or "", ack.from_tag or ""))
        if state is None or state.ok_response is None:
            return None
        cseq, ok_cseq = ack.cseq, state.ok_response.cseq
        if cseq is None or ok_cseq is None or cseq.number != ok_cseq.number:
            return None
        state.ok_response = None
        if state.ok_timer is not None:
            state.ok_timer.cancel()
            state.ok_timer = None
        return state

    # -- what a subclass says -------------------------------------------------------------

    @abstractmethod
    def _deliver(self, entry: Any, transaction: Transaction | None, response: Response) -> None:
        """Hand ``response`` to the handler ``entry`` of a client transaction."""

    @abstractmethod
    def _request_received(self, transaction: Transaction | None, request: Request) -> None:
        """Handle a new request (``transaction`` None for an ACK to a 2xx)."""

    @abstractmethod
    def _no_ack(self, state: Any) -> None:
        """No ACK came for the 2xx within 64*T1 (the retransmission has stopped)."""

    def _on_response_sent(self, status: int) -> None:
        """A response went out for the first time (for counting)."""
        return None  # counted by subclasses that keep the counter

    def _on_ok_resent(self) -> None:
        """A 2xx was re-sent while waiting for its ACK (for counting)."""
        return None  # counted by subclasses that keep the counter

    def _on_ack_resent(self) -> None:
        """An ACK was re-sent for a retransmitted 2xx (for counting)."""
        return None  # counted by subclasses that keep the counter

    def _on_malformed_dropped(self) -> None:
        """A request with a field the role cannot read was dropped unanswered (for counting)."""
        return None  # counted by subclasses that keep the counter


def _contact(user: str, address: Address) -> URI:
    """The Contact URI of ``user`` at ``address`` (with its transport unless UDP)."""
    params = "" if address.transport == "UDP" else f";transport={address.transport.lower()}"
    return URI.parse(f"sip:{user}@{address.host}:{address.port}{params}")
