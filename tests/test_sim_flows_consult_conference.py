"""Attended transfer and conference as real call flows in the simulated contact centre."""

from __future__ import annotations

from pathlib import Path

import pytest
import simpy

from sizing.scenario import scenario_from_mapping
from sizing.scenario.load import ScenarioError
from sizing.sim.flows import CallCentre
from sizing.sim.simulate import simulate
from sizing.sim.topology import build_topology


def scenario(tmp_path: Path, flow: str, times: list[float], **extra):  # type: ignore[no-untyped-def]
    csv = tmp_path / "arrivals.csv"
    csv.write_text("time_s\n" + "".join(f"{t}\n" for t in times))
    data = {
        "warmup_s": 0, "simulation": {"start": "empty"}, "duration_s": 80,
        "traffic": {"holding_time_s": 10, "holding": {"kind": "fixed"}, "mix": {flow: 1.0},
                    "arrivals": {"process": "replay", "csv": str(csv)}},
        "trunk": {"channels": 10},
        "agents": {"count": 2},
        "topology": {"proxy": {"instances": 1}},
        **extra,
    }
    return scenario_from_mapping(data)


class Run:
    """One call through the topology, stepped so the media can be looked at mid-call."""

    def __init__(self, tmp_path: Path, flow: str) -> None:
        self.env = simpy.Environment()
        self.topo = build_topology(scenario(tmp_path, flow, [1.0]), self.env, seed=3)
        self.centre = CallCentre(self.topo, 3)
        self.centre.start()

    def until(self, t: float) -> None:
        self.env.run(until=t)

    def counts(self, host: str) -> tuple[dict[str, int], dict[str, int]]:
        m = self.topo.net.metrics.hosts[host]
        return {k: int(sum(v)) for k, v in m.rx.items()}, {k: int(sum(v)) for k, v in m.tx.items()}

    def pps(self, host: str) -> float:
        return self.centre.ledger.host_pps.get(host, 0.0) / self.centre.stream_pps


def test_consult_transfer_is_48_messages_at_the_sip_server(tmp_path: Path) -> None:
    run = Run(tmp_path, "consult_transfer")
    run.until(80)
    assert run.centre.figures()["calls_completed"] == 1
    rx, tx = run.counts("sip_server-1")
    # rx: INVITE (call, hold re-INVITE, consultation), REFER; tx: INVITE (agent, hold relayed,
    # back office, the join's two re-INVITEs), NOTIFY 100 and 200, BYE to both agent dialogs
    # and to the back office
    assert rx == {"INVITE": 3, "1xx": 6, "2xx": 10, "ACK": 3, "REFER": 1, "BYE": 1}
    assert tx == {"INVITE": 5, "1xx": 4, "2xx": 5, "ACK": 5, "NOTIFY": 2, "BYE": 3}


def test_consult_transfer_leaves_no_dialog_or_transaction_behind(tmp_path: Path) -> None:
    run = Run(tmp_path, "consult_transfer")
    run.until(80)
    server = run.topo.sip_servers[0].element
    assert server.stats.transfers == 1 and server.stats.transfers_failed == 0
    assert not server.calls and not server._dialogs and len(server.layer) == 0
    assert run.topo.agents.dialogs == 0 and run.topo.carrier.dialogs == 0


def test_on_hold_only_the_agent_sends_and_after_the_join_both_directions_flow(tmp_path: Path) -> None:
    run = Run(tmp_path, "consult_transfer")
    run.until(20)  # answered at ~3 s, held at ~8 s, REFER at ~25 s
    assert (run.pps("carrier"), run.pps("agents")) == (pytest.approx(1.0), pytest.approx(0.0))
    run.until(27)
    assert (run.pps("carrier"), run.pps("agents")) == (pytest.approx(1.0), pytest.approx(1.0))


def test_conference_is_51_messages_at_the_sip_server_and_9_at_the_bridge(tmp_path: Path) -> None:
    run = Run(tmp_path, "conference")
    run.until(80)
    assert run.centre.figures()["calls_completed"] == 1
    rx, tx = run.counts("sip_server-1")
    # tx INVITE: agent, back office, three bridge legs, re-INVITEs of caller and agent;
    # BYE to agent, back office and the three bridge legs when the caller hangs up
    assert rx == {"INVITE": 1, "1xx": 11, "2xx": 12, "ACK": 1, "BYE": 1}
    assert tx == {"INVITE": 7, "1xx": 2, "2xx": 2, "ACK": 7, "BYE": 5}
    assert run.counts("media_server-1")[0] == {"INVITE": 3, "ACK": 3, "BYE": 3}
    server = run.topo.sip_servers[0].element
    assert server.stats.conferences == 1 and not server._dialogs and len(server.layer) == 0


def test_the_media_server_carries_three_streams_each_way_while_the_bridge_is_up(tmp_path: Path) -> None:
    run = Run(tmp_path, "conference")
    run.until(9)  # answered at ~3 s, conference asked at ~8 s, up at ~10 s, caller's BYE at ~13 s
    assert run.pps("media_server-1") == pytest.approx(0.0)
    run.until(11.5)
    assert run.pps("media_server-1") == pytest.approx(3.0)  # caller, agent, back office into the bridge
    assert run.pps("agents") == pytest.approx(2.0) and run.pps("carrier") == pytest.approx(1.0)
    run.until(20)
    assert run.pps("media_server-1") == pytest.approx(0.0)


@pytest.mark.parametrize("flow", ["consult_transfer", "conference"])
def test_simulate_completes_every_call_of_the_flow(tmp_path: Path, flow: str) -> None:
    result = simulate(scenario(tmp_path, flow, [1.0, 2.0, 3.0]))
    assert result.kpis["calls_offered"] == 3 and result.kpis["calls_completed"] == 3


def test_conference_media_shows_on_the_media_server_links(tmp_path: Path) -> None:
    links = simulate(scenario(tmp_path, "conference", [1.0, 2.0])).links
    to_bridge = links[(links.src == "agents") & (links.dst == "media_server-1")]
    assert float(to_bridge.media_kbps.iloc[0]) > 0


def test_conference_without_a_media_server_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"<mapping>: traffic\.mix\.conference: needs topology\.media_server\.enabled"):
        scenario(tmp_path, "conference", [1.0], topology={"media_server": {"enabled": False}})


def test_attended_transfer_without_agents_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"<mapping>: traffic\.mix\.consult_transfer: needs agents\.count > 0"):
        scenario(tmp_path, "consult_transfer", [1.0], agents={"count": 0})
