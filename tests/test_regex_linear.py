"""Every regular expression of the engine and the network driver runs in linear time.

A peer controls the text the patterns see, up to the size limits (64 KB per
message), so one pattern that backtracks quadratically lets a single datagram
hold a core for seconds. The test finds every compiled pattern of the modules
of sizing.sip and sizing.net by itself (module level and class attributes), so
a new pattern is covered without editing it, and feeds each one runs of the
characters SIP text is made of, alone and in pairs, after a few plausible
prefixes, with the methods the code calls on it (found in the source).

Timing on a busy 2-core machine is noisy, so nothing here compares with a
wall-clock budget that a linear pattern could miss: a case that is fast in
absolute terms at 16 KB passes at once; any other is measured again at 4 KB
and 16 KB (best of several runs, interleaved) and must grow less than 10x for
4x the input, which a linear pattern never breaks and a quadratic one (16x)
always does.
"""

from __future__ import annotations

import gc
import importlib
import itertools
import pkgutil
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import sizing.net
import sizing.sip

SMALL, MEDIUM, LARGE = 1024, 4096, 16384
FAST_ENOUGH_S = 0.005
"""A 16 KB run under this is linear enough: the quadratic patterns found cost 100 ms to
seconds at 16 KB, and one this fast at 16 KB would cost under 0.1 s at the 64 KB limit."""
RATIO_LIMIT = 10.0
"""16 KB time / 4 KB time: ~4 when linear, ~16 when quadratic; a linear pattern's `sub`
over thousands of matches measured up to 8.8x on a loaded 2-core machine."""
CEILING_S = 0.25
"""No 16 KB run may take this long, whatever the ratio (linear ones take about 1 ms)."""
SMALL_CEILING_S = 0.05
"""A 1 KB run this slow is superlinear already; 16 KB is not tried (it could take hours)."""

_SINGLES = list("aZ07 \t;:@,<>\"=.-+%!~*'()[]/?&$#_`{}^|\\\r\n\x00") + ["\r\n", "é"]
_PAIR_CHARS = ["a", "0", " ", ";", ":", "@", "=", ".", "-", "%", '"', "\r\n"]
UNITS = _SINGLES + ["".join(p) for p in itertools.product(_PAIR_CHARS, repeat=2)]
"""Repeated to make the hostile text: each character class alone and every pair."""
PREFIXES = ["", "a", "+1", "sip:a@b;", "tel:+1", "SIP/2.0/UDP h", ";a=", '"', "<sip:a@b>", "\r\nl: 0"]
"""Starts that take a pattern past its first element, so the run is met further in."""
SUFFIXES = ["", "\x00", "\r"]
"""Ends that make a long attempt fail at the last character (where backtracking starts)."""

_METHODS: dict[str, Callable[[re.Pattern, str | bytes], object]] = {
    "search": lambda p, s: p.search(s),
    "match": lambda p, s: p.match(s),
    "fullmatch": lambda p, s: p.fullmatch(s),
    "finditer": lambda p, s: list(p.finditer(s)),
    "findall": lambda p, s: p.findall(s),
    "sub": lambda p, s: p.sub(s[:0], s),
    "subn": lambda p, s: p.subn(s[:0], s),
    "split": lambda p, s: p.split(s),
}


def _modules() -> list[object]:
    modules = []
    for package in (sizing.sip, sizing.net):
        modules.append(package)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            modules.append(importlib.import_module(info.name))
    return modules


def _patterns() -> dict[int, tuple[re.Pattern, list[str]]]:
    """Every compiled pattern by id, with the names it is reachable by."""
    found: dict[int, tuple[re.Pattern, list[str]]] = {}

    def add(pattern: re.Pattern, name: str) -> None:
        found.setdefault(id(pattern), (pattern, []))[1].append(name)

    for module in _modules():
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern):
                add(value, f"{module.__name__}.{name}")
            elif isinstance(value, type) and value.__module__ == module.__name__:
                for attr, member in vars(value).items():
                    if isinstance(member, re.Pattern):
                        add(member, f"{module.__name__}.{name}.{attr}")
    return found


