"""NHS Talking Therapies published figures, recomputed with the product's rate definitions.

NHS England publishes the annual NHS Talking Therapies measures as open data (Open Government
Licence v3.0); the R package ``nhstt`` (github.com/bennettoxford/nhstt) republishes them in one
long table, ``data-raw/measures_annual.parquet``: one row per reporting period, organisation
(England, Commissioning Region, ICB, STP, CCG, Provider), breakdown (``variable_type``,
``variable_a``, ``variable_b``), measure and statistic (``count`` or ``percentage``); ``value``
is text, ``"*"`` marks a suppressed value and ``"NULL"`` one not published for that breakdown.

:func:`compare_published` recomputes every published percentage of recovery, reliable
recovery, reliable improvement and reliable deterioration from the published counts with
:func:`analytics.metrics.nhs_paired_rates` (the product's one definition), rounded as NHS
England publishes them:

- England: counts exact, percentages to 1 decimal place;
- every other level: counts under 5 suppressed ("*"), other counts rounded to the nearest 5,
  percentages to whole numbers, computed by NHS England from the unrounded counts.

So the England rows must agree exactly. Below England the counts are rounded, so a recomputed
percentage can differ from the published one; a row is then *consistent* when the published
percentage is reachable from counts within the rounding (each true count within 2 of the
published one, never under 5). A row is compared only when the percentage and every count it
needs are published (not suppressed). docs/metrics.md, "Reproducing NHS Talking Therapies
national figures".
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from .metrics import NHS_PAIRED_RATES, Rate, nhs_paired_rates

#: One published group of figures: a period, an organisation and a breakdown.
KEY = ("reporting_period", "org_type", "org_code", "variable_type", "variable_a", "variable_b")

#: Published count measures -> the argument of :func:`nhs_paired_rates` they give.
COUNTS = {
    "finished_course_treatment": "finished",
    "not_at_caseness": "not_caseness_at_start",
    "recovery": "recovered",
    "reliable_recovery": "reliable_recovery",
    "improvement": "reliable_improvement",
    "deterioration": "reliable_deterioration",
}

#: Published percentage measures -> the product's rate.
RATES = {
    "recovery": "recovery_rate",
    "reliable_recovery": "reliable_recovery_rate",
    "improvement": "reliable_improvement_rate",
    "deterioration": "reliable_deterioration_rate",
}

SUPPRESSED = "*"
#: How the republished table writes a value that is not published for that breakdown.
NOT_PUBLISHED = "NULL"
#: Publication rounding below England: counts to the nearest 5 (NHS England's rule).
COUNT_ROUNDING = 5
#: Smallest count published below England (counts under 5 are suppressed).
SMALLEST_PUBLISHED = 5
NATIONAL = "England"

_ARGUMENT_MEASURE = {argument: measure for measure, argument in COUNTS.items()}


def published_decimals(org_type: str) -> int:
    """Decimal places of NHS England's published percentages: 1 for England, 0 below."""
    return 1 if org_type == NATIONAL else 0


def read_published(path: str | Path) -> pd.DataFrame:
    """The published figures needed, one row per :data:`KEY` (duplicate rows dropped), with a
    ``<measure>_count`` column per count and a ``<measure>_percentage`` column per rate, as
    published (text; ``"*"`` suppressed; missing when not published)."""
    wanted = sorted(set(COUNTS) | set(RATES))
    table = pq.read_table(
        path, columns=[*KEY, "measure_name", "measure_statistic", "value"],
        filters=[("measure_name", "in", wanted), ("measure_statistic", "in", ["count", "percentage"])],
    )
    long = table.to_pandas().astype("object").drop_duplicates()
    long["column"] = long["measure_name"] + "_" + long["measure_statistic"]
    index = [*KEY, "column"]
    doubled = long.duplicated(index, keep=False)
    if doubled.any():
        raise ValueError(f"{int(doubled.sum())} published values disagree with another value of the same figure")
    keys = long[list(KEY)].fillna("")  # variable_a / variable_b are missing for totals
    wide = long.assign(**keys).set_index(index)["value"].unstack("column").reset_index()
    for column in [f"{m}_count" for m in COUNTS] + [f"{m}_percentage" for m in RATES]:
        if column not in wide:
            wide[column] = None
    return wide


def _published(text: object) -> bool:
    """False for a value not published for the breakdown (missing or ``"NULL"``)."""
    return not (text is None or (isinstance(text, float) and pd.isna(text)) or text == NOT_PUBLISHED)


def _count(text: object) -> int | None:
    if not _published(text) or text == SUPPRESSED:
        return None
    return int(str(text))


