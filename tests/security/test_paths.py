"""Attacks through the paths a plugin names: requested folders and its version string.

Issue 10 points 1-3. A plugin chooses its requested guest paths and its version; the
host must never turn either into a host path it did not build and check itself, and a
new plugin that requests a folder must install with --accept-requested.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wasmbay.core import errors as E
from wasmbay.core.grants import DirGrant, private_folder
from wasmbay.core.library import STATE, Library, is_version
from wasmbay.core.manager import PluginManager
from wasmbay.core.paths import AppDirs

from .conftest import Forge


def wasmbay(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WASMBAY_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "wasmbay", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def files_under(root: Path, skip: Path | None = None) -> set[Path]:
    """Every path under ``root`` (not following links), ``skip`` excluded."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if skip is not None and (here == skip or skip in here.parents):
            continue
        out.update(here / n for n in dirnames + filenames)
    return out


def reaches(grant: DirGrant, target: Path) -> bool:
    """Whether a plugin holding ``grant`` can see ``target`` (the folder contains it)."""
    host, t = os.path.realpath(grant.host), os.path.realpath(target)
    return t == host or t.startswith(host + os.sep)


def folder_grant(m: PluginManager, pid: str, guest: str) -> DirGrant:
    return next(d for d in m.record(pid).grants.dirs if d.guest == guest)


# --- 1. requested folders -------------------------------------------------------------


@pytest.mark.parametrize("guest", ["/..", "/../..", "/a/../../..", "/data/..", "data", "",
                                   "/da\x1bta", "/x\u202e"])
def test_requested_folder_climbing_to_state_json_is_refused(
        manager: PluginManager, forge: Forge, guest: str) -> None:
    manager.install(forge(version="1.0.0"))
    state = manager.library.plugin_dir("forged") / STATE
    before = state.read_bytes()
    hostile = forge(version="1.1.0", capabilities=[("fs-write", guest, "mine")])
    with pytest.raises(E.BadCapabilityRequestError) as info:  # the plugin's error
        manager.install(hostile, accept_requested=True)
    assert not isinstance(info.value, E.UsageError)
    assert info.value.plugin_id == "forged" and info.value.hint  # says what to do
    rec = manager.record("forged")
    assert rec.stable == "1.0.0" and not rec.grants.dirs
    assert state.read_bytes() == before
    assert not any(reaches(d, state) for d in rec.grants.dirs)


def test_requested_folder_attack_from_a_new_plugin_is_refused_before_anything_is_written(
        manager: PluginManager, forge: Forge, dirs: AppDirs) -> None:
    hostile = forge(capabilities=[("fs-read", "/data", "ok"), ("fs-write", "/../..", "x")])
    with pytest.raises(E.BadCapabilityRequestError):
        manager.install(hostile, accept_requested=True)
    assert manager.ids() == []
    assert files_under(dirs.data) <= {dirs.data / "plugins"}  # not even the /data folder


def test_no_private_folder_can_contain_the_library_records(
        manager: PluginManager, forge: Forge) -> None:
    plugin = forge(capabilities=[("fs-write", "/", "root"), ("fs-write", "/data", "d"),
                                 ("fs-read", "/.", "dot")])
    manager.install(plugin, accept_requested=True)
    rec = manager.record("forged")
    plugin_dir = manager.library.plugin_dir("forged")
    files = os.path.realpath(manager.library.files_dir("forged"))
    assert len(rec.grants.dirs) == 3
    for d in rec.grants.dirs:
        assert os.path.dirname(os.path.realpath(d.host)) == files  # one level below files/
        assert not reaches(d, plugin_dir / STATE) and not reaches(d, plugin_dir / "versions")
        assert not reaches(d, manager.library.root)


def test_planted_symlink_in_a_writable_folder_is_not_followed_by_an_update(
        manager: PluginManager, forge: Forge, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "secret.txt").write_text("mine")
    manager.install(forge(version="1.0.0", capabilities=[("fs-write", "/", "all")]),
                    accept_requested=True)
    writable = Path(folder_grant(manager, "forged", "/").host)
    (writable / "evil").symlink_to(victim)  # what the plugin could do through its grant
    update = forge(version="1.1.0", capabilities=[("fs-write", "/", "all"),
                                                  ("fs-write", "/evil", "follow me")])
    manager.install(update, accept_requested=True)
    grant = folder_grant(manager, "forged", "/evil")
    real = os.path.realpath(grant.host)
    assert os.path.dirname(real) == os.path.realpath(manager.library.files_dir("forged"))
    assert not reaches(grant, victim)
    assert sorted(p.name for p in victim.iterdir()) == ["secret.txt"]


