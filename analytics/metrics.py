"""The product's metrics: one definition each, documented in docs/metrics.md.

Assignment-level fractions are SQL macros (analytics/sql/macros.sql) so that every query
shares them; client- and cohort-level metrics are here. The dashboard, the CSV exports and
``python -m analytics summary`` all call these functions, so their numbers agree.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from .config import Settings, active_settings
from .db import ClinicDatabase, load_sql
from .rates import NHS_PAIRED_RATES, Rate, nhs_paired_rates
from .scope import CohortFilter, Viewer, query_params
from .summary import cohort_summary, measure_figures, paired_figures

__all__ = ["NHS_PAIRED_RATES", "Rate", "cohort_summary", "nhs_paired_rates"]  # re-exported (analytics.rates / .summary)

_frame_engine: duckdb.DuckDBPyConnection | None = None
_frame_engine_lock = threading.Lock()


def _on_frames(sql: str, params: dict[str, Any] | None = None, **frames: pd.DataFrame) -> pd.DataFrame:
    """Run ``sql`` (which may call the outcome macros, analytics/sql/outcome_macros.sql) over
    DataFrames a page already holds, each visible as a table of its keyword's name: the same SQL
    definitions the clinic's queries use, on an in-memory DuckDB that holds no clinic data."""
    global _frame_engine
    with _frame_engine_lock:
        if _frame_engine is None:
            engine = duckdb.connect(":memory:")
            engine.execute(load_sql("outcome_macros"))
            _frame_engine = engine
        cursor = _frame_engine.cursor()
    try:
        for name, frame in frames.items():
            cursor.register(name, frame)
        return cursor.execute(sql, params or {}).df()
    finally:
        cursor.close()

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


def _classify_frame(rows: pd.DataFrame, sql: str, params: dict[str, Any], *, table: str, added: tuple[str, ...],
                    numbers: tuple[str, ...], dates: tuple[str, ...] = ()) -> pd.DataFrame:
    """``rows`` with the columns ``added`` computed by an outcome macro (``sql`` reads ``rows`` as
    ``table`` and orders by ``_row``): the input's own columns, values, order and index are kept
    (``numbers`` / ``dates`` are passed to SQL as doubles / timestamps); any earlier ``added``
    columns are replaced."""
    frame = rows.drop(columns=[c for c in added if c in rows.columns]).reset_index(drop=True)
    frame = frame.assign(_row=np.arange(len(frame)))
    for column in numbers:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in dates:
        frame[column] = pd.to_datetime(frame[column])
    out = _on_frames(sql, params, **{table: frame}).drop(columns="_row")
    out.index = rows.index
    for column in rows.columns:
        if column not in added:
            out[column] = rows[column].to_numpy()
    return out


OUTCOME_FLAGS = ("reliable_improvement", "reliable_deterioration", "caseness_at_first", "caseness_at_last", "recovered")


