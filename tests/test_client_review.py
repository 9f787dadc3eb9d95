"""Unit tests of the Client review analytics (analytics/client_review/model.py, analytics/client_review/charts.py).

Most tests use a hand-built clinic (``build_review_clinic`` in tests/support/review_clinic.py,
which describes it; also used by the page and report tests) whose every figure can be worked
out by hand; a few compare with the shared queries on the 300-client sample fixture.
"""

from __future__ import annotations

import io
import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analytics import ClinicDatabase, CohortFilter, Viewer, client_homework, query_params, theme
from analytics.client_review.charts import client_figure
from analytics.client_review.model import (
    EDGE_STATES,
    MIN_ASSOCIATION_WEEKS,
    RECENT_WEEKS,
    assignment_rows,
    assignments_csv,
    client_review,
    find_clients,
    header_facts,
    programme_homework,
    scores_csv,
    since_rows,
    summary_rows,
)
from analytics.scope import IdentifiersNotPermitted
from tests.support.review_clinic import (
    AS_OF,
    DESCRIPTION_TRICKY,
    N1_INTAKE,
    N1_MISSED_WEEK,
    N1_PHQ,
    N1_PRACTICES,
    N1_RATINGS,
    build_review_clinic,
)


def n1_quantity(week: int) -> float | None:
    """The quantity fraction of N1's week-``week`` assignment (the metric definition, by hand)."""
    if week >= 16:
        return None
    if week in N1_PRACTICES:
        planned, completed = N1_PRACTICES[week]
        return min(completed / planned, 1.0)
    return N1_RATINGS[week][0] / 4


def n1_quality(week: int) -> float | None:
    return None if week >= 16 else N1_RATINGS[week][1] / 4


LOCAL = Viewer.local()
T1 = Viewer(role="therapist", therapist_id="T1")


@pytest.fixture(scope="module")
def review_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_review_clinic(tmp_path_factory.mktemp("review"))


@pytest.fixture(scope="module")
def review_db(review_db_path: Path):
    with ClinicDatabase(review_db_path) as db:
        yield db


@pytest.fixture(scope="module")
def n1(review_db):
    return client_review(review_db, LOCAL, "N1", AS_OF)


def _card(review, measure: str) -> dict:
    return next(c for c in review.cards if c["measure"] == measure)


# ----------------------------------------------------------------------------- scope and search


def test_unknown_and_out_of_scope_clients_are_both_not_found(review_db):
    assert client_review(review_db, T1, "S1", AS_OF) is None  # exists, another therapist's client
    assert client_review(review_db, T1, "NOPE", AS_OF) is None  # does not exist
    assert client_review(review_db, LOCAL, "NOPE", AS_OF) is None
    south = Viewer(role="supervisor", clinics=("South",))
    assert client_review(review_db, south, "S1", AS_OF).header["clinic"] == "South"
    assert client_review(review_db, south, "N1", AS_OF) is None
    with pytest.raises(IdentifiersNotPermitted):
        client_review(review_db, Viewer(role="qi"), "N1", AS_OF)


def test_find_clients_searches_ids_within_scope_and_filters(review_db):
    everyone = find_clients(review_db, LOCAL, CohortFilter(), "")
    assert set(everyone["client_id"]) == {"N1", "R1", "D1", "E1", "E2", "E3", "E4", "E5", "S1"}
    assert (everyone["total_matches"] == 9).all()
    mine = find_clients(review_db, T1, CohortFilter(), "")
    assert "S1" not in set(mine["client_id"]) and len(mine) == 8
    e = find_clients(review_db, LOCAL, CohortFilter(), "e")  # case-insensitive; prefix matches first
    assert list(e["client_id"]) == ["E1", "E2", "E3", "E4", "E5"]
    narrowed = find_clients(review_db, LOCAL, CohortFilter(programs=("Anxiety CBT",)), "")
    assert list(narrowed["client_id"]) == ["E1", "E4"]
    limited = find_clients(review_db, LOCAL, CohortFilter(), "", limit=2)
    assert len(limited) == 2 and int(limited["total_matches"].iloc[0]) == 9


# ----------------------------------------------------------------------------- header and outcomes


