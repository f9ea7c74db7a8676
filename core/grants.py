"""What a plugin may touch. Deny by default; the user grants, a plugin never can.

Grants are immutable values: changing them means building a new :class:`Grants` and
re-sandboxing the plugin's instances with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
import stat
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import BadCapabilityRequestError, UsageError

MiB = 1024 * 1024
DEFAULT_MEMORY = 256 * MiB
DEFAULT_TIMEOUT = 30.0
#: Soft quota on what a plugin's read-write folders hold: measured and warned about,
#: not enforced (WASI gives the host no hook on writes; see core.resources).
DEFAULT_DISK_QUOTA = 1024**3

GRANT_SYNTAX = (
    "fs-read=HOST[:GUEST], fs-write=HOST[:GUEST], network, env=NAME, "
    "memory=64MiB, timeout=5s, fuel=N, disk=1GiB"
)


@dataclass(frozen=True, slots=True)
class DirGrant:
    host: str
    guest: str
    writable: bool

    @property
    def capability(self) -> str:
        kind = "fs-write" if self.writable else "fs-read"
        target = self.host if self.guest == self.host else f"{self.host}:{self.guest}"
        return f"{kind}={target}"


@dataclass(frozen=True, slots=True)
class Grants:
    dirs: tuple[DirGrant, ...] = ()
    network: bool = False
    env: tuple[str, ...] = ()
    memory_bytes: int = DEFAULT_MEMORY
    timeout_s: float = DEFAULT_TIMEOUT
    fuel: int | None = None
    disk_quota_bytes: int = DEFAULT_DISK_QUOTA

    # --- presets (the seed's restricted / standard) ----------------------------------

    @classmethod
    def restricted(cls) -> Grants:
        """Nothing but compute: no files, no network, no environment."""
        return cls()

    @classmethod
    def standard(cls, data_dir: Path, scratch_dir: Path) -> Grants:
        """The seed's trusted-plugin preset: read /data, write /tmp/plugin, PLUGIN_MODE."""
        data_dir.mkdir(parents=True, exist_ok=True)
        scratch_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            dirs=(
                DirGrant(str(data_dir), "/data", writable=False),
                DirGrant(str(scratch_dir), "/tmp/plugin", writable=True),
            ),
            env=("PLUGIN_MODE",),
            memory_bytes=512 * MiB,
            timeout_s=60.0,
        )

    # --- editing by capability string ------------------------------------------------

    def grant(self, capability: str) -> Grants:
        key, value = _split(capability)
        if key == "network":
            return replace(self, network=True)
        if key in ("fs-read", "fs-write"):
            d = _parse_dir(value, writable=key == "fs-write", capability=capability)
            others = tuple(x for x in self.dirs if x.guest != d.guest)
            return replace(self, dirs=(*others, d))
        if key == "env":
            if not value or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
                raise UsageError(f"bad environment variable name in '{capability}'",
                                 hint="use env=NAME")
            return replace(self, env=tuple(sorted({*self.env, value})))
        if key == "memory":
            return replace(self, memory_bytes=parse_size(value))
        if key == "timeout":
            return replace(self, timeout_s=parse_duration(value))
        if key == "fuel":
            try:
                fuel = int(value.replace("_", ""))
            except ValueError:
                raise UsageError(f"bad fuel amount in '{capability}'", hint="use fuel=N") from None
            if fuel <= 0:
                raise UsageError("fuel must be positive", hint="use fuel=N with N > 0")
            return replace(self, fuel=fuel)
        if key == "disk":
            return replace(self, disk_quota_bytes=_parse_quota(value))
        raise UsageError(f"unknown capability '{capability}'", hint=f"use {GRANT_SYNTAX}")

    def revoke(self, capability: str) -> Grants:
        key, value = _split(capability)
        if key == "network":
            return replace(self, network=False)
        if key in ("fs-read", "fs-write"):
            if not value:
                return replace(self, dirs=())
            host, _, guest = value.partition(":")
            host_r = str(Path(host).expanduser().resolve())
            keep = tuple(d for d in self.dirs
                         if not (d.host == host_r and (not guest or d.guest == guest)))
            return replace(self, dirs=keep)
        if key == "env":
            return replace(self, env=tuple(e for e in self.env if value and e != value))
        if key == "memory":
            return replace(self, memory_bytes=DEFAULT_MEMORY)
        if key == "timeout":
            return replace(self, timeout_s=DEFAULT_TIMEOUT)
        if key == "fuel":
            return replace(self, fuel=None)
        if key == "disk":
            return replace(self, disk_quota_bytes=DEFAULT_DISK_QUOTA)
        raise UsageError(f"unknown capability '{capability}'", hint=f"use {GRANT_SYNTAX}")

    def grant_all(self, capabilities: list[str] | tuple[str, ...]) -> Grants:
        g = self
        for c in capabilities:
            g = g.grant(c)
        return g

    # --- describing -------------------------------------------------------------------

    def capabilities(self) -> list[str]:
        """The grants as capability strings (what the user would type to recreate them)."""
        caps = [d.capability for d in self.dirs]
        if self.network:
            caps.append("network")
        caps += [f"env={e}" for e in self.env]
        caps.append(f"memory={format_size(self.memory_bytes)}")
        caps.append(f"timeout={format_duration(self.timeout_s)}")
        if self.fuel is not None:
            caps.append(f"fuel={self.fuel}")
        if self.disk_quota_bytes != DEFAULT_DISK_QUOTA:
            caps.append(f"disk={format_size(self.disk_quota_bytes)}")
        return caps

    def env_pairs(self) -> list[tuple[str, str]]:
        """The granted environment variables that exist in the host's environment."""
        return [(k, os.environ[k]) for k in self.env if k in os.environ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dirs": [{"host": d.host, "guest": d.guest, "writable": d.writable}
                     for d in self.dirs],
            "network": self.network,
            "env": list(self.env),
            "memory_bytes": self.memory_bytes,
            "timeout_s": self.timeout_s,
            "fuel": self.fuel,
            "disk_quota_bytes": self.disk_quota_bytes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Grants:
        return cls(
            dirs=tuple(DirGrant(str(x["host"]), str(x["guest"]), bool(x["writable"]))
                       for x in d.get("dirs", [])),
            network=bool(d.get("network", False)),
            env=tuple(str(e) for e in d.get("env", [])),
            memory_bytes=int(d.get("memory_bytes", DEFAULT_MEMORY)),
            timeout_s=float(d.get("timeout_s", DEFAULT_TIMEOUT)),
            fuel=None if d.get("fuel") is None else int(d["fuel"]),
            disk_quota_bytes=int(d.get("disk_quota_bytes", DEFAULT_DISK_QUOTA)),
        )


