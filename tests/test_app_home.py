"""The home page through Streamlit's AppTest, on the sample fixture."""

from streamlit.testing.v1 import AppTest

from tests.support.clinics import ROOT
from tests.support.queries import queries_run


def test_home_shows_what_is_loaded(app_db, sample_db):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    clients = sample_db.execute_sql("SELECT count(*) AS n FROM clients")["n"].iloc[0]
    assert metrics["Clients"] == f"{clients:,}"
    text = " ".join(m.value for m in at.markdown)
    assert "Last import: batch 1" in text


def test_data_page_shows_history_and_imports_an_upload(app_db, tmp_path):
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    history = next(d.value for d in at.dataframe if "Batch" in d.value.columns)
    assert list(history["Batch"]) == ["1"]
    assert at.button(key="run_import").disabled  # nothing uploaded yet


def _as_of(sample_db):
    import pandas as pd

    latest = sample_db.execute_sql(
        "SELECT greatest((SELECT max(session_date) FROM sessions), (SELECT max(administered_date) FROM scores)) AS d"
    )["d"].iloc[0]
    return pd.Timestamp(latest).date()


def test_every_page_says_the_data_as_of_date_in_the_sidebar_and_warns_when_stale(app_db, sample_db, monkeypatch):
    """Item 8 of issue 15: one "as of" date (the data's) on every page, with a staleness warning
    when it is more than Settings.stale_data_days before today (today pinned here)."""
    from datetime import timedelta

    as_of = _as_of(sample_db)
    monkeypatch.setenv("BETWEEN_SESSIONS_TODAY", (as_of + timedelta(days=36)).isoformat())
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert f"Data as of {as_of:%Y-%m-%d}" in sidebar
    assert "Local single-user mode" in sidebar  # the standing notice lives in the sidebar ...
    assert not [i for i in at.main.info if "Local single-user mode" in i.value]  # ... not above the page
    warnings = [w.value for w in at.sidebar.warning]
    assert any("36 days old" in w for w in warnings), warnings

    monkeypatch.setenv("BETWEEN_SESSIONS_TODAY", (as_of + timedelta(days=14)).isoformat())
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    assert not [w for w in at.sidebar.warning if "days old" in w.value]
    assert f"Data as of {as_of:%Y-%m-%d}" in " ".join(c.value for c in at.sidebar.caption)


def test_data_staleness_counts_days_to_a_pinned_today():
    from datetime import date

    from analytics import Settings, data_staleness

    assert data_staleness(None, date(2026, 12, 5)) is None
    fresh = data_staleness(date(2026, 11, 21), date(2026, 12, 5), Settings())
    assert (fresh.days_old, fresh.stale, fresh.warning()) == (14, False, None)
    stale = data_staleness(date(2026, 10, 30), date(2026, 12, 5), Settings(stale_data_days=7))
    assert (stale.days_old, stale.stale) == (36, True)
    assert "36 days old" in stale.warning() and "2026-10-30" in stale.warning()
    assert data_staleness(date(2026, 12, 9), date(2026, 12, 5)).days_old == 0  # clock or export error


def test_home_counts_the_whole_caseload_without_listing_it(app_db, sample_db, monkeypatch):
    """Home's caseload tiles are the caseload's counts over every active client (issue 12 item 3),
    read without bringing a single client row into Python (the counts query only)."""
    from analytics import Settings, Viewer, data_as_of
    from analytics.caseload.model import MAX_LIMIT, caseload

    local = Viewer.local()
    counts = caseload(sample_db, local, data_as_of(sample_db, local), Settings(), limit=MAX_LIMIT).counts()
    queries = queries_run(monkeypatch)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Active clients"], metrics["Risk flag"], metrics["Not on track"], metrics["Measures overdue"],
            metrics["No recent contact"]) == tuple(f"{counts[k]:,}" for k in (
                "clients", "risk", "not_on_track", "measures_overdue", "no_contact"))
    assert "caseload_counts" in queries and "caseload" not in queries
