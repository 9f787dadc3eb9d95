"""The sample-data generator: determinism, the import format, realism, planted relations."""

from __future__ import annotations

import csv
import io
import re
import time
import tomllib
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sample_data import generator as gen
from sample_data.generator import AS_OF, COLUMNS, generate_clinic, write_csv, write_export

PROFILES = Path(__file__).resolve().parents[1] / "sample_data" / "profiles"
CHECKLIST = list(gen.CHECKLIST)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@pytest.fixture(scope="module")
def small() -> dict[str, pd.DataFrame]:
    return generate_clinic(600, seed=7)


@pytest.fixture(scope="module")
def large() -> dict[str, pd.DataFrame]:
    return generate_clinic(3000, seed=11)


def _with_fractions(assignments: pd.DataFrame) -> pd.DataFrame:
    """Quantity fraction = rating/4, else min(completed/planned, 1); quality = rating/4."""
    rated = (assignments.quantity_rating / 4).astype("float64")
    counted = np.minimum(assignments.completed_practices / assignments.planned_practices, 1).astype("float64")
    return assignments.assign(
        quantity=rated.fillna(counted), quality=(assignments.quality_rating / 4).astype("float64")
    )


def _first_last(frames: dict[str, pd.DataFrame], measure: str) -> pd.DataFrame:
    """Per client with >= 2 scores: first (earliest) and last (latest on or before discharge)."""
    clients, scores = frames["clients"], frames["scores"]
    x = scores[scores.measure == measure].merge(clients[["client_id", "discharge_date"]], on="client_id")
    x = x[x.discharge_date.isna() | (x.administered_date <= x.discharge_date)]
    g = x.sort_values(["client_id", "administered_date"]).groupby("client_id").total_score
    out = pd.DataFrame({"first": g.first(), "last": g.last(), "n": g.size()})
    out = out[out.n >= 2]
    out["change"] = out["last"] - out["first"]
    return out.join(clients.set_index("client_id")[["primary_concern", "program"]])


# ------------------------------------------------------------------ determinism


def test_same_seed_same_frames_and_bytes(small, tmp_path):
    again = generate_clinic(600, seed=7)
    for name in COLUMNS:
        pd.testing.assert_frame_equal(small[name], again[name])
    a = write_export(tmp_path / "a", 600, seed=7)
    b = write_export(tmp_path / "b", 600, seed=7)
    assert [p.name for p in a] == ["clients.csv", "sessions.csv", "assignments.csv", "scores.csv"]
    for pa_, pb_ in zip(a, b, strict=True):
        assert pa_.read_bytes() == pb_.read_bytes()


def test_different_seed_or_as_of_differs(small):
    other = generate_clinic(600, seed=8)
    assert not small["scores"].equals(other["scores"])
    assert not small["assignments"]["description"].equals(other["assignments"]["description"])
    earlier = generate_clinic(600, seed=7, as_of=date(2025, 3, 1))
    limit = pd.Timestamp(2025, 3, 1)
    assert earlier["sessions"].session_date.max() <= limit
    assert earlier["scores"].administered_date.max() <= limit
    assert earlier["clients"].intake_date.min() >= limit - pd.Timedelta(days=1010)


def test_size_and_speed():
    started = time.perf_counter()
    frames = generate_clinic(600, seed=3)
    assert time.perf_counter() - started < 2.0  # ~0.1 s on a laptop; generous for CI
    assert len(frames["clients"]) == 600
    tiny = generate_clinic(1, seed=3)
    assert len(tiny["clients"]) == 1 and len(tiny["sessions"]) >= 1
    with pytest.raises(ValueError):
        generate_clinic(0)


# ----------------------------------------------------------------------- schema


def test_columns_exactly(small):
    assert list(small) == ["clients", "sessions", "assignments", "scores"]
    for name, frame in small.items():
        assert list(frame.columns) == COLUMNS[name]


