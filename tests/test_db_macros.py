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


def test_sums_over_a_list_sorted_once_equal_aggregates_ordered_each():
    """cohort_relations.sql sorts each compliance's rows once into a list and aggregates them
    unnested, instead of an ORDER BY in each of its 16 aggregates: the same float digits on every
    run, relied on for reproducible figures, as long as DuckDB adds up one list on one thread in
    order. 300,000 rows over 2 threads: enough for DuckDB to split the work."""
    import duckdb

    con = duckdb.connect(config={"threads": 2})
    con.execute("SELECT setseed(0.42)")
    con.execute("CREATE TABLE t AS SELECT (i % 2)::INTEGER AS g, i AS id, random() * 1e3 AS x, random() AS y "
                "FROM range(300000) AS r(i) ORDER BY random()")
    each = ("SELECT g, var_samp(x ORDER BY id), corr(y, x ORDER BY id), covar_samp(x, y ORDER BY id) "
            "FROM t GROUP BY g ORDER BY g")
    once = ("WITH sorted AS (SELECT g, list(t ORDER BY t.id) AS l FROM t GROUP BY g), "
            "rows_in_order AS (SELECT unnest(l, recursive := true) FROM sorted) "
            "SELECT g, var_samp(x), corr(y, x), covar_samp(x, y) FROM rows_in_order GROUP BY g ORDER BY g")
    expected = con.execute(each).fetchall()
    for _ in range(5):
        assert con.execute(once).fetchall() == expected


def test_scores_are_integers_so_a_mean_of_scores_needs_no_order(sample_db):
    """A client's mean of several scores on one day or week (score_interval_rows, the trajectory)
    is avg over integers: DuckDB adds them exactly, so it has the same digits in any row order and
    needs no ORDER BY. Were total_score ever stored as a fraction, that would no longer hold."""
    types = sample_db.execute_sql("SELECT typeof(total_score) AS t FROM scores GROUP BY ALL", label="types")
    assert types["t"].tolist() == ["INTEGER"]
