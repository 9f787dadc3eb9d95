"""Where an import's checks run: in DuckDB, or in Spark SQL on the Spark engine (issue 17).

The importer (analytics/ingest/importer.py) decides what an import stores in steps that are each
one SELECT of DuckDB SQL, written once: the typed values and the broken rules of every staged row
(``checked``), the keys seen more than once (``multi``), the rules among rows and against stored
data (``late``: duplicates, unknown clients, dates before intake), the rejects (``bad``), the rows
to store (``incoming``) and how they compare with what is stored. An *engine* runs those SELECTs:

- :class:`DuckDBChecks` (the default): temporary tables of the importing connection, reading the
  tables of the transaction (``main.clients``).
- :class:`SparkChecks` (``BETWEEN_SESSIONS_ENGINE=spark``): each SELECT transpiled to Spark SQL
  (:func:`analytics.sql_portable.to_spark`) and run by Spark over the staged files and the current
  Parquet snapshot (:mod:`analytics.lake`); each result is written as Parquet beside the lake and
  read back as a view, so Spark computes it once. The clients an import stores are visible to the
  checks of its later tables as Spark's own upsert of them into the snapshot's clients.

Either way the results the write needs (``bad``, ``incoming``, the held clients of a snapshot
import) come back to the importing DuckDB connection, which writes the batch in one transaction
(the system of record), and on Spark the new version is then published as a new snapshot by one
atomic pointer (analytics.storage.atomic_write). The equality of the two engines' imports is
tested in tests/spark/test_import_equality.py.

Relation names are the importer's own (``checked``, ``stage_3``): never from a file.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb

from ..db import _bind, _quote_literal

__all__ = ["DuckDBChecks", "SparkChecks", "import_checks", "remove_stale_scratch"]

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
#: A scratch folder untouched this long belongs to an import or dry run that was killed.
STALE_SCRATCH_S = 24 * 3600


def remove_stale_scratch(imports: Path, now: float) -> list[Path]:
    """Remove the scratch folders under ``imports`` not changed for :data:`STALE_SCRATCH_S` before
    ``now`` (a timestamp): what killed Spark imports left. Returns the folders removed."""
    removed = []
    for folder in sorted(imports.iterdir()) if imports.is_dir() else []:
        if folder.is_dir() and now - folder.stat().st_mtime > STALE_SCRATCH_S:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _relation(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"not an importer relation name: {name!r}")
    return name


class DuckDBChecks:
    """The checks in the importing connection itself: temporary tables (or, where a result is read
    once more by a write, a view) over the staging tables and the transaction's own tables."""

    engine = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self._kinds: dict[str, str] = {}

    def stage(self, relation: str) -> None:
        """The staging relations are already tables of the connection."""

    def stored(self, table: str) -> str:
        return f"main.{_relation(table)}"

    def create(self, name: str, select: str, params: dict[str, Any] | None = None, *, view: bool = False) -> None:
        kind = "VIEW" if view else "TABLE"
        self.drop(name)
        self.con.execute(f"CREATE OR REPLACE TEMP {kind} {_relation(name)} AS {select}",
                         _bind(select, params, name) or None)
        self._kinds[name] = kind

    def fetch(self, select: str, params: dict[str, Any] | None = None) -> list[tuple]:
        return self.con.execute(select, _bind(select, params, "import check") or None).fetchall()

    def local(self, name: str) -> None:
        """Already in the importing connection."""

    def stored_upsert(self, table: str, key: list[str], columns: list[str]) -> None:
        """The write itself changed ``main.<table>``, which later checks read."""

    def drop(self, *names: str) -> None:
        for name in names:
            kind = self._kinds.pop(name, None)
            if kind is not None:
                self.con.execute(f"DROP {kind} IF EXISTS {_relation(name)}")

    def close(self) -> None:
        self.drop(*list(self._kinds))


