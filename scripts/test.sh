#!/usr/bin/env bash
# Set up and run every test: lint, unit and page tests, and the real-browser suite.
# Usage: scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
scripts/install-browser.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
