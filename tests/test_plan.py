"""plan(): closed-form answers where they are exact, simulated confirmation, what-if."""

from __future__ import annotations

import html
import math
import re

import pytest

from sizing.models import analytic
from sizing.plan import (
    closed_form,
    compare,
    cpu_p95_estimate,
    hosts_for_target,
    plan,
)
from sizing.plan.search import _grow, _Measured, _shrink
from sizing.scenario import ScenarioError, apply_overrides, scenario_from_mapping

PER_MESSAGE_US = 1000.0


@pytest.fixture
def flat_profile(tmp_path):
    """A proxy profile whose every message costs exactly 1 ms and nothing else."""
    path = tmp_path / "flat.yaml"
    path.write_text("name: flat\nsource: test\nstatic_core_fraction: 0\n"
                    f"per_message_us: {{default: {PER_MESSAGE_US}}}\nper_kbyte_us: 0\n")
    return str(path)


def proxy_only(profile: str, cps: float, cores: int = 2, **extra) -> object:
    data = {
        "seed": 3, "duration_s": 20, "warmup_s": 5,
        "traffic": {"calls_per_second": cps, "holding_time_s": 10},
        "trunk": {"channels": 1000},
        "topology": {"sbc": {"enabled": False}, "sip_server": {"enabled": False},
                     "media_server": {"enabled": False},
                     "proxy": {"instances": 1, "cores": cores, "profile": profile,
                               "cores_options": []}},  # fixed hardware: cores as given
    }
    data.update(extra)
    return scenario_from_mapping(data)


def test_trunk_channels_are_the_erlang_b_inverse():
    sc = scenario_from_mapping({"traffic": {"calls_per_second": 5, "holding_time_s": 180},
                                "trunk": {"channels": 10}, "targets": {"blocking_max": 0.01}})
    p = plan(sc, simulate=False)
    n = p.trunk_channels
    assert analytic.erlang_b(900, n) <= 0.01 < analytic.erlang_b(900, n - 1)


def test_pure_per_message_cost_gives_exact_busy_cores(flat_profile):
    # A basic call crosses the proxy on two links of 7 messages each; the proxy
    # receives 7 of the 14 (requests from the caller, responses from the callee).
    cf = closed_form(proxy_only(flat_profile, cps=100))
    row = cf.roles.set_index("role").loc["proxy"]
    assert row["msgs_per_s"] == pytest.approx(100 * 7)
    assert row["busy_cores"] == pytest.approx(100 * 7 * PER_MESSAGE_US / 1e6)


def test_hosts_are_the_fewest_meeting_the_cpu_target(flat_profile):
    cf = closed_form(proxy_only(flat_profile, cps=200, cores=2))
    row = cf.roles.set_index("role").loc["proxy"]
    busy, msgs = 1.4, 1400.0  # 200 calls/s x 7 messages received x 1 ms
    fits = [n for n in range(1, 20) if (busy / n + 1.645 * (busy / n) / math.sqrt(msgs / n)) / 2
            <= 0.6]
    assert row["hosts"] == fits[0] == 2
    assert row["binding"] == "cpu_p95"


def test_hosts_for_target_rejects_a_static_load_above_the_target():
    with pytest.raises(ValueError, match="static load"):
        hosts_for_target(1.0, 0.7, 10.0, cores=1, target=0.6)


def test_cpu_p95_estimate_without_messages_is_the_static_load():
    assert cpu_p95_estimate(0.2, 0.2, 0.0, cores=4) == pytest.approx(0.05)


def test_targets_argument_replaces_the_scenarios(flat_profile):
    sc = proxy_only(flat_profile, cps=100, cores=2)
    loose = plan(sc, {"cpu_p95_max": 0.9}, simulate=False)
    tight = plan(sc, {"cpu_p95_max": 0.3}, simulate=False)
    assert loose.hosts()["proxy"] < tight.hosts()["proxy"]


