"""Stable and canary side by side: metrics, the canary share, promote and rollback, and the
automatic rollback's settings with where the running canary stands against them.

Everything here shows the selected plugin's current snapshot and nothing older: the share
follows the plugin's canary (or resets when there is none), Promote and Rollback say why
they cannot apply, and a rollback notice disappears once the versions moved on.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from wasmbay.core.metrics import MetricsSnapshot
from wasmbay.core.untrusted import escape, for_html, shown

from .. import dialogs
from ..fixes import for_window
from ..snapshots import PluginSnapshot, RollbackEvidence, VersionInfo

#: The share a new canary starts with unless the user picks another.
DEFAULT_SHARE = 10
#: Why Promote (and a canary's Rollback) cannot apply.
NO_CANARY = "No canary running — start one with Start canary…"
NOTHING_TO_ROLL_BACK = "Nothing to roll back to: no canary running and no earlier stable version."


def _percent(rate: float) -> str:
    """0.05 -> "5%", 0.0251 -> "2.5%", 1.0 -> "100%"."""
    text = f"{rate * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _button_text(text: str) -> str:
    """A version inside a button: escaped, and never a mnemonic (``&``)."""
    return escape(text).replace("&", "&&")


def progress_text(snap: PluginSnapshot) -> str:
    """Where the running canary stands against the automatic-rollback rule, in words."""
    threshold, min_calls = snap.auto_rollback_threshold, snap.auto_rollback_min_calls
    if threshold <= 0:
        return "Off: a canary is rolled back only when you roll it back."
    ev = snap.auto_rollback_evidence
    if ev is None:  # a backend that sends only core's summary line
        return escape(snap.auto_rollback_progress)
    if snap.canary is None or ev.decision == "no canary":
        return (f"No canary running: the next one is judged after {_count(min_calls, 'call')}"
                f" against {_percent(threshold)} errors.")
    errors = f"{_count(ev.failures, 'error')} ({_percent(ev.error_rate)})"
    if ev.calls < min_calls:
        return (f"{ev.calls:,} of {min_calls:,} minimum canary calls, {errors} — "
                "too few to judge yet")
    bound = (f"lower bound {_percent(ev.lower_bound)} at {_percent(snap.auto_rollback_confidence)}"
             " confidence")
    if ev.decision == "roll back" or ev.lower_bound > threshold:
        return (f"{_count(ev.calls, 'canary call')}, {errors} — {bound} > threshold "
                f"{_percent(threshold)}: rolling back")
    return (f"{_count(ev.calls, 'canary call')}, {errors} — {bound} ≤ threshold "
            f"{_percent(threshold)}: keeping the canary")


def notice_text(snap: PluginSnapshot) -> str:
    """The last rollback, as the snapshot reports it (empty when there is none)."""
    if not snap.last_rollback:
        return ""
    version = escape(snap.last_rollback_version)
    reason = for_window(shown(snap.last_rollback))
    if snap.last_rollback_automatic:
        what = f"Canary {version}" if version else "The canary"
        return f"{what} was rolled back automatically: {reason}"
    what = version or "The canary"
    if reason.startswith("rolled back"):
        return f"{what} was {reason}."
    return f"{what} was rolled back: {reason}"


class VersionCard(QGroupBox):
    """One version's number and metrics."""

    FIELDS = ("version", "calls", "errors", "traps", "timeouts", "p50", "p95")

    def __init__(self, title: str, parent: Any = None) -> None:
        super().__init__(title, parent)
        form = QFormLayout(self)
        self.labels: dict[str, QLabel] = {}
        for name in self.FIELDS:
            label = QLabel("–")
            label.setObjectName(name)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setTextFormat(Qt.TextFormat.PlainText)  # the version is the plugin's text
            self.labels[name] = label
            form.addRow(name.capitalize() if name[0] != "p" else name, label)

    def show_version(self, info: VersionInfo | None) -> None:
        if info is None:
            for label in self.labels.values():
                label.setText("–")
            self.labels["version"].setText("none")
            return
        m: MetricsSnapshot = info.metrics
        values = {
            "version": escape(info.version), "calls": f"{m.calls:,}", "errors": f"{m.errors:,}",
            "traps": f"{m.traps:,}", "timeouts": f"{m.timeouts:,}",
            "p50": f"{m.p50_ms:.2f} ms", "p95": f"{m.p95_ms:.2f} ms",
        }
        for name, text in values.items():
            self.labels[name].setText(text)


