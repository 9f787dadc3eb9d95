"""Quality improvement, issue 15 items 2, 3 and 13: the outcome grouping chosen so that cells clear
the small-number rules, the period's KPIs against the previous period and the target, no chart
marker for a withheld value, and a meeting pack that opens with its summary and does not call
itself safe to send round under the public development pseudonym key.

On the 300-client sample clinic (tests/conftest.py), de-identified by default like the page."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from analytics import CohortFilter, Viewer
from analytics.privacy import WITHHELD_TEXT
from analytics.quality_improvement.charts import activity_figure, funnel_figure, homework_figure, outcomes_figure
from analytics.quality_improvement.meeting_pack import pack_content
from analytics.quality_improvement.model import (
    AUTO_PERIOD,
    AUTO_PERIOD_SHARE,
    OUTCOME_PERIODS,
    PREVIOUS_PERIOD,
    RECOVERY_STANDARD,
    TARGET_ROW,
    THIS_PERIOD,
    TWELVE_MONTHS,
    funnel_gap,
    period_kpis,
    period_label,
    previous_period_text,
    quality_report,
    sharing_status,
)

LOCAL = Viewer.local()
KEY = "periods-test-pseudonym-key-0123456789"


def _share_shown(table) -> float:
    rows = table.numeric.iloc[:-1]
    return rows[["recovery_rate", "improvement_rate"]].notna().any(axis=1).sum() / len(rows)


def test_twelve_month_periods_count_back_from_the_report_end():
    start, end = date(2024, 2, 1), date(2026, 9, 30)
    labels = {period_label(pd.Timestamp(d), TWELVE_MONTHS, start, end) for d in
              ("2026-09-30", "2025-10-01", "2025-09-15", "2024-10-01", "2024-09-30", "2024-02-01")}
    assert labels == {"2025-10 to 2026-09", "2024-10 to 2025-09", "2024-02 to 2024-09"}  # the first is shorter
    assert period_label(pd.Timestamp("2026-03-04"), "quarter") == "2026-Q1"
    assert period_label(pd.Timestamp("2026-03-04"), "month") == "2026-03"


def test_the_outcome_grouping_is_chosen_so_that_the_rates_clear_the_rules(sample_db):
    """Issue 15, item 2: by month the de-identified outcome trend is almost empty; "auto" takes the
    finest grouping in which at least half the periods show a recovery or reliable-improvement rate,
    says so, and leaves an explicit choice alone."""
    auto = quality_report(sample_db, LOCAL, months=24, outcome_period=AUTO_PERIOD)
    shares = {g: _share_shown(quality_report(sample_db, LOCAL, months=24, outcome_period=g).trends_outcomes)
              for g in OUTCOME_PERIODS}
    assert shares["month"] < AUTO_PERIOD_SHARE  # the issue: the month view shows almost nothing
    expected = next((g for g in OUTCOME_PERIODS if shares[g] >= AUTO_PERIOD_SHARE), TWELVE_MONTHS)
    assert auto.outcome_period == expected != "month"
    assert _share_shown(auto.trends_outcomes) >= AUTO_PERIOD_SHARE
    assert "chosen automatically" in auto.period_choice and "by month" in auto.period_choice
    assert expected in auto.trends_outcomes.title
    # An explicit grouping is kept; the identified view (nothing withheld) goes by month.
    assert quality_report(sample_db, LOCAL, months=24, outcome_period="quarter").outcome_period == "quarter"
    identified = quality_report(sample_db, LOCAL, months=24, outcome_period=AUTO_PERIOD, deidentified=False)
    assert identified.outcome_period == "month"
    with pytest.raises(ValueError, match="outcome_period"):
        quality_report(sample_db, LOCAL, outcome_period="week")


def test_the_period_summary_is_this_period_against_the_previous_one_and_the_target(sample_db):
    report = quality_report(sample_db, LOCAL, months=12, outcome_period=AUTO_PERIOD)
    summary = report.summary
    assert list(summary.numeric["period"]) == [THIS_PERIOD, PREVIOUS_PERIOD, TARGET_ROW]
    assert (report.previous_start, report.previous_end) == (date(2024, 10, 1), date(2025, 9, 30))
    # This period's cells are the All row of the outcomes table, withheld by the same rules.
    this = summary.display.iloc[0]
    for header in ("Finished treatment", "Recovery (%)", "Reliable improvement (%)", "Reliable deterioration (%)"):
        assert this[header] == report.trends_outcomes.display[header].iloc[-1], header
    # The previous period is the report one year earlier; a cell withheld this period is withheld then too
    # (else "last 24 months" minus this period would give it back).
    earlier = quality_report(sample_db, LOCAL, months=12, as_of=report.previous_end, outcome_period=AUTO_PERIOD)
    before = summary.display.iloc[1]
    for header in ("Finished treatment", "Recovery (%)", "Reliable improvement (%)"):
        if isinstance(this[header], str):
            assert before[header] == WITHHELD_TEXT, header
        else:
            assert before[header] == earlier.trends_outcomes.display[header].iloc[-1], header
    assert summary.numeric["recovery_rate"].iloc[2] == RECOVERY_STANDARD  # the NHS paired definitions
    kpis = {k.label: k for k in period_kpis(report)}
    assert list(kpis) == ["Finished treatment", "Recovery", "Reliable improvement", "Reliable deterioration",
                          "Mean homework quantity"]
    finished = summary.numeric["finished"]
    assert kpis["Finished treatment"].delta == f"{int(finished.iloc[0]) - int(finished.iloc[1]):+,}"
    quantity = summary.numeric["mean_quantity"]
    assert kpis["Mean homework quantity"].delta == f"{(quantity.iloc[0] - quantity.iloc[1]) * 100:+.1f} pp"
    assert kpis["Recovery"].target.startswith("NHS standard 50%")
    assert not kpis["Reliable deterioration"].higher_is_better
    for kpi in kpis.values():  # a withheld value never gets a change
        assert kpi.delta is None or not kpi.value == WITHHELD_TEXT


def _matches(trace, numeric: pd.DataFrame) -> bool:
    """Whether some column of ``numeric`` is the trace: a gap exactly where the column is NA (withheld
    or missing) and the value (x1 or x100) elsewhere. Name-agnostic, so restyled charts still count."""
    ys = list(trace.y)
    for key in numeric.columns:
        values = pd.to_numeric(numeric[key], errors="coerce")
        if len(values) != len(ys):
            continue
        for scale in (1.0, 100.0):
            if all((y is None) == pd.isna(v) and (y is None or y == pytest.approx(float(v) * scale))
                   for y, v in zip(ys, values, strict=True)):
                return True
    return False


def test_no_chart_marker_for_a_withheld_value(sample_db):
    """Issue 15, item 2: a withheld value leaves a gap in every chart (a 0% marker would read as a value)."""
    report = quality_report(sample_db, LOCAL, months=24, outcome_period="month")
    outcomes = report.trends_outcomes
    numeric = outcomes.numeric[outcomes.numeric["period"] != "All"].drop(columns="period").reset_index(drop=True)
    fig = outcomes_figure(outcomes, report.measure)
    series = [t for t in fig.data if t.y is not None and len(t.y) == len(numeric)]
    assert len(series) >= 3
    assert all(_matches(t, numeric) for t in series), [t.name for t in series if not _matches(t, numeric)]
    assert sum(y is None for t in series for y in t.y) > 10  # withheld values are gaps, not zeros
    activity = report.trends_activity
    for fig in (activity_figure(activity), homework_figure(activity)):
        traces = [t for t in fig.data if t.y is not None and len(t.y) == len(activity.numeric)]
        assert traces and all(_matches(t, activity.numeric.drop(columns="month")) for t in traces)
    for panel in report.funnels:
        plotted = sum(len(t.x) for t in funnel_figure(panel).data if t.mode and "markers" in t.mode)
        units = panel.table.numeric.iloc[:-1]
        assert plotted == int((units["n"].notna() & units["value"].notna() & units["lower_95"].notna()).sum())


def test_a_comparison_says_plainly_why_units_are_left_out(sample_db):
    """Issue 15, item 2: the pack said "too few clients to compare" for every therapist with no reason."""
    report = quality_report(sample_db, LOCAL, months=12)
    panel = report.funnel("therapist", "recovery")
    units = panel.table.numeric.iloc[:-1]
    plotted = int((units["n"].notna() & units["value"].notna() & units["lower_95"].notna()).sum())
    assert 0 < plotted < len(units)
    text = funnel_gap(panel, report)
    assert text.startswith(f"{len(units) - plotted} of {len(units)} therapists not plotted: ")
    assert "withheld under the small-number rules" in text and "Last 24 months or All months" in text
    counted = [int(part.split(" ")[0]) for part in text.split(" not plotted: ")[1].split(". A longer")[0].split("; ")]
    assert sum(counted) == len(units) - plotted
    # A comparison with no unit to plot says so.
    clinic = sample_db.execute_sql("SELECT clinic, count(*) AS n FROM clients GROUP BY 1 ORDER BY n")["clinic"][0]
    small = quality_report(sample_db, LOCAL, CohortFilter.of(clinics=(clinic,)), months=12)
    empty = small.funnel("therapist", "recovery")
    assert funnel_gap(empty, small).startswith("No therapist can be compared on recovery rate in 2025-10 to 2026-09: ")


def test_the_pack_opens_with_its_summary_and_is_not_safe_to_share_under_the_development_key(sample_db,
                                                                                             monkeypatch):
    """Issue 15, item 13: the pack called itself "safe to send round" under a warning that the
    pseudonyms use the public development key."""
    monkeypatch.delenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", raising=False)
    report = quality_report(sample_db, LOCAL, months=12, outcome_period=AUTO_PERIOD)
    assert report.pseudonym_note and "development key" in report.pseudonym_note
    content = pack_content(report)
    assert content.header_lines[0].startswith("**Summary: 2025-10 to 2026-09 against the previous period")
    assert any(line.startswith("Recovery: ") and "NHS standard 50%" in line for line in content.header_lines[:7])
    assert content.lead_tables[0].title == "This period against the previous period"  # page 1: the summary
    assert "This period against the previous period" not in [t.title for t in content.pdf_tables]
    everything = " ".join([content.subtitle, *content.alerts, *content.header_lines, *content.notes])
    assert "NOT safe to send round" in everything and "safe to send round within" not in everything
    assert any("NOT safe to send round" in alert for alert in content.alerts)
    assert '"suppressed"' in " ".join(content.notes)  # the footnote explains both texts

    monkeypatch.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", KEY)
    keyed = quality_report(sample_db, LOCAL, months=12)
    assert keyed.pseudonym_note is None
    assert sharing_status(keyed) == "De-identified: safe to send round within the organisation."
    assert not pack_content(keyed).alerts or "safe" not in " ".join(pack_content(keyed).alerts)


def test_a_previous_period_before_the_data_begin_is_named_as_such(sample_db):
    """A 24-month report of a clinic whose data begin inside the previous 24 months: the change against
    it is mostly the data's start, and the page and pack say so."""
    report = quality_report(sample_db, LOCAL, months=24)
    assert report.previous_start < report.first_intake <= report.previous_end
    assert previous_period_text(report) == (f"{report.previous_start:%Y-%m} to {report.previous_end:%Y-%m}: the data "
                                            f"begin in {report.first_intake:%Y-%m}, so it covers fewer months than "
                                            "this period")
    assert previous_period_text(quality_report(sample_db, LOCAL, months=None)) == "no previous period (all months)"
