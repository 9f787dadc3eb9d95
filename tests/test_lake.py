"""The Parquet snapshots Spark reads (analytics/lake.py, issue 17) and the engine switch.

No pyspark here: the snapshot is written by DuckDB and read back by DuckDB's read_parquet, which
is what makes it a faithful copy; tests/spark runs the queries on it with Spark."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from analytics import ClinicDatabase, current_data_version, data_version, open_database
from analytics.access import add_user
from analytics.db import ENGINE_ENV, engine_name
from analytics.lake import SNAPSHOTS_KEPT, current_snapshot, ensure_snapshot, lake_dir, publish_snapshot


@pytest.fixture
def clinic(tiny_db_path: Path, tmp_path: Path) -> Path:
    path = tmp_path / "clinic.duckdb"
    shutil.copy(tiny_db_path, path)
    return path


def _parquet(snapshot, table: str) -> duckdb.DuckDBPyRelation:
    return duckdb.sql(f"SELECT * FROM read_parquet('{snapshot.path / table}/**/*.parquet', hive_partitioning = true)")


def test_a_snapshot_holds_every_table_a_reader_sees_row_for_row(clinic: Path):
    snapshot = publish_snapshot(clinic)
    assert (lake_dir(clinic) / "CURRENT").read_text().strip() == snapshot.id
    assert snapshot.manifest["source_version"] == str(data_version(clinic))
    with ClinicDatabase(clinic) as db:
        for table in ("clients", "sessions", "assignments", "scores", "users", "stored_client_homework",
                      "stored_client_months", "stored_settings"):
            spec = snapshot.manifest["tables"][table]
            expected = db.execute_sql(f"SELECT * FROM {table}").sort_values(by=[c for c, _ in spec["columns"]][:3])
            got = _parquet(snapshot, table).df()[[c for c, _ in spec["columns"]]]
            got = got.sort_values(by=list(got.columns[:3]))
            assert spec["rows"] == len(expected) == len(got), table
            assert expected.reset_index(drop=True).astype(str).equals(got.reset_index(drop=True).astype(str)), table
        assert snapshot.manifest["settings"]["stored_baseline_days"] == 0
        assert set(snapshot.manifest["present"]) == db.tables
    # the facts are laid out by their client's clinic and month, clients by clinic
    assert snapshot.manifest["tables"]["scores"]["partitioned_by"] == ["part_clinic", "part_month"]
    assert any(p.name.startswith("part_clinic=") for p in (snapshot.path / "clients").iterdir())
    months = {p.name for p in (snapshot.path / "scores").glob("part_clinic=*/part_month=*")}
    assert months and all(len(m) == len("part_month=2026-01") for m in months)


def test_an_empty_table_is_published_as_a_file_with_its_columns(tmp_path: Path):
    """A clinic with clients and nothing else yet: every table of the snapshot is a Parquet file a
    reader gets the columns from (a partitioned COPY of no rows writes no file at all, and Spark
    then cannot read the table)."""
    from analytics.ingest.importer import import_files

    clients = tmp_path / "clients.csv"
    clients.write_text("client_id,clinic,therapist_id,intake_date\nC1,North,T1,2025-01-06\n", encoding="utf-8")
    db_path = tmp_path / "clinic.duckdb"
    assert import_files(db_path, [clients]).exit_code == 0
    snapshot = publish_snapshot(db_path)
    for table in ("sessions", "assignments", "scores"):
        spec = snapshot.manifest["tables"][table]
        assert spec["rows"] == 0
        files = list((snapshot.path / table).rglob("*.parquet"))
        assert files, table
        relation = _parquet(snapshot, table)
        assert relation.columns == [c for c, _ in spec["columns"]] and len(relation.fetchall()) == 0
    assert len(_parquet(snapshot, "clients").fetchall()) == 1


def test_ensure_snapshot_publishes_only_for_a_new_version_of_the_file(clinic: Path):
    first = ensure_snapshot(clinic)
    assert ensure_snapshot(clinic).id == first.id  # the same file: the same snapshot
    add_user(clinic, "supervisor@example.org", "supervisor", clinics=["North"])  # a write: a new file
    second = ensure_snapshot(clinic)
    assert second.id != first.id and second.manifest["source_version"] == str(data_version(clinic))
    assert second.manifest["tables"]["users"]["rows"] == first.manifest["tables"]["users"]["rows"] + 1
    # a reader opened on the first snapshot still finds it whole
    assert first.path.is_dir() and json.loads((first.path / "manifest.json").read_text())["id"] == first.id


def test_on_the_spark_engine_every_write_publishes_its_version(clinic: Path, monkeypatch: pytest.MonkeyPatch):
    publish_snapshot(clinic)
    monkeypatch.setenv(ENGINE_ENV, "spark")
    add_user(clinic, "qi@example.org", "qi")
    current = current_snapshot(clinic)
    assert current.manifest["source_version"] == str(data_version(clinic))  # without a reader asking
    assert current_data_version(clinic) == current.id
    monkeypatch.setenv(ENGINE_ENV, "duckdb")
    add_user(clinic, "qi2@example.org", "qi")
    assert current_snapshot(clinic).id == current.id  # DuckDB alone: no snapshot written
    assert current_data_version(clinic) == str(data_version(clinic))


def test_old_and_half_written_snapshots_are_removed(clinic: Path):
    half_written = lake_dir(clinic) / "snapshots" / ".20260101T000000000000Z-1-2-3.writing"
    half_written.mkdir(parents=True)
    ids = [publish_snapshot(clinic).id for _ in range(SNAPSHOTS_KEPT + 2)]
    kept = sorted(p.name for p in (lake_dir(clinic) / "snapshots").iterdir() if p.is_dir())
    assert kept == ids[-SNAPSHOTS_KEPT:]  # the newest, the current one among them
    assert current_snapshot(clinic).id == ids[-1]
    assert not half_written.exists()


def test_the_engine_is_duckdb_unless_spark_is_named(clinic: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    assert engine_name() == "duckdb"
    with open_database(clinic) as db:
        assert isinstance(db, ClinicDatabase)
    monkeypatch.setenv(ENGINE_ENV, " Spark ")
    assert engine_name() == "spark"
    monkeypatch.setenv(ENGINE_ENV, "postgres")
    with pytest.raises(ValueError, match="BETWEEN_SESSIONS_ENGINE='postgres': the engines are duckdb, spark"):
        open_database(clinic)


def test_scratch_folders_of_killed_spark_imports_are_removed_after_a_day(tmp_path: Path):
    """An import on Spark keeps its staged files and results in a scratch folder beside the lake,
    removed when it ends; one a killed import left is removed by a later import once it is a day
    old (a running dry run's folder is younger)."""
    import os

    from analytics.ingest.checks import STALE_SCRATCH_S, remove_stale_scratch

    imports = tmp_path / "clinic.lake" / "imports"
    now = 1_800_000_000.0  # a fixed moment, not the clock
    old, young = imports / "old", imports / "young"
    for folder, age in ((old, STALE_SCRATCH_S + 60), (young, STALE_SCRATCH_S - 60)):
        (folder / "checked").mkdir(parents=True)
        (folder / "checked" / "part-0.parquet").write_bytes(b"x")
        os.utime(folder, (now - age, now - age))
    assert remove_stale_scratch(imports, now) == [old]
    assert not old.exists() and young.is_dir()
    assert remove_stale_scratch(tmp_path / "nothing", now) == []
