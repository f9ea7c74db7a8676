"""Live plugin logs: a bounded hand-off buffer, a ring-buffer list model and a filter.

Plugins log on their own threads, possibly 10,000 lines a second. A Qt signal per line
would flood the GUI event queue, so the engine appends records to a :class:`LogBuffer`
(a bounded deque, safe from any thread, no Qt involved) and the :class:`LogModel` drains
it on a GUI-thread timer, inserting each batch with one beginInsertRows. Memory stays
bounded twice: the buffer drops its oldest records if the GUI falls behind (or is
paused), and the model keeps at most ``capacity`` rows.

The filter (:class:`LogFilterProxy`) is a plain list of the records it shows, not a
QSortFilterProxyModel: appends and drops at the front touch only the new or dropped rows,
so a 20,000-line log stays cheap to follow with any filter on.
"""

from __future__ import annotations

import bisect
import datetime
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QPersistentModelIndex,
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


def _body(record: LogRecord) -> str:
    version = f" {escape(record.version)}" if record.version else ""
    source = "" if record.source == "plugin" else f"{escape(record.source)}: "
    return (f"{record.level.label.upper():<5} [{escape(record.plugin_id)}{version}] "
            f"{source}{escape(record.message)}")


def format_record(record: LogRecord) -> str:
    """One log line as the view shows it (time of day, level, plugin, version, text).

    Every plugin-supplied field is escaped (core.untrusted): a record is always one line,
    prefixed by its real source, whatever CR, LF, bidi or ANSI characters it holds.
    """
    t = time.localtime(record.time)
    ms = int((record.time % 1) * 1000)
    return f"{time.strftime('%H:%M:%S', t)}.{ms:03d} {_body(record)}"


def format_export(record: LogRecord) -> str:
    """One log line as an exported file holds it: the full local date and time with its
    UTC offset (ISO 8601, so lines from different days and machines sort and compare),
    then the same escaped level, plugin, version, source and text as the view."""
    stamp = datetime.datetime.fromtimestamp(record.time).astimezone().isoformat(
        timespec="milliseconds")
    return f"{stamp} {_body(record)}"


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
    """The last ``capacity`` log records, appended in batches on a timer.

    Each record also has a serial number (its position since the model was created) that
    stays the same when older rows are dropped, so a filter can keep its rows as serials.
    The shown line is formatted once, when the record arrives.
    """

    #: Emitted after a batch was appended (count of new rows), for follow-the-tail.
    appended = Signal(int)

    def __init__(self, buffer: LogBuffer | None = None, *, capacity: int = DEFAULT_CAPACITY,
                 interval_ms: int = BATCH_INTERVAL_MS, parent: Any = None) -> None:
        super().__init__(parent)
        self.buffer = buffer if buffer is not None else LogBuffer(capacity)
        self.capacity = capacity
        self._rows: list[LogRecord] = []
        self._lines: list[str] = []
        #: The serial of row 0 (rows dropped or cleared so far).
        self.first_serial = 0
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
            del self._lines[:overflow]
            self.first_serial += overflow
            self.endRemoveRows()
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(batch) - 1)
        self._rows.extend(batch)
        self._lines.extend(format_record(r) for r in batch)
        self.endInsertRows()
        self.appended.emit(len(batch))
        return len(batch)

    def clear(self) -> None:
        self.buffer.drain()
        self.beginResetModel()
        self.first_serial += len(self._rows)
        self._rows.clear()
        self._lines.clear()
        self.endResetModel()

    def stop(self) -> None:
        self._timer.stop()

    # --- reading ------------------------------------------------------------------------

    def record(self, row: int) -> LogRecord:
        return self._rows[row]

    def line(self, row: int) -> str:
        """The shown (escaped, one-line) text of ``row``."""
        return self._lines[row]

    def lines_of(self, rows: list[int]) -> list[str]:
        lines = self._lines
        return [lines[r] for r in rows]

    def records(self) -> list[LogRecord]:
        return list(self._rows)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt idiom
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        return self.row_data(index.row(), role)

    def row_data(self, row: int, role: int) -> Any:
        if not 0 <= row < len(self._rows):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._lines[row]
        rec = self._rows[row]
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

    def roleNames(self) -> dict[int, QByteArray]:
        names = super().roleNames()
        names.update({role: QByteArray(name) for role, name in (
            (LevelRole, b"level"), (PluginRole, b"plugin"), (SourceRole, b"source"),
            (MessageRole, b"message"), (TimeRole, b"time"), (RecordRole, b"record"))})
        return names


