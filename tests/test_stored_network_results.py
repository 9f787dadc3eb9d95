"""The Cohort outcomes page's network results stored at import (analytics/stored.py
``store_network_results``; read by analytics.cohort_outcomes.model through
``analytics.stored.stored_network_result``).

A large deployment's import stores, for the whole network and each configured measure, the rows
of the report's queries over every client; the report must be the one computed now, read them
only for the exact scope and key (no filter, the same settings), and a small deployment's import
stores nothing."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import duckdb
import pytest

from analytics import ClinicDatabase, Settings, Viewer
from analytics.cohort_outcomes import model as co
from analytics.ingest.sample import build_sample_database
from analytics.scope import CohortFilter
from analytics.stored import NETWORK_RESULT_QUERIES
from tests.support.queries import queries_run

LOCAL = Viewer.local()


@pytest.fixture(scope="module")
def stored_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded sample clinic imported as a deployment large enough to store network results."""
    import analytics.stored as stored

    path = tmp_path_factory.mktemp("network-results") / "stored.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stored, "NETWORK_RESULTS_MIN_CLIENTS", 100)
        result = build_sample_database(path, clients=300, seed=11)
    assert result.exit_code == 0, result.report()
    return path


@pytest.fixture(scope="module")
def live_db_path(stored_db_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same data without the stored network results: every query runs."""
    target = tmp_path_factory.mktemp("network-live") / "live.duckdb"
    shutil.copy(stored_db_path, target)
    con = duckdb.connect(str(target))
    for name in NETWORK_RESULT_QUERIES:
        con.execute(f"DROP TABLE stored_{name}")
    con.close()
    return target


def _report(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None, measure: str,
            settings: Settings) -> bytes:
    return pickle.dumps({k: v for k, v in vars(co.cohort_report(db, viewer, cohort, measure, settings)).items()
                         if k != "seconds"})


def test_a_large_deployment_stores_the_network_results_of_every_measure(stored_db_path):
    con = duckdb.connect(str(stored_db_path), read_only=True)
    try:
        # (the scatter's bins only above MAX_SCATTER_POINTS paired clients: none in this clinic)
        assert con.execute("SELECT count(*) FROM stored_cohort_compliance_bins").fetchone()[0] == 0
        for name in set(NETWORK_RESULT_QUERIES) - {"cohort_compliance_bins"}:
            keys = con.execute(f"SELECT DISTINCT summary_scope, summary_key FROM stored_{name}").fetchall()
            assert {scope for scope, _ in keys} == {"cohort"}, name
            assert len(keys) == len(Settings().measures), name  # one key per configured measure
    finally:
        con.close()


def test_the_stored_network_report_is_the_computed_one(stored_db_path, live_db_path, monkeypatch):
    seen = queries_run(monkeypatch)
    settings = Settings()
    with ClinicDatabase(stored_db_path) as stored, ClinicDatabase(live_db_path) as live:
        for measure in ("PHQ-9", "GAD-7"):
            seen.clear()
            expected = _report(live, LOCAL, None, measure, settings)
            assert {"cohort_relations", "cohort_report_groups", "cohort_score_trajectory",
                    "cohort_follow_up_bands"} <= set(seen)
            seen.clear()
            assert _report(stored, LOCAL, None, measure, settings) == expected, measure
            ran = set(seen)
            assert {"stored_cohort_relations", "stored_cohort_report_groups", "stored_cohort_score_trajectory",
                    "stored_cohort_follow_up_bands"} <= ran, measure
            assert not ran & set(NETWORK_RESULT_QUERIES), measure  # none of them ran live


@pytest.mark.parametrize("case", ["a clinic", "a filter", "another setting", "a scoped viewer"])
def test_other_cohorts_and_settings_run_the_queries(stored_db_path, live_db_path, monkeypatch, case):
    with ClinicDatabase(stored_db_path) as db:
        clinic = db.execute_sql("SELECT clinic FROM clients GROUP BY 1 ORDER BY count(*) DESC, 1")["clinic"][0]
    viewer, cohort, settings = LOCAL, None, Settings()
    if case == "a clinic":
        cohort = CohortFilter(clinics=(clinic,))
    elif case == "a filter":
        cohort = CohortFilter(homework_types=("journal",))
    elif case == "another setting":
        settings = Settings(unreviewed_as_not_done=True)
    else:
        viewer = Viewer(role="supervisor", email="s@x", clinics=(clinic,))
    seen = queries_run(monkeypatch)
    with ClinicDatabase(stored_db_path) as stored, ClinicDatabase(live_db_path) as live:
        expected = _report(live, viewer, cohort, "PHQ-9", settings)
        seen.clear()
        assert _report(stored, viewer, cohort, "PHQ-9", settings) == expected
    assert {"cohort_relations", "cohort_report_groups", "cohort_score_trajectory"} <= set(seen), case


def test_a_tampered_stored_row_shows_only_where_it_applies(stored_db_path, tmp_path):
    """A stored row changed by hand shows in the network's report and nowhere else: the report reads
    the stored rows exactly when it should (and this test would fail if it never read them)."""
    tampered = tmp_path / "tampered.duckdb"
    shutil.copy(stored_db_path, tampered)
    con = duckdb.connect(str(tampered))
    con.execute("UPDATE stored_cohort_score_trajectory SET n_clients = n_clients + 1000")
    con.close()
    settings = Settings()
    with ClinicDatabase(stored_db_path) as original, ClinicDatabase(tampered) as db:
        clinic = db.execute_sql("SELECT clinic FROM clients GROUP BY 1 ORDER BY count(*) DESC, 1")["clinic"][0]
        network = co.score_trajectories(db, LOCAL, None, "PHQ-9", settings)
        assert (network["n_clients"] == co.score_trajectories(original, LOCAL, None, "PHQ-9", settings)["n_clients"]
                + 1000).all()
        mine = CohortFilter(clinics=(clinic,))
        assert co.score_trajectories(db, LOCAL, mine, "PHQ-9", settings).equals(
            co.score_trajectories(original, LOCAL, mine, "PHQ-9", settings))


def test_a_small_deployment_stores_no_network_results(sample_db_path):
    con = duckdb.connect(str(sample_db_path), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    finally:
        con.close()
    assert not tables & {f"stored_{name}" for name in NETWORK_RESULT_QUERIES}