def test_csv_text_format(small, tmp_path):
    paths = {p.stem: p for p in write_export(tmp_path, 600, seed=7)}
    for name, path in paths.items():
        raw = path.read_bytes()
        raw.decode("utf-8")
        assert not raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
        assert rows[0] == COLUMNS[name]
        body = rows[1:]
        assert len(body) == len(small[name])
        assert all(len(r) == len(COLUMNS[name]) for r in body)
        frame = small[name]
        for i, col in enumerate(COLUMNS[name]):
            values = {r[i] for r in body}
            dtype = frame[col].dtype
            if pd.api.types.is_datetime64_any_dtype(dtype):
                assert all(v == "" or ISO_DATE.fullmatch(v) for v in values), col
            elif pd.api.types.is_bool_dtype(dtype):
                assert values <= {"true", "false"}, col
            elif pd.api.types.is_integer_dtype(dtype):
                assert all(v == "" or v.isdigit() for v in values), col
        # Reading the file back gives the frame back.
        back = pd.read_csv(path, dtype=str, keep_default_na=False)
        for col in COLUMNS[name]:
            expected = frame[col]
            if pd.api.types.is_datetime64_any_dtype(expected.dtype):
                expected = expected.dt.strftime("%Y-%m-%d")
            elif pd.api.types.is_bool_dtype(expected.dtype):
                expected = expected.map({True: "true", False: "false"})
            else:
                expected = expected.astype("str")
            expected = expected.where(frame[col].notna(), "")
            assert back[col].tolist() == expected.tolist(), col
    # Descriptions exercise RFC 4180 quoting: commas, doubled quotes and line breaks.
    text = paths["assignments"].read_text(encoding="utf-8")
    assert re.search(r',"[^"\n]*,[^"\n]*"\n', text)
    assert '""' in text
    assert re.search(r',"[^"]*\n[^"]*"\n', text)


def test_csv_readable_by_duckdb(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    paths = write_export(tmp_path, 300, seed=5)
    frames = generate_clinic(300, seed=5)
    con = duckdb.connect()
    for path in paths:
        n = con.execute("SELECT count(*) FROM read_csv(?, header = true)", [str(path)]).fetchone()[0]
        assert n == len(frames[path.stem])
    kinds = dict(
        con.execute(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_csv(?))", [str(paths[2])]
        ).fetchall()
    )
    assert kinds["assigned_date"] == "DATE" and kinds["goal_linked"] == "BOOLEAN"


def test_write_csv_quoting(tmp_path):
    frame = pd.DataFrame(
        {
            "text": pd.array(["plain", "a, b", 'say "hi"', "two\nlines", "cr\rhere", None], dtype="str"),
            "n": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
        }
    )
    path = write_csv(frame, tmp_path / "x.csv")
    assert path.read_bytes() == (b'text,n\nplain,1\n"a, b",\n"say ""hi""",3\n"two\nlines",4\n"cr\rhere",5\n,6\n')


def test_keys_and_references(small):
    c, s, a, sc = small["clients"], small["sessions"], small["assignments"], small["scores"]
    assert c.client_id.is_unique
    assert not s.duplicated(["client_id", "session_date"]).any()
    assert a.assignment_id.is_unique
    assert not sc.duplicated(["client_id", "measure", "administered_date"]).any()
    ids = set(c.client_id)
    for frame in (s, a, sc):
        assert set(frame.client_id) <= ids
    assert c.client_id.str.fullmatch(r"C\d{6}").all()
    assert c.therapist_id.str.fullmatch(r"T\d{3}").all()
    assert a.assignment_id.str.fullmatch(r"A\d{7}").all()
    for frame in small.values():
        for col in frame.columns:
            if col in {"client_id", "clinic", "therapist_id", "program", "primary_concern", "measure", "assignment_id"}:
                assert frame[col].notna().all(), col


