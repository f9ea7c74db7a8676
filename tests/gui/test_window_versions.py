"""Issue 13 points 2, 3 and 9: Promote and Rollback say why they cannot apply and offer the
previous stable version; Try it, the canary share and the rollback notice show only the
selected plugin's current state; the automatic rollback's rule is editable and its
progress is shown. Driven as a user would: clicks on rows, tabs and buttons, keys in the
spin boxes; "the CLI" is a change the backend makes on its own, seen in the next snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from wasmbay.core.contract import ProcessResult
from wasmbay.gui.snapshots import RollbackEvidence, VersionInfo

Build = Callable[[str], Path]
#: The share a new canary starts at (gui.widgets.versions.DEFAULT_SHARE).
DEFAULT_SHARE = 10


@pytest.fixture
def window(fake_window: Any) -> Any:
    return fake_window


# --- driving the window -------------------------------------------------------------------


def click_row(window: Any, qtbot: Any, plugin_id: str) -> None:
    """Click the plugin's row in the table, as a user picks a plugin."""
    from PySide6.QtCore import Qt

    row = window.model.row_of(plugin_id)
    assert row >= 0, plugin_id
    column = next(c for c in range(window.proxy.columnCount())
                  if not window.table.isColumnHidden(c))
    index = window.proxy.mapFromSource(window.model.index(row, column))
    window.table.scrollTo(index)
    rect = window.table.visualRect(index)
    qtbot.mouseClick(window.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: window.selected is not None
                    and window.selected.plugin_id == plugin_id)


def open_tab(window: Any, qtbot: Any, pane: Any) -> None:
    from PySide6.QtCore import Qt

    bar = window.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton,
                     pos=bar.tabRect(window.tabs.indexOf(pane)).center())
    qtbot.waitUntil(pane.isVisible)


