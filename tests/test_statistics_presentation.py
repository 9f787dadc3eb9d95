"""Statistics a supervisor would misread (issue 11, items 10, 11, 12, 14, 15, 16).

A small hand-built clinic imported through the real importer; every expected figure is worked
out by hand in the test (the arithmetic is in the comments).
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analytics import ClinicDatabase, CohortFilter, Settings, Viewer, import_files
from analytics.client_review.model import client_review
from analytics.cohort_outcomes import model as co
from analytics.quality_improvement import model as qu
from analytics.statistics import funnel_limits, jacobson_truax, within_between_model
from tests.mixedlm_reference import within_between_mixedlm

LOCAL = Viewer.local()
TODAY = date(2026, 11, 27)
AS_OF = date(2025, 12, 31)
SETTINGS = Settings(min_clients_for_statistic=2)
INTAKE = date(2025, 1, 6)

# Outcome clients H1-H8 (PHQ-9 at intake and at discharge, `weeks` later; three reviewed exposure
# assignments each, all with the same quantity rating): (rating 0-4, first score, weeks, change).
H_CLIENTS = {
    "H1": (4, 16, 8, -10),
    "H2": (4, 14, 10, -9),
    "H3": (4, 18, 12, -12),
    "H4": (3, 15, 8, -6),
    "H5": (3, 17, 10, -8),
    "H6": (1, 16, 6, -3),
    "H7": (1, 12, 8, -4),
    "H8": (1, 20, 6, -11),
}
# Association clients A1, A2: PHQ-9 every 14 days (days 0, 14, ..., 84) and one thought record a
# week (weeks 0-11) with these quantity ratings; weeks 2j and 2j+1 fall between the same two scores.
A_CLIENTS = {
    "A1": ([20, 16, 13, 11, 10, 10, 8], [4, 4, 3, 3, 2, 2, 1, 1, 0, 0, 4, 2]),
    "A2": ([15, 14, 15, 13, 12, 12, 11], [4, 0, 2, 2, 4, 4, 0, 0, 3, 3, 1, 1]),
}
# Interval clients W1-W5 for the within-client model: weekly PHQ-9 (5 scores, 4 intervals) and one
# assignment a week (weeks 0-3) with these ratings.
W_CLIENTS = {
    "W1": ([18, 15, 14, 10, 9], [4, 2, 4, 1]),
    "W2": ([12, 12, 10, 10, 7], [1, 2, 3, 4]),
    "W3": ([20, 19, 15, 14, 14], [3, 1, 4, 0]),
    "W4": ([9, 10, 8, 8, 6], [0, 1, 2, 2]),
    "W5": ([16, 12, 12, 9, 10], [4, 3, 4, 2]),
}


def _day(offset: int) -> str:
    return (INTAKE + timedelta(days=offset)).isoformat()


def _clinic_csv() -> dict[str, str]:
    clients = ["client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date"]
    assignments = [
        "assignment_id,client_id,assigned_date,homework_type,goal_linked,rationale_given,rehearsed_in_session,"
        "practice_scheduled,obstacles_planned,involves_others,planned_practices,completed_practices,quantity_rating,"
        "quality_rating,rated_by,reviewed_date,description"
    ]
    scores = ["client_id,measure,administered_date,total_score"]
    sessions = ["client_id,session_date,attended,session_number"]
    for cid, (rating, first, weeks, change) in H_CLIENTS.items():
        end = 7 * weeks
        clients.append(f"{cid},North,T1,Depression CBT,depression,{_day(0)},{_day(end)}")
        sessions.append(f"{cid},{_day(0)},true,1")
        for k in range(3):
            assignments.append(f"{cid}-{k},{cid},{_day(7 * k)},exposure,,,,,,,,,{rating},,therapist,{_day(7 * k + 7)},")
        scores += [f"{cid},PHQ-9,{_day(0)},{first}", f"{cid},PHQ-9,{_day(end)},{first + change}"]
    for group, step in ((A_CLIENTS, 14), (W_CLIENTS, 7)):
        for cid, (phq, ratings) in group.items():
            clients.append(f"{cid},South,T2,Depression CBT,depression,{_day(0)},")
            sessions.append(f"{cid},{_day(0)},true,1")
            for k, rating in enumerate(ratings):
                assignments.append(
                    f"{cid}-{k},{cid},{_day(7 * k)},thought_record,,,,,,,,,{rating},,therapist,{_day(7 * k + 7)},"
                )
            scores += [f"{cid},PHQ-9,{_day(step * j)},{s}" for j, s in enumerate(phq)]
    return {
        "clients.csv": "\n".join(clients) + "\n",
        "sessions.csv": "\n".join(sessions) + "\n",
        "assignments.csv": "\n".join(assignments) + "\n",
        "scores.csv": "\n".join(scores) + "\n",
    }


@pytest.fixture(scope="module")
def clinic_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory: Path = tmp_path_factory.mktemp("presentation")
    files = []
    for name, text in _clinic_csv().items():
        (directory / name).write_text(text, encoding="utf-8")
        files.append(directory / name)
    result = import_files(directory / "clinic.duckdb", files, today=TODAY)
    assert result.exit_code == 0, result.report()
    return directory / "clinic.duckdb"


@pytest.fixture(scope="module")
def clinic(clinic_path: Path):
    with ClinicDatabase(clinic_path) as db:
        yield db


def _run(page: str, **params: str):
    from streamlit.testing.v1 import AppTest

    from tests.support.clinics import ROOT

    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=90)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(at) -> str:
    return " ".join(e.value for e in (*at.caption, *at.markdown, *at.subheader, *at.info))


def _h_cohort():
    return CohortFilter(clinics=("North",))


# ----------------------------------------------------------------------------- item 10: adjusted r


def test_item10_whole_cohort_r_beside_yardsticks_and_adjusted_partial_r(clinic):
    report = co.cohort_report(clinic, LOCAL, _h_cohort(), "PHQ-9", SETTINGS)
    # The eight paired clients, written out from H_CLIENTS: quantity = rating / 4, change, first score,
    # weeks between the first and last score.
    q = np.array([1, 1, 1, 0.75, 0.75, 0.25, 0.25, 0.25])
    y = np.array([-10, -9, -12, -6, -8, -3, -4, -11.0])
    f = np.array([16, 14, 18, 15, 17, 16, 12, 20.0])
    w = np.array([8, 10, 12, 8, 10, 6, 8, 6.0])

    def r(a, b):
        return stats.pearsonr(a, b).statistic

    # Partial r with two covariates by the recursive formula (not by residuals, as the code does):
    # r_ab.f = (r_ab - r_af r_bf) / sqrt((1 - r_af^2)(1 - r_bf^2)), then the same with w on the
    # first-order partials: r_qy.fw = (r_qy.f - r_qw.f r_yw.f) / sqrt((1 - r_qw.f^2)(1 - r_yw.f^2)).
    def first_order(a, b, c):
        return (r(a, b) - r(a, c) * r(b, c)) / math.sqrt((1 - r(a, c) ** 2) * (1 - r(b, c) ** 2))

    qy_f, qw_f, yw_f = first_order(q, y, f), first_order(q, w, f), first_order(y, w, f)
    expected = (qy_f - qw_f * yw_f) / math.sqrt((1 - qw_f**2) * (1 - yw_f**2))
    adj = report.adjusted["quantity"]
    assert adj.n == 8 and not adj.too_few
    assert adj.partial_r == pytest.approx(expected, abs=1e-9)
    assert adj.partial_r == pytest.approx(-0.5087, abs=5e-4)  # vs the unadjusted r = -0.5778
    assert adj.unadjusted_r == pytest.approx(r(q, y)) == pytest.approx(-0.5778, abs=5e-4)
    assert adj.r_weeks == pytest.approx(r(q, w))  # 0.76: compliance tracks time in treatment
    # Fisher z with SE = 1 / sqrt(n - 3 - 2) = 1 / sqrt(3).
    z = math.atanh(expected)
    assert adj.ci_low == pytest.approx(math.tanh(z - 1.959964 / math.sqrt(3)), abs=1e-6)
    assert adj.ci_high == pytest.approx(math.tanh(z + 1.959964 / math.sqrt(3)), abs=1e-6)
    # Regression slope of change on quantity with first score and weeks (normal equations via statsmodels).
    import statsmodels.api as sm

    ols = sm.OLS(y, sm.add_constant(np.column_stack([q, f, w]))).fit()
    assert adj.slope == pytest.approx(ols.params[1]) and adj.slope_ci_low == pytest.approx(ols.conf_int()[1][0])

    table = report.comparison
    cohort_rows = table[table["source"] == "This cohort"]
    # The yardsticks sit beside whole-cohort r (unadjusted and adjusted), not the extreme-groups g.
    assert list(cohort_rows["label"]) == [
        "This cohort: quantity", "This cohort: quantity, adjusted", "This cohort: quality", "This cohort: quality, adjusted",
    ]
    assert not table["label"].str.contains("band|g as r\\)$", regex=True).iloc[: len(cohort_rows)].any()
    assert table.loc[1, "r"] == pytest.approx(expected, abs=1e-9) and table.loc[1, "n"] == 8
    assert "Mausbach 2010: compliance" in set(table["label"])
    assert report.band_effect.sentence.startswith("Extreme groups (>= 80% against < 50%; the middle band left out)")


# ----------------------------------------------------------------------------- item 16: U3 and cut-offs


def test_item16_empirical_u3_beside_normal_theory_u3(clinic):
    effect = co.cohort_report(clinic, LOCAL, _h_cohort(), "PHQ-9", SETTINGS).band_effect
    # High band (quantity 100%): H1-H3 changes -10, -9, -12: mean -31/3 = -10.33, SS = 0.11 + 1.78 + 2.78 = 4.67.
    # Low band (25%): H6-H8 changes -3, -4, -11: mean -6, SS = 9 + 4 + 25 = 38.
    # Pooled SD = sqrt((4.667 + 38) / 4) = 3.266; d = -4.333 / 3.266 = -1.3268; J = 1 - 3 / (4*6 - 9) = 0.8;
    # g = -1.0614; normal-theory U3 = Phi(1.0614) = 0.856.
    assert effect.effect.g == pytest.approx(0.8 * (-13 / 3) / math.sqrt(128 / 12), abs=1e-9)
    assert effect.u3 == pytest.approx(stats.norm.cdf(-effect.effect.g)) == pytest.approx(0.8558, abs=5e-4)
    # Counted: low-band changes above (worse than) -10.33: -3 and -4, not -11 -> 2 of 3.
    assert effect.u3_empirical == pytest.approx(2 / 3)
    assert "67% of clients in the < 50% band (counted; 86% by Cohen's U3" in effect.sentence


def test_item16_jacobson_truax_cutoffs_a_and_b_beside_c():
    pre, post = [20, 16, 12, 24], [9, 15, 11, 14]
    # M_dys = 18, SD_dys = sqrt((4 + 4 + 36 + 36) / 3) = sqrt(80/3) = 5.1640; functional M = 5, SD = 4.
    # a = 18 - 2 * 5.1640 = 7.672; b = 5 + 2 * 4 = 13; c = (5.1640 * 5 + 4 * 18) / (5.1640 + 4) = 10.674.
    sd = math.sqrt(80 / 3)
    kwargs = dict(reliability=0.8, functional_mean=5.0, functional_sd=4.0)
    by_cut = {cut: jacobson_truax(pre, post, cutoff=cut, **kwargs) for cut in "abc"}
    for out in by_cut.values():
        assert out.attrs["cutoff_a"] == pytest.approx(18 - 2 * sd)
        assert out.attrs["cutoff_b"] == pytest.approx(13.0)
        assert out.attrs["cutoff_c"] == pytest.approx((sd * 5 + 4 * 18) / (sd + 4))
    assert [by_cut[c].attrs["cutoff_value"] for c in "abc"] == pytest.approx([18 - 2 * sd, 13.0, 10.674], abs=1e-3)
    # Reliable change: S_diff = sqrt(2) * 5.164 * sqrt(0.2) = 3.266, 1.96 S_diff = 6.40 points. Client 1: 20 -> 9
    # (-11, reliable): 9 < b = 13 and < c = 10.67 -> recovered; 9 > a = 7.67 -> improved only. Client 4: 24 -> 14
    # (-10, reliable): 14 is above every cut-off -> improved. Clients 2 and 3 change by 1 point -> unchanged.
    assert list(by_cut["b"]["category"]) == ["recovered", "unchanged", "unchanged", "improved"]
    assert list(by_cut["c"]["category"]) == ["recovered", "unchanged", "unchanged", "improved"]
    assert list(by_cut["a"]["category"]) == ["improved", "unchanged", "unchanged", "improved"]
    # Cut-off a needs no functional norms; b does.
    no_norms = jacobson_truax(pre, post, reliability=0.8, cutoff="a")
    assert no_norms.attrs["cutoff_value"] == pytest.approx(18 - 2 * sd) and no_norms.attrs["cutoff_b"] is None
    with pytest.raises(ValueError, match="cut-off b needs functional_mean"):
        jacobson_truax(pre, post, reliability=0.8, cutoff="b")
    # Higher is better mirrors a and b: a = 18 + 2 SD, b = 5 - 2 * 4.
    mirrored = jacobson_truax(pre, post, lower_is_better=False, cutoff="b", **kwargs)
    assert mirrored.attrs["cutoff_a"] == pytest.approx(18 + 2 * sd) and mirrored.attrs["cutoff_b"] == pytest.approx(-3.0)


def test_item16_clinical_significance_offers_each_cutoff(clinic):
    # H1-H8 first scores 16, 14, 18, 15, 17, 16, 12, 20: mean 128 / 8 = 16; squared deviations 0 + 4 + 4 + 1 + 1
    # + 0 + 16 + 16 = 42, SD = sqrt(42 / 7) = sqrt(6) = 2.449 -> a = 16 - 2 * 2.449 = 11.101.
    norms = (co.JTNorms("PHQ-9", 0.84, None, None, "a"),)
    result = co.clinical_significance(clinic, LOCAL, _h_cohort(), norms, SETTINGS)
    params = result.parameters.iloc[0]
    assert params["cutoff"] == "a" and params["cutoff_a"] == pytest.approx(16 - 2 * math.sqrt(6))
    assert math.isnan(params["cutoff_b"]) and math.isnan(params["cutoff_c"])
    assert set(result.categories["category"]) == set(co.JT_ORDER)  # recovered / harmed possible with cut-off a
    # Reliable change: S_diff = sqrt(6) * sqrt(2 * 0.16) = 1.386, 1.96 S_diff = 2.72 points: every H client's drop
    # (3 to 12 points) is reliable. Last scores 6, 5, 6, 9, 9, 13, 8, 9: below 11.101 except H6 (13) -> 7 recovered.
    counts = result.categories.set_index("category")["clients"]
    assert (counts["recovered"], counts["improved"]) == (7, 1)


# ----------------------------------------------------------------------------- item 12: client association


def _association(clinic, client_id):
    review = client_review(clinic, LOCAL, client_id, AS_OF)
    return next(a for a in review.associations if a.measure == "PHQ-9")


def test_item12_association_counts_score_intervals_and_says_no_clear_association(clinic):
    # A2: scores 15, 14, 15, 13, 12, 12, 11 every 14 days; weeks 2j and 2j+1 share interval j.
    # Interval quantity = mean of its two weeks: (4,0) .5, (2,2) .5, (4,4) 1, (0,0) 0, (3,3) .75, (1,1) .25;
    # change: -1, +1, -2, -1, 0, -1. n = 6 intervals (12 weeks).
    a2 = _association(clinic, "A2")
    xs, ys = [0.5, 0.5, 1.0, 0.0, 0.75, 0.25], [-1, 1, -2, -1, 0, -1]
    expected = stats.pearsonr(xs, ys).statistic  # -0.137
    z, se = math.atanh(expected), 1 / math.sqrt(6 - 3)
    assert (a2.n, a2.weeks) == (6, 12) and a2.shown and not a2.clear
    assert a2.r == pytest.approx(expected)
    assert a2.ci_low == pytest.approx(math.tanh(z - 1.959964 * se)) and a2.ci_high == pytest.approx(math.tanh(z + 1.959964 * se))
    assert a2.ci_low < 0 < a2.ci_high
    assert a2.message.startswith("No clear association")
    assert "95% CI -0.85 to 0.76" in a2.message and "n = 6 score intervals from 12 weeks" in a2.message
    assert "followed by" not in a2.message and "larger drops" not in a2.message


def test_item12_association_states_a_direction_only_when_the_interval_excludes_zero(clinic):
    # A1: scores 20, 16, 13, 11, 10, 10, 8; intervals (4,4) 1, (3,3) .75, (2,2) .5, (1,1) .25, (0,0) 0, (4,2) .75;
    # changes -4, -3, -2, -1, 0, -2: r = -0.961, Fisher-z 95% CI -0.996 to -0.677 (excludes 0).
    a1 = _association(clinic, "A1")
    expected = stats.pearsonr([1, 0.75, 0.5, 0.25, 0, 0.75], [-4, -3, -2, -1, 0, -2]).statistic
    assert a1.r == pytest.approx(expected) == pytest.approx(-0.9608, abs=5e-4)
    assert a1.n == 6 and a1.clear and a1.ci_high < 0
    assert "intervals with larger drops in PHQ-9" in a1.message and "followed by" not in a1.message


# ----------------------------------------------------------------------------- item 11: within-client model


def _hand_intervals() -> pd.DataFrame:
    """The model's rows written out from A_CLIENTS and W_CLIENTS: one per interval between two scores."""
    rows = []
    for cid, (phq, ratings) in A_CLIENTS.items():
        for j in range(6):  # interval j: days 14j to 14j + 14, weeks 2j and 2j + 1 (assignments set in it)
            quantity = (ratings[2 * j] + ratings[2 * j + 1]) / 8
            rows.append((cid, phq[j], phq[j + 1] - phq[j], quantity, 2 * j))
    for cid, (phq, ratings) in W_CLIENTS.items():
        for j in range(4):  # interval j: week j, one assignment
            rows.append((cid, phq[j], phq[j + 1] - phq[j], ratings[j] / 4, j))
    frame = pd.DataFrame(rows, columns=["client_id", "score", "change", "quantity", "week"]).astype(
        {"score": float, "change": float, "week": float}
    )
    mean_score = frame.groupby("client_id")["score"].transform("mean")
    return frame.assign(score_within=frame["score"] - mean_score, score_between=mean_score)


