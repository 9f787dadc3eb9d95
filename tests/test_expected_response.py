"""Expected recovery curves, the on / off track signal, its back-test, and the planted courses of
the sample clinic (analytics/expected_response.py; docs/metrics.md, "Expected recovery curves")."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from analytics import ClinicDatabase
from analytics import expected_response as er
from analytics.client_review.model import HOMEWORK_READINGS, client_review, off_track_homework
from analytics.config import PHQ9, Settings
from analytics.privacy import WITHHELD_TEXT
from analytics.scope import Viewer

LOCAL = Viewer.local()
SETTINGS = Settings()
INTAKE = date(2025, 1, 6)
C0, C1 = 1.0, -0.3  # the planted curve: expected = x0 + (1 - 0.3 x0) ln(weeks + 1)
WEEKS = (0, 1, 2, 4, 8, 12)


def planted(x0: float, weeks: float) -> float:
    return x0 + (C0 + C1 * x0) * math.log(weeks + 1)


def history(clients: dict[str, list[tuple[int, float]]], *, discharged: bool = True,
            measure: str = "PHQ-9") -> pd.DataFrame:
    """The expected_response_scores rows of hand-built clients: {client: [(week, score), ...]}."""
    rows = []
    for cid, scores in clients.items():
        for week, score in scores:
            day = INTAKE + timedelta(days=7 * week)
            rows.append({"client_id": cid, "measure": measure, "intake_date": pd.Timestamp(INTAKE),
                         "discharge_date": pd.Timestamp(INTAKE + timedelta(days=100)) if discharged else pd.NaT,
                         "administered_date": pd.Timestamp(day), "days": 7 * week, "week": week,
                         "total_score": float(score)})
    return pd.DataFrame(rows)


def twins(n_pairs: int, spread: float) -> dict[str, list[tuple[int, float]]]:
    """Pairs of clients with the same intake, one ``spread`` points above the planted curve after
    intake and one below: the fit is exact and the residuals are exactly +-spread."""
    clients = {}
    for i in range(n_pairs):
        x0 = 8.0 + (i % 19)
        for sign, tag in ((1, "a"), (-1, "b")):
            clients[f"P{i:03d}{tag}"] = [(0, x0)] + [(w, planted(x0, w) + sign * spread) for w in WEEKS[1:]]
    return clients


# ----------------------------------------------------------------------------- the curve


def test_the_fit_recovers_a_planted_curve_exactly():
    curve = er.fit_curves(history(twins(20, 0.0)), SETTINGS).curve("PHQ-9")
    assert curve is not None and curve.n_clients == 40 and curve.n_scores == 40 * 5
    assert curve.c0 == pytest.approx(C0, abs=1e-9) and curve.c1 == pytest.approx(C1, abs=1e-9)
    # intake 15, week 3: 15 + (1 - 4.5) ln 4 = 10.148
    assert float(curve.expected(15, 3)) == pytest.approx(15 - 3.5 * math.log(4), abs=1e-9)
    assert float(curve.expected(15, 0)) == 15.0  # the curve starts at the client's own intake score
    low, high = curve.band(15, 3)
    assert low[0] == pytest.approx(high[0]) == pytest.approx(15 - 3.5 * math.log(4))


def test_the_band_is_where_clients_with_that_intake_usually_are():
    curve = er.fit_curves(history(twins(20, 3.0)), SETTINGS).curve("PHQ-9")
    assert curve.c0 == pytest.approx(C0, abs=1e-9) and curve.c1 == pytest.approx(C1, abs=1e-9)
    for x0, week in ((9, 1), (15, 4), (24, 8), (20, 20)):
        low, high = curve.band(x0, week)
        centre = planted(x0, week)
        assert (low[0], high[0]) == pytest.approx((centre - 3.0, centre + 3.0), abs=1e-9)
    # each cell holds the 10th and 90th percentile of its residuals, and says how many clients it has
    assert {(b, t) for b, t, *_ in curve.cells} >= {(-1, -1)}
    assert all(lo == pytest.approx(-3.0) and hi == pytest.approx(3.0) for _, _, lo, hi, _ in curve.cells)


def test_off_track_since_the_week_the_latest_run_began():
    curves = er.fit_curves(history(twins(20, 3.0)), SETTINGS)
    x0 = 18.0
    courses = {
        "steady": [(0, x0)] + [(w, planted(x0, w) + 2) for w in WEEKS[1:]],  # inside the band
        "late": [(0, x0), (1, planted(x0, 1)), (2, planted(x0, 2) + 4), (4, planted(x0, 4)),
                 (8, planted(x0, 8) + 4), (12, planted(x0, 12) + 5)],  # off, back in, off again from week 8
        "better": [(0, x0)] + [(w, planted(x0, w) - 6) for w in WEEKS[1:]],  # far better than expected
    }
    tracks = er.latest_tracks(curves.curve("PHQ-9"), er.prepare_history(history(courses, discharged=False)))
    tracks = tracks.set_index("client_id")
    assert tracks.loc["steady", "status"] == er.ON_TRACK
    assert tracks.loc["better", "status"] == er.ON_TRACK  # better than the band is not a warning
    assert tracks.loc["late", "status"] == er.OFF_TRACK and tracks.loc["late", "since_week"] == 8
    scores = pd.DataFrame({"measure": "PHQ-9", "administered_date": [pd.Timestamp(INTAKE + timedelta(days=7 * w))
                                                                     for w, _ in courses["late"]],
                           "total_score": [s for _, s in courses["late"]], "week": [w for w, _ in courses["late"]],
                           "period": "treatment"})
    track = er.client_track(curves, scores, "PHQ-9", INTAKE, SETTINGS)
    assert track.status == er.OFF_TRACK and track.label == "Off track since week 8"
    assert track.since_date == INTAKE + timedelta(weeks=8)
    assert list(track.points["off_track"]) == [False, True, False, True, True]
    assert track.curve["week"].tolist() == list(range(13))
    assert track.curve.loc[track.curve["week"] == 4, "expected"].iloc[0] == pytest.approx(planted(x0, 4))


def test_higher_is_better_measures_are_off_track_below_the_band():
    from dataclasses import replace

    wellbeing = replace(PHQ9, name="WELL", direction="higher", aliases=())
    settings = Settings(measures=(wellbeing,))
    curves = er.fit_curves(history(twins(20, 3.0), measure="WELL"), settings)
    x0 = 18.0
    course = {"down": [(0, x0)] + [(w, planted(x0, w) - 4) for w in WEEKS[1:]],
              "up": [(0, x0)] + [(w, planted(x0, w) + 4) for w in WEEKS[1:]]}
    tracks = er.latest_tracks(curves.curve("WELL"), er.prepare_history(history(course, measure="WELL")))
    assert dict(zip(tracks["client_id"], tracks["status"], strict=True)) == {"down": er.OFF_TRACK, "up": er.ON_TRACK}


def test_too_little_history_gives_no_curve_and_says_why():
    small = {k: v for k, v in list(twins(20, 1.0).items())[:29]}
    curves = er.fit_curves(history(small), SETTINGS)
    assert curves.curve("PHQ-9") is None and curves.history_clients("PHQ-9") == 29
    assert "29 discharged client(s)" in curves.fallback_note("PHQ-9") and "at least 30" in curves.fallback_note("PHQ-9")
    # clients still in treatment are read against the curve but never fitted on
    mixed = pd.concat([history(small), history(dict(list(twins(20, 1.0).items())[29:]), discharged=False)])
    assert er.fit_curves(mixed, SETTINGS).curve("PHQ-9") is None
    # a first score after week 1 is no intake score: that client is left out
    late = {**twins(20, 0.0), "late": [(3, 20.0), (5, 10.0)]}
    assert er.fit_curves(history(late), SETTINGS).curve("PHQ-9").n_clients == 40


# ----------------------------------------------------------------------------- the fit in DuckDB


def assert_same_curve(sql: er.ExpectedCurve | None, reference: er.ExpectedCurve | None) -> None:
    """The DuckDB fit equals the Python reference (fit_curve) up to floating-point rounding."""
    assert (sql is None) == (reference is None)
    if sql is None:
        return
    assert (sql.measure, sql.n_clients, sql.n_scores) == (reference.measure, reference.n_clients, reference.n_scores)
    assert sql.c0 == pytest.approx(reference.c0, rel=1e-9, abs=1e-9)
    assert sql.c1 == pytest.approx(reference.c1, rel=1e-9, abs=1e-9)
    assert sql.intake_cuts == pytest.approx(reference.intake_cuts, abs=1e-9)
    assert [c[:2] + c[4:] for c in sql.cells] == [c[:2] + c[4:] for c in reference.cells]  # same cells, same clients
    assert [v for c in sql.cells for v in c[2:4]] == pytest.approx([v for c in reference.cells for v in c[2:4]], abs=1e-8)


def test_the_fit_in_duckdb_equals_the_python_reference_on_the_sample_clinic(sample_db):
    history = er.response_history(sample_db, LOCAL)
    for kwargs in ({}, {"as_of": date(2025, 12, 31)}, {"fit_before": date(2025, 6, 1)}):
        reference = er.fit_curves(history, SETTINGS, **kwargs)
        in_db = er.fit_curves_in_db(sample_db, LOCAL, settings=SETTINGS, **kwargs)
        assert any(curve is not None for _, curve, _ in in_db.curves)
        for (name, curve, n), (ref_name, ref_curve, ref_n) in zip(in_db.curves, reference.curves, strict=True):
            assert (name, n) == (ref_name, ref_n)
            assert_same_curve(curve, ref_curve)


def test_the_curves_reach_python_as_a_few_fitted_numbers_not_the_scores(sample_db, monkeypatch):
    seen: list[tuple[str, int]] = []
    original = ClinicDatabase.query

    def recording(db, name, params=None):
        out = original(db, name, params)
        seen.append((name, len(out)))
        return out

    monkeypatch.setattr(ClinicDatabase, "query", recording)
    er._FIT_CACHE.clear()
    curves = er.expected_curves(sample_db, LOCAL)  # the network's curves, stored at import
    assert curves.curve("PHQ-9") is not None
    past = er.expected_curves(sample_db, LOCAL, as_of=date(2025, 12, 31))  # fitted in the database
    assert past.curve("PHQ-9") is not None
    assert [name for name, _ in seen] == ["expected_response_fit_stored", "expected_response_fit"]
    scores = int(sample_db.execute_sql("SELECT count(*) AS n FROM scores").iloc[0, 0])
    assert max(n for _, n in seen) <= 3 * 4 * 18 < scores  # one row per measure and band cell


# ----------------------------------------------------------------------------- scope and cache


def test_a_therapists_curve_is_fitted_only_from_their_own_clients(sample_db):
    caseloads = sample_db.execute_sql("SELECT therapist_id, count(*) AS n FROM clients GROUP BY 1 ORDER BY n DESC, 1")
    everyone = er.response_history(sample_db, LOCAL)
    fitted = []
    for therapist_id in (caseloads["therapist_id"].iloc[0], caseloads["therapist_id"].iloc[-1]):
        viewer = Viewer(role="therapist", email="t@clinic", therapist_id=str(therapist_id))
        own = set(sample_db.execute_sql("SELECT client_id FROM clients WHERE therapist_id = $t",
                                        {"t": viewer.therapist_id})["client_id"])
        mine = er.response_history(sample_db, viewer)
        assert len(mine) and set(mine["client_id"]) <= own
        expected = er.fit_curves(everyone[everyone["client_id"].isin(own)], SETTINGS)
        curves = er.expected_curves(sample_db, viewer)
        assert curves.history_clients("PHQ-9") == expected.history_clients("PHQ-9")
        curve = curves.curve("PHQ-9")
        fitted.append(curve)
        if curve is not None:
            assert_same_curve(curve, expected.curve("PHQ-9"))
            assert curve.n_clients <= len(own)
    assert fitted[0] is not None and fitted[0].n_clients >= er.MIN_HISTORY_CLIENTS  # the largest caseload
    assert fitted[1] is None  # the smallest: too few of their own, the fixed rule applies
    clinic = er.expected_curves(sample_db, LOCAL)
    assert clinic.curve("PHQ-9").n_clients > fitted[0].n_clients
    assert er.expected_curves(sample_db, LOCAL) is clinic  # one fit per data version and scope


# ----------------------------------------------------------------------------- planted courses


@pytest.fixture(scope="module")
def planted_frames():
    from sample_data.generator import generate_clinic

    return generate_clinic(300, 11, planted=True)  # the sample_db fixture's clinic


def test_planted_deteriorators_are_flagged_off_track_more_than_others(sample_db, planted_frames):
    courses = planted_frames["planted"].set_index("client_id")
    curves = er.expected_curves(sample_db, LOCAL)
    prepared = er.prepare_history(er.response_history(sample_db, LOCAL))
    prepared = prepared[prepared["week"] <= 6]  # what was known by week 6
    tracks = er.latest_tracks(curves.curve("PHQ-9"), prepared[prepared["measure"] == "PHQ-9"]).set_index("client_id")
    off = tracks["status"] == er.OFF_TRACK
    worse = courses.loc[tracks.index, "deteriorating"].astype(bool)
    assert worse.sum() >= 5
    assert off[worse].mean() >= 0.5
    assert off[worse].mean() > 4 * off[~worse].mean()


def test_the_back_test_recovers_what_was_planted(sample_db):
    table = er.backtest(sample_db, LOCAL)
    assert set(table["measure"]) == {"PHQ-9", "GAD-7"} and list(table["week"].unique()) == [3, 4, 6]
    for row in table.itertuples(index=False):
        assert row.true_pos + row.false_pos + row.false_neg + row.true_neg == row.n > 30
        assert row.positives == row.true_pos + row.false_neg and row.flagged == row.true_pos + row.false_pos
        for name in ("sensitivity", "specificity", "ppv"):
            value, low, high = getattr(row, name), getattr(row, f"{name}_low"), getattr(row, f"{name}_high")
            assert value is None or low <= value <= high
        # flagged more often among the clients who ended without reliable improvement than among the others
        assert row.sensitivity > 1 - row.specificity
        assert row.ppv > row.positives / row.n
    split = table["split"].iloc[0]
    intakes = sample_db.execute_sql("SELECT intake_date FROM clients WHERE discharge_date IS NOT NULL")["intake_date"]
    assert 0.5 < (pd.to_datetime(intakes) < pd.Timestamp(split)).mean() < 0.7  # the default 60% split
    assert "| PHQ-9 | 3 |" in er.backtest_markdown(table)


def test_planted_sudden_gains_are_found_more_often_than_chance(planted_frames):
    from analytics.sudden_gains import sudden_gains

    scores = planted_frames["scores"].merge(planted_frames["clients"][["client_id", "discharge_date"]], on="client_id")
    scores = scores[scores["discharge_date"].isna() | (scores["administered_date"] <= scores["discharge_date"])]
    found = {}
    for (cid, measure), g in scores.sort_values("administered_date").groupby(["client_id", "measure"]):
        gains = sudden_gains(g["total_score"].astype(float).tolist(), SETTINGS.measure(measure).reliable_change)
        found[cid] = found.get(cid, False) or bool(gains)
    found = pd.Series(found)
    courses = planted_frames["planted"].set_index("client_id").loc[found.index]
    with_gain = courses["gain_part"] > 0
    assert 0.15 <= with_gain.mean() <= 0.40  # planted in 15-40% of clients, as in the literature
    assert 0.15 <= found.mean() <= 0.45
    assert found[with_gain].mean() > found[~with_gain].mean() + 0.2


# ----------------------------------------------------------------------------- client review


def weekly(rows: list[tuple[int, int, int, float | None, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["week", "assignments", "reviewed", "quantity", "quality"]).assign(
        quality_rated=lambda f: f["quality"].notna().astype(int) * f["reviewed"])


@pytest.mark.parametrize(("rows", "reading"), [
    ([(3, 0, 0, None, None), (4, 0, 0, None, None)], "none_set"),
    ([(3, 2, 0, None, None), (4, 1, 0, None, None)], "none_reviewed"),
    ([(3, 2, 2, 0.25, 0.5), (4, 2, 2, 0.5, 0.5)], "little"),
    ([(3, 2, 2, 1.0, 0.75), (4, 2, 1, 0.5, 0.5), (9, 5, 5, 0.0, 0.0)], "done_not_helping"),
])
def test_the_homework_of_the_off_track_weeks_is_read_plainly(rows, reading):
    track = er.Track("PHQ-9", er.OFF_TRACK, "", since_week=4, latest_week=4)
    h = off_track_homework(weekly(rows), track, SETTINGS)
    assert (h["first_week"], h["last_week"]) == (3, 4)  # the week before the first off-track score, to the latest
    assert h["reading"] == reading and h["text"] == HOMEWORK_READINGS[reading]
    if reading == "done_not_helping":  # week 9 is outside; weighted by reviewed assignments
        assert h["assignments"] == 4 and h["quantity"] == pytest.approx((2 * 1.0 + 1 * 0.5) / 3)


def test_an_off_track_client_shows_the_band_the_week_and_the_homework(sample_db):
    curves = er.expected_curves(sample_db, LOCAL)
    prepared = er.prepare_history(er.response_history(sample_db, LOCAL))
    in_treatment = prepared[prepared["discharge_date"].isna() & (prepared["measure"] == "PHQ-9")]
    tracks = er.latest_tracks(curves.curve("PHQ-9"), in_treatment)
    off = tracks[tracks["status"] == er.OFF_TRACK]
    assert len(off) >= 1
    as_of = date(2026, 11, 1)
    review = client_review(sample_db, LOCAL, off["client_id"].iloc[0], as_of)
    track = next(t for t in review.tracks if t.measure == "PHQ-9")
    assert track.status == er.OFF_TRACK and track.since_week == off["since_week"].iloc[0]
    assert track.label == f"Off track since week {track.since_week}" and "off track since week" in track.message
    homework = next(h for h in review.track_homework if h["measure"] == "PHQ-9")
    assert homework["text"] in HOMEWORK_READINGS.values()
    weeks = review.weekly[review.weekly["week"].between(homework["first_week"], homework["last_week"])]
    assert homework["assignments"] == int(weeks["assignments"].sum())

    from analytics.client_review.charts import client_figure

    names = {trace.name for trace in client_figure(review).data}
    # The week the run began is named in the legend (issue 15: no text over the scores).
    assert {"Usual range (10th-90th percentile)", "Expected score", f"PHQ-9 off track since week {track.since_week}"} <= names

    from analytics.client_review.session_review import session_review_content

    content = session_review_content(review, {"shown": False, "median_quantity": None, "median_quality": None},
                                     chart=False)
    line = next(h for h in content.header_lines if h.startswith("Expected course: "))
    assert f"PHQ-9 off track since week {track.since_week} (homework weeks {homework['first_week']}-" in line


def test_sudden_gains_are_marked_on_the_timeline_with_the_homework_before_them(sample_db):
    ids = sample_db.execute_sql("SELECT client_id FROM clients ORDER BY client_id")["client_id"]
    from analytics.client_review.charts import client_figure

    for cid in ids:
        review = client_review(sample_db, LOCAL, cid, date(2026, 11, 1))
        if len(review.sudden_gains):
            break
    else:
        pytest.fail("no client of the sample clinic has a sudden gain")
    marks = [t for t in client_figure(review).data if t.name == "Sudden gain"]
    assert sum(len(t.x) for t in marks) == len(review.sudden_gains)
    first = review.sudden_gains.iloc[0]
    mark = next(t for t in marks if list(t.y)[0] == first["after_score"] or first["after_score"] in list(t.y))
    assert first["after_date"].strftime("%Y-%m-%d") in list(mark.x)
    assert any(str(first["homework_weeks"]) == row[2] and int(first["assignments"]) == row[3] for row in mark.customdata)


def test_curves_do_not_read_the_wall_clock(sample_db, monkeypatch):
    import analytics.expected_response as module

    class Frozen(date):
        @classmethod
        def today(cls):  # pragma: no cover - must never be called
            raise AssertionError("read today's date")

    monkeypatch.setattr(module, "date", Frozen)
    module._FIT_CACHE.clear()
    assert module.expected_curves(sample_db, LOCAL).curve("GAD-7") is not None
    assert isinstance(np.asarray(module.backtest(sample_db, LOCAL)["n"]).sum(), np.integer)


def test_fitting_is_quick_on_the_sample_clinic(sample_db_path):
    import time

    with ClinicDatabase(sample_db_path) as db:
        started = time.perf_counter()
        er.fit_curves(er.response_history(db, LOCAL), SETTINGS)
        assert time.perf_counter() - started < 5.0  # ~0.1 s on a laptop; generous for CI


# ----------------------------------------------------------------------------- QI alerts and caseload


def test_qi_alerts_use_the_off_track_signal_when_the_history_is_big_enough(sample_db):
    from analytics.quality_improvement.model import alert_clients, alert_method, quality_report

    as_of = date(2026, 11, 1)
    alerts = alert_clients(sample_db, LOCAL, as_of=as_of).set_index("client_id")
    # PHQ-9, GAD-7 and CORE-10 (the group programme) each have a curve: the fixed rule is not used
    assert not alerts["rule_caseness"].any()
    curves = er.expected_curves(sample_db, LOCAL)
    prepared = er.prepare_history(er.response_history(sample_db, LOCAL))
    prepared = prepared[prepared["discharge_date"].isna() & (prepared["administered_date"] <= pd.Timestamp(as_of))]
    off = set()
    for measure in ("PHQ-9", "GAD-7", "CORE-10"):
        tracks = er.latest_tracks(curves.curve(measure), prepared[prepared["measure"] == measure])
        off |= set(tracks.loc[tracks["status"] == er.OFF_TRACK, "client_id"])
    assert off and set(alerts.index[alerts["rule_off_track"]]) == off & set(alerts.index)
    flagged = alerts[alerts["rule_off_track"]]
    assert flagged["reasons"].str.contains(r"off track since week \d+ \(expected course\)").all()
    assert alerts.loc[alerts["rule_off_track"], "not_on_track"].all()
    assert "PHQ-9, GAD-7, CORE-10: off track against the expected course" in alert_method(sample_db, LOCAL)
    report = quality_report(sample_db, LOCAL, months=None, deidentified=False)
    assert report.alert_method.startswith("Not on track, by measure:")
    assert int(report.alert_counts.cell_text("rule_off_track")) == len(flagged)


def test_with_too_little_history_the_fixed_rule_applies_and_the_page_says_so(tiny_db):
    from analytics.quality_improvement.model import alert_method

    text = alert_method(tiny_db, LOCAL)
    assert "the fixed rule (at caseness without reliable improvement after 6 weeks)" in text
    assert "expected course of" not in text


def test_the_back_test_table_withholds_small_counts_when_de_identified(sample_db):
    identified = er.backtest_table(sample_db, LOCAL, False)
    deidentified = er.backtest_table(sample_db, LOCAL, True)
    assert not identified.isin([WITHHELD_TEXT, "<11"]).any().any()
    raw = er.backtest(sample_db, LOCAL)
    small = ((raw["flagged"] > 0) & (raw["flagged"] < 11)) | ((raw["positives"] > 0) & (raw["positives"] < 11))
    assert small.any()
    assert (deidentified.loc[small.to_numpy(), "PPV"] == WITHHELD_TEXT).all()
    # A withheld flagged count reads "<11" only when it is 1-10 (issue 15, item 1).
    withheld_flagged = deidentified.loc[small.to_numpy(), "Flagged"]
    true_flagged = raw.loc[small, "flagged"]
    assert (withheld_flagged == ["<11" if 1 <= n <= 10 else WITHHELD_TEXT for n in true_flagged]).all()
    assert (deidentified.loc[~small.to_numpy(), "PPV"] == identified.loc[~small.to_numpy(), "PPV"]).all()


# ----------------------------------------------------------------------------- sudden gains per cohort

GAIN_CLIENTS = {  # weekly PHQ-9 scores from the intake date (2025-01-06, a Monday)
    "G1": [20, 19, 20, 10, 9, 10],  # a gain between weeks 2 and 3 (10 points)
    "G2": [18, 18, 17, 17, 8, 8],  # a gain between weeks 3 and 4 (9 points)
    "N1": [20, 18, 16, 14, 12, 10],  # steady improvement: no single drop reaches the reliable change
    "N2": [15, 14, 16, 15, 14, 15],  # unchanged
    "N3": [22, 10, 9],  # too few scores to look at
}


@pytest.fixture(scope="module")
def gains_db(tmp_path_factory):
    from analytics import import_files
    from tests.conftest import FIXTURE_TODAY, write_csv

    directory = tmp_path_factory.mktemp("gains")
    clients = ["client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date"]
    scores = ["client_id,measure,administered_date,total_score"]
    for cid, series in GAIN_CLIENTS.items():
        clients.append(f"{cid},North,T1,Depression CBT,depression,2025-01-06,2025-02-10")
        scores += [f"{cid},PHQ-9,{INTAKE + timedelta(weeks=w)},{v}" for w, v in enumerate(series)]
    scores += ["G1,PHQ-9,2025-05-05,12", "N1,PHQ-9,2025-05-05,12"]  # follow-up, after discharge
    header = ("assignment_id,client_id,assigned_date,homework_type,goal_linked,rationale_given,rehearsed_in_session,"
              "practice_scheduled,obstacles_planned,involves_others,planned_practices,completed_practices,"
              "quantity_rating,quality_rating,rated_by,reviewed_date,description")
    assignments = [header]
    # G1: week 2 (the gain's interval) all done and done well; weeks 0 and 4 little done. N1: all done.
    for aid, cid, week, quantity, quality in (("A1", "G1", 0, 1, 1), ("A2", "G1", 2, 4, 4), ("A3", "G1", 2, 4, 2),
                                              ("A4", "G1", 4, 0, ""), ("A5", "N1", 2, 4, 4)):
        day = INTAKE + timedelta(weeks=week)
        assignments.append(f"{aid},{cid},{day},thought_record,true,true,true,true,true,false,3,,{quantity},{quality},"
                           f"therapist,{day + timedelta(days=7)},")
    files = [write_csv(directory / f"{name}.csv", "\n".join(rows) + "\n")
             for name, rows in (("clients", clients), ("scores", scores), ("assignments", assignments))]
    result = import_files(directory / "gains.duckdb", files, today=FIXTURE_TODAY)
    assert result.exit_code == 0, result.report()
    with ClinicDatabase(directory / "gains.duckdb") as db:
        yield db


def test_hand_built_sudden_gains_are_found_and_others_not(gains_db):
    from analytics.cohort_outcomes.sudden_gain_summary import sudden_gain_summary

    summary = sudden_gain_summary(gains_db, LOCAL, None, "PHQ-9", SETTINGS)
    assert (summary.clients_scored, summary.clients_with_gain, summary.gains, summary.reversed) == (4, 2, 2, 0)
    assert summary.share == 0.5 and summary.share_low < 0.5 < summary.share_high
    assert summary.magnitude_mean == pytest.approx(9.5) and summary.magnitude_sd == pytest.approx(math.sqrt(0.5))
    outcomes = summary.outcomes.set_index("group")
    gain, other = outcomes.loc["With a sudden gain"], outcomes.loc["Without a sudden gain"]
    assert (gain["discharged"], other["discharged"]) == (2, 2)
    assert gain["mean_improvement"] == pytest.approx(((20 - 10) + (18 - 8)) / 2)
    assert other["mean_improvement"] == pytest.approx(((20 - 10) + (15 - 15)) / 2)
    assert (gain["reliable_improvement"], other["reliable_improvement"]) == (1.0, 0.5)
    assert (gain["follow_up"], gain["follow_up_improvement"]) == (1, 8.0) and other["follow_up_improvement"] == 8.0
    homework = summary.homework.set_index("weeks")
    before, rest = homework.loc["Weeks in which a gain came"], homework.loc["Other weeks (same clients)"]
    assert (before["client_weeks"], before["assignments"], before["quantity"], before["quality"]) == (1, 2, 1.0, 0.75)
    assert (rest["client_weeks"], rest["assignments"]) == (2, 2)
    assert rest["quantity"] == pytest.approx(0.125) and rest["quality"] == pytest.approx(0.25)
    assert "client_id" not in summary.outcomes and "client_id" not in summary.homework  # aggregates only


def test_a_supervisor_without_clinics_gets_no_curve_and_no_error(sample_db):
    nobody = Viewer(role="supervisor", email="s@clinic", clinics=())
    curves = er.expected_curves(sample_db, nobody)
    assert curves.curve("PHQ-9") is None and curves.history_clients("PHQ-9") == 0
    clinic = sample_db.execute_sql("SELECT clinic FROM clients GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").iloc[0, 0]
    one = er.expected_curves(sample_db, Viewer(role="supervisor", email="s@clinic", clinics=(clinic,)))
    assert one.curve("PHQ-9") is not None
    assert one.curve("PHQ-9").n_clients < er.expected_curves(sample_db, LOCAL).curve("PHQ-9").n_clients


def test_curves_as_of_a_past_date_use_only_the_clients_discharged_by_then(sample_db):
    from analytics.quality_improvement.model import alert_clients

    now = er.expected_curves(sample_db, LOCAL, as_of=date(2026, 11, 1)).curve("PHQ-9")
    then = er.expected_curves(sample_db, LOCAL, as_of=date(2025, 6, 30)).curve("PHQ-9")
    discharged = sample_db.execute_sql(
        "SELECT count(DISTINCT client_id) AS n FROM clients WHERE discharge_date <= DATE '2025-06-30'").iloc[0, 0]
    assert then.n_clients <= discharged < now.n_clients
    assert then != now
    alerts = alert_clients(sample_db, LOCAL, as_of=date(2025, 6, 30))  # read against the curves of that date
    assert len(alerts) and "rule_off_track" in alerts


def test_the_back_test_table_follows_the_deployments_suppression_style(sample_db):
    from dataclasses import replace

    from analytics.config import active_settings

    nhs = replace(active_settings(), suppression_style="nhs_england")  # counts 0-4 withheld as "<5"
    raw = er.backtest(sample_db, LOCAL, settings=nhs)
    shown = er.backtest_table(sample_db, LOCAL, True, settings=nhs)
    counts = (raw["positives"], raw["n"] - raw["positives"], raw["flagged"])
    small = np.zeros(len(raw), dtype=bool)
    for c in counts:
        small |= (c < 5).to_numpy()
    assert (shown.loc[small, "PPV"] == WITHHELD_TEXT).all()
    assert not shown.loc[~small, "PPV"].isin([WITHHELD_TEXT]).any()
    # Counts of 5-10, withheld under the default CMS style, are shown under NHS England's rounding style.
    assert (~small & (raw["flagged"] < 11).to_numpy()).any()
