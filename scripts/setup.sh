#!/usr/bin/env bash
# Sets up a fresh machine for Wasmbay: system packages, a venv in .venv, the project.
#   scripts/setup.sh app    what the desktop app needs
#   scripts/setup.sh test   also test tools, Xvfb, a Secret Service and the plugin toolchains
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-app}

# Qt offscreen + OS keyring (Secret Service over D-Bus).
apt_app=(libgl1 libegl1 libfontconfig1 libxkbcommon0 libglib2.0-0 libdbus-1-3
         libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
         gnome-keyring dbus)
# A real X server for the smoke test.
apt_test=(xvfb xauth x11-utils)

need=("${apt_app[@]}")
[ "$mode" = test ] && need+=("${apt_test[@]}")
scripts/apt-ensure.sh setup "${need[@]}"

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
extra=build
[ "$mode" = test ] && extra=test
.venv/bin/python -m pip install -q -e ".[$extra]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import wasmbay.core" >/dev/null

if [ "$mode" = test ] && [ -x scripts/install-toolchains.sh ]; then
  scripts/install-toolchains.sh
fi
echo "setup: ready ($mode)"
