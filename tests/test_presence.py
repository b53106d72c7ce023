"""Busy lamps: SUBSCRIBE/NOTIFY of the dialog event package (RFC 6665, RFC 4235) on the loopback network."""

from __future__ import annotations

import pytest

from sizing.sip.interfaces import Address, ManualClock
from sizing.sip.loopback import LoopbackNetwork, attach_layer, summarize
from sizing.sip.presence import DIALOG_INFO, Watcher
from sizing.sip.registrar import Registrar
from sizing.sip.uri import URI

PHONE = Address("UDP", "10.0.0.1", 5060)
REG = Address("UDP", "10.0.0.9", 5060)
AGENT = URI("sip", user="agent7", host="cc.example")


class Net:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.network = LoopbackNetwork(self.clock, latency_s=0.01)
        self.registrar = Registrar(self.clock, seed=9)
        transport = attach_layer(self.network, REG, self.registrar.layer)
        self.notifier = self.registrar.enable_presence(REG, transport)
        self.watcher = Watcher(self.clock, PHONE, seed=3)
        self.watcher.connect(self.network)

    def log(self) -> list[str]:
        return [summarize(e.data) for e in self.network.log]


@pytest.fixture
def net() -> Net:
    return Net()


def test_a_subscription_is_answered_200_then_notified_with_the_full_state(net: Net) -> None:
    net.watcher.subscribe(AGENT, REG, 3600)
    net.clock.advance(1)
    assert net.log() == ["SUBSCRIBE", "200", "NOTIFY", "200"]
    notify = next(e for e in net.network.log if summarize(e.data) == "NOTIFY")
    text = notify.data.decode()
    assert "Event: dialog" in text and "Subscription-State: active;expires=3600" in text
    assert DIALOG_INFO in text and 'state="full"' in text
    assert net.watcher.notified == 1 and len(net.notifier) == 1


def test_a_refresh_in_the_dialog_gets_200_and_a_notify_again(net: Net) -> None:
    key = net.watcher.subscribe(AGENT, REG, 3600)
    net.clock.advance(1)
    net.watcher.subscribe(AGENT, REG, 3600, dialog=key)
    net.clock.advance(1)
    assert net.log() == ["SUBSCRIBE", "200", "NOTIFY", "200"] * 2
    subscribes = [e.data.decode() for e in net.network.log if summarize(e.data) == "SUBSCRIBE"]
    assert "tag=" in subscribes[1].split("To:")[1].splitlines()[0]  # in the subscription's dialog
    assert len(net.notifier) == 1 and net.notifier.stats.subscribes == 2


def test_each_state_change_notifies_every_current_watcher(net: Net) -> None:
    for _ in range(3):
        net.watcher.subscribe(AGENT, REG, 3600)
    net.clock.advance(1)
    before = len(net.network.log)
    for state in ("early", "confirmed", "terminated"):
        assert net.notifier.changed("agent7", state, "call-1") == 3
    assert net.notifier.changed("agent8", "early") == 0  # nobody watches it
    net.clock.advance(1)
    assert net.log()[before:].count("NOTIFY") == 9 and net.log()[before:].count("200") == 9
    assert net.watcher.notified == 3 + 9


def test_a_lapsed_subscription_gets_no_more_notifies(net: Net) -> None:
    net.watcher.subscribe(AGENT, REG, 60)
    net.clock.advance(61)
    assert net.notifier.changed("agent7", "early") == 0
    assert len(net.notifier) == 0


def test_another_event_package_is_refused_489(net: Net) -> None:
    from sizing.sip.message import Request

    sub = net.watcher
    request = Request("SUBSCRIBE", AGENT, [
        ("Via", sub._via(REG)), ("Max-Forwards", "70"), ("From", "<sip:w@10.0.0.1>;tag=x1"),
        ("To", f"<{AGENT}>"), ("Call-ID", "c1"), ("CSeq", "1 SUBSCRIBE"), ("Contact", "<sip:w@10.0.0.1>"),
        ("Event", "presence"), ("Expires", "60")])
    sub._start_client(request, REG, lambda *_: None)
    net.clock.advance(1)
    assert net.log() == ["SUBSCRIBE", "489"]
