"""Deep links with bad parameters (issue 10, item 14): every URL parameter is validated into a
safe state with a message; no page crashes and the session stays usable on the next page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.clinics import ROOT

COHORT = str(ROOT / "pages" / "cohort_outcomes.py")
QUALITY = str(ROOT / "pages" / "quality_improvement.py")
REVIEW = str(ROOT / "pages" / "client_review.py")

BAD_LINKS = {
    # The crash: reversed intake dates far apart.
    "reversed": ({"intake_from": "2025-12-01", "intake_to": "1990-01-01"}, "reversed"),
    "garbage": ({"intake_from": "not-a-date", "intake_to": "2025-13-45", "section": "<script>",
                 "outcome_measure": "PHQ-99", "compliance": "Nope", "clinic": "x" * 5000}, "not a date"),
    "out of range": ({"intake_from": "0001-01-01", "intake_to": "9999-12-31"}, "outside 1900 to 2100"),
}


def _run(page: str, query: dict) -> AppTest:
    at = AppTest.from_file(page, default_timeout=90)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    return at


def _warnings(at: AppTest) -> str:
    return "\n".join(str(w.value) for w in at.warning)


@pytest.mark.parametrize("page", [COHORT, QUALITY, REVIEW], ids=["cohort", "quality", "client_review"])
@pytest.mark.parametrize("case", list(BAD_LINKS))
def test_bad_link_gives_a_warning_and_the_session_moves_on(app_db, page, case):
    query, message = BAD_LINKS[case]
    at = _run(page, query)
    assert not at.exception, [e.value for e in at.exception]
    assert message in _warnings(at)
    # The cohort in the session is safe: ordered, and within the range a date widget can hold.
    state = at.session_state["_cohort_filter"]
    if state.intake_from and state.intake_to:
        assert state.intake_from <= state.intake_to
    for day in (state.intake_from, state.intake_to):
        assert day is None or 1900 <= day.year <= 2100
    # The error does not follow the session: every other page opens.
    for other in (COHORT, QUALITY, REVIEW):
        if other == page:
            continue
        at.switch_page(other)
        at.run()
        assert not at.exception, (other, [e.value for e in at.exception])
        assert message not in _warnings(at)  # the note is shown once, where the link arrived


def test_reversed_dates_are_put_in_order_not_dropped(app_db):
    at = _run(COHORT, {"intake_from": "2025-12-01", "intake_to": "2024-01-01"})
    assert not at.exception
    state = at.session_state["_cohort_filter"]
    assert (str(state.intake_from), str(state.intake_to)) == ("2024-01-01", "2025-12-01")
    assert "2024-01-01 to 2025-12-01" in _warnings(at)
    assert at.query_params["intake_from"] == ["2024-01-01"] or at.query_params["intake_from"] == "2024-01-01"


def test_unknown_choice_parameters_fall_back_with_a_warning(app_db):
    at = _run(COHORT, {"outcome_measure": "PHQ-99", "section": "Nope"})
    assert not at.exception
    text = _warnings(at)
    assert "measure 'PHQ-99' is not available" in text and "section 'Nope' is not available" in text
    assert at.segmented_control(key="outcome_measure").value == "PHQ-9"
