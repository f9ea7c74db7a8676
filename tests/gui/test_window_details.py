"""Issue 13 points 5, 6 and 10: the Details tab, failures with a button to their fix,
folder grants that never replace each other silently, and secrets the keyring lost.

Layout and wiring run on the in-memory backend; the fields, fixes and the keyring are
also checked on the real manager (real plugins, a real Secret Service)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from wasmbay.core.contract import CapabilityRequest
from wasmbay.core.errors import CONFIGURE, GRANT_FOLDER, Fix
from wasmbay.core.grants import DirGrant, Grants
from wasmbay.gui.snapshots import FAILED, VersionDetail

Build = Callable[[str], Path]
INSTALLED = 1_714_564_800.0  # 2024-05-01, a fixed install date


@pytest.fixture
def window(fake_window: Any) -> Any:
    return fake_window


def set_plugin(window: Any, qtbot: Any, pid: str, **changes: Any) -> None:
    """Change the fake's plugin and wait until the window shows the new snapshot."""
    window.backend.plugins[pid] = replace(window.backend.plugins[pid], **changes)
    qtbot.waitUntil(lambda: all(getattr(window.model.snapshot(pid), k) == v
                                for k, v in changes.items()), timeout=10_000)


def open_tab(window: Any, qtbot: Any, pane: Any) -> Any:
    """Click the pane's tab, as a user would."""
    bar = window.tabs.tabBar()
    index = window.tabs.indexOf(pane)
    assert index >= 0
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert window.tabs.currentWidget() is pane
    return pane


def open_details(window: Any, qtbot: Any, pid: str) -> Any:
    """Select the plugin and click the Details tab."""
    assert window.select(pid)
    index = window.tabs.indexOf(window.details)
    assert window.tabs.tabText(index).replace("&", "") == "Details"
    return open_tab(window, qtbot, window.details)


def field(details: Any, name: str) -> str:
    return str(details.fields[name].text())


def test_details_show_what_the_plugin_is_asks_for_and_reads(window: Any, qtbot: Any) -> None:
    set_plugin(
        window, qtbot, "alpha", description="Summarises comma-separated records",
        wit_version=2, size=18_367_386, publisher="ed25519:4f2a9c", tier="optimized",
        requested=(CapabilityRequest("fs-read", "/data", "to read the files you count"),
                   CapabilityRequest("network", "", "to fetch a word list")),
        grants=Grants(network=True), config=(("greeting", "hi"),),
        secret_keys=("database_url",), config_read=(("database_url", True), ("mode", False)),
        version_details=(VersionDetail("1.1.0", INSTALLED + 86_400, 18_367_386,
                                       "ed25519:4f2a9c", "canary"),
                         VersionDetail("1.0.0", INSTALLED, 1000, None, "stable")),
        data_dir="/home/me/.local/share/wasmbay/files/alpha")
    details = open_details(window, qtbot, "alpha")
    qtbot.waitUntil(lambda: "records" in field(details, "description"))
    assert field(details, "description") == "Summarises comma-separated records"
    assert field(details, "contract") == "WIT contract v2"
    assert field(details, "size") == "17.5 MiB (18,367,386 bytes)"
    assert field(details, "publisher") == "signed by the trusted key ed25519:4f2a9c"
    assert field(details, "tier") == "optimized code"
    assert field(details, "capabilities").splitlines() == [
        "fs-read /data (not granted) — “to read the files you count”",
        "network (granted) — “to fetch a word list”"]
    assert field(details, "config").splitlines() == [
        "database_url: secret, in the OS keyring, read by the plugin",
        "greeting: set",
        "mode: not set, read by the plugin"]
    day = time.strftime("%Y-%m-%d %H:%M", time.localtime(INSTALLED))
    next_day = time.strftime("%Y-%m-%d %H:%M", time.localtime(INSTALLED + 86_400))
    assert field(details, "versions").splitlines() == [
        f"1.1.0 (canary): installed {next_day}, 17.5 MiB (18,367,386 bytes), "
        "signed by ed25519:4f2a9c",
        f"1.0.0 (stable): installed {day}, 1,000 bytes, unsigned"]
    assert field(details, "data") == "/home/me/.local/share/wasmbay/files/alpha"
    for label in details.fields.values():  # copyable, wrapped, never markup
        assert label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
        assert label.wordWrap() and label.textFormat() == Qt.TextFormat.PlainText
    # an ungranted requested folder is offered as a fix even without a failure
    assert details.fix_button("Grant folder…") is not None

    window.select("beta")  # another plugin: nothing of alpha's stays
    qtbot.waitUntil(lambda: "beta" in details.title.text().lower())
    assert field(details, "publisher") == "unsigned: no publisher vouches for it"
    assert field(details, "capabilities").startswith("nothing")
    assert not details.fix_buttons


