"""The Cohort outcomes page through Streamlit's AppTest, on the sample fixture.

Deep links: query parameters set before the first run reproduce the filters, the measure, the
scatter's compliance measure and the open tab. The headline numbers are cohort_summary's.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from analytics import CohortFilter, Settings, Viewer, cohort_summary, filter_options
from analytics.cohort_outcomes import model as co
from tests.support.charts import drawn_charts
from tests.support.clinics import ROOT

PAGE = str(ROOT / "pages" / "cohort_outcomes.py")
LOCAL = Viewer.local()
TABS = (
    "Trajectories",
    "Compliance and change",
    "Outcomes by band",
    "Quantity by quality",
    "Assignment design",
    "Within-client",
    "Follow-up",
    "Clinical significance",
)


def run_page(**params: str | list[str]) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def tab_charts(at: AppTest) -> list:
    """The open tab's charts (not the lead chart above the tabs)."""
    return [c for c in drawn_charts(at) if c.key != "chart_lead"]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def expected_headline(summary: dict, measure: str, db, cohort) -> dict[str, str]:
    report = co.cohort_report(db, LOCAL, cohort, measure, Settings())
    return {f.label: f.display for f in co.headline_figures(summary, measure, report, Settings())}


def test_headline_numbers_are_cohort_summary(app_db, sample_db):
    at = run_page()
    summary = cohort_summary(sample_db, LOCAL, None, Settings())
    shown = metrics(at)
    m = summary["measures"]["PHQ-9"]
    assert shown["Clients"] == f"{summary['clients']:,}"
    assert shown["Paired clients"] == f"{m['clients_paired']:,}"
    assert shown["Mean quantity"] == f"{summary['mean_quantity']:.1%}"
    assert shown["Mean quality"] == f"{summary['mean_quality']:.1%}"
    assert shown["Recovery rate (per measure)"] == f"{m['recovery_rate']:.1%}"
    assert shown["Reliable improvement (6+ points)"] == f"{m['reliable_improvement']:,}"
    assert shown["Reliable deterioration (6+ points)"] == f"{m['reliable_deterioration']:,}"
    captions = " ".join(c.value for c in at.caption)
    assert f"n = {m['caseness_at_first']:,} paired clients at caseness at intake" in captions
    # The lead chart (mean change by band), then the default tab's chart with a table and a download beside it.
    assert len(drawn_charts(at)) == 2 and len(at.dataframe) == 1 and len(at.get("download_button")) == 1
    assert co.CAVEAT in captions


def test_deep_link_reproduces_the_view(app_db, sample_db):
    options = filter_options(sample_db, LOCAL)
    clinic, program = options["clinic"][0], options["program"][0]
    at = run_page(
        clinic=clinic, program=program, outcome_measure="GAD-7", compliance="Quality", section="Compliance and change"
    )
    sidebar = {w.label: w.value for w in at.sidebar.multiselect}
    assert sidebar["Clinic"] == [clinic] and sidebar["Programme"] == [program] and sidebar["Therapist"] == []
    assert at.segmented_control(key="outcome_measure").value == "GAD-7"
    assert at.segmented_control(key="compliance").value == "Quality"
    cohort = CohortFilter.of(clinics=clinic, programs=program)
    summary = cohort_summary(sample_db, LOCAL, cohort, Settings())
    shown = metrics(at)
    for label, display in expected_headline(summary, "GAD-7", sample_db, cohort).items():
        assert shown[label] == display, label
    assert metrics(at)["Clients"] == f"{summary['clients']:,}"
    report = co.cohort_report(sample_db, LOCAL, cohort, "GAD-7", Settings())
    assert metrics(at)["Pearson r"] == f"{report.relations['quality'].pearson.r:.2f}"
    # The scatter is the quality scatter; the URL still carries the view after the run.
    spec = json.loads(tab_charts(at)[0].spec)
    assert "quality" in spec["layout"]["xaxis"]["title"]["text"]
    assert at.query_params["clinic"] in (clinic, [clinic]) and at.query_params["program"] in (program, [program])


