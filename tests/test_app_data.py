"""The Data page through Streamlit's AppTest: upload, validation report, rejects, history.

Each test works on its own copy of the sample fixture database, so an import here never
changes the database other tests read.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.support.clinics import ROOT

PAGE = str(ROOT / "pages" / "data.py")
RANGE_RULE = "PHQ-9 total_score must be between 0 and 27"


@pytest.fixture
def data_db(sample_db_path: Path, tmp_path: Path, serve_database) -> Path:
    """A private copy of the sample clinic as the dashboard's database, with empty caches."""
    copy = tmp_path / "clinic.duckdb"
    shutil.copyfile(sample_db_path, copy)
    return serve_database(copy)


def first_client(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT min(client_id) FROM clients").fetchall()[0][0]
    finally:
        con.close()


def screening_day(db: Path, client: str, days_before: int = 30) -> str:
    """A day before ``client``'s intake (within the screening window): a plausible score no stored row has."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT (intake_date - ?::INTEGER)::VARCHAR FROM clients WHERE client_id = ?",
                           [days_before, client]).fetchall()[0][0]
    finally:
        con.close()


def frame_with(at: AppTest, *columns: str) -> list[pd.DataFrame]:
    """The page's dataframes that have all of ``columns``."""
    frames = [pd.DataFrame(d.value) for d in at.dataframe]
    return [f for f in frames if set(columns) <= set(f.columns)]


def upload_and_import(at: AppTest, name: str, content: bytes) -> AppTest:
    at.file_uploader(key="import_files").set_value([(name, content, "text/csv")])
    at.run()
    assert not at.button(key="run_import").disabled
    at.button(key="run_import").click().run()
    assert not at.exception, at.exception
    return at


def test_upload_with_a_bad_row_shows_the_rejects_and_the_new_batch(data_db):
    client = first_client(data_db)
    day = screening_day(data_db, client)
    csv = (
        "client_id,measure,administered_date,total_score\n"
        f"{client},PHQ-9,{day},12\n"
        f"{client},phq9,{screening_day(data_db, client, 23)},31\n"
    ).encode()
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    upload_and_import(at, "scores_new.csv", csv)

    assert [w.value for w in at.warning] == [
        "Batch 2: 1 row rejected and 0 files refused. 1 valid row was imported."
    ]
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Inserted"], metrics["Updated"], metrics["Unchanged"], metrics["Rejected rows"]) == ("1", "0", "0", "1")
    files = frame_with(at, "File", "Status", "Rows read", "Rows rejected")[0]
    assert files[["File", "Table", "Status", "Rows read", "Rows rejected"]].values.tolist() == [
        ["scores_new.csv", "scores", "imported", 2, 1]
    ]
    assert files["Note"].tolist() == ["measure 'phq9' read as 'PHQ-9' (1 row)"]
    rejects = frame_with(at, "Line", "Column", "Rule broken")[0]
    assert rejects[["File", "Line", "Column", "Value", "Rule broken"]].values.tolist() == [
        ["scores_new.csv", 3, "total_score", "31", RANGE_RULE]
    ]
    history = frame_with(at, "Batch", "Inserted")[0]
    assert history["Batch"].tolist() == ["2", "1"]
    assert history.iloc[0][["Source", "Rows read", "Inserted", "Rejected"]].tolist() == ["dashboard", 2, 1, 1]
    # The history's rejects view opens on the new batch, not on batch 1.
    assert at.selectbox(key="history_batch").value == 2
    assert len(frame_with(at, "Line", "Column", "Rule broken")) == 2  # the report's and the history's

    # The stored data changed as reported: the valid row is in, the bad one is not.
    con = duckdb.connect(str(data_db), read_only=True)
    try:
        stored = con.execute(
            "SELECT administered_date::VARCHAR, total_score, batch_id FROM scores "
            "WHERE client_id = ? AND administered_date = ?",
            [client, day],
        ).fetchall()
    finally:
        con.close()
    assert stored == [(day, 12, 2)]


def test_history_selectbox_shows_the_rejects_of_a_past_batch(data_db):
    client = first_client(data_db)
    csv = f"client_id,measure,administered_date,total_score\n{client},BDI,{screening_day(data_db, client)},12\n".encode()
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    upload_and_import(at, "scores_bdi.csv", csv)

    # A new session: no last import on screen, only the history.
    fresh = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not fresh.exception, fresh.exception
    box = fresh.selectbox(key="history_batch")
    assert box.options == ["2", "1"]
    box.set_value(2).run()
    past = frame_with(fresh, "Line", "Column", "Rule broken")
    assert len(past) == 1
    assert past[0][["File", "Line", "Column", "Value"]].values.tolist() == [
        ["scores_bdi.csv", 2, "measure", "BDI"]
    ]
    assert past[0]["Rule broken"].iloc[0].startswith("unknown measure (configured: PHQ-9, GAD-7, CORE-10")
    fresh.selectbox(key="history_batch").set_value(1).run()
    assert not frame_with(fresh, "Line", "Column", "Rule broken")
    assert "Batch 1 rejected nothing." in [c.value for c in fresh.caption]


def test_a_refused_upload_is_reported(data_db):
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    upload_and_import(at, "scores.csv", b"client_id,measure\nC1,PHQ-9\n")
    assert [w.value for w in at.warning] == [
        "Batch 2: 0 rows rejected and 1 file refused. Nothing was imported."
    ]
    files = frame_with(at, "File", "Status")[0]
    assert files[["File", "Status", "Note"]].values.tolist() == [
        ["scores.csv", "refused", "required column(s) missing for table scores: administered_date, total_score"]
    ]


def test_the_import_report_reads_the_new_version_when_the_run_had_pinned_the_old(data_db, monkeypatch):
    """In sign-in mode the viewer comes from the database, so the run has pinned a data
    version before the import (ui/context.py); the report below must read the new one."""
    import ui
    from ui import opening

    original = opening.viewer

    def viewer_that_reads_the_database():
        ui.database()  # pins this run's version, as resolving a signed-in viewer does
        return original()

    monkeypatch.setattr(opening, "viewer", viewer_that_reads_the_database)
    client = first_client(data_db)
    csv = f"client_id,measure,administered_date,total_score\n{client},PHQ-9,{screening_day(data_db, client)},40\n".encode()
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    upload_and_import(at, "scores_pinned.csv", csv)
    rejects = frame_with(at, "Line", "Column", "Rule broken")[0]
    assert rejects[["File", "Line", "Value"]].values.tolist() == [["scores_pinned.csv", 2, "40"]]
    assert frame_with(at, "Batch", "Inserted")[0]["Batch"].tolist() == ["2", "1"]


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_check_only_reports_the_import_and_its_rejects_and_changes_nothing(data_db):
    client = first_client(data_db)
    csv = (
        "client_id,measure,administered_date,total_score\n"
        f"{client},PHQ9,{screening_day(data_db, client)},12\n"
        f"{client},PHQ-9,{screening_day(data_db, client, 23)},31\n"
    ).encode()
    before = _digest(data_db)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.file_uploader(key="import_files").set_value([("scores_check.csv", csv, "text/csv")])
    at.run()
    at.button(key="run_dry_run").click().run()
    assert not at.exception, at.exception

    assert _digest(data_db) == before
    assert "Dry run: nothing was written. Importing these files now would be batch 2." in [i.value for i in at.info]
    notes = [i.value.replace("\\", "") for i in at.info if "read in another spelling" in i.value]  # md() escapes
    assert len(notes) == 1 and "scores_check.csv: measure 'PHQ9' read as 'PHQ-9' (1 row)" in notes[0], notes
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Would insert"], metrics["Rejected rows"]) == ("1", "1")
    rejects = frame_with(at, "Line", "Column", "Rule broken")[0]
    assert rejects[["File", "Line", "Value", "Rule broken"]].values.tolist() == [["scores_check.csv", 3, "31", RANGE_RULE]]
    assert frame_with(at, "Batch", "Inserted")[0]["Batch"].tolist() == ["1"]  # no batch was written


def test_the_page_shows_how_current_each_table_is_and_links_the_import_format(data_db):
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    fresh = frame_with(at, "Records", "Latest date")[0]
    assert fresh["Records"].tolist() == ["Sessions", "Symptom scores", "Homework set", "Homework reviewed", "Intakes"]
    con = duckdb.connect(str(data_db), read_only=True)
    try:
        latest_session, latest_score = con.execute(
            "SELECT (SELECT max(session_date) FROM sessions)::VARCHAR, (SELECT max(administered_date) FROM scores)::VARCHAR"
        ).fetchall()[0]
    finally:
        con.close()
    assert fresh["Latest date"].tolist()[:2] == [latest_session, latest_score]
    assert any(f"Data as of **{max(latest_session, latest_score)}**" in m.value for m in at.markdown)
    assert any("[the import format](/glossary?term=import-format)" in m.value for m in at.markdown)
