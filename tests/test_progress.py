"""Progress of the long commands: a bar on stderr when stderr is a terminal, nothing
through a pipe or with --quiet; stdout carries only the answer either way."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
MINIMAL = str(ROOT / "data" / "examples" / "minimal.yaml")
SHORT = ["--set", "duration_s=4", "--set", "warmup_s=1", "--set", "replications=1",
         "--set", "traffic.calls_per_second=1"]
HANG_GUARD_S = 300  # only against a hang: the runs take a few seconds


def _sizing(args: list[str], *, terminal: bool) -> tuple[int, str, str]:
    """Run `sizing ARGS` with stderr on a pseudo-terminal (or a pipe); (status, stdout, stderr)."""
    command = [sys.executable, "-m", "sizing.cli", *args]
    env = {**os.environ, "COLUMNS": "100"}
    if not terminal:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=HANG_GUARD_S,
                              cwd=ROOT, env=env)
        return proc.returncode, proc.stdout, proc.stderr
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal's size
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
                                cwd=ROOT, env=env)
    finally:
        os.close(slave)
    chunks = []
    try:
        while True:  # drain the terminal while the command runs; EIO once it has exited
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    out = proc.stdout.read().decode() if proc.stdout else ""
    status = proc.wait(timeout=HANG_GUARD_S)
    return status, out, b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("args, shown", [
    (["run", MINIMAL, *SHORT], "simulating"),
    (["plan", MINIMAL, *SHORT], "plan: candidate 1"),
])
def test_progress_is_shown_on_a_terminal(args: list[str], shown: str) -> None:
    status, out, err = _sizing(args, terminal=True)
    assert status == 0, err
    assert shown in err and "sim s" in err
    assert "sim s" not in out


@pytest.mark.parametrize("args", [["run", MINIMAL, *SHORT], ["plan", MINIMAL, *SHORT]])
def test_no_progress_through_a_pipe(args: list[str]) -> None:
    status, out, err = _sizing(args, terminal=False)
    assert status == 0, err
    assert "sim s" not in err and "candidate" not in err


@pytest.mark.parametrize("args", [["run", MINIMAL, *SHORT, "--quiet"],
                                  ["plan", MINIMAL, *SHORT, "--quiet"]])
def test_quiet_silences_progress_on_a_terminal(args: list[str]) -> None:
    status, out, err = _sizing(args, terminal=True)
    assert status == 0, err
    assert "sim s" not in err and "candidate" not in err


def test_batch_shows_sites_on_a_terminal_and_quiet_silences_them(tmp_path: Path) -> None:
    sites = tmp_path / "sites.csv"
    sites.write_text("site,traffic.calls_per_second,traffic.holding_time_s,trunk.channels\n"
                     "a,1,60,20\nb,2,60,30\n")
    base = ["batch", str(sites), "--no-simulate", "--workers", "1"]
    status, _, err = _sizing([*base, "--out", str(tmp_path / "o1")], terminal=True)
    assert status == 0, err
    assert "sites:" in err and "/2 [" in err
    status, _, err = _sizing([*base, "--out", str(tmp_path / "o2"), "--quiet"], terminal=True)
    assert status == 0, err
    assert "sites:" not in err
    status, _, err = _sizing([*base, "--out", str(tmp_path / "o3")], terminal=False)
    assert status == 0, err
    assert "sites:" not in err


def test_plan_tells_each_candidate_before_simulating_it() -> None:
    from sizing.plan import plan
    from sizing.scenario import apply_overrides, load_scenario

    scenario = apply_overrides(load_scenario(MINIMAL), [s for s in SHORT if s != "--set"])
    told: list[tuple[int, int, dict, int]] = []
    seconds: list[tuple[float, float]] = []
    result = plan(scenario, max_rounds=2, progress=lambda done, total: seconds.append((done, total)),
                  on_candidate=lambda n, most, hosts, channels: told.append((n, most, dict(hosts), channels)))
    assert [n for n, *_ in told] == list(range(1, len(result.candidates) + 1))
    assert all(most == 2 for _, most, _, _ in told)
    assert told[0][2] == {r: h for r, h in zip(result.closed.roles["role"], result.closed.roles["hosts"],
                                                strict=True)}
    assert seconds and seconds[-1][0] == seconds[-1][1] == 5.0
