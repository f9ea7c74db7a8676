"""Host resources that every plugin shares: file descriptors and disk space.

wasmtime bounds a plugin's memory, stack, fuel and time, but not what WASI opens or
writes on its behalf: every file or folder a guest opens is a real descriptor of the
host process, and every byte written through a read-write grant lands on the user's
disk. wasmtime-py offers no per-store hook for either (``Store.set_limits`` covers
linear memories, tables and instances; the WASI resource table's own limit is not
exposed by the C API). So the host

* raises its soft ``RLIMIT_NOFILE`` towards the hard limit once, at start
  (:func:`prepare_process`), so one plugin holding a thousand files no longer uses up
  a desktop's default ``ulimit -n 1024``;
* keeps a small reserve of descriptors that is released only for the host's own
  writes (:func:`reserved_descriptors`), so saving state still works at the limit,
  and fails with :class:`HostResourceError` (never a traceback) when even that is gone;
* measures, per plugin, the descriptors open inside its granted folders
  (:func:`open_files`, Linux) and the disk used by its writable folders
  (:func:`disk_usage`, a bounded walk), which the manager shows, checks against a
  budget after calls, and warns about.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import HostResourceError

#: The soft limit is raised to the hard one, but not beyond this: children we spawn
#: (compilers, packagers) inherit it, and some loop over every possible descriptor.
FD_LIMIT_CAP = 1 << 16
#: Descriptors held back for the host's own writes (one write needs at most three).
RESERVE = 8
#: Entries a disk-usage walk visits at most; beyond it the figure is a lower bound.
DISK_WALK_MAX_ENTRIES = 100_000

_FD_DIR = "/proc/self/fd"
_EXHAUSTED = (errno.EMFILE, errno.ENFILE)


@dataclass(frozen=True)
class FdLimit:
    """The process's descriptor limit before and after :func:`prepare_process`."""

    before: int
    soft: int
    hard: int

    def to_dict(self) -> dict[str, int]:
        return {"before": self.before, "soft": self.soft, "hard": self.hard}


_lock = threading.RLock()
_limit: FdLimit | None = None
_reserve: list[int] = []


def prepare_process() -> FdLimit:
    """Raise the soft descriptor limit and set the reserve aside; once per process."""
    global _limit
    with _lock:
        if _limit is None:
            _limit = _raise_nofile()
            _refill()
        return _limit


def fd_limit() -> FdLimit:
    return prepare_process()


def _raise_nofile() -> FdLimit:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = FD_LIMIT_CAP if hard == resource.RLIM_INFINITY else min(hard, FD_LIMIT_CAP)
    if sys.platform == "darwin":  # macOS refuses more than OPEN_MAX for the soft limit
        target = min(target, 10240)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    now, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return FdLimit(before=soft, soft=now, hard=hard)


def _refill() -> None:
    while len(_reserve) < RESERVE:
        try:
            _reserve.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
        except OSError:
            return  # a plugin holds them; we try again after the next host write


def _release() -> int:
    n = len(_reserve)
    while _reserve:
        with contextlib.suppress(OSError):
            os.close(_reserve.pop())
    return n


@contextlib.contextmanager
def reserved_descriptors() -> Iterator[None]:
    """Run a host write with the reserve released; refilled afterwards."""
    with _lock:
        _release()
        try:
            yield
        finally:
            _refill()


def exhausted(e: OSError) -> bool:
    return e.errno in _EXHAUSTED


def descriptor_error(what: str, e: OSError) -> HostResourceError:
    """The error for a host write refused because descriptors are used up."""
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    holders = _holders_text()
    return HostResourceError(
        f"cannot {what}: the process has no file descriptor left (limit {limit}"
        f"{'; ' + holders if holders else ''})", code=e.errno or errno.EMFILE,
        hint="disable or restart the plugin holding the most open files (`wasmbay info ID` "
             "shows them), or raise `ulimit -n`; nothing was changed")


# --- measuring ------------------------------------------------------------------------


