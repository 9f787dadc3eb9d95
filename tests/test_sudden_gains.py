"""Sudden-gain detection against the published reference: the R package suddengains' own data
set and test results (tests/data/suddengains_sgdata.csv, source and licence in tests/data/README.md).

The expected figures are that package's: they were computed by an implementation that is not
ours, so equality here means our criteria are the published ones, not merely self-consistent.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analytics.sudden_gains import reliable_change_value, sudden_gains, sudden_gains_matrix
from tests.support.clinics import ROOT, fixture_csv

SGDATA = ROOT / "tests" / "data" / "suddengains_sgdata.csv"
SESSIONS = [f"bdi_s{i}" for i in range(1, 13)]  # sessions 1-12 (intake s0 and follow-ups not tested)
CUTOFF = 7  # the package's tests use a criterion-1 cut-off of 7 BDI-II points


@pytest.fixture(scope="module")
def gains_per_client() -> list[list]:
    data = pd.read_csv(SGDATA).sort_values("id")
    return [sudden_gains([None if pd.isna(v) else v for v in row], CUTOFF)
            for row in data[SESSIONS].itertuples(index=False)]


def test_one_row_per_gain_reproduces_the_package(gains_per_client):
    gains = [g for client in gains_per_client for g in client]
    magnitudes = np.array([g.magnitude for g in gains])
    assert len(gains) == 24
    assert sum(g.reversed for g in gains) == 4  # 16.67%
    assert magnitudes.mean() == pytest.approx(11.0, abs=0.005)
    assert magnitudes.std(ddof=1) == pytest.approx(3.43, abs=0.005)
    in_clients_with_several = sum(len(c) for c in gains_per_client if len(c) > 1)
    assert round(100 * in_clients_with_several / len(gains), 2) == 70.83


def test_one_row_per_client_reproduces_the_package(gains_per_client):
    assert len(gains_per_client) == 43
    first = [c[0] for c in gains_per_client if c]
    assert len(first) == 15  # 34.88%
    assert sum(len(c) > 1 for c in gains_per_client) == 8  # 18.6%
    assert sum(g.reversed for g in first) == 3  # 20%
    magnitudes = np.array([g.magnitude for g in first])
    assert magnitudes.mean() == pytest.approx(11.4, abs=0.005)
    assert magnitudes.std(ddof=1) == pytest.approx(3.98, abs=0.005)


def test_reliable_change_cut_off_reproduces_the_package():
    sd = pd.read_csv(SGDATA)["bdi_s0"].std()  # sample SD of the intake scores
    assert sd == pytest.approx(6.396073, abs=1e-6)
    assert reliable_change_value(sd, 0.931) == pytest.approx(4.65703, abs=1e-5)
    # SEM and S_diff of the same call: SD sqrt(1 - r) and SEM sqrt(2)
    assert sd * math.sqrt(1 - 0.931) == pytest.approx(1.680111, abs=1e-6)
    assert reliable_change_value(10.5, 0.961) == pytest.approx(5.747681, abs=1e-6)
    with pytest.raises(ValueError):
        reliable_change_value(5, 1.2)


@pytest.mark.parametrize(
    ("scores", "gain_after"),
    [
        # The package's four small cases (cut-off 7): the position of the last pre-gain score.
        ((35, 37, 23, 23, 24, 21), [1]),  # 37 -> 23 between the 2nd and 3rd scores
        ((35, 37, 34, 24, 24, 21), [2]),  # 34 -> 24 between the 3rd and 4th
        ((35, 37, 34, 34, 24, 21), [3]),  # 34 -> 24 between the 4th and 5th
        ((35, 37, 34, 37, 37, 37), []),  # no drop at all
    ],
)
def test_small_cases_of_the_package(scores, gain_after):
    assert [g.pre_index for g in sudden_gains(scores, CUTOFF)] == gain_after


def test_each_criterion_on_hand_built_series():
    # A clean gain: 20, 21, 20 -> 10, 9, 10. Drop 10 >= 7 and >= 25% of 20 (5). Means 20.33 and
    # 9.67; SDs 0.577 each, pooled 0.577; t(4) = 2.776: 10.67 > 1.60. Reversed? Later scores
    # 9, 10 are not above 10 + 10 / 2 = 15: no.
    (gain,) = sudden_gains([20, 21, 20, 10, 9, 10], CUTOFF)
    assert (gain.pre_index, gain.magnitude, gain.reversed) == (2, 10, False)
    assert gain.critical_t == pytest.approx(2.776445, abs=1e-6)
    # Criterion 1 fails: a drop of 6 < 7.
    assert sudden_gains([20, 21, 20, 14, 13, 14], CUTOFF) == []
    # Criterion 2 fails: a drop of 8 from 40 is 20% < 25%.
    assert sudden_gains([40, 41, 40, 32, 31, 32], CUTOFF) == []
    # Criterion 3 fails: the scores around the drop vary too much (a drop that does not hold).
    assert sudden_gains([30, 10, 30, 20, 35, 12], CUTOFF) == []
    # Reversed: a later score (20) rises above 10 + 10 / 2 = 15.
    (gain,) = sudden_gains([20, 21, 20, 10, 9, 10, 20], CUTOFF)
    assert gain.reversed
    # A missing score right after the drop: no gain there; missing scores elsewhere are skipped
    # and the critical value grows (five scores: t(3) = 3.182).
    assert sudden_gains([20, 21, 20, None, 9, 10], CUTOFF) == []
    (gain,) = sudden_gains([20, None, 20, 10, 9, 10], CUTOFF)
    assert gain.critical_t == pytest.approx(3.182446, abs=1e-6)
    # Too few scores around the drop (one before): never tested.
    assert sudden_gains([20, 10, 9, 10], CUTOFF) == []


# ----------------------------------------------------------------------------- on the client review

GAIN_CLIENTS = fixture_csv("test_sudden_gains", "gain_clients")
# G1: PHQ-9 weekly 20, 21, 20, 10, 9, 10 (weeks 0-5). The drop 20 -> 10 between week 2 and week 3
# is 10 >= 6 (PHQ-9 reliable change) and >= 25% of 20; means 20.33 and 9.67, pooled SD 0.577,
# t(4) 2.776: 10.67 > 1.60. Homework of that interval: the week of the score before (week 2) up
# to the week before the score after (week 3 - 1 = 2): A2 (all done, 4 of 4) -> quantity 100%.
# A1 (week 1, none done) is before the interval. G2: 20, 19, 18, 17, 16, 15: no drop of 6.
GAIN_SCORES = "client_id,measure,administered_date,total_score\n" + "".join(
    f"{c},PHQ-9,2025-{d},{s}\n"
    for c, scores in (("G1", (20, 21, 20, 10, 9, 10)), ("G2", (20, 19, 18, 17, 16, 15)))
    for d, s in zip(("01-06", "01-13", "01-20", "01-27", "02-03", "02-10"), scores, strict=True)
)
GAIN_ASSIGNMENTS = fixture_csv("test_sudden_gains", "gain_assignments")


@pytest.fixture(scope="module")
def gains_db(tmp_path_factory):
    from analytics import import_files
    from tests.support.clinics import FIXTURE_TODAY, write_csv

    directory = tmp_path_factory.mktemp("gains")
    files = [write_csv(directory / f"{name}.csv", text) for name, text in
             (("clients", GAIN_CLIENTS), ("scores", GAIN_SCORES), ("assignments", GAIN_ASSIGNMENTS))]
    db_path = directory / "gains.duckdb"
    result = import_files(db_path, files, today=FIXTURE_TODAY)
    assert result.exit_code == 0, result.report()
    return db_path


def test_client_review_lists_the_gain_with_the_homework_of_its_interval(gains_db):
    from datetime import date

    from analytics import ClinicDatabase, Viewer
    from analytics.client_review.model import client_review, sudden_gain_rows

    with ClinicDatabase(gains_db) as db:
        g1 = client_review(db, Viewer.local(), "G1", as_of=date(2025, 2, 10))
        g2 = client_review(db, Viewer.local(), "G2", as_of=date(2025, 2, 10))
    (gain,) = g1.sudden_gains.to_dict("records")
    assert (gain["measure"], str(gain["before_date"])[:10], str(gain["after_date"])[:10]) == (
        "PHQ-9", "2025-01-20", "2025-01-27")
    assert (gain["magnitude"], gain["reversed"], gain["homework_weeks"]) == (10, False, "2")
    assert (gain["assignments"], gain["reviewed"], gain["quantity"]) == (1, 1, 1.0)
    assert sudden_gain_rows(g1).iloc[0]["Scores"] == "20 \u2192 10"
    assert g2.sudden_gains.empty


def test_client_review_page_shows_the_gain(gains_db, serve_database):
    from streamlit.testing.v1 import AppTest

    serve_database(gains_db)
    at = AppTest.from_file(str(ROOT / "pages" / "client_review.py"), default_timeout=60)
    at.query_params["client"] = "G1"
    at.run()
    assert not at.exception, at.exception
    assert "Sudden gains" in [h.value for h in at.subheader]
    shown = [df.value for df in at.dataframe]
    assert any("Gain (points of improvement)" in frame.columns and list(frame["Scores"]) == ["20 \u2192 10"]
               for frame in shown)


def test_the_vectorised_detection_finds_the_same_gains(gains_per_client):
    """sudden_gains_matrix (the cohort page's many-clients path) = sudden_gains row by row: on the
    package's data set and on random series with missing scores and different lengths."""
    data = pd.read_csv(SGDATA).sort_values("id")
    found = sudden_gains_matrix(data[SESSIONS].to_numpy(dtype=float), CUTOFF)
    expected = [(i, g.pre_index, g.magnitude, g.reversed) for i, c in enumerate(gains_per_client) for g in c]
    assert list(found[["series", "pre_index", "magnitude", "reversed"]].itertuples(index=False, name=None)) == expected
    assert len(found) == 24 and found["reversed"].sum() == 4

    rng = np.random.default_rng(13)
    rows = []
    for _ in range(2000):
        x = np.round(rng.uniform(5, 27) + np.cumsum(rng.normal(-0.5, 3, rng.integers(1, 20))))
        x[rng.random(len(x)) < 0.1] = np.nan
        rows.append(x)
    matrix = np.full((len(rows), 20), np.nan)
    for i, x in enumerate(rows):
        matrix[i, :len(x)] = x
    found = sudden_gains_matrix(matrix, 6.0)
    expected = [(i, g.pre_index, g.pre_score, g.post_score, g.magnitude, g.reversed)
                for i, x in enumerate(rows) for g in sudden_gains([None if np.isnan(v) else v for v in x], 6.0)]
    assert len(expected) > 100
    assert list(found.itertuples(index=False, name=None)) == expected
