"""Data: import export files, see the validation report, download rejects, browse history."""

from __future__ import annotations

import functools
import io
import tempfile
from pathlib import Path

import streamlit as st

import ui
from analytics import (
    RejectsPage,
    Viewer,
    active_settings,
    data_freshness,
    dry_run,
    glossary,
    import_files,
    import_history,
    import_rejects,
    load_profile,
    rejects_csv_chunks,
)
from analytics.access import check_upload
from analytics.data.model import (
    FILE_COLUMNS,
    FRESHNESS_COLUMNS,
    REJECT_COLUMNS,
    REJECTS_PAGE_SIZE,
    file_rows,
    history_columns,
)
from analytics.ingest.profiles import ProfileError
from analytics.publishing import table_csv
from analytics.storage import DatabaseNotWritable
from ui.session import current_page
from ui.tables import show_table
from ui.text import md

PROFILES_DIR = Path(__file__).resolve().parent.parent / "sample_data" / "profiles"
NO_PROFILE = "None: files are in the import format"
PAGE_TITLE = "Data"
IMPORT_FORMAT_LINK = "/glossary?term=import-format"  # the glossary page shows docs/import-format.md
_REJECTS_LOGGED = "_bs_rejects_logged"  # reject views already in the access log during this visit
# Import modes (docs/import-format.md, "Additive and snapshot imports"): label -> snapshot argument.
IMPORT_MODES = {
    "Additive (default): add and update rows, never remove any": None,
    "Snapshot of the clients in these files: remove their stored rows the files no longer hold": "clients",
}


def not_writable_message(exc: DatabaseNotWritable, viewer: Viewer) -> str:
    """The one-line error of a failed write; the server path only for the local admin."""
    where = f" ({exc.path})" if viewer.local_mode and viewer.role == "admin" else ""
    return f"The import could not be written: cannot write the clinic database{where}: {exc.reason}. Nothing was changed."


def _rejects_csv(db, viewer: Viewer, batch_id: int, file_name: str | None, rule: str | None) -> bytes:
    """The CSV download, built from DuckDB in chunks when the user clicks (never a whole
    DataFrame); BytesIO hands its buffer over without a second copy."""
    buffer = io.BytesIO()
    for chunk in rejects_csv_chunks(db, viewer, batch_id, file_name=file_name, rule=rule):
        buffer.write(chunk)
    return buffer.getvalue()


def _log_rejects_view(page: RejectsPage) -> None:
    """One access-log row per page of rejects shown (batch, filters, rows) during a visit."""
    seen = st.session_state.setdefault(_REJECTS_LOGGED, set())
    key = (page.batch_id, page.file_name, page.rule, page.offset)
    if key in seen:
        return
    seen.add(key)
    shown = f"rows {page.offset + 1:,}-{page.offset + len(page.rows):,}" if len(page.rows) else "no rows"
    filters = "".join(f", {name} filter" for name, value in (("file", page.file_name), ("rule", page.rule)) if value)
    ui.log_event("view", detail=f"import rejects of batch {page.batch_id}: {shown} of {page.total:,}{filters}")


