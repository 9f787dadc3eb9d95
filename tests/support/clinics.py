"""Small clinic databases built through the real import path, and the sign-in AppTest sees:
shared by the test modules, the browser suite and the benchmark."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from analytics import import_files

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_TODAY = date(2026, 11, 27)


# Sign-in as AppTest sees it: an [auth] section and the provider's user (tests of every role).
AUTH = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "test-cookie-secret-that-is-long-enough-0123456789",
        "client_id": "between-sessions",
        "client_secret": "test-secret",
        "server_metadata_url": "http://localhost:9400/.well-known/openid-configuration",
    }
}


def signed_in(script: Path | str, email: str | None, *, timeout: float = 60, run: bool = True, **query: str):
    """An AppTest of ``script`` signed in as ``email`` with a provider-verified address (an
    unverified one is refused: tests/test_exposure.py), or signed out when ``email`` is None;
    ``query`` goes into the URL. Run unless ``run=False``."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(script), default_timeout=timeout)
    at.secrets = AUTH
    at.user = {"is_logged_in": True, "email": email, "email_verified": True} if email else {"is_logged_in": False}
    for key, value in query.items():
        at.query_params[key] = value
    return at.run() if run else at


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


# A tiny clinic small enough to compute every figure by hand (tests/test_metrics.py).
TINY_CLIENTS = """
client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date
C1,North,T1,Depression CBT,depression,2025-01-06,2025-04-07
C2,North,T1,Depression CBT,depression,2025-01-13,2025-04-14
C3,North,T2,Anxiety CBT,panic,2025-02-03,
C4,South,T3,Depression CBT,depression,2025-02-10,2025-05-12
C5,South,T3,Group CBT,social anxiety,2025-03-03,
"""
TINY_SESSIONS = """
client_id,session_date,attended,session_number
C1,2025-01-06,true,1
C1,2025-01-13,true,2
C1,2025-01-20,false,3
C2,2025-01-13,yes,1
C3,2025-02-03,1,1
C4,2025-02-10,true,1
"""
TINY_ASSIGNMENTS = """
assignment_id,client_id,assigned_date,homework_type,goal_linked,rationale_given,rehearsed_in_session,practice_scheduled,obstacles_planned,involves_others,planned_practices,completed_practices,quantity_rating,quality_rating,rated_by,reviewed_date,description
A1,C1,2025-01-06,thought_record,true,true,true,true,true,false,3,,4,3,therapist,2025-01-13,Thought record after the argument
A2,C1,2025-01-13,Behavioural Activation,true,false,false,true,false,false,4,2,,,,2025-01-27,"Walk, twice"
A3,C2,2025-01-13,exposure,false,false,false,false,false,false,5,5,1,1,client,2025-01-20,
A4,C3,2025-02-03,journal,true,true,false,false,false,false,2,,,,,,
A5,C4,2025-02-10,diary-card,true,true,true,false,false,false,7,9,,2,both,2025-02-17,Diary card
"""
# PHQ-9: C1 18 -> 9 (recovered, reliable), follow-up 6 after discharge; C2 12 -> 14;
# C4 20 -> 11 (reliable improvement, still at caseness); C3 one score only.
# GAD-7: C1 10 -> 4; C3 9 -> 5 (in treatment, latest overall).
TINY_SCORES = """
client_id,measure,administered_date,total_score
C1,PHQ-9,2025-01-06,18
C1,PHQ-9,2025-02-10,12
C1,PHQ-9,2025-04-07,9
C1,PHQ-9,2025-08-01,6
C2,PHQ-9,2025-01-13,12
C2,PHQ-9,2025-04-14,14
C3,PHQ-9,2025-02-03,11
C4,PHQ-9,2025-02-10,20
C4,PHQ-9,2025-05-12,11
C1,GAD-7,2025-01-06,10
C1,GAD-7,2025-04-07,4
C3,GAD-7,2025-02-03,9
C3,GAD-7,2025-03-03,5
"""


def import_clinic(directory: Path, db_name: str = "clinic.duckdb", *, settings: Any = None, today: date = FIXTURE_TODAY,
                  **tables: str) -> Path:
    """A clinic from CSV texts: each of ``tables`` (clients=..., sessions=..., assignments=...,
    scores=...) written to ``directory/<name>.csv`` and imported through the real importer into
    ``directory/db_name`` (with ``settings``, on ``today``); every row must be accepted."""
    directory.mkdir(parents=True, exist_ok=True)
    files = [write_csv(directory / f"{name}.csv", text) for name, text in tables.items()]
    path = directory / db_name
    result = import_files(path, files, today=today, settings=settings)
    assert result.exit_code == 0, result.report()
    return path


def build_tiny_clinic(directory: Path) -> Path:
    return import_clinic(directory, "tiny.duckdb", clients=TINY_CLIENTS, sessions=TINY_SESSIONS,
                         assignments=TINY_ASSIGNMENTS, scores=TINY_SCORES)


