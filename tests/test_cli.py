"""The `sizing` command line: answers on stdout, bad input as one line and exit status 2."""

from __future__ import annotations

import subprocess
import sys

from sizing.cli import main


def test_bandwidth_prints_cisco_ethernet_figure(capsys) -> None:
    assert main(["bandwidth", "G729", "--ptime", "20"]) == 0
    out = capsys.readouterr().out
    assert "31.20" in out  # Cisco doc 7934: G.729, 20 ms, Ethernet


def test_bandwidth_unknown_codec_lists_choices(capsys) -> None:
    assert main(["bandwidth", "G7299"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sizing: error: unknown codec 'G7299'")
    assert "PCMU" in err


def test_trunks_sizes_for_grade_of_service(capsys) -> None:
    assert main(["trunks", "--erlangs", "4.46", "--blocking", "0.01"]) == 0
    assert "channels             10" in capsys.readouterr().out


def test_trunks_needs_exactly_one_traffic_figure(capsys) -> None:
    assert main(["trunks"]) == 2
    assert "exactly one of --erlangs or --calls-per-hour" in capsys.readouterr().err


def test_console_script_reports_usage_errors_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sizing.cli", "bandwidth", "PCMU", "--ptime", "7"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "valid ptimes (ms): 10, 20, 30, 40, 50, 60" in proc.stderr
