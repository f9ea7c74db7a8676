"""What other people's components showed (issue 10, point 10): every refusal says why,
keeps wasmtime's cause, happens before anything is cached or installed, and the cheap
checks run before a file is read whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from wasmtime.component import Component

from tests.fixtures.build import WAT_DIR, wasm_tools
from wasmbay.core import errors as E
from wasmbay.core.component import LoadedComponent
from wasmbay.core.grants import Grants
from wasmbay.core.instance import Generation, PluginInstance
from wasmbay.core.manager import PluginManager
from wasmbay.core.paths import AppDirs
from wasmbay.core.runtime import (
    MAX_COMPONENT_BYTES,
    Runtime,
    check_component_bytes,
)

from .conftest import Forge
from .forge import forge_plugin

Build = Callable[[str], Path]
MiB = 1024 * 1024
GiB = 1024 * MiB
ROOT = Path(__file__).resolve().parents[2]


def wat_component(tmp_path: Path, name: str, text: str) -> Path:
    src = tmp_path / f"{name}.wat"
    src.write_text(text)
    out = tmp_path / f"{name}.wasm"
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True,
                   capture_output=True)
    return out


def variant(tmp_path: Path, base: str, name: str, *edits: tuple[str, str]) -> Path:
    """A fixture with text edits (each must apply), built into a component."""
    text = (WAT_DIR / f"{base}.wat").read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return wat_component(tmp_path, name, text)


V2_HOST_EMIT = ('''    (export "emit-event" (func (param "event-type" string) '''
                '''(param "payload" string)
                               (result (result (error string)))))))''')
V2_HEAD = '''(component
  (import "toolsku:plugin-system/host-api@2.0.0"'''


def extra_host_function(tmp_path: Path) -> Path:
    """echo_v2 importing a host-api@2.0.0 function this host does not have."""
    return variant(tmp_path, "echo_v2", "extra_host_fn", (V2_HOST_EMIT, V2_HOST_EMIT[:-2] + '''
    (export "read-secrets" (func (result string)))))'''))


def prerelease(tmp_path: Path) -> Path:
    return variant(tmp_path, "echo_v2", "rc1",
                   ('plugin-api@2.0.0"', 'plugin-api@2.0.0-rc1"'),
                   ('host-api@2.0.0"', 'host-api@2.0.0-rc1"'))


def wit_package(tmp_path: Path) -> Path:
    out = tmp_path / "plugin-system-wit.wasm"
    subprocess.run([wasm_tools(), "component", "wit", "--wasm", str(ROOT / "wit" / "v1"),
                    "-o", str(out)], check=True, capture_output=True)
    return out


@pytest.fixture(params=["optimized", "tiered"])
def private_runtime(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """A runtime whose compiled cache is this test's own (to see what gets written),
    once per tier mode (tiered: the optimized compile starts once the contract check
    passes, so a later refusal must still leave nothing)."""
    root = tmp_path / "private"
    rt = Runtime(AppDirs(root / "data", root / "config", root / "cache", root / "logs"),
                 tier=request.param)
    yield rt
    rt.close()


def _cache_entries(rt: Runtime) -> list[str]:
    return sorted(p.name for p in (rt.dirs.cache / "compiled").iterdir())


# --- wasmtime's cause is kept ------------------------------------------------------------------


@pytest.mark.parametrize(("feature", "wat"), [
    ("error-context", "(component (type (func (result error-context))))"),
    ("fixed-length lists", "(component (type (list u8 4)))"),
])
def test_component_using_unsupported_feature_says_so_not_damaged(
        manager: PluginManager, tmp_path: Path, feature: str, wat: str) -> None:
    path = wat_component(tmp_path, "feature", wat)
    with pytest.raises(E.UnsupportedFeatureError) as info:
        manager.preview(path)
    text = str(info.value)
    assert "uses a component-model feature this host does not enable" in text
    assert feature in text.lower()  # wasmtime's own words, not just its first line
    assert "truncated or damaged" not in text


def test_host_api_import_with_extra_function_names_the_function(
        manager: PluginManager, tmp_path: Path) -> None:
    with pytest.raises(E.UnknownImportError) as info:
        manager.preview(extra_host_function(tmp_path))
    text = str(info.value)
    assert "read-secrets" in text and "host-api@2.0.0" in text
    assert "log, get-config, emit-event" in text  # what this host does provide


def test_host_api_import_with_wrong_signature_says_what_mismatched(
        manager: PluginManager, tmp_path: Path) -> None:
    """v2's log imported with a sixth log level: same ABI, another type than the host's.

    The linker does not catch this (host functions are defined dynamically, with no type),
    so before the describe check it installed and every log call met an unknown level."""
    path = variant(tmp_path, "echo_v2", "log_fatal", (
        '(enum "trace" "debug" "info" "warn" "error")',
        '(enum "trace" "debug" "info" "warn" "error" "fatal")'))
    with pytest.raises(E.SignatureMismatchError) as info:
        manager.preview(path)
    text = str(info.value)
    assert "imports log from toolsku:plugin-system/host-api@2.0.0" in text
    assert "fatal" in text and "this host provides func(enum { trace, debug, info" in text


def test_wasi_import_mismatch_keeps_wasmtime_cause_chain(
        manager: PluginManager, tmp_path: Path) -> None:
    """A mismatch only the linker sees: its cause (which function) reaches the user."""
    path = variant(tmp_path, "echo_v2", "wasi_mismatch", (V2_HEAD, '''(component
  (import "wasi:cli/environment@0.2.0" (instance (export "steal-keys" (func (result string)))))
  (import "toolsku:plugin-system/host-api@2.0.0"'''))
    with pytest.raises(E.UnknownImportError) as info:
        manager.preview(path)
    assert "wasi:cli/environment@0.2.0" in str(info.value)
    assert "steal-keys" in str(info.value) and "wrong type" in str(info.value)
    assert info.value.__cause__ is not None  # the wasmtime error is chained, not dropped


# --- what a file is ----------------------------------------------------------------------------


def test_prerelease_contract_is_refused_not_shown_as_v2(runtime: Runtime,
                                                        tmp_path: Path) -> None:
    path = prerelease(tmp_path)
    with pytest.raises(E.UnsupportedWitVersionError) as info:
        runtime.compile(path)
    assert "2.0.0-rc1" in str(info.value) and "pre-release" in str(info.value)
    r = subprocess.run([sys.executable, "-m", "wasmbay", "inspect", str(path)],
                       capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert r.returncode == 3, r.stdout
    assert "WIT version 2" not in r.stdout and "pre-release" in r.stderr


def test_wit_package_binary_is_named_as_one(manager: PluginManager, tmp_path: Path) -> None:
    with pytest.raises(E.WitPackageError) as info:
        manager.preview(wit_package(tmp_path))
    assert ("this is a WIT package (interface definitions), not a plugin: build a component "
            "that implements it") in str(info.value)


def test_mistyped_process_is_refused_at_preview_not_installed(
        manager: PluginManager, fixture_wasm: Build) -> None:
    path = fixture_wasm("echo_mistyped_process")
    with pytest.raises(E.SignatureMismatchError) as info:
        manager.preview(path)
    text = str(info.value)
    assert "exports process as" in text
    assert "`process: func(req: process-request) -> process-response`" in text
    with pytest.raises(E.SignatureMismatchError):
        manager.install(path)
    assert manager.ids() == []


def test_mismatched_bind_result_is_a_load_error(runtime: Runtime, fixture_wasm: Build) -> None:
    """Second line of defence: an instance whose typed bind found a mismatch never serves."""
    echo = runtime.compile(fixture_wasm("echo"))
    mistyped = Component(runtime.engine, fixture_wasm("echo_mistyped_process").read_bytes())
    loaded = LoadedComponent(mistyped, echo.info)  # as if the describe check were skipped
    with pytest.raises(E.SignatureMismatchError, match="exports process as"):
        PluginInstance(runtime, "mistyped", Generation(loaded, Grants(), {}, None), "")


def test_bad_metadata_capability_is_the_plugins_error(manager: PluginManager,
                                                      forge: Forge) -> None:
    path = forge(name="envy", capabilities=[("env", "A B; rm -rf ~", "reads a variable")])
    with pytest.raises(E.BadCapabilityRequestError) as info:
        manager.install(path, accept_requested=True)
    assert not isinstance(info.value, E.UsageError)  # not the user's mistake
    assert "environment variable name" in str(info.value)
    assert manager.ids() == []


# --- nothing refused is cached -----------------------------------------------------------------


REFUSED: dict[str, Callable[[Path, Build], Path]] = {
    "mistyped-process": lambda t, f: f("echo_mistyped_process"),
    "missing-export": lambda t, f: f("missing_export"),
    "unsupported-version": lambda t, f: f("unsupported_version"),
    "unknown-import": lambda t, f: f("unknown_import_other"),
    "wit-package": lambda t, f: wit_package(t),
    "prerelease": lambda t, f: prerelease(t),
    "extra-host-function": lambda t, f: extra_host_function(t),
    "host-function-signature": lambda t, f: variant(
        t, "echo_v2", "log_fatal", ('"warn" "error")', '"warn" "error" "fatal")')),
    # passes the contract check, refused by what its metadata asks for
    "bad-capability-request": lambda t, f: forge_plugin(
        t / "forged", capabilities=[("env", "A B; rm -rf ~", "reads a variable")]),
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_refused_component_leaves_no_compiled_cache_entry(
        private_runtime: Runtime, tmp_path: Path, fixture_wasm: Build, kind: str) -> None:
    path = REFUSED[kind](tmp_path, fixture_wasm)
    manager = PluginManager(private_runtime.dirs, runtime=private_runtime)
    try:
        with pytest.raises(E.PluginLoadError):
            manager.preview(path)
        assert private_runtime.optimizer.wait_idle(60)
        assert _cache_entries(private_runtime) == []
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        assert not any(private_runtime.cache.contains(sha, tier)
                       for tier in private_runtime.cache.tiers)
        manager.preview(fixture_wasm("echo"))  # the control: an accepted one is cached
        assert private_runtime.optimizer.wait_idle(60)
        entries = _cache_entries(private_runtime)  # artefact, sidecar, last-use marker
        tiers = 2 if private_runtime.tiered else 1  # tiered: fast and optimized code
        assert sorted(Path(n).suffix for n in entries) == sorted(
            [".cwasm", ".json", ".used"] * tiers)
    finally:
        manager.close()


# --- cheap checks first ------------------------------------------------------------------------


def _peak(fn: Callable[[], object]) -> tuple[BaseException | None, int]:
    tracemalloc.start()
    try:
        fn()
        raised: BaseException | None = None
    except BaseException as e:  # the caller asserts on it
        raised = e
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return raised, peak


def test_sparse_1gib_non_wasm_file_is_refused_from_its_header(
        manager: PluginManager, tmp_path: Path) -> None:
    path = tmp_path / "huge.wasm"
    with path.open("wb") as f:
        f.truncate(GiB)  # sparse zeros: no disk used
    raised, peak = _peak(lambda: manager.preview(path))
    assert isinstance(raised, E.NotWasmError), raised
    assert peak < 4 * MiB, f"read {peak / MiB:.0f} MiB of a file refused by its header"


def test_sparse_1gib_component_is_refused_by_its_size_before_reading(
        manager: PluginManager, runtime: Runtime, tmp_path: Path,
        fixture_wasm: Build) -> None:
    path = tmp_path / "huge.wasm"
    with path.open("wb") as f:
        f.write(fixture_wasm("echo").read_bytes()[:8])  # a real component header
        f.truncate(GiB)
    for load in (lambda: manager.preview(path), lambda: runtime.compile(path)):
        raised, peak = _peak(load)
        assert isinstance(raised, E.TooLargeError), raised
        assert "is 1.0 GiB, more than the 256.0 MiB this host reads" in str(raised)
        assert peak < 4 * MiB, f"read {peak / MiB:.0f} MiB of a file refused by its size"
    assert 256 * MiB == MAX_COMPONENT_BYTES


def test_component_size_cap_is_configurable(private_runtime: Runtime,
                                            fixture_wasm: Build) -> None:
    echo = fixture_wasm("echo")
    private_runtime.max_component_bytes = echo.stat().st_size - 1
    with pytest.raises(E.TooLargeError):
        private_runtime.compile(echo)
    with pytest.raises(E.TooLargeError):
        private_runtime.compile(echo.read_bytes())
    private_runtime.max_component_bytes = echo.stat().st_size
    assert private_runtime.compile(echo).info.contract.major == 1


def test_installing_a_directory_is_a_clear_error(manager: PluginManager,
                                                 tmp_path: Path) -> None:
    folder = tmp_path / "somedir"
    folder.mkdir()
    with pytest.raises(E.PluginLoadError, match="is a folder, not a component file"):
        manager.install(folder)
    env = {**os.environ, "WASMBAY_HOME": str(tmp_path / "cli-home")}
    r = subprocess.run([sys.executable, "-m", "wasmbay", "install", str(folder)],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode != 0
    assert "is a folder, not a component file" in r.stderr
    assert "Traceback" not in r.stderr


def test_mutated_components_raise_only_load_errors(tmp_path: Path,
                                                   fixture_wasm: Build) -> None:
    """A tiny deterministic fuzz of the pre-compile checks and compile: no other exception."""
    good = fixture_wasm("echo").read_bytes()
    rng = random.Random(10)
    root = tmp_path / "fuzz"
    with Runtime(AppDirs(root / "d", root / "c", root / "k", root / "l"), cache=False) as rt:
        for _ in range(60):
            data = bytearray(good)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            if rng.random() < 0.2:
                data = data[:rng.randrange(len(data))]
            with contextlib.suppress(E.PluginLoadError):
                check_component_bytes(bytes(data))
                rt.compile(bytes(data), plugin_id="fuzz")
