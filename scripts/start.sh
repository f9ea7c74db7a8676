#!/usr/bin/env bash
# Set everything up, build the bundled sample plugins, and open the Wasmbay window.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh app
.venv/bin/python plugins/build.py >/dev/null
exec .venv/bin/wasmbay "$@"