def test_header_counts_sessions_and_weeks(review_db, n1):
    h = n1.header
    assert (h["sessions_attended"], h["sessions_scheduled"]) == (16, 17)  # week 6 missed
    assert h["weeks_in_treatment"] == (AS_OF - N1_INTAKE).days // 7 == 16
    assert h["last_session_date"] == date(2026, 11, 23) and h["next_session_date"] is None
    facts = dict(header_facts(h))
    assert facts["Sessions attended"] == "16 of 17" and facts["Discharge"] == "In treatment"
    assert facts["Programme"] == "Depression CBT" and facts["Intake"] == "2026-08-03"
    # Earlier as_of: later sessions are upcoming, not missed.
    earlier = client_review(review_db, LOCAL, "N1", date(2026, 11, 10))
    assert earlier.header["sessions_scheduled"] == 15 and earlier.header["sessions_upcoming"] == 2
    assert earlier.header["next_session_date"] == date(2026, 11, 16)
    d1 = client_review(review_db, LOCAL, "D1", AS_OF).header
    assert d1["weeks_in_treatment"] == (date(2026, 6, 1) - date(2026, 3, 2)).days // 7


def test_outcome_badges_on_constructed_clients(review_db, n1):
    phq = _card(n1, "PHQ-9")
    assert (phq["score"], phq["band"], phq["change_value"]) == ("9", "mild", -9.0)
    assert [b for b, _ in phq["badges"]] == ["Reliable improvement", "Reliable recovery"]  # 18 -> 9, RC 6, caseness 10
    gad = _card(n1, "GAD-7")
    assert (gad["score"], gad["change_value"]) == ("6", -6.0)  # 12 -> 6: RC 4, caseness 8
    assert [b for b, _ in gad["badges"]] == ["Reliable improvement", "Reliable recovery"]
    d1 = client_review(review_db, LOCAL, "D1", AS_OF)
    card = _card(d1, "PHQ-9")
    assert card["score"] == "15" and card["change_value"] == 7.0  # last in treatment, not the follow-up
    assert [b for b, _ in card["badges"]] == ["Reliable deterioration", "At caseness"]
    assert card["follow_up_note"] == "Follow-up after discharge: 12 (moderate) on 2026-09-01"
    r1 = _card(client_review(review_db, LOCAL, "R1", AS_OF), "PHQ-9")
    assert [b for b, _ in r1["badges"]] == ["At caseness"] and r1["change_value"] == -3.0


def test_one_client_restriction_of_the_first_last_query(sample_db):
    """client_measure_scores.sql with $client_id gives exactly that client's rows of the cohort query."""
    shared = sample_db.query("client_measure_scores", query_params(LOCAL, baseline_days=0))
    ids = sorted(shared["client_id"].unique())[:: max(1, len(shared["client_id"].unique()) // 25)]
    for cid in ids:
        mine = sample_db.query("client_measure_scores", query_params(LOCAL, client_id=cid, baseline_days=0))
        theirs = shared[shared["client_id"] == cid].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), theirs, check_dtype=False)


def test_risk_flag_from_the_latest_phq9(review_db, n1):
    r1 = client_review(review_db, LOCAL, "R1", AS_OF)
    assert r1.risk is not None
    assert (r1.risk.date, r1.risk.item_9, r1.risk.total_score) == (date(2026, 11, 2), 2, 13)
    assert r1.risk.earlier_dates == (date(2026, 9, 7),)
    assert "2026-11-02" in r1.risk.message and "item 9" in r1.risk.message
    assert n1.risk is None and not n1.risk_items_missing
    # An earlier item 9 > 0 with a latest item 9 of 0 is no flag (the latest decides).
    assert client_review(review_db, LOCAL, "D1", AS_OF).risk is None


def test_risk_flag_on_the_sample_clinic_matches_the_stored_items(sample_db):
    latest = sample_db.execute_sql(
        "SELECT client_id, arg_max(item_9, administered_date) AS item_9, max(administered_date) AS at "
        "FROM scores WHERE measure = 'PHQ-9' GROUP BY client_id ORDER BY client_id"
    )
    flagged = latest[latest["item_9"].fillna(0) > 0].head(3)
    calm = latest[latest["item_9"].fillna(0) == 0].head(3)
    assert len(flagged) and len(calm)
    for row in flagged.itertuples():
        review = client_review(sample_db, LOCAL, row.client_id, AS_OF)
        assert review.risk is not None and review.risk.item_9 == row.item_9
        assert review.risk.date == row.at.date()
    for row in calm.itertuples():
        assert client_review(sample_db, LOCAL, row.client_id, AS_OF).risk is None


# ----------------------------------------------------------------------------- homework


def test_weekly_series_by_week_since_intake(n1):
    weekly = n1.weekly
    assert list(weekly["week"]) == list(range(17))
    assert [d.date() for d in weekly["week_start"]] == [N1_INTAKE + timedelta(days=7 * w) for w in range(17)]
    assert list(weekly["assignments"]) == [1] * 17
    for w in range(17):
        expected_q, expected_l = n1_quantity(w), n1_quality(w)
        got_q, got_l = weekly["quantity"].iloc[w], weekly["quality"].iloc[w]
        assert (pd.isna(got_q) and expected_q is None) or got_q == pytest.approx(expected_q)
        assert (pd.isna(got_l) and expected_l is None) or got_l == pytest.approx(expected_l)