def test_simulated_plan_meets_its_targets_with_confidence(flat_profile):
    sc = proxy_only(flat_profile, cps=5, cores=1, replications=2, duration_s=10, warmup_s=2,
                    targets={"cpu_p95_max": 0.5}, simulation={"start": "empty"})
    p = plan(sc)
    assert p.simulated and p.met
    assert len(p.candidates) >= 1
    row = p.deployment.set_index("role").loc["proxy"]
    assert row["cpu_p95"] <= 0.5
    assert row["cpu_p95_ci"] >= 0  # two replications give an interval
    assert "95 % CI" in p.confidence
    # an empty start's 2 s warm-up is short of the mean holding time: said in the plan,
    # its confidence and row
    assert any("shorter than the mean holding time" in w for w in p.warnings)
    assert "Warning: warmup_s 2 s is shorter" in p.confidence
    assert "shorter than the mean holding time" in p.to_row()["warnings"]


def _measured(cpu: dict[str, float], **kpis: float) -> _Measured:
    return _Measured(cpu_p95=cpu, cpu_p95_ci={}, kpis=kpis, links_mbps={}, series={},
                     replications=1)


def test_a_cpu_miss_grows_the_role_in_proportion(flat_profile):
    sc = proxy_only(flat_profile, cps=5)  # cpu target 0.6
    hosts, channels, why = _grow({"proxy": 2}, _measured({"proxy": 0.9}), sc, 100)
    assert hosts == {"proxy": 3} and channels == 100
    assert "proxy CPU p95 90%" in why


def test_a_blocking_miss_adds_channels(flat_profile):
    sc = proxy_only(flat_profile, cps=5)
    hosts, channels, why = _grow({"proxy": 1}, _measured({"proxy": 0.1}, blocking_ratio=0.05),
                                 sc, 100)
    assert hosts == {"proxy": 1} and channels == 105
    assert "blocking" in why


def test_a_comfortable_role_is_tried_with_one_host_fewer(flat_profile):
    sc = proxy_only(flat_profile, cps=5)
    assert _shrink({"proxy": 4}, _measured({"proxy": 0.2}), sc, {}) == {"proxy": 3}
    assert _shrink({"proxy": 4}, _measured({"proxy": 0.5}), sc, {}) == {"proxy": 4}


def test_compare_shows_codec_and_srtp_deltas():
    sc = scenario_from_mapping({"traffic": {"calls_per_second": 2, "holding_time_s": 120},
                                "trunk": {"channels": 400, "codec": "PCMU", "transport": "tls"}})
    table = compare(sc, {"g729": ["trunk.codec=G729"],
                         "srtp": ["trunk.srtp=AES_CM_128_HMAC_SHA1_80"]}).set_index("variant")
    assert table.loc["g729", "Δ media Mbps"] < 0
    assert table.loc["srtp", "Δ media Mbps"] > 0
    assert table.loc["baseline", "Δ media Mbps"] == 0


def test_closed_form_media_uses_each_directions_srtp_suite_and_plain_rtp_inside():
    from sizing.models.media import stream_bandwidth

    def media(**trunk):  # type: ignore[no-untyped-def]
        sc = scenario_from_mapping({"traffic": {"calls_per_second": 2, "holding_time_s": 120},
                                    "trunk": {"channels": 400, "transport": "tls", **trunk}})
        ways = closed_form(sc).directions.set_index(["src", "dst"])["media_mbps"]
        return {k: ways[k] for k in (("carrier", "sbc"), ("sbc", "carrier"), ("sbc", "agents"))}

    plain = media()
    split = media(srtp="AES_CM_128_HMAC_SHA1_80", srtp_outbound="AES_CM_128_HMAC_SHA1_32")
    kbps = {s: stream_bandwidth("PCMU", srtp=s).l2_kbps
            for s in (None, "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")}
    to_us, to_carrier = split[("carrier", "sbc")], split[("sbc", "carrier")]
    assert to_us / plain[("carrier", "sbc")] == pytest.approx(kbps["AES_CM_128_HMAC_SHA1_80"] / kbps[None])
    assert to_carrier / plain[("sbc", "carrier")] == pytest.approx(kbps["AES_CM_128_HMAC_SHA1_32"] / kbps[None])
    assert split[("sbc", "agents")] == plain[("sbc", "agents")]  # the SBC ends SRTP


