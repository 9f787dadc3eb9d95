"""Privacy helpers for aggregate views and exports.

Everything here is pure Python + pandas (no Streamlit, no DuckDB), so pages, exports and
tests can share it. The norms come from ``docs/clinical-reference.md``, section
"Privacy norms for aggregate reporting":

* **Small cells.** US CMS policy suppresses counts 1-10 (shows 0 and >= 11) and forbids
  values that let a suppressed count be worked out (percentages, totals minus the rest).
  NHS Digital outputs suppress 1-7 and round the rest to the nearest 5. NHS England's
  publication of NHS Talking Therapies figures suppresses counts under 5 (0 included) and
  rounds the rest to the nearest 5. The default threshold is 11 and it is configurable
  (:class:`SuppressionPolicy`; the deployment picks one with ``suppression_style``).
* **Rates.** A rate whose denominator is below the threshold is not shown.
* **Pseudonyms.** Pseudonymised data are still personal data (GDPR recital 26): a
  pseudonym is a keyed hash (:func:`pseudonym`), and the key is a secret
  (:func:`load_pseudonym_key`).
* **Free text** (assignment descriptions, notes) is never shown in aggregate views or
  de-identified exports (:func:`drop_free_text`).

Exports additionally neutralise spreadsheet formulas (OWASP "CSV injection"):
:func:`neutralise_cell`, :func:`neutralise_frame`, :func:`to_safe_csv`.

Main entry points::

    policy = SuppressionPolicy.cms()                 # or .nhs_england(), .nhs_digital(), SuppressionPolicy(threshold=6)
    suppress_count(7, policy)                        # -> None (suppressed)
    format_count(7, policy)                          # -> "<11"
    result = suppress_table(df, ["n_clients"], policy, total_row="All")
    result.display                                   # safe to show: "<11" in small cells, "suppressed" in others
    result.mask                                      # True where a value was withheld
    suppression_footnote(policy)                     # the footnote that explains both texts
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import math
import os
import warnings
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import SUPPRESSION_STYLES

__all__ = [
    "DEFAULT_POLICY",
    "DEV_PSEUDONYM_KEY",
    "POLICY_STYLES",
    "FORMULA_TRIGGERS",
    "PSEUDONYM_KEY_ENV_VAR",
    "REASON_COMPLEMENTARY",
    "REASON_DENOMINATOR_SUPPRESSED",
    "REASON_NUMERATOR_DERIVABLE",
    "REASON_SMALL_COUNT",
    "REASON_SMALL_DENOMINATOR",
    "REASON_TABLE_WITHHELD",
    "MissingPseudonymKeyError",
    "PseudonymCollisionError",
    "SUPPRESSION_STYLES",
    "WITHHELD_TEXT",
    "SuppressedTable",
    "SuppressionPolicy",
    "distinct_pseudonyms",
    "drop_free_text",
    "drop_identifiers",
    "format_count",
    "load_pseudonym_key",
    "neutralise_cell",
    "neutralise_frame",
    "policy_for_style",
    "pseudonym",
    "pseudonym_length",
    "pseudonymise_column",
    "suppress_count",
    "suppress_table",
    "suppressed_text",
    "suppression_footnote",
    "to_safe_csv",
]


# --------------------------------------------------------------------------------------
# Suppression policy
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuppressionPolicy:
    """How small counts are withheld from aggregate views.

    Attributes:
        threshold: Smallest count that may be shown. Counts ``1 .. threshold - 1`` are
            suppressed; ``0`` is always shown (a zero reveals no individual, and hiding it
            would make every empty cell look like a small one). Default 11 (US CMS:
            suppress 1-10). ``threshold=1`` suppresses nothing.
        round_to: If set, every count that is shown is rounded to the nearest multiple
            (halves round up), e.g. 5 for NHS Digital style. Totals are computed from the
            unrounded data and then rounded, so a rounded total need not equal the sum of
            the rounded cells. Must be small enough that no shown count rounds to 0
            (``threshold >= ceil(round_to / 2)``).
        marker: Text shown instead of a suppressed value. ``None`` means
            ``f"<{threshold}"`` (see :attr:`marker_text`).
        suppress_zero: Also suppress 0 (counts ``0 .. threshold - 1`` withheld), as NHS
            England's publication of NHS Talking Therapies figures does: a published "*"
            then cannot be read as "none". Default False (zeros shown).

    Source: docs/clinical-reference.md, "Privacy norms for aggregate reporting"
    (CMS: suppress 1-10, show 0 and >= 11; NHS Digital: suppress 1-7, round the rest to
    the nearest 5; NHS England, NHS Talking Therapies publications: suppress counts under 5,
    round the rest to the nearest 5; default threshold 11, configurable).
    """

    threshold: int = 11
    round_to: int | None = None
    marker: str | None = None
    suppress_zero: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, Integral):
            raise TypeError(f"threshold must be an int, got {self.threshold!r}")
        if self.threshold < 1:
            raise ValueError(f"threshold must be >= 1, got {self.threshold}")
        if self.round_to is not None:
            if isinstance(self.round_to, bool) or not isinstance(self.round_to, Integral):
                raise TypeError(f"round_to must be an int or None, got {self.round_to!r}")
            if self.round_to < 1:
                raise ValueError(f"round_to must be >= 1, got {self.round_to}")
            if self.threshold < -(-self.round_to // 2):
                raise ValueError(
                    f"round_to={self.round_to} would round shown counts of {self.threshold} "
                    "down to 0; raise the threshold or lower round_to"
                )
        if self.marker is not None and (not isinstance(self.marker, str) or not self.marker):
            raise ValueError("marker must be a non-empty string or None")

    @classmethod
    def cms(cls) -> SuppressionPolicy:
        """US CMS cell-size policy: suppress 1-10, show 0 and >= 11, no rounding."""
        return cls(threshold=11)

    @classmethod
    def nhs_digital(cls) -> SuppressionPolicy:
        """NHS Digital outputs (clinical-reference.md): suppress 1-7, round every shown count
        to the nearest 5. Not NHS England's NHS Talking Therapies rule (:meth:`nhs_england`)."""
        return cls(threshold=8, round_to=5)

    @classmethod
    def nhs(cls) -> SuppressionPolicy:
        """The same as :meth:`nhs_digital` (suppress 1-7, round to 5); kept for existing callers."""
        return cls.nhs_digital()

    @classmethod
    def nhs_england(cls) -> SuppressionPolicy:
        """NHS England's publication rounding of NHS Talking Therapies figures: counts under 5
        (0 included) suppressed, every other count rounded to the nearest 5 (what its
        sub-national open data show: a figure that is 0 for England is "*" for every
        organisation, tests/test_nhs_talking_therapies.py)."""
        return cls(threshold=5, round_to=5, suppress_zero=True)

    @property
    def marker_text(self) -> str:
        """The text displayed for a suppressed value (``marker`` or ``"<threshold"``)."""
        return self.marker if self.marker is not None else f"<{self.threshold}"

    @property
    def small_counts(self) -> str:
        """The suppressed counts in words, e.g. "from 1 to 10" or "from 0 to 4"."""
        return f"from {0 if self.suppress_zero else 1} to {self.threshold - 1}"

    @property
    def style(self) -> str | None:
        """The name of a published rule this policy is, for footnotes; None for another rule."""
        return POLICY_STYLES.get((self.threshold, self.round_to, self.suppress_zero))

    @property
    def description(self) -> str:
        """One sentence for footnotes: the style's name and its rule."""
        rounding = f", other counts rounded to the nearest {self.round_to}" if self.round_to else ""
        name = f"{self.style}: " if self.style else ""
        return f"{name}counts {self.small_counts} suppressed{rounding}."

    def is_small(self, n: int) -> bool:
        """True when a count ``n`` must be suppressed (``0 < n < threshold``; with
        ``suppress_zero``, ``0 <= n < threshold``)."""
        return (0 <= n if self.suppress_zero else 0 < n) and n < self.threshold

    def round_count(self, n: int) -> int:
        """Round a count that is going to be shown (no-op without ``round_to``)."""
        if self.round_to is None or self.round_to == 1:
            return n
        step = self.round_to
        return ((n + step // 2) // step) * step


#: The published rules by (threshold, round_to, suppress_zero): the names footnotes give them.
POLICY_STYLES = {
    (11, None, False): "CMS cell-size policy",
    (8, 5, False): "NHS Digital small-number rule",
    (5, 5, True): "NHS England publication rounding",
}

def policy_for_style(style: str, threshold: int = 11, round_to: int | None = None) -> SuppressionPolicy:
    """The deployment's policy: ``"cms"`` (counts 1 .. threshold - 1 suppressed, shown counts
    rounded to ``round_to`` when set; the CMS rule with the defaults) or ``"nhs_england"``
    (:meth:`SuppressionPolicy.nhs_england`; it has its own threshold and rounding)."""
    if style == "cms":
        return SuppressionPolicy(threshold=int(threshold), round_to=round_to)
    if style == "nhs_england":
        return SuppressionPolicy.nhs_england()
    raise ValueError(f"suppression_style {style!r} is not one of {', '.join(repr(s) for s in SUPPRESSION_STYLES)}")


def settings_policy(settings: Any) -> SuppressionPolicy:
    """The policy a deployment's settings name (``suppression_style``, ``suppression_threshold``,
    ``suppression_round_to``): the one place settings become a :class:`SuppressionPolicy`."""
    return policy_for_style(settings.suppression_style, int(settings.suppression_threshold),
                            getattr(settings, "suppression_round_to", None))


DEFAULT_POLICY = SuppressionPolicy()
"""The default policy: CMS, threshold 11, no rounding."""


def _to_count(value: Any, where: str = "count") -> int | None:
    """Validate a count: a non-negative whole number, or ``None`` when missing."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: expected a count, got boolean {value!r}")
    if isinstance(value, Integral):
        n = int(value)
    elif isinstance(value, Real):
        f = float(value)
        if math.isnan(f):
            return None
        if not f.is_integer():
            raise ValueError(f"{where}: a count must be a whole number, got {value!r}")
        n = int(f)
    else:
        raise TypeError(f"{where}: expected a count, got {type(value).__name__} {value!r}")
    if n < 0:
        raise ValueError(f"{where}: a count cannot be negative, got {n}")
    return n


def suppress_count(n: int, policy: SuppressionPolicy = DEFAULT_POLICY) -> int | None:
    """Return the count to show, or ``None`` when it must be suppressed.

    ``0`` is returned as ``0`` (unless the policy has ``suppress_zero``); ``1 .. threshold - 1``
    give ``None``; larger counts are returned, rounded when the policy rounds.

    >>> suppress_count(10), suppress_count(11), suppress_count(0)
    (None, 11, 0)
    >>> suppress_count(13, SuppressionPolicy.nhs())
    15
    """
    count = _to_count(n)
    if count is None:
        raise ValueError("suppress_count needs a count, got a missing value")
    if policy.is_small(count):
        return None
    return policy.round_count(count)


def format_count(n: int, policy: SuppressionPolicy = DEFAULT_POLICY) -> str:
    """The display text for a single count: the marker (e.g. ``"<11"``) or the number, with a
    thousands separator like every count in a published table ("13,066")."""
    shown = suppress_count(n, policy)
    return policy.marker_text if shown is None else f"{shown:,}"


# --------------------------------------------------------------------------------------
# Table suppression
# --------------------------------------------------------------------------------------

REASON_SMALL_COUNT = "small count"
"""Primary suppression: the count is in ``1 .. threshold - 1`` (or 0 under ``suppress_zero``)."""
REASON_COMPLEMENTARY = "complementary"
"""Secondary suppression: shown, it would let a suppressed count be worked out from a total."""
REASON_SMALL_DENOMINATOR = "small denominator"
"""A rate whose denominator is below the threshold (or missing)."""
REASON_DENOMINATOR_SUPPRESSED = "denominator suppressed"
"""A rate whose denominator cell is suppressed (the rate would give it back)."""
REASON_NUMERATOR_DERIVABLE = "numerator derivable"
"""A rate that would reveal a small or suppressed numerator (or numerator complement)."""
REASON_TABLE_WITHHELD = "table withheld"
"""Every count of the table is withheld, zeros included: every non-zero count was already hidden and
the zeros left on show, with the totals' equations and the small-count bounds, would still give a
small count away (e.g. two clients in the whole table). Nothing is left to hide in its place."""

WITHHELD_TEXT = "suppressed"
"""The text of a cell withheld for any reason other than being a small count itself: a count hidden
so that a small count cannot be worked out from a total (complementary suppression; it may be
large), a rate or statistic with a small or hidden n. Only a small count reads as the policy's
marker ("<11"): a cell that hides 47 must never read "<11" (issue 15, item 1)."""


def suppressed_text(reason: str, policy: SuppressionPolicy = DEFAULT_POLICY) -> str:
    """The text shown in a withheld cell, by why it was withheld (a ``REASON_*`` constant):
    the policy's marker (``"<11"``) for a small count, :data:`WITHHELD_TEXT` for anything else."""
    return policy.marker_text if reason == REASON_SMALL_COUNT else WITHHELD_TEXT


def suppression_footnote(policy: SuppressionPolicy = DEFAULT_POLICY, minimum: int | None = None) -> str:
    """The footnote of every de-identified table: what the two texts of a withheld cell mean.

    The same words on the pages, in the meeting pack and in the CSV read-me. ``minimum``: the
    fewest clients a rate or mean needs (default the threshold)."""
    rounding = f" Shown counts are rounded to the nearest {policy.round_to}." if policy.round_to else ""
    style = f" Suppression style: {policy.style}." if policy.style else ""
    return (
        f"Counts {policy.small_counts} are shown as \"{policy.marker_text}\" (small counts). Counts withheld so "
        f"that a small count cannot be worked out from the totals (they may be {policy.threshold} or more), and "
        f"rates and means over fewer than {minimum or policy.threshold} clients or that would reveal a small "
        f"count, are shown as \"{WITHHELD_TEXT}\". A table too small for any of its counts to be shown safely is "
        f"withheld whole (zeros included).{rounding}{style}"
    )


_Cell = tuple[int, Hashable]  # (row position, column label)
_GROUND = ("ground",)  # graph node standing for "no equation" (see _BridgeWatch)


@dataclass(frozen=True)
class SuppressedTable:
    """The result of :func:`suppress_table`. All frames share index and columns.

    Attributes:
        display: What may be shown. Count and rate columns have object dtype: a shown
            count is a Python ``int`` (rounded if the policy rounds), a shown rate keeps
            its value, a suppressed cell holds ``policy.marker_text`` when it is a small
            count and :data:`WITHHELD_TEXT` otherwise (:func:`suppressed_text`), a missing
            value is ``None``. Other columns are copied unchanged. Use :meth:`as_text` for an
            all-string version (e.g. for Arrow / ``st.dataframe``).
        mask: ``True`` where a value was withheld (bool dtype, ``False`` in other columns).
        reasons: Why each cell was withheld (``""`` where shown), one of the ``REASON_*``
            constants. Code that asks "is this cell withheld" reads ``mask`` or ``reasons``,
            never compares display text with a marker.
        numeric: Like ``display`` but numeric (``Int64`` counts, ``Float64`` rates) with
            ``<NA>`` in suppressed cells: for charts and sorting.
        policy: The policy applied.
        count_columns: Every column treated as a count (including a total column and the
            numerator / denominator columns of rates).
        rate_columns: The rate columns.
        total_row: Row position of the total row, if there is one.
        total_column: Label of the total column, if there is one.
    """

    display: pd.DataFrame
    mask: pd.DataFrame
    reasons: pd.DataFrame
    numeric: pd.DataFrame
    policy: SuppressionPolicy
    count_columns: tuple[Hashable, ...]
    rate_columns: tuple[Hashable, ...]
    total_row: int | None = None
    total_column: Hashable | None = None

    @property
    def withheld(self) -> bool:
        """``True`` when the whole table is withheld (:data:`REASON_TABLE_WITHHELD`): every count
        reads :data:`WITHHELD_TEXT`, zeros included; say so instead of drawing it."""
        return bool(self.reasons.eq(REASON_TABLE_WITHHELD).to_numpy().any())

    @property
    def n_suppressed(self) -> int:
        """Number of withheld cells."""
        return int(self.mask.to_numpy().sum())

    def as_text(self, count_format: str = "{:,}", rate_format: str = "{:.1%}") -> pd.DataFrame:
        """``display`` with count and rate cells as strings (missing -> ``""``).

        ``rate_format`` is applied to shown rates with :meth:`str.format`; use e.g.
        ``"{:.0f}%"`` for rates already expressed in percent.
        """
        out = self.display.copy()
        for col, fmt in [(c, count_format) for c in self.count_columns] + [(c, rate_format) for c in self.rate_columns]:
            out[col] = pd.Series(
                [_format_cell(v, fmt) for v in self.display[col]],
                index=out.index,
                dtype="str",
            )
        return out


def _format_cell(value: Any, fmt: str) -> str:
    if isinstance(value, str):  # the marker
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return fmt.format(value)


def _normalise_rates(
    rate_columns: Mapping[Hashable, Hashable | tuple[Hashable, Hashable]] | None,
) -> dict[Hashable, tuple[Hashable | None, Hashable]]:
    """rate column -> (numerator column or None, denominator column)."""
    rates: dict[Hashable, tuple[Hashable | None, Hashable]] = {}
    for rate, spec in (rate_columns or {}).items():
        if isinstance(spec, tuple):
            if len(spec) != 2:
                raise ValueError(f"rate {rate!r}: expected (numerator, denominator), got {spec!r}")
            rates[rate] = (spec[0], spec[1])
        else:
            rates[rate] = (None, spec)
    return rates


def _resolve_label(flag: bool | str, margins: bool, margins_name: str) -> str | None:
    if isinstance(flag, str):
        return flag
    if flag or margins:
        return margins_name
    return None


def suppress_table(
    df: pd.DataFrame,
    count_columns: Sequence[Hashable],
    policy: SuppressionPolicy = DEFAULT_POLICY,
    *,
    rate_columns: Mapping[Hashable, Hashable | tuple[Hashable, Hashable]] | None = None,
    total_row: bool | str = False,
    total_column: bool | str = False,
    margins: bool = False,
    margins_name: str = "Total",
    group_columns: Sequence[Hashable] | None = None,
    complementary: bool = True,
) -> SuppressedTable:
    """Return a display-safe copy of an aggregate table (the input is not modified).

    Steps:

    1. **Primary suppression**: every count in ``1 .. threshold - 1`` is withheld (and 0
       under ``suppress_zero``). Zeros are never chosen for complementary suppression.
    2. **Complementary suppression** (``complementary=True``, the default) wherever a
       total is shown. Two kinds of totals are understood, one level deep:

       * a *total row* (e.g. the "All clinics" row under a list of clinics): each count
         column's other rows add up to it;
       * a *total column* (a cross-tab's row margin): the other ``count_columns`` add up
         to it in every row.

       A single suppressed cell in such a row or column would equal the total minus the
       shown cells, so the next-smallest non-zero shown cell of that row/column is
       suppressed too (if there is none, the total is), repeated until every row/column
       with a suppressed cell has ``0`` or ``>= 2`` suppressed cells, or a suppressed
       total. That rule alone can still leave a cell that follows from *combining*
       rows and columns (a suppressed cell that links two otherwise separate groups of
       suppressed cells), so the result is then audited: no suppressed cell may be
       determined by the table's linear equations (totals and visible cells); if one
       is, the smallest shown cell that closes the gap is suppressed as well, and both
       steps repeat until the table passes. This protects against exact recovery, not
       against narrowing a hidden value to an interval.

       For the common "list of units plus an overall row" case this means: if exactly
       one unit is suppressed, the next-smallest unit is suppressed too. The sum of the
       suppressed cells of a line with a shown total (the total minus the shown cells)
       must not be a small count either: if it is, another cell is suppressed.

       Complementary cells read :data:`WITHHELD_TEXT` ("suppressed"), never the small-count
       marker: a cell that hides 47 must not read "<11" (issue 15, item 1). Readers can then
       tell which hidden cells are small (1 .. threshold - 1) and which are not (threshold or
       more), and those bounds narrow what the totals leave open; so the audit also solves
       the table as a linear programme with those bounds (:func:`_determined_by_bounds`) and
       suppresses another cell while any small cell is still pinned to one value (e.g. two
       small cells of a line that add up to 20 are both 10). Put
       :func:`suppression_footnote` next to the table. Complementary suppression also runs
       when the policy rounds (conservative: the audit uses the unrounded counts).
    3. **Rates**: a rate is withheld when its denominator is below the threshold or
       missing, when its denominator cell is suppressed, and - when the numerator is
       known - when the numerator or ``denominator - numerator`` is in
       ``1 .. threshold - 1`` or the numerator cell is suppressed. Without a numerator
       column a rate times its shown denominator can reveal a small numerator, so pass
       ``(numerator, denominator)`` whenever you can. Missing rates stay missing. Rates
       are not rounded: round them for display yourself.
    4. **Rounding** (``policy.round_to``) of every shown count; appended totals are
       computed from the unrounded data, then rounded.

    Args:
        df: One row per unit (or cross-tab row). Counts must be non-negative whole
            numbers (ints, or floats with integral values as DuckDB sums can give);
            missing counts stay missing and count as 0 in totals.
        count_columns: The count columns. Numerator / denominator columns named in
            ``rate_columns`` and an existing total column are added automatically (so
            they cannot leak unsuppressed), but are not treated as parts of a total column.
        policy: The suppression policy (default :data:`DEFAULT_POLICY`, CMS threshold 11).
        rate_columns: ``{rate_column: denominator_column}`` or
            ``{rate_column: (numerator_column, denominator_column)}``.
        total_row: ``False``: no total row is shown. A label (e.g. ``"All"``): the row
            whose first group column equals it is the total row; if no row has that
            label, one is appended with column sums (its rates are ``NA``). ``True``:
            the same with the label ``margins_name``. Pass it whenever the overall total
            is displayed anywhere next to the table (e.g. a KPI tile), not only in it.
        total_column: Like ``total_row`` for a column that holds each row's total of the
            other ``count_columns``: an existing column label, a new label to append, or
            ``True`` for ``margins_name``. Only use it when the count columns really are
            parts of one whole (a cross-tab), not different measures.
        margins: Shorthand for ``total_row=True, total_column=True`` (like
            :func:`pandas.pivot_table`'s ``margins``); explicit labels win.
        margins_name: Label for appended totals.
        group_columns: The label columns; the total row is looked up in the first one.
            Default: every column that is not a count or rate column. If there are none,
            the index holds the labels.
        complementary: Set ``False`` only when no total is ever shown alongside the table.

    Returns:
        A :class:`SuppressedTable`.

    Example:
        >>> t = pd.DataFrame({"clinic": ["A", "B", "C", "All"], "n": [4, 25, 13, 42]})
        >>> suppress_table(t, ["n"], total_row="All").display["n"].tolist()
        ['<11', 25, 'suppressed', 42]
    """
    if isinstance(count_columns, str):
        count_columns = [count_columns]
    rates = _normalise_rates(rate_columns)
    listed = list(dict.fromkeys(count_columns))
    if len(listed) != len(list(count_columns)):
        raise ValueError("count_columns contains duplicates")
    if not df.columns.is_unique:
        raise ValueError("suppress_table needs unique column labels")
    missing = [c for c in [*listed, *rates] if c not in df.columns]
    for num, den in rates.values():
        missing += [c for c in (num, den) if c is not None and c not in df.columns]
    if missing:
        raise KeyError(f"columns not in the table: {missing!r}")
    overlap = [r for r in rates if r in listed]
    if overlap:
        raise ValueError(f"columns cannot be both counts and rates: {overlap!r}")

    row_label = _resolve_label(total_row, margins, margins_name)
    col_label = _resolve_label(total_column, margins, margins_name)

    extra = [c for num, den in rates.values() for c in (num, den) if c is not None]
    if col_label is not None and col_label in df.columns:
        extra.append(col_label)
    counts_all = list(dict.fromkeys([*listed, *extra]))
    bad = [c for c in counts_all if c in rates]
    if bad:
        raise ValueError(f"a rate column cannot be another rate's numerator/denominator: {bad!r}")

    if group_columns is None:
        groups = [c for c in df.columns if c not in counts_all and c not in rates]
    else:
        groups = list(group_columns)
        wrong = [c for c in groups if c not in df.columns or c in counts_all or c in rates]
        if wrong:
            raise ValueError(f"invalid group columns: {wrong!r}")

    work = df.copy()
    values: dict[Hashable, list[int | None]] = {
        col: [_to_count(v, f"column {col!r}") for v in work[col]] for col in counts_all
    }

    # Total column: existing, or appended after the last count column.
    parts: list[Hashable] = []
    if col_label is not None:
        parts = [c for c in listed if c != col_label]
        if not parts:
            raise ValueError("a total column needs at least one other count column")
        if col_label not in work.columns:
            sums = [sum(values[p][i] or 0 for p in parts) for i in range(len(work))]
            position = max(work.columns.get_loc(p) for p in parts) + 1
            work.insert(position, col_label, sums)
            values[col_label] = list(sums)
            counts_all.append(col_label)

    # Total row: existing (looked up in the first group column or the index), or appended.
    total_pos: int | None = None
    if row_label is not None:
        labels = work[groups[0]] if groups else pd.Series(work.index, index=work.index)
        hits = [i for i, v in enumerate(labels) if v == row_label]
        if len(hits) > 1:
            raise ValueError(f"more than one total row labelled {row_label!r}")
        if hits:
            total_pos = hits[0]
        else:
            work = _append_total_row(work, row_label, groups, values)
            total_pos = len(work) - 1

    n_rows = len(work)
    hidden: dict[_Cell, str] = {}
    for col in counts_all:
        for i, v in enumerate(values[col]):
            if v is not None and policy.is_small(v):
                hidden[(i, col)] = REASON_SMALL_COUNT

    if complementary and (total_pos is not None or col_label is not None):
        _complementary_suppression(hidden, values, counts_all, parts, total_pos, col_label, n_rows, policy)

    return _build_result(work, values, hidden, rates, counts_all, policy, total_pos, col_label)


def _append_total_row(
    work: pd.DataFrame,
    label: str,
    groups: list[Hashable],
    values: dict[Hashable, list[int | None]],
) -> pd.DataFrame:
    row: dict[Hashable, Any] = {}
    for col in work.columns:
        if col in values:
            total = sum(v or 0 for v in values[col])
            values[col].append(total)
            row[col] = total
        elif groups and col == groups[0]:
            row[col] = label
        elif pd.api.types.is_float_dtype(work[col].dtype):
            row[col] = math.nan
        else:
            row[col] = None
    if groups:
        index: Hashable = len(work) if isinstance(work.index, pd.RangeIndex) else label
    else:
        index = label
    new = pd.DataFrame([row], index=[index], columns=work.columns)
    if groups and isinstance(work.index, pd.RangeIndex):
        return pd.concat([work, new], ignore_index=True)
    return pd.concat([work, new])


def _complementary_suppression(
    hidden: dict[_Cell, str],
    values: dict[Hashable, list[int | None]],
    counts_all: list[Hashable],
    parts: list[Hashable],
    total_pos: int | None,
    total_col: Hashable | None,
    n_rows: int,
    policy: SuppressionPolicy = DEFAULT_POLICY,
) -> None:
    """Extend ``hidden`` in place until no suppressed cell can be worked out.

    Besides single cells, the *sum* of the suppressed cells of a line with a shown total is
    protected: total minus the shown cells gives it, so it must not be a small count either
    (issue 10, item 5: "All (49) - Not flagged (40) = 9" when both flagged groups read "<11").

    The rounds, in order, each adding one cell (the smallest by value, row, column of its choice):

    1. Rule 1, pass after pass over the lines (columns first, then rows) until a pass changes
       nothing: a line with a shown total and one suppressed cell, or suppressed cells with a small
       sum, gets its smallest shown non-zero member suppressed (else its total).
    2. Rule 2: a suppressed cell that is a bridge of the graph "lines as nodes, suppressed cells as
       edges" is determined by the equations; the first such cell (by row, column) gets a cell that
       closes the gap.
    3. Rule 3 (no bridge left): the interval audit; the smallest pinned small cell gets the
       smallest shown non-zero cell of its lines (else of the table) suppressed.

    Each round used to redo everything over the whole table; :class:`_Rounds` keeps the state of
    every rule up to date as cells are added (session 10), with the same choices in the same order.
    """
    _Rounds(hidden, values, counts_all, parts, total_pos, total_col, n_rows, policy).run()


class _Rounds:
    """The state of :func:`_complementary_suppression`, kept up to date one added cell at a time.

    * Rule 1: each line's number of suppressed members and their sum, its shown non-zero members
      sorted by (value, row, column) with a pointer past the suppressed ones, and a heap of the
      lines that would act, keyed by (pass, line) so that the lines act in the order of the passes.
    * Rule 2: :class:`_BridgeWatch` (the graph's few column nodes as hubs, each row a small star).
    * Rule 3: :class:`_IntervalAudit` (the residual graph of the interval audit, the same way).
    * "The smallest shown non-zero cell": a heap over all cells, suppressed ones dropped lazily.
    """

    def __init__(
        self,
        hidden: dict[_Cell, str],
        values: dict[Hashable, list[int | None]],
        counts_all: list[Hashable],
        parts: list[Hashable],
        total_pos: int | None,
        total_col: Hashable | None,
        n_rows: int,
        policy: SuppressionPolicy,
    ) -> None:
        self.hidden, self.values, self.policy = hidden, values, policy
        self.col_order = {c: k for k, c in enumerate(counts_all)}
        self.total_pos, self.total_col = total_pos, total_col
        # Each line: (member cells, total cell). Members add up to the total.
        lines: list[tuple[list[_Cell], _Cell]] = []
        if total_pos is not None:
            for col in counts_all:
                lines.append(([(i, col) for i in range(n_rows) if i != total_pos], (total_pos, col)))
        if total_col is not None:
            for i in range(n_rows):
                lines.append(([(i, p) for p in parts], (i, total_col)))
        self.lines = lines
        self.part_set = {*parts, total_col}
        self.all_cells = [(i, col) for col in counts_all for i in range(n_rows)]
        self.line_of: dict[_Cell, list[int]] = defaultdict(list)  # the lines a cell is in (member or total)
        self.n_hidden = [0] * len(lines)
        self.hidden_sum = [0] * len(lines)
        self.candidates: list[list[_Cell]] = []
        self.first = [0] * len(lines)
        for index, (members, total) in enumerate(lines):
            for m in members:
                self.line_of[m].append(index)
                if m in hidden:
                    self.n_hidden[index] += 1
                    self.hidden_sum[index] += self.value(m)
            self.line_of[total].append(index)
            self.candidates.append(sorted((m for m in members if self.value(m) > 0), key=self.sort_key))
        self.pool = [(self.sort_key(c), c) for c in self.all_cells if self.value(c) > 0]
        heapq.heapify(self.pool)
        self.bridges = _BridgeWatch(self.nodes, self.col_order)
        self.audit = _IntervalAudit(hidden, values, lines, policy, self.line_of, total_pos, total_col, self.col_order)
        for cell in sorted(hidden, key=lambda c: (c[0], self.col_order[c[1]])):
            self.bridges.add(cell)
            self.audit.add(cell)
        self.pass_no, self.position = 0, 0
        self.acting: list[tuple[int, int]] = []
        for index in range(len(lines)):
            self.push(index)

    def value(self, cell: _Cell) -> int:
        return self.values[cell[1]][cell[0]] or 0  # missing counts as 0, like in sums

    def sort_key(self, cell: _Cell) -> tuple[int, int, int]:
        return (self.value(cell), cell[0], self.col_order[cell[1]])

    def nodes(self, cell: _Cell) -> tuple[Hashable, Hashable]:
        i, col = cell
        row_node = ("row", i) if self.total_col is not None and col in self.part_set else _GROUND
        col_node = ("col", col) if self.total_pos is not None else _GROUND
        return row_node, col_node

    def first_candidate(self, index: int) -> _Cell | None:
        """The line's smallest shown non-zero member (members are only ever added to ``hidden``)."""
        members, k = self.candidates[index], self.first[index]
        while k < len(members) and members[k] in self.hidden:
            k += 1
        self.first[index] = k
        return members[k] if k < len(members) else None

    def acts(self, index: int) -> bool:
        """Whether Rule 1 adds a cell on this line now."""
        total = self.lines[index][1]
        if total in self.hidden or self.values[total[1]][total[0]] is None:
            return False
        n_hidden = self.n_hidden[index]
        if n_hidden == 0 or (n_hidden > 1 and not self.policy.is_small(self.hidden_sum[index])):
            return False
        return self.first_candidate(index) is not None or self.value(total) > 0

    def push(self, index: int) -> None:
        """Queue a line that acts for the pass that reaches it next (this one, or the next)."""
        if self.acts(index):
            heapq.heappush(self.acting, (self.pass_no if index >= self.position else self.pass_no + 1, index))

    def hide(self, cell: _Cell) -> None:
        self.hidden[cell] = REASON_COMPLEMENTARY
        for index in self.line_of[cell]:
            if cell != self.lines[index][1]:
                self.n_hidden[index] += 1
                self.hidden_sum[index] += self.value(cell)
        for index in self.line_of[cell]:
            self.push(index)
        self.bridges.add(cell)
        self.audit.add(cell)

    def rule_1(self) -> None:
        """Rule 1: no row/column with a shown total has exactly one suppressed cell (or several
        with a small sum). The passes of the definition visit the lines in order and start again
        while a pass changed something; the heap holds (pass, line) of every line that acts, so
        the lines act in exactly that order."""
        while self.acting:
            pass_no, index = heapq.heappop(self.acting)
            if (pass_no, index) < (self.pass_no, self.position):
                continue  # a line queued twice, already visited in this pass
            self.pass_no, self.position = pass_no, index + 1
            if not self.acts(index):
                continue
            candidate = self.first_candidate(index)
            self.hide(candidate if candidate is not None else self.lines[index][1])
        self.pass_no, self.position = self.pass_no + 1, 0  # the next round starts a new pass

    def smallest_shown(self) -> _Cell | None:
        while self.pool and self.pool[0][1] in self.hidden:
            heapq.heappop(self.pool)
        return self.pool[0][1] if self.pool else None

    def withhold(self) -> None:
        _withhold_table(self.hidden, self.values, self.all_cells)

    def run(self) -> None:
        while True:
            self.rule_1()
            bridge = self.bridges.first()
            if bridge is None:
                # Rule 3 (audit with bounds): small cells read "<11" (1 .. threshold - 1) and
                # complementary ones "suppressed" (threshold or more); a small cell those bounds
                # pin to one value gets another cell of its lines suppressed.
                cell = self.audit.first_pinned(self.sort_key)
                if cell is None:
                    return
                related = []
                for index in self.line_of[cell]:
                    candidate, total = self.first_candidate(index), self.lines[index][1]
                    related += [c for c in (candidate, total) if c is not None and c not in self.hidden]
                related = [c for c in related if self.value(c) > 0]
                choice = min(related, key=self.sort_key) if related else self.smallest_shown()
                if choice is None:  # every non-zero count is hidden and the zeros still pin a small one
                    self.withhold()
                    return
                self.hide(choice)
                continue
            # Rule 2 (audit): a suppressed cell that is a bridge of the graph "lines as nodes,
            # suppressed cells as edges" is determined by the equations; close the gap. (Rare:
            # done over the whole table, as defined.)
            cells = sorted(self.hidden, key=lambda c: (c[0], self.col_order[c[1]]))
            edges = [self.nodes(c) for c in cells]
            k = cells.index(bridge)
            side_a = _component(edges, edges[k][0], skip=k)
            side_b = _component(edges, edges[k][1], skip=k)
            pool = [c for c in self.all_cells if c not in self.hidden and self.value(c) > 0]
            crossing = [
                c
                for c in pool
                if (self.nodes(c)[0] in side_a and self.nodes(c)[1] in side_b)
                or (self.nodes(c)[0] in side_b and self.nodes(c)[1] in side_a)
            ]
            both_sides = side_a | side_b
            near = [c for c in pool if self.nodes(c)[0] in both_sides or self.nodes(c)[1] in both_sides]
            choice = crossing or near or pool
            if not choice:  # cannot happen (a determined cell implies a shown non-zero cell); be safe
                self.withhold()
                return
            self.hide(min(choice, key=self.sort_key))


def _closure(start: int, adjacency: list[int]) -> int:
    """The hubs reachable from the hubs of bit mask ``start`` (itself included)."""
    reach = frontier = start
    while frontier:
        step = 0
        while frontier:
            low = frontier & -frontier
            step |= adjacency[low.bit_length() - 1]
            frontier ^= low
        frontier = step & ~reach
        reach |= step
    return reach


class _BridgeWatch:
    """The bridges of the graph "lines as nodes, suppressed cells as edges", kept as cells are added.

    Nodes are the table's equations (one per row/column that has a total) plus ``_GROUND`` for "no
    equation"; each suppressed cell is an edge between the two equations it appears in. A suppressed
    cell's value follows from the equations exactly when its edge is a bridge: summing the equations
    on one side of it (with signs) cancels every other unknown. A cell on a cycle can be shifted by
    +1/-1 around the cycle, which keeps every total and every cell non-negative (suppressed cells are
    >= 1). (Until session 10 the bridges were found over the whole graph each round, by Tarjan's
    algorithm: ``tests/support/reference_suppression.py``.)

    Every suppressed cell joins its row's node (a row with a total column) to its column's node (a
    table with a total row) or to ``_GROUND``; so besides the rows the graph has only a few nodes,
    the *hubs* (one per count column, and ground). A row with one edge makes that edge a bridge. A
    row's edge to hub ``h`` is otherwise a bridge exactly when it is the row's only edge to ``h``
    and, without the row, ``h`` is joined to none of the row's other hubs: for that every pair of
    hubs ``h`` shares with the row must be joined by this row alone. An edge between two hubs is a
    bridge when, without it, its hubs are not joined. So only the rows and edges that alone join a
    pair of hubs need a look, over a graph of a dozen hubs.
    """

    def __init__(self, nodes: Any, col_order: dict[Hashable, int]) -> None:
        self.nodes, self.col_order = nodes, col_order
        self.hub_index: dict[Hashable, int] = {_GROUND: 0}
        self.row_edges: dict[Hashable, list[tuple[_Cell, int]]] = defaultdict(list)
        self.joins: dict[tuple[int, int], int] = defaultdict(int)  # hub pair -> rows and edges joining it
        self.alone: dict[tuple[int, int], Any] = {}  # hub pair joined once -> ("row", node) or ("edge", cell)
        self.leaves: list[tuple[int, int, _Cell]] = []  # rows with one edge (lazily dropped)

    def hub(self, node: Hashable) -> int:
        return self.hub_index.setdefault(node, len(self.hub_index))

    def join(self, pair: tuple[int, int], by: Any) -> None:
        self.joins[pair] += 1
        if self.joins[pair] == 1:
            self.alone[pair] = by
        else:
            self.alone.pop(pair, None)

    def add(self, cell: _Cell) -> None:
        row_node, col_node = self.nodes(cell)
        h = self.hub(col_node)
        if row_node == _GROUND:
            if h != 0:
                self.join((0, h), ("edge", cell))
            return
        edges = self.row_edges[row_node]
        before = {hub for _, hub in edges}
        edges.append((cell, h))
        if len(edges) == 1:
            heapq.heappush(self.leaves, (cell[0], self.col_order[cell[1]], cell))
        if h not in before:
            for other in before:
                self.join((min(h, other), max(h, other)), ("row", row_node))

    def linked(self, a: int, b: int, dropped: set[tuple[int, int]]) -> bool:
        """Whether hubs ``a`` and ``b`` are joined by the pairs joined so far, less ``dropped``."""
        adjacency = [0] * len(self.hub_index)
        for (u, v), n in self.joins.items():
            if n and (u, v) not in dropped:
                adjacency[u] |= 1 << v
                adjacency[v] |= 1 << u
        return bool(_closure(1 << a, adjacency) >> b & 1)

    def first(self) -> _Cell | None:
        """The first bridge by (row, column), or ``None``."""
        while self.leaves and len(self.row_edges[self.nodes(self.leaves[0][2])[0]]) != 1:
            heapq.heappop(self.leaves)
        found = [self.leaves[0][2]] if self.leaves else []
        for pair, (kind, what) in list(self.alone.items()):
            if kind == "edge":
                if not self.linked(pair[0], pair[1], {pair}):
                    found.append(what)
                continue
            edges = self.row_edges[what]
            hubs = [hub for _, hub in edges]
            dropped = {p for p, by in self.alone.items() if by == ("row", what)}  # the pairs this row alone joins
            for cell, h in edges:
                if h in pair and hubs.count(h) == 1 and not any(
                    self.linked(h, other, dropped) for other in set(hubs) - {h}
                ):
                    found.append(cell)
        return min(found, key=lambda c: (c[0], self.col_order[c[1]])) if found else None


class _IntervalAudit:
    """The interval audit of :func:`_determined_by_bounds`, kept as cells are added.

    With one level of totals the audit's programme is a network (see :func:`_network_free`): each
    suppressed cell is an arc between its two equations (or an equation and ground), and a small
    cell is pinned unless its arc lies on a cycle of the residual graph of the table's actual counts
    other than the arc against itself. Every arc joins a row's equation to a column's equation or to
    ground, and there are only a few of those (the *hubs*): so the residual graph is kept as the
    hubs' graph, in which a row with an arc in from hub ``a`` and an arc out to hub ``b`` makes an
    arc ``a -> b`` (counted: how many rows or cells make it). A cell of row ``r`` is free when, in
    the hubs' graph without ``r``, its hub reaches back to ``r`` through another of ``r``'s arcs.

    Hiding a cell only adds arcs (the counts stay a solution within every bound), so a free cell
    stays free: the pinned cells are found once, and afterwards only those of the rows that got a
    cell are looked at again, or all of them when a hub arc first appears or stops depending on one
    row or cell alone. A table whose given totals are not the sums of their cells (no flow to start
    from) is audited by :func:`_determined_by_bounds` as before."""

    def __init__(
        self,
        hidden: dict[_Cell, str],
        values: dict[Hashable, list[int | None]],
        lines: list[tuple[list[_Cell], _Cell]],
        policy: SuppressionPolicy,
        line_of: dict[_Cell, list[int]],
        total_pos: int | None,
        total_col: Hashable | None,
        col_order: dict[Hashable, int],
    ) -> None:
        self.hidden, self.values, self.lines, self.policy = hidden, values, lines, policy
        self.line_of, self.total_pos, self.total_col = line_of, total_pos, total_col
        self.low = 0 if policy.suppress_zero else 1
        self.bounds_cache: dict = {}
        self.equation = [values[total[1]][total[0]] is not None for _, total in lines]
        self.fallback = any(
            has and sum(self.known(m) for m in members) != self.known(total)
            for has, (members, total) in zip(self.equation, lines, strict=True)
        )
        self.n_col_lines = len(col_order) if total_pos is not None else 0
        self.arcs: dict[_Cell, tuple[Any, Any, bool, bool]] = {}  # cell -> (tail, head, grows, shrinks)
        self.row_in: dict[int, list[tuple[_Cell, int]]] = defaultdict(list)  # row -> (cell, hub) arcs hub -> row
        self.row_out: dict[int, list[tuple[_Cell, int]]] = defaultdict(list)
        self.makes: dict[int, set[tuple[int, int]]] = defaultdict(set)  # row -> the hub arcs it makes
        self.count: dict[tuple[int, int], int] = defaultdict(int)  # hub arc -> rows and cells making it
        self.adjacency = [0] * (self.n_col_lines + 1)  # hub -> bit mask of hubs it has an arc to
        self.changed = True  # the hubs' graph changed (every pinned cell to be looked at again)
        self.touched: set[int] = set()
        self.pinned: set[_Cell] | None = None
        self.heap: list[tuple[Any, _Cell]] = []

    def known(self, cell: _Cell) -> int:
        return self.values[cell[1]][cell[0]] or 0

    def ends(self, cell: _Cell) -> tuple[Any, Any] | None:
        """(tail, head) of a cell's arc: ("hub", k) (k = 0 ground, else 1 + column line) or
        ("row", line); ``None`` when the signs do not make a network (never with one level)."""
        signed = []
        for index in self.line_of[cell]:
            if not self.equation[index]:
                continue
            coefficient = -1 if cell == self.lines[index][1] else 1
            if index < self.n_col_lines:
                col = self.lines[index][1][1]
                sign, node = (-1 if col == self.total_col else 1), ("hub", index + 1)
            else:
                sign, node = (1 if cell[0] == self.total_pos else -1), ("row", index)
            signed.append((sign * coefficient, node))
        tail = head = ("hub", 0)
        if len(signed) == 2 and signed[0][0] == signed[1][0]:
            return None
        for s, node in signed:
            if s > 0:
                head = node
            else:
                tail = node
        return tail, head

    def make(self, arc: tuple[int, int]) -> None:
        self.count[arc] += 1
        if self.count[arc] == 1:
            self.adjacency[arc[0]] |= 1 << arc[1]
        if self.count[arc] <= 2:
            self.changed = True

    def add(self, cell: _Cell) -> None:
        if self.fallback:
            return
        ends = self.ends(cell)
        if ends is None:
            self.fallback = True
            return
        tail, head = ends
        actual = self.known(cell)
        if self.hidden[cell] == REASON_SMALL_COUNT:
            grows, shrinks = actual < self.policy.threshold - 1, actual > self.low
        else:
            grows, shrinks = True, actual > self.policy.threshold
        self.arcs[cell] = (tail, head, grows, shrinks)
        if tail == head:
            return  # in no equation
        directed = ([(tail, head)] if grows else []) + ([(head, tail)] if shrinks else [])
        if tail[0] == "hub" and head[0] == "hub":
            for a, b in directed:
                self.make((a[1], b[1]))
            return
        row = tail[1] if tail[0] == "row" else head[1]
        for a, b in directed:
            if a[0] == "hub":
                self.row_in[row].append((cell, a[1]))
            else:
                self.row_out[row].append((cell, b[1]))
        made = {(a, b) for _, a in self.row_in[row] for _, b in self.row_out[row] if a != b}
        for arc in made - self.makes[row]:
            self.make(arc)
        self.makes[row] = made
        self.touched.add(row)

    def free(self, cell: _Cell) -> bool:
        """Whether the cell can take another value (its arc is on a cycle other than itself)."""
        tail, head, grows, shrinks = self.arcs[cell]
        adjacency = list(self.adjacency)
        if tail[0] == "hub" and head[0] == "hub":
            own = ([(tail[1], head[1])] if grows else []) + ([(head[1], tail[1])] if shrinks else [])
            for a, b in own:
                if self.count[(a, b)] == 1:
                    adjacency[a] &= ~(1 << b)
            return (grows and bool(_closure(1 << head[1], adjacency) >> tail[1] & 1)) or (
                shrinks and bool(_closure(1 << tail[1], adjacency) >> head[1] & 1)
            )
        row, hub, row_is_head = (head[1], tail[1], True) if head[0] == "row" else (tail[1], head[1], False)
        for a, b in self.makes[row]:
            if self.count[(a, b)] == 1:
                adjacency[a] &= ~(1 << b)
        into = 0
        for other, a in self.row_in[row]:
            if other != cell:
                into |= 1 << a
        out = 0
        for other, b in self.row_out[row]:
            if other != cell:
                out |= 1 << b
        row_to_hub = bool(_closure(out, adjacency) >> hub & 1)
        hub_to_row = bool(_closure(1 << hub, adjacency) & into)
        # grows: head reaches tail; shrinks: tail reaches head.
        if row_is_head:
            return (grows and row_to_hub) or (shrinks and hub_to_row)
        return (grows and hub_to_row) or (shrinks and row_to_hub)

    def small_cells(self) -> list[_Cell]:
        return [c for c, r in self.hidden.items() if r == REASON_SMALL_COUNT]

    def pinned_cells(self) -> list[_Cell]:
        """The small suppressed cells whose value the displayed table fixes now (as
        :func:`_determined_by_bounds` returns them)."""
        if self.fallback:
            return _determined_by_bounds(self.hidden, self.values, self.lines, self.policy, self.bounds_cache)
        if self.low == self.policy.threshold - 1:
            self.pinned = set()
            return []  # with a single small value (threshold 2) the marker itself says it
        if self.pinned is None:
            look = [c for c in self.small_cells() if self.arcs[c][0] != self.arcs[c][1]]
            self.pinned = set()
        elif self.changed:
            look = list(self.pinned)
        else:
            look = [c for c in self.pinned if any(i in self.touched for i in self.line_of[c])]
        self.changed, self.touched = False, set()
        for cell in look:
            if self.free(cell):
                self.pinned.discard(cell)
            else:
                self.pinned.add(cell)
        return sorted(self.pinned, key=lambda c: (c[0], str(c[1])))

    def first_pinned(self, sort_key: Any) -> _Cell | None:
        """The pinned cell with the smallest ``sort_key``, or ``None``."""
        if self.fallback:
            pinned = self.pinned_cells()
            return min(pinned, key=sort_key) if pinned else None
        known_before = self.pinned is not None
        before = set(self.pinned or ())
        self.pinned_cells()
        if not known_before:
            self.heap = [(sort_key(c), c) for c in self.pinned]
            heapq.heapify(self.heap)
        else:
            for cell in self.pinned - before:
                heapq.heappush(self.heap, (sort_key(cell), cell))
        while self.heap and self.heap[0][1] not in self.pinned:
            heapq.heappop(self.heap)
        return self.heap[0][1] if self.heap else None


def _withhold_table(hidden: dict[_Cell, str], values: dict[Hashable, list[int | None]], cells: list[_Cell]) -> None:
    """Withhold every count of the table (missing counts stay missing): see :data:`REASON_TABLE_WITHHELD`."""
    for cell in cells:
        if values[cell[1]][cell[0]] is not None:
            hidden[cell] = REASON_TABLE_WITHHELD


def _determined_by_bounds(
    hidden: dict[_Cell, str],
    values: dict[Hashable, list[int | None]],
    lines: list[tuple[list[_Cell], _Cell]],
    policy: SuppressionPolicy,
    cache: dict | None = None,
) -> list[_Cell]:
    """Small suppressed cells whose value the displayed table fixes (interval audit).

    A reader knows every shown count, the equations of the lines with a total, that a cell
    reading the marker holds ``lo .. threshold - 1`` (``lo`` = 0 under ``suppress_zero``,
    else 1) and that a cell reading :data:`WITHHELD_TEXT` holds ``threshold`` or more (zero
    is never chosen for complementary suppression). Each small cell's least and greatest
    value under those constraints is found by linear programming; the constraint matrix of
    one-level row and column totals is totally unimodular, so the bounds are whole numbers
    and attained. Returns the cells whose least and greatest values are equal."""
    cells = sorted(hidden, key=lambda c: (c[0], str(c[1])))
    lo = 0 if policy.suppress_zero else 1
    small = [c for c in cells if hidden[c] == REASON_SMALL_COUNT]
    if not small or lo == policy.threshold - 1:
        return []  # with a single small value (threshold 2) the marker itself says it
    index = {c: k for k, c in enumerate(cells)}

    def known(cell: _Cell) -> int:
        return values[cell[1]][cell[0]] or 0

    equations: list[tuple[dict[int, float], float]] = []
    for members, total in lines:
        if total not in index and values[total[1]][total[0]] is None:
            continue  # no total shown: no equation
        coefficients: dict[int, float] = defaultdict(float)
        rhs = 0.0
        for m in members:
            if m in index:
                coefficients[index[m]] += 1
            else:
                rhs -= known(m)
        if total in index:
            coefficients[index[total]] -= 1
        else:
            rhs += known(total)
        coefficients = {k: v for k, v in coefficients.items() if v}
        if coefficients:
            equations.append((coefficients, rhs))
    if not equations:
        return []
    bounds = [(lo, policy.threshold - 1) if hidden[c] == REASON_SMALL_COUNT else (policy.threshold, None) for c in cells]
    # The programme separates into independent parts (suppressed cells linked by shared
    # equations): a cell's least and greatest values depend on its part alone. Each part is
    # solved once per call; ``cache`` keeps the parts' results between the calls of one
    # suppression, which add one cell at a time and leave most parts unchanged.
    parent = list(range(len(cells)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for coefficients, _ in equations:
        first, *rest = coefficients
        for k in rest:
            parent[root(k)] = root(first)
    parts: dict[int, list[int]] = defaultdict(list)
    for k in range(len(cells)):
        parts[root(k)].append(k)
    part_equations: dict[int, list[tuple[dict[int, float], float]]] = defaultdict(list)
    for coefficients, rhs in equations:
        part_equations[root(next(iter(coefficients)))].append((coefficients, rhs))
    # Hiding a further cell only widens what a reader can imagine (the cell's shown value stays
    # a possible one: it lies within its new bounds), so a small cell once found not pinned stays
    # so for the rest of one suppression: ``cache`` carries those cells between its calls.
    cache = {} if cache is None else cache
    previous: dict[_Cell, str] | None = cache.get("hidden")

    def within_bounds(cell: _Cell) -> bool:
        low, high = (lo, policy.threshold - 1) if hidden[cell] == REASON_SMALL_COUNT else (policy.threshold, None)
        return known(cell) >= low and (high is None or known(cell) <= high)

    carried: set[_Cell] = set()
    if previous is not None and all(hidden.get(c) == r for c, r in previous.items()) and all(
        within_bounds(c) for c in hidden if c not in previous
    ):
        carried = cache.get("not_pinned", set())
    not_pinned = set(carried)
    pinned = []
    actual = [known(c) for c in cells]
    for part_root, members in parts.items():
        wanted = [k for k in members if hidden[cells[k]] == REASON_SMALL_COUNT and cells[k] not in carried]
        eqs = part_equations.get(part_root, [])
        if not wanted or not eqs:
            continue  # no small cell left to check, or in no equation: only its bounds are known
        # One-level totals make the part a network (each cell in at most two equations): whether a
        # cell can move is then a question of cycles in a graph, answered without programmes.
        free = _network_free(eqs, members, wanted, bounds, actual)
        if free is not None:
            for k in wanted:
                (not_pinned.add if free[k] else pinned.append)(cells[k])
            continue
        from scipy.optimize import linprog  # only for a part that is not a network (scipy is slow to import)

        position = {k: j for j, k in enumerate(members)}
        a_matrix = np.zeros((len(eqs), len(members)))
        for row, (coefficients, _) in enumerate(eqs):
            for k, v in coefficients.items():
                a_matrix[row, position[k]] = v
        b_vector = np.array([rhs for _, rhs in eqs])
        part_bounds = [bounds[k] for k in members]
        # Every solution found is a table the reader cannot rule out: a cell seen with two
        # values at least 0.5 apart in them is not pinned, and needs no programme of its own.
        seen_low = np.full(len(members), np.inf)
        seen_high = np.full(len(members), -np.inf)
        # First a few programmes that push the unresolved cells in random directions (seeded:
        # the same table always gives the same programmes): they usually show most cells free,
        # and only the rest get programmes of their own. Which cells are pinned is decided by
        # those alone, so this changes the work, never the result.
        directions = np.random.default_rng(len(members))
        stalled = 0
        while stalled < 2:
            open_cells = [position[k] for k in wanted if seen_high[position[k]] - seen_low[position[k]] < 0.5]
            if len(open_cells) < 2:
                break
            cost = np.zeros(len(members))
            cost[open_cells] = directions.choice([-1.0, 1.0], size=len(open_cells))
            found = linprog(cost, A_eq=a_matrix, b_eq=b_vector, bounds=part_bounds, method="highs")
            if found.status != 0:
                break
            seen_low, seen_high = np.minimum(seen_low, found.x), np.maximum(seen_high, found.x)
            still_open = sum(1 for j in open_cells if seen_high[j] - seen_low[j] < 0.5)
            stalled = stalled + 1 if still_open > len(open_cells) * 0.9 else 0
        for k in wanted:
            j = position[k]
            if seen_high[j] - seen_low[j] >= 0.5:
                not_pinned.add(cells[k])
                continue
            cost = np.zeros(len(members))
            cost[j] = 1.0
            low = linprog(cost, A_eq=a_matrix, b_eq=b_vector, bounds=part_bounds, method="highs")
            if low.status == 0:
                seen_low, seen_high = np.minimum(seen_low, low.x), np.maximum(seen_high, low.x)
                if seen_high[j] - seen_low[j] >= 0.5:
                    not_pinned.add(cells[k])
                    continue
            high = linprog(-cost, A_eq=a_matrix, b_eq=b_vector, bounds=part_bounds, method="highs")
            if low.status != 0 or high.status != 0:
                continue  # unbounded (cannot happen for a small cell) or numerically infeasible
            seen_low, seen_high = np.minimum(seen_low, high.x), np.maximum(seen_high, high.x)
            if -high.fun - low.fun < 0.5:
                pinned.append(cells[k])
            else:
                not_pinned.add(cells[k])
    cache["hidden"], cache["not_pinned"] = dict(hidden), not_pinned
    return sorted(pinned, key=lambda c: (c[0], str(c[1])))


def _network_free(
    equations: list[tuple[dict[int, float], float]],
    members: list[int],
    wanted: list[int],
    bounds: list[tuple[int, int | None]],
    actual: list[int],
) -> dict[int, bool] | None:
    """The interval audit of one part without linear programmes, when the part is a network.

    With one level of totals every suppressed cell is in at most two equations (its row's and its
    column's), and the equations can be signed so that each cell enters one with +1 and the other
    with -1 (the matrix is a network matrix; a cell in one equation only runs to a "ground" node
    without an equation). The part's solutions are then the flows of a graph with the cells as arcs
    between their equations, each arc within its bounds; the table's actual counts are one of them.
    A cell's value can change, keeping every total and every bound, exactly when its arc lies on a
    cycle of the residual graph of that flow (an arc ``u -> v`` where the cell may grow, ``v -> u``
    where it may shrink) other than the arc against itself: cycles are exactly the differences of
    two solutions, so this gives the same answer as the two programmes (least and greatest value)
    of the definition, for every cell, in time linear in the part for most cells.

    Returns ``{cell index: True when it can take another value}`` for ``wanted``, or ``None``
    when the part is not a network or the actual counts are not a solution of it (a given total
    that is not the sum of its cells): the caller then solves the programmes."""
    occurs: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for e, (coefficients, _) in enumerate(equations):
        for k, v in coefficients.items():
            if v not in (1.0, -1.0):
                return None
            occurs[k].append((e, v))
    for k in members:
        low, high = bounds[k]
        if actual[k] < low or (high is not None and actual[k] > high) or len(occurs[k]) > 2:
            return None
    for coefficients, rhs in equations:
        if sum(v * actual[k] for k, v in coefficients.items()) != rhs:
            return None
    # Sign the equations (two colours): a cell in two equations enters them with opposite signs.
    sign = [0] * len(equations)
    for start in range(len(equations)):
        if sign[start]:
            continue
        sign[start] = 1
        todo = [start]
        while todo:
            e = todo.pop()
            for k in equations[e][0]:
                occ = occurs[k]
                if len(occ) < 2:
                    continue
                (a, ca), (b, cb) = occ
                other, need = (b, -sign[a] * ca * cb) if a == e else (a, -sign[b] * cb * ca)
                if sign[other] == 0:
                    sign[other] = int(need)
                    todo.append(other)
                elif sign[other] != need:
                    return None
    ground = len(equations)
    ends: dict[int, tuple[int, int]] = {}  # cell -> (tail, head)
    arcs: list[list[tuple[int, int]]] = [[] for _ in range(ground + 1)]  # node -> [(next node, cell)]
    for k in members:
        tail = head = ground
        for e, c in occurs[k]:
            if sign[e] * c > 0:
                head = e
            else:
                tail = e
        ends[k] = (tail, head)
        low, high = bounds[k]
        if high is None or actual[k] < high:
            arcs[tail].append((head, k))  # the cell can grow
        if actual[k] > low:
            arcs[head].append((tail, k))  # the cell can shrink
    component = _strong_components(arcs, frozenset())
    # Cells that can both grow and shrink always close a cycle with themselves; for them, first
    # the components of the graph without any such wanted cell (a cycle there avoids the cell).
    inner = [k for k in wanted if (bounds[k][1] is None or actual[k] < bounds[k][1]) and actual[k] > bounds[k][0]]
    without = _strong_components(arcs, frozenset(inner)) if inner else component
    inner_set = set(inner)
    free: dict[int, bool] = {}
    for k in wanted:
        tail, head = ends[k]
        if component[tail] != component[head]:
            free[k] = False
        elif k not in inner_set or without[tail] == without[head]:
            free[k] = True
        else:
            free[k] = _reaches(arcs, head, tail, k, component) or _reaches(arcs, tail, head, k, component)
    return free


def _strong_components(arcs: list[list[tuple[int, int]]], skip: frozenset[int]) -> list[int]:
    """Strongly connected component of each node (iterative Tarjan), ignoring the arcs of the cells in ``skip``."""
    n = len(arcs)
    index = [-1] * n
    low = [0] * n
    component = [-1] * n
    on_stack = [False] * n
    stack: list[int] = []
    clock = 0
    count = 0
    for root in range(n):
        if index[root] >= 0:
            continue
        index[root] = low[root] = clock
        clock += 1
        stack.append(root)
        on_stack[root] = True
        work = [(root, iter(arcs[root]))]
        while work:
            node, successors = work[-1]
            for nxt, cell in successors:
                if cell in skip:
                    continue
                if index[nxt] < 0:
                    index[nxt] = low[nxt] = clock
                    clock += 1
                    stack.append(nxt)
                    on_stack[nxt] = True
                    work.append((nxt, iter(arcs[nxt])))
                    break
                if on_stack[nxt]:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    while True:
                        member = stack.pop()
                        on_stack[member] = False
                        component[member] = count
                        if member == node:
                            break
                    count += 1
    return component


def _reaches(arcs: list[list[tuple[int, int]]], start: int, goal: int, skip: int, component: list[int]) -> bool:
    """Whether ``goal`` can be reached from ``start`` without the arcs of cell ``skip`` (within
    ``start``'s strongly connected component: a path that closes a cycle stays inside it)."""
    where = component[start]
    seen = {start}
    todo = [start]
    while todo:
        node = todo.pop()
        for nxt, cell in arcs[node]:
            if cell == skip or nxt in seen or component[nxt] != where:
                continue
            if nxt == goal:
                return True
            seen.add(nxt)
            todo.append(nxt)
    return False


def _component(edges: list[tuple[Hashable, Hashable]], start: Hashable, skip: int) -> set[Hashable]:
    """Nodes reachable from ``start`` without using edge ``skip``."""
    adjacency: dict[Hashable, list[Hashable]] = defaultdict(list)
    for k, (u, v) in enumerate(edges):
        if k != skip:
            adjacency[u].append(v)
            adjacency[v].append(u)
    seen = {start}
    todo = [start]
    while todo:
        for nxt in adjacency[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _build_result(
    work: pd.DataFrame,
    values: dict[Hashable, list[int | None]],
    hidden: dict[_Cell, str],
    rates: dict[Hashable, tuple[Hashable | None, Hashable]],
    counts_all: list[Hashable],
    policy: SuppressionPolicy,
    total_pos: int | None,
    total_col: Hashable | None,
) -> SuppressedTable:
    n_rows = len(work)
    reasons: dict[Hashable, list[str]] = {col: [hidden.get((i, col), "") for i in range(n_rows)] for col in counts_all}
    for rate, (num, den) in rates.items():
        column_reasons = []
        for i, raw in enumerate(work[rate]):
            column_reasons.append("" if _is_missing(raw) else _rate_reason(i, num, den, values, hidden, policy))
        reasons[rate] = column_reasons

    display = work.copy()
    numeric = work.copy()
    mask = pd.DataFrame(False, index=work.index, columns=work.columns)
    why = pd.DataFrame({col: [""] * n_rows for col in work.columns}, index=work.index)

    for col in counts_all:
        shown = [
            None if v is None or r else policy.round_count(v) for v, r in zip(values[col], reasons[col], strict=True)
        ]
        display[col] = pd.Series(
            [suppressed_text(r, policy) if r else v for v, r in zip(shown, reasons[col], strict=True)],
            index=work.index,
            dtype=object,
        )
        numeric[col] = pd.array(shown, dtype="Int64")
    for rate in rates:
        raw_values = [None if _is_missing(v) else float(v) for v in work[rate]]
        shown_rates = [None if r else v for v, r in zip(raw_values, reasons[rate], strict=True)]
        display[rate] = pd.Series(
            [suppressed_text(r, policy) if r else v for v, r in zip(shown_rates, reasons[rate], strict=True)],
            index=work.index,
            dtype=object,
        )
        numeric[rate] = pd.array(shown_rates, dtype="Float64")
    for col, col_reasons in reasons.items():
        mask[col] = [bool(r) for r in col_reasons]
        why[col] = col_reasons

    return SuppressedTable(
        display=display,
        mask=mask,
        reasons=why,
        numeric=numeric,
        policy=policy,
        count_columns=tuple(counts_all),
        rate_columns=tuple(rates),
        total_row=total_pos,
        total_column=total_col,
    )


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _rate_reason(
    i: int,
    num: Hashable | None,
    den: Hashable,
    values: dict[Hashable, list[int | None]],
    hidden: dict[_Cell, str],
    policy: SuppressionPolicy,
) -> str:
    d = values[den][i]
    if d is None or d < policy.threshold:
        return REASON_SMALL_DENOMINATOR
    if (i, den) in hidden:
        return REASON_DENOMINATOR_SUPPRESSED
    if num is not None:
        n = values[num][i]
        if n is None or (i, num) in hidden or policy.is_small(n) or policy.is_small(d - n):
            return REASON_NUMERATOR_DERIVABLE
    return ""


# --------------------------------------------------------------------------------------
# Pseudonyms
# --------------------------------------------------------------------------------------

PSEUDONYM_KEY_ENV_VAR = "BETWEEN_SESSIONS_PSEUDONYM_KEY"
"""Environment variable holding the pseudonym key (at least 16 bytes of secret text)."""

DEV_PSEUDONYM_KEY = b"between-sessions-DEVELOPMENT-ONLY-pseudonym-key-not-secret"
"""Key used only with ``load_pseudonym_key(allow_dev_key=True)``. It is public (it is in
the source), so pseudonyms made with it protect nothing: demos and tests only."""

_MIN_KEY_BYTES = 16
# Crockford base32: digits and upper-case letters without I, L, O, U (no look-alikes).
_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ")
_MAX_PSEUDONYM_LENGTH = 51  # 256 bits / 5 bits per character


class MissingPseudonymKeyError(RuntimeError):
    """No pseudonym key configured (and the development key was not allowed)."""


class PseudonymCollisionError(ValueError):
    """Two different identifiers got the same pseudonym; use a longer pseudonym."""


def _key_bytes(key: bytes | str) -> bytes:
    data = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if not data:
        raise ValueError("the pseudonym key is empty")
    return data


def pseudonym(identifier: str, key: bytes | str, *, prefix: str = "T", length: int = 6) -> str:
    """A stable keyed pseudonym such as ``"T-3F9A1C"``.

    The code is the first ``length`` characters of HMAC-SHA256(key, prefix + identifier)
    in Crockford base32 (0-9 and A-Z without I, L, O, U). The same identifier and key
    always give the same pseudonym; another key gives unrelated ones; without the key
    a pseudonym cannot be linked back (identifiers are low-entropy, so keep the key
    secret: with it, anyone can try every identifier). The prefix is part of the hashed
    message, so a therapist "17" and a clinic "17" get unrelated codes.

    Six characters hold 30 bits: for 1,000 identifiers the chance that any two collide is
    about 0.05%. :func:`pseudonymise_column` checks for collisions.

    Args:
        identifier: The real identifier (compared exactly; no case folding or trimming).
        key: The secret key (``str`` is UTF-8 encoded). See :func:`load_pseudonym_key`.
        prefix: Shown before the code, separated by ``-``; ``""`` gives the bare code.
        length: Number of code characters, 4 to 51.
    """
    if not isinstance(identifier, str):
        raise TypeError(f"identifier must be a str, got {type(identifier).__name__}")
    if not 4 <= length <= _MAX_PSEUDONYM_LENGTH:
        raise ValueError(f"length must be between 4 and {_MAX_PSEUDONYM_LENGTH}, got {length}")
    message = f"{prefix}\x1f{identifier}".encode()
    digest = hmac.new(_key_bytes(key), message, hashlib.sha256).digest()
    code = base64.b32encode(digest).decode("ascii").translate(_CROCKFORD)[:length]
    return f"{prefix}-{code}" if prefix else code


def pseudonym_length(identifiers: int, *, shortest: int = 6, step: int = 2, expected_pairs: float = 1e-3) -> int:
    """The code length for pseudonyms of ``identifiers`` distinct identifiers: the shortest of
    ``shortest``, ``shortest + step``, ... at which fewer than ``expected_pairs`` pairs of them are
    expected to share a code (5 bits a character: 6 characters up to about 1,460 identifiers, 8 up
    to about 47,000, 10 up to about 1.5 million). Give it the count of a whole deployment, so that
    every view of the deployment uses the same length."""
    length = shortest
    pairs = identifiers * (identifiers - 1) / 2
    while length < _MAX_PSEUDONYM_LENGTH and pairs / 32**length > expected_pairs:
        length = min(length + step, _MAX_PSEUDONYM_LENGTH)
    return length


def distinct_pseudonyms(
    identifiers: Iterable[str], key: bytes | str, *, prefix: str = "T", length: int = 6, step: int = 2
) -> dict[str, str]:
    """``{identifier: pseudonym}`` with no pseudonym shared: each at ``length`` characters
    (:func:`pseudonym`), except identifiers whose codes collide, which get ``step`` more characters
    (their first ``length`` stay the same) until theirs differ. Every other code is the one
    :func:`pseudonym` gives, so views of different sets of identifiers agree."""
    key_bytes = _key_bytes(key)
    lengths = dict.fromkeys(set(identifiers), length)
    codes = {ident: pseudonym(ident, key_bytes, prefix=prefix, length=length) for ident in lengths}
    while True:
        holders: dict[str, list[str]] = {}
        for ident, code in codes.items():
            holders.setdefault(code, []).append(ident)
        shared = [idents for idents in holders.values() if len(idents) > 1]
        if not shared:
            return codes
        for idents in shared:
            for ident in idents:
                if lengths[ident] >= _MAX_PSEUDONYM_LENGTH:
                    raise PseudonymCollisionError(f"two identifiers share the pseudonym {codes[ident]!r}")
                lengths[ident] = min(lengths[ident] + step, _MAX_PSEUDONYM_LENGTH)
                codes[ident] = pseudonym(ident, key_bytes, prefix=prefix, length=lengths[ident])


def _identifier_text(value: Any) -> str:
    """Identifier as text; whole-number floats (ids in a column with NaN) lose the '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def pseudonymise_column(series: pd.Series, key: bytes | str, prefix: str = "T", *, length: int = 6) -> pd.Series:
    """Replace each identifier in ``series`` by :func:`pseudonym`; missing values stay missing.

    Values are converted with ``str()`` (whole-number floats such as ``17.0`` become
    ``"17"``). Returns a ``str``-dtype Series with the same index and name.

    Raises:
        PseudonymCollisionError: two different identifiers got the same pseudonym
            (increase ``length``).
    """
    key_bytes = _key_bytes(key)
    seen: dict[str, str] = {}
    out: list[str | None] = []
    for value in series:
        if _is_missing(value):
            out.append(None)
            continue
        ident = _identifier_text(value)
        code = pseudonym(ident, key_bytes, prefix=prefix, length=length)
        other = seen.setdefault(code, ident)
        if other != ident:
            raise PseudonymCollisionError(
                f"two identifiers share the pseudonym {code!r}; use a longer pseudonym (length={length} now)"
            )
        out.append(code)
    return pd.Series(out, index=series.index, name=series.name, dtype="str")


def load_pseudonym_key(
    env_var: str = PSEUDONYM_KEY_ENV_VAR,
    path: str | os.PathLike[str] | None = None,
    *,
    allow_dev_key: bool = False,
) -> bytes:
    """Load the secret pseudonym key.

    Looks in order at: the environment variable ``env_var`` (its text, UTF-8 encoded),
    then the file ``path`` (its bytes, trailing whitespace stripped; e.g. a mounted
    secret). Generate a key with
    ``python -c "import secrets; print(secrets.token_urlsafe(32))"``. Keys shorter than
    16 bytes are refused. Changing the key changes every pseudonym.

    Without a key this raises :class:`MissingPseudonymKeyError` (production behaviour),
    unless ``allow_dev_key=True``, in which case :data:`DEV_PSEUDONYM_KEY` is returned
    with a :class:`RuntimeWarning`. Only pass ``allow_dev_key=True`` for local
    development, demos and tests.
    """
    value = os.environ.get(env_var, "")
    if value.strip():
        return _checked_key(value.strip().encode("utf-8"), f"environment variable {env_var}")
    if path is not None:
        key_path = Path(path)
        if key_path.is_file():
            return _checked_key(key_path.read_bytes().rstrip(), f"key file {key_path}")
    if allow_dev_key:
        warnings.warn(
            "using the public development pseudonym key; pseudonyms made with it are "
            f"not protected. Set {env_var} in production.",
            RuntimeWarning,
            stacklevel=2,
        )
        return DEV_PSEUDONYM_KEY
    where = f"the environment variable {env_var}"
    if path is not None:
        where += f" or the file {Path(path)} (not found)"
    raise MissingPseudonymKeyError(
        f"No pseudonym key: set {where} to a secret of at least {_MIN_KEY_BYTES} bytes, "
        'e.g. python -c "import secrets; print(secrets.token_urlsafe(32))". '
        "For local development only, call load_pseudonym_key(allow_dev_key=True)."
    )


def _checked_key(key: bytes, source: str) -> bytes:
    if len(key) < _MIN_KEY_BYTES:
        raise ValueError(f"the pseudonym key from {source} is {len(key)} bytes; use at least {_MIN_KEY_BYTES}")
    return key


# --------------------------------------------------------------------------------------
# Spreadsheet formula injection (OWASP "CSV injection")
# --------------------------------------------------------------------------------------

FORMULA_TRIGGERS: tuple[str, ...] = (
    "=",
    "+",
    "-",
    "@",
    "\t",
    "\r",
    # Full-width forms, which some spreadsheet locales also read as formula starts.
    "\uff1d",
    "\uff0b",
    "\uff0d",
    "\uff20",
)
"""Leading characters that make a spreadsheet read a cell as a formula."""


def neutralise_cell(value: Any) -> Any:
    """Neutralise one export cell: a string starting with a formula trigger gets a ``'``.

    Triggers are ``= + - @``, tab and carriage return (OWASP), plus their full-width
    forms. Only strings change: numbers stay numbers (``-5`` is data, but the *string*
    ``"-1+2"`` becomes ``"'-1+2"``, and so does the string ``"-5"``: keep numbers numeric
    to keep them unquoted). ``None``, NaN, dates etc. are returned unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def _is_text_dtype(dtype: Any) -> bool:
    return pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype)


def neutralise_frame(df: pd.DataFrame, *, include_header: bool = True) -> pd.DataFrame:
    """A copy of ``df`` with :func:`neutralise_cell` applied to its text.

    Text means object columns (strings inside; numbers in them are left alone),
    string-dtype columns (pandas 3's default ``str``, kept as that dtype) and the
    categories of categorical columns; numeric, boolean and datetime columns are untouched.
    With ``include_header`` the string column labels are neutralised too (a header cell
    is a cell). The index is not changed (exports drop it: see :func:`to_safe_csv`).
    """
    out = df.copy()
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        dtype = column.dtype
        if _is_text_dtype(dtype):
            fixed = column.map(neutralise_cell, na_action="ignore")
            out.isetitem(position, fixed.astype(dtype))
        elif isinstance(dtype, pd.CategoricalDtype):
            new_categories = [neutralise_cell(c) for c in dtype.categories]
            if len(set(new_categories)) == len(new_categories):
                out.isetitem(position, column.cat.rename_categories(new_categories))
            else:
                out.isetitem(position, column.astype(object).map(neutralise_cell, na_action="ignore"))
    if include_header:
        out.columns = [neutralise_cell(c) for c in out.columns]
    return out


def to_safe_csv(df: pd.DataFrame) -> bytes:
    """CSV bytes for download: neutralised, no index, UTF-8 with BOM, CRLF line ends.

    The byte-order mark makes Excel read the file as UTF-8 (accents, em-dashes).
    Drop free text and identifiers first where the export must be de-identified
    (:func:`drop_free_text`, :func:`drop_identifiers`).
    """
    text = neutralise_frame(df).to_csv(index=False, lineterminator="\r\n")
    return text.encode("utf-8-sig")


# --------------------------------------------------------------------------------------
# Column removal for aggregate views and de-identified exports
# --------------------------------------------------------------------------------------


def _drop_named(df: pd.DataFrame, names: Iterable[str]) -> pd.DataFrame:
    wanted = {name.casefold() for name in names}
    drop = [c for c in df.columns if isinstance(c, str) and c.casefold() in wanted]
    return df.drop(columns=drop)


def drop_free_text(df: pd.DataFrame, free_text_columns: Iterable[str] = ("description", "notes")) -> pd.DataFrame:
    """A copy without free-text columns (matched by name, case-insensitively; absent ones
    are ignored). Free text is never shown in aggregate views or de-identified exports
    (clinical-reference.md, "Privacy norms for aggregate reporting")."""
    return _drop_named(df, free_text_columns)


def drop_identifiers(df: pd.DataFrame, identifier_columns: Iterable[str] = ("client_id",)) -> pd.DataFrame:
    """A copy without direct identifier columns (matched by name, case-insensitively;
    absent ones are ignored). For a HIPAA Safe Harbor export, list every column holding
    one of its 18 identifiers (names, dates other than year, contact details, ...), not
    just the default."""
    return _drop_named(df, identifier_columns)
