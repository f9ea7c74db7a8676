"""Qt fixtures: offscreen platform, an engine with a real or fake backend, leak checks.

Every test here waits on signals (qtbot.waitSignal / waitUntil), never on fixed sleeps,
and fails if it leaves a QThread or an engine Python thread running.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_QUICK_BACKEND", "software")

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QThread


def _running_qthreads() -> list[QThread]:
    main = QThread.currentThread()
    found = []
    for obj in gc.get_objects():
        try:
            if isinstance(obj, QThread) and obj is not main and obj.isRunning():
                found.append(obj)
        except RuntimeError:  # the C++ object is gone
            continue
    return found


@pytest.fixture(autouse=True)
def no_thread_left_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a QThread (or a Wasmbay call thread) running."""
    if "qtbot" not in request.fixturenames and "qapp" not in request.fixturenames:
        yield
        return
    before = {t.ident for t in threading.enumerate()}
    yield
    leaked = _running_qthreads()
    for t in leaked:  # clean up so one leak does not fail every later test
        t.quit()
        t.wait(5000)
    assert not leaked, f"test left QThreads running: {[t.objectName() for t in leaked]}"
    stray = [t for t in threading.enumerate()
             if t.ident not in before and t.is_alive()
             and t.name.startswith(("wasmbay-call", "wasmbay-api"))]
    assert not stray, f"test left engine threads running: {[t.name for t in stray]}"


@pytest.fixture
def make_engine(qtbot: Any) -> Iterator[Callable[..., Any]]:
    """``make_engine(factory=None)`` -> a started Engine, shut down after the test."""
    from wasmbay.gui.engine import Engine

    engines: list[Engine] = []

    def make(factory: Any = None, start: bool = True) -> Engine:
        engine = Engine(factory)
        engines.append(engine)
        if start:
            with qtbot.waitSignal(engine.ready, timeout=30_000):
                engine.start()
        return engine

    yield make
    for engine in engines:
        assert engine.shutdown(), "engine thread did not end"


@pytest.fixture
def real_window(qtbot: Any, make_engine: Any, tmp_path: Any,
                monkeypatch: pytest.MonkeyPatch) -> Any:
    """A shown MainWindow over the real plugin manager in a private WASMBAY_HOME, its
    engine ready; ``.backends`` are the ManagerBackends it opened, ``.manager`` the first's
    PluginManager."""
    monkeypatch.setenv("WASMBAY_HOME", str(tmp_path / "home"))
    from wasmbay.gui.mainwindow import MainWindow
    from wasmbay.gui.managerbackend import ManagerBackend

    backends: list[ManagerBackend] = []

    def factory() -> ManagerBackend:
        backends.append(ManagerBackend.open())
        return backends[-1]

    engine = make_engine(factory, start=False)
    win = MainWindow(engine, offer_samples=False)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(engine.ready, timeout=30_000):
        engine.start()
    win.backends = backends
    win.manager = backends[0].manager
    return win


@pytest.fixture
def fake_window(qtbot: Any, make_engine: Any) -> Any:
    """A shown MainWindow over tests/gui/fakes.py's FakeBackend with plugins alpha and
    beta listed; ``.backend`` is that backend."""
    from wasmbay.gui.mainwindow import MainWindow

    from .fakes import FakeBackend

    backend = FakeBackend(["alpha", "beta"])
    engine = make_engine(lambda: backend, start=False)
    win = MainWindow(engine, offer_samples=False)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(engine.snapshots, timeout=10_000):
        engine.start()
    qtbot.waitUntil(lambda: win.model.rowCount() == 2)
    win.backend = backend
    return win
