"""The live log view: pick plugin and level, search, pause, follow, copy, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from wasmbay.core.events import LogLevel

from .. import dialogs
from ..logmodel import LogFilterProxy, LogModel, format_record

ALL_PLUGINS = "All plugins"


class LogsPane(QWidget):
    exported = Signal(str)

    def __init__(self, model: LogModel, parent: Any = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = LogFilterProxy(self)
        self.proxy.setSourceModel(model)

        self.plugin = QComboBox()
        self.plugin.addItem(ALL_PLUGINS, None)
        self.plugin.setMinimumContentsLength(14)
        self.level = QComboBox()
        for level in LogLevel:
            self.level.addItem(f"{level.label} and above", int(level))
        self.level.setCurrentIndex(0)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search logs")
        self.search.setClearButtonEnabled(True)
        self.pause = QPushButton("Pause")
        self.pause.setCheckable(True)
        self.follow = QCheckBox("Follow")
        self.follow.setChecked(True)
        self.copy = QPushButton("Copy")
        self.export = QPushButton("Export…")
        self.clear = QPushButton("Clear")
        self.count = QLabel()

        bar = QHBoxLayout()
        for w in (self.plugin, self.level, self.search, self.pause, self.follow, self.copy,
                  self.export, self.clear, self.count):
            bar.addWidget(w, 1 if w is self.search else 0)

        self.view = QListView()
        self.view.setModel(self.proxy)
        self.view.setUniformItemSizes(True)  # constant-time layout for long lists
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.view, 1)

        self.plugin.currentIndexChanged.connect(
            lambda _: self.proxy.set_plugin(self.plugin.currentData()))
        self.level.currentIndexChanged.connect(
            lambda _: self.proxy.set_min_level(self.level.currentData()))
        self.search.textChanged.connect(self.proxy.set_text)
        self.pause.toggled.connect(self._on_pause)
        self.copy.clicked.connect(self.copy_selection)
        self.export.clicked.connect(self._on_export)
        self.clear.clicked.connect(model.clear)
        model.appended.connect(self._on_appended)
        self.view.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        copy_key = QKeySequence(QKeySequence.StandardKey.Copy)
        self.copy.setShortcut(copy_key)

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
        self.proxy.set_plugin(self.plugin.currentData())

    def show_plugin(self, plugin_id: str | None) -> None:
        idx = self.plugin.findData(plugin_id) if plugin_id else 0
        self.plugin.setCurrentIndex(max(0, idx))

    # --- live behaviour -----------------------------------------------------------------

    def _on_pause(self, paused: bool) -> None:
        self.pause.setText("Resume" if paused else "Pause")
        self.model.set_paused(paused)

    def _on_appended(self, _count: int) -> None:
        self.count.setText(f"{self.proxy.rowCount():,} lines")
        if self.follow.isChecked():
            self.view.scrollToBottom()

    def _on_scrolled(self, value: int) -> None:
        """Scrolling up stops following the tail; scrolling to the end resumes it."""
        bar = self.view.verticalScrollBar()
        at_end = value >= bar.maximum() - 1
        if self.follow.isChecked() != at_end and bar.isSliderDown():
            self.follow.setChecked(at_end)

    # --- copy and export ----------------------------------------------------------------

    def selected_lines(self) -> list[str]:
        rows = sorted(i.row() for i in self.view.selectionModel().selectedRows())
        return [self.proxy.index(r, 0).data() for r in rows]

    def copy_selection(self) -> None:
        lines = self.selected_lines()
        if not lines:
            self.view.selectAll()
            lines = self.selected_lines()
            self.view.selectionModel().clearSelection()
        QGuiApplication.clipboard().setText("\n".join(lines))

    def select_all(self) -> None:
        self.view.selectionModel().select(
            self.view.model().index(0, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def export_to(self, path: str) -> int:
        records = self.proxy.visible_records()
        Path(path).write_text("".join(format_record(r) + "\n" for r in records),
                              encoding="utf-8")
        self.exported.emit(path)
        return len(records)

    def _on_export(self) -> None:
        path = dialogs.choose_save_file(self, "Export logs", "wasmbay.log",
                                        "Log files (*.log *.txt);;All files (*)")
        if path:
            self.export_to(path)
