"""Tests for analytics.cohort_outcomes.model (the Cohort outcomes page's analyses).

A 16-client "mini" clinic is written out below with every client's homework ratings and
first / last PHQ-9 scores, imported through the real importer; the expected figures are
computed by hand (comments) or, independently of the module, with scipy / statsmodels /
pandas from the same hand-written values. The sample fixture checks the planted relations,
the CLI equality and the property that band counts add up.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.stats.proportion import proportion_confint

from analytics import (
    ClinicDatabase,
    CohortFilter,
    Settings,
    Viewer,
    cohort_summary,
    filter_options,
    import_files,
    query_params,
)
from analytics.cohort_outcomes import charts
from analytics.cohort_outcomes import model as co
from analytics.config import DESIGN_CHECKLIST, DESIGN_CHECKLIST_LABELS
from analytics.metrics import client_homework, client_outcomes, measure_summary
from analytics.statistics import jacobson_truax, mean_ci, within_between_model
from tests.mixedlm_reference import within_between_mixedlm
from tests.support.clinics import FIXTURE_TODAY, ROOT, write_csv

LOCAL = Viewer.local()
# Two reviewed assignments per mini-clinic client: bands need 2 here (default 3, Settings.min_reviewed_for_band).
DEFAULTS = Settings(min_reviewed_for_band=2)

# --------------------------------------------------------------------------- the mini clinic
# Per client: (quantity ratings of its two assignments, quality ratings, first PHQ-9, last PHQ-9).
# Client quantity = mean(rating / 4). Bands (< 50%, 50-79%, >= 80%) by construction:
#   low  M01-M05, mid M06-M10, high M11-M15; M16 has one unreviewed assignment (no band).
MINI = {
    "M01": ((0, 1), (1, 2), 18, 15),  # q 0.125, change -3
    "M02": ((1, 1), (2, 1), 15, 14),  # q 0.25, change -1
    "M03": ((1, 2), (None, None), 20, 21),  # q 0.375, change +1 (no quality)
    "M04": ((0, 0), (None, 1), 12, 18),  # q 0.0, change +6: reliable deterioration
    "M05": ((1, 2), (3, 3), 16, 13),  # q 0.375, change -3
    "M06": ((2, 2), (2, 2), 16, 10),  # q 0.5, change -6: reliable improvement, 10 still at caseness
    "M07": ((2, 3), (3, 2), 14, 9),  # q 0.625, -5, recovered
    "M08": ((3, 3), (1, 1), 19, 12),  # q 0.75, -7, RI
    "M09": ((2, 3), (2, 3), 11, 8),  # q 0.625, -3, recovered
    "M10": ((3, 3), (4, 3), 13, 7),  # q 0.75, -6, RI, recovered
    "M11": ((4, 3), (3, 4), 17, 7),  # q 0.875, -10, RI, recovered
    "M12": ((4, 4), (4, 4), 20, 9),  # q 1.0, -11, RI, recovered
    "M13": ((3, 4), (1, 2), 15, 6),  # q 0.875, -9, RI, recovered
    "M14": ((4, 4), (3, 3), 9, 3),  # q 1.0, -6, RI, not at caseness at first
    "M15": ((4, 4), (2, 4), 22, 14),  # q 1.0, -8, RI, still at caseness (in treatment)
    "M16": ((None,), (None,), 14, 12),  # no reviewed homework, change -2
}
LOW, MID, HIGH = "< 50%", "50-79%", ">= 80%"
BAND = {**{f"M{i:02d}": LOW for i in range(1, 6)}, **{f"M{i:02d}": MID for i in range(6, 11)},
        **{f"M{i:02d}": HIGH for i in range(11, 16)}}
IN_TREATMENT = {"M15", "M16"}
# Follow-up scores (date, PHQ-9): window is 1-12 months after discharge (2025-03-03).
FOLLOW_UP = {
    "M01": [("2025-05-01", 14)],  # in the window
    "M06": [("2025-03-20", 11)],  # 17 days: too early
    "M11": [("2025-06-02", 8), ("2025-09-01", 10)],  # both in the window: the latest (10) counts
    "M12": [("2026-05-01", 12)],  # 14 months: too late
    "M13": [("2025-04-15", 7)],
    "M14": [("2025-07-01", 5)],
}
TYPES = ("thought_record", "exposure", "journal")


def quantity(cid: str) -> float | None:
    ratings = [r for r in MINI[cid][0] if r is not None]
    return sum(r / 4 for r in ratings) / len(ratings) if ratings else None


def quality(cid: str) -> float | None:
    ratings = [r for r in MINI[cid][1] if r is not None]
    return sum(r / 4 for r in ratings) / len(ratings) if ratings else None


def change(cid: str) -> int:
    return MINI[cid][3] - MINI[cid][2]


def checklist(i: int, k: int) -> list[bool]:
    """Assignment k of client i meets the first (i + k) % 6 checklist items."""
    met = (i + k) % 6
    return [j < met for j in range(5)]


def mini_csvs(directory: Path) -> list[Path]:
    clients = ["client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date"]
    assignments = [
        "assignment_id,client_id,assigned_date,homework_type,goal_linked,rationale_given,rehearsed_in_session,"
        "practice_scheduled,obstacles_planned,planned_practices,completed_practices,quantity_rating,quality_rating,"
        "rated_by,reviewed_date"
    ]
    scores = ["client_id,measure,administered_date,total_score"]
    for i, (cid, (q, ql, first, last)) in enumerate(MINI.items(), start=1):
        clinic, therapist = ("A", "TA1") if i <= 8 else ("B", "TB1")
        discharge = "" if cid in IN_TREATMENT else "2025-03-03"
        clients.append(f"{cid},{clinic},{therapist},{'P1' if i % 2 else 'P2'},depression,2025-01-06,{discharge}")
        for k, (rating, qrating) in enumerate(zip(q, ql, strict=True)):
            flags = ",".join("true" if f else "false" for f in checklist(i, k))
            date = ["2025-01-06", "2025-01-13"][k]
            reviewed = "" if rating is None else ["2025-01-13", "2025-01-20"][k]
            assignments.append(
                f"A{i:02d}{k},{cid},{date},{TYPES[(i + k) % 3]},{flags},3,,"
                f"{'' if rating is None else rating},{'' if qrating is None else qrating},"
                f"{'' if rating is None else 'therapist'},{reviewed}"
            )
        mid = round((first + last) / 2)
        scores.append(f"{cid},PHQ-9,2025-01-06,{first}")  # week 0
        scores.append(f"{cid},PHQ-9,2025-02-03,{mid}")  # week 4
        scores.append(f"{cid},PHQ-9,2025-03-03,{last}")  # week 8
        if i <= 3:
            scores.append(f"{cid},PHQ-9,2025-01-20,{first - 1}")  # week 2: 3 low-band clients only
        for date, value in FOLLOW_UP.get(cid, []):
            scores.append(f"{cid},PHQ-9,{date},{value}")
    return [
        write_csv(directory / "clients.csv", "\n".join(clients) + "\n"),
        write_csv(directory / "assignments.csv", "\n".join(assignments) + "\n"),
        write_csv(directory / "scores.csv", "\n".join(scores) + "\n"),
    ]


@pytest.fixture(scope="module")
def mini_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("mini")
    db_path = directory / "mini.duckdb"
    result = import_files(db_path, mini_csvs(directory), today=FIXTURE_TODAY)
    assert result.exit_code == 0, result.report()
    return db_path


@pytest.fixture
def mini(mini_path: Path):
    with ClinicDatabase(mini_path) as db:
        yield db


@pytest.fixture
def report(mini) -> co.CohortReport:
    return co.cohort_report(mini, LOCAL, None, "PHQ-9", DEFAULTS)


def banded(band: str) -> list[str]:
    return [c for c, b in BAND.items() if b == band]


# --------------------------------------------------------------------------- client frame and bands


def test_client_frame_and_band_counts(mini, report):
    frame = co.cohort_client_frame(mini, LOCAL, None, "PHQ-9", DEFAULTS)
    assert len(frame) == 16
    by_id = frame.set_index("client_id")
    for cid in MINI:
        expected = quantity(cid)
        if expected is None:
            assert pd.isna(by_id.loc[cid, "quantity"]) and by_id.loc[cid, "band"] is None
        else:
            assert by_id.loc[cid, "quantity"] == pytest.approx(expected)
            assert by_id.loc[cid, "band"] == BAND[cid]
        assert by_id.loc[cid, "change"] == change(cid)
    counts = report.band_counts.set_index("band")
    assert counts["clients"].to_dict() == {LOW: 5, MID: 5, HIGH: 5}  # M16 has no band
    assert counts["paired"].to_dict() == {LOW: 5, MID: 5, HIGH: 5}
    assert report.clients_with_quantity == 15
    assert report.clients_with_quality == 14  # M03 and M16 have no quality rating; M04 has one


def test_band_edges_are_configurable(mini):
    narrow = Settings(compliance_band_edges=(0.3, 0.9), min_reviewed_for_band=2)
    counts = co.band_counts(co.cohort_client_frame(mini, LOCAL, None, "PHQ-9", narrow), narrow)
    # < 30%: M01 .125, M02 .25, M04 0  -> 3; 30-89%: M03, M05 .375, M06-M10, M11 .875, M13 .875 -> 9; >= 90%: M12, M14, M15
    assert counts["band"].tolist() == ["< 30%", "30-89%", ">= 90%"]
    assert counts["clients"].tolist() == [3, 9, 3]


# --------------------------------------------------------------------------- compliance vs change


@pytest.mark.parametrize("compliance", ["quantity", "quality"])
def test_compliance_change_matches_scipy(report, compliance):
    getter = quantity if compliance == "quantity" else quality
    ids = [c for c in MINI if getter(c) is not None]
    x = np.array([getter(c) for c in ids])
    y = np.array([change(c) for c in ids], dtype=float)
    relation = report.relations[compliance]
    assert relation.n == len(ids) == (15 if compliance == "quantity" else 14)
    r = stats.pearsonr(x, y).statistic
    assert relation.pearson.r == pytest.approx(r)
    se = 1 / math.sqrt(len(ids) - 3)
    assert relation.pearson.ci_low == pytest.approx(math.tanh(math.atanh(r) - 1.959964 * se), abs=1e-6)
    assert relation.pearson.ci_high == pytest.approx(math.tanh(math.atanh(r) + 1.959964 * se), abs=1e-6)
    assert relation.spearman.r == pytest.approx(stats.spearmanr(x, y).statistic)
    slope, intercept = np.polyfit(x, y, 1)
    assert relation.slope == pytest.approx(slope)
    assert relation.intercept == pytest.approx(intercept)
    assert relation.pearson.r < 0  # more homework, larger drop in the mini clinic
    assert sorted(relation.points["client_id"]) == sorted(ids)


def test_compliance_change_is_withheld_below_the_minimum(tiny_db):
    rep = co.cohort_report(tiny_db, LOCAL, None, "PHQ-9", DEFAULTS)
    relation = rep.relations["quantity"]
    assert relation.too_few and relation.pearson.r is None and relation.slope is None
    assert relation.n < 5
    assert rep.band_effect.too_few and co.TOO_FEW.capitalize() in rep.band_effect.sentence
    assert rep.outcome_rates["too_few"].all() and rep.outcome_rates["rate"].isna().all()
    assert rep.trajectories["too_few"].all()


# --------------------------------------------------------------------------- bands: effect size, rates, change


def test_band_effect_hedges_g_by_hand(report):
    high = np.array([change(c) for c in banded(HIGH)], dtype=float)  # -10 -11 -9 -6 -8, mean -8.8
    low = np.array([change(c) for c in banded(LOW)], dtype=float)  # -3 -1 +1 +6 -3, mean 0
    # SS high 14.8 (var 3.7), SS low 56 (var 14); pooled var (14.8 + 56) / 8 = 8.85
    assert high.mean() == pytest.approx(-8.8) and low.mean() == 0
    assert high.var(ddof=1) == pytest.approx(3.7) and low.var(ddof=1) == pytest.approx(14.0)
    sd = math.sqrt(8.85)
    d = (-8.8 - 0.0) / sd
    g = (1 - 3 / (4 * 10 - 9)) * d
    effect = report.band_effect
    assert effect.effect.g == pytest.approx(g)
    assert effect.effect.n_a == 5 and effect.effect.n_b == 5
    assert effect.u3 == pytest.approx(stats.norm.cdf(-g))
    assert effect.r_equivalent == pytest.approx(g / math.sqrt(g * g + 4))
    assert f"{stats.norm.cdf(-g):.0%}" in effect.sentence and ">= 80%" in effect.sentence


def test_band_change_means_and_intervals(report):
    rows = report.band_change.set_index("band")
    for band in (LOW, MID, HIGH):
        values = [change(c) for c in banded(band)]
        mean, low, high, n = mean_ci(values)
        assert rows.loc[band, "n"] == n == 5
        assert rows.loc[band, "mean_change"] == pytest.approx(np.mean(values))
        assert rows.loc[band, "ci_low"] == pytest.approx(low)
        assert rows.loc[band, "ci_high"] == pytest.approx(high)


def test_outcome_rates_by_band_with_wilson_intervals(mini, report):
    rates = report.outcome_rates.set_index(["band", "outcome"])
    # By hand (caseness PHQ-9 >= 10; RC 6 points):
    expected = {
        (LOW, "Recovery"): (0, 5),  # all five at caseness first, none below 10 last
        (LOW, "Reliable improvement"): (0, 5),
        (LOW, "Reliable deterioration"): (1, 5),  # M04 +6
        (MID, "Recovery"): (3, 5),  # M07, M09, M10
        (MID, "Reliable improvement"): (3, 5),  # M06, M08, M10
        (MID, "Reliable deterioration"): (0, 5),
        (HIGH, "Recovery"): (3, 4),  # M11, M12, M13; M14 not at caseness at first; M15 still 14
        (HIGH, "Reliable improvement"): (5, 5),
        (HIGH, "Reliable deterioration"): (0, 5),
    }
    for key, (count, denominator) in expected.items():
        row = rates.loc[key]
        assert (row["count"], row["denominator"]) == (count, denominator), key
        if denominator >= 5:
            low, high = proportion_confint(count, denominator, method="wilson")
            assert row["rate"] == pytest.approx(count / denominator)
            assert row["ci_low"] == pytest.approx(low, abs=1e-12)
            assert row["ci_high"] == pytest.approx(high, abs=1e-12)
            assert not row["too_few"]
        else:
            assert row["too_few"] and math.isnan(row["rate"])
    # The "All clients" rows are the headline figures of cohort_summary.
    summary = cohort_summary(mini, LOCAL, None, DEFAULTS)["measures"]["PHQ-9"]
    assert rates.loc[(co.ALL_CLIENTS, "Recovery"), "count"] == summary["recovered"] == 6  # M07, M09, M10, M11, M12, M13
    assert rates.loc[(co.ALL_CLIENTS, "Recovery"), "denominator"] == summary["caseness_at_first"] == 15
    assert rates.loc[(co.ALL_CLIENTS, "Reliable improvement"), "count"] == summary["reliable_improvement"] == 8
    assert rates.loc[(co.ALL_CLIENTS, "Reliable deterioration"), "count"] == summary["reliable_deterioration"] == 1


def test_quantity_quality_grid(report):
    grid = report.grid.set_index(["quantity", "quality"])
    ids = [c for c in MINI if quantity(c) is not None and quality(c) is not None]
    for (q_level, l_level), row in grid.iterrows():
        cell = [c for c in ids if (quantity(c) >= 0.5) == (q_level == "High") and (quality(c) >= 0.5) == (l_level == "High")]
        assert row["n"] == len(cell), (q_level, l_level)
        if len(cell) >= 5:
            assert row["mean_change"] == pytest.approx(np.mean([change(c) for c in cell]))
        else:
            assert row["too_few"] and math.isnan(row["mean_change"])
    assert grid["n"].sum() == len(ids) == 14


# --------------------------------------------------------------------------- SQL-aggregated sections


def test_trajectories_match_pandas_on_the_raw_scores(report):
    traj = report.trajectories.set_index(["band", "week"])
    # Week 0, 4 and 8: five clients per band (M15 is in treatment, its week-8 score counts).
    for band in (LOW, MID, HIGH):
        firsts = [MINI[c][2] for c in banded(band)]
        row = traj.loc[(band, 0)]
        mean, low, high, n = mean_ci(firsts)
        assert row["n_clients"] == n == 5 and not row["too_few"]
        assert row["mean_score"] == pytest.approx(mean)
        assert row["ci_low"] == pytest.approx(low) and row["ci_high"] == pytest.approx(high)
        assert row["sd_score"] == pytest.approx(np.std(firsts, ddof=1))
        lasts = [MINI[c][3] for c in banded(band)]
        assert traj.loc[(band, 8), "mean_score"] == pytest.approx(np.mean(lasts))
    # Week 2: only M01-M03 (3 clients < 5): hidden, n kept.
    hidden = traj.loc[(LOW, 2)]
    assert hidden["n_clients"] == 3 and hidden["too_few"] and math.isnan(hidden["mean_score"])
    assert (MID, 2) not in traj.index
    # Follow-up scores after discharge never enter the trajectories (week 8 is the last).
    assert traj.index.get_level_values("week").max() == 8


def test_follow_up_picks_the_latest_score_in_the_window(mini):
    settings = Settings(min_clients_for_statistic=2, min_reviewed_for_band=2)
    fu = co.follow_up_by_band(mini, LOCAL, None, "PHQ-9", settings).set_index(["band", "time_point"])
    # High band: M11 (latest in window 10), M13 (7), M14 (5); M12's is 14 months later, M15 in treatment.
    high = fu.loc[(HIGH, "Follow-up")]
    assert high["n"] == 3 and high["discharged_paired"] == 4
    assert high["mean_score"] == pytest.approx((10 + 7 + 5) / 3)
    assert fu.loc[(HIGH, "End of treatment"), "mean_score"] == pytest.approx((7 + 6 + 3) / 3)
    assert fu.loc[(HIGH, "Intake"), "mean_score"] == pytest.approx((17 + 15 + 9) / 3)
    assert high["change_end_to_follow_up"] == pytest.approx(((10 - 7) + (7 - 6) + (5 - 3)) / 3)
    # Low band: only M01 (n = 1, withheld); middle band: M06's score 17 days after discharge is too early.
    assert fu.loc[(LOW, "Follow-up"), "n"] == 1 and fu.loc[(LOW, "Follow-up"), "too_few"]
    assert fu.loc[(MID, "Follow-up"), "n"] == 0


def test_assignment_design_matches_pandas(mini):
    design = co.assignment_design(mini, LOCAL, None, DEFAULTS)
    rows = []
    for i, (cid, (q, ql, _, _)) in enumerate(MINI.items(), start=1):
        for k, (rating, qrating) in enumerate(zip(q, ql, strict=True)):
            flags = checklist(i, k)
            rows.append({"client_id": cid, "items_met": sum(flags), **dict(zip(DESIGN_CHECKLIST, flags, strict=True)),
                         "type": TYPES[(i + k) % 3], "quantity": None if rating is None else rating / 4,
                         "quality": None if qrating is None else qrating / 4})
    raw = pd.DataFrame(rows)
    raw["quantity"] = raw["quantity"].astype(float)
    raw["quality"] = raw["quality"].astype(float)
    by_count = design.items_met.set_index("items_met")
    for level, group in raw.groupby("items_met"):
        row = by_count.loc[level]
        reviewed = group.dropna(subset=["quantity"])
        assert row["assignments"] == len(group)
        assert row["reviewed_assignments"] == len(reviewed)
        assert row["n_clients"] == reviewed["client_id"].nunique()
        if row["n_clients"] >= 5:
            assert row["mean_quantity"] == pytest.approx(reviewed["quantity"].mean())
            mean, low, high, _ = mean_ci(reviewed["quantity"])
            assert row["quantity_ci_low"] == pytest.approx(low) and row["quantity_ci_high"] == pytest.approx(high)
        else:
            assert row["too_few"] and math.isnan(row["mean_quantity"])
    assert by_count["assignments"].sum() == len(raw) == 31
    items = design.items.set_index("item")
    for item in DESIGN_CHECKLIST:
        label = DESIGN_CHECKLIST_LABELS[item]
        met = raw[raw[item]].dropna(subset=["quantity"])
        assert items.loc[label, "reviewed_met"] == len(met)
        assert items.loc[label, "clients_met"] == met["client_id"].nunique()
        if met["client_id"].nunique() >= 5:
            assert items.loc[label, "completion_met"] == pytest.approx(met["quantity"].mean())
        else:  # obstacles planned: only assignments meeting all five items
            assert math.isnan(items.loc[label, "completion_met"])
    types = design.types.set_index("homework_type")
    for name, group in raw.groupby("type"):
        assert types.loc[name, "assignments"] == len(group)
        assert types.loc[name, "n_clients"] == group.dropna(subset=["quantity"])["client_id"].nunique()
        assert types.loc[name, "mean_quality"] == pytest.approx(group["quality"].mean())
        mean, low, high, _ = mean_ci(group["quantity"])
        assert types.loc[name, "mean_quantity"] == pytest.approx(mean)
        assert types.loc[name, "quantity_ci_low"] == pytest.approx(low)


# --------------------------------------------------------------------------- clinical significance


def test_clinical_significance_calls_jacobson_truax(mini):
    norms = co.default_jt_norms(["PHQ-9"])
    assert norms == (co.JTNorms("PHQ-9", 0.84),)
    result = co.clinical_significance(mini, LOCAL, None, norms, DEFAULTS)
    firsts = [MINI[c][2] for c in MINI]
    lasts = [MINI[c][3] for c in MINI]
    expected = jacobson_truax(firsts, lasts, reliability=0.84)["category"].value_counts()
    got = result.categories.set_index("category")["clients"]
    assert set(got.index) == {"improved", "unchanged", "deteriorated"}  # no functional norms
    for category in got.index:
        assert got[category] == expected.get(category, 0)
    params = result.parameters.iloc[0]
    sd = np.std(firsts, ddof=1)
    assert params["sd_pre"] == pytest.approx(sd)
    assert params["reliable_change_points"] == pytest.approx(1.959964 * sd * math.sqrt(2 * (1 - 0.84)), rel=1e-6)
    # With functional norms all five categories are possible and c is reported.
    normed = co.clinical_significance(mini, LOCAL, None, (co.JTNorms("PHQ-9", 0.84, 5.0, 4.0),), DEFAULTS)
    assert list(normed.categories["category"]) == list(co.JT_ORDER)
    m_dys, sd_dys = np.mean(firsts), sd
    assert normed.parameters.iloc[0]["cutoff_c"] == pytest.approx((sd_dys * 5.0 + 4.0 * m_dys) / (sd_dys + 4.0))
    assert normed.categories["clients"].sum() == 16


@pytest.mark.parametrize("norm", [
    co.JTNorms("PHQ-9", 0.84),
    co.JTNorms("PHQ-9", 0.84, 5.0, 4.0),
    co.JTNorms("GAD-7", 0.79, 4.0, 3.5, "b"),
    co.JTNorms("GAD-7", 0.9, cutoff="a"),
    co.JTNorms("PHQ-9", 0.5, 5.0, 4.0, "a"),
])
def test_clinical_significance_sql_equals_python_reference(sample_db, norm):
    """The tab's categories are counted in SQL (cohort_jacobson_truax.sql), one row per measure;
    analytics.statistics.jacobson_truax on the same clients' per-client scores is the reference."""
    result = co.clinical_significance(sample_db, LOCAL, None, (norm,), DEFAULTS)
    outcomes = client_outcomes(sample_db, LOCAL, None, DEFAULTS)
    paired = outcomes[(outcomes["measure"] == norm.measure) & outcomes["paired"]]
    with_norms = norm.functional_mean is not None
    cutoff = norm.cutoff if with_norms or norm.cutoff == "a" else "c"
    jt = jacobson_truax(paired["first_score"].astype(float), paired["last_score"].astype(float),
                        reliability=norm.reliability, functional_mean=norm.functional_mean,
                        functional_sd=norm.functional_sd, cutoff=cutoff)
    expected = jt["category"].value_counts()
    got = result.categories.set_index("category")["clients"]
    assert len(paired) > 100
    assert got.sum() == len(paired)
    for category in co.JT_ORDER:
        assert got.get(category, 0) == expected.get(category, 0), category
    params = result.parameters.iloc[0]
    assert params["paired"] == len(paired)
    assert params["sd_pre"] == pytest.approx(jt.attrs["sd_pre"], rel=1e-12)
    assert params["reliable_change_points"] == pytest.approx(jt.attrs["s_diff"] * jt.attrs["critical_value"], rel=1e-12)
    for name in ("cutoff_a", "cutoff_b", "cutoff_c"):
        if jt.attrs[name] is None:
            assert np.isnan(params[name])
        else:
            assert params[name] == pytest.approx(jt.attrs[name], rel=1e-12)


