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


def client_homework(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None = None) -> pd.DataFrame:
    """Per client: assignments, reviewed_assignments, quantity and quality (0-1).

    A client's quantity (quality) is the mean of their assignments' quantity (quality)
    fractions; clients with no assignment have no row. An input to aggregates: pages show it
    only to viewers who may see identifiers.
    """
    return db.query("client_homework", query_params(viewer, cohort))


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
    scores = db.query("client_measure_scores", query_params(viewer, cohort))
    outcomes = classify_outcomes(scores, settings)
    homework = client_homework(db, viewer, cohort)
    return outcomes.merge(homework, on="client_id", how="left")


def _mean(series: pd.Series) -> float | None:
    values = pd.to_numeric(series, errors="coerce").dropna()
    return float(values.mean()) if len(values) else None


def _count(mask: pd.Series) -> int:
    return int(mask.fillna(False).astype(bool).sum())


def measure_summary(outcomes: pd.DataFrame) -> dict[str, Any]:
    """Cohort figures of one measure from :func:`client_outcomes` rows of that measure.

    Means of first, last and change are over paired clients. caseness_at_first counts
    paired clients at caseness at their first score: the recovery rate's denominator
    (NHS Talking Therapies; clinical-reference.md "Outcome definitions").
    """
    paired = outcomes[outcomes["paired"].astype(bool)]
    at_caseness = paired["caseness_at_first"].fillna(False).astype(bool)
    recovered = _count(paired["recovered"])
    caseness_n = int(at_caseness.sum())

    def r_with(column: str) -> float | None:
        with_value = paired[paired[column].notna()] if column in paired else paired.iloc[0:0]
        if with_value.empty:
            return None
        result = pearson(with_value[column].astype(float), with_value["change"].astype(float), min_n=3)
        return None if result.r is None or math.isnan(result.r) else float(result.r)

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
        "r_quantity_change": r_with("quantity"),
        "r_quality_change": r_with("quality"),
    }


def cohort_summary(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """The cohort summary printed by ``python -m analytics summary --json``.

    mean_quantity / mean_quality: mean over the cohort's clients of each client's value
    (each client counts once; clients with no reviewed assignment are left out).
    """
    settings = settings or active_settings()
    clients = int(db.query("cohort_client_count", query_params(viewer, cohort))["clients"].iloc[0])
    homework = client_homework(db, viewer, cohort)
    outcomes = client_outcomes(db, viewer, cohort, settings)
    order = {name: i for i, name in enumerate(settings.measure_names)}
    measures = sorted(outcomes["measure"].unique(), key=lambda m: (order.get(m, len(order)), m))
    return {
        "clients": clients,
        "assignments": int(homework["assignments"].sum()) if len(homework) else 0,
        "reviewed_assignments": int(homework["reviewed_assignments"].sum()) if len(homework) else 0,
        "mean_quantity": _mean(homework["quantity"]),
        "mean_quality": _mean(homework["quality"]),
        "measures": {m: measure_summary(outcomes[outcomes["measure"] == m]) for m in measures},
    }


def compliance_band(quantity: pd.Series, settings: Settings | None = None) -> pd.Series:
    """Compliance band of a client's quantity: "< 50%", "50-79%", ">= 80%" by default."""
    settings = settings or active_settings()
    low, high = settings.compliance_band_edges
    labels = compliance_band_labels(settings)
    values = pd.to_numeric(quantity, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    band = np.where(np.isnan(values), None, np.where(values < low, labels[0], np.where(values < high, labels[1], labels[2])))
    return pd.Series(band, index=quantity.index, dtype="object")


def compliance_band_labels(settings: Settings | None = None) -> tuple[str, str, str]:
    settings = settings or active_settings()
    low, high = settings.compliance_band_edges
    return (f"< {low:.0%}", f"{low * 100:.0f}-{high * 100 - 1:.0f}%", f">= {high:.0%}")
