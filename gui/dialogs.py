"""File and folder choosers in one place, so tests can replace them with stubs."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QWidget

#: What the install chooser and drag-and-drop accept.
PLUGIN_SUFFIXES = (".wasm", ".wasmbay", ".zip", ".tar.gz", ".tgz")
PLUGIN_FILTER = "Plugins (*.wasm *.wasmbay *.zip *.tar.gz *.tgz);;All files (*)"


def is_plugin_file(path: str) -> bool:
    return path.lower().endswith(PLUGIN_SUFFIXES)


def choose_plugin_files(parent: QWidget | None, title: str = "Install plugins") -> list[str]:
    files, _ = QFileDialog.getOpenFileNames(parent, title, "", PLUGIN_FILTER)
    return list(files)


def choose_plugin_file(parent: QWidget | None, title: str = "Choose a plugin") -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, "", PLUGIN_FILTER)
    return path


def choose_directory(parent: QWidget | None, title: str = "Choose a folder") -> str:
    return QFileDialog.getExistingDirectory(parent, title)


def choose_save_file(parent: QWidget | None, title: str, name: str, filter_: str) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, title, name, filter_)
    return path


def confirm(parent: QWidget | None, title: str, text: str) -> bool:
    from PySide6.QtWidgets import QMessageBox

    answer = QMessageBox.question(parent, title, text)
    return answer == QMessageBox.StandardButton.Yes
