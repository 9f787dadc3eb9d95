"""Data access: the clinic database (one read-only connection per process and data version),
cached analytics calls and figures."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from analytics import ClinicDatabase, DatabaseMissing, current_data_version, open_database
from analytics.ingest.sample import ensure_sample_database
from analytics.scope import AccessDenied

from .audit import log_denied
from .session import DB_ENV, auth_configured, database_path, session_viewer

CACHE_TTL_S = 15 * 60
CACHE_MAX_ENTRIES = 256


# One read-only connection per process and data version (on the engine BETWEEN_SESSIONS_ENGINE
# names: the DuckDB file, or its Parquet snapshot on Spark). No on_release close: a session
# still rendering with the previous version keeps its reference; the connection closes
# when the last reference goes.
@st.cache_resource(max_entries=2, show_spinner=False)
def _open(path: str, version: str) -> ClinicDatabase:
    return open_database(path)


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
        version = current_data_version(path)
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
    current = session_viewer()
    if current is not None and current.local_mode and current.role == "admin" and not auth_configured():
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
