"""Loss-based overload control (RFC 7339) between simulated hosts.

Theory of operation
-------------------
A host whose role's overload policy is ``loss`` runs a :class:`LossController`
(the RFC's *server*); the elements that send it requests wrap their
transport with an :class:`OcClient` (the RFC's *client*). Both act on the
bytes at the host/transport boundary, so the engine's elements are unchanged:

- a client announces support (§5.1) by adding ``oc`` and ``oc-algo="loss"``
  to the topmost Via of every request it sends to a controlled server;
- every ``CONTROL_INTERVAL_S`` the server measures the CPU work that arrived
  in the interval (the host's ``busy_s`` grows by each job's cost when the
  job is queued, so the figure keeps growing past saturation, where the
  utilisation itself would stop at 100 %) as a utilisation ``rho`` and
  steers the share of calls it accepts, ``a``, towards its target
  utilisation: ``a <- clip(a * target / rho)`` (an occupancy controller:
  the loss rises while the load is above target and falls below it, §5.5,
  each step bounded to ``[STEP_DOWN, STEP_UP]``);
- the server puts ``oc=<loss %>``, ``oc-algo="loss"``, ``oc-validity`` (ms)
  and ``oc-seq`` into the topmost Via of its responses to clients that
  announced support (§5.2-5.4), while the loss is above zero and one
  validity period after (so the clients hear it end);
- a client keeps the newest value per server (a lower ``oc-seq`` is stale;
  a value expires after its validity; ``oc-validity=0`` ends control) and
  refuses that percentage of new out-of-dialog INVITEs to that server
  (§6.2: a random draw per request) without sending them: its ``send``
  raises :class:`TransportError`, which the engine's elements turn into a
  local ``503 Service Unavailable`` (RFC 3261 §8.1.3.1, §16.7; the proxy
  relays it as 503 since it synthesised it). In-dialog requests (ACK, BYE,
  re-INVITE) and retransmissions of an admitted INVITE always pass (§5.10.1:
  dialogs in progress come first).

The server's own front end still answers ``503`` when its queue passes the
reject threshold (``OverloadPolicy(mode="reject")``): the control takes work
off it, the front end guards against what the control has not caught yet.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..sip.interfaces import Address, Transport, TransportError

if TYPE_CHECKING:
    from .clock import SimClock
    from .host import Host, OnMessage

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

CONTROL_INTERVAL_S = 0.5
"""How often a server measures its load and updates its loss percentage."""
VALIDITY_MS = 1000
"""``oc-validity`` of the server's signal: two control intervals, so it stays in force
between updates (RFC 7339 §5.2 suggests 500 ms as a default)."""
MIN_ACCEPT = 0.01
"""The smallest share of calls a server asks its clients to send (loss at most 99 %)."""
STEP_DOWN = 0.25
STEP_UP = 1.25
"""Bounds of the accepted share's factor per control interval (damps Poisson noise)."""
RETRANSMIT_WINDOW_S = 32.0
"""How long an admitted INVITE's retransmissions are recognised (Timer B, 64 T1)."""

_VIA = re.compile(rb"\r\n(?:via|v)[ \t]*:[ \t]*", re.IGNORECASE)
_TO_TAG = re.compile(rb"\r\n(?:to|t)[ \t]*:[^\r\n]*;[ \t]*tag[ \t]*=", re.IGNORECASE)
_OC_BARE = re.compile(rb";[ \t]*oc[ \t]*(?=[;\r]|$)", re.IGNORECASE)
_OC_ALGO = re.compile(rb';[ \t]*oc-algo[ \t]*=[ \t]*(?:"[^"]*"|[^;\r]*)', re.IGNORECASE)
_BRANCH = re.compile(rb";[ \t]*branch[ \t]*=[ \t]*([^;\s]+)", re.IGNORECASE)
_SUPPORT = b';oc;oc-algo="loss"'


