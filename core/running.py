"""A plugin's live versions: the stable one, an optional canary, and the router between them.

Each :class:`RunningPlugin` has its own lock: a call reads the versions under it, and a
swap replaces one in a single step and hands back the version it replaced, which the
caller closes (its calls in flight finish first). :class:`RunningPlugins` is the
lock-guarded map from plugin id to its RunningPlugin. Neither runs plugin code while
holding its lock.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .errors import WasmbayError
from .metrics import MetricsSnapshot
from .pool import Plugin
from .rollout import Router


class RunningPlugin:
    def __init__(self, *, stable: Plugin | None = None, state: str = "stopped",
                 router: Router | None = None) -> None:
        self._lock = threading.Lock()
        self._stable = stable
        self._canary: Plugin | None = None
        self._state = state  # ready | loading | failed | stopped
        self._reason = ""
        self._failure: WasmbayError | None = None  # what it failed with (fix, message)
        self._last_metrics = 0.0
        #: Stable or canary for each call; it has its own lock.
        self.router = router or Router()

    # --- reading ----------------------------------------------------------------------

    @property
    def stable(self) -> Plugin | None:
        with self._lock:
            return self._stable

    @property
    def canary(self) -> Plugin | None:
        with self._lock:
            return self._canary

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

    @property
    def reason(self) -> str:
        with self._lock:
            return self._reason

    @property
    def failure(self) -> WasmbayError | None:
        """The error it failed with (a core.errors.WasmbayError), or None."""
        with self._lock:
            return self._failure

    def versions(self) -> tuple[Plugin, ...]:
        """The running versions, stable first."""
        with self._lock:
            return tuple(p for p in (self._stable, self._canary) if p is not None)

    def pick(self, request_id: str | None) -> tuple[Plugin | None, bool]:
        """The version that serves this call, and whether it is the canary."""
        with self._lock:
            stable, canary = self._stable, self._canary
        if canary is not None and self.router.to_canary(request_id):
            return canary, True
        return stable, False

    def metrics(self) -> dict[str, dict[str, Any]]:
        """Each version's metrics, with the tier of code serving it (core.tiering)."""
        return {p.version: {**p.metrics.snapshot().to_dict(), "tier": p.tier}
                for p in self.versions()}

    def metrics_snapshots(self) -> dict[str, MetricsSnapshot]:
        return {p.version: p.metrics.snapshot() for p in self.versions()}

    def metrics_due(self, interval_s: float) -> bool:
        """True at most once per ``interval_s``: time to publish metrics and check resources."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_metrics < interval_s:
                return False
            self._last_metrics = now
            return True

    # --- changing ---------------------------------------------------------------------

    def set_stable(self, plugin: Plugin) -> None:
        with self._lock:
            self._stable = plugin

    def set_canary(self, plugin: Plugin | None) -> Plugin | None:
        """Route the canary share to ``plugin`` (None: to stable); returns the old canary."""
        if plugin is None:
            self.router.set_percent(0)
        with self._lock:
            old, self._canary = self._canary, plugin
        return old

    def promote(self) -> Plugin | None:
        """The canary becomes stable; returns the old stable (None when there is no canary)."""
        with self._lock:
            if self._canary is None:
                return None
            self.router.set_percent(0)
            old, self._stable, self._canary = self._stable, self._canary, None
        return old  # new calls already go to the promoted one

    def ready(self) -> None:
        with self._lock:
            self._state = "ready"

    def fail(self, reason: str, error: WasmbayError | None = None) -> None:
        """Failed for ``reason``; ``error`` is the WasmbayError itself (fix, message)."""
        with self._lock:
            self._state, self._reason, self._failure = "failed", reason, error

    def close(self) -> None:
        for p in reversed(self.versions()):  # canary first
            p.close()


class RunningPlugins:
    """Plugin id -> its RunningPlugin, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, RunningPlugin] = {}

    def get(self, plugin_id: str) -> RunningPlugin | None:
        with self._lock:
            return self._running.get(plugin_id)

    def __getitem__(self, plugin_id: str) -> RunningPlugin:
        with self._lock:
            return self._running[plugin_id]

    def __contains__(self, plugin_id: object) -> bool:
        with self._lock:
            return plugin_id in self._running

    def put(self, plugin_id: str, run: RunningPlugin) -> RunningPlugin | None:
        """Make ``run`` the plugin's; returns the one it replaced (the caller closes it)."""
        with self._lock:
            old = self._running.get(plugin_id)
            self._running[plugin_id] = run
        return old

    def pop(self, plugin_id: str) -> RunningPlugin | None:
        with self._lock:
            return self._running.pop(plugin_id, None)

    def pop_all(self) -> list[RunningPlugin]:
        with self._lock:
            running, self._running = self._running, {}
        return list(running.values())

    def metrics(self, plugin_id: str) -> dict[str, dict[str, Any]]:
        run = self.get(plugin_id)
        return run.metrics() if run else {}

    def metrics_snapshots(self, plugin_id: str) -> dict[str, MetricsSnapshot]:
        run = self.get(plugin_id)
        return run.metrics_snapshots() if run else {}
