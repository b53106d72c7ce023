"""RFC 7339 loss-based overload control in the simulator: the signal in the Via of
responses, the client's refusals, and goodput held near capacity with the work shed
upstream instead of at the overloaded server.

The deployment is carrier -> SIP Server (1 core) -> agents, the SIP Server the only
host that costs CPU: 75 ms per basic call, capacity C = 13.3 calls/s (the
arithmetic is in test_sim_overload.py). The carrier is the SIP Server's client.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import simpy

from sizing.scenario import Scenario
from sizing.sim.clock import SimClock
from sizing.sim.flows import CallCentre
from sizing.sim.host import TableProfile
from sizing.sim.network import SimNetwork
from sizing.sim.overload import LossController, OcClient, OcClientTransport, top_via_params
from sizing.sim.sweep import run_point
from sizing.sim.topology import build_topology
from sizing.sim.workload import stream
from sizing.sip.interfaces import Address, TransportError
from sizing.sip.message import Request, parse

COSTS_US = {"INVITE": 20_000, "ACK": 5_000, "default": 10_000}
CAPACITY = 1 / 0.075
SERVER = Address("UDP", "10.4.0.1", 5060)
INVITE = (b"INVITE sip:svc@cc.example SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 10.1.0.1:5060;branch=z9hG4bK-%s;rport\r\n"
          b"From: <sip:c@cc.example>;tag=1\r\nTo: <sip:svc@cc.example>\r\n"
          b"Call-ID: %s\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("profiles") / "costly-b2bua.yaml"
    table = ", ".join(f"{k}: {v}" for k, v in COSTS_US.items())
    path.write_text(f"name: costly-b2bua\nsource: test profile, 75 ms per basic call\n"
                    f"per_message_us: {{{table}}}\nper_kbyte_us: 0\n", encoding="utf-8")
    return path


def scenario(profile: Path, policy: str, load: float) -> dict:
    return {
        "seed": 3, "warmup_s": 5, "duration_s": 15,
        "traffic": {"calls_per_second": CAPACITY * load, "holding_time_s": 2,
                    "holding": {"kind": "fixed"}},
        "trunk": {"channels": 10_000},
        "topology": {"sbc": {"enabled": False}, "proxy": {"enabled": False},
                     "media_server": {"enabled": False},
                     "sip_server": {"cores": 1, "profile": str(profile),
                                    "overload": {"queue_limit": 40, "policy": policy}}},
    }


@pytest.fixture(scope="module")
def at_2_5c(profile: Path) -> dict[str, dict]:
    return {policy: run_point(scenario(profile, policy, 2.5), 3, policy) for policy in ("503", "loss")}


def test_loss_control_holds_goodput_near_capacity(at_2_5c: dict[str, dict]) -> None:
    # the server steers to its 90 % target utilisation, so goodput sits near 0.9 C
    loss = at_2_5c["loss"]
    assert loss["goodput_cps"] >= 0.8 * CAPACITY
    assert loss["goodput_cps"] >= 0.9 * at_2_5c["503"]["goodput_cps"]


def test_loss_control_sheds_the_work_upstream_of_the_server(at_2_5c: dict[str, dict]) -> None:
    rejected_503 = at_2_5c["503"]["rejections_per_s"] + at_2_5c["503"]["drops_per_s"]
    rejected_loss = at_2_5c["loss"]["rejections_per_s"] + at_2_5c["loss"]["drops_per_s"]
    assert rejected_503 > 0.5 * CAPACITY
    assert rejected_loss < 0.2 * rejected_503


def test_responses_of_the_overloaded_server_carry_the_signal_and_the_client_refuses(
        profile: Path) -> None:
    sc = Scenario.model_validate(scenario(profile, "loss", 3.0))
    env = simpy.Environment()
    topo = build_topology(sc, env, seed=3)
    (client,) = topo.oc_clients
    heard: list[bytes] = []
    learn = client._learn

    def capture(data: bytes, source: Address) -> None:
        heard.append(data)
        learn(data, source)

    client._learn = capture  # type: ignore[method-assign]
    CallCentre(topo, 3).start()
    env.run(until=10)
    assert client.servers == {topo.sip_servers[0].address}
    signalled = [top_via_params(d) for d in heard if "oc-seq" in top_via_params(d)]
    assert signalled, "no response carried oc-seq"
    params = signalled[-1]
    assert params["oc-algo"] == "loss" and int(params["oc-validity"]) > 0
    assert 30 <= int(params["oc"]) <= 90  # about 1 - 0.9 / 3 = 70 % at 3 C
    assert client.throttled > 0
    assert topo.loss_controllers["sip_server-1"].stamped >= len(signalled)


def _controller() -> tuple[LossController, SimClock, simpy.Environment]:
    env = simpy.Environment()
    net = SimNetwork(env, seed=1)
    host = net.add_host("srv", (SERVER,), cores=1, profile=TableProfile({"default": 0.0}))
    return LossController(host, net.clock, target=0.9), net.clock, env


def test_the_server_stamps_only_responses_whose_via_announced_support() -> None:
    controller, _clock, _env = _controller()
    controller.loss, controller.seq = 40, "12.500"
    request = parse(INVITE % (b"a", b"c1"))
    assert isinstance(request, Request)
    plain = request.create_response(180).encode()
    assert controller.stamp(plain) == plain
    supported = plain.replace(b";rport", b';rport;oc;oc-algo="loss"')
    params = top_via_params(controller.stamp(supported))
    assert params["oc"] == "40" and params["oc-seq"] == "12.500" and params["oc-algo"] == "loss"
    assert parse(controller.stamp(supported)).top_via.branch == "z9hG4bK-a"  # type: ignore[union-attr]


def test_the_loss_rises_above_the_target_and_falls_back_below_it() -> None:
    controller, clock, env = _controller()
    controller.start()
    clock.call_later(0.1, lambda: controller.host.charge(1.4e6))  # 1.4 s of work in 0.5 s
    env.run(until=0.6)
    assert controller.loss > 50
    env.run(until=10)
    assert controller.loss == 0


class _Wire:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, data: bytes, dest: Address) -> None:
        self.sent.append(data)


def _client(loss: float, seq: float = 5.0) -> tuple[OcClientTransport, OcClient, _Wire]:
    env = simpy.Environment()
    clock = SimClock(env)
    client = OcClient(clock, [SERVER], stream(1, "test"), "carrier")
    response = (b"SIP/2.0 100 Trying\r\nVia: SIP/2.0/UDP 10.1.0.1:5060;branch=z9hG4bK-x;"
                b'oc=%d;oc-algo="loss";oc-validity=1000;oc-seq=%.3f\r\nContent-Length: 0\r\n\r\n'
                % (int(loss), seq))
    client.receive(lambda data, source: None)(response, SERVER)
    wire = _Wire()
    return client.wrap(wire), client, wire  # type: ignore[arg-type]


def test_the_client_refuses_the_signalled_share_of_new_invites() -> None:
    transport, client, wire = _client(loss=60)
    refused = 0
    for i in range(400):
        try:
            transport.send(INVITE % (str(i).encode(), str(i).encode()), SERVER)
        except TransportError:
            refused += 1
    assert refused == client.throttled
    assert 0.5 * 400 < refused < 0.7 * 400
    assert all(b";oc;" in m for m in wire.sent)


def test_the_client_passes_retransmissions_and_in_dialog_requests() -> None:
    transport, _client_, wire = _client(loss=100)
    with pytest.raises(TransportError):
        transport.send(INVITE % (b"new", b"c9"), SERVER)
    _client_.signals[SERVER].loss = 0
    transport.send(INVITE % (b"kept", b"c1"), SERVER)
    _client_.signals[SERVER].loss = 100
    transport.send(INVITE % (b"kept", b"c1"), SERVER)  # its retransmission
    reinvite = (INVITE % (b"re", b"c1")).replace(b"To: <sip:svc@cc.example>", b"To: <sip:svc@cc.example>;tag=9")
    transport.send(reinvite, SERVER)
    bye = (INVITE % (b"bye", b"c1")).replace(b"INVITE ", b"BYE ", 1)
    transport.send(bye, SERVER)
    assert len(wire.sent) == 4


def test_an_older_signal_does_not_replace_a_newer_one() -> None:
    _transport, client, _wire = _client(loss=20, seq=9.0)
    stale = (b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.1.0.1:5060;branch=z9hG4bK-y;"
             b'oc=90;oc-algo="loss";oc-validity=1000;oc-seq=8.000\r\nContent-Length: 0\r\n\r\n')
    client.receive(lambda data, source: None)(stale, SERVER)
    assert client.signals[SERVER].loss == 20
