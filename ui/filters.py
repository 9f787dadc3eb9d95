"""Cohort filters: sidebar widgets whose values live in the URL and carry over between pages."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import streamlit as st

from analytics import CohortFilter, active_settings

from .audit import log_denied
from .text import md

if TYPE_CHECKING:  # annotations only: `import ui` does not load the data model
    from analytics.data.model import FilterOptions

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


_NOTES = "_cohort_filter_notes"
_TYPED = "_cohort_filter_typed"  # values typed into a filter, checked on the next run
# Intake dates a link may carry: anything outside is refused (the date widget and the charts
# cannot hold year 1 or 9999, and no clinic record is that old or that far ahead).
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2100, 12, 31)
MAX_PARAM_VALUES = 50  # values per filter parameter taken from a link
MAX_PARAM_LENGTH = 1_000  # characters per value (a real clinic or programme name is far shorter)


def _parse_date(text: str | None, param: str = "date", notes: list[str] | None = None) -> date | None:
    """A link's date, or None with a note saying why it was ignored."""
    notes = notes if notes is not None else []
    if not text:
        return None
    shown = repr(str(text)[:40])
    try:
        value = date.fromisoformat(str(text))
    except ValueError:
        notes.append(f"The link's {param} {shown} is not a date (YYYY-MM-DD); it was ignored.")
        return None
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        notes.append(f"The link's {param} {shown} is outside {EARLIEST_DATE:%Y} to {LATEST_DATE:%Y}; it was ignored.")
        return None
    return value


def cohort_from_query_params(params: object) -> tuple[CohortFilter, list[str]]:
    """A safe cohort filter from URL parameters, and notes on what was changed or ignored.

    Unparseable or out-of-range dates are ignored, reversed intake dates are put in order,
    over-long values and lists are cut. (Values outside the viewer's scope are dropped later,
    silently and logged: :func:`_log_dropped`.) Never raises."""
    notes: list[str] = []
    values: dict[str, tuple[str, ...]] = {}
    for param, field, label in FILTER_FIELDS:
        raw = [str(v) for v in params.get_all(param)]  # type: ignore[attr-defined]
        kept = [v for v in raw[:MAX_PARAM_VALUES] if v and len(v) <= MAX_PARAM_LENGTH]
        if len(kept) != len(raw):
            notes.append(f"Some {label.lower()} values in the link were too long, empty or too many; they were ignored.")
        values[field] = tuple(dict.fromkeys(kept))
    start = _parse_date(params.get("intake_from"), "intake_from", notes)  # type: ignore[attr-defined]
    end = _parse_date(params.get("intake_to"), "intake_to", notes)  # type: ignore[attr-defined]
    if start and end and start > end:
        start, end = end, start
        notes.append(f"The link's intake dates were reversed; the filter uses {start:%Y-%m-%d} to {end:%Y-%m-%d}.")
    return CohortFilter.of(**values, intake_from=start, intake_to=end), notes


def _from_query_params() -> CohortFilter:
    cohort, notes = cohort_from_query_params(st.query_params)
    st.session_state[_NOTES] = notes
    return cohort


def current_cohort() -> CohortFilter:
    """The cohort filter of this session: from the URL on first load, then from the sidebar."""
    if _STATE not in st.session_state:
        st.session_state[_STATE] = _from_query_params()
    return st.session_state[_STATE]


def requested_values() -> CohortFilter:
    """The filter values this session asks for (a link's or the viewer's), without the intake
    dates: what a page passes to ``filter_options`` so a long list still offers them."""
    return current_cohort().with_(intake_from=None, intake_to=None)


def show_link_notes() -> None:
    """Show (once) what was changed or ignored in the link's parameters."""
    for note in st.session_state.pop(_NOTES, None) or ():
        st.warning(note, icon=":material/link_off:")


def check_choice_param(param: str, allowed: list[str] | tuple[str, ...], label: str) -> None:
    """Before a widget bound to ``param`` is drawn: a value it does not offer is removed from
    the URL with a warning (the widget then starts from its default)."""
    value = st.query_params.get(param)
    if value is not None and value not in allowed and label == "measure" and allowed \
            and value in active_settings().measure_names:  # a configured measure without scores here
        del st.query_params[param]
        st.info(no_scores_note([str(value)], allowed[0]), icon=":material/info:")
    elif value is not None and value not in allowed:
        del st.query_params[param]
        st.warning(f"The link's {label} {str(value)[:40]!r} is not available here; the default is shown.",
                   icon=":material/link_off:")


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


