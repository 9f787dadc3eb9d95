"""The dashboard's SQL with its macros written out (analytics/sql_portable.py, issue 17).

The expansion is checked on DuckDB itself: every statement the pages run, with the parameters
they bind, gives the same rows written out as it does calling the macros, and calls no macro."""

from __future__ import annotations

import math
import re

import duckdb
import pandas as pd
import pytest

from analytics import ClinicDatabase
from analytics.db import MACRO_FILES, load_sql, macro_definitions
from analytics.sql_portable import _parse_macro, expand_macros, macro_library
from analytics.stored import setting_constants


def _rows(frame: pd.DataFrame) -> list[tuple]:
    """The rows as tuples of plain values (NaN / NA as None), sorted."""
    values = frame.astype(object).where(frame.notna(), None)
    def plain(v):
        if hasattr(v, "tolist"):  # numpy scalars and arrays (list columns)
            v = v.tolist()
        return tuple(v) if isinstance(v, list) else v

    rows = [tuple(plain(v) for v in row) for row in values.itertuples(index=False)]
    return sorted(rows, key=lambda row: tuple((v is None, str(v)) for v in row))


def assert_same_rows(expected: pd.DataFrame, got: pd.DataFrame, label: str) -> None:
    assert list(expected.columns) == list(got.columns), label
    a, b = _rows(expected), _rows(got)
    assert len(a) == len(b), (label, len(a), len(b))
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float) and isinstance(v, float):
                assert math.isclose(u, v, rel_tol=1e-12, abs_tol=1e-12), (label, x, y)
            else:
                assert u == v, (label, x, y)


def test_every_macro_is_read_whole():
    """Each macro's statement ends at its own semicolon, not at one inside a string literal (bug:
    the alert reasons joined by '; ' cut alert_client_rows short), and parses."""
    texts = {file: load_sql(file) for file in MACRO_FILES}
    names = [n.lower() for file in MACRO_FILES
             for n in re.findall(r"CREATE\s+OR\s+REPLACE\s+MACRO\s+(\w+)", texts[file], re.I)]
    definitions = macro_definitions(texts)
    assert sorted(definitions) == sorted(set(names))
    assert definitions["alert_client_rows"].rstrip().endswith("FROM flagged;")
    assert sorted(macro_library()) == sorted(definitions)


def test_positional_named_and_default_arguments():
    macros = {m.name: m for m in map(_parse_macro, (
        "CREATE OR REPLACE MACRO add_to(a, b := 2) AS a + b;",
        "CREATE OR REPLACE MACRO twice(x) AS add_to(x, b := x);",
        "CREATE OR REPLACE MACRO scale(a, k) AS a * k;",
        "CREATE OR REPLACE MACRO above(t, measure) AS TABLE "
        "SELECT v.measure, v.score FROM t AS v WHERE v.measure = measure AND v.score > add_to(0);",
    ))}
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('PHQ-9', 1), ('PHQ-9', 5), ('GAD-7', 9)) AS x(measure, score)")
    sql = expand_macros("SELECT add_to(1) AS d, add_to(1, 5) AS p, twice(3 * 2) AS n, add_to(b := 10, a := 1) AS named",
                        macros=macros)
    assert "add_to" not in sql and "twice" not in sql
    assert con.execute(sql).fetchall() == [(3, 6, 12, 11)]
    # an argument is one value, whatever the operators around it: (1 + 2) * 10, and the result too
    assert con.execute(expand_macros("SELECT scale(1 + 2, 10) * 2, 2 * add_to(1, 1)", macros=macros)).fetchall() == [(60, 4)]
    # a table macro: its unqualified parameter is the argument, v.measure the column
    rows = con.execute(expand_macros("SELECT * FROM above(t, 'PHQ-9') AS s ORDER BY score", macros=macros)).fetchall()
    assert rows == [("PHQ-9", 5)]
    # $parameters pass through, also where DuckDB's tokenizer could read "$a ... $" as a quoted string
    sql = expand_macros("SELECT ($xs::INTEGER[])[list_position($names::VARCHAR[], 'b')] AS v", macros=macros)
    assert con.execute(sql, {"xs": [1, 2], "names": ["a", "b"]}).fetchall() == [(2,)]


def test_the_stored_settings_become_literals():
    sql = expand_macros("SELECT stored_baseline_days() AS d, stored_anxiety_measure() AS a",
                        {"stored_baseline_days": 14, "stored_anxiety_measure": "GAD-7"})
    assert duckdb.connect().execute(sql).fetchall() == [(14, "GAD-7")]


