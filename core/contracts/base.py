"""The one interface every contract version module provides (:class:`Contract`).

The host picks a component's version once, when it describes the component
(core.runtime), and from then on calls through that version's ``Contract``: its names,
its host functions, its function shapes, how its values are lifted on the typed path
(core.typedcall) and decoded on the generic path (wasmtime-py values), always into the
plain values of core.contract. Nothing outside core/contracts asks which version it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..contract import HealthReport, PluginMetadata, ProcessResult
from ..typedcall import FuncShape, HostFunction, Val

PACKAGE = "toolsku:plugin-system"
#: The repository's wit/ folder: one ``v<major>`` folder per contract version.
WIT_DIR = Path(__file__).resolve().parent.parent.parent / "wit"

Pairs = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Contract:
    """One contract version, as the host serves it."""

    major: int
    #: The package version wit/v<major> declares (``2.0.0``); None for the seed's
    #: unversioned package.
    wit_version: str | None
    #: The names under which the host defines host-api for this version.
    host_api_names: tuple[str, ...]
    #: Functions plugin-api must export.
    required_exports: tuple[str, ...]
    #: The shape each plugin-api function must have (core.typedcall notation).
    exports: Mapping[str, FuncShape]
    #: host-api: WIT name -> implementation and shape.
    host_functions: Mapping[str, HostFunction]
    # --- the typed path: a raw result val -> plain values ----------------------------
    #: ``initialize``/``shutdown``'s ``result<_, E>``: None, or the error's text.
    lift_error: Callable[[Val], str | None]
    lift_process: Callable[[Val], ProcessResult]
    lift_metadata: Callable[[Val], PluginMetadata]
    #: None when this version has no ``health`` (get-metadata then proves liveness).
    lift_health: Callable[[Val], HealthReport] | None
    # --- the generic path: wasmtime-py's values <-> plain values ---------------------
    #: The argument ``process`` takes: (input, options, request id) -> a wasmtime value.
    process_request: Callable[[str, Pairs, str | None], Any]
    decode_process_result: Callable[[Any], ProcessResult]
    decode_metadata: Callable[[Any], PluginMetadata]
    #: An ``initialize``/``shutdown`` error value (never None) -> its text.
    decode_error: Callable[[Any], str]
    decode_health: Callable[[Any], HealthReport] | None

    @property
    def label(self) -> str:
        return f"{PACKAGE}@{self.major}.x"

    @property
    def wit_suffix(self) -> str:
        """What follows a WIT item of this version: ``@2.0.0``, or nothing."""
        return "" if self.wit_version is None else f"@{self.wit_version}"

    @property
    def has_health(self) -> bool:
        return self.lift_health is not None

    @property
    def wit_dir(self) -> Path:
        return WIT_DIR / f"v{self.major}"

    @property
    def wit_hint(self) -> str:
        """How messages name this version's WIT: ``wit/v2``."""
        return f"wit/v{self.major}"

    def wit_signature(self, function: str) -> str | None:
        """The WIT line declaring ``function`` in this version's plugin-api, for messages."""
        try:
            text = (self.wit_dir / "plugin-system.wit").read_text()
        except OSError:
            return None
        in_api = False
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("interface "):
                in_api = stripped.startswith("interface plugin-api")
            elif in_api and stripped.startswith(f"{function}: func"):
                return stripped.rstrip(";")
        return None
