"""Cohort filters: sidebar widgets whose values live in the URL and carry over between pages."""

from __future__ import annotations

from datetime import date

import streamlit as st

from analytics import CohortFilter

# (query-parameter name, CohortFilter field, label)
FILTER_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("clinic", "clinics", "Clinic"),
    ("therapist", "therapists", "Therapist"),
    ("program", "programs", "Programme"),
    ("concern", "concerns", "Primary concern"),
    ("homework_type", "homework_types", "Homework type"),
    ("measure", "measures", "Measure"),
)
_STATE = "_cohort_filter"


def _parse_date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _from_query_params() -> CohortFilter:
    values = {field: tuple(st.query_params.get_all(param)) for param, field, _ in FILTER_FIELDS}
    return CohortFilter.of(
        **values,
        intake_from=_parse_date(st.query_params.get("intake_from")),
        intake_to=_parse_date(st.query_params.get("intake_to")),
    )


def current_cohort() -> CohortFilter:
    """The cohort filter of this session: from the URL on first load, then from the sidebar."""
    if _STATE not in st.session_state:
        st.session_state[_STATE] = _from_query_params()
    return st.session_state[_STATE]


def _write_query_params(cohort: CohortFilter) -> None:
    for param, field, _ in FILTER_FIELDS:
        values = list(getattr(cohort, field))
        if values:
            st.query_params[param] = values
        elif param in st.query_params:
            del st.query_params[param]
    for param in ("intake_from", "intake_to"):
        value = getattr(cohort, param)
        if value:
            st.query_params[param] = value.isoformat()
        elif param in st.query_params:
            del st.query_params[param]


def _log_dropped(param: str, dropped: list[str]) -> None:
    """URL filter values the viewer may not pick (outside their scope, or no such value) are
    dropped silently on the page and recorded as "denied" in the access log."""
    if dropped:
        from .audit import log_denied

        shown = ", ".join(repr(v)[:80] for v in dropped[:5])
        log_denied(detail=f"filter {param}: {len(dropped)} value(s) not offered to this viewer: {shown}")


def cohort_filter_sidebar(options: dict[str, list[str]], *, fields: tuple[str, ...] | None = None,
                          intake: bool = True) -> CohortFilter:
    """Render the filters in the sidebar and return the chosen cohort.

    Only values the viewer may see are offered; unknown values from a URL are dropped.
    """
    cohort = current_cohort()
    chosen: dict[str, object] = {}
    with st.sidebar:
        st.header("Cohort")
        for param, field, label in FILTER_FIELDS:
            if fields is not None and param not in fields:
                chosen[field] = getattr(cohort, field)
                continue
            allowed = options.get(param, [])
            key = f"filter_{param}"
            if key not in st.session_state:
                requested = getattr(cohort, field)
                st.session_state[key] = [v for v in requested if v in allowed]
                _log_dropped(param, [v for v in requested if v not in allowed])
            chosen[field] = tuple(st.multiselect(label, allowed, key=key, placeholder="All"))
        if intake:
            key = "filter_intake"
            if key not in st.session_state:
                st.session_state[key] = tuple(d for d in (cohort.intake_from, cohort.intake_to) if d)
            period = st.date_input("Intake between", key=key, format="YYYY-MM-DD")
            period = tuple(period) if isinstance(period, (list, tuple)) else (period,)
            chosen["intake_from"] = period[0] if len(period) >= 1 else None
            chosen["intake_to"] = period[1] if len(period) == 2 else None
        else:
            chosen["intake_from"], chosen["intake_to"] = cohort.intake_from, cohort.intake_to
    new = CohortFilter.of(**chosen)
    st.session_state[_STATE] = new
    _write_query_params(new)
    return new
