"""The home page through Streamlit's AppTest, on the sample fixture."""

from streamlit.testing.v1 import AppTest

from tests.support.clinics import ROOT


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


def test_the_entry_script_warms_up_the_chart_pages_imports_once_per_process():
    """A fresh interpreter: the warm-up thread imports the chart pages' modules, once."""
    import subprocess
    import sys

    from tests.support.clinics import ROOT

    code = """
import sys
import ui
from ui.context import WARM_UP_MODULES
assert not [m for m in WARM_UP_MODULES if m in sys.modules], "already imported: the test would prove nothing"
thread = ui.warm_up_imports()
thread.join(60)
assert ui.warm_up_imports() is thread
missing = [m for m in WARM_UP_MODULES if m not in sys.modules]
assert not missing, missing
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