def test_item11_within_model_is_labelled_same_interval_and_adjusted(clinic):
    south = CohortFilter(clinics=("South",))
    within = co.within_client_analysis(clinic, LOCAL, south, "PHQ-9", SETTINGS)
    hand = _hand_intervals()
    assert within.intervals_used == len(hand) == 32 and within.clients_used == 7
    adjusted = within_between_model(hand, outcome="change", predictor="quantity", group="client_id",
                                      covariates=("score_within", "score_between", "week"))
    raw = within_between_model(hand, outcome="change", predictor="quantity", group="client_id")
    reverse = within_between_model(hand, outcome="quantity", predictor="score", group="client_id", covariates=("week",))
    assert within.forward.within_coef == pytest.approx(adjusted.within_coef, abs=1e-9)
    assert within.forward_unadjusted.within_coef == pytest.approx(raw.within_coef, abs=1e-9)
    assert within.reverse.within_coef == pytest.approx(reverse.within_coef, abs=1e-9)
    assert within.forward.within_coef != pytest.approx(raw.within_coef, abs=1e-3)  # the adjustment changes it
    models = list(dict.fromkeys(within.coefficients["model"]))
    assert models == [
        "Homework and PHQ-9 change in the same interval, adjusted for the starting score and week since intake",
        "PHQ-9 score and the homework of the interval it starts, adjusted for week since intake",
        "Homework and PHQ-9 change in the same interval, unadjusted",
        "PHQ-9 score and the homework of the interval it starts, unadjusted (time in treatment confounds it)",
    ]
    assert not within.coefficients["model"].str.contains("→|next", regex=True).any()
    first = within.coefficients.iloc[0]
    assert first["estimate"] == pytest.approx(adjusted.within_coef / 10)


