"""One data version per script run: an import that swaps the file mid-run does not mix versions.

The browser suite (tests/browser/test_concurrency.py) checks this under 20 sessions; this is
the deterministic unit check of ``ui.database()``'s pin (ui/context.py).
"""

from __future__ import annotations

import shutil

from streamlit.testing.v1 import AppTest

NEW_CLIENT = "client_id,clinic,therapist_id,program,primary_concern,intake_date,discharge_date\n" \
             "PIN-1,North,T1,Depression CBT,depression,2025-06-02,\n"


def _script() -> None:
    import os
    from pathlib import Path

    import streamlit as st

    import ui
    from analytics import import_files

    first = ui.database()
    if not st.session_state.get("imported"):
        st.session_state["imported"] = True
        update = Path(os.environ["PIN_TEST_UPDATE"])
        assert import_files(ui.database_path(), [update]).exit_code == 0  # swaps the file in
    second = ui.database()
    ui.refresh_data_version()
    third = ui.database()
    st.text(f"{first.version}|{second.version}|{third.version}")


def test_a_run_keeps_its_version_across_a_swap_and_the_next_run_sees_the_new(tiny_db_path, tmp_path, monkeypatch,
                                                                               serve_database):
    db_path = tmp_path / "clinic.duckdb"
    shutil.copyfile(tiny_db_path, db_path)
    update = tmp_path / "clients.csv"
    update.write_text(NEW_CLIENT, encoding="utf-8")
    monkeypatch.setenv("PIN_TEST_UPDATE", str(update))
    serve_database(db_path)
    at = AppTest.from_function(_script, default_timeout=30).run()
    assert not at.exception, at.exception
    first, second, third = at.text[0].value.split("|")
    assert first == second  # the swap happened in between: still the run's version
    assert third != first  # after refresh_data_version(): the file as it is now

    at.run()  # the next run (no import this time) pins the new version from the start
    assert not at.exception, at.exception
    again = at.text[0].value.split("|")
    assert again == [third, third, third]


def test_opening_while_the_file_is_swapped_gets_one_whole_version(tmp_path, monkeypatch):
    """A reader opened while another process swaps versions in attaches exactly one.

    Regression: attaching ``/proc/self/fd/N`` failed with "database does not exist" once
    the file was replaced (DuckDB resolves the link to "... (deleted)"), and could attach
    the newer file while reporting the older version. Each version here holds a marker
    row; what a reader reads must be the version (inode) it reports.

    The swaps are injected at the race window itself, deterministically: after the reader
    has opened and identified the file and just before DuckDB attaches it by path (the
    moment a concurrent import's ``os.replace`` would hurt). The schedule swaps on some
    openings once, on some twice in a row and on some not at all.
    """
    import os

    import duckdb

    import analytics.db as db_module
    from analytics import ClinicDatabase
    from analytics.storage import ensure_schema

    live = tmp_path / "clinic.duckdb"
    versions = []
    for marker in range(4):
        path = tmp_path / f"v{marker}.duckdb"
        with duckdb.connect(str(path)) as con:
            ensure_schema(con)
            con.execute("INSERT INTO users (email, role, added_at) VALUES ($m, 'admin', now())", {"m": f"v{marker}"})
        versions.append(path)
    shutil.copyfile(versions[0], live)
    marker_of_inode = {os.stat(live).st_ino: "v0"}
    swaps = 0

    def swap() -> None:
        nonlocal swaps
        swaps += 1
        tmp = tmp_path / f"next-{swaps}.duckdb"
        shutil.copyfile(versions[swaps % 4], tmp)
        marker_of_inode[os.stat(tmp).st_ino] = f"v{swaps % 4}"
        os.replace(tmp, live)

    schedule: list[int] = []  # swaps to make before each attach attempt of the current opening
    real_quote = db_module._quote_literal

    def quote_then_swap(text: str) -> str:  # called between the open and the ATTACH
        if schedule and schedule.pop(0):
            swap()
        return real_quote(text)

    monkeypatch.setattr(db_module, "_quote_literal", quote_then_swap)
    seen, attempts_of = set(), []
    for opening in range(12):
        # 0: no swap; 1: a swap before the first attach; 2: before the first and the second.
        schedule[:] = [[], [1], [1, 1]][opening % 3]
        before = swaps
        with ClinicDatabase(live) as db:
            read = db.execute_sql("SELECT email FROM users")["email"].item()
            assert read == marker_of_inode[db.version.inode]
            assert db.version.inode == os.stat(live).st_ino  # the version now in place, not a swapped-out one
        attempts_of.append(swaps - before)
        seen.add(read)
    assert attempts_of == [0, 1, 2] * 4  # every scheduled swap happened inside an opening
    assert seen == {"v0", "v1", "v2", "v3"}


def test_figures_are_cached_per_data_version_and_key(tiny_db_path, tmp_path, monkeypatch, serve_database):
    """``ui.figure`` builds a figure once per (data version, builder, key): the same key gives
    the same object, another key or a new import builds again."""
    import analytics.quality_improvement.charts as charts
    import ui
    from analytics import import_files

    db_path = tmp_path / "clinic.duckdb"
    shutil.copyfile(tiny_db_path, db_path)
    update = tmp_path / "clients.csv"
    update.write_text(NEW_CLIENT, encoding="utf-8")
    built: list[str] = []

    def counting_builder(label: str) -> object:
        built.append(label)
        return object()

    counting_builder.__module__ = charts.__name__  # ui.figure only calls analytics functions
    monkeypatch.setattr(charts, "counting_builder", counting_builder, raising=False)
    serve_database(db_path)
    first = ui.figure(counting_builder, "a", key=("view", 1))
    assert ui.figure(counting_builder, "a", key=("view", 1)) is first
    assert ui.figure(counting_builder, "b", key=("view", 2)) is not first
    assert built == ["a", "b"]
    assert import_files(db_path, [update]).exit_code == 0  # a new data version
    assert ui.figure(counting_builder, "a", key=("view", 1)) is not first
    assert built == ["a", "b", "a"]
