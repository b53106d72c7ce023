"""Simulation driver throughput: basic calls UA -> record-routing proxy -> UA on simulated hosts.

Calls arrive as a Poisson process; each is a full INVITE / 100 / 180 / 200 /
ACK ... BYE / 200 exchange through the real engine on simulated hosts and
links. ``--topology b2bua`` puts the contact centre's SIP Server in the path
(UA -> proxy -> B2BUA -> UA, two dialogs per call). Prints message
deliveries per wall second and per CPU second, wall time per simulated
second, peak memory, and this machine's bare SimPy event rate measured in
the same run, for comparison.

    .venv/bin/python benchmarks/sim.py --cps 100 --duration 60
    .venv/bin/python benchmarks/sim.py --engines   # full vs hybrid (replayed scripts), default topology
    .venv/bin/python benchmarks/sim.py --engines --repeat 3   # three pairs and their median ratio
    .venv/bin/python benchmarks/sim.py --topology b2bua
    .venv/bin/python benchmarks/sim.py --default-gc   # CPython's GC thresholds, for comparison
    .venv/bin/python benchmarks/sim.py --profile      # cProfile top entries
    .venv/bin/python benchmarks/sim.py --clock        # clock implementations compared
    .venv/bin/python benchmarks/sim.py --core         # the driver alone, no SIP parsing
    .venv/bin/python benchmarks/sim.py --floor        # per-delivery budget vs CPython's floor
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import heapq
import pstats
import random
import resource
import statistics
import sys
import time
import tracemalloc

import simpy

from sizing.sim import LinkSpec, SimClock, SimNetwork, TableProfile
from sizing.sim.host import Host
from sizing.sip.b2bua import B2BUA, Target
from sizing.sip.interfaces import Address
from sizing.sip.message import parse
from sizing.sip.proxy import Proxy, static_router
from sizing.sip.ua import AnswerPolicy, UserAgent

A = Address("UDP", "10.0.0.1", 5060)
P = Address("UDP", "10.0.0.2", 5060)
B = Address("UDP", "10.0.0.3", 5060)
S = Address("UDP", "10.0.0.4", 5060)
#: Illustrative costs of a stateful proxy, µs (the order of magnitude of a measured Kamailio).
PROFILE = TableProfile(
    {"INVITE": 60.0, "ACK": 20.0, "BYE": 35.0, "1xx": 20.0, "2xx": 30.0, "default": 30.0},
    per_kbyte_us=1.5,
    static_core_fraction=0.016,
)


def build(
    cps: float, hold_s: float, seed: int, topology: str = "proxy"
) -> tuple[simpy.Environment, SimNetwork, list[int]]:
    """The hosts, the elements on them, and the Poisson call generator.

    ``proxy``: alice -> proxy -> bob. ``b2bua``: alice -> proxy -> SIP Server
    (a B2BUA that starts a leg of its own to bob) -> bob.
    """
    env = simpy.Environment()
    net = SimNetwork(env, seed=seed, default_link=LinkSpec(latency_s=0.002, jitter_s=0.0005))
    hosts = [("uac", A, 8), ("proxy", P, 2), ("uas", B, 8)]
    if topology == "b2bua":
        hosts.append(("sipserver", S, 8))
    for name, address, cores in hosts:
        net.add_host(name, address, cores=cores, profile=PROFILE)
    proxy = Proxy(net.clock, P, static_router(S if topology == "b2bua" else B), seed=seed)
    proxy.transport = net.attach(P, proxy.on_message)
    if topology == "b2bua":
        server = B2BUA(net.clock, S, Target(f"sip:bob@{B.host}", B), seed=seed + 3)
        server.transport = net.attach(S, server.datagram_received)
    alice = UserAgent(net.clock, A, user="alice", seed=seed + 1, outbound_proxy=P)
    bob = UserAgent(net.clock, B, user="bob", seed=seed + 2, policy=AnswerPolicy(ring_s=1.0))
    alice.connect(net)
    bob.connect(net)
    rng = random.Random(seed)
    clock = net.clock
    answered = [0]

    def on_event(call, event) -> None:  # type: ignore[no-untyped-def]
        if event.kind == "answered":
            answered[0] += 1
            clock.call_later(rng.expovariate(1 / hold_s), call.bye)

    def arrival() -> None:
        alice.invite("sip:bob@example.com", on_event=on_event)
        clock.call_later(rng.expovariate(cps), arrival)

    clock.call_later(rng.expovariate(cps), arrival)
    return env, net, answered


def bare_simpy_rate(events: int = 500_000) -> float:
    """Timeout events per wall second of a bare SimPy process loop."""
    env = simpy.Environment()

    def loop(env: simpy.Environment):  # type: ignore[no-untyped-def]
        timeout = env.timeout
        for _ in range(events):
            yield timeout(0.001)

    env.process(loop(env))
    started = time.perf_counter()
    env.run()
    return events / (time.perf_counter() - started)


def run(
    cps: float,
    duration: float,
    hold_s: float,
    seed: int,
    trace_memory: bool,
    topology: str = "proxy",
    default_gc: bool = False,
) -> dict[str, float]:
    if trace_memory:
        tracemalloc.start()
    env, net, answered = build(cps, hold_s, seed, topology)
    started = time.perf_counter()
    cpu_started = time.process_time()
    if default_gc:
        env.run(until=duration)
    else:
        net.run(until=duration)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    peak = tracemalloc.get_traced_memory()[1] if trace_memory else float("nan")
    if trace_memory:
        tracemalloc.stop()
    deliveries = sum(h.received for h in net.hosts.values())
    frame = net.metrics.hosts_frame()
    return {
        "calls_answered": answered[0],
        "deliveries": deliveries,
        "wall_s": wall,
        "cpu_s": cpu,
        "deliveries_per_wall_s": deliveries / wall,
        "deliveries_per_cpu_s": deliveries / cpu,
        "wall_per_sim_s": wall / duration,
        "proxy_cpu_mean": float(frame.loc["proxy", "cpu_mean"]),
        "traced_peak_mib": peak / 2**20,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# -- clock implementations compared ---------------------------------------------------


def _timeout_clock(env: simpy.Environment):  # type: ignore[no-untyped-def]
    """call_later as env.timeout + a callback checking a cancel flag."""

    class Handle:
        __slots__ = ("cancelled",)

        def __init__(self) -> None:
            self.cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    def call_later(delay, callback):  # type: ignore[no-untyped-def]
        handle = Handle()
        env.timeout(delay).callbacks.append(lambda _e: handle.cancelled or callback())
        return handle

    return call_later


def _process_heap_clock(env: simpy.Environment):  # type: ignore[no-untyped-def]
    """A private timer heap driven by one SimPy process, interrupted for earlier timers."""
    heap: list = []
    state = {"proc": None, "waiting_until": None, "seq": 0}

    class Handle:
        __slots__ = ("cancelled",)

        def __init__(self) -> None:
            self.cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    def driver(env):  # type: ignore[no-untyped-def]
        while True:
            while heap and heap[0][0] <= env.now:
                _, _, handle, callback = heapq.heappop(heap)
                if not handle.cancelled:
                    callback()
            if not heap:
                state["waiting_until"] = None
                try:
                    yield env.event()
                except simpy.Interrupt:
                    continue
            else:
                state["waiting_until"] = heap[0][0]
                try:
                    yield env.timeout(heap[0][0] - env.now)
                except simpy.Interrupt:
                    continue

    def call_later(delay, callback):  # type: ignore[no-untyped-def]
        handle = Handle()
        when = env.now + delay
        state["seq"] += 1
        heapq.heappush(heap, (when, state["seq"], handle, callback))
        waiting = state["waiting_until"]
        if state["proc"] is None:
            state["proc"] = env.process(driver(env))
        elif env.active_process is not state["proc"] and (waiting is None or when < waiting):
            state["waiting_until"] = when
            state["proc"].interrupt()
        return handle

    return call_later


def _clock_rate(make, timers: int) -> float:  # type: ignore[no-untyped-def]
    env = simpy.Environment()
    call_later = make(env)
    rng = random.Random(1)
    fired = [0]

    def tick() -> None:
        fired[0] += 1

    def chain() -> None:
        # each step arms a long timer and cancels it (Timer B after a response), then a short one
        call_later(32.0, tick).cancel()
        if fired[0] < timers:
            call_later(rng.random() * 0.01, chain)
        tick()

    call_later(0.0, chain)
    started = time.perf_counter()
    env.run()
    return 2 * fired[0] / (time.perf_counter() - started)


def compare_clocks(timers: int = 200_000) -> None:
    """Schedule timers the way transactions do (most cancelled) on each clock; print rates."""
    makers = {
        "SimClock (direct queue push)": lambda env: SimClock(env).call_later,
        "env.timeout + callback": _timeout_clock,
        "timer heap in one process": _process_heap_clock,
    }
    for name, make in makers.items():
        print(f"{name:32s} {_clock_rate(make, timers):12,.0f} timers armed per wall second")


def core_rate(messages: int = 300_000) -> float:
    """Deliveries per wall second of the sim core alone: hosts relaying bytes, no SIP parsing.

    Two hosts bounce fixed messages over a jittered link; every delivery still
    crosses the link (bytes, jitter draw), waits for and occupies a core and
    is counted, so this is the driver's own ceiling.
    """
    env = simpy.Environment()
    net = SimNetwork(env, seed=1, default_link=LinkSpec(latency_s=0.002, jitter_s=0.0005))
    x, y = Address("UDP", "10.0.1.1", 5060), Address("UDP", "10.0.1.2", 5060)
    net.add_host("x", x, cores=2, profile=PROFILE)
    net.add_host("y", y, cores=2, profile=PROFILE)
    data = b"SIP/2.0 200 OK\r\n" + b"h" * 400 + b"\r\n\r\n"
    left = [messages]
    transports = {}

    def relay_from(here: Address, there: Address):  # type: ignore[no-untyped-def]
        def relay(payload: bytes, source: Address) -> None:
            if left[0] > 0:
                left[0] -= 1
                transports[here].send(payload, there)
        return relay

    transports[x] = net.attach(x, relay_from(x, y))
    transports[y] = net.attach(y, relay_from(y, x))
    for _ in range(200):  # 200 messages in flight at once
        transports[x].send(data, y)
    started = time.perf_counter()
    env.run()
    wall = time.perf_counter() - started
    return sum(h.received for h in net.hosts.values()) / wall


def _per_item_us(work, items: list, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    """Best-of-``repeat`` wall µs per item of ``work`` over ``items``."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for item in items:
            work(item)
        best = min(best, time.perf_counter() - started)
    return best / len(items) * 1e6


