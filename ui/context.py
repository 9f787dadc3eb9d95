"""Database connection, cached analytics calls and the current viewer."""

from __future__ import annotations

import functools
import importlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from analytics import ClinicDatabase, DatabaseMissing, Viewer, data_version
from analytics.ingest.sample import DEFAULT_SAMPLE_DB, ensure_sample_database
from analytics.scope import AccessDenied

DB_ENV = "BETWEEN_SESSIONS_DB"
CACHE_TTL_S = 15 * 60
CACHE_MAX_ENTRIES = 256


def database_path() -> Path:
    """The clinic database: $BETWEEN_SESSIONS_DB, else the sample clinic (built on first run)."""
    configured = os.environ.get(DB_ENV)
    if configured:
        return Path(configured)
    return DEFAULT_SAMPLE_DB


# One read-only connection per process and data version. No on_release close: a session
# still rendering with the previous version keeps its reference; the connection closes
# when the last reference goes.
@st.cache_resource(max_entries=2, show_spinner=False)
def _open(path: str, version: str) -> ClinicDatabase:
    return ClinicDatabase(path)


def database() -> ClinicDatabase:
    """The data version this script run reads (see :func:`_run_pin`)."""
    path = database_path()
    pinned = _run_pin(path)
    if pinned is not None:
        return pinned
    if not path.exists() and DB_ENV not in os.environ:
        with st.spinner("Building the sample clinic (first run only)..."):
            ensure_sample_database(path)
    try:
        version = data_version(path)
    except DatabaseMissing:
        st.error(missing_database_message(path))
        st.stop()
    db = _open(str(path), str(version))
    _run_pin(path, db)
    return db


def missing_database_message(path: Path) -> str:
    """What the browser says when there is no database file. The server path only for the
    admin of local single-user mode (this computer's user); anyone else learns nothing
    about the server's folders (docs/security.md, "Import data and rejects")."""
    from .auth import auth_configured

    current = st.session_state.get("_bs_viewer")
    if isinstance(current, Viewer) and current.local_mode and current.role == "admin" and not auth_configured():
        return f"No clinic database at {path}. Import data on the Data page or set {DB_ENV}."
    return "No clinic data has been loaded yet. Ask an administrator to import the clinic's exports."


_PIN_ATTR = "_between_sessions_data_version_pin"


def _run_pin(path: Path, db: ClinicDatabase | None = None) -> ClinicDatabase | None:
    """Pin one data version per script run (issue 7: all old or all new, never a mix).

    A page makes several ``ui.run`` calls; an import can swap the file between two of them.
    The first ``database()`` call of a run pins its connection on the run's context and the
    run's later calls reuse it, so every number on the page comes from one version; the next
    run sees the new file. Streamlit gives every script run a new ``ctx.cursors`` dict
    (``ScriptRunContext.reset``), which tells one run from the next. Outside a script run
    (bare mode, the CLI) nothing is pinned. With ``db`` given, pins it; returns the pin.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return db
    if db is not None:
        setattr(ctx, _PIN_ATTR, (ctx.cursors, str(path), db))
        return db
    pin = getattr(ctx, _PIN_ATTR, None)
    if pin is not None and pin[0] is ctx.cursors and pin[1] == str(path):
        return pin[2]
    return None


def refresh_data_version() -> None:
    """Drop this run's pin: the next ``database()`` call reads the current file. For a page
    that has just written the database itself (an import) and shows the result in the same run."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is not None and hasattr(ctx, _PIN_ATTR):
        delattr(ctx, _PIN_ATTR)


def _analytics_function(module: str, name: str) -> Callable[..., Any]:
    """The analytics function a cache entry names (only ``analytics`` code is cached here)."""
    if not module.startswith("analytics"):
        raise ValueError("only analytics functions are cached here")
    return getattr(importlib.import_module(module), name)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=CACHE_MAX_ENTRIES, show_spinner=False)
def _cached_call(path: str, version: str, module: str, name: str, args: tuple, kwargs: tuple) -> Any:
    return _analytics_function(module, name)(_open(path, version), *args, **dict(kwargs))


