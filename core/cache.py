"""Compiled-component cache: compile once per component, then load in milliseconds.

Artefacts are keyed by the component's sha256, the wasmtime version and the engine
settings, written atomically and owner-only, and checked against the identity (inode,
size, mtime, ctime) and digest we recorded when we wrote them: wasmtime trusts serialized
code completely, so bytes we did not write ourselves (or that were damaged since) are
dropped and recompiled, never loaded.

Nothing is kept before the host's contract check passed: :meth:`CompiledCache.get`
compiles in memory, runs the caller's check on the compiled component (wasmtime needs one
to read its types) and only then keeps it in memory and writes it to disk, so a refused
file leaves no artefact behind.

Entries are keyed by content (component sha256, wasmtime version, engine settings and
compile tier), so an uninstalled plugin's entry serves its reinstall. Each entry's
sidecar names its component and tier (for ``wasmbay cache list``); the mtime of a
``<key>.used`` file records its last use, touched on every use without changing the
artefact's own identity. A :class:`KeptCheck`'s passing verdict is kept in the sidecar
too, so a warm start does not re-read every component's types.
:meth:`CompiledCache.prune` removes only entries the caller says nothing installed
refers to, least recently used first, down to a size cap
(:func:`max_bytes_setting`: ``WASMBAY_CACHE_MAX``, default 2 GiB). Opening the cache
removes the temp files of writes a crash or kill cut short, which no listing counts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import threading
import time
import weakref
from collections.abc import Callable, Collection, Mapping, MutableMapping
from dataclasses import dataclass
from importlib.metadata import version as _dist_version
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

import wasmtime
from wasmtime import Engine
from wasmtime.component import Component

from . import wasmtime_internals
from .paths import atomic_write_bytes, leftover_temp_files

_log = logging.getLogger(__name__)

WASMTIME_VERSION = _dist_version("wasmtime")
T = TypeVar("T")
_UNCHECKED = object()

#: The tier of code an entry holds when the caller names none (the optimizing compiler).
DEFAULT_TIER = "cranelift"
#: Size the compiled cache is pruned down to (unreferenced entries only) unless
#: ``WASMBAY_CACHE_MAX`` says otherwise.
DEFAULT_MAX_BYTES = 2 << 30
CACHE_MAX_ENV = "WASMBAY_CACHE_MAX"
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20,
          "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}


def parse_size(text: str) -> int:
    """``2G``, ``512MiB``, ``1048576``: a byte count (binary units), or ValueError."""
    t = text.strip().lower().replace(" ", "")
    digits = t.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = t[len(digits):]
    if not digits or unit not in _UNITS:
        raise ValueError(f"{text[:40]!r} is not a size (e.g. 2G, 512M, 1048576)")
    value = float(digits) * _UNITS[unit]
    if not value >= 0 or value != value or value == float("inf"):
        raise ValueError(f"{text[:40]!r} is not a size (e.g. 2G, 512M, 1048576)")
    return int(value)


def max_bytes_setting(environ: Mapping[str, str] | None = None) -> int:
    """The cache's size cap: ``WASMBAY_CACHE_MAX`` (e.g. ``2G``, ``0``) or 2 GiB.

    Raises ValueError naming the variable when it is set but is not a size.
    """
    raw = (os.environ if environ is None else environ).get(CACHE_MAX_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        return parse_size(raw)
    except ValueError as e:
        raise ValueError(f"{CACHE_MAX_ENV}: {e}") from None


@dataclass(frozen=True)
class CacheEntry:
    """One compiled artefact on disk, as ``wasmbay cache list`` shows it."""

    key: str
    #: The component it was compiled from, and the tier; None for entries written
    #: before sidecars named them (such an entry can only be unreferenced).
    component_sha256: str | None
    tier: str | None
    size: int
    last_used: float
    path: Path


@dataclass
class CacheStats:
    compiled: int = 0
    loaded: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class KeptCheck(Generic[T]):
    """A check whose passing verdict is written into the entry's sidecar, so loading the
    entry again (a warm start) does not re-run it while ``fingerprint`` (the checker's own
    code and the contracts it checks against) is unchanged.

    The sidecar is trusted as far as the artefact beside it, which wasmtime runs as native
    code: both are ours, owner-only and identity-checked. A verdict ``decode`` cannot read
    (ValueError, KeyError, TypeError) is checked afresh.
    """

    run: Callable[[Component], T]
    fingerprint: str
    encode: Callable[[T], dict[str, Any]]
    decode: Callable[[Mapping[str, Any]], T]


Check = Callable[[Component], T] | KeptCheck[T]


class _Unwritten(NamedTuple):
    component: Component
    verdict: dict[str, Any] | None  # the kept check's record, written in the sidecar
    component_sha256: str
    tier: str


class CompiledCache:
    """Compiled code per (component, tier); each tier is compiled by its own engine.

    ``engine`` compiles :data:`DEFAULT_TIER`; ``tier_engines`` adds the others (the
    runtime's Winch engine for the fast tier). An artefact deserializes only into an
    engine with the settings that wrote it, so the key includes the tier.
    """

    def __init__(self, engine: Engine, directory: Path | None, engine_fingerprint: str, *,
                 tier_engines: Mapping[str, Engine] | None = None) -> None:
        self._engines: dict[str, Engine] = {DEFAULT_TIER: engine, **(tier_engines or {})}
        self._dir = directory
        self._fingerprint = engine_fingerprint
        #: Loaded components by cache key (one per component and tier). With a directory
        #: to load them from again, only while something uses them: 40-50 MB of code
        #: each, and a day of hot reloads or updates loads a new component every time.
        self._memory: MutableMapping[str, Component] = (
            {} if directory is None else weakref.WeakValueDictionary())
        #: Kept checks' verdicts of loaded components: (fingerprint, verdict) by cache key.
        self._verdicts: dict[str, tuple[str, Any]] = {}
        #: Compiled but not yet written (``get(write_now=False)``), by cache key.
        self._unwritten: dict[str, _Unwritten] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.stats = CacheStats()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._sweep_leftovers(directory)

    @staticmethod
    def _sweep_leftovers(directory: Path) -> None:
        """Remove what writes cut short by a crash left behind (a quit during a tier-up's
        background write, a kill mid-compile)."""
        freed = 0
        for temp in leftover_temp_files(directory):
            try:
                size = temp.stat().st_size
                temp.unlink()
            except OSError:
                continue  # removed meanwhile, or not ours to remove
            freed += size
        if freed:
            _log.info("removed %.1f MiB of unfinished compiled-cache writes", freed / (1 << 20))

    @property
    def directory(self) -> Path | None:
        return self._dir

    @property
    def tiers(self) -> tuple[str, ...]:
        return tuple(self._engines)

    def key(self, component_sha256: str, tier: str = DEFAULT_TIER) -> str:
        """Content key: the same bytes under the same engine and tier share one entry."""
        text = (f"{component_sha256}|wasmtime-py {WASMTIME_VERSION}|{self._fingerprint}"
                f"|tier={tier}")
        return hashlib.sha256(text.encode()).hexdigest()

    def artefact_path(self, component_sha256: str, tier: str = DEFAULT_TIER) -> Path | None:
        if self._dir is None:
            return None
        return self._dir / f"{self.key(component_sha256, tier)}.cwasm"

    def get(self, wasm: bytes, component_sha256: str,
            check: Check[T], tier: str = DEFAULT_TIER, *,
            write_now: bool = True) -> tuple[Component, T]:
        """The compiled component for ``wasm`` (of ``tier``) and what ``check`` said of it.

        ``check`` runs on every component before it is returned, and before a new one is
        kept in memory or written to disk: if it raises, nothing is kept (and an entry on
        disk it refuses is dropped). wasmtime's error propagates if ``wasm`` does not
        compile. With ``write_now`` false a new compile is kept in memory only until
        :meth:`write_pending` (so its user is served before the disk write), or until
        :meth:`discard_pending` if it is not worth keeping after all.
        """
        key = self.key(component_sha256, tier)
        with self._guard:
            hit = self._memory.get(key)
            lock = self._locks.setdefault(key, threading.Lock())
        if hit is not None:  # checked outside the guard: it reads the component's types
            verdict = self._check(check, key, hit)
            self.touch(component_sha256, tier)
            return hit, verdict
        with lock:  # two threads loading one component compile it once
            hit = self._memory.get(key)
            if hit is not None:
                verdict = self._check(check, key, hit)
                self.touch(component_sha256, tier)
                return hit, verdict
            component, verdict = self._load_or_compile(wasm, component_sha256, check, tier,
                                                       write_now)
            with self._guard:
                self._memory[key] = component
            self.touch(component_sha256, tier)
            return component, verdict

    def get_cached(self, component_sha256: str, check: Check[T],
                   tier: str = DEFAULT_TIER) -> tuple[Component, T] | None:
        """Like :meth:`get` for a component already compiled (memory or disk), else None.

        Needs no bytes: the caller (a stored version whose file identity is unchanged)
        does not read the component file at all when its code is cached.
        """
        key = self.key(component_sha256, tier)
        with self._guard:
            hit = self._memory.get(key)
            lock = self._locks.setdefault(key, threading.Lock())
        if hit is None:
            path = self.artefact_path(component_sha256, tier)
            if path is None:
                return None
            with lock:
                hit = self._memory.get(key)
                if hit is None:
                    loaded = self._try_load(path, tier)  # None if there is none
                    if loaded is None:
                        return None
                    hit, meta = loaded
                    try:
                        verdict = self._check(check, key, hit, path, meta)
                    except Exception:  # written by an older host with looser checks
                        self._drop(path)
                        raise
                    self.stats.loaded += 1
                    with self._guard:
                        self._memory[key] = hit
                    self._mark_used(path)
                    return hit, verdict
        verdict = self._check(check, key, hit)
        self.touch(component_sha256, tier)
        return hit, verdict

    def _check(self, check: Check[T], key: str, component: Component,
               path: Path | None = None, meta: dict[str, Any] | None = None) -> T:
        """``check``'s verdict on a component: a kept one if its fingerprint still
        matches (in memory, or in the sidecar ``meta`` read beside ``path``), else run."""
        if not isinstance(check, KeptCheck):
            return check(component)
        with self._guard:
            known = self._verdicts.get(key)
        if known is not None and known[0] == check.fingerprint:
            return known[1]  # type: ignore[no-any-return]
        verdict: Any = _UNCHECKED
        kept = meta.get("verdict") if meta is not None else None
        if (isinstance(kept, dict) and kept.get("fingerprint") == check.fingerprint
                and isinstance(kept.get("data"), dict)):
            try:
                verdict = check.decode(kept["data"])
            except (KeyError, TypeError, ValueError) as e:
                _log.debug("re-checking %s: its kept verdict is unreadable (%s)", key, e)
        if verdict is _UNCHECKED:
            verdict = check.run(component)
            if path is not None and meta is not None:
                self._keep_verdict(path, meta, check, verdict)
        with self._guard:
            self._verdicts[key] = (check.fingerprint, verdict)
        return verdict  # type: ignore[no-any-return]

    def _keep_verdict(self, path: Path, meta: dict[str, Any], check: KeptCheck[T],
                      verdict: T) -> None:
        meta = {**meta, "verdict": _verdict_record(check, verdict)}
        try:
            atomic_write_bytes(_sidecar(path), json.dumps(meta).encode())
        except OSError as e:  # the next start checks again; nothing worse
            _log.debug("could not keep the verdict on %s: %s", path.name, e)

    def contains(self, component_sha256: str, tier: str = DEFAULT_TIER) -> bool:
        path = self.artefact_path(component_sha256, tier)
        return (self.key(component_sha256, tier) in self._memory
                or (path is not None and path.exists()))

    def evict(self, component_sha256: str, tiers: Collection[str] | None = None) -> None:
        """Forget a component: in memory and its entries (every tier by default) on disk."""
        for tier in self.tiers if tiers is None else tiers:
            with self._guard:
                self._memory.pop(self.key(component_sha256, tier), None)
                self._verdicts.pop(self.key(component_sha256, tier), None)
                self._unwritten.pop(self.key(component_sha256, tier), None)
            path = self.artefact_path(component_sha256, tier)
            if path is not None:
                self._drop(path)

    # --- use, listing and eviction --------------------------------------------------------

    def touch(self, component_sha256: str, tier: str = DEFAULT_TIER) -> None:
        """Record a use of an entry (its ``.used`` file's mtime), for least-recently-used
        eviction; the artefact itself is untouched, so its recorded identity holds."""
        path = self.artefact_path(component_sha256, tier)
        if path is not None and path.exists():
            self._mark_used(path)

    def _mark_used(self, path: Path) -> None:
        try:
            _touch(_used_marker(path))
        except OSError as e:  # a read-only cache still serves; eviction order degrades
            _log.debug("could not record use of %s: %s", path.name, e)

    def entries(self) -> list[CacheEntry]:
        """Every entry on disk, least recently used first."""
        if self._dir is None or not self._dir.is_dir():
            return []
        found = []
        for path in self._dir.glob("*.cwasm"):
            try:
                st = path.stat()
            except OSError:
                continue  # removed meanwhile
            try:
                meta = json.loads(_sidecar(path).read_text())
            except (OSError, ValueError):
                meta = None
            if not isinstance(meta, dict):
                meta = {}
            size, last = st.st_size, st.st_mtime
            for extra in (_sidecar(path), _used_marker(path)):
                try:
                    est = extra.stat()
                except OSError:
                    continue
                size += est.st_size
                if extra.suffix == ".used":  # written with the entry, touched on each use
                    last = est.st_mtime
            sha, tier = meta.get("component_sha256"), meta.get("tier")
            found.append(CacheEntry(
                key=path.stem, component_sha256=sha if isinstance(sha, str) else None,
                tier=tier if isinstance(tier, str) else None, size=size, last_used=last,
                path=path))
        return sorted(found, key=lambda e: (e.last_used, e.key))

    def size(self) -> int:
        return sum(e.size for e in self.entries())

    def remove(self, entry: CacheEntry) -> None:
        """Delete one entry (disk and memory); a running plugin keeps its loaded code."""
        with self._guard:
            self._memory.pop(entry.key, None)
        self._drop(entry.path)

    def prune(self, referenced: Collection[str], max_bytes: int | None, *,
              everything_unreferenced: bool = False) -> list[CacheEntry]:
        """Remove entries no installed version refers to, least recently used first,
        until the cache is at most ``max_bytes`` (all of them with
        ``everything_unreferenced``). Referenced entries are never removed, even when
        they alone exceed the cap. Returns what was removed.
        """
        entries = self.entries()
        total = sum(e.size for e in entries)
        removed = []
        for e in entries:  # oldest first
            if not everything_unreferenced and (max_bytes is None or total <= max_bytes):
                break
            if e.component_sha256 is not None and e.component_sha256 in referenced:
                continue
            self.remove(e)
            total -= e.size
            removed.append(e)
        return removed

    def release_loaded(self) -> None:
        """Let go of the components loaded in memory (closing): their code is unmapped as
        soon as nothing running holds them; the entries on disk stay."""
        with self._guard:
            self._memory.clear()
            self._verdicts.clear()

    def clear(self) -> list[CacheEntry]:
        """Remove every entry; the next load of each component compiles it again."""
        entries = self.entries()
        for e in entries:
            self._drop(e.path)
        with self._guard:
            self._memory.clear()
        if self._dir is not None and self._dir.is_dir():
            for stray in self._dir.glob("*.used"):
                stray.unlink(missing_ok=True)
        return entries

    def _load_or_compile(self, wasm: bytes, sha: str, check: Check[T], tier: str,
                         write_now: bool = True) -> tuple[Component, T]:
        path = self.artefact_path(sha, tier)
        key = self.key(sha, tier)
        if path is not None and path.exists():
            loaded = self._try_load(path, tier)
            if loaded is not None:
                component, meta = loaded
                try:
                    verdict = self._check(check, key, component, path, meta)
                except Exception:  # written by an older host with looser checks
                    self._drop(path)
                    raise
                self.stats.loaded += 1
                return component, verdict
        component = Component(self._engines[tier], wasm)  # in memory only, until checked
        verdict = self._check(check, key, component)
        self.stats.compiled += 1
        if path is not None:
            kept = (_verdict_record(check, verdict) if isinstance(check, KeptCheck)
                    else None)
            if write_now:
                self._write(path, component, sha, tier, kept)
            else:
                with self._guard:
                    self._unwritten[key] = _Unwritten(component, kept, sha, tier)
        return component, verdict

    def write_pending(self, component_sha256: str, tier: str = DEFAULT_TIER, *,
                      pause_s: float = 0.0) -> None:
        """Write the entry a ``write_now=False`` compile kept in memory (once); ``pause_s``
        between its pieces (core.paths.atomic_write_bytes) for a write in the background."""
        key = self.key(component_sha256, tier)
        with self._guard:
            pending = self._unwritten.pop(key, None)
        path = self.artefact_path(component_sha256, tier)
        if pending is not None and path is not None:
            self._write(path, pending.component, component_sha256, tier, pending.verdict,
                        pause_s)
            self.touch(component_sha256, tier)  # used when compiled, before it had a file

    def write_all_pending(self) -> None:
        """Write every entry still kept in memory only (when its user closes)."""
        with self._guard:
            entries = list(self._unwritten.values())
        for entry in entries:
            self.write_pending(entry.component_sha256, entry.tier)

    def discard_pending(self, component_sha256: str, tier: str = DEFAULT_TIER) -> None:
        """Forget a ``write_now=False`` compile not yet written (an entry on disk stays)."""
        key = self.key(component_sha256, tier)
        with self._guard:
            if self._unwritten.pop(key, None) is not None:
                self._memory.pop(key, None)
                self._verdicts.pop(key, None)

    def _write(self, path: Path, component: Component, sha: str, tier: str,
               kept: dict[str, Any] | None, pause_s: float = 0.0) -> None:
        try:
            with wasmtime_internals.serialized(component) as code:
                self._store(path, code, sha, tier, kept, pause_s)
        except OSError as e:  # a full disk makes the next start slower, nothing worse
            _log.warning("could not write compiled cache entry %s: %s", path, e)

    def _drop(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        _sidecar(path).unlink(missing_ok=True)
        _used_marker(path).unlink(missing_ok=True)

    def _try_load(self, path: Path, tier: str) -> tuple[Component, dict[str, Any]] | None:
        """The entry's component and its sidecar, or None (a damaged entry is dropped)."""
        try:
            try:
                st = path.stat()  # one stat for the ownership and the identity checks
            except FileNotFoundError:
                return None  # no entry: a miss
            if not _owned_and_private(path, st):
                raise ValueError("not owned by this user or readable by others")
            try:
                meta = json.loads(_sidecar(path).read_text())
            except FileNotFoundError:
                # Written a moment ago by another thread that has not yet written its
                # sidecar (or left so by a crash): a miss, not damage. The compile that
                # follows rewrites both; dropping it here would delete the writer's entry.
                return None
            if not isinstance(meta, dict):
                raise ValueError("its sidecar is not a JSON object")
            # A file other than the one we wrote (replaced, touched, truncated): check content.
            if (meta.get("stat") != _stat_key(path, st)
                    and meta.get("artefact_sha256") != _file_sha256(path)):
                raise ValueError("digest does not match the one recorded when it was written")
            return Component.deserialize_file(self._engines[tier], str(path)), meta
        except (OSError, ValueError, KeyError, wasmtime.WasmtimeError) as e:
            _log.warning("dropping compiled cache entry %s: %s", path.name, e)
            self.stats.dropped += 1
            self._drop(path)
            return None

    def _store(self, path: Path, data: bytes | bytearray | memoryview, component_sha256: str,
               tier: str = DEFAULT_TIER, verdict: dict[str, Any] | None = None,
               pause_s: float = 0.0) -> None:
        # no copy: 40 MB copied holding the GIL stalls calls; hashed as it is written
        digest = atomic_write_bytes(path, data, pause_s=pause_s)
        meta: dict[str, Any] = {"artefact_sha256": digest,
                "stat": _stat_key(path), "wasmtime": WASMTIME_VERSION,
                "engine": self._fingerprint, "component_sha256": component_sha256,
                "tier": tier, "written_at": time.time()}
        if verdict is not None:
            meta["verdict"] = verdict
        atomic_write_bytes(_sidecar(path), json.dumps(meta).encode())


def _verdict_record(check: KeptCheck[T], verdict: T) -> dict[str, Any]:
    return {"fingerprint": check.fingerprint, "data": check.encode(verdict)}


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _used_marker(path: Path) -> Path:
    return path.with_suffix(".used")


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except FileNotFoundError:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)


def _owned_and_private(path: Path, st: os.stat_result | None = None) -> bool:
    st = path.stat() if st is None else st
    return st.st_uid == os.getuid() and not (st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _stat_key(path: Path, st: os.stat_result | None = None) -> list[int]:
    """Identity of the file we wrote: any rewrite, copy or truncation changes it."""
    st = path.stat() if st is None else st
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