def _bare_split(data: bytes) -> dict[str, list[str]]:
    """The least a parser must do: find the head, decode, split lines and names. No checks."""
    head = data[: data.find(b"\r\n\r\n")].decode()
    lines = head.split("\r\n")
    fields: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value.strip())
    return fields


def floor(goal: float = 50_000.0, seconds: float = 20.0) -> None:
    """The goal's time per delivery against what CPython needs for the steps it must include.

    Captures the messages of a real run (every payload a host sends), then
    times on those same messages, in this run: the sim core alone (link,
    host queue, CPU slot; no SIP), the bare minimum of a parser (split the
    head into lines and names, no validation) and of an encoder (join lines),
    and the engine's own parse and encode; finally the whole pipeline.
    """
    captured: list[bytes] = []
    send = Host._send

    def capture(self, transport, data, dest):  # type: ignore[no-untyped-def]
        captured.append(bytes(data))
        return send(self, transport, data, dest)

    Host._send = capture  # type: ignore[method-assign]
    try:
        _, net, _ = build(100.0, 30.0, 1)
        net.run(until=5.0)
    finally:
        Host._send = send  # type: ignore[method-assign]
    messages = captured[:3000]
    lines = [m[: m.find(b"\r\n\r\n")].decode().split("\r\n") for m in messages]
    parsed = [parse(m) for m in messages]
    core = 1e6 / core_rate()
    split = _per_item_us(_bare_split, messages)
    join = _per_item_us(lambda ls: ("\r\n".join(ls) + "\r\n\r\n").encode(), lines)
    engine_parse = _per_item_us(parse, messages)
    engine_encode = _per_item_us(lambda m: m.encode(), parsed)
    result = run(100.0, seconds, 30.0, 1, False)
    whole = 1e6 / result["deliveries_per_cpu_s"]
    budget = 1e6 / goal
    least = core + split + join
    print(f"per delivery, µs, on {len(messages):,} messages of a real run (UA -> proxy -> UA)")
    rows = [
        (f"goal {goal:,.0f} deliveries/s per core", budget),
        ("sim core alone: link, host queue, CPU slot (no SIP)", core),
        ("bare split of the head (decode, lines, names; no checks)", split),
        ("bare encode (join lines, to bytes)", join),
        ("  least any full-fidelity delivery needs (sum of the three)", least),
        ("engine parse (validated, typed header access)", engine_parse),
        ("engine encode", engine_encode),
        ("whole pipeline (transactions, proxy, UAs; per CPU second)", whole),
    ]
    for name, value in rows:
        print(f"  {name:62s} {value:8.1f}")
    print(
        f"  the three floor steps leave {budget - least:.1f} µs of the goal's {budget:.1f} µs "
        "for transaction matching, timers, routing and the UAs"
    )


