"""The data's "as of" date and first intake of a viewer's scope (analytics.data.model.scope_dates,
behind every page's "data as of" and the quality-improvement report's period): stored at import
per clinic (stored_clinic_dates) and read for the network or a viewer's clinics, computed for a
therapist's caseload; both equal a reference computed in pandas from the tables (issue 12)."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from analytics import ClinicDatabase, Viewer, data_as_of
from analytics.data.model import scope_dates
from analytics.quality_improvement.model import report_dates
from analytics.scope import query_params
from tests.test_filter_options import _viewers, viewers_clients


def _reference(path, viewer: Viewer) -> dict[str, date | None]:
    with duckdb.connect(str(path), read_only=True) as con:
        clients = con.execute("SELECT client_id, clinic, therapist_id, intake_date FROM clients").df()
        sessions = con.execute("SELECT client_id, session_date FROM sessions").df()
        scores = con.execute("SELECT client_id, administered_date FROM scores").df()
    clients = viewers_clients(clients, viewer)
    ids = set(clients["client_id"])
    latest = [frame[frame["client_id"].isin(ids)][column].max()
              for frame, column in ((sessions, "session_date"), (scores, "administered_date"))]
    latest = [pd.Timestamp(v).date() for v in latest if not pd.isna(v)]
    first = clients["intake_date"].min()
    return {"as_of": max(latest) if latest else None, "first_intake": None if pd.isna(first) else pd.Timestamp(first).date()}


def test_every_viewer_gets_the_dates_of_its_scope(sample_db: ClinicDatabase, sample_db_path, read_queries):
    viewers = _viewers(sample_db)
    for label, viewer in viewers.items():
        read_queries.clear()
        expected = _reference(sample_db_path, viewer)
        assert scope_dates(sample_db, viewer) == expected, label
        assert data_as_of(sample_db, viewer) == expected["as_of"], label
        assert report_dates(sample_db, viewer) == expected, label
        # the network and whole clinics read the stored dates; a therapist's caseload is computed
        kind = "quality_as_of" if viewer.scope_therapist else "stored_quality_as_of"
        assert read_queries == [kind] * 3, label
    assert _reference(sample_db_path, viewers["no clinic"]) == {"as_of": None, "first_intake": None}
    # clinics differ in their dates, so reading the wrong clinic's row would show
    one, two = (_reference(sample_db_path, viewers[k]) for k in ("one clinic", "two clinics"))
    assert one != two


def test_the_stored_dates_are_the_computed_ones(sample_db: ClinicDatabase):
    for label, viewer in _viewers(sample_db).items():
        params = query_params(viewer)
        stored, live = sample_db.query("stored_quality_as_of", params), sample_db.query("quality_as_of", params)
        if viewer.scope_therapist is None:
            pd.testing.assert_frame_equal(stored, live, obj=label)
        else:  # a therapist's caseload is never read from the stored rows
            assert stored.isna().all(axis=None) and not live.isna().all(axis=None), label
