"""Running an installed plugin's versions: start, stop, swap (core.canary adds the canary).

Every change to one plugin (here, and the canary, installing and settings parts) holds that
plugin's lock from :meth:`Versions.changing`, so two changes never interleave (two loads
never both build a RunningPlugin, a rollback never meets a promotion half-way). Calls do
not take it: they read a RunningPlugin under its own lock and go on serving while a new
version loads beside the old one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from . import errors as E
from .component import LoadedComponent
from .events import LogLevel
from .fixes import failure_fix
from .grants import Grants
from .library import PluginRecord, file_identity, slug
from .manager_events import (
    CHECKING,
    READY,
    Notifier,
    PluginDisabled,
    PluginEnabled,
    PluginFailed,
    PluginLoading,
    PluginReady,
    PluginSwapped,
    SwapFailed,
)
from .pool import Plugin
from .progress import ProgressHook, ProgressReporter
from .records import Records
from .rollout import AutoRollback, Router
from .running import RunningPlugin, RunningPlugins
from .runtime import Runtime, read_component_file
from .secrets import SecretStore

_log = logging.getLogger(__name__)


def integrity_error(actual: str, expected: str, plugin_id: str | None) -> E.IntegrityError:
    """The refusal of a stored component whose bytes no longer hash to the recorded sha256."""
    return E.IntegrityError(
        f"component file changed behind Wasmbay's back (sha256 {actual[:12]}…, "
        f"installed {expected[:12]}…)", plugin_id=plugin_id,
        hint="reinstall the plugin from a trusted source")


class Versions:
    def __init__(self, runtime: Runtime, records: Records, running: RunningPlugins,
                 secrets: SecretStore, notify: Notifier) -> None:
        self.runtime = runtime
        self.records = records
        self.running = running
        self.secrets = secrets
        self._notify = notify
        self._lock = threading.Lock()
        self._changing: dict[str, threading.RLock] = {}

    def changing(self, plugin_id: str) -> threading.RLock:
        """The lock every change to this plugin holds (re-entrant: a change may load)."""
        with self._lock:
            return self._changing.setdefault(plugin_id, threading.RLock())

    # --- one version --------------------------------------------------------------------

    def compile(self, rec: PluginRecord, version: str,
                ready: LoadedComponent | None = None,
                progress: ProgressHook | None = None) -> LoadedComponent:
        """A stored version, compiled (or from the cache), refused if its bytes changed.

        ``ready`` is a component the caller has already read, checked and compiled (the
        install's candidate); it is used when it is that very version (same sha256).

        The file is hashed only when its identity (size, mtime, ctime, inode, device)
        differs from the one recorded when its sha256 was last checked, or when it must
        be compiled (it is read then anyway); with its identity unchanged and its code
        cached, it is not read at all.
        """
        vrec = rec.versions[version]
        sha = vrec.sha256
        metered = rec.grants.fuel is not None  # the code its grants need (core.pool)
        if ready is not None and ready.info.sha256 == sha and ready.metered == metered:
            return ready
        path = self.records.library.component_path(rec.plugin_id, version)
        before = file_identity(path)
        if before is not None and before == vrec.file_identity:
            cached = self.runtime.compile_cached(sha, vrec.size, path=path,
                                                 plugin_id=rec.plugin_id, metered=metered)
            if cached is not None:
                return cached
        loaded = self.runtime.compile(path, plugin_id=rec.plugin_id, expected_sha256=sha,
                                      progress=progress, metered=metered)
        if before is not None and before != vrec.file_identity and file_identity(path) == before:
            self._record_identity(rec.plugin_id, version, sha, before)  # hashed: it matched
        return loaded

    def identity_unchanged(self, rec: PluginRecord, version: str) -> bool:
        """Whether the stored file is, by its identity, the one whose sha256 was checked."""
        vrec = rec.versions[version]
        path = self.records.library.component_path(rec.plugin_id, version)
        return vrec.file_identity is not None and file_identity(path) == vrec.file_identity

    def verified_bytes(self, rec: PluginRecord, version: str) -> bytes:
        """A stored version's bytes, hashed and checked against its record (IntegrityError).

        For compiling another tier in the background: the bytes are read whole anyway.
        """
        path = self.records.library.component_path(rec.plugin_id, version)
        wasm = read_component_file(path, rec.plugin_id,
                                   max_bytes=self.runtime.max_component_bytes)
        actual = hashlib.sha256(wasm).hexdigest()
        if actual != rec.versions[version].sha256:
            raise integrity_error(actual, rec.versions[version].sha256, rec.plugin_id)
        return wasm

    def verified_bytes_or_none(self, rec: PluginRecord, version: str) -> bytes | None:
        """:meth:`verified_bytes`, or None if the file is missing, unreadable or changed."""
        try:
            return self.verified_bytes(rec, version)
        except E.PluginLoadError:
            return None

    def _record_identity(self, plugin_id: str, version: str, sha: str,
                         identity: list[int]) -> None:
        """Keep a file identity just checked by hashing (records written before it was
        kept, or a file restored or copied with the same bytes): the next load skips it."""
        with self.changing(plugin_id):
            rec = self.records.get(plugin_id)
            vrec = rec.versions.get(version) if rec is not None else None
            if rec is None or vrec is None or vrec.sha256 != sha:
                return
            fresh = replace(vrec, file_identity=identity)
            try:
                self.records.save(replace(rec, versions={**rec.versions, version: fresh}))
            except (OSError, E.WasmbayError) as e:  # the next load hashes it again
                _log.warning("could not record %s %s's file identity: %s", plugin_id,
                             version, e)

    def start(self, rec: PluginRecord, version: str,
              ready: LoadedComponent | None = None,
              progress: ProgressHook | None = None) -> Plugin:
        """A version instantiated and initialized with the plugin's grants and config."""
        return self.runtime.load(
            self.compile(rec, version, ready, progress), plugin_id=rec.plugin_id,
            grants=rec.grants,
            config=rec.config,
            secret_lookup=self.secrets.lookup_for(rec.plugin_id, frozenset(rec.secret_keys)),
            label=version)

    # --- starting and stopping ------------------------------------------------------------

    def load(self, plugin_id: str, *, keep_serving: bool = False,
             ready: LoadedComponent | None = None) -> None:
        """(Re)start a plugin's stable (and canary) version; failures become events.

        With ``keep_serving`` a running plugin answers calls until the new versions
        are ready and is swapped out only then; if they fail, it stays.
        """
        with self.changing(plugin_id):
            rec = self.records.require(plugin_id)
            if rec.enabled:
                self._load(rec, keep_serving, ready)

    def _load(self, rec: PluginRecord, keep_serving: bool,
              ready: LoadedComponent | None) -> None:
        pid, notify = rec.plugin_id, self._notify
        auto = rec.auto_rollback
        run = RunningPlugin(state="loading", router=Router(
            rec.canary_percent, AutoRollback(**auto) if auto else None))
        old = self.running.get(pid)
        beside = keep_serving and old is not None and old.state == "ready"
        if not beside:
            replaced = self.running.put(pid, run)
            if replaced is not None:
                replaced.close()
        progress = ProgressReporter(notify.bus, pid, "load")
        try:
            notify.emit(PluginLoading(pid, 0.1, "verifying", rec.stable))
            progress(CHECKING, 0.1)
            # A compile, if one is needed, reports its own stages (Progress: compiling).
            notify.emit(PluginLoading(pid, 0.3, "loading", rec.stable))
            run.set_stable(self.start(rec, rec.stable, ready, progress))
            notify.emit(PluginLoading(pid, 0.8, "initialized", rec.stable))
            if rec.canary:
                run.set_canary(self.start(rec, rec.canary, ready, progress))
            run.ready()
            if beside:
                replaced = self.running.put(pid, run)
                if replaced is not None:
                    replaced.close()
            notify.emit(PluginLoading(pid, 1.0, "ready", rec.stable))
            progress(READY, 1.0)
            notify.emit(PluginReady(pid, rec.stable, rec.versions[rec.stable].wit_version))
        except E.WasmbayError as e:
            if beside:
                run.close()
                notify.host_log(pid, LogLevel.ERROR,
                                f"version {rec.stable} failed to load ({e}); the running "
                                "version keeps serving")
                serving = old.stable if old is not None else None
                if serving is not None:
                    notify.emit(PluginReady(pid, serving.version, serving.wit_version))
                return
            fix = failure_fix(e, rec.grants, rec.versions[rec.stable].requested,
                              rec.secret_keys)
            if fix is not None and fix != e.fix:  # the CLI's hint says the fix found here
                e.hint = fix.cli_hint
                e.args = (e._render(),)
            e.fix = fix
            run.fail(str(e), e)
            notify.emit(PluginFailed(pid, str(e), kind=e.kind, version=rec.stable, fix=e.fix))
            notify.host_log(pid, LogLevel.ERROR, f"failed to load: {e}")

    def load_all(self, max_workers: int = 4) -> None:
        """Start every enabled plugin in parallel; each reports its own progress."""
        ids = [i for i in self.records.ids() if self.records.require(i).enabled]
        with ThreadPoolExecutor(max_workers=max_workers,
                                thread_name_prefix="wasmbay-load") as pool:
            list(pool.map(self.load, ids))

    def stop(self, plugin_id: str) -> None:
        with self.changing(plugin_id):
            run = self.running.pop(plugin_id)
        if run is not None:
            run.close()

    def ensure_running(self, plugin_id: str) -> RunningPlugin:
        """The plugin's RunningPlugin with a stable version, started on first use."""
        run = self.running.get(plugin_id)
        if run is None:
            rec = self.records.require(plugin_id)
            if not rec.enabled:
                raise E.PluginUnavailableError("is disabled", plugin_id=plugin_id,
                                               hint=f"enable it with `wasmbay enable {plugin_id}`")
            self.load(plugin_id)
            run = self.running.get(plugin_id)
        if run is None or run.stable is None:
            why = (run.reason or run.state) if run is not None else "stopped"
            raise E.PluginUnavailableError(f"is not running: {why}",
                                           plugin_id=plugin_id, hint="fix it and reload")
        return run

    def enable(self, plugin_id: str) -> None:
        with self.changing(plugin_id):
            self.records.save(replace(self.records.require(plugin_id), enabled=True))
            self._notify.emit(PluginEnabled(plugin_id))
            self.load(plugin_id)

    def disable(self, plugin_id: str) -> None:
        with self.changing(plugin_id):
            self.records.save(replace(self.records.require(plugin_id), enabled=False))
            self.stop(plugin_id)
        self._notify.emit(PluginDisabled(plugin_id))
        self._notify.host_log(plugin_id, LogLevel.INFO, "disabled")

    def reload_changed(self, plugin_id: str, fresh: PluginRecord) -> None:
        """Another process changed a plugin's record: serve what it says."""
        with self.changing(plugin_id):
            if not self.records.adopt(fresh):
                return  # our own write
            self._notify.host_log(plugin_id, LogLevel.INFO, "library changed on disk; reloading")
            if fresh.enabled:
                self.load(plugin_id, keep_serving=True)
            else:
                self.stop(plugin_id)

    # --- swapping -----------------------------------------------------------------------

    def swap_stable(self, plugin_id: str, version: str, reason: str,
                    ready: LoadedComponent | None = None) -> None:
        """Serve ``version`` from the running stable Plugin (it warms, then swaps)."""
        with self.changing(plugin_id):
            rec = self.records.require(plugin_id)
            stable = self.ensure_running(plugin_id).stable
            assert stable is not None
            old = stable.version
            stable.reconfigure(loaded=self.compile(rec, version, ready), label=version)
        self._notify.emit(PluginSwapped(plugin_id, old, version, reason))
        self._notify.host_log(plugin_id, LogLevel.INFO, f"swapped {old} -> {version} ({reason})")

    def swap_from_file(self, plugin_id: str, path: Path) -> bool:
        """Load a rebuilt component beside the running one; swap only if it initializes."""
        with self.changing(plugin_id):
            run = self.running.get(plugin_id)
            stable = run.stable if run is not None else None
            if stable is None:
                return False
            try:
                loaded = self.runtime.compile(path, plugin_id=plugin_id,
                                              metered=stable.grants.fuel is not None)
                old = stable.version
                stable.reconfigure(loaded=loaded, label=f"dev-{loaded.info.sha256[:8]}")
            except E.WasmbayError as e:
                self._notify.emit(SwapFailed(plugin_id, str(e), str(path)))
                self._notify.host_log(
                    plugin_id, LogLevel.ERROR,
                    f"rebuild not loaded, the running version keeps serving: {e}")
                return False
        self._notify.emit(PluginSwapped(plugin_id, old, stable.version, "rebuilt"))
        self._notify.host_log(plugin_id, LogLevel.INFO, f"hot-reloaded {path.name}")
        return True

    def dev_link(self, path: Path, grants: Grants | None = None,
                 config: Mapping[str, str] | None = None) -> str:
        """Run a plugin under development straight from its build output (not installed)."""
        plugin_id = f"{slug(path.stem)}-dev"
        with self.changing(plugin_id):
            plugin = self.runtime.load(path, plugin_id=plugin_id, grants=grants or Grants(),
                                       config=dict(config or {}))
            replaced = self.running.put(plugin_id, RunningPlugin(stable=plugin, state="ready"))
            if replaced is not None:
                replaced.close()
        self._notify.emit(PluginReady(plugin_id, plugin.version, plugin.wit_version))
        return plugin_id
