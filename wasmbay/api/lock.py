"""One host per data folder, and where its socket lives.

The host holds an exclusive ``flock`` on ``<data>/host.lock`` for as long as it runs and
writes ``{pid, socket}`` into it; the kernel drops the lock when the process ends, so a
crashed host never leaves a stale claim (only a stale file, which the next host rewrites).
A second host finds the lock taken and refuses, naming the running one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from wasmbay import __version__
from wasmbay.core import errors as E
from wasmbay.core.paths import APP_NAME, AppDirs

LOCK_NAME = "host.lock"
SOCKET_NAME = "wasmbay.sock"
#: sun_path is 108 bytes on Linux, with the terminating NUL.
MAX_SOCKET_PATH = 107


class HostRunningError(E.UsageError):
    """Another host (``wasmbay serve`` or the window) already serves this data folder."""

    kind = "host-running"

    def __init__(self, info: HostInfo) -> None:
        self.info = info
        super().__init__(
            f"another Wasmbay host (pid {info.pid}) already serves {info.data} "
            f"on {info.socket}",
            hint="use that one (the CLI talks to it), or stop it first")

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = dict(super().to_dict())
        d["pid"] = self.info.pid
        d["socket"] = self.info.socket
        return d


@dataclass(frozen=True)
class HostInfo:
    pid: int
    socket: str
    data: str


def socket_folder(dirs: AppDirs) -> Path:
    """The user runtime folder (XDG_RUNTIME_DIR); the data folder's ``run`` otherwise.

    ``WASMBAY_HOME`` keeps everything under the home, the socket too. Without
    XDG_RUNTIME_DIR platformdirs falls back to a shared /tmp path, which another user
    could pre-create: the data folder (ours, 0700) is used instead.
    """
    if os.environ.get("WASMBAY_HOME"):
        return dirs.data.parent / "run"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(platformdirs.user_runtime_dir(APP_NAME))
    return dirs.data / "run"


def socket_path(dirs: AppDirs) -> Path:
    return socket_folder(dirs) / SOCKET_NAME


def private_folder(folder: Path) -> Path:
    """Create (or check) ``folder`` as ours and 0700; refuse a link or another's folder."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = folder.lstat()
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise E.UsageError(f"the socket folder {folder} is not a folder of this user's",
                           hint="remove it, or set WASMBAY_HOME")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(folder, 0o700)
    return folder


class HostLock:
    """The claim on one data folder; ``acquire`` raises :class:`HostRunningError`."""

    def __init__(self, dirs: AppDirs, socket: Path) -> None:
        self.path = dirs.data / LOCK_NAME
        self.data = dirs.data
        self.socket = socket
        self._fd: int | None = None

    def acquire(self) -> HostLock:
        self.data.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _read(fd, self.data)
            os.close(fd)
            raise HostRunningError(info) from None
        body = json.dumps({"pid": os.getpid(), "socket": str(self.socket),
                           "data": str(self.data), "version": __version__}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, body, 0)
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # the file stays: unlinking it would race a new host
        os.close(fd)  # closing drops the flock

    @property
    def held(self) -> bool:
        return self._fd is not None


def _read(fd: int, data: Path) -> HostInfo:
    try:
        d = json.loads(os.pread(fd, 64 * 1024, 0) or b"{}")
        return HostInfo(int(d.get("pid", 0)), str(d.get("socket", "?")), str(data))
    except (ValueError, TypeError, OSError):
        return HostInfo(0, "?", str(data))


def running_host(dirs: AppDirs | None = None) -> HostInfo | None:
    """The host serving ``dirs`` (default: this user's), or None if none runs.

    Asks the kernel (a shared lock that fails only while a host holds its exclusive
    one), so a pid left in the file by a crashed host is never taken for a live one.
    """
    dirs = dirs or AppDirs.default()
    path = dirs.data / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd, dirs.data)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
