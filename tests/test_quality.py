"""Quality-improvement analytics: trends, funnels, alerts, suppression and pseudonyms."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics import ClinicDatabase, CohortFilter, Settings, Viewer, filter_options, import_files
from analytics.metrics import cut_values
from analytics.privacy import SuppressionPolicy
from analytics.publishing import RATE_WITHHELD, Column, publish_table
from analytics.quality_improvement.model import (
    ALERT_ALL,
    ALERT_COUNT_COLUMNS,
    ALERT_GROUP_DONE,
    ALERT_GROUP_LITTLE,
    ALERT_GROUP_NONE,
    ALERT_GROUP_RISK,
    ALERT_RULES,
    ALL_LABEL,
    OUTCOME_COLUMNS,
    OUTSIDE_STATUSES,
    STATUS_HIGH_95,
    STATUS_HIGH_998,
    STATUS_LOW_95,
    STATUS_LOW_998,
    STATUS_TOO_FEW,
    STATUS_WITHIN,
    _alert_rows,
    _funnel_panel,
    alert_clients,
    alert_group_counts,
    funnel_frame,
    monthly_activity,
    outcome_masks,
    quality_report,
    report_dates,
    report_period,
    suppression_policy,
    therapist_pseudonym,
)
from tests.support.clinics import FIXTURE_TODAY, ROOT, fixture_csv, write_csv

LOCAL = Viewer.local()
Z95, Z998 = 1.959964, 3.090232
CMS = SuppressionPolicy()


def _ids(db: ClinicDatabase) -> set[str]:
    return set(db.execute_sql("SELECT client_id FROM clients")["client_id"])


def _cells(table) -> list[str]:
    return [str(v) for v in table.display.to_numpy().ravel()] + [str(v) for v in table.numeric.to_numpy().ravel()]


def _small_counts(table) -> list:
    """Shown counts from 1 to 10 in a published table's count columns."""
    bad = []
    for header in table.count_headers:
        for v in table.display[header]:
            if isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v <= 10:
                bad.append((table.name, header, v))
    return bad


# ----------------------------------------------------------------------------- report period


def test_report_period_uses_complete_months_before_as_of():
    assert report_period(date(2026, 11, 1), 12) == (date(2025, 11, 1), date(2026, 10, 31))
    assert report_period(date(2026, 10, 31), 2) == (date(2026, 9, 1), date(2026, 10, 31))
    assert report_period(date(2026, 11, 15), None, date(2024, 1, 22)) == (date(2024, 1, 1), date(2026, 10, 31))
    # No complete month yet: the month in progress.
    assert report_period(date(2026, 11, 5), None, date(2026, 11, 2)) == (date(2026, 11, 1), date(2026, 11, 5))


# ----------------------------------------------------------------------------- trends (tiny clinic)


def test_monthly_trends_on_the_tiny_clinic(tiny_db):
    report = quality_report(tiny_db, LOCAL, months=None, deidentified=False, measure="PHQ-9")
    # Latest score 2025-08-01 (C1's follow-up): months 2025-01 .. 2025-07, not the wall clock.
    assert report.as_of == date(2025, 8, 1)
    assert (report.period_start, report.period_end) == (date(2025, 1, 1), date(2025, 7, 31))
    activity = report.trends_activity.numeric.set_index("month")
    assert list(activity.index) == [f"2025-0{m}" for m in range(1, 8)]
    jan = activity.loc["2025-01"]
    # Sessions: C1 06, 13 attended and 20 missed; C2 13 attended.
    assert (jan["active_clients"], jan["sessions_attended"], jan["sessions_missed"]) == (2, 3, 1)
    # Assignments A1, A2 (C1) and A3 (C2): 3 per 3 attended sessions, all reviewed.
    assert (jan["assignments"], jan["reviewed"]) == (3, 3)
    assert jan["assignments_per_session"] == pytest.approx(1.0)
    assert jan["reviewed_share"] == pytest.approx(1.0)
    # Client-level means: C1 quantity (1 + 0.5)/2, C2 0.25 -> 0.5; quality C1 0.75, C2 0.25 -> 0.5;
    # checklist coverage C1 (5/5 + 2/5)/2 = 0.7, C2 0 -> 0.35.
    assert jan["mean_quantity"] == pytest.approx(0.5)
    assert jan["mean_quality"] == pytest.approx(0.5)
    assert jan["checklist_coverage"] == pytest.approx(0.35)
    assert (jan["clients_with_homework"], jan["clients_quantity"], jan["clients_quality"]) == (2, 2, 2)
    # A month without data is there with zeros.
    jun = activity.loc["2025-06"]
    assert (jun["active_clients"], jun["assignments"]) == (0, 0)
    assert pd.isna(jun["assignments_per_session"])

    outcomes = report.trends_outcomes.numeric.set_index("period")
    assert report.measure == "PHQ-9"
    # PHQ-9: C1 18 -> 9 (recovered, reliable improvement) and C2 12 -> 14 discharged in April;
    # C4 20 -> 11 (reliable improvement, still at caseness) in May.
    april, may, total = outcomes.loc["2025-04"], outcomes.loc["2025-05"], outcomes.loc[ALL_LABEL]
    assert (april["discharged"], april["finished"], april["caseness_at_first"], april["recovered"]) == (2, 2, 2, 1)
    assert (april["reliable_improvement"], april["reliable_deterioration"]) == (1, 0)
    assert april["recovery_rate"] == pytest.approx(0.5)
    assert (may["finished"], may["recovered"], may["reliable_improvement"]) == (1, 0, 1)
    assert (total["finished"], total["recovered"], total["reliable_improvement"]) == (3, 1, 2)
    assert total["improvement_rate"] == pytest.approx(2 / 3)
    assert outcomes.loc["2025-01", "finished"] == 0 and pd.isna(outcomes.loc["2025-01", "recovery_rate"])


