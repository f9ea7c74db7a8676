"""The typed call path (core.typedcall) against wasmtime-py's generic Func.__call__.

Every function of every contract version runs both ways on the same instance and must give
the same plain values, error results and edge values included.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wasmbay.core import contracts, typedcall
from wasmbay.core import errors as E
from wasmbay.core.contract import ProcessResult
from wasmbay.core.events import Event, LogRecord, PluginEvent
from wasmbay.core.grants import Grants
from wasmbay.core.instance import PluginInstance
from wasmbay.core.pool import Plugin
from wasmbay.core.runtime import Runtime

Build = Callable[[str], Path]

BIG = "x" * (1024 * 1024)
TEXTS = ["", "hello", "héllo wörld ✓ 日本語 🎉", BIG]
OPTIONS: list[list[tuple[str, str]]] = [
    [], [("fail", "1")], [("k", "é")], [("", "")],
    [(f"key{i}", f"value {i} ✓") for i in range(1000)],
]
REQUEST_IDS = [None, "", "req-1", "ïd"]


@pytest.fixture(params=["echo", "echo_v1_versioned", "echo_v2"])
def plugin(request: pytest.FixtureRequest, runtime: Runtime, fixture_wasm: Build,
           ) -> Iterator[Plugin]:
    p = runtime.load(fixture_wasm(request.param), plugin_id=f"diff-{request.param}")
    try:
        yield p
    finally:
        p.close()


def one(plugin: Plugin) -> PluginInstance:
    inst = plugin._idle[0]
    assert inst.typed.mismatched == ()
    return inst


def test_every_function_is_bound(plugin: Plugin) -> None:
    inst = one(plugin)
    t = inst.typed
    assert None not in (t.initialize, t.process, t.shutdown, t.get_metadata)
    assert (t.health is not None) == (inst.major == 2)


def test_process_matches_generic(plugin: Plugin) -> None:
    inst = one(plugin)
    for text in TEXTS:
        for options in OPTIONS:
            for rid in REQUEST_IDS:
                typed = inst.process(text, options, rid)
                generic = inst._process_generic(text, options, rid)
                assert typed == generic, (text[:20], options[:2], rid)
                assert isinstance(typed, ProcessResult)
    failed = inst.process("x", [("fail", "1")], None)
    assert not failed.success and failed.error


def test_metadata_health_init_shutdown_match_generic(plugin: Plugin) -> None:
    inst = one(plugin)
    assert inst.get_metadata() == inst._get_metadata_generic()
    if inst.major == 2:
        assert inst.health() == inst._health_generic()
        assert inst.get_metadata().capabilities  # the v2 fixture asks for two
    typed = inst.typed.initialize
    assert typed is not None
    for config in ([], [("a", "b")], [("refuse", "1")], [(f"k{i}", "✓") for i in range(1000)]):
        got = inst._run(lambda c=config: typed(c), "initialize")  # type: ignore[misc]
        raw = inst.call("initialize", config)
        want = None if raw is None else (raw if isinstance(raw, str)
                                         else f"{raw.tag}: {raw.payload}")
        assert got == want
        if ("refuse", "1") in config:
            assert got is not None and "init refused" in got
    raw = inst.call("shutdown")
    assert inst.shutdown() == (None if raw is None else str(raw))


def test_initialize_refusal_is_a_domain_error(runtime: Runtime, fixture_wasm: Build) -> None:
    for name in ("echo", "echo_v2"):
        with pytest.raises(E.InitializeError, match="init refused"):
            runtime.load(fixture_wasm(name), plugin_id=f"refuse-{name}",
                         config={"refuse": "1"})


def test_host_callbacks_log_and_emit(runtime: Runtime, fixture_wasm: Build) -> None:
    seen: list[Event] = []
    stop = runtime.bus.subscribe(seen.append)
    try:
        for name in ("echo", "echo_v2"):
            with runtime.load(fixture_wasm(name), plugin_id=f"cb-{name}") as p:
                p.process("ünïcode line", [("log", "1"), ("emit", "1")])
    finally:
        stop()
    logs = [e.message for e in seen if isinstance(e, LogRecord) and e.source == "plugin"]
    events = [e.payload for e in seen if isinstance(e, PluginEvent)]
    assert logs.count("ünïcode line") == 2
    assert events.count("ünïcode line") == 2


def test_wrong_shapes_fall_back_and_fail_cleanly(runtime: Runtime, fixture_wasm: Build) -> None:
    """A v2 component checked against v1's shapes binds nothing; calls become domain errors."""
    with runtime.load(fixture_wasm("echo_v2"), plugin_id="shapes") as p:
        inst = p._idle[0]
        wrong = typedcall.bind(inst.store, inst.funcs, contracts.SUPPORTED[1])
        assert set(wrong.mismatched) == {"initialize", "process", "shutdown", "get-metadata"}
        assert wrong.process is None
        inst.typed = wrong
        inst.contract = contracts.SUPPORTED[1]  # the generic path converts with v1's
        with pytest.raises(E.PluginTrapError, match="does not match"):
            inst.process("x", [], None)


def test_trap_through_typed_path(runtime: Runtime, fixture_wasm: Build) -> None:
    with (runtime.load(fixture_wasm("unreachable"), plugin_id="trap") as p,
          pytest.raises(E.PluginTrapError)):
        p.process("x")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_no_leak_over_50k_calls(runtime: Runtime, fixture_wasm: Build) -> None:
    with runtime.load(fixture_wasm("echo_v2"), plugin_id="leak",
                      grants=Grants()) as p:
        inst = p._idle[0]
        opts = [("a", "b"), ("c", "d")]
        for _ in range(5000):  # warm-up: arenas, caches, allocator pools
            inst.process("y" * 100, opts, "rid")
        before = _rss()
        for i in range(50_000):
            r = inst.process("y" * 100, opts, "rid" if i % 2 else None)
            if i % 1000 == 0:
                inst.process("z", [("fail", "1")], None)
                inst.get_metadata()
                inst.health()
        grown = _rss() - before
        assert r.success
        assert grown < 4 * 1024 * 1024, f"RSS grew by {grown / 1e6:.1f} MB"
