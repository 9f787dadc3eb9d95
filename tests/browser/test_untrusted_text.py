"""Untrusted text in a real browser (issue 10, item 8; docs/security.md, "Untrusted text").

The hostile clinic of tests/test_untrusted_text.py (Markdown, HTML and image syntax in every
free-text field, imported for real) served by ``streamlit run`` in local mode and opened in
headless Chromium: the client review, cohort outcomes and quality-improvement pages
(identified) must show the values as the characters typed. The DOM holds no link, image,
``onerror`` handler or bold/emphasis element made from them (Plotly's hover labels included),
the browser never requests the payload's outside addresses, and no script dialog opens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from analytics import ClinicDatabase, Viewer
from analytics.text import AUTOLINK_BREAK
from tests.support.browser import (
    TIMEOUT_MS,
    VIEWPORT,
    open_page,
    rerun,
    screenshot,
    start_server,
    wait_charts_settled,
)
from tests.support.hostile_clinic import HOSTS, PAYLOAD, build_hostile_clinic, first_client
from tests.support.server import StreamlitServer

pytestmark = pytest.mark.browser

# Elements the payload would make if it were rendered as markup. Streamlit's own elements
# (its links, icons, bold text around a value) are not flagged: only what carries the payload's
# addresses, its image source "x", an onerror handler, or exactly the payload's marked words.
INJECTED_JS = r"""() => {
  const hosts = /evil\.example|203\.0\.113\.1/;
  const words = /^(pwns|pwnb|pwna|pwnl|pwni)$/;
  const bad = [];
  const show = el => el.outerHTML.slice(0, 240);
  for (const a of document.querySelectorAll('a')) {
    const href = a.getAttribute('href') || a.getAttribute('xlink:href') || '';
    if (hosts.test(href) || words.test(a.textContent.trim())) bad.push('link ' + show(a));
  }
  for (const img of document.querySelectorAll('img, image')) {
    const src = img.getAttribute('src') || img.getAttribute('href') || img.getAttribute('xlink:href') || '';
    if (src === 'x' || hosts.test(src) || words.test(img.getAttribute('alt') || '')) bad.push('image ' + show(img));
  }
  for (const el of document.querySelectorAll('[onerror]')) bad.push('onerror ' + show(el));
  for (const el of document.querySelectorAll('b, strong, em, i, tspan')) {
    const style = el.getAttribute('style') || '';
    const marked = el.tagName.toLowerCase() !== 'tspan' || /bold|italic/.test(style);
    if (marked && words.test(el.textContent.trim())) bad.push('markup ' + show(el));
  }
  return bad;
}"""


@pytest.fixture(scope="module")
def hostile_clinic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hostile_clinic(tmp_path_factory.mktemp("hostile_browser"))


@pytest.fixture(scope="module")
def hostile_server(hostile_clinic: Path, chromium: Any) -> Iterator[StreamlitServer]:
    server = start_server(hostile_clinic, "streamlit-untrusted-text.log")  # local single-user mode
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def watched(chromium: Any, hostile_server: StreamlitServer) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page, every URL it requested and every dialog (alert) it opened."""
    context = chromium.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    from tests.support.browser import RUN_COUNTER

    context.add_init_script(RUN_COUNTER)
    requests: list[str] = []
    dialogs: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.app_url = hostile_server.url  # type: ignore[attr-defined]
    try:
        yield page, requests, dialogs
    finally:
        context.close()


def assert_plain_text(page: Any, requests: list[str], dialogs: list[str], where: str) -> str:
    injected = page.evaluate(INJECTED_JS)
    assert not injected, f"{where}: elements made from imported text: {injected[:5]}"
    outside = [u for u in requests if any(host in (urlparse(u).hostname or "") for host in HOSTS)]
    assert not outside, f"{where}: requests to the payload's addresses: {outside[:5]}"
    assert not dialogs, f"{where}: script dialogs opened: {dialogs}"
    return page.locator('[data-testid="stMain"]').inner_text().replace(AUTOLINK_BREAK, "")


def hover_every_funnel_point(page: Any) -> int:
    """Hover one unit point of each funnel plot, so Plotly draws its hover label (unit name)."""
    labels = 0
    charts = page.locator('[class*="st-key-qi_funnel_"] .js-plotly-plot')
    for i in range(charts.count()):
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()
        points = chart.locator(".scatterlayer .trace .points path")
        if points.count() == 0:
            continue
        box = points.first.bounding_box()
        if box is None:
            continue
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        hover = chart.locator(".hoverlayer .hovertext")
        hover.first.wait_for(timeout=5_000)
        if "pwnb" in hover.first.text_content():
            labels += 1
    return labels


def test_pages_show_imported_markup_as_text(watched, hostile_clinic: Path):
    page, requests, dialogs = watched
    with ClinicDatabase(hostile_clinic) as db:
        client = first_client(db, Viewer.local())
        clinic = db.execute_sql("SELECT clinic FROM clients WHERE client_id = $c", {"c": client})["clinic"].iloc[0]

    # Client review: header, facts, programme median, tables with descriptions, chart.
    open_page(page, "client_review", client=client)
    heading = page.get_by_role("heading", name=re.compile(r"^Client C"))
    heading.wait_for()
    text = assert_plain_text(page, requests, dialogs, "client review")
    assert heading.inner_text().replace(AUTOLINK_BREAK, "") == f"Client {client}"
    assert f"Client {client}" in text and clinic in text  # the characters typed, on screen
    screenshot(page, "untrusted-client-review")

    # Cohort outcomes, narrowed to the hostile clinic from the URL.
    open_page(page, "cohort_outcomes", clinic=clinic)
    wait_charts_settled(page)
    assert_plain_text(page, requests, dialogs, "cohort outcomes")
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text().replace(AUTOLINK_BREAK, "")
    assert PAYLOAD.split(" <img")[0] in sidebar  # the chosen clinic, as text in the filter

    # Quality improvement, identified, comparisons: funnel plots with clinic, therapist and
    # programme names (hover labels too), and the cohort line naming the clinic.
    open_page(page, "quality_improvement", clinic=clinic, section="Comparisons")
    rerun(page, lambda: page.get_by_text("De-identified", exact=True).click())
    wait_charts_settled(page)
    text = assert_plain_text(page, requests, dialogs, "quality improvement")
    assert "Identified view" in text and f"Clinics: {clinic}" in text
    hovered = 0
    for unit in ("Therapists", "Programmes"):
        hovered += hover_every_funnel_point(page)
        assert_plain_text(page, requests, dialogs, f"quality improvement hover ({unit})")
        rerun(page, lambda unit=unit: page.locator(".st-key-qi_unit_type").get_by_role("radio", name=unit).click())
        wait_charts_settled(page)
        assert_plain_text(page, requests, dialogs, f"quality improvement {unit}")
    hovered += hover_every_funnel_point(page)
    assert_plain_text(page, requests, dialogs, "quality improvement hover")
    assert hovered > 0, "no hover label with an imported name was drawn"
    screenshot(page, "untrusted-quality-improvement")
    assert any(page.app_url in u for u in requests)  # the watcher saw the page's own requests
