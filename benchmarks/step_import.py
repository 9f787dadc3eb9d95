"""Step "import": 1,000,000 assignment rows through the importer vs DuckDB's bare read_csv,
a re-import of the same rows, and where the import's time goes."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import DATA_DIR, IMPORT_ROWS, REPEATS, TARGETS, _median, ensure_import_export, log


def _import_profile(db_path: Path, files: list[Path]) -> list[dict[str, Any]]:
    """Per-statement wall time of one import (which SQL in analytics/ingest/importer.py dominates)."""
    import re

    import analytics.ingest.importer as importer

    records: list[dict[str, Any]] = []
    original = importer.atomic_write

    class TimedConnection:
        def __init__(self, con: Any):
            self._con = con

        def execute(self, sql: str, *args: Any) -> Any:
            frame = next((f for f in reversed(traceback.extract_stack()[:-1]) if f.filename.endswith("importer.py")), None)
            started = time.perf_counter()
            try:
                return self._con.execute(sql, *args)
            finally:
                records.append({
                    "seconds": time.perf_counter() - started,
                    "where": f"analytics/ingest/importer.py:{frame.lineno} ({frame.name})" if frame else "?",
                    "sql": re.sub(r"\s+", " ", sql).strip()[:110],
                })

        def __getattr__(self, name: str) -> Any:
            return getattr(self._con, name)

    @contextlib.contextmanager
    def timed_atomic_write(path: Any, settings: Any = None) -> Iterator[Any]:
        with original(path, settings) as con:
            yield TimedConnection(con)

    importer.atomic_write = timed_atomic_write
    try:
        started = time.perf_counter()
        importer.import_files(db_path, files, source="bench")
        total = time.perf_counter() - started
    finally:
        importer.atomic_write = original
    records.sort(key=lambda r: -r["seconds"])
    in_sql = sum(r["seconds"] for r in records)
    return [{"seconds": total, "where": "total import_files", "sql": ""},
            {"seconds": total - in_sql, "where": "outside SQL (Python, file hashing, line numbering, copy/fsync)",
             "sql": ""}] + records[:12]


def _pyinstrument_profile(db_path: Path, files: list[Path]) -> str | None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    from analytics import import_files

    profiler = Profiler(interval=0.002)
    profiler.start()
    import_files(db_path, files, source="bench")
    profiler.stop()
    return profiler.output_text(unicode=False, color=False, show_all=False)


def step_import() -> dict[str, Any]:
    import duckdb

    from analytics import import_files

    export = ensure_import_export()
    directory = DATA_DIR / "import-1m"
    files = [directory / "clients.csv", directory / "assignments.csv"]
    scratch = Path(tempfile.mkdtemp(prefix="bench-import-", dir=DATA_DIR))
    try:
        imports, bare_file, bare_memory = [], [], []
        for attempt in range(REPEATS):
            target = scratch / f"import-{attempt}.duckdb"
            started = time.perf_counter()
            result = import_files(target, files, source="bench")
            imports.append(time.perf_counter() - started)
            if result.exit_code != 0 or result.inserted != IMPORT_ROWS + export["clients"]:
                raise RuntimeError(f"the benchmark import did not import every row:\n{result.report()}")
            log(f"import run {attempt + 1}: {imports[-1]:.2f} s")
            bare = scratch / f"bare-{attempt}.duckdb"
            started = time.perf_counter()
            con = duckdb.connect(str(bare))
            con.execute("CREATE TABLE clients AS SELECT * FROM read_csv(?)", [str(files[0])])
            con.execute("CREATE TABLE assignments AS SELECT * FROM read_csv(?)", [str(files[1])])
            con.execute("CHECKPOINT")
            con.close()
            bare_file.append(time.perf_counter() - started)
            started = time.perf_counter()
            con = duckdb.connect(":memory:")
            con.execute("CREATE TABLE assignments AS SELECT * FROM read_csv(?)", [str(files[1])])
            rows = con.execute("SELECT count(*) FROM assignments").fetchall()[0][0]
            con.close()
            bare_memory.append(time.perf_counter() - started)
            if rows != IMPORT_ROWS:
                raise RuntimeError(f"bare read_csv read {rows} rows")
            for leftover in scratch.glob("*.duckdb*"):
                leftover.unlink()
        out: dict[str, Any] = {
            "rows": IMPORT_ROWS,
            "clients": export["clients"],
            "csv_mb": export["csv_mb"],
            "import_s": _median(imports),
            "import_runs": imports,
            "bare_file_s": _median(bare_file),
            "bare_file_runs": bare_file,
            "bare_memory_s": _median(bare_memory),
        }
        out["ratio"] = out["import_s"] / out["bare_file_s"]
        out["ratio_memory"] = out["import_s"] / out["bare_memory_s"]
        # An incremental import: the same 1M rows again into the database that holds them
        # (every row compared, all unchanged), as a clinic's monthly cumulative export does.
        target = scratch / "again.duckdb"
        import_files(target, files, source="bench")
        started = time.perf_counter()
        import_files(target, files, source="bench")
        out["reimport_unchanged_s"] = time.perf_counter() - started
        target.unlink(missing_ok=True)
        # Where the import's time goes, statement by statement (always: the ratio is close to
        # its target), and the Python call tree when the target is missed.
        out["profile"] = _import_profile(scratch / "profile.duckdb", files)
        if out["ratio"] > TARGETS["import_ratio"]:
            log("import ratio above target: profiling the Python side too")
            text = _pyinstrument_profile(scratch / "pyinstrument.duckdb", files)
            if text:
                out["pyinstrument"] = text
        return out
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
