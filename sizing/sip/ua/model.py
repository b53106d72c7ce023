"""What a user agent is configured with and what it reports: policies, events, counters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

from ..sdp import SessionDescription

__all__ = [
    "AnswerPolicy",
    "CallEvent",
    "CallState",
    "SessionTimerConfig",
    "UAStats",
]


@dataclass(frozen=True)
class AnswerPolicy:
    """How the UAS answers a new INVITE; subclass and override :meth:`for_request`
    to vary it per call (by caller, by time of day, at random with a seeded RNG).

    ``status`` is the final answer: 200, or a rejection such as 486 Busy Here
    or 480. ``ring_s`` is how long the UAS rings (180 Ringing, or 183 with SDP
    when ``early_media``) before that final answer. ``trying`` sends 100
    Trying at once rather than leaving it to the transaction's 200 ms rule.
    """

    status: int = 200
    ring_s: float = 0.0
    early_media: bool = False
    trying: bool = True
    ring: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.status, int) or not (
            200 <= self.status < 300 or 300 <= self.status <= 699
        ):
            raise ValueError(
                f"AnswerPolicy.status must be a final status 200-699, got {self.status!r}"
            )
        if not self.ring_s >= 0:
            raise ValueError(f"AnswerPolicy.ring_s must be >= 0 seconds, got {self.ring_s!r}")

    def for_request(self, request: object) -> AnswerPolicy:
        """The policy for one incoming INVITE; this one by default."""
        return self


@dataclass(frozen=True)
class SessionTimerConfig:
    """RFC 4028 session timer settings.

    ``expires`` is the Session-Expires this UA asks for (or grants at most, as
    UAS); ``min_se`` the smallest interval it accepts (422 below it).
    ``refresher`` is the role the UAC asks to refresh ("uac", "uas" or None to
    let the UAS choose). ``method`` is how this UA refreshes: UPDATE (RFC 3311)
    or INVITE.
    """

    expires: int = 1800
    min_se: int = 90
    refresher: str | None = None
    method: str = "UPDATE"

    def __post_init__(self) -> None:
        if self.min_se < 90:
            raise ValueError(
                f"SessionTimerConfig.min_se must be >= 90 (RFC 4028 §5), got {self.min_se}"
            )
        if self.expires < self.min_se:
            raise ValueError(
                f"SessionTimerConfig.expires ({self.expires}) must be >= min_se ({self.min_se})"
            )
        if self.refresher not in (None, "uac", "uas"):
            raise ValueError(
                f"SessionTimerConfig.refresher must be 'uac', 'uas' or None, got {self.refresher!r}"
            )
        if self.method not in ("UPDATE", "INVITE"):
            raise ValueError(
                f"SessionTimerConfig.method must be UPDATE or INVITE, got {self.method!r}"
            )


class CallState(Enum):
    CALLING = "calling"
    """INVITE sent (UAC) or received (UAS), no provisional yet."""
    EARLY = "early"
    """A provisional came (UAC) or went (UAS)."""
    CONFIRMED = "confirmed"
    """Answered with 2xx: the session is up."""
    FAILED = "failed"
    """Ended with a final non-2xx (or a timeout, or CANCEL)."""
    ENDED = "ended"
    """Was up, then ended (BYE, session expiry, missing ACK)."""


@dataclass(frozen=True)
class CallEvent:
    """Something that happened to a call, in time order in ``Call.events``.

    ``kind`` is one of: incoming, provisional, answered, failed, ended,
    refreshed, reinvited, updated, info, refer, notify, glare (a 491 to our
    re-INVITE or UPDATE: ``detail`` names the method, the retry follows), queued
    (our re-INVITE or UPDATE offer waits for the INVITE or offer in progress,
    RFC 3261 §14.1: ``detail`` names the method).
    """

    time: float
    kind: str
    status: int | None = None
    sdp: SessionDescription | None = None
    detail: str = ""


@dataclass
class UAStats:
    """Counters the product measures for one user agent."""

    calls_attempted: int = 0
    calls_answered: int = 0
    calls_failed: Counter[int] = field(default_factory=Counter)
    """Outgoing calls that got a final non-2xx, by status (408 for a timeout)."""
    calls_received: int = 0
    calls_accepted: int = 0
    calls_rejected: Counter[int] = field(default_factory=Counter)
    calls_ended: int = 0
    requests_sent: Counter[str] = field(default_factory=Counter)
    """First transmissions, by method (the transaction layer counts retransmissions)."""
    responses_sent: Counter[int] = field(default_factory=Counter)
    requests_received: Counter[str] = field(default_factory=Counter)
    responses_received: Counter[int] = field(default_factory=Counter)
    ok_retransmissions: int = 0
    """2xx to INVITE re-sent while waiting for the ACK (RFC 3261 §13.3.1.4)."""
    ack_retransmissions: int = 0
    """ACKs re-sent for a retransmitted 2xx (§13.2.2.4)."""
    ack_timeouts: int = 0
    session_refreshes: int = 0
    session_expiries: int = 0
    auth_retries: int = 0
    glare_retries: int = 0
    """Re-INVITEs and UPDATEs sent again after a 491 (RFC 3261 §14.1)."""
    registrations: int = 0
    registration_refreshes: int = 0
    malformed_dropped: int = 0
    """Requests with a field this UA cannot read that got no answer (ACKs: RFC 3261 §17)."""

    def as_dict(self) -> dict[str, int]:
        """Flat counters, one per column (for a DataFrame row)."""
        out: dict[str, int] = {}
        for name, value in vars(self).items():
            if isinstance(value, Counter):
                for key, count in sorted(value.items(), key=lambda kv: str(kv[0])):
                    out[f"{name}_{key}"] = count
            else:
                out[name] = value
        return out
