"""Statistics for the homework-compliance / symptom-change dashboard.

Pure Python (numpy, pandas, scipy, statsmodels): no Streamlit, no DuckDB, no I/O.

Conventions used throughout this module
---------------------------------------
* Inputs are array-likes (lists, numpy arrays, pandas Series). ``None``, ``NaN``,
  ``pd.NA`` and +/-inf count as missing and are dropped (pairwise for the
  two-variable functions; pairs are matched by position, not by index).
  Numeric strings are converted; other non-numeric values raise ``ValueError``.
* Small samples never raise. Each function documents its minimum; below it the
  estimate is ``None`` and the result says why (``too_few`` / ``message``). Results
  never contain NaN where ``None`` can be used instead. Invalid *arguments* (a
  reliability outside [0, 1), a negative count, a confidence outside (0, 1)) are
  programming errors and raise ``ValueError``.
* Confidence intervals are two-sided; 95% uses z = 1.959964 (``scipy.stats.norm.ppf(0.975)``).
* Everything here is descriptive or correlational. A compliance-outcome relation
  computed with these functions is an association, not evidence that one client's
  homework caused (or failed to cause) their change; callers must say so.

Sources are cited in each function's docstring.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .rates import Z_95 as _Z_95
from .rates import fisher_interval

__all__ = [
    "JT_CATEGORIES",
    "RANK_DECIMALS",
    "Z_95",
    "Z_998",
    "Correlation",
    "EffectSize",
    "MixedModelResult",
    "cohens_u3",
    "correlation_from_r",
    "d_to_r",
    "funnel_column_names",
    "funnel_limits",
    "funnel_limits_mean",
    "group_moments",
    "hedges_g",
    "hedges_g_from_moments",
    "jacobson_truax",
    "mean_ci",
    "pearson",
    "r_to_d",
    "spearman",
    "wilson_interval",
    "within_between_from_groups",
    "within_between_model",
]

#: Two-sided 95% normal critical value, ``norm.ppf(0.975)`` = 1.959964 (analytics.rates).
Z_95: float = _Z_95
#: Two-sided 99.8% normal critical value, ``norm.ppf(0.999)`` = 3.090232.
Z_998: float = float(stats.norm.ppf(0.999))

#: Jacobson-Truax categories, best to worst. Without functional norms only
#: "improved", "unchanged" and "deteriorated" occur.
JT_CATEGORIES: tuple[str, ...] = ("recovered", "improved", "unchanged", "deteriorated", "harmed")

#: Spearman's rho ranks values rounded to this many decimals, so that floating-point noise
#: (0.7999999999999999 against 0.8) is not ranked as two distinct values: such values are ties.
RANK_DECIMALS = 9

# Minimum numbers of observations (documented in the functions below).
MIXEDLM_MIN_OBSERVATIONS = 20
MIXEDLM_MIN_GROUPS = 5
MIXEDLM_MIN_OBS_PER_GROUP = 2


# --------------------------------------------------------------------------- helpers


def _to_float_array(values: Iterable[Any] | Any) -> np.ndarray:
    """Convert an array-like to a 1-D float array with NaN for missing / non-finite values."""
    if isinstance(values, pd.Series):
        series = values
    elif isinstance(values, np.ndarray):
        series = pd.Series(values.ravel())
    else:
        series = pd.Series(list(values), dtype="object")
    numeric = pd.to_numeric(series, errors="raise")
    arr = np.array(numeric.to_numpy(dtype=float, na_value=np.nan), dtype=float)
    arr[~np.isfinite(arr)] = np.nan
    return arr


def _paired(x: Iterable[Any], y: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Positional pairs of x and y with both values present and finite."""
    xa = _to_float_array(x)
    ya = _to_float_array(y)
    if xa.shape != ya.shape:
        raise ValueError(f"x and y must have the same length ({xa.size} != {ya.size})")
    keep = ~(np.isnan(xa) | np.isnan(ya))
    return xa[keep], ya[keep]


