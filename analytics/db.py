"""Read-only, versioned access to the clinic database.

DuckDB lets one process hold a file read-write *or* many processes hold it read-only, never
both. Imports therefore never write the live file: they write a copy and swap it in with an
atomic rename (see :mod:`analytics.ingest.importer`). Readers attach the file READ_ONLY to a private
in-memory database; the attached file is one *data version* (inode + mtime + size). A reader
keeps serving the version it attached, all old or all new, until the caller opens the next one.

Queries live in ``sql/`` folders, one per file: shared ones and the macros in ``analytics/sql/``,
a page's own beside its back-end (``analytics/<page>/sql/``). Names are unique across folders.
They take values only as bound
parameters (``$name``). Identifiers never come from users. Every query is time-limited.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .engine import duckdb
from .storage import remove_stale_copies
from .stored import SETTINGS_TABLE, STORED_TABLES, expose_stored_rows, stored_fit_scopes, stored_gain_settings

if TYPE_CHECKING:  # pandas is imported by DuckDB when a DataFrame is asked for, not to open a database
    import pandas as pd

PACKAGE_DIR = Path(__file__).parent
SQL_DIR = PACKAGE_DIR / "sql"  # the macros and the queries shared by several pages
DEFAULT_QUERY_TIMEOUT_S = 30.0
_ATTACH_ATTEMPTS = 50
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
# Tables the dashboard reads; exposed as views in the reader's own catalog.
READABLE_TABLES = ("clients", "sessions", "assignments", "scores", "import_batches", "import_rejects", "users")
#: The macro files of analytics/sql/, in the order they are created (each may call those before it).
#: A reader creates a file's macros when the first query that calls one of them runs
#: (:meth:`ClinicDatabase.ensure_macros`): creating them all costs some 50 ms, most of a command
#: line summary that reads only stored rows.
MACRO_FILES = ("stored_macros", "macros", "stored_client_rows", "outcome_macros", "alert_macros", "cohort_macros")
_MACRO_NAME = re.compile(r"\bCREATE\s+OR\s+REPLACE\s+MACRO\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)


class QueryTimeout(RuntimeError):
    """A query ran past its time limit and was interrupted."""


class DatabaseMissing(FileNotFoundError):
    """The clinic database file does not exist (yet)."""


@dataclass(frozen=True)
class DataVersion:
    """Identifies one version of the database file: a swap-in makes a new inode."""

    inode: int
    mtime_ns: int
    size: int

    def __str__(self) -> str:
        return f"{self.inode}-{self.mtime_ns}-{self.size}"


def data_version(path: str | Path) -> DataVersion:
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise DatabaseMissing(f"no clinic database at {path}") from exc
    return DataVersion(st.st_ino, st.st_mtime_ns, st.st_size)


@cache
def sql_files() -> dict[str, Path]:
    """Every query file of the package by name: ``analytics/sql/`` and each page's ``sql/``.

    Raises ``RuntimeError`` if two folders hold a query of the same name.
    """
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE_DIR.glob("**/sql/*.sql")):
        if path.stem in found:
            raise RuntimeError(f"query {path.stem!r} is defined twice: {found[path.stem]} and {path}")
        found[path.stem] = path
    return found


@cache
def load_sql(name: str) -> str:
    """The text of the query ``<name>.sql`` (names are code constants, never user input)."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"invalid query name {name!r}")
    path = sql_files().get(name)
    if path is None:
        raise FileNotFoundError(f"no query named {name!r} under {PACKAGE_DIR}")
    return path.read_text(encoding="utf-8")


def load_macros(con: duckdb.DuckDBPyConnection, *, temp: bool = False) -> None:
    """Create the scalar and table macros of analytics/sql/macros.sql on ``con``; ``temp``
    makes them TEMP macros, so a connection to the database file (the importer's) does not
    write them into the file."""
    text = load_sql("macros")
    if temp:
        text = text.replace("CREATE OR REPLACE MACRO ", "CREATE OR REPLACE TEMP MACRO ")
    con.execute(text)


