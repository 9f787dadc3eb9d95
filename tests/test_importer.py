"""The importer: every validation rule, CSV dialects, xlsx, Parquet, profiles, re-import, batches.

Each test imports small hand-written exports through :func:`analytics.import_files` and
asserts the exact rejects (file, line, column, value, rule) and the exact stored rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from analytics import import_files
from analytics.ingest import importer as importer_module
from analytics.ingest.importer import ImportResult, Reject
from analytics.ingest.profiles import MappingProfile, ProfileError, load_profile
from tests.support.clinics import ROOT

TODAY = dt.date(2026, 11, 27)
D = dt.date

# Rule messages, written out once so that a changed wording fails here.
REQUIRED = "required value is missing"
ISO_DATE = "expected a real date as YYYY-MM-DD"
FUTURE = "date lies in the future"
NOT_BOOL = "not a yes/no value (true/false, yes/no, y/n, 1/0)"
NOT_INT = "not a whole number"
RATING_RANGE = "must be between 0 and 4"
AT_LEAST_1 = "must be 1 or more"
HOMEWORK = (
    "unknown homework type (allowed: thought_record, behavioural_activation, exposure, relaxation, "
    "diary_card, journal, skills_practice, reading, other)"
)
RATER = "unknown rater (allowed: therapist, client, both)"
MEASURE = "unknown measure (configured: PHQ-9, GAD-7, CORE-10)"
DUPLICATE = "duplicate key with different values from line {} of the same file"
UNKNOWN_CLIENT = "unknown client_id: not stored and not in this import's clients"
TOO_MANY_FIELDS = "the row has more fields than the header"

CLIENTS_HEADER = "client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date"
SESSIONS_HEADER = "client_id,session_date,attended,session_number"
ASSIGNMENTS_HEADER = (
    "assignment_id,client_id,assigned_date,homework_type,goal_linked,rationale_given,rehearsed_in_session,"
    "practice_scheduled,obstacles_planned,involves_others,planned_practices,completed_practices,"
    "quantity_rating,quality_rating,rated_by,reviewed_date,description"
)
SCORES_HEADER = "client_id,measure,administered_date,total_score," + ",".join(f"item_{i}" for i in range(1, 11))

BASE_CLIENTS = f"""{CLIENTS_HEADER}
C1,North,T1,Depression CBT,depression,2025-01-06,2025-04-07
C2,South,T2,Anxiety CBT,panic,2025-01-13,
"""


# --------------------------------------------------------------------------- helpers


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def run(db: Path, *paths: Path, **kwargs) -> ImportResult:
    kwargs.setdefault("today", TODAY)
    return import_files(db, list(paths), **kwargs)


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def rejects(db: Path, batch_id: int) -> list[tuple]:
    """(file, line, column, value, rule) of one batch, in line order."""
    return query(
        db,
        """SELECT file_name, line_number, column_name, value, rule FROM import_rejects
        WHERE batch_id = ? ORDER BY file_name, line_number, column_name NULLS FIRST, rule""",
        [batch_id],
    )


def stored(db: Path, table: str) -> list[tuple]:
    """Every data column of a table (not batch_id), fully ordered."""
    cols = {
        "clients": "client_id, clinic, therapist_id, program, primary_concern, intake_date, discharge_date",
        "sessions": "client_id, session_date, attended, session_number",
        "assignments": ASSIGNMENTS_HEADER.replace(",", ", "),
        "scores": "client_id, measure, administered_date, total_score, "
        + ", ".join(f"item_{i}" for i in range(1, 11)),
    }[table]
    return query(db, f"SELECT {cols} FROM {table} ORDER BY ALL")


def all_tables(db: Path) -> dict[str, list[tuple]]:
    return {t: stored(db, t) for t in ("clients", "sessions", "assignments", "scores")}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "clinic.duckdb"


@pytest.fixture
def with_clients(tmp_path: Path, db: Path) -> Path:
    """A database holding clients C1 and C2 (batch 1)."""
    result = run(db, write(tmp_path / "base", "clients.csv", BASE_CLIENTS))
    assert result.exit_code == 0, result.report()
    return db


# ------------------------------------------------------------------ validation rules


def test_client_rules_dates_duplicates_and_extra_fields(tmp_path, db):
    path = write(
        tmp_path,
        "clients.csv",
        f"""{CLIENTS_HEADER}
C1,North,T1,Depression CBT,depression,2025-01-06,2025-04-07
,North,T1,Depression CBT,depression,2025-01-06,
C3,North,,Depression CBT,depression,2025-01-06,
C4,North,T1,Depression CBT,depression,2025-1-5,
C5,North,T1,Depression CBT,depression,2025-02-30,
C6,North,T1,Depression CBT,depression,2026-11-28,
C7,North,T1,Depression CBT,depression,2026-11-27,
C8,North,T1,Depression CBT,depression,2025-03-01,2025-02-28
C9,North,T1,Depression CBT,depression,2025-03-01,2025-03-01
C1,North,T1,Depression CBT,depression,2025-01-06,2025-04-07
C9,South,T1,Depression CBT,depression,2025-03-01,2025-03-01
C10,North,T1,Depression CBT,depression,2025-03-01,,extra
""",
    )
    result = run(db, path)
    expected = [
        ("clients.csv", 3, "client_id", None, REQUIRED),
        ("clients.csv", 4, "therapist_id", None, REQUIRED),
        ("clients.csv", 5, "intake_date", "2025-1-5", ISO_DATE),
        ("clients.csv", 6, "intake_date", "2025-02-30", ISO_DATE),
        ("clients.csv", 7, "intake_date", "2026-11-28", FUTURE),
        ("clients.csv", 9, "discharge_date", "2025-02-28", "discharge_date is before intake_date"),
        ("clients.csv", 12, "client_id", "C9", DUPLICATE.format(10)),
        ("clients.csv", 13, None, None, TOO_MANY_FIELDS),
    ]
    assert rejects(db, result.batch_id) == expected
    # The same rejects in the result, table "clients", in line order.
    assert [(r.file_name, r.line_number, r.column, r.value, r.rule) for r in result.rejects_preview] == expected
    assert {r.table for r in result.rejects_preview} == {"clients"}
    assert (result.rows_read, result.inserted, result.updated, result.unchanged, result.rejected) == (12, 3, 0, 0, 8)
    assert result.exit_code == 1
    # Valid rows of the same file are stored; the identical duplicate C1 collapsed to one row,
    # the conflicting C9 (line 12) lost to the first (line 10).
    assert stored(db, "clients") == [
        ("C1", "North", "T1", "Depression CBT", "depression", D(2025, 1, 6), D(2025, 4, 7)),
        ("C7", "North", "T1", "Depression CBT", "depression", D(2026, 11, 27), None),
        ("C9", "North", "T1", "Depression CBT", "depression", D(2025, 3, 1), D(2025, 3, 1)),
    ]
    report = result.report()
    assert "  clients.csv -> clients: 12 rows read, 8 rejected" in report
    assert "  inserted 3, updated 0, unchanged 0, rejected 8 rows, refused 0 files" in report
    assert "First rejected rows (8 of 8 rows shown):" in report
    assert "  clients.csv line 5, column intake_date, value '2025-1-5': expected a real date as YYYY-MM-DD" in report
    assert "  clients.csv line 3, column client_id, value (empty): required value is missing" in report
    assert "  clients.csv line 13: the row has more fields than the header" in report
    # The rejected row is kept verbatim, keyed by the file's own header.
    raw = query(db, "SELECT raw_row FROM import_rejects WHERE line_number = 5")[0][0]
    assert json.loads(raw) == {
        "client_id": "C4", "clinic": "North", "therapist_id": "T1", "program": "Depression CBT",
        "primary_concern": "depression", "intake_date": "2025-1-5", "discharge_date": None,
    }


def test_session_booleans_integers_and_default_attended(tmp_path, with_clients):
    path = write(
        tmp_path,
        "sessions.csv",
        f"""{SESSIONS_HEADER}
