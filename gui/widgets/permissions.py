"""The selected plugin's grants as checkboxes and spin boxes.

Every change builds a complete new :class:`Grants` and emits it; the engine re-sandboxes
the running plugin with it. Unticked directories and variables stay listed (greyed out
in the grants, not forgotten), so the user can tick them back on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from wasmbay.core.grants import (
    DEFAULT_MEMORY,
    DEFAULT_TIMEOUT,
    FOLDER_KINDS,
    DirGrant,
    Grants,
    MiB,
    is_env_name,
)
from wasmbay.core.untrusted import for_html, shown

from .. import dialogs
from ..snapshots import PluginSnapshot


@dataclass
class DirEntry:
    host: str
    guest: str
    writable: bool
    granted: bool


class DirRow(QWidget):
    """One directory: granted?, read-only or read-write, remove."""

    changed = Signal()
    removed = Signal()

    def __init__(self, entry: DirEntry, parent: Any = None) -> None:
        super().__init__(parent)
        self.entry = entry
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.check = QCheckBox(f"{entry.guest}  ←  {entry.host}")
        self.check.setObjectName(f"dir:{entry.guest}")
        self.check.setChecked(entry.granted)
        self.check.setToolTip(f"Let the plugin see {entry.host} as {entry.guest}")
        self.mode = QComboBox()
        self.mode.addItems(["read-only", "read-write"])
        self.mode.setCurrentIndex(1 if entry.writable else 0)
        self.remove = QPushButton("Remove")
        lay.addWidget(self.check, 1)
        lay.addWidget(self.mode)
        lay.addWidget(self.remove)
        self.check.toggled.connect(self._on_change)
        self.mode.currentIndexChanged.connect(self._on_change)
        self.remove.clicked.connect(self.removed.emit)

    def _on_change(self, *_: object) -> None:
        self.entry.granted = self.check.isChecked()
        self.entry.writable = self.mode.currentIndex() == 1
        self.changed.emit()


class PermissionsPane(QWidget):
    #: (plugin id, the complete new grants)
    grantsRequested = Signal(str, object)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._snap: PluginSnapshot | None = None
        self._shown: tuple[Any, ...] | None = None
        self._dirs: dict[str, list[DirEntry]] = {}  # per plugin, incl. unticked ones
        self._envs: dict[str, dict[str, bool]] = {}
        self._building = False

        self.title = QLabel("Select a plugin to see what it may touch.")
        self.title.setWordWrap(True)  # a long plugin name must not push the splitter
        self.network = QCheckBox("Network (outgoing connections, DNS)")
        self.network.setObjectName("network")
        self.dir_box = QGroupBox("Directories")
        self.dir_layout = QVBoxLayout(self.dir_box)
        self.guest_edit = QLineEdit("/data")
        self.guest_edit.setPlaceholderText("path the plugin sees, e.g. /data")
        self.add_dir = QPushButton("Add directory…")
        add_row = QHBoxLayout()
        add_row.addWidget(QLabel("as"))
        add_row.addWidget(self.guest_edit, 1)
        add_row.addWidget(self.add_dir)
        #: Why the last folder was not added (a path already in use), else hidden.
        self.dir_message = QLabel()
        self.dir_message.setObjectName("dirMessage")
        self.dir_message.setTextFormat(Qt.TextFormat.PlainText)
        self.dir_message.setWordWrap(True)
        self.dir_message.hide()

        self.env_box = QGroupBox("Environment variables")
        self.env_layout = QVBoxLayout(self.env_box)
        self.env_edit = QLineEdit()
        self.env_edit.setPlaceholderText("NAME")
        self.add_env = QPushButton("Add variable")
        env_row = QHBoxLayout()
        env_row.addWidget(self.env_edit, 1)
        env_row.addWidget(self.add_env)

        self.memory = QSpinBox()
        self.memory.setRange(1, 16 * 1024)
        self.memory.setSuffix(" MiB")
        self.memory.setKeyboardTracking(False)
        self.memory.setValue(DEFAULT_MEMORY // MiB)
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(0.01, 3600.0)
        self.timeout.setDecimals(2)
        self.timeout.setSuffix(" s")
        self.timeout.setKeyboardTracking(False)
        self.timeout.setValue(DEFAULT_TIMEOUT)
        limits = QFormLayout()
        limits.addRow("Memory limit", self.memory)
        limits.addRow("Time limit per call", self.timeout)

        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.network)
        lay.addWidget(self.dir_box)
        lay.addLayout(add_row)
        lay.addWidget(self.dir_message)
        lay.addWidget(self.env_box)
        lay.addLayout(env_row)
        lay.addLayout(limits)
        lay.addStretch(1)

        self.network.toggled.connect(self._emit)
        self.memory.valueChanged.connect(self._emit)
        self.timeout.valueChanged.connect(self._emit)
        self.add_dir.clicked.connect(self._on_add_dir)
        self.add_env.clicked.connect(self._on_add_env)
        self.env_edit.returnPressed.connect(self._on_add_env)
        self.set_snapshot(None)

    # --- showing ------------------------------------------------------------------------

    def set_snapshot(self, snap: PluginSnapshot | None) -> None:
        key = None if snap is None else (snap.plugin_id, snap.grants, snap.requested)
        if (snap and snap.plugin_id) != (self._snap and self._snap.plugin_id):
            self._say("")  # a refusal is about the plugin it was made for
        self._snap = snap
        if key == self._shown:
            return
        self._shown = key
        self.setEnabled(snap is not None)
        if snap is None:
            self.title.setText("Select a plugin to see what it may touch.")
            return
        self.title.setText(f"<b>{for_html(snap.name or snap.plugin_id)}</b> may touch only "
                           "what is ticked here. Changes apply at once.")
        self._merge(snap)
        self._rebuild()

    def _merge(self, snap: PluginSnapshot) -> None:
        """Fold the engine's grants into the remembered rows (which keep unticked ones)."""
        pid = snap.plugin_id
        entries = self._dirs.setdefault(pid, [])
        granted = {d.guest: d for d in snap.grants.dirs}
        for e in entries:
            d = granted.pop(e.guest, None)
            e.granted = d is not None
            if d is not None:
                e.host, e.writable = d.host, d.writable
        entries.extend(DirEntry(d.host, d.guest, d.writable, True) for d in granted.values())
        envs = self._envs.setdefault(pid, {})
        for name in list(envs):
            envs[name] = name in snap.grants.env
        for name in snap.grants.env:
            envs[name] = True
        for req in snap.requested:
            if req.kind == "env" and req.target:
                envs.setdefault(req.target, False)
        wanted = next((r.target for r in snap.requested  # a folder request names its guest
                       if r.kind in FOLDER_KINDS and all(e.guest != r.target for e in entries)),
                      None)
        if wanted:
            self.guest_edit.setText(wanted)

    def _rebuild(self) -> None:
        snap = self._snap
        if snap is None:
            return
        self._building = True
        try:
            self.network.setChecked(snap.grants.network)
            self.memory.setValue(max(1, snap.grants.memory_bytes // MiB))
            self.timeout.setValue(snap.grants.timeout_s)
            _clear(self.dir_layout)
            for entry in self._dirs.get(snap.plugin_id, []):
                row = DirRow(entry)
                row.changed.connect(self._emit)
                row.removed.connect(lambda e=entry: self._remove_dir(e))
                self.dir_layout.addWidget(row)
            if not self._dirs.get(snap.plugin_id):
                self.dir_layout.addWidget(QLabel("No directories. The plugin sees no files."))
            _clear(self.env_layout)
            for name, on in sorted(self._envs.get(snap.plugin_id, {}).items()):
                box = QCheckBox(name)
                box.setObjectName(f"env:{name}")
                box.setChecked(on)
                box.toggled.connect(lambda checked, n=name: self._toggle_env(n, checked))
                self.env_layout.addWidget(box)
            if not self._envs.get(snap.plugin_id):
                self.env_layout.addWidget(QLabel("No variables."))
        finally:
            self._building = False

    # --- finding widgets (tests, accessibility) -----------------------------------------

    def dir_checkbox(self, guest: str) -> QCheckBox | None:
        return self.findChild(QCheckBox, f"dir:{guest}")

    def env_checkbox(self, name: str) -> QCheckBox | None:
        return self.findChild(QCheckBox, f"env:{name}")

    # --- editing ------------------------------------------------------------------------

    def _on_add_dir(self, *_: object, writable: bool = False) -> None:
        """Pick a host folder for the guest path typed beside the button.

        A path that already shows a folder is refused with a message: adding another
        one there would silently replace the first grant.
        """
        snap = self._snap
        if snap is None:
            return
        guest = self.guest_edit.text().strip() or "/data"
        if not guest.startswith("/"):
            guest = "/" + guest
        entries = self._dirs.setdefault(snap.plugin_id, [])
        taken = next((e for e in entries if e.guest == guest), None)
        if taken is not None:
            state = "" if taken.granted else " (unticked)"
            self._say(f"{guest} already shows {taken.host}{state} to the plugin: remove that "
                      "folder first, or type another path for the new one.")
            return
        self._say("")
        name = shown(snap.name or snap.plugin_id, 80)
        host = dialogs.choose_directory(self, f"A folder for {name} to see as {guest}")
        if not host:
            return
        entries.append(DirEntry(str(Path(host).resolve()), guest, writable, True))
        self._rebuild()
        self._emit()

    def add_folder(self, guest: str, *, writable: bool = False) -> None:
        """The add-folder flow for a path the plugin asked for (a "Grant folder…" fix):
        a listed but unticked folder there is ticked again, else a folder is chosen."""
        snap = self._snap
        if snap is None:
            return
        entry = next((e for e in self._dirs.get(snap.plugin_id, []) if e.guest == guest), None)
        self.guest_edit.setText(guest)
        if entry is not None and not entry.granted:
            entry.granted = True
            entry.writable = entry.writable or writable
            self._say("")
            self._rebuild()
            self._emit()
            box = self.dir_checkbox(guest)
            if box is not None:
                box.setFocus()
            return
        self._on_add_dir(writable=writable)

    def _say(self, text: str) -> None:
        self.dir_message.setText(text)
        self.dir_message.setVisible(bool(text))

    def _remove_dir(self, entry: DirEntry) -> None:
        snap = self._snap
        if snap is None:
            return
        entries = self._dirs.get(snap.plugin_id, [])
        if entry in entries:
            entries.remove(entry)
        self._rebuild()
        self._emit()

    def _on_add_env(self) -> None:
        snap = self._snap
        name = self.env_edit.text().strip()
        if snap is None or not is_env_name(name):
            return
        self._envs.setdefault(snap.plugin_id, {})[name] = True
        self.env_edit.clear()
        self._rebuild()
        self._emit()

    def _toggle_env(self, name: str, checked: bool) -> None:
        if self._snap is not None:
            self._envs.setdefault(self._snap.plugin_id, {})[name] = checked
            self._emit()

    def current_grants(self) -> Grants | None:
        snap = self._snap
        if snap is None:
            return None
        dirs = tuple(DirGrant(e.host, e.guest, e.writable)
                     for e in self._dirs.get(snap.plugin_id, []) if e.granted)
        env = tuple(sorted(n for n, on in self._envs.get(snap.plugin_id, {}).items() if on))
        return replace(snap.grants, dirs=dirs, network=self.network.isChecked(), env=env,
                       memory_bytes=self.memory.value() * MiB,
                       timeout_s=round(self.timeout.value(), 2))

    def _emit(self, *_: object) -> None:
        if self._building or self._snap is None:
            return
        grants = self.current_grants()
        if grants is not None and grants != self._snap.grants:
            self.grantsRequested.emit(self._snap.plugin_id, grants)


def _clear(layout: Any) -> None:
    while layout.count():
        item = layout.takeAt(0)
        w = item.widget()
        if w is not None:
            w.setParent(None)
            w.deleteLater()

