"""De-identified views (issue 10, items 3-5): no figure a de-identified viewer sees may give a
small count away, whether directly, through a status or limits, through a complement, by
narrowing the filters to a few clients or by differencing two adjacent filter settings."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from analytics import ClinicDatabase, Viewer
from analytics.privacy import WITHHELD_TEXT, SuppressionPolicy
from analytics.quality_improvement.meeting_pack import meeting_pack_csvs, meeting_pack_zip
from analytics.quality_improvement.model import (
    FLAG_STATUSES,
    OUTSIDE_STATUSES,
    STATUS_WITHHELD,
    _funnel_panel,
    quality_report,
)

KEY = "deidentified-tests-pseudonym-key-0123456789"
QI = Viewer(role="qi", email="qi@org")
LIMITS = ["lower_99_8", "lower_95", "upper_95", "upper_99_8"]


@pytest.fixture(scope="module")
def qi_reports(sample_db_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", KEY)
        with ClinicDatabase(sample_db_path) as db:
            yield {months: quality_report(db, QI, months=months) for months in (12, 24, None)}


# ----------------------------------------------------------------------------- item 5


def test_funnel_panel_withheld_rate_5_of_19_gets_no_status_and_no_limits():
    """The issue's case: a unit's rate 5/19 is withheld (5 is small); its n (19) is shown.
    Before the fix it kept "Below 95% limit" and its limits, which narrow the rate to 4 or 5."""
    units = pd.DataFrame({"unit": ["A", "B", "C"], "n": [19, 60, 61], "numerator": [5, 40, 39]})
    units["value"] = units["numerator"] / units["n"]
    overall = {"n": 140, "numerator": 84, "value": 84 / 140}
    panel = _funnel_panel("clinic", "recovery", units, overall, SuppressionPolicy(), 5)
    numeric, display = panel.table.numeric, panel.table.display
    a = numeric[numeric["unit"] == "A"].iloc[0]
    assert pd.isna(a["value"]) and a["n"] == 19  # the rate is withheld, the n is shown
    assert a["status"] == STATUS_WITHHELD
    assert a[LIMITS].isna().all()
    row = display[display["Clinic"] == "A"].iloc[0]
    assert row["Recovery (%)"] == "suppressed"
    assert row["Status"] == STATUS_WITHHELD
    assert all(row[c] is None for c in display.columns if "limit" in c)
    # The other units keep their limits and status.
    b = numeric[numeric["unit"] == "B"].iloc[0]
    assert b["status"] in (*OUTSIDE_STATUSES, "Within limits") and b[LIMITS].notna().all()


def test_report_funnels_give_withheld_values_no_status_limits_or_flag(qi_reports):
    withheld_rows = 0
    for months, report in qi_reports.items():
        flagged = set()
        for panel in report.funnels:
            units = panel.table.numeric.iloc[:-1]
            hidden = units[units["value"].isna()]
            withheld_rows += len(hidden)
            assert (hidden["status"] == STATUS_WITHHELD).all(), (months, panel.unit_type, panel.metric)
            assert hidden[LIMITS].isna().all().all(), (months, panel.unit_type, panel.metric)
            assert units.loc[units["status"].isin(OUTSIDE_STATUSES), "value"].notna().all()
            shown = units[units["status"].isin(FLAG_STATUSES)]  # flagged: outside 99.8% (95% is a warning)
            flagged |= {(panel.unit_type, panel.label, u) for u in shown["unit"]}
        flags = report.flags.numeric
        listed = {(t, m, u) for t, m, u in zip(flags["comparison"], flags["metric"], flags["unit"], strict=True)}
        labels = {"Clinics": "clinic", "Therapists": "therapist", "Programmes": "program"}
        assert {(labels[t], m, u) for t, m, u in listed} == flagged, months
        assert flags["value"].notna().all(), months  # no flagged unit with a withheld value
    assert withheld_rows > 0  # the fixture has withheld values with a shown n (the case that leaked)


def _complement_leaks(table) -> list[tuple[str, int]]:
    """Columns where the total minus the shown groups gives a count of 1-10."""
    numeric = table.numeric
    leaks = []
    for header, column in zip(table.count_headers, [c.key for c in table.columns if c.kind == "count"], strict=True):
        total = numeric[column].iloc[-1]
        members = numeric[column].iloc[:-1]
        if pd.isna(total) or not members.isna().any():
            continue
        rest = int(total) - int(members.dropna().sum())
        if 1 <= rest <= 10:
            leaks.append((header, rest))
    return leaks


def test_alert_counts_protect_the_complement_of_the_flagged_groups(qi_reports):
    """"All (49) - Not flagged (40)" gave the number flagged although both flagged groups read "<11"."""
    hidden_members = 0
    for months, report in qi_reports.items():
        table = report.alert_counts
        hidden_members += int(table.numeric["clients"].iloc[:-1].isna().sum())
        assert _complement_leaks(table) == [], months
    assert hidden_members > 0
    for months, report in qi_reports.items():
        for other in (report.trends_activity, report.trends_outcomes):
            if other is not None and other.numeric.iloc[:, 0].iloc[-1] == "All":
                assert _complement_leaks(other) == [], (months, other.name)


def test_meeting_pack_carries_no_status_for_withheld_values_and_no_complement(qi_reports):
    for months, report in qi_reports.items():
        csvs = meeting_pack_csvs(report)
        flags = pd.read_csv(io.BytesIO(csvs["flagged_units.csv"]), encoding="utf-8-sig", dtype=str)
        assert "suppressed" not in set(flags.get("Value (%)", pd.Series(dtype=str))), months
        for panel in report.funnels:
            frame = pd.read_csv(io.BytesIO(csvs[f"{panel.table.name}.csv"]), encoding="utf-8-sig", dtype=str)
            value_header = panel.table.columns[2].header
            units = frame.iloc[:-1]  # the last row is the overall row, which has no status
            hidden = units[units[value_header] == "suppressed"]
            assert (hidden["Status"] == STATUS_WITHHELD).all(), (months, panel.table.name)
            limit_headers = [c for c in frame.columns if "limit" in c]
            assert hidden[limit_headers].isna().all().all(), (months, panel.table.name)
        alerts = pd.read_csv(io.BytesIO(csvs["alert_counts.csv"]), encoding="utf-8-sig", dtype=str)
        for column in alerts.columns[1:]:
            cells = alerts[column].tolist()
            withheld = {"<11", WITHHELD_TEXT}  # a small count, or a count hidden to protect one
            if set(cells[:-1]) & withheld and cells[-1] not in withheld:
                rest = int(cells[-1]) - sum(int(c) for c in cells[:-1] if c not in withheld)
                assert not 1 <= rest <= 10, (months, column, rest)
        with zipfile.ZipFile(io.BytesIO(meeting_pack_zip(report))) as archive:
            assert archive.read("alert_counts.csv") == csvs["alert_counts.csv"]
    assert np.any([int((r.alert_counts.numeric["clients"].isna()).sum()) for r in qi_reports.values()])


# ----------------------------------------------------------------------------- item 3: the cohort page's analytics


from datetime import date, timedelta  # noqa: E402

from analytics import CohortFilter  # noqa: E402
from analytics import deidentified as de  # noqa: E402
from analytics.scope import cohort_for  # noqa: E402


@pytest.fixture
def qi_key(monkeypatch):
    monkeypatch.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", KEY)


def _all_cells(view) -> list[str]:
    cells = [c.display for c in view.headline]
    for table in view.tables():
        cells += [str(v) for v in table.display.to_numpy().ravel()] + list(table.display.columns)
    return cells


def _published_small_counts(view) -> list:
    small = []
    for (row, column), value in de.published_counts(view.bands, None).items():
        if value is not None and 1 <= value <= 10:
            small.append((row, column, value))
    clients = view.headline[0].display
    if clients.isdigit() and 1 <= int(clients) <= 10:
        small.append(("Clients", clients))
    return small


def test_qi_filter_selecting_one_client_shows_only_a_marker(sample_db, qi_key):
    """The issue's attack: one clinic and one intake day selected one client ("Clients 1", a
    one-row band table, CSV downloads)."""
    row = sample_db.execute_sql(
        "SELECT clinic, intake_date, count(*) OVER (PARTITION BY clinic, intake_date) AS n FROM clients "
        "QUALIFY n = 1 ORDER BY intake_date LIMIT 1").iloc[0]
    day = pd.Timestamp(row["intake_date"]).date()
    cohort = CohortFilter.of(clinics=row["clinic"], intake_from=day, intake_to=day)
    view = de.deidentified_cohort_view(sample_db, QI, cohort, "PHQ-9")
    assert view.enough is False
    assert [(c.label, c.display) for c in view.headline] == [("Clients", "<11")]
    assert view.tables() == []
    assert de.deidentified_design(sample_db, QI, cohort) == ()
    assert de.deidentified_within(sample_db, QI, cohort, "PHQ-9") is None


def test_qi_filter_selecting_a_few_clients_publishes_no_small_count(sample_db, qi_key):
    clinic = sample_db.execute_sql("SELECT clinic, count(*) AS n FROM clients GROUP BY 1 ORDER BY n")["clinic"][0]
    cohort = CohortFilter.of(clinics=clinic)
    n = int(sample_db.execute_sql("SELECT count(*) AS n FROM clients WHERE clinic = $c", {"c": clinic})["n"][0])
    assert 11 <= n <= 60  # a few clients: enough for the view, with small bands
    view = de.deidentified_cohort_view(sample_db, QI, cohort, "PHQ-9")
    assert view.enough
    assert _published_small_counts(view) == []
    assert _complement_leaks(view.bands) == []
    assert view.bands.numeric[["paired", "caseness_at_first"]].isna().any().any()  # something small was withheld
    # No per-client rows and no identifiers anywhere.
    ids = set(sample_db.execute_sql("SELECT client_id FROM clients")["client_id"])
    therapists = set(sample_db.execute_sql("SELECT DISTINCT therapist_id FROM clients")["therapist_id"])
    cells = set(_all_cells(view))
    for table in (*de.deidentified_design(sample_db, QI, cohort), de.deidentified_within(sample_db, QI, cohort, "PHQ-9")):
        cells |= {str(v) for v in table.display.to_numpy().ravel()}
        assert not {"n", "n_clients", "clients", "intervals", "reviewed_assignments"} & set(table.numeric.columns)
    assert not cells & (ids | therapists)
    assert all("client_id" not in t.numeric.columns for t in view.tables())
    # Intervals that give their n away are not published: Fisher z of r, Wilson of rates.
    assert not [c for c in view.relations.display.columns if "CI" in c]
    assert not [c for c in view.grid.display.columns if c.startswith("Recovery CI")]
    ours = view.comparison.numeric[view.comparison.numeric["source"] == "This cohort"]
    assert ours[["ci_low", "ci_high"]].isna().all().all()
    # Statistics over fewer than the minimum are withheld: the trajectories keep only weeks with enough clients.
    report_traj = __import__("analytics.cohort_outcomes.model", fromlist=["cohort_report"]).cohort_report(
        sample_db, QI, cohort, "PHQ-9").trajectories
    assert len(view.trajectories.numeric) == int((report_traj["n_clients"] >= 11).sum())


def test_qi_therapist_filter_offers_pseudonyms_and_resolves_them(sample_db, qi_key):
    options = de.deidentified_filter_options(sample_db, QI)
    real = set(sample_db.execute_sql("SELECT DISTINCT therapist_id FROM clients")["therapist_id"])
    assert options["therapist"] and not set(options["therapist"]) & real
    assert all(t.startswith("T-") for t in options["therapist"])
    pseudonym = options["therapist"][0]
    resolved = de.deidentified_cohort(sample_db, QI, CohortFilter.of(therapists=pseudonym))
    assert len(resolved.therapists) == 1 and resolved.therapists[0] in real
    assert de.deidentified_cohort(sample_db, QI, CohortFilter.of(therapists=sorted(real)[0])).therapists != (
        sorted(real)[0],)  # a real id typed into a link matches nobody
    local = de.deidentified_filter_options(sample_db, Viewer.local())
    assert set(local["therapist"]) == real


# ----------------------------------------------------------------------------- item 4: differencing


def test_de_identified_intake_bounds_are_whole_months():
    cohort = CohortFilter.of(intake_from="2025-03-17", intake_to="2025-02-03")  # reversed, mid-month
    assert cohort_for(QI, cohort) == CohortFilter.of(intake_from="2025-02-01", intake_to="2025-03-31")
    assert cohort_for(Viewer.local(), cohort) == cohort
    from analytics.scope import query_params

    params = query_params(QI, CohortFilter.of(intake_to="2024-02-10"))
    assert params["cohort"]["intake_to"] == date(2024, 2, 29)


def test_qi_report_one_day_apart_is_identical(sample_db, qi_key):
    """The issue's case: moving the intake end by one day changed finished 69 -> 70 (on this
    fixture 90 -> 91 on 2025-01-23/24, 92 -> 105 on 2025-02-02/03 before the fix)."""
    everyone = quality_report(sample_db, QI, months=None)
    for end in (date(2025, 1, 23), date(2025, 1, 31), date(2025, 2, 28), date(2025, 6, 2)):
        a = quality_report(sample_db, QI, CohortFilter.of(intake_to=end), months=None)
        b = quality_report(sample_db, QI, CohortFilter.of(intake_from=date(2024, 3, 1), intake_to=end + timedelta(days=1)),
                           months=None)
        for ta, tb, te in zip(a.tables(), b.tables(), everyone.tables(), strict=True):
            pd.testing.assert_frame_equal(ta.display, tb.display)
            pd.testing.assert_frame_equal(ta.display, te.display)
        assert any("intake-date filter does not apply" in note for note in a.notes)
    # The identified view (not for qi) still filters by intake date.
    identified = [quality_report(sample_db, Viewer.local(), c, months=None, deidentified=False)
                  for c in (CohortFilter.of(intake_to=date(2025, 1, 23)), None)]
    finished = [int(r.trends_outcomes.numeric["finished"].iloc[-1]) for r in identified]
    assert finished[0] < finished[1]


def _view_counts(db, cohort, memo):
    key = cohort_for(QI, cohort)  # the view depends on the cohort only through its whole-month form
    if key not in memo:
        view = de.deidentified_cohort_view(db, QI, cohort, "PHQ-9")
        memo[key] = de.published_counts(view.bands, None) | {
            ("Clients", "Clients"): int(view.headline[0].display.replace(",", ""))
            if view.headline[0].display.replace(",", "").isdigit() else None}
    return memo[key]


@pytest.mark.parametrize("clinic", [None, "smallest"])
def test_adjacent_intake_settings_never_differ_by_a_small_count(sample_db, qi_key, clinic):
    """Exhaustive over every intake end (and start) day across three month boundaries: two
    settings one day apart publish counts that are equal, withheld on one side, or 11+ apart."""
    clinics = ()
    if clinic:
        clinics = (sample_db.execute_sql("SELECT clinic, count(*) AS n FROM clients GROUP BY 1 ORDER BY n DESC")
                   ["clinic"].iloc[1],)
    first = pd.Timestamp(sample_db.execute_sql("SELECT min(intake_date) AS d FROM clients")["d"][0]).date()
    start = date(first.year, first.month, 1) + timedelta(days=200)
    memo: dict = {}
    compared = 0
    for which in ("intake_to", "intake_from"):
        days = [start + timedelta(days=k) for k in range(95)]
        fixed = {"intake_from": first} if which == "intake_to" else {"intake_to": start + timedelta(days=400)}
        previous = None
        for day in days:
            counts = _view_counts(sample_db, CohortFilter.of(clinics=clinics, **fixed, **{which: day}), memo)
            if previous is not None:
                for key, value in counts.items():
                    other = previous.get(key)
                    if value is not None and other is not None:
                        assert value == other or abs(value - other) >= 11, (which, day, key, other, value)
                        compared += 1
            previous = counts
    assert len(memo) >= 6 and compared > 0  # month boundaries were crossed and shown counts compared


# ----------------------------------------------------------------------------- item 3: the page as qi


import re  # noqa: E402
import shutil  # noqa: E402

from streamlit.testing.v1 import AppTest  # noqa: E402

from analytics.access import add_user  # noqa: E402
from tests.support.charts import drawn_charts  # noqa: E402
from tests.support.clinics import AUTH, ROOT  # noqa: E402

COHORT_PAGE = str(ROOT / "pages" / "cohort_outcomes.py")
COHORT_TABS = ("Trajectories", "Compliance and change", "Outcomes by band", "Quantity by quality",
               "Assignment design", "Within-client", "Follow-up", "Clinical significance")
TOKEN = re.compile(r"[A-Za-z0-9_]+")


@pytest.fixture
def qi_app(tmp_path, sample_db_path, serve_database, monkeypatch):
    db = tmp_path / "clinic.duckdb"
    shutil.copyfile(sample_db_path, db)
    add_user(db, "qi@org.example", "qi")
    monkeypatch.setenv("BETWEEN_SESSIONS_PSEUDONYM_KEY", KEY)
    monkeypatch.setenv("BETWEEN_SESSIONS_AUDIT_DB", str(tmp_path / "audit.duckdb"))
    serve_database(db)
    with ClinicDatabase(db) as opened:
        yield opened


def _as_qi(**query) -> AppTest:
    at = AppTest.from_file(COHORT_PAGE, default_timeout=90)
    at.secrets = AUTH
    at.user = {"is_logged_in": True, "email": "qi@org.example", "email_verified": True}
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _widget_options(at: AppTest) -> set[str]:
    options: set[str] = set()
    for kind in ("multiselect", "selectbox", "segmented_control"):
        for widget in at.get(kind):
            options |= {str(o) for o in getattr(widget, "options", [])} | {str(widget.value)}
    return options


def _page_text(at: AppTest) -> str:
    parts = [str(e.value) for kind in ("markdown", "caption", "info", "warning", "error", "success") for e in at.get(kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [df.value.to_csv() for df in at.dataframe]
    return "\n".join(parts)


def test_qi_cohort_page_narrowed_to_one_client_shows_nothing(qi_app):
    row = qi_app.execute_sql(
        "SELECT clinic, intake_date, count(*) OVER (PARTITION BY clinic, intake_date) AS n FROM clients "
        "QUALIFY n = 1 ORDER BY intake_date LIMIT 1").iloc[0]
    day = f"{pd.Timestamp(row['intake_date']).date():%Y-%m-%d}"
    at = _as_qi(clinic=row["clinic"], intake_from=day, intake_to=day, section="Outcomes by band")
    assert {m.label: m.value for m in at.metric} == {"Clients": "<11"}
    assert len(at.dataframe) == 0 and len(at.get("download_button")) == 0 and len(drawn_charts(at)) == 0
    assert any("fewer than 11 clients" in w.value for w in at.warning)
    # The intake filter is whole months for this viewer.
    months = {w.label: w.value for w in at.sidebar.selectbox}
    assert months["Intake from (month)"] == months["Intake to (month)"] == day[:7]
    assert not any(d.label == "Intake between" for d in at.get("date_input"))


def test_qi_cohort_page_has_no_identifiers_small_counts_or_client_rows(qi_app):
    real_therapists = set(qi_app.execute_sql("SELECT DISTINCT therapist_id FROM clients")["therapist_id"])
    client_ids = set(qi_app.execute_sql("SELECT client_id FROM clients")["client_id"])
    at = _as_qi()
    therapist = next(w for w in at.sidebar.multiselect if w.label == "Therapist")
    assert therapist.options and not set(therapist.options) & real_therapists
    for section in COHORT_TABS:
        at.query_params["section"] = section
        at.run()
        assert not at.exception, (section, at.exception)
        assert not _widget_options(at) & real_therapists, section
        text = _page_text(at)
        assert not set(TOKEN.findall(text)) & (client_ids | real_therapists), section
        for m in at.metric:
            assert not (m.value.replace(",", "").isdigit() and 1 <= int(m.value.replace(",", "")) <= 10), m
        for frame in at.dataframe:
            assert "Client" not in frame.value.columns, section
            counts = [c for c in frame.value.columns if c in ("Paired clients", "At caseness at first score")]
            for column in counts:
                for cell in frame.value[column]:
                    assert cell in ("<11", WITHHELD_TEXT, "0") or int(str(cell).replace(",", "")) >= 11, (section, column)
        assert len(drawn_charts(at)) == 0  # no scatter of clients (and no chart of withheld points)
    # A narrower cohort through the pseudonymous therapist filter still works and stays suppressed.
    at = _as_qi(therapist=therapist.options[0], section="Outcomes by band")
    assert next(w for w in at.sidebar.multiselect if w.label == "Therapist").value == [therapist.options[0]]
    assert {m.label for m in at.metric} >= {"Clients"}


def test_identified_report_of_a_cohort_with_no_client_in_treatment(sample_db):
    """Found on the way: the identified report crashed (np.select on an empty object column)
    when no client of the cohort was in treatment on the report date."""
    report = quality_report(sample_db, Viewer.local(), CohortFilter.of(intake_to=date(2025, 1, 23)), months=None,
                            deidentified=False)
    assert report.alert_list is not None and report.alert_list.empty
    assert report.alert_counts.numeric["clients"].iloc[-1] == 0


def test_qi_cohort_page_without_a_pseudonym_key_says_so(qi_app, monkeypatch):
    monkeypatch.delenv("BETWEEN_SESSIONS_PSEUDONYM_KEY")
    at = _as_qi()
    assert any("pseudonym key" in e.value for e in at.error)
    assert len(at.metric) == 0 and len(at.dataframe) == 0


# ----------------------------------------------------------------------------- issue 12: aggregated in DuckDB

from dataclasses import replace  # noqa: E402

from analytics.deidentified import (  # noqa: E402
    _adjacent_settings,
    _band_rows,
    _band_windows,
    _guard_adjacent,
    _shift_month,
)
from analytics.quality_improvement.model import suppression_policy  # noqa: E402
from analytics.scope import month_end  # noqa: E402
from tests.support.deidentified_reference import (  # noqa: E402
    guard_adjacent,
    reference_cohort_view,
    reference_frame_with_intake,
    reference_rows_for,
)

QI_TWO_CLINICS = Viewer(role="qi", email="qi2@org", clinics=("Northside", "Harbour"))
VIEW_CASES = {
    "no bounds": (QI, CohortFilter(), "PHQ-9"),
    "intake_from only": (QI, CohortFilter.of(intake_from=date(2024, 9, 15)), "PHQ-9"),
    "intake_to only": (QI, CohortFilter.of(intake_to=date(2025, 6, 30)), "PHQ-9"),
    "both": (QI, CohortFilter.of(intake_from=date(2024, 6, 1), intake_to=date(2025, 9, 30)), "PHQ-9"),
    "single month": (QI, CohortFilter.of(intake_from=date(2025, 3, 1), intake_to=date(2025, 3, 31)), "PHQ-9"),
    "three months": (QI, CohortFilter.of(intake_from=date(2025, 1, 1), intake_to=date(2025, 3, 31)), "PHQ-9"),
    "GAD-7": (QI, CohortFilter.of(intake_from=date(2024, 6, 1), intake_to=date(2025, 9, 30)), "GAD-7"),
    "CORE-10": (QI, CohortFilter(), "CORE-10"),
    "CORE-10 to only": (QI, CohortFilter.of(intake_to=date(2025, 12, 31)), "CORE-10"),
    "one clinic": (QI, CohortFilter.of(clinics="Eastgate", intake_from=date(2024, 5, 1)), "PHQ-9"),
    "clinic-limited viewer": (QI_TWO_CLINICS, CohortFilter(), "PHQ-9"),
    "clinic-limited viewer, both": (QI_TWO_CLINICS, CohortFilter.of(intake_from=date(2024, 8, 1),
                                                                    intake_to=date(2025, 8, 31)), "GAD-7"),
}


def _numbers_match(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    for col in a.columns:
        x, y = a[col], b[col]
        if x.dtype == object and not pd.api.types.is_numeric_dtype(y):
            if [None if _missing(v) else v for v in x] != [None if _missing(v) else v for v in y]:
                return False
            continue
        x = pd.to_numeric(x, errors="coerce").astype(float).to_numpy()
        y = pd.to_numeric(y, errors="coerce").astype(float).to_numpy()
        if not np.array_equal(np.isnan(x), np.isnan(y)) or not np.allclose(x, y, rtol=0, atol=1e-9, equal_nan=True):
            return False
    return True


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


@pytest.mark.parametrize("case", list(VIEW_CASES))
def test_view_aggregated_in_duckdb_matches_the_per_client_reference(sample_db, qi_key, case):
    """deidentified_cohort_view (deidentified_band_windows.sql) publishes what the per-client pandas
    path published (tests/support/deidentified_reference.py): the same headline and table text,
    numbers within 1e-9, the same count columns withheld by the adjacent-month guard."""
    viewer, cohort, measure = VIEW_CASES[case]
    new = de.deidentified_cohort_view(sample_db, viewer, cohort, measure)
    old = reference_cohort_view(sample_db, viewer, cohort, measure)
    assert new.headline == old.headline
    assert (new.enough, new.note, new.minimum) == (old.enough, old.note, old.minimum)
    assert [t.name for t in new.tables()] == [t.name for t in old.tables()]
    for a, b in zip(new.tables(), old.tables(), strict=True):
        assert a.display.astype(object).where(a.display.notna(), None).equals(
            b.display.astype(object).where(b.display.notna(), None)), a.name
        assert _numbers_match(a.numeric, b.numeric), a.name
    settings = de.active_settings()
    policy = suppression_policy(settings)
    scoped = de.deidentified_cohort(sample_db, viewer, cohort)
    groups, windows = _band_windows(sample_db, viewer, scoped, measure, settings)
    hidden = (_guard_adjacent(groups, windows, settings, policy, measure)
              if scoped.intake_from or scoped.intake_to else set())
    assert hidden == guard_adjacent(sample_db, viewer, scoped, measure, settings, policy)
    # Every window's band rows before publishing (the guard's too, whose numbers the tables withhold).
    frame, clients = reference_frame_with_intake(sample_db, viewer, _wide(scoped), measure, settings)
    bounds = [(scoped.intake_from, scoped.intake_to), *_adjacent_settings(scoped.intake_from, scoped.intake_to)]
    assert windows == len(bounds)
    for window, (start, end) in enumerate(bounds):
        n_old, rows_old = reference_rows_for(frame, clients, start, end, settings)
        n_new, rows_new, _ = _band_rows(groups, window, settings)
        assert n_new == n_old, window
        assert _numbers_match(rows_new, rows_old), (window, rows_new, rows_old)


def _wide(cohort):
    start, end = cohort.intake_from, cohort.intake_to
    return replace(cohort, intake_from=_shift_month(start, -1) if start else None,
                   intake_to=month_end(_shift_month(end, 1)) if end else None)


def test_view_brings_no_client_rows_into_python(sample_db, qi_key, monkeypatch):
    """Issue 12: the band table and its adjacent-month guard come back as aggregates (a few rows
    per intake window); no query the view runs returns client ids except the scatter's points
    (cohort_compliance_points, at most MAX_SCATTER_POINTS, whose ids are dropped in Python)."""
    results: list[tuple[str, pd.DataFrame]] = []
    original = ClinicDatabase.execute_sql

    def recording(db, sql, params=None, *, label="query"):
        out = original(db, sql, params, label=label)
        results.append((label, out))
        return out

    monkeypatch.setattr(ClinicDatabase, "execute_sql", recording)
    cohort = CohortFilter.of(intake_from=date(2024, 6, 1), intake_to=date(2025, 9, 30))
    view = de.deidentified_cohort_view(sample_db, QI, cohort, "PHQ-9")
    assert view.enough
    labels = [label for label, _ in results]
    assert labels.count("deidentified_band_windows") == 1
    with_ids = {label for label, out in results if "client_id" in out.columns}
    assert with_ids <= {"cohort_compliance_points"}, with_ids
    (windows,) = [out for label, out in results if label == "deidentified_band_windows"]
    assert len(windows) <= 5 * 6  # the cohort and its four adjacent settings: 3 bands, none, all, window
