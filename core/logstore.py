"""Plugin logs on disk, one JSON-lines file per plugin, rotated at a fixed size.

Lets `wasmbay logs ID [--follow]` show what a plugin said in any Wasmbay process (the
window, a `call` from the terminal, `dev`). Memory stays bounded: lines are appended
through a small buffer and flushed at least twice a second.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .events import Event, LogRecord, PluginEvent

MAX_BYTES = 1024 * 1024
FLUSH_S = 0.5


class LogStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._files: dict[str, IO[str]] = {}
        self._last_flush = time.monotonic()

    def path(self, plugin_id: str) -> Path:
        return self.directory / f"{plugin_id}.log"

    def write(self, event: Event) -> None:
        if not isinstance(event, LogRecord | PluginEvent):
            return
        # ensure_ascii: a record is one line whatever the plugin wrote (CR, LF, U+2028 and
        # bidi controls become \uXXXX escapes); readers that show it as text escape again.
        line = json.dumps(event.to_dict(), default=str, ensure_ascii=True) + "\n"
        with self._lock:
            f = self._files.get(event.plugin_id)
            if f is None:
                f = self._files[event.plugin_id] = self.path(event.plugin_id).open(
                    "a", encoding="utf-8")
            f.write(line)
            if f.tell() > MAX_BYTES:
                self._rotate(event.plugin_id)
            now = time.monotonic()
            if now - self._last_flush > FLUSH_S:
                self._last_flush = now
                for handle in self._files.values():
                    handle.flush()

    def _rotate(self, plugin_id: str) -> None:
        self._files.pop(plugin_id).close()
        path = self.path(plugin_id)
        path.replace(path.with_suffix(".log.1"))

    def remove(self, plugin_id: str) -> None:
        with self._lock:
            f = self._files.pop(plugin_id, None)
            if f:
                f.close()
        self.path(plugin_id).unlink(missing_ok=True)
        self.path(plugin_id).with_suffix(".log.1").unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            for f in self._files.values():
                f.close()
            self._files.clear()

    def read(self, plugin_id: str) -> Iterator[dict[str, object]]:
        for path in (self.path(plugin_id).with_suffix(".log.1"), self.path(plugin_id)):
            if path.exists():
                with path.open(encoding="utf-8") as f:
                    for line in f:
                        try:
                            yield json.loads(line)
                        except json.JSONDecodeError:
                            continue  # a line cut by a crash
