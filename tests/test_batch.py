"""sizing batch: input errors, resume, Dask equals serial, atomic outputs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from sizing.cli.plan import add_plan_commands
from sizing.plan import batch
from sizing.plan.batch import BatchError, connect, load_sites, run_batch

HEADER = ("site,traffic.calls_per_second,traffic.holding_time_s,trunk.channels,duration_s,"
          "warmup_s,topology.sbc.enabled,topology.sip_server.enabled,"
          "topology.media_server.enabled\n")
FAST = "20,50,8,2,false,false,false"


def write_sites(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return path


@pytest.fixture
def sites_csv(tmp_path) -> Path:
    return write_sites(tmp_path / "sites.csv", [f"site-a,1,{FAST}", f"site-b,2,{FAST}",
                                                f"site-c,3,{FAST}"])


def cli(*args: str):
    app = typer.Typer()
    add_plan_commands(app)

    @app.callback()
    def _root() -> None:
        """sizing"""

    return CliRunner().invoke(app, list(args))


def test_every_bad_cell_is_reported_and_nothing_is_written(tmp_path):
    csv = write_sites(tmp_path / "s.csv", [f"ok,1,{FAST}", f"bad,-1,{FAST}",
                                           "worse,1,20,many,8,2,false,false,false"])
    out = tmp_path / "out"
    result = cli("batch", str(csv), "--out", str(out))
    assert result.exit_code == 2
    assert f"{csv}:3:traffic.calls_per_second: " in result.output
    assert f"{csv}:4:trunk.channels: " in result.output
    assert not out.exists()


def test_an_unknown_column_is_an_error(tmp_path):
    csv = tmp_path / "s.csv"
    csv.write_text("site,traffic.calls_per_sec\nx,1\n")
    result = cli("batch", str(csv), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert f"{csv}:1:traffic.calls_per_sec: unknown column" in result.output
    assert not (tmp_path / "out").exists()


def test_a_missing_file_is_an_error(tmp_path):
    result = cli("batch", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert f"{tmp_path / 'nope.csv'}: no such file" in result.output
    assert not (tmp_path / "out").exists()


def test_a_site_name_must_be_a_directory_name(tmp_path):
    csv = write_sites(tmp_path / "s.csv", [f"../etc,1,{FAST}"])
    with pytest.raises(BatchError, match=r"s\.csv:2:site: '\.\./etc' is not usable"):
        load_sites(csv)


@pytest.mark.parametrize("address, message", [
    ("localhost:8786", "expected an address like tcp://HOST:8786"),
    ("tcp://127.0.0.1:9", "cannot connect"),
])
def test_a_bad_scheduler_is_an_error(sites_csv, tmp_path, address, message):
    out = tmp_path / "out"
    result = cli("batch", str(sites_csv), "--out", str(out), "--scheduler", address)
    assert result.exit_code == 2
    assert f"--scheduler {address}: {message}" in result.output
    assert not out.exists()


def test_resume_plans_only_the_unfinished_sites(sites_csv, tmp_path):
    out = tmp_path / "out"
    sites = load_sites(sites_csv)
    first = run_batch(sites, out, workers=1, progress=False)
    assert first.planned == ["site-a", "site-b", "site-c"]
    (out / ".checkpoint" / "site-b.pkl").unlink()
    planned: list[str] = []
    second = run_batch(sites, out, resume=True, workers=1, progress=False,
                       on_planned=planned.append)
    assert planned == ["site-b"]
    assert second.resumed == ["site-a", "site-c"]
    assert list(second.plans) == ["site-a", "site-b", "site-c"]


def test_a_changed_site_is_replanned_on_resume(sites_csv, tmp_path):
    out = tmp_path / "out"
    run_batch(load_sites(sites_csv), out, workers=1, progress=False)
    text = sites_csv.read_text().replace("site-c,3,", "site-c,4,")
    sites_csv.write_text(text)
    again = run_batch(load_sites(sites_csv), out, resume=True, workers=1, progress=False)
    assert again.planned == ["site-c"]


def test_dask_gives_the_same_results_as_a_serial_run(sites_csv, tmp_path):
    from distributed import Client, LocalCluster

    sites = load_sites(sites_csv)
    serial = run_batch(sites, tmp_path / "serial", workers=1, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        parallel = run_batch(sites, tmp_path / "dask", client=client, progress=False)
    assert parallel.planned and sorted(parallel.planned) == sorted(serial.planned)
    for site in serial.plans:
        a, b = serial.plans[site], parallel.plans[site]
        assert a.simulated and b.simulated
        pd.testing.assert_frame_equal(a.deployment, b.deployment)
        pd.testing.assert_frame_equal(a.kpis, b.kpis)
        pd.testing.assert_frame_equal(a.links, b.links)
    assert (tmp_path / "serial" / "summary.csv").read_text() == \
        (tmp_path / "dask" / "summary.csv").read_text()


def test_batch_writes_every_report_and_site_directory(sites_csv, tmp_path):
    out = tmp_path / "out"
    result = cli("batch", str(sites_csv), "--out", str(out), "--workers", "1",
                 "--no-progress")
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {"summary.csv", "report.xlsx", "report.html",
                                               "sites", ".checkpoint"}
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["Site"]) == ["site-a", "site-b", "site-c"]
    for site in ("site-a", "site-b", "site-c"):
        assert {"deployment.csv", "links.csv", "kpis.csv", "cpu_series.csv",
                "recommended.yaml"} <= {p.name for p in (out / "sites" / site).iterdir()}


def test_an_exception_while_reporting_leaves_no_partial_file(sites_csv, tmp_path, monkeypatch):
    from sizing.report import writer

    def broken(write, **kwargs):
        write("<!DOCTYPE html>")
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(writer, "write_batch_html", broken)
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.csv").write_text("the last run's\n")
    with pytest.raises(RuntimeError, match="renderer crashed"):
        run_batch(load_sites(sites_csv), out, workers=1, progress=False)
    assert not (out / "report.html").exists() and not (out / "report.xlsx").exists()
    assert (out / "summary.csv").read_text() == "the last run's\n"  # the three go together
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert not list(out.glob(".reports-*"))  # nothing staged is left behind
    assert len(list((out / ".checkpoint").glob("*.pkl"))) == 3  # resumable


def test_connect_rejects_an_address_without_a_scheme():
    with pytest.raises(BatchError, match="expected an address"):
        connect("8786")


def test_bundled_sites_file_is_valid():
    sites = load_sites(Path(__file__).parents[1] / "data" / "sites.csv")
    names = [s for s, _ in sites]
    assert names == ["branch-office", "contact-centre-500", "contact-centre-5000",
                     "sip-trunk-aggregation"]
    assert sites[2][1].agents.count == 5000


def test_batch_cores_options_choose_each_sites_cores_per_host(sites_csv, tmp_path):
    import yaml

    out = tmp_path / "out"
    result = cli("batch", str(sites_csv), "--out", str(out), "--workers", "1", "--no-progress",
                 "--no-simulate", "--cores-options", "1,2,4")
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary.csv").set_index("Site")
    assert summary.loc["site-a", "SIP Proxy cores per host"] == 1  # the scenario's is 2
    recommended = yaml.safe_load((out / "sites" / "site-a" / "recommended.yaml").read_text())
    assert recommended["topology"]["proxy"]["cores"] == 1


def test_changed_cores_options_replan_on_resume(sites_csv, tmp_path):
    out = tmp_path / "out"
    sites = load_sites(sites_csv)
    run_batch(sites, out, workers=1, progress=False, simulate=False)
    again = run_batch(sites, out, resume=True, workers=1, progress=False, simulate=False,
                      cores_options=(1, 2))
    assert again.planned == ["site-a", "site-b", "site-c"]


def test_batch_reports_bad_cores_options_and_writes_nothing(sites_csv, tmp_path):
    out = tmp_path / "out"
    result = cli("batch", str(sites_csv), "--out", str(out), "--cores-options", "0")
    assert result.exit_code == 2
    assert "sizing: error: --cores-options: 0 cores per host" in result.output
    assert not out.exists()


def test_run_batch_rejects_bad_cores_options_before_planning(sites_csv, tmp_path):
    with pytest.raises(BatchError, match="--cores-options: empty"):
        run_batch(load_sites(sites_csv), tmp_path / "out", workers=1, progress=False,
                  cores_options=[])
    assert not (tmp_path / "out").exists()


# --- hostile input: schedulers that are not, dashboards, huge files -----------------------


@pytest.fixture
def http_server():
    """A tiny HTTP server on loopback, standing where a Dask scheduler was expected."""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_scheduler_address_that_is_an_http_server_is_named(sites_csv, tmp_path, http_server):
    out = tmp_path / "out"
    result = cli("batch", str(sites_csv), "--out", str(out), "--scheduler", http_server)
    assert result.exit_code == 2
    assert f"sizing: error: --scheduler {http_server}: found an HTTP server" in result.output
    assert "not a Dask scheduler" in result.output and not out.exists()


def test_a_silent_server_is_not_waited_for_forever(tmp_path):
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(BatchError, match="sent no Dask handshake within 0.5 s"):
            connect(address, timeout_s=0.5)


def test_a_real_scheduler_passes_the_handshake_check():
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        client = connect(cluster.scheduler_address, timeout_s=10)
        try:
            assert client.scheduler_info()["address"] == cluster.scheduler_address
        finally:
            client.close()


def test_the_local_cluster_and_its_dashboard_listen_on_loopback_only():
    client = batch._local_client(1, processes=False)
    try:
        scheduler = client.cluster.scheduler
        sockets = scheduler.http_server._sockets.values()
        assert sockets and {s.getsockname()[0] for s in sockets} == {"127.0.0.1"}
    finally:
        batch._close_quietly(client)


def _big_csv(path: Path, rows: int) -> Path:
    with path.open("w") as fh:
        fh.write(HEADER)
        for i in range(rows):
            fh.write(f"s{i:07d},1,{FAST}\n")
    return path


def test_the_sites_reader_is_lazy_on_a_200k_row_file(tmp_path):
    import tracemalloc

    from sizing.scenario import iter_csv_scenarios

    path = _big_csv(tmp_path / "big.csv", 200_000)
    tracemalloc.start()
    try:
        rows = iter_csv_scenarios(path)
        first = [next(rows) for _ in range(3)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.row_id for r in first] == ["s0000000", "s0000001", "s0000002"]
    assert all(r.scenario is not None for r in first)
    assert peak < 4 * 1024 * 1024  # the file alone is 9 MB; its rows as lists far more


def test_load_sites_keeps_ids_not_scenarios(tmp_path):
    import gc

    from sizing.scenario import Scenario

    def live() -> int:
        gc.collect()
        return sum(isinstance(o, Scenario) for o in gc.get_objects())

    before = live()
    sites = load_sites(_big_csv(tmp_path / "big.csv", 500))
    assert len(sites) == 500 and sites[-1][0] == "s0000499"
    assert live() - before <= 1


def test_run_batch_reads_the_sites_as_it_plans_them(tmp_path, monkeypatch):
    sites = load_sites(_big_csv(tmp_path / "big.csv", 20))
    read: list[str] = []

    def rows():
        for site, s in sites:
            read.append(site)
            yield site, s

    ahead: list[int] = []
    real = batch.plan_site

    def plan_site(site, *args):
        ahead.append(len(read) - read.index(site))
        return real(site, *args)

    monkeypatch.setattr(batch, "plan_site", plan_site)
    result = run_batch(rows(), tmp_path / "out", workers=1, progress=False, simulate=False)
    assert len(result.plans) == 20
    assert max(ahead) == 1  # never more than the site being planned was read


def test_a_large_bad_file_lists_a_bounded_number_of_problems(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "".join(f"s{i},-1,{FAST}\n" for i in range(batch.MAX_PROBLEMS + 50)))
    with pytest.raises(BatchError) as info:
        load_sites(path)
    assert len(info.value.problems) == batch.MAX_PROBLEMS + 1
    assert info.value.problems[-1] == f"{path}: ... and 50 more problems"


def test_a_batch_holds_no_finished_plan(tmp_path, monkeypatch):
    """Each site's files are written as it is planned and its plan dropped: at any point
    of a 12-site batch at most the plan being handed over is alive."""
    import gc
    import weakref

    refs: list[weakref.ref] = []
    real = batch.plan_site

    def alive() -> int:
        gc.collect()
        return sum(r() is not None for r in refs)

    def plan_site(*args):
        site, result = real(*args)
        refs.append(weakref.ref(result))
        return site, result

    seen: list[int] = []

    def on_planned(site: str) -> None:
        seen.append(alive())
        assert (tmp_path / "out" / "sites" / site / "deployment.csv").is_file()  # at once

    monkeypatch.setattr(batch, "plan_site", plan_site)
    result = run_batch(load_sites(_big_csv(tmp_path / "sites.csv", 12)), tmp_path / "out",
                       workers=1, progress=False, simulate=False, on_planned=on_planned)
    assert len(seen) == 12 and max(seen) <= 1 and alive() == 0
    assert len(result.plans) == 12 and result.plans["s0000011"].met == (result.met == 12)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert list(summary["Site"]) == [f"s{i:07d}" for i in range(12)]
