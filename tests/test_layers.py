"""Which part of ``sizing`` may import which: the layering of docs/architecture.md, checked.

Every module under ``sizing/`` belongs to one component (``COMPONENTS``);
a component imports only itself and the components ``MAY_IMPORT`` lists
for it. Every import counts: at module level, inside a function, and
under ``if TYPE_CHECKING:``. The imports that break the layering today
are listed one by one in ``KNOWN_EXCEPTIONS`` with the reason, so that
any new one fails here, and an entry that no longer matches an import
fails too (delete it when the import goes). docs/architecture.md shows
the same table, and a test holds the two together.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "sizing"
DOC = ROOT / "docs" / "architecture.md"

COMPONENTS: dict[str, tuple[str, ...]] = {
    # component: module prefixes (a prefix matches itself and every module below it; the
    # longest matching prefix wins, so a command module inside a package is a command)
    "util": ("sizing.safe_yaml", "sizing.files", "sizing.progress"),
    "sip": ("sizing.sip",),
    "models": ("sizing.models",),
    "flows": ("sizing.flows",),
    "scenario": ("sizing.scenario",),
    "sim": ("sizing.sim",),
    "net": ("sizing.net",),
    "measure": ("sizing.measure",),
    "plan": ("sizing.plan",),
    "report": ("sizing.report",),
    "batch": ("sizing.plan.batch",),
    "commands": ("sizing.cli.common", "sizing.cli.plan", "sizing.cli.measure", "sizing.cli.load",
                 "sizing.cli.simulate", "sizing.cli.serve"),
    "cli": ("sizing.cli",),
    "app": ("sizing.app",),
    "api": ("sizing",),
}

MAY_IMPORT: dict[str, frozenset[str]] = {
    # component: the other components it may import (never one above it)
    "util": frozenset(),
    "sip": frozenset(),  # the sans-IO engine: nothing of the product (tests/test_engine_purity.py)
    "models": frozenset({"util", "sip"}),
    "flows": frozenset({"util", "sip", "models"}),
    "scenario": frozenset({"util", "models", "flows"}),  # validates its call mix against the flow registry
    "sim": frozenset({"util", "sip", "models", "flows", "scenario"}),
    "net": frozenset({"util", "sip", "models"}),
    "measure": frozenset({"util", "sip", "models", "scenario", "sim", "net"}),
    "plan": frozenset({"util", "sip", "models", "flows", "scenario", "sim"}),
    "report": frozenset({"util", "models", "scenario", "sim", "plan"}),
    "batch": frozenset({"util", "models", "scenario", "plan", "report"}),
    "commands": frozenset({"util", "sip", "models", "flows", "scenario", "sim", "net", "measure", "plan",
                           "report", "batch"}),
    "cli": frozenset({"util", "sip", "models", "flows", "scenario", "sim", "net", "measure", "plan",
                      "report", "batch", "commands"}),
    "app": frozenset({"util", "sip", "models", "flows", "scenario", "sim", "measure", "plan", "report",
                      "batch"}),
    "api": frozenset({"scenario", "sim", "plan", "report"}),
}

KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {
    # (importing module prefix, imported module prefix): why it is there. Each breaks the
    # layering above; none may be added without a reason, and each goes when it is fixed.
    ("sizing.flows", "sizing.scenario"):
        "type hints only (TYPE_CHECKING): a flow's timings read the Scenario it is given",
    ("sizing.flows", "sizing.sim.flows.driver"):
        "type hints only (TYPE_CHECKING): each flow's driver code is typed by the CallCentre running it",
    ("sizing.models.cti", "sizing.scenario"):
        "type hints only (TYPE_CHECKING): the CTI model is built from the scenario's cti block",
    ("sizing.sim.result", "sizing.report.numbers"):
        "Result.table() formats numbers by the reports' rules (imported on use)",
    ("sizing.plan.model", "sizing.report.html"):
        "Plan._repr_html_ renders a plan in Jupyter with the HTML report (imported on use): plan <-> report",
}

PRIVATE_EXCEPTIONS: dict[tuple[str, str, str], str] = {
    # (importing module, imported module, private name): why another component uses it
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> list[tuple[str, tuple[str, ...], int]]:
    """``(imported module, names taken from it, line)`` for every import of a sizing module."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, tuple[str, ...], int]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, (), node.lineno) for alias in node.names if alias.name.split(".")[0] == "sizing"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "sizing":
                continue
            names: list[str] = []
            for alias in node.names:
                if _is_module(f"{target}.{alias.name}"):  # `from sizing import flows`: a module
                    found.append((f"{target}.{alias.name}", (), node.lineno))
                else:
                    names.append(alias.name)
            if names:
                found.append((target, tuple(names), node.lineno))
    return found


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".") and prefix != "sizing"


