"""The caseload in headless Chromium (local mode): the list is drawn in need order and a client's
link opens that client's review with the chart drawn (issue 15 items 4 and 10)."""

from __future__ import annotations

import re

import pytest

from analytics import ClinicDatabase, Settings, Viewer, data_as_of
from analytics.caseload.model import caseload
from tests.support.browser import (
    assert_no_errors,
    metric_values,
    open_page,
    screenshot,
    wait_charts_settled,
    wait_settled,
)

pytestmark = pytest.mark.browser

# Streamlit's data grid (glide-data-grid) draws on a canvas: rows are 35 px high under a 35 px
# header; a link cell opens when the click lands on its text (8 px cell padding).
ROW_PX = 35
HEADER_PX = 35


def test_caseload_link_opens_the_client_review(page, e2e_clinic):
    with ClinicDatabase(e2e_clinic.db_path) as db:
        local = Viewer.local()
        expected = caseload(db, local, data_as_of(db, local), Settings())
    first = str(expected.clients["client_id"].iloc[0])

    open_page(page, "caseload")
    page.get_by_role("heading", name="Caseload").wait_for()
    assert metric_values(page)["Active clients"] == f"{expected.counts()['clients']:,}"  # every active client
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    grid.scroll_into_view_if_needed()
    screenshot(page, "caseload")

    # Click the first row's client id (the pinned first column): the review opens in a new tab.
    box = grid.bounding_box()
    assert box is not None
    x, y = box["x"] + 8 + 10, box["y"] + HEADER_PX + ROW_PX / 2
    page.mouse.move(x, y)
    with page.context.expect_page() as opened:
        page.mouse.click(x, y)
    review = opened.value
    review.wait_for_load_state()
    assert re.search(rf"/client_review\?client={re.escape(first)}$", review.url), review.url
    wait_settled(review)
    review.get_by_role("heading", name=f"Client {first}").wait_for()
    assert wait_charts_settled(review) >= 1
    assert_no_errors(review)
    screenshot(review, "caseload-to-client-review")
