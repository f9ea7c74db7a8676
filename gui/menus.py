"""The menu bar (File, Plugin, View, Help) and why each plugin action can or cannot apply.

The window's actions are made once (``MainWindow._make_actions``, plus Promote, Rollback,
Quit and the Help entries here) and shown in the toolbar, the context menu and the menu
bar alike. :func:`plugin_action_states` is the one place that decides, from the selected
plugin's snapshot, which of them apply and says why not; the disabled action carries the
reason as its tooltip and status tip (menus show tooltips).
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox

import wasmbay

from .snapshots import DISABLED, PluginSnapshot

if TYPE_CHECKING:
    from .mainwindow import MainWindow

SELECT_FIRST = "Select a plugin first."

#: Where to read more: plain text (there is no project site to link to).
LINKS = (
    ("Writing plugins", "docs/writing-plugins.md in the Wasmbay source"),
    ("The plugin contract", "wit/ in the Wasmbay source"),
    ("The command line", "wasmbay --help"),
)

TAB_KEYS = (
    ("Tab / Shift+Tab", "Move between the filter, the plugin list, the panes and the logs"),
    ("Ctrl+Tab / Ctrl+Shift+Tab", "Next / previous detail pane"),
)


def quit_keys() -> list[QKeySequence]:
    """The platform's Quit keys; Ctrl+Q where the platform names none."""
    keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)
    return keys or [QKeySequence("Ctrl+Q")]


def plugin_action_states(snap: PluginSnapshot | None) -> dict[str, tuple[bool, str]]:
    """Per plugin action: (enabled, tooltip). A disabled action's tooltip says why."""
    if snap is None:
        return {name: (False, SELECT_FIRST) for name in (
            "uninstall", "toggle", "reload", "folder", "canary", "promote", "rollback")}
    name = snap.name or snap.plugin_id
    stable = snap.stable.version if snap.stable else ""
    states = {
        "uninstall": (True, f"Uninstall {name}: its versions and settings are removed"),
        "toggle": (True, f"Enable {name}" if snap.state == DISABLED
                   else f"Disable {name}: it stops serving calls"),
        "reload": (True, f"Start {name} again from its stored version"),
        "folder": ((True, f"Open {name}'s data folder") if snap.data_dir
                   else (False, f"{name} has no data folder.")),
        "canary": (True, f"Try a new version of {name} on a share of its calls"),
    }
    if snap.canary is not None:
        states["promote"] = (True, f"Make the canary {snap.canary.version} the stable version")
        states["rollback"] = (True, f"Drop the canary {snap.canary.version}; "
                              f"{stable or 'the stable version'} serves every call")
    else:
        states["promote"] = (False, "No canary runs: start one first "
                             "(Plugin → Start canary…).")
        states["rollback"] = (
            (True, f"Go back to the previous stable version {snap.previous_stable}")
            if snap.previous_stable else
            (False, "No canary runs and there is no previous stable version to go back to."))
    return states


