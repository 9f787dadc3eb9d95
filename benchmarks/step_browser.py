"""Step "browser": headless Chromium from navigation to the main chart drawn at L (new
visitor, returning browser, in the app), then the server's memory with 10 sessions open."""

from __future__ import annotations

import tempfile
import time
from typing import Any

from benchmarks.common import DATA_DIR, REPEATS, _median, dataset_db
from benchmarks.step_pages import PageCase, network_cases, page_cases
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, PLOTLY_DRAWN, launch_chromium
from tests.support.server import RssSampler, StreamlitServer, process_tree_memory_mb, process_tree_rss_mb


def page_url(base: str, case: PageCase, params: dict[str, str]) -> str:
    from urllib.parse import urlencode

    query = f"?{urlencode(params)}" if params else ""
    return f"{base}/{case.url_path}{query}"


# Timeline of a page load, in ms since the navigation started (performance.now()):
# shell = Streamlit's app root exists; done = the first script run has finished;
# chart = the first chart element is mounted (its code has loaded); drawn = the page's
# main content (selector) is there. Long tasks: main-thread work over 50 ms.
TIMELINE_JS = """
window.__bench = {long: []};
new PerformanceObserver(list => {
  for (const e of list.getEntries()) window.__bench.long.push([Math.round(e.startTime), Math.round(e.duration)]);
}).observe({type: 'longtask', buffered: true});
new MutationObserver(() => {
  const t = window.__bench, now = Math.round(performance.now());
  const app = document.querySelector('[data-testid="stApp"]');
  if (app && t.shell === undefined) t.shell = now;
  if (app && t.done === undefined && app.getAttribute('data-test-script-state') === 'notRunning') t.done = now;
  if (t.chart === undefined && document.querySelector('.js-plotly-plot')) t.chart = now;
}).observe(document, {subtree: true, childList: true, attributes: true});
"""
# The Plotly code: when it was requested and when it had arrived (ms). ui.chart's plotly.js
# bundle (ui/plotly_bundle/plotly-cartesian.min.js, or the full plotly.min.js for a WebGL
# trace); Streamlit's own Plotly chunk (PlotlyChart.*.js) before issue 12 item 2.
PLOTLY_CODE_JS = """() => {
  const e = performance.getEntriesByType('resource')
    .find(r => /\\/(PlotlyChart\\.[^/]*\\.js|plotly[^/]*\\.min\\.js)$/.test(r.name));
  return e ? [Math.round(e.startTime), Math.round(e.responseEnd), e.decodedBodySize] : null;
}"""


def _read_timeline(page: Any, drawn_s: float) -> dict[str, Any]:
    timeline = page.evaluate("window.__bench")
    longest = max(timeline.pop("long", []), key=lambda t: t[1], default=None)
    return {**timeline, "drawn": round(1000 * drawn_s), "longest_task": longest,
            "plotly_code": page.evaluate(PLOTLY_CODE_JS)}