def test_a_month_with_sessions_and_no_homework_set_has_zero_assignments_per_session(tmp_path):
    """Assignments per attended session is assignments set / sessions attended: 0 for a month
    with attended sessions and no homework (bug: it was blank, the month missing from the
    homework rows), blank only without an attended session. Homework set after discharge is
    follow-up and counts in neither."""
    files = [
        write_csv(tmp_path / "clients.csv", """
client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date
M1,North,T1,CBT,depression,2025-01-06,2025-03-31
"""),
        write_csv(tmp_path / "sessions.csv", """
client_id,session_date,attended,session_number
M1,2025-01-06,true,1
M1,2025-02-03,true,2
M1,2025-02-17,true,3
M1,2025-03-03,false,4
M1,2025-03-10,true,5
"""),
        write_csv(tmp_path / "assignments.csv", """
assignment_id,client_id,assigned_date,homework_type,quantity_rating,quality_rating
H1,M1,2025-01-06,thought_record,4,3
H2,M1,2025-02-20,thought_record,,
H3,M1,2025-04-07,thought_record,2,2
"""),
    ]
    assert import_files(tmp_path / "m.duckdb", files, today=FIXTURE_TODAY).exit_code == 0
    with ClinicDatabase(tmp_path / "m.duckdb") as db:
        for unreviewed_as_not_done in (False, True):
            settings = Settings(unreviewed_as_not_done=unreviewed_as_not_done)
            activity = monthly_activity(db, LOCAL, None, date(2025, 1, 1), date(2025, 4, 30), settings)
            activity = activity.set_index(activity["month"].astype(str).str[:7])
            assert activity["sessions_attended"].tolist() == [1, 2, 1, 0]
            assert activity["assignments"].tolist() == [1, 1, 0, 0]
            assert activity["follow_up_assignments"].tolist() == [0, 0, 0, 1]
            assert activity.loc["2025-02", "assignments_per_session"] == pytest.approx(0.5)
            assert activity.loc["2025-01", "mean_quantity"] == pytest.approx(1.0)
            # February's one assignment is unreviewed: no quantity, or 0 when it counts as not done
            feb = activity.loc["2025-02"]
            if unreviewed_as_not_done:
                assert (feb["clients_quantity"], feb["mean_quantity"]) == (1, 0.0)
            else:
                assert feb["clients_quantity"] == 0 and pd.isna(feb["mean_quantity"])
            # March: a session attended (and one missed), no homework set
            assert activity.loc["2025-03", "sessions_missed"] == 1
            assert activity.loc["2025-03", "assignments_per_session"] == 0
            # April: only follow-up homework, no session: no ratio, no homework figures
            assert pd.isna(activity.loc["2025-04", "assignments_per_session"])
            assert activity.loc["2025-04", "clients_with_homework"] == 0


def test_outcomes_by_quarter_and_measure_choice(tiny_db):
    report = quality_report(tiny_db, LOCAL, months=None, deidentified=False, outcome_period="quarter",
                            measure="gad7")
    assert report.measure == "GAD-7"
    outcomes = report.trends_outcomes.numeric.set_index("period")
    assert list(outcomes.index) == ["2025-Q1", "2025-Q2", "2025-Q3", ALL_LABEL]
    # GAD-7: C1 10 -> 4 (discharged April: recovered, reliable improvement); C3 still in treatment.
    assert (outcomes.loc["2025-Q2", "finished"], outcomes.loc["2025-Q2", "recovered"]) == (1, 1)


# ----------------------------------------------------------------------------- funnels


