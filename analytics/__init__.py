"""Between Sessions analytics: import, metrics and statistics for homework and outcomes.

Pure Python (never imports streamlit). The dashboard, the CLI (``python -m analytics``) and
the tests all use this public API.
"""

from .access import add_user, check_upload, list_users, remove_user, viewer_for_email
from .audit import record_access, search_access_log
from .client_review import client_review, find_clients
from .cohort import cohort_report
from .config import (
    DEFAULT_MEASURES,
    DESIGN_CHECKLIST,
    HOMEWORK_TYPES,
    MeasureDefinition,
    Settings,
    active_settings,
    load_settings,
)
from .db import ClinicDatabase, DatabaseMissing, DataVersion, QueryTimeout, data_version, open_database
from .importer import ImportResult, Reject, import_files
from .meeting_pack import meeting_pack_html, meeting_pack_pdf
from .metrics import (
    classify_outcomes,
    client_homework,
    client_outcomes,
    clients_for_aggregation,
    cohort_clients,
    cohort_summary,
    compliance_band,
    measure_summary,
)
from .overview import data_overview, filter_options, import_history, import_rejects
from .privacy import SuppressionPolicy, pseudonym, suppress_table, to_safe_csv
from .profiles import MappingProfile, ProfileError, load_profile
from .quality import alert_clients, quality_report
from .reports import session_review_html, session_review_pdf
from .scope import AccessDenied, CohortFilter, FreeTextNotPermitted, IdentifiersNotPermitted, Viewer, query_params
from .statistics import (
    funnel_limits,
    hedges_g,
    jacobson_truax,
    pearson,
    spearman,
    wilson_interval,
    within_between_mixedlm,
)

__all__ = [
    "AccessDenied",
    "ClinicDatabase",
    "CohortFilter",
    "DEFAULT_MEASURES",
    "DESIGN_CHECKLIST",
    "DataVersion",
    "DatabaseMissing",
    "FreeTextNotPermitted",
    "HOMEWORK_TYPES",
    "IdentifiersNotPermitted",
    "ImportResult",
    "MappingProfile",
    "MeasureDefinition",
    "ProfileError",
    "QueryTimeout",
    "Reject",
    "Settings",
    "SuppressionPolicy",
    "Viewer",
    "active_settings",
    "add_user",
    "alert_clients",
    "check_upload",
    "classify_outcomes",
    "client_homework",
    "client_outcomes",
    "client_review",
    "clients_for_aggregation",
    "cohort_clients",
    "cohort_report",
    "cohort_summary",
    "compliance_band",
    "data_overview",
    "data_version",
    "filter_options",
    "find_clients",
    "funnel_limits",
    "hedges_g",
    "import_files",
    "import_history",
    "import_rejects",
    "jacobson_truax",
    "list_users",
    "load_profile",
    "load_settings",
    "measure_summary",
    "meeting_pack_html",
    "meeting_pack_pdf",
    "open_database",
    "pearson",
    "pseudonym",
    "quality_report",
    "query_params",
    "record_access",
    "remove_user",
    "search_access_log",
    "session_review_html",
    "session_review_pdf",
    "spearman",
    "suppress_table",
    "to_safe_csv",
    "viewer_for_email",
    "wilson_interval",
    "within_between_mixedlm",
]