def _split(capability: str) -> tuple[str, str]:
    key, _, value = capability.strip().partition("=")
    return key.strip().lower(), value.strip()


def _parse_dir(value: str, *, writable: bool, capability: str) -> DirGrant:
    if not value:
        raise UsageError(f"'{capability}' names no directory", hint="use fs-read=HOST[:GUEST]")
    host, sep, guest = value.partition(":")
    host_path = Path(host).expanduser().resolve()
    if not host_path.is_dir():
        raise UsageError(f"cannot grant '{capability}': {host_path} is not a directory",
                         hint="create it first or check the path")
    guest = guest if sep else str(host_path)
    if not guest.startswith("/"):
        raise UsageError(f"guest path '{guest}' must be absolute", hint="e.g. fs-read=~/pics:/data")
    return DirGrant(str(host_path), guest, writable)


#: Longest guest path a plugin may request a private folder for.
MAX_GUEST_PATH = 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def private_folder(files_dir: Path, guest_path: str, *, create: bool = True,
                   plugin_id: str | None = None) -> Path:
    """The host folder that backs a plugin's requested guest folder, under ``files_dir``.

    The one place that maps a plugin-chosen guest path to a host path. The name is built by
    the host (sanitized segments plus a hash of the normalized guest path, so two paths never
    share a folder and no name is ``.``/``..``); the folder is created one level below
    ``files_dir`` without following links, and must resolve strictly inside it. A guest path
    that is relative, has ``..`` segments or control characters is the plugin's error.
    With ``create=False`` it only validates and names the folder.
    """
    def refuse(why: str) -> BadCapabilityRequestError:
        return BadCapabilityRequestError(
            f"requests folder {guest_path[:80]!r}, which {why}", plugin_id=plugin_id,
            hint="the plugin's author must request an absolute guest path like /data")

    if not isinstance(guest_path, str) or not guest_path:
        raise refuse("is empty")
    if len(guest_path) > MAX_GUEST_PATH:
        raise refuse(f"is longer than {MAX_GUEST_PATH} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") for c in guest_path):
        raise refuse("contains control characters")
    if not guest_path.startswith("/"):
        raise refuse("is not absolute")
    if ".." in guest_path.split("/"):
        raise refuse("climbs with '..'")
    normalized = posixpath.normpath(guest_path)
    segments = [s for s in normalized.split("/") if s not in ("", ".")]
    stem = _SAFE_NAME.sub("-", "_".join(segments)).strip(".-")[:48] or "root"
    digest = hashlib.sha256(("/" + "/".join(segments)).encode("utf-8", "surrogatepass"))
    name = f"{stem}-{digest.hexdigest()[:10]}"
    folder = files_dir / name
    if not create:
        return folder
    files_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    parent = os.open(files_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=parent)
        st = os.lstat(name, dir_fd=parent)
        if not stat.S_ISDIR(st.st_mode):  # a planted link or file: never follow it
            raise BadCapabilityRequestError(
                f"its private folder {folder} is a link or a file, not a folder; "
                "refusing to follow it", plugin_id=plugin_id, hint=f"remove {folder} and retry")
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
        os.close(fd)
    finally:
        os.close(parent)
    real, root = os.path.realpath(folder), os.path.realpath(files_dir)
    if os.path.dirname(real) != root:
        raise BadCapabilityRequestError(
            f"its private folder {folder} resolves to {real}, outside {root}",
            plugin_id=plugin_id, hint=f"remove {folder} and retry")
    return Path(real)


