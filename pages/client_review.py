"""Client review: one client's homework and symptoms over time, ready for the next session.

Thin page: it gathers the selection, calls analytics through ``ui.run`` and renders. Every
number comes from :mod:`analytics.client_review` (one client's rows only); the session-review
export prints the same figures (:mod:`analytics.rendering`). ``?client=ID`` opens a client and
the URL follows the selection.
"""

from __future__ import annotations

from functools import partial

import streamlit as st

import ui
from analytics import CohortFilter, data_as_of, filter_options, theme
from analytics.client_review.charts import client_figure
from analytics.client_review.model import (
    ASSOCIATION_NOTE,
    EDGE_STATES,
    NOT_FOUND_MESSAGE,
    RECENT_WEEKS,
    SEARCH_LIMIT,
    SHORT_CHECKLIST_LABELS,
    SUDDEN_GAIN_NOTE,
    TRACK_NOTE,
    assignment_rows,
    assignments_csv,
    client_review,
    contact_gap,
    find_clients,
    format_percent,
    header_facts,
    period_rows,
    programme_homework,
    scores_csv,
    since_rows,
    sudden_gain_rows,
)
from analytics.client_review.session_review import (
    export_file_name,
    measure_line,
    session_review_html,
    session_review_pdf,
    track_line,
)
from analytics.client_review.tables import PAIR_COLUMNS, SCORE_COLUMNS, SESSION_COLUMNS, WEEKLY_COLUMNS
from analytics.config import DESIGN_CHECKLIST_LABELS
from analytics.publishing import table_csv
from ui.tables import show_table
from ui.text import md

SELECT_KEY = "client_review_client"
OPEN_KEY = "client_review_open"
SEARCH_KEY = "client_search"
LINK_PARAM = "client"

PAGE = "Client review"
viewer = ui.page(PAGE, "One client's homework and symptoms over time, ready for the next session.",
                 requires="identifiers", charts=True)  # aggregates-only roles (qi) are refused, and the refusal logged

# Weeks and "recent" periods count to the data's date, not the wall clock (issue 15 item 8).
as_of = ui.run(data_as_of, viewer)
if as_of is None:
    st.info("No sessions or scores are loaded yet: import data on the Data page.", icon=":material/database:")
    st.stop()
options = ui.run(filter_options, viewer, ui.requested_values())
cohort = ui.cohort_filter_sidebar(options, fields=("clinic", "therapist", "program"), intake=False)
search_cohort = CohortFilter(clinics=cohort.clinics, therapists=cohort.therapists, programs=cohort.programs)

# ----------------------------------------------------------------------------- choosing the client
# The open client lives in its own session key, set by the deep link on the first run and by
# the user's pick (on_change), never by widget bookkeeping: a rerun that reaches the page while
# an import swaps the data must not lose the client (tests/browser/test_concurrency.py).
link_id = st.query_params.get(LINK_PARAM) or None
if OPEN_KEY not in st.session_state:
    st.session_state[OPEN_KEY] = st.session_state.get(SELECT_KEY) or link_id  # first run: the deep link decides
wanted = st.session_state[OPEN_KEY]
review = ui.run(client_review, viewer, wanted, as_of) if wanted else None
link_review = review if link_id == wanted else (ui.run(client_review, viewer, link_id, as_of) if link_id else None)
if wanted and review is None:
    st.session_state[OPEN_KEY] = None
st.session_state[SELECT_KEY] = st.session_state[OPEN_KEY]  # the picker shows the open client


def _picked() -> None:
    st.session_state[OPEN_KEY] = st.session_state.get(SELECT_KEY)

search_col, pick_col = st.columns([1, 2])
with search_col:
    search = st.text_input("Search by client id", key=SEARCH_KEY, placeholder="e.g. C0001",
                           help="Part of the id; narrow the list with clinic, therapist and programme in the sidebar.")
matches = ui.run(find_clients, viewer, search_cohort, search, SEARCH_LIMIT)
ids = list(matches["client_id"])
selected_id = st.session_state[OPEN_KEY]
if selected_id and selected_id not in ids:
    ids.insert(0, selected_id)  # keep the open client selectable whatever the filters
total = int(matches["total_matches"].iloc[0]) if len(matches) else 0
with pick_col:
    st.selectbox(  # its pick reaches OPEN_KEY through _picked
        "Client", ids, index=None, key=SELECT_KEY, placeholder="Choose a client", on_change=_picked,
        help=f"Clients you can see that match the search (the first {SEARCH_LIMIT} are listed).",
    )