def test_funnel_limits_match_a_hand_computation():
    units = pd.DataFrame({"unit": ["A", "B", "C", "D", "E", "F"], "n": [25, 25, 25, 25, 100, 4],
                          "numerator": [21, 19, 12, 4, 38, 4], "value": [0.84, 0.76, 0.48, 0.16, 0.38, 1.0]})
    out = funnel_frame(units, "rate", centre=0.5, min_n=5)
    # Exact binomial limits: the q quantile r of Bin(n, 0.5) (smallest r with P(R <= r) >= q), divided by n.
    # n = 25: P(R <= 7) = 0.0216, P(R <= 8) = 0.0539 -> q = 0.025 gives 8/25 = 0.32; by symmetry q = 0.975
    # gives 17/25 = 0.68; q = 0.001: P(R <= 4) = 0.00046, P(R <= 5) = 0.00204 -> 5/25 = 0.20; q = 0.999 -> 0.80.
    # n = 100, q = 0.001: P(R <= 34) = 0.00089, P(R <= 35) = 0.00176 -> 0.35.
    a = out.iloc[0]
    assert a["lower_95"] == pytest.approx(0.32)
    assert a["upper_95"] == pytest.approx(0.68)
    assert a["lower_99_8"] == pytest.approx(0.20)
    assert a["upper_99_8"] == pytest.approx(0.80)
    assert out.iloc[4]["lower_99_8"] == pytest.approx(0.35)
    # 0.84 > 0.80 (99.8%); 0.76 in (0.68, 0.80]; 0.48 within; 0.16 < 0.20; 0.38 < 0.40 (95%) but > 0.35.
    assert list(out["status"]) == [STATUS_HIGH_998, STATUS_HIGH_95, STATUS_WITHIN, STATUS_LOW_998, STATUS_LOW_95,
                                   STATUS_TOO_FEW]
    assert pd.isna(out.iloc[5]["lower_95"])

    means = pd.DataFrame({"unit": ["X", "Y"], "n": [16, 16], "value": [0.75, 0.52]})
    out = funnel_frame(means, "mean", centre=0.6, sd=0.2, min_n=5)
    se = 0.2 / 4
    assert out.iloc[0]["upper_95"] == pytest.approx(0.6 + Z95 * se, abs=1e-6)
    assert out.iloc[0]["upper_99_8"] == pytest.approx(0.6 + Z998 * se, abs=1e-6)
    assert list(out["status"]) == [STATUS_HIGH_95, STATUS_WITHIN]


def test_report_funnels_use_the_pooled_rate_and_each_units_n(sample_db):
    report = quality_report(sample_db, LOCAL, months=None, deidentified=False)
    for unit_type in ("clinic", "program"):
        panel = report.funnel(unit_type, "reliable_improvement")
        table = panel.table.numeric
        units, overall = table.iloc[:-1], table.iloc[-1]
        p = units["numerator"].sum() / units["n"].sum()
        assert overall["value"] == pytest.approx(p) and panel.centre == pytest.approx(p)
        for row in units.itertuples():
            assert row.lower_95 == pytest.approx(max(0.0, _exact_limit(p, row.n, 0.025)), abs=1e-6)
            assert row.upper_99_8 == pytest.approx(min(1.0, _exact_limit(p, row.n, 0.999)), abs=1e-6)
            assert row.value == pytest.approx(row.numerator / row.n)
    # Clinic units add up to the whole cohort's finished clients (from the database).
    finished = report.funnel("clinic", "reliable_improvement").table.numeric["n"]
    assert finished.iloc[:-1].sum() == finished.iloc[-1] == report.trends_outcomes.numeric["finished"].iloc[-1]
    # Every flagged unit is outside its limits in its panel.
    flags = report.flags.numeric
    assert len(flags) > 0
    assert set(flags["status"]) <= set(OUTSIDE_STATUSES)


def _exact_limit(p: float, n: int, q: float) -> float:
    """The q quantile of Binomial(n, p) over n: the smallest r with P(R <= r) >= q, found by summing the pmf."""
    cumulative = 0.0
    for r in range(n + 1):
        cumulative += math.comb(n, r) * p**r * (1 - p) ** (n - r)
        if cumulative >= q - 1e-12:
            return r / n
    return 1.0


# ----------------------------------------------------------------------------- suppression


def test_outcome_table_suppression_with_complementary_cells():
    raw = pd.DataFrame({
        "period": ["2026-01", "2026-02", "2026-03", ALL_LABEL],
        "discharged": [40, 30, 25, 95],
        "finished": [36, 24, 22, 82],
        "caseness_at_first": [30, 20, 19, 69],
        "recovered": [15, 9, 10, 34],
        "reliable_improvement": [18, 12, 12, 42],
        "reliable_deterioration": [0, 1, 0, 1],
        "reliable_recovery": [12, 8, 9, 29],
    })
    raw["not_caseness_at_first"] = raw["finished"] - raw["caseness_at_first"]
    raw["reliable_recovery_rate"] = raw["reliable_recovery"] / raw["caseness_at_first"]
    raw["recovery_rate"] = raw["recovered"] / raw["caseness_at_first"]
    raw["improvement_rate"] = raw["reliable_improvement"] / raw["finished"]
    raw["deterioration_rate"] = raw["reliable_deterioration"] / raw["finished"]
    table = publish_table("t", "t", raw, OUTCOME_COLUMNS, CMS, total_label=ALL_LABEL, total_column="finished")
    shown = table.display.set_index("Discharged in")
    # Numerators and "discharged" are not published in de-identified mode.
    assert list(table.display.columns) == ["Discharged in", "Finished treatment", "At caseness at start",
                                           "Recovery (%)", "Reliable improvement (%)", "Reliable deterioration (%)",
                                           "Reliable recovery (%)"]
    assert _small_counts(table) == []
    # Not at caseness at start is 6, 4, 3 (hidden helper cells): each month's at-caseness count is withheld
    # too, else finished - at caseness would give it away; the total row keeps 82 - 69 = 13 (>= 11).
    # They hide 30, 20 and 19, so they read "suppressed", never "<11" (issue 15, item 1).
    assert list(shown["At caseness at start"]) == [RATE_WITHHELD] * 3 + [69]
    assert list(shown["Finished treatment"]) == [36, 24, 22, 82]
    # Recovery rates need their (withheld) denominators.
    assert list(shown["Recovery (%)"]) == [RATE_WITHHELD] * 3 + [49.3]
    # Reliable improvement: 12/22 leaves 10 not improved (withheld); 12/24 goes too, else 42 - 18 - 12
    # (the overall rate's numerator minus the others) would give the 12 back, and 22 - 12 = 10.
    assert list(shown["Reliable improvement (%)"]) == [50.0, RATE_WITHHELD, RATE_WITHHELD, 51.2]
    # One deterioration would be 1/24: withheld, and so is the total's 1/82; zero stays 0.
    assert list(shown["Reliable deterioration (%)"]) == [0.0, RATE_WITHHELD, 0.0, RATE_WITHHELD]
    # Reliable recovery shares recovery's (withheld) denominators; the total 29 / 69 = 42.0% is shown.
    assert list(shown["Reliable recovery (%)"]) == [RATE_WITHHELD] * 3 + [42.0]
    # Identified mode: the same frame, nothing withheld.
    plain = publish_table("t", "t", raw, OUTCOME_COLUMNS, None, total_label=ALL_LABEL, total_column="finished")
    assert plain.display["Recovered"].tolist() == [15, 9, 10, 34]


