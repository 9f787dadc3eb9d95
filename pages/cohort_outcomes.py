"""Cohort outcomes: how homework quantity and quality relate to symptom change across a cohort.

Thin page: settings and widgets here; every number comes from analytics.cohort_outcomes.model /
analytics.metrics through ui.run (cached by data version); figures from analytics.cohort_outcomes.charts.
The cohort filters, the measure, the scatter's compliance measure and the open tab live in the
URL, so a link reproduces the view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

import ui
from analytics import active_settings, glossary
from analytics import deidentified as deid
from analytics.cohort_outcomes import charts as charts
from analytics.cohort_outcomes import model as co
from analytics.cohort_outcomes.sudden_gain_summary import GAIN_CAVEAT, sudden_gain_summary
from analytics.drill_down import MAX_SELECTED_LINKS, DrillLink, client_links
from analytics.metrics import cohort_summary
from analytics.privacy import MissingPseudonymKeyError
from analytics.publishing import Column, estimate_columns, table_csv
from ui.tables import show_table

TABS = (
    "Trajectories",
    "Compliance and change",
    "Outcomes by band",
    "Quantity by quality",
    "Assignment design",
    "Within-client",
    "Follow-up",
    "Clinical significance",
    "Sudden gains",
)


@dataclass(frozen=True)
class CohortView:
    """What every section of the identified page draws from: the settings of the view and its report."""

    viewer: Any
    cohort: Any
    measure: str
    measures: tuple[str, ...]
    settings: Any
    report: co.CohortReport
    summary: dict | None = None

    @property
    def key(self) -> tuple:
        """The arguments of the ``ui.run`` calls behind the figures (their cache key)."""
        return (self.viewer, self.cohort, self.measure, self.settings)


PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}



def chart_with_table(figure: tuple, frame: pd.DataFrame, columns: Sequence[Column], name: str, key: tuple,
                     ratio: tuple[int, int] = (3, 2), links: Callable[[Any], list[DrillLink]] | None = None) -> None:
    """The chart (``figure`` = (builder, *inputs), built once per data version and ``key``: the
    arguments of the ``ui.run`` call behind the inputs), beside it its table, and a CSV of the
    same numbers. ``links`` (identified views): clicking points selects them, and the links the
    selection gives (:mod:`analytics.drill_down`) are shown right under the chart."""
    builder, *inputs = figure
    note = co.note_column(frame)
    left, right = st.columns(ratio, gap="medium")
    with left:
        fig = ui.figure(builder, *inputs, key=(*key, name))
        if links is None:
            ui.chart(fig, key=f"chart_{name}", config=PLOTLY_CONFIG)
        else:
            event = ui.chart(fig, key=f"chart_{name}", config=PLOTLY_CONFIG, on_select=True)
            shown = links(event)
            for link in shown:
                st.page_link(link.page, label=link.label, query_params=link.query_params, icon=":material/person:")
            if not shown:
                st.caption("Click a client's point to open their review (up to "
                           f"{MAX_SELECTED_LINKS} links for several points).")
    with right:
        show_table(frame, columns, extra=note, height=min(420, 38 + 35 * len(frame)))
        ui.download_button(
            "Download CSV",
            partial(table_csv, frame, columns, extra=note),
            f"cohort_{name}.csv",
            "text/csv",
            export_kind=f"cohort_{name}",
            icon=":material/download:",
            key=f"csv_{name}",
        )


def caveat() -> None:
    st.caption(f":material/info: {co.CAVEAT}")


# The cohort filters in the sidebar, without "Measure": the page has one measure control, the
# "Measure" segmented control above the analyses (issue 15 item 12).
SIDEBAR_FIELDS = tuple(param for param, _, _ in ui.filters.FILTER_FIELDS if param != "measure")


def measure_choices(options: dict[str, list[str]], settings) -> list[str]:
    return list(settings.ordered_measures(options.get("measure", [])))


def measure_control(measures: list[str], linked: tuple[str, ...]) -> str:
    """The page's one measure control. A link's ``measure`` (the cohort filter of other pages)
    chooses the first measure when the link has no ``outcome_measure``."""
    ui.check_choice_param("outcome_measure", measures, "measure")
    default = next((m for m in linked if m in measures), measures[0])
    if (without_scores := [m for m in linked if m not in measures]) and "outcome_measure" not in st.query_params:
        st.info(ui.filters.no_scores_note(without_scores, default), icon=":material/info:")
    return st.segmented_control(
        "Measure", measures, default=default, required=True, key="outcome_measure", bind="query-params",
        help="The symptom measure every figure on this page uses.",
    ) or default


def lead(view: CohortView) -> None:
    """The page's answer first: how homework quantity relates to change, with its n."""
    report, measure, settings, key = view.report, view.measure, view.settings, view.key
    relation = report.relations["quantity"]
    st.subheader(f"Homework and {measure} change")
    text_col, chart_col = st.columns([2, 3], gap="medium")
    with text_col:
        r = relation.pearson
        st.metric(f"Quantity and {measure} change: r", co.TOO_FEW if relation.too_few else f"{r.r:.2f}", border=True,
                  help="Pearson r of each paired client's mean homework quantity with their change (last - first).")
        st.caption(f"n = {relation.n:,} paired clients with a quantity"
                   + ("" if relation.too_few else f" · 95% CI {r.ci_low:.2f} to {r.ci_high:.2f}"))
        st.markdown(co.relation_lead(relation, measure, settings))
    with chart_col:
        if report.band_change["too_few"].all():
            st.info(f"{co.TOO_FEW.capitalize()} in every band for a mean change.")
        else:
            ui.chart(ui.figure(charts.band_change_chart, report.band_change, measure, report.band_labels,
                               key=(*key, "lead")),
                     key="chart_lead", config=PLOTLY_CONFIG)
            st.caption("Mean change by compliance band (n in each bar); details, tables and CSVs in the tabs below.")


