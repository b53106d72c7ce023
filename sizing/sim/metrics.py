"""Streaming metrics of a simulation run, with memory flat in the number of messages.

Theory of operation
-------------------
Nothing is recorded per message. Each host and each directed link owns
per-second bins (plain Python lists indexed by the whole simulated second,
grown as time goes on), so memory grows with simulated seconds, never with
traffic. Queueing delays go into running sums and a log-scale histogram (8
buckets per octave from 1 µs, about 9 % resolution) from which percentiles
are read.

The measured window is ``[warmup_s, end)`` in whole seconds, ``end`` being
the simulated time the frames are asked at (floored): per-second series are
cut there, and queueing delays are only recorded from ``warmup_s`` on (set
it before the run). CPU utilisation of one second is the busy core-seconds
in it divided by the host's cores; a job that straddles a second boundary is
split between the two bins.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["HostMetrics", "LinkMetrics", "Metrics"]

_BUCKETS_PER_OCTAVE = 8


def grow(bins: list, index: int) -> None:
    """Extend ``bins`` with zeros so that ``bins[index]`` exists (doubling, amortised O(1))."""
    bins.extend([0] * max(index + 1 - len(bins), len(bins)))


class HostMetrics:
    """Per-second bins and running statistics of one host."""

    __slots__ = (
        "name", "cores", "busy", "tls_busy", "rx", "tx", "warmup_s",
        "wait_count", "wait_sum", "wait_max", "wait_hist",
        "dropped", "rejected", "unroutable",
    )

    def __init__(self, name: str, cores: int, warmup_s: float) -> None:
        self.name = name
        self.cores = cores
        self.warmup_s = warmup_s
        self.busy: list[float] = [0.0] * 64
        """Busy core-seconds in each simulated second."""
        self.tls_busy: list[float] = [0.0] * 64
        """Of those, core-seconds spent on TLS (handshakes, record crypto, the extra
        cost of a message received over TLS rather than UDP), per second."""
        self.rx: dict[str, list[int]] = {}
        """Messages handed to the host's cores per second, by kind class (:func:`sizing.sip.kind.kind_class`)."""
        self.tx: dict[str, list[int]] = {}
        """Messages sent per second, by kind class."""
        self.wait_count = 0
        self.wait_sum = 0.0
        self.wait_max = 0.0
        self.wait_hist: list[int] = [0] * 256
        """Index 0: no wait; index i > 0: wait in [2^((i-1)/8), 2^(i/8)) µs."""
        self.dropped: list[int] = [0] * 64
        """Messages dropped at the input (queue full or the admission hook), per second."""
        self.rejected: list[int] = [0] * 64
        """INVITEs answered 503 by the overload front end, per second."""
        self.unroutable = 0
        """UDP messages sent to an address no host has."""

    def add_busy(self, start: float, end: float) -> None:
        """Account one core busy over ``[start, end)``."""
        busy = self.busy
        first = int(start)
        last = int(end)
        if last >= len(busy):
            grow(busy, last)
        if first == last:
            busy[first] += end - start
            return
        busy[first] += first + 1 - start
        for sec in range(first + 1, last):
            busy[sec] += 1.0
        busy[last] += end - last

    def add_tls(self, when: float, seconds: float) -> None:
        """Account ``seconds`` of core time spent on TLS at simulated time ``when``."""
        second = int(when)
        if second >= len(self.tls_busy):
            grow(self.tls_busy, second)
        self.tls_busy[second] += seconds

    def add_wait(self, wait: float) -> None:
        """Record one queueing delay in seconds (after warmup only; callers check)."""
        self.wait_count += 1
        if wait <= 0.0:
            self.wait_hist[0] += 1
            return
        self.wait_sum += wait
        if wait > self.wait_max:
            self.wait_max = wait
        us = wait * 1e6
        index = 1 + int(math.log2(us) * _BUCKETS_PER_OCTAVE) if us > 1.0 else 1
        hist = self.wait_hist
        hist[min(index, len(hist) - 1)] += 1

    def count(self, table: dict[str, list[int]], label: str, second: int) -> None:
        bins = table.get(label)
        if bins is None:
            bins = table[label] = [0] * 64
        if second >= len(bins):
            grow(bins, second)
        bins[second] += 1

    def wait_quantile(self, q: float) -> float:
        """The ``q`` quantile of the queueing delay in seconds (bucket upper bound)."""
        if self.wait_count == 0:
            return math.nan
        rank = q * self.wait_count
        seen = 0
        for index, n in enumerate(self.wait_hist):
            seen += n
            if seen >= rank and n:
                return 0.0 if index == 0 else 2.0 ** (index / _BUCKETS_PER_OCTAVE) * 1e-6
        return self.wait_max


