"""How long does the GUI event loop stall while the engine works? (printed, not asserted)

Scenarios, each with the real main window and engine thread (offscreen Qt):

1. a cold compile: an ~18 MB componentize-py sample installed into an empty cache;
2. a log flood: 10,000 log lines a second for 3 seconds, published on the engine's
   event bus from another thread exactly as a plugin's ``log-message`` is.

A 1 ms QTimer on the GUI thread records the longest gap between its ticks; the target is
no stall over 50 ms.

    python bench/bench_gui_stall.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["WASMBAY_HOME"] = tempfile.mkdtemp(prefix="wasmbay-bench-")

from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from wasmbay.core.events import LogLevel, LogRecord  # noqa: E402
from wasmbay.gui.engine import Engine  # noqa: E402
from wasmbay.gui.mainwindow import MainWindow  # noqa: E402

TARGET_MS = 50.0


class StallMeter:
    """Measures the longest interval between event-loop turns on the GUI thread."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(1)
        self.clock = QElapsedTimer()
        self.timer.timeout.connect(self._tick)
        self.worst_ms = 0.0
        self.ticks = 0

    def _tick(self) -> None:
        gap = self.clock.nsecsElapsed() / 1e6
        self.clock.restart()
        self.ticks += 1
        if self.ticks > 1:
            self.worst_ms = max(self.worst_ms, gap)

    def start(self) -> None:
        self.worst_ms, self.ticks = 0.0, 0
        self.clock.start()
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return self.worst_ms


def wait_until(predicate: object, timeout_s: float) -> bool:
    loop_deadline = time.monotonic() + timeout_s
    while time.monotonic() < loop_deadline:
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        if predicate():  # type: ignore[operator]
            return True
    return False


def report(name: str, worst_ms: float, extra: str = "") -> None:
    verdict = "ok" if worst_ms <= TARGET_MS else "OVER TARGET"
    print(f"{name:<38} longest stall {worst_ms:7.1f} ms  (target {TARGET_MS:.0f} ms: "
          f"{verdict}){extra}")


def big_sample() -> Path | None:
    try:
        from plugins.build import build_all
    except ImportError:
        return None
    built = build_all()
    paths = list(built.values()) if isinstance(built, dict) else list(built or [])
    paths = [Path(p) for p in paths]
    return max(paths, key=lambda p: p.stat().st_size) if paths else None


def main() -> int:
    app = QApplication.instance() or QApplication(["bench"])
    engine = Engine()
    window = MainWindow(engine, offer_samples=False)
    window.show()
    ready: list[bool] = []
    engine.ready.connect(lambda: ready.append(True))
    engine.start()
    wait_until(lambda: ready, 60)
    meter = StallMeter()
    print(f"{app.applicationName()}: offscreen Qt, WASMBAY_HOME={os.environ['WASMBAY_HOME']}")

    # 1. cold compile
    sample = big_sample()
    if sample is None:
        print("cold compile: skipped (plugins/build.py is not available)")
    else:
        size_mb = sample.stat().st_size / 1e6
        done: list[str] = []
        engine.done.connect(lambda cmd, pid, _r: done.append(cmd) if cmd == "install" else None)
        engine.failed.connect(lambda f: done.append(f"failed: {f.message}"))
        meter.start()
        t0 = time.perf_counter()
        engine.run(lambda b: b.preview, str(sample)).then(  # read once, then installed
            lambda offer: engine.run(lambda b: b.install, offer, []))
        finished = wait_until(lambda: done, 300)
        elapsed = time.perf_counter() - t0
        worst = meter.stop()
        report(f"cold compile {sample.name} ({size_mb:.1f} MB)", worst,
               f"; install took {elapsed:.1f} s" + ("" if finished else " (TIMED OUT)")
               + (f"; {done[0]}" if done and done[0] != "install" else ""))

    # 2. log flood, 10,000 lines/s for 3 s
    bus = getattr(engine.worker.backend, "bus", None)
    if bus is None:
        print("log flood: skipped (the backend exposes no event bus)")
    else:
        stop = threading.Event()
        sent = [0]

        def flood() -> None:
            start = time.perf_counter()
            while not stop.is_set() and sent[0] < 30_000:
                due = int((time.perf_counter() - start) * 10_000)
                while sent[0] < min(due, 30_000):
                    bus.publish(LogRecord("flood", LogLevel.INFO, f"line {sent[0]}"))
                    sent[0] += 1
                time.sleep(0.001)

        meter.start()
        t = threading.Thread(target=flood, name="bench-flood")
        t0 = time.perf_counter()
        t.start()
        wait_until(lambda: not t.is_alive(), 30)
        stop.set()
        t.join()
        wait_until(lambda: len(engine.logs) == 0, 5)
        wait_until(lambda: False, 0.3)  # let the last batch land in the view
        worst = meter.stop()
        rate = sent[0] / (time.perf_counter() - t0)
        report("log flood 10,000 lines/s for 3 s", worst,
               f"; {sent[0]:,} lines ({rate:,.0f}/s), view holds "
               f"{window.log_model.rowCount():,} rows")

    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
