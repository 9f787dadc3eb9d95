"""Outcome definitions (issue 11, items 3, 6, 7 and 13), each on a small hand-built clinic.

Every expected value is worked out by hand in the test, with the arithmetic in a comment.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import ClinicDatabase, Settings, Viewer, theme
from analytics.client_review.model import client_review
from analytics.cohort_outcomes import model as co
from analytics.config import load_settings
from analytics.metrics import Rate, client_outcomes, cohort_summary, nhs_paired_rates
from analytics.quality_improvement.meeting_pack import pack_content
from analytics.quality_improvement.model import (
    ALERT_ALL,
    ALERT_GROUP_DONE,
    ALERT_GROUP_LITTLE,
    ALERT_GROUP_NONE,
    ALERT_GROUP_RISK,
    alert_clients,
    quality_report,
)
from tests.support.charts import drawn_charts
from tests.support.clinics import ROOT, fixture_csv, import_clinic, write_csv
from tests.support.wellbeing_clinic import WELLBEING, WELLBEING_SETTINGS, build_direction_clinic

LOCAL = Viewer.local()


# ----------------------------------------------------------------------------- item 13: risk group

# Report date = the latest session or score date = 2026-10-30. Homework window: the 4 weeks up
# to it, 2026-10-03 .. 2026-10-30.
# R1: intake 2026-10-01, one PHQ-9 of 6 in week 1 with item 9 = 1, no homework: flagged for
#     risk only (6 < 10: not at caseness; 4.1 weeks < 6 anyway). Before the fix it landed in
#     "Little homework done" (no homework reviewed).
# R2: PHQ-9 16 -> 15 (change -1, not reliable), 59 days = 8.4 weeks, item 9 = 1 at the latest
#     score, homework 4/4 = 100%: meets caseness AND risk; before the fix "Homework done, still
#     not improving"; now the risk group.
# R3: as R2 without item 9; homework 1/4 = 25% < 50%: little homework done.
# R4: as R3 with homework 4/4 = 100%: homework done, still not improving.
# R5: PHQ-9 16 -> 8 (change -8 <= -6: reliable improvement; 8 < 10): not flagged.
RISK_CLIENTS = fixture_csv("test_outcome_definitions", "risk_clients")
RISK_SESSIONS = """
client_id,session_date,attended,session_number
R4,2026-10-30,true,9
"""
RISK_ASSIGNMENTS = fixture_csv("test_outcome_definitions", "risk_assignments")
RISK_SCORES = fixture_csv("test_outcome_definitions", "risk_scores")


@pytest.fixture(scope="module")
def risk_db(tmp_path_factory: pytest.TempPathFactory):
    path = import_clinic(tmp_path_factory.mktemp("risk"), clients=RISK_CLIENTS, sessions=RISK_SESSIONS,
                         assignments=RISK_ASSIGNMENTS, scores=RISK_SCORES)
    with ClinicDatabase(path) as db:
        yield db


def test_risk_is_its_own_group_never_explained_by_homework(risk_db):
    alerts = alert_clients(risk_db, LOCAL).set_index("client_id")
    assert tuple(alerts.loc["R1", ["rule_caseness", "rule_deterioration", "rule_risk"]]) == (False, False, True)
    assert tuple(alerts.loc["R2", ["rule_caseness", "rule_deterioration", "rule_risk"]]) == (True, False, True)
    assert alerts.loc["R1", "group"] == ALERT_GROUP_RISK  # not "little homework done"
    assert alerts.loc["R2", "group"] == ALERT_GROUP_RISK  # not "homework done, still not improving"
    assert alerts.loc["R2", "recent_quantity"] == pytest.approx(1.0)  # 4 / 4
    assert alerts.loc["R3", "group"] == ALERT_GROUP_LITTLE  # 1 / 4 = 25% < 50%
    assert alerts.loc["R4", "group"] == ALERT_GROUP_DONE  # 4 / 4 = 100%
    assert alerts.loc["R5", "group"] == ALERT_GROUP_NONE
    # The risk reason comes first in the explanation, before the caseness rule.
    assert alerts.loc["R2", "reasons"].startswith("PHQ-9 item 9 above 0 (2026-10-27)")


def test_risk_group_listed_first_in_counts_list_and_meeting_pack(risk_db):
    report = quality_report(risk_db, LOCAL, deidentified=False)
    counts = report.alert_counts.numeric
    # Rows in order: risk, little homework, homework done, not flagged, all.
    assert list(counts["group"]) == [ALERT_GROUP_RISK, ALERT_GROUP_LITTLE, ALERT_GROUP_DONE, ALERT_GROUP_NONE,
                                     ALERT_ALL]
    assert list(counts["clients"]) == [2, 1, 1, 1, 5]  # R1 R2 | R3 | R4 | R5 | all five
    listing = report.alert_list.numeric
    assert set(listing["client_id"].iloc[:2]) == {"R1", "R2"}
    assert list(listing["group"].iloc[:2]) == [ALERT_GROUP_RISK, ALERT_GROUP_RISK]
    header = " ".join(pack_content(report).header_lines)
    assert "2 with a risk flag" in header
    assert "1 with little homework done" in header
    assert "1 with homework done but still not improving" in header


# ----------------------------------------------------------------------------- item 3: direction

@pytest.fixture(scope="module")
def direction_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_direction_clinic(tmp_path_factory.mktemp("direction"))


@pytest.fixture
def direction_db(direction_files):
    with ClinicDatabase(direction_files[0]) as db:
        yield db


def test_direction_is_read_from_the_settings_file(direction_files):
    settings = load_settings(direction_files[1])
    wellbeing = settings.measure(WELLBEING)
    assert wellbeing.direction == "higher" and wellbeing.higher_is_better
    assert settings.measure("PHQ-9").direction == "lower"  # the shipped measures keep their default
    assert wellbeing.at_caseness(40) is True and wellbeing.at_caseness(41) is False  # <= 40
    assert wellbeing.improvement(30, 52) == 22 and wellbeing.improvement(55, 40) == -15


def test_a_bad_direction_is_refused_with_a_clear_message(tmp_path):
    bad = write_csv(tmp_path / "bad.toml", WELLBEING_SETTINGS.replace('direction = "higher"', 'direction = "up"'))
    with pytest.raises(ValueError, match=r"measure 'WELLBEING-TEST': direction 'up' is not one of 'lower', 'higher'"):
        load_settings(bad)


def test_higher_is_better_outcomes(direction_db, direction_files):
    settings = load_settings(direction_files[1])
    out = client_outcomes(direction_db, LOCAL, None, settings).set_index("client_id")
    w1, w2, w3 = out.loc["W1"], out.loc["W2"], out.loc["W3"]
    assert (w1["change"], w1["improvement"]) == (22, 22)  # 52 - 30, same sign on a higher-is-better scale
    assert bool(w1["reliable_improvement"]) and not bool(w1["reliable_deterioration"])
    assert bool(w1["caseness_at_first"]) and not bool(w1["caseness_at_last"]) and bool(w1["recovered"])
    assert (w2["change"], w2["improvement"]) == (-15, -15)
    assert bool(w2["reliable_deterioration"]) and not bool(w2["reliable_improvement"])
    assert not bool(w2["caseness_at_first"]) and bool(w2["caseness_at_last"]) and not bool(w2["recovered"])
    assert bool(w3["recovered"]) and not bool(w3["reliable_improvement"])  # +3 < 8
    m = cohort_summary(direction_db, LOCAL, None, settings)["measures"][WELLBEING]
    # Reliable improvement: W1 (+22), W6 (+15) = 2; deterioration: W2 = 1.
    # At caseness at first (<= 40): W1 30, W3 38, W4 35, W6 33 = 4; recovered: W1, W3, W6 = 3 -> 75%.
    assert (m["reliable_improvement"], m["reliable_deterioration"]) == (2, 1)
    assert (m["caseness_at_first"], m["recovered"], m["recovery_rate"]) == (4, 3, 0.75)


def test_higher_is_better_jacobson_truax(direction_db, direction_files):
    settings = load_settings(direction_files[1])
    result = co.clinical_significance(direction_db, LOCAL, None, (co.JTNorms(WELLBEING, 0.8),), settings)
    # First scores 30 55 38 35 42 33: mean 233 / 6 = 38.833; squared deviations 78.03 + 261.36 + 0.69
    # + 14.69 + 10.03 + 34.03 = 398.83; SD = sqrt(398.83 / 5) = 8.931. S_diff = 8.931 sqrt(2 (1 - 0.8))
    # = 5.649; reliable beyond 1.96 x 5.649 = 11.07 points. Improved (higher is better): W1 +22,
    # W6 +15; deteriorated: W2 -15; unchanged: +3, +1, +2.
    params = result.parameters.set_index("measure").loc[WELLBEING]
    assert params["reliable_change_points"] == pytest.approx(11.07, abs=0.01)
    counts = result.categories.set_index("category")["clients"].to_dict()
    assert counts == {"improved": 2, "unchanged": 3, "deteriorated": 1}


def test_higher_is_better_alerts_and_badges(direction_db, direction_files):
    settings = load_settings(direction_files[1])
    # On 2026-10-26 W2 (intake 2026-06-01, 21 weeks) fell 55 -> 40: reliable deterioration and
    # at caseness (40 <= 40) without reliable improvement.
    alerts = alert_clients(direction_db, LOCAL, as_of=date(2026, 10, 26), settings=settings).set_index("client_id")
    assert tuple(alerts.loc["W2", ["rule_caseness", "rule_deterioration"]]) == (True, True)
    assert f"{WELLBEING}: reliable deterioration" in alerts.loc["W2", "reasons"]
    review = client_review(direction_db, LOCAL, "W1", as_of=date(2026, 11, 27), settings=settings)
    card = review.cards[0]
    assert [b for b, _ in card["badges"]] == ["Reliable improvement", "Reliable recovery"]
    assert card["caseness_text"] == "caseness \u2264 40"
    review = client_review(direction_db, LOCAL, "W2", as_of=date(2026, 11, 27), settings=settings)
    assert [b for b, _ in review.cards[0]["badges"]] == ["Reliable deterioration", "At caseness"]


@pytest.fixture
def direction_app(direction_files, serve_database, monkeypatch):
    monkeypatch.setenv("BETWEEN_SESSIONS_CONFIG", str(direction_files[1]))
    return serve_database(direction_files[0])


def test_pages_render_a_higher_is_better_measure(direction_app):
    at = AppTest.from_file(str(ROOT / "pages" / "client_review.py"), default_timeout=60)
    at.query_params["client"] = "W1"
    at.run()
    assert not at.exception, at.exception
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert ":green-badge[Reliable recovery]" in badges and ":green-badge[Reliable improvement]" in badges
    figure = json.loads(drawn_charts(at)[0].spec)
    notes = [a.get("text") for a in figure["layout"]["annotations"]]
    assert any("dashed line: caseness \u2264 40" in (n or "") for n in notes)  # in the title, not over the data
    assert any("higher is better" in (n or "") for n in notes)
    shapes = [s for s in figure["layout"]["shapes"] if s.get("type") == "rect"]
    lowest = min(shapes, key=lambda s: s["y0"])
    assert lowest["fillcolor"] == theme.SEVERITY_FILLS[-1]  # the lowest band is the worst on a higher-is-better scale

    at = AppTest.from_file(str(ROOT / "pages" / "cohort_outcomes.py"), default_timeout=60)
    at.query_params["outcome_measure"] = WELLBEING
    at.run()
    assert not at.exception, at.exception
    shown = {m.label: m.value for m in at.metric}
    improvement = next(k for k in shown if k.startswith("Reliable improvement ("))  # labelled with its fixed points
    deterioration = next(k for k in shown if k.startswith("Reliable deterioration ("))
    assert shown[improvement] == "2" and shown[deterioration] == "1"
    captions = " ".join(c.value for c in at.caption)
    assert "positive = improvement" in captions


# ----------------------------------------------------------------------------- item 7: one baseline rule

# B1: intake 2026-03-02, discharged 2026-05-11. A referral screening PHQ-9 of 24 on 2026-02-10
# (20 days before intake), then 16 at intake, 14, 12 and 10 on 2026-04-13 (week 6).
#   From the screening score the change would be 10 - 24 = -14; from intake 10 - 16 = -6.
#   Default rule (baseline window 0 days): the baseline is 16 everywhere -> -6.
#   With a 30-day window the screening score is the baseline everywhere -> -14.
# B2: in treatment; screening 22 on 2026-08-01, intake 2026-09-01 score 14, 13 on 2026-10-20.
#   Default rule: 13 - 14 = -1, at caseness after 7 weeks, not reliably improved -> alert.
#   (From the screening score, 13 - 22 = -9 would read as a reliable improvement.)
# B3: only a screening score (2026-08-20, before intake 2026-09-01): no baseline, no outcome.
BASELINE_CLIENTS = fixture_csv("test_outcome_definitions", "baseline_clients")
BASELINE_SESSIONS = fixture_csv("test_outcome_definitions", "baseline_sessions")
BASELINE_ASSIGNMENTS = fixture_csv("test_outcome_definitions", "baseline_assignments")
BASELINE_SCORES = fixture_csv("test_outcome_definitions", "baseline_scores")


@pytest.fixture(scope="module")
def baseline_db(tmp_path_factory: pytest.TempPathFactory):
    path = import_clinic(tmp_path_factory.mktemp("baseline"), clients=BASELINE_CLIENTS, sessions=BASELINE_SESSIONS,
                         assignments=BASELINE_ASSIGNMENTS, scores=BASELINE_SCORES)
    with ClinicDatabase(path) as db:
        yield db


def _baseline_views(db: ClinicDatabase, settings: Settings) -> dict[str, float]:
    """B1's change and starting score as each view computes it."""
    from analytics.scope import query_params

    days = settings.baseline_days_before_intake
    outcome = client_outcomes(db, LOCAL, None, settings).set_index("client_id").loc["B1"]
    # B1 is the one client with a band (three reviewed assignments): the trajectory's means are its scores.
    trajectory = db.query("cohort_score_trajectory", co.client_query_params(LOCAL, None, "PHQ-9", settings, max_week=20))
    assert set(trajectory["n_clients"]) == {1}
    intervals = db.query("cohort_score_intervals", query_params(
        LOCAL, None, measure="PHQ-9", max_gap_days=co.MAX_INTERVAL_DAYS, max_clients=100, baseline_days=days,
        unreviewed_as_not_done=False))
    intervals = intervals[intervals["client_id"] == "B1"]
    review = client_review(db, LOCAL, "B1", as_of=date(2026, 11, 27), settings=settings)
    return {
        "headline_change": float(outcome["change"]),
        "headline_first": float(outcome["first_score"]),
        "trajectory_week0": float(trajectory.set_index("week").loc[0, "mean_score"]),
        "trajectory_change": float(trajectory.set_index("week").loc[6, "mean_score"]
                                   - trajectory.set_index("week").loc[0, "mean_score"]),
        "within_first": float(intervals["score"].iloc[0]),
        "review_change": float(review.cards[0]["change_value"]),
    }