chosen = st.session_state[OPEN_KEY]
if total > len(matches):
    st.caption(f"Showing the first {len(matches):,} of {total:,} matching clients: type more of the id to narrow.")
elif total == 0:
    st.caption("No client you can see matches this search and these filters.")

if chosen:
    st.query_params[LINK_PARAM] = chosen
    if chosen != wanted:
        review = ui.run(client_review, viewer, chosen, as_of)
elif link_id and link_review is not None:
    del st.query_params[LINK_PARAM]  # selection cleared: the URL follows

if not chosen or review is None:
    if link_id and link_review is None:
        ui.log_not_found(link_id)  # unknown and out-of-scope ids read (and are logged) the same
        st.warning(NOT_FOUND_MESSAGE, icon=":material/person_search:")
    else:
        st.info("Choose a client to see their homework and symptom scores over time.", icon=":material/person:")
    st.stop()

ui.log_client_view(review.client_id)
header = review.header
programme = ui.run(programme_homework, viewer, header["program"])

# ----------------------------------------------------------------------------- header
st.subheader(f"Client {md(review.client_id)}")
if review.risk is not None:
    st.error(review.risk.message, icon=":material/warning:")
elif review.risk_items_missing:
    st.warning("The latest PHQ-9 has no item scores: item 9 (thoughts of self-harm) could not be checked.",
               icon=":material/help:")
if (gap := contact_gap(review)) is not None:
    st.warning(gap, icon=":material/phone_missed:")

# What changed, in one line per measure, then the chart: the answer on the first screen.
changes = [md(measure_line(card)) for card in review.cards] + ([md(track_line(review))] if track_line(review) else [])
if changes:
    st.markdown("  \n".join(changes))
# ----------------------------------------------------------------------------- chart
fig = ui.figure(client_figure, review, key=(viewer, review.client_id, as_of))
if fig is None:
    st.info("Nothing to chart yet: no scores, homework or sessions are recorded for this client.")
else:
    ui.chart(fig, key="client_chart")
    st.caption(
        "Shaded bands: severity (darker = more severe); dashed grey line: caseness; light blue band and dashed line: "
        "the usual range and the expected score of clients with the same intake score; orange rings: off-track "
        "scores; vermillion rings: PHQ-9 item 9 above 0; green stars: sudden gains; hollow markers: follow-up scores "
        "after discharge. Homework is counted in the week it was set; week 0 starts on the intake date."
    )
    with st.expander("The numbers in the chart"):
        scores_tab, weekly_tab, sessions_tab = st.tabs(["Scores", "Weekly homework", "Sessions"])
        with scores_tab:
            show_table(review.scores, SCORE_COLUMNS)
        with weekly_tab:
            show_table(review.weekly, WEEKLY_COLUMNS)
            weekly_name = export_file_name(review.client_id, as_of, "csv", "weekly-homework")
            ui.download_button("Weekly homework (CSV)", partial(table_csv, review.weekly, WEEKLY_COLUMNS), weekly_name,
                               "text/csv", export_kind="client_weekly_csv", client_id=review.client_id, key="dl_weekly")
        with sessions_tab:
            show_table(review.sessions, SESSION_COLUMNS)

# ----------------------------------------------------------------------------- details
st.subheader("Details")
facts = header_facts(header)
with st.container(border=True):
    for row in (facts[:4], facts[4:]):
        for col, (label, value) in zip(st.columns(4), row, strict=True):
            col.caption(label)
            col.markdown(f"**{md(value)}**")
st.caption(f"Data as of {as_of:%Y-%m-%d} (the latest session or score loaded): weeks and recent periods count to it.")
if header["next_session_date"] is not None:
    st.caption(f"Next session scheduled: {header['next_session_date']:%Y-%m-%d}.")

