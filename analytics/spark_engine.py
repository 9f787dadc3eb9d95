"""The clinic database read through Apache Spark SQL (issue 17): ``BETWEEN_SESSIONS_ENGINE=spark``.

:class:`SparkClinicDatabase` has the reading interface of :class:`analytics.db.ClinicDatabase`
(``query``, ``rows``, ``query_chunks``, ``execute_sql``, ``tables``, the stored-row facts) over
one Parquet snapshot of the database (:mod:`analytics.lake`). Every query is the package's one
DuckDB text with its macros written out and transpiled (:mod:`analytics.sql_portable`); values
stay bound parameters (Spark's named ``:name`` markers, ``args=``), never spliced into the text.
Results come back through Arrow and DuckDB's own Arrow-to-pandas conversion, so a page gets the
column types it gets from DuckDB (dates as datetime64, lists as lists).

The Spark session: ``SPARK_REMOTE`` (``sc://host:15002``) connects to a Spark Connect server;
otherwise a local one, ``BETWEEN_SESSIONS_SPARK_MASTER`` (default ``local[2]``). Each snapshot
gets a session of its own (its temporary views are the snapshot's tables). Every query is
time-limited: a timer cancels the jobs of the query's tag (``SparkContext.cancelJobsWithTag``;
on Spark Connect ``SparkSession.interruptTag``). The caller gets QueryTimeout at once; the
cancelled tasks stop at their next check (measured: up to some 15 s for a large join).

pyspark is not in requirements.txt (requirements-spark.txt; Java 17 needed): this module is
imported only when the Spark engine is chosen.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb  # the relational API (from_arrow), not only the extension analytics.engine loads

from .db import DEFAULT_QUERY_TIMEOUT_S, QueryTimeout, _bind, load_sql
from .lake import Snapshot
from .sql_portable import expand_macros, to_spark

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SparkClinicDatabase", "bound_statement", "spark_session"]

MASTER_ENV = "BETWEEN_SESSIONS_SPARK_MASTER"
REMOTE_ENV = "SPARK_REMOTE"
_session_lock = threading.Lock()
_base_session: Any = None
_query_ids = itertools.count()
_MARKER = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")


def spark_session() -> Any:
    """The process's Spark session (created on first use): Spark Connect when ``SPARK_REMOTE``
    is set, else local Spark on ``BETWEEN_SESSIONS_SPARK_MASTER`` (``local[2]``)."""
    global _base_session
    with _session_lock:
        if _base_session is None:
            from pyspark.sql import SparkSession

            if os.environ.get(REMOTE_ENV):
                _base_session = SparkSession.builder.remote(os.environ[REMOTE_ENV]).getOrCreate()
            else:
                _base_session = (
                    SparkSession.builder.master(os.environ.get(MASTER_ENV, "local[2]"))
                    .appName("between-sessions")
                    .config("spark.ui.enabled", "false")
                    .config("spark.ui.showConsoleProgress", "false")
                    .config("spark.sql.session.timeZone", "UTC")
                    .config("spark.sql.shuffle.partitions", os.environ.get("BETWEEN_SESSIONS_SPARK_PARTITIONS", "4"))
                    .config("spark.driver.memory", os.environ.get("BETWEEN_SESSIONS_SPARK_MEMORY", "2g"))
                    .getOrCreate()
                )
                _base_session.sparkContext.setLogLevel("ERROR")
        return _base_session


def _snapshot_session() -> Any:
    """A session of its own for one snapshot (temporary views are per session)."""
    base = spark_session()
    if os.environ.get(REMOTE_ENV):
        from pyspark.sql import SparkSession

        return SparkSession.builder.remote(os.environ[REMOTE_ENV]).create()
    return base.newSession()


@functools.lru_cache(maxsize=512)
def spark_text(sql: str, constants: tuple[tuple[str, Any], ...]) -> str:
    """``sql`` (the package's DuckDB text) as Spark SQL: macros written out with the snapshot's
    stored settings as ``constants``, then transpiled (parameters stay ``:name`` markers)."""
    return to_spark(expand_macros(sql, dict(constants)))


def _argument(value: Any) -> Any:
    """A bound value as Spark takes it: scalars, dates and lists of them as they are; a dict
    (a struct) or a list of dicts as a literal Column built of ``struct`` and ``array``."""
    if isinstance(value, dict) or (isinstance(value, (list, tuple)) and any(isinstance(v, dict) for v in value)):
        from pyspark.sql import functions as F

        def column(v: Any) -> Any:
            if isinstance(v, dict):
                return F.struct(*(column(x).alias(k) for k, x in v.items()))
            if isinstance(v, (list, tuple)):
                return F.array(*(column(x) for x in v))
            return F.lit(v)

        return column(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def bound_statement(session: Any, text: str, bound: dict[str, Any]) -> Any:
    """Spark SQL ``text`` as a DataFrame of ``session`` with the values of ``bound`` it names as
    ``:name`` (a macro's unused branch, written out, may have dropped a parameter)."""
    markers = set(_MARKER.findall(text))
    return session.sql(text, args={k: _argument(v) for k, v in bound.items() if k in markers})


class SparkClinicDatabase:
    """One snapshot of the clinic database read through Spark SQL; safe to share between threads."""

    engine = "spark"

    def __init__(self, path: str | Path, snapshot: Snapshot, *, timeout_s: float = DEFAULT_QUERY_TIMEOUT_S):
        self.path = Path(path)
        self.snapshot = snapshot
        self.version = snapshot.id
        self.timeout_s = timeout_s
        manifest = snapshot.manifest
        self._session = _snapshot_session()
        for name, spec in manifest["tables"].items():
            columns = [c[0] for c in spec["columns"]]
            frame = self._session.read.parquet(str(snapshot.path / name))
            frame.select(*[f"`{c}`" for c in columns]).createOrReplaceTempView(name)
        self.tables = set(manifest["present"])
        self.stored_rows = bool(manifest["stored_rows"])
        self.stored_gain_settings = frozenset(tuple(g) for g in manifest["stored_gain_settings"])
        self.stored_fit_scopes = {scope: (dt.date.fromisoformat(date) if date else None, key)
                                  for scope, (date, key) in manifest["stored_fit_scopes"].items()}
        self._constants = tuple(sorted(manifest["settings"].items()))
        self._arrow = duckdb.connect(":memory:")  # Arrow -> pandas as DuckDB converts (cursor per call)

    # -- the reading interface of analytics.db.ClinicDatabase ---------------------------------
    def query(self, name: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.execute_sql(load_sql(name), params, label=name)

    def execute_sql(self, sql: str, params: dict[str, Any] | None = None, *, label: str = "query") -> pd.DataFrame:
        cursor = self._arrow.cursor()
        try:
            return cursor.from_arrow(self._arrow_table(sql, params, label)).df()
        finally:
            cursor.close()

    def rows(self, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        table = self._arrow_table(load_sql(name), params, name)
        cursor = self._arrow.cursor()
        try:
            relation = cursor.from_arrow(table)
            columns = relation.columns
            return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]
        finally:
            cursor.close()

    def query_chunks(self, name: str, params: dict[str, Any] | None = None, *,
                     vectors_per_chunk: int = 5) -> Iterator[pd.DataFrame]:
        """The result in DataFrames of at most ``vectors_per_chunk`` x 2048 rows (collected from
        Spark whole, then cut), the first always yielded, empty when the result is."""
        frame = self.query(name, params)
        size = vectors_per_chunk * 2048
        yield frame.iloc[:size]
        for start in range(size, len(frame), size):
            yield frame.iloc[start:start + size]

    def ensure_macros(self, sql: str) -> None:
        """Nothing to create: the macros are written out into each query."""

    def close(self) -> None:
        self._arrow.close()

    def __enter__(self) -> SparkClinicDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running a query ------------------------------------------------------------------------
    def statement(self, sql: str, params: dict[str, Any] | None, label: str = "query") -> Any:
        """``sql`` (the package's DuckDB text) as a Spark DataFrame on this snapshot, the values
        it uses bound (not run yet: :meth:`_arrow_table` runs it, time-limited)."""
        return bound_statement(self._session, spark_text(sql, self._constants), _bind(sql, params, label))

    def _arrow_table(self, sql: str, params: dict[str, Any] | None, label: str) -> Any:
        frame = self.statement(sql, params, label)
        tag = f"between-sessions-{next(_query_ids)}"
        timed_out = threading.Event()
        if os.environ.get(REMOTE_ENV):  # Spark Connect: the operations of this thread get the tag
            self._session.addTag(tag)
            cancel, untag = (lambda: self._session.interruptTag(tag)), (lambda: self._session.removeTag(tag))
        else:
            # Spark classic: a job tag of this thread (the session's addTag does not reach the jobs
            # toArrow starts: measured, interruptTag found none); tasks interrupted on cancel
            context = self._session.sparkContext
            context.addJobTag(tag)
            context.setInterruptOnCancel(True)
            cancel, untag = (lambda: context.cancelJobsWithTag(tag)), (lambda: context.removeJobTag(tag))

        def interrupt() -> None:
            timed_out.set()
            cancel()

        timer = threading.Timer(self.timeout_s, interrupt)
        timer.daemon = True
        timer.start()
        try:
            return frame.toArrow()
        except Exception as exc:
            if timed_out.is_set():
                raise QueryTimeout(f"{label} took longer than {self.timeout_s:.0f} s and was stopped") from exc
            raise
        finally:
            timer.cancel()
            untag()
