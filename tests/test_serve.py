"""The server's launcher (ui/serve.py, issue 12 item 4): its warm-up covers what the pages import
on a first visit, a visitor who arrives during the warm-up waits for it and gets the page, and
``python -m ui.serve`` serves the dashboard from one process. Speed is the benchmark's business
(benchmarks/step_cold_start.py); nothing here is timed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.server import ROOT, StreamlitServer, process_tree_memory_mb

# A page's first run may import this many modules of libraries the warm-up has loaded
# (a small part loaded lazily, e.g. a plotly property class); more is a lazily loaded
# part of a library (plotly's template: some 170 modules) that the warm-up must cover.
LAZY_ALLOWANCE = 5
PROJECT_PACKAGES = {"analytics", "ui", "sample_data", "dashboard", "pages"}


def _first_runs(db: Path, tmp_path: Path, cases: list[list[Any]], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    env = {**os.environ, "BETWEEN_SESSIONS_DB": str(db), "BETWEEN_SESSIONS_AUDIT_DB": str(tmp_path / "audit.duckdb")}
    done = subprocess.run([sys.executable, "-m", "tests.support.first_runs"], cwd=ROOT, env=env, text=True,
                          input=json.dumps({"cases": cases, "skip": list(skip)}), capture_output=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _page_cases(db: Path, only: tuple[str, ...] = ()) -> list[list[Any]]:
    """Every page and tab with its deep link (the benchmark's cases), run through the entry script."""
    from analytics import ClinicDatabase
    from benchmarks.step_pages import page_cases

    with ClinicDatabase(db) as clinic:
        return [[c.name, None if c.file == "dashboard.py" else c.file, c.params(clinic)]
                for c in page_cases(include_sections=True) if not only or c.name in only]


def not_covered(report: dict[str, Any]) -> list[str]:
    """What the pages' first runs imported that the warm-up did not and that is not light: a
    module of the project, a library the warm-up did not load at all, or more than
    LAZY_ALLOWANCE modules in one run. Modules of the standard library are light."""
    loaded = set(report["packages"])
    problems = []
    for page, run in report["cases"].items():
        modules = [m for m in run["new"] if m.split(".")[0] not in sys.stdlib_module_names]
        ours = [m for m in modules if m.split(".")[0] in PROJECT_PACKAGES]
        if ours:
            problems.append(f"{page}: project modules {ours}")
        libraries = sorted({m.split(".")[0] for m in modules if m.split(".")[0] not in loaded | PROJECT_PACKAGES})
        if libraries:
            problems.append(f"{page}: libraries {libraries}")
        if len(modules) > LAZY_ALLOWANCE:
            problems.append(f"{page}: {len(modules)} modules {modules}")
    return problems


def test_the_warm_up_covers_what_every_page_imports_on_a_first_visit(sample_db_path: Path, tmp_path: Path):
    """A fresh process that has run the warm-up, then a first visit of every page and tab (deep
    links on the sample clinic): no page may import a module the warm-up left out."""
    report = _first_runs(sample_db_path, tmp_path, _page_cases(sample_db_path))
    assert report["failed"] == {}, report["failed"]  # every listed module imports, the figure draws
    runs = report["cases"]
    assert {name: run["exceptions"] for name, run in runs.items() if run["exceptions"]} == {}
    # The runs really drew the pages (a page that stopped early would import less).
    assert runs["client_review"]["charts"] >= 1 and runs["cohort_outcomes"]["charts"] >= 1
    assert runs["quality_improvement"]["charts"] >= 1 and runs["home"]["titles"] == ["Between Sessions"]
    assert not_covered(report) == []


def test_the_check_names_what_the_warm_up_leaves_out(sample_db_path: Path, tmp_path: Path):
    """The same check with the PDF modules and the first figure left out of the warm-up: it names
    the project module, the library (fpdf) and plotly's figure classes the client review needs."""
    from ui.serve import FIRST_FIGURE

    report = _first_runs(sample_db_path, tmp_path, _page_cases(sample_db_path, ("client_review",)),
                         skip=("analytics.client_review.session_review", "analytics.quality_improvement.meeting_pack",
                               FIRST_FIGURE))
    assert report["cases"]["client_review"]["exceptions"] == []
    problems = not_covered(report)
    assert len(problems) == 3, problems
    assert "analytics.client_review.session_review" in problems[0]
    assert "'fpdf'" in problems[1]
    assert "plotly.graph_objs.layout.template.data._bar" in problems[2]


HOLD = """
import importlib.abc, importlib.machinery, json, sys, threading, time

import streamlit.web.bootstrap
from streamlit.testing.v1 import AppTest

import ui
from tests.support.charts import drawn_charts
from tests.support.server import ROOT
from ui import serve

HELD = "analytics.client_review.session_review"  # the client review page imports it (fpdf behind it)
inside, release, executed = threading.Event(), threading.Event(), []


class Hold(importlib.abc.MetaPathFinder):
    # The warm-up thread's import of HELD stops inside the module (holding its import lock)
    # until released.
    def find_spec(self, name, path, target=None):
        if name != HELD:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        execute = spec.loader.exec_module

        def exec_module(module):
            executed.append(threading.current_thread().name)
            inside.set()
            release.wait(600)
            execute(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, Hold())
warm = serve.warm_up()
assert inside.wait(600), "the warm-up never reached " + HELD
visit = {}


def visitor():
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=600)
    at.switch_page("pages/client_review.py")
    at.query_params["client"] = sys.argv[1]
    visit["at"] = at.run()


def waiting_for_held():
    # A thread other than the warm-up's is in Python's import of HELD, waiting for its lock:
    # _lock_unlock_module when HELD is already in sys.modules (being initialised), as here.
    for ident, frame in sys._current_frames().items():
        while ident != warm.ident and frame is not None:
            if (frame.f_code.co_name in ("_lock_unlock_module", "_find_and_load")
                    and frame.f_locals.get("name") == HELD):
                return True
            frame = frame.f_back
    return False


thread = threading.Thread(target=visitor)
thread.start()
deadline = time.monotonic() + 180  # the visit reaches the client review's imports within seconds
while thread.is_alive() and not waiting_for_held() and time.monotonic() < deadline:
    time.sleep(0.01)
waited = waiting_for_held()
release.set()
thread.join(600)
warm.join(600)
at = visit["at"]
print(json.dumps({"waited": waited, "executed": executed, "exceptions": [str(e.value)[:500] for e in at.exception],
                  "titles": [t.value for t in at.title], "charts": len(drawn_charts(at)),
                  "module": sys.modules[HELD].__name__, "warm_up_alive": warm.is_alive()}))
"""


def test_a_visitor_during_the_warm_up_waits_for_its_imports_and_gets_the_page(sample_db_path: Path, tmp_path: Path):
    """The warm-up is held inside the import of a module the client review needs; a first visit
    of the client review meanwhile waits on Python's import lock for it (no error, no second
    import), and once the warm-up goes on, gets the page with its chart."""
    client = _page_cases(sample_db_path, ("client_review",))[0][2]["client"]
    env = {**os.environ, "BETWEEN_SESSIONS_DB": str(sample_db_path),
           "BETWEEN_SESSIONS_AUDIT_DB": str(tmp_path / "audit.duckdb")}
    done = subprocess.run([sys.executable, "-c", HOLD, client], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["waited"], "the visit never waited for the module the warm-up was importing"
    assert result["executed"] == ["between-sessions-warm-up"]  # imported once, by the warm-up
    assert result["exceptions"] == [] and result["titles"] == ["Client review"] and result["charts"] == 1
    assert not result["warm_up_alive"]


def test_the_launcher_serves_the_dashboard_from_one_process_and_warms_up_in_it(tiny_db_path: Path, tmp_path: Path):
    """``python -m ui.serve`` (what scripts/run-dashboard.sh and every served test start) runs
    Streamlit's server in its own process, passes the options on, and says when its warm-up has
    imported the pages' modules, none failing."""
    log = tmp_path / "serve.log"
    with StreamlitServer(tiny_db_path, log_path=log, env={"BETWEEN_SESSIONS_AUDIT_DB": str(tmp_path / "a.duckdb")},
                         start_timeout=120) as server:
        assert server.pid is not None
        # The server answers only once the warm-up is done (its report is written before it ends).
        assert "Warm-up: the pages' modules imported in" in log.read_text(errors="replace")
        assert process_tree_memory_mb(server.pid)["processes"] == 1  # no child: Streamlit runs in the launcher
        with urllib.request.urlopen(server.url, timeout=30) as response:  # the port given on the command line
            assert response.status == 200
        deadline = time.monotonic() + 300
        while "Warm-up:" not in log.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.1)
        text = log.read_text(errors="replace")
    assert "Warm-up: the pages' modules imported in" in text, text[-2000:]
    assert "failed" not in text, text[-2000:]
    assert "Launcher:" not in text, text[-2000:]  # what it puts into Streamlit's server is in place


def test_the_server_starts_listening_only_after_the_warm_up(monkeypatch):
    """listen_after: Streamlit's Server.start (where it binds its port) waits for the warm-up thread."""
    import asyncio
    import threading

    from streamlit.web.server.server import Server

    from ui import serve

    started = []

    async def start(self):
        started.append(self)

    monkeypatch.setattr(Server, "start", start)  # restored after the test
    release = threading.Event()
    thread = threading.Thread(target=release.wait, args=(60,))
    thread.start()
    assert serve.listen_after(thread)

    async def scenario():
        task = asyncio.ensure_future(Server.start("server"))
        await asyncio.sleep(0.2)  # the loop runs on; the start does not get through
        waiting = not task.done() and started == []
        release.set()
        await asyncio.wait_for(task, 60)
        return waiting

    assert asyncio.run(scenario())
    assert started == ["server"]


def _accepted_no_delay(sock) -> int:
    """TCP_NODELAY on the socket of a connection accepted by an asyncio server on ``sock``, the
    way uvicorn serves Streamlit's pre-bound socket (``loop.create_server(sock=...)``)."""
    import asyncio
    import socket

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        seen = loop.create_future()

        class Accepted(asyncio.Protocol):
            def connection_made(self, transport):
                accepted = transport.get_extra_info("socket")
                seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await loop.create_server(Accepted, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        try:
            return await asyncio.wait_for(seen, 30)
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    return asyncio.run(scenario())


def test_the_server_answers_without_waiting_for_acknowledgements(monkeypatch):
    """no_delay: the connections Streamlit's server accepts have Nagle's algorithm off. Streamlit
    1.67 binds its socket with proto 0, so asyncio left Nagle on, and every answer after the first
    on a kept-alive connection waited some 40 ms for the browser's delayed acknowledgement (44 ms
    per static file, measured; the benchmark's figures are in docs/benchmarks.md)."""
    import socket

    from streamlit.web.server.starlette import starlette_server

    from ui import serve

    original = starlette_server._bind_socket
    monkeypatch.setattr(starlette_server, "_bind_socket", original)  # restored after the test
    assert serve.no_delay() and serve.no_delay()  # installed once, however often asked
    assert starlette_server._bind_socket.__wrapped__ is original
    sock = starlette_server._bind_socket("127.0.0.1", 0, 8)  # what the server calls to bind its port
    assert sock.proto == socket.IPPROTO_TCP and not sock.getblocking()
    assert _accepted_no_delay(sock) != 0


def test_the_page_shell_carries_plotly_js(tiny_db_path: Path, tmp_path: Path):
    """ui/shell.py through the launcher: every page's HTML (the root and a page's URL, which
    Streamlit answers with the same index.html) has the snippet before </head>, and asks for
    Streamlit's code of the chart component with the shell (modulepreload); the bundle is served
    at its hashed name, gzip-compressed when asked, cached for a year, the same bytes as the vendored
    file. Fails when a Streamlit upgrade moves the handler ui.shell wraps."""
    import gzip
    import re

    from ui import shell

    modules = shell.component_modules()  # Streamlit's components.v2 chunk and what it imports
    assert modules and modules[0].startswith("BidiComponent.") and len(modules) < 10
    with StreamlitServer(tiny_db_path, log_path=tmp_path / "serve.log",
                         env={"BETWEEN_SESSIONS_AUDIT_DB": str(tmp_path / "a.duckdb")}, start_timeout=120) as server:
        pages = {}
        for path in ("/", "/quality_improvement?clinic=A"):
            with urllib.request.urlopen(server.url + path, timeout=30) as response:
                pages[path] = response.read().decode()
        for path, html in pages.items():
            assert html.count(shell.MARKER) == 2 and html.index(shell.MARKER) < html.index("</head>"), path
            preloaded = re.findall(r'<link rel="modulepreload" crossorigin href="\./static/js/([^"]+)">',
                                   html[:html.index("</head>")])
            assert set(modules) <= set(preloaded), path
        for name in modules:  # served by Streamlit under those names
            with urllib.request.urlopen(f"{server.url}/static/js/{name}", timeout=30) as response:
                assert response.status == 200 and b"export" in response.read()
        bundle = re.search(r'<link rel="preload" as="script" href="\./([^"]+)"', pages["/"]).group(1)
        assert bundle == shell.bundle_path() and bundle.startswith("static/bs/plotly-cartesian.")
        asked = urllib.request.Request(f"{server.url}/{bundle}", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(asked, timeout=30) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert "immutable" in response.headers["Cache-Control"]
            assert response.headers["Content-Type"].startswith("text/javascript")
            assert gzip.decompress(response.read()) == shell.BUNDLE_FILE.read_bytes()
        with urllib.request.urlopen(f"{server.url}/{bundle}", timeout=30) as response:
            assert response.headers.get("Content-Encoding") is None
            assert response.read() == shell.BUNDLE_FILE.read_bytes()
