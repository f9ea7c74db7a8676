#!/usr/bin/env bash
# Installs the Debian packages given that are not installed yet (as root), or says
# which ones to install and fails. Shared by setup.sh and install-toolchains.sh.
#   scripts/apt-ensure.sh LABEL PKG...
set -euo pipefail
label=$1
shift
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "$label: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
else
  echo "$label: please install these Debian packages: ${missing[*]}" >&2
  exit 1
fi
