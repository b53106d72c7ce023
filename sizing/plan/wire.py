"""Bytes on the wire for the closed form: the mean size of the messages a role receives,
a message's wire bytes by transport (in total and by direction), a trunk connection's
set-up and close, and each link's signalling transport."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sizing.models import tls as tls_model
from sizing.plan.message_sizes import MessageSizes
from sizing.plan.messages import _received, _registrar_received
from sizing.scenario import Scenario
from sizing.sip.kind import kind_class


def _received_bytes(
    role: str,
    kinds: Mapping[tuple[str, str], Mapping[str, float]],
    sizes: MessageSizes,
) -> dict[str, int]:
    """Mean bytes of the messages ``role`` receives, by method or status class (and
    ``default``: all of them), weighed by how many it receives of each kind on each
    link: the sizes :func:`sizing.models.analytic.estimate` charges per kilobyte and TLS
    record by."""
    totals: dict[str, list[float]] = {}
    for link, counts in kinds.items():
        if role not in link:
            continue
        device = link[0] in ("agents", "endpoints") and role == link[1]  # a registrar's devices
        picked = _registrar_received(counts) if device else _received(counts, upstream=role == link[0])
        for kind, n in picked.items():
            size = sizes.size(*link, kind)
            for key in (kind_class(kind), "default"):
                acc = totals.setdefault(key, [0.0, 0.0])
                acc[0] += n
                acc[1] += n * size
    out = {key: round(b / n) for key, (n, b) in totals.items() if n > 0}
    if "default" not in out:  # a role that receives nothing per call
        out["default"] = round(sizes.size(role, role, "INVITE"))
    return out


def _wire_bytes(size: float, transport: str, net: tls_model.NetParams) -> float:
    """Bytes on the wire (both directions) of a ``size``-byte message, for a mean size:
    the two whole sizes either side of it, weighed by how near each is."""
    low = math.floor(size)
    below = tls_model.wire_bytes(low, transport, net=net).total  # type: ignore[arg-type]
    if size == low:
        return below
    above = tls_model.wire_bytes(low + 1, transport, net=net).total  # type: ignore[arg-type]
    return below + (size - low) * (above - below)


def _wire_split(size: float, transport: str, net: tls_model.NetParams) -> tuple[float, float]:
    """:func:`_wire_bytes` by direction: (bytes in the sending direction, pure-ACK bytes
    coming back)."""
    low = math.floor(size)
    below = tls_model.wire_bytes(low, transport, net=net)  # type: ignore[arg-type]
    total, forward = _wire_bytes(size, transport, net), float(below.forward)
    if size != low:
        above = tls_model.wire_bytes(low + 1, transport, net=net)  # type: ignore[arg-type]
        forward += (size - low) * (above.forward - below.forward)
    return forward, total - forward


def _connection_split(scenario: Scenario, net: tls_model.NetParams) -> tuple[float, float]:
    """:func:`_connection_bytes` by direction: (carrier to edge, edge to carrier)."""
    trunk = scenario.trunk
    kw: dict[str, Any] = {"version": trunk.tls_version, "net": net}
    full = tls_model.connection_setup(trunk.transport, key=trunk.tls_key, **kw)
    resumed = tls_model.connection_setup(trunk.transport, key=trunk.tls_key, resumed=True, **kw)
    close = tls_model.connection_teardown(trunk.transport, suite=trunk.cipher_suite, **kw)
    f = trunk.tls_resumed_share if trunk.transport == "tls" else 0.0
    c2s = (1 - f) * full.client_to_server + f * resumed.client_to_server + close.client_to_server
    total = _connection_bytes(scenario, net)
    return c2s, total - c2s


def _connection_bytes(scenario: Scenario, net: tls_model.NetParams) -> float:
    """Wire bytes of one trunk connection opened and closed: the TCP handshake, the TLS
    handshake (full, or resumed for ``trunk.tls_resumed_share`` of them) and the close
    (FINs, TLS close_notify alerts), both directions."""
    trunk = scenario.trunk
    kw: dict[str, Any] = {"version": trunk.tls_version, "net": net}
    full = tls_model.connection_setup(trunk.transport, key=trunk.tls_key, **kw).total
    resumed = tls_model.connection_setup(
        trunk.transport, key=trunk.tls_key, resumed=True, **kw
    ).total
    close = tls_model.connection_teardown(trunk.transport, suite=trunk.cipher_suite, **kw).total
    f = trunk.tls_resumed_share if trunk.transport == "tls" else 0.0
    return (1 - f) * full + f * resumed + close


def _transport(scenario: Scenario, link: tuple[str, str]) -> str:
    """Signalling transport of a link: the trunk's on the carrier's link, the inside
    transport (``network.internal_transport`` resolved) between the contact centre's
    own hosts, agents and endpoints; the edge role terminates the trunk's."""
    return scenario.trunk.transport if "carrier" in link else scenario.inside_transport
