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
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version as _dist_version
from pathlib import Path
from typing import TypeVar

import wasmtime
from wasmtime import Engine
from wasmtime.component import Component

from .paths import atomic_write_bytes

_log = logging.getLogger(__name__)

WASMTIME_VERSION = _dist_version("wasmtime")
T = TypeVar("T")


@dataclass
class CacheStats:
    compiled: int = 0
    loaded: int = 0
    dropped: int = 0


class CompiledCache:
    def __init__(self, engine: Engine, directory: Path | None, engine_fingerprint: str) -> None:
        self._engine = engine
        self._dir = directory
        self._fingerprint = engine_fingerprint
        self._memory: dict[str, Component] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.stats = CacheStats()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def key(self, component_sha256: str) -> str:
        text = f"{component_sha256}|wasmtime-py {WASMTIME_VERSION}|{self._fingerprint}"
        return hashlib.sha256(text.encode()).hexdigest()

    def artefact_path(self, component_sha256: str) -> Path | None:
        if self._dir is None:
            return None
        return self._dir / f"{self.key(component_sha256)}.cwasm"

    def get(self, wasm: bytes, component_sha256: str,
            check: Callable[[Component], T]) -> tuple[Component, T]:
        """The compiled component for ``wasm`` and what ``check`` said about it.

        ``check`` runs on every component before it is returned, and before a new one is
        kept in memory or written to disk: if it raises, nothing is kept (and an entry on
        disk it refuses is dropped). wasmtime's error propagates if ``wasm`` does not
        compile.
        """
        with self._guard:
            hit = self._memory.get(component_sha256)
            lock = self._locks.setdefault(component_sha256, threading.Lock())
        if hit is not None:  # checked outside the guard: it reads the component's types
            return hit, check(hit)
        with lock:  # two threads loading one component compile it once
            hit = self._memory.get(component_sha256)
            if hit is not None:
                return hit, check(hit)
            component, verdict = self._load_or_compile(wasm, component_sha256, check)
            with self._guard:
                self._memory[component_sha256] = component
            return component, verdict

    def contains(self, component_sha256: str) -> bool:
        path = self.artefact_path(component_sha256)
        return component_sha256 in self._memory or (path is not None and path.exists())

    def evict(self, component_sha256: str) -> None:
        """Forget a component (uninstall): in memory and on disk."""
        with self._guard:
            self._memory.pop(component_sha256, None)
        path = self.artefact_path(component_sha256)
        if path is not None:
            path.unlink(missing_ok=True)
            _sidecar(path).unlink(missing_ok=True)

    def _load_or_compile(self, wasm: bytes, sha: str,
                         check: Callable[[Component], T]) -> tuple[Component, T]:
        path = self.artefact_path(sha)
        if path is not None and path.exists():
            component = self._try_load(path)
            if component is not None:
                try:
                    verdict = check(component)
                except Exception:  # written by an older host with looser checks
                    self._drop(path)
                    raise
                self.stats.loaded += 1
                return component, verdict
        component = Component(self._engine, wasm)  # in memory only, until checked
        verdict = check(component)
        self.stats.compiled += 1
        if path is not None:
            try:
                self._store(path, component.serialize())
            except OSError as e:  # a full disk makes the next start slower, nothing worse
                _log.warning("could not write compiled cache entry %s: %s", path, e)
        return component, verdict

    def _drop(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        _sidecar(path).unlink(missing_ok=True)

    def _try_load(self, path: Path) -> Component | None:
        try:
            if not _owned_and_private(path):
                raise ValueError("not owned by this user or readable by others")
            meta = json.loads(_sidecar(path).read_text())
            # A file other than the one we wrote (replaced, touched, truncated): check content.
            if (meta.get("stat") != _stat_key(path)
                    and meta.get("artefact_sha256") != _file_sha256(path)):
                raise ValueError("digest does not match the one recorded when it was written")
            return Component.deserialize_file(self._engine, str(path))
        except (OSError, ValueError, KeyError, wasmtime.WasmtimeError) as e:
            _log.warning("dropping compiled cache entry %s: %s", path.name, e)
            self.stats.dropped += 1
            path.unlink(missing_ok=True)
            _sidecar(path).unlink(missing_ok=True)
            return None

    def _store(self, path: Path, data: bytes | bytearray) -> None:
        blob = bytes(data)
        atomic_write_bytes(path, blob)
        meta = {"artefact_sha256": hashlib.sha256(blob).hexdigest(),
                "stat": _stat_key(path), "wasmtime": WASMTIME_VERSION,
                "engine": self._fingerprint}
        atomic_write_bytes(_sidecar(path), json.dumps(meta).encode())


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _owned_and_private(path: Path) -> bool:
    st = path.stat()
    return st.st_uid == os.getuid() and not (st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _stat_key(path: Path) -> list[int]:
    """Identity of the file we wrote: any rewrite, copy or truncation changes it."""
    st = path.stat()
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