def test_compare_with_host_sizes_tabulates_the_chosen_cores():
    sc = scenario_from_mapping({"traffic": {"calls_per_second": 20, "holding_time_s": 120},
                                "trunk": {"channels": 4000}})
    table = compare(sc, {"tls": ["trunk.transport=tls"]}, cores_options=(2, 4, 8)).set_index("variant")
    for variant in ("baseline", "tls"):
        chosen = plan(apply_overrides(sc, [] if variant == "baseline" else ["trunk.transport=tls"]),
                      simulate=False, cores_options=(2, 4, 8))
        assert table.loc[variant, "total cores"] == int(chosen.deployment["total_cores"].sum())
        for role, cores in chosen.cores().items():
            assert table.loc[variant, f"{role} cores per host"] == cores


def test_compare_names_a_bad_variant():
    sc = scenario_from_mapping({"traffic": {"calls_per_second": 2, "holding_time_s": 120},
                                "trunk": {"channels": 400}})
    with pytest.raises(ScenarioError, match="variant 'x'"):
        compare(sc, {"x": ["trunk.codec=NOPE"]})


def test_plan_renders_as_html_with_the_plain_summary():
    sc = apply_overrides(scenario_from_mapping({"traffic": {"calls_per_second": 2,
                                                            "holding_time_s": 120},
                                                "trunk": {"channels": 400}}), ["name=demo"])
    p = plan(sc, simulate=False)
    page = p._repr_html_()
    assert p.summary() in html.unescape(page)
    assert "SBC" in p.summary() and "trunk channels" in p.summary()


def _cli(*args: str):
    import typer
    from typer.testing import CliRunner

    from sizing.cli.plan import add_plan_commands

    app = typer.Typer()
    add_plan_commands(app)

    @app.callback()
    def _root() -> None:
        """sizing"""

    return CliRunner().invoke(app, list(args))


