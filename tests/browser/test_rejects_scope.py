"""Issue 10, item 1 in a real OpenID Connect sign-in (headless Chromium): rejected rows are
admin data.

A tiny clinic with a user per role gets batch 2: one rejected assignment of client C1
(therapist T1) whose description is free text. Signed in through the provider
(``oidc-provider-mock``, as tests/browser/test_oidc_login.py), therapist T3 opens the Data
page: no rejected row, no file name, no free text, no download, no counts in the history.
The admin, signed in the same way, sees the row (so the check above can see one when it
is there).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import screenshot, wait_idle
from tests.support.clinics import SECRET, clinic_with_a_rejected_row
from tests.support.oidc import mock_provider, signed_in_server, verified
from tests.support.server import StreamlitServer

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
TIMEOUT_MS = 60_000
USERS = {
    "admin@clinic.org": ("admin", {}),
    "t3@clinic.org": ("therapist", {"therapist_id": "T3"}),
}
# Everything in the page, the hidden accessibility table of the data grids included.
PAGE_TEXT_JS = "() => document.querySelector('[data-testid=\"stMain\"]').textContent"


@pytest.fixture(scope="module")
def oidc_provider() -> Iterator[str]:
    with mock_provider(verified(USERS)) as url:
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_db_path: Path, oidc_provider: str) -> Iterator[StreamlitServer]:
    work = tmp_path_factory.mktemp("rejects-oidc")
    db = clinic_with_a_rejected_row(work, tiny_db_path, USERS)
    app = signed_in_server(db, work, oidc_provider, "streamlit-rejects-scope.log", work / "audit.duckdb")
    try:
        app.start()
        yield app
    finally:
        app.stop()


def sign_in_and_open_data(page: Any, server: StreamlitServer, email: str) -> str:
    """Sign in at the provider, open the Data page; the main area's text (grids included)."""
    page.goto(server.url, timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name=email, exact=True).click()  # the provider's user list
    page.wait_for_url(f"{server.url}/**", timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Sign out").wait_for()
    page.goto(f"{server.url}/data", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Import history").wait_for()
    page.locator('[data-testid="stDataFrame"] [role="grid"]').first.wait_for(state="attached")
    wait_idle(page)
    assert f"Signed in as {email}" in page.locator('[data-testid="stSidebar"]').inner_text()
    return page.evaluate(PAGE_TEXT_JS)


def test_a_signed_in_therapist_sees_no_rejected_row(browser_page: Any, server: StreamlitServer):
    text = sign_in_and_open_data(browser_page, server, "t3@clinic.org")
    screenshot(browser_page, "rejects-scope-therapist")
    assert "for administrators" in text
    assert SECRET not in text and "assignments_feb.csv" not in text and "quantity_rating" not in text
    assert "rows_rejected" not in text and "raw_row" not in text
    assert browser_page.locator('[data-testid="stDownloadButton"]').count() == 0
    assert browser_page.get_by_text("Show the rejected rows of batch").count() == 0
    # two grids: how current the data are, then the history: batch, started, finished (two runs)
    grids = browser_page.locator('[data-testid="stDataFrame"] [role="grid"]')
    assert grids.count() == 2
    assert grids.last.get_attribute("aria-rowcount") == "3"  # header + batches 2 and 1
    assert "Finished (UTC)" in text


def test_a_signed_in_admin_sees_the_rejected_row(browser_page: Any, server: StreamlitServer):
    text = sign_in_and_open_data(browser_page, server, "admin@clinic.org")
    browser_page.get_by_role("button", name="Download batch 2 rejects (CSV)").wait_for()
    text = browser_page.evaluate(PAGE_TEXT_JS)
    screenshot(browser_page, "rejects-scope-admin")
    assert "assignments_feb.csv" in text and "quantity_rating" in text and "Rejected" in text
    assert SECRET in text  # the raw row, free text included, is there for the admin
