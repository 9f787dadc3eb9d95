"""Import rules for dates (issue 10, items 7 and 13): implausible dates are rejected with
file, line, column, value and rule; timezone-aware Parquet timestamps become the clinic's
local date; and no client-review code crashes on any date the database can hold.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics import Settings, import_files
from tests.support.charts import drawn_charts
from tests.support.clinics import FIXTURE_TODAY, fixture_csv, write_csv

UTC = dt.UTC
CLIENTS = """
client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date
C1,North,T1,Depression CBT,depression,2025-01-06,
"""


def _rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _tz_scores(path: Path) -> Path:
    """Three PHQ-9 scores stamped as instants near midnight UTC (a timezone-aware column)."""
    stamps = [
        dt.datetime(2025, 3, 1, 23, 30, tzinfo=UTC),   # GMT in London: still 1 March
        dt.datetime(2025, 6, 30, 23, 30, tzinfo=UTC),  # BST in London: already 1 July
        dt.datetime(2025, 8, 1, 0, 30, tzinfo=UTC),    # 1 August in London, 31 July in New York
    ]
    table = pa.table({
        "client_id": ["C1", "C1", "C1"],
        "measure": ["PHQ-9", "PHQ-9", "PHQ-9"],
        "administered_date": pa.array(stamps, type=pa.timestamp("us", tz="UTC")),
        "total_score": [15, 12, 9],
    })
    pq.write_table(table, path)
    return path


def test_parquet_timezone_aware_timestamps_become_the_clinic_local_date(tmp_path):
    """Item 13: before the fix the whole file was refused ("Unimplemented type for cast")."""
    clients = write_csv(tmp_path / "clients.csv", CLIENTS)
    scores = _tz_scores(tmp_path / "scores.parquet")
    db = tmp_path / "london.duckdb"
    result = import_files(db, [clients, scores], today=FIXTURE_TODAY)  # default: Europe/London
    assert result.files_refused == 0, result.report()
    assert result.exit_code == 0, result.report()
    assert _rows(db, "SELECT administered_date, total_score FROM scores ORDER BY total_score DESC") == [
        (dt.date(2025, 3, 1), 15), (dt.date(2025, 7, 1), 12), (dt.date(2025, 8, 1), 9),
    ]

    ny = tmp_path / "new_york.duckdb"
    result = import_files(ny, [clients, scores], today=FIXTURE_TODAY,
                          settings=Settings(clinic_timezone="America/New_York"))
    assert result.exit_code == 0, result.report()
    assert _rows(ny, "SELECT administered_date FROM scores ORDER BY total_score DESC") == [
        (dt.date(2025, 3, 1),), (dt.date(2025, 6, 30),), (dt.date(2025, 7, 31),),
    ]


def test_parquet_timezone_aware_with_unknown_clinic_timezone_is_refused_with_the_setting(tmp_path):
    clients = write_csv(tmp_path / "clients.csv", CLIENTS)
    scores = _tz_scores(tmp_path / "scores.parquet")
    result = import_files(tmp_path / "x.duckdb", [clients, scores], today=FIXTURE_TODAY,
                          settings=replace(Settings(), clinic_timezone="Mars/Olympus"))
    refused = [f for f in result.files if f.status == "refused"]
    assert [f.file_name for f in refused] == ["scores.parquet"]
    assert "clinic_timezone setting 'Mars/Olympus' is not a known time zone" in refused[0].message


# --------------------------------------------------------------------------- item 7: date rules

EARLY = "implausible date: before 1990-01-01 (setting earliest_plausible_date)"
SCREENING = "administered_date is more than 90 days before the client's intake_date (setting screening_window_days)"
BEFORE_INTAKE = "assigned_date is before the client's intake_date"
DATES_CLIENTS = fixture_csv("test_import_dates", "dates_clients")
DATES_SCORES = fixture_csv("test_import_dates", "dates_scores")
ASSIGNMENTS = fixture_csv("test_import_dates", "assignments")


def _date_rejects(result) -> list[tuple]:
    return [(r.file_name, r.line_number, r.column, r.value, r.rule) for r in result.rejects_preview]


def test_implausible_dates_are_rejected_with_file_line_column_value_and_rule(tmp_path):
    files = [write_csv(tmp_path / "clients.csv", DATES_CLIENTS), write_csv(tmp_path / "scores.csv", DATES_SCORES),
             write_csv(tmp_path / "assignments.csv", ASSIGNMENTS)]
    db = tmp_path / "dates.duckdb"
    result = import_files(db, files, today=FIXTURE_TODAY)
    assert sorted(_date_rejects(result)) == sorted([
        ("clients.csv", 3, "intake_date", "0001-01-01", EARLY),
        ("clients.csv", 4, "intake_date", "1899-12-30", EARLY),
        ("clients.csv", 5, "discharge_date", "1899-12-30", EARLY),
        ("scores.csv", 2, "administered_date", "0001-01-01", EARLY),
        ("scores.csv", 3, "administered_date", "1899-12-30", EARLY),
        # intake 2025-01-06: 2024-10-08 is 90 days before (screening, kept), 2024-10-07 is 91.
        ("scores.csv", 4, "administered_date", "2024-10-07", SCREENING),
        ("assignments.csv", 2, "assigned_date", "2025-01-05", BEFORE_INTAKE),
        ("assignments.csv", 4, "assigned_date", "1989-12-31", EARLY),
    ])
    # One line each (the report shows a line's first broken rule; C4's line also breaks
    # "discharge_date is before intake_date").
    assert result.rejected == 8
    assert _rows(db, "SELECT client_id FROM clients") == [("C1",)]
    assert _rows(db, "SELECT administered_date FROM scores ORDER BY 1") == [(dt.date(2024, 10, 8),), (dt.date(2025, 1, 6),)]
    assert _rows(db, "SELECT assignment_id FROM assignments") == [("A2",)]
    # The first score of C1 is the plausible one, not year 0001.
    assert _rows(db, "SELECT min(administered_date) FROM scores") == [(dt.date(2024, 10, 8),)]


def test_date_bounds_are_configurable(tmp_path):
    files = [write_csv(tmp_path / "clients.csv", DATES_CLIENTS), write_csv(tmp_path / "scores.csv", DATES_SCORES)]
    settings = Settings(earliest_plausible_date=dt.date(1800, 1, 1), screening_window_days=0)
    result = import_files(tmp_path / "conf.duckdb", files, today=FIXTURE_TODAY, settings=settings)
    rejects = _date_rejects(result)
    assert ("clients.csv", 3, "intake_date", "0001-01-01",
            "implausible date: before 1800-01-01 (setting earliest_plausible_date)") in rejects
    assert ("clients.csv", 4, "intake_date", "1899-12-30") not in [r[:4] for r in rejects]
    window = "administered_date is more than 0 days before the client's intake_date (setting screening_window_days)"
    assert ("scores.csv", 5, "administered_date", "2024-10-08", window) in rejects


def test_xlsx_excel_epoch_date_cell_is_rejected(tmp_path):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "scores"
    sheet.append(["client_id", "measure", "administered_date", "total_score"])
    sheet.append(["C1", "PHQ-9", dt.datetime(1899, 12, 30), 12])  # a date cell holding 0: read as a time
    sheet.append(["C1", "PHQ-9", dt.datetime(1900, 1, 1), 14])  # a date cell holding 1
    sheet.append(["C1", "PHQ-9", dt.datetime(2025, 1, 6), 16])
    workbook.save(tmp_path / "export.xlsx")
    clients = write_csv(tmp_path / "clients.csv", CLIENTS)
    result = import_files(tmp_path / "x.duckdb", [clients, tmp_path / "export.xlsx"], today=FIXTURE_TODAY)
    assert _date_rejects(result) == [
        ("export.xlsx [scores]", 2, "administered_date", "00:00:00", "expected a real date as YYYY-MM-DD"),
        ("export.xlsx [scores]", 3, "administered_date", "1900-01-01", EARLY),
    ]
    assert result.per_table["scores"]["inserted"] == 1


def test_a_future_date_after_the_injected_today_is_rejected(tmp_path):
    scores = write_csv(tmp_path / "scores.csv", "client_id,measure,administered_date,total_score\nC1,PHQ-9,2026-11-28,12\n")
    result = import_files(tmp_path / "f.duckdb", [write_csv(tmp_path / "clients.csv", CLIENTS), scores],
                          today=FIXTURE_TODAY)
    assert _date_rejects(result) == [("scores.csv", 2, "administered_date", "2026-11-28", "date lies in the future")]


# ----------------------------------------------- item 7: any stored date renders without a crash


@pytest.fixture(scope="module")
def extreme_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny clinic with dates the importer now refuses, written directly (as an older
    import or another tool could have stored them): the edges of what DATE holds in Python."""
    from tests.support.clinics import build_tiny_clinic

    db = build_tiny_clinic(tmp_path_factory.mktemp("extreme"))
    con = duckdb.connect(str(db))
    try:
        con.execute("UPDATE clients SET intake_date = DATE '0001-01-01' WHERE client_id = 'C1'")
        con.execute("UPDATE scores SET administered_date = DATE '9999-12-31' WHERE client_id = 'C2' AND total_score = 14")
        con.execute("UPDATE clients SET intake_date = DATE '0001-01-01', discharge_date = DATE '9999-12-31' "
                    "WHERE client_id = 'C4'")
    finally:
        con.close()
    return db


