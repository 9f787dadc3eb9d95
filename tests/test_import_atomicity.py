"""Atomic imports: SIGKILL at any moment leaves the database as it was; readers never block.

A subprocess imports a large generated export (clients plus 300,000 assignments) into a
database that already holds the tiny clinic, and is killed with SIGKILL at several points:
early (reading), later (validating/writing the private copy), at random, and exactly before
and after the swap (``os.replace``). The live file is compared byte for byte and table by
table with its state before.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from analytics import ClinicDatabase, import_files
from tests.support.clinics import FIXTURE_TODAY, ROOT, build_tiny_clinic

LARGE_ROWS = 300_000
LARGE_CLIENTS = 3_000
MEDIUM_ROWS = 20_000
# Rows (0-based) with a quantity_rating of 9; every 11th row's description spans two lines.
BAD_ROWS = (7, 150_001, 299_998)


def editor_line(i: int) -> int:
    """Editor line of assignment row i: after the header, each earlier multi-line row adds one."""
    return 2 + i + (i + 10) // 11
TABLES = ("clients", "sessions", "assignments", "scores", "import_batches", "import_rejects")

# The importing child: prints "go" right before the import starts and "table <name>" as
# the importer starts validating and writing each table, so that kills land in a known phase
# whatever the machine's speed. HOOK kills the process right after the import's commit, or
# just before or just after the swap (os.replace).
CHILD = """
import datetime, os, signal, sys
sys.path.insert(0, {root!r})
from analytics import import_files
from analytics.ingest import importer as importer
HOOK = {hook!r}
KILL_AT = {kill_at!r}  # (phase, n): die at the n-th statement of that table's processing, or
                       # at the start of staging the n-th file ("stage"): exact, whatever the speed
def die():
    print("killing", KILL_AT, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
class Counting:
    def __init__(self, con, at):
        self._con, self._at, self._n = con, at, 0
    def execute(self, *args, **kwargs):
        self._n += 1
        if self._n == self._at:
            die()
        return self._con.execute(*args, **kwargs)
    def __getattr__(self, name):
        return getattr(self._con, name)
real_process = importer._Run.process_table
def process_table(self, table, batch_id):
    print("table", table, flush=True)
    if KILL_AT and KILL_AT[0] == table:
        real_con, self.con = self.con, Counting(self.con, KILL_AT[1])
        try:
            return real_process(self, table, batch_id)
        finally:
            self.con = real_con
    return real_process(self, table, batch_id)
importer._Run.process_table = process_table
real_stage = importer._Run.stage_file
staged_files = 0
def stage_file(self, path, display_name):
    global staged_files
    staged_files += 1
    if KILL_AT and KILL_AT[0] == "stage" and staged_files == KILL_AT[1]:
        die()
    return real_stage(self, path, display_name)
importer._Run.stage_file = stage_file
real_into = importer._import_into
def import_into(*args, **kwargs):
    result = real_into(*args, **kwargs)
    if HOOK == "after-commit":  # committed, not yet checkpointed or swapped in
        os.kill(os.getpid(), signal.SIGKILL)
    return result
importer._import_into = import_into
if HOOK in ("before-swap", "after-swap"):
    real_replace = os.replace
    def replace(src, dst):
        if HOOK == "before-swap":
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)
        if HOOK == "after-swap":
            os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
print("go", flush=True)
result = import_files({db!r}, {files!r}, today=datetime.date(2026, 11, 27))
print("done", result.exit_code, flush=True)
"""

READER = """
import sys, time
sys.path.insert(0, {root!r})
from analytics import ClinicDatabase
SQL = ("SELECT (SELECT count(*) FROM clients) AS c, (SELECT count(*) FROM assignments) AS a, "
       "(SELECT count(*) FROM scores) AS s, (SELECT max(batch_id) FROM import_batches) AS b")
