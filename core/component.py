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
    #: Whether instantiating it runs guest code (a start function, :func:`runs_code_when_
    #: instantiated`), so the instantiate may wait inside WASI; True when not known.
    runs_at_instantiate: bool = True

    def to_record(self) -> dict[str, Any]:
        """Everything but the contract object (named by its major): kept beside the code."""
        return {"sha256": self.sha256, "size": self.size, "major": self.contract.major,
                "contract_version_text": self.contract_version_text,
                "plugin_api_export": self.plugin_api_export, "exports": list(self.exports),
                "plugin_api_functions": list(self.plugin_api_functions),
                "imports": list(self.imports), "needs_network": self.needs_network,
                "may_block": self.may_block, "runs_at_instantiate": self.runs_at_instantiate}

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
                   may_block=flag("may_block"),
                   runs_at_instantiate=flag("runs_at_instantiate"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256, "size": self.size, "wit_version": self.contract.major,
            "contract": PACKAGE if self.contract_version_text == "unversioned"
            else f"{PACKAGE}@{self.contract_version_text}",
            "plugin_api_export": self.plugin_api_export, "exports": list(self.exports),
            "plugin_api_functions": list(self.plugin_api_functions),
            "imports": list(self.imports), "needs_network": self.needs_network,
        }


#: Binary section ids (the component model's and core WebAssembly's).
_CORE_MODULE_SECTION, _COMPONENT_SECTION, _COMPONENT_START_SECTION = 1, 4, 9
_CORE_START_SECTION = 8
_COMPONENT_LAYER, _CORE_LAYER = b"\x01\x00", b"\x00\x00"


def runs_code_when_instantiated(wasm: bytes) -> bool:
    """Whether instantiating this component can run guest code: some core module (at any
    depth) or component has a start section. Without one, wasmtime's instantiate only
    maps memories and links, so it cannot wait inside WASI and needs no sandbox thread.

    Reads section headers only (sizes let it skip bodies). Anything it cannot read counts
    as running code: the answer only ever saves a thread hand-off.
    """
    view = memoryview(wasm)
    todo = [(0, len(view))]  # (start, end) of each binary still to walk, nested ones too
    try:
        while todo:
            at, end = todo.pop()
            if bytes(view[at:at + 4]) != b"\0asm" or end - at < 8:
                return True
            layer = bytes(view[at + 6:at + 8])
            if layer not in (_COMPONENT_LAYER, _CORE_LAYER):
                return True
            at += 8
            while at < end:
                section = view[at]
                size, at = _leb_u32(view, at + 1)
                body_end = at + size
                if body_end > end:
                    return True
                if layer == _COMPONENT_LAYER:
                    if section == _COMPONENT_START_SECTION:
                        return True
                    if section in (_CORE_MODULE_SECTION, _COMPONENT_SECTION):
                        todo.append((at, body_end))
                elif section == _CORE_START_SECTION:
                    return True
                at = body_end
    except (IndexError, ValueError):
        return True
    return False


def _leb_u32(view: memoryview, at: int) -> tuple[int, int]:
    """An unsigned LEB128 u32 at ``at``: (value, the offset after it)."""
    value = 0
    for shift in range(0, 35, 7):
        byte = view[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
    raise ValueError("LEB128 number longer than 5 bytes")


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
    #: Compiled with fuel metering: what a plugin granted a fuel limit must run
    #: (core.tiering.code_name); other plugins run code without it.
    metered: bool = False


class ComponentHost(Protocol):
    """The runtime as a plugin uses it (core.runtime.Runtime is the one there is)."""

    engine: Engine
    bus: EventBus

    def engine_for(self, tier: str, metered: bool = False) -> Engine: ...

    def linker(self, network: bool, tier: str = "optimized", metered: bool = False) -> Linker: ...

    def metered_as(self, loaded: LoadedComponent, metered: bool) -> LoadedComponent:
        """``loaded``'s component compiled with fuel metering (``metered``) or without."""
        ...

    def ticks_for(self, seconds: float) -> int: ...

    def optimize_later(self, fast: LoadedComponent,
                       done: Callable[[LoadedComponent | None, Any], None]) -> bool:
        """Queue ``fast``'s optimized compile; False when this runtime does not tier up."""
        ...
