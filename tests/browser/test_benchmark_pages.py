"""The browser benchmark's harness on the real app (benchmarks/step_browser.py): every page case it
times opens on its deep link and shows the element the benchmark waits for. A selector that never
appears makes the benchmark wait out its time limit and report nothing for that page (session 9:
the glossary's "h2" no longer existed once the page moved to tabs, and the 10-session memory phase
failed on it)."""

from __future__ import annotations

from typing import Any

import pytest

from analytics import ClinicDatabase
from benchmarks.step_browser import page_url
from benchmarks.step_pages import page_cases
from tests.support.browser import TIMEOUT_MS, assert_no_errors

pytestmark = pytest.mark.browser


def test_every_benchmarked_page_shows_what_the_benchmark_waits_for(chromium: Any, app_server: Any, e2e_clinic: Any):
    cases = page_cases()
    assert {"home", "client_review", "cohort_outcomes", "quality_improvement", "glossary"} <= {c.name for c in cases}
    with ClinicDatabase(e2e_clinic.db_path) as db:
        links = {c.name: c.params(db, 0) for c in cases}
    missing = []
    for case in cases:
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            page.goto(page_url(app_server.url, case, links[case.name]), wait_until="commit", timeout=TIMEOUT_MS)
            try:
                page.locator(case.ready).first.wait_for(state="visible", timeout=TIMEOUT_MS)
            except Exception:  # noqa: BLE001 - collected, every case is tried
                missing.append((case.name, case.ready))
                continue
            assert_no_errors(page)
        finally:
            context.close()
    assert missing == []
