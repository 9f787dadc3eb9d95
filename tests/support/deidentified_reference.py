"""The de-identified Cohort outcomes view as it was built before issue 12: one row per cohort
client in pandas (``cohort_client_frame`` and the cohort's clients with their intake dates), the
band table and the adjacent-month guard computed on that frame.

Kept here, outside ``analytics/``, as the reference :func:`analytics.deidentified.deidentified_cohort_view`
(aggregated in DuckDB: ``deidentified_band_windows.sql``) is compared with in tests/test_deidentified.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd

from analytics.cohort_outcomes.model import ALL_CLIENTS, TOO_FEW, cohort_client_frame, cohort_report
from analytics.config import Settings, active_settings
from analytics.db import ClinicDatabase
from analytics.deidentified import (
    NO_BAND,
    WITHHELD_NOTE,
    DeidentifiedCohortView,
    HeadlineCell,
    _comparison_table,
    _follow_up_table,
    _grid_table,
    _hide_columns,
    _publish_bands,
    _relations_table,
    _shift_month,
    _trajectory_table,
    _withheld,
    deidentified_cohort,
    minimum_cohort_size,
    published_counts,
)
from analytics.metrics import compliance_band_labels, measure_summary
from analytics.privacy import WITHHELD_TEXT, SuppressionPolicy, format_count, suppression_footnote
from analytics.publishing import PublishedTable
from analytics.quality_improvement.model import suppression_policy
from analytics.scope import CohortFilter, Viewer, month_end, query_params
from analytics.statistics import mean_ci


def band_rows(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Paired clients per compliance band (and without a band), with an All-clients row."""
    scored = frame[frame["first_score"].notna()]
    groups = [(label, scored[scored["band"] == label]) for label in compliance_band_labels(settings)]
    groups += [(NO_BAND, scored[scored["band"].isna()]), (ALL_CLIENTS, scored)]
    rows = []
    for label, group in groups:
        s = measure_summary(group) if len(group) else {}
        paired = int(s.get("clients_paired", 0))
        caseness = int(s.get("caseness_at_first", 0))
        changes = pd.to_numeric(group.loc[group["paired"].astype(bool), "change"], errors="coerce")
        mean, low, high, _ = mean_ci(changes) if paired else (None, None, None, 0)
        rows.append({
            "band": label,
            "paired": paired,
            "caseness_at_first": caseness,
            "not_caseness_at_first": paired - caseness,
            "recovered": int(s.get("recovered", 0)),
            "recovery_rate": s["recovered"] / caseness if caseness else np.nan,
            "reliable_improvement": int(s.get("reliable_improvement", 0)),
            "improvement_rate": s["reliable_improvement"] / paired if paired else np.nan,
            "reliable_deterioration": int(s.get("reliable_deterioration", 0)),
            "deterioration_rate": s["reliable_deterioration"] / paired if paired else np.nan,
            "mean_change": np.nan if mean is None else mean,
            "ci_low": np.nan if low is None else low,
            "ci_high": np.nan if high is None else high,
        })
    return pd.DataFrame(rows)


