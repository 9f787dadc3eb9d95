"""Quality improvement: monthly trends, funnel comparisons and not-on-track alerts.

Everything a quality-improvement meeting sees comes from :func:`quality_report`, which the
page, the meeting pack (:mod:`analytics.quality_improvement.meeting_pack`) and the tests share, so their numbers
agree. Every metric reuses the product's definitions (docs/metrics.md, "Quality improvement"):
the SQL macros for assignment fractions and the design-checklist coverage, and for
end-of-treatment outcomes the outcome macros of analytics/sql/outcome_macros.sql (those of
:func:`analytics.metrics.classify_outcomes` and :func:`analytics.metrics.classify_paired_outcomes`),
counted in the database (:func:`discharge_outcomes`). Funnel limits come from :mod:`analytics.statistics`; small-number
suppression and pseudonyms from :mod:`analytics.privacy`.

De-identified mode (the default; always on for viewers who may not see identifiers): no client
ids and no free text anywhere, therapists under keyed pseudonyms, counts 1-10 suppressed (policy
from the settings), rates with small denominators suppressed, with complementary suppression.

Nothing here reads the wall clock: the report date ``as_of`` defaults to the latest session or
score date in the data (:func:`report_dates`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ..config import Settings, active_settings, measure_key
from ..db import ClinicDatabase
from ..drill_down import client_review_href
from ..expected_response import (
    MIN_HISTORY_CLIENTS,
    curves_parameter,
    expected_curves,
)
from ..metrics import paired_definitions
from ..privacy import (
    DEV_PSEUDONYM_KEY,
    PSEUDONYM_KEY_ENV_VAR,
    WITHHELD_TEXT,
    SuppressionPolicy,
    distinct_pseudonyms,
    load_pseudonym_key,
    pseudonym,
    pseudonym_length,
    settings_policy,
    suppress_table,
    suppression_footnote,
)
from ..publishing import RATE_WITHHELD, Column, PublishedTable, protect_rate_numerators, publish_table
from ..scope import CohortFilter, Viewer, query_params
from ..statistics import funnel_limits, funnel_limits_mean

# ----------------------------------------------------------------------------- constants

UNIT_TYPES: tuple[str, ...] = ("clinic", "therapist", "program")
UNIT_LABELS: dict[str, str] = {"clinic": "Clinics", "therapist": "Therapists", "program": "Programmes"}
UNIT_SINGULAR: dict[str, str] = {"clinic": "Clinic", "therapist": "Therapist", "program": "Programme"}
NOT_RECORDED = "(not recorded)"

# Funnel metrics: key -> (label, kind, numerator label). kind "rate" is a proportion of clients
# (binomial limits), "mean" a mean of client values 0-1 (limits from the client-level SD).
FUNNEL_METRICS: dict[str, tuple[str, str, str | None]] = {
    "recovery": ("Recovery rate", "rate", "Recovered"),
    "reliable_improvement": ("Reliable improvement", "rate", "Reliably improved"),
    "quantity": ("Mean homework quantity", "mean", None),
    "coverage": ("Design-checklist coverage", "mean", None),
    "reviewed": ("Homework reviewed", "mean", None),
}
FUNNEL_LEVELS: tuple[float, float] = (0.95, 0.998)

STATUS_HIGH_998 = "Above 99.8% limit"
STATUS_HIGH_95 = "Above 95% limit (warning)"
STATUS_LOW_998 = "Below 99.8% limit"
STATUS_LOW_95 = "Below 95% limit (warning)"
STATUS_WITHIN = "Within limits"
STATUS_TOO_FEW = "Too few clients"
STATUS_WITHHELD = "Withheld"
OUTSIDE_STATUSES = (STATUS_HIGH_998, STATUS_HIGH_95, STATUS_LOW_95, STATUS_LOW_998)
# A unit is *flagged* only outside the 99.8% limits (about 1 in 500 in-control units by chance);
# outside the 95% limits only is a warning (1 in 20 by chance). Spiegelhalter 2005.
FLAG_STATUSES = (STATUS_HIGH_998, STATUS_LOW_998)
WARNING_STATUSES = (STATUS_HIGH_95, STATUS_LOW_95)
FLAG_FALSE_RATE = 0.002  # two-sided 1 - 0.998
WARNING_FALSE_RATE = 0.05

# Alerts: quantity over this many weeks before the report date splits the not-on-track clients.
ALERT_HOMEWORK_WINDOW_WEEKS = 4
# Risk is its own group, listed first and never explained by homework (issue 11, item 13).
ALERT_GROUP_RISK = "Risk: PHQ-9 item 9 above 0"
ALERT_GROUP_LITTLE = "Little homework done"
ALERT_GROUP_DONE = "Homework done, still not improving"
ALERT_GROUP_NONE = "Not flagged"
ALERT_ALL = "All clients in treatment"
RISK_MEASURE = "PHQ-9"
# Outcome choice of the NHS Talking Therapies paired definitions (paired_outcome_choice).
NHS_PAIRED_SUFFIX = ", NHS paired"
RISK_ITEM = 9

ALL_LABEL = "All"
PERIOD_CHOICES: dict[str, int | None] = {"Last 12 months": 12, "Last 24 months": 24, "All months": None}
# Outcomes by discharge: the groupings, finest first, and "auto" (choose_outcome_period).
TWELVE_MONTHS = "12 months"
OUTCOME_PERIODS: tuple[str, ...] = ("month", "quarter", TWELVE_MONTHS)
AUTO_PERIOD = "auto"
# A grouping is chosen automatically when at least this share of its periods show a headline rate.
AUTO_PERIOD_SHARE = 0.5
# The NHS national standard: a recovery rate of 50% (docs/clinical-reference.md, "Outcome definitions";
# NHS England, NHS Talking Therapies manual). It applies to the paired definitions, not to one measure.
RECOVERY_STANDARD = 0.5


# ----------------------------------------------------------------------------- data classes


@dataclass(frozen=True)
class FunnelPanel:
    """One funnel comparison: a unit type and a metric, its table and its limit curves."""

    unit_type: str
    metric: str
    table: PublishedTable
    centre: float | None  # overall rate or mean (0-1); None when it is withheld or missing
    curve: pd.DataFrame | None  # n and the limit columns, for drawing the funnel

    @property
    def label(self) -> str:
        return FUNNEL_METRICS[self.metric][0]


@dataclass(frozen=True)
class QualityReport:
    """Everything on the quality-improvement page and in its meeting pack."""

    as_of: date | None
    period_start: date | None
    period_end: date | None
    measure: str | None
    deidentified: bool
    outcome_period: str
    cohort_description: str
    privacy_note: str
    pseudonym_note: str | None
    not_on_track_weeks: int
    trends_activity: PublishedTable | None = None
    trends_outcomes: PublishedTable | None = None
    funnels: tuple[FunnelPanel, ...] = ()
    flags: PublishedTable | None = None
    alert_counts: PublishedTable | None = None
    flag_summary: dict[str, Any] = field(default_factory=dict)  # see flag_summary()
    alert_list: PublishedTable | None = None  # identified mode only
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: which not-on-track rule applies to which measure (expected course, or the fixed rule as a fall-back)
    alert_method: str = ""
    #: why outcomes are grouped as they are (:func:`choose_outcome_period`)
    period_choice: str = ""
    #: this period against the previous one of the same length (:func:`period_summary`)
    summary: PublishedTable | None = None
    previous_start: date | None = None
    previous_end: date | None = None
    #: the earliest intake the viewer may see (to say when the previous period is only partly covered)
    first_intake: date | None = None
    #: plain reasons why headline rates of the whole period are withheld (:func:`outcome_gaps`)
    outcome_gaps: tuple[str, ...] = ()
    #: the fewest clients a unit needs in a comparison, and the suppression threshold (None: identified)
    min_clients: int = 5
    suppression_threshold: int | None = None
    #: what "<11" and "suppressed" mean (privacy.suppression_footnote); "" in the identified view
    suppression_note: str = ""
    #: why therapists are not compared (a cohort of more than MAX_COMPARED_THERAPISTS); "" when they are
    therapist_note: str = ""

    @property
    def has_data(self) -> bool:
        return self.as_of is not None

    def funnel(self, unit_type: str, metric: str) -> FunnelPanel:
        for panel in self.funnels:
            if panel.unit_type == unit_type and panel.metric == metric:
                return panel
        raise KeyError((unit_type, metric))

    def tables(self) -> list[PublishedTable]:
        """Every table of the report, in reading order (for CSV exports)."""
        out = [t for t in (self.trends_activity, self.trends_outcomes, self.flags) if t is not None]
        out += [p.table for p in self.funnels]
        out += [t for t in (self.alert_counts, self.alert_list) if t is not None]
        return out


# ----------------------------------------------------------------------------- policy and keys


def suppression_policy(settings: Settings | None = None) -> SuppressionPolicy:
    """The deployment's small-number policy: ``suppression_style`` "cms" with
    ``suppression_threshold`` (default 11: counts 1-10 suppressed) and ``suppression_round_to``
    (e.g. NHS Digital: threshold 8, round to 5), or "nhs_england" (counts 0-4 suppressed, the rest
    rounded to the nearest 5): :func:`analytics.privacy.policy_for_style`."""
    return settings_policy(settings or active_settings())


def pseudonym_key(viewer: Viewer) -> tuple[bytes, str | None]:
    """The per-deployment pseudonym key and a note to show when it is the public dev key.

    The key comes from ``BETWEEN_SESSIONS_PSEUDONYM_KEY``. Without it, local single-user mode
    falls back to the development key (with a visible note); any other deployment raises
    :class:`analytics.privacy.MissingPseudonymKeyError`.
    """
    if viewer.local_mode:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            key = load_pseudonym_key(allow_dev_key=True)
    else:
        key = load_pseudonym_key()
    note = None
    if key == DEV_PSEUDONYM_KEY:
        note = (
            "Therapist pseudonyms use the public development key (local mode). Set "
            f"{PSEUDONYM_KEY_ENV_VAR} to a secret for this deployment before sharing outputs."
        )
    return key, note


def therapist_pseudonym(therapist_id: str, key: bytes) -> str:
    """A therapist's six-character pseudonym (e.g. ``T-3F9A1C``) under ``key``. Views name therapists
    with :func:`therapist_pseudonyms`, which keeps them apart (longer in a large deployment)."""
    return pseudonym(str(therapist_id), key, prefix="T", length=6)


#: The most therapists a report compares (funnel plots, tables and flags per therapist). A national
#: network has tens of thousands: its therapists are compared within a clinic or programme (filter),
#: and the network's report compares clinics and programmes. Keeps what a report reads into Python
#: bounded (two rows a therapist) and its funnel plots legible.
MAX_COMPARED_THERAPISTS = 2_000


def cohort_therapists(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None) -> int:
    """Distinct therapists of the cohort's clients (analytics/quality_improvement/sql/quality_cohort_therapists.sql)."""
    return int(db.query("quality_cohort_therapists", query_params(viewer, cohort))["therapists"].iloc[0])


