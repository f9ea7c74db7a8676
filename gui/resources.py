"""Finding the app's icon and stylesheets, in a checkout and in a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication


def resource_dir() -> Path:
    """resources/ beside the package (checkout) or inside the bundle (PyInstaller)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def app_icon() -> QIcon:
    path = resource_dir() / "wasmbay.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return bool(hints.colorScheme() == Qt.ColorScheme.Dark)


def stylesheet(dark: bool) -> str:
    path = resource_dir() / ("dark.qss" if dark else "light.qss")
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def apply_theme(app: QApplication) -> None:
    """Use the light or dark stylesheet to match the system, and follow its changes."""
    app.setStyleSheet(stylesheet(is_dark()))
    hints = QGuiApplication.styleHints()
    if not getattr(app, "_wasmbay_theme_connected", False):
        hints.colorSchemeChanged.connect(lambda scheme: app.setStyleSheet(
            stylesheet(scheme == Qt.ColorScheme.Dark)))
        app._wasmbay_theme_connected = True  # type: ignore[attr-defined]
