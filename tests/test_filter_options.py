"""The cohort filters' values (analytics.data.model.filter_options): stored at import per clinic
(stored_filter_values) and read for the network or a viewer's clinics, computed for a therapist's
caseload; both give the values a reference computed in pandas from the tables gives; a national
network's long lists are cut at OPTION_LIMIT with the values a link asked for kept (issue 12)."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

import analytics.data.model as data_model
from analytics import ClinicDatabase, CohortFilter, Viewer, filter_options
from analytics.data.model import OPTION_FIELDS, FilterOptions, scope_dates
from analytics.scope import query_params

FIELDS = [name for name, _ in OPTION_FIELDS]


def viewers_clients(clients: pd.DataFrame, viewer: Viewer) -> pd.DataFrame:
    """The rows of ``clients`` in the viewer's scope (their clinics, their caseload), in pandas."""
    if viewer.scope_clinics is not None:
        clients = clients[clients["clinic"].isin(viewer.scope_clinics)]
    if viewer.scope_therapist is not None:
        clients = clients[clients["therapist_id"] == viewer.scope_therapist]
    return clients


def _reference(path, viewer: Viewer) -> dict[str, list[str]]:
    """Each filter's values from the tables, in pandas: the clients of the viewer's scope and the
    measures and homework types of their scores and assignments."""
    with duckdb.connect(str(path), read_only=True) as con:
        clients = con.execute("SELECT * FROM clients").df()
        scores = con.execute("SELECT client_id, measure FROM scores").df()
        assignments = con.execute("SELECT client_id, homework_type FROM assignments").df()
    clients = viewers_clients(clients, viewer)
    ids = set(clients["client_id"])

    def values(series: pd.Series) -> list[str]:
        return sorted(series.dropna().unique().tolist())

    return {
        "clinic": values(clients["clinic"]), "therapist": values(clients["therapist_id"]),
        "program": values(clients["program"]), "concern": values(clients["primary_concern"]),
        "measure": values(scores[scores["client_id"].isin(ids)]["measure"]),
        "homework_type": values(assignments[assignments["client_id"].isin(ids)]["homework_type"]),
    }


def _viewers(db: ClinicDatabase) -> dict[str, Viewer]:
    clinics = sorted(filter_options(db, Viewer.local())["clinic"])
    # a therapist of the first clinic (the sample's therapists work in one clinic each)
    therapist = filter_options(db, Viewer(role="supervisor", email="s@x", clinics=(clinics[0],)))["therapist"][0]
    return {
        "admin": Viewer(role="admin", email="a@x"),
        "one clinic": Viewer(role="supervisor", email="s@x", clinics=(clinics[0],)),
        "two clinics": Viewer(role="supervisor", email="s@x", clinics=tuple(clinics[1:3])),
        "no clinic": Viewer(role="supervisor", email="s@x"),
        "therapist": Viewer(role="therapist", email="t@x", therapist_id=therapist),
        "therapist in a clinic": Viewer(role="therapist", email="t@x", therapist_id=therapist, clinics=(clinics[0],)),
        "qi": Viewer(role="qi", email="q@x"),
    }


def test_every_viewer_gets_the_values_of_its_scope(sample_db: ClinicDatabase, sample_db_path, read_queries):
    for label, viewer in _viewers(sample_db).items():
        read_queries.clear()
        options = filter_options(sample_db, viewer)
        expected = _reference(sample_db_path, viewer)
        assert {f: options[f] for f in FIELDS} == expected, label
        assert options.available == {f: len(v) for f, v in expected.items()}, label
        assert not any(options.is_partial(f) for f in FIELDS), label
        # the network and whole clinics read the stored values; a therapist's caseload is computed
        assert read_queries == ["filter_options" if viewer.scope_therapist else "stored_filter_options"], label
    assert _reference(sample_db_path, _viewers(sample_db)["one clinic"])["therapist"], "the sample has therapists"


def test_the_stored_values_are_the_computed_ones(sample_db: ClinicDatabase):
    for label, viewer in _viewers(sample_db).items():
        params = {**query_params(viewer), "wanted": [], "option_limit": 5}
        stored, live = sample_db.query("stored_filter_options", params), sample_db.query("filter_options", params)
        if viewer.scope_therapist is None:
            pd.testing.assert_frame_equal(stored, live, obj=label)
        else:  # a therapist's caseload is never read from the stored rows
            assert stored.empty and not live.empty, label


def test_long_lists_are_cut_and_keep_the_values_asked_for(sample_db: ClinicDatabase, monkeypatch: pytest.MonkeyPatch):
    full = filter_options(sample_db, Viewer.local())
    monkeypatch.setattr(data_model, "OPTION_LIMIT", 2)
    for viewer in (Viewer.local(), _viewers(sample_db)["therapist"]):
        scope = filter_options(sample_db, viewer) if viewer.scope_therapist else full
        therapists = scope["therapist"]
        far = full["therapist"][-1]  # past the first two: offered only when asked for
        wanted = CohortFilter.of(therapists=[far, "no such therapist"], measures=[full["measure"][-1]])
        options = filter_options(sample_db, viewer, wanted)
        assert options.available["therapist"] == len(therapists)
        expected = sorted({*therapists[:2], *([far] if far in therapists else [])})
        assert options["therapist"] == expected
        assert options.is_partial("therapist") == (len(therapists) > len(expected))
        assert options["clinic"] == scope["clinic"][:2]
        assert options["measure"] == sorted({*scope["measure"][:2], *({full["measure"][-1]} & set(scope["measure"]))})
    assert filter_options(sample_db, Viewer.local()).is_partial("therapist")


def test_filter_options_survive_the_ui_cache():
    import pickle

    options = FilterOptions({"clinic": ["A"]}, {"clinic": 3})
    copy = pickle.loads(pickle.dumps(options))
    assert copy == options and copy.available == {"clinic": 3} and copy.is_partial("clinic")


@pytest.mark.parametrize(("table", "read"), [("stored_filter_values", filter_options), ("stored_clinic_dates", scope_dates)],
                         ids=["filter values", "scope dates"])
def test_an_older_database_without_a_stored_table_computes_the_same(sample_db_path, tmp_path, table, read):
    """A database imported before the per-clinic values were stored: the same answers, computed."""
    import shutil

    older = tmp_path / "older.duckdb"
    shutil.copy(sample_db_path, older)
    with duckdb.connect(str(older)) as con:
        con.execute(f"DROP TABLE {table}")
    with ClinicDatabase(older) as db, ClinicDatabase(sample_db_path) as current:
        assert table not in db.tables
        for viewer in (Viewer.local(), _viewers(current)["one clinic"]):
            assert read(db, viewer) == read(current, viewer)
