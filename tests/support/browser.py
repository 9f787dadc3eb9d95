"""Driving the dashboard in headless Chromium (Debian's /usr/bin/chromium through Playwright;
browsers are never downloaded): the browser's options, the server a test starts, and waiting
for Streamlit's script runs, reading metrics and downloads, screenshots on test-artifacts/."""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.support.server import ROOT, StreamlitServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PLOTLY_DRAWN = ".js-plotly-plot .main-svg"
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
VIEWPORT = {"width": 1400, "height": 2400}  # tall: Streamlit scrolls inside its own container
TIMEOUT_MS = 60_000  # generous: the machine may be busy


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextlib.contextmanager
def running_chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


def start_server(db_path: Path, log_name: str, **options: Any) -> StreamlitServer:
    """A dashboard server on ``db_path`` logging to a fresh test-artifacts/``log_name`` (not started
    yet); ``options`` go to :class:`tests.support.server.StreamlitServer`."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / log_name
    log_path.unlink(missing_ok=True)
    return StreamlitServer(db_path, log_path=log_path, **options)




def url(base: str, path: str = "", **params: Any) -> str:
    pairs = [(k, v) for k, values in params.items() for v in (values if isinstance(values, list | tuple) else [values])]
    return f"{base}/{path}" + (f"?{urlencode(pairs)}" if pairs else "")


# The root can report notRunning a moment before the run's last elements reach the DOM (and,
# on a new page, before the first run has started). Settled = a run has happened, none is
# running, and the main area has not changed for QUIET_MS.
QUIET_MS = 300
SETTLED = """quietMs => {
  if (!window.__stQuiet) {
    window.__stQuiet = {last: performance.now()};
    new MutationObserver(() => { window.__stQuiet.last = performance.now(); })
      .observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  }
  const app = document.querySelector('[data-testid="stApp"]');
  const state = app && app.getAttribute('data-test-script-state');
  if (state !== 'notRunning' || (window.__stDone !== undefined && window.__stDone < 1)) {
    window.__stQuiet.last = performance.now();
    return false;
  }
  return performance.now() - window.__stQuiet.last >= quietMs;
}"""


def wait_settled(page: Any, timeout: float = TIMEOUT_MS) -> None:
    """Wait until the page's script run is over and everything it drew is on the page."""
    page.wait_for_function(SETTLED, arg=QUIET_MS, timeout=timeout, polling=100)


def wait_idle(page: Any, timeout: float = TIMEOUT_MS) -> None:
    """Wait until the script run is finished and drawn (same as :func:`wait_settled`)."""
    wait_settled(page, timeout)


def open_page(page: Any, path: str = "", **params: Any) -> None:
    page.goto(url(page.app_url, path, **params), timeout=TIMEOUT_MS)
    wait_settled(page)
    assert_no_errors(page)


# Text that means something broke (st.error is also used for legitimate clinical alerts,
# so alerts are not errors as such).
ERROR_TEXT = re.compile(r"Traceback|Exception|Error:|No clinic database|took longer than|not available for your role")


def assert_no_errors(page: Any) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()[:2000]
    text = page.locator('[data-testid="stMain"]').inner_text()
    found = ERROR_TEXT.search(text)
    assert found is None, text[max(0, found.start() - 200): found.end() + 300]


# Counts script runs in the page from the state Streamlit writes on its root
# (data-test-script-state): __stRuns counts changes to "running", __stDone changes back to
# "notRunning" (a finished run, or a requested rerun the server had nothing to do for).
# React may batch a fast run's "running" away, so both are counted from the mutation
# records' old values rather than from the attribute's current value.
RUN_COUNTER = """
window.__stRuns = 0;
window.__stDone = 0;
new MutationObserver((mutations) => {
  const records = mutations.filter(m => m.attributeName === 'data-test-script-state');
  records.forEach((m, i) => {
    const after = i + 1 < records.length ? records[i + 1].oldValue : m.target.getAttribute('data-test-script-state');
    if (after === 'running' && m.oldValue !== 'running') window.__stRuns += 1;
    if (after === 'notRunning' && m.oldValue !== 'notRunning') window.__stDone += 1;
  });
}).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                      attributeFilter: ['data-test-script-state']});
"""


