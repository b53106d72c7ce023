"""The SIP engine is sans-IO: it must not import sockets, event loops, clocks or SimPy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).parents[1] / "sizing" / "sip"
FORBIDDEN = {"socket", "asyncio", "simpy", "threading", "selectors", "ssl", "time", "multiprocessing"}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_engine_modules_import_no_io_or_clock() -> None:
    offenders = {
        str(path.relative_to(ENGINE)): sorted(_imported_roots(path) & FORBIDDEN)
        for path in ENGINE.rglob("*.py")
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_importing_engine_loads_no_event_loop_or_simulator() -> None:
    code = (
        "import sys, sizing.sip; "
        "print(sorted(m for m in ('asyncio', 'simpy', 'socket', 'ssl') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
