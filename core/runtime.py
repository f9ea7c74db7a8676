"""One wasmtime Engine for the whole process, its epoch ticker, linkers and cache.

The Runtime validates a component before anything runs (is it wasm, a component, a
supported contract version, with the exports we call and only imports we can give?)
and turns it into a :class:`~wasmbay.core.pool.Plugin`.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import wasmtime
from wasmtime import Config, Engine
from wasmtime.component import (
    Component,
    ComponentInstanceType,
    ComponentType,
    FuncType,
    Linker,
)

from . import backtrace, memory, resources, typedcall
from . import errors as E
from .cache import CompiledCache
from .component import TICK_S, ComponentInfo, LoadedComponent
from .contracts import (
    PACKAGE,
    SUPPORTED,
    Contract,
    ParsedName,
    find_interface,
    parse_contract_name,
    supported_label,
    wit_hint,
)
from .errortext import signature_error
from .events import EventBus
from .hostapi import SecretLookup
from .paths import AppDirs
from .pool import Plugin
from .traps import compile_error

if TYPE_CHECKING:
    from .grants import Grants

#: The wasm stack a plugin may use before it traps with a stack overflow.
MAX_WASM_STACK = 1024 * 1024

#: Default cap on a component's size: componentize-py builds are ~40 MB; wasmtime needs
#: several times a component's size in memory to compile it.
MAX_COMPONENT_BYTES = 256 * 1024 * 1024

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


class Runtime:
    """Owns the Engine, the epoch ticker, the linkers, the compiled cache and the event bus."""

    #: Host functions convert their values through core.typedcall (False: wasmtime-py's
    #: generic add_func, kept for comparison in tests and benchmarks).
    typed_host_calls = True
    #: The largest component (file or package entry) this runtime reads; bigger files are
    #: refused before they are read (set it on the instance to change it).
    max_component_bytes = MAX_COMPONENT_BYTES

    def __init__(self, dirs: AppDirs | None = None, *, cache: bool = True,
                 bus: EventBus | None = None) -> None:
        self.dirs = dirs or AppDirs.default()
        self.bus = bus or EventBus()
        #: Plugins' WASI files are this process's descriptors: raise the soft limit once.
        self.fd_limit = resources.prepare_process()
        details = backtrace.details_from_env()  # file:line in trap backtraces
        cfg = Config()
        cfg.wasm_component_model = True
        cfg.epoch_interruption = True
        cfg.consume_fuel = True
        cfg.max_wasm_stack = MAX_WASM_STACK
        cfg.cranelift_opt_level = "speed"
        memory.install(cfg)  # memory limits enforced (and reported) by core.memory
        self.engine = Engine(cfg)
        fingerprint = (f"component-model,epoch,fuel,stack={MAX_WASM_STACK},opt=speed,"
                       "host-memory,no-cow" + (",backtrace-details" if details else ""))
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
            for contract in SUPPORTED.values():
                for name in contract.host_api_names:
                    with root.add_instance(name) as inst:
                        if self.typed_host_calls:
                            typedcall.add_host_functions(inst, contract)
                            continue
                        for fname, fn in contract.host_functions.items():
                            inst.add_func(fname, fn.impl)
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
        """Read, check and compile (or load from cache) a component; never runs it.

        The cheap checks run before the file is read whole (size, 8-byte header), the
        contract check (exports, imports, their types) before anything is cached.
        """
        path = source if isinstance(source, Path) else None
        pid = plugin_id or (path.stem if path else None)
        if path is not None:
            wasm = read_component_file(path, pid, max_bytes=self.max_component_bytes)
        else:
            wasm = bytes(source)  # type: ignore[arg-type]
            check_component_bytes(wasm, pid, max_bytes=self.max_component_bytes)
        sha = hashlib.sha256(wasm).hexdigest()
        if expected_sha256 is not None and sha != expected_sha256:
            raise E.IntegrityError(
                f"component file changed behind Wasmbay's back (sha256 {sha[:12]}…, "
                f"installed {expected_sha256[:12]}…)", plugin_id=pid,
                hint="reinstall the plugin from a trusted source")
        size = len(wasm)
        try:
            component, info = self.cache.get(
                wasm, sha, lambda c: self.describe(c, sha, size, pid))
        except wasmtime.WasmtimeError as e:
            raise compile_error(e, pid) from e
        return LoadedComponent(component, info, path)

    def describe(self, component: Component, sha: str, size: int,
                 plugin_id: str | None) -> ComponentInfo:
        """What ``component`` is, or the load error that refuses it (exports, imports, types).

        Runs on the compiled component before the cache keeps it, so everything this
        refuses leaves no artefact.
        """
        ty = component.type
        exports = ty.exports(self.engine)
        import_items = ty.imports(self.engine)
        imports = tuple(import_items)
        found = find_interface(exports, "plugin-api")
        if found is None:
            if exports and not imports and all(isinstance(item.ty, ComponentType)
                                                for item in exports.values()):
                raise E.WitPackageError(
                    "this is a WIT package (interface definitions), not a plugin: build a "
                    f"component that implements it (it defines {_names(exports)})",
                    plugin_id=plugin_id,
                    hint="generate bindings from it (wit-bindgen, componentize-py, jco) and "
                         "build a component for world plugin-world; `wasmbay new` starts one")
            foreign = [n for n in exports if n.startswith(f"{PACKAGE}/")]
            if foreign:
                raise E.MissingExportError(
                    f"exports {_names(foreign)} but not {PACKAGE}/plugin-api",
                    plugin_id=plugin_id, hint="implement the plugin-api interface of wit/")
            raise E.MissingExportError(
                f"does not export {PACKAGE}/plugin-api (exports: {_names(exports) or 'none'})",
                plugin_id=plugin_id,
                hint=f"build it against world plugin-world from {wit_hint()}")
        api_export, parsed = found
        _check_release(api_export, parsed, plugin_id)
        contract = SUPPORTED.get(parsed.major)
        if contract is None:
            raise E.UnsupportedWitVersionError(
                f"was built for {PACKAGE}@{parsed.version_text}; this host serves "
                f"{supported_label()}", plugin_id=plugin_id,
                hint=f"rebuild the plugin against {wit_hint()}, or update Wasmbay")
        api_ty = exports[api_export].ty
        functions: tuple[str, ...] = ()
        func_types: dict[str, FuncType] = {}
        if isinstance(api_ty, ComponentInstanceType):
            for n, item in api_ty.exports(self.engine).items():
                if isinstance(item.ty, FuncType):
                    func_types[n] = item.ty
            functions = tuple(func_types)
        missing = [f for f in contract.required_exports if f not in functions]
        if missing:
            raise E.MissingExportError(
                f"{api_export} lacks {', '.join(missing)} (required by {contract.label})",
                plugin_id=plugin_id, hint="implement every function of plugin-api")
        for fname, want in contract.exports.items():
            fty = func_types.get(fname)
            if fty is not None:
                got = typedcall.functype_shape(fty)
                if got != want:
                    raise signature_error(fname, got, contract, plugin_id)
        needs_network = False
        for name in imports:
            p = parse_contract_name(name)
            if p is not None:
                if p.interface != "host-api":
                    raise E.UnknownImportError(
                        f"imports {name}, which this host does not provide",
                        import_name=name, plugin_id=plugin_id,
                        hint=f"build against {contract.wit_hint}")
                _check_release(name, p, plugin_id)
                if p.major != contract.major:
                    raise E.UnknownImportError(
                        f"imports {name} but exports {api_export}: mixed contract versions",
                        import_name=name, plugin_id=plugin_id,
                        hint="build against a single version of wit/")
                self._check_host_import(name, import_items[name].ty, contract, plugin_id)
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

    def _check_host_import(self, name: str, ty: object, contract: Contract,
                           plugin_id: str | None) -> None:
        """Every host-api function a component imports exists here, with the contract's type."""
        if not isinstance(ty, ComponentInstanceType):
            raise E.UnknownImportError(
                f"imports {name} as something other than an interface instance",
                import_name=name, plugin_id=plugin_id, hint=f"build against {contract.wit_hint}")
        expected = {fname: fn.shape for fname, fn in contract.host_functions.items()}
        for fname, item in ty.exports(self.engine).items():
            if not isinstance(item.ty, FuncType):
                continue  # a type export (v2's log-level), checked through the functions
            want = expected.get(fname)
            if want is None:
                raise E.UnknownImportError(
                    f"imports function {fname[:80]!r} from {name}, which this host does not "
                    f"provide ({contract.label} host-api has {', '.join(expected)})",
                    import_name=f"{name}#{fname[:80]}", plugin_id=plugin_id,
                    hint=f"rebuild it against {contract.wit_hint}: it was built against "
                         "another host-api")
            got = typedcall.functype_shape(item.ty)
            if got != want:
                raise E.SignatureMismatchError(
                    f"imports {fname} from {name} as {typedcall.func_shape_text(got)}, but "
                    f"this host provides {typedcall.func_shape_text(want)}",
                    plugin_id=plugin_id, hint=f"rebuild it against {contract.wit_hint}")

    # --- loading ------------------------------------------------------------------------

    def load(self, source: Path | bytes | LoadedComponent, *, plugin_id: str | None = None,
             grants: Grants | None = None, config: dict[str, str] | None = None,
             secret_lookup: SecretLookup | None = None, expected_sha256: str | None = None,
             max_instances: int = 4, label: str = "") -> Plugin:
        """Compile (or reuse), instantiate and initialize a plugin; returns a Plugin."""
        from .grants import Grants

        if isinstance(source, LoadedComponent):
            loaded = source
        else:
            loaded = self.compile(source, plugin_id=plugin_id, expected_sha256=expected_sha256)
        pid = plugin_id or (loaded.path.stem if loaded.path else loaded.info.sha256[:12])
        return Plugin(self, pid, loaded, grants=grants or Grants(), config=config or {},
                      secret_lookup=secret_lookup, max_instances=max_instances, label=label)


