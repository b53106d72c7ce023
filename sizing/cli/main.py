"""The `sizing` command line: one sub-command per planner's question."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sizing.cli.common import fail, terminal_table
from sizing.cli.load import add_load_command
from sizing.cli.measure import add_measure_commands
from sizing.cli.plan import add_plan_commands
from sizing.cli.serve import add_serve_command
from sizing.cli.simulate import add_run_command
from sizing.scenario import add_schema_command

app = typer.Typer(
    help="SIP capacity sizing: simulate a real SIP engine to size servers and bandwidth.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def codecs() -> None:
    """List the codec catalogue with each codec's default per-stream bandwidth."""
    from sizing.models.media import load_catalogue, stream_bandwidth

    rows = []
    for codec in load_catalogue().values():
        if codec.payload_format == "event":
            continue
        bw = stream_bandwidth(codec)
        rows.append(
            {
                "codec": codec.name,
                "sdp": codec.rtpmap,
                "kbit/s": bw.bitrate_kbps,
                "ptime ms": bw.ptime_ms,
                "ptimes": ",".join(f"{p:g}" for p in codec.ptimes_ms),
                "pps": bw.pps,
                "IP kbps": bw.ip_kbps,
                "Ethernet kbps": bw.l2_kbps,
            }
        )
    typer.echo(terminal_table(rows))


@app.command()
def bandwidth(
    codec: Annotated[str, typer.Argument(help="Codec name, e.g. PCMU, G729, opus, AMR-WB.")],
    ptime: Annotated[float | None, typer.Option(help="Packetisation time in ms.")] = None,
    bitrate: Annotated[float | None, typer.Option(help="Bit rate in kbit/s (Opus, AMR-WB, G.726...).")] = None,
    l2: Annotated[str, typer.Option(help="Link layer: ip, ethernet, ethernet-vlan, ethernet-wire, mp.")] = "ethernet",
    srtp: Annotated[str | None, typer.Option(help="SRTP suite, e.g. AES_CM_128_HMAC_SHA1_80.")] = None,
    srtp_reverse: Annotated[str | None, typer.Option(
        help="The other direction's SRTP suite when it differs (e.g. AES_CM_128_HMAC_SHA1_32); "
             "needs --srtp.")] = None,
    ipv6: Annotated[bool, typer.Option(help="IPv6 instead of IPv4.")] = False,
    crtp: Annotated[bool, typer.Option(help="Compressed RTP (point-to-point links).")] = False,
    vad: Annotated[float | None, typer.Option(help="Voice activity fraction, e.g. 0.6.")] = None,
    duration: Annotated[float, typer.Option(help="Call duration in seconds for the per-call total.")] = 180.0,
    digits: Annotated[int, typer.Option(help="DTMF digits sent per call (RFC 4733).")] = 0,
) -> None:
    """Bandwidth of one RTP stream and of a whole call (both directions, RTCP, DTMF)."""
    from sizing.models.media import call_bandwidth, stream_bandwidth

    kwargs = dict(
        bitrate_kbps=bitrate, ptime_ms=ptime, l2=l2, srtp=srtp,
        ip_version=6 if ipv6 else 4, crtp=crtp, vad=vad,
    )
    if srtp_reverse is not None and srtp is None:
        fail("--srtp-reverse needs --srtp: a call is SRTP in both directions or in neither")
    try:
        stream = stream_bandwidth(codec, **kwargs)
        call = call_bandwidth(codec, duration_s=duration, digits=digits, srtp_reverse=srtp_reverse,
                              **kwargs)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(
        f"{stream.codec} {stream.bitrate_kbps:g} kbit/s, ptime {stream.ptime_ms:g} ms, "
        f"{stream.l2}{', SRTP ' + stream.srtp if stream.srtp else ''}"
    )
    typer.echo(
        terminal_table(
            [
                {"per stream (one direction)": "payload bytes", "value": stream.payload_bytes},
                {"per stream (one direction)": "packet bytes (IP)", "value": stream.packet_bytes},
                {"per stream (one direction)": f"frame bytes ({stream.l2})", "value": stream.l2_bytes_per_packet},
                {"per stream (one direction)": "packets/s", "value": stream.pps},
                {"per stream (one direction)": "IP kbps", "value": stream.ip_kbps},
                {"per stream (one direction)": f"{stream.l2} kbps", "value": stream.l2_kbps},
            ]
        )
    )
    typer.echo(f"\nper call of {duration:g} s, both directions, RTP + RTCP + DTMF:")
    typer.echo(
        terminal_table(
            [
                {"component": "media", "packets": call.media_packets, "kB": call.media_bytes / 1e3},
                {"component": "RTCP", "packets": call.rtcp_packets, "kB": call.rtcp_bytes / 1e3},
                {"component": "DTMF", "packets": call.dtmf_packets, "kB": call.dtmf_bytes / 1e3},
                {"component": "total", "packets": call.total_packets, "kB": call.total_bytes / 1e3},
            ]
        )
    )
    typer.echo(f"average {call.avg_kbps:,.2f} kbps, {call.avg_pps:,.1f} packets/s per call")
    if srtp_reverse is not None:
        for name, way in (("forward", call.forward), ("reverse", call.reverse)):
            typer.echo(f"  {name} ({way.srtp}): {way.avg_kbps:,.2f} kbps, {way.avg_pps:,.1f} packets/s")


