"""Ask before installing: the plugin's metadata and each capability it requests.

Every request is a checkbox, unticked until the user ticks it (deny by default). For an
update, capabilities the plugin already has are listed as kept, and only what it asks
for beyond them (the permission diff) needs approval.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from wasmbay.core.contract import CapabilityRequest

from .. import dialogs
from ..snapshots import InstallPreview

_KIND_TEXT = {
    "network": "Connect to the network",
    "fs-read": "Read files in {target}",
    "fs-write": "Read and write files in {target}",
    "env": "Read the environment variable {target}",
}


def describe(req: CapabilityRequest) -> str:
    text = _KIND_TEXT.get(req.kind, req.text).format(target=req.target or "?")
    return f"{text} — {req.reason}" if req.reason else text


def guest_of(req: CapabilityRequest) -> str:
    """The path the plugin sees for a directory request (``HOST:GUEST`` or ``GUEST``)."""
    return req.target.partition(":")[2] or req.target


class RequestRow(QWidget):
    """A checkbox for one request; a directory request also picks the host folder."""

    def __init__(self, req: CapabilityRequest, default_host: str, parent: Any = None) -> None:
        super().__init__(parent)
        self.request = req
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.check = QCheckBox(describe(req))
        self.check.setObjectName(f"request:{req.text}")
        self.check.setChecked(False)
        lay.addWidget(self.check, 1)
        self.host: QLineEdit | None = None
        if req.kind in ("fs-read", "fs-write"):
            self.host = QLineEdit(default_host)
            self.host.setToolTip("The folder on this computer the plugin will see")
            browse = QPushButton("Folder…")
            browse.clicked.connect(self._browse)
            lay.addWidget(QLabel("from"))
            lay.addWidget(self.host, 1)
            lay.addWidget(browse)

    def _browse(self) -> None:
        path = dialogs.choose_directory(self, f"Folder for {guest_of(self.request)}")
        if path and self.host is not None:
            self.host.setText(path)

    def capability(self) -> str | None:
        """The grant string for this row if ticked, e.g. ``fs-read=/home/me/x:/data``."""
        if not self.check.isChecked():
            return None
        if self.host is not None:
            return f"{self.request.kind}={self.host.text().strip()}:{guest_of(self.request)}"
        return self.request.text


class ConsentDialog(QDialog):
    def __init__(self, preview: InstallPreview, sandbox_root: Path | None = None,
                 parent: Any = None) -> None:
        super().__init__(parent)
        self.preview = preview
        verb = "Update" if preview.is_update else "Install"
        self.setWindowTitle(f"{verb} {preview.name}?")
        self.setMinimumWidth(560)
        root = sandbox_root or Path.home()

        info = QFormLayout()
        info.addRow("Plugin", QLabel(f"<b>{preview.name}</b> {preview.version}"))
        info.addRow("Id", QLabel(preview.plugin_id))
        if preview.is_update:
            info.addRow("Installed", QLabel(preview.current_version or "?"))
        desc = QLabel(preview.description or "(no description)")
        desc.setWordWrap(True)
        info.addRow("About", desc)
        info.addRow("Contract", QLabel(f"plugin-system {preview.wit_version}.x"))
        info.addRow("File", QLabel(f"{Path(preview.path).name}, {preview.size:,} bytes, "
                                   f"sha256 {preview.sha256[:16]}…"))

        new = preview.new_requests()
        self.rows: list[RequestRow] = []
        box = QGroupBox("This update asks for more:" if preview.is_update
                        else "It asks for these permissions:")
        box_lay = QVBoxLayout(box)
        for req in new:
            default = str(root / preview.plugin_id / guest_of(req).strip("/").replace("/", "_"))
            row = RequestRow(req, default)
            self.rows.append(row)
            box_lay.addWidget(row)
        if not new:
            box_lay.addWidget(QLabel("Nothing new." if preview.is_update else
                                     "Nothing: it runs with compute only."))
        hint = QLabel("Nothing is granted unless you tick it. You can change this later in "
                      "the Permissions pane.")
        hint.setWordWrap(True)

        kept = [r for r in preview.requested if r not in new]
        lay = QVBoxLayout(self)
        lay.addLayout(info)
        lay.addWidget(box)
        if kept:
            kept_label = QLabel("Kept from the installed version: "
                                + ", ".join(r.text for r in kept))
            kept_label.setWordWrap(True)
            lay.addWidget(kept_label)
        lay.addWidget(hint)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.accept_button = buttons.addButton(verb, QDialogButtonBox.ButtonRole.AcceptRole)
        self.accept_button.setObjectName("primary")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def request_checkbox(self, text: str) -> QCheckBox | None:
        return next((r.check for r in self.rows if r.request.text == text), None)

    def granted(self) -> list[str]:
        """The capabilities the user ticked, as grant strings."""
        return [c for r in self.rows if (c := r.capability()) is not None]
