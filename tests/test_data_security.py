"""Issue 10, items 1, 10, 12 and 15: import data and rejects.

- Rejected rows and import details are admin data (analytics.data.model): other roles get
  no raw row, no free text, no count and no CSV, in analytics and in the app (AppTest
  with ``at.user``); each view of rejects is in the access log with its batch id.
- Rejects are paged from DuckDB (first N rows, the total, filters by file and rule) and
  the CSV download is streamed from DuckDB in chunks.
- A full disk or a read-only folder gives a one-line error and exit status 3 (CLI) or the
  same message on the Data page; a killed import's copy is removed by the next reader.
- The server path of a missing database is shown only to the admin of local mode.
"""

from __future__ import annotations

import errno
import io
import os
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import ClinicDatabase, Viewer, import_files
from analytics.audit import AUDIT_ENV, close_audit_logs, search_access_log
from analytics.data.model import (
    HISTORY_COLUMNS_FOR_ALL,
    REJECT_CSV_HEADERS,
    REJECTS_PAGE_SIZE,
    RejectsNotPermitted,
    data_overview,
    import_history,
    import_rejects,
    rejects_csv_chunks,
)
from analytics.privacy import to_safe_csv
from analytics.scope import query_params
from tests.support.clinics import FIXTURE_TODAY, ROOT, SECRET, clinic_with_a_rejected_row, signed_in, write_csv

DATA_PAGE = str(ROOT / "pages" / "data.py")
HOME = str(ROOT / "dashboard.py")
USERS = {
    "admin@clinic.org": ("admin", {}),
    "sup.north@clinic.org": ("supervisor", {"clinics": ["North"]}),
    "t1@clinic.org": ("therapist", {"therapist_id": "T1"}),
    "t3@clinic.org": ("therapist", {"therapist_id": "T3"}),
    "qi@clinic.org": ("qi", {}),
}
VIEWERS = {
    "therapist T3": Viewer(role="therapist", email="t3@clinic.org", therapist_id="T3"),
    "therapist T1 (the client's own)": Viewer(role="therapist", email="t1@clinic.org", therapist_id="T1"),
    "supervisor North": Viewer(role="supervisor", email="sup.north@clinic.org", clinics=("North",)),
    "qi": Viewer(role="qi", email="qi@clinic.org"),
}
ADMIN = Viewer(role="admin", email="admin@clinic.org")


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rejects_clinic(tmp_path_factory: pytest.TempPathFactory, tiny_db_path: Path) -> Path:
    """The tiny clinic, a user of every role, and batch 2 with one rejected assignment of C1."""
    return clinic_with_a_rejected_row(tmp_path_factory.mktemp("rejects"), tiny_db_path, USERS)


@pytest.fixture
def app(rejects_clinic: Path, serve_copy) -> Path:
    """A copy of the rejects clinic served to AppTest, with its own access log."""
    return serve_copy(rejects_clinic).parent


def everything_shown(at: AppTest) -> str:
    """Every text, table cell and widget label of the page, as one string."""
    parts = [str(e.value) for kind in ("markdown", "caption", "text", "info", "error", "warning", "success", "metric")
             for e in at.get(kind)]
    parts += [pd.DataFrame(d.value).to_csv() for d in at.dataframe]
    parts += [str(getattr(w, "label", "")) for kind in ("selectbox", "button", "number_input") for w in at.get(kind)]
    return "\n".join(parts)


# --------------------------------------------------------------------------------------
# Item 1: rejects and import details are admin data
# --------------------------------------------------------------------------------------


def test_admin_sees_the_raw_rejected_row(rejects_clinic: Path):
    with ClinicDatabase(rejects_clinic) as db:
        page = import_rejects(db, ADMIN, 2)
        history = import_history(db, ADMIN)
    assert page.rows[["file_name", "line_number", "column_name", "value"]].values.tolist() == [
        ["assignments_feb.csv", 2, "quantity_rating", "7"]
    ]
    assert SECRET in page.rows["raw_row"].iloc[0]
    assert history.iloc[0][["batch_id", "rows_read", "rows_rejected"]].tolist() == [2, 1, 1]


