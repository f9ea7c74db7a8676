"""The plugin manager in a worker thread, spoken to through typed calls and plain data.

:class:`Engine` lives on the GUI thread and is all widgets see. It has one way to ask
something of the manager: ``engine.run(lambda b: b.install, offer, caps)`` runs that
:class:`~.backend.Backend` method on the engine thread (mypy checks the arguments against
the method; there are no command strings and no lookup by name). The answer comes back on
the GUI thread, to the :class:`Pending`'s callbacks and then as ``done`` or ``failed``.
An :class:`EngineWorker`, moved to a ``QThread``, creates the backend there, runs the
calls one after another (compile, instantiate, re-sandbox), and turns every exception
into an error string, so nothing raised in the engine crosses threads.

Everything reaches the worker the same way: ``_post`` carries a bound method of the
worker, and Qt queues it to the engine thread (superqt's ``ensure_object_thread`` idea,
without the decorator).

Three things deliberately bypass the worker's queue, because the worker may be busy
compiling for seconds: log records go straight into a bounded :class:`LogBuffer`;
manager events (loading progress, swaps, rollbacks) are re-emitted from whichever thread
published them (Qt queues them to the GUI); and ``call`` runs on a small pool, so a
slow Try-it request does not hold up the calls queued after it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from wasmbay.core.errors import CancelledError
from wasmbay.core.events import Event, LogRecord
from wasmbay.core.progress import CancelToken

from .backend import Backend, open_backend
from .logmodel import LogBuffer
from .snapshots import CallResult, Failure, InstallOffer

if TYPE_CHECKING:
    from .serving import WindowService

_log = logging.getLogger(__name__)

#: How often the worker sends fresh metrics for every plugin.
POLL_MS = 500

BackendFactory = Callable[[], Backend]
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class _Job:
    """One verb to run on the engine thread; ``verb`` picks the method off the backend."""

    ticket: int
    label: str  # the verb's name, for done/failed and the status line
    plugin_id: str
    verb: Callable[[Backend], Callable[..., Any]]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Answer:
    job: _Job
    result: Any = None
    error: str | None = None  # a domain error, as the text the user reads
    cancelled: bool = False  # the error is the user's cancel (core's CancelledError)


class Pending(Generic[R]):
    """The answer to one :meth:`Engine.run`; its callbacks run on the GUI thread.

    Set them right after ``run`` returns: the answer is queued to the GUI thread's event
    loop, so it cannot arrive before the code that made the call has returned.
    """

    __slots__ = ("label", "on_done", "on_failed", "plugin_id", "token")

    def __init__(self, label: str, plugin_id: str, token: CancelToken | None = None) -> None:
        self.label = label
        self.plugin_id = plugin_id
        self.token = token
        self.on_done: Callable[[R], object] | None = None
        self.on_failed: Callable[[Failure], None] | None = None

    @property
    def cancellable(self) -> bool:
        return self.token is not None

    def cancel(self) -> bool:
        """Ask the verb to stop (from the GUI thread, not queued behind it); False if it
        takes no CancelToken. It stops between stages (a compile finishes first) and then
        fails with ``Failure.cancelled`` set, having stored nothing."""
        if self.token is None:
            return False
        self.token.cancel()
        return True

    def then(self, on_done: Callable[[R], object] | None = None,
             on_failed: Callable[[Failure], None] | None = None) -> Pending[R]:
        self.on_done, self.on_failed = on_done, on_failed
        return self


def verb_name(verb: Callable[[Backend], Callable[..., Any]]) -> str:
    """The verb's name, read off the protocol itself (the backend may not exist yet)."""
    return str(verb(cast(Backend, Backend)).__name__)


class EngineWorker(QObject):
    """Owns the backend (the plugin manager); lives in the engine thread."""

    snapshots = Signal(object)  # list[PluginSnapshot]: every plugin, fresh
    event = Signal(object)  # a manager Event (plain frozen dataclass)
    answered = Signal(object)  # _Answer
    callDone = Signal(object)  # CallResult
    failed = Signal(object)  # Failure outside any call: the manager could not start
    ready = Signal()
    stopped = Signal()

    def __init__(self, factory: BackendFactory, logs: LogBuffer, serve: bool = False) -> None:
        super().__init__()
        self._factory = factory
        #: With ``serve``, the engine API runs on the manager while the window is open.
        self._service: WindowService | None = None
        if serve:
            from .serving import WindowService  # brings in aiohttp only when serving

            self._service = WindowService()
        self._logs = logs
        self.backend: Backend | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._timer: QTimer | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @Slot(object)
    def perform(self, method: Callable[[], None]) -> None:
        """Run one posted bound method of this worker (we are on the engine thread)."""
        method()

    # --- life cycle (runs in the engine thread) -----------------------------------------

    @Slot()
    def start(self) -> None:
        refused = self._service.claim() if self._service is not None else None
        if refused is not None:  # another host serves this data folder: not a second engine
            self._service = None
            self.failed.emit(Failure("start", "", refused))
            self.ready.emit()
            return
        try:
            self.backend = self._factory()
        except Exception as e:  # the window still opens and says why
            _log.exception("could not start the plugin manager")
            self.failed.emit(Failure("start", "", f"could not start the plugin manager: {e}"))
            self.ready.emit()
            return
        self._unsubscribe = self.backend.subscribe(self._on_bus)
        if self._service is not None and (problem := self._service.serve(self.backend)):
            self.failed.emit(Failure("serve", "", problem))
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wasmbay-call")
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        self._timer.start()
        self.poll()
        self.ready.emit()
        self.run(_Job(0, verb_name(_load_all), "", _load_all, (), {}))

    def stop(self) -> None:
        """Shut every plugin down (their ``shutdown`` runs), then end the thread."""
        if self._timer is not None:
            self._timer.stop()
        if self._service is not None:  # no API calls arrive once the plugins shut down
            self._service.stop_serving()
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
        if self._service is not None:  # only now may another host open the library
            self._service.release()
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

    # --- calls (posted to the engine thread) --------------------------------------------

    def run(self, job: _Job) -> None:
        backend = self.backend
        if backend is None:
            self.answered.emit(_Answer(job, error="the plugin manager is not running"))
            return
        try:
            result = job.verb(backend)(*job.args, **job.kwargs)
        except Exception as e:
            _log.debug("%s failed:\n%s", job.label, traceback.format_exc())
            self.answered.emit(_Answer(job, error=_message(e),
                                       cancelled=isinstance(e, CancelledError)))
        else:
            self.answered.emit(_Answer(job, result))
        finally:
            self.poll()

    def call(self, pid: str, text: str, options: list[tuple[str, str]],
             request_id: str) -> None:
        backend = self.backend
        if backend is None:
            self.failed.emit(Failure("call", pid, "the plugin manager is not running"))
        elif self._pool is not None:
            self._pool.submit(self._call, backend, pid, text, options, request_id)

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