class LogFilterProxy(QAbstractListModel):
    """The records of a :class:`LogModel` that match a plugin, a minimum level and a
    case-insensitive search text, in order.

    It keeps the serials of the matching records: a new batch costs a look at the new
    records only, dropped rows are cut from the front, and a filter change is one pass
    over a list followed by a model reset (the view then rebuilds its rows once).
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._source: LogModel | None = None
        self._plugin: str | None = None
        self._min_level = 0
        self._text = ""
        self._serials: list[int] = []

    # --- source -------------------------------------------------------------------------

    def setSourceModel(self, model: LogModel) -> None:
        if self._source is not None:
            for signal, slot in self._connections():
                signal.disconnect(slot)
        self._source = model
        for signal, slot in self._connections():
            signal.connect(slot)
        self._rebuild()

    def sourceModel(self) -> LogModel | None:
        return self._source

    def _connections(self) -> list[tuple[Any, Any]]:
        assert self._source is not None
        return [(self._source.rowsInserted, self._on_inserted),
                (self._source.rowsRemoved, self._on_removed),
                (self._source.modelReset, self._rebuild)]

    def _accepts(self, rec: LogRecord) -> bool:
        if rec.level < self._min_level:
            return False
        if self._plugin is not None and rec.plugin_id != self._plugin:
            return False
        return not self._text or self._text in rec.message.lower() or (
            self._text in rec.plugin_id.lower())

    def _rebuild(self) -> None:
        self.beginResetModel()
        src = self._source
        if src is None:
            self._serials = []
        else:
            base = src.first_serial
            if self.filtering:
                accepts = self._accepts
                self._serials = [base + i for i, r in enumerate(src.records()) if accepts(r)]
            else:
                self._serials = list(range(base, base + src.rowCount()))
        self.endResetModel()

    def _on_inserted(self, _parent: Index, first: int, last: int) -> None:
        src = self._source
        assert src is not None
        base = src.first_serial
        if self.filtering:
            accepts, rows = self._accepts, src._rows
            new = [base + row for row in range(first, last + 1) if accepts(rows[row])]
        else:
            new = list(range(base + first, base + last + 1))
        if new:
            at = len(self._serials)
            self.beginInsertRows(QModelIndex(), at, at + len(new) - 1)
            self._serials.extend(new)
            self.endInsertRows()

    def _on_removed(self, _parent: Index, first: int, last: int) -> None:
        """The source drops only its oldest rows (its ring buffer is full)."""
        src = self._source
        assert src is not None
        if first != 0:  # not how LogModel removes rows: start over
            self._rebuild()
            return
        gone = bisect.bisect_left(self._serials, src.first_serial)
        if gone:
            self.beginRemoveRows(QModelIndex(), 0, gone - 1)
            del self._serials[:gone]
            self.endRemoveRows()

    # --- filter -------------------------------------------------------------------------

    def _refilter(self, **changes: Any) -> None:
        if all(getattr(self, k) == v for k, v in changes.items()):
            return
        for k, v in changes.items():
            setattr(self, k, v)
        self._rebuild()

    def set_plugin(self, plugin_id: str | None) -> None:
        self._refilter(_plugin=plugin_id or None)

    def set_min_level(self, level: int) -> None:
        self._refilter(_min_level=int(level))

    def set_text(self, text: str) -> None:
        self._refilter(_text=text.strip().lower())

    @property
    def plugin(self) -> str | None:
        return self._plugin

    @property
    def filtering(self) -> bool:
        """Whether some records may be hidden (the counter then says "N of M")."""
        return bool(self._plugin is not None or self._text or self._min_level > min(LogLevel))

    # --- reading ------------------------------------------------------------------------

    def source_row(self, row: int) -> int:
        assert self._source is not None
        return self._serials[row] - self._source.first_serial

    def line(self, row: int) -> str:
        assert self._source is not None
        return self._source.line(self.source_row(row))

    def serials(self, first: int, last: int) -> list[int]:
        """The records of rows ``first``..``last`` as serials (stable while shown)."""
        return self._serials[first:last + 1]

    def lines(self, first: int, last: int) -> list[str]:
        """The shown text of rows ``first``..``last``, in one call (the view measures
        every new batch)."""
        assert self._source is not None
        src, base = self._source.lines_of, self._source.first_serial
        return src([s - base for s in self._serials[first:last + 1]])

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt idiom
        return 0 if parent.isValid() else len(self._serials)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self._source is None or not (
                0 <= index.row() < len(self._serials)):
            return None
        return self._source.row_data(self.source_row(index.row()), role)

    def visible_records(self) -> list[LogRecord]:
        src = self._source
        if src is None:
            return []
        base = src.first_serial
        return [src.record(s - base) for s in self._serials]
