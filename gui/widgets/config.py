"""The selected plugin's configuration: a key/value table, secrets masked.

Secret values never come to the GUI: the engine reports only which keys are secret
(they live in the OS keyring), and the table shows them as dots.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..snapshots import PluginSnapshot

Index = QModelIndex | QPersistentModelIndex
MASK = "••••••••"
KeyRole = Qt.ItemDataRole.UserRole + 1
SecretRole = Qt.ItemDataRole.UserRole + 2


class ConfigModel(QAbstractTableModel):
    """Rows of (key, value or None for a secret)."""

    HEADERS = ("Key", "Value", "Stored")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[str, str | None]] = []

    def set_entries(self, config: tuple[tuple[str, str], ...], secrets: tuple[str, ...]) -> None:
        rows: list[tuple[str, str | None]] = [(k, v) for k, v in config if k not in secrets]
        rows += [(k, None) for k in secrets]
        rows.sort(key=lambda r: r[0])
        if rows == self._rows:
            return
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt idiom
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 3

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        key, value = self._rows[index.row()]
        if role == KeyRole:
            return key
        if role == SecretRole:
            return value is None
        if role == Qt.ItemDataRole.DisplayRole:
            return (key, MASK if value is None else value,
                    "OS keyring" if value is None else "config file")[index.column()]
        return None


class ConfigPane(QWidget):
    #: (plugin id, key, value, secret)
    setRequested = Signal(str, str, str, bool)
    #: (plugin id, key)
    removeRequested = Signal(str, str)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._pid: str | None = None
        self.model = ConfigModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.key = QLineEdit()
        self.key.setPlaceholderText("key")
        self.value = QLineEdit()
        self.value.setPlaceholderText("value")
        self.secret = QCheckBox("Secret")
        self.secret.setToolTip("Store in the OS keyring and show masked")
        self.secret.toggled.connect(self._mask_input)
        self.set_button = QPushButton("Set")
        self.remove_button = QPushButton("Remove")
        edit = QHBoxLayout()
        for w in (self.key, self.value, self.secret, self.set_button, self.remove_button):
            edit.addWidget(w)
        self.note = QLabel("Changing a value restarts the plugin's instances with it.")
        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addLayout(edit)
        lay.addWidget(self.note)
        self.set_button.clicked.connect(self._on_set)
        self.value.returnPressed.connect(self._on_set)
        self.remove_button.clicked.connect(self._on_remove)
        self.table.selectionModel().currentRowChanged.connect(self._on_row)
        self.setEnabled(False)

    def set_snapshot(self, snap: PluginSnapshot | None) -> None:
        self.setEnabled(snap is not None)
        new_pid = snap.plugin_id if snap else None
        if new_pid != self._pid:
            self.key.clear()
            self.value.clear()
        self._pid = new_pid
        if snap is None:
            self.model.set_entries((), ())
        else:
            self.model.set_entries(snap.config, snap.secret_keys)

    def _mask_input(self, secret: bool) -> None:
        self.value.setEchoMode(QLineEdit.EchoMode.Password if secret
                               else QLineEdit.EchoMode.Normal)

    def _on_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        key = current.data(KeyRole)
        secret = bool(current.data(SecretRole))
        self.key.setText(key)
        self.secret.setChecked(secret)
        self.value.setText("" if secret else self.model.index(current.row(), 1).data())

    def _on_set(self) -> None:
        key = self.key.text().strip()
        if self._pid is None or not key:
            return
        self.setRequested.emit(self._pid, key, self.value.text(), self.secret.isChecked())
        self.value.clear()

    def _on_remove(self) -> None:
        key = self.key.text().strip()
        if self._pid is not None and key:
            self.removeRequested.emit(self._pid, key)
