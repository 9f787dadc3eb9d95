"""Who may use the dashboard: the ``users`` table, scoped client look-up and upload checks.

Users and roles live in the clinic database's ``users`` table (analytics/schema.py), one
row per e-mail address (lower-case, trimmed). It is written only through
:func:`analytics.storage.atomic_write` (copy, change, swap: readers never see half a
change, writers queue) and read through :class:`analytics.db.ClinicDatabase`, like every
other table. The command line (``python -m analytics users add|remove|list``,
analytics/cli/users.py) and the admin page (pages/admin_users.py) both call the functions
here. Roles and what each sees: :mod:`analytics.scope` and docs/security.md.

Nothing here prints or logs protected health information; error messages name the
offending field, never a client.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Settings
from .db import ClinicDatabase
from .scope import ROLES, Viewer, query_params
from .storage import atomic_write

if TYPE_CHECKING:
    import pandas as pd

MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit
MAX_FIELD_LENGTH = 200  # clinic names and therapist ids given to add_user
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Upload types the importer reads, and the magic bytes checked before parsing.
UPLOAD_TYPES = {".csv": "CSV text", ".xlsx": "Excel workbook", ".parquet": "Parquet file",
                ".ndjson": "FHIR Bulk Data NDJSON", ".json": "FHIR Bundle"}
XLSX_MAGIC = b"PK\x03\x04"  # .xlsx is a zip archive
PARQUET_MAGIC = b"PAR1"  # at the start and at the end of every Parquet file


# --------------------------------------------------------------------------------------
# E-mail addresses and user records
# --------------------------------------------------------------------------------------


def normalise_email(email: object) -> str:
    """The stored form of an e-mail address: trimmed and lower-case.

    Raises ValueError for anything that is not a plausible single address (no ``@``,
    whitespace or control characters inside, longer than 254 characters).
    """
    if not isinstance(email, str):
        raise ValueError("an e-mail address is required")
    text = email.strip().lower()
    if not text or len(text) > MAX_EMAIL_LENGTH or _CONTROL.search(text) or not _EMAIL.fullmatch(text):
        raise ValueError("not a valid e-mail address")
    return text


def _clean_value(value: object, what: str) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError(f"{what} is empty")
    if len(text) > MAX_FIELD_LENGTH or _CONTROL.search(text):
        raise ValueError(f"{what} is not a valid value")
    return text


@dataclass(frozen=True)
class UserChange:
    """What :func:`add_user` did: the user's viewer, whether the row is new, and warnings."""

    viewer: Viewer
    created: bool
    warnings: tuple[str, ...] = field(default=())


def validate_user(email: str, role: str, clinics: Iterable[str] = (), therapist_id: str | None = None) -> Viewer:
    """The Viewer a users row would give, or ValueError saying which field is wrong.

    - role: one of admin, supervisor, therapist, qi.
    - therapist: needs a therapist_id; only therapists have one.
    - admin: sees every clinic, so no clinic may be listed (it would suggest a limit that
      does not exist).
    """
    address = normalise_email(email)
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    clean_clinics = tuple(dict.fromkeys(_clean_value(c, "clinic") for c in clinics or ()))
    tid = _clean_value(therapist_id, "therapist_id") if therapist_id not in (None, "") else None
    if role == "therapist" and tid is None:
        raise ValueError("a therapist needs --therapist-id (their therapist_id in the clients table)")
    if role != "therapist" and tid is not None:
        raise ValueError("only therapists have a therapist_id")
    if role == "admin" and clean_clinics:
        raise ValueError("an admin sees every clinic; do not list clinics for an admin")
    return Viewer(role=role, email=address, clinics=clean_clinics, therapist_id=tid)


def _warnings_for(con: Any, viewer: Viewer) -> list[str]:
    """Likely mistakes that are still allowed: unknown clinics or therapist, no clinic."""
    notes: list[str] = []
    if viewer.role == "supervisor" and not viewer.clinics:
        notes.append("a supervisor with no clinic listed sees no client until a clinic is added")
    if viewer.clinics:
        known = {r[0] for r in con.execute(
            "SELECT DISTINCT clinic FROM clients WHERE list_contains($clinics::VARCHAR[], clinic)",
            {"clinics": list(viewer.clinics)},
        ).fetchall()}
        unknown = [c for c in viewer.clinics if c not in known]
        if unknown:
            notes.append(f"no client is in clinic(s) {', '.join(unknown)} yet (check the spelling)")
    if viewer.therapist_id:
        found = con.execute(
            "SELECT count(*) FROM clients WHERE therapist_id = $tid", {"tid": viewer.therapist_id}
        ).fetchall()[0][0]
        if not found:
            notes.append("no client has this therapist_id yet (check the spelling)")
    return notes


def add_user(
    db_path: str | Path,
    email: str,
    role: str,
    *,
    clinics: Iterable[str] = (),
    therapist_id: str | None = None,
    settings: Settings | None = None,
) -> UserChange:
    """Add a user, or change the role, clinics and therapist_id of an existing one.

    Written through :func:`atomic_write` (the database is created when missing). Keeps
    the original ``added_at`` when the user already exists. Raises ValueError for
    invalid input (:func:`validate_user`).
    """
    viewer = validate_user(email, role, clinics, therapist_id)
    with atomic_write(db_path, settings) as con:
        existed = con.execute("SELECT count(*) FROM users WHERE email = $email", {"email": viewer.email}).fetchall()[0][0]
        con.execute(
            """INSERT INTO users (email, role, clinics, therapist_id, added_at)
            VALUES ($email, $role, $clinics::VARCHAR[], $therapist_id, $added_at)
            ON CONFLICT (email) DO UPDATE SET role = excluded.role, clinics = excluded.clinics,
                therapist_id = excluded.therapist_id""",
            {
                "email": viewer.email,
                "role": viewer.role,
                "clinics": list(viewer.clinics),
                "therapist_id": viewer.therapist_id,
                "added_at": datetime.now(UTC),
            },
        )
        notes = _warnings_for(con, viewer)
    return UserChange(viewer=viewer, created=not existed, warnings=tuple(notes))


