"""The cohort summary stored at import (analytics/stored.py ``store_summaries``; read by
analytics.summary.summary_row through stored_cohort_summary(_paired).sql).

A stored summary is the row of the summary's own query for the whole network or one clinic, so it
must equal the summary computed now; it must really be read when the scope and the key (query
text, macros, every other parameter) match, computed anew otherwise, refreshed by every import, and
never read for a scope narrower than the stored one (a therapist, several clinics, any filter)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from analytics import ClinicDatabase, Settings, Viewer, cohort_summary, import_files
from analytics.scope import CohortFilter
from analytics.stored import SUMMARY_TABLES
from tests.support.clinics import FIXTURE_TODAY, write_csv
from tests.support.queries import queries_run

LOCAL = Viewer.local()


@pytest.fixture(scope="module")
def unstored_db_path(sample_db_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample clinic as imported before summaries were stored: every summary is computed."""
    target = tmp_path_factory.mktemp("unstored-summary") / "unstored.duckdb"
    shutil.copy(sample_db_path, target)
    con = duckdb.connect(str(target))
    for table in SUMMARY_TABLES:
        con.execute(f"DROP TABLE {table}")
    con.close()
    return target


def _clinics(db: ClinicDatabase) -> list[str]:
    return list(db.execute_sql("SELECT DISTINCT clinic FROM clients ORDER BY 1")["clinic"])


def test_the_stored_summary_is_the_computed_one_for_the_network_and_each_clinic(
        sample_db_path, unstored_db_path, monkeypatch):
    seen = queries_run(monkeypatch, "rows")
    with ClinicDatabase(sample_db_path) as stored, ClinicDatabase(unstored_db_path) as computed:
        viewers = [LOCAL, *(Viewer(role="supervisor", email="s@x", clinics=(c,)) for c in _clinics(stored))]
        assert len(viewers) >= 3
        for viewer in viewers:
            seen.clear()
            expected = json.dumps(cohort_summary(computed, viewer))
            assert seen == ["cohort_summary", "cohort_summary_paired"]
            seen.clear()
            assert json.dumps(cohort_summary(stored, viewer)) == expected, viewer
            assert seen == ["stored_cohort_summary", "stored_cohort_summary_paired"], viewer


@pytest.mark.parametrize(("settings", "computed_now"), [
    (Settings(baseline_days_before_intake=14), ["cohort_summary", "cohort_summary_paired"]),
    (Settings(unreviewed_as_not_done=True), ["cohort_summary"]),  # the paired counts have no homework
    (Settings(paired_measures=("GAD-7", "PHQ-9")), ["cohort_summary_paired"]),
])
def test_other_settings_compute_the_summary(sample_db_path, unstored_db_path, settings, computed_now, monkeypatch):
    """Each query is read stored only under its own parameters: a setting that one query does not
    take leaves its stored row in use."""
    seen = queries_run(monkeypatch, "rows")
    with ClinicDatabase(sample_db_path) as stored, ClinicDatabase(unstored_db_path) as computed:
        expected = json.dumps(cohort_summary(computed, LOCAL, None, settings))
        seen.clear()
        assert json.dumps(cohort_summary(stored, LOCAL, None, settings)) == expected
        assert [name for name in seen if not name.startswith("stored_")] == computed_now


def test_a_tampered_stored_summary_is_read_only_where_it_applies(sample_db_path, tmp_path):
    """A stored row changed by hand shows in the summary of its scope under the stored settings,
    and nowhere else: the summary reads it exactly when it should."""
    tampered = tmp_path / "tampered.duckdb"
    shutil.copy(sample_db_path, tampered)
    con = duckdb.connect(str(tampered))
    con.execute("UPDATE stored_cohort_summary SET clients = clients + 1000 WHERE summary_scope = 'cohort'")
    con.execute("UPDATE stored_cohort_summary_paired SET finished = finished + 1000")
    con.close()
    with ClinicDatabase(sample_db_path) as original, ClinicDatabase(tampered) as db:
        clinic = _clinics(db)[0]
        supervisor = Viewer(role="supervisor", email="s@x", clinics=(clinic,))
        assert cohort_summary(db, LOCAL)["clients"] == cohort_summary(original, LOCAL)["clients"] + 1000
        assert cohort_summary(db, supervisor)["clients"] == cohort_summary(original, supervisor)["clients"]
        assert (cohort_summary(db, supervisor)["nhs_paired"]["finished"]
                == cohort_summary(original, supervisor)["nhs_paired"]["finished"] + 1000)
        therapist = db.execute_sql("SELECT min(therapist_id) AS t FROM clients")["t"][0]
        narrower = [
            (LOCAL, CohortFilter.of(clinics=clinic)),
            (LOCAL, CohortFilter.of(programs=db.execute_sql("SELECT min(program) AS p FROM clients")["p"][0])),
            (LOCAL, CohortFilter.of(measures="PHQ-9")),
            (LOCAL, CohortFilter.of(homework_types=db.execute_sql(
                "SELECT min(homework_type) AS h FROM assignments")["h"][0])),
            (Viewer(role="therapist", email="t@x", therapist_id=therapist), None),
            (Viewer(role="supervisor", email="s@x", clinics=tuple(_clinics(db)[:2])), None),
        ]
        for viewer, cohort in narrower:
            assert cohort_summary(db, viewer, cohort) == cohort_summary(original, viewer, cohort), (viewer, cohort)
        other = Settings(baseline_days_before_intake=14)
        assert cohort_summary(db, LOCAL, None, other) == cohort_summary(original, LOCAL, None, other)


def test_every_import_refreshes_the_stored_summary(tmp_path, monkeypatch):
    clients = write_csv(tmp_path / "clients.csv", """
client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date
S1,North,T1,CBT,depression,2026-01-05,2026-04-06
S2,South,T2,CBT,depression,2026-01-05,
""")
    scores = write_csv(tmp_path / "scores.csv", """
client_id,measure,administered_date,total_score
S1,PHQ-9,2026-01-05,18
S1,PHQ-9,2026-02-02,12
""")
    db_path = tmp_path / "clinic.duckdb"
    assert import_files(db_path, [clients, scores], today=FIXTURE_TODAY).exit_code == 0
    seen = queries_run(monkeypatch, "rows")
    with ClinicDatabase(db_path) as db:
        first = cohort_summary(db, LOCAL)
    assert (first["clients"], first["measures"]["PHQ-9"]["clients_paired"]) == (2, 1)
    (tmp_path / "more").mkdir()
    later = write_csv(tmp_path / "more" / "scores.csv", """
client_id,measure,administered_date,total_score
S2,PHQ-9,2026-01-05,20
S2,PHQ-9,2026-03-02,9
""")
    assert import_files(db_path, [later], today=FIXTURE_TODAY).exit_code == 0
    seen.clear()
    with ClinicDatabase(db_path) as db:
        second = cohort_summary(db, LOCAL)
        south = cohort_summary(db, Viewer(role="supervisor", email="s@x", clinics=("South",)))
    assert (second["clients"], second["measures"]["PHQ-9"]["clients_paired"]) == (2, 2)
    assert south["measures"]["PHQ-9"]["mean_change"] == -11
    assert set(seen) == {"stored_cohort_summary", "stored_cohort_summary_paired"}
