"""Attacks through damaged state and through a plugin that never finishes starting.

Issue 10 point 8. ``state.json`` is read back as hostile input: valid JSON of the wrong
shape is that plugin's LibraryEntryError while the rest of the library loads, and a
damaged plugin is reported as damaged (not "not installed"). An install whose
``initialize`` hangs or fails never reports success.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.build import wasm_tools
from wasmbay.core import errors as E
from wasmbay.core.errors import LibraryEntryError
from wasmbay.core.manager import PluginManager
from wasmbay.core.paths import AppDirs
from wasmbay.core.runtime import Runtime

from .conftest import Forge
from .forge import forge_wat

Mutate = Callable[[dict[str, Any]], Any]


def wasmbay(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WASMBAY_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "wasmbay", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def hanging_plugin(out_dir: Path, version: str = "1.0.0") -> Path:
    """The forged v2 plugin whose ``initialize`` spins forever (stopped only by a deadline)."""
    text = forge_wat(name="forged", version=version)
    start = text.index('(func (export "initialize")')
    end = text.index(";; process-request")
    text = (text[:start] + '(func (export "initialize") (param i32 i32) (result i32)\n'
            "      (loop $spin (br $spin)) unreachable)\n\n    " + text[end:])
    out_dir.mkdir(parents=True, exist_ok=True)
    src = out_dir / f"hang-{hashlib.sha256(text.encode()).hexdigest()[:12]}.wat"
    src.write_text(text)
    out = src.with_suffix(".wasm")
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True,
                   capture_output=True)
    return out


def _set(path: list[str], value: Any) -> Mutate:
    def mutate(d: dict[str, Any]) -> Any:
        target = d
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return d
    return mutate


def _path_version(d: dict[str, Any]) -> Any:
    evil = "../../../../x"
    d["versions"] = {evil: {**d["versions"]["2.0.0"], "version": evil}}
    d["stable"] = evil
    return d


def _version(field: str, value: Any) -> Mutate:
    return _set(["versions", "2.0.0", field], value)


DAMAGE: dict[str, Mutate] = {
    "null": lambda d: None,
    "list": lambda d: [d],
    "string": lambda d: "state",
    "format-only": lambda d: {"format": 1},
    "format-as-string": _set(["format"], "1"),
    "plugin-id-number": _set(["plugin_id"], 7),
    "versions-list": lambda d: {**d, "versions": list(d["versions"].values())},
    "versions-empty": _set(["versions"], {}),
    "version-key-is-a-path": _path_version,
    "version-record-null": _set(["versions", "2.0.0"], None),
    "version-missing-sha256": lambda d: (d["versions"]["2.0.0"].pop("sha256"), d)[1],
    "version-sha256-not-hex": _version("sha256", "../" * 20),
    "version-name-list": _version("name", ["x"]),
    "version-size-string": _version("size", "12"),
    "version-requested-dict": _version("requested", {"a": 1}),
    "version-signed-by-number": _version("signed_by", 5),
    "stable-unknown": _set(["stable"], "9.9.9"),
    "stable-number": _set(["stable"], 2),
    "canary-list": _set(["canary"], ["2.0.0"]),
    "canary-percent-string": _set(["canary_percent"], "50"),
    "canary-percent-200": _set(["canary_percent"], 200),
    "enabled-string": _set(["enabled"], "yes"),
    "grants-list": _set(["grants"], []),
    "grants-dirs-string": _set(["grants", "dirs"], "/"),
    "grants-dir-string": _set(["grants", "dirs"], ["/etc"]),
    "grants-dir-relative": _set(["grants", "dirs"], [{"host": "x", "guest": "/x",
                                                      "writable": True}]),
    "grants-dir-writable-string": _set(["grants", "dirs"], [{"host": "/tmp", "guest": "/t",
                                                             "writable": "no"}]),
    "grants-network-string": _set(["grants", "network"], "false"),
    "grants-env-string": _set(["grants", "env"], "HOME"),
    "grants-memory-negative": _set(["grants", "memory_bytes"], -1),
    "grants-timeout-string": _set(["grants", "timeout_s"], "30"),
    "grants-fuel-zero": _set(["grants", "fuel"], 0),
    "config-list": _set(["config"], [["k", "v"]]),
    "config-value-number": _set(["config"], {"k": 1}),
    "secret-keys-string": _set(["secret_keys"], "k"),
    "auto-rollback-list": _set(["auto_rollback"], [0.5, 10]),
    "auto-rollback-missing-window": _set(["auto_rollback"], {"max_error_rate": 0.5}),
}


@pytest.fixture(scope="module")
def valid_state(tmp_path_factory: pytest.TempPathFactory, runtime: Runtime,
                fixture_wasm: Callable[[str], Path]) -> dict[str, Any]:
    """A real state.json of the echo_v2 fixture, installed with a folder and a config."""
    root = tmp_path_factory.mktemp("state") / "home"
    dirs = AppDirs(root / "data", root / "config", root / "cache", root / "logs")
    (root / "pictures").mkdir(parents=True)
    with PluginManager(dirs, runtime=runtime) as m:
        m.install(fixture_wasm("echo_v2"), grants=[f"fs-read={root / 'pictures'}:/data"],
                  plugin_id="other")
        m.set_config("other", "k", "v")
        data = (m.library.plugin_dir("other") / "state.json").read_bytes()
    d: dict[str, Any] = json.loads(data)
    assert d["grants"]["dirs"] and d["versions"]["2.0.0"]
    return d


@pytest.fixture
def two_plugins(dirs: AppDirs, runtime: Runtime, fixture_wasm: Callable[[str], Path]) -> Path:
    """echo and other installed; returns other's state file."""
    with PluginManager(dirs, runtime=runtime) as m:
        m.install(fixture_wasm("echo"))
        m.install(fixture_wasm("echo_v2"), plugin_id="other")
        return m.library.plugin_dir("other") / "state.json"


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_state_json_of_the_wrong_shape_damages_only_that_plugin(
        dirs: AppDirs, runtime: Runtime, two_plugins: Path, valid_state: dict[str, Any],
        damage: str) -> None:
    bad = DAMAGE[damage](copy.deepcopy(valid_state))
    two_plugins.write_text(json.dumps(bad))
    before = two_plugins.read_bytes()
    with PluginManager(dirs, runtime=runtime) as m:
        assert m.ids() == ["echo"]
        assert [p.plugin_id for p in m.problems] == ["other"]
        problem = m.problems[0]
        assert isinstance(problem, LibraryEntryError) and problem.hint
        assert "corrupt" in problem.message
        assert m.call("echo", "still").output == "processed: still"
        assert [s.plugin_id for s in m.statuses()] == ["echo"]
    assert two_plugins.read_bytes() == before  # nothing deleted or rewritten
    assert not (dirs.data / "x").exists() and not (dirs.data.parent / "x").exists()


