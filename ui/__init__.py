"""Streamlit-side helpers shared by every page: data access, caching, viewer, filters.

Pages stay thin: they gather settings, call :func:`ui.run` with an ``analytics`` function,
and render. Caching lives here, keyed by the database's data version, so a new import is
seen without a restart and caches stay bounded.
"""

from .audit import audit_file, audit_page_view, download_button, log_client_view, log_denied, log_event, log_not_found
from .auth import (
    auth_configured,
    guard_app,
    require_admin,
    require_identifiers,
    require_role,
    sign_out_button,
)
from .context import (
    DB_ENV,
    database,
    database_path,
    figure,
    page_header,
    refresh_data_version,
    run,
    viewer,
    warm_up_imports,
)
from .filters import check_choice_param, cohort_filter_sidebar, current_cohort

__all__ = [
    "DB_ENV",
    "audit_file",
    "audit_page_view",
    "auth_configured",
    "check_choice_param",
    "cohort_filter_sidebar",
    "current_cohort",
    "database",
    "database_path",
    "download_button",
    "figure",
    "guard_app",
    "log_client_view",
    "log_denied",
    "log_event",
    "log_not_found",
    "page_header",
    "refresh_data_version",
    "require_admin",
    "require_identifiers",
    "require_role",
    "run",
    "sign_out_button",
    "viewer",
    "warm_up_imports",
]
