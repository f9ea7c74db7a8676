"""Typed records on an event bus that any number of subscribers (CLI, GUI) listen to.

Dispatch is synchronous on the publishing thread and nothing is queued in core, so a
plugin that floods the bus is slowed by its own subscribers instead of growing host
memory; a subscriber that needs to hand records to another thread (the GUI) keeps its
own bounded buffer.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

_log = logging.getLogger(__name__)

#: True while a caller that logs every failed call itself runs one (core.calls writes one
#: line per failed request: its id, the version that served it and the reason, with the
#: backtrace), so the layers below (core.pool) do not log the same trap a second time.
caller_logs_failures: ContextVar[bool] = ContextVar("wasmbay_caller_logs_failures",
                                                    default=False)


class LogLevel(enum.IntEnum):
    TRACE = 5
    DEBUG = 10
    INFO = 20
    WARN = 30
    ERROR = 40

    @classmethod
    def parse(cls, text: str) -> LogLevel | None:
        """Map a level name from a plugin (v1 sends free text) to a level, or None."""
        return _LEVEL_NAMES.get(text.strip().lower())

    @property
    def label(self) -> str:
        return self.name.lower()


_LEVEL_NAMES = {
    "trace": LogLevel.TRACE,
    "debug": LogLevel.DEBUG,
    "info": LogLevel.INFO,
    "information": LogLevel.INFO,
    "warn": LogLevel.WARN,
    "warning": LogLevel.WARN,
    "error": LogLevel.ERROR,
    "err": LogLevel.ERROR,
}


@dataclass(frozen=True, slots=True)
class Event:
    """Base of everything on the bus; plain data, safe to pass between threads."""

    plugin_id: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["type"] = type(self).__name__
        return d


@dataclass(frozen=True, slots=True)
class LogRecord(Event):
    """A line a plugin logged, printed, or the host wrote about it.

    ``source`` is ``plugin`` (log-message), ``stdout``/``stderr`` (WASI output) or
    ``host`` (Wasmbay's own messages about the plugin: loaded, trapped, timed out...).
    """

    level: LogLevel
    message: str
    source: str = "plugin"
    version: str = ""
    time: float = field(default_factory=time.time)
    #: More lines about the record, e.g. a trap's wasm backtrace and the guest's stderr
    #: (already escaped, one line each); empty for most records.
    details: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = Event.to_dict(self)
        d["level"] = self.level.label
        return d


@dataclass(frozen=True, slots=True)
class PluginEvent(Event):
    """An event a plugin emitted through ``emit-event``."""

    event_type: str
    payload: str
    version: str = ""
    time: float = field(default_factory=time.time)


E = TypeVar("E", bound=Event)
Subscriber = Callable[[Event], None]


class EventBus:
    """Fan-out of :class:`Event` records to subscribers, safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[tuple[Subscriber, tuple[type[Event], ...]], ...] = ()

    def subscribe(
        self, callback: Subscriber, *types: type[Event]
    ) -> Callable[[], None]:
        """Call ``callback`` for every event (or those of ``types``); returns unsubscribe."""
        entry = (callback, types or (Event,))
        with self._lock:
            self._subscribers = (*self._subscribers, entry)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not entry)

        return unsubscribe

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscribers)

    def publish(self, event: Event) -> None:
        for callback, types in self._subscribers:  # a snapshot: tuples are immutable
            if isinstance(event, types):
                try:
                    callback(event)
                except Exception:  # a broken subscriber must not break plugins
                    _log.exception("event subscriber %r failed", callback)
