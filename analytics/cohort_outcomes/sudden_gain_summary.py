"""Sudden gains across a cohort (docs/metrics.md, "Sudden gains"): how many clients have one, how
they end (discharge and follow-up) against the clients without one, and the homework of the weeks
in which gains came against the same clients' other weeks.

Detection is :func:`analytics.sudden_gains.sudden_gains` (Tang & DeRubeis 1999 as in the R package
suddengains; criterion 1 = the measure's reliable change), on each client's treatment scores in date
order; a client needs at least :data:`MIN_SCORES` treatment scores to be looked at (two on each
side of a gain). Gains are descriptive: with retest reliability around .80 and many scores, about a
fifth of unchanged courses show a "gain" by chance (Thomas & Persons 2013; the simulation in
PMC4606893). Aggregates only: no client id leaves this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..config import Settings, active_settings
from ..db import ClinicDatabase
from ..scope import CohortFilter, Viewer, query_params
from ..statistics import wilson_interval
from ..stored import gain_settings
from ..sudden_gains import MIN_SCORES, clients_sudden_gains

GAIN_CAVEAT = (
    "Sudden gains are descriptive: they say when a large, stable drop happened, not why. Measures have limited "
    "retest reliability: with reliability around .80 and many scores per client, about a fifth of courses that "
    "did not really change show a \"gain\" by chance (Thomas & Persons 2013; the simulation in PMC4606893). Homework before a gain and in other weeks is compared within the same clients, and is an "
    "association: it does not show that homework caused the gain."
)


@dataclass(frozen=True)
class SuddenGainSummary:
    """The cohort's sudden gains on one measure (every frame holds counts and means, never a client)."""

    measure: str
    clients_scored: int  # clients with at least MIN_SCORES treatment scores
    clients_with_gain: int
    share: float | None
    share_low: float | None
    share_high: float | None
    gains: int
    reversed: int
    magnitude_mean: float | None
    magnitude_sd: float | None
    outcomes: pd.DataFrame  # group, discharged, mean_improvement, reliable_improvement, recovered, ... follow-up
    homework: pd.DataFrame  # weeks, client_weeks, clients, assignments, reviewed_share, quantity, quality
    min_clients: int

    @property
    def has_data(self) -> bool:
        return self.clients_scored > 0


OUTCOME_GROUPS = ((True, "With a sudden gain"), (False, "Without a sudden gain"))
HOMEWORK_GROUPS = ((True, "Weeks in which a gain came"), (False, "Other weeks (same clients)"))
OUTCOME_COLUMNS = ("group", "discharged", "mean_improvement", "reliable_improvement", "caseness_at_first", "recovered",
                   "follow_up", "follow_up_improvement")
HOMEWORK_COLUMNS = ("weeks", "client_weeks", "clients", "assignments", "reviewed_share", "quantity", "quality")


def _value(part: pd.Series | None, column: str) -> float | None:
    return None if part is None or pd.isna(part[column]) else float(part[column])


def _count(part: pd.Series | None, column: str) -> int:
    return 0 if part is None else int(part[column])


def _found_anew(db: ClinicDatabase, params: dict[str, Any], reliable_change: float,
                higher_is_better: bool) -> dict[str, list]:
    """The cohort's gains found with :func:`analytics.sudden_gains.clients_sudden_gains` from its
    scores (``cohort_gain_scores.sql``): for settings other than those the gains were stored
    under at import, or a database imported before gains were stored. Passed back to SQL as the
    ``found`` argument of the macro ``sudden_gain_rows``."""
    scores = db.query("cohort_gain_scores", params)
    gains = clients_sudden_gains(scores[scores["period"] == "treatment"], reliable_change, higher_is_better)
    return {"client_ids": gains["client_id"].astype(str).tolist(), "first_weeks": gains["first_week"].astype(int).tolist(),
            "last_weeks": gains["last_week"].astype(int).tolist(), "magnitudes": gains["magnitude"].astype(float).tolist(),
            "reversed": gains["reversed"].astype(bool).tolist()}


def _outcomes(rows: pd.DataFrame, clients_scored: int) -> pd.DataFrame:
    """Outcome rows with a gain and without (both, once a client is looked at)."""
    by_group = rows[rows["gain"].notna()].set_index("gain")
    out = []
    for gain, label in OUTCOME_GROUPS if clients_scored else ():
        part = by_group.loc[gain] if gain in by_group.index else None
        out.append({
            "group": label, "discharged": _count(part, "discharged"), "mean_improvement": _value(part, "mean_improvement"),
            "reliable_improvement": _value(part, "reliable_improvement"),
            "caseness_at_first": _count(part, "caseness_at_first"), "recovered": _value(part, "recovered"),
            "follow_up": _count(part, "follow_up"), "follow_up_improvement": _value(part, "follow_up_improvement"),
        })
    return pd.DataFrame(out, columns=list(OUTCOME_COLUMNS))