def test_clinical_significance_too_few(tiny_db):
    result = co.clinical_significance(tiny_db, LOCAL, None, co.default_jt_norms(["PHQ-9", "GAD-7"]), DEFAULTS)
    assert result.categories.empty
    assert result.parameters["too_few"].all()


# --------------------------------------------------------------------------- yardsticks, headline


def test_published_yardsticks_on_the_change_scale():
    y = co.published_yardsticks().set_index("label")
    mausbach = y.loc["Mausbach 2010: compliance"]
    assert (mausbach["r"], mausbach["ci_low"], mausbach["ci_high"]) == (-0.26, -0.33, -0.19)
    quantity_row = y.loc["Kazantzis 2016: quantity (g as r)"]
    assert quantity_row["r"] == pytest.approx(-0.79 / math.sqrt(0.79**2 + 4))  # -0.367
    assert quantity_row["ci_low"] == pytest.approx(-1.02 / math.sqrt(1.02**2 + 4))
    assert quantity_row["ci_high"] == pytest.approx(-0.57 / math.sqrt(0.57**2 + 4))
    quality_row = y.loc["Kazantzis 2016: quality (g as r)"]
    assert quality_row["r"] == pytest.approx(-0.78 / math.sqrt(0.78**2 + 4))
    assert (y["r"] < 0).all()


