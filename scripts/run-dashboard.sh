#!/usr/bin/env bash
# Start the Between Sessions dashboard (docs/security.md).
#
#   scripts/run-dashboard.sh                 # local single-user mode on http://127.0.0.1:8501
#   PORT=8600 scripts/run-dashboard.sh       # another port
#   ADDRESS=0.0.0.0 scripts/run-dashboard.sh # other computers: only with sign-in configured
#
# Without an [auth] section in .streamlit/secrets.toml the server always listens on
# 127.0.0.1 only, and asking for another ADDRESS is refused (exit 2). With sign-in
# configured it listens on ADDRESS (default 127.0.0.1, e.g. behind a reverse proxy).
# Creates .venv (python3 -m venv) and installs requirements.txt when needed (uv when it is
# installed, else pip). The server is started by the launcher, `python -m ui.serve` (ui/serve.py:
# `streamlit run dashboard.py` with the pages' imports warmed up in the background, so the first
# visitor does not wait for them). Extra arguments go to `streamlit run`; the app itself still
# refuses a non-local address without sign-in. DRY_RUN=1 prints the command instead of running it.
# BETWEEN_SESSIONS_ENGINE=spark reads through Apache Spark (local mode, or SPARK_REMOTE=sc://…):
# requirements-spark.txt and a Java runtime are installed first (docs/deployment.md).
set -euo pipefail

cd "$(dirname "$0")/.."
PORT="${PORT:-8501}"
VENV=".venv"
STAMP="$VENV/.requirements-installed"

# 1. Is sign-in configured? The secrets files Streamlit reads: the user's, then the project's.
auth_configured=$(python3 - <<'PY'
import re
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python < 3.11: look for the section header
    tomllib = None
found = False
for path in (Path.home() / ".streamlit" / "secrets.toml", Path(".streamlit") / "secrets.toml"):
    if not path.is_file():
        continue
    text = path.read_text(encoding="utf-8", errors="replace")
    if tomllib is None:
        found = found or bool(re.search(r"^\s*\[auth[.\]]", text, re.MULTILINE))
        continue
    try:
        found = found or bool(tomllib.loads(text).get("auth"))
    except ValueError:
        found = True  # a broken secrets file: the app itself refuses to run in local mode
print("yes" if found else "no")
PY
)

# 2. Where to listen.
if [ "$auth_configured" = "yes" ]; then
    ADDRESS="${ADDRESS:-127.0.0.1}"
    echo "Sign-in is configured: listening on $ADDRESS:$PORT"
else
    case "${ADDRESS:-127.0.0.1}" in
        127.0.0.1|localhost|::1) ;;
        *)
            echo "Refusing ADDRESS=$ADDRESS: sign-in is not configured, so the dashboard may only listen on" >&2
            echo "this computer. Add an [auth] section to .streamlit/secrets.toml first (docs/security.md)." >&2
            exit 2
            ;;
    esac
    ADDRESS="127.0.0.1"
    echo "Local single-user mode (no sign-in): http://127.0.0.1:$PORT (this computer only)"
fi

CMD=("$VENV/bin/python" -m ui.serve
     --server.address "$ADDRESS"
     --server.port "$PORT"
     --server.headless true
     --browser.gatherUsageStats false
     "$@")
if [ -n "${DRY_RUN:-}" ]; then
    printf '%q ' "${CMD[@]}"
    echo
    exit 0
fi

# 3. The virtual environment, created and filled when needed.
if [ ! -x "$VENV/bin/python" ]; then
    echo "Creating $VENV ..."
    python3 -m venv "$VENV"
fi
if [ ! -f "$STAMP" ] || [ requirements.txt -nt "$STAMP" ]; then
    echo "Installing requirements.txt into $VENV ..."
    if command -v uv >/dev/null 2>&1; then
        UV_PYTHON_DOWNLOADS=never uv pip install --python "$VENV/bin/python" -r requirements.txt
    else
        "$VENV/bin/python" -m pip install --quiet -r requirements.txt
    fi
    touch "$STAMP"
fi
# 4. The Spark engine (BETWEEN_SESSIONS_ENGINE=spark, docs/deployment.md): PySpark and Java.
if [ "${BETWEEN_SESSIONS_ENGINE:-duckdb}" = spark ]; then
    SPARK_STAMP="$VENV/.requirements-spark-installed"
    if [ ! -f "$SPARK_STAMP" ] || [ requirements-spark.txt -nt "$SPARK_STAMP" ] || [ requirements.txt -nt "$SPARK_STAMP" ]; then
        echo "Installing requirements-spark.txt (the Spark engine) into $VENV ..."
        if command -v uv >/dev/null 2>&1; then
            UV_PYTHON_DOWNLOADS=never uv pip install --python "$VENV/bin/python" -r requirements-spark.txt
        else
            "$VENV/bin/python" -m pip install --quiet -r requirements-spark.txt
        fi
        touch "$SPARK_STAMP"
    fi
    scripts/install-java.sh
    echo "Engine: Spark (${SPARK_REMOTE:-${BETWEEN_SESSIONS_SPARK_MASTER:-local[2]}}) over the database's Parquet snapshot"
fi

exec "${CMD[@]}"