def test_weekly_series_lists_weeks_without_homework(review_db):
    e1 = client_review(review_db, LOCAL, "E1", AS_OF)  # homework in weeks 0 and 3, sessions to week 3
    assert list(e1.weekly["week"]) == [0, 1, 2, 3]
    assert list(e1.weekly["assignments"]) == [1, 0, 0, 1]
    assert list(e1.weekly["quantity"].round(4).fillna(-1)) == [0.75, -1, -1, 1.0]


def test_summary_periods_types_and_checklist(n1):
    overall = n1.overall
    quantities = [n1_quantity(w) for w in range(16)]
    assert overall["assignments"] == 17 and overall["reviewed"] == 16
    assert overall["quantity"] == pytest.approx(np.mean(quantities))
    assert overall["quality"] == pytest.approx(np.mean([n1_quality(w) for w in range(16)]))
    periods = n1.periods.set_index("key")
    # Reference week 16 (last session and last assignment): last 4 weeks = 13-16.
    assert (periods.loc["recent", "first_week"], periods.loc["recent", "last_week"]) == (16 - RECENT_WEEKS + 1, 16)
    assert periods.loc["recent", "assignments"] == 4 and periods.loc["recent", "reviewed"] == 3
    assert periods.loc["recent", "quantity"] == pytest.approx(np.mean([n1_quantity(w) for w in (13, 14, 15)]))
    assert periods.loc["before", "quantity"] == pytest.approx(np.mean([n1_quantity(w) for w in range(13)]))
    recent = n1.recent_assignments()
    assert sorted(recent["week"]) == [13, 14, 15, 16]
    by_type = n1.by_type.set_index("homework_type")
    thought = [w for w in range(16) if w % 4 == 0]
    assert by_type.loc["thought_record", "assignments"] == 5
    assert by_type.loc["thought_record", "quantity"] == pytest.approx(np.mean([n1_quantity(w) for w in thought]))
    missing = n1.checklist_missing.set_index("item")
    assert missing.loc["obstacles_planned", "missing"] == sum(1 for w in range(17) if w % 4 != 0)
    assert missing.loc["rehearsed_in_session", "missing"] == sum(1 for w in range(17) if w % 3 == 0)
    assert missing.loc["goal_linked", "missing"] == 0
    assert list(n1.checklist_missing["item"][:2]) == ["obstacles_planned", "rehearsed_in_session"]
    table = summary_rows(n1, {"shown": True, "median_quantity": 0.5, "median_quality": 0.25})
    assert "Obstacles planned for (12 of 17)" in " ".join(table["Value"])


def test_unknown_checklist_items_count_as_missing(review_db):
    e4 = client_review(review_db, LOCAL, "E4", AS_OF)  # E4A2 has no checklist recorded
    missing = e4.checklist_missing.set_index("item")
    assert missing.loc["goal_linked", "missing"] == 1 and missing.loc["obstacles_planned", "missing"] == 2
    rows = assignment_rows(e4.assignments, free_text=True)
    assert "?" in set(rows["Linked to a treatment goal"])


def test_programme_median_uses_the_client_homework_definition(sample_db):
    per_client = client_homework(sample_db, LOCAL, CohortFilter(programs=("Depression CBT",)))
    result = programme_homework(sample_db, LOCAL, "Depression CBT")
    assert result["median_quantity"] == pytest.approx(per_client["quantity"].median())
    assert result["median_quality"] == pytest.approx(per_client["quality"].median())
    assert result["clients_with_quantity"] == per_client["quantity"].notna().sum() and result["shown"]
    assert programme_homework(sample_db, LOCAL, None)["shown"] is False


def test_programme_median_hidden_below_the_minimum(review_db):
    result = programme_homework(review_db, LOCAL, "Anxiety CBT")  # E1 and E4: one client with a value
    assert result["clients_with_quantity"] == 1 and not result["shown"]


# ----------------------------------------------------------------------------- association


