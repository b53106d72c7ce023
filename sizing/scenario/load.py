"""Loading scenarios from YAML, CSV rows and ``--set`` overrides, with precise errors.

Every entry point validates the whole scenario and reports every problem at once
in a :class:`ScenarioError`, one line per problem: ``FILE: field.path: message``
for YAML and mappings, ``FILE:ROW:COLUMN: message`` for CSV cells (ROW is the
1-based line number in the file).  CSV columns and override keys use the dotted
vocabulary of the model (``traffic.calls_per_second``, ``topology.proxy.cores``,
``links.overrides.sbc->proxy.latency_ms``); a cell or override value is converted
by the type of the field it names.
"""

from __future__ import annotations

import copy
import csv
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sizing.safe_yaml import YamlInputError, load_yaml, read_yaml_file
from sizing.scenario.model import CrossFieldError, Scenario

__all__ = [
    "CsvRow",
    "Problem",
    "ScenarioError",
    "apply_overrides",
    "dump_yaml",
    "flatten",
    "iter_csv_scenarios",
    "load_scenario",
    "parse_yaml_text",
    "scenario_from_mapping",
    "scenarios_from_csv",
    "vocabulary",
]

ID_COLUMNS = ("site", "name")
BASE_COLUMN = "base"
#: Setting one of these clears the other (they are alternatives).
ALTERNATIVES = {
    "traffic.calls_per_second": "traffic.busy_hour_calls",
    "traffic.busy_hour_calls": "traffic.calls_per_second",
}
#: Fields holding file names, resolved against the file that names them.
PATH_FIELDS = ("traffic.arrivals.csv", "traffic.holding.csv")
_NULLS = ("none", "null", "~")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario input."""

    where: str
    """``FILE``, ``FILE:ROW:COLUMN`` or ``--set KEY``."""
    path: str
    """Dotted field path ("" when the problem is not about one field)."""
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.path}: {self.message}" if self.path else \
            f"{self.where}: {self.message}"


class ScenarioError(ValueError):
    """Invalid scenario input; ``problems`` lists them all, ``str()`` one per line."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# ---------------------------------------------------------------------------
# The dotted vocabulary
# ---------------------------------------------------------------------------


def _unwrap(ann: Any) -> tuple[Any, bool]:
    """(annotation without None, whether None is allowed)."""
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        return (args[0] if len(args) == 1 else ann), len(args) < len(typing.get_args(ann))
    return ann, False


def _is_model(ann: Any) -> bool:
    return isinstance(ann, type) and issubclass(ann, BaseModel)


def _resolve_path(path: str) -> tuple[Any, bool]:
    """The annotation of the field a dotted path names; ValueError when none does."""
    ann: Any = Scenario
    nullable = False
    parts = path.split(".")
    for i, part in enumerate(parts):
        where = ".".join(parts[:i]) or "the top level"
        if _is_model(ann):
            fields = ann.model_fields
            if part not in fields:
                raise ValueError(f"unknown key {part!r} in {where}; known: {', '.join(fields)}")
            ann, nullable = _unwrap(fields[part].annotation)
        elif typing.get_origin(ann) is dict:
            if not part:
                raise ValueError(f"empty key in {where}")
            ann, nullable = _unwrap(typing.get_args(ann)[1])
        else:
            raise ValueError(f"{where} is a value, it has no key {part!r}")
    return ann, nullable


def vocabulary() -> list[str]:
    """Every dotted field path (``<key>`` stands for a mapping key such as a link)."""
    out: list[str] = []

    def walk(ann: Any, prefix: str) -> None:
        ann, _ = _unwrap(ann)
        if _is_model(ann):
            for name, info in ann.model_fields.items():
                walk(info.annotation, f"{prefix}{name}.")
        elif typing.get_origin(ann) is dict:
            walk(typing.get_args(ann)[1], f"{prefix}<key>.")
        else:
            out.append(prefix[:-1])

    walk(Scenario, "")
    return out


def _convert(text: str, ann: Any, nullable: bool) -> Any:
    """A cell or override value for a field of type ``ann``: strings stay strings for
    text fields, YAML is parsed for numbers, booleans, lists and mappings (pydantic
    then validates the result)."""
    text = text.strip()
    if nullable and text.lower() in _NULLS:
        return None
    if ann is str or (typing.get_origin(ann) is typing.Literal
                      and all(isinstance(a, str) for a in typing.get_args(ann))):
        return text
    try:
        value = load_yaml(text, "value")
    except YamlInputError as exc:
        raise ValueError(f"cannot parse {_show(text)}: {exc.message}") from None
    return text if value is None else value


