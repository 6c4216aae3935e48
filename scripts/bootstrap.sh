#!/usr/bin/env bash
# Creates .venv in the repository root and installs Offload with its dev tools into it.
# Idempotent and fast when nothing changed: it reinstalls only when pyproject.toml changes.
# Needs only Python >= 3.11 on the machine (Java 17+ and Maven are checked by `offload kafka up`).
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    echo "bootstrap: Python >= 3.11 is required (found: $("$PY" --version 2>&1 || echo none))" >&2
    exit 2
fi
for tool in java mvn; do
    command -v "$tool" >/dev/null 2>&1 || echo "bootstrap: warning: '$tool' not found; the local Kafka needs Java 17+ and Maven" >&2
done

if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    "$PY" -m venv .venv
fi
stamp=.venv/.offload-installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "bootstrap: installing Offload and its dependencies into .venv"
    .venv/bin/python -m pip install --quiet --upgrade pip
    # The build backend's notes (setuptools' multi-line "Editable installation" box) go to a
    # log; it is shown only when the install fails.
    log=.venv/install.log
    if ! .venv/bin/python -m pip install --quiet -e '.[dev]' >"$log" 2>&1; then
        cat "$log" >&2
        echo "bootstrap: installing into .venv failed (log above, also in $log)" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
