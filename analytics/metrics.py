"""The product's metrics: one definition each, documented in docs/metrics.md.

Assignment-level fractions are SQL macros (analytics/sql/macros.sql) so that every query
shares them; client- and cohort-level metrics are here. The dashboard, the CSV exports and
``python -m analytics summary`` all call these functions, so their numbers agree.
"""

from __future__ import annotations

import math
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
    - change = last - first (points; negative is improvement: lower is better).
    - reliable_improvement: change <= -RC; reliable_deterioration: change >= +RC.
    - caseness_at_first / _at_last: score >= the measure's caseness threshold.
    - recovered: at caseness at first and not at last.
    Outcome columns are only True/False for paired rows (NA otherwise).
    """
    out = scores.copy()
    paired = out["last_date"].notna() & (out["last_date"] > out["first_date"])
    out["paired"] = paired
    change = (out["last_score"] - out["first_score"]).astype("Float64")
    out["change"] = change.where(paired)
    rc = out["measure"].map({m.name: m.reliable_change for m in settings.measures}).astype("Float64")
    threshold = out["measure"].map({m.name: m.caseness_threshold for m in settings.measures}).astype("Float64")
    case_first = out["first_score"].astype("Float64") >= threshold
    case_last = out["last_score"].astype("Float64") >= threshold
    out["reliable_improvement"] = (out["change"] <= -rc).where(paired).astype("boolean")
    out["reliable_deterioration"] = (out["change"] >= rc).where(paired).astype("boolean")
    out["caseness_at_first"] = case_first.astype("boolean")
    out["caseness_at_last"] = case_last.where(paired).astype("boolean")
    out["recovered"] = (case_first & ~case_last).where(paired).astype("boolean")
    return out


def client_outcomes(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None = None, settings: Settings | None = None
) -> pd.DataFrame:
    """One row per client and measure: first/last scores, outcomes and the client's homework."""
    settings = settings or active_settings()
    scores = db.query("client_measure_scores", query_params(viewer, cohort))
    outcomes = classify_outcomes(scores, settings)
    homework = client_homework(db, viewer, cohort, settings)
    return outcomes.merge(homework, on="client_id", how="left")


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
    order = {name: i for i, name in enumerate(settings.measure_names)}
    measures = sorted(outcomes["measure"].unique(), key=lambda m: (order.get(m, len(order)), m))
    return {
        "clients": clients,
        "assignments": int(homework["assignments"].sum()) if len(homework) else 0,
        "reviewed_assignments": int(homework["reviewed_assignments"].sum()) if len(homework) else 0,
        "reviewed_share": _mean(homework["reviewed_share"]),
        "follow_up_assignments": int(homework["follow_up_assignments"].sum()) if len(homework) else 0,
        "mean_quantity": _mean(homework["quantity"]),
        "mean_quality": _mean(homework["quality"]),
        "measures": {m: measure_summary(outcomes[outcomes["measure"] == m], settings) for m in measures},
    }


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
