"""Import clinic exports (CSV, .xlsx, Parquet) into the clinic database.

Guarantees (docs/import-format.md):

- Validation before anything is written. A row that breaks a rule goes to ``import_rejects``
  verbatim with file, line, column, value and rule; the valid rows of the same file are kept.
  A file that cannot be read or lacks a required column is refused whole.
- Cumulative exports: a stored row with the same key is replaced when it differs and left
  alone when identical, so importing the same files twice changes nothing.
- Additive by default: a stored row absent from the files is kept. In snapshot mode
  (``snapshot="clients"``) the files are authoritative for every client they name: that
  client's stored rows of a table the import has a file for, absent from the files, are
  removed and kept in ``import_removed`` with the batch id.
- Atomic: the import writes a private copy of the database and swaps it in with
  ``os.replace``. Killed at any moment, the live file is exactly what it was. Readers never
  wait on a lock and see the new version once it is swapped in.
- Imports are serialised with an advisory lock file beside the database.
- A dry run (:func:`dry_run`) validates on a throwaway copy and reports exactly what an import
  would do (counts, rejects, notes) without writing to the database.
- A full disk or a read-only folder raises :class:`analytics.storage.DatabaseNotWritable`
  (one line; the CLI exits with status 3) and changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ..config import HOMEWORK_TYPE_SPELLINGS, HOMEWORK_TYPES, RATERS, Settings, measure_key
from ..schema import IMPORT_TABLES, Column, TableSpec, table_specs
from ..storage import atomic_write
from ..stored import store_client_rows
from .checks import DuckDBChecks, SparkChecks, import_checks
from .fhir_import import FHIR_SUFFIXES, FhirOptions, is_fhir_file, read_fhir
from .profiles import MappingProfile

TRUE_WORDS = ("true", "yes", "y", "1", "t")
FALSE_WORDS = ("false", "no", "n", "0", "f")
SUPPORTED_SUFFIXES = (".csv", ".xlsx", ".parquet", *FHIR_SUFFIXES)
REPORT_PREVIEW = 20
DRY_RUN_MAX_REJECTS = 10_000  # rejects a dry run reads back for the report (the count is exact)
# Import modes: additive (None, the default) or a snapshot authoritative for its clients.
SNAPSHOT_MODES = ("clients",)
# Column kinds whose values may be read in another spelling (measure names, homework types):
# the import report notes every such value (Normalised).
NOTED_KINDS = ("measure", "homework_type")


class ImportRefused(Exception):
    """A whole file cannot be imported (unreadable, unknown table, missing columns)."""


@dataclass
class Reject:
    file_name: str
    table: str
    line_number: int
    column: str | None
    value: str | None
    rule: str

    def __str__(self) -> str:
        # A FHIR Bundle's rejects are located by entry index (the column is its element path).
        entry = bool(self.column and self.column.startswith("Bundle.entry["))
        where = f"{self.file_name} {'entry' if entry else 'line'} {self.line_number}"
        if self.column:
            shown = "(empty)" if self.value is None else repr(self.value)
            return f"{where}, column {self.column}, value {shown}: {self.rule}"
        return f"{where}: {self.rule}"


@dataclass(frozen=True)
class Normalised:
    """Cells of one file and column whose value was read in another spelling (``PHQ9`` as
    ``PHQ-9``, ``Behavioral activation`` as ``behavioural_activation``): imported as ``to``."""

    column: str
    value: str
    to: str
    rows: int

    def __str__(self) -> str:
        rows = "row" if self.rows == 1 else "rows"
        return f"{self.column} {self.value!r} read as {self.to!r} ({self.rows:,} {rows})"


@dataclass
class FileReport:
    file_name: str
    sha256: str
    table: str | None = None
    rows_read: int = 0
    rows_rejected: int = 0
    status: str = "imported"  # imported | refused
    message: str = ""
    ignored_columns: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # FHIR: resources not imported, by type
    normalised: list[Normalised] = field(default_factory=list)  # values read in another spelling


@dataclass
class ImportResult:
    batch_id: int | None
    files: list[FileReport]
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects_preview: list[Reject] = field(default_factory=list)
    per_table: dict[str, dict[str, int]] = field(default_factory=dict)
    snapshot: str | None = None  # None: additive; "clients": snapshot of the clients named
    removed: int = 0  # rows removed by a snapshot import (import_removed)
    snapshot_clients: int = 0  # clients named by the files of a snapshot import
    held_clients: dict[str, int] = field(default_factory=dict)  # table -> clients not pruned (rejects)
    dry_run: bool = False  # validated only: nothing was written (batch_id is the id it would get)
    rejects: pd.DataFrame | None = None  # a dry run's rejected rows (columns as import_rejects), else None

    @property
    def normalised(self) -> list[tuple[str, Normalised]]:
        """(file name, note) for every value read in another spelling, file by file."""
        return [(f.file_name, n) for f in self.files for n in f.normalised]

    @property
    def mode(self) -> str:
        return "additive" if self.snapshot is None else f"snapshot-{self.snapshot}"

    def mode_note(self) -> str:
        """One sentence on what the import did with stored rows absent from the files."""
        if self.dry_run:
            note = ("Dry run: nothing was written. " if self.snapshot is None else
                    f"Dry run: nothing was written. A snapshot import of the {self.snapshot_clients} client(s) "
                    f"named in these files would remove {self.removed} stored row(s) absent from the files.")
            return note + (" An additive import keeps stored rows absent from these files." if self.snapshot is None
                           else "")
        if self.snapshot is None:
            return ("Additive import: stored rows absent from these files were kept, nothing was removed "
                    "(a snapshot import, --snapshot clients, removes them).")
        tables = [t for t, c in self.per_table.items() if c.get("snapshot")]
        note = (
            f"Snapshot import of the {self.snapshot_clients} client(s) named in these files: "
            f"{self.removed} stored row(s) of {', '.join(tables) or 'no table'} absent from the files were removed "
            f"(kept in import_removed, batch {self.batch_id})."
        )
        held = [f"{n} in {t}" for t, n in self.held_clients.items() if n]
        if held:
            note += (" Clients with a rejected row kept their stored rows of that table: " + ", ".join(held) + ".")
        return note

    @property
    def files_refused(self) -> int:
        return sum(f.status == "refused" for f in self.files)

    @property
    def exit_code(self) -> int:
        """0 when every row was imported, 1 when any row or file was rejected."""
        return 1 if (self.rejected or self.files_refused) else 0

    def report(self) -> str:
        lines = [f"Dry run (nothing written; the import would be batch {self.batch_id}):" if self.dry_run
                 else f"Import batch {self.batch_id}:"]
        for f in self.files:
            if f.status == "refused":
                lines.append(f"  REFUSED {f.file_name}: {f.message}")
            elif f.table is None and f.message:
                lines.append(f"  {f.file_name}: {f.message}" + (
                    "; resources skipped (not imported): " + ", ".join(f"{k} {n}" for k, n in sorted(f.skipped.items()))
                    if f.skipped else ""))
            else:
                extra = f"; ignored columns: {', '.join(f.ignored_columns)}" if f.ignored_columns else ""
                if f.skipped:
                    extra += "; resources skipped (not imported): " + ", ".join(
                        f"{kind} {n}" for kind, n in sorted(f.skipped.items()))
                lines.append(
                    f"  {f.file_name} -> {f.table}: {f.rows_read} rows read, {f.rows_rejected} rejected{extra}"
                )
        lines.append(
            f"  inserted {self.inserted}, updated {self.updated}, unchanged {self.unchanged}, "
            f"rejected {self.rejected} rows, refused {self.files_refused} files"
            + (f", removed {self.removed} rows" if self.snapshot else "")
        )
        lines.append(f"  {self.mode_note()}")
        for name, note in self.normalised:
            lines.append(f"  note: {name}: {note}")
        if self.rejects_preview:
            lines.append(f"First rejected rows ({len(self.rejects_preview)} of {self.rejected} rows shown):")
            lines.extend(f"  {r}" for r in self.rejects_preview)
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Reading files into staging tables: _line BIGINT, c0..cN VARCHAR (positional names, so no
# identifier from a file ever reaches SQL), plus the header in Python.


@dataclass
class Staged:
    file_seq: int
    file_name: str
    table: str
    relation: str  # staging table name
    headers: list[str]  # original header text, position i is column c{i}
    mapping: dict[str, int]  # our column -> position
    rows: int
    report: FileReport  # where this file's (or sheet's) counts are reported
    paths_pos: int | None = None  # FHIR: column holding {our column: element path} as JSON
    raw_pos: int | None = None  # FHIR: column holding the resource's JSON (kept with a reject)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _cell(column: str) -> str:
    """A staged cell as the rules read it: spaces around it removed, empty as NULL. (trim() is
    the costly part, and few cells need it: 0.53 s against 0.37 s for the 18 columns of 1M rows.)"""
    return (f"CASE WHEN starts_with({column}, ' ') OR ends_with({column}, ' ') THEN NULLIF(trim({column}), '') "
            f"ELSE NULLIF({column}, '') END")


def _utf8_error_line(path: Path) -> int | None:
    """Line (from 1) of the first byte that is not UTF-8, or None when the file is UTF-8."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1
    return None


