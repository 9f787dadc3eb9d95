"""The quality-improvement page through Streamlit's AppTest, on the sample fixture."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from analytics import Viewer
from analytics.quality_improvement.model import alert_clients, period_kpis, quality_report, report_dates
from tests.support.charts import drawn_charts
from tests.support.clinics import ROOT
from ui import opening

PAGE = str(ROOT / "pages" / "quality_improvement.py")
TOKEN = re.compile(r"[A-Za-z0-9_]+")
KEY = "app-test-pseudonym-key-0123456789"


def _run(**query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


def rendered_text(at: AppTest) -> str:
    """Every piece of text the page rendered: markdown, alerts, metrics, tables, charts, widgets."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success"):
        parts += [str(e.value) for e in at.get(kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [df.value.to_csv() for df in at.dataframe]
    parts += [chart.spec for chart in drawn_charts(at)]
    for kind in ("multiselect", "selectbox"):
        for widget in at.get(kind):
            parts += [widget.label, *map(str, widget.options)]
    parts += [e.label for e in at.expander] + [t.label for t in at.tabs]
    return "\n".join(parts)


SECTIONS = ("Trends", "Comparisons", "Not on track", "Meeting pack")


def each_section(at: AppTest) -> Iterator[tuple[str, AppTest]]:
    """Open every tab in turn (only the open tab runs); yields the app after each run."""
    for section in SECTIONS:
        at.query_params["section"] = section
        at.run()
        assert not at.exception, (section, at.exception)
        yield section, at


def _client_ids(db) -> set[str]:
    return set(db.execute_sql("SELECT client_id FROM clients")["client_id"])


def _open_clients(db) -> int:
    as_of = report_dates(db, Viewer.local())["as_of"]
    sql = "SELECT count(*) AS n FROM clients WHERE intake_date <= $d AND (discharge_date IS NULL OR discharge_date > $d)"
    return int(db.execute_sql(sql, {"d": as_of})["n"].iloc[0])


def test_default_view_is_de_identified(app_db, sample_db):
    at = _run()
    assert at.toggle(key="qi_deidentified").value is True
    # Only the open tab runs: Trends by default (activity and homework, + outcomes unless withheld).
    assert {c.key for c in drawn_charts(at)} >= {"qi_chart_activity", "qi_chart_homework"}
    # The answer first (issue 15, item 3): the period's KPIs against the previous period, before any chart,
    # and no stack of notices: at most one alert box in the main column before the tabs.
    kpis = period_kpis(quality_report(sample_db, Viewer.local(), months=24, outcome_period="auto"))
    assert [(m.label, m.value) for m in at.metric] == [(k.label, k.value) for k in kpis]
    assert [m.label for m in at.metric] == ["Finished treatment", "Recovery", "Reliable improvement",
                                            "Reliable deterioration", "Mean homework quantity"]
    assert any(k.delta for k in kpis)
    assert len(at.main.info) + len(at.main.warning) <= 1
    assert any("NOT safe to send round" in w.value for w in at.sidebar.warning)  # the public development key
    texts = {}
    for section, opened in each_section(at):
        texts[section] = rendered_text(opened)
        if section == "Comparisons":  # the clinic funnels
            assert sum(c.key.startswith("qi_funnel_clinic_") for c in drawn_charts(opened)) >= 2
            assert not any(c.key.startswith("qi_chart_") for c in drawn_charts(opened))
        if section == "Not on track":
            metrics = {m.label: m.value for m in opened.metric}
            # Counts only: no list of clients, a pointer to the identified view instead.
            assert not any("Client review" in df.value.columns for df in opened.dataframe)
            assert any("Switch off **De-identified**" in i.value for i in opened.info)
    text = "\n".join(texts.values())
    tokens = set(TOKEN.findall(text))
    assert not tokens & _client_ids(sample_db)
    therapists = set(sample_db.execute_sql("SELECT DISTINCT therapist_id FROM clients")["therapist_id"])
    assert not tokens & therapists  # pseudonyms only; no therapist filter either
    assert "Therapist" not in [w.label for w in at.multiselect]
    assert "De-identified: no client identifiers" in text
    assert "development key" in text  # local mode: the visible note
    open_clients = _open_clients(sample_db)
    assert open_clients >= 11
    assert metrics["Clients in treatment"] == f"{open_clients:,}"


def test_deep_link_filters_apply(app_db, sample_db):
    clinic = sample_db.execute_sql("SELECT clinic, count(*) AS n FROM clients GROUP BY 1 ORDER BY n DESC")["clinic"][0]
    at = _run(clinic=clinic, therapist="T001")
    text = rendered_text(at)
    assert f"Clinics: {clinic}" in text
    assert "The therapist filter does not apply in de-identified mode" in text
    assert "T001" not in set(TOKEN.findall(text))


def test_supervisor_sees_the_alert_list_with_links(app_db, sample_db, monkeypatch):
    clinics = tuple(sample_db.execute_sql("SELECT DISTINCT clinic FROM clients")["clinic"])
    supervisor = Viewer(role="supervisor", email="lead@clinic", clinics=clinics)
    monkeypatch.setattr(opening, "viewer", lambda: supervisor)
    monkeypatch.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", KEY)
    at = _run(section="Not on track")
    assert "development key" not in rendered_text(at)
    at.toggle(key="qi_deidentified").set_value(False).run()
    assert not at.exception, at.exception
    assert any("Identified view" in w.value for w in at.warning)
    listing = next(df.value for df in at.dataframe if "Client review" in df.value.columns)
    alerts = alert_clients(sample_db, supervisor)
    flagged = set(alerts.loc[alerts["not_on_track"], "client_id"])
    assert flagged and set(listing["Client"]) == flagged
    assert set(listing["Client review"]) == {f"client_review?client={c}" for c in flagged}
    # Risk flags come first.
    risk = set(alerts.loc[alerts["rule_risk"], "client_id"])
    assert set(listing["Client"].iloc[: len(risk)]) == risk


@pytest.mark.parametrize("role", ["qi"])
def test_qi_role_is_always_de_identified(app_db, sample_db, monkeypatch, role):
    monkeypatch.setattr(opening, "viewer", lambda: Viewer(role=role, email="qi@org"))
    monkeypatch.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", KEY)
    at = _run()
    assert len(at.toggle) == 0
    text = "\n".join(rendered_text(opened) for _, opened in each_section(at))
    assert "Your role sees counts only." in text
    assert not set(TOKEN.findall(text)) & _client_ids(sample_db)


def test_not_on_track_tab_says_which_rule_applies_and_shows_the_back_test(app_db, sample_db, monkeypatch):
    from analytics.expected_response import BACKTEST_NOTE, backtest_table
    from analytics.quality_improvement.model import alert_method

    monkeypatch.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", KEY)
    at = _run(section="Not on track")
    assert BACKTEST_NOTE not in [c.value for c in at.caption]  # the back-test runs only when opened
    at.session_state["qi_backtest"] = True
    at.run()
    captions = [c.value for c in at.caption]
    assert alert_method(sample_db, Viewer.local()) in captions
    assert BACKTEST_NOTE in captions
    shown = next(df.value for df in at.dataframe if "Off track at week" in df.value.columns)
    expected = backtest_table(sample_db, Viewer.local(), True)  # the page opens de-identified
    assert shown.astype(str).values.tolist() == expected.astype(str).values.tolist()
    assert "How well does the off-track signal predict the outcome? (back-test)" in [e.label for e in at.expander]


def test_a_cohort_with_too_many_therapists_compares_clinics_and_programmes_only(app_db, sample_db, monkeypatch):
    from analytics.quality_improvement import model

    therapists = model.cohort_therapists(sample_db, Viewer.local(), None)
    assert therapists > 2
    monkeypatch.setattr(model, "MAX_COMPARED_THERAPISTS", 2)
    report = quality_report(sample_db, Viewer.local(), months=24, outcome_period="auto")
    assert report.therapist_note.startswith(f"This cohort has {therapists:,} therapists")
    assert {p.unit_type for p in report.funnels} == {"clinic", "program"}
    from analytics.quality_improvement.meeting_pack import meeting_pack_html

    assert report.therapist_note in meeting_pack_html(report).decode()  # the pack says why it has no therapists
    # not read either: no per-therapist rows come back from the database
    homework = model.unit_homework(sample_db, Viewer.local(), None, report.period_start, report.period_end,
                                   therapists=False)
    assert "therapist" not in set(homework["unit_type"]) and {"clinic", "program", "all"} <= set(homework["unit_type"])
    at = _run(section="Comparisons")
    at.button_group(key="qi_unit_type").set_value("therapist").run()
    assert not at.exception, at.exception
    assert [i.value for i in at.main.info if "therapists are compared in cohorts of up to 2" in i.value]
    assert not any(c.key.startswith("qi_funnel_therapist_") for c in drawn_charts(at))
    at.button_group(key="qi_unit_type").set_value("clinic").run()
    assert sum(c.key.startswith("qi_funnel_clinic_") for c in drawn_charts(at)) >= 2