def test_headline_figures_are_cohort_summary(mini, report):
    summary = cohort_summary(mini, LOCAL, None, DEFAULTS)
    figures = {f.label: f for f in co.headline_figures(summary, "PHQ-9", report, DEFAULTS)}
    m = summary["measures"]["PHQ-9"]
    assert figures["Clients"].value == summary["clients"] == 16
    assert figures["Paired clients"].value == m["clients_paired"] == 16
    assert figures["Mean quantity"].value == summary["mean_quantity"]
    assert figures["Mean quantity"].n == 15
    assert figures["Mean quantity"].display == f"{summary['mean_quantity']:.1%}"
    assert figures["Recovery rate (per measure)"].display == f"{6 / 15:.1%}" and figures["Recovery rate (per measure)"].n == 15
    assert figures["Reliable improvement (6+ points)"].display == "8" and figures["Reliable improvement (6+ points)"].n == 16
    assert figures["Mean change (points)"].value == pytest.approx(np.mean([change(c) for c in MINI]))


def test_headline_withholds_rates_below_the_minimum(tiny_db):
    rep = co.cohort_report(tiny_db, LOCAL, None, "PHQ-9", DEFAULTS)
    summary = cohort_summary(tiny_db, LOCAL, None, DEFAULTS)
    figures = {f.label: f for f in co.headline_figures(summary, "PHQ-9", rep, DEFAULTS)}
    assert figures["Recovery rate (per measure)"].display == co.TOO_FEW
    assert figures["Mean quantity"].display == co.TOO_FEW  # 4 clients with a quantity
    assert figures["Clients"].display == "5"


