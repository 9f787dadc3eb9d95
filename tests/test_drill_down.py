"""Drill-down (issue 15 item 10): client ids in cohort tables and scatter points, and funnel
points, open the client review or the filtered cohort page; identified viewers only.

The selection a click gives cannot be made in AppTest (it does not draw Plotly), so the pure
functions that turn Streamlit's selection event into links are tested here with events of the
shape Streamlit sends, the figures with real data, and the pages' charts by their selection
mode; the click itself is in tests/browser/test_drill_down.py."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import Settings, Viewer, filter_options
from analytics.cohort_outcomes import charts
from analytics.cohort_outcomes import model as co
from analytics.drill_down import (
    CLIENT_REVIEW_PAGE,
    COHORT_OUTCOMES_PAGE,
    MAX_SELECTED_LINKS,
    DrillLink,
    client_links,
    client_review_href,
    selected_values,
    unit_links,
)
from analytics.publishing import Column, table_frames
from analytics.quality_improvement.charts import funnel_figure
from analytics.quality_improvement.model import quality_report
from tests.support.charts import drawn_charts
from tests.support.clinics import ROOT
from ui import opening

LOCAL = Viewer.local()
QI = Viewer(role="qi", email="qi@org")
KEY = "drill-down-test-pseudonym-key-0123456789"


def event(*customdata) -> dict:
    """A selection event as ``st.plotly_chart(..., on_select="rerun")`` returns it (points with
    their customdata; a line's point has none)."""
    points = [{"curve_number": 0, "point_number": i, "point_index": i, "x": 0.5, "y": -3.0,
               **({} if c is None else {"customdata": c})} for i, c in enumerate(customdata)]
    return {"selection": {"points": points, "point_indices": list(range(len(points))), "box": [], "lasso": []}}


def test_a_selected_client_gives_the_link_to_their_review():
    assert client_links(event(["C0007"]), identified=True) == [
        DrillLink("Open the review of client C0007", CLIENT_REVIEW_PAGE, {"client": "C0007"})]
    assert client_links(event(["C0007"]), identified=True)[0].href == "client_review?client=C0007"


def test_several_points_give_one_link_each_up_to_ten():
    ids = [f"C{i:04d}" for i in range(25)]
    links = client_links(event(*[[c] for c in ["C0003", "C0003", None, *ids]]), identified=True)
    expected = list(dict.fromkeys(["C0003", *ids]))[:MAX_SELECTED_LINKS]  # each client once, in click order
    assert [link.query_params["client"] for link in links] == expected
    assert len(links) == MAX_SELECTED_LINKS == 10


def test_no_selection_and_de_identified_views_give_no_link():
    assert client_links(None, identified=True) == []
    assert client_links(event(), identified=True) == []
    assert client_links(event(["C0007"]), identified=False) == []
    assert unit_links(event(["Northside"]), "clinic", identified=False) == []


def test_customdata_is_read_back_from_plotly_text():
    """Chart text escapes &, < and > (analytics.text.plotly_text); the link gets the real id."""
    assert selected_values(event(["A&amp;B &lt;1&gt;"])) == ["A&B <1>"]
    assert selected_values({"points": [{"customdata": "X1"}]}) == ["X1"]  # the selection part alone
    assert client_review_href("A&B <1>") == "client_review?client=A%26B%20%3C1%3E"


def test_a_funnel_unit_links_to_the_cohort_page_filtered_to_it():
    links = unit_links(event(["Northside &amp; Co"], ["(not recorded)"]), "clinic", identified=True)
    assert links == [DrillLink("Open the cohort outcomes of clinic Northside & Co", COHORT_OUTCOMES_PAGE,
                               {"clinic": "Northside & Co"})]
    assert unit_links(event(["T03"]), "therapist", identified=True)[0].query_params == {"therapist": "T03"}
    assert unit_links(event(["Group CBT"]), "program", identified=True)[0].href == "cohort_outcomes?program=Group%20CBT"


def test_the_client_column_kind_links_on_screen_and_keeps_the_id_in_the_csv():
    frame = table_frames(
        pd.DataFrame({"client_id": ["C1", "A&B"], "change": [-3.25, 1.0]}),
        [Column("client_id", "Client", "client"), Column("change", "Change", "number", decimals=1)],
    )
    assert list(frame.display["Client"]) == ["client_review?client=C1", "client_review?client=A%26B"]
    assert list(frame.csv["Client"]) == ["C1", "A&B"]


def _scatter(report: co.CohortReport):
    relation = report.relations["quantity"]
    return charts.compliance_scatter(relation.points, "quantity", report.measure, report.band_labels,
                                     relation.slope, relation.intercept)


def test_the_scatter_points_carry_their_client_ids_for_identified_viewers(sample_db):
    report = co.cohort_report(sample_db, LOCAL, None, "PHQ-9", Settings())
    fig = _scatter(report)
    dots = [t for t in fig.data if t.mode == "markers"]
    carried = [row[0] for t in dots for row in t.customdata]
    assert sorted(carried) == sorted(report.relations["quantity"].points["client_id"])
    assert all(t.type == "scatter" for t in dots)  # SVG points: a click selects one
    assert all("Client %{customdata[0]}" in t.hovertemplate for t in dots)


def test_de_identified_scatter_points_carry_no_client_id(sample_db):
    ids = set(sample_db.execute_sql("SELECT client_id FROM clients")["client_id"])
    report = co.cohort_report(sample_db, QI, None, "PHQ-9", Settings())
    for relation in report.relations.values():
        assert "client_id" not in relation.points.columns
    fig = _scatter(report)
    assert [t for t in fig.data if t.mode == "markers"]
    assert all(t.customdata is None for t in fig.data)
    text = fig.to_json()
    assert not [c for c in ids if f'"{c}"' in text]


def test_de_identified_funnels_carry_pseudonyms_not_therapist_ids(sample_db, monkeypatch):
    monkeypatch.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", KEY)
    therapists = set(filter_options(sample_db, LOCAL)["therapist"])
    report = quality_report(sample_db, LOCAL, months=24, outcome_period="auto", deidentified=True)
    panel = report.funnel("therapist", "quantity")
    carried = {row[0] for t in funnel_figure(panel).data if t.customdata is not None for row in t.customdata}
    assert carried and not carried & therapists
    assert not [t for t in therapists if f'"{t}"' in funnel_figure(panel).to_json()]
    identified = quality_report(sample_db, LOCAL, months=24, outcome_period="auto", deidentified=False)
    shown = {row[0] for t in funnel_figure(identified.funnel("therapist", "quantity")).data
             if t.customdata is not None for row in t.customdata}
    assert shown and shown <= therapists  # the identified funnel's units are the filter's values


# ----------------------------------------------------------------------------- the pages' charts


def _selectable(at: AppTest) -> dict[str, bool]:
    """Each chart's key and whether a click selects its points (on_select with points)."""
    return {c.key: c.selectable for c in drawn_charts(at)}


def _run(page: str, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=60)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_cohort_scatter_is_selectable_for_identified_viewers(app_db):
    at = _run("cohort_outcomes.py", section="Compliance and change")
    selectable = _selectable(at)
    assert selectable["chart_quantity_vs_change"] is True
    assert selectable["chart_yardsticks"] is False and selectable["chart_lead"] is False
    assert any("Click a client's point to open their review" in c.value for c in at.caption)


def test_the_de_identified_cohort_page_has_no_selectable_chart(app_db, monkeypatch):
    monkeypatch.setattr(opening, "viewer", lambda: QI)
    monkeypatch.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", KEY)
    at = _run("cohort_outcomes.py", section="Compliance and change")
    assert not any(_selectable(at).values())
    assert not at.get("page_link") or all(p.proto.page != "client_review" for p in at.get("page_link"))


@pytest.mark.parametrize("deidentified", [False, True])
def test_funnels_are_selectable_in_the_identified_qi_view_only(app_db, sample_db, monkeypatch, deidentified):
    clinics = tuple(sample_db.execute_sql("SELECT DISTINCT clinic FROM clients")["clinic"])
    monkeypatch.setattr(opening, "viewer", lambda: Viewer(role="supervisor", email="lead@clinic", clinics=clinics))
    monkeypatch.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", KEY)
    at = _run("quality_improvement.py", section="Comparisons")
    if not deidentified:
        at.toggle(key="qi_deidentified").set_value(False).run()
        assert not at.exception, at.exception
    funnels = {k: v for k, v in _selectable(at).items() if k.startswith("qi_funnel_")}
    assert funnels and all(v is (not deidentified) for v in funnels.values())
    spec = json.loads(next(c for c in drawn_charts(at) if c.key in funnels).spec)
    assert any(t.get("customdata") for t in spec["data"])
