"""Reporting the stages of a long operation, and cancelling it between them.

A :class:`ProgressReporter` is the one hook the installer, the loader and the runtime's
compile tiers call: ``report(stage)`` publishes a :class:`~.manager_events.Progress`
with the time since the operation began. A :class:`CancelToken` is checked between
stages (``report`` checks it first), never inside a compile, which wasmtime-py cannot
interrupt: a cancel during a compile takes effect when the compile returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from . import errors as E
from .events import EventBus
from .manager_events import CANCELLED, Progress

#: What a compile step calls: ``hook(stage, fraction)``. A ProgressReporter is one.
ProgressHook = Callable[[str, "float | None"], None]


class CancelToken:
    """Set by the user (any thread), checked by the operation between its stages."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self, plugin_id: str | None = None) -> None:
        """Raise :class:`~.errors.CancelledError` if the operation was cancelled."""
        if self._event.is_set():
            raise E.CancelledError(plugin_id=plugin_id)


class ProgressReporter:
    """Publishes one operation's stages on the bus, each with its elapsed time.

    Safe to call from any thread and after the operation returned (the background
    optimizing compile reports through the same reporter). ``bus=None`` reports nothing.
    """

    def __init__(self, bus: EventBus | None, subject: str, operation: str,
                 cancel: CancelToken | None = None) -> None:
        self.bus = bus
        self.subject = subject
        self.operation = operation
        self.cancel = cancel
        self.started = time.monotonic()
        self.stages: list[str] = []

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self) -> None:
        """Raise CancelledError (after reporting the stage "cancelled") if cancelled."""
        if self.cancel is not None and self.cancel.cancelled:
            self.report(CANCELLED, check=False)
            self.cancel.check(self.subject)

    def report(self, stage: str, fraction: float | None = None, *, check: bool = True) -> None:
        """Publish ``stage``; with ``check`` a cancelled operation raises first."""
        if check:
            self.check()
        self.stages.append(stage)
        if self.bus is not None:
            self.bus.publish(Progress(self.subject, self.operation, stage, self.elapsed(),
                                      fraction))

    def __call__(self, stage: str, fraction: float | None = None) -> None:
        """The :data:`ProgressHook` form: the compile tiers report without cancel checks.

        A stage reported from inside a compile must not raise (the compile's result
        would leak half-cached); cancellation is checked by the caller afterwards.
        """
        self.report(stage, fraction, check=False)