@pytest.mark.parametrize(("client", "first", "last"), [
    ("C1", "0001-01-01", None),  # year-0001 intake: OverflowError in client_charts before the fix
    ("C2", None, "9999-12-31"),  # a year-9999 score
    ("C4", "0001-01-01", "9999-12-31"),  # both ends
])
def test_client_review_chart_draws_extreme_stored_dates(extreme_db_path, client, first, last):
    from analytics import ClinicDatabase, Viewer
    from analytics.client_review.charts import client_figure
    from analytics.client_review.model import client_review

    with ClinicDatabase(extreme_db_path) as db:
        review = client_review(db, Viewer.local(), client, as_of=FIXTURE_TODAY)
    assert review is not None
    figure = client_figure(review)
    start, end = figure.layout.xaxis.range
    # The scores are still drawn, at their stored dates, inside the axis range; the range is
    # clamped to the first and last date Python can hold.
    stored = sorted(d.date().isoformat() for d in review.scores["administered_date"])
    measures = tuple(review.scores["measure"].unique())
    drawn = sorted(x for t in figure.data if t.name and t.name.startswith(measures) and "item 9" not in t.name
                   for x in t.x)
    assert drawn == stored
    assert start <= stored[0] and end >= stored[-1]
    if first:
        assert start == first
    if last:
        assert end == last


