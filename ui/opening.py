"""How every page opens: :func:`page` (title, caption, who may see it) and :func:`viewer`.

Usage at the top of a page file::

    viewer = ui.page("Client review", "One client's homework and symptoms ...", requires="identifiers")

A refused visitor (exposed local mode, not signed in, no role, or a role the page does not
allow) sees the right screen and the script stops inside :func:`page`, so nothing after it
renders for them; the refusal and every page view are written to the access log.
"""

from __future__ import annotations

from typing import Literal

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from analytics import Viewer

from .audit import audit_page_view
from .auth import account_sidebar, refuse_role, resolve_viewer

Requirement = Literal["admin", "identifiers"]


def viewer() -> Viewer:
    """Who is looking (docs/security.md).

    Local single-user mode (no ``[auth]`` in .streamlit/secrets.toml): full access, on a
    loopback address only. Sign-in mode: the signed-in user's role from the ``users`` table.
    Anyone else gets the sign-in or "no access" screen and the script stops here. The entry
    script calls it before ``st.navigation`` (a refused visitor does not see the page list);
    pages get the same viewer from :func:`page`.
    """
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
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def page(title: str, caption: str | None = None, *, requires: Requirement | None = None) -> Viewer:
    """Open a page: resolve the viewer (or stop with the sign-in / "no access" screen), refuse a
    role the page does not allow (``requires``: "admin", or "identifiers" for pages that show
    individual clients), then the title, caption, the local-mode note or the signed-in account
    (sidebar), and the page view in the access log. Returns the viewer."""
    leave_legacy_multipage()
    current = viewer()
    if requires is not None:
        refuse_role(title, requires, current)
    st.title(title)
    if caption:
        st.caption(caption)
    if current.local_mode:
        st.info("Local single-user mode: this dashboard is only reachable from this computer.", icon=":material/lock:")
    account_sidebar(current)
    audit_page_view(title)
    return current