def test_item11_covariate_adjusted_reml_matches_statsmodels():
    # A fixed design where statsmodels converges (clear random intercept): the covariate-adjusted
    # profiled REML must give statsmodels MixedLM's estimates.
    rng = np.random.default_rng(20261204)
    groups = np.repeat(np.arange(30), 6)
    u = rng.normal(0, 2.0, 30)[groups]
    x = rng.uniform(0, 1, groups.size)
    week = np.tile(np.arange(6), 30).astype(float)
    start = rng.normal(15, 4, groups.size)
    y = -2.0 * x - 0.3 * start + 0.5 * week + u + rng.normal(0, 1.0, groups.size)
    df = pd.DataFrame({"y": y, "x": x, "g": groups, "start": start, "week": week})
    ours = within_between_model(df, outcome="y", predictor="x", group="g", covariates=("start", "week"))
    check = within_between_mixedlm(df, outcome="y", predictor="x", group="g", covariates=("start", "week"))
    assert check.converged
    assert ours.within_coef == pytest.approx(check.within_coef, abs=1e-4)
    assert ours.between_coef == pytest.approx(check.between_coef, abs=1e-4)
    assert ours.within_ci[0] == pytest.approx(check.within_ci[0], abs=1e-3)


# ----------------------------------------------------------------------------- item 14: funnels