def headline(summary: dict, measure: str, report: co.CohortReport, settings) -> None:
    figures = co.headline_figures(summary, measure, report, settings)
    for row in (figures[i:i + 4] for i in range(0, len(figures), 4)):
        for col, figure in zip(st.columns(4), row, strict=False):
            with col:
                withheld = figure.display == co.TOO_FEW
                st.metric(figure.label, "—" if withheld else figure.display, border=True)
                st.caption((f"**{co.TOO_FEW}** (need {settings.min_clients_for_statistic}) · " if withheld else "")
                           + f"n = {figure.n:,} {figure.n_label}")
    counts = report.band_counts
    parts = " · ".join(f"{b}: {n:,}" for b, n in zip(counts["band"], counts["clients"], strict=True))
    st.caption(
        f"Compliance bands by each client's mean homework quantity: {parts} "
        f"({report.clients_with_quantity:,} clients with reviewed homework; clients without have no band, and "
        f"{report.clients_below_min_reviewed:,} with fewer than {report.min_reviewed_for_band} reviewed assignments "
        f"are left out of every band). "
        + ("Unreviewed homework counts as not done (setting unreviewed_as_not_done). "
           if settings.unreviewed_as_not_done else "Unreviewed homework is left out of quantity. ")
        + ("" if report.reviewed_share is None else f"Reviewed share: {report.reviewed_share:.0%} of assignments "
           "(client mean). ")
        + ("Higher scores are better: a positive change is an improvement."
           if co.measure_higher_is_better(measure, settings) else "Lower scores are better: a negative change is an improvement.")
        + " Rates marked *per measure* use this measure alone; the NHS paired rates use both paired measures "
        "(the national 50% recovery standard applies to those)."
    )


# ----------------------------------------------------------------------------- sections


def trajectories_tab(view: CohortView) -> None:
    report, measure, key = view.report, view.measure, view.key
    st.subheader(f"{measure} by week since intake, by compliance band")
    traj = report.trajectories
    if traj.empty or traj["too_few"].all():
        st.info(f"{co.TOO_FEW.capitalize()}: no week has {report.min_clients} or more clients with a band and a {measure} score.")
    else:
        chart_with_table(
            (charts.trajectory_chart, traj, measure, report.band_labels),
            traj,
            [Column("band", "Band", "text"), Column("week", "Week", "count"), Column("n_clients", "n", "count"),
             *estimate_columns("mean_score", "Mean")],
            "trajectories",
            key,
        )
    st.caption(
        f"Mean of clients' {measure} scores in each week since intake (scores in treatment; a client's scores in one week "
        f"are averaged first), with 95% confidence ribbons. Points with fewer than {report.min_clients} clients are hidden. "
        "Clients leave the curves as they finish treatment, so later weeks describe fewer, different clients."
    )
    caveat()


