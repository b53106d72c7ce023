"""HA for every role in the closed form: pairs (replication link and CPU on both hosts)
and N+1 (one spare host)."""

from __future__ import annotations

import pytest

from sizing.plan import closed_form, plan
from sizing.scenario import ScenarioError, scenario_from_mapping


def _centre(cps: float = 5.0, **extra) -> object:
    data = {"traffic": {"calls_per_second": cps, "holding_time_s": 120},
            "trunk": {"channels": 2000},
            "endpoints": {"count": 1000, "expiry_s": 600}}
    for key, value in extra.items():
        data[key] = value
    return scenario_from_mapping(data)


def _pairs(**ha) -> dict:
    return {"sbc": {"ha": "pair"}, "proxy": {"ha": "pair"}, **ha}


def _link(cf, name: str) -> float:
    links = cf.links.set_index("link")
    return float(links.loc[name, "total_mbps"]) if name in links.index else 0.0


def test_existing_scenarios_have_no_standby():
    cf = closed_form(_centre())
    assert (cf.roles["standby_hosts"] == 0).all()
    assert not any(name.endswith("->standby") for name in cf.links["link"])


def test_a_pair_per_role_keeps_a_standby_per_active_host():
    s = _centre(topology=_pairs(proxy={"ha": "pair", "instances": 3}))
    roles = closed_form(s).roles.set_index("role")
    assert roles.loc["sbc", "standby_hosts"] == roles.loc["sbc", "hosts"]
    assert roles.loc["proxy", "standby_hosts"] == roles.loc["proxy", "hosts"]
    assert roles.loc["sip_server", "standby_hosts"] == 0
    assert "an HA pair per host" in roles.loc["sbc", "reason"]
    assert "each standby at" in roles.loc["proxy", "reason"]


def test_the_replication_link_and_the_standby_cpu_move_with_the_call_rate():
    low = closed_form(_centre(cps=5, topology=_pairs()))
    high = closed_form(_centre(cps=20, topology=_pairs()))
    # the SBC replicates per call: four times the calls, four times the link
    assert _link(high, "sbc->standby") == pytest.approx(4 * _link(low, "sbc->standby"))
    assert _link(low, "sbc->standby") > 0
    lo, hi = (cf.roles.set_index("role").loc["sbc"] for cf in (low, high))
    assert hi["standby_cpu_mean"] > lo["standby_cpu_mean"] > 0
    # the active host pays for sending the updates too
    assert hi["busy_cores"] > closed_form(_centre(cps=20)).roles.set_index("role").loc["sbc", "busy_cores"]


def test_the_proxy_replicates_its_registrations_not_its_transactions():
    s = _centre(topology=_pairs())
    few = closed_form(s)
    many = closed_form(_centre(topology=_pairs(), endpoints={"count": 4000, "expiry_s": 600}))
    # a transaction-stateful proxy (the default) sends only its REGISTER bindings
    assert _link(many, "proxy->standby") == pytest.approx(4 * _link(few, "proxy->standby"))
    dialog = closed_form(_centre(topology=_pairs(), ha={"proxy_bytes_per_call_event": 800}))
    assert _link(dialog, "proxy->standby") > _link(few, "proxy->standby")


def test_the_sip_server_standby_cpu_is_charged_in_the_closed_form():
    roles = closed_form(_centre(ha={"hot_standby": True})).roles.set_index("role")
    same = closed_form(_centre(topology={"sip_server": {"ha": "pair"}})).roles.set_index("role")
    assert roles.loc["sip_server", "standby_cpu_mean"] > 0
    assert roles.loc["sip_server", "standby_cpu_mean"] == same.loc["sip_server", "standby_cpu_mean"]


def test_n_plus_1_adds_exactly_one_host_and_says_why():
    base = plan(_centre(cps=40), simulate=False).deployment.set_index("role")
    spare = plan(_centre(cps=40, topology={"proxy": {"ha": "n_plus_1"}}),
                 simulate=False)
    dep = spare.deployment.set_index("role")
    assert dep.loc["proxy", "hosts"] == base.loc["proxy", "hosts"]
    assert dep.loc["proxy", "standby_hosts"] == 1
    assert dep.loc["proxy", "total_cores"] == base.loc["proxy", "total_cores"] \
        + base.loc["proxy", "cores_per_host"]
    n = int(dep.loc["proxy", "hosts"])
    assert f"({n} active, 1 spare: N+1)" in dep.loc["proxy", "reason"]
    assert "N+1: the hosts the load needs plus one spare" in dep.loc["proxy", "reason"]
    assert "+ 1 spare" in spare.summary()
    assert not any(name.startswith("proxy->standby") for name in spare.links["link"])


def test_a_hot_standby_and_n_plus_1_on_the_sip_server_are_refused():
    with pytest.raises(ScenarioError, match="ha.hot_standby"):
        _centre(ha={"hot_standby": True}, topology={"sip_server": {"ha": "n_plus_1"}})
