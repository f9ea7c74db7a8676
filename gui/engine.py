"""The plugin manager in a worker thread, spoken to through signals carrying plain data.

:class:`Engine` lives on the GUI thread and is all widgets see: its methods post a
command, its signals deliver snapshots, results, events and failures. Behind it an
:class:`EngineWorker` is moved to a ``QThread``; it creates the manager there, runs
commands one after another (compile, instantiate, re-sandbox), and turns every
exception into a :class:`Failure` value, so nothing raised in the engine crosses threads.

Three things deliberately bypass the worker's queue, because the worker may be busy
compiling for seconds: log records go straight into a bounded :class:`LogBuffer`;
manager events (loading progress, swaps, rollbacks) are re-emitted from whichever thread
published them (Qt queues them to the GUI); and ``call`` runs on a small pool, so a
Try-it request is never stuck behind a compile.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from wasmbay.core.events import Event, LogRecord

from .backend import Backend, open_backend
from .logmodel import LogBuffer
from .snapshots import CallResult, Failure

_log = logging.getLogger(__name__)

#: How often the worker sends fresh metrics for every plugin.
POLL_MS = 500

BackendFactory = Callable[[], Backend]


class EngineWorker(QObject):
    """Owns the backend (the plugin manager); lives in the engine thread."""

    snapshots = Signal(object)  # list[PluginSnapshot]: every plugin, fresh
    snapshot = Signal(object)  # PluginSnapshot: one plugin changed
    removed = Signal(str)
    event = Signal(object)  # a manager Event (plain frozen dataclass)
    done = Signal(str, str, object)  # command, plugin id, result (plain data)
    callDone = Signal(object)  # CallResult
    failed = Signal(object)  # Failure
    ready = Signal()
    stopped = Signal()

    def __init__(self, factory: BackendFactory, logs: LogBuffer) -> None:
        super().__init__()
        self._factory = factory
        self._logs = logs
        self.backend: Backend | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._timer: QTimer | None = None
        self._unsubscribe: Callable[[], None] | None = None

    # --- life cycle (runs in the engine thread) -----------------------------------------

    @Slot()
    def start(self) -> None:
        try:
            self.backend = self._factory()
        except Exception as e:  # the window still opens and says why
            _log.exception("could not start the plugin manager")
            self.failed.emit(Failure("start", "", f"could not start the plugin manager: {e}"))
            self.ready.emit()
            return
        self._unsubscribe = self.backend.subscribe(self._on_bus)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wasmbay-call")
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        self._timer.start()
        self.poll()
        self.ready.emit()
        self.run("load_all", ())

    @Slot()
    def stop(self) -> None:
        """Shut every plugin down (their ``shutdown`` runs), then end the thread."""
        if self._timer is not None:
            self._timer.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self.backend is not None:
            try:
                self.backend.close()
            except Exception:
                _log.exception("closing the plugin manager failed")
            if self._unsubscribe is not None:
                self._unsubscribe()
            self.backend = None
        self.stopped.emit()
        thread = self.thread()
        if thread is not None:
            thread.quit()

    # --- events from the manager (any thread) -------------------------------------------

    def _on_bus(self, event: Event) -> None:
        if isinstance(event, LogRecord):
            self._logs.append(event)
        else:
            self.event.emit(event)

    @Slot()
    def poll(self) -> None:
        if self.backend is None:
            return
        try:
            self.snapshots.emit(self.backend.snapshots())
        except Exception:
            _log.exception("reading plugin state failed")

    # --- commands (queued to the engine thread) -----------------------------------------

    @Slot(str, object)
    def run(self, command: str, args: Any) -> None:
        backend = self.backend
        pid = str(args[0]) if args else ""
        if backend is None:
            self.failed.emit(Failure(command, pid, "the plugin manager is not running"))
            return
        if command == "call":
            if self._pool is not None:
                self._pool.submit(self._call, backend, *args)
            return
        try:
            result = getattr(backend, command)(*args)
        except Exception as e:
            _log.debug("command %s failed:\n%s", command, traceback.format_exc())
            self.failed.emit(Failure(command, pid, _message(e)))
        else:
            self.done.emit(command, pid, result)
        finally:
            self._refresh()

    def _refresh(self) -> None:
        backend = self.backend
        if backend is None:
            return
        try:
            self.snapshots.emit(backend.snapshots())
        except Exception:
            _log.exception("reading plugin state failed")

    def _call(self, backend: Backend, pid: str, text: str,
              options: list[tuple[str, str]], request_id: str) -> None:
        """Runs on the call pool; the signal is queued to the GUI thread."""
        try:
            result = backend.call(pid, text, options, request_id)
        except Exception as e:
            trace = getattr(e, "trace", None)  # where a plugin trapped (core.backtrace)
            self.callDone.emit(CallResult(pid, request_id, None, _message(e),
                                          trace.text() if trace else ""))
        else:
            self.callDone.emit(CallResult(pid, request_id, result))


def _message(e: BaseException) -> str:
    text = str(e)
    return text if text else type(e).__name__


class Engine(QObject):
    """The GUI thread's handle on the engine: methods post commands, signals answer."""

    snapshots = Signal(object)
    removed = Signal(str)
    event = Signal(object)
    done = Signal(str, str, object)
    callDone = Signal(object)
    failed = Signal(object)
    ready = Signal()
    stopped = Signal()

    _command = Signal(str, object)
    _stop = Signal()

    def __init__(self, factory: BackendFactory | None = None, logs: LogBuffer | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.logs = logs if logs is not None else LogBuffer()
        self.thread_ = QThread()
        self.thread_.setObjectName("wasmbay-engine")
        self.worker = EngineWorker(factory or open_backend, self.logs)
        self.worker.moveToThread(self.thread_)
        self.thread_.started.connect(self.worker.start)
        self._command.connect(self.worker.run)
        self._stop.connect(self.worker.stop)
        w = self.worker
        for mine, theirs in ((self.snapshots, w.snapshots), (self.removed, w.removed),
                             (self.event, w.event), (self.done, w.done),
                             (self.callDone, w.callDone), (self.failed, w.failed),
                             (self.ready, w.ready), (self.stopped, w.stopped)):
            theirs.connect(mine)
        self._running = False

    def start(self) -> None:
        if not self._running:
            self._running = True
            self.thread_.start()

    @property
    def running(self) -> bool:
        return self._running

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Close every plugin and end the thread; True if it ended within the timeout."""
        if not self._running:
            return True
        self._running = False
        self._stop.emit()
        ok = self.thread_.wait(timeout_ms)
        if not ok:
            _log.error("the engine thread did not end within %d ms", timeout_ms)
        return bool(ok)

    def send(self, command: str, *args: Any) -> None:
        """Post ``command(*args)`` to the worker; the answer comes as done or failed."""
        self._command.emit(command, args)

    # --- commands, spelled out for readability ------------------------------------------

    def preview(self, path: str) -> None:
        self.send("preview", path)

    def install(self, path: str, capabilities: list[str], plugin_id: str = "",
                accept_publisher_change: bool = False, allow_downgrade: bool = False) -> None:
        self.send("install", path, capabilities, plugin_id, accept_publisher_change,
                  allow_downgrade)

    def install_samples(self) -> None:
        self.send("install_samples")

    def uninstall(self, plugin_id: str) -> None:
        self.send("uninstall", plugin_id)

    def set_enabled(self, plugin_id: str, enabled: bool) -> None:
        self.send("enable" if enabled else "disable", plugin_id)

    def reload(self, plugin_id: str) -> None:
        self.send("reload", plugin_id)

    def set_grants(self, plugin_id: str, grants: Any) -> None:
        self.send("set_grants", plugin_id, grants)

    def set_config(self, plugin_id: str, key: str, value: str, secret: bool) -> None:
        self.send("set_config", plugin_id, key, value, secret)

    def remove_config(self, plugin_id: str, key: str) -> None:
        self.send("remove_config", plugin_id, key)

    def call(self, plugin_id: str, text: str, options: list[tuple[str, str]],
             request_id: str) -> None:
        self.send("call", plugin_id, text, list(options), request_id)

    def start_canary(self, plugin_id: str, path: str, percent: int) -> None:
        self.send("start_canary", plugin_id, path, percent)

    def set_canary_percent(self, plugin_id: str, percent: int) -> None:
        self.send("set_canary_percent", plugin_id, percent)

    def promote(self, plugin_id: str) -> None:
        self.send("promote", plugin_id)

    def rollback(self, plugin_id: str) -> None:
        self.send("rollback", plugin_id)

    def set_rollback_threshold(self, plugin_id: str, error_rate: float) -> None:
        self.send("set_rollback_threshold", plugin_id, error_rate)

    def refresh(self) -> None:
        self.send("noop")
