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
from tests.test_client_review import AS_OF, build_review_clinic

LOCAL = Viewer.local()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- reading PDF text


def _unescape(literal: bytes) -> bytes:
    out, i = bytearray(), 0
    escapes = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}
    while i < len(literal):
        c = literal[i]
        if c != ord("\\"):
            out.append(c)
            i += 1
            continue
        nxt = literal[i + 1]
        if nxt in escapes:
            out += escapes[nxt]
            i += 2
        elif chr(nxt).isdigit():
            digits = re.match(rb"[0-7]{1,3}", literal[i + 1:i + 4]).group(0)
            out.append(int(digits, 8))
            i += 1 + len(digits)
        elif nxt in (ord("\n"), ord("\r")):
            i += 2
        else:
            out.append(nxt)
            i += 2
    return bytes(out)


def pdf_text(data: bytes) -> str:
    """The text of an uncompressed fpdf2 PDF, one shown string per line, lines joined by spaces."""
    objects = {int(m.group(1)): m.group(2) for m in re.finditer(rb"(\d+) 0 obj(.*?)endobj", data, re.S)}
    cmaps: dict[bytes, dict[int, str] | None] = {}
    for body in objects.values():
        fonts = re.search(rb"/Font\s*<<(.*?)>>", body, re.S)
        if not fonts:
            continue
        for name, ref in re.findall(rb"/(F\d+)\s+(\d+) 0 R", fonts.group(1)):
            to_unicode = re.search(rb"/ToUnicode\s+(\d+) 0 R", objects[int(ref)])
            cmap = None
            if to_unicode:
                cmap = {}
                stream = objects[int(to_unicode.group(1))]
                for block in re.findall(rb"beginbfchar(.*?)endbfchar", stream, re.S):
                    for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                        cmap[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
            cmaps[name] = cmap
    lines = []
    for ref in re.findall(rb"/Contents\s+(\d+) 0 R", data):
        stream = objects[int(ref)].split(b"stream", 1)[1].rsplit(b"endstream", 1)[0]
        font = None
        for m in re.finditer(rb"/(F\d+)\s+[\d.]+\s+Tf|\(((?:\\.|[^\\)])*)\)\s*Tj|\[(.*?)\]\s*TJ", stream, re.S):
            if m.group(1):
                font = m.group(1)
                continue
            # Tj shows one string; TJ an array of strings and spacing numbers (justified text).
            parts = [m.group(2)] if m.group(2) is not None else re.findall(rb"\(((?:\\.|[^\\)])*)\)", m.group(3))
            shown = []
            for part in parts:
                raw = _unescape(part)
                cmap = cmaps.get(font)
                if cmap is None:
                    shown.append(raw.decode("latin-1"))
                else:
                    shown.append("".join(cmap.get(int.from_bytes(raw[i:i + 2], "big"), "")
                                         for i in range(0, len(raw), 2)))
            lines.append("".join(shown))
    return re.sub(r"\s+", " ", " ".join(lines))


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
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js embedded
    assert not re.search(r"<script[^>]+src=", html)  # nothing fetched from the network
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html  # free text escaped
    assert "=HYPERLINK(" in html  # the description is there (last 4 weeks), as text
    risky, programme = _review(review_db, "R1")
    assert 'class="alert"' in session_review_html(risky, programme).decode("utf-8")


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
    assert "QI &lt;pack&gt;" in html and "&lt;x&gt;" in html and html.count("Plotly.newPlot") == 2
    assert html.count("plotly.js v") <= 2  # the library is embedded once, not per figure


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
