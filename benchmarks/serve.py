"""Sustainable calls/s of `sizing serve` as a UAS, a proxy and a B2BUA, driven by SIPp over UDP.

Each role runs as its own `sizing serve` process on loopback (overload control
off, so the figures are the raw capacity): SIPp uac -> uas directly, and SIPp
uac -> proxy|b2bua -> SIPp uas. The SIPp rate steps up (50, 100, 200, ...)
for a few seconds each; every step records the successful calls per second
of offered time, failed calls, SIPp retransmissions and the server's CPU
(psutil, % of one core). A step is sustainable with < 1 % failed calls and
< 1 % retransmissions (per call); stepping stops at the first step that is
not. SIPp shares the host, so the figures are for the server *and* its load
generators on the cores listed.

    python benchmarks/serve.py [--roles uas,proxy,b2bua] [--step-s 4] [--rates 50,100,...] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from sizing.measure.flows import SCENARIOS
from sizing.measure.sipp import Sipp, SippCommand, sipp_version

RATES = (50, 100, 200, 300, 400, 500, 600, 800, 1000, 1200, 1600)
LIMIT = 0.01


# SIPp's uac with ACK and BYE following the dialog's route set, as a UAC behind a
# record-routing proxy must (the built-in one sends them to the proxy's address).
UAC_RECORD_ROUTE = SCENARIOS / "basic-call-uac.xml"


@dataclass(frozen=True)
class Step:
    role: str
    rate: int
    offered: int
    successful: int
    failed: int
    retransmissions: int
    calls_per_s: float
    server_cpu_pct: float

    @property
    def sustainable(self) -> bool:
        """< 1 % of the offered calls failed or unfinished, and < 1 % retransmissions per call."""
        return (self.offered - self.successful < LIMIT * self.offered
                and self.retransmissions < LIMIT * self.offered)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return model


def machine() -> str:
    model = cpu_model()
    return (f"{platform.node()}: {model}, {os.cpu_count()} logical cores, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, "
            f"SIPp {sipp_version()}")


def start_serve(role: str, port: int, uas_port: int | None) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "sizing.cli", "serve", "--role", role,
            "--listen", f"udp:127.0.0.1:{port}", "--overload", "off"]
    if uas_port is not None:
        args += ["--forward-to", f"sip:127.0.0.1:{uas_port}"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"sizing serve --role {role} did not start: {line.strip()}")
    return proc


def run_step(role: str, port: int, rate: int, step_s: float, server: psutil.Process,
             workdir: Path, scenario: Path | None) -> Step:
    calls = max(1, round(rate * step_s))
    command = SippCommand("sipp", scenario if scenario is not None else "uac",
                          remote=f"127.0.0.1:{port}", local_port=free_port(), rate=rate, calls=calls,
                          timeout_s=int(step_s + 8), stat_file=workdir / f"{role}_{rate}.csv",
                          stat_period_s=1)
    cpu_before = sum(server.cpu_times()[:2])
    started = time.monotonic()
    with Sipp.start(command, workdir, what=f"SIPp uac at {rate} calls/s") as sipp:
        sipp.finish(step_s + 12)
    wall = time.monotonic() - started
    cpu = sum(server.cpu_times()[:2]) - cpu_before
    stats = sipp.stats()
    return Step(role, rate, calls, stats.calls_ok, stats.calls_failed, stats.retransmissions,
                round(stats.calls_ok / step_s, 1), round(100.0 * cpu / wall, 1))


def bench_role(role: str, rates: list[int], step_s: float, workdir: Path) -> list[Step]:
    port = free_port()
    with contextlib.ExitStack() as running:
        uas_port = None
        if role != "uas":
            uas_port = free_port()
            uas = running.enter_context(Sipp.start(SippCommand("sipp", "uas", local_port=uas_port),
                                                   workdir, what="SIPp uas"))
            uas.wait_ready()
        scenario = UAC_RECORD_ROUTE if role == "proxy" else None
        serve = start_serve(role, port, uas_port)
        steps: list[Step] = []
        try:
            server = psutil.Process(serve.pid)
            for rate in rates:
                step = run_step(role, port, rate, step_s, server, workdir, scenario)
                steps.append(step)
                print(format_row(step), file=sys.stderr, flush=True)
                if not step.sustainable:
                    break
                time.sleep(1.0)  # let the last calls' retransmissions settle
        finally:
            serve.terminate()
            serve.communicate(timeout=15)
    return steps


def format_row(step: Step) -> str:
    return (f"{step.role:<6} {step.rate:>6} {step.calls_per_s:>9.1f} {step.failed:>7} "
            f"{step.retransmissions:>8} {step.server_cpu_pct:>8.1f}  {'yes' if step.sustainable else 'no'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", default="uas,proxy,b2bua")
    parser.add_argument("--rates", default=",".join(map(str, RATES)), help="SIPp call rates to step through")
    parser.add_argument("--step-s", type=float, default=4.0, help="seconds of calls per step")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        raise SystemExit("sipp is not installed (scripts/system-deps.sh installs it)")
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    rates = sorted(int(r) for r in args.rates.split(","))
    when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    host = machine()
    results: dict[str, list[Step]] = {}
    with tempfile.TemporaryDirectory(prefix="sizing-bench-serve-") as tmp:
        for role in roles:
            results[role] = bench_role(role, rates, args.step_s, Path(tmp))
    sustainable = {role: max((s.calls_per_s for s in steps if s.sustainable), default=0.0)
                   for role, steps in results.items()}
    if args.json:
        print(json.dumps({"date": when, "machine": host, "step_s": args.step_s, "limit": LIMIT,
                          "sustainable_calls_per_s": sustainable,
                          "steps": [asdict(s) | {"sustainable": s.sustainable}
                                    for steps in results.values() for s in steps]}, indent=2))
        return
    print(f"sizing serve over UDP on loopback, {args.step_s:g} s per step, {when}")
    print(f"machine: {host}")
    print(f"{'role':<6} {'rate':>6} {'calls/s':>9} {'failed':>7} {'retrans':>8} {'cpu %':>8}  ok")
    for steps in results.values():
        for step in steps:
            print(format_row(step))
    print("sustainable calls/s (< 1 % failed, < 1 % retransmissions): "
          + ", ".join(f"{role} {value:g}" for role, value in sustainable.items()))


if __name__ == "__main__":
    main()
