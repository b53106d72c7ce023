"""The ``sizing load`` sub-command."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["add_load_command"]


def add_load_command(app: typer.Typer) -> None:
    """Register ``load`` on the ``sizing`` typer app."""

    @app.command()
    def load(
        target: Annotated[str, typer.Option(help="First hop, transport:host:port (udp, tcp or tls).")],
        rate: Annotated[float, typer.Option(help="Calls (transactions) started per second.")],
        duration: Annotated[float, typer.Option(help="Seconds during which calls are started.")],
        flow: Annotated[str, typer.Option(help="basic-call, register or options.")] = "basic-call",
        hold: Annotated[float, typer.Option(help="basic-call: seconds between answer and BYE.")] = 0.0,
        to: Annotated[str | None, typer.Option(
            help="Request-URI, e.g. a UAS behind a proxy target (default sip:service@TARGET).")] = None,
        cafile: Annotated[Path | None, typer.Option(help="TLS: CA certificates to verify the target by.")] = None,
        insecure: Annotated[bool, typer.Option(help="TLS: do not verify the target's certificate.")] = False,
        tls_version: Annotated[str | None, typer.Option(help="TLS: force 1.2 or 1.3.")] = None,
        cert: Annotated[Path | None, typer.Option(
            help="TLS: the agent's own certificate (default: a throw-away self-signed one).")] = None,
        key: Annotated[Path | None, typer.Option(help="TLS: the key of --cert.")] = None,
        connections: Annotated[str, typer.Option(
            help="TCP/TLS: shared (one connection for all calls) or per-call (a new one, "
                 "a full TLS handshake, per call).")] = "shared",
        as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
    ) -> None:
        """Generate SIP load with the project's own user agent and print a SIPp-like summary.

        Exit status 1 when a call failed or did not finish, as SIPp does.
        """
        from sizing.cli.common import fail, parsed_address
        from sizing.measure.loadgen import LoadConfig, LoadError, run_load

        address = parsed_address("--target", target)
        try:
            config = LoadConfig(target=address, rate=rate, duration_s=duration, flow=flow, hold_s=hold,
                                request_uri=to, cafile=cafile, insecure=insecure, tls_version=tls_version,
                                certfile=cert, keyfile=key, connections=connections)
            summary = run_load(config)
        except LoadError as exc:
            fail(str(exc))
        if as_json:
            row = {k: (None if isinstance(v, float) and math.isnan(v) else v)
                   for k, v in summary.as_dict().items()}
            typer.echo(json.dumps(row))
        else:
            typer.echo(summary.report())
        if summary.calls_failed:
            raise typer.Exit(1)
