"""`sizing measure` with real SIPp against `sizing serve --role uas`, then `sizing calibrate`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from sizing.cli.measure import add_measure_commands
from sizing.models.profile import load_profile

from .conftest import free_port

pytestmark = pytest.mark.interop


def test_measure_then_calibrate_against_sizing_serve(sipp: str, serve, tmp_path: Path) -> None:
    app = typer.Typer()
    add_measure_commands(app)
    port = free_port()
    server = serve("--role", "uas", "--listen", f"udp:127.0.0.1:{port}")
    csv = tmp_path / "uas.csv"
    measured = CliRunner().invoke(app, [
        "measure", "--target", f"udp:127.0.0.1:{port}", "--pid", str(server.proc.pid),
        "--rates", "20,40", "--duration", "3", "--flow", "basic-call", "--out", str(csv),
        "--sipp", sipp,
    ])
    counters = server.stop()
    assert measured.exit_code == 0, measured.output
    rows = pd.read_csv(csv)
    assert list(rows["rate_cps"]) == [20, 40]
    assert (rows["calls_ok"] > 0).all() and rows["valid"].all()
    assert counters["uas_calls_accepted"] == rows["calls_ok"].sum()
    assert list(rows[["messages_in_INVITE", "messages_in_ACK", "messages_in_BYE"]].iloc[0]) == [60] * 3
    # CPU time is measured, so only its sign is certain on a busy machine (twice the
    # calls has been seen to cost less CPU than half of them there).
    assert (rows["cpu_seconds"] > 0).all()

    profile_path = tmp_path / "profiles" / "sizing-serve-uas.yaml"
    fitted = CliRunner().invoke(app, ["calibrate", str(csv), "--name", "sizing-serve-uas",
                                      "--out", str(profile_path)])
    assert fitted.exit_code == 0, fitted.output
    profile = load_profile(profile_path)
    assert profile.estimate is False and "R²" in fitted.output
    # Two short noisy steps may not separate per-message cost from static load on a busy
    # machine (NNLS then puts all of it in one term): only that the measured CPU lands
    # somewhere is certain.
    assert profile.per_message_us["default"] >= 0 and profile.static_core_fraction >= 0
    assert profile.per_message_us["default"] > 0 or profile.static_core_fraction > 0
