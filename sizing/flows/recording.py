"""Recording: a share of the calls (``traffic.recording_share``) gets a leg to a recorder.

Not a share of the mix but an option on every answered call. On the full engine the
SIP Server asks the driver, when a call is answered, whether to record it; if so it
calls the recorder of the call (the pool's member by a hash of the Call-ID), which
receives the call's two directions as two one-way streams from the media anchor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import DOMAIN

if TYPE_CHECKING:
    from ..sim.flows.driver import CallCentre
    from ..sip.b2bua import BridgedCall
    from ..sip.interfaces import Address

__all__ = ["record", "with_recorder"]


def record(centre: CallCentre, call: BridgedCall) -> bool:
    """The SIP Server's question for an answered call: record it? (Yes for a call drawn
    for recording, when there is a recorder: the server is pointed at the call's one.)"""
    fc = centre.calls.get(call.request.call_id or "")
    topo = centre.topo
    if fc is None or not fc.recorded or not topo.recorders:
        return False
    server = fc.server
    recorder = topo.host_of_call(topo.recorders, fc.key)
    if server is not None:
        server.config = with_recorder(server.config, recorder.address)
    centre.record_media(fc, recorder.name)
    return True


def with_recorder(config: Any, address: Address) -> Any:
    """A SIP Server ``config`` whose recorder is the one at ``address``."""
    from dataclasses import replace

    from ..sip.b2bua import Target
    from ..sip.uri import URI

    if config.recorder is not None and config.recorder.dest == address:
        return config
    return replace(config, recorder=Target(URI("sip", user="recorder", host=DOMAIN), dest=address))
