#!/usr/bin/env bash
# Regenerate the README's screenshots: the real app under Xvfb with the sample plugins,
# at 1600x1000 and 1024x700 in the light and dark themes, into docs/screenshots/.
#   bash scripts/screenshots.sh
# Runs the smoke test (tests/gui/test_smoke_xvfb.py) with WASMBAY_SCREENSHOTS_DIR set;
# needs what `scripts/setup.sh test` installs (Xvfb, the venv, the built samples).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/docs/screenshots}
mkdir -p "$out"
cd "$root"
WASMBAY_SCREENSHOTS_DIR=$out scripts/keyring-session.sh .venv/bin/python -m pytest -q \
  -p no:cacheprovider tests/gui/test_smoke_xvfb.py
ls -l "$out"
