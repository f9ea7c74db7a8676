"""What a plugin may touch, and the one owner of capability text.

Deny by default; the user grants, a plugin never can. Every rule about capability strings
(``kind[=target]``) lives here and nowhere else: splitting and writing them
(:class:`Capability`), checking a plugin's requests (:func:`parse_capability_request`),
whether grants cover a request (:func:`covered`), the grant text that satisfies a request
(:func:`grant_for`, :func:`request_grants`), the diff between two grant sets
(:func:`grant_diff`) and the host folder that backs a requested guest folder
(:func:`private_folder`).

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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .contract import CapabilityRequest
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
#: Kinds whose target is a folder: ``HOST[:GUEST]`` when granted, ``GUEST`` when requested.
FOLDER_KINDS = ("fs-read", "fs-write")
#: The kinds of capability a plugin may request (v2's ``capability`` variant).
REQUEST_KINDS = (*FOLDER_KINDS, "network", "env")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- capability text ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capability:
    """Capability text split once: ``kind[=target]``.

    A granted folder's target is ``HOST[:GUEST]``, split at the first colon (a guest path
    may hold colons, a host path may not). A plugin's folder request names only the guest
    path (WIT ``fs-read(string)``), so a request's whole target is its guest path.
    """

    kind: str
    target: str = ""

    @classmethod
    def parse(cls, text: str) -> Capability:
        """Split exactly as written: a plugin's text is checked, never normalized."""
        kind, _, target = text.partition("=")
        return cls(kind, target)

    @property
    def is_folder(self) -> bool:
        return self.kind in FOLDER_KINDS

    @property
    def host(self) -> str:
        """A granted folder's host side: the target up to the first colon."""
        return self.target.partition(":")[0]

    @property
    def guest(self) -> str | None:
        """A granted folder's guest side, after the first colon; None when not given."""
        _, sep, guest = self.target.partition(":")
        return guest if sep else None

    @property
    def text(self) -> str:
        """The capability written back: ``kind`` or ``kind=target``."""
        return f"{self.kind}={self.target}" if self.target else self.kind


def parse_capability(text: str) -> Capability:
    """What the user typed (``--grant``, the window): the kind is case-insensitive and
    surrounding spaces are ignored."""
    cap = Capability.parse(text.strip())
    return Capability(cap.kind.strip().lower(), cap.target.strip())


def folder_capability(kind: str, host: str | Path, guest: str) -> str:
    """The grant text that shows host folder ``host`` to the plugin as ``guest``."""
    return Capability(kind, f"{host}:{guest}").text


def is_env_name(name: str) -> bool:
    """Whether ``name`` may be granted or requested as an environment variable."""
    return _ENV_NAME.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class DirGrant:
    host: str
    guest: str
    writable: bool

    @property
    def capability(self) -> str:
        kind = "fs-write" if self.writable else "fs-read"
        if self.guest == self.host:
            return Capability(kind, self.host).text
        return folder_capability(kind, self.host, self.guest)


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
        cap = parse_capability(capability)
        key, value = cap.kind, cap.target
        if key == "network":
            return replace(self, network=True)
        if cap.is_folder:
            d = _parse_dir(cap, capability=capability)
            others = tuple(x for x in self.dirs if x.guest != d.guest)
            return replace(self, dirs=(*others, d))
        if key == "env":
            if not is_env_name(value):
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
        cap = parse_capability(capability)
        key, value = cap.kind, cap.target
        if key == "network":
            return replace(self, network=False)
        if cap.is_folder:
            if not value:
                return replace(self, dirs=())
            guest = cap.guest
            host_r = str(Path(cap.host).expanduser().resolve())
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


def _parse_dir(cap: Capability, *, capability: str) -> DirGrant:
    if not cap.target:
        raise UsageError(f"'{capability}' names no directory", hint="use fs-read=HOST[:GUEST]")
    host_path = Path(cap.host).expanduser().resolve()
    if not host_path.is_dir():
        raise UsageError(f"cannot grant '{capability}': {host_path} is not a directory",
                         hint="create it first or check the path")
    guest = str(host_path) if cap.guest is None else cap.guest
    if not guest.startswith("/"):
        raise UsageError(f"guest path '{guest}' must be absolute", hint="e.g. fs-read=~/pics:/data")
    return DirGrant(str(host_path), guest, cap.kind == "fs-write")