def run(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``func(db, *args, **kwargs)`` for an analytics function, cached by data version.

    An analytics function that refuses the viewer's role (``analytics.scope.AccessDenied``,
    e.g. :meth:`Viewer.require_identifiers` for a qi viewer) gives a "not available for your
    role" message, logged as "denied", and the script stops: never a traceback.
    """
    db = database()
    try:
        return _cached_call(str(db.path), str(db.version), func.__module__, func.__name__, args,
                            tuple(sorted(kwargs.items())))
    except AccessDenied as exc:
        from .audit import log_denied

        log_denied(detail=f"{func.__name__}: {exc}")
        st.warning(f"Not available for your role: {exc}.", icon=":material/block:")
        st.stop()
        raise  # unreachable: st.stop() raised


# Figures are kept as objects (not pickled like cache_data results: unpickling a Plotly
# figure re-validates it, which costs as much as building it). Streamlit only reads a
# figure it draws (Figure.to_dict copies it), so sessions can share one.
@st.cache_resource(ttl=CACHE_TTL_S, max_entries=CACHE_MAX_ENTRIES, show_spinner=False)
def _cached_figure(path: str, version: str, module: str, name: str, key: tuple, _inputs: tuple) -> Any:
    return _analytics_function(module, name)(*_inputs)


def figure(builder: Callable[..., Any], *inputs: Any, key: tuple) -> Any:
    """``builder(*inputs)``, an analytics figure function, cached by data version and ``key``.

    ``inputs`` are not hashed (they are results of :func:`run`); ``key`` must identify them:
    pass the arguments of the :func:`run` call that produced them (viewer included), plus
    whatever picks the part of the result drawn.
    """
    db = database()
    return _cached_figure(str(db.path), str(db.version), builder.__module__, builder.__name__, key, inputs)


# Modules the chart pages need (plotly, fpdf2, scipy behind them): about 1.6 s of imports
# that the first visitor of a chart page would otherwise wait for.
WARM_UP_MODULES = (
    "analytics.client_review.model", "analytics.client_review.charts", "analytics.cohort_outcomes.model", "analytics.cohort_outcomes.charts",
    "analytics.quality_improvement.model", "analytics.quality_improvement.charts", "analytics.rendering", "analytics.quality_improvement.meeting_pack",
    "plotly.subplots",
)


@functools.cache
def warm_up_imports() -> threading.Thread:
    """Import the chart pages' modules on a background thread, once per server process.

    Called by the entry script on every run; only the first call starts the thread. A page
    that needs a module meanwhile waits on Python's per-module import lock, as it would
    have without the warm-up.
    """
    def target() -> None:
        for name in WARM_UP_MODULES:
            importlib.import_module(name)

    thread = threading.Thread(target=target, name="between-sessions-warm-up", daemon=True)
    thread.start()
    return thread


def viewer() -> Viewer:
    """Who is looking (docs/security.md).

    Local single-user mode (no ``[auth]`` in .streamlit/secrets.toml): full access, on a
    loopback address only. Sign-in mode: the signed-in user's role from the ``users`` table.
    Anyone else gets the sign-in or "no access" screen and the script stops here, so nothing
    after a ``viewer()`` call renders for them.
    """
    from .auth import resolve_viewer

    return resolve_viewer()


def leave_legacy_multipage() -> None:
    """Route a page run by Streamlit's legacy ``pages/`` mechanism through ``dashboard.py``.

    With a ``pages/`` folder beside the entry script, the *first* request a fresh server
    process gets runs Streamlit's legacy multipage path: a deep link such as
    ``/client_review?client=C1`` would execute the page file alone, without the entry's
    navigation, page config or sign-in. ``st.navigation`` clears that flag once it runs; a
    page that finds it still set clears it and reruns, so the entry script runs and
    ``st.navigation`` resolves the same URL (query parameters are kept).
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def page_header(title: str, caption: str | None = None) -> None:
    """Title, caption, the local-mode banner or the signed-in account, and the page view in
    the access log. Resolves the viewer first, so a refused visitor sees nothing of the page."""
    from .audit import audit_page_view
    from .auth import account_sidebar

    leave_legacy_multipage()
    current = viewer()
    st.title(title)
    if caption:
        st.caption(caption)
    if current.local_mode:
        st.info("Local single-user mode: this dashboard is only reachable from this computer.", icon=":material/lock:")
    account_sidebar(current)
    audit_page_view(title)
