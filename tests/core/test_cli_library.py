"""The library commands from a terminal: output, --json and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Build = Callable[[str], Path]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def wasmbay(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WASMBAY_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "wasmbay", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_install_call_canary_promote_rollback(home: Path, fixture_wasm: Build,
                                              tmp_path: Path) -> None:
    from .library_fixtures import echo_variant

    r = wasmbay(home, "install", str(fixture_wasm("echo_v2")))
    assert r.returncode == 0, r.stderr
    assert "requests fs-read=/data" in r.stdout and "nothing is granted" in r.stdout
    listed = json.loads(wasmbay(home, "list", "--json").stdout)
    assert [p["plugin_id"] for p in listed["plugins"]] == ["echo"]
    assert wasmbay(home, "call", "echo", "hi").stdout == "v2: hi\n"
    assert wasmbay(home, "call", "echo", "hi", "--option", "fail=1").returncode == 1

    r = wasmbay(home, "install", str(fixture_wasm("echo")), "--id", "one")
    assert r.returncode == 0, r.stderr
    canary = echo_variant(tmp_path, "1.0.1", "canaryyyy")
    assert wasmbay(home, "canary", "one", str(canary), "--percent", "100").returncode == 0
    assert wasmbay(home, "call", "one", "x").stdout == "canaryyyy: x\n"
    info = json.loads(wasmbay(home, "info", "one", "--json").stdout)
    assert info["canary"] == "1.0.1" and info["canary_percent"] == 100
    assert wasmbay(home, "promote", "one").returncode == 0
    assert wasmbay(home, "rollback", "one").returncode == 0
    assert wasmbay(home, "call", "one", "x").stdout == "processed: x\n"
    logs = wasmbay(home, "logs", "one").stdout
    assert "rolled back" in logs and "echo initialized" in logs


def test_grants_and_usage_errors(home: Path, fixture_wasm: Build) -> None:
    wasmbay(home, "install", str(fixture_wasm("echo")))
    r = wasmbay(home, "grant", "echo", "env=HOME", "timeout=2s")
    assert r.returncode == 0 and "env=HOME" in r.stdout and "timeout=2s" in r.stdout
    assert "env=HOME" not in wasmbay(home, "revoke", "echo", "env=HOME").stdout
    assert wasmbay(home, "grant", "echo", "bogus").returncode == 2
    assert wasmbay(home, "call", "nope", "x").returncode == 2
    assert wasmbay(home, "disable", "echo").returncode == 0
    assert wasmbay(home, "call", "echo", "x").returncode == 4
    assert wasmbay(home, "enable", "echo").returncode == 0
    health = json.loads(wasmbay(home, "health", "--json").stdout)
    assert health["echo"]["status"] == "ok"
    assert wasmbay(home, "uninstall", "echo").returncode == 0
    assert json.loads(wasmbay(home, "list", "--json").stdout)["plugins"] == []


def test_update_with_more_permissions_needs_approval(home: Path, fixture_wasm: Build) -> None:
    wasmbay(home, "install", str(fixture_wasm("echo")))
    r = wasmbay(home, "install", str(fixture_wasm("echo_v2")))
    assert r.returncode == 2
    assert "+fs-read=/data" in r.stderr and "+network" in r.stderr
    assert "+ requests network" in r.stdout
    r = wasmbay(home, "install", str(fixture_wasm("echo_v2")), "--accept-requested")
    assert r.returncode == 0 and "network" in r.stdout