def test_client_review_chart_of_a_year_0001_intake_draws_only_the_weeks_with_homework(extreme_db_path):
    """105,000 weeks since a year-0001 intake: the homework traces keep the weeks with homework
    (and one gap point after each), so the figure stays small."""
    from analytics import ClinicDatabase, Viewer
    from analytics.client_review.charts import client_figure
    from analytics.client_review.model import client_review

    with ClinicDatabase(extreme_db_path) as db:
        review = client_review(db, Viewer.local(), "C1", as_of=FIXTURE_TODAY)
    assert len(review.weekly) > 100_000
    bars = next(t for t in client_figure(review).data if t.name == "Assignments set")
    with_homework = review.weekly[review.weekly["assignments"] > 0]
    assert [y for y in bars.y if y] == [int(v) for v in with_homework["assignments"]]
    assert len(bars.x) <= 2 * len(with_homework)


@pytest.mark.parametrize("client", ["C2", "C4"])
def test_client_review_page_renders_extreme_stored_dates(extreme_db_path, serve_database, client):
    from streamlit.testing.v1 import AppTest

    from tests.support.clinics import ROOT

    serve_database(extreme_db_path)
    at = AppTest.from_file(str(ROOT / "pages" / "client_review.py"), default_timeout=120)
    at.query_params["client"] = client
    at.run()
    assert not at.exception, at.exception
    assert len(drawn_charts(at)) == 1


def test_data_page_imports_with_the_deployment_settings(tmp_path, serve_database, monkeypatch):
    """The Data page used Settings() whatever BETWEEN_SESSIONS_CONFIG said: a clinic's date
    bounds (and time zone, measures) were ignored for uploads."""
    from streamlit.testing.v1 import AppTest

    from tests.support.clinics import ROOT

    db = tmp_path / "clinic.duckdb"
    assert import_files(db, [write_csv(tmp_path / "clients.csv", CLIENTS)], today=FIXTURE_TODAY).exit_code == 0
    config = tmp_path / "settings.toml"
    config.write_text("screening_window_days = 0\n", encoding="utf-8")
    monkeypatch.setenv("BETWEEN_SESSIONS_CONFIG", str(config))
    serve_database(db)
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=60).run()
    csv = b"client_id,measure,administered_date,total_score\nC1,PHQ-9,2024-12-07,15\n"  # 30 days before intake
    at.file_uploader(key="import_files").set_value([("scores.csv", csv, "text/csv")])
    at.run()
    at.button(key="run_import").click().run()
    assert not at.exception, at.exception
    rejects = [r for r in (d.value for d in at.dataframe) if "Rule broken" in r.columns]
    assert rejects and rejects[0]["Rule broken"].tolist() == [
        "administered_date is more than 0 days before the client's intake_date (setting screening_window_days)"
    ]
