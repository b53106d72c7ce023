"""SIP capacity planner: the Streamlit web form.

Run with ``streamlit run app.py``.  The logic lives in :mod:`sizing.app`; this file
only lays out the page: a preset, the scenario form, the instant closed-form
answer, then the simulation and the downloads.
"""

from __future__ import annotations

import re
import tempfile
from typing import Any

import streamlit as st

from sizing.app import form as fm
from sizing.app.presets import DEFAULT_PRESET, PRESETS, load_preset
from sizing.app.results import (
    Tile,
    deployment_frame,
    hosts_frame,
    links_mbps,
    plan_tiles,
    role_tiles,
    simulation_tiles,
    summary_csv,
    sweep_rates,
    sweep_scenario,
    transport_note,
)
from sizing.app.runs import (
    RUN_LENGTHS,
    calibrate,
    describe_length,
    for_run,
    run_batch_csv,
    scenario_from_upload,
    scenario_reports,
    simulation_refusal,
)
from sizing.measure.calibrate import CalibrationError
from sizing.plan import WHAT_IF, Plan, compare, plan
from sizing.plan.batch import BatchError, problems_of
from sizing.report import figures
from sizing.report.tables import links_table
from sizing.scenario import ROLES, Scenario, ScenarioError, parse_yaml_text, scenario_from_mapping
from sizing.sim.result import Result
from sizing.sim.simulate import simulate
from sizing.sim.sweep import goodput_sweep, overload_figure

st.set_page_config(page_title="SIP capacity planner", page_icon="📞", layout="wide")

BASE = "base_yaml"
PREV_UNIT = "_rate_unit_shown"
PREV_RATE = "_rate_shown"
ANCHORS = {"traffic.mix", *(f"topology.{r}" for r in ROLES)}


# ---------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------


def _show_scenario(scenario: Scenario) -> None:
    """Make the form show ``scenario`` (its YAML becomes the base of the form)."""
    st.session_state[BASE] = scenario.to_yaml()
    for key, value in fm.values_from_scenario(scenario).items():
        st.session_state[key] = value
    st.session_state[PREV_UNIT] = st.session_state["traffic.rate_unit"]
    st.session_state[PREV_RATE] = st.session_state["traffic.rate"]


def _on_preset() -> None:
    _show_scenario(load_preset(st.session_state["preset"]))


def _on_upload() -> None:
    upload = st.session_state.get("scenario_upload")
    if upload is None:
        return
    try:
        _show_scenario(scenario_from_upload(upload.getvalue(), upload.name))
        st.session_state["upload_problem"] = ""
    except ScenarioError as exc:
        st.session_state["upload_problem"] = str(exc)


def _on_calibrate() -> None:
    """Fit the uploaded measurements; the profile file lives in this session's folder."""
    upload = st.session_state.get("measurements")
    label = str(st.session_state.get("calibrate_name", "")).strip()
    st.session_state["calibration_note"] = st.session_state["calibration_problem"] = ""
    if upload is None or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", label):
        st.session_state["calibration_problem"] = (
            "Choose a measurement CSV and a profile name of letters, digits and '-'.")
        return
    if "profile_dir" not in st.session_state:
        st.session_state["profile_dir"] = tempfile.mkdtemp(prefix="sizing-profiles-")
    try:
        path, note = calibrate(upload.getvalue(), label, st.session_state["profile_dir"])
    except (CalibrationError, ValueError) as exc:
        st.session_state["calibration_problem"] = f"{upload.name}: {exc}"
        return
    extra = [p for p in st.session_state.get("extra_profiles", []) if p != str(path)]
    st.session_state["extra_profiles"] = [*extra, str(path)]
    st.session_state["calibration_note"] = f"Fitted {path.name}. {note}"


@st.cache_data(show_spinner=False)
def _base(yaml_text: str) -> Scenario:
    return scenario_from_mapping(parse_yaml_text(yaml_text, "form"), source="form")


