"""The report renderer (analytics/rendering.py) and the session-review export.

PDF text is read back from uncompressed output: fpdf2 writes DejaVu text as 2-byte glyph
codes, decoded here through each font's ToUnicode map; core-font text is Latin-1.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest

from analytics import ClinicDatabase, Viewer
from analytics import rendering as reports
from analytics.client_review.model import client_review, header_facts, programme_homework
from analytics.client_review.session_review import (
    export_file_name,
    measure_line,
    session_review_html,
    session_review_pdf,
)
from analytics.rendering import (
    ImageExportError,
    ReportContent,
    ReportFigure,
    ReportTable,
    figure_png,
    pdf_page_count,
    render_html,
    render_pdf,
)
from tests.support.pdf import pdf_text
from tests.support.review_clinic import AS_OF, build_review_clinic

LOCAL = Viewer.local()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def review_db(tmp_path_factory: pytest.TempPathFactory):
    path = build_review_clinic(tmp_path_factory.mktemp("review_reports"))
    with ClinicDatabase(path) as db:
        yield db


def _review(db, client_id: str):
    review = client_review(db, LOCAL, client_id, AS_OF)
    return review, programme_homework(db, LOCAL, review.header["program"])


needs_dejavu = pytest.mark.skipif(not reports._unicode_fonts_available(), reason="fonts-dejavu-core not installed")


# ----------------------------------------------------------------------------- session review


@needs_dejavu
def test_session_review_pdf_is_one_page_with_the_page_numbers(review_db):
    review, programme = _review(review_db, "N1")
    pdf = session_review_pdf(review, programme, compress=False, chart=False)
    assert pdf.startswith(b"%PDF-") and pdf_page_count(pdf) == 1
    text = pdf_text(pdf)
    assert "Session review: client N1" in text
    for card in review.cards:  # the same formatted figures the page shows
        assert measure_line(card) in text
    assert "PHQ-9: latest score 9 (mild) on 2026-11-23; change since first score \u22129" in text
    for label, value in header_facts(review.header):
        assert f"{label}: {value}" in text
    assert "Page 1 of 1" in text
    assert "association, not proof" in text


def test_session_review_pdf_with_the_chart_and_risk_flag(review_db):
    review, programme = _review(review_db, "R1")
    try:
        figure_png(go.Figure(go.Scatter(x=[1, 2], y=[1, 2])), width=200, height=100)
    except ImageExportError:
        pytest.skip("no browser for kaleido on this machine")
    pdf = session_review_pdf(review, programme, compress=False)
    assert pdf_page_count(pdf) == 1
    assert b"/Subtype /Image" in pdf  # the chart, as a PNG image
    text = pdf_text(pdf)
    assert review.risk.message in text and "2026-11-02" in text


def test_session_review_pdf_falls_back_to_core_fonts(review_db):
    review, programme = _review(review_db, "N1")
    pdf = session_review_pdf(review, programme, compress=False, chart=False, unicode_fonts=False)
    assert pdf_page_count(pdf) == 1
    text = pdf_text(pdf)
    assert "Session review: client N1" in text
    assert "PHQ-9: latest score 9 (mild) on 2026-11-23; change since first score -9" in text  # minus sign -> "-"


@needs_dejavu
def test_session_review_pdf_stays_on_one_page_for_every_client(review_db):
    for client_id in ("N1", "R1", "D1", "E1", "E2", "E3", "E4", "E5"):
        review, programme = _review(review_db, client_id)
        pdf = session_review_pdf(review, programme, chart=False, compress=False)
        assert pdf_page_count(pdf) == 1, client_id
        text = pdf_text(pdf)
        for _, message in review.messages:  # each edge state says so in the export too
            assert message in text, client_id


def test_session_review_html_is_self_contained_and_escaped(review_db):
    review, programme = _review(review_db, "N1")
    html = session_review_html(review, programme).decode("utf-8")
    assert html.startswith("<!DOCTYPE html>") and "Session review: client N1" in html
    assert '<svg class="main-svg"' in html or html.count("plotly.js v") <= 2  # the chart, embedded
    assert not re.search(r"<script[^>]+src=", html)  # nothing fetched from the network
    assert not re.search(r'<img[^>]+src="(?!data:)', html)
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html  # free text escaped
    assert "=HYPERLINK(" in html  # the description is there (last 4 weeks), as text
    risky, programme = _review(review_db, "R1")
    assert 'class="alert"' in session_review_html(risky, programme).decode("utf-8")


def test_session_review_html_is_small_with_static_charts(review_db):
    """Issue 15 item 13: the HTML export weighed 4.8 MB per client (plotly.js, 4.6 MB, inside it)."""
    review, programme = _review(review_db, "N1")
    try:
        figure_png(go.Figure(go.Scatter(x=[1, 2], y=[1, 2])), width=200, height=100)
    except ImageExportError:
        pytest.skip("no browser for kaleido on this machine")
    html = session_review_html(review, programme)
    assert len(html) < 400_000
    assert b"plotly.js v" not in html and b"Plotly.newPlot" not in html
    assert html.count(b'<svg class="main-svg"') == 1


def test_html_falls_back_to_one_copy_of_plotly_when_no_image_can_be_made(monkeypatch):
    def broken(*_args, **_kwargs):
        raise ImageExportError("the chart could not be rendered as an image (test)")

    monkeypatch.setattr(reports, "figure_image", broken)
    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    html = render_html(ReportContent("Pack", figures=[ReportFigure(fig, title=t) for t in ("One", "Two", "Three")]))
    assert html.count(b"Plotly.newPlot") == 3
    assert len(re.findall(rb"<script[^>]*>\s*/\*\*\s*\* plotly\.js v", html)) == 1  # the library once per document


def test_html_header_fields_do_not_run_together(review_db):
    """The PDF joins header fields with runs of spaces; HTML collapsed them into one space."""
    review, programme = _review(review_db, "N1")
    html = session_review_html(review, programme).decode("utf-8")
    for label, value in header_facts(review.header):
        assert f'<span class="field"><span class="label">{label}:</span> {value}</span>' in html
    generic = render_html(ReportContent("Report", header_lines=["Therapist: T1    Programme: CBT", "**Bold**"])).decode()
    assert '<span class="field"><span class="label">Programme:</span> CBT</span>' in generic
    assert "<strong>Bold</strong>" in generic


def test_the_pdf_chart_legend_prints_at_8_points_or_more(review_db):
    """Issue 15 item 13: the one-page PDF's legend printed at 4-5 pt (1,000 px shrunk to 74 mm high)."""
    from analytics.client_review.session_review import PDF_FIGURE_HEIGHT_MM, session_review_content

    review, programme = _review(review_db, "N1")
    content = session_review_content(review, programme)
    (item,) = content.figures
    text_width_mm = 210 - 2 * reports.MARGIN_MM
    points_per_px = reports.printed_points_per_px(item, text_width_mm, PDF_FIGURE_HEIGHT_MM)
    legend_px = item.figure.layout.legend.font.size
    assert legend_px * points_per_px >= 8.0
    assert item.figure.layout.font.size * points_per_px >= 8.0


