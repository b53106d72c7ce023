"""Batch sizing: one plan per site of a CSV file, on Dask, with checkpoints and reports.

``sizing batch SITES.csv --out DIR`` reads one scenario per row (columns: ``site``
plus the dotted scenario vocabulary, e.g. ``traffic.calls_per_second``,
``topology.proxy.cores``, ``links.overrides.carrier->sbc.bandwidth_mbps``; an
optional ``base`` column or ``--base BASE.yaml`` names a scenario the row
overrides; ``sizing schema`` lists every field), plans every site and writes:

- ``DIR/summary.csv``: one row per site (deployment in words, hosts, cores,
  CPU p95, Mbps to provision, KPIs; units in the headers);
- ``DIR/report.xlsx``: one sheet per table (Summary, Deployment, Links, KPIs,
  Candidates, Assumptions);
- ``DIR/report.html``: self-contained (figures embedded as base64 PNG);
- ``DIR/sites/<site>/``: deployment.csv, links.csv, kpis.csv, candidates.csv,
  cpu_series.csv (simulated plans) and recommended.yaml.

``--cores-options 2,4,8,16`` lets every site's plan choose each role's cores per
host from those sizes (see :func:`sizing.plan.plan`); without it the scenario's
``topology.<role>.cores`` (a column like any other) is kept.

Every file is written atomically.  Bad input (any invalid cell, an unknown
column, a missing file, a bad ``--scheduler``) is reported all at once as
``FILE:ROW:COLUMN: message`` before anything is written.

Checkpoints: each finished site is saved to ``DIR/.checkpoint/<site>.pkl`` with
:data:`CHECKPOINT_VERSION` and a hash of its scenario; ``--resume`` reuses the
sites whose checkpoint matches and plans only the rest.

Dask: sites are independent tasks.  With more than one site to plan, a
``LocalCluster`` with one single-threaded worker process per core
(``--workers N`` to choose) runs them; each plan is a pure function of its
scenario (seeds included), so the results are the same as a serial run.  For
thousands of sites, run a cluster::

    # on the scheduler machine
    dask-scheduler --port 8786
    # on each of N worker machines (same Python environment with sizing installed)
    dask-worker tcp://SCHEDULER:8786 --nworkers auto --nthreads 1
    # from anywhere that reaches the scheduler
    sizing batch sites.csv --out results --scheduler tcp://SCHEDULER:8786 --resume

Only the scenarios travel to the workers and only the plans come back; results
are checkpointed as they arrive, so an interrupted run continues with
``--resume``.
"""

from __future__ import annotations

import csv
import hashlib
import os
import pickle
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sizing.plan import ASSUMPTIONS, Plan, check_cores_options, plan
from sizing.report import atomic_write, atomic_write_bytes, atomic_write_text, batch_html
from sizing.report.tables import deployment_table, kpi_table, links_table, summary_table
from sizing.report.xlsx import write_xlsx
from sizing.scenario import Scenario, ScenarioError, dump_yaml, scenarios_from_csv

__all__ = [
    "CHECKPOINT_VERSION",
    "BatchError",
    "BatchResult",
    "connect",
    "load_sites",
    "plan_site",
    "problems_of",
    "run_batch",
    "write_reports",
]

CHECKPOINT_VERSION = 1
"""Bumped when a checkpoint's content changes; older checkpoints are recomputed."""

_SITE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SCHEDULER = re.compile(r"^(tcp|tls|ws|wss|inproc|ucx)://[^\s:/]+:\d{1,5}$")


