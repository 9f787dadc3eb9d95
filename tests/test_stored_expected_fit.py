"""Expected recovery curves stored at import (analytics/stored.py ``store_expected_fits``; read by
analytics.expected_response.fit_curves_in_db through expected_response_fit_stored.sql).

The stored curves are the rows of the one fit query (expected_response_fit.sql) for the whole
network and for each clinic, so a stored curve must equal the curve fitted on the viewer's scope
(and the Python reference); they must really be read when the scope, settings and dates match,
fitted anew when they do not (with the live answer), refreshed by every import, and never read for
a scope that is not exactly the viewer's (a therapist's caseload, several clinics)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from analytics import ClinicDatabase, Settings, Viewer, import_files
from analytics import expected_response as er
from analytics.scope import CohortFilter, query_params
from analytics.stored import FIT_TABLES, NETWORK_FIT_SCOPE, fit_scope_of
from tests.support.clinics import FIXTURE_TODAY, write_csv
from tests.support.queries import queries_run
from tests.test_expected_response import assert_same_curve

LOCAL = Viewer.local()


@pytest.fixture(scope="module")
def unstored_db_path(sample_db_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample clinic as a database imported before curves were stored: every fit is live."""
    target = tmp_path_factory.mktemp("unstored") / "unstored.duckdb"
    shutil.copy(sample_db_path, target)
    con = duckdb.connect(str(target))
    for table in FIT_TABLES:
        con.execute(f"DROP TABLE {table}")
    con.close()
    return target


def _clinics(db: ClinicDatabase) -> list[str]:
    return list(db.execute_sql("SELECT clinic FROM clients GROUP BY 1 ORDER BY count(*) DESC, 1")["clinic"])


def _largest_therapist(db: ClinicDatabase) -> tuple[str, str]:
    row = db.execute_sql("SELECT therapist_id, min(clinic) AS clinic FROM clients GROUP BY 1 "
                         "ORDER BY count(*) DESC, 1 LIMIT 1").iloc[0]
    return str(row["therapist_id"]), str(row["clinic"])


def assert_same_curves(a: er.CurveSet, b: er.CurveSet) -> None:
    assert [(name, n) for name, _, n in a.curves] == [(name, n) for name, _, n in b.curves]
    for (_, curve, _), (_, other, _) in zip(a.curves, b.curves, strict=True):
        assert_same_curve(curve, other)


def test_the_import_stores_the_curves_of_the_network_and_of_every_clinic(sample_db):
    clinics = _clinics(sample_db)
    assert set(sample_db.stored_fit_scopes) == {NETWORK_FIT_SCOPE, *(f"clinic:{c}" for c in clinics)}
    assert {key for _, key in sample_db.stored_fit_scopes.values()} == {er.fit_key(Settings())}
    latest = sample_db.execute_sql("SELECT max(discharge_date) AS d FROM clients")["d"].iloc[0].date()
    assert sample_db.stored_fit_scopes[NETWORK_FIT_SCOPE][0] == latest
    stored = sample_db.execute_sql("SELECT fit_scope, count(*) AS n, count(c0) AS fitted "
                                   "FROM stored_expected_response_fit GROUP BY 1")
    assert set(stored["fit_scope"]) <= set(sample_db.stored_fit_scopes)
    assert stored.set_index("fit_scope").loc[NETWORK_FIT_SCOPE, "fitted"] > 0


def test_the_stored_curves_equal_the_curves_fitted_on_the_scope(sample_db_path, unstored_db_path, monkeypatch):
    """Network and each clinic (admin, a supervisor, a QI lead of one clinic): the curves read from
    the store equal those fitted live on a database without stored curves, and the Python reference."""
    with ClinicDatabase(sample_db_path) as stored, ClinicDatabase(unstored_db_path) as live:
        assert live.stored_fit_scopes == {}
        clinics = _clinics(stored)
        viewers = [LOCAL, Viewer(role="qi", email="q@clinic")]
        viewers += [Viewer(role="supervisor", email="s@clinic", clinics=(c,)) for c in clinics]
        viewers.append(Viewer(role="qi", email="q@clinic", clinics=(clinics[0],)))
        seen = queries_run(monkeypatch, "query")
        fitted_clinics = 0
        for viewer in viewers:
            for as_of in (None, FIXTURE_TODAY):
                seen.clear()
                from_store = er.fit_curves_in_db(stored, viewer, as_of=as_of)
                assert seen == ["expected_response_fit_stored"], (viewer, as_of)
                assert_same_curves(from_store, er.fit_curves_in_db(live, viewer, as_of=as_of))
                assert_same_curves(from_store, er.fit_curves(er.response_history(live, viewer), Settings()))
            fitted_clinics += viewer.scope_clinics is not None and from_store.curve("PHQ-9") is not None
        assert fitted_clinics >= 2  # clinic curves really compared, not only "no curve" on both sides


