"""Getting plugins in: a file's preview, the consent dialog, the install or canary start
it leads to, and the bundled samples (on first start, from the menu or the empty state).

Each long step is handed to the status bar's operations indicator (progress and Cancel):
a cancel is quiet, a failure opens a box. The main window owns the widgets; this owns
the sequence, so ``MainWindow`` stays a place where parts meet.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMessageBox

from wasmbay.core.progress import CancelToken

from . import dialogs
from .snapshots import InstallOffer
from .widgets.consent import ConsentDialog

if TYPE_CHECKING:
    from .mainwindow import MainWindow

_log = logging.getLogger(__name__)


class InstallFlow(QObject):
    """Preview → consent → install (or canary start), and the samples offer."""

    def __init__(self, window: MainWindow, *, offer_samples: bool = True) -> None:
        super().__init__(window)
        self.window = window
        self.offer_samples = offer_samples
        #: The consent dialog open now, if any.
        self.consent: ConsentDialog | None = None
        self.samples_offer: QMessageBox | None = None

    def install_dialog(self) -> None:
        for path in dialogs.choose_plugin_files(self.window):
            self.install_file(path)

    def install_file(self, path: str) -> None:
        """Ask the engine what the file is; the consent dialog follows. Cancellable."""
        w, name = self.window, Path(path).name
        w.undo.withdraw()
        w.say(f"Reading {name}…")
        pending = w.engine.run(lambda b: b.preview, path, None, CancelToken())
        w.operations.track(
            pending, f"Reading {name}", subjects=(path, str(Path(path))),
            on_done=self.show_consent, on_failed=w.warn,
            on_cancelled=lambda _: w.say(f"Cancelled: {name} was not installed."))

    def show_consent(self, offer: InstallOffer,
                     canary_percent: int | None = None) -> ConsentDialog:
        """Ask before installing ``offer`` or, with ``canary_percent``, starting it as a
        canary: the same permission diff and trust confirmations either way."""
        w = self.window
        action = None if canary_percent is None else "Start canary"
        dialog = ConsentDialog(offer, w.dirs.data / "sandbox", w, action=action)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        if canary_percent is None:
            dialog.accepted.connect(lambda: self._consented(dialog))
        else:
            dialog.accepted.connect(lambda: self._canary_consented(dialog, canary_percent))
        what = f"{offer.name or offer.plugin_id} {offer.version}"
        w.say(f"Waiting for your answer about {what}…")
        dialog.rejected.connect(lambda: w.say(f"Not installed: {what}." if canary_percent is None
                                              else f"No canary started: {what}."))
        dialog.finished.connect(lambda _: setattr(self, "consent", None))
        self.consent = dialog
        dialog.open()
        w.consentShown.emit(dialog)
        return dialog

    def _consented(self, dialog: ConsentDialog) -> None:
        w, offer = self.window, dialog.preview
        name = offer.name or offer.plugin_id
        w.say(f"Installing {offer.name}…")
        pending = w.engine.run(lambda b: b.install, offer, dialog.granted(),
                               dialog.accepts_publisher_change(), dialog.allows_downgrade(),
                               CancelToken())
        w.operations.track(
            pending, f"Installing {name}", subjects=(offer.plugin_id, offer.path),
            on_done=self._installed, on_failed=w.warn, drop_late_result=False,
            on_cancelled=lambda _: w.say(f"Cancelled: {name} was not installed."))

    def _installed(self, plugin_id: str) -> None:
        self.window.say(f"Installed {plugin_id}.")
        self.window.select_when_listed(plugin_id)

    def canary_file(self, plugin_id: str, path: str, percent: int) -> None:
        """Read ``path`` as a new version of ``plugin_id``; the consent dialog follows."""
        w, name = self.window, Path(path).name
        w.undo.withdraw()
        w.say(f"Reading {name}…")
        pending = w.engine.run(lambda b: b.preview, path, plugin_id, CancelToken())
        w.operations.track(
            pending, f"Reading {name}", subjects=(path, str(Path(path))),
            on_done=lambda offer: self.show_consent(offer, percent), on_failed=w.warn,
            on_cancelled=lambda _: w.say(f"Cancelled: no canary started from {name}."))

    def _canary_consented(self, dialog: ConsentDialog, percent: int) -> None:
        """Start the canary; Cancel stops it until its version is stored."""
        w, offer = self.window, dialog.preview
        w.say(f"Starting {offer.name} {offer.version} as a canary…")
        pending = w.engine.run(lambda b: b.start_canary, offer, dialog.granted(), percent,
                               dialog.accepts_publisher_change(), dialog.allows_downgrade(),
                               CancelToken())
        w.operations.track(
            pending, f"Starting canary {offer.version}", subjects=(offer.plugin_id,),
            on_done=lambda version: w.say(f"{offer.plugin_id}: canary {version} gets "
                                          f"{percent}% of calls."),
            on_failed=w.warn, drop_late_result=False,
            on_cancelled=lambda _: w.say(f"Cancelled: canary {offer.version} was not started."))

    # --- samples on first start ---------------------------------------------------------

    def _marker(self) -> Path:
        return self.window.dirs.config / "gui.json"

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
        if (not self.offer_samples or choice == "skip"
                or self._gui_state().get("samples_offered")):
            return
        state = self._gui_state()
        state["samples_offered"] = True
        try:
            self.window.dirs.config.mkdir(parents=True, exist_ok=True)
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
                          self.window)
        box.setObjectName("samplesOffer")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.accepted.connect(self.install_samples)
        self.samples_offer = box
        box.open()

    def install_samples(self) -> None:
        """Install the bundled samples (File menu, empty state, first start). Cancellable
        between samples and stages; the samples installed before a cancel stay."""
        w = self.window
        w.say("Compiling the sample plugins…")
        pending = w.engine.run(lambda b: b.install_samples, cancel=CancelToken())
        w.operations.track(
            pending, "Installing the sample plugins", on_done=self._samples_installed,
            on_failed=w.warn, drop_late_result=False,
            on_cancelled=lambda _: w.say("Cancelled the sample install; the samples already "
                                         "installed stay."))

    def _samples_installed(self, plugin_ids: list[str]) -> None:
        self.window.say(f"Installed the sample plugins: {', '.join(plugin_ids) or 'nothing'}.")
