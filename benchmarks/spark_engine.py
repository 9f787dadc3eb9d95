"""The pages on DuckDB and on Spark (local mode) over one clinic, and Spark's plans (issue 17).

    .venv/bin/python -m benchmarks.spark_engine --db benchmarks/data/XXL/clinic.duckdb \\
        [--cases home,caseload,...] [--engines duckdb,spark] [--out spark-XXL.json]
    .venv/bin/python -m benchmarks.spark_engine --import-clients 20000 [--engines duckdb,spark]

Needs pyspark and Java (scripts/setup.sh spark; scripts/install-java.sh). For each engine and page
case (benchmarks.step_pages.page_cases: every page and tab) the page is run under Streamlit's
AppTest through the app's navigation, as the pages benchmark does: **cold** = Streamlit's caches
and the reader emptied first (the reader reopened: on Spark a new session over the snapshot,
its tables registered), **warm** = run again at once (the second visitor: Streamlit's cache).
The Spark session itself (the JVM) is started once before, and its start-up reported apart. The
query time limit is raised to 20 minutes here (the dashboard's 30 s would stop Spark's slowest).

For every statement a page runs on Spark, its physical plan (before adaptive execution changes
it) is read: shuffles (``Exchange`` by hash, range, single partition or round robin), broadcasts,
and the Parquet files of the tables it scans: how the work would spread over a cluster.

``--import-clients N``: instead, the import on each engine (its checks in DuckDB or in Spark SQL,
analytics/ingest/checks.py): the seeded generator's export of N clients imported into a new
database, then the same files again (every row unchanged). On Spark the time includes publishing
the new snapshot, which is part of an import there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.step_pages import _apptest, clear_caches, page_cases

DB_ENV = "BETWEEN_SESSIONS_DB"
ENGINE_ENV = "BETWEEN_SESSIONS_ENGINE"
TIMEOUT_S = 1200.0
_SHUFFLE = re.compile(r"Exchange (hashpartitioning|rangepartitioning|SinglePartition|RoundRobinPartitioning)")
_SCAN = re.compile(r"FileScan parquet .*?Location: InMemoryFileIndex\(\d+ paths?\)\[file:[^\]]*/snapshots/[^/]+/(\w+)")


def plan_facts(plan: str, files_per_table: dict[str, int]) -> dict[str, Any]:
    """Shuffles, broadcasts and scanned files in one physical plan's text."""
    shuffles = Counter(m.group(1) for m in _SHUFFLE.finditer(plan))
    tables = [m.group(1) for m in _SCAN.finditer(plan)]
    return {"shuffles": sum(shuffles.values()), "by_kind": dict(shuffles),
            "broadcasts": plan.count("BroadcastExchange"), "scans": len(tables),
            "files": sum(files_per_table.get(t, 0) for t in tables), "tables": sorted(set(tables))}


