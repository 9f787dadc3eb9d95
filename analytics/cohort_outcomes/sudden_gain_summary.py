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

import numpy as np
import pandas as pd

from ..config import Settings, active_settings
from ..db import ClinicDatabase
from ..metrics import classify_outcomes
from ..scope import CohortFilter, Viewer, query_params
from ..statistics import wilson_interval
from ..sudden_gains import sudden_gains_matrix

MIN_SCORES = 4  # treatment scores a client needs for a gain to be looked for (two on each side)

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


def _mean(values: pd.Series) -> float | None:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.mean()) if len(values) else None


def _share(mask: pd.Series, denominator: pd.Series | None = None) -> float | None:
    mask = mask.astype("boolean")
    if denominator is not None:
        mask = mask[denominator.astype("boolean").fillna(False).astype(bool)]
    mask = mask.dropna()
    return float(mask.mean()) if len(mask) else None


def found_ids(found: pd.DataFrame, ids: pd.Index) -> list[str]:
    """The ids of the series with at least one gain."""
    return [ids[i] for i in sorted(set(found["series"].tolist()))]


HOMEWORK_GROUPS = ((True, "Weeks in which a gain came"), (False, "Other weeks (same clients)"))


def _gain_week_homework(db: ClinicDatabase, params: dict[str, Any], gains: pd.DataFrame) -> pd.DataFrame:
    """The homework of the gain clients in the weeks of their gains against their other weeks with
    homework: ``cohort_gain_week_homework.sql`` sums it in the database (a row per group, never
    one per client or week); here the two groups are labelled and the reviewed share taken."""
    sums = db.query("cohort_gain_week_homework", {
        **params, "gain_client_ids": gains["client_id"].astype(str).tolist(),
        "gain_first_weeks": gains["first_week"].astype(int).tolist(),
        "gain_last_weeks": gains["last_week"].astype(int).tolist(),
    }).set_index("gain_week")
    rows = []
    for gain_week, label in HOMEWORK_GROUPS:
        part = sums.loc[gain_week] if gain_week in sums.index else None
        assignments = int(part["assignments"]) if part is not None else 0
        rows.append({
            "weeks": label,
            "client_weeks": int(part["client_weeks"]) if part is not None else 0,
            "clients": int(part["clients"]) if part is not None else 0,
            "assignments": assignments,
            "reviewed_share": float(int(part["reviewed"]) / assignments) if assignments else None,
            "quantity": _value(part, "quantity"),
            "quality": _value(part, "quality"),
        })
    return pd.DataFrame(rows, columns=["weeks", "client_weeks", "clients", "assignments", "reviewed_share",
                                       "quantity", "quality"])


