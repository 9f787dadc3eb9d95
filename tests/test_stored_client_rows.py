"""Per-client rows stored at import (analytics/stored.py, analytics/sql/stored_client_rows.sql).

The stored rows are the live macros' rows, so every figure must be identical (bit for bit) to
the same clinic without stored rows (a database imported before they existed, computed from
the source tables), for every viewer, cohort and setting; the stored rows must really be read
when the settings match, recomputed when they do not, refreshed by every import, and reachable
only through the scoped cohort."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from analytics import ClinicDatabase, CohortFilter, Settings, Viewer, cohort_summary, filter_options, import_files
from analytics.cohort_outcomes.sudden_gain_summary import sudden_gain_summary
from analytics.db import sql_files
from analytics.metrics import client_homework, client_outcomes, client_paired_outcomes
from analytics.quality_improvement.model import monthly_activity, report_period, unit_homework
from analytics.stored import (
    CLIENT_MONTHS_TABLE,
    GAIN_TABLES,
    SETTINGS_TABLE,
    STORED_TABLES,
    SUMMARY_TABLES,
    gain_settings,
)
from tests.support.clinics import FIXTURE_TODAY, ROOT, write_csv

SETTINGS = (
    Settings(),
    Settings(baseline_days_before_intake=14),
    Settings(unreviewed_as_not_done=True),
    Settings(paired_measures=("GAD-7", "PHQ-9")),
)


def _without_stored_rows(source: Path, target: Path) -> Path:
    shutil.copy(source, target)
    con = duckdb.connect(str(target))
    for table in (*STORED_TABLES, SETTINGS_TABLE, *GAIN_TABLES, *SUMMARY_TABLES, CLIENT_MONTHS_TABLE):
        con.execute(f"DROP TABLE {table}")
    con.close()
    return target


@pytest.fixture(scope="module")
def legacy_db_path(sample_db_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _without_stored_rows(sample_db_path, tmp_path_factory.mktemp("legacy") / "legacy.duckdb")


def _viewers(db: ClinicDatabase) -> list[Viewer]:
    options = filter_options(db, Viewer.local())
    clinic, therapist = options["clinic"][0], options["therapist"][0]
    return [Viewer.local(), Viewer(role="supervisor", email="s@example.org", clinics=(clinic,)),
            Viewer(role="therapist", email="t@example.org", therapist_id=therapist)]


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _status(path: Path) -> dict:
    """The stored settings row and how many rows each stored table holds (read from the file)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        cursor = con.execute(f"""SELECT *,
            (SELECT count(*) FROM stored_client_homework) AS clients_with_homework,
            (SELECT count(*) FROM stored_client_measure_scores) AS client_measure_rows,
            (SELECT count(*) FROM stored_client_paired_scores) AS clients_paired
            FROM {SETTINGS_TABLE}""")
        names = [d[0] for d in cursor.description]
        (row,) = cursor.fetchall()
        return dict(zip(names, row, strict=True))
    finally:
        con.close()


def test_the_import_stores_rows_under_its_settings(sample_db_path):
    with ClinicDatabase(sample_db_path) as db:
        assert db.stored_rows is True
    row = _status(sample_db_path)
    assert row["stored_baseline_days"] == Settings().baseline_days_before_intake
    assert row["stored_unreviewed_as_not_done"] is False
    assert (row["stored_depression_measure"], row["stored_anxiety_measure"]) == ("PHQ-9", "GAD-7")
    assert row["clients_with_homework"] > 250 and row["client_measure_rows"] > 500 and row["clients_paired"] > 100


def test_stored_rows_give_the_figures_computed_from_the_source(sample_db_path, legacy_db_path):
    with ClinicDatabase(sample_db_path) as stored, ClinicDatabase(legacy_db_path) as legacy:
        assert stored.stored_rows and not legacy.stored_rows
        clinic = filter_options(stored, Viewer.local())["clinic"][0]
        cohorts = [CohortFilter(), CohortFilter.of(clinics=clinic), CohortFilter.of(measures="PHQ-9"),
                   CohortFilter.of(homework_types="thought_record")]
        for settings in SETTINGS:
            for viewer in _viewers(stored):
                for cohort in cohorts:
                    expected = json.dumps(cohort_summary(legacy, viewer, cohort, settings))
                    assert json.dumps(cohort_summary(stored, viewer, cohort, settings)) == expected
                    pd.testing.assert_frame_equal(
                        _sorted(client_outcomes(stored, viewer, cohort, settings), ["client_id", "measure"]),
                        _sorted(client_outcomes(legacy, viewer, cohort, settings), ["client_id", "measure"]),
                    )
                pd.testing.assert_frame_equal(
                    _sorted(client_homework(stored, viewer, None, settings), ["client_id"]),
                    _sorted(client_homework(legacy, viewer, None, settings), ["client_id"]),
                )
                pd.testing.assert_frame_equal(
                    _sorted(client_paired_outcomes(stored, viewer, None, settings), ["client_id"]),
                    _sorted(client_paired_outcomes(legacy, viewer, None, settings), ["client_id"]),
                )


