"""One-click Promote and Rollback, from the Versions pane or the Plugin menu, with Undo.

Promote and Rollback stay one click; the status bar then says what happened and, where
the core can really reverse it, offers Undo:

- **Promote** makes the canary stable and keeps the old stable as the previous one, so
  Undo is core's rollback without a canary: back to the previous stable version. The
  canary split is not restored (the promoted version stays on disk).
- **Rollback** of a canary drops it, and a rollback without a canary forgets the
  previous-stable pointer. Neither can be reversed without the file, so no Undo is
  offered and the status says so.

An Undo is withdrawn as soon as a snapshot shows it no longer applies (another window,
the CLI or an automatic rollback changed the versions) and after :data:`UNDO_SECONDS`.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QPushButton, QWidget

from .engine import Engine
from .snapshots import PluginSnapshot

#: How long an Undo stays offered.
UNDO_SECONDS = 60

SnapshotOf = Callable[[str], "PluginSnapshot | None"]


class UndoButton(QPushButton):
    """The status bar's "Undo", hidden unless an action can be reversed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Undo", parent)
        self.setObjectName("undo")
        self.setFlat(True)
        self._action: Callable[[], None] | None = None
        self.plugin_id = ""
        self._valid: Callable[[PluginSnapshot], bool] | None = None
        self._expiry = QTimer(self)
        self._expiry.setSingleShot(True)
        self._expiry.timeout.connect(self.withdraw)
        self.clicked.connect(self._run)
        self.hide()

    def offer(self, plugin_id: str, tip: str, action: Callable[[], None],
              valid: Callable[[PluginSnapshot], bool]) -> None:
        self.plugin_id, self._action, self._valid = plugin_id, action, valid
        self.setToolTip(tip)
        self.setStatusTip(tip)
        self._expiry.start(UNDO_SECONDS * 1000)
        self.show()

    def withdraw(self) -> None:
        self._action = self._valid = None
        self.plugin_id = ""
        self._expiry.stop()
        self.hide()

    @property
    def offered(self) -> bool:
        return self._action is not None

    def check(self, snapshot_of: SnapshotOf) -> None:
        """Withdraw the offer if the plugin's versions moved on without us."""
        if self._valid is None:
            return
        snap = snapshot_of(self.plugin_id)
        if snap is None or not self._valid(snap):
            self.withdraw()

    def _run(self) -> None:
        action = self._action
        self.withdraw()
        if action is not None:
            action()


class Rollouts(QObject):
    """Runs promote and rollback through the engine and says what they did."""

    def __init__(self, engine: Engine, say: Callable[[str], None], undo: UndoButton,
                 snapshot_of: SnapshotOf, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.say = say
        self.undo = undo
        self.snapshot_of = snapshot_of

    def promote(self, plugin_id: str) -> None:
        snap = self.snapshot_of(plugin_id)
        new = snap.canary.version if snap and snap.canary else "the canary"
        old = snap.stable.version if snap and snap.stable else ""
        self.undo.withdraw()

        def promoted(_: object) -> None:
            self.say(f"{plugin_id}: promoted {new}; it serves every call.")
            if not old:
                return
            self.undo.offer(
                plugin_id, f"Go back to {old} as the stable version ({new} stays on disk; "
                "the canary split is not restored)",
                lambda: self._undo_promote(plugin_id, old, new),
                lambda s: bool(s.stable and s.stable.version == new and s.canary is None
                               and s.previous_stable in ("", old)))

        self.engine.run(lambda b: b.promote, plugin_id).then(promoted)

    def _undo_promote(self, plugin_id: str, old: str, new: str) -> None:
        """Core's rollback without a canary: back to the previous stable version."""
        self.say(f"{plugin_id}: going back to {old}…")
        self.engine.run(lambda b: b.rollback, plugin_id).then(
            lambda _: self.say(f"{plugin_id}: undone; {old} is the stable version again "
                               f"({new} stays on disk)."))

    def rollback(self, plugin_id: str) -> None:
        snap = self.snapshot_of(plugin_id)
        self.undo.withdraw()
        if snap is not None and snap.canary is not None:
            stable = snap.stable.version if snap.stable else "the stable version"
            text = (f"{plugin_id}: rolled back the canary {snap.canary.version}; {stable} "
                    "serves every call. There is no Undo: start it again as a canary.")
        else:
            dropped = snap.stable.version if snap and snap.stable else "the stable version"
            back = (snap.previous_stable if snap and snap.previous_stable
                    else "the previous version")
            text = (f"{plugin_id}: rolled back {dropped}; {back} is the stable version "
                    "again. There is no Undo: install the newer file again.")
        self.engine.run(lambda b: b.rollback, plugin_id).then(lambda _: self.say(text))
