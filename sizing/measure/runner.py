"""One measurement campaign: load at each rate against a target, the target's CPU sampled.

The load comes from a *driver*: SIPp (udp and tcp targets) or the project's
own ``sizing load`` (:mod:`sizing.measure.loadgen`; any transport, the only one for tls
targets, since Debian's SIPp has no TLS). For every rate and repetition a
*step* runs: an optional SIPp UAS behind the target (when the target is a
proxy), then the driver's UAC at the rate for the duration; the target's CPU time (its whole process tree) is read just before
the UAC starts and just after the last SIPp exits. The step becomes one CSV
row; the CSV is rewritten atomically after each step, so an interrupted
campaign keeps the steps it finished.

A step in which calls failed, no call completed, or SIPp retransmitted more
than ``max_retrans_ratio`` of the messages it sent is kept but marked
``valid=False`` with the reason: its CPU figure measures an overloaded or
broken exchange, and ``sizing calibrate`` ignores it.

Messages counted for the target: what the SIPp instances (or ``sizing load``)
sent is what the target received, and what they received is what the target
sent (each talks only to the target).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sizing.files import atomic_write
from sizing.sip.interfaces import Address

from .cpu import ProcessGone, ProcessTree, cpu_model
from .flows import Flow
from .sipp import MessageTally, Sipp, SippCommand, SippError, SippStats

__all__ = [
    "Capture",
    "CaptureTotals",
    "MeasureConfig",
    "MeasureError",
    "measure",
    "parse_rates",
    "probe_target",
    "steps",
    "write_csv_atomic",
]

#: Columns every row has, in order; per-kind message columns follow ``messages_out``.
BASE_COLUMNS = (
    "flow", "rate_cps", "repeat", "duration_s", "connections", "calls_attempted", "calls_ok", "calls_failed",
    "retransmissions", "retrans_ratio", "response_time_ms", "messages_in", "messages_out",
)
TAIL_COLUMNS = (
    "bytes_in", "bytes_out", "bytes", "bytes_source", "cpu_seconds", "cpu_per_call_us",
    "cpu_core_fraction", "rss_mb", "tls_handshakes_full", "tls_handshakes_resumed", "valid", "reason", "timestamp", "cpu_model",
    "target", "driver", "software",
)
DRIVERS = ("sipp", "load")


class MeasureError(RuntimeError):
    """A measurement that cannot run; the message says what and where."""


def parse_rates(text: str) -> list[float]:
    """``"50,100,200"`` as rates in calls/s; ValueError naming the bad item."""
    rates = []
    for i, item in enumerate(text.split(","), start=1):
        item = item.strip()
        try:
            rate = float(item)
        except ValueError:
            raise ValueError(f"--rates: item {i} ({item!r}) is not a number") from None
        if not (rate > 0 and rate < 1e6):
            raise ValueError(f"--rates: item {i} ({item!r}) must be a positive rate in calls/s")
        rates.append(rate)
    return rates


@dataclass(frozen=True)
class MeasureConfig:
    """What to measure; see ``sizing measure --help`` for each field."""

    target: Address
    pid: int
    rates: tuple[float, ...]
    duration_s: float
    flow: Flow
    out: Path
    sipp: str | None
    """Path of SIPp: the UAC of the sipp driver, and the UAS behind a proxy target."""
    uas_behind: Address | None = None
    repeat: int = 1
    interleave: bool = False
    """Run the repeats as rounds over every rate (50, 100, 200, 50, 100, 200, ...) rather
    than each rate's repeats back to back, so a machine whose speed drifts during the
    campaign shifts every rate alike instead of the rates measured last."""
    tshark: str | None = None
    """Path of tshark when bytes are to be captured on the wire, else None."""
    max_retrans_ratio: float = 0.01
    max_failed_ratio: float = 0.0
    """Failed calls per call attempted beyond which a step is not valid (0: any failure)."""
    pause_ms: int | None = None
    software: str | None = None
    service: str = "service"
    driver: str | None = None
    """"sipp" or "load"; None picks sipp for udp and tcp targets, load for tls."""
    cafile: Path | None = None
    insecure: bool = False
    tls_version: str | None = None
    """TLS settings of the load driver (see ``sizing load``)."""
    connections: str = "shared"
    """Load driver over TCP/TLS: one connection for every call, or a new one ``per-call``
    (a full TLS handshake each: what ``sizing calibrate`` fits handshake cost from)."""

    def __post_init__(self) -> None:
        if self.driver is None:
            object.__setattr__(self, "driver", "load" if self.target.transport == "TLS" else "sipp")
        if self.driver not in DRIVERS:
            raise ValueError(f"--driver: {self.driver!r} is not one of {', '.join(DRIVERS)}")
        if self.driver == "sipp" and self.target.transport not in ("UDP", "TCP"):
            raise ValueError(f"--target: SIPp drives udp or tcp here, not {self.target.transport.lower()} "
                             "(use --driver load)")
        if self.connections != "shared" and (self.driver != "load" or self.target.transport == "UDP"):
            raise ValueError(f"--connections {self.connections}: needs the load driver and a tcp: or tls: target")
        if self.driver == "load" and self.flow.name not in ("basic-call", "register", "options"):
            raise ValueError(f"--flow: the load driver runs basic-call, register or options, not {self.flow.name}")
        if self.uas_behind is not None:
            if self.uas_behind.transport not in ("UDP", "TCP"):
                raise ValueError("--uas-behind: the SIPp UAS listens on udp or tcp")
            if self.driver == "sipp" and self.uas_behind.transport != self.target.transport:
                raise ValueError("--uas-behind: must use the same transport as --target")
        if self.sipp is None and (self.driver == "sipp" or self.uas_behind is not None):
            raise ValueError("SIPp is needed (for the sipp driver or the UAS behind the target)")
        if not self.duration_s > 0:
            raise ValueError(f"--duration: must be positive, got {self.duration_s:g}")
        if self.repeat < 1:
            raise ValueError(f"--repeat: must be at least 1, got {self.repeat}")
        if not 0 <= self.max_failed_ratio <= 1:
            raise ValueError(f"--max-failed-ratio: must be within [0, 1], got {self.max_failed_ratio:g}")
        if not 0 <= self.max_retrans_ratio <= 1:
            raise ValueError(f"--max-retrans-ratio: must be within [0, 1], got {self.max_retrans_ratio:g}")


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _probe_message(target: Address, local: tuple) -> bytes:
    host = f"[{target.host}]" if ":" in target.host else target.host
    lhost = f"[{local[0]}]" if ":" in local[0] else local[0]
    return (
        f"OPTIONS sip:{host}:{target.port} SIP/2.0\r\n"
        f"Via: SIP/2.0/{target.transport} {lhost}:{local[1]};branch=z9hG4bKsizingprobe{os.getpid()}\r\n"
        f"From: <sip:probe@{lhost}>;tag=probe{os.getpid()}\r\n"
        f"To: <sip:{host}:{target.port}>\r\n"
        f"Call-ID: sizing-probe-{os.getpid()}-{time.monotonic_ns()}\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 0\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def probe_target(target: Address, timeout: float = 2.0) -> str:
    """Send one OPTIONS (Max-Forwards: 0, so it goes no further) and wait for any response.

    Returns the response's Server or User-Agent header ("" if none); raises
    MeasureError when nothing answers. Over TLS the certificate is not checked:
    the probe only asks for the software's name.
    """
    host = target.host.strip("[]")
    where = f"{target.transport.lower()}:{target.host}:{target.port}"
    kind = socket.SOCK_DGRAM if target.transport == "UDP" else socket.SOCK_STREAM
    try:
        with socket.socket(_family(host), kind) as raw:
            raw.settimeout(timeout)
            raw.connect((host, target.port))
            sock = raw
            if target.transport == "TLS":
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
                sock = context.wrap_socket(raw)
            sock.sendall(_probe_message(target, sock.getsockname()))
            data = sock.recv(65535)
    except ssl.SSLError as exc:
        raise MeasureError(f"target {where}: TLS handshake failed: {exc.reason or exc}") from None
    except (ConnectionRefusedError, ConnectionResetError):
        raise MeasureError(f"target {where} unreachable: connection refused (nothing listening)") from None
    except TimeoutError:
        raise MeasureError(f"target {where} unreachable: no answer to OPTIONS within {timeout:g} s") from None
    except OSError as exc:
        raise MeasureError(f"target {where} unreachable: {exc.strerror or exc}") from None
    if not data.startswith(b"SIP/2.0 "):
        raise MeasureError(f"target {where} answered OPTIONS with something that is not SIP")
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"server", b"user-agent"):
            return value.strip().decode("latin-1")
    return ""


def _free_port(host: str, transport: str) -> int:
    kind = socket.SOCK_DGRAM if transport == "UDP" else socket.SOCK_STREAM
    with socket.socket(_family(host), kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _local_ip(target: Address) -> str:
    host = target.host.strip("[]")
    with socket.socket(_family(host), socket.SOCK_DGRAM) as sock:
        sock.connect((host, target.port or 5060))
        return sock.getsockname()[0]


@dataclass(frozen=True)
class CaptureTotals:
    """What a capture saw, both directions."""

    payload_bytes: int
    """UDP/TCP payload: the SIP messages (or, over TLS, the TLS records)."""
    ip_bytes: int
    """IP packets, headers included (no layer 2)."""
    packets: int
    retransmissions: int = 0
    """UDP datagrams that repeat one seen before byte for byte (same ports and payload):
    a SIP retransmission, counted in the figures above too."""
    retransmitted_ip_bytes: int = 0

    @property
    def first_ip_bytes(self) -> int:
        """IP bytes without the retransmissions: what the messages themselves cost."""
        return self.ip_bytes - self.retransmitted_ip_bytes

    @property
    def first_packets(self) -> int:
        return self.packets - self.retransmissions


class Capture:
    """tshark capturing the target's port (and optionally a second one) to a pcap, counted afterwards."""

    def __init__(self, tshark: str, target: Address, workdir: Path, also: Address | None = None) -> None:
        self.tshark, self.pcap = tshark, workdir / "capture.pcap"
        host = target.host.strip("[]")
        iface = "lo" if host.startswith("127.") or host == "::1" else "any"
        ports = [target] if also is None else [target, also]
        bpf = " or ".join(f"({'udp' if a.transport == 'UDP' else 'tcp'} port {a.port})" for a in ports)
        self.proc = subprocess.Popen(
            [tshark, "-i", iface, "-f", bpf, "-F", "pcap", "-w", str(self.pcap), "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 10
        line = ""
        while "Capturing on" not in line:
            line = self.proc.stderr.readline()  # type: ignore[union-attr]
            if not line or time.monotonic() > deadline:
                self.proc.kill()
                raise MeasureError(f"tshark did not start capturing: {line.strip() or 'no output'}")
        self.probe_port = self._wait_live(target) if target.transport == "UDP" else None

    def _wait_live(self, target: Address) -> int | None:
        """"Capturing on" comes before dumpcap's filter is live, and how long after depends on
        how busy the machine is: send CRLF keep-alives (RFC 5626 §3.5.1; a SIP server ignores
        them) to the target until the capture file holds one. Their port is left out of the
        counts. None (after a fixed wait) when the address cannot be probed."""
        family = socket.AF_INET6 if ":" in target.host.strip("[]") else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((target.host.strip("[]"), 0))
            except OSError:
                time.sleep(1.0)
                return None
            port = probe.getsockname()[1]
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                probe.sendto(b"\r\n\r\n", (target.host.strip("[]"), target.port))
                time.sleep(0.2)
                if self.pcap.exists() and self.pcap.stat().st_size > 24:  # past pcap's file header
                    return port
        raise MeasureError("tshark's capture saw nothing within 20 s of starting")

    def stop(self) -> CaptureTotals:
        """Stop capturing and count the packets."""
        time.sleep(0.5)  # let the last packets reach the capture
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        result = subprocess.run(
            [self.tshark, "-r", str(self.pcap), "-T", "fields", "-e", "udp.length", "-e", "tcp.len",
             "-e", "ip.len", "-e", "ipv6.plen", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.payload"],
            capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise MeasureError(f"tshark could not read its capture: {result.stderr.strip()[:200]}")
        payload = ip_total = packets = repeats = repeated_ip = 0
        seen: set[tuple[str, str, str]] = set()
        probe = str(self.probe_port) if self.probe_port is not None else None
        for line in result.stdout.splitlines():
            udp, tcp, ip4, ip6, sport, dport, data = (line.split("\t") + [""] * 7)[:7]
            if probe is not None and probe in (sport, dport):
                continue  # the liveness probe of __init__
            size = int(ip4.split(",")[0]) if ip4.strip() else (
                int(ip6.split(",")[0]) + 40 if ip6.strip() else 0)
            if udp.strip():
                payload += int(udp.split(",")[0]) - 8
                key = (sport, dport, data)
                if key in seen:
                    repeats += 1
                    repeated_ip += size
                seen.add(key)
            elif tcp.strip():
                payload += int(tcp.split(",")[0])
            ip_total += size
            packets += 1
        return CaptureTotals(payload, ip_total, packets, repeats, repeated_ip)


def _sipp_command(config: MeasureConfig, workdir: Path, name: str, calls: int, timeout_s: float,
                  transport: str, **fields: Any) -> SippCommand:
    """The options both SIPp instances of a step share; their files are ``<name>_*`` in ``workdir``."""
    pause = config.flow.pause_ms if config.pause_ms is None else config.pause_ms
    assert config.sipp is not None
    return SippCommand(
        config.sipp, calls=calls, pause_ms=pause, transport=transport, timeout_s=timeout_s,
        timeout_error=True, stat_file=workdir / f"{name}_stat.csv", stat_period_s=3600,
        message_file=workdir / f"{name}_msg.log", error_file=workdir / f"{name}_err.log",
        **fields,
    )


def _start_uas(config: MeasureConfig, workdir: Path, calls: int, timeout_s: float) -> Sipp:
    """The SIPp UAS behind a proxy target, once it listens (MeasureError when it cannot)."""
    assert config.uas_behind is not None
    uas = config.uas_behind
    command = _sipp_command(config, workdir, "uas", calls, timeout_s, uas.transport,
                            scenario=config.flow.uas_scenario, local_ip=uas.host.strip("[]"),
                            local_port=uas.port)
    what = f"SIPp UAS behind the target (--uas-behind {uas.transport.lower()}:{uas.host}:{uas.port})"
    try:
        sipp = Sipp.start(command, workdir, what=what)
    except SippError as exc:
        raise MeasureError(str(exc)) from None
    try:
        sipp.wait_ready()
    except SippError as exc:
        sipp.stop()
        raise MeasureError(str(exc)) from None
    return sipp


def _finish_uas(uas: Sipp | None) -> None:
    """Let the SIPp UAS finish its calls; make it dump its stats and exit if it lingers."""
    if uas is not None:
        uas.finish(5.0)


def _step(config: MeasureConfig, tree: ProcessTree, rate: float, repeat: int, software: str) -> dict:
    calls = max(1, round(rate * config.duration_s))
    pause = config.flow.pause_ms if config.pause_ms is None else config.pause_ms
    timeout_s = config.duration_s + pause / 1000 + 30
    with tempfile.TemporaryDirectory(prefix="sizing-measure-") as tmp, contextlib.ExitStack() as running:
        workdir = Path(tmp)
        uas = running.enter_context(_start_uas(config, workdir, calls, timeout_s)) if config.uas_behind else None
        capture = (Capture(config.tshark, config.target, workdir, config.uas_behind)
                   if config.tshark else None)
        if config.driver == "load":
            return _load_step(config, tree, rate, repeat, software, workdir, uas, capture, calls)
        local_ip = _local_ip(config.target)
        host = config.target.host
        target = f"{host}:{config.target.port}"
        behind = config.uas_behind
        uac_command = _sipp_command(
            config, workdir, "uac", calls, timeout_s, config.target.transport,
            scenario=config.flow.uac_scenario, service=config.service, local_ip=local_ip,
            local_port=_free_port(local_ip, config.target.transport), rate=rate,
            # Request-URI to the UAS behind; every message sent to the target (the proxy)
            remote=target if behind is None else f"{behind.host}:{behind.port}",
            route_to=None if behind is None else target,
        )
        try:
            cpu0, wall0 = tree.cpu_seconds(), time.monotonic()
            with Sipp.start(uac_command, workdir, what=f"SIPp UAC at {rate:g} cps") as uac:
                rss = 0
                while uac.running:
                    rss = max(rss, tree.rss_bytes())
                    uac.wait(0.5)
            _finish_uas(uas)
            cpu1, wall1 = tree.cpu_seconds(), time.monotonic()
            rss = max(rss, tree.rss_bytes())
            sip_bytes = capture.stop().payload_bytes if capture else None
            capture = None
        except SippError as exc:
            raise MeasureError(str(exc)) from None
        finally:
            if capture is not None and capture.proc.poll() is None:
                capture.proc.kill()
                capture.proc.wait()
        failure = None if uac.returncode in (0, 1) else uac.failure()
        try:
            stats = uac.stats()
            tally = uac.messages()
            retrans = stats.retransmissions
            if uas is not None:
                retrans += uas.stats().retransmissions
                tally += uas.messages()
        except (OSError, ValueError) as exc:
            # SIPp that failed without statistics cannot be measured at all
            raise MeasureError(failure or f"reading SIPp's output at {rate:g} cps: {exc}") from None
    row = _row(config, rate, repeat, calls, stats, retrans, tally, sip_bytes,
               cpu1 - cpu0, wall1 - wall0, rss, software or tally.server_header)
    if failure is not None:
        # e.g. SIPp's global timeout after a lost message: the step is kept, not valid
        row["valid"] = False
        row["reason"] = "; ".join(r for r in (row["reason"], failure) if r)
    return row


def _load_step(config: MeasureConfig, tree: ProcessTree, rate: float, repeat: int, software: str,
               workdir: Path, uas: Sipp | None, capture: Capture | None, calls: int) -> dict:
    """One step driven by ``sizing load`` in this process (the SIPp UAS, if any, behind the target)."""
    from sizing.measure.loadgen import LoadConfig, LoadError, run_load
    from sizing.sip.interfaces import Address as Addr

    pause = config.flow.pause_ms if config.pause_ms is None else config.pause_ms
    behind = config.uas_behind
    uri = None
    if behind is not None:
        uri = f"sip:{config.service}@{behind.host}:{behind.port}" + (
            "" if behind.transport == "UDP" else f";transport={behind.transport.lower()}")
    try:
        load = LoadConfig(target=Addr(config.target.transport, config.target.host, config.target.port),
                          rate=rate, duration_s=config.duration_s, flow=config.flow.name,
                          hold_s=pause / 1000, request_uri=uri, cafile=config.cafile,
                          insecure=config.insecure, tls_version=config.tls_version,
                          connections=config.connections)
    except LoadError as exc:
        raise MeasureError(str(exc)) from None
    try:
        rss = tree.rss_bytes()
        cpu0, wall0 = tree.cpu_seconds(), time.monotonic()
        try:
            summary = run_load(load)
        except LoadError as exc:
            raise MeasureError(f"sizing load at {rate:g} cps: {exc}") from None
        _finish_uas(uas)
        cpu1, wall1 = tree.cpu_seconds(), time.monotonic()
        rss = max(rss, tree.rss_bytes())
        sip_bytes = capture.stop().payload_bytes if capture else None
        capture = None
    finally:
        if capture is not None and capture.proc.poll() is None:
            capture.proc.kill()
            capture.proc.wait()
    tally = summary.tally
    retrans = summary.retransmissions
    try:
        if uas is not None:
            retrans += uas.stats().retransmissions
            tally += uas.messages()
    except (OSError, ValueError) as exc:
        raise MeasureError(f"reading the SIPp UAS's output at {rate:g} cps: {exc}") from None
    times = summary.response_ms
    stats = SippStats(calls_created=summary.attempted, calls_ok=summary.ok,
                      calls_failed=summary.calls_failed, retransmissions=summary.retransmissions,
                      response_time_ms=sum(times) / len(times) if times else 0.0)
    handshakes = summary.handshakes or None
    return _row(config, rate, repeat, calls, stats, retrans, tally, sip_bytes, cpu1 - cpu0,
                wall1 - wall0, rss, software or tally.server_header, handshakes)


def _row(config: MeasureConfig, rate: float, repeat: int, calls: int, stats, retrans: int,
         tally: MessageTally, sip_bytes: int | None, cpu: float, wall: float, rss: int,
         software: str, tls_handshakes: dict[str, int] | None = None) -> dict:
    sent = sum(tally.sent.values())
    ratio = retrans / sent if sent else 0.0
    reasons = []
    if stats.calls_ok == 0:
        reasons.append("no call completed")
    attempted = max(stats.calls_created, 1)
    if stats.calls_failed > config.max_failed_ratio * attempted:
        reasons.append(f"{stats.calls_failed} calls failed")
    if ratio > config.max_retrans_ratio:
        reasons.append(f"retransmissions {ratio:.1%} of messages > {config.max_retrans_ratio:.1%}")
    if stats.calls_ok + stats.calls_failed < calls:
        reasons.append(f"only {stats.calls_ok + stats.calls_failed} of {calls} calls ended")
    row: dict = {
        "flow": config.flow.name, "rate_cps": rate, "repeat": repeat, "duration_s": round(wall, 3),
        "connections": config.connections,
        "calls_attempted": stats.calls_created, "calls_ok": stats.calls_ok,
        "calls_failed": stats.calls_failed, "retransmissions": retrans,
        "retrans_ratio": round(ratio, 5), "response_time_ms": round(stats.response_time_ms, 3),
        # the target received what SIPp sent, and sent what SIPp received
        "messages_in": sent, "messages_out": sum(tally.received.values()),
    }
    row |= {f"messages_in_{k}": n for k, n in sorted(tally.sent.items())}
    row |= {f"messages_out_{k}": n for k, n in sorted(tally.received.items())}
    row |= {
        "bytes_in": tally.bytes_sent, "bytes_out": tally.bytes_received,
        "bytes": sip_bytes if sip_bytes is not None else tally.bytes_sent + tally.bytes_received,
        "bytes_source": "tshark" if sip_bytes is not None else "sipp-message-log",
        "cpu_seconds": round(cpu, 4),
        "cpu_per_call_us": round(cpu / stats.calls_ok * 1e6, 1) if stats.calls_ok else float("nan"),
        "cpu_core_fraction": round(cpu / wall, 5) if wall > 0 else float("nan"),
        "rss_mb": round(rss / 2**20, 2),
        "tls_handshakes_full": tls_handshakes.get("full", 0) if tls_handshakes is not None else "",
        "tls_handshakes_resumed": tls_handshakes.get("resumed", 0) if tls_handshakes is not None else "",
        "valid": not reasons, "reason": "; ".join(reasons),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(), "target": f"{config.target.transport.lower()}:"
        f"{config.target.host}:{config.target.port}", "driver": config.driver, "software": software,
    }
    return row


def order_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Base columns, then per-kind message counts (in, then out), then the rest."""
    kinds = sorted(c for c in frame.columns if c.startswith("messages_in_"))
    kinds += sorted(c for c in frame.columns if c.startswith("messages_out_"))
    for col in kinds:
        frame[col] = frame[col].fillna(0).astype(int)
    columns = [*BASE_COLUMNS, *kinds, *TAIL_COLUMNS]
    return frame[[c for c in columns if c in frame.columns]]


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV via a temporary file in the same folder, then rename."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as handle:
            frame.to_csv(handle, index=False)

    atomic_write(path, write)


def measure(config: MeasureConfig, progress: Callable[[dict], object] = lambda row: None) -> pd.DataFrame:
    """Run every step of ``config``; write the CSV after each one; return the rows."""
    try:
        tree = ProcessTree(config.pid)
    except ProcessGone as exc:
        raise MeasureError(f"--pid: {exc}") from None
    software = config.software or probe_target(config.target) or f"{tree.name} (no Server header)"
    rows: list[dict] = []
    for rate, repeat in steps(config):
        try:
            row = _step(config, tree, rate, repeat, software)
        except ProcessGone as exc:
            raise MeasureError(f"--pid: {exc}") from None
        rows.append(row)
        write_csv_atomic(order_columns(pd.DataFrame(rows)), config.out)
        progress(row)
    return order_columns(pd.DataFrame(rows))


def steps(config: MeasureConfig) -> list[tuple[float, int]]:
    """(rate, repeat) of every step, in the order they run (see ``interleave``)."""
    repeats = range(1, config.repeat + 1)
    if config.interleave:
        return [(rate, repeat) for repeat in repeats for rate in config.rates]
    return [(rate, repeat) for rate in config.rates for repeat in repeats]
