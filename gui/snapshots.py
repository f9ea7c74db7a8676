"""Plain, immutable values that cross from the engine thread to widgets.

Widgets never see a wasmtime object or a live manager object: the engine worker copies
what they need into these frozen dataclasses, so a value can be read on the GUI thread
while the engine keeps changing the plugin it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wasmbay.core.contract import CapabilityRequest, ProcessResult
from wasmbay.core.errors import Fix
from wasmbay.core.events import Event
from wasmbay.core.grants import Grants, covered
from wasmbay.core.metrics import MetricsSnapshot
from wasmbay.core.publisher import TrustChange

if TYPE_CHECKING:
    from wasmbay.core.manager import InstallPreview as CorePreview

#: The states a plugin row can be in, as shown in the State column.
LOADING, READY, FAILED, DISABLED = "loading", "ready", "failed", "disabled"

EMPTY_METRICS = MetricsSnapshot(0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One installed version of a plugin, with the metrics of the calls it served."""

    version: str
    metrics: MetricsSnapshot = EMPTY_METRICS
    sha256: str = ""


@dataclass(frozen=True, slots=True)
class RollbackEvidence:
    """The automatic rollback's view of the running canary (core.rollout.Assessment),
    so the window can say how far the canary is from being judged, and why."""

    calls: int = 0
    failures: int = 0
    error_rate: float = 0.0
    lower_bound: float = 0.0  # the error rate the calls show, at the rule's confidence
    decision: str = "no canary"  # no canary | gathering | watching | roll back
    version: str = ""  # the canary the evidence is about


@dataclass(frozen=True, slots=True)
class VersionDetail:
    """One stored version as the Details tab lists it."""

    version: str
    installed_at: float  # seconds since the epoch
    size: int = 0
    signed_by: str | None = None
    role: str = ""  # "stable", "canary", "previous stable" or ""


@dataclass(frozen=True, slots=True)
class PluginSnapshot:
    """Everything the window shows about one plugin, copied at one moment."""

    plugin_id: str
    name: str = ""
    description: str = ""
    state: str = LOADING
    progress: float = 0.0  # 0..1 while loading
    reason: str = ""  # why it failed, or why it is disabled
    stable: VersionInfo | None = None
    canary: VersionInfo | None = None
    canary_percent: int = 0
    auto_rollback_threshold: float = 0.0  # error rate (0..1) that rolls a canary back
    auto_rollback_min_calls: int = 5  # canary calls before any judgement
    auto_rollback_progress: str = ""  # e.g. "9 of min 5 canary calls, 100% errors, ..."
    last_rollback: str = ""  # "why" of the most recent rollback, empty if none
    last_rollback_automatic: bool = False
    last_rollback_version: str = ""  # the version that rollback dropped
    #: The stable version before the last promote or update: what Rollback returns to
    #: when no canary runs (core's PluginStatus.previous_stable); "" if none.
    previous_stable: str = ""
    auto_rollback_confidence: float = 0.95  # of the rule's lower bound (core.rollout)
    #: Where the canary stands against the rule; None while automatic rollback is off.
    auto_rollback_evidence: RollbackEvidence | None = None
    grants: Grants = field(default_factory=Grants)
    config: tuple[tuple[str, str], ...] = ()
    secret_keys: tuple[str, ...] = ()
    data_dir: str = ""
    wit_version: int = 0
    requested: tuple[CapabilityRequest, ...] = ()
    versions: tuple[str, ...] = ()  # every version kept on disk
    # --- the Details tab (gui.widgets.details) and failure fixes (gui.fixes) ---
    #: What would repair the failure (core.errors.Fix), when core knows.
    fix: Fix | None = None
    #: The failure without core's CLI hint: the window words its own fix.
    reason_detail: str = ""
    #: Fingerprint of the key that signed the stable version; None if unsigned.
    publisher: str | None = None
    #: The stable component's size in bytes.
    size: int = 0
    #: The code serving calls: "fast", "optimized", "optimizing", or "" (not running).
    tier: str = ""
    #: Every version kept on disk, newest install first, with its date and signer.
    version_details: tuple[VersionDetail, ...] = ()
    #: Config keys the plugin asked for (get-config) and whether it got a value.
    config_read: tuple[tuple[str, bool], ...] = ()
    #: Secret keys the OS keyring no longer has (a real lookup, off the GUI thread).
    secrets_missing: tuple[str, ...] = ()
    #: Why the keyring could not be asked (no Secret Service...), else "".
    keyring_problem: str = ""
    #: The last call's error while calls keep failing ("" after a success), and its fix.
    call_failure: str = ""
    call_fix: Fix | None = None
    #: The latest stage of a long operation (core.manager_events.Progress: "compiling
    #: (fast)", "optimizing"...), and when it began (time.monotonic()), for the State cell.
    stage: str = ""
    stage_since: float = 0.0

    @property
    def metrics(self) -> MetricsSnapshot:
        """Calls across stable and canary, for the table's summary columns."""
        parts = [v.metrics for v in (self.stable, self.canary) if v is not None]
        if not parts:
            return EMPTY_METRICS
        if len(parts) == 1:
            return parts[0]
        a, b = parts
        return MetricsSnapshot(
            a.calls + b.calls, a.errors + b.errors, a.traps + b.traps,
            a.timeouts + b.timeouts, max(a.p50_ms, b.p50_ms), max(a.p95_ms, b.p95_ms),
            max(a.p99_ms, b.p99_ms),
            (a.mean_ms * a.calls + b.mean_ms * b.calls) / max(1, a.calls + b.calls))


