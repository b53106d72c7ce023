"""ManualClock, TimerConfig and Address: the driver-facing interfaces the engine relies on."""

from __future__ import annotations

import pytest

from sizing.sip.interfaces import Address, ManualClock, TimerConfig


def test_manual_clock_runs_callbacks_in_time_order_then_scheduling_order() -> None:
    clock = ManualClock()
    ran: list[str] = []
    clock.call_later(2, lambda: ran.append("late"))
    clock.call_later(1, lambda: ran.append("first"))
    clock.call_later(1, lambda: ran.append("second"))
    assert clock.advance(5) == 3
    assert ran == ["first", "second", "late"]
    assert clock.now() == 5


def test_manual_clock_runs_callbacks_scheduled_while_advancing_relative_to_their_time() -> None:
    clock = ManualClock()
    seen: list[float] = []

    def tick() -> None:
        seen.append(clock.now())
        if len(seen) < 3:
            clock.call_later(1.5, tick)

    clock.call_later(1, tick)
    clock.advance(10)
    assert seen == [1, 2.5, 4]


def test_manual_clock_skips_cancelled_callbacks() -> None:
    clock = ManualClock()
    ran: list[int] = []
    handle = clock.call_later(1, lambda: ran.append(1))
    handle.cancel()
    assert clock.advance(2) == 0
    assert ran == []
    assert clock.next_deadline() is None


def test_manual_clock_refuses_going_backwards() -> None:
    clock = ManualClock(10)
    with pytest.raises(ValueError, match="before now"):
        clock.advance_to(5)
    with pytest.raises(ValueError, match="delay must be >= 0"):
        clock.call_later(-1, lambda: None)


def test_timer_config_defaults_are_rfc3261_table_4() -> None:
    config = TimerConfig()
    assert (config.t1, config.t2, config.t4, config.timeout) == (0.5, 4.0, 5.0, 32.0)


def test_timer_config_names_the_bad_field() -> None:
    with pytest.raises(ValueError, match=r"TimerConfig.t1 must be a positive number, got 0"):
        TimerConfig(t1=0)
    with pytest.raises(ValueError, match=r"t2 \(0.1\) must not be less than t1"):
        TimerConfig(t2=0.1)


def test_address_normalises_transport_and_names_a_bad_port() -> None:
    assert Address("udp", "192.0.2.1", 5060).transport == "UDP"
    with pytest.raises(ValueError, match="Address port 70000"):
        Address("UDP", "192.0.2.1", 70000)
    with pytest.raises(ValueError, match="Address transport 'QUIC'"):
        Address("QUIC", "192.0.2.1", 5060)
