"""Printable exports: a generic PDF / HTML report renderer.

The renderer knows nothing of any page: a report is a title, header lines, figures, tables
and notes. The pages' exports are built on it where their content is made: the client
review's session review in :mod:`analytics.client_review.session_review`, the QI meeting pack
in :mod:`analytics.quality_improvement.meeting_pack`.

- PDF: fpdf2 with Debian's DejaVu Sans TTF fonts (``fonts-dejavu-core``), falling back to the
  core Helvetica font (Latin-1 only) when they are missing. ``one_page=True`` keeps the
  report on a single page: figures are capped in height and tables stop with a "N more rows"
  line when the page is full.
- Figures become PNG images through kaleido, which drives the system's Chromium. kaleido's
  sync server (``kaleido.start_sync_server``) is started once per process, under a lock,
  and reused (about 0.1-0.3 s per image instead of 1.5-3 s); if it cannot start or fails,
  each image starts its own browser. If no image can be made, the report says so in place
  of the figure instead of failing.
- HTML: one self-contained file with the same header, tables and notes. Figures are embedded
  as static inline SVG (kaleido; about 50-150 kB each, no network needed) instead of Plotly's
  4.6 MB JavaScript; if no image can be made, the figures fall back to interactive charts with
  plotly.js embedded once for the whole document (``include_plotlyjs`` on the first only).
- Colours and fonts come from :mod:`analytics.theme` (the charts' own theme).
"""

from __future__ import annotations

import html
import logging
import re
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos

from . import theme
from .publishing import PublishedTable

log = logging.getLogger(__name__)

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"

# Page geometry (A4, millimetres) and type sizes (points).
MARGIN_MM = 12.0
TITLE_PT = 15
TEXT_PT = 8.8
TABLE_PT = 7.0
NOTE_PT = 7.2
LINE_MM = 4.4
TABLE_LINE_MM = 3.2
EXPORT_FIGURE_WIDTH_PX = 1000


class ImageExportError(RuntimeError):
    """A figure could not be rendered to PNG (no browser, or the renderer failed)."""


# ----------------------------------------------------------------------------- report parts


@dataclass(frozen=True)
class ReportFigure:
    """A Plotly figure in a report. ``width_px`` x ``height_px`` is the image size before scaling."""

    figure: go.Figure
    title: str | None = None
    caption: str | None = None
    width_px: int = 1400
    height_px: int | None = None  # default: the figure's layout height, else 700


@dataclass(frozen=True)
class ReportTable:
    """A table in a report: ``frame`` holds display values (already formatted: a published
    table's text, :meth:`from_published`, or rows the page's content builds as text)."""

    title: str
    frame: pd.DataFrame
    note: str | None = None
    widths: tuple[float, ...] | None = None  # relative column widths; default from the content
    empty_text: str = "Nothing to show."

    @classmethod
    def from_published(cls, table: PublishedTable, drop: Sequence[str] = ()) -> ReportTable:
        """A published table as printed: its cells as the page shows them (:meth:`PublishedTable.as_text`),
        without the ``drop`` headers."""
        frame = table.as_text()
        return cls(table.title, frame.drop(columns=[c for c in drop if c in frame.columns]), note=table.note or None)


@dataclass(frozen=True)
class ReportContent:
    """What one export prints, once for both formats: the PDF and the HTML show the same title,
    alerts, header, figures and notes; the PDF its ``pdf_tables`` (what fits on paper), the
    HTML its ``html_tables``. ``lead_tables`` (both formats) follow the header lines, before the
    figures: a summary page; in the PDF the figures then start on a new page."""

    title: str
    subtitle: str = ""
    alerts: Sequence[str] = ()
    header_lines: Sequence[str] = ()
    lead_tables: Sequence[ReportTable] = ()
    figures: Sequence[ReportFigure] = ()
    pdf_tables: Sequence[ReportTable] = ()
    html_tables: Sequence[ReportTable] = ()
    notes: Sequence[str] = ()
    footer: str = ""

    def pdf(self, **options: Any) -> bytes:
        """:func:`render_pdf` of this content (``options``: one_page, landscape, compress, ...)."""
        return render_pdf(self, **options)

    def html(self, **options: Any) -> bytes:
        """:func:`render_html` of this content (``options``: interactive)."""
        return render_html(self, **options)