def engines(cps: float, duration: float, hold: float, seed: int, profile: bool = False, repeat: int = 1) -> None:
    """The product's default topology (``sizing run`` on the minimal scenario) with both
    engines, one after the other: calls simulated per wall and per CPU second, the ratio,
    and CPU µs per message delivered (the hybrid's: mostly replayed ones). With
    ``repeat`` > 1 the pair runs that many times, full and hybrid back to back, and the
    ratio of each pair is printed with their median: on a busy machine one slow run
    moves one pair's ratio, not the median."""
    from sizing.sim.replay import script_book

    record_s = 0.0
    pairs: list[dict[str, dict[str, float]]] = []
    for _ in range(repeat):
        rows = {}
        for engine in ("full", "hybrid"):
            scenario = _engines_scenario(cps, duration, hold, seed, engine)
            if engine == "hybrid" and not record_s:
                t = time.perf_counter()
                script_book(scenario)  # recorded once per scenario (cached), timed apart
                record_s = time.perf_counter() - t
            rows[engine] = _engines_run(scenario, seed, duration, profile and engine == "hybrid" and not pairs)
        pairs.append(rows)
    print(f"default topology, {cps:g} calls/s for {duration:g} simulated s (+5 s warm-up), hold {hold:g} s, "
          f"steady start; scripts recorded in {record_s:.2f} s (once per scenario)")
    print(f"  {'engine':8s} {'calls':>9s} {'replayed':>9s} {'wall s':>8s} {'cpu s':>8s} "
          f"{'calls/wall s':>13s} {'calls/cpu s':>12s} {'cpu µs/delivery':>16s}")
    ratios = []
    for rows in pairs:
        for engine, row in rows.items():
            print(f"  {engine:8s} {row['calls']:9,.0f} {row['replayed']:9,.0f} {row['wall_s']:8.2f} "
                  f"{row['cpu_s']:8.2f} {row['calls'] / row['wall_s']:13,.0f} {row['calls'] / row['cpu_s']:12,.0f} "
                  f"{1e6 * row['cpu_s'] / max(row['deliveries'], 1):16.1f}")
        full, hybrid = rows["full"], rows["hybrid"]
        ratios.append((hybrid["calls"] / hybrid["cpu_s"]) / (full["calls"] / full["cpu_s"]))
        print(f"  hybrid / full, calls per CPU second: {ratios[-1]:.1f}x")
    if len(ratios) > 1:
        print(f"  median of {len(ratios)} pairs: {statistics.median(ratios):.1f}x "
              f"(min {min(ratios):.1f}x, max {max(ratios):.1f}x)")


