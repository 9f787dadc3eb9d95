"""Import rules for dates (issue 10, items 7 and 13): implausible dates are rejected with
file, line, column, value and rule; timezone-aware Parquet timestamps become the clinic's
local date; and no client-review code crashes on any date the database can hold.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from analytics import Settings, import_files
from tests.conftest import FIXTURE_TODAY, write_csv

UTC = dt.UTC
CLIENTS = """
client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date
C1,North,T1,Depression CBT,depression,2025-01-06,
"""


def _rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _tz_scores(path: Path) -> Path:
    """Three PHQ-9 scores stamped as instants near midnight UTC (a timezone-aware column)."""
    stamps = [
        dt.datetime(2025, 3, 1, 23, 30, tzinfo=UTC),   # GMT in London: still 1 March
        dt.datetime(2025, 6, 30, 23, 30, tzinfo=UTC),  # BST in London: already 1 July
        dt.datetime(2025, 8, 1, 0, 30, tzinfo=UTC),    # 1 August in London, 31 July in New York
    ]
    table = pa.table({
        "client_id": ["C1", "C1", "C1"],
        "measure": ["PHQ-9", "PHQ-9", "PHQ-9"],
        "administered_date": pa.array(stamps, type=pa.timestamp("us", tz="UTC")),
        "total_score": [15, 12, 9],
    })
    pq.write_table(table, path)
    return path


def test_parquet_timezone_aware_timestamps_become_the_clinic_local_date(tmp_path):
    """Item 13: before the fix the whole file was refused ("Unimplemented type for cast")."""
    clients = write_csv(tmp_path / "clients.csv", CLIENTS)
    scores = _tz_scores(tmp_path / "scores.parquet")
    db = tmp_path / "london.duckdb"
    result = import_files(db, [clients, scores], today=FIXTURE_TODAY)  # default: Europe/London
    assert result.files_refused == 0, result.report()
    assert result.exit_code == 0, result.report()
    assert _rows(db, "SELECT administered_date, total_score FROM scores ORDER BY total_score DESC") == [
        (dt.date(2025, 3, 1), 15), (dt.date(2025, 7, 1), 12), (dt.date(2025, 8, 1), 9),
    ]

    ny = tmp_path / "new_york.duckdb"
    result = import_files(ny, [clients, scores], today=FIXTURE_TODAY,
                          settings=Settings(clinic_timezone="America/New_York"))
    assert result.exit_code == 0, result.report()
    assert _rows(ny, "SELECT administered_date FROM scores ORDER BY total_score DESC") == [
        (dt.date(2025, 3, 1),), (dt.date(2025, 6, 30),), (dt.date(2025, 7, 31),),
    ]


def test_parquet_timezone_aware_with_unknown_clinic_timezone_is_refused_with_the_setting(tmp_path):
    clients = write_csv(tmp_path / "clients.csv", CLIENTS)
    scores = _tz_scores(tmp_path / "scores.parquet")
    result = import_files(tmp_path / "x.duckdb", [clients, scores], today=FIXTURE_TODAY,
                          settings=replace(Settings(), clinic_timezone="Mars/Olympus"))
    refused = [f for f in result.files if f.status == "refused"]
    assert [f.file_name for f in refused] == ["scores.parquet"]
    assert "clinic_timezone setting 'Mars/Olympus' is not a known time zone" in refused[0].message