# ----------------------------------------------------------------------------- figures to PNG

_KALEIDO_LOCK = threading.Lock()
_kaleido_state: dict[str, Any] = {"server": None}  # None = not tried, True = running, False = failed


def _figure_height(item: ReportFigure) -> int:
    return int(item.height_px or item.figure.layout.height or 700)


def figure_image(fig: go.Figure, *, width: int, height: int, scale: float = 2.0, image_format: str = "png") -> bytes:
    """The figure as image bytes (``image_format`` "png" or "svg"), via kaleido's per-process sync
    server (started once, under a lock).

    Falls back to a browser per call when the server cannot start or fails. Raises
    :class:`ImageExportError` when no image can be made.
    """
    import kaleido

    opts = {"format": image_format, "width": int(width), "height": int(height), "scale": float(scale)}
    with _KALEIDO_LOCK:
        if _kaleido_state["server"] is None:
            try:
                kaleido.start_sync_server(mathjax=False, silence_warnings=True)
                _kaleido_state["server"] = True
            except Exception as exc:  # noqa: BLE001 - any start-up failure means "render per call"
                log.warning("kaleido sync server did not start (%s); rendering each image separately",
                            type(exc).__name__)
                _kaleido_state["server"] = False
        if _kaleido_state["server"]:
            try:
                return bytes(kaleido.calc_fig_sync(fig.to_dict(), opts=opts))
            except Exception as exc:  # noqa: BLE001 - fall back to one browser per image
                log.warning("kaleido sync server failed (%s); rendering each image separately", type(exc).__name__)
                _kaleido_state["server"] = False
                try:
                    kaleido.stop_sync_server(silence_warnings=True)
                except Exception:  # noqa: BLE001 - it is being abandoned anyway
                    pass
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The kopts argument is ignored")
                return bytes(fig.to_image(format=image_format, width=int(width), height=int(height),
                                          scale=float(scale)))
        except Exception as exc:  # noqa: BLE001 - reported to the caller as one error type
            raise ImageExportError(f"the chart could not be rendered as an image ({type(exc).__name__})") from exc


def figure_png(fig: go.Figure, *, width: int, height: int, scale: float = 2.0) -> bytes:
    """The figure as PNG bytes (:func:`figure_image`)."""
    return figure_image(fig, width=width, height=height, scale=scale, image_format="png")


def figure_box_mm(item: ReportFigure, width_mm: float, cap_mm: float) -> tuple[float, float]:
    """The size (mm) a figure is printed at: the full text width, shrunk to ``cap_mm`` high."""
    px_w, px_h = item.width_px, _figure_height(item)
    img_w = width_mm
    img_h = img_w * px_h / px_w
    if img_h > cap_mm:
        img_h = cap_mm
        img_w = img_h * px_w / px_h
    return img_w, img_h


def printed_points_per_px(item: ReportFigure, width_mm: float, cap_mm: float) -> float:
    """Type size in the PDF (points) of one pixel of font size in the figure."""
    img_w, _ = figure_box_mm(item, width_mm, cap_mm)
    return img_w / item.width_px * 72 / 25.4


# ----------------------------------------------------------------------------- PDF

_LATIN1_REPLACEMENTS = {
    "\u2212": "-", "\u2013": "-", "\u2014": "-", "\u2265": ">=", "\u2264": "<=", "\u2713": "yes",
    "\u2717": "no", "\u2026": "...", "\u00b7": "-", "\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
    "\u26a0": "!",
}


def _rgb(colour: str) -> tuple[int, int, int]:
    h = colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


