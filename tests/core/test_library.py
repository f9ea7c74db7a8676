"""The installed-plugin library: install, update, permissions, integrity, crash safety."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wasmbay.core import errors as E
from wasmbay.core.errors import PackageError, PermissionEscalationError
from wasmbay.core.events import Event
from wasmbay.core.instance import PluginInstance
from wasmbay.core.library import Library
from wasmbay.core.manager import PluginManager
from wasmbay.core.manager_events import PluginFailed, PluginInstalled, PluginReady
from wasmbay.core.package import build_package
from wasmbay.core.paths import AppDirs
from wasmbay.core.runtime import Runtime

from .library_fixtures import echo_variant

Build = Callable[[str], Path]


def home_dirs(root: Path) -> AppDirs:
    return AppDirs(root / "data", root / "config", root / "cache", root / "logs")


@pytest.fixture
def manager(tmp_path: Path, runtime: Runtime) -> Iterator[PluginManager]:
    m = PluginManager(home_dirs(tmp_path / "home"), runtime=runtime)
    yield m
    m.close()


def events_of(m: PluginManager) -> list[Event]:
    seen: list[Event] = []
    m.subscribe(seen.append)
    return seen


def test_install_call_uninstall(manager: PluginManager, fixture_wasm: Build) -> None:
    seen = events_of(manager)
    status = manager.install(fixture_wasm("echo"))
    assert status.plugin_id == "echo" and status.state == "ready"
    assert manager.call("echo", "hi").output == "processed: hi"
    assert any(isinstance(e, PluginInstalled) for e in seen)
    assert any(isinstance(e, PluginReady) for e in seen)
    sha = manager.record("echo").versions["1.0.0"].sha256
    assert manager.runtime.cache.contains(sha)
    manager.uninstall("echo")
    assert manager.ids() == []
    assert not manager.library.plugin_dir("echo").exists()
    # issue 12: its compiled code stays for a reinstall, unreferenced, until pruned
    assert manager.runtime.cache.contains(sha)
    assert {x.used_by for x in manager.cache_listing()  # one entry per tier compiled
            if x.entry.component_sha256 == sha} == {()}
    manager.runtime.cache.evict(sha)  # every tier; a prune is tested on a private cache
    assert not manager.runtime.cache.contains(sha)


def test_nothing_is_granted_unless_the_user_grants_it(manager: PluginManager,
                                                      fixture_wasm: Build) -> None:
    preview = manager.preview(fixture_wasm("echo_v2"))
    assert {c.text for c in preview.requested} == {"fs-read=/data", "network"}
    status = manager.install(fixture_wasm("echo_v2"))
    assert not any(c.startswith(("fs-", "network")) for c in status.capabilities)


def test_update_asking_for_more_shows_the_permission_diff(manager: PluginManager,
                                                          fixture_wasm: Build) -> None:
    manager.install(fixture_wasm("echo"))
    with pytest.raises(PermissionEscalationError) as info:
        manager.install(fixture_wasm("echo_v2"))
    assert set(info.value.escalation) == {"fs-read=/data", "network"}
    assert "+network" in str(info.value)
    assert manager.status("echo").stable == "1.0.0"  # nothing changed
    assert manager.call("echo", "x").output == "processed: x"
    status = manager.install(fixture_wasm("echo_v2"), accept_requested=True)
    assert status.stable == "2.0.0" and "network" in status.capabilities
    assert manager.call("echo", "x").output == "v2: x"


class Spy:
    """Counts, on the real objects, what one install does to its file: opens, compiles,
    instantiations (no mock: every call goes through to wasmtime)."""

    def __init__(self, m: PluginManager, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opens = self.compiles = self.instances = 0
        real_open, real_compile = Path.open, m.runtime.compile
        real_instantiate = PluginInstance._instantiate

        def spy_open(p: Path, *a: Any, **k: Any) -> Any:
            self.opens += p == path
            return real_open(p, *a, **k)

        def spy_compile(*a: Any, **k: Any) -> Any:
            self.compiles += 1
            return real_compile(*a, **k)

        def spy_instantiate(inst: PluginInstance) -> Any:
            self.instances += 1
            return real_instantiate(inst)

        monkeypatch.setattr(Path, "open", spy_open)
        monkeypatch.setattr(m.runtime, "compile", spy_compile)
        monkeypatch.setattr(PluginInstance, "_instantiate", spy_instantiate)

    def counts(self) -> tuple[int, int, int]:
        return self.opens, self.compiles, self.instances


def test_preview_then_install_reads_compiles_and_instantiates_the_file_once(
        manager: PluginManager, fixture_wasm: Build, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The window's flow, preview -> consent -> install of that preview: the file is
    opened to sniff its header and to read it, compiled once and instantiated once (to
    read its metadata); installing adds only the instance that serves."""
    path = tmp_path / "echo.wasm"
    path.write_bytes(fixture_wasm("echo").read_bytes())
    spy = Spy(manager, path, monkeypatch)
    preview = manager.preview(path)
    assert spy.counts() == (2, 1, 1)
    status = manager.install(preview, grants=["env=HOME"])
    assert status.state == "ready" and "env=HOME" in status.capabilities
    assert spy.counts() == (2, 1, 2)  # + the serving instance; nothing read or compiled
    assert manager.call("echo", "hi").output == "processed: hi"