def _not_utf8(path: Path) -> ImportRefused:
    line = _utf8_error_line(path)
    where = f" (line {line})" if line else ""
    return ImportRefused(f"the file is not UTF-8 text{where}")


def _csv_header(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh))
    except StopIteration:
        raise ImportRefused("the file is empty") from None
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except csv.Error as exc:
        raise ImportRefused(f"the header row cannot be read as CSV ({exc})") from None
    if not any(h.strip() for h in header):
        raise ImportRefused("the first line is not a header row")
    return header


_COMMA, _LF, _CR, _QUOTE = 44, 10, 13, 34
# Bytes read and compared at a time when scanning a CSV: bounds the scan's working memory
# (the file is read a block at a time, never held or mapped whole).
_SCAN_CHUNK = 1 << 24
# Bytes that may stand next to a quote that opens or closes a field: a separator, or the other
# half of an escaped quote ("" inside a quoted field).
_QUOTE_NEIGHBOURS = np.array([_COMMA, _LF, _CR, _QUOTE], dtype=np.uint8)
_INT32_MAX = np.iinfo(np.int32).max


def _csv_record_lines(path: Path) -> np.ndarray | None:
    """Line number (as an editor counts, from 1) at which each non-blank data record starts.

    RFC 4180: a newline inside double quotes belongs to the field. Quote parity at each
    newline tells record ends; blank lines are not records. Parity is only right when every
    quote opens a field, closes it, or is half of an escaped pair; when one does not (a
    stray quote inside an unquoted field, text after a closing quote) this returns None and
    the caller reads the file with Python's csv module instead.

    The file is read a block at a time and each block is done with before the next is read:
    the scan keeps only the line numbers it returns (4 bytes a record; 8 past 2**31 lines).
    """
    parts: list[np.ndarray] = []
    offset = 0  # bytes before the block (after any BOM)
    quotes_before = 0  # quotes before the block: its parity says whether the block starts inside quotes
    newlines_before = 0
    previous = -1  # the block's preceding byte (-1: none, the file starts here)
    check_next = False  # a closing quote ended the previous block: this block's first byte must fit
    record_end = -1  # offset of the newline that ended the previous record (-1: none yet)
    record_line = 1  # editor line on which the record in progress starts
    first_record = True  # the header: never returned
    with open(path, "rb") as fh:
        if fh.read(3) != b"\xef\xbb\xbf":
            fh.seek(0)
        while block := fh.read(_SCAN_CHUNK):
            data = np.frombuffer(block, dtype=np.uint8)
            if check_next and data[0] not in _QUOTE_NEIGHBOURS:
                return None
            q = np.flatnonzero(data == _QUOTE)
            if len(q):
                opening = (quotes_before + np.arange(len(q))) % 2 == 0
                before = data[np.maximum(q - 1, 0)]
                before_ok = np.isin(before, _QUOTE_NEIGHBOURS)
                before_ok[q == 0] = previous in _QUOTE_NEIGHBOURS or (previous == -1)
                inside = q < len(data) - 1
                after_ok = np.ones(len(q), dtype=bool)
                after_ok[inside] = np.isin(data[q[inside] + 1], _QUOTE_NEIGHBOURS)
                if not (before_ok[opening].all() and after_ok[~opening].all()):
                    return None
                check_next = bool(not inside[-1] and not opening[-1])
            else:
                check_next = False
            nl = np.flatnonzero(data == _LF)
            # A newline after an even number of quotes ends a record.
            ends_at = np.flatnonzero((quotes_before + np.searchsorted(q, nl)) % 2 == 0)
            if len(ends_at):
                ends = nl[ends_at] + offset
                cr = data[np.maximum(nl[ends_at] - 1, 0)] == _CR
                cr[nl[ends_at] == 0] = previous == _CR
                lengths = np.diff(ends, prepend=record_end) - 1
                blank = (lengths == 0) | ((lengths == 1) & cr)
                starts = np.concatenate(([record_line], newlines_before + ends_at[:-1] + 2))
                if first_record:
                    blank[0] = True
                    first_record = False
                kept = starts[~blank]
                parts.append(kept.astype(np.int32) if not len(kept) or kept[-1] <= _INT32_MAX else kept)
                record_end = int(ends[-1])
                record_line = newlines_before + int(ends_at[-1]) + 2
            quotes_before += len(q)
            newlines_before += len(nl)
            offset += len(data)
            previous = int(data[-1])
    if quotes_before % 2:
        return None
    # The last record (no newline after it), unless it is blank or the header.
    length = offset - record_end - 1
    if not first_record and not (length == 0 or (length == 1 and previous == _CR)):
        parts.append(np.array([record_line], dtype=np.int32 if record_line <= _INT32_MAX else np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)


def _python_records(path: Path, width: int, *, strict: bool) -> tuple[list[list[str | None]], list[int]]:
    """Rows c0..c{width} and the editor line each starts on, read by Python's csv module."""
    rows: list[list[str | None]] = []
    lines: list[int] = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, strict=strict)
        next(reader)
        previous_end = reader.line_num
        try:
            for record in reader:
                start_line = previous_end + 1
                previous_end = reader.line_num
                if not record:
                    continue
                if len(record) > width and any(v.strip() for v in record[width:]):
                    cells = record[:width] + [",".join(record[width:])]
                else:
                    cells = record[:width] + [None] * (width - len(record[:width])) + [None]
                rows.append([c if c != "" else None for c in cells])
                lines.append(start_line)
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise ImportRefused(
                    f"a quoted field that starts on line {previous_end + 1} is never closed (a missing \")"
                ) from None
            raise
    return rows, lines


def _stage_csv_python(con: duckdb.DuckDBPyConnection, path: Path, relation: str, width: int) -> int:
    """Exact but slower path: Python's csv module, which reports line numbers itself.

    Read strictly first, so that a quote left open to the end of the file refuses the file
    instead of swallowing every later row; then leniently (a stray quote is kept as text).
    """
    limit = csv.field_size_limit()
    csv.field_size_limit(1 << 30)  # a long free-text field is data, not an error
    try:
        try:
            rows, lines = _python_records(path, width, strict=True)
        except csv.Error:
            rows, lines = _python_records(path, width, strict=False)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except csv.Error as exc:
        raise ImportRefused(f"the file cannot be read as CSV ({exc})") from None
    finally:
        csv.field_size_limit(limit)
    frame = pd.DataFrame(rows, columns=[f"c{i}" for i in range(width + 1)], dtype=object)
    frame.insert(0, "_line", np.asarray(lines, dtype=np.int64))
    con.register("_py_stage", frame)
    cols = ", ".join(f"c{i}::VARCHAR AS c{i}" for i in range(width + 1))
    con.execute(f"CREATE TEMP TABLE {relation} AS SELECT _line::BIGINT AS _line, {cols} FROM _py_stage")
    con.unregister("_py_stage")
    return len(frame)


def _read_csv_sql(width: int, *, parallel: bool) -> str:
    """DuckDB's strict RFC 4180 reader into c0..c{width}: c{width} catches one extra field.

    The parallel reader cannot pad short rows when fields hold quoted newlines, so it reads
    exactly ``width`` fields and fails on a short or long row; the sequential reader pads.
    """
    n = width if parallel else width + 1
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n)) + "}"
    extra = f", NULL::VARCHAR AS c{width}" if parallel else ""
    return (
        f"SELECT *{extra} FROM read_csv(?, columns = {columns}, header = true, delim = ',', quote = '\"', "
        f"escape = '\"', auto_detect = false, null_padding = {str(not parallel).lower()}, strict_mode = true, "
        f"parallel = {str(parallel).lower()}, encoding = 'utf-8')"
    )


def drop_staging(con: duckdb.DuckDBPyConnection, relation: str) -> None:
    """Drop a staging relation (a view over two tables, or a table) and its parts."""
    kinds = dict(con.execute(
        "SELECT table_name, table_type FROM information_schema.tables "
        "WHERE table_catalog = 'temp' AND table_name IN (?, ?, ?)",
        [relation, f"{relation}_raw", f"{relation}_lines"],
    ).fetchall())
    for name in (relation, f"{relation}_raw", f"{relation}_lines"):
        if name in kinds:
            con.execute(f"DROP {'VIEW' if kinds[name] == 'VIEW' else 'TABLE'} {name}")


