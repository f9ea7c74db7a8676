"""Publisher continuity: an update must come from the key that signed the installed plugin.

Every package here is real (core.package.build_package over a forged component, signed
with a real ed25519 key the test trusts). The attacker's goal in each case: get their
code into a plugin the user installed from a trusted publisher, so it inherits that
plugin's grants and configuration, or bring back an older, vulnerable build.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from wasmbay.core import errors as E
from wasmbay.core.errors import PackageError
from wasmbay.core.library import STATE, PluginRecord
from wasmbay.core.manager import PluginManager
from wasmbay.core.package import build_package
from wasmbay.core.paths import AppDirs
from wasmbay.core.publisher import Downgrade, PublisherChange, compare_versions

from .conftest import Forge

PID = "victim"


@dataclass(frozen=True)
class Key:
    private: bytes
    fingerprint: str


@pytest.fixture
def trust(dirs: AppDirs) -> Callable[[str], Key]:
    """``trust("alice")`` -> a fresh ed25519 key, its public half in trusted-keys/."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    def make(name: str) -> Key:
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        keys = dirs.config / "trusted-keys"
        keys.mkdir(parents=True, exist_ok=True)
        (keys / f"{name}.pub").write_text(public.hex())
        return Key(key.private_bytes_raw(), hashlib.sha256(public).hexdigest()[:16])

    return make


@pytest.fixture
def package(forge: Forge, tmp_path: Path) -> Callable[..., Path]:
    """``package("2.0.0", key)`` -> a plugin package of id ``victim`` (unsigned if no key)."""

    def make(version: str, key: Key | None = None, *, pid: str = PID) -> Path:
        wasm = forge(name=pid, version=version, description=f"{pid} {version}").read_bytes()
        manifest = {"id": pid, "name": pid, "version": version, "description": "d",
                    "wit_version": 2, "capabilities": ["env=HOME"]}
        who = key.fingerprint if key else "unsigned"
        out = tmp_path / "packages" / f"{pid}-{version}-{who}.zip"
        out.parent.mkdir(parents=True, exist_ok=True)
        return build_package(out, manifest, wasm, private_key=key.private if key else None)

    return make


def state_bytes(manager: PluginManager) -> bytes:
    return (manager.library.plugin_dir(PID) / STATE).read_bytes()


def installed_signed(manager: PluginManager, package: Callable[..., Path], key: Key,
                     version: str = "1.0.0") -> bytes:
    """Install the victim from ``key`` with a grant and a setting; its state, as saved."""
    status = manager.install(package(version, key), grants=["env=HOME"])
    assert status.publisher == key.fingerprint
    manager.set_config(PID, "endpoint", "https://example.org")
    return state_bytes(manager)


def assert_untouched(manager: PluginManager, before: bytes, versions: set[str]) -> None:
    """Nothing the user would notice changed: state byte for byte, versions on disk."""
    assert state_bytes(manager) == before
    rec = manager.record(PID)
    assert set(rec.versions) == versions
    on_disk = {p.name for p in (manager.library.plugin_dir(PID) / "versions").iterdir()}
    assert on_disk == versions
    assert "env=HOME" in rec.grants.capabilities()
    assert rec.config == {"endpoint": "https://example.org"}


# --- updates replacing a signed plugin -------------------------------------------------


def test_unsigned_package_replacing_a_signed_plugin_is_refused(
        manager: PluginManager, package: Callable[..., Path], trust: Callable[[str], Key]
) -> None:
    alice = trust("alice")
    before = installed_signed(manager, package, alice)
    with pytest.raises(E.PublisherChangedError) as refused:
        manager.install(package("2.0.0"))
    err = refused.value
    assert err.plugin_id == PID and "--accept-publisher-change" in err.hint
    assert f"signed by {alice.fingerprint} → unsigned" in str(err)
    assert err.changes == (PublisherChange(alice.fingerprint, None),)
    assert_untouched(manager, before, {"1.0.0"})
    assert manager.status(PID).stable == "1.0.0"


def test_bare_component_replacing_a_signed_plugin_is_refused(
        manager: PluginManager, package: Callable[..., Path], trust: Callable[[str], Key],
        forge: Forge) -> None:
    before = installed_signed(manager, package, trust("alice"))
    bare = forge(name=PID, version="2.0.0")
    with pytest.raises(E.PublisherChangedError):
        manager.install(bare, plugin_id=PID, accept_requested=True)
    assert_untouched(manager, before, {"1.0.0"})