def therapists_in_deployment(db: ClinicDatabase) -> int:
    """Distinct therapist ids on record in the whole database, whatever the viewer's scope
    (analytics/quality_improvement/sql/therapists_in_deployment.sql)."""
    return int(db.query("therapists_in_deployment")["therapists"].iloc[0])


def therapist_pseudonyms(db: ClinicDatabase, therapist_ids: Iterable[str], key: bytes) -> dict[str, str]:
    """``{therapist id: pseudonym}`` for a de-identified view, never two therapists under one.

    Six characters (30 bits) while the deployment has fewer than about 1,460 therapists, eight up
    to about 47,000, then ten (:func:`analytics.privacy.pseudonym_length`: under one pair in a
    thousand expected to collide), so every view of a deployment uses one length; a pair that
    still collides gets two more characters each (:func:`analytics.privacy.distinct_pseudonyms`).
    A national network's 33,333 therapists (the benchmark's XXL) shared six-character pseudonyms,
    and the report refused to draw."""
    length = pseudonym_length(therapists_in_deployment(db))
    return distinct_pseudonyms((str(t) for t in therapist_ids), key, prefix="T", length=length)


# ----------------------------------------------------------------------------- dates


def report_dates(db: ClinicDatabase, viewer: Viewer) -> dict[str, date | None]:
    """``as_of``: the latest session or score date the viewer may see (the default report
    date); ``first_intake``: the earliest intake (the start of "all months")."""
    from ..data.model import scope_dates

    return scope_dates(db, viewer)


def report_period(as_of: date, months: int | None, first_intake: date | None = None) -> tuple[date, date]:
    """The complete calendar months reported: ``months`` months up to the last complete month
    on ``as_of`` (the month of ``as_of`` counts when ``as_of`` is its last day), or from the
    month of ``first_intake`` when ``months`` is None. Returns (first day, last day)."""
    next_day = as_of + timedelta(days=1)
    if next_day.month != as_of.month:
        end = as_of
    else:
        end = as_of.replace(day=1) - timedelta(days=1)
    if months is None:
        start = (first_intake or end).replace(day=1)
    else:
        start = _add_months(end.replace(day=1), -(int(months) - 1))
    if start > end:  # no complete month yet: report the month in progress
        start, end = as_of.replace(day=1), as_of
    return start, end


