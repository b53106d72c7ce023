"""Re-connecting the caller and recording: the contact-centre features of the B2BUA.

Re-connecting A to a new party (IVR then agent, :meth:`B2BUA.transfer`, a
REFER from the agent) is RFC 3725 Flow I: an INVITE without SDP to the new
party; its 2xx offer goes to A in a re-INVITE; A's answer goes in the new
party's ACK; then the old leg is released with BYE. A REFER is answered 202
and NOTIFYs carrying a sipfrag report the outcome (RFC 3515 §2.4.5). A REFER
on leg A (a carrier moving the call) re-connects the party A is bridged to
instead: the new leg goes out along A's route set, and A is released. A
recorder leg gets A's offer marked sendonly and is hung up with the call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import HeaderError
from ..message import Response
from ..sdp import DIRECTIONS, SdpError, SessionDescription
from ..transaction import ServerTransaction
from ..uri import URI
from .call import BridgedCall, Leg
from .policy import Target
from .replaces import replaces_of

if TYPE_CHECKING:
    from ..message import Request
    from .context import ReconnectContext

__all__ = ["Features"]

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY"
SDP = "application/sdp"
SIPFRAG = "message/sipfrag;version=2.0"


def is_sdp(message: Request | Response) -> bool:
    """True when ``message`` carries an SDP body (no Content-Type counts as SDP)."""
    ctype = message.content_type
    return bool(message.body) and (ctype is None or f"{ctype.type}/{ctype.subtype}".lower() == SDP)


MIRRORED = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
"""The direction an answer gives a stream offered with each direction (RFC 3264 §6.1)."""


def directions(body: bytes) -> list[str]:
    """The effective direction of each media section of an SDP ``body``; SdpError if bad."""
    sdp = SessionDescription.parse(body)
    return [sdp.direction_of(media) for media in sdp.media]


def with_directions(body: bytes, direction: str | list[str], *, new_version: bool = False) -> bytes:
    """``body`` (SDP) with each stream's direction set: one for all, or one per media
    section in order; ``new_version`` moves the o= version on, as a changed description
    must (RFC 3264 §8). SdpError if ``body`` is not SDP."""
    sdp = SessionDescription.parse(body)
    chosen = [direction] * len(sdp.media) if isinstance(direction, str) else direction
    session_default = sdp.direction
    sdp.attributes = [a for a in sdp.attributes if a.name not in DIRECTIONS]
    for index, media in enumerate(sdp.media):
        wanted = chosen[index] if index < len(chosen) else media.direction or session_default
        media.attributes = [a for a in media.attributes if a.name not in DIRECTIONS]
        media.add(wanted)
    if new_version:
        sdp.origin.sess_version += 1
    return sdp.encode()


def sendonly(body: bytes) -> bytes:
    """``body`` (an SDP offer) with every stream marked sendonly, for a recorder."""
    return with_directions(body, "sendonly")


class Features:
    """Re-connects of the caller (IVR to agent, transfer, REFER) and recording; held by
    the B2BUA as its ``_reconnects``."""

    def __init__(self, b2bua: ReconnectContext) -> None:
        self.b2bua = b2bua

    # -- re-connecting A (IVR -> agent, transfer, REFER): RFC 3725 Flow I ----------------------

    def transfer(self, call: BridgedCall, target: Target | URI | str) -> Leg:
        """Re-connect the caller of a bridged ``call`` to ``target``; the old leg B is
        released once the new one is up. Returns the new leg."""
        if call.state != "bridged":
            raise ValueError(f"transfer(): call #{call.number} is {call.state}, not bridged")
        if call.pending is not None:
            raise ValueError(f"transfer(): call #{call.number} already has a transfer in progress")
        if not isinstance(target, Target):
            target = Target(target if isinstance(target, URI) else URI.parse(target))
        return self.b2bua._reconnect(call, target, "agent")

    def after_ivr(self, call: BridgedCall) -> None:
        try:
            decision = self.b2bua.routing.route(call.request)
        except Exception:
            self.b2bua._hang_up(call, "routing failed after IVR")
            raise
        if isinstance(decision, Target):
            self.b2bua._reconnect(call, decision, "agent")
        else:
            self.b2bua._hang_up(call, "no agent after IVR")

    def reconnect(self, call: BridgedCall, target: Target, role: str) -> Leg:
        """Flow I step 1: INVITE without SDP to the new party."""
        headers = [
            *self.b2bua.config.headers.select(call.request.headers),
            *self.b2bua._session_timers.new_leg_headers(call),
        ]
        leg = self.b2bua._start_leg(call, role, target, headers=headers)
        call.pending = leg
        leg.on_answer = self._answered
        leg.on_fail = self._failed
        return leg

    def _answered(self, leg: Leg, response: Response) -> None:
        """Flow I steps 2-3: the new party's offer goes to A in a re-INVITE."""
        call = leg.call
        if not is_sdp(response) or not call.a.confirmed:
            self.b2bua._send_ack(leg)
            self.b2bua._bye(leg)
            self._failed(leg, 488 if call.a.confirmed else 481, response)
            return
        a = call.a
        body = self.b2bua._to_a(a, response.body)
        self.b2bua._glare.reinvite(
            a,
            lambda r: self._a_reinvited(leg, r),
            lambda: call.pending is leg and leg.live,
            headers=[("Allow", ALLOW), *self.b2bua._session_timers.reinvite_a_headers(call)],
            body=body,
            content_type=SDP,
        )

    def _a_reinvited(self, leg: Leg, response: Response) -> None:
        """Flow I steps 4-5: ACK A, ACK the new party with A's answer, release the old leg."""
        status = response.status
        call = leg.call
        a = call.a
        assert a.dialog is not None
        if status >= 300:
            if call.pending is not leg:
                return
            self.b2bua._bye(leg)
            self._failed(leg, status, response)
            if a.dialog.terminated and not call.ended:
                self.b2bua._hang_up(call, f"{status} to re-INVITE")
            return
        self.b2bua._send_ack(a)
        if call.pending is not leg:  # the call ended or gave this party up meanwhile
            return
        if not leg.live:  # the new party hung up meanwhile
            call.pending = None
            self._failed(leg, 487, response)
            return
        self.b2bua._send_ack(leg, response.body, response.headers.get("Content-Type"))
        old, call.b, call.pending = call.b, leg, None
        call.transfers += 1
        self.b2bua.stats.transfers += 1
        call.events.append(
            (self.b2bua.clock.now(), f"reconnected to {leg.role} {leg.target.uri if leg.target else ''}")
        )
        referrer, call.refer_leg = call.refer_leg, None
        if referrer is not None and referrer.confirmed:
            self.b2bua._notify(referrer, 200, "OK", final=True)
        if old is not None and old.confirmed:
            self.b2bua._bye(old)
        elif old is not None and old.live:
            self.b2bua._cancel_leg(old)
        self.b2bua._session_timers.release_held(call)

    def _failed(self, leg: Leg, status: int, response: Response) -> None:
        call = leg.call
        if call.pending is leg:
            call.pending = None
        self.b2bua.stats.transfers_failed += 1
        call.events.append((self.b2bua.clock.now(), f"reconnect to {leg.role} failed {status}"))
        referrer, call.refer_leg = call.refer_leg, None
        if referrer is not None and referrer.confirmed:
            self.b2bua._notify(referrer, status, response.reason, final=True)
        if call.ended:
            return
        b = call.b
        if b is None or not b.live:
            self.b2bua._hang_up(call, f"no leg to reconnect to ({status})")
        else:
            self.b2bua._session_timers.release_held(call)  # the refreshes held for the new party go to the old one

    def refer_received(self, leg: Leg, txn: ServerTransaction, request: Request) -> None:
        call = leg.call
        if leg is call.a and call.state == "bridged" and call.conference is None:
            self._caller_refer(leg, txn, request)
            return
        if leg is not call.b or call.state != "bridged":
            self.b2bua._respond(txn, request, 403, reason="Only the connected agent may transfer")
            return
        if call.pending is not None:
            self.b2bua._respond(txn, request, 491, headers=[("Retry-After", "1")])
            return
        refer_to = self.b2bua._refer_to(txn, request)
        if refer_to is None:
            return
        try:
            assert refer_to.uri is not None
            target = Target(refer_to.uri.replace(headers={}))
        except (HeaderError, ValueError, AssertionError) as exc:
            self.b2bua._respond(txn, request, 400, reason=f"Bad Refer-To: {exc}"[:100])
            return
        replaces = replaces_of(refer_to.uri)
        if replaces is not None:  # attended transfer (RFC 5589 §7): see .transfer
            self.b2bua._attended.refer_replaces(leg, txn, request, refer_to, replaces)
            return
        assert leg.dialog is not None
        leg.dialog.refresh_target(request)
        self.b2bua._respond(txn, request, 202, headers=[("Contact", self.b2bua._contact(leg))])
        call.refer_leg = leg
        call.events.append((self.b2bua.clock.now(), f"REFER to {target.uri}"))
        self.b2bua._notify(leg, 100, "Trying", final=False)
        self.b2bua._reconnect(call, target, "agent")

    def _caller_refer(self, leg: Leg, txn: ServerTransaction, request: Request) -> None:
        """A REFER on leg A: the caller's side (a carrier trunk) moves the call (RFC 3515).

        The SIP Server is the referee for the party leg A is bridged to: it answers 202 and
        NOTIFY 100, places a new leg to the Refer-To target along leg A's route set (back
        out the way the call came in: the same proxies and SBC, so over the trunk), and
        re-connects that party to it by RFC 3725 Flow I; once it is up, leg A gets NOTIFY
        200 and BYE. For the re-connect the staying party's leg becomes the call's leg A
        (it keeps the SDP origin it has seen) and the referrer's leg its leg B, the leg a
        re-connect replaces."""
        call = leg.call
        b = call.b
        if call.pending is not None or b is None or not b.confirmed:
            self.b2bua._respond(txn, request, 491, headers=[("Retry-After", "1")])
            return
        refer_to = self.b2bua._refer_to(txn, request)
        if refer_to is None:
            return
        if refer_to.uri is not None and replaces_of(refer_to.uri) is not None:
            self.b2bua._respond(txn, request, 403, reason="Replaces from the caller's side is not supported")
            return
        dialog = leg.dialog
        assert dialog is not None
        try:
            assert refer_to.uri is not None
            routes = tuple(("Route", route) for route in dialog.route_set)
            dest = self.b2bua._next_hop(dialog) if routes else None
            target = Target(refer_to.uri.replace(headers={}), dest=dest, headers=routes)
        except (HeaderError, ValueError, AssertionError) as exc:
            self.b2bua._respond(txn, request, 400, reason=f"Bad Refer-To: {exc}"[:100])
            return
        dialog.refresh_target(request)
        self.b2bua._respond(txn, request, 202, headers=[("Contact", self.b2bua._contact(leg))])
        _seen_from(b, call.request.body)
        call.a, call.b = b, leg
        call.refer_leg = leg
        call.events.append((self.b2bua.clock.now(), f"REFER from the caller to {target.uri}"))
        self.b2bua._notify(leg, 100, "Trying", final=False)
        self.b2bua._reconnect(call, target, "referred")

    # -- recording -----------------------------------------------------------------------

    def start_recording(self, call: BridgedCall) -> None:
        target = self.b2bua.config.recorder
        assert target is not None
        source = call.request.body if is_sdp(call.request) else b""
        try:
            body = sendonly(source) if source else b""
        except SdpError:
            body = b""
        if not body:
            self.b2bua.stats.recordings_failed += 1
            call.events.append((self.b2bua.clock.now(), "recording skipped: no SDP offer from A"))
            return
        headers = [("X-Recording-Call-ID", call.request.call_id or "")]
        leg = self.b2bua._start_leg(
            call, "recorder", target, body=body, content_type=SDP, headers=headers
        )
        call.recorder = leg
        leg.on_answer = self._recording_answered
        leg.on_fail = self._recording_failed

    def _recording_answered(self, leg: Leg, response: Response) -> None:
        self.b2bua.stats.recordings += 1

    def _recording_failed(self, leg: Leg, status: int, response: Response) -> None:
        self.b2bua.stats.recordings_failed += 1


def _seen_from(leg: Leg, offer: bytes) -> None:
    """Start ``leg``'s :class:`~.call.OriginSeen` at the o= line of ``offer``, the caller's
    SDP its party has seen, so that what is relayed to it next keeps that origin."""
    if leg.seen.origin is not None or not offer:
        return
    try:
        origin = SessionDescription.parse(offer).origin
    except SdpError:
        return
    leg.seen.origin, leg.seen.incoming = origin, str(origin)
