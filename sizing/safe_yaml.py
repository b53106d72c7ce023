"""The one place user YAML is parsed: PyYAML's safe loader with limits.

Scenario files, ``--set`` values, CSV cells, cost profiles and the web form's
upload all come from people and machines we do not control, so parsing refuses,
with an error naming the file and line, what ``yaml.safe_load`` would accept
quietly or choke on:

- alias expansion beyond :data:`ALIAS_BUDGET` nodes ("billion laughs": a few
  hundred bytes of anchors expand to billions of nodes in whatever walks the
  result), and recursive aliases;
- nesting deeper than :data:`MAX_DEPTH` (PyYAML composes recursively and would
  end in a RecursionError);
- duplicate mapping keys (YAML says they are an error; PyYAML keeps the last);
- files larger than :data:`MAX_BYTES`, and bytes that are not UTF-8.

The budget is checked on the composed node graph, before any Python object is
built, so a bomb is refused in milliseconds whatever it would expand to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["ALIAS_BUDGET", "MAX_BYTES", "MAX_DEPTH", "YamlInputError", "load_yaml",
           "read_yaml_file"]

ALIAS_BUDGET = 10_000
"""Nodes that aliases may add beyond the ones written in the text."""
MAX_DEPTH = 64
"""Nesting levels of collections, aliases expanded (a scenario needs about 6)."""
MAX_BYTES = 16 * 1024 * 1024
"""Largest YAML file read (a scenario is a few kB)."""
_MERGE = "tag:yaml.org,2002:merge"


class YamlInputError(ValueError):
    """YAML refused; ``where`` is ``FILE`` or ``FILE:LINE:COLUMN``."""

    def __init__(self, where: str, message: str):
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")


class _Loader(yaml.SafeLoader):
    """SafeLoader that bounds nesting while composing and refuses duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # type: ignore[override]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:  # type: ignore[override]
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE or not isinstance(key_node, ScalarNode):
                continue
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key]}, again on "
                                f"line {line})", key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _check_expansion(root: Node, where: str) -> None:
    """Refuse recursive aliases, and alias expansion beyond the budget or the depth
    limit, from the node graph (aliases share nodes, so it is a DAG to measure)."""
    written: set[int] = set()
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    active: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            active.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            continue
        if key in size:
            continue
        if key in active:
            mark = node.start_mark
            raise YamlInputError(f"{where}:{mark.line + 1}:{mark.column + 1}",
                                 "invalid YAML: recursive alias")
        written.add(key)
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    extra = size[id(root)] - len(written)
    if extra > ALIAS_BUDGET:
        raise YamlInputError(where, f"invalid YAML: aliases expand to {size[id(root)]:,} "
                                    f"nodes, more than {ALIAS_BUDGET:,} beyond the "
                                    f"{len(written):,} written (an alias bomb?)")
    if depth[id(root)] > MAX_DEPTH:
        raise YamlInputError(where, f"invalid YAML: aliases nest it {depth[id(root)]} levels "
                                    f"deep, more than {MAX_DEPTH}")


def load_yaml(text: str | bytes, where: str) -> Any:
    """Parse one YAML document within the limits above; YamlInputError names
    ``where`` (a file name, ``FILE:ROW:COLUMN`` or ``--set KEY``) and the line."""
    if isinstance(text, bytes):
        text = _decode(text, where)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, where)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark else where
        raise YamlInputError(at, f"invalid YAML: {getattr(exc, 'problem', None) or exc}") \
            from None
    except RecursionError:  # a limit above should have caught it first
        raise YamlInputError(where, "invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()


def _decode(data: bytes, where: str) -> str:
    if b"\0" in data:
        raise YamlInputError(where, "not a YAML text file (it holds NUL bytes: binary data?)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise YamlInputError(f"{where}:{line}", f"not UTF-8 text (byte 0x{data[exc.start]:02x} "
                                                f"at offset {exc.start})") from None


def read_yaml_file(path: str | Path, where: str | None = None) -> Any:
    """Read and parse a YAML file (at most :data:`MAX_BYTES`); errors name it."""
    path = Path(path)
    where = str(path) if where is None else where
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except IsADirectoryError:
        raise YamlInputError(where, "is a directory, not a YAML file") from None
    except OSError as exc:
        raise YamlInputError(where, f"cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:
        raise YamlInputError(where, f"larger than {MAX_BYTES // (1024 * 1024)} MiB; not a "
                                    "scenario or profile")
    return load_yaml(data, where)
