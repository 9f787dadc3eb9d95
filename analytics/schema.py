"""The clinic database's tables: the import format and its storage, in one place.

The column lists here drive the DDL, the importer's validation and the docs
(docs/import-format.md). Identifiers used in dynamic SQL come only from these lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Settings
from .scope import ROLES


@dataclass(frozen=True)
class Column:
    """One column of an import table.

    kind: text, date, bool, int, homework_type, rated_by, measure.
    """

    name: str
    kind: str
    required: bool = False
    min_value: int | None = None
    max_value: int | None = None
    default: str | None = None  # SQL literal used when the value is missing
    description: str = ""

    @property
    def sql_type(self) -> str:
        return {
            "text": "VARCHAR",
            "date": "DATE",
            "bool": "BOOLEAN",
            "int": "INTEGER",
            "homework_type": "VARCHAR",
            "rated_by": "VARCHAR",
            "measure": "VARCHAR",
        }[self.kind]


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


_CHECKLIST_BOOLS = (
    ("goal_linked", "the assignment relates to a specific treatment goal"),
    ("rationale_given", "its rationale was explained"),
    ("rehearsed_in_session", "it was rehearsed in session"),
    ("practice_scheduled", "practice was scheduled"),
    ("obstacles_planned", "obstacles to completion were planned for"),
    ("involves_others", "the assignment involves other people"),
)


def table_specs(settings: Settings | None = None) -> dict[str, TableSpec]:
    """The four import tables, in the order an import processes them."""
    settings = settings or Settings()
    item_columns = tuple(
        Column(f"item_{i}", "int", description=f"item {i} score (optional)")
        for i in range(1, settings.max_item_count + 1)
    )
    return {
        "clients": TableSpec(
            "clients",
            key=("client_id",),
            columns=(
                Column("client_id", "text", required=True, description="the clinic's client identifier"),
                Column("clinic", "text", required=True),
                Column("therapist_id", "text", required=True),
                Column("program", "text", description="treatment programme"),
                Column("primary_concern", "text"),
                Column("intake_date", "date", required=True),
                Column("discharge_date", "date", description="not before intake_date; empty while in treatment"),
            ),
        ),
        "sessions": TableSpec(
            "sessions",
            key=("client_id", "session_date"),
            columns=(
                Column("client_id", "text", required=True),
                Column("session_date", "date", required=True),
                Column("attended", "bool", default="true", description="default true"),
                Column("session_number", "int", min_value=1),
            ),
        ),
        "assignments": TableSpec(
            "assignments",
            key=("assignment_id",),
            columns=(
                Column("assignment_id", "text", required=True),
                Column("client_id", "text", required=True),
                Column("assigned_date", "date", required=True),
                Column("homework_type", "homework_type", required=True),
                *(Column(name, "bool", description=desc) for name, desc in _CHECKLIST_BOOLS),
                Column("planned_practices", "int", min_value=1),
                Column("completed_practices", "int", min_value=0, description="more than planned is allowed"),
                Column("quantity_rating", "int", min_value=0, max_value=4, description="0 none - 4 all"),
                Column("quality_rating", "int", min_value=0, max_value=4, description="0 not at all - 4 excellently"),
                Column("rated_by", "rated_by", description="therapist, client or both"),
                Column("reviewed_date", "date", description="not before assigned_date"),
                Column("description", "text", description="free text; protected health information"),
            ),
        ),
        "scores": TableSpec(
            "scores",
            key=("client_id", "measure", "administered_date"),
            columns=(
                Column("client_id", "text", required=True),
                Column("measure", "measure", required=True),
                Column("administered_date", "date", required=True),
                Column("total_score", "int", required=True, description="within the measure's range"),
                *item_columns,
            ),
        ),
    }


IMPORT_TABLES: tuple[str, ...] = ("clients", "sessions", "assignments", "scores")


def ddl(settings: Settings | None = None) -> list[str]:
    """CREATE statements for every table (idempotent), plus added item columns."""
    statements = []
    for spec in table_specs(settings).values():
        cols = ",\n  ".join(f"{c.name} {c.sql_type}" for c in spec.columns)
        statements.append(f"CREATE TABLE IF NOT EXISTS {spec.name} (\n  {cols},\n  batch_id INTEGER\n)")
        # A configured measure with more items than the stored table adds its columns.
        statements.extend(
            f"ALTER TABLE {spec.name} ADD COLUMN IF NOT EXISTS {c.name} {c.sql_type}" for c in spec.columns
        )
    statements.append(
        """CREATE TABLE IF NOT EXISTS import_batches (
  batch_id INTEGER PRIMARY KEY,
  started_at TIMESTAMPTZ NOT NULL,
  finished_at TIMESTAMPTZ,
  source VARCHAR,          -- 'cli', 'dashboard', 'sample'
  profile VARCHAR,         -- mapping profile name, when one was used
  files JSON,              -- [{file, sha256, table, rows, status, message}]
  rows_read BIGINT,
  rows_inserted BIGINT,
  rows_updated BIGINT,
  rows_unchanged BIGINT,
  rows_rejected BIGINT,
  files_refused INTEGER,
  rows_removed BIGINT,     -- snapshot imports: stored rows absent from the export (import_removed)
  mode VARCHAR             -- 'additive' (default) or 'snapshot-clients'
)"""
    )
    # Databases created before snapshot imports gain the two columns.
    statements.append("ALTER TABLE import_batches ADD COLUMN IF NOT EXISTS rows_removed BIGINT")
    statements.append("ALTER TABLE import_batches ADD COLUMN IF NOT EXISTS mode VARCHAR")
    # Rows a snapshot import removed, with their old values (docs/import-format.md).
    statements.append(
        """CREATE TABLE IF NOT EXISTS import_removed (
  batch_id INTEGER NOT NULL,  -- the import that removed the row
  table_name VARCHAR NOT NULL,
  client_id VARCHAR,
  row_key JSON,               -- the row's key, column -> value
  old_row JSON                -- the stored row as it was (batch_id: the import that wrote it)
)"""
    )
    statements.append(
        """CREATE TABLE IF NOT EXISTS import_rejects (
  batch_id INTEGER NOT NULL,
  file_name VARCHAR NOT NULL,
  table_name VARCHAR,
  line_number BIGINT,      -- as a text editor counts lines (sheet row for .xlsx, row for Parquet)
  column_name VARCHAR,
  value VARCHAR,
  rule VARCHAR NOT NULL,
  raw_row JSON             -- the row verbatim, column -> text
)"""
    )
    # Dashboard users and roles (analytics/access.py; docs/security.md). Imports never write it.
    statements.append(
        f"""CREATE TABLE IF NOT EXISTS users (
  email VARCHAR PRIMARY KEY,  -- lower-case, trimmed (analytics.access.normalise_email)
  role VARCHAR NOT NULL CHECK (role IN ({", ".join(f"'{r}'" for r in ROLES)})),
  clinics VARCHAR[],          -- supervisor: the clinics they see (none listed = no client)
  therapist_id VARCHAR,       -- therapist: their therapist_id in clients
  added_at TIMESTAMPTZ NOT NULL
)"""
    )
    return statements
