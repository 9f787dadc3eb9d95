"""The sample clinic on DuckDB and on Spark gives the same numbers (issue 17).

- every page and tab runs on Spark (``BETWEEN_SESSIONS_ENGINE=spark``) without an exception, and
  shows the tiles, tables and messages it shows on DuckDB;
- every analytics call those page runs make (``ui.run``) returns on Spark what it returns on
  DuckDB, and so do the calls of the views a default page run does not reach
  (benchmarks.step_pages.other_views);
- ``python -m analytics summary --json`` prints the same summary on both engines.

Floats agree within 1e-9, relative or absolute, the estimates of iterative model fits within 1e-6
(tests/spark/compare.py); everything else exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.step_pages import clear_caches, other_views, page_cases
from tests.spark.compare import MODEL_FIT_TOLERANCE, TOLERANCE, differences, tolerance_for

ROOT = Path(__file__).resolve().parents[2]
CASES = page_cases(include_sections=True)


def _run_page(case, link: dict[str, str], calls: list | None = None) -> dict[str, Any]:
    """Run one page case under AppTest; what it shows, and (``calls``) the analytics calls made."""
    from streamlit.testing.v1 import AppTest

    import ui.context as context

    original = context._analytics_function

    def recording(module: str, name: str):
        function = original(module, name)

        def call(first, *args, **kwargs):
            result = function(first, *args, **kwargs)
            if calls is not None and hasattr(first, "stored_fit_scopes"):  # ui.run's (a figure's: not)
                calls.append((function, args, kwargs, result))
            return result
        return call

    clear_caches()
    context._analytics_function = recording
    try:
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=600)
        if case.file != "dashboard.py":
            at.switch_page(case.file)
        for key, value in link.items():
            at.query_params[key] = value
        at.run()
    finally:
        context._analytics_function = original
    return {
        "exceptions": [str(e.message).splitlines()[0] if e.message else "exception" for e in at.exception],
        "metrics": [(m.label, m.value) for m in at.metric],
        "errors": [e.value for e in at.error],
        "warnings": [w.value for w in at.warning],
        "tables": [d.value for d in at.dataframe],
        "markdown": [m.value for m in at.markdown],
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_page_shows_the_same_on_spark(case, on_engine, duck, spark):
    link = case.params(duck)
    on_engine("duckdb")
    shown_duckdb = _run_page(case, link)
    on_engine("spark")
    calls: list = []
    shown_spark = _run_page(case, link, calls)
    assert shown_spark["exceptions"] == [], shown_spark["exceptions"]
    assert shown_duckdb["exceptions"] == []
    assert calls, "the page made no analytics call on Spark"
    # every analytics call of the page, on the DuckDB reader, returns what Spark returned
    found = []
    for function, args, kwargs, result in calls:
        label = f"{function.__module__}.{function.__name__}"
        found += differences(function(duck, *args, **kwargs), result, label, tolerance_for(label))
    assert found == [], "\n".join(found)
    if case.name == "admin_audit":  # the audit log: a local file on both engines, one run longer
        shown_duckdb.pop("tables"), shown_spark.pop("tables")
    # what the visitor sees: tiles, tables, messages (a page showing a model fit: its tolerance)
    fitted = any(tolerance_for(c[0].__name__) != TOLERANCE for c in calls)
    shown = differences(shown_duckdb, shown_spark, case.name, MODEL_FIT_TOLERANCE if fitted else TOLERANCE)
    assert shown == [], "\n".join(shown)


def test_the_other_views_give_the_same_results(duck, spark):
    expected, got = other_views(duck), other_views(spark)
    assert list(expected) == list(got)
    found = [d for label in expected for d in differences(expected[label], got[label], label, tolerance_for(label))]
    assert found == [], "\n".join(found)


def _summary(clinic_path: Path, engine: str, *args: str) -> dict[str, Any]:
    env = {**os.environ, "BETWEEN_SESSIONS_ENGINE": engine}
    done = subprocess.run([sys.executable, "-m", "analytics", "summary", "--json", "--db", str(clinic_path), *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("args", [(), ("--clinic", "Northside")], ids=["network", "one clinic"])
def test_summary_json_is_the_same_on_both_engines(clinic_path, args):
    on_duckdb = _summary(clinic_path, "duckdb", *args)
    on_spark = _summary(clinic_path, "spark", *args)
    assert on_duckdb["clients"] > 0
    assert differences(on_duckdb, on_spark, "summary") == []
