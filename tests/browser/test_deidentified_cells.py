"""De-identified tables in headless Chromium tell the truth about what they hide (issue 15 item 1).

The quality-improvement page opens de-identified (the local admin's "De-identified" toggle is on
by default). Over the last 12 months, with outcomes by discharge month, its outcome trend table
and the clinic and therapist comparison tables hide cells on the 400-client e2e clinic. Their CSVs,
downloaded in the browser, are checked cell by cell against the same report built identified
(suppression off) from the database the server reads: a cell reading "<11" (the policy's marker
of a small count) hides a true count of 1-10, never 11 or more; a true count of 1-10 reads "<11"
(never a number, never "suppressed"); a cell hidden to protect another reads "suppressed".
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest

from analytics import ClinicDatabase, Viewer, active_settings, filter_options
from analytics.privacy import WITHHELD_TEXT, settings_policy
from analytics.publishing import PublishedTable
from analytics.quality_improvement.model import (
    FUNNEL_METRICS,
    PERIOD_CHOICES,
    UNIT_LABELS,
    outcome_choices,
    pseudonym_key,
    quality_report,
    therapist_pseudonym,
)
from tests.support.browser import (
    assert_no_errors,
    choose_in_selectbox,
    download_csv,
    open_page,
    rerun,
    screenshot,
    wait_settled,
)
from tests.support.clinics import APP_TODAY

pytestmark = pytest.mark.browser

PERIOD = "Last 12 months"  # months with few discharges per therapist: small counts on this clinic
GROUPING = "month"
UNIT_TYPES = ("clinic", "therapist")
MARKER = settings_policy(active_settings()).marker_text  # "<11"


def _rows(table: PublishedTable) -> list[dict[str, str]]:
    """The table's CSV as the download holds it (the same bytes the page offers), read back as text."""
    return list(csv.DictReader(io.StringIO(table.csv_bytes().decode("utf-8-sig"))))


def _count(text: str) -> int | None:
    t = text.replace(",", "").strip()
    return int(t) if t.isdigit() else None


def check_truthful(name: str, published: list[dict[str, str]], truth: list[dict[str, str]], count_headers: set[str],
                   label: str, rename: dict[str, str]) -> tuple[int, int]:
    """Every published cell against the identified table (rows matched by their label, therapist
    ids by pseudonym); returns how many cells read the marker and how many "suppressed"."""
    true_rows = {rename.get(r[label], r[label]): r for r in truth}
    assert {r[label] for r in published} == set(true_rows), name
    markers = withheld = 0
    for row in published:
        true_row = true_rows[row[label]]
        for header, cell in row.items():
            assert header in true_row, (name, header)
            true_count = _count(true_row[header]) if header in count_headers else None
            if cell == MARKER:
                markers += 1
                assert header in count_headers, (name, row[label], header)  # only a count reads "<11"
                assert true_count is not None and 1 <= true_count <= 10, (name, row[label], header, true_count)
            elif cell == WITHHELD_TEXT:
                withheld += 1
            if true_count is not None and 1 <= true_count <= 10:
                assert cell == MARKER, (name, row[label], header, true_count, cell)
    return markers, withheld


def _click_segment(page: Any, key: str, name: str) -> None:
    segment = page.locator(f".st-key-{key}").get_by_role("radio", name=name, exact=True)
    if segment.get_attribute("aria-checked") != "true":
        rerun(page, segment.click)


def test_no_de_identified_cell_reads_small_unless_its_count_is_1_to_10(page, e2e_clinic, monkeypatch):
    monkeypatch.setenv("BETWEEN_SESSIONS_TODAY", APP_TODAY)  # the server's today
    viewer = Viewer.local()
    with ClinicDatabase(e2e_clinic.db_path) as db:
        measure = outcome_choices(active_settings(), filter_options(db, viewer).get("measure", []))[0]
        args = {"measure": measure, "months": PERIOD_CHOICES[PERIOD], "outcome_period": GROUPING}
        published = quality_report(db, viewer, None, deidentified=True, **args)
        truth = quality_report(db, viewer, None, deidentified=False, **args)
    key, _ = pseudonym_key(viewer)
    checked: dict[str, tuple[int, int]] = {}

    def check(name: str, downloaded: list[dict[str, str]], table: PublishedTable, true_table: PublishedTable,
              rename: dict[str, str] | None = None) -> None:
        # The browser's CSV is exactly the de-identified report's table (same settings as the page).
        assert downloaded == _rows(table), name
        counts = {c.csv_header for c in table.columns if c.kind == "count"}
        checked[name] = check_truthful(name, downloaded, _rows(true_table), counts, table.columns[0].csv_header,
                                       rename or {})

    # The page opens de-identified for the local admin; choose the period and monthly outcomes.
    open_page(page, "quality_improvement")
    assert page.locator(".st-key-qi_deidentified input").is_checked()
    choose_in_selectbox(page, "Period", PERIOD)
    _click_segment(page, "qi_grouping", GROUPING.capitalize())
    assert_no_errors(page)

    # The outcome trend table (by discharge month).
    page.get_by_text(f"Table: {published.trends_outcomes.title}").click()
    _, rows = download_csv(page.locator(".st-key-csv_outcomes"), "CSV")
    check("trends_outcomes", rows, published.trends_outcomes, truth.trends_outcomes)
    screenshot(page, "deidentified-qi-trends")

    # Comparisons: every funnel table of clinics and of therapists (pseudonyms).
    rerun(page, lambda: page.get_by_role("tab", name="Comparisons").click())
    therapists = {str(t): therapist_pseudonym(str(t), key)
                  for t in truth.funnel("therapist", "quantity").table.numeric["unit"].iloc[:-1]}
    for unit_type in UNIT_TYPES:
        _click_segment(page, "qi_unit_type", UNIT_LABELS[unit_type])
        wait_settled(page)
        for metric in FUNNEL_METRICS:
            table = published.funnel(unit_type, metric).table
            _, rows = download_csv(page.locator(f".st-key-csv_{unit_type}_{metric}"), re.compile("^CSV"))
            check(table.name, rows, table, truth.funnel(unit_type, metric).table,
                  therapists if unit_type == "therapist" else None)
        screenshot(page, f"deidentified-qi-comparisons-{unit_type}")
    assert_no_errors(page)

    assert len(checked) == 1 + len(UNIT_TYPES) * len(FUNNEL_METRICS)
    markers = sum(m for m, _ in checked.values())
    withheld = sum(w for _, w in checked.values())
    # Not vacuous: on this clinic and period, cells are hidden both ways, in the trends and the comparisons.
    assert markers > 0 and withheld > 0, checked
    assert checked["trends_outcomes"][0] > 0, checked
    assert sum(checked[f"funnel_therapist_{m}"][0] for m in FUNNEL_METRICS) > 0, checked
