"""Reports: atomic writes, self-contained HTML, XLSX sheets, planner-facing tables."""

from __future__ import annotations

import dataclasses
import re

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from sizing.files import atomic_write, atomic_write_text
from sizing.plan import plan
from sizing.plan.batch import write_reports
from sizing.report import deployment_table, links_table
from sizing.report.figures import cpu_over_time, srd_distribution, to_data_uri
from sizing.report.html import plan_html
from sizing.report.xlsx import sheet_name
from sizing.scenario import scenario_from_mapping


@pytest.fixture(scope="module")
def plans():
    out = {}
    for site, cps in (("branch", 0.1), ("hq", 3.0)):
        sc = scenario_from_mapping({"name": site, "traffic": {"calls_per_second": cps,
                                                              "holding_time_s": 120},
                                    "trunk": {"channels": 100}})
        out[site] = plan(sc, simulate=False)
    return out


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "report.csv"
    atomic_write_text(target, "old\n")

    def half(tmp):
        tmp.write_text("new, partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, half)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


def test_html_report_is_self_contained_and_has_every_site(tmp_path, plans):
    write_reports(plans, tmp_path)
    page = (tmp_path / "report.html").read_text()
    for attr, value in re.findall(r'\b(src|href)\s*=\s*"([^"]*)"', page):
        assert value.startswith("data:" if attr == "src" else "#"), (attr, value[:40])
    assert "<link" not in page and "<script" not in page
    for site in plans:
        assert f'id="site-{site}"' in page


def test_xlsx_has_a_sheet_per_table(tmp_path, plans):
    write_reports(plans, tmp_path)
    book = openpyxl.load_workbook(tmp_path / "report.xlsx")
    assert book.sheetnames == ["Summary", "Deployment", "Links", "KPIs", "Candidates",
                               "Assumptions"]
    sites = [row[0].value for row in book["Summary"].iter_rows(min_row=2)]
    assert sites == list(plans)


def test_tables_carry_units_and_the_binding_constraint(plans):
    dep = deployment_table(plans["hq"])
    # each CPU figure names its statistic: the mean, the p95 of 1-s samples of the busiest host
    assert {"CPU mean per host (%)", "CPU p95 of 1-s samples, busiest host (%)",
            "Binding constraint"} <= set(dep.columns)
    assert all(why.split(": ")[0].endswith("cores") for why in dep["Why this size"])
    assert set(dep["Role"]) >= {"SBC", "SIP Proxy", "SIP Server"}
    links = links_table(plans["hq"])
    assert all("Mbps" in c for c in links.columns if c not in ("Link", "Direction", "Fits"))
    assert "Provision with 30 % headroom (Mbps)" in links.columns


def test_cpu_figure_embeds_as_a_png_data_uri():
    cpu = pd.DataFrame({"sbc-1": [0.1, 0.2, 0.3], "proxy-1": [0.05, 0.04, 0.06]},
                       index=pd.RangeIndex(10, 13, name="second"))
    fig = cpu_over_time(cpu, {"sbc": 0.6})
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_ylabel() == "CPU utilisation (%)"
    assert to_data_uri(fig).startswith("data:image/png;base64,iVBOR")


def test_sheet_names_are_made_valid_and_unique():
    taken: set[str] = set()
    assert sheet_name("a/b:c", taken) == "a_b_c"
    assert sheet_name("a/b:c", taken) == "a_b_c~2"
    assert len(sheet_name("x" * 40, taken)) == 31


SRD_BUCKETS = pd.DataFrame({"lower_ms": [8.192, 8.933, 9.742], "upper_ms": [8.933, 9.742, 10.624],
                            "calls": [10, 80, 10]})


def test_srd_figure_draws_histogram_buckets_on_a_log_axis_with_p50_and_p95():
    fig = srd_distribution(SRD_BUCKETS, target_ms=200)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [round(p.get_height()) for p in ax.patches] == [10, 80, 10]
    labels = [t.get_text() for t in ax.texts]
    assert "p50 10 ms" in labels and "p95 11 ms" in labels and "target 200 ms" in labels


def test_srd_figure_names_a_bucket_table_without_its_columns():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['upper_ms'\]"):
        srd_distribution(SRD_BUCKETS.drop(columns="upper_ms"))


def test_plan_html_embeds_concurrent_calls_and_srd_figures(plans):
    calls = pd.DataFrame({"concurrent_calls": [3.0, 4.5, 4.0]},
                         index=pd.RangeIndex(5, 8, name="second"))
    simulated = dataclasses.replace(plans["hq"], series={"calls": calls, "srd": SRD_BUCKETS})
    page = plan_html(simulated)
    for alt in ("hq: concurrent calls", "hq: SRD"):
        assert re.search(rf'<img alt="{alt}" src="data:image/png;base64,', page), alt


def test_the_summary_says_each_sites_warnings(plans):
    from sizing.report.tables import summary_table

    warned = dataclasses.replace(plans["hq"], warnings=["warmup_s 10 s is shorter than the mean holding time"])
    table = summary_table({"branch": plans["branch"], "hq": warned}).set_index("Site")
    assert table.loc["branch", "Warnings"] == ""
    assert table.loc["hq", "Warnings"].startswith("warmup_s 10 s is shorter")


# --- links per direction ---


@pytest.fixture(scope="module")
def recorded():
    sc = scenario_from_mapping({"name": "rec", "traffic": {"calls_per_second": 3.0,
                                                           "holding_time_s": 120,
                                                           "recording_share": 1.0},
                                "trunk": {"channels": 600},
                                "topology": {"recorder": {"enabled": True}}})
    return plan(sc, simulate=False)


def test_a_recorded_link_differs_per_direction_and_the_tables_show_both(recorded, tmp_path):
    table = links_table(recorded).set_index("Direction")
    provision = next(c for c in table.columns if c.startswith("Provision with"))
    to_rec, from_rec = table.loc["SBC → recorder"], table.loc["recorder → SBC"]
    assert to_rec["Link"] == from_rec["Link"] == "sbc->recorder"
    assert to_rec["Media (Mbps)"] > 1 and from_rec["Media (Mbps)"] == 0  # nothing comes back
    assert to_rec[provision] > from_rec[provision]
    # the per-direction provision carries the plan's headroom
    assert to_rec[provision] == pytest.approx(to_rec["Total (Mbps)"] / 0.7, rel=1e-2)
    # the carrier's link is about symmetric: one stream each way
    carrier = table[table["Link"] == "carrier->sbc"]
    assert len(carrier) == 2
    both = recorded.links.set_index("link").loc["carrier->sbc", "total_mbps"]
    assert carrier["Total (Mbps)"].sum() == pytest.approx(both, rel=1e-2)

    write_reports({"rec": recorded}, tmp_path)
    detail = pd.read_csv(tmp_path / "sites" / "rec" / "links.csv").set_index("Direction")
    assert {"SBC → recorder", "recorder → SBC"} <= set(detail.index)
    assert detail.loc["SBC → recorder", provision] > detail.loc["recorder → SBC", provision]
    sheet = pd.read_excel(tmp_path / "report.xlsx", sheet_name="Links")
    assert {"SBC → recorder", "recorder → SBC"} <= set(sheet["Direction"])
    page = (tmp_path / "report.html").read_text()
    assert "SBC → recorder" in page and "recorder → SBC" in page
    summary = pd.read_csv(tmp_path / "summary.csv").iloc[0]
    assert summary["Carrier → site to provision (Mbps)"] > 0
    assert summary["Site → carrier to provision (Mbps)"] > 0
    assert summary["Busiest direction"] in set(detail.index)


def test_a_link_capacity_is_checked_each_way(recorded):
    ways = recorded.directions.set_index(["src", "dst"])["required_mbps"]
    widest = max(ways.loc[("carrier", "sbc")], ways.loc[("sbc", "carrier")])
    both = recorded.links.set_index("link").loc["carrier->sbc", "required_mbps"]
    assert widest < both

    def with_capacity(mbps: float):
        data = recorded.scenario.model_dump(mode="json")
        data["links"]["overrides"] = {"carrier->sbc": {"bandwidth_mbps": mbps}}
        return plan(scenario_from_mapping(data), simulate=False)

    roomy = with_capacity((widest + both) / 2)  # each way fits, the sum would not
    assert roomy.links.set_index("link").loc["carrier->sbc", "fits"]
    assert roomy.directions[roomy.directions["link"] == "carrier->sbc"]["fits"].all()
    tight = with_capacity(widest * 0.9)
    assert not tight.met
    assert any("carrier needs" in s or "carrier → SBC needs" in s for s in tight.shortfalls())


def test_kpi_counts_read_as_whole_numbers(plans):
    from sizing.report import kpi_table

    simulated = dataclasses.replace(plans["hq"], kpis=pd.DataFrame([
        {"kpi": "calls_offered", "value": 2487.0, "target": float("nan"), "met": float("nan")},
        {"kpi": "blocking_ratio", "value": 0.00523, "target": 0.01, "met": True}]))
    table = kpi_table(simulated).set_index("KPI")
    assert table.loc["Calls offered", "Value"] == 2487
    assert isinstance(table.loc["Calls offered", "Value"], int)
    assert "2487.0" not in table.to_csv() and table.loc["Calls blocked (%)", "Value"] == 0.52


def test_deployment_table_shows_the_share_of_cpu_tls_takes():
    over = {t: deployment_table(plan(scenario_from_mapping({
        "traffic": {"calls_per_second": 3.0, "holding_time_s": 120},
        "trunk": {"channels": 100, "transport": t}}), simulate=False)).set_index("Role")
        for t in ("udp", "tls")}
    assert (over["udp"]["TLS share of CPU (%)"] == 0).all()
    assert (over["tls"].loc[["SBC", "SIP Proxy", "SIP Server"], "TLS share of CPU (%)"] > 0).all()


# --- reports written site by site ---


def _pandas_xlsx(path, sheets):
    """The workbook as pandas writes whole frames (write_xlsx before it streamed)."""
    taken: set[str] = set()
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, frame in sheets.items():
            title = sheet_name(name, taken)
            frame.to_excel(xw, sheet_name=title, index=False)
            ws = xw.sheets[title]
            ws.freeze_panes = "A2"
            for i, col in enumerate(frame.columns, start=1):
                values = [str(col)] + [str(v) for v in frame[col].head(200)]
                width = min(60, max(len(v) for v in values) + 2)
                ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = width


def _members(path) -> dict[str, bytes]:
    """An xlsx's parts, without the creation and modification times."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        return {n: re.sub(rb"<dcterms:(created|modified)[^<]*</dcterms:\w+>", b"", z.read(n))
                for n in z.namelist()}


def test_the_streamed_workbook_is_what_pandas_writes(tmp_path):
    import numpy as np

    from sizing.report import write_xlsx

    sheets = {
        "Mixed": pd.DataFrame({"Site": ["a", "b", None], "n": [1, 2, 3],
                               "x": [1.5, np.nan, np.inf], "ok": [True, False, True],
                               "any": [2487, "yes", 0.52], "big": [np.int64(7), 8, -9],
                               "long text " * 3: ["y" * 80, "", "z"]}),
        "Empty": pd.DataFrame(),
        "Header only": pd.DataFrame(columns=["a", "b"]),
        "a/b:c": pd.DataFrame({"v": [np.float64(0.1), -np.inf]}),
    }
    _pandas_xlsx(tmp_path / "pandas.xlsx", sheets)
    write_xlsx(tmp_path / "streamed.xlsx", sheets)
    assert _members(tmp_path / "streamed.xlsx") == _members(tmp_path / "pandas.xlsx")


_VALUES = st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True, allow_infinity=False),
                    st.sampled_from(["yes", "NO", "", "SBC → carrier"]), st.booleans(),
                    st.just(None))
_ROW = st.dictionaries(st.sampled_from(["Site", "a", "b", "c", "d"]), _VALUES, max_size=5)


@st.composite
def _frames(draw):
    """A site's frame of a few rows: some of the columns, each of one kind."""
    columns = draw(st.lists(st.sampled_from(["Site", "a", "b", "c"]), unique=True, max_size=4))
    rows = draw(st.integers(0, 3))
    data = {}
    for column in columns:
        kind = draw(st.sampled_from(["int", "float", "str", "bool", "mixed"]))
        values = {"int": st.integers(0, 99), "float": st.floats(allow_infinity=False),
                  "str": st.sampled_from(["x", "yes"]), "bool": st.booleans(),
                  "mixed": _VALUES}[kind]
        data[column] = draw(st.lists(values, min_size=rows, max_size=rows))
    return pd.DataFrame(data, index=range(rows)) if data else pd.DataFrame(index=range(rows))


@settings(max_examples=150, deadline=None)
@given(st.lists(_ROW, min_size=1, max_size=12), st.integers(1, 5))
def test_property_summary_rows_in_pieces_read_as_the_whole_table(rows, chunk):
    from sizing.report.tableshape import TableShape

    shape = TableShape(rows=True)
    for row in rows:
        shape.learn(row)
    whole = pd.DataFrame(rows)
    pieces = [shape.frame(rows[i:i + chunk]) for i in range(0, len(rows), chunk)]
    assert shape.columns == list(whole.columns) and shape.length == len(rows)
    streamed = "".join(p.to_csv(index=False, header=i == 0) for i, p in enumerate(pieces))
    assert streamed == whole.to_csv(index=False)
    pd.testing.assert_frame_equal(pd.concat(pieces, ignore_index=True), whole)


@settings(max_examples=150, deadline=None)
@given(st.lists(_frames(), min_size=1, max_size=8), st.integers(1, 4))
def test_property_site_frames_in_pieces_read_as_their_concatenation(frames, chunk):
    from sizing.report.tableshape import TableShape

    shape = TableShape(rows=False)
    for frame in frames:
        shape.learn(frame)
    kept = [f for f in frames if not f.empty]
    whole = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame()
    pieces = [shape.frame(frames[i:i + chunk]) for i in range(0, len(frames), chunk)]
    assert shape.columns == list(whole.columns) and shape.length == len(whole)
    streamed = "".join(p.to_csv(index=False, header=i == 0) for i, p in enumerate(pieces))
    assert streamed == whole.to_csv(index=False)
    pd.testing.assert_frame_equal(shape.head(frames, rows=3), whole.head(3))


def test_reports_written_site_by_site_are_the_whole_tables_reports(tmp_path, plans, recorded):
    """Sites with different roles (so columns some lack) give the files the tables and the
    HTML of all plans at once give."""
    from sizing.plan import ASSUMPTIONS
    from sizing.plan.batch import write_reports
    from sizing.report.html import batch_html
    from sizing.report.tables import kpi_table, summary_table

    bare = scenario_from_mapping({"name": "bare", "traffic": {"calls_per_second": 0.05,
                                                              "holding_time_s": 180},
                                  "trunk": {"channels": 30},
                                  "topology": {"sip_server": {"enabled": False},
                                               "media_server": {"enabled": False}}})
    sites = {"branch": plans["branch"], "bare": plan(bare, simulate=False), "rec": recorded,
             "hq": plans["hq"]}
    write_reports(sites, tmp_path, title="T")
    summary = summary_table(sites)
    assert (tmp_path / "summary.csv").read_text() == summary.to_csv(index=False)
    stamp = re.compile(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC")
    assert stamp.sub("", (tmp_path / "report.html").read_text()) == \
        stamp.sub("", batch_html(sites, title="T"))

    def long(table):
        return pd.concat([table(p).assign(Site=s)[["Site", *table(p).columns]]
                          for s, p in sites.items()], ignore_index=True)

    _pandas_xlsx(tmp_path / "whole.xlsx", {
        "Summary": summary, "Deployment": long(deployment_table), "Links": long(links_table),
        "KPIs": long(kpi_table), "Candidates": pd.DataFrame(),
        "Assumptions": pd.DataFrame({"assumption": list(ASSUMPTIONS),
                                     "value": list(ASSUMPTIONS.values())})})
    assert _members(tmp_path / "report.xlsx") == _members(tmp_path / "whole.xlsx")
    assert summary["SIP Server hosts"].isna().any()  # the columns did differ
    assert not list(tmp_path.glob(".reports-*"))


def test_writing_more_sites_takes_no_more_memory(tmp_path):
    """Fifty sites' reports are written within the memory of five (tracemalloc peak):
    each plan is dropped once its files and staged pieces are written."""
    import gc
    import pickle
    import tracemalloc

    from sizing.report.writer import BatchReports

    sc = scenario_from_mapping({"name": "x", "traffic": {"calls_per_second": 1.0,
                                                         "holding_time_s": 120},
                                "trunk": {"channels": 100}})
    blob = pickle.dumps(plan(sc, simulate=False))

    def peak(sites: int) -> int:
        gc.collect()
        tracemalloc.start()
        try:
            with BatchReports(tmp_path / str(sites), figures_for_sites=2) as reports:
                for i in range(sites):
                    reports.add(f"s{i}", pickle.loads(blob))  # a plan of its own each
                reports.finish()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    few, many = peak(5), peak(50)
    assert many < 1.5 * few, (few, many)  # holding the 50 plans measured 2.2x
