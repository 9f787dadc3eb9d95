"""The quality-improvement meeting pack: PDF, self-contained HTML and a CSV of every table.

Built from a :class:`analytics.quality_improvement.model.QualityReport` only, so the pack shows exactly what the
page shows and obeys the same mode: a de-identified report has no client ids, no free text,
therapists under pseudonyms and small counts suppressed, and so has every file made from it.
Rendering uses the shared report renderer (:mod:`analytics.rendering`: fpdf2 with DejaVu fonts,
kaleido for chart images, Plotly's JavaScript embedded once in the HTML).
"""

from __future__ import annotations

import io
import re
import zipfile

from ..publishing import PublishedTable
from ..rendering import ReportContent, ReportFigure, ReportTable
from .charts import activity_figure, empty_figure, funnel_figure, homework_figure, outcomes_figure
from .model import (
    ALERT_GROUP_DONE,
    ALERT_GROUP_LITTLE,
    ALERT_GROUP_RISK,
    UNIT_LABELS,
    QualityReport,
    funnel_gap,
    outcome_trend_state,
    period_kpis,
    previous_period_text,
    sharing_status,
)

PACK_TITLE = "Quality-improvement meeting pack"
# Columns of the on-screen tables that make no sense on paper.
_PAPER_DROP = ("Client review",)


def _paper_table(table: PublishedTable) -> ReportTable:
    return ReportTable.from_published(table, drop=_PAPER_DROP)


def pack_content(report: QualityReport) -> ReportContent:
    """The meeting pack's content for a report (de-identified or identified, as the report is)."""
    if not report.has_data:
        raise ValueError("the report has no data: nothing to put in a meeting pack")
    subtitle = (
        f"Data as of {report.as_of:%Y-%m-%d}; months {report.period_start:%Y-%m} to {report.period_end:%Y-%m}. "
        f"{sharing_status(report)}"
    )
    header = summary_lines(report)  # the summary first: this period against the previous one and the target
    header += [
        f"Cohort: {report.cohort_description}.",
        f"Outcome measure: {report.measure or 'none scored'}. {report.period_choice}",
        report.privacy_note,
    ]
    if report.pseudonym_note:
        header.append(report.pseudonym_note)
    if report.therapist_note:  # the pack has no therapist comparison then: say why
        header.append(report.therapist_note)
    header.extend(report.notes)
    alerts: list[str] = []
    if report.deidentified and report.pseudonym_note:
        alerts.append(sharing_status(report))
    counts = report.alert_counts
    if counts is not None and not counts.empty:
        risk_group = counts.cell_text("clients", ALERT_GROUP_RISK)
        little = counts.cell_text("clients", ALERT_GROUP_LITTLE)
        done = counts.cell_text("clients", ALERT_GROUP_DONE)
        header.append(
            f"**Clients in treatment not on track: {risk_group} with a risk flag (PHQ-9 item 9 above 0; "
            f"review risk first, whatever their homework), {little} with little homework done (look at barriers), "
            f"{done} with homework done but still not improving (review the approach).**"
        )
        risk_text = counts.cell_text("rule_risk")  # the last row: every client in treatment
        if risk_text not in ("", "0"):
            alerts.append(
                f"PHQ-9 item 9 (thoughts of self-harm) above 0 at the latest score: {risk_text} client(s) in "
                "treatment. Their therapists and supervisors see them by name in the client review."
            )

    figures: list[ReportFigure] = []
    if report.trends_activity is not None and not report.trends_activity.empty:
        figures.append(ReportFigure(activity_figure(report.trends_activity), width_px=1400, height_px=520))
        figures.append(ReportFigure(homework_figure(report.trends_activity), width_px=1400, height_px=400))
    state = outcome_trend_state(report.trends_outcomes)
    outcome_title = f"End-of-treatment outcomes ({report.measure}) by discharge {report.outcome_period}"
    if state == "chart":
        figures.append(ReportFigure(outcomes_figure(report.trends_outcomes, report.measure), width_px=1400,
                                    height_px=420))
    elif state == "withheld":
        figures.append(ReportFigure(empty_figure(
            f"Recovery and reliable improvement are withheld in every {report.outcome_period} (small numbers): "
            "see the table and the funnel plots.", outcome_title), width_px=1400, height_px=220))
    for panel in report.funnels:
        table = panel.table.numeric.iloc[:-1]
        plotted = int((table["n"].notna() & table["value"].notna() & table["lower_95"].notna()).sum())
        if plotted == 0:
            fig = empty_figure(funnel_gap(panel, report), f"{panel.label} by {UNIT_LABELS[panel.unit_type][:-1].lower()}")
        else:
            fig = funnel_figure(panel)
        caption = f"{UNIT_LABELS[panel.unit_type]}: {len(table)}. {funnel_gap(panel, report)}".strip()
        figures.append(ReportFigure(fig, caption=caption, width_px=1400, height_px=440))

    main = [t for t in (report.flags, report.alert_counts, report.trends_activity, report.trends_outcomes)
            if t is not None]
    if report.alert_list is not None:
        main.append(report.alert_list)
    lead = (_paper_table(report.summary),) if report.summary is not None else ()  # page 1: the summary
    pdf_tables = tuple(_paper_table(t) for t in main)
    html_tables = pdf_tables + tuple(_paper_table(p.table) for p in report.funnels)
    notes = (
        report.suppression_note if report.deidentified
        else "Identified pack: for supervision within the care team only.",
        "Funnel plots: control limits around the overall value at each unit's n (Spiegelhalter 2005); a unit outside "
        "the 99.8% limits is unlikely to differ by chance alone. Case mix is not adjusted for.",
        "All relations shown are correlational: they do not show that homework caused a change. "
        "Definitions: Metrics glossary (docs/metrics.md, \"Quality improvement\").",
    )
    footer = ("Between Sessions - de-identified quality-improvement pack" if report.deidentified
              else "Between Sessions - confidential: contains personal health information")
    return ReportContent(
        title=PACK_TITLE, subtitle=subtitle, alerts=tuple(alerts), header_lines=tuple(header), lead_tables=lead,
        figures=tuple(figures), pdf_tables=pdf_tables, html_tables=html_tables, notes=notes, footer=footer,
    )


