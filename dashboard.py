"""Between Sessions: homework and outcomes dashboard. Run: bash scripts/run-dashboard.sh (python -m ui.serve)."""

from __future__ import annotations

import streamlit as st

import ui
from analytics import data_as_of
from analytics.caseload.model import caseload, count_tiles
from analytics.data.model import data_overview, overview_figures

st.set_page_config(page_title="Between Sessions", page_icon=":material/insights:", layout="wide")
current_viewer = ui.viewer()  # refuses an exposed local mode; sign-in and "no access" gate


def home() -> None:
    viewer = ui.page(
        "Between Sessions",
        "How homework between sessions relates to symptom change, for a client, a caseload, a programme or a clinic.",
    )
    if viewer.can_see_identifiers:
        caseload_first(viewer)
    overview = ui.run(data_overview, viewer)
    figures = overview_figures(overview, viewer)  # de-identified viewers: small counts suppressed
    for col, (label, text) in zip(st.columns(len(figures["counts"])), figures["counts"], strict=True):
        col.metric(label, text)
    if figures["dates"]:
        st.write(figures["dates"])
    last = overview["last_import"]
    if last and "rows_inserted" not in last:  # import details are for admins (analytics.data.model)
        st.write(f"Last import: batch {last['batch_id']} at {last['finished_at']:%Y-%m-%d %H:%M} UTC.")
    elif last:
        outcome = "every row imported" if not last["rows_rejected"] and not last["files_refused"] else (
            f"{last['rows_rejected']:,} rows rejected, {last['files_refused']} files refused"
        )
        st.write(
            f"Last import: batch {last['batch_id']} at {last['finished_at']:%Y-%m-%d %H:%M} UTC: "
            f"{last['rows_inserted']:,} inserted, {last['rows_updated']:,} updated, "
            f"{last['rows_unchanged']:,} unchanged; {outcome}."
        )
    else:
        st.write("No import has run yet.")

    st.subheader("Where to go")
    a, b, c = st.columns(3)
    with a:
        st.markdown("**Therapists** preparing a session")
        if current_viewer.can_see_identifiers:
            st.page_link("pages/caseload.py", label="Caseload: your active clients by need", icon=":material/patient_list:")
        st.page_link("pages/client_review.py", label="Client review", icon=":material/person:")
    with b:
        st.markdown("**Supervisors** reviewing a caseload or cohort")
        st.page_link("pages/cohort_outcomes.py", label="Cohort outcomes", icon=":material/groups:")
    with c:
        st.markdown("**Quality-improvement meetings** (de-identified)")
        st.page_link("pages/quality_improvement.py", label="Quality improvement", icon=":material/trending_up:")
    st.page_link("pages/data.py", label="Import data and see import history", icon=":material/upload:")
    st.page_link("pages/glossary.py", label="Metrics glossary: how every number is defined", icon=":material/menu_book:")
    st.caption(
        "All relations shown here are correlational: they do not show that homework caused a change, "
        "and nothing here says why one client did or did not improve."
    )


def caseload_first(viewer) -> None:
    """Identified viewers (therapists, supervisors, admins) see their caseload's needs first."""
    as_of = ui.run(data_as_of, viewer)
    if as_of is None:
        return
    result = ui.run(caseload, viewer, as_of, limit=0)  # the counts only: no client row is needed here
    scope = {"therapist": "Your caseload", "supervisor": "Your clinics' caseload"}.get(viewer.role, "Caseload")
    st.subheader(f"{scope} on {as_of:%Y-%m-%d}")
    for col, (label, value, help_text) in zip(st.columns(5), count_tiles(result), strict=True):
        col.metric(label, value, help=help_text)
    st.page_link("pages/caseload.py", label="Open the caseload: active clients by need, each linked to their review",
                 icon=":material/patient_list:")
    st.subheader("What is loaded")


pages = [
    st.Page(home, title="Home", icon=":material/home:", default=True),
    *([st.Page("pages/caseload.py", title="Caseload", icon=":material/patient_list:")]
      if current_viewer.can_see_identifiers else []),  # client-level: not for aggregates-only roles (qi)
    st.Page("pages/client_review.py", title="Client review", icon=":material/person:"),
    st.Page("pages/cohort_outcomes.py", title="Cohort outcomes", icon=":material/groups:"),
    st.Page("pages/quality_improvement.py", title="Quality improvement", icon=":material/trending_up:"),
    st.Page("pages/data.py", title="Data", icon=":material/upload:"),
    st.Page("pages/glossary.py", title="Metrics glossary", icon=":material/menu_book:"),
]
if current_viewer.role == "admin":
    pages += [
        st.Page("pages/admin_users.py", title="Users and roles", icon=":material/manage_accounts:"),
        st.Page("pages/admin_audit.py", title="Access log", icon=":material/policy:"),
    ]
st.navigation(pages).run()
