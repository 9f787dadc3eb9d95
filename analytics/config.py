"""Clinical constants and configurable settings.

Every default here comes from ``docs/clinical-reference.md`` (the project's clinical
reference); the section is named beside each constant. A clinic whose policy differs can
override any of them with a TOML settings file (see :func:`load_settings`).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class SeverityBand:
    """A named severity band: scores from ``lower`` (inclusive) up to the next band."""

    lower: int
    label: str


@dataclass(frozen=True)
class MeasureDefinition:
    """One symptom measure: its score range, bands, caseness, reliable change and direction.

    Lower is better on every measure we ship (clinical-reference.md, "Symptom measures");
    a measure added through the settings file may be higher-is-better (``direction =
    "higher"``, e.g. a wellbeing scale). Every outcome definition reads the direction:
    improvement, reliable change, caseness (``>=`` the threshold when lower is better, ``<=``
    when higher is better), recovery, chart shading and alerts (docs/metrics.md).
    """

    name: str
    description: str
    min_score: int
    max_score: int
    item_count: int
    item_min: int
    item_max: int
    bands: tuple[SeverityBand, ...]
    caseness_threshold: int  # at caseness when score >= this (lower is better) or <= this (higher is better)
    reliable_change: int  # points of change that count as reliable
    aliases: tuple[str, ...] = ()
    loinc_total: str | None = None
    direction: str = "lower"  # which scores are better: "lower" (PHQ-9, GAD-7, CORE-10) or "higher"

    def __post_init__(self) -> None:
        if self.direction not in MEASURE_DIRECTIONS:
            raise ValueError(
                f"measure {self.name!r}: direction {self.direction!r} is not one of "
                f"{', '.join(repr(d) for d in MEASURE_DIRECTIONS)} (which scores are better)"
            )

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"

    @property
    def improvement_sign(self) -> int:
        """+1 when higher is better, -1 when lower is better: improvement = sign * (last - first)."""
        return 1 if self.higher_is_better else -1

    def improvement(self, first: float | None, last: float | None) -> float | None:
        """Points of improvement from ``first`` to ``last`` (positive = better, whatever the direction)."""
        if first is None or last is None:
            return None
        return self.improvement_sign * (last - first)

    @property
    def key(self) -> str:
        return measure_key(self.name)

    def band_for(self, score: float | None) -> str | None:
        """Severity band label of a total score, or None when no score."""
        if score is None:
            return None
        label = None
        for band in self.bands:
            if score >= band.lower:
                label = band.label
        return label

    def at_caseness(self, score: float | None) -> bool | None:
        """At caseness: score >= threshold when lower is better, score <= threshold when higher is better."""
        if score is None:
            return None
        return score <= self.caseness_threshold if self.higher_is_better else score >= self.caseness_threshold

    @property
    def caseness_text(self) -> str:
        """The caseness rule in words, e.g. "caseness ≥ 10" or "caseness ≤ 40"."""
        return f"caseness {'≤' if self.higher_is_better else '≥'} {self.caseness_threshold}"

    @property
    def better_text(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"


MEASURE_DIRECTIONS: tuple[str, ...] = ("lower", "higher")


def measure_key(name: str) -> str:
    """Normalise a measure name for matching: ``phq9``, ``PHQ 9``, ``Phq-9`` -> ``PHQ9``."""
    return re.sub(r"[^A-Z0-9]", "", str(name).upper())


# clinical-reference.md, "Symptom measures (defaults)": Kroenke 2001, Spitzer 2006,
# NHS Talking Therapies manual, Barkham 2013.
PHQ9 = MeasureDefinition(
    name="PHQ-9",
    description="Patient Health Questionnaire (depression)",
    min_score=0, max_score=27, item_count=9, item_min=0, item_max=3,
    bands=(SeverityBand(0, "minimal"), SeverityBand(5, "mild"), SeverityBand(10, "moderate"),
           SeverityBand(15, "moderately severe"), SeverityBand(20, "severe")),
    caseness_threshold=10, reliable_change=6,
    loinc_total="44261-6",
)
GAD7 = MeasureDefinition(
    name="GAD-7",
    description="Generalised Anxiety Disorder scale (anxiety)",
    min_score=0, max_score=21, item_count=7, item_min=0, item_max=3,
    bands=(SeverityBand(0, "minimal"), SeverityBand(5, "mild"),
           SeverityBand(10, "moderate"), SeverityBand(15, "severe")),
    caseness_threshold=8, reliable_change=4,  # caseness 8: NHS Talking Therapies; 10 in the original paper
    loinc_total="70274-6",
)
CORE10 = MeasureDefinition(
    name="CORE-10",
    description="Clinical Outcomes in Routine Evaluation (psychological distress)",
    min_score=0, max_score=40, item_count=10, item_min=0, item_max=4,
    bands=(SeverityBand(0, "healthy/low"), SeverityBand(11, "mild"), SeverityBand(15, "moderate"),
           SeverityBand(20, "moderately severe"), SeverityBand(25, "severe")),
    caseness_threshold=11, reliable_change=6,
)

DEFAULT_MEASURES: tuple[MeasureDefinition, ...] = (PHQ9, GAD7, CORE10)

HOMEWORK_TYPES: tuple[str, ...] = (
    "thought_record",
    "behavioural_activation",
    "exposure",
    "relaxation",
    "diary_card",
    "journal",
    "skills_practice",
    "reading",
    "other",
)
# Other spellings of a homework type, after lower-casing and turning spaces and hyphens into
# underscores (US spelling from US record systems).
HOMEWORK_TYPE_SPELLINGS: dict[str, str] = {"behavioral_activation": "behavioural_activation"}
RATERS: tuple[str, ...] = ("therapist", "client", "both")

# The assignment-design checklist (clinical-reference.md, "Assignment design"; Conklin 2018).
DESIGN_CHECKLIST: tuple[str, ...] = (
    "goal_linked",
    "rationale_given",
    "rehearsed_in_session",
    "practice_scheduled",
    "obstacles_planned",
)
DESIGN_CHECKLIST_LABELS: dict[str, str] = {
    "goal_linked": "Linked to a treatment goal",
    "rationale_given": "Rationale explained",
    "rehearsed_in_session": "Rehearsed in session",
    "practice_scheduled": "Practice scheduled",
    "obstacles_planned": "Obstacles planned for",
}

# Rating scales: quantity and quality are rated 0-4 (clinical-reference.md, "Homework compliance").
RATING_MAX = 4

# Small-number suppression styles (``Settings.suppression_style``; analytics.privacy.policy_for_style):
# "cms" (US CMS cell-size policy, threshold configurable) and "nhs_england" (NHS England's
# publication rounding of NHS Talking Therapies figures). clinical-reference.md, "Privacy norms".
SUPPRESSION_STYLES: tuple[str, ...] = ("cms", "nhs_england")


@dataclass(frozen=True)
class Settings:
    """Everything a clinic may configure. ``Settings()`` gives the documented defaults."""

    measures: tuple[MeasureDefinition, ...] = DEFAULT_MEASURES
    # Sign-in: refuse a token whose email_verified claim is not true (docs/security.md). Set
    # require_email_verified = false only for an identity provider that never sends the claim.
    require_email_verified: bool = True
    # Compliance bands for cohort views: quantity < 50 %, 50-79 %, >= 80 %.
    compliance_band_edges: tuple[float, float] = (0.5, 0.8)
    # Baseline window (docs/metrics.md, "Baseline and treatment window"): a client's first score is
    # their earliest score on or after intake_date minus this many days; earlier (screening) scores
    # are never a baseline. 0 = the first score on or after the intake date.
    baseline_days_before_intake: int = 0
    # NHS Talking Therapies paired outcomes (docs/metrics.md): the depression and the anxiety measure.
    paired_measures: tuple[str, str] = ("PHQ-9", "GAD-7")
    # Alerts: still at caseness without reliable improvement after this many weeks.
    not_on_track_weeks: int = 6
    # Small-number suppression style of every de-identified table and export (docs/security.md,
    # "De-identified views"): "cms" (default) suppresses counts 1 to suppression_threshold - 1 and rounds
    # shown counts to suppression_round_to when set; "nhs_england" is NHS England's publication
    # rounding of NHS Talking Therapies figures (counts under 5, 0 included, suppressed; the rest
    # rounded to the nearest 5), with its own threshold and rounding (leave the two below unset).
    suppression_style: str = "cms"
    # Small-number suppression threshold (CMS: counts 1-10 suppressed).
    suppression_threshold: int = 11
    # Round every shown count to this multiple (NHS Digital style: threshold 8, round to 5); none by default.
    suppression_round_to: int | None = None
    # Minimum clients before a statistic is shown instead of "too few clients". The one rule for
    # every statistic (dashboard, exports and CLI): see :meth:`minimum_n`.
    min_clients_for_statistic: int = 5
    # A client gets a compliance band (and a quantity x quality cell) only with at least this many
    # reviewed assignments; fewer is too little to classify (docs/metrics.md, "Compliance band").
    min_reviewed_for_band: int = 3
    # Reading of unreviewed homework in the client quantity: False (default) leaves unreviewed
    # assignments out; True counts them as not done (quantity fraction 0). docs/metrics.md.
    unreviewed_as_not_done: bool = False
    # Upload limit for the Data page, in megabytes.
    max_upload_mb: int = 200
    # Import rules and limits (docs/import-format.md, "Dates" and "Limits").
    # The clinic's time zone (IANA name): a timezone-aware timestamp in a Parquet file is
    # imported as the date it falls on here.
    clinic_timezone: str = "Europe/London"
    # No imported date may lie before this (year 0001, Excel's 1899 epoch are typing errors).
    earliest_plausible_date: date = date(1990, 1, 1)
    # A score may lie at most this many days before the client's intake (screening at
    # referral); assignments never lie before intake.
    screening_window_days: int = 90
    # .xlsx limits, checked before rows are read: rows per sheet (blank rows count) and the
    # workbook's total uncompressed size. Larger exports: CSV or Parquet.
    max_xlsx_rows: int = 100_000
    max_xlsx_uncompressed_mb: int = 100
    # DuckDB's memory limit while an import runs (MiB): a larger export spills to a temporary
    # folder beside the database instead of growing the process (a 1M-client export, ~4.4 GB of
    # CSV, imports within ~4 GB of resident memory; docs/benchmarks.md).
    import_memory_mb: int = 2048
    # Caseload (docs/metrics.md, "Caseload"): a measure the client has been scored on is overdue
    # with no score of it in the last this-many weeks; a client has had no recent contact with no
    # attended session in the last this-many days. Local defaults (no published source): measures
    # every 4 weeks at least; 21 days = two missed weekly sessions.
    measure_overdue_weeks: int = 4
    no_contact_days: int = 21
    # Data freshness: every page says "data as of" the latest session or score loaded, and warns
    # when that date is more than this many days before the day the page is opened (the clinic's
    # exports are due weekly; two weeks = one missed export). Local default, no published source.
    stale_data_days: int = 14

    def __post_init__(self) -> None:
        if self.suppression_style not in SUPPRESSION_STYLES:
            raise ValueError(
                f"suppression_style {self.suppression_style!r} is not one of "
                f"{', '.join(repr(s) for s in SUPPRESSION_STYLES)}"
            )
        if self.suppression_style != "cms" and (self.suppression_threshold != 11 or self.suppression_round_to is not None):
            raise ValueError(
                f"suppression_style {self.suppression_style!r} has its own threshold and rounding: "
                "leave suppression_threshold and suppression_round_to unset"
            )

    def measure(self, name: str) -> MeasureDefinition | None:
        key = measure_key(name)
        for m in self.measures:
            if m.key == key or key in {measure_key(a) for a in m.aliases}:
                return m
        return None

    def minimum_n(self, own_minimum: int = 1) -> int:
        """The minimum n for a statistic: ``min_clients_for_statistic`` or the statistic's own
        minimum (a Fisher-z interval needs 4 pairs), whichever is larger."""
        return max(int(self.min_clients_for_statistic), int(own_minimum))

    @property
    def measure_names(self) -> list[str]:
        return [m.name for m in self.measures]

    def ordered_measures(self, names: Iterable[str]) -> list[str]:
        """``names`` (distinct) in the configured order of the measures, then any others by name:
        the one order of measures on every page, table and export."""
        order = {m: k for k, m in enumerate(self.measure_names)}
        return sorted(set(names), key=lambda m: (order.get(m, len(order)), m))

    def measure_definitions(self, names: Iterable[str] | None = None) -> list[dict[str, object]]:
        """The configured measures (or those of ``names``) as the SQL outcome macros take them
        (analytics/sql/outcome_macros.sql, parameter ``measure_definitions``): name, improvement
        sign, direction, reliable change and caseness threshold."""
        wanted = None if names is None else set(names)
        return [
            {"name": m.name, "improvement_sign": m.improvement_sign, "higher_is_better": m.higher_is_better,
             "reliable_change": float(m.reliable_change), "caseness_threshold": float(m.caseness_threshold)}
            for m in self.measures if wanted is None or m.name in wanted
        ]

    def paired_measure_definitions(self) -> tuple[dict[str, object], dict[str, object]] | None:
        """:meth:`measure_definitions` of the paired measures (depression, anxiety) in the order of
        ``paired_measures``, or None when either is not a configured measure."""
        found = {d["name"]: d for d in self.measure_definitions()}
        definitions = [found.get(m.name) for m in map(self.measure, self.paired_measures) if m is not None]
        return (definitions[0], definitions[1]) if len(definitions) == 2 and all(definitions) else None

    @property
    def max_item_count(self) -> int:
        return max(m.item_count for m in self.measures)


def active_settings() -> Settings:
    """The deployment's settings: the TOML file named by BETWEEN_SESSIONS_CONFIG, else defaults."""
    return _settings_from(os.environ.get("BETWEEN_SESSIONS_CONFIG") or None)