def _tampered(sample_db_path: Path, target: Path) -> Path:
    """A copy whose stored curves (every scope) have c0 one point higher."""
    shutil.copy(sample_db_path, target)
    con = duckdb.connect(str(target))
    con.execute("UPDATE stored_expected_response_fit SET c0 = c0 + 1")
    con.close()
    return target


def test_the_stored_curves_are_read_only_when_the_request_matches(sample_db_path, tmp_path):
    """A stored curve changed by hand shows exactly where the store is read: for the network and a
    clinic with the stored settings and no date that could change the fit; every other request (an
    as_of before a discharge of the scope, a fit_before, other settings or min_clients) gets the
    curve fitted live, equal to the untouched database's."""
    tampered = _tampered(sample_db_path, tmp_path / "tampered.duckdb")
    with ClinicDatabase(sample_db_path) as original, ClinicDatabase(tampered) as db:
        clinic = _clinics(db)[0]
        supervisor = Viewer(role="supervisor", email="s@clinic", clinics=(clinic,))
        for viewer in (LOCAL, supervisor):
            latest = db.stored_fit_scopes[fit_scope_of(viewer)][0]
            for as_of in (None, latest, latest + timedelta(days=30)):
                read = er.fit_curves_in_db(db, viewer, as_of=as_of).curve("PHQ-9")
                truth = er.fit_curves_in_db(original, viewer, as_of=as_of).curve("PHQ-9")
                assert read.c0 == pytest.approx(truth.c0 + 1), (viewer, as_of)
            other_settings = Settings(baseline_days_before_intake=14)
            fewer = Settings(measures=tuple(m for m in Settings().measures if m.name != "GAD-7"))
            wider = Settings(measures=tuple(replace(m, max_score=m.max_score + 1) if m.name == "PHQ-9" else m
                                            for m in Settings().measures))
            for kwargs in ({"as_of": latest - timedelta(days=1)}, {"as_of": date(2025, 6, 30)},
                           {"fit_before": date(2026, 6, 1)}, {"settings": other_settings}, {"settings": fewer},
                           {"settings": wider}, {"min_clients": 31}):
                assert_same_curves(er.fit_curves_in_db(db, viewer, **kwargs),
                                   er.fit_curves_in_db(original, viewer, **kwargs))


def test_a_therapist_or_several_clinics_never_read_a_stored_curve(sample_db_path, tmp_path, monkeypatch):
    """A therapist's curves are fitted on their own caseload every time (even a therapist limited to
    one clinic, whose clinic curve is stored), and so are the curves of a viewer of two clinics."""
    tampered = _tampered(sample_db_path, tmp_path / "tampered.duckdb")
    with ClinicDatabase(sample_db_path) as original, ClinicDatabase(tampered) as db:
        therapist_id, clinic = _largest_therapist(db)
        clinics = _clinics(db)
        viewers = [Viewer(role="therapist", email="t@clinic", therapist_id=therapist_id),
                   Viewer(role="therapist", email="t@clinic", therapist_id=therapist_id, clinics=(clinic,)),
                   Viewer(role="supervisor", email="s@clinic", clinics=tuple(clinics[:2])),
                   Viewer(role="supervisor", email="s@clinic", clinics=())]
        seen = queries_run(monkeypatch, "query")
        for viewer in viewers:
            assert fit_scope_of(viewer) is None
            seen.clear()
            curves = er.fit_curves_in_db(db, viewer)
            assert seen == ["expected_response_fit"], viewer
            assert_same_curves(curves, er.fit_curves_in_db(original, viewer))
        assert er.fit_curves_in_db(db, viewers[0]).curve("PHQ-9") is not None  # a real curve compared
        # The stored query itself derives the scope from the viewer's STRUCT: asked directly for any
        # of these viewers (or with a filter), it gives no row of another scope.
        supervisor = Viewer(role="supervisor", email="s@clinic", clinics=(clinic,))
        assert len(db.query("expected_response_fit_stored", query_params(supervisor))) > 0
        for viewer in viewers:
            assert db.query("expected_response_fit_stored", query_params(viewer)).empty, viewer
        filtered = query_params(supervisor, CohortFilter(programs=("CBT",)))
        assert db.query("expected_response_fit_stored", filtered).empty


