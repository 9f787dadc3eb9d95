"""The access log: rows for views and exports, append-only, concurrent writers, the spool."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
import threading
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import audit, import_files
from analytics.audit import (
    ACTIONS,
    AUDIT_ENV,
    AccessEvent,
    access_log_csv,
    audit_log,
    audit_path,
    close_audit_logs,
    record_access,
    search_access_log,
)
from tests.support.audit import HOLDER, WRITER, writer_env
from tests.support.clinics import ROOT, build_tiny_clinic

pytestmark = pytest.mark.usefixtures("fresh_audit_logs")


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "clinic.duckdb.audit.duckdb"


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if v is None or (not isinstance(v, str) and pd.isna(v)) else v) for k, v in r.items()}
            for r in df.to_dict("records")]


def rows(path: Path, **filters) -> pd.DataFrame:
    return search_access_log(path, limit=100_000, **filters)


def utc_day(at: object) -> date:
    """The UTC day of a logged ``at`` (the log's own clock, not the test's)."""
    stamp = pd.Timestamp(at)
    return (stamp.tz_convert("UTC") if stamp.tzinfo else stamp).date()


# --------------------------------------------------------------------------------------
# Recording and searching
# --------------------------------------------------------------------------------------


def test_the_log_lives_beside_the_clinic_database_unless_configured(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(AUDIT_ENV, raising=False)
    assert audit_path(tmp_path / "clinic.duckdb") == tmp_path / "clinic.duckdb.audit.duckdb"
    monkeypatch.setenv(AUDIT_ENV, str(tmp_path / "elsewhere" / "log.duckdb"))
    assert audit_path(tmp_path / "clinic.duckdb") == tmp_path / "elsewhere" / "log.duckdb"


def test_entries_are_stored_and_searchable(log_path: Path):
    assert record_access(log_path, "view", email=" Ana@Clinic.ORG ", role="therapist", page="Client review") == "db"
    record_access(log_path, "client_view", email="ana@clinic.org", role="therapist", page="Client review", client_id="C1")
    record_access(log_path, "export", email="sam@clinic.org", role="supervisor", page="Cohort outcomes",
                  detail="cohort_table: cohort.csv (120 bytes)")
    record_access(log_path, "not_found", email="ana@clinic.org", role="therapist", page="Client review",
                  detail="requested client id: C4")
    everything = rows(log_path)
    assert len(everything) == 4
    assert list(everything.columns) == ["id", "at", "email", "role", "page", "action", "client_id", "detail"]
    assert everything["action"].tolist() == ["not_found", "export", "client_view", "view"]  # newest first
    assert set(everything["email"]) == {"ana@clinic.org", "sam@clinic.org"}  # normalised
    assert rows(log_path, email="ANA@")["action"].tolist() == ["not_found", "client_view", "view"]
    assert rows(log_path, client_id="C1")["action"].tolist() == ["client_view"]
    assert rows(log_path, actions=["export", "view"])["email"].tolist() == ["sam@clinic.org", "ana@clinic.org"]
    # The UTC days the entries were stamped with (one, unless the test ran across midnight).
    days = sorted({utc_day(at) for at in everything["at"]})
    assert len(rows(log_path, date_from=days[0], date_to=days[-1])) == 4
    assert rows(log_path, date_to=days[0] - timedelta(days=1)).empty
    assert rows(log_path, date_from=days[-1] + timedelta(days=1)).empty
    assert len(search_access_log(log_path, limit=2)) == 2


def test_unknown_actions_are_a_programming_error(log_path: Path):
    with pytest.raises(ValueError):
        record_access(log_path, "delete_everything")
    assert set(ACTIONS) >= {"view", "client_view", "export", "denied", "not_found", "login", "logout"}


@pytest.mark.parametrize(
    "value",
    ["' OR 1=1 --", "'; DROP TABLE access_log; --", "x\x00y", "../../etc/passwd", "%", "_", "A" * 100_000, "\r\n=1+2"],
    ids=lambda v: repr(v[:20]),
)
def test_crafted_values_are_stored_escaped_and_searched_safely(log_path: Path, value: str):
    assert record_access(log_path, "not_found", email=value, page=value, client_id=value, detail=value) == "db"
    record_access(log_path, "view", email="other@clinic.org", page="Home")
    stored = rows(log_path, actions=["not_found"]).iloc[0]
    for column in ("page", "client_id", "detail"):
        text = stored[column]
        assert "\x00" not in text and "\n" not in text and "\r" not in text
        assert len(text) <= audit.FIELD_LIMITS[column]
    assert stored["detail"] == audit.clean_text(value, audit.FIELD_LIMITS["detail"])
    # as a search filter the crafted value finds at most its own entry, and breaks nothing
    assert rows(log_path, client_id=value)["id"].tolist() in ([], [stored["id"]])
    assert rows(log_path, email=value)["id"].tolist() in ([], [stored["id"]])
    assert len(rows(log_path)) == 2


def test_export_csv_neutralises_formulas(log_path: Path):
    record_access(log_path, "client_view", email="ana@clinic.org", role="therapist", page="Client review",
                  client_id="=HYPERLINK(\"http://evil.example\",\"x\")")
    record_access(log_path, "denied", email="ana@clinic.org", page="+cmd", detail="@SUM(A1)")
    text = access_log_csv(rows(log_path)).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and ",'+cmd," in text and ",'@SUM(A1)" in text
    assert ",=HYPERLINK" not in text and ",+cmd" not in text


# --------------------------------------------------------------------------------------
# Append-only and separate from imports
# --------------------------------------------------------------------------------------


def test_the_log_is_append_only(log_path: Path):
    for i in range(5):
        record_access(log_path, "view", email="ana@clinic.org", page=f"Page {i}")
    before = rows(log_path).sort_values("id").reset_index(drop=True)
    for i in range(5):
        record_access(log_path, "export", email="sam@clinic.org", page=f"Page {i}", detail="x.csv")
    after = rows(log_path)
    assert len(after) == 10
    kept = after[after["id"].isin(before["id"])].sort_values("id").reset_index(drop=True)
    assert _records(kept) == _records(before)
    # no way to change or remove an entry through the module
    public = {name for name in dir(audit) if not name.startswith("_")} | {
        name for name in dir(audit.AuditLog) if not name.startswith("_")}
    assert not {n for n in public if any(word in n.lower() for word in ("delete", "update", "remove", "truncate", "purge"))}
    # re-inserting an entry (a spool drained twice) does not duplicate it
    event = AccessEvent.new(action="view", email="ana@clinic.org", page="Again")
    audit_log(log_path).record(event)
    audit_log(log_path).record(event)
    assert len(rows(log_path, actions=["view"], email="ana")) == 6


def test_imports_never_touch_the_log(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(AUDIT_ENV, raising=False)
    db_path = build_tiny_clinic(tmp_path / "clinic")
    log = audit_path(db_path)
    record_access(log, "view", email="ana@clinic.org", page="Home")
    close_audit_logs()
    before = log.read_bytes()
    extra = tmp_path / "clients.csv"
    extra.write_text("client_id,clinic,therapist_id,intake_date\nC6,North,T2,2025-06-02\n", encoding="utf-8")
    assert import_files(db_path, [extra]).exit_code == 0
    assert log.read_bytes() == before
    assert rows(log)["page"].tolist() == ["Home"]


# --------------------------------------------------------------------------------------
# Concurrency: threads share one connection; other processes spool
# --------------------------------------------------------------------------------------


def test_concurrent_threads_lose_nothing(log_path: Path):
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(40):
                assert record_access(log_path, "view", email=f"user{n}@clinic.org", page=f"p{i}") == "db"
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    found = rows(log_path)
    assert len(found) == 320 and found["id"].is_unique
    assert found.groupby("email").size().tolist() == [40] * 8


def test_concurrent_processes_lose_nothing(log_path: Path, tmp_path: Path):
    import time

    gate = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(log_path), f"proc{n}", "25", str(gate)],
                         cwd=ROOT, env=writer_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(3)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("ready-*"))) < len(procs) and time.monotonic() < deadline:
            time.sleep(0.01)
        gate.touch()
        outputs = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            outputs.append(out.strip())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(o in {"db", "spool", "db,spool"} for o in outputs), outputs
    found = rows(log_path)  # opening drains every spool file left behind
    assert len(found) == 75 and found["id"].is_unique
    assert found.groupby("email").size().tolist() == [25] * 3
    assert list(log_path.parent.glob("*.spool-*.jsonl")) == []


def test_entries_are_spooled_while_another_process_holds_the_log(log_path: Path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(log_path)], cwd=ROOT, env=writer_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert record_access(log_path, "export", email="ana@clinic.org", page="Client review", client_id="C1",
                             detail="client.csv") == "spool"
        assert record_access(log_path, "view", email="ana@clinic.org", page="Home") == "spool"  # no retry delay now
        spool = audit_log(log_path).spool_path
        assert spool.exists() and stat.S_IMODE(spool.stat().st_mode) == 0o600
        assert len(spool.read_text().splitlines()) == 2
        with pytest.raises(audit.AuditUnavailable):
            rows(log_path)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    found = rows(log_path)  # the next successful open drains the spool
    assert sorted(found["email"]) == ["ana@clinic.org", "ana@clinic.org", "holder@clinic.org"]
    assert found.loc[found["action"] == "export", "client_id"].tolist() == ["C1"]
    assert not spool.exists()


def test_a_corrupt_spool_line_is_kept_aside(log_path: Path):
    event = AccessEvent.new(action="view", email="ana@clinic.org", page="Home")
    spool = log_path.with_name(f"{log_path.name}.spool-99999999.jsonl")
    spool.write_text(event.to_json() + "\n{not json\n", encoding="ascii")
    assert audit_log(log_path).drain_spool() == 1
    assert rows(log_path)["page"].tolist() == ["Home"]
    assert not spool.exists()
    assert spool.with_name(spool.name + ".corrupt").read_text().strip() == "{not json"


# --------------------------------------------------------------------------------------
# Views and exports from the dashboard (AppTest, local mode)
# --------------------------------------------------------------------------------------


@pytest.fixture
def local_app(tmp_path: Path, tiny_db_path: Path, monkeypatch: pytest.MonkeyPatch, serve_database) -> Path:
    db = tmp_path / "clinic.duckdb"
    shutil.copyfile(tiny_db_path, db)
    log = tmp_path / "audit.duckdb"
    monkeypatch.setenv(AUDIT_ENV, str(log))
    serve_database(db)
    return log


def test_page_views_are_logged_once_per_arrival(local_app: Path):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    at.run()  # a rerun on the same page is not a new view
    views = rows(local_app, actions=["view"])
    assert views[["email", "role", "page"]].values.tolist() == [["local", "admin", "Between Sessions"]]


def test_exports_are_logged(local_app: Path):
    record_access(local_app, "not_found", email="t1@clinic.org", role="therapist", page="Client review",
                  detail="requested client id: C4")
    at = AppTest.from_file(str(ROOT / "pages" / "admin_audit.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    assert [b.label for b in at.get("download_button")] == ["Download these entries (CSV)"]
    at.get("download_button")[0].click().run()
    assert not at.exception, at.exception
    exports = rows(local_app, actions=["export"])
    assert len(exports) == 1
    row = exports.iloc[0]
    assert (row["email"], row["role"], row["page"]) == ("local", "admin", "Access log")
    # named for the UTC day of the export: the day the export was logged (the same click)
    assert row["detail"].startswith(f"access_log: access-log-{utc_day(row['at']):%Y%m%d}.csv (")
    assert row["client_id"] is None or pd.isna(row["client_id"])


def test_deferred_exports_are_logged_when_built(log_path: Path):
    from ui.audit import logged_builder

    build = logged_builder(lambda: b"client_id\r\nC1\r\n", audit_path=log_path, email="ana@clinic.org",
                           role="therapist", page="Client review", export_kind="client_weekly_csv",
                           file_name="C1-weekly.csv", client_id="C1")
    assert rows(log_path).empty  # nothing until the user clicks
    assert build() == b"client_id\r\nC1\r\n"
    row = rows(log_path).iloc[0]
    assert (row["action"], row["email"], row["page"], row["client_id"], row["detail"]) == (
        "export", "ana@clinic.org", "Client review", "C1", "client_weekly_csv: C1-weekly.csv (15 bytes)")