@pytest.mark.parametrize("who", list(VIEWERS))
def test_other_roles_get_no_reject_no_count_and_no_import_details(rejects_clinic: Path, who: str):
    viewer = VIEWERS[who]
    with ClinicDatabase(rejects_clinic) as db:
        with pytest.raises(RejectsNotPermitted):
            import_rejects(db, viewer, 2)
        with pytest.raises(RejectsNotPermitted):
            next(rejects_csv_chunks(db, viewer, 2))
        history = import_history(db, viewer)
        overview = data_overview(db, viewer)
    # when each import ran, nothing else: no counts, files, source or profile
    assert list(history.columns) == list(HISTORY_COLUMNS_FOR_ALL)
    assert history["batch_id"].tolist() == [2, 1]
    assert set(overview["last_import"]) == set(HISTORY_COLUMNS_FOR_ALL)
    assert overview["last_import"]["batch_id"] == 2


@pytest.mark.parametrize("email", ["t3@clinic.org", "qi@clinic.org"])
def test_data_page_shows_no_reject_to_a_therapist_or_qi(app: Path, email: str):
    at = signed_in(DATA_PAGE, email)
    assert not at.exception, at.exception
    shown = everything_shown(at)
    assert SECRET not in shown  # no free text
    assert "assignments_feb.csv" not in shown and "quantity_rating" not in shown  # no raw row, no file
    assert not [d for d in at.dataframe if {"Row as read", "Line", "Rule broken"} & set(pd.DataFrame(d.value).columns)]
    assert not at.get("download_button")  # no CSV download
    history = [pd.DataFrame(d.value) for d in at.dataframe if "Batch" in pd.DataFrame(d.value).columns]
    assert [list(h.columns) for h in history] == [["Batch", "Started (UTC)", "Finished (UTC)"]]  # no counts either
    fresh = [pd.DataFrame(d.value) for d in at.dataframe if "Records" in pd.DataFrame(d.value).columns]
    counts = ["Rows"] if email.startswith("t3") else []  # a de-identified viewer (qi) gets no row counts
    assert [list(f.columns) for f in fresh] == [["Records", "Latest date", "Days before the as-of date", *counts]]
    assert "for administrators" in shown
    # the home page says when the last import ran, without its counts
    home = signed_in(HOME, email)
    assert not home.exception, home.exception
    last = [m.value for m in home.markdown if "Last import" in m.value]
    assert len(last) == 1 and "batch 2 at" in last[0] and "rejected" not in last[0]


def test_admin_sees_rejects_and_each_view_is_logged_with_its_batch(app: Path):
    at = signed_in(DATA_PAGE, "admin@clinic.org")
    assert not at.exception, at.exception
    frames = [pd.DataFrame(d.value) for d in at.dataframe if "Row as read" in pd.DataFrame(d.value).columns]
    assert len(frames) == 1 and SECRET in frames[0]["Row as read"].iloc[0]
    assert at.get("download_button")
    at.run()  # a rerun of the same view is not logged again
    at.selectbox(key="history_batch").set_value(1).run()  # batch 1 rejected nothing: nothing shown
    close_audit_logs()
    log = search_access_log(app / "audit.duckdb", limit=1000)
    views = log[(log["action"] == "view") & log["detail"].fillna("").str.startswith("import rejects")]
    assert views["detail"].tolist() == ["import rejects of batch 2: rows 1-1 of 1"]
    assert views["email"].tolist() == ["admin@clinic.org"]


# --------------------------------------------------------------------------------------
# Item 10: rejects are paged from DuckDB; the CSV is streamed
# --------------------------------------------------------------------------------------

MANY_A, MANY_B = 30_000, 20_000
VIOLATIONS = MANY_A + 2 * MANY_B


