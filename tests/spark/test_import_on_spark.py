"""The import's checks on Spark (issue 17, item 2): the same files imported with the checks in
Spark SQL (analytics/ingest/checks.py, ``BETWEEN_SESSIONS_ENGINE=spark``) and in DuckDB leave the
same database: the same stored rows, the same rejects (file, line, column, value, rule, the raw
row), the same batch records and counts, and the same rows stored for the pages.

The checks decide per cell, so rows, rejects and counts are compared exactly. The figures stored
for the pages are computed by the writer (DuckDB) from what the checks let through; the rows of
the two files are the same but not stored in the same order, and DuckDB's floating-point sums
follow that order (the expected recovery fit's coefficients differed in the 14th digit): floats
are compared within the suite's tolerance (tests/spark/compare.py, 1e-9)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from analytics.db import data_version
from analytics.ingest import checks as checks_module
from analytics.ingest.importer import import_files
from analytics.ingest.profiles import MappingProfile
from analytics.lake import current_snapshot
from tests.spark.compare import differences
from tests.test_importer import ASSIGNMENTS_HEADER as ASSIGNMENTS  # the importer tests' format and day
from tests.test_importer import CLIENTS_HEADER as CLIENTS
from tests.test_importer import SCORES_HEADER as SCORES
from tests.test_importer import SESSIONS_HEADER as SESSIONS
from tests.test_importer import TODAY


def _contents(db_path: Path) -> dict[str, list[tuple]]:
    """Every table of the file, every column but the clock's (import start and end), fully ordered."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1").fetchall()]
        out = {}
        for table in tables:
            columns = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall() if not c[1].startswith("TIMESTAMP")]
            out[table] = con.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY ALL").fetchall()
        return out
    finally:
        con.close()


def _messy_batch(folder: Path, known: tuple[str, str, dt.date]) -> list[Path]:
    """Files that break every rule of the import at least once, beside valid rows, an update of a
    stored client, duplicates and spellings the import reads (PHQ9, Thought Record)."""
    client, clinic, intake = known
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "clients_more.csv": f"""{CLIENTS}
N1,North,T1,Depression CBT,depression,2025-01-06,
N2,North,T1,,depression,2025-1-5,
N3,North,,Anxiety CBT,panic,2025-01-06,
N4,North,T1,Anxiety CBT,panic,2026-11-28,
N5,North,T1,Anxiety CBT,panic,2025-03-01,2025-02-28
N6,North,T1,Anxiety CBT,panic,1899-01-01,
N7,North,T1,Anxiety CBT,panic,2025-03-01,,one too many
N1,North,T2,Depression CBT,depression,2025-01-06,
N8,North,T1,Anxiety CBT,panic,2025-02-30,
N9,"North",T1,"Anxiety, CBT","panic
attacks",2025-02-03,
{client},{clinic},T-new,Depression CBT,depression,{intake.isoformat()},
""",
        "sessions_more.csv": f"""{SESSIONS}
N1,2025-01-13,yes,1
N1,2025-01-20,maybe,2
N1,2025-01-27,TRUE,3.0
N1,2025-02-03,,3.5
N1,2025-02-10,0,0
N1,2025-02-17,n,+4
N1,2025-02-24,1,1e3
ZZ,2025-01-13,true,1
N1,2025-01-13,no,1
N1,2025-03-03,y,99999999999
N1,2025-03-10,Y,-2.00
N9,2025-02-10,t,1
N9,2025-02-10,t,1
""",
        "assignments_more.csv": f"""{ASSIGNMENTS}
A1,N1,2025-01-13,Thought Record,true,true,false,true,false,false,3,2,3,2,Therapist,2025-01-20,first
A2,N1,2025-01-13,thought-record,yes,no,y,n,1,0,3,4,4,4,client,2025-01-20,
A3,N1,2025-01-13,astrology,true,true,true,true,true,true,3,2,3,2,both,2025-01-20,
A4,N1,2025-01-20,exposure,true,true,true,true,true,true,0,2,5,2,nobody,2025-01-10,
A5,N1,2025-01-01,journal,true,true,true,true,true,true,2,2,2,2,both,2025-01-08,before intake
A6,ZZ,2025-01-20,journal,true,true,true,true,true,true,2,2,2,2,both,,unknown client
A7,N9,2025-02-10,Behavioural Activation,,,,,,,1,,,,,,
A8,{client},{(intake + dt.timedelta(days=7)).isoformat()},diary card,true,true,true,true,true,true,7,7,4,3,both,,
""",
        "scores_more.csv": f"""{SCORES}
N1,PHQ9,2025-01-06,10,1,1,1,1,1,1,1,1,2,
N1,phq-9,2025-01-20,9,1,1,1,1,1,1,1,1,1,
N1,XYZ,2025-01-27,9,,,,,,,,,,
N1,PHQ-9,2025-02-03,28,,,,,,,,,,
N1,PHQ-9,2025-02-10,9,1,1,1,1,1,1,1,1,2,
N1,GAD-7,2025-02-10,7,1,1,1,1,1,1,1,1,,
N1,GAD-7,2024-11-01,7,,,,,,,,,,
N1,GAD-7,2025-01-02,7,,,,,,,,,,
N1,CORE-10,2025-02-17,12.0,,,,,,,,,,
N9,gad7,2025-02-10,4,,,,,,,,,,
""",
    }
    paths = []
    for name, text in files.items():
        path = folder / name
        path.write_text(text, encoding="utf-8", newline="")
        paths.append(path)
    return paths