def test_one_baseline_everywhere_by_default(baseline_db):
    views = _baseline_views(baseline_db, Settings())
    # Baseline = the intake score 16 in every view; change 10 - 16 = -6 (not -14 from the screening 24).
    assert views == {"headline_change": -6.0, "headline_first": 16.0, "trajectory_week0": 16.0,
                     "trajectory_change": -6.0, "within_first": 16.0, "review_change": -6.0}


def test_a_configured_baseline_window_moves_every_view_together(baseline_db):
    views = _baseline_views(baseline_db, Settings(baseline_days_before_intake=30))
    # The screening score (20 days before intake) is now inside the window: the baseline is 24 in
    # every view. Trajectory week 0 = mean of 24 (dated before intake, counted as week 0) and 16 = 20,
    # so its week-6 change is 10 - 20 = -10; the headline change is 10 - 24 = -14. The
    # within-client model uses score intervals with homework set in them; no homework can be set
    # before intake (an import rule), so its first interval still starts at the intake score 16.
    assert views == {"headline_change": -14.0, "headline_first": 24.0, "trajectory_week0": 20.0,
                     "trajectory_change": -10.0, "within_first": 16.0, "review_change": -14.0}


def test_alerts_use_the_same_baseline(baseline_db):
    alerts = alert_clients(baseline_db, LOCAL, as_of=date(2026, 10, 20)).set_index("client_id")
    # 49 days = 7 weeks since intake; 13 - 14 = -1: at caseness without reliable improvement.
    assert bool(alerts.loc["B2", "rule_caseness"]) is True
    relaxed = alert_clients(baseline_db, LOCAL, as_of=date(2026, 10, 20),
                            settings=Settings(baseline_days_before_intake=31)).set_index("client_id")
    assert bool(relaxed.loc["B2", "rule_caseness"]) is False  # 13 - 22 = -9: reliable improvement


