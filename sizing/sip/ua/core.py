"""The UA core (RFC 3261 §8, §12-15): the transaction user of a user agent.

Theory of operation
-------------------

:class:`UserAgent` owns a :class:`~sizing.sip.transaction.TransactionLayer`
and is its TU. As UAC it builds requests, sends them in client transactions
and follows their responses: a 2xx to an INVITE creates the dialog and the
UA sends (and, on a retransmitted 2xx, re-sends) the ACK itself (§13.2.2.4);
401/407 are retried once with Digest credentials; 422 is retried with the
larger Min-SE (RFC 4028). As UAS it checks each new request (RFC 4475
§3.3 statuses through :func:`~sizing.sip.checks.check_request`), answers
INVITEs as its :class:`AnswerPolicy` says, re-sends its 2xx until the ACK
comes (§13.3.1.4, giving up with a BYE after 64*T1), and serves CANCEL, BYE,
OPTIONS, INFO, UPDATE, re-INVITE, REFER and NOTIFY inside dialogs.

Every time-driven step (ringing, 2xx retransmission, session refresh and
expiry, registration refresh) is a ``clock.call_later``; nothing here reads
a clock or touches a socket.

The work is split by concern, one module each. The UA's base
:class:`~sizing.sip.ua.requests.ClientRequests` (itself an
:class:`~sizing.sip.element.Element`, the wiring every element shares) builds
and sends requests and follows their responses. The rest are objects the UA
holds, each built with the UA as its context and typed by the part of the UA
it uses (:mod:`.context`): ``_uac`` and ``_uas`` (:mod:`.invite_client`,
:mod:`.invite_server`: the two sides of a call), ``_in_dialog_requests``
(:mod:`.in_dialog`: re-INVITE, UPDATE, INFO, REFER, NOTIFY), ``_glare``
(:mod:`.glare`: changes crossing, 491, 500, retry, RFC 3261 §14),
``_session_timers`` (:mod:`.session_timer`, RFC 4028) and ``_registrations``
(:mod:`.registration`). This module holds the constructor, the public methods
(each handing over to its collaborator) and the dispatch of incoming requests.
"""

from __future__ import annotations

from collections.abc import Callable

from ..auth import DigestAuthenticator, DigestClient
from ..checks import UasPolicy
from ..dialog import Dialog, DialogId
from ..headers import NameAddr
from ..interfaces import Address, Clock, TimerConfig, Transport
from ..message import Request, Response
from ..sdp import Capabilities, SessionDescription, answer, offer
from ..transaction import (
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransaction,
    Transaction,
)
from ..uri import URI
from .call import Call, ClientRequest, Registration
from .common import ALLOW, DIALOG_METHODS, KNOWN_METHODS, SDP, Headerish, ResponseHandler
from .glare import Glare
from .in_dialog import InDialogRequests
from .invite_client import InviteClient
from .invite_server import InviteServer
from .model import AnswerPolicy, CallState, SessionTimerConfig, UAStats
from .registration import Registrations
from .requests import ClientRequests
from .session_timer import SessionTimers

__all__ = ["ALLOW", "UserAgent"]


