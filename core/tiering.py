"""Tiered compilation: serve Winch code at once, Cranelift code once it is compiled.

A plugin's first instances run code from the fast tier (Winch, wasmtime's baseline
compiler: about 4x quicker to compile); :class:`Optimizer` compiles the optimized tier
(Cranelift) in the background and hands it to the plugin, which swaps it in like a hot
swap (core.pool). One background thread compiles one component at a time.

wasmtime compiles on one process-wide pool of worker threads (rayon's), made by the
first compile and shared by every compile after it; each worker keeps the priority of
the thread that made the pool. :func:`start_compile_workers` makes it from a thread of
low CPU priority before anything compiles, so compiles (the background one above all)
leave the processor to calls and the GUI whenever they want it; on an idle machine a
compile runs at full speed all the same. The tier swap that follows runs at normal
priority: it builds instances, whose sandbox threads inherit the priority of the thread
that starts them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TypeVar

import wasmtime

from . import errors as E
from .component import LoadedComponent

_log = logging.getLogger(__name__)
T = TypeVar("T")

#: The tier code was compiled for: "fast" (Winch) or "optimized" (Cranelift).
FAST = "fast"
OPTIMIZED = "optimized"
#: A plugin on fast code whose optimized compile is queued or running.
OPTIMIZING = "optimizing"
TIERS = (FAST, OPTIMIZED)
#: How a runtime picks tiers: both (fast first, then optimized), or only one.
TIERED = "tiered"
MODES = (TIERED, FAST, OPTIMIZED)
TIER_ENV = "WASMBAY_TIER"
#: The compiler behind each tier: the compiled cache keys its entries by it.
COMPILER = {FAST: "winch", OPTIMIZED: "cranelift"}
#: Marks code compiled with fuel metering (:func:`code_name`).
METERED_SUFFIX = "+fuel"


def code_name(tier: str, metered: bool = False) -> str:
    """The compiled cache's name for code of ``tier``, with fuel metering or not.

    Metering is compiled into the code (a fuel check in every block and loop: 16% of a
    light call of the C sample), so only a plugin granted a fuel limit runs metered
    code; the others' limits are time (epochs), memory and stack, the same either way.
    """
    return COMPILER[tier] + (METERED_SUFFIX if metered else "")


#: Every code name the cache may hold: each tier, unmetered and metered.
CODE_NAMES = tuple(code_name(t, m) for t in (FAST, OPTIMIZED) for m in (False, True))
#: The compile workers' nice value: a busy caller at 0 gets ~90% of a core against
#: one, yet compiles keep going under load (at 19 one would get ~1.5% and take minutes).
BACKGROUND_NICE = 10
#: Overrides :data:`BACKGROUND_NICE` (0-19; 0: compete with calls as an equal).
NICE_ENV = "WASMBAY_OPTIMIZE_NICE"
#: The pause between two background compiles, so queued work never hogs the machine.
YIELD_S = 0.05

#: ``done(optimized, error)``: exactly one of them is None.
Done = Callable[[LoadedComponent | None, E.WasmbayError | None], None]


def _job_key(fast: LoadedComponent) -> str:
    """One compile per component and metering: a metered and an unmetered plugin of the
    same bytes need different optimized code."""
    return fast.info.sha256 + (METERED_SUFFIX if fast.metered else "")


def tier_mode(value: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The tier mode: ``value``, else ``WASMBAY_TIER``, else "tiered"; UsageError if unknown."""
    raw = value if value is not None else (os.environ if environ is None else environ).get(
        TIER_ENV, "")
    mode = raw.strip().lower() or TIERED
    if mode not in MODES:
        raise E.UsageError(f"unknown compile tier {raw[:40]!r} (from {TIER_ENV} or tier=)",
                           hint=f"use one of {', '.join(MODES)}")
    return mode


_workers_started = threading.Lock()
_workers: list[bool] = []


def start_compile_workers() -> None:
    """Make wasmtime's compile workers now, at :data:`BACKGROUND_NICE` (once per process).

    Must run before the process's first compile: whichever thread compiles first makes
    the pool, and its workers keep that thread's priority for good (a preview compiled
    at normal priority first would leave every later background compile at it).
    """
    with _workers_started:
        if _workers:
            return
        _workers.append(True)

        def make_pool() -> None:
            _lower_priority()
            try:  # a parallel compile of two functions makes the pool
                wasmtime.Module(wasmtime.Engine(), "(module (func) (func))")
            except wasmtime.WasmtimeError as e:  # pragma: no cover - wasmtime without it
                _log.debug("compile workers not made ahead: %s", e)

        maker = threading.Thread(target=make_pool, name="wasmbay-compile-pool", daemon=True)
        maker.start()
        maker.join()


def _lower_priority() -> None:
    """Give the calling thread (only) a low CPU priority (:data:`BACKGROUND_NICE`).

    On Linux the nice value belongs to the thread, and threads it creates (wasmtime's
    parallel compile workers, made on first use) inherit it. Elsewhere this is a no-op.
    """
    nice = BACKGROUND_NICE
    raw = os.environ.get(NICE_ENV, "").strip()
    if raw.lstrip("-").isdigit():  # only ever lowered: an unprivileged thread cannot raise it
        nice = max(0, min(19, int(raw)))
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError) as e:  # pragma: no cover - non-Linux
        _log.debug("background compiles keep normal priority: %s", e)