def step_browser(size: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from analytics import ClinicDatabase

    cases = page_cases()
    target = dataset_db(size)
    with ClinicDatabase(target) as db:
        links = {c.name: [c.params(db, i) for i in range(10)] for c in cases}
    result: dict[str, Any] = {"size": size, "rows": [], "memory": {}}
    log_path = DATA_DIR / f"server-{size}.log"
    log_path.unlink(missing_ok=True)
    timings: dict[str, dict[str, Any]] = {c.name: {"page": c.name, "link": c.link_label} for c in cases}
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            # New visitors, first visit: REPEATS rounds, each on a freshly started server (its
            # cache cold for every page's queries); the last round's server stays for the rest.
            for round_ in range(REPEATS - 1):
                with StreamlitServer(target, log_path=log_path) as server:
                    _first_visits(browser, server, cases, links, timings, round_)
            with StreamlitServer(target, log_path=log_path) as server:
                _measure_on(browser, server, p, cases, links, timings, result)
        finally:
            browser.close()
    for row in timings.values():
        runs = row.get("first_runs") or []
        if runs:
            row["first_s"] = _median(runs)
    result["rows"] = list(timings.values())
    return result


def _first_visits(browser: Any, server: StreamlitServer, cases: list[PageCase],
                  links: dict[str, list[dict[str, str]]], timings: dict[str, dict[str, Any]], round_: int) -> None:
    """One new visitor's first visit of every page on ``server`` (its cache cold for each page's
    queries); the server and the browser's shared state are warmed once by the glossary first."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.new_page().goto(f"{server.url}/glossary", wait_until="networkidle", timeout=60_000)
    ctx.close()
    for case in cases:
        seconds, _timeline, error = _new_visitor(browser, server, case, links[case.name][0])
        if seconds is not None:
            timings[case.name].setdefault("first_runs", []).append(seconds)
        if error:
            timings[case.name]["errors"] = error
        if round_ == REPEATS - 1 and server.pid is not None:
            timings[case.name]["rss_after_first_mb"] = process_tree_rss_mb(server.pid)


def _new_visitor(browser: Any, server: StreamlitServer, case: PageCase,
                 params: dict[str, str]) -> tuple[float | None, dict[str, Any] | None, str | None]:
    """One visit in a new browser context (empty cache, new session): seconds to the main
    content, the page's timeline, an error (or None)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.add_init_script(TIMELINE_JS)
    page = ctx.new_page()
    started = time.perf_counter()
    try:
        page.goto(page_url(server.url, case, params), wait_until="commit", timeout=60_000)
        page.locator(case.ready).first.wait_for(state="visible", timeout=60_000)
        seconds = time.perf_counter() - started
        exceptions = page.locator('[data-testid="stException"]').count()
        return seconds, _read_timeline(page, seconds), (f"{exceptions} exception element(s)" if exceptions else None)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return None, None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    finally:
        ctx.close()


def _measure_on(browser: Any, server: StreamlitServer, p: Any, cases: list[PageCase],
                links: dict[str, list[dict[str, str]]], timings: dict[str, dict[str, Any]],
                result: dict[str, Any]) -> None:
    """On one server: the last round of first visits, then the new visitors' further visits
    (cached), the returning browser, navigation inside the app and the memory phase."""
    assert server.pid is not None
    result["memory_at_start"] = process_tree_memory_mb(server.pid)
    result["memory_at_start_mb"] = result["memory_at_start"]["rss"]
    _first_visits(browser, server, cases, links, timings, REPEATS - 1)
    # New visitors again, REPEATS more times each (the server's cache warm); the median is "second".
    for _visit in range(REPEATS):
        for case in cases:
            seconds, timeline, error = _new_visitor(browser, server, case, links[case.name][0])
            if seconds is not None:
                timings[case.name].setdefault("second_runs", []).append((seconds, timeline))
            if error:
                timings[case.name]["errors"] = error
    for row in timings.values():
        _keep_median(row, "second_runs", "second_s", "second_timeline")
    # A returning browser: a persistent profile (disk cache and V8 code cache, as a
    # clinician's own browser) that has opened every link twice before; each visit
    # opens the link in a new tab (a new document and session). Then, in the same
    # profile, navigation inside the app (see _in_app_timings).
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as profile:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                   viewport={"width": 1400, "height": 1000})
        ctx.add_init_script(TIMELINE_JS)
        try:
            for i, case in enumerate(cases * (2 + REPEATS)):  # two passes fill the caches
                page = ctx.new_page()
                started = time.perf_counter()
                page.goto(page_url(server.url, case, links[case.name][0]), wait_until="commit",
                          timeout=60_000)
                page.locator(case.ready).first.wait_for(state="visible", timeout=60_000)
                seconds = time.perf_counter() - started
                if i >= 2 * len(cases):
                    timings[case.name].setdefault("returning_runs", []).append(
                        (seconds, _read_timeline(page, seconds)))
                page.close()
            for row in timings.values():
                _keep_median(row, "returning_runs", "returning_s", "returning_timeline")
            for name, measured in _in_app_timings(ctx, server, cases, links).items():
                timings[name].update(measured)
        except Exception as exc:  # noqa: BLE001 - reported in the table
            result["returning_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
        finally:
            ctx.close()
    try:  # a failure here (a session not drawn in time) keeps the timings above
        result["memory"] = _memory_phase(browser, server, cases, links)
    except Exception as exc:  # noqa: BLE001 - reported in the results
        result["memory_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"


# Marks the end of the next script run: a counter of runs that have finished.
RUNS_DONE_JS = """
window.__runsDone = 0;
new MutationObserver(ms => { for (const m of ms) {
  if (m.target.getAttribute('data-test-script-state') === 'notRunning' && m.oldValue !== 'notRunning') window.__runsDone += 1;
}}).observe(document, {subtree: true, attributes: true, attributeOldValue: true, attributeFilter: ['data-test-script-state']});
"""


def _keep_median(row: dict[str, Any], runs_key: str, seconds_key: str, timeline_key: str) -> None:
    """From (seconds, timeline) runs: the median seconds and the timeline of the median run."""
    runs = sorted(row.pop(runs_key, []), key=lambda r: r[0])
    if runs:
        row[seconds_key] = _median([r[0] for r in runs])
        row[f"{seconds_key}_runs"] = [round(r[0], 3) for r in runs]
        row[timeline_key] = runs[(len(runs) - 1) // 2][1]


def _in_app_timings(ctx: Any, server: StreamlitServer, cases: list[PageCase],
                    links: dict[str, list[dict[str, str]]]) -> dict[str, dict[str, Any]]:
    """Navigation inside the app, from a click to the main chart drawn (chart pages).

    Each measurement starts in a new tab of the (returning) profile, so the Plotly code is
    evaluated once in it, as on a user's first chart page of a visit. Cohort outcomes and
    quality improvement: from the home page, a click on the page in the sidebar (its default,
    clinic-wide view). Client review: on the page without a client, search for the client
    and click them in the list.
    """
    ctx.add_init_script(RUNS_DONE_JS)
    out: dict[str, dict[str, Any]] = {}
    # The first pass warms the server's cache for the default views; then REPEATS measured.
    runs: dict[str, list[float]] = {}
    for case in cases * (1 + REPEATS):
        if case.ready != PLOTLY_DRAWN:
            continue
        page = ctx.new_page()
        try:
            if case.name == "client_review":
                client = links[case.name][0]["client"]
                page.goto(page_url(server.url, case, {}), timeout=60_000)
                search = page.get_by_role("textbox", name="Search by client id")
                search.wait_for(timeout=60_000)
                done = page.evaluate("window.__runsDone")
                search.fill(client)
                search.press("Enter")
                page.wait_for_function("n => window.__runsDone > n", arg=done, timeout=60_000)
                page.get_by_role("combobox", name="Client").click()
                option = page.get_by_role("option", name=client, exact=True)
                option.wait_for(timeout=60_000)
                started = time.perf_counter()
                option.click()
            else:
                page.goto(f"{server.url}/", timeout=60_000)
                page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=60_000)
                link = page.locator(f'[data-testid="stSidebarNavLink"][href$="/{case.url_path}"]')
                started = time.perf_counter()
                link.click()
            page.locator(case.ready).first.wait_for(state="visible", timeout=60_000)
            runs.setdefault(case.name, []).append(time.perf_counter() - started)
            out[case.name] = {"in_app_s": _median(runs[case.name][1:]), "in_app_runs": runs[case.name][1:],
                              "in_app_link": "search, pick the client" if case.name == "client_review"
                              else "sidebar link from Home"}
        except Exception as exc:  # noqa: BLE001 - reported in the table
            out[case.name] = {"in_app_s": None, "in_app_error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"}
        finally:
            page.close()
    return out


def _memory_phase(browser: Any, server: StreamlitServer, cases: list[PageCase],
                  links: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    """10 browser sessions open at once on mixed pages, then each follows a second deep link."""
    assert server.pid is not None
    idle = process_tree_memory_mb(server.pid)
    sampler = RssSampler(server.pid)
    sampler.start()
    sessions = []
    try:
        chart_cases = [c for c in cases if c.name != "home"] or cases
        # Two waves; in each, session i opens a different page or deep link than its neighbours.
        waves = [[(chart_cases[(i + wave) % len(chart_cases)], links_i) for i, links_i in
                  ((i, i + wave) for i in range(10))] for wave in range(2)]
        for _ in range(10):
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            sessions.append((ctx, ctx.new_page()))
        started = time.perf_counter()
        for wave in waves:
            # Issue every navigation first, then wait: the server renders all 10 at once.
            for (case, i), (_ctx, page) in zip(wave, sessions, strict=True):
                page.goto(page_url(server.url, case, links[case.name][i % 10]), wait_until="commit", timeout=60_000)
            for (case, _i), (_ctx, page) in zip(wave, sessions, strict=True):
                page.locator(case.ready).first.wait_for(state="visible", timeout=120_000)
        all_drawn_s = time.perf_counter() - started
        opened = process_tree_memory_mb(server.pid)
    finally:
        peak = sampler.stop()
        for ctx, _page in sessions:
            ctx.close()
    return {"sessions": len(sessions), "idle_mb": idle["rss"], "open_mb": opened["rss"], "peak_mb": peak["rss"],
            "idle": idle, "open": opened, "peak": peak, "both_waves_s": all_drawn_s}


def step_memory(size: str) -> dict[str, Any]:
    """The server's memory with 10 browser sessions at ``size`` (for XXL, where the browser step's
    timings are not taken): :func:`_memory_phase` on a freshly started server."""
    from playwright.sync_api import sync_playwright

    from analytics import ClinicDatabase

    cases = page_cases()
    cases += network_cases(cases)  # the chart pages at the whole network too, beside the clinics
    target = dataset_db(size)
    with ClinicDatabase(target) as db:
        links = {c.name: [c.params(db, i) for i in range(10)] for c in cases}
    log_path = DATA_DIR / f"server-{size}.log"
    log_path.unlink(missing_ok=True)
    with StreamlitServer(target, log_path=log_path, start_timeout=300) as server, sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            assert server.pid is not None
            at_start = process_tree_memory_mb(server.pid)
            memory = _memory_phase(browser, server, cases, links)
        finally:
            browser.close()
    return {"size": size, "memory_at_start_mb": at_start["rss"], "memory_at_start": at_start, "memory": memory}

