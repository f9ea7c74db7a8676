"""The thread an instance's calls run on, so a guest blocked in a WASI call cannot hold
the caller (core.instance says which instances need one).

The OS threads outlive their instances: when an instance closes while its thread is idle,
the thread parks (up to :data:`MAX_PARKED`) and serves the next instance that starts.
Starting an OS thread per instance, and tearing it down after, cost about 0.1x of a bare
instantiate of a componentize-py plugin here (bench/bench_first_use.py, row 5). A thread
is parked only if it is clean: its last job finished before its instance closed (a thread
whose caller gave up on a blocked job ends when the job does), and it runs at normal
priority (a background start-up's niced thread ends with its one job). A parked thread
holds nothing of the instance it served: its host context is cleared and its next
instance enters its own before any job.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .hostapi import HostContext, enter

T = TypeVar("T")

#: Idle sandbox threads kept for the next instances; any more end.
MAX_PARKED = 8


class _Parked:
    """An idle OS thread waiting for the next sandbox to serve (``wake`` is held until then)."""

    __slots__ = ("sandbox", "wake")

    def __init__(self) -> None:
        self.wake = _thread.allocate_lock()
        self.wake.acquire()
        self.sandbox: SandboxThread | None = None

    def serve(self, sandbox: SandboxThread) -> None:
        self.sandbox = sandbox
        self.wake.release()


class ThreadPark:
    """Idle threads, last parked first (the one most likely still in the CPU's cache).

    Instances share one park (:data:`SHARED_PARK`); a test gives its sandboxes a park of
    their own, so threads of other tests' instances closing late cannot land in it.
    """

    def __init__(self, limit: int = MAX_PARKED) -> None:
        self._lock = _thread.allocate_lock()
        self._limit = limit
        self._idle: list[_Parked] = []

    def take(self) -> _Parked | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def put(self, parked: _Parked) -> bool:
        """Park ``parked`` (False: the park is full; the thread should end)."""
        with self._lock:
            if len(self._idle) >= self._limit:
                return False
            self._idle.append(parked)
            return True

    def __len__(self) -> int:
        return len(self._idle)


#: The park every instance's sandbox thread uses unless given another.
SHARED_PARK = ThreadPark()


def _serve(sandbox: SandboxThread) -> None:
    """An OS thread's life: serve ``sandbox``, then park and serve the next one, until a
    sandbox ends unclean or the park is full."""
    parked = _Parked()
    current: SandboxThread | None = sandbox
    while current is not None:
        try:
            clean = current._run()
            enter(None)  # hold nothing of the instance served
            # Parked before the sandbox is let go: once join() returns, the next
            # instance finds this thread in the park.
            parks = clean and current._park.put(parked)
        finally:
            current._alive.release()
        if not parks:
            return
        parked.wake.acquire()
        current, parked.sandbox = parked.sandbox, None


class SandboxThread:
    """Runs one instance's calls on a thread of their own.

    The hand-off is a pair of bare locks, the cheapest wake-up between two Python threads:
    the caller puts the job in a slot and releases ``_ready``; the worker runs it, puts
    the outcome in a slot and releases ``_done``, which the caller awaits with its time
    limit. A call that times out leaves its instance broken, so no call ever follows
    one whose outcome is still due; only :meth:`stop` does.

    :meth:`start` gets the OS thread before the first job exists: a new thread boots while
    the caller sets up the Store; a parked one is woken only with the first job (one
    wake-up, not two). A job of several steps (:meth:`PluginInstance.__init__`'s start-up)
    gives each step its own time limit by stamping ``step_at`` when the step begins.
    """

    def __init__(self, name: str, ctx: HostContext, *, nice: int = 0,
                 park: ThreadPark = SHARED_PARK) -> None:
        self.name = name
        self._park = park
        #: This thread's own nice value (Linux: per thread), set when it starts. A niced
        #: thread is never parked, nor taken from the park.
        self._nice = nice
        self._ready = _thread.allocate_lock()
        self._ready.acquire()
        self._done = _thread.allocate_lock()
        self._done.acquire()
        self._job: Callable[[], Any] | None = None
        self._outcome: tuple[bool, Any] = (False, None)
        self._started = False
        #: A parked thread taken by :meth:`start`, woken by the first job (or the stop).
        self._taken: _Parked | None = None
        self._ctx = ctx
        #: A multi-step job's running step and when it began (0: a single-step job),
        #: and whether the caller gave up on it; guarded by ``steps``.
        self.steps = _thread.allocate_lock()
        self.step = "instantiate"
        self.step_at = 0.0
        self.abandoned = False
        #: Held while a thread serves this sandbox; released when it stops (:meth:`join`).
        self._alive = _thread.allocate_lock()

    def start(self) -> None:
        """Take a parked thread, or start one (a bare ``_thread``: no start handshake as
        ``threading.Thread`` has); it waits for the first job. Called at most once."""
        if self._started:
            return
        self._started = True
        self._alive.acquire()
        self._taken = None if self._nice else self._park.take()
        if self._taken is not None:
            return
        try:
            _thread.start_new_thread(_serve, (self,))
        except BaseException:
            self._alive.release()
            raise

    def _wake_taken(self) -> None:
        taken, self._taken = self._taken, None
        if taken is not None:
            taken.serve(self)

    def _run(self) -> bool:
        """Serve this sandbox's jobs until stopped; True if it ended clean (its thread may
        serve another)."""
        if self._nice:
            with contextlib.suppress(AttributeError, OSError):  # non-Linux: no-op
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._nice)
        enter(self._ctx)  # this thread serves this one instance: its host calls see it
        ready, done = self._ready, self._done
        while True:
            ready.acquire()
            fn, self._job = self._job, None
            if fn is None:  # stopped (after any job the caller gave up on had ended)
                return not self._nice and not self.abandoned
            try:
                self._outcome = (True, fn())
            except BaseException as e:
                self._outcome = (False, e)
            fn = None  # hold nothing of the instance between calls
            done.release()

    def call(self, fn: Callable[[], T], timeout: float) -> T:
        self.step_at = 0.0
        self._job = fn
        self._ready.release()
        if not self._started:
            self.start()
        self._wake_taken()
        if not self._done.acquire(True, timeout):
            while True:  # each step of a multi-step job has ``timeout`` from its start
                with self.steps:
                    left = self.step_at + timeout - time.monotonic()
                    if left <= 0:  # the job starts and records nothing more, and its
                        self.abandoned = True  # thread ends with it (never parked)
                        raise TimeoutError
                if self._done.acquire(True, left):
                    break
        ok, value = self._outcome
        self._outcome = (False, None)
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    def begin_step(self, what: str) -> bool:
        """On the worker: a job's next step starts now (False: the caller gave up)."""
        with self.steps:
            if self.abandoned:
                return False
            self.step, self.step_at = what, time.monotonic()
            return True

    def stop(self) -> None:
        """Let the thread stop serving after its current job (which may still be blocked)."""
        self._job = None
        # Wakes an idle worker, which finds no job; if a job was not picked up yet (the
        # lock is already released), the worker finds it gone.
        with contextlib.suppress(RuntimeError):
            self._ready.release()
        self._wake_taken()  # a thread taken but never given a job parks again

    def join(self, timeout: float | None = None) -> None:
        """Wait until no thread serves this sandbox any more."""
        if self._started and self._alive.acquire(True, -1 if timeout is None else timeout):
            self._alive.release()
