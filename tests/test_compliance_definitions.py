"""Homework-compliance definitions of issue 11 (items 1, 2, 4, 5, 8, 9) on a hand-built clinic.

Every expected value is worked out by hand below. The clinic (six clients, intake 2025-01-06,
therapist T1: H1-H3, T2: H4-H6) is imported through ``analytics.import_files``.

Client quantity = mean of the assignment quantity fractions in the treatment window
(completed / planned practices, or quantity_rating / 4). DuckDB computes some exact means
with floating-point noise:

    H1  2/5, 5/5, 4/4             = 2.4 / 3 = 0.8 exactly   -> DuckDB 0.7999999999999999
    H2  1/2, 2/3, 2/6             = 1.5 / 3 = 0.5 exactly   -> DuckDB 0.49999999999999994
    H3  ratings 4, 4              = 1.0                      (only 2 reviewed assignments)
    H4  ratings 4, 4, 4 in treatment; 0, 0 set after discharge (2025-03-31)
                                  = 1.0 in the window        (0.6 if follow-up work counted)
    H5  ratings 2, 2, 2 and 3 unreviewed
                                  = 0.5 (unreviewed left out; 1.5 / 6 = 0.25 if counted as not done)
    H6  4/5, 4/5, 4/5             = 0.8 exactly   -> DuckDB 0.8000000000000002

Quality (rating / 4): H1 2,2,2 -> 0.5; H2 1,1,1 -> 0.25; H3 4,4 -> 1.0; H4 4,4,4 -> 1.0 (window);
H5 2,2,2 -> 0.5; H6 4,4,4 -> 1.0.
PHQ-9 first -> last (change): H1 18 -> 8 (-10), H2 16 -> 12 (-4; in treatment), H3 14 -> 12 (-2),
H4 15 -> 9 (-6), H5 12 -> 13 (+1), H6 20 -> 11 (-9).
"""

from __future__ import annotations

import json
import math
from datetime import date
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from analytics import ClinicDatabase, CohortFilter, Settings, Viewer
from analytics.cli.main import main as cli_main
from analytics.client_review.model import client_review
from analytics.cohort_outcomes import model as co
from analytics.metrics import client_homework, cohort_summary, compliance_band
from analytics.quality_improvement.model import ALERT_GROUP_DONE, alert_clients, quality_report
from analytics.statistics import Z_95
from tests.support.clinics import fixture_csv, import_clinic

LOCAL = Viewer.local()
DEFAULTS = Settings()
LOW, MID, HIGH = "< 50%", "50-79%", ">= 80%"

CLIENTS = fixture_csv("test_compliance_definitions", "clients")
ASSIGNMENTS = fixture_csv("test_compliance_definitions", "assignments")
SCORES = fixture_csv("test_compliance_definitions", "scores")
QUANTITY = {"H1": 0.8, "H2": 0.5, "H3": 1.0, "H4": 1.0, "H5": 0.5, "H6": 0.8}
CHANGE = {"H1": -10, "H2": -4, "H3": -2, "H4": -6, "H5": 1, "H6": -9}


@pytest.fixture(scope="module")
def clinic_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_clinic(tmp_path_factory.mktemp("compliance"), "compliance.duckdb", clients=CLIENTS,
                         assignments=ASSIGNMENTS, scores=SCORES)


@pytest.fixture
def clinic(clinic_path: Path):
    with ClinicDatabase(clinic_path) as db:
        yield db


@pytest.fixture
def frame(clinic):
    return co.cohort_client_frame(clinic, LOCAL, None, "PHQ-9", DEFAULTS).set_index("client_id")


# --------------------------------------------------------------------------- item 1: cuts that cannot drift