# ----------------------------------------------------------------------------- item 6: NHS paired outcomes

# Paired scores = PHQ-9 and GAD-7 on the same date. Caseness: PHQ-9 >= 10 OR GAD-7 >= 8.
# Reliable change: PHQ-9 6, GAD-7 4 points. All intakes 2026-06-01; N1-N8 discharged 2026-09-07.
# N1 PHQ 14 -> 8 (-6 reliable), GAD 9 -> 6 (-3): caseness at start, neither at end: recovered,
#    reliably improved (one measure, none deteriorated): reliable recovery.
# N2 PHQ 6 -> 5, GAD 8 -> 7: the 1-point drop across the GAD-7 cut-off: recovered, NOT reliable
#    recovery (no reliable change).
# N3 PHQ 12 -> 8 (-4), GAD 12 -> 10: still at caseness on GAD-7: not recovered (per measure, PHQ-9
#    alone reads "recovered").
# N4 PHQ 8 -> 16 (+8 reliable), GAD 5 -> 2 (-3): not at caseness at start; reliable deterioration.
# N5 PHQ 15 -> 8 (-7 reliable), GAD 6 -> 12 (+6 reliable): at caseness; GAD 12 at the end: not
#    recovered; one up, one down: neither reliable improvement nor deterioration.
# N6 one paired score only (the later PHQ-9 has no GAD-7): not finished.
# N7 two paired scores, but one attended session of two on record: not finished.
# N8 two paired scores and no session on record (requirement skipped): PHQ 11 -> 4 (-7), GAD 9 -> 3
#    (-6): recovered, reliable recovery.
# N9 in treatment (not discharged): not in the finished (discharged) figures.
# Finished: N1 N2 N3 N4 N5 N8 = 6; at caseness at start: N1 N2 N3 N5 N8 = 5 (N4 not);
# recovered N1 N2 N8 = 3 -> 3 / (6 - 1) = 60%; reliable recovery N1 N8 = 2 -> 40%;
# reliable improvement N1 N8 = 2 of 6; reliable deterioration N4 = 1 of 6.
PAIRED_CLIENTS = "client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date\n" + "".join(
    f"N{i},North,T{1 + i % 2},Mixed CBT,anxiety,2026-06-01,{'2026-09-07' if i < 9 else ''}\n" for i in range(1, 10)
)
PAIRED_SESSIONS = "client_id,session_date,attended,session_number\n" + "".join(
    f"N{i},2026-06-01,true,1\nN{i},2026-08-24,{'false' if i == 7 else 'true'},2\n" for i in (1, 2, 3, 4, 5, 6, 7, 9)
)
PAIRED_ASSIGNMENTS = fixture_csv("test_outcome_definitions", "paired_assignments")
_PAIRS = {  # client: (PHQ first, PHQ last, GAD first, GAD last)
    "N1": (14, 8, 9, 6), "N2": (6, 5, 8, 7), "N3": (12, 8, 12, 10), "N4": (8, 16, 5, 2),
    "N5": (15, 8, 6, 12), "N7": (16, 4, 12, 3), "N8": (11, 4, 9, 3),
}
PAIRED_SCORES = "client_id,measure,administered_date,total_score\n" + "".join(
    f"{c},PHQ-9,2026-06-01,{p0}\n{c},PHQ-9,2026-08-24,{p1}\n{c},GAD-7,2026-06-01,{g0}\n{c},GAD-7,2026-08-24,{g1}\n"
    for c, (p0, p1, g0, g1) in _PAIRS.items()
) + """N6,PHQ-9,2026-06-01,13
N6,GAD-7,2026-06-01,9
N6,PHQ-9,2026-08-24,12
N9,PHQ-9,2026-06-01,14
N9,GAD-7,2026-06-01,10
N9,PHQ-9,2026-10-30,5
N9,GAD-7,2026-10-30,4
"""


