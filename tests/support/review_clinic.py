"""The hand-built clinic: one client per edge state, with known numbers, imported through the
real importer (``analytics.import_files``), like the tiny clinic (tests/support/clinics.py). All dates are on or
before IMPORT_TODAY. Clients (clinic North, therapist T1 unless noted):

- N1  normal: intake Mon 2026-08-03, in treatment; weekly sessions weeks 0-16 (week 6
      missed); PHQ-9 at every attended session, 18 -> 9 (reliable improvement, recovered);
      GAD-7 at weeks 0, 8, 16; one assignment a week (weeks 0-15 reviewed a week later,
      week 16 not yet reviewed).
- R1  risk: latest PHQ-9 (2026-11-02) has item 9 = 2; an earlier one (2026-09-07) item 9 = 1.
- D1  discharged 2026-06-01: PHQ-9 8 -> 15 (reliable deterioration, at caseness), follow-up 12.
- E1  no scores (homework reviewed; a week without homework).
- E2  a single PHQ-9 score.
- E3  scores, no homework.
- E4  homework set, none reviewed.
- E5  discharged 2026-03-30 with follow-up scores only.
- S1  clinic South, therapist T9 (outside a T1 therapist's scope).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from tests.support.clinics import fixture_csv, import_clinic

IMPORT_TODAY = date(2026, 11, 27)
AS_OF = date(2026, 11, 27)

N1_INTAKE = date(2026, 8, 3)
N1_MISSED_WEEK = 6
N1_PHQ = [18, 17, 17, 16, 15, 15, None, 14, 13, 13, 12, 12, 11, 10, 10, 9, 9]  # by week; None = missed
N1_GAD = {0: 12, 8: 9, 16: 6}
# (quantity_rating, quality_rating) of week w's assignment; None = rated by practices instead.
N1_RATINGS = [(4, 3), (3, 3), (1, 1), (4, 4), (2, 2), (0, 1), (3, 2), (4, 3), (2, 1), (None, 2),
              (1, 0), (4, 4), (3, 2), (2, 2), (4, 3), (1, 1)]
N1_PRACTICES = {9: (5, 3)}  # week -> (planned, completed): quantity 3/5 when not rated
N1_TYPES = ["thought_record", "behavioural_activation", "exposure", "relaxation"]
DESCRIPTION_TRICKY = '=HYPERLINK("http://x") <b>bold</b>'


def _d(day: date) -> str:
    return day.isoformat()


def _n1_rows() -> tuple[list[str], list[str], list[str]]:
    sessions, scores, assignments = [], [], []
    for week in range(17):
        day = N1_INTAKE + timedelta(days=7 * week)
        attended = "false" if week == N1_MISSED_WEEK else "true"
        sessions.append(f"N1,{_d(day)},{attended},{week + 1}")
        if N1_PHQ[week] is not None:
            scores.append(f"N1,PHQ-9,{_d(day)},{N1_PHQ[week]},0")
        if week in N1_GAD:
            scores.append(f"N1,GAD-7,{_d(day)},{N1_GAD[week]},")
    for week in range(17):
        day = N1_INTAKE + timedelta(days=7 * week)
        kind = N1_TYPES[week % len(N1_TYPES)]
        obstacles = "true" if week % 4 == 0 else "false"
        rehearsed = "false" if week % 3 == 0 else "true"
        description = f"Week {week} practice" if week != 14 else DESCRIPTION_TRICKY
        if week == 16:  # set at the last session, not reviewed yet
            assignments.append(f"N1A{week:02d},N1,{_d(day)},{kind},true,true,{rehearsed},true,{obstacles},false,4,,,,,,"
                               f"{description}")
            continue
        reviewed = _d(day + timedelta(days=7))
        if week in N1_PRACTICES:
            planned, completed = N1_PRACTICES[week]
            quantity, quality = "", N1_RATINGS[week][1]
        else:
            planned, completed = 4, ""
            quantity, quality = N1_RATINGS[week]
        assignments.append(
            f"N1A{week:02d},N1,{_d(day)},{kind},true,true,{rehearsed},true,{obstacles},false,{planned},{completed},"
            f"{quantity},{quality},therapist,{reviewed},\"{description.replace(chr(34), chr(34) * 2)}\""
        )
    return sessions, scores, assignments


CLIENTS = fixture_csv("support_review_clinic", "clients")

OTHER_SESSIONS = """R1,2026-09-07,true,1
R1,2026-10-05,true,2
R1,2026-11-02,true,3
R1,2026-11-16,true,4
D1,2026-03-02,true,1
D1,2026-04-06,true,2
D1,2026-06-01,true,3
E1,2026-10-05,true,1
E1,2026-10-12,true,2
E1,2026-10-26,true,3
E2,2026-10-12,true,1
E3,2026-09-01,true,1
E3,2026-10-01,true,2
E4,2026-10-19,true,1
E4,2026-10-26,false,2
E5,2026-01-05,true,1
E5,2026-03-30,true,2
S1,2026-02-02,true,1
"""

OTHER_SCORES = """R1,PHQ-9,2026-09-07,16,1
R1,PHQ-9,2026-10-05,14,0
R1,PHQ-9,2026-11-02,13,2
D1,PHQ-9,2026-03-02,8,0
D1,PHQ-9,2026-06-01,15,0
D1,PHQ-9,2026-09-01,12,0
E2,PHQ-9,2026-10-12,12,0
E3,PHQ-9,2026-09-01,14,0
E3,PHQ-9,2026-10-01,11,0
E4,PHQ-9,2026-10-19,13,0
E4,PHQ-9,2026-10-26,12,0
E5,PHQ-9,2026-06-01,7,0
E5,PHQ-9,2026-09-01,6,0
S1,PHQ-9,2026-02-02,15,0
S1,PHQ-9,2026-03-02,9,0
"""

ASSIGNMENT_HEADER = (
    "assignment_id,client_id,assigned_date,homework_type,goal_linked,rationale_given,rehearsed_in_session,"
    "practice_scheduled,obstacles_planned,involves_others,planned_practices,completed_practices,quantity_rating,"
    "quality_rating,rated_by,reviewed_date,description"
)
OTHER_ASSIGNMENTS = """R1A1,R1,2026-09-07,journal,true,true,true,true,true,false,3,,2,2,client,2026-10-05,Journal
R1A2,R1,2026-11-02,reading,true,false,false,true,false,false,1,,,,,,Read chapter
D1A1,D1,2026-03-02,exposure,true,true,false,false,false,false,5,1,,0,therapist,2026-04-06,Ladder step
D1A2,D1,2026-04-06,exposure,false,false,false,false,false,false,5,0,,0,therapist,2026-06-01,Ladder step
E1A1,E1,2026-10-05,relaxation,true,true,true,true,true,false,7,,3,3,client,2026-10-12,Breathing
E1A2,E1,2026-10-26,relaxation,true,true,true,true,false,false,7,,4,2,client,2026-11-02,Breathing
E2A1,E2,2026-10-12,thought_record,true,true,true,false,false,false,3,,2,2,therapist,2026-10-19,Thought record
E4A1,E4,2026-10-19,exposure,true,true,false,true,false,false,4,,,,,,Exposure
E4A2,E4,2026-10-26,exposure,,,,,,false,4,,,,,,Exposure
E5A1,E5,2026-01-05,reading,true,true,true,true,true,false,1,,4,3,client,2026-01-12,Reading
S1A1,S1,2026-02-02,journal,true,true,true,true,true,false,3,,3,3,client,2026-02-09,South journal
"""


def build_review_clinic(directory: Path) -> Path:
    """Write the CSVs and import them; returns the database path."""
    n1_sessions, n1_scores, n1_assignments = _n1_rows()
    return import_clinic(
        directory, "review.duckdb", today=IMPORT_TODAY,
        clients=CLIENTS,
        sessions="client_id,session_date,attended,session_number\n" + "\n".join(n1_sessions) + "\n" + OTHER_SESSIONS,
        scores="client_id,measure,administered_date,total_score,item_9\n" + "\n".join(n1_scores) + "\n" + OTHER_SCORES,
        assignments=ASSIGNMENT_HEADER + "\n" + "\n".join(n1_assignments) + "\n" + OTHER_ASSIGNMENTS,
    )


# ----------------------------------------------------------------------------- fixtures
