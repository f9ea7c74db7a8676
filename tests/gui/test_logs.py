"""The log model and pane: ring buffer, batching, filters, pause, follow, copy, export."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from wasmbay.core.events import LogLevel, LogRecord
from wasmbay.gui.logmodel import LogBuffer, LogModel
from wasmbay.gui.widgets.logs import LogsPane

from . import test_window_real as real


def rec(pid: str, msg: str, level: LogLevel = LogLevel.INFO) -> LogRecord:
    return LogRecord(pid, level, msg)


def test_ring_buffer_keeps_the_last_capacity_rows(qtbot: Any) -> None:
    model = LogModel(capacity=100, interval_ms=10)
    for i in range(250):
        model.add(rec("a", f"line {i}"))
    with qtbot.waitSignal(model.appended):
        pass
    assert model.rowCount() == 100
    assert model.record(0).message == "line 150"
    assert model.record(99).message == "line 249"
    model.stop()


def test_buffer_is_bounded_while_paused(qtbot: Any) -> None:
    buf = LogBuffer(maxlen=50)
    model = LogModel(buf, capacity=50, interval_ms=10)
    model.set_paused(True)
    for i in range(500):
        model.add(rec("a", f"{i}"))
    assert len(buf) == 50 and buf.dropped == 450
    assert model.rowCount() == 0
    with qtbot.waitSignal(model.appended):
        model.set_paused(False)
    assert model.rowCount() == 50
    model.stop()


def test_pane_filters_pauses_copies_and_exports(qtbot: Any, tmp_path: Path) -> None:
    model = LogModel(interval_ms=10)
    pane = LogsPane(model)
    qtbot.addWidget(pane)
    pane.set_plugins(["a", "b"])
    for r in (rec("a", "alpha info"), rec("b", "beta warn", LogLevel.WARN),
              rec("a", "alpha error", LogLevel.ERROR), rec("b", "beta debug", LogLevel.DEBUG)):
        model.add(r)
    qtbot.waitUntil(lambda: model.rowCount() == 4)
    assert pane.proxy.rowCount() == 4

    pane.show_plugin("a")
    assert [r.message for r in pane.proxy.visible_records()] == ["alpha info", "alpha error"]
    pane.show_plugin(None)
    pane.level.setCurrentIndex(pane.level.findData(int(LogLevel.WARN)))
    assert [r.message for r in pane.proxy.visible_records()] == ["beta warn", "alpha error"]
    pane.level.setCurrentIndex(0)
    qtbot.keyClicks(pane.search, "ALPHA")
    assert pane.proxy.rowCount() == 2
    pane.search.clear()

    pane.pause.click()
    assert model.paused and pane.pause.text() == "Resume"
    model.add(rec("a", "while paused"))
    assert model.flush() == 0  # what the batch timer does: nothing while paused
    assert model.rowCount() == 4
    with qtbot.waitSignal(model.appended):
        pane.pause.click()
    assert model.rowCount() == 5

    pane.copy.click()
    assert "while paused" in QGuiApplication.clipboard().text()
    out = tmp_path / "logs.txt"
    assert pane.export_to(str(out)) == 5
    assert "beta warn" in out.read_text()
    model.stop()


def test_flood_is_batched(qtbot: Any) -> None:
    """10,000 lines from another thread arrive in a few batches, not 10,000 updates."""
    model = LogModel(interval_ms=50)
    pane = LogsPane(model)
    qtbot.addWidget(pane)
    batches: list[int] = []
    model.appended.connect(batches.append)

    def flood() -> None:
        for i in range(10_000):
            model.add(rec("flood", f"line {i}"))

    t = threading.Thread(target=flood)
    start = time.perf_counter()
    t.start()
    t.join()
    qtbot.waitUntil(lambda: sum(batches) == 10_000, timeout=10_000)
    assert len(batches) < 100, batches
    assert time.perf_counter() - start < 10
    model.stop()


def test_a_trap_row_shows_its_backtrace_on_hover(qtbot: Any, runtime: Any) -> None:
    """A real trap (the C conformance sample's `trap`): its log row's tooltip holds every
    wasm frame, so the window shows where the plugin crashed."""
    from wasmbay.authoring import build_project
    from wasmbay.core.errors import PluginTrapError

    built = build_project(Path(__file__).resolve().parents[2] / "plugins" / "conformance" / "c",
                          wit=1)
    model = LogModel(interval_ms=10)
    unsubscribe = runtime.bus.subscribe(model.add, LogRecord)
    plugin = runtime.load(built[0].path, plugin_id="gui-trap")
    try:
        with pytest.raises(PluginTrapError):
            plugin.process("trap")
    finally:
        plugin.close()
        unsubscribe()
    qtbot.waitUntil(lambda: any("trapped" in r.message for r in model.records()))
    row = next(i for i, r in enumerate(model.records()) if "trapped" in r.message)
    index = model.index(row, 0)
    assert "in conformance_trap ← process" in model.data(index, Qt.ItemDataRole.DisplayRole)
    tip = model.data(index, Qt.ItemDataRole.ToolTipRole)
    assert tip.splitlines()[:3] == ["wasm backtrace (innermost first):", "  0: abort",
                                    "  1: conformance_trap"]
    loaded = next(i for i, r in enumerate(model.records()) if "loaded" in r.message)
    assert model.data(model.index(loaded, 0), Qt.ItemDataRole.ToolTipRole) is None
    model.stop()


# --- issue 13 point 8: follow, counter, long lines, export, failed requests, keyboard ------

@pytest.fixture
def shown(qtbot: Any) -> Iterator[tuple[LogModel, LogsPane]]:
    """A pane on screen (offscreen), as tall as a log pane in the window."""
    model = LogModel(interval_ms=10)
    pane = LogsPane(model)
    qtbot.addWidget(pane)
    pane.resize(900, 400)
    pane.show()
    qtbot.waitExposed(pane)
    yield model, pane
    model.stop()


def feed(qtbot: Any, model: LogModel, records: list[LogRecord]) -> None:
    """Queue records as the engine does and wait for the batch timer to show them."""
    want = model.rowCount() + len(records)
    for r in records:
        model.add(r)
    qtbot.waitUntil(lambda: model.rowCount() == want)


def mixed(n: int, start: int = 0) -> list[LogRecord]:
    """Lines of plugins a and b, a third of them warnings, now and then a long one."""
    return [rec("ab"[i % 2], f"line {i}" + (" and a long tail" * 20 if i % 7 == 0 else ""),
                LogLevel.WARN if i % 3 == 0 else LogLevel.INFO)
            for i in range(start, start + n)]


def newest_line_whole(pane: LogsPane) -> bool:
    """The scrollbar is at its end and the last shown line is entirely in the viewport."""
    rows = pane.proxy.rowCount()
    bar = pane.view.verticalScrollBar()
    if rows == 0:
        return True
    last = pane.view.visualRect(pane.proxy.index(rows - 1, 0))
    return bool(bar.value() == bar.maximum() and last.isValid() and last.height() > 0
                and pane.view.viewport().rect().contains(last))


def test_follow_survives_level_and_plugin_filters(shown: tuple[LogModel, LogsPane],
                                                  qtbot: Any) -> None:
    model, pane = shown
    pane.set_plugins(["a", "b"])
    feed(qtbot, model, mixed(400))
    assert newest_line_whole(pane) and pane.view.verticalScrollBar().maximum() > 0

    pane.level.setFocus()
    for _ in range(3):  # trace → debug → info → warn, with the keyboard
        qtbot.keyClick(pane.level, Qt.Key.Key_Down)
    assert pane.level.currentData() == int(LogLevel.WARN)
    assert 0 < pane.proxy.rowCount() < model.rowCount()
    assert pane.follow.isChecked() and newest_line_whole(pane)  # not the oldest lines
    feed(qtbot, model, mixed(60, 400))
    assert pane.follow.isChecked() and newest_line_whole(pane)

    pane.plugin.setFocus()
    qtbot.keyClick(pane.plugin, Qt.Key.Key_Down)  # All plugins → a
    assert pane.plugin.currentData() == "a"
    assert newest_line_whole(pane)
    feed(qtbot, model, mixed(60, 460))
    assert pane.proxy.visible_records()[-1].message.startswith("line 516")  # a, warn
    assert pane.follow.isChecked() and newest_line_whole(pane)


def test_follow_survives_clearing_the_search(shown: tuple[LogModel, LogsPane],
                                             qtbot: Any) -> None:
    model, pane = shown
    feed(qtbot, model, mixed(400))
    qtbot.keyClicks(pane.search, "line 1")
    assert 0 < pane.proxy.rowCount() < 400 and newest_line_whole(pane)
    qtbot.keyClick(pane.search, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(pane.search, Qt.Key.Key_Backspace)
    assert pane.search.text() == "" and pane.proxy.rowCount() == 400
    assert pane.follow.isChecked() and newest_line_whole(pane)
    feed(qtbot, model, mixed(50, 400))
    assert pane.follow.isChecked() and newest_line_whole(pane)


def test_pause_and_resume_keep_following_and_the_toolbar_still(
        shown: tuple[LogModel, LogsPane], qtbot: Any) -> None:
    model, pane = shown
    feed(qtbot, model, mixed(300))
    pane.layout().activate()
    before = [(w.x(), w.width()) for w in (pane.search, pane.pause, pane.follow, pane.copy,
                                          pane.count)]
    qtbot.mouseClick(pane.pause, Qt.MouseButton.LeftButton)
    assert model.paused and pane.pause.text() == "Resume"
    pane.layout().activate()
    assert [(w.x(), w.width()) for w in (pane.search, pane.pause, pane.follow, pane.copy,
                                         pane.count)] == before
    for r in mixed(100, 300):
        model.add(r)
    assert model.flush() == 0 and model.rowCount() == 300  # the view stands still
    qtbot.mouseClick(pane.pause, Qt.MouseButton.LeftButton)  # Resume: the lines arrive
    assert model.rowCount() == 400 and pane.pause.text() == "Pause"
    assert pane.follow.isChecked() and newest_line_whole(pane)
    feed(qtbot, model, mixed(50, 400))
    assert newest_line_whole(pane)


def test_scrolling_up_stops_following_and_the_end_resumes_it(
        shown: tuple[LogModel, LogsPane], qtbot: Any) -> None:
    from PySide6.QtWidgets import QAbstractSlider

    model, pane = shown
    feed(qtbot, model, mixed(300))
    bar = pane.view.verticalScrollBar()
    bar.triggerAction(QAbstractSlider.SliderAction.SliderPageStepSub)  # the user pages up
    assert not pane.follow.isChecked()
    reading = bar.value()
    feed(qtbot, model, mixed(50, 300))
    assert bar.value() == reading  # the line being read stays put
    bar.triggerAction(QAbstractSlider.SliderAction.SliderToMaximum)
    assert pane.follow.isChecked()
    feed(qtbot, model, mixed(50, 350))
    assert newest_line_whole(pane)


def test_the_counter_says_how_many_lines_the_filter_shows(shown: tuple[LogModel, LogsPane],
                                                          qtbot: Any) -> None:
    model, pane = shown
    pane.set_plugins(["a", "b"])
    feed(qtbot, model, [rec("a", "alpha one"), rec("b", "beta", LogLevel.WARN),
                        rec("a", "alpha two", LogLevel.ERROR), rec("b", "beta debug",
                                                                   LogLevel.DEBUG)])
    assert pane.count.text() == "4 lines"
    qtbot.keyClicks(pane.search, "alpha")
    assert pane.count.text() == "2 of 4 lines"
    feed(qtbot, model, [rec("b", "hidden by the search")])
    assert pane.count.text() == "2 of 5 lines"
    pane.search.clear()
    pane.level.setCurrentIndex(pane.level.findData(int(LogLevel.WARN)))
    assert pane.count.text() == "2 of 5 lines"
    pane.level.setCurrentIndex(0)
    assert pane.count.text() == "5 lines"
    qtbot.mouseClick(pane.clear, Qt.MouseButton.LeftButton)
    assert pane.count.text() == "0 lines"


def _ink_rows(image: Any, top: int, bottom: int, left: int, right: int) -> int:
    """How many pixel rows between top and bottom hold something other than background."""
    background = image.pixelColor(right, top)
    return sum(any(image.pixelColor(x, y) != background for x in range(left, right, 2))
               for y in range(top, bottom))


def test_a_2000_character_line_is_readable_whole(qtbot: Any) -> None:
    import math

    from PySide6.QtGui import QFontMetrics

    model = LogModel(interval_ms=10)
    pane = LogsPane(model)
    qtbot.addWidget(pane)
    pane.resize(1200, 700)
    pane.show()
    qtbot.waitExposed(pane)
    blob = "".join(chr(ord("a") + i % 26) for i in range(2000))  # one word: breaks anywhere
    words = " ".join(f"word{i:04d}" for i in range(220))  # wraps at spaces
    feed(qtbot, model, [rec("a", "short"), rec("a", blob), rec("a", words), rec("a", "end")])
    view = pane.view
    fm = QFontMetrics(view.font())
    per_line = view.viewport().width() // fm.horizontalAdvance("x")
    short = view.visualRect(pane.proxy.index(0, 0))
    assert short.height() < 2 * fm.lineSpacing()
    for row, text in ((1, blob), (2, words)):
        index = pane.proxy.index(row, 0)
        shown_text = index.data()
        assert shown_text.endswith(text)  # the whole line, not a cut one
        rect = view.visualRect(index)
        needed = math.ceil(len(shown_text) / per_line)
        assert needed > 10 and rect.height() >= needed * fm.lineSpacing()
        assert rect.width() <= view.viewport().width()  # nothing to scroll sideways for
    # the text is painted down to the row's last line
    pane.follow.setChecked(False)
    view.scrollTo(pane.proxy.index(1, 0), view.ScrollHint.PositionAtTop)
    rect = view.visualRect(pane.proxy.index(1, 0))
    image = view.viewport().grab().toImage()
    last_line_top = rect.bottom() - fm.lineSpacing()
    assert _ink_rows(image, last_line_top, rect.bottom(), rect.left(), rect.right() - 2) > 3

    # an 800 px window: the toolbar still fits and the line wraps into more lines
    tall = rect.height()
    pane.resize(780, 700)
    assert pane.minimumSizeHint().width() <= 780
    qtbot.waitUntil(lambda: view.visualRect(pane.proxy.index(1, 0)).height() > tall * 1.3)
    model.stop()


def test_following_20000_lines_with_long_ones_stays_fast(shown: tuple[LogModel, LogsPane],
                                                         qtbot: Any) -> None:
    """Appends at the ring buffer's capacity and scrolling cost a few rows, not 20,000."""
    model, pane = shown
    long_text = "payload " * 80
    model.extend(rec("a", long_text if i % 25 == 0 else f"line {i}") for i in range(20_000))
    assert newest_line_whole(pane)
    appends = []
    for k in range(5):
        start = time.perf_counter()
        model.extend(rec("b", long_text if i % 25 == 0 else f"more {k} {i}")
                     for i in range(200))
        pane.view.viewport().repaint()
        appends.append(time.perf_counter() - start)
    assert model.rowCount() == 20_000 and newest_line_whole(pane)
    bar = pane.view.verticalScrollBar()
    scrolls = []
    for k in range(10):
        start = time.perf_counter()
        bar.setValue(bar.maximum() * k // 10)
        pane.view.viewport().repaint()
        scrolls.append(time.perf_counter() - start)
    assert sorted(appends)[2] < 0.1, appends
    assert sorted(scrolls)[5] < 0.05, scrolls


def test_exported_lines_carry_date_time_level_plugin_and_escaped_text(
        shown: tuple[LogModel, LogsPane], qtbot: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime
    import re

    from wasmbay.gui import dialogs

    model, pane = shown
    when = datetime.datetime(2024, 2, 29, 23, 59, 58, 250_000, tzinfo=datetime.UTC)
    feed(qtbot, model, [
        LogRecord("a", LogLevel.WARN, "first\nforged line", version="1.2.3",
                  time=when.timestamp()),
        LogRecord("b", LogLevel.ERROR, "trapped", source="host", time=when.timestamp() + 1)])
    out = tmp_path / "exported.log"
    monkeypatch.setattr(dialogs, "choose_save_file", lambda *a: str(out))
    with qtbot.waitSignal(pane.exported):
        qtbot.mouseClick(pane.export, Qt.MouseButton.LeftButton)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    stamp = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d)"
    first = re.fullmatch(stamp + r" WARN  \[a 1\.2\.3\] first\\nforged line", lines[0])
    second = re.fullmatch(stamp + r" ERROR \[b\] host: trapped", lines[1])
    assert first and second, lines
    assert datetime.datetime.fromisoformat(first.group(1)) == when  # the instant, any zone
    assert datetime.datetime.fromisoformat(second.group(1)) == when + datetime.timedelta(
        seconds=1)


def test_tab_reaches_the_filters_search_and_lines(shown: tuple[LogModel, LogsPane],
                                                  qtbot: Any) -> None:
    from PySide6.QtWidgets import QApplication

    model, pane = shown
    feed(qtbot, model, mixed(20))
    pane.activateWindow()
    pane.focus_logs()
    qtbot.waitUntil(pane.search.hasFocus)

    def tab(key: Qt.Key = Qt.Key.Key_Tab) -> Any:
        qtbot.keyClick(QApplication.focusWidget(), key)
        return QApplication.focusWidget()

    assert [tab() for _ in range(6)] == [pane.pause, pane.follow, pane.copy, pane.export,
                                         pane.clear, pane.view]
    assert tab() is not pane.view  # Tab leaves the lines instead of walking them
    pane.focus_logs()
    assert [tab(Qt.Key.Key_Backtab) for _ in range(2)] == [pane.level, pane.plugin]


# the real-backend window of tests/gui/test_window_real.py (same fixture, same helpers)
window = real.window


def _unreachable_variant(out_dir: Path, version: str) -> Path:
    """The `unreachable` fixture (process traps) as another version."""
    import subprocess

    from tests.fixtures.build import WAT_DIR, wasm_tools

    src = out_dir / f"unreachable-{version}.wat"
    src.write_text((WAT_DIR / "unreachable.wat").read_text().replace('"1.0.0"', f'"{version}"'))
    out = src.with_suffix(".wasm")
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True)
    return out


def test_every_failed_request_leaves_one_log_line_in_the_window(
        window: Any, qtbot: Any, fixture_wasm: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A trapping canary: a call from Try it and 100 calls through the manager each leave
    exactly one line (plugin, version, request, reason) in the window's log, not two."""
    from wasmbay.core import errors as E

    real.install(window, qtbot, monkeypatch, fixture_wasm("echo"))
    qtbot.waitUntil(lambda: "echo" in real.row_ids(window), timeout=30_000)
    manager = window.backends[0].manager
    manager.start_canary("echo", _unreachable_variant(tmp_path, "1.0.1"), 100)
    assert window.select("echo")
    qtbot.waitUntil(lambda: manager.status("echo").canary == "1.0.1", timeout=30_000)

    real.try_it(window, qtbot, "from the window")
    for i in range(100):
        with pytest.raises(E.PluginTrapError):
            manager.call("echo", "x", request_id=f"canary-{i}")

    def trap_lines() -> list[LogRecord]:
        return [r for r in window.log_model.records() if "trapped" in r.message]

    qtbot.waitUntil(lambda: len(trap_lines()) >= 101, timeout=30_000)
    lines = trap_lines()
    assert len(lines) == 101  # one line per failed request, no second "fresh instance" one
    assert {(r.plugin_id, r.version, r.source) for r in lines} == {("echo", "1.0.1", "host")}
    assert all("failed (trap)" in r.message and "unreachable" in r.message for r in lines)
    assert [r.message.split("'")[1] for r in lines[1:]] == [f"canary-{i}" for i in range(100)]
    assert lines[0].details.startswith("wasm backtrace")  # the row's tooltip shows where
    shown = [window.logs.proxy.line(r) for r in range(window.logs.proxy.rowCount())]
    assert sum("[echo 1.0.1] host: request 'canary-" in line for line in shown) == 100