def no_scores_note(measures: list[str], shown: str | None = None) -> str:
    """What a page says when a link asks for a measure without scores here (issue 15, item 16)."""
    names = ", ".join(md(m[:40]) for m in measures[:5])
    one = len(measures) == 1
    return (f"There are no {names} scores for the clients here, so the link's "
            f"{'measure was' if one else 'measures were'} left out" + (f"; the page shows {md(shown)}." if shown else "."))


def _log_dropped(param: str, dropped: list[str]) -> None:
    """URL filter values the viewer may not pick (outside their scope, or no such value) are
    dropped silently on the page and recorded as "denied" in the access log."""
    if dropped:
        shown = ", ".join(repr(v)[:80] for v in dropped[:5])
        log_denied(detail=f"filter {param}: {len(dropped)} value(s) not offered to this viewer: {shown}")


def cohort_filter_sidebar(options: FilterOptions, *, fields: tuple[str, ...] | None = None,
                          intake: bool = True, intake_months: list[str] | None = None) -> CohortFilter:
    """Render the filters in the sidebar and return the chosen cohort.

    Only values the viewer may see are offered; unknown values from a URL are dropped.
    ``intake_months`` ("YYYY-MM", for de-identified viewers): whole-month pickers instead of
    day-level dates (analytics snaps the bounds anyway: analytics.scope.coarsen_cohort).
    """
    cohort = current_cohort()
    show_link_notes()
    chosen: dict[str, object] = {}
    no_scores: list[str] = []
    typed_before: dict[str, list[str]] = st.session_state.pop(_TYPED, None) or {}
    typed_now: dict[str, list[str]] = {}
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
                dropped = [v for v in requested if v not in allowed]
                _log_dropped(param, dropped)
                if param == "measure":  # measures are no secret: a link's measure without scores is said
                    no_scores = [v for v in requested if v not in allowed]
                unknown = [v for v in typed_before.get(param, ()) if v in dropped]
                if unknown:  # the same words for a value out of scope and one that does not exist
                    st.warning(f"No {label.lower()} {', '.join(repr(v[:40]) for v in unknown[:5])} among the "
                               "clients you may see.", icon=":material/search_off:")
            # A long list (a national network's therapists) offers its first values and the
            # requested ones; any other value of the scope can be typed exactly and is looked up.
            partial = options.is_partial(param)
            search = partial and param in options.searchable
            hint = None
            if partial:
                hint = (f"The first {len(allowed):,} of {options.available[param]:,} are listed"
                        + ("; type an exact value to find any other." if search else "."))
            picked = st.multiselect(label, allowed, key=key, placeholder="All", help=hint,
                                    accept_new_options=search)
            typed = [v for v in picked if v not in allowed]
            if typed:
                typed_now[param] = typed
            chosen[field] = tuple(picked)
        if intake and intake_months is not None:
            chosen["intake_from"], chosen["intake_to"] = _month_pickers(cohort, intake_months)
        elif intake:
            key = "filter_intake"
            if key not in st.session_state:
                st.session_state[key] = tuple(d for d in (cohort.intake_from, cohort.intake_to) if d)
            period = st.date_input("Intake between", key=key, format="YYYY-MM-DD",
                                   min_value=EARLIEST_DATE, max_value=LATEST_DATE)
            period = tuple(period) if isinstance(period, (list, tuple)) else (period,)
            chosen["intake_from"] = period[0] if len(period) >= 1 else None
            chosen["intake_to"] = period[1] if len(period) == 2 else None
        else:
            chosen["intake_from"], chosen["intake_to"] = cohort.intake_from, cohort.intake_to
    if no_scores:
        st.info(no_scores_note(no_scores), icon=":material/info:")
    new = CohortFilter.of(**chosen)
    st.session_state[_STATE] = new
    _write_query_params(new)
    if typed_now:  # looked up on the next run (the page asks filter_options for them), kept if in scope
        st.session_state[_TYPED] = typed_now
        for param in typed_now:
            del st.session_state[f"filter_{param}"]
        st.rerun()
    return new


def _month_pickers(cohort: CohortFilter, months: list[str]) -> tuple[date | None, date | None]:
    """Intake from / to as whole months (first day of the first, last day of the last)."""
    picked = []
    for key, label, day in (("filter_intake_from_month", "Intake from (month)", cohort.intake_from),
                            ("filter_intake_to_month", "Intake to (month)", cohort.intake_to)):
        if key not in st.session_state:
            wanted = f"{day:%Y-%m}" if day else None
            st.session_state[key] = wanted if wanted in months else None
        picked.append(st.selectbox(label, months, key=key, placeholder="Any"))
    start, end = picked
    if start and end and start > end:
        start, end = end, start
    # Imported here, not at the top: the de-identified module loads the QI model, which the
    # server's warm-up (ui/serve.py) loads in the background, not ``import ui``.
    from analytics.deidentified import month_bounds

    return month_bounds(start, end)
