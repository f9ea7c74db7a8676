"""The plain Python values every contract version is converted into.

Each version module (core.contracts.v1, v2) lifts and decodes its own WIT values into
these, so the rest of the host (plugin, manager, GUI, CLI) never sees a version's types.
The versions themselves, and which one a component targets: core.contracts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# --- plain values ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CapabilityRequest:
    """A capability a plugin asks for (v2 metadata or a package manifest).

    A plain value: parsing, checking and covering requests is core.grants' job.
    """

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
    #: Filled in by the caller side for a failed answer: what would repair it
    #: (core.errors.Fix, e.g. a folder the plugin was not granted), when the host knows.
    fix: Any = field(default=None, compare=False)

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
