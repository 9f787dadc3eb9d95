"""The wellbeing clinic: a test-only higher-is-better measure added through the settings file,
and six clients whose changes cross its thresholds both ways (tests/test_outcome_definitions.py,
tests/test_measure_direction_texts.py, tests/test_caseload.py)."""

from __future__ import annotations

from pathlib import Path

from analytics.config import load_settings
from tests.support.clinics import fixture_csv, import_clinic, write_csv

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
DIRECTION_CLIENTS = fixture_csv("support_wellbeing_clinic", "direction_clients")
DIRECTION_SESSIONS = fixture_csv("support_wellbeing_clinic", "direction_sessions")
DIRECTION_ASSIGNMENTS = fixture_csv("support_wellbeing_clinic", "direction_assignments")
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


def build_direction_clinic(directory: Path) -> tuple[Path, Path]:
    """The wellbeing clinic (higher is better) imported with its settings file; (database, settings file)."""
    config = write_csv(directory / "settings.toml", WELLBEING_SETTINGS)
    path = import_clinic(directory, settings=load_settings(config), clients=DIRECTION_CLIENTS,
                         sessions=DIRECTION_SESSIONS, assignments=DIRECTION_ASSIGNMENTS, scores=DIRECTION_SCORES)
    return path, config