def test_item14_exact_binomial_limits_at_small_n():
    limits = funnel_limits(0.5, [5, 25], method="exact")
    # n = 5, p = 0.5: P(R <= 0) = 1/32 = 0.031 >= 0.025 -> lower 95% limit 0/5 = 0; P(R <= 4) = 31/32 = 0.969
    # < 0.975 -> upper 5/5 = 1 (the normal approximation gives 0.5 -/+ 1.96 * 0.2236 = 0.062 to 0.938, which
    # would mark 5 of 5, probability 1/32, as outside the 95% limit).
    assert (limits.loc[0, "lower_95"], limits.loc[0, "upper_95"]) == (0.0, 1.0)
    # n = 25: P(R <= 7) = 0.0216, P(R <= 8) = 0.0539 -> 8/25 = 0.32; upper 17/25 = 0.68.
    assert (limits.loc[1, "lower_95"], limits.loc[1, "upper_95"]) == pytest.approx((0.32, 0.68))
    normal = funnel_limits(0.5, [5], method="normal")
    assert normal.loc[0, "upper_95"] == pytest.approx(0.5 + 1.959964 * math.sqrt(0.25 / 5), abs=1e-6)
    units = pd.DataFrame({"unit": ["S"], "n": [5], "numerator": [5], "value": [1.0]})
    assert qu.funnel_frame(units, "rate", centre=0.5, min_n=5)["status"].iloc[0] == qu.STATUS_WITHIN


