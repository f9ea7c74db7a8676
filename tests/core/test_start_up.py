"""A new instance's start-up (instantiate, initialize, get-metadata) runs as one job on its
sandbox thread (the instantiate on the caller's when it runs no guest code), and each of
its guest calls keeps its own time limit; the tier swap's
instances serve calls at normal priority, not at the background compile's."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wasmbay.core import errors as E
from wasmbay.core import instance as instance_module
from wasmbay.core import typedcall
from wasmbay.core.grants import Grants
from wasmbay.core.instance import Generation, PluginInstance
from wasmbay.core.paths import AppDirs
from wasmbay.core.runtime import Runtime

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "c" / "fifo_reader"


@pytest.fixture(scope="module")
def fifo_reader() -> Path:
    from wasmbay.authoring import build_project

    (built,) = build_project(FIXTURE, wit=2)
    return Path(built.path)


@pytest.fixture
def blocking(tmp_path: Path) -> Callable[[str], Grants]:
    """Grants under which the C fixture can wait in WASI: its calls use a sandbox thread."""
    return lambda timeout: Grants().grant_all([f"timeout={timeout}", f"fs-read={tmp_path}:/data"])


@pytest.fixture
def slow_guest(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, float]]:
    """Seconds that initialize / get-metadata spend before the guest runs, in Python on
    the sandbox thread: like a guest waiting inside WASI, out of the epoch deadline's
    reach. Counts the guest calls too."""
    delays: dict[str, float] = {}
    real_bind = typedcall.bind

    def bind(*args: Any, **kwargs: Any) -> typedcall.ContractCallers:
        out = real_bind(*args, **kwargs)
        for attr, name in (("initialize", "initialize"), ("get_metadata", "get-metadata")):
            fn = getattr(out, attr)
            if fn is None:
                continue

            def slowed(*a: Any, _fn: Any = fn, _name: str = name) -> Any:
                delays[f"calls:{_name}"] = delays.get(f"calls:{_name}", 0) + 1
                time.sleep(delays.get(_name, 0.0))
                return _fn(*a)

            setattr(out, attr, slowed)
        return out

    monkeypatch.setattr(typedcall, "bind", bind)
    yield delays


def count_hand_offs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = instance_module.SandboxThread.call

    def call(self: Any, fn: Any, timeout: float) -> Any:
        calls[0] += 1
        return real(self, fn, timeout)

    monkeypatch.setattr(instance_module.SandboxThread, "call", call)
    return calls


def test_a_load_is_one_hand_off_to_the_sandbox_thread(
        runtime: Runtime, fifo_reader: Path, blocking: Callable[[str], Grants],
        monkeypatch: pytest.MonkeyPatch) -> None:
    hand_offs = count_hand_offs(monkeypatch)
    with runtime.load(fifo_reader, grants=blocking("2s")) as plugin:
        assert hand_offs[0] == 1  # instantiate + initialize + get-metadata
        assert plugin.metadata.name
        assert plugin.process("hi").output == "hi"
        assert hand_offs[0] == 2


def test_an_instantiate_that_runs_no_guest_code_is_done_on_the_callers_thread(
        runtime: Runtime, sample_wasm: Callable[[str], Path], fifo_reader: Path,
        blocking: Callable[[str], Grants], monkeypatch: pytest.MonkeyPatch) -> None:
    """componentize-py's (no start function): only the guest calls are handed off; the C
    plugin's constructors run in its instantiate, which stays on the sandbox thread."""
    on: list[int] = []
    real = PluginInstance._instantiate

    def instantiate(self: PluginInstance) -> Any:
        on.append(threading.get_ident())
        return real(self)

    monkeypatch.setattr(PluginInstance, "_instantiate", instantiate)
    hand_offs = count_hand_offs(monkeypatch)
    sample = runtime.compile(sample_wasm("image_processor"))
    inst = PluginInstance(runtime, "img", Generation(sample, Grants(), {}, None), "")
    try:
        assert inst._thread is not None  # it imports wasi:io/poll: its calls can wait
        assert on == [threading.get_ident()] and hand_offs[0] == 0
        inst.initialize()
        assert hand_offs[0] == 1
    finally:
        inst.close()
    with runtime.load(sample_wasm("image_processor")) as plugin:
        assert hand_offs[0] == 2  # initialize + get-metadata, in one
        assert plugin.metadata.name
    with runtime.load(fifo_reader, grants=blocking("2s")):
        assert on[-1] != threading.get_ident()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_guest_blocked_inside_wasi_while_instantiated_fails_by_its_time_limit(
        tier_runtime: Runtime, fifo_reader: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "at-start")  # read by a constructor of the C plugin
    grants = Grants().grant_all(["timeout=500ms", f"fs-read={tmp_path}:/data"])
    started = time.monotonic()
    try:
        with pytest.raises(E.PluginTimeoutError) as info:
            tier_runtime.load(fifo_reader, grants=grants)
        assert time.monotonic() - started < 3
        assert "instantiate" in str(info.value)
        assert "blocked inside a host call" in str(info.value)
    finally:
        fd = os.open(tmp_path / "at-start", os.O_RDWR | os.O_NONBLOCK)  # free the stuck reader
        os.close(fd)
    (tmp_path / "at-start").unlink()
    with tier_runtime.load(fifo_reader, grants=grants) as plugin:
        assert plugin.process("hi").output == "hi"


