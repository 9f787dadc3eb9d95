"""``python -m analytics users add|remove|list``: output and exit codes.

The main flow runs the real command in subprocesses (independent invocations concurrently:
the adds to one database also show that writers queue on its write lock without losing a
user). The many refusals run in-process through ``analytics.cli.main`` (same parser and
code, no interpreter start-up each).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analytics import ClinicDatabase, Viewer, cohort_clients
from analytics.access import viewer_for_email
from analytics.cli.main import main
from tests.support.clinics import ROOT


def start(*args: str | Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(*procs: subprocess.Popen) -> list[tuple[int, str, str]]:
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        results.append((p.returncode, out, err))
    return results


@pytest.fixture
def clinic(tmp_path: Path, tiny_db_path: Path) -> Path:
    path = tmp_path / "clinic.duckdb"
    shutil.copyfile(tiny_db_path, path)
    return path


def test_add_list_remove_in_subprocesses(clinic: Path):
    # 1. adds (concurrent, one database) and one refusal
    admin, ther, bad_email = finish(
        start("users", "add", "--db", clinic, " Admin@Clinic.ORG ", "--role", "admin"),
        start("users", "add", "--db", clinic, "t1@clinic.org", "--role", "therapist", "--therapist-id", "T1"),
        start("users", "add", "--db", clinic, "not-an-email", "--role", "qi"),
    )
    assert admin[0] == 0 and admin[1].strip() == "Added admin@clinic.org as admin"
    assert ther[0] == 0 and ther[1].strip() == "Added t1@clinic.org as therapist (therapist_id T1)" and ther[2] == ""
    assert bad_email[0] == 2 and bad_email[2].strip() == "error: not a valid e-mail address"

    # 2. list, remove an unknown user
    as_json, unknown = finish(
        start("users", "list", "--db", clinic, "--json"),
        start("users", "remove", "--db", clinic, "nobody@clinic.org"),
    )
    assert as_json[0] == 0, as_json[2]
    assert [(r["email"], r["role"], r["therapist_id"]) for r in json.loads(as_json[1])] == [
        ("admin@clinic.org", "admin", None), ("t1@clinic.org", "therapist", "T1")]
    assert unknown[0] == 1 and "no user nobody@clinic.org" in unknown[2]

    # 3. remove (case-insensitive)
    (removed,) = finish(start("users", "remove", "--db", clinic, "T1@Clinic.org"))
    assert removed[0] == 0 and removed[1].strip() == "Removed t1@clinic.org"
    for _, out, err in (admin, ther, bad_email, as_json, unknown, removed):
        assert "Traceback" not in out + err
    with ClinicDatabase(clinic) as db:
        assert viewer_for_email(db, "t1@clinic.org") is None
        assert viewer_for_email(db, "admin@clinic.org") == Viewer(role="admin", email="admin@clinic.org")
        assert len(cohort_clients(db, Viewer.local())) == 5  # clinic data untouched


def cli(capsys: pytest.CaptureFixture, *args: str | Path) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_every_role_update_and_listing(clinic: Path, capsys: pytest.CaptureFixture):
    assert cli(capsys, "users", "add", "--db", clinic, "sup@clinic.org", "--role", "supervisor", "--clinic", "North",
               "--clinic", "Westt") == (
        0, "Added sup@clinic.org as supervisor (clinics North, Westt)\n",
        "warning: no client is in clinic(s) Westt yet (check the spelling)\n")
    code, _, err = cli(capsys, "users", "add", "--db", clinic, "lonely@clinic.org", "--role", "supervisor")
    assert code == 0 and "sees no client until a clinic is added" in err
    assert cli(capsys, "users", "add", "--db", clinic, "qi@clinic.org", "--role", "qi")[0] == 0
    assert cli(capsys, "users", "add", "--db", clinic, "t1@clinic.org", "--role", "therapist", "--therapist-id", "T1")[0] == 0
    assert cli(capsys, "users", "add", "--db", clinic, "T1@CLINIC.org", "--role", "therapist", "--therapist-id", "T3") == (
        0, "Updated t1@clinic.org as therapist (therapist_id T3)\n", "")
    code, out, _ = cli(capsys, "users", "list", "--db", clinic)
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines()] == [
        ["email", "role"], ["lonely@clinic.org", "supervisor"], ["sup@clinic.org", "supervisor"],
        ["t1@clinic.org", "therapist"], ["qi@clinic.org", "qi"]]
    with ClinicDatabase(clinic) as db:
        t1 = viewer_for_email(db, "t1@clinic.org")
        assert cohort_clients(db, t1)["client_id"].tolist() == ["C4", "C5"]
        assert cohort_clients(db, viewer_for_email(db, "sup@clinic.org"))["client_id"].tolist() == ["C1", "C2", "C3"]
        assert cohort_clients(db, viewer_for_email(db, "lonely@clinic.org")).empty


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("add", "t2@clinic.org", "--role", "therapist"), 2, "needs --therapist-id"),
        (("add", "x@clinic.org", "--role", "root"), 2, "invalid choice: 'root'"),
        (("add", "y@clinic.org", "--role", "admin", "--clinic", "North"), 2, "admin sees every clinic"),
        (("add", "s@clinic.org", "--role", "supervisor", "--therapist-id", "T1"), 2, "only therapists"),
        (("add", "' OR 1=1 --", "--role", "admin"), 2, "not a valid e-mail address"),
        (("add", "a@clinic.org", "--role", "qi", "--clinic", "North\x00"), 2, "clinic is not a valid value"),
        (("add", "a@clinic.org"), 2, "--role"),
        (("remove", "' OR 1=1 --"), 2, "not a valid e-mail address"),
        (("remove", "nobody@clinic.org"), 1, "no user nobody@clinic.org"),
        (("frobnicate",), 2, "invalid choice"),
    ],
)
def test_refusals_and_exit_codes(clinic: Path, capsys: pytest.CaptureFixture, args: tuple, code: int, message: str):
    verb, *rest = args
    got, out, err = cli(capsys, "users", verb, "--db", clinic, *rest)
    assert got == code and message in err and out == ""
    with ClinicDatabase(clinic) as db:
        assert "users" not in db.tables or db.execute_sql("SELECT count(*) AS n FROM users")["n"].iloc[0] == 0


def test_missing_database_and_new_database(tmp_path: Path, capsys: pytest.CaptureFixture):
    assert cli(capsys, "users", "list", "--db", tmp_path / "missing.duckdb")[0] == 1
    assert cli(capsys, "users", "remove", "--db", tmp_path / "missing.duckdb", "a@clinic.org")[0] == 1
    assert cli(capsys, "users", "list")[0] == 2  # --db is required
    new_db = tmp_path / "new" / "clinic.duckdb"
    assert cli(capsys, "users", "add", "--db", new_db, "admin@clinic.org", "--role", "admin")[0] == 0
    code, out, _ = cli(capsys, "users", "list", "--db", new_db)
    assert code == 0 and "admin@clinic.org" in out