def test_headline_equals_the_cli(sample_db, sample_db_path):
    clinic = filter_options(sample_db, LOCAL)["clinic"][0]
    out = subprocess.run(
        [sys.executable, "-m", "analytics", "summary", "--db", str(sample_db_path), "--clinic", clinic, "--json"],
        capture_output=True, text=True, cwd=ROOT, check=True, timeout=120,
    )
    cli = json.loads(out.stdout)
    cohort = CohortFilter.of(clinics=clinic)
    summary = cohort_summary(sample_db, LOCAL, cohort, DEFAULTS)
    assert cli == json.loads(json.dumps(summary))
    rep = co.cohort_report(sample_db, LOCAL, cohort, "PHQ-9", DEFAULTS)
    figures = {f.label: f.value for f in co.headline_figures(summary, "PHQ-9", rep, DEFAULTS)}
    assert figures["Clients"] == cli["clients"]
    assert figures["Mean quantity"] == cli["mean_quantity"] and figures["Mean quality"] == cli["mean_quality"]
    assert figures["Paired clients"] == cli["measures"]["PHQ-9"]["clients_paired"]
    assert figures["Recovery rate (per measure)"] == cli["measures"]["PHQ-9"]["recovery_rate"]
    assert figures["Reliable improvement (6+ points)"] == cli["measures"]["PHQ-9"]["reliable_improvement"]
    assert figures["Reliable deterioration (6+ points)"] == cli["measures"]["PHQ-9"]["reliable_deterioration"]


