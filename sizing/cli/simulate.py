"""``sizing run FILE``: simulate a scenario and print or write its figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["add_run_command"]


def add_run_command(app: Any) -> None:
    """Register ``sizing run`` on a typer app."""

    @app.command()
    def run(
        file: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
        set_: Annotated[list[str] | None, typer.Option(
            "--set", help="Override a field: KEY=VALUE with a dotted key (repeatable).")] = None,
        fmt: Annotated[str, typer.Option(
            "--format", help="table, json or csv (csv needs --out).")] = "table",
        out: Annotated[Path | None, typer.Option(
            "--out", help="Directory for kpis.csv, hosts.csv, links.csv, cpu_series.csv.")] = None,
        seed: Annotated[int | None, typer.Option("--seed", help="Random seed (overrides the file's).")] = None,
        quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    ) -> None:
        """Simulate a scenario through the SIP engine and report KPIs, hosts and links."""
        from sizing.cli.common import check_out_dir, fail
        from sizing.plan.budget import SimulationTooLarge, check_simulation
        from sizing.progress import bar as progress_bar
        from sizing.progress import shown
        from sizing.scenario import ScenarioError, apply_overrides, load_scenario
        from sizing.sim.simulate import simulate

        if fmt not in ("table", "json", "csv"):
            fail(f"--format: must be table, json or csv, got {fmt!r}")
        if fmt == "csv" and out is None:
            fail("--format csv: needs --out DIR")
        if out is not None:
            check_out_dir(out)
        overrides = list(set_ or [])
        if seed is not None:
            overrides.append(f"seed={seed}")
        try:
            scenario = load_scenario(file)
            if overrides:
                scenario = apply_overrides(scenario, overrides, base_dir=file.parent)
            check_simulation(scenario, hint="shorten duration_s")
        except ScenarioError as exc:
            fail("\n".join(str(p) for p in exc.problems))
        except SimulationTooLarge as exc:
            fail(f"{file}: {exc}")
        total = (scenario.warmup_s + scenario.duration_s) * scenario.replications
        bar = None if not shown(quiet) else progress_bar(total=round(total), unit="sim s", desc="simulating")

        def progress(done: float, _total: float) -> None:
            if bar is not None:
                bar.update(round(done) - bar.n)

        try:
            result = simulate(scenario, progress=progress)
        except ValueError as exc:  # a scenario the simulator cannot run, said in one line
            fail(f"{file}: {exc}")
        finally:
            if bar is not None:
                bar.close()
        if out is not None:
            try:
                result.to_csv(out)
            except OSError as exc:
                fail(f"--out {out}: cannot write ({exc.strerror or exc})")
        if fmt != "table":  # the table prints them itself
            for warning in result.warnings:
                typer.echo(f"warning: {warning}", err=True)
        if fmt == "json":
            typer.echo(result.to_json())
        elif fmt == "table":
            typer.echo(result.table())
