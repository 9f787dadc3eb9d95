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

from ..schema import IMPORT_TABLES, table_specs

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
    fhir: dict = field(default_factory=dict)  # [fhir]: FHIR R4 import options (analytics.ingest.fhir_import.FhirOptions)

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


PROFILE_SECTIONS = ("profile", "tables", "columns", "values", "fhir")
PROFILE_KEYS = ("name", "date_format")


def _check_date_format(where: str, date_format: object) -> str | None:
    """The profile's date format, checked by DuckDB's strptime (which the importer uses)."""
    if date_format is None:
        return None
    if not isinstance(date_format, str) or "%" not in date_format:
        raise ProfileError(f"{where}: date_format {date_format!r} is not a strptime format such as '%d/%m/%Y'")
    import duckdb

    try:
        with duckdb.connect() as con:
            con.execute("SELECT try_strptime('', ?)", [date_format]).fetchall()
    except duckdb.Error:
        raise ProfileError(f"{where}: date_format {date_format!r} is not a valid strptime format") from None
    return date_format


def _check_value_target(where: str, kind: str, theirs: str, ours: str) -> None:
    """A value map must map onto a value the import format accepts."""
    from ..config import HOMEWORK_TYPES, RATERS

    if kind == "homework_type":
        if ours.strip().lower().replace(" ", "_").replace("-", "_") not in HOMEWORK_TYPES:
            raise ProfileError(f"{where}: [values.homework_type] maps {theirs!r} to unknown homework type {ours!r}")
    elif kind == "rated_by":
        if ours.strip().lower() not in RATERS:
            raise ProfileError(f"{where}: [values.rated_by] maps {theirs!r} to unknown rater {ours!r}")
    elif kind == "boolean":
        if ours.strip().lower() not in ("true", "false"):
            raise ProfileError(f"{where}: [values.boolean] maps {theirs!r} to {ours!r}, which is not true or false")
    # measure: the measures are configurable (Settings), so an unknown one is rejected per row.


def _section(where: str, data: dict, name: str) -> dict:
    value = data.get(name) or {}
    if not isinstance(value, dict):
        raise ProfileError(f"{where}: [{name}] must be a table of names")
    return value


def load_profile(path: str | Path) -> MappingProfile:
    path = Path(path)
    where = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{where}: cannot read the mapping profile ({exc})") from exc
    unknown = [k for k in data if k not in PROFILE_SECTIONS]
    if unknown:
        raise ProfileError(f"{where}: unknown section [{unknown[0]}]; expected {', '.join(PROFILE_SECTIONS)}")
    head = _section(where, data, "profile")
    for key in head:
        if key not in PROFILE_KEYS:
            raise ProfileError(f"{where}: [profile] has unknown key {key!r}")
    tables: dict[str, str] = {}
    for theirs, ours in _section(where, data, "tables").items():
        if ours not in IMPORT_TABLES:
            raise ProfileError(f"{where}: [tables] maps {theirs!r} to unknown table {ours!r}")
        tables[str(theirs).strip().lower()] = ours
    columns: dict[str, dict[str, str]] = {}
    specs = table_specs()
    for table, mapping in _section(where, data, "columns").items():
        if table not in IMPORT_TABLES:
            raise ProfileError(f"{where}: [columns.{table}] is not one of {', '.join(IMPORT_TABLES)}")
        if not isinstance(mapping, dict):
            raise ProfileError(f"{where}: [columns.{table}] must be a table of their column = our column")
        known = set(specs[table].column_names)
        for theirs, ours in mapping.items():
            if ours not in known and not (table == "scores" and str(ours).startswith("item_")):
                raise ProfileError(f"{where}: [columns.{table}] maps {theirs!r} to unknown column {ours!r}")
        columns[table] = {str(k).strip().lower(): str(v) for k, v in mapping.items()}
    values: dict[str, dict[str, str]] = {}
    for kind, mapping in _section(where, data, "values").items():
        if kind not in VALUE_MAPS:
            raise ProfileError(f"{where}: [values.{kind}] is not one of {', '.join(VALUE_MAPS)}")
        if not isinstance(mapping, dict):
            raise ProfileError(f"{where}: [values.{kind}] must be a table of their value = our value")
        for theirs, ours in mapping.items():
            if not isinstance(ours, str):
                raise ProfileError(f"{where}: [values.{kind}] maps {theirs!r} to {ours!r}, which is not text")
            _check_value_target(where, kind, str(theirs), ours)
        values[kind] = {str(k).strip().lower(): str(v) for k, v in mapping.items()}
    fhir = _section(where, data, "fhir")
    from .fhir_import import FhirOptions

    try:
        FhirOptions.from_section(fhir, where)
    except ValueError as exc:
        raise ProfileError(str(exc)) from None
    return MappingProfile(
        name=str(head.get("name", path.stem)),
        fhir=fhir,
        date_format=_check_date_format(where, head.get("date_format")),
        tables=tables,
        columns=columns,
        values=values,
        source=str(path),
    )
