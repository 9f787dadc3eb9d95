"""Mapping profiles: how one record system's export maps onto the import format.

A profile is a TOML file (worked example: sample_data/profiles/carepath.toml)::

    [profile]
    name = "CarePath EHR"
    date_format = "%d/%m/%Y"     # strptime format of every date; ISO 8601 when absent

    [tables]                     # their file or sheet name -> our table
    Patients = "clients"

    [columns.clients]            # their column -> our column
    "Patient Ref" = "client_id"

    [values.homework_type]       # their value -> ours (case-insensitive, trimmed)
    "Thought Diary" = "thought_record"
    [values.measure]
    [values.boolean]
    [values.rated_by]

Columns a profile does not map are matched by name as usual; columns that match nothing
are ignored and listed in the import report.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .schema import IMPORT_TABLES, table_specs

VALUE_MAPS = ("homework_type", "measure", "boolean", "rated_by")


class ProfileError(ValueError):
    """The profile file is unreadable or names something that does not exist."""


@dataclass(frozen=True)
class MappingProfile:
    name: str = "import format"
    date_format: str | None = None  # None: ISO 8601 (YYYY-MM-DD) only
    tables: dict[str, str] = field(default_factory=dict)  # lower-case name -> our table
    columns: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> lower their -> ours
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> lower theirs -> ours
    source: str | None = None

    def table_for(self, name: str) -> str | None:
        """Our table for a file stem or sheet name; a ``_suffix`` or ``-suffix`` is allowed."""
        lowered = name.strip().lower()
        candidates = dict(self.tables)
        candidates.update({t: t for t in IMPORT_TABLES})
        # Longest names first so that "scores" does not shadow "scores_extra" mappings.
        for theirs in sorted(candidates, key=len, reverse=True):
            if lowered == theirs or lowered.startswith((theirs + "_", theirs + "-")):
                return candidates[theirs]
        return None

    def column_for(self, table: str, header: str) -> str | None:
        """Our column name for one header cell of a file of ``table``, or None (ignored)."""
        lowered = header.strip().lower()
        mapped = self.columns.get(table, {}).get(lowered)
        if mapped:
            return mapped
        normalised = lowered.replace(" ", "_").replace("-", "_")
        names = table_specs().get(table)
        if names and normalised in {c.lower() for c in names.column_names}:
            return normalised
        if normalised.startswith("item_") and table == "scores":
            return normalised
        return None


def load_profile(path: str | Path) -> MappingProfile:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{path.name}: cannot read the mapping profile ({exc})") from exc
    head = data.get("profile", {})
    tables: dict[str, str] = {}
    for theirs, ours in (data.get("tables") or {}).items():
        if ours not in IMPORT_TABLES:
            raise ProfileError(f"{path.name}: [tables] maps {theirs!r} to unknown table {ours!r}")
        tables[str(theirs).strip().lower()] = ours
    columns: dict[str, dict[str, str]] = {}
    specs = table_specs()
    for table, mapping in (data.get("columns") or {}).items():
        if table not in IMPORT_TABLES:
            raise ProfileError(f"{path.name}: [columns.{table}] is not one of {', '.join(IMPORT_TABLES)}")
        known = set(specs[table].column_names)
        for theirs, ours in mapping.items():
            if ours not in known and not (table == "scores" and str(ours).startswith("item_")):
                raise ProfileError(f"{path.name}: [columns.{table}] maps {theirs!r} to unknown column {ours!r}")
        columns[table] = {str(k).strip().lower(): str(v) for k, v in mapping.items()}
    values: dict[str, dict[str, str]] = {}
    for kind, mapping in (data.get("values") or {}).items():
        if kind not in VALUE_MAPS:
            raise ProfileError(f"{path.name}: [values.{kind}] is not one of {', '.join(VALUE_MAPS)}")
        values[kind] = {str(k).strip().lower(): str(v) for k, v in mapping.items()}
    return MappingProfile(
        name=str(head.get("name", path.stem)),
        date_format=head.get("date_format"),
        tables=tables,
        columns=columns,
        values=values,
        source=str(path),
    )
