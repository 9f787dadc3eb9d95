"""The treatment window and the "unreviewed = not done" reading in every homework figure
(issue 11, items 2 and 8, second round), on a hand-built clinic of two clients.

Every expected value is worked out by hand below. The clinic is imported through
``analytics.import_files`` (the importer rejects assignments before intake, so the window is
tested with homework AFTER discharge).

F1  intake 2025-01-06 (a Monday), discharged 2025-02-24. Sessions 2025-01-06 and 2025-02-17
    (week 6). Homework (all "exposure"; quantity = rating / 4):
        F1a 2025-01-06 week 0   rating 4 -> 1.0    quality 4
        F1b 2025-01-13 week 1   rating 2 -> 0.5    quality 2
        F1c 2025-02-03 week 4   rating 3 -> 0.75   quality 2
        F1d 2025-03-10 week 9   rating 0 -> 0.0    after discharge: follow-up homework
        F1e 2025-03-17 week 10  rating 1 -> 0.25   after discharge: follow-up homework
    Treatment window: 3 assignments, quantity (1 + 0.5 + 0.75) / 3 = 0.75.
    Counting the follow-up homework would give (2.25 + 0 + 0.25) / 5 = 0.5.
    PHQ-9: 18 (01-06), 15 (01-20), 12 (02-03), 10 (02-17); 9 on 03-24 is a follow-up score.
U1  intake 2025-01-06, in treatment. Homework (all "journal"):
        U1a 2025-01-06 week 0  rating 4 -> 1.0     U1b 2025-01-13 week 1  not reviewed
        U1c 2025-01-20 week 2  rating 2 -> 0.5     U1d 2025-01-27 week 3  not reviewed
        U1e 2025-02-10 week 5  rating 3 -> 0.75
    Default reading (unreviewed left out): (1 + 0.5 + 0.75) / 3 = 0.75.
    "Unreviewed = not done": (1 + 0 + 0.5 + 0 + 0.75) / 5 = 0.45.
    PHQ-9: 16 (01-06), 15 (01-13), 15 (01-20), 14 (01-27), 14 (02-03), 14 (02-17).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from analytics import ClinicDatabase, Settings, Viewer, cohort_summary
from analytics.client_review.model import client_review
from analytics.cohort_outcomes import model as co
from analytics.quality_improvement.model import ALERT_GROUP_DONE, ALERT_GROUP_LITTLE, alert_clients, monthly_activity
from benchmarks import step_baseline as baseline
from tests.support.clinics import fixture_csv, import_clinic

LOCAL = Viewer.local()
DEFAULT = Settings()
NOT_DONE = Settings(unreviewed_as_not_done=True)

CLIENTS = fixture_csv("test_compliance_window_everywhere", "clients")
SESSIONS = fixture_csv("test_compliance_window_everywhere", "sessions")
ASSIGNMENTS = fixture_csv("test_compliance_window_everywhere", "assignments")
SCORES = fixture_csv("test_compliance_window_everywhere", "scores")


@pytest.fixture(scope="module")
def clinic_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("window")
    path = import_clinic(directory, "window.duckdb", clients=CLIENTS, sessions=SESSIONS, assignments=ASSIGNMENTS,
                         scores=SCORES)
    return path, directory


@pytest.fixture
def clinic(clinic_files):
    with ClinicDatabase(clinic_files[0]) as db:
        yield db


def _none(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# ----------------------------------------------------------------------------- QI monthly trends


def test_monthly_trends_count_the_treatment_window_and_show_follow_up_apart(clinic):
    months = monthly_activity(clinic, LOCAL, None, date(2025, 1, 1), date(2025, 3, 31), DEFAULT)
    m = months.assign(month=months["month"].astype(str).str[:7]).set_index("month")
    # January: F1a, F1b (F1 mean 0.75); U1a, U1b, U1c, U1d (reviewed U1a 1.0, U1c 0.5: mean 0.75).
    assert (m.loc["2025-01", "assignments"], m.loc["2025-01", "reviewed"]) == (6, 4)
    assert m.loc["2025-01", "mean_quantity"] == pytest.approx(0.75)
    # February: F1c 0.75, U1e 0.75.
    assert m.loc["2025-02", "assignments"] == 2 and m.loc["2025-02", "mean_quantity"] == pytest.approx(0.75)
    # March: only F1d and F1e, set after F1's discharge (2025-02-24): not compliance, counted apart.
    # (Counted, they would read 2 assignments, 1 client, mean quantity (0 + 0.25) / 2 = 0.125.)
    march = m.loc["2025-03"]
    assert (march["assignments"], march["reviewed"], march["clients_with_homework"]) == (0, 0, 0)
    assert _none(march["mean_quantity"]) and _none(march["mean_quality"])
    assert march["follow_up_assignments"] == 2
    assert m["follow_up_assignments"].tolist() == [0, 0, 2]


def test_monthly_trends_read_unreviewed_homework_as_the_setting_says(clinic):
    months = monthly_activity(clinic, LOCAL, None, date(2025, 1, 1), date(2025, 3, 31), NOT_DONE)
    m = months.assign(month=months["month"].astype(str).str[:7]).set_index("month")
    # January, unreviewed = not done: F1 0.75; U1 (1 + 0 + 0.5 + 0) / 4 = 0.375 -> (0.75 + 0.375) / 2.
    assert m.loc["2025-01", "mean_quantity"] == pytest.approx((0.75 + 0.375) / 2)
    assert m.loc["2025-01", "reviewed"] == 4  # the reviewed count does not depend on the reading
    assert m.loc["2025-02", "mean_quantity"] == pytest.approx(0.75)  # nothing unreviewed in February


# ----------------------------------------------------------------------------- client review


def test_client_review_weekly_chart_counts_follow_up_homework_apart(clinic):
    review = client_review(clinic, LOCAL, "F1", as_of=date(2025, 4, 1), settings=DEFAULT)
    weekly = review.weekly.set_index("week")
    # Weeks 0..10 (the latest assignment, F1e, is in week 10).
    assert list(weekly.index) == list(range(11))
    assert weekly.loc[[0, 1, 4], "assignments"].tolist() == [1, 1, 1]
    assert weekly.loc[[0, 1, 4], "quantity"].tolist() == pytest.approx([1.0, 0.5, 0.75])
    # Weeks 9 and 10: follow-up homework only, not in the compliance columns.
    for week in (9, 10):
        assert weekly.loc[week, "assignments"] == 0 and weekly.loc[week, "reviewed"] == 0
        assert _none(weekly.loc[week, "quantity"]) and _none(weekly.loc[week, "quality"])
        assert weekly.loc[week, "follow_up_assignments"] == 1
    assert weekly["follow_up_assignments"].sum() == 2


def test_client_review_periods_and_types_use_the_treatment_window(clinic):
    review = client_review(clinic, LOCAL, "F1", as_of=date(2025, 4, 1), settings=DEFAULT)
    periods = review.periods.set_index("key")
    # Reference week = the latest in-window assignment (F1c, week 4) or session up to discharge
    # (2025-02-17, week 6) -> 6. Last 4 weeks = weeks 3-6: F1c (0.75). Before = weeks 0-2: F1a,
    # F1b, (1 + 0.5) / 2 = 0.75. (With the follow-up homework the reference week would be 10 and
    # "last 4 weeks" F1d, F1e: (0 + 0.25) / 2 = 0.125.)
    assert (periods.loc["recent", "first_week"], periods.loc["recent", "last_week"]) == (3, 6)
    assert (periods.loc["recent", "assignments"], periods.loc["recent", "quantity"]) == (1, pytest.approx(0.75))
    assert (periods.loc["before", "first_week"], periods.loc["before", "last_week"]) == (0, 2)
    assert (periods.loc["before", "assignments"], periods.loc["before", "quantity"]) == (2, pytest.approx(0.75))
    # Completion by type: exposure 3 in the window, quantity 0.75 (not 5 and 0.5).
    exposure = review.by_type.set_index("homework_type").loc["exposure"]
    assert (exposure["assignments"], exposure["quantity"]) == (3, pytest.approx(0.75))
    assert review.overall["quantity"] == pytest.approx(0.75)
    assert review.follow_up_homework["assignments"] == 2
    assert review.follow_up_homework["quantity"] == pytest.approx(0.125)


def test_client_review_quantities_follow_the_unreviewed_reading(clinic):
    default = client_review(clinic, LOCAL, "U1", as_of=date(2025, 2, 17), settings=DEFAULT)
    not_done = client_review(clinic, LOCAL, "U1", as_of=date(2025, 2, 17), settings=NOT_DONE)
    # The client's own quantity: 0.75 (unreviewed left out) and 0.45 (counted as not done).
    assert default.overall["quantity"] == pytest.approx(0.75)
    assert not_done.overall["quantity"] == pytest.approx(0.45)
    assert default.overall["reviewed"] == not_done.overall["reviewed"] == 3
    # Weekly: week 1 (U1b) and week 3 (U1d) have no quantity by default and 0 when not done.
    w_default, w_not_done = default.weekly.set_index("week"), not_done.weekly.set_index("week")
    assert _none(w_default.loc[1, "quantity"]) and _none(w_default.loc[3, "quantity"])
    assert w_not_done.loc[[1, 3], "quantity"].tolist() == [0.0, 0.0]
    assert w_not_done.loc[[0, 2, 5], "quantity"].tolist() == pytest.approx([1.0, 0.5, 0.75])
    # Periods: U1 has no session on record, so the reference week is that of the latest assignment,
    # U1e (week 5). Last 4 weeks = weeks 2-5: U1c 0.5, U1d unreviewed, U1e 0.75.
    p_default, p_not_done = default.periods.set_index("key"), not_done.periods.set_index("key")
    assert (p_default.loc["recent", "first_week"], p_default.loc["recent", "last_week"]) == (2, 5)
    assert p_default.loc["recent", "quantity"] == pytest.approx((0.5 + 0.75) / 2)
    assert p_not_done.loc["recent", "quantity"] == pytest.approx((0.5 + 0 + 0.75) / 3)
    # Before = weeks 0-1: U1a 1.0, U1b -.
    assert p_default.loc["before", "quantity"] == pytest.approx(1.0)
    assert p_not_done.loc["before", "quantity"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- cohort: within-client model


def test_within_client_intervals_follow_the_window_and_the_reading(clinic):
    # Score intervals (consecutive treatment scores, <= 28 days), with the homework set in them:
    # F1 [01-06, 01-20) F1a F1b -> 0.75; [01-20, 02-03) none (left out); [02-03, 02-17) F1c 0.75.
    #    The follow-up score (03-24) opens no interval, so F1d / F1e never count.
    # U1 [01-06, 01-13) U1a 1.0; [01-13, 01-20) U1b unreviewed; [01-20, 01-27) U1c 0.5;
    #    [01-27, 02-03) U1d unreviewed; [02-03, 02-17) U1e 0.75.
    # Default: intervals with a reviewed assignment: 2 + 3 = 5. Not done: U1b, U1d count as 0 -> 7.
    default = co.within_client_analysis(clinic, LOCAL, None, "PHQ-9", DEFAULT)
    not_done = co.within_client_analysis(clinic, LOCAL, None, "PHQ-9", NOT_DONE)
    assert (default.intervals_used, default.clients_used) == (5, 2)
    assert (not_done.intervals_used, not_done.clients_used) == (7, 2)


# ----------------------------------------------------------------------------- cohort: assignment design


def test_assignment_design_counts_the_window_and_reads_unreviewed_work(clinic):
    # No checklist column was exported: every assignment has 0 items met (unknown = not met).
    two = Settings(min_clients_for_statistic=2)
    zero = co.assignment_design(clinic, LOCAL, None, two).items_met.set_index("items_met").loc[0]
    # In the window: F1a-c and U1a-e = 8 assignments, 6 reviewed; completion (1 + 0.5 + 0.75) * 2 / 6 = 0.75.
    # (With F1d, F1e: 10 assignments, 8 reviewed, (4.5 + 0 + 0.25) / 8 = 0.59375.)
    assert (zero["assignments"], zero["reviewed_assignments"], zero["n_clients"]) == (8, 6, 2)
    assert zero["mean_quantity"] == pytest.approx(0.75)
    # Unreviewed = not done: U1b, U1d count as 0 -> 4.5 / 8 = 0.5625; still 6 reviewed.
    alt = co.assignment_design(clinic, LOCAL, None, replace(two, unreviewed_as_not_done=True)).items_met.set_index("items_met").loc[0]
    assert (alt["assignments"], alt["reviewed_assignments"]) == (8, 6)
    assert alt["mean_quantity"] == pytest.approx(4.5 / 8)
    types = co.assignment_design(clinic, LOCAL, None, two).types.set_index("homework_type")
    assert types.loc["exposure", "assignments"] == 3 and types.loc["exposure", "reviewed_assignments"] == 3


# ----------------------------------------------------------------------------- QI alerts


def test_alert_recent_quantity_follows_the_unreviewed_reading(clinic):
    # On 2025-02-17 U1 is 6.0 weeks in treatment, PHQ-9 16 -> 14 (at caseness, -2 not reliable):
    # not on track. Homework of the last 4 weeks (2025-01-21 .. 2025-02-17): U1d (unreviewed) and
    # U1e (0.75). Default: 0.75 -> "homework done, still not improving"; unreviewed = not done:
    # (0 + 0.75) / 2 = 0.375 < 50% -> "little homework done".
    default = alert_clients(clinic, LOCAL, as_of=date(2025, 2, 17), settings=DEFAULT).set_index("client_id")
    not_done = alert_clients(clinic, LOCAL, as_of=date(2025, 2, 17), settings=NOT_DONE).set_index("client_id")
    assert bool(default.loc["U1", "not_on_track"])
    assert default.loc["U1", "recent_assignments"] == not_done.loc["U1", "recent_assignments"] == 2
    assert default.loc["U1", "recent_quantity"] == pytest.approx(0.75)
    assert not_done.loc["U1", "recent_quantity"] == pytest.approx(0.375)
    assert default.loc["U1", "group"] == ALERT_GROUP_DONE
    assert not_done.loc["U1", "group"] == ALERT_GROUP_LITTLE


# ----------------------------------------------------------------------------- the benchmark's pandas baseline


@pytest.mark.parametrize("settings", [DEFAULT, NOT_DONE], ids=["default", "unreviewed-not-done"])
def test_pandas_baseline_applies_the_same_window(clinic, clinic_files, settings):
    ours = baseline._headline(cohort_summary(clinic, LOCAL, None, settings))
    theirs = baseline._headline(baseline.pandas_cohort_summary(clinic_files[1], settings))
    headline = {k: ours[k] for k in baseline.HEADLINE}
    # Window: 3 + 5 = 8 assignments (F1d, F1e left out), 6 reviewed; quality F1 (1 + .5 + .5) / 3, U1 (.75 + .5 + .75) / 3.
    expected_quantity = (0.75 + 0.75) / 2 if not settings.unreviewed_as_not_done else (0.75 + 0.45) / 2
    assert (headline["assignments"], headline["reviewed_assignments"]) == (8, 6)
    assert headline["mean_quantity"] == pytest.approx(expected_quantity)
    assert headline["mean_quality"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert baseline._differences(headline, {k: theirs[k] for k in baseline.HEADLINE}) == []
    # Per measure, where both give a value (r needs 5 pairs here, 2 in pandas): PHQ-9 F1 18 -> 10, U1 16 -> 14.
    for key in ("clients_paired", "mean_change", "reliable_improvement", "caseness_at_first", "recovered"):
        assert ours[f"PHQ-9 {key}"] == theirs[f"PHQ-9 {key}"], key
    assert ours["PHQ-9 mean_change"] == pytest.approx((-8 + -2) / 2)
