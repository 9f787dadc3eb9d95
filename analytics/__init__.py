"""Between Sessions analytics: import, metrics and statistics for homework and outcomes.

Pure Python (never imports streamlit). The dashboard, the CLI (``python -m analytics``) and
the tests all use this public API.
"""

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
from .profiles import MappingProfile, ProfileError, load_profile
from .scope import CohortFilter, Viewer, query_params
from .statistics import jacobson_truax

__all__ = [
    "DEFAULT_MEASURES",
    "DESIGN_CHECKLIST",
    "HOMEWORK_TYPES",
    "ClinicDatabase",
    "CohortFilter",
    "DataVersion",
    "DatabaseMissing",
    "ImportResult",
    "MappingProfile",
    "MeasureDefinition",
    "ProfileError",
    "QueryTimeout",
    "Reject",
    "Settings",
    "Viewer",
    "active_settings",
    "classify_outcomes",
    "client_homework",
    "clients_for_aggregation",
    "client_outcomes",
    "cohort_clients",
    "cohort_summary",
    "compliance_band",
    "data_overview",
    "data_version",
    "filter_options",
    "import_files",
    "import_history",
    "import_rejects",
    "jacobson_truax",
    "load_profile",
    "load_settings",
    "measure_summary",
    "open_database",
    "query_params",
]
