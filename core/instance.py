"""One sandboxed instance of a plugin: a wasmtime Store, its component instance, and the
calls into it in plain Python values.

A Store is single-threaded, so an instance serves one call at a time (core.pool hands it
to one caller). Each call runs within the grants' time and fuel limits; a trap or timeout
poisons the Store (``broken``), and core.traps says what it was. An instance whose guest
can wait inside a WASI call with its grants (:func:`blocks_in_host`) runs its calls on its
own thread, so the caller can stop waiting; any other runs them on the caller's thread.
"""

from __future__ import annotations

import functools
import itertools
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import wasmtime
from wasmtime import Store
from wasmtime.component import Component, ExportIndex, Func

from . import errors as E
from . import memory, traps, typedcall
from .component import TICK_S, ComponentHost, LoadedComponent
from .contract import HealthReport, PluginMetadata, ProcessResult
from .errortext import signature_error
from .grants import Grants
from .hostapi import HostContext, SecretLookup, enter
from .sandbox import OutputCapture, build_wasi
from .sandboxthread import SandboxThread
from .untrusted import LIMITS, bound, check_metadata

T = TypeVar("T")

#: The fuel a Store of metered code gets when the user set no fuel limit (code follows
#: the grants, core.pool: this is for metered code kept a while without a limit).
UNLIMITED_FUEL = 1 << 62
#: Extra wait beyond the time limit before a caller stops waiting for a guest that is
#: blocked inside a host (WASI) call, where the epoch deadline cannot reach it.
BLOCKED_GRACE_S = 0.1
#: The nice value of a background start-up (a hot swap's warm-up, :class:`PluginInstance`
#: ``background``): on 2 busy cores the callers at 0 keep most of the CPU meanwhile.
WARM_NICE = 10

_generation_numbers = itertools.count(1)

#: WASI imports through which a guest can wait inside the host whatever its grants:
#: ``wasi:io/poll`` (sleeps, waits on any pollable: ``pollable.block`` is defined there),
#: sockets and HTTP. Filesystem imports can wait (a FIFO, a slow disk) only on a descriptor,
#: and a guest holds none without a granted directory.
_BLOCKING_ALWAYS = ("wasi:io/poll", "wasi:sockets/", "wasi:http/")
_BLOCKING_WITH_DIRS = ("wasi:filesystem/",)
#: WASI imports that never wait in the host with Wasmbay's WASI context (core.sandbox):
#: stdin is closed (a read returns end-of-stream at once), stdout/stderr are synchronous
#: callbacks, clocks and randomness answer at once. Any WASI import not named here or
#: above (a future interface) counts as blocking.
_NEVER_BLOCKING = ("wasi:io/error", "wasi:io/streams", "wasi:cli/", "wasi:clocks/wall-clock",
                   "wasi:clocks/monotonic-clock", "wasi:random/")


def blocks_in_host(imports: Sequence[str], grants: Grants) -> bool:
    """Whether a guest with these imports and grants can wait inside a WASI call.

    Such a guest's calls run on its instance's sandbox thread, so the caller can stop
    waiting at the time limit (the epoch deadline cannot reach a guest blocked in the
    host); any other guest's calls run on the caller's thread, bounded by the deadline.
    """
    for name in imports:
        if not name.startswith("wasi:"):
            continue  # host-api: Wasmbay's own functions, which answer at once
        if name.startswith(_BLOCKING_ALWAYS):
            return True
        if name.startswith(_BLOCKING_WITH_DIRS):
            if grants.dirs:
                return True
            continue
        if not name.startswith(_NEVER_BLOCKING):
            return True
    return False


@dataclass(eq=False)
class Generation:
    """Everything instances are built from; replaced as a whole, never edited."""

    loaded: LoadedComponent
    grants: Grants
    config: Mapping[str, str]
    secret_lookup: SecretLookup | None
    number: int = field(default_factory=lambda: next(_generation_numbers))
    live: int = 0  # instances of this generation not yet retired
    #: Whether its instances' calls go through a sandbox thread (:func:`blocks_in_host`).
    blocking: bool = field(init=False)

    def __post_init__(self) -> None:
        self.blocking = blocks_in_host(self.loaded.info.imports, self.grants)