def test_noise_is_really_there(frame):
    """Guard: DuckDB's means carry the noise the cuts must absorb (else the tests below prove nothing).
    H1's mean falls just below 0.8; H2's is 0.5 or just below, depending on DuckDB's summation order."""
    assert frame.loc["H1", "quantity"] < 0.8 and frame.loc["H1", "quantity"] == pytest.approx(0.8, abs=1e-12)
    assert frame.loc["H2", "quantity"] <= 0.5 and frame.loc["H2", "quantity"] == pytest.approx(0.5, abs=1e-12)
    assert frame.loc["H6", "quantity"] > 0.8


def test_bands_classify_the_exact_value_at_the_cut(frame):
    # H1 mean 0.8 exactly -> ">= 80%" (not "50-79%"); H2 mean 0.5 exactly -> "50-79%" (not "< 50%").
    assert frame.loc["H1", "band"] == HIGH
    assert frame.loc["H2", "band"] == MID
    # The function itself, on the noisy values: 0.7999999999999999 and 0.49999999999999994.
    bands = compliance_band(frame.loc[["H1", "H2"], "quantity"], DEFAULTS)
    assert bands.tolist() == [HIGH, MID]


def test_quantity_quality_grid_cut_at_half(clinic):
    rep = co.cohort_report(clinic, LOCAL, None, "PHQ-9", DEFAULTS)
    grid = rep.grid.set_index(["quantity", "quality"])["n"]
    # Paired clients with >= 3 reviewed assignments (H3 has 2): H1 (q 0.8, l 0.5), H2 (0.5, 0.25),
    # H4 (1.0, 1.0), H5 (0.5, 0.5), H6 (0.8, 1.0). Quantity >= 50% for all five (H2's 0.5 included);
    # quality >= 50% for all but H2 -> High/High 4, High/Low 1 (H2), Low/* 0.
    assert grid.to_dict() == {("High", "High"): 4, ("High", "Low"): 1, ("Low", "High"): 0, ("Low", "Low"): 0}


def test_alert_group_uses_the_exact_value_at_the_cut(clinic):
    # H2 is in treatment on 2025-03-31, 12 weeks after intake, last PHQ-9 12 (>= 10, caseness) and
    # change -4 (not reliable: RC 6): not on track. Homework set in the 4 weeks up to as_of
    # (2025-03-04 .. 2025-03-31): H2a-c, mean quantity 0.5 exactly = the lower band edge, so
    # "homework done, still not improving" (>= 50%), not "little homework done".
    alerts = alert_clients(clinic, LOCAL, as_of=date(2025, 3, 31), settings=DEFAULTS).set_index("client_id")
    assert bool(alerts.loc["H2", "not_on_track"])
    assert alerts.loc["H2", "recent_quantity"] < 0.5  # the noisy value the rule must absorb
    assert alerts.loc["H2", "group"] == ALERT_GROUP_DONE


# --------------------------------------------------------------------------- item 2: treatment window


def test_homework_after_discharge_is_not_compliance(clinic):
    hw = client_homework(clinic, LOCAL, None, DEFAULTS).set_index("client_id")
    # H4: 3 assignments rated 4/4 up to discharge (2025-03-31) and 2 rated 0 after it.
    # In the window: 3 assignments, quantity (1 + 1 + 1) / 3 = 1.0 (not (3 + 0 + 0) / 5 = 0.6).
    assert hw.loc["H4", "assignments"] == 3 and hw.loc["H4", "reviewed_assignments"] == 3
    assert hw.loc["H4", "quantity"] == pytest.approx(1.0)
    assert hw.loc["H4", "quality"] == pytest.approx(1.0)
    assert hw.loc["H4", "follow_up_assignments"] == 2
    assert hw["follow_up_assignments"].sum() == 2  # nobody else has follow-up homework
    summary = cohort_summary(clinic, LOCAL, None, DEFAULTS)
    # 22 assignments in the file, 2 of them after discharge: 20 counted, 2 follow-up.
    assert (summary["assignments"], summary["follow_up_assignments"]) == (20, 2)
    # The band follows: H4 ">= 80%" (0.6 would have been "50-79%").
    assert co.cohort_client_frame(clinic, LOCAL, None, "PHQ-9", DEFAULTS).set_index("client_id").loc["H4", "band"] == HIGH