def test_funnel_style_table_complementary_suppression_and_small_denominators():
    columns = (Column("unit", "Unit", "label"), Column("n", "n", "count"),
               Column("value", "Mean (%)", "pct", "n"))
    raw = pd.DataFrame({"unit": ["A", "B", "C", "D", ALL_LABEL], "n": [7, 30, 12, 40, 89],
                        "value": [0.5, 0.6, 0.7, 0.55, 0.58]})
    table = publish_table("f", "f", raw, columns, CMS, total_label=ALL_LABEL)
    shown = table.display.set_index("Unit")
    # A (7) is small; C (12), the next smallest, is withheld so that 89 - 30 - 40 cannot give A away.
    assert list(shown["n"]) == ["<11", 30, RATE_WITHHELD, 40, 89]  # C hides 12: not "<11"
    assert list(shown["Mean (%)"]) == [RATE_WITHHELD, 60.0, RATE_WITHHELD, 55.0, 58.0]
    assert table.numeric["n"].isna().tolist() == [True, False, True, False, False]


def test_outcome_masks_protect_the_caseness_partition():
    units = pd.DataFrame({"unit": ["North", "South", "East"], "finished": [40, 30, 28],
                          "caseness_at_first": [35, 15, 25], "recovered": [18, 7, 12],
                          "reliable_improvement": [20, 14, 13]})
    overall = {"finished": 98, "caseness_at_first": 75, "recovered": 37, "reliable_improvement": 47}
    masks = outcome_masks(units, overall, CMS)
    # North: 40 - 35 = 5 not at caseness -> its at-caseness n is withheld (so its recovery rate too);
    # East: 28 - 25 = 3 -> the same. North + East = 8 not at caseness would then be 23 - South's 15,
    # a small count (issue 10, item 5), so South's partition is withheld too (its rate 7/15 anyway).
    assert masks["recovery"]["North"] == (True, True)
    assert masks["recovery"]["East"] == (True, True)
    assert masks["recovery"]["South"] == (True, True)
    assert masks["reliable_improvement"]["North"] == (False, False)
    assert masks["reliable_improvement"][ALL_LABEL] == (False, False)


def test_clinics_hidden_to_protect_a_small_count_do_not_read_as_small_counts():
    """Issue 15, item 1: on QI Comparisons Eastgate and Westfield read "At caseness at start: <11"
    where the data have 47 and 37 (hidden only because their few clients not at caseness would
    otherwise be finished minus at caseness); All (314) minus the shown clinics (230) left 84 for
    two "<11" cells. A cell hidden to protect another reads "suppressed"."""
    units = pd.DataFrame({
        "unit": ["Eastgate", "Harbour", "Northside", "Riverside", "Westfield"],
        "finished": [52, 90, 100, 85, 40], "caseness_at_first": [47, 75, 84, 71, 37],
        "recovered": [25, 40, 45, 36, 20], "reliable_improvement": [35, 60, 70, 55, 28],
    })
    overall = {k: int(units[k].sum()) for k in ("finished", "caseness_at_first", "recovered", "reliable_improvement")}
    masks = outcome_masks(units, overall, CMS)
    assert masks["recovery"]["Eastgate"][0] and masks["recovery"]["Westfield"][0]
    table = pd.DataFrame({"unit": units["unit"], "n": units["caseness_at_first"], "numerator": units["recovered"],
                          "value": units["recovered"] / units["caseness_at_first"]})
    recovery = {"n": overall["caseness_at_first"], "numerator": overall["recovered"],
                "value": overall["recovered"] / overall["caseness_at_first"]}
    panel = _funnel_panel("clinic", "recovery", table, recovery, CMS, 5, masks["recovery"])
    shown = panel.table.display.set_index("Clinic")["At caseness at start (n)"]
    assert shown["Eastgate"] == RATE_WITHHELD and shown["Westfield"] == RATE_WITHHELD
    assert "<11" not in set(shown)  # no clinic has fewer than 11 at caseness
    assert panel.table.numeric["n"].isna().sum() >= 2  # still withheld in the numbers


