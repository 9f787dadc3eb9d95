"""Cohort outcomes: how homework quantity and quality relate to symptom change in a cohort.

Pure Python (no Streamlit). The Cohort outcomes page (``pages/cohort_outcomes.py``) calls
:func:`cohort_report`, :func:`within_client_analysis` and :func:`clinical_significance`
through ``ui.run``; every figure it shows is defined here or in :mod:`analytics.metrics`,
and documented in ``docs/metrics.md`` ("Cohort outcomes").

Heavy lifting happens in DuckDB (``analytics/cohort_outcomes/sql/cohort_*.sql`` over the macro
``cohort_measure_clients``: counts and moments per band, the relations' sums, weekly means with n
and SD, assignment-design aggregates, score-interval moments); aggregates come into pandas, and
rows per client only where their number is capped (the scatter's points up to
:data:`MAX_SCATTER_POINTS`, the within-client model's sample of :data:`MIXEDLM_MAX_CLIENTS`). The
functions on a per-client frame (:func:`cohort_client_frame`) are the Python references of the
SQL aggregates (the tests compare them) and serve the de-identified view.

Conventions:

* Change is last - first in the measure's points, signed as the scale. Lower scores are
  better on every shipped measure (``docs/clinical-reference.md``), so there change is
  negative when a client improved and a *helpful* compliance-outcome relation is a
  **negative** correlation with change; on a higher-is-better measure
  (``MeasureDefinition.direction = "higher"``) both signs are positive. Published yardsticks
  are converted to the measure's scale (:func:`published_yardsticks`), and every text that
  names a sign reads it from the measure (:func:`helpful_sign`).
* Every statistic carries its n. Below ``Settings.min_clients_for_statistic`` clients (or the
  statistic's own minimum, whichever is larger) the estimate is withheld (``None`` / NaN, with
  ``too_few`` set) and the page says "too few clients".
* Everything here is correlational: it does not show that homework caused a change, intervals
  are wide when n is small, and nothing here says why one client did or did not improve.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..config import DESIGN_CHECKLIST, DESIGN_CHECKLIST_LABELS, Settings, active_settings
from ..db import ClinicDatabase
from ..metrics import (
    client_homework,
    client_measure_outcomes,
    compliance_band,
    compliance_band_labels,
    cut_values,
    measure_summary,
)
from ..scope import CohortFilter, Viewer, query_params
from ..statistics import (
    Z_95,
    Correlation,
    EffectSize,
    MixedModelResult,
    cohens_u3,
    correlation_from_r,
    d_to_r,
    finite_or_none,
    hedges_g,
    hedges_g_from_moments,
    mean_ci,
    pearson,
    spearman,
    wilson_interval,
    within_between_from_groups,
)

__all__ = [
    "AdjustedRelation",
    "AssignmentDesign",
    "BandEffect",
    "CAVEAT",
    "CHANGE_BIN_WIDTH",
    "COMPLIANCE_BIN_WIDTH",
    "ClinicalSignificance",
    "CohortReport",
    "ComplianceRelation",
    "DEFAULT_RELIABILITY",
    "HeadlineFigure",
    "JTNorms",
    "MAX_SCATTER_POINTS",
    "PUBLISHED_YARDSTICKS",
    "TOO_FEW",
    "WithinClientAnalysis",
    "Yardstick",
    "adjusted_from_sums",
    "adjusted_relation",
    "assignment_design",
    "band_change",
    "band_change_from_groups",
    "band_counts",
    "band_counts_from_groups",
    "band_effect_from_groups",
    "band_effect_sign_text",
    "band_effect_size",
    "client_query_params",
    "clients_below_min_reviewed",
    "clinical_significance",
    "cohort_client_frame",
    "cohort_report",
    "compliance_bins",
    "compliance_change",
    "compliance_points",
    "default_jt_norms",
    "follow_up_by_band",
    "follow_up_from_bands",
    "grid_from_groups",
    "headline_figures",
    "helpful_sign",
    "outcome_rates_by_band",
    "outcome_rates_from_groups",
    "published_yardsticks",
    "quantity_quality_grid",
    "relation_comparison",
    "relation_from_sums",
    "relation_lead",
    "relation_scale_text",
    "reliable_improvement_definitions",
    "report_requests",
    "score_trajectories",
    "t_interval",
    "within_client_analysis",
    "within_client_question",
    "within_client_sign_note",
]

#: Shown wherever a relation is shown (docs/metrics.md, "Cohort outcomes").
CAVEAT = (
    "Correlational, not causal: these relations do not show that homework caused a change. "
    "Intervals are wide when n is small. Nothing here says why one client did or did not improve."
)
#: Shown instead of a figure whose n is below the minimum.
TOO_FEW = "too few clients"

#: Trajectories: weeks since intake shown (0 = intake week).
TRAJECTORY_MAX_WEEK = 20
#: Compliance against change: up to this many paired clients are drawn one point each; above it the
#: page draws a 2-D histogram (:func:`compliance_bins`), so no query returns more rows than this.
MAX_SCATTER_POINTS = 2000
#: The 2-D histogram's bins: compliance in steps of 10 percentage points, change in steps of 2 points
#: (PHQ-9: at most 10 x 28 bins).
COMPLIANCE_BIN_WIDTH = 0.1
CHANGE_BIN_WIDTH = 2.0
#: Within-client model: at most this many clients (chosen deterministically) are fitted.
MIXEDLM_MAX_CLIENTS = 3000
#: Within-client model: longest interval between two consecutive scores that is used (days).
MAX_INTERVAL_DAYS = 28
#: Quantity x quality 2x2: a client is "high" on quantity (quality) at or above this fraction.
#: 0.5 = at least half of the homework done (quantity), rated at least "adequately" (2 of 4)
#: on average (quality).
QUANTITY_QUALITY_SPLIT = 0.5
COMPLIANCE_MEASURES = ("quantity", "quality")
ALL_CLIENTS = "All clients"

OUTCOMES = (
    # (label, numerator key in measure_summary, denominator key)
    ("Recovery", "recovered", "caseness_at_first"),
    ("Reliable improvement", "reliable_improvement", "clients_paired"),
    ("Reliable deterioration", "reliable_deterioration", "clients_paired"),
)


def _min_n(settings: Settings, own_minimum: int = 1) -> int:
    """The minimum n for a statistic: the clinic's setting or the statistic's own, if larger."""
    return settings.minimum_n(own_minimum)


def t_interval(mean: Any, sd: Any, n: Any, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised t confidence interval of a mean from aggregates (mean, sample SD, n).

    mean -/+ t_{n-1, 1-alpha/2} * sd / sqrt(n): the same interval as
    :func:`analytics.statistics.mean_ci` computes from the raw values, for aggregates that
    DuckDB already reduced. NaN where n < 2.
    """
    mean = np.asarray(mean, dtype=float)
    sd = np.nan_to_num(np.asarray(sd, dtype=float), nan=0.0)
    n = np.asarray(n, dtype=float)
    ok = n >= 2
    t = np.where(ok, stats.t.ppf(1.0 - (1.0 - confidence) / 2.0, np.where(ok, n - 1, 1)), np.nan)
    half = t * sd / np.sqrt(np.where(ok, n, 1))
    return np.where(ok, mean - half, np.nan), np.where(ok, mean + half, np.nan)


# --------------------------------------------------------------------------- per-client frame


def cohort_client_frame(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None, measure: str, settings: Settings | None = None
) -> pd.DataFrame:
    """One row per cohort client with homework or a score on ``measure``.

    Columns: client_id, assignments, reviewed_assignments, quantity, quality (0-1, from
    :func:`analytics.metrics.client_homework`), band (:func:`analytics.metrics.compliance_band`
    of quantity; None without a quantity), and the outcome columns of
    :func:`analytics.metrics.client_outcomes` for ``measure`` (first_score, last_score, paired,
    change, reliable_improvement, reliable_deterioration, caseness_at_first, recovered, ...).
    """
    settings = settings or active_settings()
    return _client_frame(
        client_homework(db, viewer, cohort, settings),
        client_measure_outcomes(db, viewer, cohort, settings, measures=[measure]), measure, settings,
    )


def _client_frame(homework: pd.DataFrame, outcomes: pd.DataFrame, measure: str, settings: Settings) -> pd.DataFrame:
    scores = outcomes[outcomes["measure"] == measure].drop(
        columns=[c for c in homework.columns if c != "client_id" and c in outcomes.columns])
    frame = homework.merge(scores, on="client_id", how="outer").sort_values("client_id", ignore_index=True)
    frame["measure"] = measure
    frame["paired"] = frame["paired"].fillna(False).astype(bool)
    frame["band"] = compliance_band(frame["quantity"], settings, frame["reviewed_assignments"])
    return frame


def clients_below_min_reviewed(frame: pd.DataFrame, settings: Settings) -> int:
    """Clients with a quantity but fewer than ``settings.min_reviewed_for_band`` reviewed
    assignments: left out of every by-band figure and of the quantity x quality 2x2."""
    reviewed = pd.to_numeric(frame["reviewed_assignments"], errors="coerce").fillna(0)
    return int((frame["quantity"].notna() & (reviewed < settings.min_reviewed_for_band)).sum())


# The columns measure_summary reads, less the compliance columns (so that it skips its correlations).
_SUMMARY_COLUMNS = (
    "client_id",
    "paired",
    "first_score",
    "last_score",
    "change",
    "caseness_at_first",
    "recovered",
    "reliable_improvement",
    "reliable_deterioration",
)


def _outcome_counts(rows: pd.DataFrame) -> dict[str, Any]:
    """:func:`analytics.metrics.measure_summary` of some clients' rows (its counts)."""
    return measure_summary(rows[[c for c in _SUMMARY_COLUMNS if c in rows.columns]])


