"""`sizing measure` parts that need no SIPp: parsing SIPp's output, running it (with a
stand-in executable), CPU sampling, errors."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from sizing.cli.measure import add_measure_commands
from sizing.measure import (
    FLOWS,
    MeasureConfig,
    MeasureError,
    ProcessTree,
    parse_message_log,
    parse_rates,
    parse_stat_file,
    probe_target,
    write_csv_atomic,
)
from sizing.measure.sipp import Sipp, SippCommand, SippError
from sizing.net.address import parse_address
from sizing.sip.kind import message_class

MESSAGE_LOG = """\
----------------------------------------------- 2026-01-01 10:00:00.000001
UDP message sent (40 bytes):

INVITE sip:service@127.0.0.1:5070 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061

----------------------------------------------- 2026-01-01 10:00:00.000002
UDP message received [30] bytes :

SIP/2.0 100 Trying
Via: SIP/2.0/UDP 127.0.0.1:5061
Server: Kamailio (5.6.4 (x86_64/linux))

----------------------------------------------- 2026-01-01 10:00:00.000003
UDP message received [35] bytes :

SIP/2.0 200 OK
Server: other

----------------------------------------------- 2026-01-01 10:00:00.000004
UDP message sent (20 bytes):

ACK sip:service@127.0.0.1:5070 SIP/2.0

