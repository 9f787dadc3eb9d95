"""Tests for analytics.statistics.

Hand calculations are written out in comments next to the expected numbers; the
Jacobson-Truax implementation is checked against an external reference (the R package
``clinicalsignificance`` results for the Claus et al. 2020 HAMD data).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.meta_analysis import effectsize_smd
from statsmodels.stats.proportion import proportion_confint

from analytics.statistics import (
    JT_CATEGORIES,
    Z_95,
    Z_998,
    cohens_u3,
    d_to_r,
    funnel_column_names,
    funnel_limits,
    funnel_limits_mean,
    hedges_g,
    jacobson_truax,
    mean_ci,
    pearson,
    r_to_d,
    spearman,
    wilson_interval,
    within_between_model,
)
from tests.mixedlm_reference import within_between_mixedlm

# Published reference data kept inside the project, with its source and licence (tests/data/README.md).
REFERENCE_DIR = Path(__file__).resolve().parent / "data"
CLAUS_CSV = REFERENCE_DIR / "claus2020_hamd.csv"


# --------------------------------------------------------------------------- constants


def test_critical_values():
    assert Z_95 == pytest.approx(1.959964, abs=1e-6)
    assert Z_998 == pytest.approx(3.090232, abs=1e-6)


# --------------------------------------------------------------------------- correlation

# x = 1..5, y = 2,1,4,3,5. Means 3 and 3; deviations dx = -2,-1,0,1,2, dy = -1,-2,1,0,2.
# Sxy = 2 + 2 + 0 + 0 + 4 = 8, Sxx = 10, Syy = 1 + 4 + 1 + 0 + 4 = 10 -> r = 8/10 = 0.8.
# t = 0.8 * sqrt(3) / sqrt(1 - 0.64) = 2.3094011, df = 3 -> two-sided p = 0.1040880.
X5 = [1, 2, 3, 4, 5]
Y5 = [2, 1, 4, 3, 5]


def test_pearson_hand_example():
    c = pearson(X5, Y5)
    assert c.method == "pearson"
    assert c.n == 5
    assert not c.too_few
    assert c.r == pytest.approx(0.8)
    assert c.p_value == pytest.approx(0.1040880, abs=1e-6)
    # z = atanh(0.8) = 1.0986123, se = 1/sqrt(5-3) = 0.7071068,
    # z -/+ 1.959964 * 0.7071068 = -0.2872915, 2.4845161 -> tanh = -0.2796400, 0.9861962
    assert c.ci_low == pytest.approx(-0.2796400, abs=1e-6)
    assert c.ci_high == pytest.approx(0.9861962, abs=1e-6)


def test_spearman_hand_example():
    # Both variables are already ranks, so rho = Pearson r of the ranks = 0.8.
    c = spearman(X5, Y5)
    assert c.method == "spearman"
    assert c.r == pytest.approx(0.8)
    # Fieller: se = sqrt(1.06 / 2) = 0.7280110; 1.0986123 -/+ 1.959964 * 0.7280110
    # = -0.3282630, 2.5254876 -> tanh = -0.3169592, 0.9872753
    assert c.ci_low == pytest.approx(-0.3169592, abs=1e-6)
    assert c.ci_high == pytest.approx(0.9872753, abs=1e-6)
    assert c.p_value == pytest.approx(stats.spearmanr(X5, Y5).pvalue)


def test_correlations_match_scipy_on_random_data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=60)
    y = 0.4 * x + rng.normal(size=60)
    p = pearson(x, y)
    ref = stats.pearsonr(x, y)
    assert p.r == pytest.approx(ref.statistic)
    assert p.p_value == pytest.approx(ref.pvalue)
    # scipy's own Fisher-z interval for Pearson uses the same formula
    ref_ci = ref.confidence_interval(0.95)
    assert (p.ci_low, p.ci_high) == pytest.approx((ref_ci.low, ref_ci.high))
    s = spearman(x, y)
    ref_s = stats.spearmanr(x, y)
    assert s.r == pytest.approx(ref_s.statistic)
    assert s.p_value == pytest.approx(ref_s.pvalue)
    # Spearman interval is wider than Pearson's at the same r and n (1.06 inflation)
    z = math.atanh(s.r)
    assert s.ci_high == pytest.approx(math.tanh(z + Z_95 * math.sqrt(1.06 / 57)))


def test_correlation_drops_missing_pairs():
    c = pearson([1, 2, None, 3, 4, 5, np.nan], [2, 1, 9, 4, 3, 5, 1])
    assert c.n == 5
    assert c.r == pytest.approx(0.8)
    c2 = pearson(pd.Series([1.0, 2, 3, 4, 5, 6]), pd.Series([2, 1, 4, 3, 5, pd.NA], dtype="Float64"))
    assert c2.n == 5
    assert c2.r == pytest.approx(0.8)


def test_correlation_small_n_and_zero_variance():
    c = pearson([1, 2], [3, 4])
    assert c.r is None and c.too_few and c.n == 2 and c.ci_low is None and c.p_value is None
    assert "too few" in (c.message or "")
    c3 = pearson([1, 2, 4], [1, 3, 2])  # n = 3: r but no CI (se needs n - 3 > 0)
    assert c3.r is not None and not c3.too_few and c3.ci_low is None and c3.ci_high is None
    cz = pearson([1, 2, 3, 4], [5, 5, 5, 5])
    assert cz.r is None and not cz.too_few and "variance" in (cz.message or "")
    assert spearman([1, 1, 1, 1], [1, 2, 3, 4]).r is None
    assert pearson([1, 2, 3, 4], [1, 2, 3, 4], min_n=5).too_few
    perfect = pearson([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert perfect.r == pytest.approx(1.0)
    assert perfect.ci_low == pytest.approx(1.0) and perfect.ci_high == pytest.approx(1.0)
    with pytest.raises(ValueError):
        pearson([1, 2, 3], [1, 2])
    with pytest.raises(ValueError):
        pearson([1, 2, 3], [1, 2, 3], min_n=2)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-1e3, 1e3, allow_nan=False), st.floats(-1e3, 1e3, allow_nan=False)),
        min_size=0,
        max_size=30,
    )
)
def test_pearson_properties(pairs):
    x = [p[0] for p in pairs]
    y = [p[1] for p in pairs]
    for c in (pearson(x, y), spearman(x, y)):
        assert c.n == len(pairs)
        if c.r is None:
            assert c.too_few or c.message
            continue
        assert -1.0 <= c.r <= 1.0
        if c.ci_low is not None:
            assert c.ci_high is not None
            assert -1.0 <= c.ci_low <= c.r + 1e-12
            assert c.r - 1e-12 <= c.ci_high <= 1.0
        if c.p_value is not None:
            assert 0.0 <= c.p_value <= 1.0


# --------------------------------------------------------------------------- effect sizes


def test_hedges_g_hand_example():
    # a = 1,2,3,4: mean 2.5, var 5/3; b = 2,3,4,5,6: mean 4, var 2.5
    # pooled var = (3 * 5/3 + 4 * 2.5) / 7 = 15/7 -> SD 1.4638501
    # d = -1.5 / 1.4638501 = -1.0246951; J = 1 - 3/(4*9 - 9) = 0.8888889; g = -0.9108401
    # SE = sqrt(9/20 + 0.8296295/18) = sqrt(0.4960905) = 0.7043369
    # CI = -0.9108401 -/+ 1.959964 * 0.7043369 = (-2.2913151, 0.4696350)
    e = hedges_g([1, 2, 3, 4], [2, 3, 4, 5, 6])
    assert (e.n_a, e.n_b) == (4, 5)
    assert e.d == pytest.approx(-1.0246951, abs=1e-6)
    assert e.g == pytest.approx(-0.9108401, abs=1e-6)
    assert e.se == pytest.approx(0.7043369, abs=1e-6)
    assert e.ci_low == pytest.approx(-2.2913151, abs=1e-6)
    assert e.ci_high == pytest.approx(0.4696350, abs=1e-6)
    assert e.sd_pooled == pytest.approx(math.sqrt(15 / 7))


def test_hedges_g_matches_statsmodels_point_estimate():
    rng = np.random.default_rng(3)
    a = rng.normal(1.0, 2.0, 23)
    b = rng.normal(0.0, 2.5, 31)
    e = hedges_g(a, b)
    ref, _var = effectsize_smd(a.mean(), a.std(ddof=1), a.size, b.mean(), b.std(ddof=1), b.size)
    assert e.g == pytest.approx(float(ref))
    # swapping groups flips the sign
    assert hedges_g(b, a).g == pytest.approx(-e.g)


def test_hedges_g_edge_cases():
    e = hedges_g([1.0], [1, 2, 3])
    assert e.g is None and e.too_few and e.n_a == 1 and e.mean_a == 1.0
    e0 = hedges_g([], [])
    assert e0.g is None and e0.mean_a is None
    ez = hedges_g([2, 2, 2], [2, 2, None, np.nan])
    assert ez.g is None and not ez.too_few and ez.n_b == 2 and "zero" in (ez.message or "")
    assert hedges_g([1, 2, 3], [2, 3, 4], min_n=4).too_few


def test_conversions():
    # d = 2 * 0.26 / sqrt(1 - 0.0676) = 0.52 / 0.9656086 = 0.5385204
    assert r_to_d(0.26) == pytest.approx(0.5385204, abs=1e-6)
    assert d_to_r(0.5385204) == pytest.approx(0.26, abs=1e-6)
    # Kazantzis et al. 2010: d = 0.48 -> U3 = Phi(0.48) = 0.6843863
    assert cohens_u3(0.48) == pytest.approx(0.6843863, abs=1e-6)
    assert cohens_u3(0.0) == 0.5
    assert r_to_d(1.0) == math.inf and r_to_d(-1.0) == -math.inf
    assert d_to_r(math.inf) == 1.0
    with pytest.raises(ValueError):
        r_to_d(1.2)


@given(st.floats(-0.999, 0.999))
def test_r_d_round_trip(r):
    assert d_to_r(r_to_d(r)) == pytest.approx(r, abs=1e-9)


# --------------------------------------------------------------------------- wilson


def test_wilson_hand_example():
    # 3/10: p = 0.3, z^2 = 3.8414588, z^2/n = 0.3841459
    # centre = (0.3 + 0.1920729) / 1.3841459 = 0.3555066
    # half = 1.959964 / 1.3841459 * sqrt(0.021 + 3.8414588/400)
    #      = 1.4160097 * sqrt(0.0306036) = 1.4160097 * 0.1749390 = 0.2477153
    # -> (0.1077913, 0.6032219)
    low, high = wilson_interval(3, 10)
    assert low == pytest.approx(0.1077913, abs=1e-6)
    assert high == pytest.approx(0.6032219, abs=1e-6)


@pytest.mark.parametrize("n", [1, 2, 5, 11, 40, 250])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_matches_statsmodels(n, confidence):
    for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        ref = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
        assert wilson_interval(k, n, confidence=confidence) == pytest.approx(ref, abs=1e-12)


def test_wilson_edges():
    assert wilson_interval(0, 0) is None
    assert wilson_interval(0, 7)[0] == 0.0
    assert wilson_interval(7, 7)[1] == 1.0
    for bad in [(-1, 5), (6, 5), (1, -1)]:
        with pytest.raises(ValueError):
            wilson_interval(*bad)
    with pytest.raises(ValueError):
        wilson_interval(1, 5, confidence=1.0)


@given(st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_properties(kn):
    k, n = kn
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0
    # wider at higher confidence
    low99, high99 = wilson_interval(k, n, confidence=0.99)
    assert low99 <= low + 1e-12 and high99 >= high - 1e-12


# --------------------------------------------------------------------------- funnel


def test_funnel_column_names():
    assert funnel_column_names(0.95) == ("lower_95", "upper_95")
    assert funnel_column_names(0.998) == ("lower_99_8", "upper_99_8")


def test_funnel_limits_hand_example():
    df = funnel_limits(0.5, [100, 4, 0])
    assert list(df.columns) == ["n", "lower_95", "upper_95", "lower_99_8", "upper_99_8"]
    assert list(df["n"]) == [100, 4, 0]
    # n = 100: se = sqrt(0.25/100) = 0.05; 0.5 -/+ 1.959964*0.05 = 0.4020018, 0.5979982
    # 99.8%: 0.5 -/+ 3.090232*0.05 = 0.3454884, 0.6545116
    assert df.loc[0, "lower_95"] == pytest.approx(0.4020018, abs=1e-6)
    assert df.loc[0, "upper_95"] == pytest.approx(0.5979982, abs=1e-6)
    assert df.loc[0, "lower_99_8"] == pytest.approx(0.3454884, abs=1e-6)
    assert df.loc[0, "upper_99_8"] == pytest.approx(0.6545116, abs=1e-6)
    # n = 4: se = 0.25; 99.8% 0.5 -/+ 0.772558 -> clipped to [0, 1]
    assert df.loc[1, "lower_99_8"] == 0.0 and df.loc[1, "upper_99_8"] == 1.0
    # n = 0: no limits
    assert df.loc[2, ["lower_95", "upper_95"]].isna().all()


def test_funnel_limits_clip_and_levels():
    # p = 0.1, n = 4: se = 0.15, 95% lower = 0.1 - 0.294 < 0 -> 0
    df = funnel_limits(0.1, np.array([4, 1000]), levels=(0.95,))
    assert list(df.columns) == ["n", "lower_95", "upper_95"]
    assert df.loc[0, "lower_95"] == 0.0
    assert df.loc[0, "upper_95"] == pytest.approx(0.1 + Z_95 * 0.15)
    # limits narrow as n grows
    assert df.loc[1, "upper_95"] < df.loc[0, "upper_95"]
    flat = funnel_limits(0.0, [10])
    assert flat.loc[0, "lower_95"] == 0.0 and flat.loc[0, "upper_95"] == 0.0
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError):
            funnel_limits(bad, [10])
    with pytest.raises(ValueError):
        funnel_limits(0.5, [10, -1])


def test_funnel_limits_mean():
    # mean 10, SD 6, n = 9: se = 2; 95%: 10 -/+ 3.919928; 99.8%: 10 -/+ 6.180464
    df = funnel_limits_mean(10.0, 6.0, [9, 1])
    assert df.loc[0, "lower_95"] == pytest.approx(6.080072, abs=1e-6)
    assert df.loc[0, "upper_95"] == pytest.approx(13.919928, abs=1e-6)
    assert df.loc[0, "lower_99_8"] == pytest.approx(3.819536, abs=1e-6)
    # not clipped
    assert df.loc[1, "lower_99_8"] == pytest.approx(10 - 6 * Z_998)
    assert df.loc[1, "lower_99_8"] < 0
    with pytest.raises(ValueError):
        funnel_limits_mean(10.0, -1.0, [9])


# --------------------------------------------------------------------------- Jacobson-Truax: reference

# Expected figures from tests/data/README.md (snapshot results of the R
# package clinicalsignificance, Claus et al. JSS 111, for the Claus, Scherbaum & Bonnet 2020
# HAMD data; complete cases n = 40, reliability 0.80).
CLAUS_RELIABILITY = 0.80
CLAUS_N_COMPLETE = 40
CLAUS_RCI_COUNTS = {"improved": 29, "unchanged": 10, "deteriorated": 1}
CLAUS_FUNCTIONAL_MEAN = 8.0
CLAUS_FUNCTIONAL_SD = 8.0
CLAUS_COMBINED_COUNTS = {
    "recovered": 26,
    "improved": 3,
    "unchanged": 10,
    "deteriorated": 1,
    "harmed": 0,
}
CLAUS_SD_PRE = 3.3401
CLAUS_S_DIFF = 2.1125
CLAUS_CUTOFF_C = 19.887


@pytest.fixture(scope="module")
def claus() -> pd.DataFrame:
    if not CLAUS_CSV.exists():
        pytest.fail(f"reference data missing: {CLAUS_CSV}")
    return pd.read_csv(CLAUS_CSV)


def _counts(df: pd.DataFrame) -> dict[str, int]:
    counts = df["category"].value_counts()
    return {cat: int(counts.get(cat, 0)) for cat in JT_CATEGORIES}


def test_jacobson_truax_claus2020_reliable_change(claus):
    assert len(claus) == 43 and claus["hamd_post"].isna().sum() == 3
    out = jacobson_truax(claus["hamd_pre"], claus["hamd_post"], reliability=CLAUS_RELIABILITY)
    assert out.attrs["n_complete"] == CLAUS_N_COMPLETE
    assert out["category"].notna().sum() == CLAUS_N_COMPLETE
    assert _counts(out) == {**dict.fromkeys(JT_CATEGORIES, 0), **CLAUS_RCI_COUNTS}
    assert out.attrs["sd_pre"] == pytest.approx(CLAUS_SD_PRE, abs=5e-5)
    assert out.attrs["s_diff"] == pytest.approx(CLAUS_S_DIFF, abs=5e-5)
    assert out.attrs["se"] == pytest.approx(CLAUS_S_DIFF / math.sqrt(2), abs=5e-5)
    assert out.attrs["critical_value"] == pytest.approx(1.959964, abs=1e-6)
    assert out.attrs["cutoff_c"] is None
    assert out["crossed_cutoff"].isna().all()
    # flags agree with categories
    assert int(out["reliable_improvement"].sum()) == CLAUS_RCI_COUNTS["improved"]
    assert int(out["reliable_deterioration"].sum()) == CLAUS_RCI_COUNTS["deteriorated"]
    # the 3 missing posts keep their rows, uncategorised
    missing = out[claus["hamd_post"].isna()]
    assert len(missing) == 3
    assert missing["rc"].isna().all() and missing["category"].isna().all()
    assert missing["reliable_improvement"].isna().all()
    assert list(out.index) == list(claus.index)


def test_jacobson_truax_claus2020_combined(claus):
    out = jacobson_truax(
        claus["hamd_pre"],
        claus["hamd_post"],
        reliability=CLAUS_RELIABILITY,
        functional_mean=CLAUS_FUNCTIONAL_MEAN,
        functional_sd=CLAUS_FUNCTIONAL_SD,
    )
    assert _counts(out) == CLAUS_COMBINED_COUNTS
    assert out.attrs["cutoff_c"] == pytest.approx(CLAUS_CUTOFF_C, abs=5e-4)
    assert out.attrs["sd_pre"] == pytest.approx(CLAUS_SD_PRE, abs=5e-5)
    assert out.attrs["s_diff"] == pytest.approx(CLAUS_S_DIFF, abs=5e-5)
    assert out.attrs["dysfunctional_sd"] == pytest.approx(CLAUS_SD_PRE, abs=5e-5)
    complete = claus.dropna()
    assert out.attrs["dysfunctional_mean"] == pytest.approx(complete["hamd_pre"].mean())
    recovered = out["category"] == "recovered"
    assert out.loc[recovered, "crossed_cutoff"].all()
    assert (out.loc[recovered, "post"] < out.attrs["cutoff_c"]).all()


# --------------------------------------------------------------------------- Jacobson-Truax: hand


def test_jacobson_truax_hand_example_without_norms():
    # pre 20,22,24,26,28: mean 24, deviations -4,-2,0,2,4 -> var 40/4 = 10, SD = sqrt(10)
    # reliability .8: SE = sqrt(10) * sqrt(.2) = sqrt(2); S_diff = sqrt(2 * 2) = 2; RC = change/2
    pre = pd.Series([20, 22, 24, 26, 28, 30], index=list("abcdef"))
    post = pd.Series([15, 18, 24, 30, 25, None], index=list("abcdef"))
    out = jacobson_truax(pre, post, reliability=0.8)
    assert list(out.index) == list("abcdef")
    assert out.attrs["sd_pre"] == pytest.approx(math.sqrt(10))
    assert out.attrs["se"] == pytest.approx(math.sqrt(2))
    assert out.attrs["s_diff"] == pytest.approx(2.0)
    # changes -5, -4, 0, +4, -3 -> RC -2.5, -2.0, 0, 2.0, -1.5
    assert out["change"].iloc[:5].tolist() == [-5, -4, 0, 4, -3]
    assert out["rc"].iloc[:5].tolist() == pytest.approx([-2.5, -2.0, 0.0, 2.0, -1.5])
    assert out["category"].iloc[:5].tolist() == [
        "improved",
        "improved",
        "unchanged",
        "deteriorated",
        "unchanged",
    ]
    assert pd.isna(out.loc["f", "category"]) and pd.isna(out.loc["f", "rc"])
    assert out.loc["a", "reliable_improvement"] and not out.loc["a", "reliable_deterioration"]
    assert list(out.columns[:8]) == [
        "pre",
        "post",
        "change",
        "rc",
        "reliable_improvement",
        "reliable_deterioration",
        "crossed_cutoff",
        "category",
    ]


def test_jacobson_truax_strict_threshold():
    # reliability .5 and sd_pre 1: SE = sqrt(.5), S_diff = sqrt(2 * .5) = 1 exactly, so RC = change
    pre = [0.0, 0.0, 0.0, 0.0, 0.0]
    post = [Z_95, -Z_95, Z_95 + 1e-6, -Z_95 - 1e-6, 1.0]
    out = jacobson_truax(pre, post, reliability=0.5, sd_pre=1.0)
    assert out.attrs["s_diff"] == 1.0
    assert out["category"].tolist() == [
        "unchanged",
        "unchanged",
        "deteriorated",
        "improved",
        "unchanged",
    ]


JT_PRE = [24, 24, 24, 20, 14, 16, 10, 17, 30]
JT_POST = [12, 19, 23, 26, 20, 10, 16, 20, None]
# sd_pre = 2, reliability .5 -> S_diff = 2 * sqrt(.5) * sqrt(2) = 2: reliable when |change| > 3.92
# c = (5 * 10 + 5 * 24) / (5 + 5) = 17 (functional M 10 SD 5, dysfunctional M 24 SD 5)
JT_EXPECTED = [
    "recovered",  # 24 -> 12: -12, pre > 17, post < 17
    "improved",  # 24 -> 19: -5, post still > 17
    "unchanged",  # 24 -> 23: -1
    "deteriorated",  # 20 -> 26: +6, pre already dysfunctional
    "harmed",  # 14 -> 20: +6, functional -> dysfunctional
    "improved",  # 16 -> 10: -6, but pre was already functional (did not cross)
    "deteriorated",  # 10 -> 16: +6, still functional
    "unchanged",  # 17 -> 20: +3
    None,  # missing post
]


def test_jacobson_truax_hand_example_with_norms():
    out = jacobson_truax(
        JT_PRE,
        JT_POST,
        reliability=0.5,
        sd_pre=2.0,
        functional_mean=10,
        functional_sd=5,
        dysfunctional_mean=24,
        dysfunctional_sd=5,
    )
    assert out.attrs["cutoff_c"] == pytest.approx(17.0)
    assert out.attrs["s_diff"] == pytest.approx(2.0)
    got = [None if pd.isna(v) else v for v in out["category"]]
    assert got == JT_EXPECTED
    assert out["crossed_cutoff"].iloc[:8].tolist() == [
        True,
        False,
        False,
        False,
        False,
        False,
        False,
        False,
    ]
    assert pd.isna(out["crossed_cutoff"].iloc[8])


def test_jacobson_truax_higher_is_better_mirrors():
    mirrored = jacobson_truax(
        [-v for v in JT_PRE],
        [None if v is None else -v for v in JT_POST],
        reliability=0.5,
        sd_pre=2.0,
        functional_mean=-10,
        functional_sd=5,
        dysfunctional_mean=-24,
        dysfunctional_sd=5,
        lower_is_better=False,
    )
    assert mirrored.attrs["cutoff_c"] == pytest.approx(-17.0)
    assert [None if pd.isna(v) else v for v in mirrored["category"]] == JT_EXPECTED
    # without norms: a rise is an improvement
    out = jacobson_truax([10, 10, 10], [20, 10, 0], reliability=0.5, sd_pre=1.0, lower_is_better=False)
    assert out["category"].tolist() == ["improved", "unchanged", "deteriorated"]


def test_jacobson_truax_small_n_and_validation():
    one = jacobson_truax([20], [10], reliability=0.8)
    assert one.attrs["too_few"] and one.attrs["sd_pre"] is None and one["category"].isna().all()
    assert "too few" in one.attrs["message"]
    # with a published SD a single client can be classified
    single = jacobson_truax([20], [10], reliability=0.8, sd_pre=5.0)
    assert not single.attrs["too_few"]
    assert single["category"].tolist() == ["improved"]  # RC = -10 / (5*sqrt(.2)*sqrt(2)) = -3.16
    flat = jacobson_truax([20, 20, 20], [10, 20, 30], reliability=0.8)
    assert flat.attrs["too_few"] and "zero variance" in flat.attrs["message"]
    empty = jacobson_truax([], [], reliability=0.8)
    assert empty.empty and empty.attrs["too_few"]
    none_complete = jacobson_truax([1, None], [None, 2], reliability=0.8, sd_pre=3.0)
    assert none_complete.attrs["too_few"] and none_complete["category"].isna().all()
    # norms but only one client and no dysfunctional SD -> too few for the cut-off
    cut = jacobson_truax([20], [10], reliability=0.8, sd_pre=5.0, functional_mean=5, functional_sd=4)
    assert cut.attrs["too_few"] and cut.attrs["cutoff_c"] is None
    with pytest.raises(ValueError):
        jacobson_truax([1, 2], [1, 2], reliability=1.0)
    with pytest.raises(ValueError):
        jacobson_truax([1, 2], [1, 2], reliability=0.8, functional_mean=3)
    with pytest.raises(ValueError):
        jacobson_truax([1, 2], [1, 2, 3], reliability=0.8)


def test_jacobson_truax_aligns_series_by_index():
    pre = pd.Series([20, 30, 25], index=[3, 1, 2])
    post = pd.Series([30, 10, 25], index=[1, 2, 3])  # same labels, other order
    out = jacobson_truax(pre, post, reliability=0.8, sd_pre=5.0)
    assert list(out.index) == [3, 1, 2]
    assert out["post"].tolist() == [25, 30, 10]
    with pytest.raises(ValueError):
        jacobson_truax(pre, post.set_axis([7, 8, 9]), reliability=0.8)


# --------------------------------------------------------------------------- mixed model


def _simulate_panel(seed: int, n_people: int = 80, n_obs: int = 10) -> pd.DataFrame:
    """Outcome = 10 + 1.5 * (person mean - 2) - 2.0 * (week deviation) + u_i + e."""
    rng = np.random.default_rng(seed)
    person = np.repeat(np.arange(n_people), n_obs)
    person_mean = rng.normal(2.0, 0.8, n_people)
    x = person_mean[person] + rng.normal(0.0, 1.0, person.size)
    u = rng.normal(0.0, 2.0, n_people)
    y = (
        10
        + 1.5 * (person_mean[person] - 2.0)
        - 2.0 * (x - person_mean[person])
        + u[person]
        + rng.normal(0.0, 1.5, person.size)
    )
    return pd.DataFrame({"phq9": y, "homework": x, "client": [f"c{i:03d}" for i in person]})


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return _simulate_panel(20240611)


def test_mixedlm_recovers_within_effect(panel):
    res = within_between_model(panel, outcome="phq9", predictor="homework", group="client")
    assert res.converged and not res.too_few
    assert res.n_observations == 800 and res.n_groups == 80
    assert res.within_coef == pytest.approx(-2.0, abs=0.15)
    assert res.within_ci[0] < -2.0 < res.within_ci[1]
    assert res.within_p < 1e-6
    # the between effect has the opposite sign: the model must not blend the two
    assert res.between_ci[0] < 1.5 < res.between_ci[1]
    assert res.between_coef > 0
    assert res.group_variance == pytest.approx(4.0, rel=0.5)
    assert res.residual_variance == pytest.approx(2.25, rel=0.2)


def test_mixedlm_drops_missing_rows(panel):
    df = panel.copy()
    df.loc[df.index[:5], "phq9"] = np.nan
    df.loc[df.index[5:8], "client"] = None
    res = within_between_model(df, outcome="phq9", predictor="homework", group="client")
    assert res.n_observations == 792


def test_mixedlm_too_few(panel):
    # 4 clients x 10 rows: enough rows, too few groups
    few_groups = panel[panel["client"].isin(["c000", "c001", "c002", "c003"])]
    res = within_between_model(few_groups, outcome="phq9", predictor="homework", group="client")
    assert res.too_few and res.within_coef is None and not res.converged
    assert res.message.startswith("too few") and res.n_groups == 4
    # 19 rows
    res2 = within_between_model(panel.head(19), outcome="phq9", predictor="homework", group="client")
    assert res2.too_few and res2.n_observations == 19
    # 25 singletons + 3 pairs: 31 rows but only 3 groups with >= 2 rows
    singles = panel.groupby("client").head(1).head(25)
    pairs = panel[panel["client"].isin(["c070", "c071", "c072"])].groupby("client").head(2)
    res3 = within_between_model(pd.concat([singles, pairs]), outcome="phq9", predictor="homework", group="client")
    assert res3.too_few and res3.n_observations == 31


def test_mixedlm_no_within_variation(panel):
    df = panel.copy()
    df["homework"] = df.groupby("client")["homework"].transform("mean")
    res = within_between_model(df, outcome="phq9", predictor="homework", group="client")
    assert res.within_coef is None and not res.too_few and "within" in res.message


def test_mixedlm_fit_errors_are_reported(panel, monkeypatch):
    def singular(*args, **kwargs):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(np.linalg, "solve", singular)
    res = within_between_model(panel, outcome="phq9", predictor="homework", group="client")
    assert res.within_coef is None and not res.converged and "Singular matrix" in res.message


def test_mixedlm_matches_statsmodels_on_the_panel(panel):
    check = within_between_mixedlm(panel, outcome="phq9", predictor="homework", group="client")
    ours = within_between_model(panel, outcome="phq9", predictor="homework", group="client")
    assert check.converged
    assert ours.within_coef == pytest.approx(check.within_coef, rel=1e-4)
    assert ours.between_coef == pytest.approx(check.between_coef, rel=1e-4)
    assert ours.group_variance == pytest.approx(check.group_variance, rel=1e-3)


def test_mixedlm_missing_column(panel):
    with pytest.raises(ValueError):
        within_between_model(panel, outcome="gad7", predictor="homework", group="client")


# --------------------------------------------------------------------------- mean_ci


def test_mean_ci_hand_example():
    # 1, 2, 3: mean 2, SD 1, SEM 1/sqrt(3) = 0.5773503, t(0.975, 2) = 4.3026527
    # half-width = 2.4841377 -> (-0.4841377, 4.4841377)
    mean, low, high, n = mean_ci([1, 2, 3])
    assert (mean, n) == (2.0, 3)
    assert low == pytest.approx(-0.4841377, abs=1e-6)
    assert high == pytest.approx(4.4841377, abs=1e-6)


def test_mean_ci_matches_scipy():
    rng = np.random.default_rng(11)
    x = rng.normal(5, 2, 37)
    mean, low, high, n = mean_ci(list(x) + [None, np.nan], confidence=0.9)
    ref = stats.t.interval(0.9, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    assert n == 37
    assert (low, high) == pytest.approx(ref)


def test_mean_ci_small_n():
    assert mean_ci([]) == (None, None, None, 0)
    assert mean_ci([None, np.nan]) == (None, None, None, 0)
    assert mean_ci([4.0]) == (4.0, None, None, 1)
    assert mean_ci([3, 3, 3]) == (3.0, 3.0, 3.0, 3)
