"""One small hierarchy of domain errors.

Every error names the plugin it concerns and says what the user can do about it,
so the CLI and the GUI can show ``str(error)`` as is.
"""

from __future__ import annotations


class WasmbayError(Exception):
    """Base of every error Wasmbay raises on purpose."""

    #: Short machine-readable kind, stable across releases (used by ``--json``).
    kind = "error"

    def __init__(self, message: str, *, plugin_id: str | None = None, hint: str = "") -> None:
        self.plugin_id = plugin_id
        self.message = message
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"plugin '{self.plugin_id}': " if self.plugin_id else ""
        tail = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{tail}"

    def to_dict(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "plugin_id": self.plugin_id,
            "message": self.message,
            "hint": self.hint,
        }


class UsageError(WasmbayError):
    """The user asked for something malformed (bad grant syntax, unknown plugin...)."""

    kind = "usage"


# --- loading -------------------------------------------------------------------------


class PluginLoadError(WasmbayError):
    """The component could not be turned into a running plugin."""

    kind = "load"


class NotWasmError(PluginLoadError):
    kind = "not-wasm"


class CoreModuleError(PluginLoadError):
    kind = "core-module"


class CorruptComponentError(PluginLoadError):
    kind = "corrupt"


class UnsupportedWitVersionError(PluginLoadError):
    kind = "unsupported-wit-version"


class MissingExportError(PluginLoadError):
    kind = "missing-export"


class UnknownImportError(PluginLoadError):
    kind = "unknown-import"

    def __init__(self, message: str, *, import_name: str, **kw: str | None) -> None:
        self.import_name = import_name
        super().__init__(message, **kw)  # type: ignore[arg-type]


class InitializeError(PluginLoadError):
    """The plugin's own ``initialize`` refused to start."""

    kind = "initialize"


class IntegrityError(PluginLoadError):
    """A stored component no longer matches the sha256 recorded at install."""

    kind = "integrity"


# --- calling -------------------------------------------------------------------------


class PluginCallError(WasmbayError):
    """A call into a plugin did not complete; the plugin instance was replaced."""

    kind = "call"


class PluginTrapError(PluginCallError):
    kind = "trap"


class OutOfBoundsError(PluginTrapError):
    kind = "out-of-bounds"


class StackOverflowError(PluginTrapError):
    kind = "stack-overflow"


class MemoryLimitError(PluginTrapError):
    kind = "memory-limit"


class FuelExhaustedError(PluginTrapError):
    kind = "fuel"


class PluginTimeoutError(PluginCallError):
    kind = "timeout"


class HostFunctionError(PluginCallError):
    """The host failed while serving a plugin's import; a Wasmbay bug, not the plugin's."""

    kind = "host"


class PluginUnavailableError(PluginCallError):
    """The plugin is closed, disabled or has no loadable instance."""

    kind = "unavailable"


# --- configuration -------------------------------------------------------------------


class SecretStoreError(WasmbayError):
    """The OS keyring is missing or refused access."""

    kind = "keyring"


# --- authoring (wasmbay new / build) ---------------------------------------------------


class AuthoringError(WasmbayError):
    """Creating or building a plugin project failed; ``plugin_id`` is the project name."""

    kind = "authoring"


class ProjectError(AuthoringError):
    """The project folder or its wasmbay.toml is missing or malformed."""

    kind = "project"


class ToolchainMissingError(AuthoringError):
    """A compiler or packager the build needs is not installed; the hint names the install."""

    kind = "toolchain-missing"


class BuildFailedError(AuthoringError):
    """The toolchain ran and rejected the source; the message carries its diagnostics."""

    kind = "build-failed"
