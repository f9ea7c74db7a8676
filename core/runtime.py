"""One wasmtime Engine for the whole process, its epoch ticker, linkers and cache.

The Runtime validates a component before anything runs (is it wasm, a component, a
supported contract version, with the exports we call and only imports we can give?)
and turns it into a :class:`~wasmbay.core.pool.Plugin`.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import wasmtime
from wasmtime import Config, Engine
from wasmtime.component import (
    Component,
    ComponentInstanceType,
    ComponentType,
    FuncType,
    Linker,
)

from . import backtrace, resources, tiering, typedcall, wasmtime_internals
from . import errors as E
from .cache import WASMTIME_VERSION, CompiledCache, KeptCheck
from .component import TICK_S, ComponentInfo, LoadedComponent, runs_code_when_instantiated
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
from .manager_events import COMPILING_FAST, OPTIMIZING
from .paths import AppDirs
from .pool import Plugin
from .progress import ProgressHook
from .traps import compile_error

if TYPE_CHECKING:
    from .grants import Grants

#: The wasm stack a plugin may use before it traps with a stack overflow.
MAX_WASM_STACK = 1024 * 1024

#: Default cap on a component's size: componentize-py builds are ~40 MB; wasmtime needs
#: several times a component's size in memory to compile it.
MAX_COMPONENT_BYTES = 256 * 1024 * 1024

#: The pause between two pieces of a background cache write (core.paths.WRITE_CHUNK):
#: ~90 MB of an 18 MB plugin's two tiers written at once slowed the calls made meanwhile.
BACKGROUND_WRITE_PAUSE_S = 0.0025  # 100 MB/s at most

WASM_MAGIC = b"\x00asm"
CORE_LAYER = b"\x01\x00\x00\x00"
COMPONENT_LAYER = b"\x0d\x00\x01\x00"

#: Import prefixes that can make a guest wait inside the host with some grants (sleep,
#: streams, sockets, files that may be FIFOs): ``ComponentInfo.may_block``. Whether an
#: instance's calls need its sandbox thread depends on its grants too
#: (core.instance.blocks_in_host); a component importing none of these never does.
BLOCKING_IMPORTS = ("wasi:io/", "wasi:sockets/", "wasi:http/", "wasi:filesystem/",
                    "wasi:cli/stdin")

BUILD_HINT = "build with a component target: componentize-py, wasm32-wasip2, or " \
             "`wasm-tools component new` with the WASI adapter"


def engine_config(tier: str, *, metered: bool = False) -> Config:
    """Both tiers' settings, identical but for the compiler: same limits, same traps.

    ``metered``: fuel metering compiled in (core.tiering.code_name), for plugins granted
    a fuel limit only.

    Both compile in parallel, on wasmtime's workers of low priority
    (:func:`core.tiering.start_compile_workers`).
    """
    cfg = Config()
    cfg.wasm_component_model = True
    cfg.epoch_interruption = True
    cfg.consume_fuel = metered
    cfg.max_wasm_stack = MAX_WASM_STACK
    cfg.cranelift_opt_level = "speed"
    # Copy-on-write memory images (instantiate maps, not copies, the data segments); the
    # memory limit is each Store's limiter (core.instance).
    cfg.memory_init_cow = True
    if tier == tiering.FAST:
        wasmtime_internals.use_winch(cfg)
    return cfg



#: The modules whose code decides what :meth:`Runtime.describe` accepts.
_CHECKER_MODULES = ("runtime.py", "component.py", "typedcall.py", "contracts/__init__.py",
                    "contracts/base.py", "contracts/v1.py", "contracts/v2.py")


@functools.cache
def checker_fingerprint() -> str:
    """The identity of today's contract check: a verdict kept under another (an older or
    newer host, edited checks) is checked again. Unreadable sources never match."""
    digest = hashlib.sha256(f"wasmtime {WASMTIME_VERSION}".encode())
    here = Path(__file__).parent
    try:
        for name in _CHECKER_MODULES:
            digest.update(name.encode() + b"\0" + (here / name).read_bytes())
    except OSError:
        return os.urandom(16).hex()
    return digest.hexdigest()


def _runs_at_instantiate(wasm: bytes | Path | None, sha: str, max_bytes: int) -> bool:
    """:func:`runs_code_when_instantiated` of these bytes, or of the file if it holds the
    component ``sha`` (the cached code is of those bytes); True when neither is known.
    The file is read as any component file is (no FIFO, no more than ``max_bytes``)."""
    if isinstance(wasm, Path):
        try:
            data = read_component_file(wasm, max_bytes=max_bytes)
        except E.PluginLoadError:
            return True
        wasm = data if hashlib.sha256(data).hexdigest() == sha else None
    return wasm is None or runs_code_when_instantiated(wasm)


class Runtime:
    """Owns the Engine, the epoch ticker, the linkers, the compiled cache and the event bus."""

    #: Host functions convert their values through core.typedcall (False: wasmtime-py's
    #: generic add_func, kept for comparison in tests and benchmarks).
    typed_host_calls = True
    #: The largest component (file or package entry) this runtime reads; bigger files are
    #: refused before they are read (set it on the instance to change it).
    max_component_bytes = MAX_COMPONENT_BYTES

    def __init__(self, dirs: AppDirs | None = None, *, cache: bool = True,
                 bus: EventBus | None = None, tier: str | None = None,
                 background_optimize: bool = True) -> None:
        """``tier``: "tiered" (fast code first, optimized in the background), "fast" or
        "optimized" only; default ``WASMBAY_TIER``, else tiered. Without
        ``background_optimize`` a tiered runtime serves optimized code if it is cached
        and fast code otherwise, and compiles nothing in the background (one-shot CLI
        commands: the process ends before a background compile would pay off).
        """
        self.dirs = dirs or AppDirs.default()
        self.bus = bus or EventBus()
        self.tier_mode = tiering.tier_mode(tier)
        self.background_optimize = background_optimize
        #: Plugins' WASI files are this process's descriptors: raise the soft limit once.
        self.fd_limit = resources.prepare_process()
        details = backtrace.details_from_env()  # file:line in trap backtraces

        tiering.start_compile_workers()  # before anything compiles: their priority is for good
        #: One engine per tier and metering: a Store, linker and compiled component
        #: belong to one.
        self.engines = {(t, m): Engine(engine_config(t, metered=m))
                        for t in tiering.TIERS for m in (False, True)}
        self.engine = self.engines[(tiering.OPTIMIZED, False)]
        fingerprint = (f"component-model,epoch,stack={MAX_WASM_STACK},opt=speed,"
                       "cow" + (",backtrace-details" if details else ""))
        cache_dir = self.dirs.cache / "compiled" if cache else None
        self.cache = CompiledCache(
            self.engine, cache_dir, fingerprint,
            tier_engines={tiering.code_name(t, m): engine
                          for (t, m), engine in self.engines.items()})
        self._linkers = {(network, t, m): self._make_linker(network=network, tier=t, metered=m)
                         for t in tiering.TIERS for m in (False, True)
                         for network in (False, True)}
        self.optimizer = tiering.Optimizer(self._compile_optimized, keep=self._write_compiled)
        #: Optimized compiles asked for ahead of any plugin (:meth:`optimize_soon`).
        self._speculative: dict[str, Callable[[], bool]] = {}
        self._speculative_lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="wasmbay-epoch", daemon=True)
        self._ticker.start()

    # --- engine plumbing ----------------------------------------------------------------

    def _tick(self) -> None:
        engines = tuple(self.engines.values())
        while not self._stop.wait(TICK_S):
            for engine in engines:  # time limits hold for code of either tier
                engine.increment_epoch()

    @staticmethod
    def ticks_for(seconds: float) -> int:
        return max(1, math.ceil(seconds / TICK_S))

    def engine_for(self, tier: str, metered: bool = False) -> Engine:
        return self.engines[(tier, metered)]

    def linker(self, network: bool, tier: str = tiering.OPTIMIZED,
               metered: bool = False) -> Linker:
        return self._linkers[(network, tier, metered)]

    @property
    def tiered(self) -> bool:
        """Fast code first, with the optimized compile following in the background."""
        return self.tier_mode == tiering.TIERED and self.background_optimize

    def optimize_later(self, fast: LoadedComponent,
                       done: Callable[[LoadedComponent | None, Any], None]) -> bool:
        """Queue ``fast``'s optimized compile (core.tiering); False if not tiering up."""
        if not self.tiered or fast.tier != tiering.FAST:
            return False
        with self._speculative_lock:  # a plugin wants it now, whatever happened to the ask
            self._speculative.pop(fast.info.sha256, None)
        self.optimizer.submit(fast, done)
        return True

    def _make_linker(self, *, network: bool, tier: str = tiering.OPTIMIZED,
                     metered: bool = False) -> Linker:
        linker = Linker(self.engines[(tier, metered)])
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
        self.optimizer.stop()
        self.cache.write_all_pending()  # fast code no optimized compile came to write
        self.cache.release_loaded()
        self._stop.set()
        self._ticker.join(timeout=1)

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- validation ---------------------------------------------------------------------

    def compile(self, source: Path | bytes, *, plugin_id: str | None = None,
                expected_sha256: str | None = None,
                progress: ProgressHook | None = None,
                tier: str | None = None, metered: bool = False) -> LoadedComponent:
        """Read, check and compile (or load from cache) a component; never runs it.

        The cheap checks run before the file is read whole (size, 8-byte header), the
        contract check (exports, imports, their types) before anything is cached.
        ``progress`` hears the compile stages (core.progress; see PROGRESS_API).
        ``tier`` forces one; by default (:meth:`first_tier`) a tiered runtime compiles
        fast code unless optimized code is already cached. ``metered``: with fuel
        metering, for grants with a fuel limit (:meth:`metered_as`).
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
        tier = tier or self.first_tier(sha, metered)
        compiler = tiering.code_name(tier, metered)
        if progress is not None and not self.cache.contains(sha, compiler):
            progress(COMPILING_FAST if tier == tiering.FAST else OPTIMIZING, None)
        # A tiered runtime's fast code is written while its optimized code compiles
        # (_compile_optimized): written here it would delay the first call by half a
        # second (an 18 MB plugin); the runtime's close writes it if no compile ran.
        deferred = tier == tiering.FAST and self.tiered
        try:
            component, info = self.cache.get(
                wasm, sha, self.contract_check(sha, size, pid, tier, wasm, metered=metered),
                compiler, write_now=not deferred)
        except wasmtime.WasmtimeError as e:
            raise compile_error(e, pid) from e
        loaded = LoadedComponent(component, info, path, tier=tier, metered=metered,
                                 wasm=wasm if tier == tiering.FAST and self.tiered else None)
        return loaded

    def metered_as(self, loaded: LoadedComponent, metered: bool) -> LoadedComponent:
        """``loaded``'s component as code with fuel metering (``metered``) or without.

        A plugin's code follows its grants: a fuel limit needs metered code, and code
        without one runs unmetered (faster). Cached code of the same tier serves when
        there is some; else a tiered runtime compiles fast code (its optimized code
        follows in the background, core.pool), another the same tier again. The bytes
        are the ones kept for the optimizer, or the file, hashed against the component.
        """
        if loaded.metered == metered:
            return loaded
        info = loaded.info
        tiers = ((tiering.OPTIMIZED, tiering.FAST)
                 if self.tiered and loaded.tier == tiering.OPTIMIZED else (loaded.tier,))
        try:
            for tier in tiers:
                check = self.contract_check(info.sha256, info.size, None, tier,
                                            metered=metered)
                hit = self.cache.get_cached(info.sha256, check,
                                            tiering.code_name(tier, metered))
                if hit is not None:
                    kept = loaded.wasm if tier == tiering.FAST and self.tiered else None
                    return LoadedComponent(hit[0], hit[1], loaded.path, loaded.label,
                                           tier=tier, metered=metered, wasm=kept)
            tier = tiers[-1]
            wasm = loaded.wasm
            if wasm is None:
                if loaded.path is None:
                    raise E.PluginLoadError(
                        "no bytes to compile its code with fuel metering from",
                        hint="load it from its file to change its fuel limit")
                wasm = read_component_file(loaded.path, None,
                                           max_bytes=self.max_component_bytes)
                if hashlib.sha256(wasm).hexdigest() != info.sha256:
                    raise E.IntegrityError(
                        "component file changed since it was loaded",
                        hint="reinstall the plugin from a trusted source")
            check = self.contract_check(info.sha256, info.size, None, tier, wasm,
                                        metered=metered)
            component, checked = self.cache.get(wasm, info.sha256, check,
                                                tiering.code_name(tier, metered))
        except wasmtime.WasmtimeError as e:
            raise compile_error(e, None) from e
        keep = wasm if tier == tiering.FAST and self.tiered else None
        return LoadedComponent(component, checked, loaded.path, loaded.label, tier=tier,
                               metered=metered, wasm=keep)

    def optimize_soon(self, fast: LoadedComponent,
                      wanted: Callable[[], bool] | None = None) -> None:
        """Start ``fast``'s optimized compile now, before any plugin runs it (a file that
        passed every check of a preview or install), so optimized code serves sooner; a
        plugin asking for it later joins this compile or finds its code cached. Skipped
        when it starts if ``wanted`` says no (the operation was cancelled meanwhile) and
        no plugin has asked for it since.
        """
        if not self.tiered or fast.tier != tiering.FAST or fast.wasm is None:
            return
        with self._speculative_lock:
            self._speculative[fast.info.sha256] = wanted or (lambda: True)
        self.optimizer.submit(fast, _speculative_done)

    def first_tier(self, sha256: str, metered: bool = False) -> str:
        """The tier a component is compiled for when none is asked for."""
        if self.tier_mode != tiering.TIERED:
            return self.tier_mode
        cached = self.cache.contains(sha256, tiering.code_name(tiering.OPTIMIZED, metered))
        return tiering.OPTIMIZED if cached else tiering.FAST

    def _compile_optimized(self, fast: LoadedComponent) -> LoadedComponent:
        """The optimizer's job: ``fast``'s component compiled (or loaded) as optimized code.

        The fast code, not yet written (:meth:`compile`), is written meanwhile by a thread
        of the same low priority. The optimized code is written after the swap
        (:meth:`_write_compiled`): written before it, it delayed optimized code by 0.15 s
        (an 18 MB plugin).
        """
        info = fast.info
        with self._speculative_lock:  # kept until done: a plugin asking meanwhile pops it
            wanted = self._speculative.get(info.sha256)
        if wanted is not None and not wanted():
            with self._speculative_lock:
                self._speculative.pop(info.sha256, None)
            raise E.CancelledError("no longer wanted: its preview or install was cancelled",
                                   hint="nothing was compiled")
        fast_writer = threading.Thread(  # inherits this thread's low priority
            target=self.cache.write_pending,
            args=(info.sha256, tiering.code_name(tiering.FAST, fast.metered)),
            name="wasmbay-cache-write", daemon=True)
        fast_writer.start()
        try:
            optimized = self._compile_optimized_code(fast)
        finally:
            fast_writer.join()
            with self._speculative_lock:
                wanted = self._speculative.pop(info.sha256, None)
        if wanted is not None and not wanted():  # cancelled while compiling; nobody asked
            self.cache.discard_pending(info.sha256,
                                       tiering.code_name(tiering.OPTIMIZED, fast.metered))
            raise E.CancelledError("its preview or install was cancelled while it compiled",
                                   hint="its optimized code was thrown away")
        return optimized

    def _write_compiled(self, sha256: str) -> None:
        """Write what the tiers of this component left in memory only (the optimized code;
        the fast code too if no compile wrote it), paced (:data:`BACKGROUND_WRITE_PAUSE_S`):
        the plugin serves from memory meanwhile."""
        for name in tiering.CODE_NAMES:
            self.cache.write_pending(sha256, name, pause_s=BACKGROUND_WRITE_PAUSE_S)

    def _compile_optimized_code(self, fast: LoadedComponent) -> LoadedComponent:
        info = fast.info
        metered = fast.metered
        check = self.contract_check(info.sha256, info.size, None, tiering.OPTIMIZED,
                                    metered=metered)
        optimizer_compiler = tiering.code_name(tiering.OPTIMIZED, metered)
        try:  # compiled already (an earlier, speculative compile of the same bytes)
            hit = self.cache.get_cached(info.sha256, check, optimizer_compiler)
        except wasmtime.WasmtimeError as e:
            raise compile_error(e, None) from e
        if hit is not None:
            fast.wasm = None
            return LoadedComponent(hit[0], hit[1], fast.path, fast.label,
                                   tier=tiering.OPTIMIZED, metered=metered)
        wasm = fast.wasm  # the very bytes whose sha256 the fast compile took, if kept
        if wasm is None:  # fast code loaded from the cache: read the bytes now
            if fast.path is None:
                raise E.PluginLoadError("no bytes to compile optimized code from",
                                        hint="it keeps serving its fast code")
            wasm = read_component_file(fast.path, None, max_bytes=self.max_component_bytes)
            if hashlib.sha256(wasm).hexdigest() != info.sha256:
                raise E.IntegrityError(
                    "component file changed since its fast code was compiled",
                    hint="reinstall the plugin from a trusted source")
        try:
            # written by _write_compiled after the swap (a cancel discards it unwritten)
            check = self.contract_check(info.sha256, info.size, None, tiering.OPTIMIZED, wasm,
                                        metered=metered)
            component, checked = self.cache.get(wasm, info.sha256, check, optimizer_compiler,
                                                write_now=False)
        except wasmtime.WasmtimeError as e:
            raise compile_error(e, None) from e
        fast.wasm = None  # the optimized code is cached: nothing needs the bytes now
        return LoadedComponent(component, checked, fast.path, fast.label,
                               tier=tiering.OPTIMIZED, metered=metered)

    def compile_cached(self, sha256: str, size: int, *, path: Path | None = None,
                       plugin_id: str | None = None,
                       metered: bool = False) -> LoadedComponent | None:
        """The component with this sha256 if its code is cached (and passes today's
        contract check), without reading its file; None if it must be compiled.

        For stored versions whose file identity is unchanged since their sha256 was
        checked (core.versions): the cache's own entries are integrity-checked on load.
        """
        tiers = ((tiering.OPTIMIZED, tiering.FAST) if self.tier_mode == tiering.TIERED
                 else (self.tier_mode,))
        for tier in tiers:  # optimized code if cached, else fast (tiered up in the background)
            try:
                check = self.contract_check(sha256, size, plugin_id, tier, path,
                                            metered=metered)
                hit = self.cache.get_cached(sha256, check, tiering.code_name(tier, metered))
            except wasmtime.WasmtimeError as e:
                raise compile_error(e, plugin_id) from e
            if hit is not None:
                return LoadedComponent(hit[0], hit[1], path, tier=tier, metered=metered)
        return None

    def contract_check(self, sha: str, size: int, plugin_id: str | None,
                       tier: str, wasm: bytes | Path | None = None, *,
                       metered: bool = False) -> KeptCheck[ComponentInfo]:
        """:meth:`describe` as the cache runs it: its verdict kept beside the compiled code,
        so a warm start does not walk every component's types again. ``wasm``: the bytes
        being compiled, or the file they were stored in (:meth:`describe`)."""
        return KeptCheck(
            run=lambda c: self.describe(c, sha, size, plugin_id, tier=tier, wasm=wasm,
                                        metered=metered),
            fingerprint=checker_fingerprint(),
            encode=ComponentInfo.to_record,
            decode=lambda data: ComponentInfo.from_record(data, SUPPORTED, sha, size))

    def describe(self, component: Component, sha: str, size: int,
                 plugin_id: str | None, *, tier: str = tiering.OPTIMIZED,
                 wasm: bytes | Path | None = None, metered: bool = False) -> ComponentInfo:
        """What ``component`` is, or the load error that refuses it (exports, imports, types).

        Runs on the compiled component before the cache keeps it, so everything this
        refuses leaves no artefact. ``tier`` names the engine that compiled it; ``wasm``
        are its bytes (or their file, read only if it still holds them: a cached verdict
        kept by an older host), which alone tell whether its instantiate runs guest code;
        without them it counts as running some.
        """
        engine = self.engines[(tier, metered)]
        ty = component.type
        exports = ty.exports(engine)
        import_items = ty.imports(engine)
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
            for n, item in api_ty.exports(engine).items():
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
                self._check_host_import(name, import_items[name].ty, contract, plugin_id,
                                        engine)
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
            imports=imports, needs_network=needs_network, may_block=may_block,
            runs_at_instantiate=_runs_at_instantiate(wasm, sha, self.max_component_bytes))

    def _check_host_import(self, name: str, ty: object, contract: Contract,
                           plugin_id: str | None, engine: Engine) -> None:
        """Every host-api function a component imports exists here, with the contract's type."""
        if not isinstance(ty, ComponentInstanceType):
            raise E.UnknownImportError(
                f"imports {name} as something other than an interface instance",
                import_name=name, plugin_id=plugin_id, hint=f"build against {contract.wit_hint}")
        expected = {fname: fn.shape for fname, fn in contract.host_functions.items()}
        for fname, item in ty.exports(engine).items():
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

        grants = grants or Grants()
        if isinstance(source, LoadedComponent):
            loaded = source  # the Plugin compiles it metered if its grants need that
        else:
            loaded = self.compile(source, plugin_id=plugin_id, expected_sha256=expected_sha256,
                                  metered=grants.fuel is not None)
        pid = plugin_id or (loaded.path.stem if loaded.path else loaded.info.sha256[:12])
        return Plugin(self, pid, loaded, grants=grants, config=config or {},
                      secret_lookup=secret_lookup, max_instances=max_instances, label=label)


def _speculative_done(optimized: LoadedComponent | None, error: Any) -> None:
    """A compile started before any plugin asked for it: its code is in the cache."""


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
