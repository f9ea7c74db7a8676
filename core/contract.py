"""The WIT contract versions the host serves, and the plain Python values they carry.

The host detects which version a component targets from its import and export names
(``toolsku:plugin-system/plugin-api`` unversioned or ``@1.x`` is v1, ``@2.x`` is v2) and
serves every supported version from one linker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = "toolsku:plugin-system"
WIT_DIR = Path(__file__).resolve().parent.parent / "wit"

_NAME = re.compile(
    r"^toolsku:plugin-system/(?P<iface>[a-z0-9-]+)(?:@(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?)?$"
)
#: The kinds of capability a plugin may request (v2's ``capability`` variant).
REQUEST_KINDS = ("fs-read", "fs-write", "network", "env")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ContractVersion:
    major: int
    #: The names under which the host defines host-api for this version.
    host_api_names: tuple[str, ...]
    #: Functions plugin-api must export.
    required_exports: tuple[str, ...]
    #: The host-api functions of this version, name -> WIT signature (for messages).
    host_functions: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{PACKAGE}@{self.major}.x"


V1 = ContractVersion(
    major=1,
    host_api_names=(f"{PACKAGE}/host-api", f"{PACKAGE}/host-api@1.0.0"),
    required_exports=("initialize", "process", "shutdown", "get-metadata"),
    host_functions=("log-message", "get-config", "emit-event"),
)
V2 = ContractVersion(
    major=2,
    host_api_names=(f"{PACKAGE}/host-api@2.0.0",),
    required_exports=("initialize", "process", "shutdown", "get-metadata", "health"),
    host_functions=("log", "get-config", "emit-event"),
)
SUPPORTED: dict[int, ContractVersion] = {1: V1, 2: V2}


@dataclass(frozen=True)
class ParsedName:
    interface: str
    #: None for the unversioned package (which is v1).
    version: tuple[int, int, int] | None
    #: The semver pre-release ("rc1" of ``@2.0.0-rc1``): not the released contract.
    prerelease: str | None = None
    #: Semver build metadata ("+build"), kept only to show the name as written.
    build: str | None = None

    @property
    def major(self) -> int:
        return 1 if self.version is None else self.version[0]

    @property
    def is_release(self) -> bool:
        """False for ``@2.0.0-rc1``: a pre-release's types may differ from the release's."""
        return self.prerelease is None

    @property
    def version_text(self) -> str:
        if self.version is None:
            return "unversioned"
        text = ".".join(map(str, self.version))
        if self.prerelease is not None:
            text += f"-{self.prerelease}"
        if self.build is not None:
            text += f"+{self.build}"
        return text


def parse_contract_name(name: str) -> ParsedName | None:
    """Parse an import/export name of our package, or return None for anything else.

    A pre-release (``@2.0.0-rc1``) parses with ``is_release`` False: the host serves
    released versions only and must refuse it, not take it for 2.0.0 (its WIT may differ).
    """
    m = _NAME.match(name)
    if not m:
        return None
    version = None
    if m.group("major") is not None:
        version = (int(m.group("major")), int(m.group("minor")), int(m.group("patch")))
    return ParsedName(m.group("iface"), version, m.group("pre"), m.group("build"))


def wit_signature(major: int, function: str) -> str | None:
    """The WIT line declaring ``function`` in plugin-api of wit/v<major>, for messages."""
    try:
        text = (WIT_DIR / f"v{major}" / "plugin-system.wit").read_text()
    except OSError:
        return None
    in_api = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("interface "):
            in_api = stripped.startswith("interface plugin-api")
        elif in_api and stripped.startswith(f"{function}: func"):
            return stripped.rstrip(";")
    return None


def parse_capability_request(entry: object, plugin_id: str | None) -> CapabilityRequest:
    """A package manifest's capability entry (``"env=HOME"``), checked as plugin input.

    A malformed request is the plugin's error (BadCapabilityRequestError), never the
    user's: an unknown kind, ``memory=...`` or ``fuel=...`` (limits are the user's to set),
    a target on ``network``, a missing target or a bad environment variable name.
    """
    from .errors import BadCapabilityRequestError

    def refuse(why: str) -> BadCapabilityRequestError:
        return BadCapabilityRequestError(
            f"its manifest requests {str(entry)[:80]!r}, {why}", plugin_id=plugin_id,
            hint="the package is malformed; its author must request "
                 f"one of {', '.join(REQUEST_KINDS)} (e.g. fs-read=/data, env=NAME)")

    if not isinstance(entry, str):
        raise refuse("which is not a string")
    kind, sep, target = entry.partition("=")
    if kind not in REQUEST_KINDS:
        raise refuse(f"an unknown kind of capability {kind[:40]!r}")
    if kind == "network":
        if sep:
            raise refuse("but network takes no target")
    elif not target:
        raise refuse(f"but {kind} needs a target ({kind}=...)")
    elif kind == "env" and not _ENV_NAME.fullmatch(target):
        raise refuse("which is not an environment variable name")
    return CapabilityRequest(kind, target)


def supported_label() -> str:
    return " and ".join(f"{v.major}.x" for v in SUPPORTED.values())


# --- plain values ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CapabilityRequest:
    """A capability a plugin asks for (v2 metadata or a package manifest)."""

    kind: str  # fs-read | fs-write | network | env
    target: str = ""
    reason: str = ""

    @property
    def text(self) -> str:
        return self.kind if not self.target else f"{self.kind}={self.target}"

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "target": self.target, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class PluginMetadata:
    name: str
    version: str
    description: str
    capabilities: tuple[CapabilityRequest, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "capabilities": [c.to_dict() for c in self.capabilities],
        }


@dataclass(slots=True)
class ProcessResult:
    """What ``process`` answered, in one shape for every contract version."""

    output: str
    success: bool
    error: str | None = None
    #: v2's plugin-error case (invalid-input, not-configured, unavailable, internal).
    error_kind: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    #: Filled in by the caller side: which plugin version served the call.
    served_by: str = ""
    duration_s: float = field(default=0.0, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "success": self.success,
            "error": self.error,
            "error_kind": self.error_kind,
            "attributes": [list(a) for a in self.attributes],
            "served_by": self.served_by,
            "duration_ms": round(self.duration_s * 1000, 3),
        }


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: str  # ok | degraded | failing
    detail: str | None = None

    @property
    def healthy(self) -> bool:
        return self.status != "failing"
