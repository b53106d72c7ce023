"""plan(cores_options=...): choosing cores per host as well as the number of hosts."""

from __future__ import annotations

import html
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_plan import _cli, proxy_only

from sizing.plan import (
    check_cores_options,
    choose_host_size,
    closed_form,
    cpu_p95_estimate,
    parse_cores_options,
    plan,
)
from sizing.scenario import ScenarioError, scenario_from_mapping

OPTIONS = (2, 4, 8, 16)


@pytest.fixture
def flat_profile(tmp_path):
    """A proxy profile whose every message costs exactly 1 ms and nothing else."""
    path = tmp_path / "flat.yaml"
    path.write_text("name: flat\nsource: test\nstatic_core_fraction: 0\n"
                    "per_message_us: {default: 1000}\nper_kbyte_us: 0\n")
    return str(path)


def _proxy(cf) -> tuple[int, int]:
    row = cf.roles.set_index("role").loc["proxy"]
    return int(row["cores_per_host"]), int(row["hosts"])


def _fewest_hosts_by_scan(busy: float, static: float, msgs: float, cores: int,
                          target: float) -> int | None:
    """Fewest hosts meeting the target, by trying 1, 2, 3, ... (None: never)."""
    if static >= target * cores:
        return None
    n = 1
    while cpu_p95_estimate(static + (busy - static) / n, static, msgs / n, cores) > target:
        n += 1
    return n


def test_a_lightly_loaded_role_picks_the_smallest_host(flat_profile):
    # 5 calls/s x 7 messages x 1 ms = 0.035 cores: a few % of a 16-core host
    cf = closed_form(proxy_only(flat_profile, cps=5, cores=16), OPTIONS)
    assert _proxy(cf) == (2, 1)


def test_a_heavily_loaded_role_picks_the_size_with_fewest_total_cores(flat_profile):
    # 14 busy cores at a 60 % target: 13 x 2 = 26, 7 x 4 = 28, 3 x 8 = 24, 2 x 16 = 32
    cf = closed_form(proxy_only(flat_profile, cps=2000, cores=2), OPTIONS)
    assert _proxy(cf) == (8, 3)


def test_equal_total_cores_go_to_fewer_hosts(flat_profile):
    # 1.4 busy cores: 2 x 2 and 1 x 4 both need 4 cores
    cf = closed_form(proxy_only(flat_profile, cps=200, cores=2), OPTIONS)
    assert _proxy(cf) == (4, 1)


@settings(max_examples=60, deadline=None)
@given(cost_ms=st.floats(0.0, 5.0), static=st.floats(0.0, 0.5), msgs=st.floats(1.0, 2e4),
       target=st.floats(0.3, 0.9),
       options=st.lists(st.integers(1, 32), min_size=1, max_size=5))
def test_the_choice_meets_the_target_with_the_fewest_total_cores(cost_ms, static, msgs, target,
                                                                  options):
    busy = static + msgs * cost_ms / 1000  # busy cores include the static load
    feasible = {c: n for c in options
                if (n := _fewest_hosts_by_scan(busy, static, msgs, c, target)) is not None}
    if not feasible:
        with pytest.raises(ValueError, match="cores_options"):
            choose_host_size(busy, static, msgs, target, options)
        return
    cores, hosts = choose_host_size(busy, static, msgs, target, options)
    assert cpu_p95_estimate(static + (busy - static) / hosts, static, msgs / hosts,
                            cores) <= target + 1e-12
    assert cores * hosts == min(c * n for c, n in feasible.items())


def test_a_host_floor_is_kept_and_filled_with_the_smallest_size():
    # media ports need 4 hosts; 4 x 2 cores carry the light CPU load
    assert choose_host_size(0.2, 0.0, 100.0, 0.6, OPTIONS, min_hosts=4) == (2, 4)


def test_a_size_too_small_for_the_static_load_is_skipped():
    # 0.8 cores of background load is over 60 % of a 1-core host
    assert choose_host_size(0.9, 0.8, 10.0, 0.6, (1, 2, 4)) == (2, 1)


def test_the_closed_form_names_the_role_when_no_size_fits(tmp_path):
    heavy = tmp_path / "heavy.yaml"
    heavy.write_text("name: heavy\nsource: test\nstatic_core_fraction: 0.9\n"
                     "per_message_us: {default: 10}\nper_kbyte_us: 0\n")
    with pytest.raises(ValueError, match=r"topology\.proxy: cores_options 1: .*static load"):
        closed_form(proxy_only(str(heavy), cps=5), (1,))


