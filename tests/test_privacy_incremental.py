"""The incremental complementary-suppression loop hides exactly what the loop it replaced hid.

``analytics.privacy._complementary_suppression`` keeps every rule's state up to date one added
cell at a time (session 10) instead of redoing the whole audit each round. The loop it replaced is
kept verbatim in ``tests/support/reference_suppression.py``; here both run on the same tables and
must give the same cells with the same reasons (and so the same withheld tables): small random
tables of every layout (hypothesis), tables with missing counts, given totals that are not the sums
of their cells, rate numerators outside the total column, and seeded tables of hundreds of rows in
the shapes the QI report publishes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from analytics.privacy import (
    DEFAULT_POLICY,
    REASON_COMPLEMENTARY,
    REASON_TABLE_WITHHELD,
    SuppressionPolicy,
    suppress_table,
)
from tests.support.reference_suppression import reference_suppress_table
from tests.test_privacy import _count, _outcome_shape

POLICIES = [
    DEFAULT_POLICY,
    SuppressionPolicy(threshold=6),
    SuppressionPolicy(threshold=5, suppress_zero=True),
    SuppressionPolicy.nhs_england(),
    SuppressionPolicy.nhs_digital(),
    SuppressionPolicy(threshold=2),
]


def assert_same(frame: pd.DataFrame, counts: list[str], policy: SuppressionPolicy, **options) -> pd.DataFrame:
    """Both loops on one table: the same reasons in every cell (and so the same mask)."""
    old = reference_suppress_table(frame, counts, policy, **options)
    new = suppress_table(frame, counts, policy, **options)
    pd.testing.assert_frame_equal(new.reasons, old.reasons)
    pd.testing.assert_frame_equal(new.mask, old.mask)
    pd.testing.assert_frame_equal(new.display, old.display)
    return new.reasons


_maybe_missing = st.one_of(_count, st.none())


@settings(max_examples=300, deadline=None)
@given(
    grid=st.integers(1, 5).flatmap(
        lambda cols: st.lists(st.lists(_count, min_size=cols, max_size=cols), min_size=1, max_size=9)
    ),
    policy=st.sampled_from(POLICIES),
    layout=st.sampled_from(["margins", "row", "column", "given", "given-off", "rates"]),
)
@example(grid=[[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]], policy=SuppressionPolicy(threshold=3), layout="margins")
@example(grid=[[30, 1], [10, 9]], policy=DEFAULT_POLICY, layout="margins")
def test_property_same_cells_as_the_reference_loop(grid: list[list[int]], policy: SuppressionPolicy, layout: str):
    """Every layout: margins both ways, a total row only, a total column only, totals given in the
    table (exact, or off by one: no flow to start from, the old audit answers), and rate columns
    whose numerators are counts outside the total column."""
    parts = [f"c{j}" for j in range(len(grid[0]))]
    frame = pd.DataFrame(grid, columns=parts)
    frame.insert(0, "unit", [f"u{i}" for i in range(len(grid))])
    if layout == "margins":
        assert_same(frame, parts, policy, margins=True)
    elif layout == "row":
        assert_same(frame, parts, policy, total_row="All")
    elif layout == "column":
        if len(parts) >= 2:
            assert_same(frame, parts, policy, total_column="Total")
    elif layout in ("given", "given-off"):
        frame["Total"] = frame[parts].sum(axis=1)
        total = {"unit": "All", **{c: int(frame[c].sum()) for c in [*parts, "Total"]}}
        if layout == "given-off":
            total[parts[0]] += 1
            frame.loc[len(frame) - 1, "Total"] += 2
        frame = pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
        assert_same(frame, parts, policy, total_row="All", total_column="Total", group_columns=["unit"])
    else:
        numerators = {f"n{j}": [v // 2 for v in frame[c]] for j, c in enumerate(parts)}
        for name, column in numerators.items():
            frame[name] = column
        rates = {f"r{j}": (f"n{j}", c) for j, c in enumerate(parts)}
        for rate, (num, den) in rates.items():
            frame[rate] = frame[num] / frame[den].where(frame[den] > 0)
        options = {"total_row": "All", "group_columns": ["unit"], "rate_columns": rates}
        if len(parts) >= 2:
            options["total_column"] = "Total"
        assert_same(frame, parts, policy, **options)


@settings(max_examples=150, deadline=None)
@given(
    grid=st.integers(2, 4).flatmap(
        lambda cols: st.lists(st.lists(_maybe_missing, min_size=cols, max_size=cols), min_size=1, max_size=8)
    ),
    policy=st.sampled_from(POLICIES),
    layout=st.sampled_from(["margins", "row", "column"]),
)
def test_property_same_cells_with_missing_counts(grid: list[list[int | None]], policy: SuppressionPolicy, layout: str):
    """Missing counts stay missing, count as 0 in totals, and a missing total gives no equation."""
    parts = [f"c{j}" for j in range(len(grid[0]))]
    frame = pd.DataFrame(grid, columns=parts, dtype=object)
    frame.insert(0, "unit", [f"u{i}" for i in range(len(grid))])
    options = {"margins": {"margins": True}, "row": {"total_row": "All"}, "column": {"total_column": "Total"}}
    assert_same(frame, parts, policy, **options[layout])
    # A given total column with a missing total: that row has no equation.
    frame["Total"] = [None if k % 3 == 1 else sum(v or 0 for v in row) for k, row in enumerate(grid)]
    assert_same(frame, parts, policy, total_row="All", total_column="Total", group_columns=["unit"])


def _therapist_table(rng: np.random.Generator, rows: int, mean: float) -> pd.DataFrame:
    """Like the QI report's per-therapist outcome counts (a long tail of small therapists)."""
    finished = rng.negative_binomial(2, 2 / (2 + mean), rows)
    case = rng.binomial(finished, 0.85)
    frame = pd.DataFrame({
        "unit": [f"T-{i:05d}" for i in range(rows)],
        "finished": finished,
        "caseness_at_first": case,
        "recovered": rng.binomial(case, 0.5),
        "reliable_improvement": rng.binomial(finished, 0.65),
        "reliable_deterioration": rng.binomial(finished, 0.06),
    })
    total = {"unit": "All", **{c: int(frame[c].sum()) for c in frame.columns if c != "unit"}}
    frame = pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
    frame["not_caseness_at_first"] = frame["finished"] - frame["caseness_at_first"]
    frame["recovery_rate"] = frame["recovered"] / frame["caseness_at_first"].where(frame["caseness_at_first"] > 0)
    frame["improvement_rate"] = frame["reliable_improvement"] / frame["finished"].where(frame["finished"] > 0)
    frame["deterioration_rate"] = frame["reliable_deterioration"] / frame["finished"].where(frame["finished"] > 0)
    return frame


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_large_therapist_tables_same_cells_as_the_reference_loop(seed: int) -> None:
    """Hundreds of therapists, as ``outcome_masks`` and ``publish_table(OUTCOME_COLUMNS)`` suppress
    them: a total row, a total column (finished) of two parts, and rate numerators."""
    rng = np.random.default_rng(seed)
    frame = _therapist_table(rng, int(rng.integers(200, 400)), float(rng.choice([8.0, 20.0, 40.0])))
    rates = {
        "recovery_rate": ("recovered", "caseness_at_first"),
        "improvement_rate": ("reliable_improvement", "finished"),
    }
    masks = assert_same(
        frame, ["caseness_at_first", "not_caseness_at_first"], DEFAULT_POLICY,
        rate_columns=rates, total_row="All", total_column="finished", group_columns=["unit"],
    )
    assert masks.eq(REASON_COMPLEMENTARY).to_numpy().sum() > 50  # the loop had plenty to do
    rates["deterioration_rate"] = ("reliable_deterioration", "finished")
    assert_same(
        frame, ["caseness_at_first", "not_caseness_at_first", "finished"], SuppressionPolicy.nhs_england(),
        rate_columns=rates, total_row="All", total_column="finished", group_columns=["unit"],
    )