# ----------------------------------------------------------------------------- generic renderer


@needs_dejavu
def test_render_pdf_pages_and_truncation():
    frame = pd.DataFrame({"Unit": [f"unit {i}" for i in range(150)], "Value": [f"{i}%" for i in range(150)]})
    table = ReportTable("Long table", frame, note="A note under the table.")
    many = render_pdf(ReportContent("Pack", header_lines=["line one", "**bold line**"], pdf_tables=[table], notes=["a note"],
                                    footer="footer"))
    assert pdf_page_count(many) > 1
    text = pdf_text(render_pdf(ReportContent("Pack", header_lines=["line one"], pdf_tables=[table]), compress=False))
    assert "unit 149" in text and "A note under the table." in text
    one = render_pdf(ReportContent("Pack", header_lines=["line one"], pdf_tables=[table]), one_page=True, compress=False)
    assert pdf_page_count(one) == 1
    text = pdf_text(one)
    assert "more row(s) not shown here" in text and "unit 149" not in text
    landscape = render_pdf(ReportContent("Pack", pdf_tables=[ReportTable("Empty", frame.iloc[0:0], empty_text="None here.")]),
                           landscape=True, compress=False)
    assert "None here." in pdf_text(landscape)


def test_render_pdf_says_so_when_a_figure_cannot_be_rendered(monkeypatch):
    def broken(*_args, **_kwargs):
        raise ImageExportError("the chart could not be rendered as an image (test)")

    monkeypatch.setattr(reports, "figure_png", broken)
    fig = go.Figure(go.Bar(x=["a"], y=[1]))
    pdf = render_pdf(ReportContent("Report", header_lines=["header"], figures=[ReportFigure(fig, title="A chart")]), compress=False)
    assert pdf_page_count(pdf) == 1 and "Chart image unavailable" in pdf_text(pdf)