def test_filters_change_the_numbers(app_db, sample_db):
    options = filter_options(sample_db, LOCAL)
    therapist = options["therapist"][1]
    at = run_page()
    at.sidebar.multiselect(key="filter_therapist").set_value([therapist]).run()
    assert not at.exception
    summary = cohort_summary(sample_db, LOCAL, CohortFilter.of(therapists=therapist), Settings())
    assert metrics(at)["Clients"] == f"{summary['clients']:,}"
    assert at.query_params["therapist"] in (therapist, [therapist])


@pytest.mark.parametrize("section", TABS)
def test_every_tab_renders_charts_with_tables(app_db, section):
    at = run_page(section=section)
    charts = tab_charts(at)
    assert charts, section
    # Each chart has its table and a CSV download beside it.
    assert len(at.get("download_button")) == len(charts)
    assert len(at.dataframe) >= len(charts)
    text = " ".join(c.value for c in at.caption) + " ".join(m.value for m in at.markdown)
    if section != "Clinical significance":
        assert co.CAVEAT in text


def test_within_client_tab_shows_the_model(app_db, sample_db):
    at = run_page(section="Within-client")
    within = co.within_client_analysis(sample_db, LOCAL, None, "PHQ-9", Settings())
    assert metrics(at)["Within client"] == f"{within.forward.within_coef / 10:+.2f} points"
    assert within.forward.within_coef < 0


def test_functional_norms_give_all_five_categories(app_db, sample_db):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["section"] = "Clinical significance"
    at.session_state["jt_norms"] = (co.JTNorms("PHQ-9", 0.84, 5.0, 4.0),)
    at.run()
    assert not at.exception
    expected = co.clinical_significance(sample_db, LOCAL, None, (co.JTNorms("PHQ-9", 0.84, 5.0, 4.0),
                                                                   co.JTNorms("GAD-7", 0.83)), Settings())
    spec = json.loads(tab_charts(at)[0].spec)
    drawn = {t["name"].lower() for t in spec["data"]}
    assert drawn == set(expected.categories["category"]) and "recovered" in drawn
    phq = expected.parameters.set_index("measure").loc["PHQ-9"]
    assert phq["cutoff_c"] > 0
    table = at.dataframe[1].value if len(at.dataframe) > 1 else None
    assert table is not None and "Cut-off c" in table.columns


def test_small_cohort_says_too_few_clients(app_db, sample_db):
    therapist = filter_options(sample_db, LOCAL)["therapist"][0]
    at = run_page(therapist=therapist, intake_from="2026-09-01", intake_to="2026-09-30", section="Outcomes by band")
    summary = cohort_summary(sample_db, LOCAL, CohortFilter.of(therapists=therapist, intake_from="2026-09-01",
                                                                intake_to="2026-09-30"), Settings())
    assert 0 < summary["clients"] < 5
    assert metrics(at)["Recovery rate (per measure)"] == "—"
    assert any(c.value.startswith(f"**{co.TOO_FEW}**") for c in at.caption)
    assert metrics(at)["Hedges' g"] == co.TOO_FEW
    assert any(co.TOO_FEW in i.value.lower() for i in at.info)


def test_empty_cohort_gets_a_message(app_db):
    at = run_page(intake_from="2030-01-01")
    assert any("No clients match" in i.value for i in at.info)
    assert not drawn_charts(at)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_filter_combination_renders(app_db, sample_db, data):
    options = filter_options(sample_db, LOCAL)
    params: dict[str, list[str]] = {}
    for field in ("clinic", "therapist", "program", "concern", "homework_type", "measure"):
        chosen = data.draw(st.lists(st.sampled_from(options[field]), max_size=2, unique=True), label=field)
        if chosen:
            params[field] = chosen
    for bound, choices in (("intake_from", ["2025-01-01", "2026-06-01"]), ("intake_to", ["2025-06-30", "2026-12-31"])):
        day = data.draw(st.sampled_from([None, *choices]), label=bound)
        if day:
            params[bound] = [day]
    params["section"] = [data.draw(st.sampled_from(TABS), label="section")]
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, (params, [e.value for e in at.exception])
    assert not at.error