def _top_via(data: bytes) -> tuple[int, int] | None:
    """Start and end offsets of the first value of the first Via header (None if none)."""
    head_end = data.find(b"\r\n\r\n")
    match = _VIA.search(data, 0, head_end if head_end >= 0 else len(data))
    if match is None:
        return None
    start = i = match.end()
    quoted = False
    n = len(data)
    while i < n:
        c = data[i]
        if c == 0x22:  # '"'
            quoted = not quoted
        elif not quoted and (c == 0x2C or c == 0x0D):  # ',' or CR
            break
        i += 1
    return start, i


def top_via_params(data: bytes) -> dict[str, str | None]:
    """The parameters of a message's topmost Via (names lowercased, quotes removed)."""
    span = _top_via(data)
    if span is None:
        return {}
    params: dict[str, str | None] = {}
    for part in data[span[0]:span[1]].decode("utf-8", "replace").split(";")[1:]:
        name, eq, value = part.partition("=")
        params[name.strip().lower()] = value.strip().strip('"') if eq else None
    return params


@dataclass
class OcSignal:
    """A client's view of one server's overload signal."""

    loss: float = 0.0
    """Percentage of new requests to refuse."""
    expires: float = 0.0
    """Simulated time the value stops applying (``oc-validity`` after it was heard)."""
    seq: float = -1.0
    """The ``oc-seq`` of the value; an older one is ignored."""


class LossController:
    """The server side: measures ``host``'s load each interval, computes the loss
    percentage and stamps it on responses (see the module doc)."""

    def __init__(self, host: Host, clock: SimClock, *, target: float,
                 interval_s: float = CONTROL_INTERVAL_S, validity_ms: int = VALIDITY_MS) -> None:
        if not 0 < target <= 1:
            raise ValueError(f"LossController for host {host.name!r}: target utilisation must be in "
                             f"(0, 1], got {target!r}")
        if not interval_s > 0:
            raise ValueError(f"LossController for host {host.name!r}: interval_s must be > 0, got "
                             f"{interval_s!r}")
        if isinstance(validity_ms, bool) or not isinstance(validity_ms, int) or validity_ms < 1:
            raise ValueError(f"LossController for host {host.name!r}: validity_ms must be an "
                             f"integer >= 1, got {validity_ms!r}")
        self.host = host
        self.clock = clock
        self.target = float(target)
        self.interval_s = float(interval_s)
        self.validity_ms = validity_ms
        self.accept = 1.0
        """Share of new calls the clients are asked to send."""
        self.loss = 0
        """The loss percentage signalled (integer 0-99)."""
        self.seq = "0.000"
        self.stamped = 0
        """Responses that carried the signal."""
        self.history: list[tuple[float, float, int]] = []
        """(time, measured utilisation, loss %) of each control interval."""
        self._last_busy = host.busy_s
        self._loud_until = -1.0

    def start(self) -> None:
        self.clock.call_later(self.interval_s, self._tick)

    def _tick(self) -> None:
        host = self.host
        host.flush(self.clock.now())
        busy = host.busy_s
        rho = (busy - self._last_busy) / (self.interval_s * host.cores)
        self._last_busy = busy
        factor = self.target / rho if rho > 0 else STEP_UP
        self.accept = min(1.0, max(MIN_ACCEPT, self.accept * min(STEP_UP, max(STEP_DOWN, factor))))
        now = self.clock.now()
        self.loss = int(round(100 * (1 - self.accept)))
        self.seq = f"{now:.3f}"
        if self.loss > 0:
            self._loud_until = now + self.validity_ms / 1000
        self.history.append((now, rho, self.loss))
        self.clock.call_later(self.interval_s, self._tick)

    def stamp(self, data: bytes) -> bytes:
        """``data`` (a response) with the signal in its topmost Via, if that Via
        announced support and the signal is worth sending (loss, or just ended)."""
        if self.loss <= 0 and self.clock.now() > self._loud_until:
            return data
        span = _top_via(data)
        if span is None:
            return data
        start, end = span
        via = data[start:end]
        bare = _OC_BARE.search(via)
        if bare is None:
            return data
        via = via[:bare.start()] + via[bare.end():]
        via = _OC_ALGO.sub(b"", via)
        signal = (f';oc={self.loss};oc-algo="loss";oc-validity={self.validity_ms};'
                  f"oc-seq={self.seq}").encode("ascii")
        self.stamped += 1
        return data[:start] + via + signal + data[end:]