def test_dates_and_ordering(small):
    c, s, a, sc = small["clients"], small["sessions"], small["assignments"], small["scores"]
    limit = pd.Timestamp(AS_OF)
    for frame, cols in (
        (c, ["intake_date", "discharge_date"]),
        (s, ["session_date"]),
        (a, ["assigned_date", "reviewed_date"]),
        (sc, ["administered_date"]),
    ):
        for col in cols:
            assert (frame[col].dropna() <= limit).all(), col
    assert c.intake_date.min() >= limit - pd.Timedelta(days=3 * 366)
    discharged = c.dropna(subset=["discharge_date"])
    assert (discharged.discharge_date >= discharged.intake_date).all()

    # Sessions: numbered 1..n in date order, the first one at intake and attended.
    s = s.merge(c[["client_id", "intake_date", "discharge_date"]], on="client_id")
    g = s.groupby("client_id")
    assert (g.session_date.diff().dropna() > pd.Timedelta(0)).all()
    assert (g.session_number.diff().dropna() == 1).all()
    first = g.first()
    assert (first.session_number == 1).all() and first.attended.all()
    assert (first.session_date == first.intake_date).all()
    assert (s.session_date >= s.intake_date).all()
    assert ((s.session_date <= s.discharge_date) | s.discharge_date.isna()).all()
    assert (s.session_date.dt.day_of_week < 5).all()

    # Assignments are set at, and reviewed at, attended sessions of the same client.
    attended = s.loc[s.attended, ["client_id", "session_date"]]
    keys = set(zip(attended.client_id, attended.session_date, strict=True))
    assert all(k in keys for k in zip(a.client_id, a.assigned_date, strict=True))
    reviewed = a.dropna(subset=["reviewed_date"])
    assert (reviewed.reviewed_date >= reviewed.assigned_date).all()
    assert all(k in keys for k in zip(reviewed.client_id, reviewed.reviewed_date, strict=True))

    # Scores: intake, attended sessions, or follow-ups 30-365 days after discharge.
    x = sc.merge(c[["client_id", "intake_date", "discharge_date"]], on="client_id")
    at_session = pd.Series([k in keys for k in zip(x.client_id, x.administered_date, strict=True)], index=x.index)
    follow = ~at_session
    assert (x.loc[follow, "administered_date"] > x.loc[follow, "discharge_date"]).all()
    gap = (x.loc[follow, "administered_date"] - x.loc[follow, "discharge_date"]).dt.days
    assert gap.between(30, 365).all()
    firsts = x.groupby(["client_id", "measure"]).administered_date.min()
    intake = c.set_index("client_id").intake_date
    assert (firsts.values == intake.reindex(firsts.index.get_level_values(0)).values).all()


def test_value_ranges(small):
    a, sc = small["assignments"], small["scores"]
    assert set(a.homework_type) <= set(gen.HOMEWORK_TYPES)
    assert (a.planned_practices >= 1).all()
    assert (a.completed_practices.dropna() >= 0).all()
    assert (a.completed_practices > a.planned_practices).any()  # allowed, and it happens
    for col in ("quantity_rating", "quality_rating"):
        assert a[col].dropna().between(0, 4).all()
    assert set(a.rated_by.dropna()) == {"therapist", "client", "both"}
    has_rating = a.quantity_rating.notna() | a.quality_rating.notna()
    assert (a.rated_by.notna() == has_rating).all()
    unreviewed = a.reviewed_date.isna()
    for col in ("completed_practices", "quantity_rating", "quality_rating", "rated_by"):
        assert a.loc[unreviewed, col].isna().all(), col
    assert a.description.notna().all() and (a.description.str.len() > 5).all()

    assert set(sc.measure) == {"PHQ-9", "GAD-7", "CORE-10"}
    items = sc[[f"item_{i}" for i in range(1, 10)]]
    core = sc.measure == "CORE-10"
    assert items[core].isna().all().all()  # CORE-10: total scores only
    assert sc.loc[core, "total_score"].between(0, 40).all()
    items, sc = items[~core], sc[~core]
    phq, gad = sc.measure == "PHQ-9", sc.measure == "GAD-7"
    assert items[phq].notna().all().all()
    assert items.loc[gad, ["item_8", "item_9"]].isna().all().all()
    assert items.loc[gad, [f"item_{i}" for i in range(1, 8)]].notna().all().all()
    assert (items.fillna(0).sum(axis=1) == sc.total_score).all()
    assert items.stack().between(0, 3).all()
    assert sc.loc[phq, "total_score"].between(0, 27).all()
    assert sc.loc[gad, "total_score"].between(0, 21).all()


