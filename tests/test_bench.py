"""The benchmark's own logic (benchmarks/: its steps and report). No timing is asserted here."""

from __future__ import annotations

import os

import pytest

from benchmarks import step_baseline, step_pages
from benchmarks.report import render
from tests.support.server import process_tree_memory_mb


@pytest.fixture(scope="module")
def clinic_with_export(tmp_path_factory: pytest.TempPathFactory):
    from analytics.ingest.sample import build_sample_database

    directory = tmp_path_factory.mktemp("bench")
    result = build_sample_database(directory / "clinic.duckdb", clients=300, seed=11, csv_dir=directory / "csv")
    assert result.exit_code == 0, result.report()
    return directory / "clinic.duckdb", directory / "csv"


def test_the_pandas_baseline_computes_the_same_summary_as_ours(clinic_with_export):
    """The baseline is only a fair comparison if it computes the same numbers."""
    from analytics import Settings, Viewer, cohort_summary, open_database

    db_path, csv_dir = clinic_with_export
    with open_database(db_path) as db:
        ours = step_baseline._headline(cohort_summary(db, Viewer.local(), None, Settings()))
    theirs = step_baseline._headline(step_baseline.pandas_cohort_summary(csv_dir, Settings()))
    assert len(ours) == 5 + 3 * len(step_baseline.MEASURE_HEADLINE)  # PHQ-9, GAD-7 and CORE-10 (Group CBT)
    assert step_baseline._differences(ours, theirs) == []
    # ... and a difference is reported, not hidden.
    changed = {**theirs, "clients": theirs["clients"] + 1}
    assert step_baseline._differences(ours, changed) == [f"clients: ours {ours['clients']} vs pandas {changed['clients']}"]


def test_page_cases_cover_every_built_page_with_deep_links(clinic_with_export):
    from analytics import ClinicDatabase

    cases = {c.name: c for c in step_pages.page_cases()}
    built = {p.stem for p in (step_pages.ROOT / "pages").glob("*.py") if not step_pages.is_stub(p)}
    assert set(cases) == built | {"home"}
    with ClinicDatabase(clinic_with_export[0]) as db:
        client = cases["client_review"].params(db, 0)["client"]
        n = db.execute_sql("SELECT count(*) FROM assignments WHERE client_id = $c", {"c": client}).iloc[0, 0]
        most = db.execute_sql("SELECT max(n) FROM (SELECT count(*) AS n FROM assignments GROUP BY client_id)").iloc[0, 0]
        assert n == most
        clinics = {cases["cohort_outcomes"].params(db, i)["clinic"] for i in range(10)}
        assert clinics == set(db.execute_sql("SELECT DISTINCT clinic FROM clients")["clinic"])


def test_bare_sql_reports_statements_and_the_largest_result(clinic_with_export):
    from analytics.db import load_sql
    from analytics.scope import Viewer, query_params

    sql = load_sql("cohort_clients")
    params = query_params(Viewer.local(), None)
    out = step_pages.bare_sql(clinic_with_export[0], [("cohort_clients", sql, params), ("cohort_clients", sql, params)])
    assert out["statements"] == 2 and out["distinct_statements"] == 1
    assert out["largest_result_rows"] == 300 and out["largest_result_query"] == "cohort_clients"


def test_memory_of_a_process_tree_is_read_from_proc():
    memory = process_tree_memory_mb(os.getpid())
    assert memory["rss"] >= memory["server_rss"] > 10
    assert memory["processes"] >= 1


def test_the_report_lists_every_target_with_its_verdict():
    results = {
        "machine": {"date": "2026-11-27 12:00 UTC", "nproc": 2},
        "import": {"ratio": 3.5, "rows": 1_000_000, "clients": 10, "csv_mb": 1.0, "import_s": 3.5, "import_runs": [3.5],
                   "bare_file_s": 1.0, "bare_file_runs": [1.0], "bare_memory_s": 0.5, "ratio_memory": 7.0},
        "pages": {"L": {"rows": [{"page": "home", "link": "-", "cold_s": 0.2, "warm_s": 0.4, "sql_s": 0.1,
                                  "cold_to_sql": 2.0, "statements": 2, "distinct_statements": 2,
                                  "largest_result_rows": 1, "errors": []}]}},
    }
    report = render(results)
    assert "| Import 1M assignment rows / bare read_csv | 3.5x | <= 3x | **no** |" in report
    assert "| Pages L cold, slowest (home) | 0.20 s | <= 1.5 s | yes |" in report
    assert "| Pages L warm, slowest (home) | 0.40 s | <= 0.3 s | **no** |" in report


def test_the_report_gives_the_xxl_import_against_its_targets():
    results = {
        "machine": {"date": "2026-12-05 14:20 UTC", "nproc": 2},
        "datasets": {"XXL": {"clients": 1_000_000, "seed": 7, "csv_mb": 4476.8, "db_mb": 540.0, "build_s": 302.3,
                             "rows": {"clients": 1_000_000, "sessions": 12, "assignments": 24, "scores": 15},
                             "chunk_clients": 50_000, "generate_s": 666.4, "generate_peak_mb": 1447.4,
                             "import_s": 700.2, "import_peak_mb": 2869.1}},
    }
    report = render(results)
    assert ("| Import of the XXL export (1,000,000 clients, 4476.8 MB of CSV), python -m analytics import | 700 s "
            "| <= 600 s | **no** |") in report
    assert "| Import of the XXL export, peak RSS of the import process | 2869 MiB | <= 4096 MiB | yes |" in report
    assert "| XXL | 50,000 | 666.4 | 1447 | 700.2 | 2869 |" in report