def test_no_de_identified_count_cell_reads_small_when_it_hides_11_or_more(sample_db):
    """Every "<11" in the de-identified report stands for a count of 1-10 in the identified one."""
    deid = quality_report(sample_db, LOCAL, months=24, deidentified=True)
    ident = quality_report(sample_db, LOCAL, months=24, deidentified=False)
    pairs = [(deid.trends_activity, ident.trends_activity), (deid.trends_outcomes, ident.trends_outcomes),
             (deid.alert_counts, ident.alert_counts)]
    pairs += [(deid.funnel(u, m).table, ident.funnel(u, m).table) for u in ("clinic", "program")
              for m in ("recovery", "reliable_improvement", "quantity")]
    markers = suppressed = 0
    for shown, truth in pairs:
        label = shown.columns[0].key
        true_rows = truth.numeric.set_index(label)
        for col in shown.columns:
            if col.kind != "count":
                continue
            for row_label, text in zip(shown.numeric[label], shown.display[col.header], strict=True):
                if not isinstance(text, str):
                    continue
                true_value = int(true_rows.loc[row_label, col.key])
                if text == "<11":
                    markers += 1
                    assert 1 <= true_value <= 10, (shown.name, row_label, col.key, true_value)
                else:
                    suppressed += 1
                    assert text == RATE_WITHHELD and true_value >= 11, (shown.name, row_label, col.key, true_value)
    assert markers > 0 and suppressed > 0


def _counts_of_rows(alerts: pd.DataFrame) -> pd.DataFrame:
    """Alert counts from per-client rows, the way the report counted them before the database did
    (analytics.quality_improvement.model.alert_group_counts): the reference it must equal."""
    rows = []
    for label in (ALERT_GROUP_RISK, ALERT_GROUP_LITTLE, ALERT_GROUP_DONE, ALERT_GROUP_NONE, ALERT_ALL):
        part = alerts if label == ALERT_ALL else alerts[alerts["group"] == label]
        rows.append({"group": label, "clients": len(part),
                     **{rule: int(part[rule].astype(bool).sum()) for rule in ALERT_RULES}})
    return pd.DataFrame(rows)


def test_alert_group_counts_are_the_counts_of_the_alert_rows(sample_db):
    """The counts the report publishes (counted in the database, for every role) equal the
    counts of the per-client rows (alert_clients), for several viewers, dates and filters; and
    the identified list holds exactly the clients not on track."""
    clinic = filter_options(sample_db, LOCAL)["clinic"][0]
    supervisor = Viewer(role="supervisor", email="s@x", clinics=(clinic,))
    as_of = report_dates(sample_db, LOCAL)["as_of"]
    cases = [(LOCAL, None, None), (supervisor, None, None), (LOCAL, CohortFilter.of(measures="GAD-7"), None),
             (LOCAL, None, as_of - timedelta(days=120)), (supervisor, None, as_of - timedelta(days=60))]
    groups_seen = set()
    for viewer, cohort, day in cases:
        rows = alert_clients(sample_db, viewer, cohort, as_of=day)
        counted = alert_group_counts(sample_db, viewer, cohort, as_of=day)
        pd.testing.assert_frame_equal(counted, _counts_of_rows(rows), check_dtype=False)
        groups_seen |= set(rows["group"])
        # the group as the report defined it in pandas before the database did (alert_group macro)
        quantity = cut_values(rows["recent_quantity"])
        little = np.isnan(quantity) | (quantity < Settings().compliance_band_edges[0])
        expected = np.select([rows["rule_risk"].to_numpy(dtype=bool), ~rows["not_on_track"].to_numpy(dtype=bool), little],
                             [ALERT_GROUP_RISK, ALERT_GROUP_NONE, ALERT_GROUP_LITTLE], default=ALERT_GROUP_DONE)
        assert list(rows["group"]) == list(expected)
        flagged = _alert_rows(sample_db, viewer, cohort, as_of=day, flagged_only=True)
        assert list(flagged["client_id"]) == list(rows.loc[rows["not_on_track"].astype(bool), "client_id"])
        assert counted["clients"].iloc[-1] == len(rows) > 0
    assert groups_seen == {ALERT_GROUP_RISK, ALERT_GROUP_LITTLE, ALERT_GROUP_DONE, ALERT_GROUP_NONE}


