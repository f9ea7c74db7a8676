"""A loaded plugin: a pool of sandboxed instances, metrics, and recovery.

Each :class:`PluginInstance` is one wasmtime Store plus component instance; a Store is
single-threaded, so it serves one call at a time, and a plugin keeps up to
``max_instances`` of them for callers on several threads. After any trap or timeout the
Store is poisoned: it is thrown away and a fresh instance (``initialize`` run again)
serves the next call. A change of grants, configuration or component builds a new
*generation*: its first instance must load and initialize before it is swapped in, calls
in flight finish on the old instances, which are then retired.
"""

from __future__ import annotations

import _thread
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import wasmtime
from wasmtime import Store
from wasmtime.component import Func, Record

from . import backtrace, typedcall
from . import errors as E
from .contract import CapabilityRequest, HealthReport, PluginMetadata, ProcessResult
from .events import LogLevel, LogRecord
from .grants import Grants, format_duration, format_size
from .hostapi import HostContext, SecretLookup, enter
from .metrics import Metrics
from .runtime import (
    MAX_ERROR_TEXT,
    TICK_S,
    LoadedComponent,
    Runtime,
    _first_line,
    error_chain,
    signature_error,
)
from .sandbox import OutputCapture, build_wasi
from .untrusted import LIMITS, bound, check_metadata

_log = logging.getLogger(__name__)
T = TypeVar("T")

#: The fuel a Store gets when the user set no fuel limit (fuel metering is always on in
#: the engine, so the compiled code is the same with or without a limit).
UNLIMITED_FUEL = 1 << 62
#: Extra wait beyond the time limit before a caller stops waiting for a guest that is
#: blocked inside a host (WASI) call, where the epoch deadline cannot reach it.
BLOCKED_GRACE_S = 0.1

_generation_numbers = itertools.count(1)


@dataclass(eq=False)
class Generation:
    """Everything instances are built from; replaced as a whole, never edited."""

    loaded: LoadedComponent
    grants: Grants
    config: Mapping[str, str]
    secret_lookup: SecretLookup | None
    number: int = field(default_factory=lambda: next(_generation_numbers))
    live: int = 0  # instances of this generation not yet retired


