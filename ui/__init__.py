"""Streamlit-side helpers shared by every page: data access, caching, viewer, filters.

Pages stay thin: they gather settings, call :func:`ui.run` with an ``analytics`` function,
and render. Caching lives here, keyed by the database's data version, so a new import is
seen without a restart and caches stay bounded.
"""

from .context import DB_ENV, database, database_path, page_header, run, viewer
from .filters import cohort_filter_sidebar, current_cohort

__all__ = [
    "DB_ENV",
    "cohort_filter_sidebar",
    "current_cohort",
    "database",
    "database_path",
    "page_header",
    "run",
    "viewer",
]