class _ReportPDF(FPDF):
    def __init__(self, footer_text: str, unicode_fonts: bool, *, landscape: bool = False) -> None:
        super().__init__(orientation="L" if landscape else "P", unit="mm", format="A4")
        self.footer_text = footer_text
        self.family = "Helvetica"
        if unicode_fonts:
            self.add_font("DejaVu", "", str(FONT_REGULAR))
            self.add_font("DejaVu", "B", str(FONT_BOLD))
            self.family = "DejaVu"
        self.unicode = unicode_fonts
        self.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)

    def text_of(self, text: Any) -> str:
        s = "" if text is None else str(text)
        if self.unicode:
            return s
        for a, b in _LATIN1_REPLACEMENTS.items():
            s = s.replace(a, b)
        return s.encode("latin-1", "replace").decode("latin-1")

    def font(self, size: float, bold: bool = False) -> None:
        self.set_font(self.family, "B" if bold else "", size)

    def footer(self) -> None:
        self.set_y(-9)
        self.font(6.8)
        self.set_text_color(*_rgb(theme.MUTED_INK))
        text = f"{self.footer_text}    Page {self.page_no()} of {{nb}}"
        self.cell(0, 4, self.text_of(text), align="C")
        self.set_text_color(*_rgb(theme.INK))


def _unicode_fonts_available() -> bool:
    return FONT_REGULAR.is_file() and FONT_BOLD.is_file()


def _column_widths(pdf: _ReportPDF, frame: pd.DataFrame, total: float, widths: tuple[float, ...] | None) -> list[float]:
    """Column widths (mm) filling ``total``: header words never break; long text columns share the rest."""
    if widths and len(widths) == frame.shape[1]:
        scale = total / sum(widths)
        return [w * scale for w in widths]
    pad = 2.2
    minimum, desired = [], []
    for col in frame.columns:
        pdf.font(TABLE_PT, bold=True)
        header = max((pdf.get_string_width(pdf.text_of(w)) for w in str(col).split()), default=0.0)
        pdf.font(TABLE_PT)
        content = max((pdf.get_string_width(pdf.text_of(v)) for v in frame[col].head(60).astype(str)), default=0.0)
        minimum.append(max(header, min(content, 20.0)) + pad)
        desired.append(max(header, content) + pad)
    if sum(desired) <= total:
        scale = total / sum(desired)
        return [w * scale for w in desired]
    spare = total - sum(minimum)
    if spare <= 0:
        scale = total / sum(minimum)
        return [w * scale for w in minimum]
    extra = [d - m for d, m in zip(desired, minimum, strict=True)]
    return [m + spare * e / sum(extra) for m, e in zip(minimum, extra, strict=True)]


def _lines(pdf: _ReportPDF, width: float, text: str, line_h: float) -> int:
    if not text:
        return 1
    lines = pdf.multi_cell(width, line_h, pdf.text_of(text), dry_run=True, output=MethodReturnValue.LINES,
                           padding=(0, 0.8))
    return max(1, len(lines))


