"""What is loaded: filter choices, data overview, import history and rejects.

Import history and rejected rows are administrator data (docs/security.md, "Import data and
rejects"). A rejected row is kept verbatim, free text included, and may belong to any
client, inside or outside a viewer's scope; it cannot be scoped like the clinical tables.
So only viewers who may import (admins) see rejected rows and the files and counts of each
run; every other role sees when each import ran and nothing else: no row and no count
(a count across the clinic would reveal rejects of clients outside their scope).

Rejects are read a page at a time (:func:`import_rejects`: the first N rows, the total
count, filters by file and rule) and the CSV download is streamed from DuckDB in chunks
(:func:`rejects_csv_chunks`): a batch with a million rejects never sits in Python whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from ..db import ClinicDatabase
from ..publishing import Column
from ..scope import AccessDenied, CohortFilter, Viewer, query_params
from ..stored import CLINIC_DATES_TABLE, FILTER_VALUES_TABLE

REJECTS_PAGE_SIZE = 100  # rows per page on the Data page
MAX_REJECTS_PAGE = 1000  # the largest page anyone may ask for
REJECT_FILTER_CHOICES = 200  # files and rules offered as filters (most frequent first)
CSV_CHUNK_VECTORS = 5  # DuckDB vectors (2048 rows each) per CSV chunk: about 10k rows
# What a viewer who may not import sees of each import run.
HISTORY_COLUMNS_FOR_ALL = ("batch_id", "started_at", "finished_at")


# How the Data page's tables show their columns (analytics.publishing.table_frames).
REJECT_COLUMNS = (
    Column("file_name", "File", "label"), Column("table_name", "Table", "text"), Column("line_number", "Line", "count"),
    Column("column_name", "Column", "text"), Column("value", "Value", "text"), Column("rule", "Rule broken", "text"),
    Column("raw_row", "Row as read", "text"),
)
# The rejects CSV: column -> header (the page's headers, and the batch first).
REJECT_CSV_HEADERS = {"batch_id": "Batch", **{c.key: c.csv_header for c in REJECT_COLUMNS}}
HISTORY_COLUMNS = (
    Column("batch_id", "Batch", "label"), Column("started_at", "Started (UTC)", "datetime"),
    Column("finished_at", "Finished (UTC)", "datetime"), Column("source", "Source", "text"),
    Column("profile", "Profile", "text"), Column("mode", "Mode", "text"), Column("rows_read", "Rows read", "count"),
    Column("rows_inserted", "Inserted", "count"), Column("rows_updated", "Updated", "count"),
    Column("rows_unchanged", "Unchanged", "count"), Column("rows_rejected", "Rejected", "count"),
    Column("rows_removed", "Removed", "count"), Column("files_refused", "Files refused", "count"),
)
FILE_COLUMNS = (
    Column("file", "File", "label"), Column("table", "Table", "text"), Column("status", "Status", "text"),
    Column("rows_read", "Rows read", "count"), Column("rows_rejected", "Rows rejected", "count"),
    Column("note", "Note", "text"),
)
FRESHNESS_COLUMNS = (
    Column("records", "Records", "label"), Column("latest_date", "Latest date", "date"),
    Column("days_before_as_of", "Days before the as-of date", "count"), Column("n_rows", "Rows", "count"),
)


def history_columns(history: pd.DataFrame) -> tuple[Column, ...]:
    """The :data:`HISTORY_COLUMNS` that ``history`` holds (a viewer who may not import gets
    only when each run started and finished; an old database lacks mode and rows_removed)."""
    return tuple(c for c in HISTORY_COLUMNS if c.key in history.columns)


def file_rows(result: Any) -> pd.DataFrame:
    """The files of an import (or dry run) result as a table of :data:`FILE_COLUMNS`; the note
    says why a file was refused, which columns were ignored and which values were read in
    another spelling (``measure 'PHQ9' read as 'PHQ-9' (3 rows)``)."""
    rows = []
    for f in result.files:
        notes = [f.message] if f.message else []
        if f.ignored_columns:
            notes.append("ignored columns: " + ", ".join(f.ignored_columns))
        notes.extend(str(n) for n in f.normalised)
        rows.append({"file": f.file_name, "table": f.table, "status": f.status, "rows_read": f.rows_read,
                     "rows_rejected": f.rows_rejected, "note": "; ".join(notes)})
    return pd.DataFrame(rows, columns=[c.key for c in FILE_COLUMNS])


class RejectsNotPermitted(AccessDenied):
    """Rejected rows and import details were asked for by a viewer who may not import."""


def require_import_rights(viewer: Viewer) -> None:
    """Raise :class:`RejectsNotPermitted` unless the viewer may import (admins)."""
    if not viewer.can_import:
        raise RejectsNotPermitted("rejected rows and import details are for administrators")


#: Each filter's option name and the CohortFilter field it fills.
OPTION_FIELDS = (("clinic", "clinics"), ("therapist", "therapists"), ("program", "programs"),
                 ("concern", "concerns"), ("measure", "measures"), ("homework_type", "homework_types"))
#: Values offered per filter at most (plus any the viewer asked for): a national network has tens of
#: thousands of therapists, which no list shows usefully; the page offers a search for the rest.
OPTION_LIMIT = 1_000


class FilterOptions(dict):
    """Per filter (``"clinic"``, ``"therapist"``, ...): the values offered, in order (a list).
    ``available[field]``: how many values the filter has in the viewer's scope; more than offered
    when the list was cut at :data:`OPTION_LIMIT` (:meth:`is_partial`)."""

    def __init__(self, values: dict[str, list[str]], available: dict[str, int],
                 searchable: tuple[str, ...] = tuple(name for name, _ in OPTION_FIELDS)) -> None:
        super().__init__(values)
        self.available = available
        #: Filters where a value typed by the viewer can be looked up (passed back as ``wanted``);
        #: not therapist pseudonyms, which are computed from the ids offered.
        self.searchable = searchable

    def __reduce__(self):  # pickled by the UI's cache: keep ``available`` and ``searchable``
        return (FilterOptions, (dict(self), self.available, self.searchable))

    def is_partial(self, field: str) -> bool:
        return self.available.get(field, 0) > len(self.get(field, ()))


def filter_options(db: ClinicDatabase, viewer: Viewer, wanted: CohortFilter | None = None, *,
                   option_limit: int | None = None) -> FilterOptions:
    """Values the viewer may pick per filter: clinic, therapist, program, concern, measure,
    homework_type, each from the clients in the viewer's scope: the first :data:`OPTION_LIMIT` in
    order, plus those of ``wanted`` (a link's or the viewer's choice) that are in the scope.

    For the network or a viewer's clinics they are read from the values stored at import per clinic
    (stored_filter_options.sql), for a therapist's caseload (or a database imported before they were
    stored) computed from the clients, scores and assignments (filter_options.sql): the same rows.
    ``option_limit``: instead of :data:`OPTION_LIMIT`, for callers that need every value (therapist
    pseudonyms mapped back to ids)."""
    asked = [f"{name}:{value}" for name, attr in OPTION_FIELDS for value in getattr(wanted, attr, ())]
    params = {**query_params(viewer), "wanted": asked,
              "option_limit": OPTION_LIMIT if option_limit is None else option_limit}
    stored = FILTER_VALUES_TABLE in db.tables and viewer.scope_therapist is None
    rows = db.query("stored_filter_options" if stored else "filter_options", params)
    values: dict[str, list[str]] = {name: [] for name, _ in OPTION_FIELDS}
    available = dict.fromkeys(values, 0)
    for field, value, count in rows.itertuples(index=False):
        values[field].append(value)
        available[field] = int(count)
    return FilterOptions(values, available)


def data_overview(db: ClinicDatabase, viewer: Viewer) -> dict[str, Any]:
    """Counts and date range of the clients the viewer may see, plus the last import
    (with its counts for admins only, see :func:`import_history`)."""
    row = db.query("data_overview", query_params(viewer)).iloc[0].to_dict()
    history = import_history(db, viewer, limit=1)
    row["last_import"] = history.iloc[0].to_dict() if len(history) else None
    return row


def import_history(db: ClinicDatabase, viewer: Viewer, limit: int = 100) -> pd.DataFrame:
    """Import runs, newest first.

    Admins get every column (source, profile, row counts, files); every other role only
    ``HISTORY_COLUMNS_FOR_ALL`` (when each run started and finished).
    """
    if "import_batches" not in db.tables:
        return pd.DataFrame(columns=list(HISTORY_COLUMNS_FOR_ALL))
    history = db.query("import_history", {"limit": int(limit)})
    if viewer.can_import:
        return history
    return history[list(HISTORY_COLUMNS_FOR_ALL)].copy()


@dataclass(frozen=True)
class RejectsPage:
    """One page of an import run's rejected rows, and what the filters may pick."""

    batch_id: int
    rows: pd.DataFrame  # at most ``limit`` rule violations, in file and line order
    total: int  # rule violations matching the filters
    rejected_rows: int  # distinct (file, line) among them
    offset: int
    limit: int
    files: tuple[str, ...]  # the batch's files with rejects (most rejects first)
    rules: tuple[str, ...]  # the batch's broken rules (most frequent first, at most REJECT_FILTER_CHOICES)
    file_name: str | None = None  # the filters applied
    rule: str | None = None