# The caseload clinic (tests/test_caseload.py): the data as of 2026-10-30, therapists T1 (North),
# T2 (North) and T3 (South); the caseload's order by need for T1 and for North's supervisor.
CASELOAD_CLIENTS = """
client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date
K1,North,T1,Depression CBT,depression,2026-08-07,
K2,North,T1,Depression CBT,depression,2026-09-01,
K3,North,T1,Depression CBT,depression,2026-08-14,
K4,North,T1,Anxiety CBT,panic,2026-08-21,
K5,North,T1,Depression CBT,depression,2026-08-28,
K6,North,T1,Depression CBT,depression,2026-09-04,
K7,North,T1,Depression CBT,depression,2026-08-01,2026-10-16
K8,North,T1,Depression CBT,depression,2026-09-11,2026-11-06
K11,North,T1,Depression CBT,depression,2026-10-26,
K9,North,T2,Anxiety CBT,panic,2026-09-25,
K10,South,T3,Depression CBT,depression,2026-09-01,
"""
CASELOAD_SESSIONS = """
client_id,session_date,attended,session_number
K1,2026-10-23,true,6
K2,2026-10-20,true,5
K3,2026-10-16,true,7
K4,2026-10-23,true,7
K5,2026-10-09,true,5
K5,2026-10-23,false,6
K6,2026-10-02,true,4
K6,2026-10-30,true,8
K7,2026-10-16,true,9
K8,2026-10-27,true,7
K11,2026-10-26,true,1
K9,2026-10-23,true,4
K10,2026-10-28,true,8
"""
# K6, last 4 weeks: H2 done (1), H3 1 of 2 practices (0.5), H4 not reviewed; H1 (2026-10-02) is
# before the window. -> 3 set, 2 reviewed, quantity 0.75, reviewed share 2/3.
# K5: H5 rated 1 -> 0.25, 1 of 1 reviewed. K4: H8 5 of 3 practices, capped -> 1.0. K8: H6 before
# the window -> none set.
CASELOAD_ASSIGNMENTS = """
assignment_id,client_id,assigned_date,homework_type,planned_practices,completed_practices,quantity_rating,quality_rating,reviewed_date
H1,K6,2026-10-02,thought_record,,,0,,2026-10-09
H2,K6,2026-10-03,thought_record,,,4,3,2026-10-10
H3,K6,2026-10-17,behavioural_activation,2,1,,,2026-10-24
H4,K6,2026-10-24,journal,,,,,
H5,K5,2026-10-10,exposure,,,1,1,2026-10-17
H6,K8,2026-09-20,relaxation,,,4,4,2026-09-27
H7,K7,2026-10-10,relaxation,,,0,0,2026-10-14
H8,K4,2026-10-20,exposure,3,5,,,2026-10-23
"""
CASELOAD_SCORES = """
client_id,measure,administered_date,total_score,item_9
K1,PHQ-9,2026-08-07,12,0
K1,PHQ-9,2026-10-23,9,1
K2,PHQ-9,2026-09-01,8,0
K2,PHQ-9,2026-10-20,15,0
K3,PHQ-9,2026-08-14,16,0
K3,PHQ-9,2026-10-16,13,0
K4,PHQ-9,2026-08-21,9,0
K4,PHQ-9,2026-10-02,4,0
K4,GAD-7,2026-08-21,12,
K4,GAD-7,2026-10-23,7,
K5,PHQ-9,2026-08-28,14,0
K5,PHQ-9,2026-10-20,7,0
K6,PHQ-9,2026-09-04,11,0
K6,PHQ-9,2026-10-30,7,0
K6,GAD-7,2026-09-04,10,
K6,GAD-7,2026-10-30,6,
K7,PHQ-9,2026-08-01,20,1
K7,PHQ-9,2026-10-16,21,1
K8,PHQ-9,2026-09-11,15,0
K8,PHQ-9,2026-10-27,8,0
K9,GAD-7,2026-09-25,9,
K10,PHQ-9,2026-09-01,10,0
K10,PHQ-9,2026-10-28,11,2
"""

T1_ORDER = ["K1", "K2", "K3", "K4", "K5", "K11", "K6", "K8"]
NORTH_ORDER = ["K1", "K2", "K3", "K4", "K9", "K5", "K11", "K6", "K8"]


def build_caseload_clinic(directory: Path) -> Path:
    return import_clinic(directory, "caseload.duckdb", clients=CASELOAD_CLIENTS, sessions=CASELOAD_SESSIONS,
                         assignments=CASELOAD_ASSIGNMENTS, scores=CASELOAD_SCORES)


@dataclass(frozen=True)
class Clinic:
    db_path: Path
    csv_dir: Path


def build_sample_clinic(directory: Path, clients: int = 400, seed: int = 5) -> Clinic:
    """The seeded sample generator's clinic of ``clients`` in ``directory`` (database and CSV export);
    by default the browser suite's 400-client clinic."""
    from analytics.ingest.sample import build_sample_database

    directory.mkdir(parents=True, exist_ok=True)
    db_path, csv_dir = directory / "clinic.duckdb", directory / "export"
    result = build_sample_database(db_path, clients=clients, seed=seed, csv_dir=csv_dir)
    assert result.exit_code == 0, result.report()
    return Clinic(db_path, csv_dir)


def add_users(db: Path, users: dict[str, tuple[str, dict]]) -> Path:
    """Add ``users`` (e-mail -> (role, users-table extras)) to the clinic's users table."""
    from analytics.access import add_user

    for email, (role, extra) in users.items():
        add_user(db, email, role, **extra)
    return db


# A rejected assignment of the tiny clinic's client C1 (therapist T1, clinic North) with free
# text in it: quantity_rating 7 is outside 0-4.
SECRET = "Call her sister Maria about the custody hearing"
REJECTED_ASSIGNMENT = (
    "assignment_id,client_id,assigned_date,homework_type,planned_practices,quantity_rating,description\n"
    f"A900,C1,2025-02-01,journal,3,7,{SECRET}\n"
)


def clinic_with_a_rejected_row(work: Path, tiny_db: Path, users: dict[str, tuple[str, dict]]) -> Path:
    """A copy of the tiny clinic in ``work`` with ``users`` and batch 2: one rejected assignment of C1."""
    import shutil

    db = work / "clinic.duckdb"
    shutil.copyfile(tiny_db, db)
    add_users(db, users)
    result = import_files(db, [write_csv(work / "assignments_feb.csv", REJECTED_ASSIGNMENT)], today=FIXTURE_TODAY)
    assert (result.batch_id, result.rejected) == (2, 1), result.report()
    return db
