"""Registration refresh: endpoints and registered agents keep a binding at a registrar.

Not a call flow of the mix but background load. Each binding is refreshed every
``endpoints.expiry_s`` (the UA re-registers itself); its first REGISTER falls at a
phase uniform over one expiry, so a run sees ``count / expiry`` REGISTERs per second
from the start, as the closed form counts them. Each device also keeps its binding
alive (:mod:`.keepalive`) at a phase of its own over the keep-alive interval. A
device's registrar is chosen by a hash of its address of record.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from . import keepalive
from .base import DOMAIN

if TYPE_CHECKING:
    from ..sim.flows.driver import CallCentre

__all__ = ["MESSAGES", "start"]

MESSAGES = {"REGISTER": 1, "200 REGISTER": 1}
"""One refresh's messages, as the closed form counts them (every ``expiry_s`` per device)."""


def start(centre: CallCentre) -> None:
    """Schedule every device's registrations and keep-alives over the run."""
    from ..sip.uri import URI

    topo, scenario = centre.topo, centre.scenario
    if not topo.registrars:
        return
    ep = scenario.endpoints
    groups = []
    if topo.endpoints is not None:
        groups.append((topo.endpoints, "phone", ep.count))
    if scenario.agents.registered and scenario.agents.count > 0:
        groups.append((topo.agents, "agent", scenario.agents.count))
    expiry = max(int(ep.expiry_s), 1)
    keep = ep.keepalive
    clock, end, rng = centre.clock, centre.end, centre.reg_rng
    for ua, user, count in groups:
        offsets = (rng.random(count) * float(expiry)).tolist()
        phases = (rng.random(count) * keep.interval_s).tolist()
        for i, (offset, phase) in enumerate(zip(offsets, phases, strict=True)):
            aor = f"sip:{user}{i}@{DOMAIN}"
            dest = topo.registrars[zlib.crc32(aor.encode()) % len(topo.registrars)]
            if offset < end:
                clock.call_later(offset, lambda ua=ua, aor=aor, dest=dest: ua.register(
                    URI("sip", host=DOMAIN), aor=aor, expires=expiry, dest=dest))
            if keep.method != "none" and phase < end:
                clock.call_later(phase, lambda ua=ua, dest=dest: keepalive.send(
                    centre, ua, dest, keep.method, keep.interval_s))
