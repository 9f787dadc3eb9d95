"""Every CSV export the pages offer, on the sample fixture clinic, reads like the table beside it
(issue 15, item 9): labelled headers (no raw snake_case column name), no float noise (at most two
decimals, or two significant digits for a p value), no "None"/"nan" cells, dates without a time
of day, no "+00:00" offsets.

The test opens each page (every tab of the tabbed ones, identified and de-identified) with the
download button replaced by a recorder, builds each CSV (and the CSVs inside a zip) and checks
every header and cell."""

from __future__ import annotations

import ast
import io
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import ui
from analytics import ClinicDatabase, Viewer, import_files
from analytics.audit import AUDIT_ENV, close_audit_logs
from tests.support.clinics import FIXTURE_TODAY, ROOT
from ui import opening

PAGES = ROOT / "pages"
KEY = "csv-export-test-pseudonym-key-0123456789"
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
DECIMAL = re.compile(r"^-?\d+\.(\d+)$")
MISSING = {"None", "nan", "NaN", "<NA>", "NaT", "null"}
TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}")
OFFSET = re.compile(r"[+-]\d{2}:\d{2}$|T\d{2}:\d{2}:\d{2}| 00:00:00")


def problems_of(name: str, body: bytes) -> list[str]:
    """What is wrong with one CSV export (empty when it reads like a table for people)."""
    frame = pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    found = []
    for header in frame.columns:
        if SNAKE.match(header):
            found.append(f"{name}: raw column name {header!r}")
        dates = "date" in header.lower()
        for value in frame[header]:
            decimals = DECIMAL.match(value)
            if decimals and len(decimals.group(1)) > 2:
                significant = value.lstrip("-").replace(".", "").lstrip("0")
                if len(significant) > 2:  # 0.00012 (a p value to 2 significant digits) is fine
                    found.append(f"{name}: {header!r} holds {value!r} (more than 2 decimals)")
            if value in MISSING:
                found.append(f"{name}: {header!r} holds {value!r}")
            if dates and TIME_OF_DAY.search(value):
                found.append(f"{name}: date column {header!r} holds a time of day: {value!r}")
            if OFFSET.search(value) and header != "Row as read":  # a rejected row is kept verbatim
                found.append(f"{name}: {header!r} holds a timestamp with an offset or a midnight time: {value!r}")
    return found


def test_the_check_catches_what_the_issue_saw():
    bad = (b"administered_date,quantity_pct,Quality (%),Started,Note\r\n"
           b"2026-01-05 00:00:00,91.66666666666666,58.3333,2026-01-05 10:00:00+00:00,None\r\n")
    found = problems_of("bad.csv", bad)
    assert len([p for p in found if "raw column name" in p]) == 2
    assert any("91.666" in p for p in found) and any("58.3333" in p for p in found)
    assert any("time of day" in p for p in found) and any("'None'" in p for p in found)
    assert any("+00:00" in p for p in found)
    good = b"Date,Quantity (%),p,Started (UTC)\r\n2026-01-05,58.3,0.00012,2026-01-05 10:00\r\n"
    assert problems_of("good.csv", good) == []


@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Every CSV a page offers while this test runs: file name -> bytes (CSVs inside a zip too)."""
    seen: dict[str, bytes] = {}

    def record(label, data, file_name, mime, **kwargs):  # noqa: ARG001 - the button's signature
        if mime not in ("text/csv", "application/zip"):
            return False
        body = data() if callable(data) else data
        body = body.encode("utf-8") if isinstance(body, str) else body
        if mime == "application/zip":
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                for inner in archive.namelist():
                    if inner.endswith(".csv"):
                        seen[f"{file_name}/{inner}"] = archive.read(inner)
        else:
            seen[file_name] = body
        return False

    monkeypatch.setattr(ui, "download_button", record)
    return seen


def cohort_tabs() -> list[str]:
    """The cohort page's tabs (its TABS tuple, read from the page's source)."""
    tree = ast.parse((PAGES / "cohort_outcomes.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "TABS" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise AssertionError("pages/cohort_outcomes.py has no TABS")


def _run(page: str, **query) -> AppTest:
    at = AppTest.from_file(str(PAGES / page), default_timeout=120)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, (page, query, [e.value for e in at.exception])
    return at


def test_every_csv_export_reads_like_its_table(sample_db_path: Path, tmp_path: Path, serve_database, monkeypatch,
                                               exports: dict[str, bytes]):
    # A copy of the sample clinic with an import that rejected a row (the rejects CSV), and an access log.
    db = tmp_path / "clinic.duckdb"
    db.write_bytes(sample_db_path.read_bytes())
    bad = tmp_path / "scores_bad.csv"
    bad.write_text("client_id,measure,administered_date,total_score\nC000001,PHQ9,2026-01-05,31\n")
    import_files(db, [bad], today=FIXTURE_TODAY, source="test")
    monkeypatch.setenv(AUDIT_ENV, str(tmp_path / "audit.duckdb"))
    monkeypatch.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", KEY)
    close_audit_logs()
    serve_database(db)
    with ClinicDatabase(db) as clinic:
        client = clinic.execute_sql(
            "SELECT client_id FROM scores GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")["client_id"].iloc[0]

    # Data: the history's rejects of the new batch, and a dry run's rejects.
    at = _run("data.py")
    assert at.selectbox(key="history_batch").value == 2
    at.file_uploader(key="import_files").set_value([("scores_check.csv", bad.read_bytes(), "text/csv")])
    at.run()
    at.button(key="run_dry_run").click().run()
    assert not at.exception, at.exception
    # Client review: the weekly homework of a client with many scores.
    _run("client_review.py", client=client)
    # Cohort outcomes: every tab (identified), then the de-identified view of a qi viewer.
    for section in cohort_tabs():
        _run("cohort_outcomes.py", section=section)
    # Quality improvement: every tab, de-identified (the default) and identified.
    for section in ("Trends", "Comparisons", "Not on track", "Meeting pack"):
        at = _run("quality_improvement.py", section=section)
        at.toggle(key="qi_deidentified").set_value(False).run()
        assert not at.exception, at.exception
    local = opening.viewer
    qi = Viewer(role="qi", email="qi@clinic.org")
    monkeypatch.setattr(opening, "viewer", lambda: qi)
    _run("cohort_outcomes.py")
    monkeypatch.setattr(opening, "viewer", local)
    # The access log (local administrator).
    _run("admin_audit.py")
    close_audit_logs()

    expected = {"import-2-rejects.csv", "dry-run-rejects.csv", "alert_list_IDENTIFIED.csv"}
    assert expected <= set(exports), sorted(exports)
    assert any(n.startswith("cohort_") and n.endswith("_deidentified.csv") for n in exports)
    assert any(n.startswith("cohort_") and not n.endswith("_deidentified.csv") for n in exports)
    assert any("weekly-homework" in n for n in exports) and any(n.startswith("access-log-") for n in exports)
    assert any(".zip/" in n for n in exports)
    problems = [p for name, body in sorted(exports.items()) for p in problems_of(name, body)]
    assert problems == [], "\n".join(problems[:400])