def test_an_update_installed_from_its_preview_is_not_read_or_compiled_again(
        manager: PluginManager, fixture_wasm: Build, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    manager.install(fixture_wasm("echo"))
    path = echo_variant(tmp_path, "1.0.1", "updatedxx")
    spy = Spy(manager, path, monkeypatch)
    preview = manager.preview(path)
    assert preview.is_update and preview.current_version == "1.0.0"
    before = spy.counts()
    status = manager.install(preview)
    assert status.stable == "1.0.1" and status.previous_stable == "1.0.0"
    assert spy.counts()[:2] == before[:2]  # the running plugin swapped to the checked build
    assert manager.call("echo", "x").output == "updatedxx: x"


def test_a_preview_installs_only_under_its_own_id(manager: PluginManager,
                                                  fixture_wasm: Build) -> None:
    preview = manager.preview(fixture_wasm("echo"))
    with pytest.raises(E.UsageError, match="preview the file again"):
        manager.install(preview, plugin_id="other")
    assert manager.ids() == []


def test_tampered_component_is_refused(manager: PluginManager, fixture_wasm: Build) -> None:
    manager.install(fixture_wasm("echo"))
    path = manager.library.component_path("echo", "1.0.0")
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    seen = events_of(manager)
    manager.load("echo")
    failed = [e for e in seen if isinstance(e, PluginFailed)]
    assert failed and failed[0].kind == "integrity"
    assert "changed behind Wasmbay's back" in failed[0].reason
    with pytest.raises(E.PluginUnavailableError):
        manager.call("echo", "x")


def test_a_corrupt_entry_does_not_block_the_others(tmp_path: Path, runtime: Runtime,
                                                   fixture_wasm: Build) -> None:
    dirs = home_dirs(tmp_path / "home")
    with PluginManager(dirs, runtime=runtime) as m:
        m.install(fixture_wasm("echo"))
        m.install(fixture_wasm("echo_v1_versioned"), plugin_id="other")
    state = dirs.data / "plugins" / "other" / "state.json"
    state.write_text("{ not json")
    with PluginManager(dirs, runtime=runtime) as m:
        assert m.ids() == ["echo"]
        assert [p.plugin_id for p in m.problems] == ["other"]
        assert "corrupt" in str(m.problems[0]) and m.problems[0].hint
        assert m.call("echo", "still").output == "processed: still"
    assert state.read_text() == "{ not json"  # nothing deleted


def test_disable_and_enable(manager: PluginManager, fixture_wasm: Build) -> None:
    manager.install(fixture_wasm("echo"))
    manager.disable("echo")
    assert manager.status("echo").state == "disabled"
    with pytest.raises(E.PluginUnavailableError) as info:
        manager.call("echo", "x")
    assert "wasmbay enable echo" in info.value.hint
    manager.enable("echo")
    assert manager.call("echo", "x").success


def test_packages_signed_and_unsigned(manager: PluginManager, fixture_wasm: Build,
                                      tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes_raw()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    wasm = fixture_wasm("echo").read_bytes()
    manifest = {"id": "pkg-echo", "name": "echo", "version": "1.0.0", "description": "d",
                "wit_version": 1, "capabilities": ["env=HOME"]}
    signed = build_package(tmp_path / "echo.zip", manifest, wasm, private_key=private)
    with pytest.raises(PackageError) as untrusted:
        manager.preview(signed)
    assert "trusted key" in str(untrusted.value)
    manager.trusted_keys.mkdir(parents=True, exist_ok=True)
    (manager.trusted_keys / "publisher.pub").write_text(public.hex())
    preview = manager.preview(signed)
    assert preview.signed_by and [c.text for c in preview.requested] == ["env=HOME"]
    assert manager.install(signed, accept_requested=True).capabilities[0] == "env=HOME"
    # a package whose component does not match its manifest's sha256 is refused
    bad = tmp_path / "bad.zip"
    build_package(bad, {**manifest, "id": "bad"}, wasm)
    import zipfile

    with zipfile.ZipFile(bad) as z:
        m = json.loads(z.read("manifest.json"))
    m["sha256"] = "0" * 64
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("manifest.json", json.dumps(m))
        z.writestr("plugin.wasm", wasm)
    with pytest.raises(PackageError, match="does not match"):
        manager.preview(bad)


def test_secrets_never_reach_a_file(manager: PluginManager, sample_wasm: Build,
                                    tmp_path: Path) -> None:
    pytest.importorskip("keyring")
    import keyring
    from keyring.backends import fail

    if isinstance(keyring.get_keyring(), fail.Keyring):
        pytest.skip("no Secret Service: run through scripts/keyring-session.sh")
    manager.install(fixture_path := sample_wasm("data_processor"), start=False)
    assert fixture_path.exists()
    secret = "postgres://admin:correct-horse-battery@db/prod"
    manager.set_config("data-processor", "database_url", secret, secret=True)
    manager.load("data-processor")
    assert manager.call("data-processor", "a,b").success
    for path in (tmp_path / "home").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    manager.uninstall("data-processor")
    assert manager.secrets.get("data-processor", "database_url") is None


CRASH_SCRIPT = """
import sys
from pathlib import Path
from wasmbay.core.manager import PluginManager
m = PluginManager()
for p in sys.argv[1:]:
    try:
        m.install(Path(p), start=False)
    except Exception as e:
        print(e, file=sys.stderr)
m.close()
"""


def test_killing_install_and_update_at_random_points_loses_nothing(
        tmp_path: Path, fixture_wasm: Build) -> None:
    rng = random.Random(1234)
    v1 = fixture_wasm("echo")
    updates = [echo_variant(tmp_path, f"1.0.{i}", "processed") for i in range(1, 6)]
    home = tmp_path / "home"
    env = {**os.environ, "WASMBAY_HOME": str(home)}
    for round_ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, str(v1),
                                 str(updates[round_ % len(updates)])],
                                env=env, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # After every kill the library loads, and everything it lists is whole.
        lib = Library(home / "data" / "plugins")
        records, problems = lib.load()
        assert problems == []
        for rec in records.values():
            for version, vrec in rec.versions.items():
                data = lib.component_path(rec.plugin_id, version).read_bytes()
                import hashlib

                assert hashlib.sha256(data).hexdigest() == vrec.sha256
        leftovers = [p.name for p in (home / "data" / "plugins").iterdir()
                     if p.name.startswith(".")]
        assert leftovers == []
    with PluginManager(home_dirs(home)) as m:
        for pid in m.ids():
            assert m.call(pid, "ok").success


# --- issue 12: the compiled cache across uninstall, integrity without re-hashing ----------


@contextlib.contextmanager
def private_manager(root: Path, tier: str = "optimized") -> Iterator[PluginManager]:
    """A manager on its own runtime and cache, as a new process would have (one tier:
    no background compile runs while a test counts compiles)."""
    dirs = home_dirs(root)
    with Runtime(dirs.ensure(), tier=tier) as rt, PluginManager(dirs, runtime=rt) as m:
        yield m


@pytest.mark.parametrize("tier", ["optimized", "fast"])
def test_reinstall_of_the_same_bytes_compiles_nothing(tmp_path: Path, fixture_wasm: Build,
                                                      tier: str) -> None:
    path = fixture_wasm("echo")
    with private_manager(tmp_path / "home", tier) as m:
        m.install(path)
        assert m.runtime.cache.stats.compiled == 1
        m.uninstall("echo")
        m.install(path)  # same process
        assert m.runtime.cache.stats.compiled == 1
        assert m.call("echo", "x").output == "processed: x"
        m.uninstall("echo")
    with private_manager(tmp_path / "home", tier) as m:  # a later start
        m.install(path)
        assert (m.runtime.cache.stats.compiled, m.runtime.cache.stats.loaded) == (0, 1)
        assert m.call("echo", "y").output == "processed: y"


def test_uninstall_over_the_cap_evicts_only_what_nothing_installed_uses(
        tmp_path: Path, fixture_wasm: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    with private_manager(tmp_path / "home") as m:
        m.install(fixture_wasm("echo"))
        m.install(fixture_wasm("echo_v1_versioned"), plugin_id="other")
        kept = m.record("other").versions[m.record("other").stable].sha256
        gone = m.record("echo").versions["1.0.0"].sha256
        monkeypatch.setenv("WASMBAY_CACHE_MAX", "0")
        m.uninstall("echo")
        assert [x.entry.component_sha256 for x in m.cache_listing()] == [kept]
        assert [x.used_by for x in m.cache_listing()] == [(f"other@{m.record('other').stable}",)]
        assert not m.runtime.cache.contains(gone)
        assert m.call("other", "z").success


def test_prune_refuses_while_a_damaged_entry_hides_its_components(
        tmp_path: Path, fixture_wasm: Build) -> None:
    dirs = home_dirs(tmp_path / "home")
    with private_manager(tmp_path / "home") as m:
        m.install(fixture_wasm("echo"))
    (dirs.data / "plugins" / "echo" / "state.json").write_text("{ not json")
    with private_manager(tmp_path / "home") as m:
        with pytest.raises(E.UsageError, match="damaged entries"):
            m.prune_cache(everything_unreferenced=True)
        assert len(m.cache_listing()) == 1


def test_install_records_the_component_file_identity(manager: PluginManager,
                                                     fixture_wasm: Build) -> None:
    manager.install(fixture_wasm("echo"))
    path = manager.library.component_path("echo", "1.0.0")
    st = os.lstat(path)
    recorded = json.loads((path.parents[2] / "state.json").read_text())
    assert recorded["versions"]["1.0.0"]["file_identity"] == [
        st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def test_an_unchanged_cached_component_is_not_read_at_start(
        tmp_path: Path, fixture_wasm: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    with private_manager(tmp_path / "home") as m:
        m.install(fixture_wasm("echo"))
    with private_manager(tmp_path / "home") as m:
        path = m.library.component_path("echo", "1.0.0")
        spy = Spy(m, path, monkeypatch)
        m.load("echo")
        assert m.status("echo").state == "ready"
        assert spy.counts()[:2] == (0, 0)  # neither opened (read, hashed) nor compiled
        assert m.runtime.cache.stats.loaded == 1
        assert m.call("echo", "x").output == "processed: x"


def test_a_same_size_edit_with_its_mtime_restored_is_refused(
        tmp_path: Path, fixture_wasm: Build) -> None:
    """Size and mtime alone would miss it; the ctime (which nobody can set) does not."""
    with private_manager(tmp_path / "home") as m:
        m.install(fixture_wasm("echo"))
        path = m.library.component_path("echo", "1.0.0")
    before = os.stat(path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    with path.open("r+b") as f:  # in place: same inode, same size
        f.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size, before.st_mtime_ns, before.st_ino)
    with private_manager(tmp_path / "home") as m:
        seen = events_of(m)
        m.load("echo")
        failed = [e for e in seen if isinstance(e, PluginFailed)]
        assert failed and failed[0].kind == "integrity"
        assert "changed behind Wasmbay's back" in failed[0].reason
        with pytest.raises(E.PluginUnavailableError):
            m.call("echo", "x")


def test_a_record_without_identity_is_hashed_once_then_trusted(
        tmp_path: Path, fixture_wasm: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    with private_manager(tmp_path / "home") as m:
        m.install(fixture_wasm("echo"))
        state = m.library.plugin_dir("echo") / "state.json"
        path = m.library.component_path("echo", "1.0.0")
    d = json.loads(state.read_text())
    del d["versions"]["1.0.0"]["file_identity"]  # as written before issue 12
    state.write_text(json.dumps(d))
    with private_manager(tmp_path / "home") as m:
        spy = Spy(m, path, monkeypatch)
        m.load("echo")
        assert spy.counts()[:2] == (1, 1)  # read and hashed once
        assert m.record("echo").versions["1.0.0"].file_identity is not None
    assert json.loads(state.read_text())["versions"]["1.0.0"]["file_identity"]
    with private_manager(tmp_path / "home") as m:
        spy = Spy(m, path, monkeypatch)
        m.load("echo")
        assert spy.counts()[:2] == (0, 0)
        assert m.status("echo").state == "ready"


def test_a_malformed_file_identity_makes_the_entry_damaged(tmp_path: Path,
                                                          fixture_wasm: Build) -> None:
    with private_manager(tmp_path / "home") as m:
        m.install(fixture_wasm("echo"))
        state = m.library.plugin_dir("echo") / "state.json"
    d = json.loads(state.read_text())
    d["versions"]["1.0.0"]["file_identity"] = ["1", 2]
    state.write_text(json.dumps(d))
    with private_manager(tmp_path / "home") as m:
        assert m.ids() == [] and "file_identity" in str(m.problems[0])


def test_verify_rehashes_every_version_and_names_the_damaged(tmp_path: Path,
                                                             fixture_wasm: Build) -> None:
    with private_manager(tmp_path / "home") as m:
        m.install(fixture_wasm("echo"))
        m.install(fixture_wasm("echo_v2"), accept_requested=True)
        m.install(fixture_wasm("echo_v1_versioned"), plugin_id="other")
        assert [(r.plugin_id, r.version, r.ok) for r in m.verify()] == [
            ("echo", "1.0.0", True), ("echo", "2.0.0", True),
            ("other", m.record("other").stable, True)]
        path = m.library.component_path("echo", "1.0.0")  # not the running version
        data = bytearray(path.read_bytes())
        data[10] ^= 1
        path.write_bytes(bytes(data))
        bad = [r for r in m.verify() if not r.ok]
        assert [(r.plugin_id, r.version) for r in bad] == [("echo", "1.0.0")]
        assert "changed behind Wasmbay's back" in (bad[0].problem or "")