def _z_for(confidence: float) -> float:
    """Two-sided normal critical value for a confidence level in (0, 1)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return float(stats.norm.ppf(1.0 - (1.0 - confidence) / 2.0))


def finite_or_none(value: Any) -> float | None:
    """``float(value)`` if finite, else ``None`` (also for None, pd.NA and text)."""
    if value is None or value is pd.NA:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _is_constant(a: np.ndarray) -> bool:
    return a.size == 0 or bool(np.all(a == a[0]))


# --------------------------------------------------------------------------- correlation


@dataclass(frozen=True)
class Correlation:
    """A correlation coefficient with its 95% confidence interval.

    Attributes:
        method: "pearson" or "spearman".
        r: The coefficient (Pearson's r or Spearman's rho), unitless in [-1, 1];
            ``None`` when there are fewer than ``min_n`` complete pairs or either
            variable has zero variance.
        n: Number of complete (x, y) pairs used.
        ci_low, ci_high: 95% confidence limits by Fisher's z transformation;
            ``None`` when ``r`` is ``None`` or ``n < 4``.
        p_value: Two-sided p-value for H0: no correlation (from scipy); ``None``
            when ``r`` is ``None``.
        too_few: True when ``n < min_n``.
        message: Why ``r`` or the interval is missing, else ``None``.
    """

    method: Literal["pearson", "spearman"]
    r: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    too_few: bool
    message: str | None = None


def _fisher_ci(r: float, se: float, z_crit: float = Z_95) -> tuple[float, float]:
    """Fisher-z interval tanh(atanh(r) +/- z*se); degenerate (r, r) when |r| == 1
    (:func:`analytics.rates.fisher_interval`)."""
    return fisher_interval(r, se, z_crit)


def _correlation(method: Literal["pearson", "spearman"], x: Iterable[Any], y: Iterable[Any], min_n: int) -> Correlation:
    if min_n < 3:
        raise ValueError("min_n must be at least 3 (a correlation of 2 points is always +/-1)")
    xa, ya = _paired(x, y)
    if method == "spearman":  # ties by value, not by floating-point noise (RANK_DECIMALS)
        xa, ya = np.round(xa, RANK_DECIMALS), np.round(ya, RANK_DECIMALS)
    n = int(xa.size)
    if n < min_n:
        return Correlation(
            method, None, n, None, None, None, True, f"too few complete pairs (n={n}, need at least {min_n})"
        )
    if _is_constant(xa) or _is_constant(ya):
        return Correlation(
            method, None, n, None, None, None, False, "a variable has zero variance; correlation undefined"
        )
    if method == "pearson":
        r = float(stats.pearsonr(xa, ya).statistic)
    else:
        r = float(stats.spearmanr(xa, ya).statistic)
    return correlation_from_r(method, r, n, min_n)


def correlation_from_r(method: Literal["pearson", "spearman"], r: float | None, n: int, min_n: int,
                       constant: bool = False) -> Correlation:
    """A :class:`Correlation` from a coefficient computed elsewhere (e.g. by DuckDB from sums) and
    its n: the minimum, the Fisher-z interval (SE = 1 / sqrt(n - 3), sqrt(1.06 / (n - 3)) for
    Spearman) and the two-sided p-value of the t test with n - 2 degrees of freedom (what scipy's
    pearsonr and spearmanr give). ``constant``: a variable has no spread (r undefined)."""
    if min_n < 3:
        raise ValueError("min_n must be at least 3 (a correlation of 2 points is always +/-1)")
    if n < min_n:
        return Correlation(
            method, None, n, None, None, None, True, f"too few complete pairs (n={n}, need at least {min_n})"
        )
    if constant or r is None or not math.isfinite(r):
        return Correlation(
            method, None, n, None, None, None, False, "a variable has zero variance; correlation undefined"
        )
    r = float(np.clip(r, -1.0, 1.0))
    if abs(r) == 1.0:
        p: float | None = 0.0
    else:
        t = r * math.sqrt((n - 2) / (1.0 - r * r)) if n > 2 else 0.0
        p = finite_or_none(2.0 * stats.t.sf(abs(t), n - 2)) if n > 2 else None
    se = (1.0 / math.sqrt(n - 3) if method == "pearson" else math.sqrt(1.06 / (n - 3))) if n >= 4 else None
    if se is None:
        return Correlation(method, r, n, None, None, p, False, "confidence interval needs at least 4 pairs")
    low, high = _fisher_ci(r, se)
    return Correlation(method, r, n, low, high, p, False, None)


def pearson(x: Iterable[Any], y: Iterable[Any], *, min_n: int = 3) -> Correlation:
    """Pearson product-moment correlation with a Fisher-z 95% confidence interval.

    Pairs where either value is missing (None/NaN/inf) are dropped; pairing is
    positional. ``r`` and ``p_value`` come from ``scipy.stats.pearsonr``.

    Confidence interval: z = atanh(r), SE = 1 / sqrt(n - 3),
    CI = tanh(z -/+ 1.959964 * SE) (Fisher 1921). Needs n >= 4.

    Minimum: ``min_n`` complete pairs (default 3, at least 3). Below it, or when
    either variable is constant, ``r`` is ``None`` (never raises).

    Args:
        x, y: Equal-length array-likes of numbers (any units).
        min_n: Minimum number of complete pairs for an estimate.

    Returns:
        A :class:`Correlation` with ``method="pearson"``.
    """
    return _correlation("pearson", x, y, min_n)


def spearman(x: Iterable[Any], y: Iterable[Any], *, min_n: int = 3) -> Correlation:
    """Spearman rank correlation (rho) with a Fisher-z 95% confidence interval.

    ``rho`` (stored in ``Correlation.r``) and ``p_value`` come from
    ``scipy.stats.spearmanr`` (average ranks for ties; the p-value uses the
    t approximation). Missing pairs are dropped as in :func:`pearson`. Values are
    rounded to ``RANK_DECIMALS`` (9) decimals before ranking, so that values that
    differ only by floating-point noise (a mean of 2/5, 1, 1 computed as
    0.7999999999999999 against 0.8) are ties, as their exact values are.

    Confidence interval: z = atanh(rho), SE = sqrt(1.06 / (n - 3)),
    CI = tanh(z -/+ 1.959964 * SE). The 1.06 variance inflation for rank
    correlations is from Fieller, Hartley & Pearson (1957), Biometrika 44,
    470-481. Needs n >= 4.

    Minimum: ``min_n`` complete pairs (default 3); below it, or with a constant
    variable, ``r`` is ``None``.
    """
    return _correlation("spearman", x, y, min_n)


# --------------------------------------------------------------------------- effect sizes


@dataclass(frozen=True)
class EffectSize:
    """Standardised mean difference between two groups (a minus b).

    Attributes:
        g: Hedges' g (bias-corrected Cohen's d), in pooled-SD units; positive
            when group a's mean is higher. ``None`` when too few or no spread.
        ci_low, ci_high: 95% confidence limits for g (normal approximation).
        se: Standard error of g used for the interval.
        d: Uncorrected Cohen's d (difference / pooled SD).
        n_a, n_b: Non-missing observations per group.
        mean_a, mean_b: Group means (input units); ``None`` when a group is empty.
        sd_pooled: Pooled SD (input units), ``None`` when undefined.
        too_few: True when a group has fewer than ``min_n`` observations.
        message: Why ``g`` is missing, else ``None``.
    """

    g: float | None
    ci_low: float | None
    ci_high: float | None
    se: float | None
    d: float | None
    n_a: int
    n_b: int
    mean_a: float | None
    mean_b: float | None
    sd_pooled: float | None
    too_few: bool
    message: str | None = None


def _undefined_effect(na: int, nb: int, mean_a: float | None, mean_b: float | None, sd_pooled: float | None,
                      too_few: bool, message: str) -> EffectSize:
    """An :class:`EffectSize` without g (too few observations, or no spread)."""
    return EffectSize(g=None, ci_low=None, ci_high=None, se=None, d=None, n_a=na, n_b=nb, mean_a=mean_a,
                      mean_b=mean_b, sd_pooled=sd_pooled, too_few=too_few, message=message)


def hedges_g(a: Iterable[Any], b: Iterable[Any], *, min_n: int = 2) -> EffectSize:
    """Hedges' g for two independent groups, with a 95% confidence interval.

    * pooled SD = sqrt(((n_a-1) s_a^2 + (n_b-1) s_b^2) / (n_a + n_b - 2)), s with ddof=1
    * d = (mean(a) - mean(b)) / pooled SD
    * J = 1 - 3 / (4 (n_a + n_b) - 9)  (Hedges 1981 small-sample correction;
      identical to 1 - 3/(4 df - 1) with df = n_a + n_b - 2), g = J * d
    * SE = sqrt((n_a + n_b) / (n_a n_b) + g^2 / (2 (n_a + n_b))), CI = g -/+ 1.959964 SE
      (Hedges & Olkin 1985 large-sample variance, evaluated at g; Borenstein et al.
      2009 multiply the variance of d by J^2 instead - the two differ by < 1% of the
      width for n >= 20 per group).

    Missing values are dropped per group. Minimum: ``min_n`` (default 2, at least
    2) observations in each group and a non-zero pooled SD; otherwise ``g`` is
    ``None``.
    """
    if min_n < 2:
        raise ValueError("min_n must be at least 2 (a group SD needs two observations)")
    aa = _to_float_array(a)
    bb = _to_float_array(b)
    aa = aa[~np.isnan(aa)]
    bb = bb[~np.isnan(bb)]
    na, nb = int(aa.size), int(bb.size)
    return hedges_g_from_moments(
        na, float(aa.mean()) if na else None, float(aa.std(ddof=1)) if na > 1 else None,
        nb, float(bb.mean()) if nb else None, float(bb.std(ddof=1)) if nb > 1 else None, min_n=min_n,
    )


def hedges_g_from_moments(na: int, mean_a: float | None, sd_a: float | None, nb: int, mean_b: float | None,
                          sd_b: float | None, *, min_n: int = 2) -> EffectSize:
    """:func:`hedges_g` from each group's n, mean and sample SD (ddof=1), e.g. aggregated by
    DuckDB: the one definition of g, its interval and its minimum (:func:`hedges_g` calls it)."""
    if min_n < 2:
        raise ValueError("min_n must be at least 2 (a group SD needs two observations)")
    mean_a = mean_a if na else None
    mean_b = mean_b if nb else None
    if na < min_n or nb < min_n:
        return _undefined_effect(na, nb, mean_a, mean_b, None, True,
                                 f"too few observations (n_a={na}, n_b={nb}; need at least {min_n} each)")
    assert mean_a is not None and mean_b is not None and sd_a is not None and sd_b is not None
    pooled_var = ((na - 1) * sd_a**2 + (nb - 1) * sd_b**2) / (na + nb - 2)
    sd_pooled = math.sqrt(pooled_var)
    if sd_pooled == 0.0:
        return _undefined_effect(na, nb, mean_a, mean_b, 0.0, False, "zero pooled standard deviation; effect size undefined")
    d = (mean_a - mean_b) / sd_pooled
    j = 1.0 - 3.0 / (4.0 * (na + nb) - 9.0)
    g = j * d
    se = math.sqrt((na + nb) / (na * nb) + g**2 / (2.0 * (na + nb)))
    return EffectSize(g, g - Z_95 * se, g + Z_95 * se, se, d, na, nb, mean_a, mean_b, sd_pooled, False, None)


def cohens_u3(d: float) -> float:
    """Cohen's U3 = Phi(d): the share of the comparison group below the average
    member of the treated group, assuming normal distributions with equal SD.

    E.g. d = 0.48 gives U3 = 0.684 (Kazantzis, Whittington & Dattilio 2010:
    homework vs no homework). Returned as a proportion in [0, 1], not a percent.
    Source: Cohen (1988), Statistical Power Analysis, ch. 2.
    """
    return float(stats.norm.cdf(d))


def r_to_d(r: float) -> float:
    """Convert a correlation r to a standardised mean difference d = 2r / sqrt(1 - r^2).

    Assumes equal group sizes (Rosenthal 1994; Borenstein et al. 2009, ch. 7).
    |r| = 1 returns +/-inf; |r| > 1 raises ``ValueError``.
    """
    if not -1.0 <= r <= 1.0:
        raise ValueError(f"r must be in [-1, 1], got {r!r}")
    if abs(r) == 1.0:
        return math.copysign(math.inf, r)
    return 2.0 * r / math.sqrt(1.0 - r * r)


def d_to_r(d: float) -> float:
    """Convert a standardised mean difference d to a correlation r = d / sqrt(d^2 + 4).

    Inverse of :func:`r_to_d` (equal group sizes; Borenstein et al. 2009, ch. 7).
    """
    if math.isinf(d):
        return math.copysign(1.0, d)
    return d / math.sqrt(d * d + 4.0)


# --------------------------------------------------------------------------- proportions


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval for a binomial proportion (e.g. a recovery rate).

    centre = (p + z^2/(2n)) / (1 + z^2/n),
    half-width = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/(4n^2)), p = successes / n.
    Source: Wilson (1927), JASA 22, 209-212; recommended over the Wald interval by
    Brown, Cai & DasGupta (2001). Matches
    ``statsmodels.stats.proportion.proportion_confint(method="wilson")``.

    Returns ``(low, high)`` as proportions in [0, 1] (exactly 0 when successes == 0
    and exactly 1 when successes == n), or ``None`` when ``n == 0``.
    Raises ``ValueError`` for negative counts or successes > n.
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return None
    z = _z_for(confidence)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


# --------------------------------------------------------------------------- funnel plots


def funnel_column_names(level: float) -> tuple[str, str]:
    """Column names used by the funnel functions for a control-limit level.

    0.95 -> ("lower_95", "upper_95"); 0.998 -> ("lower_99_8", "upper_99_8").
    """
    label = f"{level * 100:.10g}".replace(".", "_")
    return (f"lower_{label}", f"upper_{label}")


def _denominators(denominators: Iterable[Any]) -> np.ndarray:
    n = _to_float_array(denominators)
    if np.any(np.isnan(n)):
        raise ValueError("denominators must not contain missing values")
    if np.any(n < 0):
        raise ValueError("denominators must be >= 0")
    return n


def _funnel_frame(
    centre: float,
    spread: np.ndarray,
    n: np.ndarray,
    levels: Sequence[float],
    clip: tuple[float, float] | None,
    n_raw: Iterable[Any],
) -> pd.DataFrame:
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.where(n > 0, spread / np.sqrt(np.where(n > 0, n, 1.0)), np.nan)
    out = pd.DataFrame({"n": pd.Series(n_raw).reset_index(drop=True)})
    for level in levels:
        z = _z_for(level)
        low = centre - z * se
        high = centre + z * se
        if clip is not None:
            low = np.clip(low, *clip)
            high = np.clip(high, *clip)
        lo_name, hi_name = funnel_column_names(level)
        out[lo_name] = low
        out[hi_name] = high
    out.attrs.update(
        {"centre": centre, "levels": tuple(float(v) for v in levels), "z": {float(v): _z_for(v) for v in levels}}
    )
    return out


def _exact_binomial_limit(p: float, n: np.ndarray, q: float) -> np.ndarray:
    """The q quantile of Binomial(n, p) as a proportion: r / n, r the smallest integer with
    P(R <= r) >= q (``scipy.stats.binom.ppf``). ``n`` must hold positive whole numbers (others
    give NaN).

    Not interpolated (Spiegelhalter 2005, appendix A.1.1, interpolates between r - 1 and r to
    draw smooth curves; that moves the limit inside the attainable counts, so at n = 5, p = 0.5
    a unit with 5 of 5 - probability 1/32 - would fall outside the 99.8% limit). With the plain
    quantile a count y is strictly above the upper limit exactly when P(R >= y) <= (1 - q), and
    strictly below the lower limit exactly when P(R <= y) < q: an exact binomial test.
    """
    out = np.full(n.shape, np.nan)
    ok = (n > 0) & (n == np.floor(n))
    nn = n[ok]
    out[ok] = stats.binom.ppf(q, nn, p) / nn
    return out


def funnel_limits(
    overall_rate: float,
    denominators: Iterable[Any],
    *,
    levels: Sequence[float] = (0.95, 0.998),
    method: Literal["normal", "exact"] = "normal",
) -> pd.DataFrame:
    """Funnel-plot control limits for a proportion (e.g. each therapist's recovery rate).

    ``method="normal"``: for each denominator n, p -/+ z * sqrt(p (1 - p) / n), clipped to
    [0, 1], with p = ``overall_rate`` (a proportion in [0, 1], not a percent) and z the
    two-sided normal critical value for each level (95%: 1.959964, 99.8%: 3.090232).

    ``method="exact"``: exact binomial limits: the lower limit is the (1 - level) / 2
    quantile and the upper the (1 + level) / 2 quantile of Binomial(n, p), divided by n
    (:func:`_exact_binomial_limit`; Spiegelhalter 2005, appendix A.1.1, without the
    interpolation). A unit strictly outside them fails an exact one-sided binomial test at
    (1 - level) / 2. They differ from the normal approximation at small n or p near 0 or 1
    (n = 25, p = 0.5: 95% limits 0.32 to 0.68, normal 0.304 to 0.696; n = 5: 0 to 1, normal
    0.062 to 0.938) and agree with it as n grows. Denominators must be whole numbers for the
    exact method (others get NaN limits).

    Source: Spiegelhalter (2005), "Funnel plots for comparing institutional
    performance", Statistics in Medicine 24, 1185-1202.

    Args:
        overall_rate: Target / pooled proportion in [0, 1].
        denominators: Unit sizes (counts >= 0, no missing values), or a grid of n
            for drawing the funnel curve.
        levels: Control-limit coverage levels in (0, 1).

    Returns:
        DataFrame with column ``n`` (as given, in input order) and, per level,
        the columns named by :func:`funnel_column_names` (e.g. ``lower_95``,
        ``upper_95``, ``lower_99_8``, ``upper_99_8``). Rows with n == 0 have NaN
        limits (no limits exist for an empty unit). ``df.attrs`` holds the centre
        and the z values.
    """
    p = finite_or_none(overall_rate)
    if p is None or not 0.0 <= p <= 1.0:
        raise ValueError(f"overall_rate must be a proportion in [0, 1], got {overall_rate!r}")
    n = _denominators(denominators)
    spread = np.full_like(n, math.sqrt(p * (1.0 - p)))
    if method == "normal":
        return _funnel_frame(p, spread, n, levels, (0.0, 1.0), denominators)
    if method != "exact":
        raise ValueError(f"method must be 'normal' or 'exact', got {method!r}")
    out = _funnel_frame(p, spread, n, levels, (0.0, 1.0), denominators)
    for level in levels:
        lo_name, hi_name = funnel_column_names(level)
        tail = (1.0 - level) / 2.0
        out[lo_name] = np.clip(_exact_binomial_limit(p, n, tail), 0.0, 1.0)
        out[hi_name] = np.clip(_exact_binomial_limit(p, n, 1.0 - tail), 0.0, 1.0)
    out.attrs["method"] = "exact"
    return out


def funnel_limits_mean(
    overall_mean: float,
    overall_sd: float,
    denominators: Iterable[Any],
    *,
    levels: Sequence[float] = (0.95, 0.998),
) -> pd.DataFrame:
    """Funnel-plot control limits for a unit mean of a continuous measure.

    For each n: mean -/+ z * sd / sqrt(n) (not clipped), e.g. mean PHQ-9 change per
    therapist, with ``overall_mean`` and ``overall_sd`` in the measure's units
    (``overall_sd`` is the client-level SD, >= 0). Same columns, levels and n == 0
    handling as :func:`funnel_limits`. Source: Spiegelhalter (2005), section 3.
    """
    m = finite_or_none(overall_mean)
    s = finite_or_none(overall_sd)
    if m is None or s is None or s < 0:
        raise ValueError("overall_mean must be finite and overall_sd finite and >= 0")
    n = _denominators(denominators)
    return _funnel_frame(m, np.full_like(n, s), n, levels, None, denominators)


# --------------------------------------------------------------------------- Jacobson-Truax


def _jt_inputs(pre: Any, post: Any) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    if isinstance(pre, pd.Series) and isinstance(post, pd.Series) and not pre.index.equals(post.index):
        if pre.index.has_duplicates or set(pre.index) != set(post.index):
            raise ValueError("pre and post Series must share the same index labels")
        post = post.reindex(pre.index)
    pre_a = _to_float_array(pre)
    post_a = _to_float_array(post)
    if pre_a.shape != post_a.shape:
        raise ValueError(f"pre and post must have the same length ({pre_a.size} != {post_a.size})")
    if isinstance(pre, pd.Series):
        index = pre.index
    elif isinstance(post, pd.Series):
        index = post.index
    else:
        index = pd.RangeIndex(pre_a.size)
    return pre_a, post_a, index


def jacobson_truax(
    pre: Iterable[Any],
    post: Iterable[Any],
    *,
    reliability: float,
    sd_pre: float | None = None,
    functional_mean: float | None = None,
    functional_sd: float | None = None,
    lower_is_better: bool = True,
    dysfunctional_mean: float | None = None,
    dysfunctional_sd: float | None = None,
    cutoff: Literal["a", "b", "c"] = "c",
) -> pd.DataFrame:
    """Jacobson & Truax (1991) reliable change index and clinical significance.

    Source: Jacobson & Truax (1991), J Consult Clin Psychol 59, 12-19; categories
    and tie rules as in the R package ``clinicalsignificance`` (Claus et al., J Stat
    Softw 111). Reproduces that package's results for the Claus et al. (2020) HAMD
    data (see ``tests/test_statistics.py``).

    Computation (all in the measure's score units except RC, which is unitless):

    * SD_pre: ``sd_pre`` if given (e.g. a published norm), else the sample SD
      (ddof=1) of the pre scores of the complete pairs.
    * SE = SD_pre * sqrt(1 - reliability); S_diff = sqrt(2 SE^2); RC = (post - pre) / S_diff.
    * Reliable change when |RC| > 1.959964 (strictly; ``norm.ppf(0.975)``). With
      ``lower_is_better`` reliable improvement is RC < -1.959964 and reliable
      deterioration RC > 1.959964; ``lower_is_better=False`` mirrors both.
    * With ``functional_mean`` and ``functional_sd`` (both or neither): cut-off
      c = (SD_dys * M_func + SD_func * M_dys) / (SD_dys + SD_func), where M_dys and
      SD_dys default to the mean and sample SD of the complete pre scores.
      Lower is better: the pre score is on the dysfunctional side when pre > c, the
      post score on the functional side when post < c (a score exactly at c
      counts as functional before and dysfunctional after, as in the R package).
      ``crossed_cutoff`` = dysfunctional pre and functional post.
    * ``cutoff`` chooses the clinical-significance cut-off (Jacobson & Truax 1991, p. 13):
      "c" (default, above); "a" = M_dys - 2 SD_dys (lower is better; + for higher is better):
      beyond the range of the dysfunctional population, needs no functional norms; "b" =
      M_func + 2 SD_func (lower is better; - for higher is better): within the range of the
      functional population, needs ``functional_mean`` and ``functional_sd``. The same side
      and tie rules apply to every cut-off. ``attrs`` gives every cut-off that the norms
      allow (``cutoff_a``, ``cutoff_b``, ``cutoff_c``), the one used (``cutoff``) and its value
      (``cutoff_value``).

    Categories: without norms "improved" / "unchanged" / "deteriorated"; with norms
    "recovered" (reliable improvement and crossed c), "improved" (reliable
    improvement, not crossed), "unchanged", "deteriorated" (reliable worsening, not
    harmed), "harmed" (reliable worsening, pre on the functional side and post on
    the dysfunctional side). Rows with a missing pre or post get NaN rc/change,
    ``<NA>`` flags and a missing category.

    Minimum: 1 complete pair when ``sd_pre`` (and, with norms, ``dysfunctional_sd``)
    is supplied; otherwise 2 complete pairs whose pre scores are not all equal.
    Below that every row is left uncategorised and ``attrs["too_few"]`` is True.

    Args:
        pre, post: Scores per client (equal length; pairs are positional). If a
            Series is passed its index is kept (two Series are aligned by index).
        reliability: Test-retest or internal-consistency reliability r_xx in [0, 1).
        sd_pre: Optional reference SD for the standard error of measurement.
        functional_mean, functional_sd: Functional (non-clinical) population norms.
        lower_is_better: True for symptom measures such as PHQ-9, GAD-7, HAMD.
        dysfunctional_mean, dysfunctional_sd: Override the clinical population norms.

    Returns:
        DataFrame (index as described) with columns ``pre``, ``post``, ``change``
        (post - pre), ``rc``, ``reliable_improvement``, ``reliable_deterioration``
        (nullable booleans), ``crossed_cutoff`` (nullable boolean; all ``<NA>``
        without norms), ``category`` (pandas ``str`` dtype, NaN when
        uncategorised; values from :data:`JT_CATEGORIES`), then
        ``dysfunctional_pre`` and ``functional_post`` (nullable booleans, all
        ``<NA>`` without norms). ``df.attrs`` holds: ``n_complete``, ``too_few``,
        ``message``, ``reliability``, ``lower_is_better``, ``sd_pre``, ``se``,
        ``s_diff``, ``critical_value``, ``cutoff_c``, ``functional_mean``,
        ``functional_sd``, ``dysfunctional_mean``, ``dysfunctional_sd`` (floats or None).
    """
    if not 0.0 <= reliability < 1.0:
        raise ValueError(f"reliability must be in [0, 1), got {reliability!r}")
    if (functional_mean is None) != (functional_sd is None):
        raise ValueError("give both functional_mean and functional_sd, or neither")
    if functional_sd is not None and not functional_sd > 0:
        raise ValueError("functional_sd must be > 0")
    if sd_pre is not None and not sd_pre > 0:
        raise ValueError("sd_pre must be > 0")
    if dysfunctional_sd is not None and not dysfunctional_sd > 0:
        raise ValueError("dysfunctional_sd must be > 0")
    if cutoff not in ("a", "b", "c"):
        raise ValueError(f"cutoff must be 'a', 'b' or 'c', got {cutoff!r}")
    if cutoff == "b" and functional_mean is None:
        raise ValueError("cut-off b needs functional_mean and functional_sd")

    pre_a, post_a, index = _jt_inputs(pre, post)
    complete = ~(np.isnan(pre_a) | np.isnan(post_a))
    n_complete = int(complete.sum())
    pre_c = pre_a[complete]
    use_norms = functional_mean is not None or cutoff == "a"
    crit = Z_95
    direction = 1.0 if lower_is_better else -1.0

    message: str | None = None
    sd_used: float | None = sd_pre
    if sd_used is None:
        if n_complete < 2:
            message = f"too few complete pairs to estimate SD_pre (n={n_complete}, need 2)"
        elif _is_constant(pre_c):
            message = "pre scores have zero variance; SD_pre undefined (pass sd_pre)"
        else:
            sd_used = float(np.std(pre_c, ddof=1))
    if message is None and n_complete < 1:
        message = "no complete pre/post pairs"

    m_dys = dysfunctional_mean
    sd_dys = dysfunctional_sd
    cut_value: float | None = None
    cutoffs: dict[str, float | None] = {"a": None, "b": None, "c": None}
    if use_norms and message is None:
        if m_dys is None:
            m_dys = float(pre_c.mean())
        if sd_dys is None:
            if n_complete < 2 or _is_constant(pre_c):
                message = "too few distinct pre scores to estimate the dysfunctional SD"
            else:
                sd_dys = float(np.std(pre_c, ddof=1))
        if message is None:
            assert sd_dys is not None
            cutoffs["a"] = m_dys - direction * 2.0 * sd_dys
            if functional_mean is not None and functional_sd is not None:
                cutoffs["b"] = functional_mean + direction * 2.0 * functional_sd
                cutoffs["c"] = (sd_dys * functional_mean + functional_sd * m_dys) / (sd_dys + functional_sd)
            cut_value = cutoffs[cutoff]

    too_few = message is not None
    se = s_diff = None
    change = post_a - pre_a
    rc = np.full(pre_a.shape, np.nan)
    if not too_few:
        assert sd_used is not None
        se = sd_used * math.sqrt(1.0 - reliability)
        s_diff = math.sqrt(2.0 * se**2)
        rc = change / s_diff

    sign = 1.0 if lower_is_better else -1.0
    valid = complete & (not too_few)
    na_bool = pd.array([pd.NA] * pre_a.size, dtype="boolean")

    def flags(values: np.ndarray) -> pd.arrays.BooleanArray:
        return pd.array(np.where(valid, values, pd.NA).tolist(), dtype="boolean")

    with np.errstate(invalid="ignore"):
        improve = sign * rc < -crit
        worsen = sign * rc > crit
    if cut_value is not None:
        dys_pre = sign * pre_a > sign * cut_value
        func_post = sign * post_a < sign * cut_value
        crossed = dys_pre & func_post
        harmed = ~dys_pre & ~func_post & worsen
    else:
        dys_pre = func_post = crossed = harmed = np.zeros(pre_a.shape, dtype=bool)

    if cut_value is not None:
        choices = ["recovered", "improved", "harmed", "deteriorated"]
        conds = [improve & crossed, improve, harmed, worsen]
    else:
        choices = ["improved", "deteriorated"]
        conds = [improve, worsen]
    category = np.select(conds, choices, default="unchanged").astype(object)
    category[~valid] = None

    out = pd.DataFrame(
        {
            "pre": pre_a,
            "post": post_a,
            "change": change,
            "rc": rc,
            "reliable_improvement": flags(improve),
            "reliable_deterioration": flags(worsen),
            "crossed_cutoff": flags(crossed) if cut_value is not None else na_bool.copy(),
            "category": pd.array(category, dtype="str"),
            "dysfunctional_pre": flags(dys_pre) if cut_value is not None else na_bool.copy(),
            "functional_post": flags(func_post) if cut_value is not None else na_bool.copy(),
        },
        index=index,
    )
    out.attrs.update(
        {
            "n_complete": n_complete,
            "too_few": too_few,
            "message": message,
            "reliability": float(reliability),
            "lower_is_better": bool(lower_is_better),
            "sd_pre": sd_used,
            "se": se,
            "s_diff": s_diff,
            "critical_value": crit,
            "cutoff_c": cutoffs["c"],
            "cutoff_a": cutoffs["a"],
            "cutoff_b": cutoffs["b"],
            "cutoff": cutoff,
            "cutoff_value": cut_value,
            "functional_mean": finite_or_none(functional_mean),
            "functional_sd": finite_or_none(functional_sd),
            "dysfunctional_mean": finite_or_none(m_dys) if use_norms else None,
            "dysfunctional_sd": finite_or_none(sd_dys) if use_norms else None,
        }
    )
    return out


# --------------------------------------------------------------------------- mixed model


@dataclass(frozen=True)
class MixedModelResult:
    """Within- and between-person effects from a random-intercept model.

    Coefficients are in outcome units per predictor unit. ``within_*`` is the
    association between a person's deviation from their own mean predictor and
    the outcome (e.g. "weeks with more homework than usual for this client have
    lower PHQ-9"); ``between_*`` is the association between people's mean
    predictor and the outcome. Both are associations, not causal effects.

    Attributes:
        within_coef, within_ci, within_p: Within-person slope, its confidence
            interval (low, high) and two-sided Wald p-value.
        between_coef, between_ci, between_p: Between-person slope, CI and p-value.
        intercept: Expected outcome at the grand-mean predictor.
        group_variance, residual_variance: Random-intercept and residual variances
            (outcome units squared).
        n_observations, n_groups: Rows and groups used in the fit.
        converged: True when the optimiser converged without warnings.
        too_few: True when the data were below the documented minimum.
        message: Why coefficients are missing, or the warnings raised while fitting.
    """

    within_coef: float | None
    within_ci: tuple[float, float] | None
    within_p: float | None
    between_coef: float | None
    between_ci: tuple[float, float] | None
    between_p: float | None
    intercept: float | None
    group_variance: float | None
    residual_variance: float | None
    n_observations: int
    n_groups: int
    converged: bool
    too_few: bool
    message: str | None = None


def _empty_mixed(n_obs: int, n_groups: int, too_few: bool, message: str) -> MixedModelResult:
    return MixedModelResult(
        None, None, None, None, None, None, None, None, None, n_obs, n_groups, False, too_few, message
    )


def within_between_model(
    df: pd.DataFrame,
    *,
    outcome: str,
    predictor: str,
    group: str,
    confidence: float = 0.95,
    covariates: tuple[str, ...] = (),
) -> MixedModelResult:
    """Separate within- and between-person associations: the within-between ("hybrid")
    random-intercept model, fitted by REML (Bell & Jones 2015, Political Science Research and
    Methods 3, 133-153; Curran & Bauer 2011, Annu Rev Psychol 62, 583-619).

    outcome ~ 1 + (x - client mean) + (client mean - grand mean) + (1 | client), Wald
    intervals. Minimum: ``MIXEDLM_MIN_OBSERVATIONS`` rows and ``MIXEDLM_MIN_GROUPS`` groups with
    at least ``MIXEDLM_MIN_OBS_PER_GROUP`` rows each (groups with one row inform the between
    effect); below that, or if the predictor does not vary within or between groups, the
    coefficients are ``None`` and ``message`` says why. Why not statsmodels' MixedLM: on
    week-to-week *change* the random-intercept variance is at or near its boundary (0) -
    measurement error makes successive changes of one client negatively correlated - and
    statsmodels' gradient optimisers then fail to converge and take 1.6 s for 200 clients and
    ~30 s for 3,000 (measured on the sample clinic). Here, for a variance ratio gamma =
    sigma_u^2 / sigma_e^2, the GLS normal equations reduce to group sums
    (X'V^-1X * sigma^2 = X'X - sum_i n_i^2 gamma / (1 + n_i gamma) xbar_i xbar_i'), sigma^2 is
    profiled out, and the REML criterion (N - p) log RSS + sum_i log(1 + n_i gamma) +
    log det(X'V^-1X sigma^2) is minimised over gamma in [0, 1e4] (bounded Brent on log gamma,
    and gamma = 0 itself). Fixed-effect covariance: sigma^2 (X'V^-1X)^-1 (GLS). Agrees with
    statsmodels MixedLM (REML) to optimiser precision where statsmodels converges: the
    cross-check is a test (tests/mixedlm_reference.py).

    ``covariates``: further columns entered as fixed effects beside the within and between
    terms (grand-mean centred, so the intercept stays the expected outcome at the average of
    everything), e.g. the score at the start of the interval and the week since intake. The
    within and between slopes are then adjusted for them. Rows with a missing covariate are
    dropped.
    """
    for col in (outcome, predictor, group, *covariates):
        if col not in df.columns:
            raise ValueError(f"column {col!r} not in DataFrame")
    return within_between_from_groups(
        group_moments(df, group=group, columns=(outcome, predictor, *covariates)),
        outcome=outcome, predictor=predictor, covariates=covariates, confidence=confidence,
    )


def group_moments(df: pd.DataFrame, *, group: str, columns: Sequence[str]) -> pd.DataFrame:
    """Per group of ``df``, what :func:`within_between_from_groups` fits from: ``n`` (rows),
    ``mean_<v>`` and ``cross_<u>_<v>`` (the sum over the group's rows of (u - mean u)(v - mean v))
    for the ``columns``, over the rows where every column is finite and the group is known. The
    database computes the same per-client figures for the within-client model
    (``cohort_score_interval_moments.sql``)."""
    values = np.column_stack(
        [pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan) for c in columns]
    ) if len(columns) else np.empty((len(df), 0))
    keep = np.isfinite(values).all(axis=1) & df[group].notna().to_numpy()
    values = values[keep]
    codes, uniques = pd.factorize(df[group].to_numpy()[keep])
    sizes = np.bincount(codes, minlength=len(uniques)).astype(float)
    out: dict[str, Any] = {"group": uniques, "n": sizes.astype(int)}
    means = np.column_stack([np.bincount(codes, values[:, j], len(uniques)) for j in range(len(columns))]) / np.where(
        sizes > 0, sizes, 1.0)[:, None] if len(uniques) else np.empty((0, len(columns)))
    centred = values - means[codes]
    for j, c in enumerate(columns):
        out[f"mean_{c}"] = means[:, j]
    for j, u in enumerate(columns):
        for k in range(j, len(columns)):
            out[f"cross_{u}_{columns[k]}"] = np.bincount(codes, centred[:, j] * centred[:, k], len(uniques))
    return pd.DataFrame(out)


def within_between_from_groups(
    groups: pd.DataFrame,
    *,
    outcome: str,
    predictor: str,
    covariates: tuple[str, ...] = (),
    confidence: float = 0.95,
) -> MixedModelResult:
    """:func:`within_between_model` from per-group moments (:func:`group_moments`: ``n``,
    ``mean_<v>`` and ``cross_<u>_<v>`` for the outcome, the predictor and the covariates; either
    order of u and v), so the rows themselves need not be at hand: the model is fitted from group
    sums anyway (see :func:`within_between_model`). With x the predictor, g_i a group's mean of x
    and N the rows, the design is 1, x - g_i (within), g_i - mean x (between) and each covariate
    less its mean; its cross-products are the within-group ones plus n_i times the products of the
    group means. The within (between) effect is undefined when the sum of squares of x - g_i
    (of g_i - mean x over rows) is at most N x 1e-16, i.e. when every row is within 1e-8 of zero.
    """
    def cross(u: str, v: str) -> np.ndarray:
        name = f"cross_{u}_{v}" if f"cross_{u}_{v}" in groups.columns else f"cross_{v}_{u}"
        return pd.to_numeric(groups[name], errors="coerce").to_numpy(dtype=float)

    def mean(v: str) -> np.ndarray:
        return pd.to_numeric(groups[f"mean_{v}"], errors="coerce").to_numpy(dtype=float)

    sizes = pd.to_numeric(groups["n"], errors="coerce").to_numpy(dtype=float)
    groups, sizes = groups[sizes > 0], sizes[sizes > 0]
    n_obs, n_groups = int(sizes.sum()), len(sizes)
    n_multi = int((sizes >= MIXEDLM_MIN_OBS_PER_GROUP).sum())

    if n_obs < MIXEDLM_MIN_OBSERVATIONS or n_multi < MIXEDLM_MIN_GROUPS:
        return _empty_mixed(n_obs, n_groups,
            True,
            f"too few observations: {n_obs} rows and {n_multi} groups with >= {MIXEDLM_MIN_OBS_PER_GROUP} rows "
            f"(need >= {MIXEDLM_MIN_OBSERVATIONS} rows and >= {MIXEDLM_MIN_GROUPS} such groups)",
        )
    grand = {v: float(sizes @ mean(v)) / n_obs for v in (predictor, *covariates)}
    between = mean(predictor) - grand[predictor]
    if float(cross(predictor, predictor).sum()) <= n_obs * 1e-16:
        return _empty_mixed(n_obs, n_groups, False, "predictor does not vary within groups; within effect undefined")
    if float(sizes @ between**2) <= n_obs * 1e-16:
        return _empty_mixed(n_obs, n_groups, False, "group means of the predictor are all equal; between effect undefined")

    # Group means of the design's columns (1, within, between, centred covariates) and of y; the
    # within-group cross-products of the columns that vary within a group (within, covariates).
    xbar = np.column_stack([np.ones(n_groups), np.zeros(n_groups), between,
                            *[mean(c) - grand[c] for c in covariates]])
    ybar = mean(outcome)
    p = xbar.shape[1]
    varying = {1: predictor, **{3 + k: c for k, c in enumerate(covariates)}}
    w_xx = np.zeros((p, p))
    w_xy = np.zeros(p)
    for j, u in varying.items():
        w_xy[j] = float(cross(u, outcome).sum())
        for k, v in varying.items():
            w_xx[j, k] = float(cross(u, v).sum())
    xtx = w_xx + (xbar * sizes[:, None]).T @ xbar
    xty = w_xy + (xbar * sizes[:, None]).T @ ybar
    yty = float(cross(outcome, outcome).sum()) + float(sizes @ ybar**2)

    def gls(gamma: float) -> tuple[np.ndarray, np.ndarray, float]:
        w = sizes**2 * gamma / (1.0 + sizes * gamma)
        a = xtx - (xbar * w[:, None]).T @ xbar
        b = xty - (xbar * w[:, None]).T @ ybar
        c = yty - float((w * ybar**2).sum())
        beta = np.linalg.solve(a, b)
        return a, beta, c - float(b @ beta)

    def criterion(gamma: float) -> float:
        a, _, rss = gls(gamma)
        _, logdet = np.linalg.slogdet(a)
        return (n_obs - p) * math.log(max(rss, 1e-300)) + float(np.log1p(sizes * gamma).sum()) + logdet

    try:
        search = optimize.minimize_scalar(
            lambda lg: criterion(math.exp(lg)), bounds=(math.log(1e-8), math.log(1e4)), method="bounded",
            options={"xatol": 1e-6},
        )
        gamma = math.exp(search.x)
        at_boundary = criterion(0.0) <= criterion(gamma)
        if at_boundary:
            gamma = 0.0
        a, beta, rss = gls(gamma)
        scale = rss / (n_obs - p)
        cov = scale * np.linalg.inv(a)
    except (np.linalg.LinAlgError, ValueError, ArithmeticError) as exc:
        return _empty_mixed(n_obs, n_groups, False, f"model fit failed: {exc}")
    se = np.sqrt(np.diag(cov))
    z_crit = float(stats.norm.ppf(1.0 - (1.0 - confidence) / 2.0))
    z = beta / se
    p_values = 2.0 * stats.norm.sf(np.abs(z))
    message = (
        "random-intercept variance estimated at 0 (boundary): the estimates equal ordinary least squares"
        if at_boundary
        else None
    )
    return MixedModelResult(
        within_coef=float(beta[1]),
        within_ci=(float(beta[1] - z_crit * se[1]), float(beta[1] + z_crit * se[1])),
        within_p=float(p_values[1]),
        between_coef=float(beta[2]),
        between_ci=(float(beta[2] - z_crit * se[2]), float(beta[2] + z_crit * se[2])),
        between_p=float(p_values[2]),
        intercept=float(beta[0]),
        group_variance=float(gamma * scale),
        residual_variance=float(scale),
        n_observations=n_obs,
        n_groups=n_groups,
        converged=bool(search.success),
        too_few=False,
        message=message,
    )


# --------------------------------------------------------------------------- means


def mean_ci(values: Iterable[Any], confidence: float = 0.95) -> tuple[float | None, float | None, float | None, int]:
    """Mean with a t-distribution confidence interval.

    mean -/+ t_{n-1, 1-alpha/2} * s / sqrt(n), s the sample SD (ddof=1).
    Missing values are dropped. Returns ``(mean, low, high, n)`` in the values'
    units; ``mean`` is ``None`` when n == 0 and ``low``/``high`` are ``None`` when
    n < 2 (minimum 2). Zero spread gives low == high == mean.
    """
    _z_for(confidence)  # validates
    arr = _to_float_array(values)
    arr = arr[~np.isnan(arr)]
    n = int(arr.size)
    if n == 0:
        return (None, None, None, 0)
    mean = float(arr.mean())
    if n < 2:
        return (mean, None, None, n)
    sem = float(arr.std(ddof=1)) / math.sqrt(n)
    t = float(stats.t.ppf(1.0 - (1.0 - confidence) / 2.0, n - 1))
    return (mean, mean - t * sem, mean + t * sem, n)