def test_hostile_plugin_text_is_shown_escaped_never_as_markup(window: Any, qtbot: Any) -> None:
    from PySide6.QtWidgets import QLabel

    link = '<a href="https://evil.example">update now</a>'
    set_plugin(window, qtbot, "alpha", name="<b>Alpha</b>\u202e",
               description=f"{link} \x1b[31mred\x1b[0m \u202edesrever\u2066 <img src=x>",
               requested=(CapabilityRequest("network", "", f"{link}\x1b]8;;x\x07"),),
               state=FAILED, reason="plugin 'alpha': <i>boom</i>\x1b[2J",
               reason_detail="<i>boom</i>\x1b[2J")
    details = open_details(window, qtbot, "alpha")
    qtbot.waitUntil(lambda: "update now" in field(details, "description"))
    description = field(details, "description")
    assert link in description and "<img src=x>" in description  # shown, literally
    assert "\\x1b[31m" in description and "\\u202e" in description and "\\u2066" in description
    assert "\x1b" not in description and "\u202e" not in description
    assert "\\x1b]8;;x\\x07" in field(details, "capabilities")
    assert details.title.text().startswith("<b>Alpha</b>\\u202e")
    assert details.reason.text() == "It failed: <i>boom</i>\\x1b[2J"
    for label in details.findChildren(QLabel):
        if "<" in label.text():  # every label quoting plugin text is plain text
            assert label.textFormat() == Qt.TextFormat.PlainText, label.objectName()
            assert not label.openExternalLinks()


