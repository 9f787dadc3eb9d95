"""The command line, as a user runs it: ``python -m analytics ...`` in a subprocess.

Exit status 0 when every row was imported, 1 when a row or file was rejected, 2 for a
usage error; bad data never shows a traceback. ``summary --json`` on the tiny clinic
(tests/support/clinics.py) is checked against a computation by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.clinics import ROOT, TINY_ASSIGNMENTS, TINY_CLIENTS, TINY_SCORES, TINY_SESSIONS, write_csv

MEASURE_KEYS = [
    "clients_scored", "clients_paired", "mean_first", "mean_last", "mean_change", "reliable_improvement",
    "reliable_deterioration", "caseness_at_first", "recovered", "recovery_rate",
    "r_quantity_change", "r_quantity_change_n", "r_quantity_change_ci_low", "r_quantity_change_ci_high",
    "r_quality_change", "r_quality_change_n", "r_quality_change_ci_low", "r_quality_change_ci_high",
]
TOP_KEYS = ["clients", "assignments", "reviewed_assignments", "reviewed_share", "follow_up_assignments",
            "mean_quantity", "mean_quality", "measures"]


def cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "analytics", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )
    assert "Traceback" not in result.stdout and "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture
def export(tmp_path: Path) -> list[Path]:
    directory = tmp_path / "export"
    directory.mkdir()
    return [
        write_csv(directory / "clients.csv", TINY_CLIENTS),
        write_csv(directory / "sessions.csv", TINY_SESSIONS),
        write_csv(directory / "assignments.csv", TINY_ASSIGNMENTS),
        write_csv(directory / "scores.csv", TINY_SCORES),
    ]


# -------------------------------------------------------------------------------- import


def test_import_exit_codes_and_report(tmp_path, export):
    db = tmp_path / "clinic.duckdb"
    ok = cli("import", "--db", db, *export)
    assert ok.returncode == 0, ok.stderr
    assert "  clients.csv -> clients: 5 rows read, 0 rejected" in ok.stdout
    assert "  inserted 29, updated 0, unchanged 0, rejected 0 rows, refused 0 files" in ok.stdout
    assert "%" not in ok.stdout  # no progress bars in the report

    bad = write_csv(tmp_path / "sessions_extra.csv", "client_id,session_date,attended,session_number\nC1,2025-03-01,maybe,4\n")
    again = cli("import", "--db", db, *export, bad)
    assert again.returncode == 1
    assert "  inserted 0, updated 0, unchanged 29, rejected 1 rows, refused 0 files" in again.stdout
    assert (
        "  sessions_extra.csv line 2, column attended, value 'maybe': "
        "not a yes/no value (true/false, yes/no, y/n, 1/0)"
    ) in again.stdout


def test_import_dry_run_reports_and_writes_nothing(tmp_path, export):
    db = tmp_path / "clinic.duckdb"
    assert cli("import", "--db", db, *export).returncode == 0
    before = db.read_bytes()
    bad = write_csv(tmp_path / "sessions_extra.csv", "client_id,session_date,attended,session_number\nC1,2025-03-01,maybe,4\n")
    checked = cli("import", "--dry-run", "--db", db, bad)
    assert checked.returncode == 1
    assert checked.stdout.startswith("Dry run (nothing written; the import would be batch 2):")
    assert "  sessions_extra.csv line 2, column attended, value 'maybe': not a yes/no value" in checked.stdout
    assert db.read_bytes() == before


def test_unusable_files_are_refused_without_a_traceback(tmp_path, export):
    db = tmp_path / "clinic.duckdb"
    binary = tmp_path / "binary" / "clients.csv"
    binary.parent.mkdir()
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    folder = tmp_path / "scores_2026-11.csv"
    folder.mkdir()
    result = cli("import", "--db", db, binary, folder, tmp_path / "missing.csv", export[0])
    assert result.returncode == 1
    assert "  REFUSED clients.csv: the file is not UTF-8 text (line 1)" in result.stdout
    assert "  REFUSED scores_2026-11.csv: this is a folder, not a file" in result.stdout
    assert "  REFUSED missing.csv: file not found" in result.stdout
    assert "  inserted 5, updated 0, unchanged 0, rejected 0 rows, refused 3 files" in result.stdout


def test_usage_errors_exit_2(tmp_path, export):
    # As a user meets them: no arguments at all, and a mapping profile naming an unknown table.
    result = cli()
    assert result.returncode == 2
    assert result.stderr.startswith("usage: python -m analytics")
    assert "error: the following arguments are required: command" in result.stderr
    profile = tmp_path / "bad.toml"
    profile.write_text('[tables]\nPatients = "patients"\n', encoding="utf-8")
    result = cli("import", "--db", tmp_path / "x.duckdb", "--profile", profile, export[0])
    assert result.returncode == 2
    assert result.stderr.strip() == "error: bad.toml: [tables] maps 'Patients' to unknown table 'patients'"
    assert not (tmp_path / "x.duckdb").exists()  # nothing was imported


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["frobnicate"], "argument command: invalid choice: 'frobnicate'"),
        (["import", "clients.csv"], "the following arguments are required: --db"),
        (["summary"], "the following arguments are required: --db"),
    ],
    ids=["unknown-subcommand", "import-without-db", "summary-without-db"],
)
def test_more_usage_errors_exit_2(args, message, capsys):
    # The same entry point as ``python -m analytics`` (analytics/__main__.py), in-process:
    # starting an interpreter per case would only repeat the test above.
    from analytics.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m analytics")
    assert message in err


# ------------------------------------------------------------------------------- summary


def hand_summary() -> dict:
    """The tiny clinic's summary computed by hand from tests/support/clinics.py.

    Homework (quantity fraction = rating/4, else min(completed/planned, 1); quality = rating/4):
      C1: A1 rated 4 -> 1.0, quality 3 -> 0.75; A2 2 of 4 practices -> 0.5 -> quantity 0.75, quality 0.75
      C2: A3 rated 1 -> 0.25 (the rating wins over 5 of 5), quality 1 -> 0.25
      C3: A4 neither rated nor counted -> not reviewed, no quantity
      C4: A5 9 of 7 practices -> capped 1.0, quality 2 -> 0.5
      C5: no assignments.  5 assignments, 4 reviewed.
    PHQ-9 (first = earliest, last = latest on or before discharge; RC 6, caseness >= 10):
      C1 18 -> 9 (the 2025-08-01 score 6 is follow-up): change -9, reliable improvement, recovered
      C2 12 -> 14: change +2, at caseness both times
      C3 one score (11): scored, not paired
      C4 20 -> 11: change -9, reliable improvement, still at caseness (not recovered)
    GAD-7 (RC 4, caseness >= 8):
      C1 10 -> 4: change -6, reliable improvement, recovered
      C3 9 -> 5 (in treatment: latest overall): change -4, reliable improvement, recovered
    """
    phq_quantity, phq_quality = [0.75, 0.25, 1.0], [0.75, 0.25, 0.5]  # C1, C2, C4; changes -9, +2, -9
    return {
        "clients": 5,
        "assignments": 5,
        "reviewed_assignments": 4,
        # Reviewed share per client: C1 2/2, C2 1/1, C3 0/1, C4 1/1 -> mean (1 + 1 + 0 + 1) / 4.
        "reviewed_share": 3 / 4,
        "follow_up_assignments": 0,
        "mean_quantity": (0.75 + 0.25 + 1.0) / 3,
        "mean_quality": (0.75 + 0.25 + 0.5) / 3,
        "measures": {
            "PHQ-9": {
                "clients_scored": 4,
                "clients_paired": 3,
                "mean_first": (18 + 12 + 20) / 3,
                "mean_last": (9 + 14 + 11) / 3,
                "mean_change": (-9 + 2 - 9) / 3,
                "reliable_improvement": 2,
                "reliable_deterioration": 0,
                "caseness_at_first": 3,
                "recovered": 1,
                "recovery_rate": 1 / 3,
                # Pearson r over the paired clients with a value (C1, C2, C4): 3 pairs are below the
                # one minimum n (5, as on the page), so r and its interval are withheld and n says why.
                "r_quantity_change": None, "r_quantity_change_n": len(phq_quantity),
                "r_quantity_change_ci_low": None, "r_quantity_change_ci_high": None,
                "r_quality_change": None, "r_quality_change_n": len(phq_quality),
                "r_quality_change_ci_low": None, "r_quality_change_ci_high": None,
            },
            "GAD-7": {
                "clients_scored": 2,
                "clients_paired": 2,
                "mean_first": (10 + 9) / 2,
                "mean_last": (4 + 5) / 2,
                "mean_change": (-6 - 4) / 2,
                "reliable_improvement": 2,
                "reliable_deterioration": 0,
                "caseness_at_first": 2,
                "recovered": 2,
                "recovery_rate": 1.0,
                "r_quantity_change": None, "r_quantity_change_n": 1,  # only C1 of the paired has a quantity
                "r_quantity_change_ci_low": None, "r_quantity_change_ci_high": None,
                "r_quality_change": None, "r_quality_change_n": 1,
                "r_quality_change_ci_low": None, "r_quality_change_ci_high": None,
            },
        },
    }


def assert_same(got: dict, want: dict) -> None:
    assert list(got) == [*TOP_KEYS, "nhs_paired"]  # NHS paired outcomes: tests/test_outcome_definitions.py
    for key in TOP_KEYS[:-1]:
        assert got[key] == pytest.approx(want[key]), key
    assert list(got["measures"]) == list(want["measures"])
    for name, figures in want["measures"].items():
        assert list(got["measures"][name]) == MEASURE_KEYS, name
        for key, value in figures.items():
            if value is None:
                assert got["measures"][name][key] is None, (name, key)
            else:
                assert got["measures"][name][key] == pytest.approx(value, rel=1e-12), (name, key)


def test_summary_json_matches_the_hand_computation(tiny_db_path):
    result = cli("summary", "--db", tiny_db_path, "--json")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    want = hand_summary()
    assert_same(got, want)
    # r from 3 pairs is withheld (tests/test_compliance_definitions.py checks r, n and CI at n >= 5).
    assert got["measures"]["PHQ-9"]["r_quantity_change"] is None and got["measures"]["PHQ-9"]["r_quantity_change_n"] == 3


def test_summary_json_for_one_clinic(tiny_db_path):
    result = cli("summary", "--db", tiny_db_path, "--clinic", "North", "--json")
    assert result.returncode == 0, result.stderr
    # North: C1, C2, C3. Quantity C1 0.75, C2 0.25 (C3 none); quality 0.75, 0.25.
    # PHQ-9 paired C1 (18 -> 9) and C2 (12 -> 14); C3 scored once. GAD-7 as for everyone (C1, C3).
    want = hand_summary()
    # Reviewed share: C1 2/2, C2 1/1, C3 0/1 -> 2/3.
    want.update(clients=3, assignments=4, reviewed_assignments=3, reviewed_share=2 / 3, mean_quantity=0.5, mean_quality=0.5)
    want["measures"]["PHQ-9"].update(
        clients_scored=3, clients_paired=2, mean_first=15.0, mean_last=11.5, mean_change=-3.5,
        reliable_improvement=1, caseness_at_first=2, recovered=1, recovery_rate=0.5,
        r_quantity_change=None, r_quality_change=None,  # 2 paired clients: too few for r
        r_quantity_change_n=2, r_quality_change_n=2,
    )
    assert_same(json.loads(result.stdout), want)


def test_summary_readable_table_shows_the_same_numbers(tiny_db_path):
    result = cli("summary", "--db", tiny_db_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "Clients: 5",
        "Assignments: 5 (4 reviewed)   Follow-up (after discharge, not counted): 0",
        "Mean quantity: 0.667   Mean quality: 0.500   Reviewed share: 0.750",
    ]
    assert lines[3] == "" and lines[4].split() == ["PHQ-9", "GAD-7"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[5:]}
    assert list(rows) == MEASURE_KEYS
    assert rows["clients_paired"] == ["3", "2"]
    assert rows["mean_first"] == ["16.667", "9.500"]
    assert rows["mean_change"] == ["-5.333", "-5.000"]
    assert rows["recovery_rate"] == ["0.333", "1.000"]
    assert rows["r_quantity_change"] == ["-", "-"]  # too few pairs (n = 3 and 1)
    assert rows["r_quantity_change_n"] == ["3", "1"]


def test_summary_of_a_missing_database_is_not_a_traceback(tmp_path, capsys):
    from analytics.cli.main import main

    assert main(["summary", "--db", str(tmp_path / "nowhere.duckdb"), "--json"]) == 1
    assert capsys.readouterr().err.startswith("error: no clinic database at")


def test_backtest_prints_the_table_per_measure_and_week(sample_db_path, tiny_db_path):
    result = cli("backtest", "--db", sample_db_path, "--markdown")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("| Measure | Off track at week | n (poor outcome) | Flagged | Sensitivity |")
    rows = [line for line in lines if line.startswith(("| PHQ-9 |", "| GAD-7 |"))]
    assert [r.split(" | ")[:2] for r in rows] == [[f"| {m}", str(w)] for m in ("PHQ-9", "GAD-7") for w in (3, 4, 6)]
    assert lines[0].startswith("Split: intake before ")
    explicit = cli("backtest", "--db", sample_db_path, "--split", "2025-06-01")
    assert explicit.returncode == 0 and "intake before 2025-06-01" in explicit.stdout
    assert cli("backtest", "--db", sample_db_path, "--split", "June").returncode == 2
    too_small = cli("backtest", "--db", tiny_db_path)  # 2 discharged clients: no curve to test
    assert too_small.returncode == 1 and "too few discharged clients" in too_small.stderr


def test_summary_and_users_commands_import_neither_pandas_nor_numpy_nor_scipy():
    """Issue 12: the command line's summary and users commands run on DuckDB and the standard
    library, so they start in a fraction of a second (measured by benchmarks/step_baseline.py)."""
    import subprocess
    import sys

    code = ("import sys, analytics.cli.main, analytics.cli.users, analytics.summary, analytics.access; "
            "print(sorted(m for m in ('pandas', 'numpy', 'scipy', 'pyarrow', 'plotly') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_summary_process_loads_the_duckdb_extension_alone(sample_db_path):
    """Issue 12: ``import duckdb`` costs 0.18-0.22 s, its pure-Python relational layer nearly all of it;
    the summary needs the extension only (analytics/engine.py). Runs the real command in a fresh
    interpreter and lists what it loaded."""
    import subprocess
    import sys

    code = ("import contextlib, io, sys\n"
            "from analytics.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            f"    status = main(['summary', '--db', {str(sample_db_path)!r}, '--json'])\n"
            "assert status == 0 and '\"clients\"' in out.getvalue(), out.getvalue()\n"
            "print(sorted(m for m in sys.modules if m == 'duckdb' or m.startswith(('duckdb.', 'pandas', 'numpy'))))\n"
            "print('_duckdb' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "True"], out.stdout


def test_the_engine_names_the_package_uses_are_duckdbs_own():
    """analytics.engine hands out the extension module; every name the package reads from it must be
    the very object ``import duckdb`` exports (an upgrade that moves one fails here)."""
    import re
    from pathlib import Path

    import duckdb

    from analytics.engine import duckdb as engine

    root = Path(__file__).resolve().parents[1] / "analytics"
    users = [p for p in root.rglob("*.py") if "from .engine import duckdb" in p.read_text()
             or "from ..engine import duckdb" in p.read_text()]
    assert {p.name for p in users} >= {"db.py", "storage.py"}
    names = {n for p in users for n in re.findall(r"\bduckdb\.([A-Za-z_]\w*)", p.read_text())}
    assert {"connect", "IOException", "InterruptException", "DuckDBPyConnection", "Error"} <= names
    for name in sorted(names):
        assert getattr(engine, name) is getattr(duckdb, name), name
