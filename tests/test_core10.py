"""CORE-10 can be seen (issue 15, item 16): the sample clinic's group programme gives it, and a
link asking for a measure without scores here says so instead of dropping it silently."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from analytics import CohortFilter, Settings, Viewer, cohort_summary
from analytics.config import CORE10
from tests.support.clinics import ROOT

COHORT = str(ROOT / "pages" / "cohort_outcomes.py")


def _run(page: str, query: dict) -> AppTest:
    at = AppTest.from_file(page, default_timeout=90)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def test_the_sample_clinic_has_core10_scores_in_its_group_programme(sample_db):
    # Barkham et al. 2013 (docs/clinical-reference.md): 0-40, caseness >= 11, reliable change 6
    assert (CORE10.max_score, CORE10.caseness_threshold, CORE10.reliable_change) == (40, 11, 6)
    rows = sample_db.execute_sql(
        """SELECT c.program, count(DISTINCT s.client_id) AS clients, min(s.total_score) AS low, max(s.total_score) AS high
        FROM scores AS s JOIN clients AS c USING (client_id) WHERE s.measure = 'CORE-10' GROUP BY ALL"""
    )
    assert rows["program"].tolist() == ["Group CBT"]
    assert rows["clients"].iloc[0] >= 20 and 0 <= rows["low"].iloc[0] and rows["high"].iloc[0] <= 40
    summary = cohort_summary(sample_db, Viewer.local(), CohortFilter.of(measures=("CORE-10",)), Settings())
    core = summary["measures"]["CORE-10"]
    assert core["clients_paired"] >= 20 and core["mean_change"] < 0 and core["recovery_rate"] is not None


def test_a_link_to_core10_opens_it_on_the_sample_clinic(app_db):
    at = _run(COHORT, {"outcome_measure": "CORE-10"})
    assert not at.exception, [e.value for e in at.exception]
    assert at.segmented_control(key="outcome_measure").value == "CORE-10"
    assert not [i.value for i in at.info if "no CORE-10 scores" in i.value]


def test_a_link_to_a_measure_without_scores_says_so(tiny_db_path, serve_database):
    serve_database(tiny_db_path)
    at = _run(COHORT, {"outcome_measure": "CORE-10"})
    assert not at.exception, [e.value for e in at.exception]
    notes = [i.value for i in at.info if "no CORE-10 scores" in i.value]
    assert notes == ["There are no CORE-10 scores for the clients here, so the link's measure was left out; "
                     "the page shows PHQ-9."]
    assert at.segmented_control(key="outcome_measure").value == "PHQ-9"

    filtered = _run(COHORT, {"measure": "CORE-10"})  # another page's measure filter, carried by a link
    assert not filtered.exception
    assert [i.value for i in filtered.info if "no CORE-10 scores" in i.value] == [
        "There are no CORE-10 scores for the clients here, so the link's measure was left out; the page shows PHQ-9."
    ]
