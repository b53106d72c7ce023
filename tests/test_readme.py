"""Every `sizing` command in the README's ```bash blocks runs as written and exits 0.

What the test changes, so that the whole README runs in well under a minute:

- commands that simulate (`run`, `plan` without `--no-simulate`) get
  ``--set duration_s=4 --set warmup_s=1 --set replications=1 --set
  simulation.start=empty`` in place of the README's own windows (an empty start:
  the steady start's thousands of calls in progress would dominate a 4 s run);
  `batch` runs on a copy of the sites CSV with those columns set the same;
- `measure` runs steps of 1 s once each (``--duration 1 --repeat 1``);
- `sizing serve` runs until it prints its "listening on" line and is then
  stopped (a background one, ``&``, when its block is done; ``$!`` is its pid);
- fixed ports become free ones (the same port everywhere it appears), and the
  placeholder ``--scheduler tcp://...`` is dropped (a local run instead);
- everything runs in a temporary copy of ``data/`` and ``models/``, where the
  outputs go.
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import require_tool

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
HANG_GUARD_S = 600  # only against a hang: each command takes seconds
SHORT = {"duration_s": "4", "warmup_s": "1", "replications": "1", "simulation.start": "empty"}


def readme_blocks() -> list[list[str]]:
    """The `sizing` command lines of each ```bash block, continuations joined."""
    blocks = []
    for body in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        lines, current = [], ""
        for line in body.splitlines():
            current += line.rstrip()
            if current.endswith("\\"):
                current = current[:-1] + " "
                continue
            if current.startswith(("sizing ", ".venv/bin/sizing ")):
                lines.append(current)
            current = ""
        if lines:
            blocks.append(lines)
    return blocks


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Shortened:
    """Turns a README command line into the argv this test runs (see the module doc)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ports: dict[str, str] = {}

    def port(self, match: re.Match[str]) -> str:
        if match.group(2) not in self.ports:
            self.ports[match.group(2)] = str(_free_port())
        return f"{match.group(1)}:{self.ports[match.group(2)]}"

    def argv(self, line: str, background_pid: int | None) -> tuple[list[str], bool]:
        words = shlex.split(line, comments=True)
        background = words[-1] == "&"
        words = words[:-1] if background else words
        words = [re.sub(r"(127\.0\.0\.1):(\d+)", self.port, w) for w in words]
        words = [str(background_pid) if w == "$!" else w for w in words]
        command, args = words[1], words[2:]
        if command in ("run", "plan") and "--no-simulate" not in args:
            args = self._drop_sets(args) + [x for k, v in SHORT.items() for x in ("--set", f"{k}={v}")]
        if command == "batch":
            args = self._drop_option(args, "--scheduler")
            if "--no-simulate" not in args:
                args[0] = str(self._short_sites(Path(args[0])))
        if command == "measure":
            args = self._set_option(self._set_option(args, "--duration", "1"), "--repeat", "1")
        return [sys.executable, "-m", "sizing.cli", command, *args], background

    @staticmethod
    def _drop_sets(args: list[str]) -> list[str]:
        out, skip = [], False
        for i, word in enumerate(args):
            if skip:
                skip = False
                continue
            if word == "--set" and args[i + 1].split("=", 1)[0] in SHORT:
                skip = True
                continue
            out.append(word)
        return out

    @staticmethod
    def _drop_option(args: list[str], option: str) -> list[str]:
        if option in args:
            i = args.index(option)
            return args[:i] + args[i + 2:]
        return args

    @staticmethod
    def _set_option(args: list[str], option: str, value: str) -> list[str]:
        args = list(args)
        if option in args:
            args[args.index(option) + 1] = value
        return args

    def _short_sites(self, sites: Path) -> Path:
        with (self.workdir / sites).open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        columns = list(rows[0]) + [k for k in SHORT if k not in rows[0]]
        short = sites.with_name(f"short-{sites.name}")
        with (self.workdir / short).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, **SHORT})
        return short


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch copy of what the README's commands read; their outputs land here too."""
    work = tmp_path_factory.mktemp("readme")
    for name in ("data", "models"):
        shutil.copytree(ROOT / name, work / name)
    return work


def _wait_listening(proc: subprocess.Popen, line: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while time.monotonic() < deadline:
        said = proc.stdout.readline()
        if "listening on" in said:
            return
        if not said and proc.poll() is not None:
            pytest.fail(f"{line}\nexited {proc.returncode} before listening: {proc.stderr.read()}")
    pytest.fail(f"{line}\nnot listening after {HANG_GUARD_S} s")


def test_the_readme_has_the_examples_this_test_runs() -> None:
    commands = [line.split()[1] for block in readme_blocks() for line in block]
    for command in ("run", "plan", "batch", "bandwidth", "trunks", "serve", "measure", "calibrate"):
        assert command in commands


@pytest.mark.parametrize("block", readme_blocks(), ids=lambda b: b[0].split("#")[0].strip()[:60])
def test_readme_commands_run(block: list[str], workdir: Path) -> None:
    if any(line.split()[1] == "measure" for line in block):
        require_tool("sipp")
    shorten = Shortened(workdir)
    env = {**os.environ, "COLUMNS": "100"}
    background: list[subprocess.Popen] = []
    try:
        for line in block:
            argv, in_background = shorten.argv(line, background[-1].pid if background else None)
            if argv[3] == "serve":
                proc = subprocess.Popen(argv, cwd=workdir, env=env, text=True, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                try:
                    _wait_listening(proc, line)
                finally:
                    if not in_background:
                        proc.terminate()
                        proc.wait(timeout=HANG_GUARD_S)
                if in_background:
                    background.append(proc)
                continue
            done = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True,
                                  timeout=HANG_GUARD_S, stdin=subprocess.DEVNULL)
            assert done.returncode == 0, f"{line}\nran as {shlex.join(argv[3:])}\n{done.stderr[-3000:]}"
    finally:
        for proc in background:
            proc.terminate()
            proc.wait(timeout=HANG_GUARD_S)
