"""The ``sizing measure`` and ``sizing calibrate`` sub-commands."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["add_measure_commands"]

TABLE_COLUMNS = ("flow", "rate_cps", "repeat", "calls_ok", "calls_failed", "retransmissions",
                 "cpu_seconds", "cpu_per_call_us", "cpu_core_fraction", "rss_mb", "valid", "reason")


def _command_line() -> str:
    return "sizing " + shlex.join(sys.argv[1:]) if sys.argv else "sizing"


def add_measure_commands(app: typer.Typer) -> None:
    """Register ``measure`` and ``calibrate`` on the ``sizing`` typer app."""
    app.command()(measure)
    app.command()(calibrate)


def measure(
    target: Annotated[str, typer.Option(help="The server under test, transport:host:port (udp or tcp).")],
    pid: Annotated[int, typer.Option(help="Process id of the server; its process tree's CPU is sampled.")],
    out: Annotated[Path, typer.Option(help="CSV file to write (atomically, after every step).")],
    rates: Annotated[str, typer.Option(help="Call rates in calls/s, comma-separated.")] = "50,100,200",
    duration: Annotated[float, typer.Option(help="Seconds of load per step.")] = 20.0,
    flow: Annotated[str, typer.Option(help="basic-call, register, options or hold.")] = "basic-call",
    uas_behind: Annotated[str | None, typer.Option(
        help="Run a SIPp UAS here, behind a proxy target, e.g. udp:127.0.0.1:5090.")] = None,
    repeat: Annotated[int, typer.Option(help="Repetitions of each rate (for the noise estimate).")] = 1,
    interleave: Annotated[bool, typer.Option(
        help="Run the repeats as rounds over every rate, so drift of the machine's speed "
             "during the campaign shifts every rate alike.")] = False,
    tshark: Annotated[bool, typer.Option(
        help="Count bytes with a tshark capture on the target's port (else from SIPp's message log).")] = False,
    max_retrans_ratio: Annotated[float, typer.Option(
        help="Retransmissions per message sent beyond which a step is not valid.")] = 0.01,
    max_failed_ratio: Annotated[float, typer.Option(
        help="Failed calls per call beyond which a step is not valid (0: any failure).")] = 0.0,
    pause_ms: Annotated[int | None, typer.Option(
        help="SIPp pause (-d): talk time of a call, hold time of the hold flow.")] = None,
    software: Annotated[str | None, typer.Option(
        help="The server's name and version (default: its Server header).")] = None,
    sipp: Annotated[str, typer.Option(help="The SIPp executable.")] = "sipp",
    driver: Annotated[str | None, typer.Option(
        help="Load generator: sipp or load (`sizing load`); default sipp for udp/tcp, load for tls.")] = None,
    cafile: Annotated[Path | None, typer.Option(help="Load driver, tls: CA to verify the target by.")] = None,
    insecure: Annotated[bool, typer.Option(help="Load driver, tls: do not verify the target.")] = False,
    tls_version: Annotated[str | None, typer.Option(help="Load driver, tls: force 1.2 or 1.3.")] = None,
    connections: Annotated[str, typer.Option(
        help="Load driver, tcp/tls: shared (one connection) or per-call (a new connection and "
             "full TLS handshake per call, to fit handshake cost).")] = "shared",
    quiet: Annotated[bool, typer.Option(
        "--quiet", help="No progress on stderr (shown only on a terminal anyway).")] = False,
) -> None:
    """Drive load at each rate against a real SIP server and sample the server's CPU."""
    config = _measure_config(
        target=target, pid=pid, out=out, rates=rates, duration=duration, flow=flow,
        uas_behind=uas_behind, repeat=repeat, interleave=interleave, tshark=tshark,
        max_retrans_ratio=max_retrans_ratio, max_failed_ratio=max_failed_ratio, pause_ms=pause_ms,
        software=software, sipp=sipp, driver=driver, cafile=cafile, insecure=insecure,
        tls_version=tls_version, connections=connections,
    )
    frame = _run_steps(config, quiet)
    _print_measurements(frame, out)


