"""The one way the dashboard's server starts: ``python -m ui.serve [streamlit run options]``.

Streamlit runs page scripts inside the server process, and a module already in
``sys.modules`` is not imported again by a script run. What the pages import (scipy behind
the statistics, fpdf behind the PDF exports, plotly's figure classes, the analytics page
packages and their charts) costs seconds the first time; paid by a script run, it is the
first visitor of a server process who waits for it. This launcher starts importing those
modules on a background thread (:func:`warm_up`) and then runs Streamlit's own command line,
``streamlit run dashboard.py [options]``, in the same process. (``python -m ui.serve`` imports
the ``ui`` package itself first, in the main thread: pandas, DuckDB and the analytics core,
before the server starts.)

The server starts listening only once the warm-up is done (:func:`listen_after`: Streamlit's
``Server.start`` first joins the warm-up thread; Streamlit's own start-up runs beside the
warm-up). Before issue 12 item 4 it answered while the warm-up went on, and the first visitor
of a fresh server waited for the imports inside their page load (first chart 7-8.6 s at L). The
trade-off, said plainly: ``/_stcore/health`` now answers later (by the rest of the warm-up,
some seconds; benchmarks.md "Cold server start" has the numbers), and during that time a
connection is refused rather than served slowly; in exchange the first visitor is served like
any other. A visitor who still gets in during a warm-up (a module imported by a page but not
listed here) waits on Python's per-module import lock for it (each module is imported once, by
whichever thread gets there first) and gets the same page.

The launcher also puts plotly.js into Streamlit's page shell (ui/shell.py, :func:`main`), and
turns Nagle's algorithm off on the server's connections (:func:`no_delay`): with Streamlit 1.67's
own server every answer after the first on a kept-alive connection waited about 40 ms.

scripts/run-dashboard.sh, the tests' and the benchmark's servers (tests/support/server.py)
all start the server this way. ``WARM_UP_MODULES`` (with :func:`first_figure`) is the one list
of what is warmed up; tests/test_serve.py fails when a page's first visit imports a project
module, a library, or more than a few modules, that the warm-up did not.
"""

from __future__ import annotations

import functools
import importlib
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENTRY_SCRIPT = Path(__file__).resolve().parent.parent / "dashboard.py"
THREAD_NAME = "between-sessions-warm-up"

# What a first visit imports, found with ``python -X importtime`` on the first run of every
# page and tab (tests/test_serve.py checks it covers them all), in the order a visit needs them.
WARM_UP_MODULES = (
    # Imported by library code during a first visit, not by an import statement of ours: first,
    # so they are done before a visitor can arrive (the server answers after they have started).
    "streamlit.web.skills",  # a new session
    "streamlit.runtime.scriptrunner.magic_funcs",  # a first script run
    "streamlit.material_icon_names",  # st.Page icons
    "streamlit.dataframe.lazy_df_adapters",  # st.dataframe in a served session
    "pyarrow.pandas_compat",  # st.dataframe's pandas -> Arrow conversion
    "pyarrow.vendored.version",
    "narwhals._pandas_like.namespace",  # plotly reading pandas columns
    "narwhals.stable.v1._namespace",
    "narwhals._interchange.dataframe",
    "pandas.core.methods.to_dict",
    "pandas.io.formats.csvs",  # the CSV downloads
    "plotly.colors",  # a heatmap's colour scale
    "plotly.subplots",
    # The entry script (dashboard.py: every visit runs it first), then the pages.
    "ui",
    "analytics.data.model",
    "analytics.caseload.model",  # the client review and QI models, analytics.statistics (scipy)
    "analytics.client_review.model",
    "analytics.client_review.charts",
    "analytics.client_review.tables",
    "analytics.client_review.session_review",  # analytics.rendering: fpdf
    "analytics.deidentified",
    "analytics.cohort_outcomes.model",
    "analytics.cohort_outcomes.charts",
    "analytics.cohort_outcomes.sudden_gain_summary",
    "analytics.quality_improvement.model",
    "analytics.quality_improvement.charts",
    "analytics.quality_improvement.meeting_pack",
    "analytics.glossary",
    "analytics.access",
    "analytics.audit",
)
FIRST_FIGURE = "first figure"  # the name run_warm_up reports a failure of first_figure() under

