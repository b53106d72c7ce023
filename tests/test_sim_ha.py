"""HA in the simulator: replication to a pair's standby, N+1 spares, and a host failing
at a given time (calls kept by a pair, lost without one; the re-registration storm)."""

from __future__ import annotations

import pandas as pd
import pytest
import simpy

from sizing.scenario import ScenarioError, scenario_from_mapping
from sizing.sim.simulate import run_replication
from sizing.sim.topology import build_topology


def _centre(cps: float = 3.0, topology: dict | None = None, faults: list | None = None,
            **extra) -> object:
    data = {"traffic": {"calls_per_second": cps, "holding_time_s": 20},
            "trunk": {"channels": 1000}, "duration_s": 40, "agents": {"count": 0},
            "endpoints": {"count": 300, "expiry_s": 600},
            "topology": topology or {}}
    data.update(extra)
    if faults is not None:
        data["simulation"] = {"faults": faults}
    return scenario_from_mapping(data)


def _run(scenario) -> dict:
    return run_replication(scenario, 1)


def _link_kbps(run: dict, src: str, dst: str) -> float:
    links = pd.DataFrame(run["links"])
    row = links[(links["src"] == src) & (links["dst"] == dst)]
    return float(row["total_kbps"].sum())


def _cpu(run: dict, host: str) -> float:
    hosts = pd.DataFrame(run["hosts"]).set_index("name")
    return float(hosts.loc[host, "cpu_mean"])


def test_pairs_and_spares_are_hosts_of_their_own():
    topo = build_topology(_centre(topology={"sbc": {"ha": "pair", "instances": 2},
                                            "proxy": {"ha": "n_plus_1"}}),
                          simpy.Environment(), seed=1)
    assert set(topo.standbys) == {"sbc-1", "sbc-2"}
    assert topo.roles()["sbc-2-standby"] == "sbc_standby"
    assert [n.name for n in topo.proxies] == ["proxy-1", "proxy-2"]
    assert topo.spares["proxy"].name == "proxy-spare"
    assert "proxy-spare" in topo.net.hosts and "sip_server-1-standby" not in topo.net.hosts


def test_the_replication_link_and_the_standby_cpu_move_with_the_call_rate():
    pairs = {"sbc": {"ha": "pair"}, "proxy": {"ha": "pair", "instances": 1}}
    low, high = (_run(_centre(cps=cps, topology=pairs)) for cps in (2, 8))
    slow, fast = (_link_kbps(r, "sbc-1", "sbc-1-standby") for r in (low, high))
    assert slow > 0
    assert fast == pytest.approx(4 * slow, rel=0.25)
    assert _cpu(high, "sbc-1-standby") > _cpu(low, "sbc-1-standby")
    # the proxy replicates the REGISTERs it holds, whatever the call rate
    assert _link_kbps(low, "proxy-1", "proxy-1-standby") > 0
    assert _link_kbps(high, "proxy-1", "proxy-1-standby") == pytest.approx(
        _link_kbps(low, "proxy-1", "proxy-1-standby"), rel=0.05)


def _fault(role: str, mode: str) -> object:
    topology = {"sbc": {"instances": 2}, "proxy": {"instances": 2}}
    topology[role] = {**topology.get(role, {}), "ha": mode}
    # 85 s after the fault: most calls in progress end, a lost BYE times out (32 s)
    return _centre(topology=topology, faults=[{"role": role, "at_s": 5}], duration_s=90)


def test_a_pair_keeps_the_calls_in_progress_of_a_failed_sbc():
    kpis = _run(_fault("sbc", "pair"))["kpis"]
    assert kpis["fault1_calls_in_progress"] > 10
    assert kpis["fault1_calls_lost"] == 0
    assert kpis["fault1_calls_kept"] > 0.7 * kpis["fault1_calls_in_progress"]


def test_without_ha_a_failed_sbc_loses_its_calls_in_progress():
    kpis = _run(_fault("sbc", "none"))["kpis"]
    assert kpis["fault1_calls_in_progress"] > 10
    assert kpis["fault1_calls_kept"] == 0
    assert kpis["fault1_calls_lost"] > 0.7 * kpis["fault1_calls_in_progress"]


def test_a_failed_proxy_without_ha_sends_its_phones_to_re_register_on_the_survivor():
    alone = _run(_fault("proxy", "none"))
    paired = _run(_fault("proxy", "pair"))
    # every phone whose binding the failed proxy held: about half of the 300
    assert 100 < alone["kpis"]["fault1_reregistrations"] < 200
    assert paired["kpis"]["fault1_reregistrations"] == 0
    assert alone["kpis"]["fault1_survivor_cpu_peak"] > 0


def test_a_fault_that_leaves_a_role_without_a_host_is_refused():
    with pytest.raises(ScenarioError, match="simulation.faults.0.role"):
        _centre(faults=[{"role": "sip_server", "at_s": 5}])
    _centre(topology={"sip_server": {"ha": "n_plus_1"}}, faults=[{"role": "sip_server", "at_s": 5}])
    with pytest.raises(ScenarioError, match="simulation.faults.0.at_s"):
        _centre(topology={"sip_server": {"ha": "pair"}}, faults=[{"role": "sip_server", "at_s": 40}])


def test_a_failed_sip_server_keeps_its_calls_with_a_pair_and_loses_them_to_its_spare():
    paired = _run(_fault("sip_server", "pair"))["kpis"]
    spare = _run(_fault("sip_server", "n_plus_1"))["kpis"]
    assert paired["fault1_calls_lost"] == 0 and paired["fault1_calls_kept"] > 0
    assert spare["fault1_calls_kept"] == 0 and spare["fault1_calls_lost"] > 0