def compliance_tab(view: CohortView) -> None:
    report, measure, settings, key = view.report, view.measure, view.settings, view.key
    st.subheader(f"Homework compliance against {measure} change")
    ui.check_choice_param("compliance", ["Quantity", "Quality"], "compliance measure")
    choice = (st.segmented_control(
        "Compliance measure", ["Quantity", "Quality"], default="Quantity", required=True,
        key="compliance", bind="query-params",
    ) or "Quantity").lower()
    relation = report.relations[choice]
    r, rho = relation.pearson, relation.spearman
    a, b, c = st.columns(3)
    if relation.too_few:
        a.metric("Pearson r", co.TOO_FEW, border=True)
        b.metric("Spearman's rho", co.TOO_FEW, border=True)
        c.metric("Slope", co.TOO_FEW, border=True)
        a.caption(f"n = {relation.n:,} paired clients with a {choice} value (need {relation.min_n})")
    else:
        a.metric("Pearson r", f"{r.r:.2f}", border=True, help=glossary.help_text("correlation-r"))
        a.caption(f"95% CI {r.ci_low:.2f} to {r.ci_high:.2f} (Fisher z) · n = {r.n:,}",
                  help=glossary.help_text("fisher-z-interval"))
        b.metric("Spearman's rho", f"{rho.r:.2f}", border=True)
        b.caption(f"95% CI {rho.ci_low:.2f} to {rho.ci_high:.2f} · n = {rho.n:,}")
        c.metric("Fitted slope", f"{relation.slope / 10:+.2f} points", border=True)
        c.caption(f"{measure} change per 10 percentage points more {choice} · n = {relation.n:,}")
    adj = report.adjusted.get(choice)
    if adj is not None and not adj.too_few:
        d, e = st.columns([1, 2])
        d.metric("Adjusted r", f"{adj.partial_r:.2f}", border=True)
        d.caption(f"95% CI {adj.ci_low:.2f} to {adj.ci_high:.2f} · n = {adj.n:,}")
        e.caption(
            f"Partial r of {choice} with {measure} change, holding the first score (baseline severity) and the weeks "
            f"between the first and last score (time in treatment) constant. Clients who stay longer do more homework "
            f"(r = {adj.r_weeks:.2f} with weeks) and change more, which inflates the unadjusted r. Regression: "
            f"{adj.slope / 10:+.2f} points per 10 percentage points more {choice} (95% CI {adj.slope_ci_low / 10:+.2f} "
            f"to {adj.slope_ci_high / 10:+.2f})."
        )
    if relation.bins is not None:
        density_tab(view, relation, choice)
    elif relation.points.empty:
        st.info(f"No paired clients with a {choice} value in this cohort.")
    else:
        spec = [Column("band", "Band", "text"), Column(choice, choice.capitalize(), "pct"), Column("change", "Change", "number", decimals=1)]
        if view.viewer.can_see_identifiers:
            spec.insert(0, Column("client_id", "Client", "client"))  # a link to the client's review
        chart_with_table(
            (charts.compliance_scatter, relation.points, choice, measure, report.band_labels, relation.slope, relation.intercept),
            relation.points,
            spec,
            f"{choice}_vs_change",
            key,
            links=partial(client_links, identified=True) if view.viewer.can_see_identifiers else None,
        )
    st.markdown("##### Beside the published yardsticks")
    st.markdown(co.relation_scale_text(measure, settings))
    chart_with_table(
        (charts.comparison_chart, report.comparison),
        report.comparison.assign(too_few=report.comparison["r"].isna()),
        [Column("source", "Source", "text"), Column("relation", "Relation", "text"), Column("published", "Published", "text"),
         *estimate_columns("r", "r with change", "number", decimals=2), Column("n", "n", "count")],
        "yardsticks",
        key,
        ratio=(1, 1),
    )
    caveat()


def density_tab(view: CohortView, relation: co.ComplianceRelation, choice: str) -> None:
    """A large cohort's compliance against change: a 2-D histogram (SQL bins), its table and CSV;
    identified viewers can still download one row per client, built only when they click."""
    measure, key = view.measure, view.key
    bins = relation.bins
    chart_with_table(
        (charts.compliance_density, bins, choice, measure, relation.slope, relation.intercept),
        bins,
        [Column("x_low", f"{choice.capitalize()} from", "pct"), Column("x_high", "to", "pct"),
         Column("change_low", "Change from", "number", decimals=0), Column("change_high", "to", "number", decimals=0),
         Column("clients", "Clients", "count")],
        f"{choice}_vs_change_bins",
        key,
    )
    st.caption(f"{relation.n:,} paired clients: more than {co.MAX_SCATTER_POINTS:,}, so each square counts the clients "
               f"in a bin of {co.COMPLIANCE_BIN_WIDTH:.0%} {choice} by {co.CHANGE_BIN_WIDTH:.0f} points of change "
               "(darker = more clients). Narrow the cohort in the sidebar to see one point per client.")
    if view.viewer.can_see_identifiers:
        spec = [Column("client_id", "Client", "client"), Column("band", "Band", "text"),
                Column("value", choice.capitalize(), "pct"), Column("change", "Change", "number", decimals=1)]
        db = ui.database()

        def client_rows() -> bytes | str:
            points = co.compliance_points(db, view.viewer, view.cohort, measure, view.settings, max_points=None)
            return table_csv(points[points["compliance"] == choice], spec)

        ui.download_button("Download one row per client (CSV)", client_rows, f"cohort_{choice}_vs_change.csv",
                           "text/csv", export_kind=f"cohort_{choice}_vs_change", icon=":material/download:",
                           key=f"csv_{choice}_clients")


