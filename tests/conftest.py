"""Shared fixtures: the clinics of tests/support/clinics.py opened and served to AppTest.

The names re-exported below are for test modules that still import them from here; new code
imports from tests/support/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from analytics import ClinicDatabase
from tests.support.clinics import (  # noqa: F401 - also imported from here by test modules
    APP_TODAY,
    AUTH,
    FIXTURE_TODAY,
    ROOT,
    TINY_ASSIGNMENTS,
    TINY_CLIENTS,
    TINY_SCORES,
    TINY_SESSIONS,
    build_tiny_clinic,
    signed_in,
    write_csv,
)


@pytest.fixture(autouse=True)
def _pinned_app_today(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's "today" (staleness warning) is pinned in every test (tests.support.clinics.APP_TODAY)."""
    monkeypatch.setenv("BETWEEN_SESSIONS_TODAY", APP_TODAY)


@pytest.fixture(scope="session")
def tiny_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clinic(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def tiny_db(tiny_db_path: Path):
    with ClinicDatabase(tiny_db_path) as db:
        yield db


@pytest.fixture(scope="session")
def sample_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-client sample clinic from the seeded generator, through the real import."""
    from analytics.ingest.sample import build_sample_database

    path = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    result = build_sample_database(path, clients=300, seed=11)
    assert result.exit_code == 0, result.report()
    return path


@pytest.fixture
def sample_db(sample_db_path: Path):
    with ClinicDatabase(sample_db_path) as db:
        yield db


@pytest.fixture
def read_queries(sample_db: ClinicDatabase, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the queries ``sample_db.query`` runs during the test, in order."""
    seen: list[str] = []
    query = sample_db.query

    def spy(name, params=None, *args, **kwargs):
        seen.append(name)
        return query(name, params, *args, **kwargs)

    monkeypatch.setattr(sample_db, "query", spy)
    return seen


@pytest.fixture
def serve_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], Path]]:
    """``serve_database(path)`` points the dashboard at ``path`` (BETWEEN_SESSIONS_DB) and empties
    Streamlit's caches; they are emptied again after the test."""
    import streamlit as st

    def serve(path: Path) -> Path:
        monkeypatch.setenv("BETWEEN_SESSIONS_DB", str(path))
        st.cache_data.clear()
        st.cache_resource.clear()
        return path

    yield serve
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def fresh_audit_logs() -> Iterator[None]:
    """No access log left open by another test, and none left open by this one."""
    from analytics.audit import close_audit_logs

    close_audit_logs()
    yield
    close_audit_logs()


@pytest.fixture
def serve_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               serve_database: Callable[[Path], Path]) -> Iterator[Callable[[Path], Path]]:
    """``serve_copy(path)`` serves a copy of the clinic at ``path`` (tmp_path/clinic.duckdb, returned)
    to AppTest with its own access log (tmp_path/audit.duckdb) and empty caches; the access logs
    are closed before and after the test."""
    from analytics.audit import AUDIT_ENV, close_audit_logs

    def serve(path: Path) -> Path:
        db = tmp_path / "clinic.duckdb"
        shutil.copyfile(path, db)
        monkeypatch.setenv(AUDIT_ENV, str(tmp_path / "audit.duckdb"))
        close_audit_logs()
        return serve_database(db)

    yield serve
    close_audit_logs()


@pytest.fixture
def app_db(sample_db_path: Path, serve_database: Callable[[Path], Path]) -> Path:
    """Point the dashboard at the sample fixture and start with empty Streamlit caches."""
    return serve_database(sample_db_path)


# AppTest reads .streamlit/config.toml only when run from the repository root: pin the
# local-mode address so that tests started from elsewhere are not refused as exposed.
os.environ.setdefault("STREAMLIT_SERVER_ADDRESS", "127.0.0.1")