@pytest.fixture(scope="module")
def many_rejects(tmp_path_factory: pytest.TempPathFactory, tiny_db_path: Path) -> Path:
    """Batch 2: 50,000 rejected scores in two files: 30,000 break one rule (scores_a), 20,000
    break two (scores_b): 70,000 rule violations."""
    work = tmp_path_factory.mktemp("many")
    db = work / "clinic.duckdb"
    shutil.copyfile(tiny_db_path, db)
    con = duckdb.connect()
    try:
        # scores_a: total_score 99 (out of range); scores_b: an unknown measure and a date
        # that is not YYYY-MM-DD
        con.execute(f"""COPY (SELECT 'C1' AS client_id, 'PHQ-9' AS measure,
                   (DATE '2020-01-01' + INTERVAL (i % 1500) DAY)::DATE AS administered_date, 99 AS total_score
                   FROM range({MANY_A}) t(i)) TO '{work / "scores_a.csv"}' (HEADER)""")
        con.execute(f"""COPY (SELECT 'C2' AS client_id, 'BDI' AS measure,
                   strftime(DATE '2020-01-01' + INTERVAL (i % 1500) DAY, '%d/%m/%Y') AS administered_date,
                   5 AS total_score
                   FROM range({MANY_B}) t(i)) TO '{work / "scores_b.csv"}' (HEADER)""")
    finally:
        con.close()
    result = import_files(db, [work / "scores_a.csv", work / "scores_b.csv"], today=FIXTURE_TODAY)
    assert (result.batch_id, result.rejected) == (2, MANY_A + MANY_B), result.report()
    return db