def check_header(wasm: bytes, plugin_id: str | None = None) -> None:
    """Refuse anything but a component from its first 8 bytes (pure: safe to fuzz).

    Needs only ``wasm[:8]``; a longer prefix or the whole file gives the same answer.
    """
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


def check_size(size: int, plugin_id: str | None = None, *, max_bytes: int | None = None,
               what: str = "component") -> None:
    """Refuse a component bigger than the host reads, before reading it."""
    limit = MAX_COMPONENT_BYTES if max_bytes is None else max_bytes
    if size > limit:
        raise E.TooLargeError(
            f"{what} is {human_size(size)}, more than the {human_size(limit)} this host "
            "reads", plugin_id=plugin_id,
            hint="a plugin component is normally a few MB; if this one is genuine, raise "
                 "Runtime.max_component_bytes")


def human_size(n: int) -> str:
    """``1.0 GiB``, ``256.0 MiB``, ``512 B``: sizes in messages about hostile files."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def check_component_bytes(wasm: bytes, plugin_id: str | None = None, *,
                          max_bytes: int | None = None) -> None:
    """Every check that runs before compiling, on bytes in memory (pure: safe to fuzz)."""
    check_header(wasm[:8], plugin_id)
    check_size(len(wasm), plugin_id, max_bytes=max_bytes)


def read_component_file(path: Path, plugin_id: str | None = None, *,
                        max_bytes: int | None = None) -> bytes:
    """A component file's bytes, refused before it is read whole.

    A folder, a device or FIFO, a file whose 8-byte header is not a component, or one
    bigger than ``max_bytes`` (default :data:`MAX_COMPONENT_BYTES`) is refused after
    reading at most 8 bytes; the read itself is capped in case the file grows meanwhile.
    """
    limit = MAX_COMPONENT_BYTES if max_bytes is None else max_bytes
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise E.PluginLoadError(
                f"{path} is a folder, not a component file", plugin_id=plugin_id,
                hint="pass the .wasm component (or .zip package) your build produced; "
                     "to build a plugin project run `wasmbay build` in its folder")
        if not stat.S_ISREG(st.st_mode):
            raise E.PluginLoadError(
                f"{path} is not a regular file", plugin_id=plugin_id,
                hint="pass the .wasm component (or .zip package) your build produced")
        with path.open("rb") as f:
            head = f.read(8)
            check_header(head, plugin_id)
            check_size(os.fstat(f.fileno()).st_size, plugin_id, max_bytes=limit)
            data = head + f.read(limit + 1 - len(head))
    except FileNotFoundError:
        raise E.PluginLoadError(f"{path} does not exist", plugin_id=plugin_id,
                                hint="check the path") from None
    except IsADirectoryError:  # pragma: no cover - raced with the stat above
        raise E.PluginLoadError(f"{path} is a folder, not a component file",
                                plugin_id=plugin_id, hint="pass the .wasm file") from None
    except OSError as e:
        raise E.PluginLoadError(f"cannot read {path}: {e.strerror}", plugin_id=plugin_id,
                                hint="check the file's permissions") from None
    check_size(len(data), plugin_id, max_bytes=limit)  # it grew while we read it
    return data


def _check_release(name: str, parsed: ParsedName, plugin_id: str | None) -> None:
    if not parsed.is_release:
        release = ".".join(map(str, parsed.version or ()))
        raise E.UnsupportedWitVersionError(
            f"was built for {PACKAGE}@{parsed.version_text} (in {name}), a pre-release of "
            f"the contract; this host serves only released versions ({supported_label()})",
            plugin_id=plugin_id,
            hint=f"rebuild it against the released wit/v{parsed.major} "
                 f"({PACKAGE}@{release})" if parsed.major in SUPPORTED
            else f"rebuild it against {wit_hint()}")


def _names(names: object, limit: int = 8) -> str:
    """A bounded, comma-separated list of (plugin-chosen) names."""
    items = [str(n)[:80] for n in names]  # type: ignore[attr-defined]
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f" and {more} more" if more > 0 else "")
