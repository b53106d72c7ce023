"""One vocabulary of message kinds and one cost lookup (sizing.sip.kind): the simulator's
charge, the closed form's cost, measurement's tallies and calibration's keys agree for
every kind, on every shape of profile (exact kind, status class, request/response, default)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import simpy

from sizing.measure.calibrate import fit_profile, load_measurements
from sizing.measure.loadgen import _Tally
from sizing.measure.sipp import parse_message_log
from sizing.models import analytic
from sizing.models.profile import CostProfile, per_message_us
from sizing.models.tls import TlsCost
from sizing.plan.messages import _by_wire_key
from sizing.sim import SimNetwork, TableProfile
from sizing.sip.interfaces import Address
from sizing.sip.kind import (
    call_kind,
    kind_class,
    lookup,
    lookup_keys,
    message_class,
    wire_key,
    wire_kind,
)

NO_TLS = TlsCost(0.0, 0.0, 0.0)
SRC = Address("UDP", "10.0.0.1", 5060)
DST = Address("UDP", "10.0.0.2", 5060)

TABLE = {"INVITE": 60.0, "180": 45.0, "2xx": 50.0, "request": 40.0, "response": 35.0, "default": 30.0}
EXPECTED = {"INVITE": 60.0, "invite": 60.0, "BYE": 40.0, "OPTIONS": 40.0, 180: 45.0, "183": 35.0,
            200: 50.0, "202": 50.0, 404: 35.0, "2xx": 50.0, "4xx": 35.0, "180 INVITE": 45.0,
            "re-INVITE": 60.0, "ACK re-INVITE": 40.0, "refresh 200 UPDATE": 50.0}

PROFILES = {
    "request and default": {"request": 40.0, "default": 30.0},
    "method, class, default": {"INVITE": 50.0, "2xx": 20.0, "default": 30.0},
    "every level": {"INVITE": 60.0, "180": 45.0, "1xx": 25.0, "response": 35.0, "request": 40.0,
                    "default": 30.0},
    "exact statuses": {"BYE": 70.0, "ACK": 10.0, "200": 15.0, "4xx": 80.0, "response": 5.0,
                       "default": 30.0},
    "default only": {"default": 30.0},
}

# (call kind, start line, CSeq, To tag): messages of calls on one link, in order
CALL = [
    ("INVITE", "INVITE sip:bob@b.example SIP/2.0", "1 INVITE", False),
    ("100 INVITE", "SIP/2.0 100 Trying", "1 INVITE", False),
    ("180 INVITE", "SIP/2.0 180 Ringing", "1 INVITE", True),
    ("183 INVITE", "SIP/2.0 183 Session Progress", "1 INVITE", True),
    ("200 INVITE", "SIP/2.0 200 OK", "1 INVITE", True),
    ("ACK", "ACK sip:bob@b.example SIP/2.0", "1 ACK", True),
    ("re-INVITE", "INVITE sip:bob@b.example SIP/2.0", "2 INVITE", True),
    ("100 re-INVITE", "SIP/2.0 100 Trying", "2 INVITE", True),
    ("200 re-INVITE", "SIP/2.0 200 OK", "2 INVITE", True),
    ("ACK re-INVITE", "ACK sip:bob@b.example SIP/2.0", "2 ACK", True),
    ("UPDATE", "UPDATE sip:bob@b.example SIP/2.0", "3 UPDATE", True),
    ("200 UPDATE", "SIP/2.0 200 OK", "3 UPDATE", True),
    ("REFER", "REFER sip:bob@b.example SIP/2.0", "4 REFER", True),
    ("202 REFER", "SIP/2.0 202 Accepted", "4 REFER", True),
    ("NOTIFY", "NOTIFY sip:alice@a.example SIP/2.0", "5 NOTIFY", True),
    ("200 NOTIFY", "SIP/2.0 200 OK", "5 NOTIFY", True),
    ("BYE", "BYE sip:bob@b.example SIP/2.0", "6 BYE", True),
    ("200 BYE", "SIP/2.0 200 OK", "6 BYE", True),
    ("CANCEL", "CANCEL sip:bob@b.example SIP/2.0", "1 CANCEL", False),
    ("200 CANCEL", "SIP/2.0 200 OK", "1 CANCEL", False),
    ("487 INVITE", "SIP/2.0 487 Request Terminated", "1 INVITE", True),
    ("486 INVITE", "SIP/2.0 486 Busy Here", "1 INVITE", True),
    ("503 INVITE", "SIP/2.0 503 Service Unavailable", "1 INVITE", True),
    ("OPTIONS", "OPTIONS sip:b.example SIP/2.0", "7 OPTIONS", False),
    ("200 OPTIONS", "SIP/2.0 200 OK", "7 OPTIONS", False),
    ("REGISTER", "REGISTER sip:b.example SIP/2.0", "8 REGISTER", False),
    ("401 REGISTER", "SIP/2.0 401 Unauthorized", "8 REGISTER", False),
    ("200 REGISTER", "SIP/2.0 200 OK", "8 REGISTER", False),
]


def _data(start: str, cseq: str, to_tag: bool) -> bytes:
    return (f"{start}\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{cseq.split()[0]}\r\n"
            f"From: <sip:alice@a.example>;tag=a1\r\nTo: <sip:bob@b.example>{';tag=b1' if to_tag else ''}\r\n"
            f"Call-ID: call-1\r\nCSeq: {cseq}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


MESSAGES = [(kind, _data(start, cseq, to_tag)) for kind, start, cseq, to_tag in CALL]
KINDS = [kind for kind, _ in MESSAGES]
CALL_KINDS = KINDS + [f"refresh {k}" for k in ("re-INVITE", "100 re-INVITE", "200 re-INVITE",
                                                "ACK re-INVITE", "UPDATE", "200 UPDATE")]


def simulator_charges_us(profile: object) -> list[float]:
    """CPU µs a simulated host with ``profile`` spends on each of :data:`MESSAGES`, one at a
    time, and the kind classes its metrics counted them under."""
    env = simpy.Environment()
    net = SimNetwork(env)
    net.add_host("src", SRC, profile=TableProfile({"default": 0.0}, tls=NO_TLS))
    host = net.add_host("srv", DST, profile=profile)
    tx = net.attach(SRC, lambda d, s: None)
    handled: list[float] = []
    net.attach(DST, lambda d, s: handled.append(env.now))
    charges = []
    for _, data in MESSAGES:
        start = env.now
        tx.send(data, DST)
        env.run()
        charges.append((handled[-1] - start) * 1e6)
    assert sorted(host.metrics.rx) == sorted({message_class(data) for _, data in MESSAGES})
    return charges


def closed_form_us(table: dict[str, float], kind: str) -> float:
    """CPU µs the closed form charges a role for one message of call kind ``kind`` per call
    (as :func:`sizing.plan.closed_form` hands its per-call counts to the estimate)."""
    est = analytic.estimate(analytic.EstimateInput(
        calls_per_second=1.0, mean_holding_s=1.0,
        flows=(analytic.Flow("calls", 1.0, {"srv": _by_wire_key({kind: 1.0})}),),
        cost_profiles={"srv": {"per_message_us": table}}, message_bytes={"default": 400}, codec=None))
    return est.cpu_cores["srv"] * 1e6


def _cost_profile(table: dict[str, float]) -> CostProfile:
    return CostProfile.model_validate({"name": "t", "source": "test", "per_message_us": table})


def test_keys_are_tried_exact_then_class_then_request_or_response_then_default() -> None:
    assert lookup_keys(183) == ("183", "1xx", "response", "default")
    assert lookup_keys("bye") == ("BYE", "request", "default")
    assert lookup_keys("2xx") == ("2xx", "response", "default")
    assert lookup_keys("180 re-INVITE") == ("180", "1xx", "response", "default")
    assert lookup_keys("refresh ACK re-INVITE") == ("ACK", "request", "default")
    with pytest.raises(KeyError, match=r"no entry for 'BYE' \(tried BYE, request, default\)"):
        lookup({"INVITE": 1.0}, "BYE")


def test_the_three_levels_name_each_message_of_a_call_alike() -> None:
    requests: dict[tuple[str, int], str] = {}
    for kind, data in MESSAGES:
        assert call_kind(data, requests) == kind
        assert wire_key(wire_kind(data)) == wire_key(kind)
        assert message_class(data) == kind_class(kind) == kind_class(wire_kind(data))
    assert wire_kind(b"SIP/2.0 18x Odd\r\n\r\n") == "other" and message_class(b"\r\n") == "other"
    assert kind_class(999) == "other"


@pytest.mark.parametrize(("kind", "cost"), sorted(EXPECTED.items(), key=str))
def test_every_reader_of_a_table_charges_the_same(kind: str | int, cost: float) -> None:
    table = TableProfile(TABLE, tls=NO_TLS)
    assert lookup(TABLE, kind) == per_message_us(TABLE, kind) == cost
    assert _cost_profile(TABLE).per_message(kind) == cost
    assert table.message_cost_us(kind, 0, tls=False) == cost
    assert table.message_cost_us(kind, 0, tls=False) == cost  # memoised: the same answer


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_the_simulator_and_the_closed_form_charge_every_kind_alike(name: str) -> None:
    table = PROFILES[name]
    expected = [lookup(table, wire_kind(data)) for _, data in MESSAGES]
    assert simulator_charges_us(TableProfile(table, tls=NO_TLS)) == pytest.approx(expected)
    assert simulator_charges_us(_cost_profile(table)) == pytest.approx(expected)
    for kind, cost in zip(KINDS, expected, strict=True):
        assert closed_form_us(table, kind) == pytest.approx(cost), kind
    for kind in CALL_KINDS:  # a session refresh's messages cost what the same messages do
        assert closed_form_us(table, kind) == pytest.approx(lookup(table, kind)), kind


def test_request_and_default_disagreed_before_and_agree_now() -> None:
    # {request: 40, default: 30} charged a BYE 40 µs in the simulator, 30 in the closed form
    table = {"request": 40.0, "default": 30.0}
    assert TableProfile(table).message_cost_us("BYE", 0, tls=False) == 40.0
    assert closed_form_us(table, "BYE") == pytest.approx(40.0)
    assert closed_form_us(table, "200 BYE") == pytest.approx(30.0)


def test_an_exact_status_prices_the_closed_forms_messages_as_the_simulators() -> None:
    table = {"180": 45.0, "1xx": 25.0, "default": 30.0}
    assert closed_form_us(table, "180 INVITE") == pytest.approx(45.0)
    assert closed_form_us(table, "100 INVITE") == pytest.approx(25.0)


def _log(messages: list[tuple[str, bytes]]) -> str:
    blocks = [f"----------------------------------------------- 2026-01-01 10:00:00.{i:06d}\n"
              f"UDP message received [{len(data)}] bytes :\n\n{data.decode().replace(chr(13), '')}"
              for i, (_, data) in enumerate(messages)]
    return "\n".join(blocks)


def test_measurement_tallies_each_message_under_the_simulators_class(tmp_path: Path) -> None:
    classes = Counter(kind_class(kind) for kind in KINDS)
    log = tmp_path / "messages.log"
    log.write_text(_log(MESSAGES))
    assert parse_message_log(log).received == classes  # SIPp's message log
    agent = _Tally()  # the load generator's
    for _, data in MESSAGES:
        agent.count(data, sent=False)
    assert agent.tally.received == classes


def test_a_calibrated_profile_prices_each_message_by_its_measured_class(tmp_path: Path) -> None:
    """Calibration fits a cost per column of measured counts (``messages_in_<class>``); the
    simulator and the closed form then charge every message its class's fitted cost."""
    classes = sorted({message_class(data) for _, data in MESSAGES})
    truth = {c: 20.0 + 10.0 * i for i, c in enumerate(classes)}
    counts = np.random.default_rng(3).integers(500, 5000, size=(3 * len(classes), len(classes)))
    frame = pd.DataFrame(counts, columns=[f"messages_in_{c}" for c in classes])
    frame.insert(0, "flow", "mix")
    frame.insert(1, "rate_cps", np.arange(len(frame)) + 1.0)
    frame.insert(2, "duration_s", 20.0)
    frame["cpu_seconds"] = 0.4 + counts @ np.array([truth[c] for c in classes]) / 1e6
    frame["valid"] = True
    path = tmp_path / "m.csv"
    frame.to_csv(path, index=False)
    profile = fit_profile(load_measurements([path]), "t").profile
    assert set(profile.per_message_us) == {*classes, "default"}
    fitted = [profile.per_message_us[message_class(data)] for _, data in MESSAGES]
    assert fitted == pytest.approx([truth[message_class(data)] for _, data in MESSAGES], rel=1e-3)
    idle = profile.model_copy(update={"static_core_fraction": 0.0})  # no background slice at t = 0
    assert simulator_charges_us(idle) == pytest.approx(fitted)
    table = dict(profile.per_message_us)
    assert [closed_form_us(table, kind) for kind in KINDS] == pytest.approx(fitted)