class UserAgent(ClientRequests):
    """A SIP user agent core on one local address.

    ``user`` is the user part of the Contact; ``seed`` makes tags, Call-IDs
    and branches reproducible. ``policy`` answers incoming INVITEs;
    ``capabilities`` (codecs, SRTP suites) answer SDP offers and build offers
    for :meth:`invite` when no SDP is given: an offer in an INVITE is then
    answered in the 2xx or refused with 488 (RFC 3264 §5, §6); without
    ``capabilities`` the UA handles signalling only and answers no offer.
    ``key_source(n)`` gives the SRTP master keys of its offers and answers (default:
    the UA's seeded generator, so a simulation stays reproducible; a server on real
    sockets passes ``secrets.token_bytes``). ``credentials`` answer 401/407;
    ``authenticator`` challenges incoming INVITE and REGISTER-less requests.
    ``session_timer`` turns RFC 4028 on. ``outbound_proxy`` receives every
    out-of-dialog request. ``on_call(call)`` is told of each incoming call and
    ``on_refer(call, refer_to)`` of each accepted REFER (the application
    starts the new call and reports with :meth:`notify_refer`).
    """

    kind = "UserAgent"
    _dialogs: dict[DialogId, Call]
    _invites: dict[ServerInviteTransaction, Call]
    _handlers: dict[Transaction, tuple[ClientRequest, ResponseHandler]]

    def __init__(
        self,
        clock: Clock,
        local: Address,
        *,
        user: str = "ua",
        transport: Transport | None = None,
        config: TimerConfig | None = None,
        seed: int = 0,
        policy: AnswerPolicy | None = None,
        capabilities: Capabilities | None = None,
        media_port: int = 40000,
        key_source: Callable[[int], bytes] | None = None,
        credentials: DigestClient | None = None,
        authenticator: DigestAuthenticator | None = None,
        session_timer: SessionTimerConfig | None = None,
        outbound_proxy: Address | None = None,
        body_types: tuple[str, ...] = (SDP, "message/sipfrag", "application/dtmf-relay"),
    ) -> None:
        self.user = user
        self.config = config if config is not None else TimerConfig()
        super().__init__(
            clock, local, user=user, transport=transport, timers=self.config, seed=seed
        )
        self.policy = policy if policy is not None else AnswerPolicy()
        self.capabilities = capabilities
        self.media_port = media_port
        self.key_source: Callable[[int], bytes] = (
            key_source if key_source is not None else self._rng.randbytes
        )
        self.credentials = credentials
        self.authenticator = authenticator
        self.session_timer = session_timer
        self.outbound_proxy = outbound_proxy
        extensions = frozenset({"timer"}) if session_timer is not None else frozenset()
        self.uas_policy = UasPolicy(extensions=extensions, body_types=body_types)
        self.stats = UAStats()
        self.on_call: Callable[[Call], object] | None = None
        self.on_refer: Callable[[Call, NameAddr], object] | None = None
        self._glare = Glare(self)
        self._uac = InviteClient(self)
        self._uas = InviteServer(self)
        self._in_dialog_requests = InDialogRequests(self)
        self._session_timers = SessionTimers(self)
        self._registrations = Registrations(self)

    # -- calls (:class:`.InviteClient`) ------------------------------------------------------

    def invite(
        self,
        target: URI | str,
        *,
        from_: str | None = None,
        sdp: SessionDescription | bytes | None = None,
        headers: Headerish = (),
        dest: Address | None = None,
        on_event: Callable[[Call, object], object] | None = None,
        call_id: str | None = None,
    ) -> Call:
        """Call ``target``; returns the :class:`Call` whose events report progress
        (:meth:`.InviteClient.invite` says how ``sdp``, ``dest`` and ``call_id`` are used)."""
        return self._uac.invite(target, from_=from_, sdp=sdp, headers=headers, dest=dest,
                                on_event=on_event, call_id=call_id)

    def cancel(self, call: Call) -> bool:
        """Cancel an unanswered outgoing call (§9.1); False when it is too late."""
        return self._uac.cancel(call)

    def bye(self, call: Call) -> ClientRequest:
        """End an established call (§15.1.1); the session ends at once."""
        return self._uac.bye(call)

    def _send_ack(self, call: Call, dialog: Dialog, body: bytes = b"") -> None:
        self._uac.send_ack(call, dialog, body)

    def _end(self, call: Call, detail: str) -> None:
        self._uac.end(call, detail)

    # -- requests in an established call (:class:`.InDialogRequests`) -----------------------

    def reinvite(
        self, call: Call, *, sdp: SessionDescription | None = None, headers: Headerish = ()
    ) -> ClientRequest:
        """Send a re-INVITE (target refresh, new offer, or session refresh, §14.1); without
        ``sdp`` it offers the call's SDP (:meth:`.InDialogRequests.reinvite`)."""
        return self._in_dialog_requests.reinvite(call, sdp=sdp, headers=headers)

    def hold(self, call: Call, *, direction: str = "sendonly") -> ClientRequest:
        """Put the call on hold (RFC 3264 §8.4): a re-INVITE offering ``direction``."""
        return self._in_dialog_requests.hold(call, direction=direction)

    def update(
        self, call: Call, *, sdp: SessionDescription | None = None, headers: Headerish = ()
    ) -> ClientRequest:
        """Send an UPDATE (RFC 3311): a target refresh or session refresh."""
        return self._in_dialog_requests.update(call, sdp=sdp, headers=headers)

    def info(
        self, call: Call, body: bytes = b"", content_type: str | None = None, headers: Headerish = ()
    ) -> ClientRequest:
        """Send an INFO (RFC 6086) in the call's dialog."""
        return self._in_dialog_requests.info(call, body, content_type, headers)

    def refer(self, call: Call, refer_to: str, *, headers: Headerish = ()) -> ClientRequest:
        """Ask the peer to call ``refer_to`` (RFC 3515); its NOTIFYs set ``call.refer_status``."""
        return self._in_dialog_requests.refer(call, refer_to, headers=headers)

    def notify_refer(self, call: Call, status: int, reason: str | None = None) -> ClientRequest:
        """Report a REFER's progress to the referrer: a NOTIFY with a sipfrag status line."""
        return self._in_dialog_requests.notify_refer(call, status, reason)

    # -- registration, glare, session timers (their collaborators) --------------------------

    def register(
        self, registrar: URI | str, *, aor: str, expires: int = 3600, dest: Address | None = None
    ) -> Registration:
        """Register this UA's Contact for ``aor`` and keep refreshing it (§10.2)."""
        return self._registrations.register(registrar, aor=aor, expires=expires, dest=dest)

    def abandon(self, client: ClientRequest) -> bool:
        """Give up a re-INVITE or UPDATE not sent yet: one waiting out T after a 491 gets
        that 491 as its final response, one waiting for the change in progress a 487
        (``on_response`` hears it). False when it is not waiting."""
        return self._glare.abandon(client)

    def rephase_session(self, call: Call, fraction: float) -> bool:
        """Move the call's next session refresh to ``fraction`` (0 to 1) of the half
        interval from now, when this UA is its refresher; False when it is not
        (:meth:`.SessionTimers.rephase`)."""
        return self._session_timers.rephase(call, fraction)

    @property
    def dialogs(self) -> int:
        """Dialogs alive now (early and confirmed)."""
        return len(self._dialogs)

    # -- the TU callbacks ---------------------------------------------------------------

    def _request_received(self, transaction: Transaction | None, request: Request) -> None:
        method = request.method
        if method == "ACK":
            self._uas.ack_received(request)
            return
        self.stats.requests_received[method] += 1
        assert isinstance(transaction, ServerTransaction)
        if self._rejected(transaction, request):
            return
        if method == "CANCEL":
            assert isinstance(transaction, ServerNonInviteTransaction)
            self._uas.cancel_received(transaction, request)
            return
        if request.to_tag is not None:
            self._in_dialog_requests.received(transaction, request)
            return
        if method == "INVITE":
            assert isinstance(transaction, ServerInviteTransaction)
            self._uas.invite_received(transaction, request)
        elif method == "OPTIONS":
            self._respond(
                transaction,
                request,
                200,
                to_tag=self._new_tag(),
                headers=self._capability_headers(),
            )
        elif method in DIALOG_METHODS:
            self._respond(transaction, request, 481, to_tag=self._new_tag())
        elif method in KNOWN_METHODS or method in ("REGISTER", "SUBSCRIBE", "MESSAGE", "PUBLISH"):
            self._respond(
                transaction, request, 405, to_tag=self._new_tag(), headers=[("Allow", ALLOW)]
            )
        else:
            self._respond(
                transaction, request, 501, to_tag=self._new_tag(), headers=[("Allow", ALLOW)]
            )

    def response_received(self, transaction: Transaction | None, response: Response) -> None:
        self.stats.responses_received[response.status] += 1
        super().response_received(transaction, response)

    # -- what every side of a call uses ------------------------------------------------------

    def _call(self, role: str, call_id: str) -> Call:
        return Call(self, role, call_id)

    def _offer(self) -> SessionDescription:
        caps = self.capabilities
        assert caps is not None
        return offer(
            caps.codecs,
            address=self.local.host,
            port=self.media_port,
            ptime=caps.ptime,
            srtp_suite=caps.srtp_suites[0] if caps.srtp_suites else None,
            key_source=self.key_source,
        )

    def _answer(self, remote: SessionDescription) -> SessionDescription | None:
        if self.capabilities is None:
            return None
        return answer(
            remote,
            self.capabilities,
            address=self.local.host,
            port=self.media_port,
            key_source=self.key_source,
        )

    def _contact(self) -> list[tuple[str, object]]:
        return [("Contact", f"<{self.contact}>")]

    def _capability_headers(self) -> list[tuple[str, object]]:
        headers: list[tuple[str, object]] = [("Allow", ALLOW), ("Accept", SDP)]
        if self.session_timer is not None:
            headers.append(("Supported", "timer"))
        return headers

    # -- what the element counts and does for this UA -------------------------------------

    def _no_ack(self, call: Call) -> None:
        self.stats.ack_timeouts += 1
        if call.state is CallState.CONFIRMED:
            self._in_dialog(call, "BYE")
            self._end(call, "no ACK")

    def _on_response_sent(self, status: int) -> None:
        self.stats.responses_sent[status] += 1

    def _on_ok_resent(self) -> None:
        self.stats.ok_retransmissions += 1

    def _on_ack_resent(self) -> None:
        self.stats.ack_retransmissions += 1

    def _on_malformed_dropped(self) -> None:
        self.stats.malformed_dropped += 1