@pytest.fixture(scope="module")
def page_statements(sample_db_path) -> list[tuple[str, str, dict]]:
    """Every distinct query the pages and tabs run on the sample clinic, and those of the views a
    default page run does not reach, once each, with its parameters."""
    from benchmarks.step_pages import record_page_queries

    distinct: dict[str, tuple[str, str, dict]] = {}
    for label, sql, params in record_page_queries(sample_db_path):
        distinct.setdefault(label, (label, sql, params))
    return list(distinct.values())


def test_every_page_query_written_out_gives_the_same_rows(sample_db_path, page_statements):
    macro_call = re.compile(r"\b(?:" + "|".join(macro_library()) + r")\s*\(", re.I)
    with ClinicDatabase(sample_db_path) as db:
        constants = setting_constants(db)
        assert constants["stored_client_months_present"] is True  # the stored branches are written out too
        assert constants["stored_baseline_days"] == 0 and constants["stored_anxiety_measure"] == "GAD-7"
        for label, sql, params in page_statements:
            written = expand_macros(sql, constants)
            assert not macro_call.search(written), label
            expected = db.execute_sql(sql, params, label=label)
            got = db.execute_sql(written, {k: v for k, v in params.items() if f"${k}" in written}, label=label)
            assert_same_rows(expected, got, label)
    # the pages' queries and those of the other views: most of the package's, the main ones of every page
    names = {label for label, _, _ in page_statements}
    assert len(names) >= 55  # every query file of the clinic database (access_log_search reads the audit log)
    assert {"cohort_summary", "quality_monthly_activity", "quality_alert_counts", "expected_response_fit_stored",
            "client_review_scores", "caseload", "filter_options", "quality_as_of", "expected_response_fit",
            "quality_alert_clients", "quality_outcome_counts", "client_homework"} <= names


def test_the_duckdb_constructs_sqlglot_leaves_are_rewritten_for_spark():
    """What to_spark writes for the constructs SQLGlot passes through (their Spark results are
    compared with DuckDB's by scripts/engine_parity.py, which needs pyspark)."""
    from analytics.sql_portable import to_spark

    spark = to_spark("SELECT sum(q * w ORDER BY id) / sum(w) AS s, 3 / 4.0 AS d, isfinite(x) AS f, "
                     "list(r ORDER BY r.id) AS l, any_value(v) FILTER (WHERE v > 0) AS a FROM t AS r")
    assert "ORDER BY" not in spark  # Spark takes no ORDER BY inside sum; the list is sorted instead
    assert "CAST(SUM(q * w) AS DOUBLE) / SUM(w)" in spark and "CAST(3 AS DOUBLE) / 4.0" in spark
    assert "ISNAN(x)" in spark and "ARRAY_SORT(COLLECT_LIST(STRUCT(r.id AS k0, STRUCT(r.*) AS v)))" in spark
    assert "ANY_VALUE(v, TRUE) FILTER(WHERE v > 0)" in spark
    assert "INLINE(l)" in to_spark("SELECT unnest(l, recursive := true) FROM t")
    assert to_spark("SELECT * FROM t LIMIT (CAST(3000 AS BIGINT))").endswith("LIMIT 3000")
    assert to_spark("SELECT * FROM t LIMIT $n::BIGINT").endswith("LIMIT CAST(:n AS INT)")
    assert to_spark("SELECT * FROM t WHERE a = $value") == "SELECT * FROM t WHERE a = :value"
    # DuckDB's list[i] counts from 1, a literal index as much as a computed one
    indexed = to_spark("SELECT l[2] AS a, l[i + 1] AS b FROM t")
    assert "l[1] AS a" in indexed and "ELEMENT_AT(l, CAST(i + 1 AS INT))" in indexed and "l[i" not in indexed
    # lists unnested side by side: one generator over their i-th elements
    zipped = to_spark("SELECT unnest(x.a)::VARCHAR AS a, unnest(x.b) AS b FROM x")
    assert zipped.startswith("SELECT CAST(c0 AS STRING) AS a, c1 AS b FROM (SELECT INLINE(")
    assert "TRANSFORM(SEQUENCE(1, SIZE(x.a)), i -> STRUCT(" in zipped
    assert "ELEMENT_AT(x.a, CAST(i AS INT)) END AS c0" in zipped and "ELEMENT_AT(x.b, CAST(i AS INT)) END AS c1" in zipped
    # a row value IN a subquery of row values: the subquery's columns
    assert "IN (SELECT m.a, m.b FROM m)" in to_spark("SELECT 1 FROM g WHERE (a, b) IN (SELECT (m.a, m.b) FROM m)")
    # quantile_cont of one fraction or of a list: Spark's interpolating percentile (array in, array out)
    assert to_spark("SELECT quantile_cont(x, $q::DOUBLE[]) AS c, quantile_cont(x, 0.5) AS m FROM t") == \
        "SELECT PERCENTILE(x, CAST(:q AS ARRAY<DOUBLE>)) AS c, PERCENTILE(x, 0.5) AS m FROM t"
    # a list unnested beside its subscripts: the subscripts are 1 … its size
    numbered = to_spark("SELECT unnest($w) AS w, generate_subscripts($w, 1) AS i")
    assert "ELEMENT_AT(SEQUENCE(1, SIZE(:w)), CAST(i AS INT)) END AS c1" in numbered and "GENERATE_SUBSCRIPTS" not in numbered
    # a HAVING column that a SELECT alias shadows is the column (DuckDB); Spark would read the alias
    having = to_spark("SELECT CASE WHEN grouping(b) = 1 THEN -1 ELSE b END AS b FROM t GROUP BY ROLLUP (b) "
                      "HAVING grouping(b) = 1 OR count(*) > $m::BIGINT")
    assert having == ("SELECT b FROM (SELECT CASE WHEN GROUPING(b) = 1 THEN -1 ELSE b END AS b, GROUPING(b) AS __having_0, "
                      "COUNT(*) AS __having_1 FROM t GROUP BY ROLLUP (b)) AS grouped WHERE __having_0 = 1 OR __having_1 > CAST(:m AS BIGINT)")


