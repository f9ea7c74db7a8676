"""``wasmbay build --watch``: rebuild a project whenever one of its sources changes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from wasmbay.core import errors as E
from wasmbay.core.debounce import Debouncer

from .build import BuildResult, build_project
from .project import Project, is_source
from .tools import TOOL_TIMEOUT_S, Progress


class ProjectWatcher:
    """Rebuilds a project whenever one of its sources changes (``wasmbay build --watch``).

    Results and errors are handed to ``on_result`` on a watcher thread, one build at a
    time; saves that come in bursts (editors write twice) are debounced, and saves during
    a build cause one more build after it.
    """

    def __init__(self, directory: Path,
                 on_result: Callable[[list[BuildResult] | E.WasmbayError], None],
                 progress: Progress | None = None) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        self.project = Project.load(directory)
        self._on_result = on_result
        self._progress = progress
        self._debounce = Debouncer()
        self._changed = threading.Event()  # a source changed since the last build began
        self._building = threading.Lock()
        self._stop = threading.Event()
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                if event.is_directory and event.event_type == "modified":
                    return  # a folder's listing changed (e.g. build/ appeared): not a source
                if watcher._relevant(str(event.src_path)):
                    watcher._schedule()

        self._observer = Observer()
        self._observer.daemon = True
        self._observer.schedule(Handler(), str(self.project.root), recursive=True)

    def _relevant(self, path: str) -> bool:
        try:
            rel = Path(path).resolve().relative_to(self.project.root)
        except ValueError:
            return False
        return is_source(rel)

    def _schedule(self) -> None:
        self._changed.set()
        self._debounce.trigger(self.project.root, self._build)

    def start(self, *, build_now: bool = True) -> ProjectWatcher:
        self._observer.start()
        if build_now:
            self._schedule()
        return self

    def _build(self) -> None:
        """After a quiet period (a debouncer thread): build, unless another thread that
        waited for the same build lock has built these changes already."""
        with self._building:
            if self._stop.is_set() or not self._changed.is_set():
                return
            self._changed.clear()
            result: list[BuildResult] | E.WasmbayError
            try:
                result = build_project(self.project.root, progress=self._progress)
            except E.WasmbayError as e:
                result = e
            self._on_result(result)

    def stop(self) -> None:
        self._stop.set()
        self._debounce.cancel_all()
        self._observer.stop()
        self._observer.join(timeout=5)
        if self._building.acquire(timeout=TOOL_TIMEOUT_S):  # a build under way finishes
            self._building.release()

    def __enter__(self) -> ProjectWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
