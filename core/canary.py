"""A plugin's canary: a second version beside the stable one, taking a share of calls.

Start it (the installing part stores its version first), change its share, promote it
to stable, or roll it back (by hand, or automatically when its failure rate over a
window of calls passes the threshold). Without a canary, rollback returns to the
previous stable version. Each change holds the plugin's lock (core.versions).
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

from . import errors as E
from .component import LoadedComponent
from .events import LogLevel
from .library import PluginRecord
from .manager_events import (
    CanaryPercentChanged,
    CanaryPromoted,
    CanaryRolledBack,
    CanaryStarted,
    Notifier,
)
from .records import Records
from .rollout import AutoRollback
from .running import RunningPlugin
from .versions import Versions


class Canary:
    def __init__(self, records: Records, versions: Versions, notify: Notifier) -> None:
        self.records = records
        self.versions = versions
        self._notify = notify

    def start(self, rec: PluginRecord, version: str, percent: int,
              ready: LoadedComponent | None = None) -> str:
        """Serve ``percent`` of calls from ``version`` (stored already) beside the stable one."""
        pid = rec.plugin_id
        if version == rec.stable:
            raise E.UsageError(f"version {version} is already the stable version",
                               plugin_id=pid, hint="pick a different build")
        rec = replace(rec, canary=version, canary_percent=percent)
        with self.versions.changing(pid):
            run = self.versions.ensure_running(pid)
            canary = self.versions.start(rec, version, ready)  # loads before any change
            self.records.save(rec)
            old = run.set_canary(canary)
            run.router.set_percent(percent)
            if old is not None:
                old.close()
        self._notify.emit(CanaryStarted(pid, version, percent))
        self._notify.host_log(pid, LogLevel.INFO, f"canary {version} started at {percent}%")
        return version

    def set_percent(self, plugin_id: str, percent: int) -> None:
        with self.versions.changing(plugin_id):
            rec = self.records.require(plugin_id)
            if rec.canary is None:
                raise E.UsageError("has no canary", plugin_id=plugin_id,
                                   hint="start one with `wasmbay canary ID PATH --percent N`")
            percent = max(0, min(100, percent))
            self.records.save(replace(rec, canary_percent=percent))
            run = self.versions.running.get(plugin_id)
            if run is not None:
                run.router.set_percent(percent)
        self._notify.emit(CanaryPercentChanged(plugin_id, rec.canary, percent))

    def promote(self, plugin_id: str) -> str:
        with self.versions.changing(plugin_id):
            rec = self.records.require(plugin_id)
            if rec.canary is None:
                raise E.UsageError("has no canary to promote", plugin_id=plugin_id,
                                   hint="start one with `wasmbay canary ID PATH --percent N`")
            new = replace(rec, stable=rec.canary, previous_stable=rec.stable, canary=None,
                          canary_percent=0)
            self.records.save(new)
            run = self.versions.running.get(plugin_id)
            old = run.promote() if run is not None else None
            if old is not None:
                old.close()  # its calls in flight finish first
        self._notify.emit(CanaryPromoted(plugin_id, new.stable, rec.stable))
        self._notify.host_log(plugin_id, LogLevel.INFO,
                              f"promoted {new.stable} (was {rec.stable})")
        return new.stable

    def rollback(self, plugin_id: str, reason: str = "rolled back by the user",
                 automatic: bool = False) -> str:
        """Drop the canary; without one, go back to the previous stable version."""
        with self.versions.changing(plugin_id):
            rec = self.records.require(plugin_id)
            run = self.versions.running.get(plugin_id)
            if rec.canary is not None:
                dropped = rec.canary
                self.records.save(replace(rec, canary=None, canary_percent=0))
                old = run.set_canary(None) if run is not None else None
                if old is not None:
                    old.close()
            elif rec.previous_stable is not None:
                dropped = rec.stable
                self.records.save(replace(rec, stable=rec.previous_stable, previous_stable=None))
                if run is not None and run.stable is not None:
                    self.versions.swap_stable(plugin_id, rec.previous_stable, reason="rollback")
            else:
                raise E.UsageError("has nothing to roll back to", plugin_id=plugin_id,
                                   hint="there is no canary and no previous stable version")
        self._notify.emit(CanaryRolledBack(plugin_id, dropped, reason, automatic))
        self._notify.host_log(plugin_id, LogLevel.WARN if automatic else LogLevel.INFO,
                              f"rolled back {dropped}: {reason}")
        return dropped

    def set_auto_rollback(self, plugin_id: str, max_error_rate: float | None,
                          window: int = 100) -> None:
        auto = None if max_error_rate is None else AutoRollback(max_error_rate, window)
        with self.versions.changing(plugin_id):
            rec = self.records.require(plugin_id)
            self.records.save(replace(rec, auto_rollback=auto.to_dict() if auto else None))
            run = self.versions.running.get(plugin_id)
            if run is not None:
                run.router.set_auto(auto)

    def outcome(self, plugin_id: str, run: RunningPlugin, ok: bool) -> None:
        """Count a canary call; roll the canary back once its failure rate says so."""
        reason = run.router.record_canary(ok)
        if reason is not None:
            with contextlib.suppress(E.UsageError):  # already promoted or rolled back
                self.rollback(plugin_id, reason, automatic=True)