class _SandboxThread:
    """Runs one instance's calls, so a guest blocked in a WASI call cannot hold the caller."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], list[Any], Any] | None] = (
            queue.SimpleQueue())
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, box, done = job
            try:
                box.append((True, fn()))
            except BaseException as e:
                box.append((False, e))
            done.release()

    def call(self, fn: Callable[[], T], timeout: float) -> T:
        done = _thread.allocate_lock()
        done.acquire()
        box: list[tuple[bool, Any]] = []
        self._jobs.put((fn, box, done))
        if not done.acquire(timeout=timeout):
            raise TimeoutError
        ok, value = box[0]
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    def stop(self) -> None:
        """Let the thread end after its current job (which may still be blocked)."""
        self._jobs.put(None)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


class PluginInstance:
    """One Store + component instance. Not thread-safe: the pool hands it to one caller."""

    def __init__(self, runtime: Runtime, plugin_id: str, gen: Generation, version: str) -> None:
        self.gen = gen
        self.plugin_id = plugin_id
        self.broken = False
        self._runtime = runtime
        info = gen.loaded.info
        self.major = info.contract.major
        grants = gen.grants
        self._ticks = runtime.ticks_for(grants.timeout_s)
        self._timeout = grants.timeout_s
        self.ctx = HostContext(plugin_id, version, runtime.bus, gen.config, gen.secret_lookup,
                               memory_limit=grants.memory_bytes)
        self.stdout = OutputCapture(runtime.bus, plugin_id, version, "stdout")
        self.stderr = OutputCapture(runtime.bus, plugin_id, version, "stderr")
        if info.needs_network and not grants.network:
            raise E.UnknownImportError(
                f"imports {next(n for n in info.imports if n.startswith('wasi:http/'))}, "
                "which only the network grant provides", import_name="wasi:http",
                plugin_id=plugin_id, hint="grant it with --grant network")
        self.store = Store(runtime.engine)
        self.store.set_wasi(build_wasi(grants, self.stdout, self.stderr))
        if grants.network:
            self.store.set_wasi_http()
        # The memory limit is enforced by core.memory, which also tells us when it was hit.
        self._fuel = grants.fuel
        self.store.set_fuel(self._fuel or UNLIMITED_FUEL)
        self._thread = (_SandboxThread(f"wasmbay-{plugin_id}")
                        if info.may_block else None)
        try:
            self.instance = self._run(self._instantiate, "instantiate")
        except BaseException:
            self.close()
            raise
        api = self.instance.get_export_index(self.store, info.plugin_api_export)
        self.funcs: dict[str, Func] = {}
        for name in info.plugin_api_functions:
            idx = self.instance.get_export_index(self.store, name, api)
            func = self.instance.get_func(self.store, idx) if idx is not None else None
            if func is not None:
                self.funcs[name] = func
        #: Callers that convert values with the contract's types known in advance.
        self.typed = typedcall.bind(self.store, self.funcs, self.major)
        if self.typed.mismatched:  # Runtime.describe refuses these first; never serve one
            name = self.typed.mismatched[0]
            got = typedcall.func_shape(self.funcs[name], self.store)
            self.close()
            raise signature_error(name, got, info.contract, plugin_id)

    def _instantiate(self) -> Any:
        linker = self._runtime.linker(self.gen.grants.network)
        try:
            return linker.instantiate(self.store, self.gen.loaded.component)
        except wasmtime.WasmtimeError as e:
            text = str(e)
            if "unknown import" in text or "matching implementation was not found" in text:
                name = text.split("`")[1] if "`" in text else "an import"
                mismatch = any(w in text for w in ("wrong type", "type mismatch", "expected"))
                # wasmtime's causes say which function and what mismatched: keep them
                causes = ": ".join(error_chain(e)[1:])[:MAX_ERROR_TEXT]
                raise E.UnknownImportError(
                    f"imports {name}" + (" with a signature that does not match this host's"
                                         if mismatch else ", which this host does not provide")
                    + (f" ({causes})" if causes else ""),
                    import_name=name, plugin_id=self.plugin_id,
                    hint="rebuild it against WASI 0.2 and wit/v1 or wit/v2") from e
            if self.ctx.memory_refused or "exceeds the memory limit" in text:
                raise E.MemoryLimitError(
                    f"needs more memory at start than its limit of "
                    f"{format_size(self.gen.grants.memory_bytes)}", plugin_id=self.plugin_id,
                    hint="grant more with --grant memory=512MiB") from None
            raise

    # --- calling ------------------------------------------------------------------------

    def _run(self, fn: Callable[[], T], what: str) -> T:
        """Run ``fn`` against this Store within the time limit; map traps to domain errors."""
        store = self.store
        self.ctx.memory_refused = 0
        store.set_epoch_deadline(self._ticks)
        if self._fuel is not None:
            store.set_fuel(self._fuel)
        ctx = self.ctx
        self._stderr_mark = self.stderr.lines  # a trap keeps what this call wrote

        def guarded() -> T:
            enter(ctx)
            try:
                return fn()
            finally:
                enter(None)

        try:
            if self._thread is None:
                return guarded()
            return self._thread.call(guarded, self._timeout + BLOCKED_GRACE_S + 2 * TICK_S)
        except TimeoutError:
            self.broken = True
            raise self._timeout_error(what, blocked=True) from None
        except wasmtime.WasmtimeError as e:
            self.broken = True
            raise self._classify(e, what) from None
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

    def _timeout_error(self, what: str, *, blocked: bool) -> E.PluginTimeoutError:
        where = " (blocked inside a host call)" if blocked else ""
        return E.PluginTimeoutError(
            f"{what} did not finish within its time limit of "
            f"{format_duration(self.gen.grants.timeout_s)}{where}",
            plugin_id=self.plugin_id,
            hint="raise it with --grant timeout=60s, or look for an endless loop in the plugin")

    def _classify(self, e: wasmtime.WasmtimeError, what: str) -> E.PluginCallError:
        """The domain error, with where it happened: wasm frames and the guest's stderr."""
        self.stderr.flush()
        written = self.stderr.lines - self._stderr_mark
        trace = backtrace.parse(str(e), self.stderr.recent[-written:] if written > 0 else [])
        error = self._classify_kind(e, what)
        if trace.frames and not isinstance(error, E.HostFunctionError):
            error = type(error)(f"{error.message} in {trace.where}", plugin_id=error.plugin_id,
                                hint=error.hint)
        error.trace = trace or None
        return error

    def _classify_kind(self, e: wasmtime.WasmtimeError, what: str) -> E.PluginCallError:
        text = str(e)
        lower = text.lower()
        trap = next((ln.strip() for ln in text.splitlines() if "wasm trap" in ln),
                    _first_line(e))
        recent = "\n".join(self.stderr.recent[-10:])
        pid = self.plugin_id
        if "interrupt" in lower:
            return self._timeout_error(what, blocked=False)
        if "all fuel consumed" in lower:
            return E.FuelExhaustedError(
                f"{what} used up its fuel budget of {self.gen.grants.fuel}", plugin_id=pid,
                hint="raise it with --grant fuel=N, or look for an endless loop")
        if "call stack exhausted" in lower or "stack overflow" in lower:
            return E.StackOverflowError(
                f"{what} overflowed its stack (wasm trap: call stack exhausted)", plugin_id=pid,
                hint="the plugin recursed too deeply; fix the recursion in the plugin")
        if "out of bounds memory access" in lower:
            return E.OutOfBoundsError(
                f"{what} accessed memory out of bounds (wasm trap: out of bounds memory access)",
                plugin_id=pid, hint="a bug in the plugin; report it to its author")
        if (self.ctx.memory_refused or "MemoryError" in recent or "memory allocation of" in recent
                or "out of memory" in recent.lower() or "memory limit" in lower):
            return E.MemoryLimitError(
                f"{what} ran out of memory at its limit of "
                f"{format_size(self.gen.grants.memory_bytes)}", plugin_id=pid,
                hint="grant more with --grant memory=512MiB, or give it smaller input")
        if "python exception" in lower:
            return E.HostFunctionError(f"a host function failed during {what}", plugin_id=pid,
                                       hint="this is a Wasmbay bug; please report it")
        return E.PluginTrapError(f"{what} trapped ({trap})", plugin_id=pid,
                                 hint="a bug in the plugin; its instance was replaced")

    # --- the contract, in plain Python values -------------------------------------------

    def initialize(self) -> None:
        config = sorted(self.gen.config.items())
        typed = self.typed.initialize
        if typed is not None:
            err: Any = self._run(lambda: typed(config), "initialize")
        else:
            err = self._generic("initialize", lambda: self.call("initialize", config))
        if err is not None:
            raise E.InitializeError(f"initialize failed: {_failure_text(err)}",
                                    plugin_id=self.plugin_id,
                                    hint="fix its configuration (wasmbay config) and reload")

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
        if typed is not None:
            md = self._run(typed, "get-metadata")
        else:
            md = self._generic("get-metadata", self._get_metadata_generic)
        return check_metadata(md, self.plugin_id)

    def health(self) -> HealthReport:
        if self.major == 1:  # v1 has no probe: a metadata call proves the instance answers
            self.get_metadata()
            return HealthReport("ok", "v1 plugin answered get-metadata")
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
        return None if err is None else _failure_text(err)

    # --- the generic path: wasmtime-py's Func.__call__ and its Record/Variant values --------

    def _generic(self, what: str, fn: Callable[[], T]) -> T:
        """Run a generic-path call; a value outside the contract becomes a domain error."""
        try:
            return fn()
        except (AttributeError, TypeError, ValueError, AssertionError, NotImplementedError) as e:
            raise E.PluginTrapError(
                f"{what} has a type that does not match {self.gen.loaded.info.contract.label} "
                f"({type(e).__name__}: {e})", plugin_id=self.plugin_id,
                hint="rebuild the plugin against wit/v1 or wit/v2") from None

    def _process_generic(self, text: str, options: Sequence[tuple[str, str]],
                         request_id: str | None) -> ProcessResult:
        req = Record()
        setattr(req, "input", text)  # noqa: B010 - WIT field names are attributes
        setattr(req, "options", list(options))  # noqa: B010
        if self.major >= 2:
            setattr(req, "request-id", request_id)
        res = self.call("process", req)
        if self.major == 1:
            return ProcessResult(output=res.output, success=bool(res.success),
                                 error=getattr(res, "error-message"))
        if isinstance(res, Record):
            ok: Any = res
            return ProcessResult(output=ok.output, success=True,
                                 attributes=tuple(tuple(a) for a in ok.attributes))
        return ProcessResult(output="", success=False, error=_error_text(res),
                             error_kind=getattr(res, "tag", None))

    def _get_metadata_generic(self) -> PluginMetadata:
        m = self.call("get-metadata")
        caps: tuple[CapabilityRequest, ...] = ()
        if self.major >= 2:
            caps = tuple(CapabilityRequest(c.capability.tag, c.capability.payload or "", c.reason)
                         for c in m.capabilities)
        return PluginMetadata(m.name, m.version, m.description, caps)

    def _health_generic(self) -> HealthReport:
        h = self.call("health")
        return HealthReport(h.status, h.detail)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.stop()