C1,2025-01-06,true,1
C1,2025-01-07,FALSE,2
C1,2025-01-08,Yes,3
C1,2025-01-09,NO,4
C1,2025-01-10,Y,5
C1,2025-01-11,n,6
C1,2025-01-12,1,7
C1,2025-01-13,0,8
C1,2025-01-14,,9
C1,2025-01-15,maybe,10
C1,2025-01-16,true,0
C1,2025-01-17,true,two
C1,2025-01-18,true,
C1,,true,1
""",
    )
    result = run(with_clients, path)
    assert rejects(with_clients, result.batch_id) == [
        ("sessions.csv", 11, "attended", "maybe", NOT_BOOL),
        ("sessions.csv", 12, "session_number", "0", AT_LEAST_1),
        ("sessions.csv", 13, "session_number", "two", NOT_INT),
        ("sessions.csv", 15, "session_date", None, REQUIRED),
    ]
    assert (result.inserted, result.rejected) == (10, 4)
    assert stored(with_clients, "sessions") == [
        ("C1", D(2025, 1, 6), True, 1),
        ("C1", D(2025, 1, 7), False, 2),
        ("C1", D(2025, 1, 8), True, 3),
        ("C1", D(2025, 1, 9), False, 4),
        ("C1", D(2025, 1, 10), True, 5),
        ("C1", D(2025, 1, 11), False, 6),
        ("C1", D(2025, 1, 12), True, 7),
        ("C1", D(2025, 1, 13), False, 8),
        ("C1", D(2025, 1, 14), True, 9),  # empty attended defaults to true
        ("C1", D(2025, 1, 18), True, None),
    ]


def _assignment(aid: str, **values: str) -> str:
    row = {
        "assignment_id": aid, "client_id": "C1", "assigned_date": "2025-01-06", "homework_type": "journal",
        "goal_linked": "", "rationale_given": "", "rehearsed_in_session": "", "practice_scheduled": "",
        "obstacles_planned": "", "involves_others": "", "planned_practices": "3", "completed_practices": "",
        "quantity_rating": "", "quality_rating": "", "rated_by": "", "reviewed_date": "", "description": "",
    }
    row.update(values)
    return ",".join(row.values())


def test_assignment_rules(tmp_path, with_clients):
    lines = [
        _assignment("A1", homework_type="Thought Record", goal_linked="TRUE", rationale_given="no",
                    rehearsed_in_session="y", practice_scheduled="N", obstacles_planned="1", involves_others="0"),
        _assignment("A2", homework_type="thought-record"),
        _assignment("A3", homework_type="BEHAVIOURAL ACTIVATION"),
        _assignment("A4", homework_type="yoga"),  # line 5
        _assignment("A5", planned_practices="0"),  # line 6
        _assignment("A6", planned_practices="4", completed_practices="0"),
        _assignment("A7", planned_practices="2", completed_practices="5"),
        _assignment("A8", quantity_rating="5"),  # line 9
        _assignment("A9", quality_rating="-1"),  # line 10
        _assignment("A10", quantity_rating="4", quality_rating="0", rated_by="Both", reviewed_date="2025-01-13"),
        _assignment("A11", rated_by="supervisor"),  # line 12
        _assignment("A12", reviewed_date="2025-01-05"),  # line 13
        _assignment("A13", reviewed_date="2025-01-06", quantity_rating="2.0"),
        _assignment("A14", goal_linked="maybe"),  # line 15
        _assignment("A15", completed_practices="1.5"),  # line 16
        _assignment("", client_id="", homework_type=""),  # line 17
        _assignment("A17", client_id="CX"),  # line 18
        _assignment("A18", homework_type="Behavioral-Activation"),  # US spelling
    ]
    path = write(tmp_path, "assignments.csv", ASSIGNMENTS_HEADER + "\n" + "\n".join(lines) + "\n")
    result = run(with_clients, path)
    assert rejects(with_clients, result.batch_id) == [
        ("assignments.csv", 5, "homework_type", "yoga", HOMEWORK),
        ("assignments.csv", 6, "planned_practices", "0", AT_LEAST_1),
        ("assignments.csv", 9, "quantity_rating", "5", RATING_RANGE),
        ("assignments.csv", 10, "quality_rating", "-1", RATING_RANGE),
        ("assignments.csv", 12, "rated_by", "supervisor", RATER),
        ("assignments.csv", 13, "reviewed_date", "2025-01-05", "reviewed_date is before assigned_date"),
        ("assignments.csv", 15, "goal_linked", "maybe", NOT_BOOL),
        ("assignments.csv", 16, "completed_practices", "1.5", NOT_INT),
        ("assignments.csv", 17, "assignment_id", None, REQUIRED),
        ("assignments.csv", 17, "client_id", None, REQUIRED),
        ("assignments.csv", 17, "homework_type", None, REQUIRED),
        ("assignments.csv", 18, "client_id", "CX", UNKNOWN_CLIENT),
    ]
    assert (result.rows_read, result.inserted, result.rejected) == (18, 8, 10)
    rows = {r[0]: r for r in stored(with_clients, "assignments")}
    assert sorted(rows) == ["A1", "A10", "A13", "A18", "A2", "A3", "A6", "A7"]
    assert rows["A1"][3:10] == ("thought_record", True, False, True, False, True, False)
    assert rows["A2"][3] == "thought_record"
    assert rows["A3"][3] == "behavioural_activation"
    assert rows["A18"][3] == "behavioural_activation"
    assert rows["A2"][4:10] == (None,) * 6  # empty booleans are unknown
    assert rows["A6"][10:12] == (4, 0)  # completed 0 allowed
    assert rows["A7"][10:12] == (2, 5)  # more than planned allowed
    assert rows["A10"][12:16] == (4, 0, "both", D(2025, 1, 13))
    assert rows["A13"][12] == 2  # "2.0" is the whole number 2


def _score(client: str, measure: str, date: str, total: str, *items: str) -> str:
    cells = list(items) + [""] * (10 - len(items))
    return ",".join([client, measure, date, total, *cells])


def test_score_rules_measures_ranges_items(tmp_path, with_clients):
    lines = [
        _score("C1", "phq9", "2025-01-06", "9", *["1"] * 9),
        _score("C1", "PHQ 9", "2025-01-13", "10"),
        _score("C1", "Phq-9", "2025-01-20", "27"),
        _score("C1", "BDI", "2025-01-27", "10"),  # line 5
        _score("C1", "PHQ-9", "2025-02-03", "28"),  # line 6
        _score("C1", "GAD-7", "2025-02-03", "22"),  # line 7
        _score("C1", "CORE-10", "2025-02-03", "40", *["4"] * 10),
        _score("C1", "PHQ-9", "2025-02-10", "4", "4", *["0"] * 8),  # line 9: item out of range
        _score("C1", "GAD-7", "2025-02-10", "7", *["1"] * 8),  # line 10: an 8th item
        _score("C1", "PHQ-9", "2025-02-17", "10", *["1"] * 9),  # line 11: items sum to 9
        _score("C1", "PHQ-9", "2025-02-24", "10", *["1"] * 8),  # item 9 missing: no sum check
        _score("C1", "PHQ-9", "2025-03-03", ""),  # line 13
        _score("C1", "PHQ-9", "2025-03-10", "ten"),  # line 14
        _score("C1", "GAD-7", "2025-03-10", "-1"),  # line 15
        _score("C1", "CORE-10", "2025-03-10", "12", "5", *["1"] * 7),  # line 16: CORE-10 items 0-4
    ]
    path = write(tmp_path, "scores.csv", SCORES_HEADER + "\n" + "\n".join(lines) + "\n")
    result = run(with_clients, path)
    assert rejects(with_clients, result.batch_id) == [
        ("scores.csv", 5, "measure", "BDI", MEASURE),
        ("scores.csv", 6, "total_score", "28", "PHQ-9 total_score must be between 0 and 27"),
        ("scores.csv", 7, "total_score", "22", "GAD-7 total_score must be between 0 and 21"),
        ("scores.csv", 9, "item_1", "4", "PHQ-9 item scores must be between 0 and 3"),
        ("scores.csv", 10, "item_8", "1", "GAD-7 has only 7 items"),
        ("scores.csv", 11, "total_score", "10", "PHQ-9 items sum to a different total than total_score"),
        ("scores.csv", 13, "total_score", None, REQUIRED),
        ("scores.csv", 14, "total_score", "ten", NOT_INT),
        ("scores.csv", 15, "total_score", "-1", "GAD-7 total_score must be between 0 and 21"),
        ("scores.csv", 16, "item_1", "5", "CORE-10 item scores must be between 0 and 4"),
    ]
    assert (result.rows_read, result.inserted, result.rejected) == (15, 5, 10)
    got = [(r[1], r[2], r[3], r[4:]) for r in stored(with_clients, "scores")]
    assert got == [
        ("CORE-10", D(2025, 2, 3), 40, (4,) * 10),
        ("PHQ-9", D(2025, 1, 6), 9, (1,) * 9 + (None,)),
        ("PHQ-9", D(2025, 1, 13), 10, (None,) * 10),
        ("PHQ-9", D(2025, 1, 20), 27, (None,) * 10),
        ("PHQ-9", D(2025, 2, 24), 10, (1,) * 8 + (None, None)),
    ]


def test_client_references_across_runs_and_within_a_run(tmp_path, with_clients):
    # C1 was stored by an earlier import, C3 arrives in this run, CX is nowhere.
    clients = write(tmp_path, "clients_new.csv", f"{CLIENTS_HEADER}\nC3,North,T1,,,2025-02-01,\n")
    sessions = write(
        tmp_path,
        "sessions.csv",
        f"{SESSIONS_HEADER}\nC1,2025-01-06,true,1\nC3,2025-02-01,true,1\nCX,2025-02-01,true,1\n",
    )
    scores = write(tmp_path, "scores.csv", f"{SCORES_HEADER}\nCX,PHQ-9,2025-02-01,12\nC3,PHQ-9,2025-02-01,12\n")
    result = run(with_clients, sessions, scores, clients)  # the order of the files does not matter
    assert rejects(with_clients, result.batch_id) == [
        ("scores.csv", 2, "client_id", "CX", UNKNOWN_CLIENT),
        ("sessions.csv", 4, "client_id", "CX", UNKNOWN_CLIENT),
    ]
    assert [r[0] for r in stored(with_clients, "sessions")] == ["C1", "C3"]
    assert [r[0] for r in stored(with_clients, "scores")] == ["C3"]
    # A client rejected in the same run is not a known client either.
    bad_client = write(tmp_path, "clients_bad.csv", f"{CLIENTS_HEADER}\nC4,North,T1,,,2025-02-30,\n")
    sessions4 = write(tmp_path, "sessions_4.csv", f"{SESSIONS_HEADER}\nC4,2025-03-01,true,1\n")
    result = run(with_clients, bad_client, sessions4)
    assert rejects(with_clients, result.batch_id) == [
        ("clients_bad.csv", 2, "intake_date", "2025-02-30", ISO_DATE),
        ("sessions_4.csv", 2, "client_id", "C4", UNKNOWN_CLIENT),
    ]


def test_duplicate_keys_within_a_file(tmp_path, with_clients):
    path = write(
        tmp_path,
        "scores.csv",
        f"""{SCORES_HEADER}
