"""The quality-improvement meeting pack: PDF, HTML and CSVs obey de-identified mode."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import replace

import pandas as pd
import pytest

from analytics import Viewer
from analytics.quality_improvement.meeting_pack import (
    meeting_pack_csvs,
    meeting_pack_html,
    meeting_pack_pdf,
    meeting_pack_zip,
    pack_content,
    pack_file_name,
)
from analytics.quality_improvement.model import quality_report
from analytics.rendering import pdf_page_count

LOCAL = Viewer.local()
TOKEN = re.compile(r"[A-Za-z0-9_]+")


def _tokens(data: bytes | str) -> set[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return set(TOKEN.findall(text))


@pytest.fixture(scope="module")
def phi(sample_db_path):
    from analytics import ClinicDatabase

    with ClinicDatabase(sample_db_path) as db:
        ids = set(db.execute_sql("SELECT client_id FROM clients")["client_id"])
        texts = set(db.execute_sql("SELECT DISTINCT description FROM assignments WHERE description IS NOT NULL")
                    ["description"])
    assert len(ids) == 300 and len(texts) > 20
    return ids, {t for t in texts if len(t) >= 8}


@pytest.fixture(scope="module")
def reports(sample_db_path):
    from analytics import ClinicDatabase

    with ClinicDatabase(sample_db_path) as db:
        deid = quality_report(db, LOCAL, months=None, deidentified=True)
        ident = quality_report(db, LOCAL, months=None, deidentified=False)
    return deid, ident


def _leaks(data: bytes | str, phi: tuple[set[str], set[str]]) -> tuple[set[str], set[str]]:
    ids, texts = phi
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return _tokens(text) & ids, {t for t in texts if t in text}


def test_de_identified_pack_has_no_client_id_no_free_text_and_no_small_count(reports, phi):
    deid, ident = reports
    # HTML: every figure (as inline SVG text, or Plotly JSON without a browser) and every table.
    html = meeting_pack_html(deid)
    assert html.startswith(b"<!DOCTYPE html>") and b"Quality-improvement meeting pack" in html
    assert (b"plotly" in html.lower() or b'<svg class="main-svg"' in html) and not re.search(rb"<script[^>]+src=", html)
    assert _leaks(html, phi) == (set(), set())

    # PDF: uncompressed, core font, so that the page text is searchable in the bytes. The charts are
    # images made from the same figures as the HTML's (checked above), so they are left out here.
    content = pack_content(deid)
    pdf = meeting_pack_pdf(deid, compress=False, unicode_fonts=False, content=replace(content, figures=()))
    assert pdf.startswith(b"%PDF") and pdf_page_count(pdf) >= 2
    assert b"Units outside the control limits" in pdf
    assert _leaks(pdf, phi) == (set(), set())

    # CSV of every table, alone and zipped.
    csvs = meeting_pack_csvs(deid)
    names = {t.name for t in deid.tables()}
    assert set(csvs) == {f"{n}.csv" for n in names} and len(names) == 4 + 15  # 15 funnels: 3 unit types x 5 metrics
    with zipfile.ZipFile(io.BytesIO(meeting_pack_zip(deid))) as archive:
        zipped = {name: archive.read(name) for name in archive.namelist()}
    assert set(zipped) == set(csvs) | {"README.txt"}
    small = []
    for table in deid.tables():
        data = zipped[f"{table.name}.csv"]
        assert data == csvs[f"{table.name}.csv"]
        assert _leaks(data, phi) == (set(), set()), table.name
        frame = pd.read_csv(io.BytesIO(data), dtype=str, encoding="utf-8-sig", keep_default_na=False)
        assert list(frame.columns) == list(table.csv().columns)  # the headers, rates marked (%)
        for header in table.count_headers:
            for value in frame[header]:
                if value.replace(",", "").isdigit() and 1 <= int(value.replace(",", "")) <= 10:
                    small.append((table.name, header, value))
    assert small == []
    assert _leaks(zipped["README.txt"], phi) == (set(), set())
    # Suppression really happened (so the check above could have failed).
    assert any(b"<11" in data for data in csvs.values())


def test_identified_pack_does_contain_identifiers(reports, phi):
    """The leak check finds client ids when they are there: the identified pack (supervision) has them."""
    _, ident = reports
    ids_found, _ = _leaks(meeting_pack_html(ident), phi)
    listed = set(ident.alert_list.numeric["client_id"])
    assert listed and ids_found == listed
    csv_ids, _ = _leaks(meeting_pack_csvs(ident)["alert_list.csv"], phi)
    assert csv_ids == listed
    # The PDF check reads the page text too (charts left out here: they are images either way).
    content = replace(pack_content(ident), figures=())
    pdf_ids, _ = _leaks(meeting_pack_pdf(ident, compress=False, unicode_fonts=False, content=content), phi)
    assert pdf_ids == listed
    assert pack_file_name(ident, "pdf").endswith("_IDENTIFIED.pdf")


def test_pack_content_matches_the_report(reports):
    deid, _ = reports
    content = pack_content(deid)
    assert content.footer.endswith("de-identified quality-improvement pack")
    assert any(line.startswith("De-identified") for line in content.header_lines)
    # Trends (3 charts) and one funnel per unit type and metric.
    assert len(content.figures) == 3 + len(deid.funnels) == 18  # 3 unit types x 5 metrics
    flags = next(t for t in content.pdf_tables if t.title == deid.flags.title)
    assert len(flags.frame) == len(deid.flags.display)
    assert "Client review" not in " ".join(str(c) for t in content.html_tables for c in t.frame.columns)
    assert pack_file_name(deid, "zip") == f"qi-pack_{deid.as_of:%Y-%m-%d}_deidentified.zip"


def test_pdf_pack_renders_charts_as_images(reports):
    deid, _ = reports
    content = pack_content(deid)
    # The three trend charts and one funnel: enough to exercise kaleido without rendering all 15.
    pdf = meeting_pack_pdf(deid, content=replace(content, figures=content.figures[:4]))
    assert pdf.startswith(b"%PDF") and pdf_page_count(pdf) >= 3
    assert pdf.count(b"/Subtype /Image") >= 4
    assert b"DejaVu" in pdf  # the Unicode font, as the page download uses


def test_pack_of_an_empty_report_is_refused(tmp_path):
    from analytics import ClinicDatabase, import_files
    from tests.support.clinics import FIXTURE_TODAY, write_csv

    files = [write_csv(tmp_path / "clients.csv", "client_id,clinic,therapist_id,intake_date\nE1,North,T1,2026-01-05\n")]
    assert import_files(tmp_path / "e.duckdb", files, today=FIXTURE_TODAY).exit_code == 0
    with ClinicDatabase(tmp_path / "e.duckdb") as db:
        report = quality_report(db, LOCAL)
    with pytest.raises(ValueError):
        pack_content(report)
