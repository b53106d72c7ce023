"""Simulated hosts: CPU cores that every received SIP message occupies before the engine sees it.

Theory of operation
-------------------
A :class:`Host` has ``cores`` identical cores serving one FIFO queue (an
M/G/c station) and a cost profile. Every message that arrives is a *job*:

1. on arrival (a simulated link delivered it) the engine's front end
   (:func:`sizing.sip.frontend.admission`) decides:
   the ``admit`` hook may drop it (the place for a loss-based overload
   controller); a message that finds every core busy and ``queue_limit``
   messages waiting is dropped, so UDP senders retransmit; in ``reject``
   mode, a new INVITE (no To tag) that finds every core busy and
   ``reject_threshold`` or more messages waiting is answered at once
   ``503 Service Unavailable`` with ``Retry-After`` by the real engine
   (parse, ``create_response``), its ``reject_cost_us`` appended to the
   FIFO like a send's (a front end that queued its rejects behind the
   overload would defeat its purpose);
2. otherwise it waits for a core and then occupies it for
   ``profile.message_cost_us(kind, size, tls=...)`` µs; ``kind`` is the
   method (``"INVITE"``) or the status code (``180``, an int). The profile's
   cost includes its per-kbyte term (it is given the size);
3. when the job completes, the bytes go to the element bound at the
   destination address (``entry(data, source)``): parsing and the real
   transaction state machines run then, at that simulated instant.

Sends cost CPU too: each message the element sends (answers, forwards and
timer-driven retransmissions alike) appends a job of ``size/1000 *
per_kbyte_us`` (plus ``tls.per_kbyte_us`` over TLS) to the same FIFO, so it
takes core time from the messages behind it and shows in utilisation; the
message itself leaves at once, because a worker writes the socket within
the handling that produced it (making it wait behind the queue would count
the queueing delay twice). TLS handshakes charge ``tls.handshake_full_us``
(or ``handshake_resumed_us``) the same way, on both ends. The static
background load (``static_core_fraction`` of one core) is a job every
``background_period_s``.

Why not a ``simpy.Resource`` and a process per message: with FIFO service
and costs known when a job enters the queue, each job's start is
``max(arrival, earliest core free time)`` (the Lindley recursion for c
servers), kept in a heap of ``cores`` free times. That needs no event for
queueing or for releasing a core, only one event at the arrival (arrivals
must be handled in time order) and one at the completion (the engine runs
then): two heap pushes per message instead of a generator, a request
event, a timeout and a release. Jobs that are not messages (sends,
handshakes, background) need no event at all. Start times are
non-decreasing in arrival order, so the messages waiting at time t are those
whose start is after t: a deque popped from the left.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from heapq import heapreplace
from typing import TYPE_CHECKING, Protocol

from ..models.profile import per_message_us, receive_cost_us
from ..models.tls import TlsCost
from ..sip.frontend import DROP, OverloadPolicy, admission, busy_answer_to, is_new_invite
from ..sip.interfaces import Address, TransportError
from ..sip.kind import kind_class, wire_kind
from .metrics import HostMetrics, grow
from .simpy_fast import QueuedEvent, scheduler

if TYPE_CHECKING:
    import simpy

    from .link import Link

__all__ = [
    "CostProfile",
    "Host",
    "HostNetwork",
    "OverloadPolicy",
    "SimTransport",
    "TableProfile",
    "TlsCostLike",
]

OnMessage = Callable[[bytes, Address], None]


class TlsCostLike(Protocol):
    """The ``tls`` block of a cost profile (``sizing.models.tls.TlsCost`` has these)."""

    handshake_full_us: float
    handshake_resumed_us: float
    per_kbyte_us: float


class CostProfile(Protocol):
    """What a host needs of a cost profile (``sizing.models.profile.CostProfile`` has these)."""

    static_core_fraction: float
    per_kbyte_us: float
    tls: TlsCostLike

    def message_cost_us(self, method_or_status: str | int, size_bytes: int, *, tls: bool) -> float:
        """CPU µs to receive and handle one message, per-kbyte term included."""
        ...


@dataclass(frozen=True)
class TableProfile:
    """A cost profile given in code (tests, benchmarks, what-if studies).

    ``per_message_us`` maps a method (``INVITE``), a status (``180``), a status
    class (``1xx``), ``request`` or ``response`` to µs, ``default`` covering the
    rest, read as every cost table is (:func:`sizing.models.profile.per_message_us`). The
    shipped, measured profiles are YAML files read by ``sizing.models.profile``; both
    satisfy :class:`CostProfile`.
    """

    per_message_us: Mapping[str, float]
    per_kbyte_us: float = 0.0
    static_core_fraction: float = 0.0
    tls: TlsCost = field(default_factory=TlsCost)
    _per_message: dict[str | int, float] = field(default_factory=dict, init=False, repr=False, compare=False)
    """:func:`sizing.models.profile.per_message_us`'s answers by kind (the table is frozen with the profile)."""

    def __post_init__(self) -> None:
        for key, value in self.per_message_us.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"TableProfile.per_message_us[{key!r}] must be a number >= 0, got {value!r}")
        if not self.per_kbyte_us >= 0:
            raise ValueError(f"TableProfile.per_kbyte_us must be >= 0, got {self.per_kbyte_us!r}")
        if not 0 <= self.static_core_fraction < 1:
            raise ValueError(
                f"TableProfile.static_core_fraction must be in [0, 1), got {self.static_core_fraction!r}"
            )

    def message_cost_us(self, method_or_status: str | int, size_bytes: int, *, tls: bool) -> float:
        base = self._per_message.get(method_or_status)
        if base is None:
            try:
                base = self._per_message[method_or_status] = per_message_us(self.per_message_us, method_or_status)
            except KeyError as error:
                raise KeyError(f"TableProfile: {error.args[0]}") from None
        per_kbyte = self.per_kbyte_us + (self.tls.per_kbyte_us if tls else 0.0)
        return base + size_bytes / 1000 * per_kbyte