class LinkMetrics:
    """Per-second bins of one direction between two hosts."""

    __slots__ = ("src", "dst", "bytes", "packets", "messages", "lost", "connections", "resumed")

    def __init__(self, src: str, dst: str) -> None:
        self.src = src
        self.dst = dst
        self.bytes: list[float] = [0.0] * 64
        """Bytes on the wire in this direction per second: messages, TCP ACKs for
        the other direction's data, connection handshakes, retransmitted segments."""
        self.packets: list[float] = [0.0] * 64
        self.messages = 0
        """SIP messages put on this direction (all time)."""
        self.lost = 0
        """UDP messages lost on this direction (all time)."""
        self.connections: list[float] = [0.0] * 64
        """TCP/TLS connections opened from ``src`` per second."""
        self.resumed: list[float] = [0.0] * 64
        """Of those, TLS connections that resumed a session, per second."""

    def add(self, second: int, nbytes: float, packets: float) -> None:
        if second >= len(self.bytes):
            grow(self.bytes, second)
            grow(self.packets, second)
        self.bytes[second] += nbytes
        self.packets[second] += packets

    def opened(self, second: int, resumed: bool) -> None:
        """A TCP/TLS connection opened from ``src`` in ``second``."""
        for bins, n in ((self.connections, 1.0), (self.resumed, float(resumed))):
            if second >= len(bins):
                grow(bins, second)
            bins[second] += n


def _window(bins: list, start: int, end: int) -> np.ndarray:
    """``bins[start:end]`` as floats, zero-padded up to ``end``."""
    out = np.zeros(max(end - start, 0))
    part = bins[start:end]
    out[: len(part)] = part
    return out


def _stats(values: np.ndarray) -> tuple[float, float, float, float]:
    if values.size == 0:
        return (math.nan,) * 4
    p95, p99 = np.percentile(values, [95, 99])
    return float(values.mean()), float(p95), float(p99), float(values.max())


