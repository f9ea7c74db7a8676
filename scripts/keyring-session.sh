#!/usr/bin/env bash
# Run a command with a real Secret Service: a private D-Bus session bus with Debian's
# gnome-keyring-daemon, its login keyring unlocked by a password on stdin.
#   scripts/keyring-session.sh pytest -q
set -euo pipefail
if [ -z "${WASMBAY_IN_KEYRING_SESSION:-}" ]; then
  export WASMBAY_IN_KEYRING_SESSION=1
  exec dbus-run-session -- "$0" "$@"
fi
# Inside the session bus: a throwaway keyring home, so tests never touch a real one.
export XDG_DATA_HOME
XDG_DATA_HOME=$(mktemp -d)
trap 'rm -rf "$XDG_DATA_HOME"' EXIT
eval "$(printf 'wasmbay-test\n' | gnome-keyring-daemon --unlock --components=secrets)"
eval "$(gnome-keyring-daemon --start --components=secrets)"
export GNOME_KEYRING_CONTROL
"$@"
