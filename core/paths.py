"""Where Wasmbay keeps its files.

``WASMBAY_HOME`` moves every directory under one root, for portable installs and tests.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from . import resources

APP_NAME = "wasmbay"
#: A big file (compiled code: ~40 MB for an 18 MB plugin) goes to disk this much at a time,
#: each piece synced before the next: 40 MB written in one go stalled the plugin calls made
#: meanwhile for up to 14 ms on this machine, in 1 or 4 MB pieces for about 2 ms. In
#: 256 KiB pieces (paced as fast as 1 MiB ones) the p99 of calls made during a 45 MB
#: background write was 0.81 and 0.92 ms against 1.27 and 2.12 ms in 1 MiB pieces, and
#: 0.70 and 0.62 ms with no write (two runs of two callers at 200 calls/s each); a
#: write with no pauses took as long (0.12 s).
WRITE_CHUNK = 256 << 10


@dataclass(frozen=True)
class AppDirs:
    data: Path
    config: Path
    cache: Path
    logs: Path

    @classmethod
    def default(cls) -> AppDirs:
        home = os.environ.get("WASMBAY_HOME")
        if home:
            root = Path(home).expanduser().resolve()
            return cls(root / "data", root / "config", root / "cache", root / "logs")
        return cls(
            Path(platformdirs.user_data_dir(APP_NAME)),
            Path(platformdirs.user_config_dir(APP_NAME)),
            Path(platformdirs.user_cache_dir(APP_NAME)),
            Path(platformdirs.user_log_dir(APP_NAME)),
        )

    def ensure(self) -> AppDirs:
        for d in (self.data, self.config, self.cache, self.logs):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self


def atomic_write_bytes(path: Path, data: bytes | bytearray | memoryview, *,
                       mode: int = 0o600, pause_s: float = 0.0) -> str:
    """Write, fsync and rename so a crash leaves either the old file or the new one.

    A big file goes in :data:`WRITE_CHUNK` pieces, each synced, ``pause_s`` apart (a
    background write that leaves the disk and memory to plugin calls meanwhile).
    Returns the data's sha256 (hex), hashed piece by piece as written: read once.

    Plugins share the process's descriptors: when they have used them all up, the write
    is retried with the host's reserve (core.resources) and, failing that, refused with
    a HostResourceError that names who holds them; the old file is left as it was.
    """
    try:
        return _atomic_write(path, data, mode, pause_s)
    except OSError as e:
        if not resources.exhausted(e):
            raise
        with resources.reserved_descriptors():
            try:
                return _atomic_write(path, data, mode, pause_s)
            except OSError as again:
                if not resources.exhausted(again):
                    raise
                raise resources.descriptor_error(f"save {path.name}", again) from None


def _temp_path(path: Path) -> Path:
    """Where :func:`atomic_write_bytes` writes ``path`` first: named after the writing
    process (see :func:`leftover_temp_files`) and thread (two threads saving one file
    must not share it)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def _writer_pid(temp: Path) -> int | None:
    """The pid in a name :func:`_temp_path` made, or None for any other name."""
    parts = temp.name.split(".")
    if len(parts) < 5 or parts[0] or parts[-1] != "tmp":
        return None
    pid, tid = parts[-3], parts[-2]
    if not (pid.isdigit() and tid.isdigit()) or len(pid) > 9:
        return None
    return int(pid) or None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def leftover_temp_files(directory: Path) -> list[Path]:
    """Temp files in ``directory`` of atomic writes whose process is gone.

    A write cut short by a crash or kill leaves its temp file (tens of MB for compiled
    code), which nothing else lists or removes. A writer that is still running (this
    process, or another Wasmbay on the same directory) keeps its file.
    """
    me = os.getpid()
    found = []
    try:
        candidates = list(directory.glob(".*.tmp"))
    except OSError:
        return []
    for temp in candidates:
        pid = _writer_pid(temp)
        if pid is None or pid == me or _alive(pid) or not temp.is_file():
            continue
        found.append(temp)
    return found


def _atomic_write(path: Path, data: bytes | bytearray | memoryview, mode: int,
                  pause_s: float = 0.0) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    digest = hashlib.sha256()
    try:
        try:
            view = memoryview(data).cast("B")
            for start in range(0, len(view), WRITE_CHUNK):
                piece = view[start:start + WRITE_CHUNK]
                digest.update(piece)
                while piece:
                    piece = piece[os.write(fd, piece):]
                if len(view) > WRITE_CHUNK:
                    os.fdatasync(fd)
                    if pause_s:
                        time.sleep(pause_s)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
