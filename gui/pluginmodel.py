"""The plugin table: a QAbstractTableModel over :class:`PluginSnapshot` values.

Rows are keyed by plugin id; the engine sends a fresh snapshot whenever something
changes and :meth:`PluginTableModel.upsert` turns that into one dataChanged (or one
inserted row), so the view keeps its selection and scroll position while metrics tick.
"""

from __future__ import annotations

import time
from dataclasses import replace
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSortFilterProxyModel,
    Qt,
    QTimer,
)
from PySide6.QtGui import QBrush, QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from wasmbay.core.events import Event
from wasmbay.core.manager_events import (
    CHECKING,
    COMPILING_FAST,
    OPTIMIZED,
    OPTIMIZING,
    READING,
    PluginLoading,
    PluginReady,
    Progress,
)
from wasmbay.core.manager_events import READY as READY_STAGE
from wasmbay.core.untrusted import escape, for_html

from .resources import state_icon
from .snapshots import DISABLED, FAILED, LOADING, READY, PluginRow, PluginSnapshot

Index = QModelIndex | QPersistentModelIndex

SnapshotRole = Qt.ItemDataRole.UserRole + 1
IdRole = Qt.ItemDataRole.UserRole + 2
StateRole = Qt.ItemDataRole.UserRole + 3
ProgressRole = Qt.ItemDataRole.UserRole + 4
SortRole = Qt.ItemDataRole.UserRole + 5
#: The stage of a loading (or optimizing) plugin as shown: "compiling (fast) 3 s".
StageRole = Qt.ItemDataRole.UserRole + 6


class Column(IntEnum):
    NAME = 0
    ID = 1
    STABLE = 2
    CANARY = 3
    STATE = 4
    CALLS = 5
    ERROR_RATE = 6
    P50 = 7
    P95 = 8


HEADERS = {
    Column.NAME: "Name", Column.ID: "ID", Column.STABLE: "Stable", Column.CANARY: "Canary",
    Column.STATE: "State", Column.CALLS: "Calls", Column.ERROR_RATE: "Error rate",
    Column.P50: "p50", Column.P95: "p95",
}
HEADER_TIPS = {
    Column.STABLE: "The stable version, which serves the calls the canary does not get",
    Column.CANARY: "A new version trying a share of the calls",
    Column.P50: "Median call latency", Column.P95: "95th percentile call latency",
    Column.ERROR_RATE: "Share of calls that failed",
}

_STATE_COLORS = {FAILED: QColor("#d93025"), DISABLED: QColor("#8a8799"),
                 LOADING: QColor("#7c5cff")}
#: A disabled plugin's whole row is greyed.
DISABLED_ROW = QColor("#8a8799")
#: A preview's stages have no fraction; where the bar is while each runs.
_STAGE_FRACTIONS = {READING: 0.05, CHECKING: 0.1, COMPILING_FAST: 0.2, READY_STAGE: 0.3,
                    "installing": 0.3}
#: An optimizing stage older than this is not shown (its end was not reported).
_OPTIMIZING_SHOWN_S = 300.0


def stage_text(s: PluginSnapshot, now: float | None = None) -> str:
    """What a loading plugin is doing and for how long; "optimizing…" while a ready
    plugin's optimized code compiles in the background; else empty."""
    now = time.monotonic() if now is None else now
    if s.state == LOADING:
        if not s.stage:
            return f"loading {round(s.progress * 100)}%"
        stage = escape(s.stage)
        seconds = int(now - s.stage_since) if s.stage_since else 0
        return f"{stage} {seconds} s" if seconds >= 1 else f"{stage}…"
    if (s.state == READY and s.stage == OPTIMIZING
            and now - s.stage_since < _OPTIMIZING_SHOWN_S):
        return f"{OPTIMIZING}…"
    return ""


def state_text(s: PluginSnapshot) -> str:
    if s.state == LOADING:
        return stage_text(s)
    if s.state == FAILED:
        return f"failed: {escape(s.reason)}" if s.reason else "failed"
    return s.state


def _ticking(s: PluginSnapshot) -> bool:
    return s.state == LOADING or (s.state == READY and s.stage == OPTIMIZING)


class PluginTableModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[PluginSnapshot] = []
        self._index: dict[str, int] = {}
        # The State cells of loading plugins count their seconds: one repaint a second,
        # only while some plugin is loading or optimizing.
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._on_tick)

    # --- updates ------------------------------------------------------------------------

    def reset(self, snapshots: list[PluginSnapshot]) -> None:
        self.beginResetModel()
        self._rows = list(snapshots)
        self._reindex()
        self.endResetModel()
        self._update_tick()

    def upsert(self, snap: PluginSnapshot) -> None:
        row = self._index.get(snap.plugin_id)
        if row is None:
            row = len(self._rows)
            self.beginInsertRows(QModelIndex(), row, row)
            self._rows.append(snap)
            self._index[snap.plugin_id] = row
            self.endInsertRows()
            self._update_tick()
            return
        if self._rows[row] == snap:
            return
        self._rows[row] = snap
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(Column) - 1))
        self._update_tick()

    def sync(self, snapshots: list[PluginSnapshot]) -> None:
        """Make the rows equal to ``snapshots`` with the fewest model signals."""
        wanted = {s.plugin_id for s in snapshots}
        for pid in [p for p in self._index if p not in wanted]:
            self.remove(pid)
        for snap in snapshots:
            self.upsert(self._keep_progress(snap))

    def _keep_progress(self, snap: PluginSnapshot) -> PluginSnapshot:
        """A poll that knows less than the events did (no stage, an older fraction) does
        not move a loading row's bar back or blank its stage."""
        old = self.snapshot(snap.plugin_id)
        if old is None or old.state != snap.state or not _ticking(old):
            return snap
        if not snap.stage and old.stage:
            snap = replace(snap, stage=old.stage, stage_since=old.stage_since)
        if snap.state == LOADING and snap.progress < old.progress:
            snap = replace(snap, progress=old.progress)
        return snap

    def remove(self, plugin_id: str) -> None:
        row = self._index.get(plugin_id)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        self._reindex()
        self.endRemoveRows()
        self._update_tick()

    def apply_event(self, event: Event) -> bool:
        """Show what a manager event says at once, before the next snapshot arrives.

        Rows sent mid-verb (:class:`PluginRow`), the stage and progress of a loading
        plugin (``Progress``, ``PluginLoading``), and ready. True if a row changed.
        """
        if isinstance(event, PluginRow):
            if event.replaces and event.replaces != event.plugin_id:
                self.remove(event.replaces)
            if event.snapshot is None:
                self.remove(event.plugin_id)
            else:
                self.upsert(event.snapshot)
            return True
        snap = self.snapshot(event.plugin_id)
        if snap is None:
            return False
        new = snap
        if isinstance(event, Progress):
            if event.stage == OPTIMIZED:
                new = replace(snap, stage="", stage_since=0.0)
            elif event.stage != snap.stage:
                new = replace(snap, stage=event.stage, stage_since=time.monotonic())
            if new.state == LOADING:
                fraction = (event.fraction if event.operation != "preview"
                            and event.fraction is not None
                            else _STAGE_FRACTIONS.get(event.stage))
                if fraction is not None:
                    new = replace(new, progress=max(new.progress, fraction))
        elif isinstance(event, PluginLoading):
            progress = event.progress
            if snap.state == LOADING:  # one bar that only moves forward
                progress = max(progress, snap.progress)
            new = replace(snap, state=LOADING, progress=progress, reason="")
            if snap.state != LOADING:  # a (re)load begins: not the last load's stage
                new = replace(new, stage=event.stage, stage_since=time.monotonic())
        elif isinstance(event, PluginReady):
            new = replace(snap, state=READY, progress=1.0, reason="")
            if new.stage != OPTIMIZING:
                new = replace(new, stage="", stage_since=0.0)
        if new == snap:
            return False
        self.upsert(new)
        return True

    def _reindex(self) -> None:
        self._index = {s.plugin_id: i for i, s in enumerate(self._rows)}

    def _update_tick(self) -> None:
        if any(_ticking(s) for s in self._rows):
            if not self._tick.isActive():
                self._tick.start()
        elif self._tick.isActive():
            self._tick.stop()

    def _on_tick(self) -> None:
        for row, s in enumerate(self._rows):
            if _ticking(s):
                cell = self.index(row, Column.STATE)
                self.dataChanged.emit(cell, cell, [Qt.ItemDataRole.DisplayRole, StageRole])
        self._update_tick()

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
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(Column(section))
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
        if role == StageRole:
            return stage_text(s)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(s, col)
        if role == SortRole:
            return self._sort_key(s, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(s, col)
        if role == Qt.ItemDataRole.DecorationRole:
            if col == Column.STATE:
                return state_icon(s.state) if s.state in _STATE_ICONS else None
            if col == Column.CANARY and s.canary is not None:
                return state_icon("canary")
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if s.state == DISABLED:  # the whole row greyed, as a disabled control
                return QBrush(DISABLED_ROW)
            color = _STATE_COLORS.get(s.state) if col == Column.STATE else None
            return QBrush(color) if color is not None else None
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= Column.CALLS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _tooltip(s: PluginSnapshot, col: Column) -> str | None:
        """A cell's whole text, for the cells the column cuts short.

        A tooltip may be read as rich text: every plugin-supplied part is escaped
        (core.untrusted) and then HTML-quoted, so it shows as the plain text it is.
        """
        if col == Column.STATE:
            if s.state == FAILED and s.reason:  # without core's CLI hint: Details has the fix
                more = "<br>Details shows how to fix it." if s.fix is not None else ""
                return f"<qt>failed: {for_html(s.reason_detail or s.reason)}{more}</qt>"
            if s.state == DISABLED:
                return f"<qt>disabled{': ' + for_html(s.reason) if s.reason else ''}</qt>"
            stage = stage_text(s)
            return f"<qt>{s.state}{': ' + for_html(stage) if stage else ''}</qt>"
        if col in (Column.NAME, Column.ID):
            head = for_html(s.name or s.plugin_id)
            lines = [head if col == Column.ID or head == for_html(s.plugin_id)
                     else f"{head} ({for_html(s.plugin_id)})"]
            if s.description:
                lines.append(for_html(s.description))
            return f"<qt>{'<br>'.join(lines)}</qt>"
        if col in (Column.STABLE, Column.CANARY):
            text = PluginTableModel._display(s, col)
            return f"<qt>{for_html(text)}</qt>" if text else None
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
        if col == Column.P50:
            return f"{m.p50_ms:.1f} ms" if m.calls else "–"
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
        if col == Column.P50:
            return m.p50_ms
        if col == Column.P95:
            return m.p95_ms
        return PluginTableModel._display(s, col).lower()


_STATE_ICONS = (READY, LOADING, FAILED, DISABLED)


class PluginFilterProxy(QSortFilterProxyModel):
    """Sorts numerically where it matters; the search box matches name, id and state."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SortRole)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)
        self.setDynamicSortFilter(True)


class StateDelegate(QStyledItemDelegate):
    """The State cell: a progress bar with the stage while a plugin loads; else the state
    with its icon, and "· optimizing…" while faster code compiles in the background."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: Index) -> None:
        super().initStyleOption(option, index)
        stage = index.data(StageRole)
        if stage and index.data(StateRole) == READY:
            option.text = f"{option.text} · {stage}"  # type: ignore[attr-defined]

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        if index.data(StateRole) != LOADING:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget = opt.widget  # type: ignore[attr-defined]
        style = widget.style() if widget is not None else QApplication.style()
        # the row's background (selected, alternate) as for any other cell
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, painter, widget)
        rect: QRect = opt.rect  # type: ignore[attr-defined]
        bar = QStyleOptionProgressBar()
        if widget is not None:
            bar.initFrom(widget)
        bar.rect = QRect(rect.adjusted(3, 3, -3, -3))  # type: ignore[attr-defined]
        bar.minimum, bar.maximum = 0, 100  # type: ignore[attr-defined]
        bar.progress = round(float(index.data(ProgressRole) or 0.0) * 100)  # type: ignore[attr-defined]
        text = str(index.data(StageRole) or index.data(Qt.ItemDataRole.DisplayRole) or "")
        metrics = opt.fontMetrics  # type: ignore[attr-defined]
        bar.text = metrics.elidedText(text, Qt.TextElideMode.ElideRight,  # type: ignore[attr-defined]
                                      max(0, bar.rect.width() - 8))  # type: ignore[attr-defined]
        bar.textVisible = True  # type: ignore[attr-defined]
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter  # type: ignore[attr-defined]
        bar.state = opt.state | QStyle.StateFlag.State_Horizontal  # type: ignore[attr-defined]
        # the row's text colour, not the State column's accent (unreadable on the bar)
        palette = QPalette(widget.palette() if widget is not None else opt.palette)  # type: ignore[attr-defined]
        palette.setColor(QPalette.ColorRole.Highlight, QColor("#7c5cff"))
        palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
        bar.palette = palette  # type: ignore[attr-defined]
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, widget)


__all__ = ["READY", "Column", "PluginFilterProxy", "PluginTableModel", "StageRole",
           "StateDelegate"]
