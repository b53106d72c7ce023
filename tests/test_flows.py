"""One home per call flow: every reader takes a flow from its module of sizing/flows."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sizing import flows
from sizing.plan import link_message_kinds
from sizing.plan.message_sizes import BACKGROUND, REFRESH, probe
from sizing.scenario import (
    FLOWS,
    CallMix,
    Scenario,
    ScenarioError,
    scenario_from_mapping,
    schema_json,
)

SIZING = Path(__file__).parents[1] / "sizing"
READERS = ("scenario/model.py", "plan/messages.py", "plan/formulas.py", "plan/search.py",
           "plan/message_sizes.py", "sim/flows/driver.py", "sim/replay/record.py", "app/form.py")
"""Modules that once spelt flows by name; they read the registry now."""
TIMINGS = ("RING_S", "IVR_S", "CONSULT_S", "ABANDON_S", "NO_ANSWER_S")


def _agents_scenario(mix: dict[str, float], **extra: object) -> Scenario:
    """Agents behind a SIP Server, with a media server: every flow runs."""
    return scenario_from_mapping({
        "seed": 1, "duration_s": 60,
        "traffic": {"calls_per_second": 1, "holding_time_s": 60, "mix": mix},
        "trunk": {"channels": 100},
        "agents": {"count": 10, "registered": False},
        "topology": {"media_server": {"enabled": True}},
        **extra,
    })


def test_every_flow_has_its_module_and_the_registry_is_the_mix() -> None:
    for flow in flows.FLOWS:
        module = importlib.import_module(f"sizing.flows.{flow.name}")
        assert module.FLOW is flow
    assert FLOWS == flows.NAMES == tuple(CallMix.model_fields)
    assert list(flows.BY_NAME) == list(flows.NAMES)


@pytest.mark.parametrize("flow", flows.NAMES)
def test_every_flow_is_accepted_by_the_scenario_schema(flow: str) -> None:
    scenario = _agents_scenario({flow: 1.0, **({} if flow == FLOWS[0] else {FLOWS[0]: 0.0})})
    assert scenario.traffic.mix.shares()[flow] == 1.0
    mix = json.loads(schema_json())["$defs"]["CallMix"]["properties"]
    assert mix[flow]["description"] == flows.BY_NAME[flow].description


@pytest.mark.parametrize("flow", [f.name for f in flows.FLOWS if f.agent_only])
def test_an_agent_only_flow_without_agents_is_refused_with_its_reason(flow: str) -> None:
    with pytest.raises(ScenarioError) as err:
        _agents_scenario({flow: 0.5}, agents={"count": 0})
    assert f"traffic.mix.{flow}" in str(err.value)
    assert flows.BY_NAME[flow].agent_only in str(err.value)


def _spelt_flows(tree: ast.AST) -> set[str]:
    """Flow names a module spells where it picks flows: compared with a flow, a mix or its
    shares (``fc.flow == "abandoned"``, ``"conference" in mix``), as a key
    (``shares["basic"]``) or in a literal table of flows."""
    names = set(flows.NAMES)

    def spelt(node: ast.AST) -> set[str]:
        return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and n.value in names}

    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(w in ast.unparse(o) for o in operands for w in ("flow", "mix", "shares")):
                found |= spelt(node)
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            found |= spelt(node.slice)
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)) and len(spelt(node)) > 1:
            found |= spelt(node)
    return found


def test_the_scenario_reads_the_flows_without_loading_the_simulator_or_engine() -> None:
    code = ("import sys, sizing.scenario, sizing.flows; "
            "print(sorted(m for m in ('simpy', 'sizing.sim', 'sizing.sip') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_readers_spell_no_flow_by_name() -> None:
    """The closed form, the probe, the recorder, the driver and the scenario branch on a
    flow's definition, never on its name."""
    found = {reader: sorted(_spelt_flows(ast.parse((SIZING / reader).read_text()))) for reader in READERS}
    assert {reader: spelt for reader, spelt in found.items() if spelt} == {}
    old = 'answered = sum(shares[f] for f in ("basic", "ivr_then_agent"))\nif flow == "busy_no_answer": pass'
    assert _spelt_flows(ast.parse(old)) == {"basic", "ivr_then_agent", "busy_no_answer"}


