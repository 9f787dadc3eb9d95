"""A broken access-log file recovers (issue 10, item 11).

A full disk leaves a 0-byte ``audit.duckdb``; a file can hold garbage or be cut short. Before
the fix such a file was never repaired: every entry went to the spool, the spool was never
drained, and the Access log page said "in use by another dashboard process" forever. Now
the unusable file is moved aside with a timestamp, a new log is started, the spool is
drained into it, and an ``audit_recovered`` entry (also shown on the Access log page) says
what happened. A file that another process holds is never moved.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import audit
from analytics.audit import (
    AUDIT_ENV,
    AccessEvent,
    audit_log,
    close_audit_logs,
    is_lock_error,
    record_access,
    search_access_log,
    unusable_reason,
)
from tests.support.audit import HOLDER, WRITER, writer_env
from tests.support.clinics import ROOT, signed_in

ASIDE = re.compile(r"^audit\.duckdb\.unusable-\d{8}T\d{12}Z(-\d+)?$")


pytestmark = pytest.mark.usefixtures("fresh_audit_logs")


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.duckdb"


def spool_two_entries(log_path: Path) -> list[AccessEvent]:
    """Entries a dashboard process spooled while the log was broken (its pid is long gone)."""
    events = [AccessEvent.new(action="client_view", email="ana@clinic.org", role="therapist", page="Client review",
                              client_id="C1"),
              AccessEvent.new(action="export", email="sam@clinic.org", role="supervisor", page="Cohort outcomes",
                              detail="cohort.csv (10 bytes)")]
    spool = log_path.with_name(f"{log_path.name}.spool-99999998.jsonl")
    spool.write_text("".join(e.to_json() + "\n" for e in events), encoding="ascii")
    return events


def garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 300)


def truncated_duckdb(path: Path) -> None:
    """A real access log cut short (a disk that filled up while it grew)."""
    scratch = path.with_name("scratch.duckdb")
    con = duckdb.connect(str(scratch))
    con.execute(audit.DDL)
    con.execute("INSERT INTO access_log SELECT uuid(), now(), 'x@clinic.org', 'admin', 'p', 'view', NULL, "
                "repeat('x', 500) FROM range(20000)")
    con.close()
    path.write_bytes(scratch.read_bytes()[:6000])
    scratch.unlink()


def moved_aside(log_path: Path) -> list[Path]:
    return sorted(p for p in log_path.parent.iterdir() if ASIDE.match(p.name))


BROKEN = {
    "empty": (lambda p: p.write_bytes(b""), "the file is empty (0 bytes"),
    "garbage": (garbage, "the file is not a DuckDB database (6,900 bytes without a DuckDB header)"),
    "truncated": (truncated_duckdb, "the file is damaged (DuckDB: IOException"),
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_a_broken_log_is_moved_aside_restarted_and_the_spool_drained(log_path: Path, kind: str):
    make, reason = BROKEN[kind]
    make(log_path)
    original = log_path.read_bytes()
    spooled = spool_two_entries(log_path)

    assert record_access(log_path, "view", email="admin@clinic.org", role="admin", page="Home") == "db"

    aside = moved_aside(log_path)
    assert len(aside) == 1 and aside[0].read_bytes() == original  # kept, byte for byte, for investigation
    assert list(log_path.parent.glob("*.spool-*.jsonl")) == []
    found = search_access_log(log_path, limit=100)
    assert set(found["id"].astype(str)) >= {e.id for e in spooled}
    assert sorted(found["action"]) == ["audit_recovered", "client_view", "export", "view"]
    recovered = found[found["action"] == "audit_recovered"].iloc[0]
    assert recovered["page"] == "(access log)" and pd.isna(recovered["email"])
    assert reason in recovered["detail"]
    assert f"moved aside to {aside[0].name}" in recovered["detail"]
    assert "2 spooled entries were moved into it" in recovered["detail"]
    assert log_path.stat().st_mode & 0o777 == 0o600
    assert [r.drained for r in audit_log(log_path).recoveries] == [2]


def test_a_reader_recovers_too_and_a_second_open_changes_nothing(log_path: Path):
    garbage(log_path)
    spool_two_entries(log_path)
    found = search_access_log(log_path, limit=100)  # the Access log page's path: no AuditUnavailable
    assert sorted(found["action"]) == ["audit_recovered", "client_view", "export"]
    close_audit_logs()
    again = search_access_log(log_path, limit=100)  # the new log is fine: no second recovery
    assert sorted(again["id"]) == sorted(found["id"])
    assert len(moved_aside(log_path)) == 1


def test_a_log_held_by_another_process_is_never_moved(log_path: Path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(log_path)], cwd=ROOT, env=writer_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(duckdb.Error) as locked:
            duckdb.connect(str(log_path))
        assert is_lock_error(locked.value) and unusable_reason(log_path, locked.value) is None
        assert record_access(log_path, "view", email="ana@clinic.org", page="Home") == "spool"
        with pytest.raises(audit.AuditUnavailable, match="in use by another dashboard process"):
            search_access_log(log_path)
        assert moved_aside(log_path) == []
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    found = search_access_log(log_path, limit=100)
    assert sorted(found["email"]) == ["ana@clinic.org", "holder@clinic.org"]
    assert "audit_recovered" not in set(found["action"]) and moved_aside(log_path) == []


def test_unusable_reason_tells_broken_files_from_good_or_missing_ones(log_path: Path):
    assert unusable_reason(log_path) is None  # missing: a new log is simply created
    record_access(log_path, "view", email="ana@clinic.org", page="Home")
    close_audit_logs()
    assert unusable_reason(log_path) is None  # a good log
    assert unusable_reason(log_path, duckdb.IOException("IO Error: Permission denied")) is None
    empty = log_path.with_name("empty.duckdb")
    empty.write_bytes(b"")
    assert unusable_reason(empty).startswith("the file is empty")


def test_processes_recovering_at_once_replace_the_file_once_and_lose_nothing(log_path: Path, tmp_path: Path):
    log_path.write_bytes(b"")
    spool_two_entries(log_path)
    gate = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(log_path), f"proc{n}", "10", str(gate)],
                              cwd=ROOT, env=writer_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(3)]
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("ready-*"))) < len(procs) and time.monotonic() < deadline:
            time.sleep(0.01)
        gate.touch()
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert len(moved_aside(log_path)) == 1
    found = search_access_log(log_path, limit=1000)
    assert found["id"].is_unique
    assert found.groupby("email").size().to_dict() == {
        "ana@clinic.org": 1, "proc0@clinic.org": 10, "proc1@clinic.org": 10, "proc2@clinic.org": 10,
        "sam@clinic.org": 1}
    assert (found["action"] == "audit_recovered").sum() == 1


# --------------------------------------------------------------------------------------
# The Access log page tells the admin
# --------------------------------------------------------------------------------------


@pytest.fixture
def admin_app(tmp_path: Path, tiny_db_path: Path, monkeypatch: pytest.MonkeyPatch, serve_database) -> Path:
    from analytics.access import add_user

    db = tmp_path / "clinic.duckdb"
    shutil.copyfile(tiny_db_path, db)
    add_user(db, "admin@clinic.org", "admin")
    monkeypatch.setenv(AUDIT_ENV, str(tmp_path / "audit.duckdb"))
    serve_database(db)
    return tmp_path


def open_access_log_page() -> AppTest:
    return signed_in(ROOT / "pages" / "admin_audit.py", "admin@clinic.org", timeout=30)


def test_the_access_log_page_recovers_a_broken_log_and_says_so(admin_app: Path):
    log_path = admin_app / "audit.duckdb"
    log_path.write_bytes(b"")  # what a full disk left behind
    spool_two_entries(log_path)
    at = open_access_log_page()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    assert not any("in use by another dashboard process" in w for w in warnings), warnings
    notice = [w for w in warnings if "The access log file was unusable" in w]
    assert len(notice) == 1, warnings
    aside = moved_aside(log_path)
    assert len(aside) == 1
    assert "the file is empty (0 bytes" in notice[0] and aside[0].name in notice[0]
    assert "2 spooled entries were moved into it" in notice[0] and "Entries before that time are in the old file" in notice[0]
    shown = at.dataframe[0].value
    assert {"ana@clinic.org", "sam@clinic.org", "admin@clinic.org"} <= set(shown["email"])
    assert "Log file replaced" in set(shown["action"])
    # the next visit shows the same notice (it is in the log) and nothing is moved again
    close_audit_logs()
    again = open_access_log_page()
    assert [w.value for w in again.warning if "The access log file was unusable" in w.value] == notice
    assert moved_aside(log_path) == aside