def test_one_client_reads_the_same_rows(sample_db_path, legacy_db_path):
    with ClinicDatabase(sample_db_path) as stored, ClinicDatabase(legacy_db_path) as legacy:
        paired = client_paired_outcomes(stored, Viewer.local(), None, Settings())
        clients = sorted(paired["client_id"])[:5]
        assert len(clients) == 5
        for client_id in clients:
            a = client_paired_outcomes(stored, Viewer.local(), None, Settings(), client_id=client_id)
            b = client_paired_outcomes(legacy, Viewer.local(), None, Settings(), client_id=client_id)
            pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_the_stored_rows_are_read_when_the_settings_match(sample_db_path, tmp_path):
    """A stored row changed by hand changes the summary under the stored settings only: the
    summary reads the stored rows (rather than recomputing) exactly when it should."""
    tampered = tmp_path / "tampered.duckdb"
    shutil.copy(sample_db_path, tampered)
    con = duckdb.connect(str(tampered))
    con.execute("UPDATE stored_client_measure_scores SET first_score = first_score + 5 WHERE measure = 'PHQ-9'")
    for table in SUMMARY_TABLES:  # the summary stored at import would be read before the rows (test_stored_summary)
        con.execute(f"DROP TABLE {table}")
    con.close()
    with ClinicDatabase(sample_db_path) as original, ClinicDatabase(tampered) as db:
        matching, other = Settings(), Settings(baseline_days_before_intake=14)
        before = cohort_summary(original, Viewer.local(), None, matching)["measures"]["PHQ-9"]["mean_first"]
        after = cohort_summary(db, Viewer.local(), None, matching)["measures"]["PHQ-9"]["mean_first"]
        assert after == pytest.approx(before + 5)
        assert cohort_summary(db, Viewer.local(), None, other) == cohort_summary(original, Viewer.local(), None, other)


def test_every_import_refreshes_the_stored_rows(tmp_path):
    clients = write_csv(tmp_path / "clients.csv", """
client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date
S1,North,T1,CBT,depression,2026-01-05,
""")
    first = write_csv(tmp_path / "scores.csv", """
client_id,measure,administered_date,total_score
S1,PHQ-9,2026-01-05,18
S1,PHQ-9,2026-02-02,12
""")
    db_path = tmp_path / "clinic.duckdb"
    assert import_files(db_path, [clients, first], today=FIXTURE_TODAY).exit_code == 0
    with ClinicDatabase(db_path) as db:
        assert cohort_summary(db, Viewer.local())["measures"]["PHQ-9"]["mean_last"] == 12
    (tmp_path / "more").mkdir()
    later = write_csv(tmp_path / "more" / "scores.csv", """
client_id,measure,administered_date,total_score
S1,PHQ-9,2026-03-02,7
""")
    result = import_files(db_path, [later], today=FIXTURE_TODAY)
    assert result.exit_code == 0
    with ClinicDatabase(db_path) as db:
        assert cohort_summary(db, Viewer.local())["measures"]["PHQ-9"]["mean_last"] == 7
        assert db.stored_rows
    assert _status(db_path)["batch_id"] == result.batch_id


def test_a_dry_run_stores_nothing(tmp_path, sample_db_path):
    from analytics.ingest.importer import dry_run

    copy = tmp_path / "clinic.duckdb"
    shutil.copy(sample_db_path, copy)
    before = copy.read_bytes()
    extra = write_csv(tmp_path / "scores.csv", "client_id,measure,administered_date,total_score\nNOPE,PHQ-9,2026-01-05,3\n")
    dry_run(copy, [extra], today=FIXTURE_TODAY)
    assert copy.read_bytes() == before


