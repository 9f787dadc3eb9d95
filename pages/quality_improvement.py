"""Quality improvement: monthly trends, comparisons and not-on-track alerts for QI meetings.

De-identified by default. Thin page: every number comes from analytics.quality_improvement.model.quality_report
(through ui.run), every chart from analytics.quality_improvement.charts, the pack from analytics.quality_improvement.meeting_pack.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import streamlit as st

import ui
from analytics import active_settings, filter_options, glossary
from analytics.drill_down import DrillLink, unit_links
from analytics.expected_response import BACKTEST_NOTE, backtest_table
from analytics.privacy import MissingPseudonymKeyError
from analytics.publishing import PublishedTable
from analytics.quality_improvement.charts import activity_figure, funnel_figure, homework_figure, outcomes_figure
from analytics.quality_improvement.meeting_pack import (
    meeting_pack_html,
    meeting_pack_pdf,
    meeting_pack_zip,
    pack_file_name,
)
from analytics.quality_improvement.model import (
    ALERT_ALL,
    ALERT_GROUP_DONE,
    ALERT_GROUP_LITTLE,
    ALERT_GROUP_RISK,
    AUTO_PERIOD,
    FUNNEL_METRICS,
    OUTCOME_PERIODS,
    PERIOD_CHOICES,
    UNIT_LABELS,
    UNIT_TYPES,
    funnel_gap,
    outcome_choices,
    outcome_trend_state,
    period_kpis,
    previous_period_text,
    quality_report,
    sharing_status,
)
from ui.text import md

TABS = ("Trends", "Comparisons", "Not on track", "Meeting pack")

viewer = ui.page(
    "Quality improvement",
    "Monthly trends, comparisons across clinics, therapists and programmes, and clients not on track: "
    "for quality-improvement meetings, projected or sent round as a pack.",
    charts=True,
)
settings = active_settings()
options = ui.run(filter_options, viewer, ui.requested_values())

controls = st.columns([1.1, 1.0, 1.1, 1.4], vertical_alignment="bottom")
with controls[3]:
    if viewer.can_see_identifiers:
        deidentified = st.toggle(
            "De-identified", value=True, key="qi_deidentified",
            help="On: no client ids, therapists under pseudonyms, small numbers suppressed. "
            "Off: the identified view for supervision, with the list of clients not on track.",
        )
    else:
        deidentified = True
        st.caption(":material/shield_lock: De-identified view (your role sees aggregates only).")

filter_fields = ("clinic", "program", "concern", "homework_type", "measure")
if not deidentified:
    filter_fields = ("clinic", "therapist", *filter_fields[1:])
# De-identified reports ignore intake dates (analytics.quality_improvement.model.quality_report): no intake filter then.
cohort = ui.cohort_filter_sidebar(options, fields=filter_fields, intake=not deidentified)

# The NHS Talking Therapies paired definitions first (when both paired measures are scored),
# then each measure on its own ("per measure").
measures = outcome_choices(
    settings, [m for m in options.get("measure", []) if not cohort.measures or m in cohort.measures]
)
with controls[0]:
    period = st.selectbox("Period", list(PERIOD_CHOICES), index=1, key="qi_period",
                          help="Complete calendar months up to the report date.")
with controls[1]:
    measure = st.selectbox("Outcome measure", measures, key="qi_measure") if measures else None
with controls[2]:
    grouping = st.segmented_control(
        "Outcomes by discharge", [AUTO_PERIOD, *OUTCOME_PERIODS], default=AUTO_PERIOD, format_func=str.capitalize,
        key="qi_grouping", required=True,
        help="Auto: the finest grouping (month, quarter, 12 months) in which most periods show their rates under "
        "the small-number rules.",
    ) or AUTO_PERIOD

report_args = {"measure": measure, "months": PERIOD_CHOICES[period], "outcome_period": grouping,
               "deidentified": deidentified}
try:
    report = ui.run(quality_report, viewer, cohort, **report_args)
except MissingPseudonymKeyError:
    st.error(
        "De-identified reports need a pseudonym key for this deployment: ask the administrator to set "
        "BETWEEN_SESSIONS_PSEUDONYM_KEY.", icon=":material/key_off:",
    )
    st.stop()

if not report.has_data:
    st.info("No sessions or scores are loaded for the clients you may see yet. Import data on the Data page.")
    st.stop()

# The answer first (issue 15, item 3): the period's KPIs against the previous period and the target,
# before any chart; standing notices go to the sidebar and one expander.
kpis = period_kpis(report)
previous = previous_period_text(report)
against = f" against the previous period ({previous})" if report.previous_start else f" ({previous})"
st.markdown(f"**{report.period_start:%Y-%m} to {report.period_end:%Y-%m}**{against} · "
            f"outcome: {md(report.measure or 'none scored')}")
for column, kpi in zip(st.columns(len(kpis)) if kpis else [], kpis, strict=True):
    details = [kpi.help, f"Previous period: {kpi.previous or 'none'}."]
    if kpi.target:
        details.append(kpi.target + ".")
    column.metric(kpi.label, kpi.value, delta=kpi.delta, delta_color="normal" if kpi.higher_is_better else "inverse",
                  help=" ".join(details))
targets = [f"{k.label}: {k.target}" for k in kpis if k.target]
in_progress = "" if report.period_end == report.as_of else f" ({report.as_of:%B %Y} is in progress and left out)"
st.caption(
    " · ".join(targets + [f"Changes against the previous period. Data as of **{report.as_of:%Y-%m-%d}**{in_progress}"])
    + f". Cohort: {md(report.cohort_description)}."
)
for gap in report.outcome_gaps:
    st.caption(gap)

if report.deidentified and report.pseudonym_note:
    st.sidebar.warning(sharing_status(report), icon=":material/key:")
elif report.deidentified:
    st.sidebar.caption(f":material/shield_lock: {sharing_status(report)}")
else:
    st.warning(
        "Identified view: client identifiers, therapist ids and exact small numbers are shown. "
        "Do not project or send this view outside the care team.", icon=":material/visibility:",
    )
with st.expander("About this view: privacy, periods and filters"):
    st.caption(report.privacy_note)
    if report.pseudonym_note:
        st.caption(f":material/key: {report.pseudonym_note}")
    st.caption(report.period_choice)
    for note in report.notes:
        st.caption(note)


def chart(builder: Any, *inputs: Any, key: str, links: Callable[[Any], list[DrillLink]] | None = None) -> None:
    """A chart of this report, built once per data version and report (``ui.figure``).
    ``links`` (identified views): clicking points selects them, and the links the selection
    gives (:mod:`analytics.drill_down`) are shown right under the chart."""
    fig = ui.figure(builder, *inputs, key=(viewer, cohort, tuple(sorted(report_args.items())), key))
    if links is None:
        ui.chart(fig, key=key)
        return
    event = ui.chart(fig, key=key, on_select=True)
    for link in links(event):
        st.page_link(link.page, label=link.label, query_params=link.query_params, icon=":material/groups:")


def show_table(table: PublishedTable, *, key: str, compact: bool = False) -> None:
    """A published table with its note and a CSV download of exactly the same numbers.

    ``compact`` (beside a chart): the control-limit columns are left out on screen (they are in
    the chart's hover and in the CSV) and the download button goes under the note."""
    text = table.as_text()
    # Every de-identified table says what "<11" and "suppressed" mean (privacy.suppression_footnote).
    note = " ".join(t for t in (table.note, report.suppression_note) if t)
    if compact:
        text = text[[c.header for c in table.columns if c.kind != "limit"]]
    height = "auto" if len(text) <= 12 else 420
    st.dataframe(text, hide_index=True, width="stretch", height=height)
    csv = table.csv_bytes  # built when clicked
    mode = "deidentified" if report.deidentified else "identified"
    options = {"export_kind": f"quality_improvement_{table.name}_{mode}", "key": f"csv_{key}",
               "icon": ":material/download:"}
    if compact:
        if note:
            st.caption(note)
        ui.download_button(f"CSV: {table.title}", csv, f"{table.name}.csv", "text/csv", **options)
        return
    left, right = st.columns([4, 1], vertical_alignment="center")
    if note:
        left.caption(note)
    with right:
        ui.download_button("CSV", csv, f"{table.name}.csv", "text/csv", width="stretch",
                           help=f"Download the table as CSV: {table.title}", **options)


# Only the open tab runs (and is drawn); the open tab is in the URL (?section=...).
ui.check_choice_param("section", TABS, "section")
trends_tab, compare_tab, alerts_tab, pack_tab = st.tabs(TABS, key="section", bind="query-params")

# ----------------------------------------------------------------------------- trends
if trends_tab.open:
    with trends_tab:
        activity = report.trends_activity
        chart(activity_figure, activity, key="qi_chart_activity")
        chart(homework_figure, activity, key="qi_chart_homework")
        with st.expander(f"Table: {activity.title} ({len(activity.display)} months)"):
            show_table(activity, key="activity")
        st.caption(
            "Recent months have fewer assignments reviewed: homework set late in a month is often reviewed "
            "at the next session."
        )

        outcomes = report.trends_outcomes
        if outcomes is None:
            st.info("No client has a score on an outcome measure in this cohort yet.")
        else:
            state = outcome_trend_state(outcomes)
            if state == "none":
                st.info(f"No client finished treatment with two {report.measure} scores in this period.")
            elif state == "withheld":
                st.info(
                    f"Recovery and reliable improvement by discharge {report.outcome_period} are withheld in every "
                    "period under the small-number rules (the table below shows what can be shown). Choose a longer "
                    "grouping or period; the rates over the whole period are at the top of the page."
                )
            else:
                chart(outcomes_figure, outcomes, report.measure, key="qi_chart_outcomes")
            st.caption(report.period_choice)
            with st.expander(f"Table: {outcomes.title}"):
                show_table(outcomes, key="outcomes")

# ----------------------------------------------------------------------------- comparisons
if compare_tab.open:
    with compare_tab:
        st.subheader("Units outside the control limits")
        flags = report.flags
        if flags.empty:
            st.success("No clinic, therapist or programme is outside the 99.8% control limits on any metric.",
                       icon=":material/check_circle:")
            st.caption(flags.note)
        else:
            show_table(flags, key="flags")  # its note says how many flags chance alone would give

        st.subheader("Funnel plots")
        st.caption(glossary.caption("control-limits"))
        unit_type = st.segmented_control(
            "Compare", list(UNIT_TYPES), default="clinic", format_func=lambda u: UNIT_LABELS[u], key="qi_unit_type",
            required=True,
        ) or "clinic"
        compared = FUNNEL_METRICS
        if unit_type == "therapist" and report.therapist_note:  # too many therapists to compare
            st.info(report.therapist_note, icon=":material/groups:")
            compared = {}
        elif unit_type == "therapist" and report.deidentified:
            st.caption("Therapists appear under stable pseudonyms (keyed hashes set per deployment).")
        for metric, (label, _, _) in compared.items():
            if metric in ("recovery", "reliable_improvement") and report.measure is None:
                continue
            panel = report.funnel(unit_type, metric)
            units = panel.table.numeric.iloc[:-1]
            plotted = units["n"].notna() & units["value"].notna() & units["lower_95"].notna()
            chart_col, table_col = st.columns([5, 4])
            with chart_col:
                if not plotted.any():
                    st.markdown(f"**{label} by {UNIT_LABELS[unit_type][:-1].lower()}**")
                    st.info(funnel_gap(panel, report))
                else:
                    # Identified views: a clicked unit opens the Cohort outcomes page filtered to it.
                    drill = None if report.deidentified else functools.partial(unit_links, unit_type=unit_type,
                                                                                       identified=True)
                    chart(funnel_figure, panel, key=f"qi_funnel_{unit_type}_{metric}", links=drill)
                if plotted.any() and not plotted.all():
                    st.caption(funnel_gap(panel, report))
            with table_col:
                st.markdown(f"**{panel.table.title}**")
                show_table(panel.table, key=f"{unit_type}_{metric}", compact=True)

# ----------------------------------------------------------------------------- alerts
if alerts_tab.open:
    with alerts_tab:
        counts = report.alert_counts
        risk = counts.cell_text("rule_risk")  # the last row: every client in treatment
        st.markdown(
            f"Clients **in treatment on {report.as_of:%Y-%m-%d}** who are not on track: off track against the "
            "expected course of clients with a similar intake score (where the history is big enough; otherwise still "
            f"at caseness without reliable improvement after **{report.not_on_track_weeks} weeks**), reliably "
            "deteriorated, or with a "
            "**PHQ-9 item 9** (thoughts of self-harm) response above 0 at the latest score."
        )
        if risk not in ("", "0"):
            st.error(
                f"PHQ-9 item 9 above 0 at the latest score: {risk} client(s) in treatment. "
                + ("They are listed first below." if not report.deidentified
                   else "Their therapists and supervisors see them by name in the client review."),
                icon=":material/emergency:",
            )
        if report.alert_method:
            st.caption(report.alert_method)
        m0, m1, m2, m3 = st.columns(4)
        m0.metric("Risk: PHQ-9 item 9 above 0", counts.cell_text("clients", ALERT_GROUP_RISK),
                  help="Listed first, whatever else they meet and whatever their homework: review risk now.")
        m1.metric("Little homework done", counts.cell_text("clients", ALERT_GROUP_LITTLE),
                  help="No risk flag; homework quantity below 50% over the last 4 weeks (or none reviewed): "
                  "look at barriers.")
        m2.metric("Homework done, still not improving", counts.cell_text("clients", ALERT_GROUP_DONE),
                  help="No risk flag; homework quantity 50% or more over the last 4 weeks: review the approach.")
        m3.metric("Clients in treatment", counts.cell_text("clients", ALERT_ALL))
        show_table(counts, key="alert_counts")
        backtest = st.expander("How well does the off-track signal predict the outcome? (back-test)",
                               key="qi_backtest", on_change="rerun")
        if backtest.open:  # computed only when opened
            with backtest:
                st.dataframe(ui.run(backtest_table, viewer, report.deidentified), hide_index=True, width="stretch")
                st.caption(BACKTEST_NOTE)

        if report.alert_list is not None:
            st.subheader("Clients not on track")
            listing = report.alert_list
            if listing.empty:
                st.success("No client in treatment is flagged.", icon=":material/check_circle:")
            else:
                st.dataframe(
                    listing.as_text(), hide_index=True, width="stretch",
                    column_config={"Client review": st.column_config.LinkColumn("Client review", display_text="Open")},
                )
                left, right = st.columns([4, 1], vertical_alignment="center")
                left.caption(listing.note)
                with right:
                    ui.download_button(
                        "CSV", listing.csv_bytes, "alert_list_IDENTIFIED.csv", "text/csv",
                        help="Download the list of clients not on track as CSV (identified)",
                        export_kind="quality_improvement_alert_list_identified", key="csv_alert_list",
                        icon=":material/download:", width="stretch",
                    )
        elif viewer.can_see_identifiers:
            st.info("De-identified view shows counts only. Switch off **De-identified** to see the clients, "
                    "with links to their client review.", icon=":material/shield_lock:")
        else:
            st.info("Your role sees counts only.", icon=":material/shield_lock:")

# ----------------------------------------------------------------------------- meeting pack
if pack_tab.open:
    with pack_tab:
        st.markdown(
            "A pack for the meeting, with the same numbers as this page: the trends, the funnel plots, the units "
            "outside the limits and the not-on-track counts, after a one-page summary of this period against the "
            f"previous one. **{sharing_status(report)}**"
        )
        b1, b2, b3 = st.columns(3)
        mode = "deidentified" if report.deidentified else "identified"
        # The files are built when clicked (deferred): the PDF needs a few seconds for the chart images.
        for column, label, build, extension, mime, icon in (
            (b1, "PDF (A4 landscape)", meeting_pack_pdf, "pdf", "application/pdf", ":material/picture_as_pdf:"),
            (b2, "HTML (interactive, self-contained)", meeting_pack_html, "html", "text/html", ":material/html:"),
            (b3, "CSV of every table (zip)", meeting_pack_zip, "zip", "application/zip", ":material/folder_zip:"),
        ):
            name = pack_file_name(report, extension)
            with column:
                ui.download_button(label, functools.partial(build, report), name, mime,
                                   export_kind=f"quality_improvement_pack_{mode}", key=f"qi_pack_{extension}",
                                   icon=icon, width="stretch")
        st.caption("The PDF takes a few seconds to prepare (chart images). Definitions: Metrics glossary.")