def _stage_csv(con: duckdb.DuckDBPyConnection, path: Path, relation: str) -> list[str]:
    """Stage a CSV file as ``relation`` (_line, c0..c{width}); returns the header.

    Fast path: DuckDB's reader (strict RFC 4180) into ``relation_raw`` while, in a thread,
    a numpy scan of the bytes finds the editor line of every record; ``relation`` is a view
    pairing them by position (record n is rowid n). Anything the fast path cannot vouch for (malformed quoting, a
    row with two or more extra fields, a record count that disagrees) goes through Python's
    csv module instead.
    """
    header = _csv_header(path)
    width = len(header)
    with ThreadPoolExecutor(max_workers=1) as pool:
        scan = pool.submit(_csv_record_lines, path)
        read = False
        for parallel in (True, False):
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {relation}_raw AS {_read_csv_sql(width, parallel=parallel)}",
                            [str(path)])
                read = True
                break
            except duckdb.Error:
                continue
        lines = scan.result()
    if not read:
        drop_staging(con, relation)
        if _utf8_error_line(path) is not None:
            raise _not_utf8(path)
        lines = None
    if lines is not None:
        count = con.execute(f"SELECT count(*) FROM {relation}_raw").fetchall()[0][0]
        if len(lines) == count and count and lines[0] == 2 and lines[-1] == count + 1:
            # No blank line and no newline inside a field (the numbers are increasing, so first
            # and last tell): record n (rowid n, the file's order) is on line n + 2.
            con.execute(f"CREATE TEMP VIEW {relation} AS SELECT rowid + 2 AS _line, * FROM {relation}_raw")
            return header
        if len(lines) == count:
            # The line numbers in the file's order: record n is rowid n of both tables.
            con.register("_lines", pa.table({"_line": lines}))
            con.execute(f"CREATE TEMP TABLE {relation}_lines AS SELECT _line::BIGINT AS _line FROM _lines")
            con.unregister("_lines")
            del lines
            # The n-th record (rowid n: the table keeps the file's order) starts on the n-th
            # line. An equi-join on rowid keeps the scan parallel (a POSITIONAL JOIN does not).
            con.execute(
                f"CREATE TEMP VIEW {relation} AS SELECT l._line, r.* FROM {relation}_raw AS r "
                f"JOIN {relation}_lines AS l ON l.rowid = r.rowid"
            )
            return header
        drop_staging(con, relation)
    _stage_csv_python(con, path, relation, width)
    return header


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if text != "" else None


def _frame_row(row: list, width: int) -> list[str | None]:
    """A sheet row as text cells c0..c{width}: c{width} holds any cells beyond the header."""
    cells = [_cell_text(v) for v in row]
    extra = [c for c in cells[width:] if c is not None and c.strip()]
    cells = cells[:width] + [None] * (width - len(cells[:width]))
    return cells + [",".join(extra) if extra else None]


def _stage_frame(con: duckdb.DuckDBPyConnection, header: list[str], records: list[tuple[int, list]], relation: str,
                 *, append: bool = False) -> None:
    """Stage sheet rows as ``relation`` (_line, c0..c{width}); ``append`` adds them to it."""
    width = len(header)
    frame = pd.DataFrame(
        [_frame_row(r, width) for _, r in records],
        columns=[f"c{i}" for i in range(width + 1)],
        dtype=object,
    )
    frame.insert(0, "_line", np.asarray([n for n, _ in records], dtype=np.int64))
    con.register("_frame_stage", frame)
    cols = ", ".join(f"c{i}::VARCHAR AS c{i}" for i in range(width + 1))
    select = f"SELECT _line::BIGINT AS _line, {cols} FROM _frame_stage"
    con.execute(f"INSERT INTO {relation} {select}" if append else f"CREATE TEMP TABLE {relation} AS {select}")
    con.unregister("_frame_stage")


# Sheet rows staged at a time: a sheet is streamed, never held in memory whole.
_XLSX_CHUNK = 20_000
_XML_DIMENSION = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?dimension\s+ref="([A-Za-z]+[0-9]+(?::[A-Za-z]+[0-9]+)?)"')
_OPENPYXL_PATCH = threading.Lock()


def _dimension_from_head(sheet) -> None:
    """ReadOnlyWorksheet._get_size without the full parse: openpyxl looks for <dimension>
    with iterparse, and when a sheet has none it parses the whole sheet (every sheet, at
    load time, including sheets that are not tables). The element comes before <sheetData>,
    so the first 64 KB of the XML hold it when it exists."""
    from openpyxl.utils.cell import range_boundaries

    with sheet._get_source() as source:
        head = source.read(1 << 16)
    found = _XML_DIMENSION.search(head)
    if found:
        try:
            sheet._min_column, sheet._min_row, sheet._max_column, sheet._max_row = range_boundaries(
                found.group(1).decode("ascii"))
        except (ValueError, TypeError):
            pass


def _load_workbook_lazily(path: Path):
    """openpyxl's read-only workbook, with sheet sizes read from the head of each sheet."""
    import openpyxl
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    with _OPENPYXL_PATCH:
        original = ReadOnlyWorksheet._get_size
        ReadOnlyWorksheet._get_size = _dimension_from_head
        try:
            return openpyxl.load_workbook(path, read_only=True, data_only=True)
        finally:
            ReadOnlyWorksheet._get_size = original


def _check_xlsx_archive(path: Path, settings: Settings) -> None:
    """Refuse a workbook whose parts are too large uncompressed, before any XML is parsed
    (the sizes come from the zip directory; a part that lies about its size is still
    bounded by the row limit while its rows are streamed)."""
    try:
        with zipfile.ZipFile(path) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportRefused(f"the workbook cannot be opened ({type(exc).__name__})") from None
    limit = settings.max_xlsx_uncompressed_mb * 1024 * 1024
    if total > limit:
        raise ImportRefused(
            f"the workbook is {total / 1024 / 1024:,.0f} MB uncompressed, above the limit of "
            f"{settings.max_xlsx_uncompressed_mb:,} MB (setting max_xlsx_uncompressed_mb); "
            "export large tables as CSV or Parquet"
        )


def _too_many_rows(rows: int, settings: Settings, how: str) -> ImportRefused:
    return ImportRefused(
        f"it {how} {rows:,} rows, above the limit of {settings.max_xlsx_rows:,} rows per sheet "
        "(setting max_xlsx_rows); export large tables as CSV or Parquet"
    )


# A <row> element of the sheet XML (any namespace prefix); not <rowBreaks>.
_XML_ROW = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")


def _xml_rows_over(sheet, limit: int) -> int | None:
    """The sheet's <row> elements counted in its raw XML (decompressed, not parsed), or
    None when there are no more than ``limit``. Stops counting as soon as it is over."""
    count, tail = 0, b""
    with sheet.parent._archive.open(sheet._worksheet_path) as source:
        while chunk := source.read(1 << 20):
            data = tail + chunk
            cut = max(len(data) - 32, 0)  # a tag starting in the last bytes is counted next time
            count += sum(1 for m in _XML_ROW.finditer(data) if m.start() < cut)
            tail = data[cut:]
            if count > limit:
                return count
    count += len(_XML_ROW.findall(tail))
    return count if count > limit else None


def _stage_sheet(con: duckdb.DuckDBPyConnection, sheet, relation: str, settings: Settings) -> list[str]:
    """Stream one read-only sheet into ``relation`` in chunks; returns the header ([] when
    the sheet has none). Refused once the sheet declares or yields more than
    ``settings.max_xlsx_rows`` rows (blank rows count: they cost as much to read)."""
    limit = settings.max_xlsx_rows
    declared = sheet.max_row  # from the sheet's <dimension>, when it has one
    if declared is not None and declared > limit + 1:
        raise _too_many_rows(declared, settings, "declares")
    present = _xml_rows_over(sheet, limit + 1)
    if present is not None:
        raise _too_many_rows(limit, settings, "has more than")
    # Read the rows actually present: a dimension larger than the data would be padded with
    # empty rows, a smaller one would cut rows off.
    sheet.reset_dimensions()
    header: list[str] | None = None
    chunk: list[tuple[int, list]] = []
    staged = False
    for row_number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        if row_number > limit + 1:  # rows missing from the XML are yielded empty: they count
            raise _too_many_rows(limit, settings, "has more than")
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
            continue
        if header is None:
            header = ["" if v is None else str(v) for v in row]
            while header and not header[-1].strip():
                header.pop()
            if not header:
                return []
            continue
        chunk.append((row_number, list(row)))
        if len(chunk) >= _XLSX_CHUNK:
            _stage_frame(con, header, chunk, relation, append=staged)
            staged, chunk = True, []
    if header is None:
        return []
    if chunk or not staged:
        _stage_frame(con, header, chunk, relation, append=staged)
    return header


