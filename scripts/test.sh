#!/usr/bin/env bash
# The test command (`make test`): set-up, lint, types, the layer check, then the whole pytest suite, which
# starts (or reuses) the real local Kafka broker through a session fixture.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/install_browser.sh  # the console's browser tests: installs chromium where it can
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy .
echo "== layers (import-linter, pyproject.toml [tool.importlinter])"
.venv/bin/lint-imports --no-cache
echo "== pytest"
set +e
.venv/bin/python -m pytest --durations=25 "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing, since a test run that tests nothing proves nothing" >&2
    exit 1
fi
exit "$rc"
