"""The simulated network: hosts, the links between them, and where each address lives.

:class:`SimNetwork` plays the role of :class:`sizing.sip.loopback.LoopbackNetwork`
with simulated links, CPU and metrics, and has the same ``attach`` shape, so
engine elements plug in the same way::

    env = simpy.Environment()
    net = SimNetwork(env, seed=1, default_link=LinkSpec(latency_s=0.005))
    net.add_host("proxy", P, cores=4, profile=profile)
    proxy = Proxy(net.clock, P, static_router(B))
    proxy.transport = net.attach(P, proxy.on_message)      # or hosts["proxy"].bind(...)
    alice = UserAgent(net.clock, A, ...); alice.connect(net)   # UA's own helper works too
    env.run(until=60)
    net.metrics.hosts_frame()

A message sent to an address no host has is counted (``Host.metrics.unroutable``)
and dropped on UDP, and raises :class:`~sizing.sip.interfaces.TransportError`
on a reliable transport, as the engine expects of a refused connection.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import simpy

from ..models.profile import handshake_cost_us, tls_receive_part_us
from ..sip.interfaces import Address
from ..sip.kind import wire_kind
from .clock import SimClock
from .host import CostProfile, Host, OnMessage, OverloadPolicy, SimTransport
from .link import WIRE_TRANSPORT, Link, LinkSpec
from .metrics import Metrics
from .simpy_fast import run_until

__all__ = ["GC_THRESHOLDS", "SimNetwork", "collector_tuned"]

#: Cyclic-GC thresholds while a simulation runs (CPython's default is 700, 10, 10).
GC_THRESHOLDS = (20_000, 100, 10)
_tuned = {"depth": 0, "froze": False}  # open collector_tuned blocks; whether the outermost froze


@contextmanager
def collector_tuned(thresholds: tuple[int, int, int] = GC_THRESHOLDS, *,
                    collect_first: bool = False) -> Iterator[None]:
    """Run the block with the cyclic garbage collector's thresholds raised and the heap frozen.

    A simulation keeps hundreds of thousands of live objects (transactions,
    dialogs, timers, messages in flight) and allocates a few hundred per
    message; at the default thresholds short-lived messages survive into
    the older generations, which then trigger full collections over every
    live object: a third of the run's time at 100 calls/s. The engine makes
    almost no cyclic garbage, so collecting the middle generation rarely
    (every 100 young collections) loses nothing and skips traversing the
    objects of calls still in progress again and again. Everything alive
    when the block starts (imported modules: pandas, numpy, ...) is moved
    to the permanent generation (``gc.freeze``) for the block, so full
    collections skip it; it goes back on exit. With ``collect_first`` (a whole
    run: :func:`sizing.sim.simulate.run_replication`, a sweep's) what an earlier run
    left is collected first: a finished simulation is a web of cycles (the
    environment, its hosts, calls and timers) that the raised thresholds leave for
    a later full collection, and frozen with the rest it would stay, millions of
    objects making the next runs of a plan in the same process slower. ``benchmarks/sim.py
    --default-gc`` shows the difference. Garbage in cycles is still
    collected, only in larger batches; thresholds already higher are kept.
    """
    before = gc.get_threshold()
    raised = tuple(max(old, new) for old, new in zip(before, thresholds, strict=True))
    gc.set_threshold(*raised)
    if _tuned["depth"] == 0 and gc.get_freeze_count() == 0:  # a caller's own freeze is left alone
        if collect_first:
            gc.collect()  # an earlier run's cycles (its environment and all it held) are garbage now
        gc.freeze()
        _tuned["froze"] = True
    _tuned["depth"] += 1
    try:
        yield
    finally:
        _tuned["depth"] -= 1
        if _tuned["depth"] == 0 and _tuned["froze"]:
            _tuned["froze"] = False
            gc.unfreeze()
        gc.set_threshold(*before)


RELIABLE = frozenset({"TCP", "TLS", "WS", "WSS"})


class SimNetwork:
    """Hosts joined by links on one SimPy environment, with one :class:`Metrics`.

    It is the :class:`~sizing.sim.host.HostNetwork` its hosts send through.

    ``seed`` seeds every link's RNG (each link draws from its own generator,
    derived from the seed and the two host names, so runs are reproducible
    and one link's traffic does not shift another's draws). ``default_link``
    describes every host pair not given its own :meth:`link`. Queueing delays
    count from ``warmup_s`` on; the frames' window starts there too.
    """

    def __init__(
        self,
        env: simpy.Environment,
        *,
        seed: int = 0,
        default_link: LinkSpec | None = None,
        warmup_s: float = 0.0,
    ) -> None:
        if not isinstance(env, simpy.Environment):
            raise TypeError(f"SimNetwork needs a simpy.Environment, got {env!r}")
        if default_link is not None and not isinstance(default_link, LinkSpec):
            raise TypeError(f"SimNetwork default_link must be a LinkSpec, got {default_link!r}")
        self.env = env
        self.seed = seed
        self.clock = SimClock(env)
        self.default_link = default_link if default_link is not None else LinkSpec()
        self.metrics = Metrics(lambda: env.now, warmup_s)
        self.hosts: dict[str, Host] = {}
        self._owner: dict[Address, Host] = {}
        self._routes: dict[Address, SimTransport] = {}
        self._links: dict[tuple[Host, Host], Link] = {}
        self._specs: dict[tuple[str, str], LinkSpec] = {}

    # -- building ----------------------------------------------------------------------

    def add_host(
        self,
        name: str,
        addresses: Address | Iterable[Address],
        *,
        cores: int = 1,
        profile: CostProfile,
        overload: OverloadPolicy | None = None,
        background_period_s: float = 0.01,
        cache_costs: bool = True,
    ) -> Host:
        """Add a host owning ``addresses``; see :class:`~sizing.sim.host.Host`."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"add_host(): name must be a non-empty string, got {name!r}")
        if name in self.hosts:
            raise ValueError(f"add_host(): a host named {name!r} already exists")
        addrs = (addresses,) if isinstance(addresses, Address) else tuple(addresses)
        if not addrs:
            raise ValueError(f"add_host({name!r}): needs at least one Address")
        for address in addrs:
            if not isinstance(address, Address):
                raise TypeError(f"add_host({name!r}): {address!r} is not an Address")
            if address.transport not in WIRE_TRANSPORT:
                raise ValueError(
                    f"add_host({name!r}): transport {address.transport} of {address} is not simulated "
                    f"(one of {sorted(WIRE_TRANSPORT)})"
                )
            owner = self._owner.get(address)
            if owner is not None:
                raise ValueError(f"add_host({name!r}): {address} already belongs to host {owner.name!r}")
        if overload is None:
            overload = OverloadPolicy()
        if not isinstance(overload, OverloadPolicy):
            raise TypeError(f"add_host({name!r}): overload must be an OverloadPolicy, got {overload!r}")
        metrics = self.metrics.host(name, cores) if isinstance(cores, int) else None
        try:
            host = Host(
                self, name, addrs, cores=cores, profile=profile, metrics=metrics,  # type: ignore[arg-type]
                overload=overload, background_period_s=background_period_s, cache_costs=cache_costs,
            )
        except (TypeError, ValueError):
            self.metrics.hosts.pop(name, None)
            raise
        self.metrics.before_read.append(host.flush)
        if any(WIRE_TRANSPORT[a.transport] == "tls" for a in addrs):
            host.arrive = self._tls_counted(host)  # type: ignore[method-assign]
        self.hosts[name] = host
        for address in addrs:
            self._owner[address] = host
        return host

    def link(self, a: str, b: str, spec: LinkSpec, *, both_ways: bool = True) -> None:
        """Describe the link from host ``a`` to host ``b`` (and back, unless ``both_ways`` is False).

        Must be called before traffic flows between the two hosts.
        """
        if not isinstance(spec, LinkSpec):
            raise TypeError(f"link({a!r}, {b!r}): spec must be a LinkSpec, got {spec!r}")
        for name in (a, b):
            if name not in self.hosts:
                raise KeyError(f"link({a!r}, {b!r}): no host named {name!r}")
        pairs = [(a, b), (b, a)] if both_ways else [(a, b)]
        for src, dst in pairs:
            if (self.hosts[src], self.hosts[dst]) in self._links:
                raise ValueError(f"link({a!r}, {b!r}): traffic already flows {src} -> {dst}")
            self._specs[(src, dst)] = spec

    def attach(self, address: Address, on_message: OnMessage, *, reliable: bool | None = None) -> SimTransport:
        """Listen at ``address`` (owned by a host); ``reliable`` defaults from its transport name.

        Returns the engine's ``Transport`` for that address.
        """
        if not isinstance(address, Address):
            raise TypeError(f"attach() needs an Address, got {address!r}")
        if not callable(on_message):
            raise TypeError(f"attach({address}): on_message must be callable, got {on_message!r}")
        host = self._owner.get(address)
        if host is None:
            raise ValueError(f"attach(): no host owns {address}; give it to add_host() first")
        if address in self._routes:
            raise ValueError(f"attach(): {address} is already attached")
        if reliable is None:
            reliable = address.transport in RELIABLE
        transport = SimTransport(host, address, on_message, bool(reliable), WIRE_TRANSPORT[address.transport])
        host.transports[address] = transport
        self._routes[address] = transport
        return transport

    def detach(self, address: Address) -> None:
        """Stop listening at ``address``; messages to it are then unroutable."""
        transport = self._routes.pop(address, None)
        if transport is None:
            raise KeyError(f"detach(): {address} is not attached")
        del transport.host.transports[address]

    def __contains__(self, address: object) -> bool:
        return address in self._routes

    @property
    def routes(self) -> Mapping[Address, SimTransport]:
        """The transport listening at each attached address (read-only; :meth:`attach` and
        :meth:`detach` change it, and a host may keep it: it is always the same mapping)."""
        return self._routes

    def host_of(self, address: Address) -> Host:
        """The host owning ``address``."""
        host = self._owner.get(address)
        if host is None:
            raise KeyError(f"no host owns {address}")
        return host

    def links(self) -> list[Link]:
        """Every link that has carried traffic, in creation order."""
        return list(self._links.values())

    def run(self, until: float) -> None:
        """Run the simulation until simulated time ``until`` (seconds), GC tuned for it."""
        with collector_tuned():
            run_until(self.env, until)

    # -- what a Host needs (HostNetwork) ----------------------------------------------------

    def link_between(self, src: Host, dst: Host) -> Link:
        """The link src -> dst, created (with its reverse) on first use."""
        link = self._links.get((src, dst))
        if link is not None:
            return link
        forward = self._make(src, dst)
        if src is dst:
            return forward
        backward = self._make(dst, src)
        backward.connections = forward.connections
        backward.opened = forward.opened
        forward.reverse, backward.reverse = backward, forward
        return forward

    def _make(self, src: Host, dst: Host) -> Link:
        spec = self._specs.get((src.name, dst.name), self.default_link)
        rng = random.Random(f"{self.seed}:{src.name}->{dst.name}")
        link = Link(src.name, dst.name, spec, rng, self.metrics.link(src.name, dst.name))
        self._links[(src, dst)] = link
        return link

    def open_connection(self, link: Link, wire: str, now: float) -> None:
        """Open a TCP/TLS connection on ``link``; a TLS handshake costs CPU on both ends."""
        conn, new = link.open(wire, now)
        if new:
            self._handshake(link, wire, conn.resumed)

    def call_started(self, link: Link, wire: str, now: float) -> None:
        """A new call's INVITE on ``link``: a connection per few calls may be replaced."""
        if link.call_started(wire, now):
            self._handshake(link, wire, link.connections[wire].resumed)

    # -- internals ---------------------------------------------------------------------------

    def _handshake(self, link: Link, wire: str, resumed: bool) -> None:
        """A TLS handshake costs both ends CPU by the link's server key type and suite."""
        if wire == "tls":
            spec = link.spec
            for name in (link.src, link.dst):
                host = self.hosts[name]
                cost = handshake_cost_us(host.profile, resumed, key=spec.tls_key, suite=spec.suite)
                host.charge(cost)
                if self.env.now >= host.free_until:
                    host.metrics.add_tls(self.env.now, cost * 1e-6)

    def _tls_counted(self, host: Host) -> Callable[[Any], None]:
        """``host``'s front end, counting the TLS part of each message it admits over TLS (its
        cost beyond the same message over UDP, and the sender's record encryption) in the
        hosts' ``tls_busy``, for their TLS share of CPU. The hosts charge the costs
        themselves; this only accounts them, for engine and replayed messages alike."""
        arrive, env, owner = host.arrive, self.env, self._owner
        parts: dict[tuple[str | int, int], float] = {}

        def counted(job: Any) -> None:
            admitted = host.received
            arrive(job)
            now = env.now
            if job.transport.wire != "tls" or host.received == admitted or now < host.free_until:
                return
            data = job.data
            size = len(data)
            key = (wire_kind(data), size)
            part = parts.get(key)
            if part is None:
                part = parts[key] = tls_receive_part_us(host.profile, key[0], size) * 1e-6
            host.metrics.add_tls(now, part)
            sender = owner.get(job.source)
            if sender is not None:
                sender.metrics.add_tls(now, sender.profile.tls.per_kbyte_us * size * 1e-9)

        return counted
