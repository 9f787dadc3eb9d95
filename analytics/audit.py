"""The access log: an append-only record of who saw what, kept in its own DuckDB file.

Every page view, client view, export, refusal, "not found", sign-in and sign-out of the
dashboard is one row of ``access_log``::

    id UUID, "at" TIMESTAMPTZ (UTC), email, role, page, action, client_id, detail

The log lives in its **own** file, by default beside the clinic database
(``<clinic db>.audit.duckdb``), or wherever ``BETWEEN_SESSIONS_AUDIT_DB`` points. Imports
replace the clinic database file by copy-and-swap (analytics/storage.py); they never touch
the log, so an import can neither lose nor rewrite audit rows.

Append-only: this module has no update or delete; its connection is private; rows carry a
random UUID so re-inserting a spooled entry is idempotent (``INSERT OR IGNORE``).

Writers and the spool (never lose an entry, never crash the page)
-----------------------------------------------------------------
DuckDB lets one process hold a file read-write, and a second process fails at once
(``Could not set lock on file``). Each process therefore keeps **one** writer connection
per log file, shared by its threads under a ``threading.Lock`` (each statement on its own
cursor). When another process holds the file, :meth:`AuditLog.record` retries for about
0.4 s, then appends the entry as one JSON line to a per-process spool file beside the log,
``<audit db>.spool-<pid>.jsonl`` (mode 0600, ``flock``-ed, fsync-ed), and waits a few
seconds before trying the database again. Spooled entries are moved into the database:

- by any process on its next successful open of the log, and
- every few seconds by the process that holds the log open,

each spool file under its ``flock``: read, insert (idempotent), unlink. A writer that
finds its spool file unlinked under it starts a new one, so an entry is never appended to
a file already drained. A line that cannot be parsed is kept in ``<spool>.corrupt``.
Only when both the database and the spool file fail (a full or read-only disk) is an
entry lost; the Python log then says so, naming the action only, never a person or client.

A broken log file (recovery)
----------------------------
A full disk can leave a 0-byte ``audit.duckdb``; a file can be damaged. DuckDB then fails
to open it with an error that is *not* the lock error of a file held by another process.
When that happens (:func:`unusable_reason`: 0 bytes, no DuckDB header, or DuckDB reports
the file invalid, truncated or corrupt), the opener takes ``<audit db>.recover.lock``,
checks again that the same file is still unusable (another process may have recovered it
already), renames it (and its ``.wal``) to ``<audit db>.unusable-<UTC timestamp>``, starts a
new log, drains every spool file into it and records an ``audit_recovered`` entry saying
what happened and where the old file went. A file held by another process is never moved.
The Access log page shows every ``audit_recovered`` entry to the admin.

Nothing here prints protected health information; values are stored with control
characters escaped and length-limited.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from .db import load_sql, sql_parameters

AUDIT_ENV = "BETWEEN_SESSIONS_AUDIT_DB"
ACTIONS: tuple[str, ...] = (
    "view",  # a page was opened
    "client_view",  # one client's record was shown
    "export",  # a download was made
    "denied",  # refused: no role, wrong role, filter values outside the scope
    "not_found",  # a client id (deep link, search) that does not exist or is outside the scope
    "login",  # first page of a signed-in session
    "logout",  # sign-out button
    "user_change",  # an admin added, changed or removed a dashboard user
    "audit_recovered",  # the log file was unusable, was moved aside and a new log started
)
COLUMNS = ("id", "at", "email", "role", "page", "action", "client_id", "detail")
# Longest stored text per field; longer values are cut and marked.
FIELD_LIMITS = {"email": 254, "role": 32, "page": 200, "client_id": 200, "detail": 2000}
CONNECT_DELAYS_S = (0.02, 0.05, 0.1, 0.2)  # retries while another process holds the file
REOPEN_AFTER_S = 5.0  # after a failed open, spool directly for this long
DRAIN_EVERY_S = 5.0  # the holder looks for other processes' spool files this often

_LOGGER = logging.getLogger(__name__)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DDL = """CREATE TABLE IF NOT EXISTS access_log (
  id UUID PRIMARY KEY,     -- random; makes re-inserting a spooled entry idempotent
  "at" TIMESTAMPTZ NOT NULL,  -- when, UTC
  email VARCHAR,           -- who (lower-case), 'local' in local single-user mode
  role VARCHAR,            -- their role at the time
  page VARCHAR,            -- page title
  action VARCHAR NOT NULL, -- analytics.audit.ACTIONS
  client_id VARCHAR,       -- the client viewed or exported, when there is one
  detail VARCHAR           -- e.g. export kind and file name, the id that was not found
)"""


class AuditUnavailable(RuntimeError):
    """The access log cannot be read now (another process holds the file, or it is unusable
    and could not be replaced)."""


RECOVERY_PAGE = "(access log)"
_LOCK_ERRORS = ("could not set lock", "conflicting lock")
_DAMAGE_ERRORS = ("not a valid duckdb database", "could not read enough bytes", "corrupt", "checksum",
                  "invalid database", "failed to read database header")
_DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


def is_lock_error(error: BaseException) -> bool:
    """True when DuckDB could not open the file because another process holds it."""
    text = str(error).lower()
    return any(marker in text for marker in _LOCK_ERRORS)


def unusable_reason(path: Path, error: BaseException | None = None) -> str | None:
    """Why the log file at ``path`` can never be opened (so it must be replaced), or None.

    ``error`` is what ``duckdb.connect`` raised. A lock error (another process holds a good
    file), a missing file, or any other error (permission denied, a full disk, a file from a
    newer DuckDB) gives None: those are not fixed by starting a new log.
    """
    if error is not None and is_lock_error(error):
        return None
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return None
    if size == 0:
        return "the file is empty (0 bytes, e.g. after a full disk)"
    if len(head) < 12 or head[8:12] != _DUCKDB_MAGIC:
        return f"the file is not a DuckDB database ({size:,} bytes without a DuckDB header)"
    if error is not None and any(marker in str(error).lower() for marker in _DAMAGE_ERRORS):
        return f"the file is damaged (DuckDB: {type(error).__name__}, {_error_summary(error)})"
    return None


def _error_summary(error: BaseException) -> str:
    """DuckDB's message without the file path (the path is shown separately)."""
    text = re.sub(r'"[^"]*"', "the file", str(error).splitlines()[0] if str(error) else "")
    return text[:200]