C1,PHQ-9,2025-01-06,12
C1,PHQ-9,2025-01-06,12
C1,phq9,2025-01-06,12
C1,PHQ-9,2025-01-06,13
C1,GAD-7,2025-01-06,5
""",
    )
    result = run(with_clients, path)
    # "phq9" on line 4 is the same measure, so line 4 is an identical duplicate as well.
    assert rejects(with_clients, result.batch_id) == [("scores.csv", 5, "administered_date", "2025-01-06", DUPLICATE.format(2))]
    assert (result.rows_read, result.inserted, result.rejected) == (5, 2, 1)
    assert [(r[1], r[3]) for r in stored(with_clients, "scores")] == [("GAD-7", 5), ("PHQ-9", 12)]


def test_a_rejected_first_occurrence_does_not_reject_a_valid_duplicate(tmp_path, with_clients):
    # Line 2 breaks a rule, so it is not "the earlier line" that line 3 would conflict with.
    path = write(
        tmp_path,
        "scores.csv",
        f"{SCORES_HEADER}\nC1,PHQ-9,2025-01-06,30\nC1,PHQ-9,2025-01-06,12\n",
    )
    result = run(with_clients, path)
    assert rejects(with_clients, result.batch_id) == [
        ("scores.csv", 2, "total_score", "30", "PHQ-9 total_score must be between 0 and 27"),
    ]
    assert [(r[1], r[3]) for r in stored(with_clients, "scores")] == [("PHQ-9", 12)]


def test_preview_is_limited_and_counts_all(tmp_path, with_clients):
    body = "".join(f"C1,2025-01-{day:02d},maybe,1\n" for day in range(1, 31))
    result = run(with_clients, write(tmp_path, "sessions.csv", f"{SESSIONS_HEADER}\n{body}"))
    assert result.rejected == 30
    assert len(result.rejects_preview) == importer_module.REPORT_PREVIEW == 20
    assert [r.line_number for r in result.rejects_preview] == list(range(2, 22))
    assert all(isinstance(r, Reject) and r.rule == NOT_BOOL for r in result.rejects_preview)
    assert "First rejected rows (20 of 30 rows shown):" in result.report()
    assert query(with_clients, "SELECT count(*) FROM import_rejects WHERE batch_id = 2") == [(30,)]


# ------------------------------------------------------------------------ CSV dialects


DIALECT_ROWS = [
    # (text of the row as written; expected line of the row)
    'C1,North,T1,"Group, weekly","says ""hi""",2025-01-06,',
    'C2,North,T1,"Depression\nCBT","multi\n\nline",2025-01-06,',
    "C3,North,T1,Depression CBT,depression,2025-1-5,",
    "",
    "C4,North,T1,Depression CBT,depression,2025-01-06,2024-01-01",
]