def _gain_week_homework(db: ClinicDatabase, params: dict[str, Any]) -> pd.DataFrame:
    """The homework of the gain clients in the weeks of their gains against their other weeks with
    homework: ``cohort_gain_week_homework.sql`` sums it in the database (a row per group, never
    one per client or week); here the two groups are labelled and the reviewed share taken."""
    sums = db.query("cohort_gain_week_homework", params).set_index("gain_week")
    rows = []
    for gain_week, label in HOMEWORK_GROUPS:
        part = sums.loc[gain_week] if gain_week in sums.index else None
        assignments = _count(part, "assignments")
        rows.append({
            "weeks": label, "client_weeks": _count(part, "client_weeks"), "clients": _count(part, "clients"),
            "assignments": assignments,
            "reviewed_share": _count(part, "reviewed") / assignments if assignments else None,
            "quantity": _value(part, "quantity"), "quality": _value(part, "quality"),
        })
    return pd.DataFrame(rows, columns=list(HOMEWORK_COLUMNS))


def sudden_gain_summary(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None, measure: str,
                        settings: Settings | None = None) -> SuddenGainSummary:
    """Sudden gains of the cohort's clients on ``measure`` (see the module docstring).

    - Share: clients with at least one gain / clients with at least :data:`MIN_SCORES` treatment
      scores, with a Wilson 95% interval; gains, reversed gains, magnitude mean and SD (points).
    - Outcomes, clients with a gain vs without (discharged, paired): mean improvement first to last
      treatment score (points, positive = better), reliable improvement, recovery (of those at
      caseness at the first score), and at follow-up (their latest score after discharge): n and
      mean improvement from the first score.
    - Homework, gain clients only: the weeks of each gain's interval (from the week of the score
      before the gain to the week before the score after it, as on the client review) against their
      other treatment weeks with homework: client-weeks, assignments set, reviewed share, quantity
      (weighted by reviewed assignments, or all under "unreviewed = not done") and quality
      (weighted by rated assignments).

    The gains are those stored at import when they were found under these settings
    (:func:`analytics.stored.store_sudden_gains`), else found anew from the cohort's scores with the
    same function; every figure is summed in SQL (``cohort_sudden_gains.sql``,
    ``cohort_gain_week_homework.sql``), so a few rows reach Python whatever the cohort's size.
    """
    settings = settings or active_settings()
    key = gain_settings(settings, measure)
    definition = settings.measure(measure)
    if key is None or definition is None:
        raise ValueError(f"unknown measure {measure!r}")
    name, baseline_days, reliable_change, higher_is_better = key
    params = query_params(viewer, cohort, measure=name, baseline_days=baseline_days,
                          unreviewed_as_not_done=settings.unreviewed_as_not_done, reliable_change=reliable_change,
                          higher_is_better=higher_is_better, min_scores=MIN_SCORES,
                          improvement_sign=definition.improvement_sign,
                          measure_definitions=settings.measure_definitions([name]))
    stored = key in db.stored_gain_settings
    params["found"] = None if stored else _found_anew(db, params, reliable_change, higher_is_better)
    rows = db.query("cohort_sudden_gains", params)
    totals = rows.iloc[0]
    scored, with_gain = int(totals["clients_scored"]), int(totals["clients_with_gain"])
    ci = wilson_interval(with_gain, scored) if scored else None
    return SuddenGainSummary(
        measure=name, clients_scored=scored, clients_with_gain=with_gain,
        share=with_gain / scored if scored else None, share_low=ci[0] if ci else None, share_high=ci[1] if ci else None,
        gains=int(totals["gains"]), reversed=int(totals["reversed"]),
        magnitude_mean=_value(totals, "magnitude_mean"), magnitude_sd=_value(totals, "magnitude_sd"),
        outcomes=_outcomes(rows, scored), homework=_gain_week_homework(db, params), min_clients=settings.minimum_n(),
    )


__all__ = ["GAIN_CAVEAT", "MIN_SCORES", "SuddenGainSummary", "sudden_gain_summary"]
