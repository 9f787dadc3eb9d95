"""Drill-down: from a client id in a table, a client's point on a chart or a unit's point on a
funnel plot to the page that shows it in detail (issue 15, item 10). Identified viewers only:
de-identified views carry no client id and no real unit name, so they get no link.

One place for every deep link the pages build: :func:`client_review_href` (the client review
of one client, relative to the app so that it works under a base URL path), and the links a
chart selection gives (:func:`client_links`, :func:`unit_links`) from Streamlit's selection
event (``st.plotly_chart(..., on_select="rerun")``): each point's first ``customdata`` value
is its client id or unit name as Plotly text (:func:`analytics.text.plotly_text`: ``&``, ``<``
and ``>`` as entities), read back by :func:`selected_values`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

#: The pages a selection links to (``st.page_link`` takes the page's file).
CLIENT_REVIEW_PAGE = "pages/client_review.py"
COHORT_OUTCOMES_PAGE = "pages/cohort_outcomes.py"
#: At most this many links under a chart for one selection (a box of 300 clients gives 10).
MAX_SELECTED_LINKS = 10
#: The cohort filter's query parameter for each funnel unit type (ui.filters.FILTER_FIELDS).
UNIT_FILTER_PARAMS = {"clinic": "clinic", "therapist": "therapist", "program": "program"}
UNIT_NAMES = {"clinic": "clinic", "therapist": "therapist", "program": "programme"}
#: Units that are not a value of the filter (the funnel's row for a missing clinic or programme).
UNLINKED_UNITS = frozenset({"(not recorded)"})


@dataclass(frozen=True)
class DrillLink:
    """One link under a chart: its label, the page (file) and the page's query parameters."""

    label: str
    page: str
    query_params: dict[str, str] = field(default_factory=dict)

    @property
    def href(self) -> str:
        """The link as a relative URL (``client_review?client=ID``)."""
        path = self.page.removeprefix("pages/").removesuffix(".py")  # relative: works under a base URL path
        query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in self.query_params.items())
        return f"{path}?{query}" if query else path


def client_review_href(client_id: str) -> str:
    """Deep link to one client's review, relative to the app (``client_review?client=ID``)."""
    return DrillLink("", CLIENT_REVIEW_PAGE, {"client": str(client_id)}).href


def selected_values(selection: Mapping[str, Any] | None, limit: int = MAX_SELECTED_LINKS) -> list[str]:
    """The first ``customdata`` value of each selected point, in the order selected, each once,
    at most ``limit``. ``selection``: the event ``st.plotly_chart(..., on_select="rerun")``
    returns (``{"selection": {"points": [{"customdata": [...], ...}, ...], ...}}``) or its
    ``selection`` part. Points without customdata (lines, limits) give nothing. The values are
    Plotly text (:func:`analytics.text.plotly_text`), turned back into the ids and names."""
    if not selection:
        return []
    inner = selection.get("selection", selection)
    points = (inner or {}).get("points") or []
    out: list[str] = []
    for point in points:
        data = point.get("customdata") if isinstance(point, Mapping) else None
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        value = "" if data is None else html.unescape(str(data))
        if value == "" or value in out:
            continue
        out.append(value)
        if len(out) >= limit:
            break
    return out


def client_links(selection: Mapping[str, Any] | None, *, identified: bool,
                 limit: int = MAX_SELECTED_LINKS) -> list[DrillLink]:
    """"Open the review of client X" for each selected client (points carry the client id as
    their first customdata); none for a de-identified view."""
    if not identified:
        return []
    return [DrillLink(f"Open the review of client {c}", CLIENT_REVIEW_PAGE, {"client": c})
            for c in selected_values(selection, limit)]


def unit_links(selection: Mapping[str, Any] | None, unit_type: str, *, identified: bool,
               limit: int = MAX_SELECTED_LINKS) -> list[DrillLink]:
    """A link to the Cohort outcomes page filtered to each selected funnel unit (a clinic,
    therapist or programme: the points' first customdata); none for a de-identified view
    (its therapists are pseudonyms, not values of the filter)."""
    if not identified or unit_type not in UNIT_FILTER_PARAMS:
        return []
    param, name = UNIT_FILTER_PARAMS[unit_type], UNIT_NAMES[unit_type]
    return [DrillLink(f"Open the cohort outcomes of {name} {u}", COHORT_OUTCOMES_PAGE, {param: u})
            for u in selected_values(selection, limit) if u not in UNLINKED_UNITS]


__all__ = [
    "CLIENT_REVIEW_PAGE",
    "COHORT_OUTCOMES_PAGE",
    "MAX_SELECTED_LINKS",
    "DrillLink",
    "client_links",
    "client_review_href",
    "selected_values",
    "unit_links",
]