def test_the_import_checks_constructs_are_rewritten_for_spark():
    """The importer's checks (analytics/ingest/checks.py) on Spark: the same verdict per cell as
    DuckDB's (run on both by tests/spark/test_import_on_spark.py)."""
    from analytics.sql_portable import _java_date_format, to_spark

    # RE2's full match: anchored at both ends, \z so that a final line break does not match
    assert to_spark(r"SELECT regexp_full_match(x, '[0-9]+(\.0+)?') FROM t") == \
        r"SELECT x RLIKE '^(?:[0-9]+(\\.0+)?)\\z' FROM t"
    # a whole number read as DuckDB reads it: '3.0' is 3, 2.5 rounds half away from zero
    assert to_spark("SELECT try_cast(x AS INTEGER) FROM t") == \
        "SELECT TRY_CAST(TRY_CAST(x AS DECIMAL(38, 0)) AS INT) FROM t"
    assert to_spark("SELECT try_cast(x AS DATE) FROM t") == "SELECT TRY_CAST(x AS DATE) FROM t"
    # a row value is a struct (compared IS DISTINCT FROM, NULLs included)
    assert to_spark("SELECT row(a, b) IS DISTINCT FROM row(c, d) FROM t") == \
        "SELECT STRUCT(a, b) IS DISTINCT FROM STRUCT(c, d) FROM t"
    # strptime formats in Java's letters: one letter reads one or two digits, as %d and %m do;
    # numbers side by side get fixed widths; letters of the text are quoted
    assert _java_date_format("%d/%m/%Y") == "d/M/yyyy"
    assert _java_date_format("%Y%m%d") == "yyyyMMd"
    assert _java_date_format("%-d %b %Y at %H:%M") == "d MMM yyyy 'at' H:m"
    assert to_spark("SELECT try_strptime(x, '%d.%m.%Y')::DATE FROM t") == \
        "SELECT CAST(TRY_TO_TIMESTAMP(x, 'd.M.yyyy') AS DATE) FROM t"
    # two-digit years: 1969-2068 in DuckDB, 2000-2099 in Java: 2069 on is moved back a century
    two_digit = to_spark("SELECT try_strptime(x, '%d/%m/%y') FROM t")
    assert "WHEN YEAR(TRY_TO_TIMESTAMP(x, 'd/M/yy')) >= 2069 THEN CAST(ADD_MONTHS(" in two_digit
    with pytest.raises(ValueError, match="%Z"):
        _java_date_format("%Y %Z")
