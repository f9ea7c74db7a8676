"""The installed plugins on disk, each version kept side by side.

Layout under ``<data>/plugins/<id>/``: ``state.json`` (versions, grants, plain config,
which keys are secret, enabled, rollout) and ``versions/<version>/component.wasm``. The
private folders a plugin may be granted live apart, under ``<data>/files/<id>/``, so no
grant of one can ever contain the library's own records (``Library.save`` refuses any
grant that would). Everything read back from disk is validated like hostile input: ids,
versions (strict SemVer, never a path) and the full shape of ``state.json``.
Every change is atomic: a new plugin is assembled in a staging folder and renamed into
place; a new version's component is written (fsync, rename) before the state that
refers to it. A crash therefore leaves either the old state or the new one, plus at
most an unreferenced staging folder or version, which the next load removes.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
import uuid
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import BadMetadataError, LibraryEntryError, UsageError
from .grants import DEFAULT_DISK_QUOTA, DEFAULT_MEMORY, DEFAULT_TIMEOUT, DirGrant, Grants
from .paths import atomic_write_bytes
from .rollout import DEFAULT_CONFIDENCE, AutoRollback

STATE = "state.json"
STATE_FORMAT = 1


@dataclass
class VersionRecord:
    version: str
    sha256: str
    name: str
    description: str
    wit_version: int
    installed_at: float
    requested: list[str] = field(default_factory=list)
    size: int = 0
    #: Fingerprint of the trusted key that signed this version; None if unsigned (and in
    #: state files written before signers were recorded). The stable one's is the publisher.
    signed_by: str | None = None
    #: The stored component file's identity when its sha256 was last checked
    #: (:func:`file_identity`); while it is unchanged a load need not re-hash the file.
    #: None in records written before it was kept: the next load hashes and records it.
    file_identity: list[int] | None = None
    #: Why the plugin asked for each requested capability (request text -> its reason,
    #: plugin text), shown after install; empty in records written before it was kept.
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass
class PluginRecord:
    plugin_id: str
    versions: dict[str, VersionRecord]
    stable: str
    enabled: bool = True
    grants: Grants = field(default_factory=Grants)
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: list[str] = field(default_factory=list)
    canary: str | None = None
    canary_percent: int = 0
    previous_stable: str | None = None
    #: AutoRollback settings (max_error_rate, min_calls, confidence); None when off.
    auto_rollback: dict[str, Any] | None = None
    #: The canary's calls and failures so far ({version, calls, failures}), kept so the
    #: automatic rollback's evidence survives a restart; None without a canary.
    canary_evidence: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.versions[self.stable].name

    def to_json(self) -> bytes:
        d = asdict(self)
        d["grants"] = self.grants.to_dict()
        d["format"] = STATE_FORMAT
        return json.dumps(d, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> PluginRecord:
        """Parse and validate the whole shape; anything off raises ValueError (never trust it)."""
        d = _obj(json.loads(data), "the state")
        if type(d.get("format")) is not int or d["format"] != STATE_FORMAT:
            raise ValueError(f"unknown state format {d.get('format')!r}")
        plugin_id = _str(d.get("plugin_id"), "plugin_id")
        if not _ID.match(plugin_id):
            raise ValueError(f"plugin_id {plugin_id[:80]!r} is not a valid id")
        raw_versions = _obj(d.get("versions"), "versions")
        if not raw_versions:
            raise ValueError("versions is empty")
        versions = {k: _version_record(k, v) for k, v in raw_versions.items()}
        stable = _str(d.get("stable"), "stable")
        canary, previous = d.get("canary"), d.get("previous_stable")
        for key, ver in (("canary", canary), ("previous_stable", previous)):
            if ver is not None:
                _str(ver, key)
        percent = d.get("canary_percent", 0)
        if type(percent) is not int or not 0 <= percent <= 100:
            raise ValueError(f"canary_percent {percent!r} is not 0-100")
        enabled = d.get("enabled", True)
        if type(enabled) is not bool:
            raise ValueError("enabled is not true or false")
        config = _obj(d.get("config", {}), "config")
        for k, v in config.items():
            _str(v, f"config value {k[:40]!r}")
        rec = cls(
            plugin_id=plugin_id, versions=versions, stable=stable, enabled=enabled,
            grants=_grants(d.get("grants", {})), config=dict(config),
            secret_keys=_str_list(d.get("secret_keys", []), "secret_keys"),
            canary=canary, canary_percent=percent, previous_stable=previous,
            auto_rollback=_auto_rollback(d.get("auto_rollback")),
            canary_evidence=_canary_evidence(d.get("canary_evidence")))
        evidence = rec.canary_evidence["version"] if rec.canary_evidence else None
        for ver in (rec.stable, rec.canary, rec.previous_stable, evidence):
            if ver is not None and ver not in versions:
                raise ValueError(f"refers to version {ver[:80]!r}, which is not installed")
        return rec


# --- validating what is read back (state.json is as hostile as any plugin input) ----------


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is {type(value).__name__}, not an object")
    return value


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} is {type(value).__name__}, not a string")
    return value


def _str_list(value: object, what: str) -> list[str]:
    if not isinstance(value, list):
        raise ValueError(f"{what} is {type(value).__name__}, not a list")
    return [_str(x, what) for x in value]


def _num(value: object, what: str, *, integer: bool = False) -> float:
    ok = type(value) is int or (not integer and type(value) is float)
    if not ok or (type(value) is float and not math.isfinite(value)):
        raise ValueError(f"{what} is {value!r}, not a number")
    return value  # type: ignore[return-value]


#: VersionRecord fields and the check of their JSON value; fields added later default.
_VERSION_FIELDS: dict[str, Any] = {
    "version": lambda v: _str(v, "version"),
    "sha256": lambda v: _str(v, "sha256"),
    "name": lambda v: _str(v, "name"),
    "description": lambda v: _str(v, "description"),
    "wit_version": lambda v: _num(v, "wit_version", integer=True),
    "installed_at": lambda v: _num(v, "installed_at"),
    "requested": lambda v: _str_list(v, "requested"),
    "size": lambda v: _num(v, "size", integer=True),
    "file_identity": lambda v: _identity(v),
    "reasons": lambda v: _str_map(v, "reasons"),
}


def _str_map(value: object, what: str) -> None:
    for k, v in _obj(value, what).items():
        _str(v, f"{what} {k[:40]!r}")


def _identity(value: object) -> None:
    if value is None:
        return
    if (not isinstance(value, list) or len(value) != len(IDENTITY_FIELDS)
            or any(type(x) is not int for x in value)):
        raise ValueError(f"file_identity is not {len(IDENTITY_FIELDS)} integers")


#: What :func:`file_identity` records: any rewrite, copy, restore or same-size edit with
#: its mtime put back changes one of them (ctime cannot be set from user space).
IDENTITY_FIELDS = ("size", "mtime_ns", "ctime_ns", "inode", "device")


def file_identity(path: Path) -> list[int] | None:
    """The identity of a stored file (see :data:`IDENTITY_FIELDS`), or None if unreadable."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _version_record(key: str, value: object) -> VersionRecord:
    if not is_version(key):
        raise ValueError(f"version key {key[:80]!r} is not a semantic version")
    d = _obj(value, f"version {key}")
    kwargs: dict[str, Any] = {}
    for f in fields(VersionRecord):
        if f.name not in d:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ValueError(f"version {key} has no {f.name}")
            continue
        check = _VERSION_FIELDS.get(f.name)
        v = d[f.name]
        if check is not None:
            check(v)
        elif v is not None and not isinstance(v, str):  # e.g. signed_by: a string or null
            raise ValueError(f"version {key}: {f.name} is {type(v).__name__}")
        kwargs[f.name] = v
    if kwargs["version"] != key:
        raise ValueError(f"version {key} records itself as {kwargs['version'][:80]!r}")
    if not re.fullmatch(r"[0-9a-f]{64}", kwargs["sha256"]):
        raise ValueError(f"version {key}: sha256 is not 64 hex digits")
    return VersionRecord(**kwargs)


