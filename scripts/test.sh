#!/usr/bin/env bash
# Set up and run every test: lint, unit and page tests, and the real-browser suite.
# Usage: scripts/test.sh [extra pytest arguments]
#
# Without test paths in the arguments: the browser suite (tests/browser) runs first, serially
# (it starts its own servers and browsers), then the rest in parallel with pytest-xdist
# (TEST_WORKERS workers, default "auto": one per CPU; tests go to whichever worker is free, which
# on 2 CPUs measured faster than keeping each file on one worker); extra options (-x, -k, -q ...) go to both
# runs, and the script fails if either does. With test paths (scripts/test.sh tests/test_x.py):
# one pytest run of those, serially, as before; add -n auto to spread it over the CPUs.
# The Spark engine's equality tests (tests/spark) run under scripts/test-spark.sh instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
scripts/install-browser.sh
.venv/bin/ruff check .

for arg in "$@"; do
  case "$arg" in
    tests|tests/*|./tests*) exec .venv/bin/python -m pytest "$@" ;;
  esac
done

# pytest exits 5 when nothing was collected (e.g. -k matching only tests of the other run).
run() { .venv/bin/python -m pytest "$@" || { rc=$?; [ "$rc" -eq 5 ] || return "$rc"; }; }
status=0
run tests/browser "$@" || status=$?
run tests --ignore=tests/browser --ignore=tests/spark -n "${TEST_WORKERS:-auto}" "$@" || status=$?
exit "$status"