def _methods(names: list[str]) -> list[str]:
    """The methods the code calls on a pattern, found in the source of each module that
    holds it (all three matchers when none is found)."""
    used: set[str] = set()
    for alias in names:
        module, _, name = alias.rpartition(".")
        if module not in sys.modules:  # a class attribute: module.Class.NAME
            module = module.rpartition(".")[0]
        source = Path(sys.modules[module].__file__).read_text()
        used.update(re.findall(rf"\b{re.escape(name)}\.({'|'.join(_METHODS)})\b", source))
    return sorted(used) or ["search", "match", "fullmatch"]


PATTERNS = sorted(_patterns().values(), key=lambda item: item[1][0])


def test_the_walk_finds_the_patterns() -> None:
    names = {name for _, aliases in PATTERNS for name in aliases}
    assert "sizing.sip.uri._TEL_LOCAL" in names
    assert "sizing.sip.framer._CONTENT_LENGTH" in names
    assert "sizing.net.address._LABEL" in names
    assert len(PATTERNS) > 40


def _best(run: Callable[[], object], repeat: int) -> float:
    """The shortest of ``repeat`` timings, with the garbage collector off (as timeit
    times): a full collection triggered by a run's allocations costs in proportion to
    every object the test process holds, not to the input."""
    best = float("inf")
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
    finally:
        if enabled:
            gc.enable()
    return best


def _text(prefix: str, unit: str, suffix: str, size: int, binary: bool) -> str | bytes:
    text = prefix + unit * ((size - len(prefix) - len(suffix)) // len(unit)) + suffix
    return text.encode() if binary else text


def _growth(pattern: re.Pattern, method: str, prefix: str, unit: str, suffix: str) -> str | None:
    """None when the case is linear, else what was measured."""
    call = _METHODS[method]
    binary = isinstance(pattern.pattern, bytes)
    texts = {size: _text(prefix, unit, suffix, size, binary) for size in (SMALL, MEDIUM, LARGE)}
    small = _best(lambda: call(pattern, texts[SMALL]), 1)
    if small > SMALL_CEILING_S and _best(lambda: call(pattern, texts[SMALL]), 3) > SMALL_CEILING_S:
        return f"{small * 1e3:.0f} ms at 1 KB already"
    if _best(lambda: call(pattern, texts[LARGE]), 1) < FAST_ENOUGH_S:
        return None
    ratio = large = 0.0
    for _ in range(3):  # a noisy measurement is taken again before it counts
        medium = large = float("inf")
        for _ in range(5):
            medium = min(medium, _best(lambda: call(pattern, texts[MEDIUM]), 1))
            large = min(large, _best(lambda: call(pattern, texts[LARGE]), 1))
        ratio = large / max(medium, 1e-7)
        if ratio < RATIO_LIMIT and large < CEILING_S:
            return None
    return f"16 KB {large * 1e3:.1f} ms, {ratio:.1f}x the 4 KB time"


@pytest.mark.parametrize(
    ("pattern", "names"), PATTERNS, ids=[names[0].removeprefix("sizing.") for _, names in PATTERNS]
)
def test_pattern_is_linear(pattern: re.Pattern, names: list[str]) -> None:
    failures = []
    for method in _methods(names):
        for prefix, unit, suffix in itertools.product(PREFIXES, UNITS, SUFFIXES):
            problem = _growth(pattern, method, prefix, unit, suffix)
            if problem is not None:
                failures.append(f"{method}({prefix!r} + {unit!r} * n + {suffix!r}): {problem}")
                if len(failures) >= 5:
                    break
        if len(failures) >= 5:
            break
    assert not failures, f"{names[0]} is superlinear:\n" + "\n".join(failures)