class BatchError(ValueError):
    """Bad batch input: one line per problem."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass
class BatchResult:
    """What a batch produced."""

    plans: dict[str, Plan]
    """Site -> plan, in CSV order."""
    planned: list[str] = field(default_factory=list)
    """Sites planned by this run (the others came from checkpoints)."""
    resumed: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------


def load_sites(path: str | Path, base: str | Path | None = None) -> list[tuple[str, Scenario]]:
    """The sites of a CSV file; every problem is reported at once as a BatchError
    (``FILE:ROW:COLUMN: message``).  A ``site`` column is required and its values
    must be usable as directory names."""
    path = Path(path)
    problems: list[str] = []
    if base is not None and not Path(base).is_file():
        problems.append(f"{base}: --base: no such file")
    if not path.is_file():
        raise BatchError([f"{path}: no such file"] + problems)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            cells = []
            if header is not None and "site" in [h.strip() for h in header]:
                col = [h.strip() for h in header].index("site")
                for row in reader:
                    if any(c.strip() for c in row):
                        cells.append((reader.line_num, row[col].strip() if col < len(row)
                                      else ""))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise BatchError([f"{path}: cannot read ({exc})"]) from None
    if header is None:
        raise BatchError([f"{path}: empty file (expected a header row with 'site')"])
    if "site" not in [h.strip() for h in header]:
        problems.append(f"{path}:1:site: missing column 'site' (one row per site)")
    for line, site in cells:
        if not site:
            problems.append(f"{path}:{line}:site: empty; every row needs a site name")
        elif not _SITE.match(site):
            problems.append(f"{path}:{line}:site: {site!r} is not usable as a directory "
                            "name (letters, digits, '.', '_', '-'; starting with a letter "
                            "or digit)")
    sites: list[tuple[str, Scenario]] = []
    if base is None or Path(base).is_file():
        try:
            sites = scenarios_from_csv(path, base=base)
        except ScenarioError as exc:
            problems += [str(p) for p in exc.problems]
    if problems:
        raise BatchError(problems)
    if not sites:
        raise BatchError([f"{path}: no sites (the file has a header but no rows)"])
    return sites


# ---------------------------------------------------------------------------
# Planning, serially or on Dask
# ---------------------------------------------------------------------------


def plan_site(site: str, scenario: dict[str, Any], simulate: bool = True,
              cores_options: tuple[int, ...] | None = None) -> tuple[str, Plan]:
    """Plan one site (the unit of work sent to a Dask worker)."""
    return site, plan(Scenario.model_validate(scenario), simulate=simulate,
                      cores_options=cores_options)


def _key(scenario: Scenario, simulate: bool, cores_options: tuple[int, ...] | None) -> str:
    text = scenario.model_dump_json() + f"|simulate={simulate}"
    if cores_options is not None:
        text += f"|cores_options={','.join(map(str, cores_options))}"
    return hashlib.sha256(text.encode()).hexdigest()


def _checkpoint_path(out: Path, site: str) -> Path:
    return out / ".checkpoint" / f"{site}.pkl"


def _load_checkpoint(out: Path, site: str, key: str) -> Plan | None:
    path = _checkpoint_path(out, site)
    try:
        data = pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION \
            or data.get("key") != key:
        return None
    return data.get("plan")


def _save_checkpoint(out: Path, site: str, key: str, result: Plan) -> None:
    blob = pickle.dumps({"version": CHECKPOINT_VERSION, "key": key, "plan": result},
                        protocol=pickle.HIGHEST_PROTOCOL)
    atomic_write_bytes(_checkpoint_path(out, site), blob)


def connect(scheduler: str, timeout_s: float = 5.0) -> Any:
    """A Dask client of an existing cluster; BatchError names a bad address."""
    if not _SCHEDULER.match(scheduler):
        raise BatchError([f"--scheduler {scheduler}: expected an address like "
                          "tcp://HOST:8786"])
    from distributed import Client

    try:
        return Client(scheduler, timeout=timeout_s)
    except (OSError, TimeoutError) as exc:
        raise BatchError([f"--scheduler {scheduler}: cannot connect "
                          f"({type(exc).__name__}: {exc})"]) from None


def _local_client(workers: int | None, processes: bool = True) -> Any:
    from distributed import Client, LocalCluster

    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                           dashboard_address=":0")
    return Client(cluster)


def _close_quietly(client: Any) -> None:
    """Close our own LocalCluster. A worker that held large simulations can take longer
    than the nanny's fixed 4 s to exit; the nanny then kills it, which is harmless once
    every result is in, so its warning is kept off the planner's terminal."""
    import logging

    cluster = client.cluster
    nanny = logging.getLogger("distributed.nanny")
    level = nanny.level
    nanny.setLevel(logging.ERROR)
    try:
        client.close()
        cluster.close()
    finally:
        nanny.setLevel(level)