def test_client_review_shows_follow_up_homework_apart(clinic):
    review = client_review(clinic, LOCAL, "H4", as_of=date(2025, 5, 1), settings=DEFAULTS)
    # Treatment window: 3 set, 3 reviewed, quantity 1.0; follow-up: 2 set, 2 reviewed, quantity 0/4 = 0.
    assert review.overall == {"assignments": 3, "reviewed": 3, "quality_rated": 3, "quantity": 1.0, "quality": 1.0}
    assert review.follow_up_homework == {"assignments": 2, "reviewed": 2, "quality_rated": 2, "quantity": 0.0,
                                         "quality": 0.0}
    assert review.reviewed_share == 1.0


# --------------------------------------------------------------------------- item 4: Spearman ties


def test_spearman_ranks_noise_as_ties(clinic):
    rep = co.cohort_report(clinic, LOCAL, None, "PHQ-9", DEFAULTS)
    rho = rep.relations["quantity"].spearman
    # Quantity (exact): H2 0.5 and H5 0.5 tie (ranks 1, 2 -> 1.5); H1 0.8 and H6 0.8 tie (3, 4 -> 3.5);
    # H3 1.0 and H4 1.0 tie (5, 6 -> 5.5). Change: H1 -10 (1), H6 -9 (2), H4 -6 (3), H2 -4 (4),
    # H3 -2 (5), H5 +1 (6). Order H1..H6: rx = 3.5 1.5 5.5 5.5 1.5 3.5; ry = 1 4 5 3 6 2.
    # Deviations from 3.5: dx = 0 -2 2 2 -2 0; dy = -2.5 .5 1.5 -.5 2.5 -1.5.
    # Sum dx dy = 0 - 1 + 3 - 1 - 5 + 0 = -4; Sum dx^2 = 16; Sum dy^2 = 17.5.
    # rho = -4 / sqrt(16 * 17.5) = -4 / sqrt(280) = -0.239046.
    assert rho.n == 6
    assert rho.r == pytest.approx(-4 / math.sqrt(280), abs=1e-12)


# --------------------------------------------------------------------------- item 5: one minimum n; CLI n and CI


