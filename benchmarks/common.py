"""What every benchmark step shares: where results and datasets live, sizes, targets, the
seeded sample datasets (built through the real importer and reused while unchanged)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.server import DB_ENV, ROOT  # noqa: F401 - the steps import DB_ENV from here

DATA_DIR = ROOT / "benchmarks" / "data"
RESULTS_FILE = DATA_DIR / "results.json"
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"

SIZES = {"S": 600, "L": 20_000, "XL": 100_000}
SEED = 7
IMPORT_ROWS = 1_000_000
IMPORT_CLIENTS = 42_000  # ~24.7 assignments per client: > 1M rows, cut at exactly 1M

TARGETS = {
    "import_ratio": 3.0,  # import / bare read_csv
    "page_cold_L": 1.5,  # seconds
    "page_warm_L": 0.3,
    "page_cold_XL": 5.0,
    "browser_L": 3.0,
    "memory_L_mb": 1536.0,  # 1.5 GB
}
STEP_TIMEOUT_S = {"build": 1500, "import": 600, "pages": 900, "browser": 420, "baseline": 600}
REPEATS = 3


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def generator_version() -> str:
    """Changes when the generated data (or the schema it is imported into) could change."""
    h = hashlib.sha256()
    for rel in ("sample_data/generator.py", "analytics/schema.py"):
        h.update((ROOT / rel).read_bytes())
    return h.hexdigest()[:16]


def dataset_dir(size: str) -> Path:
    return DATA_DIR / size


def dataset_db(size: str) -> Path:
    return dataset_dir(size) / "clinic.duckdb"


def _read_stamp(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / "stamp.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def ensure_dataset(size: str) -> dict[str, Any]:
    """Build (or reuse) the sample clinic of ``size``: CSV export and imported database."""
    from analytics import ClinicDatabase
    from analytics.ingest.sample import build_sample_database

    directory = dataset_dir(size)
    version = generator_version()
    stamp = _read_stamp(directory)
    if stamp and stamp.get("version") == version and stamp.get("clients") == SIZES[size] and dataset_db(size).exists():
        return {**stamp, "reused": True}
    log(f"building dataset {size} ({SIZES[size]:,} clients)")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    started = time.perf_counter()
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
