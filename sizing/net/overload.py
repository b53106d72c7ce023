"""Overload control for ``sizing serve``: measure load, admit or reject new requests, recover.

Theory of operation. A SIP server past its capacity must not let work queue
up: over UDP a request that waits longer than T1 (500 ms) is retransmitted by
its client, each retransmission is more work, and throughput collapses
(RFC 6357 §4-5). The remedy of RFC 3261 §21.5.4 is to answer *new* requests
``503 Service Unavailable`` with ``Retry-After`` early and cheaply, while
in-dialog requests (ACK, BYE, re-INVITE), CANCEL and responses keep flowing so
that calls already admitted finish and the load drains (RFC 7339 §5.10.1).

Three pieces, kept apart so the decision logic is testable without a loop:

- :class:`OverloadControl` (pure): fed one load sample per tick, it enters an
  overload *episode* when the load reaches ``high`` and leaves it when the
  load has stayed at or below ``low`` with full admission for ``recover_s``
  (hysteresis, so it recovers by itself and does not flap). Inside an
  episode it admits a fraction of new requests, adapted like RFC 7339's
  loss-based scheme: halved on every sample at or above ``high``, raised by
  ``step`` on every sample at or below ``low`` (AIMD), so the admitted rate
  settles near what the server can serve instead of switching all-or-nothing.
- :class:`LoadMonitor` (asyncio): takes the samples. In ``lag`` mode the load
  is the time a message waits before it is handled, in ms: the event loop's
  lag (when a timer callback runs versus when it was due) and, over UDP, the
  round trip of a probe datagram the server sends to its own socket, which
  queues behind every datagram waiting in the kernel receive buffer. The
  probe matters: asyncio reads one datagram per loop iteration, so the loop
  lag alone stays small while the socket queue grows. In ``transactions``
  mode the load is the number of transactions in *active* states (Calling,
  Trying, Proceeding), not those in their wait states (Completed, Confirmed,
  Accepted, which last up to 64*T1 after the work is done).
- :func:`sheddable`: decides from the bytes whether a message is a new
  out-of-dialog request that may be refused (the engine's front end,
  :func:`sizing.sip.frontend.out_of_dialog`), parsing only candidates.

``loss-based`` is RFC 7339 instead of 503s: the server's
:class:`~sizing.sip.frontend.LossServer` (:func:`loss_server`) steers the
active transactions towards ``high`` and advertises the loss in the Via of its
responses; a proxy or B2BUA upstream announces support and refuses that share
of new INVITEs itself, so the refused calls never reach the server.
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sizing.sip.frontend import LossServer, out_of_dialog
from sizing.sip.interfaces import Clock
from sizing.sip.message import ParseError, Request, parse
from sizing.sip.transaction import State

__all__ = [
    "ACTIVE_STATES",
    "MODES",
    "PROBE_MAGIC",
    "SHED_METHODS",
    "LoadMonitor",
    "OverloadConfig",
    "OverloadControl",
    "OverloadError",
    "active_transactions",
    "loss_server",
    "sheddable",
]

#: What ``--overload`` accepts.
MODES = ("lag", "transactions", "off", "loss-based")

#: Defaults of ``high`` and ``low`` per mode: ms of waiting, or active transactions.
#: 100 ms is a fifth of T1, so a shed starts well before UDP clients retransmit.
#: ``loss-based`` steers towards its ``high`` and has no ``low``.
DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {
    "lag": (100.0, 20.0),
    "transactions": (1000.0, 800.0),
    "loss-based": (1000.0, 1000.0),
}

#: Out-of-dialog methods refused while overloaded. ACK and CANCEL always pass (they end
#: work already admitted); BYE, PRACK, UPDATE and INFO only exist inside dialogs.
SHED_METHODS = frozenset(
    {"INVITE", "REGISTER", "OPTIONS", "SUBSCRIBE", "PUBLISH", "MESSAGE", "REFER", "NOTIFY"}
)
_SHED_TOKENS = frozenset(m.encode() for m in SHED_METHODS)

#: Transaction states where work is still under way (RFC 3261 §17): not the wait states.
ACTIVE_STATES = frozenset({State.CALLING, State.TRYING, State.PROCEEDING})

#: First bytes of the probe datagram; no SIP message starts with a NUL byte.
PROBE_MAGIC = b"\x00sizing-overload-probe\x00"
_PROBE = struct.Struct("!Q")


class OverloadError(ValueError):
    """An overload setting that cannot work; the message names the option."""


@dataclass(frozen=True, slots=True)
class OverloadConfig:
    """How ``sizing serve`` detects overload; validated on creation (raises OverloadError)."""

    mode: str = "lag"
    """``lag`` (ms a message waits), ``transactions`` (active transactions), ``off``, or
    ``loss-based`` (RFC 7339 on active transactions, no 503 episodes)."""
    high: float | None = None
    """Load that starts an episode (ms or transactions); None: the mode's default.
    ``loss-based``: the active transactions its control steers towards."""
    low: float | None = None
    """Load at or below which admission grows back and the episode may end."""
    interval_s: float = 0.05
    """Seconds between load samples."""
    recover_s: float = 1.0
    """An episode ends after this long at or below ``low`` with every request admitted."""
    step: float = 0.1
    """Admitted fraction added per calm sample inside an episode."""
    min_fraction: float = 0.01
    """The admitted fraction never falls below this (some new calls always get through)."""
    weight: float = 0.3
    """Weight of the newest sample in the smoothed load (an EWMA; 1.0: no smoothing), so a
    single scheduling hiccup neither starts an episode nor resets the calm that ends one."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise OverloadError(f"--overload {self.mode!r} is not one of {', '.join(MODES)}")
        if self.mode == "off":
            return
        if self.mode == "loss-based" and self.low is not None:
            raise OverloadError("--overload-low is not used by --overload loss-based: it steers the "
                                "active transactions towards --overload-high")
        high, low = self.thresholds()
        for name, value in (("--overload-high", high), ("--overload-low", low)):
            if not (math.isfinite(value) and value > 0):
                raise OverloadError(f"{name} must be a positive number, got {value!r}")
        if low >= high and self.mode != "loss-based":
            raise OverloadError(f"--overload-low ({low:g}) must be below --overload-high ({high:g})")
        if not (math.isfinite(self.interval_s) and 0.001 <= self.interval_s <= 10):
            raise OverloadError(f"overload interval_s must be 0.001-10 seconds, got {self.interval_s!r}")
        if not (math.isfinite(self.recover_s) and self.recover_s >= 0):
            raise OverloadError(f"overload recover_s must be >= 0 seconds, got {self.recover_s!r}")
        if not 0 < self.step <= 1:
            raise OverloadError(f"overload step must be in (0, 1], got {self.step!r}")
        if not 0 < self.weight <= 1:
            raise OverloadError(f"overload weight must be in (0, 1], got {self.weight!r}")
        if not 0 < self.min_fraction <= 1:
            raise OverloadError(f"overload min_fraction must be in (0, 1], got {self.min_fraction!r}")

    def thresholds(self) -> tuple[float, float]:
        """``(high, low)`` with the mode's defaults filled in."""
        default_high, default_low = DEFAULT_THRESHOLDS.get(self.mode, (math.inf, math.inf))
        high = default_high if self.high is None else float(self.high)
        if self.mode == "loss-based":
            return high, high
        if self.low is not None:
            return high, float(self.low)
        # A given high without a low keeps the default's ratio.
        return high, default_low if self.high is None else high * default_low / default_high


