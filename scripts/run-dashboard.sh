#!/usr/bin/env bash
# Start the Between Sessions dashboard (docs/security.md).
#
#   scripts/run-dashboard.sh                 # local single-user mode on http://127.0.0.1:8501
#   PORT=8600 scripts/run-dashboard.sh       # another port
#   ADDRESS=0.0.0.0 scripts/run-dashboard.sh # other computers: only with sign-in configured
#
# Creates .venv (python3 -m venv) and installs requirements.txt when needed (uv when it is
# installed, else pip). Without an [auth] section in .streamlit/secrets.toml the server
# always listens on 127.0.0.1 only; asking for another ADDRESS is refused. With sign-in
# configured it listens on ADDRESS (default 127.0.0.1, e.g. behind a reverse proxy).
# Extra arguments go to `streamlit run` (the app itself still refuses a non-local address
# without sign-in).
set -euo pipefail

cd "$(dirname "$0")/.."
PORT="${PORT:-8501}"
VENV=".venv"
STAMP="$VENV/.requirements-installed"

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

# Is sign-in configured? The same secrets files Streamlit reads: the project's, then the user's.
auth_configured=$("$VENV/bin/python" - <<'PY'
import tomllib
from pathlib import Path

found = False
for path in (Path.home() / ".streamlit" / "secrets.toml", Path(".streamlit") / "secrets.toml"):
    if path.is_file():
        try:
            found = found or bool(tomllib.loads(path.read_text(encoding="utf-8")).get("auth"))
        except (OSError, ValueError):
            found = True  # a broken secrets file: the app itself refuses to run in local mode
print("yes" if found else "no")
PY
)

if [ "$auth_configured" = "yes" ]; then
    ADDRESS="${ADDRESS:-127.0.0.1}"
    echo "Sign-in is configured: listening on $ADDRESS:$PORT"
else
    if [ -n "${ADDRESS:-}" ] && [ "$ADDRESS" != "127.0.0.1" ] && [ "$ADDRESS" != "localhost" ] && [ "$ADDRESS" != "::1" ]; then
        echo "Refusing ADDRESS=$ADDRESS: sign-in is not configured, so the dashboard may only listen on" >&2
        echo "this computer. Add an [auth] section to .streamlit/secrets.toml first (docs/security.md)." >&2
        exit 2
    fi
    ADDRESS="127.0.0.1"
    echo "Local single-user mode (no sign-in): http://127.0.0.1:$PORT (this computer only)"
fi

exec "$VENV/bin/streamlit" run dashboard.py \
    --server.address "$ADDRESS" \
    --server.port "$PORT" \
    --server.headless true \
    --browser.gatherUsageStats false \
    "$@"
