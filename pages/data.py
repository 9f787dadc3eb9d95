"""Data: import export files, see the validation report, download rejects, browse history."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import streamlit as st

import ui
from analytics import active_settings, import_files, import_history, import_rejects, load_profile
from analytics.access import check_upload
from analytics.privacy import to_safe_csv
from analytics.profiles import ProfileError
from ui.text import md

PROFILES_DIR = Path(__file__).resolve().parent.parent / "sample_data" / "profiles"
NO_PROFILE = "None: files are in the import format"

ui.page_header("Data", "Import clinic exports, check what was rejected and why, and see every import run.")
viewer = ui.viewer()

if not viewer.can_import:
    st.info("Importing data is for administrators. Ask an administrator to load new exports.")
else:
    st.subheader("Import export files")
    st.markdown(
        "CSV (UTF-8), Excel workbooks (.xlsx, one sheet per table) or Parquet files named after their table: "
        "`clients`, `sessions`, `assignments`, `scores` (a suffix such as `_2026-11` is fine). "
        "Rows that break a rule are kept aside with the reason; valid rows are imported. "
        "Re-importing the same export changes nothing. See [the import format](/glossary) in docs/import-format.md."
    )
    uploads = st.file_uploader(
        "Export files", type=["csv", "xlsx", "parquet"], accept_multiple_files=True, key="import_files"
    )
    builtin = sorted(p.name for p in PROFILES_DIR.glob("*.toml"))
    profile_choice = st.selectbox("Mapping profile of the record system", [NO_PROFILE, *builtin], key="profile_choice")
    profile_upload = st.file_uploader("...or upload a mapping profile (TOML)", type=["toml"], key="profile_file")

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
                result = import_files(
                    ui.database_path(), paths, profile=profile, source="dashboard", display_names=names
                )
            ui.refresh_data_version()  # what follows on this page reads the version just imported
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
        cols = st.columns(4)
        cols[0].metric("Inserted", f"{result.inserted:,}")
        cols[1].metric("Updated", f"{result.updated:,}")
        cols[2].metric("Unchanged", f"{result.unchanged:,}")
        cols[3].metric("Rejected rows", f"{result.rejected:,}")
        st.dataframe(
            [
                {"file": f.file_name, "table": f.table, "status": f.status, "rows read": f.rows_read,
                 "rows rejected": f.rows_rejected, "note": f.message or ", ".join(f.ignored_columns)}
                for f in result.files
            ],
            hide_index=True,
            width="stretch",
        )
        rejects = ui.run(import_rejects, int(result.batch_id))
        if len(rejects):
            st.markdown(f"**Rejected rows** ({len(rejects):,} rule violations): fix them in the record system and export again.")
            st.dataframe(rejects.drop(columns=["batch_id"]), hide_index=True, width="stretch")
            ui.download_button(
                "Download rejected rows (CSV)",
                functools.partial(to_safe_csv, rejects),
                f"import-{result.batch_id}-rejects.csv",
                "text/csv",
                export_kind="import_rejects",
                key="download_rejects",
            )

st.subheader("Import history")
history = ui.run(import_history, 100)
if history.empty:
    st.info("No import has run yet.")
else:
    st.dataframe(history.drop(columns=["files"]), hide_index=True, width="stretch")
    batch = st.selectbox("Show the rejected rows of batch", history["batch_id"].tolist(), key="history_batch")
    past = ui.run(import_rejects, int(batch))
    if past.empty:
        st.caption(f"Batch {batch} rejected nothing.")
    else:
        st.dataframe(past.drop(columns=["batch_id"]), hide_index=True, width="stretch")
        ui.download_button(
            f"Download batch {batch} rejects (CSV)",
            functools.partial(to_safe_csv, past),
            f"import-{batch}-rejects.csv",
            "text/csv",
            export_kind="import_rejects",
            key="download_history_rejects",
        )
