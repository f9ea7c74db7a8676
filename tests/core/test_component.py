"""Whether instantiating a component runs guest code: only then may its instantiate wait
inside WASI and need the sandbox thread (core.instance). A wrong "no" would let a start
function block the caller past its time limit, so anything unreadable counts as "yes"."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime

from tests.fixtures.binary import section
from wasmbay.core.component import runs_code_when_instantiated
from wasmbay.core.paths import AppDirs
from wasmbay.core.runtime import Runtime

NO_START = "(component (core module (func $f)))"
CORE_START = "(component (core module (func $f) (start $f)))"
NESTED_START = ("(component (component (component (core module (func $f) (start $f)))))")
NESTED_NO_START = "(component (component (core module (func $f) (export \"f\" (func $f)))))"


def wasm(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def test_start_sections_at_any_depth_are_found() -> None:
    assert not runs_code_when_instantiated(wasm(NO_START))
    assert not runs_code_when_instantiated(wasm(NESTED_NO_START))
    assert runs_code_when_instantiated(wasm(CORE_START))
    assert runs_code_when_instantiated(wasm(NESTED_START))


def test_real_toolchains_components(sample_wasm: Callable[[str], Path],
                                    fixture_wasm: Callable[[str], Path]) -> None:
    # componentize-py pre-initializes with wizer: nothing runs when instantiated
    assert not runs_code_when_instantiated(sample_wasm("image_processor").read_bytes())
    assert not runs_code_when_instantiated(fixture_wasm("echo").read_bytes())
    from wasmbay.authoring import build_project

    # wit-component runs a C plugin's constructors from a start function (_initialize)
    root = Path(__file__).resolve().parent.parent.parent
    (built,) = build_project(root / "plugins" / "word_stats_c", wit=2)
    assert runs_code_when_instantiated(Path(built.path).read_bytes())


@pytest.mark.parametrize("damage", [
    lambda b: b[:len(b) - 3],                      # cut inside a section
    lambda b: b[:6],                               # cut inside the preamble
    lambda b: b"\0asn" + b[4:],                    # not WebAssembly
    lambda b: b[:8] + b"\x01\xff\xff\xff\xff\x7f",  # a LEB128 size over 5 bytes
    lambda b: b[:8] + b"\x01\xff\xff\xff\xff\x0f",  # a section larger than the file
    lambda b: b[:6] + b"\x02\x00" + b[8:],         # an unknown layer
    lambda b: b"",
])
def test_unreadable_bytes_count_as_running_code(damage: Callable[[bytes], bytes]) -> None:
    assert runs_code_when_instantiated(damage(wasm(NESTED_NO_START)))


def test_deep_nesting_is_walked_without_recursion() -> None:
    """Nested deeper than any text parser allows (built as bytes): no RecursionError."""
    for inner, starts in ((CORE_START, True), (NO_START, False)):
        binary = wasm(inner)
        preamble = binary[:8]
        for _ in range(5000):
            binary = preamble + section(4, binary)  # a component section
        assert runs_code_when_instantiated(binary) is starts


def test_a_verdict_kept_by_an_older_host_learns_it_from_the_stored_file(
        tmp_path: Path, sample_wasm: Callable[[str], Path]) -> None:
    """A kept verdict without the answer (written before it existed) is checked again; the
    answer then comes from the stored file, if it still holds the compiled bytes."""
    source = sample_wasm("image_processor")
    root = tmp_path / "home"
    dirs = AppDirs(root / "data", root / "config", root / "cache", root / "logs")
    with Runtime(dirs, tier="optimized") as rt:
        info = rt.compile(source).info
    assert not info.runs_at_instantiate
    (sidecar,) = dirs.cache.rglob("*.json")  # the optimized entry's
    meta = json.loads(sidecar.read_text())
    del meta["verdict"]["data"]["runs_at_instantiate"]
    sidecar.write_text(json.dumps(meta))
    changed = tmp_path / "changed.wasm"
    changed.write_bytes(source.read_bytes() + b"\0\x02\x01x")  # another component's bytes
    fifo = tmp_path / "fifo.wasm"  # swapped in for the stored file: refused, not waited on
    os.mkfifo(fifo)
    for path, expected in ((None, True), (changed, True), (fifo, True), (source, False)):
        with Runtime(dirs, tier="optimized") as rt:
            loaded = rt.compile_cached(info.sha256, info.size, path=path)
            assert loaded is not None
            assert loaded.info.runs_at_instantiate is expected
        meta = json.loads(sidecar.read_text())
        meta["verdict"]["data"].pop("runs_at_instantiate")  # every round starts unknown
        sidecar.write_text(json.dumps(meta))
