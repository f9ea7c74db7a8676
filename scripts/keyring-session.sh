#!/usr/bin/env bash
# Run a command with a real Secret Service: a private D-Bus session bus with Debian's
# gnome-keyring-daemon, its login keyring unlocked by a password on stdin.
#   scripts/keyring-session.sh pytest -q
set -euo pipefail
if [ -z "${WASMBAY_IN_KEYRING_SESSION:-}" ]; then
  export WASMBAY_IN_KEYRING_SESSION=1
  exec dbus-run-session -- "$0" "$@"
fi
# Inside the session bus: a throwaway keyring home and runtime folder (the daemon's
# control socket), so tests never touch a real keyring, and two sessions side by side
# (CI beside a developer's run) never reach each other's daemon.
session=$(mktemp -d)
trap 'rm -rf "$session"' EXIT
export XDG_DATA_HOME=$session/data XDG_RUNTIME_DIR=$session/run
mkdir -p "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
eval "$(printf 'wasmbay-test\n' | gnome-keyring-daemon --unlock --components=secrets)"
eval "$(gnome-keyring-daemon --start --components=secrets)"
export GNOME_KEYRING_CONTROL
"$@"
