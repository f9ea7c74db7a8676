"""A compiled component and what is known of it without running it, and what a plugin
needs of the runtime that compiled it.

core.runtime makes these (and builds plugins from them); core.instance and core.pool run
them and know the runtime only as a :class:`ComponentHost`, so none imports the runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from wasmtime import Engine
from wasmtime.component import Component, Linker

from .contracts import PACKAGE, Contract
from .events import EventBus

#: Epoch granularity: time limits are enforced to within one tick.
TICK_S = 0.01


@dataclass(frozen=True)
class ComponentInfo:
    """What a component is, learned without running it."""

    sha256: str
    size: int
    #: The contract version it targets, picked once here; everything after calls through it.
    contract: Contract
    contract_version_text: str  # e.g. "unversioned", "1.0.0", "2.0.0"
    plugin_api_export: str
    exports: tuple[str, ...]
    plugin_api_functions: tuple[str, ...]
    imports: tuple[str, ...]
    needs_network: bool
    may_block: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256, "size": self.size, "wit_version": self.contract.major,
            "contract": PACKAGE if self.contract_version_text == "unversioned"
            else f"{PACKAGE}@{self.contract_version_text}",
            "plugin_api_export": self.plugin_api_export, "exports": list(self.exports),
            "plugin_api_functions": list(self.plugin_api_functions),
            "imports": list(self.imports), "needs_network": self.needs_network,
        }


@dataclass
class LoadedComponent:
    component: Component
    info: ComponentInfo
    path: Path | None = None
    label: str = field(default="")
    #: The code it holds: "fast" (Winch) or "optimized" (Cranelift); see core.tiering.
    tier: str = "optimized"
    #: The component's bytes, kept on fast code until its optimized compile has them.
    wasm: bytes | None = field(default=None, repr=False)


class ComponentHost(Protocol):
    """The runtime as a plugin uses it (core.runtime.Runtime is the one there is)."""

    engine: Engine
    bus: EventBus

    def engine_for(self, tier: str) -> Engine: ...

    def linker(self, network: bool, tier: str = "optimized") -> Linker: ...

    def ticks_for(self, seconds: float) -> int: ...

    def optimize_later(self, fast: LoadedComponent,
                       done: Callable[[LoadedComponent | None, Any], None]) -> bool:
        """Queue ``fast``'s optimized compile; False when this runtime does not tier up."""
        ...