def _grants(value: object) -> Grants:
    d = _obj(value, "grants")
    dirs = []
    raw_dirs = d.get("dirs", [])
    if not isinstance(raw_dirs, list):
        raise ValueError(f"grants.dirs is {type(raw_dirs).__name__}, not a list")
    for x in raw_dirs:
        x = _obj(x, "a directory grant")
        host, guest = _str(x.get("host"), "a grant's host"), _str(x.get("guest"), "a guest")
        if not (os.path.isabs(host) and guest.startswith("/")) or "\x00" in host + guest:
            raise ValueError(f"directory grant {host[:80]!r}:{guest[:80]!r} is not absolute")
        if type(x.get("writable")) is not bool:
            raise ValueError("a directory grant's writable is not true or false")
        dirs.append(DirGrant(host, guest, x["writable"]))
    network = d.get("network", False)
    if type(network) is not bool:
        raise ValueError("grants.network is not true or false")
    memory = _num(d.get("memory_bytes", DEFAULT_MEMORY), "memory_bytes", integer=True)
    timeout = _num(d.get("timeout_s", DEFAULT_TIMEOUT), "timeout_s")
    fuel = d.get("fuel")
    if fuel is not None:
        _num(fuel, "fuel", integer=True)
    if memory <= 0 or timeout <= 0 or (fuel is not None and fuel <= 0):
        raise ValueError("a memory, time or fuel limit is not positive")
    return Grants(dirs=tuple(dirs), network=network,
                  env=tuple(_str_list(d.get("env", []), "grants.env")),
                  memory_bytes=int(memory), timeout_s=float(timeout), fuel=fuel,
                  disk_quota_bytes=_disk_quota(d))


