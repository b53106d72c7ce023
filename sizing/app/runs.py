"""Running the heavier work for the page: the simulation at a chosen length, the
report files of a plan, a batch of sites and a profile calibration, each as
plain data the page can cache and offer for download."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from sizing.app.presets import EXAMPLES
from sizing.plan import Plan
from sizing.scenario import Scenario, parse_yaml_text, scenario_from_mapping

__all__ = ["QUICK", "RUN_LENGTHS", "calibrate", "for_run", "report_files", "run_batch_csv",
           "scenario_from_upload", "scenario_reports", "simulation_refusal"]

QUICK = "Quick check"
RUN_LENGTHS = (QUICK, "As in the scenario")
"""How long the simulation runs: a quick check (1 replication, at most 300 s
measured after at most 60 s of warm-up) or the scenario's own length."""


def scenario_from_upload(data: bytes, name: str) -> Scenario:
    """The scenario of an uploaded YAML file, parsed with the command line's limits
    (alias budget, depth, UTF-8, duplicate keys); ScenarioError names the file."""
    return scenario_from_mapping(parse_yaml_text(data, name), source=name)


def simulation_refusal(scenario: Scenario) -> str | None:
    """Why the page will not simulate ``scenario`` (too many calls, events or too
    much memory, see :func:`sizing.plan.budget.check_simulation`), or None."""
    from sizing.plan.budget import SimulationTooLarge, check_simulation

    try:
        check_simulation(scenario, hint="choose the quick check or shorten the duration")
    except SimulationTooLarge as exc:
        return str(exc)
    return None


def for_run(scenario: Scenario, length: str) -> Scenario:
    """The scenario to simulate for a run length of :data:`RUN_LENGTHS`."""
    if length == QUICK:
        return scenario.model_copy(update={
            "replications": 1, "duration_s": min(scenario.duration_s, 300.0),
            "warmup_s": min(scenario.warmup_s, 60.0)})
    if length not in RUN_LENGTHS:
        raise ValueError(f"run length {length!r}; known: {', '.join(RUN_LENGTHS)}")
    return scenario


def describe_length(scenario: Scenario, length: str) -> str:
    s = for_run(scenario, length)
    runs = "1 run" if s.replications == 1 else f"{s.replications} runs"
    return f"{runs} of {s.duration_s:,.0f} s measured after {s.warmup_s:,.0f} s warm-up"


def report_files(plans: dict[str, Plan], title: str) -> dict[str, bytes]:
    """summary.csv, report.xlsx and report.html of plans (by :func:`sizing.plan.batch.write_reports`)."""
    from sizing.plan.batch import write_reports

    with tempfile.TemporaryDirectory(prefix="sizing-app-") as tmp:
        write_reports(plans, tmp, title=title)
        return {name: (Path(tmp) / name).read_bytes()
                for name in ("summary.csv", "report.xlsx", "report.html")}


@functools.lru_cache(maxsize=8)
def scenario_reports(yaml_text: str, cores_options: tuple[int, ...] | None = None
                     ) -> dict[str, bytes]:
    """The closed-form plan's report files for a scenario YAML (cores per server chosen
    from ``cores_options`` when given, as on the page), cached because the page asks
    for them on each download click (generation takes seconds: figures)."""
    from sizing.plan import plan

    scenario = scenario_from_mapping(parse_yaml_text(yaml_text, "form"), source="form")
    p = plan(scenario, simulate=False, cores_options=cores_options)
    name = scenario.name or "scenario"
    return report_files({name: p}, f"Sizing report: {name}")


def run_batch_csv(csv_bytes: bytes, base_yaml: str | None, name: str = "sites.csv",
                  on_site: Callable[[int, int], object] | None = None,
                  cores_options: tuple[int, ...] | None = None,
                  figures_for_sites: int | None = None
                  ) -> tuple[pd.DataFrame, dict[str, bytes]]:
    """Plan every site of an uploaded sites CSV (closed form; cores per server chosen
    from ``cores_options`` when given) and return the summary table and the report
    files (figures in the HTML for the first ``figures_for_sites`` sites, by default
    as ``sizing batch`` has them).  ``base_yaml`` is the scenario rows without a
    ``base`` cell override; a ``base`` cell names a shipped example the way
    data/sites.csv does (``examples/contact-centre-500.yaml``).  A bad CSV raises
    :class:`sizing.plan.batch.BatchError` listing every problem as ``NAME:ROW:COLUMN:
    message``.

    Sites stream as in ``sizing batch``: the CSV is read a row at a time and each
    plan goes to :class:`sizing.report.writer.BatchReports` (its files and report
    pieces staged on disk) and is dropped, so one plan is held at a time however
    many sites there are; only its summary row is kept for the page's table."""
    from sizing.plan import plan
    from sizing.plan.batch import BatchError, load_sites
    from sizing.report.tables import summary_columns, summary_row
    from sizing.report.writer import FIGURES_FOR_SITES, BatchReports

    with tempfile.TemporaryDirectory(prefix="sizing-app-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(csv_bytes)
        (Path(tmp) / "examples").symlink_to(EXAMPLES, target_is_directory=True)
        base = None
        if base_yaml is not None:
            base = Path(tmp) / "form-scenario.yaml"
            base.write_text(base_yaml, encoding="utf-8")
        try:
            sites = load_sites(path, base=base)
        except BatchError as exc:
            raise BatchError([p.replace(f"{tmp}/", "") for p in exc.problems]) from None
        rows = []
        out = Path(tmp) / "reports"
        out.mkdir()
        figures = FIGURES_FOR_SITES if figures_for_sites is None else figures_for_sites
        with BatchReports(out, title="Sizing report", figures_for_sites=figures) as reports:
            for i, (site, scenario) in enumerate(sites):
                try:
                    site_plan = plan(scenario, simulate=False, cores_options=cores_options)
                except ValueError as exc:  # e.g. no host size meets the CPU target
                    raise BatchError([f"{name}: site {site}: {exc}"]) from None
                rows.append(summary_row(site, site_plan))
                reports.add(site, site_plan)
                del site_plan
                if on_site is not None:
                    on_site(i + 1, len(sites))
            files = {written.name: written.read_bytes() for written in reports.finish()}
    summary = pd.DataFrame(rows)
    return summary[summary_columns(summary.columns)], files


def calibrate(csv_bytes: bytes, name: str, directory: str | Path) -> tuple[Path, str]:
    """Fit a cost profile to a ``sizing measure`` CSV and write it as
    ``directory/name.yaml``; returns the path and the fit's one-line note.
    Bad input raises :class:`sizing.measure.calibrate.CalibrationError`."""
    from sizing.measure.calibrate import (
        describe_source,
        fit_note,
        fit_profile,
        load_measurements,
        write_profile,
    )

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    src = directory / f"{name}-measurements.csv"
    src.write_bytes(csv_bytes)
    frame = load_measurements([src])
    cal = fit_profile(frame, name)
    note = fit_note(cal)
    profile = cal.profile.model_copy(update={
        "source": describe_source(frame, [src.name], "the planner's web form", note)})
    return write_profile(profile, directory / f"{name}.yaml"), note
