"""The consent dialog over the real manager: a change of publisher is shown and must be
confirmed explicitly before Install (or Start canary) does anything."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.security.forge import forge_plugin


@pytest.fixture
def window(real_window: Any) -> Any:
    return real_window


def victim_package(tmp_path: Path, version: str, private_key: bytes | None,
                   capabilities: tuple[str, ...] = ("env=HOME",)) -> Path:
    from wasmbay.core.package import build_package

    wasm = forge_plugin(tmp_path / "forged", name="victim", version=version).read_bytes()
    manifest = {"id": "victim", "name": "victim", "version": version, "description": "d",
                "wit_version": 2, "capabilities": list(capabilities)}
    out = tmp_path / f"victim-{version}-{'signed' if private_key else 'unsigned'}.zip"
    return build_package(out, manifest, wasm, private_key=private_key)


def trusted_key(manager: Any, name: str) -> tuple[bytes, str]:
    """A fresh ed25519 key the manager trusts: (private bytes, fingerprint)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    manager.trusted_keys.mkdir(parents=True, exist_ok=True)
    (manager.trusted_keys / f"{name}.pub").write_text(public.hex())
    return key.private_bytes_raw(), hashlib.sha256(public).hexdigest()[:16]


def open_canary_consent(window: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch,
                        path: Path, percent: int) -> Any:
    """Pick ``path`` with Start canary… (Ctrl+Shift+C) on victim; the consent dialog."""
    from wasmbay.gui import dialogs

    qtbot.waitUntil(lambda: window.select("victim"), timeout=30_000)
    monkeypatch.setattr(dialogs, "choose_plugin_file", lambda *a: str(path))
    window.versions.percent.setValue(percent)
    with qtbot.waitSignal(window.consentShown, timeout=30_000) as shown:
        window.act_canary.trigger()
    dialog = shown.args[0]
    assert dialog.accept_button.text() == "Start canary"
    return dialog


def start_canary_from(dialog: Any, window: Any, qtbot: Any) -> None:
    with qtbot.waitSignal(window.engine.done, timeout=30_000,
                          check_params_cb=lambda cmd, *_: cmd == "start_canary"):
        dialog.accept_button.click()


