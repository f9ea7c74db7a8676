"""The main window: plugin table, detail panes, live logs, toolbar and drag-and-drop.

The window holds no plugin logic. It turns user actions into typed :class:`Backend`
calls through ``engine.run`` and shows the snapshots, events and failures that come back.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
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
    QTableView,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from wasmbay.core.events import Event, LogLevel, LogRecord
from wasmbay.core.manager_events import CanaryRolledBack, PluginFailed, PluginLoading
from wasmbay.core.paths import AppDirs
from wasmbay.core.untrusted import escape, shown

from . import dialogs
from .backend import Backend
from .engine import Engine, Pending
from .logmodel import LogModel
from .pluginmodel import Column, IdRole, PluginFilterProxy, PluginTableModel, StateDelegate
from .resources import app_icon
from .snapshots import DISABLED, FAILED, LOADING, Failure, InstallOffer, PluginSnapshot
from .widgets.config import ConfigPane
from .widgets.consent import ConsentDialog
from .widgets.logs import LogsPane
from .widgets.permissions import PermissionsPane
from .widgets.tryit import TryItPane
from .widgets.versions import VersionsPane

_log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    #: A consent dialog opened (tests and accessibility tools find it here).
    consentShown = Signal(object)
    #: A failure was shown to the user.
    failureShown = Signal(object)

    def __init__(self, engine: Engine, *, offer_samples: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.dirs = AppDirs.default()
        self._offer_samples = offer_samples
        self._selected: str | None = None
        self._pending_select: str | None = None
        self._first_snapshots = True
        self.consent: ConsentDialog | None = None
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
        header = self.table.horizontalHeader()
        header.setDefaultSectionSize(84)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.resizeSection(Column.NAME, 120)
        header.resizeSection(Column.STATE, 150)
        header.setStretchLastSection(True)
        self.table.setItemDelegateForColumn(Column.STATE, StateDelegate(self.table))
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
        self.logs = LogsPane(self.log_model)

        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 0, 0)
        left_lay.addWidget(self.search)
        left_lay.addWidget(self.table, 1)
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
        self.setCentralWidget(main)
        self.status = QLabel("Starting the plugin engine…")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.statusBar().addWidget(self.status, 1)

        self._make_actions()
        self._connect()
        self._update_actions()

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
        for a in (self.act_install, None, self.act_toggle, self.act_reload, self.act_folder,
                  self.act_canary, None, self.act_uninstall):
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
        self.versions.canaryRequested.connect(self.canary_file)
        self._forward(self.versions.percentRequested, lambda b: b.set_canary_percent,
                      announce=False)
        self._forward(self.versions.promoteRequested, lambda b: b.promote)
        self._forward(self.versions.rollbackRequested, lambda b: b.rollback)
        self._forward(self.versions.thresholdRequested, lambda b: b.set_rollback_threshold,
                      announce=False)
        self.tryit.callRequested.connect(e.call)

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
        snap = self.selected
        for pane in (self.permissions, self.config, self.versions, self.tryit):
            pane.set_snapshot(snap)
        self._update_actions()

    def _update_actions(self) -> None:
        snap = self.selected
        has = snap is not None
        for a in (self.act_uninstall, self.act_toggle, self.act_reload, self.act_folder,
                  self.act_canary):
            a.setEnabled(has)
        self.act_toggle.setText("Enable" if snap and snap.state == DISABLED else "Disable")
        self.act_folder.setEnabled(bool(snap and snap.data_dir))

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
        if self._first_snapshots:
            self._first_snapshots = False
            if not snapshots:
                self.maybe_offer_samples()

    def on_event(self, event: Event) -> None:
        """Apply a manager event at once, before the next full snapshot arrives."""
        snap = self.model.snapshot(event.plugin_id)
        if snap is not None:
            match event:
                case PluginLoading():
                    self.model.upsert(replace(snap, state=LOADING, progress=event.progress))
                case PluginFailed():
                    self.model.upsert(replace(snap, state=FAILED, reason=event.reason))
                case CanaryRolledBack():
                    self.model.upsert(replace(snap, last_rollback=event.reason,
                                              last_rollback_automatic=event.automatic))
        if isinstance(event, CanaryRolledBack) and event.automatic:
            self.say(f"{event.plugin_id}: the canary was rolled back automatically: "
                     f"{event.reason}")
        if snap is not None and event.plugin_id == self._selected:
            self._show_selected()

    def on_failed(self, failure: Failure) -> None:
        """Every failure goes to the status line and the log; :meth:`warn` adds a box."""
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
        box = QMessageBox(QMessageBox.Icon.Warning, "Wasmbay", shown(failure.message, 16 * 1024),
                          QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # --- install ------------------------------------------------------------------------

    def install_dialog(self) -> None:
        for path in dialogs.choose_plugin_files(self):
            self.install_file(path)

    def install_file(self, path: str) -> None:
        """Ask the engine what the file is; the consent dialog follows."""
        self.say(f"Reading {Path(path).name}…")
        self.engine.run(lambda b: b.preview, path).then(self.show_consent, self.warn)

    def show_consent(self, offer: InstallOffer,
                     canary_percent: int | None = None) -> ConsentDialog:
        """Ask before installing ``offer`` or, with ``canary_percent``, starting it as a
        canary: the same permission diff and trust confirmations either way."""
        action = None if canary_percent is None else "Start canary"
        dialog = ConsentDialog(offer, self.dirs.data / "sandbox", self, action=action)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        if canary_percent is None:
            dialog.accepted.connect(lambda: self._consented(dialog))
        else:
            dialog.accepted.connect(lambda: self._canary_consented(dialog, canary_percent))
        dialog.finished.connect(lambda _: setattr(self, "consent", None))
        self.consent = dialog
        dialog.open()
        self.consentShown.emit(dialog)
        return dialog

    def _consented(self, dialog: ConsentDialog) -> None:
        offer = dialog.preview
        self.say(f"Installing {offer.name}…")
        self.engine.run(lambda b: b.install, offer, dialog.granted(),
                        dialog.accepts_publisher_change(),
                        dialog.allows_downgrade()).then(self._installed, self.warn)

    def _installed(self, plugin_id: str) -> None:
        self.say(f"Installed {plugin_id}.")
        self._pending_select = plugin_id
        self.select(plugin_id)

    def canary_file(self, plugin_id: str, path: str, percent: int) -> None:
        """Read ``path`` as a new version of ``plugin_id``; the consent dialog follows."""
        self.say(f"Reading {Path(path).name}…")
        self.engine.run(lambda b: b.preview, path, plugin_id).then(
            lambda offer: self.show_consent(offer, percent), self.warn)

    def _canary_consented(self, dialog: ConsentDialog, percent: int) -> None:
        offer = dialog.preview
        self.say(f"Starting {offer.name} {offer.version} as a canary…")
        self.engine.run(lambda b: b.start_canary, offer, dialog.granted(), percent,
                        dialog.accepts_publisher_change(), dialog.allows_downgrade()).then(
            lambda version: self.say(f"{offer.plugin_id}: canary {version} gets {percent}% "
                                     "of calls."), self.warn)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and any(dialogs.is_plugin_file(u.toLocalFile()) for u in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls()]
        plugins = [p for p in paths if dialogs.is_plugin_file(p)]
        for path in plugins:
            self.install_file(path)
        if plugins:
            event.acceptProposedAction()

    # --- samples on first start ---------------------------------------------------------

    def _marker(self) -> Path:
        return self.dirs.config / "gui.json"

    def _gui_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self._marker().read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def maybe_offer_samples(self) -> None:
        """On the very first start, offer the bundled samples (once).

        ``WASMBAY_FIRST_START=install`` accepts the offer without asking, ``skip`` never
        makes it.
        """
        choice = os.environ.get("WASMBAY_FIRST_START", "ask")  # ask | install | skip
        if (not self._offer_samples or choice == "skip"
                or self._gui_state().get("samples_offered")):
            return
        state = self._gui_state()
        state["samples_offered"] = True
        try:
            self.dirs.config.mkdir(parents=True, exist_ok=True)
            self._marker().write_text(json.dumps(state), encoding="utf-8")
        except OSError:
            _log.warning("could not remember that the samples were offered")
        if choice == "install":  # unattended installs (kiosks, CI smoke tests)
            self.install_samples()
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Welcome to Wasmbay",
                          "Install the bundled sample plugins? They are compiled in the "
                          "background and get only the folders they ask for, inside "
                          "Wasmbay's own data folder.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                          self)
        box.setObjectName("samplesOffer")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.accepted.connect(self.install_samples)
        self.samples_offer = box
        box.open()

    def install_samples(self) -> None:
        self.say("Compiling the sample plugins…")
        self.engine.run(lambda b: b.install_samples).then(self._samples_installed, self.warn)

    def _samples_installed(self, plugin_ids: list[str]) -> None:
        self.say(f"Installed the sample plugins: {', '.join(plugin_ids) or 'nothing'}.")

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
        snap = self.selected
        if snap is not None and snap.data_dir:
            Path(snap.data_dir).mkdir(parents=True, exist_ok=True)
            QDesktopServices.openUrl(QUrl.fromLocalFile(snap.data_dir))

    # --- closing ------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        """Shut plugins down (their shutdown runs) and end the engine thread."""
        self.say("Shutting plugins down…")
        self.log_model.stop()
        self.engine.shutdown()
        super().closeEvent(event)