def _dialect_text(newline: str, bom: bool, stray_quote: bool = False) -> bytes:
    rows = list(DIALECT_ROWS)
    if stray_quote:  # an unquoted field with a quote character inside
        rows.append('C5,North,T1,O"Neil programme,depression,2025-01-06,')
    text = CLIENTS_HEADER + "\n" + "\n".join(rows) + "\n"
    data = text.replace("\n", newline).encode("utf-8")
    return (b"\xef\xbb\xbf" if bom else b"") + data


@pytest.mark.parametrize(("newline", "bom"), [("\n", False), ("\r\n", True), ("\r\n", False), ("\n", True)])
def test_bom_crlf_quotes_and_editor_line_numbers(tmp_path, db, newline, bom):
    path = write(tmp_path, "clients.csv", _dialect_text(newline, bom))
    result = run(db, path)
    # Editor lines: header 1, C1 2, C2 3-6 (a quoted field with a blank line inside), C3 7,
    # blank 8, C4 9.
    assert rejects(db, result.batch_id) == [
        ("clients.csv", 7, "intake_date", "2025-1-5", ISO_DATE),
        ("clients.csv", 9, "discharge_date", "2024-01-01", "discharge_date is before intake_date"),
    ]
    assert stored(db, "clients") == [
        ("C1", "North", "T1", "Group, weekly", 'says "hi"', D(2025, 1, 6), None),
        ("C2", "North", "T1", f"Depression{newline}CBT", f"multi{newline}{newline}line", D(2025, 1, 6), None),
    ]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64])
@pytest.mark.parametrize(("newline", "bom"), [("\n", False), ("\r\n", True)])
def test_the_line_scan_reads_the_file_in_chunks_with_the_same_result(tmp_path, monkeypatch, chunk, newline, bom):
    """The scan compares a chunk of bytes at a time: quotes, CRLF and a BOM split across chunk
    edges give the editor lines of one whole-file pass (header 1, records on 2, 3, 7 and 9)."""
    path = write(tmp_path, "clients.csv", _dialect_text(newline, bom))
    stray = write(tmp_path, "stray.csv", _dialect_text(newline, bom, stray_quote=True))
    monkeypatch.setattr(importer_module, "_SCAN_CHUNK", chunk)
    assert importer_module._csv_record_lines(path).tolist() == [2, 3, 7, 9]
    assert importer_module._csv_record_lines(stray) is None  # the Python fallback reads it
    empty = write(tmp_path, "empty.csv", b"")
    assert importer_module._csv_record_lines(empty).tolist() == []


def test_python_fallback_gives_the_same_line_numbers(tmp_path, db, monkeypatch):
    calls = []
    original = importer_module._stage_csv_python

    def spy(*args, **kwargs):
        calls.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(importer_module, "_stage_csv_python", spy)
    path = write(tmp_path, "clients.csv", _dialect_text("\r\n", True, stray_quote=True))
    result = run(db, path)
    assert calls == [path]  # the stray quote sent the file down the Python csv path
    assert rejects(db, result.batch_id) == [
        ("clients.csv", 7, "intake_date", "2025-1-5", ISO_DATE),
        ("clients.csv", 9, "discharge_date", "2024-01-01", "discharge_date is before intake_date"),
    ]
    assert [r[:4] for r in stored(db, "clients")] == [
        ("C1", "North", "T1", "Group, weekly"),
        ("C2", "North", "T1", "Depression\r\nCBT"),
        ("C5", "North", "T1", 'O"Neil programme'),
    ]


@pytest.mark.parametrize("bom", [False, True])
def test_fast_and_fallback_paths_stage_identically(tmp_path, monkeypatch, bom):
    text = _dialect_text("\r\n", bom) + b"C6,North,T1,x,y,2025-01-06,,extra\r\n\r\n"
    path = write(tmp_path, "clients.csv", text)
    con = duckdb.connect()
    header = importer_module._stage_csv(con, path, "fast")
    fast = con.execute("SELECT * FROM fast ORDER BY _line").fetchall()
    monkeypatch.setattr(importer_module, "_csv_record_lines", lambda p: importer_module.np.zeros(0, dtype="int64"))
    assert importer_module._stage_csv(con, path, "slow") == header
    slow = con.execute("SELECT * FROM slow ORDER BY _line").fetchall()
    con.close()
    assert [r[0] for r in fast] == [2, 3, 7, 9, 10]
    assert slow == fast


def test_malformed_quoting_goes_to_the_exact_path(tmp_path, db):
    # DuckDB alone would silently drop the x after a closing quote; the row must keep it
    # (Python's csv module reads it as 2x) and the line numbers must stay right.
    path = write(
        tmp_path,
        "sessions.csv",
        f'{SESSIONS_HEADER}\nC1,2025-01-06,true,"2"x\nC1,2025-01-07,true,1,9,9\nC1,2025-01-08,maybe,1\n',
    )
    run(db, write(tmp_path / "base", "clients.csv", BASE_CLIENTS))
    result = run(db, path)
    assert rejects(db, result.batch_id) == [
        ("sessions.csv", 2, "session_number", "2x", NOT_INT),
        ("sessions.csv", 3, None, None, TOO_MANY_FIELDS),
        ("sessions.csv", 4, "attended", "maybe", NOT_BOOL),
    ]


