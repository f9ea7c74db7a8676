"""One wasmtime Engine for the whole process, its epoch ticker, linkers and cache.

The Runtime validates a component before anything runs (is it wasm, a component, a
supported contract version, with the exports we call and only imports we can give?)
and turns it into a :class:`~wasmbay.core.plugin.Plugin`.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import wasmtime
from wasmtime import Config, Engine
from wasmtime.component import Component, ComponentInstanceType, FuncType, Linker

from . import errors as E
from . import memory, typedcall
from .cache import CompiledCache
from .contract import PACKAGE, SUPPORTED, ContractVersion, parse_contract_name, supported_label
from .events import EventBus
from .hostapi import HOST_FUNCTIONS, SecretLookup
from .paths import AppDirs

if TYPE_CHECKING:
    from .grants import Grants
    from .plugin import Plugin

#: Epoch granularity: time limits are enforced to within one tick.
TICK_S = 0.01
#: The wasm stack a plugin may use before it traps with a stack overflow.
MAX_WASM_STACK = 1024 * 1024

WASM_MAGIC = b"\x00asm"
CORE_LAYER = b"\x01\x00\x00\x00"
COMPONENT_LAYER = b"\x0d\x00\x01\x00"

#: Import prefixes that can make a guest wait inside the host (sleep, streams, sockets,
#: files that may be FIFOs). A component importing none of them cannot block outside
#: wasm code, so the epoch deadline alone bounds its calls and they can run inline.
BLOCKING_IMPORTS = ("wasi:io/", "wasi:sockets/", "wasi:http/", "wasi:filesystem/",
                    "wasi:cli/stdin")

BUILD_HINT = "build with a component target: componentize-py, wasm32-wasip2, or " \
             "`wasm-tools component new` with the WASI adapter"


@dataclass(frozen=True)
class ComponentInfo:
    """What a component is, learned without running it."""

    sha256: str
    size: int
    contract: ContractVersion
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


class Runtime:
    """Owns the Engine, the epoch ticker, the linkers, the compiled cache and the event bus."""

    #: Host functions convert their values through core.typedcall (False: wasmtime-py's
    #: generic add_func, kept for comparison in tests and benchmarks).
    typed_host_calls = True

    def __init__(self, dirs: AppDirs | None = None, *, cache: bool = True,
                 bus: EventBus | None = None) -> None:
        self.dirs = dirs or AppDirs.default()
        self.bus = bus or EventBus()
        cfg = Config()
        cfg.wasm_component_model = True
        cfg.epoch_interruption = True
        cfg.consume_fuel = True
        cfg.max_wasm_stack = MAX_WASM_STACK
        cfg.cranelift_opt_level = "speed"
        memory.install(cfg)  # memory limits enforced (and reported) by core.memory
        self.engine = Engine(cfg)
        fingerprint = (f"component-model,epoch,fuel,stack={MAX_WASM_STACK},opt=speed,"
                       "host-memory,no-cow")
        cache_dir = self.dirs.cache / "compiled" if cache else None
        self.cache = CompiledCache(self.engine, cache_dir, fingerprint)
        self._linkers = {False: self._make_linker(network=False),
                         True: self._make_linker(network=True)}
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="wasmbay-epoch", daemon=True)
        self._ticker.start()

    # --- engine plumbing ----------------------------------------------------------------

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            self.engine.increment_epoch()

    @staticmethod
    def ticks_for(seconds: float) -> int:
        return max(1, math.ceil(seconds / TICK_S))

    def linker(self, network: bool) -> Linker:
        return self._linkers[network]

    def _make_linker(self, *, network: bool) -> Linker:
        linker = Linker(self.engine)
        linker.add_wasip2()
        if network:
            linker.add_wasi_http()
        with linker.root() as root:
            for major, contract in SUPPORTED.items():
                for name in contract.host_api_names:
                    with root.add_instance(name) as inst:
                        if self.typed_host_calls:
                            typedcall.add_host_functions(inst, major)
                            continue
                        for fname, fn in HOST_FUNCTIONS[major].items():
                            inst.add_func(fname, fn)
        return linker

    def close(self) -> None:
        self._stop.set()
        self._ticker.join(timeout=1)

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- validation ---------------------------------------------------------------------

    def compile(self, source: Path | bytes, *, plugin_id: str | None = None,
                expected_sha256: str | None = None) -> LoadedComponent:
        """Read, check and compile (or load from cache) a component; never runs it."""
        path = source if isinstance(source, Path) else None
        pid = plugin_id or (path.stem if path else None)
        if path is not None:
            try:
                wasm = path.read_bytes()
            except FileNotFoundError:
                raise E.PluginLoadError(f"{path} does not exist", plugin_id=pid,
                                        hint="check the path") from None
            except OSError as e:
                raise E.PluginLoadError(f"cannot read {path}: {e.strerror}", plugin_id=pid,
                                        hint="check the file's permissions") from None
        else:
            wasm = bytes(source)  # type: ignore[arg-type]
        sha = hashlib.sha256(wasm).hexdigest()
        if expected_sha256 is not None and sha != expected_sha256:
            raise E.IntegrityError(
                f"component file changed behind Wasmbay's back (sha256 {sha[:12]}…, "
                f"installed {expected_sha256[:12]}…)", plugin_id=pid,
                hint="reinstall the plugin from a trusted source")
        check_header(wasm, pid)
        try:
            component = self.cache.get(wasm, sha)
        except wasmtime.WasmtimeError as e:
            raise E.CorruptComponentError(
                f"not a valid component: {_first_line(e)}", plugin_id=pid,
                hint="the file is truncated or damaged; rebuild it or download it again",
            ) from None
        info = self.describe(component, sha, len(wasm), pid)
        return LoadedComponent(component, info, path)

    def describe(self, component: Component, sha: str, size: int,
                 plugin_id: str | None) -> ComponentInfo:
        ty = component.type
        exports = ty.exports(self.engine)
        imports = tuple(ty.imports(self.engine))
        api_export, parsed = None, None
        for name in exports:
            p = parse_contract_name(name)
            if p is not None and p.interface == "plugin-api":
                api_export, parsed = name, p
        if parsed is None or api_export is None:
            foreign = [n for n in exports if n.startswith(f"{PACKAGE}/")]
            if foreign:
                raise E.MissingExportError(
                    f"exports {', '.join(foreign)} but not {PACKAGE}/plugin-api",
                    plugin_id=plugin_id, hint="implement the plugin-api interface of wit/")
            raise E.MissingExportError(
                f"does not export {PACKAGE}/plugin-api (exports: {', '.join(exports) or 'none'})",
                plugin_id=plugin_id,
                hint="build it against world plugin-world from wit/v1 or wit/v2")
        contract = SUPPORTED.get(parsed.major)
        if contract is None:
            raise E.UnsupportedWitVersionError(
                f"was built for {PACKAGE}@{parsed.version_text}; this host serves "
                f"{supported_label()}", plugin_id=plugin_id,
                hint="rebuild the plugin against wit/v1 or wit/v2, or update Wasmbay")
        api_ty = exports[api_export].ty
        functions: tuple[str, ...] = ()
        if isinstance(api_ty, ComponentInstanceType):
            functions = tuple(n for n, item in api_ty.exports(self.engine).items()
                              if isinstance(item.ty, FuncType))
        missing = [f for f in contract.required_exports if f not in functions]
        if missing:
            raise E.MissingExportError(
                f"{api_export} lacks {', '.join(missing)} (required by {contract.label})",
                plugin_id=plugin_id, hint="implement every function of plugin-api")
        needs_network = False
        for name in imports:
            p = parse_contract_name(name)
            if p is not None:
                if p.interface != "host-api":
                    raise E.UnknownImportError(
                        f"imports {name}, which this host does not provide",
                        import_name=name, plugin_id=plugin_id,
                        hint="build against wit/v1 or wit/v2")
                if p.major != contract.major:
                    raise E.UnknownImportError(
                        f"imports {name} but exports {api_export}: mixed contract versions",
                        import_name=name, plugin_id=plugin_id,
                        hint="build against a single version of wit/")
            elif name.startswith("wasi:http/"):
                needs_network = True
            elif not name.startswith("wasi:"):
                raise E.UnknownImportError(
                    f"imports {name}, which no Wasmbay grant provides", import_name=name,
                    plugin_id=plugin_id,
                    hint="plugins may import only host-api and WASI 0.2 interfaces")
        may_block = any(n.startswith(BLOCKING_IMPORTS) for n in imports)
        return ComponentInfo(
            sha256=sha, size=size, contract=contract, contract_version_text=parsed.version_text,
            plugin_api_export=api_export, exports=tuple(exports), plugin_api_functions=functions,
            imports=imports, needs_network=needs_network, may_block=may_block)

    # --- loading ------------------------------------------------------------------------

    def load(self, source: Path | bytes | LoadedComponent, *, plugin_id: str | None = None,
             grants: Grants | None = None, config: dict[str, str] | None = None,
             secret_lookup: SecretLookup | None = None, expected_sha256: str | None = None,
             max_instances: int = 4, label: str = "") -> Plugin:
        """Compile (or reuse), instantiate and initialize a plugin; returns a Plugin."""
        from .grants import Grants
        from .plugin import Plugin  # plugin imports runtime: import late

        if isinstance(source, LoadedComponent):
            loaded = source
        else:
            loaded = self.compile(source, plugin_id=plugin_id, expected_sha256=expected_sha256)
        pid = plugin_id or (loaded.path.stem if loaded.path else loaded.info.sha256[:12])
        return Plugin(self, pid, loaded, grants=grants or Grants(), config=config or {},
                      secret_lookup=secret_lookup, max_instances=max_instances, label=label)


def check_header(wasm: bytes, plugin_id: str | None) -> None:
    if len(wasm) < 8 or wasm[:4] != WASM_MAGIC:
        what = "empty" if not wasm else "not WebAssembly (no \\0asm header)"
        raise E.NotWasmError(f"file is {what}", plugin_id=plugin_id,
                             hint="pick the .wasm component your build produced")
    layer = wasm[4:8]
    if layer == CORE_LAYER:
        raise E.CoreModuleError("file is a core wasm module, not a component",
                                plugin_id=plugin_id, hint=BUILD_HINT)
    if layer != COMPONENT_LAYER:
        raise E.CorruptComponentError(
            f"unknown wasm encoding version {layer.hex()}", plugin_id=plugin_id,
            hint="it was built by a toolchain newer or older than this host understands")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return text