def test_each_timing_is_defined_once() -> None:
    defined: dict[str, list[str]] = {name: [] for name in TIMINGS}
    for path in SIZING.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign) else []
            for target in targets:
                if isinstance(target, ast.Name) and target.id in defined:
                    defined[target.id].append(str(path.relative_to(SIZING)))
    assert defined == {
        "RING_S": ["flows/base.py"],
        "IVR_S": ["flows/ivr_then_agent.py"],
        "CONSULT_S": ["flows/consult_transfer.py"],
        "ABANDON_S": ["flows/abandoned.py"],
        "NO_ANSWER_S": ["flows/busy_no_answer.py"],
    }


def test_the_engine_runs_every_flow_and_the_closed_form_counts_what_it_sends() -> None:
    """The probe runs one call of each flow (each outcome) on the full engine; per flow,
    the closed form's REFERs, re-INVITEs and legs to the agents and the media server (its
    :class:`sizing.flows.Messages`) are what the engine sent."""
    base = _agents_scenario({FLOWS[0]: 1.0})
    seen = probe(base).counts
    assert set(seen) - {BACKGROUND, REFRESH} == set(flows.NAMES)
    for flow in flows.FLOWS:
        closed = link_message_kinds(_agents_scenario({flow.name: 1.0, **(
            {} if flow.name == FLOWS[0] else {FLOWS[0]: 0.0})}))
        engine = seen[flow.name]
        calls = len(flow.outcomes)  # the probe runs one call per outcome

        def sent(a: str, b: str, kind: str, engine=engine, calls=calls) -> float:
            return engine.get(frozenset((a, b)), {}).get(kind, (0, 0))[0] / calls

        def counted(a: str, b: str, kind: str, closed=closed) -> float:
            return closed.get((a, b), {}).get(kind, 0.0)

        for link, kind in ((("carrier", "sbc"), "re-INVITE"), (("sip_server", "agents"), "re-INVITE"),
                           (("sip_server", "agents"), "REFER"), (("sip_server", "media_server"), "INVITE"),
                           (("carrier", "sbc"), "INVITE"), (("carrier", "sbc"), "REFER"),
                           (("sbc", "proxy"), "NOTIFY"), (("proxy", "sip_server"), "BYE")):
            assert counted(*link, kind) == pytest.approx(sent(*link, kind)), (flow.name, link, kind)
        if flow.answered:
            assert counted("sip_server", "agents", "INVITE") == sent("sip_server", "agents", "INVITE"), flow.name


def test_channel_times_follow_each_flows_timings() -> None:
    with_agents = flows.channel_times(_agents_scenario({FLOWS[0]: 1.0}))
    ivr, consult = flows.ivr_then_agent, flows.consult_transfer
    assert with_agents["ivr_then_agent"].mean_s(100.0) == ivr.IVR_S + flows.RING_S + 100.0
    assert with_agents["consult_transfer"].mean_s(100.0) == flows.RING_S + 100.0 + consult.CONSULT_S
    assert with_agents["abandoned"].mean_s(100.0) == flows.abandoned.ABANDON_S
    far_end = flows.channel_times(_agents_scenario({FLOWS[0]: 1.0}, agents={"count": 0}))
    assert far_end["basic"].mean_s(100.0) == 100.0


def test_the_cti_model_covers_exactly_the_registry() -> None:
    """CTI's events per call are per flow (and the unanswered outcome); the flows whose
    desktops send requests are those whose calls an agent answers."""
    from sizing.models import cti

    assert set(cti.EVENTS) == set(flows.NAMES) | {cti.UNANSWERED}
    assert {f.name for f in flows.FLOWS if f.talks_to_agent} == cti.HANDLED
    assert set(cti.REQUESTS) <= set(flows.NAMES)
