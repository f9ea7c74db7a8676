"""The window shell, driven as a user would: keyboard walk and shortcuts, the menu bar,
the empty state and drag highlight, long operations with Cancel, Undo after a promote,
and panes that follow changes made elsewhere. Fake backend: fast, no wasm."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from wasmbay.gui.snapshots import VersionInfo

from .fakes import FakeBackend

WAIT = 10_000


def _open(qtbot: Any, make_engine: Any, plugins: list[str]) -> Any:
    from wasmbay.gui.mainwindow import MainWindow

    backend = FakeBackend(plugins)
    engine = make_engine(lambda: backend, start=False)
    win = MainWindow(engine, offer_samples=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=WAIT)
    with qtbot.waitSignals([engine.snapshots, engine.ready], timeout=WAIT):
        engine.start()  # ready comes after the first snapshots: its status line too
    qtbot.waitUntil(lambda: win.model.rowCount() == len(plugins), timeout=WAIT)
    win.backend = backend
    return win


@pytest.fixture
def window(qtbot: Any, make_engine: Any) -> Any:
    win = _open(qtbot, make_engine, ["alpha", "beta"])
    qtbot.waitUntil(lambda: win.selected is not None, timeout=WAIT)
    yield win
    win.backend.release.set()  # a held verb never outlives the test


@pytest.fixture
def empty_window(qtbot: Any, make_engine: Any) -> Any:
    win = _open(qtbot, make_engine, [])
    yield win
    win.backend.release.set()


def focus() -> QWidget | None:
    return QApplication.focusWidget()


def inside(region: QWidget) -> bool:
    w = focus()
    return w is not None and (w is region or region.isAncestorOf(w))


def change(window: Any, qtbot: Any, pid: str, **fields: Any) -> None:
    """Change a plugin behind the window's back (the CLI, another window)."""
    backend = window.backend
    backend.plugins[pid] = replace(backend.plugins[pid], **fields)
    with qtbot.waitSignal(window.engine.snapshots, timeout=WAIT):
        window.engine.refresh()


def boxes(window: Any) -> list[QMessageBox]:
    return [b for b in window.findChildren(QMessageBox) if b.isVisible()]


def menu_action(window: Any, menu: str, text: str) -> Any:
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}
    for a in menus[menu].actions():
        if a.text().replace("&", "") == text:
            return a
    raise AssertionError(f"{menu} has no {text!r}: "
                         f"{[a.text() for a in menus[menu].actions()]}")


# --- keyboard ---------------------------------------------------------------------------


