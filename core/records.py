"""The installed plugins' records, as the library last gave or took them.

One lock guards the cache and the list of damaged entries, so the manager's parts never
read them half-way through a change. The disk write itself runs outside that lock (a
component can be large); writers of one plugin take its lock in core.versions first, so
the disk and the cache see that plugin's changes in the same order.
"""

from __future__ import annotations

import threading

from . import errors as E
from .errors import LibraryEntryError
from .library import Library, PluginRecord, VersionRecord


class Records:
    def __init__(self, library: Library) -> None:
        self.library = library
        self._lock = threading.RLock()
        self._records: dict[str, PluginRecord] = {}
        self._problems: list[LibraryEntryError] = []

    # --- reading ----------------------------------------------------------------------

    def reload(self) -> list[LibraryEntryError]:
        """Read every record again; returns the damaged entries (also kept as problems)."""
        records, problems = self.library.load()
        with self._lock:
            self._records, self._problems = records, problems
        return list(problems)

    @property
    def problems(self) -> list[LibraryEntryError]:
        """Library entries that could not be read (shown to the user, never hidden)."""
        with self._lock:
            return list(self._problems)

    def get(self, plugin_id: str) -> PluginRecord | None:
        with self._lock:
            return self._records.get(plugin_id)

    def require(self, plugin_id: str) -> PluginRecord:
        """The record, or an error saying it is not installed or is damaged (and why)."""
        with self._lock:
            rec = self._records.get(plugin_id)
            damaged = next((p for p in self._problems if p.plugin_id == plugin_id), None)
        if rec is not None:
            return rec
        if damaged is not None:
            raise LibraryEntryError(f"is installed but damaged: {damaged.message}",
                                    plugin_id=plugin_id, hint=damaged.hint)
        raise E.UsageError(f"plugin '{plugin_id}' is not installed",
                           plugin_id=plugin_id, hint="see `wasmbay list`")

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(self._records)

    # --- writing ----------------------------------------------------------------------

    def save(self, rec: PluginRecord) -> None:
        self.library.save(rec)
        with self._lock:
            self._records[rec.plugin_id] = rec

    def add_version(self, rec: PluginRecord, version: VersionRecord, wasm: bytes, *,
                    new: bool) -> None:
        """Store a component and the record that refers to it (see Library.add_version)."""
        self.library.add_version(rec, version, wasm, new=new)
        with self._lock:
            self._records[rec.plugin_id] = rec
            # reinstalled over a damaged entry: no longer a problem
            self._problems = [p for p in self._problems if p.plugin_id != rec.plugin_id]

    def adopt(self, fresh: PluginRecord) -> bool:
        """Take a record another process wrote; False when it is the one held (our write)."""
        with self._lock:
            current = self._records.get(fresh.plugin_id)
            if current is not None and current.to_json() == fresh.to_json():
                return False
            self._records[fresh.plugin_id] = fresh
            return True

    def is_damaged(self, plugin_id: str) -> bool:
        """Its folder is in the library but its record could not be read."""
        with self._lock:
            return plugin_id not in self._records and any(
                p.plugin_id == plugin_id for p in self._problems)

    def forget(self, plugin_id: str) -> None:
        with self._lock:
            self._records.pop(plugin_id, None)
            self._problems = [p for p in self._problems if p.plugin_id != plugin_id]