def bands_tab(view: CohortView) -> None:
    report, measure, settings, key = view.report, view.measure, view.settings, view.key
    effect = report.band_effect
    whole = report.relations["quantity"].pearson
    st.subheader(f"Extreme-groups effect size: {effect.high_band} against {effect.low_band} band")
    a, b = st.columns([1, 2])
    if effect.too_few:
        a.metric("Hedges' g", co.TOO_FEW, border=True)
        b.info(effect.sentence)
    else:
        e = effect.effect
        a.metric("Hedges' g", f"{e.g:+.2f}", border=True, help=glossary.help_text("hedges-g"))
        a.caption(f"95% CI {e.ci_low:+.2f} to {e.ci_high:+.2f} · n = {e.n_a:,} and {e.n_b:,}")
        b.markdown(f"**{effect.sentence}**")
        b.caption(
            f"g is the difference in mean {measure} change (high band − low band) in pooled-SD units: "
            f"{co.band_effect_sign_text(measure, settings)}. It compares the extreme groups only (the middle band is left out), so it "
            "looks larger than a whole-cohort correlation"
            + (f" (its r equivalent {effect.r_equivalent:.2f} against the whole-cohort r {whole.r:.2f}, n = {whole.n:,})"
               if whole.r is not None and effect.r_equivalent is not None else "")
            + ": compare the yardsticks with the whole-cohort r under Compliance and change. Cohen's U3 assumes "
            "normal distributions with equal spread; the counted share is "
            + (f"{effect.u3_empirical:.0%} against U3 {effect.u3:.0%}." if effect.u3_empirical is not None else "not available.")
        )
        b.caption(glossary.caption("hedges-g", "cohens-u3"))
    if report.band_change["too_few"].all():
        st.info(f"{co.TOO_FEW.capitalize()} in every band for a mean change.")
    else:
        chart_with_table(
            (charts.band_change_chart, report.band_change, measure, report.band_labels),
            report.band_change,
            [Column("band", "Band", "text"), Column("n", "n", "count"), *estimate_columns("mean_change", "Mean change")],
            "change_by_band",
            key,
        )
    st.subheader("Outcome rates by band")
    rates = report.outcome_rates
    if rates["too_few"].all():
        st.info(f"{co.TOO_FEW.capitalize()}: no band has {report.min_clients} or more paired clients.")
    else:
        chart_with_table(
            (charts.outcome_rates_chart, rates, report.band_labels),
            rates,
            [Column("band", "Band", "text"), Column("outcome", "Outcome", "text"), Column("count", "Clients", "count"),
             Column("denominator", "Of", "count"), *estimate_columns("rate", "Rate", "pct")],
            "outcome_rates",
            key,
        )
    st.caption(
        "Recovery: at caseness at the first score and not at the last, out of paired clients at caseness at the first "
        f"score. Reliable improvement / deterioration: a change of at least the measure's reliable-change points, out of "
        f"paired clients. Wilson 95% intervals. The 'All clients' rows equal the headline figures. Rates with fewer than "
        f"{report.min_clients} clients in the denominator are withheld."
    )
    count_columns = (Column("band", "Band", "text"), Column("clients", "Clients with a quantity", "count"), Column("scored", f"Scored on {measure}", "count"),
         Column("paired", "Paired", "count"),
    )
    st.markdown("##### Clients per band")
    show_table(report.band_counts, count_columns, extra=co.note_column(report.band_counts))
    st.caption(f"Not banded: {report.clients_below_min_reviewed:,} clients with a quantity from fewer than "
               f"{report.min_reviewed_for_band} reviewed assignments (setting min_reviewed_for_band).")
    caveat()


def grid_tab(view: CohortView) -> None:
    report, measure, key = view.report, view.measure, view.key
    split = report.grid.attrs.get("split", co.QUANTITY_QUALITY_SPLIT)
    st.subheader("Quantity by quality")
    if report.grid["n"].sum() == 0:
        st.info("No paired clients with both a quantity and a quality value.")
        return
    chart_with_table(
        (charts.quantity_quality_chart, report.grid, measure),
        report.grid,
        [Column("quantity", "Quantity", "text"), Column("quality", "Quality", "text"), Column("n", "n", "count"),
         *estimate_columns("mean_change", "Mean change"),
         Column("recovered", "Recovered", "count"), Column("caseness_at_first", "At caseness", "count"), Column("recovery_rate", "Recovery", "pct"),
         Column("recovery_ci_low", "Recovery CI low", "pct"), Column("recovery_ci_high", "Recovery CI high", "pct")],
        "quantity_by_quality",
        key,
        ratio=(1, 1),
    )
    st.caption(
        f"High = the client's mean fraction is at least {split:.0%} (quantity: at least half of the homework done; "
        f"quality: rated at least 'adequately', 2 of 4, on average). Paired clients with both values; mean {measure} "
        "change with a 95% t interval, recovery rate with a Wilson interval."
    )
    caveat()


