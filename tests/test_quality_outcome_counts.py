"""Quality improvement, issue 12: the end-of-treatment outcomes of discharged clients are counted in
the database (quality_outcome_counts*.sql, macro discharge_outcome_counts) and only aggregates come
back, never one row per client. The counts, the tables by discharge period and unit, and the whole
report must be those of the pandas path they replace (tests/support/quality_reference.py: one row per
discharged client merged with client_paired_outcomes / client_outcomes and summed in pandas), for
both outcome definitions, every period grouping, filters and every kind of viewer.

On the 300-client sample clinic (tests/conftest.py) and a tiny clinic with a programme not recorded."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from analytics import ClinicDatabase, CohortFilter, Viewer
from analytics.config import active_settings
from analytics.db import load_sql
from analytics.quality_improvement import model
from analytics.quality_improvement.model import (
    AUTO_PERIOD,
    NOT_RECORDED,
    OUTCOME_COUNT_KEYS,
    OUTCOME_PERIODS,
    UNIT_TYPES,
    DischargeOutcomes,
    discharge_outcomes,
    outcomes_by_discharge,
    paired_outcome_choice,
    quality_report,
    report_dates,
    report_period,
    unit_outcomes,
)
from tests.support import quality_reference as reference
from tests.support.clinics import TINY_ASSIGNMENTS, TINY_CLIENTS, TINY_SCORES, TINY_SESSIONS, import_clinic

LOCAL = Viewer.local()
QI = Viewer(role="qi", email="qi@clinic.org")  # aggregates only: every report is de-identified
THERAPIST = Viewer(role="therapist", email="t6@clinic.org", therapist_id="T006")
SUPERVISOR = Viewer(role="supervisor", email="s@clinic.org", clinics=("Northside", "Harbour"))
PAIRED = paired_outcome_choice(active_settings())
KEY = "outcome-counts-test-pseudonym-key-0123456789"

VIEWERS = {"local": LOCAL, "qi": QI, "therapist T006": THERAPIST, "supervisor Northside+Harbour": SUPERVISOR}
COHORTS = {
    "all": None,
    "clinic": CohortFilter.of(clinics=["Northside"]),
    "programme + concern": CohortFilter.of(programs=["Depression CBT", "Anxiety CBT"], concerns=["depression"]),
    "measures PHQ-9": CohortFilter.of(measures=["PHQ-9"]),
    "intake 2025": CohortFilter.of(intake_from=date(2025, 1, 1), intake_to=date(2025, 12, 31)),
}


def _period(db: ClinicDatabase, viewer: Viewer, months: int | None) -> tuple[date, date]:
    dates = report_dates(db, viewer)
    return report_period(dates["as_of"], months, dates["first_intake"])


def _reference_units(finished: pd.DataFrame, unit_type: str) -> pd.DataFrame:
    """The reference unit table; NOT_RECORDED units keep their label."""
    return reference.unit_outcomes(finished, unit_type)


# Every viewer over its whole scope, and the local viewer with each filter.
COUNT_CASES = [(v, "all", m) for v in VIEWERS for m in (12, None)] + [
    ("local", c, 24) for c in COHORTS if c != "all"] + [("qi", "intake 2025", 12), ("therapist T006", "clinic", None)]


@pytest.mark.parametrize("measure", [PAIRED, "PHQ-9", "GAD-7"])
@pytest.mark.parametrize(("viewer", "cohort", "months"), COUNT_CASES)
def test_counts_in_the_database_match_the_pandas_path(sample_db, measure, viewer, cohort, months):
    who, filters = VIEWERS[viewer], COHORTS[cohort]
    start, end = _period(sample_db, who, months)
    counted = discharge_outcomes(sample_db, who, filters, measure, start, end)
    finished = reference.finished_clients(sample_db, who, filters, measure, start, end)
    assert counted.total == reference.outcome_counts(finished)
    for grouping in OUTCOME_PERIODS:
        pd.testing.assert_frame_equal(outcomes_by_discharge(counted, grouping),
                                      reference.outcomes_by_discharge(finished, start, end, grouping))
    for unit_type in UNIT_TYPES:
        pd.testing.assert_frame_equal(unit_outcomes(counted, unit_type), _reference_units(finished, unit_type))


def test_the_sample_comparison_is_not_vacuous(sample_db):
    """The comparisons above see clients in every state: finished or not, recovered, improved, deteriorated."""
    start, end = _period(sample_db, LOCAL, None)
    for measure in (PAIRED, "PHQ-9"):
        total = discharge_outcomes(sample_db, LOCAL, None, measure, start, end).total
        assert total["discharged"] > total["finished"] > total["caseness_at_first"] > total["recovered"] > 0
        assert total["reliable_improvement"] > total["reliable_recovery"] > 0
        assert total["reliable_deterioration"] > 0


def test_only_aggregates_leave_the_database(sample_db):
    """One row per discharge month, unit and the total: no client id, fewer rows than discharged clients."""
    start, end = _period(sample_db, LOCAL, None)
    settings = active_settings()
    for name in ("quality_outcome_counts", "quality_outcome_counts_paired"):
        assert "cohort_clients($cohort)" in load_sql(name)
    counted = discharge_outcomes(sample_db, LOCAL, None, PAIRED, start, end, settings)
    assert set(counted.months.columns) == {"month", *OUTCOME_COUNT_KEYS}
    for unit_type in UNIT_TYPES:
        assert set(counted.units[unit_type].columns) == {"unit", *OUTCOME_COUNT_KEYS}
    rows = len(counted.months) + sum(len(u) for u in counted.units.values()) + 1
    assert rows < counted.total["discharged"]


def test_an_empty_period_counts_zero(sample_db):
    start, end = date(2020, 1, 1), date(2020, 6, 30)  # before the first intake
    for measure in (PAIRED, "PHQ-9"):
        counted = discharge_outcomes(sample_db, LOCAL, None, measure, start, end)
        finished = reference.finished_clients(sample_db, LOCAL, None, measure, start, end)
        assert counted.total == dict.fromkeys(OUTCOME_COUNT_KEYS, 0)
        for grouping in OUTCOME_PERIODS:
            pd.testing.assert_frame_equal(outcomes_by_discharge(counted, grouping),
                                          reference.outcomes_by_discharge(finished, start, end, grouping))
        for unit_type in UNIT_TYPES:
            assert unit_outcomes(counted, unit_type).empty and _reference_units(finished, unit_type).empty


@pytest.fixture(scope="module")
def unrecorded_db(tmp_path_factory: pytest.TempPathFactory):
    """The tiny clinic with C2's programme not recorded (C1, C2 and C4 discharged in 2025)."""
    clients = TINY_CLIENTS.replace("C2,North,T1,Depression CBT,", "C2,North,T1,,")
    assert clients != TINY_CLIENTS
    path = import_clinic(tmp_path_factory.mktemp("unrecorded"), clients=clients, sessions=TINY_SESSIONS,
                         assignments=TINY_ASSIGNMENTS, scores=TINY_SCORES)
    with ClinicDatabase(path) as db:
        yield db