def test_sudden_gains_tab_shows_the_cohort_summary_with_its_caveat(app_db, sample_db):
    from analytics.cohort_outcomes.sudden_gain_summary import GAIN_CAVEAT, sudden_gain_summary

    at = run_page(section="Sudden gains")
    summary = sudden_gain_summary(sample_db, LOCAL, None, "PHQ-9", Settings())
    shown = metrics(at)
    assert shown["Clients with a sudden gain"] == f"{summary.clients_with_gain:,} of {summary.clients_scored:,}"
    assert shown["Gains (reversed later)"] == f"{summary.gains:,} ({summary.reversed:,})"
    assert 0.15 <= summary.share <= 0.40
    assert len(at.dataframe) == 2
    assert GAIN_CAVEAT in [c.value for c in at.caption]


# ----------------------------------------------------------------------------- issue 15 items 3 and 12


def test_one_measure_control(app_db, sample_db):
    """The sidebar had a Measure multiselect as well as "Measure for the analyses": now one control."""
    at = run_page(measure="GAD-7")
    assert [w.label for w in at.sidebar.multiselect if w.label == "Measure"] == []
    controls = [w for w in at.segmented_control if "measure" in w.label.lower() and w.key != "compliance"]
    assert [w.key for w in controls] == ["outcome_measure"]
    assert controls[0].value == "GAD-7"  # a link's measure preselects it
    summary = cohort_summary(sample_db, LOCAL, None, Settings())
    assert metrics(at)["Paired clients"] == f"{summary['measures']['GAD-7']['clients_paired']:,}"  # all measures kept
    at.segmented_control(key="outcome_measure").set_value("PHQ-9").run()
    assert not at.exception
    assert metrics(at)["Paired clients"] == f"{summary['measures']['PHQ-9']['clients_paired']:,}"


def test_the_page_leads_with_the_homework_outcome_relation(app_db, sample_db):
    at = run_page()
    report = co.cohort_report(sample_db, LOCAL, None, "PHQ-9", Settings())
    relation = report.relations["quantity"]
    labels = [m.label for m in at.metric]
    assert labels[0] == "Quantity and PHQ-9 change: r"  # before the outcome tiles
    assert labels.index("Clients") > 0
    assert at.metric[0].value == f"{relation.pearson.r:.2f}"
    assert any(f"n = {relation.n:,} paired clients" in c.value for c in at.caption)
    assert any(co.relation_lead(relation, "PHQ-9", Settings()) == m.value for m in at.markdown)
    lead = json.loads(next(c for c in drawn_charts(at) if c.key == "chart_lead").spec)
    assert lead["data"][0]["type"] == "bar"


def test_scatter_dots_follow_the_chosen_compliance(app_db, sample_db):
    """With Compliance = Quality the dots were still coloured (and named) by quantity band."""
    from analytics import theme

    at = run_page(compliance="Quality", section="Compliance and change")
    spec = json.loads(tab_charts(at)[0].spec)
    dots = [t for t in spec["data"] if t.get("mode") == "markers"]
    report = co.cohort_report(sample_db, LOCAL, None, "PHQ-9", Settings())
    colours = theme.compliance_band_colours(report.band_labels, "quality")
    assert dots and all(t["name"].startswith("Quality") or t["name"] == "No quality band" for t in dots)
    for trace in dots:
        band = trace["name"].removeprefix("Quality ")
        if band in colours:
            assert trace["marker"]["color"] == colours[band]