def test_the_valid_state_still_loads(dirs: AppDirs, runtime: Runtime, two_plugins: Path,
                                     valid_state: dict[str, Any]) -> None:
    """The damage cases above each break a state that otherwise loads (so they can fail)."""
    two_plugins.write_text(json.dumps(valid_state))
    with PluginManager(dirs, runtime=runtime) as m:
        assert m.ids() == ["echo", "other"] and m.problems == []
        assert m.record("other").config == {"k": "v"}


def test_state_granting_the_library_records_is_not_loaded(
        dirs: AppDirs, runtime: Runtime, two_plugins: Path) -> None:
    """An install made before the fix, holding the `/..` grant of its own plugin folder."""
    d = json.loads(two_plugins.read_text())
    d["grants"]["dirs"] = [{"host": str(two_plugins.parent), "guest": "/..", "writable": True}]
    two_plugins.write_text(json.dumps(d))
    with PluginManager(dirs, runtime=runtime) as m:
        assert m.ids() == ["echo"]
        with pytest.raises(LibraryEntryError, match="plugin records") as info:
            m.record("other")
        assert "remove that grant" in info.value.hint


def test_existing_install_with_a_private_folder_in_the_old_place_still_loads(
        dirs: AppDirs, runtime: Runtime, two_plugins: Path) -> None:
    """Before the fix private folders were <plugin>/files/<name>: they hold no records."""
    legacy = two_plugins.parent / "files" / "data"
    legacy.mkdir(parents=True)
    d = json.loads(two_plugins.read_text())
    d["grants"]["dirs"] = [{"host": str(legacy), "guest": "/data", "writable": True}]
    two_plugins.write_text(json.dumps(d))
    with PluginManager(dirs, runtime=runtime) as m:
        assert m.ids() == ["echo", "other"] and m.problems == []
        assert m.call("other", "x").output == "v2: x"


