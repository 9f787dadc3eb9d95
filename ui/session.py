"""The bottom layer of ``ui/``: where the clinic database is, what a session remembers about
its viewer and page, and whether sign-in is configured. Imports nothing else from ``ui/``.

Layers (each imports only those below it): ``session`` -> ``text`` -> ``audit`` (the access
log) -> ``context`` (data access and caching) -> ``auth`` (sign-in, roles, the local-mode
guard) -> ``filters`` -> ``opening`` (how every page opens: ``ui.page``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit import config as st_config

from analytics import Viewer
from analytics.ingest.sample import DEFAULT_SAMPLE_DB

DB_ENV = "BETWEEN_SESSIONS_DB"
TODAY_ENV = "BETWEEN_SESSIONS_TODAY"  # pins "today" (YYYY-MM-DD): demos, screenshots, tests
# session_state keys (underscore: not widgets)
VIEWER_KEY = "_bs_viewer"  # the resolved Viewer of this session (set by auth.resolve_viewer)
PAGE_KEY = "_bs_page"  # the title of the page being shown (set by ui.page)


def database_path() -> Path:
    """The clinic database: $BETWEEN_SESSIONS_DB, else the sample clinic (built on first run)."""
    configured = os.environ.get(DB_ENV)
    if configured:
        return Path(configured)
    return DEFAULT_SAMPLE_DB


def today() -> date:
    """The date the app treats as today: $BETWEEN_SESSIONS_TODAY when set (so screenshots and
    tests do not change with the calendar), else the wall clock. Only the staleness warning
    uses it; every figure counts to the data's as-of date."""
    pinned = os.environ.get(TODAY_ENV)
    return date.fromisoformat(pinned) if pinned else date.today()


def session_viewer() -> Viewer | None:
    """The viewer this session was resolved to (None before sign-in)."""
    viewer = st.session_state.get(VIEWER_KEY)
    return viewer if isinstance(viewer, Viewer) else None


def current_page() -> str | None:
    """The title of the page being shown."""
    return st.session_state.get(PAGE_KEY)


def _secrets_files_present() -> bool:
    for path in st_config.get_option("secrets.files") or []:
        if Path(path).exists():
            return True
    return False


def auth_section() -> Mapping[str, Any] | None:
    """The ``[auth]`` section of the secrets, None when sign-in is not configured.

    Raises RuntimeError when a secrets file exists but cannot be read: the app must not
    fall back to full-access local mode because the sign-in configuration is broken.
    """
    secrets = st.secrets
    if not secrets.load_if_toml_exists():
        if _secrets_files_present():
            raise RuntimeError("the secrets file exists but cannot be read (check its TOML syntax)")
        return None
    if "auth" not in secrets:
        return None
    section = secrets["auth"]
    return section if isinstance(section, Mapping) else {}


def auth_configured() -> bool:
    """True when ``[auth]`` is configured (sign-in mode). A broken secrets file counts as
    configured, so the app fails closed (sign-in required, which then explains the error)."""
    try:
        return auth_section() is not None
    except RuntimeError:
        return True