def _assign(mapping: dict[str, Any], assignments: Mapping[str, Any]) -> None:
    """Set dotted paths in a nested mapping, clearing alternatives and letting
    ``traffic.mix.basic`` become the remainder again when other shares change."""
    for path, value in assignments.items():
        other = ALTERNATIVES.get(path)
        if other and value is not None and other not in assignments:
            _set(mapping, other, None)
    if any(p.startswith("traffic.mix.") for p in assignments) \
            and "traffic.mix.basic" not in assignments:
        _set(mapping, "traffic.mix.basic", None)
    for path, value in assignments.items():
        _set(mapping, path, value)


def _set(mapping: dict[str, Any], path: str, value: Any) -> None:
    node = mapping
    parts = path.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def _get(mapping: Mapping[str, Any], path: str) -> Any:
    node: Any = mapping
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


# ---------------------------------------------------------------------------
# Validation and error formatting
# ---------------------------------------------------------------------------


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(dotted path, message) for every error of a validation."""
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        kind = err["type"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, CrossFieldError):
            for rel, msg in cause.problems:
                out.append((f"{loc}.{rel}" if loc else rel, msg))
        elif kind == "extra_forbidden":
            parent = loc.rpartition(".")[0]
            try:
                ann, _ = _resolve_path(parent) if parent else (Scenario, False)
                known = f"; known: {', '.join(ann.model_fields)}" if _is_model(ann) else ""
            except ValueError:
                known = ""
            out.append((loc, f"unknown key{known}"))
        elif kind == "missing":
            out.append((loc, "required"))
        else:
            msg = err["msg"].removeprefix("Value error, ")
            value = err.get("input")
            shown = "" if isinstance(value, dict) or _show(value) in msg \
                else f" (got {_show(value)})"
            out.append((loc, msg + shown))
    return out


def _validate(data: Mapping[str, Any], base_dir: Path | None) -> Scenario:
    return Scenario.model_validate(data, context={"base_dir": base_dir})


def scenario_from_mapping(data: Mapping[str, Any], source: str = "<mapping>",
                          base_dir: str | Path | None = None) -> Scenario:
    """Validate a mapping (e.g. parsed YAML or a form); files it names are relative
    to ``base_dir`` (default: the working directory)."""
    if not isinstance(data, Mapping):
        raise ScenarioError([Problem(source, "", f"a scenario must be a mapping, got "
                                                 f"{type(data).__name__}")])
    try:
        return _validate(data, Path(base_dir) if base_dir is not None else None)
    except ValidationError as exc:
        raise ScenarioError(Problem(source, p, m) for p, m in _problems(exc)) from None


def _read_yaml(path: Path, where: str) -> Any:
    """Parse a user's YAML file through :mod:`sizing.safe_yaml` (alias, depth, size,
    encoding and duplicate-key limits); problems name the file and line."""
    try:
        return read_yaml_file(path, where)
    except YamlInputError as exc:
        raise ScenarioError([Problem(exc.where, "", exc.message)]) from None


def parse_yaml_text(text: str | bytes, source: str) -> Any:
    """Parse YAML text that did not come from a file on disk (an upload, a form),
    with the same limits as files; ScenarioError names ``source``."""
    try:
        return load_yaml(text, source)
    except YamlInputError as exc:
        raise ScenarioError([Problem(exc.where, "", exc.message)]) from None


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario YAML file; every problem is reported at once."""
    path = Path(path)
    doc = _read_yaml(path, str(path))
    if doc is None:
        raise ScenarioError([Problem(str(path), "", "the file is empty")])
    return scenario_from_mapping(doc, source=str(path), base_dir=path.parent)


# ---------------------------------------------------------------------------
# Overrides
# ---------------------------------------------------------------------------


def apply_overrides(scenario: Scenario | Mapping[str, Any], overrides: Iterable[str], *,
                    source: str = "--set", base_dir: str | Path | None = None) -> Scenario:
    """A new scenario with ``KEY=VALUE`` overrides applied (dotted keys).

    Setting ``traffic.calls_per_second`` clears ``traffic.busy_hour_calls`` and vice
    versa; setting a share of ``traffic.mix`` without ``basic`` makes ``basic`` the
    remainder again.  ``none``/``null`` unsets an optional field.
    """
    mapping = scenario.model_dump(mode="json") if isinstance(scenario, Scenario) \
        else copy.deepcopy(dict(scenario))
    problems: list[Problem] = []
    assignments: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(Problem(f"{source} {item}", "", "expected KEY=VALUE"))
            continue
        try:
            ann, nullable = _resolve_path(key)
            assignments[key] = _convert(text, ann, nullable)
        except ValueError as exc:
            problems.append(Problem(f"{source} {item}", "", str(exc)))
    if problems:
        raise ScenarioError(problems)
    _assign(mapping, assignments)
    return scenario_from_mapping(mapping, source=source, base_dir=base_dir)


