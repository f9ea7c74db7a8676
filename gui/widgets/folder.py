"""Open a folder in the desktop's file manager, or say where it is when that fails.

``QDesktopServices.openUrl`` returns False where no file manager is registered (a bare
window manager, a container, some Flatpak setups); before this, "Open data folder" then
did nothing at all. The message shows the path as selectable text with a Copy button.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMessageBox, QWidget


def desktop_open(url: QUrl) -> bool:
    """The desktop's opener (tests replace it: a real one would start a file manager)."""
    return bool(QDesktopServices.openUrl(url))


def open_folder(parent: QWidget, path: str, what: str = "the folder") -> bool:
    """Create and open ``path``; on failure show :func:`folder_message`. True if opened."""
    problem = ""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        problem = f"It could not be created: {e.strerror or e}."
    if not problem and desktop_open(QUrl.fromLocalFile(path)):
        return True
    folder_message(parent, path, what, problem)
    return False


def folder_message(parent: QWidget, path: str, what: str, problem: str = "") -> QMessageBox:
    """Say that ``what`` could not be opened and where it is (selectable, copyable)."""
    box = QMessageBox(QMessageBox.Icon.Information, "Wasmbay",
                      f"This desktop could not open {what}. {problem}".strip()
                      + f"\n\nIt is here:\n{path}",
                      QMessageBox.StandardButton.Close, parent)
    box.setObjectName("folderMessage")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                | Qt.TextInteractionFlag.TextSelectableByKeyboard)
    copy = box.addButton("Copy path", QMessageBox.ButtonRole.ActionRole)
    copy.setObjectName("copyPath")
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(path))
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
