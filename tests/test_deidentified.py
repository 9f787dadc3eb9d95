"""De-identified views (issue 10, items 3-5): no figure a de-identified viewer sees may give a
small count away, whether directly, through a status or limits, through a complement, by
narrowing the filters to a few clients or by differencing two adjacent filter settings."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from analytics import ClinicDatabase, Viewer
from analytics.meeting_pack import meeting_pack_csvs, meeting_pack_zip
from analytics.privacy import SuppressionPolicy
from analytics.quality import (
    OUTSIDE_STATUSES,
    STATUS_WITHHELD,
    _funnel_panel,
    quality_report,
)

KEY = "deidentified-tests-pseudonym-key-0123456789"
QI = Viewer(role="qi", email="qi@org")
LIMITS = ["lower_99_8", "lower_95", "upper_95", "upper_99_8"]


@pytest.fixture(scope="module")
def qi_reports(sample_db_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", KEY)
        with ClinicDatabase(sample_db_path) as db:
            yield {months: quality_report(db, QI, months=months) for months in (12, 24, None)}


# ----------------------------------------------------------------------------- item 5


def test_funnel_panel_withheld_rate_5_of_19_gets_no_status_and_no_limits():
    """The issue's case: a unit's rate 5/19 is withheld (5 is small); its n (19) is shown.
    Before the fix it kept "Below 95% limit" and its limits, which narrow the rate to 4 or 5."""
    units = pd.DataFrame({"unit": ["A", "B", "C"], "n": [19, 60, 61], "numerator": [5, 40, 39]})
    units["value"] = units["numerator"] / units["n"]
    overall = {"n": 140, "numerator": 84, "value": 84 / 140}
    panel = _funnel_panel("clinic", "recovery", units, overall, SuppressionPolicy(), 5)
    numeric, display = panel.table.numeric, panel.table.display
    a = numeric[numeric["unit"] == "A"].iloc[0]
    assert pd.isna(a["value"]) and a["n"] == 19  # the rate is withheld, the n is shown
    assert a["status"] == STATUS_WITHHELD
    assert a[LIMITS].isna().all()
    row = display[display["Clinic"] == "A"].iloc[0]
    assert row["Recovery (%)"] == "suppressed"
    assert row["Status"] == STATUS_WITHHELD
    assert all(row[c] is None for c in display.columns if "limit" in c)
    # The other units keep their limits and status.
    b = numeric[numeric["unit"] == "B"].iloc[0]
    assert b["status"] in (*OUTSIDE_STATUSES, "Within limits") and b[LIMITS].notna().all()


def test_report_funnels_give_withheld_values_no_status_limits_or_flag(qi_reports):
    withheld_rows = 0
    for months, report in qi_reports.items():
        flagged = set()
        for panel in report.funnels:
            units = panel.table.numeric.iloc[:-1]
            hidden = units[units["value"].isna()]
            withheld_rows += len(hidden)
            assert (hidden["status"] == STATUS_WITHHELD).all(), (months, panel.unit_type, panel.metric)
            assert hidden[LIMITS].isna().all().all(), (months, panel.unit_type, panel.metric)
            shown = units[units["status"].isin(OUTSIDE_STATUSES)]
            assert shown["value"].notna().all()
            flagged |= {(panel.unit_type, panel.label, u) for u in shown["unit"]}
        flags = report.flags.numeric
        listed = {(t, m, u) for t, m, u in zip(flags["comparison"], flags["metric"], flags["unit"], strict=True)}
        labels = {"Clinics": "clinic", "Therapists": "therapist", "Programmes": "program"}
        assert {(labels[t], m, u) for t, m, u in listed} == flagged, months
        assert flags["value"].notna().all(), months  # no flagged unit with a withheld value
    assert withheld_rows > 0  # the fixture has withheld values with a shown n (the case that leaked)


def _complement_leaks(table) -> list[tuple[str, int]]:
    """Columns where the total minus the shown groups gives a count of 1-10."""
    numeric = table.numeric
    leaks = []
    for header, column in zip(table.count_headers, [c.key for c in table.columns if c.kind == "count"], strict=True):
        total = numeric[column].iloc[-1]
        members = numeric[column].iloc[:-1]
        if pd.isna(total) or not members.isna().any():
            continue
        rest = int(total) - int(members.dropna().sum())
        if 1 <= rest <= 10:
            leaks.append((header, rest))
    return leaks


def test_alert_counts_protect_the_complement_of_the_flagged_groups(qi_reports):
    """"All (49) - Not flagged (40)" gave the number flagged although both flagged groups read "<11"."""
    hidden_members = 0
    for months, report in qi_reports.items():
        table = report.alert_counts
        hidden_members += int(table.numeric["clients"].iloc[:-1].isna().sum())
        assert _complement_leaks(table) == [], months
    assert hidden_members > 0
    for months, report in qi_reports.items():
        for other in (report.trends_activity, report.trends_outcomes):
            if other is not None and other.numeric.iloc[:, 0].iloc[-1] == "All":
                assert _complement_leaks(other) == [], (months, other.name)


def test_meeting_pack_carries_no_status_for_withheld_values_and_no_complement(qi_reports):
    for months, report in qi_reports.items():
        csvs = meeting_pack_csvs(report)
        flags = pd.read_csv(io.BytesIO(csvs["flagged_units.csv"]), encoding="utf-8-sig", dtype=str)
        assert "suppressed" not in set(flags.get("Value (%)", pd.Series(dtype=str))), months
        for panel in report.funnels:
            frame = pd.read_csv(io.BytesIO(csvs[f"{panel.table.name}.csv"]), encoding="utf-8-sig", dtype=str)
            value_header = panel.table.columns[2].header
            hidden = frame[frame[value_header] == "suppressed"]
            assert (hidden["Status"] == STATUS_WITHHELD).all(), (months, panel.table.name)
            limit_headers = [c for c in frame.columns if "limit" in c]
            assert hidden[limit_headers].isna().all().all(), (months, panel.table.name)
        alerts = pd.read_csv(io.BytesIO(csvs["alert_counts.csv"]), encoding="utf-8-sig", dtype=str)
        for column in alerts.columns[1:]:
            cells = alerts[column].tolist()
            if "<11" in cells[:-1] and cells[-1] != "<11":
                rest = int(cells[-1]) - sum(int(c) for c in cells[:-1] if c != "<11")
                assert not 1 <= rest <= 10, (months, column, rest)
        with zipfile.ZipFile(io.BytesIO(meeting_pack_zip(report))) as archive:
            assert archive.read("alert_counts.csv") == csvs["alert_counts.csv"]
    assert np.any([int((r.alert_counts.numeric["clients"].isna()).sum()) for r in qi_reports.values()])
