"""The ``sizing serve`` sub-command: run a UAS, proxy, registrar or B2BUA on real sockets."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["add_serve_command"]


def add_serve_command(app: typer.Typer) -> None:
    """Register ``serve`` on the ``sizing`` typer app."""
    app.command()(serve)


def serve(
    role: Annotated[str, typer.Option(help="Element to run: uas, proxy, registrar or b2bua.")],
    listen: Annotated[
        list[str],
        typer.Option(
            metavar="TRANSPORT:HOST:PORT",
            help="transport:host:port, e.g. udp:127.0.0.1:5070. Repeat it for one interface per "
            "transport (the first is the main one), e.g. --listen tls:127.0.0.1:5061 "
            "--listen udp:127.0.0.1:5060: each message leaves by its destination's transport.",
        ),
    ],
    forward_to: Annotated[
        str | None,
        typer.Option(
            help="Proxy: send out-of-dialog requests to this SIP URI, e.g. sip:127.0.0.1:5090; "
            "B2BUA: place every call's leg B there. Its ;transport= picks the interface "
            "(none: the only listening transport, UDP when there are several)."
        ),
    ] = None,
    record_route: Annotated[
        bool, typer.Option(help="Proxy: stay on the dialog's path.")
    ] = True,
    ring_ms: Annotated[
        float, typer.Option(help="UAS: ring this long (180 first) before the final answer.")
    ] = 0.0,
    answer_code: Annotated[int, typer.Option(help="UAS: final answer, e.g. 200 or 486.")] = 200,
    srtp: Annotated[
        str,
        typer.Option(
            help="UAS: SDES-SRTP (RFC 4568) in its SDP answers: off (answer RTP/AVP offers only), "
            "optional (RTP/AVP or RTP/SAVP as offered) or required (a plain RTP offer gets 488). "
            "Every offer is answered in the 200 (PCMU/PCMA, telephone-event) or refused with 488."
        ),
    ] = "optional",
    max_dialog_age: Annotated[
        float | None,
        typer.Option(
            help="UAS: forget a call's dialog this many seconds after its INVITE when no BYE has "
            "come (default 7200 = 2 h; 0: keep until the BYE). A memory guard, not a session "
            "timer: no BYE is sent, and a later BYE gets 481. This UAS runs no RFC 4028 session "
            "timer (it ignores Session-Expires), so re-INVITE or UPDATE refreshes do not extend "
            "the age: set it above the longest call. Counted as dialogs_forgotten."
        ),
    ] = None,
    max_transactions: Annotated[
        int | None,
        typer.Option(
            help="Live transactions beyond which new requests get 503 with Retry-After."
        ),
    ] = None,
    retry_after: Annotated[
        int, typer.Option(help="Seconds in the Retry-After of every overload 503.")
    ] = 5,
    overload: Annotated[
        str,
        typer.Option(
            help="Overload signal: lag (ms a message waits, incl. the UDP receive queue), "
            "transactions (transactions in active states), off, or loss-based: RFC 7339 "
            "instead of 503s, steering active transactions towards --overload-high (the loss "
            "goes out as oc in the Via of responses; a proxy or B2BUA honours its --forward-to's "
            "oc by answering that share of new INVITEs 503 itself)."
        ),
    ] = "lag",
    overload_high: Annotated[
        float | None,
        typer.Option(
            help="Load that starts shedding new requests with 503 "
            "(default: 100 ms for lag, 1000 for transactions); loss-based: the active "
            "transactions it steers towards (default 1000)."
        ),
    ] = None,
    overload_low: Annotated[
        float | None,
        typer.Option(
            help="Load at or below which admission grows back and overload ends "
            "(default: 20 ms for lag, 800 for transactions; not for loss-based)."
        ),
    ] = None,
    log_every: Annotated[
        int, typer.Option(help="Print a progress line every N calls (0: never).")
    ] = 0,
    duration: Annotated[
        float | None,
        typer.Option(help="Stop after this many seconds (default: until SIGINT/SIGTERM)."),
    ] = None,
    message_timeout: Annotated[
        float | None,
        typer.Option(
            help="TCP/TLS: close a connection whose message is not complete this many seconds "
            "after its first byte (a peer trickling a header, slowloris; default 10). Counted "
            "as transport_message_timeouts."
        ),
    ] = None,
    max_connections_per_source: Annotated[
        int | None,
        typer.Option(
            help="TCP/TLS: incoming connections one source IP address may hold open; more are "
            "refused at once (default 128). Counted as transport_source_refused."
        ),
    ] = None,
    cert: Annotated[Path | None, typer.Option(help="TLS: certificate chain (PEM).")] = None,
    key: Annotated[Path | None, typer.Option(help="TLS: private key (PEM).")] = None,
    self_signed: Annotated[
        bool,
        typer.Option(
            "--self-signed",
            help="TLS: make a throwaway self-signed certificate and key for the tls: listen "
            "address(es) instead of --cert/--key (kept in a temporary directory while the "
            "server runs, then deleted; clients must skip verification or trust that file).",
        ),
    ] = False,
    seed: Annotated[
        int | None, typer.Option(help="Seed for tags and branches (default: fresh each run).")
    ] = None,
) -> None:
    """Run one SIP element on real sockets; print its counters on exit."""
    from sizing.cli.common import fail
    from sizing.net.server import ServeError, run_serve
    from sizing.net.tlsconfig import TlsConfigError

    addresses = _listen_addresses(listen)
    if (cert is None) != (key is None):
        fail("--cert and --key go together: give both for a tls: listen address")
    throwaway = None
    if self_signed:
        if cert is not None:
            fail("--self-signed makes its own certificate: give it or --cert/--key, not both")
        throwaway = tempfile.TemporaryDirectory(prefix="sizing-serve-")
        cert, key = _self_signed([a.host for a in addresses if a.transport == "TLS"],
                                 Path(throwaway.name))
    try:
        config = _serve_config(
            addresses, cert, key, role=role, forward_to=forward_to, record_route=record_route,
            ring_s=ring_ms / 1000.0, answer_code=answer_code, srtp=srtp,
            max_transactions=max_transactions, retry_after=retry_after, overload=overload,
            overload_high=overload_high, overload_low=overload_low, log_every=log_every,
            duration=duration, seed=seed, max_dialog_age=max_dialog_age,
            message_timeout=message_timeout, max_connections_per_source=max_connections_per_source,
        )
        run_serve(config)
    except (ServeError, OSError, TlsConfigError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass
    finally:
        if throwaway is not None:
            throwaway.cleanup()


def _listen_addresses(listen: list[str]) -> list:  # type: ignore[type-arg]
    """Every --listen address, or a clear exit naming the bad one."""
    from sizing.cli.common import parsed_address

    return [parsed_address("--listen", spec) for spec in listen]


def _serve_config(addresses: list, cert: Path | None, key: Path | None, *,  # type: ignore[type-arg]
                  overload: str, overload_high: float | None, overload_low: float | None,
                  max_dialog_age: float | None, message_timeout: float | None,
                  max_connections_per_source: int | None, **options):  # type: ignore[no-untyped-def]
    """The element's configuration; options left unset keep ServeConfig's defaults.
    Raises the errors a bad combination gives (ServeError, TlsConfigError, OverloadError)."""
    from sizing.cli.common import fail
    from sizing.net.overload import OverloadConfig, OverloadError
    from sizing.net.server import ServeConfig
    from sizing.net.tlsconfig import TlsConfig

    unset_default = {
        "max_dialog_age": max_dialog_age,
        "message_timeout": message_timeout,
        "max_connections_per_source": max_connections_per_source,
    }
    try:
        return ServeConfig(
            listen=addresses[0],
            also_listen=tuple(addresses[1:]),
            tls=TlsConfig(certfile=cert, keyfile=key) if cert is not None else None,
            overload=OverloadConfig(mode=overload, high=overload_high, low=overload_low),
            **options,
            **{name: value for name, value in unset_default.items() if value is not None},
        )
    except OverloadError as exc:
        fail(str(exc))


def _self_signed(hosts: list[str], directory: Path) -> tuple[Path, Path]:
    """``--self-signed``: a certificate and key for ``hosts`` in ``directory``, said on stderr."""
    from sizing.cli.common import fail
    from sizing.net.selfsigned import SelfSignedError, names_for, self_signed

    if not hosts:
        fail("--self-signed: no tls: --listen address to make a certificate for")
    try:
        cert, key = self_signed(hosts, directory)
    except SelfSignedError as exc:
        fail(str(exc))
    typer.echo(f"sizing serve: self-signed certificate for {', '.join(names_for(hosts))} in {cert} "
               "(deleted on exit)", err=True)
    return cert, key
