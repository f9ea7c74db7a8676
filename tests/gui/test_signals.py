"""Guard against the PySide6 6.12.0 / Python 3.11 crash after thousands of emits."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    flag = Signal(bool)
    value = Signal(object)


def test_ten_thousand_signal_emits_do_not_crash(qtbot: Any) -> None:
    emitter = _Emitter()
    seen = {"flag": 0, "value": 0}
    emitter.flag.connect(lambda _: seen.__setitem__("flag", seen["flag"] + 1))
    emitter.value.connect(lambda _: seen.__setitem__("value", seen["value"] + 1))
    for i in range(10_000):
        emitter.flag.emit(True)  # the 6.12.0 bug is a refcount leak on True
        emitter.value.emit(i)
    assert seen == {"flag": 10_000, "value": 10_000}


def test_ten_thousand_cross_thread_engine_signals(qtbot: Any, make_engine: Any) -> None:
    """The engine re-emits bus events from foreign threads; 10k of them arrive intact."""
    import threading

    from wasmbay.core.events import PluginEvent

    from .fakes import FakeBackend

    backend = FakeBackend()
    engine = make_engine(lambda: backend)
    got: list[object] = []
    engine.event.connect(got.append)

    def flood() -> None:
        for i in range(10_000):
            backend.bus.publish(PluginEvent("x", "tick", str(i)))

    t = threading.Thread(target=flood)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: len(got) == 10_000, timeout=30_000)
