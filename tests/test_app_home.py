"""The home page through Streamlit's AppTest, on the sample fixture."""

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


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
    history = at.dataframe[0].value
    assert list(history["batch_id"]) == [1]
    assert at.button(key="run_import").disabled  # nothing uploaded yet
