"""A running plugin: a pool of sandboxed instances, its generations, metrics and recovery.

A plugin keeps up to ``max_instances`` instances (core.instance) for callers on several
threads; each serves one call at a time. After any trap or timeout an instance is
poisoned: it is thrown away and a fresh one (``initialize`` run again) serves the next
call. A change of grants, configuration or component builds a new *generation*: its
first instance must load and initialize before it is swapped in, calls in flight finish
on the old instances, which are then retired.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from . import errors as E
from .component import ComponentHost, LoadedComponent
from .contract import HealthReport, ProcessResult
from .events import LogLevel, LogRecord, caller_logs_failures
from .grants import Grants
from .hostapi import SecretLookup
from .instance import Generation, PluginInstance
from .manager_events import OPTIMIZED, OPTIMIZING
from .metrics import Metrics
from .progress import ProgressReporter
from .tiering import FAST
from .tiering import OPTIMIZING as TIER_OPTIMIZING

T = TypeVar("T")

#: The guest calls a new instance's start-up job runs after the instantiate.
_INITIALIZE = ("initialize",)
_WITH_METADATA = ("initialize", "get-metadata")


class Plugin:
    """A running plugin: routes calls to a pool of instances of the current generation."""

    def __init__(self, runtime: ComponentHost, plugin_id: str, loaded: LoadedComponent, *,
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
        #: Instances a caller handed back after a swap, shut down by :meth:`_retirer`,
        #: so no caller waits on a retirement (a guest ``shutdown`` call, the Store's
        #: teardown); guarded by ``_cond``, as is whether that thread runs.
        self._retiring: list[PluginInstance] = []
        self._retirer_running = False
        #: Held by every generation change (reconfigure, the tier swap), never by calls.
        self._changing = threading.RLock()
        #: The fast component whose optimized compile is queued or running (core.tiering).
        self._optimizing: LoadedComponent | None = None
        #: The config keys its instances asked for, and whether they got a value
        #: (core.hostapi.HostContext.asked), kept across generations.
        self.config_asked: dict[str, bool] = {}
        loaded = runtime.metered_as(loaded, grants.fuel is not None)
        gen = Generation(loaded, grants, dict(config), secret_lookup)
        first = self._build(gen, version="", metadata=True)
        try:
            self.metadata = first.get_metadata()  # prefetched: from the start-up job
        except BaseException:
            first.close()  # its thread may still be blocked: it ends after that call
            raise
        first.ctx.version = self.version
        self._gen = gen
        self._idle.append(first)
        self._host_log(LogLevel.INFO, f"loaded {self.describe_version()} "
                                      f"({loaded.info.contract.label}, {loaded.tier} code)")
        self._tier_up_later(loaded)

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

    @property
    def tier(self) -> str:
        """The code serving calls: "fast", "optimized", or "optimizing" (fast, for now)."""
        loaded = self._gen.loaded
        if loaded.tier == FAST and self._optimizing is loaded:
            return TIER_OPTIMIZING
        return loaded.tier

    def describe_version(self) -> str:
        return f"{self.metadata.name} {self.version}"

    # --- the pool -----------------------------------------------------------------------

    def _build(self, gen: Generation, version: str | None = None, *,
               metadata: bool = False, background: bool = False) -> PluginInstance:
        """A new instance, initialized; ``metadata``: its get-metadata is answered next;
        ``background``: a swap's warm-up, which no caller waits on (core.instance).

        Initialize (and get-metadata) run as one job on the instance's sandbox thread,
        with the instantiate when that runs guest code, each within its own limits
        (core.instance, ``prefetch``).
        """
        inst = PluginInstance(self.runtime, self.plugin_id, gen,
                              self.version if version is None else version,
                              prefetch=_WITH_METADATA if metadata else _INITIALIZE,
                              config_asked=self.config_asked, background=background)
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
                        self._retire_later(stale)
                        return inst
                    stale.append(inst)
                if gen.live < self.max_instances:
                    gen.live += 1  # reserve the slot while building outside the lock
                    break
                self._cond.wait()
        self._retire_later(stale)
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
            if inst.broken:
                inst.close()  # no guest call: cheap, and its thread may still be blocked
            else:
                self._retire_later([inst], counted=False)

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

    def _retire_later(self, insts: list[PluginInstance], *, counted: bool = True) -> None:
        """Retire ``insts`` on the retirer thread, not the caller's (``counted``: they
        still count in their generation's ``live``)."""
        if not insts:
            return
        with self._cond:
            for inst in insts:
                if counted:
                    inst.gen.live -= 1
                self._retiring.append(inst)
            start = not self._retirer_running
            self._retirer_running = True
        insts.clear()
        if start:
            threading.Thread(target=self._retirer, name=f"wasmbay-retire-{self.plugin_id}",
                             daemon=True).start()

    def _retirer(self) -> None:
        """Shut the handed-back instances down, one at a time, then end."""
        while True:
            with self._cond:
                if not self._retiring:
                    self._retirer_running = False
                    self._cond.notify_all()  # close() waits for the last retirement
                    return
                inst = self._retiring.pop()
            try:
                self._retire(inst)
            except BaseException:  # a retirement never ends the thread
                inst.close()

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
        if caller_logs_failures.get():  # core.calls logs this request's failure: one line
            return
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
        """Swap in a new generation; if it fails to load or initialize, nothing changes.

        Its code follows its grants: a fuel limit given or taken away compiles the
        component again, with fuel metering or without (Runtime.metered_as).
        """
        with self._changing:
            old = self._gen
            metered = (grants if grants is not None else old.grants).fuel is not None
            code = self.runtime.metered_as(loaded or old.loaded, metered)
            if code is not (loaded or old.loaded):
                loaded = code
            self._reconfigure(loaded=loaded, grants=grants, config=config,
                              secret_lookup=secret_lookup, label=label)
        if loaded is not None:
            self._tier_up_later(loaded)

    def _reconfigure(self, *, loaded: LoadedComponent | None, grants: Grants | None,
                     config: Mapping[str, str] | None, secret_lookup: SecretLookup | None,
                     label: str | None) -> None:
        old = self._gen
        gen = Generation(loaded or old.loaded, grants if grants is not None else old.grants,
                         dict(config) if config is not None else old.config,
                         secret_lookup if secret_lookup is not None else old.secret_lookup)
        first = self._build(gen, version=label if label is not None else "",
                            metadata=loaded is not None, background=True)
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
                warm.append(self._build(gen, version=first.ctx.version, background=True))
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

    # --- tiers --------------------------------------------------------------------------

    def _tier_up_later(self, loaded: LoadedComponent) -> None:
        """Fast code serves now; ask for optimized code, swapped in when it is ready."""
        if loaded.tier != FAST:
            return
        progress = ProgressReporter(self.runtime.bus, self.plugin_id, "optimize")
        self._optimizing = loaded
        if not self.runtime.optimize_later(
                loaded, lambda opt, err: self._tier_up(loaded, opt, err, progress)):
            self._optimizing = None
            return
        progress(OPTIMIZING, None)

    def _tier_up(self, fast: LoadedComponent, optimized: LoadedComponent | None,
                 error: E.WasmbayError | None, progress: ProgressReporter) -> None:
        """Serve ``optimized`` in place of ``fast`` (new instances use it, old ones drain).

        Skipped when the plugin closed or moved on to another component meanwhile; the
        grants, configuration and label of the generation serving now are kept.
        """
        with self._changing:
            if self._optimizing is fast:
                self._optimizing = None
            if self._closed or self._gen.loaded is not fast:
                return
            if optimized is None:
                self._host_log(LogLevel.WARN, f"{error.message if error else 'no code'}; "
                                              "keeps serving fast code")
                return
            try:
                self._reconfigure(loaded=optimized, grants=None, config=None,
                                  secret_lookup=None, label=None)
            except E.WasmbayError as e:
                self._host_log(LogLevel.WARN, f"optimized code did not start ({e.message}); "
                                              "keeps serving fast code")
                return
        progress(OPTIMIZED, 1.0)
        self._host_log(LogLevel.INFO, "now serving optimized code")

    def close(self) -> None:
        """Shut every idle instance down; busy ones are shut down when their call ends."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        self._retire_all(idle)
        with self._cond:  # the instances handed back after a swap are shut down too
            self._cond.wait_for(lambda: not self._retirer_running)
        self._host_log(LogLevel.INFO, "closed")

    def __enter__(self) -> Plugin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
