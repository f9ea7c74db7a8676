"""The status bar's operations indicator: what long work runs, its stage, and Cancel.

Previews, installs, canary starts and the sample install take seconds (a compile). The
window hands each one's :class:`~..engine.Pending` to :meth:`OperationsIndicator.track`,
which shows its title, the latest stage from core's ``Progress`` events and the time
since it began, with a busy or filling bar and a Cancel button. A cancel is quiet: the
answer comes back as ``Failure.cancelled`` and goes to the caller's ``on_cancelled``,
never to its error handler, so no box opens for something the user asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from wasmbay.core.manager_events import CANCELLED, Progress
from wasmbay.core.untrusted import escape

from ..engine import Pending
from ..snapshots import Failure

#: How often the elapsed time is redrawn while something runs.
TICK_MS = 500
#: The label's width is fixed to hold this much: a new stage or another second must not
#: move the status bar's other widgets (the text is elided in the middle, whole in the tip).
WIDEST_TEXT = "Installing the sample plugins: hello.wasm compiling (fast) · 88 s"


@dataclass(eq=False)
class Operation:
    """One long verb the indicator shows until its answer arrives."""

    title: str  # e.g. "Reading demo.wasm"
    pending: Pending[Any]
    #: The Progress subjects (file path, plugin id) that are this operation's; None: any.
    subjects: frozenset[str] | None = None
    #: Why Cancel is off for it ("" when its verb takes a CancelToken).
    cannot_cancel: str = ""
    stage: str = ""
    fraction: float | None = None
    started: float = field(default_factory=time.monotonic)
    cancelling: bool = False

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def text(self) -> str:
        stage = "cancelling" if self.cancelling else self.stage
        return f"{self.title}{f': {stage}' if stage else '…'} · {self.elapsed():.0f} s"


class OperationsIndicator(QWidget):
    """Hidden while nothing runs; shows the newest operation (and how many others)."""

    #: The set of running operations changed (started, finished, cancelled).
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("operations")
        self._ops: list[Operation] = []
        self.label = QLabel()
        self.label.setObjectName("operationText")
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # titles quote file names
        self.label.setFixedWidth(self.label.fontMetrics().horizontalAdvance(WIDEST_TEXT) + 8)
        self.bar = QProgressBar()
        self.bar.setObjectName("operationProgress")
        self.bar.setFixedWidth(140)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelOperation")
        self.cancel_button.clicked.connect(self.cancel_current)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel_button)
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._redraw)
        self.hide()

    # --- the window's side --------------------------------------------------------------

    def track(self, pending: Pending[Any], title: str, *,
              subjects: tuple[str, ...] | None = None,
              on_done: Callable[[Any], object] | None = None,
              on_failed: Callable[[Failure], None] | None = None,
              on_cancelled: Callable[[Failure | None], None] | None = None,
              cannot_cancel: str = "", drop_late_result: bool = True) -> Operation:
        """Show ``pending`` until it answers, then call ``on_done``/``on_failed``.

        A cancelled answer goes to ``on_cancelled``. With ``drop_late_result`` a result
        that arrives although the user pressed Cancel (the verb was past its last stage)
        is dropped too (a preview: no consent dialog opens); without it (an install that
        was past its point of no return) ``on_done`` hears it, so the window can say so.
        """
        op = Operation(escape(title), pending,
                       frozenset(subjects) if subjects is not None else None,
                       cannot_cancel if not pending.cancellable else "")
        if not pending.cancellable and not op.cannot_cancel:
            op.cannot_cancel = "This operation cannot be cancelled."

        def done(result: Any) -> None:
            self._finish(op)
            if op.cancelling and drop_late_result:
                if on_cancelled is not None:
                    on_cancelled(None)
            elif on_done is not None:
                on_done(result)

        def failed(failure: Failure) -> None:
            self._finish(op)
            if failure.cancelled:
                if on_cancelled is not None:
                    on_cancelled(failure)
            elif on_failed is not None:
                on_failed(failure)

        pending.then(done, failed)
        self._ops.append(op)
        self._redraw()
        self.changed.emit()
        return op

    def on_progress(self, event: Progress) -> None:
        """A stage of some operation: the running ones it belongs to show it."""
        for op in self._ops:
            if op.subjects is None or event.plugin_id in op.subjects:
                if event.stage == CANCELLED:
                    op.cancelling = True
                    continue
                stage = escape(event.stage)
                if op.subjects is None:  # many files at once (the samples): say whose
                    stage = f"{escape(Path(event.plugin_id).name)} {stage}"
                op.stage, op.fraction = stage, event.fraction
        if self._ops:
            self._redraw()

    @property
    def operations(self) -> list[Operation]:
        return list(self._ops)

    def current(self) -> Operation | None:
        return self._ops[-1] if self._ops else None

    def cancel_current(self) -> bool:
        """Ask the newest operation to stop; its answer (cancelled) removes it."""
        op = self.current()
        if op is None or op.cancelling or not op.pending.cancel():
            return False
        op.cancelling = True
        self._redraw()
        return True

    # --- drawing ------------------------------------------------------------------------

    def _finish(self, op: Operation) -> None:
        if op in self._ops:
            self._ops.remove(op)
        self._redraw()
        self.changed.emit()

    def _redraw(self) -> None:
        op = self.current()
        if op is None:
            self._timer.stop()
            self.hide()
            return
        if not self._timer.isActive():
            self._timer.start()
        more = len(self._ops) - 1
        text = op.text() + (f" (+{more} more)" if more else "")
        self.label.setToolTip(text)
        self.label.setText(self.label.fontMetrics().elidedText(
            text, Qt.TextElideMode.ElideMiddle, self.label.width()))
        if op.fraction is None or op.cancelling:
            self.bar.setRange(0, 0)  # busy
        else:
            self.bar.setRange(0, 100)
            self.bar.setValue(round(op.fraction * 100))
        can = op.pending.cancellable and not op.cancelling
        self.cancel_button.setEnabled(can)
        tip = (op.cannot_cancel if not op.pending.cancellable
               else "Cancelling: it stops after the current step" if op.cancelling
               else "Stop it after the current step; nothing is stored")
        self.cancel_button.setToolTip(tip)
        self.cancel_button.setStatusTip(tip)
        self.show()