"""

STAT_HEADER = ("StartTime;LastResetTime;CurrentTime;TotalCallCreated;SuccessfulCall(P);"
               "SuccessfulCall(C);FailedCall(P);FailedCall(C);Retransmissions(P);"
               "Retransmissions(C);ResponseTime1(P);ResponseTime1(C);")


def test_parse_rates_names_the_bad_item() -> None:
    assert parse_rates("50, 100,200") == [50.0, 100.0, 200.0]
    with pytest.raises(ValueError, match=r"--rates: item 2 \('x'\) is not a number"):
        parse_rates("50,x")
    with pytest.raises(ValueError, match=r"item 1 \('-5'\) must be a positive rate"):
        parse_rates("-5")


def test_a_start_line_counts_under_its_method_or_status_class() -> None:
    assert [message_class(s) for s in ("INVITE sip:a@b SIP/2.0", "SIP/2.0 180 Ringing", "bye sip:x SIP/2.0")] \
        == ["INVITE", "1xx", "BYE"]


def test_message_log_counts_kinds_bytes_and_server(tmp_path: Path) -> None:
    log = tmp_path / "msg.log"
    log.write_text(MESSAGE_LOG)
    tally = parse_message_log(log)
    assert dict(tally.sent) == {"INVITE": 1, "ACK": 1}
    assert dict(tally.received) == {"1xx": 1, "2xx": 1}
    assert (tally.bytes_sent, tally.bytes_received) == (60, 65)
    assert tally.server_header == "Kamailio (5.6.4 (x86_64/linux))"


def test_stat_file_last_row_is_read(tmp_path: Path) -> None:
    stat = tmp_path / "stat.csv"
    stat.write_text(STAT_HEADER + "\n" + "a;b;c;10;0;7;0;3;0;2;00:00:00:000000;00:00:00:001500;\n")
    stats = parse_stat_file(stat)
    assert (stats.calls_created, stats.calls_ok, stats.calls_failed, stats.retransmissions) == (10, 7, 3, 2)
    assert stats.response_time_ms == pytest.approx(1.5)


def test_stat_file_without_rows_is_an_error(tmp_path: Path) -> None:
    stat = tmp_path / "stat.csv"
    stat.write_text(STAT_HEADER + "\n")
    with pytest.raises(ValueError, match="no statistics row"):
        parse_stat_file(stat)


def test_every_flow_ships_its_scenarios() -> None:
    for flow in FLOWS.values():
        assert flow.uac_scenario.is_file() and flow.uas_scenario.is_file()


def test_csv_is_written_atomically(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "r.csv"
    write_csv_atomic(pd.DataFrame({"flow": ["basic-call"], "cpu_seconds": [1.5]}), out)
    assert pd.read_csv(out).to_dict("records") == [{"flow": "basic-call", "cpu_seconds": 1.5}]
    assert [p.name for p in out.parent.iterdir()] == ["r.csv"]


def test_process_tree_cpu_grows_with_work() -> None:
    tree = ProcessTree(os.getpid())
    before = tree.cpu_seconds()
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    assert tree.cpu_seconds() - before >= 0.04
    assert tree.rss_bytes() > 0


def test_unreachable_target_is_reported() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(MeasureError, match=rf"target udp:127.0.0.1:{port} unreachable"):
        probe_target(parse_address(f"udp:127.0.0.1:{port}"), timeout=1.0)


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    add_measure_commands(app)
    return app


def test_cli_bad_rates_is_one_line_and_status_2(cli: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["measure", "--target", "udp:127.0.0.1:5070", "--pid",
                                      str(os.getpid()), "--rates", "10,,20", "--out", str(tmp_path / "r.csv")])
    assert result.exit_code == 2
    assert "--rates: item 2 ('') is not a number" in result.output


def test_cli_missing_sipp_is_one_line_and_status_2(cli: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["measure", "--target", "udp:127.0.0.1:5070", "--pid",
                                      str(os.getpid()), "--sipp", "no-such-sipp", "--out",
                                      str(tmp_path / "r.csv")])
    assert result.exit_code == 2
    assert "SIPp not found (no-such-sipp is not on PATH)" in result.output


def _config(tmp_path: Path, target: str, **kwargs) -> MeasureConfig:
    return MeasureConfig(target=parse_address(target), pid=os.getpid(), rates=(10.0,), duration_s=1.0,
                         flow=FLOWS["basic-call"], out=tmp_path / "r.csv", sipp="sipp", **kwargs)


def test_tls_targets_default_to_the_load_driver(tmp_path: Path) -> None:
    assert _config(tmp_path, "tls:127.0.0.1:5061").driver == "load"
    assert _config(tmp_path, "udp:127.0.0.1:5060").driver == "sipp"
    with pytest.raises(ValueError, match="SIPp drives udp or tcp here, not tls"):
        _config(tmp_path, "tls:127.0.0.1:5061", driver="sipp")


def test_interleaved_repeats_run_in_rounds_over_every_rate(tmp_path: Path) -> None:
    from dataclasses import replace

    from sizing.measure.runner import steps

    config = replace(_config(tmp_path, "udp:127.0.0.1:5060", repeat=2), rates=(50.0, 100.0))
    assert steps(config) == [(50.0, 1), (50.0, 2), (100.0, 1), (100.0, 2)]
    rounds = replace(config, interleave=True)
    assert steps(rounds) == [(50.0, 1), (100.0, 1), (50.0, 2), (100.0, 2)]


def test_load_driver_refuses_flows_it_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--flow: the load driver runs basic-call, register or options"):
        MeasureConfig(target=parse_address("udp:127.0.0.1:5060"), pid=os.getpid(), rates=(10.0,),
                      duration_s=1.0, flow=FLOWS["hold"], out=tmp_path / "r.csv", sipp=None, driver="load")


# -- the SIPp runner, with a stand-in executable ----------------------------------------------


def _fake_sipp(tmp_path: Path, body: str) -> str:
    """An executable that takes SIPp's command line and runs ``body`` (Python; ``args`` bound)."""
    script = tmp_path / "fake-sipp"
    script.write_text(f"#!{sys.executable}\nimport signal, socket, sys, time\nargs = sys.argv[1:]\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_sipp_command_line_has_the_flags_asked_and_no_others(tmp_path: Path) -> None:
    command = SippCommand("sipp", tmp_path / "uac.xml", remote="10.0.0.2:5090", local_port=5061,
                          transport="TCP", calls=30, rate=12.5, route_to="10.0.0.1:5060", timeout_s=31.6,
                          timeout_error=True, stat_file=tmp_path / "s.csv", stat_period_s=3600)
    assert command.args() == [
        "sipp", "-sf", str(tmp_path / "uac.xml"), "10.0.0.2:5090", "-i", "127.0.0.1", "-p", "5061",
        "-m", "30", "-r", "12.5", "-rsa", "10.0.0.1:5060", "-t", "t1", "-timeout", "32", "-nostdin",
        "-timeout_error", "-trace_stat", "-stf", str(tmp_path / "s.csv"), "-fd", "3600",
    ]
    assert SippCommand("sipp", "uas", local_ip=None).args() == ["sipp", "-sn", "uas", "-nostdin"]


def test_sipp_command_refuses_a_transport_sipp_cannot_run() -> None:
    with pytest.raises(ValueError, match="SippCommand.transport: SIPp runs UDP or TCP here, not 'TLS'"):
        SippCommand("sipp", "uac", transport="TLS")


def test_sipp_that_exits_before_ready_is_reported_with_its_last_words(tmp_path: Path) -> None:
    fake = _fake_sipp(tmp_path, "print('starting', file=sys.stderr)\n"
                                "print('Unable to bind main socket, errno = 98', file=sys.stderr)\nsys.exit(254)")
    with Sipp.start(SippCommand(fake, "uas", local_port=5999), tmp_path, what="SIPp uas") as uas, \
            pytest.raises(SippError, match="SIPp uas exited at once: Unable to bind main socket, errno = 98"):
        uas.wait_ready(timeout_s=5)
    assert uas.failure() == "SIPp uas failed (exit 254): Unable to bind main socket, errno = 98"


def test_sipp_is_ready_once_its_port_is_bound(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = _fake_sipp(tmp_path, "time.sleep(0.3)\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                                "s.bind(('127.0.0.1', int(args[args.index('-p') + 1])))\ntime.sleep(30)")
    with Sipp.start(SippCommand(fake, "uas", local_port=port), tmp_path) as uas:
        started = time.monotonic()
        uas.wait_ready(timeout_s=10)
        assert time.monotonic() - started > 0.2 and uas.running  # waited for the bind


def test_sipp_is_stopped_politely_with_sigusr1_before_any_kill(tmp_path: Path) -> None:
    fake = _fake_sipp(tmp_path, "signal.signal(signal.SIGUSR1, lambda *_: sys.exit(3))\n"
                                "open('handler-set', 'w').close()\ntime.sleep(30)")
    uas = Sipp.start(SippCommand(fake, "uas"), tmp_path)
    deadline = time.monotonic() + 10
    while not (tmp_path / "handler-set").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert uas.finish(0.1, grace_s=5) is None  # still running: stopped
    assert uas.returncode == 3


def test_missing_sipp_executable_is_a_sipp_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SippError, match=r"SIPp uac: cannot run /no/such/sipp: No such file"):
        Sipp.start(SippCommand("/no/such/sipp", "uac"), tmp_path, what="SIPp uac")
