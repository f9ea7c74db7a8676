"""The window runs the same engine API as ``wasmbay serve`` while it is open.

One host per data folder: the window claims the folder before it opens the library, and
if another host (``wasmbay serve`` or a second window) already holds it, this window
refuses to start a second engine and says which process to stop (its pid and socket).
The API server runs on its own thread (never the GUI thread, never the engine thread).
"""

from __future__ import annotations

import logging
from typing import Any

from wasmbay.api.lock import HostLock, HostRunningError, socket_path
from wasmbay.api.server import ApiServer
from wasmbay.core.errors import WasmbayError
from wasmbay.core.manager import PluginManager
from wasmbay.core.paths import AppDirs

_log = logging.getLogger(__name__)


class WindowService:
    """Claim the data folder, serve the engine's manager, and give both back on close."""

    def __init__(self, dirs: AppDirs | None = None) -> None:
        self._dirs = dirs
        self.lock: HostLock | None = None
        self.server: ApiServer | None = None

    def claim(self) -> str | None:
        """Take the data folder; the message to show if another host has it, else None."""
        dirs = (self._dirs or AppDirs.default()).ensure()
        try:
            self.lock = HostLock(dirs, socket_path(dirs)).acquire()
        except HostRunningError as e:
            info = e.info
            return (f"Another Wasmbay host already runs on this data folder: pid {info.pid}, "
                    f"socket {info.socket}. This window does not start a second engine: "
                    f"stop that one (Ctrl+C on `wasmbay serve`, or close its window), "
                    f"then open Wasmbay again.")
        return None

    def serve(self, backend: Any) -> str | None:
        """Start the API on the backend's manager; a message if it could not start."""
        manager = getattr(backend, "manager", None)
        if self.lock is None or not isinstance(manager, PluginManager):
            return None
        try:
            self.server = ApiServer(manager, lock=self.lock).start()
        except (WasmbayError, OSError) as e:
            _log.exception("the engine API could not start")
            return f"the engine API could not start: {e}"
        return None

    def stop_serving(self) -> None:
        """Stop the API (its threads end); the data folder stays claimed."""
        server, self.server = self.server, None
        if server is not None:
            server.stop()

    def release(self) -> None:
        """Free the data folder, once the manager has closed."""
        self.stop_serving()
        lock, self.lock = self.lock, None
        if lock is not None:
            lock.release()
