"""Finding the app's icons and stylesheets, in a checkout and in a PyInstaller bundle."""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QAction, QGuiApplication, QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication, QSizePolicy, QSplitter, QToolBar, QWidget

#: gui/icons/ beside this module: the action, state and stylesheet glyphs (package data).
ICON_DIR = Path(__file__).resolve().parent / "icons"

#: Action icons are drawn in one colour per theme (their SVGs use ``currentColor``), and
#: dimmed like disabled text when their action cannot apply.
ICON_COLORS = {False: "#4b3fa8", True: "#b9a8ff"}
DISABLED_ICON_COLORS = {False: "#b3b0c4", True: "#5f5b70"}

#: Which icon each of the window's actions gets, by attribute name; a window without
#: one of them (another build of the menus) simply has nothing to set.
ACTION_ICONS = {
    "act_install": "install", "act_uninstall": "uninstall", "act_toggle": "toggle",
    "act_reload": "reload", "act_folder": "folder", "act_canary": "canary",
    "act_samples": "samples", "act_find": "find", "act_quit": "quit",
    "act_promote": "promote", "act_rollback": "rollback", "act_cancel": "cancel",
    "act_details": "details", "act_logs": "logs",
}


def resource_dir() -> Path:
    """resources/ beside the package (checkout) or inside the bundle (PyInstaller)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def app_icon() -> QIcon:
    path = resource_dir() / "wasmbay.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def forced_theme() -> bool | None:
    """``WASMBAY_THEME=dark|light`` overrides the system (screenshots, users who want it)."""
    choice = os.environ.get("WASMBAY_THEME", "").strip().lower()
    return {"dark": True, "light": False}.get(choice)


def is_dark() -> bool:
    forced = forced_theme()
    if forced is not None:
        return forced
    hints = QGuiApplication.styleHints()
    return bool(hints.colorScheme() == Qt.ColorScheme.Dark)


def current_dark() -> bool:
    """Whether the stylesheet applied last is the dark one (icons are tinted to match)."""
    app = QApplication.instance()
    value = getattr(app, "_wasmbay_dark", None) if app is not None else None
    return is_dark() if value is None else bool(value)


def stylesheet(dark: bool) -> str:
    """The theme's stylesheet; ``@ICONS@`` in it becomes gui/icons/ (glyphs it draws)."""
    path = resource_dir() / ("dark.qss" if dark else "light.qss")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    return text.replace("@ICONS@", ICON_DIR.as_posix())


def set_theme(app: QApplication, dark: bool) -> None:
    """Apply one theme's stylesheet and re-tint the icons that follow it."""
    app._wasmbay_dark = dark  # type: ignore[attr-defined]  # first: StyleChange re-tints
    app.setStyleSheet(stylesheet(dark))
    for widget in app.topLevelWidgets():
        retint = getattr(widget, "_wasmbay_retint", None)
        if callable(retint):
            retint()


def apply_theme(app: QApplication) -> None:
    """Use the light or dark stylesheet to match the system, and follow its changes."""
    set_theme(app, is_dark())
    hints = QGuiApplication.styleHints()
    if not getattr(app, "_wasmbay_theme_connected", False):
        def follow(scheme: Qt.ColorScheme) -> None:
            if forced_theme() is None:
                set_theme(app, scheme == Qt.ColorScheme.Dark)

        hints.colorSchemeChanged.connect(follow)
        app._wasmbay_theme_connected = True  # type: ignore[attr-defined]


# --- icons ------------------------------------------------------------------------------

@cache
def _svg(name: str) -> bytes:
    try:
        return (ICON_DIR / f"{name}.svg").read_bytes()
    except OSError:
        return b""


def icon(name: str, color: str | None = None, disabled: str | None = None) -> QIcon:
    """gui/icons/<name>.svg as an icon, ``currentColor`` drawn in ``color``, and in
    ``disabled`` for the disabled mode (else QIcon greys it itself, too light on dark).
    """
    data = _svg(name)
    if not data:
        return QIcon()
    result = QIcon()
    modes = [(QIcon.Mode.Normal, color)]
    if color is not None and disabled is not None:
        modes.append((QIcon.Mode.Disabled, disabled))
    for mode, tint in modes:
        svg = data.replace(b"currentColor", tint.encode()) if tint is not None else data
        renderer = QSvgRenderer(QByteArray(svg))
        for side in (16, 20, 24, 32, 48, 64):
            pixmap = QPixmap(QSize(side, side))
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            renderer.render(painter, QRectF(0, 0, side, side))
            painter.end()
            result.addPixmap(pixmap, mode)
    return result


@cache
def state_icon(state: str) -> QIcon:
    """The State column's icon: ready, loading, failed, disabled, or canary."""
    return icon(f"state-{state}")


def action_icon(name: str, dark: bool | None = None) -> QIcon:
    dark = current_dark() if dark is None else dark
    return icon(name, ICON_COLORS[dark], DISABLED_ICON_COLORS[dark])


def apply_action_icons(window: QWidget) -> None:
    """Give each of ``window``'s known actions (:data:`ACTION_ICONS`) its icon, tinted for
    the theme, again whenever the theme changes (:func:`set_theme`)."""
    def tint() -> None:
        dark = current_dark()
        for attr, name in ACTION_ICONS.items():
            act = getattr(window, attr, None)
            if isinstance(act, QAction):
                act.setIcon(action_icon(name, dark))

    tint()
    window._wasmbay_retint = tint  # type: ignore[attr-defined]
    bar = getattr(window, "toolbar", None)
    if isinstance(bar, QToolBar):  # icons with their words: the toolbar reads at a glance
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        bar.setIconSize(QSize(18, 18))



def hold_splitter(splitter: QSplitter, minimum: int) -> None:
    """Keep ``splitter`` where it is when a pane's content changes (another plugin's
    longer text, Pause becoming Resume): its panes' size hints no longer push the handle;
    only the user, or a resize of the window, moves it. Each pane keeps ``minimum`` px."""
    horizontal = splitter.orientation() == Qt.Orientation.Horizontal
    for i in range(splitter.count()):
        pane = splitter.widget(i)
        if pane is None:
            continue
        policy = pane.sizePolicy()
        if horizontal:
            policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
            pane.setMinimumWidth(minimum)
        else:
            policy.setVerticalPolicy(QSizePolicy.Policy.Ignored)
            pane.setMinimumHeight(minimum)
        pane.setSizePolicy(policy)