def click(qtbot: Any, button: Any) -> None:
    from PySide6.QtCore import Qt

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def type_into(qtbot: Any, box: Any, text: str) -> None:
    """Click into a spin box, replace its number by typing, press Enter."""
    from PySide6.QtCore import Qt

    qtbot.mouseClick(box.lineEdit(), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(box.hasFocus)
    qtbot.keyClick(box, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(box, text)
    qtbot.keyClick(box, Qt.Key.Key_Return)


def from_the_cli(window: Any, qtbot: Any, plugin_id: str, **changes: Any) -> None:
    """Another process changed the plugin: the window learns it from the next snapshot."""
    backend = window.backend
    backend.plugins[plugin_id] = replace(backend.plugins[plugin_id], **changes)
    with qtbot.waitSignal(window.engine.snapshots, timeout=10_000):
        window.engine.refresh()


def calls_of(window: Any, verb: str) -> list[tuple[Any, ...]]:
    return [args for name, args in window.backend.calls if name == verb]


# --- point 2: Promote and Rollback ----------------------------------------------------------


def test_promote_and_rollback_are_disabled_without_a_canary_and_say_why(
        window: Any, qtbot: Any) -> None:
    click_row(window, qtbot, "alpha")
    pane = window.versions
    open_tab(window, qtbot, pane)
    assert not pane.promote.isEnabled() and not pane.rollback.isEnabled()
    assert "No canary running" in pane.promote.toolTip()
    assert "Start canary…" in pane.promote.toolTip()
    assert "Nothing to roll back to" in pane.rollback.toolTip()
    assert pane.why.isVisible() and "No canary running" in pane.why.text()
    click(qtbot, pane.promote)
    click(qtbot, pane.rollback)
    assert not calls_of(window, "promote") and not calls_of(window, "rollback")

    from_the_cli(window, qtbot, "alpha", canary=VersionInfo("2.0.0"), canary_percent=20)
    qtbot.waitUntil(pane.promote.isEnabled)
    assert pane.rollback.isEnabled() and pane.rollback.text() == "Roll back"
    assert "2.0.0" in pane.promote.toolTip() and "2.0.0" in pane.rollback.toolTip()
    assert not pane.why.isVisible()


def test_after_a_promote_rollback_offers_the_previous_stable_version_in_one_click(
        window: Any, qtbot: Any) -> None:
    from_the_cli(window, qtbot, "alpha", canary=VersionInfo("2.0.0"), canary_percent=20)
    click_row(window, qtbot, "alpha")
    pane = window.versions
    open_tab(window, qtbot, pane)
    qtbot.waitUntil(pane.promote.isEnabled)
    with qtbot.waitSignal(window.engine.done, timeout=10_000,
                          check_params_cb=lambda verb, *_: verb == "promote"):
        click(qtbot, pane.promote)
    qtbot.waitUntil(lambda: pane.rollback.text() == "Roll back to 1.0.0")
    assert window.selected.stable.version == "2.0.0" and window.selected.canary is None
    assert not pane.promote.isEnabled() and pane.rollback.isEnabled()
    assert "1.0.0" in pane.rollback.toolTip() and "2.0.0" in pane.rollback.toolTip()
    assert "roll back to 1.0.0" in pane.why.text()

    with qtbot.waitSignal(window.engine.done, timeout=10_000,
                          check_params_cb=lambda verb, *_: verb == "rollback"):
        click(qtbot, pane.rollback)  # one click, no dialog
    assert calls_of(window, "rollback") == [("alpha",)]
    qtbot.waitUntil(lambda: window.selected.stable.version == "1.0.0")
    qtbot.waitUntil(lambda: not pane.rollback.isEnabled())
    assert pane.rollback.text() == "Roll back"  # nothing older is left to go back to
    assert "Nothing to roll back to" in pane.rollback.toolTip()


# --- point 3: no stale panes ---------------------------------------------------------------


def test_selecting_another_plugin_clears_try_it_and_keeps_each_plugins_input(
        window: Any, qtbot: Any) -> None:
    click_row(window, qtbot, "alpha")
    pane = window.tryit
    open_tab(window, qtbot, pane)
    qtbot.mouseClick(pane.input.viewport(), _left())
    qtbot.keyClicks(pane.input, "hello")
    qtbot.keyClicks(pane.options, "mode=fast")
    with qtbot.waitSignal(window.engine.callDone, timeout=10_000):
        click(qtbot, pane.send)
    assert pane.output.toPlainText() == "HELLO"
    assert pane.served_by.text() == "1.0.0"
    assert "success" in pane.status.text() and pane.duration.text().endswith("ms")

    click_row(window, qtbot, "beta")
    assert pane.input.toPlainText() == "" and pane.options.text() == ""
    assert pane.output.toPlainText() == ""
    assert pane.served_by.text() == "–" and pane.duration.text() == "–"
    assert "success" not in pane.status.text()

    click_row(window, qtbot, "alpha")  # what was typed for alpha comes back, not its answer
    assert pane.input.toPlainText() == "hello" and pane.options.text() == "mode=fast"
    assert pane.output.toPlainText() == "" and pane.served_by.text() == "–"


def test_an_answer_for_the_previous_plugin_is_never_shown_for_the_next(
        window: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real_call = window.backend.call

    def slow_call(plugin_id: str, *args: Any) -> ProcessResult:
        if plugin_id == "alpha":
            release.wait(10)
        return real_call(plugin_id, *args)

    monkeypatch.setattr(window.backend, "call", slow_call)
    click_row(window, qtbot, "alpha")
    pane = window.tryit
    open_tab(window, qtbot, pane)
    qtbot.keyClicks(pane.input, "from alpha")
    click(qtbot, pane.send)
    assert not pane.send.isEnabled()  # one request at a time per plugin
    click_row(window, qtbot, "beta")
    assert pane.send.isEnabled()  # beta has nothing in flight
    with qtbot.waitSignal(window.engine.callDone, timeout=10_000):
        release.set()
    assert pane.output.toPlainText() == "" and pane.served_by.text() == "–"
    assert "FROM ALPHA" not in pane.status.text()


def test_try_it_says_why_a_disabled_plugin_cannot_be_tried(window: Any, qtbot: Any) -> None:
    click_row(window, qtbot, "alpha")
    pane = window.tryit
    open_tab(window, qtbot, pane)
    assert pane.send.isEnabled()
    from_the_cli(window, qtbot, "alpha", state="disabled")
    qtbot.waitUntil(lambda: not pane.send.isEnabled())
    assert "enable it (Ctrl+E)" in pane.status.text()
    assert "enable it (Ctrl+E)" in pane.send.toolTip()
    from_the_cli(window, qtbot, "alpha", state="ready")
    qtbot.waitUntil(pane.send.isEnabled)
    assert pane.status.text() == ""


def test_the_share_follows_the_selected_plugins_canary_and_resets_after_promote(
        window: Any, qtbot: Any) -> None:
    from PySide6.QtCore import Qt

    from_the_cli(window, qtbot, "alpha", canary=VersionInfo("2.0.0"), canary_percent=40)
    pane = window.versions
    click_row(window, qtbot, "alpha")
    open_tab(window, qtbot, pane)
    assert (pane.slider.value(), pane.percent.value()) == (40, 40)
    click_row(window, qtbot, "beta")  # no canary: not alpha's 40%
    assert (pane.slider.value(), pane.percent.value()) == (DEFAULT_SHARE, DEFAULT_SHARE)
    assert pane.share_label.text() == "Start at"  # what the share means without a canary
    click_row(window, qtbot, "alpha")
    assert pane.slider.value() == 40 and pane.share_label.text() == "Canary share"

    pane.slider.setFocus()
    with qtbot.waitSignal(window.engine.done, timeout=10_000,
                          check_params_cb=lambda verb, *_: verb == "set_canary_percent"):
        qtbot.keyClick(pane.slider, Qt.Key.Key_Right)  # the keyboard moves the share too
    assert calls_of(window, "set_canary_percent") == [("alpha", 41)]
    qtbot.waitUntil(lambda: window.selected.canary_percent == 41)

    with qtbot.waitSignal(window.engine.done, timeout=10_000,
                          check_params_cb=lambda verb, *_: verb == "promote"):
        click(qtbot, pane.promote)
    qtbot.waitUntil(lambda: pane.slider.value() == DEFAULT_SHARE)
    assert pane.share_label.text() == "Start at"

    from_the_cli(window, qtbot, "beta", canary=VersionInfo("3.0.0"), canary_percent=70)
    click_row(window, qtbot, "beta")
    assert pane.slider.value() == 70
    from_the_cli(window, qtbot, "beta", canary=None, canary_percent=0,
                 last_rollback="rolled back by the user", last_rollback_version="3.0.0")
    qtbot.waitUntil(lambda: pane.slider.value() == DEFAULT_SHARE)  # a rollback elsewhere


def test_a_change_from_the_cli_clears_the_automatic_rollback_notice(
        window: Any, qtbot: Any) -> None:
    from wasmbay.core.manager_events import CanaryRolledBack

    from_the_cli(window, qtbot, "alpha", canary=VersionInfo("2.0.0"), canary_percent=50)
    click_row(window, qtbot, "alpha")
    pane = window.versions
    open_tab(window, qtbot, pane)
    reason = "canary failed 9 of 9 calls: its error rate is above the 5% threshold"
    window.backend.bus.publish(CanaryRolledBack("alpha", "2.0.0", reason, automatic=True))
    from_the_cli(window, qtbot, "alpha", canary=None, canary_percent=0, last_rollback=reason,
                 last_rollback_automatic=True, last_rollback_version="2.0.0")
    qtbot.waitUntil(pane.notice.isVisible)
    assert pane.notice.text() == f"Canary 2.0.0 was rolled back automatically: {reason}"

    # the CLI starts another canary: the notice was about the old one
    from_the_cli(window, qtbot, "alpha", canary=VersionInfo("2.0.1"), canary_percent=10,
                 last_rollback="", last_rollback_automatic=False, last_rollback_version="")
    qtbot.waitUntil(lambda: not pane.notice.isVisible())
    assert pane.notice.text() == ""


# --- point 9: the automatic rollback's rule and progress -----------------------------------


def test_editing_the_rule_sends_threshold_min_calls_and_confidence(
        window: Any, qtbot: Any) -> None:
    click_row(window, qtbot, "alpha")
    pane = window.versions
    open_tab(window, qtbot, pane)
    assert pane.threshold.text() == "off"
    assert not pane.min_calls.isEnabled() and not pane.confidence.isEnabled()
    assert "Off" in pane.auto_progress.text()

    type_into(qtbot, pane.threshold, "10")
    qtbot.waitUntil(lambda: bool(calls_of(window, "set_rollback_threshold")))
    assert calls_of(window, "set_rollback_threshold")[-1] == pytest.approx(
        ("alpha", 0.10, 5, 0.95))
    qtbot.waitUntil(pane.min_calls.isEnabled)

    type_into(qtbot, pane.min_calls, "20")
    qtbot.waitUntil(lambda: calls_of(window, "set_rollback_threshold")[-1][2] == 20)
    type_into(qtbot, pane.confidence, "99")
    qtbot.waitUntil(lambda: calls_of(window, "set_rollback_threshold")[-1][3]
                    == pytest.approx(0.99))
    assert calls_of(window, "set_rollback_threshold")[-1] == pytest.approx(
        ("alpha", 0.10, 20, 0.99))
    qtbot.waitUntil(lambda: window.selected.auto_rollback_min_calls == 20)
    assert window.selected.auto_rollback_confidence == pytest.approx(0.99)

    click_row(window, qtbot, "beta")  # beta's own rule, not alpha's
    assert pane.threshold.text() == "off" and pane.min_calls.value() == 5
    click_row(window, qtbot, "alpha")
    assert pane.threshold.value() == pytest.approx(10.0) and pane.min_calls.value() == 20
    assert pane.confidence.value() == pytest.approx(99.0)


def test_the_progress_shows_the_canarys_evidence_against_the_rule(
        window: Any, qtbot: Any) -> None:
    rule = {"auto_rollback_threshold": 0.05, "auto_rollback_min_calls": 5,
            "canary": VersionInfo("2.0.0"), "canary_percent": 50}
    from_the_cli(window, qtbot, "alpha", **rule, auto_rollback_evidence=RollbackEvidence(
        calls=3, failures=3, error_rate=1.0, lower_bound=0.2, decision="gathering",
        version="2.0.0"))
    click_row(window, qtbot, "alpha")
    pane = window.versions
    open_tab(window, qtbot, pane)
    assert pane.auto_progress.text() == (
        "3 of 5 minimum canary calls, 3 errors (100%) — too few to judge yet")
    assert pane.auto_bar.isVisible()
    assert (pane.auto_bar.value(), pane.auto_bar.maximum()) == (3, 5)

    from_the_cli(window, qtbot, "alpha", auto_rollback_evidence=RollbackEvidence(
        calls=40, failures=1, error_rate=0.025, lower_bound=0.0012, decision="watching",
        version="2.0.0"))
    qtbot.waitUntil(lambda: pane.auto_progress.text() == (
        "40 canary calls, 1 error (2.5%) — lower bound 0.1% at 95% confidence ≤ threshold "
        "5%: keeping the canary"))
    assert not pane.auto_bar.isVisible()

    from_the_cli(window, qtbot, "alpha", auto_rollback_evidence=RollbackEvidence(
        calls=9, failures=9, error_rate=1.0, lower_bound=0.7, decision="roll back",
        version="2.0.0"))
    qtbot.waitUntil(lambda: pane.auto_progress.text() == (
        "9 canary calls, 9 errors (100%) — lower bound 70% at 95% confidence > threshold "
        "5%: rolling back"))

    from_the_cli(window, qtbot, "alpha", canary=None, canary_percent=0,
                 auto_rollback_evidence=RollbackEvidence())
    qtbot.waitUntil(lambda: pane.auto_progress.text().startswith("No canary running"))
    click_row(window, qtbot, "beta")
    assert pane.auto_progress.text().startswith("Off")


# --- point 5 in these panes: no CLI advice ---------------------------------------------------


def test_try_it_errors_say_where_to_click_not_what_to_type(
        window: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbay.core.errors import UsageError

    answers: list[Any] = [
        ProcessResult("", False, error="cannot read /data: no such directory in the "
                      "sandbox; grant it with --grant fs-read=HOSTDIR:/data", served_by="1.0.0"),
        UsageError("is disabled", plugin_id="alpha", hint="enable it with `wasmbay enable alpha`"),
    ]

    def answer(*_: Any) -> ProcessResult:
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    monkeypatch.setattr(window.backend, "call", answer)
    click_row(window, qtbot, "alpha")
    pane = window.tryit
    open_tab(window, qtbot, pane)
    with qtbot.waitSignal(window.engine.callDone, timeout=10_000):
        click(qtbot, pane.send)
    assert "grant the folder in the Permissions tab" in pane.status.text()
    assert "--grant" not in pane.status.text()
    with qtbot.waitSignal(window.engine.callDone, timeout=10_000):
        click(qtbot, pane.send)
    assert "failed" in pane.status.text() and "Ctrl+E" in pane.status.text()
    assert "wasmbay" not in pane.status.text()


def test_selecting_another_plugin_unticks_secret_and_clears_the_config_edit(
        window: Any, qtbot: Any) -> None:
    from PySide6.QtWidgets import QLineEdit

    click_row(window, qtbot, "alpha")
    pane = window.config
    open_tab(window, qtbot, pane)
    click(qtbot, pane.key)
    qtbot.keyClicks(pane.key, "api_token")
    click(qtbot, pane.value)
    qtbot.keyClicks(pane.value, "s3cr3t")
    click(qtbot, pane.secret)
    assert pane.secret.isChecked()
    assert pane.value.echoMode() == QLineEdit.EchoMode.Password
    click_row(window, qtbot, "beta")
    assert not pane.secret.isChecked()
    assert pane.key.text() == "" and pane.value.text() == ""
    assert pane.value.echoMode() == QLineEdit.EchoMode.Normal  # beta's value is not masked
    assert window.backend.plugins["alpha"].secret_keys == ()  # nothing was stored


def test_a_failed_call_offers_grant_folder_in_try_it_and_it_opens_the_grant_flow(
        window: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbay.core.errors import GRANT_FOLDER, Fix
    from wasmbay.gui import dialogs

    answers = [ProcessResult("", False, error="cannot read /data: no such directory",
                             served_by="1.0.0", fix=Fix(GRANT_FOLDER, "/data", "read")),
               ProcessResult("OK", True, served_by="1.0.0")]
    monkeypatch.setattr(window.backend, "call", lambda *_: answers.pop(0))
    asked: list[str] = []
    monkeypatch.setattr(dialogs, "choose_directory",
                        lambda parent, title: asked.append(title) or str(tmp_path))
    click_row(window, qtbot, "alpha")
    pane = window.tryit
    open_tab(window, qtbot, pane)
    assert not pane.fix_button.isVisible()
    with qtbot.waitSignal(window.engine.callDone, timeout=10_000):
        click(qtbot, pane.send)
    qtbot.waitUntil(pane.fix_button.isVisible)
    assert pane.fix_button.text() == "Grant folder…"
    assert "/data" in pane.fix_button.toolTip()
    with qtbot.waitSignal(window.permissions.grantsRequested, timeout=10_000) as sent:
        click(qtbot, pane.fix_button)
    assert window.tabs.currentWidget() is window.permissions
    assert len(asked) == 1 and "/data" in asked[0]
    (d,) = sent.args[1].dirs
    assert (d.host, d.guest, d.writable) == (str(tmp_path), "/data", False)
    open_tab(window, qtbot, pane)  # the next call succeeds: the button goes
    with qtbot.waitSignal(window.engine.callDone, timeout=10_000):
        click(qtbot, pane.send)
    assert not pane.fix_button.isVisible()
    assert "success" in pane.status.text()
    # and another plugin never shows this plugin's fix
    answers.append(ProcessResult("", False, error="cannot read /data",
                                 fix=Fix(GRANT_FOLDER, "/data", "read")))
    with qtbot.waitSignal(window.engine.callDone, timeout=10_000):
        click(qtbot, pane.send)
    assert pane.fix_button.isVisible()
    click_row(window, qtbot, "beta")
    assert not pane.fix_button.isVisible()


def _left() -> Any:
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


# --- the real plugin manager --------------------------------------------------------------


def test_the_real_manager_automatic_rollback_progress_notice_and_previous_stable(
        real_window: Any, qtbot: Any, fixture_wasm: Build, tmp_path: Path) -> None:
    """The evidence, the notice and the previous stable version come from core itself; the
    notice of an automatic rollback goes once the CLI (another process on the same data
    folder, seen through the library watcher) rolls the plugin back."""
    from tests.core.library_fixtures import echo_variant
    from wasmbay.core.manager import PluginManager

    window, manager = real_window, real_window.manager
    manager.install(fixture_wasm("echo"))  # 1.0.0
    qtbot.waitUntil(lambda: window.model.row_of("echo") >= 0, timeout=30_000)
    click_row(window, qtbot, "echo")
    pane = window.versions
    open_tab(window, qtbot, pane)
    assert not pane.rollback.isEnabled()
    type_into(qtbot, pane.threshold, "5")
    qtbot.waitUntil(lambda: (manager.status("echo").auto_rollback or {}).get(
        "max_error_rate") == pytest.approx(0.05), timeout=30_000)

    manager.start_canary("echo", echo_variant(tmp_path, "1.0.1", "canaryyyy"), 100)
    qtbot.waitUntil(pane.promote.isEnabled, timeout=30_000)
    with qtbot.waitSignal(window.engine.done, timeout=30_000,
                          check_params_cb=lambda verb, *_: verb == "promote"):
        click(qtbot, pane.promote)
    qtbot.waitUntil(lambda: pane.rollback.text() == "Roll back to 1.0.0", timeout=30_000)

    manager.start_canary("echo", echo_variant(tmp_path, "1.0.2", "brokenxxx"), 100)
    qtbot.waitUntil(lambda: pane.slider.value() == 100 and pane.promote.isEnabled(),
                    timeout=30_000)
    assert pane.auto_progress.text().startswith("0 of 5 minimum canary calls")
    fail = [("fail", "1")]  # echo answers success=false
    for i in range(3):
        assert not manager.call("echo", "x", fail, request_id=f"c{i}").success
    qtbot.waitUntil(lambda: pane.auto_progress.text().startswith(
        "3 of 5 minimum canary calls, 3 errors (100%)"), timeout=30_000)
    assert (pane.auto_bar.value(), pane.auto_bar.maximum()) == (3, 5)
    for i in range(2):
        manager.call("echo", "x", fail, request_id=f"d{i}")
    assert manager.status("echo").canary is None  # core rolled it back on the 5th call
    qtbot.waitUntil(lambda: pane.notice.isVisible() and not pane.promote.isEnabled(),
                    timeout=30_000)
    assert pane.notice.text().startswith("Canary 1.0.2 was rolled back automatically: ")
    assert pane.slider.value() == DEFAULT_SHARE
    assert pane.rollback.text() == "Roll back to 1.0.0"

    cli = PluginManager()  # `wasmbay rollback echo` in a terminal, same data folder
    try:
        assert cli.rollback("echo") == "1.0.1"
    finally:
        cli.close()
    qtbot.waitUntil(lambda: window.selected.stable.version == "1.0.0", timeout=30_000)
    qtbot.waitUntil(lambda: not pane.notice.isVisible(), timeout=30_000)
    assert not pane.rollback.isEnabled()  # nothing older left

    manager.start_canary("echo", echo_variant(tmp_path, "1.0.3", "canaryzzz"), 20)
    qtbot.waitUntil(pane.promote.isEnabled, timeout=30_000)
    with qtbot.waitSignal(window.engine.done, timeout=30_000,
                          check_params_cb=lambda verb, *_: verb == "promote"):
        click(qtbot, pane.promote)
    qtbot.waitUntil(lambda: pane.rollback.text() == "Roll back to 1.0.0", timeout=30_000)
    with qtbot.waitSignal(window.engine.done, timeout=30_000,
                          check_params_cb=lambda verb, *_: verb == "rollback"):
        click(qtbot, pane.rollback)  # one click: the previous stable version serves again
    assert manager.status("echo").stable == "1.0.0"
    assert manager.call("echo", "y").output == "processed: y"
