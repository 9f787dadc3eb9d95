"""Writing the clinic database: atomic, serialised, never blocking readers.

DuckDB allows one read-write process *or* many read-only processes per file. Writers here
never open the live file: :func:`atomic_write` copies it, lets the caller change the copy,
checkpoints, fsyncs and swaps it in with ``os.replace``. A writer killed at any moment
(SIGKILL included) leaves the live file exactly as it was; readers attached to the old
version keep reading it, and the next :class:`analytics.db.ClinicDatabase` sees the new one.
Writers queue on an advisory lock file beside the database.
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from .config import Settings
from .schema import ddl


class DatabaseUnusable(Exception):
    """The database path is a folder, or a file that is not a DuckDB database."""


def ensure_schema(con: duckdb.DuckDBPyConnection, settings: Settings | None = None) -> None:
    """Create every table that is missing (idempotent)."""
    for statement in ddl(settings):
        con.execute(statement)


@contextmanager
def _writer_lock(db_path: Path) -> Iterator[None]:
    lock_path = db_path.with_name(db_path.name + ".lock")
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _umask() -> int:
    """The process umask, read without changing it (os.umask would race other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _fsync(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_write(db_path: str | Path, settings: Settings | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to a private copy of ``db_path``, swapped in on success.

    The schema is ensured first. If the body raises, nothing changes.
    """
    db_path = Path(db_path)
    if db_path.exists() and not db_path.is_file():
        raise DatabaseUnusable(f"{db_path} is not a database file (it is a folder)")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with _writer_lock(db_path):
        for stale in db_path.parent.glob(glob.escape(db_path.name) + ".importing-*"):
            stale.unlink(missing_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=db_path.name + ".importing-", dir=db_path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            if db_path.exists():
                shutil.copyfile(db_path, tmp)
                shutil.copymode(db_path, tmp)  # mkstemp made it 0600; keep the live file's mode
            else:
                tmp.unlink()
            try:
                con = duckdb.connect(str(tmp))
            except duckdb.Error:
                raise DatabaseUnusable(f"{db_path} is not a clinic database (not a DuckDB file)") from None
            con.execute("SET enable_progress_bar = false")  # no progress bars in the CLI's output
            try:
                ensure_schema(con, settings)
                yield con
                con.execute("CHECKPOINT")
            finally:
                con.close()
            if not db_path.exists():
                os.chmod(tmp, 0o666 & ~_umask())
            _fsync(tmp)
            os.replace(tmp, db_path)
            _fsync(db_path.parent, directory=True)
        finally:
            tmp.unlink(missing_ok=True)
            Path(str(tmp) + ".wal").unlink(missing_ok=True)
