"""Simulated links: latency, jitter, loss and bytes on the wire."""

from __future__ import annotations

import math

import pytest
import simpy

from sizing.models.tls import DEFAULT_SUITE, TlsCost, connection_setup, wire_bytes
from sizing.sim import LinkSpec, SimNetwork, TableProfile
from sizing.sip.interfaces import Address

FREE = TableProfile({"default": 0.0}, tls=TlsCost(0.0, 0.0, 0.0))


def pair(transport: str = "UDP", spec: LinkSpec | None = None, seed: int = 1):  # type: ignore[no-untyped-def]
    """Two zero-cost hosts x and y; returns (env, net, x's transport, arrivals at y)."""
    env = simpy.Environment()
    net = SimNetwork(env, seed=seed, default_link=spec or LinkSpec())
    x = Address(transport, "10.0.0.1", 5060)
    y = Address(transport, "10.0.0.2", 5060)
    net.add_host("x", x, profile=FREE)
    net.add_host("y", y, profile=FREE)
    arrivals: list[tuple[bytes, float]] = []
    tx = net.attach(x, lambda d, s: None)
    net.attach(y, lambda d, s: arrivals.append((d, env.now)))
    return env, net, tx, y, arrivals


def message(n: int, size: int = 300) -> bytes:
    head = f"OPTIONS sip:y SIP/2.0\r\nX-Seq: {n}\r\n".encode()
    return head + b"x" * (size - len(head))


def test_message_arrives_after_the_latency() -> None:
    env, _, tx, y, arrivals = pair(spec=LinkSpec(latency_s=0.03))
    tx.send(message(0), y)
    env.run()
    assert arrivals == [(message(0), pytest.approx(0.03))]


def test_jitter_adds_between_zero_and_jitter_s() -> None:
    env, _, tx, y, arrivals = pair(spec=LinkSpec(latency_s=0.01, jitter_s=0.02))
    for i in range(200):
        tx.send(message(i), y)
    env.run()
    delays = [t for _, t in arrivals]
    assert min(delays) >= 0.01 and max(delays) <= 0.03 and max(delays) - min(delays) > 0.015


def test_udp_loss_rate_matches_the_probability() -> None:
    # n = 5000 Bernoulli(0.2) trials: sd = sqrt(n p (1-p)) = 28.3; 4 sd (113) bounds a
    # false failure at 6e-5 for any seed, while a wrong rate (e.g. 0.18) misses by 100+.
    n, p = 5000, 0.2
    env, net, tx, y, arrivals = pair(spec=LinkSpec(loss=p))
    for i in range(n):
        tx.send(message(i), y)
    env.run()
    lost = n - len(arrivals)
    assert abs(lost - n * p) < 4 * math.sqrt(n * p * (1 - p))
    assert net.metrics.links[("x", "y")].lost == lost


def test_tcp_never_loses_and_keeps_order_despite_jitter_and_loss() -> None:
    env, _, tx, y, arrivals = pair("TCP", LinkSpec(latency_s=0.01, jitter_s=0.05, loss=0.1))
    sent = [message(i) for i in range(300)]
    for data in sent:
        tx.send(data, y)
    env.run()
    assert [d for d, _ in arrivals] == sent


def test_udp_bytes_are_the_sum_of_wire_bytes() -> None:
    env, net, tx, y, _ = pair("UDP")
    sizes = [300, 800, 1400, 2000]  # 2000 B is IP-fragmented
    for i, size in enumerate(sizes):
        tx.send(message(i, size), y)
    env.run()
    link = net.metrics.links[("x", "y")]
    assert sum(link.bytes) == sum(wire_bytes(s, "udp").forward for s in sizes)
    assert sum(link.packets) == sum(wire_bytes(s, "udp").packets for s in sizes)


@pytest.mark.parametrize("transport", ["TCP", "TLS"])
def test_stream_bytes_are_messages_plus_acks_plus_one_connection_setup(transport: str) -> None:
    env, net, tx, y, _ = pair(transport)
    wire = transport.lower()
    sizes = [300, 900, 3000]
    for i, size in enumerate(sizes):
        tx.send(message(i, size), y)
    env.run()
    setup = connection_setup(wire, version="1.3", key="rsa")
    costs = [wire_bytes(s, wire, suite=DEFAULT_SUITE["1.3"]) for s in sizes]
    forward = net.metrics.links[("x", "y")]
    backward = net.metrics.links[("y", "x")]
    assert sum(forward.bytes) == pytest.approx(setup.client_to_server + sum(c.forward for c in costs))
    assert sum(backward.bytes) == pytest.approx(setup.server_to_client + sum(c.reverse for c in costs))


def test_tls_connection_waits_its_handshake_round_trips() -> None:
    env, _, tx, y, arrivals = pair("TLS", LinkSpec(latency_s=0.01))
    tx.send(message(0), y)
    tx.send(message(1), y)
    env.run()
    # TLS 1.3 full handshake: 2 RTTs (TCP + TLS) before data, then one-way latency.
    assert [t for _, t in arrivals] == [pytest.approx(0.05), pytest.approx(0.05)]


def test_link_spec_rejects_a_bad_loss_probability() -> None:
    with pytest.raises(ValueError, match="LinkSpec.loss"):
        LinkSpec(loss=1.5)
