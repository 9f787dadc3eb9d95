"""Publishing tables: one vocabulary for a table's columns, and small-number suppression applied
to a whole table before anyone sees it.

A :class:`Column` says what a column is (its key in the numbers, its header for people, its
kind and, for a rate, what it is a rate of); :func:`publish_table` turns a table of numbers
into a :class:`PublishedTable` under a :class:`~analytics.privacy.SuppressionPolicy`
(de-identified views) or as it is (identified views). Every page, export and report that
shows a table describes its columns this way: the pages' column formats
(:func:`ui.tables.column_config`), the de-identified cohort and QI tables, and the PDF/HTML
reports (:class:`analytics.rendering.ReportTable` is built from published text).

The cell-level suppression rules (complementary suppression, rounding, markers) are in
:mod:`analytics.privacy`; this module decides which cells of a table they apply to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from .drill_down import client_review_href
from .privacy import WITHHELD_TEXT, SuppressionPolicy, suppress_table

#: The text of a withheld rate or statistic: :data:`analytics.privacy.WITHHELD_TEXT`, as a count
#: withheld to protect another reads (only a small count reads as the policy's marker, "<11").
RATE_WITHHELD = WITHHELD_TEXT

#: Column kinds: "label" (text that identifies the row), "text", "count" (whole number with
#: thousands separators), "pct" (a 0-1 value shown as a percentage with one decimal), "limit"
#: (a 0-1 funnel limit, shown as %), "number" (``decimals`` places), "p" (a p value, two
#: significant digits), "date" (YYYY-MM-DD, never a time of day), "datetime" (a moment, shown
#: in UTC as YYYY-MM-DD HH:MM, never with an offset), "yesno" (a boolean as yes/no), "client"
#: (a client id: on a page a link to the client's review showing the id, in a CSV the plain id;
#: identified tables only).
COLUMN_KINDS = ("label", "text", "count", "pct", "limit", "number", "p", "date", "datetime", "yesno", "client")
PERCENT_KINDS = ("pct", "limit")
VALUE_KINDS = ("pct", "number", "p")


@dataclass(frozen=True)
class Column:
    """One column of a published table: key in the numeric frame, header in the display frame.

    kind: "label" (text that identifies the row), "text", "count", "pct" (a 0-1 value shown as
    a percentage with one decimal), "limit", "number" or "p" (:data:`COLUMN_KINDS`); ``decimals`` for "number".
    ``of`` names the rate's (numerator, denominator) or its denominator, for suppression.
    ``show``: "always", "identified" (left out of de-identified tables: e.g. a rate's
    numerator, which the rate and its n already give) or "never" (a helper column that only
    takes part in suppression). ``part``: one of the parts that add up to the table's total
    column (see :func:`publish_table`).
    """

    key: str
    header: str
    kind: str
    of: tuple[str, str] | str | None = None
    show: str = "always"
    part: bool = False
    decimals: int = 2

    def __post_init__(self) -> None:
        if self.kind not in COLUMN_KINDS:
            raise ValueError(f"column {self.key!r}: kind {self.kind!r} is not one of {COLUMN_KINDS}")

    @property
    def csv_header(self) -> str:
        """The header in a CSV export: the header, with "(%)" for a percentage (a CSV cell
        holds 58.3, so the unit goes in the header) unless the header already says %."""
        if self.kind in PERCENT_KINDS and "%" not in self.header:
            return f"{self.header} (%)"
        return self.header

    def shown(self, deidentified: bool) -> bool:
        return self.show == "always" or (self.show == "identified" and not deidentified)

    def text(self, value: Any) -> str:
        """A published cell as text: counts with thousands separators, percentages (already
        x100 in a published frame) with one decimal, numbers with ``decimals`` places, p values
        with two significant digits; markers as they are; missing as ""."""
        if _missing(value):
            return ""
        if isinstance(value, str):
            return value
        if self.kind == "count":
            return f"{int(value):,}"
        if self.kind in ("pct", "limit"):
            return f"{float(value):.1f}"
        if self.kind == "number":
            return f"{float(value):.{self.decimals}f}"
        if self.kind == "p":
            return f"{float(value):.2g}"
        if self.kind == "date":
            return _date_text(value)
        if self.kind == "datetime":
            return _datetime_text(value)
        if self.kind == "yesno":
            return "yes" if bool(value) else "no"
        return str(value)

    def value(self, value: Any) -> Any:
        """A cell of an analytics frame as a table shows it: counts as whole numbers, 0-1 rates
        as percentages rounded to one decimal, numbers rounded to ``decimals``, p values to
        two significant digits, dates as YYYY-MM-DD text, moments as UTC YYYY-MM-DD HH:MM,
        booleans as yes/no; text (and markers such as "<11") as it is; missing as None."""
        if _missing(value):
            return None
        if isinstance(value, str) and self.kind not in ("date", "datetime"):
            return value
        if self.kind == "count":
            return int(round(float(value)))
        if self.kind in PERCENT_KINDS:
            return round(float(value) * 100.0, 1)
        if self.kind == "number":
            return round(float(value), self.decimals)
        if self.kind == "p":
            return float(f"{float(value):.2g}")
        if self.kind in ("date", "datetime", "yesno"):
            return self.text(value)
        if isinstance(value, (float, np.floating)):
            return f"{float(value):g}"
        return value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class TableFrames:
    """One table as a page shows it and as its CSV export holds it, from one analytics frame
    and one column list (:func:`table_frames`).

    ``display``: headers are the columns' headers; counts are whole numbers (Int64), rates
    percentages with one decimal, numbers rounded, dates YYYY-MM-DD text, missing None (for
    ``st.dataframe`` with :func:`ui.tables.column_config`; a "client" column holds the link to the
    client's review, :func:`analytics.drill_down.client_review_href`). ``csv``: the same cells as text
    (counts without thousands separators, rates with one decimal and "(%)" in the header,
    missing as "", a client as the plain id), headers :attr:`Column.csv_header`."""

    display: pd.DataFrame
    csv: pd.DataFrame
    columns: tuple[Column, ...]


def table_frames(frame: pd.DataFrame, columns: Sequence[Column], *, extra: dict[str, Sequence[Any]] | None = None) -> TableFrames:
    """The display and CSV frames of ``frame`` (keys as the analytics name them) under
    ``columns``: the one place where a table gets its headers, units and rounding.
    ``extra``: text columns added as they are (e.g. a "Note" column), header -> values."""
    columns = tuple(columns)
    display = pd.DataFrame(index=range(len(frame)))
    csv = pd.DataFrame(index=range(len(frame)))
    for col in columns:
        values = [col.value(v) for v in frame[col.key]]
        if col.kind == "count" and not any(isinstance(v, str) for v in values):
            display[col.header] = pd.array(values, dtype="Int64")
        elif col.kind in (*PERCENT_KINDS, "number", "p") and not any(isinstance(v, str) for v in values):
            display[col.header] = pd.array(values, dtype="Float64")
        elif col.kind == "client":
            display[col.header] = pd.Series([None if v is None else client_review_href(v) for v in values],
                                            dtype="object")
        else:
            display[col.header] = pd.Series(values, dtype="object")
        csv[col.csv_header] = [_csv_cell(col, v) for v in values]
    for header, values in (extra or {}).items():
        shown = ["" if _missing(v) else str(v) for v in values]
        display[header] = shown
        csv[header] = shown
    return TableFrames(display=display, csv=csv, columns=columns)


def table_csv(frame: pd.DataFrame, columns: Sequence[Column], **kwargs: Any) -> bytes:
    """The CSV export of ``frame`` under ``columns`` (:func:`table_frames`), as safe CSV bytes."""
    from .privacy import to_safe_csv

    return to_safe_csv(table_frames(frame, columns, **kwargs).csv)


def _csv_cell(col: Column, value: Any) -> Any:
    """A shown value (:meth:`Column.value`) as a CSV cell: fixed decimals, no thousands separators.
    Numbers stay numbers (int, or a Decimal holding the rounded digits), so the CSV's formula
    guard (:func:`analytics.privacy.to_safe_csv`) leaves a negative change as ``-10.0``, not text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if col.kind == "count":
        return int(value)
    if col.kind in PERCENT_KINDS:
        return Decimal(f"{float(value):.1f}")
    if col.kind == "number":
        return Decimal(f"{float(value):.{col.decimals}f}")
    if col.kind == "p":
        return Decimal(f"{float(value):.2g}")
    return str(value)


def _date_text(value: Any) -> str:
    if isinstance(value, str):
        return value[:10]
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def _datetime_text(value: Any) -> str:
    moment = pd.Timestamp(value)
    if moment.tzinfo is not None:
        moment = moment.tz_convert("UTC").tz_localize(None)
    return moment.strftime("%Y-%m-%d %H:%M")


def estimate_columns(key: str, header: str, kind: str = "number", decimals: int = 2) -> tuple[Column, Column, Column]:
    """An estimate and its 95% interval (columns ``ci_low`` and ``ci_high``), all of one kind."""
    return (Column(key, header, kind, decimals=decimals), Column("ci_low", "95% CI low", kind, decimals=decimals),
            Column("ci_high", "95% CI high", kind, decimals=decimals))


@dataclass(frozen=True)
class PublishedTable:
    """A table as published: ``display`` (headers for people; suppressed cells hold markers)
    and ``numeric`` (column keys, 0-1 values, NA where withheld: for charts)."""

    name: str
    title: str
    display: pd.DataFrame
    numeric: pd.DataFrame
    columns: tuple[Column, ...]
    note: str = ""

    @property
    def count_headers(self) -> tuple[str, ...]:
        return tuple(c.header for c in self.columns if c.kind == "count")

    @property
    def empty(self) -> bool:
        return self.numeric.empty

    def csv(self) -> pd.DataFrame:
        """The table as its CSV export holds it: the published cells (markers as they are) as
        text, headers :attr:`Column.csv_header` (rates in %)."""
        out = pd.DataFrame(index=self.display.index)
        for col in self.columns:
            out[col.csv_header] = [
                "" if _missing(v) else col.text(v) if col.kind in ("date", "datetime", "yesno") else _csv_cell(col, v)
                for v in self.display[col.header]
            ]
        return out

    def csv_bytes(self) -> bytes:
        """:meth:`csv` as safe CSV bytes (:func:`analytics.privacy.to_safe_csv`)."""
        from .privacy import to_safe_csv

        return to_safe_csv(self.csv())

    def as_text(self) -> pd.DataFrame:
        """``display`` with every cell as text (for on-screen tables): counts with thousands
        separators, percentages with one decimal, markers as they are, missing as ""."""
        out = pd.DataFrame(index=self.display.index)
        for col in self.columns:
            out[col.header] = [col.text(v) for v in self.display[col.header]]
        return out

    def cell_text(self, column: str, row: str | int = -1) -> str:
        """The published text of one cell (as :meth:`as_text` shows it), found by column *key*,
        never by its header: ``row`` is the value of the table's first (label) column, or a
        position (-1: the last row, e.g. "All"). "" when there is no such row."""
        header = {c.key: c.header for c in self.columns}[column]
        text = self.as_text()
        if isinstance(row, int):
            return str(text[header].iloc[row]) if len(text) else ""
        hit = text[text[self.columns[0].header] == row]
        return str(hit[header].iloc[0]) if len(hit) else ""


def publish_table(
    name: str,
    title: str,
    raw: pd.DataFrame,
    columns: Sequence[Column],
    policy: SuppressionPolicy | None,
    *,
    total_label: str | None = None,
    total_column: str | None = None,
    note: str = "",
) -> PublishedTable:
    """Turn a raw table into a published one.

    With a ``policy`` (de-identified mode) every count and rate is suppressed with
    :func:`analytics.privacy.suppress_table`: complementary suppression against the
    ``total_label`` row (each count column adds up down the rows to it) and, when
    ``total_column`` is given, across the ``part`` columns that add up to it in each row.
    Columns with ``show="identified"`` or ``"never"`` take part in suppression but are left
    out of the published frames. Without a policy (identified mode) values are shown as they are.
    """
    columns = tuple(columns)
    deidentified = policy is not None
    frame = raw[[c.key for c in columns]].reset_index(drop=True)
    visible = tuple(c for c in columns if c.shown(deidentified))
    counts = [c.key for c in columns if c.kind == "count"]
    rates = {c.key: c.of for c in columns if c.kind in VALUE_KINDS and c.of is not None}
    withheld_rates: set[tuple[int, str]] = set()
    numeric = frame.copy()
    shown_counts = {key: frame[key] for key in counts}
    if policy is not None and len(frame):
        labels = [c.key for c in columns if c.kind == "label"]
        if total_column is not None:
            count_arg = [c.key for c in columns if c.part] + [total_column]
            involved = set(count_arg) | {k for spec in rates.values() for k in (spec if isinstance(spec, tuple) else (spec,))}
            loose = [c.key for c in visible if c.kind == "count" and c.key not in involved]
            if loose:
                raise ValueError(f"{name}: count columns outside the total-column structure: {loose}")
        else:
            count_arg = counts
        result = suppress_table(
            frame, count_arg, policy, rate_columns=rates, total_row=total_label or False,
            total_column=total_column or False, group_columns=labels or None,
        )
        for key in counts:
            if key in result.count_columns:
                numeric[key] = result.numeric[key]
                shown_counts[key] = result.display[key]
        for key, spec in rates.items():
            mask = result.mask[key].to_numpy(dtype=bool)
            if isinstance(spec, tuple):
                mask = protect_rate_numerators(mask, frame[spec[0]], result.total_row)
            numeric[key] = result.numeric[key].astype("Float64").mask(mask)
            withheld_rates |= {(int(i), key) for i in np.flatnonzero(mask)}
    display = pd.DataFrame(index=frame.index)
    for col in visible:
        if col.kind == "count":
            display[col.header] = pd.Series(
                [_count_cell(v) for v in shown_counts[col.key]], index=frame.index, dtype="object"
            )
        elif col.kind in ("pct", "limit", "number", "p"):
            digits, scale = (1, 100.0) if col.kind in ("pct", "limit") else (col.decimals, 1.0)
            cells = []
            for i, v in enumerate(numeric[col.key]):
                if (i, col.key) in withheld_rates:
                    cells.append(RATE_WITHHELD)
                elif _missing(v):
                    cells.append(None)
                elif col.kind == "p":
                    cells.append(float(f"{float(v):.2g}"))
                else:
                    cells.append(round(float(v) * scale, digits))
            display[col.header] = pd.Series(cells, index=frame.index, dtype="object")
        else:
            display[col.header] = frame[col.key].astype("object").where(frame[col.key].notna(), None)
    numeric = numeric[[c.key for c in visible]]
    return PublishedTable(name=name, title=title, display=display, numeric=numeric, columns=visible, note=note)


def protect_rate_numerators(rate_hidden: Sequence[bool], numerators: Sequence[Any], total_index: int | None) -> np.ndarray:
    """Extend a column's withheld rates so that no withheld numerator follows from the total.

    In a de-identified table a rate's numerator is known exactly when the rate is shown
    (rate x n), and the overall row's rate gives the total numerator. So if exactly one rate
    below a shown overall rate is withheld (say because n minus the numerator is small), its
    numerator - and with it the small complement - would be the total minus the rest. As in
    complementary suppression, the shown rate with the smallest non-zero numerator is withheld
    too (with none left, the overall rate). Returns the new mask.
    """
    hidden = np.array(rate_hidden, dtype=bool)
    if total_index is None:
        return hidden
    counts = [0.0 if v is None or pd.isna(v) else float(v) for v in numerators]
    members = [i for i in range(len(hidden)) if i != total_index]
    while not hidden[total_index] and sum(bool(hidden[i]) for i in members) == 1:
        candidates = [i for i in members if not hidden[i] and counts[i] > 0]
        if candidates:
            hidden[min(candidates, key=lambda i: (counts[i], i))] = True
        else:
            hidden[total_index] = True
    return hidden




def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _count_cell(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if _missing(value):
        return None
    return int(value)