# ---------------------------------------------------------------------- realism


def test_organisation(large):
    c = large["clients"]
    assert 4 <= c.clinic.nunique() <= 6
    sizes = c.clinic.value_counts()
    assert sizes.max() > 1.8 * sizes.min()  # clinics differ in size
    assert c.groupby("therapist_id").clinic.nunique().max() == 1
    caseload = c.therapist_id.value_counts()
    assert 20 <= caseload.median() <= 40
    assert set(c.program) == {"Depression CBT", "Anxiety CBT", "Group CBT"}
    assert c.primary_concern.nunique() >= 5
    assert (
        c.loc[c.program == "Depression CBT", "primary_concern"].isin(["depression", "mixed anxiety-depression"])
    ).all()
    assert not c.loc[c.program == "Anxiety CBT", "primary_concern"].eq("depression").any()
    small = generate_clinic(600, seed=7)["clients"]
    per_clinic = small.groupby("clinic").therapist_id.nunique()
    assert per_clinic.sum() >= 15 and per_clinic.min() >= 2


def test_group_sessions_shared(large):
    c, s = large["clients"], large["sessions"]
    groups = c.loc[c.program == "Group CBT", ["client_id", "therapist_id"]]
    x = s.merge(groups, on="client_id")
    shared = x.groupby(["therapist_id", "session_date"]).client_id.nunique()
    assert shared.median() >= 4  # group members meet on the same dates
    assert 0.08 <= len(groups) / len(c) <= 0.2


def test_treatment_course(large):
    c, s, a = large["clients"], large["sessions"], large["assignments"]
    n = len(c)
    assert 0.10 <= 1 - s.attended.mean() <= 0.15
    per_client = s.groupby("client_id").size()
    assert 10 <= per_client.median() <= 16 and per_client.max() <= 26
    in_treatment = c.discharge_date.isna()
    assert 0.04 <= in_treatment.mean() <= 0.15
    assert (c.loc[in_treatment, "intake_date"] > pd.Timestamp(AS_OF) - pd.Timedelta(days=200)).all()
    attended = s[s.attended].groupby("client_id").size()
    early = c.discharge_date.notna() & c.client_id.map(attended).le(6)
    assert 0.12 <= early.mean() <= 0.30  # drop-outs
    per_session = a.groupby(["client_id", "assigned_date"]).size()
    assert per_session.max() <= 3
    assert 20 <= len(a) / n <= 30  # ~25 assignments per client
    assert 12 <= len(large["scores"]) / n <= 18  # ~15 scores per client
    assert 0.06 <= a.reviewed_date.isna().mean() <= 0.15
    counted_only = a.completed_practices.notna() & a.quantity_rating.isna()
    assert 0.08 <= counted_only.mean() <= 0.35
    assert a.homework_type.nunique() == len(gen.HOMEWORK_TYPES)
    assert (a.groupby("homework_type").size() / len(a)).max() < 0.35
    # Therapists differ in their habits.
    habits = a.merge(c[["client_id", "therapist_id"]], on="client_id").groupby("therapist_id")
    thorough = habits[CHECKLIST].mean().mean(axis=1)
    assert thorough.quantile(0.9) - thorough.quantile(0.1) > 0.25
    assert habits.rated_by.agg(lambda r: r.value_counts(normalize=True).max()).median() > 0.5


