"""Loss-based overload control (RFC 7339) between simulated hosts.

The control itself is the engine's front end (:mod:`sizing.sip.frontend`):
:class:`~sizing.sip.frontend.LossServer` computes and advertises the loss,
:class:`~sizing.sip.frontend.LossClient` announces support and refuses that
share of new INVITEs. Both act on the bytes at the host/transport boundary,
so the engine's elements are unchanged. This module adds what only the
simulator knows: a host's load, measured as the CPU work that arrived in the
interval (the host's ``busy_s`` grows by each job's cost when the job is
queued, so the figure keeps growing past saturation, where the utilisation
itself would stop at 100 %).

The server's own front end still answers ``503`` when its queue passes the
reject threshold (``OverloadPolicy(mode="reject")``): the control takes work
off it, the front end guards against what the control has not caught yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..sip.frontend import (
    CONTROL_INTERVAL_S,
    MIN_ACCEPT,
    STEP_DOWN,
    STEP_UP,
    VALIDITY_MS,
    LossClient,
    LossClientTransport,
    LossServer,
    LossServerTransport,
    OcSignal,
    top_via_params,
)

if TYPE_CHECKING:
    from .clock import SimClock
    from .host import Host

__all__ = [
    "CONTROL_INTERVAL_S",
    "MIN_ACCEPT",
    "STEP_DOWN",
    "STEP_UP",
    "VALIDITY_MS",
    "LossController",
    "OcClient",
    "OcClientTransport",
    "OcServerTransport",
    "OcSignal",
    "top_via_params",
]

OcClient = LossClient
OcClientTransport = LossClientTransport
OcServerTransport = LossServerTransport


class LossController(LossServer):
    """The server side on a simulated host: its load is the CPU work that arrived
    in each control interval over what its cores can do in it."""

    def __init__(self, host: Host, clock: SimClock, *, target: float,
                 interval_s: float = CONTROL_INTERVAL_S, validity_ms: int = VALIDITY_MS) -> None:
        super().__init__(clock, self._utilisation, target=target, interval_s=interval_s,
                         validity_ms=validity_ms, name=f"LossController for host {host.name!r}")
        self.host = host
        self._last_busy = host.busy_s

    def _utilisation(self) -> float:
        host = self.host
        host.flush(self.clock.now())
        busy = host.busy_s
        rho = (busy - self._last_busy) / (self.interval_s * host.cores)
        self._last_busy = busy
        return rho
