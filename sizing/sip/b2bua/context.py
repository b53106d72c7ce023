"""What each feature of the B2BUA may use of it: one Protocol per collaborator.

The B2BUA core (:mod:`.core`) owns the legs: it starts them, ACKs, cancels and
hangs them up, answers requests and keeps the dialog table. Its features are
objects it holds (re-connects and recording, attended transfer, conferences,
re-INVITE glare, the session-timer relay), each built with the B2BUA as its
context and typed here by exactly the part of it that feature uses, so a
feature's dependencies are read in one place and checked by mypy instead of
being attributes it expects another mixin to have defined.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from random import Random
from typing import TYPE_CHECKING, Protocol

from ..ua.context import Responding

if TYPE_CHECKING:
    from ..dialog import Dialog, DialogId
    from ..element import AckState
    from ..headers import NameAddr
    from ..interfaces import Address, Clock
    from ..message import Request, Response
    from ..transaction import ClientTransaction, ServerTransaction
    from .call import BridgedCall, Leg
    from .glare import ReinviteGlare
    from .policy import B2BUAConfig, B2BUAStats, RoutingPolicy, Target
    from .session_timer import SessionTimerRelay
    from .transfer import Transfers

__all__ = [
    "AttendedContext",
    "ConferenceContext",
    "GlareContext",
    "LegFlows",
    "ReconnectContext",
    "ReferAnswers",
    "Responder",
    "SessionTimerContext",
]

Handler = Callable[["ClientTransaction | None", "Response"], None]


class Responder(Responding, Protocol):
    """Answers requests on server transactions, and reads the clock."""

    @property
    def clock(self) -> Clock: ...


class SessionTimerContext(Responder, Protocol):
    """The session-timer relay answers the refreshes it held; nothing else."""


class GlareContext(Responder, Protocol):
    """The glare handling sends re-INVITEs in a leg's dialog and waits a random T."""

    @property
    def stats(self) -> B2BUAStats: ...

    @property
    def _rng(self) -> Random: ...

    def _in_dialog(
        self,
        leg: Leg,
        method: str,
        handler: Handler | None = None,
        *,
        headers: Iterable[tuple[str, object]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Request: ...

    def _repeat_ack(self, state: AckState) -> bool: ...


class LegFlows(Protocol):
    """What every flow that adds, moves or drops legs of a call uses: the legs' life
    cycle, the SDP towards leg A, re-INVITEs (with glare) and the session timer."""

    @property
    def clock(self) -> Clock: ...

    @property
    def config(self) -> B2BUAConfig: ...

    @property
    def stats(self) -> B2BUAStats: ...

    @property
    def _glare(self) -> ReinviteGlare: ...

    @property
    def _session_timers(self) -> SessionTimerRelay: ...

    def _start_leg(
        self,
        call: BridgedCall,
        role: str,
        target: Target,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, object]] = (),
        first: bool = False,
    ) -> Leg: ...

    def _send_ack(self, leg: Leg, body: bytes = b"", content_type: str | None = None) -> None: ...

    def _bye(self, leg: Leg) -> None: ...

    def _cancel_leg(self, leg: Leg) -> None: ...

    def _hang_up(self, call: BridgedCall, detail: str) -> None: ...

    def _to_a(self, leg: Leg, body: bytes) -> bytes: ...

    def _state(self, call: BridgedCall, kind: str) -> None: ...


class ReferAnswers(Responder, Protocol):
    """Answering a REFER: 202 with the leg's Contact, then NOTIFYs (RFC 3515 §2.4.5)."""

    def _contact(self, leg: Leg) -> str: ...

    def _notify(
        self, leg: Leg, status: int, reason: str | None, *, final: bool,
        then: Callable[[], object] | None = None,
    ) -> None: ...


class ReconnectContext(LegFlows, ReferAnswers, Protocol):
    """Re-connects (IVR to agent, transfer, REFER) and recording: routing after the IVR,
    the REFER and its NOTIFYs, and a REFER with Replaces handed to attended transfer."""

    @property
    def routing(self) -> RoutingPolicy: ...

    @property
    def _attended(self) -> Transfers: ...

    def _refer_to(self, txn: ServerTransaction, request: Request) -> NameAddr | None: ...

    def _next_hop(self, dialog: Dialog) -> Address: ...

    def _reconnect(self, call: BridgedCall, target: Target, role: str) -> Leg: ...


class AttendedContext(LegFlows, ReferAnswers, Protocol):
    """Attended transfer also reads the dialog table (the Replaces names a dialog) and
    ends the consultation call it joins."""

    @property
    def _dialogs(self) -> dict[DialogId, Leg]: ...

    def _finish(self, call: BridgedCall, state: str, detail: str) -> None: ...


class ConferenceContext(LegFlows, Protocol):
    """Conferences need only the leg flows."""