def _code(sql: str) -> str:
    """``sql`` without its comments and with its string literals emptied."""
    no_comments = re.sub(r"--[^\n]*", "", sql)
    return re.sub(r"'(?:[^']|'')*'", "''", no_comments)


def sql_parameters(sql: str) -> set[str]:
    """Names of the ``$name`` parameters a query uses (comments and strings excluded)."""
    return set(_PARAM.findall(_code(sql)))


_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")


@cache
def _macro_owners() -> dict[str, str]:
    """Each macro's name (lower case) -> the file of :data:`MACRO_FILES` that creates it."""
    owners: dict[str, str] = {}
    for file in MACRO_FILES:
        for name in _MACRO_NAME.findall(load_sql(file)):
            owners.setdefault(name.lower(), file)
    return owners


@functools.lru_cache(maxsize=1024)
def macro_files_needed(sql: str) -> tuple[str, ...]:
    """The macro files ``sql`` calls a macro of, with the files their macros call, in
    :data:`MACRO_FILES` order (the order they can be created in)."""
    owners = _macro_owners()
    needed: set[str] = set()
    todo = [sql]
    while todo:
        for name in _CALL.findall(_code(todo.pop())):
            file = owners.get(name.lower())
            if file is not None and file not in needed:
                needed.add(file)
                todo.append(load_sql(file))
    return tuple(f for f in MACRO_FILES if f in needed)


# A macro's CREATE statement up to the semicolon that ends it (one inside a string literal does not).
_MACRO_STATEMENT = re.compile(r"\bCREATE\s+OR\s+REPLACE\s+MACRO\s+([A-Za-z_][A-Za-z0-9_]*)\b(?:'(?:[^']|'')*'|[^';])*;",
                              re.I)


def _without_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def macro_definitions(texts: dict[str, str]) -> dict[str, str]:
    """Each macro's name (lower case) -> its CREATE statement without comments, from the macro
    files' ``texts`` (file name -> SQL) in :data:`MACRO_FILES` order (the first definition wins)."""
    definitions: dict[str, str] = {}
    for file in MACRO_FILES:
        for match in _MACRO_STATEMENT.finditer(_without_comments(texts[file])):
            definitions.setdefault(match.group(1).lower(), match.group(0))
    return definitions


def macros_used(sql: str, definitions: dict[str, str]) -> tuple[str, ...]:
    """The definitions of the macros ``sql`` calls, with those their bodies call, by name: what a
    query's result depends on besides its own text (a key of stored results, so that editing an
    unrelated macro or a comment does not make them stale)."""
    used: dict[str, str] = {}
    todo = [sql]
    while todo:
        for name in _CALL.findall(_code(todo.pop())):
            definition = definitions.get(name.lower())
            if definition is not None and name.lower() not in used:
                used[name.lower()] = definition
                todo.append(definition)
    return tuple(used[name] for name in sorted(used))


@cache
def query_dependencies(name: str) -> tuple[str, ...]:
    """The text of the query ``name`` without comments and the definitions of the macros it uses
    (:func:`macros_used` over the macro files)."""
    definitions = macro_definitions({file: load_sql(file) for file in MACRO_FILES})
    sql = load_sql(name)
    return (_without_comments(sql), *macros_used(sql, definitions))