def test_canary_from_a_new_publisher_needs_explicit_confirmation_in_the_dialog(
        window: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QDialog, QLabel

    manager = window.backends[0].manager
    alice, alice_fp = trusted_key(manager, "alice")
    bob, bob_fp = trusted_key(manager, "bob")
    manager.install(victim_package(tmp_path, "1.0.0", alice), grants=["env=HOME"])

    dialog = open_canary_consent(window, qtbot, monkeypatch,
                                 victim_package(tmp_path, "2.0.0", bob), 25)
    assert dialog.publisher_label.text().startswith(f"Signed by {bob_fp}")
    change = dialog.findChild(QLabel, "trust-change:publisher-change")
    assert change is not None and change.isVisible()
    assert f"signed by {alice_fp} → signed by {bob_fp}" in change.text()
    confirm = dialog.trust_checks["publisher-change"]
    assert not confirm.isChecked() and not dialog.accept_button.isEnabled()
    dialog.accept()  # not even a programmatic accept gets past the unticked box
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    assert manager.record("victim").canary is None

    confirm.click()
    assert dialog.accept_button.isEnabled()
    start_canary_from(dialog, window, qtbot)
    rec = manager.record("victim")
    assert (rec.stable, rec.canary, rec.canary_percent) == ("1.0.0", "2.0.0", 25)
    assert rec.versions["2.0.0"].signed_by == bob_fp
    assert rec.versions["1.0.0"].signed_by == alice_fp
    qtbot.waitUntil(lambda: window.versions.canary.labels["version"].text() == "2.0.0",
                    timeout=30_000)


def test_canary_asking_for_a_new_capability_shows_the_diff_and_starts_once_ticked(
        window: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = window.backends[0].manager
    manager.install(victim_package(tmp_path, "1.0.0", None), grants=["env=HOME"])
    assert not manager.record("victim").grants.network

    dialog = open_canary_consent(
        window, qtbot, monkeypatch,
        victim_package(tmp_path, "1.1.0", None, ("env=HOME", "network")), 40)
    assert dialog.trust_checks == {}  # same publisher (unsigned), newer version
    assert dialog.request_checkbox("env=HOME") is None  # kept: granted already
    network = dialog.request_checkbox("network")
    assert network is not None and not network.isChecked()
    network.click()
    start_canary_from(dialog, window, qtbot)
    rec = manager.record("victim")
    assert (rec.stable, rec.canary, rec.canary_percent) == ("1.0.0", "1.1.0", 40)
    assert rec.grants.network and rec.grants.env == ("HOME",)


def test_cancelled_canary_consent_starts_nothing_and_grants_nothing(
        window: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = window.backends[0].manager
    alice, _ = trusted_key(manager, "alice")
    manager.install(victim_package(tmp_path, "1.0.0", alice), grants=["env=HOME"])
    before = manager.record("victim")

    dialog = open_canary_consent(
        window, qtbot, monkeypatch,
        victim_package(tmp_path, "2.0.0", None, ("env=HOME", "network")), 50)
    dialog.trust_checks["publisher-change"].click()
    box = dialog.request_checkbox("network")
    assert box is not None
    box.click()
    commands: list[str] = []
    window.engine.done.connect(lambda cmd, *_: commands.append(cmd))
    dialog.reject()
    with qtbot.waitSignal(window.engine.done, timeout=30_000):  # the engine runs in order
        window.engine.run(lambda b: b.snapshots)
    assert commands == ["snapshots"]
    assert manager.record("victim") == before
    assert manager.status("victim").canary is None


def test_update_from_a_new_publisher_needs_explicit_confirmation_in_the_dialog(
        window: Any, qtbot: Any, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from PySide6.QtWidgets import QDialog, QLabel

    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    fingerprint = hashlib.sha256(public).hexdigest()[:16]
    manager = window.backends[0].manager
    manager.trusted_keys.mkdir(parents=True, exist_ok=True)
    (manager.trusted_keys / "alice.pub").write_text(public.hex())
    manager.install(victim_package(tmp_path, "1.0.0", key.private_bytes_raw()),
                    grants=["env=HOME"])

    with qtbot.waitSignal(window.consentShown, timeout=30_000) as shown:
        window.install_file(str(victim_package(tmp_path, "2.0.0", None)))
    dialog = shown.args[0]
    assert dialog.publisher_label.text().startswith("Unsigned")
    change = dialog.findChild(QLabel, "trust-change:publisher-change")
    assert change is not None and change.isVisible()
    assert f"signed by {fingerprint} → unsigned" in change.text()
    confirm = dialog.trust_checks["publisher-change"]
    assert not confirm.isChecked() and not dialog.accept_button.isEnabled()

    dialog.accept()  # not even a programmatic accept gets past the unticked box
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    assert manager.record("victim").stable == "1.0.0"

    confirm.click()
    assert dialog.accept_button.isEnabled()
    with qtbot.waitSignal(window.engine.done, timeout=30_000,
                          check_params_cb=lambda cmd, *_: cmd == "install"):
        dialog.accept_button.click()
    rec = manager.record("victim")
    assert rec.stable == "2.0.0" and rec.versions["2.0.0"].signed_by is None
    assert rec.versions["1.0.0"].signed_by == fingerprint


def test_dialog_shows_the_publisher_and_no_confirmation_for_a_new_plugin(
        window: Any, qtbot: Any, tmp_path: Path) -> None:
    with qtbot.waitSignal(window.consentShown, timeout=30_000) as shown:
        window.install_file(str(victim_package(tmp_path, "1.0.0", None)))
    dialog = shown.args[0]
    assert dialog.publisher_label.text().startswith("Unsigned")
    assert dialog.trust_checks == {} and dialog.accept_button.isEnabled()
    dialog.reject()