def _add_months(d: date, k: int) -> date:
    total = d.year * 12 + (d.month - 1) + k
    return date(total // 12, total % 12 + 1, 1)


# ----------------------------------------------------------------------------- raw aggregates


def monthly_activity(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None, period_start: date, period_end: date,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Monthly activity and homework of the cohort (analytics/quality_improvement/sql/quality_monthly_activity.sql):
    active clients, attended sessions, assignments per attended session, share reviewed,
    client-level mean quantity / quality / design-checklist coverage, each with its n. Homework
    counts in the clients' treatment window (follow-up homework apart: ``follow_up_assignments``);
    quantity reads unreviewed work per ``settings.unreviewed_as_not_done``."""
    settings = settings or active_settings()
    return db.query(
        "quality_monthly_activity",
        query_params(viewer, cohort, period_start=period_start, period_end=period_end,
                     unreviewed_as_not_done=settings.unreviewed_as_not_done),
    )


OUTCOME_COUNT_KEYS = ("discharged", "finished", "caseness_at_first", "recovered", "reliable_improvement",
                      "reliable_deterioration", "reliable_recovery")


@dataclass(frozen=True)
class DischargeOutcomes:
    """End-of-treatment outcome counts of the clients discharged between ``period_start`` and
    ``period_end`` (:data:`OUTCOME_COUNT_KEYS`), counted in the database (:func:`discharge_outcomes`).

    ``months``: one row per discharge month with a discharge (``month``: its first day);
    ``units``: per unit type of :data:`UNIT_TYPES`, one row per unit with a discharge (``unit``;
    :data:`NOT_RECORDED` when none is recorded), in label order; ``total``: the whole period."""

    period_start: date
    period_end: date
    months: pd.DataFrame
    units: dict[str, pd.DataFrame]
    total: dict[str, int]


def discharge_outcomes(
    db: ClinicDatabase,
    viewer: Viewer,
    cohort: CohortFilter | None,
    measure: str,
    period_start: date,
    period_end: date,
    settings: Settings | None = None,
    *,
    therapists: bool = True,
) -> DischargeOutcomes:
    """Outcome counts of the clients discharged between ``period_start`` and ``period_end`` (both
    inclusive) on ``measure``, per discharge month, clinic, therapist (with ``therapists``),
    programme and overall.

    The NHS Talking Therapies paired definitions when ``measure`` is :func:`paired_outcome_choice`
    (quality_outcome_counts_paired.sql: the definitions of
    :func:`analytics.metrics.classify_paired_outcomes`), else ``measure`` alone
    (quality_outcome_counts.sql: :func:`analytics.metrics.classify_outcomes`; finished = paired,
    reliable recovery = recovered and reliably improved). finished = discharged with an outcome;
    every other count is of finished clients; recovery's denominator is caseness_at_first (NHS
    Talking Therapies). Counted in the database (macro ``discharge_outcome_counts``): only
    aggregates come back, so any role may call it."""
    settings = settings or active_settings()
    cohort = cohort or CohortFilter()
    period = {"period_start": period_start, "period_end": period_end,
              "baseline_days": settings.baseline_days_before_intake, "therapist_units": therapists}
    if measure == paired_outcome_choice(settings):
        depression, anxiety = paired_definitions(settings)
        counts = db.query("quality_outcome_counts_paired", query_params(
            viewer, cohort, depression_measure=depression["name"], anxiety_measure=anxiety["name"],
            depression=depression, anxiety=anxiety, **period))
    else:
        counts = db.query("quality_outcome_counts", query_params(
            viewer, cohort.with_(measures=(measure,)), measure_definitions=settings.measure_definitions(), **period))
    return _discharge_outcomes(counts, period_start, period_end)


def _discharge_outcomes(counts: pd.DataFrame, period_start: date, period_end: date) -> DischargeOutcomes:
    keys = list(OUTCOME_COUNT_KEYS)
    months = counts.loc[counts["unit_type"] == "month", ["month", *keys]].reset_index(drop=True)
    months["month"] = pd.to_datetime(months["month"])
    units = {}
    for unit_type in UNIT_TYPES:
        part = counts[counts["unit_type"] == unit_type]
        labels = part["unit"].astype("object").where(part["unit"].notna(), NOT_RECORDED)
        sums = part[keys].groupby(labels.to_numpy()).sum() if len(part) else pd.DataFrame(columns=keys)
        order = pd.Index(sorted(sums.index, key=str), dtype="object")
        units[unit_type] = sums.reindex(order).astype("int64").rename_axis("unit").reset_index()
    overall = counts[counts["unit_type"] == "all"]
    total = ({key: int(overall[key].sum()) for key in keys} if len(overall) else dict.fromkeys(keys, 0))
    return DischargeOutcomes(period_start, period_end, months, units, total)


def _months_to(outcomes: DischargeOutcomes, keys: pd.Series, labels: Sequence[str]) -> pd.DataFrame:
    """The month counts of ``outcomes`` summed to ``keys`` (one per month), rows in ``labels`` order
    (zeros when absent)."""
    columns = list(OUTCOME_COUNT_KEYS)
    if outcomes.months.empty:
        return pd.DataFrame(0, index=pd.Index(list(labels)), columns=columns).astype("int64")
    sums = outcomes.months[columns].groupby(keys.to_numpy()).sum()
    return sums.reindex(list(labels), fill_value=0).astype("int64")


def _with_rates(counts: pd.DataFrame) -> pd.DataFrame:
    out = counts.copy()
    out["not_caseness_at_first"] = out["finished"] - out["caseness_at_first"]
    out["recovery_rate"] = out["recovered"] / out["caseness_at_first"].where(out["caseness_at_first"] > 0)
    out["improvement_rate"] = out["reliable_improvement"] / out["finished"].where(out["finished"] > 0)
    out["deterioration_rate"] = out["reliable_deterioration"] / out["finished"].where(out["finished"] > 0)
    # Reliable recovery (recovered and reliably improved): same denominator as recovery.
    out["reliable_recovery_rate"] = out["reliable_recovery"] / out["caseness_at_first"].where(out["caseness_at_first"] > 0)
    return out


def period_label(ts: pd.Timestamp, outcome_period: str, period_start: date | None = None,
                 period_end: date | None = None) -> str:
    """The discharge period a date falls in: "2026-03", "2026-Q1", or for "12 months" the
    12-month block ending at ``period_end`` (blocks count back from the report's last month;
    the first may be shorter, starting at ``period_start``), e.g. "2025-10 to 2026-09"."""
    if outcome_period == "quarter":
        return f"{ts.year}-Q{(ts.month - 1) // 3 + 1}"
    if outcome_period == TWELVE_MONTHS:
        if period_end is None:
            raise ValueError("12-month periods need the report's last day")
        back = (period_end.year - ts.year) * 12 + (period_end.month - ts.month)
        block_end = _add_months(period_end.replace(day=1), -12 * (back // 12))
        block_start = _add_months(block_end, -11)
        if period_start is not None and block_start < period_start.replace(day=1):
            block_start = period_start.replace(day=1)
        return f"{block_start:%Y-%m} to {block_end:%Y-%m}"
    return f"{ts:%Y-%m}"


def outcomes_by_discharge(outcomes: DischargeOutcomes, outcome_period: str = "month") -> pd.DataFrame:
    """Outcome counts and rates per discharge month, quarter or 12 months (:data:`OUTCOME_PERIODS`)
    of :func:`discharge_outcomes`, every period of the report included, plus an ``All`` row over the
    whole report period. Quarters and 12-month blocks are sums of the months (:func:`period_label`)."""
    if outcome_period not in OUTCOME_PERIODS:
        raise ValueError(f"outcome_period must be one of {OUTCOME_PERIODS}, got {outcome_period!r}")
    period_start, period_end = outcomes.period_start, outcomes.period_end
    if outcome_period == "quarter":
        first = pd.Timestamp(period_start).to_period("Q").start_time
        starts = pd.date_range(first, pd.Timestamp(period_end), freq="QS")
    else:
        starts = pd.date_range(pd.Timestamp(period_start).replace(day=1), pd.Timestamp(period_end), freq="MS")
    labels = list(dict.fromkeys(period_label(s, outcome_period, period_start, period_end) for s in starts))
    keys = outcomes.months["month"].map(lambda t: period_label(t, outcome_period, period_start, period_end))
    frame = _months_to(outcomes, keys, labels).rename_axis("period").reset_index()
    total = pd.DataFrame([{"period": ALL_LABEL, **outcomes.total}])
    return _with_rates(pd.concat([frame, total], ignore_index=True))


def unit_outcomes(outcomes: DischargeOutcomes, unit_type: str) -> pd.DataFrame:
    """Outcome counts and rates per unit (clinic, therapist or programme) of :func:`discharge_outcomes`."""
    _unit_column(unit_type)
    return _with_rates(outcomes.units[unit_type])


def _unit_column(unit_type: str) -> str:
    if unit_type not in UNIT_TYPES:
        raise ValueError(f"unknown unit type {unit_type!r}")
    return "therapist_id" if unit_type == "therapist" else unit_type


def unit_homework(
    db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None, period_start: date, period_end: date,
    settings: Settings | None = None, *, therapists: bool = True,
) -> pd.DataFrame:
    """Per clinic, therapist (with ``therapists``), programme and overall: clients with homework set
    in the period, client-level mean quantity, reviewed share and design-checklist coverage with
    their SDs (analytics/quality_improvement/sql/quality_unit_homework.sql)."""
    settings = settings or active_settings()
    out = db.query(
        "quality_unit_homework",
        query_params(viewer, cohort, period_start=period_start, period_end=period_end,
                     unreviewed_as_not_done=settings.unreviewed_as_not_done, therapist_units=therapists),
    )
    out["unit"] = out["unit"].astype("object").where(out["unit"].notna() | (out["unit_type"] == "all"), NOT_RECORDED)
    return out


# ----------------------------------------------------------------------------- funnels


def funnel_status(value: float | None, limits: dict[str, float]) -> str:
    """Where a unit's value lies against its control limits (strictly outside counts)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in limits.values()):
        return ""
    if value > limits["upper_99_8"]:
        return STATUS_HIGH_998
    if value > limits["upper_95"]:
        return STATUS_HIGH_95
    if value < limits["lower_99_8"]:
        return STATUS_LOW_998
    if value < limits["lower_95"]:
        return STATUS_LOW_95
    return STATUS_WITHIN


def funnel_frame(
    units: pd.DataFrame,
    kind: str,
    *,
    centre: float | None,
    sd: float | None = None,
    min_n: int = 5,
) -> pd.DataFrame:
    """Add control limits at each unit's n and its status to a unit table.

    ``units`` has columns unit, n, value (0-1) and, for rates, numerator. ``kind`` "rate":
    exact binomial limits of a proportion around ``centre``
    (:func:`analytics.statistics.funnel_limits` with ``method="exact"``);
    "mean": around ``centre`` with the client-level ``sd``
    (:func:`analytics.statistics.funnel_limits_mean`). Units with n below ``min_n`` get
    the status "Too few clients" and no limits.
    """
    out = units.reset_index(drop=True).copy()
    limit_cols = ["lower_95", "upper_95", "lower_99_8", "upper_99_8"]
    for col in limit_cols:
        out[col] = np.nan
    out["status"] = ""
    if centre is None or out.empty:
        return out
    n = out["n"].astype(float).to_numpy()
    if kind == "rate":
        limits = funnel_limits(centre, n, levels=FUNNEL_LEVELS, method="exact")
    else:
        limits = funnel_limits_mean(centre, sd or 0.0, n, levels=FUNNEL_LEVELS)
    for col in limit_cols:
        out[col] = limits[col].to_numpy(dtype=float)
    value = pd.to_numeric(out["value"], errors="coerce").to_numpy(dtype=float)
    status = np.select(
        [np.isnan(value), value > out["upper_99_8"], value > out["upper_95"], value < out["lower_99_8"],
         value < out["lower_95"]],
        ["", STATUS_HIGH_998, STATUS_HIGH_95, STATUS_LOW_998, STATUS_LOW_95],
        default=STATUS_WITHIN,
    )
    too_few = n < min_n
    out["status"] = np.where(too_few, STATUS_TOO_FEW, status)
    out.loc[too_few, limit_cols] = np.nan
    return out


def funnel_curve(kind: str, centre: float, sd: float | None, max_n: float) -> pd.DataFrame:
    """The control-limit curves from n = 1 to a little past the largest unit, for drawing."""
    top = max(10.0, float(max_n) * 1.08)
    grid = np.unique(np.concatenate([np.linspace(1, 10, 37), np.geomspace(10, top, 120)]))
    if kind == "rate":  # exact binomial limits exist at whole numbers of clients
        return funnel_limits(centre, np.unique(np.round(grid)), levels=FUNNEL_LEVELS, method="exact")
    return funnel_limits_mean(centre, sd or 0.0, grid, levels=FUNNEL_LEVELS)


# ----------------------------------------------------------------------------- alerts


def alert_rule_params(db: ClinicDatabase, viewer: Viewer, *, as_of: date, settings: Settings) -> dict[str, Any]:
    """The alert rule's parameters on ``as_of`` (the macro ``alert_client_rows``,
    analytics/sql/alert_macros.sql; also under the caseload): the homework window (the
    :data:`ALERT_HOMEWORK_WINDOW_WEEKS` weeks ending on ``as_of``), the risk measure, the measures'
    definitions and the expected curves of the viewer's scope as of that date (fitted in the
    database, :func:`analytics.expected_response.expected_curves`; the fixed caseness rule applies to
    the measures without one)."""
    risk = settings.measure(RISK_MEASURE)
    curves = expected_curves(db, viewer, settings=settings, as_of=as_of)
    return {
        "as_of": as_of,
        "window_start": as_of - timedelta(weeks=ALERT_HOMEWORK_WINDOW_WEEKS) + timedelta(days=1),
        "risk_measure": risk.name if risk else RISK_MEASURE,
        "baseline_days": int(settings.baseline_days_before_intake),
        "unreviewed_as_not_done": bool(settings.unreviewed_as_not_done),
        "definitions": settings.measure_definitions(),
        "curves": curves_parameter(curves),
        "not_on_track_weeks": int(settings.not_on_track_weeks),
    }


def alert_method(db: ClinicDatabase, viewer: Viewer, settings: Settings | None = None, *,
                 as_of: date | None = None) -> str:
    """Which not-on-track rule applies to which measure (curves as of ``as_of``), in one sentence for the page."""
    settings = settings or active_settings()
    curves = expected_curves(db, viewer, settings=settings, as_of=as_of)
    available = set(_available_measures(db, viewer, CohortFilter()))
    fitted = [n for n, c, _ in curves.curves if c is not None and n in available]
    fallback = [n for n, c, _ in curves.curves if c is None and n in available]
    parts = []
    if fitted:
        parts.append(f"{', '.join(fitted)}: off track against the expected course of the clinic's discharged clients "
                     "with a similar intake score (worse than their 90th percentile at the latest score)")
    if fallback:
        parts.append(f"{', '.join(fallback)}: the fixed rule (at caseness without reliable improvement after "
                     f"{settings.not_on_track_weeks} weeks), because fewer than {MIN_HISTORY_CLIENTS} discharged clients "
                     "give an expected course")
    return "Not on track, by measure: " + "; ".join(parts) + "." if parts else ""


def alert_clients(
    db: ClinicDatabase,
    viewer: Viewer,
    cohort: CohortFilter | None = None,
    *,
    as_of: date | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Every client in treatment on ``as_of`` with the alert rules evaluated (one row each).

    ``as_of`` defaults to the latest session or score date in the data (:func:`report_dates`),
    never the wall clock. A client is *not on track* when any of:

    - ``rule_caseness``: at least ``settings.not_on_track_weeks`` weeks since intake, at caseness
      at the latest score on a measure (the first score when it is the only one) and not
      reliably improved on it (:func:`analytics.metrics.classify_outcomes`);
    - ``rule_deterioration``: reliably deteriorated on a measure (latest vs first score);
    - ``rule_risk``: PHQ-9 item 9 above 0 at the latest PHQ-9 score (checked whatever the
      measure filter; a score without item values cannot raise it).

    ``group``: a client with ``rule_risk`` is in the risk group ("Risk: PHQ-9 item 9 above 0"),
    whatever else they meet and whatever their homework. Other flagged clients are split by the
    mean quantity of the assignments set in the last 4 weeks: below the lower compliance-band
    edge (50%), or no reviewed assignment, is "Little homework done"; otherwise "Homework done,
    still not improving".

    Client-level rows: refused for viewers who see aggregates only (the report counts them
    internally for every role and shows the list only in identified mode).
    """
    viewer.require_identifiers()
    return _alert_rows(db, viewer, cohort, as_of=as_of, settings=settings)


#: The alert groups by the keys of the macro alert_group (analytics/sql/alert_macros.sql), in the
#: order the counts are shown.
ALERT_GROUP_LABELS = {"risk": ALERT_GROUP_RISK, "little": ALERT_GROUP_LITTLE, "done": ALERT_GROUP_DONE,
                      "none": ALERT_GROUP_NONE}
ALERT_RULES = ("rule_caseness", "rule_off_track", "rule_deterioration", "rule_risk")


def _alert_params(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None, as_of: date,
                  settings: Settings, **extra: Any) -> dict[str, Any]:
    """The parameters of the alert queries: the rules' (:func:`alert_rule_params`) and the groups'."""
    return query_params(viewer, cohort, **alert_rule_params(db, viewer, as_of=as_of, settings=settings),
                        low_edge=float(settings.compliance_band_edges[0]), group_labels=ALERT_GROUP_LABELS, **extra)


def _alert_rows(
    db: ClinicDatabase,
    viewer: Viewer,
    cohort: CohortFilter | None = None,
    *,
    as_of: date | None = None,
    settings: Settings | None = None,
    flagged_only: bool = False,
) -> pd.DataFrame:
    """The rows of :func:`alert_clients`; ``flagged_only``: only the clients not on track."""
    settings = settings or active_settings()
    if as_of is None:
        as_of = report_dates(db, viewer)["as_of"]
    columns = [
        "client_id", "clinic", "therapist_id", "program", "weeks_in_treatment", "rule_caseness",
        "rule_deterioration", "rule_risk", "not_on_track", "group", "reasons", "latest_scores",
        "recent_quantity", "recent_assignments", "rule_off_track",
    ]
    if as_of is None:
        return pd.DataFrame(columns=columns)
    # The rules, reasons, homework and group of every client in treatment, evaluated in the database.
    rows = db.query("quality_alert_clients", _alert_params(db, viewer, cohort, as_of, settings,
                                                           flagged_only=flagged_only))
    if rows.empty:
        return pd.DataFrame(columns=columns)
    return rows[columns].reset_index(drop=True)


def alert_group_counts(
    db: ClinicDatabase,
    viewer: Viewer,
    cohort: CohortFilter | None = None,
    *,
    as_of: date | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Counts of clients in treatment by alert group and rule, with an all-clients row, counted in
    the database (the groups and rules of :func:`alert_clients`; no client row reaches Python, so
    every role may have them).

    A client may meet several rules, so the rule columns do not add up across a row; each
    column adds up down the groups (every client is in exactly one group)."""
    settings = settings or active_settings()
    if as_of is None:
        as_of = report_dates(db, viewer)["as_of"]
    counted = ["clients", *ALERT_RULES]
    groups = list(ALERT_GROUP_LABELS.values())
    if as_of is None:
        by_group = pd.DataFrame(0, index=pd.Index(groups), columns=counted)
    else:
        rows = db.query("quality_alert_counts", _alert_params(db, viewer, cohort, as_of, settings))
        by_group = rows.set_index("group")[counted].reindex(groups, fill_value=0).astype("int64")
    out = [{"group": group, **{k: int(by_group.at[group, k]) for k in counted}} for group in groups]
    out.append({"group": ALERT_ALL, **{k: int(by_group[k].sum()) for k in counted}})
    return pd.DataFrame(out)


ACTIVITY_COLUMNS: tuple[Column, ...] = (
    Column("month", "Month", "label"),
    Column("active_clients", "Active clients", "count"),
    Column("sessions_attended", "Sessions attended", "count"),
    Column("sessions_missed", "Sessions missed", "count"),
    Column("assignments", "Assignments set", "count"),
    Column("assignments_per_session", "Assignments per attended session", "number", "sessions_attended"),
    Column("reviewed", "Assignments reviewed", "count", show="identified"),
    Column("reviewed_share", "Reviewed (%)", "pct", ("reviewed", "assignments")),
    Column("clients_with_homework", "Clients with homework", "count"),
    Column("checklist_coverage", "Design-checklist coverage (%)", "pct", "clients_with_homework"),
    Column("clients_quantity", "Clients with quantity rated", "count"),
    Column("mean_quantity", "Mean quantity (%)", "pct", "clients_quantity"),
    Column("clients_quality", "Clients with quality rated", "count"),
    Column("mean_quality", "Mean quality (%)", "pct", "clients_quality"),
    Column("follow_up_assignments", "Follow-up assignments (after discharge, not counted)", "count"),
)

# Finished clients are a partition: at caseness at start + not at caseness at start (a helper
# column), so that the two shown counts cannot give a small difference away.
OUTCOME_COLUMNS: tuple[Column, ...] = (
    Column("period", "Discharged in", "label"),
    Column("discharged", "Discharged", "count", show="identified"),
    Column("finished", "Finished treatment", "count"),
    Column("caseness_at_first", "At caseness at start", "count", part=True),
    Column("not_caseness_at_first", "Not at caseness at start", "count", show="never", part=True),
    Column("recovered", "Recovered", "count", show="identified"),
    Column("recovery_rate", "Recovery (%)", "pct", ("recovered", "caseness_at_first")),
    Column("reliable_improvement", "Reliably improved", "count", show="identified"),
    Column("improvement_rate", "Reliable improvement (%)", "pct", ("reliable_improvement", "finished")),
    Column("reliable_deterioration", "Reliably deteriorated", "count", show="identified"),
    Column("deterioration_rate", "Reliable deterioration (%)", "pct", ("reliable_deterioration", "finished")),
    Column("reliable_recovery", "Reliably recovered", "count", show="identified"),
    Column("reliable_recovery_rate", "Reliable recovery (%)", "pct", ("reliable_recovery", "caseness_at_first")),
)

ALERT_COUNT_COLUMNS: tuple[Column, ...] = (
    Column("group", "Group", "label"),
    Column("clients", "Clients", "count"),
    Column("rule_caseness", "At caseness, no reliable improvement", "count"),
    Column("rule_off_track", "Off track (expected course)", "count"),
    Column("rule_deterioration", "Reliable deterioration", "count"),
    Column("rule_risk", "PHQ-9 item 9 above 0", "count"),
)

ALERT_LIST_COLUMNS: tuple[Column, ...] = (
    Column("client_id", "Client", "label"),
    Column("review_link", "Client review", "text"),
    Column("reasons", "Why flagged", "text"),
    Column("group", "Group", "text"),
    Column("weeks_in_treatment", "Weeks in treatment", "text"),
    Column("recent_quantity", "Quantity, last 4 weeks (%)", "pct"),
    Column("latest_scores", "Latest scores", "text"),
    Column("clinic", "Clinic", "text"),
    Column("therapist_id", "Therapist", "text"),
    Column("program", "Programme", "text"),
)

FLAG_COLUMNS: tuple[Column, ...] = (
    Column("comparison", "Comparison", "label"),
    Column("unit", "Unit", "label"),
    Column("metric", "Metric", "text"),
    Column("n", "Clients (n)", "count"),
    Column("value", "Value (%)", "pct"),
    Column("centre", "Overall (%)", "pct"),
    Column("status", "Status", "text"),
)


def client_review_link(client_id: str) -> str:
    """Deep link to the client review page for one client (identified mode only):
    :func:`analytics.drill_down.client_review_href`."""
    return client_review_href(client_id)


def outcome_trend_state(table: PublishedTable | None) -> str:
    """What the outcomes-by-discharge chart can show: "none" (no client finished treatment in the
    period), "withheld" (recovery and reliable improvement withheld in every period) or "chart"."""
    if table is None:
        return "none"
    numeric = table.numeric
    total = numeric["finished"].iloc[-1]  # zero is never suppressed; a withheld total is NA
    if not pd.isna(total) and int(total) == 0:
        return "none"
    rows = numeric.iloc[:-1]
    if rows[["recovery_rate", "improvement_rate"]].isna().all().all():
        return "withheld"
    return "chart"


@dataclass(frozen=True)
class PeriodChoice:
    """The grouping of outcomes by discharge date, and why (shown on the page and in the pack)."""

    period: str  # one of OUTCOME_PERIODS
    automatic: bool
    reason: str


def _publish_outcomes(by_period: pd.DataFrame, policy: SuppressionPolicy | None, title: str = "",
                      note: str = "") -> PublishedTable:
    """The outcomes-by-discharge table as published: complementary suppression down the periods
    (to the All row) and across the finished-treatment partition (at caseness or not at the start)."""
    return publish_table("trends_outcomes", title, by_period, OUTCOME_COLUMNS, policy, total_label=ALL_LABEL,
                         total_column="finished", note=note)


def _rates_shown(table: PublishedTable) -> tuple[int, int]:
    """(periods showing a recovery or reliable-improvement rate, periods) of an outcomes table."""
    rows = table.numeric.iloc[:-1]
    return int(rows[["recovery_rate", "improvement_rate"]].notna().any(axis=1).sum()), len(rows)


def choose_outcome_period(outcomes: DischargeOutcomes, policy: SuppressionPolicy | None,
                          requested: str = AUTO_PERIOD) -> PeriodChoice:
    """The grouping of outcomes by discharge date (issue 15, item 2).

    ``requested`` "month", "quarter" or "12 months" is kept as asked. "auto": in the identified
    view, months (nothing is withheld); de-identified, the finest of month, quarter and 12 months
    in which at least half the periods (:data:`AUTO_PERIOD_SHARE`) show a recovery or
    reliable-improvement rate under the small-number rules; when none does, 12 months. Periods are
    never overlapping windows: two overlapping windows could be subtracted."""
    if requested != AUTO_PERIOD:
        if requested not in OUTCOME_PERIODS:
            raise ValueError(f"outcome_period must be {AUTO_PERIOD!r} or one of {OUTCOME_PERIODS}")
        return PeriodChoice(requested, False, f"Outcomes by discharge {requested}, as chosen.")
    if policy is None:
        return PeriodChoice("month", True, "Outcomes by discharge month (chosen automatically: nothing is withheld "
                            "in the identified view).")
    tried: list[str] = []
    chosen = None
    for grouping in OUTCOME_PERIODS:
        shown, periods = _rates_shown(_publish_outcomes(outcomes_by_discharge(outcomes, grouping), policy))
        unit = "period" if grouping == TWELVE_MONTHS else grouping
        tried.append(f"by {grouping}, {shown} of {periods} {unit}{'' if periods == 1 else 's'}")
        if periods and shown >= max(1, math.ceil(AUTO_PERIOD_SHARE * periods)):
            chosen = grouping
            break
    if chosen is None:
        return PeriodChoice(TWELVE_MONTHS, True, (
            f"Outcomes by discharge {TWELVE_MONTHS} (chosen automatically): no grouping shows a recovery or "
            f"reliable-improvement rate in most periods under the small-number rules ({'; '.join(tried)}). "
            "Too few clients finished treatment, or a rate would give a small count away."))
    if chosen == "month":
        return PeriodChoice(chosen, True, f"Outcomes by discharge month (chosen automatically: {tried[0]} show a "
                            "recovery or reliable-improvement rate).")
    return PeriodChoice(chosen, True, (
        f"Outcomes by discharge {chosen}, chosen automatically so that the rates clear the small-number rules: "
        f"periods showing a recovery or reliable-improvement rate {'; '.join(tried)}. Choose another grouping "
        "above to override."))


def outcome_gaps(table: PublishedTable | None, policy: SuppressionPolicy | None) -> list[str]:
    """Plain reasons why headline outcome rates of the whole period are withheld (de-identified)."""
    if table is None or policy is None or table.empty:
        return []
    total = table.numeric.iloc[-1]
    gaps = []
    if pd.isna(total["recovery_rate"]) and not pd.isna(total["finished"]) and pd.isna(total["caseness_at_first"]):
        gaps.append(
            "Recovery is withheld for the whole period: its denominator (finished clients at caseness at the start) "
            "is withheld so that a small count cannot be worked out; usually few finished clients were not at "
            f"caseness at the start (fewer than {policy.threshold}), and finished minus at caseness would give that "
            "number away. A longer period may show it."
        )
    return gaps


def _funnel_columns(unit_type: str, metric: str) -> tuple[Column, ...]:
    label, kind, numerator = FUNNEL_METRICS[metric]
    n_header, value_header = {
        "recovery": ("At caseness at start (n)", "Recovery (%)"),
        "reliable_improvement": ("Finished (n)", "Reliable improvement (%)"),
        "quantity": ("Quantity rated (n)", "Quantity (%)"),
        "coverage": ("With homework (n)", "Checklist coverage (%)"),
        "reviewed": ("With homework (n)", "Reviewed (%)"),
    }[metric]
    cols = [Column("unit", UNIT_SINGULAR[unit_type], "label"), Column("n", n_header, "count")]
    if numerator:
        cols.append(Column("numerator", numerator, "count", show="identified"))
        cols.append(Column("value", value_header, "pct", ("numerator", "n")))
    else:
        cols.append(Column("value", value_header, "pct", "n"))
    cols += [
        Column("lower_99_8", "Lower 99.8% limit (%)", "limit"),
        Column("lower_95", "Lower 95% limit (%)", "limit"),
        Column("upper_95", "Upper 95% limit (%)", "limit"),
        Column("upper_99_8", "Upper 99.8% limit (%)", "limit"),
        Column("status", "Status", "text"),
    ]
    return tuple(cols)


def _funnel_panel(
    unit_type: str,
    metric: str,
    units: pd.DataFrame,
    overall: dict[str, Any],
    policy: SuppressionPolicy | None,
    min_n: int,
    masks: dict[str, tuple[bool, bool]] | None = None,
) -> FunnelPanel:
    """Build one funnel panel from the raw unit table (unit, n, numerator for rates, value 0-1).

    In de-identified mode (``policy``) each row's n and value are withheld as ``masks`` says
    (unit label -> (n hidden, value hidden), from a joint suppression of related tables), or
    else as :func:`analytics.privacy.suppress_table` decides for this table alone (with the
    overall row as its total). Control limits are a function of n, so they and the status are
    withheld wherever n is.
    """
    label, kind, _ = FUNNEL_METRICS[metric]
    centre = overall.get("value")
    centre = None if centre is None or pd.isna(centre) else float(centre)
    sd = overall.get("sd")
    sd = None if sd is None or pd.isna(sd) else float(sd)
    units = units.sort_values("unit", key=lambda s: s.astype(str)).reset_index(drop=True)
    framed = funnel_frame(units, kind, centre=centre, sd=sd, min_n=min_n)
    all_row = {"unit": ALL_LABEL, "n": overall.get("n", 0), "value": centre, "status": ""}
    if kind == "rate":
        all_row["numerator"] = overall.get("numerator", 0)
    framed = pd.concat([framed, pd.DataFrame([all_row])], ignore_index=True)
    framed["n"] = framed["n"].astype("int64")
    columns = _funnel_columns(unit_type, metric)
    name = f"funnel_{unit_type}_{metric}"
    title = f"{label} by {UNIT_SINGULAR[unit_type].lower()}"
    table = publish_table(name, title, framed, columns, None, note=_funnel_note(kind))
    if policy is not None:
        if masks is None:
            rate_spec = ("numerator", "n") if kind == "rate" else "n"
            part = framed[["unit", "n", "value"] + (["numerator"] if kind == "rate" else [])]
            result = suppress_table(
                part, ["n"], policy, rate_columns={"value": rate_spec}, total_row=ALL_LABEL, group_columns=["unit"]
            )
            n_hidden = result.mask["n"].to_numpy(dtype=bool)
            value_hidden = result.mask["value"].to_numpy(dtype=bool)
        else:
            n_hidden = np.array([masks.get(u, (True, True))[0] for u in framed["unit"]], dtype=bool)
            value_hidden = np.array([masks.get(u, (True, True))[1] for u in framed["unit"]], dtype=bool)
        if kind == "rate":
            value_hidden = protect_rate_numerators(value_hidden, framed["numerator"], len(framed) - 1)
        table = _mask_funnel_table(table, columns, n_hidden, value_hidden, policy)
        if value_hidden[-1] or n_hidden[-1]:
            centre = None  # the overall value itself is withheld: no centre line
    curve = None
    if centre is not None and len(units):
        # Draw the limits a little past the largest unit that is shown (a withheld unit's n
        # must not show through the axis range).
        shown = pd.to_numeric(table.numeric["n"].iloc[:-1], errors="coerce").dropna()
        max_n = float(shown.max()) if len(shown) else float(policy.threshold * 3 if policy else units["n"].max())
        curve = funnel_curve(kind, centre, sd, max_n)
    return FunnelPanel(unit_type=unit_type, metric=metric, table=table, centre=centre, curve=curve)


def _mask_funnel_table(
    table: PublishedTable,
    columns: Sequence[Column],
    n_hidden: np.ndarray,
    value_hidden: np.ndarray,
    policy: SuppressionPolicy,
) -> PublishedTable:
    visible = tuple(c for c in columns if c.shown(True))
    headers = {c.key: c.header for c in columns}
    limit_keys = ["lower_99_8", "lower_95", "upper_95", "upper_99_8"]
    numeric = table.numeric.copy()
    display = table.display.copy()
    numeric["n"] = numeric["n"].astype("Int64")
    numeric["value"] = numeric["value"].astype("Float64")
    shown_n = [policy.round_count(int(v)) for v in table.numeric["n"]]
    numeric.loc[:, "n"] = pd.array(shown_n, dtype="Int64")
    display[headers["n"]] = pd.Series(shown_n, index=display.index, dtype="object")
    numeric.loc[n_hidden, "n"] = pd.NA
    numeric.loc[n_hidden, limit_keys] = np.nan
    numeric.loc[n_hidden, "status"] = STATUS_WITHHELD
    numeric.loc[value_hidden, "value"] = pd.NA
    # A withheld value gets no status, no limits and so no flag either: "Below 95% limit" with
    # the limits at a shown n would narrow the hidden rate down (issue 10, item 5).
    withheld = n_hidden | value_hidden
    numeric.loc[withheld, limit_keys] = np.nan
    numeric.loc[withheld, "status"] = STATUS_WITHHELD
    # A withheld n reads "<11" only when it is itself small; an n withheld to protect another
    # cell reads "suppressed" (issue 15, item 1: 47 and 37 read "<11").
    # (one column assignment: a row at a time took seconds for a national network's therapists)
    n_text = display[headers["n"]].to_numpy(dtype=object).copy()
    raw_n = table.numeric["n"].to_numpy()
    for i in np.flatnonzero(n_hidden):
        n_text[i] = policy.marker_text if policy.is_small(int(raw_n[i])) else WITHHELD_TEXT
    display[headers["n"]] = pd.Series(n_text, index=display.index, dtype="object")
    for key in limit_keys:
        display.loc[withheld, headers[key]] = None
    display.loc[withheld, headers["status"]] = STATUS_WITHHELD
    display.loc[value_hidden, headers["value"]] = RATE_WITHHELD
    last = len(display) - 1
    display.loc[last, headers["status"]] = None
    numeric.loc[last, "status"] = ""
    numeric = numeric[[c.key for c in visible]]
    display = display[[c.header for c in visible]]
    return PublishedTable(table.name, table.title, display, numeric, visible, table.note)


def outcome_masks(units: pd.DataFrame, overall: dict[str, int], policy: SuppressionPolicy) -> dict[str, dict]:
    """Joint suppression of one unit type's outcome counts (unit, finished, caseness_at_first,
    recovered, reliable_improvement): finished clients are a partition into at caseness and
    not at caseness at start, so the recovery n (at caseness) and the reliable-improvement n
    (finished) cannot give a small difference away. Returns per metric: unit -> (n hidden,
    value hidden), the overall row under ``ALL_LABEL``."""
    frame = units[["unit", "finished", "caseness_at_first", "recovered", "reliable_improvement"]].copy()
    total = {"unit": ALL_LABEL, **{k: overall.get(k, 0) for k in frame.columns if k != "unit"}}
    frame = pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
    frame["not_caseness_at_first"] = frame["finished"] - frame["caseness_at_first"]
    frame["recovery_rate"] = frame["recovered"] / frame["caseness_at_first"].where(frame["caseness_at_first"] > 0)
    frame["improvement_rate"] = frame["reliable_improvement"] / frame["finished"].where(frame["finished"] > 0)
    result = suppress_table(
        frame,
        ["caseness_at_first", "not_caseness_at_first"],
        policy,
        rate_columns={
            "recovery_rate": ("recovered", "caseness_at_first"),
            "improvement_rate": ("reliable_improvement", "finished"),
        },
        total_row=ALL_LABEL,
        total_column="finished",
        group_columns=["unit"],
    )
    mask = result.mask.copy()
    last = len(frame) - 1
    mask["recovery_rate"] = protect_rate_numerators(mask["recovery_rate"] | mask["caseness_at_first"],
                                                    frame["recovered"], last)
    mask["improvement_rate"] = protect_rate_numerators(mask["improvement_rate"] | mask["finished"],
                                                       frame["reliable_improvement"], last)
    # A missing rate (no denominator) is not "withheld"; the unit is left out of that funnel anyway.
    units_list = list(frame["unit"])
    n_case = mask["caseness_at_first"].to_numpy(dtype=bool)
    n_fin = mask["finished"].to_numpy(dtype=bool)
    rec = mask["recovery_rate"].to_numpy(dtype=bool)
    imp = mask["improvement_rate"].to_numpy(dtype=bool)
    return {
        "recovery": {u: (bool(a), bool(b)) for u, a, b in zip(units_list, n_case, rec, strict=True)},
        "reliable_improvement": {u: (bool(a), bool(b)) for u, a, b in zip(units_list, n_fin, imp, strict=True)},
    }


def _funnel_note(kind: str) -> str:
    if kind == "rate":
        return (
            "Control limits: exact binomial limits around the overall rate p at each n (the 2.5/97.5% and "
            "0.1/99.9% quantiles of Binomial(n, p), divided by n; Spiegelhalter 2005). Flagged: outside the 99.8% "
            "limits; outside the 95% limits only is a warning. Differences in case mix are not adjusted for."
        )
    return (
        "Control limits: overall mean -/+ z * SD / sqrt(n), with the client-level SD, z = 1.96 (95%) "
        "and 3.09 (99.8%) (Spiegelhalter 2005). Differences in case mix are not adjusted for."
    )


def flag_summary(panels: Sequence[FunnelPanel]) -> dict[str, Any]:
    """How many unit-metric comparisons were tested and how many flags chance alone would give.

    tests = units with a status against their limits (within or outside; not too few clients or
    withheld) over every panel; flags = outside the 99.8% limits; warnings = outside the 95% but
    not the 99.8% limits; expected_false_flags = tests x 0.002; expected_false_warnings =
    tests x (0.05 - 0.002) (the share of in-control units outside the 95% but inside the 99.8%
    limits).
    """
    statuses = pd.concat([p.table.numeric["status"].iloc[:-1] for p in panels]) if panels else pd.Series(dtype=str)
    tests = int(statuses.isin((STATUS_WITHIN, *OUTSIDE_STATUSES)).sum())
    return {
        "tests": tests,
        "flags": int(statuses.isin(FLAG_STATUSES).sum()),
        "warnings": int(statuses.isin(WARNING_STATUSES).sum()),
        "expected_false_flags": tests * FLAG_FALSE_RATE,
        "expected_false_warnings": tests * (WARNING_FALSE_RATE - FLAG_FALSE_RATE),
    }


def flag_note(summary: dict[str, Any]) -> str:
    """The sentence shown with the flag table: flags, warnings and what chance alone would give."""
    return (
        f"{summary['tests']} unit-metric comparisons were tested. Flagged: {summary['flags']} outside the 99.8% "
        f"limits; chance alone would flag about {summary['expected_false_flags']:.1f} ({summary['tests']} x 0.002). "
        f"Warnings (outside 95% only, not listed): {summary['warnings']}; chance alone gives about "
        f"{summary['expected_false_warnings']:.1f}. Case mix is not adjusted for: a flag is a question, not a verdict."
    )


def _flag_table(panels: Sequence[FunnelPanel], policy: SuppressionPolicy | None) -> PublishedTable:
    rows = []
    for panel in panels:
        units = panel.table.numeric.iloc[:-1]  # the last row is the overall row
        outside = units[units["status"].isin(FLAG_STATUSES)]
        for unit, n, value, status in zip(outside["unit"], outside["n"], outside["value"], outside["status"],
                                          strict=True):
            rows.append({
                "comparison": UNIT_LABELS[panel.unit_type],
                "unit": unit,
                "metric": panel.label,
                "n": None if pd.isna(n) else int(n),
                "value": None if pd.isna(value) else float(value),
                "centre": panel.centre,
                "status": status,
            })
    frame = pd.DataFrame(rows, columns=[c.key for c in FLAG_COLUMNS])
    order = {s: k for k, s in enumerate((STATUS_HIGH_998, STATUS_LOW_998, STATUS_HIGH_95, STATUS_LOW_95))}
    if len(frame):
        frame = frame.sort_values(
            ["status", "comparison", "metric", "unit"], key=lambda s: s.map(order) if s.name == "status" else s
        ).reset_index(drop=True)
    # Values come from already-suppressed tables: publish without a second suppression pass.
    table = publish_table("flagged_units", "Units outside the control limits", frame, FLAG_COLUMNS, None,
                          note=flag_note(flag_summary(panels)))
    if policy is not None and len(frame):
        display = table.display.copy()
        value_header = next(c.header for c in FLAG_COLUMNS if c.key == "value")
        n_header = next(c.header for c in FLAG_COLUMNS if c.key == "n")
        display[value_header] = [RATE_WITHHELD if pd.isna(v) else display.at[i, value_header]
                                 for i, v in enumerate(frame["value"])]
        display[n_header] = [WITHHELD_TEXT if pd.isna(v) else int(v) for v in frame["n"]]
        table = PublishedTable(table.name, table.title, display, table.numeric, table.columns, table.note)
    return table


# ----------------------------------------------------------------------------- the report


def describe_cohort(cohort: CohortFilter, *, deidentified: bool) -> str:
    """A one-line description of the cohort filters for report headers."""
    parts = []
    for label, values in (
        ("Clinics", cohort.clinics),
        ("Therapists", () if deidentified else cohort.therapists),
        ("Programmes", cohort.programs),
        ("Primary concerns", cohort.concerns),
        ("Homework types", cohort.homework_types),
        ("Measures", cohort.measures),
    ):
        if values:
            parts.append(f"{label}: {', '.join(values)}")
    if cohort.intake_from or cohort.intake_to:
        start = cohort.intake_from.isoformat() if cohort.intake_from else "any"
        end = cohort.intake_to.isoformat() if cohort.intake_to else "any"
        parts.append(f"Intake {start} to {end}")
    return "; ".join(parts) if parts else "All clients you may see"


def privacy_description(policy: SuppressionPolicy | None) -> str:
    if policy is None:
        return "Identified view: client identifiers and exact small numbers are shown. Do not share."
    return ("De-identified: no client identifiers or free text; therapists under pseudonyms. "
            + suppression_footnote(policy))


def paired_outcome_choice(settings: Settings) -> str:
    """The outcome choice for the NHS Talking Therapies paired definitions, e.g. "PHQ-9 + GAD-7, NHS paired"."""
    return f"{' + '.join(settings.paired_measures)}{NHS_PAIRED_SUFFIX}"


def outcome_choices(settings: Settings, available: Sequence[str]) -> list[str]:
    """The outcome choices of the report: the NHS paired definitions first (when both paired
    measures are scored), then each measure on its own (per measure)."""
    wanted = {measure_key(m) for m in settings.paired_measures}
    ranked = settings.ordered_measures(available)
    paired = [paired_outcome_choice(settings)] if wanted <= {measure_key(m) for m in available} else []
    return paired + ranked


def choose_measure(settings: Settings, available: Sequence[str], requested: str | None = None) -> str | None:
    """The outcome measure: ``requested`` if available, else the NHS paired definitions when both
    paired measures are scored, else the first configured one present."""
    if requested:
        wanted = measure_key(requested)
        for m in outcome_choices(settings, available):
            if measure_key(m) == wanted:
                return m
    choices = outcome_choices(settings, available)
    if choices and choices[0] == paired_outcome_choice(settings):
        return choices[0]
    ranked = settings.ordered_measures(available)
    return ranked[0] if ranked else None


def quality_report(
    db: ClinicDatabase,
    viewer: Viewer,
    cohort: CohortFilter | None = None,
    *,
    measure: str | None = None,
    months: int | None = 12,
    as_of: date | None = None,
    outcome_period: str = "month",
    deidentified: bool = True,
    settings: Settings | None = None,
) -> QualityReport:
    """The quality-improvement report of a cohort.

    Args:
        measure: outcome measure (default: the first configured measure with scores).
        months: complete calendar months reported up to ``as_of`` (None: since the first intake).
        as_of: report date; default the latest session or score date in the data (never today).
        outcome_period: "month" or "quarter" for the outcomes by discharge date.
        deidentified: de-identified mode. Always on when the viewer may not see identifiers.
    """
    settings = settings or active_settings()
    cohort = cohort or CohortFilter()
    deidentified = bool(deidentified or not viewer.can_see_identifiers)
    notes: list[str] = []
    if deidentified and (cohort.intake_from or cohort.intake_to):
        # Two reports whose intake bounds differ by a day (or a month) differ by those clients
        # only: "finished 69 -> 70" gave one client's outcome away (issue 10, item 4). The
        # report's own periods are whole calendar months.
        cohort = cohort.with_(intake_from=None, intake_to=None)
        notes.append("The intake-date filter does not apply in de-identified mode (two reports with nearby intake "
                     "dates could be subtracted); the report covers whole calendar months.")
    if deidentified and cohort.therapists:
        cohort = cohort.with_(therapists=())
        notes.append("The therapist filter does not apply in de-identified mode (it would link names to pseudonyms).")
    if outcome_period != AUTO_PERIOD and outcome_period not in OUTCOME_PERIODS:
        raise ValueError(f"outcome_period must be {AUTO_PERIOD!r} or one of {OUTCOME_PERIODS}")
    policy = suppression_policy(settings) if deidentified else None
    key, key_note = pseudonym_key(viewer) if deidentified else (None, None)
    dates = report_dates(db, viewer)
    if as_of is None:
        as_of = dates["as_of"]
    base = {
        "measure": None,
        "deidentified": deidentified,
        "outcome_period": outcome_period,
        "cohort_description": describe_cohort(cohort, deidentified=deidentified),
        "privacy_note": privacy_description(policy),
        "pseudonym_note": key_note,
        "not_on_track_weeks": settings.not_on_track_weeks,
        "min_clients": settings.min_clients_for_statistic,
        "suppression_threshold": policy.threshold if policy is not None else None,
        "suppression_note": suppression_footnote(policy) if policy is not None else "",
    }
    if as_of is None:
        return QualityReport(as_of=None, period_start=None, period_end=None, notes=tuple(notes), **base)
    period_start, period_end = report_period(as_of, months, dates["first_intake"])
    previous = previous_period(period_start, period_end, months)
    min_n = settings.min_clients_for_statistic

    available = _available_measures(db, viewer, cohort)
    chosen = choose_measure(settings, available, measure)
    therapists = cohort_therapists(db, viewer, cohort)
    compare_therapists = therapists <= MAX_COMPARED_THERAPISTS
    if not compare_therapists:
        base["therapist_note"] = (
            f"This cohort has {therapists:,} therapists: therapists are compared in cohorts of up to "
            f"{MAX_COMPARED_THERAPISTS:,}. Choose a clinic or a programme in the sidebar to compare its therapists."
        )
    by_therapist = {"therapists": compare_therapists}
    # The report's queries do not depend on each other: they run side by side (one DuckDB cursor
    # each, as the cohort report's; ClinicDatabase is thread-safe), then the tables are built.
    with ThreadPoolExecutor(max_workers=2) as pool:  # 2: measured best at XXL on 2 cores (3 no faster)
        activity_job = pool.submit(monthly_activity, db, viewer, cohort, period_start, period_end, settings)
        homework_job = pool.submit(unit_homework, db, viewer, cohort, period_start, period_end, settings,
                                   **by_therapist)
        counted_job = before_job = previous_homework_job = None
        if chosen is not None:
            counted_job = pool.submit(discharge_outcomes, db, viewer, cohort, chosen, period_start, period_end, settings,
                                      **by_therapist)
        if chosen is not None and previous is not None:
            before_job = pool.submit(discharge_outcomes, db, viewer, cohort, chosen, *previous, settings,
                                     **by_therapist)
        if previous is not None:
            previous_homework_job = pool.submit(unit_homework, db, viewer, cohort, *previous, settings,
                                                **by_therapist)
        method_job = pool.submit(alert_method, db, viewer, settings, as_of=as_of)
        alert_counts_job = pool.submit(alert_group_counts, db, viewer, cohort, as_of=as_of, settings=settings)

    # Monthly activity and homework.
    activity = activity_job.result()
    activity["month"] = pd.to_datetime(activity["month"]).dt.strftime("%Y-%m")
    trends_activity = publish_table(
        "trends_activity", "Monthly activity and homework", activity, ACTIVITY_COLUMNS, policy,
        note="Active clients: clients with at least one attended session in the month. Homework means: "
        "each client's mean over the month's assignments, then the mean over clients. Homework counts in the "
        "clients' treatment window (intake to discharge); homework set after discharge is shown apart as "
        "follow-up assignments. "
        + ("Unreviewed homework counts as not done." if settings.unreviewed_as_not_done
           else "Unreviewed homework is left out of quantity."),
    )

    # Outcomes: by discharge period and by unit.
    base["measure"] = chosen
    trends_outcomes = previous_outcomes = None
    if chosen is None and outcome_period == AUTO_PERIOD:
        base["outcome_period"] = outcome_period = "month"
    outcome_units: dict[str, pd.DataFrame] = {}
    overall_outcomes: dict[str, int] = {}
    if chosen is not None:
        counted = counted_job.result()
        choice = choose_outcome_period(counted, policy, outcome_period)
        base["outcome_period"] = outcome_period = choice.period
        base["period_choice"] = choice.reason
        by_period = outcomes_by_discharge(counted, outcome_period)
        if chosen == paired_outcome_choice(settings):
            outcome_note = (
                "NHS Talking Therapies paired definitions: finished treatment = discharged with at least two paired "
                f"{' + '.join(settings.paired_measures)} scores (and two attended sessions where sessions are on "
                "record); at caseness on either measure at the first paired score; recovered = at caseness at the "
                "start and on neither measure at the end; reliable improvement = one measure reliably improved and "
                "none reliably deteriorated (deterioration: the reverse). Recovery's denominator is finished clients "
                "at caseness at the start."
            )
            outcome_title = f"End-of-treatment outcomes ({chosen}) by discharge {outcome_period}"
        else:
            outcome_note = (
                "Per measure: finished treatment = discharged with a first and a later score on this measure alone. "
                "Recovery's denominator is finished clients at caseness at the first score. The NHS 50% recovery "
                "standard applies to the paired definitions, not to one measure."
            )
            outcome_title = f"End-of-treatment outcomes ({chosen}, per measure) by discharge {outcome_period}"
        trends_outcomes = _publish_outcomes(by_period, policy, outcome_title, outcome_note)
        base["outcome_gaps"] = tuple(outcome_gaps(trends_outcomes, policy))
        if before_job is not None:
            before = before_job.result()
            previous_outcomes = _publish_outcomes(outcomes_by_discharge(before, outcome_period), policy)
        overall_outcomes = dict(counted.total)
        for unit_type in UNIT_TYPES:
            outcome_units[unit_type] = unit_outcomes(counted, unit_type)

    # Homework means per unit.
    homework = homework_job.result()
    previous_homework = previous_homework_job.result() if previous_homework_job is not None else None
    overall_hw = homework[homework["unit_type"] == "all"]
    overall_hw = overall_hw.iloc[0] if len(overall_hw) else None

    # Pseudonyms for therapist units (de-identified mode).
    rename = None
    if deidentified:
        therapist_ids = set(homework.loc[homework["unit_type"] == "therapist", "unit"].dropna())
        if "therapist" in outcome_units:
            therapist_ids |= set(outcome_units["therapist"]["unit"].dropna())
        rename = {NOT_RECORDED: NOT_RECORDED,
                  **therapist_pseudonyms(db, (t for t in therapist_ids if t != NOT_RECORDED), key)}

    panels: list[FunnelPanel] = []
    for unit_type in UNIT_TYPES:
        if unit_type == "therapist" and not compare_therapists:
            continue
        if chosen is not None:
            units = outcome_units[unit_type].copy()
            if rename is not None and unit_type == "therapist":
                units["unit"] = units["unit"].map(lambda u: rename.get(u, u))
            masks = outcome_masks(units, overall_outcomes, policy) if policy is not None else {}
            rate_specs = (
                ("recovery", "caseness_at_first", "recovered", "recovery_rate"),
                ("reliable_improvement", "finished", "reliable_improvement", "improvement_rate"),
            )
            for metric, den, num, rate in rate_specs:
                table = pd.DataFrame({
                    "unit": units["unit"], "n": units[den], "numerator": units[num], "value": units[rate],
                })
                table = table[table["n"] > 0]
                overall = {
                    "n": overall_outcomes.get(den, 0),
                    "numerator": overall_outcomes.get(num, 0),
                    "value": (overall_outcomes[num] / overall_outcomes[den]) if overall_outcomes.get(den) else None,
                }
                panels.append(_funnel_panel(unit_type, metric, table, overall, policy, min_n, masks.get(metric)))
        hw = homework[homework["unit_type"] == unit_type].copy()
        if rename is not None and unit_type == "therapist":
            hw["unit"] = hw["unit"].map(lambda u: rename.get(u, u))
        for metric, n_col, mean_col, sd_col in (
            ("quantity", "clients_quantity", "mean_quantity", "sd_quantity"),
            ("coverage", "clients_with_homework", "mean_coverage", "sd_coverage"),
            ("reviewed", "clients_with_homework", "mean_reviewed_share", "sd_reviewed_share"),
        ):
            table = pd.DataFrame({"unit": hw["unit"], "n": hw[n_col], "value": hw[mean_col]})
            table = table[table["n"] > 0]
            overall = {
                "n": int(overall_hw[n_col]) if overall_hw is not None else 0,
                "value": overall_hw[mean_col] if overall_hw is not None else None,
                "sd": overall_hw[sd_col] if overall_hw is not None else None,
            }
            panels.append(_funnel_panel(unit_type, metric, table, overall, policy, min_n))
    flags = _flag_table(panels, policy)

    # Alerts.
    method = method_job.result()
    counts = alert_counts_job.result()
    alert_counts = publish_table(
        "alert_counts", "Clients in treatment not on track", counts, ALERT_COUNT_COLUMNS, policy,
        total_label=ALERT_ALL,
        note=f"{method} Rules: off track against the expected course, or (measures without one) at caseness without "
        f"reliable improvement after {settings.not_on_track_weeks} weeks; reliable deterioration; {RISK_MEASURE} item {RISK_ITEM} above 0 at the latest score. A client may meet several "
        f"rules. Groups: clients with {RISK_MEASURE} item {RISK_ITEM} above 0 form the risk group, listed first "
        f"whatever their homework; the others by quantity of the homework set in the last "
        f"{ALERT_HOMEWORK_WINDOW_WEEKS} weeks below {settings.compliance_band_edges[0]:.0%} (or none reviewed) "
        f"vs at or above it.",
    )
    alert_list = None
    if not deidentified:
        flagged = _alert_rows(db, viewer, cohort, as_of=as_of, settings=settings, flagged_only=True)
        flagged["_order"] = np.select(  # bool arrays: an empty frame has object columns
            [flagged["rule_risk"].astype(bool).to_numpy(), flagged["rule_deterioration"].astype(bool).to_numpy()],
            [0, 1], default=2,
        )
        flagged = flagged.sort_values(["_order", "weeks_in_treatment"], ascending=[True, False])
        flagged["weeks_in_treatment"] = flagged["weeks_in_treatment"].map(lambda w: f"{float(w):.0f}")
        flagged["review_link"] = flagged["client_id"].map(client_review_link)
        alert_list = publish_table(
            "alert_list", "Clients not on track (identified)", flagged, ALERT_LIST_COLUMNS, None,
            note="Identified list for supervision: do not share outside the care team.",
        )

    return QualityReport(
        as_of=as_of,
        period_start=period_start,
        period_end=period_end,
        trends_activity=trends_activity,
        trends_outcomes=trends_outcomes,
        funnels=tuple(panels),
        flags=flags,
        flag_summary=flag_summary(panels),
        alert_counts=alert_counts,
        alert_list=alert_list,
        notes=tuple(notes),
        alert_method=method,
        summary=period_summary(
            (period_start, period_end), previous, trends_outcomes, previous_outcomes,
            _overall_homework(homework), _overall_homework(previous_homework), policy,
            recovery_target=chosen == paired_outcome_choice(settings)),
        previous_start=previous[0] if previous else None,
        previous_end=previous[1] if previous else None,
        first_intake=dates["first_intake"],
        **base,
    )


def previous_period(period_start: date, period_end: date, months: int | None) -> tuple[date, date] | None:
    """The period of the same length just before the report's (None for "all months")."""
    if months is None:
        return None
    return _add_months(period_start.replace(day=1), -int(months)), period_start - timedelta(days=1)


def _overall_homework(homework: pd.DataFrame | None) -> dict[str, Any]:
    if homework is None:
        return {"clients_quantity": 0, "mean_quantity": np.nan}
    row = homework[homework["unit_type"] == "all"]
    if row.empty:
        return {"clients_quantity": 0, "mean_quantity": np.nan}
    return {"clients_quantity": int(row["clients_quantity"].iloc[0] or 0), "mean_quantity": row["mean_quantity"].iloc[0]}


SUMMARY_COLUMNS: tuple[Column, ...] = (
    Column("period", "Period", "label"),
    Column("months", "Months", "text"),
    Column("finished", "Finished treatment", "count"),
    Column("recovery_rate", "Recovery (%)", "pct"),
    Column("improvement_rate", "Reliable improvement (%)", "pct"),
    Column("deterioration_rate", "Reliable deterioration (%)", "pct"),
    Column("clients_quantity", "Clients with quantity rated", "count"),
    Column("mean_quantity", "Mean homework quantity (%)", "pct"),
)
THIS_PERIOD = "This period"
PREVIOUS_PERIOD = "Previous period"
TARGET_ROW = "Target"


def period_summary(
    current: tuple[date, date],
    previous: tuple[date, date] | None,
    outcomes: PublishedTable | None,
    previous_outcomes: PublishedTable | None,
    homework: dict[str, Any],
    previous_homework: dict[str, Any] | None,
    policy: SuppressionPolicy | None,
    *,
    recovery_target: bool = False,
) -> PublishedTable:
    """This period against the previous one of the same length (and the target): the answer to
    "are our outcomes improving?" that leads the page and the meeting pack (issue 15, items 3 and 13).

    Each period's outcome cells are the ``All`` row of its published outcomes table (the same cells,
    withheld by the same rules, as the trends table shows); homework quantity is each period's
    client-level mean with its n, published under ``policy``. The target row carries the NHS
    recovery standard (:data:`RECOVERY_STANDARD`) when the outcome is the NHS paired definition."""
    periods = [(THIS_PERIOD, current, outcomes, homework)]
    if previous is not None:
        periods.append((PREVIOUS_PERIOD, previous, previous_outcomes, previous_homework or {}))
    hw_cols = (Column("period", "Period", "label"), Column("clients_quantity", "n", "count"),
               Column("mean_quantity", "q", "pct", "clients_quantity"))
    hw_raw = pd.DataFrame([{"period": label, "clients_quantity": int(h.get("clients_quantity", 0) or 0),
                            "mean_quantity": h.get("mean_quantity", np.nan)} for label, _, _, h in periods])
    hw_raw["mean_quantity"] = pd.to_numeric(hw_raw["mean_quantity"], errors="coerce").astype(float)
    hw = publish_table("h", "h", hw_raw, hw_cols, policy)
    display_rows, numeric_rows = [], []
    for k, (label, (start, end), table, _) in enumerate(periods):
        shown: dict[str, Any] = {"Period": label, "Months": f"{start:%Y-%m} to {end:%Y-%m}"}
        numbers: dict[str, Any] = {"period": label, "months": shown["Months"]}
        for col in SUMMARY_COLUMNS[2:6]:
            if table is None or table.empty:
                shown[col.header], numbers[col.key] = None, np.nan
            else:
                shown[col.header] = table.display[col.header].iloc[-1]
                numbers[col.key] = table.numeric[col.key].iloc[-1]
        shown["Clients with quantity rated"] = hw.display["n"].iloc[k]
        shown["Mean homework quantity (%)"] = hw.display["q"].iloc[k]
        numbers["clients_quantity"] = hw.numeric["clients_quantity"].iloc[k]
        numbers["mean_quantity"] = hw.numeric["mean_quantity"].iloc[k]
        display_rows.append(shown)
        numeric_rows.append(numbers)
    if len(display_rows) == 2:
        # The previous period is new information beside the reports of other lengths: "last 24 months"
        # minus this period would give back any cell of this period that is withheld, so the previous
        # period's cell is withheld with it.
        for col in SUMMARY_COLUMNS[2:]:
            if isinstance(display_rows[0][col.header], str) and display_rows[1][col.header] is not None:
                display_rows[1][col.header] = WITHHELD_TEXT
                numeric_rows[1][col.key] = np.nan
    if recovery_target:
        display_rows.append({"Period": TARGET_ROW, "Months": "NHS standard", "Recovery (%)": RECOVERY_STANDARD * 100})
        numeric_rows.append({"period": TARGET_ROW, "months": "NHS standard", "recovery_rate": RECOVERY_STANDARD})
    display = pd.DataFrame(display_rows, columns=[c.header for c in SUMMARY_COLUMNS]).astype(object)
    display = display.where(display.notna(), None)
    numeric = pd.DataFrame(numeric_rows, columns=[c.key for c in SUMMARY_COLUMNS])
    for col in SUMMARY_COLUMNS[2:]:
        numeric[col.key] = pd.to_numeric(numeric[col.key], errors="coerce").astype("Float64")
    note = ("Each period's outcomes are those of clients discharged in it (the All row of its outcomes table); "
            "homework quantity is the mean over clients with quantity rated in the period.")
    if recovery_target:
        note += " Target: the NHS national recovery standard of 50% (NHS Talking Therapies)."
    return PublishedTable("period_summary", "This period against the previous period", display, numeric,
                          SUMMARY_COLUMNS, note=note)


@dataclass(frozen=True)
class Kpi:
    """One headline number of the period: its text, the change from the previous period, the target."""

    label: str
    value: str
    delta: str | None  # e.g. "+2.1 pp" (None when either period's value is withheld or missing)
    previous: str  # the previous period's text ("" without one)
    target: str | None  # e.g. "NHS standard 50%: 3.7 pp above"
    higher_is_better: bool
    help: str


def period_kpis(report: QualityReport) -> list[Kpi]:
    """The period's KPIs for the page's st.metric row and the pack's summary page."""
    summary = report.summary
    if summary is None or summary.empty:
        return []
    text = summary.as_text().set_index("Period")
    numeric = summary.numeric.set_index("period")
    has_previous = PREVIOUS_PERIOD in numeric.index
    out = []
    for key, label, better, help_text in (
        ("finished", "Finished treatment", True, "Clients discharged in the period with a first and a later score."),
        ("recovery_rate", "Recovery", True, "Of finished clients at caseness at the start: no longer at caseness."),
        ("improvement_rate", "Reliable improvement", True, "Of finished clients."),
        ("deterioration_rate", "Reliable deterioration", False, "Of finished clients (lower is better)."),
        ("mean_quantity", "Mean homework quantity", True, "Mean over clients with quantity rated in the period."),
    ):
        header = next(c.header for c in summary.columns if c.key == key)
        rate = key != "finished"

        def shown(row: str, header: str = header, rate: bool = rate) -> str:
            value = str(text.at[row, header]) if row in text.index else ""
            return f"{value}%" if rate and value and value[0].isdigit() else value

        current = numeric.at[THIS_PERIOD, key]
        before = numeric.at[PREVIOUS_PERIOD, key] if has_previous else pd.NA
        delta = None
        if not pd.isna(current) and not pd.isna(before):
            delta = f"{(float(current) - float(before)) * 100:+.1f} pp" if rate else f"{int(current) - int(before):+,}"
        target = None
        if key == "recovery_rate" and TARGET_ROW in numeric.index:
            goal = float(numeric.at[TARGET_ROW, key])
            if pd.isna(current):
                target = f"NHS standard {goal:.0%}"
            else:
                gap = (float(current) - goal) * 100
                target = f"NHS standard {goal:.0%}: {abs(gap):.1f} pp {'above' if gap >= 0 else 'below'}"
        out.append(Kpi(label=label, value=shown(THIS_PERIOD) or "none", delta=delta,
                       previous=shown(PREVIOUS_PERIOD) if has_previous else "", target=target,
                       higher_is_better=better, help=help_text))
    return out


def previous_period_text(report: QualityReport) -> str:
    """The previous period in words, with a warning when the data begin inside it (its numbers then cover
    fewer months than this period's, so a change against it is mostly the data's start)."""
    if report.previous_start is None or report.previous_end is None:
        return "no previous period (all months)"
    text = f"{report.previous_start:%Y-%m} to {report.previous_end:%Y-%m}"
    if report.first_intake is not None and report.first_intake > report.previous_start:
        if report.first_intake > report.previous_end:
            return text + ": before the first intake, no data"
        text += f": the data begin in {report.first_intake:%Y-%m}, so it covers fewer months than this period"
    return text


def sharing_status(report: QualityReport) -> str:
    """Whether the report's outputs may be sent round, in one sentence (the page and the pack say the same).

    De-identified outputs are safe to send round within the organisation only when the therapist
    pseudonyms are keyed with the deployment's secret: with the public development key anyone with
    the source code can link a pseudonym back to a therapist."""
    if not report.deidentified:
        return "Identified: contains client identifiers; for supervision within the care team only."
    if report.pseudonym_note:
        return ("De-identified, but NOT safe to send round: therapist pseudonyms use the public development key, "
                f"so anyone can link them back to therapists. Set {PSEUDONYM_KEY_ENV_VAR} for this deployment first.")
    return "De-identified: safe to send round within the organisation."


def funnel_gap(panel: FunnelPanel, report: QualityReport) -> str:
    """Why a comparison leaves units out, in plain words (the page's notice and the pack's caption; "" when
    every unit is plotted).

    Counts the units left out because they have fewer than ``min_n`` clients (status "Too few
    clients") and because their n or value is withheld under the small-number rules."""
    min_n, threshold = report.min_clients, report.suppression_threshold
    units = panel.table.numeric.iloc[:-1]
    withheld = units["n"].isna() | units["value"].isna() | (units["status"] == STATUS_WITHHELD)
    too_few = ~withheld & (units["status"] == STATUS_TOO_FEW)
    kind = UNIT_LABELS[panel.unit_type].lower()
    parts = []
    if int(too_few.sum()):
        parts.append(f"{int(too_few.sum())} have fewer than {min_n} clients")
    if int(withheld.sum()):
        rule = f" (fewer than {threshold} clients, or a small count would follow)" if threshold else ""
        parts.append(f"{int(withheld.sum())} are withheld under the small-number rules{rule}")
    months = (f"{report.period_start:%Y-%m} to {report.period_end:%Y-%m}" if report.period_start and report.period_end
              else "this period")
    reason = "; ".join(parts) if parts else "none has a value"
    left_out = int((too_few | withheld).sum())
    longer = "A longer period (Period: Last 24 months or All months) gives each more clients."
    if left_out == len(units):
        return (f"No {UNIT_SINGULAR[panel.unit_type].lower()} can be compared on {panel.label.lower()} in "
                f"{months}: of {len(units)} {kind}, {reason}. {longer}")
    if not left_out:
        return ""
    return f"{left_out} of {len(units)} {kind} not plotted: {reason}. {longer}"


def _available_measures(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter) -> list[str]:
    from ..data.model import filter_options

    measures = filter_options(db, viewer).get("measure", [])
    if cohort.measures:
        wanted = {measure_key(m) for m in cohort.measures}
        measures = [m for m in measures if measure_key(m) in wanted]
    return list(measures)


__all__ = [
    "ALERT_ALL",
    "ALERT_GROUP_DONE",
    "ALERT_GROUP_LITTLE",
    "ALERT_GROUP_NONE",
    "ALERT_GROUP_RISK",
    "AUTO_PERIOD",
    "Column",
    "DischargeOutcomes",
    "FUNNEL_METRICS",
    "FunnelPanel",
    "Kpi",
    "MAX_COMPARED_THERAPISTS",
    "OUTCOME_PERIODS",
    "PERIOD_CHOICES",
    "PeriodChoice",
    "PublishedTable",
    "QualityReport",
    "RECOVERY_STANDARD",
    "UNIT_LABELS",
    "UNIT_TYPES",
    "alert_clients",
    "alert_group_counts",
    "alert_method",
    "alert_rule_params",
    "choose_measure",
    "choose_outcome_period",
    "client_review_link",
    "cohort_therapists",
    "describe_cohort",
    "discharge_outcomes",
    "funnel_curve",
    "funnel_frame",
    "funnel_gap",
    "funnel_status",
    "monthly_activity",
    "outcome_choices",
    "outcome_gaps",
    "outcome_masks",
    "outcome_trend_state",
    "outcomes_by_discharge",
    "paired_outcome_choice",
    "period_kpis",
    "period_summary",
    "previous_period",
    "previous_period_text",
    "privacy_description",
    "protect_rate_numerators",
    "pseudonym_key",
    "publish_table",
    "quality_report",
    "report_dates",
    "report_period",
    "sharing_status",
    "suppression_policy",
    "therapist_pseudonym",
    "therapist_pseudonyms",
    "therapists_in_deployment",
    "unit_homework",
    "unit_outcomes",
]
