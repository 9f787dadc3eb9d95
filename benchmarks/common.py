"""What every benchmark step shares: where results and datasets live, sizes, targets, the
seeded sample datasets (built through the real importer and reused while unchanged)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.server import DB_ENV, ROOT  # noqa: F401 - the steps import DB_ENV from here

DATA_DIR = ROOT / "benchmarks" / "data"
# Every step's latest results, beside the report and committed with it: the report combines the
# latest result of each step, so a run of some steps (``--steps browser``) on a fresh clone keeps
# the others' rows. (Kept in the gitignored DATA_DIR until issue 12, where a partial run on a
# fresh clone dropped every row it had not measured.)
RESULTS_FILE = ROOT / "docs" / "benchmarks.json"
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"

SIZES = {"S": 600, "L": 20_000, "XL": 100_000, "XXL": 1_000_000}
# Sizes generated a chunk of clients at a time (bounded memory: sample_data.generator.generate_chunks),
# each step of their build (generate, import) in a child process whose peak memory is measured.
# Never built by default (bench.py's --sizes default) nor by the tests: a benchmark only.
CHUNK_CLIENTS = {"XXL": 50_000}
DEFAULT_SIZES = ("S", "L", "XL")
SEED = 7
IMPORT_ROWS = 1_000_000
IMPORT_CLIENTS = 42_000  # ~24.7 assignments per client: > 1M rows, cut at exactly 1M

TARGETS = {
    "import_ratio": 3.0,  # import / bare read_csv
    "page_cold_L": 1.5,  # seconds
    "page_warm_L": 0.3,
    "page_cold_XL": 5.0,
    "browser_L": 3.0,
    # The first visitor of a freshly started server (python -m ui.serve), to the main chart drawn:
    # the new-visitor target, since that visitor should not wait for the server's imports.
    "cold_start_L": 3.0,
    "memory_L_mb": 1536.0,  # 1.5 GB
    "import_XXL_s": 600.0,  # the XXL export (1M clients) through the importer
    "import_XXL_peak_mb": 4096.0,  # peak RSS of that import (MiB)
    "summary_ratio_L": 10.0,  # pandas over the CSV exports / `summary --json`, whole processes (at least)
    "cli_start_s": 0.3,  # `python -m analytics --help`, whole process
    "browser_first_L": 2.0,  # new visitor's deep link to the first chart drawn
    "page_cold_XXL": 5.0,
    "page_warm_XXL": 0.5,
    "page_rows": 10_000,  # rows into Python, largest query result of any page
}
STEP_TIMEOUT_S = {"build": 5400, "import": 600, "pages": 900, "browser": 900, "baseline": 600,
                  "pages_XXL": 3600, "cold_start": 900, "memory": 900}  # per size where a size needs longer
REPEATS = 3


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _version(*paths: str) -> str:
    h = hashlib.sha256()
    for rel in paths:
        h.update((ROOT / rel).read_bytes())
    return h.hexdigest()[:16]


def generator_version() -> str:
    """Changes when the generated exports (or the schema they are imported into) could change."""
    return _version("sample_data/generator.py", "analytics/schema.py")


def database_version() -> str:
    """Changes when an imported dataset could change: its export, or what an import stores
    beside the rows (the per-client rows of analytics/stored.py and the macros behind them, the
    expected recovery curves: their query and analytics/expected_response.py, whose constants are
    in the key a stored curve is read under; the stored cohort summary)."""
    return _version("sample_data/generator.py", "analytics/schema.py", "analytics/stored.py",
                    "analytics/sql/macros.sql", "analytics/sql/expected_response_fit.sql",
                    "analytics/expected_response.py", "analytics/ingest/importer.py",
                    # the stored cohort summary: its queries, the macros they call, its key
                    "analytics/summary.py", "analytics/sql/cohort_summary.sql",
                    "analytics/sql/cohort_summary_paired.sql", "analytics/sql/stored_client_rows.sql",
                    "analytics/sql/outcome_macros.sql",
                    # the stored network results of the cohort report: its requests, queries and macros
                    "analytics/cohort_outcomes/model.py", "analytics/sql/cohort_macros.sql",
                    *(f"analytics/cohort_outcomes/sql/{name}.sql" for name in (
                        "cohort_relations", "cohort_report_groups", "cohort_score_trajectory",
                        "cohort_follow_up_bands", "cohort_compliance_bins")))


def dataset_dir(size: str) -> Path:
    return DATA_DIR / size


def dataset_db(size: str) -> Path:
    return dataset_dir(size) / "clinic.duckdb"


def _read_stamp(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / "stamp.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _child_run(cmd: list[str], log_path: Path) -> dict[str, Any]:
    """Run ``cmd`` (from the repository root) and measure it: wall seconds, the child's peak
    resident memory (MiB, its own ru_maxrss, which counts DuckDB's memory too), exit status."""
    started = time.perf_counter()
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": round(time.perf_counter() - started, 1), "peak_mb": round(usage.ru_maxrss / 1024, 1),
            "exit_code": proc.returncode}