def _reject_params(batch_id: int, file_name: str | None, rule: str | None) -> dict[str, Any]:
    return {"batch_id": int(batch_id), "file_name": file_name or None, "rule": rule or None}


def import_rejects(
    db: ClinicDatabase,
    viewer: Viewer,
    batch_id: int,
    *,
    file_name: str | None = None,
    rule: str | None = None,
    limit: int = REJECTS_PAGE_SIZE,
    offset: int = 0,
) -> RejectsPage:
    """One page of the rejected rows of one import run, with file, line, column, value, rule
    and the raw row; the total count; the files and rules to filter by.

    Only ``limit`` rows (at most MAX_REJECTS_PAGE) are read into Python. Admin data: raises
    :class:`RejectsNotPermitted` for any viewer who may not import.
    """
    require_import_rights(viewer)
    limit = max(1, min(int(limit), MAX_REJECTS_PAGE))
    offset = max(0, int(offset))
    params = _reject_params(batch_id, file_name, rule)
    if "import_rejects" not in db.tables:
        empty = pd.DataFrame(columns=["batch_id", "file_name", "table_name", "line_number", "column_name", "value",
                                      "rule", "raw_row"])
        return RejectsPage(int(batch_id), empty, 0, 0, offset, limit, (), (), params["file_name"], params["rule"])
    counts = db.query("import_rejects_count", params).iloc[0]
    rows = db.query("import_rejects", {**params, "limit": limit, "offset": offset})
    choices = db.query("import_rejects_choices", {"batch_id": int(batch_id), "limit": REJECT_FILTER_CHOICES})
    files = tuple(choices.loc[choices["kind"] == "file", "value"])
    rules = tuple(choices.loc[choices["kind"] == "rule", "value"])
    return RejectsPage(
        batch_id=int(batch_id), rows=rows, total=int(counts["violations"]), rejected_rows=int(counts["rejected_rows"]),
        offset=offset, limit=limit, files=files, rules=rules, file_name=params["file_name"], rule=params["rule"],
    )