def test_refused_files_store_nothing_while_others_import(tmp_path, db):
    good_clients = write(tmp_path, "clients.csv", BASE_CLIENTS)
    latin = write(tmp_path, "sessions.csv", f"{SESSIONS_HEADER}\nC1,2025-01-06,true,1\n".encode() + b"C2,2025-01-13,s\xed,1\n")
    empty = write(tmp_path, "scores.csv", b"")
    missing = write(tmp_path, "assignments.csv", "assignment_id,client_id,homework_type\nA1,C1,journal\n")
    unknown = write(tmp_path, "patients.csv", BASE_CLIENTS)
    text = write(tmp_path, "clients.txt", BASE_CLIENTS)
    result = run(db, good_clients, latin, empty, missing, unknown, text)
    refused = {f.file_name: f.message for f in result.files if f.status == "refused"}
    assert refused == {
        "sessions.csv": "the file is not UTF-8 text (line 3)",
        "scores.csv": "the file is empty",
        "assignments.csv": "required column(s) missing for table assignments: assigned_date",
        "patients.csv": "cannot tell which table 'patients' holds: name the file after one of clients, sessions, "
        "assignments, scores (a suffix such as _2026-11 is allowed) or map it in a profile",
        "clients.txt": "unsupported file type .txt; expected .csv, .xlsx, .parquet, .ndjson (FHIR Bulk Data) or .json "
        "(FHIR Bundle)",
    }
    assert result.files_refused == 5 and result.exit_code == 1
    assert (result.inserted, result.rejected) == (2, 0)
    assert [r[0] for r in stored(db, "clients")] == ["C1", "C2"]
    assert stored(db, "sessions") == [] and stored(db, "assignments") == [] and stored(db, "scores") == []
    assert query(db, "SELECT count(*) FROM import_rejects") == [(0,)]
    report = result.report()
    assert "  REFUSED sessions.csv: the file is not UTF-8 text (line 3)" in report
    assert "  REFUSED assignments.csv: required column(s) missing for table assignments: assigned_date" in report
    assert "refused 5 files" in report


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (f'{SESSIONS_HEADER}\nC1,2025-01-06,true,1\nC1,"2025-01-07,true,2\nC1,2025-01-08,true,3\n',
         'a quoted field that starts on line 3 is never closed (a missing ")'),
        (f"\n{SESSIONS_HEADER}\nC1,2025-01-06,true,1\n", "the first line is not a header row"),
        ("client_id,session_date,Client ID\nC1,2025-01-06,C1\n",
         "column client_id appears twice ('client_id' and 'Client ID')"),
        ("session_date,attended\n2025-01-06,true\n", "required column(s) missing for table sessions: client_id"),
    ],
    ids=["unclosed-quote", "blank-first-line", "duplicate-column", "missing-column"],
)
def test_files_that_cannot_be_read_reliably_are_refused(tmp_path, with_clients, content, message):
    result = run(with_clients, write(tmp_path, "sessions.csv", content))
    assert [(f.status, f.message) for f in result.files] == [("refused", message)]
    assert stored(with_clients, "sessions") == []  # no row of it, not even the good first one


def test_non_utf8_far_into_a_large_file_is_refused_with_its_line(tmp_path, with_clients):
    body = "".join(f"C1,2024-{1 + i // 28:02d}-{1 + i % 28:02d},true,{i + 1}\n" for i in range(300))
    data = (SESSIONS_HEADER + "\n" + body * 40).encode() + b"C1,2025-01-06,caf\xe9,1\n"
    result = run(with_clients, write(tmp_path, "sessions.csv", data))
    assert [(f.status, f.message) for f in result.files] == [("refused", "the file is not UTF-8 text (line 12002)")]
    assert stored(with_clients, "sessions") == []


def test_header_only_file_imports_nothing(tmp_path, db):
    result = run(db, write(tmp_path, "clients.csv", CLIENTS_HEADER + "\n"))
    assert [(f.status, f.rows_read) for f in result.files] == [("imported", 0)]
    assert result.exit_code == 0


def test_two_files_with_the_same_name_are_reported_separately(tmp_path, with_clients):
    a = write(tmp_path / "a", "sessions.csv", f"{SESSIONS_HEADER}\nC1,2025-01-06,true,1\n")
    b = write(tmp_path / "b", "sessions.csv", f"{SESSIONS_HEADER}\nC1,2025-01-07,maybe,1\nC1,2025-01-08,true,2\n")
    result = run(with_clients, a, b)
    assert [(f.file_name, f.rows_read, f.rows_rejected) for f in result.files] == [
        ("sessions.csv", 1, 0),
        ("sessions.csv", 2, 1),
    ]


# ----------------------------------------------------------------------- xlsx and Parquet


XLSX_CLIENTS = [
    ("C1", "North", "T1", "Depression CBT", "depression", D(2025, 1, 6), D(2025, 4, 7)),
    ("C2", "South", "T2", "Anxiety CBT", "panic", D(2025, 1, 13), None),
]
XLSX_SCORES = [
    ("C1", "PHQ-9", D(2025, 1, 6), 18.0, 2, 2, 2, 2, 2, 2, 2, 2, 2),
    ("C1", "gad7", D(2025, 1, 6), 10.0, None, None, None, None, None, None, None, None, None),
    ("C2", "PHQ-9", D(2025, 1, 13), 12.5, None, None, None, None, None, None, None, None, None),
    ("C2", "PHQ-9", D(2025, 4, 14), 14.0, None, None, None, None, None, None, None, None, None),
]


def _csv_of(header: str, rows: list[tuple]) -> str:
    def cell(v):
        if v is None:
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    return header + "\n" + "".join(",".join(cell(v) for v in row) + "\n" for row in rows)