def _build_chunked(size: str, directory: Path, version: str) -> dict[str, Any]:
    """Generate the export of ``size`` in chunks and import it with ``python -m analytics import``,
    each in a child process measured on its own. A generated export whose stamp matches is reused."""
    csv_dir = directory / "csv"
    csv_stamp = _read_stamp(csv_dir)
    generation: dict[str, Any]
    if csv_stamp and csv_stamp.get("version") == version and csv_stamp.get("clients") == SIZES[size]:
        generation = csv_stamp["generation"]
        log(f"reusing the generated {size} export")
    else:
        shutil.rmtree(csv_dir, ignore_errors=True)
        csv_dir.mkdir(parents=True)
        log(f"generating {size} in chunks of {CHUNK_CLIENTS[size]:,} clients")
        generation = _child_run([sys.executable, "-m", "sample_data.generator", "--out", str(csv_dir),
                                 "--clients", str(SIZES[size]), "--seed", str(SEED),
                                 "--chunk-clients", str(CHUNK_CLIENTS[size])], directory / "generate.log")
        if generation["exit_code"] != 0:
            raise RuntimeError(f"generating {size} failed: see {directory / 'generate.log'}")
        (csv_dir / "stamp.json").write_text(json.dumps(
            {"version": version, "clients": SIZES[size], "chunk_clients": CHUNK_CLIENTS[size],
             "generation": generation}, indent=2))
    log(f"generated {size}: {generation}")
    for leftover in directory.glob("clinic.duckdb*"):
        leftover.unlink()
    files = [str(csv_dir / f"{t}.csv") for t in ("clients", "sessions", "assignments", "scores")]
    log(f"importing {size} through python -m analytics import")
    imported = _child_run([sys.executable, "-m", "analytics", "import", "--db", str(dataset_db(size)), *files],
                          directory / "import.log")
    if imported["exit_code"] != 0:
        raise RuntimeError(f"importing {size} failed or rejected rows: see {directory / 'import.log'}")
    log(f"imported {size}: {imported}")
    return {"chunk_clients": CHUNK_CLIENTS[size], "generate_s": generation["seconds"],
            "generate_peak_mb": generation["peak_mb"], "import_s": imported["seconds"],
            "import_peak_mb": imported["peak_mb"]}


def ensure_dataset(size: str) -> dict[str, Any]:
    """Build (or reuse) the sample clinic of ``size``: CSV export and imported database."""
    from analytics import ClinicDatabase
    from analytics.ingest.sample import build_sample_database

    directory = dataset_dir(size)
    version = database_version()
    stamp = _read_stamp(directory)
    if stamp and stamp.get("version") == version and stamp.get("clients") == SIZES[size] and dataset_db(size).exists():
        return {**stamp, "reused": True}
    log(f"building dataset {size} ({SIZES[size]:,} clients)")
    started = time.perf_counter()
    measured: dict[str, Any] = {}
    if size in CHUNK_CLIENTS:
        (directory / "stamp.json").unlink(missing_ok=True)
        directory.mkdir(parents=True, exist_ok=True)
        measured = _build_chunked(size, directory, generator_version())
    else:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        result = build_sample_database(dataset_db(size), clients=SIZES[size], seed=SEED, csv_dir=directory / "csv")
        if result.exit_code != 0:
            raise RuntimeError(f"building dataset {size} rejected rows:\n{result.report()}")
    build_s = time.perf_counter() - started
    with ClinicDatabase(dataset_db(size)) as db:
        rows = {t: int(db.execute_sql(f"SELECT count(*) AS n FROM {t}")["n"].iloc[0])
                for t in ("clients", "sessions", "assignments", "scores")}
    stamp = {
        "version": version,
        "size": size,
        "clients": SIZES[size],
        "seed": SEED,
        "rows": rows,
        "db_mb": round(dataset_db(size).stat().st_size / 2**20, 1),
        "csv_mb": round(sum(p.stat().st_size for p in (directory / "csv").glob("*.csv")) / 2**20, 1),
        "build_s": round(build_s, 1),
        **measured,
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (directory / "stamp.json").write_text(json.dumps(stamp, indent=2))
    return {**stamp, "reused": False}


def ensure_import_export() -> dict[str, Any]:
    """clients.csv + assignments.csv with exactly IMPORT_ROWS assignment rows."""
    from sample_data.generator import generate_clinic, write_csv

    directory = DATA_DIR / "import-1m"
    version = generator_version()
    stamp = _read_stamp(directory)
    if stamp and stamp.get("version") == version and stamp.get("assignments") == IMPORT_ROWS:
        return stamp
    log("writing the 1M-row import export")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    frames = generate_clinic(n_clients=IMPORT_CLIENTS, seed=SEED)
    assignments = frames["assignments"]
    if len(assignments) < IMPORT_ROWS:
        raise RuntimeError(f"the generator gave only {len(assignments):,} assignments for {IMPORT_CLIENTS:,} clients")
    assignments = assignments.iloc[:IMPORT_ROWS]
    clients = frames["clients"]
    clients = clients[clients["client_id"].isin(set(assignments["client_id"]))]
    write_csv(clients, directory / "clients.csv")
    write_csv(assignments, directory / "assignments.csv")
    stamp = {
        "version": version,
        "assignments": IMPORT_ROWS,
        "clients": len(clients),
        "csv_mb": round(sum(p.stat().st_size for p in directory.glob("*.csv")) / 2**20, 1),
    }
    (directory / "stamp.json").write_text(json.dumps(stamp, indent=2))
    return stamp