def rejects_csv_chunks(
    db: ClinicDatabase,
    viewer: Viewer,
    batch_id: int,
    *,
    file_name: str | None = None,
    rule: str | None = None,
    vectors_per_chunk: int = CSV_CHUNK_VECTORS,
) -> Iterator[bytes]:
    """Every rejected row of one import run (filters as :func:`import_rejects`) as CSV, in
    chunks of bytes read from DuckDB a few thousand rows at a time.

    The chunks joined are what ``analytics.privacy.to_safe_csv`` gives for the whole table
    (formula-neutralised cells, UTF-8 with BOM, CRLF line ends, header first), under the
    headers the page shows (:data:`REJECT_CSV_HEADERS`). Admin data:
    raises :class:`RejectsNotPermitted` for any viewer who may not import, before any row
    is read.
    """
    from ..privacy import neutralise_frame

    require_import_rights(viewer)
    params = {**_reject_params(batch_id, file_name, rule), "limit": None, "offset": 0}
    first = True
    for chunk in db.query_chunks("import_rejects", params, vectors_per_chunk=vectors_per_chunk):
        chunk = chunk.rename(columns=REJECT_CSV_HEADERS)
        text = neutralise_frame(chunk).to_csv(index=False, header=first, lineterminator="\r\n")
        yield text.encode("utf-8-sig" if first else "utf-8")
        first = False


def scope_dates(db: ClinicDatabase, viewer: Viewer) -> dict[str, date | None]:
    """``as_of``: the latest session or score date among the clients the viewer may see;
    ``first_intake``: their earliest intake (each None when nothing is loaded). Cohort filters
    do not apply: narrowing a cohort does not move the data's date.

    For the network or a viewer's clinics they are read from the dates stored at import per
    clinic (stored_quality_as_of.sql), for a therapist's caseload (or a database imported before
    they were stored) computed from the sessions and scores (quality_as_of.sql): the same row."""
    stored = CLINIC_DATES_TABLE in db.tables and viewer.scope_therapist is None
    row = db.query("stored_quality_as_of" if stored else "quality_as_of", query_params(viewer)).iloc[0]
    return {key: None if row[key] is None or pd.isna(row[key]) else pd.Timestamp(row[key]).date()
            for key in ("as_of", "first_intake")}


def data_as_of(db: ClinicDatabase, viewer: Viewer) -> date | None:
    """The data's "as of" date: the latest session or score date among the clients the viewer
    may see (None when nothing is loaded; :func:`scope_dates`). Pages count weeks and "recent"
    periods to this date, never to the wall clock, so a page shows the same numbers whenever it
    is opened."""
    return scope_dates(db, viewer)["as_of"]