def test_measures_and_outcomes(large):
    c, sc = large["clients"], large["scores"]
    measured = sc.groupby("client_id").measure.agg(set)
    concern = c.set_index("client_id").primary_concern
    depressive = concern.isin(["depression", "mixed anxiety-depression"])
    assert all("PHQ-9" in measured[i] for i in depressive[depressive].index)
    assert all("GAD-7" in measured[i] for i in depressive[~depressive].index)
    assert 0.5 <= np.mean(["GAD-7" in measured[i] for i in depressive[depressive].index]) <= 0.9

    phq = _first_last(large, "PHQ-9")
    dep = phq[phq.primary_concern == "depression"]
    firsts = sc[sc.measure == "PHQ-9"].sort_values("administered_date").groupby("client_id").total_score.first()
    dep_intake = firsts[firsts.index.isin(concern[concern == "depression"].index)]
    assert 14.5 <= dep_intake.mean() <= 16.5
    assert 4.0 <= dep_intake.std() <= 6.0
    assert -7.0 <= dep.change.mean() <= -5.0
    cases = dep[dep["first"] >= 10]
    recovery = (cases["last"] < 10).mean()
    assert 0.42 <= recovery <= 0.58
    assert 0.40 <= (dep.change <= -6).mean() <= 0.65
    assert 0.005 <= (dep.change >= 6).mean() <= 0.06

    gad = _first_last(large, "GAD-7")
    anx = gad[~gad.primary_concern.isin(["depression", "mixed anxiety-depression"])]
    assert -6.5 <= anx.change.mean() <= -3.5
    assert 0.005 <= (anx.change >= 4).mean() <= 0.08

    item9 = sc.loc[sc.measure == "PHQ-9", "item_9"]
    assert 0.01 <= (item9 > 0).mean() <= 0.08

    after = sc.merge(c[["client_id", "discharge_date"]], on="client_id")
    followed = after.loc[after.administered_date > after.discharge_date, "client_id"].nunique()
    assert 0.18 <= followed / c.discharge_date.notna().sum() <= 0.33


# ------------------------------------------------------------- planted relations


def test_compliance_outcome_correlation(large):
    a = _with_fractions(large["assignments"])
    per_client = a.groupby("client_id")[["quantity", "quality"]].mean()
    phq = _first_last(large, "PHQ-9").join(per_client)
    dep = phq[phq.primary_concern == "depression"].dropna(subset=["quantity", "quality"])
    assert len(dep) > 800
    r_quantity = dep.quantity.corr(dep.change)
    r_quality = dep.quality.corr(dep.change)
    assert -0.35 < r_quantity < -0.15
    assert -0.32 < r_quality < -0.08
    gad = _first_last(large, "GAD-7").join(per_client).dropna(subset=["quantity"])
    assert gad.quantity.corr(gad.change) < -0.12


def test_design_checklist_raises_completion(large):
    a = _with_fractions(large["assignments"])
    met = a[CHECKLIST].sum(axis=1)
    by_items = a.groupby(met).quantity.mean()
    assert by_items[5] > a.loc[met <= 1, "quantity"].mean() + 0.08
    assert by_items.is_monotonic_increasing