def test_signature_stripped_from_the_publishers_package_is_refused(
        manager: PluginManager, package: Callable[..., Path], trust: Callable[[str], Key],
        tmp_path: Path) -> None:
    """The attacker takes the publisher's own v2 package and drops manifest.sig."""
    alice = trust("alice")
    before = installed_signed(manager, package, alice)
    genuine = package("2.0.0", alice)
    stripped = tmp_path / "stripped.zip"
    with zipfile.ZipFile(genuine) as src, zipfile.ZipFile(stripped, "w") as dst:
        for name in src.namelist():
            if name != "manifest.sig":
                dst.writestr(name, src.read(name))
    with pytest.raises(E.PublisherChangedError):
        manager.install(stripped)
    assert_untouched(manager, before, {"1.0.0"})


def test_package_signed_by_another_trusted_key_replacing_a_plugin_is_refused(
        manager: PluginManager, package: Callable[..., Path], trust: Callable[[str], Key]
) -> None:
    alice, mallory = trust("alice"), trust("mallory")
    before = installed_signed(manager, package, alice)
    with pytest.raises(E.PublisherChangedError) as refused:
        manager.install(package("2.0.0", mallory))
    assert (f"signed by {alice.fingerprint} → signed by {mallory.fingerprint}"
            in str(refused.value))
    assert_untouched(manager, before, {"1.0.0"})


def test_downgrade_signed_by_the_same_key_is_refused(
        manager: PluginManager, package: Callable[..., Path], trust: Callable[[str], Key]
) -> None:
    """An old build the publisher once signed (say, with a since-fixed hole) comes back."""
    alice = trust("alice")
    before = installed_signed(manager, package, alice, version="2.0.0")
    with pytest.raises(E.DowngradeError) as refused:
        manager.install(package("1.9.9", alice))
    assert "downgrade: 2.0.0 → 1.9.9" in str(refused.value)
    assert "--allow-downgrade" in refused.value.hint
    assert_untouched(manager, before, {"2.0.0"})


def test_unsigned_downgrade_of_an_unsigned_plugin_is_refused(
        manager: PluginManager, forge: Forge) -> None:
    """Downgrades need consent whoever signed: 1.10.0 → 1.9.0 is not an upgrade."""
    manager.install(forge(name=PID, version="1.10.0"), plugin_id=PID)
    with pytest.raises(E.DowngradeError, match=r"1\.10\.0 → 1\.9\.0"):
        manager.install(forge(name=PID, version="1.9.0"), plugin_id=PID)
    assert manager.record(PID).stable == "1.10.0"


def test_accepting_the_publisher_change_does_not_accept_a_downgrade(
        manager: PluginManager, package: Callable[..., Path], trust: Callable[[str], Key]
) -> None:
    alice, mallory = trust("alice"), trust("mallory")
    before = installed_signed(manager, package, alice, version="2.0.0")
    with pytest.raises(E.DowngradeError) as refused:
        manager.install(package("1.0.0", mallory), accept_publisher_change=True)
    assert refused.value.changes == (Downgrade("2.0.0", "1.0.0"),)
    assert_untouched(manager, before, {"2.0.0"})


# --- canaries ----------------------------------------------------------------------------


def test_unsigned_canary_of_a_signed_plugin_is_refused(
        manager: PluginManager, package: Callable[..., Path], trust: Callable[[str], Key]
) -> None:
    before = installed_signed(manager, package, trust("alice"))
    with pytest.raises(E.PublisherChangedError, match=r"canary 2\.0\.0 is refused"):
        manager.start_canary(PID, package("2.0.0"), 50)
    assert manager.record(PID).canary is None
    assert_untouched(manager, before, {"1.0.0"})


def test_canary_signed_by_another_trusted_key_is_refused(
        manager: PluginManager, package: Callable[..., Path], trust: Callable[[str], Key]
) -> None:
    alice, mallory = trust("alice"), trust("mallory")
    before = installed_signed(manager, package, alice)
    with pytest.raises(E.PublisherChangedError):
        manager.start_canary(PID, package("2.0.0", mallory), 100)
    assert manager.record(PID).canary is None
    assert_untouched(manager, before, {"1.0.0"})


