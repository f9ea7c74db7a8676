"""`wasmbay cache` and `wasmbay verify` from a terminal: output, --json and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Build = Callable[[str], Path]


def wasmbay(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # one tier: the entries a test counts are only the ones its commands compiled
    full = {**os.environ, "WASMBAY_HOME": str(home), "WASMBAY_TIER": "optimized", **env}
    return subprocess.run([sys.executable, "-m", "wasmbay", *args], capture_output=True,
                          text=True, env=full, timeout=120)


def as_json(r: subprocess.CompletedProcess[str]) -> Any:
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_cache_list_size_prune_clear(tmp_path: Path, fixture_wasm: Build) -> None:
    home = tmp_path / "home"
    assert wasmbay(home, "install", str(fixture_wasm("echo"))).returncode == 0
    r = wasmbay(home, "install", str(fixture_wasm("echo_v1_versioned")), "--id", "other")
    assert r.returncode == 0, r.stderr
    entries = as_json(wasmbay(home, "cache", "list", "--json"))["entries"]
    assert sorted(u for e in entries for u in e["used_by"])[0] == "echo@1.0.0"
    assert all(e["referenced"] and e["tier"] == "cranelift" for e in entries)
    echo_sha = next(e["component_sha256"] for e in entries if "echo@1.0.0" in e["used_by"])

    assert wasmbay(home, "uninstall", "echo").returncode == 0
    text = wasmbay(home, "cache", "list").stdout
    assert f"{echo_sha[:12]}" in text and "unreferenced" in text and "other@" in text
    size = as_json(wasmbay(home, "cache", "size", "--json"))
    assert size["entries"] == 2 and 0 < size["unreferenced"] < size["total"]
    assert size["max_bytes"] == 2 << 30

    assert as_json(wasmbay(home, "cache", "prune", "--json"))["removed"] == []  # under the cap
    pruned = as_json(wasmbay(home, "cache", "prune", "--all", "--json"))
    assert [e["component_sha256"] for e in pruned["removed"]] == [echo_sha]
    assert pruned["freed"] == size["unreferenced"]
    assert wasmbay(home, "call", "other", "x").returncode == 0  # its entry stayed

    cleared = as_json(wasmbay(home, "cache", "clear", "--json"))
    assert len(cleared["removed"]) == 1
    assert wasmbay(home, "cache", "list").stdout.strip() == "the compiled cache is empty"
    assert wasmbay(home, "call", "other", "y").returncode == 0  # compiled again


def test_prune_to_a_configured_cap(tmp_path: Path, fixture_wasm: Build) -> None:
    home = tmp_path / "home"
    assert wasmbay(home, "install", str(fixture_wasm("echo"))).returncode == 0
    assert wasmbay(home, "uninstall", "echo").returncode == 0  # under the default cap: kept
    assert as_json(wasmbay(home, "cache", "size", "--json"))["entries"] == 1
    pruned = as_json(wasmbay(home, "cache", "prune", "--json", WASMBAY_CACHE_MAX="0"))
    assert len(pruned["removed"]) == 1


def test_a_bad_cache_cap_is_a_usage_error(tmp_path: Path) -> None:
    r = wasmbay(tmp_path / "home", "cache", "size", WASMBAY_CACHE_MAX="lots")
    assert r.returncode == 2
    assert "WASMBAY_CACHE_MAX" in r.stderr and "2G" in r.stderr


def test_verify_exits_non_zero_and_lists_the_damaged(tmp_path: Path,
                                                     fixture_wasm: Build) -> None:
    home = tmp_path / "home"
    assert wasmbay(home, "install", str(fixture_wasm("echo"))).returncode == 0
    r = wasmbay(home, "verify")
    assert r.returncode == 0 and "1 of 1 stored versions match" in r.stdout
    component = home / "data" / "plugins" / "echo" / "versions" / "1.0.0" / "component.wasm"
    data = bytearray(component.read_bytes())
    data[-1] ^= 1
    component.write_bytes(bytes(data))
    r = wasmbay(home, "verify")
    assert r.returncode == 3
    assert "DAMAGED echo 1.0.0: component file changed behind Wasmbay's back" in r.stdout
    r = wasmbay(home, "verify", "--json")
    assert r.returncode == 3
    report = json.loads(r.stdout)
    assert [(d["plugin_id"], d["version"]) for d in report["damaged"]] == [("echo", "1.0.0")]
    assert report["checked"] == 1