class Menus:
    """Builds the menu bar over the window's actions and keeps them honest."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        w = window
        self.promote = self._action("Promote", w.promote_selected)
        self.rollback = self._action("Rollback", w.rollback_selected)
        self.quit = self._action("Quit", w.close)
        self.quit.setShortcuts(quit_keys())
        self.quit.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit.setStatusTip("Shut the plugins down and close Wasmbay")
        self.about = self._action("About Wasmbay", self.show_about)
        self.about.setMenuRole(QAction.MenuRole.AboutRole)
        self.keys = self._action("Keyboard shortcuts", self.show_shortcuts)
        self.keys.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
        w.act_samples.setStatusTip("Install the plugins bundled with Wasmbay")

        bar = w.menuBar()
        self.file = bar.addMenu("&File")
        self.plugin = bar.addMenu("&Plugin")
        self.view = bar.addMenu("&View")
        self.help = bar.addMenu("&Help")
        for menu in (self.file, self.plugin, self.view, self.help):
            menu.setToolTipsVisible(True)  # a disabled entry's tooltip says why
        self._fill(self.file, (w.act_install, w.act_samples, None, w.act_folder, None,
                               self.quit))
        self._fill(self.plugin, (w.act_toggle, w.act_reload, w.act_uninstall, None,
                                 w.act_canary, self.promote, self.rollback))
        nav = w.navigator
        self._fill(self.view, (*nav.pane_actions, nav.next_tab, nav.previous_tab, None,
                               w.act_find, nav.focus_plugins, nav.focus_logs, None))
        self.columns = self.view.addMenu("Columns")
        self.columns.setToolTipsVisible(True)
        self.columns.aboutToShow.connect(self._fill_columns)
        self.view.aboutToShow.connect(nav.refresh)
        self._fill(self.help, (self.keys, None, self.about))
        self._fill_columns()

    def _action(self, text: str, slot: object) -> QAction:
        a = QAction(text, self.window)
        a.triggered.connect(slot)
        self.window.addAction(a)
        return a

    @staticmethod
    def _fill(menu: QMenu, actions: tuple[QAction | None, ...]) -> None:
        for a in actions:
            if a is None:
                menu.addSeparator()
            else:
                menu.addAction(a)

    # --- state --------------------------------------------------------------------------

    def update(self, snap: PluginSnapshot | None) -> None:
        w = self.window
        actions = {"uninstall": w.act_uninstall, "toggle": w.act_toggle,
                   "reload": w.act_reload, "folder": w.act_folder, "canary": w.act_canary,
                   "promote": self.promote, "rollback": self.rollback}
        for name, (enabled, tip) in plugin_action_states(snap).items():
            a = actions[name]
            a.setEnabled(enabled)
            keys = a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            a.setToolTip(f"{tip} ({keys})" if keys and enabled else tip)
            a.setStatusTip(tip)
        w.act_toggle.setText("Enable" if snap and snap.state == DISABLED else "Disable")

    # --- columns ------------------------------------------------------------------------

    def _fill_columns(self) -> None:
        """One checkable entry per column but the name, as the header shows them now."""
        self.columns.clear()
        table = self.window.table
        header = table.horizontalHeader()
        model = table.model()
        # the table's column fitter (gui.columns), where there is one, keeps the choice
        fitter = getattr(self.window, "column_fitter", None)
        chosen = getattr(fitter, "user_hidden", None)
        for section in range(1, model.columnCount()):
            title = str(model.headerData(section, Qt.Orientation.Horizontal) or section)
            a = self.columns.addAction(title)
            a.setCheckable(True)
            a.setChecked(section not in chosen if chosen is not None
                         else not header.isSectionHidden(section))
            if fitter is not None and hasattr(fitter, "set_shown"):
                a.toggled.connect(lambda on, s=section: fitter.set_shown(s, on))
            else:
                a.toggled.connect(lambda on, s=section: header.setSectionHidden(s, not on))

    # --- help ---------------------------------------------------------------------------

    def about_text(self) -> str:
        dirs = self.window.dirs
        lines = [
            f"Wasmbay {wasmbay.__version__}",
            "A desktop manager for sandboxed WebAssembly component plugins.",
            "",
            f"Python {platform.python_version()}, Qt {qVersion()}, PySide6 {pyside_version}",
            f"Data folder: {dirs.data}",
            f"Settings folder: {dirs.config}",
            "",
            *(f"{title}: {where}" for title, where in LINKS),
        ]
        return "\n".join(lines)

    def show_about(self) -> QMessageBox:
        return self._box("aboutBox", "About Wasmbay", self.about_text())

    def shortcuts_text(self) -> str:
        seen: dict[str, str] = {}
        for a in self.window.actions():
            keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText)
                             for k in a.shortcuts() if not k.isEmpty())
            if keys and a.text():
                seen.setdefault(a.text().replace("&", ""), keys)
        rows = [*((k, t) for t, k in seen.items()), *TAB_KEYS]
        return "\n".join(f"{keys}\t{what}" for keys, what in rows)

    def show_shortcuts(self) -> QMessageBox:
        return self._box("shortcutsBox", "Keyboard shortcuts", self.shortcuts_text())

    def _box(self, name: str, title: str, text: str) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Information, title, text,
                          QMessageBox.StandardButton.Close, self.window)
        box.setObjectName(name)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box