def _same_file(path: Path, st: os.stat_result) -> bool:
    """Whether ``path`` currently names the file ``st`` was taken from."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class ClinicDatabase:
    """One read-only data version of the clinic database, safe to share between threads.

    Each query runs on its own cursor (a DuckDB connection to the same instance); the
    underlying connection is never used by two threads at once. Opening one also removes
    the ``*.importing-*`` copy of a killed import (:func:`analytics.storage.remove_stale_copies`).
    """

    def __init__(self, path: str | Path, *, timeout_s: float = DEFAULT_QUERY_TIMEOUT_S, threads: int | None = None):
        self.path = Path(path)
        self.timeout_s = timeout_s
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        # The copy an import killed mid-way left behind (never one a live import is writing).
        remove_stale_copies(self.path)
        self._con = duckdb.connect(":memory:", config=config)
        self._fd: int | None = None
        try:
            self.version = self._attach_one_version()
        except BaseException:
            self._con.close()
            raise
        present = {r[0] for r in self._con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'clinic'"
        ).fetchall()}
        for table in READABLE_TABLES:
            if table in present:
                self._con.execute(f"CREATE VIEW {table} AS SELECT * FROM clinic.main.{table}")
        self._macro_lock = threading.Lock()
        self._macros_created: set[str] = set()
        if not all(t in present for t in (*STORED_TABLES, SETTINGS_TABLE)):
            self._create_macros(("macros",))  # the empty stored tables of an older file are made by them
        # Per-client rows stored at import (analytics/stored.py), behind the scoped macros.
        self.stored_rows = expose_stored_rows(self._con, present)
        #: (measure, baseline_days, reliable_change, higher_is_better) whose sudden gains are stored.
        self.stored_gain_settings = stored_gain_settings(self._con)
        #: Expected recovery curves stored at import: fit scope -> (latest discharge date, fit key).
        self.stored_fit_scopes = stored_fit_scopes(self._con)
        self.tables = present

    def ensure_macros(self, sql: str) -> None:
        """Create the macros ``sql`` calls (:func:`macro_files_needed`) if this reader has not yet:
        every query method calls it first. Once per file and reader, under a lock; the macros are
        in the reader's in-memory catalog, which every cursor sees."""
        missing = [f for f in macro_files_needed(sql) if f not in self._macros_created]
        if missing:
            self._create_macros(missing)

    def _create_macros(self, files: list[str] | tuple[str, ...]) -> None:
        with self._macro_lock:
            for file in files:
                if file not in self._macros_created:
                    cursor = self._con.cursor()
                    try:
                        cursor.execute(load_sql(file))
                    finally:
                        cursor.close()
                    self._macros_created.add(file)

    def _attach_one_version(self) -> DataVersion:
        """Attach the file READ_ONLY and return the version that was attached.

        An import may swap a new file in under the same name at any moment. DuckDB opens
        files by (resolved) path, so attaching ``/proc/self/fd/N`` does not pin an inode:
        once the file is swapped it resolves to ``"... (deleted)"``. Instead we hold the
        file open (its inode cannot be reused while we do), attach by path, and check that
        the path named that same inode before and after the attach; a swap in between
        means we may have attached the other version, so we detach and try again.
        """
        last_error: Exception | None = None
        for _ in range(_ATTACH_ATTEMPTS):
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError as exc:
                raise DatabaseMissing(f"no clinic database at {self.path}") from exc
            st = os.fstat(fd)
            try:
                self._con.execute(f"ATTACH {_quote_literal(str(self.path.resolve()))} AS clinic (READ_ONLY)")
            except duckdb.IOException as exc:  # swapped (or removed) between open and attach
                os.close(fd)
                last_error = exc
                if _same_file(self.path, st):
                    raise
                continue
            if _same_file(self.path, st):
                self._fd = fd
                return DataVersion(st.st_ino, st.st_mtime_ns, st.st_size)
            self._con.execute("DETACH clinic")
            os.close(fd)
        raise RuntimeError(
            f"{self.path} was replaced {_ATTACH_ATTEMPTS} times while being opened; try again"
        ) from last_error

    def close(self) -> None:
        self._con.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            try:
                self._con.close()
            finally:
                os.close(fd)

    def __enter__(self) -> ClinicDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, name: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Run the named query with bound parameters; returns a DataFrame."""
        return self.execute_sql(load_sql(name), params, label=name)

    def execute_sql(self, sql: str, params: dict[str, Any] | None = None, *, label: str = "query") -> pd.DataFrame:
        bound = _bind(sql, params, label)
        self.ensure_macros(sql)
        cursor = self._con.cursor()
        try:
            with self._time_limit(cursor, label):
                return cursor.execute(sql, bound).df()
        finally:
            cursor.close()

    def rows(self, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run the named query; its rows as dicts of Python values (no pandas: the command line's
        summary runs on DuckDB and the standard library alone)."""
        sql = load_sql(name)
        bound = _bind(sql, params, name)
        self.ensure_macros(sql)
        cursor = self._con.cursor()
        try:
            with self._time_limit(cursor, name):
                cursor.execute(sql, bound)
                columns = [d[0] for d in cursor.description]
                return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def query_chunks(self, name: str, params: dict[str, Any] | None = None, *,
                     vectors_per_chunk: int = 5) -> Iterator[pd.DataFrame]:
        """Run the named query and yield its result as DataFrames of at most
        ``vectors_per_chunk`` x 2048 rows, so a large result never sits in Python whole.

        The first chunk is always yielded, empty when the result is (it carries the
        columns). The time limit applies to each chunk. Closing the generator early closes
        the cursor.
        """
        sql = load_sql(name)
        bound = _bind(sql, params, name)
        self.ensure_macros(sql)
        cursor = self._con.cursor()
        try:
            first = True
            while True:
                with self._time_limit(cursor, name):
                    if first:
                        cursor.execute(sql, bound)
                    chunk = cursor.fetch_df_chunk(vectors_per_chunk)
                if chunk.empty and not first:
                    return
                first = False
                yield chunk
                if chunk.empty:
                    return
        finally:
            cursor.close()

    @contextlib.contextmanager
    def _time_limit(self, cursor: duckdb.DuckDBPyConnection, label: str) -> Iterator[None]:
        """Interrupt what ``cursor`` runs inside the block after ``timeout_s`` (QueryTimeout)."""
        timed_out = threading.Event()

        def interrupt() -> None:
            timed_out.set()
            cursor.interrupt()

        timer = threading.Timer(self.timeout_s, interrupt)
        timer.daemon = True
        timer.start()
        try:
            yield
        except duckdb.InterruptException as exc:
            if timed_out.is_set():
                raise QueryTimeout(f"{label} took longer than {self.timeout_s:.0f} s and was stopped") from exc
            raise
        finally:
            timer.cancel()