def test_plan_command_prints_the_deployment_first(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("traffic: {calls_per_second: 2, holding_time_s: 120}\ntrunk: {channels: 400}\n")
    result = _cli("plan", str(path), "--no-simulate")
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    # the smallest of the default host sizes (2, 4, 8, 16) is enough at 240 erlangs
    assert first.startswith("1 x SBC (2 cores)") and "trunk channels" in first
    assert "Binding constraint" in result.output
    why = result.output.split("\nWhy these sizes\n")[1].split("\n\n")[0].splitlines()
    assert why[0].startswith("  SBC: 2 cores: ") and why[0].endswith("the smallest allowed size")
    # numbers as the tables round them, not padded to their column's longest decimals
    links = result.output.split("\nLinks\n")[1].split("\n\n")[0]
    assert re.findall(r"\d\.\d+", links) and not re.findall(r"\d\.\d*0\b", links), links


def test_plan_command_reports_a_bad_override_with_exit_2(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("traffic: {calls_per_second: 2, holding_time_s: 120}\ntrunk: {channels: 400}\n")
    result = _cli("plan", str(path), "--set", "trunk.channels=lots", "--no-simulate")
    assert result.exit_code == 2
    assert "sizing: error: --set: trunk.channels: Input should be a valid integer" in result.output


def test_a_simulated_plan_keeps_each_direction_of_a_recorded_link():
    from sizing.plan import plan as size

    sc = scenario_from_mapping({
        "seed": 3, "duration_s": 10, "warmup_s": 5,
        "traffic": {"calls_per_second": 2, "holding_time_s": 60, "recording_share": 1.0},
        "trunk": {"channels": 400}, "topology": {"recorder": {"enabled": True}}})
    p = size(sc, simulate=True, max_rounds=1)
    ways = p.directions.set_index(["src", "dst"])
    assert ways.loc[("sbc", "recorder"), "media_mbps"] > 0
    assert ways.loc[("recorder", "sbc"), "media_mbps"] == 0
    both = p.links.set_index("link").loc["sbc->recorder", "total_mbps"]
    assert ways.loc[("sbc", "recorder"), "total_mbps"] + \
        ways.loc[("recorder", "sbc"), "total_mbps"] == pytest.approx(both)
    assert ways["required_mbps"].tolist() == pytest.approx(
        (ways["total_mbps"] / (1 - sc.targets.link_headroom)).tolist())


def test_a_simulated_plan_says_why_its_calls_in_progress_differ_from_the_offered_erlangs(flat_profile):
    # half the calls abandon after a second: 5 calls/s x 10 s offers 50 erlangs, the mix
    # holds 5 x (0.5 x 10 + 0.5 x 1) = 27.5 calls in progress
    sc = proxy_only(flat_profile, cps=5, duration_s=30, warmup_s=5,
                    traffic={"calls_per_second": 5, "holding_time_s": 10, "holding": {"kind": "fixed"},
                             "mix": {"basic": 0.5, "abandoned": 0.5}})
    p = plan(sc)
    kpis = p.kpis.set_index("kpi")["value"]
    assert kpis["expected_concurrent_calls"] == pytest.approx(27.5)
    assert kpis["mean_concurrent_calls"] == pytest.approx(27.5, rel=0.15)
    assert "27.5 expected from the call mix, 50.0 erlangs offered" in p.confidence
    assert "abandoned and busy or unanswered calls hold a channel for seconds" in p.confidence


def test_a_carrier_refer_share_adds_the_trunks_and_sip_servers_messages_and_cpu():
    """Each carrier REFER adds a REFER transaction (REFER, 202, two NOTIFYs, two 200s) and
    an answered leg (7 messages) on every hop between the carrier and the SIP Server, and a
    re-INVITE (3) on the agents' link: the trunk's messages and the SIP Server's CPU per
    call grow with the share."""
    from sizing.plan import link_messages

    def at(share: float):
        sc = scenario_from_mapping({"traffic": {"calls_per_second": 10, "holding_time_s": 60,
                                                "mix": {"carrier_refer": share}},
                                    "trunk": {"channels": 1000}, "agents": {"count": 1000}})
        return sc, closed_form(sc, ())

    per_call = []
    for share in (0.0, 0.25, 0.5):
        sc, cf = at(share)
        links = link_messages(sc)
        roles = cf.roles.set_index("role")
        per_call.append((sum(links[("carrier", "sbc")].values()), sum(links[("sip_server", "agents")].values()),
                         roles.loc["sip_server", "busy_cores"], roles.loc["sbc", "busy_cores"]))
    trunk = [p[0] for p in per_call]
    assert trunk[1] - trunk[0] == pytest.approx(0.25 * 13) and trunk[2] - trunk[1] == pytest.approx(0.25 * 13)
    assert per_call[2][1] - per_call[0][1] == pytest.approx(0.5 * 3)
    assert per_call[0][2] < per_call[1][2] < per_call[2][2]  # the SIP Server's CPU
    assert per_call[0][3] < per_call[1][3] < per_call[2][3]  # the SBC's


def test_busy_lamp_notifies_grow_with_calls_times_watchers():
    """Refreshes: four messages per subscription and interval; state changes: a NOTIFY and
    its 200 per watcher for each of a call's three (early, confirmed, terminated)."""
    from sizing.plan import presence_messages

    def lamps(cps: float, per: int, refresh: float = 3600.0) -> dict[str, float]:
        return presence_messages(scenario_from_mapping({
            "traffic": {"calls_per_second": cps, "holding_time_s": 60}, "trunk": {"channels": 1000},
            "agents": {"count": 100},
            "endpoints": {"count": 50, "presence_subscriptions": per, "presence_refresh_s": refresh}}))

    assert lamps(10, 0) == {}
    base = lamps(10, 2)
    assert base["SUBSCRIBE"] == pytest.approx(100 / 3600) == base["refresh NOTIFY"]
    watchers = 50 * 2 / 100
    assert base["NOTIFY"] == pytest.approx(10 * 3 * watchers) == base["200 NOTIFY"] - base["refresh NOTIFY"]
    assert lamps(20, 2)["NOTIFY"] == pytest.approx(2 * base["NOTIFY"])  # twice the calls
    assert lamps(10, 6)["NOTIFY"] == pytest.approx(3 * base["NOTIFY"])  # three times the watchers
    assert lamps(10, 2, 600)["SUBSCRIBE"] == pytest.approx(6 * base["SUBSCRIBE"])