_SIZE_UNITS = {
    "": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": MiB, "mb": 1000**2, "mib": MiB,
    "g": 1024**3, "gb": 1000**3, "gib": 1024**3,
}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else None
    if not m or unit not in _SIZE_UNITS:
        raise UsageError(f"bad size '{text}'", hint="use e.g. memory=64MiB or memory=1GiB")
    size = int(float(m.group(1)) * _SIZE_UNITS[unit or ""])
    if size < 64 * 1024:
        raise UsageError(f"memory limit {text} is below one wasm page (64 KiB)",
                         hint="use at least memory=1MiB")
    return size


def _parse_quota(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else None
    if not m or unit not in _SIZE_UNITS or float(m.group(1)) <= 0:
        raise UsageError(f"bad disk quota '{text}'", hint="use e.g. disk=500MiB or disk=2GiB")
    return max(1, int(float(m.group(1)) * _SIZE_UNITS[unit or ""]))


def format_size(n: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", MiB), ("KiB", 1024)):
        if n % factor == 0:
            return f"{n // factor}{unit}"
    return str(n)


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "": 1.0, "m": 60.0, "min": 60.0}


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", text.lower())
    if not m or m.group(2) not in _DURATION_UNITS:
        raise UsageError(f"bad duration '{text}'", hint="use e.g. timeout=5s or timeout=500ms")
    seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    if seconds <= 0:
        raise UsageError("a time limit must be positive", hint="use e.g. timeout=5s")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds < 1 or seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    return f"{int(seconds)}s"
