"""The real :class:`~.backend.Backend`: plain-data methods over the core PluginManager.

Runs on the engine thread (and ``call`` on the call pool); everything it returns is a
frozen snapshot, so widgets never hold a live manager. The one exception is opaque: an
:class:`InstallOffer` carries core's checked preview back to :meth:`install` untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from wasmbay.core.contract import ProcessResult
from wasmbay.core.errors import UsageError
from wasmbay.core.events import Event
from wasmbay.core.grants import Grants, request_from_text
from wasmbay.core.manager import PluginManager
from wasmbay.core.manager_events import CanaryRolledBack, PluginFailed, PluginLoading
from wasmbay.core.progress import CancelToken

from .grantsutil import grants_from_capabilities, sandbox_capabilities
from .samples import sample_files
from .snapshots import EMPTY_METRICS, InstallOffer, PluginSnapshot, VersionInfo

if TYPE_CHECKING:
    from wasmbay.core.manager import InstallPreview


class ManagerBackend:
    def __init__(self, manager: PluginManager) -> None:
        self.manager = manager
        self.bus = manager.bus  # for benchmarks that publish as a plugin would
        self._lock = threading.Lock()
        self._progress: dict[str, float] = {}
        self._rollbacks: dict[str, tuple[str, bool]] = {}
        self._failures: dict[str, str] = {}
        manager.subscribe(self._track, PluginLoading, CanaryRolledBack, PluginFailed)

    @classmethod
    def open(cls) -> ManagerBackend:
        return cls(PluginManager())

    def _track(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, PluginLoading):
                self._progress[event.plugin_id] = event.progress
            elif isinstance(event, CanaryRolledBack):
                self._rollbacks[event.plugin_id] = (event.reason, event.automatic)
            elif isinstance(event, PluginFailed):
                self._failures[event.plugin_id] = event.reason

    # --- reading ----------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        return self.manager.subscribe(callback)

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
            rollback = self._rollbacks.get(pid, ("", False))
        requested = tuple(request_from_text(c) for c in rec.versions[rec.stable].requested)
        auto = status.auto_rollback or {}  # settings and the canary's progress
        return PluginSnapshot(
            plugin_id=pid, name=status.name, description=status.description,
            state="loading" if status.state == "stopped" else status.state,
            progress=progress, reason=status.reason, stable=info(status.stable),
            canary=info(status.canary), canary_percent=status.canary_percent,
            auto_rollback_threshold=float(auto.get("max_error_rate", 0.0)),
            auto_rollback_min_calls=int(auto.get("min_calls", 5)),
            auto_rollback_progress=str(auto.get("summary", "")),
            last_rollback=rollback[0], last_rollback_automatic=rollback[1],
            grants=rec.grants, config=tuple(sorted(rec.config.items())),
            secret_keys=tuple(rec.secret_keys), data_dir=self._data_dir(pid),
            wit_version=status.wit_version, requested=requested, versions=status.versions)

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
        return self._install(_checked(offer), capabilities, accept_publisher_change,
                             allow_downgrade, cancel)

    def _granted(self, plugin_id: str, capabilities: list[str]) -> list[str]:
        """The ticked capabilities as core grant strings, over the plugin's current grants."""
        ids = self.manager.ids()
        base = self.manager.record(plugin_id).grants if plugin_id in ids else Grants()
        return grants_from_capabilities(capabilities, base).capabilities()

    def _install(self, preview: InstallPreview, capabilities: list[str],
                 accept_publisher_change: bool = False, allow_downgrade: bool = False,
                 cancel: CancelToken | None = None) -> str:
        """Core installs the bytes the preview checked: no second read or compile."""
        granted = self._granted(preview.plugin_id, capabilities)
        status = self.manager.install(preview, grants=granted,
                                      accept_publisher_change=accept_publisher_change,
                                      allow_downgrade=allow_downgrade, cancel=cancel)
        return status.plugin_id

    def install_samples(self) -> list[str]:
        installed = []
        for path in sample_files():
            preview = self.manager.preview(path)
            if preview.is_update:
                continue
            caps = sandbox_capabilities(preview.requested,
                                        self.manager.library.files_dir(preview.plugin_id))
            installed.append(self._install(preview, caps))
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
        return self.manager.call(plugin_id, text, options, request_id or None)

    def start_canary(self, offer: InstallOffer, capabilities: list[str], percent: int,
                     accept_publisher_change: bool = False,
                     allow_downgrade: bool = False) -> str:
        """Start exactly the file the user consented to as a canary, as :meth:`install`."""
        preview = _checked(offer)
        return self.manager.start_canary(
            preview.plugin_id, preview, percent,
            grants=self._granted(preview.plugin_id, capabilities),
            accept_publisher_change=accept_publisher_change, allow_downgrade=allow_downgrade)

    def set_canary_percent(self, plugin_id: str, percent: int) -> None:
        self.manager.set_canary_percent(plugin_id, percent)

    def promote(self, plugin_id: str) -> None:
        self.manager.promote(plugin_id)

    def rollback(self, plugin_id: str) -> None:
        self.manager.rollback(plugin_id)

    def set_rollback_threshold(self, plugin_id: str, error_rate: float,
                               min_calls: int = 5) -> None:
        self.manager.set_auto_rollback(plugin_id, error_rate if error_rate > 0 else None,
                                       min_calls=min_calls)

    def close(self) -> None:
        self.manager.close()


def _checked(offer: InstallOffer) -> InstallPreview:
    """Core's preview inside an offer; an offer not made by :meth:`preview` is refused."""
    if offer.preview is None:
        raise UsageError("this install offer was not made by preview()",
                         plugin_id=offer.plugin_id, hint="open the file again")
    return offer.preview
