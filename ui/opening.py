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

from analytics import Viewer, active_settings, data_as_of, data_staleness

from .audit import audit_page_view
from .auth import account_sidebar, refuse_role, resolve_viewer
from .charts import preload as preload_charts
from .context import run
from .session import today

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


def page(title: str, caption: str | None = None, *, requires: Requirement | None = None,
         charts: bool = False) -> Viewer:
    """Open a page: resolve the viewer (or stop with the sign-in / "no access" screen), refuse a
    role the page does not allow (``requires``: "admin", or "identifiers" for pages that show
    individual clients), then the title, caption, the local-mode note or the signed-in account
    (sidebar), and the page view in the access log. Returns the viewer. ``charts``: the page
    draws charts (:func:`ui.chart`): the browser starts loading plotly.js now, while the
    page's queries run, not when the first chart arrives."""
    leave_legacy_multipage()
    current = viewer()
    if requires is not None:
        refuse_role(title, requires, current)
    if charts:
        preload_charts()
    narrow_screen_sidebar()
    st.title(title)
    if caption:
        st.caption(caption)
    account_sidebar(current)  # standing notices (local mode, who is signed in) live in the sidebar
    freshness_sidebar(current)
    audit_page_view(title)
    return current


def freshness_sidebar(current: Viewer) -> None:
    """The one "as of" date every page counts to (the data's, :func:`analytics.data_as_of`),
    in the sidebar, with a warning when the data are older than ``Settings.stale_data_days``."""
    freshness = data_staleness(run(data_as_of, current), today(), active_settings())
    with st.sidebar:
        if freshness is None:
            st.caption(":material/database: No sessions or scores loaded yet.")
            return
        deidentified = not current.can_see_identifiers
        st.caption(f":material/event: {freshness.caption(deidentified)}")
        if (warning := freshness.warning(deidentified)) is not None:
            st.warning(warning, icon=":material/update:")


# On a narrow window (a laptop split screen, a tablet) the sidebar starts closed, once per
# browser tab, so the page's first screen is the page; the user can open it again (and it then
# stays as they left it). Streamlit's own "auto" state closes it only below 768 px.
_NARROW_SIDEBAR_SCRIPT = """<script>
(() => {
  const doc = window.parent.document;
  const win = window.parent;
  if (win.innerWidth > 1000 || win.sessionStorage.getItem("bs-sidebar-auto-closed")) return;
  win.sessionStorage.setItem("bs-sidebar-auto-closed", "1");
  const close = () => {
    const button = doc.querySelector('[data-testid="stSidebarCollapseButton"] button');
    if (button) { button.click(); return true; }
    return false;
  };
  if (!close()) { let tries = 0; const t = setInterval(() => { if (close() || ++tries > 40) clearInterval(t); }, 50); }
})();
</script>"""


def narrow_screen_sidebar() -> None:
    """Close the sidebar on a window 1,000 px wide or less (see ``_NARROW_SIDEBAR_SCRIPT``)."""
    st.sidebar.html(_NARROW_SIDEBAR_SCRIPT, unsafe_allow_javascript=True, width="content")
