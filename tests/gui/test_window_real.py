"""The window driven as a user would, over the real plugin manager and real plugins."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Build = Callable[[str], Path]


@pytest.fixture
def window(real_window: Any) -> Any:
    return real_window


def install(window: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch, path: Path,
            tick: tuple[str, ...] = ()) -> None:
    from wasmbay.gui import dialogs

    monkeypatch.setattr(dialogs, "choose_plugin_files", lambda parent: [str(path)])
    with qtbot.waitSignal(window.consentShown, timeout=30_000) as shown:
        window.act_install.trigger()
    dialog = shown.args[0]
    for text in tick:
        box = dialog.request_checkbox(text)
        assert box is not None and not box.isChecked()
        box.click()
    dialog.accept()


def row_ids(window: Any) -> list[str]:
    return [snap.plugin_id for snap in window.model.snapshots()]


def try_it(window: Any, qtbot: Any, text: str) -> str:
    pane = window.tryit
    pane.input.setPlainText(text)
    pane.output.setPlainText("")
    pane.status.setText("")
    before = ""
    with qtbot.waitSignal(window.engine.callDone, timeout=30_000):
        pane.send.click()
    qtbot.waitUntil(lambda: bool(pane.output.toPlainText() != before or pane.status.text()))
    return str(pane.output.toPlainText())


def test_install_through_the_dialog_ends_in_the_table(window: Any, qtbot: Any,
                                                      fixture_wasm: Build,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    install(window, qtbot, monkeypatch, fixture_wasm("echo_v2"), tick=("network",))
    # the row shows at once (installing); the record exists once the install is done
    qtbot.waitUntil(lambda: "echo" in row_ids(window)
                    and window.model.snapshot("echo").state == "ready", timeout=30_000)
    rec = window.backends[0].manager.record("echo")
    assert rec.grants.network and not rec.grants.dirs  # only what was ticked


def test_the_dialog_installs_the_file_it_showed_even_if_it_changed_since(
        window: Any, qtbot: Any, fixture_wasm: Build, tmp_path: Path) -> None:
    """The offer the user consented to carries core's checked preview to install."""
    path = tmp_path / "plugin.wasm"
    path.write_bytes(fixture_wasm("echo").read_bytes())
    with qtbot.waitSignal(window.consentShown, timeout=30_000) as shown:
        window.install_file(str(path))
    dialog = shown.args[0]
    offer = dialog.preview
    path.write_bytes(fixture_wasm("echo_v2").read_bytes())  # swapped behind the dialog
    with qtbot.waitSignal(window.engine.done, timeout=30_000,
                          check_params_cb=lambda cmd, *_: cmd == "install"):
        dialog.accept()
    rec = window.backends[0].manager.record(offer.plugin_id)
    assert rec.stable == offer.version
    assert rec.versions[rec.stable].sha256 == offer.sha256


def test_a_cancelled_preview_fails_as_cancelled_and_opens_no_consent_dialog(
        window: Any, qtbot: Any, fixture_wasm: Build) -> None:
    """Issue 12 point 7: the engine side of the Cancel button (the window adds it later)."""
    import threading

    from wasmbay.core.events import Event
    from wasmbay.core.manager_events import READING, Progress
    from wasmbay.core.progress import CancelToken

    pressed = threading.Event()

    def hold_at_reading(e: Event) -> None:  # engine thread: wait for the user's cancel
        if isinstance(e, Progress) and e.stage == READING:
            pressed.wait(10)

    window.backends[0].manager.subscribe(hold_at_reading, Progress)
    shown: list[object] = []
    window.consentShown.connect(shown.append)
    failures: list[Any] = []
    with qtbot.waitSignal(window.engine.failed, timeout=30_000) as failed:
        pending = window.engine.run(lambda b: b.preview, str(fixture_wasm("echo")),
                                    cancel=CancelToken())
        pending.then(window.show_consent, failures.append)
        assert pending.cancellable and pending.cancel()
        pressed.set()
    failure = failed.args[0]
    assert failure.cancelled and failure.command == "preview"
    assert failures == [failure]
    assert "cancelled" in failure.message
    assert shown == [] and window.consent is None
    assert window.backends[0].manager.ids() == []
    # an ordinary failure is not a cancel
    with qtbot.waitSignal(window.engine.failed, timeout=30_000) as other:
        window.engine.run(lambda b: b.uninstall, "missing")
    assert not other.args[0].cancelled