def test_t_interval_equals_mean_ci():
    values = [3.0, 5.0, 9.0, 4.0, 7.5, 6.0]
    mean, low, high, n = mean_ci(values)
    lo, hi = co.t_interval([mean], [np.std(values, ddof=1)], [n])
    assert lo[0] == pytest.approx(low) and hi[0] == pytest.approx(high)
    lo, hi = co.t_interval([4.0], [np.nan], [1])
    assert math.isnan(lo[0]) and math.isnan(hi[0])


# --------------------------------------------------------------------------- within-client model


def _random_intercept_data(seed: int, groups: int = 60, per: int = 6, tau: float = 1.5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(0.6, 0.2, groups)[g] + rng.normal(0, 0.15, g.size)
    y = 1.0 - 2.0 * (x - x.mean()) + rng.normal(0, tau, groups)[g] + rng.normal(0, 1.0, g.size)
    return pd.DataFrame({"client_id": [f"c{i}" for i in g], "x": x, "y": y})


def test_within_between_model_matches_statsmodels():
    df = _random_intercept_data(3)
    ours = within_between_model(df, outcome="y", predictor="x", group="client_id")
    mean = df.groupby("client_id")["x"].transform("mean")
    exog = pd.DataFrame({"Intercept": 1.0, "within": df["x"] - mean, "between": mean - df["x"].mean()})
    fit = MixedLM(df["y"], exog, groups=df["client_id"]).fit(reml=True)
    assert fit.converged
    assert ours.within_coef == pytest.approx(fit.fe_params["within"], rel=1e-4)
    assert ours.between_coef == pytest.approx(fit.fe_params["between"], rel=1e-4)
    assert ours.intercept == pytest.approx(fit.fe_params["Intercept"], rel=1e-4)
    assert ours.group_variance == pytest.approx(float(fit.cov_re.iloc[0, 0]), rel=1e-3)
    assert ours.residual_variance == pytest.approx(fit.scale, rel=1e-3)
    ci = fit.conf_int().loc["within"]
    assert ours.within_ci[0] == pytest.approx(ci[0], rel=1e-2) and ours.within_ci[1] == pytest.approx(ci[1], rel=1e-2)
    assert ours.n_observations == 360 and ours.n_groups == 60 and ours.converged and ours.message is None


def test_within_between_model_at_the_boundary_is_ols():
    # Noise whose client means are all 0 (less between-client spread than chance): REML variance 0 -> OLS.
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(40), 5)
    x = rng.normal(0.5, 0.2, g.size)
    e = rng.normal(0, 1.0, g.size)
    e = e - pd.Series(e).groupby(g).transform("mean").to_numpy()  # noise with no client-level part: negative ICC
    y = -2.0 * x + e
    df = pd.DataFrame({"client_id": g, "x": x, "y": y})
    ours = within_between_model(df, outcome="y", predictor="x", group="client_id")
    mean = df.groupby("client_id")["x"].transform("mean")
    exog = np.column_stack([np.ones(len(df)), df["x"] - mean, mean - df["x"].mean()])
    beta, *_ = np.linalg.lstsq(exog, df["y"], rcond=None)
    assert ours.group_variance == 0.0 and "boundary" in ours.message
    assert ours.within_coef == pytest.approx(beta[1]) and ours.between_coef == pytest.approx(beta[2])


def test_within_between_model_minimums():
    tiny = pd.DataFrame({"client_id": ["a", "a", "b"], "x": [0.1, 0.5, 0.3], "y": [1.0, 2.0, 3.0]})
    result = within_between_model(tiny, outcome="y", predictor="x", group="client_id")
    assert result.too_few and result.within_coef is None


def test_within_client_analysis_on_the_sample(sample_db):
    within = co.within_client_analysis(sample_db, LOCAL, None, "PHQ-9", DEFAULTS)
    f = within.forward
    assert f.within_coef < 0 and f.within_ci[1] < 0  # the planted lag: a better week, a larger drop
    assert not within.sampled and within.clients_used <= within.clients_eligible
    table = within.coefficients.set_index(["effect"]).iloc[0]
    assert table["estimate"] == pytest.approx(f.within_coef / 10)
    # The same model through statsmodels MixedLM (tests/mixedlm_reference.py) on a small sample agrees.
    small = co.within_client_analysis(sample_db, LOCAL, None, "PHQ-9", DEFAULTS, max_clients=25)
    check = co.within_client_analysis(sample_db, LOCAL, None, "PHQ-9", DEFAULTS, max_clients=25,
                                      fit=within_between_mixedlm)
    # (statsmodels fails to converge on the adjusted forward model at the variance boundary, so the
    # forward check uses the unadjusted model; the adjusted reverse model converges in both.)
    assert small.forward_unadjusted.within_coef == pytest.approx(check.forward_unadjusted.within_coef, abs=1e-3)
    assert small.reverse.within_coef == pytest.approx(check.reverse.within_coef, abs=1e-4)


def test_within_client_sampling_is_deterministic(sample_db):
    a = co.within_client_analysis(sample_db, LOCAL, None, "PHQ-9", DEFAULTS, max_clients=40)
    b = co.within_client_analysis(sample_db, LOCAL, None, "PHQ-9", DEFAULTS, max_clients=40)
    assert a.sampled and a.clients_eligible > 40 and a.clients_used <= 40
    assert a.coefficients.equals(b.coefficients)
    # The 40 kept are the eligible clients with the lowest md5(client_id) (checked in Python).
    rows = sample_db.execute_sql(
        "SELECT s.client_id FROM scores s JOIN clients c USING (client_id) WHERE s.measure = 'PHQ-9' "
        "AND s.administered_date >= c.intake_date AND (c.discharge_date IS NULL OR s.administered_date <= c.discharge_date) "
        "GROUP BY s.client_id HAVING count(DISTINCT s.administered_date) >= 2"
    )["client_id"].tolist()
    assert a.clients_eligible == len(rows)
    kept = sorted(rows, key=lambda cid: hashlib.md5(cid.encode()).hexdigest())[:40]
    intervals = sample_db.query(
        "cohort_score_intervals",
        query_params(LOCAL, None, measure="PHQ-9", max_gap_days=co.MAX_INTERVAL_DAYS, max_clients=40, baseline_days=0,
                     unreviewed_as_not_done=False),
    )
    assert set(intervals["client_id"]) <= set(kept)


# --------------------------------------------------------------------------- sample clinic: planted relations


