"""Writing the clinic database: atomic, serialised, never blocking readers.

DuckDB allows one read-write process *or* many read-only processes per file. Writers here
never open the live file: :func:`atomic_write` copies it, lets the caller change the copy,
checkpoints, fsyncs and swaps it in with ``os.replace``. A writer killed at any moment
(SIGKILL included) leaves the live file exactly as it was; readers attached to the old
version keep reading it, and the next :class:`analytics.db.ClinicDatabase` sees the new one.
Writers queue on an advisory lock file beside the database.

A disk that is full or a folder that is read-only raises :class:`DatabaseNotWritable`
(one line, no traceback; the CLI exits with status 3). The copy a killed writer leaves
behind (``<db>.importing-*``) is removed by the next writer and by the next reader that
opens the database (:func:`remove_stale_copies`), never while a writer holds the lock.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .config import Settings
from .engine import duckdb
from .schema import ddl


class DatabaseUnusable(Exception):
    """The database path is a folder, or a file that is not a DuckDB database."""


# errno -> what the user is told (no path: pages add it only where the viewer may see it).
_STORAGE_REASONS = {
    errno.ENOSPC: "the disk is full (no space left on device)",
    errno.EDQUOT: "the disk quota is exhausted (no space left for this user)",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied: the folder is read-only for this user",
    errno.EPERM: "permission denied: the folder is read-only for this user",
}
# The same conditions as DuckDB words them in its IO errors (it raises duckdb.IOException).
_DUCKDB_REASONS = (
    ("No space left on device", errno.ENOSPC),
    ("Disk quota exceeded", errno.EDQUOT),
    ("Read-only file system", errno.EROFS),
    ("Permission denied", errno.EACCES),
)


class DatabaseNotWritable(Exception):
    """The database cannot be written: full disk, read-only folder, no permission.

    ``reason`` is one line without the path (for the browser); ``str()`` names the path
    (for the command line and the server log). Nothing was changed.
    """

    def __init__(self, path: Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot write the clinic database {self.path}: {reason}; nothing was changed")


def _not_writable(db_path: Path, exc: BaseException) -> DatabaseNotWritable | None:
    """The DatabaseNotWritable that ``exc`` means, or None when it is another kind of error."""
    if isinstance(exc, OSError) and exc.errno is not None:
        reason = _STORAGE_REASONS.get(exc.errno)
        if reason is None and exc.errno in (errno.EIO, errno.EFBIG):
            reason = f"the disk refused the write ({os.strerror(exc.errno).lower()})"
        return DatabaseNotWritable(db_path, reason) if reason else None
    if isinstance(exc, duckdb.IOException):
        text = str(exc)
        for needle, code in _DUCKDB_REASONS:
            if needle.lower() in text.lower():
                return DatabaseNotWritable(db_path, _STORAGE_REASONS[code])
    return None


def remove_stale_copies(db_path: str | Path) -> list[Path]:
    """Remove the ``<db>.importing-*`` copies (and their ``.wal``) a killed writer left behind.

    Only when no writer holds the lock: a non-blocking ``flock`` on the lock file beside the
    database; if another process (or thread) is importing now, its copy is kept. Never
    raises and never creates anything (a reader may sit in a read-only folder); returns the
    files removed.
    """
    db_path = Path(db_path)
    lock_path = db_path.with_name(db_path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return []  # no writer has ever run here (writers create the lock file first)
    removed: list[Path] = []
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return []  # a writer is working on its copy now
        try:
            for stale in db_path.parent.glob(glob.escape(db_path.name) + ".importing-*"):
                try:
                    stale.unlink()
                    removed.append(stale)
                except OSError:
                    pass
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return removed


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


def _publish_for_engine(db_path: Path) -> None:
    """On the Spark engine (BETWEEN_SESSIONS_ENGINE=spark), publish the version just written as
    the Parquet snapshot Spark reads (analytics.lake), still under the writer's lock, so that
    snapshots follow the file's versions in order. The write itself is already committed: a
    failed publication is reported and left to the next reader, which publishes a snapshot of a
    newer file before it reads (analytics.lake.ensure_snapshot)."""
    from .db import engine_name

    if engine_name() != "spark":
        return
    from .lake import publish_snapshot

    try:
        publish_snapshot(db_path)
    except Exception as exc:  # noqa: BLE001 - reported; the next reader publishes
        print(f"warning: {db_path} was written but its Spark snapshot was not published: {exc}",
              file=sys.stderr)


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

    The schema is ensured first. If the body raises, nothing changes. A full disk or a
    read-only folder (here or in the body's writes) raises :class:`DatabaseNotWritable`.
    """
    db_path = Path(db_path)
    if db_path.exists() and not db_path.is_file():
        raise DatabaseUnusable(f"{db_path} is not a database file (it is a folder)")
    try:
        with _atomic_write(db_path, settings) as con:
            yield con
    except (OSError, duckdb.IOException) as exc:
        problem = _not_writable(db_path, exc)
        if problem is None:
            raise
        raise problem from exc


@contextmanager
def _atomic_write(db_path: Path, settings: Settings | None) -> Iterator[duckdb.DuckDBPyConnection]:
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
            except duckdb.Error as exc:
                if _not_writable(db_path, exc) is not None:
                    raise  # a full disk, not a damaged file
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
            _publish_for_engine(db_path)
        finally:
            tmp.unlink(missing_ok=True)
            Path(str(tmp) + ".wal").unlink(missing_ok=True)
