"""``sizing load``: the project's own rate-controlled SIP load generator, on real sockets.

It drives the engine's UserAgent through :class:`sizing.net.agent.AgentRunner`
over UDP, TCP or TLS (Debian's SIPp has no TLS), and reports what SIPp's
statistics report: successful and failed calls, retransmissions, response
times, and every message it sent and received by kind with its bytes, so
:mod:`sizing.measure` can attribute the target's CPU to messages exactly as it
does with SIPp's message log.

Flows (a "call" of register and options is one transaction):

- ``basic-call``: INVITE (SDP offer) / 1xx / 200 / ACK, hold, BYE / 200;
- ``register``: one REGISTER of a fresh address-of-record per call;
- ``options``: one out-of-dialog OPTIONS per call.

Requests go to the target (the first hop); ``request_uri`` says where they are
addressed, e.g. a UAS behind a proxy target.

``connections``: over TCP and TLS, ``shared`` (the default) carries every call
on one connection, as a trunk or an SBC does; ``per-call`` opens a fresh
connection (a full TLS handshake) for each call and closes it after, as phones
that do not keep their connection do. Measuring both separates the target's
handshake cost from its per-message cost (``sizing calibrate`` fits
``tls.handshake_full_us`` from the ``tls_handshakes_full`` column).
"""

from __future__ import annotations

import asyncio
import math
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sizing.measure.sipp import MessageTally
from sizing.net.address import socket_host
from sizing.net.agent import AgentConfig, AgentError, AgentRunner, CallPlan, CallSummary
from sizing.net.tlsconfig import TlsConfig, TlsConfigError
from sizing.sip.interfaces import Address
from sizing.sip.kind import message_class
from sizing.sip.sdp import Capabilities
from sizing.sip.ua import ClientRequest

__all__ = ["CONNECTION_MODES", "LOAD_FLOWS", "LoadConfig", "LoadError", "LoadSummary", "run_load", "run_load_async"]

LOAD_FLOWS = ("basic-call", "register", "options")
CONNECTION_MODES = ("shared", "per-call")
#: Seconds a run waits for the last answers after its last call started (beyond the hold time).
GRACE_S = 10.0
T = TypeVar("T")


class LoadError(ValueError):
    """A load run that cannot start; the message names the option and what is wrong."""


@dataclass(frozen=True)
class LoadConfig:
    """What ``sizing load`` runs; validated on creation (LoadError naming the option)."""

    target: Address
    rate: float
    duration_s: float
    flow: str = "basic-call"
    hold_s: float = 0.0
    request_uri: str | None = None
    """Where requests are addressed (default ``sip:service@`` the target)."""
    cafile: Path | None = None
    insecure: bool = False
    tls_version: str | None = None
    """Force TLS "1.2" or "1.3" (default: negotiate, 1.2 to 1.3)."""
    certfile: Path | None = None
    keyfile: Path | None = None
    """The agent's own certificate over TLS (it listens); default a throw-away self-signed one."""
    codec: str = "PCMU"
    local_host: str | None = None
    connections: str = "shared"
    """TCP/TLS: ``shared`` (one connection for every call) or ``per-call`` (a new one each)."""

    def __post_init__(self) -> None:
        if self.flow not in LOAD_FLOWS:
            raise LoadError(f"--flow: unknown flow {self.flow!r}; known: {', '.join(LOAD_FLOWS)}")
        if self.connections not in CONNECTION_MODES:
            raise LoadError(f"--connections: {self.connections!r} is not one of {', '.join(CONNECTION_MODES)}")
        if self.connections == "per-call" and self.target.transport == "UDP":
            raise LoadError("--connections per-call needs a tcp: or tls: target (UDP has no connections)")
        if not (math.isfinite(self.rate) and 0 < self.rate < 1e6):
            raise LoadError(f"--rate: must be a positive number of calls/s, got {self.rate:g}")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise LoadError(f"--duration: must be positive seconds, got {self.duration_s:g}")
        if not (math.isfinite(self.hold_s) and self.hold_s >= 0):
            raise LoadError(f"--hold: must be >= 0 seconds, got {self.hold_s:g}")
        if self.target.transport != "TLS" and (self.cafile or self.insecure or self.tls_version
                                               or self.certfile):
            raise LoadError("--cafile, --insecure, --tls-version and --cert are for tls: targets only")
        if self.tls_version is not None and self.tls_version not in ("1.2", "1.3"):
            raise LoadError(f"--tls-version: {self.tls_version!r} is not 1.2 or 1.3")
        if (self.certfile is None) != (self.keyfile is None):
            raise LoadError("--cert and --key go together")

    @property
    def calls(self) -> int:
        return max(1, round(self.rate * self.duration_s))

    @property
    def uri(self) -> str:
        if self.request_uri is not None:
            return self.request_uri
        host = self.target.host
        return f"sip:service@{host}:{self.target.port}" + (";transport=tls" if self.target.transport == "TLS"
                                                           else ";transport=tcp" if self.target.transport == "TCP"
                                                           else "")


