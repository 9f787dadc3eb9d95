"""NHS Talking Therapies national figures (issue 16 item 3).

The product's paired rates (:func:`analytics.metrics.nhs_paired_rates`, the one definition
``paired_summary`` uses) recompute NHS England's published annual rates from the published
counts, and NHS England's publication rounding is offered as a suppression style beside ours.
The published figures are the extract in tests/data/nhstt/ (Open Government Licence v3.0,
tests/data/README.md).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pandas as pd
import pyarrow.parquet as pq
import pytest

from analytics import Viewer
from analytics.config import Settings, load_settings
from analytics.metrics import Rate, nhs_paired_rates
from analytics.nhs_talking_therapies import (
    COUNTS,
    RATES,
    SUPPRESSED,
    compare_published,
    comparison_table,
    read_published,
)
from analytics.privacy import (
    WITHHELD_TEXT,
    SuppressionPolicy,
    format_count,
    policy_for_style,
    suppress_count,
    suppress_table,
)
from analytics.quality_improvement.model import suppression_policy
from tests.conftest import ROOT

EXTRACT = ROOT / "tests" / "data" / "nhstt" / "measures_annual_extract.parquet"
LOCAL = Viewer.local()


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    return read_published(EXTRACT)


@pytest.fixture(scope="module")
def compared(published) -> pd.DataFrame:
    return compare_published(published)


# ----------------------------------------------------------------------------- the definition


def test_england_2024_25_from_the_issue():
    # 321,061 / (670,419 - 35,234) = 321,061 / 635,185 = 0.50546... -> 50.5%
    # 301,815 / 635,185 = 0.47516... -> 47.5%; 452,284 / 670,419 = 0.67463 -> 67.5%;
    # 39,157 / 670,419 = 0.05841 -> 5.8%
    rates = nhs_paired_rates(finished=670_419, not_caseness_at_start=35_234, recovered=321_061,
                             reliable_recovery=301_815, reliable_improvement=452_284, reliable_deterioration=39_157)
    assert rates["recovery_rate"] == Rate(321_061, 635_185)
    assert rates["recovery_rate"].percent(1) == Decimal("50.5")
    assert rates["reliable_recovery_rate"].percent(1) == Decimal("47.5")
    assert rates["reliable_improvement_rate"] == Rate(452_284, 670_419)
    assert rates["reliable_improvement_rate"].percent(1) == Decimal("67.5")
    assert rates["reliable_deterioration_rate"].percent(1) == Decimal("5.8")


def test_england_2024_25_is_in_the_extract_as_the_issue_quotes_it(published):
    row = published[(published["org_type"] == "England") & (published["reporting_period"] == "2024-25")
                    & (published["variable_type"] == "Total")]
    assert len(row) == 1
    row = row.iloc[0]
    assert (row["finished_course_treatment_count"], row["not_at_caseness_count"], row["recovery_count"]) == (
        "670419", "35234", "321061")
    assert (row["recovery_percentage"], row["reliable_recovery_percentage"]) == ("50.5", "47.5")


def test_publication_rounding_is_exact_half_up():
    assert Rate(1, 8).percent(0) == Decimal("13")  # 12.5 -> 13 (half up, never to even)
    assert Rate(1, 2000).percent(1) == Decimal("0.1")  # 0.05 -> 0.1 (exact: no float 0.04999...)
    assert Rate(3, 40).percent(0) == Decimal("8")  # 7.5 -> 8
    assert Rate(0, 7).percent(1) == Decimal("0.0")
    assert Rate(5, 0).percent(1) is None and Rate(5, 0).value is None
    assert nhs_paired_rates(finished=10, not_caseness_at_start=None, recovered=4)["recovery_rate"] is None
    assert nhs_paired_rates(finished=10, not_caseness_at_start=2, recovered=4)["recovery_rate"] == Rate(4, 8)


# ----------------------------------------------------------------------------- published national rates


def test_every_unsuppressed_published_rate_is_recomputed(published, compared):
    # Counted independently of compare_published: published percentages (not "*") whose counts
    # (the numerator, finished and, for the recovery rates, not at caseness) are all published.
    def shown(column: str) -> pd.Series:
        return published[column].notna() & (published[column] != SUPPRESSED) & (published[column] != "NULL")

    needs = {"recovery": "recovery", "reliable_recovery": "reliable_recovery", "improvement": "improvement",
             "deterioration": "deterioration"}
    expected = 0
    for measure, numerator in needs.items():
        ok = shown(f"{measure}_percentage") & shown(f"{numerator}_count") & shown("finished_course_treatment_count")
        if measure in ("recovery", "reliable_recovery"):
            ok &= shown("not_at_caseness_count")
        expected += int(ok.sum())
    assert expected > 13_000
    assert int(compared["compared"].sum()) == expected


def test_published_rates_equal_the_product_definition(compared, capsys):
    table = comparison_table(compared).set_index(["org_type", "breakdown"])
    with capsys.disabled():
        print("\nNHS Talking Therapies annual rates (tests/data/nhstt extract), recomputed with nhs_paired_rates:")
        print(table.to_string())
    england = compared[compared["org_type"] == "England"]
    # England: counts exact, percentages to 1 dp: every one equal, no tolerance.
    assert len(england) == 3_148 and england["compared"].all() and england["equal"].all()
    # Totals of every organisation: rows compared and rows equal (equal after NHS rounding).
    all_row = table.loc[("All", "")]
    assert (all_row["published"], all_row["compared"], all_row["equal"]) == (13_412, 13_117, 12_254)
    assert {k: int(table.loc[(k, "Total"), "equal"]) for k in ("England", "Commissioning Region", "ICB", "STP",
                                                                 "CCG", "Provider")} == {
        "England": 32, "Commissioning Region": 232, "ICB": 504, "STP": 854, "CCG": 3_172, "Provider": 4_344}
    # Below England the counts are rounded to 5, so an unequal rate must still be reachable from
    # counts within that rounding: none is not.
    assert int(all_row["inconsistent"]) == 0


def test_a_different_definition_would_not_reproduce_them(published):
    # Negative control: recovery over all finished courses (not minus those not at caseness)
    # misses England's published recovery rates, so the comparison can tell definitions apart.
    england = published[(published["org_type"] == "England") & (published["variable_type"] == "Total")]
    assert len(england) == 8  # 2017-18 .. 2024-25
    wrong = [Rate(int(r["recovery_count"]), int(r["finished_course_treatment_count"])).percent(1)
             == Decimal(r["recovery_percentage"]) for r in england.to_dict("records")]
    right = [nhs_paired_rates(int(r["finished_course_treatment_count"]), int(r["not_at_caseness_count"]),
                              int(r["recovery_count"]))["recovery_rate"].percent(1)
             == Decimal(r["recovery_percentage"]) for r in england.to_dict("records")]
    assert (sum(wrong), sum(right)) == (0, 8)


def test_extract_holds_the_needed_measures_only():
    long = pq.read_table(EXTRACT).to_pandas()
    assert set(long["measure_name"]) == set(COUNTS)
    assert set(long["measure_statistic"]) == {"count", "percentage"}
    assert set(long.loc[long["measure_statistic"] == "percentage", "measure_name"]) == set(RATES)
    assert EXTRACT.stat().st_size < 300_000


# ----------------------------------------------------------------------------- NHS England suppression


def test_nhs_england_publishes_zero_as_suppressed(published):
    """A count that is 0 for England is 0 everywhere, and every other organisation shows "*"."""
    long = pq.read_table(EXTRACT).to_pandas()
    counts = long[long["measure_statistic"] == "count"]
    england_zero = counts[(counts["org_type"] == "England") & (counts["value"] == "0")]
    assert len(england_zero) == 8
    cell = ["reporting_period", "variable_type", "variable_a", "variable_b", "measure_name"]
    below = counts[counts["org_type"] != "England"].merge(england_zero[cell], on=cell)
    assert len(below) > 1_000 and set(below["value"]) == {SUPPRESSED}
    # And below England no published count is under 5 or off a multiple of 5.
    values = pd.to_numeric(counts.loc[counts["org_type"] != "England", "value"], errors="coerce").dropna()
    assert values.min() >= 5 and (values % 5 == 0).all()


def test_nhs_england_policy_cells():
    policy = SuppressionPolicy.nhs_england()
    assert policy == policy_for_style("nhs_england")
    assert [suppress_count(n, policy) for n in (0, 1, 2, 3, 4)] == [None] * 5  # 0 included: "under 5"
    assert [suppress_count(n, policy) for n in (5, 6, 7, 8, 9, 10, 12, 13, 670_419)] == [
        5, 5, 5, 10, 10, 10, 10, 15, 670_420]
    assert format_count(3, policy) == format_count(0, policy) == "<5"
    assert policy.description == ("NHS England publication rounding: counts from 0 to 4 suppressed, other "
                                  "counts rounded to the nearest 5.")
    # Halves (an even rounding step) round up; the CMS rule shows 0 and does not round.
    assert [SuppressionPolicy(threshold=5, round_to=10).round_count(n) for n in (14, 15, 25)] == [10, 20, 30]
    cms = SuppressionPolicy.cms()
    assert [suppress_count(n, cms) for n in (0, 1, 10, 11, 13)] == [0, None, None, 11, 13]
    assert cms.style == "CMS cell-size policy" and SuppressionPolicy.nhs().style == "NHS Digital small-number rule"


def test_nhs_england_policy_table_withholds_a_zero_that_a_total_would_give_back():
    df = pd.DataFrame({"group": ["A", "B", "C", "All"], "n": [0, 12, 23, 35]})
    result = suppress_table(df, ["n"], SuppressionPolicy.nhs_england(), total_row="All")
    # 0 is withheld, then B (the smallest shown non-zero) so that 35 - 10 - 25 cannot give it back;
    # B hides 12, so it reads "suppressed", not "<5" (issue 15, item 1).
    assert result.display["n"].tolist() == ["<5", WITHHELD_TEXT, 25, 35]


def test_the_style_is_chosen_in_the_settings(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('suppression_style = "nhs_england"\n', encoding="utf-8")
    assert suppression_policy(load_settings(path)) == SuppressionPolicy.nhs_england()
    assert suppression_policy(Settings()) == SuppressionPolicy.cms()
    with pytest.raises(ValueError, match="suppression_style 'nhs'"):
        Settings(suppression_style="nhs")
    with pytest.raises(ValueError, match="own threshold"):
        Settings(suppression_style="nhs_england", suppression_threshold=8)


def test_a_quality_table_under_the_nhs_england_style(sample_db, monkeypatch):
    from analytics.quality_improvement.model import quality_report

    monkeypatch.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", "nhs-style-test-key-0123456789")
    settings = Settings(suppression_style="nhs_england")
    report = quality_report(sample_db, LOCAL, months=24, deidentified=True, settings=settings)
    assert "NHS England publication rounding" in report.privacy_note
    assert 'Counts from 0 to 4 are shown as "<5"' in report.privacy_note
    shown_counts = 0
    for table in report.tables():
        for header in table.count_headers:
            for v in table.display[header]:
                if isinstance(v, (int, float)) and not isinstance(v, bool) and not pd.isna(v):
                    assert v >= 5 and v % 5 == 0, (table.name, header, v)  # no 0-4, all multiples of 5
                    shown_counts += 1
    assert shown_counts > 20
    cms = quality_report(sample_db, LOCAL, months=24, deidentified=True, settings=Settings())
    assert "CMS cell-size policy" in cms.privacy_note and "Counts from 1 to 10" in cms.privacy_note


def test_rate_bounds_use_the_rounding_of_five():
    # A provider row: 20 finished, 5 not at caseness, 10 recovered (all rounded to 5).
    # Recomputed: 10 / (20 - 5) = 66.7% -> 67. True counts within 2 of each, never under 5:
    # lowest 8 / (22 - 5) = 8/17 (47%), highest 12 / (18 - 7) > 1, so 100%.
    from analytics.nhs_talking_therapies import _rate_bounds

    low, high = _rate_bounds("recovery_rate", {"finished_course_treatment": 20, "not_at_caseness": 5,
                                               "recovery": 10})
    assert (low, high) == (Fraction(8, 17), Fraction(1))


def test_the_de_identified_cohort_view_under_the_nhs_england_style(sample_db, monkeypatch):
    """The Cohort outcomes page's de-identified view: the same style (counts 0-4 withheld, the
    rest multiples of 5), its note names it, and the adjacent-month guard does not treat two
    equal counts (a difference of 0) as a small difference to withhold."""
    from analytics import deidentified as de
    from analytics.scope import CohortFilter

    monkeypatch.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", "nhs-style-test-key-0123456789")
    months = de.intake_months(sample_db, Viewer(role="qi", email="qi@org"))
    start, end = de.month_bounds(months[0], months[len(months) // 2])
    cohort = CohortFilter.of(intake_from=start, intake_to=end)
    settings = Settings(suppression_style="nhs_england")
    view = de.deidentified_cohort_view(sample_db, Viewer(role="qi", email="qi@org"), cohort, "PHQ-9", settings)
    assert view.enough and view.minimum == 5
    assert view.note.startswith("De-identified view:") and 'Counts from 0 to 4 are shown as "<5"' in view.note
    assert view.note.endswith("Suppression style: NHS England publication rounding.")
    shown = [v for v in de.published_counts(view.bands, None).values() if v is not None]
    assert len(shown) >= 4 and all(v >= 5 and v % 5 == 0 for v in shown)
    clients = view.headline[0].display.replace(",", "")  # withheld when an adjacent month differs by 1-4
    # A count hidden by that guard is not small: "suppressed", never "<5" (issue 15, item 1).
    assert clients in ("<5", WITHHELD_TEXT) or int(clients) % 5 == 0
