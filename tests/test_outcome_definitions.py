"""Outcome definitions (issue 11, items 3, 6, 7 and 13), each on a small hand-built clinic.

Every expected value is worked out by hand in the test, with the arithmetic in a comment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics import ClinicDatabase, Viewer, import_files
from analytics.meeting_pack import pack_content
from analytics.quality import (
    ALERT_ALL,
    ALERT_GROUP_DONE,
    ALERT_GROUP_LITTLE,
    ALERT_GROUP_NONE,
    ALERT_GROUP_RISK,
    alert_clients,
    quality_report,
)
from tests.conftest import FIXTURE_TODAY, write_csv

LOCAL = Viewer.local()


def build_clinic(directory: Path, **tables: str) -> Path:
    """Import the CSV texts (clients, sessions, assignments, scores) through the real importer."""
    directory.mkdir(parents=True, exist_ok=True)
    files = [write_csv(directory / f"{name}.csv", text) for name, text in tables.items()]
    path = directory / "clinic.duckdb"
    result = import_files(path, files, today=FIXTURE_TODAY)
    assert result.exit_code == 0, result.report()
    return path


# ----------------------------------------------------------------------------- item 13: risk group

# Report date = the latest session or score date = 2026-10-30. Homework window: the 4 weeks up
# to it, 2026-10-03 .. 2026-10-30.
# R1: intake 2026-10-01, one PHQ-9 of 6 in week 1 with item 9 = 1, no homework: flagged for
#     risk only (6 < 10: not at caseness; 4.1 weeks < 6 anyway). Before the fix it landed in
#     "Little homework done" (no homework reviewed).
# R2: PHQ-9 16 -> 15 (change -1, not reliable), 59 days = 8.4 weeks, item 9 = 1 at the latest
#     score, homework 4/4 = 100%: meets caseness AND risk; before the fix "Homework done, still
#     not improving"; now the risk group.
# R3: as R2 without item 9; homework 1/4 = 25% < 50%: little homework done.
# R4: as R3 with homework 4/4 = 100%: homework done, still not improving.
# R5: PHQ-9 16 -> 8 (change -8 <= -6: reliable improvement; 8 < 10): not flagged.
RISK_CLIENTS = """
client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date
R1,North,T1,Depression CBT,depression,2026-10-01,
R2,North,T1,Depression CBT,depression,2026-09-01,
R3,North,T2,Depression CBT,depression,2026-09-01,
R4,South,T2,Depression CBT,depression,2026-09-01,
R5,South,T2,Depression CBT,depression,2026-09-01,
"""
RISK_SESSIONS = """
client_id,session_date,attended,session_number
R4,2026-10-30,true,9
"""
RISK_ASSIGNMENTS = """
assignment_id,client_id,assigned_date,homework_type,quantity_rating,quality_rating,reviewed_date
Q2,R2,2026-10-20,thought_record,4,4,2026-10-27
Q3,R3,2026-10-20,thought_record,1,1,2026-10-27
Q4,R4,2026-10-20,thought_record,4,3,2026-10-27
"""
RISK_SCORES = """
client_id,measure,administered_date,total_score,item_9
R1,PHQ-9,2026-10-08,6,1
R2,PHQ-9,2026-09-01,16,0
R2,PHQ-9,2026-10-27,15,1
R3,PHQ-9,2026-09-01,16,0
R3,PHQ-9,2026-10-27,15,0
R4,PHQ-9,2026-09-01,16,0
R4,PHQ-9,2026-10-27,15,0
R5,PHQ-9,2026-09-01,16,0
R5,PHQ-9,2026-10-27,8,0
"""


@pytest.fixture(scope="module")
def risk_db(tmp_path_factory: pytest.TempPathFactory):
    path = build_clinic(tmp_path_factory.mktemp("risk"), clients=RISK_CLIENTS, sessions=RISK_SESSIONS,
                        assignments=RISK_ASSIGNMENTS, scores=RISK_SCORES)
    with ClinicDatabase(path) as db:
        yield db


def test_risk_is_its_own_group_never_explained_by_homework(risk_db):
    alerts = alert_clients(risk_db, LOCAL).set_index("client_id")
    assert tuple(alerts.loc["R1", ["rule_caseness", "rule_deterioration", "rule_risk"]]) == (False, False, True)
    assert tuple(alerts.loc["R2", ["rule_caseness", "rule_deterioration", "rule_risk"]]) == (True, False, True)
    assert alerts.loc["R1", "group"] == ALERT_GROUP_RISK  # not "little homework done"
    assert alerts.loc["R2", "group"] == ALERT_GROUP_RISK  # not "homework done, still not improving"
    assert alerts.loc["R2", "recent_quantity"] == pytest.approx(1.0)  # 4 / 4
    assert alerts.loc["R3", "group"] == ALERT_GROUP_LITTLE  # 1 / 4 = 25% < 50%
    assert alerts.loc["R4", "group"] == ALERT_GROUP_DONE  # 4 / 4 = 100%
    assert alerts.loc["R5", "group"] == ALERT_GROUP_NONE
    # The risk reason comes first in the explanation, before the caseness rule.
    assert alerts.loc["R2", "reasons"].startswith("PHQ-9 item 9 above 0 (2026-10-27)")


def test_risk_group_listed_first_in_counts_list_and_meeting_pack(risk_db):
    report = quality_report(risk_db, LOCAL, deidentified=False)
    counts = report.alert_counts.numeric
    # Rows in order: risk, little homework, homework done, not flagged, all.
    assert list(counts["group"]) == [ALERT_GROUP_RISK, ALERT_GROUP_LITTLE, ALERT_GROUP_DONE, ALERT_GROUP_NONE,
                                     ALERT_ALL]
    assert list(counts["clients"]) == [2, 1, 1, 1, 5]  # R1 R2 | R3 | R4 | R5 | all five
    listing = report.alert_list.numeric
    assert set(listing["client_id"].iloc[:2]) == {"R1", "R2"}
    assert list(listing["group"].iloc[:2]) == [ALERT_GROUP_RISK, ALERT_GROUP_RISK]
    header = " ".join(pack_content(report).header_lines)
    assert "2 with a risk flag" in header
    assert "1 with little homework done" in header
    assert "1 with homework done but still not improving" in header
