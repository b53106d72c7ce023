"""The handles of a bridged call: its legs (one SIP dialog each) and the call itself."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..dialog import Dialog, DialogSet
    from ..interfaces import Address, TimerHandle
    from ..message import Request, Response
    from ..sdp import Origin
    from ..transaction import ServerInviteTransaction
    from .conference import Conference
    from .policy import Target
    from .session_timer import HeldRefresh

__all__ = ["BridgedCall", "Cancelling", "Leg", "LegState", "OriginSeen", "SessionTimerState"]


class LegState(Enum):
    CALLING = "calling"
    EARLY = "early"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    ENDED = "ended"


class Cancelling:
    """Giving up an outbound leg (RFC 3261 §9.1): a CANCEL may only follow its first
    provisional, so one asked for earlier waits; a 2xx that still comes is hung up."""

    __slots__ = ("provisional_seen", "requested", "pending", "sent")

    def __init__(self) -> None:
        self.provisional_seen = False
        self.requested = False
        """The B2BUA gave this leg up; a CANCEL is sent (or pending) and a late 2xx is hung up."""
        self.pending = False
        self.sent = False


class OriginSeen:
    """The SDP origin a leg's party has seen from the B2BUA: one o= line kept across
    re-connects, its version moved on with each new description (RFC 3264 §8)."""

    __slots__ = ("origin", "incoming")

    def __init__(self) -> None:
        self.origin: Origin | None = None
        self.incoming: str | None = None
        """The o= line of the last description relayed on this leg, as received."""


class SessionTimerState:
    """A call's RFC 4028 session timer as negotiated end to end."""

    __slots__ = ("interval", "refresher", "min_se")

    def __init__(self) -> None:
        self.interval: int | None = None
        """The session interval in force on leg A (None: no session timer)."""
        self.refresher: str | None = None
        """Which side refreshes the session: ``caller`` (leg A's party) or ``callee``."""
        self.min_se: int | None = None
        """The caller's Min-SE, passed to parties the call is re-connected to."""


class Leg:
    """One dialog of a bridged call.

    ``role`` is ``caller`` (leg A: the B2BUA is its UAS) or, for legs the
    B2BUA places as UAC, ``agent``, ``ivr``, ``recorder``, ``participant`` (a
    conferenced party) or ``bridge`` (a leg to a conference mixer). ``on_answer``,
    ``on_fail`` and ``on_provisional`` are the flow's callbacks for a UAC leg.

    The fields the element's ACK handling reads (``dialog``, ``ack_*``, ``ok_*``:
    :class:`~sizing.sip.element.AckState`) live on the leg; a feature's own state is
    an object of its own: ``cancel`` (:class:`Cancelling`), ``seen``
    (:class:`OriginSeen`), ``reinvite_out`` for glare (:mod:`.glare`).
    """

    def __init__(self, call: BridgedCall, role: str, target: Target | None = None) -> None:
        self.call = call
        self.role = role
        self.target = target
        self.state = LegState.CALLING
        self.status: int | None = None
        self.dialog: Dialog | None = None
        # UAC leg
        self.invite: Request | None = None
        self.dest: Address | None = None
        self.dialog_set: DialogSet | None = None
        self.cancel = Cancelling()
        self.ring_timer: TimerHandle | None = None
        self.ack_data: bytes | None = None
        self.ack_dest: Address | None = None
        self.on_provisional: Callable[[Leg, Response], object] | None = None
        self.on_answer: Callable[[Leg, Response], object] | None = None
        self.on_fail: Callable[[Leg, int, Response], object] | None = None
        # as UAS of an INVITE (leg A's INVITE, or a relayed re-INVITE on any leg)
        self.server_txn: ServerInviteTransaction | None = None
        self.ok_response: Response | None = None
        self.ok_txn: ServerInviteTransaction | None = None
        self.ok_timer: TimerHandle | None = None
        self.ok_interval = 0.0
        self.ok_elapsed = 0.0
        self.ack_waiter: Leg | None = None
        """A leg whose 2xx waits to be ACKed with the SDP answer this leg's ACK brings."""
        self.reinvite_out: Request | None = None
        """The B2BUA's own re-INVITE on this leg (a re-connect) still without a final response."""
        self.seen = OriginSeen()
        """The SDP origin this leg's party has seen (used on leg A)."""

    def __repr__(self) -> str:
        return f"<Leg {self.role} {self.state.value} status={self.status}>"

    @property
    def live(self) -> bool:
        return self.state in (LegState.CALLING, LegState.EARLY, LegState.CONFIRMED)

    @property
    def confirmed(self) -> bool:
        return self.state is LegState.CONFIRMED


class BridgedCall:
    """One inbound call and the legs the B2BUA built for it.

    ``a`` is the inbound leg; ``b`` the leg it is bridged to now (IVR, then
    agent, then a transfer target); ``pending`` a leg being connected to
    replace ``b``; ``recorder`` the recording leg; ``legs`` every leg ever
    created, in order. ``events`` lists (time, text) of what happened.
    """

    def __init__(self, number: int, request: Request, a: Leg | None = None) -> None:
        self.number = number
        self.request = request
        self.a: Leg = a if a is not None else Leg(self, "caller")
        self.a.call = self
        self.b: Leg | None = None
        self.pending: Leg | None = None
        self.recorder: Leg | None = None
        self.legs: list[Leg] = [self.a]
        self.state = "routing"
        """routing, ringing, bridged, failed or ended."""
        self.held_refreshes: list[HeldRefresh] = []
        """Session refreshes waiting for the re-connect in progress (:mod:`.session_timer`)."""
        self.status: int | None = None
        """The final status sent on leg A."""
        self.refer_leg: Leg | None = None
        """The leg whose REFER started the pending transfer (it gets the NOTIFYs)."""
        self.transfers = 0
        self.conference: Conference | None = None
        """The conference this call became (:meth:`B2BUA.conference`), if any."""
        self.session = SessionTimerState()
        """The RFC 4028 session timer negotiated end to end (:mod:`.session_timer`)."""
        self.events: list[tuple[float, str]] = []

    def __repr__(self) -> str:
        return f"<BridgedCall #{self.number} {self.state} status={self.status}>"

    @property
    def ended(self) -> bool:
        return self.state in ("failed", "ended")

    def roles(self) -> list[str]:
        """The roles of every leg created, in order."""
        return [leg.role for leg in self.legs]