# ---------------------------------------------------------------------------
# CSV rows
# ---------------------------------------------------------------------------


def scenarios_from_csv(path: str | Path, base: str | Path | None = None
                       ) -> list[tuple[str, Scenario]]:
    """One scenario per CSV row: ``[(row_id, scenario), ...]``.

    Columns are dotted field paths; ``site`` (or ``name``) gives the row id (else
    the line number); a ``base`` column, or the ``base`` argument for rows that
    leave it empty, names a scenario YAML the row overrides (relative to the CSV
    file).  Empty cells keep the base's or the default value.  Every problem is
    reported at once; :func:`iter_csv_scenarios` is the streaming form.
    """
    out: list[tuple[str, Scenario]] = []
    problems: list[Problem] = []
    for row in iter_csv_scenarios(path, base):
        problems += row.problems
        if row.scenario is not None and row.row_id is not None:
            out.append((row.row_id, row.scenario))
    if problems:
        raise ScenarioError(problems)
    return out


@dataclass(frozen=True)
class CsvRow:
    """One record of a scenarios CSV, validated: a scenario or its problems."""

    line: int
    """1-based line number where the record starts (the header's for header problems)."""
    row_id: str | None
    """``site`` or ``name`` cell, else the line number; None for header problems."""
    scenario: Scenario | None
    problems: list[Problem]
    id_given: bool = True
    """False when the id cell was empty (``row_id`` is then the line number)."""


def iter_csv_scenarios(path: str | Path, base: str | Path | None = None
                       ) -> Iterator[CsvRow]:
    """Validate a scenarios CSV one record at a time (see :func:`scenarios_from_csv`).

    Streams: only the current row, the parsed base files and the row ids seen (to
    report duplicates) are held, so a million-row file costs the memory of one
    row; a caller keeps what it needs.  Problems of the header or of reading the
    file come as a row with ``row_id`` None.
    """
    path = Path(path)
    where = str(path)
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        yield CsvRow(0, None, None, [Problem(where, "", f"cannot read ({exc.strerror})")])
        return
    with fh:
        records = _csv_rows(fh)
        try:
            first = next(iter(records), None)
        except (csv.Error, UnicodeDecodeError) as exc:
            yield CsvRow(1, None, None, [Problem(where, "", _read_problem(exc))])
            return
        if first is None:
            yield CsvRow(0, None, None, [Problem(where, "", "no header row")])
            return
        header_line, header = first
        header = [h.strip() for h in header]
        problems: list[Problem] = []
        columns: dict[int, tuple[str, Any, bool]] = {}
        for i, name in enumerate(header):
            if name == BASE_COLUMN or name == "site":
                continue
            if not name:
                problems.append(Problem(f"{where}:{header_line}:{i + 1}", "",
                                        "empty column name"))
                continue
            if header.count(name) > 1 and header.index(name) != i:
                problems.append(Problem(f"{where}:{header_line}:{name}", "", "duplicate column"))
                continue
            try:
                ann, nullable = _resolve_path(name)
            except ValueError as exc:
                problems.append(Problem(f"{where}:{header_line}:{name}", "",
                                        f"unknown column: {exc}"))
                continue
            columns[i] = (name, ann, nullable)
        if problems:
            yield CsvRow(header_line, None, None, problems)
        id_col = next((header.index(c) for c in ID_COLUMNS if c in header), None)
        base_col = header.index(BASE_COLUMN) if BASE_COLUMN in header else None
        bases: dict[Path, dict[str, Any]] = {}
        seen: dict[str, int] = {}
        line = header_line
        while True:
            try:
                record = next(records, None)
            except (csv.Error, UnicodeDecodeError) as exc:
                yield CsvRow(line + 1, None, None,
                             [Problem(f"{where}:{line + 1}", "", _read_problem(exc))])
                return
            if record is None:
                return
            line, cells = record
            if not any(c.strip() for c in cells):
                continue
            yield _csv_row(path, line, cells, header, columns, id_col, base_col, base,
                           bases, seen)


