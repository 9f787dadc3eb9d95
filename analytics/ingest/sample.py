"""The sample clinic: generated exports loaded through the ordinary import path."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .importer import ImportResult, import_files

DEFAULT_SAMPLE_DB = Path(__file__).resolve().parents[2] / "sample_data" / "clinic.duckdb"
DEFAULT_SAMPLE_CLIENTS = 600
DEFAULT_SAMPLE_SEED = 7


def build_sample_database(
    db_path: str | Path,
    *,
    clients: int = DEFAULT_SAMPLE_CLIENTS,
    seed: int = DEFAULT_SAMPLE_SEED,
    csv_dir: str | Path | None = None,
) -> ImportResult:
    """Generate a seeded clinic export (CSV) and import it into ``db_path``."""
    from sample_data.generator import write_export

    with tempfile.TemporaryDirectory(prefix="sample-export-") as scratch:
        out_dir = Path(csv_dir) if csv_dir else Path(scratch)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = write_export(out_dir, n_clients=clients, seed=seed)
        return import_files(db_path, paths, source="sample")


def ensure_sample_database(db_path: str | Path = DEFAULT_SAMPLE_DB) -> Path:
    """Build the default sample clinic when it is missing (the dashboard's first run)."""
    db_path = Path(db_path)
    if not db_path.exists():
        build_sample_database(db_path)
    return db_path
