"""De-identified views of the Cohort outcomes page (issue 10, items 3 and 4).

A viewer who may not see identifiers (the qi role) gets the same rules on every page as on the
Quality improvement page (:mod:`analytics.quality_improvement.model`), built with the same machinery
(:func:`analytics.quality_improvement.model.publish_table`, :func:`analytics.privacy.suppress_table`):

* therapists only under keyed pseudonyms, in the filters too (:func:`deidentified_filter_options`,
  resolved back to ids here, never in a page: :func:`deidentified_cohort`);
* nothing below the minimum cohort size (:func:`minimum_cohort_size`: the suppression threshold,
  or ``min_clients_for_statistic`` when larger): a smaller cohort shows its size as "<11" and
  nothing else;
* counts 1-10 suppressed with complementary suppression; the only counts published are the
  cohort's clients and one table of paired clients per compliance band (a partition with an
  "All clients" row); every other statistic is shown only when its own n reaches the minimum,
  and its n is not shown;
* no per-client rows (no scatter points, no client tables);
* whole-month intake bounds (:func:`analytics.scope.coarsen_cohort`), and a published count is
  withheld when the same count for an adjacent month setting differs from it by 1-10
  (:func:`_guard_adjacent`), so that two adjacent settings cannot be differenced;
* every figure is aggregated in DuckDB (``deidentified_band_windows.sql``: the band table for the
  cohort and for each adjacent month setting in one query); no per-client row comes into Python;
* downloads are built from these published tables (``PublishedTable.display``).

Pure Python, no Streamlit. Definitions: docs/metrics.md and docs/security.md, "De-identified views".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from .cohort_outcomes.model import (
    ALL_CLIENTS,
    CAVEAT,
    TOO_FEW,
    _group,
    _int,
    _mean_interval,
    _moments,
    assignment_design,
    client_query_params,
    cohort_report,
    measure_higher_is_better,
    within_client_analysis,
)
from .config import Settings, active_settings
from .data.model import FilterOptions, data_overview, filter_options
from .db import ClinicDatabase
from .metrics import compliance_band_labels
from .privacy import WITHHELD_TEXT, SuppressionPolicy, format_count, suppression_footnote
from .publishing import RATE_WITHHELD, VALUE_KINDS, Column, PublishedTable, estimate_columns, publish_table
from .quality_improvement.model import pseudonym_key, suppression_policy, therapist_pseudonyms
from .scope import CohortFilter, Viewer, coarsen_cohort, month_end, month_start, query_params
from .statistics import finite_or_none

__all__ = [
    "NO_BAND",
    "DeidentifiedCohortView",
    "HeadlineCell",
    "deidentified_cohort",
    "deidentified_cohort_view",
    "deidentified_design",
    "deidentified_filter_options",
    "deidentified_within",
    "intake_months",
    "is_deidentified",
    "minimum_cohort_size",
    "month_bounds",
    "published_counts",
]

NO_BAND = "No reviewed homework"
#: Therapist ids read to map a de-identified viewer's pseudonyms back (every therapist in the
#: scope; only when a therapist filter is set).
MAX_THERAPIST_PSEUDONYMS = 1_000_000
WITHHELD_NOTE = "De-identified view: no client-level rows; intake bounds are whole months. {footnote}"


def is_deidentified(viewer: Viewer) -> bool:
    """True for viewers who see aggregates only (the qi role)."""
    return not viewer.can_see_identifiers


def minimum_cohort_size(settings: Settings | None = None) -> int:
    """The smallest cohort a de-identified viewer sees anything of (default 11)."""
    settings = settings or active_settings()
    return max(int(suppression_policy(settings).threshold), int(settings.min_clients_for_statistic))


# ----------------------------------------------------------------------------- filters


def deidentified_filter_options(db: ClinicDatabase, viewer: Viewer, wanted: CohortFilter | None = None) -> FilterOptions:
    """:func:`analytics.data.model.filter_options`, with therapists as pseudonyms for a
    de-identified viewer (unchanged for everyone else). A de-identified viewer's ``wanted``
    therapists are pseudonyms, which cannot be looked up: only the ids offered are pseudonymised
    (and a pseudonym cannot be typed in the filter)."""
    if viewer.can_see_identifiers:
        return filter_options(db, viewer, wanted)
    options = filter_options(db, viewer, replace(wanted, therapists=()) if wanted else None)
    key, _ = pseudonym_key(viewer)
    options["therapist"] = sorted(therapist_pseudonyms(db, options.get("therapist", []), key).values())
    options.searchable = tuple(f for f in options.searchable if f != "therapist")
    return options


def intake_months(db: ClinicDatabase, viewer: Viewer) -> list[str]:
    """The months ("YYYY-MM") from the first intake the viewer may see to the last client date."""
    overview = data_overview(db, viewer)
    first, last = overview.get("first_intake"), overview.get("last_client_date")
    if first is None or last is None or pd.isna(first) or pd.isna(last):
        return []
    start, end = pd.Timestamp(first).date().replace(day=1), pd.Timestamp(last).date().replace(day=1)
    return [f"{p.year:04d}-{p.month:02d}" for p in pd.period_range(start, end, freq="M")]


def deidentified_cohort(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None) -> CohortFilter:
    """The cohort a de-identified viewer's view covers: whole-month intake bounds and therapist
    pseudonyms mapped back to the ids in the viewer's scope (unknown pseudonyms match nobody).
    Other viewers get their cohort unchanged."""
    cohort = cohort or CohortFilter()
    if viewer.can_see_identifiers:
        return cohort
    cohort = coarsen_cohort(cohort)
    if cohort.therapists:
        key, _ = pseudonym_key(viewer)
        # every therapist in the scope (not only those offered in the filter): pseudonyms cannot be looked up
        every = filter_options(db, viewer, option_limit=MAX_THERAPIST_PSEUDONYMS)
        ids = {code: t for t, code in therapist_pseudonyms(db, every.get("therapist", []), key).items()}
        wanted = tuple(ids[p] for p in cohort.therapists if p in ids)
        cohort = replace(cohort, therapists=wanted or ("\x00no-such-therapist",))
    return cohort


# ----------------------------------------------------------------------------- the view


@dataclass(frozen=True)
class HeadlineCell:
    """One headline tile: label, the text shown and a caption."""

    label: str
    display: str
    caption: str


@dataclass(frozen=True)
class DeidentifiedCohortView:
    """Everything the Cohort outcomes page shows a de-identified viewer for one cohort and measure.

    ``enough`` is False when the cohort is below :func:`minimum_cohort_size`: then only the
    ``Clients`` headline ("<11") is set and every table is None.
    """

    measure: str
    minimum: int
    enough: bool
    note: str
    headline: tuple[HeadlineCell, ...]
    bands: PublishedTable | None = None
    relations: PublishedTable | None = None
    comparison: PublishedTable | None = None
    trajectories: PublishedTable | None = None
    grid: PublishedTable | None = None
    follow_up: PublishedTable | None = None

    def tables(self) -> list[PublishedTable]:
        return [t for t in (self.bands, self.relations, self.comparison, self.trajectories, self.grid,
                            self.follow_up) if t is not None]


BAND_COLUMNS: tuple[Column, ...] = (
    Column("band", "Band", "label"),
    Column("paired", "Paired clients", "count"),
    Column("caseness_at_first", "At caseness at first score", "count", part=True),
    Column("not_caseness_at_first", "Not at caseness at first score", "count", show="never", part=True),
    Column("recovered", "Recovered", "count", show="identified"),
    Column("recovery_rate", "Recovery (%)", "pct", ("recovered", "caseness_at_first")),
    Column("reliable_improvement", "Reliably improved", "count", show="identified"),
    Column("improvement_rate", "Reliable improvement (%)", "pct", ("reliable_improvement", "paired")),
    Column("reliable_deterioration", "Reliably deteriorated", "count", show="identified"),
    Column("deterioration_rate", "Reliable deterioration (%)", "pct", ("reliable_deterioration", "paired")),
    Column("mean_change", "Mean change (points)", "number", "paired"),
    Column("ci_low", "95% CI low", "number", "paired"),
    Column("ci_high", "95% CI high", "number", "paired"),
)


def _band_rows(groups: pd.DataFrame, window: int, settings: Settings) -> tuple[int, pd.DataFrame, dict[str, Any]]:
    """One intake window of ``deidentified_band_windows.sql``: its cohort clients, the paired
    clients per compliance band (and without a band) with an All-clients row, and its ``window``
    row (clients with a quantity / quality and their means)."""
    mine = groups[groups["window_no"] == window]
    keys = [(label, "band", label) for label in compliance_band_labels(settings)]
    keys += [(NO_BAND, "none", None), (ALL_CLIENTS, "all", None)]
    rows = []
    for label, kind, key in keys:
        group = _group(mine, kind, key)
        paired, caseness = _int(group, "paired"), _int(group, "caseness_at_first")
        recovered, improved = _int(group, "recovered"), _int(group, "reliable_improvement")
        deteriorated = _int(group, "reliable_deterioration")
        n, mean, sd = _moments(group)
        low, high = _mean_interval(n, mean, sd)  # mean_ci's t interval, from the SQL moments
        rows.append({
            "band": label,
            "paired": paired,
            "caseness_at_first": caseness,
            "not_caseness_at_first": paired - caseness,
            "recovered": recovered,
            "recovery_rate": recovered / caseness if caseness else np.nan,
            "reliable_improvement": improved,
            "improvement_rate": improved / paired if paired else np.nan,
            "reliable_deterioration": deteriorated,
            "deterioration_rate": deteriorated / paired if paired else np.nan,
            "mean_change": np.nan if mean is None or not paired else mean,
            "ci_low": np.nan if low is None or not paired else low,
            "ci_high": np.nan if high is None or not paired else high,
        })
    whole = _group(mine, "window", None)
    return _int(whole, "clients"), pd.DataFrame(rows), whole


def _publish_bands(rows: pd.DataFrame, policy: SuppressionPolicy, measure: str,
                   higher_is_better: bool = False) -> PublishedTable:
    return publish_table(
        "outcomes_by_band", f"{measure} outcomes by compliance band", rows, BAND_COLUMNS, policy,
        total_label=ALL_CLIENTS, total_column="paired",
        note="Paired clients: a first and a later score on the measure. Bands by each client's mean homework "
        "quantity. Recovery: of paired clients at caseness at the first score. Mean change: last - first "
        f"({'positive' if higher_is_better else 'negative'} = improvement), 95% t interval.",
    )


def _withheld(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _stat_table(name: str, title: str, frame: pd.DataFrame, columns: tuple[Column, ...], shown: pd.Series,
                note: str = "", *, drop_withheld: bool = False) -> PublishedTable:
    """A table of statistics without counts: values where ``shown`` is False are withheld
    (shown as ``RATE_WITHHELD``), or their rows left out with ``drop_withheld``."""
    frame = frame.reset_index(drop=True).copy()
    shown = pd.Series(np.asarray(shown, dtype=bool))
    if drop_withheld:
        frame, shown = frame[shown.to_numpy()].reset_index(drop=True), shown[shown].reset_index(drop=True)
    values = [c.key for c in columns if c.kind in VALUE_KINDS]
    for key in values:
        frame[key] = pd.to_numeric(frame[key], errors="coerce").astype(float).where(shown.to_numpy())
    table = publish_table(name, title, frame, columns, None, note=note)
    display = table.display.copy()
    for col in columns:
        if col.kind in VALUE_KINDS:
            display[col.header] = [RATE_WITHHELD if not ok else v for v, ok in zip(display[col.header], shown,
                                                                                     strict=True)]
    return PublishedTable(table.name, table.title, display, table.numeric, table.columns, table.note)


def _relations_table(report: Any, minimum: int) -> PublishedTable:
    rows, shown = [], []
    for compliance, relation in report.relations.items():
        r, rho = relation.pearson, relation.spearman
        ok = not relation.too_few and relation.n >= minimum
        rows.append({
            "compliance": compliance.capitalize(), "r": r.r, "r_low": r.ci_low, "r_high": r.ci_high, "rho": rho.r,
            "rho_low": rho.ci_low, "rho_high": rho.ci_high,
            "slope": relation.slope / 10 if relation.slope is not None else np.nan,
        })
        shown.append(ok)
    # No Fisher-z intervals: their width is a function of n alone, so they would give n away
    # (and with it, all paired clients minus those with a value).
    columns = (
        Column("compliance", "Compliance measure", "label"),
        Column("r", "Pearson r", "number"), Column("rho", "Spearman's rho", "number"),
        Column("slope", "Change per 10 pp more (points)", "number"),
    )
    return _stat_table(
        "compliance_vs_change", f"Homework compliance against {report.measure} change", pd.DataFrame(rows), columns,
        pd.Series(shown),
        note=f"Paired clients with a value; withheld below {minimum} clients. No client-level points, and no "
        "intervals (an interval of r would give its n away), in the de-identified view.",
    )


def _comparison_table(report: Any, minimum: int) -> PublishedTable:
    comparison = report.comparison.copy()
    effect = report.band_effect.effect
    shown = []
    for source, n, relation in zip(comparison["source"], comparison["n"], comparison["relation"], strict=True):
        if source != "This cohort":
            shown.append(True)
        elif "band" in relation:
            shown.append(min(effect.n_a, effect.n_b) >= minimum and not report.band_effect.too_few)
        else:
            shown.append(not pd.isna(n) and int(n) >= minimum)
    columns = (
        Column("source", "Source", "label"), Column("relation", "Relation", "text"),
        Column("published", "Published", "text"), *estimate_columns("r", "r with change"),
    )
    comparison["published"] = [p if ok or src != "This cohort" else ""
                               for p, ok, src in zip(comparison["published"], shown, comparison["source"], strict=True)]
    ours = (comparison["source"] == "This cohort").to_numpy()
    comparison.loc[ours, ["ci_low", "ci_high"]] = np.nan  # this cohort's intervals would give n away
    return _stat_table("yardsticks", "This cohort beside the published yardsticks", comparison, columns,
                       pd.Series(shown))


def _trajectory_table(report: Any, minimum: int) -> PublishedTable:
    traj = report.trajectories
    columns = (
        Column("band", "Band", "label"), Column("week", "Week", "label"),
        *estimate_columns("mean_score", "Mean"),
    )
    return _stat_table(
        "trajectories", f"{report.measure} by week since intake", traj, columns, traj["n_clients"] >= minimum,
        note=f"Weeks with fewer than {minimum} clients in a band are left out.", drop_withheld=True,
    )


def _grid_table(report: Any, minimum: int, policy: SuppressionPolicy) -> PublishedTable:
    grid = report.grid.copy()
    change_ok = grid["n"] >= minimum
    recovery_ok = ((grid["caseness_at_first"] >= minimum) & ~grid["recovered"].map(policy.is_small)
                   & ~(grid["caseness_at_first"] - grid["recovered"]).map(policy.is_small))
    columns_change = (
        Column("quantity", "Quantity", "label"), Column("quality", "Quality", "label"),
        *estimate_columns("mean_change", "Mean change"),
    )
    table = _stat_table("quantity_by_quality", "Quantity by quality", grid, columns_change, change_ok)
    # No Wilson intervals: with the rate they give the count and its n away.
    rec_cols = (Column("recovery_rate", "Recovery (%)", "pct"),)
    rec = _stat_table("r", "r", grid, (*columns_change[:2], *rec_cols), recovery_ok)
    display = pd.concat([table.display, rec.display[[c.header for c in rec_cols]]], axis=1)
    numeric = pd.concat([table.numeric, rec.numeric[[c.key for c in rec_cols]]], axis=1)
    return PublishedTable(table.name, table.title, display, numeric, (*table.columns, *rec_cols),
                        note=f"Paired clients with both values; a cell's mean change needs {minimum} clients, its "
                        f"recovery rate {minimum} at caseness and no small count of recovered or not recovered.")


def _follow_up_table(report: Any, minimum: int) -> PublishedTable:
    fu = report.follow_up
    columns = (
        Column("band", "Band", "label"), Column("time_point", "Time point", "label"),
        *estimate_columns("mean_score", "Mean"),
        Column("change_end_to_follow_up", "Change end → follow-up", "number"),
    )
    return _stat_table("follow_up", f"{report.measure} 1-12 months after discharge", fu, columns, fu["n"] >= minimum,
                       note=f"Bands with fewer than {minimum} clients with a follow-up score are left out.",
                       drop_withheld=True)


def published_counts(bands: PublishedTable, clients_shown: int | None) -> dict[tuple[str, str], int | None]:
    """Every count a de-identified view publishes: (row, column) -> shown value (None = withheld)."""
    out: dict[tuple[str, str], int | None] = {("Clients", "Clients"): clients_shown}
    if bands is not None:
        labels = bands.numeric.iloc[:, 0]
        for col in bands.columns:
            if col.kind == "count":
                for label, v in zip(labels, bands.numeric[col.key], strict=True):
                    out[(str(label), col.key)] = None if _withheld(v) else int(v)
    return out


def _shift_month(day: date, k: int) -> date:
    total = day.year * 12 + day.month - 1 + k
    return date(total // 12, total % 12 + 1, 1)


def _adjacent_settings(start: date | None, end: date | None) -> list[tuple[date | None, date | None]]:
    """The adjacent month settings of intake bounds: one bound moved by one month (none past the other)."""
    settings_to_try: list[tuple[date | None, date | None]] = []
    if start is not None:
        settings_to_try += [(_shift_month(start, -1), end), (_shift_month(start, 1), end)]
    if end is not None:
        settings_to_try += [(start, month_end(_shift_month(end, -1))), (start, month_end(_shift_month(end, 1)))]
    return [(s, e) for s, e in settings_to_try if s is None or e is None or s <= e]


def _band_windows(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter, measure: str,
                  settings: Settings) -> tuple[pd.DataFrame, int]:
    """``deidentified_band_windows.sql`` for the cohort (window 0) and, with intake bounds, each
    adjacent month setting (windows 1...), in one query over the cohort widened by a month at each
    bound. Returns the aggregate rows and the number of windows."""
    start, end = cohort.intake_from, cohort.intake_to
    windows = [(start, end), *_adjacent_settings(start, end)]
    wide = replace(cohort, intake_from=_shift_month(start, -1) if start else None,
                   intake_to=month_end(_shift_month(end, 1)) if end else None)
    params = client_query_params(viewer, wide, measure, settings,
                                 windows=[{"intake_from": s, "intake_to": e} for s, e in windows])
    return db.query("deidentified_band_windows", params), len(windows)


def _guard_adjacent(groups: pd.DataFrame, windows: int, settings: Settings, policy: SuppressionPolicy,
                    measure: str) -> set[str]:
    """Count columns to withhold because an adjacent month setting would differ by 1-10.

    The adjacent settings move one intake bound by one month (:func:`_adjacent_settings`; windows
    1... of :func:`_band_windows`, window 0 the cohort's own). For every pair of adjacent settings,
    each side runs this check against the other, so a count that differs by a small amount is
    withheld on both sides and cannot be differenced. Returns column keys ("Clients" for the
    headline count)."""
    higher = measure_higher_is_better(measure, settings)

    def counts(window: int) -> dict[tuple[str, str], int | None]:
        n, rows, _ = _band_rows(groups, window, settings)
        return published_counts(_publish_bands(rows, policy, measure, higher), None if policy.is_small(n) else n)

    current = counts(0)
    hide: set[str] = set()
    for window in range(1, windows):
        other = counts(window)
        for key, value in current.items():
            theirs = other.get(key)
            # A difference of 0 reveals no one (even under a policy that suppresses zeros).
            if value is not None and theirs is not None and value != theirs and policy.is_small(abs(value - theirs)):
                hide.add(key[1])
    return hide


def _hide_columns(table: PublishedTable, keys: set[str], policy: SuppressionPolicy) -> PublishedTable:
    """Withhold whole count columns, and the rates and means over them (a rate narrows its n)."""
    display, numeric = table.display.copy(), table.numeric.copy()
    for col in table.columns:
        if col.key in keys:
            numeric[col.key] = pd.array([pd.NA] * len(numeric), dtype="Int64")
            # Withheld because an adjacent month setting differs by a small count, not because
            # the count is small: "suppressed" (a cell already "<11" is small and stays so).
            display[col.header] = [v if isinstance(v, str) else WITHHELD_TEXT for v in display[col.header]]
    for col in BAND_COLUMNS:
        of = col.of if isinstance(col.of, tuple) else (col.of,)
        if col.header in display.columns and col.kind in VALUE_KINDS and set(of) & keys:
            numeric[col.key] = pd.array([pd.NA] * len(numeric), dtype="Float64")
            display[col.header] = [RATE_WITHHELD if v is not None else None for v in display[col.header]]
    return PublishedTable(table.name, table.title, display, numeric, table.columns, table.note)


def deidentified_cohort_view(
    db: ClinicDatabase,
    viewer: Viewer,
    cohort: CohortFilter | None,
    measure: str,
    settings: Settings | None = None,
) -> DeidentifiedCohortView:
    """The Cohort outcomes page for a de-identified viewer (see the module docstring)."""
    settings = settings or active_settings()
    policy = suppression_policy(settings)
    minimum = minimum_cohort_size(settings)
    cohort = deidentified_cohort(db, viewer, cohort)
    note = WITHHELD_NOTE.format(footnote=suppression_footnote(policy, minimum))
    n_clients = int(db.query("cohort_client_count", query_params(viewer, cohort))["clients"].iloc[0])
    bounded = cohort.intake_from is not None or cohort.intake_to is not None
    groups, windows = (_band_windows(db, viewer, cohort, measure, settings) if bounded or n_clients >= minimum
                       else (pd.DataFrame(), 0))
    hide = _guard_adjacent(groups, windows, settings, policy, measure) if bounded else set()
    clients_text = format_count(n_clients, policy)
    if "Clients" in hide and not policy.is_small(n_clients):
        clients_text = WITHHELD_TEXT  # hidden to protect a neighbouring month setting, not small
    if n_clients < minimum:
        return DeidentifiedCohortView(
            measure=measure, minimum=minimum, enough=False, note=note,
            headline=(HeadlineCell("Clients", clients_text, f"fewer than {minimum}: nothing else is shown"),),
        )
    report = cohort_report(db, viewer, cohort, measure, settings)
    _, rows, whole = _band_rows(groups, 0, settings)
    bands = _hide_columns(_publish_bands(rows, policy, measure, report.higher_is_better), hide, policy)
    total = bands.numeric.iloc[-1]
    total_text = bands.display.iloc[-1]

    def rate(key: str, header: str) -> str:
        text = total_text[header]
        return text if isinstance(text, str) else f"{float(total[key]):.1%}" if not _withheld(total[key]) else ""

    quantity_n, quality_n = _int(whole, "with_quantity"), _int(whole, "with_quality")
    mean_q = finite_or_none(whole.get("mean_quantity")) if quantity_n >= minimum else None
    mean_l = finite_or_none(whole.get("mean_quality")) if quality_n >= minimum else None
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


def deidentified_design(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None, settings: Settings | None = None
) -> tuple[PublishedTable, ...]:
    """The assignment-design tables without counts; a group's values need ``minimum`` clients."""
    settings = settings or active_settings()
    minimum = minimum_cohort_size(settings)
    cohort = deidentified_cohort(db, viewer, cohort)
    if int(db.query("cohort_client_count", query_params(viewer, cohort))["clients"].iloc[0]) < minimum:
        return ()
    design = assignment_design(db, viewer, cohort, settings)
    pct = "pct"
    items_met = _stat_table(
        "completion_by_items_met", "Completion by design-checklist items met", design.items_met,
        (Column("items_met", "Items met", "label"), Column("mean_quantity", "Completion (%)", pct),
         Column("quantity_ci_low", "95% CI low", pct), Column("quantity_ci_high", "95% CI high", pct)),
        design.items_met["n_clients"] >= minimum,
    )
    items = design.items
    both = (items["clients_met"] >= minimum) & (items["clients_not_met"] >= minimum)
    met = _stat_table("m", "m", items, (Column("item", "Item", "label"), Column("completion_met", "Completion (met)", pct)),
                      items["clients_met"] >= minimum)
    not_met = _stat_table("n", "n", items, (Column("item", "Item", "label"),
                                           Column("completion_not_met", "Completion (not met)", pct)),
                          items["clients_not_met"] >= minimum)
    diff = _stat_table("d", "d", items, (Column("item", "Item", "label"), Column("difference", "Difference", pct)), both)
    item_cols = (Column("item", "Item", "label"), Column("completion_met", "Completion (met)", pct),
                 Column("completion_not_met", "Completion (not met)", pct), Column("difference", "Difference", pct))
    by_item = PublishedTable(
        "completion_by_item", "Completion with each checklist item met or not",
        pd.concat([met.display, not_met.display.iloc[:, 1:], diff.display.iloc[:, 1:]], axis=1),
        pd.concat([met.numeric, not_met.numeric.iloc[:, 1:], diff.numeric.iloc[:, 1:]], axis=1), item_cols,
    )
    types = design.types
    type_cols = (Column("label", "Type", "label"), Column("mean_quantity", "Completion (%)", pct),
                 Column("quantity_ci_low", "CI low", pct), Column("quantity_ci_high", "CI high", pct),
                 Column("mean_quality", "Quality (%)", pct), Column("quality_ci_low", "Quality CI low", pct),
                 Column("quality_ci_high", "Quality CI high", pct))
    by_type = _stat_table("homework_types", "Completion and quality by homework type", types, type_cols,
                          types["n_clients"] >= minimum, drop_withheld=True)
    return items_met, by_item, by_type


def deidentified_within(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None, measure: str, settings: Settings | None = None
) -> PublishedTable | None:
    """The within-client model's coefficients without counts; None below ``minimum`` clients."""
    settings = settings or active_settings()
    minimum = minimum_cohort_size(settings)
    cohort = deidentified_cohort(db, viewer, cohort)
    if int(db.query("cohort_client_count", query_params(viewer, cohort))["clients"].iloc[0]) < minimum:
        return None
    within = within_client_analysis(db, viewer, cohort, measure, settings)
    coefficients = within.coefficients
    columns = (Column("model", "Model", "label"), Column("effect", "Effect", "label"),
               *estimate_columns("estimate", "Estimate"), Column("p_value", "p", "p"), Column("unit", "Unit", "text"))
    return _stat_table("within_client", "Within-client analysis", coefficients, columns,
                       coefficients["clients"] >= minimum, note=CAVEAT)


def month_bounds(start_month: str | None, end_month: str | None) -> tuple[date | None, date | None]:
    """("YYYY-MM", "YYYY-MM") -> (first day of the first month, last day of the last month)."""
    start = month_start(date.fromisoformat(f"{start_month}-01")) if start_month else None
    end = month_end(date.fromisoformat(f"{end_month}-01")) if end_month else None
    return start, end
