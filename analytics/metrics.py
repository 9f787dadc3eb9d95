"""The product's metrics: one definition each, documented in docs/metrics.md.

Assignment-level fractions are SQL macros (analytics/sql/macros.sql) so that every query
shares them; client- and cohort-level metrics are here. The dashboard, the CSV exports and
``python -m analytics summary`` all call these functions, so their numbers agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from .config import Settings, active_settings
from .db import ClinicDatabase
from .scope import CohortFilter, Viewer, query_params
from .statistics import pearson

#: Every cut applied to a compliance fraction (the compliance bands, the quantity x quality 2x2,
#: the alert groups) compares the value rounded to this many decimals, so that floating-point
#: noise cannot move a client across a cut: a mean of 2/5, 1 and 1 computes as
#: 0.7999999999999999 and must still count as 80% (docs/metrics.md, "Cuts").
CUT_DECIMALS = 9

OUTCOME_COLUMNS = (
    "paired",
    "change",
    "improvement",
    "reliable_improvement",
    "reliable_deterioration",
    "caseness_at_first",
    "caseness_at_last",
    "recovered",
)


def cohort_clients(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None = None) -> pd.DataFrame:
    """The cohort's clients (one row each, with client ids) that the viewer may see.

    Identifiable: refused for viewers who see de-identified aggregates only.
    """
    viewer.require_identifiers()
    return clients_for_aggregation(db, viewer, cohort)


def clients_for_aggregation(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None = None) -> pd.DataFrame:
    """The cohort's client rows as input to aggregates (any role); never display them as a list."""
    return db.query("cohort_clients", query_params(viewer, cohort))


def client_homework(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None = None, settings: Settings | None = None
) -> pd.DataFrame:
    """Per client: assignments, reviewed_assignments, reviewed_share, quantity and quality (0-1),
    follow_up_assignments.

    Counted over the treatment window (intake to discharge; SQL macro client_homework_rows). A
    client's quantity (quality) is the mean of their assignments' quantity (quality) fractions;
    unreviewed assignments are left out, or count as not done when
    ``settings.unreviewed_as_not_done``. Clients with no assignment have no row. An input to
    aggregates: pages show it only to viewers who may see identifiers.
    """
    settings = settings or active_settings()
    return db.query(
        "client_homework", query_params(viewer, cohort, unreviewed_as_not_done=settings.unreviewed_as_not_done)
    )


def cut_values(values: Any) -> np.ndarray:
    """Compliance fractions as compared with a cut: floats rounded to ``CUT_DECIMALS`` (NaN kept)."""
    return np.round(pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan), CUT_DECIMALS)


