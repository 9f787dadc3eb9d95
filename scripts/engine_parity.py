"""Executed parity of the dashboard's queries on DuckDB and Spark SQL (issue 17, first step).

    .venv/bin/python scripts/engine_parity.py [CAPTURED.pkl] [--db sample_data/clinic.duckdb]

The sample clinic is built when missing. Without CAPTURED.pkl (or when it does not exist yet) the
queries are first recorded: (label, sql, params, method) from ClinicDatabase while every page (and
tab) runs under Streamlit's AppTest on the clinic (the parameters the pages use), saved there.
For every distinct query file: run on DuckDB (ClinicDatabase.query), export the tables to Parquet,
register them as Spark temp views, and run on Spark local[2] by two routes:
  (a) SQLGlot transpile duckdb -> spark of the text with the parameters inlined as literals;
  (b) the DuckDB text itself (parameters inlined), i.e. what already is a portable subset;
  (c) the macros written out (analytics.sql_portable.expand_macros, the database's stored settings
      as constants), the parameters inlined as DuckDB literals, then SQLGlot duckdb -> spark.
Routes (a) and (b) keep the macro calls, which fail on Spark with the macro's name.
Results equal: same rows after sorting, floats within 1e-9 relative. Needs pyspark (not in
requirements); exits 2 with a message otherwise.
"""
from __future__ import annotations

import datetime as dt
import decimal
import math
import pickle
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TOL = 1e-9


def literal(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, dt.datetime):
        return f"TIMESTAMP '{v.isoformat(sep=' ')}'"
    if isinstance(v, dt.date):
        return f"DATE '{v.isoformat()}'"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"'{k}': {literal(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def inline(sql: str, params: dict) -> str:
    return re.sub(r"\$([A-Za-z_][A-Za-z0-9_]*)", lambda m: literal(params[m.group(1)]) if m.group(1) in params
                  else m.group(0), sql)


def plain(x):
    """One cell as a plain value: NULL / NaN / pd.NA as None, numpy scalars as Python ones, a
    midnight timestamp as its date (DuckDB's DATE comes back as a timestamp, Spark's as a date),
    lists and arrays as tuples."""
    import pandas as pd

    if isinstance(x, pd.Timestamp):
        return x.date() if x == x.normalize() else x.to_pydatetime()
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):
        x = x.tolist()
    if isinstance(x, (list, tuple)):
        return tuple(plain(v) for v in x)
    if isinstance(x, dict):
        return tuple(sorted((k, plain(v)) for k, v in x.items()))
    if hasattr(x, "asDict"):  # a Spark Row (a struct)
        return plain(x.asDict())
    if x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float) and math.isnan(x)):
        return None
    if isinstance(x, decimal.Decimal):
        return float(x)
    return x


def norm(frame):
    rows = [tuple(plain(x) for x in r) for r in frame.astype(object).itertuples(index=False)]
    return sorted(rows, key=lambda t: tuple((v is None, str(v)) for v in t))


def same(x, y) -> bool:
    """Two plain values equal: floats within TOL, dates by day, tuples (lists, structs) element-wise."""
    if isinstance(x, tuple) and isinstance(y, tuple):
        return len(x) == len(y) and all(same(u, v) for u, v in zip(x, y, strict=True))
    if isinstance(x, float) or isinstance(y, float):
        if x is None or y is None:
            return x is y
        return math.isclose(float(x), float(y), rel_tol=TOL, abs_tol=TOL)
    if isinstance(x, dt.date) or isinstance(y, dt.date):
        return str(x)[:10] == str(y)[:10]
    return x == y


def equal(a, b) -> bool:
    if len(a.columns) != len(b.columns) or len(a) != len(b):
        return False
    return all(same(ra, rb) for ra, rb in zip(norm(a), norm(b), strict=True))


def reason(exc: Exception) -> str:
    text = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
    m = re.search(r"\[(\w+)\][^`]*`([^`]+)`", text)
    return f"{m.group(1)} {m.group(2)}" if m else text[:100]


def capture(db_path: str, out: Path) -> None:
    """Record the statements every page and tab runs (benchmarks.step_pages.record_page_queries) into ``out``."""
    from benchmarks.step_pages import record_page_queries

    with open(out, "wb") as f:
        pickle.dump(record_page_queries(db_path), f)


def main(argv: list[str]) -> int:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        print("engine_parity: pyspark is not installed (pip install pyspark; Java 17 needed); nothing run",
              file=sys.stderr)
        return 2
    import sqlglot

    from analytics.db import READABLE_TABLES, ClinicDatabase
    from analytics.ingest.sample import ensure_sample_database
    from analytics.sql_portable import expand_macros, to_spark
    from analytics.stored import setting_constants

    db_path = argv[argv.index("--db") + 1] if "--db" in argv else str(ROOT / "sample_data" / "clinic.duckdb")
    ensure_sample_database(db_path)
    positional = [a for i, a in enumerate(argv) if a != "--db" and (i == 0 or argv[i - 1] != "--db")]
    recorded = Path(positional[0]) if positional else Path(db_path).with_suffix(".captured.pkl")
    if not recorded.exists():
        capture(db_path, recorded)
    with open(recorded, "rb") as f:
        captured = pickle.load(f)
    parquet = Path(db_path).with_suffix(".parquet.d")
    parquet.mkdir(exist_ok=True)
    by_name: dict[str, tuple[str, dict]] = {}
    for label, sql, params, *_ in captured:
        by_name.setdefault(label, (sql, params))
    db = ClinicDatabase(db_path)
    constants = setting_constants(db)
    for t in db.tables:
        db._con.execute(f"COPY (SELECT * FROM clinic.main.{t}) TO '{parquet / t}.parquet' (FORMAT parquet)")
    t0 = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").config("spark.driver.memory", "1g")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4").getOrCreate())
    spark.sparkContext.setLogLevel("OFF")
    startup = time.perf_counter() - t0
    for t in db.tables:
        spark.read.parquet(str(parquet / f"{t}.parquet")).createOrReplaceTempView(t)
    results = []
    for name, (sql, params) in sorted(by_name.items()):
        expected = db.execute_sql(sql, params, label=name)
        text = inline(sql, params)
        row = {"name": name}
        written = inline(expand_macros(sql, constants), params)
        for route, make in (("a", lambda s: sqlglot.transpile(s, read="duckdb", write="spark")[0]),
                            ("b", lambda s: s),
                            ("c", lambda _s, w=written: to_spark(w))):
            t1 = time.perf_counter()
            try:
                got = spark.sql(make(text)).toPandas()
                row[route] = "equal" if equal(expected, got) else "differs"
            except Exception as exc:  # noqa: BLE001 - a measurement: record why
                row[route] = "fail: " + reason(exc)
            row[route + "_s"] = time.perf_counter() - t1
        results.append(row)
        print(f"{name:40s} a={row['a'][:40]:40s} b={row['b'][:30]:30s} c={row['c'][:90]} ({row['c_s']:.2f}s)", flush=True)
    spark.stop()
    db.close()
    print(f"\nspark start-up {startup:.1f} s; {len(results)} distinct queries (tables: {READABLE_TABLES})")
    for route in "abc":
        ok = sum(r[route] == "equal" for r in results)
        diff = sum(r[route] == "differs" for r in results)
        print(f"route {route}: equal {ok}, differs {diff}, fail {len(results) - ok - diff}, "
              f"median {sorted(r[route + '_s'] for r in results)[len(results) // 2]:.2f} s/query")
    with open(recorded.with_suffix(".results.pkl"), "wb") as f:
        pickle.dump(results, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
