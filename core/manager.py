"""The plugin manager: the one object the CLI and the GUI drive.

It owns the Runtime, the on-disk Library and the running plugins, and publishes a
typed event for every change on the runtime's bus. Methods are thread-safe and never
assume a GUI thread; long work (load_all) reports progress through events.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import errors as E
from . import resources
from .contract import (
    CapabilityRequest,
    HealthReport,
    PluginMetadata,
    ProcessResult,
    parse_capability_request,
)
from .events import Event, EventBus, LogLevel, LogRecord
from .grants import Grants, private_folder
from .library import (
    Library,
    LibraryEntryError,
    PluginRecord,
    check_version,
    new_version_record,
    slug,
    with_build_suffix,
)
from .logstore import LogStore
from .manager_events import (
    CanaryPercentChanged,
    CanaryPromoted,
    CanaryRolledBack,
    CanaryStarted,
    ConfigChanged,
    GrantsChanged,
    MetricsUpdated,
    PluginDisabled,
    PluginEnabled,
    PluginFailed,
    PluginInstalled,
    PluginLoading,
    PluginReady,
    PluginSwapped,
    PluginUninstalled,
)
from .metrics import MetricsSnapshot
from .package import is_package, read_package
from .paths import AppDirs
from .plugin import Generation, Plugin, PluginInstance
from .publisher import TrustChange, refuse_unaccepted, trust_changes
from .rollout import AutoRollback, Router
from .runtime import LoadedComponent, Runtime, read_component_file
from .secrets import SecretStore
from .untrusted import check_requests


class PermissionEscalationError(E.UsageError):
    """An update asks for capabilities the plugin was not granted."""

    kind = "permission-diff"

    def __init__(self, message: str, *, plugin_id: str, escalation: list[str]) -> None:
        self.escalation = escalation
        super().__init__(message, plugin_id=plugin_id,
                         hint="review them, then re-run with --accept-requested or --grant CAP")


@dataclass(frozen=True)
class InstallPreview:
    """What installing a file would do, shown before anything is written."""

    plugin_id: str
    metadata: PluginMetadata
    wit_version: int
    sha256: str
    requested: tuple[CapabilityRequest, ...]
    is_update: bool
    current_version: str | None
    #: Requested capabilities not covered by the current grants (updates only).
    escalation: tuple[str, ...]
    signed_by: str | None = None
    #: Publisher change or downgrade against the installed stable version (updates only);
    #: each is refused unless accepted explicitly (see core.publisher).
    trust_changes: tuple[TrustChange, ...] = ()
    #: Who signed the installed stable version (updates only).
    current_signed_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"plugin_id": self.plugin_id, "metadata": self.metadata.to_dict(),
                "wit_version": self.wit_version, "sha256": self.sha256,
                "requested": [c.to_dict() for c in self.requested],
                "is_update": self.is_update, "current_version": self.current_version,
                "escalation": list(self.escalation), "signed_by": self.signed_by,
                "current_signed_by": self.current_signed_by,
                "trust_changes": [c.to_dict() for c in self.trust_changes]}


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

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["capabilities"] = list(self.capabilities)
        d["secret_keys"] = list(self.secret_keys)
        d["versions"] = list(self.versions)
        return d


@dataclass
class _Running:
    stable: Plugin | None = None
    canary: Plugin | None = None
    router: Router = field(default_factory=Router)
    state: str = "stopped"
    reason: str = ""
    last_metrics: float = 0.0


def requested_text(cap: CapabilityRequest) -> str:
    return cap.text


def covered(grants: Grants, cap: str) -> bool:
    """Whether an already granted capability satisfies a requested one."""
    key, _, target = cap.partition("=")
    if key == "network":
        return grants.network
    if key == "env":
        return target in grants.env
    if key in ("fs-read", "fs-write"):
        return any(d.guest == target and (d.writable or key == "fs-read") for d in grants.dirs)
    return True


class PluginManager:
    METRICS_INTERVAL_S = 0.5

    def __init__(self, dirs: AppDirs | None = None, *, runtime: Runtime | None = None,
                 secrets: SecretStore | None = None, persist_logs: bool = True) -> None:
        self.dirs = (dirs or AppDirs.default()).ensure()
        self.runtime = runtime or Runtime(self.dirs)
        self._own_runtime = runtime is None
        self.bus: EventBus = self.runtime.bus
        self.library = Library(self.dirs.data / "plugins")
        self.secrets = secrets or SecretStore()
        self.trusted_keys = self.dirs.config / "trusted-keys"
        self._lock = threading.RLock()
        self._records: dict[str, PluginRecord] = {}
        self._running: dict[str, _Running] = {}
        self.problems: list[LibraryEntryError] = []
        self._logs = LogStore(self.dirs.logs) if persist_logs else None
        self._unsubscribe_logs = (self.bus.subscribe(self._logs.write) if self._logs else None)
        self._watcher: Any = None
        #: Descriptors and disk per plugin, checked after calls (no WASI hook limits them).
        self.resource_watch = resources.ResourceWatch()
        self.reload_library()

    # --- events -----------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Event], None],
                  *types: type[Event]) -> Callable[[], None]:
        return self.bus.subscribe(callback, *types)

    def _emit(self, event: Event) -> None:
        self.bus.publish(event)

    def _host_log(self, plugin_id: str, level: LogLevel, message: str) -> None:
        self._emit(LogRecord(plugin_id, level, message, source="host"))

    # --- library ----------------------------------------------------------------------

    def reload_library(self) -> None:
        records, problems = self.library.load()
        with self._lock:
            self._records = records
            self.problems = problems
        for p in problems:
            self._emit(PluginFailed(p.plugin_id or "?", str(p), kind=p.kind))

    def record(self, plugin_id: str) -> PluginRecord:
        with self._lock:
            rec = self._records.get(plugin_id)
        if rec is None:
            with self._lock:
                damaged = [p for p in self.problems if p.plugin_id == plugin_id]
            if damaged:
                p = damaged[0]
                raise LibraryEntryError(f"is installed but damaged: {p.message}",
                                        plugin_id=plugin_id, hint=p.hint)
            raise E.UsageError(f"plugin '{plugin_id}' is not installed",
                               plugin_id=plugin_id, hint="see `wasmbay list`")
        return rec

    def _save(self, rec: PluginRecord) -> None:
        self.library.save(rec)
        with self._lock:
            self._records[rec.plugin_id] = rec

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(self._records)

    def status(self, plugin_id: str) -> PluginStatus:
        rec = self.record(plugin_id)
        run = self._running.get(plugin_id)
        state = "disabled" if not rec.enabled else (run.state if run else "stopped")
        metrics = self._metrics(run) if run else {}
        ver = rec.versions[rec.stable]
        return PluginStatus(
            plugin_id=plugin_id, name=ver.name, description=ver.description, stable=rec.stable,
            canary=rec.canary, canary_percent=rec.canary_percent,
            previous_stable=rec.previous_stable, enabled=rec.enabled, state=state,
            reason=run.reason if run else "", wit_version=ver.wit_version,
            capabilities=tuple(rec.grants.capabilities()), config=dict(rec.config),
            secret_keys=tuple(rec.secret_keys), versions=tuple(rec.versions), metrics=metrics,
            auto_rollback=rec.auto_rollback, publisher=ver.signed_by,
            resources=self.resource_watch.usage(plugin_id, rec.grants).to_dict())

    def statuses(self) -> list[PluginStatus]:
        return [self.status(i) for i in self.ids()]

    @staticmethod
    def _metrics(run: _Running) -> dict[str, dict[str, Any]]:
        out = {}
        for p in (run.stable, run.canary):
            if p is not None:
                out[p.version] = p.metrics.snapshot().to_dict()
        return out

    # --- install ----------------------------------------------------------------------

    def _read_source(self, path: Path) -> tuple[bytes, dict[str, Any] | None, str | None]:
        if not path.exists():
            raise E.UsageError(f"{path} does not exist", hint="check the path")
        limit = self.runtime.max_component_bytes
        if is_package(path):  # sniffed: the wasm magic wins, a component is never a package
            pkg = read_package(path, self.trusted_keys, max_component_bytes=limit)
            return pkg.wasm, pkg.manifest, pkg.signed_by
        # size and 8-byte header checked before the file is read; a folder is refused
        return read_component_file(path, path.stem, max_bytes=limit), None, None

    def _metadata(self, loaded: LoadedComponent, plugin_id: str) -> PluginMetadata:
        inst = PluginInstance(self.runtime, plugin_id, Generation(loaded, Grants(), {}, None), "")
        try:
            return inst.get_metadata()
        finally:
            inst.close()

    def preview(self, path: Path | str, plugin_id: str | None = None) -> InstallPreview:
        """Validate a .wasm or package completely, without touching the library."""
        path = Path(path)
        wasm, manifest, signed_by = self._read_source(path)
        loaded = self.runtime.compile(wasm, plugin_id=plugin_id or path.stem)
        metadata = self._metadata(loaded, plugin_id or path.stem)
        pid = plugin_id or (str(manifest["id"]) if manifest else slug(metadata.name))
        if manifest is not None:
            if int(str(manifest["wit_version"])) != loaded.info.contract.major:
                raise E.PluginLoadError(
                    f"manifest says WIT version {manifest['wit_version']} but the component "
                    f"targets {loaded.info.contract.major}", plugin_id=pid,
                    hint="rebuild the package")
            requested = tuple(_parse_request(c, pid) for c in manifest.get("capabilities", []))
            check_requests(requested, pid)  # a manifest is plugin text too
        else:
            requested = metadata.capabilities
            for c in requested:  # a malformed request is the plugin's error
                parse_capability_request(c.text, pid)
        with self._lock:
            rec = self._records.get(pid)
        escalation: tuple[str, ...] = ()
        changes: tuple[TrustChange, ...] = ()
        current_signer = None
        if rec is not None:
            escalation = tuple(c.text for c in requested if not covered(rec.grants, c.text))
            current_signer = rec.versions[rec.stable].signed_by
            changes = trust_changes(rec.stable, current_signer, metadata.version, signed_by)
        return InstallPreview(pid, metadata, loaded.info.contract.major, loaded.info.sha256,
                              requested, rec is not None, rec.stable if rec else None,
                              escalation, signed_by, changes, current_signer)

    def install(self, path: Path | str, *, grants: Sequence[str] = (),
                accept_requested: bool = False, plugin_id: str | None = None,
                start: bool = True, accept_publisher_change: bool = False,
                allow_downgrade: bool = False) -> PluginStatus:
        path = Path(path)
        preview = self.preview(path, plugin_id)
        pid = preview.plugin_id
        check_version(preview.metadata.version, pid)  # a version is never a path
        with self._lock:
            existing = self._records.get(pid)
        if existing is not None:  # before anything (grants, folders, versions) is written
            refuse_unaccepted(pid, preview.trust_changes,
                              what=f"version {preview.metadata.version}",
                              accept_publisher_change=accept_publisher_change,
                              allow_downgrade=allow_downgrade)
        base = existing.grants if existing else Grants()
        new_grants = base.grant_all(list(grants))
        if accept_requested:
            new_grants = self._grant_requested(pid, new_grants, preview.requested)
        still_missing = [c for c in preview.escalation if not covered(new_grants, c)]
        if existing is not None and still_missing:
            raise PermissionEscalationError(
                f"version {preview.metadata.version} asks for more than it was granted: "
                f"{', '.join('+' + c for c in still_missing)}", plugin_id=pid,
                escalation=still_missing)
        rec, version = self._add_version(path, preview, existing, new_grants)
        if existing is not None:
            if existing.stable == version:
                raise E.UsageError(f"version {version} is already installed", plugin_id=pid,
                                   hint="nothing to do")
            rec = replace(rec, previous_stable=existing.stable, stable=version)
            self._save(rec)
        self._emit(PluginInstalled(pid, version, tuple(c.text for c in preview.requested),
                                   tuple(new_grants.capabilities())))
        self._host_log(pid, LogLevel.INFO, f"installed version {version}")
        if start and rec.enabled:
            if existing is not None and pid in self._running:
                try:
                    self._swap_stable(pid, version, reason="updated")
                except E.WasmbayError as e:  # kept as a version; the old one stays stable
                    assert existing is not None
                    self._save(replace(rec, stable=existing.stable,
                                       previous_stable=existing.previous_stable))
                    raise E.InitializeError(
                        f"version {version} was stored but did not start ({e.message}); "
                        f"{existing.stable} keeps serving", plugin_id=pid,
                        hint=e.hint or "fix the plugin or its grants and install again") from e
            else:
                self.load(pid)  # a failure leaves it installed with state "failed" + reason
        return self.status(pid)

    def _add_version(self, path: Path, preview: InstallPreview, existing: PluginRecord | None,
                     grants: Grants) -> tuple[PluginRecord, str]:
        """Store the component as a version (reusing an identical one); stable unchanged."""
        pid = preview.plugin_id
        version = check_version(preview.metadata.version, pid)
        if existing is not None:
            same = [v for v, r in existing.versions.items() if r.sha256 == preview.sha256]
            if same:
                rec = replace(existing, grants=grants)
                self._save(rec)
                return rec, same[0]
            taken = {v.lower() for v in existing.versions}  # one folder per version, any FS
            if version.lower() in taken:
                version = with_build_suffix(version, preview.sha256)
            if version.lower() in taken:
                raise E.BadMetadataError(
                    f"version {version} is already installed with other content",
                    plugin_id=pid, hint="the plugin's author must bump its version")
        wasm, _, _ = self._read_source(path)
        vrec = new_version_record(version, preview.sha256, preview.metadata.name,
                                  preview.metadata.description, preview.wit_version,
                                  [c.text for c in preview.requested], len(wasm),
                                  signed_by=preview.signed_by)
        if existing is None:
            rec = PluginRecord(pid, {version: vrec}, stable=version, grants=grants)
        else:
            rec = replace(existing, versions={**existing.versions, version: vrec}, grants=grants)
        self.library.add_version(rec, vrec, wasm, new=existing is None)
        with self._lock:
            self._records[pid] = rec
            self.problems = [p for p in self.problems if p.plugin_id != pid]  # reinstalled
        return rec, version

    def _grant_requested(self, pid: str, grants: Grants,
                         requested: Sequence[CapabilityRequest]) -> Grants:
        """Grant what the plugin requests; a folder gets a private one the host names."""
        files = self.library.files_dir(pid)
        wanted = [c for c in requested if not covered(grants, c.text)]
        for cap in wanted:  # refuse a bad request before any folder is created
            if cap.kind in ("fs-read", "fs-write"):
                private_folder(files, cap.target, create=False, plugin_id=pid)
        for cap in wanted:
            if cap.kind in ("fs-read", "fs-write"):
                host = private_folder(files, cap.target, plugin_id=pid)
                grants = grants.grant(f"{cap.kind}={host}:{cap.target}")
            else:
                grants = grants.grant(cap.text)
        return grants

    def uninstall(self, plugin_id: str) -> None:
        rec = self.record(plugin_id)
        self._stop(plugin_id)
        for key in rec.secret_keys:
            self.secrets.delete(plugin_id, key)
        for sha in self._unshared_components(rec):
            self.runtime.cache.evict(sha)
        self.library.remove(plugin_id)
        self.resource_watch.forget(plugin_id)
        with self._lock:
            self._records.pop(plugin_id, None)
        if self._logs:
            self._logs.remove(plugin_id)
        self._emit(PluginUninstalled(plugin_id))

    def _unshared_components(self, rec: PluginRecord) -> set[str]:
        """The components only ``rec`` uses: other plugins may be installed from the same
        bytes, and their compiled cache entries must stay. A damaged entry's versions are
        unknown, so while one exists nothing is evicted (the cache only costs disk)."""
        with self._lock:
            if self.problems:
                return set()
            others = list(self._records.values())
        used = {v.sha256 for r in others if r.plugin_id != rec.plugin_id
                for v in r.versions.values()}
        return {v.sha256 for v in rec.versions.values()} - used

    # --- running ----------------------------------------------------------------------

    def _load_version(self, rec: PluginRecord, version: str) -> Plugin:
        path = self.library.component_path(rec.plugin_id, version)
        loaded = self.runtime.compile(path, plugin_id=rec.plugin_id,
                                      expected_sha256=rec.versions[version].sha256)
        return self.runtime.load(
            loaded, plugin_id=rec.plugin_id, grants=rec.grants, config=rec.config,
            secret_lookup=self.secrets.lookup_for(rec.plugin_id, frozenset(rec.secret_keys)),
            label=version)

    def load(self, plugin_id: str, *, keep_serving: bool = False) -> None:
        """(Re)start a plugin's stable (and canary) version; failures become events.

        With ``keep_serving`` a running plugin answers calls until the new versions
        are ready and is swapped out only then; if they fail, it stays.
        """
        rec = self.record(plugin_id)
        if not rec.enabled:
            return
        run = _Running(state="loading")
        auto = rec.auto_rollback
        run.router = Router(rec.canary_percent,
                            AutoRollback(**auto) if auto else None)
        old = self._running.get(plugin_id)
        beside = keep_serving and old is not None and old.state == "ready"
        if not beside:
            with self._lock:
                self._running[plugin_id] = run
            if old is not None:
                self._close_running(old)
        try:
            self._emit(PluginLoading(plugin_id, 0.1, "verifying", rec.stable))
            cached = self.runtime.cache.contains(rec.versions[rec.stable].sha256)
            self._emit(PluginLoading(plugin_id, 0.3, "loading from cache" if cached
                                     else "compiling", rec.stable))
            run.stable = self._load_version(rec, rec.stable)
            self._emit(PluginLoading(plugin_id, 0.8, "initialized", rec.stable))
            if rec.canary:
                run.canary = self._load_version(rec, rec.canary)
            run.state = "ready"
            if beside and old is not None:
                with self._lock:
                    self._running[plugin_id] = run
                self._close_running(old)
            self._emit(PluginLoading(plugin_id, 1.0, "ready", rec.stable))
            self._emit(PluginReady(plugin_id, rec.stable, rec.versions[rec.stable].wit_version))
        except E.WasmbayError as e:
            if beside:
                self._close_running(run)
                self._host_log(plugin_id, LogLevel.ERROR,
                               f"version {rec.stable} failed to load ({e}); the running "
                               "version keeps serving")
                if old is not None and old.stable is not None:
                    self._emit(PluginReady(plugin_id, old.stable.version,
                                           old.stable.wit_version))
                return
            run.state, run.reason = "failed", str(e)
            self._emit(PluginFailed(plugin_id, str(e), kind=e.kind, version=rec.stable))
            self._host_log(plugin_id, LogLevel.ERROR, f"failed to load: {e}")

    def load_all(self, max_workers: int = 4) -> None:
        """Start every enabled plugin in parallel; each reports its own progress."""
        ids = [i for i in self.ids() if self.record(i).enabled]
        with ThreadPoolExecutor(max_workers=max_workers,
                                thread_name_prefix="wasmbay-load") as pool:
            list(pool.map(self.load, ids))

    def _stop(self, plugin_id: str) -> None:
        with self._lock:
            run = self._running.pop(plugin_id, None)
        if run is not None:
            self._close_running(run)

    @staticmethod
    def _close_running(run: _Running) -> None:
        for p in (run.canary, run.stable):
            if p is not None:
                p.close()

    def _run(self, plugin_id: str) -> _Running:
        run = self._running.get(plugin_id)
        if run is None:
            rec = self.record(plugin_id)
            if not rec.enabled:
                raise E.PluginUnavailableError("is disabled", plugin_id=plugin_id,
                                               hint=f"enable it with `wasmbay enable {plugin_id}`")
            self.load(plugin_id)
            run = self._running[plugin_id]
        if run.stable is None:
            raise E.PluginUnavailableError(f"is not running: {run.reason or run.state}",
                                           plugin_id=plugin_id, hint="fix it and reload")
        return run

    def enable(self, plugin_id: str) -> None:
        rec = self.record(plugin_id)
        self._save(replace(rec, enabled=True))
        self._emit(PluginEnabled(plugin_id))
        self.load(plugin_id)

    def disable(self, plugin_id: str) -> None:
        rec = self.record(plugin_id)
        self._save(replace(rec, enabled=False))
        self._stop(plugin_id)
        self._emit(PluginDisabled(plugin_id))
        self._host_log(plugin_id, LogLevel.INFO, "disabled")

    # --- calls ------------------------------------------------------------------------

    def call(self, plugin_id: str, text: str, options: Sequence[tuple[str, str]] = (),
             request_id: str | None = None) -> ProcessResult:
        for attempt in range(3):
            run = self._run(plugin_id)
            canary = run.canary if run.canary is not None and run.router.to_canary(
                request_id) else None
            plugin = canary or run.stable
            assert plugin is not None
            try:
                result = plugin.process(text, options, request_id)
            except E.PluginUnavailableError:
                if attempt == 2:
                    raise
                continue  # swapped or promoted while we picked it: route again
            except E.PluginCallError:
                if canary is not None:
                    self._canary_outcome(plugin_id, run, ok=False)
                self._maybe_metrics(plugin_id, run)
                raise
            if canary is not None:
                self._canary_outcome(plugin_id, run, ok=result.success)
            self._maybe_metrics(plugin_id, run)
            return result
        raise AssertionError("unreachable")

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
        for pid in self.ids():
            rec = self.record(pid)
            if not rec.enabled:
                out[pid] = HealthReport("disabled", "disabled by the user")
                continue
            try:
                run = self._run(pid)
            except E.WasmbayError as e:
                out[pid] = HealthReport("failing", str(e))
                continue
            assert run.stable is not None
            out[pid] = run.stable.health()
            if run.canary is not None:
                out[f"{pid}@{run.canary.version}"] = run.canary.health()
        return out

    def _maybe_metrics(self, plugin_id: str, run: _Running) -> None:
        now = time.monotonic()
        if now - run.last_metrics >= self.METRICS_INTERVAL_S:
            run.last_metrics = now
            self._emit(MetricsUpdated(plugin_id, self._metrics(run)))
            self._check_resources(plugin_id, run)

    def _check_resources(self, plugin_id: str, run: _Running) -> None:
        """After calls: a plugin over its descriptor budget gets fresh instances (its open
        files are released; its in-memory state is lost, as after a grant change); a
        plugin over its disk quota is warned about (writes cannot be stopped)."""
        with self._lock:
            rec = self._records.get(plugin_id)
        if rec is None:
            return
        for finding in self.resource_watch.check(plugin_id, rec.grants):
            self._host_log(plugin_id, LogLevel.WARN, finding.message)
            if finding.kind != "fd-budget":
                continue
            for p in (run.stable, run.canary):
                if p is not None:
                    try:
                        p.reconfigure()
                    except E.WasmbayError as e:
                        self._host_log(plugin_id, LogLevel.ERROR,
                                       f"could not restart {p.version}: {e}")
            gc.collect()  # a retired Store sits in a reference cycle; its files close now

    def metrics_snapshots(self, plugin_id: str) -> dict[str, MetricsSnapshot]:
        """Per running version (stable, canary): the typed metrics."""
        run = self._running.get(plugin_id)
        if run is None:
            return {}
        return {p.version: p.metrics.snapshot() for p in (run.stable, run.canary)
                if p is not None}

    def metrics(self, plugin_id: str) -> dict[str, dict[str, Any]]:
        run = self._running.get(plugin_id)
        return self._metrics(run) if run else {}

    # --- grants and config --------------------------------------------------------------

    def set_grants(self, plugin_id: str, grants: Grants) -> None:
        """Re-sandbox the running versions first; only then persist (a failure changes nothing)."""
        rec = self.record(plugin_id)
        run = self._running.get(plugin_id)
        if run is not None:
            for p in (run.stable, run.canary):
                if p is not None:
                    p.reconfigure(grants=grants)
        self._save(replace(rec, grants=grants))
        before, after = set(rec.grants.capabilities()), set(grants.capabilities())
        self._emit(GrantsChanged(plugin_id, tuple(grants.capabilities()),
                                 tuple(sorted(after - before)), tuple(sorted(before - after))))
        self._host_log(plugin_id, LogLevel.INFO,
                       "grants changed: " + ", ".join(
                           [f"+{c}" for c in sorted(after - before)]
                           + [f"-{c}" for c in sorted(before - after)]))

    def grant(self, plugin_id: str, capability: str) -> None:
        self.set_grants(plugin_id, self.record(plugin_id).grants.grant(capability))

    def revoke(self, plugin_id: str, capability: str) -> None:
        self.set_grants(plugin_id, self.record(plugin_id).grants.revoke(capability))

    def set_config(self, plugin_id: str, key: str, value: str, *, secret: bool = False) -> None:
        rec = self.record(plugin_id)
        config = dict(rec.config)
        secret_keys = [k for k in rec.secret_keys if k != key]
        if secret:
            self.secrets.set(plugin_id, key, value)  # the value goes to the keyring only
            config.pop(key, None)
            secret_keys.append(key)
        else:
            if key in rec.secret_keys:
                self.secrets.delete(plugin_id, key)
            config[key] = value
        new = replace(rec, config=config, secret_keys=sorted(secret_keys))
        self._apply_config(new)
        self._emit(ConfigChanged(plugin_id, key, secret=secret))

    def remove_config(self, plugin_id: str, key: str) -> None:
        rec = self.record(plugin_id)
        if key in rec.secret_keys:
            self.secrets.delete(plugin_id, key)
        new = replace(rec, config={k: v for k, v in rec.config.items() if k != key},
                      secret_keys=[k for k in rec.secret_keys if k != key])
        self._apply_config(new)
        self._emit(ConfigChanged(plugin_id, key, removed=True))

    def _apply_config(self, rec: PluginRecord) -> None:
        self._save(rec)
        run = self._running.get(rec.plugin_id)
        if run is None or run.stable is None:
            if rec.enabled and run is not None:
                self.load(rec.plugin_id)  # a config fix may be what it was missing
            return
        lookup = self.secrets.lookup_for(rec.plugin_id, frozenset(rec.secret_keys))
        for p in (run.stable, run.canary):
            if p is not None:
                try:
                    p.reconfigure(config=rec.config, secret_lookup=lookup)
                except E.WasmbayError as e:
                    self._host_log(rec.plugin_id, LogLevel.WARN,
                                   f"new configuration not applied to {p.version}: {e}")

    # --- versions ---------------------------------------------------------------------

    def _swap_stable(self, plugin_id: str, version: str, reason: str) -> None:
        rec = self.record(plugin_id)
        run = self._run(plugin_id)
        assert run.stable is not None
        old = run.stable.version
        path = self.library.component_path(plugin_id, version)
        loaded = self.runtime.compile(path, plugin_id=plugin_id,
                                      expected_sha256=rec.versions[version].sha256)
        run.stable.reconfigure(loaded=loaded, label=version)
        self._emit(PluginSwapped(plugin_id, old, version, reason))
        self._host_log(plugin_id, LogLevel.INFO, f"swapped {old} -> {version} ({reason})")

    def start_canary(self, plugin_id: str, path: Path | str, percent: int, *,
                     accept_requested: bool = False, accept_publisher_change: bool = False,
                     allow_downgrade: bool = False) -> str:
        """Add a version beside the stable one and route ``percent`` of calls to it."""
        if not 0 <= percent <= 100:
            raise E.UsageError("the canary percentage must be 0 to 100", plugin_id=plugin_id,
                               hint="e.g. --percent 10")
        existing = self.record(plugin_id)
        preview = self.preview(Path(path), plugin_id)
        check_version(preview.metadata.version, plugin_id)
        refuse_unaccepted(plugin_id, preview.trust_changes,
                          what=f"canary {preview.metadata.version}",
                          accept_publisher_change=accept_publisher_change,
                          allow_downgrade=allow_downgrade)
        grants = existing.grants
        if accept_requested:
            grants = self._grant_requested(plugin_id, grants, preview.requested)
        missing = [c for c in preview.escalation if not covered(grants, c)]
        if missing:
            raise PermissionEscalationError(
                f"canary {preview.metadata.version} asks for more than the plugin was granted: "
                f"{', '.join('+' + c for c in missing)}", plugin_id=plugin_id, escalation=missing)
        rec, version = self._add_version(Path(path), preview, existing, grants)
        if version == rec.stable:
            raise E.UsageError(f"version {version} is already the stable version",
                               plugin_id=plugin_id, hint="pick a different build")
        rec = replace(rec, canary=version, canary_percent=percent)
        run = self._run(plugin_id)
        canary = self._load_version(rec, version)  # must load before anything changes
        self._save(rec)
        old, run.canary = run.canary, canary
        run.router.set_percent(percent)
        if old is not None:
            old.close()
        self._emit(CanaryStarted(plugin_id, version, percent))
        self._host_log(plugin_id, LogLevel.INFO, f"canary {version} started at {percent}%")
        return version

    def set_canary_percent(self, plugin_id: str, percent: int) -> None:
        rec = self.record(plugin_id)
        if rec.canary is None:
            raise E.UsageError("has no canary", plugin_id=plugin_id,
                               hint="start one with `wasmbay canary ID PATH --percent N`")
        percent = max(0, min(100, percent))
        self._save(replace(rec, canary_percent=percent))
        run = self._running.get(plugin_id)
        if run is not None:
            run.router.set_percent(percent)
        self._emit(CanaryPercentChanged(plugin_id, rec.canary, percent))

    def promote(self, plugin_id: str) -> str:
        rec = self.record(plugin_id)
        if rec.canary is None:
            raise E.UsageError("has no canary to promote", plugin_id=plugin_id,
                               hint="start one with `wasmbay canary ID PATH --percent N`")
        new = replace(rec, stable=rec.canary, previous_stable=rec.stable, canary=None,
                      canary_percent=0)
        self._save(new)
        run = self._running.get(plugin_id)
        if run is not None and run.canary is not None:
            old = run.stable
            run.router.set_percent(0)
            run.stable, run.canary = run.canary, None  # new calls go to the promoted one
            if old is not None:
                old.close()  # its calls in flight finish first
        self._emit(CanaryPromoted(plugin_id, new.stable, rec.stable))
        self._host_log(plugin_id, LogLevel.INFO, f"promoted {new.stable} (was {rec.stable})")
        return new.stable

    def rollback(self, plugin_id: str, reason: str = "rolled back by the user",
                 automatic: bool = False) -> str:
        """Drop the canary; without one, go back to the previous stable version."""
        rec = self.record(plugin_id)
        run = self._running.get(plugin_id)
        if rec.canary is not None:
            dropped = rec.canary
            self._save(replace(rec, canary=None, canary_percent=0))
            if run is not None and run.canary is not None:
                run.router.set_percent(0)
                old, run.canary = run.canary, None
                old.close()
        elif rec.previous_stable is not None:
            dropped = rec.stable
            self._save(replace(rec, stable=rec.previous_stable, previous_stable=None))
            if run is not None and run.stable is not None:
                self._swap_stable(plugin_id, rec.previous_stable, reason="rollback")
        else:
            raise E.UsageError("has nothing to roll back to", plugin_id=plugin_id,
                               hint="there is no canary and no previous stable version")
        self._emit(CanaryRolledBack(plugin_id, dropped, reason, automatic))
        self._host_log(plugin_id, LogLevel.WARN if automatic else LogLevel.INFO,
                       f"rolled back {dropped}: {reason}")
        return dropped

    def set_auto_rollback(self, plugin_id: str, max_error_rate: float | None,
                          window: int = 100) -> None:
        rec = self.record(plugin_id)
        auto = None if max_error_rate is None else AutoRollback(max_error_rate, window)
        self._save(replace(rec, auto_rollback=auto.to_dict() if auto else None))
        run = self._running.get(plugin_id)
        if run is not None:
            run.router.set_auto(auto)

    def _canary_outcome(self, plugin_id: str, run: _Running, ok: bool) -> None:
        reason = run.router.record_canary(ok)
        if reason is not None:
            with contextlib.suppress(E.UsageError):  # already promoted or rolled back
                self.rollback(plugin_id, reason, automatic=True)

    # --- hot reload -------------------------------------------------------------------

    def swap_from_file(self, plugin_id: str, path: Path) -> bool:
        """Load a rebuilt component beside the running one; swap only if it initializes."""
        run = self._running.get(plugin_id)
        if run is None or run.stable is None:
            return False
        try:
            loaded = self.runtime.compile(path, plugin_id=plugin_id)
            old = run.stable.version
            run.stable.reconfigure(loaded=loaded, label=f"dev-{loaded.info.sha256[:8]}")
        except E.WasmbayError as e:
            from .manager_events import SwapFailed

            self._emit(SwapFailed(plugin_id, str(e), str(path)))
            self._host_log(plugin_id, LogLevel.ERROR,
                           f"rebuild not loaded, the running version keeps serving: {e}")
            return False
        self._emit(PluginSwapped(plugin_id, old, run.stable.version, "rebuilt"))
        self._host_log(plugin_id, LogLevel.INFO, f"hot-reloaded {path.name}")
        return True

    def dev_link(self, path: Path, grants: Grants | None = None,
                 config: dict[str, str] | None = None) -> str:
        """Run a plugin under development straight from its build output (not installed)."""
        plugin_id = f"{slug(path.stem)}-dev"
        plugin = self.runtime.load(path, plugin_id=plugin_id, grants=grants or Grants(),
                                   config=config or {})
        with self._lock:
            self._running[plugin_id] = _Running(stable=plugin, state="ready")
        self._emit(PluginReady(plugin_id, plugin.version, plugin.wit_version))
        return plugin_id

    def watch(self) -> None:
        """Watch the library (and dev links) for changed components and state."""
        from .hotreload import LibraryWatcher

        if self._watcher is None:
            self._watcher = LibraryWatcher(self)
            self._watcher.start()

    def watch_dev(self, plugin_id: str, path: Path) -> None:
        self.watch()
        self._watcher.watch_file(path, lambda p: self.swap_from_file(plugin_id, p))

    def on_state_changed(self, plugin_id: str) -> None:
        """Another process changed a plugin's state: pick it up (called by the watcher)."""
        try:
            fresh = self.library.read(plugin_id)
        except LibraryEntryError as e:
            if self.library.exists(plugin_id):
                self._host_log(plugin_id, LogLevel.ERROR, str(e))
            return
        with self._lock:
            current = self._records.get(plugin_id)
            if current is not None and current.to_json() == fresh.to_json():
                return  # our own write
            self._records[plugin_id] = fresh
        self._host_log(plugin_id, LogLevel.INFO, "library changed on disk; reloading")
        if fresh.enabled:
            self.load(plugin_id, keep_serving=True)
        else:
            self._stop(plugin_id)

    # --- shutdown ---------------------------------------------------------------------

    def close(self) -> None:
        """Shut every plugin down (their ``shutdown`` runs) and stop watching."""
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        with self._lock:
            running, self._running = self._running, {}
        for run in running.values():
            self._close_running(run)
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


def _parse_request(text: object, plugin_id: str) -> CapabilityRequest:
    """A manifest's request; a malformed one is the plugin's BadCapabilityRequestError."""
    return parse_capability_request(text, plugin_id)