def test_within_client_association_matches_a_hand_computation(n1):
    """Per week: the latest in-treatment score on or before its end and the next after it; weeks sharing
    the same two scores form one score interval (x = mean of their quantities, y = the interval's change)."""
    phq = [(N1_INTAKE + timedelta(days=7 * w), s) for w, s in enumerate(N1_PHQ) if s is not None]
    ys, intervals = [], {}
    for w in range(16):
        end = N1_INTAKE + timedelta(days=7 * w + 6)
        before = [(d, s) for d, s in phq if d <= end]
        after = [(d, s) for d, s in phq if d > end]
        if n1_quantity(w) is not None and before and after:
            ys.append(after[0][1] - before[-1][1])
            key = (before[-1][0], after[0][0])
            intervals.setdefault(key, ([], after[0][1] - before[-1][1]))[0].append(n1_quantity(w))
    xs = [sum(q) / len(q) for q, _ in intervals.values()]
    zs = [change for _, change in intervals.values()]
    association = next(a for a in n1.associations if a.measure == "PHQ-9")
    assert association.weeks == len(ys) == 16 and association.n == len(xs) == 15 and association.shown
    expected = stats.pearsonr(xs, zs).statistic
    assert association.r == pytest.approx(expected)
    z, se = math.atanh(expected), 1 / math.sqrt(len(xs) - 3)
    assert association.ci_low == pytest.approx(math.tanh(z - 1.959964 * se), abs=1e-6)
    assert list(association.pairs["change"]) == ys
    assert f"n = {len(xs)} score intervals" in association.message


def test_association_needs_six_weeks(review_db):
    r1 = client_review(review_db, LOCAL, "R1", AS_OF)
    association = r1.associations[0]
    assert association.n < MIN_ASSOCIATION_WEEKS and not association.shown and association.r is None
    assert f"at least {MIN_ASSOCIATION_WEEKS} weeks" in association.message


# ----------------------------------------------------------------------------- since last session


def test_since_last_session(n1):
    since = n1.since_last_session
    assert since["session_date"] == date(2026, 11, 23) and since["attended"] is True
    new = since["new_scores"]
    assert list(new["measure"]) == ["PHQ-9", "GAD-7"]
    phq = new.iloc[0]
    assert (phq["score"], phq["previous_score"], phq["change"]) == (9, 9, 0)
    gad = new.iloc[1]
    assert (gad["score"], gad["previous_score"], gad["change"], gad["previous_band"]) == (6, 9, -3, "mild")
    assert list(since["reviewed"]["assignment_id"]) == ["N1A15"]
    assert list(since["assigned"]["assignment_id"]) == ["N1A16"]
    rows = since_rows(n1)
    assert len(rows) == 4 and rows["What"].iloc[2] == "Reviewed 2026-11-23"


# ----------------------------------------------------------------------------- edge states


@pytest.mark.parametrize(
    ("client", "states"),
    [
        ("N1", ()),
        ("E1", ("no_scores",)),
        ("E2", ("single_score",)),
        ("E3", ("no_homework",)),
        ("E4", ("none_reviewed",)),
        ("E5", ("follow_up_only",)),
    ],
)
def test_edge_states(review_db, client, states):
    review = client_review(review_db, LOCAL, client, AS_OF)
    assert review.states == states
    assert all(EDGE_STATES[s] for s in states)
    fig = client_figure(review)
    assert fig is not None and len(fig.data) > 0  # never an empty chart: sessions at least


def test_follow_up_only_client_shows_the_follow_up_score(review_db):
    e5 = client_review(review_db, LOCAL, "E5", AS_OF)
    card = _card(e5, "PHQ-9")
    assert card["kind"] == "Follow-up score (after discharge)" and card["score"] == "6"
    assert card["change"] is None and card["badges"] == ()


def test_single_score_client_has_no_change(review_db):
    card = _card(client_review(review_db, LOCAL, "E2", AS_OF), "PHQ-9")
    assert card["kind"] == "Only score so far" and card["change"] is None
    assert [b for b, _ in card["badges"]] == ["At caseness"]


# ----------------------------------------------------------------------------- chart and exports


def test_chart_data_equal_the_stored_rows(review_db, n1):
    fig = client_figure(n1)
    stored = review_db.execute_sql(
        "SELECT measure, administered_date, total_score FROM scores WHERE client_id = 'N1' ORDER BY measure, administered_date"
    )
    for measure in ("PHQ-9", "GAD-7"):
        trace = next(t for t in fig.data if t.name == measure)
        rows = stored[stored["measure"] == measure]
        assert list(trace.x) == [d.date().isoformat() for d in rows["administered_date"]]
        assert list(trace.y) == list(rows["total_score"])
    quantity = next(t for t in fig.data if t.name.startswith("Quantity"))
    assert list(quantity.x) == [d.date().isoformat() for d in n1.weekly["week_start"]]
    assert [None if v is None else round(v, 6) for v in quantity.y] == [
        None if n1_quantity(w) is None else round(n1_quantity(w) * 100, 6) for w in range(17)
    ]
    bars = next(t for t in fig.data if t.name == "Assignments set")
    assert list(bars.y) == [1] * 17
    missed = next(t for t in fig.data if t.name == "Session missed")
    assert list(missed.x) == [(N1_INTAKE + timedelta(days=7 * N1_MISSED_WEEK)).isoformat()]
    assert any(s.type == "line" and s.x0 == s.x1 for s in fig.layout.shapes) is False  # in treatment: no discharge
    d1 = client_figure(client_review(review_db, LOCAL, "D1", AS_OF))
    assert any(s.type == "line" and s.x0 == "2026-06-01" for s in d1.layout.shapes)
    follow = next(t for t in d1.data if "follow-up" in t.name)
    assert list(follow.x) == ["2026-09-01"] and list(follow.y) == [12]