class HostNetwork(Protocol):
    """What a :class:`Host` needs of the network it is on (:class:`~sizing.sim.network.SimNetwork`
    implements it): the simulated time line, where each address listens, the links to
    other hosts and their connections."""

    env: simpy.Environment

    @property
    def routes(self) -> Mapping[Address, SimTransport]:
        """The transport listening at each address; a host may keep the mapping."""
        ...

    def attach(self, address: Address, on_message: OnMessage, *, reliable: bool | None = None) -> SimTransport:
        """Listen at ``address``; the engine's transport for it."""
        ...

    def link_between(self, src: Host, dst: Host) -> Link:
        """The link ``src`` -> ``dst`` (the same object every time)."""
        ...

    def open_connection(self, link: Link, wire: str, now: float) -> None:
        """Open a TCP/TLS connection on ``link`` (a TLS handshake costs both ends)."""
        ...

    def call_started(self, link: Link, wire: str, now: float) -> None:
        """A new call's INVITE crosses ``link`` (a per-call connection may be replaced)."""
        ...


def _kind_token(data: bytes) -> bytes:
    """The bytes a message's kind is read from (the status code, or the method)."""
    if data[:4] == b"SIP/":
        return data[8:11]
    return data[: data.find(b" ")]


_new_call = is_new_invite
"""A new call (an INVITE outside any dialog), for a per-call connection."""


class SimTransport:
    """The engine's ``Transport`` for one address of a host."""

    __slots__ = ("host", "local", "reliable", "wire", "on_message", "sent", "received")

    def __init__(self, host: Host, local: Address, on_message: OnMessage, reliable: bool, wire: str) -> None:
        self.host = host
        self.local = local
        self.reliable = reliable
        self.wire = wire
        """The byte model's transport: ``udp``, ``tcp`` or ``tls``."""
        self.on_message = on_message
        self.sent = 0
        self.received = 0

    def send(self, data: bytes, dest: Address) -> None:
        """Put ``data`` on the link towards ``dest``; TransportError if reliable and unknown."""
        self.host._send(self, data, dest)

    def __repr__(self) -> str:
        return f"<SimTransport {self.host.name} {self.local} reliable={self.reliable}>"


class _Job(QueuedEvent):
    """One message in flight: first an arrival event, then a completion event.

    A :class:`~sizing.sim.simpy_fast.QueuedEvent`, so it goes straight onto the queue.
    """

    __slots__ = ("host", "data", "source", "transport")
    done = None  # set below: what runs when its core has handled it
    key = None  # the cost cache's key, when known before arrival (a replayed step's)

    def rejected_by(self, host: Host) -> None:
        """The front end answers this new INVITE 503 instead of queueing it."""
        host._reject(self)

    def __init__(self, callbacks: tuple, host: Host, data: bytes, source: Address, transport: SimTransport) -> None:
        self.callbacks = callbacks
        self.host = host
        self.data = data
        self.source = source
        self.transport = transport


def _arrived(job: _Job) -> None:
    job.host.arrive(job)


def _completed(job: _Job) -> None:
    transport = job.transport
    transport.received += 1
    transport.on_message(job.data, job.source)


_ARRIVED = (_arrived,)
_COMPLETED = (_completed,)
_Job.done = _COMPLETED  # type: ignore[assignment]


