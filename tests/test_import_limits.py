"""Resource limits of .xlsx imports (issue 10, item 9): the uncompressed size and the row
count are checked before rows are read, rows are streamed, and sheets that are not tables
are never read. No timing assertion: each test asserts the refusal and, through a spy on
openpyxl's row reader, that the rows were never materialised.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.worksheet import _read_only, _reader

from analytics import Settings, import_files
from analytics.ingest import importer as importer_module
from tests.support.clinics import FIXTURE_TODAY, write_csv

CLIENTS = """
client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date
C1,North,T1,Depression CBT,depression,2025-01-06,
"""
HEADER = ["client_id", "measure", "administered_date", "total_score"]
ROWS_OVER = "above the limit of {:,} rows per sheet (setting max_xlsx_rows); export large tables as CSV or Parquet"


def _workbook(path: Path, sheets: dict[str, list[list]], *, write_only: bool = False) -> Path:
    """Write sheets (title -> rows). openpyxl's normal mode writes a <dimension>; write-only does not."""
    workbook = openpyxl.Workbook(write_only=write_only)
    if not write_only:
        workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


def _rewrite_member(path: Path, member: str, change) -> None:
    """Rewrite one part of the workbook's zip (to craft a lying or huge sheet)."""
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    parts[member] = change(parts[member])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def _scores(n: int, start: int = 0) -> list[list]:
    return [["C1", "PHQ-9", f"2025-{1 + (i // 28) % 12:02d}-{1 + i % 28:02d}", i % 28] for i in range(start, start + n)]


@pytest.fixture
def row_reads(monkeypatch) -> list[str]:
    """Titles of the sheets whose rows openpyxl parses (one entry per row yielded)."""
    seen: list[str] = []
    original = _read_only.ReadOnlyWorksheet._cells_by_row

    def spy(self, *args, **kwargs):
        for row in original(self, *args, **kwargs):
            seen.append(self.title)
            yield row

    monkeypatch.setattr(_read_only.ReadOnlyWorksheet, "_cells_by_row", spy)
    return seen


def _run(tmp_path: Path, workbook: Path, **settings):
    clients = write_csv(tmp_path / "clients.csv", CLIENTS)
    return import_files(tmp_path / "clinic.duckdb", [clients, workbook], today=FIXTURE_TODAY,
                        settings=Settings(**settings))


def _refusal(result, name: str) -> str:
    report = next(f for f in result.files if f.file_name == name)
    assert report.status == "refused", result.report()
    return report.message


