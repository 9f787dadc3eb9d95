"""Access log: who opened which page, viewed which client, made which export (admins only)."""

from datetime import UTC, datetime, timedelta

import streamlit as st

import ui
from analytics.audit import ACTIONS, AuditUnavailable, access_log_csv, search_access_log

PAGE = "Access log"
ACTION_LABELS = {
    "view": "Page view",
    "client_view": "Client viewed",
    "export": "Export",
    "denied": "Refused",
    "not_found": "Client not found",
    "login": "Sign-in",
    "logout": "Sign-out",
    "user_change": "User added/changed/removed",
    "audit_recovered": "Log file replaced",
}

ui.page(
    PAGE,
    "Every page view, client view, export, refusal, sign-in and sign-out. Append-only, kept in its own file "
    "beside the clinic database, so imports never touch it. Times are UTC.",
    requires="admin",
)

today = datetime.now(UTC).date()
c1, c2, c3 = st.columns([2, 2, 3])
email = c1.text_input("User e-mail contains", key="audit_email")
client_id = c2.text_input("Client id (exact)", key="audit_client")
period = c3.date_input("Between (UTC)", value=(today - timedelta(days=30), today), format="YYYY-MM-DD", key="audit_period")
c4, c5 = st.columns([5, 2])
actions = c4.multiselect("Actions", ACTIONS, format_func=ACTION_LABELS.get, placeholder="All actions", key="audit_actions")
limit = c5.number_input("At most", min_value=10, max_value=100_000, value=1000, step=100, key="audit_limit")

period = tuple(period) if isinstance(period, (list, tuple)) else (period,)
date_from = period[0] if period else None
date_to = period[1] if len(period) == 2 else date_from

try:
    rows = search_access_log(
        ui.audit_file(), email=email or None, client_id=client_id or None, actions=actions or None,
        date_from=date_from, date_to=date_to, limit=int(limit),
    )
    # A log file that was unusable and replaced: always say so, whatever the filters.
    recoveries = search_access_log(ui.audit_file(), actions=["audit_recovered"], limit=5)
except AuditUnavailable as exc:
    st.warning(f"The access log cannot be read right now: {exc}.")
    st.stop()

for when, detail in zip(recoveries["at"], recoveries["detail"], strict=True):
    st.warning(f"**{when:%Y-%m-%d %H:%M} UTC.** {detail} Entries before that time are in the old file.",
               icon=":material/warning:")

if rows.empty:
    st.info("No entries match these filters.")
    st.stop()

st.caption(f"{len(rows):,} entries, newest first" + (" (the limit: narrow the filters to see older ones)" if len(rows) >= limit else ""))
st.dataframe(
    rows.drop(columns=["id"])
    .assign(action=rows["action"].map(lambda a: ACTION_LABELS.get(a, a)))
    .fillna({"role": "", "page": "", "client_id": "", "detail": ""}),
    hide_index=True,
    column_config={
        "at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "email": "User",
        "role": "Role",
        "page": "Page",
        "action": "Action",
        "client_id": "Client",
        "detail": "Detail",
    },
)
ui.download_button(
    "Download these entries (CSV)",
    access_log_csv(rows),
    file_name=f"access-log-{today:%Y%m%d}.csv",
    mime="text/csv",
    export_kind="access_log",
    key="audit_download",
)
