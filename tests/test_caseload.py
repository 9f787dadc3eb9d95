"""The caseload (issue 15 item 4) on a hand-built clinic, every expected value worked out by hand.

The data's as-of date is 2026-10-30 (K6's last session and scores: the latest date loaded, for
every viewer below). "Last 4 weeks" = 2026-10-03 .. 2026-10-30; a measure is overdue with its
latest score on or before 2026-10-02 (28 days or more); no recent contact = no attended session
since 2026-10-09 or later (21 days or more). Defaults: measure_overdue_weeks 4, no_contact_days 21,
not_on_track_weeks 6.

North, T1 (active): K1 risk (item 9 = 1 at the latest PHQ-9); K2 reliable deterioration 8 -> 15
(also at caseness); K3 at caseness without reliable improvement after 11 weeks (16 -> 13); K4
PHQ-9 last scored 2026-10-02 (exactly 28 days: overdue), GAD-7 recent; K5 last attended session
2026-10-09 (exactly 21 days: no recent contact; a later session was missed); K6, K8 (discharge
2026-11-06, after as_of: still active) and K11 (intake 4 days ago, nothing scored yet) need
nothing. K7 (T1) was discharged 2026-10-16: not active, though flagged. North, T2: K9 GAD-7 once,
35 days ago (overdue). South, T3: K10 risk (item 9 = 2).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from analytics import ClinicDatabase, Settings, Viewer, data_as_of
from analytics.caseload.model import (
    NEED_DETERIORATION,
    NEED_NO_CONTACT,
    NEED_NONE,
    NEED_NOT_ON_TRACK,
    NEED_OVERDUE,
    NEED_RISK,
    caseload,
    caseload_table,
    client_review_href,
)
from analytics.scope import IdentifiersNotPermitted
from tests.support.clinics import NORTH_ORDER, T1_ORDER, build_caseload_clinic

AS_OF = date(2026, 10, 30)

THERAPIST_T1 = Viewer(role="therapist", email="t1@clinic.org", therapist_id="T1")
SUPERVISOR_NORTH = Viewer(role="supervisor", email="sup.north@clinic.org", clinics=("North",))
QI = Viewer(role="qi", email="qi@clinic.org")

NEEDS = {
    "K1": NEED_RISK, "K2": NEED_DETERIORATION, "K3": NEED_NOT_ON_TRACK, "K4": NEED_OVERDUE, "K9": NEED_OVERDUE,
    "K5": NEED_NO_CONTACT, "K11": NEED_NONE, "K6": NEED_NONE, "K8": NEED_NONE, "K10": NEED_RISK,
}
# Whole weeks from intake to 2026-10-30 (days // 7).
WEEKS = {"K1": 12, "K2": 8, "K3": 11, "K4": 10, "K5": 9, "K6": 8, "K8": 7, "K11": 0, "K9": 5, "K10": 8}
DAYS_SINCE_CONTACT = {"K1": 7, "K2": 10, "K3": 14, "K4": 7, "K5": 21, "K6": 0, "K8": 3, "K11": 4, "K9": 7, "K10": 2}


@pytest.fixture(scope="module")
def caseload_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_caseload_clinic(tmp_path_factory.mktemp("caseload"))


@pytest.fixture
def db(caseload_db_path: Path):
    with ClinicDatabase(caseload_db_path) as database:
        yield database


def _clients(result) -> pd.DataFrame:
    return result.clients.set_index("client_id")


def test_now_is_the_data_as_of_date_for_each_viewer(db):
    for viewer in (THERAPIST_T1, SUPERVISOR_NORTH, Viewer.local()):
        assert data_as_of(db, viewer) == AS_OF
        assert caseload(db, viewer).as_of == AS_OF  # default: the data's date, never the wall clock


def test_therapist_sees_only_their_active_clients_sorted_by_need(db):
    result = caseload(db, THERAPIST_T1, AS_OF, Settings())
    assert result.clients["client_id"].tolist() == T1_ORDER  # no K7 (discharged), K9 (T2), K10 (South)
    assert result.clients["need"].tolist() == [NEEDS[c] for c in T1_ORDER]
    assert set(result.clients["therapist_id"]) == {"T1"}
    assert result.counts() == {"clients": 8, "risk": 1, "deterioration": 1, "not_on_track": 3, "measures_overdue": 1,
                               "no_contact": 1}


def test_supervisor_sees_their_clinic_and_local_mode_everyone(db):
    north = caseload(db, SUPERVISOR_NORTH, AS_OF, Settings())
    assert north.clients["client_id"].tolist() == NORTH_ORDER
    assert set(north.clients["clinic"]) == {"North"}
    everyone = caseload(db, Viewer.local(), AS_OF, Settings())
    assert everyone.clients["client_id"].tolist() == ["K1", "K10", *NORTH_ORDER[1:]]


def test_qi_is_refused(db):
    with pytest.raises(IdentifiersNotPermitted):
        caseload(db, QI, AS_OF, Settings())


def test_weeks_contact_and_rules(db):
    c = _clients(caseload(db, Viewer.local(), AS_OF, Settings()))
    assert c["weeks_since_intake"].to_dict() == WEEKS
    assert c["days_since_contact"].astype(int).to_dict() == DAYS_SINCE_CONTACT
    assert c.at["K5", "last_contact_date"] == pd.Timestamp("2026-10-09")  # the missed 2026-10-23 is no contact
    assert c["no_contact"][c["no_contact"]].index.tolist() == ["K5"]  # 21 days: flagged; 14 (K3): not
    assert sorted(c.index[c["risk"]]) == ["K1", "K10"]
    assert c.index[c["deterioration"]].tolist() == ["K2"]
    assert sorted(c.index[c["not_on_track"]]) == ["K1", "K10", "K2", "K3"]  # risk, deterioration, caseness
    assert c.at["K3", "not_on_track_reasons"] == "PHQ-9: at caseness, no reliable improvement"
    assert c.at["K1", "not_on_track_reasons"] == "PHQ-9 item 9 above 0 (2026-10-23)"


def test_measures_overdue_per_measure(db):
    result = caseload(db, Viewer.local(), AS_OF, Settings())
    c = _clients(result)
    assert c["overdue_measures"].to_dict() == {
        "K1": "", "K10": "", "K2": "", "K3": "", "K4": "PHQ-9", "K9": "GAD-7", "K5": "", "K11": "", "K6": "", "K8": "",
    }
    k4 = result.scores.set_index(["client_id", "measure"])
    assert k4.at[("K4", "PHQ-9"), "days_since_score"] == 28 and bool(k4.at[("K4", "PHQ-9"), "overdue"])
    assert k4.at[("K4", "GAD-7"), "days_since_score"] == 7 and not bool(k4.at[("K4", "GAD-7"), "overdue"])
    # K11 has no score yet, 4 days after intake: not overdue; 28 days with no score would be.
    later = _clients(caseload(db, Viewer.local(), date(2026, 11, 23), Settings()))
    assert later.at["K11", "overdue_measures"] == "no measure recorded"
    # The setting moves the cut: with 5 weeks, 28 days is not overdue, 35 (K9) is.
    five = _clients(caseload(db, Viewer.local(), AS_OF, Settings(measure_overdue_weeks=5)))
    assert five[five["measures_overdue"]].index.tolist() == ["K9"]


def test_homework_in_the_last_four_weeks(db):
    c = _clients(caseload(db, Viewer.local(), AS_OF, Settings()))
    assert c.loc["K6", ["homework_set", "homework_reviewed"]].tolist() == [3, 2]
    assert c.at["K6", "homework_quantity"] == pytest.approx(0.75)
    assert c.at["K6", "homework_reviewed_share"] == pytest.approx(2 / 3)
    assert c.at["K5", "homework_quantity"] == pytest.approx(0.25)
    assert c.at["K4", "homework_quantity"] == pytest.approx(1.0)  # 5 of 3 practices, capped
    assert c.at["K8", "homework_set"] == 0 and pd.isna(c.at["K8", "homework_quantity"])
    # Unreviewed work as not done (the documented alternative reading): K6 (1 + 0.5 + 0) / 3.
    strict = _clients(caseload(db, Viewer.local(), AS_OF, Settings(unreviewed_as_not_done=True)))
    assert strict.at["K6", "homework_quantity"] == pytest.approx(0.5)


def test_scores_band_and_change(db):
    scores = caseload(db, THERAPIST_T1, AS_OF, Settings()).scores.set_index(["client_id", "measure"])
    assert scores.loc[("K2", "PHQ-9"), ["last_score", "band", "change"]].tolist() == [15, "moderately severe", 7]
    assert bool(scores.at[("K2", "PHQ-9"), "reliable_deterioration"])
    assert scores.loc[("K6", "GAD-7"), ["last_score", "band", "change"]].tolist() == [6, "mild", -4]
    assert bool(scores.at[("K6", "GAD-7"), "reliable_improvement"])


def test_the_table_shows_labelled_columns_and_links(db):
    result = caseload(db, THERAPIST_T1, AS_OF, Settings())
    table = caseload_table(result, show_therapist=False)
    assert "Therapist" not in table
    assert table["Client"].tolist() == [f"client_review?client={c}" for c in T1_ORDER]
    row = table.set_index(table["Client"].str.removeprefix("client_review?client=")).loc["K6"]
    assert row[["PHQ-9", "PHQ-9 band", "PHQ-9 change", "GAD-7", "GAD-7 change"]].tolist() == [
        7, "mild", "\u22124", 6, "\u22124 (reliable)"]
    homework = ["Homework set (4 wk)", "Homework quantity (4 wk)", "Homework reviewed (4 wk)"]
    assert row[[*homework, "Last contact", "Days since contact"]].tolist() == [3, "75%", "67%", "2026-10-30", 0]
    k11 = table.iloc[T1_ORDER.index("K11")]
    assert pd.isna(k11["PHQ-9"]) and k11["Homework quantity (4 wk)"] == "\u2014" and k11["Measures overdue"] == ""
    assert table.iloc[0]["Risk"] == "Yes" and (table["Risk"] == "Yes").sum() == 1
    assert "Therapist" in caseload_table(caseload(db, SUPERVISOR_NORTH, AS_OF, Settings()))


def test_links_are_relative_and_quoted():
    assert client_review_href("C 1/&x") == "client_review?client=C%201%2F%26x"


def test_every_column_has_help_and_a_glossary_entry(db):
    from analytics.caseload.model import column_help
    from tests.support.clinics import ROOT

    result = caseload(db, SUPERVISOR_NORTH, AS_OF, Settings())
    table = caseload_table(result)
    assert result.measures == ("PHQ-9", "GAD-7")  # no CORE-10 score in the list: no empty CORE-10 column
    assert set(table.columns) == set(column_help(result))
    glossary = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    section = glossary.split("\n## Caseload\n", 1)[1].split("\n## ", 1)[0]
    documented = {line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ")}
    for header in table.columns:
        generic = header
        for measure in result.measures:
            if header == measure:
                generic = "PHQ-9, GAD-7 (each measure)"
            elif header.startswith(measure + " "):
                generic = "*Measure*" + header[len(measure):]
        assert generic in documented, header


def test_active_means_not_discharged_on_or_before_the_as_of_date(db):
    def ids(as_of: date) -> list[str]:
        return sorted(caseload(db, THERAPIST_T1, as_of, Settings()).clients["client_id"])

    assert "K8" in ids(AS_OF)  # discharge 2026-11-06, after the as-of date: still active
    assert "K7" in ids(date(2026, 10, 15)) and "K7" not in ids(date(2026, 10, 16))  # discharged 2026-10-16
    assert "K11" not in ids(date(2026, 10, 25))  # intake 2026-10-26: not yet in treatment
    # Nothing after the as-of date counts: on 2026-10-15 K2's rise to 15 (2026-10-20) is not there yet.
    early = caseload(db, THERAPIST_T1, date(2026, 10, 15), Settings()).scores.set_index(["client_id", "measure"])
    assert early.at[("K2", "PHQ-9"), "last_score"] == 8 and not bool(early.at[("K2", "PHQ-9"), "paired"])


def test_no_client_gives_an_empty_caseload(db):
    nobody = Viewer(role="supervisor", email="s@clinic.org", clinics=("West",))
    result = caseload(db, nobody)
    assert result.as_of is None and result.empty and result.counts()["clients"] == 0
    assert caseload_table(result).empty


def test_change_column_help_says_which_way_is_better_per_measure(tmp_path):
    """A higher-is-better measure (added through the settings file) is not described as
    "lower is better" (issue 11 item 3); the shipped measures are."""
    from types import SimpleNamespace

    from analytics.caseload.model import column_help
    from analytics.config import load_settings
    from tests.support.wellbeing_clinic import WELLBEING, WELLBEING_SETTINGS

    config = tmp_path / "settings.toml"
    config.write_text(WELLBEING_SETTINGS, encoding="utf-8")
    result = SimpleNamespace(measures=["PHQ-9", WELLBEING], measure_overdue_weeks=4)
    help_texts = column_help(result, load_settings(config))
    assert "(lower is better)" in help_texts["PHQ-9 change"]
    assert "(higher is better)" in help_texts[f"{WELLBEING} change"]


def test_the_client_review_flags_no_contact_by_the_caseload_rule(db):
    """Issue 15 item 8: the client review says when an active client has had no contact, by the
    same rule (and the same clients) as the caseload; K5's last attended session was 21 days
    before the as-of date (the rule's edge), K11 came to intake 4 days ago."""
    from analytics.client_review.model import client_review, contact_gap

    listed = _clients(caseload(db, Viewer.local(), AS_OF, Settings()))
    flagged = {}
    for client_id in listed.index:
        review = client_review(db, Viewer.local(), client_id, AS_OF)
        flagged[client_id] = contact_gap(review, Settings())
    assert {c for c, gap in flagged.items() if gap} == set(listed.index[listed["no_contact"]]) == {"K5"}
    assert flagged["K5"] == ("No contact for 21 days (last attended session 2026-10-09), longer than the clinic's "
                             "21-day rule: check in with the client.")
    stricter = client_review(db, Viewer.local(), "K3", AS_OF)
    assert contact_gap(stricter, Settings(no_contact_days=14)).startswith("No contact for 14 days")


# ----------------------------------------------------------------------------- national scale (issue 12 item 3)


def _recorded_rows(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every result a ClinicDatabase query brings into Python: (query, rows)."""
    from analytics.db import ClinicDatabase as Database

    seen: list[tuple[str, int]] = []
    original = Database.execute_sql

    def recording(self, sql, params=None, *, label="query"):
        out = original(self, sql, params, label=label)
        seen.append((label, len(out)))
        return out

    monkeypatch.setattr(Database, "execute_sql", recording)
    return seen


def test_a_caseload_larger_than_the_list_lists_n_and_counts_all(sample_db, monkeypatch):
    """The sample clinic has 25 active clients (as of its last date) with hundreds of treatment
    scores: listing 10, the caseload brings at most 10 client rows into Python (no query more than
    100 rows: the list, the 6 need counts, the fitted curves' cells), lists the first 10 of the
    whole need order, says 10 of 25, and counts every active client as the QI alert rule does."""
    from analytics.caseload.model import MAX_LIMIT, count_tiles
    from analytics.quality_improvement.model import alert_clients

    local = Viewer.local()
    as_of = data_as_of(sample_db, local)
    settings = Settings()
    everyone = caseload(sample_db, local, as_of, settings, limit=MAX_LIMIT)
    alerts = alert_clients(sample_db, local, as_of=as_of, settings=settings)
    scores = sample_db.execute_sql(
        "SELECT count(*) AS n FROM scores JOIN clients USING (client_id) WHERE administered_date <= $d "
        "AND intake_date <= $d AND (discharge_date IS NULL OR discharge_date > $d)", {"d": as_of})["n"].iloc[0]
    assert len(everyone.clients) == len(alerts) == 25 and scores > 100  # more than the bound below: a real test

    seen = _recorded_rows(monkeypatch)
    listed = caseload(sample_db, local, as_of, settings, limit=10)
    assert max(rows for _, rows in seen) <= 100, seen
    assert dict(seen)["caseload"] == 10 and dict(seen)["caseload_counts"] <= 6
    assert listed.clients["client_id"].tolist() == everyone.clients["client_id"].tolist()[:10]
    assert (listed.shown, listed.total) == (10, 25)
    assert listed.listing().startswith("Showing the first 10 of 25 active clients")
    assert listed.counts() == everyone.counts()
    assert count_tiles(listed) == count_tiles(everyone)
    assert listed.counts()["not_on_track"] == int(alerts["not_on_track"].sum())
    assert listed.counts()["risk"] == int(alerts["rule_risk"].sum())
    assert listed.counts()["deterioration"] == int(alerts["rule_deterioration"].sum())
    # The listed rows are the same rows, and their scores those of the listed clients only.
    first = everyone.clients.head(10).reset_index(drop=True)
    pd.testing.assert_frame_equal(listed.clients, first)
    assert set(listed.scores["client_id"]) <= set(first["client_id"])
    # Counts only (Home): no client row at all.
    seen.clear()
    tiles = caseload(sample_db, local, as_of, settings, limit=0)
    assert tiles.clients.empty and tiles.counts() == everyone.counts()
    assert "caseload" not in dict(seen)


def test_the_list_can_be_narrowed_to_needs(db):
    result = caseload(db, Viewer.local(), AS_OF, Settings(), needs=[NEED_OVERDUE, NEED_RISK])
    assert result.clients["client_id"].tolist() == ["K1", "K10", "K4", "K9"]  # need order, then client id
    assert (result.shown, result.total) == (4, 4)
    assert result.listing() == "Showing all 4 active clients with the needs chosen, most in need first."
    assert result.counts() == caseload(db, Viewer.local(), AS_OF, Settings()).counts()  # counts: every client
    nothing = caseload(db, Viewer.local(), AS_OF, Settings(), needs=[NEED_NONE], limit=2)
    assert nothing.clients["client_id"].tolist() == ["K11", "K6"] and (nothing.shown, nothing.total) == (2, 3)