def _duckdb_reason(exc: duckdb.Error, path: Path) -> str:
    """The first line of a DuckDB error, without the server-side path of the file."""
    return str(exc).splitlines()[0].replace(f" '{path}'", "").replace(f" {path}", "")


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, relation: str, time_zone: str = "UTC") -> list[str]:
    """Stage a Parquet file; every value as text, _line = row number (from 1) in the file.

    A timezone-aware timestamp is an instant: it becomes the date it falls on in the
    clinic's time zone (``Settings.clinic_timezone``), whatever its time of day.
    """
    try:
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    except duckdb.Error as exc:
        raise ImportRefused(f"the file cannot be read as Parquet ({_duckdb_reason(exc, path)})") from None
    header = [row[0] for row in described]
    exprs = []
    for i, (name, kind, *_) in enumerate(described):
        ident = '"' + name.replace('"', '""') + '"'
        kind = kind.upper()
        if kind in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
            if not con.execute("SELECT count(*) FROM pg_timezone_names() WHERE name = ?", [time_zone]).fetchall()[0][0]:
                raise ImportRefused(
                    f"column {name!r} holds timezone-aware timestamps and the clinic_timezone setting "
                    f"{time_zone!r} is not a known time zone (an IANA name such as Europe/London)"
                )
            expr = f"strftime(timezone({_lit(time_zone)}, {ident}), '%Y-%m-%d')"
        elif kind.startswith("TIMESTAMP"):
            expr = f"CASE WHEN {ident}::TIME = TIME '00:00:00' THEN strftime({ident}, '%Y-%m-%d') ELSE {ident}::VARCHAR END"
        elif kind in ("DOUBLE", "FLOAT", "REAL") or kind.startswith("DECIMAL"):
            # Whole numbers print without a decimal point (3.0 -> 3); NaN, infinities and
            # huge values stay as they are and fail the integer rule where one applies.
            whole = f"isfinite({ident}::DOUBLE) AND abs({ident}::DOUBLE) < 1e15 AND {ident} = round({ident})"
            expr = f"CASE WHEN {whole} THEN ({ident})::BIGINT::VARCHAR ELSE {ident}::VARCHAR END"
        else:
            expr = f"{ident}::VARCHAR"
        exprs.append(f"{expr} AS c{i}")
    exprs.append(f"NULL::VARCHAR AS c{len(header)}")
    try:
        con.execute(
            f"CREATE TEMP TABLE {relation} AS SELECT (file_row_number + 1)::BIGINT AS _line, {', '.join(exprs)} "
            "FROM read_parquet(?, file_row_number = true)",
            [str(path)],
        )
    except duckdb.Error as exc:
        con.execute(f"DROP TABLE IF EXISTS {relation}")
        raise ImportRefused(f"the file cannot be read as Parquet ({_duckdb_reason(exc, path)})") from None
    return header


# ---------------------------------------------------------------------------------------
# Validation rules, compiled to one SQL pass per table.


@dataclass(frozen=True)
class Rule:
    column: str | None
    condition: str  # SQL, TRUE when the row breaks the rule
    message: str


# What each strptime directive may match in a date cell. %Y takes exactly four digits so
# that 05/01/25 is an error under %d/%m/%Y instead of the year 25.
_DIRECTIVE_SHAPES = {
    "d": "[0-9]{1,2}", "m": "[0-9]{1,2}", "Y": "[0-9]{4}", "y": "[0-9]{2}", "j": "[0-9]{1,3}",
    "H": "[0-9]{1,2}", "I": "[0-9]{1,2}", "M": "[0-9]{1,2}", "S": "[0-9]{1,2}", "p": "[AaPp][Mm]",
    "b": "[A-Za-z]{3}", "B": "[A-Za-z]+", "a": "[A-Za-z]{3}", "A": "[A-Za-z]+", "%": "%",
}
_REGEX_SPECIAL = set(".^$*+?()[]{}|\\")


def date_shape(date_format: str) -> str | None:
    """A regular expression a cell must match fully for ``date_format``, or None when the
    format uses a directive without a known shape (then only the parse itself decides)."""
    out: list[str] = []
    i = 0
    while i < len(date_format):
        ch = date_format[i]
        if ch == "%":
            directive = date_format[i + 1 : i + 2]
            if directive == "-":  # %-d: no zero padding, same shape
                directive = date_format[i + 2 : i + 3]
                i += 1
            shape = _DIRECTIVE_SHAPES.get(directive)
            if shape is None:
                return None
            out.append(shape)
            i += 2
        else:
            out.append("\\" + ch if ch in _REGEX_SPECIAL else ch)
            i += 1
    return "".join(out)


def _map_values(expr: str, mapping: dict[str, str]) -> str:
    if not mapping:
        return expr
    cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in mapping.items())
    return f"(CASE lower({expr}) {cases} ELSE {expr} END)"


class _Compiler:
    """Builds the typed projection and the rule list of one table."""

    def __init__(self, spec: TableSpec, profile: MappingProfile, settings: Settings):
        self.spec = spec
        self.profile = profile
        self.settings = settings

    def raw(self, column: str) -> str:
        return f"r_{column}"

    def typed_expr(self, col: Column) -> str:
        raw = self.raw(col.name)
        values = self.profile.values
        if col.kind == "text":
            return raw
        if col.kind == "date":
            if self.profile.date_format is None:  # ISO 8601: the shape, then a real date
                return f"CASE WHEN regexp_full_match({raw}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') THEN try_cast({raw} AS DATE) END"
            return f"try_strptime({raw}, {_lit(self.date_format)})::DATE"
        if col.kind == "bool":
            mapped = _map_values(raw, values.get("boolean", {}))
            trues = ", ".join(_lit(w) for w in TRUE_WORDS)
            falses = ", ".join(_lit(w) for w in FALSE_WORDS)
            default = col.default or "NULL"
            # Fast path for the import format's own spelling; the general case after it.
            fast = "" if values.get("boolean") else f"WHEN {raw} = 'true' THEN true WHEN {raw} = 'false' THEN false "
            return (
                f"CASE WHEN {raw} IS NULL THEN {default} {fast}WHEN lower({mapped}) IN ({trues}) THEN true "
                f"WHEN lower({mapped}) IN ({falses}) THEN false END"
            )
        if col.kind == "int":
            # The pattern first: DuckDB's cast alone would round 3.5 and read 1e3 or 0x10.
            return f"CASE WHEN regexp_full_match({raw}, '[+-]?[0-9]+(\\.0+)?') THEN try_cast({raw} AS INTEGER) END"
        if col.kind == "homework_type":
            mapped = _map_values(raw, values.get("homework_type", {}))
            allowed = ", ".join(_lit(t) for t in HOMEWORK_TYPES)
            normalised = f"regexp_replace(lower({mapped}), '[ -]+', '_', 'g')"
            spellings = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in HOMEWORK_TYPE_SPELLINGS.items())
            return (f"CASE WHEN {mapped} IN ({allowed}) THEN {mapped} "
                    f"ELSE (CASE {normalised} {spellings} ELSE {normalised} END) END")
        if col.kind == "rated_by":
            return f"lower({_map_values(raw, values.get('rated_by', {}))})"
        if col.kind == "measure":
            mapped = _map_values(raw, values.get("measure", {}))
            cases = []
            for m in self.settings.measures:
                for alias in (m.name, *m.aliases):
                    cases.append(f"WHEN {_lit(measure_key(alias))} THEN {_lit(m.name)}")
            names = ", ".join(_lit(m.name) for m in self.settings.measures)
            slow = f"CASE regexp_replace(upper({mapped}), '[^A-Z0-9]', '', 'g') {' '.join(cases)} END"
            return f"CASE WHEN {mapped} IN ({names}) THEN {mapped} ELSE {slow} END"
        raise ValueError(col.kind)

    @property
    def date_format(self) -> str:
        return self.profile.date_format or "%Y-%m-%d"

    def rules(self) -> list[Rule]:
        rules: list[Rule] = []
        spec = self.spec
        for col in spec.columns:
            raw, typed = self.raw(col.name), col.name
            if col.required:
                rules.append(Rule(col.name, f"{raw} IS NULL", "required value is missing"))
            if col.kind == "date":
                if self.profile.date_format:
                    fmt_note = f"expected a date in the format {self.profile.date_format}"
                    pattern = date_shape(self.profile.date_format)
                    shape = f"regexp_full_match({raw}, {_lit(pattern)})" if pattern else "true"
                else:
                    fmt_note = "expected a real date as YYYY-MM-DD"
                    shape = "true"  # the ISO shape is part of the typed expression
                bad_format = f"{raw} IS NOT NULL AND (NOT {shape} OR {typed} IS NULL)"
                rules.append(Rule(col.name, bad_format, fmt_note))
                rules.append(Rule(col.name, f"{typed} > $today", "date lies in the future"))
                earliest = self.settings.earliest_plausible_date.isoformat()
                # Only for a date in the right format (05/01/25 under %d/%m/%Y is a format error,
                # not the year 25).
                rules.append(Rule(col.name, f"{typed} < $earliest AND NOT ({bad_format})",
                                  f"implausible date: before {earliest} (setting earliest_plausible_date)"))
            elif col.kind == "bool":
                rules.append(
                    Rule(col.name, f"{raw} IS NOT NULL AND {typed} IS NULL", "not a yes/no value (true/false, yes/no, y/n, 1/0)")
                )
            elif col.kind == "int":
                rules.append(Rule(col.name, f"{raw} IS NOT NULL AND {typed} IS NULL", "not a whole number"))
                if col.min_value is not None and col.max_value is not None:
                    rules.append(
                        Rule(col.name, f"{typed} NOT BETWEEN {col.min_value} AND {col.max_value}",
                             f"must be between {col.min_value} and {col.max_value}")
                    )
                elif col.min_value is not None:
                    rules.append(Rule(col.name, f"{typed} < {col.min_value}", f"must be {col.min_value} or more"))
            elif col.kind == "homework_type":
                allowed = ", ".join(_lit(t) for t in HOMEWORK_TYPES)
                rules.append(
                    Rule(col.name, f"{raw} IS NOT NULL AND {typed} NOT IN ({allowed})",
                         f"unknown homework type (allowed: {', '.join(HOMEWORK_TYPES)})")
                )
            elif col.kind == "rated_by":
                allowed = ", ".join(_lit(t) for t in RATERS)
                rules.append(
                    Rule(col.name, f"{raw} IS NOT NULL AND {typed} NOT IN ({allowed})",
                         f"unknown rater (allowed: {', '.join(RATERS)})")
                )
            elif col.kind == "measure":
                names = ", ".join(self.settings.measure_names)
                rules.append(Rule(col.name, f"{raw} IS NOT NULL AND {typed} IS NULL", f"unknown measure (configured: {names})"))
        if spec.name == "clients":
            rules.append(Rule("discharge_date", "discharge_date < intake_date", "discharge_date is before intake_date"))
        if spec.name == "assignments":
            rules.append(Rule("reviewed_date", "reviewed_date < assigned_date", "reviewed_date is before assigned_date"))
        if spec.name == "scores":
            item_cols = [c.name for c in spec.columns if c.name.startswith("item_")]
            for m in self.settings.measures:
                is_m = f"measure = {_lit(m.name)}"
                rules.append(
                    Rule("total_score", f"{is_m} AND total_score NOT BETWEEN {m.min_score} AND {m.max_score}",
                         f"{m.name} total_score must be between {m.min_score} and {m.max_score}")
                )
                for i, item in enumerate(item_cols, start=1):
                    if i <= m.item_count:
                        rules.append(
                            Rule(item, f"{is_m} AND {item} NOT BETWEEN {m.item_min} AND {m.item_max}",
                                 f"{m.name} item scores must be between {m.item_min} and {m.item_max}")
                        )
                    else:
                        rules.append(Rule(item, f"{is_m} AND r_{item} IS NOT NULL", f"{m.name} has only {m.item_count} items"))
                own = item_cols[: m.item_count]
                if own:
                    all_present = " AND ".join(f"{c} IS NOT NULL" for c in own)
                    total = " + ".join(own)
                    rules.append(
                        Rule("total_score", f"{is_m} AND {all_present} AND ({total}) <> total_score",
                             f"{m.name} items sum to a different total than total_score")
                    )
        return rules