def test_only_the_scoped_macros_read_the_stored_tables():
    stored = re.compile(r"\b(?:" + "|".join((*STORED_TABLES, *GAIN_TABLES, CLIENT_MONTHS_TABLE)) + r")\b")
    readers = sorted(name for name, path in sql_files().items()
                     if stored.search(re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))))
    assert readers == ["stored_client_rows"]
    code = re.sub(r"--[^\n]*", "", (ROOT / "analytics" / "sql" / "stored_client_rows.sql").read_text(encoding="utf-8"))
    for table in (*STORED_TABLES, "stored_sudden_gains", CLIENT_MONTHS_TABLE):
        # every read of a stored table keeps only the scoped cohort's clients
        reads = re.findall(rf"FROM {table} AS (\w+)(.*?)UNION ALL", code, re.S)
        assert len(reads) == 1, table
        alias, rest = reads[0]
        assert f"{alias}.client_id IN (SELECT client_id FROM cohort_clients(cohort))" in rest, table


def _plan(db: ClinicDatabase, sql: str, params: dict) -> str:
    plan = db.execute_sql("EXPLAIN " + sql, params, label="explain")
    return "\n".join(plan["explain_value"])


def test_the_branch_that_does_not_apply_is_not_run(sample_db_path):
    """Under the stored settings the plan reads the stored rows and never the source tables
    (the live branch is pruned at planning, not filtered after computing); under other settings
    it computes from the source tables. Bug: with the stored settings read by a subquery, DuckDB
    planned and ran both branches, so stored rows made the summary no faster."""
    from analytics.scope import query_params

    cohort = query_params(Viewer.local())["cohort"]
    homework = ("SELECT * FROM client_homework_rows($cohort, NULL::VARCHAR[], "
                "unreviewed_as_not_done := $unreviewed::BOOLEAN)")
    scores = "SELECT * FROM client_measure_score_rows($cohort, $days::INTEGER, NULL::VARCHAR[], NULL::VARCHAR)"
    paired = ("SELECT * FROM client_paired_score_rows($cohort, $depression::VARCHAR, 'GAD-7', 0, NULL::VARCHAR)")
    with ClinicDatabase(sample_db_path) as db:
        for sql, matching, other, source in (
            (homework, {"unreviewed": False}, {"unreviewed": True}, "assignments"),
            (scores, {"days": 0}, {"days": 14}, "scores"),
            (paired, {"depression": "PHQ-9"}, {"depression": "CORE-10"}, "scores"),
        ):
            stored_plan = _plan(db, sql, {"cohort": cohort, **matching})
            assert "stored_client_" in stored_plan and f"main.{source}" not in stored_plan, sql
            live_plan = _plan(db, sql, {"cohort": cohort, **other})
            assert f"main.{source}" in live_plan and "stored_client_" not in live_plan, sql


# --------------------------------------------------------------------------- client-months stored at import


def _report_periods(db: ClinicDatabase) -> list[tuple]:
    """The QI report's periods on the sample clinic: its default 12 months, "all months", and a
    month in progress (not whole months: computed, never read from the stored months)."""
    from analytics.data.model import scope_dates

    dates = scope_dates(db, Viewer.local())
    as_of, first = dates["as_of"], dates["first_intake"]
    mid_month = as_of.replace(day=15) if as_of.day > 15 else as_of.replace(day=min(as_of.day + 1, 28))
    return [report_period(as_of, 12), report_period(as_of, None, first), (as_of.replace(day=1), mid_month)]


def test_stored_client_months_give_the_report_computed_from_the_source(sample_db_path, legacy_db_path):
    """The QI report's monthly trends and homework funnels read the client-months stored at
    import; every figure equals the one computed from the sessions and assignments, for each
    viewer, cohort, setting and period (whole months or not)."""
    with ClinicDatabase(sample_db_path) as stored, ClinicDatabase(legacy_db_path) as legacy:
        assert CLIENT_MONTHS_TABLE in stored.tables and CLIENT_MONTHS_TABLE not in legacy.tables
        clinic = filter_options(stored, Viewer.local())["clinic"][0]
        cohorts = [None, CohortFilter.of(clinics=clinic), CohortFilter.of(programs="CBT"),
                   CohortFilter.of(homework_types="thought_record")]
        compared = 0
        for settings in (Settings(), Settings(unreviewed_as_not_done=True)):
            for viewer in _viewers(stored):
                for cohort in cohorts:
                    for start, end in _report_periods(stored):
                        pd.testing.assert_frame_equal(
                            monthly_activity(stored, viewer, cohort, start, end, settings),
                            monthly_activity(legacy, viewer, cohort, start, end, settings), check_exact=False, rtol=1e-12)
                        homework = unit_homework(stored, viewer, cohort, start, end, settings)
                        pd.testing.assert_frame_equal(
                            homework, unit_homework(legacy, viewer, cohort, start, end, settings),
                            check_exact=False, rtol=1e-12)
                        compared += int(homework["clients_with_homework"].sum() > 0)
        assert compared > 40  # the comparisons had homework to compare


