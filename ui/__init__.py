"""Streamlit-side helpers shared by every page: how a page opens, data access and caching,
the access log, sign-in and filters.

Pages stay thin: they open with :func:`ui.page` (which returns the viewer), call
:func:`ui.run` with an ``analytics`` function and render. Caching lives here, keyed by the
database's data version, so a new import is seen without a restart and caches stay bounded.
Layers, each importing only those below it (no import cycle): ``charts`` -> ``session`` -> ``tables`` -> ``text`` ->
``audit`` -> ``context`` -> ``auth`` -> ``filters`` -> ``opening``. ``ui.serve`` (not imported by the
package) is how the server starts: ``python -m ui.serve [streamlit run options]`` warms up the
pages' imports in the background and runs ``streamlit run dashboard.py``.
"""

from .audit import audit_file, download_button, log_client_view, log_denied, log_event, log_not_found
from .auth import sign_out_button
from .charts import chart
from .context import database, figure, refresh_data_version, run
from .filters import check_choice_param, cohort_filter_sidebar, current_cohort, requested_values
from .opening import page, viewer
from .session import DB_ENV, auth_configured, database_path
from .tables import client_link_column, column_config

__all__ = [
    "DB_ENV",
    "audit_file",
    "auth_configured",
    "chart",
    "check_choice_param",
    "client_link_column",
    "cohort_filter_sidebar",
    "column_config",
    "current_cohort",
    "database",
    "database_path",
    "download_button",
    "figure",
    "log_client_view",
    "log_denied",
    "log_event",
    "log_not_found",
    "page",
    "refresh_data_version",
    "requested_values",
    "run",
    "sign_out_button",
    "viewer",
]