_lock = threading.Lock()
_thread: threading.Thread | None = None


def first_figure() -> str:
    """Draw one small figure the way the pages do: the theme's layout on subplots, with the
    trace types and parts the pages use, from pandas columns, serialised as
    :func:`ui.charts.chart` sends it. Plotly loads its figure classes on first use: the
    theme's template alone brings in some 170 modules, which the first chart of a server
    process would otherwise import."""
    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from analytics import theme
    from ui.charts import figure_json

    rows = pd.DataFrame({"x": [0.0, 1.0], "y": [1.0, 2.0], "label": ["a", "b"]})
    fig = make_subplots(rows=1, cols=3, subplot_titles=("a", "b", "c"))
    fig.add_trace(go.Scatter(x=rows["x"], y=rows["y"], mode="lines+markers+text", text=rows["label"],
                             textfont=theme.font(), line={"dash": "dot"}, customdata=np.column_stack([rows["y"]]),
                             error_x={"array": rows["x"]}, error_y={"array": rows["y"]}), row=1, col=1)
    fig.add_trace(go.Bar(x=rows["label"], y=rows["y"]), row=1, col=2)
    fig.add_trace(go.Heatmap(z=[[1, 2]], text=[["1", "2"]], texttemplate="%{text}", textfont=theme.font(),
                             colorbar={"title": {"text": "n"}}), row=1, col=3)
    theme.apply_layout(fig, title={"text": "warm-up", "font": theme.font()},
                       legend={"title": {"text": "legend"}},
                       xaxis={"title": {"text": "x", "font": theme.font()}}, yaxis={"title": {"text": "y"}})
    rows.to_dict("records")
    return figure_json(fig)


def run_warm_up(names: tuple[str, ...] | list[str] = WARM_UP_MODULES, *, figure: bool = True) -> dict[str, str]:
    """Import ``names`` in order, then draw :func:`first_figure` (unless ``figure`` is false);
    returns what failed, with the error. A failure is not fatal here: the page that needs the
    module raises the same error where it is seen."""
    failed = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported, and raised again by the page that needs it
            failed[name] = f"{type(exc).__name__}: {exc}"
    if figure:
        try:
            first_figure()
        except Exception as exc:  # noqa: BLE001 - as above
            failed[FIRST_FIGURE] = f"{type(exc).__name__}: {exc}"
    try:
        from analytics.db import engine_name

        if engine_name() == "spark":  # the JVM and the Spark session: some 6 s, not in a visitor's wait
            from analytics.spark_engine import spark_session

            started = time.perf_counter()
            spark_session()
            print(f"Warm-up: the Spark session started in {time.perf_counter() - started:.2f} s", file=sys.stderr,
                  flush=True)
    except Exception as exc:  # noqa: BLE001 - as above
        failed["spark_session"] = f"{type(exc).__name__}: {exc}"
    return failed


def warm_up(names: tuple[str, ...] | list[str] = WARM_UP_MODULES) -> threading.Thread:
    """Start :func:`run_warm_up` on a daemon thread, once per process; the thread is returned
    (the same one on every later call). Says on stderr when it is done and how long it took."""
    global _thread
    with _lock:
        if _thread is None:
            def target() -> None:
                started = time.perf_counter()
                from ui import shell

                shell.compressed()  # the plotly.js bundle as the page shell serves it
                failed = run_warm_up(names)
                for name, error in failed.items():
                    print(f"Warm-up: {name} failed: {error}", file=sys.stderr, flush=True)
                print(f"Warm-up: the pages' modules imported in {time.perf_counter() - started:.2f} s"
                      + (f" ({len(failed)} failed)" if failed else ""), file=sys.stderr, flush=True)

            _thread = threading.Thread(target=target, name=THREAD_NAME, daemon=True)
            _thread.start()
        return _thread