class OverloadControl:
    """The admission decision: episodes with hysteresis and an AIMD-adapted admitted fraction.

    Pure logic: the caller passes the time and the load. :meth:`admit` is asked
    once per new out-of-dialog request and says whether to serve it; outside an
    episode it always does. Admission is spread evenly (a credit counter, not
    random draws), so the same samples always give the same decisions.
    """

    def __init__(self, config: OverloadConfig) -> None:
        self.config = config
        self.high, self.low = config.thresholds()
        self.overloaded = False
        self.fraction = 1.0
        """Share of new requests admitted right now (1.0 outside an episode)."""
        self.episodes = 0
        self.admitted = 0
        """New requests admitted while overloaded."""
        self.refused = 0
        """New requests :meth:`admit` refused."""
        self.peak_load = 0.0
        """Highest raw sample."""
        self.last_load = 0.0
        """The smoothed load the decisions use."""
        self.samples = 0
        self._since = 0.0
        self._calm_since: float | None = None
        self._overloaded_s = 0.0
        self._credit = 0.0

    def sample(self, now: float, raw: float) -> bool:
        """Take one load sample at time ``now``; returns whether the server is overloaded."""
        self.peak_load = max(self.peak_load, raw)
        weight = self.config.weight
        load = self.last_load = raw if self.samples == 0 else weight * raw + (1 - weight) * self.last_load
        self.samples += 1
        if not self.overloaded:
            if load >= self.high:
                self.overloaded, self._since, self._calm_since = True, now, None
                self.episodes += 1
                self.fraction, self._credit = 0.5, 0.0
            return self.overloaded
        if load >= self.high:
            self.fraction = max(self.config.min_fraction, self.fraction * 0.5)
            self._calm_since = None
        elif load <= self.low:
            if self.fraction < 1.0:
                self.fraction = min(1.0, self.fraction + self.config.step)
                self._calm_since = None
            elif self._calm_since is None:
                self._calm_since = now
            if self._calm_since is not None and now - self._calm_since >= self.config.recover_s:
                self.overloaded = False
                self._overloaded_s += now - self._since
        else:
            self._calm_since = None  # between the thresholds: hold the fraction
        return self.overloaded

    def admit(self) -> bool:
        """Whether to serve one more new request now."""
        if not self.overloaded:
            return True
        self._credit += self.fraction
        if self._credit >= 1.0:
            self._credit -= 1.0
            self.admitted += 1
            return True
        self.refused += 1
        return False

    def overloaded_s(self, now: float) -> float:
        """Seconds spent overloaded so far, the episode under way included."""
        return self._overloaded_s + (now - self._since if self.overloaded else 0.0)


