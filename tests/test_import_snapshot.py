"""Snapshot imports (issue 10, item 6): an export that is authoritative for its clients
removes their stored rows that it no longer holds, records each removed row with its old
values in the batch, and counts it; the default import stays additive and says so.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from analytics import ClinicDatabase, Viewer, import_files, import_history
from analytics.cli.main import main as cli_main
from analytics.ingest import importer
from tests.support.clinics import FIXTURE_TODAY, fixture_csv, write_csv

CLIENTS = fixture_csv("test_import_snapshot", "clients")
# v1: three PHQ-9 scores of C1 (and one of C2, which the v2 export does not name).
SCORES_V1 = fixture_csv("test_import_snapshot", "scores_v1")
# v2 of C1's scores: 2025-02-03 was a typo for 2025-02-04; 2025-03-03 was deleted.
SCORES_V2 = fixture_csv("test_import_snapshot", "scores_v2")
D = dt.date


def _rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _scores(db: Path) -> list[tuple]:
    return _rows(db, "SELECT client_id, administered_date, total_score FROM scores ORDER BY ALL")


@pytest.fixture
def v1_db(tmp_path: Path) -> Path:
    db = tmp_path / "clinic.duckdb"
    v1 = tmp_path / "v1"
    v1.mkdir()
    result = import_files(db, [write_csv(v1 / "clients.csv", CLIENTS), write_csv(v1 / "scores.csv", SCORES_V1)],
                          today=FIXTURE_TODAY)
    assert result.exit_code == 0, result.report()
    return db


def _v2(tmp_path: Path) -> Path:
    v2 = tmp_path / "v2"
    v2.mkdir(exist_ok=True)
    return write_csv(v2 / "scores.csv", SCORES_V2)


def test_snapshot_import_leaves_exactly_v2_and_records_the_removed_rows(v1_db, tmp_path):
    result = import_files(v1_db, [_v2(tmp_path)], today=FIXTURE_TODAY, snapshot="clients")
    assert result.exit_code == 0, result.report()
    # Exactly v2 for C1; C2, which the export does not name, is untouched.
    assert _scores(v1_db) == [("C1", D(2025, 1, 6), 18), ("C1", D(2025, 2, 4), 14), ("C2", D(2025, 1, 13), 12)]
    assert (result.inserted, result.unchanged, result.removed, result.snapshot_clients) == (1, 1, 2, 1)
    assert result.per_table["scores"]["removed"] == 2
    # The removed rows are kept in the batch record with their old values.
    removed = _rows(v1_db, "SELECT batch_id, table_name, client_id, row_key, old_row FROM import_removed ORDER BY row_key")
    assert [(b, t, c, json.loads(k)) for b, t, c, k, _ in removed] == [
        (2, "scores", "C1", {"client_id": "C1", "measure": "PHQ-9", "administered_date": "2025-02-03"}),
        (2, "scores", "C1", {"client_id": "C1", "measure": "PHQ-9", "administered_date": "2025-03-03"}),
    ]
    old = [json.loads(r[4]) for r in removed]
    assert [(o["total_score"], o["batch_id"]) for o in old] == [(14, 1), (11, 1)]
    # Counted in the summary and in the history.
    assert "rejected 0 rows, refused 0 files, removed 2 rows" in result.report()
    assert "2 stored row(s) of scores absent from the files were removed" in result.report()
    with ClinicDatabase(v1_db) as db:
        history = import_history(db, Viewer.local(), 10)
    latest = history.iloc[0]
    assert (latest["batch_id"], latest["rows_removed"], latest["mode"]) == (2, 2, "snapshot-clients")
    assert (history.iloc[1]["rows_removed"], history.iloc[1]["mode"]) == (0, "additive")


def test_additive_import_keeps_v1_rows_and_says_so(v1_db, tmp_path):
    result = import_files(v1_db, [_v2(tmp_path)], today=FIXTURE_TODAY)
    assert result.exit_code == 0, result.report()
    assert _scores(v1_db) == [
        ("C1", D(2025, 1, 6), 18), ("C1", D(2025, 2, 3), 14), ("C1", D(2025, 2, 4), 14),
        ("C1", D(2025, 3, 3), 11), ("C2", D(2025, 1, 13), 12),
    ]
    assert result.removed == 0
    assert "Additive import: stored rows absent from these files were kept" in result.report()
    assert _rows(v1_db, "SELECT count(*) FROM import_removed") == [(0,)]


def test_snapshot_keeps_the_rows_of_a_client_with_a_rejected_row(v1_db, tmp_path):
    """A typo in the snapshot must not delete data: C1's scores stay when one of its rows is rejected."""
    bad = write_csv(tmp_path / "scores.csv", SCORES_V2 + "C1,PHQ-9,2025-03-10,99\n")
    result = import_files(v1_db, [bad], today=FIXTURE_TODAY, snapshot="clients")
    assert result.rejected == 1 and result.removed == 0
    assert result.held_clients == {"scores": 1}
    assert "Clients with a rejected row kept their stored rows of that table: 1 in scores." in result.report()
    assert ("C1", D(2025, 3, 3), 11) in _scores(v1_db)


def test_snapshot_only_prunes_tables_the_import_has_a_file_for(v1_db, tmp_path):
    sessions = write_csv(tmp_path / "sessions.csv", "client_id,session_date,attended,session_number\nC1,2025-01-06,true,1\n")
    result = import_files(v1_db, [sessions], today=FIXTURE_TODAY, snapshot="clients")
    assert result.exit_code == 0 and result.removed == 0, result.report()
    assert len(_scores(v1_db)) == 4


def test_cli_snapshot_flag(v1_db, tmp_path, capsys, monkeypatch):
    copy = tmp_path / "cli.duckdb"
    shutil.copyfile(v1_db, copy)
    monkeypatch.setattr(importer, "import_files", functools.partial(importer.import_files, today=FIXTURE_TODAY))
    assert cli_main(["import", "--db", str(copy), "--snapshot", "clients", str(_v2(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "removed 2 rows" in out and "Snapshot import of the 1 client(s)" in out
    assert _scores(copy) == [("C1", D(2025, 1, 6), 18), ("C1", D(2025, 2, 4), 14), ("C2", D(2025, 1, 13), 12)]
    assert cli_main(["import", "--db", str(copy), str(_v2(tmp_path))]) == 0
    assert "Additive import" in capsys.readouterr().out


def test_data_page_snapshot_option(v1_db, serve_database):
    """The Data page's import mode: the snapshot choice removes C1's absent scores and says so."""
    from streamlit.testing.v1 import AppTest

    from tests.support.clinics import ROOT

    serve_database(v1_db)
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    mode = at.radio(key="import_mode")
    assert mode.value.startswith("Additive (default)")
    mode.set_value(mode.options[1])
    at.file_uploader(key="import_files").set_value([("scores.csv", SCORES_V2.lstrip().encode(), "text/csv")])
    at.run()
    at.button(key="run_import").click().run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Inserted"], metrics["Unchanged"], metrics["Removed"]) == ("1", "1", "2")
    assert any("2 stored row(s) of scores absent from the files were removed" in c.value for c in at.caption)
    assert _scores(v1_db) == [("C1", D(2025, 1, 6), 18), ("C1", D(2025, 2, 4), 14), ("C2", D(2025, 1, 13), 12)]