def test_tab_leaves_the_table_and_keeps_the_selected_plugin(window: Any, qtbot: Any) -> None:
    window.select("beta")
    window.table.setFocus()
    qtbot.waitUntil(lambda: focus() is window.table)
    qtbot.keyClick(window.table, Qt.Key.Key_Tab)
    assert focus() is not window.table
    assert inside(window.tabs)  # the detail tabs come right after the list
    assert window.selected.plugin_id == "beta"
    qtbot.keyClick(focus(), Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert focus() is window.table
    assert window.selected.plugin_id == "beta"


def test_tab_walks_search_table_panes_then_logs(window: Any, qtbot: Any) -> None:
    qtbot.keyClick(window.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert focus() is window.search  # Ctrl+F still works
    order = ["search"]
    for _ in range(40):
        qtbot.keyClick(focus(), Qt.Key.Key_Tab)
        region = ("search" if inside(window.search) else "table" if inside(window.table)
                  else "tabbar" if inside(window.tabs.tabBar())
                  else "pane" if inside(window.tabs) else "logs" if inside(window.logs)
                  else "other")
        if region != order[-1]:
            order.append(region)
        if region == "logs":
            break
    assert order == ["search", "table", "tabbar", "pane", "logs"]


def test_ctrl_tab_switches_the_detail_tab(window: Any, qtbot: Any) -> None:
    window.table.setFocus()
    window.tabs.setCurrentIndex(0)
    qtbot.keyClick(window.table, Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == 1
    qtbot.keyClick(focus(), Qt.Key.Key_Backtab,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.tabs.currentIndex() == 0


def test_each_pane_shortcut_shows_and_focuses_its_pane(window: Any, qtbot: Any) -> None:
    keys = [(Qt.Key.Key_1, window.permissions), (Qt.Key.Key_2, window.config),
            (Qt.Key.Key_3, window.versions), (Qt.Key.Key_4, window.tryit)]
    details = getattr(window, "details", None)  # the Details tab, where the window has it
    if details is not None and window.tabs.indexOf(details) >= 0:
        keys.append((Qt.Key.Key_5, details))
    window.tabs.setCurrentIndex(window.tabs.count() - 1)
    for key, pane in keys:
        window.table.setFocus()
        qtbot.keyClick(window.table, key, Qt.KeyboardModifier.AltModifier)
        assert window.tabs.currentWidget() is pane
        assert inside(pane), f"focus is on {focus()!r}, not in {pane!r}"
    qtbot.keyClick(focus(), Qt.Key.Key_6, Qt.KeyboardModifier.AltModifier)
    assert inside(window.logs)
    qtbot.keyClick(focus(), Qt.Key.Key_0, Qt.KeyboardModifier.AltModifier)
    assert focus() is window.table


def test_ctrl_q_quits_and_shuts_the_engine_down(window: Any, qtbot: Any) -> None:
    qtbot.keyClick(window.table, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT)
    assert window.backend.closed.is_set()
    assert not window.engine.thread_.isRunning()


# --- the menu bar -----------------------------------------------------------------------


def test_menu_bar_has_file_plugin_view_help_with_their_actions(window: Any) -> None:
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles == ["File", "Plugin", "View", "Help"]
    for menu, entries in {
        "File": ["Install…", "Install sample plugins", "Open data folder", "Quit"],
        "Plugin": ["Disable", "Reload", "Uninstall", "Start canary…", "Promote", "Rollback"],
        "View": ["Permissions", "Configuration", "Versions", "Try it", "Focus logs"],
        "Help": ["Keyboard shortcuts", "About Wasmbay"],
    }.items():
        for entry in entries:
            menu_action(window, menu, entry)
    assert "Ctrl+Q" in [k.toString() for k in menu_action(window, "File", "Quit").shortcuts()]


def test_plugin_actions_are_disabled_without_a_selection_and_say_why(
        empty_window: Any) -> None:
    for text in ("Disable", "Reload", "Uninstall", "Start canary…", "Promote", "Rollback"):
        action = menu_action(empty_window, "Plugin", text)
        assert not action.isEnabled(), text
        assert action.toolTip() == "Select a plugin first."
    assert not menu_action(empty_window, "File", "Open data folder").isEnabled()
    assert menu_action(empty_window, "File", "Install sample plugins").isEnabled()


def test_promote_says_why_it_cannot_apply_without_a_canary(window: Any, qtbot: Any) -> None:
    promote = menu_action(window, "Plugin", "Promote")
    assert not promote.isEnabled()
    assert "No canary" in promote.toolTip()
    change(window, qtbot, window.selected.plugin_id, canary=VersionInfo("2.0.0"),
           canary_percent=10)
    qtbot.waitUntil(promote.isEnabled)
    assert "2.0.0" in promote.toolTip()


def test_view_columns_hides_and_shows_a_column(window: Any) -> None:
    columns = window.menus.columns
    columns.aboutToShow.emit()  # the user opens View → Columns
    calls = next(a for a in columns.actions() if a.text() == "Calls")
    header = window.table.horizontalHeader()
    section = next(i for i in range(header.count())
                   if window.table.model().headerData(i, Qt.Orientation.Horizontal) == "Calls")
    assert calls.isChecked()
    calls.trigger()
    assert header.isSectionHidden(section)
    columns.aboutToShow.emit()
    calls = next(a for a in columns.actions() if a.text() == "Calls")
    assert not calls.isChecked()  # the menu remembers the choice
    calls.trigger()
    assert calls.isChecked()


def test_about_shows_the_version_as_plain_text(window: Any) -> None:
    import wasmbay

    menu_action(window, "Help", "About Wasmbay").trigger()
    (box,) = [b for b in boxes(window) if b.objectName() == "aboutBox"]
    assert f"Wasmbay {wasmbay.__version__}" in box.text()
    assert box.textFormat() == Qt.TextFormat.PlainText
    box.close()
    menu_action(window, "Help", "Keyboard shortcuts").trigger()
    (keys,) = [b for b in boxes(window) if b.objectName() == "shortcutsBox"]
    assert "Ctrl+Q" in keys.text() and "Alt+1" in keys.text()
    keys.close()


# --- empty state and dragging -----------------------------------------------------------


def test_empty_state_shows_without_plugins_and_hides_when_one_appears(
        empty_window: Any, qtbot: Any) -> None:
    win = empty_window
    assert win.empty.isVisible() and not win.table.isVisible()
    assert "Drop a .wasm file here" in win.empty.hint.text()
    with qtbot.waitSignal(win.engine.done, timeout=WAIT,
                          check_params_cb=lambda verb, *_: verb == "install_samples"):
        qtbot.mouseClick(win.empty.samples, Qt.MouseButton.LeftButton)
    win.backend.plugins["alpha"] = FakeBackend(["alpha"]).plugins["alpha"]
    with qtbot.waitSignal(win.engine.snapshots, timeout=WAIT):
        win.engine.refresh()
    qtbot.waitUntil(lambda: win.table.isVisible() and not win.empty.isVisible())


def test_samples_can_be_installed_from_the_menu_any_time(window: Any, qtbot: Any) -> None:
    with qtbot.waitSignal(window.engine.done, timeout=WAIT,
                          check_params_cb=lambda verb, *_: verb == "install_samples"):
        menu_action(window, "File", "Install sample plugins").trigger()


def test_declined_first_start_offer_is_not_repeated_and_the_menu_still_installs(
        qtbot: Any, make_engine: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point 7: "No" on the welcome question; File → Install sample plugins later works."""
    from wasmbay.gui.mainwindow import MainWindow

    monkeypatch.setenv("WASMBAY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WASMBAY_FIRST_START", raising=False)

    def start() -> Any:
        backend = FakeBackend([])
        engine = make_engine(lambda: backend, start=False)
        win = MainWindow(engine)  # offers the samples on a first start
        qtbot.addWidget(win)
        win.show()
        with qtbot.waitSignal(engine.snapshots, timeout=WAIT):
            engine.start()
        return win

    win = start()
    qtbot.waitUntil(lambda: any(b.objectName() == "samplesOffer" for b in boxes(win)),
                    timeout=WAIT)
    (offer,) = [b for b in boxes(win) if b.objectName() == "samplesOffer"]
    qtbot.mouseClick(offer.button(QMessageBox.StandardButton.No), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not boxes(win), timeout=WAIT)
    assert not win.operations.isVisible()  # nothing is being installed
    assert "sample" not in win.status.text()
    assert win.plugins_area.currentWidget() is win.empty  # the hint offers them too
    assert win.empty.samples.isVisible()
    with qtbot.waitSignal(win.engine.done, timeout=WAIT,
                          check_params_cb=lambda verb, *_: verb == "install_samples"):
        menu_action(win, "File", "Install sample plugins").trigger()
    win.close()
    again = start()  # the next start does not ask again (it would on its first snapshot)
    assert again.model.rowCount() == 0
    assert not [b for b in boxes(again) if b.objectName() == "samplesOffer"]


def _drag(urls: list[str]) -> QDragEnterEvent:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(u) for u in urls])
    event = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    event._mime = mime  # type: ignore[attr-defined]  # kept alive with the event
    return event


def test_dragging_a_plugin_file_highlights_the_window_until_it_leaves(window: Any) -> None:
    QApplication.sendEvent(window, _drag(["/tmp/notes.txt"]))
    assert not window.drop_highlight.isVisible()
    enter = _drag(["/tmp/demo.wasm"])
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    assert window.drop_highlight.isVisible()
    QApplication.sendEvent(window, QDragLeaveEvent())
    assert not window.drop_highlight.isVisible()


# --- long operations --------------------------------------------------------------------


def test_a_preview_shows_progress_and_cancel_is_quiet(window: Any, qtbot: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbay.gui import dialogs

    window.backend.hold.add("preview")
    monkeypatch.setattr(dialogs, "choose_plugin_files", lambda parent: ["/tmp/demo.wasm"])
    ops = window.operations
    menu_action(window, "File", "Install…").trigger()
    qtbot.waitUntil(lambda: ops.isVisible() and "checking" in ops.label.text(), timeout=WAIT)
    assert ops.label.text().startswith("Reading demo.wasm: checking · ")
    assert ops.label.text().endswith(" s")
    assert window.status.text() == "Reading demo.wasm…"
    assert ops.cancel_button.isEnabled()
    failed: list[Any] = []
    window.failureShown.connect(failed.append)
    with qtbot.waitSignal(window.engine.failed, timeout=WAIT) as answer:
        qtbot.mouseClick(ops.cancel_button, Qt.MouseButton.LeftButton)
    assert answer.args[0].cancelled
    qtbot.waitUntil(lambda: not ops.isVisible())
    assert "Reading" not in window.status.text()
    assert "demo.wasm" in window.status.text()
    assert not boxes(window) and failed == [] and window.consent is None
    assert not [c for c in window.backend.calls if c[0] == "install"]


def test_the_operations_indicator_keeps_its_width_as_stages_and_seconds_change(
        window: Any, qtbot: Any) -> None:
    """The status bar does not jitter: a new stage or another second moves nothing."""
    window.backend.hold.add("preview")
    ops = window.operations
    bar = window.statusBar()

    def places() -> list[Any]:
        return [ops.geometry(), ops.cancel_button.geometry(), ops.bar.geometry(),
                window.status.geometry()]

    window.install_file("/tmp/a-plugin-file-with-a-rather-long-name-v2.wasm")
    assert ops.label.toolTip().endswith("wasm… · 0 s")  # no stage yet
    qtbot.waitUntil(lambda: places()[0].width() > 0 and ops.isVisible(), timeout=WAIT)
    before = places()
    qtbot.waitUntil(lambda: "checking · 1 s" in ops.label.toolTip(), timeout=WAIT)
    QApplication.processEvents()
    assert places() == before
    # the label shows the start and the end of what it says; the tip says it whole
    assert ops.label.text().startswith("Reading a-plugin") and ops.label.text().endswith("1 s")
    assert ops.label.fontMetrics().horizontalAdvance(ops.label.text()) <= ops.label.width()
    assert bar.isAncestorOf(ops)
    qtbot.mouseClick(ops.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not ops.isVisible(), timeout=WAIT)


def test_a_failed_preview_leaves_no_reading_status(window: Any, qtbot: Any) -> None:
    def broken(path: str, plugin_id: str | None = None, cancel: object = None) -> Any:
        raise ValueError("not a WebAssembly component")

    window.backend.preview = broken
    with qtbot.waitSignal(window.failureShown, timeout=WAIT):
        window.install_file("/tmp/broken.wasm")
    qtbot.waitUntil(lambda: not window.operations.isVisible())
    assert "Reading" not in window.status.text()
    assert "not a WebAssembly component" in window.status.text()
    (box,) = boxes(window)  # a real failure still opens its box
    box.close()


def test_the_sample_install_shows_progress_and_can_be_cancelled(window: Any,
                                                                qtbot: Any) -> None:
    window.backend.hold.add("install_samples")
    ops = window.operations
    menu_action(window, "File", "Install sample plugins").trigger()
    qtbot.waitUntil(lambda: "hello.wasm checking" in ops.label.toolTip(), timeout=WAIT)
    assert ops.label.text().startswith("Installing the sample plugins")
    qtbot.mouseClick(ops.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not ops.isVisible(), timeout=WAIT)
    assert window.status.text().startswith("Cancelled the sample install")
    assert not boxes(window)


def test_a_canary_start_shows_progress_and_cancel_starts_nothing(
        window: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbay.gui import dialogs

    window.select("alpha")
    window.backend.hold.add("start_canary")
    monkeypatch.setattr(dialogs, "choose_plugin_file", lambda *a: "/tmp/v2.wasm")
    with qtbot.waitSignal(window.consentShown, timeout=WAIT) as shown:
        menu_action(window, "Plugin", "Start canary…").trigger()
    shown.args[0].accept()
    ops = window.operations
    qtbot.waitUntil(lambda: ops.isVisible() and "checking" in ops.label.text(), timeout=WAIT)
    assert ops.label.text().startswith("Starting canary 2.0.0")
    assert ops.cancel_button.isEnabled()
    with qtbot.waitSignal(window.engine.failed, timeout=WAIT) as answer:
        qtbot.mouseClick(ops.cancel_button, Qt.MouseButton.LeftButton)
    assert answer.args[0].cancelled
    qtbot.waitUntil(lambda: not ops.isVisible(), timeout=WAIT)
    assert window.status.text() == "Cancelled: canary 2.0.0 was not started."
    assert not boxes(window)
    assert window.backend.plugins["alpha"].canary is None
    assert not window.versions.promote.isEnabled()


def test_an_install_shows_progress_and_cancel_installs_nothing(
        window: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """After consent, the install itself can be stopped (an update is the same verb)."""
    from wasmbay.gui import dialogs

    window.backend.hold.add("install")
    monkeypatch.setattr(dialogs, "choose_plugin_files", lambda parent: ["/tmp/demo.wasm"])
    with qtbot.waitSignal(window.consentShown, timeout=WAIT) as shown:
        qtbot.keyClick(window.table, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    dialog = shown.args[0]
    dialog.request_checkbox("network").click()
    qtbot.mouseClick(dialog.accept_button, Qt.MouseButton.LeftButton)
    ops = window.operations
    qtbot.waitUntil(lambda: ops.isVisible() and "checking" in ops.label.text(), timeout=WAIT)
    assert ops.label.text().startswith("Installing Demo")
    assert ops.cancel_button.isEnabled()
    qtbot.mouseClick(ops.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not ops.isVisible(), timeout=WAIT)
    assert window.status.text() == "Cancelled: Demo was not installed."
    assert "demo" not in window.backend.plugins and not boxes(window)


def test_open_data_folder_says_where_it_is_when_the_desktop_cannot(
        window: Any, qtbot: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbay.gui.widgets import folder

    opened: list[str] = []
    monkeypatch.setattr(folder, "desktop_open",
                        lambda url: opened.append(url.toLocalFile()) or False)
    data = tmp_path / "alpha-data"
    window.select("alpha")
    change(window, qtbot, "alpha", data_dir=str(data))
    action = menu_action(window, "File", "Open data folder")
    qtbot.waitUntil(action.isEnabled)
    action.trigger()
    assert opened == [str(data)] and data.is_dir()
    (box,) = [b for b in boxes(window) if b.objectName() == "folderMessage"]
    assert str(data) in box.text()
    assert box.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    copy = next(b for b in box.buttons() if b.objectName() == "copyPath")
    qtbot.mouseClick(copy, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == str(data)


# --- promote, rollback, Undo ------------------------------------------------------------


def test_promote_then_undo_goes_back_to_the_previous_stable(window: Any, qtbot: Any) -> None:
    window.select("alpha")
    change(window, qtbot, "alpha", canary=VersionInfo("2.0.0"), canary_percent=20)
    pane = window.versions
    qtbot.waitUntil(pane.promote.isEnabled)
    qtbot.mouseClick(pane.promote, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.undo.isVisible(), timeout=WAIT)
    assert "promoted 2.0.0" in window.status.text()
    assert "1.0.0" in window.undo.toolTip()
    assert window.selected.stable.version == "2.0.0"
    qtbot.mouseClick(window.undo, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.selected.stable.version == "1.0.0", timeout=WAIT)
    assert window.backend.calls[-1] == ("rollback", ("alpha",))
    assert not window.undo.isVisible()
    assert "1.0.0 is the stable version again" in window.status.text()


def test_rollback_of_a_canary_offers_no_undo(window: Any, qtbot: Any) -> None:
    window.select("alpha")
    change(window, qtbot, "alpha", canary=VersionInfo("2.0.0"), canary_percent=20)
    with qtbot.waitSignal(window.engine.done, timeout=WAIT,
                          check_params_cb=lambda verb, *_: verb == "rollback"):
        menu_action(window, "Plugin", "Rollback").trigger()
    assert "rolled back the canary 2.0.0" in window.status.text()
    assert "no Undo" in window.status.text()
    assert not window.undo.isVisible()


def test_an_undo_is_withdrawn_when_the_versions_change_elsewhere(window: Any,
                                                                 qtbot: Any) -> None:
    window.select("alpha")
    change(window, qtbot, "alpha", canary=VersionInfo("2.0.0"), canary_percent=20)
    with qtbot.waitSignal(window.engine.done, timeout=WAIT):
        menu_action(window, "Plugin", "Promote").trigger()
    qtbot.waitUntil(window.undo.isVisible)
    change(window, qtbot, "alpha", stable=VersionInfo("3.0.0"), previous_stable="2.0.0")
    qtbot.waitUntil(lambda: not window.undo.isVisible())


# --- panes follow changes from anywhere -------------------------------------------------


def test_every_pane_shows_a_change_made_elsewhere(window: Any, qtbot: Any) -> None:
    window.select("beta")
    change(window, qtbot, "beta", canary=VersionInfo("2.5.0"), canary_percent=40,
           config=(("mode", "fast"),))
    qtbot.waitUntil(lambda: window.versions.canary.labels["version"].text() == "2.5.0")
    model = window.config.model
    qtbot.waitUntil(lambda: model.rowCount() == 1 and model.index(0, 0).data() == "mode")
    assert menu_action(window, "Plugin", "Promote").isEnabled()
    del window.backend.plugins["beta"]  # uninstalled from the CLI
    with qtbot.waitSignal(window.engine.snapshots, timeout=WAIT):
        window.engine.refresh()
    qtbot.waitUntil(lambda: window.selected is not None
                    and window.selected.plugin_id == "alpha")
    assert window.versions.canary.labels["version"].text() == "none"
    assert window.config.model.rowCount() == 0


# --- the same Cancel over the real plugin manager ---------------------------------------


def test_cancel_stops_a_real_preview_quietly(real_window: Any, qtbot: Any,
                                             fixture_wasm: Any) -> None:
    import threading

    from wasmbay.core.events import Event
    from wasmbay.core.manager_events import READING, Progress

    win = real_window
    reached = threading.Event()
    pressed = threading.Event()

    def hold_at_reading(e: Event) -> None:  # engine thread: wait for the user's click
        if isinstance(e, Progress) and e.stage == READING:
            reached.set()
            pressed.wait(10)

    win.backends[0].manager.subscribe(hold_at_reading, Progress)
    path = fixture_wasm("echo")
    win.install_file(str(path))
    qtbot.waitUntil(reached.is_set, timeout=30_000)
    ops = win.operations
    qtbot.waitUntil(ops.isVisible)
    with qtbot.waitSignal(win.engine.failed, timeout=30_000) as failed:
        qtbot.mouseClick(ops.cancel_button, Qt.MouseButton.LeftButton)
        pressed.set()
    assert failed.args[0].cancelled
    qtbot.waitUntil(lambda: not ops.isVisible())
    assert win.status.text() == f"Cancelled: {path.name} was not installed."
    assert not boxes(win) and win.consent is None
    assert win.backends[0].manager.ids() == []