def summary_lines(report: QualityReport) -> list[str]:
    """The pack's opening summary: each KPI this period, the previous period, the change and the target."""
    kpis = period_kpis(report)
    if not kpis:
        return []
    previous = previous_period_text(report)
    against = f" against the previous period ({previous})" if report.previous_start else f" ({previous})"
    lines = [f"**Summary: {report.period_start:%Y-%m} to {report.period_end:%Y-%m}{against}.**"]
    for kpi in kpis:
        parts = [f"{kpi.label}: {kpi.value}"]
        if report.previous_start:
            parts.append(f"previous {kpi.previous or 'none'}" + (f" ({kpi.delta})" if kpi.delta else ""))
        if kpi.target:
            parts.append(kpi.target)
        lines.append(" | ".join(parts))
    lines.extend(report.outcome_gaps)
    return lines


def meeting_pack_pdf(report: QualityReport, *, compress: bool = True, unicode_fonts: bool | None = None,
                     content: ReportContent | None = None) -> bytes:
    """The meeting pack as an A4 landscape PDF (figures, then the main tables)."""
    c = content or pack_content(report)
    return c.pdf(landscape=True, max_figure_height_mm=150, compress=compress, unicode_fonts=unicode_fonts)


def meeting_pack_html(report: QualityReport, *, content: ReportContent | None = None) -> bytes:
    """The meeting pack as one self-contained HTML file (every table, interactive charts)."""
    c = content or pack_content(report)
    return c.html()


def meeting_pack_csvs(report: QualityReport) -> dict[str, bytes]:
    """Every table of the report as formula-safe CSV bytes, by file name."""
    return {f"{t.name}.csv": t.csv_bytes() for t in report.tables()}


def meeting_pack_zip(report: QualityReport) -> bytes:
    """A zip of every table's CSV plus a README with the report's scope and privacy notes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in meeting_pack_csvs(report).items():
            archive.writestr(name, data)
        readme = [
            PACK_TITLE,
            f"Data as of {report.as_of:%Y-%m-%d}; months {report.period_start:%Y-%m} to {report.period_end:%Y-%m}.",
            f"Cohort: {report.cohort_description}.",
            f"Outcome measure: {report.measure or 'none scored'}.",
            sharing_status(report),
            report.privacy_note,
            *(t for t in [report.pseudonym_note] if t),
            "",
            *(f"{t.name}.csv: {t.title}. {t.note}".strip() for t in report.tables()),
        ]
        archive.writestr("README.txt", "\r\n".join(readme).encode("utf-8"))
    return buffer.getvalue()


def pack_file_name(report: QualityReport, extension: str) -> str:
    """e.g. ``qi-pack_2026-11-01_deidentified.pdf``."""
    mode = "deidentified" if report.deidentified else "IDENTIFIED"
    stamp = f"{report.as_of:%Y-%m-%d}" if report.as_of else "no-data"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"qi-pack_{stamp}_{mode}.{extension}")


__all__ = [
    "meeting_pack_csvs",
    "meeting_pack_html",
    "meeting_pack_pdf",
    "meeting_pack_zip",
    "pack_content",
    "pack_file_name",
    "summary_lines",
]
