#!/usr/bin/env bash
# Set everything up, build the bundled sample plugins, and open the Wasmbay window.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh app
# build the samples and compile them into the compiled cache: the first start finds them ready
.venv/bin/python plugins/build.py --warm >/dev/null
exec .venv/bin/wasmbay "$@"
