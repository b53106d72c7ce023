"""The scenario model: loading, precise errors, CSV rows, overrides, round trip, schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sizing.scenario import (
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
    s = scenario_from_mapping(_with(traffic={"mix": {"ivr_then_agent": 0.25, "abandoned": 0.05}}))
    assert s.traffic.mix.basic == pytest.approx(0.7)


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