# Latest scores per measure, with band, change since the first score and badges.
if review.cards:
    for col, card in zip(st.columns(max(len(review.cards), 2)), review.cards, strict=False):
        with col.container(border=True):
            st.metric(
                f"{card['measure']}: {card['kind'].lower()} ({card['date']})",
                card["score"],
                delta=None if card["change_value"] is None else int(card["change_value"]),
                delta_description="points since the first score" if card["change_value"] is not None else None,
                delta_color="normal" if card.get("better_text") == "higher is better" else "inverse",
                help=f"{(card.get('better_text') or 'lower is better').capitalize()}. "
                f"{(card.get('caseness_text') or '').capitalize()}. First score: {card['first']}.",
            )
            badges = st.container(horizontal=True, gap="small")
            if card["band"]:
                badges.badge(card["band"], color=theme.BADGE_NEUTRAL)
            for label, colour in card["badges"]:
                badges.badge(label, color=colour)
            st.caption(f"First score {card['first']}; {card['n_scores']} score(s) in all.")
            if card["follow_up_note"]:
                st.caption(card["follow_up_note"])
for state in ("no_scores", "single_score", "follow_up_only", "screening_only"):
    if state in review.states:
        st.info(EDGE_STATES[state], icon=":material/info:")

# ----------------------------------------------------------------------------- expected course
assessed = [t for t in review.tracks if t.status in ("on_track", "off_track")]
if review.tracks:
    st.subheader("Against the expected course")
    homework = {h["measure"]: h for h in review.track_homework}
    for col, track in zip(st.columns(max(len(assessed), 2)), assessed, strict=False):
        with col.container(border=True):
            colour = theme.BADGE_OFF_TRACK if track.status == "off_track" else theme.BADGE_BETTER
            st.markdown(f":{colour}[**{md(track.measure)}: {md(track.label)}**]")
            st.caption(track.message)
            if track.measure in homework:
                h = homework[track.measure]
                st.markdown(f"**Homework in weeks {h['first_week']}\u2013{h['last_week']}:** {h['assignments']} set, "
                            f"{h['reviewed']} reviewed, quantity {format_percent(h['quantity'])}, quality "
                            f"{format_percent(h['quality'])}.")
                st.markdown(f"**{h['text']}**")
    for track in review.tracks:
        if track not in assessed:
            st.caption(track.message)
    st.caption(TRACK_NOTE)

# ----------------------------------------------------------------------------- since last session
st.subheader("Since last session")
since = review.since_last_session
if since["session_date"] is None:
    st.info("No session recorded yet.", icon=":material/event:")
else:
    status = "attended" if since["attended"] else "missed"
    st.caption(f"Recorded on or after the last session, {since['session_date']:%Y-%m-%d} ({status}).")
    st.dataframe(since_rows(review), hide_index=True, width="stretch")

# ----------------------------------------------------------------------------- homework summary
st.subheader("Homework summary")
if "no_homework" in review.states:
    st.info(EDGE_STATES["no_homework"], icon=":material/info:")
else:
    if "none_reviewed" in review.states:
        st.info(EDGE_STATES["none_reviewed"], icon=":material/info:")
    overall = review.overall
    q_col, l_col, n_col = st.columns(3)
    shown = programme["shown"]
    q_col.metric("Quantity (how much was done)", format_percent(overall["quantity"]),
                 help="Mean over the client's reviewed assignments of the share done (0-100%).")
    q_col.caption(f"Programme median {format_percent(programme['median_quantity'])} "
                  f"({programme['clients_with_quantity']:,} clients, {md(programme['program'])})" if shown
                  else "Programme median: too few clients to show.")
    l_col.metric("Quality (how well)", format_percent(overall["quality"]),
                 help="Mean over the client's rated assignments of the quality rating (0-4 as 0-100%).")
    l_col.caption(f"Programme median {format_percent(programme['median_quality'])} "
                  f"({programme['clients_with_quality']:,} clients)" if shown
                  else "Programme median: too few clients to show.")
    n_col.metric("Assignments set", f"{overall['assignments']}")
    n_col.caption(f"{overall['reviewed']} reviewed ({format_percent(review.reviewed_share)} reviewed share), "
                  f"{overall['quality_rated']} rated for quality. Treatment window: intake to discharge.")
    after = review.follow_up_homework
    if after.get("assignments"):
        st.caption(f"Follow-up homework (set after discharge, not counted above): {after['assignments']} set, "
                   f"{after['reviewed']} reviewed, quantity {format_percent(after['quantity'])}.")

    left, right = st.columns(2)
    with left:
        st.markdown(f"**Last {RECENT_WEEKS} weeks against the weeks before**")
        st.dataframe(period_rows(review), hide_index=True, width="stretch")
        st.markdown("**Completion by homework type**")
        by_type = review.by_type.assign(
            homework_type=review.by_type["homework_type"].str.replace("_", " "),
            quantity=[format_percent(v) for v in review.by_type["quantity"]],
            quality=[format_percent(v) for v in review.by_type["quality"]],
        )[["homework_type", "assignments", "reviewed", "quantity", "quality"]]
        st.dataframe(by_type, hide_index=True, width="stretch",
                     column_config={"homework_type": "Type", "assignments": "Set", "reviewed": "Reviewed",
                                    "quantity": "Quantity", "quality": "Quality"})
    with right:
        st.markdown("**Design-checklist items most often missing**")
        missing = review.checklist_missing
        st.dataframe(
            missing.assign(missing_pct=missing["missing_share"] * 100)[["label", "missing", "assignments", "missing_pct"]],
            hide_index=True, width="stretch",
            column_config={
                "label": "Item", "missing": "Missing", "assignments": "Of",
                "missing_pct": st.column_config.ProgressColumn("Share missing", format="%.0f%%", min_value=0,
                                                               max_value=100),
            },
        )
        st.caption("Missing = not met or not recorded for that assignment.")
        st.markdown("**Homework and the score change over the same interval**")
        for association in review.associations:
            if association.shown:
                st.markdown(association.message)
            else:
                st.caption(association.message)
        if any(a.shown for a in review.associations):
            st.caption(ASSOCIATION_NOTE)
            with st.expander("Weeks and score intervals used"):
                for association in review.associations:
                    if association.shown:
                        st.markdown(f"**{association.measure}**")
                        show_table(association.pairs, PAIR_COLUMNS)