def test_each_start_up_call_has_its_own_time_limit(
        runtime: Runtime, fifo_reader: Path, blocking: Callable[[str], Grants],
        slow_guest: dict[str, float]) -> None:
    # 0.7 s each under a 1 s limit: together longer than one limit, each within its own
    slow_guest.update({"initialize": 0.7, "get-metadata": 0.7})
    with runtime.load(fifo_reader, grants=blocking("1s")) as plugin:
        assert plugin.process("hi").output == "hi"


def test_initialize_blocked_at_start_up_returns_by_its_time_limit(
        runtime: Runtime, fifo_reader: Path, blocking: Callable[[str], Grants],
        slow_guest: dict[str, float]) -> None:
    slow_guest["initialize"] = 5.0
    started = time.monotonic()
    with pytest.raises(E.InitializeError) as info:
        runtime.load(fifo_reader, grants=blocking("500ms"))
    assert time.monotonic() - started < 3
    assert "initialize" in str(info.value) and "blocked inside a host call" in str(info.value)
    assert "calls:get-metadata" not in slow_guest  # nothing ran after it


def test_get_metadata_blocked_at_start_up_fails_the_load_by_its_time_limit(
        runtime: Runtime, fifo_reader: Path, blocking: Callable[[str], Grants],
        slow_guest: dict[str, float]) -> None:
    slow_guest["get-metadata"] = 5.0
    started = time.monotonic()
    with pytest.raises(E.PluginTimeoutError) as info:
        runtime.load(fifo_reader, grants=blocking("500ms"))
    assert time.monotonic() - started < 3
    assert "get-metadata" in str(info.value)


def test_a_prefetched_answer_is_not_given_after_another_call(
        runtime: Runtime, fifo_reader: Path, blocking: Callable[[str], Grants],
        slow_guest: dict[str, float]) -> None:
    loaded = runtime.compile(fifo_reader)
    gen = Generation(loaded, blocking("2s"), {}, None)
    inst = PluginInstance(runtime, "fifo", gen, "", prefetch=("initialize", "get-metadata"))
    try:
        inst.initialize()  # answered from the start-up job
        assert slow_guest["calls:get-metadata"] == 1
        assert inst.process("hi", (), None).output == "hi"
        inst.get_metadata()  # a call came between: the guest answers it now
        assert slow_guest["calls:get-metadata"] == 2
    finally:
        inst.close()


def test_an_instance_thread_ends_with_its_instance(
        runtime: Runtime, fifo_reader: Path, blocking: Callable[[str], Grants]) -> None:
    loaded = runtime.compile(fifo_reader)
    inst = PluginInstance(runtime, "fifo", Generation(loaded, blocking("2s"), {}, None), "")
    thread = inst._thread
    assert thread is not None
    inst.close()
    thread.join(timeout=5)
    assert thread._alive.acquire(False)  # released: the thread has ended


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="thread nice values: Linux")
def test_optimized_code_serves_at_normal_priority_after_the_tier_swap(
        tmp_path: Path, fifo_reader: Path, blocking: Callable[[str], Grants]) -> None:
    root = tmp_path / "home"
    dirs = AppDirs(root / "data", root / "config", root / "cache", root / "logs")

    def nice_here() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    with Runtime(dirs, tier="tiered") as rt, \
            rt.load(fifo_reader, grants=blocking("2s"), max_instances=2) as plugin:
        assert rt.optimizer.wait_idle(timeout=120)
        assert plugin.tier == "optimized"
        serving = plugin._acquire()
        try:
            assert serving.gen.loaded.tier == "optimized" and serving._thread is not None
            assert serving._thread.call(nice_here, 5) == nice_here()
        finally:
            plugin._release(serving)