@dataclass
class _Exports:
    """What every instance of one compiled component looks up the same way, found once:
    the plugin-api functions' export indices and the shapes their types were checked as."""

    indices: dict[str, ExportIndex]
    shapes: dict[str, Any] | None = None  # filled by the first instance's bind


#: Per compiled component (dropped with it): a new instance does no repeated lookups.
_EXPORTS: weakref.WeakKeyDictionary[Component, _Exports] = weakref.WeakKeyDictionary()
_EXPORTS_LOCK = threading.Lock()


def _exports_of(loaded: LoadedComponent) -> _Exports:
    component = loaded.component
    found = _EXPORTS.get(component)
    if found is not None:
        return found
    info = loaded.info
    api = component.get_export_index(info.plugin_api_export)
    indices: dict[str, ExportIndex] = {}
    if api is not None:
        for name in info.plugin_api_functions:
            idx = component.get_export_index(name, api)
            if idx is not None:
                indices[name] = idx
    with _EXPORTS_LOCK:
        return _EXPORTS.setdefault(component, _Exports(indices))


class PluginInstance:
    """One Store + component instance. Not thread-safe: the pool hands it to one caller."""

    def __init__(self, runtime: ComponentHost, plugin_id: str, gen: Generation,
                 version: str, *, prefetch: Sequence[str] = (),
                 config_asked: dict[str, bool] | None = None,
                 background: bool = False) -> None:
        """``prefetch``: guest calls to run right after the instantiate, in the same job on
        the sandbox thread (one hand-off at start-up, not one per call): "initialize",
        then "get-metadata". Each keeps its own time and fuel limit; their outcomes are
        answered by the next :meth:`initialize` and :meth:`get_metadata`, errors and
        all, exactly as if those had called the guest then. ``config_asked``: where the
        config keys it asks for are recorded (the pool's, kept across instances); it is in
        place before the prefetched initialize runs. ``background``: nobody waits on
        this start-up but a hot swap's warm-up, so it runs on a thread of its own at
        :data:`WARM_NICE` (the calls then on the instance's sandbox thread, at normal
        priority), leaving the CPU to the callers of the generation serving meanwhile.
        """
        self.gen = gen
        self.plugin_id = plugin_id
        self.broken = False
        self._runtime = runtime
        info = gen.loaded.info
        #: The contract version picked when the component was described: every value
        #: crossing into or out of this instance is converted by it.
        self.contract = info.contract
        grants = gen.grants
        self._ticks = runtime.ticks_for(grants.timeout_s)
        self._timeout = grants.timeout_s
        self.ctx = HostContext(plugin_id, version, runtime.bus, gen.config, gen.secret_lookup)
        if config_asked is not None:
            self.ctx.asked = config_asked
        self.stdout = OutputCapture(runtime.bus, plugin_id, version, "stdout")
        self.stderr = OutputCapture(runtime.bus, plugin_id, version, "stderr")
        if info.needs_network and not grants.network:
            raise E.UnknownImportError(
                f"imports {next(n for n in info.imports if n.startswith('wasi:http/'))}, "
                "which only the network grant provides", import_name="wasi:http",
                plugin_id=plugin_id, hint="grant it with --grant network")
        self._thread = (SandboxThread(f"wasmbay-{plugin_id}", self.ctx)
                        if gen.blocking else None)
        self._warm_thread = (SandboxThread(f"wasmbay-{plugin_id}-warm", self.ctx,
                                           nice=WARM_NICE)
                             if background and gen.blocking and WARM_NICE else None)
        #: The thread running the start-up job (its steps' time limits are stamped there).
        self._starter = self._warm_thread or self._thread
        #: Whether the instantiate (and bind) run on the caller's thread even though calls
        #: go through a sandbox thread: it runs no guest code, so it cannot wait inside
        #: WASI, and two thread wake-ups are saved (only a prefetch is handed off).
        self._instantiate_here = (self._thread is not None and self._warm_thread is None
                                  and not info.runs_at_instantiate)
        #: How long a caller waits for a call on the sandbox thread before giving up on it.
        self._wait_s = self._timeout + BLOCKED_GRACE_S + 2 * TICK_S
        #: Outcomes of the prefetched calls, (ok, value or error), until asked for.
        self._prefetched: dict[str, tuple[bool, Any]] = {}
        self._step = "instantiate"
        self.funcs: dict[str, Func] = {}
        self._memory_sizes: list[int] | None = None
        self._fuel = grants.fuel
        loaded = gen.loaded
        try:
            if self._fuel is not None and not loaded.metered:  # core.pool compiles it so
                raise E.PluginLoadError(
                    "its code has no fuel metering, so its fuel limit could not hold",
                    plugin_id=plugin_id, hint="reload the plugin")
            if self._starter is not None and (prefetch or not self._instantiate_here):
                self._starter.start()  # a new thread boots while the Store is set up
            # A Store and linker of the engine that compiled this code (core.tiering).
            self.store = Store(runtime.engine_for(loaded.tier, loaded.metered))
            self.store.set_wasi(build_wasi(grants, self.stdout, self.stderr))
            if grants.network:
                self.store.set_wasi_http()
            # wasmtime's own limiter: memory.grow past it returns -1 (core.traps says how a
            # trap is then known to be the limit) and copy-on-write memory images stay on.
            self.store.set_limits(memory_size=grants.memory_bytes)
            if loaded.metered:
                self.store.set_fuel(self._fuel or UNLIMITED_FUEL)
            self._start_up(_exports_of(gen.loaded), prefetch)
        except BaseException:
            self.close()
            raise
        if self.typed.mismatched:  # Runtime.describe refuses these first; never serve one
            name = self.typed.mismatched[0]
            got = typedcall.func_shape(self.funcs[name], self.store)
            self.close()
            raise signature_error(name, got, info.contract, plugin_id)

    def _start_up(self, exports: _Exports, prefetch: Sequence[str]) -> None:
        """Instantiate, bind and run the prefetched calls as one job (see ``__init__``); an
        instantiate that runs no guest code is done here, and only the calls handed off."""
        self._begin("instantiate")
        runner = self._starter
        try:
            if runner is None:
                self._here(lambda: self._start_job(exports, prefetch))
            elif self._instantiate_here:
                self._here(lambda: self._instantiate_and_bind(exports))
                if prefetch and not self.typed.mismatched:
                    runner.call(lambda: self._prefetch(prefetch), self._wait_s)
            else:  # its thread has entered this instance's context
                runner.call(lambda: self._start_job(exports, prefetch), self._wait_s)
        except TimeoutError:  # only a sandbox thread times out; its job has stopped
            self.broken = True
            step = runner.step if runner is not None else self._step
            error = traps.timeout_error(self._site(step), blocked=True)
            if step == "instantiate":
                raise error from None
            self._prefetched[step] = (False, error)  # a prefetched call timed out
        except wasmtime.WasmtimeError as e:  # the instantiate's (each call catches its own)
            self.broken = True
            self.stderr.flush()
            raise traps.call_error(e, self._site("instantiate")) from None
        finally:
            if self._warm_thread is not None:  # its one job is over (or abandoned)
                self._warm_thread.stop()
            self.stdout.flush()
            self.stderr.flush()

    def _here(self, job: Callable[[], None]) -> None:
        """Run ``job`` on this thread, in this instance's host context."""
        enter(self.ctx)
        try:
            job()
        finally:
            enter(None)

    def _start_job(self, exports: _Exports, prefetch: Sequence[str]) -> None:
        self._instantiate_and_bind(exports)
        if not self.typed.mismatched:
            self._prefetch(prefetch)

    def _instantiate_and_bind(self, exports: _Exports) -> None:
        self.instance = self._instantiate()
        get_func, store = self.instance.get_func, self.store
        for name, idx in exports.indices.items():
            func = get_func(store, idx)
            if func is not None:
                self.funcs[name] = func
        #: Callers that convert values with the contract's types known in advance (the
        #: types read from the first instance of this component; the same for every one).
        self.typed = typedcall.bind(store, self.funcs, self.contract, shapes=exports.shapes)
        if exports.shapes is None:
            exports.shapes = self.typed.shapes

    def _prefetch(self, prefetch: Sequence[str]) -> None:
        for what in prefetch:
            fn: Callable[[], Any] | None
            if what == "initialize":
                typed_init = self.typed.initialize
                config = sorted(self.gen.config.items())
                fn = None if typed_init is None else functools.partial(typed_init, config)
            elif what == "get-metadata":
                fn = self.typed.get_metadata
            else:
                raise ValueError(f"cannot prefetch {what}")
            if fn is None:
                return  # the generic path: the call itself runs it later
            if not self._begin(what):
                return
            outcome: tuple[bool, Any]
            try:
                outcome = (True, fn())
            except wasmtime.WasmtimeError as e:
                self.broken = True
                self.stderr.flush()
                outcome = (False, traps.call_error(e, self._site(what)))
            except Exception as e:  # a domain error lifting its result: answered later
                outcome = (False, e)
            if not self._record(what, outcome) or not outcome[0]:
                return
            if what == "initialize" and outcome[1] is not None:
                return  # initialize failed: nothing runs after it

    def _begin(self, what: str) -> bool:
        """A guest call starts: its own time and fuel limits from now (False: the caller
        stopped waiting for this start-up, so nothing more runs)."""
        thread = self._starter
        if thread is not None and not thread.begin_step(what):
            return False
        self._step = what
        store = self.store
        store.set_epoch_deadline(self._ticks)
        if self._fuel is not None:
            store.set_fuel(self._fuel)
        self._stderr_mark = self.stderr.lines  # a trap keeps what this call wrote
        return True

    def _record(self, what: str, outcome: tuple[bool, Any]) -> bool:
        """Keep a prefetched call's outcome, unless the caller gave up on the start-up."""
        thread = self._starter
        if thread is None:
            self._prefetched[what] = outcome
            return True
        with thread.steps:
            if thread.abandoned:
                return False
            self._prefetched[what] = outcome
            return True

    def _answer(self, what: str) -> tuple[bool, Any] | None:
        """A prefetched call's outcome (once), or None if it was not prefetched."""
        return self._prefetched.pop(what, None) if self._prefetched else None

    @property
    def major(self) -> int:
        return self.contract.major

    def _instantiate(self) -> Any:
        loaded = self.gen.loaded
        linker = self._runtime.linker(self.gen.grants.network, loaded.tier, loaded.metered)
        try:
            return linker.instantiate(self.store, self.gen.loaded.component)
        except wasmtime.WasmtimeError as e:
            error = traps.instantiate_error(e, self._site("instantiate"))
            if error is None:
                raise
            raise error from (e if isinstance(error, E.UnknownImportError) else None)

    # --- calling ------------------------------------------------------------------------

    def _run(self, fn: Callable[[], T], what: str) -> T:
        """Run ``fn`` against this Store within the time limit; map traps to domain errors."""
        if self._prefetched:  # a call came between: no prefetched answer is due any more
            self._prefetched.clear()
        store = self.store
        store.set_epoch_deadline(self._ticks)
        if self._fuel is not None:
            store.set_fuel(self._fuel)
        self._stderr_mark = self.stderr.lines  # a trap keeps what this call wrote
        try:
            if self._thread is not None:  # its thread has entered this instance's context
                return self._thread.call(fn, self._wait_s)
            enter(self.ctx)
            try:
                return fn()
            finally:
                enter(None)
        except TimeoutError:
            self.broken = True
            raise traps.timeout_error(self._site(what), blocked=True) from None
        except wasmtime.WasmtimeError as e:
            self.broken = True
            self.stderr.flush()
            raise traps.call_error(e, self._site(what)) from None
        finally:
            self.stdout.flush()
            self.stderr.flush()

    def call(self, name: str, *args: Any) -> Any:
        func = self.funcs.get(name)
        if func is None:
            raise E.MissingExportError(f"does not export {name}", plugin_id=self.plugin_id,
                                       hint="rebuild it against the full contract")
        store = self.store
        return self._run(lambda: func(store, *args), name)

    def _site(self, what: str) -> traps.CallSite:
        """The failing call as core.traps sees it: its limits and the guest's stderr."""
        written = self.stderr.lines - self._stderr_mark
        return traps.CallSite(
            self.plugin_id, what, self.gen.grants, memory_sizes=self._measure_memories,
            recent_stderr=tuple(self.stderr.recent[-10:]),
            call_stderr=tuple(self.stderr.recent[-written:]) if written > 0 else ())

    def _measure_memories(self) -> list[int] | None:
        """The trapped Store's memory sizes, read while closing it (core.memory).

        Only for a trap (the Store is poisoned, the instance broken, no call in flight):
        nothing touches the Store afterwards.
        """
        if self._memory_sizes is None:
            self._memory_sizes = memory.sizes_released_by(self.store.close)
        return self._memory_sizes

    # --- the contract, in plain Python values -------------------------------------------

    def initialize(self) -> None:
        config = sorted(self.gen.config.items())
        typed = self.typed.initialize
        pre = self._answer("initialize")
        if pre is not None:
            if not pre[0]:
                raise pre[1]
            err: Any = pre[1]
        elif typed is not None:
            err = self._run(lambda: typed(config), "initialize")
        else:
            err = self._generic("initialize", lambda: self.call("initialize", config))
        if err is not None:
            text = self._failure_text(err)
            key = self.ctx.missing_config(text)  # asked for in this or an earlier start
            fix = E.Fix(E.CONFIGURE, key) if key is not None else None
            error = E.InitializeError(
                f"initialize failed: {text}", plugin_id=self.plugin_id,
                hint=fix.cli_hint if fix else "fix its configuration (wasmbay config) and reload")
            error.fix = fix
            raise error

    def process(self, text: str, options: Sequence[tuple[str, str]],
                request_id: str | None) -> ProcessResult:
        typed = self.typed.process
        if typed is not None:
            result = self._run(lambda: typed(text, options, request_id), "process")
        else:
            result = self._generic("process",
                                   lambda: self._process_generic(text, options, request_id))
        if result.error is not None:
            result.error = bound(result.error, LIMITS.failure_text)
        return result

    def get_metadata(self) -> PluginMetadata:
        """The plugin's metadata, refused (BadMetadataError) if a string breaks LIMITS."""
        typed = self.typed.get_metadata
        pre = self._answer("get-metadata")
        if pre is not None:
            if not pre[0]:
                raise pre[1]
            md = pre[1]
        elif typed is not None:
            md = self._run(typed, "get-metadata")
        else:
            md = self._generic("get-metadata", self._get_metadata_generic)
        return check_metadata(md, self.plugin_id)

    def health(self) -> HealthReport:
        if not self.contract.has_health:  # no probe (v1): get-metadata proves it answers
            self.get_metadata()
            return HealthReport("ok", f"v{self.major} plugin answered get-metadata")
        typed = self.typed.health
        if typed is not None:
            report = self._run(typed, "health")
        else:
            report = self._generic("health", self._health_generic)
        if report.detail is not None and len(report.detail) > LIMITS.failure_text:
            report = HealthReport(report.status, bound(report.detail, LIMITS.failure_text))
        return report

    def shutdown(self) -> str | None:
        typed = self.typed.shutdown
        if typed is not None:
            err = self._run(typed, "shutdown")
            return None if err is None else bound(err, LIMITS.failure_text)
        err = self._generic("shutdown", lambda: self.call("shutdown"))
        return None if err is None else self._failure_text(err)

    # --- the generic path: wasmtime-py's Func.__call__ and its Record/Variant values --------

    def _generic(self, what: str, fn: Callable[[], T]) -> T:
        """Run a generic-path call; a value outside the contract becomes a domain error."""
        try:
            return fn()
        except (AttributeError, TypeError, ValueError, AssertionError, NotImplementedError) as e:
            raise E.PluginTrapError(
                f"{what} has a type that does not match {self.contract.label} "
                f"({type(e).__name__}: {e})", plugin_id=self.plugin_id,
                hint=f"rebuild the plugin against {self.contract.wit_hint}") from None

    def _process_generic(self, text: str, options: Sequence[tuple[str, str]],
                         request_id: str | None) -> ProcessResult:
        contract = self.contract
        res = self.call("process", contract.process_request(text, options, request_id))
        return contract.decode_process_result(res)

    def _get_metadata_generic(self) -> PluginMetadata:
        return self.contract.decode_metadata(self.call("get-metadata"))

    def _health_generic(self) -> HealthReport:
        decode = self.contract.decode_health
        if decode is None:
            raise E.MissingExportError(f"{self.contract.label} has no health function",
                                       plugin_id=self.plugin_id, hint="use get-metadata")
        return decode(self.call("health"))

    def _failure_text(self, err: Any) -> str:
        """A plugin's failure text, cut to LIMITS.failure_text (it ends up in messages)."""
        return bound(self.contract.decode_error(err), LIMITS.failure_text)

    def close(self) -> None:
        for thread in (self._warm_thread, self._thread):  # stopping twice is harmless
            if thread is not None:
                thread.stop()