def _draw_table(pdf: _ReportPDF, table: ReportTable, *, bottom: float, one_page: bool) -> None:
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.font(TEXT_PT, bold=True)
    if pdf.get_y() + 2 * LINE_MM > bottom and not one_page:
        pdf.add_page()
    pdf.cell(width, LINE_MM + 0.6, pdf.text_of(table.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    frame = table.frame
    if frame.empty:
        pdf.font(TABLE_PT)
        pdf.cell(width, LINE_MM, pdf.text_of(table.empty_text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1.5)
        return
    col_w = _column_widths(pdf, frame, width, table.widths)
    headers = [str(c) for c in frame.columns]

    def row_height(values: list[str], bold: bool) -> float:
        pdf.font(TABLE_PT, bold=bold)
        return max(_lines(pdf, w, v, TABLE_LINE_MM) for w, v in zip(col_w, values, strict=True)) * TABLE_LINE_MM + 1.0

    def draw_row(values: list[str], bold: bool, fill: tuple[int, int, int] | None) -> None:
        h = row_height(values, bold)
        x0, y0 = pdf.l_margin, pdf.get_y()
        if fill:
            pdf.set_fill_color(*fill)
            pdf.rect(x0, y0, width, h, style="F")
        pdf.font(TABLE_PT, bold=bold)
        x = x0
        for w, v in zip(col_w, values, strict=True):
            pdf.set_xy(x, y0 + 0.5)
            pdf.multi_cell(w, TABLE_LINE_MM, pdf.text_of(v), align="L", padding=(0, 0.8),
                           new_x=XPos.RIGHT, new_y=YPos.TOP)
            x += w
        pdf.set_draw_color(*_rgb(theme.RULE))
        pdf.line(x0, y0 + h, x0 + width, y0 + h)
        pdf.set_xy(x0, y0 + h)

    draw_row(headers, True, _rgb(theme.HEADER_FILL))
    rows = [["" if pd.isna(v) else str(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    note_h = LINE_MM if table.note else 0
    for i, values in enumerate(rows):
        h = row_height(values, False)
        remaining = len(rows) - i
        reserve = (LINE_MM if remaining > 1 else 0) + note_h
        if pdf.get_y() + h + reserve > bottom:
            if one_page:
                pdf.font(NOTE_PT)
                pdf.set_text_color(*_rgb(theme.MUTED_INK))
                pdf.cell(width, LINE_MM, pdf.text_of(f"{remaining} more row(s) not shown here: see the CSV export."),
                         new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.set_text_color(*_rgb(theme.INK))
                break
            pdf.add_page()
            draw_row(headers, True, _rgb(theme.HEADER_FILL))
        draw_row(values, False, _rgb(theme.tint(theme.HEADER_FILL, 0.7)) if i % 2 else None)
    if table.note:
        pdf.font(NOTE_PT)
        pdf.set_text_color(*_rgb(theme.MUTED_INK))
        pdf.multi_cell(width, LINE_MM - 0.6, pdf.text_of(table.note), align="L", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
        pdf.set_text_color(*_rgb(theme.INK))
    pdf.ln(2)


def render_pdf(
    content: ReportContent,
    *,
    one_page: bool = False,
    max_figure_height_mm: float | None = None,
    landscape: bool = False,
    compress: bool = True,
    unicode_fonts: bool | None = None,
) -> bytes:
    """Render a report (its ``pdf_tables``) to PDF bytes.

    Order: title, subtitle, alerts (red boxes), header lines, figures, tables, notes; a
    footer with page numbers on every page. ``one_page`` keeps everything on one page
    (figures capped at ``max_figure_height_mm``, default 40% of the page; tables cut short
    with a "more rows" line). ``compress=False`` leaves page streams readable (tests).
    ``unicode_fonts=None`` uses DejaVu when installed, else core Helvetica.
    """
    c = content
    title, header_lines, figures, tables = c.title, c.header_lines, c.figures, c.pdf_tables
    subtitle, alerts, notes, footer = c.subtitle, c.alerts, c.notes, c.footer
    use_unicode = _unicode_fonts_available() if unicode_fonts is None else unicode_fonts
    pdf = _ReportPDF(footer, use_unicode, landscape=landscape)
    pdf.set_compression(compress)
    pdf.set_title(title)
    pdf.set_creator("Between Sessions")
    pdf.set_auto_page_break(not one_page, margin=MARGIN_MM + 2)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    bottom = pdf.h - MARGIN_MM - 2

    pdf.font(TITLE_PT, bold=True)
    pdf.set_text_color(*_rgb(theme.INK))
    pdf.cell(width, 7.5, pdf.text_of(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*_rgb(theme.INK))
    if subtitle:
        pdf.font(TEXT_PT - 0.6)
        pdf.set_text_color(*_rgb(theme.MUTED_INK))
        pdf.cell(width, LINE_MM, pdf.text_of(subtitle), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(*_rgb(theme.INK))
    pdf.ln(1.5)

    for alert in alerts:
        pdf.font(TEXT_PT, bold=True)
        h = _lines(pdf, width - 4, alert, LINE_MM) * LINE_MM + 3
        y = pdf.get_y()
        pdf.set_fill_color(*_rgb(theme.tint(theme.WORSE, 0.9)))
        pdf.set_draw_color(*_rgb(theme.WORSE))
        pdf.set_line_width(0.5)
        pdf.rect(pdf.l_margin, y, width, h, style="DF")
        pdf.set_line_width(0.2)
        pdf.set_text_color(*_rgb(theme.shade(theme.WORSE, 0.3)))
        pdf.set_xy(pdf.l_margin + 2, y + 1.5)
        pdf.multi_cell(width - 4, LINE_MM, pdf.text_of(alert), align="L", padding=(0, 0.8),
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(*_rgb(theme.INK))
        pdf.set_y(y + h + 1.5)

    pdf.font(TEXT_PT)
    for line in header_lines:
        bold = line.startswith("**") and line.endswith("**")
        text = line.strip("*") if bold else line
        pdf.font(TEXT_PT, bold=bold)
        pdf.multi_cell(width, LINE_MM, pdf.text_of(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1.5)
    for table in c.lead_tables:
        _draw_table(pdf, table, bottom=bottom, one_page=one_page)
    if c.lead_tables and not one_page and (figures or tables):
        pdf.add_page()  # the lead (summary) page stands on its own

    cap = max_figure_height_mm if max_figure_height_mm is not None else (0.4 * (bottom - MARGIN_MM))
    for item in figures:
        if item.title:
            pdf.font(TEXT_PT, bold=True)
            pdf.cell(width, LINE_MM + 0.6, pdf.text_of(item.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        px_w, px_h = item.width_px, _figure_height(item)
        img_w, img_h = figure_box_mm(item, width, cap)
        if not one_page and pdf.get_y() + img_h > bottom:
            pdf.add_page()
        try:
            png = figure_png(item.figure, width=px_w, height=px_h, scale=2.0)
            pdf.image(png, x=pdf.l_margin + (width - img_w) / 2, y=pdf.get_y(), w=img_w, h=img_h)
            pdf.set_y(pdf.get_y() + img_h + 1)
        except ImageExportError as exc:
            pdf.font(TEXT_PT)
            pdf.set_text_color(*_rgb(theme.shade(theme.WORSE, 0.3)))
            pdf.multi_cell(width, LINE_MM, pdf.text_of(f"Chart image unavailable: {exc}. The tables below hold "
                                                       "the same numbers; the HTML export has the interactive chart."),
                           align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.set_text_color(*_rgb(theme.INK))
        if item.caption:
            pdf.font(NOTE_PT)
            pdf.set_text_color(*_rgb(theme.MUTED_INK))
            pdf.multi_cell(width, LINE_MM - 0.6, pdf.text_of(item.caption), align="L", new_x=XPos.LMARGIN,
                           new_y=YPos.NEXT)
            pdf.set_text_color(*_rgb(theme.INK))
        pdf.ln(1.5)

    # Notes go after the tables; on one page, keep room for them.
    pdf.font(NOTE_PT)
    notes_h = sum(_lines(pdf, width, n, LINE_MM - 0.8) * (LINE_MM - 0.8) for n in notes) + (2 if notes else 0)
    table_bottom = bottom - notes_h if one_page else bottom
    for table in tables:
        if one_page and pdf.get_y() + 3 * LINE_MM > table_bottom:
            pdf.font(NOTE_PT)
            pdf.cell(width, LINE_MM, pdf.text_of(f"{table.title}: not shown here for lack of space (see the exports)."),
                     new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            continue
        _draw_table(pdf, table, bottom=table_bottom, one_page=one_page)

    if notes:
        pdf.font(NOTE_PT)
        pdf.set_text_color(*_rgb(theme.MUTED_INK))
        if one_page:
            pdf.set_y(max(pdf.get_y(), bottom - notes_h + 1))
        for note in notes:
            pdf.multi_cell(width, LINE_MM - 0.8, pdf.text_of(note), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(*_rgb(theme.INK))
    return bytes(pdf.output())


def pdf_page_count(data: bytes) -> int:
    """Number of pages in a PDF produced here (counts ``/Type /Page`` objects)."""
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", data))


# ----------------------------------------------------------------------------- HTML

_HTML_STYLE = """
body { font-family: var(--font); color: var(--ink); margin: 24px auto; max-width: 1200px;
       padding: 0 16px; font-size: 14px; }
h1 { font-size: 22px; color: var(--ink); margin-bottom: 2px; }
h2 { font-size: 16px; margin: 22px 0 6px; }
.subtitle { color: var(--muted); margin-top: 0; }
.alert { border: 2px solid var(--alert); background: var(--alert-fill); color: var(--ink); padding: 10px 14px;
         font-weight: bold; border-radius: 4px; margin: 10px 0; }
.header p { margin: 3px 0; }
.fields { display: flex; flex-wrap: wrap; gap: 4px 28px; }
.field .label { color: var(--muted); }
table { border-collapse: collapse; font-size: 12.5px; margin: 4px 0 6px; }
th { background: var(--header-fill); text-align: left; padding: 4px 8px; }
td { border-bottom: 1px solid var(--rule); padding: 3px 8px; vertical-align: top; }
.note { color: var(--muted); font-size: 12px; }
.figure svg { max-width: 100%; height: auto; }
@media print { .figure { page-break-inside: avoid; } }
"""

# Header lines join their fields with runs of spaces (as the PDF prints them); HTML would
# collapse the runs into one space, so each field becomes its own item.
_FIELD_GAP = re.compile(r"\s{3,}")


def _header_html(line: str) -> str:
    esc = html.escape
    if line.startswith("**") and line.endswith("**"):
        return f"<p><strong>{esc(line.strip('*'))}</strong></p>"
    fields = [f for f in _FIELD_GAP.split(line) if f]
    if len(fields) <= 1:
        return f"<p>{esc(line)}</p>"
    items = []
    for field in fields:
        label, sep, value = field.partition(": ")
        items.append(f'<span class="field"><span class="label">{esc(label)}:</span> {esc(value)}</span>' if sep
                     else f'<span class="field">{esc(field)}</span>')
    return '<p class="fields">' + "".join(items) + "</p>"


def _static_figures(figures: Sequence[ReportFigure]) -> list[str] | None:
    """Each figure as inline SVG (kaleido's rendering: its text is escaped text, searchable like the
    tables; no script); None when any image cannot be made."""
    out = []
    for item in figures:
        try:
            svg = figure_image(item.figure, width=item.width_px, height=_figure_height(item), scale=1.0,
                               image_format="svg").decode("utf-8")
        except (ImageExportError, UnicodeDecodeError):
            return None
        svg = svg[svg.find("<svg"):]  # no XML prolog inside HTML
        alt = html.escape(item.title or "Chart", quote=True)
        out.append(f'<div class="svg" role="img" aria-label="{alt}">{svg}</div>')
    return out


def _table_html(table: ReportTable) -> list[str]:
    esc = html.escape
    parts = [f"<h2>{esc(table.title)}</h2>"]
    if table.frame.empty:
        parts.append(f"<p>{esc(table.empty_text)}</p>")
    else:
        parts.append(table.frame.to_html(index=False, escape=True, na_rep="", border=0))
    if table.note:
        parts.append(f'<p class="note">{esc(table.note)}</p>')
    return parts


def render_html(content: ReportContent, *, interactive: bool = False) -> bytes:
    """The report (its ``html_tables``) as one self-contained HTML file.

    Figures are static inline SVG (small; print well); ``interactive=True``, or when no image
    can be made, they are Plotly charts with plotly.js embedded once for the whole document."""
    c = content
    title, header_lines, figures, tables = c.title, c.header_lines, c.figures, c.html_tables
    subtitle, alerts, notes, footer = c.subtitle, c.alerts, c.notes, c.footer
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{theme.css_variables()}{_HTML_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    if subtitle:
        parts.append(f'<p class="subtitle">{esc(subtitle)}</p>')
    parts.extend(f'<div class="alert" role="alert">{esc(a)}</div>' for a in alerts)
    parts.append('<div class="header">')
    parts.extend(_header_html(line) for line in header_lines)
    parts.append("</div>")
    for table in c.lead_tables:
        parts.extend(_table_html(table))
    static = None if interactive or not figures else _static_figures(figures)
    for i, item in enumerate(figures):
        if item.title:
            parts.append(f"<h2>{esc(item.title)}</h2>")
        parts.append('<div class="figure">')
        if static is not None:
            parts.append(static[i])
        else:
            parts.append(item.figure.to_html(include_plotlyjs=i == 0, full_html=False, config={"displaylogo": False}))
        parts.append("</div>")
        if item.caption:
            parts.append(f'<p class="note">{esc(item.caption)}</p>')
    for table in tables:
        parts.extend(_table_html(table))
    parts.extend(f'<p class="note">{esc(n)}</p>' for n in notes)
    if footer:
        parts.append(f'<p class="note">{esc(footer)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts).encode("utf-8")


__all__ = [
    "ImageExportError",
    "ReportContent",
    "ReportFigure",
    "ReportTable",
    "figure_box_mm",
    "figure_image",
    "figure_png",
    "pdf_page_count",
    "printed_points_per_px",
    "render_html",
    "render_pdf",
]