def _error_text(err: Any) -> str:
    if isinstance(err, str):
        return err
    tag = getattr(err, "tag", None)
    payload = getattr(err, "payload", None)
    return f"{tag}: {payload}" if tag else str(err)


def _failure_text(err: Any) -> str:
    """A plugin's failure text, cut to LIMITS.failure_text (it ends up in messages)."""
    return bound(_error_text(err), LIMITS.failure_text)


class Plugin:
    """A running plugin: routes calls to a pool of instances of the current generation."""

    def __init__(self, runtime: Runtime, plugin_id: str, loaded: LoadedComponent, *,
                 grants: Grants, config: Mapping[str, str],
                 secret_lookup: SecretLookup | None, max_instances: int = 4,
                 label: str = "") -> None:
        self.runtime = runtime
        self.plugin_id = plugin_id
        self.max_instances = max(1, max_instances)
        self.metrics = Metrics()
        self.label = label
        self._cond = threading.Condition()
        self._idle: list[PluginInstance] = []
        self._closed = False
        gen = Generation(loaded, grants, dict(config), secret_lookup)
        first = self._build(gen, version="")
        self.metadata = first.get_metadata()
        first.ctx.version = self.version
        self._gen = gen
        self._idle.append(first)
        self._host_log(LogLevel.INFO, f"loaded {self.describe_version()} "
                                      f"({loaded.info.contract.label})")

    # --- properties ---------------------------------------------------------------------

    @property
    def version(self) -> str:
        return self.label or self.metadata.version

    @property
    def grants(self) -> Grants:
        return self._gen.grants

    @property
    def config(self) -> Mapping[str, str]:
        return self._gen.config

    @property
    def info(self) -> Any:
        return self._gen.loaded.info

    @property
    def wit_version(self) -> int:
        return int(self._gen.loaded.info.contract.major)

    def describe_version(self) -> str:
        return f"{self.metadata.name} {self.version}"

    # --- the pool -----------------------------------------------------------------------

    def _build(self, gen: Generation, version: str | None = None) -> PluginInstance:
        inst = PluginInstance(self.runtime, self.plugin_id, gen,
                              self.version if version is None else version)
        try:
            inst.initialize()
        except E.PluginCallError as e:  # a trap or timeout during initialize
            inst.close()
            failed = E.InitializeError(f"initialize failed: {e.message}",
                                       plugin_id=self.plugin_id, hint=e.hint)
            failed.trace = e.trace
            raise failed from None
        except BaseException:
            inst.close()
            raise
        with self._cond:
            gen.live += 1
        return inst

    def _acquire(self) -> PluginInstance:
        stale: list[PluginInstance] = []
        with self._cond:
            while True:
                if self._closed:
                    raise E.PluginUnavailableError("is closed", plugin_id=self.plugin_id,
                                                   hint="load it again")
                gen = self._gen
                while self._idle:
                    inst = self._idle.pop()
                    if inst.gen is gen:
                        self._retire_all(stale)
                        return inst
                    stale.append(inst)
                if gen.live < self.max_instances:
                    gen.live += 1  # reserve the slot while building outside the lock
                    break
                self._cond.wait()
        self._retire_all(stale)
        try:
            inst = self._build(gen)
        except BaseException:
            with self._cond:
                gen.live -= 1
                self._cond.notify()
            raise
        with self._cond:
            gen.live -= 1  # _build counted it again
        return inst

    def _release(self, inst: PluginInstance) -> None:
        with self._cond:
            keep = not inst.broken and inst.gen is self._gen and not self._closed
            if keep:
                self._idle.append(inst)
            else:
                inst.gen.live -= 1
            self._cond.notify()
        if not keep:
            self._retire(inst, shutdown=not inst.broken)

    def _retire(self, inst: PluginInstance, *, shutdown: bool = True) -> None:
        if shutdown:
            try:
                err = inst.shutdown()
                if err:
                    self._host_log(LogLevel.WARN, f"shutdown reported: {err}")
            except E.WasmbayError as e:
                self._host_log(LogLevel.WARN, f"shutdown failed: {e.message}")
        inst.close()

    def _retire_all(self, insts: list[PluginInstance]) -> None:
        for inst in insts:
            with self._cond:
                inst.gen.live -= 1
            self._retire(inst)
        insts.clear()

    def _host_log(self, level: LogLevel, message: str, details: str = "") -> None:
        self.runtime.bus.publish(LogRecord(self.plugin_id, level, message, source="host",
                                           version=self.version if hasattr(self, "metadata")
                                           else "", details=details))

    # --- calls --------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[PluginInstance], T], *, metered: bool = True) -> T:
        inst = self._acquire()
        start = time.perf_counter()
        try:
            result = fn(inst)
        except E.PluginTimeoutError as e:
            self._failed(inst, e, "timeout", start, metered)
            raise
        except E.PluginCallError as e:
            self._failed(inst, e, "trap", start, metered)
            raise
        finally:
            self._release(inst)
        if metered:
            ok = not isinstance(result, ProcessResult) or result.success
            self.metrics.record(time.perf_counter() - start, "ok" if ok else "error")
        return result

    def _failed(self, inst: PluginInstance, e: E.PluginCallError, outcome: str,
                start: float, metered: bool) -> None:
        inst.broken = True
        if metered:
            self.metrics.record(time.perf_counter() - start, outcome)
        self._host_log(LogLevel.ERROR, f"{e.message}; a fresh instance will serve the next call",
                       e.trace.text() if e.trace else "")

    def process(self, text: str, options: Sequence[tuple[str, str]] = (),
                request_id: str | None = None) -> ProcessResult:
        start = time.perf_counter()
        result = self._call("process", lambda i: i.process(text, options, request_id))
        result.served_by = self.version
        result.duration_s = time.perf_counter() - start
        return result

    def health(self) -> HealthReport:
        try:
            return self._call("health", lambda i: i.health(), metered=False)
        except E.WasmbayError as e:
            return HealthReport("failing", e.message)

    # --- changes ------------------------------------------------------------------------

    def reconfigure(self, *, loaded: LoadedComponent | None = None, grants: Grants | None = None,
                    config: Mapping[str, str] | None = None,
                    secret_lookup: SecretLookup | None = None, label: str | None = None) -> None:
        """Swap in a new generation; if it fails to load or initialize, nothing changes."""
        old = self._gen
        gen = Generation(loaded or old.loaded, grants if grants is not None else old.grants,
                         dict(config) if config is not None else old.config,
                         secret_lookup if secret_lookup is not None else old.secret_lookup)
        first = self._build(gen, version=label if label is not None else "")
        try:
            metadata = first.get_metadata() if loaded is not None else self.metadata
        except BaseException:
            with self._cond:
                gen.live -= 1
            self._retire(first, shutdown=False)
            raise
        # Warm as many instances as the old generation had, so callers after the swap
        # never wait for an instantiation (swap latency stays flat under load).
        warm = [first]
        for _ in range(min(old.live, self.max_instances) - 1):
            try:
                warm.append(self._build(gen, version=first.ctx.version))
            except E.WasmbayError:
                break  # the rest are built on demand
        with self._cond:
            self.metadata = metadata
            if label is not None:
                self.label = label
            for inst in warm:
                inst.ctx.version = self.version
            self._gen = gen
            stale, self._idle = self._idle, warm
            self._cond.notify_all()
        self._retire_all(stale)

    def close(self) -> None:
        """Shut every idle instance down; busy ones are shut down when their call ends."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        self._retire_all(idle)
        self._host_log(LogLevel.INFO, "closed")

    def __enter__(self) -> Plugin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