class SparkChecks:
    """The checks run by Spark: staged rows and every result as Parquet in a scratch folder of the
    lake (shared storage on a cluster), the stored tables those of the current snapshot."""

    engine = "spark"

    def __init__(self, con: duckdb.DuckDBPyConnection, db_path: str | Path):
        from ..lake import ensure_snapshot, lake_dir
        from ..spark_engine import _snapshot_session

        self.con = con
        remove_stale_scratch(lake_dir(db_path) / "imports", time.time())
        self.scratch = lake_dir(db_path) / "imports" / uuid.uuid4().hex
        self.scratch.mkdir(parents=True)
        self.session = _snapshot_session()
        snapshot = ensure_snapshot(db_path) if Path(db_path).is_file() else None
        self._tables: set[str] = set()
        # The stored tables: the snapshot of the file this import starts from (published first if
        # it is stale; an import holds the writer's lock, so no other version lands meanwhile; a
        # dry run reads the same version unless an import lands between its copy and this), or a
        # new database's empty tables.
        for table in ("clients", "sessions", "assignments", "scores"):
            name = f"stored_{table}"
            if snapshot is not None and table in snapshot.manifest["tables"]:
                columns = [c[0] for c in snapshot.manifest["tables"][table]["columns"]]
                frame = self.session.read.parquet(str(snapshot.path / table)).select(*[f"`{c}`" for c in columns])
            else:
                frame = self._from_duckdb(f"SELECT * FROM main.{table} LIMIT 0", name)
            frame.createOrReplaceTempView(name)

    # -- moving relations between the engines -----------------------------------------------------
    def _from_duckdb(self, select: str, name: str) -> Any:
        path = self.scratch / f"{_relation(name)}.parquet"
        self.con.execute(f"COPY ({select}) TO {_quote_literal(str(path))} (FORMAT parquet)")
        return self.session.read.parquet(str(path))

    def stage(self, relation: str) -> None:
        """A staging relation of the importing connection (the file as read), as a Spark view."""
        self._from_duckdb(f"SELECT * FROM {_relation(relation)}", relation).createOrReplaceTempView(relation)

    def stored(self, table: str) -> str:
        return f"stored_{_relation(table)}"

    def create(self, name: str, select: str, params: dict[str, Any] | None = None, *, view: bool = False) -> None:
        """``select`` run by Spark and kept as Parquet, then read back as the view ``name``.
        (``view`` is DuckDB's choice; Spark always keeps the result, so it runs once.)"""
        self._write(self._frame(select, params), name)

    def _frame(self, select: str, params: dict[str, Any] | None) -> Any:
        from ..spark_engine import bound_statement
        from ..sql_portable import to_spark

        return bound_statement(self.session, to_spark(select), _bind(select, params, "import check"))

    def _write(self, frame: Any, name: str) -> None:
        folder = self.scratch / _relation(name)
        frame.write.mode("overwrite").parquet(str(folder))
        self.session.read.parquet(str(folder)).createOrReplaceTempView(name)
        self._tables.add(name)

    def fetch(self, select: str, params: dict[str, Any] | None = None) -> list[tuple]:
        return [tuple(row) for row in self._frame(select, params).collect()]

    def local(self, name: str) -> None:
        """The result ``name`` as a temporary table of the importing connection (read from its Parquet)."""
        files = _quote_literal(f"{self.scratch / _relation(name)}/*.parquet")
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM read_parquet({files})")

    def stored_upsert(self, table: str, key: list[str], columns: list[str]) -> None:
        """The rows ``incoming`` stores, upserted into Spark's view of ``table`` for the checks of the
        tables after it (the client of an assignment may come in the same import)."""
        cols = ", ".join(_relation(c) for c in columns)
        on = ", ".join(_relation(k) for k in key)
        stored = self.stored(table)
        self.create(f"{stored}_upserted",
                    f"SELECT {cols} FROM {stored} ANTI JOIN incoming USING ({on}) UNION ALL SELECT {cols} FROM incoming")
        self.session.table(f"{stored}_upserted").createOrReplaceTempView(stored)

    def drop(self, *names: str) -> None:
        for name in names:
            if name in self._tables:
                self.session.catalog.dropTempView(name)
                self._tables.discard(name)
                shutil.rmtree(self.scratch / name, ignore_errors=True)
            self.con.execute(f"DROP TABLE IF EXISTS {_relation(name)}")

    def close(self) -> None:
        """The session's views and the scratch folder removed (the session itself is Spark's)."""
        for view in self.session.catalog.listTables():
            if view.isTemporary:
                self.session.catalog.dropTempView(view.name)
        shutil.rmtree(self.scratch, ignore_errors=True)


def import_checks(con: duckdb.DuckDBPyConnection, db_path: str | Path) -> DuckDBChecks | SparkChecks:
    """The checks of an import into ``db_path`` on the engine BETWEEN_SESSIONS_ENGINE names."""
    from ..db import engine_name

    if engine_name() == "spark":
        return SparkChecks(con, db_path)
    return DuckDBChecks(con)
