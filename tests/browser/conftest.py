"""End-to-end fixtures: a sample clinic, the app served by ``streamlit run``, headless Chromium.

The server and browser helpers are in tests/support/ (server.py, browser.py): every server
started is stopped in a ``finally`` (SIGTERM to its process group, SIGKILL after 10 s),
whatever the tests do.

Run: ``.venv/bin/pytest -m browser tests/browser``. Screenshots and the server log go to
test-artifacts/ (gitignored).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import (
    CHROMIUM,
    RUN_COUNTER,
    SCREENSHOTS,
    TIMEOUT_MS,
    VIEWPORT,
    running_chromium,
    screenshot,
    start_server,
    wait_idle,
)
from tests.support.clinics import Clinic, build_sample_clinic
from tests.support.server import StreamlitServer


@pytest.fixture(scope="session", autouse=True)
def _fresh_screenshots() -> None:
    """Screenshots of this run only (test-artifacts/ is gitignored)."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def e2e_clinic(tmp_path_factory: pytest.TempPathFactory) -> Clinic:
    """A 400-client sample clinic (seeded) with its CSV export kept beside it."""
    return build_sample_clinic(tmp_path_factory.mktemp("e2e"))


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with running_chromium() as browser:
        yield browser



@pytest.fixture(scope="session")
def app_server(e2e_clinic: Clinic, chromium: Any) -> Iterator[StreamlitServer]:
    """The dashboard on the e2e clinic, on a free port; always stopped at the end."""
    server = start_server(e2e_clinic.db_path, "streamlit-e2e.log")
    try:
        server.start()
        # Open the home page once, as on a server in use (a deep link as the very first
        # request is tested on its own server: test_deep_link_on_fresh_server_runs_the_app).
        context = chromium.new_context(viewport=VIEWPORT)
        try:
            page = context.new_page()
            page.goto(server.url, timeout=TIMEOUT_MS)
            wait_idle(page)
        finally:
            context.close()
        yield server
    finally:
        server.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def page(request: pytest.FixtureRequest, chromium: Any, app_server: StreamlitServer) -> Iterator[Any]:
    """A fresh browser context (a new Streamlit session) with downloads accepted.

    A failing test leaves a screenshot of the page as FAILED-<test>.png in the screenshots.
    """
    context = chromium.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(RUN_COUNTER)
    pg = context.new_page()
    pg.app_url = app_server.url  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            with contextlib.suppress(Exception):
                screenshot(pg, f"FAILED-{request.node.name}")
        context.close()


@pytest.fixture
def browser_page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context on no server in particular: no cookies, a new Streamlit session."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1600})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