from pathlib import Path
STOP = Path({stop!r})
with ClinicDatabase({db!r}) as db:
    print("open", flush=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        stopping = STOP.exists()  # checked before the read: the last read comes after the stop file
        row = db.execute_sql(SQL).iloc[0]
        print(int(row.c), int(row.a), int(row.s), int(row.b), flush=True)
        if stopping:
            break
        time.sleep(0.02)  # a reader's pace, not a wait for a condition
print("closed", flush=True)
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(db_path: Path) -> dict[str, list[tuple]]:
    """Every table's full contents, ordered, through a read-only connection."""
    with ClinicDatabase(db_path) as db:
        return {t: [tuple(r) for r in db.execute_sql(f"SELECT * FROM {t} ORDER BY ALL").itertuples(index=False)]
                for t in TABLES}


def write_large_export(directory: Path, rows: int = LARGE_ROWS) -> list[Path]:
    """clients_large.csv (3,000 clients) and assignments_large.csv (300,000 rows), via DuckDB."""
    directory.mkdir(parents=True, exist_ok=True)
    clients, assignments = directory / "clients_large.csv", directory / "assignments_large.csv"
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT 'L' || lpad(i::VARCHAR, 5, '0') AS client_id, 'Clinic ' || (i % 4) AS clinic,
                  'T' || (i % 40) AS therapist_id, 'Depression CBT' AS program, 'depression' AS primary_concern,
                  DATE '2024-01-01' + (i % 200)::INTEGER AS intake_date, NULL AS discharge_date
           FROM range({LARGE_CLIENTS}) t(i)) TO '{clients}' (HEADER)"""
    )
    con.execute(
        f"""COPY (SELECT 'LA' || lpad(i::VARCHAR, 7, '0') AS assignment_id,
                  'L' || lpad((i % {LARGE_CLIENTS})::VARCHAR, 5, '0') AS client_id,
                  DATE '2024-08-01' + (i % 300)::INTEGER AS assigned_date,
                  ['thought_record', 'exposure', 'journal', 'reading'][1 + i % 4] AS homework_type,
                  (i % 2 = 0) AS goal_linked, (i % 3 = 0) AS rationale_given, true AS rehearsed_in_session,
                  false AS practice_scheduled, NULL AS obstacles_planned, false AS involves_others,
                  1 + i % 5 AS planned_practices, i % 6 AS completed_practices,
                  CASE WHEN i IN {BAD_ROWS} THEN 9 WHEN i % 7 = 0 THEN NULL ELSE i % 5 END AS quantity_rating,
                  i % 5 AS quality_rating,
                  'therapist' AS rated_by, DATE '2024-08-01' + (i % 300)::INTEGER + 7 AS reviewed_date,
                  CASE WHEN i % 11 = 0 THEN 'Walk,' || chr(10) || 'then "rate" mood' ELSE 'Practice' END AS description
           FROM range({rows}) t(i)) TO '{assignments}' (HEADER)"""
    )
    con.close()
    return [clients, assignments]


@pytest.fixture(scope="module")
def large_export(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_large_export(tmp_path_factory.mktemp("large"))


@pytest.fixture(scope="module")
def medium_export(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The same export with 20,000 assignments: enough for a reader to overlap the import."""
    return write_large_export(tmp_path_factory.mktemp("medium"), rows=MEDIUM_ROWS)


@pytest.fixture
def base_db(tmp_path: Path) -> Path:
    return build_tiny_clinic(tmp_path / "tiny")


def start_import(db: Path, files: list[Path], hook: str | None = None,
                 kill_at: tuple[str, int] | None = None) -> subprocess.Popen:
    code = CHILD.format(root=str(ROOT), db=str(db), files=[str(f) for f in files], hook=hook, kill_at=kill_at)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "go", proc.stderr.read()
    return proc


def assert_untouched(db: Path, digest: str, before: dict) -> None:
    assert sha256(db) == digest
    # No write-ahead log beside the live file: nothing to replay ("opens without repair").
    assert not db.with_name(db.name + ".wal").exists()
    assert snapshot(db) == before  # opens read-only, same rows


def wait_for(proc: subprocess.Popen, line: str) -> None:
    """Read the child's output up to ``line`` (it is still running when this returns)."""
    for got in proc.stdout:
        if got.strip() == line:
            return
    raise AssertionError(f"the import never printed {line!r}: {proc.stderr.read()}")