@dataclass
class LoadSummary:
    """What a load run did, in SIPp's terms; ``as_dict()`` gives one flat row."""

    flow: str
    target: str
    rate: float
    attempted: int
    ok: int
    failed: dict[int, int]
    """Calls (transactions) that ended with a final non-2xx, by status."""
    unfinished: int
    retransmissions: int
    response_ms: list[float]
    """Request (INVITE, REGISTER, OPTIONS) to final response, ms, of every answered call."""
    duration_s: float
    tally: MessageTally = field(default_factory=MessageTally)
    tls_versions: dict[str, int] = field(default_factory=dict)
    handshakes: dict[str, int] = field(default_factory=dict)
    """TLS handshakes our side made: full and resumed."""
    local: Address | None = None
    """The address the agent sent from and listened on."""

    @property
    def calls_failed(self) -> int:
        return sum(self.failed.values()) + self.unfinished

    def response_time_ms(self, quantile: float) -> float:
        """Response time at ``quantile`` (nearest rank), ms; NaN without answers."""
        times = sorted(self.response_ms)
        if not times:
            return math.nan
        return times[min(len(times) - 1, max(0, math.ceil(quantile * len(times)) - 1))]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "flow": self.flow, "target": self.target, "rate_cps": self.rate,
            "calls_attempted": self.attempted, "calls_ok": self.ok, "calls_failed": self.calls_failed,
            "calls_unfinished": self.unfinished, "retransmissions": self.retransmissions,
            "response_ms_p50": self.response_time_ms(0.5), "response_ms_p95": self.response_time_ms(0.95),
            "duration_s": round(self.duration_s, 3),
            "achieved_cps": round(self.attempted / self.duration_s, 3) if self.duration_s else math.nan,
            "messages_sent": sum(self.tally.sent.values()),
            "messages_received": sum(self.tally.received.values()),
            "bytes_sent": self.tally.bytes_sent, "bytes_received": self.tally.bytes_received,
        }
        out |= {f"failed_{status}": n for status, n in sorted(self.failed.items())}
        out |= {f"sent_{k}": n for k, n in sorted(self.tally.sent.items())}
        out |= {f"received_{k}": n for k, n in sorted(self.tally.received.items())}
        out |= {f"tls_{v}": n for v, n in sorted(self.tls_versions.items())}
        out |= {f"tls_handshakes_{k}": n for k, n in sorted(self.handshakes.items())}
        return out

    def report(self) -> str:
        """A SIPp-like summary screen."""
        def kinds(counter: Counter[str]) -> str:
            return ", ".join(f"{k} {n}" for k, n in sorted(counter.items())) or "none"

        failed = ", ".join(f"{s}: {n}" for s, n in sorted(self.failed.items()))
        lines = [
            f"{self.flow} to {self.target} at {self.rate:g} calls/s",
            f"  calls attempted      {self.attempted:>10}",
            f"  successful calls     {self.ok:>10}",
            f"  failed calls         {sum(self.failed.values()):>10}" + (f"  ({failed})" if failed else ""),
            f"  unfinished calls     {self.unfinished:>10}",
            f"  retransmissions      {self.retransmissions:>10}",
            f"  response time p50    {self.response_time_ms(0.5):>10.2f} ms",
            f"  response time p95    {self.response_time_ms(0.95):>10.2f} ms",
            f"  elapsed              {self.duration_s:>10.2f} s "
            f"({self.attempted / self.duration_s if self.duration_s else 0:.1f} calls/s started)",
            f"  messages sent        {sum(self.tally.sent.values()):>10}  ({kinds(self.tally.sent)}), "
            f"{self.tally.bytes_sent:,} bytes",
            f"  messages received    {sum(self.tally.received.values()):>10}  ({kinds(self.tally.received)}), "
            f"{self.tally.bytes_received:,} bytes",
        ]
        if self.tls_versions:
            lines.append(f"  TLS                  {', '.join(f'{v} x{n}' for v, n in self.tls_versions.items())}"
                         f", handshakes {self.handshakes.get('full', 0)} full, "
                         f"{self.handshakes.get('resumed', 0)} resumed")
        return "\n".join(lines)


class _Tally:
    """Counts every message the agent sends and receives, by kind, with its bytes."""

    def __init__(self) -> None:
        self.tally = MessageTally()

    def count(self, data: bytes, sent: bool) -> None:
        line = data.split(b"\r\n", 1)[0].decode("latin-1").strip()
        if not line:
            return  # keep-alive
        kind = message_class(line)
        if sent:
            self.tally.sent[kind] += 1
            self.tally.bytes_sent += len(data)
        else:
            self.tally.received[kind] += 1
            self.tally.bytes_received += len(data)