def run_batch(sites: list[tuple[str, Scenario]], out: str | Path, *, resume: bool = False,
              simulate: bool = True, client: Any = None, workers: int | None = None,
              progress: bool = True, title: str = "Sizing report",
              on_planned: Callable[[str], None] | None = None,
              cores_options: Iterable[int] | None = None) -> BatchResult:
    """Plan every site and write the reports into ``out``.

    ``client``: a Dask client to use; None plans serially when one site (or
    ``workers == 1``) is left to plan, else on a LocalCluster of ``workers``
    processes (all cores by default), closed afterwards.  ``cores_options``:
    candidate cores per host for every site's plan (None: the scenarios' cores);
    a bad value raises BatchError naming ``--cores-options`` before any work.
    """
    from tqdm import tqdm

    out = Path(out)
    try:
        options = None if cores_options is None \
            else check_cores_options(cores_options, name="--cores-options")
    except ValueError as exc:
        raise BatchError([str(exc)]) from None
    keys = {site: _key(s, simulate, options) for site, s in sites}
    plans: dict[str, Plan] = {}
    resumed: list[str] = []
    if resume:
        for site, _ in sites:
            found = _load_checkpoint(out, site, keys[site])
            if found is not None:
                plans[site] = found
                resumed.append(site)
    todo = [(site, s) for site, s in sites if site not in plans]
    planned: list[str] = []
    bar = tqdm(total=len(sites), initial=len(resumed), desc="sites", unit="site",
               file=sys.stderr, disable=not progress)

    def done(site: str, result: Plan) -> None:
        _save_checkpoint(out, site, keys[site], result)
        plans[site] = result
        planned.append(site)
        bar.update(1)
        if on_planned is not None:
            on_planned(site)

    try:
        own = None
        if client is None and len(todo) > 1 and workers != 1:
            client = own = _local_client(workers)
        if client is None:
            for site, s in todo:
                done(*plan_site(site, s.model_dump(mode="json"), simulate, options))
        elif todo:
            from distributed import as_completed

            futures = [client.submit(plan_site, site, s.model_dump(mode="json"), simulate,
                                     options, key=f"plan-{site}-{keys[site][:16]}", pure=True)
                       for site, s in todo]
            for future in as_completed(futures):
                done(*future.result())
    finally:
        bar.close()
        if own is not None:
            _close_quietly(own)
    ordered = {site: plans[site] for site, _ in sites}
    files = write_reports(ordered, out, title=title)
    return BatchResult(ordered, planned, resumed, files)


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _csv(path: Path, frame: pd.DataFrame, index: bool = False) -> Path:
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=index))


def _long(plans: dict[str, Plan], table: Callable[[Plan], pd.DataFrame]) -> pd.DataFrame:
    frames = [table(p).assign(Site=site) for site, p in plans.items()]
    frames = [f[["Site"] + [c for c in f.columns if c != "Site"]] for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_reports(plans: dict[str, Plan], out: str | Path, *,
                  title: str = "Sizing report") -> list[Path]:
    """summary.csv, report.xlsx, report.html and the per-site files, atomically."""
    out = Path(out)
    files = []
    for site, p in plans.items():
        d = out / "sites" / site
        files.append(_csv(d / "deployment.csv", deployment_table(p)))
        files.append(_csv(d / "links.csv", links_table(p)))
        files.append(_csv(d / "kpis.csv", kpi_table(p)))
        if not p.candidates.empty:
            files.append(_csv(d / "candidates.csv", p.candidates))
        if "cpu" in p.series and not p.series["cpu"].empty:
            files.append(_csv(d / "cpu_series.csv", p.series["cpu"], index=True))
        files.append(atomic_write_text(d / "recommended.yaml",
                                       dump_yaml(p.recommended_scenario())))
    summary = summary_table(plans)
    files.append(_csv(out / "summary.csv", summary))
    candidates = pd.concat([p.candidates.assign(Site=s) for s, p in plans.items()
                            if not p.candidates.empty], ignore_index=True) \
        if any(not p.candidates.empty for p in plans.values()) else pd.DataFrame()
    sheets = {
        "Summary": summary,
        "Deployment": _long(plans, deployment_table),
        "Links": _long(plans, links_table),
        "KPIs": _long(plans, kpi_table),
        "Candidates": candidates,
        "Assumptions": pd.DataFrame({"assumption": list(ASSUMPTIONS),
                                     "value": list(ASSUMPTIONS.values())}),
    }
    files.append(write_xlsx(out / "report.xlsx", sheets))
    files.append(atomic_write_text(out / "report.html", batch_html(plans, title=title)))
    return files


def problems_of(exc: BaseException) -> list[str]:
    """The lines of a ScenarioError or BatchError."""
    if isinstance(exc, BatchError):
        return exc.problems
    if isinstance(exc, ScenarioError):
        return [str(p) for p in exc.problems]
    return [str(exc)]