def test_sigkill_mid_import_leaves_the_database_exactly_as_before(base_db, large_export, medium_export):
    digest, before = sha256(base_db), snapshot(base_db)
    assert len(before["clients"]) == 5 and len(before["import_batches"]) == 1

    # Kill points, each exact whatever the machine's speed (the child kills itself there):
    # while reading the files (as the second file is staged), as the importer starts on the
    # clients, and at the 1st, 3rd and 6th statement of the 300,000 assignments' processing
    # (validating, keying, writing).
    kill_points = [("stage", 2), ("clients", 1), ("assignments", 1), ("assignments", 3), ("assignments", 6)]
    for kill_at in kill_points:
        proc = start_import(base_db, large_export, kill_at=kill_at)
        proc.wait(timeout=120)
        output = proc.stdout.read()
        assert proc.returncode == -signal.SIGKILL, f"the import was not killed at {kill_at}: {output} {proc.stderr.read()}"
        assert f"killing {kill_at!r}" in output, output
        assert_untouched(base_db, digest, before)

    # Killed right after the commit (before the checkpoint), and after the private copy is
    # complete and checkpointed, just before the swap. These points are exact, so the
    # smaller export does.
    for hook in ("after-commit", "before-swap"):
        proc = start_import(base_db, medium_export, hook=hook)
        proc.wait(timeout=120)
        assert proc.returncode == -signal.SIGKILL, hook
        # The killed writer's private copy is still there until a process opens the database ...
        assert list(base_db.parent.glob(base_db.name + ".importing-*")), hook
        assert_untouched(base_db, digest, before)
        # ... and the reader that opened it (snapshot) removed it (issue 10, item 12).
        assert not list(base_db.parent.glob(base_db.name + ".importing-*")), hook

    # The next import succeeds.
    extra = base_db.parent / "sessions_later.csv"
    extra.write_text("client_id,session_date,attended,session_number\nC5,2025-03-10,true,1\n", encoding="utf-8")
    result = import_files(base_db, [extra], today=FIXTURE_TODAY)
    assert result.exit_code == 0, result.report()
    assert (result.inserted, result.batch_id) == (1, 2)
    assert not list(base_db.parent.glob(base_db.name + ".importing-*"))
    after = snapshot(base_db)
    assert len(after["sessions"]) == len(before["sessions"]) + 1
    assert after["assignments"] == before["assignments"]


def test_sigkill_just_after_the_swap_leaves_the_new_version(base_db, medium_export):
    before = snapshot(base_db)
    proc = start_import(base_db, medium_export, hook="after-swap")
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    after = snapshot(base_db)  # the whole new version, opened without repair
    assert len(after["assignments"]) == len(before["assignments"]) + MEDIUM_ROWS - 1  # row 7 is rejected
    assert [r[0] for r in after["import_batches"]] == [1, 2]
    assert not base_db.with_name(base_db.name + ".wal").exists()


def test_an_import_while_another_process_reads(base_db, large_export, tmp_path):
    old = snapshot(base_db)
    old_counts = f"{len(old['clients'])} {len(old['assignments'])} {len(old['scores'])} 1"
    stop = tmp_path / "stop-reading"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER.format(root=str(ROOT), db=str(base_db), stop=str(stop))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "open", reader.stderr.read()
        # The reader holds the file open read-only; the import must not fail on a lock.
        result = import_files(base_db, large_export, today=FIXTURE_TODAY)
        rows = LARGE_ROWS - len(BAD_ROWS)
        assert (result.inserted, result.rejected, result.files_refused) == (LARGE_CLIENTS + rows, len(BAD_ROWS), 0)
        assert reader.poll() is None, "the reader stopped before the import finished"
        # A reader that opens after the swap sees the new data ...
        new_counts = f"{len(old['clients']) + LARGE_CLIENTS} {len(old['assignments']) + rows} {len(old['scores'])} 2"
        late_stop = tmp_path / "stop-at-once"
        late_stop.touch()
        late = subprocess.run(
            [sys.executable, "-c", READER.format(root=str(ROOT), db=str(base_db), stop=str(late_stop))],
            capture_output=True, text=True, timeout=60,
        )
        assert late.returncode == 0, late.stderr
        assert late.stdout.split("\n")[:3] == ["open", new_counts, "closed"]
        # ... while the old reader, still running, keeps reading the old version: its last
        # read starts after it saw the stop file, which is touched after the swap.
        stop.touch()
        out, err = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
    lines = out.strip().split("\n")
    assert reader.returncode == 0, err
    assert lines[-1] == "closed"
    seen = lines[:-1]
    assert len(seen) > 10
    # The old reader kept a consistent old version throughout: all old, never mixed.
    assert set(seen) == {old_counts}, set(seen)
    assert "Traceback" not in err
    # A large file (read in parallel) with quoted newlines throughout: rejects keep editor lines.
    rejects = snapshot(base_db)["import_rejects"]
    assert [(r[1], r[3], r[4], r[5]) for r in rejects] == [
        ("assignments_large.csv", editor_line(i), "quantity_rating", "9") for i in BAD_ROWS
    ]
    assert editor_line(150_001) == 150_001 + 2 + 13_637


def test_the_file_mode_of_the_database_is_kept(base_db, tmp_path):
    os.chmod(base_db, 0o640)
    result = import_files(base_db, [base_db.parent / "scores.csv"], today=FIXTURE_TODAY)
    assert result.exit_code == 0
    assert (base_db.stat().st_mode & 0o777) == 0o640
    fresh = tmp_path / "fresh.duckdb"
    import_files(fresh, [base_db.parent / "clients.csv"], today=FIXTURE_TODAY)
    assert (fresh.stat().st_mode & 0o777) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