def classify_outcomes(scores: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Add the outcome columns to per-client, per-measure first/last scores.

    Input columns: measure, first_date, first_score, last_date, last_score (others are kept).
    The definitions are the SQL macro ``classified_outcomes`` (analytics/sql/outcome_macros.sql),
    the one the command-line summary runs in the database:
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
    out = _classify_frame(
        scores, "SELECT * FROM classified_outcomes(outcome_scores, $definitions) ORDER BY _row",
        {"definitions": settings.measure_definitions()}, table="outcome_scores",
        added=("paired", "change", "improvement", *OUTCOME_FLAGS), numbers=("first_score", "last_score"),
        dates=("first_date", "last_date"),
    )
    out["paired"] = out["paired"].fillna(False).astype(bool)
    out["change"] = out["change"].astype("Float64")
    out["improvement"] = out["improvement"].astype("Float64")
    for column in OUTCOME_FLAGS:
        out[column] = out[column].astype("boolean")
    return out


def client_measure_outcomes(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None = None, settings: Settings | None = None,
    measures: list[str] | tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """One row per client and measure: first/last scores and their outcomes (:func:`classify_outcomes`),
    without the homework. ``measures`` narrows the measures read (None: the cohort's measures)."""
    settings = settings or active_settings()
    params = query_params(viewer, cohort, baseline_days=settings.baseline_days_before_intake)
    if measures is not None:
        params["measures"] = list(measures)
    return classify_outcomes(db.query("client_measure_scores", params), settings)


def client_outcomes(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None = None, settings: Settings | None = None
) -> pd.DataFrame:
    """One row per client and measure: first/last scores, outcomes and the client's homework."""
    settings = settings or active_settings()
    outcomes = client_measure_outcomes(db, viewer, cohort, settings)
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


def paired_definitions(settings: Settings) -> tuple[dict[str, object], dict[str, object]]:
    """The definitions of the paired measures (depression, anxiety) as ``classified_paired_outcomes``
    takes them (:meth:`Settings.paired_measure_definitions`); ValueError when either is not configured."""
    definitions = settings.paired_measure_definitions()
    if definitions is None:
        raise ValueError(
            f"paired_measures {settings.paired_measures!r}: both must be configured measures "
            f"(configured: {', '.join(settings.measure_names)})"
        )
    return definitions


def classify_paired_outcomes(rows: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """NHS Talking Therapies paired outcomes of clients' first and last paired scores.

    Input: rows of ``client_paired_scores.sql`` (first/last depression and anxiety scores of the
    paired measures ``settings.paired_measures``, n_paired, sessions, attended_sessions). The
    definitions are the SQL macro ``classified_paired_outcomes`` (outcome_macros.sql):
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
    definitions = paired_definitions(settings)
    out = _classify_frame(
        rows, "SELECT * FROM classified_paired_outcomes(paired_scores, $depression, $anxiety) ORDER BY _row",
        {"depression": definitions[0], "anxiety": definitions[1]}, table="paired_scores",
        added=PAIRED_OUTCOME_COLUMNS, numbers=("first_depression", "last_depression", "first_anxiety",
                                              "last_anxiety", "n_paired", "sessions", "attended_sessions"),
    )
    out["finished"] = out["finished"].fillna(False).astype(bool)
    for column in PAIRED_OUTCOME_COLUMNS[1:]:
        out[column] = out[column].astype("boolean")
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


def paired_summary(paired: pd.DataFrame, discharged_only: bool = True) -> dict[str, Any]:
    """NHS Talking Therapies paired rates from :func:`client_paired_outcomes` rows.

    Finished clients (``discharged_only``: discharged ones only, a finished course of treatment),
    counted by the SQL macro ``paired_outcome_counts`` (as in the command-line summary); the rates
    are :func:`nhs_paired_rates` of the counts: recovery and reliable recovery rates =
    count / (finished - not at caseness at the first paired score); reliable improvement and
    deterioration rates = count / finished.
    """
    discharged = paired["discharge_date"].notna() if "discharge_date" in paired else True
    frame = pd.DataFrame({
        "discharge_date": pd.Series(discharged, index=paired.index).map({True: 1, False: None}),
        "finished": paired["finished"].fillna(False).astype(bool),
        **{c: paired[c].astype("boolean") for c in PAIRED_OUTCOME_COLUMNS[1:]},
    }, index=paired.index)
    (counts,) = _on_frames("SELECT * FROM paired_outcome_counts(paired_outcomes, $discharged_only)",
                           {"discharged_only": discharged_only}, paired_outcomes=frame).to_dict("records")
    return paired_figures(counts)


def measure_summary(outcomes: pd.DataFrame, settings: Settings | None = None) -> dict[str, Any]:
    """Cohort figures of one measure from :func:`client_outcomes` rows of that measure.

    Counted by the SQL macro ``measure_outcome_counts`` (analytics/sql/outcome_macros.sql) and
    :func:`analytics.summary.measure_figures`, as in the command-line summary. Means of first,
    last and change are over paired clients. caseness_at_first counts paired clients at caseness
    at their first score: the recovery rate's denominator (NHS Talking Therapies;
    clinical-reference.md "Outcome definitions"). r_quantity_change / r_quality_change come with
    their n (paired clients with a value) and 95% Fisher-z interval; r is None below
    ``settings.minimum_n(4)`` pairs, the rule the dashboard uses ("too few clients"); without a
    quantity (quality) column there is no r.
    """
    settings = settings or active_settings()
    flags = ("paired", "reliable_improvement", "reliable_deterioration", "caseness_at_first", "recovered")

    def numbers(column: str) -> pd.Series:
        if column not in outcomes:
            return pd.Series(np.nan, index=outcomes.index, dtype="float64")
        return pd.to_numeric(outcomes[column], errors="coerce").astype("float64")

    frame = pd.DataFrame({
        "measure": pd.Series("measure", index=outcomes.index, dtype="object"),
        "client_id": outcomes["client_id"].astype("object"),
        **{c: outcomes[c].astype("boolean") for c in flags},
        **{c: numbers(c) for c in ("first_score", "last_score", "change", "quantity", "quality")},
    }, index=outcomes.index)
    rows = _on_frames("SELECT * FROM measure_outcome_counts(outcome_rows)", outcome_rows=frame).to_dict("records")
    counts = rows[0] if rows else {
        "clients_scored": 0, "clients_paired": 0, "mean_first": None, "mean_last": None, "mean_change": None,
        "reliable_improvement": 0, "reliable_deterioration": 0, "caseness_at_first": 0, "recovered": 0,
    }
    counts = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in counts.items()}
    return measure_figures(counts, settings)


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
