"""Session timers (RFC 4028): negotiating the interval, refreshing, and expiry.

Owns the refresher's periodic re-INVITE or UPDATE at half the interval
(§7.4, §10), the other side's BYE when no refresh comes before the interval
minus the smaller of 32 s and a third of it (§10), and the UAS's choice of
interval, refresher and 422 (§9). A refresh that meets glare (491) is sent
again after the RFC 3261 §14.1 wait (:mod:`.glare`), and a re-INVITE refresh
due while another INVITE is in progress waits for it (as every re-INVITE
does), so a crossed refresh never lets the session expire.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import HeaderError
from ..headers import SessionExpires
from ..message import Request, Response
from .call import Call
from .model import CallState

if TYPE_CHECKING:
    from .context import SessionTimerContext

__all__ = ["SessionTimers"]


class SessionTimers:
    """RFC 4028 session timers of a :class:`~sizing.sip.ua.UserAgent` (its ``_session_timers``)."""

    def __init__(self, ua: SessionTimerContext) -> None:
        self.ua = ua

    def from_response(self, call: Call, response: Response) -> None:
        """Start or restart the session timer from a 2xx to our INVITE/UPDATE (§7.2)."""
        if self.ua.session_timer is None:
            return
        value = response.headers.get("Session-Expires")
        if value is None:
            self.stop(call)
            return
        try:
            se = SessionExpires.parse(value)
        except HeaderError:
            return
        self.arm(call, se.delta, (se.refresher or "uac") == "uac")

    def arm(self, call: Call, interval: int, we_refresh: bool) -> None:
        self.stop(call)
        call.session_interval = interval
        call.session_refresher = we_refresh
        if we_refresh:
            call.session_timer = self.ua.clock.call_later(
                interval / 2, lambda: self._refresh(call)
            )
        else:
            before = min(32.0, interval / 3)
            call.session_timer = self.ua.clock.call_later(
                interval - before, lambda: self._expired(call)
            )

    def rephase(self, call: Call, fraction: float) -> bool:
        """Move the call's next refresh to ``fraction`` (0 to 1) of the half interval from
        now, when this UA is its refresher; False when it is not. Calls set up at one
        instant (a steady-state start) then refresh at phases spread as calls that arrived
        over time do, instead of all together."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"rephase_session(): fraction must be within [0, 1], got {fraction!r}")
        if call.session_timer is None or not call.session_refresher or call.session_interval is None:
            return False
        call.session_timer.cancel()
        call.session_timer = self.ua.clock.call_later(
            fraction * call.session_interval / 2, lambda: self._refresh(call)
        )
        return True

    def stop(self, call: Call) -> None:
        if call.session_timer is not None:
            call.session_timer.cancel()
            call.session_timer = None

    def _headers(self, interval: int, refresher: str) -> list[tuple[str, object]]:
        timer = self.ua.session_timer
        assert timer is not None
        return [
            ("Session-Expires", f"{interval};refresher={refresher}"),
            ("Min-SE", str(timer.min_se)),
        ]

    def _refresh(self, call: Call) -> None:
        call.session_timer = None
        if call.state is not CallState.CONFIRMED or self.ua.session_timer is None:
            return
        self.ua.stats.session_refreshes += 1
        headers = self._headers(call.session_interval or self.ua.session_timer.expires, "uac")
        call._event("refreshed", detail=self.ua.session_timer.method)
        if self.ua.session_timer.method == "UPDATE":
            self.ua.update(call, headers=headers)
        else:
            self.ua.reinvite(call, headers=headers)

    def _expired(self, call: Call) -> None:
        call.session_timer = None
        if call.state is not CallState.CONFIRMED:
            return
        self.ua.stats.session_expiries += 1
        self.ua._in_dialog(call, "BYE", headers=[("Reason", 'SIP;cause=408;text="Session expired"')])
        self.ua._end(call, "session expired")

    def uas_session(
        self, request: Request
    ) -> tuple[int | None, list[tuple[str, object]], tuple[int, bool] | None]:
        """RFC 4028 §9 at the UAS: (a rejection status, headers for the response, (interval,
        we refresh)). 422 comes with our Min-SE when the asked interval is too small."""
        timer = self.ua.session_timer
        if timer is None:
            return None, [], None
        supported = any(t.strip().lower() == "timer" for t in request.headers.get_all("Supported"))
        value = request.headers.get("Session-Expires")
        if value is not None:
            try:
                se = SessionExpires.parse(value)
            except HeaderError:
                return 400, [], None
            if se.delta < timer.min_se:
                return 422, [("Min-SE", str(timer.min_se))], None
            interval = min(se.delta, max(timer.expires, timer.min_se))
            refresher = se.refresher or ("uac" if supported else "uas")
        elif supported or request.method == "INVITE":
            interval = timer.expires
            refresher = "uac" if supported else "uas"
        else:
            return None, [], None
        headers: list[tuple[str, object]] = [
            ("Session-Expires", f"{interval};refresher={refresher}")
        ]
        if refresher == "uac":
            headers.append(("Require", "timer"))
        return None, headers, (interval, refresher == "uas")
