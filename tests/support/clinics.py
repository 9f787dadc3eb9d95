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