def test_permission_checkbox_changes_what_the_plugin_can_read(
        window: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from plugins.build import build_test_plugin
    from wasmbay.gui import dialogs

    box_dir = tmp_path / "box"
    box_dir.mkdir()
    (box_dir / "note.txt").write_text("granted through the window")
    install(window, qtbot, monkeypatch, build_test_plugin("sleeper"))
    qtbot.waitUntil(lambda: "sleeper" in row_ids(window), timeout=60_000)
    assert window.select("sleeper")
    assert "granted" not in try_it(window, qtbot, "read:/data/note.txt")

    monkeypatch.setattr(dialogs, "choose_directory", lambda *a: str(box_dir))
    window.permissions.guest_edit.setText("/data")
    window.permissions.add_dir.click()
    manager = window.backends[0].manager
    qtbot.waitUntil(lambda: any(d.guest == "/data" for d in manager.record("sleeper").grants.dirs),
                    timeout=30_000)
    assert try_it(window, qtbot, "read:/data/note.txt") == "granted through the window"

    box = window.permissions.dir_checkbox("/data")
    assert box is not None and box.isChecked()
    box.click()  # untick: the plugin loses the folder at once
    qtbot.waitUntil(lambda: not manager.record("sleeper").grants.dirs, timeout=30_000)
    assert "granted" not in try_it(window, qtbot, "read:/data/note.txt")


def test_promote_and_rollback_change_which_version_answers(
        window: Any, qtbot: Any, fixture_wasm: Build, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.core.library_fixtures import echo_variant

    install(window, qtbot, monkeypatch, fixture_wasm("echo"))
    qtbot.waitUntil(lambda: "echo" in row_ids(window), timeout=30_000)
    manager = window.backends[0].manager
    manager.start_canary("echo", echo_variant(tmp_path, "1.0.1", "canaryyyy"), 100)
    assert window.select("echo")
    qtbot.waitUntil(window.versions.promote.isEnabled, timeout=30_000)
    assert try_it(window, qtbot, "x") == "canaryyyy: x"
    window.versions.promote.click()  # one click: the canary becomes stable
    qtbot.waitUntil(lambda: manager.status("echo").stable == "1.0.1", timeout=30_000)
    manager.start_canary("echo", echo_variant(tmp_path, "1.0.2", "brokenxxx"), 100)
    # (Rollback is enabled already: without a canary it goes back to the previous stable)
    qtbot.waitUntil(window.versions.promote.isEnabled, timeout=30_000)
    assert try_it(window, qtbot, "y") == "brokenxxx: y"
    window.versions.rollback.click()  # one click: back to the promoted version
    qtbot.waitUntil(lambda: manager.status("echo").canary is None, timeout=30_000)
    assert try_it(window, qtbot, "z") == "canaryyyy: z"


def test_a_plugin_log_line_appears_in_the_log_view(window: Any, qtbot: Any,
                                                   fixture_wasm: Build,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    install(window, qtbot, monkeypatch, fixture_wasm("echo"))
    qtbot.waitUntil(lambda: "echo" in row_ids(window), timeout=30_000)
    qtbot.waitUntil(lambda: any(r.message == "echo initialized"
                                for r in window.log_model.records()), timeout=30_000)


def test_config_pane_stores_secrets_in_the_keyring(window: Any, qtbot: Any,
                                                   fixture_wasm: Build, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyring.backends import fail

    if isinstance(keyring.get_keyring(), fail.Keyring):
        pytest.skip("no Secret Service: run through scripts/keyring-session.sh")
    install(window, qtbot, monkeypatch, fixture_wasm("echo"))
    qtbot.waitUntil(lambda: "echo" in row_ids(window), timeout=30_000)
    assert window.select("echo")
    pane = window.config
    pane.key.setText("token")
    pane.value.setText("gui-s3cret-value")
    pane.secret.setChecked(True)
    with qtbot.waitSignal(window.engine.done, timeout=30_000):
        pane.set_button.click()
    qtbot.waitUntil(lambda: pane.model.rowCount() == 1, timeout=30_000)
    assert pane.model.index(0, 1).data() == "••••••••"
    manager = window.backends[0].manager
    assert manager.record("echo").secret_keys == ["token"]
    assert manager.secrets.get("echo", "token") == "gui-s3cret-value"
    for path in (tmp_path / "home").rglob("*"):
        if path.is_file():
            assert b"gui-s3cret-value" not in path.read_bytes(), path
    manager.uninstall("echo")


def test_an_authors_build_appears_in_the_open_window_and_each_edit_answers(
        window: Any, qtbot: Any, tmp_path: Path) -> None:
    """`wasmbay new` -> `wasmbay build --install` in a terminal -> the window shows it live."""
    import os
    import subprocess
    import sys

    from wasmbay.authoring import new_project

    project = new_project("greeter", "c", 1, tmp_path)
    env = {**os.environ, "WASMBAY_HOME": str(tmp_path / "home")}

    def build_install() -> None:
        out = subprocess.run([sys.executable, "-m", "wasmbay", "build", str(project),
                              "--install"], capture_output=True, text=True, env=env,
                             timeout=300)
        assert out.returncode == 0, out.stderr

    build_install()
    qtbot.waitUntil(lambda: "greeter" in row_ids(window), timeout=30_000)
    manager = window.backends[0].manager
    qtbot.waitUntil(lambda: manager.status("greeter").state == "ready", timeout=30_000)
    assert window.select("greeter")
    assert try_it(window, qtbot, "world") == "Hello, world!"

    source = project / "plugin.c"
    source.write_text(source.read_text().replace('"%s, %s!"', '"%s again, %s!"'))
    build_install()
    answers: list[tuple[bool, str]] = []

    def updated() -> bool:  # the running version answers until the new one is ready
        result = manager.call("greeter", "world")
        answers.append((result.success, result.output))
        return bool(result.output == "Hello again, world!")

    qtbot.waitUntil(updated, timeout=60_000)
    assert all(ok for ok, _ in answers), answers
    assert {out for _, out in answers} <= {"Hello, world!", "Hello again, world!"}
    assert try_it(window, qtbot, "world") == "Hello again, world!"