class CountingDatabase(ClinicDatabase):
    """Records how many rows each query brought into Python."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.rows_read: list[tuple[str, int]] = []

    def query(self, name, params=None):
        frame = super().query(name, params)
        self.rows_read.append((name, len(frame)))
        return frame

    def query_chunks(self, name, params=None, **kwargs):
        for chunk in super().query_chunks(name, params, **kwargs):
            self.rows_read.append((name, len(chunk)))
            yield chunk


def test_a_batch_of_50k_rejects_brings_one_page_into_python(many_rejects: Path):
    with CountingDatabase(many_rejects) as db:
        page = import_rejects(db, ADMIN, 2)
        assert len(page.rows) == REJECTS_PAGE_SIZE
        assert (page.total, page.rejected_rows) == (VIOLATIONS, MANY_A + MANY_B)
        assert page.files == ("scores_b.csv", "scores_a.csv")  # most violations first
        assert len(page.rules) == 3
        # the first rows in file and line order
        assert page.rows["file_name"].unique().tolist() == ["scores_a.csv"]
        assert page.rows["line_number"].tolist() == list(range(2, 2 + REJECTS_PAGE_SIZE))
        # nothing brought more than a page into Python
        assert max(n for _, n in db.rows_read) <= REJECTS_PAGE_SIZE, db.rows_read

        # filters by file and by rule, and the last page
        b = import_rejects(db, ADMIN, 2, file_name="scores_b.csv")
        assert (b.total, b.rejected_rows) == (2 * MANY_B, MANY_B) and set(b.rows["file_name"]) == {"scores_b.csv"}
        assert set(b.rows["column_name"]) == {"administered_date", "measure"}
        range_rule = next(r for r in page.rules if "between 0 and 27" in r)
        by_rule = import_rejects(db, ADMIN, 2, rule=range_rule)
        assert by_rule.total == MANY_A and set(by_rule.rows["value"]) == {"99"}
        assert import_rejects(db, ADMIN, 2, file_name="scores_b.csv", rule=range_rule).total == 0
        last = import_rejects(db, ADMIN, 2, file_name="scores_b.csv", offset=2 * MANY_B - 30)
        assert len(last.rows) == 30 and last.rows["line_number"].iloc[-1] == MANY_B + 1
        assert max(n for _, n in db.rows_read) <= REJECTS_PAGE_SIZE, db.rows_read


def test_the_rejects_csv_is_streamed_from_duckdb_and_has_every_row(many_rejects: Path):
    with CountingDatabase(many_rejects) as db:
        chunks = list(rejects_csv_chunks(db, ADMIN, 2))
        streamed = db.rows_read
        with duckdb.connect(str(many_rejects), read_only=True) as con:
            everything = con.execute(
                "SELECT * FROM import_rejects WHERE batch_id = 2 ORDER BY file_name, line_number, column_name, rule"
            ).df()
    # streamed: many chunks of at most 5 x 2048 rows, never one whole DataFrame
    assert len(chunks) >= 5
    assert max(n for _, n in streamed) <= 5 * 2048
    assert sum(n for _, n in streamed) == VIOLATIONS
    body = b"".join(chunks)
    # byte for byte what to_safe_csv gives for the whole table (BOM once, header once)
    assert body == to_safe_csv(everything.rename(columns=REJECT_CSV_HEADERS))
    table = pd.read_csv(io.BytesIO(body), encoding="utf-8-sig")
    assert len(table) == VIOLATIONS
    assert table.groupby("File").size().to_dict() == {"scores_a.csv": MANY_A, "scores_b.csv": 2 * MANY_B}
    # filtered: only that file's rule
    measure_rule = "unknown measure (configured: PHQ-9, GAD-7, CORE-10)"
    with ClinicDatabase(many_rejects) as db:
        only_b = b"".join(rejects_csv_chunks(db, ADMIN, 2, file_name="scores_b.csv", rule=measure_rule))
    only_b_table = pd.read_csv(io.BytesIO(only_b), encoding="utf-8-sig")
    assert len(only_b_table) == MANY_B and set(only_b_table["Value"]) == {"BDI"}


def test_an_empty_selection_still_gives_the_csv_header(many_rejects: Path):
    with ClinicDatabase(many_rejects) as db:
        body = b"".join(rejects_csv_chunks(db, ADMIN, 1))
    assert body == "\ufeffBatch,File,Table,Line,Column,Value,Rule broken,Row as read\r\n".encode()


def test_the_data_page_pages_the_50k_rejects(many_rejects: Path, tmp_path: Path, serve_database, monkeypatch):
    db = tmp_path / "clinic.duckdb"
    shutil.copyfile(many_rejects, db)
    monkeypatch.setenv(AUDIT_ENV, str(tmp_path / "audit.duckdb"))
    serve_database(db)
    at = AppTest.from_file(DATA_PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    frames = [pd.DataFrame(d.value) for d in at.dataframe if "Row as read" in pd.DataFrame(d.value).columns]
    assert [len(f) for f in frames] == [REJECTS_PAGE_SIZE]
    assert any(f"of {VIOLATIONS:,} ({MANY_A + MANY_B:,} rejected rows)" in c.value for c in at.caption)
    at.selectbox(key="history_rejects_2_file").set_value("scores_b.csv").run()
    frames = [pd.DataFrame(d.value) for d in at.dataframe if "Row as read" in pd.DataFrame(d.value).columns]
    assert set(frames[0]["File"]) == {"scores_b.csv"}
    assert any(f"of {2 * MANY_B:,} ({MANY_B:,} rejected rows, filtered)" in c.value for c in at.caption)
    at.number_input(key="history_rejects_2_page_scores_b.csv_None").set_value(3).run()
    frames = [pd.DataFrame(d.value) for d in at.dataframe if "Row as read" in pd.DataFrame(d.value).columns]
    assert frames[0]["Line"].iloc[0] == 2 + REJECTS_PAGE_SIZE  # two violations a line
    close_audit_logs()


# --------------------------------------------------------------------------------------
# Item 12: full disk, read-only folder, a killed import's copy
# --------------------------------------------------------------------------------------

SESSION_CSV = "client_id,session_date,attended,session_number\nC5,2025-03-10,true,1\n"


def sha(path: Path) -> bytes:
    import hashlib

    return hashlib.sha256(path.read_bytes()).digest()


def as_plain_user(command: list[str]) -> list[str]:
    """``command`` run so that folder permissions apply: as root (which ignores them),
    without the capabilities that override them (capsh); otherwise unchanged."""
    if os.geteuid() != 0:
        return command
    capsh = shutil.which("capsh")
    if capsh is None:
        pytest.fail("running as root needs capsh (package libcap2-bin) to drop CAP_DAC_OVERRIDE")
    return [capsh, "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", shlex.join(command)]


@pytest.fixture
def readonly_folder(tiny_db_path: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A read-only folder (mode 0555) holding a clinic database, and an export file."""
    folder = tmp_path / "clinic"
    folder.mkdir()
    db = folder / "clinic.duckdb"
    shutil.copyfile(tiny_db_path, db)
    export = write_csv(tmp_path / "sessions_later.csv", SESSION_CSV)
    os.chmod(folder, 0o555)
    try:
        yield folder, export
    finally:
        os.chmod(folder, stat.S_IRWXU)


