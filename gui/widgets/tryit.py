"""Send one process request to the selected plugin and see who answered, how fast.

The pane only ever shows the selected plugin's exchange: selecting another plugin clears
the response, "served by", timing and status, and an answer that arrives for a plugin no
longer selected is dropped. What the user typed is kept per plugin (in memory), so going
back to a plugin brings its input back; a plugin never tried starts empty.

A failed call whose repair the host knows (a folder the plugin was not granted) shows a
button that takes the user there ("Grant folder…"), as the Details tab does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from wasmbay.core.errors import Fix
from wasmbay.core.untrusted import escape, shown

from .. import fixes
from ..fixes import for_window
from ..snapshots import DISABLED, CallResult, PluginSnapshot


def parse_options(text: str) -> list[tuple[str, str]]:
    """``a=1, b=2`` (or one per line) -> [("a", "1"), ("b", "2")]."""
    out = []
    for part in text.replace("\n", ",").split(","):
        key, sep, value = part.partition("=")
        if key.strip():
            out.append((key.strip(), value.strip() if sep else ""))
    return out


@dataclass
class _Draft:
    """What the user typed for one plugin, kept while another plugin is selected."""

    input: str = ""
    options: str = ""


class TryItPane(QWidget):
    #: (plugin id, input, options, request id)
    callRequested = Signal(str, str, object, str)
    #: (plugin id, core.errors.Fix): the user asked to be taken to a failed call's fix.
    fixRequested = Signal(str, object)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._pid: str | None = None
        self._drafts: dict[str, _Draft] = {}
        #: The request in flight per plugin: its answer is shown only for that request.
        self._waiting: dict[str, str] = {}
        self._disabled_reason = ""
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.input = QPlainTextEdit()
        self.input.setPlaceholderText("input text")
        self.input.setFont(mono)
        self.options = QLineEdit()
        self.options.setPlaceholderText("key=value, key2=value2")
        self.request_id = QLineEdit()
        self.request_id.setPlaceholderText("empty: a new id per request")
        self.send = QPushButton("Send")
        self.send.setObjectName("primary")
        self.send.setShortcut("Ctrl+Return")
        self.send.setToolTip("Send the input to the selected plugin (Ctrl+Return)")
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setFont(mono)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.served_by = QLabel("–")
        for label in (self.status, self.served_by):  # they quote plugin text: never markup
            label.setTextFormat(Qt.TextFormat.PlainText)
        self.duration = QLabel("–")
        #: The failed call's fix ("Grant folder…"), hidden when there is none.
        self.fix_button = QPushButton()
        self.fix_button.setObjectName("tryitFix")
        self.fix_button.hide()
        self._fix: Fix | None = None
        self.fix_button.clicked.connect(self._on_fix)

        form = QFormLayout()
        form.addRow("Input", self.input)
        form.addRow("Options", self.options)
        form.addRow("Request id", self.request_id)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.send)
        facts = QFormLayout()
        facts.addRow("Served by", self.served_by)
        facts.addRow("Took", self.duration)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(row)
        lay.addWidget(QLabel("Response"))
        lay.addWidget(self.output, 1)
        lay.addLayout(facts)
        lay.addWidget(self.status)
        fix_row = QHBoxLayout()
        fix_row.addWidget(self.fix_button)
        fix_row.addStretch(1)
        lay.addLayout(fix_row)
        self.send.clicked.connect(self._on_send)
        self.setEnabled(False)

    def set_snapshot(self, snap: PluginSnapshot | None) -> None:
        pid = snap.plugin_id if snap else None
        if pid != self._pid:
            self._switch(pid)
        self.setEnabled(snap is not None)
        self._show_send(snap)

    def _switch(self, pid: str | None) -> None:
        """Another plugin: keep what was typed for the old one, show the new one fresh."""
        if self._pid is not None:
            self._drafts[self._pid] = _Draft(self.input.toPlainText(), self.options.text())
        self._pid = pid
        draft = self._drafts.get(pid, _Draft()) if pid is not None else _Draft()
        self.input.setPlainText(draft.input)
        self.options.setText(draft.options)
        self.request_id.clear()
        self._clear_answer()
        if pid is not None and pid in self._waiting:
            self.status.setText(f"waiting for request {self._waiting[pid]}…")

    def _clear_answer(self) -> None:
        self._show_fix(None)
        self.output.clear()
        self.served_by.setText("–")
        self.duration.setText("–")
        self.status.setText("")

    def _show_send(self, snap: PluginSnapshot | None) -> None:
        if snap is not None and snap.state == DISABLED:
            why = "The plugin is disabled: enable it (Ctrl+E) to try it."
        else:
            why = ""
        busy = self._pid is not None and self._pid in self._waiting
        self.send.setEnabled(snap is not None and not why and not busy)
        self.send.setToolTip(why or "Send the input to the selected plugin (Ctrl+Return)")
        if why != self._disabled_reason:  # say it once, not over an answer
            if why or self.status.text() == self._disabled_reason:
                self.status.setText(why)
            self._disabled_reason = why

    def _on_send(self) -> None:
        if self._pid is None or self._pid in self._waiting:
            return
        rid = self.request_id.text().strip() or uuid.uuid4().hex[:12]
        self._clear_answer()
        self.status.setText(f"sending request {rid}…")
        self._waiting[self._pid] = rid
        self.send.setEnabled(False)
        self.callRequested.emit(self._pid, self.input.toPlainText(),
                                parse_options(self.options.text()), rid)

    def show_result(self, res: CallResult) -> None:
        """An answer; shown only if it is for the selected plugin's request in flight."""
        if self._waiting.get(res.plugin_id) == res.request_id:
            del self._waiting[res.plugin_id]
        if res.plugin_id != self._pid:
            return  # another plugin's answer: never shown here
        self.send.setEnabled(self._disabled_reason == "")
        r = res.result
        if r is None:
            self.output.setPlainText(res.details)  # a trap's backtrace, if any
            self.status.setText(f"request {escape(res.request_id)} failed: "
                                f"{for_window(shown(res.error or ''))}")
            self.served_by.setText("–")
            self.duration.setText("–")
            return
        self.output.setPlainText(r.output)
        self.served_by.setText(escape(r.served_by) or "–")
        self.duration.setText(f"{res.duration_ms:.2f} ms")
        if r.success:
            extra = "".join(f"  {escape(k)}={escape(v)}" for k, v in r.attributes)
            self.status.setText(f"request {escape(res.request_id)}: success{extra}")
        else:
            kind = f" ({r.error_kind})" if r.error_kind else ""
            self.status.setText(f"request {escape(res.request_id)}: the plugin reported "
                                f"failure{escape(kind)}: {for_window(shown(r.error or ''))}")
            self._show_fix(r.fix)

    def _show_fix(self, fix: object) -> None:
        """The button for ``fix`` (the host's Fix for a failed call), or none."""
        self._fix = fix if isinstance(fix, Fix) else None
        if self._fix is not None:
            action = fixes.describe(self._fix)
            self.fix_button.setText(action.button)
            self.fix_button.setToolTip(action.headline)
        self.fix_button.setVisible(self._fix is not None)

    def _on_fix(self) -> None:
        if self._pid is not None and self._fix is not None:
            self.fixRequested.emit(self._pid, self._fix)