# ---------------------------------------------------------------------------------------
# The import run.


class _Run:
    def __init__(self, con: duckdb.DuckDBPyConnection, profile: MappingProfile, settings: Settings, today: dt.date,
                 snapshot: str | None = None, checks: DuckDBChecks | SparkChecks | None = None):
        self.con = con
        self.checks = checks or DuckDBChecks(con)  # where the validation runs (analytics/ingest/checks.py)
        self.profile = profile
        self.settings = settings
        self.today = today
        self.snapshot = snapshot
        self.specs = table_specs(settings)
        self.staged: list[Staged] = []
        self.reports: list[FileReport] = []
        self.fhir_files: list[tuple[Path, str, FileReport]] = []  # read together by stage_fhir
        self.fhir_rejects: list = []  # analytics.ingest.fhir_import.FhirReject, written with the batch

    # -- reading -------------------------------------------------------------------------
    def stage_file(self, path: Path, display_name: str) -> None:
        """Read one file into staging tables; a file that cannot be used is refused whole."""
        report = FileReport(file_name=display_name, sha256="")
        self.reports.append(report)
        staged_before, reports_before = len(self.staged), len(self.reports)
        try:
            if path.is_dir():
                raise ImportRefused("this is a folder, not a file")
            if not path.is_file():
                raise ImportRefused("file not found")
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise ImportRefused(f"the file cannot be read ({exc.strerror or type(exc).__name__})") from None
            # the file's digest (for the batch record) while it is read: hashlib works without the GIL
            with ThreadPoolExecutor(max_workers=1) as pool:
                digest = pool.submit(_sha256, path)
                try:
                    self._stage_one(path, display_name, report)
                finally:
                    unreadable = digest.exception()  # waits; a refused file keeps its digest too
                    report.sha256 = digest.result() if unreadable is None else ""
            if isinstance(unreadable, OSError):
                raise ImportRefused(f"the file cannot be read ({unreadable.strerror or type(unreadable).__name__})")
            if unreadable is not None:
                raise unreadable
        except ImportRefused as exc:
            # Nothing of a refused file is kept: drop whatever of it was staged (workbook sheets).
            for s in self.staged[staged_before:]:
                drop_staging(self.con, s.relation)
            del self.staged[staged_before:]
            del self.reports[reports_before:]
            drop_staging(self.con, f"stg_{len(self.staged)}")
            report.file_name, report.table, report.rows_read, report.ignored_columns = display_name, None, 0, []
            report.status, report.message = "refused", str(exc)

    def _stage_one(self, path: Path, display_name: str, report: FileReport) -> None:
        """Stage one readable file by its type (FHIR files only noted: stage_fhir reads them together)."""
        suffix = path.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise ImportRefused(f"unsupported file type {suffix or '(none)'}; expected .csv, .xlsx, .parquet, "
                                ".ndjson (FHIR Bulk Data) or .json (FHIR Bundle)")
        if is_fhir_file(path):
            # FHIR files are read together (a Patient and its Encounters may be in different
            # files): see stage_fhir, called once every file is known.
            self.fhir_files.append((path, display_name, report))
            return
        stem = Path(display_name).stem
        if suffix == ".xlsx":
            self._stage_workbook(path, display_name, stem, report)
            return
        table = self._table_for(stem)
        relation = f"stg_{len(self.staged)}"
        if suffix == ".csv":
            header = _stage_csv(self.con, path, relation)
        else:
            header = _stage_parquet(self.con, path, relation, self.settings.clinic_timezone)
        self._register(report, display_name, table, relation, header)

    def stage_fhir(self) -> None:
        """Read the run's FHIR files (analytics/ingest/fhir_import.py) and stage their rows per file
        and table, with each column's element path and the resource kept for rejects."""
        if not self.fhir_files:
            return
        options = FhirOptions.from_section(self.profile.fhir, self.profile.name)
        read = read_fhir([(p, n) for p, n, _ in self.fhir_files], self.settings, options)
        self.fhir_rejects = read.rejects
        for _path, name, report in self.fhir_files:
            if name in read.refused:
                report.status, report.message = "refused", read.refused[name]
                continue
            report.skipped = dict(read.skipped.get(name, {}))
            first = True
            for table in IMPORT_TABLES:
                rows = [r for r in read.rows.get(table, []) if r.loc.file_name == name]
                if not rows:
                    continue
                spec = self.specs[table]
                header = [*spec.column_names, "_paths", "_resource"]
                records = [
                    (r.loc.index, [*(r.values.get(c) for c in spec.column_names),
                                   json.dumps(r.paths, ensure_ascii=False), r.loc.raw])
                    for r in rows
                ]
                relation = f"stg_{len(self.staged)}"
                _stage_frame(self.con, header, records, relation)
                table_report = report if first else FileReport(name, report.sha256)
                if not first:
                    self.reports.append(table_report)
                first = False
                table_report.table, table_report.rows_read = table, len(rows)
                mapping = {c: i for i, c in enumerate(spec.column_names)}
                self.staged.append(Staged(len(self.staged), name, table, relation, header, mapping, len(rows),
                                          table_report, paths_pos=len(spec.column_names),
                                          raw_pos=len(spec.column_names) + 1))
            if first:  # nothing of this file maps onto a table
                report.table = next((r.table for r in read.rejects if r.file_name == name and r.table), None)
                if report.table is None:
                    report.message = (f"{read.resources.get(name, 0)} FHIR resources read: none is a row itself "
                                      "(Organizations, Practitioners, EpisodesOfCare, Questionnaires are used to map "
                                      "the others)")

    def _stage_workbook(self, path: Path, display_name: str, stem: str, report: FileReport) -> None:
        """Stage every sheet named after a table; other sheets are skipped unread."""
        _check_xlsx_archive(path, self.settings)
        try:
            workbook = _load_workbook_lazily(path)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a damaged workbook
            raise ImportRefused(f"the workbook cannot be opened ({type(exc).__name__})") from None
        try:
            sheets = workbook.worksheets
            titles = [sheet.title for sheet in sheets]
            matched = False
            for sheet in sheets:
                title = sheet.title
                table = self.profile.table_for(title)
                if table is None and len(sheets) == 1:
                    table = self.profile.table_for(stem)
                if table is None:
                    continue  # not a table: never read
                matched = True
                relation = f"stg_{len(self.staged)}"
                sheet_report = report if report.table is None else FileReport(display_name, report.sha256)
                try:
                    try:
                        header = _stage_sheet(self.con, sheet, relation, self.settings)
                    except ImportRefused:
                        raise
                    except Exception as exc:  # noqa: BLE001 - a damaged sheet can fail in many ways while read
                        raise ImportRefused(f"the workbook cannot be read ({type(exc).__name__})") from None
                    if not header:
                        raise ImportRefused("it has no header row")
                    if sheet_report is not report:
                        self.reports.append(sheet_report)
                    self._register(sheet_report, f"{display_name} [{title}]", table, relation, header)
                except ImportRefused as exc:
                    drop_staging(self.con, relation)
                    raise ImportRefused(f"sheet {title!r}: {exc}") from None
            if not matched:
                names = ", ".join(repr(t) for t in titles)
                raise ImportRefused(f"no sheet is named after a table ({', '.join(IMPORT_TABLES)}); sheets: {names}")
        finally:
            workbook.close()

    def _table_for(self, name: str) -> str:
        table = self.profile.table_for(name)
        if table is None:
            raise ImportRefused(
                f"cannot tell which table {name!r} holds: name the file after one of {', '.join(IMPORT_TABLES)}"
                " (a suffix such as _2026-11 is allowed) or map it in a profile"
            )
        return table

    def _register(self, report: FileReport, display_name: str, table: str, relation: str, header: list[str]) -> None:
        spec = self.specs[table]
        mapping: dict[str, int] = {}
        ignored: list[str] = []
        for i, name in enumerate(header):
            ours = self.profile.column_for(table, name)
            if ours is None or ours not in spec.column_names:
                if name.strip():
                    ignored.append(name)
                continue
            if ours in mapping:
                drop_staging(self.con, relation)
                raise ImportRefused(f"column {ours} appears twice ({header[mapping[ours]]!r} and {name!r})")
            mapping[ours] = i
        missing = [c for c in spec.required_columns if c not in mapping]
        if missing:
            drop_staging(self.con, relation)
            raise ImportRefused(f"required column(s) missing for table {table}: {', '.join(missing)}")
        rows = self.con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
        report.table, report.rows_read, report.ignored_columns = table, rows, ignored
        report.file_name = display_name
        self.staged.append(Staged(len(self.staged), display_name, table, relation, header, mapping, rows, report))

    # -- snapshot imports ------------------------------------------------------------------
    def snapshot_clients(self) -> int:
        """Snapshot mode: the clients the files name (any row of any file, rejected or not)
        into ``snapshot_clients``; returns how many."""
        parts = [
            f"SELECT {_cell('c' + str(s.mapping['client_id']))} AS client_id FROM {s.relation}" for s in self.staged
        ]
        body = " UNION ".join(parts) if parts else "SELECT NULL::VARCHAR AS client_id WHERE false"
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE snapshot_clients AS SELECT DISTINCT client_id FROM ({body}) "
                         "WHERE client_id IS NOT NULL")
        return self.con.execute("SELECT count(*) FROM snapshot_clients").fetchall()[0][0]

    def _remove_absent(self, table: str, batch_id: int, incoming: str, has_late: bool) -> tuple[int, int]:
        """Snapshot mode: remove the stored rows of the named clients that the files do not
        hold, recording each in ``import_removed``. A client with a rejected row in this
        table keeps its stored rows here (a typo must not delete data). Returns (removed, held)."""
        spec = self.specs[table]
        con = self.con
        rejected = "SELECT client_id FROM checked WHERE _violations IS NOT NULL"
        if has_late:
            rejected += " UNION SELECT client_id FROM checked SEMI JOIN late USING (_file_seq, _line)"
        self.checks.create("snapshot_held", f"SELECT DISTINCT client_id FROM ({rejected}) WHERE client_id IS NOT NULL")
        self.checks.local("snapshot_held")
        held = con.execute(
            "SELECT count(*) FROM snapshot_held SEMI JOIN snapshot_clients USING (client_id)"
        ).fetchall()[0][0]
        on = " AND ".join(f"t.{k} = i.{k}" for k in spec.key)
        absent = (
            "t.client_id IN (SELECT client_id FROM snapshot_clients) "
            "AND t.client_id NOT IN (SELECT client_id FROM snapshot_held) "
            f"AND NOT EXISTS (SELECT 1 FROM ({incoming}) AS i WHERE {on})"
        )
        key_json = ", ".join(f"{_lit(k)}, t.{k}" for k in spec.key)
        removed = con.execute(
            f"""INSERT INTO main.import_removed
            SELECT $batch_id, $table, t.client_id, json_object({key_json}), to_json(t)
            FROM main.{table} AS t WHERE {absent}""",
            {"batch_id": batch_id, "table": table},
        ).fetchall()[0][0]
        if removed:
            con.execute(f"DELETE FROM main.{table} AS t WHERE {absent}")
        self.checks.drop("snapshot_held")
        return removed, held

    # -- validating and writing ----------------------------------------------------------
    def _note_normalised(self, staged: list[Staged], compiler: _Compiler) -> None:
        """Count, per file and column, the cells read in another spelling (measure names,
        homework types: ``PHQ9`` -> ``PHQ-9``) into the file's report, so the import says so.
        ``checked`` holds each such cell's text in ``_noted_<column>`` (NULL where the text was
        already the value: nearly every row, so the count reads little)."""
        by_seq = {s.file_seq: s for s in staged}
        for col in [c for c in compiler.spec.columns if c.kind in NOTED_KINDS]:
            found = self.checks.fetch(
                f"""SELECT _file_seq, _noted_{col.name} AS value, {col.name} AS typed, count(*) AS n
                FROM checked WHERE _noted_{col.name} IS NOT NULL
                GROUP BY ALL ORDER BY _file_seq, n DESC, value"""
            )
            for seq, value, typed, count in found:
                by_seq[seq].report.normalised.append(Normalised(col.name, value, typed, int(count)))

    def process_table(self, table: str, batch_id: int) -> dict[str, int]:
        staged = [s for s in self.staged if s.table == table]
        counts = {"read": 0, "inserted": 0, "updated": 0, "unchanged": 0, "rejected": 0, "removed": 0}
        if not staged:
            return counts
        con, checks = self.con, self.checks
        spec = self.specs[table]
        compiler = _Compiler(spec, self.profile, self.settings)
        key = ", ".join(spec.key)
        value_cols = ", ".join(spec.column_names)
        for s in staged:
            checks.stage(s.relation)
        # The checks (steps 1, 2 and the rows to store) run on the engine (analytics/ingest/checks.py);
        # the writes below run in this connection, the batch's one transaction.
        # 1. One pass: normalised text (one column per field of our format, trimmed, '' ->
        #    NULL), typed values, and the row-level rule violations of every row.
        selects = []
        for s in staged:
            cols = []
            for col in spec.column_names:
                pos = s.mapping.get(col)
                cols.append(f"{_cell(f'c{pos}')} AS r_{col}" if pos is not None else f"NULL::VARCHAR AS r_{col}")
            overflow = _cell(f"c{len(s.headers)}")
            selects.append(f"SELECT {s.file_seq} AS _file_seq, _line, {overflow} AS _overflow, {', '.join(cols)} FROM {s.relation}")
        typed = ", ".join(f"{compiler.typed_expr(c)} AS {c.name}" for c in spec.columns)
        rules = [Rule(None, "_overflow IS NOT NULL", "the row has more fields than the header"), *compiler.rules()]
        checks_list = ", ".join(f"CASE WHEN {r.condition} THEN {i} END" for i, r in enumerate(rules))
        any_broken = " OR ".join(f"({r.condition})" for r in rules)
        # The text columns (r_*) are not kept: a reject's value is read back from the file's
        # staging relation, so the one table written holds only typed values. _violations
        # (the broken rules' ids) is NULL for a valid row: the list is built only for the few
        # rows where some rule is broken.
        params = {"today": self.today, "earliest": self.settings.earliest_plausible_date}
        # A text read in another spelling (PHQ9 -> PHQ-9) is kept beside its value, for the report.
        noted = "".join(
            f", CASE WHEN {c.name} <> {compiler.raw(c.name)} THEN {compiler.raw(c.name)} END AS _noted_{c.name}"
            for c in spec.columns if c.kind in NOTED_KINDS
        )
        checks.create(
            "checked",
            f"""SELECT _file_seq, _line, {value_cols},
                   CASE WHEN {any_broken} THEN list_filter([{checks_list}], lambda x: x IS NOT NULL) END AS _violations{noted}
            FROM (SELECT *, {typed} FROM ({' UNION ALL '.join(selects)}))""",
            params,
        )
        self._note_normalised(staged, compiler)
        # 2. Table-level rules among otherwise valid rows. Keys that occur more than once
        #    (within a file or across files) are few: only they need the window functions.
        checks.create("multi", f"SELECT {key} FROM checked WHERE _violations IS NULL GROUP BY ALL HAVING count(*) > 1")
        has_multi = checks.fetch("SELECT count(*) FROM multi")[0][0] > 0
        dup_rule = len(rules)
        # {line}: the first line of the same file with this key (filled in per reject below).
        rules.append(Rule(spec.key[-1], "", "duplicate key with different values from line {line} of the same file"))
        ref_rule = len(rules)
        rules.append(Rule("client_id", "", "unknown client_id: not stored and not in this import's clients"))
        # Each row breaks at most one of these: the first that applies, in this order.
        late_parts = []
        if has_multi:
            # A duplicate conflicts with the first valid row of its key in the same file.
            late_parts.append(
                f"""SELECT _file_seq, _line, {dup_rule} AS rule_id, _first_line FROM (
                    SELECT _file_seq, _line,
                           row({value_cols}) IS DISTINCT FROM first_value(row({value_cols})) OVER w AS _conflict,
                           first_value(_line) OVER w AS _first_line
                    FROM checked SEMI JOIN multi USING ({key}) WHERE _violations IS NULL
                    WINDOW w AS (PARTITION BY _file_seq, {key} ORDER BY _line))
                WHERE _conflict"""
            )
        stored_clients = checks.stored("clients")
        if table != "clients":
            # Clients that are neither stored nor imported in this run (clients go first).
            late_parts.append(
                f"""SELECT _file_seq, _line, {ref_rule} AS rule_id, NULL::BIGINT AS _first_line FROM checked AS c
                WHERE _violations IS NULL
                  AND NOT EXISTS (SELECT 1 FROM {stored_clients} AS k WHERE k.client_id = c.client_id)"""
            )
            # Dates before the client's intake (stored or just imported: clients go first).
            before_intake = {
                "scores": ("administered_date", self.settings.screening_window_days,
                           f"administered_date is more than {self.settings.screening_window_days} days before the "
                           "client's intake_date (setting screening_window_days)"),
                "assignments": ("assigned_date", 0, "assigned_date is before the client's intake_date"),
            }.get(table)
            if before_intake is not None:
                column, window, message = before_intake
                intake_rule = len(rules)
                rules.append(Rule(column, "", message))
                params["window"] = window
                late_parts.append(
                    f"""SELECT _file_seq, _line, {intake_rule} AS rule_id, NULL::BIGINT AS _first_line FROM checked AS c
                    JOIN {stored_clients} AS k USING (client_id)
                    WHERE c._violations IS NULL AND c.{column} < k.intake_date - $window"""
                )
        if late_parts:
            # A duplicate is reported as that alone; an unknown client has no intake date, so the
            # other two never meet.
            if has_multi:
                duplicates, *others = late_parts
                late_parts = [duplicates, *(f"SELECT * FROM ({part}) ANTI JOIN ({duplicates}) USING (_file_seq, _line)"
                                            for part in others)]
            late = "\nUNION ALL\n".join(late_parts)
        else:
            late = ("SELECT NULL::INTEGER AS _file_seq, NULL::BIGINT AS _line, NULL::INTEGER AS rule_id, "
                    "NULL::BIGINT AS _first_line WHERE false")
        checks.create("late", late, params)
        has_late = checks.fetch("SELECT count(*) FROM late")[0][0] > 0
        # 3. Rejects, verbatim: every broken rule of every rejected row.
        checks.create(
            "bad",
            """SELECT _file_seq, _line, unnest(_violations) AS rule_id, NULL::BIGINT AS _first_line
            FROM checked WHERE _violations IS NOT NULL
            UNION ALL
            SELECT _file_seq, _line, rule_id, _first_line FROM late"""
        )
        checks.local("bad")
        con.register("_rules", pd.DataFrame({
            "rule_id": range(len(rules)),
            "column_name": [r.column for r in rules],
            "rule": [r.message for r in rules],
        }))
        per_file = dict(con.execute("SELECT _file_seq, count(DISTINCT _line) FROM bad GROUP BY ALL").fetchall())
        for s in staged:
            if not per_file.get(s.file_seq):
                continue
            value_of = " ".join(f"WHEN {_lit(c)} THEN {_cell(f'raw.c{pos}')}" for c, pos in s.mapping.items())
            raw_pairs = ", ".join(f"{_lit(h)}, c{i}" for i, h in enumerate(s.headers)) or "'', NULL"
            extra = f"c{len(s.headers)}"  # fields beyond the header, kept verbatim too
            raw_json = (
                f"CASE WHEN {extra} IS NULL THEN json_object({raw_pairs}) "
                f"ELSE json_object({raw_pairs}, '(extra fields)', {extra}) END"
            )
            column = "r.column_name"
            if s.raw_pos is not None:  # FHIR: the resource itself, and the element path of the column
                raw_json = f"raw.c{s.raw_pos}::JSON"
                column = (f"coalesce(json_extract_string(raw.c{s.paths_pos}, '$.\"' || r.column_name || '\"'), "
                          "r.column_name)")
            con.execute(
                f"""INSERT INTO main.import_rejects
                SELECT $batch_id, $file_name, $table, v._line, {column},
                       CASE r.column_name {value_of} END,
                       CASE WHEN v._first_line IS NULL THEN r.rule
                            ELSE replace(r.rule, '{{line}}', v._first_line::VARCHAR) END,
                       {raw_json}
                FROM (SELECT * FROM bad WHERE _file_seq = $file_seq) AS v
                JOIN _rules AS r USING (rule_id)
                JOIN {s.relation} AS raw ON raw._line = v._line
                ORDER BY v._line, rule_id""",
                {"batch_id": batch_id, "file_name": s.file_name, "table": table, "file_seq": s.file_seq},
            )
        con.unregister("_rules")
        for s in staged:
            s.report.rows_rejected = per_file.get(s.file_seq, 0)
        # 4. The rows to store: valid ones; for a key seen more than once, the last occurrence
        #    (later file, then later line) wins (cumulative exports). Compared with what is
        #    stored: a new key is inserted, a different row replaces the stored one.
        valid = "SELECT * FROM checked" + (" ANTI JOIN late USING (_file_seq, _line)" if has_late else "")
        valid += " WHERE _violations IS NULL"
        if has_multi:
            incoming = (
                f"""SELECT {value_cols} FROM ({valid}) ANTI JOIN multi USING ({key})
                UNION ALL
                SELECT {value_cols} FROM ({valid}) SEMI JOIN multi USING ({key})
                QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _file_seq DESC, _line DESC) = 1"""
            )
        else:
            incoming = f"SELECT {value_cols} FROM ({valid})"
        checks.create("incoming", incoming, view=True)  # DuckDB: a view, read by the writes below
        on = " AND ".join(f"t.{k} = i.{k}" for k in spec.key)
        i_row = ", ".join(f"i.{c}" for c in spec.column_names)
        t_row = ", ".join(f"t.{c}" for c in spec.column_names)
        differs = f"row({i_row}) IS DISTINCT FROM row({t_row})"
        (total, matched, changed), = checks.fetch(
            f"""SELECT count(*), count(t.{spec.key[0]}), count(*) FILTER (WHERE t.{spec.key[0]} IS NOT NULL AND {differs})
            FROM incoming AS i LEFT JOIN {checks.stored(table)} AS t ON {on}"""
        )
        actions = {"insert": total - matched, "update": changed, "same": matched - changed}
        checks.local("incoming")
        if changed:
            # Replaced rows are deleted first, so that the insert below adds them again.
            con.execute(
                f"""DELETE FROM main.{table} AS t USING incoming AS i WHERE {on} AND {differs}"""
            )
        if total - matched + changed:
            # New keys, and the replaced ones just deleted: every incoming key not stored now.
            not_stored = f"WHERE NOT EXISTS (SELECT 1 FROM main.{table} AS t WHERE {on})" if matched else ""
            con.execute(
                f"""INSERT INTO main.{table} ({value_cols}, batch_id)
                SELECT {value_cols}, $batch_id FROM incoming AS i {not_stored}""",
                {"batch_id": batch_id},
            )
        if table == "clients":
            checks.stored_upsert(table, spec.key, spec.column_names)  # later tables' checks see them
        if self.snapshot == "clients" and table != "clients":
            counts["removed"], counts["held"] = self._remove_absent(table, batch_id, "SELECT * FROM incoming", has_late)
            counts["snapshot"] = 1
        counts["read"] = sum(s.rows for s in staged)
        counts["rejected"] = sum(per_file.values())
        counts["inserted"] = actions.get("insert", 0)
        counts["updated"] = actions.get("update", 0)
        counts["unchanged"] = actions.get("same", 0)
        checks.drop("incoming", "checked", "multi", "late", "bad")
        for s in staged:
            drop_staging(con, s.relation)
        return counts


