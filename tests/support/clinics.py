"""Small clinic databases built through the real import path, and the sign-in AppTest sees:
shared by the test modules, the browser suite and the benchmark."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from analytics import import_files

ROOT = Path(__file__).resolve().parents[2]
#: Test clinics' exports as CSV files, one folder per test module (tests/data/csv/<module>/<name>.csv).
FIXTURE_CSV_DIR = ROOT / "tests" / "data" / "csv"


def fixture_csv(module: str, name: str) -> str:
    """The text of one test export file, exactly as written (``tests/data/csv/<module>/<name>.csv``)."""
    return (FIXTURE_CSV_DIR / module / f"{name}.csv").read_bytes().decode("utf-8")
FIXTURE_TODAY = date(2026, 11, 27)
# What the app treats as today in every AppTest and test server ($BETWEEN_SESSIONS_TODAY): a date
# no test clinic's data are weeks older than, so no staleness warning shows unless a test pins a
# later day itself (tests/test_app_home.py); never the wall clock.
APP_TODAY = "2026-11-01"


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
TINY_CLIENTS = fixture_csv("support_clinics", "tiny_clients")
TINY_SESSIONS = fixture_csv("support_clinics", "tiny_sessions")
TINY_ASSIGNMENTS = fixture_csv("support_clinics", "tiny_assignments")
# PHQ-9: C1 18 -> 9 (recovered, reliable), follow-up 6 after discharge; C2 12 -> 14;
# C4 20 -> 11 (reliable improvement, still at caseness); C3 one score only.
# GAD-7: C1 10 -> 4; C3 9 -> 5 (in treatment, latest overall).
TINY_SCORES = fixture_csv("support_clinics", "tiny_scores")


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
CASELOAD_CLIENTS = fixture_csv("support_clinics", "caseload_clients")
CASELOAD_SESSIONS = fixture_csv("support_clinics", "caseload_sessions")
# K6, last 4 weeks: H2 done (1), H3 1 of 2 practices (0.5), H4 not reviewed; H1 (2026-10-02) is
# before the window. -> 3 set, 2 reviewed, quantity 0.75, reviewed share 2/3.
# K5: H5 rated 1 -> 0.25, 1 of 1 reviewed. K4: H8 5 of 3 practices, capped -> 1.0. K8: H6 before
# the window -> none set.
CASELOAD_ASSIGNMENTS = fixture_csv("support_clinics", "caseload_assignments")
CASELOAD_SCORES = fixture_csv("support_clinics", "caseload_scores")

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
