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

Each site's files are written as soon as it is planned and its plan is dropped:
the summary, workbook and HTML are assembled at the end from pieces staged on disk
(:mod:`sizing.report.writer`), so memory does not grow with the number of sites.

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

import contextlib
import csv
import hashlib
import itertools
import os
import pickle
import re
import socket
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from sizing.files import atomic_write_bytes
from sizing.plan import Plan, check_cores_options, plan
from sizing.report.writer import BatchReports
from sizing.scenario import Scenario, ScenarioError, iter_csv_scenarios

__all__ = [
    "CHECKPOINT_VERSION",
    "BatchError",
    "BatchResult",
    "Sites",
    "connect",
    "load_sites",
    "plan_site",
    "problems_of",
    "run_batch",
    "write_reports",
]

CHECKPOINT_VERSION = 2
"""Bumped when a checkpoint's content changes; older checkpoints are recomputed (2: a
plan keeps its links per direction)."""

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

    plans: Mapping[str, Plan]
    """Site -> plan, in CSV order (read from the checkpoints when asked for)."""
    planned: list[str] = field(default_factory=list)
    """Sites planned by this run (the others came from checkpoints)."""
    resumed: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    """summary.csv, report.xlsx and report.html (each site's files are in sites/<site>/)."""
    met: int = 0
    """Sites whose plan meets every target."""


class CheckpointPlans(Mapping[str, Plan]):
    """The plans of a finished batch, in CSV order, each read from its checkpoint on
    access: a batch of any size returns without holding its plans."""

    def __init__(self, out: Path, sites: list[str]):
        self.out, self.sites = out, sites
        self._known = set(sites)

    def __getitem__(self, site: str) -> Plan:
        data = _read_checkpoint(self.out, site) if site in self._known else None
        if data is None:
            raise KeyError(f"{site}: no checkpoint in {self.out / '.checkpoint'}")
        return data["plan"]

    def __iter__(self) -> Iterator[str]:
        return iter(self.sites)

    def __len__(self) -> int:
        return len(self.sites)


# ---------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------


MAX_PROBLEMS = 200
"""Problems listed for one input; the rest are counted (a bad million-row file
should not print a million lines)."""


class Sites(Sequence[tuple[str, Scenario]]):
    """The validated sites of a CSV file, read again from the file when iterated:
    a million-row file is never held in memory as scenarios (the ids are kept)."""

    def __init__(self, path: Path, base: str | Path | None, ids: list[str]):
        self.path, self.base, self.ids = path, base, ids

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[tuple[str, Scenario]]:
        for row in iter_csv_scenarios(self.path, base=self.base):
            if row.problems or row.scenario is None or row.row_id is None:
                raise BatchError([str(p) for p in row.problems]
                                 or [f"{self.path}: changed while the batch ran"])
            yield row.row_id, row.scenario

    @overload
    def __getitem__(self, index: int) -> tuple[str, Scenario]: ...
    @overload
    def __getitem__(self, index: slice) -> list[tuple[str, Scenario]]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return list(itertools.islice(self, *index.indices(len(self))))
        i = index + len(self) if index < 0 else index
        if not 0 <= i < len(self):
            raise IndexError(index)
        return next(itertools.islice(self, i, None))