def test_xlsx_imports_like_the_equivalent_csv(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "clients"
    ws.append(CLIENTS_HEADER.split(","))
    for row in XLSX_CLIENTS:
        ws.append([dt.datetime.combine(v, dt.time()) if isinstance(v, dt.date) else v for v in row])
    ws2 = wb.create_sheet("scores")
    ws2.append(SCORES_HEADER.split(",")[:13])
    ws2.append([])  # an empty row 2: sheet rows are still counted
    for row in XLSX_SCORES:
        ws2.append([float(v) if isinstance(v, int) else v for v in row])
    wb.create_sheet("notes").append(["anything"])
    book = tmp_path / "export.xlsx"
    wb.save(book)

    xdb, cdb = tmp_path / "x.duckdb", tmp_path / "c.duckdb"
    xres = run(xdb, book)
    cres = run(
        cdb,
        write(tmp_path, "clients.csv", _csv_of(CLIENTS_HEADER, XLSX_CLIENTS)),
        write(tmp_path, "scores.csv", _csv_of(",".join(SCORES_HEADER.split(",")[:13]), XLSX_SCORES)),
    )
    assert all_tables(xdb) == all_tables(cdb)
    assert len(stored(xdb, "scores")) == 3 and len(stored(xdb, "clients")) == 2
    assert (xres.inserted, xres.rejected) == (cres.inserted, cres.rejected) == (5, 1)
    # Line numbers are sheet row numbers: header row 1, empty row 2, data from row 3.
    assert rejects(xdb, xres.batch_id) == [("export.xlsx [scores]", 5, "total_score", "12.5", NOT_INT)]
    assert rejects(cdb, cres.batch_id) == [("scores.csv", 4, "total_score", "12.5", NOT_INT)]
    assert [(f.file_name, f.table, f.rows_read) for f in xres.files] == [
        ("export.xlsx [clients]", "clients", 2),
        ("export.xlsx [scores]", "scores", 4),
    ]


def test_xlsx_with_a_bad_sheet_is_refused_whole(tmp_path, db):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    wb.active.title = "clients"
    wb.active.append(CLIENTS_HEADER.split(","))
    wb.active.append(["C1", "North", "T1", None, None, dt.datetime(2025, 1, 6), None])
    sheet = wb.create_sheet("sessions")
    sheet.append(["client_id", "attended"])  # no session_date
    sheet.append(["C1", True])
    wb.save(tmp_path / "book.xlsx")
    result = run(db, tmp_path / "book.xlsx")
    assert [(f.status, f.message) for f in result.files] == [
        ("refused", "sheet 'sessions': required column(s) missing for table sessions: session_date")
    ]
    assert stored(db, "clients") == []


def test_parquet_imports_like_the_equivalent_csv(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    clients = pa.table({
        "client_id": ["C1", "C2"],
        "clinic": ["North", "South"],
        "therapist_id": ["T1", "T2"],
        "program": ["Depression CBT", "Anxiety CBT"],
        "primary_concern": ["depression", "panic"],
        "intake_date": pa.array([D(2025, 1, 6), D(2025, 1, 13)], pa.date32()),
        "discharge_date": pa.array([dt.datetime(2025, 4, 7), None], pa.timestamp("us")),
    })
    scores = pa.table({
        "client_id": ["C1", "C1", "C2", "C2"],
        "measure": ["PHQ-9", "gad7", "PHQ-9", "PHQ-9"],
        "administered_date": pa.array([dt.datetime(2025, 1, 6), dt.datetime(2025, 1, 6),
                                       dt.datetime(2025, 1, 13, 9, 30), dt.datetime(2025, 4, 14)], pa.timestamp("ms")),
        "total_score": pa.array([18.0, 10.0, 12.0, 14.0], pa.float64()),
        **{f"item_{i}": pa.array([2.0, None, None, None], pa.float64()) for i in range(1, 10)},
    })
    pq.write_table(clients, tmp_path / "clients.parquet")
    pq.write_table(scores, tmp_path / "scores_2026-11.parquet")
    pdb, cdb = tmp_path / "p.duckdb", tmp_path / "c.duckdb"
    pres = run(pdb, tmp_path / "clients.parquet", tmp_path / "scores_2026-11.parquet")
    csv_scores = [r if r[2] != D(2025, 1, 13) else (*r[:2], "2025-01-13 09:30:00", *r[3:]) for r in XLSX_SCORES]
    csv_scores[2] = (*csv_scores[2][:3], 12.0, *csv_scores[2][4:])
    cres = run(
        cdb,
        write(tmp_path, "clients.csv", _csv_of(CLIENTS_HEADER, XLSX_CLIENTS)),
        write(tmp_path, "scores.csv", _csv_of(",".join(SCORES_HEADER.split(",")[:13]), csv_scores)),
    )
    assert all_tables(pdb) == all_tables(cdb)
    assert (pres.inserted, pres.rejected) == (cres.inserted, cres.rejected) == (5, 1)
    # A timestamp with a time of day is not a date; Parquet lines are row numbers.
    assert rejects(pdb, pres.batch_id) == [
        ("scores_2026-11.parquet", 3, "administered_date", "2025-01-13 09:30:00", ISO_DATE)
    ]


def test_parquet_odd_doubles_do_not_crash(tmp_path, with_clients):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    n = 4
    table = pa.table({
        "client_id": ["C1"] * n,
        "measure": ["PHQ-9"] * n,
        "administered_date": pa.array([D(2025, 1, d) for d in range(1, n + 1)], pa.date32()),
        "total_score": pa.array([float("nan"), float("inf"), 1e30, 7.0], pa.float64()),
    })
    pq.write_table(table, tmp_path / "scores.parquet")
    result = run(with_clients, tmp_path / "scores.parquet")
    assert [(r[1], r[2], r[3]) for r in rejects(with_clients, result.batch_id)] == [
        (1, "total_score", "nan"),
        (2, "total_score", "inf"),
        (3, "total_score", "1e+30"),
    ]
    assert [r[3] for r in stored(with_clients, "scores")] == [7]


def test_corrupt_parquet_and_xlsx_are_refused(tmp_path, db):
    bad_parquet = write(tmp_path, "scores.parquet", b"PAR1 not really parquet")
    bad_xlsx = write(tmp_path, "clients.xlsx", b"PK\x03\x04 not really a workbook")
    result = run(db, bad_parquet, bad_xlsx)
    assert [f.status for f in result.files] == ["refused", "refused"]
    assert result.files[0].message.startswith("the file cannot be read as Parquet (")
    assert str(tmp_path) not in result.files[0].message  # no server-side path in a user's report
    assert result.files[1].message == "the workbook cannot be opened (BadZipFile)"


# ------------------------------------------------------------------------ mapping profiles


def test_carepath_example_imports_like_the_generator_rows(tmp_path):
    from sample_data import generator as gen

    profile = load_profile(ROOT / "sample_data" / "profiles" / "carepath.toml")
    vendor_files = sorted((ROOT / "sample_data" / "profiles" / "carepath_example").glob("*.csv"))
    vdb = tmp_path / "vendor.duckdb"
    vres = run(vdb, *vendor_files, profile=profile)
    assert vres.exit_code == 0, vres.report()
    assert vres.rejected == 0 and vres.files_refused == 0
    assert sorted(c for f in vres.files for c in f.ignored_columns) == [
        "Appointment Type", "Completed Via", "Last Edited By", "Referral Source",
    ]
    # The same clients written in the import format by the generator.
    frames = gen.generate_clinic(600, seed=7)
    ids = gen.carepath_client_ids(frames)
    native_dir = tmp_path / "native"
    native_dir.mkdir()
    native = [
        gen.write_csv(frames[t][frames[t].client_id.isin(ids)], native_dir / f"{t}.csv")
        for t in ("clients", "sessions", "assignments", "scores")
    ]
    ndb = tmp_path / "native.duckdb"
    nres = run(ndb, *native)
    assert nres.exit_code == 0, nres.report()
    assert all_tables(vdb) == all_tables(ndb)
    expected = {t: int(frames[t].client_id.isin(ids).sum()) for t in ("clients", "sessions", "assignments", "scores")}
    assert expected["clients"] == 10 and min(expected.values()) > 0
    assert {t: c["inserted"] for t, c in vres.per_table.items()} == expected
    assert {t: c["inserted"] for t, c in nres.per_table.items()} == expected
    assert vres.inserted == nres.inserted == sum(expected.values())


HAND_PROFILE = """
[profile]
name = "Hand EHR"
date_format = "%d/%m/%Y"

[tables]
"Homework Log" = "assignments"

[columns.assignments]
"Ref" = "assignment_id"
"Patient" = "client_id"
"Set" = "assigned_date"
"Kind" = "homework_type"
"Goal?" = "goal_linked"
"Planned" = "planned_practices"
"Done (0-4)" = "quantity_rating"
"Who rated" = "rated_by"
"Reviewed" = "reviewed_date"

[columns.scores]
"Patient" = "client_id"
"Form" = "measure"
"When" = "administered_date"
"Score" = "total_score"

[values.homework_type]
"Worry Diary" = "thought_record"

[values.measure]
"Depression Q" = "PHQ-9"

[values.boolean]
"Ticked" = "true"
"Blank" = "false"

[values.rated_by]
"Clinician" = "therapist"
"""


def test_a_hand_written_profile(tmp_path, with_clients):
    profile_path = write(tmp_path, "hand.toml", HAND_PROFILE)
    profile = load_profile(profile_path)
    log = write(
        tmp_path,
        "Homework Log_2026-11.csv",
        """Ref,Patient,Set,Kind,Goal?,Planned,Done (0-4),Who rated,Reviewed,Extra
H1,C1,06/01/2025,worry diary,TICKED,3,4,clinician,12/01/2025,x
H2,C1,6/1/2025,Exposure,blank,2,,,,
H3,C1,2025-01-05,journal,,1,,,,
H4,C1,31/02/2025,journal,,1,,,,
H5,C1,05/01/25,journal,,1,,,,
H6,C1,05/13/2025,journal,,1,,,,
H7,C1,06/01/2025,Worry Diary,maybe,1,,Clinician,,
""",
    )
    scores = write(tmp_path, "scores.csv", "Patient,Form,When,Score\nC1,depression q,06/01/2025,14\nC1,BDI,06/01/2025,3\n")
    result = run(with_clients, log, scores, profile=profile)
    expected_date = "expected a date in the format %d/%m/%Y"
    assert rejects(with_clients, result.batch_id) == [
        ("Homework Log_2026-11.csv", 4, "assigned_date", "2025-01-05", expected_date),
        ("Homework Log_2026-11.csv", 5, "assigned_date", "31/02/2025", expected_date),
        ("Homework Log_2026-11.csv", 6, "assigned_date", "05/01/25", expected_date),
        ("Homework Log_2026-11.csv", 7, "assigned_date", "05/13/2025", expected_date),
        ("Homework Log_2026-11.csv", 8, "goal_linked", "maybe", NOT_BOOL),
        ("scores.csv", 3, "measure", "BDI", MEASURE),
    ]
    rows = {r[0]: r for r in stored(with_clients, "assignments")}
    assert sorted(rows) == ["H1", "H2"]
    assert rows["H1"][:5] == ("H1", "C1", D(2025, 1, 6), "thought_record", True)
    assert rows["H1"][10] == 3 and rows["H1"][12] == 4 and rows["H1"][14:16] == ("therapist", D(2025, 1, 12))
    assert rows["H2"][2:5] == (D(2025, 1, 6), "exposure", False)
    assert [(r[1], r[2], r[3]) for r in stored(with_clients, "scores")] == [("PHQ-9", D(2025, 1, 6), 14)]
    assert result.files[0].ignored_columns == ["Extra"]
    history = query(with_clients, "SELECT profile FROM import_batches WHERE batch_id = ?", [result.batch_id])
    assert history == [("Hand EHR",)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[tables]\nPatients = "patients"\n', "bad.toml: [tables] maps 'Patients' to unknown table 'patients'"),
        ('[columns.visits]\n"Ref" = "client_id"\n',
         "bad.toml: [columns.visits] is not one of clients, sessions, assignments, scores"),
        ('[columns.clients]\n"Ref" = "client_ref"\n',
         "bad.toml: [columns.clients] maps 'Ref' to unknown column 'client_ref'"),
        ('[values.colour]\n"Red" = "red"\n',
         "bad.toml: [values.colour] is not one of homework_type, measure, boolean, rated_by"),
        ('[values.homework_type]\n"Worry" = "worry_diary"\n',
         "bad.toml: [values.homework_type] maps 'Worry' to unknown homework type 'worry_diary'"),
        ('[values.boolean]\n"Ticked" = "ja"\n',
         "bad.toml: [values.boolean] maps 'Ticked' to 'ja', which is not true or false"),
        ('[values.rated_by]\n"Doc" = "doctor"\n', "bad.toml: [values.rated_by] maps 'Doc' to unknown rater 'doctor'"),
        ('[profile]\ndate_format = "%d/%Q/%Y"\n', "bad.toml: date_format '%d/%Q/%Y' is not a valid strptime format"),
        ('[profile]\ndate_fromat = "%d/%m/%Y"\n', "bad.toml: [profile] has unknown key 'date_fromat'"),
        ('[colums.clients]\n"Ref" = "client_id"\n',
         "bad.toml: unknown section [colums]; expected profile, tables, columns, values, fhir"),
    ],
)
def test_bad_profiles_raise_profile_error(tmp_path, text, message):
    with pytest.raises(ProfileError) as info:
        load_profile(write(tmp_path, "bad.toml", text))
    assert str(info.value) == message


def test_unreadable_profile_raises_profile_error(tmp_path):
    with pytest.raises(ProfileError, match=r"^bad.toml: cannot read the mapping profile"):
        load_profile(write(tmp_path, "bad.toml", "[profile\nname = 1"))
    with pytest.raises(ProfileError, match=r"^missing.toml: cannot read the mapping profile"):
        load_profile(tmp_path / "missing.toml")


# --------------------------------------------------------------------- re-import, updates


def _tiny_export(directory: Path) -> list[Path]:
    from tests.support.clinics import TINY_ASSIGNMENTS, TINY_CLIENTS, TINY_SCORES, TINY_SESSIONS

    return [
        write(directory, "clients.csv", TINY_CLIENTS.lstrip("\n")),
        write(directory, "sessions.csv", TINY_SESSIONS.lstrip("\n")),
        write(directory, "assignments.csv", TINY_ASSIGNMENTS.lstrip("\n")),
        write(directory, "scores.csv", TINY_SCORES.lstrip("\n")),
    ]


def test_reimport_changes_nothing_and_a_changed_row_is_updated(tmp_path, db):
    files = _tiny_export(tmp_path / "export")
    first = run(db, *files)
    assert (first.inserted, first.updated, first.unchanged, first.rejected) == (29, 0, 0, 0)
    before = all_tables(db)
    second = run(db, *files)
    assert (second.inserted, second.updated, second.unchanged, second.rejected) == (0, 0, 29, 0)
    assert all_tables(db) == before
    assert {t: c["unchanged"] for t, c in second.per_table.items()} == {
        "clients": 5, "sessions": 6, "assignments": 5, "scores": 13,
    }
    # Unchanged rows keep the batch that stored them.
    assert query(db, "SELECT DISTINCT batch_id FROM scores") == [(1,)]

    # A corrected total_score: one update, everything else unchanged.
    scores = files[3].read_text().replace("C2,PHQ-9,2025-04-14,14", "C2,PHQ-9,2025-04-14,15")
    corrected = write(tmp_path / "corrected", "scores.csv", scores)
    third = run(db, corrected)
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 12)
    after = all_tables(db)
    assert {t: after[t] for t in ("clients", "sessions", "assignments")} == {
        t: before[t] for t in ("clients", "sessions", "assignments")
    }
    changed = [r for r in after["scores"] if r not in before["scores"]]
    assert [r[:4] for r in changed] == [("C2", "PHQ-9", D(2025, 4, 14), 15)]
    assert len(after["scores"]) == len(before["scores"])
    assert query(db, "SELECT batch_id FROM scores WHERE client_id = 'C2' AND administered_date = '2025-04-14'") == [(3,)]


