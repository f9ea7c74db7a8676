"""Hot reload with watchdog: rebuilt components are swapped in only if they load.

A build tool writes a component in several chunks (or writes a temp file and renames
it); events are debounced per file and the file must stay unchanged for a moment
before it is read, then it is fully validated and initialized beside the running
version. The library folder is watched as well: a state change made by another
Wasmbay process (the CLI beside the window) is picked up, and a component modified
behind Wasmbay's back is refused by its recorded sha256.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .debounce import Debouncer


def _stable_size(path: Path, settle_s: float = 0.1) -> bool:
    """True once the file exists and its size and mtime stay put for ``settle_s``."""
    import time

    try:
        before = path.stat()
        time.sleep(settle_s)
        after = path.stat()
    except FileNotFoundError:
        return False
    return (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns)


class LibraryWatcher(FileSystemEventHandler):
    """Watches the library folder (``on_state_changed(plugin_id)`` when a plugin's
    state.json changes) and dev build outputs (``watch_file``). It knows nothing of the
    manager: the manager hands it the folder and the callbacks."""

    def __init__(self, library_root: Path, on_state_changed: Callable[[str], object]) -> None:
        self._on_state_changed = on_state_changed
        self._observer = Observer()
        self._files: dict[Path, Callable[[Path], object]] = {}
        self._watched_dirs: set[Path] = set()
        self._debounce = Debouncer()
        self._lock = threading.Lock()
        self._observer.schedule(self, str(library_root), recursive=True)
        self._library_root = library_root

    def start(self) -> None:
        self._observer.daemon = True
        self._observer.start()

    def stop(self) -> None:
        self._debounce.cancel_all()
        self._observer.stop()
        self._observer.join(timeout=2)

    def watch_file(self, path: Path, on_change: Callable[[Path], object]) -> None:
        path = path.resolve()
        with self._lock:
            self._files[path] = on_change
            if path.parent not in self._watched_dirs:
                self._watched_dirs.add(path.parent)
                self._observer.schedule(self, str(path.parent), recursive=False)

    # --- watchdog callbacks (its thread) ----------------------------------------------

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in ("created", "modified", "moved", "closed"):
            return
        raw = getattr(event, "dest_path", "") or event.src_path
        path = Path(raw if isinstance(raw, str) else raw.decode()).resolve()
        callback = self._files.get(path)
        if callback is not None:
            self._debounce.trigger(path, lambda: self._reload_file(path, callback))
            return
        try:
            rel = path.relative_to(self._library_root.resolve())
        except ValueError:
            return
        if rel.parts and not rel.parts[0].startswith(".") and path.name == "state.json":
            self._debounce.trigger(path, lambda: self._on_state_changed(rel.parts[0]))

    def _reload_file(self, path: Path, callback: Callable[[Path], object]) -> None:
        for _ in range(20):  # a writer still busy: wait until the file settles
            if _stable_size(path):
                callback(path)
                return
        callback(path)
