"""Keep-alive: a registered device tells its registrar (and NATs on the way) it is there.

Not a call flow of the mix but background load: every ``endpoints.keepalive.interval_s``
each device sends OPTIONS (answered 200) or a CRLF ping (RFC 5626's CRLF keep-alive, no SIP
message), from a phase of its own (:mod:`.registration` draws it) to the run's end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import DOMAIN

if TYPE_CHECKING:
    from ..sim.flows.driver import CallCentre
    from ..sip.interfaces import Address

__all__ = ["MESSAGES", "send"]

MESSAGES = {"OPTIONS": 1, "200 OPTIONS": 1}
"""One OPTIONS keep-alive's messages, as the closed form counts them (a CRLF ping is no
SIP message)."""


def send(centre: CallCentre, ua: Any, dest: Address, method: str, interval: float) -> None:
    """One keep-alive of ``ua`` to ``dest``, and the next one ``interval`` later."""
    from ..sip.uri import URI

    if method == "options":
        replayer = centre.replayer  # the hybrid engine replays the recorded OPTIONS
        group = "phone" if ua is centre.topo.endpoints else "agent"
        if replayer is None or not replayer.keepalive(group, dest):
            ua.options(URI("sip", host=DOMAIN), dest=dest)
    else:
        ua.transport.send(b"\r\n\r\n", dest)
    if centre.clock.now() + interval < centre.end:
        centre.clock.call_later(interval, lambda: send(centre, ua, dest, method, interval))