def _read_problem(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return f"invalid CSV: {exc}"


def _csv_row(path: Path, line: int, cells: list[str], header: list[str],
             columns: dict[int, tuple[str, Any, bool]], id_col: int | None,
             base_col: int | None, base: str | Path | None,
             bases: dict[Path, dict[str, Any]], seen: dict[str, int]) -> CsvRow:
    """Validate one CSV record (see :func:`iter_csv_scenarios`)."""
    where = str(path)
    problems: list[Problem] = []
    if len(cells) > len(header):
        return CsvRow(line, str(line), None, [Problem(f"{where}:{line}", "",
                                                      f"{len(cells)} cells for "
                                                      f"{len(header)} columns")])
    cells = cells + [""] * (len(header) - len(cells))
    id_given = id_col is not None and bool(cells[id_col].strip())
    row_id = cells[id_col].strip() if id_given and id_col is not None else str(line)
    if row_id in seen:
        problems.append(Problem(f"{where}:{line}:{header[id_col or 0]}", "",
                                f"duplicate row id {row_id!r} (first on line "
                                f"{seen[row_id]})"))
    else:
        seen[row_id] = line
    cell_problems = False
    base_name = cells[base_col].strip() if base_col is not None else ""
    base_path = (path.parent / base_name) if base_name else \
        (Path(base) if base is not None else None)
    mapping: dict[str, Any] = {}
    if base_path is not None:
        try:
            mapping = copy.deepcopy(_base_mapping(base_path, bases))
        except ScenarioError as exc:
            col = BASE_COLUMN if base_name else "base"
            problems.extend(Problem(f"{where}:{line}:{col}", "", str(p)) for p in exc.problems)
            return CsvRow(line, row_id, None, problems, id_given)
    assignments: dict[str, Any] = {}
    for i, (name, ann, nullable) in columns.items():
        text = cells[i]
        if not text.strip():
            continue
        try:
            assignments[name] = _convert(text, ann, nullable)
        except ValueError as exc:
            problems.append(Problem(f"{where}:{line}:{name}", "", str(exc)))
            cell_problems = True
    if cell_problems:
        return CsvRow(line, row_id, None, problems, id_given)
    if "site" in header and "name" not in assignments and cells[header.index("site")].strip():
        assignments["name"] = cells[header.index("site")].strip()
    _assign(mapping, assignments)
    try:
        scenario = _validate(mapping, path.parent)
    except ValidationError as exc:
        for loc, msg in _problems(exc):
            column = _column_for(loc, assignments)
            origin = "" if column in assignments or base_path is None \
                else f" (value from base {base_path})"
            problems.append(Problem(f"{where}:{line}:{column}", "", msg + origin))
        return CsvRow(line, row_id, None, problems, id_given)
    return CsvRow(line, row_id, scenario if not problems else None, problems, id_given)


def _csv_rows(fh: Any) -> Iterable[tuple[int, list[str]]]:
    """(first line number, cells) per record; quoted cells may span lines."""
    reader = csv.reader(fh)
    start = 1
    for cells in reader:
        yield start, cells
        start = reader.line_num + 1


def _column_for(loc: str, assignments: Mapping[str, Any]) -> str:
    """The column to blame for an error at ``loc``: the column itself, or the
    column that set a field inside it, else the field path."""
    if loc in assignments:
        return loc
    inside = [c for c in assignments if c.startswith(loc + ".")]
    return inside[0] if len(inside) == 1 else loc


def _base_mapping(path: Path, cache: dict[Path, dict[str, Any]]) -> dict[str, Any]:
    """The raw mapping of a base YAML, its file names made absolute."""
    key = path.resolve()
    if key not in cache:
        doc = _read_yaml(path, str(path))
        if not isinstance(doc, dict):
            raise ScenarioError([Problem(str(path), "", "a scenario must be a mapping")])
        for field in PATH_FIELDS:
            value = _get(doc, field)
            if isinstance(value, str) and not Path(value).is_absolute():
                _set(doc, field, str((path.parent / value).resolve()))
        cache[key] = doc
    return cache[key]


# ---------------------------------------------------------------------------
# Writing back
# ---------------------------------------------------------------------------


def dump_yaml(scenario: Scenario) -> str:
    """Full YAML of a scenario, defaults included, in field order."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False,
                          allow_unicode=True, width=100)


def flatten(scenario: Scenario) -> dict[str, Any]:
    """Dotted path -> value of every leaf field (lists kept whole), e.g. for a
    report row next to the results."""
    out: dict[str, Any] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, f"{prefix}{k}.")
        else:
            out[prefix[:-1]] = value

    walk(scenario.model_dump(mode="json"), "")
    return out
