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
        key = (stream.src, stream.dst)
        nbytes, npkts = self.media_bytes[key], self.media_packets[key]
        second = int(t0)
        while t0 < t1:
            end = min(float(second + 1), t1)
            if second >= len(nbytes):
                grow(nbytes, second)
                grow(npkts, second)
            span = end - t0
            nbytes[second] += stream.bytes_per_s * span
            npkts[second] += stream.pps * span
            t0 = end
            second += 1

    def add_data(self, src: str, dst: str, nbytes: float, now: float) -> None:
        bins = self.data_bytes[(src, dst)]
        second = int(now)
        if second >= len(bins):
            grow(bins, second)
        bins[second] += nbytes

    @staticmethod
    def window_sum(bins: list[float], start: int, end: int) -> float:
        return float(math.fsum(bins[start:end]))