@pytest.fixture
def spark_engine(monkeypatch: pytest.MonkeyPatch):
    """The Spark engine for imports, recording which checks each import ran on."""
    real = checks_module.import_checks
    engines_used: list[str] = []

    def recording(con, db_path):
        checks = real(con, db_path)
        engines_used.append(checks.engine)
        return checks

    monkeypatch.setattr("analytics.ingest.importer.import_checks", recording)
    monkeypatch.setenv("BETWEEN_SESSIONS_ENGINE", "spark")
    return engines_used


def _known_client(db_path: Path) -> tuple[str, str, dt.date]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute("SELECT client_id, clinic, intake_date FROM clients ORDER BY client_id LIMIT 1").fetchone()
    finally:
        con.close()


def test_the_sample_clinic_and_a_messy_batch_import_alike_on_both_engines(
        clinic_path: Path, tmp_path: Path, spark_engine: list[str], monkeypatch: pytest.MonkeyPatch):
    from analytics.ingest.sample import build_sample_database

    # 1. The sample clinic through the import with its checks on Spark, against the DuckDB import
    #    the other Spark tests read (clinic_path, conftest.py).
    on_spark = tmp_path / "spark" / "clinic.duckdb"
    on_spark.parent.mkdir()
    result = build_sample_database(on_spark)
    assert spark_engine == ["spark"] and result.exit_code == 0, result.report()
    assert differences(_contents(on_spark), _contents(clinic_path)) == []
    # the version the import wrote is the snapshot Spark reads (published under the writer's lock)
    snapshot = current_snapshot(on_spark)
    assert snapshot is not None and snapshot.manifest["source_version"] == str(data_version(on_spark))
    assert snapshot.manifest["tables"]["clients"]["rows"] == len(_contents(on_spark)["clients"])

    # 2. A batch breaking every rule, then the same batch again in snapshot mode, then a profile
    #    with another date format: on Spark into that copy, on DuckDB into a copy of clinic_path.
    on_duckdb = tmp_path / "duckdb" / "clinic.duckdb"
    on_duckdb.parent.mkdir()
    shutil.copy(clinic_path, on_duckdb)
    files = _messy_batch(tmp_path / "messy", _known_client(clinic_path))
    day_first = tmp_path / "day-first"
    day_first.mkdir()
    (day_first / "sessions_dayfirst.csv").write_text(
        f"{SESSIONS}\nN1,3/4/25,yes,7\nN1,03/04/2025,yes,8\nN1,31/4/25,yes,9\nN1,1/5/69,yes,10\nN1,1/5/68,yes,11\n",
        encoding="utf-8")
    runs = [
        dict(paths=files, kwargs={}),
        dict(paths=files[1:], kwargs={"snapshot": "clients"}),
        dict(paths=[day_first / "sessions_dayfirst.csv"], kwargs={"profile": MappingProfile(date_format="%d/%m/%y")}),
    ]
    results: dict[str, list] = {"spark": [], "duckdb": []}
    for engine, db_path in (("spark", on_spark), ("duckdb", on_duckdb)):
        monkeypatch.setenv("BETWEEN_SESSIONS_ENGINE", engine)
        for run in runs:
            results[engine].append(import_files(db_path, run["paths"], today=TODAY, **run["kwargs"]))
    assert spark_engine == ["spark"] * 4 + ["duckdb"] * 3
    for spark_result, duck_result in zip(results["spark"], results["duckdb"], strict=True):
        assert spark_result.per_table == duck_result.per_table
        assert [str(r) for r in spark_result.rejects_preview] == [str(r) for r in duck_result.rejects_preview]
        assert [(f.file_name, f.rows_read, f.rows_rejected, [str(n) for n in f.normalised])
                for f in spark_result.files] == [(f.file_name, f.rows_read, f.rows_rejected,
                                                  [str(n) for n in f.normalised]) for f in duck_result.files]
    first = results["duckdb"][0]
    # the batch did what it was written for: every table had rejects, rows stored and a spelling read
    assert all(first.per_table[t]["rejected"] > 0 and first.per_table[t]["inserted"] > 0
               for t in ("clients", "sessions", "assignments", "scores"))
    assert first.per_table["clients"]["updated"] == 1 and first.normalised
    # %d/%m/%y: 3/4/25 is stored; a four-digit year breaks the shape, 31/4 is no date, 1/5/69 is
    # 1969 (before the earliest plausible date) and 1/5/68 is 2068 (in the future), on both engines
    day_first_run = results["duckdb"][2]
    assert day_first_run.per_table["sessions"]["inserted"] == 1
    assert [(r.line_number, r.value, r.rule.split(":")[0]) for r in day_first_run.rejects_preview] == [
        (3, "03/04/2025", "expected a date in the format %d/%m/%y"),
        (4, "31/4/25", "expected a date in the format %d/%m/%y"),
        (5, "1/5/69", "implausible date"),
        (6, "1/5/68", "date lies in the future"),
    ]
    assert differences(_contents(on_spark), _contents(on_duckdb)) == []


def test_a_dry_run_on_spark_reports_what_the_import_would_do(clinic_path: Path, tmp_path: Path,
                                                              spark_engine: list[str]):
    from analytics.ingest.importer import dry_run

    db_path = tmp_path / "clinic.duckdb"
    shutil.copy(clinic_path, db_path)
    before = _contents(db_path)
    files = _messy_batch(tmp_path / "messy", _known_client(clinic_path))
    report = dry_run(db_path, files, today=TODAY)
    assert spark_engine == ["spark"] and report.dry_run
    assert _contents(db_path) == before  # nothing written
    imported = import_files(db_path, files, today=TODAY)
    assert report.per_table == imported.per_table
    assert len(report.rejects) == len(_contents(db_path)["import_rejects"]) - len(before["import_rejects"])