def _write_fhir_rejects(con: duckdb.DuckDBPyConnection, run: _Run, result: ImportResult, batch_id: int) -> None:
    """FHIR resources rejected before they became rows (not valid FHIR, unresolvable
    subject, items that do not add up to the stated total): written to import_rejects like
    any reject, and counted as rows read and rejected of their file."""
    if not run.fhir_rejects:
        return
    con.register("_fhir_rejects", pd.DataFrame({
        "file_name": [r.file_name for r in run.fhir_rejects],
        "table_name": [r.table for r in run.fhir_rejects],
        "line_number": np.asarray([r.index for r in run.fhir_rejects], dtype=np.int64),
        "column_name": [r.path for r in run.fhir_rejects],
        "value": [r.value for r in run.fhir_rejects],
        "rule": [r.rule for r in run.fhir_rejects],
        "raw_row": [r.raw for r in run.fhir_rejects],
    }, dtype=object).astype({"line_number": "int64"}))
    con.execute(
        """INSERT INTO main.import_rejects
        SELECT $batch_id, file_name, table_name, line_number, column_name, value, rule, raw_row::JSON
        FROM _fhir_rejects""",
        {"batch_id": batch_id},
    )
    con.unregister("_fhir_rejects")
    resources = {(r.file_name, r.index) for r in run.fhir_rejects}
    result.rejected += len(resources)
    result.rows_read += len(resources)
    for file_name, _ in resources:
        report = next((f for f in result.files if f.file_name == file_name), None)
        if report is not None:
            report.rows_rejected += 1
            report.rows_read += 1