def _measure_config(*, target: str, rates: str, flow: str, uas_behind: str | None, tshark: bool,
                    sipp: str, driver: str | None, **options):  # type: ignore[no-untyped-def]
    """The campaign the options describe, with the tools it needs found: a clear exit
    naming the option at fault otherwise."""
    import shutil

    from sizing.cli.common import fail, parsed_address
    from sizing.measure import MeasureConfig, find_sipp, get_flow, parse_rates

    target_address = parsed_address("--target", target)
    chosen = driver or ("load" if target_address.transport == "TLS" else "sipp")
    sipp_path = None
    if chosen == "sipp" or uas_behind is not None:
        try:
            sipp_path = find_sipp(sipp)
        except FileNotFoundError as exc:
            fail(str(exc))
    tshark_path = None
    if tshark:
        tshark_path = shutil.which("tshark")
        if tshark_path is None:
            fail("--tshark: tshark is not installed (Debian: tshark)")
    uas_address = None if uas_behind is None else parsed_address("--uas-behind", uas_behind)
    duration_s = options.pop("duration")
    try:
        return MeasureConfig(
            target=target_address, rates=tuple(parse_rates(rates)), duration_s=duration_s,
            flow=get_flow(flow), sipp=sipp_path, uas_behind=uas_address, tshark=tshark_path,
            driver=driver, **options,
        )
    except ValueError as exc:
        fail(str(exc).replace("unknown flow", "--flow: unknown flow"))


def _run_steps(config, quiet: bool):  # type: ignore[no-untyped-def]
    """Run every step of the campaign with a progress bar; each step's outcome is
    written above the bar as it ends."""
    from sizing.cli.common import fail
    from sizing.measure import MeasureError
    from sizing.measure import measure as run_measure
    from sizing.measure.runner import steps
    from sizing.progress import bar as progress_bar

    bar = progress_bar(total=len(steps(config)), desc="measuring", unit="step", quiet=quiet)

    def progress(row: dict) -> None:
        state = "ok" if row["valid"] else f"NOT VALID: {row['reason']}"
        if not bar.disable:  # each step's outcome above the bar; the table says it all at the end
            bar.write(f"{row['flow']} {row['rate_cps']:g} cps #{row['repeat']}: "
                      f"{row['calls_ok']} calls, {row['cpu_seconds']:.3f} CPU s, {state}",
                      file=sys.stderr)
        bar.update(1)

    try:
        return run_measure(config, progress)
    except MeasureError as exc:
        fail(str(exc))
    finally:
        bar.close()


def _print_measurements(frame, out: Path) -> None:  # type: ignore[no-untyped-def]
    from sizing.cli.common import terminal_table

    typer.echo(terminal_table(frame[[c for c in TABLE_COLUMNS if c in frame]].to_dict("records"),
                      floatfmt="{:,.4g}"))
    bad = int((~frame["valid"]).sum())
    if bad:
        typer.echo(f"\n{bad} of {len(frame)} steps NOT VALID (kept in the CSV with valid=false; "
                   "calibrate ignores them)")
    typer.echo(f"\nwrote {out} ({len(frame)} rows; target software: {frame['software'].iloc[0]})")


