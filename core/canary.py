"""A plugin's canary: a second version beside the stable one, taking a share of calls.

Start it (the installing part stores its version first), change its share, promote it
to stable, or roll it back (by hand, or automatically once its calls show an error rate
above the threshold: core.rollout.AutoRollback). Without a canary, rollback returns to
the previous stable version. Each change holds the plugin's lock (core.versions).

The canary's evidence (calls and failures since it started) is kept here and in its
record, so a restarted host goes on from where it was: written at most once a second
(never waiting for a change in progress), when it decides, and on close; reset when a
canary starts, is promoted or is rolled back.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import warnings
from dataclasses import dataclass, replace
from typing import Any

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
from .rollout import DEFAULT_CONFIDENCE, DEFAULT_MIN_CALLS, AutoRollback
from .running import RunningPlugin
from .versions import Versions


@dataclass
class _Evidence:
    """One canary version's calls and failures, and when they were last written."""

    version: str
    calls: int = 0
    failures: int = 0
    saved_at: float = -math.inf

    @classmethod
    def restore(cls, rec: PluginRecord, version: str) -> _Evidence:
        kept = rec.canary_evidence
        if kept is not None and kept["version"] == version:
            return cls(version, kept["calls"], kept["failures"])
        return cls(version)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "calls": self.calls, "failures": self.failures}