def test_planted_relations_show_on_the_sample(sample_db):
    rep = co.cohort_report(sample_db, LOCAL, None, "PHQ-9", DEFAULTS)
    assert -0.4 < rep.relations["quantity"].pearson.r < -0.1
    assert rep.relations["quantity"].pearson.ci_high < 0
    assert rep.relations["quality"].pearson.r < 0
    assert rep.band_effect.effect.g < 0
    change = rep.band_change.set_index("band")["mean_change"]
    assert change[">= 80%"] < change["< 50%"]
    design = co.assignment_design(sample_db, LOCAL, None, DEFAULTS)
    completion = design.items_met.set_index("items_met")["mean_quantity"]
    assert completion[5] > completion[0]
    assert (design.items["difference"] > 0).all()


# --------------------------------------------------------------------------- property: band counts add up


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_band_counts_add_up_to_clients_with_a_quantity(sample_db, data):
    options = filter_options(sample_db, LOCAL)

    def pick(field: str) -> tuple[str, ...]:
        return tuple(data.draw(st.lists(st.sampled_from(options[field]), max_size=2, unique=True), label=field))

    cohort = CohortFilter.of(
        clinics=pick("clinic"), therapists=pick("therapist"), programs=pick("program"), concerns=pick("concern"),
        homework_types=pick("homework_type"),
    )
    measure = data.draw(st.sampled_from(options["measure"]), label="measure")
    rep = co.cohort_report(sample_db, LOCAL, cohort, measure, DEFAULTS)
    homework = client_homework(sample_db, LOCAL, cohort)
    assert rep.band_counts["clients"].sum() == homework["quantity"].notna().sum() - rep.clients_below_min_reviewed
    assert homework["quantity"].notna().sum() == rep.clients_with_quantity
    assert (rep.band_counts["paired"] <= rep.band_counts["scored"]).all()
    assert (rep.band_counts["scored"] <= rep.band_counts["clients"]).all()
    figures = {f.label: f for f in co.headline_figures(cohort_summary(sample_db, LOCAL, cohort, DEFAULTS), measure, rep, DEFAULTS)}
    assert figures["Mean quantity"].n == rep.clients_with_quantity


# --------------------------------------------------------------------------- charts carry the tables' numbers


def test_charts_are_drawn_from_their_tables(report):
    fig = charts.trajectory_chart(report.trajectories, "PHQ-9", report.band_labels)
    shown = report.trajectories[~report.trajectories["too_few"]]
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert sum(len(t.y) for t in lines) == len(shown)
    assert np.allclose(np.concatenate([np.asarray(t.y, dtype=float) for t in lines]), shown["mean_score"].to_numpy())
    rates = charts.outcome_rates_chart(report.outcome_rates, report.band_labels)
    drawn = np.concatenate([np.asarray(t.y, dtype=float) for t in rates.data])
    assert np.allclose(np.sort(drawn), np.sort(report.outcome_rates.loc[~report.outcome_rates["too_few"], "rate"]))
    forest = charts.comparison_chart(report.comparison)
    assert np.allclose(np.asarray(forest.data[0].x, dtype=float)[::-1], report.comparison["r"], equal_nan=True)


def test_jt_norm_rows_seed_from_chosen_norms_and_parse_back():
    chosen = (co.JTNorms("PHQ-9", 0.9, 5.0, 4.0, "b"),)
    rows = co.jt_norm_rows(["PHQ-9", "GAD-7", "Other"], chosen)
    assert rows["measure"].tolist() == ["PHQ-9", "GAD-7", "Other"]
    assert rows.loc[0, "reliability"] == 0.9 and rows.loc[0, "cutoff"] == "b"
    assert rows.loc[1, "reliability"] == co.DEFAULT_RELIABILITY["GAD-7"][0]
    assert pd.isna(rows.loc[2, "reliability"]) and rows.loc[2, "source"] == "not set: enter a reliability"
    rows.loc[1, "functional_mean"] = 3.0  # a mean without an SD gives no functional norms
    parsed = co.jt_norms_from_rows(rows)
    assert parsed == (chosen[0], co.JTNorms("GAD-7", co.DEFAULT_RELIABILITY["GAD-7"][0], None, None, "c"))


def test_section_tables_label_columns_and_note_withheld_rows():
    from analytics.publishing import Column, table_frames

    frame = pd.DataFrame({"band": ["Low", "High"], "n": [3, 40], "rate": [None, 0.5], "too_few": [True, False]})
    shown = table_frames(frame, (Column("band", "Band", "text"), Column("n", "n", "count"),
                                 Column("rate", "Rate", "pct")), extra=co.note_column(frame)).display
    assert shown.columns.tolist() == ["Band", "n", "Rate", "Note"]
    assert shown["Note"].tolist() == [co.TOO_FEW, ""]


def _store_shuffled(path: Path, seed: float, tables: tuple[str, ...]) -> None:
    """Store ``tables`` of the clinic at ``path`` again in a seeded random row order."""
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("SELECT setseed(?)", [seed])
    for table in tables:
        con.execute(f"CREATE TABLE shuffled_rows AS SELECT * FROM {table} ORDER BY random()")
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} SELECT * FROM shuffled_rows")
        con.execute("DROP TABLE shuffled_rows")
    con.close()


def test_summary_does_not_depend_on_row_order(sample_db_path, tmp_path):
    """Bug (CI, stop 22): two runs of ``summary --json`` differed in the 16th digit of r and of
    the mean quantity, because floating-point aggregates took their rows in whatever order the
    hash aggregate and join handed them over. Every float aggregate now sorts its input
    (ORDER BY client_id / assignment_id), so the same clinic stored in another physical order
    gives the identical summary, bit for bit."""

    shuffled = tmp_path / "shuffled.duckdb"
    shutil.copy(sample_db_path, shuffled)
    _store_shuffled(shuffled, 0.25, ("clients", "sessions", "assignments", "scores"))
    with ClinicDatabase(sample_db_path) as original, ClinicDatabase(shuffled) as reordered:
        for cohort in (CohortFilter(), CohortFilter.of(clinics=filter_options(original, LOCAL)["clinic"][0])):
            expected = json.dumps(cohort_summary(original, LOCAL, cohort, DEFAULTS))
            assert json.dumps(cohort_summary(reordered, LOCAL, cohort, DEFAULTS)) == expected
        outcomes = client_outcomes(original, LOCAL, CohortFilter(), DEFAULTS)
    frame = outcomes[outcomes["measure"] == "PHQ-9"].reset_index(drop=True)
    assert frame["paired"].sum() > 100
    reversed_frame = frame.iloc[::-1].reset_index(drop=True)
    assert json.dumps(measure_summary(reversed_frame, DEFAULTS)) == json.dumps(measure_summary(frame, DEFAULTS))


# --------------------------------------------------------------------------- rows into Python (issue 12 item 3)


@pytest.fixture
def rows_read(monkeypatch):
    """The rows each query returns to Python, by query name, while the test runs."""
    read: dict[str, list[int]] = {}
    original = ClinicDatabase.execute_sql

    def recording(db, sql, params=None, *, label="query"):
        frame = original(db, sql, params, label=label)
        read.setdefault(label, []).append(len(frame))
        return frame

    monkeypatch.setattr(ClinicDatabase, "execute_sql", recording)
    return read