def classify_outcomes(scores: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Add the outcome columns to per-client, per-measure first/last scores.

    Input columns: measure, first_date, first_score, last_date, last_score.
    - paired: the last score is later than the first.
    - change = last - first (points, signed as the scale: negative is improvement on a
      lower-is-better measure, positive on a higher-is-better one).
    - improvement = change on a higher-is-better measure, -change on a lower-is-better one
      (points; positive = better, whatever the measure's direction).
    - reliable_improvement: improvement >= RC; reliable_deterioration: improvement <= -RC.
    - caseness_at_first / _at_last: :meth:`MeasureDefinition.at_caseness` (score >= threshold
      when lower is better, <= threshold when higher is better).
    - recovered: at caseness at first and not at last.
    Outcome columns are only True/False for paired rows (NA otherwise).
    """
    out = scores.copy()
    paired = out["last_date"].notna() & (out["last_date"] > out["first_date"])
    out["paired"] = paired
    change = (out["last_score"] - out["first_score"]).astype("Float64")
    out["change"] = change.where(paired)
    definitions = {m.name: m for m in settings.measures}
    sign = out["measure"].map({n: m.improvement_sign for n, m in definitions.items()}).astype("Float64")
    higher = out["measure"].map({n: m.higher_is_better for n, m in definitions.items()}).astype("boolean")
    higher = higher.fillna(False).astype(bool)
    out["improvement"] = out["change"] * sign
    rc = out["measure"].map({n: m.reliable_change for n, m in definitions.items()}).astype("Float64")
    threshold = out["measure"].map({n: m.caseness_threshold for n, m in definitions.items()}).astype("Float64")

    def at_caseness(score: pd.Series) -> pd.Series:
        score = score.astype("Float64")
        return (score <= threshold).where(higher, score >= threshold)

    case_first = at_caseness(out["first_score"])
    case_last = at_caseness(out["last_score"])
    out["reliable_improvement"] = (out["improvement"] >= rc).where(paired).astype("boolean")
    out["reliable_deterioration"] = (out["improvement"] <= -rc).where(paired).astype("boolean")
    out["caseness_at_first"] = case_first.astype("boolean")
    out["caseness_at_last"] = case_last.where(paired).astype("boolean")
    out["recovered"] = (case_first & ~case_last).where(paired).astype("boolean")
    return out


def client_outcomes(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None = None, settings: Settings | None = None
) -> pd.DataFrame:
    """One row per client and measure: first/last scores, outcomes and the client's homework."""
    settings = settings or active_settings()
    scores = db.query("client_measure_scores", query_params(viewer, cohort, baseline_days=settings.baseline_days_before_intake))
    outcomes = classify_outcomes(scores, settings)
    homework = client_homework(db, viewer, cohort, settings)
    return outcomes.merge(homework, on="client_id", how="left")


PAIRED_OUTCOME_COLUMNS = (
    "finished",
    "caseness_at_first",
    "caseness_at_last",
    "recovered",
    "reliable_improvement",
    "reliable_deterioration",
    "reliable_recovery",
)


def classify_paired_outcomes(rows: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """NHS Talking Therapies paired outcomes of clients' first and last paired scores.

    Input: rows of ``client_paired_scores.sql`` (first/last depression and anxiety scores of the
    paired measures ``settings.paired_measures``, n_paired, sessions, attended_sessions).
    - finished: at least two paired scores (n_paired >= 2) and, when the client has sessions on
      record, at least two attended sessions (NHS: two treatment appointments).
    - caseness_at_first / _at_last: at caseness on either measure (depression OR anxiety,
      :meth:`MeasureDefinition.at_caseness`, so the measures' direction applies).
    - recovered: at caseness at the first paired score and on neither measure at the last.
    - reliable_improvement: at least one measure reliably improved (improvement >= its reliable
      change) and none reliably deteriorated; reliable_deterioration: at least one reliably
      deteriorated and none reliably improved (both on one client: neither).
    - reliable_recovery: recovered and reliable_improvement.
    Outcome columns are True/False for finished clients and NA otherwise.
    """
    out = rows.copy()
    dep = settings.measure(settings.paired_measures[0])
    anx = settings.measure(settings.paired_measures[1])
    if dep is None or anx is None:
        raise ValueError(
            f"paired_measures {settings.paired_measures!r}: both must be configured measures "
            f"(configured: {', '.join(settings.measure_names)})"
        )
    sessions = pd.to_numeric(out["sessions"], errors="coerce").fillna(0)
    attended = pd.to_numeric(out["attended_sessions"], errors="coerce").fillna(0)
    finished = (pd.to_numeric(out["n_paired"]) >= 2) & ((sessions == 0) | (attended >= 2))
    out["finished"] = finished.astype(bool)

    def values(column: str) -> np.ndarray:
        return pd.to_numeric(out[column], errors="coerce").to_numpy(dtype=float)

    def case(definition: Any, score: np.ndarray) -> np.ndarray:
        t = definition.caseness_threshold
        return score <= t if definition.higher_is_better else score >= t

    def reliable(definition: Any, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        improvement = definition.improvement_sign * (last - first)
        return improvement >= definition.reliable_change, improvement <= -definition.reliable_change

    d0, d1, a0, a1 = values("first_depression"), values("last_depression"), values("first_anxiety"), values("last_anxiety")
    case_first = case(dep, d0) | case(anx, a0)
    case_last = case(dep, d1) | case(anx, a1)
    dep_up, dep_down = reliable(dep, d0, d1)
    anx_up, anx_down = reliable(anx, a0, a1)
    improved = (dep_up | anx_up) & ~(dep_down | anx_down)
    deteriorated = (dep_down | anx_down) & ~(dep_up | anx_up)
    recovered = case_first & ~case_last
    mask = out["finished"].to_numpy()

    def flag(values: np.ndarray) -> pd.Series:
        return pd.Series(values, index=out.index).where(mask).astype("boolean")

    out["caseness_at_first"] = flag(case_first)
    out["caseness_at_last"] = flag(case_last)
    out["recovered"] = flag(recovered)
    out["reliable_improvement"] = flag(improved)
    out["reliable_deterioration"] = flag(deteriorated)
    out["reliable_recovery"] = flag(recovered & improved)
    return out


def client_paired_outcomes(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None = None, settings: Settings | None = None,
    client_id: str | None = None,
) -> pd.DataFrame:
    """One row per client with a paired score: :func:`classify_paired_outcomes` of
    ``client_paired_scores.sql`` (NHS Talking Therapies paired definitions)."""
    settings = settings or active_settings()
    dep = settings.measure(settings.paired_measures[0])
    anx = settings.measure(settings.paired_measures[1])
    params = query_params(
        viewer, cohort, depression_measure=dep.name if dep else settings.paired_measures[0],
        anxiety_measure=anx.name if anx else settings.paired_measures[1],
        baseline_days=settings.baseline_days_before_intake,
    )
    if client_id is not None:
        params["client_id"] = str(client_id)
    rows = db.query("client_paired_scores", params)
    return classify_paired_outcomes(rows, settings)


@dataclass(frozen=True)
class Rate:
    """A rate as a count over a denominator (both whole numbers), kept exact.

    ``value`` is the fraction (None when the denominator is 0); :meth:`percent` rounds the
    exact percentage as NHS England publishes it (halves away from zero).
    """

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    def percent(self, decimals: int) -> Decimal | None:
        """100 * numerator / denominator, rounded to ``decimals`` places (half up), computed
        exactly (no floating point: 1/8 is 12.5 and rounds to 13, never 12)."""
        if not self.denominator:
            return None
        scaled = abs(Fraction(100 * self.numerator * 10**decimals, self.denominator))
        rounded = math.floor(scaled + Fraction(1, 2))
        sign = -1 if self.numerator * self.denominator < 0 else 1
        return Decimal(sign * rounded).scaleb(-decimals)


#: The NHS Talking Therapies paired rates: name -> (numerator count, denominator).
NHS_PAIRED_RATES = {
    "recovery_rate": ("recovered", "recovery_denominator"),
    "reliable_recovery_rate": ("reliable_recovery", "recovery_denominator"),
    "reliable_improvement_rate": ("reliable_improvement", "finished"),
    "reliable_deterioration_rate": ("reliable_deterioration", "finished"),
}


def nhs_paired_rates(
    finished: int | None,
    not_caseness_at_start: int | None,
    recovered: int | None = None,
    reliable_recovery: int | None = None,
    reliable_improvement: int | None = None,
    reliable_deterioration: int | None = None,
) -> dict[str, Rate | None]:
    """The NHS Talking Therapies paired rates from their counts: the product's one definition.

    NHS England's published measure definitions (annual report, measures ``Percentage_Recovery``,
    ``Percentage_ReliableRecovery``, ``Percentage_Improvement``, ``Percentage_Deterioration``):
    - finished = referrals that finished a course of treatment (at least two attended treatment
      appointments);
    - recovery rate = recovered / (finished - not at caseness at the start);
    - reliable recovery rate = reliable recovery / (finished - not at caseness at the start);
    - reliable improvement rate = reliable improvement / finished;
    - reliable deterioration rate = reliable deterioration / finished.
    A rate is None when one of its counts is None (not known, e.g. suppressed in a publication).
    Used by :func:`paired_summary` on the clinic's clients and by the reproduction of NHS
    England's published national figures (``analytics.nhs_talking_therapies``).
    """
    counts = {
        "finished": finished,
        "recovery_denominator": None if finished is None or not_caseness_at_start is None
        else finished - not_caseness_at_start,
        "recovered": recovered,
        "reliable_recovery": reliable_recovery,
        "reliable_improvement": reliable_improvement,
        "reliable_deterioration": reliable_deterioration,
    }
    out: dict[str, Rate | None] = {}
    for name, (numerator, denominator) in NHS_PAIRED_RATES.items():
        n, d = counts[numerator], counts[denominator]
        out[name] = None if n is None or d is None else Rate(int(n), int(d))
    return out


def paired_summary(paired: pd.DataFrame, discharged_only: bool = True) -> dict[str, Any]:
    """NHS Talking Therapies paired rates from :func:`client_paired_outcomes` rows.

    Finished clients (``discharged_only``: discharged ones only, a finished course of treatment);
    the rates are :func:`nhs_paired_rates` of the counts: recovery and reliable recovery rates =
    count / (finished - not at caseness at the first paired score); reliable improvement and
    deterioration rates = count / finished.
    """
    rows = paired
    if discharged_only and "discharge_date" in rows:
        rows = rows[rows["discharge_date"].notna()]
    finished = rows[rows["finished"].astype(bool)]
    n = len(finished)
    caseness = _count(finished["caseness_at_first"])
    counts = {k: _count(finished[k]) for k in ("recovered", "reliable_improvement", "reliable_deterioration",
                                               "reliable_recovery")}
    rates = nhs_paired_rates(finished=n, not_caseness_at_start=n - caseness, **counts)
    return {
        "measures": None,
        "clients_with_paired_scores": len(rows),
        "finished": n,
        "caseness_at_first": caseness,
        "not_caseness_at_first": n - caseness,
        **counts,
        **{name: rate.value for name, rate in rates.items()},
    }


def _mean(series: pd.Series) -> float | None:
    values = pd.to_numeric(series, errors="coerce").dropna()
    return float(values.mean()) if len(values) else None


def _count(mask: pd.Series) -> int:
    return int(mask.fillna(False).astype(bool).sum())


def measure_summary(outcomes: pd.DataFrame, settings: Settings | None = None) -> dict[str, Any]:
    """Cohort figures of one measure from :func:`client_outcomes` rows of that measure.

    Means of first, last and change are over paired clients. caseness_at_first counts
    paired clients at caseness at their first score: the recovery rate's denominator
    (NHS Talking Therapies; clinical-reference.md "Outcome definitions").
    r_quantity_change / r_quality_change come with their n (paired clients with a value) and
    95% Fisher-z interval; r is None below ``settings.minimum_n(4)`` pairs, the rule the
    dashboard uses ("too few clients").
    """
    settings = settings or active_settings()
    paired = outcomes[outcomes["paired"].astype(bool)]
    at_caseness = paired["caseness_at_first"].fillna(False).astype(bool)
    recovered = _count(paired["recovered"])
    caseness_n = int(at_caseness.sum())

    def r_with(column: str) -> dict[str, Any]:
        key = f"r_{column}_change"
        if column not in paired:
            return {key: None, f"{key}_n": 0, f"{key}_ci_low": None, f"{key}_ci_high": None}
        with_value = paired[paired[column].notna()]
        result = pearson(with_value[column].astype(float), with_value["change"].astype(float), min_n=settings.minimum_n(4))
        ok = result.r is not None and not math.isnan(result.r)
        return {
            key: float(result.r) if ok else None,
            f"{key}_n": int(result.n),
            f"{key}_ci_low": float(result.ci_low) if ok and result.ci_low is not None else None,
            f"{key}_ci_high": float(result.ci_high) if ok and result.ci_high is not None else None,
        }

    return {
        "clients_scored": int(outcomes["client_id"].nunique()),
        "clients_paired": len(paired),
        "mean_first": _mean(paired["first_score"]),
        "mean_last": _mean(paired["last_score"]),
        "mean_change": _mean(paired["change"]),
        "reliable_improvement": _count(paired["reliable_improvement"]),
        "reliable_deterioration": _count(paired["reliable_deterioration"]),
        "caseness_at_first": caseness_n,
        "recovered": recovered,
        "recovery_rate": (recovered / caseness_n) if caseness_n else None,
        **r_with("quantity"),
        **r_with("quality"),
    }


def cohort_summary(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """The cohort summary printed by ``python -m analytics summary --json``.

    mean_quantity / mean_quality: mean over the cohort's clients of each client's value
    (each client counts once; clients with no reviewed assignment are left out).
    reviewed_share: mean over clients with an assignment of each client's reviewed share, shown
    beside every compliance figure. follow_up_assignments: set after discharge (not counted).
    """
    settings = settings or active_settings()
    clients = int(db.query("cohort_client_count", query_params(viewer, cohort))["clients"].iloc[0])
    homework = client_homework(db, viewer, cohort, settings)
    outcomes = client_outcomes(db, viewer, cohort, settings)
    measures = settings.ordered_measures(outcomes["measure"])
    return {
        "clients": clients,
        "assignments": int(homework["assignments"].sum()) if len(homework) else 0,
        "reviewed_assignments": int(homework["reviewed_assignments"].sum()) if len(homework) else 0,
        "reviewed_share": _mean(homework["reviewed_share"]),
        "follow_up_assignments": int(homework["follow_up_assignments"].sum()) if len(homework) else 0,
        "mean_quantity": _mean(homework["quantity"]),
        "mean_quality": _mean(homework["quality"]),
        "measures": {m: measure_summary(outcomes[outcomes["measure"] == m], settings) for m in measures},
        "nhs_paired": _nhs_paired_summary(db, viewer, cohort, settings),
    }


def _nhs_paired_summary(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None, settings: Settings
) -> dict[str, Any] | None:
    """:func:`paired_summary` of the cohort (discharged clients), or None when a paired measure
    is not configured."""
    if any(settings.measure(m) is None for m in settings.paired_measures):
        return None
    summary = paired_summary(client_paired_outcomes(db, viewer, cohort, settings))
    summary["measures"] = [settings.measure(m).name for m in settings.paired_measures]
    return summary


def compliance_band(
    quantity: pd.Series, settings: Settings | None = None, reviewed_assignments: pd.Series | None = None
) -> pd.Series:
    """Compliance band of a client's quantity: "< 50%", "50-79%", ">= 80%" by default.

    The quantity is compared with the edges after rounding to ``CUT_DECIMALS`` (:func:`cut_values`).
    With ``reviewed_assignments`` (same index), a client with fewer than
    ``settings.min_reviewed_for_band`` reviewed assignments gets no band (None).
    """
    settings = settings or active_settings()
    low, high = settings.compliance_band_edges
    labels = compliance_band_labels(settings)
    values = cut_values(quantity)
    missing = np.isnan(values)
    if reviewed_assignments is not None:
        reviewed = pd.to_numeric(reviewed_assignments, errors="coerce").fillna(0).to_numpy(dtype=float)
        missing = missing | (reviewed < settings.min_reviewed_for_band)
    band = np.where(missing, None, np.where(values < low, labels[0], np.where(values < high, labels[1], labels[2])))
    return pd.Series(band, index=quantity.index, dtype="object")


def compliance_band_labels(settings: Settings | None = None) -> tuple[str, str, str]:
    settings = settings or active_settings()
    low, high = settings.compliance_band_edges
    return (f"< {low:.0%}", f"{low * 100:.0f}-{high * 100 - 1:.0f}%", f">= {high:.0%}")