def load_sites(path: str | Path, base: str | Path | None = None, *,
               simulate: bool = False) -> Sites:
    """The sites of a CSV file; every problem is reported at once as a BatchError
    (``FILE:ROW:COLUMN: message``).  A ``site`` column is required and its values
    must be usable as directory names.  With ``simulate``, a site whose simulation
    would be too large (:func:`sizing.plan.budget.check_simulation`) is a problem too.
    The file is read row by row and the scenarios are not kept (see :class:`Sites`)."""
    from sizing.plan.budget import SimulationTooLarge, check_simulation

    path = Path(path)
    problems: list[str] = []
    more = 0

    def problem(text: str) -> None:
        nonlocal more
        if len(problems) < MAX_PROBLEMS:
            problems.append(text)
        else:
            more += 1

    if base is not None and not Path(base).is_file():
        problem(f"{base}: --base: no such file")
    if not path.is_file():
        raise BatchError([f"{path}: no such file"] + problems)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise BatchError([f"{path}: cannot read ({reason})"]) from None
    if header is None:
        raise BatchError([f"{path}: empty file (expected a header row with 'site')"])
    has_site = "site" in [h.strip() for h in header]
    if not has_site:
        problem(f"{path}:1:site: missing column 'site' (one row per site)")
    ids: list[str] = []
    if base is None or Path(base).is_file():
        site_col = [h.strip() for h in header].index("site") if has_site else None
        for row in iter_csv_scenarios(path, base=base):
            for p in row.problems:
                problem(str(p))
            if row.row_id is None:
                continue
            if site_col is not None:
                _check_site(path, row.line, row.row_id if row.id_given else "", problem)
            if row.scenario is not None:
                ids.append(row.row_id)
                if simulate:
                    try:
                        check_simulation(row.scenario, hint="use --no-simulate or shorten "
                                                            "duration_s")
                    except SimulationTooLarge as exc:
                        problem(f"{path}:{row.line}: site {row.row_id}: {exc}")
    if more:
        problems.append(f"{path}: ... and {more} more problems")
    if problems:
        raise BatchError(problems)
    if not ids:
        raise BatchError([f"{path}: no sites (the file has a header but no rows)"])
    return Sites(path, base, ids)


def _check_site(path: Path, line: int, site: str, problem: Callable[[str], None]) -> None:
    if not site:
        problem(f"{path}:{line}:site: empty; every row needs a site name")
    elif not _SITE.match(site):
        problem(f"{path}:{line}:site: {site!r} is not usable as a directory name "
                "(letters, digits, '.', '_', '-'; starting with a letter or digit)")


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


def _read_checkpoint(out: Path, site: str) -> dict[str, Any] | None:
    """A site's checkpoint of this version (``key`` and ``plan``), or None."""
    path = _checkpoint_path(out, site)
    try:
        data = pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
        return None
    return data


def _load_checkpoint(out: Path, site: str, key: str) -> Plan | None:
    data = _read_checkpoint(out, site)
    return None if data is None or data.get("key") != key else data.get("plan")


def _save_checkpoint(out: Path, site: str, key: str, result: Plan) -> None:
    blob = pickle.dumps({"version": CHECKPOINT_VERSION, "key": key, "plan": result},
                        protocol=pickle.HIGHEST_PROTOCOL)
    atomic_write_bytes(_checkpoint_path(out, site), blob)


def connect(scheduler: str, timeout_s: float = 5.0) -> Any:
    """A Dask client of an existing cluster; BatchError names a bad address, a
    server that does not answer, or one that is not a Dask scheduler."""
    if not _SCHEDULER.match(scheduler):
        raise BatchError([f"--scheduler {scheduler}: expected an address like "
                          "tcp://HOST:8786"])
    if scheduler.startswith("tcp://"):
        _probe_scheduler(scheduler, timeout_s)
    from distributed import Client

    try:
        return Client(scheduler, timeout=timeout_s)
    except Exception as exc:  # noqa: BLE001 - whatever the far end did, say it in one line
        raise BatchError([f"--scheduler {scheduler}: cannot connect "
                          f"({type(exc).__name__}: {exc})"]) from None