@dataclass(frozen=True)
class Recovery:
    """One replacement of an unusable log file (this process did it)."""

    reason: str
    moved_to: Path | None
    drained: int = 0

    def describe(self) -> str:
        where = f"moved aside to {self.moved_to.name}" if self.moved_to else "removed"
        return (f"The access log file was unusable: {self.reason}. It was {where} (kept for investigation) "
                f"and a new log was started; {self.drained:,} spooled entries were moved into it.")


def audit_path(db_path: str | Path) -> Path:
    """Where the access log of a clinic database lives: $BETWEEN_SESSIONS_AUDIT_DB, else
    ``<db>.audit.duckdb`` beside it."""
    configured = os.environ.get(AUDIT_ENV)
    if configured:
        return Path(configured)
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".audit.duckdb")


def clean_text(value: object, limit: int) -> str | None:
    """Text safe to store: control characters escaped (``\\x00``), cut to ``limit``."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if len(text) > limit:
        text = text[: max(limit - 14, 0)] + "...(truncated)"
    return text


@dataclass(frozen=True)
class AccessEvent:
    """One access-log entry."""

    id: str
    at: datetime
    email: str | None
    role: str | None
    page: str | None
    action: str
    client_id: str | None = None
    detail: str | None = None

    @classmethod
    def new(cls, *, action: str, email: object = None, role: object = None, page: object = None,
            client_id: object = None, detail: object = None, at: datetime | None = None) -> AccessEvent:
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        email_text = clean_text(email, FIELD_LIMITS["email"])
        return cls(
            id=str(uuid.uuid4()),
            at=at or datetime.now(UTC),
            email=email_text.strip().lower() if email_text else email_text,
            role=clean_text(role, FIELD_LIMITS["role"]),
            page=clean_text(page, FIELD_LIMITS["page"]),
            action=action,
            client_id=clean_text(client_id, FIELD_LIMITS["client_id"]),
            detail=clean_text(detail, FIELD_LIMITS["detail"]),
        )

    def row(self) -> list[Any]:
        return [self.id, self.at, self.email, self.role, self.page, self.action, self.client_id, self.detail]

    def to_json(self) -> str:
        data = {name: getattr(self, name) for name in COLUMNS}
        data["at"] = self.at.isoformat()
        return json.dumps(data, ensure_ascii=True)

    @classmethod
    def from_json(cls, line: str) -> AccessEvent:
        data = json.loads(line)
        if data.get("action") not in ACTIONS:
            raise ValueError("unknown action")
        data["at"] = datetime.fromisoformat(data["at"])
        return cls(**{name: data.get(name) for name in COLUMNS})


_INSERT = 'INSERT OR IGNORE INTO access_log (id, "at", email, role, page, action, client_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'


class AuditLog:
    """The access log of one file, as this process writes and reads it (see the module doc).

    Use :func:`audit_log` to get the process-wide instance of a path.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._retry_after = 0.0
        self._next_drain = 0.0
        self._problem: str | None = None  # why the last open failed, for AuditUnavailable
        self.recoveries: list[Recovery] = []  # unusable files this process replaced

    @property
    def spool_path(self) -> Path:
        """This process's spool file (a new process id gets a new file)."""
        return self.path.with_name(f"{self.path.name}.spool-{os.getpid()}.jsonl")

    def spool_files(self) -> list[Path]:
        return sorted(self.path.parent.glob(f"{self.path.name}.spool-*.jsonl"))

    # -- connection ------------------------------------------------------------------
    def _connect(self, *, force: bool = False) -> duckdb.DuckDBPyConnection | None:
        """The writer connection, opened on first use; None while another process holds it.

        Caller holds ``self._lock``.
        """
        if self._con is not None:
            return self._con
        if not force and time.monotonic() < self._retry_after:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        recovery: Recovery | None = None
        for delay in (*CONNECT_DELAYS_S, None):
            try:
                con = self._open()
                break
            except duckdb.Error as exc:
                if not is_lock_error(exc):
                    con, recovery = self._recover(exc)
                    if con is None:
                        return None
                    created = created or recovery is not None
                    break
                self._problem = "the access log is in use by another dashboard process; try again shortly"
                if delay is None:
                    self._retry_after = time.monotonic() + REOPEN_AFTER_S
                    return None
                time.sleep(delay)
        if created:
            try:
                os.chmod(self.path, 0o600)
            except OSError:
                pass
        self._con = con
        self._next_drain = 0.0
        self._problem = None
        if recovery is not None:
            self._finish_recovery(con, recovery)
        return con

    def _open(self) -> duckdb.DuckDBPyConnection:
        """Open the file and make sure the table exists; raises duckdb.Error."""
        con = duckdb.connect(str(self.path))
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(DDL)
        except BaseException:
            con.close()
            raise
        return con

    # -- recovery of an unusable file (see the module doc) ------------------------------
    def _recover(self, error: duckdb.Error) -> tuple[duckdb.DuckDBPyConnection | None, Recovery | None]:
        """After a non-lock error: replace the file when it is unusable. Returns a connection
        to the log (new, or the one another process already repaired) or (None, None).

        Caller holds ``self._lock``.
        """
        reason = unusable_reason(self.path, error)
        if reason is None:
            self._problem = f"the access log cannot be opened ({type(error).__name__}: {_error_summary(error)})"
            self._retry_after = time.monotonic() + REOPEN_AFTER_S
            _LOGGER.error("access log: cannot open the log file (%s)", type(error).__name__)
            return None, None
        guard = self.path.with_name(self.path.name + ".recover.lock")
        try:
            fd = os.open(guard, os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError as exc:
            return self._recovery_failed(reason, exc)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Again, under the guard: another process may have replaced it meanwhile.
            try:
                return self._open(), None
            except duckdb.Error as again:
                if is_lock_error(again):
                    self._problem = "the access log is in use by another dashboard process; try again shortly"
                    self._retry_after = time.monotonic() + REOPEN_AFTER_S
                    return None, None
                reason = unusable_reason(self.path, again)
                if reason is None:
                    self._problem = f"the access log cannot be opened ({type(again).__name__})"
                    self._retry_after = time.monotonic() + REOPEN_AFTER_S
                    return None, None
            try:
                recovery = self._replace_with_new_log(reason)
            except (OSError, duckdb.Error) as exc:
                return self._recovery_failed(reason, exc)
            _LOGGER.warning("access log: the log file was unusable and was moved aside; a new log was started")
            try:
                return self._open(), recovery
            except duckdb.Error as exc:  # another process opened the new log first: it is fine
                if not is_lock_error(exc):
                    raise
                self._problem = "the access log is in use by another dashboard process; try again shortly"
                self._retry_after = time.monotonic() + REOPEN_AFTER_S
                self.recoveries.append(recovery)
                return None, None
        finally:
            os.close(fd)  # releases the flock

    def _replace_with_new_log(self, reason: str) -> Recovery:
        """Build the new log beside the unusable one (the spool drained into it and the
        ``audit_recovered`` entry written), then swap it in atomically.

        The path never stops naming a file: the unusable one is linked to its new name first
        and the new log replaces it with one rename, so another process opening the log in
        between finds either the unusable file (and waits on the guard) or the finished new
        log, never a missing file it would create afresh (which lost the recovery entry when
        three processes recovered at once). Caller holds the guard.
        """
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = self.path.with_name(f"{self.path.name}.unusable-{stamp}")
        if target.exists():
            target = target.with_name(f"{target.name}-{os.getpid()}")
        fresh = self.path.with_name(f"{self.path.name}.new-{os.getpid()}")
        for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
            leftover.unlink(missing_ok=True)
        con = duckdb.connect(str(fresh))
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(DDL)
            drained = self._drain(con)
            done = Recovery(reason=reason, moved_to=target, drained=drained)
            event = AccessEvent.new(action="audit_recovered", page=RECOVERY_PAGE, detail=done.describe())
            con.execute(_INSERT, event.row())
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.chmod(fresh, 0o600)
        try:
            os.link(self.path, target)
        except OSError:  # no hard links here: a moment without a file, as before
            os.rename(self.path, target)
        wal = self.path.with_name(self.path.name + ".wal")
        if wal.exists():
            os.rename(wal, target.with_name(target.name + ".wal"))
        os.replace(fresh, self.path)
        return done

    def _recovery_failed(self, reason: str, exc: BaseException) -> tuple[None, None]:
        self._problem = (f"the access log file is unusable ({reason}) and could not be replaced "
                         f"({type(exc).__name__}); check the folder's free space and permissions")
        self._retry_after = time.monotonic() + REOPEN_AFTER_S
        _LOGGER.error("access log: the log file is unusable and could not be replaced (%s)", type(exc).__name__)
        return None, None

    def _finish_recovery(self, con: duckdb.DuckDBPyConnection, recovery: Recovery) -> None:
        """The new log already holds the drained spool and the ``audit_recovered`` entry
        (:meth:`_replace_with_new_log`); remember the recovery and drain again later."""
        self._next_drain = time.monotonic() + DRAIN_EVERY_S
        self.recoveries.append(recovery)

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                try:
                    self._con.close()
                finally:
                    self._con = None
            self._retry_after = 0.0

    # -- writing ---------------------------------------------------------------------
    def record(self, event: AccessEvent) -> str:
        """Append one entry. Returns where it went: "db", "spool" or "lost". Never raises."""
        with self._lock:
            try:
                con = self._connect()
                if con is not None:
                    self._drain_if_due(con)
                    cursor = con.cursor()
                    try:
                        cursor.execute(_INSERT, event.row())
                    finally:
                        cursor.close()
                    return "db"
            except Exception as exc:  # noqa: BLE001 - the page must never fail because of the log
                _LOGGER.warning("access log write failed (%s); spooling the entry", type(exc).__name__)
                self._drop_connection()
            try:
                self._append_spool(event)
                return "spool"
            except OSError as exc:
                _LOGGER.error("access log entry LOST: action=%s (%s)", event.action, type(exc).__name__)
                return "lost"

    def _drop_connection(self) -> None:
        if self._con is not None:
            try:
                self._con.close()
            except duckdb.Error:
                pass
        self._con = None
        self._retry_after = time.monotonic() + REOPEN_AFTER_S

    def _append_spool(self, event: AccessEvent) -> None:
        line = (event.to_json() + "\n").encode("ascii")
        path = self.spool_path
        for _ in range(10):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    current = os.stat(path)
                except FileNotFoundError:
                    continue  # drained and unlinked while we waited: start a new file
                if current.st_ino != os.fstat(fd).st_ino:
                    continue
                os.write(fd, line)
                os.fsync(fd)
                return
            finally:
                os.close(fd)  # also releases the flock
        raise OSError("the spool file kept changing")

    # -- spool -----------------------------------------------------------------------
    def _drain_if_due(self, con: duckdb.DuckDBPyConnection) -> None:
        now = time.monotonic()
        if now < self._next_drain:
            return
        self._next_drain = now + DRAIN_EVERY_S
        self._drain(con)

    def _drain(self, con: duckdb.DuckDBPyConnection) -> int:
        moved = 0
        for spool in self.spool_files():
            moved += self._drain_one(con, spool)
        return moved

    def _drain_one(self, con: duckdb.DuckDBPyConnection, spool: Path) -> int:
        try:
            fd = os.open(spool, os.O_RDONLY)
        except FileNotFoundError:
            return 0
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # its writer is appending right now; next time
            try:
                if os.stat(spool).st_ino != os.fstat(fd).st_ino:
                    return 0
            except FileNotFoundError:
                return 0
            with os.fdopen(os.dup(fd), "rb") as fh:
                lines = fh.read().decode("ascii", errors="replace").splitlines()
            events, bad = [], []
            for line in lines:
                if not line.strip():
                    continue
                try:
                    events.append(AccessEvent.from_json(line))
                except (ValueError, TypeError, KeyError):
                    bad.append(line)
            cursor = con.cursor()
            try:
                cursor.execute("BEGIN TRANSACTION")
                if events:
                    cursor.executemany(_INSERT, [e.row() for e in events])
                cursor.execute("COMMIT")
            except duckdb.Error:
                cursor.execute("ROLLBACK")
                raise
            finally:
                cursor.close()
            if bad:
                with open(spool.with_name(spool.name + ".corrupt"), "a", encoding="ascii") as out:
                    out.write("\n".join(bad) + "\n")
            spool.unlink()
            return len(events)
        finally:
            os.close(fd)

    def drain_spool(self) -> int:
        """Move every spooled entry into the database now; returns how many were moved."""
        with self._lock:
            con = self._connect(force=True)
            if con is None:
                return 0
            return self._drain(con)

    # -- reading ---------------------------------------------------------------------
    def search(
        self,
        *,
        email: str | None = None,
        client_id: str | None = None,
        actions: Iterable[str] | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        limit: int = 1000,
    ) -> pd.DataFrame:
        """Entries matching every given filter, newest first (see :func:`search_access_log`)."""
        params = {
            "email": (email or "").strip().lower() or None,
            "client_id": client_id.strip() if client_id and client_id.strip() else None,
            "actions": list(actions) if actions else None,
            "date_from": date_from,
            "date_to": date_to,
            "limit": max(1, min(int(limit), 100_000)),
        }
        sql = load_sql("access_log_search")
        bound = {k: params[k] for k in sql_parameters(sql)}
        with self._lock:
            con = self._connect(force=True)
            if con is None:
                raise AuditUnavailable(self._problem or "the access log is in use by another dashboard process; "
                                                        "try again shortly")
            self._drain(con)
            cursor = con.cursor()
            try:
                return cursor.execute(sql, bound).df()
            finally:
                cursor.close()


_LOGS: dict[Path, AuditLog] = {}
_LOGS_LOCK = threading.Lock()


def audit_log(path: str | Path) -> AuditLog:
    """The process-wide :class:`AuditLog` of ``path`` (one writer connection per file)."""
    key = Path(path).resolve()
    with _LOGS_LOCK:
        log = _LOGS.get(key)
        if log is None:
            log = _LOGS[key] = AuditLog(key)
        return log


def record_access(path: str | Path, action: str, *, email: object = None, role: object = None, page: object = None,
                  client_id: object = None, detail: object = None) -> str:
    """Append one entry to the access log at ``path``; "db", "spool" or "lost". Never raises
    except ValueError for an action not in :data:`ACTIONS` (a programming error)."""
    event = AccessEvent.new(action=action, email=email, role=role, page=page, client_id=client_id, detail=detail)
    return audit_log(path).record(event)


def search_access_log(path: str | Path, **filters: Any) -> pd.DataFrame:
    """Access-log rows for the admin page, newest first (:meth:`AuditLog.search`'s keyword
    filters; at most ``limit``, default 1,000).

    - email: part of the address, case-insensitive;
    - client_id: exact;
    - actions: any of these (:data:`ACTIONS`);
    - date_from / date_to: inclusive UTC dates.

    Every value is a bound parameter (analytics/sql/access_log_search.sql). Raises
    :class:`AuditUnavailable` while another process holds the log.
    """
    return audit_log(path).search(**filters)


# The access log's columns as the admin page and its CSV show them (analytics.publishing).
ACCESS_LOG_HEADERS = {"id": "Entry", "at": "When (UTC)", "email": "User", "role": "Role", "page": "Page",
                      "action": "Action", "client_id": "Client", "detail": "Detail"}


def access_log_csv(rows: pd.DataFrame) -> bytes:
    """The rows as a download: formula-neutralised CSV (analytics.privacy.to_safe_csv), under the
    page's headers (:data:`ACCESS_LOG_HEADERS`), times in UTC to the second, missing cells empty."""
    from .privacy import to_safe_csv

    out = rows.copy()
    if "at" in out:
        out["at"] = pd.to_datetime(out["at"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S")
    if "id" in out:
        out["id"] = out["id"].astype(str)
    out = out.astype(object).where(out.notna(), "")
    return to_safe_csv(out.rename(columns=ACCESS_LOG_HEADERS))


def close_audit_logs() -> None:
    """Close every writer connection of this process (tests; interpreter exit)."""
    with _LOGS_LOCK:
        logs = list(_LOGS.values())
        _LOGS.clear()
    for log in logs:
        log.close()


atexit.register(close_audit_logs)
