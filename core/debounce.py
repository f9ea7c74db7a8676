"""The one debouncer: file events come in bursts (an editor or a build tool writes a file
in several chunks, or twice), and each burst should cause one reaction, not many.

Used by the library watcher (core.hotreload) and by ``wasmbay build --watch``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

#: How long a key must stay quiet before its reaction runs.
DEBOUNCE_S = 0.3


class Debouncer:
    """Runs ``fn`` once ``delay`` seconds have passed without another trigger of its key.

    Each key has its own timer; ``fn`` runs on that timer's (daemon) thread.
    """

    def __init__(self, delay: float = DEBOUNCE_S) -> None:
        self._delay = delay
        self._timers: dict[Hashable, threading.Timer] = {}
        self._lock = threading.Lock()

    def trigger(self, key: Hashable, fn: Callable[[], object]) -> None:
        with self._lock:
            old = self._timers.pop(key, None)
            if old is not None:
                old.cancel()
            t = threading.Timer(self._delay, self._fire, (key, fn))
            t.daemon = True
            self._timers[key] = t
            t.start()

    def _fire(self, key: Hashable, fn: Callable[[], object]) -> None:
        with self._lock:
            if self._timers.get(key) is threading.current_thread():  # not a newer timer
                del self._timers[key]
        fn()

    def cancel_all(self) -> None:
        with self._lock:
            for t in self._timers.values():
                t.cancel()
            self._timers.clear()