def test_within_client_lag(large):
    """A week whose homework went better than usual precedes a bigger drop at the next score."""
    c, sc = large["clients"], large["scores"]
    a = _with_fractions(large["assignments"]).dropna(subset=["quantity", "reviewed_date"])
    x = sc[sc.measure == "PHQ-9"].merge(c[["client_id", "discharge_date"]], on="client_id")
    x = x[x.discharge_date.isna() | (x.administered_date <= x.discharge_date)]
    x = x.sort_values(["client_id", "administered_date"])
    x["delta"] = x.groupby("client_id").total_score.diff()
    week = a.groupby(["client_id", "reviewed_date"]).quantity.mean().rename("week_quantity").reset_index()
    y = x.merge(week, left_on=["client_id", "administered_date"], right_on=["client_id", "reviewed_date"])
    y = y.dropna(subset=["delta"])
    y = y[y.groupby("client_id").client_id.transform("size") >= 3]
    dy = y.delta - y.groupby("client_id").delta.transform("mean")
    dx = y.week_quantity - y.groupby("client_id").week_quantity.transform("mean")
    slope = float((dx * dy).sum() / (dx**2).sum())
    se = float(np.sqrt(((dy - slope * dx) ** 2).sum() / (len(y) - 2) / (dx**2).sum()))
    assert len(y) > 5000
    assert slope < -0.5 and slope / se < -4


# ------------------------------------------------------------ CarePath example


def test_carepath_example_files_are_current(tmp_path):
    fresh = gen.write_carepath_example(tmp_path)
    committed = PROFILES / "carepath_example"
    assert sorted(p.name for p in committed.glob("*.csv")) == sorted(p.name for p in fresh)
    for path in fresh:
        assert (committed / path.name).read_bytes() == path.read_bytes(), path.name


def test_carepath_profile_maps_back_to_generator_rows():
    profile = tomllib.loads((PROFILES / "carepath.toml").read_text(encoding="utf-8"))
    assert profile["profile"]["name"] == "CarePath EHR"
    date_format = profile["profile"]["date_format"]
    frames = generate_clinic(600, seed=7)
    ids = gen.carepath_client_ids(frames)
    assert len(ids) == 10
    values = {kind: {k.strip().lower(): v for k, v in m.items()} for kind, m in profile["values"].items()}
    extras = {"Referral Source", "Appointment Type", "Last Edited By", "Completed Via"}
    for stem, table in profile["tables"].items():
        vendor = pd.read_csv(PROFILES / "carepath_example" / f"{stem}.csv", dtype=str, keep_default_na=False)
        mapping = profile["columns"][table]
        assert set(vendor.columns) == set(mapping) | (extras & set(vendor.columns))
        assert len(set(vendor.columns) - set(mapping)) == 1  # one vendor-only column per file
        ours = vendor[list(mapping)].rename(columns=mapping)
        expected = frames[table][frames[table].client_id.isin(ids)].reset_index(drop=True)
        assert list(ours.columns) == [c for c in COLUMNS[table] if c in ours.columns]
        assert len(ours) == len(expected)
        for col in ours.columns:
            theirs = ours[col]
            want = expected[col]
            if pd.api.types.is_datetime64_any_dtype(want.dtype):
                got = pd.to_datetime(theirs.replace("", None), format=date_format)
                assert got.equals(want.astype(got.dtype)), col
                continue
            if pd.api.types.is_bool_dtype(want.dtype):
                theirs = theirs.str.strip().str.lower().map(values["boolean"]).map({"true": True, "false": False})
            elif col in values:
                theirs = theirs.str.strip().str.lower().map(values[col]).fillna(theirs.where(theirs != "", None))
                assert theirs.isin(set(want.dropna()) | {None}).all() or theirs.notna().sum() == 0, col
            want_text = want.astype("str").where(want.notna(), "")
            got_text = theirs.astype("str").where(theirs.notna() & (theirs != ""), "")
            assert got_text.tolist() == want_text.tolist(), col


def test_carepath_profile_loads_with_the_importer():
    profiles = pytest.importorskip("analytics.ingest.profiles")
    profile = profiles.load_profile(PROFILES / "carepath.toml")
    assert profile.date_format == "%d/%m/%Y"
    for stem in ("Patients", "Appointments", "HomeworkTasks", "Questionnaires"):
        table = profile.table_for(stem)
        header = pd.read_csv(PROFILES / "carepath_example" / f"{stem}.csv", nrows=0).columns
        mapped = {h: profile.column_for(table, h) for h in header}
        unmapped = [h for h, ours in mapped.items() if ours is None]
        assert len(unmapped) == 1, unmapped  # the vendor-only column is ignored
        assert set(filter(None, mapped.values())) <= set(COLUMNS[table])