def test_the_report_reads_the_stored_client_months_for_whole_months(sample_db_path):
    """For whole calendar months and every homework type the plan reads the stored client-months
    and never the sessions or assignments; for a homework-type filter or a part of a month it
    computes them from the source tables (the other branch pruned at planning)."""
    from analytics.scope import query_params

    cohort = query_params(Viewer.local())["cohort"]
    sql = ("SELECT * FROM client_month_rows($cohort, $types::VARCHAR[], $start::DATE, $end::DATE)")
    whole = {"start": "2026-01-01", "end": "2026-03-31"}
    with ClinicDatabase(sample_db_path) as db:
        db.ensure_macros(sql)
        stored_plan = _plan(db, sql, {"cohort": cohort, "types": None, **whole})
        assert CLIENT_MONTHS_TABLE in stored_plan
        assert "main.assignments" not in stored_plan and "main.sessions" not in stored_plan
        for other in ({"types": ["thought_record"], **whole}, {"types": None, "start": "2026-01-01", "end": "2026-03-15"},
                      {"types": None, "start": "2026-01-02", "end": "2026-03-31"}):
            live_plan = _plan(db, sql, {"cohort": cohort, **other})
            assert "main.assignments" in live_plan and CLIENT_MONTHS_TABLE not in live_plan, other


def test_the_stored_client_months_are_read(sample_db_path, tmp_path):
    """A stored client-month changed by hand changes the monthly trend for whole months only."""
    tampered = tmp_path / "tampered.duckdb"
    shutil.copy(sample_db_path, tampered)
    con = duckdb.connect(str(tampered))
    con.execute(f"UPDATE {CLIENT_MONTHS_TABLE} SET sessions_missed = sessions_missed + 1")
    con.close()
    with ClinicDatabase(sample_db_path) as original, ClinicDatabase(tampered) as db:
        start, end = _report_periods(db)[0]
        rows = int(original.execute_sql(f"SELECT count(*) AS n FROM {CLIENT_MONTHS_TABLE} "
                                        "WHERE month BETWEEN $s AND $e", {"s": start, "e": end})["n"].iloc[0])
        before = monthly_activity(original, Viewer.local(), None, start, end)["sessions_missed"].sum()
        assert monthly_activity(db, Viewer.local(), None, start, end)["sessions_missed"].sum() == before + rows > before
        homework = CohortFilter.of(homework_types="thought_record")
        assert (monthly_activity(db, Viewer.local(), homework, start, end)["sessions_missed"].sum()
                == monthly_activity(original, Viewer.local(), homework, start, end)["sessions_missed"].sum())


# --------------------------------------------------------------------------- sudden gains stored at import


def _gains(db: ClinicDatabase, viewer: Viewer, cohort: CohortFilter | None, measure: str, settings: Settings) -> str:
    """Every figure of the sudden-gain summary, as text (NaN reads as NaN, so equal text = equal figures)."""
    summary = sudden_gain_summary(db, viewer, cohort, measure, settings)
    return json.dumps({**{k: v for k, v in vars(summary).items() if k not in ("outcomes", "homework")},
                       "outcomes": summary.outcomes.to_dict("records"), "homework": summary.homework.to_dict("records")})


def test_the_import_stores_the_sudden_gains_of_every_measure_under_its_settings(sample_db_path):
    with ClinicDatabase(sample_db_path) as db:
        expected = {gain_settings(Settings(), m.name) for m in Settings().measures}
        assert db.stored_gain_settings == expected
        stored = db.execute_sql("SELECT measure, count(*) AS gains FROM stored_sudden_gains GROUP BY measure")
    gains = dict(zip(stored["measure"], stored["gains"], strict=True))
    assert gains["PHQ-9"] > 20 and gains["GAD-7"] > 20


