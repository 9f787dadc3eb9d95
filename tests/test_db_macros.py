"""A reader creates the macros of analytics/sql/ when a query first calls one of them
(analytics.db.ClinicDatabase.ensure_macros), not at open: the command line's summary reads stored
rows and needs none of the large macro files."""

from __future__ import annotations

import re

from analytics import ClinicDatabase, Viewer, client_homework, cohort_summary
from analytics.db import MACRO_FILES, load_sql, macro_files_needed, sql_files

LOCAL = Viewer.local()


def test_opening_creates_no_macro_and_a_query_creates_what_it_calls(sample_db_path):
    with ClinicDatabase(sample_db_path) as db:
        assert db._macros_created == set()
        cohort_summary(db, LOCAL)  # stored at import: read by the stored-scope macro alone
        assert db._macros_created == {"stored_macros"}
        client_homework(db, LOCAL)
        assert db._macros_created == {"stored_macros", "macros", "stored_client_rows"}
        macros = db.execute_sql("SELECT DISTINCT function_name FROM duckdb_functions() WHERE database_name = 'memory' "
                                "AND function_type IN ('macro', 'table_macro')")["function_name"]
        assert {"stored_scope", "cohort_clients", "client_homework_rows"} <= set(macros)  # the catalog is read
        assert "caseload_client_rows" not in set(macros)  # alert_macros.sql: not called yet


def test_every_macro_file_calls_only_files_created_before_it():
    for k, file in enumerate(MACRO_FILES):
        assert set(macro_files_needed(load_sql(file))) <= set(MACRO_FILES[:k + 1]), file


def test_every_macro_a_query_calls_is_found():
    """Every name called like a function in a query that a macro file creates is in a file the
    query is given (and the files are listed in the order they can be created)."""
    created = {name.lower(): file for file in MACRO_FILES
               for name in re.findall(r"CREATE OR REPLACE MACRO\s+(\w+)", load_sql(file))}
    statements = sum(1 for file in MACRO_FILES for line in load_sql(file).splitlines()
                     if line.upper().startswith("CREATE") and "MACRO" in line.upper())
    assert len(created) == statements > 30  # every macro a file creates is known by name
    for name in sql_files():
        sql = re.sub(r"--[^\n]*", "", load_sql(name))
        called = {c.lower() for c in re.findall(r"\b(\w+)\s*\(", sql)} & created.keys()
        files = macro_files_needed(load_sql(name))
        assert {created[c] for c in called} <= set(files), name
        assert list(files) == [f for f in MACRO_FILES if f in files], name