def _probe_scheduler(scheduler: str, timeout_s: float) -> None:
    """Check that a tcp:// address greets like a Dask scheduler before Dask talks to it.

    A Dask scheduler sends its handshake as soon as a connection is accepted: a
    little-endian uint64 message size, then the frame count.  Dask reads any
    reply that way, so an HTTP server's "HTTP/1.1" became a 3 EiB allocation;
    here a silent server is asked an HTTP question, and what answers is named.
    """
    host, _, port = scheduler.removeprefix("tcp://").rpartition(":")
    where = f"--scheduler {scheduler}"
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout_s)
    except (OSError, ValueError) as exc:
        raise BatchError([f"{where}: cannot connect ({getattr(exc, 'strerror', None) or exc})"]) \
            from None
    with sock:
        greeting = _receive(sock, 16, timeout_s)
        if len(greeting) == 16:
            size, frames = struct.unpack("<QQ", greeting)
            if 0 < size < 2**26 and 0 < frames < 1024:
                return
        if not greeting:
            with contextlib.suppress(OSError):
                sock.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            reply = _receive(sock, 5, timeout_s)
            if reply.startswith(b"HTTP/"):
                found = "an HTTP server (it answered an HTTP request)"
            else:
                found = f"a server that sent no Dask handshake within {timeout_s:g} s"
        elif greeting.startswith(b"HTTP/"):
            found = "an HTTP server"
        elif greeting.startswith(b"SSH-"):
            found = "an SSH server"
        else:
            found = f"a server whose first {len(greeting)} bytes are not a Dask handshake"
        raise BatchError([f"{where}: found {found}; not a Dask scheduler"])


def _receive(sock: socket.socket, n: int, timeout_s: float) -> bytes:
    """Up to ``n`` bytes, fewer on timeout or when the peer closes."""
    sock.settimeout(timeout_s)
    data = b""
    try:
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                break
            data += chunk
    except OSError:  # timeout included
        pass
    return data


def _local_client(workers: int | None, processes: bool = True) -> Any:
    from distributed import Client, LocalCluster

    n = workers or os.cpu_count() or 1
    # Loopback only: the scheduler and its dashboard are this process's own business,
    # not a service for the network the planner's machine sits on.
    loopback = {"host": "127.0.0.1"} if processes else {}  # in-process: no socket at all
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                           dashboard_address="127.0.0.1:0", **loopback)
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


def run_batch(sites: Iterable[tuple[str, Scenario]], out: str | Path, *,
              resume: bool = False, simulate: bool = True, client: Any = None,
              workers: int | None = None, progress: bool = True,
              title: str = "Sizing report",
              on_planned: Callable[[str], None] | None = None,
              cores_options: Iterable[int] | None = None) -> BatchResult:
    """Plan every site and write the reports into ``out``.

    ``sites`` is read once, lazily (a :class:`Sites` streams its CSV), and at most
    a few sites per worker are in flight.  ``client``: a Dask client to use; None
    plans serially when one site (or ``workers == 1``) is left to plan, else on a
    LocalCluster of ``workers`` processes (all cores by default), closed
    afterwards.  ``cores_options``: candidate cores per host for every site's plan
    (None: the scenarios' cores); a bad value raises BatchError naming
    ``--cores-options`` before any work.  A site that cannot be planned raises
    BatchError naming it.  ``progress``: a bar of sites on stderr when it is a terminal.
    """
    out = Path(out)
    try:
        options = None if cores_options is None \
            else check_cores_options(cores_options, name="--cores-options")
    except ValueError as exc:
        raise BatchError([str(exc)]) from None
    run = _BatchRun(out, simulate, options, title, on_planned, progress,
                    len(sites) if isinstance(sites, Sized) else None)
    try:
        files = run.all(sites, resume, client, workers)
    finally:
        run.close()
    return BatchResult(CheckpointPlans(out, run.order), run.planned, run.resumed, files, run.reports.met)