def test_stored_gains_give_the_figures_found_anew(sample_db_path, legacy_db_path):
    """The sudden-gain summary over the gains stored at import equals, bit for bit, the summary
    over the gains found anew from the scores (a database imported before gains were stored), for
    every role, cohort and setting; under other settings the stored gains are not used."""
    higher = Settings(measures=tuple(replace_measure(m) for m in Settings().measures))
    with ClinicDatabase(sample_db_path) as stored, ClinicDatabase(legacy_db_path) as legacy:
        assert stored.stored_gain_settings and not legacy.stored_gain_settings
        clinic = filter_options(stored, Viewer.local())["clinic"][0]
        cohorts = [CohortFilter(), CohortFilter.of(clinics=clinic), CohortFilter.of(homework_types="thought_record")]
        for settings in (*SETTINGS, higher):
            for viewer in _viewers(stored):
                for cohort in cohorts:
                    for measure in ("PHQ-9", "GAD-7"):
                        assert _gains(stored, viewer, cohort, measure, settings) == _gains(
                            legacy, viewer, cohort, measure, settings), (settings, viewer, cohort, measure)


def replace_measure(measure):
    """PHQ-9 with a larger reliable change (criterion 1): other gains than those stored."""
    from dataclasses import replace

    return replace(measure, reliable_change=measure.reliable_change + 2) if measure.name == "PHQ-9" else measure


def test_the_stored_gains_are_read_when_the_settings_match(sample_db_path, tmp_path):
    """Stored gains removed by hand change the summary under the stored settings only."""
    tampered = tmp_path / "tampered.duckdb"
    shutil.copy(sample_db_path, tampered)
    con = duckdb.connect(str(tampered))
    con.execute("DELETE FROM stored_sudden_gains WHERE measure = 'PHQ-9'")
    con.close()
    with ClinicDatabase(sample_db_path) as original, ClinicDatabase(tampered) as db:
        matching, other = Settings(), Settings(baseline_days_before_intake=14)
        assert sudden_gain_summary(original, Viewer.local(), None, "PHQ-9", matching).gains > 20
        emptied = sudden_gain_summary(db, Viewer.local(), None, "PHQ-9", matching)
        assert (emptied.gains, emptied.clients_with_gain) == (0, 0)
        assert _gains(db, Viewer.local(), None, "PHQ-9", other) == _gains(original, Viewer.local(), None, "PHQ-9", other)
        assert _gains(db, Viewer.local(), None, "GAD-7", matching) == _gains(
            original, Viewer.local(), None, "GAD-7", matching)


def test_the_gains_stored_in_chunks_equal_those_found_at_once(tmp_path, sample_db_path, monkeypatch):
    """The import reads the scores a chunk at a time (bounded memory at a national scale); a
    client split across two chunks must be looked at whole. With chunks of one vector (2,048
    scores) the sample clinic's scores span several chunks, and the stored gains are the same."""
    import analytics.stored as stored
    from analytics.ingest.sample import build_sample_database

    monkeypatch.setattr(stored, "_GAIN_CHUNK_VECTORS", 1)
    chunked = tmp_path / "chunked.duckdb"
    assert build_sample_database(chunked, clients=300, seed=11).exit_code == 0
    query = "SELECT * FROM stored_sudden_gains ORDER BY ALL"
    with ClinicDatabase(chunked) as a, ClinicDatabase(sample_db_path) as b:
        scores = a.execute_sql("SELECT count(*) AS n FROM scores WHERE measure = 'PHQ-9'")["n"].iloc[0]
        assert scores > 2048  # two chunks at least
        pd.testing.assert_frame_equal(a.execute_sql(query), b.execute_sql(query))
        assert len(a.execute_sql(query)) > 40


def test_chunks_hold_every_row_of_their_clients():
    """whole_client_chunks: 5,000 rows of 7 clients (each longer than a 2,048-row vector, so every
    chunk boundary falls inside a client): every client in exactly one chunk, every row once."""
    from analytics.stored import whole_client_chunks

    con = duckdb.connect()
    cursor = con.execute("SELECT 'c' || (i // 715)::VARCHAR AS client_id, i AS score_number "
                         "FROM range(5000) t(i) ORDER BY i")
    chunks = list(whole_client_chunks(cursor, 1))
    assert len(chunks) >= 2
    seen = [set(chunk["client_id"]) for chunk in chunks]
    assert sum(len(s) for s in seen) == len(set().union(*seen)) == 7
    assert sorted(pd.concat(chunks)["score_number"]) == list(range(5000))
