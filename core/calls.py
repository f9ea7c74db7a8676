"""Calling plugins: route each call to stable or canary, then account for it.

After a call the canary's outcome goes to core.canary (which may roll it back), every
failed request is logged (source "host": the version that served it, the request id and
the reason, bounded), and at most twice a second the plugin's metrics are published and
its share of the host (descriptors, disk: core.resources) is checked.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from . import errors as E
from .canary import Canary
from .contract import HealthReport, ProcessResult
from .events import LogLevel, LogRecord, caller_logs_failures
from .fixes import call_fix
from .manager_events import MetricsUpdated, Notifier
from .records import Records
from .resources import ResourceWatch
from .running import RunningPlugin
from .untrusted import LIMITS, bound
from .versions import Versions

#: The longest request id quoted in a log line (ids come from API clients).
MAX_LOGGED_REQUEST_ID = 200


class Calls:
    METRICS_INTERVAL_S = 0.5

    def __init__(self, records: Records, versions: Versions, canary: Canary,
                 resource_watch: ResourceWatch, notify: Notifier) -> None:
        self.records = records
        self.versions = versions
        self.canary = canary
        self.resource_watch = resource_watch
        self._notify = notify

    def call(self, plugin_id: str, text: str, options: Sequence[tuple[str, str]] = (),
             request_id: str | None = None) -> ProcessResult:
        version = ""
        try:
            for attempt in range(3):
                run = self.versions.running.get(plugin_id)
                plugin, is_canary = run.pick(request_id) if run is not None else (None, False)
                if plugin is None or run is None:  # not started yet, or failed: say why
                    run = self.versions.ensure_running(plugin_id)
                    plugin, is_canary = run.pick(request_id)
                    assert plugin is not None  # ensure_running returns only a serving one
                version = plugin.version
                logging_here = caller_logs_failures.set(True)  # one line per failure: ours
                try:
                    result = plugin.process(text, options, request_id)
                except E.PluginUnavailableError:
                    if attempt == 2:
                        raise
                    continue  # swapped or promoted while we picked it: route again
                except E.PluginCallError:
                    if is_canary:
                        self.canary.outcome(plugin_id, run, version, ok=False)
                    self._after_call(plugin_id, run)
                    raise
                finally:
                    caller_logs_failures.reset(logging_here)
                if not result.success:
                    result.fix = self._fix(plugin_id, result.error or "")
                    self._log_failure(plugin_id, version, request_id, LogLevel.WARN,
                                      "the plugin answered with an error",
                                      result.error or "(no error message)")
                if is_canary:
                    self.canary.outcome(plugin_id, run, version, ok=result.success)
                self._after_call(plugin_id, run)
                return result
            raise AssertionError("unreachable")
        except E.WasmbayError as e:
            if self.records.get(plugin_id) is not None:  # unknown ids get no log file
                replaced = isinstance(e, E.PluginCallError)  # core.pool replaced the instance
                self._log_failure(
                    plugin_id, version, request_id, LogLevel.ERROR, f"failed ({e.kind})",
                    e.message, "; a fresh instance will serve the next call" if replaced else "",
                    e.trace.text() if e.trace else "")
            raise

    def _fix(self, plugin_id: str, error: str) -> E.Fix | None:
        """What would repair a failed answer (core.fixes.call_fix), for front ends."""
        rec = self.records.get(plugin_id)
        if rec is None:
            return None
        return call_fix(rec.grants, rec.versions[rec.stable].requested, error)

    def _log_failure(self, plugin_id: str, version: str, request_id: str | None,
                     level: LogLevel, what: str, reason: str, after: str = "",
                     details: str = "") -> None:
        """One host log line per failed request (escaped when shown, bounded here): the
        request, the version that served it and the reason; ``details`` is the trap's
        backtrace (core.pool leaves the trap of a request to this line)."""
        rid = "without an id" if request_id is None else \
            repr(bound(request_id, MAX_LOGGED_REQUEST_ID))
        served = f" on {version}" if version else ""
        self._notify.bus.publish(LogRecord(
            plugin_id, level, f"request {rid}{served}: {what}: "
            f"{bound(reason, LIMITS.failure_text)}{after}", source="host", version=version,
            details=details))

    def batch(self, requests: Sequence[tuple[str, str]], *, concurrency: int = 4,
              options: Sequence[tuple[str, str]] = ()) -> list[ProcessResult | E.WasmbayError]:
        """Run (plugin id, input) pairs with at most ``concurrency`` in flight, in order."""

        def one(req: tuple[str, str]) -> ProcessResult | E.WasmbayError:
            try:
                return self.call(req[0], req[1], options)
            except E.WasmbayError as e:
                return e

        with ThreadPoolExecutor(max_workers=max(1, concurrency),
                                thread_name_prefix="wasmbay-batch") as pool:
            return list(pool.map(one, requests))

    def health(self) -> dict[str, HealthReport]:
        out: dict[str, HealthReport] = {}
        for pid in self.records.ids():
            rec = self.records.get(pid)
            if rec is None:
                continue  # uninstalled meanwhile
            if not rec.enabled:
                out[pid] = HealthReport("disabled", "disabled by the user")
                continue
            try:
                run = self.versions.ensure_running(pid)
            except E.WasmbayError as e:
                out[pid] = HealthReport("failing", str(e))
                continue
            stable, canary = run.stable, run.canary
            assert stable is not None
            out[pid] = stable.health()
            if canary is not None:
                out[f"{pid}@{canary.version}"] = canary.health()
        return out

    def _after_call(self, plugin_id: str, run: RunningPlugin) -> None:
        if run.metrics_due(self.METRICS_INTERVAL_S):
            self._notify.emit(MetricsUpdated(plugin_id, run.metrics()))
            self._check_resources(plugin_id, run)

    def _check_resources(self, plugin_id: str, run: RunningPlugin) -> None:
        """After calls: a plugin over its descriptor budget gets fresh instances (its open
        files are released; its in-memory state is lost, as after a grant change); a
        plugin over its disk quota is warned about (writes cannot be stopped)."""
        rec = self.records.get(plugin_id)
        if rec is None:
            return
        for finding in self.resource_watch.check(plugin_id, rec.grants):
            self._notify.host_log(plugin_id, LogLevel.WARN, finding.message)
            if finding.kind != "fd-budget":
                continue
            for p in run.versions():
                try:
                    p.reconfigure()
                except E.WasmbayError as e:
                    self._notify.host_log(plugin_id, LogLevel.ERROR,
                                          f"could not restart {p.version}: {e}")
            gc.collect()  # a retired Store sits in a reference cycle; its files close now