# --- a plugin's requests --------------------------------------------------------------


def parse_capability_request(entry: object, plugin_id: str | None) -> CapabilityRequest:
    """A plugin's capability request (``"env=HOME"``: metadata or a package manifest), checked
    as plugin input.

    A malformed request is the plugin's error (BadCapabilityRequestError), never the
    user's: an unknown kind, ``memory=...`` or ``fuel=...`` (limits are the user's to set),
    a target on ``network``, a missing target or a bad environment variable name.
    """
    def refuse(why: str) -> BadCapabilityRequestError:
        return BadCapabilityRequestError(
            f"its manifest requests {str(entry)[:80]!r}, {why}", plugin_id=plugin_id,
            hint="the package is malformed; its author must request "
                 f"one of {', '.join(REQUEST_KINDS)} (e.g. fs-read=/data, env=NAME)")

    if not isinstance(entry, str):
        raise refuse("which is not a string")
    cap = Capability.parse(entry)
    kind, target = cap.kind, cap.target
    if kind not in REQUEST_KINDS:
        raise refuse(f"an unknown kind of capability {kind[:40]!r}")
    if kind == "network":
        if "=" in entry:
            raise refuse("but network takes no target")
    elif not target:
        raise refuse(f"but {kind} needs a target ({kind}=...)")
    elif kind == "env" and not is_env_name(target):
        raise refuse("which is not an environment variable name")
    return CapabilityRequest(kind, target)


def request_from_text(text: str) -> CapabilityRequest:
    """A request as the library stores it (checked when it was installed): split only."""
    cap = Capability.parse(text)
    return CapabilityRequest(cap.kind, cap.target)


def covered(grants: Grants, request: str) -> bool:
    """Whether ``grants`` already satisfy a plugin's request (``fs-read=/data``, ``network``).

    A folder request is covered by a grant of that guest path (a read request by a
    read-write grant too). Requests are checked before this is asked, so any other kind
    has nothing to grant and counts as covered.
    """
    cap = Capability.parse(request)
    if cap.kind == "network":
        return grants.network
    if cap.kind == "env":
        return cap.target in grants.env
    if cap.is_folder:
        return any(d.guest == cap.target and (d.writable or cap.kind == "fs-read")
                   for d in grants.dirs)
    return True


def request_grants(requests: Sequence[CapabilityRequest], files_dir: Path, *,
                   plugin_id: str | None = None) -> list[str]:
    """The grant text that satisfies each request; a folder request gets a private folder
    the host names under ``files_dir`` (see :func:`private_folder`).

    Every folder request is checked before any folder is created, so a bad one leaves
    nothing behind.
    """
    for req in requests:
        if req.kind in FOLDER_KINDS:
            private_folder(files_dir, req.target, create=False, plugin_id=plugin_id)
    return [grant_for(req, private_folder(files_dir, req.target, plugin_id=plugin_id)
                      if req.kind in FOLDER_KINDS else None)
            for req in requests]


def grant_for(request: CapabilityRequest, host: str | Path | None = None) -> str:
    """The grant text that satisfies ``request``: a folder request is given host folder
    ``host`` at the guest path it names; any other request is granted as written."""
    if request.kind in FOLDER_KINDS:
        if host is None:
            raise ValueError(f"{request.text} needs a host folder")
        return folder_capability(request.kind, host, request.target)
    return request.text


# --- changes --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GrantDiff:
    """What a change of grants added and removed, as capability strings (sorted)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """``+network, -env=HOME``: the one way a change of grants is written."""
        return ", ".join([f"+{c}" for c in self.added] + [f"-{c}" for c in self.removed])


def grant_diff(old: Grants, new: Grants) -> GrantDiff:
    """The capabilities ``new`` has that ``old`` lacks, and those it dropped."""
    before, after = set(old.capabilities()), set(new.capabilities())
    return GrantDiff(tuple(sorted(after - before)), tuple(sorted(before - after)))


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