def import_timings(engines: list[str], clients: int, seed: int = 7) -> dict[str, Any]:
    """Seconds of a first import and of the same files again, per engine (one run each)."""
    from analytics.ingest.importer import import_files
    from analytics.spark_engine import spark_session
    from sample_data.generator import write_export

    report: dict[str, Any] = {"clients": clients, "seed": seed}
    with tempfile.TemporaryDirectory(prefix="import-bench-") as scratch:
        paths = write_export(Path(scratch) / "export", n_clients=clients, seed=seed)
        if "spark" in engines:
            started = time.perf_counter()
            spark_session()
            report["spark_start_s"] = time.perf_counter() - started
        for engine in engines:
            os.environ[ENGINE_ENV] = engine
            db_path = Path(scratch) / engine / "clinic.duckdb"
            started = time.perf_counter()
            first = import_files(db_path, paths, source="benchmark")
            first_s = time.perf_counter() - started
            started = time.perf_counter()
            again = import_files(db_path, paths, source="benchmark")
            again_s = time.perf_counter() - started
            report[engine] = {"first_s": first_s, "again_s": again_s, "rows_read": first.rows_read,
                              "inserted": first.inserted, "rejected": first.rejected,
                              "unchanged_again": again.unchanged}
            print(f"{engine:6s} import {first_s:7.1f} s ({first.rows_read} rows, {first.rejected} rejected), "
                  f"again {again_s:7.1f} s ({again.unchanged} unchanged)", flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db")
    parser.add_argument("--cases", default="", help="page case names, comma-separated (default: all)")
    parser.add_argument("--engines", default="duckdb,spark")
    parser.add_argument("--import-clients", type=int, default=0, help="measure the import of N clients instead")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    if args.import_clients:
        text = json.dumps(import_timings(args.engines.split(","), args.import_clients), indent=1)
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
        return 0
    if not args.db:
        parser.error("--db is required (or --import-clients)")

    from analytics import ClinicDatabase
    from analytics.lake import ensure_snapshot
    from analytics.spark_engine import SparkClinicDatabase, spark_session

    db_path = Path(args.db).resolve()
    os.environ[DB_ENV] = str(db_path)
    cases = page_cases(include_sections=True)
    if args.cases:
        wanted = args.cases.split(",")
        cases = [c for c in cases if c.name in wanted]
    with ClinicDatabase(db_path) as db:
        links = {c.name: c.params(db) for c in cases}
    report: dict[str, Any] = {"db": str(db_path), "cases": [c.name for c in cases], "pages": {}}

    started = time.perf_counter()
    snapshot = ensure_snapshot(db_path)
    report["snapshot_s"] = time.perf_counter() - started
    files_per_table = {t: sum(1 for _ in (snapshot.path / t).rglob("*.parquet")) for t in snapshot.manifest["tables"]}
    report["files_per_table"] = files_per_table
    started = time.perf_counter()
    spark_session()
    report["spark_start_s"] = time.perf_counter() - started
    SparkClinicDatabase.__init__.__kwdefaults__["timeout_s"] = TIMEOUT_S

    statements: list[tuple[str, str, str, dict]] = []  # (case, label, sql, params) run on Spark
    current_case = [""]
    original = SparkClinicDatabase._arrow_table

    def recording(self: Any, sql: str, params: Any, label: str) -> Any:
        statements.append((current_case[0], label, sql, dict(params or {})))
        return original(self, sql, params, label)

    SparkClinicDatabase._arrow_table = recording  # type: ignore[method-assign]
    for engine in args.engines.split(","):
        os.environ[ENGINE_ENV] = engine
        for case in cases:
            current_case[0] = case.name
            clear_caches()
            cold, errors = _apptest(case, links[case.name], TIMEOUT_S)
            warm, warm_errors = _apptest(case, links[case.name], TIMEOUT_S)
            report["pages"].setdefault(case.name, {})[engine] = {"cold_s": cold, "warm_s": warm,
                                                                 "errors": errors + warm_errors}
            print(f"{engine:6s} {case.name:45s} cold {cold:7.2f} s  warm {warm:5.2f} s  {errors or ''}", flush=True)
    SparkClinicDatabase._arrow_table = original  # type: ignore[method-assign]

    # the plans of what the pages ran on Spark
    if statements:
        with SparkClinicDatabase(db_path, snapshot) as spark:
            spark._session.conf.set("spark.sql.maxMetadataStringLength", "10000")  # whole file paths in plans
            plans: dict[str, list[dict[str, Any]]] = {}
            for case_name, label, sql, params in statements:
                plan = spark.statement(sql, params, label)._jdf.queryExecution().executedPlan().toString()
                plans.setdefault(case_name, []).append({"query": label, **plan_facts(plan, files_per_table)})
        for case_name, rows in plans.items():
            report["pages"][case_name]["plan"] = {
                "statements": len(rows), "shuffles": sum(r["shuffles"] for r in rows),
                "broadcasts": sum(r["broadcasts"] for r in rows), "scans": sum(r["scans"] for r in rows),
                "files": sum(r["files"] for r in rows), "queries": rows}
    text = json.dumps(report, indent=1, default=str)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    print(f"snapshot {report['snapshot_s']:.1f} s, Spark start-up {report['spark_start_s']:.1f} s")
    for name, page in report["pages"].items():
        plan = page.get("plan", {})
        print(f"{name:45s} " + "  ".join(f"{e} {page[e]['cold_s']:.2f}/{page[e]['warm_s']:.2f} s"
                                         for e in args.engines.split(",") if e in page)
              + (f"  statements {plan['statements']} shuffles {plan['shuffles']} broadcasts {plan['broadcasts']}"
                 f" files {plan['files']}" if plan else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
