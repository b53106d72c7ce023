"""Host failures during a run (``simulation.faults``) and what the survivors go through.

Theory of operation
-------------------
At ``warmup_s + at_s`` the fault's host (``<role>-<instance>``) stops: it receives
nothing (messages on their way to it are lost), sends nothing, and its CPU is no
longer charged.  ``detect_s`` later the failure is noticed, and what happens
then depends on the role's ``ha`` (:meth:`Scenario.ha_mode`):

- ``pair``: the hot standby takes over the host's addresses (a virtual IP
  moving) with the state it was sent: the element's calls, transactions and
  registrations carry on there, and every CPU charge for the host (media,
  replication) goes to the standby.  Calls in progress are kept; the survivor's
  burst is the retransmissions of what was lost during ``detect_s``.
- ``none``: the hops before stop choosing the host: new calls hash over the
  others.  Its calls in progress are lost (their in-dialog requests time out), and
  the phones whose registrar it held re-register with another host within
  ``reregister_s``: the re-registration storm on the survivors.
- ``n_plus_1``: as ``none``, but the spare takes the failed host's place in the
  pool (new calls and re-registrations go to it as they went to the failed host).

Figures, added to the run's KPIs (:meth:`FaultInjector.figures`): per fault, calls
in progress through the host when it failed, of those the ones whose caller's BYE
was answered 2xx (kept) and the ones whose BYE failed or timed out (lost; calls still
in progress at the end of the window are neither), the phones that re-registered,
the survivors' peak CPU before and after the fault and the seconds until their CPU
is back under the role's target for good.  The hybrid engine binds a
replayed call's hosts when it starts, so a run with faults runs every call on the
full engine.
"""

from __future__ import annotations

import math
import zlib
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..flows.base import DOMAIN
from ..scenario.model import Fault
from ..sip.uri import URI
from .topology import Node, Topology, call_hash
from .workload import stream

if TYPE_CHECKING:
    from .flows.driver import CallCentre, FlowCall

__all__ = ["FaultInjector"]


class _Record:
    """What one fault did."""

    def __init__(self, index: int, fault: Fault, node: Node, mode: str) -> None:
        self.index, self.fault, self.node, self.mode = index, fault, node, mode
        self.affected: set[str] = set()
        """Call-IDs of the answered calls in progress through the host when it failed."""
        self.kept = 0
        self.lost = 0
        self.reregistered = 0
        self.survivors: list[str] = []
        """Hosts that take the failed host's load."""