def test_the_gain_week_homework_reaches_python_as_two_rows_not_one_per_client_week(sample_db, rows_read):
    """The homework of the weeks a sudden gain came in against the same clients' other weeks is
    summed in SQL: two rows whatever the cohort's size (it was one row per client and week)."""
    from analytics.cohort_outcomes.sudden_gain_summary import sudden_gain_summary

    for unreviewed in (False, True):
        gains = sudden_gain_summary(sample_db, LOCAL, None, "PHQ-9", Settings(unreviewed_as_not_done=unreviewed))
        client_weeks = int(gains.homework["client_weeks"].sum())
        assert gains.clients_with_gain > 20 and client_weeks > 10 * gains.clients_with_gain
        assert rows_read["cohort_gain_week_homework"][-1] == 2  # the two groups, not the client-weeks
        assert list(gains.homework["weeks"]) == ["Weeks in which a gain came", "Other weeks (same clients)"]
    assert "cohort_weekly_homework" not in rows_read


def test_the_gain_week_homework_without_a_gain_is_two_empty_groups(sample_db, rows_read):
    from analytics.cohort_outcomes.sudden_gain_summary import _gain_week_homework

    none = {"client_ids": [], "first_weeks": [], "last_weeks": [], "magnitudes": [], "reversed": []}
    params = query_params(LOCAL, None, measure="PHQ-9", baseline_days=0, reliable_change=6.0, higher_is_better=False,
                          unreviewed_as_not_done=False, found=none)
    homework = _gain_week_homework(sample_db, params)
    assert rows_read["cohort_gain_week_homework"] == [0]
    assert homework["client_weeks"].tolist() == [0, 0] and homework["quantity"].isna().all()


def test_the_report_reaches_python_as_aggregates_not_one_row_per_client(sample_db, rows_read):
    """cohort_report read every client's homework and scores into pandas (one row per client);
    now every query returns aggregates (per band, grid cell, week, compliance measure), and the
    scatter's points only up to MAX_SCATTER_POINTS clients. clinical_significance returns one row
    per measure."""
    report = co.cohort_report(sample_db, LOCAL, None, "PHQ-9", DEFAULTS)
    assert "client_homework" not in rows_read and "client_measure_scores" not in rows_read
    assert rows_read["cohort_report_groups"][0] <= 3 + 1 + 4 + 1  # bands, all, grid cells, the cohort
    assert rows_read["cohort_relations"] == [2]
    assert rows_read["cohort_follow_up_bands"][0] <= 3
    paired = report.relations["quantity"].n + report.relations["quality"].n
    assert rows_read["cohort_compliance_points"] == [paired] and "cohort_compliance_bins" not in rows_read
    rows_read.clear()
    co.clinical_significance(sample_db, LOCAL, None, co.default_jt_norms(["PHQ-9", "GAD-7"]), DEFAULTS)
    assert rows_read == {"cohort_jacobson_truax": [2]}