class Host:
    """A simulated server: ``cores`` CPU cores, a cost profile, an input queue, addresses.

    Create hosts with :meth:`SimNetwork.add_host`; bind an element with
    :meth:`bind` (or ``network.attach``). ``cache_costs`` memoises
    ``message_cost_us`` by (kind, size): right for every profile whose cost
    is a function of those (all YAML profiles); turn it off for a profile
    that draws random costs.
    """

    def __init__(
        self,
        network: HostNetwork,
        name: str,
        addresses: tuple[Address, ...],
        *,
        cores: int,
        profile: CostProfile,
        metrics: HostMetrics,
        overload: OverloadPolicy,
        background_period_s: float = 0.01,
        cache_costs: bool = True,
    ) -> None:
        if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
            raise ValueError(f"host {name!r}: cores must be an integer >= 1, got {cores!r}")
        for attr in ("message_cost_us", "per_kbyte_us", "static_core_fraction", "tls"):
            if not hasattr(profile, attr):
                raise TypeError(f"host {name!r}: profile {profile!r} has no {attr!r} (see CostProfile)")
        if not background_period_s > 0:
            raise ValueError(f"host {name!r}: background_period_s must be > 0, got {background_period_s!r}")
        self.network = network
        self.name = name
        self.addresses = addresses
        self.cores = cores
        self.profile = profile
        self.metrics = metrics
        self.overload = overload
        self.cache_costs = cache_costs
        self.transports: dict[Address, SimTransport] = {}
        self.received = 0
        """Messages that entered the queue (and so were or will be handled)."""
        self.dropped = 0
        self.rejected = 0
        self.busy_s = 0.0
        """Core-seconds of work assigned so far (messages, sends, handshakes, background)."""
        self.free_until = 0.0
        """Work that arrives before this simulated time costs nothing: a steady-state start
        sets up the calls already in progress then, which happened before the window."""
        self._env = network.env
        self._schedule_at = scheduler(network.env)
        self._routes = network.routes
        self._links: dict[Host, Link] = {}  # the network's link to each host sent to
        self._free = [0.0] * cores  # heap: when each core is next free
        self._waiting: deque[float] = deque()  # start times of messages not yet started
        self._costs: dict[tuple[bytes, int, str], tuple[float, list[int]]] = {}
        self._tx: dict[tuple[bytes, bool], list[int]] = {}
        self._warmup = metrics.warmup_s
        self._send_s_per_byte = {
            False: profile.per_kbyte_us * 1e-9,
            True: (profile.per_kbyte_us + profile.tls.per_kbyte_us) * 1e-9,
        }
        fraction = float(profile.static_core_fraction)
        self._bg_period = float(background_period_s)
        self._bg_cost = fraction * self._bg_period
        self._next_bg = 0.0 if fraction > 0 else float("inf")

    def __repr__(self) -> str:
        return f"<Host {self.name} cores={self.cores}>"

    # -- wiring --------------------------------------------------------------------

    def bind(self, entry: OnMessage, address: Address | None = None, *, reliable: bool | None = None) -> SimTransport:
        """Hand what arrives at ``address`` (default: the host's only address) to ``entry``.

        ``entry(data, source)`` is the element's entry point (``Proxy.on_message``,
        ``UserAgent.datagram_received``); returns the transport it sends with.
        """
        if address is None:
            if len(self.addresses) != 1:
                raise ValueError(
                    f"host {self.name!r} has {len(self.addresses)} addresses: say which one to bind"
                )
            address = self.addresses[0]
        return self.network.attach(address, entry, reliable=reliable)

    # -- CPU -------------------------------------------------------------------------

    def queue_work(self, arrival: float, cost: float) -> float:
        """Queue ``cost`` seconds of work arriving at ``arrival``; returns its start time
        (public: a recorded front end's refusal costs what it does here)."""
        if arrival >= self._next_bg:
            self._background(arrival)
        if arrival < self.free_until:
            cost = 0.0
        free = self._free
        start = free[0]
        if start < arrival:
            start = arrival
        end = start + cost
        heapreplace(free, end)
        self.busy_s += cost
        busy = self.metrics.busy
        second = int(start)
        if int(end) == second and second < len(busy):
            busy[second] += cost
        else:
            self.metrics.add_busy(start, end)
        return start

    def _background(self, until: float) -> None:
        """Inject the background-load jobs due up to ``until`` (lazily, in time order)."""
        period, cost = self._bg_period, self._bg_cost
        when = self._next_bg
        free, metrics, free_until = self._free, self.metrics, self.free_until
        busy = metrics.busy
        busy_s = self.busy_s
        while when <= until:  # queue_work's steps, inlined: a job every period on every host
            spent = 0.0 if when < free_until else cost
            start = free[0]
            if start < when:
                start = when
            end = start + spent
            heapreplace(free, end)
            busy_s += spent
            second = int(start)
            if int(end) == second and second < len(busy):
                busy[second] += spent
            else:
                metrics.add_busy(start, end)
            when += period
        self.busy_s = busy_s
        self._next_bg = when

    def charge(self, cost_us: float) -> None:
        """Occupy a core for ``cost_us`` µs of work that is not a message (a handshake)."""
        self.queue_work(self._env.now, cost_us * 1e-6)

    def flush(self, now: float) -> None:
        """Account the background load up to ``now`` (before metrics are read)."""
        if now >= self._next_bg:
            self._background(now)

    # -- receiving -----------------------------------------------------------------------

    def arrive(self, job: _Job) -> None:
        """A message reaches the host (public: the network, faults and the recorder wrap it per host)."""
        now = self._env.now
        if now >= self._next_bg:
            self._background(now)
        waiting = self._waiting
        while waiting and waiting[0] <= now:
            waiting.popleft()
        data = job.data
        overload = self.overload
        # every core busy (always so when some message waits)
        decision = admission(overload, self, data, job.source, len(waiting), self._free[0] > now)
        if decision:
            if decision == DROP:
                self.drop(now)
            else:
                self.queue_work(now, overload.reject_cost_us * 1e-6)
                job.rejected_by(self)
            return
        wire = job.transport.wire
        key = job.key
        if key is None:
            key = (_kind_token(data), len(data), wire)
        cached = self._costs.get(key)
        if cached is None:
            kind = wire_kind(data)
            cost = receive_cost_us(self.profile, kind, len(data), wire) * 1e-6
            label = kind_class(kind)
            rx = self.metrics.rx
            bins = rx.get(label)
            if bins is None:
                bins = rx[label] = [0] * 64
            if self.cache_costs:
                self._costs[key] = (cost, bins)
        else:
            cost, bins = cached
        second = int(now)
        if second >= len(bins):
            grow(bins, second)
        bins[second] += 1
        self.received += 1
        start = self.queue_work(now, cost)
        if start > now:
            waiting.append(start)
        if now >= self._warmup:
            self.metrics.add_wait(start - now)
        job.callbacks = job.done
        self._schedule_at(start + cost, job)

    def drop(self, now: float) -> None:
        """Count a message lost at ``now`` (public: a replay loses an INVITE it has no script for)."""
        self.dropped += 1
        bins = self.metrics.dropped
        second = int(now)
        if second >= len(bins):
            grow(bins, second)
        bins[second] += 1

    def _reject(self, job: _Job) -> None:
        """The front end's stateless 503 to a new INVITE (RFC 3261 §21.5.4)."""
        transport = job.transport
        answer = busy_answer_to(job.data, job.source, transport.reliable, self.overload.retry_after_s)
        if answer is None:
            self.drop(self._env.now)
            return
        self.count_rejected()
        try:
            transport.send(*answer)
        except TransportError:
            self.dropped += 1

    def count_rejected(self) -> None:
        """One new INVITE answered 503 by the front end."""
        self.rejected += 1
        bins = self.metrics.rejected
        second = int(self._env.now)
        if second >= len(bins):
            grow(bins, second)
        bins[second] += 1

    # -- sending ----------------------------------------------------------------------------

    def _send(self, transport: SimTransport, data: bytes, dest: Address) -> None:
        target = self._routes.get(dest)
        if target is None:
            if not isinstance(data, bytes | bytearray):
                raise TypeError(f"send() from {transport.local} needs bytes, got {type(data).__name__}")
            if transport.reliable:
                raise TransportError(f"no host listens at {dest} (from {self.name} {transport.local})")
            self.metrics.unroutable += 1
            return
        transport.sent += 1
        arrival = self.transmit(transport.wire, data, target.host)
        if arrival is not None:
            self._schedule_at(arrival, _Job(_ARRIVED, target.host, bytes(data), transport.local, target))

    def transmit(self, wire: str, data: bytes, host: Host, tx_key: tuple | None = None) -> float | None:
        """Send ``data`` to ``host`` over ``wire`` now: the send's CPU, the counters, the
        connection and the link; returns when it arrives there (None: lost on the way).
        The engine's sends and the replayed steps of :mod:`sizing.sim.replay` both go here."""
        network = self.network
        size = len(data)
        now = self._env.now
        tls = wire == "tls"
        self.queue_work(now, size * self._send_s_per_byte[tls])
        key = tx_key if tx_key is not None else (_kind_token(data), tls)
        bins = self._tx.get(key)
        if bins is None:
            label = kind_class(wire_kind(data))
            tx = self.metrics.tx
            bins = tx.get(label)
            if bins is None:
                bins = tx[label] = [0] * 64
            self._tx[key] = bins
        second = int(now)
        if second >= len(bins):
            grow(bins, second)
        bins[second] += 1
        link = self._links.get(host)
        if link is None:
            link = self._links[host] = network.link_between(self, host)
        if wire != "udp":
            if wire not in link.connections:
                network.open_connection(link, wire, now)
            if link.spec.calls_per_connection is not None and _new_call(data):
                network.call_started(link, wire, now)
        return link.transit(wire, size, now)