def _read_messages(path: Path) -> list[tuple[int, bytes]]:
    """Frame a file of concatenated SIP messages as a TCP stream would: (offset, bytes)."""
    from sizing.sip import FramingError, StreamFramer

    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror or exc}")
    framer = StreamFramer(max_message_bytes=max(65536, len(data)))
    try:
        chunks = [m for m in framer.feed(data) if isinstance(m, bytes)]
    except FramingError as exc:
        fail(f"{path}: {exc}")
    if framer.buffered:
        fail(f"{path}: the last {framer.buffered} bytes are an incomplete SIP message")
    offsets, offset = [], 0
    for chunk in chunks:
        offset = data.index(chunk, offset)
        offsets.append((offset, chunk))
        offset += len(chunk)
    return offsets


@app.command()
def inspect(
    path: Annotated[Path, typer.Argument(help="A file of SIP messages, one after another.")],
    tls_suite: Annotated[str, typer.Option(help="TLS record suite for the TLS column.")] = "tls1.3-aead",
) -> None:
    """Parse a file of SIP messages, list them, and count their bytes on the wire."""
    from sizing.models.tls import wire_bytes
    from sizing.sip import ParseError, Request, parse

    rows = []
    totals = {"udp": 0.0, "tcp": 0.0, "tls": 0.0}
    for number, (offset, raw) in enumerate(_read_messages(path), start=1):
        try:
            msg = parse(raw)
            cseq = msg.cseq
            summary = {
                "#": number,
                "message": msg.method if isinstance(msg, Request) else f"{msg.status} {msg.reason}",
                "CSeq": f"{cseq.number} {cseq.method}",
                "branch": msg.branch or "-",
                "to tag": msg.to_tag or "-",
                "body": msg.headers.get("Content-Type") or "-",
                "bytes": len(raw),
            }
        except ParseError as exc:
            fail(f"{path}: message {number} at byte {offset}: {exc}")
        for transport in totals:
            cost = wire_bytes(len(raw), transport, suite=tls_suite)
            totals[transport] += cost.total
        rows.append(summary)
    if not rows:
        fail(f"{path}: no SIP message found")
    typer.echo(terminal_table(rows))
    sip_bytes = sum(r["bytes"] for r in rows)
    typer.echo(f"\n{len(rows)} messages, {sip_bytes:,} bytes of SIP")
    typer.echo("on the wire (Ethernet, IPv4, both directions incl. TCP ACKs, no handshakes):")
    typer.echo(
        terminal_table(
            [
                {"transport": name.upper(), "bytes": total, "overhead %": 100 * (total / sip_bytes - 1)}
                for name, total in totals.items()
            ],
            floatfmt="{:,.1f}",
        )
    )


@app.command()
def trunks(
    erlangs: Annotated[float | None, typer.Option(help="Offered traffic in erlangs.")] = None,
    calls_per_hour: Annotated[float | None, typer.Option(help="Busy-hour call attempts (instead of --erlangs).")] = None,
    holding: Annotated[float, typer.Option(help="Mean holding time in seconds, with --calls-per-hour.")] = 180.0,
    blocking: Annotated[float, typer.Option(help="Target blocking probability (grade of service).")] = 0.01,
    channels: Annotated[int | None, typer.Option(help="Evaluate this many channels instead of sizing.")] = None,
) -> None:
    """Trunk channels for a grade of service (Erlang B), or the blocking of N channels."""
    from sizing.models.analytic import (
        MAX_ERLANGS,
        erlang_b,
        offered_erlangs,
        servers_for_blocking,
        traffic_for_blocking,
    )

    if (erlangs is None) == (calls_per_hour is None):
        fail("give exactly one of --erlangs or --calls-per-hour")
    if not 0 < blocking < 1:
        fail(f"--blocking must be between 0 and 1 (exclusive), got {blocking:g}")
    try:
        traffic = erlangs if erlangs is not None else float(offered_erlangs(calls_per_hour, holding))
        if traffic <= 0:
            fail(f"offered traffic must be positive, got {traffic:g} erlangs")
        if traffic > MAX_ERLANGS:
            given = "--erlangs" if erlangs is not None else "--calls-per-hour x --holding"
            fail(f"{given}: {traffic:.3g} erlangs; at most {MAX_ERLANGS:.0e}")
        if channels is not None and channels > MAX_ERLANGS:
            fail(f"--channels: {channels:,}; at most {MAX_ERLANGS:,.0f}")
        n = channels if channels is not None else int(servers_for_blocking(traffic, blocking))
        if n < 1:
            fail(f"--channels must be at least 1, got {n}")
        b = float(erlang_b(traffic, n))
        capacity = float(traffic_for_blocking(n, blocking))
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"offered traffic      {traffic:,.2f} erlangs")
    typer.echo(f"channels             {n:,}")
    typer.echo(f"blocking (Erlang B)  {b:.4%}")
    typer.echo(f"carried traffic      {traffic * (1 - b):,.2f} erlangs")
    typer.echo(f"capacity at {blocking:.2%}   {capacity:,.2f} erlangs on {n:,} channels")


add_serve_command(app)
add_schema_command(app)
add_load_command(app)
add_measure_commands(app)
add_run_command(app)
add_plan_commands(app)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return its exit status (2 for bad input, never a traceback)."""
    try:
        app(args=argv, prog_name="sizing")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def run() -> None:
    """`sizing` console script."""
    raise SystemExit(main())


if __name__ == "__main__":
    run()