class _Folders:
    """Which host folders each running plugin was granted, to attribute descriptors."""

    def __init__(self) -> None:
        self._by_plugin: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def set(self, plugin_id: str, folders: Iterable[str]) -> None:
        with self._lock:
            self._by_plugin[plugin_id] = tuple(folders)

    def forget(self, plugin_id: str) -> None:
        with self._lock:
            self._by_plugin.pop(plugin_id, None)

    def items(self) -> list[tuple[str, tuple[str, ...]]]:
        with self._lock:
            return list(self._by_plugin.items())


#: Granted folders of the plugins this process runs (kept by the PluginManager).
FOLDERS = _Folders()


def _inside(target: str, folders: tuple[str, ...]) -> bool:
    return any(target == f or target.startswith(f.rstrip("/") + "/") for f in folders)


def _open_targets() -> list[str] | None:
    """Where each of this process's descriptors points; None where /proc is missing."""
    try:
        names = os.listdir(_FD_DIR)
    except OSError as e:
        if not exhausted(e):
            return None
        try:  # at the limit: the very moment to look, with the reserve
            with reserved_descriptors():
                names = os.listdir(_FD_DIR)
        except OSError:
            return None
    out = []
    for name in names:
        with contextlib.suppress(OSError):
            out.append(os.readlink(f"{_FD_DIR}/{name}"))
    return out


def open_files(folders: Iterable[str]) -> int | None:
    """Descriptors the process holds inside ``folders`` (files and the folders themselves).

    None where it cannot be measured (no /proc, e.g. macOS, or no descriptor left to
    list it with).
    """
    targets = _open_targets()
    if targets is None:
        return None
    roots = tuple(folders)
    return sum(1 for t in targets if _inside(t, roots))


def open_files_by_plugin() -> dict[str, int]:
    targets = _open_targets()
    if targets is None:
        return {}
    return {pid: sum(1 for t in targets if _inside(t, roots)) for pid, roots in FOLDERS.items()}


def _holders_text() -> str:
    """Who holds the most descriptors; called with the reserve released, so /proc opens."""
    counts = open_files_by_plugin()
    top = sorted(((n, pid) for pid, n in counts.items() if n), reverse=True)[:3]
    return ", ".join(f"plugin '{pid}' holds {n}" for n, pid in top)


@dataclass(frozen=True)
class DiskUsage:
    #: Bytes allocated on disk (``st_blocks``: sparse files count what they occupy).
    bytes: int
    entries: int
    #: The walk stopped at :data:`DISK_WALK_MAX_ENTRIES`: ``bytes`` is a lower bound.
    partial: bool


def disk_usage(folders: Iterable[str], max_entries: int = DISK_WALK_MAX_ENTRIES) -> DiskUsage:
    """What ``folders`` occupy, walked without following links and at bounded cost."""
    total, entries, seen = 0, 0, set()
    stack = [str(f) for f in folders]
    while stack:
        top = stack.pop()
        try:
            it = os.scandir(top)
        except OSError:
            continue
        with it:
            for entry in it:
                entries += 1
                if entries > max_entries:
                    return DiskUsage(total, entries - 1, True)
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) in seen:  # hard links count once
                    continue
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512 if hasattr(st, "st_blocks") else st.st_size
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
    return DiskUsage(total, entries, False)


def writable_folders(dirs: Iterable[Any]) -> list[str]:
    """The host folders of read-write grants (``DirGrant``-like objects), nested ones once."""
    hosts = sorted({str(Path(d.host)) for d in dirs if d.writable})
    return [h for h in hosts if not any(h != o and _inside(h, (o,)) for o in hosts)]


def granted_folders(dirs: Iterable[Any]) -> list[str]:
    return sorted({str(Path(d.host)) for d in dirs})


# --- per-plugin watch -----------------------------------------------------------------

#: How often (at most) a plugin's writable folders are walked after its calls.
DISK_INTERVAL_S = 5.0