def test_a_later_file_in_the_same_run_wins(tmp_path, with_clients):
    early = write(tmp_path, "scores_2026-10.csv", f"{SCORES_HEADER}\nC1,PHQ-9,2025-01-06,12\nC1,PHQ-9,2025-02-06,10\n")
    late = write(tmp_path, "scores_2026-11.csv", f"{SCORES_HEADER}\nC1,PHQ 9,2025-01-06,13\n")
    result = run(with_clients, early, late)
    assert (result.inserted, result.updated, result.unchanged, result.rejected) == (2, 0, 0, 0)
    assert [(r[2], r[3]) for r in stored(with_clients, "scores")] == [(D(2025, 1, 6), 13), (D(2025, 2, 6), 10)]
    # Reversed order: the earlier export now comes last and wins.
    result = run(with_clients, late, early)
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 1)
    assert [(r[2], r[3]) for r in stored(with_clients, "scores")] == [(D(2025, 1, 6), 12), (D(2025, 2, 6), 10)]


def test_import_batches_record_each_run(tmp_path, db):
    files = _tiny_export(tmp_path / "export")
    bad = write(tmp_path, "sessions_extra.csv", f"{SESSIONS_HEADER}\nC1,2025-02-01,maybe,4\n")
    before = dt.datetime.now(dt.UTC)
    run(db, *files)
    result = run(db, *files, bad, tmp_path / "nowhere.csv", source="dashboard")
    after = dt.datetime.now(dt.UTC)
    rows = query(
        db,
        """SELECT batch_id, started_at, finished_at, source, profile, files, rows_read, rows_inserted,
                  rows_updated, rows_unchanged, rows_rejected, files_refused
        FROM import_batches ORDER BY batch_id""",
    )
    assert [r[0] for r in rows] == [1, 2]
    assert [r[3] for r in rows] == ["cli", "dashboard"]
    for row in rows:
        assert before <= row[1] <= row[2] <= after
    assert rows[1][4] is None
    assert rows[1][6:] == (30, 0, 0, 29, 1, 1)
    assert rows[0][6:] == (29, 29, 0, 0, 0, 0)
    files_json = json.loads(rows[1][5])
    expected_hashes = [hashlib.sha256(p.read_bytes()).hexdigest() for p in [*files, bad]]
    assert [f["sha256"] for f in files_json[:5]] == expected_hashes
    assert [f["file"] for f in files_json] == [p.name for p in [*files, bad]] + ["nowhere.csv"]
    assert [(f["status"], f["rows"], f["rejected"]) for f in files_json] == [
        ("imported", 5, 0), ("imported", 6, 0), ("imported", 5, 0), ("imported", 13, 0), ("imported", 1, 1),
        ("refused", 0, 0),
    ]
    assert files_json[5]["message"] == "file not found"
    assert result.batch_id == 2


