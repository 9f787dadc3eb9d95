"""20 browser sessions on mixed pages while an import swaps in a new data version.

One Chromium, 20 contexts driven concurrently with asyncio Playwright. Each session opens
its page, then keeps rerunning it (as a user pressing "r") and reads numbers that change
with the import (the update adds a few
thousand clients with their sessions, homework and scores). Every reading must be exactly
the old version's or exactly the new version's (a page rendered across the swap must not
mix them), a session that has seen the new version never sees the old one again, no page
shows an exception or error text, and the import (``python -m analytics import`` in a
subprocess) exits 0. After the import every session sees the new numbers without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from analytics import ClinicDatabase
from tests.support.browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    ERROR_TEXT,
    METRICS_JS,
    QUIET_MS,
    RUN_COUNTER,
    SETTLED,
    start_server,
    url,
)
from tests.support.clinics import ROOT, Clinic, build_sample_clinic
from tests.support.server import StreamlitServer

pytestmark = pytest.mark.browser

SESSIONS = int(os.environ.get("E2E_SESSIONS", "20"))
NEW_CLIENTS = 1500  # the update: enough rows that the import takes a few seconds
STEP_TIMEOUT_MS = 120_000  # generous: a busy CI machine
DEADLINE_S = 240  # the whole concurrent phase (generous: CI machines get busy)


# ------------------------------------------------------------------------- the update


def write_update(directory: Path, n_clients: int = NEW_CLIENTS, seed: int = 23) -> list[Path]:
    """New clients (ids N..., assignments NA...) with their sessions, homework and scores."""
    from sample_data.generator import generate_clinic, write_csv

    directory.mkdir(parents=True, exist_ok=True)
    frames = generate_clinic(n_clients=n_clients, seed=seed)
    paths = []
    for table, frame in frames.items():
        frame = frame.copy()
        frame["client_id"] = frame["client_id"].str.replace("C", "N", n=1)
        if table == "assignments":
            frame["assignment_id"] = frame["assignment_id"].str.replace("A", "NA", n=1)
        paths.append(write_csv(frame, directory / f"{table}_update.csv"))
    return paths


# ------------------------------------------------------------------------- readings


async def _metrics(page: Any, *labels: str) -> dict[str, str]:
    """The page's metrics, once every one of ``labels`` is drawn with its value."""
    await page.wait_for_function(
        """labels => {
            const shown = new Map([...document.querySelectorAll('[data-testid="stMetric"]')].map(e => [
                ((e.querySelector('[data-testid="stMetricLabel"]') || {}).textContent || '').trim(),
                ((e.querySelector('[data-testid="stMetricValue"]') || {}).textContent || '').trim()]));
            return labels.every(l => shown.get(l));
        }""",
        arg=list(labels),
        polling=100,
    )
    pairs = await page.locator('[data-testid="stMetric"]').evaluate_all(METRICS_JS)
    return {label.strip(): value.strip() for label, value in pairs}


async def _text(page: Any, pattern: str) -> re.Match[str]:
    """The main area's text matched by ``pattern``, once it is there."""
    await page.locator('[data-testid="stMain"]').get_by_text(re.compile(pattern)).first.wait_for(state="attached")
    found = re.search(pattern, await page.locator('[data-testid="stMain"]').text_content() or "")
    assert found, pattern
    return found


async def read_home(page: Any) -> tuple:
    m = await _metrics(page, "Clients", "Assignments", "Symptom scores")
    batch = await _text(page, r"Last import: batch (\d+)")
    return (m["Clients"], m["Assignments"], m["Symptom scores"], batch.group(1))


async def read_cohort(page: Any) -> tuple:
    # Three cached calls feed this view: cohort_summary (Clients, Paired clients, Mean change)
    # and cohort_report (the compliance-band caption). A run across the swap could mix them.
    m = await _metrics(page, "Clients", "Paired clients", "Mean change (points)")
    bands = await _text(page, r"Compliance bands by each client's mean homework quantity: (.*?) \(([\d,]+) clients")
    return (m["Clients"], m["Paired clients"], m["Mean change (points)"], bands.group(1), bands.group(2))


async def read_quality(page: Any) -> tuple:
    m = await _metrics(page, "Clients in treatment", "Little homework done")
    caption = await _text(page, r"Data as of [^.]*\.[^.]*\.")
    return (m["Clients in treatment"], m["Little homework done"], caption.group(0))


async def read_client(page: Any) -> tuple:
    m = await _metrics(page, "Assignments set")
    median = await _text(page, r"Programme median [^(]*\([^)]*clients[^)]*\)")
    return (m["Assignments set"], median.group(0))