def test_alert_count_suppression_on_a_hand_built_cohort():
    rows = []
    for i in range(60):
        group = ALERT_GROUP_LITTLE if i < 4 else ALERT_GROUP_DONE if i < 20 else ALERT_GROUP_NONE
        flagged = group != ALERT_GROUP_NONE
        rows.append({"group": group, "rule_caseness": flagged and i % 2 == 0, "rule_deterioration": flagged and i < 6,
                     "rule_risk": i in (5, 7), "rule_off_track": False})
    counts = _counts_of_rows(pd.DataFrame(rows))
    assert counts.set_index("group")["clients"].to_dict() == {
        ALERT_GROUP_RISK: 0, ALERT_GROUP_LITTLE: 4, ALERT_GROUP_DONE: 16, ALERT_GROUP_NONE: 40, ALERT_ALL: 60}
    table = publish_table("a", "a", counts, ALERT_COUNT_COLUMNS, CMS, total_label=ALERT_ALL)
    assert _small_counts(table) == []
    shown = table.display.set_index("Group")
    # Little homework (4) is small, so the next smallest group (16) is withheld with it.
    assert list(shown["Clients"]) == [0, "<11", RATE_WITHHELD, 40, 60]  # the (empty) risk group row first
    # In each column a withheld cell (NA in the numbers, whatever its text) is never the only one below
    # a shown total.
    for header in table.count_headers:
        key = next(c.key for c in table.columns if c.header == header)
        column = table.numeric[key].isna().tolist()
        assert sum(column[:-1]) != 1 or column[-1]


def test_nhs_style_policy_from_settings():
    policy = suppression_policy(Settings(suppression_threshold=8, suppression_round_to=5))
    assert (policy.threshold, policy.round_to, policy.marker_text) == (8, 5, "<8")
    columns = (Column("unit", "Unit", "label"), Column("n", "n", "count"))
    raw = pd.DataFrame({"unit": ["A", "B", "C", ALL_LABEL], "n": [7, 13, 22, 42]})
    shown = publish_table("x", "x", raw, columns, policy, total_label=ALL_LABEL).display["n"].tolist()
    assert shown == ["<8", RATE_WITHHELD, 20, 40]  # B hides 13: "suppressed", not "<8"


# ----------------------------------------------------------------------------- pseudonyms


def test_pseudonyms_are_stable_across_runs_and_differ_across_keys(sample_db, monkeypatch):
    key_a = "qi-test-key-A-0123456789abcdef"
    key_b = "qi-test-key-B-0123456789abcdef"
    first = therapist_pseudonym("T001", key_a.encode())
    assert first == therapist_pseudonym("T001", key_a.encode())
    assert first != therapist_pseudonym("T001", key_b.encode())
    assert first != therapist_pseudonym("T002", key_a.encode())
    # Another process with the same key gives the same pseudonym (nothing random, nothing per process).
    code = f"from analytics.quality_improvement.model import therapist_pseudonym; print(therapist_pseudonym('T001', b'{key_a}'))"
    other = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert other.stdout.strip() == first

    # As used on the page: a deployment (not local mode) takes the key from the environment.
    supervisor = Viewer(role="admin", email="lead@clinic")  # signed in: not local mode

    def labels(key: str) -> list[str]:
        monkeypatch.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", key)
        report = quality_report(sample_db, supervisor, months=None, deidentified=True)
        assert report.pseudonym_note is None
        return list(report.funnel("therapist", "coverage").table.numeric["unit"].iloc[:-1])

    run_1, other_key = labels(key_a), labels(key_b)
    real = set(sample_db.execute_sql("SELECT DISTINCT therapist_id FROM clients")["therapist_id"])
    assert set(run_1).isdisjoint(real) and set(other_key).isdisjoint(real)
    assert set(run_1).isdisjoint(other_key)
    assert sorted(run_1) == sorted(therapist_pseudonym(t, key_a.encode()) for t in real)
    assert run_1 == sorted(run_1)  # listed by pseudonym, not in the order of the real ids


def test_deployment_without_a_key_refuses_de_identified_reports(sample_db, monkeypatch):
    from analytics.privacy import MissingPseudonymKeyError

    monkeypatch.delenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", raising=False)
    with pytest.raises(MissingPseudonymKeyError):
        quality_report(sample_db, Viewer(role="qi", email="qi@org"), months=12)
    local = quality_report(sample_db, LOCAL, months=12)
    assert local.pseudonym_note and "development key" in local.pseudonym_note


# ----------------------------------------------------------------------------- de-identified report


def test_de_identified_report_has_no_identifiers_and_no_small_counts(sample_db):
    ids = _ids(sample_db)
    therapists = set(sample_db.execute_sql("SELECT DISTINCT therapist_id FROM clients")["therapist_id"])
    for viewer, asked in ((LOCAL, True), (Viewer(role="qi", email="qi@org"), False)):
        os.environ.setdefault("BETWEEN_SESSIONS_PSEUDONYM_KEY", "qi-tests-pseudonym-key-0123456789")
        report = quality_report(sample_db, viewer, months=24, deidentified=asked)
        assert report.deidentified and report.alert_list is None
        for table in report.tables():
            cells = set(_cells(table))
            assert not cells & ids, table.name
            assert not cells & therapists, table.name
            assert _small_counts(table) == [], table.name
    os.environ.pop("BETWEEN_SESSIONS_PSEUDONYM_KEY", None)
    identified = quality_report(sample_db, LOCAL, months=24, deidentified=False)
    assert identified.alert_list is not None and set(identified.alert_list.numeric["client_id"]) <= ids


