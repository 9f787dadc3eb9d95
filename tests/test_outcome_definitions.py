"""Outcome definitions (issue 11, items 3, 6, 7 and 13), each on a small hand-built clinic.

Every expected value is worked out by hand in the test, with the arithmetic in a comment.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics import ClinicDatabase, Settings, Viewer, import_files
from analytics import cohort as co
from analytics.client_review import client_review
from analytics.config import load_settings
from analytics.meeting_pack import pack_content
from analytics.metrics import client_outcomes, cohort_summary
from analytics.quality import (
    ALERT_ALL,
    ALERT_GROUP_DONE,
    ALERT_GROUP_LITTLE,
    ALERT_GROUP_NONE,
    ALERT_GROUP_RISK,
    alert_clients,
    quality_report,
)
from tests.conftest import FIXTURE_TODAY, ROOT, write_csv

LOCAL = Viewer.local()


def build_clinic(directory: Path, settings: Settings | None = None, **tables: str) -> Path:
    """Import the CSV texts (clients, sessions, assignments, scores) through the real importer."""
    directory.mkdir(parents=True, exist_ok=True)
    files = [write_csv(directory / f"{name}.csv", text) for name, text in tables.items()]
    path = directory / "clinic.duckdb"
    result = import_files(path, files, today=FIXTURE_TODAY, settings=settings)
    assert result.exit_code == 0, result.report()
    return path


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
RISK_CLIENTS = """
client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date
R1,North,T1,Depression CBT,depression,2026-10-01,
R2,North,T1,Depression CBT,depression,2026-09-01,
R3,North,T2,Depression CBT,depression,2026-09-01,
R4,South,T2,Depression CBT,depression,2026-09-01,
R5,South,T2,Depression CBT,depression,2026-09-01,
"""
RISK_SESSIONS = """
client_id,session_date,attended,session_number
R4,2026-10-30,true,9
"""
RISK_ASSIGNMENTS = """
assignment_id,client_id,assigned_date,homework_type,quantity_rating,quality_rating,reviewed_date
Q2,R2,2026-10-20,thought_record,4,4,2026-10-27
Q3,R3,2026-10-20,thought_record,1,1,2026-10-27
Q4,R4,2026-10-20,thought_record,4,3,2026-10-27
"""
RISK_SCORES = """
client_id,measure,administered_date,total_score,item_9
R1,PHQ-9,2026-10-08,6,1
R2,PHQ-9,2026-09-01,16,0
R2,PHQ-9,2026-10-27,15,1
R3,PHQ-9,2026-09-01,16,0
R3,PHQ-9,2026-10-27,15,0
R4,PHQ-9,2026-09-01,16,0
R4,PHQ-9,2026-10-27,15,0
R5,PHQ-9,2026-09-01,16,0
R5,PHQ-9,2026-10-27,8,0
"""


@pytest.fixture(scope="module")
def risk_db(tmp_path_factory: pytest.TempPathFactory):
    path = build_clinic(tmp_path_factory.mktemp("risk"), clients=RISK_CLIENTS, sessions=RISK_SESSIONS,
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

# A clearly labelled TEST-ONLY higher-is-better measure, shaped like a wellbeing scale (14-70),
# added through the settings file: at caseness when the score is 40 or LESS; reliable change
# 8 points. (Not a published definition: only the direction matters here.)
WELLBEING = "WELLBEING-TEST"
WELLBEING_SETTINGS = f"""
[measures."{WELLBEING}"]
description = "Test-only wellbeing scale (higher is better)"
direction = "higher"
min_score = 14
max_score = 70
item_count = 14
item_min = 1
item_max = 5
bands = [[14, "low"], [41, "moderate"], [45, "average"], [60, "high"]]
caseness_threshold = 40
reliable_change = 8
"""
# W1 30 -> 52: improvement +22 >= 8 (reliable improvement); 30 <= 40 at caseness at first,
#     52 > 40 not at the last: recovered (and reliably recovered).
# W2 55 -> 40: improvement 40 - 55 = -15 <= -8 (reliable deterioration); 55 > 40 not at caseness
#     at first: not recovered. W2 is still in treatment (no discharge): an alert.
# W3 38 -> 41: +3 (not reliable), crosses out of caseness: recovered but not reliably.
# W4 35 -> 36: +1; W5 42 -> 44: +2; W6 33 -> 48: +15 (reliable improvement, recovered).
DIRECTION_CLIENTS = """
client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date
W1,North,T1,Wellbeing,low mood,2026-06-01,2026-08-31
W2,North,T1,Wellbeing,low mood,2026-06-01,
W3,North,T2,Wellbeing,low mood,2026-06-01,2026-08-31
W4,South,T2,Wellbeing,low mood,2026-06-01,2026-08-31
W5,South,T3,Wellbeing,low mood,2026-06-01,2026-08-31
W6,South,T3,Wellbeing,low mood,2026-06-01,2026-08-31
"""
DIRECTION_SESSIONS = """
client_id,session_date,attended,session_number
W1,2026-06-01,true,1
W1,2026-08-31,true,12
W2,2026-06-01,true,1
W2,2026-10-26,true,20
"""
DIRECTION_ASSIGNMENTS = """
assignment_id,client_id,assigned_date,homework_type,quantity_rating,quality_rating,reviewed_date
V1,W1,2026-06-01,thought_record,4,4,2026-06-08
V2,W2,2026-06-01,thought_record,2,2,2026-06-08
V3,W3,2026-06-01,thought_record,3,3,2026-06-08
V4,W4,2026-06-01,thought_record,1,1,2026-06-08
V5,W5,2026-06-01,thought_record,2,2,2026-06-08
V6,W6,2026-06-01,thought_record,4,3,2026-06-08
"""
DIRECTION_SCORES = f"""
client_id,measure,administered_date,total_score
W1,{WELLBEING},2026-06-01,30
W1,{WELLBEING},2026-08-31,52
W2,{WELLBEING},2026-06-01,55
W2,{WELLBEING},2026-10-26,40
W3,{WELLBEING},2026-06-01,38
W3,{WELLBEING},2026-08-31,41
W4,{WELLBEING},2026-06-01,35
W4,{WELLBEING},2026-08-31,36
W5,{WELLBEING},2026-06-01,42
W5,{WELLBEING},2026-08-31,44
W6,{WELLBEING},2026-06-01,33
W6,{WELLBEING},2026-08-31,48
"""


@pytest.fixture(scope="module")
def direction_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("direction")
    config = write_csv(directory / "settings.toml", WELLBEING_SETTINGS)
    path = build_clinic(directory, load_settings(config), clients=DIRECTION_CLIENTS, sessions=DIRECTION_SESSIONS,
                        assignments=DIRECTION_ASSIGNMENTS, scores=DIRECTION_SCORES)
    return path, config


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
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    notes = [a.get("text") for a in figure["layout"]["annotations"]]
    assert "caseness \u2264 40" in notes
    assert any("higher is better" in (n or "") for n in notes)
    shapes = [s for s in figure["layout"]["shapes"] if s.get("type") == "rect"]
    lowest = min(shapes, key=lambda s: s["y0"])
    assert lowest["fillcolor"] == "#f8d7da"  # the lowest band is the worst on a higher-is-better scale

    at = AppTest.from_file(str(ROOT / "pages" / "cohort_outcomes.py"), default_timeout=60)
    at.query_params["outcome_measure"] = WELLBEING
    at.run()
    assert not at.exception, at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Reliable improvement"] == "2" and shown["Reliable deterioration"] == "1"
    captions = " ".join(c.value for c in at.caption)
    assert "positive = improvement" in captions