def listen_after(thread: threading.Thread) -> bool:
    """Make Streamlit's server wait for ``thread`` (the warm-up) before it starts listening: its
    ``Server.start`` first joins the thread (in an executor, off the event loop). Streamlit's own
    start-up (config, the runtime) still runs beside the warm-up. False when Streamlit's
    ``Server`` has no ``start`` to wrap (the caller then joins the thread itself)."""
    try:
        from streamlit.web.server.server import Server

        original = Server.start
    except (ImportError, AttributeError):
        return False
    if getattr(original, "__bs_waits__", False):
        return True

    async def start(self: Any) -> None:
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        await original(self)

    start.__bs_waits__ = True  # type: ignore[attr-defined]
    Server.start = start  # type: ignore[method-assign]
    return True


_BIND_MODULE = "streamlit.web.server.starlette.starlette_server"
_BIND_NAME = "_bind_socket"


def tcp_socket(sock: socket.socket) -> socket.socket:
    """``sock`` (a listening TCP socket) as a socket whose protocol says TCP, and with Nagle's
    algorithm off.

    Streamlit 1.67 binds its listening socket itself, ``socket.socket(family)``, whose ``proto``
    is 0; the sockets it accepts inherit that, and asyncio turns on ``TCP_NODELAY`` only for
    sockets whose ``proto`` is ``IPPROTO_TCP``. Left on, Nagle's algorithm holds the second
    write of an answer (Streamlit writes the headers and the body apart) until the browser
    acknowledges the first, which a browser delays by up to 40 ms: 44 ms for each static file,
    health check or chunk after the first on a kept-alive connection, measured on this machine,
    against under 5 ms with this (the same problem as uvicorn issue #3149). A new visitor's
    browser fetches some 100 files over 6 connections. The descriptor is kept (and with it the
    binding); the new object reads its protocol from it."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
        return sock
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # Linux passes it to accepted sockets
    if sock.proto == socket.IPPROTO_TCP:
        return sock
    tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    tcp.setblocking(False)
    tcp.set_inheritable(True)
    return tcp


def wrap_once(module_name: str, name: str, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> bool:
    """Replace the function ``name`` of the Streamlit module ``module_name`` by
    ``wrapper(original)`` (before the server starts; once per process, however often asked).
    False when a Streamlit upgrade removed it: the caller says so, and the app runs without."""
    try:
        module = importlib.import_module(module_name)
        original = getattr(module, name)
    except (ImportError, AttributeError):
        return False
    if getattr(original, "__bs_wrapped__", False):
        return True
    wrapped = functools.wraps(original)(wrapper(original))
    wrapped.__bs_wrapped__ = True  # type: ignore[attr-defined]
    setattr(module, name, wrapped)
    return True


def no_delay() -> bool:
    """Make Streamlit's server bind its socket through :func:`tcp_socket`. False when Streamlit
    no longer binds the socket with the function this wraps (the launcher then says so; pages
    still work, each answer just waits longer)."""
    return wrap_once(_BIND_MODULE, _BIND_NAME,
                     lambda original: lambda *args, **kwargs: tcp_socket(original(*args, **kwargs)))


def main(argv: list[str] | None = None) -> None:
    """``streamlit run dashboard.py *argv`` in this process: the warm-up started first, plotly.js
    put into the page shell (ui/shell.py), and the server listening only once the warm-up is
    done. Ends the process (click's SystemExit) with Streamlit's exit status."""
    import streamlit.web.bootstrap  # noqa: F401 - the server's own modules, before the thread starts
    from streamlit.web import cli

    from ui import shell

    if not no_delay():
        print("Launcher: Streamlit's server no longer binds its socket with "
              f"{_BIND_MODULE}.{_BIND_NAME}; Nagle's algorithm stays on (see ui/serve.py)", file=sys.stderr, flush=True)
    if not shell.install():
        print("Launcher: Streamlit's static-file handler was not found; the charts load plotly.js "
              "themselves (see ui/shell.py)", file=sys.stderr, flush=True)
    thread = warm_up()
    if not listen_after(thread):
        thread.join()
    args = sys.argv[1:] if argv is None else argv
    cli.main(["run", str(ENTRY_SCRIPT), *args], prog_name="streamlit")


if __name__ == "__main__":
    # Run as ``python -m ui.serve``: call the ``ui.serve`` module itself (not this ``__main__``
    # copy of it), so the warm-up thread is the one ``ui.serve.warm_up()`` returns.
    from ui import serve

    serve.main()
