"""The sample clinic on both engines (issue 17): imported once into DuckDB, published once as the
Parquet snapshot Spark reads. These tests need pyspark and Java (scripts/test-spark.sh installs
both); the main suite does not collect them (scripts/test.sh)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    import pyspark  # noqa: F401
except ImportError:
    if os.environ.get("SPARK_TESTS_REQUIRED"):  # scripts/test-spark.sh: never left out there
        raise
    # a plain `pytest tests` without pyspark: these are not collected (scripts/test.sh leaves the
    # folder out anyway; scripts/test-spark.sh installs pyspark and requires it)
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def clinic_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample clinic the dashboard serves by default (analytics.ingest.sample, its defaults),
    through the real import, with its snapshot published."""
    from analytics.ingest.sample import build_sample_database
    from analytics.lake import publish_snapshot

    path = tmp_path_factory.mktemp("clinic") / "clinic.duckdb"
    result = build_sample_database(path)
    assert result.exit_code == 0, result.report()
    publish_snapshot(path)
    return path


@pytest.fixture(scope="session")
def duck(clinic_path: Path) -> Iterator:
    from analytics import ClinicDatabase

    with ClinicDatabase(clinic_path) as db:
        yield db


@pytest.fixture(scope="session")
def spark(clinic_path: Path) -> Iterator:
    from analytics.lake import current_snapshot
    from analytics.spark_engine import SparkClinicDatabase

    snapshot = current_snapshot(clinic_path)
    assert snapshot is not None
    with SparkClinicDatabase(clinic_path, snapshot) as db:
        yield db


@pytest.fixture
def on_engine(monkeypatch: pytest.MonkeyPatch, clinic_path: Path):
    """Point the app (and analytics.open_database) at the clinic on the named engine."""
    def choose(engine: str) -> None:
        monkeypatch.setenv("BETWEEN_SESSIONS_DB", str(clinic_path))
        monkeypatch.setenv("BETWEEN_SESSIONS_ENGINE", engine)
    return choose  # monkeypatch restores both variables after the test