def active_transactions(transactions: Iterable[object]) -> int:
    """How many of ``transactions`` are in an active state (work under way)."""
    return sum(1 for txn in transactions if getattr(txn, "state", None) in ACTIVE_STATES)


def sheddable(data: bytes) -> Request | None:
    """The request in ``data`` if it is a new out-of-dialog request overload may refuse.

    Responses and the methods that end or continue admitted work are let
    through from their first bytes, without parsing; only candidates are
    parsed, and one that does not parse, or lacks what a 503 needs, is left
    to the element's own error handling.
    """
    if data.startswith(b"SIP/"):
        return None
    method = data[: data.find(b" ", 0, 16)]
    if method not in _SHED_TOKENS or not out_of_dialog(data):
        return None
    try:
        request = parse(data)
    except ParseError:
        return None
    if not isinstance(request, Request):
        return None
    if request.top_via is None or request.cseq is None or request.call_id is None:
        return None
    return request


def loss_server(config: OverloadConfig, clock: Clock,
                transactions: Callable[[], Iterable[object]]) -> LossServer:
    """RFC 7339's server side for ``--overload loss-based``: its load is the active
    transactions over ``high``, so the loss it advertises steers them towards ``high``."""
    high, _ = config.thresholds()
    return LossServer(clock, lambda: active_transactions(transactions()) / high, target=1.0,
                      name="--overload loss-based")


class LoadMonitor:
    """Samples the load every ``interval_s`` on the running loop and feeds an OverloadControl.

    ``send_probe(data)`` (UDP only) sends a datagram to the server's own
    socket, returning False when it could not; the server hands received
    probes back with :meth:`probe_received`.
    ``transactions()`` lists the live transactions (``transactions`` mode).
    """

    def __init__(
        self,
        control: OverloadControl,
        *,
        send_probe: Callable[[bytes], object] | None = None,
        transactions: Callable[[], Iterable[object]] | None = None,
    ) -> None:
        self.control = control
        self.mode = control.config.mode
        self.interval_s = control.config.interval_s
        self.send_probe = send_probe if self.mode == "lag" else None
        self.transactions = transactions
        self.probes_sent = 0
        self.probes_lost = 0
        self.on_change: Callable[[bool], object] | None = None
        """Told ``True`` when an episode starts and ``False`` when it ends."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._seq = 0
        self._probe_sent: float | None = None
        self._probe_delay = 0.0

    def start(self) -> None:
        """Begin sampling (a no-op in ``off`` and ``loss-based`` modes: no 503 episodes)."""
        if self.mode in ("off", "loss-based"):
            return
        self._loop = asyncio.get_running_loop()
        self._schedule()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self) -> None:
        assert self._loop is not None
        self._due = self._loop.time() + self.interval_s
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        if self.mode == "transactions":
            load = float(active_transactions(self.transactions() if self.transactions else ()))
        else:
            load = self._lag_ms(now)
        before = self.control.overloaded
        after = self.control.sample(now, load)
        if after != before and self.on_change is not None:
            self.on_change(after)
        self._schedule()

    def _lag_ms(self, now: float) -> float:
        lag = max(0.0, now - self._due)
        if self.send_probe is not None:
            if self._probe_sent is not None:
                waited = now - self._probe_sent
                lag = max(lag, waited)
                if waited > max(1.0, 10 * self.interval_s):  # dropped (receive buffer full): resend
                    self.probes_lost += 1
                    self._probe_sent = None
            else:
                lag = max(lag, self._probe_delay)
            if self._probe_sent is None:
                self._seq += 1
                self._probe_sent = now
                self.probes_sent += 1
                if self.send_probe(PROBE_MAGIC + _PROBE.pack(self._seq)) is False:
                    self._probe_sent = None  # not sent (send buffer full): that is load too
                    lag = max(lag, self.interval_s)
        return lag * 1000.0

    def probe_received(self, data: bytes) -> bool:
        """Take ``data`` if it is one of our probes (True); anything else is not ours (False)."""
        if not data.startswith(PROBE_MAGIC):
            return False
        body = data[len(PROBE_MAGIC):]
        if len(body) == _PROBE.size and self._loop is not None and self._probe_sent is not None:
            (seq,) = _PROBE.unpack(body)
            if seq == self._seq:
                self._probe_delay = self._loop.time() - self._probe_sent
                self._probe_sent = None
        return True