def test_a_unit_not_recorded_is_counted_under_its_label(unrecorded_db):
    start, end = date(2025, 1, 1), date(2025, 12, 31)
    for measure in ("PHQ-9", "GAD-7"):
        counted = discharge_outcomes(unrecorded_db, LOCAL, None, measure, start, end)
        finished = reference.finished_clients(unrecorded_db, LOCAL, None, measure, start, end)
        programmes = unit_outcomes(counted, "program").set_index("unit")
        assert list(programmes.index) == sorted(["Depression CBT", NOT_RECORDED])
        assert programmes.loc[NOT_RECORDED, "discharged"] == 1  # C2
        for unit_type in UNIT_TYPES:
            pd.testing.assert_frame_equal(unit_outcomes(counted, unit_type), _reference_units(finished, unit_type))
        pd.testing.assert_frame_equal(outcomes_by_discharge(counted, "month"),
                                      reference.outcomes_by_discharge(finished, start, end, "month"))


# ----------------------------------------------------------------------------- the whole report


def _reference_counts(db, viewer, cohort, measure, period_start, period_end, settings=None, *,
                      therapists=True) -> DischargeOutcomes:
    """:func:`discharge_outcomes` as the pandas path counted it (per-client rows summed in pandas)."""
    assert therapists  # the sample clinic's few therapists are always compared
    finished = reference.finished_clients(db, viewer, cohort, measure, period_start, period_end, settings)
    months = reference._outcome_flags(finished).groupby(
        finished["discharge_date"].dt.to_period("M").dt.start_time.to_numpy()).sum()
    months = months.rename_axis("month").reset_index()
    if finished.empty:
        months = pd.DataFrame(columns=["month", *OUTCOME_COUNT_KEYS])
    units = {u: reference.unit_outcomes(finished, u)[["unit", *OUTCOME_COUNT_KEYS]] for u in UNIT_TYPES}
    return DischargeOutcomes(period_start, period_end, months, units, reference.outcome_counts(finished))