@st.cache_data(show_spinner=False)
def _closed_plan(yaml_text: str, cores_options: tuple[int, ...] | None) -> Plan:
    return plan(_base(yaml_text), simulate=False, cores_options=cores_options)


@st.cache_data(show_spinner=False, max_entries=16)
def _simulate(yaml_text: str) -> Result:
    """Keyed by the scenario YAML: a rerun for a chart or a download does not simulate
    again.  The progress bar lives inside so that a cache hit replays it (empty)."""
    bar = st.progress(0.0, text="Simulating…")

    def told(done: float, total: float) -> None:
        bar.progress(min(1.0, done / total) if total else 1.0,
                     text=f"Simulating… {done:,.0f} of {total:,.0f} simulated seconds")

    result = simulate(_base(yaml_text), progress=told)
    bar.empty()
    return result


@st.cache_data(show_spinner=False, max_entries=8)
def _sweep(yaml_text: str, rates: tuple[float, ...]) -> Any:
    """Goodput at each rate (drop and 503 modes) of the scenario's short sweep run;
    cached by the scenario and rates, the progress bar inside like :func:`_simulate`."""
    bar = st.progress(0.0, text="Sweeping…")

    def told(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"Sweeping… {done} of {total} runs")

    frame = goodput_sweep(sweep_scenario(_base(yaml_text), max(rates)), list(rates), progress=told)
    bar.empty()
    return frame


@st.cache_data(show_spinner=False)
def _compare(yaml_text: str, variants: tuple[str, ...], cores_options: tuple[int, ...] | None) -> Any:
    return compare(_base(yaml_text), {v: WHAT_IF[v] for v in variants}, cores_options=cores_options)


def _convert_rate_unit() -> None:
    """Switching calls/s <-> busy-hour calls converts the rate when it was left as shown."""
    unit, shown = st.session_state["traffic.rate_unit"], st.session_state.get(PREV_UNIT)
    rate = st.session_state["traffic.rate"]
    if shown and unit != shown and rate == st.session_state.get(PREV_RATE):
        factor = 3600.0 if unit == fm.RATE_UNITS[1] else 1 / 3600.0
        st.session_state["traffic.rate"] = round(float(rate) * factor, 6)
    st.session_state[PREV_UNIT] = unit
    st.session_state[PREV_RATE] = st.session_state["traffic.rate"]


if BASE not in st.session_state:
    st.session_state["preset"] = DEFAULT_PRESET
    _show_scenario(load_preset(DEFAULT_PRESET))

FIELDS = fm.fields(tuple(st.session_state.get("extra_profiles", ())))
BY_KEY = {f.key: f for f in FIELDS}
values = {f.key: st.session_state[f.key] for f in FIELDS if f.key in st.session_state}
base = _base(st.session_state[BASE])
scenario: Scenario | None
try:
    scenario = fm.scenario_from_values(base, values)
    problems: dict[str, list[str]] = {}
except ScenarioError as exc:
    scenario = None
    problems = fm.problems_by_field(exc, set(BY_KEY) | ANCHORS)
cores_options: tuple[int, ...] | None
try:
    cores_options = fm.cores_options(st.session_state.get(fm.CORES_OPTIONS_KEY))
except ValueError as exc:
    cores_options = None
    problems.setdefault(fm.CORES_OPTIONS_KEY, []).append(str(exc))


# ---------------------------------------------------------------------------
# Widgets
# ---------------------------------------------------------------------------


def _errors(key: str) -> None:
    for message in problems.get(key, []):
        st.error(message, icon="⚠️")


