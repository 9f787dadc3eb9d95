"""Measure direction in the statistics texts (issue 11, item 3, second round).

On a higher-is-better measure change (last - first) is positive when a client improved, so a
helpful homework-outcome relation is a POSITIVE r with change: the published yardsticks, the
relation text, the within-client text and the client-level association text must say so.
The measure is the test-only WELLBEING-TEST scale of tests/test_outcome_definitions.py, added
through a settings file (direction = "higher").
"""

from __future__ import annotations

import json
import math
from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics import ClinicDatabase, Settings, Viewer
from analytics.client_review.model import client_review
from analytics.cohort_outcomes import charts as charts
from analytics.cohort_outcomes import model as co
from analytics.config import load_settings
from analytics.statistics import Z_95
from tests.support.charts import drawn_charts
from tests.support.clinics import ROOT, fixture_csv, import_clinic
from tests.support.wellbeing_clinic import WELLBEING, build_direction_clinic

LOCAL = Viewer.local()


@pytest.fixture(scope="module")
def direction_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_direction_clinic(tmp_path_factory.mktemp("direction_texts"))


@pytest.fixture
def settings(direction_files) -> Settings:
    return load_settings(direction_files[1])


@pytest.fixture
def direction_db(direction_files):
    with ClinicDatabase(direction_files[0]) as db:
        yield db


# ----------------------------------------------------------------------------- yardsticks


def test_yardsticks_are_positive_on_a_higher_is_better_measure(direction_db, settings):
    comparison = co.cohort_report(direction_db, LOCAL, None, WELLBEING, settings).comparison
    published = comparison[comparison["source"] != "This cohort"].set_index("label")
    # Published r and g are positive for "more homework, better outcome"; on a higher-is-better
    # scale "better" is a rise, so they stay positive: Mausbach r = .26 [.19, .33];
    # Kazantzis quantity g = 0.79 [0.57, 1.02] -> r = g / sqrt(g^2 + 4) = .3674 [.2741, .4543].
    mausbach = published.loc["Mausbach 2010: compliance"]
    assert (mausbach["r"], mausbach["ci_low"], mausbach["ci_high"]) == pytest.approx((0.26, 0.19, 0.33))
    kazantzis = published.loc["Kazantzis 2016: quantity (g as r)"]
    r = lambda g: g / math.sqrt(g * g + 4)  # noqa: E731
    assert (kazantzis["r"], kazantzis["ci_low"], kazantzis["ci_high"]) == pytest.approx((r(0.79), r(0.57), r(1.02)))
    assert (published["r"] > 0).all() and (published["ci_low"] > 0).all()
    # The chart says which side is helpful.
    figure = charts.comparison_chart(comparison)
    assert figure.layout.xaxis.title.text == "r with change (positive = helpful)"
    assert any(a.text == "helpful &#8594;" for a in figure.layout.annotations)
    # A lower-is-better measure keeps the negative scale: Mausbach -> -.26 [-.33, -.19].
    lower = co.published_yardsticks().set_index("label").loc["Mausbach 2010: compliance"]
    assert (lower["r"], lower["ci_low"], lower["ci_high"]) == pytest.approx((-0.26, -0.33, -0.19))
    assert co.helpful_sign(WELLBEING, settings) == "positive" and co.helpful_sign("PHQ-9", settings) == "negative"


# ----------------------------------------------------------------------------- page texts


@pytest.fixture
def direction_app(direction_files, serve_database, monkeypatch):
    monkeypatch.setenv("BETWEEN_SESSIONS_CONFIG", str(direction_files[1]))
    return serve_database(direction_files[0])


def _cohort_page(section: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "cohort_outcomes.py"), default_timeout=60)
    at.query_params["outcome_measure"] = WELLBEING
    at.query_params["section"] = section
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_relation_text_and_yardsticks_chart_on_the_page(direction_app):
    at = _cohort_page("Compliance and change")
    text = " ".join(m.value for m in at.markdown)
    assert f"**Higher {WELLBEING} scores are better**" in text
    assert "a helpful relation is a **positive r** with change" in text
    assert "r = .26 for Mausbach et al. (2010)" in text
    assert "negative r" not in text and "Lower scores are better" not in text
    charts_shown = [json.loads(c.spec) for c in drawn_charts(at)]
    titles = [(c["layout"].get("xaxis", {}).get("title") or {}).get("text") for c in charts_shown]
    assert "r with change (positive = helpful)" in titles


def test_within_client_text_on_the_page(direction_app, settings):
    at = _cohort_page("Within-client")
    subheaders = [s.value for s in at.subheader]
    assert "Within-client analysis: is a week with more homework a week with a larger rise?" in subheaders
    assert not any("larger drop" in s for s in subheaders)
    # The sign note printed under a fitted model, in the measure's direction.
    note = co.within_client_sign_note(WELLBEING, settings)
    assert note.startswith(f"Higher {WELLBEING} scores are better: a positive within-client estimate")
    assert co.within_client_sign_note("PHQ-9", settings).startswith("Lower PHQ-9 scores are better: a negative")


# ----------------------------------------------------------------------------- client-level association