def _disk_quota(d: dict[str, Any]) -> int:
    """The soft disk quota of core.resources (a later field: absent means the default)."""
    quota = _num(d.get("disk_quota_bytes", DEFAULT_DISK_QUOTA), "disk_quota_bytes",
                 integer=True)
    if quota <= 0:
        raise ValueError("grants.disk_quota_bytes is not positive")
    return int(quota)


def _auto_rollback(value: object) -> dict[str, Any] | None:
    """The settings, normalised: a state file from before the statistical test has a
    ``window`` (calls before any judgement), which becomes ``min_calls``."""
    if value is None:
        return None
    d = _obj(value, "auto_rollback")
    if set(d) == {"max_error_rate", "window"}:
        d = {"max_error_rate": d["max_error_rate"], "min_calls": d["window"]}
    elif set(d) != {"max_error_rate", "min_calls", "confidence"}:
        raise ValueError("auto_rollback needs exactly max_error_rate, min_calls and "
                         "confidence (or the older max_error_rate and window)")
    rate = _num(d["max_error_rate"], "auto_rollback max_error_rate")
    calls = _num(d["min_calls"], "auto_rollback min_calls", integer=True)
    confidence = _num(d.get("confidence", DEFAULT_CONFIDENCE), "auto_rollback confidence")
    try:
        return AutoRollback(float(rate), int(calls), float(confidence)).to_dict()
    except ValueError as e:
        raise ValueError(f"auto_rollback: {e}") from None