def widget(key: str, *, collapsed: bool = False) -> Any:
    f = BY_KEY[key]
    vis = "collapsed" if collapsed else "visible"
    if f.kind == "check":
        value = st.checkbox(f.label, key=key, help=f.help, label_visibility=vis)
    elif f.kind == "select":
        options = list(f.options)
        if st.session_state.get(key) not in options:
            options.append(st.session_state[key])
        value = st.selectbox(f.label, options, key=key, help=f.help, label_visibility=vis,
                             format_func=f.option_label)
    elif f.kind == "int":
        value = st.number_input(f.label, key=key, help=f.help, step=1, label_visibility=vis)
    else:
        fmt = "%.1f" if f.kind == "percent" else "%.2f"
        value = st.number_input(f.label, key=key, help=f.help, step=f.step or 1.0, format=fmt,
                                label_visibility=vis)
    _errors(key)
    return value


def tiles(items: list[Tile], columns: int = 4) -> None:
    cols = st.columns(columns)
    for i, t in enumerate(items):
        with cols[i % columns], st.container(border=True):
            st.metric(t.label, t.value, help=t.help or None)
            st.caption(t.note or "\u00a0")


# ---------------------------------------------------------------------------
# Page
# ---------------------------------------------------------------------------

with st.sidebar:
    st.header("Scenario")
    st.selectbox("Start from a preset", list(PRESETS), key="preset", on_change=_on_preset,
                 help="Replaces every field of the form with the preset's values.")
    st.file_uploader("…or load a scenario YAML", type=["yaml", "yml"], key="scenario_upload",
                     on_change=_on_upload,
                     help="A scenario file as written by `sizing` or downloaded below.")
    if st.session_state.get("upload_problem"):
        st.error(st.session_state["upload_problem"])
    st.caption(f"Base scenario: **{base.name or 'unnamed'}** — {base.description}")

    with st.expander("Calibrate a cost profile"):
        st.caption("Upload the CSV of `sizing measure` runs against your own server; the "
                   "fitted profile becomes a choice under Topology and hardware.")
        st.text_input("Profile name", value="my-server", key="calibrate_name",
                      help="Letters, digits and '-' only.")
        st.file_uploader("Measurement CSV", type=["csv"], key="measurements")
        st.button("Fit profile", key="calibrate", on_click=_on_calibrate)
        if st.session_state.get("calibration_note"):
            st.success(st.session_state["calibration_note"])
        if st.session_state.get("calibration_problem"):
            st.error(st.session_state["calibration_problem"])

    with st.expander("Batch: size many sites"):
        st.caption("Upload a sites CSV (a `site` column, then dotted scenario fields such as "
                   "`traffic.calls_per_second`); rows override the scenario in the form.")
        sites = st.file_uploader("Sites CSV", type=["csv"], key="sites")
        if sites is not None and st.button("Size the sites", key="run_batch"):
            try:
                with st.spinner("Sizing the sites…"):
                    st.session_state["batch"] = run_batch_csv(
                        sites.getvalue(), (scenario or base).to_yaml(), sites.name,
                        cores_options=cores_options)
                st.session_state["batch_problem"] = ""
            except (BatchError, ScenarioError) as exc:
                st.session_state["batch"] = None
                st.session_state["batch_problem"] = "\n".join(problems_of(exc))
        if st.session_state.get("batch_problem"):
            st.error(st.session_state["batch_problem"])

st.title("SIP capacity planner")
st.caption("Cores, servers, trunk channels and bandwidth for a SIP contact centre or trunk. "
           "Edit the scenario, press **Update estimate** for the instant closed-form answer, "
           "then run the simulation to see overload, delays and blocking.")

if "" in problems:
    st.error("The scenario has problems:\n\n" + "\n".join(f"- {m}" for m in problems[""]))

