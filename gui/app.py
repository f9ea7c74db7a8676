"""``run_gui``: the QApplication, the engine thread and the main window."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from .engine import Engine
from .mainwindow import MainWindow
from .resources import app_icon, apply_theme


def run_gui(qt_args: Sequence[str] | None = None) -> int:
    """Open the main window; returns the exit code when it is closed."""
    level = os.environ.get("WASMBAY_LOG", "warning").upper()
    logging.basicConfig(level=getattr(logging, level, logging.WARNING),
                        format="wasmbay %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(["wasmbay", *(qt_args or [])])
    assert isinstance(app, QApplication)
    app.setApplicationName("Wasmbay")
    app.setOrganizationName("wasmbay")
    app.setDesktopFileName("io.github.wasmbay.Wasmbay")
    app.setWindowIcon(app_icon())
    apply_theme(app)

    engine = Engine(serve=True)  # the engine API, as `wasmbay serve`, while open
    window = MainWindow(engine)
    size = _window_size(os.environ.get("WASMBAY_WINDOW_SIZE", ""))
    if size is not None:  # e.g. 1024x700: screenshots, trying a small screen
        window.resize(*size)
    window.show()
    engine.start()

    # Ctrl+C in the terminal closes the window cleanly (plugins shut down).
    signal.signal(signal.SIGINT, lambda *_: window.close())
    tick = QTimer()
    tick.start(250)
    tick.timeout.connect(lambda: None)  # lets Python run its signal handlers
    code = app.exec()
    engine.shutdown()
    tick.stop()
    return int(code)


def _window_size(text: str) -> tuple[int, int] | None:
    """``WIDTHxHEIGHT`` (``WASMBAY_WINDOW_SIZE``) as a size, or None."""
    width, sep, height = text.lower().partition("x")
    if sep and width.strip().isdigit() and height.strip().isdigit():
        return max(320, int(width)), max(240, int(height))
    return None


if __name__ == "__main__":
    sys.exit(run_gui(sys.argv[1:]))