def _run_inputs(
    db_path: str | Path, files: list[str | Path], profile: MappingProfile | None, settings: Settings | None,
    today: dt.date | None, display_names: list[str] | None, snapshot: str | None,
) -> tuple[Path, list[Path], list[str], MappingProfile, Settings, dt.date]:
    """The arguments of an import or a dry run, checked and with their defaults filled in."""
    if snapshot is not None and snapshot not in SNAPSHOT_MODES:
        raise ValueError(f"unknown snapshot mode {snapshot!r}; expected one of {', '.join(SNAPSHOT_MODES)}")
    paths = [Path(f) for f in files]
    return (Path(db_path), paths, display_names or [p.name for p in paths], profile or MappingProfile(),
            settings or Settings(), today or dt.date.today())


def import_files(
    db_path: str | Path,
    files: list[str | Path],
    *,
    profile: MappingProfile | None = None,
    settings: Settings | None = None,
    source: str = "cli",
    today: dt.date | None = None,
    display_names: list[str] | None = None,
    snapshot: str | None = None,
) -> ImportResult:
    """Validate and import export files into the database at ``db_path`` (created if missing).

    ``display_names`` name the files in reports (for uploads saved under temporary names).
    Raises :class:`analytics.storage.DatabaseNotWritable` when the database cannot be
    written (full disk, read-only folder); nothing is changed then.
    ``snapshot``: None (additive, the default: nothing stored is removed) or ``"clients"``:
    the files are authoritative for the clients they name (docs/import-format.md).
    """
    db_path, paths, names, profile, settings, today = _run_inputs(db_path, files, profile, settings, today,
                                                                  display_names, snapshot)
    with atomic_write(db_path, settings) as con:
        checks = import_checks(con, db_path)  # DuckDB's SQL, or Spark's on the Spark engine
        try:
            return _import_into(con, paths, names, profile, settings, source, today, snapshot, checks=checks)
        finally:
            checks.close()


