"""The planner's web form (app.py) run headless by Streamlit's AppTest."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
import yaml
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from sizing.app.form import (
    RATE_UNITS,
    ROLE_LABELS,
    describe,
    fields,
    problems_by_field,
    scenario_from_values,
    values_from_scenario,
)
from sizing.app.presets import DEFAULT_PRESET, EXAMPLES, PRESETS, load_preset
from sizing.app.results import (
    SWEEP_LOADS,
    TILE_LABEL_MAX,
    mbps,
    simulation_tiles,
    sweep_rates,
    sweep_scenario,
)
from sizing.app.runs import calibrate, run_batch_csv, scenario_reports
from sizing.models import analytic
from sizing.models.profile import available_profiles, load_profile
from sizing.plan import closed_form, plan
from sizing.plan.batch import BatchError
from sizing.scenario import ScenarioError, apply_overrides, load_scenario, scenario_from_mapping
from sizing.sim.result import Result
from sizing.sim.simulate import simulate

APP = str(Path(__file__).parents[1] / "app.py")


@pytest.fixture
def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60).run()


def _metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert len(values) == 1, f"{label!r}: {[m.label for m in at.metric]}"
    return values[0]


def test_app_runs_without_exception(app: AppTest) -> None:
    assert not app.exception
    assert not app.error


def test_default_tiles_equal_the_closed_form_estimate(app: AppTest) -> None:
    scenario = load_scenario(PRESETS[DEFAULT_PRESET])
    t = scenario.traffic
    erlangs = float(analytic.offered_erlangs(t.rate_cps * 3600, t.holding_time_s))
    channels = int(analytic.servers_for_blocking(erlangs, scenario.targets.blocking_max))
    cf = closed_form(scenario)
    assert _metric(app, "Offered load (erlangs)") == f"{erlangs:,.1f}"
    assert _metric(app, "Trunk channels needed") == f"{channels:,}"
    assert _metric(app, "Signalling (Mbps)") == mbps(cf.links["signalling_mbps"].sum())
    assert _metric(app, "Media (Mbps)") == mbps(cf.links["media_mbps"].sum())
    for row in cf.roles.itertuples():
        unit = "server" if row.hosts == 1 else "servers"
        assert _metric(app, ROLE_LABELS[row.role]) == f"{row.hosts} {unit}"


def test_negative_holding_time_shows_a_message_by_the_field(app: AppTest) -> None:
    app.number_input(key="traffic.holding_time_s").set_value(-5.0)
    app.button(key="submit").click().run()
    assert not app.exception
    assert any("greater than 0" in e.value for e in app.error)
    assert not [m for m in app.metric if m.label == "Trunk channels needed"]


def test_shares_over_100_percent_show_a_message(app: AppTest) -> None:
    app.number_input(key="traffic.mix.ivr_then_agent").set_value(90.0)
    app.button(key="submit").click().run()
    assert not app.exception
    assert any("sum to" in e.value for e in app.error)


def test_agents_flows_without_agents_show_why_instead_of_running_as_basic_calls(app: AppTest) -> None:
    app.selectbox(key="preset").set_value("Small branch").run()  # IVR and blind transfers
    app.number_input(key="agents.count").set_value(0)
    app.button(key="submit").click().run()
    assert not app.exception
    shown = " ".join(e.value for e in app.error)
    assert "traffic.mix.ivr_then_agent: needs agents.count > 0" in shown
    assert "traffic.mix.blind_transfer: needs agents.count > 0" in shown
    assert not [m for m in app.metric if m.label == "Trunk channels needed"]


def test_srtp_suite_per_direction_moves_the_media_figure(app: AppTest) -> None:
    app.selectbox(key="trunk.transport").set_value("tls")
    app.selectbox(key="trunk.srtp").set_value("AES_CM_128_HMAC_SHA1_80")
    app.button(key="submit").click().run()
    both_80 = float(_metric(app, "Media (Mbps)"))
    app.selectbox(key="trunk.srtp_outbound").set_value("AES_CM_128_HMAC_SHA1_32")
    app.button(key="submit").click().run()
    assert not app.exception and not app.error
    assert float(_metric(app, "Media (Mbps)")) < both_80


def test_scenario_download_loads_back(monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self, data, mimetype, kind, filename=None):  # type: ignore[no-untyped-def]
        served[filename or ""] = data if isinstance(data, bytes) else Path(data).read_bytes()
        return original(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert not app.exception
    text = served["contact-centre-500.yaml"].decode("utf-8")
    loaded = scenario_from_mapping(yaml.safe_load(text))
    assert loaded == load_scenario(PRESETS[DEFAULT_PRESET])


def test_preset_switch_changes_the_form(app: AppTest) -> None:
    app.selectbox(key="preset").set_value("SIP trunk").run()
    assert not app.exception
    trunk = load_preset("SIP trunk")
    assert app.number_input(key="traffic.rate").value == trunk.traffic.calls_per_second
    assert app.selectbox(key="trunk.transport").value == "tcp"
    assert app.checkbox(key="topology.sip_server.enabled").value is False
    assert _metric(app, "Offered load (erlangs)") == f"{trunk.traffic.offered_erlangs:,.1f}"


def test_simulation_shows_kpis_against_the_targets(app: AppTest) -> None:
    app.selectbox(key="preset").set_value("Small branch").run()
    app.button(key="run_simulation").click().run(timeout=120)
    assert not app.exception
    assert int(_metric(app, "Calls offered")) > 0
    assert float(_metric(app, "SRD p95 (ms)")) < load_preset("Small branch").targets.srd_p95_max_ms
    # the run starts in steady state: no warm-up warning on the page
    assert not [w.value for w in app.warning if "warm" in w.value or "steady state" in w.value]
    # a rerun that changes nothing else keeps the (cached) results on the page
    app.multiselect(key="what_if").set_value(["SRTP on, with TLS signalling"]).run()
    assert not app.exception
    assert [m for m in app.metric if m.label == "Calls offered"]


def test_simulation_shows_cpu_bandwidth_concurrent_calls_and_srd_charts(app: AppTest) -> None:
    assert not app.get("image")  # no chart before a simulation
    app.selectbox(key="preset").set_value("Small branch").run()
    app.button(key="run_simulation").click().run(timeout=120)
    assert not app.exception
    assert len(app.get("image")) == 4
    assert "Goodput vs offered load" in [e.label for e in app.expander]
    assert app.button(key="run_sweep")


def test_sweep_rates_surround_the_capacity_the_simulation_suggests() -> None:
    hosts = pd.DataFrame(
        {
            "name": ["sbc-1", "sip_server-1", "carrier"],
            "role": ["sbc", "sip_server", "carrier"],
            "cpu_mean": [0.10, 0.25, 0.9],
        }
    )
    result = Result(kpis={"offered_cps": 5.0}, hosts=hosts, links=pd.DataFrame())
    capacity, rates = sweep_rates(result)
    # the SIP Server at 25 % for 5 calls/s; the carrier is not sized
    assert capacity == pytest.approx(20.0)
    assert rates == pytest.approx([20.0 * f for f in SWEEP_LOADS])


def test_sweep_scenario_is_short_and_lifts_the_trunk_limits() -> None:
    base = load_preset("Small branch")
    short = sweep_scenario(base, top_cps=10.0)
    assert short.replications == 1 and short.duration_s <= 20 and short.trunk.cps_limit is None
    assert short.trunk.channels >= 2 * 10.0 * (base.traffic.holding_time_s or 60.0)


def test_every_field_has_help_from_the_model(app: AppTest) -> None:
    widget = app.number_input(key="traffic.holding_time_s")
    assert widget.help == describe("traffic.holding_time_s")


def test_form_problems_are_keyed_by_widget() -> None:
    base = load_preset(DEFAULT_PRESET)
    with pytest.raises(ScenarioError) as info:
        scenario_from_values(
            base, {"traffic.rate_unit": "calls/s", "traffic.rate": -1.0, "trunk.channels": 0}
        )
    placed = problems_by_field(info.value, {"traffic.rate", "trunk.channels"})
    assert set(placed) == {"traffic.rate", "trunk.channels"}


def test_calibrated_profile_loads_and_names_its_source(tmp_path: Path) -> None:
    measured = Path(__file__).parents[1] / "data" / "measurements" / "sizing-serve-uas-udp.csv"
    path, note = calibrate(measured.read_bytes(), "my-uas", tmp_path)
    profile = load_profile(str(path))
    assert profile.estimate is False
    assert "R^2" in note and "sizing measure" in profile.source


def test_batch_problems_name_the_uploaded_file_row_and_column() -> None:
    with pytest.raises(BatchError) as info:
        run_batch_csv(
            b"site,traffic.calls_per_second\nbranch,-1\n",
            load_preset("Small branch").to_yaml(),
            "upload.csv",
        )
    assert info.value.problems == [
        "upload.csv:2:traffic.calls_per_second: Input should be greater than 0 (got -1)"
    ]


def test_batch_sizes_each_site_of_the_csv() -> None:
    summary, files = run_batch_csv(
        b"site,traffic.busy_hour_calls\nnorth,360\nsouth,720\n",
        load_preset("Small branch").to_yaml(),
    )
    assert list(summary["Site"]) == ["north", "south"]
    assert files["report.html"].startswith(b"<!DOCTYPE html>")


def test_batch_holds_one_plan_at_a_time_however_many_sites(monkeypatch) -> None:
    """Each site's plan goes to the streamed reports and is dropped before the next is
    planned: when the reports take a plan, it is the only one alive (holding them all,
    as the form once did, left every earlier one alive)."""
    import gc
    import weakref

    from sizing.report.writer import BatchReports

    refs: list[weakref.ref] = []
    alive_at_add: list[int] = []
    add = BatchReports.add

    def observed_add(self, site, p, index=None):
        refs.append(weakref.ref(p))
        gc.collect()
        alive_at_add.append(sum(r() is not None for r in refs))
        return add(self, site, p, index)

    monkeypatch.setattr(BatchReports, "add", observed_add)
    sites = 50
    csv = "site,traffic.busy_hour_calls\n" + "".join(f"s{i},{360 + i}\n" for i in range(sites))
    summary, files = run_batch_csv(csv.encode(), load_preset("Small branch").to_yaml(),
                                   figures_for_sites=1)
    assert alive_at_add == [1] * sites
    assert list(summary["Site"]) == [f"s{i}" for i in range(sites)]
    assert len(pd.read_csv(io.BytesIO(files["summary.csv"]))) == sites


def test_batch_table_and_downloads_are_those_of_the_plans_sized_together() -> None:
    from sizing.app.runs import report_files
    from sizing.report.tables import summary_table

    base = load_preset("Small branch")
    summary, files = run_batch_csv(b"site,traffic.busy_hour_calls\nnorth,360\nsouth,7200\n",
                                   base.to_yaml())
    plans = {site: plan(apply_overrides(base, [f"traffic.busy_hour_calls={calls}"]),
                        simulate=False) for site, calls in (("north", 360), ("south", 7200))}
    pd.testing.assert_frame_equal(summary, summary_table(plans))
    together = report_files(plans, "Sizing report")
    assert files["summary.csv"] == together["summary.csv"]
    assert files["report.html"] == together["report.html"]


def test_report_downloads_are_xlsx_and_self_contained_html() -> None:
    files = scenario_reports(load_preset("Small branch").to_yaml())
    assert files["report.xlsx"][:2] == b"PK"  # an XLSX workbook is a zip archive
    html = files["report.html"].decode("utf-8")
    assert "small-branch" in html and 'src="http' not in html


def test_switching_rate_unit_converts_an_unchanged_rate(app: AppTest) -> None:
    app.selectbox(key="traffic.rate_unit").set_value("busy-hour calls")
    app.button(key="submit").click().run()
    assert not app.exception
    assert app.number_input(key="traffic.rate").value == pytest.approx(1.4 * 3600)
    assert _metric(app, "Offered load (erlangs)") == "420.0"


def _table(at: AppTest, column: str) -> pd.DataFrame:
    tables = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(tables) == 1, [list(d.value.columns) for d in at.dataframe]
    return tables[0]


def _signalling(at: AppTest) -> dict[str, float]:
    """Signalling Mbps per link, both directions (the table has a row each way)."""
    links = _table(at, "Link")
    return links.groupby("Link")["Signalling (Mbps)"].sum().to_dict()


def test_inside_udp_behind_a_tls_trunk_lightens_only_the_inside_links(app: AppTest) -> None:
    before = _signalling(app)  # the default preset: TLS trunk, SBC and proxy
    app.selectbox(key="network.internal_transport").set_value("udp")
    app.button(key="submit").click().run()
    assert not app.exception
    after = _signalling(app)
    assert after["carrier->sbc"] == before["carrier->sbc"]
    for link in ("sbc->proxy", "proxy->sip_server", "proxy->agents"):
        assert after[link] < before[link], link
    assert any("over TLS on the carrier's link and over UDP" in c.value for c in app.caption)


def test_inside_transport_without_an_edge_proxy_is_terminated_by_the_sip_server(
    app: AppTest,
) -> None:
    app.selectbox(key="preset").set_value("Small branch").run()  # UDP trunk, SBC, no proxy
    app.selectbox(key="trunk.transport").set_value("tls")
    app.selectbox(key="network.internal_transport").set_value("udp")
    app.checkbox(key="topology.sbc.enabled").uncheck()
    app.button(key="submit").click().run()
    assert not app.exception and not app.error
    assert any(
        "the SIP Server" in c.value and "terminates the trunk's TLS" in c.value for c in app.caption
    )
    assert [m for m in app.metric if m.label == "Trunk channels needed"]


def test_host_sizes_chosen_show_the_plans_cores_per_server(app: AppTest) -> None:
    app.multiselect(key="cores_options").set_value([16, 32])
    app.button(key="submit").click().run()
    assert not app.exception
    expected = plan(load_preset(DEFAULT_PRESET), simulate=False, cores_options=(16, 32))
    shown = _table(app, "Cores per server")
    assert list(shown["Cores per server"]) == list(expected.deployment["cores_per_host"])
    assert list(shown["Total cores"]) == list(expected.deployment["total_cores"])
    assert set(shown["Cores per server"]) <= {16, 32}
    assert any(f"**Recommended:** {expected.summary()}" == m.value for m in app.markdown)
    # the what-if table sizes its variants with the same host sizes
    app.multiselect(key="what_if").set_value(["SRTP on, with TLS signalling"]).run()
    compared = _table(app, "variant").set_index("variant")
    roles = expected.cores()
    assert all(compared.loc["baseline", f"{r} cores per host"] == c for r, c in roles.items())


def test_the_host_sizes_start_as_the_scenarios(app: AppTest) -> None:
    assert app.multiselect(key="cores_options").value == [2, 4, 8, 16]
    expected = plan(load_preset(DEFAULT_PRESET), simulate=False)
    shown = _table(app, "Cores per server")
    assert list(shown["Cores per server"]) == list(expected.deployment["cores_per_host"])


def test_the_host_sizes_chosen_become_every_roles_allowed_sizes() -> None:
    base = load_preset(DEFAULT_PRESET)
    assert values_from_scenario(base)["cores_options"] == [2, 4, 8, 16]
    chosen = scenario_from_values(base, {"cores_options": [16, 8]})
    assert {tuple(chosen.topology.role(r).cores_options) for r in ROLE_LABELS} == {(8, 16)}
    kept = scenario_from_values(base, {"cores_options": []})
    assert plan(kept, simulate=False).cores() == {
        r: kept.topology.role(r).cores for r in kept.topology.enabled()}


def test_no_host_sizes_chosen_keeps_the_cores_entered(app: AppTest) -> None:
    app.multiselect(key="cores_options").set_value([])
    app.button(key="submit").click().run()
    shown = _table(app, "Cores per server")
    assert list(shown["Cores per server"]) == list(shown["Cores per server entered"])


def test_report_downloads_use_the_host_sizes_chosen() -> None:
    files = scenario_reports(load_preset("Small branch").to_yaml(), (16,))
    summary = pd.read_csv(io.BytesIO(files["summary.csv"]))
    cores = [c for c in summary.columns if c.endswith("cores per host")]
    assert cores and all(summary[c].iloc[0] == 16 for c in cores)


def test_the_recommended_deployment_can_be_simulated(app: AppTest) -> None:
    app.selectbox(key="preset").set_value("Small branch").run()
    app.multiselect(key="cores_options").set_value([16])
    app.button(key="submit").click().run()
    app.radio(key="sim_deployment").set_value("as recommended").run()
    app.button(key="run_simulation").click().run(timeout=120)
    assert not app.exception
    assert any(c.value.startswith("Simulates the deployment as recommended") for c in app.caption)
    hosts = _table(app, "Host")
    sized = hosts[hosts["Role"].str.startswith(("SBC", "SIP Proxy", "SIP Server"))]
    assert len(sized) and set(sized["Cores"]) == {16}  # the chosen host size, not the cores entered


# -- cloud trunk fields: connections, TLS resumption, CPS limit, session timer, INVITE size --

TRUNK_FIELDS = (
    "trunk.cps_limit",
    "trunk.tls_resumed_share",
    "trunk.calls_per_connection",
    "trunk.uui_bytes",
    "trunk.custom_header_bytes",
    "trunk.session_expires_s",
    "trunk.session_refresh",
    "trunk.tls_suite",
    "trunk.tls_key",
    "trunk.bitrate_kbps",
)
ALL_TRUNK_FIELDS_SET = [
    "trunk.transport=tls",
    "trunk.tls_version=1.2",
    "trunk.tls_suite=tls1.2-aes-cbc-sha256",
    "trunk.tls_key=ecdsa",
    "trunk.codec=opus",
    "trunk.bitrate_kbps=24",
    "trunk.calls_per_connection=7",
    "trunk.tls_resumed_share=0.35",
    "trunk.cps_limit=12.5",
    "trunk.session_expires_s=1200",
    "trunk.session_refresh=invite",
    "trunk.uui_bytes=33",
    "trunk.custom_header_bytes=250",
]


def test_trunk_section_shows_the_cloud_trunk_fields_with_the_models_help(app: AppTest) -> None:
    shown = {w.key: w for w in [*app.number_input, *app.selectbox]}
    for key in TRUNK_FIELDS:
        assert shown[key].help.startswith(describe(key)), key
    # the fields that only matter over TCP/TLS say so, rather than hiding over UDP
    assert "only when the transport is TLS" in shown["trunk.tls_resumed_share"].help
    assert "ignored over UDP" in shown["trunk.calls_per_connection"].help


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_form_values_round_trip_the_examples(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario_from_values(scenario, values_from_scenario(scenario)) == scenario


def test_form_values_round_trip_every_cloud_trunk_field() -> None:
    base = load_preset("SIP trunk")
    changed = apply_overrides(base, ALL_TRUNK_FIELDS_SET)
    values = values_from_scenario(changed)
    assert values["trunk.tls_resumed_share"] == 35.0  # shown in percent
    assert scenario_from_values(base, values) == changed
    # and back: the base's unset session timer and calls per connection are "none"
    assert scenario_from_values(changed, values_from_scenario(base)) == base


def test_a_cps_limit_of_zero_means_no_limit() -> None:
    base = load_preset("SIP trunk")  # cps_limit: 60
    assert (
        values_from_scenario(apply_overrides(base, ["trunk.cps_limit=none"]))["trunk.cps_limit"]
        == 0.0
    )
    assert scenario_from_values(base, {"trunk.cps_limit": 0.0}).trunk.cps_limit is None
    assert scenario_from_values(base, {"trunk.cps_limit": 5.0}).trunk.cps_limit == 5.0


def test_a_connection_per_call_over_tls_raises_the_carrier_links_signalling(app: AppTest) -> None:
    before = _signalling(app)  # the default preset: TLS trunk, a connection per 100 calls
    app.selectbox(key="trunk.calls_per_connection").set_value("1")
    app.button(key="submit").click().run()
    assert not app.exception
    after = _signalling(app)
    per_call = closed_form(
        apply_overrides(load_preset(DEFAULT_PRESET), ["trunk.calls_per_connection=1"])
    )
    carrier = per_call.links.set_index("link").loc["carrier->sbc", "signalling_mbps"]
    assert after["carrier->sbc"] == pytest.approx(carrier, abs=5e-4)
    assert after["carrier->sbc"] > before["carrier->sbc"]
    assert after["sbc->proxy"] == before["sbc->proxy"]  # the inside connections stay open


def test_a_connection_per_call_over_udp_changes_nothing(app: AppTest) -> None:
    app.selectbox(key="preset").set_value("Small branch").run()  # UDP trunk
    before = _signalling(app)
    app.selectbox(key="trunk.calls_per_connection").set_value("1")
    app.button(key="submit").click().run()
    assert not app.exception
    assert _signalling(app) == before


def test_bad_cloud_trunk_values_show_messages_by_their_fields(app: AppTest) -> None:
    app.number_input(key="trunk.uui_bytes").set_value(-1)
    app.number_input(key="trunk.tls_resumed_share").set_value(150.0)
    app.number_input(key="trunk.cps_limit").set_value(-2.0)
    app.button(key="submit").click().run()
    assert not app.exception
    errors = [e.value for e in app.error]
    assert "Input should be greater than or equal to 0 (got -1)" in errors
    assert "Input should be less than or equal to 100 % (got 150 %)" in errors  # in percent
    assert "Input should be greater than 0 (got -2.0)" in errors
    assert not [m for m in app.metric if m.label == "Trunk channels needed"]
    fix = next(w.value for w in app.warning if w.value.startswith("Fix these fields"))
    assert "Trunk › User-to-User (UUI) bytes" in fix and "Trunk › TLS sessions resumed" in fix


def test_a_connection_per_call_over_tls_shows_the_connections_simulated() -> None:
    scenario = apply_overrides(
        load_preset("Small branch"),
        [
            "trunk.transport=tls",
            "trunk.calls_per_connection=1",
            "traffic.busy_hour_calls=1800",
            "duration_s=60",
            "warmup_s=10",
            "replications=1",
        ],
    )
    result = simulate(scenario)
    tiles = {t.key: t for t in simulation_tiles(result, scenario)}
    calls = int(tiles["calls_offered"].value)
    assert calls > 0
    # every call the carrier places opens its own TLS connection
    assert float(tiles["trunk_connections"].value) == pytest.approx(calls / 60, abs=0.006)
    assert tiles["trunk_connections"].note == "one per call, each a TCP and TLS handshake"
    assert all(len(t.label) <= TILE_LABEL_MAX for t in tiles.values())  # read whole


def test_connections_are_not_a_tile_when_the_trunk_reuses_them() -> None:
    scenario = apply_overrides(
        load_preset("Small branch"),
        ["trunk.transport=tls", "duration_s=20", "warmup_s=5", "replications=1"],
    )
    tiles = simulation_tiles(simulate(scenario), scenario)
    assert "trunk_connections" not in {t.key for t in tiles}


@pytest.mark.parametrize(("settings", "message", "widget"), [
    ({"trunk.tls_version": "1.3", "trunk.tls_suite": "tls1.2-aes-gcm"},
     "is a TLS 1.2 suite, but tls_version is 1.3", "Trunk › TLS cipher suite"),
    # SRTP's keys would travel in clear over UDP
    ({"trunk.transport": "udp", "trunk.srtp": "AES_CM_128_HMAC_SHA1_80"},
     "SRTP needs TLS signalling: over UDP", "Trunk › SRTP suite"),
], ids=["tls-suite-of-another-version", "srtp-over-udp"])
def test_a_combination_of_trunk_fields_shows_a_message_by_the_field(
        app: AppTest, settings: dict[str, str], message: str, widget: str) -> None:
    for key, value in settings.items():
        app.selectbox(key=key).set_value(value)
    app.button(key="submit").click().run()
    assert not app.exception
    assert any(message in e.value for e in app.error)
    fix = next(w.value for w in app.warning if w.value.startswith("Fix these fields"))
    assert widget in fix


# --- every label reads whole ---


def _expected_labels(key: str, options: list[str]) -> list[str]:
    """What a select box should show: the option itself, or its stated label."""
    field = {f.key: f for f in fields()}[key]
    labels = dict(field.option_labels)
    return [labels.get(o, o) for o in options]


def test_every_select_box_shows_each_option_whole(app: AppTest) -> None:
    by_key = {f.key: f for f in fields()}
    boxes = [sb for sb in app.selectbox if sb.key in by_key]
    assert len(boxes) == sum(f.kind == "select" for f in by_key.values())
    for sb in boxes:
        expected = _expected_labels(sb.key, list(by_key[sb.key].options))
        assert sb.options == expected, sb.key
        assert all(label.strip() for label in sb.options), sb.key
        assert sb.format_func(sb.value) in sb.options, sb.key
    rate = app.selectbox(key="traffic.rate_unit")
    assert rate.label == "Rate given as"
    assert rate.options == list(RATE_UNITS) == ["calls/s", "busy-hour calls"]
    assert app.selectbox(key="preset").options == list(PRESETS)


def test_a_calibrated_profile_shows_by_its_name_and_shipped_ones_as_they_are(
    app: AppTest, tmp_path: Path
) -> None:
    measured = Path(__file__).parents[1] / "data" / "measurements" / "sizing-serve-uas-udp.csv"
    path, _ = calibrate(measured.read_bytes(), "my-uas", tmp_path)
    app.session_state["extra_profiles"] = [str(path)]
    app.run()
    box = app.selectbox(key="topology.sbc.profile")
    assert box.options[-1] == "my-uas (calibrated)"
    assert box.options[:-1] == available_profiles()  # shipped ones by their own names
    assert "s (calibrated)" not in app.selectbox(key="traffic.rate_unit").options


def test_every_tile_label_reads_whole(app: AppTest) -> None:
    assert app.metric
    assert all(len(m.label) <= TILE_LABEL_MAX for m in app.metric), [m.label for m in app.metric]


def test_the_bandwidth_table_names_each_direction(app: AppTest) -> None:
    links = _table(app, "Direction")
    assert {"carrier → SBC", "SBC → carrier", "SBC → SIP Proxy", "SIP Proxy → SBC"} <= set(
        links["Direction"]
    )
    assert links.groupby("Link").size().eq(2).all()  # both ways of every link
    assert any(c.startswith("Provision with") and c.endswith("(Mbps)") for c in links.columns)


def test_a_tls_trunk_shows_the_share_of_cpu_tls_takes(app: AppTest) -> None:
    app.selectbox(key="trunk.transport").set_value("tls")
    app.button(key="submit").click().run()
    assert not app.exception
    shares = _table(app, "TLS share of CPU (%)").set_index("Role")["TLS share of CPU (%)"]
    assert (shares > 0).all()
    server = shares["SIP Server (B2BUA)"]
    assert any(c.value.endswith(f"TLS {server:.1f}% of CPU") for c in app.caption)


# --- high availability ---


def test_the_form_sets_each_roles_high_availability_and_its_replication_sizes() -> None:
    base = load_scenario(PRESETS[DEFAULT_PRESET])  # ha.hot_standby: the SIP Server's pair
    values = values_from_scenario(base)
    assert values["topology.sip_server.ha"] == "pair" and values["topology.sbc.ha"] == "none"
    assert scenario_from_values(base, values) == base
    values.update({"topology.sbc.ha": "pair", "topology.proxy.ha": "n_plus_1",
                   "topology.sip_server.ha": "none", "ha.sbc_bytes_per_call_event": 1500})
    changed = scenario_from_values(base, values)
    assert [changed.ha_mode(r) for r in ("sbc", "proxy", "sip_server")] == ["pair", "n_plus_1", "none"]
    assert changed.ha.sbc_bytes_per_call_event == 1500
    field = {f.key: f for f in fields()}["topology.sbc.ha"]
    assert field.option_label("n_plus_1") == "N+1 spare" and "pair" in field.help