class Optimizer:
    """One background thread, a queue of fast components to compile optimized, in order.

    Requests for one component (a stable and a canary of the same bytes, twins) share a
    single compile; each requester hears the outcome through its ``done`` callback,
    called on the optimizer's thread. ``keep(sha256)`` then runs at low priority (the
    cache writes): after the swaps, so optimized code serves without waiting for the
    disk, and before the next compile, so :meth:`wait_idle` means "written" too.
    """

    def __init__(self, compile_optimized: Callable[[LoadedComponent], LoadedComponent],
                 keep: Callable[[str], None] | None = None) -> None:
        #: The runtime's methods: dropped once stopped and idle (:meth:`_release`), so a
        #: closed runtime is not kept alive, with every component it loaded, by a cycle
        #: through them until the garbage collector comes by.
        self._compile: Callable[[LoadedComponent], LoadedComponent] | None = compile_optimized
        self._keep = keep
        self._cond = threading.Condition()
        self._queue: OrderedDict[str, tuple[LoadedComponent, list[Done]]] = OrderedDict()
        self._busy: str | None = None
        self._stopped = False
        self._thread: threading.Thread | None = None

    def submit(self, fast: LoadedComponent, done: Done) -> None:
        """Compile ``fast``'s component optimized, then call ``done`` (never raises)."""
        sha = _job_key(fast)
        with self._cond:
            if self._stopped:
                return
            entry = self._queue.get(sha)
            if entry is None:
                self._queue[sha] = (fast, [done])
            else:
                entry[1].append(done)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wasmbay-optimize",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def pending(self) -> int:
        """Components queued or being compiled."""
        with self._cond:  # a request for the one compiling joins it: counted once
            return len(self._queue) + (self._busy is not None and self._busy not in self._queue)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or compiling (tests, benchmarks, ``close``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def stop(self) -> None:
        """Drop queued work; a compile under way finishes (wasmtime cannot stop it)."""
        with self._cond:
            self._stopped = True
            self._queue.clear()
            if self._busy is None:  # no job runs now, and none starts after this
                self._release()
            self._cond.notify_all()

    def _release(self) -> None:
        self._compile = self._keep = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    self._release()
                    self._cond.notify_all()
                    return
                sha, (fast, callbacks) = self._queue.popitem(last=False)
                self._busy = sha
            try:
                self._one(fast, callbacks, sha)
            finally:
                del fast, callbacks  # idle (wait_idle returns), it holds nothing of the job
                with self._cond:
                    self._busy = None
                    self._cond.notify_all()
            time.sleep(YIELD_S)  # let calls and the next start-up in first

    @staticmethod
    def _low_priority(work: Callable[[], T], name: str) -> T:
        """``work()`` on a thread of low priority (:func:`_lower_priority`), waited for.

        The callbacks (tier swaps) stay on the optimizer's thread, at normal priority: a
        swap's instances start sandbox threads, which would inherit the low priority and
        then serve every call of the optimized code at it.
        """
        box: list[tuple[bool, object]] = []

        def run() -> None:
            _lower_priority()
            try:
                box.append((True, work()))
            except BaseException as e:  # re-raised on the optimizer's thread
                box.append((False, e))

        worker = threading.Thread(target=run, name=name, daemon=True)
        worker.start()
        worker.join()
        ok, value = box[0]
        if not ok:
            raise value  # type: ignore[misc]
        return value  # type: ignore[return-value]

    def _one(self, fast: LoadedComponent, callbacks: list[Done], sha: str) -> None:
        optimized: LoadedComponent | None = None
        error: E.WasmbayError | None = None
        compile_optimized = self._compile  # released only after the last job
        if compile_optimized is None:
            return
        try:
            optimized = self._low_priority(lambda: compile_optimized(fast),
                                           "wasmbay-optimize-compile")
        except E.WasmbayError as e:
            error = e
        except Exception as e:  # never lose the thread: the plugin keeps its fast code
            _log.exception("optimized compile of %s failed", sha[:12])
            error = E.PluginLoadError(f"optimized compile failed: {e}",
                                      hint="the plugin keeps serving its fast code")
        with self._cond:  # requests that arrived while it compiled
            late = self._queue.pop(sha, None)
        if late is not None:
            callbacks = callbacks + late[1]
        for done in callbacks:
            try:
                done(optimized, error)
            except Exception:  # a plugin's swap failed: it logged why, keep going
                _log.exception("tier swap of %s failed", sha[:12])
        if self._keep is not None:
            keep = self._keep
            try:
                self._low_priority(lambda: keep(fast.info.sha256), "wasmbay-cache-write")
            except Exception:  # the code serves from memory; the next start compiles it
                _log.exception("compiled code of %s not written", sha[:12])