def design_tab(view: CohortView) -> None:
    viewer, cohort, settings, key = view.viewer, view.cohort, view.settings, view.key
    design = ui.run(co.assignment_design, viewer, cohort, settings)
    st.subheader("Completion by how many design-checklist items were met")
    if design.items_met["too_few"].all():
        st.info(f"{co.TOO_FEW.capitalize()}: no group of assignments comes from {settings.min_clients_for_statistic} or more clients.")
        return
    chart_with_table(
        (charts.items_met_chart, design.items_met),
        design.items_met,
        [Column("items_met", "Items met", "count"), Column("reviewed_assignments", "Reviewed", "count"), Column("n_clients", "Clients", "count"),
         Column("mean_quantity", "Completion", "pct"), Column("quantity_ci_low", "95% CI low", "pct"), Column("quantity_ci_high", "95% CI high", "pct")],
        "completion_by_items_met",
        key,
    )
    st.subheader("Completion with each checklist item met or not")
    chart_with_table(
        (charts.checklist_items_chart, design.items),
        design.items,
        [Column("item", "Item", "text"), Column("reviewed_met", "Reviewed (met)", "count"), Column("completion_met", "Completion (met)", "pct"),
         Column("reviewed_not_met", "Reviewed (not met)", "count"), Column("completion_not_met", "Completion (not met)", "pct"),
         Column("difference", "Difference", "pct")],
        "completion_by_item",
        key,
    )
    st.subheader("Completion and quality by homework type")
    chart_with_table(
        (charts.homework_type_chart, design.types),
        design.types,
        [Column("label", "Type", "text"), Column("reviewed_assignments", "Reviewed", "count"), Column("n_clients", "Clients", "count"),
         Column("mean_quantity", "Completion", "pct"), Column("quantity_ci_low", "CI low", "pct"), Column("quantity_ci_high", "CI high", "pct"),
         Column("quality_rated", "Quality rated", "count"), Column("mean_quality", "Quality", "pct"),
         Column("quality_ci_low", "Quality CI low", "pct"), Column("quality_ci_high", "Quality CI high", "pct")],
        "homework_types",
        key,
    )
    st.caption(
        "Completion = mean quantity fraction of reviewed assignments; quality = mean quality fraction of quality-rated ones. "
        "Assignment-level means with cluster-robust 95% intervals (by client: one client's assignments are alike, so they "
        "are not treated as independent). Therapists who design homework thoroughly may differ in other ways too. "
        f"Groups from fewer than {settings.min_clients_for_statistic} clients are withheld."
    )
    caveat()


def within_tab(view: CohortView) -> None:
    viewer, cohort, measure, settings, key = view.viewer, view.cohort, view.measure, view.settings, view.key
    within = ui.run(co.within_client_analysis, viewer, cohort, measure, settings)
    st.subheader(co.within_client_question(measure, settings))
    if within.sampled:
        st.info(
            f"Large cohort: the model uses {within.clients_used:,} clients, a fixed deterministic sample of the "
            f"{within.clients_eligible:,} clients with two or more {measure} scores (the same clients every time), "
            f"so that it stays fast.",
            icon=":material/filter_alt:",
        )
    f, r = within.forward, within.reverse
    if f.within_coef is None:
        st.info(f"{co.TOO_FEW.capitalize()}: {f.message} (n = {f.n_observations:,} intervals, {f.n_groups:,} clients).")
        return
    raw_f, raw_r = within.forward_unadjusted, within.reverse_unadjusted
    a, b = st.columns(2)
    a.metric("Within client", f"{f.within_coef / 10:+.2f} points", border=True)
    a.caption(
        f"Association in the same interval: {measure} change between two scores per 10 percentage points more of the "
        f"homework set in that interval than the client's usual, {co.FORWARD_ADJUSTMENT} · 95% CI "
        f"{f.within_ci[0] / 10:+.2f} to {f.within_ci[1] / 10:+.2f} · n = {f.n_observations:,} intervals, {f.n_groups:,} clients"
        + (f" · unadjusted {raw_f.within_coef / 10:+.2f}" if raw_f is not None and raw_f.within_coef is not None else "")
    )
    if r.within_coef is not None:
        b.metric("Reverse (within client)", f"{r.within_coef * 100:+.2f} pp", border=True)
        b.caption(
            f"Homework done in the interval after a score (percentage points) per {measure} point above the client's "
            f"usual, {co.REVERSE_ADJUSTMENT} · 95% CI {r.within_ci[0] * 100:+.2f} to {r.within_ci[1] * 100:+.2f} · "
            f"n = {r.n_observations:,} intervals"
            + (f" · unadjusted {raw_r.within_coef * 100:+.2f} (scores fall and homework changes as treatment goes on)"
               if raw_r is not None and raw_r.within_coef is not None else "")
        )
    chart_with_table(
        (charts.within_client_chart, within.coefficients),
        within.coefficients,
        [Column("model", "Model", "text"), Column("effect", "Effect", "text"),
         *estimate_columns("estimate", "Estimate", "number", decimals=2), Column("p_value", "p", "p"),
         Column("unit", "Unit", "text"), Column("intervals", "Intervals", "count"), Column("clients", "Clients", "count")],
        "within_client",
        key,
        ratio=(1, 1),
    )
    notes = [m for m in (f.message, r.message) if m]
    st.caption(glossary.caption("within-client-model", "reverse-lag"))
    st.caption(
        "Linear mixed model, random intercept per client (REML): the change from one score to the next on the quantity of "
        "the homework set in between, split into the client's deviation from their own mean (within) and their mean "
        "(between). Homework and change are measured over the same interval, so this is an association in the same "
        "interval, not homework coming before change. Adjusted for the score at the start of the interval (a high score "
        "tends to fall further) and the week since intake. The reverse model relates a score to the homework of the "
        "interval that starts with it, adjusted for the week since intake, because time in treatment moves both. "
        f"{co.within_client_sign_note(measure, settings)} "
        f"Intervals between scores longer than {co.MAX_INTERVAL_DAYS} days are left out. Fitted in {within.seconds:.2f} s."
        + (f" Note: {'; '.join(notes)}." if notes else "")
    )
    caveat()