with st.form("scenario"):
    tab_traffic, tab_mix, tab_trunk, tab_topo, tab_targets = st.tabs(list(fm.SECTIONS.values()))
    with tab_traffic:
        c1, c2, c3, c4 = st.columns(4)
        with c1:
            widget("traffic.rate_unit")
        with c2:
            widget("traffic.rate")
        with c3:
            widget("traffic.holding_time_s")
        with c4:
            widget("agents.count")
        if scenario is not None and scenario.traffic.offered_erlangs is not None:
            st.caption(f"{scenario.traffic.rate_cps:.3f} calls/s = "
                       f"{scenario.traffic.rate_cps * 3600:,.0f} busy-hour calls, offering "
                       f"{scenario.traffic.offered_erlangs:,.1f} erlangs.")
    with tab_mix:
        _errors("traffic.mix")
        mix_keys = [f.key for f in FIELDS if f.section == "mix"]
        cols = st.columns(4)
        for i, key in enumerate(mix_keys):
            with cols[i % 4]:
                widget(key)
        if scenario is not None:
            basic = scenario.traffic.mix.basic or 0.0
            st.caption(f"Basic calls (answered, no transfer): **{basic:.1%}**, the remainder "
                       "of the shares above.")
    with tab_trunk:
        cols = st.columns(4)
        for i, key in enumerate(f.key for f in FIELDS if f.section == "trunk"):
            with cols[i % 4]:
                widget(key)
    with tab_topo:
        widths = [2, 1, 1, 1, 2, 2]
        head = st.columns(widths)
        columns = {"Role": "", "Enabled": "enabled", "Servers": "instances",
                   "Cores per server": "cores", "Cost profile": "profile",
                   "High availability": "ha"}
        for col, (text, part) in zip(head, columns.items(), strict=True):
            col.markdown(f"**{text}**",
                         help=BY_KEY[f"topology.sip_server.{part}"].help if part else
                         "The hosts on the call path: carrier → SBC → proxy → SIP Server → "
                         "agents, media server and recorder.")
        for role in ROLES:
            cols = st.columns(widths)
            cols[0].markdown(fm.ROLE_LABELS[role])
            with cols[0]:
                _errors(f"topology.{role}")
            for col, part in zip(cols[1:], ["enabled", "instances", "cores", "profile", "ha"],
                                 strict=True):
                with col:
                    widget(f"topology.{role}.{part}", collapsed=True)
        st.caption("What an HA pair replicates to its standby (bytes on the replication link, "
                   "a message's CPU on both hosts):")
        cols = st.columns(4)
        for i, key in enumerate(f.key for f in FIELDS if f.key.startswith("ha.")):
            with cols[i % 4]:
                widget(key)
        st.multiselect("Host sizes to consider (cores per server)", fm.CORES_CHOICES,
                       key=fm.CORES_OPTIONS_KEY, help=fm.CORES_OPTIONS_HELP,
                       placeholder="Keep the cores per server entered above")
        _errors(fm.CORES_OPTIONS_KEY)
    with tab_targets:
        cols = st.columns(3)
        for i, key in enumerate(f.key for f in FIELDS if f.section == "targets"):
            with cols[i]:
                widget(key)
    st.form_submit_button("Update estimate", type="primary", key="submit",
                          on_click=_convert_rate_unit)

if scenario is None or fm.CORES_OPTIONS_KEY in problems:
    where = {f.key: f"{fm.SECTIONS[f.section]} › {f.label}" for f in FIELDS}
    where |= {"traffic.mix": "Call mix"}
    where |= {f"topology.{r}": f"Topology and hardware › {fm.ROLE_LABELS[r]}" for r in ROLES}
    where |= {fm.CORES_OPTIONS_KEY: "Topology and hardware › Host sizes to consider"}
    lines = [f"- **{where.get(key, 'Scenario')}**: {m}"
             for key, messages in problems.items() if key for m in messages]
    st.warning("Fix these fields to see the estimate:\n\n" + "\n".join(lines))
    st.stop()

yaml_text = scenario.to_yaml()
name = scenario.name or "scenario"

# ---------------------------------------------------------------------------
# Instant answer
# ---------------------------------------------------------------------------

