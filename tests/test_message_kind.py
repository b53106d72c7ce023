"""One order for tables keyed by message kind: the simulator, the closed form and the
profiles read a cost table alike (exact kind, status class, request/response, default)."""

from __future__ import annotations

import pytest

from sizing import analytic
from sizing.profile import CostProfile
from sizing.sim.host import TableProfile
from sizing.sip.kind import lookup, lookup_keys
from sizing.tls import TlsCost

TABLE = {"INVITE": 60.0, "180": 45.0, "2xx": 50.0, "request": 40.0, "response": 35.0, "default": 30.0}
EXPECTED = {"INVITE": 60.0, "invite": 60.0, "BYE": 40.0, "OPTIONS": 40.0, 180: 45.0, "183": 35.0,
            200: 50.0, "202": 50.0, 404: 35.0, "2xx": 50.0, "4xx": 35.0}


def test_keys_are_tried_exact_then_class_then_request_or_response_then_default() -> None:
    assert lookup_keys(183) == ("183", "1xx", "response", "default")
    assert lookup_keys("bye") == ("BYE", "request", "default")
    assert lookup_keys("2xx") == ("2xx", "response", "default")  # the closed form's keys
    with pytest.raises(KeyError, match=r"no entry for 'BYE' \(tried BYE, request, default\)"):
        lookup({"INVITE": 1.0}, "BYE")


@pytest.mark.parametrize(("kind", "cost"), sorted(EXPECTED.items(), key=str))
def test_the_simulator_the_closed_form_and_profiles_charge_the_same(kind: str | int, cost: float) -> None:
    profile = CostProfile.model_validate({"name": "t", "source": "test", "per_message_us": TABLE})
    table = TableProfile(TABLE, tls=TlsCost(0.0, 0.0, 0.0))
    assert lookup(TABLE, kind) == cost
    assert profile.per_message(kind) == cost
    assert table.message_cost_us(kind, 0, tls=False) == cost
    assert analytic._lookup(TABLE, str(kind), "per_message_us") == cost  # the closed form's reader


def test_request_and_default_disagreed_before_and_agree_now() -> None:
    # the case: {request: 40, default: 30} charged a BYE 40 µs in one place, 30 in another
    table = {"request": 40.0, "default": 30.0}
    assert TableProfile(table).message_cost_us("BYE", 0, tls=False) == 40.0
    assert analytic._lookup(table, "BYE", "t") == 40.0