@pytest.mark.parametrize("clinic", ["mini", "sample_db"])
@pytest.mark.parametrize("unreviewed", [False, True])
def test_the_report_aggregated_in_sql_equals_the_python_reference(clinic, unreviewed, request):
    """Every figure of cohort_report (aggregated in DuckDB) equals the Python reference functions
    on the per-client frame (cohort_client_frame: analytics.metrics' per-client rows)."""
    db = request.getfixturevalue(clinic)
    settings = Settings(min_reviewed_for_band=2, min_clients_for_statistic=3, unreviewed_as_not_done=unreviewed)
    report = co.cohort_report(db, LOCAL, None, "PHQ-9", settings)
    frame = co.cohort_client_frame(db, LOCAL, None, "PHQ-9", settings)
    assert frame["band"].notna().sum() >= 10
    pd.testing.assert_frame_equal(report.band_counts, co.band_counts(frame, settings))
    pd.testing.assert_frame_equal(report.band_change, co.band_change(frame, settings), check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(report.outcome_rates, co.outcome_rates_by_band(frame, settings), check_dtype=False,
                                  rtol=1e-12)
    pd.testing.assert_frame_equal(report.grid, co.quantity_quality_grid(frame, settings), check_dtype=False, rtol=1e-9)
    effect = co.band_effect_size(frame, settings, "PHQ-9")
    assert report.band_effect.too_few == effect.too_few and report.band_effect.sentence == effect.sentence
    for name in ("g", "ci_low", "ci_high", "n_a", "n_b", "mean_a", "mean_b", "sd_pooled"):
        assert getattr(report.band_effect.effect, name) == pytest.approx(getattr(effect.effect, name), rel=1e-9)
    assert report.band_effect.u3_empirical == pytest.approx(effect.u3_empirical)
    for compliance in co.COMPLIANCE_MEASURES:
        got, want = report.relations[compliance], co.compliance_change(frame, compliance, settings)
        assert got.n == want.n and got.too_few == want.too_few
        for name in ("r", "ci_low", "ci_high", "p_value", "n"):
            assert getattr(got.pearson, name) == pytest.approx(getattr(want.pearson, name), rel=1e-9, abs=1e-12)
            assert getattr(got.spearman, name) == pytest.approx(getattr(want.spearman, name), rel=1e-9, abs=1e-12)
        assert got.slope == pytest.approx(want.slope, rel=1e-9) and got.intercept == pytest.approx(want.intercept, rel=1e-9)
        # The points (and each client's band, compliance_band_of in SQL against compliance_band in Python).
        pd.testing.assert_frame_equal(got.points.sort_values("client_id", ignore_index=True),
                                      want.points.sort_values("client_id", ignore_index=True), check_dtype=False)
        adjusted, reference = report.adjusted[compliance], co.adjusted_relation(frame, compliance, settings)
        assert adjusted.n == reference.n and adjusted.too_few == reference.too_few
        for name in ("partial_r", "ci_low", "ci_high", "slope", "slope_ci_low", "slope_ci_high", "unadjusted_r", "r_weeks"):
            want_value = getattr(reference, name)
            assert getattr(adjusted, name) == (None if want_value is None else pytest.approx(want_value, rel=1e-7,
                                                                                             abs=1e-10)), name
    assert report.clients_with_quantity == int(frame["quantity"].notna().sum())
    assert report.clients_with_quality == int(frame["quality"].notna().sum())
    assert report.clients_below_min_reviewed == co.clients_below_min_reviewed(frame, settings)
    homework = client_homework(db, LOCAL, None, settings)
    assert report.reviewed_share == pytest.approx(homework["reviewed_share"].mean())


def test_a_large_cohort_reaches_python_bounded(tmp_path_factory, rows_read):
    """A generated clinic of a few thousand clients: no query of the cohort report or of clinical
    significance returns more rows than MAX_SCATTER_POINTS (the scatter becomes a 2-D histogram
    whose bins are bounded by the scale), though the cohort has more paired clients than that; the
    within-client model's, no more than MIXEDLM_MAX_CLIENTS. Neither bound grows with the clients."""
    from analytics.ingest.sample import build_sample_database

    path = tmp_path_factory.mktemp("large") / "clinic.duckdb"
    build_sample_database(path, clients=3000, seed=11)
    with ClinicDatabase(path) as db:
        report = co.cohort_report(db, LOCAL, None, "PHQ-9", Settings())
        co.clinical_significance(db, LOCAL, None, co.default_jt_norms(["PHQ-9", "GAD-7"]), Settings())
        co.within_client_analysis(db, LOCAL, None, "PHQ-9", Settings())
        largest = {name: max(rows) for name, rows in rows_read.items()}
        # The identified viewer's CSV (built on click): every client; the bins count exactly these.
        points = co.compliance_points(db, LOCAL, None, "PHQ-9", Settings(), max_points=None)
    relation = report.relations["quantity"]
    mine = points[points["compliance"] == "quantity"]
    expected = mine.groupby([np.minimum(np.floor(np.round(mine["value"] / co.COMPLIANCE_BIN_WIDTH, 9)), 9),
                             np.floor(np.round(mine["change"] / co.CHANGE_BIN_WIDTH, 9))]).size()
    got = relation.bins.set_index([np.round(relation.bins["x_low"] / co.COMPLIANCE_BIN_WIDTH),
                                   np.round(relation.bins["change_low"] / co.CHANGE_BIN_WIDTH)])["clients"]
    assert sorted(zip(got.index, got, strict=True)) == sorted(zip(expected.index, expected, strict=True))
    assert relation.n > co.MAX_SCATTER_POINTS and relation.points.empty and relation.bins is not None
    assert relation.bins["clients"].sum() == relation.n == len(mine)
    # The within-client model fits at most MIXEDLM_MAX_CLIENTS clients' interval moments (one row each).
    within = {"cohort_score_interval_moments", "cohort_score_intervals"}
    assert all(largest[name] <= co.MIXEDLM_MAX_CLIENTS for name in within & largest.keys()), largest
    assert max(v for name, v in largest.items() if name not in within) <= co.MAX_SCATTER_POINTS, largest
    # The bins are fixed by the scale: 10 compliance bins by the change range (-27 to 27) in 2-point bins.
    assert len(relation.bins) <= 10 * 28


def test_the_sudden_gain_summary_reaches_python_as_a_few_rows(sample_db, rows_read):
    """With the gains stored at import, no score of any client reaches Python: the summary is two
    rows (with a gain, without) and the homework two more. Under other settings the gains are found
    anew from the cohort's scores (the fallback), and the figures still come back summed."""
    from analytics.cohort_outcomes.sudden_gain_summary import sudden_gain_summary

    gains = sudden_gain_summary(sample_db, LOCAL, None, "PHQ-9", Settings())
    assert gains.clients_scored > 200 and gains.gains > 20
    assert set(rows_read) == {"cohort_sudden_gains", "cohort_gain_week_homework"}
    assert rows_read["cohort_sudden_gains"] == [2] and rows_read["cohort_gain_week_homework"] == [2]
    rows_read.clear()
    sudden_gain_summary(sample_db, LOCAL, None, "PHQ-9", Settings(baseline_days_before_intake=14))
    assert rows_read["cohort_gain_scores"][0] > 10 * gains.clients_scored  # found anew: every score
    assert rows_read["cohort_sudden_gains"] == [2] and rows_read["cohort_gain_week_homework"] == [2]


def test_the_within_client_model_reaches_python_as_one_row_per_client(sample_db, rows_read):
    """The model is fitted from each client's interval moments, summed in SQL: one row per client
    (at most MIXEDLM_MAX_CLIENTS), not one per interval; the same fit as from the interval rows."""
    within = co.within_client_analysis(sample_db, LOCAL, None, "PHQ-9", DEFAULTS)
    assert set(rows_read) == {"cohort_score_interval_moments"}
    assert rows_read["cohort_score_interval_moments"] == [within.clients_used]
    assert within.intervals_used > 5 * within.clients_used
    from_rows = co.within_client_analysis(sample_db, LOCAL, None, "PHQ-9", DEFAULTS, fit=within_between_model)
    assert (from_rows.clients_used, from_rows.intervals_used) == (within.clients_used, within.intervals_used)
    for ours, theirs in ((within.forward, from_rows.forward), (within.reverse, from_rows.reverse),
                         (within.forward_unadjusted, from_rows.forward_unadjusted),
                         (within.reverse_unadjusted, from_rows.reverse_unadjusted)):
        assert ours.n_observations == theirs.n_observations and ours.n_groups == theirs.n_groups
        assert ours.within_coef == pytest.approx(theirs.within_coef, rel=1e-6)
        assert ours.between_coef == pytest.approx(theirs.between_coef, rel=1e-6)
        assert ours.within_ci == pytest.approx(theirs.within_ci, rel=1e-6)


def test_the_interval_moments_in_sql_are_those_of_the_interval_rows(sample_db):
    from analytics.statistics import group_moments

    params = query_params(LOCAL, None, measure="GAD-7", max_gap_days=co.MAX_INTERVAL_DAYS, max_clients=3000,
                          baseline_days=0, unreviewed_as_not_done=True)
    sql = sample_db.query("cohort_score_interval_moments", params).set_index("client_id")
    rows = sample_db.query("cohort_score_intervals", params)
    python = group_moments(rows, group="client_id", columns=("change", "quantity", "score", "week")).set_index("group")
    assert len(sql) == rows["client_id"].nunique() and sorted(sql.index) == sorted(python.index)
    python = python.loc[sql.index]
    assert set(python.columns) <= set(sql.columns)  # n, mean_<v>, cross_<u>_<v>: the same names
    for column in python.columns:
        assert np.allclose(sql[column].astype(float), python[column].astype(float), rtol=1e-9, atol=1e-9), column


def test_the_summed_sections_do_not_depend_on_row_order(sample_db_path, tmp_path):
    """The figures summed in SQL (sudden gains, the within-client moments, the trajectories) take
    their rows in a fixed order, so the same clinic stored in another physical order gives the
    same digits (the trajectories' means and SDs did not: they differed in the 15th digit)."""

    from analytics.cohort_outcomes.sudden_gain_summary import sudden_gain_summary

    shuffled = tmp_path / "shuffled.duckdb"
    shutil.copy(sample_db_path, shuffled)
    _store_shuffled(shuffled, 0.5, ("clients", "assignments", "scores"))
    with ClinicDatabase(sample_db_path) as original, ClinicDatabase(shuffled) as reordered:
        for settings_ in (DEFAULTS, Settings(baseline_days_before_intake=14)):  # stored gains, and found anew
            a = sudden_gain_summary(original, LOCAL, None, "PHQ-9", settings_)
            b = sudden_gain_summary(reordered, LOCAL, None, "PHQ-9", settings_)
            assert (a.magnitude_mean, a.magnitude_sd) == (b.magnitude_mean, b.magnitude_sd)
            pd.testing.assert_frame_equal(a.outcomes, b.outcomes, check_exact=True)
            pd.testing.assert_frame_equal(a.homework, b.homework, check_exact=True)
        pd.testing.assert_frame_equal(
            co.within_client_analysis(original, LOCAL, None, "GAD-7", DEFAULTS).coefficients,
            co.within_client_analysis(reordered, LOCAL, None, "GAD-7", DEFAULTS).coefficients, check_exact=True)
        pd.testing.assert_frame_equal(co.cohort_report(original, LOCAL, None, "PHQ-9", DEFAULTS).trajectories,
                                      co.cohort_report(reordered, LOCAL, None, "PHQ-9", DEFAULTS).trajectories,
                                      check_exact=True)
