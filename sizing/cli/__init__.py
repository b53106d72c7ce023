"""The `sizing` command line: :mod:`sizing.cli.main` is the `sizing` command (its own
sub-commands, and each other sub-command registered from its module: ``plan``,
``measure``, ``load``, ``simulate`` for `sizing run`, ``serve``); :mod:`sizing.cli.common`
holds what they share. ``python -m sizing.cli`` runs it.

``sizing.cli.run`` is the console script of :mod:`sizing.cli.main`, imported on first
use, so that a `sizing` script installed as ``sizing.cli:run`` keeps working.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run"]


def __getattr__(name: str) -> Any:
    if name == "run":
        from sizing.cli.main import run

        return run
    raise AttributeError(f"module 'sizing.cli' has no attribute {name!r}")
