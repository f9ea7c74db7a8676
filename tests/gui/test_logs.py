"""The log model and pane: ring buffer, batching, filters, pause, follow, copy, export."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtGui import QGuiApplication

from wasmbay.core.events import LogLevel, LogRecord
from wasmbay.gui.logmodel import LogBuffer, LogModel
from wasmbay.gui.widgets.logs import LogsPane


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
    qtbot.wait(50)  # give the batch timer a chance to (wrongly) run
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
    import pytest
    from PySide6.QtCore import Qt

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
