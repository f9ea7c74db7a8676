"""An installed plugin's grants and configuration: persisted, and applied to what runs.

Grants re-sandbox the running versions before they are saved (a failure changes
nothing); configuration is saved, then handed to the running versions (a secret's value
goes to the keyring only, the record keeps its key).
"""

from __future__ import annotations

from dataclasses import replace

from . import errors as E
from .events import LogLevel
from .grants import Grants, grant_diff
from .library import PluginRecord
from .manager_events import ConfigChanged, GrantsChanged, Notifier
from .records import Records
from .secrets import SecretStore
from .versions import Versions


class Settings:
    def __init__(self, records: Records, versions: Versions, secrets: SecretStore,
                 notify: Notifier) -> None:
        self.records = records
        self.versions = versions
        self.secrets = secrets
        self._notify = notify

    # --- grants -----------------------------------------------------------------------

    def set_grants(self, plugin_id: str, grants: Grants) -> None:
        """Re-sandbox the running versions first; only then persist (a failure changes nothing)."""
        with self.versions.changing(plugin_id):
            rec = self.records.require(plugin_id)
            run = self.versions.running.get(plugin_id)
            for p in run.versions() if run is not None else ():
                p.reconfigure(grants=grants)
            self.records.save(replace(rec, grants=grants))
        diff = grant_diff(rec.grants, grants)
        self._notify.emit(GrantsChanged(plugin_id, tuple(grants.capabilities()),
                                        diff.added, diff.removed))
        self._notify.host_log(plugin_id, LogLevel.INFO, "grants changed: " + diff.text)

    def grant(self, plugin_id: str, capability: str) -> None:
        with self.versions.changing(plugin_id):
            self.set_grants(plugin_id, self.records.require(plugin_id).grants.grant(capability))

    def revoke(self, plugin_id: str, capability: str) -> None:
        with self.versions.changing(plugin_id):
            self.set_grants(plugin_id, self.records.require(plugin_id).grants.revoke(capability))

    # --- configuration ----------------------------------------------------------------

    def set_config(self, plugin_id: str, key: str, value: str, *, secret: bool = False) -> None:
        with self.versions.changing(plugin_id):
            rec = self.records.require(plugin_id)
            config = dict(rec.config)
            secret_keys = [k for k in rec.secret_keys if k != key]
            if secret:
                self.secrets.set(plugin_id, key, value)  # the value goes to the keyring only
                config.pop(key, None)
                secret_keys.append(key)
            else:
                if key in rec.secret_keys:
                    self.secrets.delete(plugin_id, key)
                config[key] = value
            self._apply(replace(rec, config=config, secret_keys=sorted(secret_keys)))
        self._notify.emit(ConfigChanged(plugin_id, key, secret=secret))

    def remove_config(self, plugin_id: str, key: str) -> None:
        with self.versions.changing(plugin_id):
            rec = self.records.require(plugin_id)
            if key in rec.secret_keys:
                self.secrets.delete(plugin_id, key)
            self._apply(replace(rec, config={k: v for k, v in rec.config.items() if k != key},
                                secret_keys=[k for k in rec.secret_keys if k != key]))
        self._notify.emit(ConfigChanged(plugin_id, key, removed=True))

    def _apply(self, rec: PluginRecord) -> None:
        self.records.save(rec)
        run = self.versions.running.get(rec.plugin_id)
        if run is None or run.stable is None:
            if rec.enabled and run is not None:
                self.versions.load(rec.plugin_id)  # a config fix may be what it was missing
            return
        lookup = self.secrets.lookup_for(rec.plugin_id, frozenset(rec.secret_keys))
        for p in run.versions():
            try:
                p.reconfigure(config=rec.config, secret_lookup=lookup)
            except E.WasmbayError as e:
                self._notify.host_log(rec.plugin_id, LogLevel.WARN,
                                      f"new configuration not applied to {p.version}: {e}")