def test_import_into_a_read_only_folder_exits_3_with_one_line(readonly_folder):
    folder, export = readonly_folder
    db = folder / "clinic.duckdb"
    before = sha(db)
    proc = subprocess.run(
        as_plain_user([sys.executable, "-m", "analytics", "import", "--db", str(db), str(export)]),
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: cannot write the clinic database {db}: permission denied: the folder is read-only for this user; "
        "nothing was changed"
    ]
    assert sha(db) == before
    assert sorted(p.name for p in folder.iterdir()) == ["clinic.duckdb"]


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["analytics.storage.shutil.copyfile", "analytics.storage._fsync"])
def test_a_full_disk_exits_3_with_one_line_and_changes_nothing(tiny_db_path, tmp_path, monkeypatch, capsys, where):
    from analytics.cli.main import main

    db = tmp_path / "clinic.duckdb"
    shutil.copyfile(tiny_db_path, db)
    before = sha(db)
    export = write_csv(tmp_path / "sessions_later.csv", SESSION_CSV)
    monkeypatch.setattr(where, _enospc)  # copying the database, or flushing the new copy
    assert main(["import", "--db", str(db), str(export)]) == 3
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert err.strip().splitlines() == [
        f"error: cannot write the clinic database {db}: the disk is full (no space left on device); nothing was changed"
    ]
    assert sha(db) == before
    assert not list(tmp_path.glob("clinic.duckdb.importing-*"))


def test_a_duckdb_write_on_a_full_disk_is_the_same_error(tiny_db_path, tmp_path, monkeypatch):
    """DuckDB reports a full disk as an IOException of its own."""
    from analytics import storage

    db = tmp_path / "clinic.duckdb"
    shutil.copyfile(tiny_db_path, db)
    before = sha(db)
    with pytest.raises(storage.DatabaseNotWritable) as caught:
        with storage.atomic_write(db):
            raise duckdb.IOException(f'Could not write file "{db}.importing-x": No space left on device')
    assert caught.value.reason == "the disk is full (no space left on device)"
    assert sha(db) == before
    # any other error passes unchanged
    with pytest.raises(duckdb.IOException, match="something else"):
        with storage.atomic_write(db):
            raise duckdb.IOException("something else")


def test_the_data_page_says_the_disk_is_full(tiny_db_path, tmp_path, serve_database, monkeypatch):
    db = tmp_path / "clinic.duckdb"
    shutil.copyfile(tiny_db_path, db)
    monkeypatch.setenv(AUDIT_ENV, str(tmp_path / "audit.duckdb"))
    serve_database(db)
    before = sha(db)
    monkeypatch.setattr("analytics.storage.shutil.copyfile", _enospc)
    at = AppTest.from_file(DATA_PAGE, default_timeout=60).run()
    at.file_uploader(key="import_files").set_value([("sessions_later.csv", SESSION_CSV.encode(), "text/csv")])
    at.run()
    at.button(key="run_import").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        f"The import could not be written: cannot write the clinic database ({db}): "
        "the disk is full (no space left on device). Nothing was changed."
    ]
    assert not at.main.warning and not at.success  # (the sidebar may warn that the test clinic's data are old)
    assert sha(db) == before
    close_audit_logs()