class Metrics:
    """All hosts' and links' metrics of one run; results as pandas DataFrames.

    ``now()`` gives the simulated time the frames end at; ``before_read``
    callbacks bring lazily accounted state (a host's background load) up to
    date before a frame is built.
    """

    def __init__(self, now: Callable[[], float], warmup_s: float = 0.0) -> None:
        if not warmup_s >= 0:
            raise ValueError(f"Metrics warmup_s must be >= 0 seconds, got {warmup_s!r}")
        self.now = now
        self.warmup_s = float(warmup_s)
        self.hosts: dict[str, HostMetrics] = {}
        self.links: dict[tuple[str, str], LinkMetrics] = {}
        self.before_read: list[Callable[[float], None]] = []

    def host(self, name: str, cores: int) -> HostMetrics:
        if name in self.hosts:
            raise ValueError(f"metrics for host {name!r} already exist")
        metrics = self.hosts[name] = HostMetrics(name, cores, self.warmup_s)
        return metrics

    def link(self, src: str, dst: str) -> LinkMetrics:
        key = (src, dst)
        metrics = self.links.get(key)
        if metrics is None:
            metrics = self.links[key] = LinkMetrics(src, dst)
        return metrics

    def window(self) -> tuple[int, int]:
        """First and one-past-last whole second of the measured window."""
        now = self.now()
        for flush in self.before_read:
            flush(now)
        return math.ceil(self.warmup_s), int(now)

    def cpu_series(self) -> pd.DataFrame:
        """CPU utilisation (0-1 of all cores) per measured second, one column per host."""
        start, end = self.window()
        index = pd.RangeIndex(start, max(end, start), name="second")
        return pd.DataFrame(
            {name: _window(h.busy, start, end) / h.cores for name, h in self.hosts.items()},
            index=index,
        )

    def hosts_frame(self) -> pd.DataFrame:
        """One row per host: CPU utilisation mean/p95/p99/max, queueing delay, message rates,
        and the share of its CPU spent on TLS."""
        start, end = self.window()
        seconds = max(end - start, 0)
        rows = []
        for name, h in self.hosts.items():
            cpu = _window(h.busy, start, end) / h.cores
            mean, p95, p99, peak = _stats(cpu)
            rx = sum(float(_window(b, start, end).sum()) for b in h.rx.values())
            tx = sum(float(_window(b, start, end).sum()) for b in h.tx.values())
            busy = float(_window(h.busy, start, end).sum())
            per_s = (lambda n: n / seconds) if seconds else (lambda n: math.nan)
            rows.append({
                "host": name,
                "cores": h.cores,
                "cpu_mean": mean,
                "cpu_p95": p95,
                "cpu_p99": p99,
                "cpu_max": peak,
                "wait_mean_ms": (h.wait_sum / h.wait_count * 1e3) if h.wait_count else math.nan,
                "wait_p95_ms": h.wait_quantile(0.95) * 1e3,
                "wait_p99_ms": h.wait_quantile(0.99) * 1e3,
                "wait_max_ms": h.wait_max * 1e3 if h.wait_count else math.nan,
                "rx_per_s": per_s(rx),
                "tx_per_s": per_s(tx),
                "dropped_per_s": per_s(float(_window(h.dropped, start, end).sum())),
                "rejected_per_s": per_s(float(_window(h.rejected, start, end).sum())),
                "tls_cpu_share": float(_window(h.tls_busy, start, end).sum()) / busy
                if busy > 0 else math.nan,
            })
        return pd.DataFrame(rows).set_index("host") if rows else pd.DataFrame()

    def messages_frame(self) -> pd.DataFrame:
        """Messages per second over the window by host, direction (rx/tx) and kind
        (method, or status class such as ``2xx``)."""
        start, end = self.window()
        seconds = max(end - start, 0)
        rows = []
        for name, h in self.hosts.items():
            for direction, table in (("rx", h.rx), ("tx", h.tx)):
                for label in sorted(table):
                    total = float(_window(table[label], start, end).sum())
                    rate = total / seconds if seconds else math.nan
                    rows.append({"host": name, "direction": direction, "kind": label, "per_s": rate})
        return pd.DataFrame(rows, columns=["host", "direction", "kind", "per_s"])

    def links_frame(self) -> pd.DataFrame:
        """One row per direction between two hosts: signalling kbps and pps mean/p95/max."""
        start, end = self.window()
        rows = []
        for (src, dst), link in self.links.items():
            kbps = _window(link.bytes, start, end) * 8 / 1000
            pps = _window(link.packets, start, end)
            k_mean, k_p95, _, k_max = _stats(kbps)
            p_mean, p_p95, _, p_max = _stats(pps)
            rows.append({
                "src": src, "dst": dst,
                "kbps_mean": k_mean, "kbps_p95": k_p95, "kbps_max": k_max,
                "pps_mean": p_mean, "pps_p95": p_p95, "pps_max": p_max,
                "messages": link.messages, "lost": link.lost,
                "connections": sum(link.connections), "tls_resumed": sum(link.resumed),
            })
        return pd.DataFrame(rows).set_index(["src", "dst"]) if rows else pd.DataFrame()