def test_item14_flags_only_outside_99_8_and_counts_chance_flags():
    # Centre 0.5, n = 25: 95% limits 0.32-0.68, 99.8% limits 5/25 = 0.20 to 20/25 = 0.80 (see above).
    units = pd.DataFrame({
        "unit": ["T-A", "T-B", "T-C", "T-D", "T-E"],
        "n": [25, 25, 25, 25, 3],
        "numerator": [21, 18, 12, 4, 3],
        "value": [0.84, 0.72, 0.48, 0.16, 1.0],
    })
    panel = qu._funnel_panel("therapist", "recovery", units, {"n": 103, "numerator": 58, "value": 0.5}, None, 5)
    status = list(panel.table.numeric["status"].iloc[:-1])
    # 0.84 > 0.80 flag; 0.72 in (0.68, 0.80] warning; 0.48 within; 0.16 < 0.20 flag; n = 3 too few (not tested).
    assert status == [qu.STATUS_HIGH_998, qu.STATUS_HIGH_95, qu.STATUS_WITHIN, qu.STATUS_LOW_998, qu.STATUS_TOO_FEW]
    summary = qu.flag_summary([panel])
    # 4 units tested; expected false flags = 4 x 0.002 = 0.008; warnings by chance 4 x 0.048 = 0.192.
    assert summary == {"tests": 4, "flags": 2, "warnings": 1, "expected_false_flags": pytest.approx(0.008),
                       "expected_false_warnings": pytest.approx(0.192)}
    table = qu._flag_table([panel], None)
    assert list(table.numeric["unit"]) == ["T-A", "T-D"]  # the warning (T-B) is not a flag
    assert "chance alone would flag about 0.0 (4 x 0.002)" in table.note
    assert "Flagged: 2 outside the 99.8% limits" in table.note
    # The funnel shows the 95% limits as a warning line and the 99.8% limits as the flag line.
    from analytics.quality_improvement.charts import funnel_figure

    fig = funnel_figure(panel)
    traces = {trace.name: trace for trace in fig.data}
    assert {"95% limits (warning)", "99.8% limits (flag)", "Within limits (as expected)",
            "Better than the network: outside 95% limits", "Better than the network: outside 99.8% limits (flag)",
            "Worse than the network: outside 99.8% limits (flag)"} <= set(traces)
    # Issue 15 item 6: coloured by direction (T-A and T-B above the limits are better, T-D below is worse),
    # pseudonyms labelled only outside the limits, and the flags chance alone would give, from flag_summary.
    from analytics import theme

    assert traces["Better than the network: outside 99.8% limits (flag)"].marker.color == theme.BETTER
    assert traces["Better than the network: outside 95% limits"].marker.color == theme.BETTER
    assert list(traces["Worse than the network: outside 99.8% limits (flag)"].text) == ["T-D"]
    assert traces["Worse than the network: outside 99.8% limits (flag)"].marker.color == theme.WORSE
    assert traces["Within limits (as expected)"].text is None
    caption = next(a.text for a in fig.layout.annotations if "chance alone" in a.text)
    assert "4 therapists compared: 2 beyond the 99.8% limits, 1 between" in caption
    assert "about 0.01 and 0.2" in caption


