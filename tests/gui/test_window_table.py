"""The plugin table and the look, driven as a user would: progress rows, columns that fit,
greyed and escaped rows, tooltips, and the dark theme's disabled, focus and popup styles."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QColor, QContextMenuEvent, QHelpEvent, QImage
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QLineEdit,
    QToolButton,
    QToolTip,
    QWidget,
)

from wasmbay.core.manager_events import COMPILING_FAST, PluginLoading, Progress
from wasmbay.core.metrics import MetricsSnapshot
from wasmbay.core.untrusted import for_html

from .fakes import FakeBackend

Build = Callable[[str], Path]
ANSI, RLO = "\x1b[2J", "\u202e"


@pytest.fixture
def theme(qapp: Any) -> Iterator[Callable[[bool], None]]:
    """``theme(dark)`` applies a stylesheet as the app does; restored after the test."""
    from wasmbay.gui.resources import set_theme

    before = qapp.styleSheet()
    yield lambda dark: set_theme(qapp, dark)
    qapp.setStyleSheet(before)
    qapp._wasmbay_dark = None


def open_window(qtbot: Any, make_engine: Any, backend: Any,
                size: tuple[int, int] = (1200, 780)) -> Any:
    from wasmbay.gui.mainwindow import MainWindow

    engine = make_engine(lambda: backend, start=False)
    win = MainWindow(engine, offer_samples=False)
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    with qtbot.waitSignal(engine.snapshots, timeout=10_000):
        engine.start()
    qtbot.waitUntil(lambda: win.model.rowCount() == len(backend.plugins))
    win.backend = backend
    return win


def cell(window: Any, pid: str, column: int, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
    row = window.model.row_of(pid)
    return window.model.index(row, column).data(role)


def view_rect(window: Any, pid: str, column: int) -> Any:
    index = window.proxy.mapFromSource(window.model.index(window.model.row_of(pid), column))
    return window.table.visualRect(index)


def _near(a: QColor, b: QColor, tolerance: int = 40) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a.getRgb()[:3], b.getRgb()[:3],
                                                        strict=True))


def lightest(image: QImage) -> float:
    return max(QColor(image.pixel(x, y)).lightnessF()
               for x in range(image.width()) for y in range(image.height()))


def test_loading_row_shows_stage_seconds_and_progress_bar(qtbot: Any, make_engine: Any) -> None:
    from wasmbay.gui.pluginmodel import Column, ProgressRole, StageRole

    backend = FakeBackend(["alpha", "beta"])
    backend.plugins["beta"] = replace(backend.plugins["beta"], state="loading", progress=0.0)
    window = open_window(qtbot, make_engine, backend)
    backend.bus.publish(PluginLoading("beta", 0.3, "compiling"))
    backend.bus.publish(Progress("beta", "load", COMPILING_FAST, 0.2, None))
    qtbot.waitUntil(lambda: str(cell(window, "beta", Column.STATE, StageRole))
                    .startswith("compiling (fast)"))
    assert cell(window, "beta", Column.STATE, ProgressRole) == pytest.approx(0.3)
    # the seconds count on their own, while nothing new arrives from the engine
    qtbot.waitUntil(lambda: cell(window, "beta", Column.STATE) == "compiling (fast) 1 s",
                    timeout=5_000)
    assert cell(window, "alpha", Column.STATE) == "ready"
    assert cell(window, "alpha", Column.STATE, StageRole) == ""
    # the delegate paints a bar: the accent chunk fills part of the beta cell only
    shot = window.table.viewport().grab().toImage()
    rect = view_rect(window, "beta", Column.STATE)
    accent = QColor("#7c5cff")

    def accent_pixels(r: Any) -> int:
        return sum(1 for x in range(r.left(), r.right()) for y in range(r.top(), r.bottom())
                   if _near(QColor(shot.pixel(x, y)), accent))

    assert accent_pixels(rect) > 20
    left = rect.adjusted(0, 0, -rect.width() // 2, 0)
    right = rect.adjusted(rect.width() // 2 + 10, 0, 0, 0)
    assert accent_pixels(left) > accent_pixels(right)  # 30%: the bar is not full


def test_sample_rows_appear_while_the_install_still_runs(
        qtbot: Any, make_engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        fixture_wasm: Build) -> None:
    """Rows come as each sample's install starts, not when the whole verb returns."""
    from wasmbay.gui.mainwindow import MainWindow
    from wasmbay.gui.managerbackend import ManagerBackend
    from wasmbay.gui.snapshots import LOADING

    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "a_echo.wasm").write_bytes(fixture_wasm("echo").read_bytes())
    (samples / "b_flood.wasm").write_bytes(fixture_wasm("log_flood").read_bytes())
    monkeypatch.setenv("WASMBAY_SAMPLES_DIR", str(samples))
    monkeypatch.setenv("WASMBAY_HOME", str(tmp_path / "home"))
    gate = threading.Event()
    installing: list[str] = []
    original = ManagerBackend._install

    def held(self: Any, preview: Any, *args: Any, **kwargs: Any) -> str:
        installing.append(preview.plugin_id)
        if len(installing) == 2:  # the second sample waits until the test has looked
            assert gate.wait(30)
        return original(self, preview, *args, **kwargs)

    monkeypatch.setattr(ManagerBackend, "_install", held)
    engine = make_engine(ManagerBackend.open, start=False)
    window = MainWindow(engine, offer_samples=False)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(engine.ready, timeout=30_000):
        engine.start()
    done: list[Any] = []
    engine.done.connect(lambda verb, *_: done.append(verb) if verb == "install_samples" else None)
    try:
        window.act_samples.trigger()
        # the second sample's row, under its plugin id (it replaced the file's row)
        qtbot.waitUntil(lambda: len(installing) == 2 and window.model.rowCount() == 2
                        and window.model.snapshot(installing[1]) is not None, timeout=30_000)
        assert not done  # the verb is still running
        second = window.model.snapshot(installing[1])
        assert second is not None and second.state == LOADING and second.stage
        assert window.model.snapshot(installing[0]) is not None
        assert window.table.isVisible()  # the user sees rows, not the empty hint
    finally:
        gate.set()
    qtbot.waitUntil(lambda: bool(done), timeout=30_000)
    qtbot.waitUntil(lambda: sorted(s.plugin_id for s in window.model.snapshots())
                    == sorted(installing), timeout=10_000)


