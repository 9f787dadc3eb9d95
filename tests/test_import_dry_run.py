"""A dry run validates and reports exactly what an import would do, and writes nothing; the
import report notes values read in another spelling (``PHQ9`` -> ``PHQ-9``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import duckdb

from analytics import dry_run, import_files
from analytics.ingest.importer import Normalised

TODAY = dt.date(2026, 11, 27)
TABLES = ("clients", "sessions", "assignments", "scores", "import_batches", "import_rejects", "import_removed")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _counts(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in TABLES}
    finally:
        con.close()


def _scores(tmp_path: Path, client: str, intake: str) -> Path:
    day = (dt.date.fromisoformat(intake) + dt.timedelta(days=3)).isoformat()
    later = (dt.date.fromisoformat(intake) + dt.timedelta(days=10)).isoformat()
    path = tmp_path / "scores_new.csv"
    path.write_text(
        "client_id,measure,administered_date,total_score\n"
        f"{client},PHQ9,{day},12\n"
        f"{client},phq 9,{later},31\n"
        f"{client},GAD-7,{later},9\n"
    )
    return path


def _first_client(db: Path) -> tuple[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        client, intake = con.execute("SELECT client_id, intake_date::VARCHAR FROM clients ORDER BY 1 LIMIT 1").fetchall()[0]
    finally:
        con.close()
    return client, intake


def test_a_dry_run_reports_the_import_and_leaves_the_database_byte_for_byte_unchanged(tiny_db_path, tmp_path):
    db = tmp_path / "clinic.duckdb"
    shutil.copyfile(tiny_db_path, db)
    client, intake = _first_client(db)
    files = [_scores(tmp_path, client, intake)]
    before_digest, before_counts = _digest(db), _counts(db)

    preview = dry_run(db, files, today=TODAY)

    assert _digest(db) == before_digest
    assert _counts(db) == before_counts
    assert not list(tmp_path.glob("clinic.duckdb.*"))  # no copy, lock or WAL left beside it
    assert preview.dry_run and preview.batch_id == before_counts["import_batches"] + 1
    assert (preview.inserted, preview.rejected) == (2, 1)
    assert preview.rejects[["file_name", "line_number", "column_name", "value"]].values.tolist() == [
        ["scores_new.csv", 3, "total_score", "31"]
    ]
    assert "Dry run (nothing written" in preview.report()

    # The import that follows does what the dry run said.
    done = import_files(db, files, today=TODAY)
    assert (done.batch_id, done.inserted, done.rejected) == (preview.batch_id, preview.inserted, preview.rejected)
    assert not done.dry_run and done.rejects is None
    assert _counts(db)["scores"] == before_counts["scores"] + 2


def test_the_report_notes_measure_names_read_in_another_spelling(tiny_db_path, tmp_path):
    db = tmp_path / "clinic.duckdb"
    shutil.copyfile(tiny_db_path, db)
    client, intake = _first_client(db)
    result = import_files(db, [_scores(tmp_path, client, intake)], today=TODAY)
    assert result.normalised == [
        ("scores_new.csv", Normalised("measure", "PHQ9", "PHQ-9", 1)),
        ("scores_new.csv", Normalised("measure", "phq 9", "PHQ-9", 1)),
    ]
    assert "note: scores_new.csv: measure 'PHQ9' read as 'PHQ-9' (1 row)" in result.report()


def test_freshness_gives_the_latest_date_of_each_table_and_the_as_of_date(tiny_db):
    from analytics import Viewer, data_freshness

    fresh = data_freshness(tiny_db, Viewer.local())
    expected = tiny_db.execute_sql(
        """SELECT (SELECT max(session_date) FROM sessions) AS sessions, (SELECT max(administered_date) FROM scores) AS scores,
                  (SELECT max(assigned_date) FROM assignments) AS assigned, (SELECT max(reviewed_date) FROM assignments) AS reviewed,
                  (SELECT max(intake_date) FROM clients) AS intakes"""
    ).iloc[0]
    latest = dict(zip(fresh.tables["records"], fresh.tables["latest_date"], strict=True))
    assert latest == {
        "Sessions": expected["sessions"].date(), "Symptom scores": expected["scores"].date(),
        "Homework set": expected["assigned"].date(), "Homework reviewed": expected["reviewed"].date(),
        "Intakes": expected["intakes"].date(),
    }
    assert fresh.as_of == max(expected["sessions"], expected["scores"]).date()
    days = dict(zip(fresh.tables["records"], fresh.tables["days_before_as_of"], strict=True))
    assert min(days["Sessions"], days["Symptom scores"]) == 0
    assert days["Intakes"] == (fresh.as_of - latest["Intakes"]).days
    from analytics import data_staleness

    assert data_staleness(fresh.as_of, fresh.as_of + dt.timedelta(days=15)).stale
    assert not data_staleness(fresh.as_of, fresh.as_of + dt.timedelta(days=14)).stale
