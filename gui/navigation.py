"""Keyboard navigation of the main window: the Tab walk, pane shortcuts, tab switching.

Tab walks the window in regions: the filter, the plugin list, the detail tabs' bar, the
open pane, the log bar and view, then the status bar (Cancel, Undo). Within a region the
order is Qt's own focus chain, so widgets a pane adds later (a folder row) still come in
their place instead of at the end of the window. The table never keeps Tab for itself:
Tab would walk its cells and change the selected plugin.

Panes are found by their widget (``window.details``) or their tab's text at the moment a
shortcut fires, never by a fixed index: other parts of the window add tabs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QMainWindow,
    QPlainTextEdit,
    QTabWidget,
    QTextEdit,
    QWidget,
)


@dataclass(frozen=True, slots=True)
class PaneSpec:
    title: str  # the tab's text
    attribute: str  # the window's attribute holding the pane, when it has one
    shortcut: str


#: The detail panes, in the order of their shortcuts.
PANES = (
    PaneSpec("Permissions", "permissions", "Alt+1"),
    PaneSpec("Configuration", "config", "Alt+2"),
    PaneSpec("Versions", "versions", "Alt+3"),
    PaneSpec("Try it", "tryit", "Alt+4"),
    PaneSpec("Details", "details", "Alt+5"),
)
LOGS_SHORTCUT = "Alt+6"
PLUGINS_SHORTCUT = "Alt+0"


def _plain(text: str) -> str:
    return text.replace("&", "").strip().casefold()


def tab_index(window: QWidget, tabs: QTabWidget, spec: PaneSpec) -> int:
    """The pane's tab index now, or -1 if the window has no such tab."""
    pane = getattr(window, spec.attribute, None)
    if isinstance(pane, QWidget) and (i := tabs.indexOf(pane)) >= 0:
        return i
    for i in range(tabs.count()):
        page = tabs.widget(i)
        if _plain(tabs.tabText(i)) == _plain(spec.title) or (
                page is not None and page.objectName().casefold() == spec.attribute):
            return i
    return -1


def focusable(widget: QWidget, top: QWidget) -> bool:
    """What Qt's own Tab walk accepts: tab-focusable, shown, enabled, no focus proxy."""
    return bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus) and (
        widget.isVisibleTo(top) and widget.isEnabled() and widget.focusProxy() is None)


def focus_chain(top: QWidget) -> list[QWidget]:
    """``top``'s focusable widgets in Qt's focus-chain order."""
    out: list[QWidget] = []
    w = top.nextInFocusChain()
    for _ in range(10_000):  # a guard: the chain is circular
        if w is None or w is top:
            break
        if focusable(w, top):
            out.append(w)
        w = w.nextInFocusChain()
    return out


def first_focusable(region: QWidget, top: QWidget) -> QWidget | None:
    if focusable(region, top):
        return region
    return next((w for w in focus_chain(top) if region.isAncestorOf(w)), None)