@dataclass(frozen=True)
class DataStaleness:
    """How old the data are on the day a page is opened: ``as_of`` (the data's date, see
    :func:`data_as_of`), ``today`` (the wall-clock date, passed in so that tests pin it),
    ``days_old`` and ``stale`` (more than ``Settings.stale_data_days`` days old)."""

    as_of: date
    today: date
    days_old: int
    stale_after_days: int

    @property
    def stale(self) -> bool:
        return self.days_old > self.stale_after_days

    def caption(self, deidentified: bool = False) -> str:
        """One line for every page: the as-of date and what it means. De-identified viewers get
        the month only (docs/security.md, "De-identified views": dates to the month)."""
        when = f"{self.as_of:%Y-%m}" if deidentified else f"{self.as_of:%Y-%m-%d}"
        return (f"Data as of {when}: the latest session or score loaded. Weeks, days and "
                "recent periods count to this date, not to today.")

    def warning(self, deidentified: bool = False) -> str | None:
        """The staleness warning, or None when the data are recent enough (de-identified
        viewers: the newest month and whole weeks, never the day)."""
        if not self.stale:
            return None
        if deidentified:
            return (f"The data are more than {self.days_old // 7} weeks old (newest month {self.as_of:%Y-%m}): import "
                    "the latest export before relying on \"recent\" figures.")
        return (f"The data are {self.days_old} days old (newest session or score {self.as_of:%Y-%m-%d}, "
                f"today {self.today:%Y-%m-%d}): import the latest export before relying on \"recent\" "
                "figures or on who has had no contact.")


def data_staleness(as_of: date | None, today: date, settings: Any = None) -> DataStaleness | None:
    """:class:`DataStaleness` of the data's as-of date on ``today`` (None when nothing is loaded).
    A date in the future of ``today`` (a clock or export error) counts as 0 days old."""
    from ..config import Settings

    if as_of is None:
        return None
    settings = settings or Settings()
    return DataStaleness(as_of=as_of, today=today, days_old=max((today - as_of).days, 0),
                         stale_after_days=settings.stale_data_days)


OVERVIEW_COUNTS = (("Clients", "clients"), ("Clinics", "clinics"), ("Therapists", "therapists"),
                   ("Assignments", "assignments"), ("Symptom scores", "scores"))


def overview_figures(overview: dict[str, Any], viewer: Viewer, settings: Any = None) -> dict[str, Any]:
    """What Home shows of :func:`data_overview`, as text: ``counts`` [(label, text)] and
    ``dates`` (a sentence, or None).

    Identified viewers get exact counts and days. De-identified viewers (qi) get the same
    rules as every other de-identified view (docs/security.md, "De-identified views"): counts
    of 1-10 read "<11" (the deployment's suppression policy) and dates only to the month,
    so a narrow scope cannot be counted to a person from Home.
    """
    from ..privacy import suppress_count
    from ..quality_improvement.model import suppression_policy

    if viewer.can_see_identifiers:
        counts = [(label, f"{int(overview[key]):,}") for label, key in OVERVIEW_COUNTS]
        day = "%Y-%m-%d"
    else:
        policy = suppression_policy(settings)
        shown = [(label, suppress_count(int(overview[key]), policy)) for label, key in OVERVIEW_COUNTS]
        counts = [(label, policy.marker_text if n is None else f"{n:,}") for label, n in shown]
        day = "%Y-%m"
    first, last = overview.get("first_intake"), overview.get("last_score_date")
    dates = None
    if first is not None and not pd.isna(first):
        dates = f"Intakes from **{pd.Timestamp(first):{day}}**"
        if last is not None and not pd.isna(last):
            dates += f"; latest score **{pd.Timestamp(last):{day}}**"
        dates += "."
    return {"counts": counts, "dates": dates}


@dataclass(frozen=True)
class Freshness:
    """How current the loaded data are: ``as_of`` (:func:`data_as_of`) and ``tables``, one row
    per kind of record (``records``, ``latest_date``, ``n_rows``, ``days_before_as_of``)."""

    as_of: date | None
    tables: pd.DataFrame


def data_freshness(db: ClinicDatabase, viewer: Viewer) -> Freshness:
    """The latest date per table (sessions, scores, homework set and reviewed, intakes) among
    the clients the viewer may see, and the data's as-of date, with how many days each table's
    latest date lies before it (0: the newest data are of this kind)."""
    tables = db.query("data_freshness", query_params(viewer))
    tables["latest_date"] = pd.to_datetime(tables["latest_date"]).dt.date
    as_of = data_as_of(db, viewer)
    tables["days_before_as_of"] = [
        pd.NA if as_of is None or d is None or pd.isna(d) else (as_of - d).days for d in tables["latest_date"]
    ]
    tables["days_before_as_of"] = tables["days_before_as_of"].astype("Int64")
    return Freshness(as_of=as_of, tables=tables)