def test_symlink_where_a_private_folder_goes_is_refused_not_followed(
        manager: PluginManager, forge: Forge, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    manager.install(forge(version="1.0.0"))
    name = private_folder(tmp_path / "probe", "/evil", create=False).name
    files = manager.library.files_dir("forged")
    files.mkdir(parents=True)
    (files / name).symlink_to(victim)  # planted by anyone who could write in files/
    update = forge(version="1.1.0", capabilities=[("fs-write", "/evil", "x")])
    with pytest.raises(E.BadCapabilityRequestError) as info:
        manager.install(update, accept_requested=True)
    assert "refusing to follow" in str(info.value) and str(files / name) in info.value.hint
    assert manager.record("forged").stable == "1.0.0"
    assert not manager.record("forged").grants.dirs
    assert list(victim.iterdir()) == []


def test_two_guest_paths_that_sanitize_alike_get_different_folders(
        manager: PluginManager, forge: Forge) -> None:
    alike = ["/a/b", "/a_b", "/a b", "/a-b", "/a/b/."]
    plugin = forge(capabilities=[("fs-write", g, "x") for g in alike])
    manager.install(plugin, accept_requested=True)
    hosts = {d.guest: os.path.realpath(d.host) for d in manager.record("forged").grants.dirs}
    assert set(hosts) == set(alike)
    # /a/b and /a/b/. are the same guest folder; every other pair is distinct
    assert hosts["/a/b"] == hosts["/a/b/."]
    distinct = [hosts[g] for g in alike[:4]]
    assert len({h.lower() for h in distinct}) == 4  # even on a case-insensitive disk


def test_user_grant_containing_the_library_records_is_refused(
        manager: PluginManager, forge: Forge, dirs: AppDirs) -> None:
    manager.install(forge())
    for folder in (dirs.data, manager.library.root, manager.library.plugin_dir("forged")):
        with pytest.raises(E.UsageError, match="plugin records"):
            manager.grant("forged", f"fs-write={folder}:/x")
    assert not manager.record("forged").grants.dirs


def test_private_folders_are_removed_with_the_plugin(manager: PluginManager,
                                                     forge: Forge) -> None:
    manager.install(forge(capabilities=[("fs-write", "/data", "d")]), accept_requested=True)
    host = Path(folder_grant(manager, "forged", "/data").host)
    (host / "note.txt").write_text("x")
    manager.uninstall("forged")
    assert not host.exists() and not manager.library.files_dir("forged").exists()


# --- 2. versions are never paths -------------------------------------------------------


BAD_VERSIONS = ["../../../../../x", "ABS", "", ".", "..", "1.0.0/../x", "1.0.0\x00", "1.0",
                "v1.0.0", "1.0.0\n", "01.0.0", "1.0.0+" + "a" * 70]


@pytest.mark.parametrize("version", BAD_VERSIONS)
def test_version_that_is_a_path_is_refused_before_anything_is_written(
        manager: PluginManager, forge: Forge, tmp_path: Path, version: str) -> None:
    version = str(tmp_path / "abs") if version == "ABS" else version
    hostile = forge(version=version, capabilities=[("fs-write", "/data", "d")])
    before = files_under(tmp_path, skip=tmp_path / "forged")
    with pytest.raises(E.BadMetadataError, match="not a semantic version"):
        manager.install(hostile, accept_requested=True)
    assert manager.ids() == []
    assert files_under(tmp_path, skip=tmp_path / "forged") == before  # nothing, anywhere
    assert not (tmp_path / "x").exists() and not (tmp_path / "abs").exists()


def test_version_that_is_a_path_is_refused_on_update_and_canary(
        manager: PluginManager, forge: Forge, tmp_path: Path) -> None:
    manager.install(forge(version="1.0.0"))
    hostile = forge(version="1.0.0/../../../../../../x")
    with pytest.raises(E.BadMetadataError):
        manager.install(hostile)
    with pytest.raises(E.BadMetadataError):
        manager.start_canary("forged", hostile, 50)
    assert list(manager.record("forged").versions) == ["1.0.0"]
    assert not (tmp_path / "x").exists()


def test_cli_install_of_a_path_version_exits_nonzero_with_a_clear_message(
        forge: Forge, tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = wasmbay(home, "install", str(forge(version="../../../../../x")))
    assert r.returncode == 3, r.stderr
    assert "not a semantic version" in r.stderr and "nothing was installed" in r.stderr
    assert "Traceback" not in r.stderr and "installed forged" not in r.stdout
    assert not (tmp_path / "x").exists()


def test_component_path_is_built_only_from_a_version(tmp_path: Path) -> None:
    lib = Library(tmp_path / "data" / "plugins")
    assert lib.component_path("p", "1.2.3-rc.1+b.5").parent.name == "1.2.3-rc.1+b.5"
    for bad in ("../x", "/abs", "", ".", "1.0.0/../../x"):
        with pytest.raises(E.BadMetadataError):
            lib.component_path("p", bad)


@pytest.mark.parametrize("declared", ["1.0.0", "1.0.0+build.7", "2.0.0-rc.1"])
def test_same_version_other_content_gets_a_semver_build_suffix(
        manager: PluginManager, forge: Forge, declared: str) -> None:
    manager.install(forge(version=declared, description="first"))
    status = manager.install(forge(version=declared, description="second"))
    suffixed = status.stable
    assert suffixed != declared and suffixed.startswith(declared)
    assert is_version(suffixed) and suffixed.count("+") == 1
    assert manager.library.component_path("forged", suffixed).is_file()
    assert manager.call("forged", "x").output == "v2: x"


# --- 3. a new plugin that requests a folder --------------------------------------------


def test_new_plugin_requesting_a_folder_installs_with_accept_requested(
        manager: PluginManager, forge: Forge) -> None:
    status = manager.install(forge(capabilities=[("fs-write", "/data", "d")]),
                             accept_requested=True)
    assert status.state == "ready"
    host = Path(folder_grant(manager, "forged", "/data").host)
    assert host.is_dir()
    assert host.parent == manager.library.files_dir("forged").resolve()
    assert manager.call("forged", "x").output == "v2: x"


def test_cli_install_of_a_new_plugin_requesting_a_folder_succeeds(
        forge: Forge, tmp_path: Path) -> None:
    r = wasmbay(tmp_path / "home", "install", str(forge(capabilities=[
        ("fs-write", "/data", "d")])), "--accept-requested")
    assert r.returncode == 0, r.stderr
    assert "installed forged 1.0.0" in r.stdout and "fs-write=" in r.stdout


def test_install_retry_after_a_crash_mid_install_works(
        dirs: AppDirs, runtime: object, forge: Forge) -> None:
    plugin = forge(capabilities=[("fs-write", "/data", "d")])
    plugins = dirs.data / "plugins"
    # What an install cut short can leave: a half-written staging folder, the private
    # folder, and (from older releases) the plugin folder holding only files/.
    (plugins / ".staging-forged-0badf00d" / "versions" / "1.0.0").mkdir(parents=True)
    (plugins / ".staging-forged-0badf00d" / "versions" / "1.0.0" / "component.wasm"
     ).write_bytes(b"\0asm")
    (plugins / "forged" / "files" / "data").mkdir(parents=True)
    (plugins / "forged" / "files" / "data" / "kept.txt").write_text("user data")
    private_folder(dirs.data / "files" / "forged", "/data")
    with PluginManager(dirs, runtime=runtime) as m:  # type: ignore[arg-type]
        assert [p.plugin_id for p in m.problems] == ["forged"]  # shown, not hidden
        status = m.install(plugin, accept_requested=True)
        assert status.state == "ready" and m.problems == []
        assert m.call("forged", "x").output == "v2: x"
    assert not (plugins / ".staging-forged-0badf00d").exists()
    assert (plugins / "forged" / "files" / "data" / "kept.txt").read_text() == "user data"
    with PluginManager(dirs, runtime=runtime) as m:  # type: ignore[arg-type]
        assert m.ids() == ["forged"] and m.problems == []