def test_render_html_generic():
    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    html = render_html(ReportContent("QI <pack>", header_lines=["header"], alerts=["alert!"], notes=["note"],
                                     figures=[ReportFigure(fig, title="One"), ReportFigure(fig, title="Two")],
                                     html_tables=[ReportTable("T", pd.DataFrame({"a": ["<x>"]}))])).decode()
    assert "QI &lt;pack&gt;" in html and "&lt;x&gt;" in html
    assert html.count('<svg class="main-svg"') + html.count("Plotly.newPlot") == 2
    interactive = render_html(ReportContent("QI", figures=[ReportFigure(fig, title="One"), ReportFigure(fig, title="Two")]),
                              interactive=True).decode()
    assert interactive.count("Plotly.newPlot") == 2
    assert interactive.count("plotly.js v") <= 2  # the library is embedded once, not per figure


# ----------------------------------------------------------------------------- figures to PNG


def test_figure_png_reuses_one_sync_server():
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2]))
    try:
        first = figure_png(fig, width=300, height=200, scale=1)
    except ImageExportError:
        pytest.skip("no browser for kaleido on this machine")
    assert first.startswith(PNG_SIGNATURE)
    assert reports._kaleido_state["server"] is True
    assert figure_png(fig, width=300, height=200, scale=1).startswith(PNG_SIGNATURE)


def test_figure_png_renders_per_call_when_the_server_cannot_start(monkeypatch):
    import kaleido

    def refuse(*_args, **_kwargs):
        raise RuntimeError("no server here")

    monkeypatch.setattr(kaleido, "start_sync_server", refuse)
    monkeypatch.setitem(reports._kaleido_state, "server", None)
    fig = go.Figure(go.Scatter(x=[1, 2], y=[2, 1]))
    try:
        png = figure_png(fig, width=200, height=120, scale=1)
    except ImageExportError:
        pytest.skip("no browser for kaleido on this machine")
    assert png.startswith(PNG_SIGNATURE) and reports._kaleido_state["server"] is False


def test_export_file_name_is_safe():
    assert export_file_name("C000123", AS_OF, "pdf") == "session-review_C000123_2026-11-27.pdf"
    assert export_file_name("../a b", AS_OF, "csv", "scores") == "scores_.._a_b_2026-11-27.csv"
    assert "/" not in export_file_name("x/../../etc", AS_OF, "pdf")


def test_pdf_page_count_reads_pages_not_the_page_tree():
    assert pdf_page_count(b"<< /Type /Pages /Count 2 >> << /Type /Page >> << /Type /Page\n>>") == 2


def test_fonts_path_constants_point_at_debian_dejavu():
    assert reports.FONT_REGULAR == Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    assert reports.FONT_BOLD.name == "DejaVuSans-Bold.ttf"


def test_lead_tables_make_a_summary_page_of_their_own():
    """The meeting pack's summary stands on page 1 (issue 15 item 13): lead tables follow the
    header, and the figures start on a new page (PDF); in HTML they come before the figures."""
    from analytics.rendering import ReportContent, ReportFigure, ReportTable, pdf_page_count

    summary = ReportTable("This period against the previous period", pd.DataFrame({"Period": ["This"], "Finished": [12]}))
    figure = ReportFigure(go.Figure(go.Bar(x=["a"], y=[1])), title="Activity", width_px=600, height_px=300)
    with_lead = ReportContent(title="Pack", header_lines=("**Summary**",), lead_tables=(summary,), figures=(figure,))
    without = ReportContent(title="Pack", header_lines=("**Summary**",), figures=(figure,))
    assert pdf_page_count(without.pdf()) == 1
    assert pdf_page_count(with_lead.pdf()) == 2
    page = with_lead.html().decode()
    assert page.index("This period against the previous period") < page.index("Activity")
