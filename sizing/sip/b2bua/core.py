"""The B2BUA core: the transaction user that bridges an inbound leg to outbound legs.

Theory of operation
-------------------

A signalling-only B2BUA (RFC 7092 §3.1) terminates each dialog: leg A
(inbound) ends at its UAS side, every outbound leg starts at its UAC side
with a Call-ID, tags and CSeq of its own. SDP passes through unchanged
except the o= line towards A, which keeps one origin with an increasing
version across re-connects (RFC 3264 §8), so A sees one session.

- A new INVITE gets 100 at once, the routing policy picks leg B, and B's
  INVITE carries A's offer and the headers the :class:`HeaderPolicy` passes.
  B's 180/183 are relayed to A, B's 2xx is ACKed and relayed as A's 2xx
  (re-sent until A's ACK, §13.3.1.4); B's failure is mapped by the
  :class:`FailurePolicy`. With no offer in A's INVITE, B's ACK waits for the
  answer in A's ACK.
- CANCEL on A answers A 487 and cancels B (after B's first provisional, §9.1);
  a 2xx crossing that CANCEL is ACKed and hung up with BYE.
- BYE on either leg is answered 200 and sent on the other(s); other
  in-dialog requests (re-INVITE, UPDATE, INFO, ...) are relayed to the peer
  leg and its final answer relayed back.
- Re-connecting A to a new leg (IVR then agent, :meth:`B2BUA.transfer`, a
  REFER from the agent) is RFC 3725 Flow I: an INVITE without SDP to the new
  party, its 2xx offer sent to A in a re-INVITE, A's answer in the new
  party's ACK; then the old leg is released with BYE. A REFER is answered
  202, and NOTIFYs with a sipfrag report the outcome (RFC 3515 §2.4.5).
  A REFER whose Refer-To carries Replaces joins the caller to the far end
  of the agent's consultation call (:mod:`.transfer`). A REFER on leg A (the
  carrier moving the call) re-connects the agent's side to the Refer-To target
  the same way, by a new leg along A's route set, and releases A.
- :meth:`B2BUA.conference` moves the call onto a media server's conference
  bridge with a third party (:mod:`.conference`).
- Each re-INVITE of those re-connects that meets glare (491: the party's own
  re-INVITE crossed it) is sent again after the RFC 3261 §14.1 wait instead of
  failing the re-connect (:mod:`.glare`).
- A recorder leg gets A's offer marked sendonly once the call is bridged
  and is hung up with the call.
- Session timers (RFC 4028) are negotiated end to end and every refresh is
  relayed, as an RFC 4028 §8 proxy would (:mod:`.session_timer`); the B2BUA
  runs no timer of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..checks import UasPolicy, malformed
from ..dialog import Dialog, DialogId, DialogSet, uri_address
from ..element import Element
from ..errors import HeaderError
from ..headers import NameAddr
from ..interfaces import Address, Clock, TimerConfig, Transport
from ..message import Headers, Request, Response
from ..sdp import Origin, SdpError, SessionDescription
from ..transaction import (
    ClientTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransaction,
    Transaction,
    build_cancel,
)
from ..ua.exchange import OneFinal
from ..uri import URI
from .call import BridgedCall, Leg, LegState
from .conference import Conference, Conferences
from .features import ALLOW, SDP, SIPFRAG, Features, is_sdp
from .glare import ReinviteGlare
from .policy import (
    B2BUAConfig,
    B2BUAStats,
    Reject,
    RouteCallback,
    RoutingPolicy,
    Target,
    as_policy,
)
from .session_timer import SessionTimerRelay
from .transfer import Transfers

__all__ = ["B2BUA"]

_RELAYED = frozenset({"INVITE", "UPDATE", "INFO", "MESSAGE", "OPTIONS", "NOTIFY"})

Handler = Callable[[ClientTransaction | None, Response], None]


class B2BUA(Element):
    """A back-to-back user agent on one local address (and optionally a second one on
    another transport, :meth:`add_interface`): the contact centre's SIP Server.

    ``routing`` picks leg B per inbound INVITE (a :class:`RoutingPolicy`, a
    callable ``request -> Target | Reject | None``, or one fixed target).
    ``on_call(call)`` is told of each new :class:`BridgedCall`. The wiring it
    shares with the UA (transport, client transactions, ACK and 2xx
    retransmission) comes from :class:`~sizing.sip.element.Element`.

    The core owns the legs (start, ACK, CANCEL, BYE, relay); each feature is an
    object it holds, built with the B2BUA as its context (:mod:`.context` says what
    each may use): ``_reconnects`` (:class:`.Features`), ``_attended``
    (:class:`.Transfers`), ``_conferences``, ``_glare`` and ``_session_timers``.
    A subclass observes the call through :meth:`_state` and may wrap the hooks
    :meth:`_start_leg`, :meth:`_reconnect`, :meth:`_start_recording` and :meth:`_finish`.
    """

    kind = "B2BUA"
    _dialogs: dict[DialogId, Leg]
    _invites: dict[ServerInviteTransaction, BridgedCall]
    _handlers: dict[Transaction, Handler]

    def __init__(
        self,
        clock: Clock,
        local: Address,
        routing: RoutingPolicy | RouteCallback | Target | URI | str,
        *,
        transport: Transport | None = None,
        config: B2BUAConfig | None = None,
        timers: TimerConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.routing = as_policy(routing)
        self.config = config if config is not None else B2BUAConfig()
        self.timers = timers if timers is not None else TimerConfig()
        super().__init__(clock, local, user=self.config.user, transport=transport, timers=self.timers, seed=seed)
        self.stats = B2BUAStats()
        self.uas_policy = UasPolicy(extensions=frozenset({"timer"}),
                                    body_types=(SDP, "message/sipfrag", "application/dtmf-relay"))
        self.on_call: Callable[[BridgedCall], object] | None = None
        self.calls: dict[BridgedCall, None] = {}  # calls not yet ended, oldest first (O(1) removal)
        """Calls not yet ended (bridged, ringing or transferring)."""
        self._number = 0
        self._session_timers = SessionTimerRelay(self)
        self._glare = ReinviteGlare(self)
        self._reconnects = Features(self)
        self._attended = Transfers(self)
        self._conferences = Conferences(self)

    def transfer(self, call: BridgedCall, target: Target | URI | str) -> Leg:
        """Re-connect the caller of a bridged ``call`` to ``target``; the old leg B is
        released once the new one is up. Returns the new leg."""
        return self._reconnects.transfer(call, target)

    def conference(
        self, call: BridgedCall, third_party: Target | URI | str, bridge: Target | URI | str
    ) -> Conference:
        """Conference ``third_party`` into a bridged ``call`` on the mixer at ``bridge``
        (a conference URI on a media server). Returns the :class:`.Conference`."""
        return self._conferences.conference(call, third_party, bridge)

    def add_interface(self, address: Address, transport: Transport) -> Callable[[bytes, Address], None]:
        """Listen at ``address`` too, on another transport than the main address's (the
        SIP Server as the trunk's edge: TLS towards the carrier, UDP inside); returns the
        entry point for the bytes that arrive there.

        Each leg keeps the Contact of the interface its requests leave by (chosen from
        its destination when it is created); every request leaves by the interface of
        its destination's transport, and a URI without one means UDP (RFC 3263 §4.1).
        """
        return self._add_interface(address, transport)

    @property
    def bridged(self) -> int:
        """Calls bridged right now (answered and not ended)."""
        return sum(1 for c in self.calls if c.state == "bridged")

    # -- sending -----------------------------------------------------------------------------

    def _send(self, request: Request, dest: Address, handler: Handler) -> None:
        self._start_client(request, dest, handler)

    def _deliver(self, entry: Handler, transaction: Transaction | None, response: Response) -> None:
        entry(transaction if isinstance(transaction, ClientTransaction) else None, response)

    def _in_dialog(
        self, leg: Leg, method: str, handler: Handler | None = None, *,
        headers: Iterable[tuple[str, object]] = (), body: bytes = b"", content_type: str | None = None,
    ) -> Request:
        dialog = leg.dialog
        assert dialog is not None
        dest = self._next_hop(dialog)
        request = dialog.create_request(method, self._via(dest), headers=list(headers), body=body,
                                        content_type=content_type)
        self._send(request, dest, handler or self._ignore)
        return request

    @staticmethod
    def _contact(leg: Leg) -> str:
        """The Contact header value of ``leg``: its dialog's local target, fixed at creation."""
        dialog = leg.dialog
        assert dialog is not None
        return f"<{dialog.local_contact}>"

    def _ignore(self, txn: ClientTransaction | None, response: Response) -> None:
        return None

    def _register(self, leg: Leg, dialog: Dialog) -> None:
        leg.dialog = dialog
        self._dialogs[dialog.id] = leg

    def _unregister(self, leg: Leg) -> None:
        dialogs = list(leg.dialog_set.dialogs.values()) if leg.dialog_set is not None else []
        for dialog in [*dialogs, leg.dialog]:
            if dialog is not None and self._dialogs.get(dialog.id) is leg:
                del self._dialogs[dialog.id]

    def _forget(self, leg: Leg) -> None:
        """The leg is over: its dialog ends, its timers stop, requests for it get 481."""
        if leg.dialog is not None:
            leg.dialog.terminate()
        self._unregister(leg)
        for timer in (leg.ok_timer, leg.ring_timer):
            if timer is not None:
                timer.cancel()
        leg.ok_timer = leg.ring_timer = None

    def _notify(
        self,
        leg: Leg,
        status: int,
        reason: str | None,
        *,
        final: bool,
        then: Callable[[], object] | None = None,
    ) -> None:
        """A NOTIFY with a sipfrag status line for the REFER's implicit subscription;
        ``then()`` runs once the NOTIFY has its final response (or timed out)."""
        frag = Response(status, reason)
        state = "terminated;reason=noresource" if final else "active;expires=60"

        def answered(_txn: ClientTransaction | None, response: Response) -> None:
            if then is not None and response.status >= 200:
                then()

        self._in_dialog(
            leg,
            "NOTIFY",
            answered,
            headers=[("Event", "refer"), ("Subscription-State", state)],
            body=f"SIP/2.0 {frag.status} {frag.reason}\r\n".encode(),
            content_type=SIPFRAG,
        )

    # -- hooks a subclass may wrap or override --------------------------------------------

    def _reconnect(self, call: BridgedCall, target: Target, role: str) -> Leg:
        """Re-connect the caller to ``target`` (RFC 3725 Flow I, :class:`.Features`)."""
        return self._reconnects.reconnect(call, target, role)

    def _start_recording(self, call: BridgedCall) -> None:
        """Add the recorder leg to a call just bridged (:class:`.Features`)."""
        self._reconnects.start_recording(call)

    def _state(self, call: BridgedCall, kind: str) -> None:
        """Told of call-state changes (setup, answer, transfer, conference, release);
        a subclass reports them (replication, CTI)."""

    # -- SDP towards leg A ------------------------------------------------------------------

    def _to_a(self, leg: Leg, body: bytes) -> bytes:
        """``body`` with the o= line leg A has seen, version bumped (one session for A)."""
        if not body:
            return body
        try:
            sdp = SessionDescription.parse(body)
        except SdpError:
            return body
        incoming = str(sdp.origin)
        if leg.seen.origin is None:
            leg.seen.origin, leg.seen.incoming = sdp.origin, incoming
            return body
        if incoming != leg.seen.incoming:  # a new description: A sees a new version
            leg.seen.incoming = incoming
            origin = leg.seen.origin
            leg.seen.origin = Origin(origin.username, origin.sess_id, origin.sess_version + 1,
                                origin.nettype, origin.addrtype, origin.address)
        sdp.origin = leg.seen.origin
        return sdp.encode()

    # -- TU callbacks -----------------------------------------------------------------------

    def _request_received(self, transaction: Transaction | None, request: Request) -> None:
        method = request.method
        if method == "ACK":
            self._ack_received(request)
            return
        assert isinstance(transaction, ServerTransaction)
        if self._rejected(transaction, request):
            return
        if method == "CANCEL":
            self._cancel_received(transaction, request)
        elif request.to_tag is not None:
            self._in_dialog_received(transaction, request)
        elif method == "INVITE":
            assert isinstance(transaction, ServerInviteTransaction)
            self._new_call(transaction, request)
        elif method == "OPTIONS":
            self._respond(transaction, request, 200, to_tag=self._new_tag(),
                          headers=[("Allow", ALLOW), ("Accept", SDP)])
        elif method in ("BYE", "UPDATE", "INFO", "REFER", "NOTIFY", "PRACK"):
            self._respond(transaction, request, 481, to_tag=self._new_tag())
        else:
            self._respond(transaction, request, 405, to_tag=self._new_tag(), headers=[("Allow", ALLOW)])

    # -- a new inbound call -----------------------------------------------------------------

    def _new_call(self, txn: ServerInviteTransaction, request: Request) -> None:
        self.stats.calls_in += 1
        self._number += 1
        call = BridgedCall(self._number, request)
        a = call.a
        a.server_txn = txn
        tag = self._new_tag()
        try:
            self._register(a, self._inbound_dialog(request, tag))
        except (ValueError, HeaderError) as exc:
            self._fail_a(call, 400, malformed(exc).reason, tag=tag)
            return
        self._invites[txn] = call
        self.calls[call] = None
        self._respond(txn, request, 100)
        if request.max_forwards == 0:
            self._fail_a(call, 483)
            return
        if self.on_call is not None:
            self.on_call(call)
        ivr = self.config.ivr
        try:
            decision = ivr if ivr is not None else self.routing.route(request)
        except Exception:
            self._fail_a(call, 500, "Routing failed")
            raise
        if not isinstance(decision, Target):
            reject = decision if isinstance(decision, Reject) else Reject()
            self._fail_a(call, reject.status, reject.reason)
            return
        headers = [*self.config.headers.select(request.headers), *self._session_timers.request_headers(request)]
        b = self._start_leg(call, "ivr" if ivr is not None else "agent", decision,
                            body=request.body, content_type=request.headers.get("Content-Type"),
                            headers=headers, first=True)
        call.b = b
        call.state = "ringing"
        b.on_provisional = self._relay_provisional
        b.on_answer = self._bridge_answered
        b.on_fail = self._bridge_failed
        if self.config.no_answer_s is not None:
            b.ring_timer = self.clock.call_later(self.config.no_answer_s, lambda: self._no_answer(b))

    def _inbound_dialog(self, request: Request, tag: str) -> Dialog:
        """Leg A's dialog; with two interfaces its Contact is that of the interface its
        requests leave by (the one it arrived at when its next hop cannot be read)."""
        dialog = Dialog.from_request(request, tag, self.contact)
        if self._interfaces:
            try:
                dialog.local_contact = self._contact_to(self._next_hop(dialog))
            except ValueError:
                dialog.local_contact = self._contacts[self._inbound]
        return dialog

    def _start_leg(
        self, call: BridgedCall, role: str, target: Target, *, body: bytes = b"",
        content_type: str | None = None, headers: Iterable[tuple[str, object]] = (), first: bool = False,
    ) -> Leg:
        """Send a new INVITE (a fresh Call-ID, From tag and CSeq) for one outbound leg,
        by the interface (Via and Contact) of its destination's transport."""
        leg = Leg(call, role, target)
        inbound = call.request
        dest = target.dest or uri_address(target.uri, self._default_transport)
        contact = self._contact_to(dest)
        out = Headers()
        out.add("Via", self._via(dest))
        hops = inbound.max_forwards
        out.add("Max-Forwards", str(max(hops - 1, 0) if hops is not None and first else 70))
        sender = inbound.from_
        if sender is not None and sender.uri is not None:
            from_ = str(NameAddr(sender.uri, sender.display_name, {"tag": self._new_tag()}))
        else:
            from_ = f"<{contact}>;tag={self._new_tag()}"
        receiver = inbound.to
        if first and receiver is not None and receiver.uri is not None:
            to = str(NameAddr(receiver.uri, receiver.display_name, {}))
        else:
            to = f"<{target.uri}>"
        out.add("From", from_)
        out.add("To", to)
        out.add("Call-ID", self._new_call_id())
        out.add("CSeq", "1 INVITE")
        out.add("Contact", f"<{contact}>")
        out.add("Allow", ALLOW)
        out.extend(headers)
        out.extend(target.headers)
        if body:
            out.set("Content-Type", content_type or SDP)
        request = Request("INVITE", target.uri, out, body)
        leg.invite = request
        leg.dest = dest
        leg.dialog_set = DialogSet(request, contact)
        call.legs.append(leg)
        self.stats.legs_created[role] += 1
        call.events.append((self.clock.now(), f"{role} leg to {target.uri}"))
        self._send(request, leg.dest, lambda txn, response: self._leg_response(leg, response))
        return leg

    # -- responses on an outbound leg ------------------------------------------------------

    def _leg_response(self, leg: Leg, response: Response) -> None:
        assert leg.dialog_set is not None
        status = response.status
        if status < 200:
            leg.cancel.provisional_seen = True
            dialog = leg.dialog_set.response_received(response)
            if dialog is not None and leg.state is not LegState.CONFIRMED:
                self._register(leg, dialog)
                leg.state = LegState.EARLY
            if leg.cancel.pending:
                self._send_cancel(leg)
            elif status > 100 and leg.on_provisional is not None and leg.live:
                leg.on_provisional(leg, response)
            return
        if status < 300:
            self._leg_answered(leg, response)
            return
        if leg.state is LegState.CONFIRMED:
            return  # a late failure of another fork
        leg.dialog_set.response_received(response)
        self._forget(leg)
        leg.status = status
        leg.state = LegState.FAILED
        if leg.cancel.requested:
            return  # the B2BUA gave this leg up (CANCEL, hang-up, no answer)
        if leg.on_fail is not None:
            leg.on_fail(leg, status, response)

    def _leg_answered(self, leg: Leg, response: Response) -> None:
        assert leg.dialog_set is not None
        dialog = leg.dialog_set.response_received(response)
        if dialog is None:
            return  # a 2xx without To tag or Contact creates no dialog (§12.1.2)
        if leg.state is LegState.CONFIRMED or leg.state is LegState.ENDED:
            if dialog is leg.dialog:
                self._repeat_ack(leg)
            else:
                self._ack_and_bye(dialog)  # another fork answered too
            return
        for other in leg.dialog_set.early_dialogs():
            other.terminate()
        self._unregister(leg)
        self._register(leg, dialog)
        leg.state = LegState.CONFIRMED
        leg.status = response.status
        assert leg.invite is not None
        if leg.cancel.requested or leg.call.ended:
            self._send_ack(leg)
            self._bye(leg)  # the 2xx crossed our CANCEL (§9.1)
            return
        if leg.invite.body:
            self._send_ack(leg)
        if leg.on_answer is not None:
            leg.on_answer(leg, response)

    def _send_ack(self, leg: Leg, body: bytes = b"", content_type: str | None = None) -> None:
        dialog = leg.dialog
        assert dialog is not None
        leg.ack_data, leg.ack_dest = self._build_ack(dialog, body, content_type or SDP)
        self._raw_send(leg.ack_data, leg.ack_dest)

    def _ack_and_bye(self, dialog: Dialog) -> None:
        data, dest = self._build_ack(dialog, b"", None)
        self._raw_send(data, dest)
        request = dialog.create_request("BYE", self._via(dest))
        dialog.terminate()
        self._send(request, dest, self._ignore)

    def _send_cancel(self, leg: Leg) -> None:
        if leg.cancel.sent or leg.invite is None or leg.dest is None:
            return
        leg.cancel.sent = True
        leg.cancel.pending = False
        self._send(build_cancel(leg.invite), leg.dest, self._ignore)

    def _cancel_leg(self, leg: Leg) -> None:
        """Give up an unanswered outbound leg: CANCEL it now, or after its first
        provisional (§9.1 forbids a CANCEL before one); a 2xx that still comes is hung up."""
        leg.cancel.requested = True
        if leg.ring_timer is not None:
            leg.ring_timer.cancel()
            leg.ring_timer = None
        if leg.cancel.provisional_seen:
            self._send_cancel(leg)
        else:
            leg.cancel.pending = True

    def _no_answer(self, leg: Leg) -> None:
        leg.ring_timer = None
        call = leg.call
        if leg.state in (LegState.CALLING, LegState.EARLY) and not call.ended:
            self._cancel_leg(leg)
            self._fail_a(call, self.config.no_answer_status)

    # -- the first bridge: A <-> B -----------------------------------------------------------

    def _relay_provisional(self, leg: Leg, response: Response) -> None:
        call = leg.call
        a = call.a
        if a.server_txn is None or a.state is not LegState.CALLING and a.state is not LegState.EARLY:
            return
        assert a.dialog is not None
        headers: list[tuple[str, object]] = [("Contact", self._contact(a))]
        headers += self.config.headers.select(response.headers)
        body = self._to_a(a, response.body) if is_sdp(response) else response.body
        self._respond(a.server_txn, call.request, response.status, reason=response.reason,
                      to_tag=a.dialog.local_tag, headers=headers, body=body,
                      content_type=response.headers.get("Content-Type"))
        a.state = LegState.EARLY

    def _bridge_answered(self, leg: Leg, response: Response) -> None:
        call = leg.call
        a = call.a
        assert a.server_txn is not None and a.dialog is not None
        if leg.ring_timer is not None:
            leg.ring_timer.cancel()
            leg.ring_timer = None
        headers: list[tuple[str, object]] = [("Contact", self._contact(a)), ("Allow", ALLOW)]
        headers += self.config.headers.select(response.headers)
        headers += self._session_timers.response_headers(call, call.request, response, True)
        body = self._to_a(a, response.body) if is_sdp(response) else response.body
        ok = self._respond(a.server_txn, call.request, response.status, reason=response.reason,
                           to_tag=a.dialog.local_tag, headers=headers, body=body,
                           content_type=response.headers.get("Content-Type"))
        a.dialog.confirm()
        a.state = LegState.CONFIRMED
        a.status = call.status = response.status
        call.state = "bridged"
        self.stats.calls_answered += 1
        call.events.append((self.clock.now(), f"bridged to {leg.role}"))
        if not call.request.body:
            a.ack_waiter = leg  # late offer: B's ACK carries the answer in A's ACK
        self._start_ok_retransmit(a, a.server_txn, ok)
        if self.config.recorder is not None:
            self._start_recording(call)

    def _bridge_failed(self, leg: Leg, status: int, response: Response) -> None:
        call = leg.call
        if call.ended:
            return
        mapped = self.config.failures.map(status)
        headers = [] if mapped != status else self.config.headers.select(response.headers)
        if mapped == 422:  # the caller retries with B's Min-SE (RFC 4028 §7.4)
            headers += [("Min-SE", v) for v in response.headers.get_lines("Min-SE")]
        reason = response.reason if mapped == status else None
        self._fail_a(call, mapped, reason, headers=headers)

    def _fail_a(self, call: BridgedCall, status: int, reason: str | None = None, *,
                tag: str | None = None, headers: Iterable[tuple[str, object]] = ()) -> None:
        a = call.a
        assert a.server_txn is not None
        to_tag = a.dialog.local_tag if a.dialog is not None else tag
        self._respond(a.server_txn, call.request, status, reason=reason, to_tag=to_tag, headers=headers)
        self.stats.calls_failed[status] += 1
        a.status = call.status = status
        a.state = LegState.FAILED
        self._forget(a)
        self._finish(call, "failed", f"failed {status}")

    def _finish(self, call: BridgedCall, state: str, detail: str) -> None:
        if call.ended:
            return
        call.state = state
        call.events.append((self.clock.now(), detail))
        self.calls.pop(call, None)
        if state == "ended":
            self.stats.calls_ended += 1
        if call.held_refreshes:
            self._session_timers.release_held(call)  # each gets 481: its call is gone

    # -- the ACK to a 2xx sent towards a UAC (§13.3.1.4) ---------------------------------------

    def _no_ack(self, leg: Leg) -> None:
        self.stats.ack_timeouts += 1
        if leg.confirmed:
            self._hang_up(leg.call, "no ACK")

    def _on_malformed_dropped(self) -> None:
        self.stats.malformed_dropped += 1

    def _ack_received(self, ack: Request) -> None:
        leg: Leg | None = self._ack_for_ok(ack)
        if leg is None:
            return
        waiter, leg.ack_waiter = leg.ack_waiter, None
        if waiter is not None and waiter.confirmed:
            self._send_ack(waiter, ack.body, ack.headers.get("Content-Type"))
        if leg.call.held_refreshes:
            self._session_timers.release_held(leg.call)  # the INVITE exchange that held them is complete

    # -- CANCEL, BYE and other in-dialog requests ---------------------------------------------

    def _cancel_received(self, txn: ServerTransaction, request: Request) -> None:
        target = txn.cancel_target if isinstance(txn, ServerNonInviteTransaction) else None
        call = self._invites.get(target) if target is not None else None
        if call is None:
            self._respond(txn, request, 481)
            return
        self._respond(txn, request, 200)
        a = call.a
        if call.ended or a.state is LegState.CONFIRMED:
            return
        self.stats.calls_cancelled += 1
        for leg in (call.b, call.pending):
            if leg is not None and leg.live:
                self._cancel_leg(leg)
        self._fail_a(call, 487)

    def _in_dialog_received(self, txn: ServerTransaction, request: Request) -> None:
        leg = self._dialogs.get((request.call_id or "", request.to_tag or "", request.from_tag or ""))
        if leg is None or leg.dialog is None or not leg.live:
            self._respond(txn, request, 481)
            return
        status = leg.dialog.check_request(request)
        if status is not None:
            self._respond(txn, request, status)
            return
        method = request.method
        if method == "BYE":
            self._respond(txn, request, 200)
            self._leg_ended(leg)
        elif method == "REFER":
            self._reconnects.refer_received(leg, txn, request)
        elif method in _RELAYED:
            self._relay(leg, txn, request)
        else:
            self._respond(txn, request, 405, headers=[("Allow", ALLOW)])

    def _peer(self, leg: Leg) -> Leg | None:
        call = leg.call
        if call.conference is not None:
            return call.conference.peer(leg)
        if leg is call.a:
            return call.b if call.pending is None else None
        return call.a if leg is call.b and call.pending is None else None

    def _relay(self, leg: Leg, txn: ServerTransaction, request: Request) -> None:
        """Send ``request`` on the peer leg and its final answer back (§12.2 per leg).

        A re-INVITE (or UPDATE offer) that crosses our own re-INVITE to its sender gets
        491 (RFC 3261 §14.2, :mod:`.glare`). While the other side is being re-connected,
        or an INVITE exchange is still open, a session refresh waits
        (:mod:`.session_timer`); anything else gets 491 (INVITE, UPDATE) or 480.
        """
        if self._glare.crosses_our_reinvite(leg, request):
            self._respond(txn, request, 491)
            return
        if self._relay_now(leg, txn, request):
            return
        if self._session_timers.hold_refresh(leg, txn, request, lambda: self._relay_now(leg, txn, request)):
            return
        status = 491 if request.method in ("INVITE", "UPDATE") else 480
        self._respond(txn, request, status, headers=[("Retry-After", "1")])

    def _relay_now(self, leg: Leg, txn: ServerTransaction, request: Request) -> bool:
        """Relay ``request`` if its peer leg can take it now; False when it cannot."""
        peer = self._peer(leg)
        if peer is None or not peer.confirmed or peer.ok_response is not None or leg.ok_response is not None:
            return False
        if request.method in ("INVITE", "UPDATE"):
            assert leg.dialog is not None
            leg.dialog.refresh_target(request)
        self.stats.relayed_requests[request.method] += 1
        body = request.body
        if body and is_sdp(request) and peer is leg.call.a:
            body = self._to_a(peer, body)
        headers = self.config.headers.select(request.headers)
        for name in ("Event", "Subscription-State", "Session-Expires", "Min-SE", "Supported"):
            headers += [(name, v) for v in request.headers.get_lines(name)]

        def relay_back(client: ClientTransaction | None, response: Response) -> None:
            assert client is not None
            self._relayed_response(leg, txn, request, peer, client.request, response)

        self._in_dialog(peer, request.method, OneFinal(peer, self._repeat_ack, relay_back, relay_back), headers=headers,
                        body=body, content_type=request.headers.get("Content-Type"))
        return True

    def _relayed_response(self, leg: Leg, txn: ServerTransaction, request: Request, peer: Leg,
                          sent: Request, response: Response) -> None:
        status = response.status
        if status == 100:
            return
        if request.method == "INVITE" and 200 <= status < 300:
            assert peer.dialog is not None
            peer.dialog.response_received(sent, response)
            if sent.body:
                self._send_ack(peer)
            else:
                leg.ack_waiter = peer
        elif status >= 200 and peer.dialog is not None:
            peer.dialog.response_received(sent, response)
        body = response.body
        if body and is_sdp(response) and leg is leg.call.a:
            body = self._to_a(leg, body)
        headers: list[tuple[str, object]] = list(self.config.headers.select(response.headers))
        if request.method == "INVITE" and status < 300:
            headers.append(("Contact", self._contact(leg)))
        if 200 <= status < 300 and request.method in ("INVITE", "UPDATE"):
            headers += self._session_timers.response_headers(leg.call, request, response, leg is leg.call.a)
        else:
            for name in ("Session-Expires", "Require"):
                headers += [(name, v) for v in response.headers.get_lines(name)]
        out = self._respond(txn, request, status, reason=response.reason, headers=headers, body=body,
                            content_type=response.headers.get("Content-Type"))
        if request.method == "INVITE" and 200 <= status < 300 and isinstance(txn, ServerInviteTransaction):
            self._start_ok_retransmit(leg, txn, out)
        if peer.dialog is not None and peer.dialog.terminated and peer.confirmed:
            self._leg_ended(peer)

    def _leg_ended(self, leg: Leg) -> None:
        """``leg`` was hung up by its far end (or its dialog died): tidy the call."""
        if leg.state is LegState.ENDED:
            return
        leg.state = LegState.ENDED
        self._forget(leg)
        call = leg.call
        call.events.append((self.clock.now(), f"{leg.role} hung up"))
        if call.ended:
            return
        if leg is call.recorder:
            return
        if call.conference is not None and self._conferences.leg_ended(leg):
            return
        if leg is call.b and call.pending is not None:
            return  # the transfer in progress replaces it
        if leg is call.b and leg.role == "ivr":
            self._reconnects.after_ivr(call)
            return
        if leg is call.a or leg is call.b:
            self._hang_up(call, f"{leg.role} BYE")

    def _hang_up(self, call: BridgedCall, detail: str) -> None:
        """End the whole call: BYE every confirmed leg, cancel every ringing one."""
        for leg in call.legs:
            if leg.confirmed:
                self._bye(leg)
            elif leg.live and leg is not call.a:
                self._cancel_leg(leg)
        self._finish(call, "ended", detail)

    def _bye(self, leg: Leg) -> None:
        if leg.dialog is not None and not leg.dialog.terminated:
            if leg.invite is not None and leg.ack_data is None:  # an outbound leg
                self._send_ack(leg)  # its 2xx waited for an answer that will not come
            self._in_dialog(leg, "BYE")
        leg.state = LegState.ENDED
        self._forget(leg)