@pytest.fixture(scope="module")
def paired_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_clinic(tmp_path_factory.mktemp("paired"), clients=PAIRED_CLIENTS, sessions=PAIRED_SESSIONS,
                         assignments=PAIRED_ASSIGNMENTS, scores=PAIRED_SCORES)


@pytest.fixture
def paired_db(paired_path):
    with ClinicDatabase(paired_path) as db:
        yield db


def test_nhs_paired_definitions_per_client(paired_db):
    from analytics.metrics import client_paired_outcomes

    out = client_paired_outcomes(paired_db, LOCAL, None, Settings()).set_index("client_id")
    columns = ["finished", "caseness_at_first", "recovered", "reliable_improvement", "reliable_deterioration",
               "reliable_recovery"]

    def flags(cid: str) -> tuple:
        return tuple(None if v is pd.NA else bool(v) for v in out.loc[cid, columns])

    assert flags("N1") == (True, True, True, True, False, True)
    assert flags("N2") == (True, True, True, False, False, False)  # GAD-7 8 -> 7: recovered, not reliably
    assert flags("N3") == (True, True, False, False, False, False)
    assert flags("N4") == (True, False, False, False, True, False)
    assert flags("N5") == (True, True, False, False, False, False)  # one up, one down: neither
    assert flags("N6") == (False, None, None, None, None, None)  # one paired score
    assert flags("N7") == (False, None, None, None, None, None)  # one attended session
    assert flags("N8") == (True, True, True, True, False, True)  # no sessions on record


