"""Starting points for the form: the shipped example scenarios and a small branch."""

from __future__ import annotations

from pathlib import Path

from sizing.scenario import Scenario, load_scenario

__all__ = ["DEFAULT_PRESET", "EXAMPLES", "PRESETS", "load_preset"]

EXAMPLES = Path(__file__).parents[2] / "data" / "examples"
"""The shipped example scenarios."""

PRESETS: dict[str, Path] = {
    "500-seat contact centre": EXAMPLES / "contact-centre-500.yaml",
    "SIP trunk": EXAMPLES / "sip-trunk.yaml",
    "Small branch": Path(__file__).parent / "presets" / "small-branch.yaml",
}
"""Preset label -> scenario YAML file."""
DEFAULT_PRESET = "500-seat contact centre"


def load_preset(label: str) -> Scenario:
    """The scenario of a preset (KeyError names the known presets)."""
    try:
        path = PRESETS[label]
    except KeyError:
        raise KeyError(f"unknown preset {label!r}; known: {', '.join(PRESETS)}") from None
    return load_scenario(path)
