"""sizing.net.agent: the UserAgent on real loopback sockets, placing calls at a rate and registering."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from sizing.net.agent import (
    AgentConfig,
    AgentError,
    AgentRunner,
    CallOutcome,
    CallPlan,
    CallSummary,
    run_calls,
)
from sizing.net.server import ServeConfig, Server
from sizing.net.tlsconfig import TlsConfig
from sizing.sip.headers import NameAddr
from sizing.sip.interfaces import Address
from sizing.sip.ua import AnswerPolicy


def run(coro, limit: float = 15.0):
    async def bounded():
        async with asyncio.timeout(limit):
            return await coro
    return asyncio.run(bounded())


async def call_agent(callee_config: AgentConfig, caller_config: AgentConfig, calls: int, **plan: object):
    """Run ``calls`` calls from a caller agent to a callee agent; return (summary, callee calls)."""
    async with await AgentRunner.open(callee_config) as callee:
        local = callee.local
        params = "" if local.transport == "UDP" else f";transport={local.transport.lower()}"
        target = f"sip:{callee.ua.user}@{local.host}:{local.port}{params}"
        summary = await run_calls(caller_config, CallPlan(target, calls=calls, **plan))  # type: ignore[arg-type]
        return summary, len(callee.incoming)



def test_calls_over_udp_complete_and_reach_the_callee() -> None:
    summary, received = run(call_agent(AgentConfig(user="bob"), AgentConfig(), 10, rate=200.0))
    assert (summary.attempted, summary.completed, summary.unfinished, received) == (10, 10, 0, 10)
    assert summary.ok and summary.setup_ms(0.95) is not None


def test_calls_over_tcp_share_one_connection() -> None:
    summary, _ = run(call_agent(AgentConfig("tcp", user="bob"), AgentConfig("tcp"), 10, rate=200.0))
    assert summary.completed == 10
    assert summary.transport["connections_out"] == 1


def test_calls_over_tls_report_the_negotiated_version(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server = TlsConfig(certfile=cert, keyfile=key)
    client = TlsConfig(certfile=cert, keyfile=key, cafile=cert, max_version="1.2")
    summary, _ = run(call_agent(AgentConfig("tls", tls=server, user="bob"), AgentConfig("tls", tls=client), 3))
    assert summary.completed == 3
    assert summary.tls_versions == {"TLSv1.2": 1}


def test_tls_version_mismatch_fails_the_calls_promptly(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server = TlsConfig(certfile=cert, keyfile=key, max_version="1.2")
    client = TlsConfig(certfile=cert, keyfile=key, cafile=cert, min_version="1.3")
    summary, received = run(call_agent(AgentConfig("tls", tls=server, user="bob"),
                                       AgentConfig("tls", tls=client), 3, timeout_s=10.0))
    assert (summary.answered, summary.unfinished, received) == (0, 0, 0)
    assert summary.failed == {503: 3}
    assert summary.transport["handshake_failures"] >= 1
    assert summary.duration_s < 5


def test_rejected_calls_are_counted_by_status() -> None:
    callee = AgentConfig(user="bob", policy=AnswerPolicy(status=486))
    summary, _ = run(call_agent(callee, AgentConfig(), 4, rate=100.0))
    assert summary.failed == {486: 4}
    assert summary.completed == 0 and not summary.ok


def test_unanswered_calls_end_at_the_plan_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # receives, never answers
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        plan = CallPlan(f"sip:nobody@127.0.0.1:{port}", calls=3, rate=100.0, timeout_s=0.5)
        summary = run(run_calls(AgentConfig(), plan))
    assert summary.unfinished == 3
    assert summary.duration_s < 2


def test_calls_start_at_the_planned_rate() -> None:
    summary, _ = run(call_agent(AgentConfig(user="bob"), AgentConfig(), 5, rate=10.0))
    assert summary.completed == 5
    assert 0.4 <= summary.duration_s < 2


def test_hold_keeps_each_call_up_before_the_bye() -> None:
    summary, _ = run(call_agent(AgentConfig(user="bob"), AgentConfig(), 2, rate=100.0, hold_s=0.3))
    assert summary.completed == 2
    assert summary.duration_s >= 0.3


def test_register_with_our_registrar_returns_our_contact() -> None:
    async def scenario():
        registrar = await Server.start(
            ServeConfig(role="registrar", listen=Address("UDP", "127.0.0.1", _free_udp_port())),
            out=lambda line: None,
        )
        try:
            async with await AgentRunner.open(AgentConfig(user="alice")) as alice:
                local = registrar.local
                outcome = await alice.register(f"sip:{local.host}:{local.port}",
                                               aor="sip:alice@example.com", expires=60)
                return outcome, alice.ua.contact
        finally:
            await registrar.aclose()

    outcome, contact = run(scenario())
    assert outcome.ok and outcome.granted == 60
    assert [NameAddr.parse(c).uri.equivalent(contact) for c in outcome.contacts] == [True]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_summary_quantiles_use_nearest_rank() -> None:
    calls = tuple(CallOutcome(str(i), 200, setup / 1000, (), 200) for i, setup in enumerate([4, 1, 3, 2]))
    summary = CallSummary(calls + (CallOutcome("x", 503, 0.001),), duration_s=1.0)
    assert [summary.setup_ms(q) for q in (0.0, 0.5, 0.75, 1.0)] == pytest.approx([1.0, 2.0, 3.0, 4.0])
    assert summary.as_dict()["failed_503"] == 1


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: AgentConfig(transport="sctp"), "AgentConfig.transport"),
        (lambda: AgentConfig(port=70000), "AgentConfig.port"),
        (lambda: AgentConfig(transport="tls"), "AgentConfig.tls"),
        (lambda: AgentConfig(user="a@b"), "AgentConfig.user"),
        (lambda: AgentConfig(outbound_proxy="not a uri"), "AgentConfig.outbound_proxy"),
        (lambda: CallPlan("mailto:someone@example.com"), "CallPlan.target"),
        (lambda: CallPlan("sip:a@127.0.0.1", calls=0), "CallPlan.calls"),
        (lambda: CallPlan("sip:a@127.0.0.1", rate=0), "CallPlan.rate"),
        (lambda: CallPlan("sip:a@127.0.0.1", hold_s=-1), "CallPlan.hold_s"),
        (lambda: CallPlan("sip:a@127.0.0.1", timeout_s=float("nan")), "CallPlan.timeout_s"),
    ],
)
def test_bad_settings_name_the_field(build, field: str) -> None:
    with pytest.raises(AgentError, match=field.replace(".", r"\.")):
        build()
