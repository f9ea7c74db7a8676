"""The selected plugin's configuration: a key/value table, secrets masked.

Secret values never come to the GUI: the engine reports only which keys are secret
(they live in the OS keyring), and the table shows them as dots, or, when the engine's
keyring lookup found one gone (removed behind Wasmbay's back), as missing.
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

from wasmbay.core.untrusted import shown

from ..snapshots import PluginSnapshot

Index = QModelIndex | QPersistentModelIndex
MASK = "••••••••"
MISSING = "not in the keyring — set it again"
KeyRole = Qt.ItemDataRole.UserRole + 1
SecretRole = Qt.ItemDataRole.UserRole + 2
MissingRole = Qt.ItemDataRole.UserRole + 3


class ConfigModel(QAbstractTableModel):
    """Rows of (key, value or None for a secret)."""

    HEADERS = ("Key", "Value", "Stored")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[str, str | None]] = []
        self._missing: frozenset[str] = frozenset()

    def set_entries(self, config: tuple[tuple[str, str], ...], secrets: tuple[str, ...],
                    missing: tuple[str, ...] = ()) -> None:
        """``missing``: secret keys the keyring no longer has (shown as such, not dots)."""
        rows: list[tuple[str, str | None]] = [(k, v) for k, v in config if k not in secrets]
        rows += [(k, None) for k in secrets]
        rows.sort(key=lambda r: r[0])
        gone = frozenset(missing) & frozenset(secrets)
        if rows == self._rows and gone == self._missing:
            return
        self.beginResetModel()
        self._rows = rows
        self._missing = gone
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
        gone = value is None and key in self._missing
        if role == SecretRole:
            return value is None
        if role == MissingRole:
            return gone
        if role == Qt.ItemDataRole.DisplayRole:
            if gone:
                return (key, MISSING, "missing from the OS keyring")[index.column()]
            return (key, MASK if value is None else value,
                    "OS keyring" if value is None else "config file")[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole and gone:
            return ("The record says this secret is in the OS keyring, but the keyring no "
                    "longer has it: the plugin reads it as not set. Set it again.")
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
        #: Secrets the keyring lost, or why it could not be asked; hidden when neither.
        self.keyring_note = QLabel()
        self.keyring_note.setObjectName("keyringNote")
        self.keyring_note.setTextFormat(Qt.TextFormat.PlainText)
        self.keyring_note.setWordWrap(True)
        self.keyring_note.hide()
        lay = QVBoxLayout(self)
        lay.addWidget(self.keyring_note)
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
            self.secret.setChecked(False)  # another plugin's key was secret, not this one
        self._pid = new_pid
        if snap is None:
            self.model.set_entries((), ())
        else:
            self.model.set_entries(snap.config, snap.secret_keys, snap.secrets_missing)
        gone = [k for k in snap.secrets_missing if k in snap.secret_keys] if snap else []
        problem = snap.keyring_problem if snap else ""
        self.keyring_note.setText(
            f"Not in the OS keyring any more: {', '.join(shown(k, 80) for k in gone)}. "
            "The plugin reads them as not set; set them again." if gone else
            f"The OS keyring could not be asked: {shown(problem)}" if problem else "")
        self.keyring_note.setVisible(bool(gone or problem))

    def prefill(self, key: str, *, secret: bool = False) -> None:
        """Ready to set ``key`` (a "Configure KEY…" fix): key filled, value focused."""
        self.table.clearSelection()
        self.key.setText(key)
        self.secret.setChecked(secret)
        self.value.clear()
        self.value.setFocus(Qt.FocusReason.OtherFocusReason)

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
