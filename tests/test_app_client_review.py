"""The Client review page through Streamlit's AppTest.

Deep links and search run on the 300-client sample fixture (``app_db``); edge states, badges
and the risk flag on the hand-built clinic of tests/test_client_review.py. The page counts to
the data's "as of" date (``analytics.data_as_of``), never to the wall clock, so expected values
are computed with that date too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics import ClinicDatabase, Viewer, data_as_of
from analytics.client_review.model import (
    EDGE_STATES,
    NOT_FOUND_MESSAGE,
    client_review,
    header_facts,
    programme_homework,
)
from analytics.client_review.session_review import session_review_pdf
from analytics.scope import query_params
from tests.support.charts import drawn_charts
from tests.support.clinics import ROOT
from tests.support.pdf import pdf_text
from tests.support.review_clinic import build_review_clinic

PAGE = str(ROOT / "pages" / "client_review.py")
LOCAL = Viewer.local()


def _run(client: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if client is not None:
        at.query_params["client"] = client
    at.run()
    assert not at.exception, at.exception
    return at


def _figure(at: AppTest) -> dict:
    charts = drawn_charts(at)
    assert len(charts) == 1
    return json.loads(charts[0].spec)


def _trace(figure: dict, name: str) -> dict | None:
    return next((t for t in figure["data"] if t.get("name") == name), None)


def _badges(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if "-badge[" in m.value]


@pytest.fixture(scope="module")
def review_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_review_clinic(tmp_path_factory.mktemp("review_app"))


@pytest.fixture
def review_app(review_db_path: Path, serve_database) -> Path:
    """Point the dashboard at the hand-built clinic with empty Streamlit caches."""
    return serve_database(review_db_path)


# ----------------------------------------------------------------------------- sample clinic


def _sample_client(sample_db) -> str:
    """A client with several PHQ-9 scores, homework and a follow-up score."""
    rows = sample_db.execute_sql(
        """SELECT s.client_id FROM scores AS s JOIN clients AS c USING (client_id)
           WHERE s.measure = 'PHQ-9' AND c.discharge_date IS NOT NULL
             AND s.client_id IN (SELECT client_id FROM assignments)
           GROUP BY s.client_id HAVING count(*) FILTER (WHERE s.administered_date > c.discharge_date) > 0
              AND count(*) >= 4
           ORDER BY s.client_id LIMIT 1"""
    )
    return str(rows["client_id"].iloc[0])


def test_deep_link_opens_the_client_and_the_chart_holds_the_stored_rows(app_db, sample_db):
    client = _sample_client(sample_db)
    at = _run(client)
    assert at.subheader[0].value == f"Client {client}"
    assert at.selectbox(key="client_review_client").value == client
    assert at.query_params["client"] == [client] or at.query_params["client"] == client
    as_of = data_as_of(sample_db, LOCAL)  # the newest session or score loaded, not the wall clock
    assert as_of == sample_db.execute_sql(
        "SELECT greatest((SELECT max(session_date) FROM sessions), (SELECT max(administered_date) FROM scores))"
    ).iloc[0, 0].date()
    assert any(c.value.startswith(f"Data as of {as_of:%Y-%m-%d} ") for c in at.caption)
    review = client_review(sample_db, LOCAL, client, as_of)
    shown = [m.value for m in at.markdown if m.value.startswith("**") and m.value.endswith("**")]
    assert shown[:8] == [f"**{value}**" for _, value in header_facts(review.header)]
    stored = sample_db.execute_sql(
        f"""SELECT s.administered_date, s.total_score, s.administered_date > c.discharge_date AS follow_up
            FROM scores AS s JOIN clients AS c USING (client_id)
            WHERE s.client_id = '{client}' AND s.measure = 'PHQ-9' ORDER BY s.administered_date"""
    )
    figure = _figure(at)
    in_treatment = stored[~stored["follow_up"]]
    follow_up = stored[stored["follow_up"]]
    phq = _trace(figure, "PHQ-9")
    assert phq["x"] == [d.date().isoformat() for d in in_treatment["administered_date"]]
    assert phq["y"] == [int(v) for v in in_treatment["total_score"]]
    later = _trace(figure, "PHQ-9 follow-up (after discharge)")
    assert later["y"] == [int(v) for v in follow_up["total_score"]]
    metric = next(m for m in at.metric if m.label.startswith("PHQ-9"))
    assert metric.value == str(int(in_treatment["total_score"].iloc[-1]))
    assert int(metric.delta) == int(in_treatment["total_score"].iloc[-1] - stored["total_score"].iloc[0])
    weekly = sample_db.query(
        "client_review_weekly",
        query_params(LOCAL, client_id=client, as_of=data_as_of(sample_db, LOCAL), unreviewed_as_not_done=False),
    )
    quantity = _trace(figure, "Quantity (how much was done)")
    assert quantity["y"] == [None if v != v else v * 100 for v in weekly["quantity"]]
    assert _trace(figure, "Assignments set")["y"] == [int(v) for v in weekly["assignments"]]


def test_search_narrows_the_list_and_the_url_follows_the_selection(app_db, sample_db):
    at = _run()
    assert any("Choose a client" in i.value for i in at.info)
    ids = sorted(sample_db.execute_sql("SELECT client_id FROM clients")["client_id"])
    prefix = ids[10][:-1]  # e.g. "C00001": ten ids share it
    at.text_input(key="client_search").input(prefix).run()
    options = at.selectbox(key="client_review_client").options
    assert options and all(prefix in o for o in options)
    assert options == [i for i in ids if i.startswith(prefix)]
    at.selectbox(key="client_review_client").select(options[1]).run()
    assert not at.exception
    assert at.query_params["client"] in (options[1], [options[1]])
    assert at.subheader[0].value == f"Client {options[1]}"
    at.selectbox(key="client_review_client").set_value(None).run()
    assert "client" not in at.query_params
    assert not drawn_charts(at)


def test_sidebar_filters_narrow_the_search(app_db, sample_db):
    at = _run()
    clinic = sorted(sample_db.execute_sql("SELECT DISTINCT clinic FROM clients")["clinic"])[0]
    at.multiselect(key="filter_clinic").set_value([clinic]).run()
    options = at.selectbox(key="client_review_client").options
    in_clinic = set(sample_db.execute_sql(f"SELECT client_id FROM clients WHERE clinic = '{clinic}'")["client_id"])
    assert options and set(options) <= in_clinic


def test_unknown_client_in_the_url(app_db):
    at = _run("NO-SUCH-CLIENT")
    assert [w.value for w in at.warning] == [NOT_FOUND_MESSAGE]
    assert not drawn_charts(at) and not at.subheader
    assert at.selectbox(key="client_review_client").value is None


# ----------------------------------------------------------------------------- hand-built clinic


@pytest.mark.parametrize(
    ("client", "state", "measures_charted"),
    [
        ("E1", "no_scores", []),
        ("E2", "single_score", ["PHQ-9"]),
        ("E3", "no_homework", ["PHQ-9"]),
        ("E4", "none_reviewed", ["PHQ-9"]),
        ("E5", "follow_up_only", []),
    ],
)
def test_edge_states_get_their_message(review_app, client, state, measures_charted):
    at = _run(client)
    assert EDGE_STATES[state] in [i.value for i in at.info]
    figure = _figure(at)  # never an empty chart: there is always something to draw here
    assert figure["data"]
    names = {t.get("name") for t in figure["data"]}
    assert {m for m in ("PHQ-9", "GAD-7") if m in names} == set(measures_charted)
    if state == "no_homework":
        assert "Assignments set" not in names
    if state == "follow_up_only":
        assert "PHQ-9 follow-up (after discharge)" in names


def test_badges_on_constructed_clients(review_app):
    at = _run("N1")
    assert _badges(at) == [":gray-badge[mild]", ":green-badge[Reliable improvement]", ":green-badge[Reliable recovery]"] * 2
    assert not at.error
    at = _run("D1")
    assert _badges(at) == [":gray-badge[moderately severe]", ":red-badge[Reliable deterioration]",
                           ":gray-badge[At caseness]"]
    assert any("Follow-up after discharge: 12 (moderate) on 2026-09-01" in c.value for c in at.caption)


def test_risk_flag_is_prominent(review_app):
    at = _run("R1")
    assert len(at.error) == 1
    assert "2026-11-02" in at.error[0].value and "item 9" in at.error[0].value
    body = list(at.main)
    assert body.index(at.error[0]) < body.index(at.metric[0])  # above the scores


def test_assignments_table_and_descriptions(review_app):
    at = _run("N1")
    tables = [df.value for df in at.dataframe]
    assignments = next(t for t in tables if "Practices done" in t.columns)
    assert len(assignments) == 17 and "Description" in assignments.columns  # local mode may read free text
    assert assignments["Reviewed"].iloc[0] == "not yet"
    assert assignments["Quantity"].iloc[1] == "25%"  # week 15: rated 1 of 4


def test_pdf_numbers_equal_the_page(review_app):
    at = _run("N1")
    with ClinicDatabase(review_app) as db:
        review = client_review(db, LOCAL, "N1", data_as_of(db, LOCAL))
        pdf = session_review_pdf(review, programme_homework(db, LOCAL, "Depression CBT"), compress=False,
                                 chart=False)
    text = pdf_text(pdf)
    captions = [c.value for c in at.caption]
    labels = captions[captions.index("Clinic"):][:8]
    values = [m.value.strip("*") for m in at.markdown if m.value.startswith("**") and m.value.endswith("**")][:8]
    assert labels[0] == "Clinic"
    for label, value in zip(labels, values, strict=True):
        assert f"{label}: {value}" in text
    for metric in at.metric[:2]:  # the measure cards: latest score and change
        measure = metric.label.split(":")[0]
        assert f"{measure}: latest score {metric.value} " in text
        assert f"change since first score {metric.delta.replace('-', chr(0x2212))} " in text


def test_an_off_track_client_shows_the_expected_band_the_week_and_the_homework(app_db, sample_db):
    from analytics import expected_response as er

    as_of = data_as_of(sample_db, LOCAL)
    prepared = er.prepare_history(er.response_history(sample_db, LOCAL))
    prepared = prepared[prepared["discharge_date"].isna() & (prepared["measure"] == "PHQ-9")]
    tracks = er.latest_tracks(er.expected_curves(sample_db, LOCAL).curve("PHQ-9"), prepared)
    client = tracks.loc[tracks["status"] == er.OFF_TRACK, "client_id"].iloc[0]
    review = client_review(sample_db, LOCAL, client, as_of)
    track = next(t for t in review.tracks if t.measure == "PHQ-9")
    homework = next(h for h in review.track_homework if h["measure"] == "PHQ-9")
    at = _run(client)
    assert f":orange[**PHQ-9: Off track since week {track.since_week}**]" in [m.value for m in at.markdown]
    assert any(m.value == f"**{homework['text']}**" for m in at.markdown)
    assert any(m.value.startswith(f"**Homework in weeks {homework['first_week']}") for m in at.markdown)
    figure = _figure(at)
    band = _trace(figure, "Usual range (10th-90th percentile)")
    assert band is not None and band["fill"] == "tonexty"
    assert _trace(figure, f"PHQ-9 off track since week {track.since_week}") is not None


def test_the_chart_and_what_changed_come_first(review_app):
    """Issue 15 item 3: the chart started at about 1,400 px, under the facts, the cards, the expected
    course and the since-last-session table. Now: the client, the risk alert, one line per measure
    saying what changed, then the chart; the details follow."""
    at = _run("R1")
    body = list(at.main)
    chart = next(e.element for e in drawn_charts(at) if e.key == "client_chart")
    assert body.index(at.error[0]) < body.index(chart)  # the risk alert above the chart
    first_line = next(m for m in at.markdown if m.value.startswith("PHQ-9: latest score"))
    assert body.index(first_line) < body.index(chart)
    for element in (at.metric[0], at.caption[[c.value for c in at.caption].index("Clinic")],
                    *[s for s in at.subheader if s.value in ("Since last session", "Homework summary")]):
        assert body.index(chart) < body.index(element)