st.subheader("Sudden gains")
if review.sudden_gains.empty:
    st.caption("No sudden gain in this client's scores so far. " + SUDDEN_GAIN_NOTE)
else:
    st.dataframe(sudden_gain_rows(review), hide_index=True, width="stretch")
    st.caption(SUDDEN_GAIN_NOTE)

# ----------------------------------------------------------------------------- assignments
st.subheader("Assignments")
if review.assignments.empty:
    st.info(EDGE_STATES["no_homework"], icon=":material/info:")
else:
    checklist_columns = {
        DESIGN_CHECKLIST_LABELS[k]: st.column_config.TextColumn(short.capitalize(), help=DESIGN_CHECKLIST_LABELS[k])
        for k, short in SHORT_CHECKLIST_LABELS.items()
    }
    st.dataframe(
        assignment_rows(review.assignments, free_text=review.free_text), hide_index=True, width="stretch",
        column_config={
            **checklist_columns,
            "Week": st.column_config.NumberColumn("Week", help="Weeks since intake of the assigned date", width="small"),
            "Practices done": st.column_config.TextColumn("Practices", help="Completed of planned practices"),
            "Description": st.column_config.TextColumn("Description", width="large"),
        },
    )
    st.caption(
        "Checklist: \u2713 met, \u2717 not met, ? not recorded. Quantity: share of the assignment done; "
        "quality: how well it was done."
        + ("" if review.free_text else " Descriptions (free text) are not shown for your role.")
    )

# ----------------------------------------------------------------------------- exports
st.subheader("Session-review export")
st.caption("A one-page PDF (header, chart, summary and the last weeks' assignments) or the same as a "
           "self-contained HTML file; CSV files hold every score and assignment.")
exports = (
    ("Session review (PDF)", "session_review_pdf", export_file_name(review.client_id, as_of, "pdf"), "application/pdf",
     ":material/picture_as_pdf:", lambda: session_review_pdf(review, programme)),
    ("Session review (HTML)", "session_review_html", export_file_name(review.client_id, as_of, "html"), "text/html",
     ":material/html:", lambda: session_review_html(review, programme)),
    ("Scores (CSV)", "client_scores_csv", export_file_name(review.client_id, as_of, "csv", "scores"), "text/csv",
     ":material/download:", lambda: scores_csv(review)),
    ("Assignments (CSV)", "client_assignments_csv", export_file_name(review.client_id, as_of, "csv", "assignments"),
     "text/csv", ":material/download:", lambda: assignments_csv(review)),
)
with st.container(horizontal=True, gap="small"):
    for label, kind, file_name, mime, icon, make in exports:
        ui.download_button(label, make, file_name, mime, export_kind=kind, client_id=review.client_id,
                           icon=icon, key=f"dl_{kind}")
