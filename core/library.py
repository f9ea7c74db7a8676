"""The installed plugins on disk, each version kept side by side.

Layout under ``<data>/plugins/<id>/``: ``state.json`` (versions, grants, plain config,
which keys are secret, enabled, rollout) and ``versions/<version>/component.wasm``.
Every change is atomic: a new plugin is assembled in a staging folder and renamed into
place; a new version's component is written (fsync, rename) before the state that
refers to it. A crash therefore leaves either the old state or the new one, plus at
most an unreferenced staging folder or version, which the next load removes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError, WasmbayError
from .grants import Grants
from .paths import atomic_write_bytes

STATE = "state.json"
STATE_FORMAT = 1


class LibraryEntryError(WasmbayError):
    """One plugin's entry could not be read; the rest of the library still loads."""

    kind = "library-entry"


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
    auto_rollback: dict[str, Any] | None = None

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
        d = json.loads(data)
        if d.get("format") != STATE_FORMAT:
            raise ValueError(f"unknown state format {d.get('format')!r}")
        versions = {k: VersionRecord(**v) for k, v in d["versions"].items()}
        rec = cls(
            plugin_id=str(d["plugin_id"]), versions=versions, stable=str(d["stable"]),
            enabled=bool(d.get("enabled", True)), grants=Grants.from_dict(d.get("grants", {})),
            config={str(k): str(v) for k, v in d.get("config", {}).items()},
            secret_keys=[str(k) for k in d.get("secret_keys", [])],
            canary=d.get("canary"), canary_percent=int(d.get("canary_percent", 0)),
            previous_stable=d.get("previous_stable"), auto_rollback=d.get("auto_rollback"))
        for ver in (rec.stable, rec.canary, rec.previous_stable):
            if ver is not None and ver not in versions:
                raise ValueError(f"refers to version {ver!r}, which is not installed")
        return rec


_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9._-]+", "-", name.strip().lower()).strip("-.") or "plugin"
    return s[:64]


def check_id(plugin_id: str) -> str:
    if not _ID.match(plugin_id):
        raise UsageError(f"'{plugin_id}' is not a valid plugin id",
                         hint="use lowercase letters, digits, '.', '_' and '-'")
    return plugin_id


class Library:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def plugin_dir(self, plugin_id: str) -> Path:
        return self.root / check_id(plugin_id)

    def component_path(self, plugin_id: str, version: str) -> Path:
        return self.plugin_dir(plugin_id) / "versions" / version / "component.wasm"

    def files_dir(self, plugin_id: str) -> Path:
        """Per-plugin folders the user may grant (e.g. for --accept-requested)."""
        return self.plugin_dir(plugin_id) / "files"

    # --- reading --------------------------------------------------------------------

    def load(self) -> tuple[dict[str, PluginRecord], list[LibraryEntryError]]:
        records: dict[str, PluginRecord] = {}
        problems: list[LibraryEntryError] = []
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(".staging-") or entry.name.startswith(".trash-"):
                shutil.rmtree(entry, ignore_errors=True)  # an install or removal cut short
                continue
            if not entry.is_dir():
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
                hint="restore the file or reinstall the plugin; nothing was deleted") from None
        if rec.plugin_id != plugin_id:
            raise LibraryEntryError(f"{path} names plugin '{rec.plugin_id}'",
                                    plugin_id=plugin_id, hint="restore the file or reinstall")
        return rec

    def exists(self, plugin_id: str) -> bool:
        return (self.plugin_dir(plugin_id) / STATE).exists()

    # --- writing --------------------------------------------------------------------

    def save(self, rec: PluginRecord) -> None:
        atomic_write_bytes(self.plugin_dir(rec.plugin_id) / STATE, rec.to_json())

    def add_version(self, rec: PluginRecord, version: VersionRecord, wasm: bytes) -> None:
        """Store a component and the state that refers to it, crash-safely."""
        if not self.exists(rec.plugin_id):
            staging = self.root / f".staging-{rec.plugin_id}-{uuid.uuid4().hex[:8]}"
            comp = staging / "versions" / version.version / "component.wasm"
            atomic_write_bytes(comp, wasm)
            atomic_write_bytes(staging / STATE, rec.to_json())
            os.rename(staging, self.plugin_dir(rec.plugin_id))  # the install is one rename
            return
        atomic_write_bytes(self.component_path(rec.plugin_id, version.version), wasm)
        self.save(rec)

    def remove(self, plugin_id: str) -> None:
        target = self.plugin_dir(plugin_id)
        trash = self.root / f".trash-{plugin_id}-{uuid.uuid4().hex[:8]}"
        os.rename(target, trash)  # gone from the library in one step
        shutil.rmtree(trash, ignore_errors=True)

    def _drop_unreferenced_versions(self, rec: PluginRecord) -> None:
        versions_dir = self.plugin_dir(rec.plugin_id) / "versions"
        if not versions_dir.is_dir():
            return
        for d in versions_dir.iterdir():
            if d.name not in rec.versions:  # written by an update that never committed
                shutil.rmtree(d, ignore_errors=True)


def new_version_record(version: str, sha256: str, name: str, description: str,
                       wit_version: int, requested: list[str], size: int) -> VersionRecord:
    return VersionRecord(version=version, sha256=sha256, name=name, description=description,
                         wit_version=wit_version, installed_at=time.time(),
                         requested=requested, size=size)