def _engines_scenario(cps: float, duration: float, hold: float, seed: int, engine: str):  # type: ignore[no-untyped-def]
    from sizing.scenario import Scenario

    return Scenario.model_validate({
        "seed": seed, "duration_s": duration, "warmup_s": 5.0,
        "traffic": {"calls_per_second": cps, "holding_time_s": hold},
        "trunk": {"channels": 100_000}, "simulation": {"engine": engine}})


def _engines_run(scenario, seed: int, duration: float, profile: bool) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """One run of ``scenario``: wall and CPU seconds, deliveries, calls, replayed calls."""
    import simpy

    from sizing.sim.flows import CallCentre
    from sizing.sim.network import collector_tuned
    from sizing.sim.simpy_fast import run_until
    from sizing.sim.topology import build_topology

    gc.collect()  # the previous run's garbage, collected before the clock starts
    wall, cpu = time.perf_counter(), time.process_time()
    env = simpy.Environment()
    topo = build_topology(scenario, env, seed=seed)
    centre = CallCentre(topo, seed)
    centre.start()
    profiler = cProfile.Profile() if profile else None
    with collector_tuned():
        if profiler is not None:
            profiler.enable()
        run_until(env, scenario.warmup_s + duration)
        if profiler is not None:
            profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(20)
    replayer = centre.replayer
    replayed = replayer.started if replayer is not None else 0
    return {"wall_s": wall, "cpu_s": cpu, "deliveries": sum(h.received for h in topo.net.hosts.values()),
            "calls": replayed + _engine_calls(centre), "replayed": replayed}


