"""Time of the closed form and of ``sizing trunks`` at the extremes the schema admits.

Before the inverse Erlang B bisected on the incomplete-gamma form, sizing a trunk
cost one step per erlang (``sizing trunks --erlangs 1e6`` > 20 s, a plan at
1e9 calls/s never ended).  This prints, for each case, the best of several rounds
in milliseconds, in-process (no interpreter start-up):

- Erlang B inverse (``servers_for_blocking``), its dual (``traffic_for_blocking``)
  and Erlang C staffing (``agents_for_service_level``) from 10 to 1e10 erlangs;
- ``sizing trunks`` for the same traffic;
- the whole closed-form plan (``plan(simulate=False)``) of the minimal example at
  its upper bounds: 10,000 calls/s and the 5 million trunk channels a scenario may
  have, 5 million agents and endpoints.

    python benchmarks/closed_form.py [--rounds N]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import platform
import time
from collections.abc import Callable
from pathlib import Path

from sizing.cli.main import main
from sizing.models import analytic
from sizing.plan import plan
from sizing.scenario import apply_overrides, load_scenario

EXAMPLE = Path(__file__).parents[1] / "data" / "examples" / "minimal.yaml"
ERLANGS = (10.0, 1e3, 1e6, 1e8, 8.64e8, 1e10)


def best_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def trunks(erlangs: float) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["trunks", "--erlangs", repr(erlangs)]) == 0


def main_benchmark(rounds: int) -> None:
    print(f"# {datetime.date.today()} {platform.node()} {platform.processor() or platform.machine()}"
          f" Python {platform.python_version()}, best of {rounds}")
    print(f"{'erlangs':>10} {'servers_for_blocking':>21} {'traffic_for_blocking':>21} "
          f"{'agents_for_SL':>14} {'sizing trunks':>14}   (ms)")
    for a in ERLANGS:
        n = analytic.servers_for_blocking(a, 0.01)
        row = [best_ms(lambda a=a: analytic.servers_for_blocking(a, 0.01), rounds),
               best_ms(lambda n=n: analytic.traffic_for_blocking(n, 0.01), rounds),
               best_ms(lambda a=a: analytic.agents_for_service_level(a, 180, 180, 0.8, 20),
                       rounds),
               best_ms(lambda a=a: trunks(a), rounds)]
        print(f"{a:>10.3g} " + " ".join(f"{x:>21.2f}" if i < 2 else f"{x:>14.2f}"
                                        for i, x in enumerate(row)))
    base = load_scenario(EXAMPLE)
    cases = {
        "minimal example": [],
        "10,000 calls/s, 4.5 M erlangs": ["traffic.calls_per_second=10000",
                                          "traffic.holding_time_s=450",
                                          "trunk.channels=5000000"]
        + [f"topology.{r}.cores=1024" for r in ("sbc", "proxy", "sip_server",
                                                 "media_server")],
        "5 million agents and endpoints": ["agents.count=5000000", "endpoints.count=5000000",
                                           "traffic.calls_per_second=10000"]
        + [f"topology.{r}.cores=1024" for r in ("sbc", "proxy", "sip_server",
                                                 "media_server")],
    }
    print(f"\n{'closed-form plan':<34} {'ms':>8}")
    for name, overrides in cases.items():
        scenario = apply_overrides(base, overrides)
        print(f"{name:<34} {best_ms(lambda s=scenario: plan(s, simulate=False), rounds):>8.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    main_benchmark(parser.parse_args().rounds)
