"""``python -m sizing.cli``: the `sizing` command."""

from sizing.cli.main import run

run()