def follow_up_tab(view: CohortView) -> None:
    report, measure, key = view.report, view.measure, view.key
    st.subheader(f"{measure} 1-12 months after discharge, by compliance band")
    fu = report.follow_up
    firsts = fu.drop_duplicates("band")
    st.caption(
        " · ".join(f"{b}: {n:,} of {d:,} discharged paired clients have a follow-up score"
                   for b, n, d in zip(firsts["band"], firsts["n"], firsts["discharged_paired"], strict=True))
    )
    if fu["too_few"].all():
        st.info(f"{co.TOO_FEW.capitalize()}: no band has {report.min_clients} or more clients with a follow-up score.")
    else:
        chart_with_table(
            (charts.follow_up_chart, fu, measure, report.band_labels),
            fu,
            [Column("band", "Band", "text"), Column("time_point", "Time point", "text"), Column("n", "n", "count"),
             *estimate_columns("mean_score", "Mean"),
             Column("change_end_to_follow_up", "Change end → follow-up", "number"),
             Column("median_days_after_discharge", "Median days after discharge", "count")],
            "follow_up",
            key,
        )
    st.caption(
        "Clients with a score 1 to 12 months after discharge (their latest in that window), beside their first and "
        "end-of-treatment scores. Few clients return a follow-up score and those who do may differ from those who don't."
    )
    caveat()


def clinical_significance_tab(view: CohortView) -> None:
    viewer, cohort, measures, settings = view.viewer, view.cohort, view.measures, view.settings
    st.subheader("Clinical significance (Jacobson & Truax)")
    if "jt_editor" not in st.session_state or "jt_seed" not in st.session_state:
        # Seed the editor from the norms chosen earlier (kept while the tab is closed), else defaults.
        st.session_state["jt_seed"] = co.jt_norm_rows(measures, st.session_state.get("jt_norms", ()))
    with st.expander("Reliability and functional-population norms", icon=":material/tune:"):
        edited = st.data_editor(
            st.session_state["jt_seed"],
            hide_index=True,
            disabled=["measure", "source"],
            column_config={
                "measure": st.column_config.TextColumn("Measure"),
                "reliability": st.column_config.NumberColumn("Reliability r_xx", min_value=0.0, max_value=0.99, step=0.01),
                "functional_mean": st.column_config.NumberColumn("Functional mean", min_value=0.0),
                "functional_sd": st.column_config.NumberColumn("Functional SD", min_value=0.01),
                "cutoff": st.column_config.SelectboxColumn("Cut-off", options=["a", "b", "c"], required=True),
                "source": st.column_config.TextColumn("Default reliability source"),
            },
            key="jt_editor",
        )
        st.caption(
            "Cut-offs (Jacobson & Truax 1991): a = the cohort's mean first score − 2 SD (out of the dysfunctional range; "
            "needs no functional norms); b = functional mean + 2 SD (into the functional range); c = the point between "
            "the two populations weighted by their SDs. b and c need a functional mean and SD; without them (and with b "
            "or c chosen) clients are classed improved / unchanged / deteriorated only. With a usable cut-off, recovered "
            "and harmed become possible."
        )
    norms = co.jt_norms_from_rows(edited)
    st.session_state["jt_norms"] = norms
    if not norms:
        st.info("Enter a reliability for a measure to classify its clients.")
        return
    result = ui.run(co.clinical_significance, viewer, cohort, tuple(norms), settings)
    spec = [Column("measure", "Measure", "text"), Column("paired", "Paired", "count"), Column("reliability", "Reliability", "number"),
            Column("sd_pre", "SD pre", "number"), Column("reliable_change_points", "Reliable change (points)", "number")]
    if result.parameters["cutoff_a"].notna().any():
        spec += [Column("functional_mean", "Functional mean", "number"), Column("functional_sd", "Functional SD", "number"),
                 Column("cutoff_a", "Cut-off a", "number"), Column("cutoff_b", "Cut-off b", "number"), Column("cutoff_c", "Cut-off c", "number"),
                 Column("cutoff", "Cut-off used", "text")]
    show_table(result.parameters, spec, extra=co.note_column(result.parameters))
    if view.summary is not None:
        both = co.reliable_improvement_definitions(view.summary, result, settings)
        if len(both):
            st.markdown("##### Reliable improvement here and in the headline")
            spec_both = [Column("measure", "Measure", "text"), Column("paired", "Paired clients", "count"),
                         Column("fixed_count", "Headline: reliably improved", "count"),
                         Column("fixed_share", "Headline share", "pct"),
                         Column("fixed_points", "Headline threshold (points)", "count"),
                         Column("rci_count", "Here: reliably improved (improved + recovered)", "count"),
                         Column("rci_share", "Share here", "pct"),
                         Column("rci_points", "Threshold here (points)", "number", decimals=1)]
            show_table(both, spec_both)
            for reason in both["reason"]:
                st.caption(reason)
    if result.categories.empty:
        st.info(f"{co.TOO_FEW.capitalize()} paired clients on every measure.")
    else:
        chart_with_table(
            (charts.jacobson_truax_chart, result.categories),
            result.categories,
            [Column("measure", "Measure", "text"), Column("category", "Category", "text"), Column("clients", "Clients", "count"),
             Column("share", "Share", "pct"), Column("paired", "Paired", "count")],
            "clinical_significance",
            (*view.key, tuple(norms)),
        )
    st.caption(
        "Reliable change index RC = (last − first) / S_diff with S_diff = SD_pre √2 √(1 − r_xx), SD_pre the sample SD of "
        "the paired clients' first scores; reliable when |RC| > 1.96. This differs from the headline's reliable change, "
        "which uses the fixed points of the NHS Talking Therapies manual."
    )


