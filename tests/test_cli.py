"""The `sizing` command line: answers on stdout, bad input as one line and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_inspect_lists_every_message_of_the_example_call(capsys) -> None:
    example = Path(__file__).parents[1] / "data" / "examples" / "basic-call.sip"
    assert main(["inspect", str(example)]) == 0
    out = capsys.readouterr().out
    assert "7 messages, 2,964 bytes of SIP" in out
    for kind in ("INVITE", "100 Trying", "180 Ringing", "ACK", "BYE"):
        assert kind in out


def test_inspect_names_the_message_and_offset_of_a_parse_error(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.sip"
    bad.write_bytes(
        b"OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        b"From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: x\r\n"
        b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        b"BYE sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\n"
        b"From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>;tag=2\r\nCall-ID: x\r\n"
        b"CSeq: two BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    assert main(["inspect", str(bad)]) == 2
    err = capsys.readouterr().err
    second = bad.read_bytes().index(b"BYE sip:")
    assert f"{bad}: message 2 at byte {second}:" in err
    assert "CSeq" in err


def test_inspect_refuses_a_truncated_file(tmp_path, capsys) -> None:
    example = Path(__file__).parents[1] / "data" / "examples" / "basic-call.sip"
    cut = tmp_path / "cut.sip"
    cut.write_bytes(example.read_bytes()[:1500])
    assert main(["inspect", str(cut)]) == 2
    assert "incomplete SIP message" in capsys.readouterr().err