def _cli_json(path: Path, capsys, *args: str) -> dict:
    assert cli_main(["summary", "--db", str(path), "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_gives_r_with_n_and_ci(clinic_path, capsys):
    phq = _cli_json(clinic_path, capsys)["measures"]["PHQ-9"]
    # Six paired clients with a quantity (>= the one minimum, 5). Exact quantities in fifths / halves:
    x = [Fraction(QUANTITY[c]).limit_denominator(10) for c in QUANTITY]
    y = [Fraction(CHANGE[c]) for c in CHANGE]
    # mean x = 4.6 / 6, mean y = -30 / 6 = -5; Sxy = -1.7, Sxx = 0.253333, Syy = 88;
    # r = -1.7 / sqrt(0.253333 * 88) = -0.360049.
    mx, my = sum(x) / 6, sum(y) / 6
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    assert (sxy, sxx, syy) == (Fraction(-17, 10), Fraction(19, 75), 88)
    r = float(sxy) / math.sqrt(float(sxx) * float(syy))
    assert r == pytest.approx(-0.360049, abs=1e-6)
    assert phq["r_quantity_change"] == pytest.approx(r, abs=1e-12)
    assert phq["r_quantity_change_n"] == 6
    # 95% CI by Fisher z: tanh(atanh(r) -/+ 1.959964 / sqrt(6 - 3)).
    low, high = (math.tanh(math.atanh(r) + s * Z_95 / math.sqrt(3)) for s in (-1, 1))
    assert phq["r_quantity_change_ci_low"] == pytest.approx(low, abs=1e-12)
    assert phq["r_quantity_change_ci_high"] == pytest.approx(high, abs=1e-12)


def test_cli_withholds_r_below_the_one_minimum(clinic_path, clinic, capsys):
    # Therapist T1: H1, H2, H3 -> 3 pairs, below the minimum (5): r and CI are null, n = 3;
    # the cohort page says "too few clients" for the same cohort.
    phq = _cli_json(clinic_path, capsys, "--therapist", "T1")["measures"]["PHQ-9"]
    assert phq["r_quantity_change"] is None and phq["r_quantity_change_n"] == 3
    assert phq["r_quantity_change_ci_low"] is None and phq["r_quantity_change_ci_high"] is None
    rep = co.cohort_report(clinic, LOCAL, CohortFilter.of(therapists="T1"), "PHQ-9", DEFAULTS)
    assert rep.relations["quantity"].too_few and rep.relations["quantity"].min_n == DEFAULTS.minimum_n(4) == 5


# --------------------------------------------------------------------------- item 8: reviewed share


def test_reviewed_share_and_the_not_done_reading(clinic):
    hw = client_homework(clinic, LOCAL, None, DEFAULTS).set_index("client_id")
    # H5: 3 of 6 reviewed -> share 0.5; quantity over the reviewed ones 0.5.
    assert hw.loc["H5", "reviewed_share"] == pytest.approx(0.5) and hw.loc["H5", "quantity"] == pytest.approx(0.5)
    summary = cohort_summary(clinic, LOCAL, None, DEFAULTS)
    # Reviewed share, mean over clients: (1 + 1 + 1 + 1 + 0.5 + 1) / 6 = 5.5 / 6.
    assert summary["reviewed_share"] == pytest.approx(5.5 / 6)
    # Mean quantity: (0.8 + 0.5 + 1 + 1 + 0.5 + 0.8) / 6 = 4.6 / 6.
    assert summary["mean_quantity"] == pytest.approx(4.6 / 6)
    # "Unreviewed = not done": H5 (3 x 0.5 + 3 x 0) / 6 = 0.25; mean (4.6 - 0.25) / 6 = 4.35 / 6.
    not_done = Settings(unreviewed_as_not_done=True)
    hw_alt = client_homework(clinic, LOCAL, None, not_done).set_index("client_id")
    assert hw_alt.loc["H5", "quantity"] == pytest.approx(0.25)
    assert hw_alt.loc["H4", "quantity"] == pytest.approx(1.0)  # the treatment window still applies
    assert cohort_summary(clinic, LOCAL, None, not_done)["mean_quantity"] == pytest.approx(4.35 / 6)
    # The headline figure shows the reviewed share beside mean quantity.
    rep = co.cohort_report(clinic, LOCAL, None, "PHQ-9", DEFAULTS)
    figures = {f.label: f for f in co.headline_figures(summary, "PHQ-9", rep, DEFAULTS)}
    assert "92% of assignments reviewed" in figures["Mean quantity"].n_label  # 5.5 / 6 = 91.7%
    assert rep.reviewed_share == pytest.approx(5.5 / 6)


def test_reviewed_share_funnel(clinic):
    report = quality_report(clinic, LOCAL, months=None, as_of=date(2025, 4, 30), deidentified=False, settings=DEFAULTS)
    table = report.funnel("therapist", "reviewed").table.numeric.set_index("unit")
    # T1: H1 3/3, H2 3/3, H3 2/2 -> mean 1.0; T2: H4 3/3 (its 2 follow-up assignments are not
    # counted), H5 3/6, H6 3/3 -> (1 + 0.5 + 1) / 3 = 0.8333; n = clients with homework = 3 each.
    assert table.loc["T1", "value"] == pytest.approx(1.0) and table.loc["T1", "n"] == 3
    assert table.loc["T2", "value"] == pytest.approx(2.5 / 3) and table.loc["T2", "n"] == 3
    overall = report.funnel("therapist", "reviewed")
    assert overall.centre == pytest.approx(5.5 / 6)


# --------------------------------------------------------------------------- item 9: minimum reviewed for a band


def test_band_needs_three_reviewed_assignments(clinic, frame):
    # H3 has a quantity (1.0) from 2 reviewed assignments: no band by default (minimum 3).
    assert frame.loc["H3", "quantity"] == pytest.approx(1.0) and frame.loc["H3", "band"] is None
    rep = co.cohort_report(clinic, LOCAL, None, "PHQ-9", DEFAULTS)
    assert rep.clients_below_min_reviewed == 1 and rep.min_reviewed_for_band == 3
    # Bands: H2 0.5, H5 0.5 -> 50-79%; H1 0.8, H4 1.0, H6 0.8 -> >= 80%; H3 none.
    assert rep.band_counts.set_index("band")["clients"].to_dict() == {LOW: 0, MID: 2, HIGH: 3}
    assert rep.band_counts["clients"].sum() == rep.clients_with_quantity - rep.clients_below_min_reviewed
    # Configurable: with a minimum of 2, H3 is banded (>= 80%) and nobody is left out.
    two = Settings(min_reviewed_for_band=2)
    rep2 = co.cohort_report(clinic, LOCAL, None, "PHQ-9", two)
    assert rep2.clients_below_min_reviewed == 0
    assert rep2.band_counts.set_index("band")["clients"].to_dict() == {LOW: 0, MID: 2, HIGH: 4}


def test_min_reviewed_setting_reads_from_the_settings_file(tmp_path):
    from analytics.config import load_settings

    path = tmp_path / "settings.toml"
    path.write_text("min_reviewed_for_band = 4\nunreviewed_as_not_done = true\n", encoding="utf-8")
    loaded = load_settings(path)
    assert (loaded.min_reviewed_for_band, loaded.unreviewed_as_not_done) == (4, True)
    assert (DEFAULTS.min_reviewed_for_band, DEFAULTS.unreviewed_as_not_done) == (3, False)
    assert np.isclose(DEFAULTS.compliance_band_edges[1], 0.8)


# --------------------------------------------------------------------------- item 8/9 on the page


def test_cohort_page_offers_the_not_done_reading_and_shows_who_has_no_band(clinic_path, serve_database):
    from streamlit.testing.v1 import AppTest

    from tests.support.clinics import ROOT

    serve_database(clinic_path)
    at = AppTest.from_file(str(ROOT / "pages" / "cohort_outcomes.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = {m.label: m.value for m in at.metric}
    captions = " ".join(c.value for c in at.caption)
    # Default reading: mean quantity 4.6 / 6 = 76.7%; reviewed share 5.5 / 6 = 92%; H3 not banded.
    assert shown["Mean quantity"] == "76.7%"
    assert "92% of assignments reviewed" in captions
    assert "1 with fewer than 3 reviewed assignments are left out of every band" in captions
    assert "Unreviewed homework is left out of quantity." in captions
    # The page option: unreviewed = not done -> (4.6 - 0.25) / 6 = 4.35 / 6 = 72.5%; in the link.
    at.toggle(key="unreviewed_as_not_done").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["Mean quantity"] == "72.5%"
    assert "Unreviewed homework counts as not done" in " ".join(c.value for c in at.caption)
    # A link carries the reading.
    linked = AppTest.from_file(str(ROOT / "pages" / "cohort_outcomes.py"), default_timeout=60)
    linked.query_params["unreviewed_as_not_done"] = "true"
    linked.run()
    assert not linked.exception, [e.value for e in linked.exception]
    assert linked.toggle(key="unreviewed_as_not_done").value is True
    assert {m.label: m.value for m in linked.metric}["Mean quantity"] == "72.5%"
