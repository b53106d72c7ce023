"""The `sizing` command line: answers on stdout, bad input as one line and exit status 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sizing.cli.main import main


def test_bandwidth_prints_cisco_ethernet_figure(capsys) -> None:
    assert main(["bandwidth", "G729", "--ptime", "20"]) == 0
    out = capsys.readouterr().out
    assert "31.20" in out  # Cisco doc 7934: G.729, 20 ms, Ethernet


def test_bandwidth_prints_each_direction_with_its_own_srtp_suite(capsys) -> None:
    assert main(["bandwidth", "PCMU", "--srtp", "AES_CM_128_HMAC_SHA1_80",
                 "--srtp-reverse", "AES_CM_128_HMAC_SHA1_32"]) == 0
    out = capsys.readouterr().out
    # 50 packets/s each way: 6 B of tag less per packet the reverse way, 2.4 kbit/s
    assert "forward (AES_CM_128_HMAC_SHA1_80): 91.43 kbps" in out
    assert "reverse (AES_CM_128_HMAC_SHA1_32): 89.03 kbps" in out
    assert main(["bandwidth", "PCMU", "--srtp-reverse", "AES_CM_128_HMAC_SHA1_32"]) == 2
    assert "--srtp-reverse needs --srtp" in capsys.readouterr().err


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


# --- hostile input: every bad input is one line and exit status 2, nothing half-written ---

EXAMPLE = Path(__file__).parents[1] / "data" / "examples" / "minimal.yaml"


def _out_cases(tmp_path: Path) -> dict[str, list[str]]:
    sites = tmp_path / "sites.csv"
    sites.write_text("site,traffic.calls_per_second\na,1\n")
    return {
        "run": ["run", str(EXAMPLE), "--quiet", "--format", "csv", "--set", "duration_s=1",
                "--set", "warmup_s=0", "--out"],
        "plan": ["plan", str(EXAMPLE), "--no-simulate", "--out"],
        "batch": ["batch", str(sites), "--base", str(EXAMPLE), "--no-simulate",
                  "--no-progress", "--workers", "1", "--out"],
    }


@pytest.mark.parametrize("command", ["run", "plan", "batch"])
@pytest.mark.parametrize("where", ["existing file", "under a file"])
def test_out_naming_a_file_is_an_error_before_any_work(tmp_path, capsys, command, where):
    existing = tmp_path / "report.txt"
    existing.write_text("keep me\n")
    out = existing if where == "existing file" else existing / "sub"
    assert main([*_out_cases(tmp_path)[command], str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sizing: error: --out {out}: ")
    assert "not a directory" in err and "Traceback" not in err
    assert existing.read_text() == "keep me\n"


@pytest.mark.parametrize("erlangs", ["1e6", "1e9", "1e10"])
def test_trunks_answers_for_huge_traffic(capsys, erlangs):
    assert main(["trunks", "--erlangs", erlangs]) == 0
    out = capsys.readouterr().out
    blocking = float(out.split("blocking (Erlang B)")[1].split("%")[0])
    assert 0.98 < blocking <= 1.0


@pytest.mark.parametrize(("args", "message"), [
    (["--erlangs", "1e11"], "--erlangs: 1e+11 erlangs; at most 1e+10"),
    (["--calls-per-hour", "1e15"], "--calls-per-hour x --holding: "),
    (["--erlangs", "5", "--channels", "100000000000"], "--channels: 100,000,000,000; at most"),
    (["--erlangs", "nan"], "traffic: must be finite"),
])
def test_trunks_refuses_absurd_figures_naming_the_option(capsys, args, message):
    assert main(["trunks", *args]) == 2
    assert message in capsys.readouterr().err


def test_trunks_and_closed_form_at_the_extremes_do_not_hang():
    """Hang guards, not speed tests: these looped once per erlang (> 20 s, or forever);
    each takes well under a second now.  benchmarks/closed_form.py prints the times."""
    proc = subprocess.run([sys.executable, "-m", "sizing.cli", "trunks", "--erlangs", "1e10"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "sizing.cli", "plan", str(EXAMPLE),
                           "--no-simulate", "--set", "traffic.calls_per_second=10000",
                           "--set", "traffic.holding_time_s=450",
                           "--set", "trunk.channels=5000000",
                           "--set", "topology.proxy.cores=1024",
                           "--set", "topology.sbc.cores=1024",
                           "--set", "topology.sip_server.cores=1024",
                           "--set", "topology.media_server.cores=1024"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "4,455,099 trunk channels" in proc.stdout


@pytest.mark.parametrize(("overrides", "message"), [
    (["traffic.holding_time_s=3600"], "trunk: 35,640,099 channels needed for 36,000,000 "
                                      "erlangs, more than the 5,000,000 a trunk may have"),
    (["traffic.holding_time_s=450", "topology.sbc.cores=1", "topology.sbc.cores_options=[]",
      "trunk.transport=tls", "trunk.srtp=AES_CM_128_HMAC_SHA1_80", "targets.cpu_p95_max=0.15"],
     r"topology\.sbc: 1[0-9],[0-9]{3} hosts of 1 cores needed, more than the 10,000 a pool "
     r"may have"),
])
def test_a_plan_beyond_what_a_scenario_may_hold_is_refused_before_writing(
        tmp_path, capsys, overrides, message):
    out = tmp_path / "out"
    args = ["plan", str(EXAMPLE), "--no-simulate", "--out", str(out),
            "--set", "traffic.calls_per_second=10000"]
    for o in overrides:
        args += ["--set", o]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err or re.search(message, err), err  # the host count moves with the SBC's profile
    assert not out.exists()


def test_plan_no_simulate_refuses_a_rate_beyond_the_schema(capsys):
    assert main(["plan", str(EXAMPLE), "--no-simulate", "--set",
                 "traffic.calls_per_second=1e9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sizing: error: --set: traffic.calls_per_second: Input should be "
                          "less than or equal to 10000")


@pytest.mark.parametrize("command", [["run", "--quiet"], ["plan", "--no-simulate"]])
def test_a_profile_path_to_a_non_profile_is_exit_2(tmp_path, capsys, command):
    fake = tmp_path / "fake.yaml"
    fake.write_text("just: text\n")
    assert main([command[0], str(EXAMPLE), *command[1:], "--set",
                 f"topology.proxy.profile={fake}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sizing: error: --set: topology.proxy.profile: {fake}: ")
    assert "Traceback" not in err


# --- one way to show numbers, one way to report errors ---


def test_run_table_shows_cpu_in_percent_and_counts_without_decimals(capsys):
    assert main(["run", str(EXAMPLE), "--quiet", "--set", "duration_s=20",
                 "--set", "warmup_s=5"]) == 0
    out = capsys.readouterr().out
    offered = next(line for line in out.splitlines() if line.strip().startswith("calls_offered"))
    assert offered.split()[1].replace(",", "").isdigit()  # "2,487", never "2487.00"
    hosts = out.split("\nHosts\n")[1].split("\n\nLinks\n")[0].splitlines()
    sbc = next(line for line in hosts if line.split()[0].startswith("sbc-"))
    shares = re.findall(r"\b(\d+\.\d) %", sbc)  # cpu_mean, cpu_p95, cpu_p99: "7.9 %"; tls_cpu_share
    cpu = shares[:3]
    assert len(shares) == 4 and all(float(c) > 0.1 for c in cpu)  # not fractions of one
    assert " kbps" in out or " Mbps" in out


@pytest.mark.parametrize("args", [
    ["--set", "traffic.calls_per_second=-1", "--set", "duration_s=0"],  # two problems
    ["--format", "xml"],
])
def test_every_line_of_a_run_error_starts_with_the_prefix(capsys, args):
    assert main(["run", str(EXAMPLE), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.strip() and all(line.startswith("sizing: error: ")
                               for line in err.strip().splitlines())


def test_a_run_error_from_the_simulator_keeps_the_prefix_on_every_line(capsys, monkeypatch):
    import sizing.sim.simulate as sim

    def refuse(*_args, **_kwargs):
        raise ValueError("two things are wrong:\nthe first\nthe second")

    monkeypatch.setattr(sim, "simulate", refuse)
    assert main(["run", str(EXAMPLE), "--quiet", "--set", "duration_s=1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3
    assert all(line.startswith(f"sizing: error: {EXAMPLE}: ") or
               line.startswith("sizing: error: the ") for line in lines)
