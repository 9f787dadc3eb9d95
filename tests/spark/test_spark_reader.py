"""The Spark reader's guarantees (analytics/spark_engine.py): time limits, bound values, one
snapshot per reader."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from analytics import QueryTimeout, Viewer
from analytics.access import add_user, find_client
from analytics.db import ENGINE_ENV
from analytics.lake import current_snapshot, publish_snapshot
from analytics.spark_engine import SparkClinicDatabase


def test_a_query_past_its_time_limit_is_stopped_and_the_reader_goes_on(clinic_path: Path):
    with SparkClinicDatabase(clinic_path, current_snapshot(clinic_path), timeout_s=3) as db:
        with pytest.raises(QueryTimeout, match="took longer than 3 s and was stopped"):
            db.execute_sql("SELECT count(*) AS n FROM scores AS a JOIN scores AS b ON a.measure = b.measure "
                           "JOIN scores AS c ON b.measure = c.measure", label="three-way join")
        # the reader goes on (its limit raised: the stopped query's tasks hold the two local
        # executor slots until their next check, some 15 s for this join)
        db.timeout_s = 300
        assert int(db.execute_sql("SELECT count(*) AS n FROM clients")["n"].iloc[0]) > 0


def test_values_are_bound_never_spliced(spark, duck):
    local = Viewer.local()
    first = str(duck.execute_sql("SELECT min(client_id) AS c FROM clients")["c"].iloc[0])
    assert find_client(spark, local, first)["client_id"] == first
    for probe in ("x' OR '1'='1", "x\\' OR 1=1 --", first + "' --"):
        assert find_client(spark, local, probe) is None


def test_a_reader_keeps_its_snapshot_while_a_new_one_is_published(clinic_path: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "clinic.duckdb"
    shutil.copy(clinic_path, path)
    publish_snapshot(path)
    before = SparkClinicDatabase(path, current_snapshot(path))
    users = "SELECT count(*) AS n FROM users"
    n = int(before.execute_sql(users)["n"].iloc[0])
    monkeypatch.setenv(ENGINE_ENV, "spark")
    add_user(path, "reader-test@example.org", "qi")  # a write: published as a new snapshot
    after = SparkClinicDatabase(path, current_snapshot(path))
    assert after.version != before.version
    assert int(after.execute_sql(users)["n"].iloc[0]) == n + 1
    assert int(before.execute_sql(users)["n"].iloc[0]) == n  # all old, until it is reopened
