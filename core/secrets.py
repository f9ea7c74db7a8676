"""Secret configuration values live in the OS keyring, never in Wasmbay's files.

One keyring entry per (plugin, key) under the service ``wasmbay``. When the machine has
no usable keyring backend, every operation says so and how to get one, instead of
quietly falling back to a plain file.
"""

from __future__ import annotations

from collections.abc import Callable

import keyring
import keyring.errors
from keyring.backends import fail

from .errors import SecretStoreError

SERVICE = "wasmbay"
NO_BACKEND_HINT = (
    "install and unlock a Secret Service (e.g. `apt install gnome-keyring` and log in to a "
    "desktop session), or use plain configuration values instead of --secret"
)


def _username(plugin_id: str, key: str) -> str:
    return f"{plugin_id}/{key}"


class SecretStore:
    """Reads and writes plugin secrets through the ``keyring`` library."""

    def __init__(self, service: str = SERVICE) -> None:
        self.service = service

    def _backend(self, plugin_id: str | None) -> keyring.backend.KeyringBackend:
        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring) or backend.priority <= 0:
            raise SecretStoreError(f"no OS keyring is available ({type(backend).__name__})",
                                   plugin_id=plugin_id, hint=NO_BACKEND_HINT)
        return backend

    def get(self, plugin_id: str, key: str) -> str | None:
        try:
            value: str | None = self._backend(plugin_id).get_password(
                self.service, _username(plugin_id, key))
            return value
        except keyring.errors.KeyringError as e:
            raise SecretStoreError(f"could not read secret '{key}' from the keyring: {e}",
                                   plugin_id=plugin_id, hint=NO_BACKEND_HINT) from None

    def set(self, plugin_id: str, key: str, value: str) -> None:
        try:
            self._backend(plugin_id).set_password(self.service, _username(plugin_id, key), value)
        except keyring.errors.KeyringError as e:
            raise SecretStoreError(f"could not store secret '{key}' in the keyring: {e}",
                                   plugin_id=plugin_id, hint=NO_BACKEND_HINT) from None

    def delete(self, plugin_id: str, key: str) -> None:
        try:
            self._backend(plugin_id).delete_password(self.service, _username(plugin_id, key))
        except keyring.errors.PasswordDeleteError:
            pass  # already gone
        except keyring.errors.KeyringError as e:
            raise SecretStoreError(f"could not delete secret '{key}': {e}",
                                   plugin_id=plugin_id, hint=NO_BACKEND_HINT) from None

    def lookup_for(self, plugin_id: str,
                   keys: frozenset[str] | None = None) -> Callable[[str], str | None]:
        """A get-config fallback for one plugin: only ``keys`` (if given) are served."""

        def lookup(key: str) -> str | None:
            if keys is not None and key not in keys:
                return None
            return self.get(plugin_id, key)

        return lookup
