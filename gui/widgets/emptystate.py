"""What the plugin list shows with no plugins, and the highlight while a file is dragged.

A new user's first window is an empty table: the hint says what to do and offers the two
ways in (a file, or the bundled samples) as buttons. :class:`DropHighlight` is an
overlay that outlines the window while a plugin file is dragged over it, so the user sees
that dropping will install it; it lets mouse and drag events through to the window.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

HINT = ("No plugins yet. Drop a .wasm file here, or File → Install… / "
        "Install sample plugins")


class EmptyState(QWidget):
    """The table area's page when no plugin is installed."""

    installRequested = Signal()
    samplesRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        self.hint = QLabel(HINT)
        self.hint.setObjectName("emptyHint")
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setTextFormat(Qt.TextFormat.PlainText)
        self.install = QPushButton("Install…")
        self.install.setObjectName("primary")
        self.install.setToolTip("Choose plugin files (.wasm, .wasmbay, .zip, .tar.gz)")
        self.samples = QPushButton("Install sample plugins")
        self.samples.setToolTip("Install the plugins bundled with Wasmbay")
        self.install.clicked.connect(self.installRequested)
        self.samples.clicked.connect(self.samplesRequested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.install)
        buttons.addWidget(self.samples)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addStretch(1)
        lay.addWidget(self.hint)
        lay.addLayout(buttons)
        lay.addStretch(2)


class DropHighlight(QWidget):
    """A dashed outline with "Drop to install" over the window while a file is dragged."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("dropHighlight")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.hide()

    def show_over(self, area: QRect) -> None:
        self.setGeometry(area)
        self.raise_()
        self.show()

    def paintEvent(self, event: QPaintEvent) -> None:
        accent = self.palette().highlight().color()
        fill = QColor(accent)
        fill.setAlpha(40)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), fill)
        pen = QPen(accent, 3, Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.drawRoundedRect(self.rect().adjusted(4, 4, -4, -4), 8, 8)
        font = p.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        p.setFont(font)
        p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Drop to install")
        p.end()
