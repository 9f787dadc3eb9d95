"""The cohort summary (``python -m analytics summary``): DuckDB and the standard library only.

Every figure is counted in SQL by the outcome macros (analytics/sql/outcome_macros.sql), the
same definitions :mod:`analytics.metrics` runs on the rows a page holds, so the summary, the
pages and the CSV exports agree. Only the counts reach Python (a few rows whatever the size of
the clinic); rates and Fisher-z intervals come from :mod:`analytics.rates`. Importing this
module does not import pandas, NumPy or SciPy, so the command line starts in a fraction of a
second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import Settings, active_settings
from .rates import nhs_paired_rates, pearson_interval
from .scope import CohortFilter, Viewer, query_params

if TYPE_CHECKING:
    from .db import ClinicDatabase

#: The order of a measure's figures in the summary (and in ``--json``).
MEASURE_FIGURES = (
    "clients_scored", "clients_paired", "mean_first", "mean_last", "mean_change", "reliable_improvement",
    "reliable_deterioration", "caseness_at_first", "recovered", "recovery_rate",
)
PAIRED_COUNTS = ("recovered", "reliable_improvement", "reliable_deterioration", "reliable_recovery")


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def measure_figures(counts: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A measure's cohort figures from its ``measure_outcome_counts`` row: the counts and means,
    the recovery rate (recovered / paired clients at caseness at their first score, NHS Talking
    Therapies) and r of quantity and quality with change with n and a 95% Fisher-z interval (r is
    None below ``settings.minimum_n(4)`` pairs, the rule the dashboard uses: "too few clients")."""
    caseness = int(counts["caseness_at_first"])
    recovered = int(counts["recovered"])
    out: dict[str, Any] = {
        "clients_scored": int(counts["clients_scored"]),
        "clients_paired": int(counts["clients_paired"]),
        "mean_first": _float(counts["mean_first"]),
        "mean_last": _float(counts["mean_last"]),
        "mean_change": _float(counts["mean_change"]),
        "reliable_improvement": int(counts["reliable_improvement"]),
        "reliable_deterioration": int(counts["reliable_deterioration"]),
        "caseness_at_first": caseness,
        "recovered": recovered,
        "recovery_rate": recovered / caseness if caseness else None,
    }
    for column in ("quantity", "quality"):
        key = f"r_{column}_change"
        n = int(counts.get(f"{key}_n") or 0)
        r, low, high = pearson_interval(_float(counts.get(key)), n, settings.minimum_n(4))
        out.update({key: r, f"{key}_n": n, f"{key}_ci_low": low, f"{key}_ci_high": high})
    return out


def paired_figures(counts: dict[str, Any], measures: list[str] | None = None) -> dict[str, Any]:
    """The NHS Talking Therapies paired summary from its ``paired_outcome_counts`` row: the counts
    and :func:`analytics.rates.nhs_paired_rates` of them."""
    finished = int(counts["finished"])
    caseness = int(counts["caseness_at_first"])
    numerators = {k: int(counts[k]) for k in PAIRED_COUNTS}
    rates = nhs_paired_rates(finished=finished, not_caseness_at_start=finished - caseness, **numerators)
    return {
        "measures": measures,
        "clients_with_paired_scores": int(counts["clients_with_paired_scores"]),
        "finished": finished,
        "caseness_at_first": caseness,
        "not_caseness_at_first": finished - caseness,
        **numerators,
        **{name: rate.value for name, rate in rates.items()},
    }


#: The queries of the summary; each may also be stored at import (analytics/stored.py) under
#: ``stored_<name>`` for the whole network and each clinic.
SUMMARY_QUERIES = ("cohort_summary", "cohort_summary_paired")


def summary_requests(viewer: Viewer, cohort: CohortFilter | None, settings: Settings) -> dict[str, dict[str, Any]]:
    """The summary's queries (:data:`SUMMARY_QUERIES`) with their bound parameters: the paired
    one only when paired measures are configured."""
    requests = {"cohort_summary": query_params(
        viewer, cohort, unreviewed_as_not_done=settings.unreviewed_as_not_done,
        baseline_days=settings.baseline_days_before_intake, measure_definitions=settings.measure_definitions(),
    )}
    definitions = settings.paired_measure_definitions()
    if definitions is not None:
        dep, anx = definitions
        requests["cohort_summary_paired"] = query_params(
            viewer, cohort, depression_measure=dep["name"], anxiety_measure=anx["name"], depression=dep,
            anxiety=anx, baseline_days=settings.baseline_days_before_intake,
        )
    return requests


def summary_key(name: str, params: dict[str, Any]) -> str:
    """What a summary query's row depends on besides the data and the scope: the query's text and
    the definitions of the macros it uses (comments left out: editing another macro keeps stored
    rows readable, as for the stored fits, analytics.expected_response.fit_key) and every parameter
    but the cohort (the scope a stored row is kept under). A stored row is read only under the key
    of the request (:func:`summary_row`)."""
    import hashlib
    import json

    from .db import query_dependencies

    texts = list(query_dependencies(name))
    others = {k: v for k, v in params.items() if k != "cohort"}
    blob = json.dumps({"sql": texts, "params": others}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def summary_row(db: ClinicDatabase, name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The one row of summary query ``name``: stored at import for the request's scope and key
    (the whole network or one clinic, no filter, the same settings), else computed now."""
    if f"stored_{name}" in db.tables:
        stored = db.rows(f"stored_{name}", {"cohort": params["cohort"]})
        if len(stored) == 1 and stored[0].pop("summary_key") == summary_key(name, params):
            return stored[0]
    (row,) = db.rows(name, params)
    return row


def cohort_summary(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """The cohort summary printed by ``python -m analytics summary --json``.

    mean_quantity / mean_quality: mean over the cohort's clients of each client's value
    (each client counts once; clients with no reviewed assignment are left out).
    reviewed_share: mean over clients with an assignment of each client's reviewed share, shown
    beside every compliance figure. follow_up_assignments: set after discharge (not counted).
    measures: :func:`measure_figures` per measure with scores, in the configured order.
    nhs_paired: :func:`paired_figures` of discharged clients, None when a paired measure is not
    configured.
    """
    settings = settings or active_settings()
    requests = summary_requests(viewer, cohort, settings)
    row = summary_row(db, "cohort_summary", requests["cohort_summary"])
    homework = row["homework"]
    by_measure = {m["measure"]: m for m in row["measures"] or []}
    return {
        "clients": int(row["clients"]),
        "assignments": int(homework["assignments"]),
        "reviewed_assignments": int(homework["reviewed_assignments"]),
        "reviewed_share": _float(homework["reviewed_share"]),
        "follow_up_assignments": int(homework["follow_up_assignments"]),
        "mean_quantity": _float(homework["mean_quantity"]),
        "mean_quality": _float(homework["mean_quality"]),
        "measures": {m: measure_figures(by_measure[m], settings) for m in settings.ordered_measures(by_measure)},
        "nhs_paired": _nhs_paired(db, requests.get("cohort_summary_paired")),
    }


def _nhs_paired(db: ClinicDatabase, params: dict[str, Any] | None) -> dict | None:
    if params is None:  # no paired measures configured
        return None
    counts = summary_row(db, "cohort_summary_paired", params)
    return paired_figures(counts, [params["depression_measure"], params["anxiety_measure"]])
