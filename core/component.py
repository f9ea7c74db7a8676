"""A compiled component and what is known of it without running it, and what a plugin
needs of the runtime that compiled it.

core.runtime makes these (and builds plugins from them); core.instance and core.pool run
them and know the runtime only as a :class:`ComponentHost`, so none imports the runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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

    def to_record(self) -> dict[str, Any]:
        """Everything but the contract object (named by its major): kept beside the code."""
        return {"sha256": self.sha256, "size": self.size, "major": self.contract.major,
                "contract_version_text": self.contract_version_text,
                "plugin_api_export": self.plugin_api_export, "exports": list(self.exports),
                "plugin_api_functions": list(self.plugin_api_functions),
                "imports": list(self.imports), "needs_network": self.needs_network,
                "may_block": self.may_block}

    @classmethod
    def from_record(cls, data: Mapping[str, Any], contracts: Mapping[int, Contract],
                    sha256: str, size: int) -> ComponentInfo:
        """The inverse of :meth:`to_record`, for the component ``sha256`` of ``size`` bytes;
        ValueError (or KeyError, TypeError) if ``data`` is not a record of that component."""
        if data["sha256"] != sha256 or data["size"] != size:
            raise ValueError("the kept record is of another component")

        def names(key: str) -> tuple[str, ...]:
            value = data[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"{key} is not a list of names")
            return tuple(value)

        def text(key: str) -> str:
            value = data[key]
            if not isinstance(value, str):
                raise TypeError(f"{key} is not text")
            return value

        def flag(key: str) -> bool:
            value = data[key]
            if not isinstance(value, bool):
                raise TypeError(f"{key} is not true or false")
            return value

        return cls(sha256=sha256, size=size, contract=contracts[data["major"]],
                   contract_version_text=text("contract_version_text"),
                   plugin_api_export=text("plugin_api_export"), exports=names("exports"),
                   plugin_api_functions=names("plugin_api_functions"),
                   imports=names("imports"), needs_network=flag("needs_network"),
                   may_block=flag("may_block"))

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
