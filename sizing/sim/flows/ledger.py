"""Fluid accounting of media (RTP) and bulk data (CTI, HA replication) on simulated links.

Media is not simulated packet by packet: a stream is a constant rate of bytes
and packets on one direction between two hosts, from when it starts until it
stops, integrated exactly into per-second bins. Hosts that handle media pay
``per_packet_us`` per received packet through periodic CPU jobs
(:meth:`MediaLedger.tick`), so media load shows in their utilisation without
an event per packet.
"""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import accumulate

from ..metrics import grow

__all__ = ["MediaLedger", "Stream"]


class Stream:
    """One direction of one stream: ``kbps`` and ``pps`` from ``start`` on."""

    __slots__ = ("src", "dst", "bytes_per_s", "pps", "start", "open")

    def __init__(self, src: str, dst: str, bytes_per_s: float, pps: float, start: float) -> None:
        self.src, self.dst = src, dst
        self.bytes_per_s, self.pps = bytes_per_s, pps
        self.start = start
        self.open = True


class MediaLedger:
    """Per-second media and data bytes/packets per directed host pair, and media pps per host."""

    def __init__(self) -> None:
        self.media_bytes: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * 64)
        self.media_packets: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * 64)
        self.data_bytes: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * 64)
        self._byte_steps: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * 64)
        self._packet_steps: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * 64)
        """Changes of each pair's media rate at whole seconds (see :meth:`_integrate`)."""
        self.host_pps: dict[str, float] = defaultdict(float)
        """Media packets per second each host receives now."""
        self.open: dict[Stream, None] = {}
        """Open streams in the order they started (a set would iterate in address order, and
        the float sums of :meth:`flush` would differ from process to process)."""

    def start(self, src: str, dst: str, bytes_per_s: float, pps: float, now: float) -> Stream:
        stream = Stream(src, dst, bytes_per_s, pps, now)
        self.open[stream] = None
        self.host_pps[dst] += pps
        return stream

    def stop(self, stream: Stream, now: float) -> None:
        if not stream.open:
            return
        stream.open = False
        self.open.pop(stream, None)
        self.host_pps[stream.dst] -= stream.pps
        self._integrate(stream, stream.start, now)

    def flush(self, now: float) -> None:
        """Account every open stream up to ``now`` (before the bins are read)."""
        for stream in self.open:
            self._integrate(stream, stream.start, now)
            stream.start = now

    def _integrate(self, stream: Stream, t0: float, t1: float) -> None:
        """Add the stream's bytes and packets over ``[t0, t1)``: the partial first and
        last seconds into the bins, the whole seconds between as a rate step (a call holds
        its streams for minutes: one bin per second would be most of a run's work)."""
        key = (stream.src, stream.dst)
        nbytes, npkts = self.media_bytes[key], self.media_packets[key]
        first, last = int(t0), int(t1)
        if last >= len(nbytes):
            grow(nbytes, last)
            grow(npkts, last)
        rate, pps = stream.bytes_per_s, stream.pps
        if first == last:
            span = t1 - t0
            nbytes[first] += rate * span
            npkts[first] += pps * span
            return
        head, tail = first + 1 - t0, t1 - last
        nbytes[first] += rate * head
        npkts[first] += pps * head
        if tail > 0:
            nbytes[last] += rate * tail
            npkts[last] += pps * tail
        if last > first + 1:
            for steps, value in ((self._byte_steps[key], rate), (self._packet_steps[key], pps)):
                if last >= len(steps):
                    grow(steps, last)
                steps[first + 1] += value
                steps[last] -= value

    def media_window(self, key: tuple[str, str], start: int, end: int) -> tuple[float, float]:
        """(Bytes, packets) of media from ``src`` to ``dst`` over the seconds ``[start, end)``."""
        return (self._window(self.media_bytes.get(key), self._byte_steps.get(key), start, end),
                self._window(self.media_packets.get(key), self._packet_steps.get(key), start, end))

    def data_window(self, key: tuple[str, str], start: int, end: int) -> float:
        """Bulk data bytes from ``src`` to ``dst`` over the seconds ``[start, end)``."""
        return self._window(self.data_bytes.get(key), None, start, end)

    @staticmethod
    def _window(bins: list[float] | None, steps: list[float] | None, start: int, end: int) -> float:
        total = math.fsum(bins[start:end]) if bins else 0.0
        if steps:
            total += math.fsum(list(accumulate(steps))[start:end])
        return float(total)

    def add_data(self, src: str, dst: str, nbytes: float, now: float) -> None:
        bins = self.data_bytes[(src, dst)]
        second = int(now)
        if second >= len(bins):
            grow(bins, second)
        bins[second] += nbytes

