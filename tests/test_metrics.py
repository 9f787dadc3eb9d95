"""Metric definitions on the hand-built tiny clinic (tests/support/clinics.py), computed by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics import (
    CohortFilter,
    Settings,
    Viewer,
    classify_outcomes,
    client_homework,
    client_outcomes,
    cohort_summary,
)
from analytics.metrics import compliance_band

LOCAL = Viewer.local()


def test_assignment_fractions_and_client_means(tiny_db):
    homework = client_homework(tiny_db, LOCAL).set_index("client_id")
    # A1 rated 4 -> 1.0; A2 unrated, 2 of 4 practices -> 0.5: C1 = 0.75.
    # A3 rated 1 -> 0.25. A4 neither rated nor counted: not reviewed.
    # A5 unrated, 9 of 7 practices -> capped at 1.0.
    assert homework.loc["C1", "quantity"] == pytest.approx(0.75)
    assert homework.loc["C2", "quantity"] == pytest.approx(0.25)
    assert pd.isna(homework.loc["C3", "quantity"])
    assert homework.loc["C4", "quantity"] == pytest.approx(1.0)
    # Quality: A1 3/4, A3 1/4, A5 2/4; A2 and A4 unrated.
    assert homework.loc["C1", "quality"] == pytest.approx(0.75)
    assert homework.loc["C4", "quality"] == pytest.approx(0.5)
    assert homework.loc["C1", "assignments"] == 2 and homework.loc["C1", "reviewed_assignments"] == 2
    assert homework.loc["C3", "reviewed_assignments"] == 0
    assert "C5" not in homework.index  # no assignments at all


def test_first_and_last_scores_respect_discharge(tiny_db):
    outcomes = client_outcomes(tiny_db, LOCAL).set_index(["client_id", "measure"])
    c1 = outcomes.loc[("C1", "PHQ-9")]
    # The 2025-08-01 score (6) is follow-up: after discharge on 2025-04-07.
    assert (c1["first_score"], c1["last_score"], c1["n_follow_up"]) == (18, 9, 1)
    assert c1["change"] == -9 and c1["reliable_improvement"] and c1["recovered"]
    # C3 is still in treatment: the latest GAD-7 overall is the last.
    c3 = outcomes.loc[("C3", "GAD-7")]
    assert (c3["first_score"], c3["last_score"], c3["change"]) == (9, 5, -4)
    assert c3["reliable_improvement"]  # -4 <= -4 points on GAD-7
    # A single score is not paired and has no outcome.
    single = outcomes.loc[("C3", "PHQ-9")]
    assert not single["paired"] and pd.isna(single["change"]) and pd.isna(single["recovered"])
    # C4: reliable improvement but still at caseness (11 >= 10): not recovered.
    c4 = outcomes.loc[("C4", "PHQ-9")]
    assert c4["reliable_improvement"] and not c4["recovered"] and c4["caseness_at_last"]


def test_cohort_summary_matches_hand_computation(tiny_db):
    summary = cohort_summary(tiny_db, LOCAL)
    assert summary["clients"] == 5
    assert summary["assignments"] == 5 and summary["reviewed_assignments"] == 4
    assert summary["mean_quantity"] == pytest.approx((0.75 + 0.25 + 1.0) / 3)
    assert summary["mean_quality"] == pytest.approx((0.75 + 0.25 + 0.5) / 3)
    phq = summary["measures"]["PHQ-9"]
    assert phq["clients_scored"] == 4 and phq["clients_paired"] == 3
    assert phq["mean_first"] == pytest.approx((18 + 12 + 20) / 3)
    assert phq["mean_last"] == pytest.approx((9 + 14 + 11) / 3)
    assert phq["mean_change"] == pytest.approx((-9 + 2 - 9) / 3)
    assert (phq["reliable_improvement"], phq["reliable_deterioration"]) == (2, 0)
    assert (phq["caseness_at_first"], phq["recovered"]) == (3, 1)
    assert phq["recovery_rate"] == pytest.approx(1 / 3)
    # 3 pairs (C1, C2, C4) are below the one minimum n (Settings.minimum_n(4) = 5): r is withheld,
    # as on the page ("too few clients"), and n says why (tests/test_compliance_definitions.py).
    assert phq["r_quantity_change"] is None and phq["r_quantity_change_n"] == 3
    assert phq["r_quality_change"] is None and phq["r_quality_change_n"] == 3
    gad = summary["measures"]["GAD-7"]
    assert gad["clients_paired"] == 2 and gad["recovered"] == 2 and gad["recovery_rate"] == 1.0
    assert gad["r_quantity_change"] is None  # only C1 has a quantity: fewer than 3 clients
    assert list(summary["measures"]) == ["PHQ-9", "GAD-7"]


def test_filters_and_scope_narrow_the_cohort(tiny_db):
    north = cohort_summary(tiny_db, LOCAL, CohortFilter.of(clinics="North"))
    assert north["clients"] == 3
    therapist = Viewer(role="therapist", email="t1@example.org", therapist_id="T1")
    own = cohort_summary(tiny_db, therapist)
    assert own["clients"] == 2 and own["measures"]["PHQ-9"]["clients_paired"] == 2
    # A filter cannot widen a scope: T1 asking for T3's clients gets nothing.
    assert cohort_summary(tiny_db, therapist, CohortFilter.of(therapists="T3"))["clients"] == 0


def test_homework_type_filter_restricts_assignments_not_clients(tiny_db):
    summary = cohort_summary(tiny_db, LOCAL, CohortFilter.of(homework_types="thought_record"))
    assert summary["clients"] == 5 and summary["assignments"] == 1
    assert summary["mean_quantity"] == pytest.approx(1.0)


def test_configured_thresholds_change_outcomes():
    rows = pd.DataFrame({
        "client_id": ["X"], "measure": ["PHQ-9"],
        "first_date": [pd.Timestamp("2025-01-01")], "first_score": [12],
        "last_date": [pd.Timestamp("2025-03-01")], "last_score": [8],
    })
    default = classify_outcomes(rows, Settings())
    assert not default.loc[0, "reliable_improvement"] and default.loc[0, "recovered"]
    from dataclasses import replace

    from analytics.config import PHQ9
    strict = Settings(measures=(replace(PHQ9, reliable_change=4, caseness_threshold=8),))
    changed = classify_outcomes(rows, strict)
    assert changed.loc[0, "reliable_improvement"] and not changed.loc[0, "recovered"]


def test_compliance_bands():
    bands = compliance_band(pd.Series([0.1, 0.5, 0.79, 0.8, None]))
    assert list(bands) == ["< 50%", "50-79%", "50-79%", ">= 80%", None]