def test_nhs_paired_rates_in_the_cohort_summary(paired_db):
    nhs = cohort_summary(paired_db, LOCAL, None, Settings())["nhs_paired"]
    assert nhs["measures"] == ["PHQ-9", "GAD-7"]
    assert (nhs["finished"], nhs["caseness_at_first"], nhs["not_caseness_at_first"]) == (6, 5, 1)
    assert (nhs["recovered"], nhs["reliable_recovery"]) == (3, 2)
    assert nhs["recovery_rate"] == pytest.approx(3 / 5)  # 60%
    assert nhs["reliable_recovery_rate"] == pytest.approx(2 / 5)  # 40%
    assert (nhs["reliable_improvement"], nhs["reliable_deterioration"]) == (2, 1)
    assert nhs["reliable_improvement_rate"] == pytest.approx(2 / 6)
    assert nhs["reliable_deterioration_rate"] == pytest.approx(1 / 6)
    # The summary's rates are the one definition (metrics.nhs_paired_rates, which also recomputes
    # NHS England's published rates, tests/test_nhs_talking_therapies.py) on these counts: the
    # recovery denominator is finished - not at caseness at the start = 6 - 1 = 5.
    rates = nhs_paired_rates(finished=6, not_caseness_at_start=1, recovered=3, reliable_recovery=2,
                             reliable_improvement=2, reliable_deterioration=1)
    assert (rates["recovery_rate"], rates["reliable_improvement_rate"]) == (Rate(3, 5), Rate(2, 6))
    assert {name: nhs[name] for name in rates} == {name: rate.value for name, rate in rates.items()}