def component_of(module: str) -> str | None:
    best = max(((len(p), name) for name, prefixes in COMPONENTS.items() for p in prefixes if _matches(module, p)),
               default=None)
    return best[1] if best else None


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@cache
def _edges() -> list[tuple[str, str, tuple[str, ...], int]]:
    return [(_module_name(path), target, names, line) for path in _modules() for target, names, line in _imports(path)]


def _exception_for(src: str, dst: str) -> tuple[str, str] | None:
    for key in KNOWN_EXCEPTIONS:
        if _matches(src, key[0]) and _matches(dst, key[1]):
            return key
    return None


def test_every_module_belongs_to_a_component() -> None:
    orphans = [_module_name(p) for p in _modules() if component_of(_module_name(p)) is None]
    assert orphans == [], "add these modules to COMPONENTS in tests/test_layers.py and docs/architecture.md"


def test_the_allowed_imports_form_layers() -> None:
    assert set(MAY_IMPORT) == set(COMPONENTS)
    for name, allowed in MAY_IMPORT.items():
        assert allowed <= set(COMPONENTS) - {name}, name
    try:
        order = list(TopologicalSorter(MAY_IMPORT).static_order())
    except CycleError as error:  # pragma: no cover - a table edit gone wrong
        raise AssertionError(f"MAY_IMPORT has a cycle: {error.args[1]}") from None
    assert order[-1] in {"api", "cli", "app"}


def _crossings() -> list[tuple[str, str, int]]:
    """``(importer, imported, line)`` of every import the table does not allow."""
    crossings = []
    for src, dst, _names, line in _edges():
        here, there = component_of(src), component_of(dst)
        if here is not None and there is not None and here != there and there not in MAY_IMPORT[here]:
            crossings.append((src, dst, line))
    return crossings


def test_no_import_crosses_the_layers_beyond_the_known_exceptions() -> None:
    violations = [f"{src}:{line} imports {dst} ({component_of(src)} may not import {component_of(dst)})"
                  for src, dst, line in _crossings() if _exception_for(src, dst) is None]
    assert violations == [], "\n".join(violations)


def test_every_known_exception_still_happens() -> None:
    stale = set(KNOWN_EXCEPTIONS) - {_exception_for(src, dst) for src, dst, _line in _crossings()}
    assert stale == set(), "these imports are gone: delete them from KNOWN_EXCEPTIONS (and the doc)"


def test_private_names_stay_in_their_component() -> None:
    crossing = set()
    for src, dst, names, line in _edges():
        if component_of(src) == component_of(dst):
            continue
        for name in names:
            if name.startswith("_") and not name.startswith("__"):
                crossing.add((src, dst, name))
                assert (src, dst, name) in PRIVATE_EXCEPTIONS, f"{src}:{line} imports private {dst}.{name}"
    assert crossing == set(PRIVATE_EXCEPTIONS), "delete the private imports that are gone from PRIVATE_EXCEPTIONS"


def _doc_table() -> dict[str, tuple[set[str], set[str]]]:
    """The doc's layer table: component -> (its module prefixes, the components it may import)."""
    rows: dict[str, tuple[set[str], set[str]]] = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) != 3 or not re.fullmatch(r"`[a-z]+`", cells[0]):
            continue
        modules = {m.replace("/", ".").removesuffix(".py").removesuffix(".__init__").rstrip(".")
                   for m in re.findall(r"`([^`]+)`", cells[1])}
        allowed = set(re.findall(r"`([a-z]+)`", cells[2]))
        rows[cells[0].strip("`")] = (modules, allowed)
    return rows


def test_the_architecture_doc_shows_the_same_table() -> None:
    doc = _doc_table()
    assert set(doc) == set(COMPONENTS)
    for name, prefixes in COMPONENTS.items():
        modules, allowed = doc[name]
        assert modules == set(prefixes), name
        assert allowed == set(MAY_IMPORT[name]), name


def test_the_doc_lists_every_known_exception() -> None:
    text = DOC.read_text()
    missing = [f"{src} -> {dst}" for src, dst in KNOWN_EXCEPTIONS if f"`{src}` -> `{dst}`" not in text]
    assert missing == []