def _rate_bounds(rate: str, counts: dict[str, int]) -> tuple[Fraction, Fraction]:
    """Smallest and largest value of ``rate`` over the true counts that round to the published
    ones (each within 2 of its published value, and never under 5)."""
    def low(measure: str) -> int:
        return max(counts[measure] - COUNT_ROUNDING // 2, SMALLEST_PUBLISHED)

    def high(measure: str) -> int:
        return counts[measure] + COUNT_ROUNDING // 2

    numerator = _ARGUMENT_MEASURE[NHS_PAIRED_RATES[rate][0]]
    if NHS_PAIRED_RATES[rate][1] == "recovery_denominator":
        d_low = low("finished_course_treatment") - high("not_at_caseness")
        d_high = high("finished_course_treatment") - low("not_at_caseness")
    else:
        d_low, d_high = low("finished_course_treatment"), high("finished_course_treatment")
    d_low = max(d_low, 1)
    if d_high < 1:
        return Fraction(0), Fraction(0)
    return Fraction(low(numerator), d_high), min(Fraction(high(numerator), d_low), Fraction(1))


def compare_published(wide: pd.DataFrame) -> pd.DataFrame:
    """One row per published percentage (:data:`KEY`, ``measure``): the published text, whether
    it was compared (it and every count it needs published), the percentage recomputed with
    :func:`nhs_paired_rates` and rounded as published, ``equal`` (recomputed == published) and
    ``consistent`` (equal, or reachable within the rounding of the counts below England)."""
    rows = []
    for record in wide.to_dict("records"):
        counts = {m: _count(record.get(f"{m}_count")) for m in COUNTS}
        rates = nhs_paired_rates(**{COUNTS[m]: counts[m] for m in COUNTS})
        decimals = published_decimals(record["org_type"])
        for measure, rate_name in RATES.items():
            published = record.get(f"{measure}_percentage")
            if not _published(published):
                continue
            rate: Rate | None = rates[rate_name]  # None when a count it needs is suppressed
            compared = published != SUPPRESSED and rate is not None and rate.denominator > 0
            recomputed = rate.percent(decimals) if compared else None
            equal = compared and recomputed == Decimal(str(published))
            consistent = equal
            if compared and not equal and record["org_type"] != NATIONAL:
                lo, hi = _rate_bounds(rate_name, counts)
                half = Fraction(1, 2 * 10**decimals)
                shown = Fraction(Decimal(str(published)))
                consistent = lo * 100 <= shown + half and shown - half <= hi * 100
            rows.append({
                **{k: record[k] for k in KEY}, "measure": measure, "published": published,
                "suppressed": published == SUPPRESSED or rate is None,
                "compared": compared, "recomputed": None if recomputed is None else str(recomputed),
                "equal": equal, "consistent": consistent,
            })
    return pd.DataFrame(rows, columns=[*KEY, "measure", "published", "suppressed", "compared", "recomputed",
                                       "equal", "consistent"])


GEOGRAPHY_ORDER = ("England", "Commissioning Region", "ICB", "STP", "CCG", "Provider")


def comparison_table(compared: pd.DataFrame) -> pd.DataFrame:
    """Rows compared and rows equal by geography level and breakdown (totals or breakdowns),
    with an "All" row: published percentages, suppressed (a count or the percentage), compared,
    equal, consistent within the count rounding, and neither."""
    frame = compared.assign(breakdown=compared["variable_type"].where(compared["variable_type"] == "Total",
                                                                       "Breakdowns"))
    grouped = frame.groupby(["org_type", "breakdown"], sort=False).agg(
        published=("measure", "size"), suppressed=("suppressed", "sum"), compared=("compared", "sum"),
        equal=("equal", "sum"), consistent=("consistent", "sum"),
    ).reset_index()
    order = {g: k for k, g in enumerate(GEOGRAPHY_ORDER)}
    grouped = grouped.sort_values(["org_type", "breakdown"], key=lambda s: s.map(order).fillna(len(order))
                                  if s.name == "org_type" else s.map({"Total": 0, "Breakdowns": 1}))
    total = grouped[["published", "suppressed", "compared", "equal", "consistent"]].sum()
    grouped = pd.concat([grouped, pd.DataFrame([{"org_type": "All", "breakdown": "", **total.to_dict()}])],
                        ignore_index=True)
    grouped["inconsistent"] = grouped["compared"] - grouped["consistent"]
    return grouped.astype({c: int for c in ("published", "suppressed", "compared", "equal", "consistent",
                                            "inconsistent")})