async def read_data(page: Any) -> tuple:
    # The import history table (a canvas grid, the last on the page, after how current the data
    # are): its row count says how many imports there were.
    grid = page.locator('[data-testid="stDataFrame"] [role="grid"]').last
    await grid.wait_for(state="attached")
    return (await grid.get_attribute("aria-rowcount"),)


async def read_glossary(page: Any) -> tuple:
    await page.locator('[data-testid="stMain"] h3').first.wait_for()  # the first entry's heading
    return ("static",)


# Streamlit's "r" (rerun) shortcut, sent to the document whatever has the focus; returns the
# count of finished runs before it.
RERUN_JS = """() => {
  const before = window.__stDone;
  document.dispatchEvent(new KeyboardEvent('keydown', {key: 'r', code: 'KeyR', keyCode: 82, which: 82, bubbles: true}));
  document.dispatchEvent(new KeyboardEvent('keyup', {key: 'r', code: 'KeyR', keyCode: 82, which: 82, bubbles: true}));
  return before;
}"""
THINK_S = 1.0
SESSION_VIEWPORT = {"width": 1024, "height": 640}  # small: 20 pages are drawn by one machine
START_IMPORT_AFTER = 0.5  # share of the sessions with a first reading when the import starts
RERUN_START_MS = 3_000  # the app marks a rerun as requested at once


@dataclass
class Plan:
    name: str
    path: str
    params: dict[str, str]
    read: Callable[[Any], Awaitable[tuple]]


