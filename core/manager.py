"""The plugin manager: the one object the CLI and the GUI drive.

A thin façade: each method hands the work to one small part, each with its own lock.

- :mod:`.installing` reads and checks a candidate file once (preview), then installs
  that very object, or uninstalls;
- :mod:`.versions` starts, stops and swaps a plugin's versions (one lock per plugin
  serializes its changes); :mod:`.canary` runs a canary beside the stable version:
  share, promote, rollback, automatic rollback;
- :mod:`.running` holds each plugin's live versions and router;
- :mod:`.calls` routes calls, publishes metrics and watches resources;
- :mod:`.settings` applies grants and configuration;
- :mod:`.records` caches the library's records and its damaged entries;
- :mod:`.manager_events` has the typed events and the Notifier that publishes them.

Every change is published as a typed event on the runtime's bus. Methods are
thread-safe and never assume a GUI thread; long work (load_all) reports progress
through events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import errors as E
from . import resources
from .cache import CacheEntry
from .cachekeeper import CacheListing, VerifyResult
from .calls import Calls
from .canary import Canary
from .contract import HealthReport, ProcessResult
from .errors import LibraryEntryError
from .events import Event, EventBus, LogLevel
from .grants import Grants
from .installing import Installer, InstallPreview
from .library import Library, PluginRecord
from .logstore import LogStore
from .manager_events import Notifier, PluginFailed
from .metrics import MetricsSnapshot
from .paths import AppDirs
from .progress import CancelToken
from .records import Records
from .running import RunningPlugin, RunningPlugins
from .runtime import Runtime
from .secrets import SecretStore
from .settings import Settings
from .tiering import TIERS, code_name
from .versions import Versions

__all__ = ["InstallPreview", "PluginManager", "PluginStatus"]


@dataclass(frozen=True)
class PluginStatus:
    """A plain snapshot of one plugin, for lists and detail panes."""

    plugin_id: str
    name: str
    description: str
    stable: str
    canary: str | None
    canary_percent: int
    previous_stable: str | None
    enabled: bool
    state: str  # ready | loading | failed | disabled | stopped
    reason: str
    wit_version: int
    capabilities: tuple[str, ...]
    config: dict[str, str]
    secret_keys: tuple[str, ...]
    versions: tuple[str, ...]
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    auto_rollback: dict[str, Any] | None = None
    publisher: str | None = None  # fingerprint of the stable version's signer
    #: Its share of the host (core.resources.Usage): open files, disk, budgets.
    resources: dict[str, Any] = field(default_factory=dict)
    #: The code the running stable version serves (core.tiering): "fast" (Winch),
    #: "optimized" (Cranelift) or "optimizing" (fast until the optimized compile is
    #: swapped in); "" when it is not running.
    tier: str = ""
    #: What would repair a failure (core.errors.Fix; core.fixes), when the host knows.
    fix: E.Fix | None = None
    #: The failure without the CLI's hint, for front ends that word their own fix.
    reason_detail: str = ""
    #: The config keys the running stable version asked get-config for, and whether
    #: it got a value (metadata declares none: this is what the host saw it read).
    config_read: tuple[tuple[str, bool], ...] = ()
    #: The tiers whose compiled code of the stable version is cached.
    compiled_tiers: tuple[str, ...] = ()

    @classmethod
    def of(cls, rec: PluginRecord, run: RunningPlugin | None, usage: dict[str, Any],
           auto_rollback: dict[str, Any] | None = None,
           compiled_tiers: tuple[str, ...] = ()) -> PluginStatus:
        ver = rec.versions[rec.stable]
        stable = run.stable if run else None
        failure = run.failure if run and run.state == "failed" else None
        return cls(
            plugin_id=rec.plugin_id, name=ver.name, description=ver.description,
            stable=rec.stable, canary=rec.canary, canary_percent=rec.canary_percent,
            previous_stable=rec.previous_stable, enabled=rec.enabled,
            state="disabled" if not rec.enabled else (run.state if run else "stopped"),
            reason=run.reason if run else "", wit_version=ver.wit_version,
            capabilities=tuple(rec.grants.capabilities()), config=dict(rec.config),
            secret_keys=tuple(rec.secret_keys), versions=tuple(rec.versions),
            metrics=run.metrics() if run else {}, auto_rollback=auto_rollback,
            publisher=ver.signed_by, resources=usage,
            tier=stable.tier if stable is not None else "", compiled_tiers=compiled_tiers,
            fix=failure.fix if failure else None,
            reason_detail=failure.message if failure else "",
            config_read=tuple(sorted(stable.config_asked.copy().items())) if stable else ())

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["capabilities"] = list(self.capabilities)
        d["secret_keys"] = list(self.secret_keys)
        d["versions"] = list(self.versions)
        d["compiled_tiers"] = list(self.compiled_tiers)
        d["fix"] = self.fix.to_dict() if self.fix else None
        d["config_read"] = [list(kv) for kv in self.config_read]
        return d


class PluginManager:
    def __init__(self, dirs: AppDirs | None = None, *, runtime: Runtime | None = None,
                 secrets: SecretStore | None = None, persist_logs: bool = True) -> None:
        self.dirs = (dirs or AppDirs.default()).ensure()
        self.runtime = runtime or Runtime(self.dirs)
        self._own_runtime = runtime is None
        self.bus: EventBus = self.runtime.bus
        self.library = Library(self.dirs.data / "plugins")
        self.secrets = secrets or SecretStore()
        self.trusted_keys = self.dirs.config / "trusted-keys"
        #: Descriptors and disk per plugin, checked after calls (no WASI hook limits them).
        self.resource_watch = resources.ResourceWatch()
        self._logs = LogStore(self.dirs.logs) if persist_logs else None
        self._unsubscribe_logs = (self.bus.subscribe(self._logs.write) if self._logs else None)
        self._lock = threading.Lock()  # guards _watcher
        self._watcher: Any = None
        notify = self._notify = Notifier(self.bus)
        self._records = Records(self.library)
        self._running = RunningPlugins()
        self._versions = Versions(self.runtime, self._records, self._running, self.secrets,
                                  notify)
        self._canary = Canary(self._records, self._versions, notify)
        self._installer = Installer(self.runtime, self._records, self._versions, self._canary,
                                    self.secrets, self.resource_watch, notify,
                                    trusted_keys=self.trusted_keys, logs=self._logs)
        self._settings = Settings(self._records, self._versions, self.secrets, notify)
        self._calls = Calls(self._records, self._versions, self._canary, self.resource_watch,
                            notify)
        self.reload_library()

    # --- events -----------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Event], None],
                  *types: type[Event]) -> Callable[[], None]:
        return self.bus.subscribe(callback, *types)

    # --- library ----------------------------------------------------------------------

    def reload_library(self) -> None:
        for p in self._records.reload():
            self._notify.emit(PluginFailed(p.plugin_id or "?", str(p), kind=p.kind))

    @property
    def problems(self) -> list[LibraryEntryError]:
        """Library entries that could not be read (each also reported as PluginFailed)."""
        return self._records.problems

    def record(self, plugin_id: str) -> PluginRecord:
        return self._records.require(plugin_id)

    def ids(self) -> list[str]:
        return self._records.ids()

    def status(self, plugin_id: str) -> PluginStatus:
        rec = self._records.require(plugin_id)
        usage = self.resource_watch.usage(plugin_id, rec.grants).to_dict()
        sha = rec.versions[rec.stable].sha256
        metered = rec.grants.fuel is not None  # the code its grants run (core.pool)
        tiers = tuple(t for t in TIERS
                      if self.runtime.cache.contains(sha, code_name(t, metered)))
        return PluginStatus.of(rec, self._running.get(plugin_id), usage,
                               self._canary.progress(rec), tiers)

    def statuses(self) -> list[PluginStatus]:
        return [self.status(i) for i in self.ids()]

    # --- install ----------------------------------------------------------------------

    def preview(self, path: Path | str, plugin_id: str | None = None, *,
                cancel: CancelToken | None = None) -> InstallPreview:
        """Read and check a .wasm or package completely, without touching the library.

        The preview carries what was checked: pass it to :meth:`install` (or
        :meth:`start_canary`) after the user's consent, and the file is not read again.
        Its stages are published as Progress events; ``cancel`` stops it between stages
        (CancelledError; a compile already under way finishes and is discarded).
        """
        return self._installer.preview(Path(path), plugin_id, cancel=cancel)

    def install(self, source: Path | str | InstallPreview, *, grants: Sequence[str] = (),
                accept_requested: bool = False, plugin_id: str | None = None,
                start: bool = True, accept_publisher_change: bool = False,
                allow_downgrade: bool = False,
                cancel: CancelToken | None = None) -> PluginStatus:
        """Install a file, or the :class:`InstallPreview` the user consented to.

        Given a preview (``install(manager.preview(path), grants=...)``) the bytes it
        checked are stored and started: no second read, compile or throwaway instance,
        and what is installed is what was shown even if the file changed since. Its
        grants and trust checks are redone against the library as it is now.
        ``plugin_id``, when given with a preview, must be the preview's. ``cancel``
        works until the version is written: a cancelled install stores nothing.
        """
        return self.status(self._installer.install(
            source, grants=grants, accept_requested=accept_requested, plugin_id=plugin_id,
            start=start, accept_publisher_change=accept_publisher_change,
            allow_downgrade=allow_downgrade, cancel=cancel))

    def uninstall(self, plugin_id: str) -> None:
        self._installer.uninstall(plugin_id)

    # --- compiled cache and integrity -------------------------------------------------

    def cache_listing(self) -> list[CacheListing]:
        """The compiled cache's entries, least recently used first, with their users."""
        return self._installer.cache_keeper.listing()

    def prune_cache(self, *, everything_unreferenced: bool = False) -> list[CacheEntry]:
        """Evict entries no installed version uses, down to the cap (or all of them)."""
        return self._installer.cache_keeper.prune(everything_unreferenced=everything_unreferenced)

    def cache_max_bytes(self) -> int:
        """The cap unreferenced entries are evicted down to (``WASMBAY_CACHE_MAX``)."""
        return self._installer.cache_keeper.cap()

    def clear_cache(self) -> list[CacheEntry]:
        """Remove every compiled entry; running plugins keep the code they loaded."""
        return self.runtime.cache.clear()

    def verify(self) -> list[VerifyResult]:
        """Re-hash every stored version of every installed plugin."""
        return self._installer.cache_keeper.verify()

    # --- running ----------------------------------------------------------------------

    def load(self, plugin_id: str, *, keep_serving: bool = False) -> None:
        """(Re)start a plugin's stable (and canary) version; failures become events.

        With ``keep_serving`` a running plugin answers calls until the new versions
        are ready and is swapped out only then; if they fail, it stays.
        """
        self._versions.load(plugin_id, keep_serving=keep_serving)

    def load_all(self, max_workers: int = 4) -> None:
        """Start every enabled plugin in parallel; each reports its own progress."""
        self._versions.load_all(max_workers)

    def enable(self, plugin_id: str) -> None:
        self._versions.enable(plugin_id)

    def disable(self, plugin_id: str) -> None:
        self._versions.disable(plugin_id)

    # --- calls ------------------------------------------------------------------------

    def call(self, plugin_id: str, text: str, options: Sequence[tuple[str, str]] = (),
             request_id: str | None = None) -> ProcessResult:
        return self._calls.call(plugin_id, text, options, request_id)

    def batch(self, requests: Sequence[tuple[str, str]], *, concurrency: int = 4,
              options: Sequence[tuple[str, str]] = ()) -> list[ProcessResult | E.WasmbayError]:
        """Run (plugin id, input) pairs with at most ``concurrency`` in flight, in order."""
        return self._calls.batch(requests, concurrency=concurrency, options=options)

    def health(self) -> dict[str, HealthReport]:
        return self._calls.health()

    def metrics_snapshots(self, plugin_id: str) -> dict[str, MetricsSnapshot]:
        """Per running version (stable, canary): the typed metrics."""
        return self._running.metrics_snapshots(plugin_id)

    def metrics(self, plugin_id: str) -> dict[str, dict[str, Any]]:
        return self._running.metrics(plugin_id)

    # --- grants and config --------------------------------------------------------------

    def set_grants(self, plugin_id: str, grants: Grants) -> None:
        """Re-sandbox the running versions first; only then persist (a failure changes nothing)."""
        self._settings.set_grants(plugin_id, grants)

    def grant(self, plugin_id: str, capability: str) -> None:
        self._settings.grant(plugin_id, capability)

    def revoke(self, plugin_id: str, capability: str) -> None:
        self._settings.revoke(plugin_id, capability)

    def set_config(self, plugin_id: str, key: str, value: str, *, secret: bool = False) -> None:
        self._settings.set_config(plugin_id, key, value, secret=secret)

    def remove_config(self, plugin_id: str, key: str) -> None:
        self._settings.remove_config(plugin_id, key)

    def missing_secrets(self, plugin_id: str) -> tuple[str, ...]:
        """The plugin's secret keys the OS keyring no longer has, by a real lookup.

        The record only names its secret keys; the keyring can lose one behind
        Wasmbay's back (another tool, a reset keyring). Slow (D-Bus per key): call it
        off any GUI thread. SecretStoreError when there is no usable keyring.
        """
        rec = self._records.require(plugin_id)
        return tuple(k for k in rec.secret_keys if self.secrets.get(plugin_id, k) is None)

    # --- versions ---------------------------------------------------------------------

    def start_canary(self, plugin_id: str, path: Path | str | InstallPreview, percent: int, *,
                     grants: Sequence[str] = (), accept_requested: bool = False,
                     accept_publisher_change: bool = False,
                     allow_downgrade: bool = False, cancel: CancelToken | None = None) -> str:
        """Add a version (a file or its preview) beside the stable one and route
        ``percent`` of calls to it; ``grants`` and ``cancel`` as for :meth:`install`."""
        return self._installer.start_canary(
            plugin_id, path, percent, grants=grants, accept_requested=accept_requested,
            accept_publisher_change=accept_publisher_change, allow_downgrade=allow_downgrade,
            cancel=cancel)

    def set_canary_percent(self, plugin_id: str, percent: int) -> None:
        self._canary.set_percent(plugin_id, percent)

    def promote(self, plugin_id: str) -> str:
        return self._canary.promote(plugin_id)

    def rollback(self, plugin_id: str, reason: str = "rolled back by the user",
                 automatic: bool = False) -> str:
        """Drop the canary; without one, go back to the previous stable version."""
        return self._canary.rollback(plugin_id, reason, automatic)

    def set_auto_rollback(self, plugin_id: str, max_error_rate: float | None, *,
                          min_calls: int | None = None, confidence: float | None = None,
                          window: int | None = None) -> None:
        """Roll a canary back once ``min_calls`` calls (default 5) show, at ``confidence``
        (default 0.95), an error rate above ``max_error_rate``; None turns it off.
        ``window`` is the deprecated name of ``min_calls`` (core.canary)."""
        self._canary.set_auto_rollback(plugin_id, max_error_rate, min_calls=min_calls,
                                       confidence=confidence, window=window)

    # --- hot reload -------------------------------------------------------------------

    def swap_from_file(self, plugin_id: str, path: Path) -> bool:
        """Load a rebuilt component beside the running one; swap only if it initializes."""
        return self._versions.swap_from_file(plugin_id, path)

    def dev_link(self, path: Path, grants: Grants | None = None,
                 config: dict[str, str] | None = None) -> str:
        """Run a plugin under development straight from its build output (not installed)."""
        return self._versions.dev_link(path, grants, config)

    def watch(self) -> None:
        """Watch the library (and dev links) for changed components and state."""
        from .hotreload import LibraryWatcher  # on first use: it brings in watchdog

        with self._lock:
            if self._watcher is None:
                self._watcher = LibraryWatcher(self.library.root, self.on_state_changed)
                self._watcher.start()

    def watch_dev(self, plugin_id: str, path: Path) -> None:
        self.watch()
        with self._lock:
            watcher = self._watcher
        watcher.watch_file(path, lambda p: self.swap_from_file(plugin_id, p))

    def on_state_changed(self, plugin_id: str) -> None:
        """Another process changed a plugin's state: pick it up (called by the watcher).

        The file is read under the plugin's change lock: read before it, a change of ours
        that saves twice (a canary start) could be read half-way and adopted after the
        second save, undoing it.
        """
        with self._versions.changing(plugin_id):
            try:
                fresh = self.library.read(plugin_id)
            except LibraryEntryError as e:
                if self.library.exists(plugin_id):
                    self._notify.host_log(plugin_id, LogLevel.ERROR, str(e))
                return
            self._versions.reload_changed(plugin_id, fresh)

    # --- shutdown ---------------------------------------------------------------------

    def close(self) -> None:
        """Shut every plugin down (their ``shutdown`` runs) and stop watching."""
        with self._lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
        self._canary.close()  # the canaries' evidence, for the next host
        for run in self._running.pop_all():
            run.close()
        if self._unsubscribe_logs:
            self._unsubscribe_logs()
        if self._logs:
            self._logs.close()
        if self._own_runtime:
            self.runtime.close()

    def __enter__(self) -> PluginManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