class _CountingTransport:
    """The agent's transport with every message sent counted; everything else delegated."""

    def __init__(self, inner: Any, tally: _Tally) -> None:
        self._inner, self._tally = inner, tally

    def send(self, data: bytes, dest: Address) -> None:
        self._inner.send(data, dest)
        self._tally.count(data, sent=True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _LoadRunner(AgentRunner):
    """An AgentRunner whose received messages are counted too."""

    tally: _Tally

    def _received(self, data, source, connection):  # type: ignore[no-untyped-def]
        self.tally.count(data, sent=False)
        super()._received(data, source, connection)


def _local_host(target: Address) -> str:
    host = socket_host(target.host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((host, target.port))
            return sock.getsockname()[0]
    except OSError as exc:
        raise LoadError(f"--target: no route to {target.host}: {exc.strerror or exc}") from None


def _throwaway_cert(directory: Path, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for the agent's own TLS listener (made with openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise LoadError("a tls: target needs --cert/--key for the agent's listener, "
                        "or openssl on PATH to make a throw-away one")
    cert, key = directory / "agent.crt", directory / "agent.key"
    san = f"IP:{host}" if host.replace(".", "").isdigit() or ":" in host else f"DNS:{host}"
    result = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=sizing-load", "-addext", f"subjectAltName={san}",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True, timeout=30,
    )
    if result.returncode != 0:
        raise LoadError(f"openssl could not make a certificate: {result.stderr.strip()[:200]}")
    return cert, key


def _agent_config(config: LoadConfig, workdir: Path) -> AgentConfig:
    host = config.local_host or _local_host(config.target)
    tls = None
    if config.target.transport == "TLS":
        cert, key = ((config.certfile, config.keyfile) if config.certfile is not None
                     else _throwaway_cert(workdir, host))
        version = config.tls_version
        tls = TlsConfig(certfile=cert, keyfile=key, cafile=config.cafile, verify_server=not config.insecure,
                        min_version=version or "1.2", max_version=version or "1.3")
        try:
            tls.client_context()
        except TlsConfigError as exc:
            raise LoadError(f"--cafile/--cert: {exc}") from None
    target = config.target
    params = "" if target.transport == "UDP" else f";transport={target.transport.lower()}"
    try:
        return AgentConfig(transport=target.transport.lower(), host=host, tls=tls, user="load",
                           outbound_proxy=f"sip:{target.host}:{target.port}{params}")
    except AgentError as exc:
        raise LoadError(f"--target: {exc}") from None


async def run_load_async(config: LoadConfig) -> LoadSummary:
    """Run ``config`` on the running event loop and summarise."""
    with tempfile.TemporaryDirectory(prefix="sizing-load-") as tmp:
        agent = _agent_config(config, Path(tmp))
        tally = _Tally()
        if config.connections == "per-call":
            return await _per_call(config, agent, tally)
        runner = await _open(config, agent, tally)
        async with runner:
            started = time.monotonic()
            if config.flow == "basic-call":
                summary = await _calls(runner, config)
            else:
                summary = await _transactions(runner, config)
            summary.duration_s = time.monotonic() - started
            _runner_figures(summary, runner, config)
        summary.tally = tally.tally
        return summary


async def _open(config: LoadConfig, agent: AgentConfig, tally: _Tally) -> _LoadRunner:
    """A runner on a fresh local port whose messages are counted into ``tally``."""
    try:
        runner = await _LoadRunner.open(agent)
    except OSError as exc:
        raise LoadError(f"cannot open a {config.target.transport} socket on {agent.host}: "
                        f"{exc.strerror or exc}") from None
    runner.tally = tally
    runner.ua.transport = _CountingTransport(runner.transport, tally)
    runner.ua.capabilities = Capabilities(codecs=[config.codec])
    return runner


def _runner_figures(summary: LoadSummary, runner: AgentRunner, config: LoadConfig) -> None:
    """Add one runner's retransmissions, TLS versions and handshakes to ``summary``."""
    summary.retransmissions += runner.ua.layer.stats.retransmissions_sent
    for version, n in runner.tls_versions().items():
        summary.tls_versions[version] = summary.tls_versions.get(version, 0) + n
    if runner.transport is not None and config.target.transport == "TLS":
        counters = runner.transport.counters
        for kind, n in (("full", counters.handshakes_full), ("resumed", counters.handshakes_resumed)):
            summary.handshakes[kind] = summary.handshakes.get(kind, 0) + n
    summary.local = runner.local


async def _per_call(config: LoadConfig, agent: AgentConfig, tally: _Tally) -> LoadSummary:
    """Every call (transaction) on a runner of its own: its own connection, opened and closed."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + config.duration_s + config.hold_s + GRACE_S
    summary = _summary(config)

    async def one(index: int) -> None:
        runner = await _open(config, agent, tally)
        async with runner:
            if config.flow == "basic-call":
                plan = CallPlan(config.uri, calls=1, rate=1.0, hold_s=config.hold_s,
                                timeout_s=max(0.001, deadline - loop.time()))
                _add_calls(summary, await runner.place_calls(plan))
            else:
                _add_transaction(summary, *await _transaction(runner, config, index, deadline))
            _runner_figures(summary, runner, config)

    await _paced(config, start, one)
    summary.duration_s = loop.time() - start
    summary.tally = tally.tally
    return summary


def _summary(config: LoadConfig) -> LoadSummary:
    target = f"{config.target.transport.lower()}:{config.target.host}:{config.target.port}"
    return LoadSummary(config.flow, target, config.rate, 0, 0, {}, 0, 0, [], 0.0)


async def _calls(runner: AgentRunner, config: LoadConfig) -> LoadSummary:
    plan = CallPlan(config.uri, calls=config.calls, rate=config.rate, hold_s=config.hold_s,
                    timeout_s=config.duration_s + config.hold_s + GRACE_S)
    summary = _summary(config)
    _add_calls(summary, await runner.place_calls(plan))
    return summary


def _add_calls(summary: LoadSummary, result: CallSummary) -> None:
    """Count ``result``'s calls into ``summary`` (SIPp's notion of a failed call)."""
    summary.attempted += result.attempted
    summary.ok += result.completed
    failed: Counter[int] = Counter(summary.failed)
    failed.update(result.failed)
    # answered, but the BYE failed or went unanswered: the call did not complete
    for call in result.calls:
        if call.answered and not call.completed:
            failed[call.bye_status or 408] += 1
    summary.failed = dict(failed)
    summary.unfinished += result.unfinished
    summary.response_ms += [c.setup_s * 1000 for c in result.calls if c.setup_s is not None]


def _add_transaction(summary: LoadSummary, status: int | None, ms: float | None) -> None:
    summary.attempted += 1
    if status is None:
        summary.unfinished += 1
    elif 200 <= status < 300:
        summary.ok += 1
    else:
        summary.failed[status] = summary.failed.get(status, 0) + 1
    if ms is not None:
        summary.response_ms.append(ms)


async def _transaction(runner: AgentRunner, config: LoadConfig, index: int,
                       deadline: float) -> tuple[int | None, float | None]:
    """One REGISTER (of a fresh address-of-record) or OPTIONS: its final status and response time."""
    loop = asyncio.get_running_loop()
    target = config.target
    host = f"{target.host}:{target.port}"
    done: asyncio.Future[int] = loop.create_future()
    sent = loop.time()
    if config.flow == "register":
        reg = runner.ua.register(config.request_uri or f"sip:{host}", aor=f"sip:load{index}@{host}")

        def changed(_reg: object) -> None:
            if not done.done() and reg.status is not None:
                done.set_result(reg.status)

        reg.on_change = changed
        if reg.status is not None and not done.done():
            done.set_result(reg.status)
    else:
        client: ClientRequest = runner.ua.options(config.uri)

        def answered(_client: ClientRequest, response: Any) -> None:
            if not done.done():
                done.set_result(response.status)

        client.on_response = answered
        if client.response is not None and not done.done():
            done.set_result(client.response.status)
    try:
        status = await asyncio.wait_for(done, max(0.0, deadline - loop.time()))
    except TimeoutError:
        return None, None
    return status, (loop.time() - sent) * 1000


async def _transactions(runner: AgentRunner, config: LoadConfig) -> LoadSummary:
    """REGISTER or OPTIONS transactions at the configured rate, each awaited to its final answer."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + config.duration_s + GRACE_S
    summary = _summary(config)
    for status, ms in await _paced(config, start, lambda i: _transaction(runner, config, i, deadline)):
        _add_transaction(summary, status, ms)
    return summary


async def _paced(config: LoadConfig, start: float, job: Callable[[int], Awaitable[T]]) -> list[T]:
    """Start ``job(0)``, ``job(1)``, ... at ``config.rate`` per second from ``start`` (loop time);
    their results in order once all are done."""
    loop = asyncio.get_running_loop()
    tasks = []
    for index in range(config.calls):
        delay = start + index / config.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(loop.create_task(job(index)))
    return list(await asyncio.gather(*tasks))


def run_load(config: LoadConfig) -> LoadSummary:
    """Run ``config`` in a fresh event loop (the blocking form)."""
    return asyncio.run(run_load_async(config))