def _bind(sql: str, params: dict[str, Any] | None, label: str) -> dict[str, Any]:
    """The parameters ``sql`` uses, from ``params`` (ValueError naming any that are missing)."""
    wanted = sql_parameters(sql)
    params = params or {}
    missing = wanted - params.keys()
    if missing:
        raise ValueError(f"{label}: missing parameters {sorted(missing)}")
    return {k: params[k] for k in wanted}


#: Which engine reads the clinic data: ``duckdb`` (the default: the file itself) or ``spark``
#: (Spark SQL over the file's published Parquet snapshot, analytics.lake / analytics.spark_engine).
ENGINE_ENV = "BETWEEN_SESSIONS_ENGINE"
ENGINES = ("duckdb", "spark")


def engine_name() -> str:
    """The engine ``BETWEEN_SESSIONS_ENGINE`` names (``duckdb`` when unset); ValueError otherwise."""
    name = (os.environ.get(ENGINE_ENV) or "duckdb").strip().lower()
    if name not in ENGINES:
        raise ValueError(f"{ENGINE_ENV}={name!r}: the engines are {', '.join(ENGINES)}")
    return name


def current_data_version(path: str | Path) -> str:
    """The data version a reader opened now would read, on the chosen engine: the database file's
    (:func:`data_version`), or on Spark the id of its current snapshot (published first when the
    file is newer than the snapshot: an import since, or the sample clinic just built)."""
    if engine_name() == "spark":
        from .lake import ensure_snapshot

        return ensure_snapshot(path).id
    return str(data_version(path))


def open_database(path: str | Path, **kwargs: Any) -> ClinicDatabase:
    """Open the current data version of ``path`` read-only, on the chosen engine
    (:func:`engine_name`); on Spark, a :class:`analytics.spark_engine.SparkClinicDatabase`,
    which reads as a ClinicDatabase does."""
    if engine_name() == "spark":
        from .lake import ensure_snapshot
        from .spark_engine import SparkClinicDatabase

        return SparkClinicDatabase(path, ensure_snapshot(path), **kwargs)  # type: ignore[return-value]
    return ClinicDatabase(path, **kwargs)