class OcServerTransport:
    """A controlled server element's transport: responses leave with the signal."""

    def __init__(self, inner: Transport, controller: LossController) -> None:
        self.inner = inner
        self.controller = controller

    def send(self, data: bytes, dest: Address) -> None:
        if data[:4] == b"SIP/":
            data = self.controller.stamp(data)
        self.inner.send(data, dest)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class OcClient:
    """The client side for one element: what it heard from each controlled server,
    and the decision to send or refuse each new INVITE."""

    def __init__(self, clock: SimClock, servers: Iterable[Address], rng: np.random.Generator,
                 name: str = "") -> None:
        self.clock = clock
        self.servers = frozenset(servers)
        self.rng = rng
        self.name = name
        self.signals: dict[Address, OcSignal] = {}
        self.throttled = 0
        """New INVITEs refused locally."""
        self.heard = 0
        """Responses that carried a signal."""
        self._admitted: dict[bytes, float] = {}
        self._admitted_order: deque[tuple[float, bytes]] = deque()

    def receive(self, entry: OnMessage) -> OnMessage:
        """``entry`` with the signals of the controlled servers' responses read first."""
        servers = self.servers

        def received(data: bytes, source: Address) -> None:
            if data[:4] == b"SIP/" and source in servers:
                self._learn(data, source)
            entry(data, source)

        return received

    def wrap(self, transport: Transport) -> OcClientTransport:
        return OcClientTransport(transport, self)

    def _learn(self, data: bytes, source: Address) -> None:
        params = top_via_params(data)
        value = params.get("oc")
        if value is None or params.get("oc-algo", "loss") != "loss":
            return
        try:
            loss = float(value)
            seq = float(params.get("oc-seq") or 0.0)
            validity = float(params.get("oc-validity") or 500.0)
        except ValueError:
            return  # a malformed signal is ignored (§5.4: the last good one stays)
        signal = self.signals.setdefault(source, OcSignal())
        if seq < signal.seq:
            return
        self.heard += 1
        signal.seq = seq
        signal.loss = min(max(loss, 0.0), 100.0)
        signal.expires = self.clock.now() + validity / 1000 if validity > 0 else 0.0

    def admit(self, data: bytes, dest: Address) -> bool:
        """Whether to send a request to a controlled server (False: refuse it here)."""
        if data[:7] != b"INVITE ":
            return True
        head_end = data.find(b"\r\n\r\n")
        if _TO_TAG.search(data, 0, head_end if head_end >= 0 else len(data)) is not None:
            return True  # re-INVITE in a dialog
        span = _top_via(data)
        branch = _BRANCH.search(data, span[0], span[1]) if span is not None else None
        key = branch.group(1) if branch is not None else b""
        now = self.clock.now()
        order, admitted = self._admitted_order, self._admitted
        while order and order[0][0] <= now:
            admitted.pop(order.popleft()[1], None)
        if key in admitted:
            return True  # a retransmission of an INVITE already sent
        signal = self.signals.get(dest)
        if signal is not None and signal.loss > 0 and now < signal.expires \
                and self.rng.random() * 100 < signal.loss:
            self.throttled += 1
            return False
        if key:
            admitted[key] = now + RETRANSMIT_WINDOW_S
            order.append((now + RETRANSMIT_WINDOW_S, key))
        return True


class OcClientTransport:
    """A client element's transport: requests to controlled servers announce support,
    and the new INVITEs the client refuses raise TransportError (a local 503)."""

    def __init__(self, inner: Transport, client: OcClient) -> None:
        self.inner = inner
        self.client = client

    def send(self, data: bytes, dest: Address) -> None:
        client = self.client
        if dest in client.servers and data[:4] != b"SIP/":
            if not client.admit(data, dest):
                raise TransportError(f"{client.name or 'client'}: RFC 7339 loss-based overload "
                                     f"control refuses this INVITE to {dest}")
            span = _top_via(data)
            if span is not None and _OC_BARE.search(data, span[0], span[1]) is None:
                data = data[:span[1]] + _SUPPORT + data[span[1]:]
        self.inner.send(data, dest)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)