def default_fd_budget(limit: FdLimit) -> int:
    """A quarter of the process's descriptors, between 64 and 1024, for one plugin."""
    return max(64, min(1024, limit.soft // 4))


@dataclass(frozen=True)
class Usage:
    """One plugin's share of the host: what ``wasmbay info`` and the window show."""

    open_files: int | None  # None: not measurable here (no /proc)
    fd_budget: int | None
    fd_limit: int
    disk_bytes: int | None  # None: no read-write grant
    disk_quota: int
    disk_partial: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"open_files": self.open_files, "fd_budget": self.fd_budget,
                "fd_limit": self.fd_limit, "disk_bytes": self.disk_bytes,
                "disk_quota": self.disk_quota, "disk_partial": self.disk_partial}


@dataclass(frozen=True)
class Finding:
    kind: str  # fd-budget | disk-quota
    message: str


class ResourceWatch:
    """Measures each plugin's descriptors and disk; says when it went over its share.

    Descriptors are counted from /proc/self/fd (links into the plugin's granted
    folders), disk by a bounded walk of its read-write folders at most every
    ``disk_interval_s``. Nothing here can stop a plugin mid-call: the manager acts on
    the findings after calls.
    """

    def __init__(self, fd_budget: int | None = None, disk_interval_s: float = DISK_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fd_budget = fd_budget if fd_budget is not None else default_fd_budget(fd_limit())
        self.disk_interval_s = disk_interval_s
        self._clock = clock
        self._disk: dict[str, tuple[float, tuple[str, ...], DiskUsage]] = {}
        self._over_quota: set[str] = set()
        self._checked: dict[str, float] = {}
        self._lock = threading.Lock()

    def forget(self, plugin_id: str) -> None:
        with self._lock:
            self._disk.pop(plugin_id, None)
            self._over_quota.discard(plugin_id)
            self._checked.pop(plugin_id, None)
        FOLDERS.forget(plugin_id)

    def _disk_usage(self, plugin_id: str, dirs: Iterable[Any], fresh: bool) -> DiskUsage | None:
        folders = tuple(writable_folders(dirs))
        if not folders:
            return None
        now = self._clock()
        with self._lock:
            cached = self._disk.get(plugin_id)
        if (not fresh and cached is not None and cached[1] == folders
                and now - cached[0] < self.disk_interval_s):
            return cached[2]
        usage = disk_usage(folders)
        with self._lock:
            self._disk[plugin_id] = (now, folders, usage)
        return usage

    def usage(self, plugin_id: str, grants: Any, *, fresh: bool = False) -> Usage:
        folders = granted_folders(grants.dirs)
        FOLDERS.set(plugin_id, folders)
        fds = open_files(folders) if folders else 0
        disk = self._disk_usage(plugin_id, grants.dirs, fresh)
        return Usage(open_files=fds, fd_budget=self.fd_budget, fd_limit=fd_limit().soft,
                     disk_bytes=disk.bytes if disk else None,
                     disk_quota=grants.disk_quota_bytes,
                     disk_partial=disk.partial if disk else False)

    def check(self, plugin_id: str, grants: Any) -> list[Finding]:
        """Findings after a call: over the descriptor budget (every time), over the disk
        quota (once per crossing)."""
        from .grants import format_size

        if not grants.dirs:
            return []  # a plugin without folders opens no files
        now = self._clock()
        with self._lock:
            last = self._checked.get(plugin_id)
            due = last is None or now - last >= self.disk_interval_s
            if due:
                self._checked[plugin_id] = now
        u = self.usage(plugin_id, grants, fresh=due)
        out = []
        if u.open_files is not None and self.fd_budget and u.open_files > self.fd_budget:
            out.append(Finding(
                "fd-budget", f"holds {u.open_files} open files in its folders, over its budget "
                f"of {self.fd_budget} (the host's limit is {u.fd_limit}): restarting its "
                "instances to release them"))
        if u.disk_bytes is not None:
            over = u.disk_bytes > u.disk_quota
            with self._lock:
                crossed = over and plugin_id not in self._over_quota
                (self._over_quota.add if over else self._over_quota.discard)(plugin_id)
            if crossed:
                out.append(Finding(
                    "disk-quota", f"its read-write folders hold {format_size_approx(u.disk_bytes)}"
                    f"{' or more' if u.disk_partial else ''}, over its soft quota of "
                    f"{format_size(u.disk_quota)} (not enforced: writes continue; revoke its "
                    "fs-write grant to stop them, or raise the quota with --grant disk=SIZE)"))
        return out


def format_size_approx(n: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} B"