def test_missing_config_failure_button_lands_in_configuration_with_the_key(
        window: Any, qtbot: Any) -> None:
    set_plugin(window, qtbot, "alpha", state=FAILED,
               reason="plugin 'alpha': initialize failed: database_url not configured "
                      "(set it with `wasmbay config ID database_url VALUE` and reload)",
               reason_detail="initialize failed: database_url not configured",
               fix=Fix(CONFIGURE, "database_url"))
    details = open_details(window, qtbot, "alpha")
    qtbot.waitUntil(lambda: details.fix_button("Configure database_url…") is not None)
    # the window's words, the whole reason, and no CLI command
    assert details.reason.text() == "It failed: initialize failed: database_url not configured"
    assert "wasmbay" not in details.reason.text()
    assert "database_url: not set" in field(details, "config")
    button = details.fix_button("Configure database_url…")
    assert button.isVisible()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    config = window.config
    assert window.tabs.currentWidget() is config
    assert config.key.text() == "database_url"
    assert not config.secret.isChecked()
    qtbot.waitUntil(lambda: window.focusWidget() is config.value)
    qtbot.keyClicks(window.focusWidget(), "sqlite:///tmp/x.db")  # typed where the focus is
    qtbot.keyClick(window.focusWidget(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: ("database_url", "sqlite:///tmp/x.db")
                    in window.backend.plugins["alpha"].config)


def test_denied_folder_failure_button_opens_the_grant_flow_for_that_path(
        window: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbay.gui import dialogs

    asked: list[str] = []

    def choose(parent: Any, title: str) -> str:
        asked.append(title)
        return str(tmp_path)

    monkeypatch.setattr(dialogs, "choose_directory", choose)
    set_plugin(window, qtbot, "alpha", state=FAILED,
               reason="plugin 'alpha': initialize failed: cannot read /out "
                      "(grant it with `wasmbay grant ID fs-write=HOSTDIR:/out`)",
               reason_detail="initialize failed: cannot read /out",
               fix=Fix(GRANT_FOLDER, "/out", "write"))
    details = open_details(window, qtbot, "alpha")
    qtbot.waitUntil(lambda: details.fix_button("Grant folder…") is not None)
    assert "wasmbay" not in details.reason.text()
    with qtbot.waitSignal(window.permissions.grantsRequested, timeout=10_000) as sent:
        qtbot.mouseClick(details.fix_button("Grant folder…"), Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.permissions
    assert len(asked) == 1 and "/out" in asked[0]  # the folder chooser, for that path
    (d,) = sent.args[1].dirs
    assert (d.host, d.guest, d.writable) == (str(tmp_path), "/out", True)
    qtbot.waitUntil(lambda: bool(window.backend.plugins["alpha"].grants.dirs))


def test_a_failed_call_shows_its_error_and_the_folder_fix(window: Any, qtbot: Any) -> None:
    set_plugin(window, qtbot, "alpha", call_failure="cannot read /data: no such directory",
               call_fix=Fix(GRANT_FOLDER, "/data", "read"))
    details = open_details(window, qtbot, "alpha")
    qtbot.waitUntil(lambda: details.fix_button("Grant folder…") is not None)
    assert details.reason.text() == "Its last call failed: cannot read /data: no such directory"
    set_plugin(window, qtbot, "alpha", call_failure="", call_fix=None)  # a call succeeded
    qtbot.waitUntil(lambda: not details.fix_buttons and details.problem.isHidden())


def test_a_second_folder_at_the_same_guest_path_is_refused_and_the_first_stays(
        window: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbay.gui import dialogs

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    grants = Grants(dirs=(DirGrant(str(first), "/data", False),))
    set_plugin(window, qtbot, "alpha", grants=grants)
    assert window.select("alpha")
    pane = window.permissions
    qtbot.waitUntil(lambda: pane.dir_checkbox("/data") is not None)
    monkeypatch.setattr(dialogs, "choose_directory", lambda *a: str(second))
    pane.guest_edit.clear()
    qtbot.keyClicks(pane.guest_edit, "/data")
    with qtbot.assertNotEmitted(pane.grantsRequested, wait=300):
        qtbot.mouseClick(pane.add_dir, Qt.MouseButton.LeftButton)
    assert pane.dir_message.isVisible()
    assert pane.dir_message.text().startswith(f"/data already shows {first}")
    assert window.backend.plugins["alpha"].grants == grants  # the first grant stays
    box = pane.dir_checkbox("/data")
    assert box is not None and box.isChecked() and str(first) in box.text()

    pane.guest_edit.clear()  # another path is fine
    qtbot.keyClicks(pane.guest_edit, "/more")
    with qtbot.waitSignal(pane.grantsRequested, timeout=10_000) as sent:
        qtbot.mouseClick(pane.add_dir, Qt.MouseButton.LeftButton)
    assert {(d.host, d.guest) for d in sent.args[1].dirs} == {
        (str(first), "/data"), (str(second), "/more")}
    assert not pane.dir_message.isVisible()


def test_a_secret_the_keyring_lost_shows_as_missing_in_the_config_pane(
        window: Any, qtbot: Any) -> None:
    from wasmbay.gui.widgets.config import MASK, MISSING

    set_plugin(window, qtbot, "alpha", secret_keys=("api_token",))
    assert window.select("alpha")
    open_tab(window, qtbot, window.config)
    model = window.config.model
    qtbot.waitUntil(lambda: model.rowCount() == 1 and model.index(0, 1).data() == MASK)
    assert not window.config.keyring_note.isVisible()
    set_plugin(window, qtbot, "alpha", secrets_missing=("api_token",))
    qtbot.waitUntil(lambda: model.index(0, 1).data() == MISSING)
    assert window.config.keyring_note.isVisible()
    assert "api_token" in window.config.keyring_note.text()


# --- on the real plugin manager -----------------------------------------------------------


def needs_keyring() -> None:
    import keyring
    from keyring.backends import fail

    if isinstance(keyring.get_keyring(), fail.Keyring):
        pytest.skip("no Secret Service: run through scripts/keyring-session.sh")


@pytest.mark.slow
def test_real_data_processor_without_its_setting_is_fixed_from_the_details_tab(
        real_window: Any, qtbot: Any, sample_wasm: Build) -> None:
    """Core finds the missing key (the plugin asked get-config for it), the Details tab
    shows core's fields and the fix; configuring it through the window starts it."""
    window, manager = real_window, real_window.manager
    path = sample_wasm("data_processor")
    manager.install(path)  # no database_url: initialize refuses
    qtbot.waitUntil(lambda: window.model.snapshot("data-processor") is not None
                    and window.model.snapshot("data-processor").state == FAILED,
                    timeout=120_000)
    details = open_details(window, qtbot, "data-processor")
    qtbot.waitUntil(lambda: details.fix_button("Configure database_url…") is not None,
                    timeout=10_000)
    assert field(details, "description") == "Summarises comma-separated records"
    assert field(details, "contract") == "WIT contract v1"
    size = path.stat().st_size
    assert field(details, "size").endswith(f" MiB ({size:,} bytes)")
    assert field(details, "publisher") == "unsigned: no publisher vouches for it"
    assert field(details, "config") == "database_url: not set, read by the plugin"
    rec = manager.record("data-processor")
    installed = time.strftime("%Y-%m-%d %H:%M",
                              time.localtime(rec.versions[rec.stable].installed_at))
    assert field(details, "versions").startswith(f"1.0.0 (stable): installed {installed}")
    assert field(details, "data") == str(manager.library.files_dir("data-processor"))
    assert details.reason.text() == ("It failed: initialize failed: database_url not "
                                     "configured")

    qtbot.mouseClick(details.fix_button("Configure database_url…"), Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.config
    assert window.config.key.text() == "database_url"
    qtbot.waitUntil(lambda: window.focusWidget() is window.config.value)
    qtbot.keyClicks(window.config.value, "sqlite:///tmp/dp.db")
    qtbot.keyClick(window.config.value, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: manager.status("data-processor").state == "ready", timeout=120_000)
    qtbot.waitUntil(lambda: not details.fix_buttons, timeout=10_000)
    # "ready" comes as an event; the stored setting with the next snapshot
    qtbot.waitUntil(lambda: field(details, "config") == "database_url: set, read by the plugin",
                    timeout=10_000)
    assert field(details, "tier") != "not running"


@pytest.mark.slow
def test_real_sample_install_starts_the_data_processor_ready(
        real_window: Any, qtbot: Any, sample_wasm: Build, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A sample fails on first start no more: it gets a working setting in its folder."""
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "data_processor.wasm").write_bytes(sample_wasm("data_processor").read_bytes())
    monkeypatch.setenv("WASMBAY_SAMPLES_DIR", str(samples))
    window, manager = real_window, real_window.manager
    with qtbot.waitSignal(window.engine.done, timeout=180_000,
                          check_params_cb=lambda cmd, *_: cmd == "install_samples"):
        window.install_samples()
    status = manager.status("data-processor")
    assert status.state == "ready", status.reason
    folder = manager.library.files_dir("data-processor")
    assert status.config["database_url"].startswith(f"sqlite:///{folder}")
    assert manager.call("data-processor", "a,b").success


def test_real_secret_removed_from_the_keyring_behind_the_apps_back_shows_missing(
        real_window: Any, qtbot: Any, fixture_wasm: Build) -> None:
    needs_keyring()
    import keyring

    from wasmbay.core.secrets import SERVICE
    from wasmbay.gui.widgets.config import MASK, MISSING

    window, manager = real_window, real_window.manager
    manager.install(fixture_wasm("echo"))
    manager.set_config("echo", "api_token", "t0ken-value", secret=True)
    try:
        qtbot.waitUntil(lambda: window.select("echo"), timeout=30_000)
        open_tab(window, qtbot, window.config)
        model = window.config.model
        qtbot.waitUntil(lambda: model.rowCount() == 1 and model.index(0, 1).data() == MASK,
                        timeout=10_000)
        keyring.delete_password(SERVICE, "echo/api_token")  # another tool, a reset keyring
        qtbot.waitUntil(lambda: model.index(0, 1).data() == MISSING, timeout=10_000)
        assert model.index(0, 2).data() == "missing from the OS keyring"
        assert window.config.keyring_note.isVisible()
        details = open_tab(window, qtbot, window.details)
        qtbot.waitUntil(lambda: details.fix_button("Configure api_token…") is not None)
        assert "secret, not in the OS keyring — set it again" in field(details, "config")
        # set again through the window: it is found again
        qtbot.mouseClick(details.fix_button("Configure api_token…"), Qt.MouseButton.LeftButton)
        assert window.config.secret.isChecked() and window.config.key.text() == "api_token"
        qtbot.keyClicks(window.config.value, "new-t0ken")
        qtbot.keyClick(window.config.value, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: model.index(0, 1).data() == MASK, timeout=10_000)
        assert keyring.get_password(SERVICE, "echo/api_token") == "new-t0ken"
    finally:
        manager.secrets.delete("echo", "api_token")