def test_every_import_refreshes_the_stored_curves(tmp_path, monkeypatch):
    clients = write_csv(tmp_path / "clients.csv", """
client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date
S1,North,T1,CBT,depression,2026-01-05,2026-04-06
S2,North,T1,CBT,depression,2026-01-05,2026-04-06
S3,South,T2,CBT,depression,2026-01-05,
""")
    first = write_csv(tmp_path / "scores.csv", """
client_id,measure,administered_date,total_score
S1,PHQ-9,2026-01-05,18
S1,PHQ-9,2026-02-02,12
S2,PHQ-9,2026-01-05,15
S3,PHQ-9,2026-01-05,20
S3,PHQ-9,2026-02-02,16
""")
    db_path = tmp_path / "clinic.duckdb"
    assert import_files(db_path, [clients, first], today=FIXTURE_TODAY).exit_code == 0
    north = Viewer(role="supervisor", email="s@clinic", clinics=("North",))
    seen = queries_run(monkeypatch, "query")
    with ClinicDatabase(db_path) as db:
        assert db.stored_fit_scopes["clinic:North"][0] == date(2026, 4, 6)
        assert (er.fit_curves_in_db(db, LOCAL).history_clients("PHQ-9"),
                er.fit_curves_in_db(db, north).history_clients("PHQ-9")) == (1, 1)
    (tmp_path / "more").mkdir()
    more_clients = write_csv(tmp_path / "more" / "clients.csv", """
client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date
S3,South,T2,CBT,depression,2026-01-05,2026-05-04
""")
    later = write_csv(tmp_path / "more" / "scores.csv", """
client_id,measure,administered_date,total_score
S2,PHQ-9,2026-03-02,9
""")
    assert import_files(db_path, [more_clients, later], today=FIXTURE_TODAY).exit_code == 0
    with ClinicDatabase(db_path) as db:
        assert db.stored_fit_scopes[NETWORK_FIT_SCOPE][0] == date(2026, 5, 4)
        seen.clear()
        assert (er.fit_curves_in_db(db, LOCAL).history_clients("PHQ-9"),
                er.fit_curves_in_db(db, north).history_clients("PHQ-9"),
                er.fit_curves_in_db(db, Viewer(role="supervisor", email="s@clinic", clinics=("South",)))
                .history_clients("PHQ-9")) == (3, 2, 1)
        assert seen == ["expected_response_fit_stored"] * 3


def test_the_fit_key_changes_with_the_macros_the_fit_uses_and_nothing_else(monkeypatch):
    """Bug: the key hashed the whole macro file, so any edit of macros.sql (a new macro for another
    page, a comment) made every stored fit stale until the next import, and at a national scale
    the QI page timed out fitting anew. Now: the fit query and the macros it uses, without comments."""
    import analytics.db as adb

    original = adb.load_sql
    baseline = er.fit_key(Settings())

    def key_with(macros_text: str) -> str:
        monkeypatch.setattr(adb, "load_sql", lambda name: macros_text if name == "macros" else original(name))
        adb.query_dependencies.cache_clear()
        try:
            return er.fit_key(Settings())
        finally:
            monkeypatch.setattr(adb, "load_sql", original)
            adb.query_dependencies.cache_clear()

    macros = original("macros")
    unrelated = macros.replace("-- ", "-- (edited) ") + "\nCREATE OR REPLACE MACRO another_page_macro(x) AS x + 1;\n"
    unrelated = unrelated.replace("quality_rating / 4.0", "quality_rating / 4.00")  # quality_fraction: not in the fit
    assert unrelated != macros and key_with(unrelated) == baseline
    used = macros.replace("THEN 'follow-up'", "THEN 'after discharge'")  # score_period: the fit's treatment scores
    assert used != macros and key_with(used) != baseline
    assert er.fit_key(Settings()) == baseline