def remove_user(db_path: str | Path, email: str, settings: Settings | None = None) -> bool:
    """Remove a user; True when they existed. Their next page load shows "no access"."""
    address = normalise_email(email)
    if not Path(db_path).exists():
        return False
    with atomic_write(db_path, settings) as con:
        existed = con.execute("SELECT count(*) FROM users WHERE email = $email", {"email": address}).fetchall()[0][0]
        con.execute("DELETE FROM users WHERE email = $email", {"email": address})
    return bool(existed)


USER_COLUMNS = ("email", "role", "clinics", "therapist_id", "added_at")


def user_rows(db: ClinicDatabase) -> list[dict[str, Any]]:
    """Every user as a dict (email, role, clinics list, therapist_id, added_at), by role then
    email; pandas-free for the command line."""
    if "users" not in db.tables:
        return []
    return db.rows("users_list")


def list_users(db: ClinicDatabase) -> pd.DataFrame:
    """Every user: email, role, clinics (list), therapist_id, added_at; by role then email."""
    import pandas as pd

    return pd.DataFrame(user_rows(db), columns=list(USER_COLUMNS))


def viewer_for_email(db: ClinicDatabase, email: object) -> Viewer | None:
    """The Viewer of a signed-in e-mail address, or None: no access.

    Fails closed: an unknown or malformed address, a database without a users table, or
    a row that does not make a valid Viewer (a therapist without therapist_id) all give
    None.
    """
    try:
        address = normalise_email(email)
    except ValueError:
        return None
    if "users" not in db.tables:
        return None
    rows = db.rows("user_by_email", {"email": address})
    if not rows:
        return None
    row = rows[0]
    clinics = tuple(str(c) for c in row["clinics"]) if isinstance(row["clinics"], (list, tuple)) else ()
    therapist_id = row["therapist_id"] if isinstance(row["therapist_id"], str) else None
    try:
        return Viewer(role=str(row["role"]), email=address, clinics=clinics, therapist_id=therapist_id)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------
# Scoped client look-up (deep links)
# --------------------------------------------------------------------------------------


def find_client(db: ClinicDatabase, viewer: Viewer, client_id: object) -> dict[str, Any] | None:
    """The client's record if it exists *and* the viewer may see it, else None.

    A client outside the viewer's scope gets exactly the same answer as one that does not
    exist ("not found"), so a deep link cannot probe which ids exist. Any string is safe
    here (it is a bound parameter); non-strings are simply not found. Raises
    :class:`analytics.scope.IdentifiersNotPermitted` for an aggregates-only viewer.
    """
    viewer.require_identifiers()
    if not isinstance(client_id, str) or not client_id or len(client_id) > 1000:
        return None
    rows = db.query("client_lookup", query_params(viewer, client_id=client_id))
    return rows.iloc[0].to_dict() if len(rows) else None


# --------------------------------------------------------------------------------------
# Uploads: size and type, checked before any parser sees the bytes
# --------------------------------------------------------------------------------------


def _display_name(name: str) -> str:
    shown = _CONTROL.sub("?", Path(str(name)).name)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _is_utf8_text(data: bytes, chunk: int = 1 << 20) -> bool:
    if b"\x00" in data:
        return False
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(data), chunk):
            decoder.decode(view[start : start + chunk])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def check_upload(name: str, data: bytes, max_bytes: int) -> str | None:
    """None when an uploaded file may be handed to the importer, else why not (for the user).

    Checks, in order: not empty; not larger than ``max_bytes`` (Settings.max_upload_mb);
    a supported extension; and content that matches it: .xlsx starts with the zip
    signature ``PK\\x03\\x04``; .parquet starts and ends with ``PAR1``; .csv is UTF-8 text
    without NUL bytes. The message names the file, never its content.
    """
    shown = _display_name(name)
    size = len(data)
    if size == 0:
        return f"{shown} is empty."
    if size > max_bytes:
        return f"{shown} is {size / 1e6:.1f} MB, above the upload limit of {max_bytes / 1e6:.0f} MB."
    suffix = Path(str(name)).suffix.lower()
    if suffix not in UPLOAD_TYPES:
        return (f"{shown}: unsupported file type {suffix or '(none)'}; upload .csv, .xlsx or .parquet files "
                "(or a FHIR R4 export: .ndjson, .json).")
    if suffix == ".xlsx" and not data.startswith(XLSX_MAGIC):
        return f"{shown} is not an Excel workbook (.xlsx); older .xls files must be saved as .xlsx first."
    if suffix == ".parquet" and not (size >= 12 and data.startswith(PARQUET_MAGIC) and data.endswith(PARQUET_MAGIC)):
        return f"{shown} is not a Parquet file."
    if suffix == ".csv" and not _is_utf8_text(data):
        return f"{shown} is not UTF-8 text (or contains NUL bytes); export it as CSV UTF-8."
    if suffix in (".ndjson", ".json") and not _is_utf8_text(data):
        return f"{shown} is not UTF-8 text (or contains NUL bytes); FHIR JSON must be UTF-8."
    return None
