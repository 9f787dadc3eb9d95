"""Between Sessions analytics: import, metrics and statistics for homework and outcomes.

Pure Python (never imports streamlit). The dashboard, the CLI (``python -m analytics``) and
the tests all use this public API.

Names are loaded on first use (PEP 562), so the CLI starts without importing the
statistics, charting and PDF stacks it does not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> submodule that defines it
_EXPORTS: dict[str, str] = {
    "AccessDenied": "scope",
    "ClinicDatabase": "db",
    "CohortFilter": "scope",
    "DEFAULT_MEASURES": "config",
    "DESIGN_CHECKLIST": "config",
    "DataVersion": "db",
    "DatabaseMissing": "db",
    "FreeTextNotPermitted": "scope",
    "HOMEWORK_TYPES": "config",
    "IdentifiersNotPermitted": "scope",
    "ImportResult": "ingest.importer",
    "MappingProfile": "ingest.profiles",
    "MeasureDefinition": "config",
    "ProfileError": "ingest.profiles",
    "QueryTimeout": "db",
    "Reject": "ingest.importer",
    "RejectsPage": "data.model",
    "Settings": "config",
    "SuddenGain": "sudden_gains",
    "SuppressionPolicy": "privacy",
    "Viewer": "scope",
    "active_settings": "config",
    "add_user": "access",
    "alert_clients": "quality_improvement.model",
    "check_upload": "access",
    "classify_outcomes": "metrics",
    "client_homework": "metrics",
    "client_outcomes": "metrics",
    "clients_for_aggregation": "metrics",
    "cohort_clients": "metrics",
    "cohort_report": "cohort_outcomes.model",
    "cohort_summary": "metrics",
    "compliance_band": "metrics",
    "data_as_of": "data.model",
    "data_freshness": "data.model",
    "data_staleness": "data.model",
    "data_overview": "data.model",
    "current_data_version": "db",
    "data_version": "db",
    "filter_options": "data.model",
    "find_clients": "client_review.model",
    "funnel_limits": "statistics",
    "hedges_g": "statistics",
    "dry_run": "ingest.importer",
    "import_files": "ingest.importer",
    "import_history": "data.model",
    "import_rejects": "data.model",
    "jacobson_truax": "statistics",
    "list_users": "access",
    "load_profile": "ingest.profiles",
    "load_settings": "config",
    "measure_summary": "metrics",
    "meeting_pack_html": "quality_improvement.meeting_pack",
    "meeting_pack_pdf": "quality_improvement.meeting_pack",
    "open_database": "db",
    "pearson": "statistics",
    "pseudonym": "privacy",
    "quality_report": "quality_improvement.model",
    "query_params": "scope",
    "reliable_change_value": "sudden_gains",
    "record_access": "audit",
    "rejects_csv_chunks": "data.model",
    "remove_user": "access",
    "search_access_log": "audit",
    "session_review_html": "client_review.session_review",
    "session_review_pdf": "client_review.session_review",
    "spearman": "statistics",
    "suppress_table": "privacy",
    "to_safe_csv": "privacy",
    "viewer_for_email": "access",
    "wilson_interval": "statistics",
    "within_between_model": "statistics",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors
    from .access import add_user, check_upload, list_users, remove_user, viewer_for_email  # noqa: F401
    from .audit import record_access, search_access_log  # noqa: F401
    from .client_review.model import find_clients  # noqa: F401
    from .client_review.session_review import session_review_html, session_review_pdf  # noqa: F401
    from .cohort_outcomes.model import cohort_report  # noqa: F401
    from .config import (  # noqa: F401
        DEFAULT_MEASURES,
        DESIGN_CHECKLIST,
        HOMEWORK_TYPES,
        MeasureDefinition,
        Settings,
        active_settings,
        load_settings,
    )
    from .data.model import (  # noqa: F401
        RejectsPage,
        data_as_of,
        data_freshness,
        data_overview,
        data_staleness,
        filter_options,
        import_history,
        import_rejects,
        rejects_csv_chunks,
    )
    from .db import (  # noqa: F401
        ClinicDatabase,
        DatabaseMissing,
        DataVersion,
        QueryTimeout,
        current_data_version,
        data_version,
        open_database,
    )
    from .ingest.importer import ImportResult, Reject, dry_run, import_files  # noqa: F401
    from .ingest.profiles import MappingProfile, ProfileError, load_profile  # noqa: F401
    from .metrics import (  # noqa: F401
        classify_outcomes,
        client_homework,
        client_outcomes,
        clients_for_aggregation,
        cohort_clients,
        cohort_summary,
        compliance_band,
        measure_summary,
    )
    from .privacy import SuppressionPolicy, pseudonym, suppress_table, to_safe_csv  # noqa: F401
    from .quality_improvement.meeting_pack import meeting_pack_html, meeting_pack_pdf  # noqa: F401
    from .quality_improvement.model import alert_clients, quality_report  # noqa: F401
    from .scope import AccessDenied, CohortFilter, FreeTextNotPermitted, IdentifiersNotPermitted, Viewer, query_params  # noqa: F401
    from .statistics import (  # noqa: F401
        funnel_limits,
        hedges_g,
        jacobson_truax,
        pearson,
        spearman,
        wilson_interval,
        within_between_model,
    )
    from .sudden_gains import SuddenGain, reliable_change_value  # noqa: F401