def test_canary_downgrade_is_refused(
        manager: PluginManager, package: Callable[..., Path], trust: Callable[[str], Key]
) -> None:
    alice = trust("alice")
    before = installed_signed(manager, package, alice, version="2.0.0")
    with pytest.raises(E.DowngradeError):
        manager.start_canary(PID, package("2.0.0-rc.1", alice), 100)
    assert_untouched(manager, before, {"2.0.0"})


# --- explicit consent --------------------------------------------------------------------


def test_publisher_change_accepted_explicitly_records_the_new_signer(
        manager: PluginManager, package: Callable[..., Path], trust: Callable[[str], Key]
) -> None:
    alice, bob = trust("alice"), trust("bob")
    installed_signed(manager, package, alice)
    preview = manager.preview(package("2.0.0", bob))
    assert preview.trust_changes == (PublisherChange(alice.fingerprint, bob.fingerprint),)
    assert preview.current_signed_by == alice.fingerprint
    status = manager.install(package("2.0.0", bob), accept_publisher_change=True)
    rec = manager.record(PID)
    assert status.stable == "2.0.0" and status.publisher == bob.fingerprint
    assert rec.versions["2.0.0"].signed_by == bob.fingerprint
    assert rec.versions["1.0.0"].signed_by == alice.fingerprint
    assert "env=HOME" in rec.grants.capabilities()  # kept, as the user accepted
    # From now on bob is the publisher: a later update from alice is the change.
    with pytest.raises(E.PublisherChangedError):
        manager.install(package("3.0.0", alice))
    status = manager.install(package("3.0.0"), accept_publisher_change=True)
    assert status.publisher is None and manager.record(PID).versions["3.0.0"].signed_by is None


def test_downgrade_accepted_explicitly_installs_the_older_version(
        manager: PluginManager, package: Callable[..., Path], trust: Callable[[str], Key]
) -> None:
    alice = trust("alice")
    installed_signed(manager, package, alice, version="2.0.0")
    status = manager.install(package("1.0.0", alice), allow_downgrade=True)
    assert status.stable == "1.0.0" and status.previous_stable == "2.0.0"
    assert manager.record(PID).versions["1.0.0"].signed_by == alice.fingerprint


def test_canary_from_a_new_publisher_accepted_explicitly_becomes_the_publisher_on_promote(
        manager: PluginManager, package: Callable[..., Path], trust: Callable[[str], Key]
) -> None:
    alice, bob = trust("alice"), trust("bob")
    installed_signed(manager, package, alice)
    version = manager.start_canary(PID, package("2.0.0", bob), 100,
                                   accept_publisher_change=True)
    rec = manager.record(PID)
    assert rec.canary == version == "2.0.0"
    assert rec.versions["2.0.0"].signed_by == bob.fingerprint
    assert manager.status(PID).publisher == alice.fingerprint  # the stable one's signer
    manager.promote(PID)
    assert manager.status(PID).publisher == bob.fingerprint


def test_same_key_upgrade_needs_no_flag(
        manager: PluginManager, package: Callable[..., Path], trust: Callable[[str], Key]
) -> None:
    alice = trust("alice")
    installed_signed(manager, package, alice)
    assert manager.preview(package("1.1.0", alice)).trust_changes == ()
    status = manager.install(package("1.1.0", alice))
    assert status.stable == "1.1.0" and status.publisher == alice.fingerprint
    assert manager.record(PID).versions["1.1.0"].signed_by == alice.fingerprint
    manager.start_canary(PID, package("1.2.0", alice), 10)
    assert manager.record(PID).canary == "1.2.0"


def test_signing_a_previously_unsigned_plugin_needs_no_flag(
        manager: PluginManager, package: Callable[..., Path], trust: Callable[[str], Key]
) -> None:
    alice = trust("alice")
    manager.install(package("1.0.0"), grants=["env=HOME"])
    status = manager.install(package("1.1.0", alice))
    assert status.publisher == alice.fingerprint


# --- the signature itself ----------------------------------------------------------------