def test_the_data_page_hides_the_path_from_a_signed_in_admin(app: Path, monkeypatch):
    monkeypatch.setattr("analytics.storage.shutil.copyfile", _enospc)
    at = signed_in(DATA_PAGE, "admin@clinic.org")
    at.file_uploader(key="import_files").set_value([("sessions_later.csv", SESSION_CSV.encode(), "text/csv")])
    at.run()
    at.button(key="run_import").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        "The import could not be written: cannot write the clinic database: "
        "the disk is full (no space left on device). Nothing was changed."
    ]


HOLD_LOCK = """
import fcntl, sys, time
with open(sys.argv[1], "a+") as fh:
    fcntl.flock(fh, fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_a_killed_imports_copy_is_removed_by_the_next_reader_but_not_while_an_import_runs(tiny_db_path, tmp_path):
    db = tmp_path / "clinic.duckdb"
    shutil.copyfile(tiny_db_path, db)
    lock = tmp_path / "clinic.duckdb.lock"
    lock.touch()  # every import creates it first
    stale = tmp_path / "clinic.duckdb.importing-k1ll3d"
    shutil.copyfile(db, stale)
    (tmp_path / "clinic.duckdb.importing-k1ll3d.wal").write_bytes(b"wal")

    # Another process holds the writer lock: its copy is being written, keep it.
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(lock)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with ClinicDatabase(db) as reader:
            assert len(reader.query("data_overview", query_params(Viewer.local()))) == 1
        assert stale.exists()
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)

    # No writer: the next process that opens the database removes the copy and its WAL.
    subprocess.run([sys.executable, "-c", f"from analytics import ClinicDatabase; ClinicDatabase({str(db)!r}).close()"],
                   cwd=ROOT, check=True, timeout=60)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clinic.duckdb", "clinic.duckdb.lock"]


def test_a_reader_in_a_read_only_folder_opens_the_database_and_keeps_going(readonly_folder):
    folder, _ = readonly_folder
    db = folder / "clinic.duckdb"
    os.chmod(folder, 0o755)
    (folder / "clinic.duckdb.lock").touch()
    os.chmod(folder / "clinic.duckdb.lock", 0o644)
    (folder / "clinic.duckdb.importing-old").write_bytes(b"x")
    os.chmod(folder, 0o555)
    code = f"from analytics import ClinicDatabase; print(len(ClinicDatabase({str(db)!r}).tables))"
    proc = subprocess.run(as_plain_user([sys.executable, "-c", code]), cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) >= 6
    assert (folder / "clinic.duckdb.importing-old").exists()  # could not be removed: no error either


# --------------------------------------------------------------------------------------
# Item 15: the server path of a missing database
# --------------------------------------------------------------------------------------


def test_the_path_of_a_missing_database_is_shown_only_to_the_local_admin(tmp_path, serve_database):
    missing = serve_database(tmp_path / "secret-folder" / "clinic.duckdb")
    local = AppTest.from_file(HOME, default_timeout=60).run()
    assert [e.value for e in local.error] == [
        f"No clinic database at {missing}. Import data on the Data page or set BETWEEN_SESSIONS_DB."
    ]
    for email in ("admin@clinic.org", "t3@clinic.org"):
        at = signed_in(HOME, email)
        assert not at.exception, at.exception
        errors = [e.value for e in at.error]
        assert errors == ["No clinic data has been loaded yet. Ask an administrator to import the clinic's exports."]
        assert "secret-folder" not in everything_shown(at) and "BETWEEN_SESSIONS_DB" not in everything_shown(at)
