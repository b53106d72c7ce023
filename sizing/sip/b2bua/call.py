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

__all__ = ["BridgedCall", "Leg", "LegState"]


class LegState(Enum):
    CALLING = "calling"
    EARLY = "early"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    ENDED = "ended"


class Leg:
    """One dialog of a bridged call.

    ``role`` is ``caller`` (leg A: the B2BUA is its UAS) or, for legs the
    B2BUA places as UAC, ``agent``, ``ivr``, ``recorder``, ``participant`` (a
    conferenced party) or ``bridge`` (a leg to a conference mixer). ``on_answer``,
    ``on_fail`` and ``on_provisional`` are the flow's callbacks for a UAC leg.
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
        self.provisional_seen = False
        self.cancelled = False
        """The B2BUA gave this leg up; a CANCEL is sent (or pending) and a late 2xx is hung up."""
        self.cancel_pending = False
        self.cancel_sent = False
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
        self.origin: Origin | None = None
        """The SDP origin this leg's peer has seen from the B2BUA (kept across re-connects)."""
        self.origin_in: str | None = None
        """The o= line of the last description relayed on this leg, as received."""

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
        self.session_interval: int | None = None
        """The RFC 4028 session interval in force on leg A (None: no session timer)."""
        self.session_refresher: str | None = None
        """Which side refreshes the session: ``caller`` (leg A's party) or ``callee``."""
        self.session_min_se: int | None = None
        """The caller's Min-SE, passed to parties the call is re-connected to."""
        self.events: list[tuple[float, str]] = []

    def __repr__(self) -> str:
        return f"<BridgedCall #{self.number} {self.state} status={self.status}>"

    @property
    def ended(self) -> bool:
        return self.state in ("failed", "ended")

    def roles(self) -> list[str]:
        """The roles of every leg created, in order."""
        return [leg.role for leg in self.legs]
