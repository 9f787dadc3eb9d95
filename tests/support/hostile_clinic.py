"""The hostile clinic: the seeded sample export (300 clients) with Markdown, HTML and image
syntax after every free-text value, imported for real, with an admin and a therapist user
(tests/test_untrusted_text.py, tests/browser/test_untrusted_text.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from analytics import ClinicDatabase, Viewer, import_files
from analytics.access import add_user

# One payload with every kind of markup: Markdown emphasis, link and image (to documentation
# addresses: TEST-NET-3 and a reserved .example domain), raw HTML and an HTML link.
PAYLOAD = (
    '**pwns** <b>pwnb</b> [pwnl](http://evil.example/login) ![pwni](http://203.0.113.1/x.png) '
    '<img src=x onerror=alert(1)> <a href="http://evil.example/a">pwna</a> www.evil.example/w me@evil.example'
)
HOSTS = ("evil.example", "203.0.113.1")
# Every free-text column of the import format (homework_type, rated_by and measure are
# checked against fixed lists; see test_enumerated_fields_cannot_carry_markup).
TEXT_FIELDS = {
    "clients": ("client_id", "clinic", "therapist_id", "program", "primary_concern"),
    "sessions": ("client_id",),
    "assignments": ("assignment_id", "client_id", "description"),
    "scores": ("client_id",),
}
AS_OF = pd.Timestamp("2026-11-01").date()  # the sample generator's "today"
ADMIN = "admin@clinic.org"
THERAPIST = "therapist@clinic.org"


def hostile(value: Any) -> Any:
    """A stored value with the payload after it (empty values stay empty)."""
    return value if pd.isna(value) or value == "" else f"{value} {PAYLOAD}"


def build_hostile_clinic(directory: Path, clients: int = 300, seed: int = 11) -> Path:
    """The seeded sample export with the payload in every free-text field, imported for real."""
    from sample_data.generator import TABLES, generate_clinic, write_csv

    directory.mkdir(parents=True, exist_ok=True)
    frames = generate_clinic(n_clients=clients, seed=seed, as_of=AS_OF)
    paths = []
    for name in TABLES:
        frame = frames[name].copy()
        for column in TEXT_FIELDS[name]:
            frame[column] = frame[column].map(hostile)
        paths.append(write_csv(frame, directory / f"{name}.csv"))
    db_path = directory / "hostile.duckdb"
    result = import_files(db_path, paths, today=AS_OF)
    assert result.exit_code == 0 and result.rejected == 0, result.report()
    with ClinicDatabase(db_path) as db:
        for table, columns in TEXT_FIELDS.items():
            for column in columns:
                n = db.execute_sql(f"SELECT count(*) AS n FROM {table} WHERE {column} LIKE $p",
                                   {"p": f"% {PAYLOAD}"})["n"].iloc[0]
                assert n > 0, f"{table}.{column} holds no payload after the import"
        therapist = db.execute_sql("SELECT therapist_id, count(*) AS n FROM clients GROUP BY ALL ORDER BY n DESC, "
                                   "therapist_id LIMIT 1")["therapist_id"].iloc[0]
    add_user(db_path, ADMIN, "admin")
    add_user(db_path, THERAPIST, "therapist", therapist_id=therapist)
    return db_path


def first_client(db: ClinicDatabase, viewer: Viewer) -> str:
    """A client of the viewer with scores, homework with descriptions, and a programme."""
    therapist = viewer.therapist_id or ""
    rows = db.execute_sql(
        """SELECT c.client_id FROM clients AS c
           WHERE ($t = '' OR c.therapist_id = $t) AND c.program IS NOT NULL AND c.primary_concern IS NOT NULL
             AND c.client_id IN (SELECT client_id FROM scores GROUP BY ALL HAVING count(*) >= 3)
             AND c.client_id IN (SELECT client_id FROM assignments WHERE description IS NOT NULL)
           ORDER BY c.client_id LIMIT 1""",
        {"t": therapist},
    )
    return str(rows["client_id"].iloc[0])