def _values(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def band_counts(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Clients per compliance band: with a quantity (the band's clients), scored on the measure, paired.

    The ``clients`` column adds up to the cohort's clients with a quantity value less those
    with fewer than ``settings.min_reviewed_for_band`` reviewed assignments
    (:func:`clients_below_min_reviewed`).
    """
    labels = compliance_band_labels(settings)
    scored = frame["first_score"].notna()
    rows = []
    for label in labels:
        in_band = frame["band"] == label
        rows.append(
            {
                "band": label,
                "clients": int(in_band.sum()),
                "scored": int((in_band & scored).sum()),
                "paired": int((in_band & frame["paired"]).sum()),
            }
        )
    return pd.DataFrame(rows, columns=["band", "clients", "scored", "paired"])


# --------------------------------------------------------------------------- compliance vs change


@dataclass(frozen=True)
class ComplianceRelation:
    """A client-level compliance measure (quantity or quality, 0-1) against change (points).

    ``pearson`` / ``spearman`` are over paired clients with a value; ``slope`` is the OLS line
    of change on the compliance fraction (points of change per 1.0 = from none to all), shown
    as the fitted line. ``points`` has one row per client: client_id (left out for viewers who
    see aggregates only, :func:`cohort_report`), band, value, change; the
    band is the client's band of this compliance measure (quality bands for quality: the same
    edges and minimum of reviewed assignments as the quantity bands).
    """

    compliance: str
    n: int
    min_n: int
    pearson: Correlation
    spearman: Correlation
    slope: float | None
    intercept: float | None
    too_few: bool
    points: pd.DataFrame
    #: Above :data:`MAX_SCATTER_POINTS` paired clients, ``points`` is empty and ``bins`` holds the
    #: 2-D histogram drawn instead (:func:`compliance_bins`); None when the points are drawn.
    bins: pd.DataFrame | None = None


def compliance_change(frame: pd.DataFrame, compliance: str, settings: Settings) -> ComplianceRelation:
    """Pearson r (Fisher-z 95% CI) and Spearman rho of a compliance fraction against change."""
    if compliance not in COMPLIANCE_MEASURES:
        raise ValueError(f"compliance must be one of {COMPLIANCE_MEASURES}")
    paired = frame[frame["paired"] & frame[compliance].notna() & frame["change"].notna()]
    points = pd.DataFrame(
        {
            "client_id": paired["client_id"].astype(str).to_numpy(),
            # the band of the compliance measure drawn: quality bands when quality is chosen
            "band": (paired["band"] if compliance == "quantity" else
                     compliance_band(paired[compliance], settings, paired["reviewed_assignments"])).to_numpy(),
            compliance: _values(paired[compliance]),
            "change": _values(paired["change"]),
        }
    )
    min_n = _min_n(settings, 4)  # a Fisher-z interval needs n >= 4
    r = pearson(points[compliance], points["change"], min_n=min_n)
    rho = spearman(points[compliance], points["change"], min_n=min_n)
    slope = intercept = None
    if r.r is not None:
        fit = stats.linregress(points[compliance], points["change"])
        slope, intercept = float(fit.slope), float(fit.intercept)
    return ComplianceRelation(compliance, len(points), min_n, r, rho, slope, intercept, r.r is None, points)


@dataclass(frozen=True)
class AdjustedRelation:
    """A compliance fraction against change, adjusted for baseline severity and weeks in treatment.

    Over paired clients with a compliance value: ``partial_r`` is the partial correlation of
    compliance and change with the first score (baseline severity) and the weeks between the
    first and last score (time in treatment) held constant: Pearson r of the residuals of both
    from an ordinary least squares fit on the two covariates; 95% CI by Fisher z with SE =
    1 / sqrt(n - 3 - 2). ``slope`` (ci_low / ci_high) is the compliance coefficient of the OLS
    regression change ~ compliance + first score + weeks, in points of change per 1.0 of
    compliance (t interval). ``unadjusted_r`` is the plain Pearson r of the same clients.
    ``r_weeks`` is the Pearson r of compliance with weeks (compliance tracks time in treatment).
    """

    compliance: str
    n: int
    min_n: int
    partial_r: float | None
    ci_low: float | None
    ci_high: float | None
    slope: float | None
    slope_ci_low: float | None
    slope_ci_high: float | None
    unadjusted_r: float | None
    r_weeks: float | None
    too_few: bool


#: Covariates of the adjusted relation (docs/metrics.md, "Adjusted r").
ADJUSTMENT_COVARIATES = ("first_score", "weeks")


def adjusted_relation(frame: pd.DataFrame, compliance: str, settings: Settings) -> AdjustedRelation:
    """Partial r of a compliance fraction with change, adjusted for the first score and weeks."""
    if compliance not in COMPLIANCE_MEASURES:
        raise ValueError(f"compliance must be one of {COMPLIANCE_MEASURES}")
    paired = frame[frame["paired"] & frame[compliance].notna() & frame["change"].notna() & frame["first_score"].notna()]
    weeks = (pd.to_datetime(paired["last_date"]) - pd.to_datetime(paired["first_date"])).dt.days.to_numpy(float) / 7.0
    x, y, first = _values(paired[compliance]), _values(paired["change"]), _values(paired["first_score"])
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(first) & np.isfinite(weeks)
    x, y, first, weeks = x[ok], y[ok], first[ok], weeks[ok]
    n = len(x)
    k = len(ADJUSTMENT_COVARIATES)
    min_n = _min_n(settings, k + 4)  # the Fisher-z interval of a partial r needs n - 3 - k >= 1
    empty = AdjustedRelation(compliance, n, min_n, None, None, None, None, None, None, None, None, True)
    if n < min_n:
        return empty
    covariates = np.column_stack([np.ones(n), first, weeks])

    def residual(v: np.ndarray) -> np.ndarray:
        return v - covariates @ np.linalg.lstsq(covariates, v, rcond=None)[0]

    design = np.column_stack([np.ones(n), x, first, weeks])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        return empty  # compliance, first score and weeks are collinear here: no adjusted relation
    partial = pearson(residual(x), residual(y), min_n=min_n)
    if partial.r is None:
        return empty
    se = 1.0 / math.sqrt(n - 3 - k)
    z = math.atanh(max(min(partial.r, 1 - 1e-15), -1 + 1e-15))
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ beta
    dof = n - design.shape[1]
    cov = float(resid @ resid) / dof * np.linalg.inv(design.T @ design)
    half = float(stats.t.ppf(0.975, dof)) * math.sqrt(cov[1, 1])
    return AdjustedRelation(
        compliance, n, min_n, partial.r, math.tanh(z - Z_95 * se), math.tanh(z + Z_95 * se),
        float(beta[1]), float(beta[1] - half), float(beta[1] + half),
        pearson(x, y, min_n=min_n).r, pearson(x, weeks, min_n=min_n).r, False,
    )


# --------------------------------------------------------------------------- bands


def band_change(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Mean change (points) per compliance band with a 95% t interval, over paired clients."""
    labels = compliance_band_labels(settings)
    min_n = _min_n(settings, 2)
    rows = []
    for label in labels:
        values = _values(frame.loc[frame["paired"] & (frame["band"] == label), "change"])
        mean, low, high, n = mean_ci(values)
        shown = n >= min_n
        rows.append(
            {
                "band": label,
                "n": n,
                "mean_change": mean if shown else np.nan,
                "ci_low": low if shown else np.nan,
                "ci_high": high if shown else np.nan,
                "too_few": not shown,
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class BandEffect:
    """Hedges' g of change between the high and the low compliance band.

    g = (mean change of the high band - mean change of the low band) / pooled SD, bias
    corrected; negative when the high band's scores fell more, which is helpful on a
    lower-is-better measure; on a higher-is-better one a positive g is helpful. This is an
    **extreme-groups** comparison: the middle band is left out, which makes g (and its r
    equivalent) larger than a whole-cohort correlation; it is not comparable with published r.
    U3 is the share of the low band that improved less than the average client of the high
    band, assuming normal distributions with equal SD: Phi(-g) (Phi(g) on a higher-is-better
    measure). ``u3_empirical`` is the same share counted: low-band clients whose change is
    worse than the high band's mean change (above it when lower is better, below it when higher
    is better), ties counted as half.
    """

    high_band: str
    low_band: str
    effect: EffectSize
    u3: float | None
    r_equivalent: float | None
    r_ci: tuple[float, float] | None
    min_n: int
    too_few: bool
    sentence: str
    u3_empirical: float | None = None


def band_effect_size(frame: pd.DataFrame, settings: Settings, measure: str | None = None) -> BandEffect:
    higher = measure is not None and measure_higher_is_better(measure, settings)
    labels = compliance_band_labels(settings)
    low_band, high_band = labels[0], labels[-1]
    paired = frame[frame["paired"]]
    high = _values(paired.loc[paired["band"] == high_band, "change"])
    low = _values(paired.loc[paired["band"] == low_band, "change"])
    min_n = _min_n(settings, 2)
    effect = hedges_g(high, low, min_n=min_n)

    def counted_u3() -> float:
        low_values = low[np.isfinite(low)]
        assert effect.mean_a is not None
        worse = (low_values < effect.mean_a) if higher else (low_values > effect.mean_a)
        return float((worse.sum() + 0.5 * (low_values == effect.mean_a).sum()) / len(low_values))

    return _extreme_groups_effect(high_band, low_band, effect, min_n, higher, counted_u3)


def _extreme_groups_effect(high_band: str, low_band: str, effect: EffectSize, min_n: int, higher: bool,
                           counted_u3: Callable[[], float]) -> BandEffect:
    """The extreme-groups :class:`BandEffect` and its sentence: too few clients, or g with Cohen's U3
    and ``counted_u3()`` (the low band's share below / above the high band's mean, ties half)."""
    if effect.g is None:
        sentence = (
            f"{TOO_FEW.capitalize()}: the effect size needs at least {min_n} paired clients in each of the "
            f"{high_band} and {low_band} bands (n = {effect.n_a} and {effect.n_b})."
        )
        return BandEffect(high_band, low_band, effect, None, None, None, min_n, True, sentence)
    u3 = cohens_u3(effect.g if higher else -effect.g)
    u3_empirical = counted_u3()
    r_equiv = d_to_r(effect.g)
    r_ci = (d_to_r(effect.ci_low), d_to_r(effect.ci_high)) if effect.ci_low is not None else None
    sentence = (
        f"Extreme groups ({high_band} against {low_band}; the middle band left out): the average client in the "
        f"{high_band} band improved more than {u3_empirical:.0%} of clients in the {low_band} band (counted; "
        f"{u3:.0%} by Cohen's U3, which assumes normal distributions; n = {effect.n_a} and {effect.n_b})."
    )
    return BandEffect(high_band, low_band, effect, u3, r_equiv, r_ci, min_n, False, sentence, u3_empirical)


def outcome_rates_by_band(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Recovery, reliable improvement and reliable deterioration per band, with Wilson 95% intervals.

    Counts come from :func:`analytics.metrics.measure_summary` of each band's clients (the
    same definitions as the headline figures); the last rows (``All clients``) cover every
    paired client, with or without a band, and equal the headline figures. A rate whose
    denominator is below the minimum is withheld.
    """
    labels = compliance_band_labels(settings)
    min_n = _min_n(settings)
    scored_mask = frame["first_score"].notna().to_numpy()
    scored = frame.loc[scored_mask, list(_SUMMARY_COLUMNS)]
    band = frame.loc[scored_mask, "band"].to_numpy()
    groups = [(label, scored[band == label]) for label in labels] + [(ALL_CLIENTS, scored)]
    rows = []
    for label, group in groups:
        summary = _outcome_counts(group) if len(group) else None
        for outcome, num_key, den_key in OUTCOMES:
            count = int(summary[num_key]) if summary else 0
            denominator = int(summary[den_key]) if summary else 0
            shown = denominator >= min_n
            interval = wilson_interval(count, denominator) if shown else None
            rows.append(
                {
                    "band": label,
                    "outcome": outcome,
                    "count": count,
                    "denominator": denominator,
                    "rate": count / denominator if shown else np.nan,
                    "ci_low": interval[0] if interval else np.nan,
                    "ci_high": interval[1] if interval else np.nan,
                    "too_few": not shown,
                }
            )
    return pd.DataFrame(rows)


def quantity_quality_grid(
    frame: pd.DataFrame, settings: Settings, split: float = QUANTITY_QUALITY_SPLIT
) -> pd.DataFrame:
    """The 2x2 of high / low quantity and quality (paired clients with both values).

    High = client value >= ``split``, compared after rounding (:func:`analytics.metrics.cut_values`).
    Clients with fewer than ``settings.min_reviewed_for_band`` reviewed assignments are left out
    (as from the bands). Per cell: n, mean change with a 95% t interval, recovered / at caseness
    at first and the recovery rate with a Wilson interval.
    """
    min_n = _min_n(settings, 2)
    reviewed = pd.to_numeric(frame["reviewed_assignments"], errors="coerce").fillna(0)
    keep = (
        frame["paired"] & frame["quantity"].notna() & frame["quality"].notna()
        & (reviewed >= settings.min_reviewed_for_band)
    ).to_numpy()
    data = frame.loc[keep, [*_SUMMARY_COLUMNS, "quantity", "quality"]]
    high_q = cut_values(data["quantity"]) >= split
    high_l = cut_values(data["quality"]) >= split
    rows = []
    for q_level, q_mask in (("High", high_q), ("Low", ~high_q)):
        for l_level, l_mask in (("High", high_l), ("Low", ~high_l)):
            cell = data[q_mask & l_mask]
            mean, low, high, n = mean_ci(_values(cell["change"]))
            summary = _outcome_counts(cell) if len(cell) else None
            recovered = int(summary["recovered"]) if summary else 0
            caseness = int(summary["caseness_at_first"]) if summary else 0
            rate_shown = caseness >= min_n
            interval = wilson_interval(recovered, caseness) if rate_shown else None
            shown = n >= min_n
            rows.append(
                {
                    "quantity": q_level,
                    "quality": l_level,
                    "n": n,
                    "mean_change": mean if shown else np.nan,
                    "ci_low": low if shown else np.nan,
                    "ci_high": high if shown else np.nan,
                    "recovered": recovered,
                    "caseness_at_first": caseness,
                    "recovery_rate": recovered / caseness if rate_shown else np.nan,
                    "recovery_ci_low": interval[0] if interval else np.nan,
                    "recovery_ci_high": interval[1] if interval else np.nan,
                    "too_few": not shown,
                }
            )
    out = pd.DataFrame(rows)
    out.attrs["split"] = split
    return out


# --------------------------------------------------------------------------- yardsticks


@dataclass(frozen=True)
class Yardstick:
    """A published compliance-outcome effect (clinical-reference.md, "Published effect sizes")."""

    study: str
    relation: str
    statistic: str  # "r" or "g"
    value: float
    ci_low: float
    ci_high: float
    label: str  # short label for charts


PUBLISHED_YARDSTICKS: tuple[Yardstick, ...] = (
    Yardstick("Mausbach et al. 2010", "Compliance vs outcome (23 studies, N = 2,183)", "r", 0.26, 0.19, 0.33,
              "Mausbach 2010: compliance"),
    Yardstick("Kazantzis et al. 2016", "Homework quantity vs outcome, post-treatment (k = 15)", "g", 0.79, 0.57, 1.02,
              "Kazantzis 2016: quantity (g as r)"),
    Yardstick("Kazantzis et al. 2016", "Homework quality vs outcome, post-treatment (k = 3)", "g", 0.78, 0.03, 1.53,
              "Kazantzis 2016: quality (g as r)"),
)


def helpful_sign(measure: str, settings: Settings) -> str:
    """The sign of a helpful relation with change on ``measure``: "negative" when lower is better
    (more homework, larger drop), "positive" when higher is better (more homework, larger rise)."""
    return "positive" if measure_higher_is_better(measure, settings) else "negative"


def published_yardsticks(higher_is_better: bool = False) -> pd.DataFrame:
    """The yardsticks on the measure's scale: r with change, helpful = :func:`helpful_sign`.

    Published r and g are positive for "more homework, better outcome". Here change is
    last - first: on a lower-is-better measure the same relation is a negative r
    (r_change = -r, interval ends swapped); on a higher-is-better measure it stays positive.
    g is converted with d_to_r (r = d / sqrt(d^2 + 4), treating g as d and assuming equal
    groups), interval ends converted the same way.
    """
    rows = []
    for y in PUBLISHED_YARDSTICKS:
        convert = d_to_r if y.statistic == "g" else (lambda v: v)
        r, low, high = convert(y.value), convert(y.ci_low), convert(y.ci_high)
        r, low, high = (r, low, high) if higher_is_better else (-r, -high, -low)
        rows.append(
            {
                "label": y.label,
                "source": y.study,
                "relation": y.relation,
                "published": f"{y.statistic} = {y.value:.2f} [{y.ci_low:.2f}, {y.ci_high:.2f}]",
                "r": r,
                "ci_low": low,
                "ci_high": high,
                "n": None,
                "converted": y.statistic == "g",
            }
        )
    return pd.DataFrame(rows)


def relation_scale_text(measure: str, settings: Settings) -> str:
    """The page's sentence on the sign of r with change and the yardsticks' scale (markdown)."""
    higher = measure_higher_is_better(measure, settings)
    mausbach = next(y for y in PUBLISHED_YARDSTICKS if y.statistic == "r")
    r_text = f"{'' if higher else '−'}.{round(mausbach.value * 100):02d}"
    return (
        (f"**Higher {measure} scores are better**, so change (last − first) is positive when a client improved and a "
         "helpful relation is a **positive r** with change. "
         if higher else
         f"**Lower {measure} scores are better**, so change (last − first) is negative when a client improved and a "
         "helpful relation is a **negative r** with change. ")
        + "The published effects (positive for \"more homework, better outcome\") are shown on the same scale: "
        f"r = {r_text} for Mausbach et al. (2010); Kazantzis et al. (2016) g converted with r = g / √(g² + 4). They sit "
        "beside this cohort's whole-cohort r (every paired client) and its r adjusted for baseline severity and weeks in "
        "treatment; the band effect size (an extreme-groups comparison that leaves the middle band out) is not "
        "comparable with them and is shown under Outcomes by band."
    )


def relation_lead(relation: ComplianceRelation, measure: str, settings: Settings) -> str:
    """The page's opening sentence: the homework-outcome relation of the cohort in plain words,
    with its n (markdown). ``relation``: :func:`compliance_change` of quantity."""
    what = relation.compliance
    if relation.too_few or relation.pearson.r is None or relation.slope is None:
        return (f"Too few paired clients with a {what} value to relate homework to {measure} change "
                f"(n = {relation.n:,}; need {relation.min_n}).")
    higher = measure_higher_is_better(measure, settings)
    per_10 = relation.slope / 10
    helpful = per_10 > 0 if higher else per_10 < 0
    direction = "more" if helpful else "less"
    return (f"Across **{relation.n:,} paired clients**, those who did more of their homework improved **{direction}** on "
            f"{measure}: every 10 percentage points more {what} went with **{abs(per_10):.2f} points** {direction} "
            f"improvement (r = {relation.pearson.r:.2f}, 95% CI {relation.pearson.ci_low:.2f} to "
            f"{relation.pearson.ci_high:.2f}). An association across clients, not proof that homework causes change.")


def band_effect_sign_text(measure: str, settings: Settings) -> str:
    """What the sign of the band effect g means on ``measure``."""
    if measure_higher_is_better(measure, settings):
        return "positive means the high band's scores rose more (higher is better)"
    return "negative means the high band's scores fell more (lower is better)"


def within_client_question(measure: str, settings: Settings) -> str:
    """The within-client section's question, in the measure's direction."""
    better = "rise" if measure_higher_is_better(measure, settings) else "drop"
    return f"Within-client analysis: is a week with more homework a week with a larger {better}?"


def within_client_sign_note(measure: str, settings: Settings) -> str:
    """The sign convention of the within-client coefficients on ``measure``."""
    if measure_higher_is_better(measure, settings):
        return (f"Higher {measure} scores are better: a positive within-client estimate means intervals with more "
                "homework than the client's usual were intervals with larger rises (improvement).")
    return (f"Lower {measure} scores are better: a negative within-client estimate means intervals with more homework "
            "than the client's usual were intervals with larger drops (improvement).")


def relation_comparison(
    relations: dict[str, ComplianceRelation],
    effect: BandEffect,
    measure: str,
    adjusted: dict[str, AdjustedRelation] | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """This cohort's whole-cohort relations beside the published yardsticks, all as r with change.

    Rows: Pearson r of each compliance measure with change over every paired client, then its
    partial r adjusted for baseline severity and weeks in treatment (``adjusted``), then the
    published yardsticks. The extreme-groups g (``effect``) is not a whole-cohort relation and
    is not put beside the yardsticks (it is shown, labelled as such, with the bands).
    """
    del effect  # kept in the signature for callers; see the docstring
    rows = []
    for compliance, relation in relations.items():
        r = relation.pearson
        rows.append(
            {
                "label": f"This cohort: {compliance}",
                "source": "This cohort",
                "relation": f"{compliance.capitalize()} vs {measure} change (Pearson r)",
                "published": "",
                "r": r.r if r.r is not None else np.nan,
                "ci_low": r.ci_low if r.ci_low is not None else np.nan,
                "ci_high": r.ci_high if r.ci_high is not None else np.nan,
                "n": r.n,
                "converted": False,
            }
        )
        adj = (adjusted or {}).get(compliance)
        if adj is not None:
            rows.append(
                {
                    "label": f"This cohort: {compliance}, adjusted",
                    "source": "This cohort",
                    "relation": f"{compliance.capitalize()} vs {measure} change, partial r adjusted for the first "
                    "score and weeks in treatment",
                    "published": "",
                    "r": adj.partial_r if adj.partial_r is not None else np.nan,
                    "ci_low": adj.ci_low if adj.ci_low is not None else np.nan,
                    "ci_high": adj.ci_high if adj.ci_high is not None else np.nan,
                    "n": adj.n,
                    "converted": False,
                }
            )
    higher = settings is not None and measure_higher_is_better(measure, settings)
    out = pd.concat([pd.DataFrame(rows), published_yardsticks(higher)], ignore_index=True)
    out["n"] = out["n"].astype("Int64")
    out.attrs["helpful_sign"] = "positive" if higher else "negative"
    return out


# --------------------------------------------------------------------------- SQL-backed sections


def score_trajectories(
    db: ClinicDatabase,
    viewer: Viewer,
    cohort: CohortFilter | None,
    measure: str,
    settings: Settings,
    max_week: int = TRAJECTORY_MAX_WEEK,
) -> pd.DataFrame:
    """Mean score by week since intake per band, with a 95% t interval and n (SQL aggregates).

    Points with fewer than the minimum clients keep their n but have no mean or interval.
    Each client's band is that of ``cohort_measure_clients`` (SQL).
    """
    params = client_query_params(viewer, cohort, measure, settings, max_week=int(max_week))
    rows = _report_query(db, "cohort_score_trajectory", params)
    order = {label: i for i, label in enumerate(compliance_band_labels(settings))}
    rows["band_order"] = rows["band"].map(order)
    rows = rows.sort_values(["band_order", "week"], ignore_index=True).drop(columns="band_order")
    rows["week"] = rows["week"].astype(int)
    rows["n_clients"] = rows["n_clients"].astype(int)
    low, high = t_interval(rows["mean_score"], rows["sd_score"], rows["n_clients"])
    shown = rows["n_clients"].to_numpy() >= _min_n(settings, 2)
    rows["ci_low"] = np.where(shown, low, np.nan)
    rows["ci_high"] = np.where(shown, high, np.nan)
    rows["mean_score"] = np.where(shown, rows["mean_score"].astype(float), np.nan)
    rows["sd_score"] = np.where(shown, rows["sd_score"].astype(float), np.nan)
    rows["too_few"] = ~shown
    return rows[["band", "week", "n_clients", "mean_score", "ci_low", "ci_high", "sd_score", "too_few"]]


def follow_up_by_band(
    db: ClinicDatabase,
    viewer: Viewer,
    cohort: CohortFilter | None,
    measure: str,
    settings: Settings,
) -> pd.DataFrame:
    """Scores 1-12 months after discharge per compliance band (``cohort_follow_up_bands.sql``)."""
    return follow_up_from_bands(db.query("cohort_follow_up_bands", client_query_params(viewer, cohort, measure, settings)),
                                settings)


def follow_up_from_bands(bands: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The follow-up table from ``cohort_follow_up_bands.sql`` (one row per band).

    Clients counted: discharged, paired on the measure, with a band and a follow-up score.
    Per band and time point (intake = first score, end of treatment = last score, follow-up):
    n, mean score and a 95% t interval; plus, per band, how many discharged paired clients
    there were and the mean change from end of treatment to follow-up (positive = scores rose).
    """
    min_n = _min_n(settings, 2)
    by_band = {row["band"]: row for row in bands.to_dict("records")}
    rows = []
    for label in compliance_band_labels(settings):
        row = by_band.get(label, {})
        n = _int(row, "n")
        shown = n >= min_n
        change = finite_or_none(row.get("mean_change")) if n else None
        change_low, change_high = _mean_interval(n, change, finite_or_none(row.get("sd_change")))
        for point, column in (("Intake", "first"), ("End of treatment", "last"), ("Follow-up", "follow_up")):
            mean = finite_or_none(row.get(f"mean_{column}")) if n else None
            low, high = _mean_interval(n, mean, finite_or_none(row.get(f"sd_{column}")))
            rows.append(
                {
                    "band": label,
                    "time_point": point,
                    "n": n,
                    "discharged_paired": _int(row, "discharged_paired"),
                    "mean_score": mean if shown else np.nan,
                    "ci_low": low if shown else np.nan,
                    "ci_high": high if shown else np.nan,
                    "change_end_to_follow_up": change if shown else np.nan,
                    "change_ci_low": change_low if shown else np.nan,
                    "change_ci_high": change_high if shown else np.nan,
                    "median_days_after_discharge": float(row["median_days"]) if shown and row.get("median_days") is not None
                    and not pd.isna(row.get("median_days")) else np.nan,
                    "too_few": not shown,
                }
            )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class AssignmentDesign:
    """Completion (quantity) and quality of assignments by design (assignment-level aggregates).

    items_met: one row per number of checklist items met (0-5); items: one row per checklist
    item with met / not met side by side and the difference; types: one row per homework type.
    Means are over assignments; 95% intervals are cluster-robust by client (one client's
    assignments are alike, so they are not independent): see :func:`_with_intervals`. Groups
    whose reviewed assignments come from fewer clients than the minimum are withheld.
    """

    items_met: pd.DataFrame
    items: pd.DataFrame
    types: pd.DataFrame


def _with_intervals(rows: pd.DataFrame, min_n: int) -> pd.DataFrame:
    """Cluster-robust (by client) 95% intervals: mean -/+ t(G - 1) * se, with the CR1 standard
    error from ``cohort_assignment_design.sql`` and G the clients contributing a value."""
    rows = rows.copy()
    shown = rows["n_clients"].to_numpy() >= min_n
    for what, clients_col in (("quantity", "n_clients"), ("quality", "clients_quality")):
        clients = pd.to_numeric(rows[clients_col], errors="coerce").to_numpy(dtype=float)
        se = pd.to_numeric(rows[f"se_{what}"], errors="coerce").to_numpy(dtype=float)
        # t_interval(mean, sd, n) is mean -/+ t(n - 1) sd / sqrt(n): pass sd = se sqrt(G), n = G.
        low, high = t_interval(rows[f"mean_{what}"], se * np.sqrt(clients), clients)
        rows[f"mean_{what}"] = np.where(shown, rows[f"mean_{what}"].astype(float), np.nan)
        rows[f"{what}_ci_low"] = np.where(shown, low, np.nan)
        rows[f"{what}_ci_high"] = np.where(shown, high, np.nan)
    rows["too_few"] = ~shown
    return rows


def assignment_design(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None, settings: Settings | None = None
) -> AssignmentDesign:
    """Completion and quality by checklist items met, by each item and by homework type (SQL)."""
    settings = settings or active_settings()
    rows = db.query("cohort_assignment_design",
                    query_params(viewer, cohort, unreviewed_as_not_done=settings.unreviewed_as_not_done))
    min_n = _min_n(settings, 2)
    rows = _with_intervals(rows, min_n)
    columns = [
        "assignments",
        "reviewed_assignments",
        "n_clients",
        "mean_quantity",
        "quantity_ci_low",
        "quantity_ci_high",
        "quality_rated",
        "mean_quality",
        "quality_ci_low",
        "quality_ci_high",
        "too_few",
    ]
    items_met = pd.DataFrame({"items_met": list(range(len(DESIGN_CHECKLIST) + 1))})
    counts = rows[rows["factor"] == "items_met"].assign(items_met=lambda d: d["level"].astype(int))
    items_met = items_met.merge(counts[["items_met", *columns]], on="items_met", how="left")
    for col in ("assignments", "reviewed_assignments", "n_clients", "quality_rated"):
        items_met[col] = items_met[col].fillna(0).astype(int)
    items_met["too_few"] = items_met["too_few"].fillna(True).astype(bool)

    item_rows = []
    for item in DESIGN_CHECKLIST:
        both = rows[rows["factor"] == item].set_index("level")
        met = both.loc["met"] if "met" in both.index else None
        not_met = both.loc["not met"] if "not met" in both.index else None

        def get(row: pd.Series | None, col: str, default: Any = np.nan) -> Any:
            return default if row is None else row[col]

        mean_met = get(met, "mean_quantity")
        mean_not = get(not_met, "mean_quantity")
        item_rows.append(
            {
                "item": DESIGN_CHECKLIST_LABELS[item],
                "reviewed_met": int(get(met, "reviewed_assignments", 0)),
                "clients_met": int(get(met, "n_clients", 0)),
                "completion_met": mean_met,
                "completion_met_ci_low": get(met, "quantity_ci_low"),
                "completion_met_ci_high": get(met, "quantity_ci_high"),
                "reviewed_not_met": int(get(not_met, "reviewed_assignments", 0)),
                "clients_not_met": int(get(not_met, "n_clients", 0)),
                "completion_not_met": mean_not,
                "completion_not_met_ci_low": get(not_met, "quantity_ci_low"),
                "completion_not_met_ci_high": get(not_met, "quantity_ci_high"),
                "difference": mean_met - mean_not,
            }
        )
    items = pd.DataFrame(item_rows)
    for col in items.columns[1:]:
        if col.startswith(("reviewed", "clients")):
            items[col] = items[col].astype(int)
        else:
            items[col] = items[col].astype(float)

    types = rows[rows["factor"] == "homework_type"].rename(columns={"level": "homework_type"})
    types["label"] = types["homework_type"].str.replace("_", " ").str.capitalize()
    types = types[["homework_type", "label", *columns]].sort_values("mean_quantity", ascending=False, na_position="last")
    return AssignmentDesign(items_met, items, types.reset_index(drop=True))


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class CohortReport:
    """The client-level sections of the Cohort outcomes page (see :func:`cohort_report`)."""

    measure: str
    band_labels: tuple[str, ...]
    min_clients: int
    clients_with_quantity: int
    clients_with_quality: int
    band_counts: pd.DataFrame
    relations: dict[str, ComplianceRelation]
    band_change: pd.DataFrame
    band_effect: BandEffect
    comparison: pd.DataFrame
    outcome_rates: pd.DataFrame
    grid: pd.DataFrame
    trajectories: pd.DataFrame
    follow_up: pd.DataFrame
    seconds: float
    #: Clients with a quantity but too few reviewed assignments for a band (Settings.min_reviewed_for_band).
    clients_below_min_reviewed: int = 0
    min_reviewed_for_band: int = 3
    #: Mean over the cohort's clients with homework of each client's reviewed share (0-1).
    reviewed_share: float | None = None
    adjusted: dict[str, AdjustedRelation] = field(default_factory=dict)
    #: The measure's direction: True when higher scores are better (helpful relations are positive).
    higher_is_better: bool = False


def _band_param(settings: Settings) -> dict[str, Any]:
    low, high = settings.compliance_band_edges
    return {"low": float(low), "high": float(high), "min_reviewed": int(settings.min_reviewed_for_band),
            "labels": list(compliance_band_labels(settings))}


def report_requests(viewer: Viewer, cohort: CohortFilter | None, measure: str,
                    settings: Settings) -> dict[str, dict[str, Any]]:
    """The queries of :func:`cohort_report` that read every client of the cohort (never one row per
    client), with their bound parameters: what an import stores for the whole network
    (analytics.stored.store_network_results) and :func:`cohort_report` reads back when it may."""
    return {
        "cohort_relations": client_query_params(viewer, cohort, measure, settings),
        "cohort_report_groups": client_query_params(viewer, cohort, measure, settings, split=QUANTITY_QUALITY_SPLIT),
        "cohort_score_trajectory": client_query_params(viewer, cohort, measure, settings,
                                                       max_week=int(TRAJECTORY_MAX_WEEK)),
        "cohort_follow_up_bands": client_query_params(viewer, cohort, measure, settings),
        "cohort_compliance_bins": client_query_params(
            viewer, cohort, measure, settings, min_clients=int(MAX_SCATTER_POINTS + 1),
            x_width=COMPLIANCE_BIN_WIDTH, y_width=CHANGE_BIN_WIDTH),
    }


def _report_query(db: ClinicDatabase, name: str, params: dict[str, Any]) -> pd.DataFrame:
    """Query ``name`` of :func:`report_requests`: its rows stored at import for the request's
    scope and key when there are some (the whole network of a large deployment), else run now."""
    from ..stored import stored_network_result

    stored = stored_network_result(db, name, params)
    return stored if stored is not None else db.query(name, params)


def client_query_params(viewer: Viewer, cohort: CohortFilter | None, measure: str, settings: Settings,
                        **extra: Any) -> dict[str, Any]:
    """Parameters of the queries over ``cohort_measure_clients`` (analytics/sql/cohort_macros.sql)."""
    return query_params(
        viewer, cohort, measure=measure, baseline_days=settings.baseline_days_before_intake,
        measure_definitions=settings.measure_definitions(), unreviewed_as_not_done=settings.unreviewed_as_not_done,
        bands=_band_param(settings), **extra,
    )


def _group(groups: pd.DataFrame, kind: str, key: str | None) -> dict[str, Any]:
    rows = groups[(groups["kind"] == kind) & ((groups["key"] == key) if key is not None else groups["key"].isna())]
    return rows.iloc[0].to_dict() if len(rows) else {}


def _int(row: dict[str, Any], key: str) -> int:
    value = row.get(key)
    return 0 if value is None or pd.isna(value) else int(value)


def _moments(row: dict[str, Any]) -> tuple[int, float | None, float | None]:
    n = _int(row, "n_change")
    mean = finite_or_none(row.get("mean_change")) if n else None
    sd = finite_or_none(row.get("sd_change")) if n > 1 else None
    return n, mean, sd


def _mean_interval(n: int, mean: float | None, sd: float | None) -> tuple[float | None, float | None]:
    """:func:`analytics.statistics.mean_ci`'s interval from aggregates (:func:`t_interval`)."""
    if n < 2 or mean is None:
        return None, None
    low, high = t_interval([mean], [sd if sd is not None else 0.0], [n])
    return float(low[0]), float(high[0])


def band_counts_from_groups(groups: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """:func:`band_counts` from ``cohort_report_groups.sql``."""
    rows = [{"band": label, **{c: _int(_group(groups, "band", label), c) for c in ("clients", "scored", "paired")}}
            for label in compliance_band_labels(settings)]
    return pd.DataFrame(rows, columns=["band", "clients", "scored", "paired"])


def band_change_from_groups(groups: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """:func:`band_change` from ``cohort_report_groups.sql`` (n, mean and SD of change per band)."""
    min_n = _min_n(settings, 2)
    rows = []
    for label in compliance_band_labels(settings):
        n, mean, sd = _moments(_group(groups, "band", label))
        low, high = _mean_interval(n, mean, sd)
        shown = n >= min_n
        rows.append({"band": label, "n": n, "mean_change": mean if shown else np.nan,
                     "ci_low": low if shown else np.nan, "ci_high": high if shown else np.nan, "too_few": not shown})
    return pd.DataFrame(rows)


def band_effect_from_groups(groups: pd.DataFrame, settings: Settings, measure: str) -> BandEffect:
    """:func:`band_effect_size` from ``cohort_report_groups.sql``: g from the two bands' moments
    (:func:`analytics.statistics.hedges_g_from_moments`), the counted U3 from the low band's
    changes above / below / at the high band's mean."""
    higher = measure_higher_is_better(measure, settings)
    labels = compliance_band_labels(settings)
    low_band, high_band = labels[0], labels[-1]
    min_n = _min_n(settings, 2)
    low_row = _group(groups, "band", low_band)
    effect = hedges_g_from_moments(*_moments(_group(groups, "band", high_band)), *_moments(low_row), min_n=min_n)

    def counted_u3() -> float:
        worse = _int(low_row, "low_below_high_mean" if higher else "low_above_high_mean")
        return float((worse + 0.5 * _int(low_row, "low_at_high_mean")) / effect.n_b)

    return _extreme_groups_effect(high_band, low_band, effect, min_n, higher, counted_u3)


def outcome_rates_from_groups(groups: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """:func:`outcome_rates_by_band` from ``cohort_report_groups.sql`` (measure_outcome_counts per band)."""
    min_n = _min_n(settings)
    denominators = {"caseness_at_first": "caseness_at_first", "clients_paired": "paired"}
    groups_rows = [(label, _group(groups, "band", label)) for label in compliance_band_labels(settings)]
    groups_rows.append((ALL_CLIENTS, _group(groups, "all", None)))
    rows = []
    for label, group in groups_rows:
        for outcome, num_key, den_key in OUTCOMES:
            count, denominator = _int(group, num_key), _int(group, denominators[den_key])
            shown = denominator >= min_n
            interval = wilson_interval(count, denominator) if shown else None
            rows.append({"band": label, "outcome": outcome, "count": count, "denominator": denominator,
                         "rate": count / denominator if shown else np.nan,
                         "ci_low": interval[0] if interval else np.nan, "ci_high": interval[1] if interval else np.nan,
                         "too_few": not shown})
    return pd.DataFrame(rows)


def grid_from_groups(groups: pd.DataFrame, settings: Settings, split: float = QUANTITY_QUALITY_SPLIT) -> pd.DataFrame:
    """:func:`quantity_quality_grid` from ``cohort_report_groups.sql`` (the grid cells' aggregates)."""
    min_n = _min_n(settings, 2)
    rows = []
    for q_level in ("High", "Low"):
        for l_level in ("High", "Low"):
            cell = _group(groups, "grid", f"{q_level}|{l_level}")
            n, mean, sd = _moments(cell)
            low, high = _mean_interval(n, mean, sd)
            recovered, caseness = _int(cell, "recovered"), _int(cell, "caseness_at_first")
            rate_shown = caseness >= min_n
            interval = wilson_interval(recovered, caseness) if rate_shown else None
            shown = n >= min_n
            rows.append({
                "quantity": q_level, "quality": l_level, "n": n,
                "mean_change": mean if shown else np.nan, "ci_low": low if shown else np.nan,
                "ci_high": high if shown else np.nan, "recovered": recovered, "caseness_at_first": caseness,
                "recovery_rate": recovered / caseness if rate_shown else np.nan,
                "recovery_ci_low": interval[0] if interval else np.nan,
                "recovery_ci_high": interval[1] if interval else np.nan, "too_few": not shown,
            })
    out = pd.DataFrame(rows)
    out.attrs["split"] = split
    return out


def relation_from_sums(row: dict[str, Any], compliance: str, settings: Settings, points: pd.DataFrame,
                       bins: pd.DataFrame | None = None) -> ComplianceRelation:
    """:func:`compliance_change` from ``cohort_relations.sql`` (r, rho, the line from sums)."""
    min_n = _min_n(settings, 4)  # a Fisher-z interval needs n >= 4
    n = _int(row, "n")
    no_spread = not (_positive(row.get("var_x")) and _positive(row.get("var_y")))
    r = correlation_from_r("pearson", finite_or_none(row.get("r")), n, min_n, constant=no_spread)
    rank_constant = not (_positive(row.get("rank_var_x")) and _positive(row.get("rank_var_y")))
    rho = correlation_from_r("spearman", finite_or_none(row.get("rho")), n, min_n, constant=rank_constant)
    slope = intercept = None
    if r.r is not None:
        slope, intercept = finite_or_none(row.get("slope")), finite_or_none(row.get("intercept"))
    return ComplianceRelation(compliance, n, min_n, r, rho, slope, intercept, r.r is None, points, bins)


def _positive(value: Any) -> bool:
    return value is not None and not pd.isna(value) and float(value) > 0.0


def adjusted_from_sums(row: dict[str, Any], compliance: str, settings: Settings) -> AdjustedRelation:
    """:func:`adjusted_relation` from the sample covariances of ``cohort_relations.sql``.

    With S the covariance matrix of (compliance x, change y, first score, weeks): the partial r
    of x and y given the covariates is -P_xy / sqrt(P_xx P_yy), P = S^-1; the regression of y on
    x and the covariates has coefficients S_zz^-1 S_zy (z = x, first, weeks) and coefficient
    covariance s^2 ((n - 1) S_zz)^-1, s^2 = (n - 1)(S_yy - S_zy' b) / (n - 4). The same numbers
    as least squares on the clients' rows (tests/test_cohort.py compares them)."""
    n = _int(row, "adj_n")
    k = len(ADJUSTMENT_COVARIATES)
    min_n = _min_n(settings, k + 4)
    empty = AdjustedRelation(compliance, n, min_n, None, None, None, None, None, None, None, None, True)
    if n < min_n:
        return empty
    names = ("x", "y", "f", "w")
    cov = np.empty((4, 4))
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            key = f"c_{a}{b}" if f"c_{a}{b}" in row else f"c_{b}{a}"
            value = row.get(key)
            cov[i, j] = np.nan if value is None or pd.isna(value) else float(value)
    if not np.isfinite(cov).all():
        return empty
    z = [0, 2, 3]
    s_zz = cov[np.ix_(z, z)]
    if np.linalg.matrix_rank(s_zz) < len(z):
        return empty  # compliance, first score and weeks are collinear here: no adjusted relation
    try:
        precision = np.linalg.inv(cov)
    except np.linalg.LinAlgError:
        return empty
    denominator = precision[0, 0] * precision[1, 1]
    if not denominator > 0:
        return empty
    partial_r = float(np.clip(-precision[0, 1] / math.sqrt(denominator), -1.0, 1.0))
    beta = np.linalg.solve(s_zz, cov[z, 1])
    dof = n - (len(z) + 1)
    sse = (n - 1) * (cov[1, 1] - float(cov[z, 1] @ beta))
    coef_cov = max(sse, 0.0) / dof * np.linalg.inv((n - 1) * s_zz)
    half = float(stats.t.ppf(0.975, dof)) * math.sqrt(coef_cov[0, 0])
    se = 1.0 / math.sqrt(n - 3 - k)
    zr = math.atanh(max(min(partial_r, 1 - 1e-15), -1 + 1e-15))

    def r_of(i: int, j: int) -> float | None:
        denominator = cov[i, i] * cov[j, j]
        return float(cov[i, j] / math.sqrt(denominator)) if denominator > 0 else None

    return AdjustedRelation(
        compliance, n, min_n, partial_r, math.tanh(zr - Z_95 * se), math.tanh(zr + Z_95 * se),
        float(beta[0]), float(beta[0] - half), float(beta[0] + half), r_of(0, 1), r_of(0, 3), False,
    )


def compliance_points(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None, measure: str,
                      settings: Settings | None = None, max_points: int | None = MAX_SCATTER_POINTS) -> pd.DataFrame:
    """One row per paired client with a compliance value (compliance, client_id, band, value,
    change), for the compliance measures with at most ``max_points`` such clients (None: every
    client; the identified viewer's CSV of a large cohort, built only when downloaded)."""
    settings = settings or active_settings()
    return db.query("cohort_compliance_points", client_query_params(
        viewer, cohort, measure, settings, max_points=max_points))


def compliance_bins(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None, measure: str,
                    settings: Settings, min_clients: int = MAX_SCATTER_POINTS + 1) -> pd.DataFrame:
    """The 2-D histogram of compliance (bins of :data:`COMPLIANCE_BIN_WIDTH`) against change
    (bins of :data:`CHANGE_BIN_WIDTH` points) of paired clients, for the compliance measures with at
    least ``min_clients`` of them: compliance, x_low, x_high, change_low, change_high, clients.
    Its size is bounded by the scale, not by the number of clients."""
    return _report_query(db, "cohort_compliance_bins", client_query_params(
        viewer, cohort, measure, settings, min_clients=int(min_clients), x_width=COMPLIANCE_BIN_WIDTH,
        y_width=CHANGE_BIN_WIDTH))


def cohort_report(
    db: ClinicDatabase,
    viewer: Viewer,
    cohort: CohortFilter | None,
    measure: str,
    settings: Settings | None = None,
) -> CohortReport:
    """The client-level sections of the Cohort outcomes page for one cohort and measure.

    Every figure is aggregated in DuckDB over the cohort's clients (``cohort_measure_clients``,
    analytics/sql/cohort_macros.sql): no query returns one row per client except the scatter's
    points up to :data:`MAX_SCATTER_POINTS` clients (a 2-D histogram above). The functions on a
    per-client frame (:func:`cohort_client_frame`, :func:`band_change`, :func:`compliance_change`,
    ...) are the Python references the tests compare these with.

    Assignment design (:func:`assignment_design`), the within-client model
    (:func:`within_client_analysis`) and clinical significance (:func:`clinical_significance`)
    are separate calls, so the page computes them only when their tab is open.
    """
    started = time.perf_counter()
    settings = settings or active_settings()
    requests = report_requests(viewer, cohort, measure, settings)
    # Independent queries run side by side (one DuckDB cursor each; ClinicDatabase is thread-safe).
    with ThreadPoolExecutor(max_workers=3) as pool:
        sums_job = pool.submit(_report_query, db, "cohort_relations", requests["cohort_relations"])
        groups_job = pool.submit(_report_query, db, "cohort_report_groups", requests["cohort_report_groups"])
        trajectories = pool.submit(score_trajectories, db, viewer, cohort, measure, settings)
        follow = pool.submit(_report_query, db, "cohort_follow_up_bands", requests["cohort_follow_up_bands"])
        sums = sums_job.result()
        by_compliance = {row["compliance"]: row for row in sums.to_dict("records")}
        # The scatter: points for the compliance measures with up to MAX_SCATTER_POINTS clients, bins
        # above; each query only when some measure needs it.
        sizes = [_int(row, "n") for row in by_compliance.values()]
        points_job = (pool.submit(compliance_points, db, viewer, cohort, measure, settings)
                      if any(0 < n <= MAX_SCATTER_POINTS for n in sizes) else None)
        bins_job = (pool.submit(compliance_bins, db, viewer, cohort, measure, settings)
                    if any(n > MAX_SCATTER_POINTS for n in sizes) else None)
        points = points_job.result() if points_job else pd.DataFrame(
            {"compliance": pd.Series(dtype=object), "client_id": pd.Series(dtype=object),
             "band": pd.Series(dtype=object), "value": pd.Series(dtype=float), "change": pd.Series(dtype=float)})
        bins = bins_job.result() if bins_job else pd.DataFrame(
            columns=["compliance", "x_low", "x_high", "change_low", "change_high", "clients"])
        groups = groups_job.result()
        relations = {}
        for c in COMPLIANCE_MEASURES:
            mine = points[points["compliance"] == c]
            frame = pd.DataFrame({"client_id": mine["client_id"].astype(str).to_numpy(), "band": mine["band"].to_numpy(),
                                  c: _values(mine["value"]), "change": _values(mine["change"])})
            if not viewer.can_see_identifiers:  # aggregates-only viewers: the points carry no client id
                frame = frame.drop(columns="client_id")
            binned = bins[bins["compliance"] == c].drop(columns="compliance").reset_index(drop=True)
            relations[c] = relation_from_sums(by_compliance.get(c, {}), c, settings, frame,
                                              binned if len(binned) else None)
        adjusted = {c: adjusted_from_sums(by_compliance.get(c, {}), c, settings) for c in COMPLIANCE_MEASURES}
        effect = band_effect_from_groups(groups, settings, measure)
        whole = _group(groups, "cohort", None)
        report = CohortReport(
            measure=measure,
            band_labels=compliance_band_labels(settings),
            min_clients=settings.min_clients_for_statistic,
            clients_with_quantity=_int(whole, "with_quantity"),
            clients_with_quality=_int(whole, "with_quality"),
            band_counts=band_counts_from_groups(groups, settings),
            relations=relations,
            band_change=band_change_from_groups(groups, settings),
            band_effect=effect,
            comparison=relation_comparison(relations, effect, measure, adjusted, settings),
            outcome_rates=outcome_rates_from_groups(groups, settings),
            grid=grid_from_groups(groups, settings),
            trajectories=trajectories.result(),
            follow_up=follow_up_from_bands(follow.result(), settings),
            seconds=0.0,
            clients_below_min_reviewed=_int(whole, "below_min_reviewed"),
            min_reviewed_for_band=settings.min_reviewed_for_band,
            reviewed_share=finite_or_none(whole.get("reviewed_share")),
            adjusted=adjusted,
            higher_is_better=measure_higher_is_better(measure, settings),
        )
    return replace(report, seconds=time.perf_counter() - started)


# --------------------------------------------------------------------------- headline


@dataclass(frozen=True)
class HeadlineFigure:
    """One headline figure: its value (None = withheld), display text and n."""

    label: str
    value: float | int | None
    display: str
    n: int
    n_label: str


def _fixed_points(measure: str, settings: Settings) -> str:
    """" (6+ points)": the measure's fixed reliable change (NHS Talking Therapies) in a headline label,
    so that it is not read as the Jacobson-Truax reliable change index of the Clinical significance tab."""
    definition = settings.measure(measure)
    return f" ({definition.reliable_change}+ points)" if definition is not None else ""


def _share_of(label: str, count: int, n: int, min_n: int) -> str:
    return f"{label} ({count / n:.1%})" if n >= min_n else label


def _reviewed_share_note(share: float | None) -> str:
    """The reviewed share shown beside a compliance figure."""
    return "" if share is None else f"; {share:.0%} of assignments reviewed (client mean)"


def headline_figures(
    summary: dict[str, Any], measure: str, report: CohortReport, settings: Settings
) -> list[HeadlineFigure]:
    """The headline figures from :func:`analytics.metrics.cohort_summary` (its numbers, unchanged).

    n: clients -> the clients themselves; paired -> clients scored on the measure; mean
    quantity / quality -> clients with a value; mean change -> paired clients; recovery rate ->
    paired clients at caseness at their first score; reliable improvement / deterioration ->
    paired clients. Means and the recovery rate are withheld ("too few clients") below the
    minimum.
    """
    min_n = _min_n(settings)
    m = summary["measures"].get(measure) or {}
    scored = int(m.get("clients_scored", 0))
    paired = int(m.get("clients_paired", 0))
    caseness = int(m.get("caseness_at_first", 0))

    def share(value: float | None, n: int, fmt: str = "{:.1%}") -> str:
        return fmt.format(value) if value is not None and n >= min_n else TOO_FEW

    def count(value: int, n: int) -> str:
        return f"{value:,}"

    return [
        HeadlineFigure("Clients", summary["clients"], f"{summary['clients']:,}", summary["clients"], "in the cohort"),
        HeadlineFigure("Paired clients", paired, f"{paired:,}", scored, f"scored on {measure}"),
        HeadlineFigure(
            "Mean quantity",
            summary["mean_quantity"],
            share(summary["mean_quantity"], report.clients_with_quantity),
            report.clients_with_quantity,
            "clients with reviewed homework" + _reviewed_share_note(summary.get("reviewed_share")),
        ),
        HeadlineFigure(
            "Mean quality",
            summary["mean_quality"],
            share(summary["mean_quality"], report.clients_with_quality),
            report.clients_with_quality,
            "clients with a quality rating",
        ),
        HeadlineFigure(
            "Mean change (points)",
            m.get("mean_change"),
            share(m.get("mean_change"), paired, "{:+.1f}"),
            paired,
            f"paired clients ({measure} last - first; "
            f"{'positive' if measure_higher_is_better(measure, settings) else 'negative'} = improvement)",
        ),
        HeadlineFigure(
            "Recovery rate (per measure)",
            m.get("recovery_rate"),
            share(m.get("recovery_rate"), caseness),
            caseness,
            f"paired clients at caseness at intake (on {measure} alone)",
        ),
        HeadlineFigure(
            f"Reliable improvement{_fixed_points(measure, settings)}",
            m.get("reliable_improvement", 0),
            count(int(m.get("reliable_improvement", 0)), paired),
            paired,
            _share_of("paired clients", int(m.get("reliable_improvement", 0)), paired, min_n),
        ),
        HeadlineFigure(
            f"Reliable deterioration{_fixed_points(measure, settings)}",
            m.get("reliable_deterioration", 0),
            count(int(m.get("reliable_deterioration", 0)), paired),
            paired,
            _share_of("paired clients", int(m.get("reliable_deterioration", 0)), paired, min_n),
        ),
        *_nhs_paired_figures(summary.get("nhs_paired"), min_n),
    ]


def _nhs_paired_figures(nhs: dict[str, Any] | None, min_n: int) -> list[HeadlineFigure]:
    """Recovery and reliable recovery by the NHS Talking Therapies paired definitions (the rates
    the NHS 50% recovery standard applies to), from ``cohort_summary(...)["nhs_paired"]``."""
    if not nhs:
        return []
    caseness = int(nhs["caseness_at_first"])
    names = " + ".join(nhs.get("measures") or ())
    note = (f"finished (discharged) clients at caseness on {names} at the first paired score "
            "(NHS Talking Therapies; national standard 50%)")

    def share(value: float | None) -> str:
        return f"{value:.1%}" if value is not None and caseness >= min_n else TOO_FEW

    return [
        HeadlineFigure("Recovery, NHS paired", nhs.get("recovery_rate"), share(nhs.get("recovery_rate")), caseness,
                       note),
        HeadlineFigure("Reliable recovery, NHS paired", nhs.get("reliable_recovery_rate"),
                       share(nhs.get("reliable_recovery_rate")), caseness, note),
    ]


# --------------------------------------------------------------------------- within-client model


#: Within-client model, forward (same-interval) association: adjusted for the score at the
#: start of the interval (split into the client's deviation from their own mean starting score
#: and that mean) and the week since intake.
FORWARD_COVARIATES = ("score_within", "score_between", "week")
#: Reverse model: adjusted for the week since intake (scores fall and homework changes with time).
REVERSE_COVARIATES = ("week",)
FORWARD_ADJUSTMENT = "adjusted for the starting score and week since intake"
REVERSE_ADJUSTMENT = "adjusted for week since intake"


@dataclass(frozen=True)
class WithinClientAnalysis:
    """Within-client models on score intervals (see ``cohort_score_intervals.sql``).

    forward: the change over an interval ~ the quantity of the homework set in that same
    interval (within = person-mean centred, between = the client's mean quantity), random
    intercept per client, **adjusted** for the score at the interval's start (within- and
    between-client parts) and the week since intake (:data:`FORWARD_COVARIATES`). It is a
    concurrent association (homework and change in the same interval), not a lag.
    reverse: the interval's quantity ~ the score at its start, adjusted for the week since
    intake (:data:`REVERSE_COVARIATES`): time in treatment moves both. ``forward_unadjusted``
    and ``reverse_unadjusted`` are the same models without covariates. ``coefficients`` is the
    table the page shows (adjusted rows first), in readable units (per 10 percentage points of
    quantity; percentage points per score point).
    """

    measure: str
    forward: MixedModelResult
    reverse: MixedModelResult
    clients_eligible: int
    clients_used: int
    intervals_used: int
    max_clients: int
    sampled: bool
    seconds: float
    coefficients: pd.DataFrame
    forward_unadjusted: MixedModelResult | None = None
    reverse_unadjusted: MixedModelResult | None = None


def _coefficient_rows(result: MixedModelResult, model: str, scale: float, unit: str) -> list[dict[str, Any]]:
    rows = []
    for effect, coef, ci, p in (
        ("Within client", result.within_coef, result.within_ci, result.within_p),
        ("Between clients", result.between_coef, result.between_ci, result.between_p),
    ):
        rows.append(
            {
                "model": model,
                "effect": effect,
                "estimate": coef * scale if coef is not None else np.nan,
                "ci_low": ci[0] * scale if ci else np.nan,
                "ci_high": ci[1] * scale if ci else np.nan,
                "p_value": p if p is not None else np.nan,
                "unit": unit,
                "intervals": result.n_observations,
                "clients": result.n_groups,
            }
        )
    return rows


def _interval_moments(moments: pd.DataFrame) -> pd.DataFrame:
    """The per-client moments of ``cohort_score_interval_moments.sql`` with the starting score split
    as the model takes it (:data:`FORWARD_COVARIATES`): score_within = score - the client's mean
    score (mean 0, varying as the score within a client), score_between = that mean (constant
    within a client)."""
    out = moments.copy()
    for column in ("n", "mean_change", "mean_quantity", "mean_score", "mean_week"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    zero = np.zeros(len(out))
    out["mean_score_within"], out["mean_score_between"] = zero, out["mean_score"]
    for v in ("change", "quantity", "week"):
        name = f"cross_{v}_score" if f"cross_{v}_score" in out.columns else f"cross_score_{v}"
        out[f"cross_score_within_{v}"] = pd.to_numeric(out[name], errors="coerce").astype(float)
        out[f"cross_score_between_{v}"] = zero
    out["cross_score_within_score_within"] = pd.to_numeric(out["cross_score_score"], errors="coerce").astype(float)
    out["cross_score_within_score_between"] = zero
    out["cross_score_between_score_between"] = zero
    return out


def within_client_analysis(
    db: ClinicDatabase,
    viewer: Viewer,
    cohort: CohortFilter | None,
    measure: str,
    settings: Settings | None = None,
    max_clients: int = MIXEDLM_MAX_CLIENTS,
    fit: Any = None,
) -> WithinClientAnalysis:
    """Fit the forward (homework and change in the same interval) and reverse (score, then the
    next interval's homework) models, adjusted (see :class:`WithinClientAnalysis`) and not.

    Both are fitted by :func:`analytics.statistics.within_between_from_groups` (REML) from the
    per-client moments of the score intervals, summed in SQL (``cohort_score_interval_moments.sql``:
    one row per client, never one per interval). ``fit`` takes a fitter of the signature of
    :func:`analytics.statistics.within_between_model` instead, on the interval rows
    (``cohort_score_intervals.sql``; the tests' statsmodels cross-check).
    Cohorts with more than ``max_clients`` eligible clients are sampled down deterministically
    (lowest md5 of client_id) in SQL; the result says so.
    """
    settings = settings or active_settings()
    params = query_params(viewer, cohort, measure=measure, max_gap_days=MAX_INTERVAL_DAYS, max_clients=int(max_clients),
                          baseline_days=settings.baseline_days_before_intake,
                          unreviewed_as_not_done=settings.unreviewed_as_not_done)
    if fit is None:
        moments = _interval_moments(db.query("cohort_score_interval_moments", params))
        clients_eligible = int(moments["clients_eligible"].iloc[0]) if len(moments) else 0
        clients_used, intervals_used = len(moments), int(moments["n"].sum())

        def model(**spec: Any) -> MixedModelResult:
            return within_between_from_groups(moments, **spec)
    else:
        rows = db.query("cohort_score_intervals", params)
        clients_eligible = int(rows["clients_eligible"].iloc[0]) if len(rows) else 0
        for col in ("change", "quantity", "score", "week"):
            rows[col] = pd.to_numeric(rows[col], errors="coerce").astype(float)
        client_mean_score = rows.groupby("client_id", sort=False)["score"].transform("mean")
        rows["score_within"] = rows["score"] - client_mean_score
        rows["score_between"] = client_mean_score
        clients_used, intervals_used = int(rows["client_id"].nunique()), len(rows)

        def model(**spec: Any) -> MixedModelResult:
            return fit(rows, group="client_id", **spec)
    started = time.perf_counter()
    forward = model(outcome="change", predictor="quantity", covariates=FORWARD_COVARIATES)
    reverse = model(outcome="quantity", predictor="score", covariates=REVERSE_COVARIATES)
    forward_raw = model(outcome="change", predictor="quantity")
    reverse_raw = model(outcome="quantity", predictor="score")
    seconds = time.perf_counter() - started
    same = f"Homework and {measure} change in the same interval"
    reverse_label = f"{measure} score and the homework of the interval it starts"
    points, pp = "points per 10 pp more homework", "pp of homework per score point"
    coefficients = pd.DataFrame(
        _coefficient_rows(forward, f"{same}, {FORWARD_ADJUSTMENT}", 0.1, points)
        + _coefficient_rows(reverse, f"{reverse_label}, {REVERSE_ADJUSTMENT}", 100.0, pp)
        + _coefficient_rows(forward_raw, f"{same}, unadjusted", 0.1, points)
        + _coefficient_rows(reverse_raw, f"{reverse_label}, unadjusted (time in treatment confounds it)", 100.0, pp)
    )
    return WithinClientAnalysis(
        measure=measure,
        forward=forward,
        reverse=reverse,
        clients_eligible=clients_eligible,
        clients_used=clients_used,
        intervals_used=intervals_used,
        max_clients=int(max_clients),
        sampled=clients_eligible > int(max_clients),
        seconds=seconds,
        coefficients=coefficients,
        forward_unadjusted=forward_raw,
        reverse_unadjusted=reverse_raw,
    )


# --------------------------------------------------------------------------- clinical significance

#: Default reliabilities for the Jacobson-Truax RCI, per measure: (r_xx, source). Test-retest
#: where published; configurable on the page. Not in clinical-reference.md (which cites the
#: same papers for the measures' bands): verify against the source before changing.
DEFAULT_RELIABILITY: dict[str, tuple[float, str]] = {
    "PHQ-9": (0.84, "Kroenke, Spitzer & Williams 2001: test-retest within 48 hours"),
    "GAD-7": (0.83, "Spitzer, Kroenke, Williams & Loewe 2006: test-retest (intraclass) within 1 week"),
    "CORE-10": (0.90, "Barkham et al. 2013: internal consistency (alpha)"),
}


@dataclass(frozen=True)
class JTNorms:
    """Per-measure inputs of the Jacobson-Truax analysis (hashable, for caching).

    reliability: r_xx in [0, 1). functional_mean / functional_sd: the functional
    (non-clinical) population's norms; both or neither. cutoff: the clinical-significance
    cut-off used for recovered / harmed: "c" (needs the functional norms; the default), "b"
    (M_func + 2 SD_func; needs them) or "a" (M_dys - 2 SD_dys; the cohort's first scores, no
    functional norms needed). Without a usable cut-off only improved / unchanged /
    deteriorated are possible.
    """

    measure: str
    reliability: float
    functional_mean: float | None = None
    functional_sd: float | None = None
    cutoff: str = "c"


def default_jt_norms(measures: list[str] | tuple[str, ...]) -> tuple[JTNorms, ...]:
    """Default norms for the given measures: reliability from DEFAULT_RELIABILITY, no functional norms.

    A measure without a default reliability is left out (the page asks for one).
    """
    return tuple(JTNorms(m, DEFAULT_RELIABILITY[m][0]) for m in measures if m in DEFAULT_RELIABILITY)


JT_NORM_COLUMNS = ("measure", "reliability", "functional_mean", "functional_sd", "cutoff", "source")


def jt_norm_rows(measures: Sequence[str], chosen: Sequence[JTNorms] = ()) -> pd.DataFrame:
    """The norms table the page lets a supervisor edit, one row per measure: the norms chosen
    earlier where there are some, else the defaults (:data:`DEFAULT_RELIABILITY`, no
    functional norms, cut-off c), with the source of the default reliability."""
    stored = {n.measure: n for n in chosen}
    rows = []
    for m in measures:
        norm = stored.get(m) or next(iter(default_jt_norms([m])), None)
        rows.append({
            "measure": m,
            "reliability": norm.reliability if norm else None,
            "functional_mean": norm.functional_mean if norm else None,
            "functional_sd": norm.functional_sd if norm else None,
            "cutoff": norm.cutoff if norm else "c",
            "source": DEFAULT_RELIABILITY.get(m, (None, "not set: enter a reliability"))[1],
        })
    return pd.DataFrame(rows, columns=list(JT_NORM_COLUMNS))


def jt_norms_from_rows(rows: pd.DataFrame) -> tuple[JTNorms, ...]:
    """The edited norms table as :class:`JTNorms` (rows without a reliability are left out;
    functional norms only when both mean and SD are given; cut-off c when none is chosen)."""
    norms = []
    for row in rows.itertuples(index=False):
        if pd.isna(row.reliability):
            continue
        has_norms = pd.notna(row.functional_mean) and pd.notna(row.functional_sd)
        norms.append(JTNorms(row.measure, float(row.reliability),
                             float(row.functional_mean) if has_norms else None,
                             float(row.functional_sd) if has_norms else None,
                             str(row.cutoff) if isinstance(row.cutoff, str) else "c"))
    return tuple(norms)


def note_column(frame: pd.DataFrame) -> dict[str, list[str]] | None:
    """A section table's "Note" column (``extra`` of :func:`analytics.publishing.table_frames`):
    where a row's value is withheld because too few clients give it; None without ``too_few``."""
    return {"Note": frame["too_few"].map({True: TOO_FEW, False: ""}).tolist()} if "too_few" in frame.columns else None


@dataclass(frozen=True)
class ClinicalSignificance:
    """Jacobson-Truax categories per measure (counts and shares) and the parameters used."""

    categories: pd.DataFrame
    parameters: pd.DataFrame


JT_ORDER = ("recovered", "improved", "unchanged", "deteriorated", "harmed")


def reliable_improvement_definitions(summary: dict[str, Any], result: ClinicalSignificance,
                                     settings: Settings) -> pd.DataFrame:
    """The two reliable improvements side by side, per measure, over the same paired clients:
    the headline's (a change of at least the measure's fixed reliable-change points, NHS Talking
    Therapies; :func:`analytics.metrics.cohort_summary`) and the Clinical significance tab's
    (Jacobson-Truax: |RC| > 1.96 from this cohort's SD and the chosen reliability, categories
    improved + recovered). They differ only by the threshold (e.g. PHQ-9: 6 points against
    about 6.2, so a client 6 points better counts in the first, not the second).

    Columns: measure, paired, fixed_points, fixed_count, fixed_share, rci_points, rci_count,
    rci_share, reason.
    """
    rows = []
    params = result.parameters.set_index("measure") if len(result.parameters) else pd.DataFrame()
    for measure in params.index:
        m = (summary.get("measures") or {}).get(measure) or {}
        definition = settings.measure(measure)
        paired = int(m.get("clients_paired", 0))
        cats = result.categories[result.categories["measure"] == measure]
        if definition is None or not paired or cats.empty:
            continue
        fixed = int(m.get("reliable_improvement", 0))
        rci = int(cats.loc[cats["category"].isin(("improved", "recovered")), "clients"].sum())
        rci_points = float(params.loc[measure, "reliable_change_points"])
        reason = (f"Same {paired:,} paired clients. Headline: a change of {definition.reliable_change}+ points "
                  f"(NHS Talking Therapies fixed reliable change). Here: a change of more than {rci_points:.1f} "
                  f"points (RCI from this cohort's SD and reliability {float(params.loc[measure, 'reliability']):.2f})")
        if rci != fixed:
            reason += f"; the {abs(fixed - rci):,} clients between the two thresholds make the difference"
        rows.append({
            "measure": measure, "paired": paired, "fixed_points": definition.reliable_change, "fixed_count": fixed,
            "fixed_share": fixed / paired, "rci_points": rci_points, "rci_count": rci, "rci_share": rci / paired,
            "reason": reason + ".",
        })
    return pd.DataFrame(rows, columns=["measure", "paired", "fixed_points", "fixed_count", "fixed_share",
                                       "rci_points", "rci_count", "rci_share", "reason"])


def measure_higher_is_better(measure: str, settings: Settings) -> bool:
    definition = settings.measure(measure)
    return definition is not None and definition.higher_is_better


def _lower_is_better(measure: str, settings: Settings) -> bool:
    """The measure's direction (``MeasureDefinition.direction``); unknown measures: lower is better."""
    definition = settings.measure(measure)
    return definition is None or not definition.higher_is_better


def clinical_significance(
    db: ClinicDatabase,
    viewer: Viewer,
    cohort: CohortFilter | None,
    norms: tuple[JTNorms, ...],
    settings: Settings | None = None,
) -> ClinicalSignificance:
    """Reliable change index and clinical significance (Jacobson & Truax 1991) per measure.

    Counted in the database (``cohort_jacobson_truax.sql``: one row per measure, never one per
    client), with the definitions of :func:`analytics.statistics.jacobson_truax` on each paired
    client's first and last score (SD_pre = the sample SD of those first scores); the tests compare
    the two on the fixture clinics. Measures with fewer paired clients than the minimum are
    reported as too few.
    """
    settings = settings or active_settings()
    if not norms:
        return ClinicalSignificance(pd.DataFrame(columns=["measure", "category", "clients", "share", "paired"]),
                                    pd.DataFrame())
    rows = db.query("cohort_jacobson_truax", query_params(
        viewer, cohort, baseline_days=settings.baseline_days_before_intake,
        measure_definitions=settings.measure_definitions(), critical_value=Z_95,
        norms=[{"measure": n.measure, "reliability": float(n.reliability),
                "functional_mean": _jt_norms_used(n)[0], "functional_sd": _jt_norms_used(n)[1],
                "cutoff": _jt_cutoff(n) or None, "lower_is_better": _lower_is_better(n.measure, settings)}
               for n in norms],
    ))
    return _clinical_significance(rows, norms, settings)


def _jt_norms_used(norm: JTNorms) -> tuple[float | None, float | None]:
    """The functional norms used: both or neither."""
    if norm.functional_mean is None or norm.functional_sd is None:
        return None, None
    return float(norm.functional_mean), float(norm.functional_sd)


def _jt_cutoff(norm: JTNorms) -> str:
    """The cut-off used ("" = none: no functional norms and a cut-off other than a)."""
    with_norms = _jt_norms_used(norm)[0] is not None
    return norm.cutoff if with_norms or norm.cutoff == "a" else ""


def _number(value: Any) -> float:
    return np.nan if value is None or pd.isna(value) else float(value)


def _clinical_significance(
    rows: pd.DataFrame, norms: tuple[JTNorms, ...], settings: Settings
) -> ClinicalSignificance:
    """The tab's two tables from the per-measure rows of ``cohort_jacobson_truax.sql``."""
    min_n = _min_n(settings, 2)
    by_measure = {row["measure"]: row for row in rows.to_dict("records")}
    category_rows, parameter_rows = [], []
    for norm in norms:
        row = by_measure.get(norm.measure, {})
        n = int(row.get("paired") or 0)
        cutoff = _jt_cutoff(norm)
        base = {"measure": norm.measure, "paired": n, "reliability": norm.reliability}
        if n < min_n:
            parameter_rows.append({**base, "sd_pre": np.nan, "reliable_change_points": np.nan, "cutoff_c": np.nan,
                                   "cutoff_a": np.nan, "cutoff_b": np.nan, "cutoff": cutoff,
                                   "functional_mean": norm.functional_mean, "functional_sd": norm.functional_sd,
                                   "too_few": True, "message": TOO_FEW})
            continue
        message = row.get("message")
        too_few = isinstance(message, str)
        s_diff = _number(row.get("s_diff"))
        parameter_rows.append(
            {
                **base,
                "sd_pre": _number(row.get("sd_pre")),
                "reliable_change_points": s_diff * Z_95,
                "cutoff_c": _number(row.get("cutoff_c")),
                "cutoff_a": _number(row.get("cutoff_a")),
                "cutoff_b": _number(row.get("cutoff_b")),
                "cutoff": cutoff,
                "functional_mean": norm.functional_mean,
                "functional_sd": norm.functional_sd,
                "too_few": too_few,
                "message": message if too_few else "",
            }
        )
        if too_few:
            continue
        counts = {category: int(row[category]) for category in JT_ORDER}
        categorised = sum(counts.values())
        possible = JT_ORDER if cutoff else ("improved", "unchanged", "deteriorated")
        for category in possible:
            k = counts[category]
            category_rows.append(
                {"measure": norm.measure, "category": category, "clients": k,
                 "share": k / categorised if categorised else np.nan, "paired": categorised}
            )
    categories = pd.DataFrame(category_rows, columns=["measure", "category", "clients", "share", "paired"])
    parameters = pd.DataFrame(parameter_rows)
    return ClinicalSignificance(categories, parameters)
