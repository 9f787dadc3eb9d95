"""Parquet snapshots of the clinic database, the data another engine reads (issue 17).

The import validates and commits a batch into the DuckDB file (analytics/ingest/importer.py: all
or nothing, rejects kept). :func:`publish_snapshot` then writes that one data version as a
*snapshot*: every table a reader sees (the clinic's tables and the rows stored at import) as
Parquet under ``<database>.lake/snapshots/<id>/<table>/``, with a ``manifest.json`` (columns,
row counts, the stored settings), and publishes it by one atomic rename of the pointer file
``<database>.lake/CURRENT``. A reader (analytics.spark_engine) reads the snapshot CURRENT names
when it opens and keeps it, all old or all new, as the DuckDB reader keeps its file. Snapshots
are never changed after publication; the :data:`SNAPSHOTS_KEPT` latest stay, so a reader opened
on an earlier one can finish.

Layout for a cluster: ``clients`` is partitioned by clinic; ``sessions``, ``assignments`` and
``scores`` by their client's clinic and the month of the row's date (``part_clinic=…/part_month=…``
directories, hive style, so a cluster's readers split the work by file). The partition columns
are not columns of the tables the queries see.

Nothing here imports pyspark: the snapshot is written by DuckDB's ``COPY … (FORMAT parquet)``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .db import ClinicDatabase, _quote_literal, data_version
from .stored import setting_constants

__all__ = ["SNAPSHOTS_KEPT", "Snapshot", "current_snapshot", "ensure_snapshot", "lake_dir", "publish_snapshot"]

POINTER = "CURRENT"
MANIFEST = "manifest.json"
SNAPSHOTS_KEPT = 3
PUBLISH_MEMORY_LIMIT = "2GB"  # DuckDB's limit while a snapshot is written (it spills beyond it)
#: Fact tables: partitioned by the client's clinic and the month of this date column.
_BY_CLINIC_AND_MONTH = {"sessions": "session_date", "assignments": "assigned_date", "scores": "administered_date"}


@dataclass(frozen=True)
class Snapshot:
    """One published snapshot: its folder and manifest. ``str()`` is its id (the data version)."""

    path: Path
    manifest: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.manifest["id"])

    def __str__(self) -> str:
        return self.id


def lake_dir(db_path: str | Path) -> Path:
    """Where the snapshots of the database ``db_path`` live: ``clinic.duckdb`` -> ``clinic.lake``."""
    return Path(db_path).with_suffix(".lake")


def current_snapshot(db_path: str | Path) -> Snapshot | None:
    """The snapshot the pointer names, or None when none has been published."""
    lake = lake_dir(db_path)
    try:
        name = (lake / POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    folder = lake / "snapshots" / name
    return Snapshot(folder, json.loads((folder / MANIFEST).read_text(encoding="utf-8")))


def ensure_snapshot(db_path: str | Path) -> Snapshot:
    """The current snapshot, published first when there is none or it was written from another
    version of the database file (an import since, or the sample clinic just built)."""
    snapshot = current_snapshot(db_path)
    if snapshot is not None and snapshot.manifest["source_version"] == str(data_version(db_path)):
        return snapshot
    with _publishing(db_path):
        snapshot = current_snapshot(db_path)  # another process may have published it meanwhile
        if snapshot is not None and snapshot.manifest["source_version"] == str(data_version(db_path)):
            return snapshot
        return _publish(db_path)


def publish_snapshot(db_path: str | Path) -> Snapshot:
    """Write the current version of the database file as a new snapshot and point CURRENT at it."""
    with _publishing(db_path):
        return _publish(db_path)


@contextlib.contextmanager
def _publishing(db_path: str | Path) -> Iterator[None]:
    """One publisher at a time per lake (an exclusive lock on ``.lock`` in it)."""
    lake = lake_dir(db_path)
    (lake / "snapshots").mkdir(parents=True, exist_ok=True)
    with open(lake / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _readable_relations(db: ClinicDatabase) -> list[str]:
    """The tables and views of a reader's own catalog: the file's tables and the stored rows (or
    their empty stand-ins for a file imported before they were stored)."""
    rows = db.execute_sql(
        "SELECT table_name AS name FROM duckdb_tables() WHERE database_name = 'memory' "
        "UNION SELECT view_name FROM duckdb_views() WHERE database_name = 'memory' AND NOT internal "
        "ORDER BY name", label="lake_relations")
    names = list(rows["name"])
    # they are spliced into COPY and DESCRIBE as identifiers: the package's own names only
    unexpected = [n for n in names if not re.fullmatch(r"[a-z_][a-z0-9_]*", n)]
    if unexpected:
        raise ValueError(f"unexpected relation names in the reader's catalog: {unexpected}")
    return names


def _publish(db_path: str | Path) -> Snapshot:
    lake = lake_dir(db_path)
    with ClinicDatabase(db_path) as db:
        created = dt.datetime.now(dt.UTC)
        snapshot_id = f"{created:%Y%m%dT%H%M%S%fZ}-{db.version}"
        writing = lake / "snapshots" / f".{snapshot_id}.writing"
        shutil.rmtree(writing, ignore_errors=True)
        writing.mkdir(parents=True)
        tables: dict[str, Any] = {}
        cursor = db._con.cursor()  # the reader's catalog, read-only: the file is attached READ_ONLY
        # rows in any order within a file (the tables have no order); memory bounded: a partitioned
        # write keeps a buffer per open partition (peak RSS 6.2 GB at XXL without these)
        cursor.execute(f"SET preserve_insertion_order = false; SET memory_limit = '{PUBLISH_MEMORY_LIMIT}'")
        try:
            for name in _readable_relations(db):
                columns = cursor.execute(f"DESCRIBE {name}").fetchall()
                rows = cursor.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
                target = writing / name
                select, partitions = _partitioned_select(name, [c[0] for c in columns])
                if not rows:  # a partitioned COPY of no rows writes no file, and a reader needs the columns
                    select, partitions = f"SELECT * FROM {name}", []
                options = "FORMAT parquet"
                if partitions:
                    options += f", PARTITION_BY ({', '.join(partitions)})"
                else:
                    target.mkdir()
                    target = target / "part-0.parquet"
                cursor.execute(f"COPY ({select}) TO {_quote_literal(str(target))} ({options})")
                tables[name] = {"columns": [[c[0], c[1]] for c in columns], "rows": int(rows),
                                "partitioned_by": partitions}
            manifest = {
                "id": snapshot_id,
                "source_version": str(db.version),
                "source_file": Path(db_path).name,
                "created_at": created.isoformat(),
                "tables": tables,
                "present": sorted(db.tables),  # tables of the file itself (the rest are empty stand-ins)
                "settings": setting_constants(db),
                "stored_rows": bool(db.stored_rows),
                "stored_gain_settings": sorted(list(g) for g in db.stored_gain_settings),
                "stored_fit_scopes": {scope: [str(date) if date is not None else None, key]
                                      for scope, (date, key) in db.stored_fit_scopes.items()},
            }
        finally:
            cursor.close()
    _write_durably(writing / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True, default=str))
    folder = lake / "snapshots" / snapshot_id
    os.rename(writing, folder)
    _write_durably(lake / f".{POINTER}.writing", snapshot_id + "\n")
    os.replace(lake / f".{POINTER}.writing", lake / POINTER)  # the one atomic step that publishes it
    _fsync_dir(lake)
    _remove_old_snapshots(lake, keep=snapshot_id)
    return Snapshot(folder, manifest)


def _partitioned_select(name: str, columns: list[str]) -> tuple[str, list[str]]:
    """The SELECT that writes ``name``, with its partition columns; none for a small table."""
    if name == "clients":
        return "SELECT *, clinic AS part_clinic FROM clients", ["part_clinic"]
    date_column = _BY_CLINIC_AND_MONTH.get(name)
    if date_column is None or date_column not in columns or "client_id" not in columns:
        return f"SELECT * FROM {name}", []
    return (f"SELECT t.*, c.clinic AS part_clinic, strftime(t.{date_column}, '%Y-%m') AS part_month "
            f"FROM {name} AS t LEFT JOIN clients AS c USING (client_id)"), ["part_clinic", "part_month"]


def _write_durably(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_old_snapshots(lake: Path, keep: str) -> None:
    """Remove all but the :data:`SNAPSHOTS_KEPT` newest snapshots (ids sort by time) and any
    half-written one a killed publisher left."""
    folders = sorted(p for p in (lake / "snapshots").iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in folders[:-SNAPSHOTS_KEPT]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
    for stale in (lake / "snapshots").glob(".*.writing"):
        shutil.rmtree(stale, ignore_errors=True)
