"""Step "cold_start": the first visitor of a freshly started server (issue 12 item 4).

For each chart page: start the server process, wait until it answers ``/_stcore/health``, then
at once one new visitor (a new browser context, empty cache) opens the page's deep link, timed
to its main chart drawn. The server is started by the launcher (``python -m ui.serve``: the
pages' imports warmed up in the background, ui/serve.py) and, for comparison, by plain
``streamlit run dashboard.py`` (the imports paid by the first visit); REPEATS fresh servers of
each, alternating which goes first."""

from __future__ import annotations

import re
import time
from typing import Any

from benchmarks.common import DATA_DIR, REPEATS, _median, dataset_db, log
from benchmarks.step_browser import TIMELINE_JS, _read_timeline, page_url
from benchmarks.step_pages import PageCase, page_cases
from tests.support.browser import PLOTLY_DRAWN, launch_chromium
from tests.support.server import LAUNCHERS, StreamlitServer

WARM_UP_DONE = re.compile(r"Warm-up: the pages' modules imported in ([0-9.]+) s")


def _warm_up_seconds(text: str) -> float | None:
    found = WARM_UP_DONE.search(text)
    return float(found.group(1)) if found else None


def _first_visit(browser: Any, case: PageCase, params: dict[str, str], launcher: str, size: str) -> dict[str, Any]:
    """One fresh server, one new visitor as soon as it answers."""
    log_path = DATA_DIR / f"server-cold-start-{size}.log"
    log_path.unlink(missing_ok=True)
    server = StreamlitServer(dataset_db(size), log_path=log_path, launcher=launcher, poll_interval=0.02,
                             start_timeout=180)
    # The browser context is ready before the server starts: only the server and the page are timed.
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.add_init_script(TIMELINE_JS)
    page = ctx.new_page()
    out: dict[str, Any] = {"launcher": launcher}
    try:
        server.start()
        assert server.started_at is not None and server.ready_at is not None
        out["health_s"] = server.ready_at - server.started_at
        # Had the warm-up finished when the visitor arrived? (its line in the server's log)
        out["warm_up_done_at_visit"] = _warm_up_seconds(log_path.read_text(errors="replace")) is not None
        started = time.perf_counter()
        page.goto(page_url(server.url, case, params), wait_until="commit", timeout=180_000)
        page.locator(case.ready).first.wait_for(state="visible", timeout=180_000)
        out["chart_s"] = time.perf_counter() - started
        out["total_s"] = time.perf_counter() - server.started_at
        out["timeline"] = _read_timeline(page, out["chart_s"])
        exceptions = page.locator('[data-testid="stException"]').count()
        if exceptions:
            out["errors"] = f"{exceptions} exception element(s)"
    except Exception as exc:  # noqa: BLE001 - reported in the table
        out["errors"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    finally:
        ctx.close()
        server.stop()
    out["warm_up_s"] = _warm_up_seconds(log_path.read_text(errors="replace")) if log_path.exists() else None
    return out


def _summary(case: PageCase, launcher: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the fresh servers of one page and launcher; the timeline of the median visit."""
    measured = sorted((r for r in runs if "chart_s" in r), key=lambda r: r["chart_s"])
    errors = sorted({r["errors"] for r in runs if r.get("errors")})
    return {
        "page": case.name,
        "link": case.link_label,
        "launcher": launcher,
        "health_s": _median([r["health_s"] for r in runs if "health_s" in r]),
        "chart_s": _median([r["chart_s"] for r in measured]),
        "chart_runs": [round(r["chart_s"], 3) for r in measured],
        "total_s": _median([r["total_s"] for r in measured]),
        "script_done_ms": measured[(len(measured) - 1) // 2]["timeline"].get("done") if measured else None,
        "warm_up_s": _median([r["warm_up_s"] for r in runs if r.get("warm_up_s") is not None]),
        "warm_up_done_at_visit": sum(1 for r in runs if r.get("warm_up_done_at_visit")),
        "servers": len(runs),
        "errors": "; ".join(errors),
    }


def step_cold_start(size: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from analytics import ClinicDatabase

    cases = [c for c in page_cases() if c.ready == PLOTLY_DRAWN]
    with ClinicDatabase(dataset_db(size)) as db:
        links = {c.name: c.params(db) for c in cases}
    rows = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            for case in cases:
                runs: dict[str, list[dict[str, Any]]] = {name: [] for name in LAUNCHERS}
                for repeat in range(REPEATS):
                    order = list(LAUNCHERS) if repeat % 2 == 0 else list(reversed(LAUNCHERS))
                    for launcher in order:
                        run = _first_visit(browser, case, links[case.name], launcher, size)
                        log(f"cold start {size}: {case.name}, {launcher}: health {run.get('health_s', 0):.2f} s, "
                            f"chart {run.get('chart_s', 0):.2f} s {run.get('errors', '')}")
                        runs[launcher].append(run)
                rows += [_summary(case, launcher, runs[launcher]) for launcher in LAUNCHERS]
        finally:
            browser.close()
    return {"size": size, "rows": rows}
