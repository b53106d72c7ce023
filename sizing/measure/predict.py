"""Predict one measurement step of a proxy with the simulator: the hold-out check's other half.

:func:`simulate_proxy_step` rebuilds the measured set-up inside the simulator
(the same engine, SimPy driver): a caller user agent, a proxy host charged by
the fitted cost profile, and a callee user agent, on the *same addresses* as
the real step, so every message has the length it had on the wire; what the
proxy writes of its own (Via branch, Record-Route, 100 Trying) follows the
profile's ``wire:`` style, the text of the product measured. Calls start at
a fixed rate, as SIPp and ``sizing load`` start them, and are hung up at once
(or after ``hold_s``). The result is what the measurement recorded of the
proxy: its CPU seconds over the step's wall time, the messages it handled and
the IP bytes on its links, to compare with ``cpu_seconds``, the message counts
and a tshark capture.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy

from sizing.models.profile import CostProfile
from sizing.models.tls import NetParams, TlsCost
from sizing.sim.host import TableProfile
from sizing.sim.link import LinkSpec
from sizing.sim.network import SimNetwork
from sizing.sip.interfaces import Address
from sizing.sip.proxy import Proxy, ProxyConfig, static_router
from sizing.sip.sdp import Capabilities
from sizing.sip.ua import AnswerPolicy, Call, CallEvent, UserAgent

__all__ = ["StepPrediction", "simulate_proxy_step"]

#: Endpoints are not measured: they cost nothing.
_FREE = TableProfile({"default": 0.0}, tls=TlsCost(0.0, 0.0, 0.0))


@dataclass(frozen=True)
class StepPrediction:
    """The simulated proxy's figures over one step."""

    cpu_seconds: float
    """Core-seconds the proxy host was charged (messages and static load) over the step."""
    messages: int
    """Messages the proxy received plus those it sent."""
    ip_bytes: float
    """IP bytes (headers included, no layer 2) on every link to and from the proxy."""
    calls_completed: int


def simulate_proxy_step(
    profile: CostProfile,
    *,
    rate: float,
    calls: int,
    wall_s: float,
    caller: Address,
    proxy: Address,
    callee: Address,
    callee_policy: AnswerPolicy | None = None,
    codec: str = "PCMU",
    callee_codec: str | None = "PCMU",
    hold_s: float = 0.0,
    cores: int = 2,
    seed: int = 1,
) -> StepPrediction:
    """Simulate ``calls`` calls started at ``rate`` through a proxy costed by ``profile``.

    ``wall_s`` is the measured step's wall time: the static load is charged
    over it, and the run lasts that long (calls still open then are not
    counted as completed). ``callee_codec``: the codec the callee answers with
    (PCMU, as ``sizing serve --role uas`` answers an offer); None: no SDP. The proxy writes its header text in
    the profile's wire style (:meth:`CostProfile.wire_style`).
    """
    if not (rate > 0 and calls >= 1 and wall_s > 0):
        raise ValueError(f"rate, calls and wall_s must be positive, got {rate!r}, {calls!r}, {wall_s!r}")
    env = simpy.Environment()
    net = SimNetwork(env, seed=seed, default_link=LinkSpec(latency_s=0.0, net=NetParams(l2="ip")))
    net.add_host("caller", caller, profile=_FREE)
    host = net.add_host("proxy", proxy, cores=cores, profile=profile)
    net.add_host("callee", callee, profile=_FREE)
    clock = net.clock
    element = Proxy(clock, proxy, static_router(callee), config=ProxyConfig(wire=profile.wire_style()), seed=seed)
    element.transport = net.attach(proxy, element.on_message)
    caps = Capabilities(codecs=[codec])
    ua_a = UserAgent(clock, caller, user="load", capabilities=caps, outbound_proxy=proxy, seed=seed + 1)
    ua_a.transport = net.attach(caller, ua_a.datagram_received)
    callee_caps = Capabilities(codecs=[callee_codec]) if callee_codec is not None else None
    ua_b = UserAgent(clock, callee, user="uas", capabilities=callee_caps, policy=callee_policy, seed=seed + 2)
    ua_b.transport = net.attach(callee, ua_b.datagram_received)
    completed = 0
    target = f"sip:service@{callee.host}:{callee.port}"

    def hang_up(call: Call) -> None:
        bye = ua_a.bye(call)

        def done(_client: object, response: object) -> None:
            nonlocal completed
            completed += 1

        bye.on_response = done

    def on_event(call: Call, event: object) -> None:
        if isinstance(event, CallEvent) and event.kind == "answered":
            if hold_s:
                clock.call_later(hold_s, lambda: hang_up(call))
            else:
                hang_up(call)

    for index in range(calls):
        clock.call_at(index / rate, lambda: ua_a.invite(target, on_event=on_event))
    env.run(until=wall_s)
    host.flush(wall_s)
    metrics = net.metrics.hosts["proxy"]
    messages = sum(sum(series) for series in metrics.rx.values()) + sum(
        sum(series) for series in metrics.tx.values())
    ip_bytes = sum(sum(link.bytes) for (src, dst), link in net.metrics.links.items() if "proxy" in (src, dst))
    return StepPrediction(cpu_seconds=host.busy_s, messages=int(messages), ip_bytes=float(ip_bytes),
                          calls_completed=completed)
