"""Caseload: the viewer's active clients, most in need first, each a link to the client review.

Thin page: every figure comes from :func:`analytics.caseload.caseload` (the viewer's scope: a
therapist's own clients, a supervisor's clinics); "now" is the data's as-of date. The counts cover
every active client; the table lists the first rows by need (the number chosen, narrowed to the
needs chosen) and says how many it holds of how many. Refused for aggregates-only roles (qi).
Columns are defined in docs/metrics.md, "Caseload".
"""

from __future__ import annotations

import streamlit as st

import ui
from analytics import data_as_of, glossary
from analytics.caseload.model import (
    DEFAULT_LIMIT,
    HOMEWORK_WEEKS,
    LIMIT_CHOICES,
    NEED_NONE,
    NEED_ORDER,
    caseload,
    caseload_table,
    column_help,
    count_tiles,
)

PAGE = "Caseload"
viewer = ui.page(PAGE, "Your active clients, most in need first: open a client's review from the list.",
                 requires="identifiers")  # aggregates-only roles (qi) are refused, and the refusal logged

as_of = ui.run(data_as_of, viewer)
if as_of is None:
    st.info("No sessions or scores are loaded for the clients you can see.", icon=":material/database:")
    st.stop()
st.caption(f"Data as of {as_of:%Y-%m-%d} (the latest session or score loaded): weeks, days and the last "
           f"{HOMEWORK_WEEKS} weeks count to it.")
NO_NEED = "No need flagged"  # how NEED_NONE reads in the need filter
tiles = st.container()  # the counts (every active client) above the list's controls
controls = st.empty()
narrow, rows = controls.container().columns([3, 1])
chosen = narrow.multiselect("Needs listed", [n or NO_NEED for n in NEED_ORDER], placeholder="Every active client",
                            key="caseload_needs", help="List only the clients whose need is one of these; the counts "
                            "above always cover every active client.")
limit = rows.selectbox("Rows listed", LIMIT_CHOICES, index=LIMIT_CHOICES.index(DEFAULT_LIMIT), key="caseload_rows",
                       format_func=lambda n: f"First {n:,} by need",
                       help="The list stops at this many clients, most in need first; the counts never do.")
needs = tuple(NEED_NONE if n == NO_NEED else n for n in chosen) or None
result = ui.run(caseload, viewer, as_of, limit=limit, needs=needs)
if result.empty:
    controls.empty()  # nothing to list or narrow
    st.info("No active client in your caseload on this date (every client you can see is discharged).",
            icon=":material/person_off:")
    st.stop()

counts = result.counts()
with tiles:
    for col, (label, value, help_text) in zip(st.columns(5), count_tiles(result), strict=True):
        col.metric(label, value, help=help_text)
    if counts["risk"]:
        st.error(f"{counts['risk']} client(s) with a risk flag are listed first: follow your clinic's risk protocol.",
                 icon=":material/warning:")

st.markdown(f"**{result.listing()}**")
if result.clients.empty:
    st.info("No active client has the needs chosen.", icon=":material/filter_alt_off:")
    st.stop()
table = caseload_table(result, show_therapist=viewer.role != "therapist")
help_texts = column_help(result)
column_config = {name: st.column_config.Column(help=text) for name, text in help_texts.items() if name in table}
column_config["Client"] = ui.client_link_column("Client", help=help_texts["Client"], pinned=True)
st.dataframe(table, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 740), placeholder="\u2014",
             column_config=column_config, key="caseload_table")
st.caption(
    f"Sorted by need: risk, reliable deterioration, not on track, measures overdue (no score in the last "
    f"{result.measure_overdue_weeks} weeks), no attended session in the last {result.no_contact_days} days, then "
    f"the rest; by client id within each. Homework: assignments set in the last {HOMEWORK_WEEKS} weeks. "
    "Change: points since the first score (which way is better is in each change column's help); \"(reliable)\": "
    "at least the measure's reliable change. The table's download (its toolbar) holds the rows listed."
)
st.page_link("pages/glossary.py", label="How the need order is decided (Metrics glossary)", icon=":material/menu_book:",
             query_params={"term": "caseload-need"}, help=glossary.help_text("caseload-need"))