def sudden_gains_tab(view: CohortView) -> None:
    """Sudden gains across the cohort: a self-contained block (analytics/cohort_outcomes/sudden_gain_summary.py)."""
    gains = ui.run(sudden_gain_summary, view.viewer, view.cohort, view.measure, view.settings)
    st.subheader(f"Sudden gains on {view.measure}")
    if not gains.has_data:
        st.info("No client of this cohort has enough scores (at least four in treatment) to look for a sudden gain.")
        return
    share = "\u2014" if gains.share is None else f"{gains.share:.0%} ({gains.share_low:.0%}-{gains.share_high:.0%})"
    size = "\u2014" if gains.magnitude_mean is None else f"{gains.magnitude_mean:.1f} points" + (
        "" if gains.magnitude_sd is None else f", SD {gains.magnitude_sd:.1f}")
    c1, c2, c3 = st.columns(3)
    c1.metric("Clients with a sudden gain", f"{gains.clients_with_gain:,} of {gains.clients_scored:,}", border=True,
              help="Clients with at least four treatment scores on this measure.")
    c2.metric("Share (95% CI)", share, border=True)
    c3.metric("Gains (reversed later)", f"{gains.gains:,} ({gains.reversed:,})", border=True, help=f"Mean size {size}")
    for title, frame, columns in (
        ("Outcome at discharge and at follow-up", gains.outcomes, [
            Column("group", "Clients", "text"), Column("discharged", "Discharged (n)", "count"),
            Column("mean_improvement", "Mean improvement (points)", "number"),
            Column("reliable_improvement", "Reliable improvement", "pct"),
            Column("recovered", "Recovered (of those at caseness)", "pct"),
            Column("follow_up", "With follow-up (n)", "count"),
            Column("follow_up_improvement", "Improvement at follow-up (points)", "number")]),
        ("Homework in the weeks a gain came, against the same clients' other weeks", gains.homework, [
            Column("weeks", "Weeks", "text"), Column("client_weeks", "Client-weeks (n)", "count"),
            Column("clients", "Clients (n)", "count"), Column("assignments", "Assignments set", "count"),
            Column("reviewed_share", "Reviewed", "pct"), Column("quantity", "Quantity", "pct"),
            Column("quality", "Quality", "pct")]),
    ):
        st.markdown(f"**{title}**")
        show_table(frame, columns, extra=co.note_column(frame))
    st.caption(GAIN_CAVEAT)


TAB_RENDERERS = {
    "Trajectories": trajectories_tab,
    "Compliance and change": compliance_tab,
    "Outcomes by band": bands_tab,
    "Quantity by quality": grid_tab,
    "Assignment design": design_tab,
    "Within-client": within_tab,
    "Follow-up": follow_up_tab,
    "Clinical significance": clinical_significance_tab,
    "Sudden gains": sudden_gains_tab,
}
assert tuple(TAB_RENDERERS) == TABS


# ----------------------------------------------------------------------------- de-identified view


