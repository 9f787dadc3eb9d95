"""The quality-improvement outcome counts as the package computed them before they moved into the
database (issue 12): one row per discharged client pulled into pandas, merged with the per-client
outcomes (:func:`analytics.metrics.client_paired_outcomes` / :func:`analytics.metrics.client_outcomes`)
and summed there. Kept as the reference the SQL aggregation
(analytics/quality_improvement/sql/quality_outcome_counts*.sql) is compared with in
tests/test_quality_outcome_counts.py; the package no longer runs it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from analytics.config import Settings, active_settings
from analytics.db import ClinicDatabase
from analytics.metrics import client_outcomes, client_paired_outcomes
from analytics.quality_improvement.model import (
    ALL_LABEL,
    NOT_RECORDED,
    OUTCOME_COUNT_KEYS,
    OUTCOME_PERIODS,
    UNIT_TYPES,
    _with_rates,
    paired_outcome_choice,
    period_label,
)
from analytics.scope import CohortFilter, Viewer, query_params

# analytics/quality_improvement/sql/quality_discharged_clients.sql as it was.
DISCHARGED_SQL = """
WITH cohort AS (
    SELECT * FROM cohort_clients($cohort)
)
SELECT client_id, clinic, therapist_id, program, discharge_date
FROM cohort
WHERE discharge_date BETWEEN $period_start::DATE AND $period_end::DATE
ORDER BY client_id
"""


def finished_clients(
    db: ClinicDatabase,
    viewer: Viewer,
    cohort: CohortFilter | None,
    measure: str,
    period_start: date,
    period_end: date,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """One row per client discharged in the period with their outcome on ``measure`` (NA when not finished)."""
    settings = settings or active_settings()
    cohort = cohort or CohortFilter()
    discharged = db.execute_sql(DISCHARGED_SQL, query_params(
        viewer, cohort, period_start=period_start, period_end=period_end), label="reference_discharged_clients")
    if measure == paired_outcome_choice(settings):
        paired = client_paired_outcomes(db, viewer, cohort, settings).rename(columns={"finished": "paired"})
        keep = ["client_id", "paired", "caseness_at_first", "recovered", "reliable_improvement",
                "reliable_deterioration", "reliable_recovery"]
        merged = discharged.merge(paired[keep], on="client_id", how="left")
        merged["paired"] = merged["paired"].astype("boolean").fillna(False)
        merged["discharge_date"] = pd.to_datetime(merged["discharge_date"])
        return merged.reset_index(drop=True)
    outcomes = client_outcomes(db, viewer, cohort.with_(measures=(measure,)), settings)
    outcomes = outcomes[outcomes["measure"] == measure]
    outcomes = outcomes.assign(reliable_recovery=outcomes["recovered"] & outcomes["reliable_improvement"])
    keep = ["client_id", "paired", "caseness_at_first", "recovered", "reliable_improvement", "reliable_deterioration",
            "reliable_recovery"]
    merged = discharged.merge(outcomes[keep], on="client_id", how="left")
    merged["paired"] = merged["paired"].astype("boolean").fillna(False)
    merged["discharge_date"] = pd.to_datetime(merged["discharge_date"])
    return merged.reset_index(drop=True)


def _outcome_flags(finished: pd.DataFrame) -> pd.DataFrame:
    paired = finished["paired"].astype("boolean").fillna(False).astype(bool)

    def flag(column: str) -> pd.Series:
        return (finished[column].astype("boolean").fillna(False).astype(bool) & paired).astype("int64")

    return pd.DataFrame({
        "discharged": 1,
        "finished": paired.astype("int64"),
        "caseness_at_first": flag("caseness_at_first"),
        "recovered": flag("recovered"),
        "reliable_improvement": flag("reliable_improvement"),
        "reliable_deterioration": flag("reliable_deterioration"),
        "reliable_recovery": flag("reliable_recovery"),
    }, index=finished.index)


def outcome_counts(finished: pd.DataFrame) -> dict[str, int]:
    if finished.empty:
        return dict.fromkeys(OUTCOME_COUNT_KEYS, 0)
    sums = _outcome_flags(finished).sum()
    return {key: int(sums[key]) for key in OUTCOME_COUNT_KEYS}


def _grouped_outcome_counts(finished: pd.DataFrame, keys: pd.Series, labels: Sequence[str]) -> pd.DataFrame:
    if finished.empty:
        sums = pd.DataFrame(0, index=pd.Index(list(labels)), columns=list(OUTCOME_COUNT_KEYS))
    else:
        sums = _outcome_flags(finished).groupby(keys.to_numpy()).sum()
        sums = sums.reindex(list(labels), fill_value=0)
    return sums.astype("int64")


def outcomes_by_discharge(
    finished: pd.DataFrame, period_start: date, period_end: date, outcome_period: str = "month"
) -> pd.DataFrame:
    if outcome_period not in OUTCOME_PERIODS:
        raise ValueError(f"outcome_period must be one of {OUTCOME_PERIODS}, got {outcome_period!r}")
    if outcome_period == "quarter":
        first = pd.Timestamp(period_start).to_period("Q").start_time
        starts = pd.date_range(first, pd.Timestamp(period_end), freq="QS")
    else:
        starts = pd.date_range(pd.Timestamp(period_start).replace(day=1), pd.Timestamp(period_end), freq="MS")
    labels = list(dict.fromkeys(period_label(s, outcome_period, period_start, period_end) for s in starts))
    keys = (finished["discharge_date"].map(lambda t: period_label(t, outcome_period, period_start, period_end))
            if len(finished) else pd.Series([]))
    frame = _grouped_outcome_counts(finished, keys, labels).rename_axis("period").reset_index()
    total = pd.DataFrame([{"period": ALL_LABEL, **outcome_counts(finished)}])
    return _with_rates(pd.concat([frame, total], ignore_index=True))


def unit_outcomes(finished: pd.DataFrame, unit_type: str) -> pd.DataFrame:
    if unit_type not in UNIT_TYPES:
        raise ValueError(f"unknown unit type {unit_type!r}")
    column = "therapist_id" if unit_type == "therapist" else unit_type
    labels = finished[column].astype("object").where(finished[column].notna(), NOT_RECORDED)
    units = sorted(set(labels), key=str)
    frame = _grouped_outcome_counts(finished, labels, units).rename_axis("unit").reset_index()
    return _with_rates(frame)
