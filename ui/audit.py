"""Audit helpers for pages: page views, client views, "not found", refusals and exports.

Every helper writes one row of the access log (analytics/audit.py) for the current viewer
and page, and never raises: a failure to log is itself logged (without names or client
ids) and the page carries on; :mod:`analytics.audit` spools entries it cannot write yet.

Repeats within a session are collapsed so that reruns (widget clicks) do not flood the
log: a page view is logged when the session arrives on a page, a client view when the
client shown changes, "not found" when the requested id changes. Every export click is
logged.

Usage in a page::

    viewer = ui.page("Client review", "...", requires="identifiers")  # logs the page view
    client = ui.run(find_client, viewer, requested)
    if client is None:
        ui.log_not_found(requested)                  # deep link outside the scope, or no such id
        st.info("Client not found.")
        st.stop()
    ui.log_client_view(client["client_id"])
    ui.download_button("Download (CSV)", to_safe_csv(table), "client.csv", "text/csv",
                       export_kind="client_homework", client_id=client["client_id"])
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from analytics.audit import audit_path, record_access

from .session import PAGE_KEY, current_page, database_path, session_viewer

_LOGGER = logging.getLogger(__name__)
_LAST_KEY = "_bs_audit_last"


def audit_file() -> Path:
    """The access log of the current clinic database (analytics.audit.audit_path)."""
    return audit_path(database_path())


def log_event(action: str, *, page: str | None = None, email: Any = ..., role: Any = ...,
              client_id: str | None = None, detail: str | None = None) -> None:
    """Write one access-log row for the current viewer (or the given email/role). Never raises."""
    try:
        viewer = session_viewer()
        record_access(
            audit_file(),
            action,
            email=(viewer.email if viewer else None) if email is ... else email,
            role=(viewer.role if viewer else None) if role is ... else role,
            page=page if page is not None else current_page(),
            client_id=client_id,
            detail=detail,
        )
    except Exception as exc:  # noqa: BLE001 - auditing must never break the page
        _LOGGER.error("access log: could not record a %s event (%s)", action, type(exc).__name__)


def _changed(kind: str, value: object) -> bool:
    """True (and remembered) when ``value`` differs from the last one logged for ``kind``."""
    last = st.session_state.setdefault(_LAST_KEY, {})
    if last.get(kind) == value:
        return False
    last[kind] = value
    return True


def audit_page_view(page: str) -> None:
    """Log that the current viewer opened ``page`` (once per arrival; reruns are not repeated)."""
    st.session_state[PAGE_KEY] = page
    if _changed("view", page):
        # a new page: a client or id seen on another page counts again here
        st.session_state[_LAST_KEY].pop("client_view", None)
        st.session_state[_LAST_KEY].pop("not_found", None)
        log_event("view", page=page)


def log_client_view(client_id: str) -> None:
    """Log that one client's record is shown on the current page (when the client changes)."""
    if _changed("client_view", (current_page(), client_id)):
        log_event("client_view", client_id=client_id)


def log_not_found(requested_id: object) -> None:
    """Log a client id that was asked for (deep link, search) and not found: it does not exist
    or is outside the viewer's scope; the page shows the same "not found" for both."""
    if _changed("not_found", (current_page(), str(requested_id))):
        log_event("not_found", detail=f"requested client id: {requested_id!s}")


def log_denied(*, page: str | None = None, detail: str) -> None:
    """Log a refusal (wrong role for a page, filter values outside the scope)."""
    if _changed("denied", (page or current_page(), detail)):
        log_event("denied", page=page, detail=detail)


def _log_export(export_kind: str, file_name: str, client_id: str | None, size: int) -> None:
    log_event("export", client_id=client_id, detail=f"{export_kind}: {file_name} ({size:,} bytes)")


def logged_builder(make: Callable[[], bytes | str], *, audit_path: Path, email: str | None, role: str | None,
                   page: str | None, export_kind: str, file_name: str,
                   client_id: str | None = None) -> Callable[[], bytes | str]:
    """Wrap deferred download data (built when the user clicks, on a thread without Streamlit
    state): build it, log the export for the identity captured now, return the data."""

    def build() -> bytes | str:
        content = make()
        try:
            record_access(audit_path, "export", email=email, role=role, page=page, client_id=client_id,
                          detail=f"{export_kind}: {file_name} ({len(content):,} bytes)")
        except Exception as exc:  # noqa: BLE001 - auditing must never break the download
            _LOGGER.error("access log: could not record an export event (%s)", type(exc).__name__)
        return content

    return build


def download_button(label: str, data: bytes | str | Callable[[], bytes | str], file_name: str, mime: str, *,
                    export_kind: str, client_id: str | None = None, key: str | None = None, **kwargs: Any) -> bool:
    """``st.download_button`` that logs every download in the access log.

    ``data`` must already be safe to hand out: bytes from ``analytics.privacy.to_safe_csv``
    (formula-neutralised) or another export builder; nothing is changed here. It may also be
    a function returning those bytes (built only when the user clicks): the export is then
    logged when it is built. ``export_kind`` names what is exported (e.g.
    "cohort_outcomes_table"); ``client_id`` when the export is about one client. An export
    naming a client is not offered to a viewer who may not see identifiers (the refusal is
    logged). Extra keyword arguments go to st.download_button.
    """
    viewer = session_viewer()
    if client_id is not None and viewer is not None and not viewer.can_see_identifiers:
        log_denied(detail=f"client-level export {export_kind} refused for an aggregates-only role")
        st.caption("Client-level downloads are not available for your role.")
        return False
    if callable(data):
        builder = logged_builder(
            data, audit_path=audit_file(), email=viewer.email if viewer else None, role=viewer.role if viewer else None,
            page=current_page(), export_kind=export_kind, file_name=file_name, client_id=client_id,
        )
        kwargs.setdefault("on_click", "ignore")
        return st.download_button(label, builder, file_name=file_name, mime=mime, key=key, **kwargs)
    size = len(data)
    return st.download_button(
        label,
        data,
        file_name=file_name,
        mime=mime,
        key=key,
        on_click=_log_export,
        args=(export_kind, file_name, client_id, size),
        **kwargs,
    )