def test_an_empty_list_of_host_sizes_keeps_the_roles_cores(flat_profile):
    p = plan(proxy_only(flat_profile, cps=5, cores=16), simulate=False)  # cores_options: []
    assert p.cores() == {"proxy": 16}
    assert p.cores_options is None and "chosen from" not in p.summary()
    [why] = p.reasons()
    assert why.startswith("SIP Proxy: 16 cores: ") and why.endswith(
        "; cores per host as given (topology.proxy.cores, no host sizes to choose from)")


def _light(**extra) -> object:
    """A light contact centre whose hosts are entered far too big (16 and 8 cores)."""
    data = {"traffic": {"calls_per_second": 2, "holding_time_s": 120},
            "trunk": {"channels": 400},
            "topology": {"sbc": {"cores": 16}, "proxy": {"cores": 16},
                         "sip_server": {"cores": 8}, "media_server": {"cores": 8}}}
    data.update(extra)
    return scenario_from_mapping(data)


def test_by_default_every_role_gets_the_smallest_allowed_size_that_meets_its_target():
    p = plan(_light(), simulate=False)
    assert set(p.cores().values()) == {2}  # of the default sizes 2, 4, 8, 16
    assert set(p.deployment["hosts"]) == {1}
    sip = p.deployment.set_index("role").loc["sip_server"]
    assert sip["reason"] == (f"2 cores: {100 * sip['cpu_p95']:.1f} % CPU p95 per host "
                             "(estimated, 1-s samples) at the offered load, target 60 %; the "
                             "smallest allowed size")


def test_a_hot_standby_keeps_an_ha_pair_of_the_chosen_size():
    p = plan(_light(ha={"hot_standby": True}), simulate=False)
    sip = p.deployment.set_index("role").loc["sip_server"]
    assert (sip["hosts"], sip["standby_hosts"], sip["cores_per_host"], sip["total_cores"]) \
        == (1, 1, 2, 4)
    assert sip["reason"].startswith("2 x 2 cores (an active host and its hot standby): ")
    assert "1 x SIP Server + 1 hot standby (2 cores)" in p.summary()
    others = p.deployment[p.deployment["role"] != "sip_server"]
    assert (others["standby_hosts"] == 0).all()


def test_the_reason_says_what_the_next_smaller_size_would_need(flat_profile):
    # 14 busy cores at a 60 % target: 13 x 2 = 26, 7 x 4 = 28, 3 x 8 = 24, 2 x 16 = 32
    p = plan(proxy_only(flat_profile, cps=2000), simulate=False, cores_options=OPTIONS)
    assert p.reasons()[0].startswith("SIP Proxy: 3 x 8 cores: ")
    assert p.reasons()[0].endswith("the fewest cores in total of the allowed sizes "
                                   "(7 x 4 cores would be 28)")


def test_a_roles_own_host_sizes_bound_its_choice():
    p = plan(_light(topology={"proxy": {"cores_options": [8, 16]}}), simulate=False)
    assert p.cores()["proxy"] == 8 and p.cores()["sbc"] == 2