def show_rejects(batch_id: int, key: str, download_label: str) -> RejectsPage:
    """The rejected rows of one batch, a page at a time, filtered by file and rule (admins only)."""
    prefix = f"{key}_{batch_id}"
    file_name = st.session_state.get(f"{prefix}_file")
    rule = st.session_state.get(f"{prefix}_rule")
    page_number = int(st.session_state.get(f"{prefix}_page_{file_name}_{rule}", 1))
    page = ui.run(import_rejects, viewer, int(batch_id), file_name=file_name, rule=rule,
                  limit=REJECTS_PAGE_SIZE, offset=(page_number - 1) * REJECTS_PAGE_SIZE)
    if not page.files:
        return page
    _log_rejects_view(page)
    cols = st.columns([2, 3, 1])
    cols[0].selectbox("File", [None, *page.files], format_func=lambda v: "All files" if v is None else v,
                      key=f"{prefix}_file")
    cols[1].selectbox("Rule", [None, *page.rules], format_func=lambda v: "All rules" if v is None else v,
                      key=f"{prefix}_rule")
    pages = max(1, -(-page.total // page.limit))
    cols[2].number_input("Page", min_value=1, max_value=pages, step=1, key=f"{prefix}_page_{file_name}_{rule}")
    show_table(page.rows, REJECT_COLUMNS)
    first, last = (page.offset + 1, page.offset + len(page.rows)) if len(page.rows) else (0, 0)
    st.caption(f"Rule violations {first:,}-{last:,} of {page.total:,} ({page.rejected_rows:,} rejected rows"
               + (", filtered" if file_name or rule else "") + f"); page {min(page_number, pages)} of {pages:,}.")
    name = f"import-{batch_id}-rejects.csv"
    ui.download_button(
        download_label + (" as filtered" if file_name or rule else ""),
        functools.partial(_rejects_csv, ui.database(), viewer, int(batch_id), file_name, rule),
        name,
        "text/csv",
        export_kind="import_rejects",
        key=f"{prefix}_download",
    )
    return page


def show_normalised(result) -> None:
    """Values read in another spelling (``PHQ9`` as ``PHQ-9``): said, never silent."""
    notes = result.normalised
    if notes:
        rows = sum(n.rows for _, n in notes)
        st.info(
            f"{rows:,} {'cell was' if rows == 1 else 'cells were'} read in another spelling: "
            + "; ".join(f"{md(name)}: {md(str(note))}" for name, note in notes) + ".",
            icon=":material/spellcheck:",
        )


def show_dry_run(result) -> None:
    """A dry run's report: what the import would do, per file, and its rejected rows."""
    st.info(f"Dry run: nothing was written. Importing these files now would be batch {result.batch_id}.",
            icon=":material/fact_check:")
    cols = st.columns(5)
    for col, (label, value) in zip(cols, (("Would insert", result.inserted), ("Would update", result.updated),
                                          ("Unchanged", result.unchanged), ("Would remove", result.removed),
                                          ("Rejected rows", result.rejected)), strict=True):
        col.metric(label, f"{value:,}")
    st.caption(result.mode_note())
    show_normalised(result)
    show_table(file_rows(result), FILE_COLUMNS)
    rejects = result.rejects
    if rejects is not None and len(rejects):
        shown = rejects.head(REJECTS_PAGE_SIZE)
        st.markdown(f"**Rejected rows** ({result.rejected:,}): these rows would be kept aside, with the reason.")
        show_table(shown, REJECT_COLUMNS)
        st.caption(f"Rule violations 1-{len(shown):,} of {len(rejects):,}"
                   + (" (the first ones)" if len(rejects) < result.rejected else "") + ".")
        ui.download_button("Download the rejected rows (CSV)",
                           functools.partial(table_csv, rejects, REJECT_COLUMNS),
                           "dry-run-rejects.csv", "text/csv", export_kind="import_rejects", key="dry_run_download")


if current_page() != PAGE_TITLE:  # a new visit: log the reject views again
    st.session_state.pop(_REJECTS_LOGGED, None)
viewer = ui.page(PAGE_TITLE, "Import clinic exports, check what was rejected and why, and see every import run.")

if not viewer.can_import:
    st.info(
        "Importing data, import details and rejected rows are for administrators: a rejected row is kept verbatim "
        "and may belong to any client. Ask an administrator to load new exports or to check a rejected row."
    )
else:
    st.subheader("Import export files")
    st.markdown(
        "CSV (UTF-8), Excel workbooks (.xlsx, one sheet per table) or Parquet files named after their table: "
        "`clients`, `sessions`, `assignments`, `scores` (a suffix such as `_2026-11` is fine), "
        "or a FHIR R4 export: Bulk Data NDJSON files (`.ndjson`) or Bundles (`.json`). "
        "Rows that break a rule are kept aside with the reason; valid rows are imported. "
        "Re-importing the same export changes nothing. **Check only** validates the files and shows the report "
        "and the rejected rows without changing anything. "
        f"See [the import format]({IMPORT_FORMAT_LINK}): tables, columns, values and rules."
    )
    uploads = st.file_uploader(
        "Export files", type=["csv", "xlsx", "parquet", "ndjson", "json"], accept_multiple_files=True, key="import_files"
    )
    builtin = sorted(p.name for p in PROFILES_DIR.glob("*.toml"))
    profile_choice = st.selectbox("Mapping profile of the record system", [NO_PROFILE, *builtin], key="profile_choice")
    profile_upload = st.file_uploader("...or upload a mapping profile (TOML)", type=["toml"], key="profile_file")
    mode_choice = st.radio(
        "Import mode", list(IMPORT_MODES), key="import_mode",
        help="A snapshot makes these files authoritative for every client they name: that client's stored "
             "sessions, assignments or scores (of the tables uploaded) that the files do not hold are removed "
             "and kept in the batch record. Use it only with a full export of those clients.",
    )

    buttons = st.columns([1, 1, 3])
    check_only = buttons[0].button("Check only (dry run)", disabled=not uploads, key="run_dry_run",
                                   help="Validate the files and show what an import would do; nothing is written.")
    run_import = buttons[1].button("Validate and import", type="primary", disabled=not uploads, key="run_import")
    if check_only or run_import:
        with tempfile.TemporaryDirectory(prefix="upload-") as scratch:
            scratch_dir = Path(scratch)
            profile = None
            try:
                if profile_upload is not None:
                    profile_path = scratch_dir / Path(profile_upload.name).name
                    profile_path.write_bytes(profile_upload.getvalue())
                    profile = load_profile(profile_path)
                elif profile_choice != NO_PROFILE:
                    profile = load_profile(PROFILES_DIR / profile_choice)
            except ProfileError as exc:
                st.error(f"The mapping profile cannot be used: {md(exc)}")
                st.stop()
            paths, names = [], []
            max_bytes = active_settings().max_upload_mb * 1024 * 1024
            for i, upload in enumerate(uploads):
                data = upload.getvalue()
                problem = check_upload(upload.name, data, max_bytes)
                if problem:
                    st.error(f"Not imported: {md(problem)}")
                    st.stop()
                name = Path(upload.name).name
                path = scratch_dir / f"{i:03d}{Path(name).suffix.lower()}"
                path.write_bytes(data)
                paths.append(path)
                names.append(name)
            if check_only:
                with st.spinner("Validating (dry run)..."):
                    try:
                        result = dry_run(ui.database_path(), paths, profile=profile, display_names=names,
                                         snapshot=IMPORT_MODES[mode_choice], settings=active_settings())
                    except OSError as exc:  # no room for the private copy in the temporary folder
                        result = None
                        st.error(f"The check could not run: {md(exc.strerror or exc)}. Nothing was changed.",
                                 icon=":material/error:")
            else:
                with st.spinner("Validating and importing..."):
                    try:
                        result = import_files(
                            ui.database_path(), paths, profile=profile, source="dashboard", display_names=names,
                            snapshot=IMPORT_MODES[mode_choice], settings=active_settings(),
                        )
                    except DatabaseNotWritable as exc:
                        result = None
                        st.session_state.pop("last_import", None)
                        st.error(not_writable_message(exc, viewer), icon=":material/error:")
                ui.refresh_data_version()  # what follows on this page reads the version just imported
        if result is not None:
            st.session_state["last_import"] = result
            if not result.dry_run:  # the history's rejects view opens on the new batch
                st.session_state["history_batch"] = int(result.batch_id)

    result = st.session_state.get("last_import")
    if result is not None and result.dry_run:
        show_dry_run(result)
    elif result is not None:
        if result.exit_code == 0:
            st.success(f"Batch {result.batch_id}: every row imported.")
        else:
            imported = result.inserted + result.updated + result.unchanged
            rows = "row" if result.rejected == 1 else "rows"
            files = "file" if result.files_refused == 1 else "files"
            st.warning(
                f"Batch {result.batch_id}: {result.rejected:,} {rows} rejected and {result.files_refused} {files} "
                "refused. " + (f"{imported:,} valid {'row was' if imported == 1 else 'rows were'} imported." if imported else "Nothing was imported.")
            )
        cols = st.columns(5)
        cols[0].metric("Inserted", f"{result.inserted:,}")
        cols[1].metric("Updated", f"{result.updated:,}")
        cols[2].metric("Unchanged", f"{result.unchanged:,}")
        cols[3].metric("Removed", f"{result.removed:,}")
        cols[4].metric("Rejected rows", f"{result.rejected:,}")
        st.caption(result.mode_note())
        show_normalised(result)
        show_table(file_rows(result), FILE_COLUMNS)
        if result.rejected:
            st.markdown(f"**Rejected rows** ({result.rejected:,}): fix them in the record system and export again.")
            show_rejects(int(result.batch_id), "last_import_rejects", "Download rejected rows (CSV)")

st.subheader("How current the data are", help=glossary.help_text("data-as-of"))
freshness = ui.run(data_freshness, viewer)
if freshness.as_of is None:
    st.info("No sessions or scores are loaded yet.")
else:
    st.markdown(f"Data as of **{freshness.as_of:%Y-%m-%d}**: the latest session or score date. Pages count weeks "
                "and recent periods to this date.")
    # Row counts for viewers who see identifiers only (a de-identified viewer's counts are suppressed elsewhere).
    show_table(freshness.tables, [c for c in FRESHNESS_COLUMNS if viewer.can_see_identifiers or c.key != "n_rows"])

st.subheader("Import history")
history = ui.run(import_history, viewer, 100)
if history.empty:
    st.info("No import has run yet.")
else:
    show_table(history, history_columns(history))
if viewer.can_import and not history.empty:
    batch = st.selectbox("Show the rejected rows of batch", history["batch_id"].tolist(), key="history_batch")
    past = show_rejects(int(batch), "history_rejects", f"Download batch {batch} rejects (CSV)")
    if not past.files:
        st.caption(f"Batch {batch} rejected nothing.")