def test_profile_name_from_a_profile_object(tmp_path, with_clients):
    profile = MappingProfile(name="Inline", source="inline")
    result = run(with_clients, write(tmp_path, "sessions.csv", f"{SESSIONS_HEADER}\nC1,2025-01-06,true,1\n"),
                 profile=profile)
    assert query(with_clients, "SELECT profile FROM import_batches WHERE batch_id = ?", [result.batch_id]) == [
        ("Inline",)
    ]


def test_a_database_path_that_is_not_a_database_is_refused_cleanly(tmp_path):
    from analytics.storage import DatabaseUnusable

    clients = write(tmp_path, "clients.csv", BASE_CLIENTS)
    folder = tmp_path / "folder.duckdb"
    folder.mkdir()
    with pytest.raises(DatabaseUnusable, match=r"folder.duckdb is not a database file \(it is a folder\)$"):
        run(folder, clients)
    text = write(tmp_path, "notes.duckdb", "not a database\n")
    with pytest.raises(DatabaseUnusable, match=r"notes.duckdb is not a clinic database \(not a DuckDB file\)$"):
        run(text, clients)
    assert text.read_text() == "not a database\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clients.csv", "folder.duckdb", "notes.duckdb", "notes.duckdb.lock"]


def test_a_refused_file_is_recorded_with_its_digest(tmp_path, with_clients):
    """The digest is taken while the file is read (a thread beside the staging); a file refused
    for its type or content still has its digest in the batch record."""
    text = write(tmp_path, "notes.txt", "not an export\n")
    headless = write(tmp_path, "sessions.csv", "client_id,session_date\n")  # no rows, but readable
    wrong = write(tmp_path, "assignments.csv", "client_id\nC1\n")  # a required column missing
    result = run(with_clients, text, headless, wrong)
    files_json = json.loads(query(with_clients, "SELECT files FROM import_batches WHERE batch_id = ?",
                                  [result.batch_id])[0][0])
    assert [(f["file"], f["status"], f["sha256"]) for f in files_json] == [
        (p.name, status, hashlib.sha256(p.read_bytes()).hexdigest())
        for p, status in ((text, "refused"), (headless, "imported"), (wrong, "refused"))
    ]