class _BatchRun:
    """One ``run_batch``: the sites seen, their checkpoints, the reports being written
    and the Dask futures in flight (at most a few per worker)."""

    def __init__(self, out: Path, simulate: bool, options: tuple[int, ...] | None, title: str,
                 on_planned: Callable[[str], None] | None, progress: bool, total: int | None) -> None:
        from sizing.progress import bar as progress_bar

        self.out, self.simulate, self.options, self.on_planned = out, simulate, options, on_planned
        self.order: list[str] = []  # every site, in CSV order
        self.keys: dict[str, str] = {}  # site -> checkpoint key, while it is planned
        self.index: dict[str, int] = {}  # site -> its place in the reports, while it is planned
        self.resumed: list[str] = []
        self.planned: list[str] = []
        self.bar = progress_bar(total=total, desc="sites", unit="site", quiet=not progress)
        self.reports = BatchReports(out, title=title)
        self.own: Any = None  # a LocalCluster's client this run started
        self.window: Any = None  # Dask futures in flight

    def all(self, sites: Iterable[tuple[str, Scenario]], resume: bool, client: Any,
            workers: int | None) -> Any:
        """Plan (or resume) every site; the files written."""
        first: tuple[str, Scenario] | None = None  # held until we know a cluster is worth it
        for site, s in sites:
            if self._seen(site, s, resume):
                continue
            if client is None and first is None and workers != 1:
                first = (site, s)
                continue
            if client is None and first is not None:
                client = self.own = _local_client(workers)
            if client is None:
                self._serial(site, s)
                continue
            if first is not None:
                self._submit(client, *first)
                first = None
            self._submit(client, site, s)
        if first is not None:  # the only site to plan: no cluster for it
            self._serial(*first)
        if self.window is not None:
            for future in self.window:
                _collect(future, self._done)
        return self.reports.finish()

    def _seen(self, site: str, s: Scenario, resume: bool) -> bool:
        """Note the site; True when its checkpoint already holds its plan."""
        self.index[site] = len(self.order)
        self.order.append(site)
        self.keys[site] = _key(s, self.simulate, self.options)
        if not resume:
            return False
        found = _load_checkpoint(self.out, site, self.keys[site])
        if found is None:
            return False
        del self.keys[site]
        self.reports.add(site, found, self.index.pop(site))
        self.resumed.append(site)
        self.bar.update(1)
        return True

    def _done(self, site: str, result: Plan) -> None:
        _save_checkpoint(self.out, site, self.keys.pop(site), result)
        self.reports.add(site, result, self.index.pop(site))
        self.planned.append(site)
        self.bar.update(1)
        if self.on_planned is not None:
            self.on_planned(site)

    def _serial(self, site: str, s: Scenario) -> None:
        self.bar.set_postfix_str(f"planning {site}")
        try:
            self._done(*plan_site(site, s.model_dump(mode="json"), self.simulate, self.options))
        except ValueError as exc:
            raise BatchError([f"site {site}: {exc}"]) from None

    def _submit(self, client: Any, site: str, s: Scenario) -> None:
        """Hand the site to Dask; wait for one to finish while too many are in flight."""
        if self.window is None:
            from distributed import as_completed

            self.window = as_completed()
        self.window.add(_submit(client, site, s, self.keys, self.simulate, self.options))
        limit = 4 * max(1, len(client.scheduler_info().get("workers", {})) or 1)
        while self.window.count() >= limit:
            _collect(next(self.window), self._done)

    def close(self) -> None:
        self.bar.close()
        self.reports.close()
        if self.own is not None:
            _close_quietly(self.own)


def _submit(client: Any, site: str, s: Scenario, keys: dict[str, str], simulate: bool,
            options: tuple[int, ...] | None) -> Any:
    return client.submit(plan_site, site, s.model_dump(mode="json"), simulate, options,
                         key=f"plan-{site}-{keys[site][:16]}", pure=True)


def _collect(future: Any, done: Callable[[str, Plan], None]) -> None:
    try:
        site, result = future.result()
    except ValueError as exc:
        name = str(future.key).removeprefix("plan-").rsplit("-", 1)[0]
        raise BatchError([f"site {name}: {exc}"]) from None
    done(site, result)


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def write_reports(plans: Mapping[str, Plan], out: str | Path, *,
                  title: str = "Sizing report") -> list[Path]:
    """summary.csv, report.xlsx, report.html and the per-site files, atomically."""
    with BatchReports(out, title=title) as reports:
        for site, p in plans.items():
            reports.add(site, p)
        return reports.finish()


def problems_of(exc: BaseException) -> list[str]:
    """The lines of a ScenarioError or BatchError."""
    if isinstance(exc, BatchError):
        return exc.problems
    if isinstance(exc, ScenarioError):
        return [str(p) for p in exc.problems]
    return [str(exc)]


