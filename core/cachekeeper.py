"""Which compiled-cache entries the installed plugins refer to, and keeping the cache small.

core.cache knows entries by component sha256 only; this module asks core.records which
installed plugin versions use each one, so eviction never removes code an installed
plugin needs (it would only cost a recompile, but that is the wait the cache exists to
avoid) and keeps an uninstalled plugin's entry until the size cap needs its room: a
reinstall of the same bytes then compiles nothing. Integrity checks of the stored
components (``wasmbay verify``) live here too: they walk the same records.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from . import errors as E
from .cache import CACHE_MAX_ENV, DEFAULT_MAX_BYTES, CacheEntry, CompiledCache, max_bytes_setting
from .library import file_identity
from .records import Records

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheListing:
    """One entry and who uses it (``plugin@version``); no users: unreferenced."""

    entry: CacheEntry
    used_by: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        e = self.entry
        return {"key": e.key, "component_sha256": e.component_sha256, "tier": e.tier,
                "size": e.size, "last_used": e.last_used, "used_by": list(self.used_by),
                "referenced": bool(self.used_by)}


@dataclass(frozen=True)
class VerifyResult:
    """One stored version, re-hashed: ``problem`` is None when it matches its record."""

    plugin_id: str
    version: str
    sha256: str
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return {"plugin_id": self.plugin_id, "version": self.version, "sha256": self.sha256,
                "ok": self.ok, "problem": self.problem}


class CacheKeeper:
    def __init__(self, cache: CompiledCache, records: Records) -> None:
        self.cache = cache
        self.records = records

    def users(self) -> dict[str, list[str]] | None:
        """component sha256 -> the installed ``plugin@version``s made of it; None while a
        damaged library entry exists (its versions, so its components, are unknown)."""
        if self.records.problems:
            return None
        used: dict[str, list[str]] = {}
        for pid in self.records.ids():
            rec = self.records.get(pid)
            for v, vrec in (rec.versions.items() if rec is not None else ()):
                used.setdefault(vrec.sha256, []).append(f"{pid}@{v}")
        return used

    def listing(self) -> list[CacheListing]:
        """Every entry, least recently used first, with its users."""
        users = self.users() or {}
        return [CacheListing(e, tuple(users.get(e.component_sha256 or "", ())))
                for e in self.cache.entries()]

    def prune(self, *, everything_unreferenced: bool = False,
              max_bytes: int | None = None) -> list[CacheEntry]:
        """Remove unreferenced entries, least recently used first, down to the cap
        (``max_bytes``, else :func:`~core.cache.max_bytes_setting`), or all of them."""
        users = self.users()
        if users is None:
            damaged = ", ".join(p.plugin_id or "?" for p in self.records.problems)
            raise E.UsageError(
                f"the library has damaged entries ({damaged}) whose compiled code cannot be "
                "told apart; nothing was pruned",
                hint="repair or reinstall them (see `wasmbay list`), or `wasmbay cache "
                     "clear` to remove every entry")
        cap = self.cap() if max_bytes is None else max_bytes
        return self.cache.prune(set(users), cap, everything_unreferenced=everything_unreferenced)

    def keep_within_cap(self) -> None:
        """Prune to the cap after an install or uninstall; a problem is logged, never raised
        (a cache over its cap costs disk, not correctness)."""
        try:
            cap = max_bytes_setting()
        except ValueError as e:
            _log.warning("%s; using the default of %d bytes", e, DEFAULT_MAX_BYTES)
            cap = DEFAULT_MAX_BYTES
        users = self.users()
        if users is None:
            return
        try:
            removed = self.cache.prune(set(users), cap)
        except OSError as e:
            _log.warning("could not prune the compiled cache: %s", e)
            return
        for entry in removed:
            _log.info("evicted unreferenced compiled entry %s (%d bytes)", entry.key[:12],
                      entry.size)

    @staticmethod
    def cap() -> int:
        """The configured cap, or a UsageError that says how to fix the variable."""
        try:
            return max_bytes_setting()
        except ValueError as e:
            raise E.UsageError(str(e), hint=f"set {CACHE_MAX_ENV} to a size such as 2G, "
                               "512M or 0 (keep nothing unreferenced), or unset it") from None

    # --- integrity ----------------------------------------------------------------------

    def verify(self) -> list[VerifyResult]:
        """Re-hash every installed plugin's every stored version (``wasmbay verify``).

        Read-only: a damaged library entry is reported as such, not repaired.
        """
        library = self.records.library
        results = []
        for pid in self.records.ids():
            rec = self.records.get(pid)
            for version, vrec in sorted(rec.versions.items()) if rec is not None else ():
                path = library.component_path(pid, version)
                problem = None
                try:
                    with path.open("rb") as f:
                        actual = hashlib.file_digest(f, "sha256").hexdigest()
                    if actual != vrec.sha256:
                        problem = (f"component file changed behind Wasmbay's back (sha256 "
                                   f"{actual[:12]}…, installed {vrec.sha256[:12]}…)")
                    elif file_identity(path) != vrec.file_identity:
                        _log.debug("%s %s: same bytes, new file identity", pid, version)
                except FileNotFoundError:
                    problem = f"component file {path} is missing"
                except OSError as e:
                    problem = f"cannot read {path}: {e.strerror}"
                results.append(VerifyResult(pid, version, vrec.sha256, problem))
        for p in self.records.problems:
            results.append(VerifyResult(p.plugin_id or "?", "?", "", f"damaged entry: "
                                        f"{p.message}"))
        return results
