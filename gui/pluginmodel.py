"""The plugin table: a QAbstractTableModel over :class:`PluginSnapshot` values.

Rows are keyed by plugin id; the engine sends a fresh snapshot whenever something
changes and :meth:`PluginTableModel.upsert` turns that into one dataChanged (or one
inserted row), so the view keeps its selection and scroll position while metrics tick.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QPainter
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from wasmbay.core.untrusted import escape, for_html

from .snapshots import DISABLED, FAILED, LOADING, READY, PluginSnapshot

Index = QModelIndex | QPersistentModelIndex

SnapshotRole = Qt.ItemDataRole.UserRole + 1
IdRole = Qt.ItemDataRole.UserRole + 2
StateRole = Qt.ItemDataRole.UserRole + 3
ProgressRole = Qt.ItemDataRole.UserRole + 4
SortRole = Qt.ItemDataRole.UserRole + 5


class Column(IntEnum):
    NAME = 0
    ID = 1
    STABLE = 2
    CANARY = 3
    STATE = 4
    CALLS = 5
    ERROR_RATE = 6
    P95 = 7


HEADERS = {
    Column.NAME: "Name", Column.ID: "ID", Column.STABLE: "Stable", Column.CANARY: "Canary",
    Column.STATE: "State", Column.CALLS: "Calls", Column.ERROR_RATE: "Error rate",
    Column.P95: "p95",
}

_STATE_COLORS = {FAILED: QColor("#d93025"), DISABLED: QColor("#8a8799"),
                 LOADING: QColor("#7c5cff")}


def state_text(s: PluginSnapshot) -> str:
    if s.state == LOADING:
        return f"loading {round(s.progress * 100)}%"
    if s.state == FAILED:
        return f"failed: {escape(s.reason)}" if s.reason else "failed"
    return s.state


class PluginTableModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[PluginSnapshot] = []
        self._index: dict[str, int] = {}

    # --- updates ------------------------------------------------------------------------

    def reset(self, snapshots: list[PluginSnapshot]) -> None:
        self.beginResetModel()
        self._rows = list(snapshots)
        self._reindex()
        self.endResetModel()

    def upsert(self, snap: PluginSnapshot) -> None:
        row = self._index.get(snap.plugin_id)
        if row is None:
            row = len(self._rows)
            self.beginInsertRows(QModelIndex(), row, row)
            self._rows.append(snap)
            self._index[snap.plugin_id] = row
            self.endInsertRows()
            return
        if self._rows[row] == snap:
            return
        self._rows[row] = snap
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(Column) - 1))

    def sync(self, snapshots: list[PluginSnapshot]) -> None:
        """Make the rows equal to ``snapshots`` with the fewest model signals."""
        wanted = {s.plugin_id for s in snapshots}
        for pid in [p for p in self._index if p not in wanted]:
            self.remove(pid)
        for snap in snapshots:
            self.upsert(snap)

    def remove(self, plugin_id: str) -> None:
        row = self._index.get(plugin_id)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        self._reindex()
        self.endRemoveRows()

    def _reindex(self) -> None:
        self._index = {s.plugin_id: i for i, s in enumerate(self._rows)}

    # --- reading ------------------------------------------------------------------------

    def snapshot(self, plugin_id: str) -> PluginSnapshot | None:
        row = self._index.get(plugin_id)
        return None if row is None else self._rows[row]

    def snapshots(self) -> list[PluginSnapshot]:
        return list(self._rows)

    def row_of(self, plugin_id: str) -> int:
        return self._index.get(plugin_id, -1)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt idiom
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(Column)):
            return HEADERS[Column(section)]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        s = self._rows[index.row()]
        col = Column(index.column())
        if role == SnapshotRole:
            return s
        if role == IdRole:
            return s.plugin_id
        if role == StateRole:
            return s.state
        if role == ProgressRole:
            return s.progress
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(s, col)
        if role == SortRole:
            return self._sort_key(s, col)
        if role == Qt.ItemDataRole.ToolTipRole:  # a tooltip may be read as rich text
            if col == Column.STATE and s.reason:
                return f"<qt>{for_html(s.reason)}</qt>"
            return f"<qt>{for_html(s.description)}</qt>" if s.description else None
        if role == Qt.ItemDataRole.ForegroundRole and col == Column.STATE:
            color = _STATE_COLORS.get(s.state)
            return QBrush(color) if color is not None else None
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= Column.CALLS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(s: PluginSnapshot, col: Column) -> str:
        """A cell's text; names and versions are the plugin's, escaped (core.untrusted)."""
        m = s.metrics
        if col == Column.NAME:
            return escape(s.name or s.plugin_id)
        if col == Column.ID:
            return escape(s.plugin_id)
        if col == Column.STABLE:
            return escape(s.stable.version) if s.stable else ""
        if col == Column.CANARY:
            return f"{escape(s.canary.version)} ({s.canary_percent}%)" if s.canary else ""
        if col == Column.STATE:
            return state_text(s)
        if col == Column.CALLS:
            return f"{m.calls:,}"
        if col == Column.ERROR_RATE:
            return f"{m.error_rate:.1%}" if m.calls else "–"
        if col == Column.P95:
            return f"{m.p95_ms:.1f} ms" if m.calls else "–"
        return ""

    @staticmethod
    def _sort_key(s: PluginSnapshot, col: Column) -> Any:
        m = s.metrics
        if col == Column.CALLS:
            return m.calls
        if col == Column.ERROR_RATE:
            return m.error_rate
        if col == Column.P95:
            return m.p95_ms
        return PluginTableModel._display(s, col).lower()


class PluginFilterProxy(QSortFilterProxyModel):
    """Sorts numerically where it matters; the search box matches name, id and state."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SortRole)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)
        self.setDynamicSortFilter(True)


class StateDelegate(QStyledItemDelegate):
    """Draws a progress bar in the State cell while a plugin loads."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        if index.data(StateRole) != LOADING:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = QRect(option.rect.adjusted(2, 3, -2, -3))  # type: ignore[attr-defined]
        bar.minimum, bar.maximum = 0, 100
        bar.progress = round(float(index.data(ProgressRole) or 0.0) * 100)
        bar.text = index.data(Qt.ItemDataRole.DisplayRole)
        bar.textVisible = True
        style = option.widget.style() if option.widget else QApplication.style()  # type: ignore[attr-defined]
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


__all__ = ["READY", "Column", "PluginFilterProxy", "PluginTableModel", "StateDelegate"]
