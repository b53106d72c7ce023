"""How long `sizing serve --role uas` takes to recover from a SIPp storm several times its capacity.

The same storm as tests/interop/test_overload.py (which asserts only what the
machine's speed cannot change: 503s, bounded memory, recovery within a
generous limit): SIPp's built-in uac at 50 calls/s to warm up, then
``--rate`` calls/s for ``--storm-s`` seconds, then the time from the storm's
end to the server's "overload over" line, and a 25 calls/s check that every
call then succeeds.

    python benchmarks/storm.py [--rate 2000] [--storm-s 6] [--json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from serve import free_port, machine

from sizing.measure.lines import LineReader
from sizing.measure.sipp import Sipp, SippCommand, SippStats

LIMIT_S = 120.0


def sipp_uac(workdir: Path, port: int, name: str, rate: int, calls: int, timeout_s: int) -> SippStats:
    command = SippCommand("sipp", "uac", remote=f"127.0.0.1:{port}", local_port=free_port(), rate=rate,
                          calls=calls, timeout_s=timeout_s, stat_file=workdir / f"{name}.csv",
                          stat_period_s=1)
    with Sipp.start(command, workdir, what=f"SIPp uac ({name})") as uac:
        uac.finish(timeout_s + 4)
    return uac.stats()


def storm(workdir: Path, rate: int, storm_s: int) -> dict[str, float]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sizing.cli", "serve", "--role", "uas", "--listen", f"udp:127.0.0.1:{port}",
         "--retry-after", "2", "--overload-high", "250", "--overload-low", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))
    lines = LineReader(proc)
    try:
        if lines.wait_for("listening on", 30) is None:
            raise SystemExit("sizing serve did not start")
        server = psutil.Process(proc.pid)
        warm = sipp_uac(workdir, port, "warm", 50, 100, 10)
        rss_warm = server.memory_info().rss
        stormed = sipp_uac(workdir, port, "storm", rate, rate * storm_s, storm_s)
        storm_end = time.monotonic()
        rss_storm = server.memory_info().rss
        over = lines.wait_for("overload over", LIMIT_S)
        recovery_s = time.monotonic() - storm_end if over is not None else float("nan")
        after = sipp_uac(workdir, port, "recovery", 25, 50, 10)
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"warm_ok": warm.calls_ok, "storm_offered": rate * storm_s, "storm_ok": stormed.calls_ok,
            "storm_failed": stormed.calls_failed, "recovery_s": recovery_s,
            "rss_growth_mib": (rss_storm - rss_warm) / 2**20,
            "after_ok": after.calls_ok, "after_failed": after.calls_failed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=2000, help="storm calls/s (default 2000)")
    parser.add_argument("--storm-s", type=int, default=6, help="storm seconds (default 6)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="storm-") as tmp:
        figures = storm(Path(tmp), args.rate, args.storm_s)
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if args.json:
        print(json.dumps({"when": when, "machine": machine(), **figures}, indent=2))
        return 0
    print(f"{when}; {machine()}")
    print(f"storm of {args.rate} calls/s for {args.storm_s} s: {figures['storm_ok']} of "
          f"{figures['storm_offered']} calls answered, {figures['storm_failed']} failed (503 or timeout); "
          f"RSS +{figures['rss_growth_mib']:.0f} MiB")
    print(f"recovery: 'overload over' {figures['recovery_s']:.1f} s after the storm ended; then "
          f"{figures['after_ok']} of 50 calls at 25 calls/s succeeded ({figures['after_failed']} failed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