def test_a_huge_declared_dimension_is_refused_before_any_row_is_read(tmp_path, row_reads):
    book = _workbook(tmp_path / "scores.xlsx", {"scores": [HEADER, *_scores(3)]})
    _rewrite_member(book, "xl/worksheets/sheet1.xml",
                    lambda xml: re.sub(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:D5000000"', xml))
    result = _run(tmp_path, book)
    assert _refusal(result, "scores.xlsx") == "sheet 'scores': it declares 5,000,000 rows, " + ROWS_OVER.format(100_000)
    assert row_reads == []  # before the fix every row of the sheet was read (and imported)


def test_too_many_rows_are_refused_from_the_raw_xml_when_the_dimension_is_missing_or_lies(tmp_path, row_reads):
    rows = [HEADER, *_scores(150)]
    no_dimension = _workbook(tmp_path / "scores.xlsx", {"scores": rows}, write_only=True)
    result = _run(tmp_path, no_dimension, max_xlsx_rows=100)
    assert _refusal(result, "scores.xlsx") == "sheet 'scores': it has more than 100 rows, " + ROWS_OVER.format(100)
    (tmp_path / "lying").mkdir()
    lying = _workbook(tmp_path / "lying" / "scores.xlsx", {"scores": rows})
    _rewrite_member(lying, "xl/worksheets/sheet1.xml",
                    lambda xml: re.sub(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:D3"', xml))
    result = _run(tmp_path / "lying", lying, max_xlsx_rows=100)
    assert _refusal(result, "scores.xlsx") == "sheet 'scores': it has more than 100 rows, " + ROWS_OVER.format(100)
    assert row_reads == []


def test_rows_missing_from_the_xml_count_towards_the_limit_while_streaming(tmp_path, row_reads):
    """One cell at row 5000 and no dimension: openpyxl yields 4998 empty rows before it;
    the reader stops at the limit instead."""
    book = _workbook(tmp_path / "scores.xlsx", {"scores": [HEADER]})
    workbook = openpyxl.load_workbook(book)
    workbook["scores"].cell(row=5000, column=1, value="C1")
    workbook.save(book)
    _rewrite_member(book, "xl/worksheets/sheet1.xml", lambda xml: re.sub(rb'<dimension ref="[^"]+"\s*/>', b"", xml))
    result = _run(tmp_path, book, max_xlsx_rows=100)
    assert _refusal(result, "scores.xlsx") == "sheet 'scores': it has more than 100 rows, " + ROWS_OVER.format(100)
    assert len(row_reads) == 102  # header + 100 rows + the one that went over


def test_a_workbook_too_large_uncompressed_is_refused_before_it_is_opened(tmp_path, monkeypatch):
    book = _workbook(tmp_path / "scores.xlsx", {"scores": [HEADER, *_scores(3)]})
    with zipfile.ZipFile(book, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/padding.bin", b"\0" * (3 * 1024 * 1024))  # 3 MB, compresses to a few KB
    opened: list[object] = []
    monkeypatch.setattr(openpyxl, "load_workbook", lambda *a, **k: opened.append(a))
    result = _run(tmp_path, book, max_xlsx_uncompressed_mb=2)
    assert _refusal(result, "scores.xlsx") == (
        "the workbook is 3 MB uncompressed, above the limit of 2 MB (setting max_xlsx_uncompressed_mb); "
        "export large tables as CSV or Parquet"
    )
    assert opened == []


def test_sheets_that_are_not_tables_are_never_read(tmp_path, row_reads, monkeypatch):
    full_parses: list[object] = []
    original = _reader.WorkSheetParser.parse_dimensions
    monkeypatch.setattr(_reader.WorkSheetParser, "parse_dimensions",
                        lambda self: full_parses.append(self) or original(self))
    # Write-only sheets carry no <dimension>: openpyxl's own size check parses them whole.
    book = _workbook(tmp_path / "export.xlsx", {
        "Notes": [["note"], *([f"line {i}"] for i in range(500))],
        "scores": [HEADER, *_scores(3)],
        "Pivot": [["a", "b"], [1, 2]],
    }, write_only=True)
    result = _run(tmp_path, book)
    assert result.exit_code == 0, result.report()
    assert result.per_table["scores"]["inserted"] == 3
    assert set(row_reads) == {"scores"}
    assert full_parses == []


def test_rows_are_staged_in_chunks_with_their_sheet_row_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(importer_module, "_XLSX_CHUNK", 2)
    rows = [HEADER, *_scores(2), [None, None, None, None], *_scores(3, start=2)]
    book = _workbook(tmp_path / "scores.xlsx", {"scores": rows})
    clients = write_csv(tmp_path / "clients.csv", CLIENTS)
    bad = tmp_path / "scores.xlsx"
    result = import_files(tmp_path / "clinic.duckdb", [clients, book], today=FIXTURE_TODAY)
    assert result.exit_code == 0, result.report()
    assert result.per_table["scores"]["inserted"] == 5
    # A rejected row still names its sheet row (blank row 4 skipped, row 7 is the fifth score).
    rows[6][3] = 99
    _workbook(bad, {"scores": rows})
    result = import_files(tmp_path / "again.duckdb", [clients, bad], today=FIXTURE_TODAY)
    assert [(r.file_name, r.line_number, r.column, r.value) for r in result.rejects_preview] == [
        ("scores.xlsx [scores]", 7, "total_score", "99")
    ]


def test_a_dimension_smaller_than_the_data_no_longer_cuts_rows_off(tmp_path):
    """openpyxl's read-only reader stops at the declared last row: a sheet claiming A1:D3
    with ten scores lost eight of them silently."""
    book = _workbook(tmp_path / "scores.xlsx", {"scores": [HEADER, *_scores(10)]})
    _rewrite_member(book, "xl/worksheets/sheet1.xml",
                    lambda xml: re.sub(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:D3"', xml))
    result = _run(tmp_path, book)
    assert result.exit_code == 0, result.report()
    assert result.per_table["scores"]["inserted"] == 10


def test_an_import_runs_within_the_memory_setting(tmp_path):
    """DuckDB's memory during an import is bounded by import_memory_mb (beyond it, staged rows
    spill to a temporary folder): the 1M-client benchmark export imports within ~4 GB."""
    import datetime as dt

    import duckdb

    from analytics.storage import ensure_schema
    from sample_data.generator import write_export

    paths = write_export(tmp_path / "csv", 50, seed=7)
    settings = Settings(import_memory_mb=256)
    con = duckdb.connect(str(tmp_path / "clinic.duckdb"))
    try:
        ensure_schema(con, settings)
        result = importer_module._import_into(con, paths, [p.name for p in paths], importer_module.MappingProfile(),
                                              settings, "test", dt.date(2026, 11, 1))
        assert result.exit_code == 0, result.report()
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "256.0 MiB"
    finally:
        con.close()