st.header("Instant estimate")
st.caption("Closed form: every message of every call flow counted per link and charged by "
           "each role's cost profile; Erlang B for the trunk; RTP, TLS and L2 framing for "
           "bandwidth. The simulation below checks delays, overload and blocking.")
try:
    closed = _closed_plan(yaml_text, cores_options)
except ValueError as exc:
    st.error(f"The closed form cannot size this scenario: {exc}")
    st.stop()
if scenario.agents.count and closed.offered_erlangs > scenario.agents.count:
    st.warning(f"{closed.offered_erlangs:,.0f} erlangs are offered to "
               f"{scenario.agents.count:,} agents: the queue grows without bound.")
tiles(plan_tiles(closed))
what = "Servers and cores" if cores_options else "Servers"
st.subheader(f"{what} per role at {scenario.targets.cpu_p95_max:.0%} CPU p95")
st.markdown(f"**Recommended:** {closed.summary()}")
tiles(role_tiles(closed), columns=max(1, min(len(closed.deployment), 6)))
with st.expander("Per-role and per-link figures", expanded=cores_options is not None):
    st.dataframe(deployment_frame(closed), hide_index=True, width="stretch")
    st.caption(transport_note(scenario))
    st.dataframe(links_table(closed), hide_index=True, width="stretch")

# ---------------------------------------------------------------------------
# Simulation
# ---------------------------------------------------------------------------

st.header("Simulation")
left, right = st.columns([1, 3])
with left:
    length = st.radio("Run length", RUN_LENGTHS, key="run_length",
                      help="A quick check runs one replication of at most 5 minutes; the "
                           "scenario's length gives confidence intervals across replications.")
    which = st.radio("Deployment", ("as entered", "as recommended"), key="sim_deployment",
                     help="As recommended: the hosts, cores per host and trunk channels of the "
                          "estimate above, to check it by simulation.")
    run = st.button("Run simulation", type="primary", key="run_simulation")
deployed = closed.recommended_scenario() if which == "as recommended" else scenario
with right:
    st.caption(f"Simulates the deployment {which} ({describe_length(deployed, length)}): "
               "every SIP message through the real engine on simulated hosts and links.")
sim_scenario = for_run(deployed, length)
sim_yaml = sim_scenario.to_yaml()
if run:
    refusal = simulation_refusal(sim_scenario)
    if refusal is not None:
        st.error(f"Not simulated: {refusal}")
    else:
        try:
            _simulate(sim_yaml)
            st.session_state["simulated"] = sim_yaml
        except Exception as exc:  # the page reports any failure instead of a traceback
            st.error(f"The simulation stopped: {type(exc).__name__}: {exc}")