def test_the_group_programme_gives_core10_from_its_own_stream(tmp_path):
    """CORE-10 (issue 15, item 16): the Group CBT clients, and only they, have CORE-10 scores on the
    days of their other scores or at follow-up; drawn from a stream of their own, so every other row
    of the clinic is what it was without them."""
    frames = generate_clinic(600, seed=7)
    c, sc = frames["clients"], frames["scores"]
    core = sc[sc.measure == "CORE-10"]
    group = set(c.loc[c.program == "Group CBT", "client_id"])
    assert set(core.client_id) <= group and len(set(core.client_id)) > 0.6 * len(group)
    assert core.merge(sc[sc.measure != "CORE-10"], on=["client_id", "administered_date"]).client_id.nunique() == \
        core.client_id.nunique()  # given beside PHQ-9 / GAD-7
    first = core.groupby("client_id").total_score.first()
    assert 15 <= first.mean() <= 22 and (first >= 11).mean() > 0.75  # a clinical population (caseness 11)
    last = core.groupby("client_id").total_score.last()
    assert (first - last).mean() > 3  # the group improves, as on PHQ-9

    # Without the CORE-10 stream: the same clinic (the stream is drawn after every other draw).
    original = gen.CORE10_PROGRAM
    try:
        gen.CORE10_PROGRAM = -1  # no programme: no CORE-10 row, and nothing else changes
        without = generate_clinic(600, seed=7)
    finally:
        gen.CORE10_PROGRAM = original
    for table in ("clients", "sessions", "assignments"):
        pd.testing.assert_frame_equal(frames[table], without[table])
    pd.testing.assert_frame_equal(sc[sc.measure != "CORE-10"].reset_index(drop=True), without["scores"])


# ------------------------------------------------------------------ chunked generation


def test_one_chunk_writes_the_same_bytes_as_the_unchunked_export(tmp_path):
    whole = write_export(tmp_path / "whole", 600, seed=7)
    for chunk in (600, 5000):
        chunked = write_export(tmp_path / f"chunk-{chunk}", 600, seed=7, chunk_clients=chunk)
        for a, b in zip(whole, chunked, strict=True):
            assert a.read_bytes() == b.read_bytes(), (chunk, a.name)


def test_two_chunks_share_one_network_with_unique_ids_and_import_cleanly(tmp_path):
    from analytics.ingest.importer import import_files

    paths = write_export(tmp_path / "csv", 600, seed=7, chunk_clients=300)
    frames = {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths}
    clients, assignments = frames["clients"], frames["assignments"]
    # Ids run on across chunks: unique, one width each.
    assert clients.client_id.tolist() == [f"C{i:06d}" for i in range(1, 601)]
    assert assignments.assignment_id.is_unique
    assert assignments.assignment_id.str.len().nunique() == 1
    numbers = assignments.assignment_id.str[1:].astype(int)
    assert numbers.tolist() == list(range(1, len(assignments) + 1))
    # One network: both chunks draw from the same therapists, each therapist in one clinic.
    first, second = clients.iloc[:300], clients.iloc[300:]
    assert len(set(first.therapist_id) & set(second.therapist_id)) >= 10
    assert clients.groupby("therapist_id").clinic.nunique().max() == 1
    # The second chunk comes from a stream of its own, not a copy of the first.
    assert first.intake_date.tolist() != second.intake_date.tolist()
    for name in ("sessions", "assignments", "scores"):
        assert set(frames[name].client_id) <= set(clients.client_id)
        assert frames[name].client_id.isin(second.client_id).any()
    result = import_files(tmp_path / "clinic.duckdb", paths, source="test")
    assert result.exit_code == 0, result.report()
    assert result.inserted == sum(len(f) for f in frames.values())