def reference_frame_with_intake(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter, measure: str,
                       settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = cohort_client_frame(db, viewer, cohort, measure, settings)
    clients = db.query("cohort_clients", query_params(viewer, cohort))[["client_id", "intake_date"]]
    clients["intake_date"] = pd.to_datetime(clients["intake_date"]).dt.date
    frame = frame.merge(clients, on="client_id", how="inner")
    return frame, clients


def reference_rows_for(frame: pd.DataFrame, clients: pd.DataFrame, start: date | None, end: date | None,
                       settings: Settings) -> tuple[int, pd.DataFrame]:
    """The clients with intake in [start, end] and their band rows (None = open)."""
    def inside(days: pd.Series) -> np.ndarray:
        keep = np.ones(len(days), dtype=bool)
        if start is not None:
            keep &= (days >= start).to_numpy()
        if end is not None:
            keep &= (days <= end).to_numpy()
        return keep

    return int(inside(clients["intake_date"]).sum()), band_rows(frame[inside(frame["intake_date"])], settings)


def _counts_for(frame: pd.DataFrame, clients: pd.DataFrame, start: date | None, end: date | None,
                settings: Settings, policy: SuppressionPolicy, measure: str
                ) -> tuple[int, PublishedTable]:
    n_clients, rows = reference_rows_for(frame, clients, start, end, settings)
    definition = settings.measure(measure)
    return n_clients, _publish_bands(rows, policy, measure, definition is not None and definition.higher_is_better)


def guard_adjacent(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter, measure: str, settings: Settings,
                   policy: SuppressionPolicy) -> set[str]:
    """Count columns to withhold because an adjacent month setting would differ by 1-10."""
    start, end = cohort.intake_from, cohort.intake_to
    if start is None and end is None:
        return set()
    wide_start = _shift_month(start, -1) if start else None
    wide_end = month_end(_shift_month(end, 1)) if end else None
    wide = replace(cohort, intake_from=wide_start, intake_to=wide_end)
    frame, clients = reference_frame_with_intake(db, viewer, wide, measure, settings)
    here_n, here = _counts_for(frame, clients, start, end, settings, policy, measure)
    current = published_counts(here, None if policy.is_small(here_n) else here_n)
    settings_to_try = []
    if start is not None:
        settings_to_try += [(_shift_month(start, -1), end), (_shift_month(start, 1), end)]
    if end is not None:
        settings_to_try += [(start, month_end(_shift_month(end, -1))), (start, month_end(_shift_month(end, 1)))]
    hide: set[str] = set()
    for s, e in settings_to_try:
        if s is not None and e is not None and s > e:
            continue
        n, table = _counts_for(frame, clients, s, e, settings, policy, measure)
        other = published_counts(table, None if policy.is_small(n) else n)
        for key, value in current.items():
            theirs = other.get(key)
            if value is not None and theirs is not None and value != theirs and policy.is_small(abs(value - theirs)):
                hide.add(key[1])
    return hide


def reference_cohort_view(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None, measure: str,
                          settings: Settings | None = None) -> DeidentifiedCohortView:
    """``deidentified_cohort_view`` as built on the per-client frame."""
    settings = settings or active_settings()
    policy = suppression_policy(settings)
    minimum = minimum_cohort_size(settings)
    cohort = deidentified_cohort(db, viewer, cohort)
    note = WITHHELD_NOTE.format(footnote=suppression_footnote(policy, minimum))
    n_clients = int(db.query("cohort_client_count", query_params(viewer, cohort))["clients"].iloc[0])
    hide = guard_adjacent(db, viewer, cohort, measure, settings, policy)
    clients_text = format_count(n_clients, policy)
    if "Clients" in hide and not policy.is_small(n_clients):
        clients_text = WITHHELD_TEXT
    if n_clients < minimum:
        return DeidentifiedCohortView(
            measure=measure, minimum=minimum, enough=False, note=note,
            headline=(HeadlineCell("Clients", clients_text, f"fewer than {minimum}: nothing else is shown"),),
        )
    report = cohort_report(db, viewer, cohort, measure, settings)
    frame = cohort_client_frame(db, viewer, cohort, measure, settings)
    bands = _hide_columns(_publish_bands(band_rows(frame, settings), policy, measure,
                                         report.higher_is_better), hide, policy)
    total = bands.numeric.iloc[-1]
    total_text = bands.display.iloc[-1]

    def rate(key: str, header: str) -> str:
        text = total_text[header]
        return text if isinstance(text, str) else f"{float(total[key]):.1%}" if not _withheld(total[key]) else ""

    quantity_n = int(frame["quantity"].notna().sum())
    quality_n = int(frame["quality"].notna().sum())
    mean_q = frame["quantity"].mean() if quantity_n >= minimum else None
    mean_l = frame["quality"].mean() if quality_n >= minimum else None
    paired_text = total_text["Paired clients"]
    headline = (
        HeadlineCell("Clients", clients_text, "in the cohort"),
        HeadlineCell("Paired clients", str(paired_text) if not isinstance(paired_text, int) else f"{paired_text:,}",
                     f"scored twice on {measure}"),
        HeadlineCell("Mean quantity", TOO_FEW if mean_q is None else f"{mean_q:.1%}",
                     f"clients with reviewed homework ({minimum} or more needed)"),
        HeadlineCell("Mean quality", TOO_FEW if mean_l is None else f"{mean_l:.1%}",
                     f"clients with a quality rating ({minimum} or more needed)"),
        HeadlineCell("Mean change (points)",
                     total_text["Mean change (points)"] if isinstance(total_text["Mean change (points)"], str)
                     else f"{float(total['mean_change']):+.1f}", f"paired clients ({measure} last - first)"),
        HeadlineCell("Recovery rate", rate("recovery_rate", "Recovery (%)"), "paired clients at caseness at intake"),
        HeadlineCell("Reliable improvement", rate("improvement_rate", "Reliable improvement (%)"), "of paired clients"),
        HeadlineCell("Reliable deterioration", rate("deterioration_rate", "Reliable deterioration (%)"),
                     "of paired clients"),
    )
    return DeidentifiedCohortView(
        measure=measure, minimum=minimum, enough=True, note=note, headline=headline, bands=bands,
        relations=_relations_table(report, minimum), comparison=_comparison_table(report, minimum),
        trajectories=_trajectory_table(report, minimum), grid=_grid_table(report, minimum, policy),
        follow_up=_follow_up_table(report, minimum),
    )
