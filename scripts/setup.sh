#!/usr/bin/env bash
# Create .venv and install the project's Python packages (idempotent).
# Usage: scripts/setup.sh [runtime|dev|spark]   (default: runtime; spark: dev and the Spark engine's
# packages, requirements-spark.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-runtime}"
case "$kind" in
  runtime) req=(-r requirements.txt) ;;
  dev) req=(-r requirements-dev.txt) ;;
  spark) req=(-r requirements-dev.txt -r requirements-spark.txt) ;;
  *) echo "setup.sh: unknown kind $kind (runtime, dev or spark)" >&2; exit 2 ;;
esac

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$kind-$(cat requirements.txt requirements-dev.txt requirements-spark.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip uv >/dev/null
  UV_PYTHON_DOWNLOADS=never .venv/bin/uv pip install --quiet --python .venv/bin/python "${req[@]}"
  touch "$stamp"
fi