def rerun(page: Any, action: Callable[[], Any], timeout: float = TIMEOUT_MS) -> None:
    """Do ``action`` (which makes Streamlit rerun) and wait until that rerun has finished."""
    before = page.evaluate("[window.__stRuns, window.__stDone]")
    action()
    page.wait_for_function("([r, d]) => window.__stRuns > r || window.__stDone > d", arg=before, timeout=timeout)
    wait_settled(page, timeout)


def wait_charts_settled(page: Any, timeout: float = TIMEOUT_MS) -> int:
    """After a rerun an old chart can linger beside the new one: wait for idle and a stable count."""
    wait_settled(page, timeout)
    page.wait_for_function(
        """() => {
            const n = document.querySelectorAll('.js-plotly-plot').length;
            const drawn = document.querySelectorAll('.js-plotly-plot .main-svg').length;
            const stale = document.querySelectorAll('[data-stale="true"] .js-plotly-plot').length;
            return n > 0 && drawn >= n && stale === 0;
        }""",
        timeout=timeout,
    )
    return page.locator(".js-plotly-plot").count()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def download_csv(scope: Any, button_name: str | re.Pattern[str]) -> tuple[str, list[dict[str, str]]]:
    """Click a download button inside ``scope`` (a page or locator); returns the file name and CSV rows."""
    page = scope.page if hasattr(scope, "page") and not hasattr(scope, "goto") else scope
    # Not while a script run is in flight (its end redraws the button and its file): once, in CI,
    # a click on the QI activity CSV gave no download within the timeout (cause not pinned down).
    wait_settled(page)
    button = scope.get_by_role("button", name=button_name).first
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        button.click()
    download = info.value
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    return download.suggested_filename, list(csv.DictReader(io.StringIO(text)))


def choose_in_multiselect(page: Any, label: str, option: str) -> None:
    """Add ``option`` in the multiselect labelled ``label`` (a combobox); waits for the rerun."""
    box = page.get_by_role("combobox", name=label)
    box.click()
    box.fill(option)
    rerun(page, lambda: page.get_by_role("option", name=option, exact=True).click())
    page.keyboard.press("Escape")


def choose_in_selectbox(page: Any, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` (a combobox); waits for the rerun."""
    box = page.get_by_role("combobox", name=label)
    box.click()
    # Typing opens the list even when the click came right after Playwright scrolled the
    # page (a scroll closes the open list), and narrows it to the wanted option.
    box.fill(option)
    rerun(page, lambda: page.get_by_role("option", name=option, exact=True).click())


def filter_values(page: Any, param: str) -> list[str]:
    """The chosen values of a sidebar cohort filter (ui/filters.py keys them ``filter_<param>``)."""
    tags = page.locator(f".st-key-filter_{param} [data-tag]")
    return [tags.nth(i).get_attribute("aria-label") or "" for i in range(tags.count())]


# One snapshot of every st.metric on the page: label -> value (hidden tabs included).
METRICS_JS = """els => els.map(e => [
  (e.querySelector('[data-testid="stMetricLabel"]') || {}).textContent || '',
  (e.querySelector('[data-testid="stMetricValue"]') || {}).textContent || '',
])"""


def metric_values(page: Any) -> dict[str, str]:
    pairs = page.locator('[data-testid="stMetric"]').evaluate_all(METRICS_JS)
    return {label.strip(): value.strip() for label, value in pairs}


def query_params(page: Any) -> dict[str, list[str]]:
    from urllib.parse import parse_qs, urlparse

    return parse_qs(urlparse(page.url).query)
