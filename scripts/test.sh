#!/usr/bin/env bash
# The test command (`make test`): set-up, lint, types, the layer check, then the whole pytest suite, which
# starts (or reuses) the real local Kafka broker (tests/conftest.py).
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
# Two workers (pytest-xdist), each taking whole files; they share one broker, started first
# (tests/conftest.py). Most tests wait on Kafka and child processes, so two workers on two
# cores halve the run. Pass -n 0 to run in one process.
.venv/bin/python -m pytest -n 2 --dist loadfile --durations=25 "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing, since a test run that tests nothing proves nothing" >&2
    exit 1
fi
exit "$rc"