def test_therapist_filter_is_dropped_in_de_identified_mode(sample_db):
    cohort = CohortFilter.of(therapists=["T001"])
    report = quality_report(sample_db, LOCAL, cohort, months=24, deidentified=True)
    assert "Therapists" not in report.cohort_description
    assert any("therapist filter" in n for n in report.notes)
    everyone = quality_report(sample_db, LOCAL, months=24, deidentified=True)
    assert report.trends_activity.display.equals(everyone.trends_activity.display)


# ----------------------------------------------------------------------------- alerts


ALERT_CLIENTS = fixture_csv("test_quality", "alert_clients")
ALERT_SESSIONS = fixture_csv("test_quality", "alert_sessions")
# Quantity over the 4 weeks to 2026-11-01: K1 25% (little), K3 100% (done), K8 75% (done);
# K1's older assignment (before the window) was fully done and must not count.
ALERT_ASSIGNMENTS = fixture_csv("test_quality", "alert_assignments")
# K1: at caseness, no reliable improvement after 8.7 weeks. K2: the same but only 2.4 weeks.
# K3: reliable deterioration 8 -> 15 after 3 weeks. K4: PHQ-9 item 9 = 1 at the latest score.
# K5: item 9 was 2 earlier but 0 at the latest score. K6: recovered. K7: discharged before as_of.
# K8: PHQ-9 fine, GAD-7 at caseness without reliable improvement. K9: one score only, at caseness.
ALERT_SCORES = fixture_csv("test_quality", "alert_scores")


@pytest.fixture(scope="module")
def alert_db(tmp_path_factory: pytest.TempPathFactory):
    directory: Path = tmp_path_factory.mktemp("alerts")
    files = [
        write_csv(directory / "clients.csv", ALERT_CLIENTS),
        write_csv(directory / "sessions.csv", ALERT_SESSIONS),
        write_csv(directory / "assignments.csv", ALERT_ASSIGNMENTS),
        write_csv(directory / "scores.csv", ALERT_SCORES),
    ]
    result = import_files(directory / "alerts.duckdb", files, today=FIXTURE_TODAY)
    assert result.exit_code == 0, result.report()
    with ClinicDatabase(directory / "alerts.duckdb") as db:
        yield db


def test_alert_as_of_defaults_to_the_latest_data_date(alert_db):
    assert report_dates(alert_db, LOCAL)["as_of"] == date(2026, 11, 1)  # not FIXTURE_TODAY, not today


def test_each_alert_rule_on_constructed_clients(alert_db):
    alerts = alert_clients(alert_db, LOCAL).set_index("client_id")
    assert "K7" not in alerts.index  # discharged before the report date
    assert set(alerts.index) == {"K1", "K2", "K3", "K4", "K5", "K6", "K8", "K9"}
    flagged = alerts[alerts["not_on_track"]]
    assert set(flagged.index) == {"K1", "K3", "K4", "K8", "K9"}
    rules = alerts[["rule_caseness", "rule_deterioration", "rule_risk"]]
    assert tuple(rules.loc["K1"]) == (True, False, False)
    assert tuple(rules.loc["K2"]) == (False, False, False)  # 2.4 weeks: too early
    assert tuple(rules.loc["K3"]) == (False, True, False)  # 3 weeks: deterioration only
    assert tuple(rules.loc["K4"]) == (False, False, True)
    assert tuple(rules.loc["K5"]) == (False, False, False)  # item 9 above 0 only at an earlier score
    assert tuple(rules.loc["K6"]) == (False, False, False)
    assert tuple(rules.loc["K8"]) == (True, False, False)
    assert "GAD-7: at caseness" in alerts.loc["K8", "reasons"]
    assert tuple(rules.loc["K9"]) == (True, False, False)  # a single score at caseness after 7 weeks
    assert alerts.loc["K1", "weeks_in_treatment"] == pytest.approx(61 / 7)
    # Groups: quantity over the last 4 weeks below 50% (or none reviewed) vs at or above it.
    assert alerts.loc["K1", "recent_quantity"] == pytest.approx(0.25)
    assert alerts.loc["K1", "group"] == ALERT_GROUP_LITTLE
    assert alerts.loc["K3", "group"] == ALERT_GROUP_DONE
    assert alerts.loc["K8", "group"] == ALERT_GROUP_DONE
    assert alerts.loc["K4", "group"] == ALERT_GROUP_RISK  # item 9 only: the risk group, not a homework group
    assert alerts.loc["K2", "group"] == ALERT_GROUP_NONE


def test_alerts_follow_an_explicit_as_of_date(alert_db):
    early = alert_clients(alert_db, LOCAL, as_of=date(2026, 10, 13)).set_index("client_id")
    # On 2026-10-13 K1 had 6.0 weeks and only the intake score (at caseness): flagged;
    # K3's second score was not taken yet; K4's item 9 was still 0; K2 had not started.
    assert "K2" not in early.index
    assert bool(early.loc["K1", "rule_caseness"]) is True
    assert bool(early.loc["K3", "not_on_track"]) is False
    assert bool(early.loc["K4", "rule_risk"]) is False
    later = alert_clients(alert_db, LOCAL, as_of=date(2026, 10, 12)).set_index("client_id")
    assert bool(later.loc["K1", "rule_caseness"]) is False  # 5.9 weeks


