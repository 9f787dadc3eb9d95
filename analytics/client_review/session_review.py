"""The client review's printable export: the session review, one A4 page (PDF) or one
self-contained HTML file, with the same content as the page (chart, measures, risk, homework
summary, what changed since the last session and the last weeks' assignments).

Built on the generic renderer :mod:`analytics.rendering`.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

from ..rendering import MARGIN_MM, ReportContent, ReportFigure, ReportTable, printed_points_per_px
from .charts import client_figure
from .model import ASSOCIATION_NOTE, RECENT_WEEKS, assignment_rows, contact_gap, header_facts, since_rows, summary_rows

# The chart in the one-page PDF: an image this wide (px) printed on the text width, at most this
# high (mm); its type is sized to print at 8 pt or more (tests/test_reports.py).
PDF_FIGURE_WIDTH_PX = 800
PDF_FIGURE_HEIGHT_MM = 125
EXPORT_FONT_PX = 13
MIN_PRINTED_PT = 8.2
A4_TEXT_WIDTH_MM = 210 - 2 * MARGIN_MM


def track_line(review: Any) -> str:
    """The on / off track signal of every assessed measure, with the reading of the off-track weeks'
    homework, in one line (the page's "Against the expected course" boxes, in words)."""
    homework = {h["measure"]: h for h in getattr(review, "track_homework", ())}
    parts = []
    for track in getattr(review, "tracks", ()):
        if track.status not in ("on_track", "off_track"):
            continue
        text = f"{track.measure} {track.label.lower()}"
        h = homework.get(track.measure)
        if h:
            text += (f" (homework weeks {h['first_week']}-{h['last_week']}: {h['assignments']} set, {h['reviewed']} "
                     f"reviewed; {h['text'].split(':')[0].rstrip('.').lower()})")
        parts.append(text)
    return ("Expected course: " + "; ".join(parts) + ".") if parts else ""


def measure_line(card: dict[str, Any]) -> str:
    """One measure card as a line of text (the page's metric and badges, in words)."""
    text = f"{card['measure']}: {card['kind'].lower()} {card['score']}"
    if card["band"]:
        text += f" ({card['band']})"
    text += f" on {card['date']}"
    if card["change"] is not None:
        text += f"; change since first score {card['change']} (first {card['first']})"
    if card["badges"]:
        text += "; " + ", ".join(label for label, _ in card["badges"])
    if card["follow_up_note"]:
        text += f". {card['follow_up_note']}"
    return text


def session_review_content(review: Any, programme: dict[str, Any], *, settings: Any = None,
                           generated: datetime | None = None, chart: bool = True) -> ReportContent:
    """The session-review export of a :class:`analytics.client_review.ClientReview`.

    ``chart=False`` leaves the chart out (tests; a machine without a browser for kaleido).
    """
    generated = generated or datetime.now()
    facts = header_facts(review.header)
    half = len(facts) // 2
    header_lines = [
        "    ".join(f"{label}: {value}" for label, value in facts[:half]),
        "    ".join(f"{label}: {value}" for label, value in facts[half:]),
    ]
    header_lines.extend(f"**{measure_line(card)}**" for card in review.cards)
    course = track_line(review)
    if course:
        header_lines.append(course)
    alerts = []
    if review.risk is not None:
        alerts.append(review.risk.message)
    notes = [message for _, message in review.messages]
    if (gap := contact_gap(review, settings)) is not None:
        notes.insert(0, gap)
    if review.risk_items_missing:
        notes.append("The latest PHQ-9 has no item scores: item 9 (risk) could not be checked.")
    figures = []
    n_measures = review.scores["measure"].nunique() if len(review.scores) else 0
    export_height = 160 + 125 * n_measures + (115 if len(review.weekly) else 0) + (45 if len(review.sessions) else 0)
    fig = client_figure(review, settings=settings, height=export_height) if chart else None
    if fig is not None:
        # The type is sized for the printed image (PDF_FIGURE_WIDTH_PX wide on the text width, at
        # most PDF_FIGURE_HEIGHT_MM high): at least MIN_PRINTED_PT points (the legend used to print
        # at 4-5 pt from a 1,000 px image shrunk to 74 mm high).
        per_px = printed_points_per_px(ReportFigure(fig, width_px=PDF_FIGURE_WIDTH_PX, height_px=export_height),
                                       A4_TEXT_WIDTH_MM, PDF_FIGURE_HEIGHT_MM)
        font_px = max(EXPORT_FONT_PX, math.ceil(MIN_PRINTED_PT / per_px))
        fig.update_layout(width=PDF_FIGURE_WIDTH_PX, font={"size": font_px},
                          legend={"font": {"size": font_px}}, margin={"t": 28, "b": 130, "r": 110})
        figures.append(ReportFigure(fig, width_px=PDF_FIGURE_WIDTH_PX, height_px=export_height))
    recent = review.recent_assignments()
    summary = ReportTable("Homework summary", summary_rows(review, programme), widths=(2.6, 4.2, 2.2))
    since = ReportTable(_since_title(review), since_rows(review), widths=(2.6, 6.0), empty_text="No session recorded yet.")
    assignments = ReportTable(
        f"Assignments in the last {RECENT_WEEKS} weeks",
        assignment_rows(recent, free_text=review.free_text, short=True),
        empty_text=f"No assignments in the last {RECENT_WEEKS} weeks.",
    )
    notes.append(ASSOCIATION_NOTE if review.associations else "")
    notes.append("Quantity = how much of an assignment was done, quality = how well (0-100%); weeks are counted "
                 "from intake (week 0 starts on the intake date). Definitions: Metrics glossary.")
    return ReportContent(
        title=f"Session review: client {review.client_id}",
        subtitle=f"Prepared {generated:%Y-%m-%d %H:%M}; data as of {review.as_of:%Y-%m-%d}.",
        alerts=tuple(alerts),
        header_lines=tuple(header_lines),
        figures=tuple(figures),
        pdf_tables=(summary, assignments),
        html_tables=(summary, since, assignments),
        notes=tuple(n for n in notes if n),
        footer="Between Sessions - confidential: contains personal health information",
    )


def _since_title(review: Any) -> str:
    since = review.since_last_session
    if since["session_date"] is None:
        return "Since last session"
    status = "attended" if since["attended"] else "missed"
    return f"Since last session ({since['session_date']:%Y-%m-%d}, {status})"


def session_review_pdf(review: Any, programme: dict[str, Any], *, compress: bool = True,
                       unicode_fonts: bool | None = None, content: ReportContent | None = None,
                       chart: bool = True) -> bytes:
    """The one-page printable session review (A4 PDF)."""
    c = content or session_review_content(review, programme, chart=chart)
    return c.pdf(one_page=True, max_figure_height_mm=PDF_FIGURE_HEIGHT_MM, compress=compress,
                 unicode_fonts=unicode_fonts)


def session_review_html(review: Any, programme: dict[str, Any], *, content: ReportContent | None = None) -> bytes:
    """The session review as one self-contained HTML file."""
    c = content or session_review_content(review, programme)
    return c.html()


def export_file_name(client_id: str, as_of: date, extension: str, kind: str = "session-review") -> str:
    """A safe file name such as ``session-review_C000123_2026-11-27.pdf``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(client_id))[:60] or "client"
    return f"{kind}_{safe}_{as_of:%Y-%m-%d}.{extension}"