# A1 (intake Monday 2026-01-05, in treatment): WELLBEING-TEST every Monday, weeks 0-8:
# 30 34 35 37 37 41 43 44 47, so the interval after week w changes by +4 +1 +2 0 +4 +2 +1 +3.
# One assignment set each Monday of weeks 0-7, rated 4 1 3 0 4 2 1 3 -> quantity 1 .25 .75 0 1 .5 .25 .75.
# Each week's homework lies in the interval from that week's score to the next: 8 intervals.
ASSOC_CLIENTS = """
client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date
A1,North,T1,Wellbeing,low mood,2026-01-05,
"""
RATINGS = (4, 1, 3, 0, 4, 2, 1, 3)
SCORES = (30, 34, 35, 37, 37, 41, 43, 44, 47)
ASSOC_ASSIGNMENTS = "assignment_id,client_id,assigned_date,homework_type,quantity_rating,quality_rating,reviewed_date\n" + "".join(
    f"Z{w},A1,{date.fromordinal(date(2026, 1, 5).toordinal() + 7 * w)},thought_record,{q},{q},"
    f"{date.fromordinal(date(2026, 1, 5).toordinal() + 7 * w + 6)}\n"
    for w, q in enumerate(RATINGS)
)
ASSOC_SCORES = "client_id,measure,administered_date,total_score\n" + "".join(
    f"A1,{WELLBEING},{date.fromordinal(date(2026, 1, 5).toordinal() + 7 * w)},{s}\n" for w, s in enumerate(SCORES)
)


def test_client_level_association_text_on_a_higher_is_better_measure(tmp_path, direction_files):
    settings = load_settings(direction_files[1])
    path = import_clinic(tmp_path / "assoc", settings=settings, clients=ASSOC_CLIENTS, assignments=ASSOC_ASSIGNMENTS,
                         scores=ASSOC_SCORES)
    with ClinicDatabase(path) as db:
        review = client_review(db, LOCAL, "A1", as_of=date(2026, 3, 9), settings=settings)
    association = next(a for a in review.associations if a.measure == WELLBEING)
    # r by hand, exact fractions: x = q / 4, y = change.
    x = [Fraction(q, 4) for q in RATINGS]
    y = [Fraction(b - a) for a, b in zip(SCORES, SCORES[1:], strict=False)]
    mx, my = sum(x) / 8, sum(y) / 8
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx, syy = sum((a - mx) ** 2 for a in x), sum((b - my) ** 2 for b in y)
    r = float(sxy) / math.sqrt(float(sxx) * float(syy))  # 0.9714
    low = math.tanh(math.atanh(r) - Z_95 / math.sqrt(8 - 3))  # 0.845 > 0: a clear association
    assert association.n == 8 and association.r == pytest.approx(r, abs=1e-12)
    assert association.ci_low == pytest.approx(low, abs=1e-12) and association.clear
    # More homework went with larger RISES, which is improvement on this scale.
    assert (
        f"intervals in which more of the homework was done were intervals with larger rises in {WELLBEING} "
        "(higher is better)" in association.message
    )
    assert "drops" not in association.message


# ----------------------------------------------------------------------------- extreme-groups effect (U3)

# Four clients, one reviewed assignment each (min_reviewed_for_band = 1 and a minimum of 2 clients
# for this test): high band (>= 80%) B1 q 1.0 (30 -> 50, +20), B2 q 1.0 (30 -> 42, +12); low band
# (< 50%) B3 q 0.25 (30 -> 32, +2), B4 q 0.0 (30 -> 36, +6).
# High mean +16, low mean +4: the high band ROSE more, which is better on this scale.
# Counted U3 (higher is better): low-band clients whose change is below (worse than) +16: both -> 100%.
BAND_CLIENTS = fixture_csv("test_measure_direction_texts", "band_clients")
BAND_ASSIGNMENTS = fixture_csv("test_measure_direction_texts", "band_assignments")
BAND_SCORES = "client_id,measure,administered_date,total_score\n" + "".join(
    f"{c},{WELLBEING},2026-06-01,30\n{c},{WELLBEING},2026-08-31,{last}\n"
    for c, last in (("B1", 50), ("B2", 42), ("B3", 32), ("B4", 36))
)


def test_band_effect_reads_the_direction(tmp_path, direction_files):
    from dataclasses import replace

    from scipy.stats import norm

    settings = replace(load_settings(direction_files[1]), min_reviewed_for_band=1, min_clients_for_statistic=2)
    path = import_clinic(tmp_path / "bands", settings=settings, clients=BAND_CLIENTS, assignments=BAND_ASSIGNMENTS,
                         scores=BAND_SCORES)
    with ClinicDatabase(path) as db:
        effect = co.cohort_report(db, LOCAL, None, WELLBEING, settings).band_effect
    assert not effect.too_few and (effect.effect.n_a, effect.effect.n_b) == (2, 2)
    # g = (16 - 4) / sqrt((32 + 8) / 2) x (1 - 3 / (4 x 4 - 9)) = 12 / sqrt(20) x 4 / 7 = 1.5333.
    assert effect.effect.g == pytest.approx(12 / math.sqrt(20) * 4 / 7)
    # Positive g is helpful here: U3 = Phi(g) (not Phi(-g)), and the counted share is 100%.
    assert effect.u3 == pytest.approx(norm.cdf(effect.effect.g)) and effect.u3 > 0.9
    assert effect.u3_empirical == 1.0
    assert "improved more than 100% of clients in the < 50% band" in effect.sentence
    assert co.band_effect_sign_text(WELLBEING, settings).startswith("positive means the high band's scores rose more")
