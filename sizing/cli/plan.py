"""`sizing plan` and `sizing batch`: size one scenario, or every site of a CSV file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["add_plan_commands"]

BATCH_HELP = """Size every site of SITES.csv and write DIR/summary.csv, DIR/report.xlsx,
DIR/report.html and DIR/sites/<site>/*.csv.

\b
SITES.csv: one row per site. Columns: `site` (a directory-safe name), then any
field of the scenario as a dotted path, e.g. traffic.calls_per_second,
traffic.holding_time_s, traffic.mix.ivr_then_agent, trunk.codec, trunk.transport,
trunk.srtp, agents.count, topology.sbc.cores, targets.cpu_p95_max, duration_s,
replications (`sizing schema` lists them all); an optional `base` column (or
--base) names a scenario YAML the row overrides. Empty cells keep the base's or
the default value. data/sites.csv is an example.

\b
Each site's plan chooses each role's cores per host from its allowed sizes,
topology.<role>.cores_options (default 2,4,8,16; the fewest total cores meeting
the CPU p95 target); --cores-options 2,4,8,16 gives every role of every site
these sizes instead.

\b
Runs on Dask: a local cluster (one worker per core, --workers N) when more than
one site is left to plan, or an existing cluster with --scheduler
tcp://HOST:8786. Finished sites are checkpointed in DIR/.checkpoint; --resume
plans only the sites without a matching checkpoint. Bad input is reported as
FILE:ROW:COLUMN: message, exit status 2, and nothing is written.
"""


CORES_HELP = ("Host sizes to choose from, e.g. 2,4,8,16, for every role: each gets the size "
              "with the fewest total cores meeting its CPU p95 target (ties: fewer hosts). "
              "Default: each role's topology.<role>.cores_options (2,4,8,16 unless the "
              "scenario says otherwise; an empty list keeps topology.<role>.cores).")


def add_plan_commands(app: typer.Typer) -> None:
    """Register `plan` and `batch` on the `sizing` app."""
    app.command("plan")(plan_command)
    app.command("batch", help=BATCH_HELP)(batch_command)


def plan_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a field: KEY=VALUE (dotted key); repeatable.")] = None,
    simulate: Annotated[bool, typer.Option(
        "--simulate/--no-simulate",
        help="Confirm by simulation (default) or give the closed form only.")] = True,
    out: Annotated[Path | None, typer.Option(
        help="Also write summary.csv, report.xlsx and report.html into this directory.")]
        = None,
    cores_options: Annotated[str | None, typer.Option(
        "--cores-options", help=CORES_HELP)] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", help="No progress on stderr (shown only on a terminal anyway).")] = False,
) -> None:
    """The smallest deployment meeting the scenario's targets: hosts and cores
    per role, trunk channels, Mbps per link, and which constraint binds."""
    from sizing.cli.common import check_out_dir, fail
    from sizing.plan import plan
    from sizing.scenario import ScenarioError, apply_overrides, load_scenario

    options = _cores_options(cores_options)
    if out is not None:
        check_out_dir(out)
    try:
        sc = load_scenario(scenario)
        if set_:
            sc = apply_overrides(sc, set_, base_dir=scenario.parent)
        with _PlanBar(sc, quiet=quiet or not simulate) as bar:
            result = plan(sc, simulate=simulate, cores_options=options,
                          progress=bar.simulated, on_candidate=bar.candidate,
                          workers=os.cpu_count() or 1)
    except ScenarioError as exc:
        fail(str(exc).replace("\n", "\nsizing: error: "))
    except ValueError as exc:
        fail(f"{scenario}: {exc}")
    _print_plan(result)
    if out is not None:
        _write_plan_reports(result, out, result.name or scenario.stem)


def _cores_options(text: str | None) -> tuple[int, ...] | None:
    """--cores-options as sizes, or a clear exit."""
    from sizing.cli.common import fail
    from sizing.plan import parse_cores_options

    try:
        return None if text is None else parse_cores_options(text)
    except ValueError as exc:
        fail(str(exc))


def _print_plan(result) -> None:  # type: ignore[no-untyped-def]
    """The plan as the terminal shows it: summary, deployment, reasons, links, KPIs."""
    from sizing.report.numbers import rounded_text
    from sizing.report.tables import deployment_table, kpi_table, links_table

    typer.echo(result.summary())
    typer.echo(f"\nDeployment\n{rounded_text(deployment_table(result, reasons=False))}")
    typer.echo("\nWhy these sizes\n" + "\n".join(f"  {r}" for r in result.reasons()))
    for name, table in (("Links", links_table(result)), ("KPIs", kpi_table(result))):
        typer.echo(f"\n{name}\n{rounded_text(table)}")
    typer.echo(f"\nConfidence: {result.confidence}")


def _write_plan_reports(result, out: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    from sizing.cli.common import fail
    from sizing.plan.batch import write_reports

    try:
        write_reports({name: result}, out, title=f"Sizing plan: {name}")
    except OSError as exc:
        fail(f"--out {out}: cannot write ({exc.strerror or exc})")
    typer.echo(f"reports written to {out}")


def batch_command(
    sites: Annotated[Path, typer.Argument(help="CSV file, one row per site.")],
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    resume: Annotated[bool, typer.Option(
        help="Skip sites already planned (matching checkpoint in DIR/.checkpoint).")]
        = False,
    scheduler: Annotated[str | None, typer.Option(
        help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786.")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Local Dask workers (default: one per core).")] = None,
    base: Annotated[Path | None, typer.Option(
        help="Scenario YAML the rows override (rows may name their own in 'base').")]
        = None,
    simulate: Annotated[bool, typer.Option(
        "--simulate/--no-simulate", help="Confirm each plan by simulation.")] = True,
    progress: Annotated[bool, typer.Option(
        help="Progress bar on stderr (shown only on a terminal).")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")] = False,
    cores_options: Annotated[str | None, typer.Option(
        "--cores-options", help=CORES_HELP)] = None,
) -> None:
    from sizing.cli.common import check_out_dir, fail
    from sizing.plan.batch import BatchError, connect, load_sites, run_batch

    options = _cores_options(cores_options)
    check_out_dir(out)
    try:
        rows = load_sites(sites, base=base, simulate=simulate)
        client = connect(scheduler) if scheduler else None
    except BatchError as exc:
        fail("\nsizing: error: ".join(exc.problems))
    try:
        result = run_batch(rows, out, resume=resume, simulate=simulate, client=client,
                           workers=workers, progress=progress and not quiet,
                           title=f"Sizing report: {sites.name}", cores_options=options)
    except BatchError as exc:
        fail("\nsizing: error: ".join(exc.problems))
    except OSError as exc:
        fail(f"--out {out}: cannot write ({exc.strerror or exc})")
    finally:
        if client is not None:
            client.close()
    typer.echo(f"{len(result.plans)} sites ({len(result.planned)} planned, "
               f"{len(result.resumed)} from checkpoints), {result.met} meet every target; "
               f"reports in {out}")


class _PlanBar:
    """The plan's progress on stderr: one bar per simulated candidate deployment, in
    simulated seconds (every replication), named by its number and hosts per role."""

    def __init__(self, scenario, *, quiet: bool) -> None:  # type: ignore[no-untyped-def]
        from sizing.progress import bar

        self.per_candidate = (scenario.warmup_s + scenario.duration_s) * scenario.replications
        self.bar = bar(total=round(self.per_candidate), desc="plan", unit="sim s", quiet=quiet)

    def __enter__(self) -> _PlanBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()

    def candidate(self, number: int, most: int, hosts, channels: int) -> None:  # type: ignore[no-untyped-def]
        self.bar.reset(total=round(self.per_candidate))
        self.bar.set_description(f"plan: candidate {number} (of at most {most})")
        self.bar.set_postfix_str(", ".join(f"{role} {n}" for role, n in hosts.items()))

    def simulated(self, done: float, _total: float) -> None:
        self.bar.update(round(done) - self.bar.n)
