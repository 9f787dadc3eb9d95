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
    import_files,
    import_history,
    import_rejects,
    load_profile,
    rejects_csv_chunks,
)
from analytics.access import check_upload
from analytics.data.model import REJECTS_PAGE_SIZE
from analytics.ingest.profiles import ProfileError
from analytics.storage import DatabaseNotWritable
from ui.session import current_page
from ui.text import md

PROFILES_DIR = Path(__file__).resolve().parent.parent / "sample_data" / "profiles"
NO_PROFILE = "None: files are in the import format"
PAGE_TITLE = "Data"
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
    st.dataframe(page.rows.drop(columns=["batch_id"]), hide_index=True, width="stretch")
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
        "Re-importing the same export changes nothing. See [the import format](/glossary) in docs/import-format.md."
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

    if st.button("Validate and import", type="primary", disabled=not uploads, key="run_import"):
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

    result = st.session_state.get("last_import")
    if result is not None:
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
        st.dataframe(
            [
                {"file": f.file_name, "table": f.table, "status": f.status, "rows read": f.rows_read,
                 "rows rejected": f.rows_rejected, "note": f.message or ", ".join(f.ignored_columns)}
                for f in result.files
            ],
            hide_index=True,
            width="stretch",
        )
        if result.rejected:
            st.markdown(f"**Rejected rows** ({result.rejected:,}): fix them in the record system and export again.")
            show_rejects(int(result.batch_id), "last_import_rejects", "Download rejected rows (CSV)")

st.subheader("Import history")
history = ui.run(import_history, viewer, 100)
if history.empty:
    st.info("No import has run yet.")
elif not viewer.can_import:
    st.dataframe(history, hide_index=True, width="stretch")
else:
    st.dataframe(history.drop(columns=["files"]), hide_index=True, width="stretch")
    batch = st.selectbox("Show the rejected rows of batch", history["batch_id"].tolist(), key="history_batch")
    past = show_rejects(int(batch), "history_rejects", f"Download batch {batch} rejects (CSV)")
    if not past.files:
        st.caption(f"Batch {batch} rejected nothing.")
