"""The dashboard served on Spark (issue 17): the launcher scripts/run-dashboard.sh execs
(``python -m ui.serve``) with ``BETWEEN_SESSIONS_ENGINE=spark``, every page opened in a real
headless Chromium, and the home page's tiles the same as the DuckDB server's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.step_pages import page_cases
from tests.support.browser import CHROMIUM, TIMEOUT_MS, metric_values, running_chromium, start_server, url, wait_settled

PAGES = [c for c in page_cases() if c.file != "dashboard.py"]


@pytest.fixture(scope="module")
def chromium() -> Any:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is not installed (scripts/install-browser.sh)"
    with running_chromium() as browser:
        yield browser


def _home_tiles(chromium: Any, base: str) -> dict[str, str]:
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(base, timeout=TIMEOUT_MS)
        wait_settled(page, TIMEOUT_MS * 3)
        page.get_by_text("Clients", exact=True).first.wait_for(timeout=TIMEOUT_MS)
        return metric_values(page)
    finally:
        context.close()


def test_every_page_is_served_on_spark(clinic_path: Path, chromium: Any, duck: Any):
    on_spark = start_server(clinic_path, "streamlit-spark.log", env={"BETWEEN_SESSIONS_ENGINE": "spark"},
                            start_timeout=180)
    on_duckdb = start_server(clinic_path, "streamlit-duckdb.log", env={"BETWEEN_SESSIONS_ENGINE": "duckdb"})
    try:
        on_spark.start()
        tiles = _home_tiles(chromium, on_spark.url)
        clients = int(duck.execute_sql("SELECT count(*) AS n FROM clients")["n"].iloc[0])
        assert tiles["Clients"].replace(",", "") == str(clients)
        on_duckdb.start()
        assert _home_tiles(chromium, on_duckdb.url) == tiles  # the same tiles, read by the other engine
        for case in PAGES:
            context = chromium.new_context()
            try:
                page = context.new_page()
                page.goto(url(on_spark.url, case.url_path, **case.params(duck)), timeout=TIMEOUT_MS)
                wait_settled(page, TIMEOUT_MS * 3)
                page.locator(case.ready).first.wait_for(timeout=TIMEOUT_MS * 3)
                exceptions = page.locator('[data-testid="stException"]')
                assert exceptions.count() == 0, (case.name, exceptions.first.inner_text()[:2000])
            finally:
                context.close()
        assert "Warm-up: the Spark session started" in on_spark.log_path.read_text()
    finally:
        on_spark.stop()
        on_duckdb.stop()
