"""Typed events of the plugin manager: what the GUI and CLI subscribe to.

All plain, frozen data, safe to hand to another thread (the GUI re-emits them as Qt
signals). They share the bus with the runtime's LogRecord and PluginEvent; the
manager's parts publish them through one :class:`Notifier`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Fix
from .events import Event, EventBus, LogLevel, LogRecord


@dataclass(frozen=True, slots=True)
class PluginInstalled(Event):
    version: str
    requested: tuple[str, ...] = ()
    granted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PluginUninstalled(Event):
    pass


@dataclass(frozen=True, slots=True)
class PluginLoading(Event):
    """Start-up or reload progress, 0.0 to 1.0, with the stage being worked on."""

    progress: float
    stage: str
    version: str = ""


@dataclass(frozen=True, slots=True)
class Progress(Event):
    """A stage of a preview, install, load or cache warm-up, with the time since it began.

    ``plugin_id`` is the plugin's id, or the file's path while its id is not known yet
    (a preview). ``stage`` is one of :data:`STAGES`; ``fraction`` is 0.0 to 1.0 where the
    whole is known, else None. The optimizing stages may arrive after the operation
    returned (the optimized compile runs in the background).
    """

    operation: str
    stage: str
    elapsed_s: float
    fraction: float | None = None


# The stages of Progress, in the order they happen.
READING = "reading"
CHECKING = "checking"
COMPILING_FAST = "compiling (fast)"
READY = "ready"
OPTIMIZING = "optimizing"
OPTIMIZED = "optimized"
CANCELLED = "cancelled"
STAGES = (READING, CHECKING, COMPILING_FAST, READY, OPTIMIZING, OPTIMIZED)


@dataclass(frozen=True, slots=True)
class PluginReady(Event):
    version: str
    wit_version: int = 1


@dataclass(frozen=True, slots=True)
class PluginFailed(Event):
    reason: str
    kind: str = "error"
    version: str = ""
    #: What would repair it (core.errors.Fix), when the host knows.
    fix: Fix | None = None


@dataclass(frozen=True, slots=True)
class PluginEnabled(Event):
    pass


@dataclass(frozen=True, slots=True)
class PluginDisabled(Event):
    pass


@dataclass(frozen=True, slots=True)
class GrantsChanged(Event):
    capabilities: tuple[str, ...]
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConfigChanged(Event):
    key: str
    secret: bool = False
    removed: bool = False


@dataclass(frozen=True, slots=True)
class PluginSwapped(Event):
    """A new build or generation now serves calls; the old one finished its calls."""

    old_version: str
    new_version: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SwapFailed(Event):
    """A rebuild did not load; the running version keeps serving."""

    reason: str
    path: str = ""


@dataclass(frozen=True, slots=True)
class CanaryStarted(Event):
    version: str
    percent: int


@dataclass(frozen=True, slots=True)
class CanaryPercentChanged(Event):
    version: str
    percent: int


@dataclass(frozen=True, slots=True)
class CanaryPromoted(Event):
    version: str
    previous: str


@dataclass(frozen=True, slots=True)
class CanaryRolledBack(Event):
    version: str
    reason: str
    automatic: bool = False


@dataclass(frozen=True, slots=True)
class MetricsUpdated(Event):
    """Per-version metrics (``MetricsSnapshot.to_dict()`` values), at most a few per second."""

    versions: dict[str, dict[str, Any]] = field(default_factory=dict)


class Notifier:
    """How the manager's parts publish: typed events, and host log lines about a plugin."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    def emit(self, event: Event) -> None:
        self.bus.publish(event)

    def host_log(self, plugin_id: str, level: LogLevel, message: str) -> None:
        self.bus.publish(LogRecord(plugin_id, level, message, source="host"))