class Canary:
    #: Evidence is written to the record at most this often (and on decisions and close).
    SAVE_INTERVAL_S = 1.0

    def __init__(self, records: Records, versions: Versions, notify: Notifier) -> None:
        self.records = records
        self.versions = versions
        self._notify = notify
        self._lock = threading.Lock()  # guards _evidence
        self._evidence: dict[str, _Evidence] = {}

    def start(self, rec: PluginRecord, version: str, percent: int,
              ready: LoadedComponent | None = None) -> str:
        """Serve ``percent`` of calls from ``version`` (stored already) beside the stable one."""
        pid = rec.plugin_id
        if version == rec.stable:
            raise E.UsageError(f"version {version} is already the stable version",
                               plugin_id=pid, hint="pick a different build")
        rec = replace(rec, canary=version, canary_percent=percent, canary_evidence=None)
        with self.versions.changing(pid):
            run = self.versions.ensure_running(pid)
            canary = self.versions.start(rec, version, ready)  # loads before any change
            self.records.save(rec)
            self._forget(pid)
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
                          canary_percent=0, canary_evidence=None)
            self.records.save(new)
            self._forget(plugin_id)
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
                self.records.save(replace(rec, canary=None, canary_percent=0,
                                          canary_evidence=None))
                self._forget(plugin_id)
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

    def set_auto_rollback(self, plugin_id: str, max_error_rate: float | None, *,
                          min_calls: int | None = None, confidence: float | None = None,
                          window: int | None = None) -> None:
        """Roll the canary back once ``min_calls`` calls show, at ``confidence``, an error
        rate above ``max_error_rate`` (None: off). ``window`` is the deprecated name of
        ``min_calls`` (the old fixed window was also the calls before any judgement)."""
        if window is not None:
            if min_calls is not None:
                raise E.UsageError("give min_calls or window, not both", plugin_id=plugin_id,
                                   hint="window is the old name of min_calls")
            warnings.warn("set_auto_rollback(window=...) is deprecated: use min_calls",
                          DeprecationWarning, stacklevel=3)
            min_calls = window
        auto = None if max_error_rate is None else _settings(
            plugin_id, max_error_rate, DEFAULT_MIN_CALLS if min_calls is None else min_calls,
            DEFAULT_CONFIDENCE if confidence is None else confidence)
        with self.versions.changing(plugin_id):
            rec = self.records.require(plugin_id)
            self.records.save(replace(rec, auto_rollback=auto.to_dict() if auto else None))
            run = self.versions.running.get(plugin_id)
            if run is not None:
                run.router.set_auto(auto)

    def progress(self, rec: PluginRecord) -> dict[str, Any] | None:
        """The automatic rollback's settings and where the canary stands (None when off):
        calls, failures, error_rate, lower_bound, threshold, min_calls, confidence,
        decision (no canary | gathering | watching | roll back) and a one-line summary."""
        if rec.auto_rollback is None:
            return None
        auto = AutoRollback(**rec.auto_rollback)
        calls = failures = 0
        if rec.canary is not None:
            with self._lock:
                ev = self._evidence.get(rec.plugin_id)
                if ev is None or ev.version != rec.canary:
                    ev = _Evidence.restore(rec, rec.canary)
                calls, failures = ev.calls, ev.failures
        d = {**auto.to_dict(), **auto.assess(calls, failures).to_dict(), "version": rec.canary}
        if rec.canary is None:
            d["decision"], d["summary"] = "no canary", "no canary running"
        return d

    def outcome(self, plugin_id: str, run: RunningPlugin, version: str, ok: bool) -> None:
        """Count a call the canary ``version`` served; roll it back once the evidence says so."""
        rec = self.records.get(plugin_id)
        if rec is None or rec.canary != version:
            return  # answered by a canary promoted or rolled back meanwhile
        auto = run.router.auto
        now = time.monotonic()
        with self._lock:
            ev = self._evidence.get(plugin_id)
            if ev is None or ev.version != version:
                ev = self._evidence[plugin_id] = _Evidence.restore(rec, version)
            ev.calls += 1
            ev.failures += not ok
            verdict = auto.assess(ev.calls, ev.failures) if auto is not None else None
            due = now - ev.saved_at >= self.SAVE_INTERVAL_S
            if due:
                ev.saved_at = now  # one writer per interval
        if verdict is not None and verdict.rolls_back:
            reason = (f"canary failed {verdict.failures} of {verdict.calls} calls: its error "
                      f"rate is above the {verdict.threshold:.0%} threshold (at least "
                      f"{verdict.lower_bound:.0%} at {verdict.confidence:.0%} confidence)")
            self._roll_back_automatically(plugin_id, version, reason)
        elif due:
            self._save(plugin_id, blocking=False)

    def close(self) -> None:
        """Write every canary's evidence (the host is stopping)."""
        with self._lock:
            ids = list(self._evidence)
        for pid in ids:
            self._save(pid, blocking=True)

    # --- evidence -------------------------------------------------------------------------

    def _roll_back_automatically(self, plugin_id: str, version: str, reason: str) -> None:
        with self.versions.changing(plugin_id):
            rec = self.records.get(plugin_id)
            if rec is None or rec.canary != version:
                return  # another call's verdict got there first (rollback drops the canary)
            with contextlib.suppress(E.UsageError):
                self.rollback(plugin_id, reason, automatic=True)

    def _forget(self, plugin_id: str) -> None:
        with self._lock:
            self._evidence.pop(plugin_id, None)

    def _save(self, plugin_id: str, *, blocking: bool) -> None:
        """Write the evidence into the record; from a call, only if no change is under way
        (the next due call tries again)."""
        lock = self.versions.changing(plugin_id)
        if not lock.acquire(blocking=blocking):
            with self._lock:
                ev = self._evidence.get(plugin_id)
                if ev is not None:
                    ev.saved_at = -math.inf
            return
        try:
            rec = self.records.get(plugin_id)
            with self._lock:
                ev = self._evidence.get(plugin_id)
                kept = ev.to_dict() if ev is not None else None
            if rec is None or kept is None or rec.canary != kept["version"] \
                    or rec.canary_evidence == kept:
                return
            try:
                self.records.save(replace(rec, canary_evidence=kept))
            except (OSError, E.WasmbayError) as e:
                self._notify.host_log(plugin_id, LogLevel.WARN,
                                      f"could not save the canary's evidence: {e}")
        finally:
            lock.release()


def _settings(plugin_id: str, max_error_rate: object, min_calls: object,
              confidence: object) -> AutoRollback:
    """Checked settings, or a UsageError saying which value is wrong and what fits."""
    def number(value: object) -> bool:
        return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]

    if not number(max_error_rate) or not number(confidence) or type(min_calls) is not int:
        raise E.UsageError("automatic rollback needs a number max_error_rate, a whole "
                           "number min_calls and a number confidence", plugin_id=plugin_id,
                           hint="e.g. max_error_rate 0.05, min_calls 5, confidence 0.95")
    try:
        return AutoRollback(float(max_error_rate), min_calls,  # type: ignore[arg-type]
                            float(confidence))  # type: ignore[arg-type]
    except ValueError as e:
        raise E.UsageError(str(e), plugin_id=plugin_id,
                           hint="see `wasmbay auto-rollback --help`") from None