def _engine_calls(centre) -> int:  # type: ignore[no-untyped-def]
    """Calls the engine ran (placed through the carrier user agent)."""
    return centre.topo.carrier.stats.requests_sent.get("INVITE", 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cps", type=float, default=100.0, help="call attempts per second")
    parser.add_argument("--duration", type=float, default=60.0, help="simulated seconds")
    parser.add_argument("--hold", type=float, default=30.0, help="mean call holding time, s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memory", action="store_true", help="trace peak memory (slower)")
    parser.add_argument("--profile", action="store_true", help="print cProfile top entries")
    parser.add_argument("--clock", action="store_true", help="compare clock implementations")
    parser.add_argument("--core", action="store_true", help="the sim core's own rate (no SIP parsing)")
    parser.add_argument("--floor", action="store_true", help="per-delivery budget vs CPython's floor")
    parser.add_argument("--topology", choices=("proxy", "b2bua"), default="proxy", help="call path")
    parser.add_argument(
        "--default-gc", action="store_true", help="run at CPython's default GC thresholds (not SimNetwork.run's)"
    )
    parser.add_argument("--engines", action="store_true",
                        help="the product's default topology with the full and the hybrid engine")
    parser.add_argument("--repeat", type=int, default=1,
                        help="with --engines: run the pair this many times and print the median ratio")
    args = parser.parse_args(argv)
    if args.engines:
        engines(args.cps, args.duration, args.hold, args.seed, args.profile, max(args.repeat, 1))
        return 0
    if args.clock:
        compare_clocks()
        return 0
    if args.floor:
        floor()
        return 0
    if args.core:
        print(f"sim core alone: {core_rate():,.0f} deliveries per wall second")
        return 0
    bare = bare_simpy_rate()
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        result = run(args.cps, args.duration, args.hold, args.seed, False, args.topology, args.default_gc)
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)
    else:
        result = run(args.cps, args.duration, args.hold, args.seed, args.memory, args.topology, args.default_gc)
    print(
        f"basic calls {args.cps:g}/s for {args.duration:g} simulated s, hold {args.hold:g} s, "
        f"via {args.topology}{', default GC' if args.default_gc else ''}"
    )
    for key, value in result.items():
        print(f"  {key:24s} {value:14,.3f}" if isinstance(value, float) else f"  {key:24s} {value:14,}")
    print(f"  {'bare simpy events/s':24s} {bare:14,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
