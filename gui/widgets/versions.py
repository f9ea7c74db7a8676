"""Stable and canary side by side: metrics, the canary share, promote and rollback."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from wasmbay.core.metrics import MetricsSnapshot
from wasmbay.core.untrusted import escape, shown

from .. import dialogs
from ..snapshots import PluginSnapshot, VersionInfo


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
    rollbackRequested = Signal(str)
    thresholdRequested = Signal(str, float, int)  # error rate 0..1 (0 = off), min calls

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._snap: PluginSnapshot | None = None
        self.stable = VersionCard("Stable")
        self.canary = VersionCard("Canary")
        cards = QHBoxLayout()
        cards.addWidget(self.stable)
        cards.addWidget(self.canary)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(10)
        self.slider.setTickInterval(10)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.percent = QSpinBox()
        self.percent.setRange(0, 100)
        self.percent.setSuffix(" %")
        self.percent.setValue(10)
        share = QHBoxLayout()
        share.addWidget(QLabel("Canary share"))
        share.addWidget(self.slider, 1)
        share.addWidget(self.percent)

        self.start = QPushButton("Start canary…")
        self.promote = QPushButton("Promote")
        self.promote.setObjectName("primary")
        self.rollback = QPushButton("Rollback")
        self.rollback.setObjectName("danger")
        buttons = QHBoxLayout()
        buttons.addWidget(self.start)
        buttons.addStretch(1)
        buttons.addWidget(self.promote)
        buttons.addWidget(self.rollback)

        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 100.0)
        self.threshold.setDecimals(1)
        self.threshold.setSuffix(" % errors")
        self.threshold.setSpecialValueText("off")
        self.threshold.setKeyboardTracking(False)
        self.threshold.setToolTip("Roll the canary back automatically once its calls show "
                                  "(at 95% confidence) an error rate above this")
        self.min_calls = QSpinBox()
        self.min_calls.setRange(1, 1_000_000)
        self.min_calls.setValue(5)
        self.min_calls.setSuffix(" canary calls")
        self.min_calls.setKeyboardTracking(False)
        self.min_calls.setToolTip("No automatic rollback before this many canary calls")
        self.auto_progress = QLabel()
        self.auto_progress.setTextFormat(Qt.TextFormat.PlainText)
        auto = QFormLayout()
        auto.addRow("Automatic rollback above", self.threshold)
        auto.addRow("after at least", self.min_calls)
        auto.addRow("", self.auto_progress)

        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.setTextFormat(Qt.TextFormat.PlainText)  # quotes plugin text
        self.notice.hide()

        lay = QVBoxLayout(self)
        lay.addLayout(cards)
        lay.addLayout(share)
        lay.addLayout(buttons)
        lay.addLayout(auto)
        lay.addWidget(self.notice)
        lay.addStretch(1)

        self.slider.valueChanged.connect(self.percent.setValue)
        self.percent.valueChanged.connect(self.slider.setValue)
        self.slider.sliderReleased.connect(self._on_percent)
        self.percent.editingFinished.connect(self._on_percent)
        self.start.clicked.connect(self.choose_canary)
        self.promote.clicked.connect(lambda: self._send(self.promoteRequested))
        self.rollback.clicked.connect(lambda: self._send(self.rollbackRequested))
        self.threshold.valueChanged.connect(self._on_threshold)
        self.min_calls.valueChanged.connect(lambda _: self._on_threshold(self.threshold.value()))
        self._updating = False
        self.set_snapshot(None)

    def set_snapshot(self, snap: PluginSnapshot | None) -> None:
        same_plugin = snap is not None and self._snap is not None and (
            snap.plugin_id == self._snap.plugin_id)
        self._snap = snap
        self.setEnabled(snap is not None)
        self.stable.show_version(snap.stable if snap else None)
        self.canary.show_version(snap.canary if snap else None)
        has_canary = bool(snap and snap.canary)
        self.promote.setEnabled(has_canary)
        self.rollback.setEnabled(has_canary)
        if snap is None:
            self.notice.hide()
            return
        self._updating = True
        try:
            if has_canary and not (same_plugin and self.slider.isSliderDown()):
                self.slider.setValue(snap.canary_percent)
            if not self.threshold.hasFocus():
                self.threshold.setValue(snap.auto_rollback_threshold * 100)
            if not self.min_calls.hasFocus():
                self.min_calls.setValue(snap.auto_rollback_min_calls)
            self.auto_progress.setText(escape(snap.auto_rollback_progress)
                                       if snap.auto_rollback_threshold > 0 else "")
        finally:
            self._updating = False
        if snap.last_rollback:
            how = "automatically rolled back" if snap.last_rollback_automatic else "rolled back"
            self.notice.setText(f"The canary was {how}: {shown(snap.last_rollback)}")
            self.notice.show()
        else:
            self.notice.hide()

    def _send(self, signal: Any) -> None:
        if self._snap is not None:
            signal.emit(self._snap.plugin_id)

    def _on_percent(self) -> None:
        snap = self._snap
        if snap is not None and snap.canary is not None and not self._updating and (
                self.percent.value() != snap.canary_percent):
            self.percentRequested.emit(snap.plugin_id, self.percent.value())

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

    def _on_threshold(self, value: float) -> None:
        if self._snap is not None and not self._updating:
            self.thresholdRequested.emit(self._snap.plugin_id, value / 100.0,
                                         self.min_calls.value())