def _load_all(backend: Backend) -> Callable[[], None]:
    return backend.load_all


def _message(e: BaseException) -> str:
    text = str(e)
    return text if text else type(e).__name__


class Engine(QObject):
    """The GUI thread's handle on the engine: ``run`` posts a call, signals answer."""

    snapshots = Signal(object)
    event = Signal(object)
    done = Signal(str, str, object)  # verb name, plugin id, result (plain data)
    callDone = Signal(object)
    failed = Signal(object)
    ready = Signal()
    stopped = Signal()

    _post = Signal(object)  # a bound method of the worker, run on the engine thread

    def __init__(self, factory: BackendFactory | None = None, logs: LogBuffer | None = None,
                 parent: QObject | None = None, *, serve: bool = False) -> None:
        super().__init__(parent)
        self.logs = logs if logs is not None else LogBuffer()
        self.thread_ = QThread()
        self.thread_.setObjectName("wasmbay-engine")
        self.worker = EngineWorker(factory or open_backend, self.logs, serve)
        self.worker.moveToThread(self.thread_)
        self.thread_.started.connect(self.worker.start)
        self._post.connect(self.worker.perform)
        w = self.worker
        for mine, theirs in ((self.snapshots, w.snapshots), (self.event, w.event),
                             (self.callDone, w.callDone), (self.failed, w.failed),
                             (self.ready, w.ready), (self.stopped, w.stopped)):
            theirs.connect(mine)
        w.answered.connect(self._answered)
        self._pending: dict[int, Pending[Any]] = {}
        self._tickets = 0
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
        self._post.emit(self.worker.stop)
        ok = self.thread_.wait(timeout_ms)
        if not ok:
            _log.error("the engine thread did not end within %d ms", timeout_ms)
        return bool(ok)

    # --- the one call path --------------------------------------------------------------

    def run(self, verb: Callable[[Backend], Callable[P, R]], *args: P.args,
            **kwargs: P.kwargs) -> Pending[R]:
        """Run ``verb(backend)(*args, **kwargs)`` on the engine thread.

        ``verb`` picks a Backend method, e.g. ``lambda b: b.promote``; it is applied to
        the backend on the engine thread, so the GUI never holds the backend itself.
        A :class:`CancelToken` among the arguments (``cancel=CancelToken()`` for preview
        and install) makes the answer cancellable: ``pending.cancel()``.
        """
        self._tickets += 1
        first = args[0] if args else ""
        pid = first.plugin_id if isinstance(first, InstallOffer) else str(first)
        token = next((a for a in (*args, *kwargs.values()) if isinstance(a, CancelToken)),
                     None)
        pending: Pending[R] = Pending(verb_name(verb), pid, token)
        self._pending[self._tickets] = pending
        self._post.emit(partial(self.worker.run, _Job(self._tickets, pending.label, pid,
                                                      verb, args, dict(kwargs))))
        return pending

    def call(self, plugin_id: str, text: str, options: list[tuple[str, str]],
             request_id: str) -> None:
        """Try-it: ``Backend.call`` on the call pool; the answer comes as ``callDone``."""
        self._post.emit(partial(self.worker.call, plugin_id, text, list(options), request_id))

    def refresh(self) -> None:
        """Ask for fresh snapshots now rather than at the next poll."""
        self._post.emit(self.worker.poll)

    def _answered(self, answer: _Answer) -> None:
        job = answer.job
        pending = self._pending.pop(job.ticket, None)
        if answer.error is None:
            try:
                if pending is not None and pending.on_done is not None:
                    pending.on_done(answer.result)
            finally:
                self.done.emit(job.label, job.plugin_id, answer.result)
        else:
            failure = Failure(job.label, job.plugin_id, answer.error, answer.cancelled)
            try:
                if pending is not None and pending.on_failed is not None:
                    pending.on_failed(failure)
            finally:
                self.failed.emit(failure)
