"""Ask before installing: the plugin's metadata and each capability it requests.

Every request is a checkbox, unticked until the user ticks it (deny by default). For an
update, capabilities the plugin already has are listed as kept, and only what it asks
for beyond them (the permission diff) needs approval. The publisher (the trusted key that
signed the file, or unsigned) is always shown; an update from another publisher, or to a
lower version, is shown above everything else and the dialog cannot be accepted until
the user ticks its confirmation (the engine would refuse it otherwise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
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
from wasmbay.core.errors import WasmbayError
from wasmbay.core.grants import FOLDER_KINDS, grant_for, private_folder
from wasmbay.core.publisher import DOWNGRADE, PUBLISHER_CHANGE, signer_text
from wasmbay.core.untrusted import escape, for_html

from .. import dialogs
from ..snapshots import InstallOffer

_KIND_TEXT = {
    "network": "Connect to the network",
    "fs-read": "Read files in {target}",
    "fs-write": "Read and write files in {target}",
    "env": "Read the environment variable {target}",
}


def _plain(text: str) -> QLabel:
    """A label that never interprets its text as markup (it may come from the plugin)."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


def describe(req: CapabilityRequest) -> str:
    text = _KIND_TEXT.get(req.kind, escape(req.text)).format(target=escape(req.target) or "?")
    return f"{text} — {escape(req.reason)}" if req.reason else text


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
        if req.kind in FOLDER_KINDS:
            self.host = QLineEdit(default_host)
            self.host.setToolTip("The folder on this computer the plugin will see")
            browse = QPushButton("Folder…")
            browse.clicked.connect(self._browse)
            lay.addWidget(QLabel("from"))
            lay.addWidget(self.host, 1)
            lay.addWidget(browse)

    def _browse(self) -> None:
        path = dialogs.choose_directory(self, f"Folder for {self.request.target}")
        if path and self.host is not None:
            self.host.setText(path)

    def capability(self) -> str | None:
        """The grant string for this row if ticked, e.g. ``fs-read=/home/me/x:/data``."""
        if not self.check.isChecked():
            return None
        return grant_for(self.request, None if self.host is None else self.host.text().strip())


class ConsentDialog(QDialog):
    """``action`` names what accepting does (the button and title), e.g. "Start canary";
    by default Install, or Update for an installed plugin."""

    def __init__(self, preview: InstallOffer, sandbox_root: Path | None = None,
                 parent: Any = None, *, action: str | None = None) -> None:
        super().__init__(parent)
        self.preview = preview
        verb = action or ("Update" if preview.is_update else "Install")
        self.setWindowTitle(f"{verb} {escape(preview.name)}?")
        self.setMinimumWidth(560)
        root = sandbox_root or Path.home()

        info = QFormLayout()
        # The plugin's own strings: escaped, and never read as markup.
        info.addRow("Plugin", QLabel(f"<b>{for_html(preview.name)}</b> "
                                     f"{for_html(preview.version)}"))
        info.addRow("Id", _plain(escape(preview.plugin_id)))
        if preview.is_update:
            info.addRow("Installed", _plain(escape(preview.current_version or "?")))
        desc = _plain(escape(preview.description) or "(no description)")
        desc.setObjectName("description")
        info.addRow("About", desc)
        info.addRow("Contract", QLabel(f"plugin-system {preview.wit_version}.x"))
        info.addRow("File", QLabel(f"{Path(preview.path).name}, {preview.size:,} bytes, "
                                   f"sha256 {preview.sha256[:16]}…"))
        self.publisher_label = _plain(signer_text(preview.signed_by).capitalize()
                                      + ("" if preview.signed_by
                                         else " (no trusted key vouches for this file)"))
        self.publisher_label.setObjectName("publisher")
        info.addRow("Publisher", self.publisher_label)

        #: One confirmation per kind of trust change; every one must be ticked.
        self.trust_checks: dict[str, QCheckBox] = {}
        trust_box: QGroupBox | None = None
        if preview.trust_changes:
            trust_box = QGroupBox("Check before you continue:")
            trust_box.setObjectName("trust-changes")
            trust_lay = QVBoxLayout(trust_box)
            for change in preview.trust_changes:
                label = _plain(escape(change.text[:1].upper() + change.text[1:]))
                label.setObjectName(f"trust-change:{change.kind}")
                label.setStyleSheet("font-weight: bold; color: #b00020;")
                trust_lay.addWidget(label)
            confirm_text = {
                PUBLISHER_CHANGE: "I trust the new publisher with this plugin's permissions "
                                  "and settings",
                DOWNGRADE: "I want to replace the installed version with this older one"}
            for kind in dict.fromkeys(c.kind for c in preview.trust_changes):
                check = QCheckBox(confirm_text[kind])
                check.setObjectName(f"trust:{kind}")
                check.setChecked(False)
                check.toggled.connect(self._update_accept)
                self.trust_checks[kind] = check
                trust_lay.addWidget(check)

        new = preview.new_requests()
        self.rows: list[RequestRow] = []
        box = QGroupBox("This update asks for more:" if preview.is_update
                        else "It asks for these permissions:")
        box_lay = QVBoxLayout(box)
        for req in new:
            try:  # the host names the folder (core.grants.private_folder), never the plugin
                default = str(private_folder(root / preview.plugin_id, req.target,
                                             create=False))
            except WasmbayError:
                default = ""  # a refused guest path: the user picks a folder or leaves it
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
        if trust_box is not None:
            lay.addWidget(trust_box)
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
        self._update_accept()

    def trust_confirmed(self) -> bool:
        """Whether every trust change shown has its confirmation ticked."""
        return all(c.isChecked() for c in self.trust_checks.values())

    def _update_accept(self) -> None:
        self.accept_button.setEnabled(self.trust_confirmed())

    def accept(self) -> None:
        if not self.trust_confirmed():  # also guards a programmatic accept
            return
        super().accept()

    def accepts_publisher_change(self) -> bool:
        check = self.trust_checks.get(PUBLISHER_CHANGE)
        return check is not None and check.isChecked()

    def allows_downgrade(self) -> bool:
        check = self.trust_checks.get(DOWNGRADE)
        return check is not None and check.isChecked()

    def request_checkbox(self, text: str) -> QCheckBox | None:
        return next((r.check for r in self.rows if r.request.text == text), None)

    def granted(self) -> list[str]:
        """The capabilities the user ticked, as grant strings."""
        return [c for r in self.rows if (c := r.capability()) is not None]
