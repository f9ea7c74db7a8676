"""The window's wiring against an in-memory backend: fast, no wasm."""

from __future__ import annotations

from typing import Any

import pytest

from wasmbay.core.events import LogLevel, LogRecord


@pytest.fixture
def window(fake_window: Any) -> Any:
    return fake_window


def test_table_lists_plugins_and_filters(window: Any, qtbot: Any) -> None:
    assert window.proxy.rowCount() == 2
    qtbot.keyClicks(window.search, "alp")
    assert window.proxy.rowCount() == 1
    window.search.clear()
    assert window.proxy.rowCount() == 2


def test_closing_shuts_backend_down(window: Any, qtbot: Any) -> None:
    window.close()
    assert window.backend.closed.is_set()
    assert not window.engine.thread_.isRunning()


def test_log_line_appears(window: Any, qtbot: Any) -> None:
    window.backend.bus.publish(LogRecord("alpha", LogLevel.INFO, "hello from alpha"))
    qtbot.waitUntil(lambda: any("hello from alpha" in r.message
                                for r in window.log_model.records()))


def test_install_through_dialog_with_consent(window: Any, qtbot: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbay.gui import dialogs

    monkeypatch.setattr(dialogs, "choose_plugin_files", lambda parent: ["/tmp/demo.wasm"])
    with qtbot.waitSignal(window.consentShown, timeout=10_000) as shown:
        window.act_install.trigger()
    dialog = shown.args[0]
    box = dialog.request_checkbox("network")
    assert box is not None and not box.isChecked()  # unticked unless the user ticks it
    box.click()
    with qtbot.waitSignal(window.engine.done, timeout=10_000,
                          check_params_cb=lambda cmd, *_: cmd == "install"):
        dialog.accept_button.click()
    assert window.backend.calls[-1] == ("install", ("/tmp/demo.wasm", ["network"], "demo"))
    qtbot.waitUntil(lambda: window.model.row_of("demo") >= 0)
    qtbot.waitUntil(lambda: window.selected is not None
                    and window.selected.plugin_id == "demo")


def test_cancelled_consent_installs_nothing(window: Any, qtbot: Any) -> None:
    with qtbot.waitSignal(window.consentShown, timeout=10_000) as shown:
        window.install_file("/tmp/demo.wasm")
    shown.args[0].reject()
    window.engine.refresh()
    with qtbot.waitSignal(window.engine.snapshots):
        pass
    assert window.model.row_of("demo") < 0
    assert not [c for c in window.backend.calls if c[0] == "install"]


def test_drop_of_wasm_file_starts_install(window: Any, qtbot: Any) -> None:
    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile("/tmp/demo.wasm"), QUrl.fromLocalFile("/tmp/notes.txt")])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.consentShown, timeout=10_000) as shown:
        window.dropEvent(event)
    assert shown.args[0].preview.path == "/tmp/demo.wasm"
    shown.args[0].reject()