def test_the_standard_line_uses_the_paired_definitions(paired_db):
    from analytics.quality_improvement.charts import outcomes_figure

    report = quality_report(paired_db, LOCAL, months=None, deidentified=False)
    assert report.measure == "PHQ-9 + GAD-7, NHS paired"  # the default outcome choice
    total = report.trends_outcomes.numeric.set_index("period").loc["All"]
    assert (total["finished"], total["caseness_at_first"], total["recovered"]) == (6, 5, 3)
    assert total["recovery_rate"] == pytest.approx(0.6)
    assert (total["reliable_improvement"], total["reliable_deterioration"]) == (2, 1)
    assert (total["reliable_recovery"], total["reliable_recovery_rate"]) == (2, pytest.approx(0.4))  # N1 N8 / 5
    funnel = report.funnel("clinic", "recovery").table.numeric
    assert (funnel["n"].iloc[-1], funnel["numerator"].iloc[-1]) == (5, 3)
    figure = outcomes_figure(report.trends_outcomes, report.measure)
    assert any(a.text == "NHS recovery standard 50%" for a in figure.layout.annotations)
    # One measure on its own: labelled "per measure", and the standard line is not drawn.
    per_measure = quality_report(paired_db, LOCAL, months=None, deidentified=False, measure="GAD-7")
    assert "per measure" in per_measure.trends_outcomes.title
    figure = outcomes_figure(per_measure.trends_outcomes, per_measure.measure)
    assert not any(a.text == "NHS recovery standard 50%" for a in figure.layout.annotations)
    assert "GAD-7, per measure" in figure.layout.title.text