# ----------------------------------------------------------------------------- item 15: clustered intervals


def test_item15_assignment_design_intervals_are_cluster_robust(clinic):
    design = co.assignment_design(clinic, LOCAL, _h_cohort(), SETTINGS)
    row = design.types.set_index("homework_type").loc["exposure"]
    # 24 exposure assignments, 3 per client; client quantities 1 (x3), 0.75 (x2), 0.25 (x3):
    # m = (3 + 1.5 + 0.75) / 8 = 0.65625. Per client S_i - m n_i = 3 (q_i - m): deviations 0.34375, 0.09375,
    # -0.40625; sum of squares 9 * (3 * 0.1181641 + 2 * 0.0087891 + 3 * 0.1650391) = 9 * 0.8671875 = 7.8046875.
    # CR1: SE = sqrt(8/7 * 7.8046875) / 24 = 0.124441; t(7) = 2.364624 -> half-width 0.294256.
    se = math.sqrt(8 / 7 * 7.8046875) / 24
    half = stats.t.ppf(0.975, 7) * se
    assert row["mean_quantity"] == pytest.approx(0.65625)
    assert row["quantity_ci_low"] == pytest.approx(0.65625 - half) == pytest.approx(0.361994, abs=1e-6)
    assert row["quantity_ci_high"] == pytest.approx(0.65625 + half)
    # statsmodels' cluster-robust OLS of the 24 values on a constant agrees.
    import statsmodels.api as sm

    values = np.repeat([1, 1, 1, 0.75, 0.75, 0.25, 0.25, 0.25], 3)
    fit = sm.OLS(values, np.ones(24)).fit(cov_type="cluster", cov_kwds={"groups": np.repeat(np.arange(8), 3)}, use_t=True)
    assert (row["quantity_ci_low"], row["quantity_ci_high"]) == pytest.approx(tuple(fit.conf_int()[0]), abs=1e-9)
    # Treating assignments as independent: SD = sqrt(2.6015625 / 23) = 0.33632, SE = 0.068651, t(23) = 2.0687 ->
    # half-width 0.14202: the clustered interval is 2.07 times wider.
    naive = stats.t.ppf(0.975, 23) * math.sqrt(2.6015625 / 23) / math.sqrt(24)
    assert half / naive == pytest.approx(2.072, abs=1e-3)