def _canary_evidence(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    d = _obj(value, "canary_evidence")
    if set(d) != {"version", "calls", "failures"}:
        raise ValueError("canary_evidence needs exactly version, calls and failures")
    version = _str(d["version"], "canary_evidence version")
    calls = _num(d["calls"], "canary_evidence calls", integer=True)
    failures = _num(d["failures"], "canary_evidence failures", integer=True)
    if not 0 <= failures <= calls:
        raise ValueError("canary_evidence counts are negative or more failures than calls")
    return {"version": version, "calls": int(calls), "failures": int(failures)}


# --- ids and versions ------------------------------------------------------------------

#: Longest version a plugin may declare; the host may add ``+``/``.`` and 8 hex digits.
MAX_VERSION = 64
_MAX_STORED_VERSION = MAX_VERSION + 9
_NUM = r"(?:0|[1-9][0-9]*)"
_PRE = r"(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
_SEMVER = re.compile(rf"{_NUM}\.{_NUM}\.{_NUM}(?:-{_PRE}(?:\.{_PRE})*)?"
                     r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?")


def is_version(text: object, max_len: int = _MAX_STORED_VERSION) -> bool:
    """Whether ``text`` is a SemVer 2.0 version (the only thing a version folder is named)."""
    return isinstance(text, str) and len(text) <= max_len and bool(_SEMVER.fullmatch(text))


def check_version(version: object, plugin_id: str | None = None) -> str:
    """Refuse a plugin's declared version unless it is strict SemVer; never a path."""
    if not is_version(version, MAX_VERSION):
        shown = repr(version[:80]) if isinstance(version, str) else type(version).__name__
        raise BadMetadataError(
            f"declares version {shown}, which is not a semantic version "
            f"(MAJOR.MINOR.PATCH[-pre][+build], at most {MAX_VERSION} characters)",
            plugin_id=plugin_id, hint="the plugin's author must fix get-metadata's version; "
            "nothing was installed")
    return version  # type: ignore[return-value]


def with_build_suffix(version: str, sha256: str) -> str:
    """``1.0.0`` -> ``1.0.0+1a2b3c4d`` (or ``1.0.0+b.1a2b3c4d``): still valid SemVer."""
    return f"{version}{'.' if '+' in version else '+'}{sha256[:8]}"


_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def _inside(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9._-]+", "-", name.strip().lower()).strip("-.") or "plugin"
    return s[:64]


def check_id(plugin_id: str) -> str:
    if not _ID.match(plugin_id):
        raise UsageError(f"'{plugin_id}' is not a valid plugin id",
                         hint="use lowercase letters, digits, '.', '_' and '-'")
    return plugin_id


class Library:
    def __init__(self, root: Path, files_root: Path | None = None) -> None:
        self.root = root
        #: Beside the records, never inside them: see the module docstring.
        self.files_root = files_root or root.parent / "files"
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def plugin_dir(self, plugin_id: str) -> Path:
        return self.root / check_id(plugin_id)

    def component_path(self, plugin_id: str, version: str) -> Path:
        """Built only from a validated id and version: a version is never a path."""
        if not is_version(version):
            raise BadMetadataError(f"version {str(version)[:80]!r} is not a semantic version",
                                   plugin_id=plugin_id, hint="nothing was read or written")
        return self.plugin_dir(plugin_id) / "versions" / version / "component.wasm"

    def files_dir(self, plugin_id: str) -> Path:
        """Parent of the plugin's private folders (see :func:`grants.private_folder`)."""
        return self.files_root / check_id(plugin_id)

    def grant_problem(self, grants: Grants) -> str | None:
        """Why a grant would expose the library's records to a plugin, or None if none does.

        A granted folder may neither contain the library nor lie inside it, except the
        ``<id>/files/...`` private folders of installs made before they moved out.
        """
        root = os.path.realpath(self.root)
        for d in grants.dirs:
            host = os.path.realpath(d.host)
            if _inside(root, host):
                return f"{d.capability} contains Wasmbay's plugin records ({root})"
            if _inside(host, root):
                rel = os.path.relpath(host, root).split(os.sep)
                if not (len(rel) >= 2 and rel[1] == "files"):
                    return f"{d.capability} lies inside Wasmbay's plugin records ({root})"
        return None

    def check_grants(self, grants: Grants, plugin_id: str) -> None:
        problem = self.grant_problem(grants)
        if problem is not None:
            raise UsageError(f"cannot grant {problem}: a plugin could rewrite its own "
                             "permissions", plugin_id=plugin_id,
                             hint="grant a folder that does not contain the data folder")

    # --- reading --------------------------------------------------------------------

    def load(self) -> tuple[dict[str, PluginRecord], list[LibraryEntryError]]:
        records: dict[str, PluginRecord] = {}
        problems: list[LibraryEntryError] = []
        if self.files_root.is_dir():
            for entry in self.files_root.iterdir():
                if entry.name.startswith(".trash-"):
                    shutil.rmtree(entry, ignore_errors=True)  # a removal cut short
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(".staging-") or entry.name.startswith(".trash-"):
                shutil.rmtree(entry, ignore_errors=True)  # an install or removal cut short
                continue
            if not entry.is_dir() or entry.is_symlink():
                continue
            try:
                rec = self.read(entry.name)
            except LibraryEntryError as e:
                problems.append(e)
                continue
            self._drop_unreferenced_versions(rec)
            records[rec.plugin_id] = rec
        return records, problems

    def read(self, plugin_id: str) -> PluginRecord:
        if not _ID.match(plugin_id):
            raise LibraryEntryError(
                f"folder {str(self.root / plugin_id)!r} is not named like a plugin id",
                plugin_id=plugin_id[:64], hint="move it out of the library folder")
        path = self.root / plugin_id / STATE
        try:
            rec = PluginRecord.from_json(path.read_bytes())
        except FileNotFoundError:
            raise LibraryEntryError(f"{path} is missing", plugin_id=plugin_id,
                                    hint="reinstall the plugin; its folder was left as is") \
                from None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise LibraryEntryError(
                f"its state file {path} is unreadable or corrupt ({e})", plugin_id=plugin_id,
                hint="restore the file, reinstall the plugin, or uninstall it; "
                "nothing was deleted") from None
        if rec.plugin_id != plugin_id:
            raise LibraryEntryError(f"{path} names plugin '{rec.plugin_id}'",
                                    plugin_id=plugin_id, hint="restore the file or reinstall")
        problem = self.grant_problem(rec.grants)
        if problem is not None:
            raise LibraryEntryError(
                f"its state file {path} grants {problem}; it is not loaded",
                plugin_id=plugin_id, hint=f"remove that grant from {path}, or remove "
                f"{path.parent} and reinstall the plugin")
        return rec

    def exists(self, plugin_id: str) -> bool:
        return (self.plugin_dir(plugin_id) / STATE).exists()

    # --- writing --------------------------------------------------------------------

    def save(self, rec: PluginRecord) -> None:
        self.check_grants(rec.grants, rec.plugin_id)
        atomic_write_bytes(self.plugin_dir(rec.plugin_id) / STATE, rec.to_json())

    def add_version(self, rec: PluginRecord, version: VersionRecord, wasm: bytes, *,
                    new: bool = False) -> None:
        """Store a component and the state that refers to it, crash-safely.

        ``new``: the caller has no record of this plugin; a state file still on disk is a
        damaged entry the user is reinstalling over, kept beside as ``state.json.damaged-*``.
        The component's :func:`file_identity` is recorded in ``version`` and in ``rec``
        (its bytes are the ones the caller hashed), so loads need not hash it again.
        """
        self.check_grants(rec.grants, rec.plugin_id)
        comp = self.component_path(rec.plugin_id, version.version)
        target = self.plugin_dir(rec.plugin_id)
        if new and self.exists(rec.plugin_id):
            os.replace(target / STATE, target / f"{STATE}.damaged-{int(time.time())}")
        if not self.exists(rec.plugin_id) and not os.path.lexists(target):
            staging = self.root / f".staging-{rec.plugin_id}-{uuid.uuid4().hex[:8]}"
            try:
                staged = staging / comp.relative_to(target)
                atomic_write_bytes(staged, wasm)
                # renaming the folder below leaves the file's identity as it is
                self._record_identity(rec, version, staged)
                atomic_write_bytes(staging / STATE, rec.to_json())
                os.rename(staging, target)  # the install is one rename
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            return
        if not target.is_dir() or target.is_symlink():
            raise LibraryEntryError(f"{target} is in the way and is not a plugin folder",
                                    plugin_id=rec.plugin_id, hint=f"move {target} away")
        # An existing plugin, or a folder left by an install cut short: the component goes
        # first and the state file, which is what makes it installed, last.
        atomic_write_bytes(comp, wasm)
        self._record_identity(rec, version, comp)
        self.save(rec)

    @staticmethod
    def _record_identity(rec: PluginRecord, version: VersionRecord, path: Path) -> None:
        version.file_identity = file_identity(path)
        rec.versions[version.version] = version

    def remove(self, plugin_id: str) -> None:
        """Remove the plugin's records, then its private folders (the records go first)."""
        target = self.plugin_dir(plugin_id)
        trash = self.root / f".trash-{plugin_id}-{uuid.uuid4().hex[:8]}"
        os.rename(target, trash)  # gone from the library in one step
        shutil.rmtree(trash, ignore_errors=True)
        files = self.files_dir(plugin_id)
        if os.path.lexists(files):
            files_trash = self.files_root / f".trash-{plugin_id}-{uuid.uuid4().hex[:8]}"
            os.rename(files, files_trash)
            shutil.rmtree(files_trash, ignore_errors=True)

    def _drop_unreferenced_versions(self, rec: PluginRecord) -> None:
        versions_dir = self.plugin_dir(rec.plugin_id) / "versions"
        if not versions_dir.is_dir():
            return
        for d in versions_dir.iterdir():
            if d.name not in rec.versions:  # written by an update that never committed
                shutil.rmtree(d, ignore_errors=True)


def new_version_record(version: str, sha256: str, name: str, description: str,
                       wit_version: int, requested: list[str], size: int,
                       signed_by: str | None = None,
                       reasons: dict[str, str] | None = None) -> VersionRecord:
    return VersionRecord(version=version, sha256=sha256, name=name, description=description,
                         wit_version=wit_version, installed_at=time.time(),
                         requested=requested, size=size, signed_by=signed_by,
                         reasons=dict(reasons or {}))