def test_manifest_edited_after_signing_is_refused(
        manager: PluginManager, package: Callable[..., Path], trust: Callable[[str], Key],
        tmp_path: Path) -> None:
    """Re-targeting a signed package at another plugin id must break its signature."""
    genuine = package("1.0.0", trust("alice"), pid="weather")
    edited = tmp_path / "edited.zip"
    with zipfile.ZipFile(genuine) as src, zipfile.ZipFile(edited, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "manifest.json":
                manifest = json.loads(data)
                manifest["id"] = PID
                data = json.dumps(manifest, indent=2, sort_keys=True).encode()
            dst.writestr(name, data)
    with pytest.raises(PackageError, match="signature does not verify"):
        manager.install(edited)
    assert not manager.library.exists(PID)


def test_state_written_before_signers_were_recorded_still_loads(
        manager: PluginManager, package: Callable[..., Path]) -> None:
    manager.install(package("1.0.0"), start=False)
    path = manager.library.plugin_dir(PID) / STATE
    d = json.loads(path.read_bytes())
    for v in d["versions"].values():
        del v["signed_by"]
    path.write_text(json.dumps(d))
    rec = PluginRecord.from_json(path.read_bytes())
    assert rec.versions["1.0.0"].signed_by is None


def test_semver_precedence_orders_versions_as_the_spec_does() -> None:
    """A lexical or float compare would let an attacker pass a downgrade as an upgrade."""
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
               "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.9.0", "1.10.0",
               "2.0.0"]
    for lower, higher in itertools.pairwise(ordered):
        assert compare_versions(lower, higher) == -1, (lower, higher)
        assert compare_versions(higher, lower) == 1, (higher, lower)
    assert compare_versions("1.0.0+build.1", "1.0.0+zzz") == 0  # build metadata ignored
    assert compare_versions("2.0.0+ffffffff", "2.0.0") == 0
    assert compare_versions("not-a-version", "1.0.0") is None


# --- the terminal ------------------------------------------------------------------------


def wasmbay(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WASMBAY_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "wasmbay", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_cli_install_from_another_publisher_shows_the_change_and_exits_non_zero(
        dirs: AppDirs, package: Callable[..., Path], trust: Callable[[str], Key]) -> None:
    home = dirs.data.parent  # the dirs fixture is WASMBAY_HOME's layout
    alice = trust("alice")
    assert wasmbay(home, "install", str(package("1.0.0", alice)), "--grant", "env=HOME"
                   ).returncode == 0
    update = str(package("2.0.0"))

    r = wasmbay(home, "install", update)
    assert r.returncode == 2, r.stderr
    shown = f"publisher changes: signed by {alice.fingerprint} → unsigned"
    assert f"! {shown}" in r.stdout
    assert shown in r.stderr and "--accept-publisher-change" in r.stderr
    assert "Traceback" not in r.stderr

    r = wasmbay(home, "install", update, "--json")
    assert r.returncode == 2
    error = json.loads(r.stdout)["error"]
    assert error["kind"] == "publisher-changed" and error["plugin_id"] == PID
    assert error["trust_changes"] == [{"kind": "publisher-change", "from": alice.fingerprint,
                                       "to": None, "text": shown}]
    info = json.loads(wasmbay(home, "info", PID, "--json").stdout)
    assert info["stable"] == "1.0.0" and info["publisher"] == alice.fingerprint

    r = wasmbay(home, "canary", PID, update, "--percent", "10")
    assert r.returncode == 2 and shown in r.stderr

    r = wasmbay(home, "install", update, "--accept-publisher-change", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["preview"]["trust_changes"][0]["kind"] == "publisher-change"
    assert out["status"]["stable"] == "2.0.0" and out["status"]["publisher"] is None
    assert "publisher: unsigned" in wasmbay(home, "info", PID).stdout


def test_cli_downgrade_needs_allow_downgrade(
        dirs: AppDirs, package: Callable[..., Path], trust: Callable[[str], Key]) -> None:
    home = dirs.data.parent
    alice = trust("alice")
    assert wasmbay(home, "install", str(package("2.0.0", alice)), "--grant", "env=HOME"
                   ).returncode == 0
    older = str(package("1.0.0", alice))
    r = wasmbay(home, "install", older)
    assert r.returncode == 2 and "downgrade: 2.0.0 → 1.0.0" in r.stderr
    assert "--allow-downgrade" in r.stderr
    r = wasmbay(home, "install", older, "--allow-downgrade")
    assert r.returncode == 0, r.stderr
    assert "! downgrade: 2.0.0 → 1.0.0 (accepted)" in r.stdout
