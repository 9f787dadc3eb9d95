"""What a visitor sees without scrolling, in headless Chromium (issue 15 items 3 and 15): at
800 px the sidebar starts closed and nothing on the page's first screen is cut; the standing
notices are in the sidebar, not above the page."""

from __future__ import annotations

from typing import Any

import pytest

from analytics import ClinicDatabase, Settings, Viewer, data_as_of
from analytics.caseload.model import caseload
from tests.support.browser import (
    RUN_COUNTER,
    TIMEOUT_MS,
    assert_no_errors,
    screenshot,
    url,
    wait_charts_settled,
    wait_settled,
)

pytestmark = pytest.mark.browser

# Elements whose text Streamlit cuts with an ellipsis when there is no room.
CUT_TEXT = """() => [...document.querySelectorAll(
    '[data-testid="stMetricLabel"], [data-testid="stMetricValue"], h1, h2, h3')]
  .filter(e => e.offsetParent !== null && e.getBoundingClientRect().top < window.innerHeight)
  .filter(e => [e, ...e.querySelectorAll('*')].some(x => x.scrollWidth > x.clientWidth + 1))
  .map(e => e.innerText)"""


def _open(chromium: Any, server_url: str, width: int, path: str, **params: Any) -> Any:
    context = chromium.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(RUN_COUNTER)
    page = context.new_page()
    page.goto(url(server_url, path, **params), timeout=TIMEOUT_MS)
    wait_settled(page)
    return page


def _neediest_client(db_path: Any) -> str:
    with ClinicDatabase(db_path) as db:
        local = Viewer.local()
        return str(caseload(db, local, data_as_of(db, local), Settings()).clients["client_id"].iloc[0])


RESOURCES = "() => performance.getEntriesByType('resource').map(r => r.name)"


def _check_one_health_probe(page: Any) -> None:
    """ui/shell.py on a page's URL: Streamlit is told where its server is, so it connects to the
    app's root at once (without it, it first probes ``<page>/_stcore/health``, which fails)."""
    probes = [name for name in page.evaluate(RESOURCES) if name.split("?")[0].endswith("/_stcore/health")]
    assert probes and {name.split("/")[-3] for name in probes} == {page.url.split("/")[2]}, probes


def _sidebar_open(page: Any) -> bool:
    return page.locator('[data-testid="stSidebar"]').get_attribute("data-collapsed") == "false"


def test_at_800_px_the_sidebar_starts_closed_and_nothing_is_cut(chromium, app_server, e2e_clinic):
    client = _neediest_client(e2e_clinic.db_path)
    page = _open(chromium, app_server.url, 800, "client_review", client=client)
    try:
        page.get_by_role("heading", name=f"Client {client}").wait_for()
        wait_charts_settled(page)
        assert_no_errors(page)
        page.wait_for_function("() => document.querySelector('[data-testid=\"stSidebar\"]')"
                               ".getAttribute('data-collapsed') === 'true'")
        screenshot(page, "client-review-800px")
        assert page.evaluate(CUT_TEXT) == []
        _check_one_health_probe(page)
        # The user can open it again, and it is not closed behind their back on the next page.
        page.locator('[data-testid="stExpandSidebarButton"]').click()
        page.wait_for_function("() => document.querySelector('[data-testid=\"stSidebar\"]')"
                               ".getAttribute('data-collapsed') === 'false'")
        page.locator('[data-testid="stSidebarNav"] a', has_text="Cohort outcomes").click()
        page.get_by_role("heading", name="Cohort outcomes").wait_for()
        wait_settled(page)
        assert _sidebar_open(page)
    finally:
        page.context.close()


def test_at_1440_px_the_sidebar_stays_open_with_the_as_of_date(chromium, app_server):
    page = _open(chromium, app_server.url, 1440, "")
    try:
        page.get_by_role("heading", name="Between Sessions").wait_for()
        assert _sidebar_open(page)
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        assert "Data as of" in sidebar and "Local single-user mode" in sidebar
        assert "Local single-user mode" not in page.locator('[data-testid="stMain"]').inner_text()
        assert page.evaluate(CUT_TEXT) == []
    finally:
        page.context.close()
