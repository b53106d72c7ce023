"""``sizing schema``: the scenario's JSON Schema, the reference of every field."""

from __future__ import annotations

import json
from typing import Any

from sizing.scenario.model import Scenario


def schema_json(indent: int = 2) -> str:
    """The JSON Schema of a scenario (field descriptions, ranges, defaults)."""
    return json.dumps(Scenario.model_json_schema(), indent=indent, ensure_ascii=False)


def add_schema_command(app: Any) -> None:
    """Register ``sizing schema`` on a typer app."""

    @app.command()
    def schema() -> None:
        """Print the JSON Schema of a scenario file (every field, its range and default)."""
        import typer

        typer.echo(schema_json())
