"""What the host's functions do for a plugin (``host-api``, in plain values).

Each contract version module (core.contracts.v1, v2) declares its host-api under its
own WIT names and types and calls into this. One linker serves every plugin, so a host
function learns which plugin is calling from a thread-local context that the instance
sets around each call. Host functions never raise into the guest: bad input from a
plugin becomes an error result, because an exception would trap the plugin for the
host's own fault.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .events import EventBus, LogLevel, LogRecord, PluginEvent
from .untrusted import LIMITS, bound

_log = logging.getLogger(__name__)

#: From core.untrusted's table, the one owner of the limits on plugin text.
MAX_MESSAGE = LIMITS.log_message
MAX_EVENT_TYPE = LIMITS.event_type
MAX_PAYLOAD = LIMITS.event_payload
#: Config keys remembered per plugin (asked), and the longest kept: a plugin asking for
#: a million random keys must not grow the host.
MAX_ASKED = 64
MAX_KEY = 200

SecretLookup = Callable[[str], "str | None"]


@dataclass
class HostContext:
    """What a plugin instance's host functions see; one per instance."""

    plugin_id: str
    version: str
    bus: EventBus
    config: Mapping[str, str] = field(default_factory=dict)
    secret_lookup: SecretLookup | None = None
    _secrets: dict[str, str | None] = field(default_factory=dict)
    #: Every key the plugin asked get-config for, and whether it got a non-empty value:
    #: what the plugin reads (metadata declares no config keys) and what it missed.
    #: The pool shares one dict across a plugin's instances (core.pool).
    asked: dict[str, bool] = field(default_factory=dict)

    def get_config(self, key: str) -> str | None:
        value = self._get_config(key)
        shown = bound(key, MAX_KEY)
        if len(self.asked) < MAX_ASKED or shown in self.asked:
            self.asked[shown] = bool(value)
        return value

    def _get_config(self, key: str) -> str | None:
        value = self.config.get(key)
        if value is not None or self.secret_lookup is None:
            return value
        if key not in self._secrets:  # the keyring is slow (D-Bus); ask once per instance
            self._secrets[key] = self.secret_lookup(key)
        return self._secrets[key]

    def missing_config(self, failure: str = "") -> str | None:
        """The key a failed call most likely lacked: one it asked for and did not get.

        A key the failure text names wins over the others (only to choose among keys
        the host saw asked for: plugin text alone never makes a fix).
        """
        missing = [k for k, got in self.asked.items() if not got]
        named = [k for k in missing if k and k in failure]
        found = named or missing
        return found[0] if found else None

    def log(self, level: LogLevel, message: str) -> None:
        if not self.bus.has_subscribers:  # nobody keeps it: skip bounding and the record
            return
        message = bound(message, MAX_MESSAGE)
        self.bus.publish(LogRecord(self.plugin_id, level, message, version=self.version))

    def emit(self, event_type: str, payload: str) -> str | None:
        if not event_type or len(event_type) > MAX_EVENT_TYPE:
            return f"event-type must be 1 to {MAX_EVENT_TYPE} characters"
        if len(payload) > MAX_PAYLOAD:
            return f"payload is {len(payload)} characters; the limit is {MAX_PAYLOAD}"
        self.bus.publish(PluginEvent(self.plugin_id, event_type, payload, version=self.version))
        return None


_tls = threading.local()


def current() -> HostContext:
    ctx: HostContext | None = getattr(_tls, "ctx", None)
    if ctx is None:
        raise RuntimeError("host function called outside a plugin call")
    return ctx


def current_or_none() -> HostContext | None:
    return getattr(_tls, "ctx", None)


def enter(ctx: HostContext | None) -> None:
    _tls.ctx = ctx


# --- shared by every contract version's host-api ---------------------------------------


def get_config(_store: Any, key: str) -> str | None:
    try:
        return current().get_config(key)
    except Exception as e:  # the keyring failing must not trap the plugin
        _log.warning("get-config(%r) failed: %s", key, e)
        current().log(LogLevel.WARN, f"[host] could not read config '{key}': {e}")
        return None


def emit_event(_store: Any, event_type: str, payload: str) -> str | None:
    return current().emit(event_type, payload)