class VersionsPane(QWidget):
    canaryRequested = Signal(str, str, int)  # plugin id, file, percent; consent follows
    percentRequested = Signal(str, int)
    promoteRequested = Signal(str)
    #: Drop the canary; without one, go back to the previous stable version (as core).
    rollbackRequested = Signal(str)
    #: plugin id, error rate 0..1 (0 = off), min calls, confidence 0.5..1
    thresholdRequested = Signal(str, float, int, float)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._snap: PluginSnapshot | None = None
        self._updating = False
        self._last_sent: tuple[str, int] | None = None  # the share asked for, not yet shown
        self.stable = VersionCard("Stable")
        self.canary = VersionCard("Canary")
        cards = QHBoxLayout()
        cards.addWidget(self.stable)
        cards.addWidget(self.canary)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(DEFAULT_SHARE)
        self.slider.setTickInterval(10)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.percent = QSpinBox()
        self.percent.setRange(0, 100)
        self.percent.setSuffix(" %")
        self.percent.setValue(DEFAULT_SHARE)
        self.percent.setKeyboardTracking(False)  # one request per typed value, on Enter
        self.share_label = QLabel("Canary share")
        share = QHBoxLayout()
        share.addWidget(self.share_label)
        share.addWidget(self.slider, 1)
        share.addWidget(self.percent)

        self.start = QPushButton("Start canary…")
        self.start.setToolTip("Pick a new build of this plugin to serve a share of its calls")
        self.promote = QPushButton("Promote")
        self.promote.setObjectName("primary")
        self.rollback = QPushButton("Roll back")
        self.rollback.setObjectName("danger")
        buttons = QHBoxLayout()
        buttons.addWidget(self.start)
        buttons.addStretch(1)
        buttons.addWidget(self.promote)
        buttons.addWidget(self.rollback)
        #: Why Promote or Rollback cannot apply, readable without hovering.
        self.why = QLabel()
        self.why.setObjectName("hint")
        self.why.setWordWrap(True)
        self.why.setTextFormat(Qt.TextFormat.PlainText)

        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 99.9)  # core: an error rate below 1
        self.threshold.setDecimals(1)
        self.threshold.setSuffix(" % errors")
        self.threshold.setSpecialValueText("off")
        self.threshold.setKeyboardTracking(False)
        self.threshold.setToolTip("Roll the canary back automatically once its calls show "
                                  "an error rate above this (0: off)")
        self.min_calls = QSpinBox()
        self.min_calls.setRange(1, 1_000_000)
        self.min_calls.setValue(5)
        self.min_calls.setSuffix(" canary calls")
        self.min_calls.setKeyboardTracking(False)
        self.min_calls.setToolTip("No automatic rollback before the canary served this many "
                                  "calls")
        self.confidence = QDoubleSpinBox()
        self.confidence.setRange(50.0, 99.9)  # core: 0.5 <= confidence < 1
        self.confidence.setDecimals(1)
        self.confidence.setValue(95.0)
        self.confidence.setSuffix(" % confidence")
        self.confidence.setKeyboardTracking(False)
        self.confidence.setToolTip("How sure the calls must make it that the canary's error "
                                   "rate is above the threshold: higher waits for more "
                                   "evidence and rolls back a good canary less often")
        self.auto_bar = QProgressBar()
        self.auto_bar.setFormat("%v of %m minimum calls")
        self.auto_bar.hide()
        self.auto_progress = QLabel()
        self.auto_progress.setObjectName("autoProgress")
        self.auto_progress.setWordWrap(True)
        self.auto_progress.setTextFormat(Qt.TextFormat.PlainText)
        self.auto_box = QGroupBox("Automatic rollback")
        auto = QFormLayout(self.auto_box)
        auto.addRow("Roll back above", self.threshold)
        auto.addRow("after at least", self.min_calls)
        auto.addRow("sure to", self.confidence)
        auto.addRow(self.auto_bar)
        auto.addRow(self.auto_progress)

        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.setTextFormat(Qt.TextFormat.PlainText)  # quotes plugin text
        self.notice.hide()

        lay = QVBoxLayout(self)
        lay.addLayout(cards)
        lay.addLayout(share)
        lay.addLayout(buttons)
        lay.addWidget(self.why)
        lay.addWidget(self.auto_box)
        lay.addWidget(self.notice)
        lay.addStretch(1)

        self.slider.valueChanged.connect(self.percent.setValue)
        self.percent.valueChanged.connect(self.slider.setValue)
        self.percent.valueChanged.connect(self._on_percent_changed)  # keys, typed values
        self.slider.sliderReleased.connect(self._on_percent)  # the end of a drag
        self.start.clicked.connect(self.choose_canary)
        self.promote.clicked.connect(lambda: self._send(self.promoteRequested))
        self.rollback.clicked.connect(lambda: self._send(self.rollbackRequested))
        self.threshold.valueChanged.connect(self._on_threshold)
        self.min_calls.valueChanged.connect(self._on_threshold)
        self.confidence.valueChanged.connect(self._on_threshold)
        self.set_snapshot(None)

    # --- showing a snapshot ---------------------------------------------------------------

    def set_snapshot(self, snap: PluginSnapshot | None) -> None:
        """Show ``snap``; a different plugin than before resets every control to it."""
        prev = self._snap
        same = snap is not None and prev is not None and snap.plugin_id == prev.plugin_id
        self._snap = snap
        self.setEnabled(snap is not None)
        self.stable.show_version(snap.stable if snap else None)
        self.canary.show_version(snap.canary if snap else None)
        self._show_buttons(snap)
        self._updating = True
        try:
            self._show_share(snap, prev if same else None)
            self._show_auto(snap, same)
        finally:
            self._updating = False
        text = notice_text(snap) if snap else ""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def _show_buttons(self, snap: PluginSnapshot | None) -> None:
        canary = snap.canary if snap else None
        stable = snap.stable.version if snap and snap.stable else ""
        previous = snap.previous_stable if snap else ""
        self.promote.setEnabled(canary is not None)
        self.rollback.setEnabled(canary is not None or bool(previous))
        if snap is None:
            self.promote.setToolTip("Select a plugin")
            self.rollback.setText("Roll back")
            self.rollback.setToolTip("Select a plugin")
            self.why.setText("")
        elif canary is not None:
            version = for_html(canary.version)
            self.promote.setToolTip(f"Make canary {version} the stable version: it then "
                                    "serves every call")
            self.rollback.setText("Roll back")
            self.rollback.setToolTip(f"Drop canary {version}: stable {for_html(stable)} "
                                     "serves every call again")
            self.why.setText("")
        else:
            self.promote.setToolTip(NO_CANARY)
            if previous:
                self.rollback.setText(f"Roll back to {_button_text(previous)}")
                self.rollback.setToolTip(f"Serve the previous stable version "
                                         f"{for_html(previous)} again instead of "
                                         f"{for_html(stable)}")
                self.why.setText(f"{NO_CANARY}, or roll back to {escape(previous)}.")
            else:
                self.rollback.setText("Roll back")
                self.rollback.setToolTip(NOTHING_TO_ROLL_BACK)
                self.why.setText(f"{NO_CANARY}. {NOTHING_TO_ROLL_BACK}")
        self.why.setVisible(bool(self.why.text()))

    def _show_share(self, snap: PluginSnapshot | None, prev: PluginSnapshot | None) -> None:
        """The canary's share, or the share the next canary starts at (the default once a
        canary ends, or for another plugin). ``prev`` is the same plugin's last snapshot."""
        if snap is None or snap.canary is None:
            self.share_label.setText("Start at")
            tip = "The share of calls the next canary gets when it starts"
            if prev is None or prev.canary is not None:  # another plugin, or its canary ended
                self._set_share(DEFAULT_SHARE)
            self._last_sent = None
        else:
            self.share_label.setText("Canary share")
            tip = f"The share of calls canary {for_html(snap.canary.version)} serves"
            editing = prev is not None and prev.canary is not None and (
                prev.canary.version == snap.canary.version) and (
                self.slider.isSliderDown() or self.percent.hasFocus())
            if not editing:
                self._set_share(snap.canary_percent)
                self._last_sent = None  # the engine's answer is shown: ask again freely
        for w in (self.share_label, self.slider, self.percent):
            w.setToolTip(tip)

    def _set_share(self, value: int) -> None:
        self.slider.setValue(value)
        self.percent.setValue(value)

    def _show_auto(self, snap: PluginSnapshot | None, same: bool) -> None:
        """The rule's settings (not over what the user is typing) and the evidence."""
        if snap is None:
            self.auto_progress.setText("")
            self.auto_bar.hide()
            return
        if not (same and self.threshold.hasFocus()):
            self.threshold.setValue(snap.auto_rollback_threshold * 100)
        if not (same and self.min_calls.hasFocus()):
            self.min_calls.setValue(snap.auto_rollback_min_calls)
        if not (same and self.confidence.hasFocus()):
            self.confidence.setValue(snap.auto_rollback_confidence * 100)
        on = snap.auto_rollback_threshold > 0
        for box in (self.min_calls, self.confidence):
            box.setEnabled(on)
        self.auto_progress.setText(progress_text(snap))
        ev: RollbackEvidence | None = snap.auto_rollback_evidence
        gathering = on and ev is not None and snap.canary is not None and (
            ev.calls < snap.auto_rollback_min_calls)
        if gathering and ev is not None:
            self.auto_bar.setRange(0, snap.auto_rollback_min_calls)
            self.auto_bar.setValue(ev.calls)
        self.auto_bar.setVisible(gathering)

    # --- requests -----------------------------------------------------------------------

    def _send(self, signal: Any) -> None:
        if self._snap is not None:
            signal.emit(self._snap.plugin_id)

    def _on_percent_changed(self, _value: int) -> None:
        if not self.slider.isSliderDown():  # a drag asks once, when it ends
            self._on_percent()

    def _on_percent(self) -> None:
        snap = self._snap
        value = self.percent.value()
        if snap is None or snap.canary is None or self._updating:
            return
        if value == snap.canary_percent or self._last_sent == (snap.plugin_id, value):
            return
        self._last_sent = (snap.plugin_id, value)
        self.percentRequested.emit(snap.plugin_id, value)

    def set_percent(self, value: int) -> None:
        """Move the share as a user would (slider then release)."""
        self.slider.setValue(value)
        self._on_percent()

    def choose_canary(self) -> None:
        """Ask for the canary's file, then request it (the Start button, or a shortcut);
        the window previews it and asks for consent before anything starts."""
        snap = self._snap
        if snap is None:
            return
        path = dialogs.choose_plugin_file(self, f"Canary for {snap.name or snap.plugin_id}")
        if path:
            self.canaryRequested.emit(snap.plugin_id, path, self.percent.value())

    def _on_threshold(self, *_: object) -> None:
        """Send the whole rule; while it is off, min calls and confidence wait for it."""
        snap = self._snap
        if snap is None or self._updating:
            return
        rate = self.threshold.value() / 100.0
        if rate <= 0 and snap.auto_rollback_threshold <= 0:
            return  # off, and it stays off
        for box in (self.min_calls, self.confidence):
            box.setEnabled(rate > 0)
        self.thresholdRequested.emit(snap.plugin_id, rate, self.min_calls.value(),
                                     self.confidence.value() / 100.0)