def test_xxl_is_never_built_by_default():
    from benchmarks.common import CHUNK_CLIENTS, DEFAULT_SIZES, SIZES

    assert SIZES["XXL"] == 1_000_000 and CHUNK_CLIENTS["XXL"] == 50_000
    assert "XXL" not in DEFAULT_SIZES


def test_the_report_gives_the_cold_start_of_both_launchers_and_its_target():
    row = {"link": "?client=<client with most assignments>", "servers": 3, "errors": "", "total_s": 4.0}
    results = {
        "machine": {"date": "2026-12-05 20:00 UTC", "nproc": 2},
        "cold_start": {"size": "L", "rows": [
            {**row, "page": "client_review", "launcher": "warm", "health_s": 1.5, "chart_s": 2.5,
             "chart_runs": [2.4, 2.5, 2.7], "script_done_ms": 1900, "warm_up_s": 1.6, "warm_up_done_at_visit": 2},
            {**row, "page": "client_review", "launcher": "plain", "health_s": 0.9, "chart_s": 4.2,
             "chart_runs": [4.0, 4.2, 4.4], "script_done_ms": 3600, "warm_up_s": None, "warm_up_done_at_visit": 0},
        ]},
    }
    report = render(results)
    assert ("| Cold start L, a freshly started server's first visitor, navigation to main chart drawn, "
            "python -m ui.serve, slowest (client_review; plain streamlit run: 4.20 s) | 2.50 s | <= 3.0 s | yes |") in report
    assert ("| client_review | ?client=<client with most assignments> | `python -m ui.serve` | 1.50 | **2.50** "
            "(2.40, 2.50, 2.70) | 4.00 | 1900 | 1.60 (2 of 3) | yes | - |") in report
    assert ("| client_review | ?client=<client with most assignments> | plain `streamlit run` | 0.90 | **4.20** "
            "(4.00, 4.20, 4.40) | 4.00 | 3600 | - | **no** | - |") in report


def test_the_report_gives_the_xxl_server_memory_with_ten_sessions():
    results = {"machine": {"date": "2026-12-06 21:30 UTC", "nproc": 2},
               "memory_XXL": {"size": "XXL", "memory": {"sessions": 10, "peak_mb": 1234.4, "peak": {"pss": 1100.0}}}}
    report = render(results)
    assert ("| Server memory XXL, 10 concurrent sessions on mixed deep links (largest clinic, network), peak RSS of "
            "server + children | 1234 MiB (PSS 1100 MiB) | - (L: <= 1.5 GB) | - |") in report
    assert "Server memory XXL" not in render({"machine": results["machine"]})


def test_the_report_gives_a_new_visitors_first_visit_as_the_median_of_its_fresh_servers():
    row = {"page": "client_review", "link": "?client=<client with most assignments>", "second_s": 1.5,
           "returning_s": 1.2, "in_app_s": 0.6, "in_app_link": "search, pick the client"}
    results = {
        "machine": {"date": "2026-12-07 14:00 UTC", "nproc": 2},
        "browser": {"size": "L", "rows": [{**row, "first_runs": [2.3, 1.9, 1.8], "first_s": 1.9},
                                          {**row, "page": "cohort_outcomes", "first_runs": [1.7, 2.2, 2.1],
                                           "first_s": 2.1}]},
    }
    report = render(results)
    assert ("| Browser L, navigation to main chart drawn, new visitor (empty browser cache, cold server cache: median "
            "of 3 fresh servers), deep link, slowest (cohort_outcomes) | 2.10 s | <= 2.0 s | **no** |") in report
    assert ("| client_review | ?client=<client with most assignments> | 1.90 (2.30, 1.90, 1.80) | 1.50 | 1.20 "
            "| 0.60 (search, pick the client) | yes / yes / yes | - |") in report
    assert "| cohort_outcomes | ?client=<client with most assignments> | 2.10 (1.70, 2.20, 2.10) |" in report
    assert "| **no** / yes / yes | - |" in report


def test_the_report_names_only_the_runs_whose_results_it_still_holds():
    from benchmarks.bench import runs_still_shown

    legacy = {"command": "python -m analytics bench --sizes L --steps browser", "date": "2026-12-06 10:00 UTC"}
    full = {"command": "python -m analytics bench --sizes S,L", "date": "2026-12-07 10:00 UTC",
            "machine": "2 CPUs (AMD EPYC)", "sections": ["import", "pages/S", "pages/L", "browser"]}
    partial = {"command": "python -m analytics bench --sizes L --steps browser", "date": "2026-12-07 11:00 UTC",
               "machine": "2 CPUs (Intel Xeon)", "sections": ["browser"]}
    again = {**partial, "date": "2026-12-07 12:00 UTC"}
    assert runs_still_shown([legacy]) == [legacy]
    assert runs_still_shown([legacy, full]) == [full]
    assert runs_still_shown([full, partial]) == [full, partial]
    assert runs_still_shown([full, partial, again]) == [full, again]
    report = render({"machine": {"date": "2026-12-07 12:00 UTC", "nproc": 2}, "runs": [full, again]})
    assert ("- 2026-12-07 12:00 UTC: `python -m analytics bench --sizes L --steps browser` (2 CPUs (Intel Xeon), "
            "load average at start None)") in report
    assert "**These runs were on different machines:**" in report