class Navigator(QObject):
    """Owns the window's keyboard actions and its Tab walk."""

    def __init__(self, window: QMainWindow, tabs: QTabWidget,
                 regions: Callable[[], Sequence[QWidget | None]],
                 logs: Callable[[], QWidget | None], plugins: Callable[[], QWidget | None],
                 say: Callable[[str], None]) -> None:
        super().__init__(window)
        self.window = window
        self.tabs = tabs
        self._regions = regions
        self._logs = logs
        self._plugins = plugins
        self._say = say
        self.pane_actions: list[QAction] = []
        for spec in PANES:
            a = self._action(spec.title, spec.shortcut, f"Show the {spec.title} pane")
            a.triggered.connect(lambda _=False, s=spec: self.show_pane(s))
            a.setData(spec.attribute)
            self.pane_actions.append(a)
        self.next_tab = self._action("Next pane", "Ctrl+Tab", "Show the next detail pane",
                                     extra=("Ctrl+PgDown",))
        self.next_tab.triggered.connect(lambda: self.step_tab(1))
        self.previous_tab = self._action("Previous pane", "Ctrl+Shift+Tab",
                                         "Show the previous detail pane",
                                         extra=("Ctrl+Shift+Backtab", "Ctrl+PgUp"))
        self.previous_tab.triggered.connect(lambda: self.step_tab(-1))
        self.focus_logs = self._action("Focus logs", LOGS_SHORTCUT,
                                       "Move the keyboard focus to the live logs")
        self.focus_logs.triggered.connect(self.to_logs)
        self.focus_plugins = self._action("Focus plugin list", PLUGINS_SHORTCUT,
                                          "Move the keyboard focus to the plugin list")
        self.focus_plugins.triggered.connect(self.to_plugins)

    def _action(self, text: str, shortcut: str, tip: str,
                extra: tuple[str, ...] = ()) -> QAction:
        a = QAction(text, self.window)
        a.setShortcuts([QKeySequence(shortcut), *(QKeySequence(k) for k in extra)])
        a.setToolTip(f"{tip} ({shortcut})")
        a.setStatusTip(tip)
        self.window.addAction(a)
        return a

    # --- panes --------------------------------------------------------------------------

    def refresh(self) -> None:
        """Pane actions whose tab is missing are disabled (and say so)."""
        for spec, a in zip(PANES, self.pane_actions, strict=True):
            present = tab_index(self.window, self.tabs, spec) >= 0
            a.setEnabled(present)
            tip = (f"Show the {spec.title} pane ({spec.shortcut})" if present
                   else f"This window has no {spec.title} pane")
            a.setToolTip(tip)
            a.setStatusTip(tip)

    def show_pane(self, spec: PaneSpec) -> bool:
        i = tab_index(self.window, self.tabs, spec)
        if i < 0:
            self._say(f"This window has no {spec.title} pane.")
            return False
        self.tabs.setCurrentIndex(i)
        page = self.tabs.widget(i)
        if page is not None:
            self._focus_into(page)
        return True

    def step_tab(self, step: int) -> None:
        n = self.tabs.count()
        if n:
            self.tabs.setCurrentIndex((self.tabs.currentIndex() + step) % n)
            if not self._focus_inside(self.tabs):
                self.tabs.tabBar().setFocus(Qt.FocusReason.TabFocusReason)

    def _focus_into(self, pane: QWidget) -> None:
        target = first_focusable(pane, self.window)
        (target or self.tabs.tabBar()).setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _focus_inside(self, region: QWidget) -> bool:
        w = QApplication.focusWidget()
        return w is not None and (w is region or region.isAncestorOf(w))

    def to_logs(self) -> None:
        logs = self._logs()
        if logs is not None:
            target = logs if focusable(logs, self.window) else first_focusable(logs, self.window)
            if target is not None:
                target.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def to_plugins(self) -> None:
        target = self._plugins()
        if target is not None:
            target.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # --- the Tab walk -------------------------------------------------------------------

    def order(self) -> list[QWidget]:
        """Every widget Tab stops at, region by region."""
        chain = focus_chain(self.window)
        out: list[QWidget] = []
        for region in self._regions():
            if region is None or not region.isVisibleTo(self.window):
                continue
            for w in chain:
                if (w is region or region.isAncestorOf(w)) and w not in out:
                    out.append(w)
        return out

    def move(self, forward: bool) -> bool:
        """Tab (``forward``) or Shift+Tab; False leaves it to Qt (focus is elsewhere)."""
        order = self.order()
        current = QApplication.focusWidget()
        if not order or current is None:
            return False
        if current in order:
            i = order.index(current)
        else:  # inside a region's compound widget (a spin box's editor) or outside all
            owner = next((w for w in order if w.isAncestorOf(current)), None)
            if owner is None:
                return False
            i = order.index(owner)
        target = order[(i + (1 if forward else -1)) % len(order)]
        reason = Qt.FocusReason.TabFocusReason if forward else Qt.FocusReason.BacktabFocusReason
        target.setFocus(reason)
        return True


def let_tab_leave_text_boxes(root: QWidget) -> None:
    """Multi-line text boxes take Tab as a character; keyboard users could not leave.

    Ctrl+Tab is a pane switch here, so a literal tab is pasted rather than typed.
    """
    for edit in root.findChildren(QPlainTextEdit):
        edit.setTabChangesFocus(True)
    for text in root.findChildren(QTextEdit):
        text.setTabChangesFocus(True)
