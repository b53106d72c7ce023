"""The simulator against closed forms: Erlang B blocking, and bytes on the wire per call."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import simpy

from sizing.models.analytic import erlang_b
from sizing.models.tls import NetParams, wire_bytes
from sizing.scenario import scenario_from_mapping
from sizing.sim.flows import CallCentre
from sizing.sim.simulate import run_replication
from sizing.sim.topology import build_topology

CHANNELS = 5
HOLDING_S = 2.0


def loss_scenario(erlangs: float, seconds: float) -> dict:
    """Poisson arrivals, exponential holding, a proxy in front of the far end, no delays."""
    return {
        "seed": 11, "warmup_s": 20, "duration_s": seconds,
        "traffic": {"calls_per_second": erlangs / HOLDING_S, "holding_time_s": HOLDING_S},
        "trunk": {"channels": CHANNELS},
        "topology": {"sbc": {"enabled": False}, "sip_server": {"enabled": False},
                     "media_server": {"enabled": False}, "proxy": {"instances": 1}},
        "links": {"default": {"latency_ms": 0}},
    }


@pytest.mark.parametrize("erlangs", [1.5, 4.0])
def test_blocking_matches_erlang_b(erlangs: float) -> None:
    kpis = run_replication(scenario_from_mapping(loss_scenario(erlangs, 800)), 11)["kpis"]
    n, measured = kpis["calls_offered"], kpis["blocking_ratio"]
    expected = float(erlang_b(erlangs, CHANNELS))
    # blocked calls cluster in time: allow 4 binomial standard errors
    assert measured == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / n))


def test_signalling_bytes_on_a_link_are_the_encoded_messages_plus_transport_overhead(tmp_path: Path) -> None:
    csv = tmp_path / "arrivals.csv"
    csv.write_text("time_s\n1.0\n")
    scenario = scenario_from_mapping(
        {"warmup_s": 0, "simulation": {"start": "empty"}, "duration_s": 20,
         "traffic": {"holding_time_s": 3, "holding": {"kind": "fixed"},
                     "arrivals": {"process": "replay", "csv": str(csv)}},
         "trunk": {"channels": 2}, "topology": {"proxy": {"instances": 1}}})
    env = simpy.Environment()
    topo = build_topology(scenario, env, seed=1)
    sizes: list[int] = []
    sbc = topo.net.hosts["sbc-1"]
    send = sbc._send

    def spy(transport, data: bytes, dest) -> None:  # type: ignore[no-untyped-def]
        if topo.net.host_of(dest).name == "proxy-1":
            sizes.append(len(data))
        send(transport, data, dest)

    sbc._send = spy  # type: ignore[method-assign]
    CallCentre(topo, 1).start()
    env.run(until=20)
    link = topo.net.metrics.links[("sbc-1", "proxy-1")]
    assert len(sizes) == link.messages == 3  # INVITE, ACK, BYE
    assert sum(link.bytes) == sum(wire_bytes(s, "udp", net=NetParams()).forward for s in sizes)