def test_shortcuts_and_toggle(window: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbay.gui import dialogs

    assert window.act_install.shortcut().toString() == "Ctrl+O"
    assert window.act_toggle.shortcut().toString() == "Ctrl+E"
    window.select("alpha")
    with qtbot.waitSignal(window.engine.done, timeout=10_000):
        window.act_toggle.trigger()
    qtbot.waitUntil(lambda: window.selected.state == "disabled")
    assert window.act_toggle.text() == "Enable"
    monkeypatch.setattr(dialogs, "confirm", lambda *a: True)
    with qtbot.waitSignal(window.engine.done, timeout=10_000):
        window.act_uninstall.trigger()
    qtbot.waitUntil(lambda: window.model.row_of("alpha") < 0)


def test_config_pane_masks_secrets(window: Any, qtbot: Any) -> None:
    window.select("beta")
    pane = window.config
    pane.key.setText("token")
    pane.value.setText("s3cret")
    pane.secret.setChecked(True)
    with qtbot.waitSignal(window.engine.done, timeout=10_000):
        pane.set_button.click()
    pane.key.setText("mode")
    pane.value.setText("fast")
    pane.secret.setChecked(False)
    with qtbot.waitSignal(window.engine.done, timeout=10_000):
        pane.set_button.click()
    qtbot.waitUntil(lambda: pane.model.rowCount() == 2)
    shown = {pane.model.index(r, 0).data(): pane.model.index(r, 1).data() for r in range(2)}
    assert shown == {"mode": "fast", "token": "••••••••"}
    assert "s3cret" not in str(window.selected)


def test_try_it_shows_response(window: Any, qtbot: Any) -> None:
    window.select("alpha")
    pane = window.tryit
    pane.input.setPlainText("hello")
    pane.request_id.setText("req-1")
    with qtbot.waitSignal(window.engine.callDone, timeout=10_000):
        pane.send.click()
    assert pane.output.toPlainText() == "HELLO"
    assert pane.served_by.text() == "1.0.0"
    assert pane.duration.text().endswith("ms")
    assert "req-1" in pane.status.text()


def test_permissions_pane_builds_grants(window: Any, qtbot: Any, tmp_path: Any,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbay.gui import dialogs

    window.select("alpha")
    pane = window.permissions
    with qtbot.waitSignal(pane.grantsRequested) as sent:
        pane.network.click()
    assert sent.args[1].network is True
    qtbot.waitUntil(lambda: window.selected.grants.network)

    monkeypatch.setattr(dialogs, "choose_directory", lambda *a: str(tmp_path))
    pane.guest_edit.setText("/data")
    with qtbot.waitSignal(pane.grantsRequested) as sent:
        pane.add_dir.click()
    (d,) = sent.args[1].dirs
    assert (d.host, d.guest, d.writable) == (str(tmp_path), "/data", False)
    qtbot.waitUntil(lambda: bool(window.selected.grants.dirs))
    box = pane.dir_checkbox("/data")
    assert box is not None and box.isChecked()
    with qtbot.waitSignal(pane.grantsRequested) as sent:
        box.click()
    assert sent.args[1].dirs == ()
    qtbot.waitUntil(lambda: not window.selected.grants.dirs)
    assert pane.dir_checkbox("/data") is not None  # unticked, still listed


def test_versions_pane_promote_and_rollback(window: Any, qtbot: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbay.gui import dialogs

    window.select("alpha")
    pane = window.versions
    assert not pane.promote.isEnabled()
    monkeypatch.setattr(dialogs, "choose_plugin_file", lambda *a: "/tmp/v2.wasm")
    pane.percent.setValue(30)
    with qtbot.waitSignal(window.consentShown, timeout=10_000) as shown:
        pane.start.click()  # the file is previewed and shown before anything starts
    dialog = shown.args[0]
    assert dialog.accept_button.text() == "Start canary"
    assert window.selected.canary is None
    with qtbot.waitSignal(window.engine.done, timeout=10_000,
                          check_params_cb=lambda cmd, *_: cmd == "start_canary"):
        dialog.accept()
    qtbot.waitUntil(lambda: window.selected.canary is not None)
    assert pane.canary.labels["version"].text() == "2.0.0"
    assert window.selected.canary_percent == 30
    with qtbot.waitSignal(window.engine.done, timeout=10_000):
        pane.set_percent(60)
    qtbot.waitUntil(lambda: window.selected.canary_percent == 60)
    with qtbot.waitSignal(window.engine.done, timeout=10_000):
        pane.rollback.click()
    qtbot.waitUntil(lambda: not pane.notice.isHidden())
    assert "rolled back" in pane.notice.text()


def test_manager_events_change_the_row_before_the_next_snapshot(window: Any) -> None:
    from wasmbay.core.manager_events import CanaryRolledBack, PluginFailed, PluginLoading

    window.on_event(PluginLoading("alpha", 0.25, "compiling"))
    snap = window.model.snapshot("alpha")
    assert (snap.state, snap.progress) == ("loading", 0.25)
    window.on_event(PluginFailed("alpha", "trapped in init"))
    snap = window.model.snapshot("alpha")
    assert (snap.state, snap.reason) == ("failed", "trapped in init")
    window.on_event(CanaryRolledBack("beta", "2.0.0", "error rate 40%", automatic=True))
    snap = window.model.snapshot("beta")
    assert (snap.last_rollback, snap.last_rollback_automatic) == ("error rate 40%", True)
    assert window.status.text() == (
        "beta: the canary was rolled back automatically: error rate 40%")