if st.session_state.get("simulated") == sim_yaml:
    result = _simulate(sim_yaml)
    for warning in result.warnings:  # e.g. a quick run's warm-up too short for steady state
        st.warning(warning)
    tiles(simulation_tiles(result, sim_scenario), columns=5)
    c1, c2 = st.columns(2)
    sized = [h for h, r in zip(result.hosts["name"], result.hosts["role"], strict=True)
             if r in fm.ROLE_LABELS and h in result.cpu_series.columns]
    targets = {h: sim_scenario.targets.cpu_target(r)
               for h, r in zip(result.hosts["name"], result.hosts["role"], strict=True)
               if h in sized}
    with c1:
        st.pyplot(figures.cpu_over_time(result.cpu_series[sized], targets), clear_figure=False)
    with c2:
        bw = links_mbps(result, sim_scenario.targets.link_headroom)
        if not bw.empty:
            st.pyplot(figures.bandwidth_per_link(bw, "Simulated bandwidth per link"),
                      clear_figure=False)
    c3, c4 = st.columns(2)
    with c3:
        if not result.concurrent_series.empty:
            st.pyplot(figures.concurrent_calls(result.concurrent_series, sim_scenario.trunk.channels),
                      clear_figure=False)
    with c4:
        if result.srd.count:
            st.pyplot(figures.srd_distribution(result.srd, sim_scenario.targets.srd_p95_max_ms),
                      clear_figure=False)
    with st.expander("Goodput vs offered load"):
        capacity, rates = sweep_rates(result)
        st.caption(f"Simulates {len(rates)} offered rates from {rates[0]:,.3g} to {rates[-1]:,.3g} "
                   f"calls/s around the estimated capacity ({capacity:,.3g} calls/s: the rate at "
                   "which the busiest host would reach 100 % CPU), without control (drop) and "
                   "with 503 rejection, in short runs.")
        if st.button("Run the overload sweep", key="run_sweep"):
            st.session_state["swept"] = sim_yaml
        if st.session_state.get("swept") == sim_yaml:
            try:
                frame = _sweep(sim_yaml, tuple(rates))
                st.pyplot(overload_figure(frame, capacity_cps=capacity), clear_figure=False)
                st.dataframe(frame, hide_index=True, width="stretch")
            except Exception as exc:  # the page reports any failure instead of a traceback
                st.error(f"The sweep stopped: {type(exc).__name__}: {exc}")
    st.dataframe(hosts_frame(result), hide_index=True, width="stretch")
    st.download_button("Simulation summary (CSV)", summary_csv(result, sim_scenario),
                       file_name=f"{name}-simulation.csv", mime="text/csv",
                       key="download_sim_csv")
elif st.session_state.get("simulated"):
    st.info("The form changed since the last simulation: run it again for these values.")

# ---------------------------------------------------------------------------
# What-if and downloads
# ---------------------------------------------------------------------------

batch = st.session_state.get("batch")
if batch:
    st.header("Batch of sites")
    summary, batch_files = batch
    st.dataframe(summary, hide_index=True, width="stretch")
    b1, b2, b3 = st.columns(3)
    b1.download_button("Sites summary (CSV)", batch_files["summary.csv"],
                       file_name="sites-summary.csv", mime="text/csv", key="batch_csv")
    b2.download_button("Sites report (XLSX)", batch_files["report.xlsx"],
                       file_name="sites-report.xlsx", key="batch_xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    b3.download_button("Sites report (HTML)", batch_files["report.html"],
                       file_name="sites-report.html", mime="text/html", key="batch_html")

st.header("What if")
picked = st.multiselect("Compare with", list(WHAT_IF), key="what_if",
                        help="Each variant changes the scenario as shown and is sized by the "
                             "closed form next to the scenario as entered, with the cores "
                             "per server entered, or chosen from the host sizes to consider.")
if picked:
    try:
        st.dataframe(_compare(yaml_text, tuple(picked), cores_options), hide_index=True, width="stretch")
    except ScenarioError as exc:
        st.error(str(exc))

st.header("Downloads")
d1, d2, d3, d4 = st.columns(4)
d1.download_button("Scenario (YAML)", yaml_text, file_name=f"{name}.yaml",
                   mime="application/x-yaml", key="download_yaml",
                   help="The full scenario, defaults filled in; load it with `sizing` or here.")
d2.download_button("Summary (CSV)", lambda: scenario_reports(yaml_text, cores_options)["summary.csv"],
                   file_name=f"{name}-summary.csv", mime="text/csv", key="download_summary",
                   help="The closed-form plan in one row: deployment, cores, Mbps, KPIs.")
d3.download_button("Report (XLSX)", lambda: scenario_reports(yaml_text, cores_options)["report.xlsx"],
                   file_name=f"{name}-report.xlsx", key="download_xlsx",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                   help="Deployment, links, KPIs and assumptions, one sheet each.")
d4.download_button("Report (HTML)", lambda: scenario_reports(yaml_text, cores_options)["report.html"],
                   file_name=f"{name}-report.html", mime="text/html", key="download_html",
                   help="A self-contained report with figures, to mail or archive.")
