"""One small hierarchy of domain errors.

Every error names the plugin it concerns and says what the user can do about it,
so the CLI and the GUI can show ``str(error)`` as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# errors is the bottom of core: it imports none of it. The values some errors carry are
# named here by what the errors and their readers use of them.


class TraceLike(Protocol):
    """Where a plugin trapped; :class:`core.backtrace.Trace` is the one there is."""

    @property
    def frames(self) -> Sequence[object]: ...

    @property
    def where(self) -> str: ...

    def __bool__(self) -> bool: ...

    def lines(self) -> list[str]: ...

    def text(self) -> str: ...

    def to_dict(self) -> dict[str, list[str]]: ...


class TrustChangeLike(Protocol):
    """A refused change of whom the user trusts; :mod:`core.publisher` makes them."""

    @property
    def kind(self) -> str: ...

    @property
    def text(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


#: Fix kinds: the plugin asked for a configuration key it did not get.
CONFIGURE = "configure"
#: Fix kinds: the plugin asked for a folder (fs-read / fs-write) it was not granted.
GRANT_FOLDER = "grant-folder"


@dataclass(frozen=True, slots=True)
class Fix:
    """What would repair a failure, as data: each front end words it its own way.

    The CLI names a command, a window a button ("Configure database_url…"), so neither
    has to read the other's wording back out of a message. Found from what the host
    saw (the keys a plugin asked for, the folders it requested), never from plugin text.
    """

    kind: str  # CONFIGURE | GRANT_FOLDER
    #: The configuration key (CONFIGURE) or the guest path, e.g. ``/data`` (GRANT_FOLDER).
    target: str
    #: GRANT_FOLDER: "read" or "write".
    access: str = ""
    #: CONFIGURE: the key is stored as a secret (in the keyring), or should be.
    secret: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "access": self.access,
                "secret": self.secret}

    @property
    def cli_hint(self) -> str:
        """The fix in the CLI's words (the hint of a message the CLI prints)."""
        if self.kind == CONFIGURE:
            flag = " --secret" if self.secret else ""
            return f"set it with `wasmbay config ID {self.target} VALUE{flag}` and reload"
        flag = "fs-write" if self.access == "write" else "fs-read"
        return f"grant it with `wasmbay grant ID {flag}=HOSTDIR:{self.target}`"


class WasmbayError(Exception):
    """Base of every error Wasmbay raises on purpose."""

    #: Short machine-readable kind, stable across releases (used by ``--json``).
    kind = "error"
    #: Where a plugin trapped (wasm frames, the guest's stderr), set on call errors.
    trace: TraceLike | None = None
    #: What would repair it (a missing config key, an ungranted folder), when known.
    fix: Fix | None = None

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


class CancelledError(WasmbayError):
    """The user cancelled a preview, install or load; nothing was stored or cached.

    Compiling cannot be interrupted (wasmtime-py has no cancel hook), so a cancel that
    arrives during a compile takes effect when it returns and its result is discarded.
    """

    kind = "cancelled"

    def __init__(self, message: str = "cancelled", *, plugin_id: str | None = None,
                 hint: str = "nothing was installed; start again when you want it") -> None:
        super().__init__(message, plugin_id=plugin_id, hint=hint)


class TrustChangeError(UsageError):
    """An update would change whom the user trusts: another publisher, or an older build.

    ``changes`` are the refused :mod:`core.publisher` trust changes; the hint names the
    flag that accepts them.
    """

    kind = "trust-change"

    def __init__(self, message: str, *, plugin_id: str, changes: tuple[TrustChangeLike, ...],
                 hint: str) -> None:
        self.changes = changes
        super().__init__(message, plugin_id=plugin_id, hint=hint)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(super().to_dict())
        d["trust_changes"] = [c.to_dict() for c in self.changes]
        return d


class PublisherChangedError(TrustChangeError):
    """The update is unsigned or signed by another key than the installed version."""

    kind = "publisher-changed"


class DowngradeError(TrustChangeError):
    """The update has a lower version than the installed stable one."""

    kind = "downgrade"


class PermissionEscalationError(UsageError):
    """An update (or canary) asks for capabilities the plugin was not granted.

    ``escalation`` lists them (``kind=target`` text), so a caller can show the diff.
    """

    kind = "permission-diff"

    def __init__(self, message: str, *, plugin_id: str, escalation: list[str]) -> None:
        self.escalation = escalation
        super().__init__(message, plugin_id=plugin_id,
                         hint="review them, then re-run with --accept-requested or --grant CAP")


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


class TooLargeError(PluginLoadError):
    """A component or package file is bigger than the host reads (refused before reading it)."""

    kind = "too-large"


class UnsupportedFeatureError(PluginLoadError):
    """A well-formed component uses a wasm or component-model feature this host does not enable."""

    kind = "unsupported-feature"


class WitPackageError(PluginLoadError):
    """The file is a WIT package (interface definitions only), not a component implementing one."""

    kind = "wit-package"


class SignatureMismatchError(PluginLoadError):
    """A contract function is exported or imported with another type than the contract's."""

    kind = "signature-mismatch"


class BadCapabilityRequestError(PluginLoadError):
    """The plugin asked for a folder the host refuses to map (``..``, relative, control chars)."""

    kind = "bad-capability-request"


class BadMetadataError(PluginLoadError):
    """The plugin's metadata breaks a rule the host relies on (e.g. a non-semver version)."""

    kind = "bad-metadata"


class PackageError(PluginLoadError):
    """A plugin package (zip) is malformed, hostile, or its signature does not verify."""

    kind = "package"


class LibraryEntryError(PluginLoadError):
    """One plugin's entry could not be read; the rest of the library still loads."""

    kind = "library-entry"


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


# --- shared host resources -------------------------------------------------------------


class HostResourceError(WasmbayError, OSError):
    """The host ran out of a resource it shares with plugins (descriptors, disk).

    Also an :class:`OSError` (errno EMFILE/ENFILE/ENOSPC), so code that already
    tolerates a failed write (the compiled cache) keeps tolerating it.
    """

    kind = "host-resources"

    def __init__(self, message: str, *, code: int, plugin_id: str | None = None,
                 hint: str = "") -> None:
        super().__init__(message, plugin_id=plugin_id, hint=hint)
        self.errno = code
