"""The hybrid engine against the full engine, figure by figure, on the cases of tests/test_sim_hybrid.py.

Each case runs twice with the same seed (every call on the full engine, then
hybrid) and prints the call figures and, per role, messages/s and mean CPU side
by side; the test asserts the tolerances, this prints the figures the docs quote.

    .venv/bin/python benchmarks/hybrid_agreement.py "2x overload, 503"
    .venv/bin/python benchmarks/hybrid_agreement.py --list
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from test_sim_hybrid import CASES, _hosts, _pair  # noqa: E402

KPIS = ("calls_offered", "calls_replayed", "calls_answered", "calls_blocked", "calls_abandoned",
        "overload_rejections", "overload_drops", "srd_p50_ms", "srd_p95_ms", "retransmissions_per_call",
        "mean_concurrent_calls")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{value:,.0f}" if isinstance(value, (int, float)) else str(value)


def compare(case: str) -> None:
    start = time.process_time()
    full, hybrid = _pair(case)
    print(f"\n{case}  ({time.process_time() - start:.0f} CPU s for both runs)")
    print(f"  {'figure':28s} {'full':>12s} {'hybrid':>12s}")
    for key in KPIS:
        print(f"  {key:28s} {_cell(full.kpis.get(key)):>12s} {_cell(hybrid.kpis.get(key)):>12s}")
    hosts_f, hosts_h = _hosts(full), _hosts(hybrid)
    for role, row in hosts_f.items():
        other = hosts_h.get(role, {})
        print(f"  {role + ' msgs/s, CPU':28s} {row['msgs_per_s']:>7,.1f} {row['cpu_mean']:4.3f}"
              f" {other.get('msgs_per_s', 0.0):>7,.1f} {other.get('cpu_mean', 0.0):4.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help="case names (default: every case)")
    parser.add_argument("--list", action="store_true", help="list the cases and stop")
    args = parser.parse_args()
    if args.list:
        print("\n".join(CASES))
        return
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; --list shows them")
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"Python {platform.python_version()}")
    for case in args.cases or CASES:
        compare(case)


if __name__ == "__main__":
    main()