def test_the_command_line_sizes_override_the_scenarios(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("traffic: {calls_per_second: 2, holding_time_s: 120}\ntrunk: {channels: 400}\n"
                    "topology: {proxy: {cores_options: [16]}}\n")
    assert "1 x SIP Proxy (16 cores)" in _cli("plan", str(path), "--no-simulate").output
    result = _cli("plan", str(path), "--no-simulate", "--cores-options", "4")
    assert "1 x SIP Proxy (4 cores)" in result.output.splitlines()[0]


@pytest.mark.parametrize("sizes, message", [
    ([0, 4], r"topology\.sbc\.cores_options\.0: 0 cores per host; each size must be 1 to "),
    ([4, 8, 4], r"topology\.sbc\.cores_options\.2: 4 cores listed twice"),
    (list(range(1, 40)), r"topology\.sbc\.cores_options: .*at most 32 items"),
])
def test_bad_host_sizes_in_a_scenario_name_the_field(sizes, message):
    with pytest.raises(ScenarioError, match=message):
        _light(topology={"sbc": {"cores_options": sizes}})


def test_the_p95_spread_of_media_comes_from_the_sessions_in_progress():
    # 1 core of media for 400 sessions, no messages: sessions in progress are Poisson
    p95 = cpu_p95_estimate(1.1, 0.1, 0.0, 2, media_cores=1.0, media_sessions=400)
    assert p95 == pytest.approx((0.1 + 1.0 + 1.645 * 1.0 / 20) / 2)
    # messages and media spread independently: their variances add
    both = cpu_p95_estimate(1.6, 0.1, 100.0, 2, media_cores=1.0, media_sessions=400)
    assert both == pytest.approx((1.6 + 1.645 * math.hypot(0.5 / 10, 1.0 / 20)) / 2)


def test_the_recommended_scenario_carries_the_chosen_cores(flat_profile):
    p = plan(proxy_only(flat_profile, cps=2000, cores=2), simulate=False, cores_options=OPTIONS)
    proxy = p.recommended_scenario().topology.proxy
    assert (proxy.cores, proxy.instances) == (8, 3)


def test_summary_row_and_html_show_cores_per_host_and_total(flat_profile):
    p = plan(proxy_only(flat_profile, cps=2000, cores=2), simulate=False, cores_options=OPTIONS)
    assert p.summary().startswith("3 x SIP Proxy (8 cores); 24 cores in total, cores per host "
                                  "chosen from 2, 4, 8, 16;")
    row = p.to_row()
    assert (row["proxy.cores_per_host"], row["proxy.total_cores"]) == (8, 24)
    assert p.summary() in html.unescape(p._repr_html_())


def test_a_simulated_plan_runs_at_the_chosen_size(flat_profile):
    sc = proxy_only(flat_profile, cps=5, cores=16, duration_s=5, warmup_s=1,
                    targets={"cpu_p95_max": 0.5})
    p = plan(sc, cores_options=(1, 2, 4))
    row = p.deployment.set_index("role").loc["proxy"]
    assert p.simulated and p.met and (row["cores_per_host"], row["hosts"]) == (1, 1)
    # measured on a 1-core host: near the 1-core estimate, 16 times the 16-core one
    assert row["cpu_p95"] == pytest.approx(p.closed.roles["cpu_p95"].iloc[0], rel=0.3)
    assert row["cpu_p95"] <= 0.5


@pytest.mark.parametrize("values, message", [
    ([], "empty"),
    ([2, 0], "0 cores per host; each option must be at least 1"),
    ([2.5], "2.5 is not an integer"),
    (["4"], "'4' is not an integer"),
    ([True], "True is not an integer"),
    ("2,4", "expected a list of integers"),
])
def test_bad_cores_options_name_the_option(values, message):
    with pytest.raises(ValueError, match=f"^cores_options: .*{message}"):
        check_cores_options(values)


@pytest.mark.parametrize("text, message", [
    ("", "empty"), (" , ", "empty"), ("2,,4", "empty item"),
    ("2,four", "'four' is not an integer"), ("2,-4", "-4 cores per host"),
    ("2.5", "'2.5' is not an integer"),
])
def test_bad_cores_option_text_names_the_flag(text, message):
    with pytest.raises(ValueError, match=f"^--cores-options: .*{message}"):
        parse_cores_options(text)


def test_cores_option_text_is_sorted_and_deduplicated():
    assert parse_cores_options(" 16,2, 8,2 ") == (2, 8, 16)


def test_plan_command_chooses_cores_per_host(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("traffic: {calls_per_second: 2, holding_time_s: 120}\ntrunk: {channels: 400}\n"
                    "topology: {proxy: {cores: 16}}\n")
    result = _cli("plan", str(path), "--no-simulate", "--cores-options", "2,4,8,16")
    assert result.exit_code == 0, result.output
    assert "1 x SIP Proxy (2 cores)" in result.output.splitlines()[0]


def test_plan_command_reports_bad_cores_options_with_exit_2(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("traffic: {calls_per_second: 2, holding_time_s: 120}\ntrunk: {channels: 400}\n")
    result = _cli("plan", str(path), "--no-simulate", "--cores-options", "2,x")
    assert result.exit_code == 2
    assert "sizing: error: --cores-options: 'x' is not an integer" in result.output
    assert "Traceback" not in result.output
