"""Live plugin logs: a bounded hand-off buffer, a ring-buffer list model and a filter.

Plugins log on their own threads, possibly 10,000 lines a second. A Qt signal per line
would flood the GUI event queue, so the engine appends records to a :class:`LogBuffer`
(a bounded deque, safe from any thread, no Qt involved) and the :class:`LogModel` drains
it on a GUI-thread timer, inserting each batch with one beginInsertRows. Memory stays
bounded twice: the buffer drops its oldest records if the GUI falls behind (or is
paused), and the model keeps at most ``capacity`` rows.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor

from wasmbay.core.events import LogLevel, LogRecord
from wasmbay.core.untrusted import escape

Index = QModelIndex | QPersistentModelIndex

DEFAULT_CAPACITY = 20_000
BATCH_INTERVAL_MS = 100

LevelRole = Qt.ItemDataRole.UserRole + 1
PluginRole = Qt.ItemDataRole.UserRole + 2
SourceRole = Qt.ItemDataRole.UserRole + 3
MessageRole = Qt.ItemDataRole.UserRole + 4
TimeRole = Qt.ItemDataRole.UserRole + 5
RecordRole = Qt.ItemDataRole.UserRole + 6

_LEVEL_COLORS = {
    LogLevel.TRACE: QColor("#8a8799"),
    LogLevel.DEBUG: QColor("#8a8799"),
    LogLevel.WARN: QColor("#c98a00"),
    LogLevel.ERROR: QColor("#d93025"),
}


def format_record(record: LogRecord) -> str:
    """One log line as the view and the exported file show it.

    Every plugin-supplied field is escaped (core.untrusted): a record is always one line,
    prefixed by its real source, whatever CR, LF, bidi or ANSI characters it holds.
    """
    t = time.localtime(record.time)
    ms = int((record.time % 1) * 1000)
    stamp = f"{time.strftime('%H:%M:%S', t)}.{ms:03d}"
    version = f" {escape(record.version)}" if record.version else ""
    source = "" if record.source == "plugin" else f"{escape(record.source)}: "
    return (f"{stamp} {record.level.label.upper():<5} [{escape(record.plugin_id)}{version}] "
            f"{source}{escape(record.message)}")


class LogBuffer:
    """Thread-safe, bounded hand-off from plugin threads to the GUI thread."""

    def __init__(self, maxlen: int = DEFAULT_CAPACITY) -> None:
        self._items: deque[LogRecord] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.dropped = 0  # records pushed out before the GUI took them

    def append(self, record: LogRecord) -> None:
        with self._lock:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(record)

    def drain(self) -> list[LogRecord]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
        return items

    def __len__(self) -> int:
        return len(self._items)


class LogModel(QAbstractListModel):
    """The last ``capacity`` log records, appended in batches on a timer."""

    #: Emitted after a batch was appended (count of new rows), for follow-the-tail.
    appended = Signal(int)

    def __init__(self, buffer: LogBuffer | None = None, *, capacity: int = DEFAULT_CAPACITY,
                 interval_ms: int = BATCH_INTERVAL_MS, parent: Any = None) -> None:
        super().__init__(parent)
        self.buffer = buffer if buffer is not None else LogBuffer(capacity)
        self.capacity = capacity
        self._rows: list[LogRecord] = []
        self._paused = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.flush)
        self._timer.start()

    # --- feeding ------------------------------------------------------------------------

    def add(self, record: LogRecord) -> None:
        """Queue a record (any thread); it shows up at the next batch."""
        self.buffer.append(record)

    @property
    def paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """While paused the view stands still; new records wait (bounded) in the buffer."""
        self._paused = paused
        if not paused:
            self.flush()

    def flush(self) -> int:
        """Move everything buffered into the model; returns how many rows were added."""
        if self._paused or not len(self.buffer):
            return 0
        return self.extend(self.buffer.drain())

    def extend(self, records: Iterable[LogRecord]) -> int:
        batch = list(records)[-self.capacity:]
        if not batch:
            return 0
        overflow = len(self._rows) + len(batch) - self.capacity
        if overflow > 0:
            self.beginRemoveRows(QModelIndex(), 0, overflow - 1)
            del self._rows[:overflow]
            self.endRemoveRows()
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(batch) - 1)
        self._rows.extend(batch)
        self.endInsertRows()
        self.appended.emit(len(batch))
        return len(batch)

    def clear(self) -> None:
        self.buffer.drain()
        self.beginResetModel()
        self._rows.clear()
        self.endResetModel()

    def stop(self) -> None:
        self._timer.stop()

    # --- reading ------------------------------------------------------------------------

    def record(self, row: int) -> LogRecord:
        return self._rows[row]

    def records(self) -> list[LogRecord]:
        return list(self._rows)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt idiom
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        rec = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return format_record(rec)
        if role == Qt.ItemDataRole.ToolTipRole:  # e.g. a trap's backtrace (escaped lines)
            return rec.details or None
        if role == Qt.ItemDataRole.ForegroundRole:
            color = _LEVEL_COLORS.get(rec.level)
            return QBrush(color) if color is not None else None
        if role == LevelRole:
            return int(rec.level)
        if role == PluginRole:
            return rec.plugin_id
        if role == SourceRole:
            return rec.source
        if role == MessageRole:
            return rec.message
        if role == TimeRole:
            return rec.time
        if role == RecordRole:
            return rec
        return None

    def roleNames(self) -> dict[int, bytes]:
        names = super().roleNames()
        names.update({LevelRole: b"level", PluginRole: b"plugin", SourceRole: b"source",
                      MessageRole: b"message", TimeRole: b"time", RecordRole: b"record"})
        return names


class LogFilterProxy(QSortFilterProxyModel):
    """Filters by plugin, minimum level and a case-insensitive search text."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._plugin: str | None = None
        self._min_level = 0
        self._text = ""

    def _refilter(self, **changes: Any) -> None:
        if hasattr(self, "endFilterChange"):  # Qt >= 6.10
            self.beginFilterChange()
            for k, v in changes.items():
                setattr(self, k, v)
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            for k, v in changes.items():
                setattr(self, k, v)
            self.invalidateRowsFilter()

    def set_plugin(self, plugin_id: str | None) -> None:
        self._refilter(_plugin=plugin_id or None)

    def set_min_level(self, level: int) -> None:
        self._refilter(_min_level=int(level))

    def set_text(self, text: str) -> None:
        self._refilter(_text=text.strip().lower())

    @property
    def plugin(self) -> str | None:
        return self._plugin

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        if not isinstance(model, LogModel):
            return True
        rec = model.record(source_row)
        if rec.level < self._min_level:
            return False
        if self._plugin is not None and rec.plugin_id != self._plugin:
            return False
        return not self._text or self._text in rec.message.lower() or (
            self._text in rec.plugin_id.lower())

    def visible_records(self) -> list[LogRecord]:
        out = []
        for row in range(self.rowCount()):
            rec = self.index(row, 0).data(RecordRole)
            if rec is not None:
                out.append(rec)
        return out
