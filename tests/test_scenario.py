"""The scenario model: loading, precise errors, CSV rows, overrides, round trip, schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sizing.scenario import (
    ROLES,
    Scenario,
    ScenarioError,
    add_schema_command,
    apply_overrides,
    load_scenario,
    scenario_from_mapping,
    scenarios_from_csv,
    vocabulary,
)

EXAMPLES = Path(__file__).parents[1] / "data" / "examples"
MINIMAL = {
    "seed": 1,
    "duration_s": 600,
    "warmup_s": 120,
    "traffic": {"calls_per_second": 5, "holding_time_s": 180},
    "trunk": {"channels": 1000},
}


def _with(**sections) -> dict:
    data = json.loads(json.dumps(MINIMAL))
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return data


def _errors(data: dict, source: str = "s.yaml") -> list[str]:
    with pytest.raises(ScenarioError) as info:
        scenario_from_mapping(data, source=source)
    return str(info.value).splitlines()


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_scenario_loads_with_defaults():
    s = load_scenario(EXAMPLES / "minimal.yaml")
    assert s.traffic.rate_cps == 5 and s.traffic.offered_erlangs == 900
    assert s.trunk.cps_limit is None and s.trunk.transport == "udp" and s.trunk.codec == "PCMU"
    assert s.traffic.mix.basic == 1.0 and s.traffic.arrivals.process == "poisson"
    assert s.topology.sbc.profile == "generic-sbc"
    assert s.topology.sip_server.profile == "generic-b2bua"
    assert s.targets.cpu_target("proxy") == 0.6


def test_unknown_key_is_named():
    lines = _errors(_with(traffic={"colour": "red"}))
    assert lines == [
        "s.yaml: traffic.colour: unknown key; known: calls_per_second, busy_hour_calls, "
        "holding_time_s, arrivals, holding, mix, recording_share"
    ]


def test_bad_value_names_field_and_value():
    lines = _errors(_with(traffic={"holding_time_s": -180}))
    assert lines == ["s.yaml: traffic.holding_time_s: Input should be greater than 0 (got -180)"]


def test_all_problems_reported_at_once():
    data = _with(warmup_s=-1, trunk={"channels": 0, "codec": "G999"},
                 topology={"proxy": {"cores": "many"}})
    lines = _errors(data)
    assert [line.split(":")[1].strip() for line in lines] == [
        "warmup_s", "trunk.channels", "trunk.codec", "topology.proxy.cores"]


def test_rate_needs_exactly_one_of_cps_and_bhca():
    both = _errors(_with(traffic={"busy_hour_calls": 3600}))
    assert both == ["s.yaml: traffic.busy_hour_calls: give either calls_per_second or "
                    "busy_hour_calls, not both"]
    data = _with()
    del data["traffic"]["calls_per_second"]
    assert _errors(data) == ["s.yaml: traffic.calls_per_second: required (or busy_hour_calls)"]


def test_bhca_gives_the_rate():
    data = _with()
    data["traffic"] = {"busy_hour_calls": 7200, "holding_time_s": 100}
    assert scenario_from_mapping(data).traffic.rate_cps == 2.0


def test_call_mix_must_sum_to_one():
    lines = _errors(_with(traffic={"mix": {"basic": 0.5, "ivr_then_agent": 0.3}}))
    assert lines == ["s.yaml: traffic.mix.basic: shares must sum to 1, they sum to 0.8"]


def test_call_mix_basic_defaults_to_the_remainder():
    s = scenario_from_mapping(_with(traffic={"mix": {"ivr_then_agent": 0.25, "abandoned": 0.05}},
                                    agents={"count": 10}))
    assert s.traffic.mix.basic == pytest.approx(0.7)


@pytest.mark.parametrize(("flow", "why"), [
    ("ivr_then_agent", "after the IVR the SIP Server queues the call for an agent; a "
                       "self-service call that ends in the IVR is not modelled"),
    ("blind_transfer", "an agent answers, then transfers the caller with REFER; a transfer by "
                       "the far end or from the IVR is not modelled"),
])
def test_an_agents_flow_without_agents_is_refused_not_run_as_basic_calls(flow, why):
    # agents.count 0 (the default): the far end answers every call, which would run these
    # shares as basic calls; the planner is told instead
    lines = _errors(_with(traffic={"mix": {flow: 1.0}}))
    assert lines == [f"s.yaml: traffic.mix.{flow}: needs agents.count > 0 ({why}); set "
                     "agents.count, or move the share to traffic.mix.basic (answered by the far "
                     "end)"]
    lines = _errors(_with(traffic={"mix": {flow: 0.5}}, agents={"count": 10},
                          topology={"sip_server": {"enabled": False}}))
    assert lines == [f"s.yaml: traffic.mix.{flow}: needs topology.sip_server.enabled: its ACD "
                     f"hands the call to an agent ({why})"]
    assert scenario_from_mapping(_with(traffic={"mix": {flow: 1.0}}, agents={"count": 10}))


def test_ptime_is_validated_for_the_codec():
    lines = _errors(_with(trunk={"channels": 10, "codec": "G729", "ptime_ms": 25}))
    assert len(lines) == 1 and lines[0].startswith("s.yaml: trunk.ptime_ms: codec G729")
    assert "valid ptimes (ms): 10, 20" in lines[0]


def test_codec_alias_is_normalised():
    s = scenario_from_mapping(_with(trunk={"channels": 10, "codec": "g711a"}))
    assert s.trunk.codec == "PCMA"


def test_tls_suite_must_match_version():
    lines = _errors(_with(trunk={"channels": 10, "transport": "tls", "tls_version": 1.2,
                                 "tls_suite": "tls1.3-aead"}))
    assert lines == ["s.yaml: trunk.tls_suite: 'tls1.3-aead' is a TLS 1.3 suite, but "
                     "tls_version is 1.2"]


def test_unknown_srtp_suite_is_named():
    lines = _errors(_with(trunk={"channels": 10, "srtp": "AES_FOO"}))
    assert lines[0].startswith("s.yaml: trunk.srtp: unknown SRTP suite 'AES_FOO'; known: "
                               "AES_CM_128_HMAC_SHA1_80")


SRTP_80, SRTP_32 = "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_srtp_without_tls_signalling_is_refused(transport):
    # the SDES keys would travel in clear: the trunk offers 5061 TLS + SRTP, not 5060 + SRTP
    lines = _errors(_with(trunk={"channels": 10, "transport": transport, "srtp": SRTP_80}))
    assert lines == [f"s.yaml: trunk.srtp: SRTP needs TLS signalling: over {transport.upper()} "
                     "the SRTP keys (a=crypto in the SDP, RFC 4568) travel in clear. Set "
                     "trunk.transport to tls (the trunk's '5061 TLS + SRTP'), or remove "
                     "trunk.srtp for plain RTP ('5060 plain')"]


def test_srtp_over_tls_is_the_same_suite_both_ways_unless_a_direction_differs():
    trunk = {"channels": 10, "transport": "tls", "srtp": SRTP_80}
    assert scenario_from_mapping(_with(trunk=trunk)).trunk.srtp_suites == (SRTP_80, SRTP_80)
    split = scenario_from_mapping(_with(trunk={**trunk, "srtp_outbound": SRTP_32}))
    assert split.trunk.srtp_suites == (SRTP_80, SRTP_32)  # the carrier sends _80, accepts _32
    assert scenario_from_mapping(_with()).trunk.srtp_suites == (None, None)


@pytest.mark.parametrize("field", ["srtp_inbound", "srtp_outbound"])
def test_a_directions_srtp_suite_needs_srtp_on(field):
    lines = _errors(_with(trunk={"channels": 10, "transport": "tls", field: SRTP_32}))
    assert lines == [f"s.yaml: trunk.{field}: needs trunk.srtp (SRTP on, and the suite of the "
                     f"other direction); set trunk.srtp too, or remove trunk.{field} for plain RTP"]
    lines = _errors(_with(trunk={"channels": 10, "transport": "tls", "srtp": SRTP_80,
                                 field: "AES_FOO"}))
    assert lines[0].startswith(f"s.yaml: trunk.{field}: unknown SRTP suite 'AES_FOO'")


def test_srtp_inside_is_off_by_default_and_needs_tls_inside():
    tls_trunk = {"channels": 10, "transport": "tls", "srtp": SRTP_80}
    assert scenario_from_mapping(_with(trunk=tls_trunk)).network.internal_srtp is None
    inside = scenario_from_mapping(_with(trunk=tls_trunk, network={"internal_srtp": SRTP_32}))
    assert inside.network.internal_srtp == SRTP_32  # internal_transport "trunk": TLS
    lines = _errors(_with(trunk=tls_trunk, network={"internal_srtp": SRTP_80,
                                                    "internal_transport": "udp"}))
    assert lines == ["s.yaml: network.internal_srtp: SRTP inside needs TLS signalling inside: "
                     "over UDP the SRTP keys (a=crypto in the SDP, RFC 4568) travel in clear. "
                     "Set network.internal_transport to tls (or to trunk, with a TLS trunk), or "
                     "remove network.internal_srtp for plain RTP inside"]


def test_srtp_over_udp_in_a_sites_csv_names_the_row_and_column(tmp_path):
    csv_path = _write(tmp_path / "sites.csv",
                      "site,traffic.calls_per_second,traffic.holding_time_s,trunk.channels,"
                      "trunk.transport,trunk.srtp\n"
                      f"paris,1,60,10,tls,{SRTP_80}\n"
                      f"lyon,1,60,10,udp,{SRTP_80}\n")
    with pytest.raises(ScenarioError) as info:
        scenarios_from_csv(csv_path)
    (line,) = str(info.value).splitlines()
    assert line.startswith(f"{csv_path}:3:trunk.srtp: SRTP needs TLS signalling: over UDP")


def test_link_must_join_enabled_roles():
    data = _with(links={"overrides": {"sbc->nowhere": {"latency_ms": 3},
                                      "recorder->sbc": {"loss": 0.01}}})
    assert _errors(data) == [
        "s.yaml: links.overrides.sbc->nowhere: unknown role 'nowhere'; known: sbc, proxy, "
        "sip_server, media_server, recorder, registrar, carrier, agents, cti",
        "s.yaml: links.overrides.recorder->sbc: role 'recorder' is not enabled",
    ]


def test_link_override_applies_both_ways_over_default():
    s = scenario_from_mapping(_with(links={"default": {"latency_ms": 2, "jitter_ms": 0.5},
                                           "overrides": {"carrier->sbc": {"latency_ms": 20}}}))
    link = s.links.between("sbc", "carrier")
    assert (link.latency_ms, link.jitter_ms) == (20, 0.5)
    assert s.links.between("sbc", "proxy").latency_ms == 2


def test_recording_needs_a_recorder():
    assert _errors(_with(traffic={"recording_share": 0.2})) == [
        "s.yaml: traffic.recording_share: needs topology.recorder.enabled"]


def test_unknown_profile_is_named():
    lines = _errors(_with(topology={"proxy": {"profile": "nonexistent"}}))
    assert lines[0].startswith("s.yaml: topology.proxy.profile: cost profile 'nonexistent': "
                               "unknown; available: generic-b2bua")


def test_yaml_syntax_error_names_line(tmp_path):
    path = _write(tmp_path / "bad.yaml", "seed: 1\ntraffic: [1, 2\n")
    with pytest.raises(ScenarioError, match=rf"^{path}:3:1: invalid YAML"):
        load_scenario(path)


def test_replay_arrivals_resolve_relative_to_the_scenario(tmp_path):
    _write(tmp_path / "arrivals.csv", "time_s\n0.5\n1.0\n0.7\n")
    path = _write(tmp_path / "replay.yaml", "traffic:\n  holding_time_s: 60\n  arrivals:\n"
                  "    process: replay\n    csv: arrivals.csv\ntrunk:\n  channels: 10\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == (f"{path}: traffic.arrivals.csv: {tmp_path / 'arrivals.csv'}: "
                               "arrival times must not decrease")


def test_empirical_holding_time_defaults_to_sample_mean():
    data = _with()
    data["traffic"] = {"calls_per_second": 1,
                       "holding": {"kind": "empirical", "values_s": [60, 120, 180]}}
    assert scenario_from_mapping(data).traffic.holding_time_s == 120


def test_lognormal_needs_cv():
    assert _errors(_with(traffic={"holding": {"kind": "lognormal"}})) == [
        "s.yaml: traffic.holding.cv: required with kind: lognormal"]


def test_busy_hour_profile_scales_the_rate():
    weights = [0.5] * 24
    weights[10] = 1.0
    s = scenario_from_mapping(_with(traffic={"arrivals": {
        "process": "profile", "hourly_weights": weights, "start_hour": 9}}))
    assert s.traffic.arrivals.rate_factor(0) == 0.5
    assert s.traffic.arrivals.rate_factor(3600) == 1.0


# --- CSV rows --------------------------------------------------------------------------------


def test_csv_rows_override_a_base(tmp_path):
    base = _write(tmp_path / "base.yaml", (EXAMPLES / "minimal.yaml").read_text())
    csv_path = _write(tmp_path / "sites.csv",
                      "site,traffic.calls_per_second,trunk.codec,topology.sip_server.cores\n"
                      "paris,3,PCMA,8\n"
                      "lyon,,,\n")
    rows = scenarios_from_csv(csv_path, base=base)
    assert [r for r, _ in rows] == ["paris", "lyon"]
    paris, lyon = (s for _, s in rows)
    assert (paris.traffic.rate_cps, paris.trunk.codec, paris.topology.sip_server.cores) == \
        (3, "PCMA", 8)
    assert (lyon.traffic.rate_cps, lyon.trunk.codec, lyon.topology.sip_server.cores) == \
        (5, "PCMU", 4)
    assert paris.name == "paris"


def test_csv_errors_name_file_row_and_column(tmp_path):
    csv_path = _write(tmp_path / "sites.csv",
                      "site,base,traffic.calls_per_second,trunk.codec,topology.sip_server.cores\n"
                      '"paris\nnord",base.yaml,abc,PCMA,8\n'
                      "lyon,base.yaml,2,G999,0\n")
    _write(tmp_path / "base.yaml", (EXAMPLES / "minimal.yaml").read_text())
    with pytest.raises(ScenarioError) as info:
        scenarios_from_csv(csv_path)
    assert str(info.value).splitlines() == [
        f"{csv_path}:2:traffic.calls_per_second: Input should be a valid number, unable to "
        "parse string as a number (got 'abc')",
        f"{csv_path}:4:trunk.codec: unknown codec 'G999'; known: AMR-WB, G722, G723, G726, "
        "G728, G729, PCMA, PCMU, iLBC, opus, telephone-event",
        f"{csv_path}:4:topology.sip_server.cores: Input should be greater than or equal to 1 "
        "(got 0)",
    ]


def test_csv_unknown_column_is_an_error(tmp_path):
    csv_path = _write(tmp_path / "sites.csv",
                      "site,traffic.calls_per_second,traffic.holding_time_s,trunk.channels,"
                      "trunk.colour\nparis,1,100,10,red\n")
    with pytest.raises(ScenarioError) as info:
        scenarios_from_csv(csv_path)
    assert str(info.value).splitlines() == [
        f"{csv_path}:1:trunk.colour: unknown column: unknown key 'colour' in trunk; known: "
        + ", ".join(Scenario.model_fields["trunk"].annotation.model_fields)
    ]


def test_csv_cell_types_follow_the_field(tmp_path):
    csv_path = _write(tmp_path / "sites.csv",
                      "traffic.calls_per_second,traffic.holding_time_s,trunk.channels,"
                      "ha.hot_standby,network.ip_version,trunk.cps_limit\n"
                      "1,100,10,yes,6,none\n")
    [(row_id, s)] = scenarios_from_csv(csv_path)
    assert row_id == "2"
    assert s.ha.hot_standby is True and s.network.ip_version == 6 and s.trunk.cps_limit is None


# --- overrides -------------------------------------------------------------------------------


def test_overrides_set_fields_and_clear_alternatives():
    s = load_scenario(EXAMPLES / "minimal.yaml")
    out = apply_overrides(s, ["traffic.busy_hour_calls=3600", "traffic.mix.abandoned=0.2",
                              "links.overrides.sbc->proxy.latency_ms=5", "trunk.srtp=none"])
    assert out.traffic.calls_per_second is None and out.traffic.rate_cps == 1.0
    assert out.traffic.mix.basic == pytest.approx(0.8)
    assert out.links.between("proxy", "sbc").latency_ms == 5
    assert s.traffic.calls_per_second == 5  # the original is untouched


def test_override_errors_are_precise():
    with pytest.raises(ScenarioError) as info:
        apply_overrides(MINIMAL, ["traffic.calls_per_secnd=3", "seed"])
    assert str(info.value).splitlines() == [
        "--set traffic.calls_per_secnd=3: unknown key 'calls_per_secnd' in traffic; known: "
        "calls_per_second, busy_hour_calls, holding_time_s, arrivals, holding, mix, "
        "recording_share",
        "--set seed: expected KEY=VALUE",
    ]
    with pytest.raises(ScenarioError, match=r"^--set: trunk.channels: Input should be a valid "
                                            r"integer.*\(got 'abc'\)$"):
        apply_overrides(MINIMAL, ["trunk.channels=abc"])


# --- writing back, schema, examples ----------------------------------------------------------


def test_yaml_round_trip(tmp_path):
    s = load_scenario(EXAMPLES / "contact-centre-500.yaml")
    path = _write(tmp_path / "again.yaml", s.to_yaml())
    again = load_scenario(path)
    assert again == s
    assert again.to_yaml() == s.to_yaml()


def test_json_schema_documents_every_field():
    schema = Scenario.model_json_schema()
    missing = [f"{name}.{prop}" for name, d in [("Scenario", schema), *schema["$defs"].items()]
               for prop, spec in d.get("properties", {}).items() if not spec.get("description")]
    assert missing == []


def test_schema_command_prints_the_schema():
    app = typer.Typer()
    add_schema_command(app)

    @app.command()
    def other() -> None:  # a second command keeps `schema` a sub-command
        pass

    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "Scenario"


def test_vocabulary_covers_nested_fields():
    words = vocabulary()
    assert "topology.sip_server.cores" in words
    assert "links.overrides.<key>.latency_ms" in words
    assert "traffic" not in words


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_load(path):
    assert isinstance(load_scenario(path), Scenario)


# --- hostile input: bounds, booleans, files that are not what they claim --------------------


def _field(path: str):
    """The pydantic FieldInfo a dotted path names."""
    import typing

    from sizing.scenario.load import _is_model, _unwrap

    ann, info = Scenario, None
    for part in path.split("."):
        if _is_model(ann):
            info = ann.model_fields[part]
            ann, _ = _unwrap(info.annotation)
        else:
            ann, _ = _unwrap(typing.get_args(ann)[1])
    return info


def _numeric_paths() -> list[str]:
    from sizing.scenario.model import _numeric

    return [p for p in vocabulary() if _numeric(_field(p).annotation)]


def _upper(path: str) -> float | None:
    import annotated_types

    for m in _field(path).metadata:
        if isinstance(m, annotated_types.Le):
            return m.le
        if isinstance(m, annotated_types.Lt):
            return m.lt
    return None


# Lists and mappings of numbers are bounded by their own validators.
UNBOUNDED_BY_DESIGN = {"traffic.arrivals.hourly_weights", "traffic.holding.values_s",
                       "targets.cpu_p95_max_per_role.<key>",
                       *(f"topology.{role}.cores_options" for role in ROLES)}


@pytest.mark.parametrize("path", [p for p in _numeric_paths() if p not in UNBOUNDED_BY_DESIGN])
def test_every_numeric_field_has_an_upper_bound(path):
    assert _upper(path) is not None, f"{path} takes any number"


@pytest.mark.parametrize("path", [p for p in _numeric_paths()
                                  if p not in UNBOUNDED_BY_DESIGN and "<key>" not in p])
def test_a_value_above_the_bound_is_refused_naming_the_limit(path):
    limit = _upper(path)
    value = int(limit) * 10 + 10 if float(limit).is_integer() else limit * 10 + 10
    with pytest.raises(ScenarioError) as info:
        apply_overrides(MINIMAL, [f"{path}={value}"])
    assert any(p.path == path or p.path.startswith(path) for p in info.value.problems), \
        str(info.value)
    assert any(f"{limit:g}" in p.message or f"{int(limit)}" in p.message
               for p in info.value.problems), str(info.value)


@pytest.mark.parametrize("override", ["traffic.calls_per_second=1e9", "duration_s=1e12",
                                      "replications=1000000", "agents.count=1000000000",
                                      "endpoints.count=1000000000",
                                      "trunk.channels=1000000000"])
def test_the_reported_unbounded_inputs_are_refused(override):
    with pytest.raises(ScenarioError, match="less than or equal to"):
        apply_overrides(MINIMAL, [override])


@pytest.mark.parametrize("path", [p for p in _numeric_paths() if "<key>" not in p])
def test_a_boolean_is_not_a_number_anywhere(path):
    value = "[true]" if path in UNBOUNDED_BY_DESIGN else "true"
    with pytest.raises(ScenarioError) as info:
        apply_overrides(MINIMAL, [f"{path}={value}"])
    assert any("must be a number, not a boolean" in p.message for p in info.value.problems), \
        str(info.value)


def test_channels_true_in_a_yaml_file_is_refused(tmp_path):
    path = _write(tmp_path / "s.yaml", (EXAMPLES / "minimal.yaml").read_text()
                  .replace("channels: 1000", "channels: true"))
    with pytest.raises(ScenarioError, match="trunk.channels: must be a number, not a boolean"):
        load_scenario(path)


def test_a_boolean_mapping_value_is_refused():
    with pytest.raises(ScenarioError, match="cpu_p95_max_per_role: must be a number"):
        scenario_from_mapping(_with(targets={"cpu_p95_max_per_role": {"proxy": True}}))


def test_a_file_that_is_not_a_csv_is_not_echoed(tmp_path):
    secret = _write(tmp_path / "passwd", "root:x:0:0:root:/root:/bin/bash\nsecret-line\n")
    with pytest.raises(ScenarioError) as info:
        apply_overrides(MINIMAL, ["traffic.arrivals.process=replay",
                                  f"traffic.arrivals.csv={secret}"], base_dir=tmp_path)
    text = str(info.value)
    assert "no column 'time_s'" in text and "not a header of column names" in text
    assert "root" not in text.replace(str(tmp_path), "") and "secret-line" not in text


def test_a_cell_that_is_not_a_number_is_named_by_line_not_echoed(tmp_path):
    csv_path = _write(tmp_path / "times.csv", "time_s\n1\nhunter2-password\n")
    with pytest.raises(ScenarioError) as info:
        apply_overrides(MINIMAL, ["traffic.arrivals.process=replay",
                                  f"traffic.arrivals.csv={csv_path}"])
    assert f"{csv_path}:3: time_s: not a number" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_a_real_header_is_still_listed_when_the_column_is_missing(tmp_path):
    csv_path = _write(tmp_path / "times.csv", "start,end\n1,2\n")
    with pytest.raises(ScenarioError, match=r"no column 'time_s' \(columns: start, end\)"):
        apply_overrides(MINIMAL, ["traffic.arrivals.process=replay",
                                  f"traffic.arrivals.csv={csv_path}"])


def test_a_binary_replay_file_is_named_not_decoded(tmp_path):
    path = tmp_path / "times.csv"
    path.write_bytes(b"time_s\n\xff\xfe\x00\x01\n")
    with pytest.raises(ScenarioError, match="not UTF-8 text"):
        apply_overrides(MINIMAL, ["traffic.arrivals.process=replay",
                                  f"traffic.arrivals.csv={path}"])


@pytest.mark.parametrize("content", ["a: 1\n", "- just\n- a list\n", "root:x:0:0:/bin/sh\n"])
def test_a_profile_path_that_is_not_a_profile_is_a_scenario_error(tmp_path, content):
    profile = _write(tmp_path / "fake.yaml", content)
    with pytest.raises(ScenarioError) as info:
        apply_overrides(MINIMAL, [f"topology.proxy.profile={profile}"])
    assert f"topology.proxy.profile: {profile}" in str(info.value)


def test_csv_rows_are_validated_lazily(tmp_path):
    from sizing.scenario import iter_csv_scenarios

    csv_path = _write(tmp_path / "sites.csv",
                      "site,traffic.calls_per_second,traffic.holding_time_s,trunk.channels\n"
                      "a,1,100,10\nb,-1,100,10\n" + "c,1,100,10\n" * 3)
    rows = iter_csv_scenarios(csv_path)
    first = next(rows)
    assert first.row_id == "a" and first.scenario is not None
    second = next(rows)
    assert second.scenario is None and "traffic.calls_per_second" in str(second.problems[0])
    rest = list(rows)
    assert [r.line for r in rest] == [4, 5, 6]
    assert "duplicate row id 'c' (first on line 4)" in str(rest[2].problems[0])


def test_busy_lamps_need_a_registrar_to_subscribe_at():
    from sizing.scenario import ScenarioError, scenario_from_mapping

    data = {"traffic": {"calls_per_second": 1, "holding_time_s": 60}, "trunk": {"channels": 10},
            "endpoints": {"count": 5, "presence_subscriptions": 2},
            "topology": {"proxy": {"enabled": False}}}
    with pytest.raises(ScenarioError) as err:
        scenario_from_mapping(data)
    assert "endpoints.presence_subscriptions" in str(err.value)
    data["endpoints"] = {"count": 5}
    assert scenario_from_mapping(data).endpoints.presence_subscriptions == 0
    assert scenario_from_mapping(data).endpoints.presence_refresh_s == 3600.0