def test_client_level_functions_refuse_aggregate_only_viewers(alert_db):
    from analytics.scope import IdentifiersNotPermitted

    qi = Viewer(role="qi", email="qi@org")
    with pytest.raises(IdentifiersNotPermitted):
        alert_clients(alert_db, qi)


def test_alert_rule_weeks_come_from_settings(alert_db):
    strict = alert_clients(alert_db, LOCAL, settings=Settings(not_on_track_weeks=2)).set_index("client_id")
    assert bool(strict.loc["K2", "rule_caseness"]) is True


def test_alert_counts_in_the_report(alert_db):
    report = quality_report(alert_db, LOCAL, deidentified=False)
    counts = report.alert_counts.numeric.set_index("group")
    assert counts.loc[ALERT_GROUP_RISK, "clients"] == 1  # K4
    assert counts.loc[ALERT_GROUP_LITTLE, "clients"] == 2  # K1, K9
    assert counts.loc[ALERT_GROUP_DONE, "clients"] == 2  # K3, K8
    assert counts.loc[ALERT_ALL, "clients"] == 8
    assert counts.loc[ALERT_ALL, "rule_risk"] == 1
    listing = report.alert_list.numeric
    assert listing["client_id"].iloc[0] == "K4"  # the risk flag first
    assert set(report.alert_list.display["Client review"]) == {f"client_review?client={c}" for c in
                                                              ("K1", "K3", "K4", "K8", "K9")}
    deid = quality_report(alert_db, LOCAL, deidentified=True)
    assert set(deid.alert_counts.display["Clients"]) == {"<11"}
    assert deid.alert_list is None


def test_empty_database_gives_an_empty_report(tmp_path):
    files = [write_csv(tmp_path / "clients.csv", "client_id,clinic,therapist_id,intake_date\nE1,North,T1,2026-01-05\n")]
    assert import_files(tmp_path / "e.duckdb", files, today=FIXTURE_TODAY).exit_code == 0
    with ClinicDatabase(tmp_path / "e.duckdb") as db:
        report = quality_report(db, LOCAL)
    assert not report.has_data and report.tables() == []


# Two therapist ids whose six-character pseudonyms are the same under this key (found by a search of
# TH000000-TH399999: 30 bits collide among tens of thousands of therapists, as at national scale).
COLLIDING_KEY = "test-pseudonym-key-for-collisions"
COLLIDING_THERAPISTS = ("TH045095", "TH071072")  # both T-60HHA1 at six characters


@pytest.fixture(scope="module")
def colliding_clinic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded sample clinic with its two busiest therapists renamed to COLLIDING_THERAPISTS."""
    from sample_data.generator import write_export

    directory = tmp_path_factory.mktemp("colliding")
    paths = write_export(directory / "export", n_clients=300, seed=11)
    clients_csv = next(p for p in paths if p.name.startswith("clients"))
    clients = pd.read_csv(clients_csv, dtype=str, keep_default_na=False)
    busiest = clients["therapist_id"].value_counts().index[:2]
    clients["therapist_id"] = clients["therapist_id"].replace(dict(zip(busiest, COLLIDING_THERAPISTS, strict=True)))
    clients.to_csv(clients_csv, index=False)
    result = import_files(directory / "clinic.duckdb", paths, today=FIXTURE_TODAY)
    assert result.exit_code == 0, result.report()
    return directory / "clinic.duckdb"


def test_two_therapists_whose_pseudonyms_collide_are_told_apart(colliding_clinic, monkeypatch):
    from analytics.deidentified import deidentified_cohort, deidentified_filter_options
    from analytics.privacy import pseudonym

    key = COLLIDING_KEY.encode()
    first, second = COLLIDING_THERAPISTS
    assert pseudonym(first, key, prefix="T", length=6) == pseudonym(second, key, prefix="T", length=6)
    monkeypatch.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", COLLIDING_KEY)
    supervisor = Viewer(role="admin", email="lead@clinic")  # a deployment: the key from the environment
    with ClinicDatabase(colliding_clinic) as db:
        report = quality_report(db, supervisor, months=None, deidentified=True)
        units = list(report.funnel("therapist", "coverage").table.numeric["unit"].iloc[:-1])
        therapists = set(db.execute_sql("SELECT DISTINCT therapist_id FROM clients")["therapist_id"])
        # every therapist under a pseudonym of their own: the two that collide at six characters get
        # eight, which start with the six; everyone else keeps six
        assert len(units) == len(set(units)) == len(therapists)
        longer = {pseudonym(t, key, prefix="T", length=8) for t in COLLIDING_THERAPISTS}
        assert longer <= set(units)
        assert all(len(u) == len("T-") + 6 for u in set(units) - longer)
        # the de-identified filter offers the same pseudonyms, and each picks its own therapist
        qi_viewer = Viewer(role="qi", email="qi@clinic")
        offered = deidentified_filter_options(db, qi_viewer)["therapist"]
        assert longer <= set(offered) and len(offered) == len(set(offered)) == len(therapists)
        for therapist in COLLIDING_THERAPISTS:
            chosen = pseudonym(therapist, key, prefix="T", length=8)
            cohort = deidentified_cohort(db, qi_viewer, CohortFilter(therapists=(chosen,)))
            assert cohort.therapists == (therapist,)