def calibrate(
    measurements: Annotated[list[Path], typer.Argument(help="CSV files written by `sizing measure`.")],
    name: Annotated[str, typer.Option(help="Profile name, e.g. kamailio-5.6-stateful-proxy.")],
    out: Annotated[Path | None, typer.Option(
        help="Profile YAML to write (default models/profiles/NAME.yaml).")] = None,
    plot: Annotated[bool, typer.Option(help="Save predicted-vs-measured as PNG next to the profile.")] = False,
    note: Annotated[str | None, typer.Option(
        help="A line for the profile's source, e.g. the machine's load during the measurement.")] = None,
) -> None:
    """Fit a host cost profile (static load, per-message costs) to measurements by NNLS."""
    target = out or Path("models/profiles") / f"{name}.yaml"
    cal, profile = _fit(measurements, name, note, target)
    for warning in cal.warnings:
        typer.echo(f"sizing: warning: {warning}", err=True)
    if cal.rows_ignored:
        typer.echo(f"ignored {cal.rows_ignored} row(s) marked valid=false", err=True)
    _print_fit(cal)
    from sizing.measure.calibrate import plot_fit, write_profile

    write_profile(profile, target)
    _print_profile(cal, profile)
    if plot:
        png = target.with_suffix(".png")
        plot_fit(cal).savefig(png, dpi=120)
        typer.echo(f"wrote {png}")
    typer.echo(f"wrote {target}")


def _fit(measurements: list[Path], name: str, note: str | None, target: Path):  # type: ignore[no-untyped-def]
    """The fit and the profile it gives, its source saying where it came from and the
    ``wire:`` block of the profile it replaces kept."""
    from sizing.cli.common import fail
    from sizing.measure.calibrate import (
        CalibrationError,
        describe_source,
        fit_note,
        fit_profile,
        load_measurements,
    )

    try:
        frame = load_measurements(measurements)
        cal = fit_profile(frame, name)
        source = describe_source(frame[frame["valid"]], measurements, _command_line(),
                                 fit_note(cal) + (f"\nnote: {note}" if note else ""))
        profile = cal.profile.model_copy(update={"source": source})
    except CalibrationError as exc:
        fail(str(exc))
    return cal, _keep_wire_style(profile, target)


def _print_fit(cal) -> None:  # type: ignore[no-untyped-def]
    """The residuals, the fit's quality and how far repeated steps spread."""
    typer.echo(cal.residuals.drop(columns=["file"]).to_string(
        index=False, float_format="{:,.4g}".format))
    typer.echo(f"\nR² {cal.r2:.4f} on {cal.rows_used} rows; {cal.model} model")
    if len(cal.spread):
        typer.echo("\nrepeated measurements:")
        typer.echo(cal.spread.to_string(index=False, float_format="{:,.4g}".format))
    typer.echo(f"relative spread {cal.relative_spread:.1%} ({cal.spread_source}): figures good to "
               f"{cal.digits} significant digits (written with {cal.written_digits})")


def _print_profile(cal, profile) -> None:  # type: ignore[no-untyped-def]
    """The fitted figures, at the precision the spread allows."""
    spread = f"± {cal.relative_spread:.0%}"
    typer.echo(f"\nstatic_core_fraction {cal.display(profile.static_core_fraction):g} {spread}")
    for kind, cost in profile.per_message_us.items():
        typer.echo(f"per_message_us[{kind}] {cal.display(cost):g} {spread}")
    typer.echo(f"per_kbyte_us {cal.display(profile.per_kbyte_us):g}")
    for key, value in cal.terms.items():
        if key.startswith(("tls.", "transports.")) and key != "tls.per_kbyte_us":
            typer.echo(f"{key} {cal.display(value):g} {spread}")


def _keep_wire_style(profile, target: Path):  # type: ignore[no-untyped-def]
    """The fitted profile with the ``wire:`` block of the profile it replaces at ``target``:
    CPU steps do not measure header text, so a refit must not drop what a capture found."""
    from sizing.models.profile import ProfileError, load_profile

    if profile.wire is not None or not target.exists():
        return profile
    try:
        old = load_profile(target)
    except ProfileError:
        return profile
    if old.wire is None:
        return profile
    said = [line for line in old.source.splitlines() if line.strip().startswith("wire:")]
    why = said[0].strip() if said else "wire: from the profile this fit replaced"
    kept = why if why.endswith("(kept on refit)") else f"{why} (kept on refit)"
    return profile.model_copy(update={"wire": old.wire, "source": f"{profile.source}\n{kept}"})