def test_the_two_reliable_improvements_are_side_by_side(app_db, sample_db):
    """The headline's reliable improvement and the Clinical significance tab's "improved" disagreed
    with the reason only in a bottom caption: now both are labelled and shown together."""
    at = run_page(section="Clinical significance")
    summary = cohort_summary(sample_db, LOCAL, None, Settings())
    m = summary["measures"]["PHQ-9"]
    assert metrics(at)["Reliable improvement (6+ points)"] == f"{m['reliable_improvement']:,}"
    table = next(d.value for d in at.dataframe if "Headline: reliably improved" in d.value.columns)
    row = table.set_index("Measure").loc["PHQ-9"]
    assert row["Headline: reliably improved"] == m["reliable_improvement"]
    assert row["Paired clients"] == m["clients_paired"]
    assert any("Same" in c.value and "6+ points" in c.value and "RCI" in c.value for c in at.caption)


def test_client_ids_link_to_the_client_review_and_the_csv_keeps_the_ids(app_db, sample_db):
    """Issue 15 item 10: the scatter's table shows each client id as a link to the client review;
    its CSV keeps the plain id."""
    from analytics.publishing import Column, table_frames

    at = run_page(section="Compliance and change")
    table = next(d for d in at.dataframe if "Client" in d.value.columns)
    relation = co.cohort_report(sample_db, LOCAL, None, "PHQ-9", Settings()).relations["quantity"]
    ids = list(relation.points["client_id"])
    assert list(table.value["Client"]) == [f"client_review?client={c}" for c in ids]
    config = json.loads(table.proto.columns)["Client"]
    assert config["type_config"]["type"] == "link"
    assert config["type_config"]["display_text"] == r"client=([^&]+)$"
    spec = [Column("client_id", "Client", "client"), Column("band", "Band", "text")]
    csv = table_frames(relation.points, spec).csv
    assert list(csv["Client"]) == ids


@pytest.fixture(scope="module")
def large_clinic(tmp_path_factory: pytest.TempPathFactory):
    """A seeded generated clinic with more paired clients than the scatter draws one by one."""
    from analytics.ingest.sample import build_sample_database

    path = tmp_path_factory.mktemp("large_cohort") / "clinic.duckdb"
    build_sample_database(path, clients=3000, seed=11)
    return path


@pytest.mark.parametrize("section", TABS)
def test_a_large_cohort_page_pulls_a_bounded_number_of_rows(large_clinic, serve_database, monkeypatch, section):
    """Every query the page runs for a 3,000-client clinic returns at most MAX_SCATTER_POINTS rows
    (the within-client model at most MIXEDLM_MAX_CLIENTS, its fixed sample): aggregates, bins or
    capped lists, whose size does not grow with the clients. The compliance scatter becomes a 2-D
    histogram; the one-row-per-client CSV is offered to identified viewers, built only on click."""
    from analytics import ClinicDatabase

    serve_database(large_clinic)
    read: dict[str, int] = {}
    original = ClinicDatabase.execute_sql

    def recording(db, sql, params=None, *, label="query"):
        frame = original(db, sql, params, label=label)
        read[label] = max(read.get(label, 0), len(frame))
        return frame

    monkeypatch.setattr(ClinicDatabase, "execute_sql", recording)
    at = run_page(section=section)
    within = {"cohort_score_interval_moments", "cohort_score_intervals"}
    assert all(read[name] <= co.MIXEDLM_MAX_CLIENTS for name in within & read.keys()), read
    assert max(rows for name, rows in read.items() if name not in within) <= co.MAX_SCATTER_POINTS, read
    assert "cohort_compliance_points" not in read  # too many to draw one by one: bins only
    if section == "Compliance and change":
        figure = json.loads(tab_charts(at)[0].spec)
        assert figure["data"][0]["meta"] == {"concept": "clients per bin"}
        labels = [b.proto.label for b in at.get("download_button")]
        assert "Download one row per client (CSV)" in labels
        assert "cohort_compliance_points" not in read  # the client rows were not built on render