def test_id_hidden_by_default_and_shown_from_the_header_menu(
        qtbot: Any, make_engine: Any) -> None:
    from wasmbay.gui.pluginmodel import Column

    window = open_window(qtbot, make_engine, FakeBackend(["alpha"]), size=(1600, 1000))
    header = window.table.horizontalHeader()
    assert header.isSectionHidden(Column.ID)
    assert "alpha" in cell(window, "alpha", Column.NAME, Qt.ItemDataRole.ToolTipRole)
    pos = QPoint(header.sectionViewportPosition(Column.NAME) + 10, header.height() // 2)
    QApplication.sendEvent(header.viewport(), QContextMenuEvent(
        QContextMenuEvent.Reason.Mouse, pos, header.viewport().mapToGlobal(pos)))
    menu = window.column_fitter.menu
    assert menu is not None
    qtbot.waitUntil(menu.isVisible)
    entry = next(a for a in menu.actions() if a.text() == "ID")
    assert not entry.isChecked()
    entry.trigger()
    assert not header.isSectionHidden(Column.ID)
    assert not window.table.horizontalScrollBar().isVisible()
    menu.close()


@pytest.mark.parametrize("dark", [False, True])
def test_1024x700_fits_without_horizontal_scrolling(
        qtbot: Any, make_engine: Any, theme: Any, dark: bool) -> None:
    from wasmbay.gui.pluginmodel import Column

    theme(dark)
    names = ["image-processor-with-a-long-name", "beta", "gamma", "delta"]
    window = open_window(qtbot, make_engine, FakeBackend(names), size=(1024, 700))
    qtbot.waitUntil(lambda: window.table.viewport().width() > 0)
    header = window.table.horizontalHeader()
    QApplication.processEvents()
    assert not window.table.horizontalScrollBar().isVisible()
    for column in (Column.NAME, Column.STATE, Column.CALLS, Column.ERROR_RATE):
        assert not header.isSectionHidden(column), column.name
    shown = [c for c in Column if not header.isSectionHidden(c)]
    assert sum(header.sectionSize(c) for c in shown) <= window.table.viewport().width()
    assert not window.logs.compact()  # at 1024 px the log bar's buttons keep their words
    # narrower still: Name and State stay, lower priorities give way, still no scrollbar
    window.resize(800, 560)
    qtbot.waitUntil(lambda: header.isSectionHidden(Column.P95))
    assert window.width() == 800  # nothing (a toolbar, the log bar) holds the window wider
    logs = window.logs
    qtbot.waitUntil(logs.compact)  # the log bar's actions keep their icons, not their words
    qtbot.waitUntil(lambda: logs.search.width() >= 60)  # still a field to type in
    for button in logs.bar_buttons:
        assert not button.icon().isNull() and button.toolTip() and button.accessibleName()
    for w in (logs.plugin, logs.level, logs.search, logs.pause, *logs.bar_buttons, logs.count):
        assert w.isVisible() and w.geometry().right() < logs.width(), w
    assert not logs.count.text().endswith("lines") and "lines" in logs.count.toolTip()
    assert not header.isSectionHidden(Column.NAME)
    assert not header.isSectionHidden(Column.STATE)
    assert not window.table.horizontalScrollBar().isVisible()
    # wide again: the columns come back (ID stays hidden: the user did not ask for it)
    window.resize(1600, 1000)
    qtbot.waitUntil(lambda: not header.isSectionHidden(Column.CANARY))
    assert header.isSectionHidden(Column.ID)
    qtbot.waitUntil(lambda: not logs.compact())  # room again: the buttons say what they do
    assert logs.export.text() == "Export…"
    # at the default 1200 px, p95 is on screen whole, not past the right edge
    window.resize(1200, 780)
    qtbot.waitUntil(lambda: window.table.viewport().width() < 1000)
    QApplication.processEvents()
    assert not header.isSectionHidden(Column.P95)
    right = header.sectionViewportPosition(Column.P95) + header.sectionSize(Column.P95)
    assert right <= window.table.viewport().width()
    assert not window.table.horizontalScrollBar().isVisible()


def test_changing_plugins_or_pausing_does_not_move_the_splitters(
        qtbot: Any, make_engine: Any, theme: Any) -> None:
    from PySide6.QtWidgets import QSplitter

    theme(True)
    backend = FakeBackend(["alpha", "beta"])
    backend.plugins["beta"] = replace(
        backend.plugins["beta"], state="failed",
        reason="database_url not configured " * 12, description="a long description " * 20)
    window = open_window(qtbot, make_engine, backend, size=(1024, 700))
    splitters = window.findChildren(QSplitter)

    def layout() -> list[Any]:
        return [s.sizes() for s in splitters] + [window.logs.search.geometry()]

    window.select("alpha")
    QApplication.processEvents()
    before = layout()
    window.select("beta")
    qtbot.waitUntil(lambda: window.selected is not None and window.selected.plugin_id == "beta")
    QApplication.processEvents()
    assert layout() == before
    qtbot.mouseClick(window.logs.pause, Qt.MouseButton.LeftButton)
    QApplication.processEvents()
    assert layout() == before


def test_disabled_row_is_greyed(qtbot: Any, make_engine: Any) -> None:
    from wasmbay.gui.pluginmodel import Column

    backend = FakeBackend(["alpha", "beta"])
    backend.plugins["beta"] = replace(backend.plugins["beta"], state="disabled")
    window = open_window(qtbot, make_engine, backend)
    text = window.table.palette().color(window.table.foregroundRole())
    for column in (Column.NAME, Column.STABLE, Column.CALLS):
        enabled = cell(window, "alpha", column, Qt.ItemDataRole.ForegroundRole)
        disabled = cell(window, "beta", column, Qt.ItemDataRole.ForegroundRole)
        assert disabled is not None, column.name
        assert disabled.color() != (enabled.color() if enabled is not None else text)
    # as painted: the disabled row's darkest ink (its text) is much lighter
    window.table.clearSelection()
    QApplication.processEvents()
    shot = window.table.viewport().grab().toImage()

    def darkest(pid: str, column: int) -> float:
        r = view_rect(window, pid, column)
        return min(QColor(shot.pixel(x, y)).lightnessF()
                   for x in range(r.left(), r.right()) for y in range(r.top(), r.bottom()))

    for column in (Column.NAME, Column.STABLE, Column.STATE):
        assert darkest("beta", column) > darkest("alpha", column) + 0.2, column.name


def test_failed_row_tooltip_holds_the_whole_reason_escaped(
        qtbot: Any, make_engine: Any) -> None:
    from wasmbay.gui.pluginmodel import Column

    reason = (f"database_url not configured {ANSI}red{RLO} <b>bold</b> "
              + "and the rest of a long reason " * 8 + "THE END")
    backend = FakeBackend(["alpha", f"evil{RLO}"])
    evil = f"evil{RLO}"
    backend.plugins[evil] = replace(backend.plugins[evil], state="failed", reason=reason,
                                    name=f"ev{ANSI}il{RLO}")
    window = open_window(qtbot, make_engine, backend, size=(1024, 700))
    tip = cell(window, evil, Column.STATE, Qt.ItemDataRole.ToolTipRole)
    assert tip == f"<qt>failed: {for_html(reason)}</qt>"
    assert "THE END" in tip and "\\x1b[2J" in tip and "\\u202e" in tip
    assert "\x1b" not in tip and RLO not in tip and "<b>" not in tip
    name_tip = cell(window, evil, Column.NAME, Qt.ItemDataRole.ToolTipRole)
    assert "\\u202e" in name_tip and RLO not in name_tip and "\x1b" not in name_tip
    # the cell itself is cut short; hovering it shows the whole reason
    rect = view_rect(window, evil, Column.STATE)
    shown = window.table.fontMetrics().horizontalAdvance(cell(window, evil, Column.STATE))
    assert shown > rect.width()
    viewport = window.table.viewport()
    QApplication.sendEvent(viewport, QHelpEvent(QEvent.Type.ToolTip, rect.center(),
                                                viewport.mapToGlobal(rect.center())))
    qtbot.waitUntil(QToolTip.isVisible)
    assert "THE END" in QToolTip.text() and RLO not in QToolTip.text()
    QToolTip.hideText()


def test_state_icons_and_metrics_columns(qtbot: Any, make_engine: Any) -> None:
    from wasmbay.gui.pluginmodel import Column
    from wasmbay.gui.snapshots import VersionInfo

    backend = FakeBackend(["alpha", "beta", "gamma"])
    metrics = MetricsSnapshot(1200, 12, 0, 0, 1.25, 3.5, 5.0, 1.5)
    backend.plugins["alpha"] = replace(backend.plugins["alpha"],
                                       stable=VersionInfo("1.0.0", metrics),
                                       canary=VersionInfo("2.0.0"), canary_percent=10)
    backend.plugins["beta"] = replace(backend.plugins["beta"], state="failed", reason="x")
    backend.plugins["gamma"] = replace(backend.plugins["gamma"], state="disabled")
    window = open_window(qtbot, make_engine, backend, size=(1600, 1000))
    icons = {pid: cell(window, pid, Column.STATE, Qt.ItemDataRole.DecorationRole)
             for pid in ("alpha", "beta", "gamma")}
    assert all(icon is not None and not icon.isNull() for icon in icons.values())
    images = {pid: icon.pixmap(16, 16).toImage() for pid, icon in icons.items()}
    assert len({img.pixel(8, 2) for img in images.values()}) == 3  # one colour per state
    canary = cell(window, "alpha", Column.CANARY, Qt.ItemDataRole.DecorationRole)
    assert canary is not None and not canary.isNull()
    assert cell(window, "alpha", Column.P50) == "1.2 ms"
    assert cell(window, "alpha", Column.P95) == "3.5 ms"


def test_dark_theme_disabled_toolbar_button_looks_disabled(
        qtbot: Any, make_engine: Any, theme: Any) -> None:
    theme(True)
    window = open_window(qtbot, make_engine, FakeBackend(["alpha"]))
    action = window.act_reload
    button = window.toolbar.widgetForAction(action)
    assert isinstance(button, QToolButton)
    assert not action.icon().isNull()
    action.setEnabled(True)
    QApplication.processEvents()
    enabled = button.grab().toImage()
    action.setEnabled(False)
    QApplication.processEvents()
    disabled = button.grab().toImage()
    assert enabled != disabled
    # its words and icon are dimmer than when it can be clicked
    assert lightest(disabled) < lightest(enabled) - 0.2


@pytest.mark.parametrize("dark", [False, True])
def test_focus_ring_and_combo_popup(qtbot: Any, theme: Any, dark: bool) -> None:
    theme(dark)
    host = QWidget()
    qtbot.addWidget(host)
    first, second = QLineEdit(host), QLineEdit(host)
    second.move(0, 40)
    combo = QComboBox(host)
    combo.move(0, 80)
    combo.addItems(["alpha", "beta", "gamma"])
    combo.setCurrentIndex(1)
    host.resize(240, 140)
    host.show()
    qtbot.waitExposed(host)
    host.activateWindow()
    second.setFocus()
    qtbot.waitUntil(second.hasFocus)
    unfocused = first.grab().toImage()
    first.setFocus()
    qtbot.waitUntil(first.hasFocus)
    focused = first.grab().toImage()
    assert focused != unfocused  # the focus ring shows
    assert focused.size() == unfocused.size()
    # the popup is a plain list with the current item highlighted, not a menu whose
    # current item is an empty check box
    assert combo.itemDelegate().metaObject().className() == "QComboBoxDelegate"
    combo.showPopup()
    view = combo.view()
    qtbot.waitUntil(view.isVisible)
    assert view.currentIndex().row() == 1
    rect = view.visualRect(view.currentIndex())
    shot = view.viewport().grab().toImage()
    assert _near(QColor(shot.pixel(rect.center().x() + rect.width() // 3, rect.center().y())),
                 QColor("#7c5cff"))
    combo.hidePopup()


def _ink_widths(image: QImage, left: int, top: int, right: int, bottom: int) -> list[int]:
    """Per pixel row of the box, how many pixels differ clearly from its commonest colour."""
    from collections import Counter

    pixels = [QColor(image.pixel(x, y)) for y in range(top, bottom) for x in range(left, right)]
    ground = Counter(c.rgb() for c in pixels).most_common(1)[0][0]
    widths = []
    for y in range(top, bottom):
        widths.append(sum(1 for x in range(left, right)
                          if not _near(QColor(image.pixel(x, y)), QColor(ground), 60)))
    return widths


@pytest.mark.parametrize("dark", [False, True])
def test_spin_box_arrows_are_triangles_and_the_check_box_shows(
        qtbot: Any, theme: Any, dark: bool) -> None:
    """Issue 13 point 11: arrows drawn as dashes, a dark check box nearly invisible."""
    from PySide6.QtWidgets import QCheckBox, QSpinBox, QStyle, QStyleOptionSpinBox

    theme(dark)
    host = QWidget()
    qtbot.addWidget(host)
    spin = QSpinBox(host)
    spin.setRange(0, 100)
    spin.setValue(50)  # both arrows enabled
    spin.resize(120, 28)
    check = QCheckBox("Secret", host)
    check.move(0, 40)
    host.resize(200, 80)
    host.show()
    qtbot.waitExposed(host)
    shot = spin.grab().toImage()
    option = QStyleOptionSpinBox()
    option.initFrom(spin)
    option.subControls = QStyle.SubControl.SC_All
    option.stepEnabled = spin.stepEnabled()
    for sub in (QStyle.SubControl.SC_SpinBoxUp, QStyle.SubControl.SC_SpinBoxDown):
        r = spin.style().subControlRect(QStyle.ComplexControl.CC_SpinBox, option, sub, spin)
        assert r.width() >= 10 and r.height() >= 8, sub
        rows = [w for w in _ink_widths(shot, r.left() + 2, r.top() + 1, r.right() - 1,
                                       r.bottom()) if w]
        # a triangle: several rows of ink, narrow at the tip and wide at the base
        assert len(rows) >= 3, (sub, rows)
        assert max(rows) >= min(rows) + 3, (sub, rows)
    # the unticked box's outline stands out from the window behind it
    image = check.grab().toImage()
    h = image.height()
    box = [QColor(image.pixel(x, y)).lightnessF() for x in range(0, 20) for y in range(h)]
    behind = QColor(image.pixel(image.width() - 1, h // 2)).lightnessF()
    assert max(abs(v - behind) for v in box) > 0.3


def test_stylesheet_glyphs_exist_and_icons_are_package_data() -> None:
    import re
    import tomllib

    from wasmbay.gui.resources import ICON_DIR, stylesheet

    for dark in (False, True):
        sheet = stylesheet(dark)
        assert ":disabled" in sheet and ":focus" in sheet and "::up-arrow" in sheet
        urls = re.findall(r"url\(([^)]+)\)", sheet)
        assert urls
        for url in urls:
            assert Path(url).is_file(), url
    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]["wasmbay.gui"]
    assert any(sorted(ICON_DIR.glob(p.removeprefix("icons/"))) for p in patterns)


def test_progress_events_of_a_file_being_previewed_add_no_row(qtbot: Any) -> None:
    """A preview's Progress carries the file's path: no row appears for it."""
    from wasmbay.gui.pluginmodel import PluginTableModel
    from wasmbay.gui.snapshots import PluginRow, PluginSnapshot

    model = PluginTableModel()
    assert not model.apply_event(Progress("/tmp/x.wasm", "preview", "reading", 0.0))
    assert model.rowCount() == 0
    model.apply_event(PluginRow("/tmp/x.wasm", PluginSnapshot("/tmp/x.wasm", state="loading",
                                                              stage="waiting")))
    model.apply_event(Progress("/tmp/x.wasm", "preview", COMPILING_FAST, 0.1))
    snap = model.snapshot("/tmp/x.wasm")
    assert snap is not None and snap.stage == COMPILING_FAST and 0 < snap.progress < 1
    model.apply_event(PluginRow("x", PluginSnapshot("x", state="loading"),
                                replaces="/tmp/x.wasm"))
    assert [s.plugin_id for s in model.snapshots()] == ["x"]


def test_ready_row_says_optimizing_until_the_optimized_code_serves(qtbot: Any) -> None:
    from PySide6.QtWidgets import QTableView

    from wasmbay.core.manager_events import OPTIMIZED, OPTIMIZING
    from wasmbay.gui.pluginmodel import Column, PluginTableModel, StageRole, StateDelegate
    from wasmbay.gui.snapshots import PluginSnapshot

    model = PluginTableModel()
    model.reset([PluginSnapshot("alpha", state="ready", progress=1.0)])
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setItemDelegateForColumn(Column.STATE, StateDelegate(view))
    view.resize(900, 200)
    view.show()
    index = model.index(0, Column.STATE)
    model.apply_event(Progress("alpha", "optimize", OPTIMIZING, 0.5))
    assert index.data(StageRole) == "optimizing…"
    assert index.data() == "ready"  # the state itself is unchanged
    before = view.viewport().grab().toImage()
    model.apply_event(Progress("alpha", "optimize", OPTIMIZED, 3.0, 1.0))
    assert index.data(StageRole) == ""
    QApplication.processEvents()
    assert view.viewport().grab().toImage() != before  # "· optimizing…" is gone