@dataclass
class Session:
    plan: Plan
    readings: list[tuple[float, tuple]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    load_s: list[float] = field(default_factory=list)
    reloads: int = 0
    phase: str = "new"
    page: Any = None


def slowest(session: Session) -> float:
    return max(session.load_s, default=0.0)


def session_plans(busy_client: str) -> list[Plan]:
    kinds = [
        Plan("home", "", {}, read_home),
        Plan("cohort", "cohort_outcomes", {}, read_cohort),
        Plan("quality", "quality_improvement", {"section": "Not on track"}, read_quality),
        Plan("client", "client_review", {"client": busy_client}, read_client),
        Plan("data", "data", {}, read_data),
        Plan("glossary", "glossary", {}, read_glossary),
    ]
    mix = [0, 1, 2, 3, 0, 1, 4, 0, 1, 3, 2, 5, 0, 1, 2, 3, 0, 1, 4, 5]  # 5 home, 5 cohort, 3 qi, 3 client, 2+2
    return [kinds[i] for i in mix[:SESSIONS]]


# ------------------------------------------------------------------------- driving


async def observe(server_url: str, page: Any, session: Session) -> None:
    """Load the page (first time) or rerun it (Streamlit's "r" shortcut), then read it."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    started = time.monotonic()
    session.phase = f"load {len(session.readings)}"
    if not session.readings:
        await page.goto(url(server_url, session.plan.path, **session.plan.params), timeout=STEP_TIMEOUT_MS)
    else:
        session.phase = f"rerun {len(session.readings)}"
        done = await page.evaluate(RERUN_JS)
        try:
            # The app marks the rerun as requested at once, then back to notRunning when done.
            await page.wait_for_function(
                """n => window.__stDone > n || document.querySelector('[data-testid="stApp"]')
                    .getAttribute('data-test-script-state') !== 'notRunning'""",
                arg=done, timeout=RERUN_START_MS, polling=50)
        except PlaywrightTimeout:
            # The shortcut was not taken (the app was not ready for it): reload instead.
            session.reloads += 1
            await page.reload(timeout=STEP_TIMEOUT_MS)
        else:
            await page.wait_for_function("n => window.__stDone > n", arg=done, timeout=STEP_TIMEOUT_MS, polling=100)
    session.phase = f"settle {len(session.readings)}"
    await page.wait_for_function(SETTLED, arg=QUIET_MS, timeout=STEP_TIMEOUT_MS, polling=100)
    session.phase = f"read {len(session.readings)}"
    if await page.locator('[data-testid="stException"]').count():
        session.errors.append("exception: " + (await page.locator('[data-testid="stException"]').first.inner_text())[:500])
    main = await page.locator('[data-testid="stMain"]').inner_text()
    found = ERROR_TEXT.search(main)
    if found:
        session.errors.append("error text: " + main[max(0, found.start() - 100): found.end() + 200])
    session.readings.append((time.monotonic(), await session.plan.read(page)))
    session.load_s.append(time.monotonic() - started)


async def failure_report(page: Any, session: Session, exc: Exception) -> str:
    """What a failed session was doing and showing: its script state, runs, URL and text (and a screenshot)."""
    state = "?"
    with contextlib.suppress(Exception):
        state = await page.evaluate(
            """() => [document.querySelector('[data-testid="stApp"]')?.getAttribute('data-test-script-state'),
                      window.__stRuns, Math.round(performance.now() - (window.__stQuiet || {last: 0}).last)]""")
    shown = "?"
    with contextlib.suppress(Exception):
        shown = (await page.locator('[data-testid="stMain"]').inner_text(timeout=5_000))[:400]
        await page.screenshot(path=str(ARTIFACTS / f"concurrency-failed-{session.plan.name}-{id(session)}.png"))
    return (f"{type(exc).__name__} after {len(session.readings)} readings in {session.phase} "
            f"(state, runs, ms since a change: {state}; url {page.url}): "
            f"{str(exc).splitlines()[0][:200]}; page text: {shown!r}")


async def deadline_report(sessions: list[Session], outcome: dict[str, Any]) -> str:
    """Where each session was stuck when the deadline passed (with screenshots), and how far the import got."""
    for i, session in enumerate(sessions):
        if session.page is not None and not session.page.is_closed():
            with contextlib.suppress(Exception):
                await session.page.screenshot(path=str(ARTIFACTS / f"concurrency-stuck-{i}.png"))
                text = await session.page.locator('[data-testid="stMain"]').inner_text()
                session.errors.append(f"stuck in {session.phase}; page text: {text[:300]!r}")
    return (
        f"not finished within {DEADLINE_S} s: import {'started' if 'import_started' in outcome else 'not started'}"
        f", {'finished' if 'returncode' in outcome else 'not finished'}; readings per session "
        f"{[len(s.readings) for s in sessions]}; slowest load {max(slowest(s) for s in sessions):.1f} s; "
        f"phases {[s.plan.name + ':' + s.phase for s in sessions]}"
    )


async def drive(server_url: str, plans: list[Plan], import_cmd: list[str]) -> tuple[list[Session], dict[str, Any]]:
    from playwright.async_api import async_playwright

    sessions = [Session(p) for p in plans]
    first_round = asyncio.Event()
    import_done = asyncio.Event()
    ready = 0
    outcome: dict[str, Any] = {}

    def one_more_ready() -> None:
        nonlocal ready
        ready += 1
        if ready >= START_IMPORT_AFTER * len(sessions):
            # Start the import while the other sessions are still drawing their first page,
            # so that page runs straddle the swap.
            first_round.set()

    async def run_session(browser: Any, session: Session) -> None:
        context = await browser.new_context(viewport=SESSION_VIEWPORT)
        context.set_default_timeout(STEP_TIMEOUT_MS)
        await context.add_init_script(RUN_COUNTER)
        counted = False
        try:
            page = await context.new_page()
            session.page = page
            await observe(server_url, page, session)
            counted = True
            one_more_ready()
            while not import_done.is_set():
                await asyncio.sleep(THINK_S)  # a user's pause between reruns, not a wait for a condition
                await observe(server_url, page, session)
            await observe(server_url, page, session)  # after the import: must be the new version
        except Exception as exc:  # noqa: BLE001 - reported by the test
            session.errors.append(await failure_report(page, session, exc))
            if not counted:
                one_more_ready()
        finally:
            if not session.errors:
                await context.close()  # a failed session's page stays open for the diagnosis

    async def run_import() -> None:
        await first_round.wait()
        started = time.monotonic()
        outcome["import_started"] = started
        proc = await asyncio.create_subprocess_exec(
            *import_cmd, cwd=str(ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        try:
            output, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            import_done.set()
        outcome.update(returncode=proc.returncode, output=output.decode(errors="replace"),
                       import_finished=time.monotonic(), import_s=time.monotonic() - started)

    async def read_references(browser: Any) -> None:
        """Each page's numbers before the import, read once by one session."""
        context = await browser.new_context(viewport=SESSION_VIEWPORT)
        context.set_default_timeout(STEP_TIMEOUT_MS)
        await context.add_init_script(RUN_COUNTER)
        try:
            page = await context.new_page()
            for plan in {p.name: p for p in plans}.values():
                reference = Session(plan)
                await observe(server_url, page, reference)
                outcome.setdefault("old", {})[plan.name] = reference.readings[0][1]
                if reference.errors:
                    outcome.setdefault("reference_errors", []).extend(reference.errors)
        finally:
            await context.close()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            await asyncio.wait_for(read_references(browser), timeout=DEADLINE_S)
            await asyncio.wait_for(
                asyncio.gather(run_import(), *(run_session(browser, s) for s in sessions)), timeout=DEADLINE_S
            )
        except TimeoutError:
            outcome["deadline"] = await deadline_report(sessions, outcome)
        finally:
            import_done.set()
            await browser.close()
    return sessions, outcome


def run_in_thread(coro_factory: Callable[[], Awaitable[Any]]) -> Any:
    """asyncio Playwright in its own thread, clear of the sync Playwright of other fixtures."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro_factory())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(DEADLINE_S + 60)
    if thread.is_alive():
        raise TimeoutError("the concurrent sessions did not finish")
    if "error" in result:
        raise result["error"]
    return result["value"]


# ------------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def swap_clinic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Clinic, list[Path]]:
    directory = tmp_path_factory.mktemp("concurrency")
    return build_sample_clinic(directory), write_update(directory / "update")


def test_twenty_sessions_see_one_version_while_an_import_swaps_it(swap_clinic):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    clinic, update = swap_clinic
    with ClinicDatabase(clinic.db_path) as db:
        old_clients = int(db.execute_sql("SELECT count(*) FROM clients").iloc[0, 0])
        busy = str(db.execute_sql(
            "SELECT client_id FROM assignments GROUP BY client_id ORDER BY count(*) DESC, client_id LIMIT 1").iloc[0, 0])
    plans = session_plans(busy)
    import_cmd = [sys.executable, "-m", "analytics", "import", "--db", str(clinic.db_path), *map(str, update)]

    server: StreamlitServer = start_server(clinic.db_path, "streamlit-concurrency.log")
    try:
        server.start()
        started = time.monotonic()
        sessions, outcome = run_in_thread(lambda: drive(server.url, plans, import_cmd))
        elapsed = time.monotonic() - started
    finally:
        server.stop()

    assert "deadline" not in outcome, outcome["deadline"] + "\n" + "\n".join(
        f"session {i} ({s.plan.name}): {e}" for i, s in enumerate(sessions) for e in s.errors)
    # The import completed, and it changed the data.
    assert outcome.get("returncode") == 0, outcome.get("output")
    with ClinicDatabase(clinic.db_path) as db:
        new_clients = int(db.execute_sql("SELECT count(*) FROM clients").iloc[0, 0])
        new_assignments = int(db.execute_sql("SELECT count(*) FROM assignments").iloc[0, 0])
    assert new_clients == old_clients + NEW_CLIENTS

    problems = [f"session {i} ({s.plan.name}): {e}" for i, s in enumerate(sessions) for e in s.errors]
    assert not problems, "\n".join(problems)

    assert not outcome.get("reference_errors"), outcome["reference_errors"]
    straddling = 0
    for name in {s.plan.name for s in sessions}:
        group = [s for s in sessions if s.plan.name == name]
        old = outcome["old"][name]  # read before the import started
        new = group[0].readings[-1][1]  # every session's last reading is after the import finished
        for s in group:
            assert s.readings[-1][1] == new, (name, s.readings[-1][1], new)
            seen_new = False
            for _, reading in s.readings:
                assert reading in (old, new), f"{name}: a page mixed versions: {reading}, old {old}, new {new}"
                if seen_new:
                    assert reading == new, f"{name}: saw the old version after the new one"
                seen_new = reading == new and reading != old
            # Page loads that were in progress at some moment of the import.
            straddling += sum(t - load <= outcome["import_finished"] and t >= outcome["import_started"]
                              for (t, _), load in zip(s.readings, s.load_s, strict=True))
        if name not in ("glossary", "client"):
            assert new != old, f"{name}: the import should have changed what the page shows"
        if name == "home":
            assert new[0] == f"{new_clients:,}" and new[1] == f"{new_assignments:,}" and new[3] == "2"
            assert old[0] == f"{old_clients:,}" and old[3] == "1"
    for name in sorted({s.plan.name for s in sessions}):
        loads = [s.load_s for s in sessions if s.plan.name == name]
        firsts = [x[0] for x in loads if x]
        rest = sorted(v for x in loads for v in x[1:])
        print(f"  {name}: first load max {max(firsts):.1f} s; later loads median "
              f"{rest[len(rest) // 2] if rest else 0:.1f} s, max {max(rest, default=0):.1f} s")
    readings = sum(len(s.readings) for s in sessions)
    print(f"{len(sessions)} sessions, {readings} page loads ({straddling} in progress while the import ran, "
          f"import {outcome['import_s']:.1f} s, slowest load {max(slowest(s) for s in sessions):.1f} s, "
          f"{sum(s.reloads for s in sessions)} reruns by reload), "
          f"{elapsed:.1f} s in all")
    assert readings >= 2 * len(sessions)
    assert straddling >= 3, "too few page loads overlapped the import to test the swap"


def test_the_update_adds_clients_that_import_cleanly(tmp_path):
    """The update export itself is valid (so the concurrency test's import exits 0 for a reason)."""
    from analytics import import_files

    paths = write_update(tmp_path / "update", n_clients=40)
    result = import_files(tmp_path / "x.duckdb", paths)
    assert result.exit_code == 0, result.report()
    assert result.per_table["clients"]["inserted"] == 40