@lru_cache(maxsize=4)
def _settings_from(path: str | None) -> Settings:
    return load_settings(path)


def load_settings(path: str | Path | None = None) -> Settings:
    """Read a TOML settings file; missing keys keep their defaults.

    ``[measures."PHQ-9"] caseness_threshold = 10`` overrides one field of a shipped measure;
    a new table under ``[measures.NAME]`` with every field defines a new measure.
    """
    settings = Settings()
    if path is None:
        return settings
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    measures = {m.name: m for m in settings.measures}
    for name, spec in (data.get("measures") or {}).items():
        spec = dict(spec)
        bands = spec.pop("bands", None)
        if bands is not None:
            spec["bands"] = tuple(SeverityBand(int(b[0]), str(b[1])) for b in bands)
        if "aliases" in spec:
            spec["aliases"] = tuple(spec["aliases"])
        existing = settings.measure(name)
        if existing is not None:
            measures[existing.name] = replace(existing, **spec)
        else:
            measures[name] = MeasureDefinition(name=name, **spec)
    top = {k: v for k, v in data.items() if k != "measures"}
    if "paired_measures" in top:
        top["paired_measures"] = tuple(top["paired_measures"])
    if isinstance(top.get("earliest_plausible_date"), str):
        top["earliest_plausible_date"] = date.fromisoformat(top["earliest_plausible_date"])
    if "compliance_band_edges" in top:
        top["compliance_band_edges"] = tuple(top["compliance_band_edges"])
    return replace(settings, measures=tuple(measures.values()), **top)
