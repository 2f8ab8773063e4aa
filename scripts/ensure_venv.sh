#!/usr/bin/env bash
# Create the course's virtual environment if it is missing, and install the pinned
# stack into it (`pip install -c constraints.txt -e ".[dev]"`). pip runs only when
# pyproject.toml's [project] or [build-system] tables, constraints.txt or the
# repository's location changed since the last successful install, so `make lab`
# and `make test` start at once afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"

if [ ! -x "$VENV/bin/python" ]; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "error: '$PYTHON' not found. Install Python 3.11 or newer, or run" >&2
        echo "       make PYTHON=/path/to/python3.11 ..." >&2
        exit 1
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "error: the course needs Python >= 3.11; '$PYTHON' is" \
            "$("$PYTHON" -c 'import platform; print(platform.python_version())')." >&2
        echo "       Run: make PYTHON=python3.11 ..." >&2
        exit 1
    fi
    echo "Creating $VENV with $("$PYTHON" -c 'import sys; print(sys.executable)') ..."
    if ! "$PYTHON" -m venv "$VENV"; then
        echo "error: '$PYTHON -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)." >&2
        rm -rf "$VENV"
        exit 1
    fi
fi

stamp="$VENV/.install-stamp"
wanted="$("$VENV/bin/python" - <<'PY'
import hashlib
import json
import pathlib
import tomllib

# Only what decides the install: the location, the package's metadata and
# dependencies, the build system and the pins (not, say, ruff's settings).
pyproject = tomllib.loads(pathlib.Path("pyproject.toml").read_text())
digest = hashlib.sha256(str(pathlib.Path.cwd()).encode())
tables = [pyproject.get("project"), pyproject.get("build-system")]
digest.update(json.dumps(tables, sort_keys=True).encode())
digest.update(pathlib.Path("constraints.txt").read_bytes())
print(digest.hexdigest())
PY
)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    exit 0
fi

echo "Installing the pinned course environment into $VENV (first time: about a minute) ..."
rm -f "$stamp"
"$VENV/bin/python" -m pip install --disable-pip-version-check -c constraints.txt -e ".[dev]"
echo "$wanted" > "$stamp"