def test_call_on_a_damaged_plugin_says_damaged_not_missing(
        dirs: AppDirs, runtime: Runtime, two_plugins: Path) -> None:
    two_plugins.write_text("null")
    with PluginManager(dirs, runtime=runtime) as m:
        for ask in (m.record, m.status, lambda pid: m.call(pid, "x")):
            with pytest.raises(LibraryEntryError) as info:
                ask("other")
            assert "damaged" in str(info.value) and "not installed" not in str(info.value)
            assert "reinstall" in info.value.hint
        with pytest.raises(E.UsageError, match="not installed"):
            m.record("nothing-here")
    r = wasmbay(dirs.data.parent, "call", "other", "x")
    assert r.returncode == 3
    assert "damaged" in r.stderr and "not installed" not in r.stderr
    assert "Traceback" not in r.stderr


def test_uninstall_removes_a_damaged_plugin_in_process_and_from_the_cli(
        dirs: AppDirs, runtime: Runtime, two_plugins: Path) -> None:
    two_plugins.write_text("null")
    with PluginManager(dirs, runtime=runtime) as m:
        assert [p.plugin_id for p in m.problems] == ["other"]
        m.uninstall("other")
        assert m.problems == [] and m.ids() == ["echo"]
        assert not two_plugins.parent.exists()
        with pytest.raises(E.UsageError, match="not installed"):
            m.record("other")
        assert m.call("echo", "x").success  # the healthy plugin is untouched
    two_plugins.parent.mkdir(parents=True)
    two_plugins.write_text("{}")
    r = wasmbay(dirs.data.parent, "uninstall", "other")
    assert r.returncode == 0, r.stderr
    assert not two_plugins.parent.exists()


def test_reinstall_over_a_damaged_plugin_keeps_the_damaged_state_aside(
        dirs: AppDirs, runtime: Runtime, two_plugins: Path,
        fixture_wasm: Callable[[str], Path]) -> None:
    two_plugins.write_text("[]")
    with PluginManager(dirs, runtime=runtime) as m:
        status = m.install(fixture_wasm("echo_v2"), plugin_id="other")
        assert status.state == "ready" and m.problems == []
    kept = list(two_plugins.parent.glob("state.json.damaged-*"))
    assert len(kept) == 1 and kept[0].read_text() == "[]"
    with PluginManager(dirs, runtime=runtime) as m:
        assert m.ids() == ["echo", "other"] and m.problems == []


def test_install_whose_initialize_hangs_is_not_reported_installed(
        manager: PluginManager, tmp_path: Path) -> None:
    status = manager.install(hanging_plugin(tmp_path / "hang"), grants=["timeout=300ms"])
    assert status.state == "failed" and status.reason  # kept, but not running
    with pytest.raises(E.PluginUnavailableError):
        manager.call("forged", "x")


def test_cli_install_whose_initialize_hangs_exits_nonzero(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = wasmbay(home, "install", str(hanging_plugin(tmp_path / "hang")),
                "--grant", "timeout=300ms")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "installed forged" not in r.stdout
    assert "did not start" in r.stderr and "wasmbay uninstall forged" in r.stderr
    assert "Traceback" not in r.stderr
    listed = json.loads(wasmbay(home, "list", "--json").stdout)  # the files are kept
    assert [p["plugin_id"] for p in listed["plugins"]] == ["forged"]
    r = wasmbay(home, "install", str(hanging_plugin(tmp_path / "hang2", "1.0.1")),
                "--grant", "timeout=300ms", "--json")
    assert r.returncode == 3
    out = json.loads(r.stdout)
    assert out["status"]["state"] == "failed" and out["error"]["message"]


def test_update_whose_initialize_hangs_keeps_the_old_version_serving(
        manager: PluginManager, forge: Forge, tmp_path: Path) -> None:
    manager.install(forge(version="1.0.0"), grants=["timeout=300ms"])
    with pytest.raises(E.InitializeError, match="did not start") as info:
        manager.install(hanging_plugin(tmp_path / "hang", "1.1.0"))
    assert "1.0.0 keeps serving" in str(info.value)
    rec = manager.record("forged")
    assert rec.stable == "1.0.0" and "1.1.0" in rec.versions
    assert manager.call("forged", "x").output == "v2: x"
