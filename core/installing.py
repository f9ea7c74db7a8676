"""Installing: a candidate file is read and checked once, then stored as a version.

:meth:`Installer.read` reads a .wasm or a package, compiles it and reads its metadata
from one throwaway instance; the :class:`Candidate` keeps the bytes and the compiled
component. :meth:`Installer.preview` compares it with what is installed (an update?
more capabilities? another publisher?). That :class:`InstallPreview` goes to the user
for consent and then back to :meth:`Installer.install`, which compares again with the
library as it is *now* (no file read, compile or instance) and stores the very bytes
that were checked and shown. Uninstalling is here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import errors as E
from .cachekeeper import CacheKeeper
from .canary import Canary
from .component import LoadedComponent
from .contract import CapabilityRequest, PluginMetadata
from .events import LogLevel
from .grants import GrantDiff, Grants, covered, parse_capability_request, request_grants
from .instance import Generation, PluginInstance
from .library import PluginRecord, check_version, new_version_record, slug, with_build_suffix
from .logstore import LogStore
from .manager_events import (
    CHECKING,
    COMPILING_FAST,
    OPTIMIZING,
    READING,
    READY,
    Notifier,
    PluginInstalled,
    PluginUninstalled,
)
from .package import is_package, read_package
from .progress import CancelToken, ProgressReporter
from .publisher import TrustChange, refuse_unaccepted, trust_changes
from .records import Records
from .resources import ResourceWatch
from .runtime import Runtime, read_component_file
from .secrets import SecretStore
from .untrusted import check_requests
from .versions import Versions


@dataclass(frozen=True, eq=False)
class Candidate:
    """A component (or package) read, compiled and asked for its metadata: once."""

    path: Path
    plugin_id: str
    metadata: PluginMetadata
    requested: tuple[CapabilityRequest, ...]
    signed_by: str | None
    #: The bytes that were checked: what gets stored (the file may change meanwhile).
    wasm: bytes = field(repr=False)
    loaded: LoadedComponent = field(repr=False)

    @property
    def sha256(self) -> str:
        return self.loaded.info.sha256

    @property
    def wit_version(self) -> int:
        return int(self.loaded.info.contract.major)


@dataclass(frozen=True)
class InstallPreview:
    """What installing a file would do, shown before anything is written.

    Pass it back to ``PluginManager.install`` (or ``start_canary``): it carries the
    checked :class:`Candidate`, so the file is not read, compiled or instantiated again.
    """

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
    candidate: Candidate = field(kw_only=True, repr=False, compare=False)

    @property
    def path(self) -> Path:
        return self.candidate.path

    def to_dict(self) -> dict[str, Any]:
        return {"plugin_id": self.plugin_id, "metadata": self.metadata.to_dict(),
                "wit_version": self.wit_version, "sha256": self.sha256,
                "requested": [c.to_dict() for c in self.requested],
                "is_update": self.is_update, "current_version": self.current_version,
                "escalation": list(self.escalation), "signed_by": self.signed_by,
                "current_signed_by": self.current_signed_by,
                "trust_changes": [c.to_dict() for c in self.trust_changes]}


class Installer:
    def __init__(self, runtime: Runtime, records: Records, versions: Versions, canary: Canary,
                 secrets: SecretStore, resource_watch: ResourceWatch, notify: Notifier, *,
                 trusted_keys: Path, logs: LogStore | None) -> None:
        self.runtime = runtime
        self.records = records
        self.library = records.library
        self.versions = versions
        self.canary = canary
        self.secrets = secrets
        self.resource_watch = resource_watch
        self.trusted_keys = trusted_keys
        self._notify = notify
        self._logs = logs
        self.cache_keeper = CacheKeeper(runtime.cache, records)

    # --- reading and checking -----------------------------------------------------------

    def reporter(self, subject: str, operation: str,
                 cancel: CancelToken | None = None) -> ProgressReporter:
        """The Progress events of one preview or install, published on the manager's bus."""
        return ProgressReporter(self._notify.bus, subject, operation, cancel)

    def read(self, path: Path, plugin_id: str | None = None, *,
             progress: ProgressReporter | None = None) -> Candidate:
        """Validate a .wasm or package completely, without touching the library.

        ``progress`` hears the stages and is checked for cancellation between them. A
        cancel during the compile (which cannot be interrupted) discards its result and
        the compiled artefact it added to the cache.
        """
        progress = progress or self.reporter(str(path), "preview")
        progress.report(READING)
        wasm, manifest, signed_by = self._read_source(path)
        named = plugin_id or path.stem
        progress.report(CHECKING)
        loaded = self.runtime.compile(wasm, plugin_id=named, progress=progress)
        try:
            progress.check()
            metadata = self._metadata(loaded, named)
            progress.check()
            pid = plugin_id or (str(manifest["id"]) if manifest else slug(metadata.name))
            requested = self._requested(manifest, metadata, loaded, pid)
        except BaseException:  # a refused file keeps no code this operation compiled
            self._discard(progress, loaded)
            raise
        # Every check passed: its optimized code compiles in the background from now on
        # (started no sooner: a background compile cannot be stopped, nor its write undone
        # safely, if a later check refused the file).
        self.runtime.optimize_soon(loaded, lambda: not (progress.cancel is not None
                                                        and progress.cancel.cancelled))
        progress.report(READY, 1.0, check=False)
        return Candidate(path, pid, metadata, requested, signed_by, wasm, loaded)

    def _requested(self, manifest: dict[str, Any] | None, metadata: PluginMetadata,
                   loaded: LoadedComponent, pid: str) -> tuple[CapabilityRequest, ...]:
        """The capabilities the plugin asks for (its manifest's, else its metadata's)."""
        if manifest is not None:
            if int(str(manifest["wit_version"])) != loaded.info.contract.major:
                raise E.PluginLoadError(
                    f"manifest says WIT version {manifest['wit_version']} but the component "
                    f"targets {loaded.info.contract.major}", plugin_id=pid,
                    hint="rebuild the package")
            # a malformed request is the plugin's BadCapabilityRequestError
            requested = tuple(parse_capability_request(c, pid)
                              for c in manifest.get("capabilities", []))
            check_requests(requested, pid)  # a manifest is plugin text too
            return requested
        for c in metadata.capabilities:  # a malformed request is the plugin's error
            parse_capability_request(c.text, pid)
        return metadata.capabilities

    def _discard(self, progress: ProgressReporter, loaded: LoadedComponent) -> None:
        """A cancelled or refused operation keeps no compiled code it produced itself."""
        if {COMPILING_FAST, OPTIMIZING} & set(progress.stages):  # this operation compiled it
            self.runtime.cache.evict(loaded.info.sha256)  # every tier

    def _checkpoint(self, progress: ProgressReporter, cand: Candidate) -> None:
        try:
            progress.check()
        except E.CancelledError:
            self._discard(progress, cand.loaded)
            raise

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

    def preview(self, path: Path, plugin_id: str | None = None, *,
                cancel: CancelToken | None = None) -> InstallPreview:
        return self.compare(self.read(path, plugin_id,
                                      progress=self.reporter(str(path), "preview", cancel)))

    def compare(self, cand: Candidate) -> InstallPreview:
        """What installing ``cand`` would change, against the library as it is now."""
        rec = self.records.get(cand.plugin_id)
        escalation: tuple[str, ...] = ()
        changes: tuple[TrustChange, ...] = ()
        current_signer = None
        if rec is not None:
            escalation = tuple(c.text for c in cand.requested if not covered(rec.grants, c.text))
            current_signer = rec.versions[rec.stable].signed_by
            changes = trust_changes(rec.stable, current_signer, cand.metadata.version,
                                    cand.signed_by)
        return InstallPreview(cand.plugin_id, cand.metadata, cand.wit_version, cand.sha256,
                              cand.requested, rec is not None, rec.stable if rec else None,
                              escalation, cand.signed_by, changes, current_signer,
                              candidate=cand)

    def _candidate(self, source: Path | str | InstallPreview, plugin_id: str | None,
                   progress: ProgressReporter | None = None) -> Candidate:
        if not isinstance(source, InstallPreview):
            return self.read(Path(source), plugin_id, progress=progress)
        if plugin_id is not None and plugin_id != source.plugin_id:
            raise E.UsageError(f"the preview is of plugin '{source.plugin_id}', not "
                               f"'{plugin_id}'", plugin_id=plugin_id,
                               hint="preview the file again with that id")
        return source.candidate

    # --- installing ---------------------------------------------------------------------

    def install(self, source: Path | str | InstallPreview, *, grants: Sequence[str] = (),
                accept_requested: bool = False, plugin_id: str | None = None,
                start: bool = True, accept_publisher_change: bool = False,
                allow_downgrade: bool = False, cancel: CancelToken | None = None) -> str:
        """Store the candidate as the plugin's stable version and start it; returns its id.

        ``cancel`` is honoured until the version is written (then the install completes):
        a cancelled install raises CancelledError and has stored nothing.
        """
        subject = source.plugin_id if isinstance(source, InstallPreview) else str(source)
        progress = self.reporter(subject, "install", cancel)
        cand = self._candidate(source, plugin_id, progress)
        pid = cand.plugin_id
        progress.subject = pid
        with self.versions.changing(pid):
            existing = self.records.get(pid)
            preview = self.compare(cand)  # the library may have changed since the preview
            self._checkpoint(progress, cand)  # the last point of return: _admit writes
            rec, version = self._admit(
                preview, existing, grants, what=f"version {cand.metadata.version}",
                accept_requested=accept_requested,
                accept_publisher_change=accept_publisher_change, allow_downgrade=allow_downgrade)
            if existing is not None:
                if existing.stable == version:
                    raise E.UsageError(f"version {version} is already installed",
                                       plugin_id=pid, hint="nothing to do")
                rec = replace(rec, previous_stable=existing.stable, stable=version)
                self.records.save(rec)
            self._notify.emit(PluginInstalled(pid, version, tuple(c.text for c in cand.requested),
                                              tuple(rec.grants.capabilities())))
            self._notify.host_log(pid, LogLevel.INFO, f"installed version {version}")
            self.cache_keeper.keep_within_cap()  # its own entry is referenced now
            if start and rec.enabled:
                if existing is not None and pid in self.versions.running:
                    self._serve_update(rec, existing, version, cand.loaded)
                else:  # a failure leaves it installed with state "failed" + reason
                    self.versions.load(pid, ready=cand.loaded)
            progress.report(READY, 1.0, check=False)
        return pid

    def _serve_update(self, rec: PluginRecord, existing: PluginRecord, version: str,
                      loaded: LoadedComponent) -> None:
        try:
            self.versions.swap_stable(rec.plugin_id, version, reason="updated", ready=loaded)
        except E.WasmbayError as e:  # kept as a version; the old one stays stable
            self.records.save(replace(rec, stable=existing.stable,
                                      previous_stable=existing.previous_stable))
            raise E.InitializeError(
                f"version {version} was stored but did not start ({e.message}); "
                f"{existing.stable} keeps serving", plugin_id=rec.plugin_id,
                hint=e.hint or "fix the plugin or its grants and install again") from e

    def start_canary(self, plugin_id: str, source: Path | str | InstallPreview, percent: int, *,
                     grants: Sequence[str] = (), accept_requested: bool = False,
                     accept_publisher_change: bool = False,
                     allow_downgrade: bool = False, cancel: CancelToken | None = None) -> str:
        """Store a version beside the stable one and route ``percent`` of calls to it.

        ``grants`` are what the user approved of the canary's new requests (the plugin
        keeps them, as an update install would). ``cancel`` is honoured until the version
        is written, as for :meth:`install`: a cancelled start has stored nothing."""
        if not 0 <= percent <= 100:
            raise E.UsageError("the canary percentage must be 0 to 100", plugin_id=plugin_id,
                               hint="e.g. --percent 10")
        self.records.require(plugin_id)
        progress = self.reporter(plugin_id, "canary", cancel)
        cand = self._candidate(source, plugin_id, progress)
        with self.versions.changing(plugin_id):  # may wait for another change to finish
            existing = self.records.require(plugin_id)
            preview = self.compare(cand)
            self._checkpoint(progress, cand)  # the last point of return: _admit writes
            rec, version = self._admit(
                preview, existing, grants, what=f"canary {cand.metadata.version}",
                accept_requested=accept_requested,
                accept_publisher_change=accept_publisher_change, allow_downgrade=allow_downgrade)
            started = self.canary.start(rec, version, percent, ready=cand.loaded)
            progress.report(READY, 1.0, check=False)
            return started

    def _admit(self, preview: InstallPreview, existing: PluginRecord | None,
               grants: Sequence[str], *, what: str, accept_requested: bool,
               accept_publisher_change: bool, allow_downgrade: bool) -> tuple[PluginRecord, str]:
        """The checks an update passes before anything is written, then the version stored.

        Trust changes must be accepted; every requested capability must be granted (by
        ``grants``, ``accept_requested`` or before). Returns the record and the version.
        """
        pid = preview.plugin_id
        check_version(preview.metadata.version, pid)  # a version is never a path
        if existing is not None:  # before anything (grants, folders, versions) is written
            refuse_unaccepted(pid, preview.trust_changes, what=what,
                              accept_publisher_change=accept_publisher_change,
                              allow_downgrade=allow_downgrade)
        granted = (existing.grants if existing else Grants()).grant_all(list(grants))
        if accept_requested:
            granted = self._grant_requested(pid, granted, preview.requested)
        missing = [c for c in preview.escalation if not covered(granted, c)]
        if missing:  # updates only: a new plugin has no escalation
            raise E.PermissionEscalationError(
                f"{what} asks for more than the plugin was granted: "
                f"{GrantDiff(added=tuple(missing)).text}", plugin_id=pid, escalation=missing)
        return self._add_version(preview.candidate, existing, granted)

    def _add_version(self, cand: Candidate, existing: PluginRecord | None,
                     grants: Grants) -> tuple[PluginRecord, str]:
        """Store the component as a version (reusing an identical one); stable unchanged."""
        pid = cand.plugin_id
        version = check_version(cand.metadata.version, pid)
        if existing is not None:
            same = [v for v, r in existing.versions.items() if r.sha256 == cand.sha256]
            if same:
                rec = replace(existing, grants=grants)
                self.records.save(rec)
                return rec, same[0]
            taken = {v.lower() for v in existing.versions}  # one folder per version, any FS
            if version.lower() in taken:
                version = with_build_suffix(version, cand.sha256)
            if version.lower() in taken:
                raise E.BadMetadataError(
                    f"version {version} is already installed with other content",
                    plugin_id=pid, hint="the plugin's author must bump its version")
        vrec = new_version_record(version, cand.sha256, cand.metadata.name,
                                  cand.metadata.description, cand.wit_version,
                                  [c.text for c in cand.requested], len(cand.wasm),
                                  signed_by=cand.signed_by,
                                  reasons={c.text: c.reason for c in cand.requested if c.reason})
        if existing is None:
            rec = PluginRecord(pid, {version: vrec}, stable=version, grants=grants)
        else:
            rec = replace(existing, versions={**existing.versions, version: vrec}, grants=grants)
        self.records.add_version(rec, vrec, cand.wasm, new=existing is None)
        return rec, version

    def _grant_requested(self, pid: str, grants: Grants,
                         requested: Sequence[CapabilityRequest]) -> Grants:
        """Grant what the plugin requests; a folder gets a private one the host names."""
        wanted = [c for c in requested if not covered(grants, c.text)]
        return grants.grant_all(request_grants(wanted, self.library.files_dir(pid),
                                               plugin_id=pid))

    # --- uninstalling -------------------------------------------------------------------

    def uninstall(self, plugin_id: str) -> None:
        """Stop it, forget its secrets, files and logs; a damaged entry is removed too.

        Its compiled code stays cached (keyed by content, so a reinstall of the same
        bytes compiles nothing) until the cache's size cap needs the room (core.cachekeeper).
        """
        with self.versions.changing(plugin_id):
            if self.records.is_damaged(plugin_id):
                # Its record cannot be read, so neither can the names of its secrets:
                # those stay in the keyring (harmless, unreadable by other plugins).
                secret_keys: list[str] = []
            else:
                secret_keys = list(self.records.require(plugin_id).secret_keys)
            self.versions.stop(plugin_id)
            for key in secret_keys:
                self.secrets.delete(plugin_id, key)
            self.library.remove(plugin_id)
            self.resource_watch.forget(plugin_id)
            self.records.forget(plugin_id)
            self.cache_keeper.keep_within_cap()
        if self._logs:
            self._logs.remove(plugin_id)
        self._notify.emit(PluginUninstalled(plugin_id))