def dry_run(
    db_path: str | Path,
    files: list[str | Path],
    *,
    profile: MappingProfile | None = None,
    settings: Settings | None = None,
    today: dt.date | None = None,
    display_names: list[str] | None = None,
    snapshot: str | None = None,
    max_rejects: int = DRY_RUN_MAX_REJECTS,
) -> ImportResult:
    """Validate ``files`` exactly as :func:`import_files` would and report what the import
    would do, without writing to the database at ``db_path``.

    The run works on a private copy of the database in a temporary folder (the live file is
    only read, never opened for writing, and needs no lock), inside a transaction that is rolled
    back. The result is marked ``dry_run``; its ``batch_id`` is the id the import would get, and
    ``rejects`` holds the first ``max_rejects`` rule violations (columns as ``import_rejects``).
    """
    import shutil
    import tempfile

    from ..storage import ensure_schema

    db_path, paths, names, profile, settings, today = _run_inputs(db_path, files, profile, settings, today,
                                                                  display_names, snapshot)
    with tempfile.TemporaryDirectory(prefix="dry-run-") as scratch:
        copy = Path(scratch) / "clinic.duckdb"
        if db_path.is_file():
            shutil.copyfile(db_path, copy)
        con = duckdb.connect(str(copy))
        try:
            con.execute("SET enable_progress_bar = false")
            ensure_schema(con, settings)
            checks = import_checks(con, db_path)  # the engine the import would validate on
            try:
                return _import_into(con, paths, names, profile, settings, "dry-run", today, snapshot,
                                    dry_run_rejects=max(0, int(max_rejects)), checks=checks)
            finally:
                checks.close()
        finally:
            con.close()


def _import_into(
    con: duckdb.DuckDBPyConnection, paths: list[Path], names: list[str], profile: MappingProfile, settings: Settings,
    source: str, today: dt.date, snapshot: str | None = None, *, dry_run_rejects: int | None = None,
    checks: DuckDBChecks | SparkChecks | None = None,
) -> ImportResult:
    """Stage, validate and write one import; with ``dry_run_rejects`` (a dry run) the first that
    many rejects are read into the result and the transaction is rolled back."""
    started = dt.datetime.now(dt.UTC)
    # Bounded memory: DuckDB spills what does not fit (staged files, joins) to its temporary folder.
    con.execute(f"SET memory_limit = '{int(settings.import_memory_mb)}MiB'")
    # Files are staged (read into temporary tables) before the transaction: a file DuckDB
    # cannot read raises inside DuckDB, and an error inside a transaction would abort it.
    run = _Run(con, profile, settings, today, snapshot, checks)
    for path, name in zip(paths, names, strict=True):
        run.stage_file(path, name)
    run.stage_fhir()
    con.execute("BEGIN TRANSACTION")
    batch_id = con.execute("SELECT coalesce(max(batch_id), 0) + 1 FROM import_batches").fetchall()[0][0]
    result = ImportResult(batch_id=batch_id, files=run.reports, snapshot=snapshot)
    if snapshot is not None:
        result.snapshot_clients = run.snapshot_clients()
    for table in IMPORT_TABLES:
        counts = run.process_table(table, batch_id)
        result.per_table[table] = counts
        result.removed += counts["removed"]
        if counts.get("held"):
            result.held_clients[table] = counts["held"]
        result.rows_read += counts["read"]
        result.inserted += counts["inserted"]
        result.updated += counts["updated"]
        result.unchanged += counts["unchanged"]
        result.rejected += counts["rejected"]
    _write_fhir_rejects(con, run, result, batch_id)
    # The first rejected rows (one line each: its first broken rule), in the order written.
    preview = con.execute(
        """SELECT file_name, table_name, line_number, column_name, value, rule FROM import_rejects
        WHERE batch_id = ?
        QUALIFY row_number() OVER (PARTITION BY file_name, line_number ORDER BY rowid) = 1
        ORDER BY rowid LIMIT ?""",
        [batch_id, REPORT_PREVIEW],
    ).fetchall()
    result.rejects_preview = [Reject(*row) for row in preview]
    files_json = [
        {"file": f.file_name, "sha256": f.sha256, "table": f.table, "rows": f.rows_read,
         "rejected": f.rows_rejected, "status": f.status, "message": f.message,
         **({"skipped": f.skipped} if f.skipped else {})}
        for f in result.files
    ]
    if dry_run_rejects is not None:
        result.dry_run = True
        result.rejects = con.execute(
            """SELECT batch_id, file_name, table_name, line_number, column_name, value, rule, raw_row
            FROM import_rejects WHERE batch_id = ?
            ORDER BY file_name, line_number, column_name, rule LIMIT ?""",
            [batch_id, dry_run_rejects],
        ).df()
        con.execute("ROLLBACK")
        return result
    # The per-client rows the summary and the pages read, from the data as this import leaves it
    # (analytics/stored.py): in the same transaction, so they are published with it.
    store_client_rows(con, settings, batch_id)
    con.execute(
        """INSERT INTO import_batches (batch_id, started_at, finished_at, source, profile, files, rows_read,
            rows_inserted, rows_updated, rows_unchanged, rows_rejected, files_refused, rows_removed, mode)
        VALUES (?, ?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [batch_id, started, source, profile.name if profile.source else None, json.dumps(files_json),
         result.rows_read, result.inserted, result.updated, result.unchanged, result.rejected,
         result.files_refused, result.removed, result.mode],
    )
    con.execute("COMMIT")
    return result
