"""Hold-out accuracy of a fitted cost profile, and of `sizing serve`'s CPU under two load drivers.

Figures that move with the machine's speed and load, so they are printed here
rather than asserted by a test (tests/interop/test_holdout.py keeps what speed
cannot change: the pipeline runs, messages per call exactly, bytes within 2 %,
a prediction within a loose sanity bound).

1. CPU hold-out: ``sizing measure`` drives SIPp (UAC and UAS, UDP) through
   Kamailio as a stateful record-routing proxy at 50, 100 and 200 calls/s,
   fits a profile (``fit_profile``), and the simulator predicts the CPU
   seconds of a step at 300 calls/s, measured in the same rounds (goal 15 %).
2. `sizing serve --role uas` at 40 calls/s: CPU per call under SIPp and under
   `sizing load` (the two drivers' messages differ in size by about 10 %).

    python benchmarks/holdout.py [--repeat 2] [--duration 3] [--json]

Needs kamailio, sipp, tshark and openssl (scripts/system-deps.sh installs them).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from interop.kamailio import Kamailio, self_signed_cert  # noqa: E402
from serve import free_port, machine, start_serve  # noqa: E402

from sizing.measure import MeasureConfig, get_flow, measure, write_csv_atomic  # noqa: E402
from sizing.measure.calibrate import fit_profile, load_measurements  # noqa: E402
from sizing.measure.predict import simulate_proxy_step  # noqa: E402
from sizing.sip.interfaces import Address  # noqa: E402
from sizing.sip.ua import AnswerPolicy  # noqa: E402

FIT_RATES = (50.0, 100.0, 200.0)
HOLDOUT_RATE = 300.0
CPU_GOAL = 0.15


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} is not installed (scripts/system-deps.sh installs it)")
    return path


def cpu_holdout(workdir: Path, repeat: int, duration_s: float) -> dict[str, float]:
    """Fit at FIT_RATES, predict HOLDOUT_RATE, measure it: the relative error and its noise."""
    cert, key = self_signed_cert(tool("openssl"), workdir)
    kamailio = Kamailio(tool("kamailio"), workdir, free_port(), free_port(), cert, key)
    try:
        kamailio.wait_ready(30)
        target = Address("UDP", kamailio.host, kamailio.udp_port)
        uas = Address("UDP", kamailio.host, free_port())
        config = MeasureConfig(target=target, pid=kamailio.proc.pid, rates=(*FIT_RATES, HOLDOUT_RATE),
                               duration_s=duration_s, flow=get_flow("basic-call"),
                               out=workdir / "campaign.csv", sipp=tool("sipp"), uas_behind=uas,
                               repeat=repeat, interleave=True, tshark=tool("tshark"),
                               software="kamailio", max_failed_ratio=0.005)
        campaign = measure(config)
    finally:
        kamailio.stop()
    fit_rows = campaign[campaign["rate_cps"] != HOLDOUT_RATE]
    write_csv_atomic(fit_rows, workdir / "fit.csv")
    cal = fit_profile(load_measurements([workdir / "fit.csv"]), "kamailio-holdout")
    held = campaign[(campaign["rate_cps"] == HOLDOUT_RATE) & campaign["valid"]]
    if held.empty:
        raise SystemExit("no valid step at the held-out rate:\n"
                         + campaign[["rate_cps", "valid", "reason"]].to_string())
    measured = float(held["cpu_seconds"].mean())
    predicted = simulate_proxy_step(
        cal.profile, rate=HOLDOUT_RATE, calls=int(round(HOLDOUT_RATE * duration_s)),
        wall_s=float(held["duration_s"].mean()), caller=Address("UDP", kamailio.host, 40000),
        proxy=target, callee=uas, callee_policy=AnswerPolicy(trying=False))
    held_spread = float(held["cpu_seconds"].std() / measured) if len(held) > 1 else cal.relative_spread
    return {
        "measured_cpu_s": measured, "predicted_cpu_s": predicted.cpu_seconds,
        "error": predicted.cpu_seconds / measured - 1,
        "fit_spread": cal.relative_spread, "holdout_spread": held_spread,
        "noise": math.sqrt(cal.relative_spread**2 + held_spread**2 / len(held)),
        "static_core_fraction": cal.profile.static_core_fraction,
        "per_message_us": cal.profile.per_message_us["default"],
        "valid_fit_steps": int(fit_rows["valid"].sum()), "valid_holdout_steps": len(held),
    }


def serve_cpu_per_call(workdir: Path, repeat: int, duration_s: float) -> dict[str, float]:
    """CPU µs per call of `sizing serve --role uas` at 40 calls/s under SIPp and `sizing load`."""
    port = free_port()
    serve = start_serve("uas", port, None)
    per_call: dict[str, float] = {}
    try:
        for driver in ("sipp", "load"):
            config = MeasureConfig(target=Address("UDP", "127.0.0.1", port), pid=serve.pid, rates=(40.0,),
                                   duration_s=duration_s, flow=get_flow("basic-call"),
                                   out=workdir / f"{driver}.csv", sipp=tool("sipp"), repeat=repeat + 1,
                                   driver=driver, software="sizing serve")
            rows = measure(config)
            per_call[f"{driver}_us"] = statistics.mean(rows["cpu_per_call_us"])
    finally:
        serve.terminate()
        try:
            serve.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            serve.kill()
    per_call["load_over_sipp"] = per_call["load_us"] / per_call["sipp_us"] - 1
    return per_call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="steps per rate (default 2)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per step (default 3)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="holdout-") as tmp:
        work = Path(tmp)
        (work / "kamailio").mkdir()
        (work / "serve").mkdir()
        holdout = cpu_holdout(work / "kamailio", args.repeat, args.duration)
        serve = serve_cpu_per_call(work / "serve", args.repeat, args.duration)
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if args.json:
        print(json.dumps({"when": when, "machine": machine(), "holdout": holdout, "serve": serve}, indent=2))
        return 0
    print(f"{when}; {machine()}")
    print(f"CPU hold-out at {HOLDOUT_RATE:g} calls/s (fitted at {', '.join(f'{r:g}' for r in FIT_RATES)}):")
    print(f"  measured {holdout['measured_cpu_s']:.4f} CPU s, predicted {holdout['predicted_cpu_s']:.4f} CPU s, "
          f"error {holdout['error']:+.1%} (goal {CPU_GOAL:.0%}; 3 x noise {3 * holdout['noise']:.1%}: "
          f"fit spread {holdout['fit_spread']:.1%}, hold-out spread {holdout['holdout_spread']:.1%})")
    print(f"  fitted profile: {holdout['static_core_fraction']:.4f} core + "
          f"{holdout['per_message_us']:.1f} µs per message")
    print("sizing serve --role uas at 40 calls/s, CPU per call:")
    print(f"  SIPp {serve['sipp_us']:.0f} µs, sizing load {serve['load_us']:.0f} µs "
          f"({serve['load_over_sipp']:+.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
