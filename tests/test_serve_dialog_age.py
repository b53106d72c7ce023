"""`sizing serve --role uas --max-dialog-age`: a dialog whose BYE never comes is forgotten."""

from __future__ import annotations

import asyncio
import socket

import pytest

from sizing.cli.main import main
from sizing.net.agent import AgentConfig, AgentRunner
from sizing.net.server import DEFAULT_MAX_DIALOG_AGE, DialogAges, ServeConfig, ServeError, Server
from sizing.sip.interfaces import Address
from sizing.sip.ua import Call, CallEvent, CallState, ClientRequest
from sizing.sip.uri import URI

MAX_AGE = 0.3


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _until(condition, timeout_s: float = 2.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


async def _call_and_wait(hang_up_after: float | None, wait_s: float) -> tuple[dict[str, int], int | None]:
    """One call from our engine to a UAS on an ephemeral UDP port with MAX_AGE; hang up after
    ``hang_up_after`` s (None: never), BYE anyway after ``wait_s``. The server's counters once
    the caller stopped, and the status of the BYE."""
    config = ServeConfig(role="uas", listen=Address("UDP", "127.0.0.1", _free_udp_port()), seed=1,
                         max_dialog_age=MAX_AGE)
    server = await Server.start(config, out=lambda line: None)
    try:
        async with await AgentRunner.open(AgentConfig(user="alice")) as caller:
            call = caller.ua.invite(URI.parse(f"sip:uas@127.0.0.1:{server.local.port}"))
            await _until(lambda: call.state is CallState.CONFIRMED)
            await asyncio.sleep(hang_up_after if hang_up_after is not None else wait_s)
            bye: ClientRequest = caller.ua.bye(call)
            await _until(lambda: bye.response is not None)
            if hang_up_after is not None:
                await asyncio.sleep(wait_s - hang_up_after)
        return server.counters(), bye.status
    finally:
        await server.aclose()


def test_a_call_without_bye_is_forgotten_after_the_max_age_and_counted() -> None:
    counters, late_bye = asyncio.run(_call_and_wait(None, MAX_AGE * 2))
    assert (counters["dialogs_forgotten"], counters["live_dialogs"], counters["live_dialog_ages"]) == (1, 0, 0)
    assert late_bye == 481  # the UAS really forgot it


def test_a_call_ended_by_bye_is_not_forgotten() -> None:
    counters, bye = asyncio.run(_call_and_wait(0.05, MAX_AGE * 2))
    assert bye == 200
    assert (counters["dialogs_forgotten"], counters["uas_calls_ended"], counters["live_dialog_ages"]) == (0, 1, 0)


class _FakeCall:
    """What DialogAges reads of a call."""

    def __init__(self, *, final_sent: bool = True) -> None:
        self.final_sent = final_sent
        self.ended = False


def test_a_sweep_takes_only_the_due_calls_from_the_front() -> None:
    ages = DialogAges(10.0)
    calls = [_FakeCall() for _ in range(3)]
    for start, call in enumerate(calls):
        ages.started(call, float(start))  # type: ignore[arg-type]
    ages.event(calls[0], CallEvent(5.0, "ended"))  # type: ignore[arg-type]
    forgotten: list[Call] = []
    assert ages.sweep(11.5, forgotten.append) == 1
    assert forgotten == [calls[1]] and len(ages) == 1 and ages.forgotten == 1


def test_a_call_still_ringing_at_its_deadline_is_kept_another_max_age() -> None:
    ages = DialogAges(10.0)
    ringing = _FakeCall(final_sent=False)
    ages.started(ringing, 0.0)  # type: ignore[arg-type]
    assert ages.sweep(10.0, lambda call: None) == 0
    forgotten: list[Call] = []
    assert ages.sweep(19.9, forgotten.append) == 0 and len(ages) == 1
    ringing.final_sent = True
    assert ages.sweep(20.0, forgotten.append) == 1 and forgotten == [ringing]


@pytest.mark.parametrize(("fields", "message"), [
    ({"max_dialog_age": -1.0}, r"--max-dialog-age must be >= 0 seconds \(0: never\), got -1"),
    ({"role": "proxy", "forward_to": "sip:127.0.0.1:5090", "max_dialog_age": 60.0},
     "--max-dialog-age is only for --role uas, not proxy"),
    ({"ring_s": 2.0, "max_dialog_age": 1.0},
     r"--max-dialog-age \(1 s\) must be longer than --ring-ms \(2000 ms\)"),
])
def test_bad_max_dialog_age_names_the_option(fields: dict, message: str) -> None:
    settings = {"role": "uas", "listen": Address("UDP", "127.0.0.1", 5070)} | fields
    with pytest.raises(ServeError, match=message):
        ServeConfig(**settings)


def test_zero_disables_the_guard_and_the_default_is_two_hours() -> None:
    async def start(**fields: float) -> DialogAges | None:
        config = ServeConfig(role="uas", listen=Address("UDP", "127.0.0.1", _free_udp_port()), **fields)
        server = await Server.start(config, out=lambda line: None)
        await server.aclose()
        return server.dialog_ages

    ages = asyncio.run(start())
    assert ages is not None and ages.max_age == DEFAULT_MAX_DIALOG_AGE == 7200
    assert asyncio.run(start(max_dialog_age=0)) is None


def test_cli_rejects_a_negative_max_dialog_age_in_one_line(capsys) -> None:
    assert main(["serve", "--role", "uas", "--listen", "udp:127.0.0.1:5070", "--max-dialog-age", "-5"]) == 2
    assert "sizing: error: --max-dialog-age must be >= 0 seconds (0: never), got -5" in capsys.readouterr().err