def _tables(report) -> dict[str, tuple]:
    tables = {t.name: t for t in report.tables()}
    if report.summary is not None:
        tables["period_summary"] = report.summary
    return {name: (t.title, t.display, t.numeric, t.note) for name, t in tables.items()}


REPORTS = {
    "page default: de-identified, 24 months, auto, largest clinic": (LOCAL, COHORTS["clinic"], {"months": 24}),
    "qi, 12 months by month": (QI, None, {"months": 12, "outcome_period": "month"}),
    "qi, all months, auto, GAD-7": (QI, None, {"months": None, "measure": "GAD-7"}),
    "identified, 24 months by quarter, PHQ-9": (LOCAL, None, {"months": 24, "outcome_period": "quarter",
                                                               "measure": "PHQ-9", "deidentified": False}),
    "identified, all months by 12 months": (LOCAL, COHORTS["intake 2025"], {"months": None, "deidentified": False,
                                                                            "outcome_period": "12 months"}),
    "therapist, identified, auto": (THERAPIST, None, {"months": 24, "deidentified": False}),
    "therapist, de-identified, 12 months, auto": (THERAPIST, None, {"months": 12}),
    "supervisor, programme filter, quarter": (SUPERVISOR, COHORTS["programme + concern"],
                                              {"months": 12, "outcome_period": "quarter"}),
    "measure filter, auto": (LOCAL, COHORTS["measures PHQ-9"], {"months": 24, "deidentified": False}),
}


@pytest.mark.parametrize("case", list(REPORTS))
def test_the_report_is_the_same_as_from_the_pandas_path(sample_db, monkeypatch, case):
    monkeypatch.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", KEY)
    viewer, cohort, args = REPORTS[case]
    args = {"outcome_period": AUTO_PERIOD, **args}
    report = quality_report(sample_db, viewer, cohort, **args)
    with monkeypatch.context() as patched:
        patched.setattr(model, "discharge_outcomes", _reference_counts)
        before = quality_report(sample_db, viewer, cohort, **args)
    assert (report.measure, report.outcome_period, report.period_choice, report.outcome_gaps) == (
        before.measure, before.outcome_period, before.period_choice, before.outcome_gaps)
    assert report.flag_summary == before.flag_summary
    ours, theirs = _tables(report), _tables(before)
    assert ours.keys() == theirs.keys()
    for name in ours:
        title, display, numeric, note = ours[name]
        assert (title, note) == theirs[name][::3], name
        pd.testing.assert_frame_equal(display, theirs[name][1], obj=f"{name} display")
        pd.testing.assert_frame_equal(numeric, theirs[name][2], obj=f"{name} numeric")
    for ours_panel, theirs_panel in zip(report.funnels, before.funnels, strict=True):
        if ours_panel.metric in ("recovery", "reliable_improvement"):  # the homework panels are not counted here
            assert ours_panel.centre == theirs_panel.centre, (ours_panel.unit_type, ours_panel.metric)
    assert report.trends_outcomes is not None and report.summary is not None
