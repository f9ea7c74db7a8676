"""Send one process request to the selected plugin and see who answered, how fast."""

from __future__ import annotations

import uuid
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

from wasmbay.core.untrusted import escape, shown

from ..snapshots import CallResult, PluginSnapshot


def parse_options(text: str) -> list[tuple[str, str]]:
    """``a=1, b=2`` (or one per line) -> [("a", "1"), ("b", "2")]."""
    out = []
    for part in text.replace("\n", ",").split(","):
        key, sep, value = part.partition("=")
        if key.strip():
            out.append((key.strip(), value.strip() if sep else ""))
    return out


class TryItPane(QWidget):
    #: (plugin id, input, options, request id)
    callRequested = Signal(str, str, object, str)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._pid: str | None = None
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
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setFont(mono)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.served_by = QLabel("–")
        for label in (self.status, self.served_by):  # they quote plugin text: never markup
            label.setTextFormat(Qt.TextFormat.PlainText)
        self.duration = QLabel("–")

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
        self.send.clicked.connect(self._on_send)
        self.setEnabled(False)

    def set_snapshot(self, snap: PluginSnapshot | None) -> None:
        self.setEnabled(snap is not None)
        self._pid = snap.plugin_id if snap else None

    def _on_send(self) -> None:
        if self._pid is None:
            return
        rid = self.request_id.text().strip() or uuid.uuid4().hex[:12]
        self.status.setText(f"sending request {rid}…")
        self.send.setEnabled(False)
        self.callRequested.emit(self._pid, self.input.toPlainText(),
                                parse_options(self.options.text()), rid)

    def show_result(self, res: CallResult) -> None:
        if res.plugin_id != self._pid:
            return
        self.send.setEnabled(True)
        r = res.result
        if r is None:
            self.output.setPlainText(res.details)  # a trap's backtrace, if any
            self.status.setText(f"request {res.request_id} failed: {shown(res.error or '')}")
            self.served_by.setText("–")
            self.duration.setText("–")
            return
        self.output.setPlainText(r.output)
        self.served_by.setText(escape(r.served_by) or "–")
        self.duration.setText(f"{res.duration_ms:.2f} ms")
        if r.success:
            extra = "".join(f"  {escape(k)}={escape(v)}" for k, v in r.attributes)
            self.status.setText(f"request {res.request_id}: success{extra}")
        else:
            kind = f" ({r.error_kind})" if r.error_kind else ""
            self.status.setText(f"request {res.request_id}: the plugin reported failure"
                                f"{escape(kind)}: {shown(r.error or '')}")
