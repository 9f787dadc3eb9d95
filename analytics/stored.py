"""Per-client rows stored at import, so the summary and the pages read a row per client instead
of recomputing it from every assignment and score.

An import ends (inside its transaction, so the rows and the data they come from are published
together) with :func:`store_client_rows`: the macros ``client_homework_rows_live``,
``client_measure_score_rows_live`` and ``client_paired_score_rows_live`` (analytics/sql/macros.sql)
run over every client under the settings in force, and their rows are stored with those
settings. Queries call the macros of analytics/sql/stored_client_rows.sql, which return the
stored rows of the cohort's clients when the caller's settings are the stored ones and compute
them with the same macros otherwise: one definition, two speeds.

This module imports only DuckDB and the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import Settings
from .scope import Viewer, query_params

if TYPE_CHECKING:
    import duckdb

#: The tables this module stores, and the settings they were stored under (one row).
STORED_TABLES = ("stored_client_homework", "stored_client_measure_scores", "stored_client_paired_scores")
SETTINGS_TABLE = "stored_settings"
SETTINGS_COLUMNS = (
    "stored_baseline_days INTEGER, stored_unreviewed_as_not_done BOOLEAN, stored_depression_measure VARCHAR, "
    "stored_anxiety_measure VARCHAR, batch_id INTEGER"
)

# Each stored table: the live macro over every client (the whole clinic, no filter), with the
# settings as parameters. Names are code constants.
_STORE = {
    "stored_client_homework": (
        "SELECT * FROM client_homework_rows_live($cohort, NULL::VARCHAR[], "
        "unreviewed_as_not_done := $unreviewed_as_not_done::BOOLEAN) ORDER BY client_id"
    ),
    "stored_client_measure_scores": (
        "SELECT * FROM client_measure_score_rows_live($cohort, $baseline_days::INTEGER, NULL::VARCHAR[], "
        "NULL::VARCHAR) ORDER BY client_id, measure"
    ),
    "stored_client_paired_scores": (
        "SELECT * FROM client_paired_score_rows_live($cohort, $depression_measure::VARCHAR, "
        "$anxiety_measure::VARCHAR, $baseline_days::INTEGER, NULL::VARCHAR) ORDER BY client_id"
    ),
}


def _parameters(settings: Settings) -> dict[str, Any]:
    paired = settings.paired_measure_definitions()
    depression, anxiety = (paired[0]["name"], paired[1]["name"]) if paired else (None, None)
    return {
        "cohort": query_params(Viewer.local())["cohort"],
        "baseline_days": int(settings.baseline_days_before_intake),
        "unreviewed_as_not_done": bool(settings.unreviewed_as_not_done),
        "depression_measure": depression,
        "anxiety_measure": anxiety,
    }


def _used(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if f"${k}" in sql}


def store_client_rows(con: duckdb.DuckDBPyConnection, settings: Settings, batch_id: int) -> dict[str, int]:
    """Replace the stored per-client rows with those of the data ``con`` now holds, under
    ``settings``; call inside the import's transaction. The macros are loaded as TEMP macros, so
    nothing but the tables is written to the file. Returns the rows stored per table."""
    from .db import load_macros

    load_macros(con, temp=True)
    params = _parameters(settings)
    counts: dict[str, int] = {}
    for table, select in _STORE.items():
        if table == "stored_client_paired_scores" and params["depression_measure"] is None:
            select += " LIMIT 0"  # no paired measures configured: nothing to store
        con.execute(f"CREATE OR REPLACE TABLE main.{table} AS {select}", _used(select, params))
        counts[table] = int(con.execute(f"SELECT count(*) FROM main.{table}").fetchone()[0])
    con.execute(f"CREATE OR REPLACE TABLE main.{SETTINGS_TABLE} ({SETTINGS_COLUMNS})")
    con.execute(
        f"INSERT INTO main.{SETTINGS_TABLE} VALUES (?, ?, ?, ?, ?)",
        [params["baseline_days"], params["unreviewed_as_not_done"], params["depression_measure"],
         params["anxiety_measure"], batch_id],
    )
    return counts


def _literal(value: Any, sql_type: str) -> str:
    """A SQL literal of a stored setting (an int, a bool or a measure name read from the file)."""
    if value is None:
        return f"NULL::{sql_type}"
    if sql_type == "INTEGER":
        return str(int(value))
    if sql_type == "BOOLEAN":
        return "true" if value else "false"
    return "'" + str(value).replace("'", "''") + "'"


def expose_stored_rows(con: duckdb.DuckDBPyConnection, present: set[str]) -> bool:
    """Make the stored rows readable on a reading connection (``clinic`` attached, the live
    macros loaded): views of the file's tables, or, for a database imported before rows were
    stored, empty tables. The stored settings become constant scalar macros
    (``stored_baseline_days()`` ...; NULL when nothing is stored), so the macros of
    stored_client_rows.sql prune the branch that does not apply. Returns whether stored rows
    are in use."""
    stored = all(t in present for t in (*STORED_TABLES, SETTINGS_TABLE))
    setting: dict[str, Any] = {}
    if stored:
        for table in (*STORED_TABLES, SETTINGS_TABLE):
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM clinic.main.{table}")
        cursor = con.execute(f"SELECT * FROM {SETTINGS_TABLE}")
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        setting = dict(zip(names, rows[0], strict=True)) if len(rows) == 1 else {}
    else:
        params = _parameters(Settings())
        for table, select in _STORE.items():
            con.execute(f"CREATE TABLE {table} AS {select} LIMIT 0", _used(select, params))
        con.execute(f"CREATE TABLE {SETTINGS_TABLE} ({SETTINGS_COLUMNS})")
    for name, sql_type in (("stored_baseline_days", "INTEGER"), ("stored_unreviewed_as_not_done", "BOOLEAN"),
                           ("stored_depression_measure", "VARCHAR"), ("stored_anxiety_measure", "VARCHAR")):
        con.execute(f"CREATE OR REPLACE MACRO {name}() AS {_literal(setting.get(name), sql_type)}")
    return bool(setting)
