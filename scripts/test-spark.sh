#!/usr/bin/env bash
# The Spark engine's equality tests (issue 17): the sample clinic on DuckDB and on Spark (local
# mode) gives the same numbers on every page, in every analytics call the pages make and in
# `summary --json`; an import with its checks in Spark SQL leaves the same database as one with
# them in DuckDB. Then the importer's own tests, with the import's checks on Spark.
# Installs PySpark (requirements-spark.txt) and Java first.
# Usage: scripts/test-spark.sh [extra pytest arguments]
#
# Not part of scripts/test.sh (the README's test command): Spark's start-up and per-query cost
# would take the whole suite past 10 minutes on a 2-core machine (measured: docs/deployment.md).
# A scheduled CI run calls this script (.ci/scheduled-spark).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh spark
scripts/install-java.sh
SPARK_TESTS_REQUIRED=1 .venv/bin/python -m pytest tests/spark "$@"
# every rule, reject, upsert, snapshot import and dry run of the importer's tests, checked by Spark
BETWEEN_SESSIONS_ENGINE=spark exec .venv/bin/python -m pytest tests/test_importer.py \
    tests/test_import_snapshot.py tests/test_import_dates.py tests/test_import_dry_run.py "$@"