def _value(part: pd.Series | None, column: str) -> float | None:
    return None if part is None or pd.isna(part[column]) else float(part[column])


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
    """
    settings = settings or active_settings()
    definition = settings.measure(measure)
    if definition is None:
        raise ValueError(f"unknown measure {measure!r}")
    params = query_params(viewer, cohort, measure=definition.name, baseline_days=settings.baseline_days_before_intake,
                          unreviewed_as_not_done=settings.unreviewed_as_not_done)
    scores = db.query("cohort_gain_scores", params)
    sign = -1.0 if definition.higher_is_better else 1.0
    treatment = scores[scores["period"] == "treatment"].sort_values(["client_id", "administered_date"], kind="stable")
    counts = treatment.groupby("client_id", sort=True).size()
    looked = counts[counts >= MIN_SCORES].index
    treatment = treatment[treatment["client_id"].isin(looked)].reset_index(drop=True)
    position = treatment.groupby("client_id", sort=True).cumcount().to_numpy()
    row = pd.Index(looked).get_indexer(treatment["client_id"])
    matrix = np.full((len(looked), int(position.max()) + 1 if len(treatment) else 0), np.nan)
    matrix[row, position] = sign * treatment["total_score"].to_numpy(dtype=float)
    weeks = np.full(matrix.shape, -1, dtype=np.int64)
    weeks[row, position] = treatment["week"].to_numpy(dtype=np.int64)
    found = sudden_gains_matrix(matrix, float(definition.reliable_change))
    scored = len(looked)
    gain_rows: list[dict[str, Any]] = []
    for g in found.itertuples(index=False):
        before, after = int(weeks[g.series, g.pre_index]), int(weeks[g.series, g.pre_index + 1])
        # the gain's weeks: from the week of the score before it to the week before the score after it
        gain_rows.append({"client_id": looked[g.series], "magnitude": g.magnitude, "reversed": g.reversed,
                          "first_week": before, "last_week": max(before, after - 1)})
    firsts = treatment.groupby("client_id", sort=True).agg(
        discharge_date=("discharge_date", "first"), first_date=("administered_date", "first"),
        first_score=("total_score", "first"), last_date=("administered_date", "last"),
        last_score=("total_score", "last"))
    ends = firsts.reset_index().assign(
        measure=definition.name, gain=lambda f: f["client_id"].isin(set(found_ids(found, looked))),
        discharged=lambda f: f["discharge_date"].notna()).to_dict("records")
    gains = pd.DataFrame(gain_rows, columns=["client_id", "magnitude", "reversed", "first_week", "last_week"])
    with_gain = int(gains["client_id"].nunique())
    ci = wilson_interval(with_gain, scored) if scored else None

    # Outcomes at discharge and follow-up, with a gain vs without.
    ends_frame = pd.DataFrame(ends, columns=["client_id", "measure", "gain", "discharged", "first_date", "first_score",
                                             "last_date", "last_score"])
    outcomes_rows = []
    if len(ends_frame):
        classified = classify_outcomes(ends_frame, settings)
        classified = classified[classified["discharged"]]
        follow = scores[scores["period"] == "follow-up"].sort_values("administered_date").groupby("client_id").tail(1)
        classified = classified.merge(follow[["client_id", "total_score"]].rename(columns={"total_score": "follow_up"}),
                                      on="client_id", how="left")
        classified["follow_up_improvement"] = definition.improvement_sign * (
            classified["follow_up"] - classified["first_score"])
        for label, part in (("With a sudden gain", classified[classified["gain"]]),
                            ("Without a sudden gain", classified[~classified["gain"]])):
            outcomes_rows.append({
                "group": label, "discharged": len(part), "mean_improvement": _mean(part["improvement"]),
                "reliable_improvement": _share(part["reliable_improvement"]),
                "caseness_at_first": int(part["caseness_at_first"].astype("boolean").fillna(False).sum()),
                "recovered": _share(part["recovered"], part["caseness_at_first"]),
                "follow_up": int(part["follow_up"].notna().sum()),
                "follow_up_improvement": _mean(part["follow_up_improvement"]),
            })
    outcomes = pd.DataFrame(outcomes_rows, columns=["group", "discharged", "mean_improvement", "reliable_improvement",
                                                    "caseness_at_first", "recovered", "follow_up",
                                                    "follow_up_improvement"])

    # Homework in the weeks of a gain vs the same clients' other weeks (aggregated in SQL: two rows).
    homework = _gain_week_homework(db, params, gains)
    magnitudes = gains["magnitude"].to_numpy(dtype=float)
    return SuddenGainSummary(
        measure=definition.name, clients_scored=scored, clients_with_gain=with_gain,
        share=with_gain / scored if scored else None, share_low=ci[0] if ci else None, share_high=ci[1] if ci else None,
        gains=len(gains), reversed=int(gains["reversed"].sum()),
        magnitude_mean=float(magnitudes.mean()) if len(magnitudes) else None,
        magnitude_sd=float(np.std(magnitudes, ddof=1)) if len(magnitudes) > 1 else None,
        outcomes=outcomes, homework=homework, min_clients=settings.minimum_n(),
    )


__all__ = ["GAIN_CAVEAT", "MIN_SCORES", "SuddenGainSummary", "sudden_gain_summary"]