def test_risk_scores_are_ringed_in_the_chart(review_db):
    fig = client_figure(client_review(review_db, LOCAL, "R1", AS_OF))
    ring = next(t for t in fig.data if t.name == "PHQ-9 item 9 above 0")
    assert list(ring.x) == ["2026-09-07", "2026-11-02"]


def test_the_score_axis_leaves_room_above_the_maximum(review_db, n1):
    """Issue 15 item 7: a PHQ-9 of 27 and its item-9 ring (17 px across) are drawn whole: the axis
    used to stop at 27.5, cutting them in half."""
    for review in (client_review(review_db, LOCAL, "R1", AS_OF), n1):
        fig = client_figure(review)
        for trace in fig.data:
            if trace.name in ("PHQ-9", "GAD-7"):
                top = {"PHQ-9": 27, "GAD-7": 21}[trace.name]
                assert fig.layout["yaxis" + trace.yaxis[1:]].range[1] >= top + 1.5, trace.name


def test_measures_differ_in_colour_and_marker_and_labels_sit_off_the_data(review_db, n1):
    """Issue 15 items 5 and 7: PHQ-9 and GAD-7 are told apart by colour and symbol; the caseness and
    discharge labels are legend entries, not text over the data or the band labels."""
    fig = client_figure(n1)
    phq, gad = (next(t for t in fig.data if t.name == m) for m in ("PHQ-9", "GAD-7"))
    assert phq.marker.color == theme.measure_colour("PHQ-9") != gad.marker.color == theme.measure_colour("GAD-7")
    assert phq.marker.symbol != gad.marker.symbol
    names = [t.name for t in fig.data]
    assert "Caseness threshold" in names
    texts = [a.text for a in fig.layout.annotations]
    titles = {t for t in texts if t and "total score" in t}
    # caseness named in the measure's row title and the legend, discharge in the legend: no text over the data
    assert not any("caseness" in (t or "").lower() or "Discharge" in (t or "") for t in set(texts) - titles)
    assert any("dashed line: caseness" in t for t in titles)
    d1 = client_figure(client_review(review_db, LOCAL, "D1", AS_OF))
    assert any(t.name == "Discharge 2026-06-01" for t in d1.data)
    assert not any("Discharge" in (a.text or "") for a in d1.layout.annotations)


def test_csv_exports_hold_every_score_and_assignment_formula_safe(review_db, n1):
    scores = pd.read_csv(io.BytesIO(scores_csv(n1)), encoding="utf-8-sig")
    stored = review_db.execute_sql("SELECT count(*) AS n FROM scores WHERE client_id = 'N1'")["n"].iloc[0]
    assert len(scores) == stored and set(scores["Client"]) == {"N1"}
    assert scores.loc[scores["Measure"] == "PHQ-9", "Score"].tolist() == [s for s in N1_PHQ if s is not None]
    assignments = pd.read_csv(io.BytesIO(assignments_csv(n1)), encoding="utf-8-sig")
    assert len(assignments) == 17
    tricky = assignments.loc[assignments["Assignment"] == "N1A14", "Description"].iloc[0]
    assert tricky == "'" + DESCRIPTION_TRICKY  # a formula is neutralised
    assert assignments.loc[assignments["Assignment"] == "N1A09", "Quantity (%)"].iloc[0] == pytest.approx(60.0)


def test_descriptions_only_when_free_text_is_allowed(review_db):
    with_text = review_db.query(
        "client_review_assignments", query_params(LOCAL, client_id="N1", as_of=AS_OF, free_text=True)
    )
    without = review_db.query(
        "client_review_assignments", query_params(LOCAL, client_id="N1", as_of=AS_OF, free_text=False)
    )
    assert with_text["description"].notna().all() and without["description"].isna().all()
    rows = assignment_rows(with_text, free_text=False)
    assert "Description" not in rows.columns