def published_table(table, *, key: str) -> None:
    """A de-identified table as published (markers in withheld cells) and a CSV of exactly it."""
    st.markdown(f"**{table.title}**")
    st.dataframe(table.as_text(), hide_index=True, width="stretch")
    if table.note:
        st.caption(table.note)
    ui.download_button("Download CSV", table.csv_bytes, f"cohort_{table.name}_deidentified.csv",
                       "text/csv", export_kind=f"cohort_{table.name}_deidentified", icon=":material/download:",
                       key=f"csv_{key}")


def deidentified_page(viewer, cohort, measures: list[str], settings, linked: tuple[str, ...] = ()) -> None:
    """The page for viewers who see aggregates only: every number from analytics.deidentified."""
    if not measures:
        st.info("No symptom scores for this cohort, so there is no change to relate homework to.")
        return
    measure = measure_control(measures, linked)
    view = ui.run(deid.deidentified_cohort_view, viewer, cohort, measure, settings)
    st.info(view.note, icon=":material/shield_lock:")
    for row in (view.headline[:4], view.headline[4:]):
        for col, cell in zip(st.columns(4), row, strict=False):
            col.metric(cell.label, cell.display, border=True)
            col.caption(cell.caption)
    if not view.enough:
        st.warning(f"This cohort has fewer than {view.minimum} clients: the de-identified view shows nothing "
                   "more. Widen the filters in the sidebar.", icon=":material/shield_lock:")
        return
    ui.check_choice_param("section", TABS, "section")
    tabs = st.tabs(TABS, key="section", bind="query-params")
    sections = dict(zip(TABS, tabs, strict=True))
    simple = {"Trajectories": [view.trajectories], "Compliance and change": [view.relations, view.comparison],
              "Outcomes by band": [view.bands], "Quantity by quality": [view.grid], "Follow-up": [view.follow_up]}
    for name, tab in sections.items():
        if not tab.open:
            continue
        with tab:
            if name in simple:
                for table in simple[name]:
                    published_table(table, key=f"{name}_{table.name}")
            elif name == "Assignment design":
                for table in ui.run(deid.deidentified_design, viewer, cohort, settings):
                    published_table(table, key=table.name)
            elif name == "Within-client":
                table = ui.run(deid.deidentified_within, viewer, cohort, measure, settings)
                if table is not None:
                    published_table(table, key=table.name)
            elif name == "Sudden gains":
                st.info("Sudden gains are looked for client by client: not part of the de-identified view yet.",
                        icon=":material/shield_lock:")
            else:
                st.info("Clinical significance classifies individual clients: not part of the de-identified view.",
                        icon=":material/shield_lock:")
            caveat()


# ----------------------------------------------------------------------------- page

viewer = ui.page(
    "Cohort outcomes",
    "How homework quantity and quality relate to symptom change across a caseload, programme or clinic.",
    charts=True,
)
settings = active_settings()
deidentified = deid.is_deidentified(viewer)
try:
    options = ui.run(deid.deidentified_filter_options, viewer, ui.requested_values())
except MissingPseudonymKeyError:
    st.error("De-identified views need a pseudonym key for this deployment: ask the administrator to set "
             "BETWEEN_SESSIONS_PSEUDONYM_KEY.", icon=":material/key_off:")
    st.stop()
linked_cohort = ui.cohort_filter_sidebar(options, fields=SIDEBAR_FIELDS,
                                         intake_months=ui.run(deid.intake_months, viewer) if deidentified else None)
# The measure is chosen once, above the analyses; a link's "measure" only preselects it.
linked = linked_cohort.measures
cohort = replace(linked_cohort, measures=())
with st.sidebar:
    # The documented alternative reading of unreviewed homework (docs/metrics.md, "Client quantity").
    settings = replace(settings, unreviewed_as_not_done=bool(st.toggle(
        "Count unreviewed homework as not done", value=settings.unreviewed_as_not_done, key="unreviewed_as_not_done",
        bind="query-params",
        help="Off: quantity is the mean over reviewed assignments only. On: unreviewed assignments count as 0% done.",
    )))
measures = measure_choices(options, settings)
if deidentified:
    deidentified_page(viewer, cohort, measures, settings, linked)
    st.stop()
summary = ui.run(cohort_summary, viewer, cohort, settings)

if summary["clients"] == 0:
    st.info("No clients match these filters. Widen the cohort in the sidebar.", icon=":material/filter_alt_off:")
    st.stop()
if not measures:
    st.info("No symptom scores for this cohort, so there is no change to relate homework to.")
    st.stop()

measure = measure_control(measures, linked)
report = ui.run(co.cohort_report, viewer, cohort, measure, settings)
view = CohortView(viewer, cohort, measure, tuple(measures), settings, report, summary)
lead(view)  # the answer first: the homework-outcome relation and its n
st.markdown("##### Outcomes of this cohort")
headline(summary, measure, report, settings)

ui.check_choice_param("section", TABS, "section")
for tab, render in zip(st.tabs(TABS, key="section", bind="query-params"), TAB_RENDERERS.values(), strict=True):
    if tab.open:
        with tab:
            render(view)
