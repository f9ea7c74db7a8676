"""The real :class:`~.backend.Backend`: plain-data methods over the core PluginManager.

Runs on the engine thread (and ``call`` on the call pool); everything it returns is a
frozen snapshot, so widgets never hold a live manager. The one exception is opaque: an
:class:`InstallOffer` carries core's checked preview back to :meth:`install` untouched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wasmbay.core.contract import ProcessResult
from wasmbay.core.errors import Fix, UsageError, WasmbayError
from wasmbay.core.events import Event
from wasmbay.core.grants import Grants, request_from_text
from wasmbay.core.library import PluginRecord
from wasmbay.core.manager import PluginManager, PluginStatus
from wasmbay.core.manager_events import (
    OPTIMIZED,
    CanaryPromoted,
    CanaryRolledBack,
    CanaryStarted,
    ConfigChanged,
    PluginFailed,
    PluginLoading,
    Progress,
)
from wasmbay.core.progress import CancelToken

from .grantsutil import grants_from_capabilities, sandbox_capabilities
from .samples import sample_config, sample_files
from .snapshots import (
    EMPTY_METRICS,
    LOADING,
    InstallOffer,
    PluginRow,
    PluginSnapshot,
    RollbackEvidence,
    VersionDetail,
    VersionInfo,
)

if TYPE_CHECKING:
    from wasmbay.core.manager import InstallPreview


class ManagerBackend:
    def __init__(self, manager: PluginManager) -> None:
        self.manager = manager
        self.bus = manager.bus  # for benchmarks that publish as a plugin would
        self._lock = threading.Lock()
        self._progress: dict[str, float] = {}
        #: The last rollback per plugin, shown while the versions are what it left.
        self._rollbacks: dict[str, _Rollback] = {}
        self._failures: dict[str, str] = {}
        #: The latest Progress stage of each plugin and when it began (monotonic).
        self._stages: dict[str, tuple[str, float]] = {}
        #: The window's subscribers, which also hear the GUI-only PluginRow events.
        self._listeners: list[Callable[[Event], None]] = []
        #: Per plugin: when its secrets were looked up, those missing, a keyring problem.
        self._secret_checks: dict[str, tuple[float, tuple[str, ...], str]] = {}
        #: Per plugin: the last call's error and core's fix, until a call succeeds.
        self._call_failures: dict[str, tuple[str, Fix | None]] = {}
        manager.subscribe(self._forget_secret_check, ConfigChanged)
        manager.subscribe(self._track, PluginLoading, CanaryRolledBack, PluginFailed, Progress,
                          CanaryStarted, CanaryPromoted)

    @classmethod
    def open(cls) -> ManagerBackend:
        return cls(PluginManager())

    def _track(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, PluginLoading):
                self._progress[event.plugin_id] = event.progress
            elif isinstance(event, CanaryRolledBack):
                self._rollbacks[event.plugin_id] = _Rollback(
                    event.version, event.reason, event.automatic, self._stable(event.plugin_id))
            elif isinstance(event, CanaryStarted | CanaryPromoted):  # a newer change
                self._rollbacks.pop(event.plugin_id, None)
            elif isinstance(event, PluginFailed):
                self._failures[event.plugin_id] = event.reason
            elif isinstance(event, Progress) and event.operation != "preview":
                # a preview's subject is a file path, not a plugin: no row shows it
                if event.stage == OPTIMIZED:
                    self._stages.pop(event.plugin_id, None)
                else:
                    self._stages[event.plugin_id] = (event.stage, time.monotonic())

    def _stable(self, plugin_id: str) -> str | None:
        """The stable version now (right after a rollback: the one it left serving)."""
        try:
            return self.manager.record(plugin_id).stable
        except Exception:  # uninstalled meanwhile
            return None

    def _current_rollback(self, pid: str, stable: str, canary: str | None) -> _Rollback | None:
        """The last rollback, if nothing changed the versions since (a promote, a new
        canary or a rollback from another process, e.g. the CLI): then it is forgotten."""
        with self._lock:
            rollback = self._rollbacks.get(pid)
            if rollback is not None and (canary is not None or stable != rollback.stable):
                del self._rollbacks[pid]
                rollback = None
        return rollback

    # --- reading ----------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        unsubscribe = self.manager.subscribe(callback)
        self._listeners.append(callback)

        def both() -> None:
            unsubscribe()
            if callback in self._listeners:
                self._listeners.remove(callback)

        return both

    def _show_row(self, row: PluginRow) -> None:
        """Hand a row to the window now (its verb still runs; no poll comes meanwhile)."""
        for callback in list(self._listeners):
            callback(row)

    def snapshots(self) -> list[PluginSnapshot]:
        out = []
        for pid in self.manager.ids():
            try:
                out.append(self._snapshot(pid))
            except Exception:  # removed meanwhile
                continue
        return out

    def _snapshot(self, pid: str) -> PluginSnapshot:
        m = self.manager
        status = m.status(pid)
        rec = m.record(pid)
        metrics = m.metrics_snapshots(pid)

        def info(version: str | None) -> VersionInfo | None:
            if version is None:
                return None
            return VersionInfo(version, metrics.get(version, EMPTY_METRICS),
                               rec.versions[version].sha256)

        with self._lock:
            progress = self._progress.get(pid, 1.0 if status.state == "ready" else 0.0)
            stage, since = self._stages.get(pid, ("", 0.0))
        ver = rec.versions[rec.stable]
        requested = tuple(replace(request_from_text(c), reason=ver.reasons.get(c, ""))
                          for c in ver.requested)  # with the plugin's reasons (Details)
        auto = status.auto_rollback or {}  # settings and the canary's progress
        rollback = self._current_rollback(pid, status.stable, status.canary)
        return PluginSnapshot(
            plugin_id=pid, name=status.name, description=status.description,
            state="loading" if status.state == "stopped" else status.state,
            progress=progress, reason=status.reason, stable=info(status.stable),
            canary=info(status.canary), canary_percent=status.canary_percent,
            auto_rollback_threshold=float(auto.get("max_error_rate", 0.0)),
            auto_rollback_min_calls=int(auto.get("min_calls", 5)),
            auto_rollback_progress=str(auto.get("summary", "")),
            auto_rollback_confidence=float(auto.get("confidence", 0.95)),
            auto_rollback_evidence=_evidence(auto),
            last_rollback=rollback.reason if rollback else "",
            last_rollback_automatic=bool(rollback and rollback.automatic),
            last_rollback_version=rollback.version if rollback else "",
            previous_stable=status.previous_stable or "",
            grants=rec.grants, config=tuple(sorted(rec.config.items())),
            secret_keys=tuple(rec.secret_keys), data_dir=self._data_dir(pid),
            wit_version=status.wit_version, requested=requested, versions=status.versions,
            stage=stage, stage_since=since, **self._details(pid, status, rec))

    def _details(self, pid: str, status: PluginStatus, rec: PluginRecord) -> dict[str, Any]:
        """The Details tab's and the fix buttons' fields of a snapshot (gui.widgets.details)."""
        roles = {rec.stable: "stable", rec.canary: "canary",
                 rec.previous_stable: "previous stable"}
        versions = tuple(VersionDetail(v.version, v.installed_at, v.size, v.signed_by,
                                       roles.get(v.version, ""))
                         for v in sorted(rec.versions.values(),
                                         key=lambda v: v.installed_at, reverse=True))
        missing, problem = self._missing_secrets(pid, bool(rec.secret_keys))
        with self._lock:
            failed = self._call_failures.get(pid, ("", None))
        return {"fix": status.fix, "reason_detail": status.reason_detail,
                "publisher": status.publisher, "size": rec.versions[rec.stable].size,
                "tier": status.tier, "version_details": versions,
                "config_read": status.config_read, "secrets_missing": missing,
                "keyring_problem": problem, "call_failure": failed[0], "call_fix": failed[1]}

    #: How long a keyring lookup's answer is reused (the window polls twice a second).
    SECRET_CHECK_S = 2.0

    def _missing_secrets(self, pid: str, has_secrets: bool) -> tuple[tuple[str, ...], str]:
        """The secret keys the keyring lacks, looked up for real (D-Bus) on this, the
        engine thread, at most every SECRET_CHECK_S per plugin and after each change."""
        if not has_secrets:
            return (), ""
        now = time.monotonic()
        with self._lock:
            cached = self._secret_checks.get(pid)
        if cached is not None and now - cached[0] < self.SECRET_CHECK_S:
            return cached[1], cached[2]
        try:
            answer: tuple[tuple[str, ...], str] = (self.manager.missing_secrets(pid), "")
        except WasmbayError as e:
            answer = ((), str(e))
        with self._lock:
            self._secret_checks[pid] = (now, *answer)
        return answer

    def _forget_secret_check(self, event: Event) -> None:
        with self._lock:
            self._secret_checks.pop(event.plugin_id, None)

    def preview(self, path: str, plugin_id: str | None = None,
                cancel: CancelToken | None = None) -> InstallOffer:
        p = self.manager.preview(Path(path), plugin_id, cancel=cancel)
        current = None
        if p.is_update:
            current = self.manager.record(p.plugin_id).grants
        return InstallOffer(path, p.plugin_id, p.metadata.name, p.metadata.version,
                            p.metadata.description, p.wit_version, p.sha256,
                            Path(path).stat().st_size, p.requested, current,
                            p.current_version or "", p.signed_by, p.trust_changes, p)

    def _data_dir(self, plugin_id: str) -> str:
        d = self.manager.library.files_dir(plugin_id)
        d.mkdir(parents=True, exist_ok=True)
        return str(d)

    # --- commands ---------------------------------------------------------------------

    def load_all(self) -> None:
        self.manager.load_all()
        self.manager.watch()

    def install(self, offer: InstallOffer, capabilities: list[str],
                accept_publisher_change: bool = False, allow_downgrade: bool = False,
                cancel: CancelToken | None = None) -> str:
        """Install exactly the file the user consented to: the preview they were shown."""
        if offer.plugin_id not in self.manager.ids():  # its row shows the install's stages
            self._show_row(PluginRow(offer.plugin_id, PluginSnapshot(
                offer.plugin_id, name=offer.name, description=offer.description,
                state=LOADING, stage="installing", stage_since=time.monotonic())))
        return self._install(_checked(offer), capabilities, accept_publisher_change,
                             allow_downgrade, cancel)

    def _granted(self, plugin_id: str, capabilities: list[str]) -> list[str]:
        """The ticked capabilities as core grant strings, over the plugin's current grants."""
        ids = self.manager.ids()
        base = self.manager.record(plugin_id).grants if plugin_id in ids else Grants()
        return grants_from_capabilities(capabilities, base).capabilities()

    def _install(self, preview: InstallPreview, capabilities: list[str],
                 accept_publisher_change: bool = False, allow_downgrade: bool = False,
                 cancel: CancelToken | None = None, start: bool = True) -> str:
        """Core installs the bytes the preview checked: no second read or compile."""
        granted = self._granted(preview.plugin_id, capabilities)
        status = self.manager.install(preview, grants=granted,
                                      accept_publisher_change=accept_publisher_change,
                                      allow_downgrade=allow_downgrade, cancel=cancel,
                                      start=start)
        return status.plugin_id

    def install_samples(self, cancel: CancelToken | None = None) -> list[str]:
        """Install every bundled sample not installed yet, one after another.

        ``cancel`` stops it between samples and stages; the samples installed before stay.

        Each sample's row shows at once, waiting, and then its own stages: a placeholder
        keyed by the file's path (its preview's Progress events carry that path) until the
        preview names the plugin. Placeholders left by a failure go at the next poll.
        """
        installed = []
        paths = sample_files()
        for path in paths:
            self._show_row(PluginRow(str(path), PluginSnapshot(
                str(path), name=path.stem.replace("_", " "), state=LOADING, stage="waiting",
                stage_since=time.monotonic())))
        for path in paths:
            preview = self.manager.preview(path, cancel=cancel)
            if preview.is_update:
                self._show_row(PluginRow(str(path), None))
                continue
            self._show_row(PluginRow(preview.plugin_id, PluginSnapshot(
                preview.plugin_id, name=preview.metadata.name,
                description=preview.metadata.description, state=LOADING, progress=0.1,
                stage="installing", stage_since=time.monotonic()), replaces=str(path)))
            folder = self.manager.library.files_dir(preview.plugin_id)
            caps = sandbox_capabilities(preview.requested, folder)
            # a sample that needs a setting gets a working one before its first start
            defaults = sample_config(preview.plugin_id, folder)
            installed.append(self._install(preview, caps, cancel=cancel, start=not defaults))
            for key, value in defaults.items():
                self.manager.set_config(preview.plugin_id, key, value)
            if defaults:
                self.manager.load(preview.plugin_id)
            self._show_row(PluginRow(preview.plugin_id, self._snapshot(preview.plugin_id)))
        return installed

    def uninstall(self, plugin_id: str) -> None:
        self.manager.uninstall(plugin_id)

    def enable(self, plugin_id: str) -> None:
        self.manager.enable(plugin_id)

    def disable(self, plugin_id: str) -> None:
        self.manager.disable(plugin_id)

    def reload(self, plugin_id: str) -> None:
        self.manager.load(plugin_id)

    def set_grants(self, plugin_id: str, grants: Grants) -> None:
        self.manager.set_grants(plugin_id, grants)

    def set_config(self, plugin_id: str, key: str, value: str, secret: bool) -> None:
        self.manager.set_config(plugin_id, key, value, secret=secret)

    def remove_config(self, plugin_id: str, key: str) -> None:
        self.manager.remove_config(plugin_id, key)

    def call(self, plugin_id: str, text: str, options: list[tuple[str, str]],
             request_id: str) -> ProcessResult:
        try:
            result = self.manager.call(plugin_id, text, options, request_id or None)
        except WasmbayError as e:
            self._call_failed(plugin_id, e.message, None)
            raise
        if result.success:
            self._call_failed(plugin_id, "", None)
        else:
            self._call_failed(plugin_id, result.error or "failed", result.fix)
        return result

    def _call_failed(self, plugin_id: str, error: str, fix: Fix | None) -> None:
        """Remember a failed call for the Details tab (from the call pool's threads)."""
        with self._lock:
            if error:
                self._call_failures[plugin_id] = (error, fix)
            else:
                self._call_failures.pop(plugin_id, None)

    def start_canary(self, offer: InstallOffer, capabilities: list[str], percent: int,
                     accept_publisher_change: bool = False,
                     allow_downgrade: bool = False, cancel: CancelToken | None = None) -> str:
        """Start exactly the file the user consented to as a canary, as :meth:`install`."""
        preview = _checked(offer)
        return self.manager.start_canary(
            preview.plugin_id, preview, percent,
            grants=self._granted(preview.plugin_id, capabilities),
            accept_publisher_change=accept_publisher_change, allow_downgrade=allow_downgrade,
            cancel=cancel)

    def set_canary_percent(self, plugin_id: str, percent: int) -> None:
        self.manager.set_canary_percent(plugin_id, percent)

    def promote(self, plugin_id: str) -> None:
        self.manager.promote(plugin_id)

    def rollback(self, plugin_id: str) -> None:
        self.manager.rollback(plugin_id)

    def set_rollback_threshold(self, plugin_id: str, error_rate: float,
                               min_calls: int = 5, confidence: float = 0.95) -> None:
        self.manager.set_auto_rollback(plugin_id, error_rate if error_rate > 0 else None,
                                       min_calls=min_calls, confidence=confidence)

    def close(self) -> None:
        self.manager.close()


@dataclass(frozen=True, slots=True)
class _Rollback:
    version: str  # the version it dropped
    reason: str
    automatic: bool
    stable: str | None  # the stable version it left serving


def _evidence(auto: dict[str, Any]) -> RollbackEvidence | None:
    """Core's assessment of the canary (core.canary.progress) as plain data, or None
    while automatic rollback is off."""
    if not auto:
        return None
    return RollbackEvidence(
        calls=int(auto.get("calls", 0)), failures=int(auto.get("failures", 0)),
        error_rate=float(auto.get("error_rate", 0.0)),
        lower_bound=float(auto.get("lower_bound", 0.0)),
        decision=str(auto.get("decision", "no canary")), version=str(auto.get("version") or ""))


def _checked(offer: InstallOffer) -> InstallPreview:
    """Core's preview inside an offer; an offer not made by :meth:`preview` is refused."""
    if offer.preview is None:
        raise UsageError("this install offer was not made by preview()",
                         plugin_id=offer.plugin_id, hint="open the file again")
    return offer.preview