@dataclass(frozen=True, slots=True)
class InstallOffer:
    """What the consent dialog shows before anything is installed.

    ``preview`` is core's own checked reading of the file (``None`` from a test backend):
    widgets never look inside it, they hand the offer back to ``Backend.install``, so the
    file that was shown is the file that is installed, read and checked once.
    """

    path: str
    plugin_id: str
    name: str
    version: str
    description: str
    wit_version: int
    sha256: str
    size: int
    requested: tuple[CapabilityRequest, ...]
    #: For an update: the plugin's current grants, so only new requests need approval.
    current: Grants | None = None
    current_version: str = ""
    #: Fingerprint of the trusted key that signed the file; None if unsigned.
    signed_by: str | None = None
    #: Publisher change or downgrade against the installed version: each needs an
    #: explicit confirmation in the dialog, or the engine refuses the update.
    trust_changes: tuple[TrustChange, ...] = ()
    preview: CorePreview | None = field(default=None, repr=False, compare=False)

    @property
    def is_update(self) -> bool:
        return self.current is not None

    def new_requests(self) -> tuple[CapabilityRequest, ...]:
        """Requests the current grants do not already cover (the permission diff)."""
        if self.current is None:
            return self.requested
        current = self.current
        return tuple(req for req in self.requested if not covered(current, req.text))


@dataclass(frozen=True, slots=True)
class CallResult:
    """The Try-it pane's answer: the response plus who served it and how fast."""

    plugin_id: str
    request_id: str
    result: ProcessResult | None
    error: str = ""
    #: A trap's wasm backtrace and the plugin's stderr (escaped lines), when it trapped.
    details: str = ""

    @property
    def served_by(self) -> str:
        return self.result.served_by if self.result else ""

    @property
    def duration_ms(self) -> float:
        return self.result.duration_s * 1000 if self.result else 0.0


@dataclass(frozen=True, slots=True)
class Failure:
    """A call that failed in the engine, as text the user can act on (never an exception)."""

    command: str  # the Backend verb's name, or "start"
    plugin_id: str
    message: str
    #: The user cancelled it (core's CancelledError): nothing was stored; not an error to warn of.
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class PluginRow(Event):
    """A row to show now, sent while a long verb still runs (a sample being installed).

    The engine thread polls snapshots only between verbs, so a verb that installs several
    plugins sends each row as its install starts. ``snapshot=None`` removes the row;
    ``replaces`` is the id of a placeholder row this one takes the place of.
    GUI-only: the backend hands it to the window's subscribers, never to core's bus.
    """

    snapshot: PluginSnapshot | None = None
    replaces: str = ""
