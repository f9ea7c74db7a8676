"""The main window: plugin table, detail panes, live logs, toolbar and drag-and-drop.

The window holds no plugin logic. It turns user actions into typed :class:`Backend`
calls through ``engine.run`` and shows the snapshots, events and failures that come back.
It is where the parts meet; each concern lives in its own module: the install and
consent sequence (installflow), promote/rollback with Undo (rollouts), the menu bar and
which actions apply (menus), the Tab walk and pane shortcuts (navigation), columns by
priority (columns) and the fix buttons' targets (fixes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from wasmbay.core.errors import Fix
from wasmbay.core.events import Event, LogLevel, LogRecord
from wasmbay.core.manager_events import CanaryRolledBack, PluginFailed, Progress
from wasmbay.core.paths import AppDirs
from wasmbay.core.untrusted import escape, shown

from . import dialogs, fixes
from .backend import Backend
from .columns import ColumnFitter
from .engine import Engine, Pending
from .installflow import InstallFlow
from .logmodel import LogModel
from .menus import Menus
from .navigation import Navigator, let_tab_leave_text_boxes
from .pluginmodel import Column, IdRole, PluginFilterProxy, PluginTableModel, StateDelegate
from .resources import app_icon, apply_action_icons, hold_splitter
from .rollouts import Rollouts, UndoButton
from .snapshots import DISABLED, FAILED, Failure, InstallOffer, PluginSnapshot
from .widgets.config import ConfigPane
from .widgets.consent import ConsentDialog
from .widgets.details import DetailsPane
from .widgets.emptystate import DropHighlight, EmptyState
from .widgets.folder import open_folder
from .widgets.logs import LogsPane
from .widgets.operations import OperationsIndicator
from .widgets.permissions import PermissionsPane
from .widgets.tryit import TryItPane
from .widgets.versions import VersionsPane

_log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    #: A consent dialog opened (tests and accessibility tools find it here).
    consentShown = Signal(object)
    #: A failure was shown to the user.
    failureShown = Signal(object)

    # made in __init__ and _make_actions; declared for the helpers that use them (menus)
    tabs: QTabWidget
    tryit: TryItPane
    navigator: Navigator
    act_samples: QAction
    act_canary: QAction
    act_find: QAction

    def __init__(self, engine: Engine, *, offer_samples: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.dirs = AppDirs.default()
        self._selected: str | None = None
        self._pending_select: str | None = None
        self._first_snapshots = True
        self.last_failure: Failure | None = None
        self._states: dict[str, str] = {}
        self.setWindowTitle("Wasmbay")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.resize(1200, 780)

        # models
        self.model = PluginTableModel(self)
        self.proxy = PluginFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.log_model = LogModel(engine.logs, parent=self)

        # widgets
        self.table = QTableView()
        self.table.setObjectName("plugins")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(Column.NAME, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table (navigation.py)
        header = self.table.horizontalHeader()
        header.setDefaultSectionSize(84)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.resizeSection(Column.NAME, 120)
        header.resizeSection(Column.STATE, 150)
        header.setStretchLastSection(True)
        self.table.setItemDelegateForColumn(Column.STATE, StateDelegate(self.table))
        self.column_fitter = ColumnFitter(self.table)  # columns by priority, ID hidden
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.doubleClicked.connect(lambda _: self.tabs.setCurrentWidget(self.tryit))

        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter plugins (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)

        self.permissions = PermissionsPane()
        self.config = ConfigPane()
        self.versions = VersionsPane()
        self.tryit = TryItPane()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.permissions, "Permissions")
        self.tabs.addTab(self.config, "Configuration")
        self.tabs.addTab(self.versions, "Versions")
        self.tabs.addTab(self.tryit, "Try it")
        self.details = DetailsPane()  # what it is, asks for, reads; its failure's fix
        self.tabs.addTab(self.details, "Details")
        self.logs = LogsPane(self.log_model)

        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 0, 0)
        left_lay.addWidget(self.search)
        self.empty = EmptyState()
        self.plugins_area = QStackedWidget()  # the table, or the hint while there is none
        self.plugins_area.setObjectName("pluginsArea")
        self.plugins_area.addWidget(self.table)
        self.plugins_area.addWidget(self.empty)
        left_lay.addWidget(self.plugins_area, 1)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(left)
        top.addWidget(self.tabs)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        top.setSizes([720, 480])
        main = QSplitter(Qt.Orientation.Vertical)
        main.addWidget(top)
        main.addWidget(self.logs)
        main.setStretchFactor(0, 3)
        main.setStretchFactor(1, 2)
        hold_splitter(top, 300)  # panes' content never moves the handles
        hold_splitter(main, 120)
        self.setCentralWidget(main)
        self.status = QLabel("Starting the plugin engine…")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.statusBar().addWidget(self.status, 1)
        self.undo = UndoButton()
        self.statusBar().addWidget(self.undo)
        self.operations = OperationsIndicator()
        self.statusBar().addPermanentWidget(self.operations)
        self.drop_highlight = DropHighlight(self)
        self.rollouts = Rollouts(engine, self.say, self.undo, self.model.snapshot, self)
        self.installs = InstallFlow(self, offer_samples=offer_samples)

        self.navigator = Navigator(
            self, self.tabs, lambda: (self.search, self.plugins_area, self.tabs.tabBar(),
                                      self.tabs.currentWidget(), self.logs, self.statusBar()),
            logs=lambda: getattr(self.logs, "view", self.logs), plugins=self._focus_target,
            say=self.say)
        self._make_actions()
        self.menus = Menus(self)
        apply_action_icons(self)
        self._connect()
        self._update_actions()
        let_tab_leave_text_boxes(self.tabs)
        self.navigator.refresh()

    # --- actions ------------------------------------------------------------------------

    def _make_actions(self) -> None:
        def action(text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            a.setToolTip(f"{tip or text} ({a.shortcut().toString()})" if shortcut else tip)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        self.act_install = action("Install…", self.install_dialog,
                                  QKeySequence.StandardKey.Open, "Install plugins from files")
        self.act_uninstall = action("Uninstall", self.uninstall_selected,
                                    QKeySequence.StandardKey.Delete)
        self.act_toggle = action("Disable", self.toggle_selected, "Ctrl+E")
        self.act_reload = action("Reload", self.reload_selected, QKeySequence.StandardKey.Refresh)
        self.act_folder = action("Open data folder", self.open_data_folder, "Ctrl+Shift+D")
        self.act_canary = action("Start canary…", self.versions.choose_canary, "Ctrl+Shift+C")
        self.act_find = action("Find", lambda: self.search.setFocus(),
                               QKeySequence.StandardKey.Find)
        self.act_samples = action("Install sample plugins", self.install_samples)
        bar = QToolBar("Plugins")
        bar.setObjectName("toolbar")
        bar.setMovable(False)
        for a in (self.act_install, self.act_uninstall, self.act_toggle, self.act_reload,
                  self.act_folder, self.act_canary):
            bar.addAction(a)
        self.addToolBar(bar)
        self.toolbar = bar

    def _context_menu(self, pos: Any) -> None:
        index = self.table.indexAt(pos)
        if index.isValid():
            self.table.selectRow(index.row())
        menu = QMenu(self)
        menu.setToolTipsVisible(True)  # a disabled entry says why (menus.py)
        for a in (self.act_install, None, self.act_toggle, self.act_reload, self.act_folder,
                  self.act_canary, self.menus.promote, self.menus.rollback, None,
                  self.act_uninstall):
            if a is None:
                menu.addSeparator()
            else:
                menu.addAction(a)
        menu.popup(self.table.viewport().mapToGlobal(pos))
        self.context_menu = menu

    def _connect(self) -> None:
        e = self.engine
        e.snapshots.connect(self.on_snapshots)
        e.event.connect(self.on_event)
        e.failed.connect(self.on_failed)
        e.callDone.connect(self.tryit.show_result)
        e.ready.connect(lambda: self.say("Engine ready."))
        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        self._forward(self.permissions.grantsRequested, lambda b: b.set_grants)
        self._forward(self.config.setRequested, lambda b: b.set_config)
        self._forward(self.config.removeRequested, lambda b: b.remove_config)
        self.versions.canaryRequested.connect(self.installs.canary_file)
        self._forward(self.versions.percentRequested, lambda b: b.set_canary_percent,
                      announce=False)
        self.versions.promoteRequested.connect(self.rollouts.promote)  # with Undo
        self.versions.rollbackRequested.connect(self.rollouts.rollback)
        self._forward(self.versions.thresholdRequested, lambda b: b.set_rollback_threshold,
                      announce=False)
        self.tryit.callRequested.connect(e.call)
        self.details.fixRequested.connect(self.apply_fix)
        self.tryit.fixRequested.connect(self.apply_fix)
        self.empty.installRequested.connect(self.install_dialog)
        self.empty.samplesRequested.connect(self.install_samples)

    def _forward(self, signal: Any, verb: Callable[[Backend], Callable[..., object]], *,
                 announce: bool = True, warn: bool = False) -> None:
        """Run ``verb`` with a pane's request signal's arguments each time it fires."""
        def run(*args: Any) -> None:
            pending = self.engine.run(verb, *args)
            if announce:
                self._announce(pending, warn=warn)

        signal.connect(run)

    def _announce(self, pending: Pending[Any], *, warn: bool = False) -> None:
        """Say ``<plugin>: <verb> done.`` when it is; a failure also opens a box if ``warn``."""
        label = pending.label.replace("_", " ")
        pending.then(lambda _: self.say(f"{pending.plugin_id}: {label} done."),
                     self.warn if warn else None)

    def say(self, text: str) -> None:
        """Show a status line (and log it: WASMBAY_LOG=info prints it on stderr).

        It often quotes plugin text (failure messages): escaped, and never read as markup.
        """
        text = escape(text)
        self.status.setText(text)
        _log.info("%s", text)

    # --- selection ----------------------------------------------------------------------

    @property
    def selected(self) -> PluginSnapshot | None:
        return self.model.snapshot(self._selected) if self._selected else None

    def select(self, plugin_id: str) -> bool:
        row = self.model.row_of(plugin_id)
        if row < 0:
            self._pending_select = plugin_id
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            return False
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        return True

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._selected = current.data(IdRole) if current.isValid() else None
        self._show_selected()
        self.logs.show_plugin(self._selected)

    def _show_selected(self) -> None:
        """Every pane shows the selected plugin's newest snapshot (or none).

        Runs on each snapshot, so a change from the CLI or another window shows in every
        pane; tabs added elsewhere with a ``set_snapshot`` are included, each once.
        """
        snap = self.selected
        panes = [self.permissions, self.config, self.versions, self.tryit,
                 *(self.tabs.widget(i) for i in range(self.tabs.count()))]
        for pane in dict.fromkeys(panes):
            set_snapshot = getattr(pane, "set_snapshot", None)
            if callable(set_snapshot):
                set_snapshot(snap)
        self._update_actions()

    def apply_fix(self, plugin_id: str, fix: Fix) -> None:
        """A fix button: the plugin selected, then the pane that repairs it (gui.fixes)."""
        if plugin_id != self._selected:
            self.select(plugin_id)
        fixes.apply_fix(self, fix)

    def _update_actions(self) -> None:
        """Which actions apply to the selection, and why not: menus.plugin_action_states."""
        self.menus.update(self.selected)

    def _focus_target(self) -> QWidget:
        """The plugin list, or the empty state's first button while there is none."""
        return self.table if self.plugins_area.currentWidget() is self.table else (
            self.empty.install)

    # --- engine answers -----------------------------------------------------------------

    def on_snapshots(self, snapshots: list[PluginSnapshot]) -> None:
        for snap in snapshots:
            if self._states.get(snap.plugin_id) != snap.state:
                self._states[snap.plugin_id] = snap.state
                why = f": {snap.reason}" if snap.reason and snap.state != "ready" else ""
                _log.info("plugin %s is %s%s", snap.plugin_id, snap.state, why)
        self.model.sync(snapshots)
        self.logs.set_plugins(sorted(s.plugin_id for s in snapshots))
        if self._pending_select and self.select(self._pending_select):
            self._pending_select = None
        if self._selected and self.model.row_of(self._selected) < 0:
            self._selected = None
        if self._selected is None and self.model.rowCount() and not self._pending_select:
            self.table.selectRow(0)
        self._show_selected()
        self.undo.check(self.model.snapshot)  # another window or the CLI moved on
        self._show_empty_state(self.model.rowCount() == 0)
        if self._first_snapshots:
            self._first_snapshots = False
            if not snapshots:
                self.installs.maybe_offer_samples()

    def _show_empty_state(self, empty: bool) -> None:
        focus = self.focusWidget()
        had_focus = focus is not None and self.plugins_area.isAncestorOf(focus)
        self.plugins_area.setCurrentWidget(self.empty if empty else self.table)
        if had_focus:
            self._focus_target().setFocus(Qt.FocusReason.OtherFocusReason)

    def on_event(self, event: Event) -> None:
        """Apply a manager event at once, before the next full snapshot arrives."""
        if isinstance(event, Progress):
            self.operations.on_progress(event)
        changed = self.model.apply_event(event)  # rows, stages, progress, ready
        if changed and self.plugins_area.currentWidget() is self.empty:
            self._show_empty_state(self.model.rowCount() == 0)  # a row came mid-install
        snap = self.model.snapshot(event.plugin_id)
        if snap is not None:
            match event:
                case PluginFailed():
                    self.model.upsert(replace(snap, state=FAILED, reason=event.reason,
                                              fix=event.fix))
                case CanaryRolledBack():
                    self.model.upsert(replace(snap, last_rollback=event.reason,
                                              last_rollback_automatic=event.automatic,
                                              last_rollback_version=event.version))
        if isinstance(event, CanaryRolledBack) and event.automatic:
            self.say(f"{event.plugin_id}: the canary was rolled back automatically: "
                     f"{event.reason}")
        if (snap is not None or changed) and event.plugin_id == self._selected:
            self._show_selected()

    def on_failed(self, failure: Failure) -> None:
        """Every failure goes to the status line and the log; :meth:`warn` adds a box.

        A cancel is not a failure: the operation's own handler says what was cancelled.
        """
        if failure.cancelled:
            _log.info("%s cancelled", failure.command)
            return
        self.last_failure = failure
        text = failure.message
        self.say(f"{failure.command.replace('_', ' ')} failed: {text}")
        self.engine.logs.append(LogRecord(failure.plugin_id or "wasmbay", LogLevel.ERROR,
                                          f"{failure.command} failed: {text}", source="host"))
        if failure.command == "start":  # the engine itself could not start
            self.warn(failure)
        self.failureShown.emit(failure)

    def warn(self, failure: Failure) -> None:
        """A box for failures the user must not miss (installs, canaries, start-up)."""
        if failure.cancelled:  # the user asked for it: no box
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Wasmbay", shown(failure.message, 16 * 1024),
                          QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # --- getting plugins in (gui.installflow) --------------------------------------------

    @property
    def consent(self) -> ConsentDialog | None:
        """The consent dialog open now, if any."""
        return self.installs.consent

    def install_dialog(self) -> None:
        self.installs.install_dialog()

    def install_file(self, path: str) -> None:
        """Preview ``path``; the consent dialog and the install follow (cancellable)."""
        self.installs.install_file(path)

    def show_consent(self, offer: InstallOffer,
                     canary_percent: int | None = None) -> ConsentDialog:
        return self.installs.show_consent(offer, canary_percent)

    def install_samples(self) -> None:
        self.installs.install_samples()

    def select_when_listed(self, plugin_id: str) -> None:
        """Select ``plugin_id`` now, or as soon as a snapshot lists it."""
        self._pending_select = plugin_id
        self.select(plugin_id)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and any(dialogs.is_plugin_file(u.toLocalFile()) for u in urls):
            event.acceptProposedAction()
            central = self.centralWidget()
            self.drop_highlight.show_over(central.geometry() if central else self.rect())
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.drop_highlight.hide()
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.drop_highlight.hide()
        paths = [u.toLocalFile() for u in event.mimeData().urls()]
        plugins = [p for p in paths if dialogs.is_plugin_file(p)]
        for path in plugins:
            self.install_file(path)
        if plugins:
            event.acceptProposedAction()

    # --- selected-plugin actions --------------------------------------------------------

    def uninstall_selected(self) -> None:
        snap = self.selected
        if snap is None:
            return
        if dialogs.confirm(self, "Uninstall", f"Uninstall {snap.name or snap.plugin_id}? "
                           "Its versions and settings are removed."):
            self._announce(self.engine.run(lambda b: b.uninstall, snap.plugin_id))

    def toggle_selected(self) -> None:
        snap = self.selected
        if snap is not None:
            verb: Callable[[Backend], Callable[[str], None]] = (
                (lambda b: b.enable) if snap.state == DISABLED else (lambda b: b.disable))
            self._announce(self.engine.run(verb, snap.plugin_id))

    def reload_selected(self) -> None:
        snap = self.selected
        if snap is not None:
            self._announce(self.engine.run(lambda b: b.reload, snap.plugin_id))

    def open_data_folder(self) -> None:
        """Open the plugin's folder; where the desktop cannot, say where it is."""
        snap = self.selected
        if snap is not None and snap.data_dir:
            open_folder(self, snap.data_dir, f"{snap.name or snap.plugin_id}'s data folder")

    def promote_selected(self) -> None:
        if self.selected is not None:
            self.rollouts.promote(self.selected.plugin_id)

    def rollback_selected(self) -> None:
        if self.selected is not None:
            self.rollouts.rollback(self.selected.plugin_id)

    # --- keyboard -----------------------------------------------------------------------

    def focusNextPrevChild(self, next: bool) -> bool:
        """Tab walks regions (navigation.Navigator), not only Qt's creation order."""
        return self.navigator.move(next) or super().focusNextPrevChild(next)

    # --- closing ------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        """Shut plugins down (their shutdown runs) and end the engine thread."""
        self.say("Shutting plugins down…")
        self.log_model.stop()
        self.engine.shutdown()
        super().closeEvent(event)
