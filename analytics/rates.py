"""Rates and intervals that need only the standard library: the NHS Talking Therapies paired
rates (exact fractions, NHS England's rounding) and the Fisher-z interval of a correlation.

Pandas-free so that ``python -m analytics summary`` runs on DuckDB and the standard library
alone (analytics.summary); analytics.metrics and analytics.statistics use the same functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from statistics import NormalDist

#: Two-sided 95% normal critical value, the 97.5th percentile of the standard normal: 1.959964.
Z_95: float = NormalDist().inv_cdf(0.975)


def fisher_interval(r: float, se: float, z_crit: float = Z_95) -> tuple[float, float]:
    """Fisher-z interval of a correlation: tanh(atanh(r) -/+ z * se) (Fisher 1921); the
    degenerate (r, r) when |r| == 1."""
    if abs(r) >= 1.0:
        sign = math.copysign(1.0, r)
        return (sign, sign)
    z = math.atanh(r)
    return (math.tanh(z - z_crit * se), math.tanh(z + z_crit * se))


def pearson_interval(r: float | None, n: int, min_n: int) -> tuple[float | None, float | None, float | None]:
    """(r, ci_low, ci_high) of a Pearson r over ``n`` complete pairs: r is None below ``min_n``
    pairs or when it is undefined (a variable without spread: None or NaN); the 95% Fisher-z
    interval with SE = 1 / sqrt(n - 3) needs n >= 4. r is clipped to [-1, 1]."""
    if r is None or n < min_n or math.isnan(r):
        return None, None, None
    r = min(1.0, max(-1.0, float(r)))
    if n < 4:
        return r, None, None
    low, high = fisher_interval(r, 1.0 / math.sqrt(n - 3))
    return r, low, high


@dataclass(frozen=True)
class Rate:
    """A rate as a count over a denominator (both whole numbers), kept exact.

    ``value`` is the fraction (None when the denominator is 0); :meth:`percent` rounds the
    exact percentage as NHS England publishes it (halves away from zero).
    """

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    def percent(self, decimals: int) -> Decimal | None:
        """100 * numerator / denominator, rounded to ``decimals`` places (half up), computed
        exactly (no floating point: 1/8 is 12.5 and rounds to 13, never 12)."""
        if not self.denominator:
            return None
        scaled = abs(Fraction(100 * self.numerator * 10**decimals, self.denominator))
        rounded = math.floor(scaled + Fraction(1, 2))
        sign = -1 if self.numerator * self.denominator < 0 else 1
        return Decimal(sign * rounded).scaleb(-decimals)


#: The NHS Talking Therapies paired rates: name -> (numerator count, denominator).
NHS_PAIRED_RATES = {
    "recovery_rate": ("recovered", "recovery_denominator"),
    "reliable_recovery_rate": ("reliable_recovery", "recovery_denominator"),
    "reliable_improvement_rate": ("reliable_improvement", "finished"),
    "reliable_deterioration_rate": ("reliable_deterioration", "finished"),
}


def nhs_paired_rates(
    finished: int | None,
    not_caseness_at_start: int | None,
    recovered: int | None = None,
    reliable_recovery: int | None = None,
    reliable_improvement: int | None = None,
    reliable_deterioration: int | None = None,
) -> dict[str, Rate | None]:
    """The NHS Talking Therapies paired rates from their counts: the product's one definition.

    NHS England's published measure definitions (annual report, measures ``Percentage_Recovery``,
    ``Percentage_ReliableRecovery``, ``Percentage_Improvement``, ``Percentage_Deterioration``):
    - finished = referrals that finished a course of treatment (at least two attended treatment
      appointments);
    - recovery rate = recovered / (finished - not at caseness at the start);
    - reliable recovery rate = reliable recovery / (finished - not at caseness at the start);
    - reliable improvement rate = reliable improvement / finished;
    - reliable deterioration rate = reliable deterioration / finished.
    A rate is None when one of its counts is None (not known, e.g. suppressed in a publication).
    Used by :func:`paired_summary` on the clinic's clients and by the reproduction of NHS
    England's published national figures (``analytics.nhs_talking_therapies``).
    """
    counts = {
        "finished": finished,
        "recovery_denominator": None if finished is None or not_caseness_at_start is None
        else finished - not_caseness_at_start,
        "recovered": recovered,
        "reliable_recovery": reliable_recovery,
        "reliable_improvement": reliable_improvement,
        "reliable_deterioration": reliable_deterioration,
    }
    out: dict[str, Rate | None] = {}
    for name, (numerator, denominator) in NHS_PAIRED_RATES.items():
        n, d = counts[numerator], counts[denominator]
        out[name] = None if n is None or d is None else Rate(int(n), int(d))
    return out