@pytest.mark.parametrize("policy", POLICIES[:4], ids=["cms", "threshold-6", "zeros-suppressed", "nhs-england"])
def test_large_cross_tabs_and_unit_lists_same_cells_as_the_reference_loop(policy: SuppressionPolicy) -> None:
    """Cross-tabs with margins (hundreds of rows, four parts), long unit lists with a total row only,
    and unit tables whose given All row is not the sum of their units."""
    rng = np.random.default_rng(20261206)
    for rows in (150, 300):
        counts = {f"c{j}": rng.poisson(rng.choice([2, 6, 15]), rows) for j in range(4)}
        frame = pd.DataFrame({"unit": [f"u{i}" for i in range(rows)], **counts})
        assert_same(frame, list(counts), policy, margins=True)
        assert_same(frame, list(counts), policy, total_row="All")
    for slack in (0, 2):
        frame, parts, options = _outcome_shape(rng, 250, 1.0, slack)
        assert_same(frame, parts, policy, **options)


def test_withheld_tables_same_as_the_reference_loop() -> None:
    """A table too small for any count to be shown safely is withheld whole by both loops."""
    frame = pd.DataFrame({"unit": ["a", "b"], "c0": [0, 0], "c1": [0, 1], "c2": [0, 1]})
    reasons = assert_same(frame, ["c0", "c1", "c2"], SuppressionPolicy(threshold=3), margins=True)
    assert reasons.eq(REASON_TABLE_WITHHELD).to_numpy().any()