# ----------------------------------------------------------------------------- the pages (labels)


def test_pages_label_the_statistics_as_the_definitions_say(clinic, clinic_path, serve_database):
    serve_database(clinic_path)
    # Compliance and change (North: the H clients): the adjusted r beside the whole-cohort r.
    at = _run("cohort_outcomes.py", clinic="North", section="Compliance and change")
    adj = co.cohort_report(clinic, LOCAL, _h_cohort(), "PHQ-9", Settings()).adjusted["quantity"]
    shown = {m.label: m.value for m in at.metric}
    assert shown["Adjusted r"] == f"{adj.partial_r:.2f}" == "-0.51"
    assert "holding the first score (baseline severity) and the weeks" in _text(at)
    # Outcomes by band: the g is an extreme-groups comparison.
    at = _run("cohort_outcomes.py", clinic="North", section="Outcomes by band")
    assert "Extreme-groups effect size: >= 80% against < 50% band" in _text(at)
    # Within-client (South: A and W clients): same interval, adjusted; no "before".
    at = _run("cohort_outcomes.py", clinic="South", section="Within-client")
    text = _text(at)
    assert "Association in the same interval" in text and "adjusted for the starting score and week since intake" in text
    assert "come before a larger drop" not in text
    # Client review: A2's association says there is no clear association and never "followed by".
    at = _run("client_review.py", client="A2")
    text = _text(at)
    assert "No clear association between how much of the homework was done and the change in PHQ-9" in text
    assert "followed by" not in text


def test_item10_adjusted_relation_is_withheld_when_the_covariates_are_collinear():
    # Six paired clients whose quantity is exactly (first score - 10) / 10: once the first score is held
    # constant nothing of quantity is left (its residuals are rounding noise), so no adjusted r is shown
    # rather than a correlation of noise.
    first = [12.0, 15, 14, 18, 16, 20]
    frame = pd.DataFrame({
        "client_id": [f"K{i}" for i in range(6)],
        "paired": [True] * 6,
        "quantity": [(f - 10) / 10 for f in first],
        "quality": [0.5] * 6,
        "change": [-1.0, -3, -2, -5, -4, -7],
        "first_score": first,
        "first_date": pd.to_datetime(["2025-01-06"] * 6),
        "last_date": pd.to_datetime(["2025-03-03", "2025-03-10", "2025-02-24", "2025-03-17", "2025-03-03",
                                     "2025-03-31"]),
    })
    adj = co.adjusted_relation(frame, "quantity", SETTINGS)
    assert adj.n == 6 and adj.too_few and adj.partial_r is None