def test_a_one_point_drop_across_the_cut_off_is_not_badged_recovered(paired_db):
    review = client_review(paired_db, LOCAL, "N2", as_of=date(2026, 11, 27), settings=Settings())
    gad = next(c for c in review.cards if c["measure"] == "GAD-7")
    labels = [b for b, _ in gad["badges"]]
    assert "Recovered" not in labels and "Reliable recovery" not in labels
    assert labels == ["Out of caseness, change not reliable"]  # 8 -> 7: -1 < 4 points


@pytest.fixture
def paired_app(paired_path, serve_database):
    return serve_database(paired_path)


def test_cohort_headline_shows_nhs_paired_and_per_measure_rates(paired_app):
    at = AppTest.from_file(str(ROOT / "pages" / "cohort_outcomes.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Recovery, NHS paired"] == "60.0%"
    assert shown["Reliable recovery, NHS paired"] == "40.0%"
    # PHQ-9 per measure: paired clients N1-N9 (N6 13 -> 12 counts on PHQ-9 alone); at caseness
    # (>= 10) at the first score: N1 14, N3 12, N5 15, N6 13, N7 16, N8 11, N9 14 = 7; recovered
    # (< 10 at the last): N1 8, N3 8, N5 8, N7 4, N8 4, N9 5 = 6 -> 85.7%.
    assert shown["Recovery rate (per measure)"] == "85.7%"


def test_screening_scores_only_give_no_outcome_and_say_why(baseline_db):
    outcomes = client_outcomes(baseline_db, LOCAL, None, Settings())
    assert "B3" not in set(outcomes["client_id"])  # 2026-08-20 < intake 2026-09-01: screening only
    review = client_review(baseline_db, LOCAL, "B3", as_of=date(2026, 11, 27), settings=Settings())
    assert review.states[0] == "screening_only" and review.cards == ()
    assert len(review.scores) == 1  # the screening score is still listed (and drawn)