class FaultInjector:
    """Stops the scenario's faulty hosts at their time and measures the survivors."""

    def __init__(self, topology: Topology, centre: CallCentre, seed: int) -> None:
        self.topo, self.centre = topology, centre
        self.scenario = topology.scenario
        self.rng = stream(seed, "faults")
        self.records: list[_Record] = []
        self._byes: dict[str, Any] = {}
        self._registrations: list[tuple[Any, Any]] = []
        self._moved: dict[Any, list[Any]] = {}
        self._stormed: set[str] = set()
        """Devices that re-registered in a storm before their first REGISTER of the run."""
        self._register_of: dict[int, Any] = {}
        """A failed registrar's address -> the live ones its phones now use."""
        for ua in (topology.endpoints, topology.agents):
            if ua is not None:
                self._track_registrations(ua)
        self._track_byes()

    # -- set-up ---------------------------------------------------------------------------

    def start(self) -> None:
        clock, warmup = self.topo.net.clock, self.scenario.warmup_s
        for i, fault in enumerate(self.scenario.simulation.faults):
            clock.call_at(warmup + fault.at_s, lambda i=i, f=fault: self._fail(i, f))

    def _devices(self) -> list[tuple[Any, str]]:
        """Every registered device's (user agent, address of record), as
        :mod:`sizing.flows.registration` names them."""
        topo, scenario = self.topo, self.scenario
        out: list[tuple[Any, str]] = []
        if topo.endpoints is not None:
            out += [(topo.endpoints, f"sip:phone{i}@{DOMAIN}") for i in range(scenario.endpoints.count)]
        if scenario.agents.registered:
            out += [(topo.agents, f"sip:agent{i}@{DOMAIN}") for i in range(scenario.agents.count)]
        return out

    def _track_registrations(self, ua: Any) -> None:
        """Keep every Registration the UA makes, to move the failed registrar's."""
        register = ua.register
        self._register_of[id(ua)] = register

        def tracked(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("aor") in self._stormed:  # it re-registered in the storm already
                return None
            alive = self._moved.get(kwargs.get("dest"))  # type: ignore[arg-type]
            if alive:
                kwargs["dest"] = alive[call_hash(kwargs.get("aor", ""), len(alive))]
            reg = register(*args, **kwargs)
            self._registrations.append((ua, reg))
            return reg

        ua.register = tracked

    def _register(self, ua: Any, *args: Any, **kwargs: Any) -> None:
        """A storm's REGISTER (past the tracker, which skips the device's own first one)."""
        self._registrations.append((ua, self._register_of[id(ua)](*args, **kwargs)))

    def _track_byes(self) -> None:
        """The caller's BYE of each affected call: answered 2xx (kept) or not (lost)."""
        carrier, centre = self.topo.carrier, self.centre
        bye, hang_up = carrier.bye, centre._hang_up

        def sent(call: Any) -> Any:
            request = bye(call)
            self._byes[call.call_id] = request
            return request

        def hung_up(fc: FlowCall) -> None:
            hang_up(fc)
            request = self._byes.pop(fc.key, None)
            records = [r for r in self.records if fc.key in r.affected]
            if request is None or not records:
                return
            inner = request.on_response

            def told(client: Any, response: Any) -> None:
                if inner is not None:
                    inner(client, response)
                status = getattr(response, "status", 0)
                if status >= 200:
                    for r in records:
                        if 200 <= status < 300:
                            r.kept += 1
                        else:
                            r.lost += 1
                        r.affected.discard(fc.key)

            request.on_response = told

        carrier.bye = sent
        centre._hang_up = hung_up  # type: ignore[method-assign]

    # -- the failure ----------------------------------------------------------------------

    def _pool(self, role: str) -> list[Node]:
        return {"sbc": self.topo.sbcs, "proxy": self.topo.proxies,
                "sip_server": self.topo.sip_servers}[role]

    def _fail(self, index: int, fault: Fault) -> None:
        topo, centre = self.topo, self.centre
        name = f"{fault.role}-{fault.instance}"
        pool = self._pool(fault.role)
        node = next((n for n in pool if n.name == name), None)
        if node is None:  # already gone (a second fault on the same host)
            return
        record = _Record(index, fault, node, self.scenario.ha_mode(fault.role))
        self.records.append(record)
        for fc in list(centre.calls.values()):
            if fc.answered_at is not None and not fc.done and self._through(fc, node, pool):
                record.affected.add(fc.key)
        host = topo.net.hosts[node.name]
        host.arrive = lambda job: None  # type: ignore[method-assign]  # lost on the way
        host._send = lambda transport, data, dest: None  # type: ignore[method-assign]
        host.charge = lambda cost_us: None  # type: ignore[method-assign]
        topo.net.clock.call_later(fault.detect_s, lambda: self._noticed(record, host, pool))

    def _through(self, fc: FlowCall, node: Node, pool: list[Node]) -> bool:
        """Whether the call's signalling passes the host."""
        if node in self.topo.sbcs:
            return fc.sbc == node.name
        if node in self.topo.proxies:
            return pool[call_hash(fc.key, len(pool))] is node
        return fc.server is not None and fc.server is node.element

    def _noticed(self, record: _Record, host: Any, pool: list[Node]) -> None:
        topo, node = self.topo, record.node
        if record.mode == "pair":
            standby = topo.standbys.pop(node.name)
            survivor = topo.net.hosts[standby.name]
            for address, transport in list(host.transports.items()):
                transport.host = survivor
                survivor.transports[address] = transport
                topo.net._owner[address] = survivor
            host.transports.clear()
            host.charge = survivor.charge  # media and replication charged for the host
            record.survivors = [standby.name]
            return
        spare = topo.spares.pop(node.role, None) if record.mode == "n_plus_1" else None
        at = pool.index(node)
        if spare is not None:
            spare.role = node.role
            pool[at] = spare
        else:
            pool.pop(at)
        record.survivors = [n.name for n in pool]
        self._reregister(record)

    def _reregister(self, record: _Record) -> None:
        """The phones whose registrar the host held register with another host."""
        topo = self.topo
        dead = {a for a, (name, _) in topo.registrar_hosts.items() if name == record.node.name}
        if not dead:
            return
        survivors = {n.name for n in topo.proxies}
        alive = [a for a, (name, _) in topo.registrar_hosts.items() if name in survivors]
        if not alive:
            return
        before = list(topo.registrars)
        topo.registrars[:] = alive
        for address in dead:
            self._moved[address] = alive
        clock, spread = topo.net.clock, record.fault.reregister_s
        # In the steady state every phone is registered: those whose first REGISTER of the
        # run is still to come (flows.registration spreads them over one expiry) hold a
        # binding on the failed host too, and re-register in the storm as well.
        expiry = max(int(self.scenario.endpoints.expiry_s), 1)
        tracked = {reg.aor for _, reg in self._registrations}
        for ua, aor in self._devices():
            if aor in tracked or not before or before[zlib.crc32(aor.encode()) % len(before)] not in dead:
                continue
            self._stormed.add(aor)
            record.reregistered += 1
            dest = alive[call_hash(aor, len(alive))]
            clock.call_later(float(self.rng.random()) * spread,
                             lambda ua=ua, aor=aor, dest=dest: self._register(
                                 ua, URI("sip", host=DOMAIN), aor=aor, expires=expiry, dest=dest))
        for ua, reg in self._registrations:
            if reg.dest not in dead or reg.state in ("unregistered",):
                continue
            if reg.timer is not None:
                reg.timer.cancel()
                reg.timer = None
            reg.state = "failed"
            dest = alive[call_hash(reg.aor, len(alive))]
            record.reregistered += 1
            clock.call_later(float(self.rng.random()) * spread,
                             lambda ua=ua, reg=reg, dest=dest: ua.register(
                                 reg.registrar, aor=reg.aor, expires=reg.expires, dest=dest))

    # -- figures --------------------------------------------------------------------------

    def figures(self, cpu: pd.DataFrame) -> dict[str, float]:
        """KPIs of each fault (``fault<i>_...``):
        calls_in_progress, calls_kept, calls_lost, reregistrations, survivor_cpu_before
        (the busiest survivor's peak CPU of 1-s samples before the fault), survivor_cpu_peak
        (after it), recovery_s (until the survivors are back under the role's CPU target
        for good; 0: never over it, NaN: still over it at the end of the window).  Survivors:
        the standby of a pair, else the role's hosts left (the spare included)."""
        out: dict[str, float] = {}
        targets = self.scenario.targets
        for record in self.records:
            at = self.scenario.warmup_s + record.fault.at_s
            cols = [c for c in record.survivors if c in cpu.columns]
            busiest = cpu[cols].max(axis=1) if cols else pd.Series(dtype=float)
            after = busiest[busiest.index >= math.floor(at)]
            before = busiest[busiest.index < math.floor(at)]
            target = targets.cpu_target(record.fault.role)
            peak = float(after.max()) if len(after) else math.nan
            over = after[after > target]
            if not len(after):
                recovery = math.nan
            elif not len(over):
                recovery = 0.0
            elif over.index[-1] == after.index[-1]:
                recovery = math.nan
            else:
                recovery = float(over.index[-1] + 1 - at)
            figures = {
                "calls_in_progress": float(record.kept + record.lost + len(record.affected)),
                "calls_kept": float(record.kept),
                "calls_lost": float(record.lost),
                "reregistrations": float(record.reregistered),
                "survivor_cpu_before": float(before.max()) if len(before) else math.nan,
                "survivor_cpu_peak": peak,
                "recovery_s": recovery,
            }
            for key, value in figures.items():
                out[f"fault{record.index + 1}_{key}"] = value
        return out
