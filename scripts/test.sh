#!/usr/bin/env bash
# Set everything up and run the whole test suite: lint, types, import rules, the core
# tests once more without Qt, then every test inside a real Secret Service session.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff"
ruff check .
echo "== mypy (core)"
mypy core
echo "== import rules (core never imports Qt or gui)"
lint-imports
echo "== core tests with PySide6 absent"
python scripts/without_qt.py -q -x tests/core -m "not slow"
echo "== fuzz the parsers of hostile input (bounded time per target)"
python -m tests.security.fuzz --seconds "${WASMBAY_FUZZ_SECONDS:-20}"
echo "== all tests (real Secret Service, offscreen Qt, Xvfb smoke test)"
if [ -x scripts/keyring-session.sh ]; then
  scripts/keyring-session.sh python -m pytest -q "$@"
else
  python -m pytest -q "$@"
fi
