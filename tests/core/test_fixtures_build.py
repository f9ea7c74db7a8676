"""Smoke test of the WAT fixtures: they build, match the WIT, and run under bare wasmtime-py.

No Wasmbay code here: a minimal host (a Linker serving host-api with lambdas) shows what each
fixture does, so a failure in the real host tests can be told apart from a broken fixture.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from wasmtime import Config, Engine, Store, WasiConfig, WasmtimeError
from wasmtime.component import Component, Linker, Record

from tests.fixtures.build import (
    DEFAULT_OUT_DIR,
    build_all,
    build_fixture,
    fixture_names,
    wasm_tools,
)

ROOT = Path(__file__).resolve().parents[2]
PKG = "toolsku:plugin-system"
V1_FIXTURES = [
    "echo",
    "busy_loop",
    "unreachable",
    "deep_recursion",
    "oob",
    "memory_bomb",
    "huge_output",
    "log_flood",
]
COMPONENT_MAGIC = b"\x00asm\x0d\x00\x01\x00"
CORE_MAGIC = b"\x00asm\x01\x00\x00\x00"


@pytest.fixture(scope="module")
def engine() -> Engine:
    cfg = Config()
    cfg.wasm_component_model = True
    cfg.epoch_interruption = True
    return Engine(cfg)


class MiniHost:
    """One Store + instance of a fixture, recording what the plugin sent to the host."""

    def __init__(
        self, engine: Engine, path: Path, *, version: str = "", memory: int = 64 << 20
    ) -> None:
        self.calls: list[tuple[str, ...]] = []
        linker = Linker(engine)
        linker.add_wasip2()
        with linker.root() as root, root.add_instance(f"{PKG}/host-api{version}") as h:
            if version == "@2.0.0":
                h.add_func("log", lambda _s, level, msg: self.calls.append(("log", level, msg)))
            else:
                h.add_func("log-message", lambda _s, level, msg: self._record("log", level, msg))
            h.add_func("get-config", lambda _s, key: None)
            h.add_func("emit-event", lambda _s, t, p: self._record("emit", t, p))
        self.store = Store(engine)
        self.store.set_wasi(WasiConfig())
        self.store.set_epoch_deadline(1)
        self.store.set_limits(memory_size=memory)
        self.instance = linker.instantiate(self.store, Component.from_file(engine, path))
        self.api = self.instance.get_export_index(self.store, f"{PKG}/plugin-api{version}")
        assert self.api is not None

    def _record(self, *call: str) -> None:
        self.calls.append(call)  # returning None is ok(()) for result<_, string>

    def has(self, name: str) -> bool:
        return self.instance.get_export_index(self.store, name, self.api) is not None

    def call(self, name: str, *args: Any) -> Any:
        index = self.instance.get_export_index(self.store, name, self.api)
        assert index is not None, name
        func = self.instance.get_func(self.store, index)
        assert func is not None, name
        result = func(self.store, *args)
        func.post_return(self.store)
        return result


def request(text: str, options: list[tuple[str, str]] | None = None, **extra: Any) -> Record:
    req = Record()
    setattr(req, "input", text)  # noqa: B010 (Record has no declared fields)
    setattr(req, "options", options or [])  # noqa: B010
    for key, value in extra.items():
        setattr(req, key.replace("_", "-"), value)
    return req


@pytest.fixture(scope="module")
def built() -> dict[str, Path]:
    return build_all()


def test_every_fixture_builds(built: dict[str, Path]) -> None:
    assert set(built) == set(fixture_names()) >= {*V1_FIXTURES, "echo_v2", "core_module"}
    for name, path in built.items():
        assert path.parent == DEFAULT_OUT_DIR and path.name == f"{name}.wasm"
        assert path.read_bytes()[:8] == (CORE_MAGIC if name == "core_module" else COMPONENT_MAGIC)


def test_rebuilds_only_when_the_source_changes(tmp_path: Path) -> None:
    first = build_fixture("echo", tmp_path)
    stamp = tmp_path / "echo.wasm.sha256"
    assert stamp.is_file()
    mtime = first.stat().st_mtime_ns
    assert build_fixture("echo", tmp_path).stat().st_mtime_ns == mtime
    stamp.write_text("0" * 64)
    build_fixture("echo", tmp_path)
    assert stamp.read_text().strip() != "0" * 64
    with pytest.raises(FileNotFoundError, match="no fixture"):
        build_fixture("no_such_fixture", tmp_path)


def targets(world_dir: Path, wasm: Path) -> bool:
    proc = subprocess.run(
        [wasm_tools(), "component", "targets", str(world_dir), str(wasm)],
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


@pytest.mark.parametrize("name", V1_FIXTURES)
def test_v1_fixtures_target_the_v1_world(built: dict[str, Path], name: str) -> None:
    assert targets(ROOT / "wit" / "v1", built[name])
    assert not targets(ROOT / "wit" / "v2", built[name])


def test_versioned_fixtures_target_their_worlds(built: dict[str, Path], tmp_path: Path) -> None:
    assert targets(ROOT / "wit" / "v2", built["echo_v2"])
    v1_versioned = (
        (ROOT / "wit" / "v1" / "plugin-system.wit")
        .read_text()
        .replace("package toolsku:plugin-system;", "package toolsku:plugin-system@1.0.0;")
    )
    (tmp_path / "plugin-system.wit").write_text(v1_versioned)
    assert targets(tmp_path, built["echo_v1_versioned"])
    for broken in (
        "missing_export",
        "unsupported_version",
        "unknown_import_http",
        "unknown_import_other",
    ):
        assert not targets(ROOT / "wit" / "v1", built[broken]), broken


@pytest.mark.parametrize(("name", "version"), [("echo", ""), ("echo_v1_versioned", "@1.0.0")])
def test_echo_v1(engine: Engine, built: dict[str, Path], name: str, version: str) -> None:
    host = MiniHost(engine, built[name], version=version)
    assert host.call("initialize", [("x", "y")]) is None
    assert host.calls == [("log", "info", "echo initialized")]
    meta = host.call("get-metadata")
    assert (meta.name, meta.version, meta.description) == ("echo", "1.0.0", "echo fixture")

    res = host.call("process", request("héllo"))
    assert (res.output, res.success, getattr(res, "error-message")) == (
        "processed: héllo",
        True,
        None,
    )
    res = host.call("process", request("x", [("fail", "1")]))
    assert (res.success, getattr(res, "error-message")) == (False, "asked to fail")

    host.calls.clear()
    host.call("process", request("payload", [("log", "1"), ("emit", "1")]))
    assert host.calls == [("log", "debug", "payload"), ("emit", "processed", "payload")]
    assert host.call("initialize", [("refuse", "1")]) == "init refused"
    assert host.call("shutdown") is None


def test_echo_v2(engine: Engine, built: dict[str, Path]) -> None:
    host = MiniHost(engine, built["echo_v2"], version="@2.0.0")
    assert host.call("initialize", []) is None
    assert host.calls == [("log", "info", "v2 initialized")]
    meta = host.call("get-metadata")
    assert (meta.name, meta.version) == ("echo", "2.0.0")
    caps = [(c.capability.tag, c.capability.payload, c.reason) for c in meta.capabilities]
    assert caps == [("fs-read", "/data", "reads input files"), ("network", None, "fetch")]

    ok = host.call("process", request("héllo", request_id="r-1"))
    assert (ok.output, ok.attributes) == ("v2: héllo", [("len", "6")])  # bytes, not chars
    err = host.call("process", request("x", [("fail", "1")], request_id=None))
    assert (err.tag, err.payload) == ("invalid-input", "asked to fail")
    health = host.call("health")
    assert (health.status, health.detail) == ("ok", None)
    refused = host.call("initialize", [("refuse", "1")])
    assert (refused.tag, refused.payload) == ("not-configured", "init refused")
    assert host.call("shutdown") is None


@pytest.fixture
def epoch_ticker(engine: Engine) -> Iterator[None]:
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.05):
            engine.increment_epoch()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("busy_loop", "interrupt"),
        ("unreachable", "unreachable"),
        ("deep_recursion", "stack"),
        ("oob", "out of bounds"),
        ("memory_bomb", "unreachable"),  # memory.grow hit the limit and returned -1
    ],
)
def test_hostile_fixtures_trap(
    engine: Engine, built: dict[str, Path], epoch_ticker: None, name: str, words: str
) -> None:
    host = MiniHost(engine, built[name], memory=32 << 20)
    assert host.call("initialize", []) is None
    assert host.call("process", request("hello", [("safe", "1")])).output == "processed: hello"
    with pytest.raises(WasmtimeError) as info:
        host.call("process", request("boom"))
    assert words in str(info.value)


def test_memory_bomb_minimum_is_above_one_page(engine: Engine, built: dict[str, Path]) -> None:
    with pytest.raises(WasmtimeError):
        MiniHost(engine, built["memory_bomb"], memory=64 << 10)
    MiniHost(engine, built["echo"], memory=64 << 10)


def test_huge_output(engine: Engine, built: dict[str, Path]) -> None:
    host = MiniHost(engine, built["huge_output"], memory=256 << 20)
    small = host.call("process", request("go", [("size", "1000")]))
    assert (small.output, small.success) == ("x" * 1000, True)
    big = host.call("process", request("go"))
    assert len(big.output) == 64 << 20 and big.success
    assert len(host.call("process", request("again")).output) == 64 << 20  # heap was reused
    tight = MiniHost(engine, built["huge_output"], memory=64 << 20)
    with pytest.raises(WasmtimeError):
        tight.call("process", request("go"))


def test_log_flood(engine: Engine, built: dict[str, Path]) -> None:
    host = MiniHost(engine, built["log_flood"])
    host.call("initialize", [])
    host.calls.clear()
    res = host.call("process", request("20000"))
    assert res.success and res.output == "processed: 20000"
    assert host.calls == [("log", "info", "line")] * 20000


def test_core_module_is_not_a_component(engine: Engine, built: dict[str, Path]) -> None:
    with pytest.raises(WasmtimeError):
        Component.from_file(engine, built["core_module"])


@pytest.mark.parametrize(
    ("name", "missing"),
    [
        ("unsupported_version", "toolsku:plugin-system/host-api@3.0.0"),
        ("unknown_import_http", "wasi:http/outgoing-handler@0.2.0"),
        ("unknown_import_other", "acme:secret/vault"),
    ],
)
def test_unservable_imports_fail_to_link(
    engine: Engine, built: dict[str, Path], name: str, missing: str
) -> None:
    with pytest.raises(WasmtimeError, match=missing):
        MiniHost(engine, built[name])


def test_unsupported_version_exports_v3(engine: Engine, built: dict[str, Path]) -> None:
    host = MiniHost(engine, built["unsupported_version"], version="@3.0.0")
    assert host.call("initialize", []) is None


def test_missing_export_lacks_only_shutdown(engine: Engine, built: dict[str, Path]) -> None:
    host = MiniHost(engine, built["missing_export"])
    assert [
        f for f in ("initialize", "process", "shutdown", "get-metadata") if not host.has(f)
    ] == ["shutdown"]


Build = Callable[[str], Path]


def test_conftest_fixture_wasm(fixture_wasm: Build) -> None:
    assert fixture_wasm("echo") == DEFAULT_OUT_DIR / "echo.wasm"
