"""The live log view: pick plugin and level, search, pause, follow, copy, export.

Long lines wrap (at word boundaries, or anywhere in a long word such as base64), so a
2,000-character line is readable whole. A wrapping QListView lays out every row again
on each insert (seconds at 20,000 rows), so the view is a one-column QTableView: a row's
height lives in the vertical header, appends and drops touch only their own rows, and
only lines longer than the view is wide are measured.

Follow means "stay on the newest line": after every append, drop, filter change, clear,
resume or resize the view scrolls to its very end (the last line fully visible). Only
the user moving the view (wheel, scrollbar, keys) turns follow off, and moving back to
the end turns it on again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QFont,
    QFontDatabase,
    QFontMetrics,
    QGuiApplication,
    QKeySequence,
    QPainter,
    QPalette,
    QResizeEvent,
    QTextLayout,
    QTextOption,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from wasmbay.core.events import LogLevel

from .. import dialogs
from ..logmodel import LogFilterProxy, LogModel, format_export
from ..resources import action_icon

ALL_PLUGINS = "All plugins"

#: Space around a row's text, in pixels.
H_MARGIN = 4
V_MARGIN = 1
#: The widest counter the label must hold without the toolbar moving.
_WIDEST_COUNT = "20,000 of 20,000 lines"
#: The same without its unit, while the bar is short of room (the tooltip says "lines").
_WIDEST_SHORT_COUNT = "20,000 of 20,000"


def _wrapped(text: str, font: QFont, width: int, line_height: int) -> QTextLayout:
    """``text`` laid out in lines at most ``width`` wide, ``line_height`` apart; a word
    longer than a line is broken anywhere."""
    layout = QTextLayout(text, font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout.setTextOption(option)
    layout.beginLayout()
    y = 0
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(max(1, width))
        line.setPosition(QPointF(0, y))
        y += line_height
    layout.endLayout()
    return layout


class WrapDelegate(QStyledItemDelegate):
    """Paints a row's text wrapped to the column width, in the row's level colour."""

    def __init__(self, view: LogView) -> None:
        super().__init__(view)
        self._view = view

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text = opt.text  # type: ignore[attr-defined]
        opt.text = ""  # type: ignore[attr-defined]
        widget = opt.widget  # type: ignore[attr-defined]
        style = widget.style() if widget is not None else None
        if style is not None:  # background, selection, focus: as any item view row
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        rect = opt.rect  # type: ignore[attr-defined]
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        brush = index.data(Qt.ItemDataRole.ForegroundRole)
        palette = opt.palette  # type: ignore[attr-defined]
        if selected:
            color = palette.color(QPalette.ColorRole.HighlightedText)
        elif brush is not None:
            color = brush.color()
        else:
            color = palette.color(QPalette.ColorRole.Text)
        layout = _wrapped(text, self._view.font(), rect.width() - 2 * H_MARGIN,
                          self._view.line_height)
        painter.save()
        painter.setClipRect(rect)
        painter.setPen(color)
        layout.draw(painter, QPointF(rect.left() + H_MARGIN, rect.top() + V_MARGIN))
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem,
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        text = str(index.data() or "")
        return QSize(option.rect.width(),  # type: ignore[attr-defined]
                     self._view.row_height(text))


class LogView(QTableView):
    """One wrapped log line per row; rows are as tall as their wrapped text."""

    #: The text column's width changed (rows must be measured again).
    widthChanged = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._width = -1
        #: Heights of wrapped rows by record serial, valid at ``_heights_width``.
        self._heights: dict[int, int] = {}
        self._heights_width = -1
        self.line_height = self.single_height = self._ascii_advance = 1
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setItemDelegate(WrapDelegate(self))
        self.setShowGrid(False)
        self.setWordWrap(True)
        self.setCornerButtonEnabled(False)
        self.setTabKeyNavigation(False)  # Tab leaves the log; arrows move between lines
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # always shown: a scrollbar that comes and goes would change the width, re-wrap
        # every long line and move the text under the reader's eyes
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.horizontalHeader().hide()
        self.horizontalHeader().setStretchLastSection(True)
        rows = self.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # sized by measure()
        rows.setMinimumSectionSize(1)
        self._font_changed()

    def _font_changed(self) -> None:
        fm = QFontMetrics(self.font())
        self.line_height = fm.lineSpacing()
        self.single_height = self.line_height + 2 * V_MARGIN
        #: No ASCII character is wider than this (exact for a fixed-width font).
        self._ascii_advance = max(fm.horizontalAdvance(c) for c in "MW@%#m_")
        self.verticalHeader().setDefaultSectionSize(self.single_height)

    def text_width(self) -> int:
        return max(1, self.viewport().width() - 2 * H_MARGIN)

    def row_height(self, text: str) -> int:
        """The height of a row showing ``text`` at the current width (cheap for a line
        that fits: only longer ones are laid out)."""
        width = self.text_width()
        fits = len(text) * self._ascii_advance
        if fits <= width if text.isascii() else 2 * fits <= width:
            return self.single_height
        return self._wrapped_height(text, width)

    def _wrapped_height(self, text: str, width: int) -> int:
        layout = _wrapped(text, self.font(), width, self.line_height)
        return max(1, layout.lineCount()) * self.line_height + 2 * V_MARGIN

    def measure(self, first: int = 0, last: int | None = None, *, fresh: bool = False) -> None:
        """Give rows ``first``..``last`` (all by default) the height of their text;
        ``fresh`` rows were just inserted (they have the default height). Called for every
        batch of a log flood and after each filter change, hence the inlined test for
        lines that fit and the heights of wrapped lines kept per record and width."""
        model = self.model()
        if not isinstance(model, LogFilterProxy):
            return
        end = model.rowCount() - 1 if last is None else last
        header = self.verticalHeader()
        resize, size = header.resizeSection, header.sectionSize
        single, width, advance = self.single_height, self.text_width(), self._ascii_advance
        if width != self._heights_width:
            self._heights.clear()
            self._heights_width = width
        heights = self._heights
        serials = model.serials(first, end)
        if len(heights) > 2 * len(serials) + 4096 and serials:  # forget dropped records
            oldest = model.serials(0, 0)[0]
            self._heights = heights = {k: v for k, v in heights.items() if k >= oldest}
        for row, serial, text in zip(range(first, end + 1), serials, model.lines(first, end),
                                     strict=True):
            fits = len(text) * advance
            if fits <= width if text.isascii() else 2 * fits <= width:
                if not fresh and size(row) != single:
                    resize(row, single)
                continue
            height = heights.get(serial)
            if height is None:
                height = heights[serial] = self._wrapped_height(text, width)
            if fresh and height == single:
                continue
            if fresh or size(row) != height:
                resize(row, height)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # a style or zoom: lines change height
            self._font_changed()
            self._heights.clear()
            self.widthChanged.emit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.viewport().width() != self._width:
            self._width = self.viewport().width()
            self.widthChanged.emit()

    def updateGeometries(self) -> None:
        super().updateGeometries()


def _button(text: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # tool buttons take no Tab focus
    return button


#: Room the search field keeps, beyond its minimum, before the buttons give up their words.
SEARCH_ROOM = 60


class BarButton(QToolButton):
    """A log-bar action: its words beside an icon where the bar has room, the icon alone
    (words in the tooltip and accessible name) where it has not. Its minimum is always
    the icon alone, so the bar, and the window, fit 800 px."""

    def __init__(self, text: str, icon_name: str) -> None:
        super().__init__()
        self.icon_name = icon_name
        self.setText(text)
        self.setAccessibleName(text.rstrip("…"))
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # tool buttons take no Tab focus
        self.setIconSize(QSize(16, 16))
        # a tool button is Fixed (its minimum is its words): Preferred lets the layout
        # give it only its icon's width
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.iconSize().width() + 14), hint.height())


class LogsPane(QWidget):
    exported = Signal(str)

    def __init__(self, model: LogModel, parent: Any = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = LogFilterProxy(self)
        self.proxy.setSourceModel(model)
        #: Set while the pane itself scrolls or refilters: such moves never stop following.
        self._moving = False

        self.plugin = QComboBox()
        self.plugin.setAccessibleName("Plugin")
        self.plugin.addItem(ALL_PLUGINS, None)
        # wide enough for a typical id ("image-processor") and never resized by the
        # names it lists (the bar must not move); the whole name is in the tooltip
        self.plugin.setMinimumContentsLength(12)
        self.plugin.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.plugin.currentTextChanged.connect(self.plugin.setToolTip)
        self.level = QComboBox()
        self.level.setAccessibleName("Lowest level")
        for level in LogLevel:
            self.level.addItem(f"{level.label} and above", int(level))
        self.level.setCurrentIndex(0)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search logs")
        self.search.setAccessibleName("Search logs")
        self.search.setClearButtonEnabled(True)
        # tool buttons: as wide as their text (push buttons are 80 px at least), so the bar
        # fits an 800 px window
        self.pause = _button("Pause")
        self.pause.setCheckable(True)
        self.pause.setToolTip("Stop the view while you read; new lines wait and show on Resume")
        self.follow = QCheckBox("Follow")
        self.follow.setToolTip("Keep the newest line in view")
        self.follow.setChecked(True)
        self.copy = BarButton("Copy", "copy")
        self.copy.setToolTip("Copy the selected lines, or all shown lines")
        self.export = BarButton("Export…", "export")
        self.export.setToolTip("Save the shown lines, each with its date and time")
        self.clear = BarButton("Clear", "clear")
        self.clear.setToolTip("Forget the lines shown so far (the log files keep them)")
        self.bar_buttons = (self.copy, self.export, self.clear)
        self._tint()
        self.count = QLabel()
        self.count.setTextFormat(Qt.TextFormat.PlainText)
        self.count.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._fix_widths()

        bar = self._bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 6, 0)  # the counter does not touch the window's edge
        bar.setSpacing(4)
        for w in (self.plugin, self.level, self.search, self.pause, self.follow, self.copy,
                  self.export, self.clear, self.count):
            bar.addWidget(w, 1 if w is self.search else 0)

        self.view = LogView()
        self.view.setAccessibleName("Log lines")
        self.view.setModel(self.proxy)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.view, 1)
        prev: QWidget = self.plugin
        for nxt in (self.level, self.search, self.pause, self.follow, self.copy, self.export,
                    self.clear, self.view):
            QWidget.setTabOrder(prev, nxt)
            prev = nxt

        self.plugin.currentIndexChanged.connect(
            lambda _: self._refilter(self.proxy.set_plugin, self.plugin.currentData()))
        self.level.currentIndexChanged.connect(
            lambda _: self._refilter(self.proxy.set_min_level, self.level.currentData()))
        self.search.textChanged.connect(lambda text: self._refilter(self.proxy.set_text, text))
        self.pause.toggled.connect(self._on_pause)
        self.follow.toggled.connect(self._on_follow)
        self.copy.clicked.connect(self.copy_selection)
        self.export.clicked.connect(self._on_export)
        self.clear.clicked.connect(model.clear)
        self.proxy.rowsInserted.connect(self._on_rows_inserted)
        self.proxy.rowsRemoved.connect(self._on_changed)
        self.proxy.modelReset.connect(self._on_reset)
        model.rowsInserted.connect(self._update_count)  # "N of M" counts hidden rows too
        model.rowsRemoved.connect(self._update_count)
        self.view.widthChanged.connect(self._remeasure_later)
        self.view.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self._remeasure = QTimer(self)  # a resize drag re-wraps once it settles
        self._remeasure.setSingleShot(True)
        self._remeasure.setInterval(30)
        self._remeasure.timeout.connect(self._on_reset)
        copy_key = QKeySequence(QKeySequence.StandardKey.Copy)
        self.copy.setShortcut(copy_key)
        self._on_reset()

    def _fix_widths(self) -> None:
        """Pause/Resume and the counter change text; their width must not move the bar."""
        widths = []
        for text in ("Resume", "Pause"):
            self.pause.setText(text)
            widths.append(self.pause.sizeHint().width())
        self.pause.setFixedWidth(max(widths))
        fm = self.count.fontMetrics()
        self._count_widths = (fm.horizontalAdvance(_WIDEST_SHORT_COUNT) + 8,
                              fm.horizontalAdvance(_WIDEST_COUNT) + 8)
        self.count.setMinimumWidth(self._count_widths[1])
        self.count.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        #: How much wider the action buttons are with their words than without.
        self._words_width = sum(b.sizeHint().width() - b.minimumSizeHint().width()
                                for b in self.bar_buttons)

    # --- the bar in a narrow window -------------------------------------------------------

    def _tint(self) -> None:
        for button in self.bar_buttons:
            button.setIcon(action_icon(button.icon_name))

    def compact(self) -> bool:
        """True while the action buttons show only their icons."""
        return self.copy.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonIconOnly

    def _fit_bar(self) -> None:
        """Words on the buttons and the counter's unit when the bar has room for them and
        a usable search field; else icons and "N of M" (the same room either way)."""
        short, full = self._count_widths
        extra = self._words_width + (full - short if self.compact() else 0)
        compact = self.width() < self._bar.minimumSize().width() + extra + SEARCH_ROOM
        if compact == self.compact():
            return
        style = (Qt.ToolButtonStyle.ToolButtonIconOnly if compact
                 else Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for button in self.bar_buttons:
            button.setToolButtonStyle(style)
        self.count.setMinimumWidth(short if compact else full)
        self._update_count()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_bar()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.StyleChange:  # a theme change: icons re-tinted
            self._tint()

    # --- keyboard -----------------------------------------------------------------------

    def focus_logs(self) -> None:
        """Put the keyboard in the log search (the window's shortcut for the log pane);
        Tab goes on to Pause, Follow, the buttons and the lines, Shift+Tab to the filters."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def focus_lines(self) -> None:
        self.view.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # --- plugin choice ------------------------------------------------------------------

    def set_plugins(self, plugin_ids: list[str]) -> None:
        have = [self.plugin.itemData(i) for i in range(1, self.plugin.count())]
        if have == plugin_ids:
            return
        current = self.plugin.currentData()
        self.plugin.blockSignals(True)
        while self.plugin.count() > 1:
            self.plugin.removeItem(1)
        for pid in plugin_ids:
            self.plugin.addItem(pid, pid)
        idx = self.plugin.findData(current) if current else 0
        self.plugin.setCurrentIndex(max(0, idx))
        self.plugin.blockSignals(False)
        self._refilter(self.proxy.set_plugin, self.plugin.currentData())

    def show_plugin(self, plugin_id: str | None) -> None:
        idx = self.plugin.findData(plugin_id) if plugin_id else 0
        self.plugin.setCurrentIndex(max(0, idx))

    # --- live behaviour -----------------------------------------------------------------

    @contextmanager
    def _ours(self) -> Iterator[None]:
        was, self._moving = self._moving, True
        try:
            yield
        finally:
            self._moving = was

    def _refilter(self, setter: Any, value: Any) -> None:
        with self._ours():  # the reset scrolls to the top: not the user's doing
            setter(value)

    def _on_pause(self, paused: bool) -> None:
        self.pause.setText("Resume" if paused else "Pause")
        with self._ours():
            self.model.set_paused(paused)
        self._update_count()

    def _on_follow(self, on: bool) -> None:
        if on:
            self._stick()

    def _on_rows_inserted(self, _parent: Any, first: int, last: int) -> None:
        with self._ours():
            self.view.measure(first, last, fresh=True)
        self._on_changed()

    def _on_reset(self) -> None:
        with self._ours():
            self.view.measure()
        self._on_changed()

    def _remeasure_later(self) -> None:
        self._remeasure.start()

    def _on_changed(self, *_: Any) -> None:
        self._update_count()
        self._stick()

    def _update_count(self, *_: Any) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        unit = "line" if total == 1 else "lines"
        text = f"{total:,}" if shown == total else f"{shown:,} of {total:,}"
        self.count.setText(text if self.compact() else f"{text} {unit}")
        waiting = len(self.model.buffer)
        tips = [f"{text} {unit} shown"] if self.compact() else []
        if self.model.paused and waiting:
            tips.append(f"{waiting:,} new lines wait until Resume")
        self.count.setToolTip("; ".join(tips))

    def _stick(self) -> None:
        """When following, show the newest line whole at the bottom of the view."""
        if not self.follow.isChecked():
            return
        with self._ours():
            # Qt applies row heights on a zero-time timer; the range must be current now
            self.view.updateGeometries()
            bar = self.view.verticalScrollBar()
            bar.setValue(bar.maximum())

    def _on_scrolled(self, value: int) -> None:
        """The user moving up stops following the tail; moving to the end resumes it."""
        if self._moving:
            return
        at_end = value >= self.view.verticalScrollBar().maximum()
        if self.follow.isChecked() != at_end:
            self.follow.setChecked(at_end)

    # --- copy and export ----------------------------------------------------------------

    def selected_lines(self) -> list[str]:
        rows = sorted(i.row() for i in self.view.selectionModel().selectedRows())
        return [self.proxy.line(r) for r in rows]

    def copy_selection(self) -> None:
        lines = self.selected_lines()
        if not lines:
            lines = [self.proxy.line(r) for r in range(self.proxy.rowCount())]
        QGuiApplication.clipboard().setText("\n".join(lines))

    def select_all(self) -> None:
        self.view.selectAll()

    def export_to(self, path: str) -> int:
        """Write the shown lines, each with its full date, time and UTC offset."""
        records = self.proxy.visible_records()
        Path(path).write_text("".join(format_export(r) + "\n" for r in records),
                              encoding="utf-8")
        self.exported.emit(path)
        return len(records)

    def _on_export(self) -> None:
        path = dialogs.choose_save_file(self, "Export logs", "wasmbay.log",
                                        "Log files (*.log *.txt);;All files (*)")
        if path:
            self.export_to(path)
