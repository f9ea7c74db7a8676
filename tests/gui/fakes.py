"""An in-memory Backend, for tests of the window's wiring that need no wasm at all."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from wasmbay.core.contract import CapabilityRequest, ProcessResult
from wasmbay.core.errors import CancelledError, UsageError
from wasmbay.core.events import Event, EventBus, LogLevel, LogRecord
from wasmbay.core.grants import Grants
from wasmbay.core.manager_events import CHECKING, READING, Progress
from wasmbay.core.progress import CancelToken
from wasmbay.gui.snapshots import READY, InstallOffer, PluginSnapshot, VersionInfo


class FakeBackend:
    def __init__(self, plugins: list[str] | None = None) -> None:
        self.bus = EventBus()
        self.closed = threading.Event()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.plugins: dict[str, PluginSnapshot] = {
            pid: PluginSnapshot(pid, name=pid.title(), state=READY,
                                stable=VersionInfo("1.0.0"))
            for pid in plugins or []}
        #: Verbs ("preview", "install", "install_samples", "start_canary") that report
        #: Progress, then wait until cancelled or ``release`` is set, as a slow compile
        #: would (at most 10 s).
        self.hold: set[str] = set()
        self.release = threading.Event()

    def _held(self, verb: str, subject: str, cancel: object) -> None:
        """A slow operation's stages and its cancel check, as core's ProgressReporter."""
        if verb not in self.hold:
            return
        self.bus.publish(Progress(subject, verb, READING, 0.0))
        self.bus.publish(Progress(subject, verb, CHECKING, 0.01, 0.5))
        for _ in range(1000):
            if isinstance(cancel, CancelToken) and cancel.cancelled:
                raise CancelledError(plugin_id=subject)
            if self.release.wait(0.01):
                return

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        return self.bus.subscribe(callback)

    def snapshots(self) -> list[PluginSnapshot]:
        return list(self.plugins.values())

    def load_all(self) -> None:
        for pid in self.plugins:
            self.bus.publish(LogRecord(pid, LogLevel.INFO, "loaded", source="host"))

    def preview(self, path: str, plugin_id: str | None = None,
                cancel: object = None) -> InstallOffer:
        self._held("preview", path, cancel)
        if plugin_id in self.plugins:  # a new version of an installed plugin (a canary)
            snap = self.plugins[plugin_id]
            return InstallOffer(path, plugin_id, snap.name, "2.0.0", "a demo", 2, "cd" * 32,
                                10, (), current=snap.grants, current_version="1.0.0")
        return InstallOffer(path, "demo", "Demo", "1.0.0", "a demo", 2, "ab" * 32, 10,
                            (CapabilityRequest("network", "", "to fetch things"),))

    def install(self, offer: InstallOffer, capabilities: list[str],
                accept_publisher_change: bool = False, allow_downgrade: bool = False,
                cancel: object = None) -> str:
        self._record("install", offer.path, capabilities, offer.plugin_id)
        self._held("install", offer.plugin_id, cancel)
        pid = offer.plugin_id
        grants = Grants().grant_all([c for c in capabilities if not c.startswith("fs-")])
        self.plugins[pid] = PluginSnapshot(pid, name=pid.title(), state=READY,
                                           stable=VersionInfo("1.0.0"), grants=grants)
        return pid

    def install_samples(self, cancel: object = None) -> list[str]:
        self._held("install_samples", "/samples/hello.wasm", cancel)
        return []

    def uninstall(self, plugin_id: str) -> None:
        del self.plugins[plugin_id]

    def enable(self, plugin_id: str) -> None:
        self.plugins[plugin_id] = replace(self.plugins[plugin_id], state=READY)

    def disable(self, plugin_id: str) -> None:
        self.plugins[plugin_id] = replace(self.plugins[plugin_id], state="disabled")

    def reload(self, plugin_id: str) -> None:
        self._record("reload", plugin_id)

    def set_grants(self, plugin_id: str, grants: Grants) -> None:
        self.plugins[plugin_id] = replace(self.plugins[plugin_id], grants=grants)

    def set_config(self, plugin_id: str, key: str, value: str, secret: bool) -> None:
        s = self.plugins[plugin_id]
        if secret:
            self.plugins[plugin_id] = replace(s, secret_keys=(*s.secret_keys, key))
        else:
            self.plugins[plugin_id] = replace(s, config=(*s.config, (key, value)))

    def remove_config(self, plugin_id: str, key: str) -> None:
        s = self.plugins[plugin_id]
        self.plugins[plugin_id] = replace(
            s, config=tuple(kv for kv in s.config if kv[0] != key),
            secret_keys=tuple(k for k in s.secret_keys if k != key))

    def call(self, plugin_id: str, text: str, options: list[tuple[str, str]],
             request_id: str) -> ProcessResult:
        if plugin_id not in self.plugins:
            raise KeyError(plugin_id)
        return ProcessResult(text.upper(), True, served_by="1.0.0", duration_s=0.001)

    def start_canary(self, offer: InstallOffer, capabilities: list[str], percent: int,
                     accept_publisher_change: bool = False,
                     allow_downgrade: bool = False, cancel: object = None) -> str:
        self._record("start_canary", offer.path, capabilities, percent)
        self._held("start_canary", offer.plugin_id, cancel)
        pid = offer.plugin_id
        self.plugins[pid] = replace(self.plugins[pid], canary=VersionInfo(offer.version),
                                    canary_percent=percent, last_rollback="",
                                    last_rollback_version="")
        return offer.version

    def set_canary_percent(self, plugin_id: str, percent: int) -> None:
        self._record("set_canary_percent", plugin_id, percent)
        self.plugins[plugin_id] = replace(self.plugins[plugin_id], canary_percent=percent)

    def promote(self, plugin_id: str) -> None:
        self._record("promote", plugin_id)
        s = self.plugins[plugin_id]
        self.plugins[plugin_id] = replace(
            s, stable=s.canary, canary=None, canary_percent=0, last_rollback="",
            previous_stable=s.stable.version if s.stable else "")

    def rollback(self, plugin_id: str) -> None:
        """As core: drop the canary; without one, go back to the previous stable version."""
        self._record("rollback", plugin_id)
        s = self.plugins[plugin_id]
        if s.canary is None and s.previous_stable:
            self.plugins[plugin_id] = replace(
                s, stable=VersionInfo(s.previous_stable), previous_stable="",
                last_rollback="rolled back by the user",
                last_rollback_version=s.stable.version if s.stable else "")
            return
        if s.canary is None:
            raise UsageError("has nothing to roll back to", plugin_id=plugin_id)
        self.plugins[plugin_id] = replace(s, canary=None, canary_percent=0,
                                          last_rollback="rolled back by the user",
                                          last_rollback_version=s.canary.version)

    def set_rollback_threshold(self, plugin_id: str, error_rate: float,
                               min_calls: int = 5, confidence: float = 0.95) -> None:
        self._record("set_rollback_threshold", plugin_id, error_rate, min_calls, confidence)
        self.plugins[plugin_id] = replace(self.plugins[plugin_id],
                                          auto_rollback_threshold=error_rate,
                                          auto_rollback_min_calls=min_calls,
                                          auto_rollback_confidence=confidence)

    def close(self) -> None:
        self.closed.set()
