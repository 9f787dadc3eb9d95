#!/usr/bin/env bash
# The Spark engine's equality tests (issue 17): the sample clinic on DuckDB and on Spark (local
# mode) gives the same numbers on every page, in every analytics call the pages make and in
# `summary --json`. Installs PySpark (requirements-spark.txt) and Java first.
# Usage: scripts/test-spark.sh [extra pytest arguments]
#
# Not part of scripts/test.sh (the README's test command): Spark's start-up and per-query cost
# would take the whole suite past 10 minutes on a 2-core machine (measured: docs/deployment.md).
# A scheduled CI run calls this script (.ci/scheduled-spark).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh spark
scripts/install-java.sh
SPARK_TESTS_REQUIRED=1 exec .venv/bin/python -m pytest tests/spark "$@"
