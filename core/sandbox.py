"""Turn :class:`Grants` into a WASI context, and a plugin's stdout/stderr into log records.

Deny by default: no preopened directory, no environment variable, no network, an
empty stdin, and nothing inherited from the host process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from wasmtime import WasiConfig

from . import wasmtime_internals
from .events import EventBus, LogLevel, LogRecord
from .grants import Grants
from .untrusted import LIMITS

#: A line longer than this is cut; a plugin printing without newlines cannot make the
#: host hold an unbounded buffer.
MAX_LINE = LIMITS.output_line  # core.untrusted owns the limits on plugin text


def build_wasi(grants: Grants, stdout: Callable[[bytes], None],
               stderr: Callable[[bytes], None]) -> WasiConfig:
    wasi = WasiConfig()
    env = grants.env_pairs()
    if env:
        wasi.env = env
    for d in grants.dirs:
        wasi.preopen_dir(d.host, d.guest, fs_mutable=d.writable)
    if grants.network:
        # Without this every socket operation is refused by WASI itself.
        wasmtime_internals.wasi_allow_network(wasi)
    wasi.stdout_custom = stdout
    wasi.stderr_custom = stderr
    return wasi


class OutputCapture:
    """Splits a WASI output stream into lines and publishes each as a LogRecord."""

    def __init__(self, bus: EventBus, plugin_id: str, version: str, stream: str) -> None:
        self._bus = bus
        self._plugin_id = plugin_id
        self._version = version
        self._stream = stream
        self._level = LogLevel.INFO if stream == "stdout" else LogLevel.WARN
        self._partial = bytearray()
        self._lock = threading.Lock()
        #: The last lines written, so a trap can be explained (e.g. a MemoryError traceback).
        self.recent: list[str] = []
        #: Lines written so far: a trap keeps those its call wrote (core.backtrace).
        self.lines = 0

    def __call__(self, data: bytes) -> None:
        with self._lock:
            self._partial += data
            *lines, rest = bytes(self._partial).split(b"\n")
            if len(rest) > MAX_LINE:
                lines.append(rest[:MAX_LINE] + b" [line cut]")
                rest = b""
            self._partial = bytearray(rest)
        for line in lines:
            self._emit(line)

    def flush(self) -> None:
        if not self._partial:  # the common case after every call: nothing pending
            return
        with self._lock:
            rest, self._partial = bytes(self._partial), bytearray()
        if rest:
            self._emit(rest)

    def _emit(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        self.recent.append(text)
        self.lines += 1
        del self.recent[:-40]
        if self._bus.has_subscribers:
            self._bus.publish(LogRecord(self._plugin_id, self._level, text,
                                        source=self._stream, version=self._version))
